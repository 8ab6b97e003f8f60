"""What a new user meets on the command line (#22): every --help prints help, user files run as
scripts, bad option types are one line naming the option, stroke protocols point to FILE.py:NAME."""
import argparse

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
