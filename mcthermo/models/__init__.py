"""Model specs: frozen dataclasses of physical parameters with their exact answers."""
from .staircase import Staircase

#: every model by its command-line and table name
MODELS = {cls.name: cls for cls in (Staircase,)}

__all__ = ["MODELS", "Staircase"]
