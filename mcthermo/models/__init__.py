"""Model specs: frozen dataclasses of physical parameters with their exact answers."""
from .landau_zener import LandauZener, LandauZenerValidityWarning
from .qubit import DrivenQubit
from .staircase import Staircase
from ..systems.floquet import FloquetSystem
from ..systems.open_system import OpenSystem
from ..systems.strokes import Strokes

#: every model by its command-line and table name
MODELS = {cls.name: cls for cls in (Staircase, LandauZener, DrivenQubit, OpenSystem,
                                          FloquetSystem, Strokes)}

__all__ = ["MODELS", "DrivenQubit", "FloquetSystem", "LandauZener", "LandauZenerValidityWarning",
           "OpenSystem", "Staircase", "Strokes"]
