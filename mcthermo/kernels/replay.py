"""Exact densities of quantum-jump records under several unravellings, and the weighted
accumulators of importance-sampled (tilted) runs of an open system.

A record of the jump kernel (``lindblad.trajectory``) is the initial outcome i, the jump times
t_1 < ... < t_n with their channels k_1 .. k_n, and the final outcome j.  Under an unravelling with
no-jump generator H_eff = H - (i/2) sum_k L_k^dag L_k (per piece) and jump operators L_k its
density is

    p(record) = p0(i) |<j| e^{-i H_eff (t - t_n)} L_{k_n} ... L_{k_1} e^{-i H_eff t_1} |i>|^2

(without the final measurement: the squared norm of the vector).  ``log_density`` REPLAYS a record
under any set of tables of the same system layout (same pieces, channel slots and measurement
bases) in the eigenbasis of each piece's H_eff = R diag(lambda) R^{-1}, as the kernel samples it:
between jumps the coefficients only turn, c_a <- c_a e^{-i lambda_a tau} (one diagonal phase
advance), a jump applies the kernel's own sparse J_k = R^{-1} L_k R, and a piece boundary the
precomputed d x d change of eigenbasis R_{n+1}^{-1} R_n.  The vector is renormalised after every
jump (any norm: the density is linear in the vector) with ln of the norm accumulated, so ln p
never underflows; no waiting-time equation is solved.  The ratio of two such densities is the
exact importance weight of a trajectory drawn from one unravelling for estimates under the other:
no exact answer enters it.

Where one eigenbasis component is occupied at a time (``Replays.classical``: Davies channels, a
measured start) the record is walked ONCE for all ensembles (``_path_log_densities``): the
component path is the same in every ensemble (labelled as in the plain one by the table builder),
so the walk only records the time spent in each (piece, component) and the steps taken, and each
ensemble's ln p is a sum of its own tabulated logs over them.

``weighted`` samples one ensemble (its own tables, the same kernel and draws as a plain run),
tallies its own plain accumulators (``lindblad.tally``: the same arrays as ``lindblad.accumulate``,
bit for bit) and, in the same pass, replays every trajectory under every ensemble of the run and
accumulates log-sums of the mixture weights w = p_plain / mean_e p_e per block of consecutive
trajectory indices (streaming log-sum-exps in index order, so results never depend on threads or
chunks).
"""
from typing import NamedTuple

import numba
import numpy as np

from ._jit import inline, kernel, parallel_kernel
from .lindblad import add_log, close_block, tallies, tally, trajectory, trajectory_inline, workspace
from .rng import stream_key


class Replays(NamedTuple):
    """The ensembles of a tilted run, stacked (E ensembles, P pieces, d levels, K channels per piece,
    C channel slots); ensemble 0 is the plain process."""

    eigenvalues: np.ndarray     # (E, P, d) complex: lambda of each ensemble's H_eff
    start: np.ndarray           # (E, d, d) complex: row i = R_0^{-1} |start state i> of each ensemble
    transfer: np.ndarray        # (E, P, d, d) complex: R_{n+1}^{-1} R_n (piece n to n + 1; last: R_n)
    jump_start: np.ndarray      # (E, P, K + 1) int: channel k of piece n of ensemble e is entries
                                # jump_start[e, n, k] .. jump_start[e, n, k + 1] - 1 of:
    jump_row: np.ndarray        # (F,) int: row and column of J_k = R^{-1} L_k R (the kernel's)
    jump_col: np.ndarray        # (F,) int
    jump_value: np.ndarray      # (F,) complex
    log_start: np.ndarray       # (E, d) float: ln p0(i) of each ensemble (-inf: never drawn)
    channel_of: np.ndarray      # (P, C) int: channel index in piece n of slot c (-1: absent)
    durations: np.ndarray       # (P,) float
    final_projector: np.ndarray  # (d, d) complex: amplitudes of the final measurement
    measure: bool
    log_initial: np.ndarray     # (d,) float: ln p0(i) of the plain process (its sigma)
    log_final: np.ndarray       # (d,) float: ln p~(j) of the plain process (its sigma)
    # the classical replay (``classical``): every start state, change of basis and jump maps one
    # eigenbasis component to one, and the component path of a record is the same in every ensemble
    # (components labelled as in the plain ensemble).  Steps s of a path (S = P C d + (P - 1) d + d d):
    # a jump of slot c in piece n from component a, s = (n C + c) d + a; the end of piece n < P - 1
    # in component a, s = P C d + n d + a; the final outcome j from component a,
    # s = P C d + (P - 1) d + j d + a (j = 0 without the final measurement)
    classical: bool
    path_start: np.ndarray      # (d,) int: the component of start state i
    path_next: np.ndarray       # (S,) int: the component after step s (-1: no ensemble takes step s)
    step_log: np.ndarray        # (E, S) float: ln |amplitude factor of step s|^2 in ensemble e (-inf: impossible there)
    start_log: np.ndarray       # (E, d) float: ln p0(i) + ln |component of start state i|^2
    no_jump_rate: np.ndarray    # (E, P d) float: 2 Im lambda of component a in piece n (entry n d + a):
                                # d ln |c_a|^2 / dt between jumps


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
def _close_logs(top, scaled, out):
    """out <- ln of the streaming sums (top, scaled) (-inf: empty), and (top, scaled) emptied."""
    for r in range(top.shape[0]):
        for k in range(top.shape[1]):
            out[r, k] = top[r, k] + np.log(scaled[r, k]) if scaled[r, k] > 0 else -np.inf
            top[r, k] = -np.inf
            scaled[r, k] = 0.0


