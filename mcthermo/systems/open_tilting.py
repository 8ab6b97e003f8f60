"""Tilted sampling of open systems (``OpenSystem``, ``FloquetSystem``): a Doob-gauged proposal
unravelling with exact replayed weights.

``mt.sample(system, n, seed, tilt={"heat_hot": s})`` samples the plain system and, per tilt s of the
observable X = x(i) + y(j) + sum over jumps of a_k (``exact.generating.counted``: heat_<bath>,
jumps_<channel>, work, entropy_production), the PROPOSAL system: every piece split into SUBPIECES
equal pieces, and in sub-piece n

    L'_k = e^{-s a_k / 2} l_n^{1/2} L_k l_n^{-1/2},   H'_eff = H - (i/2) sum_k L'_k^dag L'_k,

with l_n > 0 the exact backward function B(t) of the tilt (dB/dt = -L_s^dag B from
B(T) = sum_j e^{-s y(j)} |j><j|) at the sub-piece's midpoint, and the start outcomes drawn from the
exact Doob start law q0(i) ∝ p0(i) e^{-s x(i)} <i|B(0)|i>.  It is itself an open system (a valid
unravelling of another Lindblad equation: same Hamiltonians, jump operators rescaled and gauged),
sampled by the SAME kernel from its own tables.  With a time-independent l this is the Doob
transform (for Davies channels, whose l commutes with H); the exact finite-time Doob transform has
l(t) varying within a piece and, for coherent dynamics, a changed Hamiltonian and measurement
basis, which the constant-H_eff kernel cannot draw exactly -- so it is approximated by the proposal
and its weight made exact instead (``kernels/replay.py``): the record (i, jump times and channels,
j) is replayed under the plain and every proposal generator, and

    w = p_plain(record) / (sum_e p_e(record) / E)        (the mixture of the E ensembles)

is the importance weight of the trajectory for estimates under the plain law.  No exact answer (no
G(s)) enters the weights: a sampler that draws from the wrong law is not corrected by them.  Unlike
the exact Doob transform the weight varies within an atom of X (through the dwell times and the
within-piece variation of l), so the proposal at s = target is a genuine test, not a repetition of
G(s).  (The plain rate rescaling l = 1 was tried first: at t = 50 its no-jump factors make the
weights log-normal with a huge spread, and a stationary l misses paths driven by quenches.)

One pass per ensemble (``replay.weighted``): each trajectory is drawn once, tallied into its
ensemble's own tables (``lindblad.tally``; the plain ensemble is drawn with the plain protocol's own
tables and RNG stream, so its tables are those of a plain run, bit for bit) and replayed under every
ensemble in the same pass.

With ``reverse=True`` the reverse direction is the time-reversed protocol (``OpenSystem.reversed``)
with its own proposals, tilted by ``reverse_tilts`` (``tilt="auto"``: the ladder of its own row) or
else the same tilts; proposals are sampled as forward protocols of their own.

The jarzynski / integral_ft rows, where every ensemble's unravelling is classical in the energy
basis (``exact.importance``: Davies or Floquet-frame channels, commuting pieces, a measured start):
each ensemble's own importance-sampling estimate G_e = mean of (p_plain / p_e) A over its
trajectories, combined with weights proportional to 1 / v_e, v_e the EXACT relative variance of one
of its terms (a Feynman-Kac sum: ``JumpTilted.relative_variances``), so that the estimate's
variance is known before sampling and is the z-score's stderr (``stderr_source = "exact"``,
``_exact_row``).  Otherwise (a coherent unravelling) estimates are self-normalised:
<A> = sum w A / sum w over all ensembles' trajectories (the normalisation taken from the data),
with the delta-method standard error of a stratified sample (each ensemble's own variance) from the
data (``stderr_source = "data"``, ``_row``), inconclusive when the weights' effective sample size
is too small (``checks.power_problem``).

Tables of a tilted open system (every row of summary / checks / histogram has a ``tilt`` column):
* per proposal ("X=s"): the proposal system's own plain tables -- histograms and moments of every
  observable against the PROPOSAL's exact laws: what catches a wrong sampler;
* ``reweighted`` (X on a lattice: heat_<bath> of a lattice bath, jumps_<channel>): per atom the
  reweighted probability, its stderr (none where the atom's effective sample size is below 10) and
  the exact probability from a tilted DFT (the DFT of
  G(sigma + i theta) at each ensemble's real tilt sigma, multiplied back by e^{sigma X}; per atom
  the tilt where the atom carries the most tilted mass: accurate in relative terms in the tails);
* ``jarzynski`` / ``integral_ft`` rows from the reweighted estimates, per direction: with the exact
  variance, every row judged on its own power; with a stderr from the data, a row whose observable
  (work, entropy_production) is not the tilted one is shown but inconclusive (``UNTARGETED``), as is
  one whose rungs all stop short of its exponential average (``JumpTilted._reach_problem``: the
  a-priori variance of the best rung, exact G);
* with both directions, where Crooks holds (``open_theorems.crooks_reason``): a ``crooks`` row
  (direction "both") at the midpoint with the exact variance (``_exact_crooks_row``: G_R(beta/2) =
  e^{beta dF} G_F(beta/2)); without the exact variance, where the bath's heat lies on a lattice,
  from the reweighted work laws of both
  directions (weights summed per cell (i, j, heat lattice index), W = E_j - E_i + energy given to
  the bath; ``tilting.crooks_row``), its stderr from the data (``_AtomEstimate``: the stratified
  delta-method covariance of the atoms' ln P).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numba
import numpy as np
import pandas as pd
from scipy.special import logsumexp

from .. import checks as _checks
from .. import exponential
from ..exact import generating, importance, tilted
from ..kernels import lindblad, replay
from ..model import STREAMS
from ..results import Results
from ..stats import Estimate, lattice_groups, log_group_sum, zero_within_round_off
from ..tilting import ENGINES, REWEIGHTED_COLUMNS, Tilted, WorkLaw, _ladder, crooks_row, tilt_label
from . import open_sampling
from .open_system import OpenSystem, Piece
from .open_theorems import crooks_reason

#: smallest tilted probability P(m) e^{-sigma X} / G(sigma) at which a DFT atom is trusted
#: (DFT round-off ~1e-16 absolute: relative error < 1e-4 above it)
DFT_FLOOR = 1e-12


def bare(system: OpenSystem, pieces=None, initial=None) -> OpenSystem:
    """The system without observables (no expectation values to record) and without exponential
    sums (``open_sampling.layout``), optionally with other pieces or start state; the same lattice
    units."""
    units = {b: system.lattice_unit(b) for b in system.bath_names}
    out = OpenSystem(pieces=system.pieces if pieces is None else pieces, baths=system.baths,
                     initial=system.initial if initial is None else initial,
                     measure_energy=system.measure_energy,
                     energy_units={b: u for b, u in units.items() if u is not None and u > 0})
    out._cached("layout", lambda: open_sampling.layout(out, exponential_sums=False))
    return out


#: every piece is split into this many equal sub-pieces, each with its own Doob gauge
SUBPIECES = 4
#: largest jump-count bound (``Layout.max_count``) of a proposal: beyond it a tilt is refused
MAX_PROPOSAL_JUMPS = 10**5
#: largest |s a| of a jump's tilt factor e^{-s a} in a proposal (its rates e^{-s a} |L|^2 stay in
#: the float range)
MAX_TILT_EXPONENT = 300.0
#: smallest eigenvalue of a gauge relative to its largest (smaller ones are raised to it)
GAUGE_FLOOR = 1e-12


def split(pieces, parts: int = SUBPIECES) -> list[Piece]:
    """Each piece as ``parts`` equal consecutive pieces (the same process)."""
    return [Piece(p.hamiltonian, p.channels, p.duration / parts) for p in pieces for _ in range(parts)]


def _adjoint_generator(piece, increments, s: float) -> np.ndarray:
    """L_s^dag(X) = i[H, X] + sum_k (e^{-s a_k} L_k^dag X L_k - {L_k^dag L_k, X} / 2) on row-major
    vec(X): the adjoint tilted generator of one piece."""
    h = piece.hamiltonian
    d = h.shape[0]
    identity = np.eye(d)
    gamma = sum((c.operator.conj().T @ c.operator for c in piece.channels), np.zeros((d, d), complex))
    adjoint = 1j * np.kron(h, identity) - 1j * np.kron(identity, h.T) \
        - 0.5 * np.kron(gamma, identity) - 0.5 * np.kron(identity, gamma.T)
    for c, a in zip(piece.channels, increments):
        adjoint = adjoint + math.exp(-s * a) * np.kron(c.operator.conj().T, c.operator.T)
    return adjoint


def backward_functions(system, pieces, increments, definition, s: float):
    """(gauges, ln <i|B(0)|i>): the exact backward function B(t) of the tilt, B(T) = sum_j e^{-s y(j)}
    |j><j| (the final measurement; 1 without it), dB/dt = -L_s^dag B, at the midpoint of every piece
    (Hermitian part, scaled to largest eigenvalue 1, eigenvalues below GAUGE_FLOOR raised: the gauge
    l_n) and at time 0 for the start states i (log space: the start law of the exact Doob transform
    is p0(i) e^{-s x(i)} <i|B(0)|i> / G(s))."""
    d = system.dimension
    if system.measure_energy and definition.final is not None:
        _, vectors = tilted.final_basis(system)
        with np.errstate(invalid="ignore"):
            log_y = np.where(np.isnan(definition.final), -np.inf, -s * np.nan_to_num(definition.final))
        scale = log_y.max()
        backward = (vectors * np.exp(log_y - scale)) @ vectors.conj().T
    else:
        scale, backward = 0.0, np.eye(d, dtype=complex)
    gauges = []
    for piece, a in zip(reversed(pieces), reversed(increments)):
        generator = _adjoint_generator(piece, a, s)
        for half in range(2):
            c, propagator = generating.scaled_exponential(generator, piece.duration / 2)
            backward = (propagator @ backward.ravel()).reshape(d, d)
            size = float(np.abs(backward).max())
            backward, scale = backward / size, scale + c + math.log(size)
            if half == 0:
                gauges.append(_gauge(piece, backward))
    _, vectors = tilted.log_start(system)
    diagonal = np.real(np.einsum("ai,ab,bi->i", vectors.conj(), backward, vectors))
    with np.errstate(divide="ignore"):
        log_start = np.where(diagonal > 0, np.log(np.where(diagonal > 0, diagonal, 1.0)), -np.inf) + scale
    return gauges[::-1], log_start


def _clean(matrix) -> np.ndarray:
    """Entries below ROUND_OFF x max set to zero."""
    return np.where(np.abs(matrix) > generating.ROUND_OFF * np.abs(matrix).max(initial=0.0), matrix, 0)


def _gauge(piece, backward) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(V, r, r^{-1}): the eigenvectors V of the piece's Hamiltonian and, in that basis, r = l^{1/2}
    of the gauge l = Hermitian part of ``backward`` (eigenvalues below GAUGE_FLOOR x max raised),
    round-off entries zeroed, so a gauge that commutes with H (Davies channels) keeps every channel
    an exact eigenoperator."""
    _, basis = np.linalg.eigh(piece.hamiltonian)
    values, vectors = np.linalg.eigh(_clean(basis.conj().T @ ((backward + backward.conj().T) / 2) @ basis))
    values = np.maximum(values / values.max(), GAUGE_FLOOR) if values.max() > 0 else np.ones(len(values))
    vectors = _clean(vectors)
    return (basis, _clean((vectors * np.sqrt(values)) @ vectors.conj().T),
            _clean((vectors / np.sqrt(values)) @ vectors.conj().T))


