"""Quantum-jump trajectories of a user-defined open system with exact waiting times (docs/observables.md, Open systems).

Per piece n the effective Hamiltonian H_eff = H_n - (i/2) sum_k L_k^dag L_k is diagonalised once,
H_eff = R diag(lambda) R^{-1} (``LindbladTables``).  Between jumps the unnormalised state is
psi(tau) = R v(tau), v_a = c_a e^{-i lambda_a tau}, c = R^{-1} psi(0), so the survival
S(tau) = ||psi(tau)||^2 = v^dag (R^dag R) v and its exact derivative
S'(tau) = -<psi|sum_k L_k^dag L_k|psi> = -v^dag (R^dag Gamma R) v cost O(d^2) each, with no time grid.
Every such Hermitian form v^dag M v is a real dot product of the packed form of M (``forms``) with
the d^2 real bilinears of v (|v_a|^2, Re and Im of conj(v_a) v_b for a < b), computed once per
time and shared by the survival, its derivative and the observables.
The next jump is at the root of S(tau) = u (u uniform on (0, 1)), bracketed by the first output
time (or piece end) where S <= u and found by Newton's method on ln S (started from the quadratic
through the bracket's ends with the exact slope at its low end; on S itself near the root), with a
bisection safeguard, to 1e-13 relative (or to round-off, when u is so close to 1 that tau is tiny;
``waiting_time``).  The unnormalised vector is carried across piece boundaries, so a survival that
stays above u (a dark state) never jumps.  At a jump the channel is drawn with probability
||L_k psi||^2 / sum_j ||L_j psi||^2 and
psi <- L_k psi / ||L_k psi||, all in the eigenbasis: with J_k = R^{-1} L_k R (sparse: Davies
channels have one entry per Bohr pair), ||L_k psi||^2 = v^dag (J_k^dag R^dag R J_k) v (a sparse
packed form) and the next stretch starts from c = J_k v / ||L_k psi||; psi = R v itself is formed
only at the end of a piece.
Mixture pieces (``mixture``, decided by the table builder): when R^dag R is diagonal (H_eff is
normal, [H, sum_k L_k^dag L_k] = 0: e.g. Davies channels, a Floquet-frame system), the survival
is a mixture of exponentials, S(tau) = sum_a g_a |c_a|^2 e^{-Gamma_a tau} with g_a = (R^dag R)_aa
and Gamma_a = -2 Im lambda_a >= 0, so the waiting time is drawn exactly with no root finding:
branch a with probability g_a |c_a|^2 / S(0), then tau ~ Exp(Gamma_a) (never a jump from a
branch with Gamma_a = 0).  P(tau > t) = sum_a (g_a |c_a|^2 / S(0)) e^{-Gamma_a t} = S(t) / S(0)
is the exact no-jump probability; the output times before tau are recorded, the channel and the
post-jump state are drawn from v(tau) as on the root-finding path (the joint density of
(tau, channel) is ||L_k psi(tau)||^2 either way).  A stretch that reaches the piece end without a
jump carries the normalised state into the next piece, where fresh draws start (the process is
Markov in the normalised state: conditioning on no jump so far is exact) -- unless the next piece
has the same H_eff (one piece split in several, as the tilted proposals' plain ensemble is): then
the waiting time drawn goes on, and a split system draws the trajectories of the unsplit one.
At the output times no exponential is evaluated: v(t_j) = w e^{-i lambda (t_j - a_j)} with
w = c e^{-i lambda (a_j - t0)} and the second factor precomputed per output time (``time_phases``)
from an anchor a_j <= t_j shared by a run of output times; w is recomputed once per stretch and
anchor (anchors are spaced so that no factor exceeds e^{+-300}).  In a mixture piece a jump at t
takes v(t) = w f with f = e^{-i lambda (t - a)} and re-anchors the new state as w' = c' / f (one
exponential per level a jump, not two; ``REANCHOR_DECAY`` bounds |1/f|).

Per trajectory: the initial and final measurement outcomes i, j (energy eigenbases; without the
energy measurement i is the eigenvector of rho0 that starts the trajectory and j = 0), the jump
count of every channel name, the heat of every bath, the integer index m_x of every histogram
lattice axis x (each jump of channel k adds step[k, x]: e.g. a bath's heat in lattice units), the
work W = E_j - E_i + sum of jump energies given to the baths (first law, G0) and
sigma = ln p0(i) - ln p~(j) + sum_b beta_b (heat given to b).  Where the tables declare an integer
first law (``balance`` not all 0), a trajectory with
level_quanta[j] - level_quanta[i] + sum_x balance[x] m_x != 0 is counted as a violation.

Retrodiction (``retrodict``): when every piece's H_eff is diagonal in the measurement basis and no
basis state is reached by a jump from two basis states, the unravelling is a classical chain on
the basis states: a trajectory started from an eigenvector psi of rho0 WITHOUT the initial
measurement is a superposition of basis components that never interfere, each carrying the
initial label it descends from (a jump with entries (row, col) hands component col's label to
row).  The final label j is drawn from |<j|psi(t)>|^2 as with the measurement and i is the label
component j descends from: (i, j, record) then has exactly the law of a measured start, while the
expectation values see the unmeasured coherent evolution of rho0.

Floats are summed per block of consecutive trajectory indices in index order (exponential sums
ln sum e^{-s x} as a streaming log-sum-exp in index order); integer histograms merge by addition:
results never depend on threads or chunks (``tally`` adds one trajectory).
"""
from typing import NamedTuple