@inline
def _turn(c, eigenvalues, tau):
    """c_a <- c_a e^{-i lambda_a tau}: the no-jump evolution in the eigenbasis."""
    for a in range(c.shape[0]):
        c[a] *= np.exp(-1j * eigenvalues[a] * tau)


@kernel
def log_density(replays, e, i, j, jump_times, jump_slots, jumps, c, scratch):
    """ln p(record) under ensemble ``e`` by the coherent replay (see the module docstring; valid for
    every system, the reference of the classical walk): start outcome ``i``, final
    outcome ``j`` (ignored without the final measurement), the first ``jumps`` entries of
    ``jump_times`` / ``jump_slots`` (channel slots); ``c``, ``scratch``: (d,) complex work space.
    -inf when the record is impossible there."""
    log_p = replays.log_start[e, i]
    if log_p == -np.inf:
        return -np.inf
    d = c.shape[0]
    for a in range(d):
        c[a] = replays.start[e, i, a]
    pieces = replays.durations.shape[0]
    q = 0
    t_start = 0.0
    for n in range(pieces):
        t_end = t_start + replays.durations[n]   # the kernel's piece boundaries, bit for bit
        origin = t_start
        eigenvalues = replays.eigenvalues[e, n]
        while q < jumps and (jump_times[q] <= t_end or n == pieces - 1):
            k = replays.channel_of[n, jump_slots[q]]
            if k < 0:
                return -np.inf
            _turn(c, eigenvalues, jump_times[q] - origin)
            scratch[:] = 0.0
            for f in range(replays.jump_start[e, n, k], replays.jump_start[e, n, k + 1]):
                scratch[replays.jump_row[f]] += replays.jump_value[f] * c[replays.jump_col[f]]
            norm2 = 0.0
            for a in range(d):
                norm2 += scratch[a].real ** 2 + scratch[a].imag ** 2
            if norm2 == 0.0:
                return -np.inf
            log_p += np.log(norm2)
            inverse = 1.0 / np.sqrt(norm2)
            for a in range(d):
                c[a] = scratch[a] * inverse
            origin = jump_times[q]
            q += 1
        _turn(c, eigenvalues, t_end - origin)
        # to the next piece's eigenbasis (after the last piece: psi = R v)
        for a in range(d):
            total = 0.0j
            for b in range(d):
                total += replays.transfer[e, n, a, b] * c[b]
            scratch[a] = total
        for a in range(d):
            c[a] = scratch[a]
        t_start = t_end
    if replays.measure:
        amplitude = 0.0j
        for a in range(d):
            amplitude += replays.final_projector[j, a] * c[a]
        final = amplitude.real ** 2 + amplitude.imag ** 2
    else:
        final = 0.0
        for a in range(d):
            final += c[a].real ** 2 + c[a].imag ** 2
    if final == 0.0:
        return -np.inf
    return log_p + np.log(final)


