"""Model specs: frozen dataclasses of physical parameters with their exact answers."""
from .golden_rule import GoldenRuleLimit
from .landau_zener import LandauZener, LandauZenerValidityWarning
from .qubit import DrivenQubit
from .staircase import Staircase
from ..systems.open_system import OpenSystem

#: every model by its command-line and table name
MODELS = {cls.name: cls for cls in (Staircase, LandauZener, DrivenQubit, OpenSystem)}

__all__ = ["MODELS", "DrivenQubit", "OpenSystem", "GoldenRuleLimit", "LandauZener", "LandauZenerValidityWarning",
           "Staircase"]
