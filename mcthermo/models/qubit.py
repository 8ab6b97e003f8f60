"""Model C: a laser-driven two-level atom with a photon bath and a dephasing bath (seed 002; README, Driven qubit).

Units hbar = k_B = 1.  H(t) = (w0/2) sz + (Om/2)(s+ e^{-i wL t} + h.c.); the photon bath couples
through sx, the dephasing bath through sz.  In the Floquet frame the secular Born–Markov master
equation is dρ~/dt = g- D[s~-] + g+ D[s~+] + g_z D[s~z] with rates built from nine channels (C1,
C7).  Exact answers: the Floquet-frame solution and lab Bloch vector (C2), the three
thermodynamic bookkeepings (C6, ``qubit_thermo``) and the full counting statistics of the jump
heat and laser work (C7, ``qubit_exact``).  The sampler unravels the master equation into quantum
jumps with exact waiting times (C5, ``kernels/jumps.py``).
"""
from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numba
import numpy as np
import pandas as pd

from ..kernels.jumps import OP_LOWER, OP_RAISE, OP_Z, JumpTables, jump_accumulate, jump_record, jump_samples
from . import qubit_exact, qubit_results, qubit_thermo
from ..options import add_field_options, field_values, in_user_words, numbers, option
from ..model import MAX_MAGNITUDE, STREAMS, Model, finite, require
from ..systems.bath import Bath
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

_OPS = {"z": OP_Z, "-": OP_LOWER, "+": OP_RAISE}


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

    # --- Floquet geometry and channels (C1) ---------------------------------------------------
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

    # --- analytic solution (C2) ---------------------------------------------------------------
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
        """Exact C6 bookkeeping at ``times`` (see ``qubit_thermo.thermodynamics``)."""
        return qubit_thermo.thermodynamics(self, self.output_times() if times is None else times)

    # --- sampler ----------------------------------------------------------------------------------
    def jump_tables(self) -> JumpTables:
        """The flat arrays of the jump kernels (see ``kernels/jumps.py``)."""
        s, x, y = self.initial_floquet()
        rho = 0.5 * np.array([[1 + s, x - 1j * y], [x + 1j * y, 1 - s]])   # rho~(0) on (|+>, |->)
        weights, vectors = np.linalg.eigh(rho)          # the unravelling of a mixed rho~(0)
        g_minus, g_plus, g_z = self.floquet_rates()
        rate = self.channel_rates()
        ops = np.array([_OPS[c[1]] for c in CHANNELS], dtype=np.int64)
        branches = {}
        for branch, total, allowed in (("plus", g_minus + g_z, (OP_Z, OP_LOWER)),
                                       ("minus", g_plus + g_z, (OP_Z, OP_RAISE))):
            chosen = np.flatnonzero(np.isin(ops, allowed))
            branches[f"cum_{branch}"] = np.cumsum(rate[chosen]) / total if total > 0 else np.zeros(6)
            branches[f"chan_{branch}"] = chosen.astype(np.int64)
        d_laser, d_photon, d_dephasing = qubit_exact.increments()
        return JumpTables(init_threshold=float(np.clip(weights[0], 0.0, 1.0)),
                          init_vectors=np.ascontiguousarray(vectors.T), a=g_minus + g_z,
                          b=g_plus + g_z, ops=ops, d_laser=d_laser, d_photon=d_photon,
                          d_dephasing=d_dephasing, times=self.output_times(), **branches)

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
        blocks = -(-count // self.block_size)
        groups = max(1, min(blocks, 4 * numba.get_num_threads()))
        moments, counts, overflow, channel_sum, channel_square, violations = jump_accumulate(
            seed, STREAMS[direction], first, count, self.block_size, groups, self.jump_tables(),
            self.half_width())
        return {"moments": moments, "counts": counts, "overflow": np.array([overflow]),
                "channel_sum": channel_sum, "channel_square": channel_square,
                "first_law_violations": np.array([violations])}

    def samples(self, direction, seed, first, count):
        labels, lattice, channel_counts = jump_samples(seed, STREAMS[direction], first, count,
                                                       self.jump_tables())
        return qubit_results.sample_frame(self, first, labels, lattice, channel_counts)

    def jump_record(self, seed: int, index: int, direction: str = "forward"):
        """(jump times, channel indices) of trajectory ``index`` of a run seeded with ``seed``."""
        return jump_record(seed, STREAMS[direction], index, self.jump_tables())

    def results(self, accumulators):
        return qubit_results.results(self, accumulators)

    # --- parameters and command line ---------------------------------------------------------------
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