@inline
def _path_log_densities(replays, i, j, jump_times, jump_slots, jumps, densities, occupation, steps):
    """The classical replay (``Replays.classical``) of a record under every ensemble at once:
    ``densities[e]`` <- ln p_e(record).  One walk along the record's component path (the same in
    every ensemble) records the time spent in each (piece, component) (``occupation``, (P d,)) and
    the steps taken (``steps``, at least jumps + P entries); then, since the phase advance over tau
    multiplies |c_a|^2 by e^{2 Im(lambda_a) tau} and a step by |its entry|^2,
    ln p_e = start_log + sum no_jump_rate x occupation + sum of step_log over the steps, per ensemble:
    no exponential and no complex arithmetic.  False (and every density -inf) when no ensemble can
    produce the record."""
    d = replays.path_start.shape[0]
    pieces = replays.durations.shape[0]
    ends = pieces * replays.channel_of.shape[1] * d
    occupation[:] = 0.0
    a = replays.path_start[i]
    q = 0
    t_start = 0.0
    for n in range(pieces):
        t_end = t_start + replays.durations[n]   # the kernel's piece boundaries, bit for bit
        origin = t_start
        while q < jumps and (jump_times[q] <= t_end or n == pieces - 1):
            s = (n * replays.channel_of.shape[1] + jump_slots[q]) * d + a
            occupation[n * d + a] += jump_times[q] - origin
            steps[q] = s
            a = replays.path_next[s]
            if a < 0:
                densities[:] = -np.inf
                return False
            origin = jump_times[q]
            q += 1
        occupation[n * d + a] += t_end - origin
        s = ends + n * d + a
        if n == pieces - 1:
            s += (j if replays.measure else 0) * d   # the final outcome
        steps[jumps + n] = s
        if n < pieces - 1:
            a = replays.path_next[s]
            if a < 0:
                densities[:] = -np.inf
                return False
        t_start = t_end
    for e in range(densities.shape[0]):
        no_jump = 0.0     # two sums, added at the end (independent chains of additions)
        for m in range(pieces * d):
            no_jump += replays.no_jump_rate[e, m] * occupation[m]
        log_p = replays.start_log[e, i]
        for m in range(jumps + pieces):
            log_p += replays.step_log[e, steps[m]]
        densities[e] = log_p + no_jump
    return True


@inline
def replay_space(replays, buffer):
    """The work space of ``log_weight`` for records of up to ``buffer`` jumps (allocated once per
    thread group): densities (E,), occupation (P d,), steps (buffer + P,), and the coherent replay's
    two (d,) complex vectors."""
    d = replays.start.shape[1]
    pieces = replays.durations.shape[0]
    return (np.empty(replays.log_start.shape[0]), np.empty(pieces * d), np.empty(buffer + pieces, np.int64),
            np.empty(d, np.complex128), np.empty(d, np.complex128))


@inline
def log_weight(replays, i, j, jump_times, jump_slots, jumps, space):
    """ln w = ln p_0(record) - ln(sum_e p_e(record) / E): the mixture importance weight of a record
    for estimates under the plain process (ensemble 0) from all E ensembles (equal sizes); -inf
    when the plain process cannot produce the record (w = 0; the coherent replay then skips the
    others).  ``space``: ``replay_space``; after a finite return its first array holds ln p_e of
    every ensemble e."""
    densities, occupation, steps, c, scratch = space
    ensembles = densities.shape[0]
    if replays.classical:
        if not _path_log_densities(replays, i, j, jump_times, jump_slots, jumps, densities, occupation, steps):
            return -np.inf
    else:
        for e in range(ensembles):
            densities[e] = log_density(replays, e, i, j, jump_times, jump_slots, jumps, c, scratch)
            if densities[0] == -np.inf:
                return -np.inf
    plain = densities[0]
    if plain == -np.inf:
        return -np.inf
    mixture = plain
    for e in range(1, ensembles):
        mixture = _log_add(mixture, densities[e])
    return plain - (mixture - np.log(ensembles))


@kernel
def log_densities(replays, i, j, jump_times, jump_slots, jumps):
    """ln p_e(record) of every ensemble e (arguments as ``log_density``): the classical walk when
    ``replays.classical``, else the coherent replay of each ensemble."""
    densities, occupation, steps, c, scratch = replay_space(replays, jumps)
    if replays.classical:
        _path_log_densities(replays, i, j, jump_times, jump_slots, jumps, densities, occupation, steps)
    else:
        for e in range(densities.shape[0]):
            densities[e] = log_density(replays, e, i, j, jump_times, jump_slots, jumps, c, scratch)
    return densities


