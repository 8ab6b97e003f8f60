"""Quantum-jump trajectories of a two-level system in its Floquet frame, with exact waiting times.

The state is a pure vector (c+, c-) on the Floquet basis (interaction picture: no quasi-energy
phase).  Between jumps the effective Hamiltonian is diagonal,
H_eff = -(i/2)[a |+><+| + b |-><-|], a = gamma_- + gamma_z, b = gamma_+ + gamma_z, so the survival
S(t) = |c+|^2 e^{-a t} + |c-|^2 e^{-b t} is a two-exponential mixture: the next jump is drawn by
choosing branch + with probability |c+|^2 (else -) and waiting Exp(a) (else Exp(b)); the channel is
then drawn among that branch's channels with probability rate / (a or b).  This reproduces the
joint density gamma_c ||L_c psi(t)||^2 of (time, channel) exactly: no time grid, no ODE.

Channels (index c, see ``models/qubit.py``) carry an operator code (``OP_Z``: sigma~z flips the
sign of c-; ``OP_LOWER``: to |->; ``OP_RAISE``: to |+>) and integer increments (dL, dW, dZ) of the
three energy lattices: laser quanta (work omega_L dL), photon-bath Floquet quanta (heat W dW on top
of omega_L dL) and dephasing-bath quanta (heat W dZ).

Per trajectory the kernel returns the Floquet labels n0, nt (1 = +, 0 = -) of a projective
measurement at 0 and t_end (see ``_trajectory``), the lattice totals and the per-channel counts,
and adds the Floquet-frame Bloch components (s, x~, y~) and their products at the output times to
the row of the trajectory's block.  Floats are summed sequentially within a block of consecutive
trajectory indices; integers are summed in any order: results do not depend on threads or chunks.
"""
from collections import namedtuple

import numba
import numpy as np

from ._jit import inline, kernel, parallel_kernel
from .rng import exponential, trajectory_state, uniform

OP_Z, OP_LOWER, OP_RAISE = 0, 1, 2
#: floats per output time: s, x, y, s^2, x^2, y^2, s x, s y, x y (Floquet-frame Bloch components)
MOMENTS = 9

#: Everything the kernels need about one protocol (built by ``DrivenQubit.jump_tables``):
#: ``init_threshold``, ``init_vectors`` the unravelling of rho~(0) (eigenvalue of row 0, rows the
#: eigenvectors on (|+>, |->)); ``a``, ``b`` the escape rates of the + and - branches;
#: ``cum_plus``/``chan_plus`` and ``cum_minus``/``chan_minus`` the cumulative channel probabilities
#: of each branch and the channels they belong to; per channel ``ops`` (operator code) and the
#: lattice increments ``d_laser``, ``d_photon``, ``d_dephasing``; ``times`` the output times
#: (the last one is t_end).
JumpTables = namedtuple("JumpTables", "init_threshold init_vectors a b cum_plus chan_plus cum_minus "
                                      "chan_minus ops d_laser d_photon d_dephasing times")


@inline
def _decay(cp, cm, a, b, dt):
    """Normalised no-jump evolution over dt (relative damping only: no underflow for long dt)."""
    if a >= b:
        cp = cp * np.exp(-0.5 * (a - b) * dt)
    else:
        cm = cm * np.exp(-0.5 * (b - a) * dt)
    norm = np.sqrt(cp.real**2 + cp.imag**2 + cm.real**2 + cm.imag**2)
    return cp / norm, cm / norm


@inline
def _record(moments, row, j, cp, cm):
    """Add s = |c+|^2 - |c-|^2, x~ - i y~ = 2 c+ conj(c-) and their products at output time j."""
    s = cp.real**2 + cp.imag**2 - cm.real**2 - cm.imag**2
    coherence = cp * np.conj(cm)
    x = 2.0 * coherence.real
    y = -2.0 * coherence.imag
    m = moments[row, j]
    m[0] += s
    m[1] += x
    m[2] += y
    m[3] += s * s
    m[4] += x * x
    m[5] += y * y
    m[6] += s * x
    m[7] += s * y
    m[8] += x * y


@inline
def _pick(u, cumulative, channels):
    """The channel whose cumulative-probability bin contains u (last one on round-off)."""
    for k in range(cumulative.shape[0]):
        if u < cumulative[k]:
            return channels[k]
    return channels[cumulative.shape[0] - 1]


