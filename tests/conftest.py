import numpy as np
import pytest


@pytest.fixture
def staircase():
    from mcthermo import Staircase

    return Staircase(beta=1.0, gap_start=float(np.log(2.0)), gap_end=float(np.log(3.0)), steps=20)