@parallel_kernel
def log_weights(tables, replays, seed, stream, first, count, buffer, own):
    """(count, 2): ln w (the mixture weight) and ln r = ln p_0 / p_own (the own importance weight of
    ensemble ``own``) of trajectories ``first .. first + count - 1`` drawn with kernel tables
    ``tables`` on RNG stream ``stream`` (the same draws as ``weighted``); NaN for a trajectory with
    more than ``buffer`` jumps (not replayed), -inf where the plain process cannot draw it."""
    key = stream_key(seed, stream)
    n_baths = tables.betas.shape[0]
    n_slots = int(tables.slot.max()) + 1 if tables.slot.size else 0
    out = np.full((count, 2), np.nan)
    for t in numba.prange(count):
        counts = np.zeros(n_slots, dtype=np.int64)
        times = np.zeros(buffer)
        slots = np.zeros(buffer, dtype=np.int64)
        moments = np.zeros((1, tables.times.shape[0], tables.observables.shape[1], 2))
        i, j, work, sigma = trajectory(tables, key, first + t, moments, 0, counts,
                                       np.zeros(tables.half_width.shape[0], dtype=np.int64), np.zeros(n_baths),
                                       times, slots, workspace(tables))
        jumps = counts.sum()
        if jumps <= buffer:
            space = replay_space(replays, buffer)
            out[t, 0] = log_weight(replays, i, j, times, slots, jumps, space)
            out[t, 1] = space[0][0] - space[0][own] if out[t, 0] > -np.inf else -np.inf
    return out


#: what the tilted observable X is, for ``weighted``: heat INTO the system of bath ``index``, the
#: jump count of slot ``index``, work, entropy production
HEAT, JUMPS, WORK, ENTROPY_PRODUCTION = 0, 1, 2, 3


