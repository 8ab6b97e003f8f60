"""Numerically exact quantum reference for the Landau–Zener model (seed 001, Eq. 2; issue #6).

Units hbar = k_B = 1.  The Hamiltonian is quadratic,

    H(t) = eps_t c^dag c + sum_i eps_i c_i^dag c_i + sum_i gamma_i (c^dag c_i + c_i^dag c),

so H(t) = sum_jk a_j^dag h(t)_jk a_k with the (L+1) x (L+1) real symmetric one-body matrix h(t)
(mode 0 = system level c, modes 1..L = reservoir levels c_i; gamma_i = delta_i / 2, the minimum gap
of crossing i).  Everything many-body follows from the one-body propagator
U(t) = T exp(-i int_0^t h(s) ds):

* Heisenberg picture a_j(t) = sum_k U_jk a_k, so the one-body density matrix
  rho_jk = <a_k^dag a_j> evolves as rho(t) = U rho(0) U^dag and p(t) = <c^dag c>_t = rho(t)_00.
  The factorised initial state (system occupied with probability p_0, reservoir level i with
  f(eps_i)) is Gaussian with rho(0) = diag(p_0, f(eps_1), ..., f(eps_L))  (seed Fig. 2).

* Two-point measurement (TPM) of the total energy H: the initial state is grand canonical for the
  full initial Hamiltonian (coupling included), rho_gc = e^{-beta (H_i - mu N)} / Xi_i; measure H_i
  (outcome E_n), evolve with the many-body unitary Gamma(U), measure H_f (outcome E_m);
  work W = E_m - E_n (the driven level is the only time dependence, so W is the mechanical work).
  Characteristic function, Gamma(X) the Fock representation of a one-body X (Gamma(e^A) = e^{a^dag A a},
  Tr Gamma(X) = det(1 + X) for fermions, Gamma a homomorphism):

      G(u) = <e^{i u W}> = Tr[Gamma(e^{iu h_f}) Gamma(U) Gamma(e^{-iu h_i}) rho_gc Gamma(U)^dag]
           = det[1 + e^{iu h_f} U e^{-iu h_i} e^{-beta(h_i - mu)} U^dag] / det[1 + e^{-beta(h_i - mu)}]
           = det[1 - n + n U^dag e^{iu h_f} U e^{-iu h_i}],   n = (1 + e^{beta (h_i - mu)})^{-1},

  (cyclic det(1 + XY) = det(1 + YX), e^{-beta(h_i - mu)} = n (1 - n)^{-1}, det(1 + A n) =
  det(1 + n A)).  The first measurement does not disturb rho_gc ([rho_gc, H_i] = 0).
  The distribution itself is enumerated exactly: in the eigenbases h_i = Phi_i diag(l_i) Phi_i^dag,
  h_f = Phi_f diag(l_f) Phi_f^dag the eigenstates of H_i, H_f are Slater determinants |S> (S a set of
  occupied eigenmodes), E_S = sum_{k in S} l_k, and Gamma(U) conserves N, so

      P(W) = sum_{|S| = |T|} p_i(S) |det V[T, S]|^2 delta(W - E_T^f + E_S^i),  V = Phi_f^dag U Phi_i,

  p_i(S) = prod_{k in S} f(l_k) prod_{k not in S} (1 - f(l_k)).  That is sum_N C(L+1, N)^2 =
  C(2L+2, L+1) pairs (184756 for the seed's L = 9): exact and tractable up to ``MAX_ENUMERATION_LEVELS``.

* Crooks: the reverse protocol h~(t) = h(tau - t) is real symmetric, so U~ = U^T (time reversal is
  complex conjugation) and |<S|Gamma(U~)|T>|^2 = |<T|Gamma(U)|S>|^2 (real eigenvectors); with N
  conserved, P_F(w) / P_R(-w) = e^{beta (w - dOmega)} where

      dOmega = Omega(h_f) - Omega(h_i),  Omega(h) = -(1/beta) sum_k ln(1 + e^{-beta (l_k - mu)}),

  the grand potential of the FULL Hamiltonian (system + reservoir + coupling) at the protocol's
  ends.  It differs from the stochastic model's dOmega_eq = Omega_eq(level_end) - Omega_eq(level_start)
  (isolated system level) by the coupling shifts of the eigenvalues, O(gamma^2 / distance); both
  agree as gamma -> 0.  Jarzynski <e^{-beta W}> = e^{-beta dOmega} holds for any unitary U.
  Numerically, the Gauss–Magnus step below is time-symmetric and the reverse grid mirrors the
  forward one, so the independently propagated U~ equals U^T to rounding (~1e-14) at any step:
  Crooks holds on the computed distributions to rounding, whatever the integration error.

Integrator: fourth-order Magnus expansion with two Gauss points per step,
exp(-i dt H_eff), H_eff = (h_1 + h_2)/2 - i (sqrt(3)/12) dt [h_2, h_1] (Hermitian), evaluated
exactly by eigendecomposition.  Unitary to rounding for any step; global error O(dt^4).  The
Magnus series converges for dt * ||h - c|| < pi (any constant shift c only changes a global
phase); we require dt * (spectral spread of h) <= ``MAX_PHASE`` = 1 rad, well inside that
radius.  The error is estimated by step doubling (see ``propagate``).
The system level moves piecewise linearly: in the cell of crossing i (between the midpoints to the
neighbouring reservoir levels, the first cell from level_start, the last to level_end) at speed
eps_dot_i; with one speed this is eps_t = level_start + eps_dot t (seed Fig. 2, eps_t = t).
"""
from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.linalg import expm
from scipy.special import expit

