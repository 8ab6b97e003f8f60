"""The `mcthermo` command: sample, run, check, plot, report, exact, demo.

Bad input (a ValueError from a spec or an option, a damaged or foreign file, an argparse error)
gives one line naming the option the user typed, and exit code 2; anything else is a bug and shows
its traceback.  Warnings print as one line each.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import warnings

import pandas as pd

from . import __version__
from . import validation as validate_cli
from .compile_notice import compile_notice
from .exact import cli as exact_cli
from .io import MCThermoFileError
from .loader import is_reference, load_model
from .exact.effort import reporting
from .models import MODELS
from .options import in_user_words, option_names, whole_number
from .run import decided_by_reweighting, read, tally, verdict_table, verdicts

#: the sample sub-command that takes a user-defined system instead of a model name
FROM_FILE = "FILE.py:NAME"


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error instead of usage + error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_run_options(parser):
    parser.add_argument("--trajectories", type=whole_number, default=100_000,
                        help="trajectories per direction (default 100000; 1e5 allowed)")
    parser.add_argument("--seed", type=whole_number, default=0, help="run seed, 0 .. 2**63-1 (default 0)")
    parser.add_argument("--out", help="run directory (default data/runs/<model>-<run id>)")
    parser.add_argument("--reverse", action="store_true", help="also sample the reverse protocol")
    parser.add_argument("--save-samples", action="store_true",
                        help="also write per-trajectory rows under <out>/samples/")
    parser.add_argument("--tilt", metavar="OBSERVABLE=S[,S...]|auto",
                        help="also sample the tilted laws P e^{-sX}/G(s) of OBSERVABLE and reweight "
                             "(chains, stroke protocols and jump systems; auto, auto:jarzynski, auto:integral_ft: "
                             "the ladder for that row)")
    _add_execution_options(parser)


def _add_execution_options(parser):
    parser.add_argument("--quiet", action="store_true", help="no progress bar, no verdict table")
    parser.add_argument("--yes", action="store_true",
                        help="run even when the up-front estimate exceeds 24 h (otherwise refused)")
    parser.add_argument("--workers", type=whole_number, help="Numba threads (default: all cores)")
    parser.add_argument("--chunk-size", type=whole_number,
                        help="trajectories per chunk (checkpoint granularity; results do not depend on it)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="send chunks to a running Dask scheduler (e.g. tcp://host:8786)")
    where.add_argument("--dask", choices=["local"], help="start a Dask LocalCluster on this machine")


def _has_options(model) -> bool:
    """Whether a model class declares command-line options (field metadata or its own
    add_arguments)."""
    from .model import Model
    from .options import option_fields

    return bool(option_fields(model)) or model.add_arguments.__func__ is not Model.add_arguments.__func__


def _python_only(name: str, model) -> str:
    """What ``mcthermo sample <name>`` says for a model written in Python (no options): how to
    sample one from a file, with the model's example."""
    return (f"{name} has no command-line options: an mt.{model.__name__} is written in Python. Put it in "
            f"a file and run mcthermo sample {FROM_FILE} (NAME an instance or a function returning one), "
            f"e.g.\n{model.command_line_example}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mcthermo", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mcthermo {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sample = commands.add_parser("sample", help="sample a model and write its tables")
    models = sample.add_subparsers(dest="model", required=True, parser_class=_Parser)
    for name, model in MODELS.items():
        if not _has_options(model):  # defined in Python only: its help is how to sample one
            models.add_parser(name, help=f"(defined in Python: mcthermo sample {FROM_FILE} with an "
                                         f"mt.{model.__name__})", description=_python_only(name, model),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
            continue
        sub = models.add_parser(name, help=(model.__doc__ or "").strip().splitlines()[0])
        model.add_arguments(sub)
        _add_run_options(sub)
        sub.set_defaults(option_names=option_names(sub))
    user = models.add_parser(FROM_FILE, help="a model defined in a Python file: NAME is a model instance "
                                             "or a function returning one")
    user.add_argument("reference", metavar=FROM_FILE)
    _add_run_options(user)
    user.set_defaults(option_names=option_names(user))

    run = commands.add_parser("run", help="a parameter sweep from a TOML file: one run directory per point")
    run.add_argument("sweep_file")
    run.add_argument("--out", help="sweep directory (default: the file's out, or data/sweeps/<name>)")
    run.add_argument("--prune", action="store_true",
                     help="delete the folders of points no longer in the sweep file")
    _add_execution_options(run)
    run.set_defaults(option_names=option_names(run))

    check = commands.add_parser("check", help="print the checks of a run (or of all runs below DIR); "
                                              "exit 1 if any failed")
    check.add_argument("directory")
    check.add_argument("--strict", action="store_true", help="also exit 1 if a check is inconclusive "
                       "('not applicable' rows never count, nor a tilted run's plain row that its "
                       "reweighted row of the same check decides)")

    plot = commands.add_parser("plot", help="PNG figures of a run (or of every run below DIR) "
                                            "in <run>/figures")
    plot.add_argument("directory")
    plot.add_argument("--linear", action="store_true", help="linear probability axis (default log)")

    report = commands.add_parser("report", help="one self-contained HTML page with the tables and "
                                                "figures of a run or a sweep")
    report.add_argument("directory")
    report.add_argument("--out", help="HTML file (default DIR/report.html)")
    report.add_argument("--no-figures", action="store_true")

    demo = commands.add_parser("demo", help="the default job: every model at modest size")
    demo.add_argument("--out", default="data/demo", help="output directory (default data/demo)")
    demo.add_argument("--quiet", action="store_true")
    exact_cli.add_parser(commands)  # mcthermo exact lz ...: the exact quantum reference
    validate_cli.register(commands)  # mcthermo validate FORWARD [REVERSE] --beta B: anyone's work data
    return parser


def _sample(args) -> int:
    from .runner import sample

    if args.model == FROM_FILE:
        spec = load_model(args.reference)
    else:
        spec = MODELS[args.model].from_arguments(args)
    if getattr(args, "tilt", None):
        from .tilting import parse_tilt, tilted_spec

        spec = tilted_spec(spec, parse_tilt(args.tilt), quiet=args.quiet)
    out = args.out
    if out is None:
        from .run import fingerprint, identity

        out = f"data/runs/{spec.name}-{fingerprint(identity(spec, args.seed, args.trajectories, args.reverse))[:8]}"
    run = sample(spec, args.trajectories, args.seed, args.reverse, out=out,
                 save_samples=args.save_samples, **_execution(args))
    if not args.quiet:
        print(verdict_table(run.checks))
        print(f"wrote {out}")
    elif args.out is None:  # the user did not choose the place: say where it is
        print(f"mcthermo: wrote {out}", file=sys.stderr)
    return 0


def _execution(args) -> dict:
    return {"chunk_size": args.chunk_size, "workers": args.workers, "progress": not args.quiet,
            "scheduler": args.scheduler or args.dask, "yes": args.yes}


def _run(args) -> int:
    from .sweep import load_sweep, run_sweep

    sweep = load_sweep(args.sweep_file)
    out = args.out or sweep.out
    runs = run_sweep(sweep, out, prune=args.prune, **_execution(args))
    if not args.quiet:
        for label, run in runs.items():
            print(f"{label:<40} {tally(verdicts(run.checks))}")
        print(f"wrote {len(runs)} runs under {out}; read them with mcthermo.read({str(out)!r})")
    elif args.out is None and sweep.out == out:
        print(f"mcthermo: wrote {len(runs)} runs under {out}", file=sys.stderr)
    return 0


def _check(args) -> int:
    result = read(args.directory)
    checks = result.checks
    print(verdict_table(checks))
    for folder in getattr(result, "stale", []):
        print(f"(not checked: {folder} is no longer a point of the sweep)")
    states = verdicts(checks)
    bad = (states == "failed") | ((states == "inconclusive") & args.strict & ~decided_by_reweighting(checks))
    return 1 if bad.any() else 0


def _runs(directory):
    result = read(directory)
    return result.runs if hasattr(result, "runs") else [result]


def _plot(args) -> int:
    from .plots import plot_run

    for run in _runs(args.directory):
        for path in plot_run(run, run.directory / "figures", log=not args.linear):
            print(path)
    return 0


def _report(args) -> int:
    from pathlib import Path

    from .report import write_report

    path = write_report(read(args.directory), args.out or Path(args.directory) / "report.html",
                        figures=not args.no_figures)
    print(f"wrote {path}")
    return 0


def _demo(args) -> int:
    from .demo import run_demo

    runs = run_demo(args.out, progress=not args.quiet)
    checks = pd.concat([run.checks.assign(run=name) for name, run in runs.items()], ignore_index=True)
    if not args.quiet:
        print(verdict_table(checks))
        print(f"wrote {len(runs)} runs under {args.out}; read them with mcthermo.read({args.out!r})")
    return 0


_NEGATIVE = re.compile(r"^-(\d|\.\d|inf|nan)", re.IGNORECASE)


def _attach_negative_values(argv):
    """``--levels -2,-1,0`` or ``--mu -1e-3``: argparse would read the value as an option (only
    plain negative numbers pass); attach it as ``--levels=-2,-1,0``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out = []
    for token in argv:
        if (out and _NEGATIVE.match(token) and out[-1].startswith("--") and "=" not in out[-1]):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def _route_user_model(argv: list[str]) -> list[str]:
    """``sample FILE.py:NAME ...`` -> the FILE.py:NAME sub-command with NAME as its argument."""
    if len(argv) >= 2 and argv[0] == "sample" and is_reference(argv[1]):
        return ["sample", FROM_FILE, *argv[1:]]
    return argv


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"mcthermo: warning: {message}", file=sys.stderr)


def main(argv=None) -> int:
    parser = build_parser()
    argv = _route_user_model(_attach_negative_values(argv))
    model = MODELS.get(argv[1]) if len(argv) >= 2 and argv[0] == "sample" else None
    if model is not None and not _has_options(model) and not {"-h", "--help"} & set(argv):
        print(f"mcthermo: error: {_python_only(argv[1], model)}", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors
        return int(exit_.code or 0)
    handler = {"sample": _sample, "run": _run, "check": _check, "plot": _plot, "report": _report,
               "demo": _demo, "exact": exact_cli.run, "validate": validate_cli.run}[args.command]
    try:
        with warnings.catch_warnings(), reporting(not getattr(args, "quiet", False)), \
                compile_notice(enabled=not getattr(args, "quiet", False)):
            warnings.simplefilter("default")
            warnings.showwarning = _one_line_warning
            return handler(args)
    except (ValueError, MCThermoFileError, ImportError) as error:
        print(f"mcthermo: error: {in_user_words(str(error), getattr(args, 'option_names', {}))}",
              file=sys.stderr)
        return 2
    except OSError as error:  # an unwritable --out, a full disk
        if isinstance(error, BrokenPipeError):
            return _reader_gone()
        print(f"mcthermo: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _interrupted(args.command)
    except SystemError as error:
        # Ctrl-C landing while a compiled kernel returns surfaces as a SystemError around it
        if isinstance(error.__cause__ or error.__context__, KeyboardInterrupt):
            return _interrupted(args.command)
        raise


def _reader_gone() -> int:
    """`mcthermo check data | head`: the reader has gone; stop quietly (and let Python's final
    flush of stdout go nowhere)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141


def _interrupted(command: str) -> int:
    if command == "exact":  # an exact reference writes its tables only when it has them
        print("mcthermo: interrupted; nothing was written", file=sys.stderr)
    else:
        print("mcthermo: interrupted; completed chunks are on disk, rerun the same command to resume",
              file=sys.stderr)
    return 130


if __name__ == "__main__":
    sys.exit(main())
