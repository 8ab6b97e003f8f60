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


@pytest.mark.parametrize("value,accepted", [("1e3", 1000), ("2.5e3", 2500), ("1_000", 1000), ("1.5", None),
                                            ("1e-3", None), ("inf", None), ("abc", None)])
def test_trajectories_in_scientific_notation(tmp_path, capsys, value, accepted):
    """#22: `--trajectories 1e5` was an argparse error; integral values in any notation are
    accepted, non-integral ones refused in one line naming the option."""
    import mcthermo as mt

    out = tmp_path / "run"
    code, _, err = _run(capsys, "sample", "staircase", "--steps", "2", "--trajectories", value,
                        "--out", str(out), "--quiet")
    if accepted:
        assert code == 0 and mt.read(out).info["trajectories"] == accepted, err
    else:
        assert code == 2 and err.count("\n") == 1
        assert f"argument --trajectories: expected an integer (1e5 allowed), got '{value}'" in err
        assert not out.exists()


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self"), reason="needs /proc")
def test_an_unwritable_out_names_out(capsys):
    code, _, err = _run(capsys, "sample", "staircase", "--steps", "2", "--trajectories", "100",
                        "--out", "/proc/mcthermo-test/run", "--quiet")
    assert code == 2 and err.startswith("mcthermo: error: --out /proc/mcthermo-test/run: cannot write there")
    assert err.count("\n") == 1


def _bad_inputs():
    import numpy as np

    import mcthermo as mt

    lowering = np.array([[0.0, 1.0], [0.0, 0.0]])
    emit = mt.Channel("emit", lowering, energy=1.0, bath="b")
    system = dict(hamiltonian=np.diag([0.0, 1.0]), baths={"b": mt.Bath(beta=1.0)},
                  initial=np.diag([0.5, 0.5]), duration=1.0)
    strokes = dict(energies=[0.0, 1.0], baths={"b": mt.Bath(beta=1.0)}, initial="b")
    return [
        (lambda: mt.validate([0.1, 0.2], beta=1.0, free_energy="0.5"), "free_energy must be a finite number"),
        (lambda: mt.OpenSystem(channels=emit, **system), r"channels must be a list of mt.Channel \(got Channel: "
                                                         r"write channels=\[...\]\)"),
        (lambda: mt.Channel("emit", lowering, energy=1.0, bath="b", particles="1"), "particles must be an integer"),
        (lambda: mt.Quench([0.0, 1.0], [[1.5, -0.5], [-0.5, 1.5]]),
         r"Quench transitions must be probabilities, finite and >= 0 \(got -0.5\)"),
        (lambda: mt.Strokes(strokes=mt.Quench([0.0, 2.0]), **strokes), r"write strokes=\[...\]"),
        (lambda: mt.sample("staircase", trajectories=100, seed=1), "spec must be a model instance"),
        (lambda: mt.sample(mt.Staircase(steps=2), trajectories=1.5, seed=1), r"trajectories must be an integer >= 1 \(got 1.5\)"),
        (lambda: mt.sample(mt.Staircase(steps=2), trajectories=100, seed=1, out=3), "out must be a directory path"),
        (lambda: mt.jarzynski([0.1, 0.2], beta="1"), "beta must be finite and positive"),
        (lambda: mt.sample(mt.Staircase(steps=2), trajectories=100, seed=1, reverse="yes"),
         "reverse must be True or False"),
        (lambda: mt.read(3), "read needs a directory path"),
        (lambda: mt.OpenSystem(pieces=mt.Piece(np.diag([0.0, 1.0]), [emit], 1.0), baths=system["baths"],
                               initial=system["initial"]), r"write pieces=\[...\]"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_inputs())))
def test_bad_types_are_one_value_error_naming_the_parameter(case):
    """#22: these were TypeErrors (or a message about the shape of a matrix with negative entries)."""
    build, message = _bad_inputs()[case]
    with pytest.raises(ValueError, match=message):
        build()


def test_trajectories_may_be_an_integral_float_in_python():
    import mcthermo as mt

    assert mt.sample(mt.Staircase(steps=2), trajectories=1e3, seed=1).info["trajectories"] == 1000


@pytest.mark.parametrize("model", [name for name, cls in __import__("mcthermo").MODELS.items()
                                   if not cli._has_options(cls)])
def test_a_model_written_in_python_says_how_to_sample_it_and_the_example_runs(tmp_path, capsys, monkeypatch, model):
    """#22: `mcthermo sample strokes` was a dead end; it now shows how to sample one from a file, and
    the example it shows runs as shown."""
    code, _, err = _run(capsys, "sample", model, "--trajectories", "10")
    assert code == 2 and err.startswith(f"mcthermo: error: {model} has no command-line options")
    assert "mcthermo sample FILE.py:NAME" in err
    lines = err.splitlines()
    source = lines[lines.index(next(line for line in lines if line.startswith("# "))):-1]
    command = lines[-1]
    assert len(source) >= 3 and command.startswith("then: mcthermo sample ")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / source[0][2:]).write_text("\n".join(source[1:]) + "\n")
    argv = command[len("then: mcthermo "):].split()
    argv[argv.index("--trajectories") + 1] = "2e3"
    code, _, err = _run(capsys, *argv, "--out", str(tmp_path / "run"), "--quiet")
    assert code == 0, err
    code, out, _ = _run(capsys, "sample", model, "--help")
    assert code == 0 and "mcthermo sample FILE.py:NAME" in out
    (tmp_path / "sweep.toml").write_text(f'model = "{model}"\ntrajectories = 100\n[sweep]\ncycles = [1, 2]\n')
    code, _, err = _run(capsys, "run", str(tmp_path / "sweep.toml"))
    assert code == 2 and "FILE.py:FACTORY" in err, err


def test_compiling_is_announced_once_and_only_when_numba_compiles(capsys):
    """#22: the first sampling compiled for ~12 s with no message.  The notice comes from Numba's
    own compile event (fired only after its disk cache missed): once per run, never for a kernel
    already compiled or loaded from the cache, never when disabled (--quiet)."""
    import numba

    from mcthermo.compile_notice import NOTICE, compile_notice

    @numba.njit(cache=False)
    def fresh(x):
        return x + 1

    @numba.njit(cache=False)
    def other(x):
        return x * 2

    with compile_notice(enabled=False):
        fresh(1)
    assert NOTICE not in capsys.readouterr().err
    with compile_notice():
        fresh(1)  # compiled already (above): nothing to say
        fresh(1.5)  # a new signature compiles
        other(1)
    assert capsys.readouterr().err.count(NOTICE) == 1
    assert NOTICE == "mcthermo: compiling (once; cached for later runs) …"


def test_a_cached_kernel_gives_no_compiling_notice(tmp_path, capsys):
    argv = ["sample", "staircase", "--steps", "3", "--trajectories", "200"]
    assert _run(capsys, *argv, "--out", str(tmp_path / "a"))[0] == 0  # compiles or loads the kernels
    code, _, err = _run(capsys, *argv, "--out", str(tmp_path / "b"))
    assert code == 0 and "compiling" not in err
