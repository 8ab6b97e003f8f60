"""mcthermo: stochastic trajectories of driven small quantum systems, their work and heat
statistics, and fluctuation-theorem checks against exact answers.

Units hbar = k_B = 1.  One sign convention everywhere (docs/observables.md, Conventions): heat Q_b is energy that flows from
bath b *into the system* (minus mu_b times the particles it brings); work W is energy delivered by
the drive; first law dE = W + sum_b (Q_b + mu_b N_b).

    import mcthermo as mt
    spec = mt.Staircase(beta=1.0, gap_start=np.log(2), gap_end=np.log(3), steps=100)
    run = mt.sample(spec, trajectories=10**6, seed=7, reverse=True)
    run.checks                      # pandas DataFrame, one verdict per row
    run.save("data/x"); mt.read("data/x")
    mt.jarzynski(work_samples, beta=1.0)   # estimators on anyone's data
"""
__version__ = "0.4.0"

#: the sign convention recorded in every run.json (docs/observables.md, Conventions)
HEAT_CONVENTION = "heat = energy from the bath into the system (minus mu x particles in); ΔE = W + Σ_b Q_b (+ chemical work)"

from .io import MCThermoFileError
from .models import MODELS, DrivenQubit, LandauZener, LandauZenerValidityWarning, Staircase
from .results import DirectionResults, ExactCount, Expectation, Observable, Results
from .run import Collection, Run, read
from .runner import sample
from .stats import Estimate
from .systems.bath import Bath
from .systems.floquet import Coupling, FloquetSystem
from .systems.open_system import (Channel, Gibbs, LocalJumpWarning, OpenSystem, Piece, davies_channels,
                                  gibbs_state)
from .systems.strokes import Quench, Strokes, Thermalize
from .tables import build as build_tables
from .theorems import EstimatorError, bar, crooks, exponential_average, jarzynski
from .validation import validate
from .exact.golden_rule import GoldenRuleLimit, golden_rule_limit, sample_paths
from . import examples  # noqa: E402  (after the systems it builds on)
from .systems import open_tilting  # noqa: E402,F401  (registers the jump systems' tilted engine)

__all__ = ["HEAT_CONVENTION", "MODELS", "Bath", "Channel", "Collection", "Coupling", "DirectionResults",
           "DrivenQubit", "Estimate", "EstimatorError", "ExactCount", "Expectation", "FloquetSystem", "Gibbs", "GoldenRuleLimit",
           "LandauZener", "LandauZenerValidityWarning", "LocalJumpWarning", "MCThermoFileError", "Observable",
           "OpenSystem", "Piece", "Quench", "Results", "Run", "Staircase", "Strokes", "Thermalize",
           "__version__", "bar", "build_tables", "crooks", "davies_channels", "exponential_average",
           "gibbs_state", "golden_rule_limit", "jarzynski", "read", "sample", "sample_paths", "validate"]