@parallel_kernel
def weighted(tables, replays, seed, stream, first, count, block_size, groups, kind, index,
             unit, half_width, exponents, buffer, cell_bath, cell_unit, cell_half_width, own):
    """Trajectories ``first .. first + count - 1`` of one ensemble (kernel tables ``tables``, RNG
    stream ``stream``; ensemble ``own`` of ``replays``, 0 the plain one), tallied into the
    ensemble's own accumulators and replayed under every ensemble of ``replays``, in one pass.

    Returns (plain, weighted): ``plain`` the 8 outputs of ``lindblad.accumulate`` for the same
    arguments (moments, floats, joint, joint_overflow, count_histogram, count_overflow,
    exponential, violations; bit for bit); ``weighted`` (sums, atoms, cells, outside, unreplayed):
    with w = p_0 / (sum_e p_e / E) (the mixture weight, E ensembles of equal size) and, per row q,
    ln A_q = -exponents[q, 0] W - exponents[q, 1] sigma (sigma of the plain process),
    sums (blocks, Q, 5): ln sum w A_q, ln sum (w A_q)^2, ln sum w^2 A_q, and with the ensemble's
    own importance weight r = p_0 / p_own: ln sum r A_q, ln sum (r A_q)^2;
    atoms (blocks, 2 half_width + 1, 2): ln sum w and ln sum w^2 over the trajectories whose X lies
    on lattice atom m = round(X / unit) (index m + half_width; none when half_width < 0);
    cells (blocks, d d (2 cell_half_width + 1), 2): ln sum w and ln sum w^2 per cell (i, j, m) of
    the two-point outcomes and the heat lattice index m = round(Q / cell_unit) given to bath
    ``cell_bath`` (index (i d + j) (2 cell_half_width + 1) + m + cell_half_width; none when
    cell_half_width < 0: the work law of ``open_tilting``'s Crooks row);
    outside: trajectories with |m| > half_width or outside the cells; unreplayed: trajectories with
    more than ``buffer`` jumps (tallied, but in no weighted sum).
    """
    key = stream_key(seed, stream)
    blocks = (count + block_size - 1) // block_size
    rows = exponents.shape[0]
    n_baths = tables.betas.shape[0]
    n_slots = int(tables.slot.max()) + 1 if tables.slot.size else 0
    d = replays.start.shape[1]
    width = 2 * half_width + 1 if half_width >= 0 else 0
    lattice_width = 2 * cell_half_width + 1
    # the ensemble's own accumulators (as lindblad.accumulate)
    (moments, floats, joint, joint_overflow, histogram, overflow, violations,
     exponential) = tallies(tables, blocks, groups)
    # the weighted sums
    sums = np.full((blocks, rows, 5), -np.inf)
    atoms = np.full((blocks, width, 2), -np.inf)
    cells = np.full((blocks, d * d * lattice_width if cell_half_width >= 0 else 0, 2), -np.inf)
    outside = np.zeros(groups, dtype=np.int64)
    unreplayed = np.zeros(groups, dtype=np.int64)
    per_group = (blocks + groups - 1) // groups
    for g in numba.prange(groups):
        counts = np.zeros(n_slots, dtype=np.int64)
        lattice_index = np.zeros(tables.half_width.shape[0], dtype=np.int64)
        heat = np.zeros(n_baths)
        times = np.zeros(buffer)
        slots = np.zeros(buffer, dtype=np.int64)
        top = np.empty(tables.exponents.shape)
        scaled = np.empty(tables.exponents.shape)
        scratch_space = workspace(tables)
        space = replay_space(replays, buffer)
        # the block's weighted sums as streaming log-sum-exps (top, scaled)
        sums_top, sums_scaled = np.full((rows, 5), -np.inf), np.zeros((rows, 5))
        atoms_top, atoms_scaled = np.full(atoms.shape[1:], -np.inf), np.zeros(atoms.shape[1:])
        cells_top, cells_scaled = np.full(cells.shape[1:], -np.inf), np.zeros(cells.shape[1:])
        for block in range(g * per_group, min(blocks, (g + 1) * per_group)):
            top[:] = -np.inf
            scaled[:] = 0.0
            for t in range(block * block_size, min(count, (block + 1) * block_size)):
                i, j, work, sigma = trajectory_inline(tables, key, first + t, moments, block, counts,
                                                      lattice_index, heat, times, slots, scratch_space)
                tally(tables, g, block, i, j, work, sigma, counts, lattice_index, heat, floats,
                      joint, joint_overflow, histogram, overflow, violations, top, scaled)
                jumps = counts.sum()
                if jumps > buffer:
                    unreplayed[g] += 1
                    continue
                log_w = log_weight(replays, i, j, times, slots, jumps, space)
                if log_w == -np.inf:    # a record the plain process cannot produce: w = 0
                    continue
                log_r = space[0][0] - space[0][own]   # ln p_0 / p_own (log_weight's densities)
                if replays.measure:  # the plain process's sigma, whatever ensemble drew the path
                    sigma += (replays.log_initial[i] - tables.log_initial[i]
                              - replays.log_final[j] + tables.log_final[j])
                for q in range(rows):
                    log_a = -exponents[q, 0] * work - exponents[q, 1] * sigma
                    add_log(sums_top, sums_scaled, q, 0, log_w + log_a)
                    add_log(sums_top, sums_scaled, q, 1, 2.0 * (log_w + log_a))
                    add_log(sums_top, sums_scaled, q, 2, 2.0 * log_w + log_a)
                    add_log(sums_top, sums_scaled, q, 3, log_r + log_a)
                    add_log(sums_top, sums_scaled, q, 4, 2.0 * (log_r + log_a))
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
                        add_log(atoms_top, atoms_scaled, m + half_width, 0, log_w)
                        add_log(atoms_top, atoms_scaled, m + half_width, 1, 2.0 * log_w)
                    else:
                        outside[g] += 1
                if cell_half_width >= 0:
                    m = int(np.round(heat[cell_bath] / cell_unit))
                    if abs(m) <= cell_half_width:
                        cell = (i * d + j) * lattice_width + m + cell_half_width
                        add_log(cells_top, cells_scaled, cell, 0, log_w)
                        add_log(cells_top, cells_scaled, cell, 1, 2.0 * log_w)
                    else:
                        outside[g] += 1
            close_block(top, scaled, exponential, block)
            _close_logs(sums_top, sums_scaled, sums[block])
            _close_logs(atoms_top, atoms_scaled, atoms[block])
            _close_logs(cells_top, cells_scaled, cells[block])
    plain = (moments, floats, joint.sum(axis=0), joint_overflow.sum(), histogram.sum(axis=0),
             overflow.sum(axis=0), exponential, violations.sum())
    return plain, (sums, atoms, cells, outside.sum(), unreplayed.sum())