import numba
import numpy as np

from ._jit import inline, kernel, parallel_kernel
from .rng import UNIT53, stream_key, keyed_state, uniform53

#: relative root tolerance of the waiting-time equation S(tau) = u
ROOT_TOLERANCE = 1e-13
#: Newton steps on S - u instead of ln S - ln u once |S - u| <= RELATIVE_NEAR u (no logarithm)
RELATIVE_NEAR = 1e-3
#: an iterate with every |lambda_a (tau - previous tau)| <= TAYLOR_LIMIT is advanced from the
#: previous one by a degree-6 Taylor polynomial (remainder (1e-2)^7 / 7! < 2e-18 relative) ...
TAYLOR_LIMIT = 1e-2
#: ... unless even the largest |lambda_a (tau - previous tau)| is below TAYLOR_FLOOR: a step of
#: round-off size, which the polynomial would round to exactly 1 (S would not move and the bracket
#: would not close); fresh exponentials scatter its rounding instead
TAYLOR_FLOOR = 1e-12
#: independent partial sums of a packed form's dot product (a fixed order: the same bits on any
#: thread; wide enough for the compiler to use vector registers)
LANES = 8
#: largest decay exponent -Im(lambda) (t - anchor) of the factor that re-anchors the state after a
#: jump of a mixture piece (its inverse multiplies the new state: no overflow)
REANCHOR_DECAY = 300.0
#: rows of ``LindbladTables.forms``: the survival form and its (minus) derivative
GRAM, LOSS = 0, 1


class LindbladTables(NamedTuple):
    """Flat arrays of one system (see ``mcthermo.systems.open_sampling.kernel_tables``).

    Shapes: P pieces, d levels, K channels per piece (padded), B baths, X histogram lattice axes,
    T output times, A observables."""

    durations: np.ndarray        # (P,) float
    eigenvalues: np.ndarray      # (P, d) complex: lambda of H_eff
    right: np.ndarray            # (P, d, d) complex: R
    left: np.ndarray             # (P, d, d) complex: R^{-1}
    n_channels: np.ndarray       # (P,) int
    jump_start: np.ndarray       # (P, K + 1) int: channel k of piece n is entries
                                 # jump_start[n, k] .. jump_start[n, k + 1] - 1 of:
    jump_row: np.ndarray         # (E,) int: row and column of J_k = R^{-1} L_k R
    jump_col: np.ndarray         # (E,) int
    jump_value: np.ndarray       # (E,) complex
    rate_start: np.ndarray       # (P, K + 1) int: channel k's entries of:
    rate_index: np.ndarray       # (F,) int: nonzero entries of the packed form of J_k^dag R^dag R J_k
    rate_value: np.ndarray       # (F,) float
    slot: np.ndarray             # (P, K) int: counter (channel name) index
    bath_of: np.ndarray          # (P, K) int
    step: np.ndarray             # (P, K, X) int: increment of lattice axis x per jump
    heat_given: np.ndarray       # (P, K) float: omega - mu nu
    energy_given: np.ndarray     # (P, K) float: omega
    initial_cumulative: np.ndarray  # (d,) float
    initial_vectors: np.ndarray  # (d, d) complex, rows
    final_projector: np.ndarray  # (d, d) complex: V_f^dag (amplitudes of the final measurement)
    initial_energy: np.ndarray   # (d,) float
    final_energy: np.ndarray     # (d,) float
    log_initial: np.ndarray      # (d,) float: ln p0(i)
    log_final: np.ndarray        # (d,) float: ln p~(j)
    betas: np.ndarray            # (B,) float
    measure: bool
    times: np.ndarray            # (T,) float
    observables: np.ndarray      # (M, A, d, d) complex: R^dag A R (per piece, or per output time)
    observable_forms: np.ndarray # (M, A, n) float: their packed forms (n as for ``forms``)
    jump_ops: np.ndarray         # (P, K, d, d) complex: L_k as given (record replays; the kernel
                                 # reads the sparse eigenbasis entries below)
    forms: np.ndarray            # (P, 2, n) float: packed forms of R^dag R (gram) and of
                                 # R^dag (sum L^dag L) R (loss) (n = d^2 rounded up to a multiple
                                 # of LANES, zero padded; 4 when d = 2)
    time_phases: np.ndarray      # (T, d) complex: e^{-i lambda (t_j - a_j)} of piece time_piece[j]
    time_anchor: np.ndarray      # (T,) float: the anchor a_j <= t_j of output time j
    time_piece: np.ndarray       # (T,) int: the piece during which output time j is recorded
    strides: np.ndarray          # (2 + X,) int: joint-histogram index strides of (i, j, m_x); an
                                 # axis of stride 0 is tracked but not histogrammed
    half_width: np.ndarray       # (X,) int: lattice index offset (histogrammed: |m_x| <= half_width)
    cells: int                   # joint histogram size
    max_count: int               # jump-count histogram length - 1
    observable_row: np.ndarray   # (T,) int: the row of ``observables`` used at each output time
    exponents: np.ndarray        # (C + B + 2, S) float: s values of ln sum e^{-s x} per observable
                                 # (jump counts, heat into the system per bath, W, sigma); NaN: unused
    level_quanta: np.ndarray     # (d,) int: energy of each measured level in quanta (first law)
    balance: np.ndarray          # (X,) int: quanta per unit of axis x (all 0: no first-law check)
    retrodict: bool              # unmeasured start, measured labels read off retrodictively
    initial_label: np.ndarray    # (d,) int: initial-measurement label of each basis component
                                 # (retrodict only)
    mixture: np.ndarray          # (P,) bool: survival of piece n is a mixture of exponentials


