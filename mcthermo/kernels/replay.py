"""Exact densities of quantum-jump records under several unravellings, and the weighted
accumulators of importance-sampled (tilted) runs of an open system.

A record of the jump kernel (``lindblad.trajectory``) is the initial outcome i, the jump times
t_1 < ... < t_n with their channels k_1 .. k_n, and the final outcome j.  Under an unravelling with
no-jump generator H_eff = H - (i/2) sum_k L_k^dag L_k (per piece) and jump operators L_k its
density is

    p(record) = p0(i) |<j| e^{-i H_eff (t - t_n)} L_{k_n} ... L_{k_1} e^{-i H_eff t_1} |i>|^2

(without the final measurement: the squared norm of the vector).  ``log_density`` REPLAYS a record
under any set of tables of the same system layout (same pieces, channel slots and measurement
bases): the unnormalised vector is propagated with the eigen-decomposition of H_eff exactly as the
kernel does, renormalised after every jump with ln of the norm accumulated, so ln p never
underflows.  The ratio of two such densities is the exact importance weight of a trajectory drawn
from one unravelling for estimates under the other: no exact answer enters it.

``weighted`` samples one ensemble (its own tables, the same kernel and draws as a plain run: the
plain ensemble's pieces are split into sub-pieces, and the kernel draws the same trajectories from
a split piece as from the whole one, on root-finding and mixture pieces alike), replays
every trajectory under every ensemble of the run, and accumulates log-sums of the mixture weights
w = p_plain / mean_e p_e per block of consecutive trajectory indices (index order, so results never
depend on threads or chunks).
"""
from typing import NamedTuple

import numba
import numpy as np

from ._jit import inline, kernel, parallel_kernel
from .lindblad import LindbladTables, _advance, _matvec, trajectory, workspace
from .rng import stream_key


class Replays(NamedTuple):
    """The ensembles of a tilted run, stacked (E ensembles, P pieces, d levels, K channels per piece,
    C channel slots); ensemble 0 is the plain process."""

    eigenvalues: np.ndarray     # (E, P, d) complex: lambda of each ensemble's H_eff
    right: np.ndarray           # (E, P, d, d) complex: R
    left: np.ndarray            # (E, P, d, d) complex: R^{-1}
    jump_ops: np.ndarray        # (E, P, K, d, d) complex
    log_start: np.ndarray       # (E, d) float: ln p0(i) of each ensemble (-inf: never drawn)
    channel_of: np.ndarray      # (P, C) int: channel index in piece n of slot c (-1: absent)
    durations: np.ndarray       # (P,) float
    start_vectors: np.ndarray   # (d, d) complex, rows: the start states (common to all ensembles)
    final_projector: np.ndarray  # (d, d) complex: amplitudes of the final measurement
    measure: bool
    log_initial: np.ndarray     # (d,) float: ln p0(i) of the plain process (its sigma)
    log_final: np.ndarray       # (d,) float: ln p~(j) of the plain process (its sigma)


@inline
def _log_add(a, b):
    """ln(e^a + e^b), exact at -inf."""
    if a == -np.inf:
        return b
    if b == -np.inf:
        return a
    if a > b:
        return a + np.log1p(np.exp(b - a))
    return b + np.log1p(np.exp(a - b))


@inline
def _squared_norm(x):
    total = 0.0
    for a in range(x.shape[0]):
        total += x[a].real ** 2 + x[a].imag ** 2
    return total