from ..models.base import require
from ..models.landau_zener import LandauZener, LandauZenerValidityWarning, fermi

#: bound on dt * (largest - smallest eigenvalue of h): phase per step, radians (Magnus radius is pi)
MAX_PHASE = 1.0
#: largest L for the exact Slater-determinant enumeration of the TPM distribution
MAX_ENUMERATION_LEVELS = 11
#: largest L for the brute-force Fock-space (2^(L+1) states) reference
MAX_FOCK_LEVELS = 7
#: work values closer than this (energy units) are one atom of the distribution
WORK_RESOLUTION = 1e-9
#: largest number of time steps ``propagate`` may use
MAX_STEPS = 2**22
#: steps per batched eigendecomposition
_BATCH = 4096


# --- the one-body problem ------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Drive:
    """One-body model: reservoir ``levels`` eps_i with ``couplings`` gamma_i to the system level,
    whose energy moves piecewise linearly through ``nodes`` (energies, protocol order) at
    ``speeds`` (|d eps_t / dt| > 0 on each leg)."""

    levels: np.ndarray
    couplings: np.ndarray
    nodes: np.ndarray
    speeds: np.ndarray

    def __post_init__(self):
        for name in ("levels", "couplings", "nodes", "speeds"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.float64).ravel())
        require(self.levels.size >= 1 and self.couplings.shape == self.levels.shape,
                "couplings need one value per reservoir level")
        require(self.nodes.size >= 2 and self.speeds.size == self.nodes.size - 1,
                "speeds need one value per leg (nodes - 1)")
        require(np.all(np.isfinite(self.nodes)) and np.all(np.isfinite(self.speeds))
                and np.all(self.speeds > 0), "speeds must be finite and > 0")

    @property
    def modes(self) -> int:
        return self.levels.size + 1

    @property
    def durations(self) -> np.ndarray:
        """Duration of every leg, |e_{k+1} - e_k| / speed_k."""
        return np.abs(np.diff(self.nodes)) / self.speeds

    @property
    def duration(self) -> float:
        return float(self.durations.sum())

    def hamiltonian(self, level) -> np.ndarray:
        """h for system-level energies ``level`` (scalar or array): shape level.shape + (L+1, L+1)."""
        level = np.asarray(level, dtype=np.float64)
        h = np.zeros(level.shape + (self.modes, self.modes))
        h[..., 0, 0] = level
        idx = np.arange(1, self.modes)
        h[..., idx, idx] = self.levels
        h[..., 0, 1:] = self.couplings  # gamma_i (c^dag c_i + c_i^dag c)
        h[..., 1:, 0] = self.couplings
        return h

    def level_at(self, t) -> np.ndarray:
        """System-level energy eps_t (piecewise linear in t)."""
        ends = np.concatenate([[0.0], np.cumsum(self.durations)])
        return np.interp(np.asarray(t, dtype=np.float64), ends, self.nodes)

    def spread(self) -> float:
        """Largest spectral spread (l_max - l_min) of h along the path; convex in eps, so the
        maximum sits on a node."""
        eig = np.linalg.eigvalsh(self.hamiltonian(self.nodes))
        return float(np.max(eig[:, -1] - eig[:, 0]))

    def reversed(self) -> "Drive":
        """The time-reversed protocol: same path run backwards."""
        return Drive(self.levels, self.couplings, self.nodes[::-1].copy(), self.speeds[::-1].copy())

    def then(self, other: "Drive") -> "Drive":
        """This protocol followed by ``other`` (which must start where this one ends)."""
        require(np.isclose(self.nodes[-1], other.nodes[0]), "the second protocol must start where the first ends")
        return Drive(self.levels, self.couplings, np.concatenate([self.nodes, other.nodes[1:]]),
                     np.concatenate([self.speeds, other.speeds]))


def drive_from_spec(spec: LandauZener, direction: str = "forward") -> Drive:
    """The exact protocol of a ``LandauZener`` spec: gamma_i = delta_i / 2, and the level moves at
    eps_dot_i through the cell of crossing i (cell borders at midpoints between reservoir levels)."""
    require(direction in ("forward", "reverse"), f"direction must be 'forward' or 'reverse' (got {direction!r})")
    levels = np.asarray(spec.levels)
    nodes = np.concatenate([[spec.level_start], (levels[1:] + levels[:-1]) / 2.0, [spec.level_end]])
    drive = Drive(levels, spec.gap_array / 2.0, nodes, spec.speed_array)
    return drive if direction == "forward" else drive.reversed()


