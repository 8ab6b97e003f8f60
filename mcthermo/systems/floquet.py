"""Periodically driven open systems: secular Floquet–Born–Markov channels (README, "Your own periodically driven system").

Units hbar = k_B = 1.  H(t) = H0 + sum_{m >= 1} (V_m e^{i m Omega t} + V_m^dag e^{-i m Omega t}),
period T = 2 pi / Omega; each ``Coupling`` A (Hermitian) couples the system to one bath with a
spectral density J.

Floquet states.  The one-period propagator U(T) is built from N steps of the sixth-order Magnus
integrator (three Gauss points per step); N doubles until two successive U(T) differ by less than
max(1e-12, N x 1e-16) in the largest element (the second is the round-off of a product of N steps,
reached first by a slow drive, Omega << ||H||; the difference is ``propagator_error``).  Its
eigenvalues e^{-i eps_a T} give the quasienergies, its eigenvectors the Floquet modes |phi_a(0)>, and
|phi_a(t)> = e^{i eps_a t} U(t)|phi_a(0)> is T-periodic.

Brillouin zone.  A quasienergy is defined modulo Omega; each eps_a is taken in the zone centred on
the state's own mean energy Ebar_a = (1/T) int_0^T <phi_a(t)|H(t)|phi_a(t)> dt (which does not
depend on the choice), i.e. eps_a in [Ebar_a - Omega/2, Ebar_a + Omega/2); it gives eps_a = E_a
(the eigenvalues of H0) as V -> 0; the states are sorted by eps.  It is continuous in the drive
only while eps_a - Ebar_a stays inside (-Omega/2, Omega/2): where it reaches the edge of its zone,
eps_a jumps by Omega (and the order may change), which relabels k (heat and entropy production
unchanged, work per jump shifted; last paragraph).

Fourier components.  X_ac(k) = (1/T) int_0^T e^{i k Omega t} <phi_a(t)|A|phi_c(t)> dt (FFT over the
propagator's time grid), so that in the interaction picture A carries X_ac(k) e^{-i Delta t} with
Delta = eps_c - eps_a + k Omega.  Sidebands |k| <= K are kept, K the smallest with dropped weight
sum_{|k| > K} sum_ac |X_ac(k)|^2 <= ``sideband_tolerance`` x ||A||_F^2 for every coupling; terms
within |k| <= K of weight |X_ac(k)|^2 below ``sideband_tolerance`` x ||A||_F^2 / (their number) are
dropped too (with their partners), so the whole dropped weight is below 2 x sideband_tolerance x
||A||_F^2 (reported: ``sidebands``, ``dropped_weight``, relative to ||A||_F^2).

Channels (secular).  A jump c -> a in sideband k gives its bath the energy Delta; terms of one
coupling with equal Delta (to 1e-9 relative) form one operator
L_Delta = sqrt(gamma(Delta)) sum X_ac(k) |a><c| in the basis of the Floquet modes, with
gamma = J(|Delta|)(n(|Delta|) + 1) for Delta > 0 and J(|Delta|) n(|Delta|) for Delta < 0,
n(x) = 1/(e^{beta x} - 1): exactly the rule of ``mt.davies_channels``, where J is the rate function
itself (seed 002 writes the emission rate as G = 2 pi J_seed (n + 1): J here = 2 pi J_seed).  The
spectral density is the Coupling's ``spectral_density`` if given (it wins over the Bath's), else the
Bath's (its ``spectral_density`` or its Ohmic ``coupling``/``cutoff``; neither is refused).
Channels are named ``<bath>:<Delta, 6 significant digits>`` (``<bath>#<index>:<Delta>`` when
several couplings share a bath, index their position in ``couplings``); several couplings to one
bath are independent (uncorrelated) baths: no cross terms between them.  The partner of (a, c, k)
is (c, a, -k) with X_ca(-k) = conj(X_ac(k)): terms are kept or dropped in such pairs, so every
channel at Delta has its reverse at -Delta (L_{-Delta} proportional to L_Delta^dag).
The zero-frequency (pure dephasing) channel has gamma(0) = lim_{x -> 0} J(x) n(x) = J'(0)/beta for an
Ohmic J (J ~ x near 0; J'(0) by Richardson extrapolation of J(x)/x), 0 for a super-Ohmic J, and is
refused for a sub-Ohmic J unless the Coupling gives ``zero_frequency_rate``.

Quasienergy differences equal modulo Omega.  If the terms of one channel come from different
sidebands k (eps_c - eps_a differs between them by a nonzero multiple of Omega: eps_2 - eps_1 =
Omega, or an accident like eps_0 + eps_1 = 2 eps_2 - 3 Omega), they rotate at different frequencies
e^{i (Delta - k Omega) t} in the frame below: the frame dissipator is periodic, not constant, and
the system is refused, naming Delta, the states and the sidebands.  Terms below the floor above
are not counted, so an undriven system (k != 0 components zero) gives ``mt.davies_channels``.

In the frame of the Floquet modes (state v with lab state |psi(t)> = sum_a v_a(t) |phi_a(t)>) the
generator is time independent: H_F = diag(eps) with the channels above, an ``OpenSystem``
(``FloquetSystem.open_system()``).  The measured energy is the quasienergy; per jump the bath gets
Delta, eps changes by eps_a - eps_c, so the drive supplies k Omega (each channel's ``drive_work``):
work = eps_j - eps_i + sum of Delta over jumps = sum of k Omega.  Another Brillouin zone shifts eps
by multiples of Omega and relabels k: heat and entropy production are invariant, work per jump
shifts with eps.
"""
from __future__ import annotations