@kernel
def log_density(replays, e, i, j, jump_times, jump_slots, jumps):
    """ln p(record) under ensemble ``e`` (see the module docstring): start outcome ``i``, final
    outcome ``j`` (ignored without the final measurement), the first ``jumps`` entries of
    ``jump_times`` / ``jump_slots`` (channel slots).  -inf when the record is impossible there."""
    log_p = replays.log_start[e, i]
    if log_p == -np.inf:
        return -np.inf
    d = replays.start_vectors.shape[0]
    psi = replays.start_vectors[i].copy()
    coefficients = np.empty(d, dtype=np.complex128)
    v = np.empty(d, dtype=np.complex128)
    scratch = np.empty(d, dtype=np.complex128)
    pieces = replays.durations.shape[0]
    q = 0
    t_start = 0.0
    for n in range(pieces):
        t_end = t_start + replays.durations[n]   # the kernel's piece boundaries, bit for bit
        origin = t_start
        _matvec(replays.left[e, n], psi, coefficients)
        while q < jumps and (jump_times[q] <= t_end or n == pieces - 1):
            _advance(coefficients, replays.eigenvalues[e, n], jump_times[q] - origin, v)
            _matvec(replays.right[e, n], v, psi)
            k = replays.channel_of[n, jump_slots[q]]
            if k < 0:
                return -np.inf
            _matvec(replays.jump_ops[e, n, k], psi, scratch)
            norm2 = _squared_norm(scratch)
            if norm2 == 0.0:
                return -np.inf
            log_p += np.log(norm2)
            norm = np.sqrt(norm2)
            for a in range(d):
                psi[a] = scratch[a] / norm
            origin = jump_times[q]
            q += 1
            _matvec(replays.left[e, n], psi, coefficients)
        _advance(coefficients, replays.eigenvalues[e, n], t_end - origin, v)
        _matvec(replays.right[e, n], v, psi)
        t_start = t_end
    if replays.measure:
        amplitude = 0.0j
        for a in range(d):
            amplitude += replays.final_projector[j, a] * psi[a]
        final = amplitude.real ** 2 + amplitude.imag ** 2
    else:
        final = _squared_norm(psi)
    if final == 0.0:
        return -np.inf
    return log_p + np.log(final)


@kernel
def log_weight(replays, i, j, jump_times, jump_slots, jumps):
    """ln w = ln p_0(record) - ln(sum_e p_e(record) / E): the mixture importance weight of a record
    for estimates under the plain process (ensemble 0) from all E ensembles (equal sizes)."""
    ensembles = replays.log_start.shape[0]
    plain = -np.inf
    mixture = -np.inf
    for e in range(ensembles):
        log_p = log_density(replays, e, i, j, jump_times, jump_slots, jumps)
        mixture = _log_add(mixture, log_p)
        if e == 0:
            plain = log_p
    return plain - (mixture - np.log(ensembles))


@parallel_kernel
def log_weights(tables, replays, seed, stream, first, count, buffer):
    """ln w of trajectories ``first .. first + count - 1`` drawn with kernel tables ``tables`` on RNG
    stream ``stream`` (the same draws as ``weighted``); NaN for a trajectory with more than
    ``buffer`` jumps (not replayed)."""
    key = stream_key(seed, stream)
    n_baths = tables.betas.shape[0]
    n_slots = int(tables.slot.max()) + 1 if tables.slot.size else 0
    out = np.empty(count)
    for t in numba.prange(count):
        counts = np.zeros(n_slots, dtype=np.int64)
        times = np.zeros(buffer)
        slots = np.zeros(buffer, dtype=np.int64)
        moments = np.zeros((1, tables.times.shape[0], tables.observables.shape[1], 2))
        i, j, work, sigma = trajectory(tables, key, first + t, moments, 0, counts,
                                       np.zeros(tables.half_width.shape[0], dtype=np.int64), np.zeros(n_baths),
                                       times, slots, workspace(tables))
        jumps = counts.sum()
        out[t] = log_weight(replays, i, j, times, slots, jumps) if jumps <= buffer else np.nan
    return out


#: what the tilted observable X is, for ``weighted``: heat INTO the system of bath ``index``, the
#: jump count of slot ``index``, work, entropy production
HEAT, JUMPS, WORK, ENTROPY_PRODUCTION = 0, 1, 2, 3