# --- the integrator ------------------------------------------------------------------------------
def time_grid(drive: Drive, time_step: float) -> np.ndarray:
    """Times t_0 = 0 < ... < t_n = duration with every node on the grid and steps <= time_step."""
    ends = np.concatenate([[0.0], np.cumsum(drive.durations)])
    pieces = [np.linspace(a, b, max(1, math.ceil((b - a) / time_step - 1e-9)) + 1)[:-1]
              for a, b in zip(ends[:-1], ends[1:])]
    return np.concatenate(pieces + [ends[-1:]])


def check_time_step(drive: Drive, time_step) -> float:
    """ValueError unless 0 < time_step and time_step * spread(h) <= MAX_PHASE."""
    require(isinstance(time_step, (int, float, np.integer, np.floating)) and np.isfinite(time_step)
            and time_step > 0, f"time_step must be a finite number > 0 (got {time_step!r})")
    spread = drive.spread()
    require(time_step * spread <= MAX_PHASE,
            f"time_step {time_step:g} is too coarse for the fastest phase: ||h|| * dt = "
            f"{spread:.4g} * {time_step:g} = {spread * time_step:.3g} rad > {MAX_PHASE:g} "
            f"(||h|| the spectral spread of the one-body Hamiltonian); use time_step <= "
            f"{MAX_PHASE / spread:.3g}")
    return float(time_step)


def _magnus_generators(drive: Drive, times: np.ndarray) -> np.ndarray:
    """Hermitian H_eff of every step: exp(-i dt H_eff) is the 4th-order Magnus step."""
    dt = np.diff(times)[:, None, None]
    node = (0.5 - math.sqrt(3.0) / 6.0, 0.5 + math.sqrt(3.0) / 6.0)  # Gauss–Legendre points
    h1 = drive.hamiltonian(drive.level_at(times[:-1] + node[0] * dt[:, 0, 0]))
    h2 = drive.hamiltonian(drive.level_at(times[:-1] + node[1] * dt[:, 0, 0]))
    commutator = h2 @ h1 - h1 @ h2
    return 0.5 * (h1 + h2) - 1j * (math.sqrt(3.0) / 12.0) * dt * commutator


def step_propagators(drive: Drive, times: np.ndarray):
    """Yield the one-step propagators exp(-i dt H_eff) in time order, in batches (n, d, d)."""
    for first in range(0, times.size - 1, _BATCH):
        chunk = times[first:first + _BATCH + 1]
        generator = _magnus_generators(drive, chunk)
        energy, vectors = np.linalg.eigh(generator)
        phase = np.exp(-1j * energy * np.diff(chunk)[:, None])
        yield (vectors * phase[:, None, :]) @ np.conj(np.swapaxes(vectors, -1, -2))


def propagator_on_grid(drive: Drive, times: np.ndarray, record_row: int | None = None):
    """U(t_n) = S_n ... S_1 and, if ``record_row`` is given, that row of U(t_k) at every grid time."""
    u = np.eye(drive.modes, dtype=np.complex128)
    rows = [u[record_row].copy()] if record_row is not None else None
    for batch in step_propagators(drive, times):
        for step in batch:
            u = step @ u
            if rows is not None:
                rows.append(u[record_row].copy())
    return u, (np.array(rows) if rows is not None else None)


@dataclass(frozen=True, eq=False)
class Propagation:
    """One-body propagation of a drive: the final U, the system row U(t_k)[0, :] on the grid
    (enough for <c^dag c>_t), the step and the estimated max-norm error of U."""

    drive: Drive
    times: np.ndarray
    system_rows: np.ndarray
    unitary: np.ndarray
    time_step: float
    error: float

    @property
    def levels_t(self) -> np.ndarray:
        return self.drive.level_at(self.times)


def propagate(drive: Drive, time_step: float | None = None, tolerance: float = 1e-10) -> Propagation:
    """Propagate with 4th-order Magnus steps to an estimated max-norm error of U <= ``tolerance``.

    The error of the run with step dt is estimated by step doubling: for a 4th-order method
    U_dt - U = C dt^4, so ||U_dt - U|| ~= (16/15) ||U_dt - U_{dt/2}||.  With ``time_step`` None the
    step starts at min(MAX_PHASE / spread, 0.05) and is halved until the estimate meets
    ``tolerance``; an explicit ``time_step`` must satisfy the phase bound and the tolerance, else
    ValueError.
    """
    require(isinstance(tolerance, (int, float, np.floating)) and np.isfinite(tolerance) and tolerance > 0,
            f"tolerance must be a finite number > 0 (got {tolerance!r})")
    explicit = time_step is not None
    dt = check_time_step(drive, time_step) if explicit else min(MAX_PHASE / drive.spread(), 0.05)
    times = time_grid(drive, dt)
    coarse = propagator_on_grid(drive, times, record_row=0)
    while True:
        require(times.size <= MAX_STEPS,
                f"tolerance {tolerance:g} needs more than {MAX_STEPS} time steps; loosen tolerance")
        fine_times = time_grid(drive, dt / 2.0)
        fine = propagator_on_grid(drive, fine_times, record_row=0)
        error = 16.0 / 15.0 * float(np.max(np.abs(coarse[0] - fine[0])))
        if error <= tolerance:
            return Propagation(drive, times, coarse[1], coarse[0], dt, error)
        require(not explicit,
                f"time_step {dt:g} gives an estimated propagator error {error:.2g} > tolerance "
                f"{tolerance:g}; use time_step <= {dt * (tolerance / error) ** 0.25:.3g} or omit it")
        dt, times, coarse = dt / 2.0, fine_times, fine