import math
import os
import sys
import warnings
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np
import scipy.linalg

from ..model import Model
from .bath import Bath
from .open_system import (Channel, Gibbs, LocalJumpWarning, OpenSystem, _finite,
                          as_density_matrix, as_matrix, require_hermitian)
from .time_dependent import harmonics, is_time_dependent

#: largest element of U_N(T) - U_2N(T) accepted for the one-period propagator
PROPAGATOR_TOLERANCE = 1e-12
#: relative tolerance within which Bohr–Floquet frequencies are equal (one channel)
FREQUENCY_TOLERANCE = 1e-9
#: Fourier components below this fraction of ||A||_F are below the propagator's accuracy and left
#: out (a rate changes by < 1e-20 relative; partners are decided together)
COMPONENT_FLOOR = 1e-10
#: channels with a rate below this fraction of the total rate are left out of the secular check
SECULAR_WEIGHT = 1e-6
#: most propagator steps per period tried before giving up
MAX_STEPS = 2**17
#: round-off per Magnus step of the product U(T) (largest element): a difference between U_N(T) and
#: U_2N(T) below N x this is round-off
ROUNDOFF_PER_STEP = 1e-16


class SecularApproximationWarning(UserWarning):
    """Bohr–Floquet frequencies of one bath are closer than 3x the total rate."""


@dataclass(frozen=True, eq=False)
class Coupling:
    """A system operator A (Hermitian) coupled to bath ``bath``, with ``spectral_density`` J(x) >= 0
    for x > 0 (the rate function of ``mt.davies_channels``; None: the Bath's) and an optional
    ``zero_frequency_rate`` gamma(0) for the pure-dephasing channel (required for a sub-Ohmic J)."""

    operator: np.ndarray
    bath: str = ""
    spectral_density: Callable[[float], float] | None = None
    zero_frequency_rate: float | None = None

    def __post_init__(self):
        if not isinstance(self.bath, str) or not self.bath:
            raise ValueError(f"Coupling needs a bath name (got {self.bath!r})")
        object.__setattr__(self, "operator", require_hermitian(
            f"coupling operator of bath {self.bath!r}",
            as_matrix(f"coupling operator of bath {self.bath!r}", self.operator)))
        if self.spectral_density is not None and not callable(self.spectral_density):
            raise ValueError(f"Coupling of bath {self.bath!r}: spectral_density must be a callable")
        if self.zero_frequency_rate is not None:
            rate = _finite("zero_frequency_rate", self.zero_frequency_rate)
            if rate < 0:
                raise ValueError(f"zero_frequency_rate must be >= 0 (got {rate!r})")
            object.__setattr__(self, "zero_frequency_rate", rate)


