"""From an ``OpenSystem`` to the flat arrays of the jump kernel (``kernels/lindblad.py``).

Everything per piece is computed once here: the eigen-decomposition of H_eff, the padded jump
operators, each channel's counter, bath, heat quantum and lattice step; the bound on the jump
count and the lattice widths that size the histograms (memory bounded, independent of the number
of trajectories).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..exact import tilted
from ..exact.generating import entropy_production_reason, log_final_populations
from ..exact.effort import Progress
from ..kernels.lindblad import LANES, LindbladTables
from . import open_exponential

#: largest joint (i, j, heat lattices) histogram, in cells; wider baths are summarised by moments
MAX_JOINT_CELLS = 2**20
#: H_eff eigenvector matrices worse conditioned than this are refused (exceptional points)
MAX_CONDITION = 1e10
#: entries of a jump operator in the H_eff eigenbasis, J = R^{-1} L R, below this fraction of its
#: largest are round-off of the basis change (~d x 1e-16; Davies channels are exactly sparse there)
#: and dropped: any jump probability moves by less than ~1e-12
SPARSE_CUTOFF = 1e-12
#: a piece whose Gram matrix R^dag R of H_eff eigenvectors has no off-diagonal entry above this
#: fraction of its largest (H_eff normal: [H, sum L^dag L] = 0) draws its waiting times as a
#: mixture of exponentials (``lindblad.trajectory``); the survival moves by ~ d x this
MIXTURE_TOLERANCE = 1e-13
#: largest exponent of a precomputed output-time phase, |Im lambda| (t_j - anchor) (no overflow)
MAX_DECAY = 300.0


@dataclass(frozen=True)
class Layout:
    """Histogram geometry: ``max_count`` bounds every jump count (P(N > max_count) < 1e-15);
    ``units``/``steps``/``half_widths`` of the baths whose heat is on a lattice (None otherwise)."""

    max_count: int
    units: dict
    half_widths: dict
    n_initial: int
    n_final: int
    exponents: np.ndarray | None = None     # (observables, S): see ``open_exponential.exponents``

    @property
    def lattice_baths(self) -> list[str]:
        return list(self.half_widths)

    @property
    def joint_shape(self) -> tuple[int, ...]:
        return (self.n_initial, self.n_final, *(2 * h + 1 for h in self.half_widths.values()))


def max_jump_count(system, bath: str | None = None) -> int:
    """A bound on the number of jumps (of ``bath``'s channels, or of all): their total rate never
    exceeds the largest eigenvalue g_n of sum_k L_k^dag L_k over those channels, so the count is
    dominated by Poisson(sum_n g_n tau_n) = Poisson(lam); lam + 10 sqrt(lam) + 10 is exceeded with
    probability < 1e-15."""
    lam = 0.0
    for piece in system.pieces:
        loss = sum((c.operator.conj().T @ c.operator for c in piece.channels
                    if bath is None or c.bath == bath), np.zeros((system.dimension,) * 2, complex))
        lam += max(0.0, float(np.linalg.eigvalsh(loss).max())) * piece.duration
    return int(math.ceil(lam + 10 * math.sqrt(lam) + 10))


def lattice_half_width(system, bath: str, unit: float) -> int:
    """H with P(|m| > H) < 1e-16 for the lattice index m of ``bath``'s heat: Chernoff bounds
    P(+-m >= a) <= E[e^{+-lam m}] e^{-lam a} with the exact exponential moments (tilted generator),
    the best of a few lam; never above the worst case max|step| x (bound on the bath's jumps)."""
    largest = float(np.abs(system.heat_quanta(bath)).max(initial=0.0)) / unit
    worst = int(round(largest)) * max_jump_count(system, bath)
    if worst == 0 or not system.exact:  # exact=False: no exact moments, the worst case
        return worst
    mu = system.baths[bath].mu

    def edge(sign):
        """min over lam of (ln E[e^{sign lam m}] + 16 ln 10) / lam: P(sign m >= edge) < 1e-16
        (lam up to 3 / largest step, where the tilted generator stays well scaled)."""
        best = np.inf
        for lam in np.array([0.1, 0.3, 1.0, 3.0]) / largest:
            with np.errstate(over="ignore", invalid="ignore"):
                log_moment = tilted.log_exponential_average(
                    system, lambda c: -sign * lam * (c.energy - mu * c.particles) / unit
                    if c.bath == bath else 0.0)
            if np.isfinite(log_moment):
                best = min(best, (log_moment + 16 * math.log(10)) / lam)
            progress.advance()
        return best

    with Progress(f"lattice width of bath {bath!r}", 8) as progress:
        return int(math.ceil(min(float(worst), max(edge(1.0), edge(-1.0), 0.0))))


def layout(system, exponential_sums: bool = True) -> Layout:
    """The histogram geometry of ``system``; ``exponential_sums`` False: no exponential sums are
    accumulated (``Layout.exponents`` None: a tilted run's proposals, whose sums are not the
    target's)."""
    max_count = max_jump_count(system)
    n = system.dimension if system.measure_energy else 1
    units, widths = {}, {}
    for bath in system.bath_names:
        unit = system.lattice_unit(bath)
        if unit is not None:
            units[bath], widths[bath] = unit, lattice_half_width(system, bath, unit)
    while widths and n * n * math.prod(2 * h + 1 for h in widths.values()) > MAX_JOINT_CELLS:
        widest = max(widths, key=widths.get)
        del widths[widest], units[widest]
    return Layout(max_count, units, widths, n, n,
                  open_exponential.exponents(system) if exponential_sums else None)


def kernel_tables(system, geometry: Layout | None = None, retrodict: bool = False) -> LindbladTables:
    """The flat arrays of ``system`` for the jump kernel: one histogram lattice axis per lattice
    bath of ``geometry`` (its heat in lattice units), no first-law check.

    ``retrodict``: start from the eigenvectors of rho0 (no initial measurement) and read the
    initial label off retrodictively (``lindblad.trajectory``); ValueError unless every piece's
    H_eff is diagonal in the basis of the operators, both energy measurements are in that basis
    and every jump operator has at most one nonzero entry per row (``check_retrodiction``)."""
    geometry = layout(system) if geometry is None else geometry
    d, pieces = system.dimension, system.pieces
    names, baths = system.channel_names, system.bath_names
    axes = geometry.lattice_baths
    width = max((len(p.channels) for p in pieces), default=0)
    eigenvalues = np.zeros((len(pieces), d), complex)
    right, left, gram, loss = (np.zeros((len(pieces), d, d), complex) for _ in range(4))
    jump_start, rate_start = (np.zeros((len(pieces), width + 1), np.int64) for _ in range(2))
    jumps, rates = [], []          # sparse entries of every channel, piece by piece, in order
    jump_ops = np.zeros((len(pieces), width, d, d), complex)
    slot, bath_of = (np.zeros((len(pieces), width), np.int64) for _ in range(2))
    step = np.zeros((len(pieces), width, len(axes)), np.int64)
    heat_given, energy_given = np.zeros((len(pieces), width)), np.zeros((len(pieces), width))
    for n, piece in enumerate(pieces):
        gamma = sum((c.operator.conj().T @ c.operator for c in piece.channels), np.zeros((d, d), complex))
        values, vectors = np.linalg.eig(piece.hamiltonian - 0.5j * gamma)
        if np.linalg.cond(vectors) > MAX_CONDITION:
            raise ValueError(f"piece {n}: the effective Hamiltonian is (nearly) defective, an "
                             "exceptional point; change a rate or the Hamiltonian slightly")
        eigenvalues[n], right[n], left[n] = values, vectors, np.linalg.inv(vectors)
        gram[n] = vectors.conj().T @ vectors
        loss[n] = vectors.conj().T @ gamma @ vectors
        jump_start[n, 0], rate_start[n, 0] = sum(len(j[0]) for j in jumps), sum(len(r[0]) for r in rates)
        for k, c in enumerate(piece.channels):
            mu = system.baths[c.bath].mu
            jump_ops[n, k] = c.operator
            jumps.append(_eigenbasis_jump(c.operator, vectors, left[n]))
            rates.append(_jump_weight_form(jumps[-1], gram[n]))
            jump_start[n, k + 1] = jump_start[n, k] + len(jumps[-1][0])
            rate_start[n, k + 1] = rate_start[n, k] + len(rates[-1][0])
            slot[n, k], bath_of[n, k] = names.index(c.name), baths.index(c.bath)
            heat_given[n, k], energy_given[n, k] = c.energy - mu * c.particles, c.energy
            if c.bath in geometry.half_widths:
                step[n, k, axes.index(c.bath)] = int(round(heat_given[n, k] / geometry.units[c.bath]))
    p_start, vectors = _unmeasured_start(system) if retrodict else _start(system)
    final_energy, final_vectors = tilted.final_basis(system)
    initial_energy = tilted.initial_basis(system)[0]
    log_initial = np.zeros(d)
    log_final = np.zeros(d)
    if system.measure_energy:
        # sigma's endpoint terms from the log-space p0 and p_t (exact at any temperature);
        # an outcome of probability 0 is never drawn (its entry is unused)
        log_p0 = tilted.log_start(system)[0]
        log_initial = np.where(np.isfinite(log_p0), log_p0, 0.0)
        if entropy_production_reason(system) is None:
            log_pt = log_final_populations(system)
            log_final = np.where(np.isfinite(log_pt), log_pt, 0.0)
    shape = geometry.joint_shape
    strides = np.zeros(2 + len(axes), np.int64)
    c_strides = np.cumprod((shape[1:] + (1,))[::-1])[::-1]
    strides[0], strides[1] = (c_strides[0], c_strides[1]) if system.measure_energy else (0, 0)
    strides[2:] = c_strides[2:]
    betas = np.array([system.baths[b].beta for b in baths], dtype=np.float64)
    observables, observable_row = _observable_tables(system, right)
    width = len(packed_form(gram[0]))
    observable_forms = np.array([[packed_form(a) for a in row] for row in observables]).reshape(
        len(observables), observables.shape[1], width)
    forms = np.array([[packed_form(gram[n]), packed_form(loss[n])] for n in range(len(pieces))])
    time_piece, time_anchor, time_phases = _output_phases(
        system.output_times, output_pieces(system), eigenvalues)
    tables = LindbladTables(
        durations=np.array([p.duration for p in pieces]), eigenvalues=eigenvalues, right=right,
        left=left, n_channels=np.array([len(p.channels) for p in pieces], np.int64), jump_start=jump_start,
        jump_row=_flat(jumps, 0, np.int64), jump_col=_flat(jumps, 1, np.int64),
        jump_value=_flat(jumps, 2, complex), rate_start=rate_start, rate_index=_flat(rates, 0, np.int64),
        rate_value=_flat(rates, 1, float), slot=slot,
        bath_of=bath_of, step=step, heat_given=heat_given, energy_given=energy_given,
        initial_cumulative=_cumulative(p_start), initial_vectors=np.ascontiguousarray(vectors.T),
        final_projector=np.ascontiguousarray(final_vectors.conj().T), initial_energy=initial_energy,
        final_energy=final_energy, log_initial=log_initial, log_final=log_final,
        betas=np.where(np.isfinite(betas), betas, 0.0), measure=system.measure_energy,
        times=np.ascontiguousarray(system.output_times),
        # always complex: every system then shares one compiled kernel per signature
        observables=np.ascontiguousarray(observables, dtype=np.complex128),
        observable_row=observable_row, observable_forms=np.ascontiguousarray(observable_forms),
        jump_ops=np.ascontiguousarray(jump_ops),
        forms=forms, time_phases=time_phases, time_anchor=time_anchor, time_piece=time_piece,
        strides=strides, half_width=np.array([geometry.half_widths[b] for b in axes], np.int64),
        cells=int(math.prod(shape)), max_count=geometry.max_count,
        exponents=np.ascontiguousarray(geometry.exponents if geometry.exponents is not None
                                       else np.full((len(names) + len(baths) + 2, 1), np.nan)),
        level_quanta=np.zeros(d, np.int64), balance=np.zeros(len(axes), np.int64),
        retrodict=False, initial_label=np.arange(d, dtype=np.int64),
        mixture=np.array([mixture_of_exponentials(g) for g in gram], bool))
    if retrodict:
        if not system.measure_energy:
            raise ValueError("retrodiction reads off the labels of the energy measurements: "
                             "measure_energy=True")
        tables = tables._replace(retrodict=True, initial_label=check_retrodiction(
            tables, tilted.initial_basis(system)[1]))
    return tables


#: off-diagonal entries of R, R^{-1} and of the measurement bases above this are not round-off
RETRODICTION_TOLERANCE = 1e-10


def check_retrodiction(tables: LindbladTables, initial_vectors: np.ndarray) -> np.ndarray:
    """The initial-measurement label of each basis component, after checking that a trajectory
    started without the initial measurement can report it retrodictively: every piece's H_eff is
    diagonal (R and R^{-1} diagonal to RETRODICTION_TOLERANCE), the final projector and the
    initial measurement basis ``initial_vectors`` (columns) are the basis up to order and phases,
    and every jump operator, in that basis, has at most one nonzero entry per row (each basis
    state is reached from at most one: no amplitudes of different origins interfere, so the
    unravelling is a classical chain on the basis states and a state's label has one origin).
    ValueError naming the first condition that fails."""
    def diagonal(m):
        m = np.asarray(m)
        return np.abs(m - np.diag(np.diagonal(m, axis1=-2, axis2=-1))).max(initial=0.0) \
            <= RETRODICTION_TOLERANCE * np.abs(m).max(initial=1.0)

    for n in range(len(tables.durations)):
        if not (diagonal(tables.right[n]) and diagonal(tables.left[n])):
            raise ValueError(f"retrodiction: the effective Hamiltonian of piece {n} is not "
                             "diagonal in the measurement basis")
    labels = []
    for name, basis in (("final", tables.final_projector), ("initial", np.asarray(initial_vectors).T)):
        big = np.abs(basis) > RETRODICTION_TOLERANCE
        if not (np.all(big.sum(axis=0) == 1) and np.all(big.sum(axis=1) == 1)):
            raise ValueError(f"retrodiction: the {name} energy measurement is not in the basis "
                             "of the operators")
        labels.append(np.argmax(big, axis=0))          # label of each basis component
    starts = tables.jump_start
    for n in range(len(tables.durations)):
        for k in range(int(tables.n_channels[n])):
            rows = tables.jump_row[starts[n, k]:starts[n, k + 1]]
            if len(np.unique(rows)) != len(rows):
                raise ValueError(f"retrodiction: jump channel {k} of piece {n} reaches a basis "
                                 "state from two (an interference of origins)")
    return labels[1].astype(np.int64)


def mixture_of_exponentials(gram: np.ndarray) -> bool:
    """Whether a piece's survival S(tau) = v^dag (R^dag R) v is a mixture of exponentials: its
    Gram matrix R^dag R is diagonal to MIXTURE_TOLERANCE (relative)."""
    off = gram - np.diag(np.diag(gram))
    return bool(np.abs(off).max(initial=0.0) <= MIXTURE_TOLERANCE * np.abs(gram).max(initial=1.0))


def output_pieces(system) -> np.ndarray:
    """The piece each output time is recorded in, as the kernel assigns it: the first piece whose
    end (summed in the kernel's order) lies after it, the last piece for the final time."""
    ends = np.zeros(len(system.pieces))
    t_end = 0.0
    for n, piece in enumerate(system.pieces):
        t_end = t_end + piece.duration
        ends[n] = t_end
    return np.minimum(np.searchsorted(ends, system.output_times, side="right"), len(ends) - 1)


def _observable_tables(system, right) -> tuple[np.ndarray, np.ndarray]:
    """(R^dag A R stacks, row of each output time): one row per piece when every observable is
    constant (row = the time's piece), else one row per output time."""
    d, names = system.dimension, list(system.observables)
    pieces = output_pieces(system)
    if all(system.observables[n].ndim == 2 for n in names):
        table = np.array([[r.conj().T @ system.observables[n] @ r for n in names] for r in right])
        return table.reshape(len(right), len(names), d, d), pieces.astype(np.int64)
    table = np.array([[right[p].conj().T @ system.observable_at(n)[t] @ right[p] for n in names]
                      for t, p in enumerate(pieces)])
    return (table.reshape(len(pieces), len(names), d, d),
            np.arange(len(pieces), dtype=np.int64))


def _eigenbasis_jump(operator, right, left):
    """(rows, columns, values) of a channel in the H_eff eigenbasis, J = R^{-1} L R, with entries
    below SPARSE_CUTOFF of the largest dropped."""
    jump = left @ operator @ right
    jump[np.abs(jump) <= SPARSE_CUTOFF * np.abs(jump).max(initial=0.0)] = 0.0
    rows, columns = np.nonzero(jump)
    return rows, columns, jump[rows, columns]


def _jump_weight_form(jump, gram):
    """(indices, values) of the nonzero entries of the packed form of J^dag (R^dag R) J, for the
    sparse J = (rows, columns, values): v^dag . v = ||R J v||^2, the weight of the jump from R v."""
    rows, columns, values = jump
    matrix = np.zeros_like(gram)
    matrix[rows, columns] = values
    form = packed_form(matrix.conj().T @ gram @ matrix)
    (indices,) = np.nonzero(form)
    return indices, form[indices]


def _flat(entries, position, dtype):
    """One flat array of the ``position``-th part of every channel's sparse entries."""
    return np.concatenate([e[position] for e in entries] + [np.zeros(0)]).astype(dtype)


def packed_form(matrix: np.ndarray) -> np.ndarray:
    """The real vector f with v^dag M_h v = f . r(v) for the Hermitian part M_h of ``matrix`` and the
    bilinears r(v) = (|v_a|^2 for a < d; Re, Im of conj(v_a) v_b for a < b) of the kernel:
    f = (M_aa; 2 Re M_ab, -2 Im M_ab), zero padded to a multiple of LANES entries (d = 2: the
    four entries alone)."""
    d = matrix.shape[0]
    upper = 0.5 * (matrix + matrix.conj().T)[np.triu_indices(d, 1)]
    pairs = np.column_stack([2 * upper.real, -2 * upper.imag]).ravel()
    form = np.concatenate([np.real(np.diag(matrix)), pairs])
    return np.concatenate([form, np.zeros(-len(form) % LANES if d > 2 else 0)])


def _output_phases(times, piece, eigenvalues):
    """(piece, anchor a_j, e^{-i lambda (t_j - a_j)} with that piece's lambda) of every output time,
    recorded in piece ``piece[j]`` (``output_pieces``); an anchor is the first output time of a run
    within one piece no longer than MAX_DECAY / (the fastest decay rate -Im lambda)."""
    times = np.asarray(times, dtype=float)
    anchor = np.zeros(len(times))
    for j, t in enumerate(times):
        decay = max(float(-eigenvalues[piece[j]].imag.min()), 0.0)
        same_run = j > 0 and piece[j] == piece[j - 1] and (t - anchor[j - 1]) * decay <= MAX_DECAY
        anchor[j] = anchor[j - 1] if same_run else t
    phases = np.exp(-1j * (times - anchor)[:, None] * eigenvalues[piece])
    return piece, anchor, np.ascontiguousarray(phases)


def _start(system) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, vectors as columns) of the pure state each trajectory starts from: the
    initial energy measurement, or the eigen-decomposition of rho0 (the unravelling of a mixed
    start without measurement); the same log-space p0 as every exact reference."""
    log_p0, vectors = tilted.log_start(system)
    return np.exp(log_p0), vectors


def _unmeasured_start(system) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, vectors as columns) of the eigen-decomposition of rho0 (round-off
    negatives as 0)."""
    p, vectors = np.linalg.eigh(system.initial)
    return np.clip(p, 0.0, None), vectors


def _cumulative(p: np.ndarray) -> np.ndarray:
    """Cumulative probabilities ending exactly at 1 from the last possible outcome on."""
    cumulative = np.cumsum(p) / p.sum()
    cumulative[int(np.flatnonzero(p > 0)[-1]):] = 1.0
    return cumulative