# --- occupation of the system level (seed Fig. 2) -----------------------------------------------
def factorised_density(drive: Drive, beta: float, mu: float, system_occupation: float) -> np.ndarray:
    """rho(0) = diag(p_0, f(eps_1), ..., f(eps_L)): reservoir grand canonical at (beta, mu),
    uncorrelated with the system level, which is occupied with probability p_0."""
    require(0.0 <= system_occupation <= 1.0,
            f"initial_occupation must lie in [0, 1] (got {system_occupation})")
    return np.diag(np.concatenate([[system_occupation], fermi(beta, mu, drive.levels)])).astype(complex)


def occupation(propagation: Propagation, density: np.ndarray) -> np.ndarray:
    """p(t_k) = [U(t_k) rho(0) U(t_k)^dag]_00 on the grid."""
    rows = propagation.system_rows
    return np.einsum("kj,jl,kl->k", rows, density, np.conj(rows)).real


# --- thermodynamics of the full quadratic Hamiltonian --------------------------------------------
def fermi_matrix(h: np.ndarray, beta: float, mu: float) -> np.ndarray:
    """One-body Fermi matrix n = (1 + e^{beta (h - mu)})^{-1} = <a_k^dag a_j> of the grand-canonical state."""
    energy, vectors = np.linalg.eigh(h)
    return (vectors * expit(-beta * (energy - mu))) @ vectors.T


def full_grand_potential(h: np.ndarray, beta: float, mu: float) -> float:
    """Omega = -(1/beta) ln Tr e^{-beta (H - mu N)} = -(1/beta) sum_k ln(1 + e^{-beta (l_k - mu)})."""
    energy = np.linalg.eigvalsh(h)
    return float(-np.sum(np.logaddexp(0.0, -beta * (energy - mu))) / beta)


def characteristic_function(u, h_initial, h_final, unitary, beta, mu) -> np.ndarray:
    """TPM work characteristic function G(u) = det[1 - n + n U^dag e^{iu h_f} U e^{-iu h_i}]
    (module docstring), vectorised over real (or complex) u."""
    u = np.atleast_1d(np.asarray(u, dtype=np.complex128))
    n = fermi_matrix(h_initial, beta, mu)
    li, vi = np.linalg.eigh(h_initial)
    lf, vf = np.linalg.eigh(h_final)
    eye = np.eye(n.shape[0])
    forward_phase = (vf[None] * np.exp(1j * u[:, None] * lf)[:, None, :]) @ vf.T      # e^{iu h_f}
    backward_phase = (vi[None] * np.exp(-1j * u[:, None] * li)[:, None, :]) @ vi.T   # e^{-iu h_i}
    m = np.conj(unitary.T) @ forward_phase @ unitary @ backward_phase
    return np.linalg.det(eye - n + n @ m)


# --- the TPM work distribution by enumeration -----------------------------------------------------
def _subsets(modes, size):
    combos = list(itertools.combinations(range(modes), size))
    return np.array(combos, dtype=np.intp).reshape(len(combos), size)


