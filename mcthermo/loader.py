"""User-defined systems: ``FILE.py:NAME`` names an object in a Python file — a model instance, or a
callable returning one (``mcthermo sample FILE.py:NAME``, ``model = "FILE.py:FACTORY"`` in sweeps).

The model must be an instance of a registered class (``mcthermo.MODELS``), so that run.json's
model name and ``parameters()`` rebuild it (``mt.read(dir).spec``) and a resume with a changed
system is refused.
"""
from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

from .models import MODELS


def is_reference(text: str) -> bool:
    """Whether ``text`` has the form FILE.py:NAME."""
    path, _, name = str(text).rpartition(":")
    return path.endswith(".py") and name.isidentifier()


def load_object(reference: str, base: Path | None = None):
    """The object NAME of FILE.py (FILE relative to ``base`` if given), the file run as a module."""
    if not is_reference(reference):
        raise ValueError(f"{reference!r}: expected FILE.py:NAME")
    file, _, name = reference.rpartition(":")
    path = (Path(base) / file if base is not None else Path(file)).resolve()
    if not path.is_file():
        raise ValueError(f"{reference}: no such file {path}")
    module_name = "mcthermo_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling (Dask) look the module up
    spec.loader.exec_module(module)
    if not hasattr(module, name):
        raise ValueError(f"{reference}: {path.name} defines no {name!r}")
    return getattr(module, name)


def as_model(obj, reference: str, **kwargs):
    """``obj`` itself if it is a model instance, else ``obj(**kwargs)``; refused unless the result
    is an instance of a registered model class."""
    if callable(obj) and not _is_model(obj):
        try:
            obj = obj(**kwargs)
        except TypeError as error:
            raise ValueError(f"{reference}: {error}") from None
    elif kwargs:
        raise ValueError(f"{reference} is a model instance, not a factory: it takes no parameters")
    if not _is_model(obj):
        raise ValueError(f"{reference}: expected a model instance of one of {', '.join(MODELS)} "
                         f"(or a function returning one), got {type(obj).__name__}")
    return obj


def _is_model(obj) -> bool:
    cls = MODELS.get(getattr(obj, "name", None))
    return cls is not None and type(obj) is cls


def load_model(reference: str, base: Path | None = None, **kwargs):
    """The model that FILE.py:NAME names (NAME called with ``kwargs`` if it is a factory)."""
    return as_model(load_object(reference, base), reference, **kwargs)