@inline
def _advance(coefficients, eigenvalues, tau, v):
    for a in range(v.shape[0]):
        v[a] = coefficients[a] * np.exp(-1j * eigenvalues[a] * tau)


@inline
def _bilinears(v, r):
    """r <- |v_a|^2 (a < d), then Re and Im of conj(v_a) v_b (a < b), the layout of packed forms."""
    d = v.shape[0]
    for a in range(d):
        r[a] = v[a].real * v[a].real + v[a].imag * v[a].imag
    m = d
    for a in range(d):
        re, im = v[a].real, -v[a].imag
        for b in range(a + 1, d):
            r[m] = re * v[b].real - im * v[b].imag
            r[m + 1] = re * v[b].imag + im * v[b].real
            m += 2


@inline
def _form(forms, row, r, partial):
    """v^dag M v from the packed form ``forms[row]`` of M and the bilinears r of v: LANES partial
    sums, or the four terms of a two-level form (indexed in place: no array view per call)."""
    if r.shape[0] == 4:
        return ((forms[row, 0] * r[0] + forms[row, 1] * r[1]) +
                (forms[row, 2] * r[2] + forms[row, 3] * r[3]))
    for lane in range(LANES):
        partial[lane] = forms[row, lane] * r[lane]
    for start in range(LANES, r.shape[0], LANES):
        for lane in range(LANES):
            partial[lane] += forms[row, start + lane] * r[start + lane]
    return ((partial[0] + partial[1]) + (partial[2] + partial[3])) + \
        ((partial[4] + partial[5]) + (partial[6] + partial[7]))


@inline
def _matvec(matrix, x, out):
    for a in range(out.shape[0]):
        total = 0.0j
        for b in range(x.shape[0]):
            total += matrix[a, b] * x[b]
        out[a] = total


@inline
def _survival(coefficients, eigenvalues, forms, tau, v, r, partial):
    """S(tau) = ||R v(tau)||^2, leaving v(tau) in ``v`` and its bilinears in ``r``."""
    _advance(coefficients, eigenvalues, tau, v)
    _bilinears(v, r)
    return _form(forms, GRAM, r, partial)


@inline
def _small_step(eigenvalues, delta):
    """Whether TAYLOR_FLOOR <= max_a |lambda_a delta| <= TAYLOR_LIMIT: e^{-i lambda delta} then
    from ``_rotation``.  False when delta is NaN (no previous evaluation)."""
    largest = 0.0
    for a in range(eigenvalues.shape[0]):
        modulus = eigenvalues[a].real ** 2 + eigenvalues[a].imag ** 2
        largest = max(largest, modulus * (delta * delta))
    return TAYLOR_FLOOR * TAYLOR_FLOOR <= largest <= TAYLOR_LIMIT * TAYLOR_LIMIT


@inline
def _rotation(eigenvalue, delta):
    """e^{-i lambda delta} for |lambda delta| <= TAYLOR_LIMIT: its Taylor polynomial of degree 6
    (remainder below 2e-18 relative), multiplications only."""
    z = -1j * eigenvalue * delta
    return 1.0 + z * (1.0 + z * (0.5 + z * (1.0 / 6.0 + z * (1.0 / 24.0 + z * (
        1.0 / 120.0 + z * (1.0 / 720.0))))))