@inline
def _start(seed, stream, index, tables):
    """Generator state and the pure initial Floquet state (c+, c-) of one trajectory: the
    eigenvector of rho~(0) drawn with its eigenvalue as probability."""
    s0, s1, s2, s3 = trajectory_state(seed, stream, index)
    u, s0, s1, s2, s3 = uniform(s0, s1, s2, s3)
    k = 0 if u < tables.init_threshold else 1
    return tables.init_vectors[k, 0], tables.init_vectors[k, 1], s0, s1, s2, s3


@inline
def _jump(tables, plus, u, cp, cm):
    """Channel of a jump of branch + (``plus``) or -, chosen by the uniform ``u``, and the state
    after it."""
    if plus:
        c = _pick(u, tables.cum_plus, tables.chan_plus)
    else:
        c = _pick(u, tables.cum_minus, tables.chan_minus)
    cp, cm = _after_jump(tables.ops[c], cp, cm)
    return c, cp, cm


@inline
def _next_jump_time(cp, cm, a, b, t, s0, s1, s2, s3):
    """Exact waiting time: the survival |c+|^2 e^{-a t} + |c-|^2 e^{-b t} is a two-exponential
    mixture, so pick the branch (+ with probability |c+|^2), then an Exp(rate of that branch)."""
    u, s0, s1, s2, s3 = uniform(s0, s1, s2, s3)
    plus = u < cp.real**2 + cp.imag**2
    e, s0, s1, s2, s3 = exponential(s0, s1, s2, s3)
    rate = a if plus else b
    return plus, (t + e / rate if rate > 0.0 else np.inf), s0, s1, s2, s3


@inline
def _after_jump(op, cp, cm):
    """Floquet state after a jump: s~- -> |->, s~+ -> |+>, s~z flips the sign of c-."""
    if op == OP_LOWER:
        return 0.0j, 1.0 + 0.0j
    if op == OP_RAISE:
        return 1.0 + 0.0j, 0.0j
    return cp, -cm


@kernel
def _trajectory(seed, stream, index, tables, moments, row, channel_counts):
    """Sample one trajectory: returns (n0, nt, laser, photon, dephasing) lattice indices.

    ``channel_counts`` (zeroed here) receives the jumps per channel.  The Floquet measurement
    labels follow the classical jump process that the unravelling's jump record obeys (its
    distribution depends on rho~(0) only through the Floquet populations): with at least one
    sigma~+- jump, n0 is the source of the first one and nt the target of the last; without one,
    n0 = nt is drawn from |c+(t_end)|^2, the posterior of the + branch given the record.
    """
    cp, cm, s0, s1, s2, s3 = _start(seed, stream, index, tables)
    a, b, times = tables.a, tables.b, tables.times
    t_end = times[times.shape[0] - 1]
    channel_counts[:] = 0
    laser = 0
    photon = 0
    dephasing = 0
    n0 = -1
    nt = -1
    t = 0.0
    j = 0
    while True:
        plus, t_next, s0, s1, s2, s3 = _next_jump_time(cp, cm, a, b, t, s0, s1, s2, s3)
        while j < times.shape[0] and times[j] < t_next:
            xp, xm = _decay(cp, cm, a, b, times[j] - t)
            _record(moments, row, j, xp, xm)
            j += 1
        if t_next > t_end:
            break
        cp, cm = _decay(cp, cm, a, b, t_next - t)
        u, s0, s1, s2, s3 = uniform(s0, s1, s2, s3)
        c, cp, cm = _jump(tables, plus, u, cp, cm)
        channel_counts[c] += 1
        laser += tables.d_laser[c]
        photon += tables.d_photon[c]
        dephasing += tables.d_dephasing[c]
        op = tables.ops[c]
        if op != OP_Z:  # a Floquet transition: the measured labels follow it
            n0 = (1 if op == OP_LOWER else 0) if n0 < 0 else n0
            nt = 0 if op == OP_LOWER else 1
        t = t_next
    if n0 < 0:
        xp, xm = _decay(cp, cm, a, b, t_end - t)
        u, s0, s1, s2, s3 = uniform(s0, s1, s2, s3)
        n0 = 1 if u < xp.real**2 + xp.imag**2 else 0
        nt = n0
    return n0, nt, laser, photon, dephasing


