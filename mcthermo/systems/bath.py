"""One bath type for every model: its thermodynamic state and, optionally, what rates are built from.

Units hbar = k_B = 1.  A bath is at inverse temperature ``beta`` (or ``temperature`` = 1/beta; give
exactly one; beta = inf / temperature = 0 is a zero-temperature bath where a model allows it) and
chemical potential ``mu`` (default 0).  Models that build rates from a system-bath coupling read
``coupling`` (dimensionless, >= 0) and ``cutoff`` (energy, > 0): the Ohmic spectral density
J(omega) = coupling * omega * e^{-omega / cutoff}; or ``spectral_density``, a callable J(omega) >= 0
for omega > 0 that replaces it.

Sign convention (docs/observables.md, Conventions): heat Q_b is energy that flows from bath b *into the system*,
minus mu_b times the particles that flow in from b.

    mt.Bath(beta=0.5)
    mt.Bath(temperature=2.0, coupling=0.002)
    mt.Bath(beta=2.0, mu=0.3)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


def _number(name, value, allow_inf=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"Bath {name} must be a number (got {value!r})")
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ValueError(f"Bath {name} must be a finite number (got {value!r})")
    return value


@dataclass(frozen=True, kw_only=True)
class Bath:
    """A thermal reservoir: exactly one of ``beta`` (> 0, inf allowed) or ``temperature`` (>= 0);
    ``mu`` the chemical potential (energy units, default 0); ``coupling`` (>= 0, default 0) and
    ``cutoff`` (> 0, default 30) of an Ohmic spectral density, or ``spectral_density`` J(omega)."""

    beta: float | None = None
    temperature: float | None = None
    mu: float = 0.0
    coupling: float = 0.0
    cutoff: float = 30.0
    spectral_density: Callable[[float], float] | None = None

    def __post_init__(self):
        if (self.beta is None) == (self.temperature is None):
            raise ValueError("Bath needs exactly one of beta or temperature "
                             f"(got beta={self.beta!r}, temperature={self.temperature!r})")
        if self.beta is not None:
            beta = _number("beta", self.beta, allow_inf=True)
            if not beta > 0:
                raise ValueError(f"Bath beta must be > 0 (inf for zero temperature; got {self.beta!r})")
            temperature = 0.0 if math.isinf(beta) else 1.0 / beta
        else:
            temperature = _number("temperature", self.temperature)
            if not temperature >= 0:
                raise ValueError(f"Bath temperature must be >= 0 (got {self.temperature!r})")
            beta = math.inf if temperature == 0 else 1.0 / temperature
            if math.isinf(beta) and temperature > 0:
                raise ValueError(f"Bath temperature {temperature!r} is too small (1/T overflows)")
        coupling = _number("coupling", self.coupling)
        if coupling < 0:
            raise ValueError(f"Bath coupling must be >= 0 (got {self.coupling!r})")
        cutoff = _number("cutoff", self.cutoff)
        if not cutoff > 0:
            raise ValueError(f"Bath cutoff must be > 0 (got {self.cutoff!r})")
        if self.spectral_density is not None and not callable(self.spectral_density):
            raise ValueError("Bath spectral_density must be a callable J(omega) or None")
        for name, value in (("beta", beta), ("temperature", temperature),
                            ("mu", _number("mu", self.mu)), ("coupling", coupling), ("cutoff", cutoff)):
            object.__setattr__(self, name, value)

    @property
    def zero_temperature(self) -> bool:
        return math.isinf(self.beta)

    def density(self, omega: float) -> float:
        """Spectral density J(omega) for omega > 0 (energy units)."""
        if self.spectral_density is None:
            return self.coupling * omega * math.exp(-omega / self.cutoff)
        value = float(self.spectral_density(omega))
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"spectral_density({omega}) must be finite and >= 0 (got {value})")
        return value

    def occupation(self, energy: float) -> float:
        """Bose occupation n(x) = 1/(e^{beta x} - 1) of a mode at x > 0 (0 at zero temperature),
        as e^{-y} / (1 - e^{-y}), y = beta x: finite for every y (underflows to 0 past y ~ 745)."""
        return math.exp(self.log_occupation(energy))

    def log_occupation(self, energy: float) -> float:
        """ln n(x) = -y - ln(1 - e^{-y}), y = beta x > 0 (-inf at zero temperature): exact for every
        y, where n itself underflows (beta x = 800 gives ln n = -800)."""
        if self.zero_temperature:
            return -math.inf
        y = self.beta * energy
        return -y - math.log(-math.expm1(-y))

    def log_emission_factor(self, energy: float) -> float:
        """ln(n(x) + 1) = -ln(1 - e^{-y}), y = beta x > 0 (0 at zero temperature)."""
        if self.zero_temperature:
            return 0.0
        return -math.log(-math.expm1(-self.beta * energy))

    def to_json(self) -> dict:
        """JSON-able state (a spectral-density callable cannot be stored: refused)."""
        if self.spectral_density is not None:
            raise ValueError("a Bath with a spectral_density callable cannot be stored in run.json")
        return {"beta": None if self.zero_temperature else self.beta, "mu": self.mu,
                "coupling": self.coupling, "cutoff": self.cutoff,
                **({"zero_temperature": True} if self.zero_temperature else {})}

    @classmethod
    def from_json(cls, data: dict) -> "Bath":
        data = dict(data)
        if data.pop("zero_temperature", False):
            data["beta"] = math.inf
        return cls(**data)
