"""One-body propagation of the Landau–Zener Hamiltonian (seed 001, Eq. 2; issue #6).

Units hbar = k_B = 1.  The Hamiltonian is quadratic,

    H(t) = eps_t c^dag c + sum_i eps_i c_i^dag c_i + sum_i gamma_i (c^dag c_i + c_i^dag c),

so H(t) = sum_jk a_j^dag h(t)_jk a_k with the (L+1) x (L+1) real symmetric one-body matrix h(t)
(mode 0 = system level c, modes 1..L = reservoir levels c_i; gamma_i = delta_i / 2, the minimum gap
of crossing i).  Everything many-body follows from the one-body propagator
U(t) = T exp(-i int_0^t h(s) ds) (``lz_tpm`` for the work statistics).  Here: U itself and the
occupation of the system level.

Heisenberg picture a_j(t) = sum_k U_jk a_k, so the one-body density matrix
rho_jk = <a_k^dag a_j> evolves as rho(t) = U rho(0) U^dag and p(t) = <c^dag c>_t = rho(t)_00.
The factorised initial state (system occupied with probability p_0, reservoir level i with
f(eps_i)) is Gaussian with rho(0) = diag(p_0, f(eps_1), ..., f(eps_L))  (seed Fig. 2).

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

import math
from dataclasses import dataclass

import numpy as np

from ..model import require
from .effort import Progress
from ..physics import fermi

#: bound on dt * (largest - smallest eigenvalue of h): phase per step, radians (Magnus radius is pi)
MAX_PHASE = 1.0
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


def drive_from_spec(spec, direction: str = "forward") -> Drive:
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
    progress = Progress(f"Landau-Zener propagation ({times.size - 1} steps)", times.size - 1)
    for batch in step_propagators(drive, times):
        for step in batch:
            u = step @ u
            if rows is not None:
                rows.append(u[record_row].copy())
        progress.advance(len(batch))
    progress.close()
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