@kernel
def waiting_time(coefficients, eigenvalues, forms, u, low, survival_low, slope_low, high,
                 survival_high, v, r, partial):
    """The tau in (low, high] with S(tau) = u, given S(low) > u >= S(high) (S never increases):
    Newton's method, kept inside the shrinking bracket by bisection, until the Newton step (or the
    bracket) is below ROOT_TOLERANCE relative.  The first guess is the root of the quadratic in
    ln S through (low, ln S(low)) with slope ``slope_low`` = d ln S / d tau there and through
    (high, ln S(high)) when it lies in the bracket, else (slope NaN: unknown) the log-linear
    interpolation of the bracket.  Newton works on ln S - ln u far from the root and on S - u
    within RELATIVE_NEAR of it (the same root, no logarithm); an iterate within
    TAYLOR_LIMIT / |lambda| of the previous one (but not a round-off step: ``_small_step``) is
    advanced from it, v(tau) = v(previous) e^{-i lambda (tau - previous)}, by the Taylor
    polynomial (``_rotation``) instead of d complex exponentials.  When u is within ~1e-3 of
    S(low) the attainable relative accuracy of tau is round-off / (tau |d ln S / d tau|), coarser
    than ROOT_TOLERANCE; S(tau) = u then holds to a few ulp.  Returns the last tau evaluated, with
    v(tau) in ``v`` and its bilinears in ``r`` (``forms``: one piece's packed forms; ``partial``:
    scratch)."""
    log_u = np.log(u)
    log_low = np.log(survival_low)
    width = high - low
    drop = log_low - np.log(survival_high)
    tau = low + width * (log_low - log_u) / drop
    # ln S(low + x) ~ log_low + slope_low x + curvature x^2 through both ends of the bracket
    curvature = (slope_low * width + drop) / (width * width)
    discriminant = slope_low * slope_low - 4.0 * curvature * (log_low - log_u)
    if slope_low < 0.0 and discriminant >= 0.0 and drop < np.inf:
        offset = 2.0 * (log_low - log_u) / (-slope_low + np.sqrt(discriminant))
        if 0.0 < offset < width:
            tau = low + offset
    two_level = v.shape[0] == 2
    previous = np.nan               # the tau of the last evaluation (v(previous) in v0, v1 or v)
    v0 = v1 = 0.0j
    r0 = r1 = x = y = 0.0
    for _ in range(200):
        near = _small_step(eigenvalues, tau - previous)
        if two_level:   # in registers; v(tau) and its bilinears are stored once, at the root
            if near:
                v0 = v0 * _rotation(eigenvalues[0], tau - previous)
                v1 = v1 * _rotation(eigenvalues[1], tau - previous)
            else:
                v0 = coefficients[0] * np.exp(-1j * eigenvalues[0] * tau)
                v1 = coefficients[1] * np.exp(-1j * eigenvalues[1] * tau)
            r0 = v0.real * v0.real + v0.imag * v0.imag
            r1 = v1.real * v1.real + v1.imag * v1.imag
            x = v0.real * v1.real + v0.imag * v1.imag
            y = v0.real * v1.imag - v0.imag * v1.real
            survival = ((forms[GRAM, 0] * r0 + forms[GRAM, 1] * r1) +
                        (forms[GRAM, 2] * x + forms[GRAM, 3] * y))
            rate = ((forms[LOSS, 0] * r0 + forms[LOSS, 1] * r1) +
                    (forms[LOSS, 2] * x + forms[LOSS, 3] * y))
        else:
            if near:
                for a in range(v.shape[0]):
                    v[a] *= _rotation(eigenvalues[a], tau - previous)
            else:
                _advance(coefficients, eigenvalues, tau, v)
            _bilinears(v, r)
            survival = _form(forms, GRAM, r, partial)
            rate = _form(forms, LOSS, r, partial)
        previous = tau
        if survival > u:
            low = tau
        else:
            high = tau
        if not (rate > 0 and survival > 0):
            step = np.inf
        elif abs(survival - u) <= RELATIVE_NEAR * u:
            step = (survival - u) / rate
        else:
            step = (np.log(survival) - log_u) * survival / rate
        if abs(step) <= ROOT_TOLERANCE * tau or high - low <= ROOT_TOLERANCE * high:
            break
        tau = tau + step
        if not (low < tau < high):
            tau = 0.5 * (low + high)
    if two_level:
        v[0], v[1] = v0, v1
        r[0], r[1], r[2], r[3] = r0, r1, x, y
    return previous


@inline
def _record(observable_forms, observable_row, r, partial, norm, moments, row, index):
    """Add <psi|A|psi>/<psi|psi> and its square for every observable at output time ``index``,
    with psi = R v: v^dag (R^dag A R) v / v^dag (R^dag R) v from the packed forms (A at that
    time's row), the bilinears r of v and the norm v^dag (R^dag R) v."""
    forms = observable_forms[observable_row[index]]
    inverse = 1.0 / norm
    for k in range(forms.shape[0]):
        value = _form(forms, k, r, partial) * inverse
        moments[row, index, k, 0] += value
        moments[row, index, k, 1] += value * value


@inline
def _output(observable_forms, observable_row, forms, diagonal, anchored, phases, index, v, r,
            partial, moments, row, u):
    """The survival S = ||psi(t_j)||^2 at output time j = ``index`` from v(t_j) = anchored x
    phases[j] and, when S > u (no jump yet), the expectation values recorded there (``_record``);
    returns S.  ``diagonal``: R^dag R is diagonal (a mixture piece: S from d terms, not d^2).
    Two levels are done in registers (v, r untouched): the general path's stores to v and r, which
    the compiler cannot keep apart from ``moments``, cost as much again."""
    if v.shape[0] == 2:
        v0 = anchored[0] * phases[index, 0]
        v1 = anchored[1] * phases[index, 1]
        r0 = v0.real * v0.real + v0.imag * v0.imag
        r1 = v1.real * v1.real + v1.imag * v1.imag
        x = v0.real * v1.real + v0.imag * v1.imag       # Re and Im of conj(v_0) v_1
        y = v0.real * v1.imag - v0.imag * v1.real
        survival = ((forms[GRAM, 0] * r0 + forms[GRAM, 1] * r1) +
                    (forms[GRAM, 2] * x + forms[GRAM, 3] * y))
        if survival > u:
            which = observable_row[index]
            inverse = 1.0 / survival
            for k in range(observable_forms.shape[1]):
                value = ((observable_forms[which, k, 0] * r0 + observable_forms[which, k, 1] * r1) +
                         (observable_forms[which, k, 2] * x + observable_forms[which, k, 3] * y))
                value *= inverse        # (indexed in place: a view would take a reference)
                moments[row, index, k, 0] += value
                moments[row, index, k, 1] += value * value
        return survival
    for a in range(v.shape[0]):
        v[a] = anchored[a] * phases[index, a]
    _bilinears(v, r)
    if diagonal:
        survival = 0.0
        for a in range(v.shape[0]):
            survival += forms[GRAM, a] * r[a]
    else:
        survival = _form(forms, GRAM, r, partial)
    if survival > u:
        _record(observable_forms, observable_row, r, partial, survival, moments, row, index)
    return survival


@inline
def _jump_weight(tables, piece, k, r):
    """||L_k psi||^2 >= 0 from the sparse packed form of channel k and the bilinears r of v."""
    weight = 0.0
    for q in range(tables.rate_start[piece, k], tables.rate_start[piece, k + 1]):
        weight += tables.rate_value[q] * r[tables.rate_index[q]]
    return max(weight, 0.0)


