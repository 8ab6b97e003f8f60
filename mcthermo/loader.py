"""User-defined systems: ``FILE.py:NAME`` names an object in a Python file — a model instance, or a
callable returning one (``mcthermo sample FILE.py:NAME``, ``model = "FILE.py:FACTORY"`` in sweeps).

The file runs as ``python FILE.py`` would run it, except that ``__name__`` is not "__main__": its
folder is put first on ``sys.path`` (so it imports its sibling modules).  An error raised while it
runs (or while a factory builds the model) is reported at the user's own line -- ``FILE.py:LINE:
ErrorType: message`` -- as a ``UserCodeError`` (a ValueError: the command line prints one line).

The model must be an instance of a registered class (``mcthermo.MODELS``), so that run.json's
model name and ``parameters()`` rebuild it (``mt.read(dir).spec``) and a resume with a changed
system is refused.
"""
from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from pathlib import Path

from .models import MODELS

#: the package's own folder: its frames are never "the user's line"
_PACKAGE = Path(__file__).resolve().parent


def _shown(file: Path) -> str:
    """A file as the user would type it: relative to the working directory when below it."""
    file = Path(file).resolve()
    return str(file.relative_to(Path.cwd())) if file.is_relative_to(Path.cwd()) else str(file)


class UserCodeError(ValueError):
    """An exception raised by the code of a user's FILE.py, located at the user's line."""


def _user_frame(error: BaseException, path: Path) -> str:
    """``FILE:LINE: ErrorType: message`` at the innermost frame of ``error`` in the user's file or
    in a module of its folder (not in mcthermo itself); the file alone if there is none."""
    folder = path.parent
    where = _shown(path)
    if isinstance(error, SyntaxError) and error.filename:
        return f"{_shown(Path(error.filename))}:{error.lineno}: SyntaxError: {error.msg}"
    for frame in traceback.extract_tb(error.__traceback__):
        file = Path(frame.filename).resolve()  # (generated code such as "<string>" is no file)
        if file.is_file() and file.is_relative_to(folder) and not file.is_relative_to(_PACKAGE):
            where = f"{_shown(file)}:{frame.lineno}"
    message = str(error) if not isinstance(error, KeyError) else repr(error.args[0]) if error.args else ""
    return f"{where}: {type(error).__name__}: {message}"


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
    if str(path.parent) not in sys.path:  # as `python FILE.py`: its folder first, siblings import
        sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[module_name]
        raise UserCodeError(_user_frame(error, path)) from error
    if not hasattr(module, name):
        raise ValueError(f"{reference}: {path.name} defines no {name!r}")
    return getattr(module, name)


def as_model(obj, reference: str, **kwargs):
    """``obj`` itself if it is a model instance, else ``obj(**kwargs)``; refused unless the result
    is an instance of a registered model class."""
    if callable(obj) and not _is_model(obj):
        try:
            obj = obj(**kwargs)
        except Exception as error:
            code = getattr(obj, "__code__", None)
            frames = traceback.extract_tb(error.__traceback__)
            if code is None or len(frames) < 2:  # raised by the call itself (e.g. unknown parameters)
                raise ValueError(f"{reference}: {error}") from None
            raise UserCodeError(_user_frame(error, Path(code.co_filename).resolve())) from error
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
