"""README's Python and command-line examples run in order (issue 16 case 8: the second used to be
refused as "a different run" because it spelled gap_end differently)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_readme_script_then_command_line_example(tmp_path):
    script = re.search(r"From a script:\n\n```python\n(.*?)```", README, re.S).group(1)
    command = re.search(r"```\n(mcthermo sample staircase .*?)\n(?=mcthermo sample FILE)", README, re.S).group(1)
    command = re.sub(r"#[^\n]*", "", command).replace("\\\n", " ")
    small = {"10**6": "10**4", "1000000": "10000"}  # the same examples, 100x fewer trajectories
    for big, little in small.items():
        script, command = script.replace(big, little), command.replace(big, little)
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True, timeout=300)
    argv = command.split()[1:]
    result = subprocess.run([sys.executable, "-m", "mcthermo.cli", *argv, "--quiet"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "is complete; its tables were read" in result.stderr


@pytest.mark.parametrize("section, small", [
    ("## Your own open quantum system", {"10**5": "2000"}),
    ("## Your own stroke protocol", {"10**6": "20000"}),
    ("## Your own periodically driven system (Floquet)", {"10**5": "4000"}),
])
def test_readme_user_system_examples_run(section, small, tmp_path):
    """The README's worked examples of user-defined systems run as printed (fewer trajectories) and
    every check they produce passes or says why it is inconclusive."""
    code = re.search(re.escape(section) + r".*?```python\n(.*?)```", README, re.S).group(1)
    for big, little in small.items():
        code = code.replace(big, little)
    code += "\nassert (run.checks['verdict'] != 'failed').all(), run.checks\n"
    if section == "## Your own open quantum system":
        # the maser is an engine in the lab frame: its exact -<W>/<Q_hot> obeys 1 - w_c/w_h = 2/3
        # (the rotating-frame version of this example reported 0.82)
        code += ("\nrow = run.checks.query(\"check == 'engine_efficiency'\").iloc[0]\n"
                 "assert 0 < row.expected < 2 / 3, row\n")
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, timeout=300)
