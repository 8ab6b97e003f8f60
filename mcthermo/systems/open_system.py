"""User-defined open quantum systems (docs/observables.md, Open systems): channels, pieces, and the spec itself.

Units hbar = k_B = 1.  A ``Channel`` is a jump operator L (rate included: a jump at rate ||L psi||^2)
labelled by what one jump gives TO its bath: ``energy`` omega and ``particles`` nu, and by
``drive_work``, the energy the external drive supplies per jump (Floquet sideband channels: k Omega;
0 for an undriven system).  By the heat convention (docs/observables.md) the heat of bath b (energy INTO the system, minus mu_b times
particles in) changes by -(omega - mu_b nu) per jump of one of its channels.

The label must be consistent with the Hamiltonian of its piece: where L is an eigenoperator of H
(every matrix element <b|L|a> between eigenstates has the same Bohr frequency Delta = E_a - E_b),
``energy`` must equal Delta + drive_work (to 1e-9 relative) and is refused otherwise; where L is not
an eigenoperator (local jump operators of a driven system) the label is kept as given and a warning
says so, once per channel.  A ``Piece`` is a Hamiltonian with its channels
for a duration; several pieces are a piecewise-constant protocol with sudden quenches.

Operators are numpy arrays or anything with ``.full()`` (QuTiP ``Qobj``); they are converted once to
contiguous complex128 arrays and validated here, so the kernel only ever sees flat arrays.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numba
import numpy as np
import pandas as pd

from ..exact import generating, tilted
from ..exact.strokes_dp import common_unit
from ..kernels import lindblad
from ..model import STREAMS, Model
from . import open_effort, open_results, open_sampling
from .bath import Bath
from .time_dependent import is_time_dependent, refusal

#: relative tolerance of the Hermiticity, trace and positivity checks of input matrices
TOLERANCE = 1e-10
#: relative tolerance of a channel's energy label against its Bohr frequency plus drive_work
LABEL_TOLERANCE = 1e-9
#: matrix elements of a jump operator (eigenbasis) below this fraction of its largest are round-off
ELEMENT_FLOOR = 1e-10


def as_matrix(name: str, value, dimension: int | None = None) -> np.ndarray:
    """A square complex128 matrix (numpy array or ``.full()``), validated; ``name`` in errors."""
    if hasattr(value, "full"):
        value = value.full()
    try:
        matrix = np.array(value, dtype=np.complex128)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a numeric matrix (got {type(value).__name__})") from None
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"{name} must be a square matrix (got shape {matrix.shape})")
    if dimension is not None and matrix.shape[0] != dimension:
        raise ValueError(f"{name} has shape {matrix.shape}, but the Hilbert space has dimension "
                         f"{dimension}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"{name} has NaN or infinite entries")
    return np.ascontiguousarray(matrix)


def require_hermitian(name: str, matrix: np.ndarray) -> np.ndarray:
    scale = max(1.0, float(np.abs(matrix).max()))
    if np.abs(matrix - matrix.conj().T).max() > TOLERANCE * scale:
        raise ValueError(f"{name} must be Hermitian")
    return np.ascontiguousarray((matrix + matrix.conj().T) / 2)


def _finite(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number (got {value!r})")
    return float(value)


@dataclass(frozen=True, eq=False)
class Channel:
    """One jump channel: ``name`` (identifies its counter across pieces), ``operator`` L with the
    rate included, ``energy`` omega and integer ``particles`` nu given TO ``bath`` per jump, and
    ``drive_work``: the energy the external drive supplies per jump (k Omega for a Floquet sideband
    channel), so that ``energy`` = Bohr frequency of L + ``drive_work`` (checked by ``Piece``)."""

    name: str
    operator: np.ndarray
    energy: float = 0.0
    bath: str = ""
    particles: int = 0
    drive_work: float = 0.0

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"channel name must be a non-empty string (got {self.name!r})")
        object.__setattr__(self, "operator", as_matrix(f"channel {self.name!r} operator",
                                                       self.operator))
        object.__setattr__(self, "energy", _finite(f"channel {self.name!r} energy", self.energy))
        if not isinstance(self.bath, str) or not self.bath:
            raise ValueError(f"channel {self.name!r} needs a bath name (got {self.bath!r})")
        if (isinstance(self.particles, (bool, str)) or not isinstance(self.particles, (int, float, np.integer, np.floating))
                or not float(self.particles).is_integer()):
            raise ValueError(f"channel {self.name!r} particles must be an integer "
                             f"(got {self.particles!r})")
        object.__setattr__(self, "particles", int(self.particles))
        object.__setattr__(self, "drive_work",
                           _finite(f"channel {self.name!r} drive_work", self.drive_work))

    def to_json(self) -> dict:
        out = {"name": self.name, "operator": matrix_to_json(self.operator),
               "energy": self.energy, "bath": self.bath, "particles": self.particles}
        if self.drive_work:
            out["drive_work"] = self.drive_work
        return out

    @classmethod
    def from_json(cls, data: dict) -> "Channel":
        return cls(data["name"], matrix_from_json(data["operator"]), data["energy"], data["bath"],
                   data["particles"], data.get("drive_work", 0.0))


class LocalJumpWarning(UserWarning):
    """A channel's operator is not an eigenoperator of its Hamiltonian (local jump operators of a
    driven system): its energy label cannot be checked against a Bohr frequency."""


#: (channel name, label, operator bytes) already warned about: one warning per channel, however
#: many pieces (a piecewise drive has a Hamiltonian per piece)
_WARNED: set = set()


def bohr_frequency(energies: np.ndarray, vectors: np.ndarray, operator: np.ndarray) -> float | None:
    """Delta if ``operator`` is an eigenoperator of H = V diag(energies) V^dag (every element
    <b|L|a> above round-off joins eigenstates with E_a - E_b = Delta, to 1e-9 relative), else None;
    0 for the zero operator."""
    elements = np.abs(vectors.conj().T @ operator @ vectors)
    largest = float(elements.max())
    if largest == 0:
        return 0.0
    target, source = np.nonzero(elements > ELEMENT_FLOOR * largest)
    gaps = energies[source] - energies[target]
    scale = max(1.0, float(np.abs(energies).max()))
    if gaps.max() - gaps.min() > LABEL_TOLERANCE * scale:
        return None
    return float(gaps.mean())


def check_labels(hamiltonian: np.ndarray, channels) -> None:
    """Refuse a channel whose ``energy`` is not its Bohr frequency plus ``drive_work``; warn (once
    per channel) where the operator is not an eigenoperator of ``hamiltonian``."""
    energies, vectors = np.linalg.eigh(hamiltonian)
    loose = []
    for c in channels:
        delta = bohr_frequency(energies, vectors, c.operator)
        if delta is None:
            key = (c.name, c.energy, c.drive_work, c.operator.tobytes())
            if key not in _WARNED:
                _WARNED.add(key)
                loose.append(c.name)
            continue
        scale = max(1.0, float(np.abs(energies).max()), abs(c.energy), abs(c.drive_work))
        if abs(c.energy - (delta + c.drive_work)) > LABEL_TOLERANCE * scale:
            raise ValueError(
                f"channel {c.name!r} has energy label {c.energy!r}, but its operator is an "
                f"eigenoperator of the Hamiltonian with Bohr frequency {delta:.12g} and drive_work "
                f"{c.drive_work!r}: the label must be {delta + c.drive_work:.12g} (energy = Bohr "
                "frequency + drive_work)")
    if loose:
        warnings.warn(f"channel(s) {', '.join(map(repr, loose))}: the operator is not an "
                      "eigenoperator of its piece's Hamiltonian (several Bohr frequencies), so "
                      "its energy label cannot be checked and is used as given", LocalJumpWarning,
                      stacklevel=4)


@dataclass(frozen=True, eq=False)
class Piece:
    """A time-independent stretch of the protocol: Hermitian ``hamiltonian``, its ``channels`` and
    ``duration`` (> 0)."""

    hamiltonian: np.ndarray
    channels: tuple = ()
    duration: float = 1.0

    def __post_init__(self):
        if is_time_dependent(self.hamiltonian):
            raise ValueError(refusal(self.hamiltonian))
        h = require_hermitian("hamiltonian", as_matrix("hamiltonian", self.hamiltonian))
        object.__setattr__(self, "hamiltonian", h)
        if isinstance(self.channels, (Channel, str)) or not isinstance(self.channels, (list, tuple)):
            raise ValueError(f"channels must be a list of mt.Channel (got {type(self.channels).__name__}"
                             f"{': write channels=[...]' if isinstance(self.channels, Channel) else ''})")
        channels = tuple(self.channels)
        for channel in channels:
            if not isinstance(channel, Channel):
                raise ValueError(f"channels must be Channel instances (got {type(channel).__name__})")
            as_matrix(f"channel {channel.name!r} operator", channel.operator, h.shape[0])
        names = [c.name for c in channels]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise ValueError(f"duplicate channel name {duplicate!r} in one piece")
        check_labels(h, channels)
        object.__setattr__(self, "channels", channels)
        duration = _finite("duration", self.duration)
        if not duration > 0:
            raise ValueError(f"duration must be > 0 (got {self.duration!r})")
        object.__setattr__(self, "duration", duration)

    @property
    def dimension(self) -> int:
        return self.hamiltonian.shape[0]

    def to_json(self) -> dict:
        return {"hamiltonian": matrix_to_json(self.hamiltonian),
                "channels": [c.to_json() for c in self.channels], "duration": self.duration}

    @classmethod
    def from_json(cls, data: dict) -> "Piece":
        return cls(matrix_from_json(data["hamiltonian"]),
                   [Channel.from_json(c) for c in data["channels"]], data["duration"])


def matrix_to_json(matrix: np.ndarray) -> list:
    """A complex matrix as [real part, imaginary part] nested lists (exact float round trip)."""
    return [matrix.real.tolist(), matrix.imag.tolist()]


def matrix_from_json(data) -> np.ndarray:
    real, imag = data
    return np.asarray(real, dtype=np.float64) + 1j * np.asarray(imag, dtype=np.float64)


def as_density_matrix(value, dimension: int) -> np.ndarray:
    """rho0 from a density matrix or a state vector (a ket of shape (d,) or (d, 1)), validated."""
    if hasattr(value, "full"):
        value = value.full()
    array = np.asarray(value)
    if array.ndim == 2 and array.shape[1] == 1 and dimension != 1:
        array = array[:, 0]
    if array.ndim == 1:
        ket = np.asarray(array, dtype=np.complex128)
        if ket.shape[0] != dimension or not np.all(np.isfinite(ket)):
            raise ValueError(f"initial state vector must have {dimension} finite entries")
        norm = np.linalg.norm(ket)
        if abs(norm - 1) > TOLERANCE:
            raise ValueError(f"initial state vector must be normalised (norm {norm!r})")
        array = np.outer(ket, ket.conj())
    rho = require_hermitian("initial density matrix", as_matrix("initial", array, dimension))
    trace = np.trace(rho).real
    if abs(trace - 1) > TOLERANCE:
        raise ValueError(f"initial density matrix must have trace 1 (got {trace!r})")
    if np.linalg.eigvalsh(rho).min() < -TOLERANCE:
        raise ValueError("initial density matrix must be positive semidefinite")
    return rho


def gibbs_state(hamiltonian, beta: float) -> np.ndarray:
    """e^{-beta H} / Z (beta > 0, finite), computed in the eigenbasis with the ground energy shifted
    out (no overflow)."""
    h = require_hermitian("hamiltonian", as_matrix("hamiltonian", hamiltonian))
    beta = _finite("beta", beta)
    if not beta > 0:
        raise ValueError(f"beta must be > 0 (got {beta!r})")
    energies, vectors = np.linalg.eigh(h)
    weights = np.exp(-beta * (energies - energies[0]))
    return (vectors * (weights / weights.sum())) @ vectors.conj().T


@dataclass(frozen=True)
class Gibbs:
    """A Gibbs initial state e^{-beta H_0} / Z of the first piece's Hamiltonian, declared rather than
    given as a matrix: ``Gibbs(beta)`` (beta > 0, inf: the ground (eigen)space, uniformly), or
    ``Gibbs(bath="cold")`` at that bath's beta (its chemical potential must be 0: an OpenSystem has no
    particle-number operator).  Its populations are kept exactly in log space,
    ln p0(i) = -beta E_i - ln Z, so a start at beta = 400 keeps p0 = (1, 2.5e-122, 1.5e-226) where a
    dense matrix in a rotated basis reads back (1, -2.8e-17, -3.5e-18) and the exact <e^{-sigma}>
    drops from 1 to 0.27 (absolute irreversibility by round-off).  ``initial="cold"`` (a bath name)
    is short for ``Gibbs(bath="cold")``."""

    beta: float | None = None
    bath: str | None = None

    def __post_init__(self):
        if (self.beta is None) == (self.bath is None):
            raise ValueError("Gibbs needs exactly one of beta or bath "
                             f"(got beta={self.beta!r}, bath={self.bath!r})")
        if self.beta is not None:
            if isinstance(self.beta, bool) or not isinstance(self.beta, (int, float, np.integer, np.floating)) \
                    or not self.beta > 0:
                raise ValueError(f"Gibbs beta must be > 0 (inf for the ground state; got {self.beta!r})")
            object.__setattr__(self, "beta", float(self.beta))
        elif not isinstance(self.bath, str) or not self.bath:
            raise ValueError(f"Gibbs bath must be a bath name (got {self.bath!r})")


def davies_channels(hamiltonian, coupling, bath: str, beta: float, spectral_density, mu: float = 0.0,
                    particles=None) -> list[Channel]:
    """Davies (secular Born-Markov) channels of a coupling operator A to bath ``bath``.

    In the eigenbasis {|a>, E_a} of H, jumps a -> b with equal Bohr frequency omega = E_a - E_b (to
    1e-9 relative) and equal particle change nu = N_a - N_b (``particles``: the particle number of
    each eigenstate, default 0) form one operator sqrt(gamma) A(omega); with x = omega - mu nu,
    gamma = J(|omega|) (n(|x|) + 1) for x > 0 and J(|omega|) n(|x|) for x < 0,
    n(y) = 1 / (e^{beta y} - 1), so gamma(reverse) / gamma = e^{-beta x}: local detailed balance.
    beta = inf gives the one-way (emission only) channels.  The zero-frequency (pure dephasing) part
    is not included: add it as its own Channel.  Rates are computed in log space, so any beta |x|
    works (beta |x| = 800: an absorption rate e^{-800}, operator e^{-400} A).  Channels are named
    ``"<bath>:<omega>"`` (and ``"/<nu>"`` with particles), omega to 6 significant digits or as many
    more as tell near-degenerate frequencies apart ("a:+1" and "a:+1.0000001").
    """
    h = require_hermitian("hamiltonian", as_matrix("hamiltonian", hamiltonian))
    a = as_matrix("coupling", coupling, h.shape[0])
    bath_state = Bath(beta=beta, mu=mu)
    energies, vectors = np.linalg.eigh(h)
    levels = np.zeros(len(energies)) if particles is None else np.asarray(particles, dtype=float)
    if levels.shape != energies.shape:
        raise ValueError(f"particles needs one entry per eigenstate ({len(energies)})")
    a_eigen = vectors.conj().T @ a @ vectors
    scale = max(1.0, float(np.abs(energies).max()))
    groups: dict[tuple[float, float], np.ndarray] = {}
    for source in range(len(energies)):
        for target in range(len(energies)):
            omega = energies[source] - energies[target]
            if abs(omega) <= 1e-9 * scale or abs(a_eigen[target, source]) < 1e-14:
                continue
            nu = levels[source] - levels[target]
            key = next((k for k in groups if abs(k[0] - omega) <= 1e-9 * scale and k[1] == nu),
                       (omega, nu))
            term = a_eigen[target, source] * np.outer(vectors[:, target], vectors[:, source].conj())
            groups[key] = groups.get(key, 0) + term
    channels = []
    keys = sorted(groups, key=lambda key: -key[0])
    digits = _distinguishing_digits([omega for omega, _ in keys])
    for omega, nu in keys:
        x = omega - bath_state.mu * nu
        if x == 0:
            raise ValueError(f"Davies channel at omega = {omega} has omega - mu nu = 0: its rate "
                             "diverges (choose mu or particles so that no transition is at mu)")
        density = float(spectral_density(abs(omega)))
        if not (math.isfinite(density) and density >= 0):
            raise ValueError(f"spectral_density({abs(omega)}) must be finite and >= 0")
        if density == 0:
            continue
        # ln gamma in log space: J (n + 1) or J n with n = 1/(e^{beta |x|} - 1), finite for every
        # beta |x| (800 gives an absorption rate e^{-800}: its operator sqrt(gamma) A is e^{-400} A)
        log_rate = math.log(density) + (bath_state.log_emission_factor(abs(x)) if x > 0
                                        else bath_state.log_occupation(abs(x)))
        amplitude = math.exp(log_rate / 2)
        if amplitude == 0:
            continue                                    # beta = inf: one-way (emission only)
        name = f"{bath}:{omega:+.{digits}g}" + ("" if particles is None else f"/{int(round(nu)):+d}")
        channels.append(Channel(name, amplitude * groups[(omega, nu)], energy=omega, bath=bath,
                                particles=int(round(nu))))
    return channels


def _distinguishing_digits(frequencies) -> int:
    """Significant digits (6 .. 17) that write distinct Bohr frequencies as distinct names (1 and
    1 + 1e-7 need 8: "+1" and "+1.0000001")."""
    for digits in range(6, 18):
        if len({f"{omega:+.{digits}g}" for omega in frequencies}) == len(set(frequencies)):
            return digits
    return 17


@dataclass(frozen=True, eq=False)
class OpenSystem(Model):
    """An open quantum system to sample (docs/observables.md, Open systems): one piece (``hamiltonian``, ``channels``,
    ``duration``) or ``pieces``; ``baths`` {name: Bath} (every one used by a channel); ``initial``
    rho0 (density matrix or state vector), or ``mt.Gibbs(beta)`` / a bath name for a Gibbs state of the
    first Hamiltonian kept exact in log space; ``output_times`` in [0, total duration] (non-decreasing;
    default 101 equally spaced times when there are ``observables``); ``observables`` {name:
    Hermitian operator, or a stack of one Hermitian operator per output time} whose expectation
    values are recorded; ``measure_energy``: two-point
    measurement of the Hamiltonian of the first and last piece (False: photon counting, no work or
    entropy production); ``energy_units`` {bath: unit}: the lattice unit of a bath's heat (found
    automatically when the heat quanta are rational multiples of one another); ``exact``: compute
    the exact references (laws, moments, fluctuation theorems, expectation values from the d^2 x
    d^2 tilted generator; sized first and refused beyond the limits of ``exact/effort.py``), or
    False to sample without them (histograms and sample moments; the check rows say "no exact
    reference").

    After validation the system is always stored as ``pieces`` (``hamiltonian``, ``channels`` and
    ``duration`` become None), so ``OpenSystem.from_parameters(system.parameters())`` rebuilds an
    equal system.
    """

    hamiltonian: np.ndarray | None = None
    channels: tuple | None = None
    baths: dict = field(default_factory=dict)
    initial: np.ndarray | None = None
    duration: float | None = None
    pieces: tuple | None = None
    output_times: np.ndarray | None = None
    observables: dict = field(default_factory=dict)
    measure_energy: bool = True
    energy_units: dict = field(default_factory=dict)
    exact: bool = True

    name: ClassVar[str] = "open_system"
    block_size: ClassVar[int] = 4096
    extra_tables: ClassVar[tuple[str, ...]] = ("expectation",)
    #: how to sample one from the command line (shown by ``mcthermo sample open_system``)
    command_line_example: ClassVar[str] = (
        "# decay.py\n"
        "import numpy as np, mcthermo as mt\n"
        "decay = mt.OpenSystem(hamiltonian=np.diag([0.0, 1.0]), channels=[mt.Channel(\"emit\", "
        "[[0, 0.3], [0, 0]], energy=1.0, bath=\"b\")],\n"
        "                      baths={\"b\": mt.Bath(beta=np.inf)}, initial=np.diag([0.0, 1.0]), duration=5.0)\n"
        "then: mcthermo sample decay.py:decay --trajectories 1e5 --seed 1")

    def __post_init__(self):
        if self.pieces is None:
            if self.hamiltonian is None or self.duration is None:
                raise ValueError("give hamiltonian, channels and duration, or pieces")
            pieces = (Piece(self.hamiltonian, self.channels or (), self.duration),)
        else:
            if self.hamiltonian is not None or self.channels is not None or self.duration is not None:
                raise ValueError("give either pieces or hamiltonian/channels/duration, not both")
            pieces = tuple(self.pieces) if isinstance(self.pieces, (list, tuple)) else ()
            if not pieces or not all(isinstance(p, Piece) for p in pieces):
                raise ValueError("pieces must be a non-empty list of mt.Piece"
                                 + (" (got one Piece: write pieces=[...])" if isinstance(self.pieces, Piece) else ""))
        dimension = pieces[0].dimension
        for n, piece in enumerate(pieces):
            if piece.dimension != dimension:
                raise ValueError(f"piece {n} hamiltonian has dimension {piece.dimension}, "
                                 f"piece 0 has {dimension}")
        for name in ("hamiltonian", "channels", "duration"):
            object.__setattr__(self, name, None)
        object.__setattr__(self, "pieces", pieces)
        self._validate_baths(pieces)
        self._validate_initial(pieces[0].hamiltonian)
        if not isinstance(self.observables, dict):
            raise ValueError("observables must be a dict {name: Hermitian operator}")
        object.__setattr__(self, "output_times", self._validated_times())
        observables = {}
        for name, operator in self.observables.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"observable names must be non-empty strings (got {name!r})")
            observables[name] = self._validated_observable(name, operator, dimension)
        object.__setattr__(self, "observables", observables)
        if not isinstance(self.measure_energy, (bool, np.bool_)):
            raise ValueError(f"measure_energy must be True or False (got {self.measure_energy!r})")
        object.__setattr__(self, "measure_energy", bool(self.measure_energy))
        if not isinstance(self.exact, (bool, np.bool_)):
            raise ValueError(f"exact must be True or False (got {self.exact!r})")
        object.__setattr__(self, "exact", bool(self.exact))
        units = {}
        for bath, unit in dict(self.energy_units).items():
            if bath not in self.baths:
                raise ValueError(f"energy_units names unknown bath {bath!r}")
            units[bath] = _finite(f"energy unit of bath {bath!r}", unit)
            if not units[bath] > 0:
                raise ValueError(f"energy unit of bath {bath!r} must be > 0")
        object.__setattr__(self, "energy_units", units)
        if self.gibbs_beta is None and self.measure_energy:
            # a density matrix (a dense Gibbs matrix, say) with populations negative by round-off:
            # they become 0, absolute irreversibility the user may not mean (a ket means it)
            populations = tilted.measured_populations(self)
            if populations.min() < 0 and self.__dict__["_dense_initial"]:
                warnings.warn(f"initial state: measured populations {populations[populations < 0]} are "
                              "negative by round-off and are taken as 0 (for an exact Gibbs start at "
                              "low temperature declare initial=mt.Gibbs(beta))", stacklevel=3)

    def _validate_baths(self, pieces):
        if not isinstance(self.baths, dict):
            raise ValueError("baths must be a dict {name: Bath}")
        for name, bath in self.baths.items():
            if not isinstance(bath, Bath):
                raise ValueError(f"bath {name!r} must be a mcthermo Bath (got {type(bath).__name__})")
        used = set()
        owner: dict[str, str] = {}
        for piece in pieces:
            for channel in piece.channels:
                if channel.bath not in self.baths:
                    raise ValueError(f"channel {channel.name!r} names unknown bath {channel.bath!r}")
                if owner.setdefault(channel.name, channel.bath) != channel.bath:
                    raise ValueError(f"channel {channel.name!r} belongs to bath "
                                     f"{owner[channel.name]!r} in one piece and {channel.bath!r} in another")
                used.add(channel.bath)
        unused = sorted(set(self.baths) - used)
        if unused:
            raise ValueError(f"bath {unused[0]!r} is used by no channel")

    def _validate_initial(self, hamiltonian):
        """``initial``: a Gibbs declaration (``Gibbs`` or a bath name) is kept as ``gibbs_beta`` with
        ``initial`` its density matrix (eigenbasis of H_0, from the log-space populations); a density
        matrix whose measured populations are negative by round-off gets them clipped to 0, with a
        warning (after validation, in ``__post_init__``; a state vector does not warn)."""
        initial = self.initial
        if initial is None:
            raise ValueError("initial (a density matrix, a state vector, mt.Gibbs(beta) or a bath "
                             "name) is required")
        if isinstance(initial, str):
            if initial not in self.baths:
                raise ValueError(f"initial {initial!r} is not a bath (baths: {', '.join(self.baths)})")
            initial = Gibbs(bath=initial)
        beta, ket = None, False
        if isinstance(initial, Gibbs):
            beta = initial.beta
            if initial.bath is not None:
                if initial.bath not in self.baths:
                    raise ValueError(f"Gibbs bath {initial.bath!r} is not a bath (baths: "
                                     f"{', '.join(self.baths)})")
                if self.baths[initial.bath].mu != 0:
                    raise ValueError(f"Gibbs(bath={initial.bath!r}): the bath has mu != 0, and a "
                                     "grand-canonical start needs particle numbers; give a density matrix")
                beta = self.baths[initial.bath].beta
            energies, vectors = np.linalg.eigh(hamiltonian)
            p = np.exp(tilted.log_gibbs_populations(energies, beta))
            object.__setattr__(self, "initial", (vectors * p) @ vectors.conj().T)
        else:
            shape = np.shape(initial.full() if hasattr(initial, "full") else initial)
            ket = len(shape) == 1 or (len(shape) == 2 and shape[1] == 1 and hamiltonian.shape[0] != 1)
            object.__setattr__(self, "initial", as_density_matrix(initial, hamiltonian.shape[0]))
        self.__dict__["_dense_initial"] = beta is None and not ket
        self.__dict__["_gibbs_beta"] = beta

    def _validated_observable(self, name, operator, dimension) -> np.ndarray:
        """A Hermitian (d, d) matrix, or a stack (T, d, d) of them: one per output time (an
        operator that depends on time, e.g. a lab-frame operator seen from a Floquet frame)."""
        if hasattr(operator, "full"):
            operator = operator.full()
        stack = np.asarray(operator)
        if stack.ndim != 3:
            return require_hermitian(f"observable {name!r}",
                                     as_matrix(f"observable {name!r}", operator, dimension))
        if stack.shape[0] != len(self.output_times):
            raise ValueError(f"observable {name!r} is a stack of {stack.shape[0]} matrices; a "
                             f"time-dependent observable needs one per output time "
                             f"({len(self.output_times)})")
        return np.ascontiguousarray([require_hermitian(
            f"observable {name!r} at output time {t}",
            as_matrix(f"observable {name!r} at output time {t}", matrix, dimension))
            for t, matrix in enumerate(stack)]).reshape(-1, dimension, dimension)

    def observable_at(self, name: str) -> np.ndarray:
        """Observable ``name`` at every output time, shape (T, d, d)."""
        a = self.observables[name]
        return np.broadcast_to(a, (len(self.output_times),) + a.shape[-2:]) if a.ndim == 2 else a

    def _validated_times(self) -> np.ndarray:
        total = self.total_duration
        if self.output_times is None:
            if any(np.ndim(getattr(a, "full", lambda: a)()) == 3 for a in self.observables.values()):
                raise ValueError("time-dependent observables (one matrix per output time) need "
                                 "output_times")
            return np.linspace(0.0, total, 101) if self.observables else np.zeros(0)
        try:
            times = np.array(self.output_times, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise ValueError("output_times must be numbers") from None
        if not np.all(np.isfinite(times)):
            raise ValueError("output_times has NaN or infinite entries")
        if times.size and (times.min() < 0 or times.max() > total * (1 + 1e-12)):
            raise ValueError(f"output_times must lie in [0, duration = {total}]")
        if np.any(np.diff(times) < 0):
            raise ValueError("output_times must be non-decreasing")
        return np.minimum(times, total)

    # --- derived quantities -------------------------------------------------------------------
    @property
    def gibbs_beta(self) -> float | None:
        """beta of a declared Gibbs start (``initial=mt.Gibbs(beta)`` or a bath name), else None."""
        return self.__dict__["_gibbs_beta"]

    @property
    def total_duration(self) -> float:
        return float(sum(p.duration for p in self.pieces))

    @property
    def dimension(self) -> int:
        return self.pieces[0].dimension

    @property
    def channel_names(self) -> list[str]:
        """Every channel name once, in order of first appearance (the counters)."""
        names: list[str] = []
        for piece in self.pieces:
            names += [c.name for c in piece.channels if c.name not in names]
        return names

    @property
    def bath_names(self) -> list[str]:
        return list(self.baths)

    def heat_quanta(self, bath: str) -> np.ndarray:
        """omega - mu nu of every channel of ``bath`` in every piece: heat given to it per jump."""
        mu = self.baths[bath].mu
        return np.array([c.energy - mu * c.particles for p in self.pieces for c in p.channels
                         if c.bath == bath])

    def lattice_unit(self, bath: str) -> float | None:
        """The unit q with every heat quantum of ``bath`` an integer multiple of q (declared in
        ``energy_units`` or found as a common rational unit by ``exact/strokes_dp.common_unit``), else
        None (1 when every quantum is zero)."""
        quanta = self.heat_quanta(bath)
        if bath in self.energy_units:
            unit = self.energy_units[bath]
            steps = quanta / unit
            if np.abs(steps - np.round(steps)).max(initial=0.0) > 1e-9:
                raise ValueError(f"energy unit {unit} of bath {bath!r} does not divide its heat quanta")
            return unit
        return common_unit(quanta)

    # --- JSON round trip ------------------------------------------------------------------------
    def to_json(self) -> dict:
        """The whole system, matrices included, as JSON-able data (run.json)."""
        return {"pieces": [p.to_json() for p in self.pieces],
                "baths": {name: bath.to_json() for name, bath in self.baths.items()},
                "initial": ({"gibbs_beta": None if math.isinf(self.gibbs_beta) else self.gibbs_beta}
                            if self.gibbs_beta is not None else matrix_to_json(self.initial)),
                "output_times": self.output_times.tolist(),
                "observables": {n: matrix_to_json(a) for n, a in self.observables.items()},
                "measure_energy": self.measure_energy,
                "energy_units": dict(self.energy_units),
                **({} if self.exact else {"exact": False})}

    @classmethod
    def from_json(cls, data: dict) -> "OpenSystem":
        return cls(pieces=[Piece.from_json(p) for p in data["pieces"]],
                   baths={n: Bath.from_json(b) for n, b in data["baths"].items()},
                   initial=(Gibbs(data["initial"]["gibbs_beta"] or math.inf)
                            if isinstance(data["initial"], dict) else matrix_from_json(data["initial"])),
                   output_times=np.asarray(data["output_times"], dtype=np.float64),
                   observables={n: matrix_from_json(a) for n, a in data["observables"].items()},
                   measure_energy=data["measure_energy"], energy_units=data["energy_units"],
                   exact=data.get("exact", True))

    def __eq__(self, other):
        return isinstance(other, OpenSystem) and self.to_json() == other.to_json()

    __hash__ = None

    # --- the Model interface ----------------------------------------------------------------------
    def parameters(self) -> dict:
        """Run identity (run.json): a few scalars to read, a ``fingerprint`` (hash of the system)
        and ``system``, the whole system (``to_json``: matrices as [real, imag] nested lists) as one
        JSON string.  The tables carry only the scalars (``table_parameters``) and ``system_id``."""
        text = json.dumps(self.to_json(), sort_keys=True)
        return {"dimension": self.dimension, "pieces": len(self.pieces),
                "duration": self.total_duration, "measure_energy": self.measure_energy,
                "fingerprint": hashlib.sha256(text.encode()).hexdigest()[:16], "system": text}

    @classmethod
    def from_parameters(cls, parameters: dict) -> "OpenSystem":
        return cls.from_json(json.loads(parameters["system"]))

    @classmethod
    def table_parameters(cls, parameters: dict) -> dict:
        """dimension, pieces, duration, measure_energy (the system itself: run.json, by system_id)."""
        return {key: parameters[key] for key in ("dimension", "pieces", "duration", "measure_energy")}

    def directions(self, reverse: bool) -> list[str]:
        if reverse:
            self.protocol("reverse")                   # refused here, with the reason, if it cannot be
            return ["forward", "reverse"]
        return ["forward"]

    def log_generating_function(self, observable: str, s, direction: str = "forward"):
        """ln G_X(s) = ln <e^{-s X}> of the trajectory observable X named as in the tables ("work",
        "heat_<bath>", "entropy_production", "jumps_<channel>") at real s (a scalar or 1-D array:
        the same shape is returned), exact from the tilted generator in log space
        (``mcthermo.exact.generating``: no DFT, no floor).  ValueError naming the observable when
        this system or direction does not have it."""
        return generating.log_generating_function(self.protocol(direction), observable, s)

    def exact_moments(self, observable: str, direction: str = "forward") -> tuple[float, float]:
        """Exact (mean, variance) of the trajectory observable X (names as in
        ``log_generating_function``), from the block derivatives of the same tilted generator."""
        return generating.moments(self.protocol(direction), observable)

    def protocol(self, direction: str) -> "OpenSystem":
        """The system a direction samples: "forward" this one, "reverse" its time reversal
        (``reversed``)."""
        if direction == "forward":
            return self
        if direction == "reverse":
            return self._cached("reverse", self.reversed)
        raise ValueError(f"unknown direction {direction!r} (directions: 'forward', 'reverse')")

    def reversed(self) -> "OpenSystem":
        """The time-reversed protocol: the pieces in reverse order, and time reversal in the given
        basis (complex conjugation) applied to every operator, H_n -> H_n^*, L_k -> L_k^* (channel
        names, energies, baths and particles kept; observables A -> A^*), started in the Gibbs state
        of the last piece's Hamiltonian (conjugated) at the forward start's declared beta
        (``mt.Gibbs``), else at the one bath's beta.  Conjugating H alone is not a time reversal:
        Crooks then fails for complex Hamiltonians.  ValueError when the reverse start's temperature
        is not defined (several baths and no declared Gibbs start)."""
        beta = self.gibbs_beta
        if beta is None:
            if len(self.baths) != 1:
                raise ValueError("the reverse protocol starts in the Gibbs state of the last "
                                 "Hamiltonian: with several baths declare its temperature with "
                                 "initial=mt.Gibbs(beta)")
            (bath,) = self.baths.values()
            beta = bath.beta
        pieces = [Piece(piece.hamiltonian.conj(),
                        [dataclasses.replace(c, operator=c.operator.conj()) for c in piece.channels],
                        piece.duration) for piece in reversed(self.pieces)]
        return OpenSystem(pieces=pieces, baths=self.baths, initial=Gibbs(beta),
                          output_times=self.output_times,
                          observables={n: a.conj() for n, a in self.observables.items()},
                          measure_energy=self.measure_energy, energy_units=self.energy_units,
                          exact=self.exact)

    def layout(self) -> open_sampling.Layout:
        """Histogram geometry (computed once per system)."""
        return self._cached("layout", lambda: open_sampling.layout(self))

    def kernel_tables(self) -> lindblad.LindbladTables:
        """Flat arrays of the jump kernel (computed once per system)."""
        return self._cached("tables", lambda: open_sampling.kernel_tables(self, self.layout()))

    def check_tables_feasible(self) -> None:
        """Size the exact references before computing any (``systems/open_effort.py``): refuse in
        one line, naming the size and ``exact=False``, what exceeds the limits of
        ``exact/effort.py``; then the histogram layout (its lattice widths are exact work)."""
        open_effort.sampling_effort(self).require()
        (open_effort.sampling_effort(self) + open_effort.results_effort(self, self.layout())).require()

    def steps_per_trajectory(self) -> float:
        """Output times plus the bound on the mean jump count, a few draws each."""
        return float(len(self.output_times) + self.layout().max_count)

    def accumulate(self, direction, seed, first, count):
        tables = self.protocol(direction).kernel_tables()
        blocks = -(-count // self.block_size)
        groups = max(1, min(blocks, numba.get_num_threads()))
        # no first-law check here (tables.balance is 0): the violation count is always 0
        moments, floats, joint, joint_overflow, histogram, overflow, exponential, _ = lindblad.accumulate(
            tables, seed, STREAMS[direction], first, count, self.block_size, groups)
        return {"moments": moments, "floats": floats, "joint": joint,
                "joint_overflow": np.array([joint_overflow]), "count_histogram": histogram,
                "count_overflow": overflow, "exponential": exponential}

    def samples(self, direction, seed, first, count):
        system = self.protocol(direction)
        labels, counts, heat, values = lindblad.samples(system.kernel_tables(), seed, STREAMS[direction],
                                                        first, count)
        frame = {"trajectory": np.arange(first, first + count)}
        if self.measure_energy:
            frame.update(initial_level=labels[:, 0], final_level=labels[:, 1])
        frame.update({f"jumps_{name}": counts[:, c] for c, name in enumerate(system.channel_names)})
        frame.update({f"heat_{bath}": heat[:, b] for b, bath in enumerate(self.bath_names)})
        frame.update({f"particles_{bath}": counts @ into for bath, into in self.particles_per_jump().items()})
        if self.measure_energy:
            frame.update(work=values[:, 0], entropy_production=values[:, 1])
        return pd.DataFrame(frame)

    def particles_per_jump(self) -> dict[str, np.ndarray]:
        """{bath: particles into the system per jump of each counter (-nu for the bath's channels,
        0 for the others)} for the baths whose channels carry particles: particles_<bath> of a
        trajectory is its jump counts times this vector."""
        out = {}
        for bath in self.bath_names:
            into = np.zeros(len(self.channel_names))
            for piece in self.pieces:
                for c in piece.channels:
                    if c.bath == bath:
                        into[self.channel_names.index(c.name)] = -c.particles
            if np.any(into):
                out[bath] = into
        return out

    def jump_record(self, seed: int, index: int, direction: str = "forward"):
        """(jump times, channel names) of trajectory ``index`` of a run seeded with ``seed``."""
        system = self.protocol(direction)
        times, slots = lindblad.jump_record(system.kernel_tables(), seed, STREAMS[direction], index)
        return times, [system.channel_names[s] for s in slots]

    def results(self, accumulators):
        return open_results.results(self, accumulators)
