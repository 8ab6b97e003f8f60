"""Continuous-time (Fermi-golden-rule) limit of the Landau–Zener crossings (seed 001, Sec. VI).

A function-level tool, not a registered model (no runner, Parquet tables or checks): the process
``GoldenRuleLimit`` with its exact master-equation moments, ``sample_paths`` (the exact Gillespie
kernel, kernels/gillespie.py) and ``golden_rule_limit(spec)``.  Units hbar = k_B = 1; heat is
energy from the reservoir into the system (minus mu x particles in).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

from ..kernels.gillespie import redraw_paths
from ..kernels.rng import bernoulli_threshold
from ..model import STREAMS, require
from ..physics import fermi, grand_potential


@dataclass(frozen=True)
class GoldenRuleLimit:
    """Master equation with golden-rule rates along a monotone level path.

    dp/dt = w+ (1 - p) - w- p, w+ = Gamma f(eps_t), w- = Gamma (1 - f(eps_t)),
    Gamma = pi delta^2 d / 2 (d the reservoir density of states).  Along the path the speed only
    rescales time, so the process is set by lambda = Gamma / eps_dot per unit energy travelled:
    ``density[k]`` on the cell between ``edges[k]`` and ``edges[k+1]`` (edges monotone, in protocol
    order, from the start energy to the end energy).  The level starts in equilibrium at
    (``beta``, ``mu``).
    """

    beta: float
    mu: float
    edges: tuple
    density: tuple

    def __post_init__(self):
        edges, density = np.asarray(self.edges, float), np.asarray(self.density, float)
        steps = np.diff(edges)
        require(edges.ndim == 1 and edges.size >= 2 and np.all(np.isfinite(edges))
                and (np.all(steps >= 0) or np.all(steps <= 0)),
                "edges must be at least two finite, monotone energies")
        require(density.shape == (edges.size - 1,) and np.all(np.isfinite(density)) and np.all(density >= 0),
                "density needs one finite value >= 0 per cell")

    @property
    def initial_occupation(self) -> float:
        return float(fermi(self.beta, self.mu, self.edges[0]))

    def free_energy_change(self) -> float:
        """dOmega_eq between the end and the start of this path."""
        return float(grand_potential(self.beta, self.mu, self.edges[-1])
                     - grand_potential(self.beta, self.mu, self.edges[0]))

    def moments(self) -> dict:
        """Exact final occupation, <W_m>, Var W_m and <e^{-beta W_m}> by integrating the master
        equation for P_n, E[W 1_n], E[W^2 1_n], E[e^{-beta W} 1_n] (n = 0, 1) cell by cell."""
        y = np.zeros(8)
        y[[0, 1]] = 1.0 - self.initial_occupation, self.initial_occupation
        y[[6, 7]] = y[[0, 1]]
        for a, b, rate in zip(self.edges[:-1], self.edges[1:], self.density):
            if a != b:
                y = solve_ivp(self._rhs, (0.0, abs(b - a)), y, args=(a, np.sign(b - a), rate),
                              method="DOP853", rtol=1e-12, atol=1e-14).y[:, -1]
        mean = y[2] + y[3]
        return {"occupation": y[1], "mean_work": mean, "work_variance": y[4] + y[5] - mean**2,
                "exp_work": y[6] + y[7]}

    def _rhs(self, x, y, start, sign, rate):
        # y = [P_0, P_1, A_0, A_1, B_0, B_1, G_0, G_1]; dW = n sign dx; redraw at rate lambda into f
        f = fermi(self.beta, self.mu, start + sign * x)
        out = np.empty(8)
        for k in range(0, 8, 2):
            total = y[k] + y[k + 1]
            out[k] = rate * ((1.0 - f) * total - y[k])
            out[k + 1] = rate * (f * total - y[k + 1])
        out[3] += sign * y[1]              # d E[W 1_1] = sign P_1 dx
        out[5] += 2.0 * sign * y[3]        # d E[W^2 1_1] = 2 sign E[W 1_1] dx
        out[7] -= self.beta * sign * y[7]  # d E[e^{-beta W} 1_1] = -beta sign E[.] dx
        return out


def sample_paths(process: GoldenRuleLimit, seed: int, count: int, first: int = 0,
                 stream: int = STREAMS["forward"]) -> pd.DataFrame:
    """Trajectories ``first .. first + count - 1`` of ``process`` (counter-based stream ``stream``):
    one row each with n_initial, n_final, work (W_m), heat (Q = dE - W_m - W_c, into the system)
    and redraws (the number of redraw events)."""
    n_initial, n_final, work, redraws = redraw_paths(
        seed, stream, first, count, bernoulli_threshold(process.initial_occupation),
        np.asarray(process.edges, float), np.asarray(process.density, float), process.beta, process.mu)
    heat = (process.edges[-1] * n_final - process.edges[0] * n_initial - work
            - process.mu * (n_final.astype(float) - n_initial))
    return pd.DataFrame({"n_initial": n_initial, "n_final": n_final, "work": work,
                         "heat": heat, "redraws": redraws})


def golden_rule_limit(spec, direction: str = "forward") -> GoldenRuleLimit:
    """The golden-rule process of a ``LandauZener`` spec, each crossing smeared over its cell.

    Cell i is the part of [level_start, level_end] closer to eps_i than to its neighbours
    (width w_i ~ 1/d_i); the redraw intensity there is lambda_i = pi delta_i^2 / (2 eps_dot_i w_i)
    = -ln R_i / w_i, so the probability of no redraw within cell i is exactly R_i.
    """
    require(np.all(spec.keep_probabilities() > 0),
            "the golden-rule limit needs R_i > 0 at every crossing (R_i = 0 is an infinite rate)")
    levels = np.asarray(spec.levels)
    inner = (levels[1:] + levels[:-1]) / 2.0
    half = np.diff(levels) / 2.0
    low = levels[0] - min(levels[0] - spec.level_start, half[0] if half.size else np.inf)
    high = levels[-1] + min(spec.level_end - levels[-1], half[-1] if half.size else np.inf)
    edges = np.concatenate([[spec.level_start, low], inner, [high, spec.level_end]])
    density = np.concatenate([[0.0], -np.log(spec.keep_probabilities()) / np.diff(edges[1:-1]), [0.0]])
    if direction != "forward":
        edges, density = edges[::-1], density[::-1]
    return GoldenRuleLimit(spec.beta, spec.mu, tuple(edges), tuple(density))
