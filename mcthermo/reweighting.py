"""Multistate reweighting (MBAR) of histograms sampled under exponential tilts.

Ensemble k samples the tilted law q_k(c) = p(c) e^{-s_k X(c)} / G(s_k) over the cells c of a
histogram (cells: every distinct path class the tables count; X: the tilted observable, a
function of the cell), with n_kc trajectories in cell c, N_k in all.  Ensemble 0 is the plain one
(s_0 = 0, G = 1).  The MBAR (multiple-histogram) estimate takes the normalisations G(s_k) from the
data, never from the exact answer:

    p(c) = n_c / sum_k N_k e^{-s_k X(c) - a_k},   e^{a_k} = sum_c p(c) e^{-s_k X(c)},  a_0 = 0,

n_c = sum_k n_kc, solved by Newton's method on the convex MBAR objective
F(a) = sum_c n_c ln D_c(a) + sum_k N_k a_k (log space throughout).  The asymptotic covariance of
ln<A> for any A >= 0 is that of Shirts & Chodera (J. Chem. Phys. 129, 124105 (2008), Eq. D8) with
A added as a state of no samples: Theta = V S (I - S V^T N V S)^+ S V^T from the thin SVD of the
weight matrix (one row per cell, weighted by sqrt(n_c)), Var ln<A> = Theta_AA + Theta_00 - 2 Theta_A0.
Given the exact cell law instead of counts (``expected`` counts n_c = sum_k N_k q_k(c) and the exact
a_k), the same formula is the exact asymptotic variance of the estimator: what a z-score is judged by.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

#: Newton iterations of the MBAR equations (quadratic convergence: a handful suffice)
MAX_ITERATIONS = 2000
#: convergence: largest |gradient_k| / N_k
TOLERANCE = 1e-13


@dataclass(frozen=True, eq=False)
class Reweighted:
    """The MBAR solution: ``log_g`` (K,) estimates of ln G(s_k) (0 for the plain ensemble), and
    ``log_p`` (cells,) the reweighted ln p(c) (-inf where no trajectory fell)."""

    tilts: np.ndarray
    x: np.ndarray
    counts: np.ndarray
    log_g: np.ndarray
    log_p: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        return self.counts.sum(axis=1).astype(np.float64)

    def log_average(self, log_a) -> float:
        """ln<A> = ln sum_c p(c) A(c) from ln A per cell."""
        return float(logsumexp(self.log_p + log_a))

    def log_average_variance(self, log_a, exact_log_p=None, exact_log_g=None) -> float:
        """Asymptotic variance of the estimate of ln<A> (``log_a`` per cell): from the data, or --
        with the exact cell law ``exact_log_p`` and ln G(s_k) ``exact_log_g`` -- the exact one."""
        if exact_log_p is None:
            weights, log_p, log_g = self.counts.sum(axis=0).astype(np.float64), self.log_p, self.log_g
        else:
            log_p, log_g = exact_log_p, exact_log_g
            mixture = logsumexp(np.log(self.sizes)[:, None] - self.tilts[:, None] * self.x[None, :]
                                - log_g[:, None], axis=0)
            weights = np.exp(log_p + mixture)  # expected n_c
        return _log_covariance(self.tilts, self.x, self.sizes, log_g, log_p, weights, log_a)


def solve(tilts, x, counts) -> Reweighted:
    """MBAR for ensembles with tilts ``tilts`` (K,), the first 0, cell values ``x`` (cells,) of
    the tilted observable and ``counts`` (K, cells) int64.  ValueError when an ensemble has no
    trajectory or shares no cell with the others (no overlap: its normalisation is not determined)."""
    tilts = np.asarray(tilts, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.int64)
    if tilts[0] != 0.0:
        raise ValueError("the first ensemble must be the plain one (tilt 0)")
    sizes = counts.sum(axis=1).astype(np.float64)
    if np.any(sizes == 0):
        raise ValueError("an ensemble has no trajectory")
    seen = counts.sum(axis=0) > 0
    if not _connected(counts[:, seen] > 0):
        raise ValueError("the ensembles do not overlap (an ensemble shares no cell with the others)")
    n, xs = counts.sum(axis=0)[seen].astype(np.float64), x[seen]
    bias = -tilts[:, None] * xs[None, :] + np.log(sizes)[:, None]  # ln N_k - s_k X(c)
    # start from each ensemble's own estimate: under q_k, <e^{s_k X}> = 1 / G(s_k)
    with np.errstate(divide="ignore"):
        own = np.log(counts[:, seen]) - np.log(sizes)[:, None] + tilts[:, None] * xs[None, :]
    a = -logsumexp(own, axis=1)
    a -= a[0]
    objective = _objective(a, bias, n, sizes)
    for _ in range(MAX_ITERATIONS):
        log_d = logsumexp(bias - a[:, None], axis=0)
        r = np.exp(bias - a[:, None] - log_d[None, :])  # responsibility of ensemble k for cell c
        gradient = sizes - r @ n
        if np.max(np.abs(gradient[1:]) / sizes[1:], initial=0.0) < TOLERANCE:
            break
        hessian = np.diag(r @ n) - (r * n) @ r.T
        step = np.zeros_like(a)
        with np.errstate(all="ignore"):
            step[1:] = np.linalg.lstsq(hessian[1:, 1:], gradient[1:], rcond=None)[0]
        accepted = False
        t = 1.0
        while np.all(np.isfinite(step)) and t > 1e-6:  # Newton, backtracking on the convex objective
            trial = a - t * step
            value = _objective(trial, bias, n, sizes)
            if value <= objective + 1e-14 * abs(objective):  # decrease, to rounding
                accepted = True
                break
            t /= 2
        if not accepted:
            # the self-consistent update a_k = ln sum_c p(c) e^{-s_k X(c)}: never increases F
            trial = logsumexp(np.log(n)[None, :] - log_d[None, :] + bias - np.log(sizes)[:, None], axis=1)
            trial -= trial[0]
            value = _objective(trial, bias, n, sizes)
            if not value < objective:  # converged to rounding
                break
        a, objective = trial, value
    log_d = logsumexp(bias - a[:, None], axis=0)
    log_p = np.full(x.size, -np.inf)
    log_p[seen] = np.log(n) - log_d
    return Reweighted(tilts, x, counts, a, log_p)


def _objective(a, bias, n, sizes):
    return float(n @ logsumexp(bias - a[:, None], axis=0) + sizes @ a)


def _connected(occupied) -> bool:
    """Whether the ensembles (rows) are linked through shared cells."""
    k = occupied.shape[0]
    linked = (occupied.astype(np.int64) @ occupied.T.astype(np.int64)) > 0
    reached, frontier = {0}, [0]
    while frontier:
        i = frontier.pop()
        for j in np.flatnonzero(linked[i]):
            if j not in reached:
                reached.add(int(j))
                frontier.append(int(j))
    return len(reached) == k


def _weights(tilts, x, sizes, log_g, log_p, weights):
    """The cells with weight (n_c) > 0 and their MBAR weight rows e^{-s_k X - ln G_k} / D_c (cells, K)
    scaled by sqrt(n_c), and ln D_c (D_c = sum_k N_k e^{-s_k X(c)} / G_k)."""
    keep = (weights > 0) & (log_p > -np.inf)
    log_d = logsumexp(np.log(sizes)[:, None] - tilts[:, None] * x[keep][None, :] - log_g[:, None], axis=0)
    log_w = -tilts[:, None] * x[keep][None, :] - log_g[:, None] - log_d[None, :]
    return keep, np.exp(log_w).T * np.sqrt(weights[keep])[:, None], log_d


def _theta(gram, sizes):
    """Shirts & Chodera Eq. D8 from the Gram matrix W^T W of the (weighted) weight matrix, the last
    state the added observable (no samples): Theta = V S (I - S V^T N V S)^+ S V^T, W^T W = V S^2 V^T.
    ``gram`` may be a stack (..., K + 1, K + 1); returns Var ln<A> - ln G_0 per stack entry."""
    eigenvalues, v = np.linalg.eigh(gram)
    sigma = np.sqrt(np.clip(eigenvalues, 0.0, None))
    n = np.append(sizes, 0.0)
    vs = v * sigma[..., None, :]
    inner = np.eye(sigma.shape[-1]) - np.swapaxes(vs, -1, -2) @ (n[:, None] * vs)
    theta = vs @ np.linalg.pinv(inner, rcond=1e-12, hermitian=True) @ np.swapaxes(vs, -1, -2)
    k = sizes.size
    return np.maximum(theta[..., k, k] + theta[..., 0, 0] - 2.0 * theta[..., k, 0], 0.0)


def _log_covariance(tilts, x, sizes, log_g, log_p, weights, log_a) -> float:
    """Var of ln<A> - ln G_0 (Shirts & Chodera Eq. D8) over cells with weight (n_c) > 0."""
    keep, w, log_d = _weights(tilts, x, sizes, log_g, log_p, weights)
    log_a = np.broadcast_to(log_a, keep.shape)[keep]
    log_mean_a = logsumexp(log_p[keep] + log_a)
    wa = np.exp(log_a - log_mean_a - log_d) * np.sqrt(weights[keep])
    full = np.column_stack([w, wa])
    return float(_theta(full.T @ full, sizes))


def atom_log_variances(solved: Reweighted, inverse, atoms: int) -> np.ndarray:
    """Var ln p(atom) of every atom of an observable (``inverse``: the atom of each cell) from the
    data, all at once: the Gram matrices of the atoms' indicator states share W^T W."""
    weights = solved.counts.sum(axis=0).astype(np.float64)
    keep, w, log_d = _weights(solved.tilts, solved.x, solved.sizes, solved.log_g, solved.log_p, weights)
    atom = np.asarray(inverse)[keep]
    log_mass = np.full(atoms, -np.inf)
    np.logaddexp.at(log_mass, atom, solved.log_p[keep])
    wa = np.exp(-log_mass[atom] - log_d) * np.sqrt(weights[keep])  # indicator state of the cell's atom
    k = solved.tilts.size
    gram = np.zeros((atoms, k + 1, k + 1))
    gram[:, :k, :k] = w.T @ w
    cross = np.zeros((atoms, k))
    for j in range(k):
        cross[:, j] = np.bincount(atom, w[:, j] * wa, atoms)
    gram[:, :k, k] = gram[:, k, :k] = cross
    gram[:, k, k] = np.bincount(atom, wa * wa, atoms)
    out = np.full(atoms, np.nan)
    reached = log_mass > -np.inf
    out[reached] = _theta(gram[reached], solved.sizes)
    return out


