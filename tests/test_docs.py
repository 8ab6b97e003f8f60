"""The project documents itself: no pointers to files outside it, and every check row and
observable the code writes is defined in docs/observables.md (issue #22 B8)."""
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
OUTSIDE = re.compile(r"\.\./shared|shared/spec|spec/|generic\.md|physics\.md|\bspec (G\d|C\d|Model)")


def test_no_pointers_to_files_outside_the_project():
    files = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "mcthermo").rglob("*.py"),
             *(ROOT / "scripts").glob("*.py")]
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}" for path in files
             for n, line in enumerate(path.read_text().splitlines(), 1) if OUTSIDE.search(line)]
    assert found == []


def test_every_check_row_and_observable_is_defined_in_the_docs():
    source = "\n".join(path.read_text() for path in (ROOT / "mcthermo").rglob("*.py"))
    checks = set(re.findall(r'(?:row|not_applicable|ExactCount|Expectation|_judged)\(\s*"([a-z_]+)"', source))
    checks |= set(re.findall(r'\bname, n = "([a-z_]+)"', source))
    observables = set(re.findall(r'Observable\(\s*"([a-z_]+)"', source))
    docs = (ROOT / "docs" / "observables.md").read_text()
    assert {"mean", "distribution", "engine_efficiency", "integral_ft"} <= checks
    missing = sorted(name for name in checks | observables | {"particles_", "jumps_", "heat_"}
                     if f"`{name}" not in docs)
    assert missing == []
    assert "docs/observables.md" in (ROOT / "README.md").read_text()
