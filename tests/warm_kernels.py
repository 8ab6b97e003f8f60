"""Fill Numba's disk cache with the jump kernels the suite reaches late, in a background process
(started by conftest.py for a run of several test files).

Every kernel is compiled once per run of the suite on a cold cache (``mcthermo.kernels._jit``),
on one core; the tilted-run and per-trajectory kernels below take ~4 of those minutes.  Compiled
here while the first test files run on the other core, they are loaded from the cache when a test
first calls them.  The calls are the tests' own (the suite uses one signature per kernel); no
result is used and nothing is checked here.
"""
import numpy as np

import mcthermo as mt
from mcthermo.kernels import lindblad, replay
from mcthermo.tilting import tilted_spec

#: the kernels compiled here
KERNELS = (replay.weighted, lindblad.samples, replay.log_weights, lindblad.jump_record)


def quench():
    """A qubit quenched 20 -> 0.5 -> 4 k_B T with Davies relaxation (as in test_distributed)."""
    a = np.array([[0, 1], [1, 0]], complex)
    pieces = []
    for gap in (20.0, 0.5, 4.0):
        h = np.diag([gap / 2, -gap / 2]).astype(complex)
        pieces.append(mt.Piece(h, mt.davies_channels(h, a, "bath", 1.0, lambda w: 0.3), 1.0))
    return mt.OpenSystem(pieces=pieces, baths={"bath": mt.Bath(beta=1.0)}, initial=mt.Gibbs(1.0))


def main():
    system = quench()
    tilted = tilted_spec(system, {"work": 0.9}, quiet=True)
    tilted.prepare("forward")
    tilted.accumulate("forward", 1, 0, 10)      # replay.weighted (the longest compilation)
    tilted.samples("forward", 1, 0, 10)         # lindblad.samples, replay.log_weights
    system.jump_record(1, 0)                    # lindblad.jump_record


if __name__ == "__main__":
    main()
