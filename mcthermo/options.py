"""Command-line options from one source: the model dataclasses' field metadata.

A field declares its option with ``field(default=..., metadata=option("inverse temperature",
"> 0"))``; ``add_field_options`` turns every such field into ``--field-name`` with the help text,
allowed range and default, ``field_values`` collects the parsed values, and ``option_names`` maps a
field name back to the option the user typed, so error messages speak the user's words.  Lists are
comma-separated numbers, parsed by the one list parser ``numbers``; integers by ``whole_number``
(1e5 allowed, 1.5 refused).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import re
from decimal import Decimal, InvalidOperation


def option(help: str, range: str | None = None, *, kind: str | None = None, group: str | None = None,
           default_text: str | None = None) -> dict:
    """Field metadata of a command-line option: ``help`` (with units), allowed ``range``, ``kind``
    ("float", "int", "numbers", "text"; default: from the field's default), ``group`` (options of
    one group exclude each other), ``default_text`` (how the default reads, e.g. "ln 2")."""
    return {"help": help, "range": range, "kind": kind, "group": group, "default_text": default_text}


def numbers(text: str) -> tuple[float, ...]:
    """The one list parser: comma-separated numbers ("1,2.5,-3", "inf" allowed)."""
    try:
        return tuple(float(x) for x in str(text).split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def whole_number(text: str) -> int:
    """The one integer parser: digits, or scientific notation of an integer (1e5, 2.5e6); 1.5 and
    1e-3 are refused."""
    try:
        value = Decimal(str(text).strip().replace("_", ""))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"expected an integer (1e5 allowed), got {text!r}") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise argparse.ArgumentTypeError(f"expected an integer (1e5 allowed), got {text!r}")
    return int(value)


def option_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def _kind(field) -> str:
    kind = field.metadata.get("kind")
    if kind:
        return kind
    default = field.default
    if isinstance(default, bool):
        return "text"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, tuple):
        return "numbers"
    return "float"


_TYPES = {"float": float, "int": whole_number, "numbers": numbers, "text": str}


def _default_text(field) -> str:
    text = field.metadata.get("default_text")
    if text is not None:
        return text
    value = field.default
    if value is None or value is dataclasses.MISSING:
        return "none"
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" for v in value)
    return f"{value:g}" if isinstance(value, float) and math.isfinite(value) else str(value)


def option_fields(cls) -> list:
    """The dataclass fields of ``cls`` that declare a command-line option."""
    return [f for f in dataclasses.fields(cls) if "help" in f.metadata]


def add_field_options(parser, cls) -> None:
    """One ``--field-name`` option per declared field of ``cls`` (default None: the dataclass
    default applies, so defaults are written once, in the dataclass)."""
    groups = {}
    for field in option_fields(cls):
        meta = field.metadata
        where = parser
        if meta.get("group"):
            if meta["group"] not in groups:  # one group per name (an empty group breaks --help)
                groups[meta["group"]] = parser.add_mutually_exclusive_group()
            where = groups[meta["group"]]
        bound = f"; {meta['range']}" if meta.get("range") else ""
        where.add_argument(option_name(field.name), dest=field.name, type=_TYPES[_kind(field)],
                           default=None, metavar=field.name.upper(),
                           help=f"{meta['help']}{bound} (default {_default_text(field)})")


def field_values(args, cls) -> dict:
    """The declared fields the user gave on the command line: {field name: value}."""
    return {f.name: getattr(args, f.name) for f in option_fields(cls) if getattr(args, f.name, None) is not None}


def option_names(parser) -> dict[str, str]:
    """{destination: the option string} of every option of ``parser``."""
    return {action.dest: action.option_strings[-1] for action in parser._actions
            if action.option_strings and action.dest != "help"}


def in_user_words(message: str, names: dict[str, str]) -> str:
    """``message`` with field names that start a statement about them ("gap_start must ...",
    "levels: ...") replaced by the option the user typed (``--gap-start``)."""
    for dest, flag in sorted(names.items(), key=lambda item: -len(item[0])):
        message = re.sub(rf"(?<![\w\-.\[]){re.escape(dest)}(?=\[\d+\])?(?=(\[\d+\])?( must| needs| is | are |:| =))",
                         flag, message)
    return message