def _user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning raised by the caller of this function point at the
    first line outside mcthermo (the user's: FloquetSystem(...) or open_system())."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    frame, level = sys._getframe(2), 2              # the caller of the function that warns
    while frame is not None and (frame.f_code.co_filename.startswith(package) or (
            frame.f_code.co_filename == "<string>" and frame.f_code.co_name == "__init__")):
        frame, level = frame.f_back, level + 1      # (a dataclass __init__ is "<string>")
    return level


# --- the one-period propagator ------------------------------------------------------------------
def _hamiltonian_at(h0, drive, omega, times):
    """H(t) for an array of times, shape (n, d, d)."""
    out = np.broadcast_to(h0, (len(times),) + h0.shape).astype(complex)
    for m, v in drive.items():
        phase = np.exp(1j * m * omega * np.asarray(times))[:, None, None]
        out = out + phase * v + phase.conj() * v.conj().T
    return out


_GAUSS = np.array([0.5 - math.sqrt(15) / 10, 0.5, 0.5 + math.sqrt(15) / 10])


def _magnus_steps(h0, drive, omega, starts, h):
    """exp(Omega_6) of the steps [t, t + h] for every t in ``starts`` (sixth-order Magnus,
    Blanes–Casas–Ros): shape (n, d, d)."""
    a1, a2, a3 = (-1j * _hamiltonian_at(h0, drive, omega, starts + c * h) for c in _GAUSS)
    alpha1 = h * a2
    alpha2 = math.sqrt(15) * h / 3 * (a3 - a1)
    alpha3 = 10 * h / 3 * (a3 - 2 * a2 + a1)
    c1 = alpha1 @ alpha2 - alpha2 @ alpha1
    inner = 2 * alpha3 + c1
    c2 = -(alpha1 @ inner - inner @ alpha1) / 60
    left, right = -20 * alpha1 - alpha3 + c1, alpha2 + c2
    generator = alpha1 + alpha3 / 12 + (left @ right - right @ left) / 240
    # generator is anti-Hermitian: exp via the eigen-decomposition of the Hermitian i*generator
    hermitian = 1j * generator
    hermitian = (hermitian + np.conj(np.swapaxes(hermitian, -1, -2))) / 2
    values, vectors = np.linalg.eigh(hermitian)
    return (vectors * np.exp(-1j * values)[:, None, :]) @ np.conj(np.swapaxes(vectors, -1, -2))


def _propagators(h0, drive, omega, steps):
    """U(t_n) at t_n = n T / steps, n = 0 .. steps: shape (steps + 1, d, d)."""
    period = 2 * np.pi / omega
    h = period / steps
    step = _magnus_steps(h0, drive, omega, np.arange(steps) * h, h)
    out = np.empty((steps + 1,) + h0.shape, complex)
    out[0] = np.eye(h0.shape[0])
    for n in range(steps):
        out[n + 1] = step[n] @ out[n]
    return out


@dataclass(frozen=True)
class FloquetBasis:
    """Quasienergies ``energies`` (sorted, zone rule above), modes |phi_a(t_n)> as columns of
    ``modes[n]`` on the grid t_n = n T / len(modes), the propagators ``grid`` U(t_n) (n = 0 ..
    steps) and the mean energies; ``error``: max |U_N(T) - U_2N(T)|."""

    energies: np.ndarray
    mean_energies: np.ndarray
    modes: np.ndarray
    grid: np.ndarray
    error: float


def floquet_basis(h0, drive, omega) -> FloquetBasis:
    """The Floquet decomposition of H(t) (module docstring)."""
    period = 2 * np.pi / omega
    scale = max(float(np.linalg.norm(h0, 2)) + sum(2 * float(np.linalg.norm(v, 2))
                                                   for v in drive.values()), omega)
    steps = 2 ** max(8, math.ceil(math.log2(scale * period / 0.2)))
    grid = _propagators(h0, drive, omega, steps)
    while True:
        finer = _propagators(h0, drive, omega, 2 * steps)
        error = float(np.abs(finer[-1] - grid[-1]).max())
        grid, steps = finer, 2 * steps
        # a product of N unitary steps carries round-off ~ N x 1e-16: below that, the difference
        # is round-off, not the integrator's error
        accepted = max(PROPAGATOR_TOLERANCE, ROUNDOFF_PER_STEP * steps)
        if error <= accepted:
            break
        if steps >= MAX_STEPS:
            raise ValueError(f"the one-period propagator did not converge: U(T) from {steps // 2} "
                             f"and {steps} Magnus steps differ by {error:.2g}, more than "
                             f"{accepted:.2g} (the tolerance {PROPAGATOR_TOLERANCE:g} or the "
                             f"round-off of {steps} steps): ||H|| x T = {scale * period:.3g} (a "
                             "drive too strong or too slow for its period T = 2 pi / Omega = "
                             f"{period:.4g}) needs more than {MAX_STEPS} steps")
    schur, vectors = scipy.linalg.schur(grid[-1], output="complex")   # normal: Schur form diagonal
    raw = -np.angle(np.diag(schur)) / period
    times = np.arange(steps) * period / steps
    h_t = _hamiltonian_at(h0, drive, omega, times)
    # mean energy of each Floquet state (independent of the branch of eps)
    states = grid[:-1] @ vectors                                      # U(t) |phi_a(0)>, up to phase
    mean = np.real(np.einsum("tia,tij,tja->a", states.conj(), h_t, states)) / steps
    energies = raw + omega * np.round((mean - raw) / omega)
    order = np.argsort(energies, kind="stable")
    energies, vectors, mean = energies[order], vectors[:, order], mean[order]
    modes = (grid[:-1] @ vectors) * np.exp(1j * np.outer(times, energies))[:, None, :]
    return FloquetBasis(energies, mean, modes, grid, error)


def fourier_components(basis: FloquetBasis, operator: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(k, X[k, a, c]) for every k of the grid (k from -M/2 + 1 to M/2), X_ac(k) =
    (1/T) int e^{i k Omega t} <phi_a(t)|A|phi_c(t)> dt by FFT."""
    m = basis.modes.shape[0]
    elements = np.conj(np.swapaxes(basis.modes, 1, 2)) @ operator @ basis.modes
    components = np.fft.ifft(elements, axis=0)           # (1/M) sum_n F_n e^{+2 pi i k n / M}
    # A Hermitian: X_ca(-k) = conj(X_ac(k)); imposed exactly (round-off averaged), so that the
    # channel at -Delta is exactly proportional to the adjoint of the channel at Delta
    partner = np.conj(np.swapaxes(components[(-np.arange(m)) % m], 1, 2))
    k = np.fft.fftfreq(m, 1.0 / m).astype(np.int64)
    return k, (components + partner) / 2


def sidebands_needed(k, components, norm2, tolerance) -> tuple[int, float]:
    """(K, dropped weight / ||A||_F^2): the smallest K with the weight beyond |k| > K at most
    ``tolerance`` x ||A||_F^2."""
    weight = np.bincount(np.abs(k), weights=(np.abs(components) ** 2).sum(axis=(1, 2)))
    largest = len(weight) - 1
    tail = np.append(np.cumsum(weight[::-1])[::-1][1:], 0.0)  # tail[K]: weight at |k| > K
    relative = tail / norm2 if norm2 > 0 else np.zeros_like(tail)
    K = int(np.flatnonzero(relative <= tolerance)[0])
    if K > largest // 2:
        raise ValueError(f"the Fourier components need {K} sidebands, more than half of the time "
                         f"grid's {largest}: aliasing would not be negligible")
    return K, float(relative[K])


# --- rates ----------------------------------------------------------------------------------------
def zero_frequency_rate(density, bath: Bath, coupling: Coupling, scale: float, where: str) -> float:
    """gamma(0) = lim_{x->0} J(x) n(x) (module docstring)."""
    if coupling.zero_frequency_rate is not None:
        return coupling.zero_frequency_rate
    h = 1e-6 * scale
    points = [h, h / 2, h / 4]
    values = [_density_at(density, x) for x in points]
    if max(values) == 0:
        return 0.0
    if min(values) <= 0:
        raise ValueError(f"{where}: spectral density vanishes at some small frequencies and not "
                         "others; give zero_frequency_rate")
    exponent = math.log(values[0] / values[2]) / math.log(4.0)
    if exponent > 1.05:
        return 0.0                                           # super-Ohmic: J(x) n(x) -> 0
    if exponent < 0.95:
        raise ValueError(f"{where}: the spectral density is sub-Ohmic near 0 (J ~ x^{exponent:.3g}), "
                         "so the pure-dephasing rate lim J(x) n(x) diverges: give "
                         "Coupling(..., zero_frequency_rate=gamma0)")
    r = [v / x for v, x in zip(values, points)]             # J(x)/x = J'(0) + c1 x + c2 x^2 ...
    slope = (8 * r[2] - 6 * r[1] + r[0]) / 3                 # Richardson: error O(h^3)
    return 0.0 if bath.zero_temperature else slope / bath.beta


def _density_at(density, x: float) -> float:
    """J(x) as a float: a number or a size-1 array, finite and >= 0."""
    raw = density(x)
    try:
        value = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"spectral_density({x}) must return a real number (got {raw!r})") from None
    if value.size != 1:
        raise ValueError(f"spectral_density({x}) must return one number (got shape {value.shape})")
    value = float(value.reshape(()))
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"spectral_density({x}) must be finite and >= 0 (got {value})")
    return value


def _rate(density, bath: Bath, delta: float) -> float:
    value = _density_at(density, abs(delta))
    occupation = bath.occupation(abs(delta))
    return value * (occupation + 1 if delta > 0 else occupation)


def _density(coupling: Coupling, bath: Bath):
    return coupling.spectral_density if coupling.spectral_density is not None else bath.density


@dataclass(frozen=True, eq=False)
class FloquetSystem(Model):
    """A periodically driven open system (README, "Your own periodically driven system"), sampled like any model.

    ``hamiltonian`` H0 (Hermitian), ``drive`` {m: V_m} (m >= 1, V_m any d x d matrix) and
    ``frequency`` Omega: H(t) = H0 + sum_m (V_m e^{i m Omega t} + V_m^dag e^{-i m Omega t}); or
    ``hamiltonian`` a periodic QuTiP ``QobjEvo``, QuTiP list or callable H(t) (no ``drive``;
    ``frequency`` read from string coefficients when not given: ``time_dependent``), decomposed into
    H0 and V_m by ``time_dependent.harmonics``;
    ``couplings`` [Coupling] (or one Coupling), ``baths`` {name: Bath} (mu = 0); ``initial`` the
    lab-frame state at t = 0, a density matrix or a state vector (no Gibbs declaration: of which
    Hamiltonian? give ``mt.gibbs_state(H0, beta)``); ``duration``; ``output_times`` and
    ``observables`` {name: lab-frame Hermitian operator}, recorded through the Floquet modes at
    each output time; ``measure_energy``: measure the quasienergy at t = 0 (this dephases a
    coherent start in the Floquet basis, which changes lab observables) and at the end (work,
    entropy production); False: the lab state evolves unmeasured (counting only).
    ``sideband_tolerance``: dropped Fourier weight (relative) that fixes the number of sidebands.  ``exact``: False samples without exact references (as
    ``OpenSystem(exact=False)``).

    ``open_system()`` is the Floquet-frame ``OpenSystem`` it compiles to; sampling, exact answers
    and tables are that system's.  A stored run reloads as that ``OpenSystem`` (spectral densities
    are callables and are not stored; the rates are, inside the channel operators).
    """

    hamiltonian: np.ndarray = None
    drive: dict = field(default_factory=dict)
    frequency: float | None = None
    couplings: tuple = ()
    baths: dict = field(default_factory=dict)
    initial: np.ndarray | None = None
    duration: float = 1.0
    output_times: np.ndarray | None = None
    observables: dict = field(default_factory=dict)
    measure_energy: bool = True
    sideband_tolerance: float = 1e-12
    exact: bool = True

    name: ClassVar[str] = "floquet_system"
    block_size: ClassVar[int] = OpenSystem.block_size
    extra_tables: ClassVar[tuple[str, ...]] = OpenSystem.extra_tables
    #: how to sample one from the command line (shown by ``mcthermo sample floquet_system``)
    command_line_example: ClassVar[str] = (
        "# driven.py\n"
        "import numpy as np, mcthermo as mt\n"
        "sx, sz = np.array([[0, 1], [1, 0]]), np.diag([0.5, -0.5])\n"
        "driven = mt.FloquetSystem(hamiltonian=sz, drive={1: 0.1 * sx}, frequency=1.0,\n"
        "                          couplings=[mt.Coupling(sx, bath=\"b\", spectral_density=lambda w: 0.02 * w)],\n"
        "                          baths={\"b\": mt.Bath(beta=2.0)}, initial=np.diag([0.0, 1.0]), duration=20.0)\n"
        "then: mcthermo sample driven.py:driven --trajectories 1e5 --seed 1")

    def __post_init__(self):
        if self.hamiltonian is None:
            raise ValueError("FloquetSystem needs hamiltonian (H0)")
        if is_time_dependent(self.hamiltonian):
            if self.drive:
                raise ValueError("give either a time-dependent hamiltonian or H0 with drive, not both")
            if self.frequency is not None and not _finite("frequency", self.frequency) > 0:
                raise ValueError(f"frequency must be > 0 (got {self.frequency!r})")
            h0, drive, omega = harmonics(self.hamiltonian, self.frequency)
            for name, value in (("hamiltonian", h0), ("drive", drive), ("frequency", omega)):
                object.__setattr__(self, name, value)
        if self.frequency is None:
            raise ValueError("FloquetSystem needs frequency (the drive's angular frequency Omega)")
        h0 = require_hermitian("hamiltonian", as_matrix("hamiltonian", self.hamiltonian))
        d = h0.shape[0]
        object.__setattr__(self, "hamiltonian", h0)
        if not isinstance(self.drive, dict):
            raise ValueError("drive must be a dict {m: V_m} of harmonics m = 1, 2, ...")
        drive = {}
        for m, v in self.drive.items():
            if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
                raise ValueError(f"drive harmonics must be integers >= 1 (got {m!r})")
            drive[int(m)] = as_matrix(f"drive V_{m}", v, d)
        object.__setattr__(self, "drive", drive)
        omega = _finite("frequency", self.frequency)
        if not omega > 0:
            raise ValueError(f"frequency must be > 0 (got {self.frequency!r})")
        object.__setattr__(self, "frequency", omega)
        tolerance = _finite("sideband_tolerance", self.sideband_tolerance)
        if not 0 < tolerance < 1:
            raise ValueError(f"sideband_tolerance must be in (0, 1) (got {tolerance!r})")
        object.__setattr__(self, "sideband_tolerance", tolerance)
        couplings = self.couplings
        if isinstance(couplings, Coupling):
            couplings = (couplings,)                     # one coupling needs no list
        if not isinstance(couplings, (list, tuple)) or not couplings \
                or not all(isinstance(c, Coupling) for c in couplings):
            raise ValueError("couplings must be an mt.Coupling or a non-empty list of them "
                             f"(got {type(self.couplings).__name__})")
        couplings = tuple(couplings)
        if not isinstance(self.baths, dict) or not all(isinstance(b, Bath)
                                                       for b in self.baths.values()):
            raise ValueError("baths must be a dict {name: mt.Bath}")
        for c in couplings:
            as_matrix(f"coupling operator of bath {c.bath!r}", c.operator, d)
            if c.bath not in self.baths:
                raise ValueError(f"a coupling names unknown bath {c.bath!r}")
            bath = self.baths[c.bath]
            if c.spectral_density is None and bath.spectral_density is None and bath.coupling == 0:
                raise ValueError(f"the coupling to bath {c.bath!r} has no spectral density: give "
                                 f"mt.Coupling(A, bath={c.bath!r}, spectral_density=J) or the Bath "
                                 "a spectral_density=J or an Ohmic coupling=alpha (its default "
                                 "coupling is 0: no rates)")
        unused = sorted(set(self.baths) - {c.bath for c in couplings})
        if unused:
            raise ValueError(f"bath {unused[0]!r} is used by no coupling")
        for name, bath in self.baths.items():
            if bath.mu != 0:
                raise ValueError(f"bath {name!r}: couplings exchange no particles, mu must be 0")
        object.__setattr__(self, "couplings", couplings)
        if self.initial is None:
            raise ValueError("initial (the lab-frame state at t = 0) is required")
        if isinstance(self.initial, (str, Gibbs)):
            raise ValueError(f"initial must be the lab-frame state at t = 0, a density matrix or a "
                             f"state vector (got {self.initial!r}): a FloquetSystem declares no "
                             "Gibbs start (of which Hamiltonian?); for e^{-beta H0}/Z give "
                             "initial=mt.gibbs_state(H0, beta)")
        try:
            object.__setattr__(self, "initial", as_density_matrix(self.initial, d))
        except ValueError as error:
            raise ValueError(f"{error}; initial is the lab-frame state at t = 0, a density matrix "
                             "or a state vector") from None
        duration = _finite("duration", self.duration)
        if not duration > 0:
            raise ValueError(f"duration must be > 0 (got {self.duration!r})")
        object.__setattr__(self, "duration", duration)
        if not isinstance(self.observables, dict):
            raise ValueError("observables must be a dict {name: Hermitian operator}")
        object.__setattr__(self, "observables", {
            n: require_hermitian(f"observable {n!r}", as_matrix(f"observable {n!r}", a, d))
            for n, a in self.observables.items()})
        self.open_system()                       # compile now: every refusal at construction

    # --- compilation --------------------------------------------------------------------------
    @property
    def period(self) -> float:
        return 2 * np.pi / self.frequency

    def basis(self) -> FloquetBasis:
        return self._cached("basis", lambda: floquet_basis(self.hamiltonian, self.drive,
                                                           self.frequency))

    @property
    def quasienergies(self) -> np.ndarray:
        return self.basis().energies

    @property
    def propagator_error(self) -> float:
        """max |U_N(T) - U_2N(T)| of the accepted one-period propagator."""
        return self.basis().error

    @property
    def sidebands(self) -> int:
        """K: sidebands |k| <= K kept (the largest over couplings)."""
        return max(self._compiled()[1])

    @property
    def dropped_weight(self) -> float:
        """Largest relative Fourier weight dropped (beyond K and below the term floor) over
        couplings."""
        return max(self._compiled()[2])

    def modes_at(self, times) -> np.ndarray:
        """P(t) = [|phi_a(t)>] (columns) at the given times, shape (n, d, d): from the nearest
        earlier grid propagator by one Magnus step."""
        basis = self.basis()
        steps = basis.modes.shape[0]
        h = self.period / steps
        phase = np.mod(np.asarray(times, dtype=float), self.period)
        index = np.minimum(np.floor(phase / h).astype(np.int64), steps - 1)
        rest = phase - index * h
        out = np.empty((len(phase),) + self.hamiltonian.shape, complex)
        for n, (i, r) in enumerate(zip(index, rest)):
            u = basis.grid[i]
            if r > 0:
                step = _magnus_steps(self.hamiltonian, self.drive, self.frequency,
                                     np.array([i * h]), r)
                u = step[0] @ u
            out[n] = u @ basis.modes[0] * np.exp(1j * basis.energies * phase[n])
        return out

    def _compiled(self):
        return self._cached("compiled", self._compile)

    def _compile(self):
        basis = self.basis()
        omega, d = self.frequency, self.hamiltonian.shape[0]
        eps = basis.energies
        scale = max(1.0, omega, float(np.abs(eps).max()))
        shared = {b: sum(c.bath == b for c in self.couplings) for b in self.baths}
        channels, sidebands, dropped = [], [], []
        for index, coupling in enumerate(self.couplings):
            bath = self.baths[coupling.bath]
            density = _density(coupling, bath)
            norm2 = float(np.linalg.norm(coupling.operator) ** 2)
            k_all, x_all = fourier_components(basis, coupling.operator)
            K, weight = sidebands_needed(k_all, x_all, norm2, self.sideband_tolerance)
            sidebands.append(K)
            dropped.append(weight)
            keep = np.abs(k_all) <= K
            ks, xs = k_all[keep], x_all[keep]
            # terms of weight below tolerance x ||A||^2 / (number of terms) are dropped too, so
            # the whole dropped weight stays below 2 x tolerance x ||A||^2
            floor = max(COMPONENT_FLOOR * max(1.0, math.sqrt(norm2)),
                        math.sqrt(self.sideband_tolerance * norm2 / xs.size))
            partner = {int(k): n for n, k in enumerate(ks)}
            terms = []                                     # (Delta, k, a, c, X)
            for n, k in enumerate(ks):
                for a in range(d):
                    for c in range(d):
                        x = xs[n, a, c]
                        if max(abs(x), abs(xs[partner[-int(k)], c, a])) <= floor:
                            weight += abs(x) ** 2 / norm2
                            continue
                        terms.append((eps[c] - eps[a] + k * omega, int(k), a, c, x))
            dropped[-1] = weight
            prefix = coupling.bath if shared[coupling.bath] == 1 else f"{coupling.bath}#{index}"
            channels += self._channels(terms, prefix, coupling, bath, density, scale)
        return channels, sidebands, dropped

    def _channels(self, terms, prefix, coupling, bath, density, scale):
        """One channel per cluster of equal |Delta| and sign (clusters of |Delta| shared by the
        two signs, so that partners stay partners)."""
        magnitudes = np.array(sorted({abs(t[0]) for t in terms}))
        clusters, current = [], []
        for value in magnitudes:
            if current and value - current[-1] > FREQUENCY_TOLERANCE * scale:
                clusters.append(current)
                current = []
            current.append(value)
        if current:
            clusters.append(current)
        centre = {v: (0.0 if cluster[0] <= FREQUENCY_TOLERANCE * scale else float(np.mean(cluster)))
                  for cluster in clusters for v in cluster}
        groups: dict[float, list] = {}
        for delta, k, a, c, x in terms:
            label = math.copysign(centre[abs(delta)], delta) if centre[abs(delta)] else 0.0
            groups.setdefault(label, []).append((k, a, c, x))
        where = f"coupling to bath {coupling.bath!r}"
        out, names, mixed = [], set(), []
        for delta in sorted(groups, key=lambda x: -x):
            rate = (zero_frequency_rate(density, bath, coupling, scale, where) if delta == 0
                    else _rate(density, bath, delta))
            if rate == 0:
                continue
            operator = np.zeros((len(self.quasienergies),) * 2, complex)
            for k, a, c, x in groups[delta]:
                operator[a, c] += x
            if not np.any(np.abs(operator) > 0):
                continue
            name = f"{prefix}:{delta:+.6g}"
            sidebands = {k for k, _, _, _ in groups[delta]}
            if len(sidebands) > 1:
                mixed.append((rate * float(np.sum(np.abs(operator) ** 2)), name, delta))
                continue
            # one sideband: L is an eigenoperator of H_F = diag(eps) (Bohr frequency Delta - k Omega)
            drive_work = sidebands.pop() * self.frequency
            suffix = 2
            while name in names:
                name, suffix = f"{prefix}:{delta:+.6g}#{suffix}", suffix + 1
            names.add(name)
            out.append(Channel(name, math.sqrt(rate) * operator, energy=delta, bath=coupling.bath,
                               drive_work=drive_work))
        if mixed:                                   # the strongest such channel is named
            _, name, delta = max(mixed)
            self._refuse_mixed_sidebands(name, delta, groups[delta], len(mixed) - 1)
        return out

    def _refuse_mixed_sidebands(self, name, delta, terms, others):
        """One channel (one Delta) with terms of different sidebands k: quasienergies coincide
        modulo Omega (eps_c - eps_a differ by a multiple of Omega between its terms), so in the
        Floquet frame its terms rotate at different frequencies e^{i (Delta - k Omega) t}: the
        frame dissipator is periodic, not constant, and no time-independent OpenSystem is exact.
        Refused (terms below the sideband floor are already dropped, so an undriven system, whose
        k != 0 components vanish, is not concerned)."""
        by_k: dict[int, list] = {}
        for k, a, c, x in terms:
            by_k.setdefault(k, []).append((abs(x), a, c))
        parts = []
        for k in sorted(by_k, key=lambda k: (abs(k), k)):
            _, a, c = max(by_k[k])
            parts.append(f"|{a}><{c}| in sideband k = {k} (eps_{c} - eps_{a} = "
                         f"{self.quasienergies[c] - self.quasienergies[a]:.10g})")
        raise ValueError(
            f"channel {name!r} (Delta = {delta:.10g}"
            f"{f', and {others} other channels' if others else ''}) combines jumps of different "
            "sidebands: "
            f"{'; '.join(parts)}: quasienergy differences that differ by a multiple of Omega = "
            f"{self.frequency:.10g} (quasienergies {np.array2string(self.quasienergies, precision=10)}"
            "), so this channel's Floquet-frame dissipator is periodic in time, not constant, and "
            "FloquetSystem (a time-independent Floquet-frame generator) cannot represent it; shift "
            "H0, the drive or the frequency so that these Bohr-Floquet frequencies differ by more "
            "than the total rate (3x for no warning)")

    def _check_secular(self, channels):
        """Distinct channel frequencies of one bath (rates >= SECULAR_WEIGHT x total) must differ by
        more than the total rate (the largest eigenvalue of sum_k L_k^dag L_k): refused at or below
        it, a warning below 3x."""
        d = len(self.quasienergies)
        total = float(np.linalg.eigvalsh(sum((c.operator.conj().T @ c.operator for c in channels),
                                             np.zeros((d, d), complex))).max())
        smallest = None
        for bath in self.baths:
            rates = {}
            for c in channels:
                if c.bath == bath:
                    r = float(np.linalg.eigvalsh(c.operator.conj().T @ c.operator).max())
                    if r >= SECULAR_WEIGHT * total:
                        rates[c.energy] = r
            freqs = sorted(rates)
            for lower, upper in zip(freqs, freqs[1:]):
                if smallest is None or upper - lower < smallest[0]:
                    smallest = (upper - lower, lower, upper, bath)
        if smallest is None:
            return
        gap, lower, upper, bath = smallest
        if gap <= total:
            raise ValueError(f"secular approximation invalid: {bath}-bath channel frequencies "
                             f"{lower:.6g} and {upper:.6g} (smallest gap {gap:.3g}) are closer than "
                             f"the total rate {total:.3g}")
        if gap < 3 * total:
            warnings.warn(f"secular approximation doubtful: {bath}-bath channel frequencies "
                          f"{lower:.6g} and {upper:.6g} (smallest gap {gap:.3g}) differ by less "
                          f"than 3x the total rate {total:.3g}", SecularApproximationWarning,
                          stacklevel=_user_stacklevel())

    def open_system(self) -> OpenSystem:
        """The Floquet-frame OpenSystem (module docstring): H_F = diag(eps), the secular channels,
        rho_F(0) = P(0)^dag rho0 P(0), observables P(t)^dag A P(t) at each output time."""
        return self._cached("open_system", self._open_system)

    def _open_system(self) -> OpenSystem:
        channels = self._compiled()[0]
        if not channels:
            raise ValueError("no channel has a nonzero rate: nothing to sample")
        self._check_secular(channels)
        p0 = self.basis().modes[0]
        times = self.output_times
        if times is None:
            times = np.linspace(0.0, self.duration, 101) if self.observables else np.zeros(0)
        times = np.asarray(times, dtype=np.float64).ravel()
        frames = self.modes_at(times) if len(times) and self.observables else None
        observables = {n: np.conj(np.swapaxes(frames, 1, 2)) @ a @ frames
                       for n, a in self.observables.items()}
        with warnings.catch_warnings():
            # every channel has one sideband k, so it is an eigenoperator of diag(eps) with Bohr
            # frequency Delta - k Omega (mixed sidebands are refused): its label is exact by
            # construction, and a LocalJumpWarning (Bohr frequencies within the channel tolerance
            # but not the label check's) would only mislead
            warnings.simplefilter("ignore", LocalJumpWarning)
            return OpenSystem(hamiltonian=np.diag(self.quasienergies).astype(complex),
                              channels=channels,
                              baths={n: Bath(beta=b.beta) for n, b in self.baths.items()},
                              initial=p0.conj().T @ self.initial @ p0, duration=self.duration,
                              output_times=times, observables=observables,
                              measure_energy=self.measure_energy, exact=self.exact)

    # --- the Model interface: the Floquet-frame OpenSystem's ------------------------------------
    def parameters(self) -> dict:
        """The OpenSystem's parameters with the drive frequency and the sidebands kept."""
        return {**self.open_system().parameters(), "frequency": self.frequency,
                "sidebands": self.sidebands}

    @classmethod
    def table_parameters(cls, parameters: dict) -> dict:
        """The OpenSystem's scalar columns and the drive frequency (the system: run.json)."""
        return {**OpenSystem.table_parameters(parameters), "frequency": parameters["frequency"]}

    @classmethod
    def from_parameters(cls, parameters: dict) -> OpenSystem:
        """A stored run's system: the Floquet-frame OpenSystem (spectral densities are not stored)."""
        return OpenSystem.from_parameters(parameters)

    def directions(self, reverse: bool) -> list[str]:
        return self.open_system().directions(reverse)

    def steps_per_trajectory(self) -> float:
        return self.open_system().steps_per_trajectory()

    def check_tables_feasible(self) -> None:
        self.open_system().check_tables_feasible()

    def log_generating_function(self, observable: str, s, direction: str = "forward"):
        """ln <e^{-s X}> of a trajectory observable (``OpenSystem.log_generating_function`` of the
        Floquet-frame system: work = sum of k Omega, heat_<bath>, entropy_production, jumps_<c>)."""
        return self.open_system().log_generating_function(observable, s, direction)

    def exact_moments(self, observable: str, direction: str = "forward") -> tuple[float, float]:
        return self.open_system().exact_moments(observable, direction)

    def accumulate(self, direction, seed, first, count):
        return self.open_system().accumulate(direction, seed, first, count)

    def samples(self, direction, seed, first, count):
        return self.open_system().samples(direction, seed, first, count)

    def jump_record(self, seed: int, index: int, direction: str = "forward"):
        return self.open_system().jump_record(seed, index, direction)

    def results(self, accumulators):
        return self.open_system().results(accumulators)
