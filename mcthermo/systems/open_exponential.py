"""The trajectory observables of an ``OpenSystem`` as the jump kernel records them, with their exact
generating functions ln G_X(s) = ln <e^{-s X}> and the s values whose exponential sums the kernel
accumulates (``mcthermo.exponential``).

Kernel order: jumps_<channel> (every channel name), heat_<bath> (heat INTO the system, G0),
work, entropy_production.  Without the two-point energy measurement work and sigma are not defined
(their s values are NaN: nothing is accumulated).
"""
from __future__ import annotations

from functools import partial

import numpy as np

from .. import exponential
from ..exact import tilted
from .open_theorems import crooks_reason, free_energy_change


def observable_names(system) -> list[str]:
    return ([f"jumps_{name}" for name in system.channel_names]
            + [f"heat_{bath}" for bath in system.bath_names] + ["work", "entropy_production"])


def log_generating_function(system, observable: str):
    """s -> ln G_X(s) of ``observable`` (``OpenSystem.log_generating_function``, vectorised, its
    values remembered: ``exponential.cached``)."""
    return exponential.cached(partial(system.log_generating_function, observable))


def sigma_defined(system) -> bool:
    return system.measure_energy and not any(b.zero_temperature for b in system.baths.values())


def exponents(system) -> np.ndarray:
    """(observables, S) s values of the kernel (NaN-padded): ``exponential.exponents`` of each
    observable, with beta for the work of a one-bath system and 1 for sigma (none at all for a
    system sampled with ``exact=False``; none for jump counts, whose exact law is histogrammed)."""
    rows = []
    for name in observable_names(system):
        if (not system.exact or name.startswith("jumps_") or name == "work" and not system.measure_energy
                or name == "entropy_production" and not sigma_defined(system)):
            rows.append(np.zeros(0))
            continue
        extra = ()
        if name == "work" and len(system.baths) == 1:
            (bath,) = system.baths.values()
            extra = (bath.beta,) if np.isfinite(bath.beta) and bath.beta > 0 else ()
            extra += tuple(crooks_exponents(system))
        if name == "entropy_production":
            extra = (1.0,)
        _, variance = system.exact_moments(name)
        std = float(np.sqrt(max(variance, 0.0)))
        if std <= exponential.ROUND_OFF * value_scale(system, name):
            std = 0.0                                              # deterministic: nothing to choose
        rows.append(exponential.exponents(log_generating_function(system, name), std, extra))
    width = max((len(r) for r in rows), default=0)
    table = np.full((len(rows), max(width, 1)), np.nan)
    for k, r in enumerate(rows):
        table[k, :len(r)] = r
    return table


#: half-widths delta / beta tried for the Crooks exponents beta/2 +- delta (a fixed grid: the set
#: is a deterministic function of the spec)
CROOKS_OFFSETS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)


def crooks_exponents(system) -> np.ndarray:
    """The work exponents both directions share when Crooks holds (``open_theorems.crooks_reason``
    None): beta/2 and beta/2 +- delta for two offsets, delta_max and delta_max / 2, delta_max / beta
    the largest of ``CROOKS_OFFSETS`` where the exact relative variances v(s) of BOTH directions at
    both s = beta/2 +- delta stay below the largest of ``exponential.RELATIVE_VARIANCES``.  The
    set maps onto itself under s -> beta - s; the partner direction's G comes from this one's by
    Crooks, G_partner(s) = e^{beta dF} G(beta - s) (dF of this direction), so the forward and the
    reverse protocol choose the same set.  Empty when Crooks does not hold."""
    if not system.exact or crooks_reason(system) is not None:
        return np.zeros(0)
    (bath,) = system.baths.values()
    beta = bath.beta
    log_g = log_generating_function(system, "work")
    shift = beta * free_energy_change(system, beta)

    def partner(s):                                 # ln G of the other direction, by Crooks
        return shift + np.asarray(log_g(beta - np.asarray(s, dtype=np.float64)), float)

    def worst(delta):
        s = np.array([beta / 2 - delta, beta / 2 + delta])
        return float(max(exponential.relative_variance(log_g, s).max(),
                         exponential.relative_variance(partner, s).max()))

    chosen = [float(f"{beta / 2:.6g}")]             # the midpoint (bar) whatever its variance
    fits = [f for f in CROOKS_OFFSETS if worst(f * beta) <= exponential.RELATIVE_VARIANCES[-1]]
    if fits:
        for offset in (max(fits), float(f"{max(fits) / 2:.2g}")):
            low = float(f"{beta / 2 - offset * beta:.6g}")
            chosen += [low, float(f"{beta - low:.6g}")]
    return np.unique(np.array(chosen, dtype=np.float64))


def value_scale(system, observable: str) -> float:
    """The scale of an observable's values, against which round-off is judged: the largest energy
    of any Hamiltonian or jump (work, heat; times beta and plus |ln p| for sigma), 1 for counts."""
    if observable.startswith("jumps_"):
        return 1.0
    energies = [float(np.abs(np.linalg.eigvalsh(p.hamiltonian)).max()) for p in system.pieces]
    energies += [abs(c.energy) for p in system.pieces for c in p.channels]
    scale = max(energies + [1e-300])
    if observable == "entropy_production":
        betas = [b.beta for b in system.baths.values() if np.isfinite(b.beta)]
        p0, _ = tilted.start_states(system)
        logs = np.abs(np.log(p0[p0 > 0]))
        scale = max(scale * max(betas + [1.0]), float(logs.max(initial=1.0)), 1.0)
    return scale
