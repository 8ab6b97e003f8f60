"""What a new user meets on the command line (#22): every --help prints help, user files run as
scripts, bad option types are one line naming the option, stroke protocols point to FILE.py:NAME."""
import argparse
import sys

import pytest

from mcthermo import cli


def _run(capsys, *argv):
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _commands(parser, prefix=()):
    """Every command path of the parser tree: (), ("sample",), ("sample", "lz"), ..."""
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*prefix, name))


def test_every_help_prints_help(capsys):
    """`mcthermo sample lz --help` and `mcthermo exact lz --help` crashed with "ValueError: empty
    group" (a second, empty mutually exclusive group per option group)."""
    paths = list(_commands(cli.build_parser()))
    assert ("sample", "lz") in paths and ("exact", "lz") in paths and len(paths) >= 12
    for path in paths:
        code, out, err = _run(capsys, *path, "--help")
        assert code == 0 and out.startswith("usage: mcthermo") and err == "", (path, err)
        assert "options:" in out, path


def test_a_user_file_runs_as_a_script_and_its_errors_name_the_users_line(tmp_path, capsys, monkeypatch):
    """#22: a file importing a sibling module failed, and errors raised inside it lost its file name
    and line.  The file's folder is first on sys.path; an error is one line at the user's frame."""
    (tmp_path / "helper.py").write_text("import mcthermo as mt\n\n\ndef make(steps, beta=1.0):\n"
                                        "    return mt.Staircase(steps=steps, beta=beta)\n")
    (tmp_path / "system.py").write_text("from helper import make\n"
                                        "spec = make(3)\n"
                                        "def missing():\n    table = {}\n    return table['gap']\n"
                                        "def cold():\n    return make(3, beta=-1.0)\n")
    (tmp_path / "typo.py").write_text("import mcthermo as mt\n\nspec = mt.Staircase(steps=3, beta=-2.0)\n")
    (tmp_path / "syntax.py").write_text("import mcthermo as mt\nspec = (\n")
    monkeypatch.chdir(tmp_path.parent)  # the file given by a path relative to the working directory
    monkeypatch.setattr(sys, "path", list(sys.path))  # (the loader puts the file's folder first)
    folder = tmp_path.name
    code, _, err = _run(capsys, "sample", f"{folder}/system.py:spec", "--trajectories", "200",
                        "--out", str(tmp_path / "run"), "--quiet")
    assert code == 0, err
    for name, message in [("missing", f"mcthermo: error: {folder}/system.py:5: KeyError: 'gap'"),
                          ("cold", f"mcthermo: error: {folder}/helper.py:5: ValueError: beta must be positive")]:
        code, _, err = _run(capsys, "sample", f"{folder}/system.py:{name}", "--out", str(tmp_path / name))
        assert code == 2 and err.startswith(message) and err.count("\n") == 1, err
    code, _, err = _run(capsys, "sample", f"{folder}/typo.py:spec", "--out", str(tmp_path / "typo"))
    assert code == 2 and err.startswith(f"mcthermo: error: {folder}/typo.py:3: ValueError: beta must be positive")
    code, _, err = _run(capsys, "sample", f"{folder}/syntax.py:spec", "--out", str(tmp_path / "syntax"))
    assert code == 2 and err.startswith(f"mcthermo: error: {folder}/syntax.py:2: SyntaxError:"), err
    assert "Traceback" not in err
    monkeypatch.delitem(sys.modules, "helper")
