"""Model specs: frozen dataclasses of physical parameters with their exact answers."""
from .landau_zener import GoldenRuleLimit, LandauZener, LandauZenerValidityWarning
from .staircase import Staircase

#: every model by its command-line and table name
MODELS = {cls.name: cls for cls in (Staircase, LandauZener)}

__all__ = ["MODELS", "GoldenRuleLimit", "LandauZener", "LandauZenerValidityWarning", "Staircase"]