@inline
def _draw(cumulative, u):
    for k in range(cumulative.shape[0]):
        if u < cumulative[k]:
            return k
    return cumulative.shape[0] - 1


@inline
def _same_generator(tables, n):
    """Whether pieces n and n + 1 have the same H_eff eigen-decomposition (one piece split in
    two): a waiting time drawn in n is then the one of n + 1 as well."""
    for a in range(tables.eigenvalues.shape[1]):
        if tables.eigenvalues[n, a] != tables.eigenvalues[n + 1, a]:
            return False
        for b in range(tables.eigenvalues.shape[1]):
            if tables.right[n, a, b] != tables.right[n + 1, a, b]:
                return False
    return True


@inline
def workspace(tables):
    """The scratch arrays of ``trajectory`` (allocated once per thread group, not per trajectory):
    complex (d,) psi, c, v, anchored, scratch; int (d,) source, previous; channel weights (K,);
    bilinears (2, n) (zero padded: the padding is never written); partial (LANES,).  Separate
    arrays, not rows of one: the compiler may then assume they do not alias (0.2 us a trajectory)."""
    d = tables.initial_vectors.shape[0]
    return (np.empty(d, dtype=np.complex128), np.empty(d, dtype=np.complex128),
            np.empty(d, dtype=np.complex128), np.empty(d, dtype=np.complex128),
            np.empty(d, dtype=np.complex128), np.empty(d, dtype=np.int64), np.empty(d, dtype=np.int64),
            np.empty(tables.slot.shape[1]), np.zeros((2, tables.forms.shape[2])), np.empty(LANES))


@kernel
def trajectory(tables, key, index, moments, row, counts, lattice_index, heat, jump_times,
               jump_channels, scratch_space):
    """One trajectory: fills ``counts`` (per channel name), ``lattice_index`` (per lattice axis)
    and ``heat`` (heat given to each bath), records expectation values into ``moments[row]`` and
    the first len(jump_times) jump times and counter indices; returns (i, j, W, sigma).
    ``scratch_space``: ``workspace(tables)``, allocated once per caller and thread group."""
    return trajectory_inline(tables, key, index, moments, row, counts, lattice_index, heat,
                             jump_times, jump_channels, scratch_space)