def proposal(system: OpenSystem, observable: str, s: float) -> OpenSystem:
    """The proposal system of tilt s of ``observable`` (see the module docstring): every piece split
    into SUBPIECES, in sub-piece n L'_k = e^{-s a_k / 2} l_n^{1/2} L_k l_n^{-1/2} with the same
    Hamiltonian (l_n: the exact backward function at its midpoint, ``backward_functions``), and the
    start law of the exact Doob transform q0(i) ∝ p0(i) e^{-s x(i)} <i|B(0)|i>."""
    definition = generating.counted(system, observable)
    largest = max((abs(s * a) for piece in definition.increments for a in piece), default=0.0)
    if not largest <= MAX_TILT_EXPONENT:
        raise ValueError(f"tilt {observable}={s:g} is too strong for this system: a jump's factor "
                         f"e^(-s a) reaches e^{largest:.3g}, beyond the float range of the proposal's "
                         f"rates (|s a| <= {MAX_TILT_EXPONENT:g} per jump); use a smaller |s|")
    pieces = split(system.pieces)
    increments = [a for a in definition.increments for _ in range(SUBPIECES)]
    gauges, log_backward = backward_functions(system, pieces, increments, definition, s)
    tilted_pieces = []
    for piece, a, (basis, root, inverse_root) in zip(pieces, increments, gauges):
        tilted_pieces.append(Piece(piece.hamiltonian, [
            replace(c, operator=math.exp(-s * k / 2) * (
                basis @ root @ _clean(basis.conj().T @ c.operator @ basis) @ inverse_root @ basis.conj().T))
            for c, k in zip(piece.channels, a)], piece.duration))
    log_p0, vectors = tilted.log_start(system)
    x = np.zeros(len(log_p0)) if definition.initial is None else np.nan_to_num(definition.initial)
    with np.errstate(invalid="ignore"):
        log_q = np.where(np.isfinite(log_p0), log_p0 - s * x + log_backward, -np.inf)
    q = np.exp(log_q - logsumexp(log_q))
    start = (vectors * q) @ vectors.conj().T
    return bare(system, tilted_pieces, start / np.trace(start).real)   # trace 1 to round-off


def _log_start(system: OpenSystem) -> np.ndarray:
    p, _ = open_sampling._start(system)
    with np.errstate(divide="ignore"):
        return np.log(p / p.sum())


