"""Exact moments of importance weights of jump records: the a-priori variance of an estimate of
<e^{-t X}> from trajectories of a proposal unravelling Q reweighted to the plain process P.

A trajectory drawn from Q and weighted by P/Q (its two replayed record densities) estimates
G(t) = <e^{-tX}>_P without bias; its second moment E_Q[(P/Q)^2 e^{-2tX}] = sum over records of
P^2/Q e^{-2tX} fixes the estimate's variance before any sampling.  When the unravelling is
classical -- every piece's Hamiltonian and H_eff diagonal in one basis (the eigenbasis of the first
Hamiltonian: commuting pieces), every jump operator mapping each basis state to at most one (Davies
channels with non-degenerate Bohr frequencies, a Floquet-frame qubit), a measured start -- a record
is a path of a Markov chain on the basis states, and the density of a record under P is

    p0(i) prod_stretches e^{-escape(a) dwell} prod_jumps W_k(a -> b),

W_k(a -> b) = |<b|L_k|a>|^2 and escape(a) = sum_k <a|L_k^dag L_k|a>; under Q the same with Q's
operators and start law.  Any product of powers of the two densities times e^{-m t X} is then a
Feynman-Kac functional: the sum over records of P^m / Q^(m-1) e^{-m t X} is a start vector
p0^m / q0^(m-1) e^{-m t x(i)} propagated by exp(duration K_n) per piece, with
K_n[b, a] = sum_k W_k(a->b)^m / W'_k(a->b)^(m-1) e^{-m t a_k} off the diagonal and jumps, and
-(m escape(a) - (m-1) escape'(a)) added on it, and read out with e^{-m t y(j)} (X = x(i) + y(j) +
sum of a_k per jump: ``generating.counted``).  m = 1 is G(t) itself (Q drops out): it is checked
against the tilted generator (``generating.log_generating_function``), an independent computation.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.linalg import matrix_balance
from scipy.special import logsumexp

from . import generating, tilted

#: relative size below which a matrix entry is round-off (an off-diagonal Hamiltonian entry, a
#: second entry in a jump operator's column)
ROUND_OFF = 1e-12


def classical_rates(system, basis) -> list[list[np.ndarray]] | None:
    """Per piece and channel W[b, a] = |<b|L_k|a>|^2 in ``basis`` (columns), or None when the
    unravelling is not classical there (a Hamiltonian or H_eff with off-diagonal entries, a jump
    operator that maps a basis state to a superposition)."""
    rates = []
    for piece in system.pieces:
        h = basis.conj().T @ piece.hamiltonian @ basis
        if np.abs(h - np.diag(np.diag(h))).max() > ROUND_OFF * max(1.0, np.abs(h).max()):
            return None
        channels = []
        for c in piece.channels:
            w = np.abs(basis.conj().T @ c.operator @ basis) ** 2
            kept = w > ROUND_OFF ** 2 * w.max(initial=0.0)
            if np.any(kept.sum(axis=0) > 1):
                return None
            channels.append(np.where(kept, w, 0.0))
        rates.append(channels)
    return rates


def _components(basis, vectors) -> np.ndarray | None:
    """The basis state each column of ``vectors`` is (None when one is a superposition)."""
    overlaps = np.abs(basis.conj().T @ vectors) ** 2
    if np.any(overlaps.max(axis=0) < 1 - 1e-9):
        return None
    return np.argmax(overlaps, axis=0)


def log_importance_moment(plain, proposal, definition: generating.Counted, t: float,
                          power: int = 2) -> float | None:
    """ln sum over records of P^m / Q^(m-1) e^{-m t X} (m = ``power``; see the module docstring) for
    the plain system P and a proposal Q with the same pieces (durations), channels and bases;
    ``definition`` = ``generating.counted(plain, observable)``.  +inf when Q cannot draw a record P
    can (the weight is then not an unbiased estimate: the moment does not exist); None when the
    unravelling is not classical, or an entry of a K_n leaves the float range."""
    if not plain.measure_energy or len(plain.pieces) != len(proposal.pieces):
        return None
    basis = tilted.initial_basis(plain)[1]
    rates_p, rates_q = classical_rates(plain, basis), classical_rates(proposal, basis)
    if rates_p is None or rates_q is None:
        return None
    log_p0, vectors_p = tilted.log_start(plain)
    log_q0, vectors_q = tilted.log_start(proposal)
    start_p, start_q = _components(basis, vectors_p), _components(basis, vectors_q)
    final = _components(basis, tilted.final_basis(plain)[1])
    if start_p is None or start_q is None or final is None:
        return None
    d = basis.shape[0]
    x = np.zeros(d) if definition.initial is None else np.nan_to_num(definition.initial)
    y = np.zeros(d) if definition.final is None else definition.final
    log_q_of = np.full(d, -np.inf)
    log_q_of[start_q] = log_q0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_start = np.full(d, -np.inf)
        for i, a in enumerate(start_p):
            if np.isfinite(log_p0[i]):
                if log_q_of[a] == -np.inf and power > 1:
                    return math.inf
                log_start[a] = (power * log_p0[i] - (power - 1) * log_q_of[a]
                                - power * t * x[i])
    if not np.any(np.isfinite(log_start)):
        return -math.inf
    scale = float(logsumexp(log_start))
    u = np.exp(log_start - scale)
    for n, (piece, w_p, w_q) in enumerate(zip(proposal.pieces, rates_p, rates_q)):
        k = np.zeros((d, d))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for w, v, a in zip(w_p, w_q, definition.increments[n]):
                if power > 1 and np.any((w > 0) & (v == 0)):
                    return math.inf
                k += np.where(w > 0, w ** power / np.where(v > 0, v, 1.0) ** (power - 1), 0.0) \
                    * math.exp(-power * t * a)
        escape_p = sum((w.sum(axis=0) for w in w_p), np.zeros(d))
        escape_q = sum((v.sum(axis=0) for v in w_q), np.zeros(d))
        k += np.diag(-(power * escape_p - (power - 1) * escape_q))
        if not np.all(np.isfinite(k)):
            return None
        # balanced by a diagonal similarity first (entries e^{+-m t a} span many orders: without it
        # the propagator's small entries lose their relative accuracy)
        balanced, scaling = matrix_balance(k, permute=False, separate=True)
        c, propagator = generating.scaled_exponential(balanced, piece.duration)
        u = scaling[0] * (propagator @ (u / scaling[0]))
        size = float(np.abs(u).max())
        if size == 0:
            return -math.inf
        u, scale = u / size, scale + c + math.log(size)
    with np.errstate(divide="ignore"):
        readout = [math.log(u[a]) - power * t * y[j] for j, a in enumerate(final)
                   if u[a] > 0 and np.isfinite(y[j])]
    return float(logsumexp(readout)) + scale if readout else -math.inf


def relative_variance(plain, proposal, definition: generating.Counted, t: float,
                      log_g: float | None = None) -> float | None:
    """Var_Q[(P/Q) e^{-tX}] / G(t)^2 of one trajectory of the proposal Q: E_Q[(P/Q)^2 e^{-2tX}] /
    G(t)^2 - 1 (``log_importance_moment``; ``log_g``: ln G(t) when known).  None when not
    classical; inf when Q misses records of P."""
    second = log_importance_moment(plain, proposal, definition, t, 2)
    if second is None or math.isinf(second):
        return second
    if log_g is None:
        log_g = log_importance_moment(plain, plain, definition, t, 1)
    return max(math.expm1(min(second - 2 * log_g, 700.0)), 0.0)
