"""Model C: a laser-driven two-level atom with a photon bath and a dephasing bath (seed 002; README, Driven qubit).

Units hbar = k_B = 1.  H(t) = (w0/2) sz + (Om/2)(s+ e^{-i wL t} + h.c.); the photon bath couples
through sx, the dephasing bath through sz.  In the Floquet frame the secular Born–Markov master
equation is dρ~/dt = g- D[s~-] + g+ D[s~+] + g_z D[s~z] with rates built from nine sideband
channels (the Floquet mixing angle and Rabi frequency give each channel's frequency and weight;
``qubit_floquet``).  Exact answers: the closed-form solution of the Floquet-frame master equation
and the lab Bloch vector, the three thermodynamic bookkeepings of the driven atom (conventional,
Hamiltonian-based, entropy-based; ``qubit_thermo``) and the full counting statistics of the heat
per bath and the laser work over the nine channels (``qubit_exact``).  The sampler is the generic
jump engine (``kernels/lindblad.py``, exact waiting times) run on the Floquet-frame
``OpenSystem`` this spec compiles to (``open_system``: each jump labelled by its channel's
frequency and laser quanta).
"""
from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numba
import numpy as np
import pandas as pd

from ..kernels import lindblad
from . import qubit_exact, qubit_results, qubit_thermo
from ..options import add_field_options, field_values, in_user_words, numbers, option
from ..model import MAX_MAGNITUDE, STREAMS, Model, finite, require
from ..systems import open_sampling
from ..systems.bath import Bath
from ..systems.open_system import Channel, OpenSystem
from .qubit_floquet import (BATHS, CHANNELS, bloch_map, channel_coefficients, correlation_spectrum,
                            floquet_solution, mixing, steady_inversion, to_floquet)

INITIAL_STATES = ("ground", "excited", "mixed", "thermal")
#: largest atom, laser and Rabi frequency (energy): channel frequencies, heats and their rounding
#: to 12 decimals stay far inside the float range
MAX_FREQUENCY = 1e15
#: largest lattice half-width H of the jump statistics: the exact law is (2H + 1)^2 2x2 matrix
#: exponentials (~1 minute at H = 400) and the kernel keeps (2H + 1)^2 counts per thread group
MAX_HALF_WIDTH = 400
#: largest fine time grid of the exact thermodynamic bookkeeping (~10 s, a few hundred MB)
MAX_FINE_GRID = 4_000_000

#: Floquet operators on the levels (|->, |+>) of the Floquet-frame system (level = Floquet label:
#: 0 = -, 1 = +): s~- = |-><+| lowers, s~+ = |+><-| raises, s~z = |+><+| - |-><-|
FLOQUET_OPERATORS = {"-": np.array([[0, 1], [0, 0]], complex), "+": np.array([[0, 0], [1, 0]], complex),
                     "z": np.diag([-1.0, 1.0]).astype(complex)}
#: Floquet Pauli matrices (s~z, s~x, s~y) on the levels (|->, |+>): rho~ = (1 + s s~z + x~ s~x +
#: y~ s~y) / 2, so <+|rho~|-> = (x~ - i y~) / 2
FLOQUET_PAULI = np.array([np.diag([-1.0, 1.0]), [[0, 1], [1, 0]], [[0, 1j], [-1j, 0]]], complex)


class SecularApproximationWarning(UserWarning):
    """Channel frequencies of one bath are not well separated relative to the rates."""


def _default_photon():
    return Bath(coupling=0.002, temperature=2.0, cutoff=30.0)


def _default_dephasing():
    return Bath(coupling=0.005, temperature=1.0, cutoff=30.0)


