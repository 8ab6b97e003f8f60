"""Exact generating functions G_X(s) = <e^{-s X}> of an open system's trajectory observables, in
log space (docs/observables.md, Open systems; hbar = k_B = 1, heat = energy INTO the system).

A trajectory observable is X = x(i) + y(j) + sum over jumps of a_k: i and j the outcomes of the
initial and final measurements, a_k the increment of one jump of channel k (``Counted``):

    work                 W = E_final(j) - E_initial(i) + sum_jumps omega_k     (first law, G0:
                         W = dE - sum_b (Q_b + mu_b N_b), each jump gives omega_k to its bath)
    heat_<bath>          Q_b = -sum over jumps of b's channels of (omega_k - mu_b nu_k)
    entropy_production   sigma = ln p0(i) - ln p_t(j) + sum_jumps beta_b (omega_k - mu_b nu_k)
    jumps_<channel>      the number of jumps of that channel

Then G_X(s) = sum_{i,j} p0(i) e^{-s x(i)} e^{-s y(j)} <j| Phi_{P-1} ... Phi_0 (|i><i|) |j> with
Phi_n = exp(L_n(s) tau_n), L_n(s) the Lindblad generator of piece n whose jump term of channel k is
weighted by e^{-s a_k} (the tilted generator).  Every start state |i><i| is propagated on its own,
piece by piece, in the eigenbasis of each piece's Hamiltonian (``log_transfer``); after every piece
its vector is renormalised and the logarithm of the scale accumulated; the generator is balanced
(an exact diagonal gauge; in log space first where its entries leave the float range,
``log_gauge``) and its exponential built by scaling and squaring with renormalisation
(``scaled_exponential``), so nothing overflows or underflows where ln G is finite.  The sum over
(i, j) is a log-sum-exp of ln p0(i) - s x(i) + ln <j|Phi(|i><i|)|j> - s y(j): the endpoint weights
(e.g. p0(i)^{1-s} of sigma) never meet in linear space.  No DFT, no floor: a path of probability
e^{-500} weighted e^{+500} counts fully.

p0 comes from ``tilted.log_start`` (log space: a declared Gibbs state gives ln p0 = -beta E - ln Z exactly,
full support at any beta) and p_t(j) = sum_i p0(i) P(j|i) from the untilted propagation of the
same start states (``log_final_populations``), so the sampler and every exact reference see the
same sigma.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm, matrix_balance
from scipy.special import logsumexp

from .tilted import counted_moments, final_basis, initial_basis, log_start

#: largest 1-norm of (generator x duration) exponentiated in one go: e^{30} cannot overflow, and
#: larger ones are halved k times and squared back with renormalisation
MAX_STEP_NORM = 30.0
#: ln of the largest jump weight x rate the tilted generator holds as it is (float64 max ~ e^{709.8});
#: beyond it the generator is written in a diagonal gauge (``log_gauge``)
MAX_LOG_ENTRY = 700.0


@dataclass(frozen=True)
class Counted:
    """X = initial[i] + final[j] + sum over jumps of increments[n][k] (piece n, channel k).
    ``initial``/``final`` None: no endpoint term.  Entries of ``final`` where the final outcome has
    probability zero (sigma with p_t(j) = 0) are nan: those outcomes never occur."""

    name: str
    increments: tuple
    initial: np.ndarray | None = None
    final: np.ndarray | None = None


def observables(system) -> list[str]:
    """The observables ``log_generating_function`` knows for this system, as named in the tables."""
    names = [f"jumps_{c}" for c in system.channel_names] + [f"heat_{b}" for b in system.bath_names]
    if system.measure_energy:
        names.append("work")
        if entropy_production_reason(system) is None:
            names.append("entropy_production")
    return names


def entropy_production_reason(system) -> str | None:
    """Why sigma is not defined for this system (None when it is)."""
    if not system.measure_energy:
        return "no two-point energy measurement (measure_energy=False)"
    for name, bath in system.baths.items():
        if bath.zero_temperature:
            return f"bath {name!r} is at zero temperature (beta = inf)"
    return None


def counted(system, observable: str) -> Counted:
    """How ``observable`` (a table name) is built from the measurement outcomes and the jumps;
    ValueError naming it when this system has no such observable."""
    if not isinstance(observable, str) or observable not in observables(system):
        reason = ""
        if observable == "entropy_production" and system.measure_energy:
            reason = f": {entropy_production_reason(system)}"
        elif observable in ("work", "entropy_production"):
            reason = ": no two-point energy measurement (measure_energy=False)"
        raise ValueError(f"this system has no observable {observable!r}{reason} (it has "
                         f"{', '.join(observables(system))})")

    def per_jump(increment):
        return tuple(np.array([increment(c) for c in piece.channels], dtype=float)
                     for piece in system.pieces)

    def heat_given(c):
        return c.energy - system.baths[c.bath].mu * c.particles

    if observable.startswith("jumps_") and observable[6:] in system.channel_names:
        name = observable[6:]
        return Counted(observable, per_jump(lambda c: float(c.name == name)))
    if observable.startswith("heat_") and observable[5:] in system.baths:
        bath = observable[5:]
        return Counted(observable, per_jump(lambda c: -heat_given(c) if c.bath == bath else 0.0))
    if observable == "work":
        return Counted(observable, per_jump(lambda c: c.energy),
                       -measurement_energies(system)[0], measurement_energies(system)[1])
    log_p0, _ = log_start(system)
    log_pt = log_final_populations(system)
    with np.errstate(invalid="ignore"):
        return Counted(observable, per_jump(lambda c: system.baths[c.bath].beta * heat_given(c)),
                       np.where(np.isfinite(log_p0), log_p0, np.nan),
                       np.where(np.isfinite(log_pt), -log_pt, np.nan))


def measurement_energies(system) -> tuple[np.ndarray, np.ndarray]:
    """(E_initial(i), E_final(j)): eigenvalues of the first and last Hamiltonians."""
    return initial_basis(system)[0], final_basis(system)[0]


def scaled_exponential(generator: np.ndarray, duration: float) -> tuple[float, np.ndarray]:
    """(c, E) with exp(generator x duration) = e^c E and max|E| = 1: scaling and squaring
    (scipy's expm on generator x duration / 2^k with 1-norm <= MAX_STEP_NORM, then k squarings, each
    renormalised), so a propagator whose entries exceed the float range stays exact in log space."""
    a = generator * duration
    norm = float(np.abs(a).sum(axis=0).max(initial=0.0))
    halvings = max(0, math.ceil(math.log2(norm / MAX_STEP_NORM))) if norm > MAX_STEP_NORM else 0
    e = expm(a / 2.0**halvings)
    log_scale = 0.0
    for step in range(halvings + 1):
        size = float(np.abs(e).max())
        if size == 0.0:
            return -math.inf, e
        e = e / size
        log_scale += math.log(size)
        if step < halvings:
            e = e @ e
            log_scale *= 2.0
    return log_scale, e


@dataclass(frozen=True)
class EigenPiece:
    """One piece in the eigenbasis of its Hamiltonian: ``vectors`` V (columns), the untilted
    generator without jump terms (``no_jump``), and the jump superoperators kron(L', L'^*) of its
    channels, L' = V^dag L V, as sparse entries: flat index ``cells`` (row x d^2 + column),
    ``values`` scaled per channel to max|entry| = 1, ``channel`` of each entry and ln of each
    channel's scale in ``log_sizes``.  An eigenoperator channel (every entry of L' off its Bohr
    frequency below ROUND_OFF x max) keeps exact zeros there, so e^{-s a} weights never multiply
    round-off (a large |s| would otherwise turn 1e-17 into 1e+100), and a Davies channel has one
    entry per transition."""

    vectors: np.ndarray
    no_jump: np.ndarray
    cells: np.ndarray
    values: np.ndarray
    channel: np.ndarray
    log_sizes: np.ndarray


#: relative size below which an entry of a jump operator off its Bohr frequency is round-off
ROUND_OFF = 1e-12


def eigen_pieces(system) -> list[EigenPiece]:
    """The pieces of ``system`` in their eigenbases (computed once per system)."""
    cache = system.__dict__.setdefault("_derived", {})
    if "eigen_pieces" not in cache:
        cache["eigen_pieces"] = [_eigen_piece(piece) for piece in system.pieces]
    return cache["eigen_pieces"]


def _eigen_piece(piece) -> EigenPiece:
    energies, vectors = np.linalg.eigh(piece.hamiltonian)
    d = len(energies)
    scale = max(1.0, float(np.abs(energies).max()))
    bohr = energies[None, :] - energies[:, None]             # [b, a] = E_a - E_b (jump a -> b)
    loss = np.zeros((d, d), complex)
    cells, values, channel, log_sizes = [], [], [], []
    for k, c in enumerate(piece.channels):
        rotated = vectors.conj().T @ c.operator @ vectors
        size = float(np.abs(rotated).max())
        if size > 0:
            main = np.unravel_index(np.argmax(np.abs(rotated)), rotated.shape)
            on_frequency = np.abs(bohr - bohr[main]) <= 1e-9 * scale
            if np.abs(np.where(on_frequency, 0, rotated)).max() <= ROUND_OFF * size:
                rotated = np.where(on_frequency, rotated, 0)
        loss += rotated.conj().T @ rotated
        rows, columns = np.nonzero(rotated)
        entries = rotated[rows, columns] / (size if size > 0 else 1.0)   # no size^2: it may underflow
        # kron(L, L^*)[(r1 d + r2), (c1 d + c2)] = L[r1, c1] L^*[r2, c2]
        cells.append(((rows[:, None] * d + rows[None, :]) * d * d
                      + columns[:, None] * d + columns[None, :]).ravel())
        values.append((entries[:, None] * entries.conj()[None, :]).ravel())
        channel.append(np.full(len(entries) ** 2, k))
        log_sizes.append(2 * math.log(size) if size > 0 else -math.inf)
    h_eff = np.diag(energies) - 0.5j * loss
    identity = np.eye(d)
    no_jump = -1j * (np.kron(h_eff, identity) - np.kron(identity, h_eff.conj()))
    join = (lambda parts, kind: np.concatenate(parts) if parts else np.zeros(0, kind))
    return EigenPiece(vectors, no_jump, join(cells, np.int64), join(values, complex),
                      join(channel, np.int64), np.array(log_sizes))


def tilted_generator(piece: EigenPiece, channels, increments, s: float) -> tuple[np.ndarray, np.ndarray]:
    """(generator, gauge) of one piece (eigenbasis) with the jump term of channel k weighted by
    e^{-s a_k}, weight and rate combined in log space (e^{800} x e^{-790} is e^{10}, not inf x 0).
    Where a tilted rate exceeds e^{MAX_LOG_ENTRY} the generator is returned in a diagonal gauge
    2^{-g} L 2^{g} (integer g per vector index, ``log_gauge``) that brings every entry into range;
    else g = 0."""
    exponents = piece.log_sizes - s * np.asarray(increments, dtype=float)
    d2 = piece.no_jump.shape[0]
    gauge = np.zeros(d2, np.int64)
    rows, columns = np.divmod(piece.cells, d2)
    if np.any(exponents > MAX_LOG_ENTRY):
        gauge = log_gauge(piece, exponents)
        shift = (gauge[columns] - gauge[rows]) * math.log(2.0)
        if np.max(exponents[piece.channel] + shift, initial=-np.inf) > MAX_LOG_ENTRY:
            k = int(np.argmax(exponents))
            raise ValueError(f"G(s) at s = {s!r}: the tilted rate of channel {channels[k].name!r} "
                             f"is e^{exponents[k]:.0f}, and no diagonal gauge brings the tilted "
                             f"generator into the floating-point range (|s| too large)")
    else:
        shift = 0.0
    with np.errstate(under="ignore"):
        weights = np.exp(exponents[piece.channel] + shift) * piece.values
    jumps = (np.bincount(piece.cells, weights.real, minlength=d2 * d2)
             + 1j * np.bincount(piece.cells, weights.imag, minlength=d2 * d2)).reshape(d2, d2)
    no_jump = piece.no_jump
    if gauge.any():                               # exact powers of two; zeros stay zero
        power = np.clip(gauge[None, :] - gauge[:, None], -2000, 2000)
        with np.errstate(over="ignore", under="ignore"):
            no_jump = np.ldexp(no_jump.real, power) + 1j * np.ldexp(no_jump.imag, power)
    generator = no_jump + jumps
    if not np.all(np.isfinite(generator)):
        raise ValueError(f"G(s) at s = {s!r}: the tilted generator leaves the floating-point range "
                         f"in every diagonal gauge (|s| too large)")
    return generator, gauge


def log_gauge(piece: EigenPiece, exponents: np.ndarray, sweeps: int = 400) -> np.ndarray:
    """Integer g per vector index such that 2^{-g_i} L_ij 2^{g_j} stays below e^{MAX_LOG_ENTRY / 2}
    where possible: Osborne balancing (row and column log-norms equalised) on the logarithms of the
    entries, damped, since the entries themselves overflow."""
    d2 = piece.no_jump.shape[0]
    log_entries = np.full((d2, d2), -np.inf)
    with np.errstate(divide="ignore"):
        np.fill_diagonal(log_entries, -np.inf)
        off = np.abs(piece.no_jump) > 0
        log_entries[off] = np.log(np.abs(piece.no_jump[off]))
        rows, columns = np.divmod(piece.cells, d2)
        np.logaddexp.at(log_entries, (rows, columns),
                        exponents[piece.channel] + np.log(np.abs(piece.values)))
    np.fill_diagonal(log_entries, -np.inf)
    phi = np.zeros(d2)
    for _ in range(sweeps):
        gauged = log_entries + phi[None, :] - phi[:, None]
        if gauged.max() <= MAX_LOG_ENTRY / 2:
            break
        row, column = logsumexp(gauged, axis=1), logsumexp(gauged, axis=0)
        with np.errstate(invalid="ignore"):                # -inf - -inf where a row is empty
            step = np.where(np.isfinite(row) & np.isfinite(column), (row - column) / 2,
                            np.where(np.isfinite(row), 20.0, np.where(np.isfinite(column), -20.0, 0.0)))
        phi += 0.5 * np.clip(step, -20.0, 20.0)
    return np.round(phi / math.log(2.0)).astype(np.int64)


def log_transfer(system, increments, s: float) -> np.ndarray:
    """ln T[j, i] = ln(p0(i) <j|Phi(s)(|i><i|)|j>): the joint weight of the outcomes (i, j) under
    the tilted map Phi(s) = Phi_{P-1} ... Phi_0 (-inf where it is zero; round-off negatives are
    zero).  Without the energy measurement j runs over one outcome, the trace.

    Vectors live in the eigenbasis of the current piece: the start states are written there
    directly (an eigenvector of H_0 has exactly no component on other energies), the quench to the
    next piece is the unitary W = V_{n+1}^dag V_n, and the final readout is the last piece's
    populations, so no rotation round-off (1e-17) ever meets a gauge weight e^{+s dE}.  Each
    piece's generator is balanced (``scipy.linalg.matrix_balance``: a diagonal similarity by
    powers of two, exact), which gauges away jump weights e^{+-s a} that cancel along cycles
    (absorption and emission) and leaves a moderate norm; vectors move in and out of the balanced
    frame by exact power-of-two scalings (``np.ldexp``), the exponents kept in the log scale."""
    log_p0, vectors = log_start(system)
    pieces = eigen_pieces(system)
    d = system.dimension
    alive = np.flatnonzero(np.isfinite(log_p0))
    amplitudes = pieces[0].vectors.conj().T @ vectors[:, alive]          # (a, i) in basis 0
    if system.measure_energy:
        energies = initial_basis(system)[0]
        scale = max(1.0, float(np.abs(energies).max()))
        amplitudes[np.abs(energies[:, None] - energies[None, alive]) > 1e-9 * scale] = 0
    rho = np.einsum("ai,bi->abi", amplitudes, amplitudes.conj()).reshape(d * d, len(alive))
    log_scale = np.zeros(len(alive))
    previous = None
    for piece, eigen, a in zip(system.pieces, pieces, increments):
        if previous is not None:
            w = eigen.vectors.conj().T @ previous
            rho = np.kron(w, w.conj()) @ rho
        previous = eigen.vectors
        generator, gauge = tilted_generator(eigen, piece.channels, a, s)
        with np.errstate(invalid="ignore"):      # scipy casts the unused permutation (nan) to int
            balanced, (scales, _) = matrix_balance(generator, permute=False, separate=True)
        exponents = (gauge + np.round(np.log2(scales)).astype(np.int64))[:, None]
        c, propagator = scaled_exponential(balanced, piece.duration)
        rho, shift = _scale_by_powers_of_two(rho, -exponents)
        rho, shift_back = _scale_by_powers_of_two(propagator @ rho, exponents)
        size = np.abs(rho).max(axis=0)
        with np.errstate(divide="ignore"):
            log_scale += c + (shift + shift_back) * math.log(2.0) + np.log(size)
        rho = rho / np.where(size > 0, size, 1.0)
    populations = np.real(rho[::d + 1])                                  # (j, alive)
    if not system.measure_energy:
        populations = populations.sum(axis=0, keepdims=True)
    out = np.full((populations.shape[0], d), -np.inf)
    with np.errstate(divide="ignore"):
        out[:, alive] = np.where(populations > 0, np.log(np.where(populations > 0, populations, 1.0)),
                                 -np.inf) + (log_scale + log_p0[alive])[None, :]
    return out


def _scale_by_powers_of_two(vectors: np.ndarray, exponents: np.ndarray):
    """(v * 2^(exponents - k), k) per column, k the column's largest resulting binary exponent, so
    the result has max|entry| in [1/2, 2) and nothing overflows (exact: powers of two)."""
    with np.errstate(divide="ignore"):
        binary = np.frexp(np.abs(vectors))[1] + exponents
    binary = np.where(vectors != 0, binary, np.iinfo(np.int32).min)
    k = binary.max(axis=0)
    k = np.where(k == np.iinfo(np.int32).min, 0, k)
    total = np.clip(exponents - k[None, :], -2000, 2000)
    return np.ldexp(vectors.real, total) + 1j * np.ldexp(vectors.imag, total), k


def log_final_populations(system) -> np.ndarray:
    """ln p_t(j) = ln sum_i p0(i) P(j|i): the final measurement's populations (the default p~ of
    sigma), from the same per-start-state propagation as G, in log space (-inf: unreachable)."""
    cache = system.__dict__.setdefault("_derived", {})
    if "log_final_populations" not in cache:
        zeros = tuple(np.zeros(len(p.channels)) for p in system.pieces)
        cache["log_final_populations"] = logsumexp(log_transfer(system, zeros, 0.0), axis=1)
    return cache["log_final_populations"]


def log_generating_function(system, observable: str, s):
    """ln G_X(s) = ln <e^{-s X}> of trajectory observable X (``counted``) at real s (scalar or 1-D
    array: the same shape is returned).  G(0) = 1; d/ds ln G at 0 is -<X>."""
    definition = counted(system, observable)
    values = np.asarray(s, dtype=float)
    if values.ndim > 1 or not np.all(np.isfinite(values)):
        raise ValueError(f"s must be a finite real number or a 1-D array of them (got {s!r})")
    out = np.array([_log_generating(system, definition, float(x)) for x in values.ravel()])
    return float(out[0]) if values.ndim == 0 else out


def _log_generating(system, definition: Counted, s: float) -> float:
    log_t = log_transfer(system, definition.increments, s)            # (j, i)
    if definition.initial is not None:
        log_t = log_t + _endpoint(definition.initial, s)[None, :]
    if definition.final is not None:
        log_t = log_t + _endpoint(definition.final, s)[:, None]
    return float(logsumexp(log_t))


def _endpoint(values: np.ndarray, s: float) -> np.ndarray:
    """-s x: an outcome that never occurs (nan) carries no weight, whatever s."""
    return np.where(np.isnan(values), -np.inf, -s * np.nan_to_num(values))


def moments(system, observable: str) -> tuple[float, float]:
    """Exact (mean, variance) of trajectory observable X (``counted``): the block-derivative
    Taylor coefficients of the tilted map about X's mean (``tilted.counted_moments``), no finite
    differences."""
    definition = counted(system, observable)
    log_p0, _ = log_start(system)
    return counted_moments(system, list(definition.increments), np.exp(log_p0), definition.initial,
                           definition.final)