def atom_log_covariance(solved: Reweighted, inverse, atoms: int, chosen) -> np.ndarray:
    """Covariance matrix of ln p(atom) for the atoms ``chosen`` (each reached), from the data: the
    atoms' indicator states added together to the Gram matrix, their covariances relative to the
    plain ensemble (Cov(ln p_a, ln p_b) = Theta_ab - Theta_a0 - Theta_0b + Theta_00)."""
    chosen = np.asarray(chosen, dtype=np.intp)
    weights = solved.counts.sum(axis=0).astype(np.float64)
    keep, w, log_d = _weights(solved.tilts, solved.x, solved.sizes, solved.log_g, solved.log_p, weights)
    atom = np.asarray(inverse)[keep]
    log_mass = np.full(atoms, -np.inf)
    np.logaddexp.at(log_mass, atom, solved.log_p[keep])
    column = np.full(atoms, -1)
    column[chosen] = np.arange(chosen.size)
    mine = column[atom] >= 0
    wa = np.zeros((w.shape[0], chosen.size))
    wa[np.flatnonzero(mine), column[atom[mine]]] = (np.exp(-log_mass[atom[mine]] - log_d[mine])
                                                   * np.sqrt(weights[keep][mine]))
    full = np.hstack([w, wa])
    k = solved.tilts.size
    eigenvalues, v = np.linalg.eigh(full.T @ full)
    sigma = np.sqrt(np.clip(eigenvalues, 0.0, None))
    n = np.concatenate([solved.sizes, np.zeros(chosen.size)])
    vs = v * sigma[None, :]
    inner = np.eye(sigma.size) - vs.T @ (n[:, None] * vs)
    theta = vs @ np.linalg.pinv(inner, rcond=1e-12, hermitian=True) @ vs.T
    block = theta[k:, k:]
    return block - theta[k:, 0][:, None] - theta[0, k:][None, :] + theta[0, 0]