def transition_blocks(h_initial, h_final, unitary, beta, mu, max_pairs=2**16):
    """Yield (E_i(S), E_f(T), p_i(S), P(T|S)) per particle number N, P(T|S) = |det V[T, S]|^2 with
    V = Phi_f^dag U Phi_i, the arrays indexed [T, S] (blocks of at most ~max_pairs pairs)."""
    li, vi = np.linalg.eigh(h_initial)
    lf, vf = np.linalg.eigh(h_final)
    v = np.conj(vf.T) @ unitary @ vi
    occupied = expit(-beta * (li - mu))
    log_occ, log_emp = np.log(occupied), np.log1p(-occupied)
    modes = li.size
    for size in range(modes + 1):
        subsets = _subsets(modes, size)
        mask = np.zeros((len(subsets), modes), dtype=bool)
        np.put_along_axis(mask, subsets, True, axis=1)
        weight = np.exp(np.where(mask, log_occ, log_emp).sum(axis=1))
        energy_i, energy_f = mask @ li, mask @ lf
        rows = max(1, max_pairs // len(subsets))
        for first in range(0, len(subsets), rows):
            t = subsets[first:first + rows]
            if size == 0:
                prob = np.ones((len(t), len(subsets)))
            else:
                block = v[t[:, None, :, None], subsets[None, :, None, :]]
                prob = np.abs(np.linalg.det(block)) ** 2
            yield energy_i, energy_f[first:first + rows], weight, prob


def merge_atoms(work, probability, resolution=WORK_RESOLUTION) -> pd.DataFrame:
    """Sum probabilities of work values closer than ``resolution``: columns work, probability
    (work = probability-weighted mean of the merged values)."""
    order = np.argsort(work, kind="stable")
    work, probability = np.asarray(work)[order], np.asarray(probability)[order]
    group = np.concatenate([[0], np.cumsum(np.diff(work) > resolution)])
    total = np.bincount(group, probability)
    count = np.bincount(group)
    mean = np.bincount(group, work) / count
    return pd.DataFrame({"work": mean, "probability": total})


def _require_enumerable(levels):
    require(levels <= MAX_ENUMERATION_LEVELS,
            f"levels: L = {levels} reservoir levels is too many for the exact TPM enumeration "
            f"(C(2L+2, L+1) = {math.comb(2 * levels + 2, levels + 1):.3g} pairs; limit L <= "
            f"{MAX_ENUMERATION_LEVELS})")


def tpm_work_distribution(h_initial, h_final, unitary, beta, mu) -> pd.DataFrame:
    """Exact TPM work distribution (columns work, probability) by Slater-determinant enumeration."""
    _require_enumerable(h_initial.shape[0] - 1)
    works, probs = [], []
    for energy_i, energy_f, weight, prob in transition_blocks(h_initial, h_final, unitary, beta, mu):
        works.append((energy_f[:, None] - energy_i[None, :]).ravel())
        probs.append((prob * weight[None, :]).ravel())
    return merge_atoms(np.concatenate(works), np.concatenate(probs))


# --- brute force in Fock space (independent reference for small L) --------------------------------
def _require_fock(modes):
    require(modes - 1 <= MAX_FOCK_LEVELS,
            f"levels: L = {modes - 1} reservoir levels is too many for the brute-force Fock space "
            f"(2^(L+1) = {2 ** modes} states; limit L <= {MAX_FOCK_LEVELS})")


def fock_annihilators(modes: int) -> list[np.ndarray]:
    """Jordan–Wigner annihilators a_j on the 2^modes Fock space (real matrices; bit j = mode j)."""
    _require_fock(modes)
    lower = np.array([[0.0, 1.0], [0.0, 0.0]])  # |0><1| on one mode
    sign = np.diag([1.0, -1.0])
    ops = []
    for j in range(modes):
        factors = [sign] * j + [lower] + [np.eye(2)] * (modes - j - 1)
        op = factors[0]
        for f in factors[1:]:
            op = np.kron(op, f)
        ops.append(op)
    return ops


def second_quantise(h: np.ndarray, ops) -> np.ndarray:
    """H = sum_jk h_jk a_j^dag a_k on Fock space."""
    return sum(h[j, k] * ops[j].T @ ops[k] for j in range(len(ops)) for k in range(len(ops))
               if h[j, k] != 0)


def fock_propagator(drive: Drive, times: np.ndarray) -> np.ndarray:
    """Many-body 4th-order Magnus propagator: exp(-i dt H_eff^MB) by scipy expm, H_eff^MB built
    from the many-body Hamiltonians at the Gauss points (never from the one-body matrices)."""
    ops = fock_annihilators(drive.modes)
    number = [a.T @ a for a in ops]
    couplings = sum(g * (ops[0].T @ ops[i + 1] + ops[i + 1].T @ ops[0]) for i, g in enumerate(drive.couplings))
    static = sum(e * number[i + 1] for i, e in enumerate(drive.levels)) + couplings
    # H(t) = static + eps_t n_0, so [H(t2), H(t1)] = (eps_2 - eps_1) [n_0, static]
    commutator = number[0] @ static - static @ number[0]
    dt = np.diff(times)
    node = (0.5 - math.sqrt(3.0) / 6.0, 0.5 + math.sqrt(3.0) / 6.0)
    eps1, eps2 = drive.level_at(times[:-1] + node[0] * dt), drive.level_at(times[:-1] + node[1] * dt)
    u = np.eye(2 ** drive.modes, dtype=complex)
    for step, e1, e2 in zip(dt, eps1, eps2):
        generator = (-0.5j * step * (2.0 * static + (e1 + e2) * number[0])
                     - (math.sqrt(3.0) / 12.0) * step**2 * (e2 - e1) * commutator)
        u = expm(generator) @ u
    return u


def fock_work_distribution(h_initial, h_final, fock_unitary, beta, mu) -> pd.DataFrame:
    """TPM work distribution by projectors on the eigenspaces of the many-body H_i, H_f:
    P(E_f, E_i) = Tr[Pi_f U Pi_i rho_gc U^dag], rho_gc = e^{-beta(H_i - mu N)} / Xi."""
    modes = h_initial.shape[0]
    ops = fock_annihilators(modes)
    number = sum(a.T @ a for a in ops)
    big_i, big_f = second_quantise(h_initial, ops), second_quantise(h_final, ops)
    rho = expm(-beta * (big_i - mu * number))
    rho /= np.trace(rho)
    works, probs = [], []
    spaces_i, spaces_f = _eigenspaces(big_i), _eigenspaces(big_f)
    energy_f = np.array([e for e, _ in spaces_f])
    projectors_f = np.array([p for _, p in spaces_f])
    for e_i, p_i in spaces_i:
        evolved = fock_unitary @ (p_i @ rho @ p_i) @ np.conj(fock_unitary.T)
        works.append(energy_f - e_i)
        probs.append(np.einsum("kab,ba->k", projectors_f, evolved).real)  # Tr[Pi_f evolved]
    return merge_atoms(np.concatenate(works), np.concatenate(probs))


def _eigenspaces(big, resolution=1e-9):
    """(eigenvalue, projector) of a Hermitian matrix, degenerate eigenvalues grouped."""
    energy, vectors = np.linalg.eigh(big)
    group = np.concatenate([[0], np.cumsum(np.diff(energy) > resolution)])
    return [(energy[group == g].mean(), vectors[:, group == g] @ vectors[:, group == g].T)
            for g in range(group[-1] + 1)]


def fock_characteristic_function(u, h_initial, h_final, fock_unitary, beta, mu) -> np.ndarray:
    """G(u) = Tr[e^{iu H_f} U e^{-iu H_i} rho_gc U^dag] with many-body matrices."""
    ops = fock_annihilators(h_initial.shape[0])
    number = sum(a.T @ a for a in ops)
    big_i, big_f = second_quantise(h_initial, ops), second_quantise(h_final, ops)
    rho = expm(-beta * (big_i - mu * number))
    rho /= np.trace(rho)
    return np.array([np.trace(expm(1j * x * big_f) @ fock_unitary @ expm(-1j * x * big_i) @ rho
                              @ np.conj(fock_unitary.T)) for x in np.atleast_1d(u)])


def fock_occupation(drive: Drive, times: np.ndarray, beta, mu, system_occupation) -> np.ndarray:
    """<c^dag c> at the end of ``times`` from the factorised many-body state, brute force."""
    ops = fock_annihilators(drive.modes)
    number = [a.T @ a for a in ops]
    rho = np.eye(1)
    for p in np.concatenate([[system_occupation], fermi(beta, mu, drive.levels)]):
        rho = np.kron(rho, np.diag([1.0 - p, p]))  # bit order matches the Jordan–Wigner kron order
    u = fock_propagator(drive, times)
    return float(np.trace(number[0] @ u @ rho @ np.conj(u.T)).real)


# --- the reference for a LandauZener spec ----------------------------------------------------------
def crooks_residual(forward: pd.DataFrame, reverse: pd.DataFrame, beta, delta_omega) -> dict:
    """Match forward atoms w with reverse atoms -w; return the largest absolute residual
    |P_F(w) - e^{beta (w - dOmega)} P_R(-w)|, the largest |ln P_F/P_R - beta(w - dOmega)| over atoms
    with P_F, P_R > 1e-6, and the unmatched probability mass."""
    rev = reverse.assign(work=-reverse.work)
    pairs = pd.merge_asof(forward.sort_values("work"), rev.sort_values("work"), on="work",
                          direction="nearest", tolerance=1e3 * WORK_RESOLUTION, suffixes=("_f", "_r"))
    matched = pairs.probability_r.notna()
    pf, pr, w = pairs.probability_f[matched], pairs.probability_r[matched], pairs.work[matched]
    predicted = np.exp(beta * (w - delta_omega)) * pr
    big = (pf > 1e-6) & (pr > 1e-6)
    return {"max_abs_residual": float(np.max(np.abs(pf - predicted))),
            "max_log_residual": float(np.max(np.abs(np.log(pf[big] / pr[big]) - beta * (w[big] - delta_omega)))),
            "unmatched_probability": float(pairs.probability_f[~matched].sum())}


def nearest_lattice(work, lattice):
    """Index of the nearest value of the sorted ``lattice`` for every work value."""
    lattice, work = np.asarray(lattice, dtype=np.float64), np.asarray(work, dtype=np.float64)
    if lattice.size == 1:
        return np.zeros(work.size, dtype=np.intp)
    right = np.clip(np.searchsorted(lattice, work), 1, lattice.size - 1)
    left = right - 1
    return np.where(np.abs(work - lattice[left]) <= np.abs(work - lattice[right]), left, right)


def compare_work(exact: pd.DataFrame, stochastic: pd.DataFrame) -> pd.DataFrame:
    """Quantum atoms binned to the nearest stochastic work value: columns work, probability_stochastic,
    probability_quantum, difference."""
    lattice = stochastic.work.to_numpy()
    index = nearest_lattice(exact.work.to_numpy(), lattice)
    quantum = np.bincount(index, exact.probability.to_numpy(), lattice.size)
    return pd.DataFrame({"work": lattice, "probability_stochastic": stochastic.probability.to_numpy(),
                         "probability_quantum": quantum,
                         "difference": quantum - stochastic.probability.to_numpy()})


def staircase(spec: LandauZener, direction, level, initial_occupation=None) -> np.ndarray:
    """The stochastic model's occupation at system-level energies ``level``: p_{k+1} while the level
    is between e_k and e_{k+1} (the staircase of seed Fig. 2)."""
    chain = spec.chain(direction)
    if initial_occupation is not None:
        chain = chain.starting_from(initial_occupation)
    p = chain.occupation_probabilities()
    e = spec.positions(direction)
    crossed = np.searchsorted(e[1:-1], level, side="right") if direction == "forward" else \
        np.searchsorted(-e[1:-1], -np.asarray(level), side="right")
    return p[crossed]


@dataclass(frozen=True, eq=False)
class ExactLZ:
    """Exact quantum reference of a LandauZener spec: tables and a summary dict (see ``exact_lz``)."""

    spec: LandauZener
    occupation: pd.DataFrame
    work: pd.DataFrame
    comparison: pd.DataFrame
    summary: dict


def exact_lz(spec: LandauZener, time_step=None, tolerance=1e-10, initial_occupation=1.0) -> ExactLZ:
    """Seed Figs. 2 and 4 from the exact quantum dynamics of Eq. (2).

    occupation: p(t) from the factorised state with the system level occupied with probability
    ``initial_occupation`` (seed Fig. 2: 1) and with f(level_start) ("equilibrium"), forward and
    (equilibrium, f(level_end)) reverse, with the stochastic staircase alongside.
    work: exact TPM atoms (direction, work, probability, work_lattice = nearest stochastic value).
    comparison: per stochastic work value, stochastic vs binned quantum probability.
    summary: dOmega (full) and dOmega_eq, Crooks/Jarzynski residuals, mean works, total-variation
    distances, p(t) deviations from the staircase (``occupation_deviation``), steps and integrator
    errors.  Raises ValueError for L > MAX_ENUMERATION_LEVELS or a time_step/tolerance that fails.
    """
    beta, mu = spec.beta, spec.mu
    _require_enumerable(len(spec.levels))  # before the propagation, not after
    tables, atoms, comparisons = [], [], []
    summary = {}
    distributions = {}
    for direction in ("forward", "reverse"):
        drive = drive_from_spec(spec, direction)
        run = propagate(drive, time_step, tolerance)
        levels_t = run.levels_t
        starts = {"equilibrium": float(fermi(beta, mu, drive.nodes[0]))}
        if direction == "forward":
            starts["given"] = float(initial_occupation)
        for name, p0 in starts.items():
            p = occupation(run, factorised_density(drive, beta, mu, p0))
            tables.append(pd.DataFrame({
                "direction": direction, "initial_state": name, "initial_occupation": p0,
                "time": run.times, "level": levels_t, "occupation": p,
                "occupation_stochastic": staircase(spec, direction, levels_t, p0)}))
        h_i, h_f = drive.hamiltonian(drive.nodes[0]), drive.hamiltonian(drive.nodes[-1])
        exact = tpm_work_distribution(h_i, h_f, run.unitary, beta, mu)
        stochastic = spec.work_distribution(direction)
        compared = compare_work(exact, stochastic)
        exact["work_lattice"] = stochastic.work.to_numpy()[nearest_lattice(exact.work.to_numpy(),
                                                                           stochastic.work.to_numpy())]
        atoms.append(exact.assign(direction=direction))
        comparisons.append(compared.assign(direction=direction))
        distributions[direction] = exact
        summary[f"{direction}_time_step"] = run.time_step
        summary[f"{direction}_propagator_error"] = run.error
        summary[f"{direction}_mean_work_quantum"] = float(np.dot(exact.work, exact.probability))
        summary[f"{direction}_mean_work_stochastic"] = float(np.dot(stochastic.work, stochastic.probability))
        summary[f"{direction}_total_variation"] = float(0.5 * np.abs(compared.difference).sum())
        # relative: <e^{-beta W}> e^{beta dOmega} - 1, dOmega of this direction's full Hamiltonians
        summary[f"{direction}_jarzynski_residual"] = float(
            np.dot(exact.probability, np.exp(-beta * (exact.work - full_grand_potential(h_f, beta, mu)
                                                      + full_grand_potential(h_i, beta, mu)))) - 1.0)
    occupation_table = pd.concat(tables, ignore_index=True)
    h_start = drive_from_spec(spec).hamiltonian(spec.level_start)
    h_end = drive_from_spec(spec).hamiltonian(spec.level_end)
    delta_omega = full_grand_potential(h_end, beta, mu) - full_grand_potential(h_start, beta, mu)
    summary["delta_omega_full"] = delta_omega
    summary["delta_omega_eq"] = spec.free_energy_change()
    summary.update({f"crooks_{k}": v for k, v in crooks_residual(
        distributions["forward"], distributions["reverse"], beta, delta_omega).items()})
    summary["occupation_deviation"] = occupation_deviation(spec, occupation_table)
    columns = ["direction", "work", "probability", "work_lattice"]
    return ExactLZ(spec, occupation_table, pd.concat(atoms, ignore_index=True)[columns],
                   pd.concat(comparisons, ignore_index=True)[
                       ["direction", "work", "probability_stochastic", "probability_quantum", "difference"]],
                   summary)


def occupation_deviation(spec: LandauZener, occupation_table: pd.DataFrame) -> dict:
    """How far p_exact(t) is from the stochastic staircase, per "direction/initial_state":

    midpoint: max |p_exact - p_stochastic| at the midpoints between consecutive reservoir levels;
    window:   max |mean of p_exact over the middle half of each inter-crossing interval - p_stochastic|
              (averages out the coherent system-reservoir oscillations after each crossing);
    final:    |p_exact - p_{L+1}| at the end of the protocol.
    midpoint and window are None for a single reservoir level.
    """
    levels = np.asarray(spec.levels)
    out = {}
    for (direction, state), rows in occupation_table.groupby(["direction", "initial_state"], sort=False):
        level, p = rows.level.to_numpy(), rows.occupation.to_numpy()
        staircase_p = rows.occupation_stochastic.to_numpy()
        midpoint, window = 0.0, 0.0
        for low, high in zip(levels[:-1], levels[1:]):
            quarter = (high - low) / 4.0
            inside = (level > low + quarter) & (level < high - quarter)
            mid = np.argmin(np.abs(level - (low + high) / 2.0))
            midpoint = max(midpoint, abs(p[mid] - staircase_p[mid]))
            if inside.any():
                window = max(window, abs(p[inside].mean() - staircase_p[inside].mean()))
        interior = levels.size > 1  # no interval between crossings for L = 1
        out[f"{direction}/{state}"] = {"midpoint": float(midpoint) if interior else None,
                                       "window": float(window) if interior else None,
                                       "final": float(abs(p[-1] - staircase_p[-1]))}
    return out


def round_trip(spec: LandauZener, time_step=None, tolerance=1e-10) -> dict:
    """The level driven level_start -> level_end -> level_start: every reservoir level is crossed
    twice.  Exact: TPM work of the cycle (grand-canonical start for the full h(level_start); the
    free-energy change is zero, so <W> >= 0 is the dissipated work) and p(t_end) from the
    factorised equilibrium start.  Stochastic: the forward chain followed by the reverse chain
    started from p_{L+1}, i.e. assuming every reservoir level is back at f_i when crossed again."""
    beta, mu = spec.beta, spec.mu
    drive = drive_from_spec(spec).then(drive_from_spec(spec, "reverse"))
    run = propagate(drive, time_step, tolerance)
    h = drive.hamiltonian(spec.level_start)
    work = tpm_work_distribution(h, h, run.unitary, beta, mu)
    p0 = float(fermi(beta, mu, spec.level_start))
    p_exact = occupation(run, factorised_density(drive, beta, mu, p0))
    up = spec.chain("forward")
    p_up = up.occupation_probabilities()
    down = spec.chain("reverse").starting_from(p_up[-1])
    p_down = down.occupation_probabilities()
    w_stochastic = (np.dot(np.diff(spec.positions("forward")), p_up)
                    + np.dot(np.diff(spec.positions("reverse")), p_down))
    return {"mean_work_quantum": float(np.dot(work.work, work.probability)),
            "mean_work_stochastic": float(w_stochastic),
            "final_occupation_quantum": float(p_exact[-1]),
            "final_occupation_stochastic": float(p_down[-1]),
            "initial_occupation": p0, "time_step": run.time_step, "propagator_error": run.error}


def exact_info(spec: LandauZener, result: ExactLZ, time_step, tolerance, initial_occupation) -> dict:
    """Metadata stored with every exact table (JSON-able)."""
    from .. import __version__

    return {"model": spec.name, "kind": "exact-quantum", "parameters": spec.parameters(),
            "time_step": time_step, "tolerance": tolerance, "initial_occupation": initial_occupation,
            "version": __version__, "summary": result.summary}


def write_exact(result: ExactLZ, out, time_step=None, tolerance=1e-10, initial_occupation=1.0) -> dict:
    """Write occupation.parquet, work_exact.parquet and work_comparison.parquet under ``out``
    (atomic writes, run metadata in every table); returns the metadata."""
    from ..io import write_table

    out = Path(out)
    info = exact_info(result.spec, result, time_step, tolerance, initial_occupation)
    write_table(result.occupation, out / "occupation.parquet", info)
    write_table(result.work, out / "work_exact.parquet", info)
    write_table(result.comparison, out / "work_comparison.parquet", info)
    return info


def quiet_spec(**parameters) -> LandauZener:
    """LandauZener(**parameters) with the validity warning silenced (studies outside validity)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LandauZenerValidityWarning)
        return LandauZener(**parameters)
