import numpy as np
import pytest


@pytest.fixture
def staircase():
    from mcthermo import Staircase

    return Staircase(beta=1.0, gap_start=float(np.log(2.0)), gap_end=float(np.log(3.0)), steps=20)


@pytest.fixture
def staircase_work_counts():
    """(w, forward counts, reverse counts, dF): 50 000 forward and 40 000 reverse work values drawn
    (seed 3) from the exact laws of an 8-step staircase; the reverse works are -w."""
    from mcthermo import Staircase

    spec = Staircase(steps=8)
    rng = np.random.default_rng(3)
    w = spec.step * np.arange(9)
    forward = rng.multinomial(50_000, np.exp(spec.log_work_pmf()))
    reverse = rng.multinomial(40_000, np.exp(spec.reverse().log_work_pmf()))
    return w, forward, reverse, spec.free_energy_change()
