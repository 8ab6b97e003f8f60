"""Ready-made user-defined systems: the demo's maser and Otto engines, and starting points to copy.

Units hbar = k_B = 1; heat is energy into the working medium (docs/observables.md, Conventions).  Everything here is built
from the public API only (``OpenSystem``, ``Channel``, ``Strokes``, ``Quench``, ``Thermalize``),
as a user would.
"""
from __future__ import annotations

import numpy as np

from .systems.bath import Bath
from .systems.open_system import Channel, OpenSystem, Piece, gibbs_state
from .systems.strokes import Quench, Strokes, Thermalize


def maser(w_hot=3.0, w_cold=1.0, rabi=0.5, gamma_hot=0.1, gamma_cold=0.2, beta_hot=0.2,
          beta_cold=2.0, periods=6, pieces_per_period=8, times=97) -> OpenSystem:
    """Three-level maser (Scovil--Schulz-DuBois) between a hot and a cold bath, in the lab frame.

    Levels |0>, |1>, |2> at 0, w_cold, w_hot; the hot bath drives 0 <-> 2 (quanta w_hot), the cold
    bath 0 <-> 1 (quanta w_cold), each pair of channels in detailed balance at its bath's beta; a
    field resonant with 1 <-> 2 (frequency w_hot - w_cold), rabi cos(w t) (|1><2| + |2><1|), piecewise
    constant over ``pieces_per_period`` pieces of each of ``periods`` periods (local jump operators
    with the bare quanta as labels).  ``work`` is then the energy the field delivers (the lab frame:
    a rotating-frame Hamiltonian would add the change of the frame's energy to it, see README
    "Frames").  Starts in the cold bath's Gibbs state of the bare levels; the engine efficiency
    -<W>/<Q_hot> stays below 1 - w_cold / w_hot.
    """
    ket = np.eye(3)

    def pair(bath, lower, upper, energy, gamma, beta):
        occupation = 1.0 / np.expm1(beta * energy)
        emit = np.outer(ket[lower], ket[upper])
        return [Channel(f"{bath}_emit", np.sqrt(gamma * (occupation + 1)) * emit, energy, bath),
                Channel(f"{bath}_absorb", np.sqrt(gamma * occupation) * emit.T, -energy, bath)]

    bare = np.diag([0.0, w_cold, w_hot])
    field = np.outer(ket[1], ket[2]) + np.outer(ket[2], ket[1])
    frequency = w_hot - w_cold
    step = 2.0 * np.pi / frequency / pieces_per_period
    channels = pair("hot", 0, 2, w_hot, gamma_hot, beta_hot) + pair("cold", 0, 1, w_cold, gamma_cold, beta_cold)
    # the field at the middle of each piece
    pieces = [Piece(bare + rabi * np.cos(frequency * (k + 0.5) * step) * field, channels, step)
              for k in range(periods * pieces_per_period)]
    duration = step * len(pieces)
    return OpenSystem(pieces=pieces, baths={"hot": Bath(beta=beta_hot), "cold": Bath(beta=beta_cold)},
                      initial=gibbs_state(bare, beta_cold),
                      output_times=np.linspace(0.0, duration, times),
                      observables={f"p{k}": np.outer(ket[k], ket[k]) for k in range(3)})


def two_level_otto(cycles=5, cold_gap=1.0, hot_gap=2.0, beta_hot=0.5, beta_cold=2.0) -> Strokes:
    """Two-level Otto engine: gap cold_gap -> hot_gap (adiabatic), hot bath, back, cold bath."""
    return Strokes(energies=[0.0, cold_gap],
                   baths={"hot": Bath(beta=beta_hot), "cold": Bath(beta=beta_cold)},
                   initial="cold",
                   strokes=[Quench([0.0, hot_gap]), Thermalize("hot"),
                            Quench([0.0, cold_gap]), Thermalize("cold")],
                   cycles=cycles)


def ladder_otto(levels=6, cycles=3, friction=0.05, seed=1, beta_hot=0.2, beta_cold=2.0) -> Strokes:
    """Otto engine on a truncated harmonic ladder E_n = n w: w 1 -> 2 by a sudden quench with a
    little quantum friction (transitions (1 - friction) I + friction |U|^2, U a fixed random
    unitary: doubly stochastic), hot bath, adiabatic expansion back, cold bath."""
    rng = np.random.default_rng(seed)
    unitary = np.linalg.qr(rng.normal(size=(levels, levels)) + 1j * rng.normal(size=(levels, levels)))[0]
    transitions = (1.0 - friction) * np.eye(levels) + friction * np.abs(unitary) ** 2
    n = np.arange(levels, dtype=float)
    return Strokes(energies=n, baths={"hot": Bath(beta=beta_hot), "cold": Bath(beta=beta_cold)},
                   initial="cold",
                   strokes=[Quench(2.0 * n, transitions), Thermalize("hot"),
                            Quench(n), Thermalize("cold")],
                   cycles=cycles)