def replays(systems: list[OpenSystem]) -> replay.Replays:
    """The stacked tables of ``systems`` (the plain one first) for ``replay.log_density``: per
    ensemble the eigenvalues of every piece's H_eff, the start states and the changes of eigenbasis
    in each piece's eigenbasis, and the kernel's own sparse jump entries; and, where one eigenbasis
    component is occupied at a time, the tables of the classical walk (``_classical_path``)."""
    tables = [s.kernel_tables() for s in systems]
    plain = systems[0]
    names = plain.channel_names
    channel_of = np.full((len(plain.pieces), len(names)), -1, np.int64)
    for n, piece in enumerate(plain.pieces):
        for k, c in enumerate(piece.channels):
            channel_of[n, names.index(c.name)] = k
    starts = tables[0].initial_vectors
    offsets = np.cumsum([0] + [t.jump_row.size for t in tables[:-1]])
    start = np.stack([starts @ t.left[0].T for t in tables])
    transfer = np.stack([np.concatenate([t.left[1:] @ t.right[:-1], t.right[-1:]]) for t in tables])
    jump_start = np.stack([t.jump_start + o for t, o in zip(tables, offsets)])
    jump_row = np.concatenate([t.jump_row for t in tables])
    jump_col = np.concatenate([t.jump_col for t in tables])
    jump_value = np.concatenate([t.jump_value for t in tables])
    eigenvalues = np.stack([t.eigenvalues for t in tables])
    log_start = np.stack([_log_start(s) for s in systems])
    last = transfer[:, -1]
    if tables[0].measure:
        final = np.abs(np.einsum("ja,eab->ejb", tables[0].final_projector, last)) ** 2
    else:
        final = np.zeros((len(tables),) + last.shape[1:])
        final[:, 0] = (np.abs(last) ** 2).sum(axis=1)
    with np.errstate(divide="ignore"):
        path = _classical_path(start, transfer, np.log(final), eigenvalues, log_start, channel_of,
                               jump_start, jump_row, jump_col, np.log(np.abs(jump_value) ** 2))
    d, ensembles = start.shape[1], len(tables)
    classical = path is not None
    if not classical:   # the coherent replay; empty tables of the classical one
        path = dict(path_start=np.zeros(d, np.int64), path_next=np.zeros(0, np.int64),
                    step_log=np.zeros((ensembles, 0)), start_log=np.zeros((ensembles, d)),
                    no_jump_rate=np.zeros((ensembles, 0)))
    return replay.Replays(
        eigenvalues=eigenvalues, start=start, transfer=transfer,
        jump_start=jump_start, jump_row=jump_row, jump_col=jump_col, jump_value=jump_value,
        log_start=log_start, channel_of=channel_of,
        durations=tables[0].durations, final_projector=tables[0].final_projector,
        measure=bool(tables[0].measure), log_initial=tables[0].log_initial, log_final=tables[0].log_final,
        classical=classical, **path)


def _classical_path(start, transfer, final_log, eigenvalues, log_start, channel_of, jump_start, jump_row,
                    jump_col, jump_log) -> dict | None:
    """The tables of the classical replay (``replay.Replays``: path_start, path_next, step_log,
    start_log, no_jump_rate), or None where it does not apply: a start state, change of basis or
    jump reaching two components (coherences), or ensembles whose component paths differ.

    Components are labelled as in the plain ensemble: sigma[e, n, a] is ensemble e's component of
    the plain one's component a in piece n, followed from the start states along the changes of
    basis (each a permutation of components; ``np.linalg.eig`` may order each ensemble's
    eigenvalues differently).  A jump of slot c from component a then lands on the same component
    in every ensemble that has it (checked; an ensemble without it has ln 0 = -inf there).
    ``final_log``: (E, d, d) ln |<j|R_last|a>|^2 (row 0 without the final measurement)."""
    ensembles, pieces, d = eigenvalues.shape
    slots = channel_of.shape[1]
    start_to, start_log, start_ok = _monomial(np.swapaxes(start, 1, 2))   # per start state i
    transfer_to, transfer_log, transfer_ok = _monomial(transfer[:, :-1])  # per component
    if not (start_ok and transfer_ok and _permutations(start_to) and _permutations(transfer_to)):
        return None
    sigma = np.empty((ensembles, pieces, d), np.int64)
    sigma[:, 0, start_to[0]] = start_to
    for n in range(pieces - 1):
        sigma[:, n + 1, transfer_to[0, n]] = np.take_along_axis(transfer_to[:, n], sigma[:, n], axis=1)
    inverse = np.argsort(sigma, axis=-1)
    # each ensemble's jumps, (E, P, slots, d) in its own labels, then in the plain ones
    own_to = np.full((ensembles, pieces, slots, d), -1, np.int64)
    own_log = np.full((ensembles, pieces, slots, d), -np.inf)
    for e, n, c in np.ndindex(ensembles, pieces, slots):
        k = channel_of[n, c]
        if k < 0:
            continue
        entries = slice(jump_start[e, n, k], jump_start[e, n, k + 1])
        if np.unique(jump_col[entries]).size != jump_col[entries].size:
            return None
        own_to[e, n, c, jump_col[entries]] = jump_row[entries]
        own_log[e, n, c, jump_col[entries]] = jump_log[entries]
    relabel = sigma[:, :, None, :].repeat(slots, axis=2)
    to = np.take_along_axis(own_to, relabel, axis=-1)
    to = np.where(to >= 0, np.take_along_axis(inverse[:, :, None, :].repeat(slots, axis=2),
                                              np.maximum(to, 0), axis=-1), -1)
    jump_next = to.max(axis=0)
    if np.any((to >= 0) & (to != jump_next)):
        return None
    steps = (np.take_along_axis(own_log, relabel, axis=-1).reshape(ensembles, -1),
             np.take_along_axis(transfer_log, sigma[:, :-1], axis=-1).reshape(ensembles, -1),
             np.take_along_axis(final_log, sigma[:, -1:], axis=-1).reshape(ensembles, -1))
    return dict(path_start=start_to[0],
                path_next=np.concatenate([jump_next.ravel(), transfer_to[0].ravel(), np.full(d * d, -1)]),
                step_log=np.ascontiguousarray(np.concatenate(steps, axis=1)),
                start_log=log_start + start_log,
                no_jump_rate=2.0 * np.take_along_axis(eigenvalues.imag, sigma, axis=-1).reshape(ensembles, -1))


def _permutations(to) -> bool:
    """Every row (last axis) of ``to`` is a permutation of 0 .. d - 1."""
    return bool(np.all(np.sort(to, axis=-1) == np.arange(to.shape[-1])))


def _monomial(matrices) -> tuple[np.ndarray, np.ndarray, bool]:
    """(to, ln |entry|^2, ok) per column a of each matrix (..., d, d): the row of its one entry above
    ROUND_OFF x the matrix's largest (-1 and -inf for an empty column); ok: no column has two."""
    scale = np.abs(matrices).max(axis=(-2, -1), keepdims=True)
    kept = np.abs(matrices) > generating.ROUND_OFF * scale
    entries = kept.sum(axis=-2)
    to = np.where(entries == 1, np.argmax(kept, axis=-2), -1)
    chosen = np.take_along_axis(matrices, np.maximum(to, 0)[..., None, :], axis=-2)[..., 0, :]
    with np.errstate(divide="ignore"):
        log = np.where(to >= 0, np.log(np.abs(chosen) ** 2), -np.inf)
    return to.astype(np.int64), log, bool(np.all(entries <= 1))