@parallel_kernel
def weighted(tables, replays, seed, stream, first, count, block_size, groups, kind, index,
             unit, half_width, exponents, buffer):
    """Trajectories ``first .. first + count - 1`` of one ensemble (kernel tables ``tables``, RNG
    stream ``stream``), each replayed under every ensemble of ``replays``.

    With w = p_0 / (sum_e p_e / E) (the mixture weight, E ensembles of equal size) and, per row q,
    ln A_q = -exponents[q, 0] W - exponents[q, 1] sigma (sigma of the plain process), returns
    sums (blocks, Q, 3): ln sum w A_q, ln sum (w A_q)^2, ln sum w^2 A_q;
    atoms (blocks, 2 half_width + 1, 2): ln sum w and ln sum w^2 over the trajectories whose X lies
    on lattice atom m = round(X / unit) (index m + half_width; none when half_width < 0);
    outside: trajectories with |m| > half_width; unreplayed: trajectories with more than ``buffer``
    jumps (not counted anywhere else).
    """
    key = stream_key(seed, stream)
    blocks = (count + block_size - 1) // block_size
    ensembles = replays.log_start.shape[0]
    rows = exponents.shape[0]
    n_baths = tables.betas.shape[0]
    n_slots = int(tables.slot.max()) + 1 if tables.slot.size else 0
    width = 2 * half_width + 1 if half_width >= 0 else 0
    sums = np.full((blocks, rows, 3), -np.inf)
    atoms = np.full((blocks, width, 2), -np.inf)
    outside = np.zeros(groups, dtype=np.int64)
    unreplayed = np.zeros(groups, dtype=np.int64)
    per_group = (blocks + groups - 1) // groups
    for g in numba.prange(groups):
        counts = np.zeros(n_slots, dtype=np.int64)
        lattice_index = np.zeros(tables.half_width.shape[0], dtype=np.int64)
        heat = np.zeros(n_baths)
        times = np.zeros(buffer)
        slots = np.zeros(buffer, dtype=np.int64)
        moments = np.zeros((1, tables.times.shape[0], tables.observables.shape[1], 2))
        scratch_space = workspace(tables)
        for block in range(g * per_group, min(blocks, (g + 1) * per_group)):
            for t in range(block * block_size, min(count, (block + 1) * block_size)):
                i, j, work, sigma = trajectory(tables, key, first + t, moments, 0, counts,
                                               lattice_index, heat, times, slots, scratch_space)
                jumps = counts.sum()
                if jumps > buffer:
                    unreplayed[g] += 1
                    continue
                log_w = log_weight(replays, i, j, times, slots, jumps)
                if replays.measure:  # the plain process's sigma, whatever ensemble drew the path
                    sigma += (replays.log_initial[i] - tables.log_initial[i]
                              - replays.log_final[j] + tables.log_final[j])
                for q in range(rows):
                    log_a = -exponents[q, 0] * work - exponents[q, 1] * sigma
                    sums[block, q, 0] = _log_add(sums[block, q, 0], log_w + log_a)
                    sums[block, q, 1] = _log_add(sums[block, q, 1], 2.0 * (log_w + log_a))
                    sums[block, q, 2] = _log_add(sums[block, q, 2], 2.0 * log_w + log_a)
                if width > 0:
                    if kind == HEAT:
                        x = -heat[index]
                    elif kind == JUMPS:
                        x = float(counts[index])
                    elif kind == WORK:
                        x = work
                    else:
                        x = sigma
                    m = int(np.round(x / unit))
                    if abs(m) <= half_width:
                        atoms[block, m + half_width, 0] = _log_add(atoms[block, m + half_width, 0], log_w)
                        atoms[block, m + half_width, 1] = _log_add(atoms[block, m + half_width, 1],
                                                                   2.0 * log_w)
                    else:
                        outside[g] += 1
    return sums, atoms, outside.sum(), unreplayed.sum()
