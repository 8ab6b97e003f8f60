"""Continuous-time two-state jump process of a moving level: the Fermi-golden-rule limit of the chain.

The level energy runs monotonically from ``edges[0]`` to ``edges[-1]`` (up or down).  Everything is
parametrised by the energy the level has travelled, not by time: with a driving speed eps_dot the
golden-rule rates w+ = Gamma f(eps), w- = Gamma (1 - f(eps)) become, per unit energy travelled,

    lambda(eps) = Gamma / eps_dot  (``density``, piecewise constant on the cells between ``edges``),

and the process is: *redraw events* form a Poisson process of intensity lambda along the path; at
an event at energy eps the occupation is redrawn from Bernoulli(f(eps)), f = 1/(1 + e^{beta(eps-mu)}).
(Redrawing at total rate Gamma is the same master equation dp/deps = lambda (f - p) as jumping
0 -> 1 at rate Gamma f and 1 -> 0 at rate Gamma (1 - f); a redraw that keeps n is no jump.)

Event positions are sampled exactly (Gillespie with a time-dependent rate): an Exp(1) "optical
depth" is spent cell by cell, depth = lambda_k * distance, so there is no time grid and no thinning.
Work is W_m = integral of n d(eps) along the path; heat and the other observables follow from
(n_initial, n_final, W_m).  Each trajectory uses its own counter-based stream, so the output does
not depend on the thread count.
"""
import numba
import numpy as np

from ._jit import inline, parallel_kernel
from .rng import exponential, trajectory_state, uniform, uniform53


@inline
def _fermi(beta, mu, energy):
    """Thermal occupation 1 / (1 + e^{beta (energy - mu)}) without overflow."""
    x = beta * (energy - mu)
    if x > 0.0:
        e = np.exp(-x)
        return e / (1.0 + e)
    return 1.0 / (1.0 + np.exp(x))


@inline
def _trajectory(seed, stream, index, initial_threshold, edges, density, beta, mu):
    """One path: returns (n_initial, n_final, mechanical work, number of redraw events)."""
    s0, s1, s2, s3 = trajectory_state(seed, stream, index)
    k, s0, s1, s2, s3 = uniform53(s0, s1, s2, s3)
    n = np.int64(k < initial_threshold)
    n_initial = n
    work = 0.0
    redraws = 0
    position = edges[0]
    depth, s0, s1, s2, s3 = exponential(s0, s1, s2, s3)
    for cell in range(density.shape[0]):
        end = edges[cell + 1]
        rate = density[cell]
        # events inside this cell: each one spends its Exp(1) depth at rate lambda per unit energy
        while rate > 0.0 and depth < rate * abs(end - position):
            step = depth / rate
            event = position + step if end >= position else position - step
            work += n * (event - position)
            position = event
            u, s0, s1, s2, s3 = uniform(s0, s1, s2, s3)
            n = np.int64(u < _fermi(beta, mu, position))
            redraws += 1
            depth, s0, s1, s2, s3 = exponential(s0, s1, s2, s3)
        depth -= rate * abs(end - position)
        work += n * (end - position)
        position = end
    return n_initial, n, work, redraws


@parallel_kernel
def redraw_paths(seed, stream, first, count, initial_threshold, edges, density, beta, mu):
    """Per-trajectory (n_initial, n_final, work, redraws) of trajectories ``first .. first+count-1``.

    ``edges``: monotone level energies bounding the cells (length K + 1); ``density``: redraw
    intensity per unit energy on each cell (length K, >= 0, finite).
    """
    n_initial = np.empty(count, dtype=np.int8)
    n_final = np.empty(count, dtype=np.int8)
    work = np.empty(count, dtype=np.float64)
    redraws = np.empty(count, dtype=np.int64)
    for t in numba.prange(count):
        n0, n1, w, r = _trajectory(seed, stream, first + t, initial_threshold, edges, density, beta, mu)
        n_initial[t] = n0
        n_final[t] = n1
        work[t] = w
        redraws[t] = r
    return n_initial, n_final, work, redraws