@inline
def trajectory_inline(tables, key, index, moments, row, counts, lattice_index, heat, jump_times,
                      jump_channels, scratch_space):
    """``trajectory`` inlined into its caller: ``accumulate`` calls this one (a call passing the
    tables' ~45 arrays costs ~0.3 us a trajectory, half of its fixed cost)."""
    s0, s1, s2, s3 = keyed_state(key, index)
    d = tables.initial_vectors.shape[0]
    counts[:] = 0
    lattice_index[:] = 0
    heat[:] = 0.0
    work = 0.0
    jumps = 0
    # source: retrodiction, the initial label each basis component descends from (jumps permute them)
    (psi, coefficients, v, anchored, scratch, source, previous, weights, bilinears,
     partial) = scratch_space
    r, r_low = bilinears[0], bilinears[1]     # r_low: the bilinears at the bracket's low end
    k53, s0, s1, s2, s3 = uniform53(s0, s1, s2, s3)
    i = _draw(tables.initial_cumulative, k53 * UNIT53)
    psi[:] = tables.initial_vectors[i]
    source[:] = tables.initial_label
    k53, s0, s1, s2, s3 = uniform53(s0, s1, s2, s3)
    u = (k53 + 0.5) * UNIT53
    survival_start = 1.0            # ||psi||^2 where the stretch starts
    stale = False                   # after a mixture piece: u does not belong to the carried psi
    pending = False                 # a mixture waiting time carried into a piece of the same H_eff
    jump_at = 0.0
    t_start = 0.0
    j_out = 0
    n_times = tables.times.shape[0]
    times, anchors, phases = tables.times, tables.time_anchor, tables.time_phases
    # read once per trajectory: a table field read inside the output-time loop takes a reference
    # (an atomic increment and decrement, which also stalls the stores around it: 15 % of the time)
    time_piece, observable_forms, observable_row = (tables.time_piece, tables.observable_forms,
                                                    tables.observable_row)
    pieces = tables.durations.shape[0]
    for n in range(pieces):
        t_end = t_start + tables.durations[n]
        origin = t_start
        _matvec(tables.left[n], psi, coefficients)
        forms, eigenvalues = tables.forms[n], tables.eigenvalues[n]
        mixture = tables.mixture[n]
        if stale and not mixture:   # a fresh threshold for the normalised state carried in
            k53, s0, s1, s2, s3 = uniform53(s0, s1, s2, s3)
            u = (k53 + 0.5) * UNIT53
            survival_start = 1.0
            stale = False
        anchor = np.nan             # anchored holds c e^{-i lambda (anchor - origin)}
        reanchor = False            # a mixture jump re-anchors the state (below)
        while True:
            if mixture:
                # S(tau) = sum_a g_a |c_a|^2 e^{-Gamma_a tau}: branch a with probability
                # g_a |c_a|^2 / S(0), then an Exp(Gamma_a) waiting time
                if pending:         # the draw of the previous piece, the same H_eff, goes on
                    tau = jump_at - origin
                    pending = False
                else:
                    total = 0.0
                    for a in range(d):
                        total += forms[GRAM, a] * (coefficients[a].real ** 2 + coefficients[a].imag ** 2)
                    k53, s0, s1, s2, s3 = uniform53(s0, s1, s2, s3)
                    threshold = k53 * UNIT53 * total
                    branch = d - 1
                    running = 0.0
                    for a in range(d):
                        running += forms[GRAM, a] * (coefficients[a].real ** 2 + coefficients[a].imag ** 2)
                        if threshold < running:
                            branch = a
                            break
                    k53, s0, s1, s2, s3 = uniform53(s0, s1, s2, s3)
                    decay = -2.0 * eigenvalues[branch].imag
                    tau = -np.log((k53 + 0.5) * UNIT53) / decay if decay > 0 else np.inf
                jump = tau < t_end - origin
                while j_out < n_times and time_piece[j_out] == n and (
                        not jump or times[j_out] - origin < tau):
                    if anchors[j_out] != anchor:
                        anchor = anchors[j_out]
                        _advance(coefficients, eigenvalues, anchor - origin, anchored)
                    _output(observable_forms, observable_row, forms, True, anchored, phases, j_out, v,
                            r, partial, moments,
                            row, -np.inf)
                    j_out += 1
                if not jump:
                    survival = _survival(coefficients, eigenvalues, forms, t_end - origin, v, r, partial)
                    _matvec(tables.right[n], v, psi)
                    if n + 1 < pieces and tables.mixture[n + 1] and _same_generator(tables, n):
                        pending = True      # a split piece: the waiting time drawn here goes on
                        jump_at = origin + tau
                    else:                   # carry the normalised state; fresh draws from here
                        scale = 1.0 / np.sqrt(survival)
                        for a in range(d):
                            psi[a] *= scale
                        stale = True
                    break
                # v(tau) from the anchored vector when there is one: the factors
                # e^{-i lambda (origin + tau - anchor)} then also re-anchor the state after the jump
                # (anchored <- c_new / factor), d exponentials a jump instead of 2 d
                reanchor = anchor == anchor
                if reanchor:
                    offset = origin + tau - anchor
                    for a in range(d):
                        reanchor = reanchor and -eigenvalues[a].imag * offset <= REANCHOR_DECAY
                if reanchor:
                    for a in range(d):
                        scratch[a] = np.exp(-1j * eigenvalues[a] * offset)
                        v[a] = anchored[a] * scratch[a]
                else:
                    _advance(coefficients, eigenvalues, tau, v)
                _bilinears(v, r)
            else:
                # the output times of this stretch while the survival stays above u; the first
                # one where it does not (or else the end of the piece) brackets the jump
                low, survival_low, high, survival_high = 0.0, survival_start, np.inf, 0.0
                while j_out < n_times and time_piece[j_out] == n:
                    tau = times[j_out] - origin
                    if anchors[j_out] != anchor:
                        anchor = anchors[j_out]
                        _advance(coefficients, eigenvalues, anchor - origin, anchored)
                    survival = _output(observable_forms, observable_row, forms, False, anchored,
                                       phases, j_out, v, r, partial,
                                       moments, row, u)
                    if survival <= u:
                        high, survival_high = tau, survival
                        break
                    low, survival_low = tau, survival
                    j_out += 1
                if high == np.inf:
                    survival = _survival(coefficients, eigenvalues, forms, t_end - origin, v, r, partial)
                    if survival > u:        # no jump in this piece: carry the unnormalised state
                        _matvec(tables.right[n], v, psi)
                        survival_start = survival
                        break
                    high, survival_high = t_end - origin, survival
                # a bracket from the stretch start (no output time before the jump: often wide)
                # starts Newton from the quadratic with d ln S / d tau(0) = -c^dag (R^dag Gamma R) c
                # / S(0); a bracket between output times is narrow: the log-linear start (the
                # quadratic there, with the slope from the output time's v, was 5 % slower)
                slope_low = np.nan
                if low == 0.0:
                    _bilinears(coefficients, r_low)
                    slope_low = -_form(forms, LOSS, r_low, partial) / survival_low
                tau = waiting_time(coefficients, eigenvalues, forms, u, low, survival_low, slope_low,
                                   high, survival_high, v, r, partial)
            # a jump (v, r hold v(tau)): channel by ||L_k psi||^2 = v^dag W_k v, then
            # c <- J_k v / ||L_k psi||
            total = 0.0
            for k in range(tables.n_channels[n]):
                total += _jump_weight(tables, n, k, r)
                weights[k] = total
            k53, s0, s1, s2, s3 = uniform53(s0, s1, s2, s3)
            threshold = k53 * UNIT53 * total
            c = tables.n_channels[n] - 1
            for k in range(tables.n_channels[n]):
                if threshold < weights[k]:
                    c = k
                    break
            norm = np.sqrt(_jump_weight(tables, n, c, r))
            coefficients[:] = 0.0
            for q in range(tables.jump_start[n, c], tables.jump_start[n, c + 1]):
                coefficients[tables.jump_row[q]] += tables.jump_value[q] * v[tables.jump_col[q]]
            if tables.retrodict:        # one column per row (checked when the tables are built)
                previous[:] = source
                for q in range(tables.jump_start[n, c], tables.jump_start[n, c + 1]):
                    source[tables.jump_row[q]] = previous[tables.jump_col[q]]
            for a in range(d):
                coefficients[a] /= norm
            if not mixture or not reanchor:
                anchor = np.nan
            else:                       # anchored = c e^{-i lambda (anchor - (origin + tau))}
                for a in range(d):
                    anchored[a] = coefficients[a] / scratch[a]
            if jumps < jump_times.shape[0]:
                jump_times[jumps] = origin + tau
                jump_channels[jumps] = tables.slot[n, c]
            counts[tables.slot[n, c]] += 1
            jumps += 1
            for x in range(lattice_index.shape[0]):
                lattice_index[x] += tables.step[n, c, x]
            heat[tables.bath_of[n, c]] += tables.heat_given[n, c]
            work += tables.energy_given[n, c]
            if not mixture:
                k53, s0, s1, s2, s3 = uniform53(s0, s1, s2, s3)
                u = (k53 + 0.5) * UNIT53
                survival_start = 1.0
            origin = origin + tau
        t_start = t_end
    j = 0
    sigma = 0.0
    if tables.measure or tables.retrodict:
        _matvec(tables.final_projector, psi, scratch)
        total = 0.0
        for a in range(d):
            total += scratch[a].real ** 2 + scratch[a].imag ** 2
        k53, s0, s1, s2, s3 = uniform53(s0, s1, s2, s3)
        threshold = k53 * UNIT53 * total
        j = d - 1
        running = 0.0
        for a in range(d):
            running += scratch[a].real ** 2 + scratch[a].imag ** 2
            if threshold < running:
                j = a
                break
        if tables.retrodict:            # the label the measured component j descends from
            component = 0
            for a in range(d):
                if abs(tables.final_projector[j, a]) > abs(tables.final_projector[j, component]):
                    component = a
            i = source[component]
        work += tables.final_energy[j] - tables.initial_energy[i]
        sigma = tables.log_initial[i] - tables.log_final[j]
        for b in range(heat.shape[0]):
            sigma += tables.betas[b] * heat[b]
    return i, j, work, sigma