@dataclass(frozen=True, eq=False)
class DrivenQubit(Model):
    """Driven qubit spec (defaults: the spec test parameters, ground start, t in [0, 40], 201 times).

    atom_frequency w0 > 0, laser_frequency wL > 0, rabi Om > 0 (energy units); photon_bath (sx
    coupling) and dephasing_bath (sz coupling): ``Bath``; or ``rates = (g-, g+, g_z)`` given directly
    (>= 0; baths ignored; then only ensemble quantities exist, no heat per bath); initial: "ground",
    "excited", "mixed", "thermal" (of (w0/2) sz at ``initial_temperature``) or a Bloch vector
    (x, y, z) with |r| <= 1; t_end > 0: final time; times >= 2: output times linspace(0, t_end).
    """

    atom_frequency: float = field(default=10.0, metadata=option("atom frequency w0 (energy)", "> 0"))
    laser_frequency: float = field(default=10.0, metadata=option("laser frequency wL (energy)", "> 0"))
    rabi: float = field(default=1.0, metadata=option("Rabi frequency Om (energy)", "> 0"))
    photon_bath: Bath = field(default_factory=_default_photon)
    dephasing_bath: Bath = field(default_factory=_default_dephasing)
    rates: tuple | None = None
    initial: str | tuple = "ground"
    initial_temperature: float | None = field(default=None, metadata=option(
        "temperature of --initial thermal (energy)", "> 0", kind="float"))
    t_end: float = field(default=40.0, metadata=option("final time (1/energy)", "> 0"))
    times: int = field(default=201, metadata=option("output times in [0, t_end]", "integer >= 2"))

    name: ClassVar[str] = "qubit"
    block_size: ClassVar[int] = 4096
    extra_tables: ClassVar[tuple[str, ...]] = ("bloch", "thermo")

    def __post_init__(self):
        for name in ("atom_frequency", "laser_frequency", "rabi", "t_end"):
            value = finite(name, getattr(self, name))
            require(value > 0, f"{name} must be > 0 (got {value})"
                    + ("; at rabi = 0 the Floquet basis and mixing angle are undefined"
                       if name == "rabi" else ""))
            require(name == "t_end" or value <= MAX_FREQUENCY,
                    f"{name} must be <= {MAX_FREQUENCY:.0e} (got {value:g})")
            object.__setattr__(self, name, value)
        require(isinstance(self.times, (int, np.integer)) and not isinstance(self.times, bool)
                and self.times >= 2, f"times must be an integer >= 2 (got {self.times!r})")
        object.__setattr__(self, "times", int(self.times))
        require(isinstance(self.photon_bath, Bath) and isinstance(self.dephasing_bath, Bath),
                "photon_bath and dephasing_bath must be Bath instances")
        for label, bath in (("photon_bath", self.photon_bath), ("dephasing_bath", self.dephasing_bath)):
            # sigma weighs every jump by beta_b: a zero-temperature bath makes it infinite
            require(bath.temperature > 0, f"{label} temperature must be > 0 (got {bath.temperature!r}):"
                    " at zero temperature the entropy production of a jump is infinite")
            require(bath.mu == 0, f"{label} mu must be 0 (got {bath.mu!r})")
        if self.rates is not None:
            rates = tuple(finite("rates", g) for g in self.rates)
            require(len(rates) == 3 and min(rates) >= 0,
                    f"rates must be three numbers (g_minus, g_plus, g_z) >= 0 (got {self.rates!r})")
            object.__setattr__(self, "rates", rates)
        self._check_initial()
        if self.rates is None:
            self._check_baths()
            self._check_secular()
        self._check_sizes()

    def _bath_rates(self) -> str:
        """' (photon bath g, dephasing bath g)': who makes the total rate, for messages."""
        if self.rates is None:
            shares = ", ".join(f"{bath} bath {sum(self.floquet_rates(bath)):.3g}" for bath in BATHS)
            return f" ({shares})"
        return ""

    def _dominant_bath(self) -> str:
        """'; label temperature = T and coupling = a give g of the total rate': the bath that makes
        most of the total rate, named by its field (messages of the secular check)."""
        share = {bath: sum(self.floquet_rates(bath)) for bath in BATHS}
        bath = max(share, key=share.get)
        label, spec = (("photon_bath", self.photon_bath) if bath == "photon"
                       else ("dephasing_bath", self.dephasing_bath))
        return (f"; {label} temperature = {spec.temperature:g} and {label} coupling = "
                f"{spec.coupling:g} give {share[bath]:.3g} of it")

    def _check_baths(self):
        """Every channel rate finite, and beta_b x |channel frequency| bounded, naming the bath."""
        with np.errstate(all="ignore"):   # overflow is what is being detected here
            rate = self.channel_rates()
        frequency = np.abs(self.channel_frequencies())
        for label, bath_name, bath in (("photon_bath", "photon", self.photon_bath),
                                       ("dephasing_bath", "dephasing", self.dephasing_bath)):
            mine = np.array([c[0] == bath_name for c in CHANNELS])
            require(np.all(np.isfinite(rate[mine])),
                    f"{label} coupling must keep the {bath_name}-bath rates finite (got coupling "
                    f"{bath.coupling:g} at temperature {bath.temperature:g}, cutoff {bath.cutoff:g})")
            largest = float(frequency[mine].max())
            require(bath.beta * largest <= MAX_MAGNITUDE,
                    f"{label} temperature must be >= {largest / MAX_MAGNITUDE:.3g} at channel "
                    f"frequencies up to {largest:g} (got {bath.temperature:g}): beta x frequency "
                    f"above {MAX_MAGNITUDE:.0e} overflows the entropy-production moments")

    def _check_sizes(self):
        """The jump lattice (half-width H) and the fine grid of the exact bookkeeping stay feasible."""
        rate = self.escape_rate()
        # H = lambda + 10 sqrt(lambda) + 10 <= MAX_HALF_WIDTH at lambda = rate x t_end <= most
        most = ((np.sqrt(100.0 + 4.0 * (MAX_HALF_WIDTH - 10)) - 10.0) / 2.0) ** 2
        if rate * self.t_end > most:  # (rate > 0 here)
            raise ValueError(
                f"t_end must be <= {most / rate:.4g} at these rates (got {self.t_end:g}): t_end x "
                f"escape rate {rate:.3g}{self._bath_rates()} = {rate * self.t_end:.3g} expected jumps "
                f"per trajectory, limit {most:.0f} (exact jump statistics on a lattice of half-width "
                f"<= {MAX_HALF_WIDTH})")
        require(self.times <= MAX_FINE_GRID, f"times must be <= {MAX_FINE_GRID} (got {self.times})")
        spacing = self.t_end / (self.times - 1)
        points = (self.times - 1) * qubit_thermo.fine_factor(spacing, self.quasi_frequency)
        require(points <= MAX_FINE_GRID,
                f"t_end must be <= {self.t_end * MAX_FINE_GRID / points:.4g} at quasi-frequency W = "
                f"{self.quasi_frequency:.4g} (got {self.t_end:g}): the exact bookkeeping integrates "
                f"on a grid of spacing 0.005 min(1, 1/W), here {points:.3g} points (limit "
                f"{MAX_FINE_GRID:.0e})")

    def _check_initial(self):
        if isinstance(self.initial, str):
            require(self.initial in INITIAL_STATES,
                    f"initial must be one of {INITIAL_STATES} or a Bloch vector (got {self.initial!r})")
            require(self.initial == "thermal" or self.initial_temperature is None,
                    "initial_temperature is only used with initial = 'thermal'")
            if self.initial == "thermal":
                require(self.initial_temperature is not None,
                        "initial = 'thermal' needs initial_temperature > 0")
                value = finite("initial_temperature", self.initial_temperature)
                require(value > 0, f"initial_temperature must be > 0 (got {value})")
                object.__setattr__(self, "initial_temperature", value)
            return
        require(self.initial_temperature is None,
                "initial_temperature is only used with initial = 'thermal'")
        r = tuple(finite("initial Bloch component", x) for x in self.initial)
        require(len(r) == 3, f"an initial Bloch vector needs 3 components (got {self.initial!r})")
        norm = float(np.linalg.norm(r))
        require(norm <= 1 + 1e-12, f"initial Bloch vector must have |r| <= 1 (got |r| = {norm})")
        object.__setattr__(self, "initial", r)

    def _check_secular(self):
        """Secular approximation: within one bath, distinct channel frequencies must differ by much
        more than the total rate (error at or below 1x, warning below 3x; the test parameters have
        W / total rate = 7.5)."""
        total = sum(self.floquet_rates())
        coefficient = channel_coefficients(self.mixing_angle)
        for bath in BATHS:
            freqs = sorted({round(f, 12) for f, (b, *_), c in zip(self.channel_frequencies(),
                                                                  CHANNELS, coefficient)
                            if b == bath and abs(c) > 1e-12})
            for lower, upper in zip(freqs, freqs[1:]):
                gap = upper - lower
                require(gap > total, f"secular approximation invalid: {bath}-bath channel "
                        f"frequencies {lower:g} and {upper:g} are closer than the total rate {total:g}"
                        f"{self._dominant_bath()}")
                if gap < 3 * total:
                    warnings.warn(f"secular approximation doubtful: {bath}-bath channel frequencies "
                                  f"{lower:g} and {upper:g} differ by less than 3x the total rate "
                                  f"{total:g}", SecularApproximationWarning, stacklevel=3)

    # --- Floquet geometry and the nine sideband channels ------------------------------------------
    @property
    def detuning(self) -> float:
        return self.atom_frequency - self.laser_frequency

    @property
    def quasi_frequency(self) -> float:
        """W = sqrt(Delta^2 + Om^2), the quasi-energy splitting."""
        return mixing(self.atom_frequency, self.laser_frequency, self.rabi)[1]

    @property
    def mixing_angle(self) -> float:
        """eta, with cos eta = Delta/W and sin eta = Om/W."""
        return mixing(self.atom_frequency, self.laser_frequency, self.rabi)[2]

    def floquet_basis(self) -> np.ndarray:
        """Columns |+>, |-> in the atom basis (|e>, |g>)."""
        h = self.mixing_angle / 2
        return np.array([[np.cos(h), -np.sin(h)], [np.sin(h), np.cos(h)]])

    def channel_frequencies(self) -> np.ndarray:
        return np.array([nl * self.laser_frequency + nw * self.quasi_frequency
                         for *_, nl, nw in CHANNELS])

    def channel_rates(self) -> np.ndarray:
        """Rate |c|^2 G_bath(omega_c) of each channel (rates-only form: g_z, g-, g+ on the
        dephasing-bath slots 0, 1, 2 and zero elsewhere, no bath meaning)."""
        if self.rates is not None:
            g_minus, g_plus, g_z = self.rates
            return np.array([g_z, g_minus, g_plus, 0, 0, 0, 0, 0, 0], dtype=np.float64)
        baths = {"photon": self.photon_bath, "dephasing": self.dephasing_bath}
        coefficient = channel_coefficients(self.mixing_angle)
        return np.array([c * c * correlation_spectrum(baths[bath], w) for (bath, *_), c, w
                         in zip(CHANNELS, coefficient, self.channel_frequencies())])

    def channel_table(self) -> pd.DataFrame:
        """Every channel: bath, Floquet operator, frequency (energy into the bath), Fourier
        coefficient c, G(omega), rate, and its lattice increments (laser, photon, dephasing)."""
        self.require_baths("the channel table")
        baths = {"photon": self.photon_bath, "dephasing": self.dephasing_bath}
        frequencies = self.channel_frequencies()
        return pd.DataFrame({
            "channel": np.arange(len(CHANNELS)),
            "bath": [c[0] for c in CHANNELS],
            "operator": ["s~" + c[1] for c in CHANNELS],
            "frequency": frequencies,
            "coefficient": channel_coefficients(self.mixing_angle),
            "G": [correlation_spectrum(baths[c[0]], w) for c, w in zip(CHANNELS, frequencies)],
            "rate": self.channel_rates(),
            "laser_quanta": qubit_exact.increments()[0],
            "photon_quanta": qubit_exact.increments()[1],
            "dephasing_quanta": qubit_exact.increments()[2],
        })

    def floquet_rates(self, bath: str | None = None) -> tuple[float, float, float]:
        """(g-, g+, g_z), of one bath if ``bath`` is given (``rates`` in the rates-only form)."""
        if bath is None and self.rates is not None:
            return self.rates
        if bath is not None:
            self.require_baths("rates per bath")
        rate = self.channel_rates()
        out = {"-": 0.0, "+": 0.0, "z": 0.0}
        for (b, op, *_), g in zip(CHANNELS, rate):
            if bath is None or b == bath:
                out[op] += float(g)
        return out["-"], out["+"], out["z"]

    def require_baths(self, what: str) -> None:
        require(self.rates is None, f"{what} needs the two baths: a DrivenQubit given by rates "
                "(g-, g+, g_z) only has ensemble quantities, no heat per bath")

    # --- closed-form Floquet-frame solution and Bloch vector --------------------------------------
    def output_times(self) -> np.ndarray:
        return np.linspace(0.0, self.t_end, self.times)

    def initial_bloch(self) -> np.ndarray:
        """Initial Bloch vector in the atom basis (z = p_e - p_g)."""
        if not isinstance(self.initial, str):
            return np.array(self.initial, dtype=np.float64)
        z = {"ground": -1.0, "excited": 1.0, "mixed": 0.0}.get(self.initial)
        if z is None:
            z = -np.tanh(self.atom_frequency / (2 * self.initial_temperature))
        return np.array([0.0, 0.0, z])

    def initial_floquet(self) -> np.ndarray:
        """(s0, x~0, y~0)."""
        return to_floquet(self.initial_bloch(), self.mixing_angle)

    def steady_inversion(self) -> float:
        """s_inf = (g+ - g-)/(g+ + g-), the Floquet population inversion of the steady state."""
        return steady_inversion(self.floquet_rates())

    def floquet_state(self, times=None) -> np.ndarray:
        """(s, x~, y~)(t), shape (n, 3), interaction picture."""
        times = self.output_times() if times is None else times
        return floquet_solution(self.initial_floquet(), self.floquet_rates(), times)

    def bloch_map(self, times) -> np.ndarray:
        return bloch_map(times, self.mixing_angle, self.quasi_frequency, self.laser_frequency)

    def bloch(self, times=None) -> np.ndarray:
        """Lab-frame Bloch vector r(t) in the atom basis, shape (n, 3)."""
        times = self.output_times() if times is None else times
        return np.einsum("nij,nj->ni", self.bloch_map(times), self.floquet_state(times))

    def steady_state(self, times) -> np.ndarray:
        """r_inf(t) = s_inf (sin eta cos wL t, sin eta sin wL t, cos eta), rotating at wL."""
        t = np.asarray(times, dtype=np.float64)
        eta = self.mixing_angle
        return self.steady_inversion() * np.column_stack([
            np.sin(eta) * np.cos(self.laser_frequency * t),
            np.sin(eta) * np.sin(self.laser_frequency * t), np.full(t.shape, np.cos(eta))])

    def field(self, times) -> tuple[np.ndarray, np.ndarray]:
        """h(t) and dh/dt, shape (n, 3) each: H(t) = h(t).sigma / 2."""
        t = np.asarray(times, dtype=np.float64)
        wl, om = self.laser_frequency, self.rabi
        h = np.column_stack([om * np.cos(wl * t), om * np.sin(wl * t),
                             np.full(t.shape, self.atom_frequency)])
        dh = np.column_stack([-om * wl * np.sin(wl * t), om * wl * np.cos(wl * t), np.zeros(t.shape)])
        return h, dh

    def energy(self, times=None) -> np.ndarray:
        """U(t) = h(t).r(t) / 2."""
        times = self.output_times() if times is None else times
        return 0.5 * np.einsum("ni,ni->n", self.field(times)[0], self.bloch(times))

    def thermodynamics(self, times=None) -> pd.DataFrame:
        """The three exact heat/work bookkeepings at ``times`` (``qubit_thermo.thermodynamics``)."""
        return qubit_thermo.thermodynamics(self, self.output_times() if times is None else times)

    # --- sampler: the Floquet-frame OpenSystem on the generic jump engine -------------------------
    def open_system(self) -> OpenSystem:
        """The Floquet-frame system this spec samples (computed once per spec): two levels (|->,
        |+>) = Floquet labels (0, 1) with the quasi-energy Hamiltonian diag(-W/2, +W/2); one
        ``Channel`` per channel of ``CHANNELS`` with a nonzero rate, operator sqrt(rate) s~op,
        energy omega_c = nL wL + nW W given to its bath, of which the laser supplies drive_work =
        nL wL (energy = Bohr frequency nW W + drive_work); initial rho~(0); observables ``x``,
        ``y``, ``z``: the lab Bloch components as Floquet-frame operators at each output time (the
        map ``bloch_map`` composed with the quasi-energy phases), so their expectation values are
        the lab Bloch vector r(t).  In the rates-only form the three dephasing-bath slots carry
        (g_z, g-, g+) and the dephasing bath's temperature is a placeholder (no heat is reported).
        Sampled on its own (``mt.sample(spec.open_system(), ...)``) this system measures the
        quasi-energy at t = 0, which dephases a Floquet-coherent start; the qubit's own tables
        (``kernel_tables``) start unmeasured and retrodict the initial label instead."""
        return self._cached("open_system", self._open_system)

    def _open_system(self) -> OpenSystem:
        baths = {"photon": self.photon_bath, "dephasing": self.dephasing_bath}
        channels = [Channel(name, np.sqrt(rate) * FLOQUET_OPERATORS[op], energy=omega, bath=bath,
                            drive_work=nl * self.laser_frequency)
                    for name, (bath, op, nl, _), rate, omega in zip(
                        qubit_results.channel_names(self), CHANNELS, self.channel_rates(),
                        self.channel_frequencies()) if rate > 0]
        s, x, y = self.initial_floquet()
        rho = 0.5 * np.array([[1 - s, x + 1j * y], [x - 1j * y, 1 + s]])   # on (|->, |+>)
        w = self.quasi_frequency
        return OpenSystem(hamiltonian=np.diag([-w / 2, w / 2]), channels=channels,
                          baths={b: Bath(beta=baths[b].beta) for b in BATHS
                                 if any(c.bath == b for c in channels)},
                          initial=rho, duration=self.t_end, output_times=self.output_times(),
                          observables=dict(zip("xyz", self.lab_bloch_operators())))

    def lab_bloch_operators(self) -> np.ndarray:
        """(3, T, 2, 2): the atom's sigma_x, sigma_y, sigma_z at each output time as operators on
        the Floquet-frame state (levels |->, |+>, quasi-energy phases included): with U0(t) =
        e^{-i diag(-W/2, W/2) t}, the interaction-picture components (s, x~, y~) are
        tr(rho U0 s~_k U0^dag), and r = bloch_map (s, x~, y~)."""
        times = self.output_times()
        w = self.quasi_frequency
        phases = np.exp(-1j * np.outer(times, [-w / 2, w / 2]))              # diag of U0(t)
        floquet = FLOQUET_PAULI[None] * (phases[:, None, :, None] * phases[:, None, None, :].conj())
        return np.einsum("tij,tjab->itab", self.bloch_map(times), floquet)

    def channel_indices(self) -> np.ndarray:
        """The ``CHANNELS`` index of each channel of ``open_system`` (those with a nonzero rate)."""
        return np.flatnonzero(self.channel_rates() > 0)

    def kernel_tables(self) -> lindblad.LindbladTables:
        """The generic jump kernel's tables of ``open_system`` (computed once per spec), with the
        qubit's own bookkeeping: three integer lattice axes per trajectory (laser quanta m_L,
        photon-bath Floquet quanta m_W, dephasing-bath quanta m_Z; ``qubit_exact.increments``),
        histogrammed jointly with the labels over (n0, nt, m_L + H, m_W + H) (m_Z is tracked, not
        histogrammed: it follows from the first law); the integer first law n0 - nt = m_W + m_Z
        counted per trajectory (``level_quanta`` (0, 1), ``balance`` (0, 1, 1)); and an UNMEASURED
        start (``retrodict``): each trajectory starts in an eigenvector of rho~(0), so the Bloch
        vector is that of the given state, while the Floquet labels n0, nt are those of a
        projective measurement at 0 and t_end, read off the jump record (the unravelling is
        classical in the Floquet basis: diagonal H_eff, jumps mapping a level to one level)."""
        return self._cached("tables", self._kernel_tables)

    def _kernel_tables(self) -> lindblad.LindbladTables:
        h = self.half_width()
        width = 2 * h + 1
        tables = open_sampling.kernel_tables(self.open_system(), open_sampling.Layout(
            max_count=h, units={}, half_widths={}, n_initial=2, n_final=2), retrodict=True)
        steps = np.stack(qubit_exact.increments(), axis=1)[self.channel_indices()]   # (K, 3)
        return tables._replace(
            step=np.ascontiguousarray(steps.reshape(1, len(steps), 3)),
            half_width=np.array([h, h, 0], np.int64),
            strides=np.array([2 * width**2, width**2, width, 1, 0], np.int64),
            cells=4 * width**2, level_quanta=np.array([0, 1], np.int64),
            balance=np.array([0, 1, 1], np.int64))

    def escape_rate(self) -> float:
        """Largest total jump rate out of a Floquet state, max(g-, g+) + g_z (1/time)."""
        g_minus, g_plus, g_z = self.floquet_rates()
        return max(g_minus, g_plus) + g_z

    def half_width(self) -> int:
        """Lattice half-width H of the laser and photon indices: the jump count exceeds
        lambda + 10 sqrt(lambda) + 10 (lambda = max escape rate x t_end) with probability < 1e-15."""
        lam = self.escape_rate() * self.t_end
        return int(np.ceil(lam + 10 * np.sqrt(lam) + 10))

    def steps_per_trajectory(self) -> float:
        return float(self.times + self.escape_rate() * self.t_end)

    def directions(self, reverse: bool) -> list[str]:
        require(not reverse, "the driven qubit has no reverse protocol (reverse must be False)")
        return ["forward"]

    def accumulate(self, direction, seed, first, count):
        """The generic kernel's accumulators (``qubit_results`` reads them): ``moments`` (blocks,
        T, 3, 2) sums of the lab Bloch components and their squares; ``joint`` the flat (n0, nt,
        m_L + H, m_W + H) histogram and ``joint_overflow``; ``count_histogram`` (9, H + 1) of each
        channel's jump count (rows of ``CHANNELS``; zero for channels without a rate) and
        ``count_overflow``; ``first_law_violations``."""
        blocks = -(-count // self.block_size)
        groups = max(1, min(blocks, numba.get_num_threads()))
        moments, _, joint, joint_overflow, histogram, overflow, _, violations = lindblad.accumulate(
            self.kernel_tables(), seed, STREAMS[direction], first, count, self.block_size, groups)
        rows = self.channel_indices()
        count_histogram = np.zeros((len(CHANNELS), histogram.shape[1]), np.int64)
        count_histogram[rows] = histogram
        count_overflow = np.zeros(len(CHANNELS), np.int64)
        count_overflow[rows] = overflow
        return {"moments": moments, "joint": joint, "joint_overflow": np.array([joint_overflow]),
                "count_histogram": count_histogram, "count_overflow": count_overflow,
                "first_law_violations": np.array([violations])}

    def samples(self, direction, seed, first, count):
        labels, counts, _, _ = lindblad.samples(self.kernel_tables(), seed, STREAMS[direction],
                                                first, count)
        channel_counts = np.zeros((count, len(CHANNELS)), np.int64)
        channel_counts[:, self.channel_indices()] = counts
        lattice = channel_counts @ np.stack(qubit_exact.increments(), axis=1)
        return qubit_results.sample_frame(self, first, labels.astype(np.int8), lattice, channel_counts)

    def jump_record(self, seed: int, index: int, direction: str = "forward"):
        """(jump times, ``CHANNELS`` indices) of trajectory ``index`` of a run seeded with ``seed``."""
        times, slots = lindblad.jump_record(self.kernel_tables(), seed, STREAMS[direction], index)
        return times, self.channel_indices()[slots]

    def results(self, accumulators):
        return qubit_results.results(self, accumulators)

    # --- parameters and command line --------------------------------------------------------------
    def parameters(self) -> dict:
        """Flat JSON-able parameters (baths as photon_* and dephasing_* columns)."""
        out = {name: getattr(self, name) for name in
               ("atom_frequency", "laser_frequency", "rabi", "t_end", "times")}
        for label, bath in (("photon", self.photon_bath), ("dephasing", self.dephasing_bath)):
            require(bath.spectral_density is None, "parameters() cannot store a user spectral "
                    "density: only Ohmic baths can be written to a run")
            out.update({f"{label}_coupling": bath.coupling, f"{label}_temperature": bath.temperature,
                        f"{label}_cutoff": bath.cutoff})
        rates = self.rates if self.rates is not None else (None, None, None)
        out.update(rate_minus=rates[0], rate_plus=rates[1], rate_z=rates[2])
        r = self.initial_bloch()
        out.update(initial=self.initial if isinstance(self.initial, str) else "bloch",
                   initial_temperature=self.initial_temperature,
                   initial_x=float(r[0]), initial_y=float(r[1]), initial_z=float(r[2]))
        return out

    @classmethod
    def from_parameters(cls, parameters: dict):
        p = dict(parameters)
        baths = {label: Bath(coupling=p.pop(f"{label}_coupling"),
                             temperature=p.pop(f"{label}_temperature"),
                             cutoff=p.pop(f"{label}_cutoff")) for label in ("photon", "dephasing")}
        rates = (p.pop("rate_minus"), p.pop("rate_plus"), p.pop("rate_z"))
        r = (p.pop("initial_x"), p.pop("initial_y"), p.pop("initial_z"))
        initial = p.pop("initial")
        return cls(photon_bath=baths["photon"], dephasing_bath=baths["dephasing"],
                   rates=None if rates[0] is None else rates,
                   initial=r if initial == "bloch" else initial, **p)

    @classmethod
    def add_arguments(cls, parser):
        add_field_options(parser, cls)
        add = parser.add_argument
        add("--initial", default="ground", help="initial state: ground | excited | mixed | thermal | "
            "x,y,z (Bloch vector, |r| <= 1) (default ground)")
        for label, bath in (("photon", _default_photon()), ("dephasing", _default_dephasing())):
            add(f"--{label}-coupling", type=float, help=f"{label}-bath coupling alpha (dimensionless); "
                f">= 0 (default {bath.coupling:g})")
            add(f"--{label}-temperature", type=float, help=f"{label}-bath temperature (energy); > 0 "
                f"(default {bath.temperature:g})")
        add("--cutoff", type=float, help=f"Ohmic cutoff of both baths (energy); > 0 "
            f"(default {_default_photon().cutoff:g})")
        add("--rates", help="g_minus,g_plus,g_z (1/time), >= 0: rates given directly instead of the "
            "baths (ensemble quantities only)")

    @classmethod
    def from_arguments(cls, args):
        initial = numbers_option("--initial", args.initial) if "," in args.initial else args.initial
        bath_options = {f"--{label}-{key}": getattr(args, f"{label}_{key}")
                        for label in ("photon", "dephasing") for key in ("coupling", "temperature")}
        bath_options["--cutoff"] = args.cutoff
        if args.rates is not None:
            used = [name for name, value in bath_options.items() if value is not None]
            require(not used, f"--rates replaces the baths: drop {', '.join(used)}")
            return cls(initial=initial, rates=numbers_option("--rates", args.rates), **field_values(args, cls))
        baths = {}
        for label, default in (("photon", _default_photon()), ("dephasing", _default_dephasing())):
            names = {"coupling": f"--{label}-coupling", "temperature": f"--{label}-temperature",
                     "cutoff": "--cutoff"}
            values = {key: getattr(default, key) if bath_options[name] is None else bath_options[name]
                      for key, name in names.items()}
            try:
                baths[label] = Bath(**values)
            except ValueError as error:
                names.update({f"{bath} {key}": name for key, name in names.items() for bath in ("bath", "Bath")})
                raise ValueError(in_user_words(str(error), names)) from None
        try:
            return cls(initial=initial, photon_bath=baths["photon"], dephasing_bath=baths["dephasing"],
                       **field_values(args, cls))
        except ValueError as error:  # a bath field named by the options the user typed
            names = {f"{label}_bath {key}": name for label in ("photon", "dephasing")
                     for key, name in (("coupling", f"--{label}-coupling"),
                                       ("temperature", f"--{label}-temperature"), ("cutoff", "--cutoff"))}
            raise ValueError(in_user_words(str(error), names)) from None


def numbers_option(option, text):
    """Comma-separated numbers of a command-line option given as text."""
    try:
        return numbers(text)
    except argparse.ArgumentTypeError:
        raise ValueError(f"{option} needs comma-separated numbers (got {text!r})") from None
