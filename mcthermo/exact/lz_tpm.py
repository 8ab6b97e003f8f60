"""Two-point-measurement (TPM) work statistics of the Landau–Zener Hamiltonian (issue #6).

Units hbar = k_B = 1; h_i, h_f the one-body Hamiltonians at the protocol's ends and U the one-body
propagator (``lz_propagator``).

Two-point measurement (TPM) of the total energy H: the initial state is grand canonical for the
full initial Hamiltonian (coupling included), rho_gc = e^{-beta (H_i - mu N)} / Xi_i; measure H_i
(outcome E_n), evolve with the many-body unitary Gamma(U), measure H_f (outcome E_m);
work W = E_m - E_n (the driven level is the only time dependence, so W is the mechanical work).
Characteristic function, Gamma(X) the Fock representation of a one-body X (Gamma(e^A) = e^{a^dag A a},
Tr Gamma(X) = det(1 + X) for fermions, Gamma a homomorphism):

    G(u) = <e^{i u W}> = Tr[Gamma(e^{iu h_f}) Gamma(U) Gamma(e^{-iu h_i}) rho_gc Gamma(U)^dag]
         = det[1 + e^{iu h_f} U e^{-iu h_i} e^{-beta(h_i - mu)} U^dag] / det[1 + e^{-beta(h_i - mu)}]
         = det[1 - n + n U^dag e^{iu h_f} U e^{-iu h_i}],   n = (1 + e^{beta (h_i - mu)})^{-1},

(cyclic det(1 + XY) = det(1 + YX), e^{-beta(h_i - mu)} = n (1 - n)^{-1}, det(1 + A n) =
det(1 + n A)).  The first measurement does not disturb rho_gc ([rho_gc, H_i] = 0).
The distribution itself is enumerated exactly: in the eigenbases h_i = Phi_i diag(l_i) Phi_i^dag,
h_f = Phi_f diag(l_f) Phi_f^dag the eigenstates of H_i, H_f are Slater determinants |S> (S a set of
occupied eigenmodes), E_S = sum_{k in S} l_k, and Gamma(U) conserves N, so

    P(W) = sum_{|S| = |T|} p_i(S) |det V[T, S]|^2 delta(W - E_T^f + E_S^i),  V = Phi_f^dag U Phi_i,

p_i(S) = prod_{k in S} f(l_k) prod_{k not in S} (1 - f(l_k)).  That is sum_N C(L+1, N)^2 =
C(2L+2, L+1) pairs (184756 for the seed's L = 9): exact and tractable up to ``MAX_ENUMERATION_LEVELS``.

Crooks: the reverse protocol h~(t) = h(tau - t) is real symmetric, so U~ = U^T (time reversal is
complex conjugation) and |<S|Gamma(U~)|T>|^2 = |<T|Gamma(U)|S>|^2 (real eigenvectors); with N
conserved, P_F(w) / P_R(-w) = e^{beta (w - dOmega)} where

    dOmega = Omega(h_f) - Omega(h_i),  Omega(h) = -(1/beta) sum_k ln(1 + e^{-beta (l_k - mu)}),

the grand potential of the FULL Hamiltonian (system + reservoir + coupling) at the protocol's
ends.  It differs from the stochastic model's dOmega_eq = Omega_eq(level_end) - Omega_eq(level_start)
(isolated system level) by the coupling shifts of the eigenvalues, O(gamma^2 / distance); both
agree as gamma -> 0.  Jarzynski <e^{-beta W}> = e^{-beta dOmega} holds for any unitary U.
Numerically, the Gauss–Magnus step of ``lz_propagator`` is time-symmetric and the reverse grid mirrors the
forward one, so the independently propagated U~ equals U^T to rounding (~1e-14) at any step:
Crooks holds on the computed distributions to rounding, whatever the integration error.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy.special import expit

from ..model import require
from .effort import Progress

#: largest L for the exact Slater-determinant enumeration of the TPM distribution
MAX_ENUMERATION_LEVELS = 11
#: work values closer than this (energy units) are one atom of the distribution
WORK_RESOLUTION = 1e-9


# --- thermodynamics of the full quadratic Hamiltonian --------------------------------------------
def fermi_matrix(h: np.ndarray, beta: float, mu: float) -> np.ndarray:
    """One-body Fermi matrix n = (1 + e^{beta (h - mu)})^{-1} = <a_k^dag a_j> of the grand-canonical state."""
    energy, vectors = np.linalg.eigh(h)
    return (vectors * expit(-beta * (energy - mu))) @ vectors.T


def full_grand_potential(h: np.ndarray, beta: float, mu: float) -> float:
    """Omega = -(1/beta) ln Tr e^{-beta (H - mu N)} = -(1/beta) sum_k ln(1 + e^{-beta (l_k - mu)})."""
    energy = np.linalg.eigvalsh(h)
    return float(-np.sum(np.logaddexp(0.0, -beta * (energy - mu))) / beta)


def characteristic_function(u, h_initial, h_final, unitary, beta, mu) -> np.ndarray:
    """TPM work characteristic function G(u) = det[1 - n + n U^dag e^{iu h_f} U e^{-iu h_i}]
    (module docstring), vectorised over real (or complex) u."""
    u = np.atleast_1d(np.asarray(u, dtype=np.complex128))
    n = fermi_matrix(h_initial, beta, mu)
    li, vi = np.linalg.eigh(h_initial)
    lf, vf = np.linalg.eigh(h_final)
    eye = np.eye(n.shape[0])
    forward_phase = (vf[None] * np.exp(1j * u[:, None] * lf)[:, None, :]) @ vf.T      # e^{iu h_f}
    backward_phase = (vi[None] * np.exp(-1j * u[:, None] * li)[:, None, :]) @ vi.T   # e^{-iu h_i}
    m = np.conj(unitary.T) @ forward_phase @ unitary @ backward_phase
    return np.linalg.det(eye - n + n @ m)


# --- the TPM work distribution by enumeration -----------------------------------------------------
def _subsets(modes, size):
    combos = list(itertools.combinations(range(modes), size))
    return np.array(combos, dtype=np.intp).reshape(len(combos), size)


def transition_blocks(h_initial, h_final, unitary, beta, mu, max_pairs=2**16):
    """Yield (E_i(S), E_f(T), p_i(S), P(T|S)) per particle number N, P(T|S) = |det V[T, S]|^2 with
    V = Phi_f^dag U Phi_i, the arrays indexed [T, S] (blocks of at most ~max_pairs pairs)."""
    li, vi = np.linalg.eigh(h_initial)
    lf, vf = np.linalg.eigh(h_final)
    v = np.conj(vf.T) @ unitary @ vi
    occupied = expit(-beta * (li - mu))
    log_occ, log_emp = np.log(occupied), np.log1p(-occupied)
    modes = li.size
    for size in range(modes + 1):
        subsets = _subsets(modes, size)
        mask = np.zeros((len(subsets), modes), dtype=bool)
        np.put_along_axis(mask, subsets, True, axis=1)
        weight = np.exp(np.where(mask, log_occ, log_emp).sum(axis=1))
        energy_i, energy_f = mask @ li, mask @ lf
        rows = max(1, max_pairs // len(subsets))
        for first in range(0, len(subsets), rows):
            t = subsets[first:first + rows]
            if size == 0:
                prob = np.ones((len(t), len(subsets)))
            else:
                block = v[t[:, None, :, None], subsets[None, :, None, :]]
                prob = np.abs(np.linalg.det(block)) ** 2
            yield energy_i, energy_f[first:first + rows], weight, prob


def merge_atoms(work, probability, resolution=WORK_RESOLUTION) -> pd.DataFrame:
    """Sum probabilities of work values closer than ``resolution``: columns work, probability
    (work = probability-weighted mean of the merged values)."""
    order = np.argsort(work, kind="stable")
    work, probability = np.asarray(work)[order], np.asarray(probability)[order]
    group = np.concatenate([[0], np.cumsum(np.diff(work) > resolution)])
    total = np.bincount(group, probability)
    count = np.bincount(group)
    mean = np.bincount(group, work) / count
    return pd.DataFrame({"work": mean, "probability": total})


def require_enumerable(levels):
    require(levels <= MAX_ENUMERATION_LEVELS,
            f"levels: L = {levels} reservoir levels is too many for the exact TPM enumeration "
            f"(C(2L+2, L+1) = {math.comb(2 * levels + 2, levels + 1):.3g} pairs; limit L <= "
            f"{MAX_ENUMERATION_LEVELS})")


def tpm_work_distribution(h_initial, h_final, unitary, beta, mu) -> pd.DataFrame:
    """Exact TPM work distribution (columns work, probability) by Slater-determinant enumeration."""
    require_enumerable(h_initial.shape[0] - 1)
    works, probs = [], []
    modes = h_initial.shape[0]
    # work units: a pair of N-particle determinants costs ~N (measured: ~250 ns N per pair on one
    # core), the final merge ~1.3 per pair; sum_N N C(m, N)^2 = m C(2m - 1, m - 1)
    pairs = tpm_pairs(modes - 1)
    merging = 1.3 * pairs
    with Progress("TPM work distribution", modes * math.comb(2 * modes - 1, modes - 1) + 1 + merging) as progress:
        particles, previous = -1, None
        for energy_i, energy_f, weight, prob in transition_blocks(h_initial, h_final, unitary, beta, mu):
            if energy_i is not previous:  # the blocks come by particle number N = 0, 1, ..., m
                particles, previous = particles + 1, energy_i
            works.append((energy_f[:, None] - energy_i[None, :]).ravel())
            probs.append((prob * weight[None, :]).ravel())
            progress.advance(prob.size * max(particles, 1))
        atoms = merge_atoms(np.concatenate(works), np.concatenate(probs))
        progress.advance(merging)
    return atoms


def tpm_pairs(levels: int) -> int:
    """Pairs (S, T) of Slater determinants the enumeration visits for L reservoir levels:
    sum_N C(L+1, N)^2 = C(2L+2, L+1)."""
    return math.comb(2 * levels + 2, levels + 1)


def tpm_seconds(levels: int) -> float:
    """Seconds ``tpm_work_distribution`` needs for L reservoir levels: one block of the largest
    determinants (N = (L+1)/2 particles) is timed as the enumeration computes it (gather, det,
    work and probability of every pair), times the number of pairs; most pairs are smaller."""
    import time

    modes = levels + 1
    subsets = _subsets(modes, modes // 2)
    rng = np.random.default_rng(0)
    v = rng.standard_normal((modes, modes)) + 1j * rng.standard_normal((modes, modes))
    energy, weight = rng.standard_normal(len(subsets)), rng.random(len(subsets))
    t = subsets[:max(1, 4096 // len(subsets))]
    started = time.perf_counter()
    prob = np.abs(np.linalg.det(v[t[:, None, :, None], subsets[None, :, None, :]])) ** 2
    work = (energy[:len(t), None] - energy[None, :]).ravel()
    merge_atoms(work, (prob * weight[None, :]).ravel())
    return tpm_pairs(levels) * (time.perf_counter() - started) / prob.size


def crooks_residual(forward: pd.DataFrame, reverse: pd.DataFrame, beta, delta_omega) -> dict:
    """Match forward atoms w with reverse atoms -w; return the largest absolute residual
    |P_F(w) - e^{beta (w - dOmega)} P_R(-w)|, the largest |ln P_F/P_R - beta(w - dOmega)| over atoms
    with P_F, P_R > 1e-6, and the unmatched probability mass."""
    rev = reverse.assign(work=-reverse.work)
    pairs = pd.merge_asof(forward.sort_values("work"), rev.sort_values("work"), on="work",
                          direction="nearest", tolerance=1e3 * WORK_RESOLUTION, suffixes=("_f", "_r"))
    matched = pairs.probability_r.notna()
    pf, pr, w = pairs.probability_f[matched], pairs.probability_r[matched], pairs.work[matched]
    predicted = np.exp(beta * (w - delta_omega)) * pr
    big = (pf > 1e-6) & (pr > 1e-6)
    return {"max_abs_residual": float(np.max(np.abs(pf - predicted))),
            "max_log_residual": float(np.max(np.abs(np.log(pf[big] / pr[big]) - beta * (w[big] - delta_omega)))),
            "unmatched_probability": float(pairs.probability_f[~matched].sum())}