@inline
def add_log(top, scaled, r, k, x):
    """Streaming log-sum-exp of entry (r, k): add e^x to the sum e^top[r, k] scaled[r, k] (one
    exponential an entry, in the order of the calls; e^{-inf} adds nothing)."""
    if x == -np.inf:
        return
    if x > top[r, k]:
        scaled[r, k] = scaled[r, k] * np.exp(top[r, k] - x) + 1.0
        top[r, k] = x
    else:
        scaled[r, k] += np.exp(x - top[r, k])


@inline
def _add_exponentials(exponents, counts, heat, work, sigma, top, scaled):
    """Streaming log-sum-exp: add e^{-s x} of this trajectory to (top, scaled) with
    ln sum = top + ln scaled, for every observable x (counts, heat INTO the system, W, sigma)."""
    n_slots, n_baths = counts.shape[0], heat.shape[0]
    for o in range(exponents.shape[0]):
        if o < n_slots:
            x = float(counts[o])
        elif o < n_slots + n_baths:
            x = -heat[o - n_slots]
        elif o == n_slots + n_baths:
            x = work
        else:
            x = sigma
        for k in range(exponents.shape[1]):
            s = exponents[o, k]
            if s == s:
                add_log(top, scaled, o, k, -s * x)


@inline
def tally(tables, g, block, i, j, work, sigma, counts, lattice_index, heat, floats, joint,
          joint_overflow, histogram, overflow, violations, top, scaled):
    """Add one trajectory (i, j, W, sigma, jump ``counts``, ``lattice_index``, ``heat`` given to
    each bath) to the accumulators of ``accumulate``: ``floats[block]`` (sums and squares of the
    heat INTO the system per bath, W, sigma), the joint histogram cell of (i, j, m_x) of thread
    group ``g`` (``joint_overflow`` when a histogrammed axis lies outside its half width), the
    count histogram (``overflow`` above max_count), the first-law ``violations`` and the
    block's streaming log-sum-exp (top, scaled) (``close_block`` turns it into ln sum)."""
    n_baths = heat.shape[0]
    for b in range(n_baths):
        floats[block, b, 0] -= heat[b]
        floats[block, b, 1] += heat[b] * heat[b]
    floats[block, n_baths, 0] += work
    floats[block, n_baths, 1] += work * work
    floats[block, n_baths + 1, 0] += sigma
    floats[block, n_baths + 1, 1] += sigma * sigma
    cell = i * tables.strides[0] + j * tables.strides[1]
    inside = True
    checked = False
    residual = tables.level_quanta[j] - tables.level_quanta[i]
    for x in range(lattice_index.shape[0]):
        if tables.strides[2 + x] != 0:
            m = lattice_index[x] + tables.half_width[x]
            inside = inside and 0 <= m <= 2 * tables.half_width[x]
            cell += m * tables.strides[2 + x]
        if tables.balance[x] != 0:
            checked = True
            residual += tables.balance[x] * lattice_index[x]
    if inside:
        joint[g, cell] += 1
    else:
        joint_overflow[g] += 1
    if checked and residual != 0:
        violations[g] += 1
    for c in range(counts.shape[0]):
        if counts[c] <= tables.max_count:
            histogram[g, c, counts[c]] += 1
        else:
            overflow[g, c] += 1
    _add_exponentials(tables.exponents, counts, heat, work, sigma, top, scaled)


@inline
def close_block(top, scaled, exponential, block):
    """exponential[block] <- ln sum e^{-s x} of the block's streaming log-sum-exp (NaN: empty)."""
    for o in range(top.shape[0]):
        for k in range(top.shape[1]):
            if scaled[o, k] > 0:
                exponential[block, o, k] = top[o, k] + np.log(scaled[o, k])


