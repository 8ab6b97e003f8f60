"""Model specs: frozen dataclasses of physical parameters with their exact answers."""
from .golden_rule import GoldenRuleLimit
from .landau_zener import LandauZener, LandauZenerValidityWarning
from .qubit import DrivenQubit
from .staircase import Staircase

#: every model by its command-line and table name
MODELS = {cls.name: cls for cls in (Staircase, LandauZener, DrivenQubit)}

__all__ = ["MODELS", "DrivenQubit", "GoldenRuleLimit", "LandauZener", "LandauZenerValidityWarning",
           "Staircase"]
