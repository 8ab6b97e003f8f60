"""mcthermo: stochastic trajectories of driven small quantum systems, their work and heat
statistics, and fluctuation-theorem checks against exact answers.  Units: hbar = k_B = 1.

    import mcthermo as mt
    spec = mt.Staircase(beta=1.0, gap_start=np.log(2), gap_end=np.log(3), steps=100)
    run = mt.sample(spec, trajectories=10**6, seed=7, reverse=True)
    run.checks                      # pandas DataFrame, one verdict per row
    run.save("data/x"); mt.read("data/x")
"""
__version__ = "0.2.0"

from .io import MCThermoFileError
from .models import MODELS, DrivenQubit, LandauZener, Staircase
from .run import Collection, Run, read
from .runner import sample
from .systems.strokes import Quench, Strokes, Thermalize

__all__ = ["MODELS", "Collection", "DrivenQubit", "LandauZener", "MCThermoFileError", "Run", "Staircase", "read",
           "sample", "__version__", "Quench", "Strokes", "Thermalize"]