def open_system_of(spec) -> OpenSystem:
    """``spec`` itself, or the OpenSystem it compiles to (``FloquetSystem.open_system()``)."""
    compiled = getattr(spec, "open_system", None)
    return compiled() if callable(compiled) else spec


@dataclass(frozen=True, eq=False)
class JumpTilted(Tilted):
    """An open system sampled plain and under the proposal unravellings of the tilts ``tilts`` of
    ``observable`` (module docstring), per direction (the reverse direction: the time-reversed
    protocol ``OpenSystem.reversed`` with its own proposals, tilts ``reverse_tilts`` when given);
    ``target``/``relative_variance`` as in ``tilting.Tilted``."""

    def __post_init__(self):
        object.__setattr__(self, "tilts", _ladder(self.tilts))
        if self.reverse_tilts is not None:
            object.__setattr__(self, "reverse_tilts", _ladder(self.reverse_tilts))
        generating.counted(self.system, self.observable)  # ValueError naming a missing observable
        tables = getattr(self.spec, "kernel_tables", None)
        if callable(tables) and tables().retrodict:
            # the replayed record's start is a retrodicted LABEL, not the start vector drawn
            name = type(self.spec).__name__
            raise ValueError(
                f"{name} cannot be tilted: its trajectories start unmeasured (its tables follow the "
                f"Bloch vector of the coherent start) and their start labels are retrodicted, so a "
                f"record cannot be replayed under another unravelling; tilt its Floquet-frame "
                f"system instead (measured start): mt.sample(spec.open_system(), n, seed, tilt=...)")

    @property
    def system(self) -> OpenSystem:
        """The OpenSystem sampled (a FloquetSystem's Floquet-frame system)."""
        return open_system_of(self.spec)

    def directions(self, reverse: bool) -> list[str]:
        return self.system.directions(reverse)

    @staticmethod
    def jarzynski_beta(system) -> float | None:
        """beta of the Jarzynski row when ``system`` states it (``_declared_rows``), else None."""
        rows = _declared_rows(open_system_of(system))
        return next((beta for check, _, beta, _ in rows if check == "jarzynski"), None)

    # --- the ensembles of each direction (computed once) -------------------------------------------
    def protocol(self, direction: str) -> OpenSystem:
        """The open system that ``direction`` samples (``OpenSystem.protocol``)."""
        return self.system.protocol(direction)

    def systems_of(self, direction: str) -> list[OpenSystem]:
        """The plain protocol of ``direction`` (bare, split like the proposals) and one proposal
        per tilt of that direction."""
        def compute():
            protocol = self.protocol(direction)
            systems = [bare(protocol, split(protocol.pieces))]
            for s in self.tilts_of(direction):
                systems.append(proposal(protocol, self.observable, s))
                jumps = systems[-1].layout().max_count
                if jumps > MAX_PROPOSAL_JUMPS:     # a runaway, not a run
                    raise ValueError(
                        f"tilt {self.observable}={s:g} is too strong for this system: its proposal "
                        f"makes up to {jumps:.3g} jumps a trajectory ({direction}; plain: "
                        f"{protocol.layout().max_count}), more than {MAX_PROPOSAL_JUMPS:.0e}; use a "
                        f"smaller |s|")
            return systems
        return self._cached(f"systems_{direction}", compute)

    def replays_of(self, direction: str) -> replay.Replays:
        return self._cached(f"replays_{direction}", lambda: replays(self.systems_of(direction)))

    def lattice(self, direction: str) -> tuple[float, int] | None:
        """(unit, half width) of X's atoms when X lies on a lattice (heat of a lattice bath, a jump
        count), the width covering every ensemble's law; else None."""
        def compute():
            systems = self.systems_of(direction)
            if self.observable.startswith("jumps_"):
                return 1.0, max(s.layout().max_count for s in systems)
            if self.observable.startswith("heat_"):
                return _bath_lattice(systems, self.observable[5:])
            return None
        return self._cached(f"lattice_{direction}", compute)

    def work_cells(self, direction: str) -> tuple[int, float, int] | None:
        """(bath index, unit, half width) of the cells (i, j, heat lattice index) whose reweighted
        law gives the work law of the Crooks row (every ensemble's law covered), when Crooks holds
        (``open_theorems.crooks_reason``: one bath, Gibbs start, detailed balance) and the bath's
        heat lies on a lattice of at most MAX_WORK_CELLS cells; else None."""
        def compute():
            if crooks_reason(self.system) is not None:
                return None
            (bath,) = self.system.bath_names
            lattice = _bath_lattice(self.systems_of(direction), bath)
            if lattice is None or self.system.dimension ** 2 * (2 * lattice[1] + 1) > MAX_WORK_CELLS:
                return None
            return (0, *lattice)
        return self._cached(f"cells_{direction}", compute)

    def _kind(self, direction: str) -> tuple[int, int]:
        system = self.protocol(direction)
        if self.observable.startswith("heat_"):
            return replay.HEAT, system.bath_names.index(self.observable[5:])
        if self.observable.startswith("jumps_"):
            return replay.JUMPS, system.channel_names.index(self.observable[6:])
        return (replay.WORK, 0) if self.observable == "work" else (replay.ENTROPY_PRODUCTION, 0)

    def _rows(self, direction: str) -> list[tuple[str, str, float, float]]:
        """(check, observable, beta, expected) of the reweighted rows of the plain declaration; where
        Crooks holds (``crooks_reason``) also ("crooks", "work", beta / 2, NaN): the midpoint
        average <e^{-beta W / 2}> of each direction, of the exact-variance Crooks row."""
        def compute():
            rows = _declared_rows(self.protocol(direction))
            beta = next((b for check, _, b, _ in rows if check == "jarzynski"), None)
            if beta is not None and crooks_reason(self.system) is None:
                rows.append(("crooks", "work", beta / 2, np.nan))
            return rows
        return self._cached(f"rows_{direction}", compute)

    # --- the Model interface ---------------------------------------------------------------------
    def steps_per_trajectory(self) -> float:
        tilts = max(len(self.tilts), len(self.tilts_of("reverse")))
        return self.spec.steps_per_trajectory() * (1 + 2 * tilts) + 1

    def check_tables_feasible(self) -> None:
        self.spec.check_tables_feasible()

    def prepare(self, direction: str) -> None:
        """The plain system's exact work, the proposals, their tables and the lattice of X: before
        the first chunk (and before the spec is shipped to Dask workers)."""
        self.spec.prepare(direction)
        for system in self.systems_of(direction):
            system.kernel_tables()
        self.replays_of(direction), self.lattice(direction), self.work_cells(direction), self._rows(direction)

    def accumulate(self, direction, seed, first, count):
        """One pass per ensemble (``replay.weighted``): the plain ensemble is drawn with the plain
        protocol's own tables and stream (its accumulators are those of a plain run, bit for bit),
        each proposal with its own; every trajectory is tallied and replayed under every ensemble."""
        lattice = self.lattice(direction)
        unit, half_width = lattice if lattice is not None else (1.0, -1)
        cells = self.work_cells(direction)
        cell_bath, cell_unit, cell_half_width = cells if cells is not None else (0, 1.0, -1)
        kind, index = self._kind(direction)
        rows = self._rows(direction)
        exponents = np.array([[0.0, 0.0]] + [[beta, 0.0] if name == "work" else [0.0, beta]
                                             for _, name, beta, _ in rows])
        blocks = -(-count // self.block_size)
        groups = max(1, min(blocks, numba.get_num_threads()))
        out = {}
        for e, system in enumerate(self.systems_of(direction)):
            tables = (self.protocol(direction) if e == 0 else system).kernel_tables()
            stream = STREAMS[direction] if e == 0 else self.stream(direction, e - 1)
            plain, (sums, atoms, work_cells, outside, unreplayed) = replay.weighted(
                tables, self.replays_of(direction), seed, stream, first, count, self.block_size, groups,
                kind, index, unit, half_width, exponents, 2 * tables.max_count + 16, cell_bath, cell_unit,
                cell_half_width, e)
            moments, floats, joint, joint_overflow, histogram, overflow, exponential, _ = plain
            own = {"moments": moments, "floats": floats, "joint": joint,
                   "joint_overflow": np.array([joint_overflow]), "count_histogram": histogram,
                   "count_overflow": overflow}
            if e == 0:
                out.update(own, exponential=exponential)
            else:   # the exponential sums of a proposal are not those of the target: not passed on
                out.update({f"tilted_{e - 1}_{key}": value for key, value in own.items()})
            out[f"weighted_{e}_sums"], out[f"weighted_{e}_atoms"] = sums, atoms
            out[f"weighted_{e}_cells"] = work_cells
            out[f"weighted_{e}_lost"] = np.array([outside, unreplayed], np.int64)
        return out

    def samples(self, direction, seed, first, count):
        """Rows of every ensemble (the plain system's columns, work and entropy_production of the
        plain process), ``tilt`` ("" plain), ``log_weight``: ln of the mixture weight w (the weight
        of the trajectory in the reweighted law and the Crooks row; NaN if it was not replayed) and
        ``log_own_weight``: ln r = ln p_plain / p_e of its own ensemble e (the weight in that
        ensemble's own estimate of the exact-variance rows, ``_exact_row``)."""
        frames = [self.spec.samples(direction, seed, first, count).assign(tilt="")]
        systems = self.systems_of(direction)
        plain = systems[0].kernel_tables()
        tilts = self.tilts_of(direction)
        for e, system in enumerate(systems):
            tables = (self.protocol(direction) if e == 0 else system).kernel_tables()
            stream = STREAMS[direction] if e == 0 else self.stream(direction, e - 1)
            weights = replay.log_weights(tables, self.replays_of(direction), seed, stream, first, count,
                                         2 * tables.max_count + 16, e)
            if e == 0:
                frames[0]["log_weight"], frames[0]["log_own_weight"] = weights[:, 0], weights[:, 1]
                continue
            labels, counts, heat, values = lindblad.samples(tables, seed, stream, first, count)
            frame = {"trajectory": np.arange(first, first + count)}
            if system.measure_energy:
                i, j = labels[:, 0], labels[:, 1]
                frame.update(initial_level=i, final_level=j)
            frame.update({f"jumps_{name}": counts[:, c] for c, name in enumerate(system.channel_names)})
            frame.update({f"heat_{bath}": heat[:, b] for b, bath in enumerate(system.bath_names)})
            frame.update({f"particles_{bath}": counts @ into
                          for bath, into in self.protocol(direction).particles_per_jump().items()})
            if system.measure_energy:  # the plain process's sigma
                sigma = (values[:, 1] + plain.log_initial[i] - tables.log_initial[i]
                         - plain.log_final[j] + tables.log_final[j])
                frame.update(work=values[:, 0], entropy_production=sigma)
            frames.append(pd.DataFrame(frame).assign(tilt=tilt_label(self.observable, [tilts[e - 1]]),
                                                     log_weight=weights[:, 0], log_own_weight=weights[:, 1]))
        return pd.concat(frames, ignore_index=True)

    def results(self, accumulators):
        plain = self.spec.results({d: {k: v for k, v in acc.items()
                                       if not k.startswith(("tilted_", "weighted_"))}
                                   for d, acc in accumulators.items()})
        tilted_parts = {}
        for direction, acc in accumulators.items():
            for k, (s, system) in enumerate(zip(self.tilts_of(direction), self.systems_of(direction)[1:])):
                # the proposal is sampled as a forward protocol of its own
                own = system.results({"forward": {key[len(f"tilted_{k}_"):]: value for key, value
                                                  in acc.items() if key.startswith(f"tilted_{k}_")}})
                part = own.directions["forward"]
                if part.integral_ft is not None and not isinstance(part.integral_ft, str):
                    part = replace(part, integral_ft=PROPOSAL_THEOREMS)
                tilted_parts.setdefault(tilt_label(self.observable, [s]), {})[direction] = part
        rows, laws, work_laws, midpoints = [], [], {}, {}
        for direction, acc in accumulators.items():
            ensembles = len(self.systems_of(direction))
            sums = [np.asarray(acc[f"weighted_{e}_sums"]) for e in range(ensembles)]
            n = np.full(ensembles, float(acc["joint"].sum() + acc["joint_overflow"].sum()))
            lost = sum(int(acc[f"weighted_{e}_lost"][1]) for e in range(ensembles))
            for q, (check, name, beta, expected) in enumerate(self._rows(direction), start=1):
                variances = self.relative_variances(direction, name, beta)
                if check == "crooks":
                    if variances is not None:
                        midpoints[direction] = _own_estimate(sums, q, n, variances) + (lost, n[0])
                    continue
                if variances is not None:
                    rows.append(_exact_row(check, direction, name, beta, expected, sums, q, n, lost,
                                           variances))
                    continue
                row = _row(check, direction, name, beta, expected, sums, q, n, lost)
                if name != self.observable and row["verdict"] != "inconclusive":
                    row = _checks._unless(UNTARGETED.format(x=self.observable, y=name, beta=beta), row)
                elif row["verdict"] != "inconclusive":
                    row = _checks._unless(self._reach_problem(direction, beta, int(n[0])), row)
                rows.append(row)
            if self.lattice(direction) is not None:
                laws.append(self._law(direction, acc, sums, n))
            if self.work_cells(direction) is not None:
                work_laws[direction] = self._work_law(direction, acc, sums, n)
        if set(midpoints) == {"forward", "reverse"} and isinstance(plain.bar_crooks, tuple):
            rows.append(_exact_crooks_row(midpoints["forward"], midpoints["reverse"], *plain.bar_crooks))
        elif set(work_laws) == {"forward", "reverse"} and isinstance(plain.bar_crooks, tuple):
            beta, free_energy_change = plain.bar_crooks
            total = int(sum((acc["joint"].sum() + acc["joint_overflow"].sum()) * len(self.systems_of(d))
                            for d, acc in accumulators.items()))
            rows.append({**crooks_row(work_laws["forward"], work_laws["reverse"], beta,
                                      free_energy_change, total), "beta": beta})
        for row in rows:
            row.setdefault("relative_variance_apriori", self.relative_variance)
            row.update(tilt=tilt_label(self.observable, self.tilts_of(
                "forward" if row["direction"] == "both" else row["direction"])) + "(reweighted)")
        extra = dict(plain.extra_tables)
        extra["reweighted"] = (pd.concat(laws, ignore_index=True) if laws
                               else pd.DataFrame(columns=REWEIGHTED_COLUMNS))
        tilted_results = {label: Results(parts) for label, parts in tilted_parts.items()}
        return type(plain)(plain.directions, bar_crooks=plain.bar_crooks, extra_tables=extra,
                           tilted=tilted_results, extra_checks=rows)

    def relative_variances(self, direction: str, observable: str, t: float) -> np.ndarray | None:
        """Per ensemble of ``direction`` (plain first) the exact relative variance of ONE of its
        trajectories' importance-weighted value (p_plain / p_e) e^{-t X} (``exact.importance``:
        E_e[(p_plain/p_e)^2 e^{-2tX}] / G(t)^2 - 1; inf when the proposal misses records of the
        plain process), or None when an ensemble's unravelling is not classical."""
        def compute():
            systems = self.systems_of(direction)
            plain = systems[0]
            definition = generating.counted(plain, observable)
            log_g = float(generating.log_generating_function(self.protocol(direction), observable, t))
            values = [importance.relative_variance(plain, system, definition, t, log_g) for system in systems]
            return None if any(v is None for v in values) else np.array(values, dtype=float)
        return self._cached(f"variances_{direction}_{observable}_{t!r}", compute)

    def row_relative_variance(self, direction: str, observable: str, t: float) -> float | None:
        """The a-priori relative variance of the reweighted estimate of <e^{-t X}> (``_exact_row``)
        times the trajectories per ensemble: 1 / sum_e 1 / v_e over the ensembles' exact relative
        variances v_e; None when they are not computed (not classical)."""
        variances = self.relative_variances(direction, observable, t)
        if variances is None:
            return None
        with np.errstate(divide="ignore"):
            return float(1.0 / np.sum(1.0 / variances))

    def _reach_problem(self, direction, target, trajectories) -> str:
        """Why the ladder cannot judge <e^{-target X}> ('' when it can): even the best rung s has an
        a-priori relative variance v(s) = G(s) G(2 target - s) / G(target)^2 - 1 (that of the exact
        Doob transform at s alone; exact G) above trajectories x MAX_RELATIVE_STDERR^2 -- the rungs
        stop short of the paths that carry the average, and a stderr from the data cannot see
        them (a ladder up to s = 1 for beta = 2 put a correct sampler's Jarzynski row at z = 4.2)."""
        def log_g(s):
            return float(self.spec.log_generating_function(self.observable, s, direction))
        rungs = (0.0, *self.tilts_of(direction))
        variances = [math.expm1(min(log_g(s) + log_g(2 * target - s) - 2 * log_g(target), 700.0))
                     for s in rungs]
        best = int(np.argmin(variances))
        if variances[best] <= trajectories * exponential.MAX_RELATIVE_STDERR ** 2:
            return ""
        return (f"the rungs stop short of <e^(-{target:g} {self.observable})>: the best, s = {rungs[best]:g}, "
                f"has a-priori relative variance {variances[best]:.3g} > {trajectories} x "
                f"{exponential.MAX_RELATIVE_STDERR:g}^2 (a ladder toward s = {target:g}: tilt='auto')")

    def _law(self, direction, acc, sums, n) -> pd.DataFrame:
        """Per atom of X: the self-normalised reweighted probability with its stderr (NaN where the
        atom's effective sample size (sum w)^2 / sum w^2 is below checks.MIN_EFFECTIVE_SAMPLES), and
        the exact probability from the tilted DFT."""
        unit, half_width = self.lattice(direction)
        atoms = [logsumexp(np.asarray(acc[f"weighted_{e}_atoms"]), axis=0) for e in range(len(n))]
        law = _AtomEstimate(sums, np.array([a[:, 0] for a in atoms]), np.array([a[:, 1] for a in atoms]), n)
        stderr = np.where(law.effective_sizes >= _checks.MIN_EFFECTIVE_SAMPLES,
                          np.sqrt(law.variances), np.nan)
        p = law.p
        values = unit * np.arange(-half_width, half_width + 1)
        exact = np.exp(exact_log_law(self.protocol(direction), self.observable, unit, half_width,
                                     (0.0, *self.tilts_of(direction))))
        keep = (p > 0) | (exact > 0)
        return pd.DataFrame({"direction": direction, "observable": self.observable,
                             "value": values[keep], "probability": p[keep],
                             "stderr": np.where(p[keep] > 0, stderr[keep], np.nan),
                             "probability_exact": exact[keep]})

    def _work_law(self, direction, acc, sums, n) -> WorkLaw:
        """The reweighted work law of ``direction`` from the weighted cells (i, j, m): W = E_j - E_i
        + unit m (energy given to the bath, G0), cells of equal work merged; atoms whose effective
        sample size is below checks.MIN_EFFECTIVE_SAMPLES get an infinite variance (never paired)."""
        _, unit, half_width = self.work_cells(direction)
        protocol = self.protocol(direction)
        e_initial, e_final = tilted.initial_basis(protocol)[0], tilted.final_basis(protocol)[0]
        i, j, m = np.meshgrid(np.arange(len(e_initial)), np.arange(len(e_final)),
                              np.arange(-half_width, half_width + 1), indexing="ij")
        values, inverse = lattice_groups((e_final[j] - e_initial[i] + unit * m).ravel())
        cells = [logsumexp(np.asarray(acc[f"weighted_{e}_cells"]), axis=0) for e in range(len(n))]
        grouped = [np.array([log_group_sum(inverse, c[:, column], values.size) for c in cells])
                   for column in (0, 1)]
        law = _AtomEstimate(sums, grouped[0], grouped[1], n)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_variance = np.where((law.p > 0) & (law.effective_sizes >= _checks.MIN_EFFECTIVE_SAMPLES),
                                    law.variances / law.p ** 2, np.inf)
            log_p = np.where(law.p > 0, np.log(law.p), -np.inf)
        return WorkLaw(values, log_p, log_variance, law.log_covariance)


class _AtomEstimate:
    """The self-normalised reweighted probabilities p_a = sum w 1_a / sum w of disjoint atoms a
    from E ensembles of n_e trajectories each, and their stratified delta-method covariance:
    with X_a = w (1_a - p_a), Cov(p_a, p_b) = sum_e n_e Cov_e(X_a, X_b) / (sum w)^2, where, atoms
    being disjoint, n_e E_e[X_a X_b] = delta_ab S2_a - p_b S2_a - p_a S2_b + p_a p_b W2 and
    n_e E_e[X_a] = S1_a - p_a W1 (S1_a, S2_a: sums of w and w^2 over the atom; W1, W2: over all).
    ``sums``: each ensemble's weighted sums (row 0: ln sum w, ln sum w^2); ``log_s1``/``log_s2``:
    (E, atoms)."""

    def __init__(self, sums, log_s1, log_s2, n):
        log_w1 = np.array([logsumexp(s[:, 0, 0]) for s in sums])
        log_w2 = np.array([logsumexp(s[:, 0, 1]) for s in sums])
        log_norm = logsumexp(log_w1)
        self.n = np.asarray(n, float)
        self.w1, self.w2 = np.exp(log_w1 - log_norm), np.exp(log_w2 - 2 * log_norm)
        self.s1, self.s2 = np.exp(log_s1 - log_norm), np.exp(log_s2 - 2 * log_norm)
        self.p = self.s1.sum(axis=0)
        with np.errstate(invalid="ignore"):
            self.effective_sizes = np.exp(2 * logsumexp(log_s1, axis=0) - logsumexp(log_s2, axis=0))

    def _covariance(self, a, b) -> np.ndarray:
        p, s1, s2 = self.p, self.s1, self.s2
        w1, w2, n = self.w1[:, None, None], self.w2[:, None, None], self.n[:, None, None]
        pa, pb = p[a][None, :, None], p[b][None, None, :]
        s2a, s2b = s2[:, a][:, :, None], s2[:, b][:, None, :]
        same = (a[:, None] == b[None, :])[None]
        second = np.where(same, s2a, 0.0) - pb * s2a - pa * s2b + pa * pb * w2
        mean_a = s1[:, a][:, :, None] - pa * w1
        mean_b = s1[:, b][:, None, :] - pb * w1
        return np.sum(second - mean_a * mean_b / n, axis=0)

    @property
    def variances(self) -> np.ndarray:
        """Var(p_a) of every atom."""
        p, w1, w2, n = self.p[None], self.w1[:, None], self.w2[:, None], self.n[:, None]
        second = (1 - 2 * p) * self.s2 + p ** 2 * w2
        return np.maximum(np.sum(second - (self.s1 - p * w1) ** 2 / n, axis=0), 0.0)

    def log_covariance(self, atoms) -> np.ndarray:
        """Cov(ln p_a, ln p_b) over ``atoms``."""
        atoms = np.asarray(atoms)
        p = self.p[atoms]
        return self._covariance(atoms, atoms) / (p[:, None] * p[None, :])


def _bath_lattice(systems, bath) -> tuple[float, int] | None:
    """(unit, half width) of ``bath``'s heat lattice covering every system's law, or None when its
    heat is not on a lattice."""
    unit = systems[0].lattice_unit(bath)
    if unit is None or unit == 0:
        return None
    return unit, max(s.layout().half_widths[bath] if bath in s.layout().half_widths
                     else open_sampling.lattice_half_width(s, bath, unit) for s in systems)


#: the reason of a reweighted row whose observable is not the tilted one: the proposals reach the
#: paths that carry <e^{-s X}>, not necessarily those of <e^{-beta Y}> (sigma and beta (W - dF) differ
#: by ln p~(j) / p_Gibbs(j): a work ladder misses sigma's tail where the final state is far from
#: Gibbs, and the data's stderr cannot see paths no ensemble drew -- a correct sampler failed at
#: z = 5 to 6), so its estimate is shown but not judged
UNTARGETED = ("the tilts of {x} reach the paths that carry <e^(-s {x})>, not necessarily those of "
              "<e^(-{beta:g} {y})>: not judged (tilt {y} for this row)")

#: the integral FT row of a proposal's own tables: its exponential sums are not accumulated (the
#: fused pass sums the plain process's e^{-sigma} over every ensemble instead)
PROPOSAL_THEOREMS = ("a proposal's own <e^(-sigma)> is not accumulated: the reweighted rows "
                     "(tilt ...(reweighted)) test the fluctuation theorems")

#: largest number of work cells (i, j, heat lattice index) of the Crooks row's reweighted work law
MAX_WORK_CELLS = 2**16


def _declared_rows(system) -> list[tuple[str, str, float, float]]:
    """The reweighted rows of ``system``: (check, observable, beta, expected -ln<e^{-beta X}>/beta).
    Jarzynski when there is one bath (no particles, finite beta), the start is its Gibbs state of
    the first Hamiltonian and the exact ln G_W(beta) equals -beta dF (to 1e-9); the integral FT
    whenever sigma is defined, expected the exact -ln<e^{-sigma}> (never assumed 0)."""
    if not system.measure_energy:
        return []
    rows = []
    if len(system.baths) == 1:
        (bath,) = system.baths.values()
        if (not bath.zero_temperature and not any(c.particles for p in system.pieces for c in p.channels)):
            beta = bath.beta
            e_initial, vectors = tilted.initial_basis(system)
            e_final = tilted.final_basis(system)[0]
            log_z0 = logsumexp(-beta * e_initial)
            gibbs = (vectors * np.exp(-beta * e_initial - log_z0)) @ vectors.conj().T
            delta_f = -(logsumexp(-beta * e_final) - log_z0) / beta
            if (np.abs(system.initial - gibbs).max() <= 1e-10 and abs(
                    generating.log_generating_function(system, "work", beta) + beta * delta_f) <= 1e-9):
                rows.append(("jarzynski", "work", beta, float(delta_f)))
    if generating.entropy_production_reason(system) is None:
        rows.append(("integral_ft", "entropy_production", 1.0,
                     0.0 - zero_within_round_off(generating.log_generating_function(system, "entropy_production", 1.0))))
    return rows


def _row(check, direction, name, beta, expected, sums, q, n, lost) -> dict:
    """-ln<e^{-beta X}>/beta from the self-normalised mixture estimate; stderr from the data
    (stratified delta method); inconclusive by ``checks.power_problem`` (effective sample size
    of w A, power to see DETECTABLE_KT)."""
    total = [logsumexp(np.asarray(s)[:, q, :], axis=0) for s in sums]   # per e: ln S(wA), S(w²A²), S(w²A)
    ones = [logsumexp(np.asarray(s)[:, 0, :], axis=0) for s in sums]    # per e: ln S(w), S(w²), S(w²)
    log_num = logsumexp([t[0] for t in total])
    log_den = logsumexp([o[0] for o in ones])
    log_r = log_num - log_den                                             # ln <A>
    # u = w (A - R) / sum w: per ensemble E[u^2] - E[u]^2, scaled by the largest term
    shift = max(max(t[1] for t in total), 2 * log_r + max(o[1] for o in ones), log_r + max(t[2] for t in total))
    variance = 0.0
    for t, o, size in zip(total, ones, n):
        second = (np.exp(t[1] - shift) - 2 * np.exp(log_r + t[2] - shift)
                  + np.exp(2 * log_r + o[1] - shift)) / size
        first_moment = (np.exp(t[0] - shift / 2) - np.exp(log_r + o[0] - shift / 2)) / size
        variance += size * max(second - first_moment ** 2, 0.0)
    relative = math.sqrt(variance) * math.exp(shift / 2 - log_den - log_r)   # stderr of <A> / <A>
    ess = math.exp(2 * log_num - logsumexp([t[1] for t in total]))
    size = int(n.sum())
    est = Estimate.normal(-log_r / beta, relative / beta, size)
    z = est.z(expected) if np.isfinite(expected) else np.nan
    judged = _checks._judged(check, direction, name, est, expected, z, stderr_source="data",
                             effective_sample_size=ess)
    problem = _checks.power_problem(est.stderr, np.nan, beta, ess)
    if lost:
        problem = problem or f"{lost} trajectories had more jumps than the replay buffer"
    return _checks._unless(problem, judged)


#: smallest relative variance of an ensemble's own estimate kept as such: below it the ensemble is
#: the exact Doob transform at the row's own exponent (every weighted value equals G: the row would
#: repeat the exact number, not test the sampler)
ZERO_VARIANCE = 1e-12
ZERO_VARIANCE_REASON = ("an ensemble is the exact Doob transform at this row's exponent (zero "
                        "variance): the row would repeat the exact G, not test the sampler")


def _exact_row(check, direction, name, beta, expected, sums, q, n, lost, variances) -> dict:
    """-ln<e^{-beta X}>/beta from each ensemble's own importance-sampling estimate
    G_e = sum over its n_e trajectories of (p_plain / p_e) A / n_e (unbiased; no normalisation
    from the data, no exact G) combined with the weights c_e proportional to n_e / v_e (v_e: the exact
    relative variance of one trajectory, ``JumpTilted.relative_variances``), so that the estimate's
    variance is exactly G^2 / sum_e n_e / v_e, known before sampling: the z-score's stderr is that
    a-priori one (``stderr_source = "exact"``), never the sample's; ``effective_sample_size`` is the
    a-priori 1 / relative variance; inconclusive by ``checks.power_problem`` (power to see
    DETECTABLE_KT), which covers a row whose paths the ladder does not reach (its exact variance is
    huge)."""
    log_g, relative, size = _own_estimate(sums, q, n, variances)
    if relative == 0:
        return _checks.row(check, direction, name, verdict="inconclusive", reason=ZERO_VARIANCE_REASON,
                           expected=expected, trajectories=size)
    est = Estimate.normal(-log_g / beta, math.sqrt(relative) / beta, size)
    z = est.z(expected) if np.isfinite(expected) else np.nan
    judged = _checks._judged(check, direction, name, est, expected, z, stderr_source="exact",
                             effective_sample_size=1.0 / relative, relative_variance_apriori=float(relative * n[0]))
    problem = _checks.power_problem(est.stderr, np.nan, beta)
    if lost:
        problem = problem or f"{lost} trajectories had more jumps than the replay buffer"
    return _checks._unless(problem, judged)


def _own_estimate(sums, q, n, variances) -> tuple[float, float, int]:
    """(ln G-hat, its exact relative variance, trajectories) of row q from the ensembles' own
    estimates G_e (column 3 of the weighted sums) weighted by n_e / v_e (``_exact_row``); relative
    variance 0 when an ensemble has (round-off) zero variance (``ZERO_VARIANCE``)."""
    n = np.asarray(n, float)
    variances = np.asarray(variances, float)
    if np.any(variances < ZERO_VARIANCE):
        return math.nan, 0.0, int(n.sum())
    with np.errstate(divide="ignore"):
        precision = n / variances                    # 0 for an ensemble with infinite variance
    relative = 1.0 / precision.sum()                 # Var(G-hat) / G^2, exact
    own = np.array([logsumexp(np.asarray(s)[:, q, 3]) for s in sums]) - np.log(n)   # ln G_e
    with np.errstate(divide="ignore"):
        log_g = float(logsumexp(own, b=precision * relative))
    return log_g, float(relative), int(n.sum())


def _exact_crooks_row(forward, reverse, beta, expected) -> dict:
    """Crooks, P_F(W) / P_R(-W) = e^{beta (W - dF)}, at its midpoint: it implies
    G_R(beta/2) = e^{beta dF} G_F(beta/2) for G(s) = <e^{-s W}> (the two laws overlap most there), so
    dF-hat = (ln G_R(beta/2) - ln G_F(beta/2)) / beta from each direction's own exact-variance
    estimate (``_own_estimate``; ``forward``/``reverse``: its (ln G, relative variance,
    trajectories, lost, trajectories per ensemble)), with the exact stderr sqrt(v_F + v_R) / beta
    (independent directions)."""
    (log_f, relative_f, n_f, lost_f, per_f), (log_r, relative_r, n_r, lost_r, per_r) = forward, reverse
    size = n_f + n_r
    if relative_f == 0 or relative_r == 0:
        return _checks.row("crooks", "both", "work", verdict="inconclusive", reason=ZERO_VARIANCE_REASON,
                           expected=expected, trajectories=size, beta=beta)
    est = Estimate.normal((log_r - log_f) / beta, math.sqrt(relative_f + relative_r) / beta, size)
    z = est.z(expected) if np.isfinite(expected) else np.nan
    judged = _checks._judged("crooks", "both", "work", est, expected, z, stderr_source="exact",
                             effective_sample_size=1.0 / (relative_f + relative_r), beta=beta,
                             relative_variance_apriori=float(relative_f * per_f + relative_r * per_r))
    problem = _checks.power_problem(est.stderr, np.nan, beta)
    if lost_f or lost_r:
        problem = problem or f"{lost_f + lost_r} trajectories had more jumps than the replay buffer"
    return _checks._unless(problem, judged)


def exact_log_law(system, observable, unit, half_width, tilts) -> np.ndarray:
    """ln P(X = unit m), m = -half_width .. half_width, X a lattice observable (heat of a lattice
    bath, a jump count), by tilted DFTs: for each real tilt sigma in ``tilts`` the DFT over counting
    fields theta of sum_m P(m) e^{-sigma unit m + i theta m} gives P(m) e^{-sigma unit m}; per atom
    the sigma with the largest tilted value (relative accuracy, DFT_FLOOR) is multiplied back.
    The DFT runs over 3 half_width + 16 atoms each side (aliasing error: the tilted mass beyond
    them).  -inf where no tilt resolves the atom."""
    definition = generating.counted(system, observable)
    steps = [np.round(np.asarray(a) / unit) for a in definition.increments]
    wide = 3 * half_width + 16
    width = 2 * wide + 1
    theta = 2 * np.pi * np.arange(width) / width
    m = np.arange(-wide, wide + 1)
    best = np.full(width, -np.inf)
    best_tilted = np.full(width, -np.inf)
    for sigma in tilts:
        rows = []
        for start in range(0, width, tilted.BATCH):
            block = theta[start:start + tilted.BATCH]
            weights = [np.exp(np.outer(1j * block - sigma * unit, a)) for a in steps]
            rows.append(tilted.transfer(system, weights).sum(axis=(1, 2)))
        generating_values = np.concatenate(rows)
        law = np.roll(np.fft.fft(generating_values).real / width, wide)   # P(m) e^{-sigma unit m}
        scale = law.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            log_tilted = np.where(law > DFT_FLOOR * scale, np.log(np.maximum(law / scale, 1e-300)), -np.inf)
        better = log_tilted > best_tilted
        best_tilted = np.where(better, log_tilted, best_tilted)
        best = np.where(better, log_tilted + math.log(scale) + sigma * unit * m, best)
    return best[wide - half_width:wide + half_width + 1]


def is_jump_system(spec) -> bool:
    """An OpenSystem, or a system that compiles to one (FloquetSystem)."""
    return hasattr(spec, "kernel_tables") or hasattr(spec, "open_system")


ENGINES.append((is_jump_system, JumpTilted))