@inline
def tallies(tables, blocks, groups):
    """The accumulators that ``trajectory`` (moments), ``tally`` and ``close_block`` fill, empty:
    (moments, floats, joint, joint_overflow, histogram, overflow, violations, exponential), per
    block of trajectory indices (floats) or per thread group (integers); shapes as returned by
    ``accumulate`` before the groups are summed."""
    n_baths = tables.betas.shape[0]
    n_slots = int(tables.slot.max()) + 1 if tables.slot.size else 0
    moments = np.zeros((blocks, tables.times.shape[0], tables.observables.shape[1], 2))
    floats = np.zeros((blocks, n_baths + 2, 2))
    joint = np.zeros((groups, tables.cells), dtype=np.int64)
    joint_overflow = np.zeros(groups, dtype=np.int64)
    histogram = np.zeros((groups, n_slots, tables.max_count + 1), dtype=np.int64)
    overflow = np.zeros((groups, n_slots), dtype=np.int64)
    violations = np.zeros(groups, dtype=np.int64)
    exponential = np.full((blocks,) + tables.exponents.shape, np.nan)
    return moments, floats, joint, joint_overflow, histogram, overflow, violations, exponential


@parallel_kernel
def accumulate(tables, seed, stream, first, count, block_size, groups):
    """Accumulators of trajectories ``first .. first + count - 1``.

    Returns (moments, floats, joint, joint_overflow, count_histogram, count_overflow, exponential,
    violations): moments (blocks, T, A, 2) sums of expectation values and their squares; floats
    (blocks, B + 2, 2) sums and sums of squares of the heat INTO the system of each bath (G0), W and
    sigma; joint (cells,) histogram of (i, j, indices of the histogrammed lattice axes);
    count_histogram (C, max + 1) of each channel's jump count; overflow counters for both;
    exponential (blocks, C + B + 2, S) ln sum e^{-s x} over the block's trajectories at
    ``tables.exponents`` (NaN where unused); violations: trajectories breaking the integer first
    law (``tally``).
    """
    key = stream_key(seed, stream)
    blocks = (count + block_size - 1) // block_size
    n_baths = tables.betas.shape[0]
    n_axes = tables.half_width.shape[0]
    n_slots = int(tables.slot.max()) + 1 if tables.slot.size else 0
    (moments, floats, joint, joint_overflow, histogram, overflow, violations,
     exponential) = tallies(tables, blocks, groups)
    per_group = (blocks + groups - 1) // groups
    no_times = np.zeros(0)
    no_channels = np.zeros(0, dtype=np.int64)
    for g in numba.prange(groups):
        counts = np.zeros(n_slots, dtype=np.int64)
        lattice_index = np.zeros(n_axes, dtype=np.int64)
        heat = np.zeros(n_baths)
        top = np.empty(tables.exponents.shape)
        scaled = np.empty(tables.exponents.shape)
        scratch_space = workspace(tables)
        for block in range(g * per_group, min(blocks, (g + 1) * per_group)):
            top[:] = -np.inf
            scaled[:] = 0.0
            for t in range(block * block_size, min(count, (block + 1) * block_size)):
                i, j, work, sigma = trajectory_inline(tables, key, first + t, moments, block,
                                                      counts, lattice_index, heat, no_times,
                                                      no_channels, scratch_space)
                tally(tables, g, block, i, j, work, sigma, counts, lattice_index, heat, floats,
                      joint, joint_overflow, histogram, overflow, violations, top, scaled)
            close_block(top, scaled, exponential, block)
    return (moments, floats, joint.sum(axis=0), joint_overflow.sum(), histogram.sum(axis=0),
            overflow.sum(axis=0), exponential, violations.sum())


@parallel_kernel
def samples(tables, seed, stream, first, count):
    """Per-trajectory rows: (i, j), channel counts, heat INTO the system per bath, (W, sigma)."""
    key = stream_key(seed, stream)
    n_baths = tables.betas.shape[0]
    n_slots = int(tables.slot.max()) + 1 if tables.slot.size else 0
    labels = np.empty((count, 2), dtype=np.int64)
    counts = np.empty((count, n_slots), dtype=np.int64)
    heat = np.empty((count, n_baths))
    values = np.empty((count, 2))
    for t in numba.prange(count):
        scratch = np.zeros((1, tables.times.shape[0], tables.observables.shape[1], 2))
        lattice_index = np.zeros(tables.half_width.shape[0], dtype=np.int64)
        i, j, work, sigma = trajectory(tables, key, first + t, scratch, 0, counts[t],
                                       lattice_index, heat[t], np.zeros(0),
                                       np.zeros(0, dtype=np.int64), workspace(tables))
        for b in range(n_baths):
            heat[t, b] = -heat[t, b]
        labels[t, 0] = i
        labels[t, 1] = j
        values[t, 0] = work
        values[t, 1] = sigma
    return labels, counts, heat, values


@kernel
def jump_record(tables, seed, stream, index):
    """(jump times, counter indices) of trajectory ``index`` (the same draws as in a run)."""
    key = stream_key(seed, stream)
    n_slots = int(tables.slot.max()) + 1 if tables.slot.size else 0
    scratch = np.zeros((1, tables.times.shape[0], tables.observables.shape[1], 2))
    counts = np.zeros(n_slots, dtype=np.int64)
    jump_times = np.zeros(tables.max_count + 1)
    jump_channels = np.zeros(tables.max_count + 1, dtype=np.int64)
    trajectory(tables, key, index, scratch, 0, counts, np.zeros(tables.half_width.shape[0], np.int64),
               np.zeros(tables.betas.shape[0]), jump_times, jump_channels, workspace(tables))
    jumps = min(counts.sum(), jump_times.shape[0])
    return jump_times[:jumps].copy(), jump_channels[:jumps].copy()