@parallel_kernel
def jump_accumulate(seed, stream, first, count, block_size, groups, tables, half_width):
    """Accumulators of trajectories ``first .. first + count - 1`` (``tables``: ``JumpTables``).

    Returns (moments, counts, overflow, channel_sum, channel_square, first_law_violations):
    moments float64 (blocks, times, MOMENTS), one row per ``block_size`` consecutive indices, summed
    in index order; counts int64 (2, 2, 2H+1, 2H+1) over (n0, nt, laser + H, photon + H) with
    H = ``half_width`` (trajectories outside the lattice go to ``overflow``); per-channel sums of
    jump counts and of their squares; and the number of trajectories violating the integer first
    law n0 - nt = photon + dephasing (net sigma~- minus sigma~+ jumps).
    """
    blocks = (count + block_size - 1) // block_size
    width = 2 * half_width + 1
    n_channels = tables.ops.shape[0]
    moments = np.zeros((blocks, tables.times.shape[0], MOMENTS))
    counts = np.zeros((groups, 2, 2, width, width), dtype=np.int64)
    overflow = np.zeros(groups, dtype=np.int64)
    channel_sum = np.zeros((groups, n_channels), dtype=np.int64)
    channel_square = np.zeros((groups, n_channels), dtype=np.int64)
    violations = np.zeros(groups, dtype=np.int64)
    per_group = (blocks + groups - 1) // groups
    for g in numba.prange(groups):
        kc = np.zeros(n_channels, dtype=np.int64)
        for block in range(g * per_group, min(blocks, (g + 1) * per_group)):
            for i in range(block * block_size, min(count, (block + 1) * block_size)):
                n0, nt, laser, photon, dephasing = _trajectory(seed, stream, first + i, tables,
                                                               moments, block, kc)
                if abs(laser) <= half_width and abs(photon) <= half_width:
                    counts[g, n0, nt, laser + half_width, photon + half_width] += 1
                else:
                    overflow[g] += 1
                if n0 - nt != photon + dephasing:
                    violations[g] += 1
                for c in range(n_channels):
                    channel_sum[g, c] += kc[c]
                    channel_square[g, c] += kc[c] * kc[c]
    return (moments, counts.sum(axis=0), overflow.sum(), channel_sum.sum(axis=0),
            channel_square.sum(axis=0), violations.sum())


@parallel_kernel
def jump_samples(seed, stream, first, count, tables):
    """Per-trajectory rows: n0, nt, lattice indices (laser, photon, dephasing) and channel counts."""
    labels = np.empty((count, 2), dtype=np.int8)
    lattice = np.empty((count, 3), dtype=np.int64)
    channel_counts = np.empty((count, tables.ops.shape[0]), dtype=np.int64)
    for i in numba.prange(count):
        scratch = np.zeros((1, tables.times.shape[0], MOMENTS))
        n0, nt, laser, photon, dephasing = _trajectory(seed, stream, first + i, tables, scratch, 0,
                                                       channel_counts[i])
        labels[i, 0] = n0
        labels[i, 1] = nt
        lattice[i, 0] = laser
        lattice[i, 1] = photon
        lattice[i, 2] = dephasing
    return labels, lattice, channel_counts


@kernel
def jump_record(seed, stream, index, tables):
    """Jump times and channels of one trajectory (for plots of single paths): same draws as
    ``_trajectory``, so the record matches the trajectory ``index`` of a run."""
    cp, cm, s0, s1, s2, s3 = _start(seed, stream, index, tables)
    a, b = tables.a, tables.b
    t_end = tables.times[tables.times.shape[0] - 1]
    jump_times = []
    jump_channels = []
    t = 0.0
    while True:
        plus, t_next, s0, s1, s2, s3 = _next_jump_time(cp, cm, a, b, t, s0, s1, s2, s3)
        if t_next > t_end:
            break
        cp, cm = _decay(cp, cm, a, b, t_next - t)
        u, s0, s1, s2, s3 = uniform(s0, s1, s2, s3)
        c, cp, cm = _jump(tables, plus, u, cp, cm)
        jump_times.append(t_next)
        jump_channels.append(c)
        t = t_next
    return np.array(jump_times, dtype=np.float64), np.array(jump_channels, dtype=np.int64)
