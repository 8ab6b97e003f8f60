"""Model specs: frozen dataclasses of physical parameters with their exact answers."""
from .landau_zener import LandauZener, LandauZenerValidityWarning
from .qubit import DrivenQubit
from .staircase import Staircase
from ..systems.open_system import OpenSystem
from ..systems.strokes import Strokes

#: every model by its command-line and table name
MODELS = {cls.name: cls for cls in (Staircase, LandauZener, DrivenQubit, OpenSystem, Strokes)}

__all__ = ["MODELS", "DrivenQubit", "LandauZener", "LandauZenerValidityWarning",
           "OpenSystem", "Staircase", "Strokes"]
