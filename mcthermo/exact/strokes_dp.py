"""Exact references of a stroke protocol on d levels (docs/observables.md, Stroke protocols), without sampling.

A protocol compiles to a ``StrokeChain``: the initial distribution p0 over levels, and per step n
(one stroke) the transition matrix P_n[s, s'] with the increments of each accumulated observable
(work, heat per bath) on that transition.  Units hbar = k_B = 1; heat is energy into the system.

* ``Lattice``: every increment is an integer multiple of one energy quantum (declared, or a
  common rational unit found with 1e-9 relative tolerance) -- or, for incommensurate energies,
  every level energy (E - mu N for heats) is an integer multiple of one of a few quanta with
  irrational ratios (e.g. 1 and sqrt 2): each observable then has one integer axis per quantum it
  uses, an increment E'_{s'} - E_s moves along at most two axes, and its value is the sum over
  its axes.  The box holds every index reachable at any step; distinct paths whose values agree
  to ~1e-10 relative are merged only when an observable's atoms are listed
  (``stats.lattice_groups``).
* ``log_joint_pmf``: the exact law of (initial level, final level, lattice indices) by dynamic
  programming, in log space (no probability underflows, whatever its size).
* ``transfer_moments`` / ``log_tilted_average``: mean, variance and ln<e^{-X}> of any linear
  combination X of the increments plus endpoint terms, from the forward recursion of the (tilted)
  transfer matrices 1^T prod_n M_n p0 -- always available, whatever the size of the lattice.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.special import logsumexp

from ..kernels._jit import kernel
from .effort import Progress
from ..stats import log_group_sum

#: relative tolerance for an increment to be an integer multiple of the energy unit
LATTICE_RTOL = 1e-9
#: largest denominator of the ratio of two increments for them to count as commensurate
MAX_DENOMINATOR = 1000
#: relative tolerance for a ratio of two energies to count as a fraction p / q (q <= MAX_DENOMINATOR):
#: a random ratio near 6 lies within 1e-9 of one of the ~3e5 such fractions per unit interval with
#: probability ~4e-3 (falsely merging incommensurate energies); within 1e-12 with ~4e-6, still far
#: above the ~1e-15 rounding of energies computed in floating point
RATIONAL_RTOL = 1e-12
#: beyond any reachable lattice index (bounds of unreachable levels)
_FAR = np.int64(1) << np.int64(62)


@dataclass(frozen=True, eq=False)
class StrokeChain:
    """log_initial: ln p0 (d,); log_transition: ln P_n[s, s'] (steps, d, d);
    increments: (observables, steps, d, d) energy added on each transition; names: observables;
    endpoints (optional, (observables, steps, 2, d)): energy-like values before (per s) and after
    (per s') each step with increments[k, n, s, s'] = endpoints[k, n, 1, s'] - endpoints[k, n, 0, s]
    (level energies for the work, E - mu N for a heat), used to find lattice axes."""

    log_initial: np.ndarray
    log_transition: np.ndarray
    increments: np.ndarray
    names: tuple[str, ...]
    endpoints: np.ndarray | None = None

    @property
    def levels(self) -> int:
        return self.log_initial.size

    @property
    def steps(self) -> int:
        return self.log_transition.shape[0]

    def possible(self) -> np.ndarray:
        """Boolean (steps, d, d): transitions of non-zero probability."""
        return self.log_transition > -np.inf

    def log_populations(self) -> np.ndarray:
        """ln of the level populations after the last step (master equation in log space)."""
        log_p = self.log_initial
        for log_step in self.log_transition:
            log_p = logsumexp(log_p[:, None] + log_step, axis=0)
        return log_p


def common_unit(values, declared: float | None = None) -> float | None:
    """The energy quantum of which every entry of ``values`` is an integer multiple.

    With ``declared``, checks it (ValueError naming the first value off the lattice); otherwise the
    largest unit ref / lcm(q) where every value / ref is within RATIONAL_RTOL of a fraction p / q,
    q <= MAX_DENOMINATOR, ref the smallest non-zero |value|; None when there is none
    (incommensurate energies).
    """
    values = np.abs(np.asarray(values, dtype=np.float64).ravel())
    values = values[values > 0]
    if declared is not None:
        ratio = values / declared
        off = np.abs(ratio - np.round(ratio)) > LATTICE_RTOL * np.maximum(1.0, ratio)
        if np.any(off):
            raise ValueError(f"energy_unit {declared!r}: the increment {values[off][0]!r} is not an "
                             "integer multiple of it")
        return float(declared)
    units = energy_quanta(values)
    return units[0] if len(units) == 1 else None


def energy_quanta(values) -> list[float]:
    """Quanta u_1, u_2, ... with pairwise irrational ratios such that every non-zero entry of
    ``values`` is an integer multiple of one of them (classes of values with rational ratios
    p / q, q <= MAX_DENOMINATOR to RATIONAL_RTOL, each with its common unit)."""
    classes = []  # [reference, lcm of denominators]
    for value in np.unique(np.abs(np.asarray(values, dtype=np.float64).ravel())):
        if value == 0:
            continue
        for group in classes:
            ratio = value / group[0]
            fraction = Fraction(float(ratio)).limit_denominator(MAX_DENOMINATOR)
            if abs(float(fraction) - ratio) <= RATIONAL_RTOL * ratio:
                group[1] = group[1] * fraction.denominator // math.gcd(group[1], fraction.denominator)
                break
        else:
            classes.append([float(value), 1])
    return [reference / denominator for reference, denominator in classes] or [1.0]


@dataclass(frozen=True, eq=False)
class Lattice:
    """Integer axes of the tracked observables: axis a belongs to observable ``owner[a]`` (its
    position among the tracked ones) and counts quanta ``unit[a]``; its index runs over
    [0, size[a]) for the value unit[a] * (low[a] + index).  ``steps`` (axes, steps, d, d) is the
    integer increment of each transition.  An observable's value is the sum over its axes."""

    unit: np.ndarray
    owner: np.ndarray
    steps: np.ndarray
    low: np.ndarray
    size: np.ndarray

    def values(self, a: int) -> np.ndarray:
        return self.unit[a] * (self.low[a] + np.arange(self.size[a]))

    def axes_of(self, position: int) -> list[int]:
        return [a for a in range(self.owner.size) if self.owner[a] == position]

    @property
    def strides(self) -> np.ndarray:
        """C-order strides of the box (axes last)."""
        return np.append(np.cumprod(self.size[::-1])[::-1][1:], 1).astype(np.int64)

    @property
    def cells(self) -> int:
        """Cells of the box, as an exact (unbounded) integer."""
        return math.prod(int(size) for size in self.size)

    def flat_steps(self) -> np.ndarray:
        """(steps, d, d) increment of the flat box index on each transition."""
        return np.tensordot(self.strides, self.steps, axes=1)

    def flat_origin(self) -> int:
        """Flat box index of all observables zero."""
        return int(np.dot(self.strides, -self.low))


def lattice(chain: StrokeChain, tracked, declared: float | None = None) -> Lattice:
    """The box of the observables ``tracked`` (indices into chain.names): one axis per
    (observable, quantum) pair in use, from the smallest to the largest index any reachable
    trajectory holds at any step (bounds by min/max dynamic programming).  An observable's
    quantum: ``declared``, else the common unit of its increments, else the quanta of its
    endpoint values (incommensurate energies); a particle counter (particles_<bath>): 1."""
    possible = chain.possible()
    axes_unit, axes_owner, axes_steps = [], [], []
    for position, k in enumerate(tracked):
        # particle counters count whole particles whatever the energy quantum
        unit = common_unit(chain.increments[k][possible],
                           1.0 if chain.names[k].startswith("particles_") else declared)
        for unit, steps in (_axes_of_increments(chain, k, [unit]) if unit is not None
                            else _axes_of_endpoints(chain, k)):
            steps = np.where(possible, steps, 0)
            if np.any(steps) or not axes_owner or axes_owner[-1] != position:
                axes_unit.append(float(unit)), axes_owner.append(position), axes_steps.append(steps)
    steps = np.array(axes_steps)
    # the axes must give back every increment (unit . steps)
    for position, k in enumerate(tracked):
        mine = np.array(axes_owner) == position
        exact = np.where(possible, chain.increments[k], 0.0)
        if not np.allclose(np.tensordot(np.array(axes_unit)[mine], steps[mine], axes=1), exact,
                           rtol=LATTICE_RTOL, atol=LATTICE_RTOL * max(1.0, np.abs(exact).max())):
            raise ValueError(f"the increments of {chain.names[k]} do not fit the energy quanta "
                             f"{sorted(set(axes_unit))}")
    lows, highs = np.zeros(len(steps), np.int64), np.zeros(len(steps), np.int64)
    for a in range(len(steps)):
        lows[a], highs[a] = _index_bounds(steps[a], possible, chain.log_initial > -np.inf)
    return Lattice(np.array(axes_unit), np.array(axes_owner, dtype=np.int64), steps, lows,
                   highs - lows + 1)


@kernel
def _index_bounds(steps, possible, reachable):
    """Smallest and largest cumulative index that any reachable path holds at any step (min/max
    dynamic programming over the levels; the index starts at 0)."""
    d = reachable.size
    low, high, reach = np.zeros(d, np.int64), np.zeros(d, np.int64), reachable.copy()
    smallest, largest = 0, 0
    for n in range(steps.shape[0]):
        new_low, new_high = np.full(d, _FAR), np.full(d, -_FAR)
        new_reach = np.zeros(d, np.bool_)
        for s in range(d):
            if reach[s]:
                for t in range(d):
                    if possible[n, s, t]:
                        new_low[t] = min(new_low[t], low[s] + steps[n, s, t])
                        new_high[t] = max(new_high[t], high[s] + steps[n, s, t])
                        new_reach[t] = True
        low, high, reach = new_low, new_high, new_reach
        for t in range(d):
            if reach[t]:
                smallest, largest = min(smallest, low[t]), max(largest, high[t])
    return smallest, largest


def _axes_of_increments(chain, k, units):
    """(unit, integer steps) per quantum: each increment of observable k on one quantum."""
    increments = np.where(chain.possible(), chain.increments[k], 0.0)
    claimed = increments == 0
    axes = []
    for unit in units:
        ratio = increments / unit
        steps = np.round(ratio).astype(np.int64)
        mine = ~claimed & (np.abs(ratio - steps) <= LATTICE_RTOL * np.maximum(1.0, np.abs(ratio)))
        axes.append((unit, np.where(mine, steps, 0)))
        claimed |= mine
    return axes


def _axes_of_endpoints(chain, k):
    """(unit, integer steps) per quantum of the endpoint values of observable k: a transition
    moves from the index of its value before to that of its value after."""
    ends = chain.endpoints[k]
    claimed = ends == 0
    axes = []
    for unit in energy_quanta(ends):
        ratio = ends / unit
        index = np.round(ratio).astype(np.int64)
        mine = ~claimed & (np.abs(ratio - index) <= LATTICE_RTOL * np.maximum(1.0, np.abs(ratio)))
        index = np.where(mine, index, 0)
        claimed |= mine
        axes.append((unit, index[:, 1, None, :] - index[:, 0, :, None]))
    return axes


def log_joint_pmf(chain: StrokeChain, box: Lattice) -> np.ndarray:
    """Exact ln P(initial level, final level, index_1, ..., index_K), shape (d, d, *box.size), by
    dynamic programming over (initial level, current level, flat box index) in log space."""
    d, cells = chain.levels, box.cells
    table = np.full((d, d, cells), -np.inf)
    origin = box.flat_origin()
    table[np.arange(d), np.arange(d), origin] = chain.log_initial
    flat = box.flat_steps()
    progress = Progress("law of the strokes", chain.steps)
    for n in range(chain.steps):
        progress.advance()
        new = np.full_like(table, -np.inf)
        for s, target in zip(*np.nonzero(chain.possible()[n])):
            shift = int(flat[n, s, target])
            source = table[:, s, max(0, -shift): cells - max(0, shift)]
            into = new[:, target, max(0, shift): cells - max(0, -shift)]
            np.logaddexp(into, source + chain.log_transition[n, s, target], out=into)
        table = new
    progress.close()
    return table.reshape((d, d, *box.size))


def key_space(chain: StrokeChain, box: Lattice) -> int:
    """Number of histogram keys (initial level, final level, box cell): d^2 prod(box.size), exact."""
    return chain.levels**2 * box.cells


def sparse_updates(chain: StrokeChain, box: Lattice, max_support: int) -> float:
    """An upper bound on the element updates of ``log_sparse_pmf``: per step, the transitions out
    of at most min(max_support, states reachable in the box) states, a state's reach growing by
    each axis's largest step either way."""
    d = chain.levels
    possible = chain.possible()
    steps = np.where(possible[None], box.steps, 0)                  # (axes, steps, d, d)
    span = np.cumsum(steps.max(axis=(2, 3)) - steps.min(axis=(2, 3)), axis=1)  # (axes, steps)
    span = np.minimum(span + 1, np.asarray(box.size)[:, None]).astype(np.float64)
    starts = float(np.count_nonzero(chain.log_initial > -np.inf))
    states = np.minimum(float(max_support), starts * d * np.prod(span, axis=0))
    fan_out = possible.sum(axis=(1, 2)) / d                         # transitions per state
    return float(np.sum(states * np.maximum(fan_out, 1.0)))


def support_work_left(supports, steps: int, max_support: float) -> float:
    """Support entries still to process after ``len(supports)`` of ``steps`` DP steps, the n-th of
    which started from ``supports[n]`` states: the support is extrapolated as a power law
    supports[n] (m / n)^p of the step m, p measured between the last step and the one half-way
    (the reach of a random walk grows like a power of the steps), capped at ``max_support``."""
    n = len(supports)
    if n == 0:
        return float("inf")
    last = float(supports[-1])
    half = float(supports[n // 2 - 1]) if n >= 4 else last
    power = math.log(last / half) / math.log(n / (n // 2)) if n >= 4 and half > 0 else 1.0
    power = min(max(power, 0.0), 8.0)
    future = np.arange(n + 1, steps + 1, dtype=np.float64)
    return float(np.sum(np.minimum(last * (future / n) ** power, float(max_support))))


def log_sparse_pmf(chain: StrokeChain, box: Lattice, max_support: int):
    """Exact ln P on the support only: (sorted histogram keys, ln P) with key = (i d + j) cells +
    flat box index (the C order of ``log_joint_pmf``'s array), or None as soon as more than
    ``max_support`` (initial level, current level, box index) states are reachable.

    The same dynamic programme as ``log_joint_pmf`` over the reachable states alone: when the
    energies are incommensurate the box has one axis per energy quantum and is mostly empty, while
    the paths reach few of its cells.  Needs ``key_space`` < 2**63."""
    d, cells = chain.levels, box.cells
    flat, possible = box.flat_steps(), chain.possible()
    levels = np.flatnonzero(chain.log_initial > -np.inf)
    # states as (i d + s) cells + index: one int64 code each
    code = (levels * d + levels) * cells + box.flat_origin()
    log_p = chain.log_initial[levels]
    # a step costs in proportion to the support it starts from, which widens as the paths spread:
    # progress counts support entries and extrapolates their measured growth (support_work_left)
    supports = []
    progress = Progress("law of the strokes on its support", chain.steps,
                        left=lambda: support_work_left(supports, chain.steps, max_support))
    for n in range(chain.steps):
        supports.append(code.size)
        progress.advance(code.size)
        pair = code // cells  # i d + s
        current, index = pair % d, code % cells
        parts, logs = [], []
        for s, target in zip(*np.nonzero(possible[n])):
            mine = current == s
            parts.append((pair[mine] - s + target) * cells + index[mine] + flat[n, s, target])
            logs.append(log_p[mine] + chain.log_transition[n, s, target])
        code, inverse = np.unique(np.concatenate(parts), return_inverse=True)
        if code.size > max_support:
            progress.close()
            return None
        log_p = log_group_sum(np.ravel(inverse), np.concatenate(logs), code.size)
    progress.close()
    return code, log_p


def transfer_moments(chain: StrokeChain, coefficients, start=None, end=None) -> tuple[float, float]:
    """Exact mean and variance of X = start[i] + sum_n coefficients . increments_n + end[j]
    (i, j the initial and final levels; start, end default 0), by propagating the populations and
    the first two partial moments through each step."""
    d = chain.levels
    start = np.zeros(d) if start is None else np.asarray(start, dtype=np.float64)
    end = np.zeros(d) if end is None else np.asarray(end, dtype=np.float64)
    p = np.exp(chain.log_initial)
    start = np.where(p > 0, start, 0.0)  # ln p0 = -inf on empty levels carries no weight
    m1, m2 = p * start, p * start**2
    weights = np.tensordot(np.asarray(coefficients, dtype=np.float64), chain.increments, axes=1)
    for log_step, x in zip(chain.log_transition, weights):
        step = np.exp(log_step)
        x = np.where(step > 0, x, 0.0)
        p, m1, m2 = (p @ step, m1 @ step + p @ (step * x),
                     m2 @ step + 2.0 * m1 @ (step * x) + p @ (step * x**2))
    end = np.where(p > 0, end, 0.0)
    mean = float(np.sum(m1 + p * end))
    second = float(np.sum(m2 + 2.0 * m1 * end + p * end**2))
    return mean, max(second - mean**2, 0.0)


def log_tilted_average(chain: StrokeChain, coefficients, start=None, end=None) -> float:
    """Exact ln<e^{-X}> for X as in ``transfer_moments``: ln 1^T e^{-end} prod_n M_n e^{-start} p0
    with M_n[s, s'] = P_n[s, s'] e^{-coefficients . increments_n[s, s']}, in log space."""
    d = chain.levels
    start = np.zeros(d) if start is None else np.asarray(start, dtype=np.float64)
    end = np.zeros(d) if end is None else np.asarray(end, dtype=np.float64)
    reachable = chain.log_initial > -np.inf
    log_v = np.where(reachable, chain.log_initial - np.where(reachable, start, 0.0), -np.inf)
    weights = np.tensordot(np.asarray(coefficients, dtype=np.float64), chain.increments, axes=1)
    for log_step, x in zip(chain.log_transition, weights):
        possible = log_step > -np.inf
        log_v = logsumexp(log_v[:, None] + np.where(possible, log_step - x, -np.inf), axis=0)
    reached = log_v > -np.inf
    return float(logsumexp(log_v[reached] - end[reached]))


# --- tilted transfer matrices: generating functions and the finite-time Doob transform -------
@kernel
def _log_backward(log_transition, x_steps, log_end, s):
    """ln h_n, n = 0 .. steps, of the backward recursion h_steps(y) = e^{-s end(y)},
    h_{n-1}(x) = sum_y P_n(x, y) e^{-s x_n(x, y)} h_n(y), in log space (each row a logsumexp: no
    overflow or underflow whatever s).  ``log_end`` = -s end."""
    steps, d = log_transition.shape[0], log_transition.shape[1]
    log_h = np.empty((steps + 1, d))
    log_h[steps] = log_end
    terms = np.empty(d)
    for n in range(steps - 1, -1, -1):
        for x in range(d):
            largest = -np.inf
            for y in range(d):
                a = log_transition[n, x, y]
                if a > -np.inf:
                    a = a - s * x_steps[n, x, y] + log_h[n + 1, y]
                terms[y] = a
                largest = max(largest, a)
            total = 0.0
            if largest > -np.inf:
                for y in range(d):
                    total += np.exp(terms[y] - largest)
            log_h[n, x] = largest + np.log(total) if largest > -np.inf else -np.inf
    return log_h


def _linear_terms(chain: StrokeChain, coefficients, start, end):
    """X = start[i] + sum_n coefficients . increments_n + end[j] as (per-step increments (steps, d,
    d), start (d,), end (d,)); infinite endpoint terms (ln p = -inf on a level no path holds) -> 0."""
    d = chain.levels
    x_steps = np.ascontiguousarray(np.tensordot(np.asarray(coefficients, dtype=np.float64),
                                                chain.increments, axes=1))
    start = np.zeros(d) if start is None else np.asarray(start, dtype=np.float64)
    end = np.zeros(d) if end is None else np.asarray(end, dtype=np.float64)
    return x_steps, np.where(np.isfinite(start), start, 0.0), np.where(np.isfinite(end), end, 0.0)


def log_backward(chain: StrokeChain, s: float, coefficients, start=None, end=None) -> np.ndarray:
    """ln h_n (steps + 1, d) of the tilt e^{-s X} (the tilt of the generating function G(s) = <e^{-sX}>), X as in ``transfer_moments``."""
    x_steps, _, end = _linear_terms(chain, coefficients, start, end)
    return _log_backward(chain.log_transition, x_steps, -float(s) * end, float(s))


def log_generating_function(chain: StrokeChain, s, coefficients, start=None, end=None):
    """ln G(s) = ln<e^{-s X}> for X = start[i] + sum_n coefficients . increments_n + end[j]: the
    backward recursion of the tilted transfer matrices M_n(x, y) = P_n(x, y) e^{-s x_n(x, y)} in log
    space, G(s) = sum_x p0(x) e^{-s start(x)} h_0(x).  ``s``: a scalar or 1-d array (same shape
    out); +inf where G diverges is impossible on a finite chain (every G(s) is finite)."""
    x_steps, start_terms, end_terms = _linear_terms(chain, coefficients, start, end)
    reachable = chain.log_initial > -np.inf
    values = np.asarray(s, dtype=np.float64)
    out = np.empty(values.shape)
    for index, lam in np.ndenumerate(values):
        log_h = _log_backward(chain.log_transition, x_steps, -lam * end_terms, float(lam))[0]
        out[index] = logsumexp(chain.log_initial[reachable] - lam * start_terms[reachable] + log_h[reachable])
    return float(out) if out.ndim == 0 else out


def doob_chain(chain: StrokeChain, s: float, coefficients, start=None, end=None) -> tuple[StrokeChain, float]:
    """The finite-time Doob transform of the tilt e^{-s X} (the tilt of the generating function G(s) = <e^{-sX}>) and ln G(s).

    With the backward functions h_n: q0(x) = p0(x) e^{-s start(x)} h_0(x) / G(s) and
    Q_n(x, y) = P_n(x, y) e^{-s x_n(x, y)} h_n(y) / h_{n-1}(x) (stochastic by the recursion; the
    end term sits in h_steps).  The path law of this chain is Q(path) = P(path) e^{-s X} / G(s),
    exactly, so each path carries the weight P / Q = G(s) e^{s X}.  Same support, increments and
    names: the same lattice box and kernel tables sample it."""
    x_steps, start_terms, end_terms = _linear_terms(chain, coefficients, start, end)
    s = float(s)
    log_h = _log_backward(chain.log_transition, x_steps, -s * end_terms, s)
    reachable = chain.log_initial > -np.inf
    log_q0 = np.where(reachable, chain.log_initial - s * start_terms + log_h[0], -np.inf)
    log_g = float(logsumexp(log_q0[reachable]))
    possible = chain.possible()
    log_steps = np.where(possible, chain.log_transition - s * x_steps + log_h[1:, None, :] - log_h[:-1, :, None],
                         -np.inf)
    # renormalise each row in log space: removes the last ulps of the recursion's rounding
    log_steps = log_steps - logsumexp(log_steps, axis=2, keepdims=True)
    tilted = StrokeChain(log_q0 - log_g, np.ascontiguousarray(log_steps), chain.increments, chain.names,
                         chain.endpoints)
    return tilted, log_g


def tilted_moments(chain: StrokeChain, s: float, coefficients, start=None, end=None) -> tuple[float, float]:
    """Exact mean and variance of X under the tilted law P(path) e^{-sX} / G(s), by the forward
    recursion of the tilted transfer matrices on the chain itself (independent of the backward
    functions and of the Doob transform): per level y, the tilted weight ln v(y) and the
    conditional first and second moments of X given the current level (each step a convex
    combination with weights normalised in log space: no overflow whatever s)."""
    x_steps, start_terms, end_terms = _linear_terms(chain, coefficients, start, end)
    s = float(s)
    log_v = np.where(chain.log_initial > -np.inf, chain.log_initial - s * start_terms, -np.inf)
    mu1, mu2 = start_terms.copy(), start_terms**2
    for log_step, x in zip(chain.log_transition, x_steps):
        possible = log_step > -np.inf
        x = np.where(possible, x, 0.0)
        log_joint = log_v[:, None] + np.where(possible, log_step - s * x, -np.inf)  # (from, to)
        log_new = logsumexp(log_joint, axis=0)
        reached = log_new > -np.inf
        w = np.exp(log_joint[:, reached] - log_new[None, reached])
        new1, new2 = np.zeros_like(mu1), np.zeros_like(mu2)
        new1[reached] = np.sum(w * (mu1[:, None] + x[:, reached]), axis=0)
        new2[reached] = np.sum(w * (mu2[:, None] + 2.0 * mu1[:, None] * x[:, reached] + x[:, reached]**2), axis=0)
        log_v, mu1, mu2 = log_new, new1, new2
    reached = log_v > -np.inf
    log_final = log_v[reached] - s * end_terms[reached]
    weights = np.exp(log_final - logsumexp(log_final))
    e = end_terms[reached]
    mean = float(weights @ (mu1[reached] + e))
    second = float(weights @ (mu2[reached] + 2.0 * mu1[reached] * e + e**2))
    return mean, max(second - mean**2, 0.0)
