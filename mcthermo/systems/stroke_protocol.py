"""Stroke protocols on d levels (docs/observables.md, Stroke protocols), the validated specification: quenches (work)
and thermalisations (heat).

Units hbar = k_B = 1; heat Q_b is energy flowing from bath b into the system minus mu_b times the
particles it brings (docs/observables.md, Conventions).  Levels s = 0 .. d-1 carry energies E_s and particle numbers N_s.

    otto = mt.Strokes(energies=[0.0, 1.0], baths={"hot": mt.Bath(beta=0.5), "cold": mt.Bath(beta=2.0)},
                      initial="cold", strokes=[mt.Quench([0.0, 2.0]), mt.Thermalize("hot"),
                                               mt.Quench([0.0, 1.0]), mt.Thermalize("cold")],
                      cycles=5)

* ``Quench(energies, transitions=None)``: the energies become ``energies``; the level is kept
  (adiabatic) or moves s -> s' with probability T[s, s'], a doubly stochastic matrix (|U|^2 of the
  quench's unitary; it conserves particle number).  W += E'_{s'} - E_s.
* ``Thermalize(bath, strength=1)``: s -> s' with probability (1 - k) delta_{ss'} + k pi_b(s'),
  pi_b the (grand-)canonical distribution of the bath at the current energies (uniform over the
  ground level(s) of E - mu N for a zero-temperature bath, beta = inf);
  Q_b += (E_{s'} - E_s) - mu_b (N_{s'} - N_s).

``initial`` is a bath name (its Gibbs state at the initial energies) or the level populations.
The strokes repeat ``cycles`` times.  Work and heats live on the lattice of one energy quantum:
``energy_unit`` if declared, else the common rational unit of every increment (ValueError if the
energies are incommensurate).  ``exact=False`` samples without exact references (no law, no
exact moments: histograms and sample moments, the check rows say "no exact reference"); the
exact law's dynamic programme is otherwise sized first and refused, naming ``exact=False``, beyond
the limits of ``exact/effort.py``.  ``StrokeProtocol`` validates and compiles the protocol;
``strokes.Strokes`` samples it (``stroke_engine.py``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.special import logsumexp

from ..exact.strokes_dp import StrokeChain
from .bath import Bath

#: tolerance on the row and column sums of a transition matrix and on initial populations
SUM_TOLERANCE = 1e-9
#: largest number of levels (alias tables take the top bits of one 64-bit draw)
MAX_LEVELS = 1024


def _energies(name, values):
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of numbers (got {values!r})") from None
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-d list of numbers")
    energies = tuple(array.tolist())
    if not all(map(math.isfinite, energies)):
        raise ValueError(f"{name} must be finite (got {list(energies)})")
    return energies


@dataclass(frozen=True, eq=False)
class Quench:
    """Sudden change of the level energies to ``energies``; level kept, or redrawn from the rows of
    the doubly stochastic ``transitions`` T[s, s']."""

    energies: tuple
    transitions: np.ndarray | None = None

    def __post_init__(self):
        object.__setattr__(self, "energies", _energies("Quench energies", self.energies))
        if self.transitions is None:
            return
        d = len(self.energies)
        try:
            t = np.array(self.transitions, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("Quench transitions must be a matrix of numbers") from None
        if t.shape != (d, d):
            raise ValueError(f"Quench transitions must be a {d} x {d} matrix of probabilities "
                             f"(got shape {t.shape})")
        if not np.all(np.isfinite(t)) or np.any(t < 0):
            bad = t[~(np.isfinite(t) & (t >= 0))][0]
            raise ValueError(f"Quench transitions must be probabilities, finite and >= 0 (got {float(bad)!r}): "
                             "T[s, s'] = |U_{s's}|^2")
        if (np.max(np.abs(t.sum(axis=1) - 1.0)) > SUM_TOLERANCE
                or np.max(np.abs(t.sum(axis=0) - 1.0)) > SUM_TOLERANCE):
            raise ValueError("Quench transitions must be doubly stochastic (rows and columns sum to 1: "
                             "|U|^2 of the quench's unitary)")
        t.setflags(write=False)
        object.__setattr__(self, "transitions", t)

    def to_json(self) -> dict:
        return {"quench": list(self.energies),
                "transitions": None if self.transitions is None else self.transitions.tolist()}


@dataclass(frozen=True)
class Thermalize:
    """Contact with bath ``bath``: level redrawn from its Gibbs distribution with probability
    ``strength`` in [0, 1], else kept."""

    bath: str
    strength: float = 1.0

    def __post_init__(self):
        if not isinstance(self.bath, str):
            raise ValueError(f"Thermalize bath must be a bath name (got {self.bath!r})")
        s = self.strength
        if (isinstance(s, bool) or not isinstance(s, (int, float, np.integer, np.floating))
                or not 0.0 <= s <= 1.0):
            raise ValueError(f"Thermalize strength must lie in [0, 1] (got {s!r})")
        object.__setattr__(self, "strength", float(s))

    def to_json(self) -> dict:
        return {"thermalize": self.bath, "strength": self.strength}


def stroke_from_json(item: dict):
    if "quench" in item:
        return Quench(item["quench"], item.get("transitions"))
    if "thermalize" in item:
        return Thermalize(item["thermalize"], item.get("strength", 1.0))
    raise ValueError(f"unknown stroke {item!r}")


def _log_boltzmann(energies, particles, bath: Bath) -> tuple[np.ndarray, np.ndarray]:
    """(-beta (h - h_0), h_0) with h = E - mu N along the last axis and h_0 its minimum: 0 on the
    ground level(s) for every beta, beta = inf included (zero temperature: -inf above them)."""
    h = np.asarray(energies, dtype=np.float64) - bath.mu * np.asarray(particles, dtype=np.float64)
    ground = np.min(h, axis=-1, keepdims=True)
    excess = h - ground
    return np.where(excess > 0, -bath.beta * np.where(excess > 0, excess, 1.0), 0.0), ground


def log_gibbs(energies, particles, bath: Bath) -> np.ndarray:
    """ln of the (grand-)canonical populations e^{-beta (E - mu N)} / Z along the last axis (at
    beta = inf: uniform over the ground level(s), -inf elsewhere)."""
    x, _ = _log_boltzmann(energies, particles, bath)
    return x - logsumexp(x, axis=-1, keepdims=True)


def grand_potential(energies, particles, bath: Bath) -> float:
    """Omega = -ln sum_s e^{-beta (E_s - mu N_s)} / beta (the free energy F when mu N = 0); at
    beta = inf the ground value of E - mu N."""
    x, ground = _log_boltzmann(energies, particles, bath)
    return float(ground[0] - logsumexp(x) / bath.beta)


@dataclass(frozen=True, eq=False)
class StrokeProtocol:
    """Validated inputs of a stroke protocol (see the module docstring); ``Strokes`` adds the
    sampling and the tables."""

    energies: tuple
    baths: dict
    initial: str | tuple
    strokes: tuple
    particles: tuple | None = None
    cycles: int = 1
    energy_unit: float | None = None
    exact: bool = True

    def __post_init__(self):
        energies = _energies("energies", self.energies)
        d = len(energies)
        if d > MAX_LEVELS:
            raise ValueError(f"energies: at most {MAX_LEVELS} levels (got {d})")
        object.__setattr__(self, "energies", energies)
        self._validate_particles(d)
        self._validate_baths()
        self._validate_strokes(d)
        self._validate_initial(d)
        c = self.cycles
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 1:
            raise ValueError(f"cycles must be an integer >= 1 (got {c!r})")
        object.__setattr__(self, "cycles", int(c))
        if not isinstance(self.exact, (bool, np.bool_)):
            raise ValueError(f"exact must be True or False (got {self.exact!r})")
        object.__setattr__(self, "exact", bool(self.exact))
        if self.energy_unit is not None:
            u = self.energy_unit
            if isinstance(u, bool) or not isinstance(u, (int, float, np.integer, np.floating)) or not (
                    math.isfinite(u) and u > 0):
                raise ValueError(f"energy_unit must be a finite energy > 0 (got {u!r})")
            object.__setattr__(self, "energy_unit", float(u))

    def _validate_particles(self, d):
        if self.particles is None:
            return
        n = np.asarray(self.particles, dtype=np.float64) if np.ndim(self.particles) == 1 else None
        if n is None or n.size != d or not np.all(np.isfinite(n)) or np.any(n != np.round(n)):
            raise ValueError(f"particles must be {d} integers, one per level (got {self.particles!r})")
        object.__setattr__(self, "particles", tuple(int(x) for x in n))

    def _validate_baths(self):
        if not isinstance(self.baths, dict):
            raise ValueError("baths must be a dict {name: mt.Bath(...)}")
        for name, bath in self.baths.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"bath name {name!r} must be an identifier (it names heat_<bath>)")
            if not isinstance(bath, Bath):
                raise ValueError(f"baths[{name!r}] must be an mt.Bath (got {type(bath).__name__})")
        object.__setattr__(self, "baths", dict(self.baths))

    def _validate_strokes(self, d):
        strokes = tuple(self.strokes) if isinstance(self.strokes, (list, tuple)) else None
        if not strokes:
            one = isinstance(self.strokes, (Quench, Thermalize))
            raise ValueError("strokes must be a non-empty list of mt.Quench / mt.Thermalize"
                             + (f" (got one {type(self.strokes).__name__}: write strokes=[...])" if one else ""))
        n = self.level_particles
        for i, stroke in enumerate(strokes):
            if isinstance(stroke, Quench):
                if len(stroke.energies) != d:
                    raise ValueError(f"strokes[{i}] Quench: {len(stroke.energies)} energies for {d} levels")
                if stroke.transitions is not None and np.any(
                        (stroke.transitions > 0) & (n[:, None] != n[None, :])):
                    raise ValueError(f"strokes[{i}] Quench transitions change the particle number "
                                     "(a quench is unitary and conserves it)")
            elif isinstance(stroke, Thermalize):
                if stroke.bath not in self.baths:
                    raise ValueError(f"strokes[{i}] Thermalize: unknown bath {stroke.bath!r} "
                                     f"(baths: {', '.join(self.baths) or 'none'})")
            else:
                raise ValueError(f"strokes[{i}] must be an mt.Quench or mt.Thermalize "
                                 f"(got {type(stroke).__name__})")
        object.__setattr__(self, "strokes", strokes)

    def _validate_initial(self, d):
        if isinstance(self.initial, str):
            if self.initial not in self.baths:
                raise ValueError(f"initial {self.initial!r} is not a bath (baths: "
                                 f"{', '.join(self.baths) or 'none'}) nor a list of populations")
            return
        try:
            p = np.asarray(self.initial, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"initial must be a bath name or {d} populations (got {self.initial!r})") from None
        if (p.shape != (d,) or not np.all(np.isfinite(p)) or np.any(p < 0)
                or abs(p.sum() - 1.0) > SUM_TOLERANCE):
            raise ValueError(f"initial populations must be {d} probabilities summing to 1 "
                             f"(got {self.initial!r})")
        object.__setattr__(self, "initial", tuple(float(x) for x in p))

    # --- the protocol -----------------------------------------------------------------------
    @property
    def levels(self) -> int:
        return len(self.energies)

    @property
    def level_particles(self) -> np.ndarray:
        return np.zeros(len(self.energies)) if self.particles is None else np.asarray(self.particles, float)

    def expanded(self) -> tuple:
        """The strokes of every cycle, in order."""
        return self.strokes * self.cycles

    def energy_path(self) -> list[np.ndarray]:
        """Level energies before the first stroke and after each stroke."""
        path = [np.asarray(self.energies)]
        for stroke in self.expanded():
            path.append(np.asarray(stroke.energies) if isinstance(stroke, Quench) else path[-1])
        return path

    def log_initial(self) -> np.ndarray:
        if isinstance(self.initial, str):
            return log_gibbs(self.energies, self.level_particles, self.baths[self.initial])
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(self.initial))

    @property
    def particle_baths(self) -> tuple[str, ...]:
        """The baths whose particle counters particles_<bath> (net particles from the bath into the
        system) are chain observables: every bath of a protocol with two or more baths whose levels
        carry different particle numbers; empty otherwise (one bath: N_final - N_initial)."""
        n = self.level_particles
        return tuple(self.baths) if len(self.baths) >= 2 and np.any(n != n[0]) else ()

    @property
    def observable_names(self) -> tuple[str, ...]:
        return (("work",) + tuple(f"heat_{b}" for b in self.baths)
                + tuple(f"particles_{b}" for b in self.particle_baths))

    @cached_property
    def chain(self) -> StrokeChain:
        """The protocol as steps of transition matrices with the increments of work and heats
        (vectorised over strokes: one Gibbs distribution per thermalisation, in log space)."""
        d, n, names = self.levels, self.level_particles, list(self.baths)
        strokes = self.expanded()
        path = np.array(self.energy_path())
        before, after = path[:-1], path[1:]  # energies before and after each stroke
        quench = np.array([isinstance(stroke, Quench) for stroke in strokes])
        eye = np.eye(d)
        # endpoint values before (per s) and after (per s') each stroke: energies for the work,
        # E - mu N for the heat of the bath it touches, N for its particle counter (if any)
        counters = len(self.particle_baths)
        endpoints = np.zeros((1 + len(names) + counters, len(strokes), 2, d))
        endpoints[0, quench, 0], endpoints[0, quench, 1] = before[quench], after[quench]
        with np.errstate(divide="ignore"):
            log_steps = np.log(np.array([stroke.transitions if isinstance(stroke, Quench)
                                         and stroke.transitions is not None else eye
                                         for stroke in strokes]))
            for b, name in enumerate(names):
                touched = np.array([isinstance(stroke, Thermalize) and stroke.bath == name
                                    for stroke in strokes])
                if not touched.any():
                    continue
                bath = self.baths[name]
                h = before[touched] - bath.mu * n
                log_pi = log_gibbs(before[touched], n, bath)
                k = np.array([stroke.strength for stroke, t in zip(strokes, touched) if t])[:, None]
                # (1 - k) delta + k pi, the diagonal summed in log space (no underflow)
                steps = np.repeat((np.log(k) + log_pi)[:, None, :], d, axis=1)
                steps[:, np.arange(d), np.arange(d)] = np.logaddexp(np.log1p(-k), np.log(k) + log_pi)
                log_steps[touched] = steps
                endpoints[1 + b, touched, 0] = endpoints[1 + b, touched, 1] = h
                if counters:
                    endpoints[1 + len(names) + b, touched, 0] = endpoints[1 + len(names) + b, touched, 1] = n
        increments = endpoints[:, :, 1, None, :] - endpoints[:, :, 0, :, None]
        return StrokeChain(self.log_initial(), log_steps, np.ascontiguousarray(increments),
                           self.observable_names, np.ascontiguousarray(endpoints))

    def zero_temperature_baths(self) -> list[str]:
        """The baths at beta = inf (a thermalisation sends the system to its ground level(s))."""
        return [name for name, bath in self.baths.items() if bath.zero_temperature]

    def gibbs_bath(self) -> str | None:
        """The bath when the protocol starts in its Gibbs state and touches no other bath (the
        Jarzynski / Crooks setting), else None."""
        if not isinstance(self.initial, str):
            return None
        used = {s.bath for s in self.strokes if isinstance(s, Thermalize)}
        return self.initial if used <= {self.initial} else None

    def free_energy_change(self) -> float:
        """Omega(final energies) - Omega(initial energies) at the Gibbs bath (``gibbs_bath``)."""
        bath = self.baths[self.gibbs_bath()]
        n = self.level_particles
        return grand_potential(self.energy_path()[-1], n, bath) - grand_potential(self.energies, n, bath)

    def reference_log_populations(self) -> np.ndarray:
        """ln p~, the reference final distribution of the entropy production: the final populations."""
        return self._final_log_populations

    @cached_property
    def _final_log_populations(self) -> np.ndarray:
        return self.chain.log_populations()

    def reversed_protocol(self) -> dict:
        """Arguments of the time-reversed protocol: strokes backwards (each quench undone with T^T),
        starting from the Gibbs state at the final energies for a ``gibbs_bath`` protocol, else
        from the final populations."""
        path = self.energy_path()
        strokes = []
        for i, stroke in reversed(list(enumerate(self.expanded()))):
            if isinstance(stroke, Quench):
                t = None if stroke.transitions is None else stroke.transitions.T
                strokes.append(Quench(tuple(path[i]), t))
            else:
                strokes.append(stroke)
        bath = self.gibbs_bath()
        initial = bath if bath is not None else tuple(np.exp(self.reference_log_populations()))
        return dict(energies=tuple(path[-1]), baths=self.baths, initial=initial, strokes=strokes,
                    particles=self.particles, cycles=1, energy_unit=self.energy_unit, exact=self.exact)

    def parameters(self) -> dict:
        return {"energies": list(self.energies), "particles": None if self.particles is None else list(self.particles),
                "baths": {name: bath.to_json() for name, bath in self.baths.items()},
                "initial": self.initial if isinstance(self.initial, str) else list(self.initial),
                "strokes": [s.to_json() for s in self.strokes], "cycles": self.cycles,
                "energy_unit": self.energy_unit, **({} if self.exact else {"exact": False})}

    @classmethod
    def from_parameters(cls, parameters: dict):
        p = dict(parameters)
        p["baths"] = {name: Bath.from_json(b) for name, b in p["baths"].items()}
        p["strokes"] = [stroke_from_json(s) for s in p["strokes"]]
        if not isinstance(p["initial"], str):
            p["initial"] = tuple(p["initial"])
        return cls(**p)
