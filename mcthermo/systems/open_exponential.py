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


def observable_names(system) -> list[str]:
    return ([f"jumps_{name}" for name in system.channel_names]
            + [f"heat_{bath}" for bath in system.bath_names] + ["work", "entropy_production"])


def _bridge(system, observable, s, direction="forward"):
    """ln G_X(s) from ``exact.tilted.log_exponential_average`` (one s at a time), for systems
    without ``log_generating_function``."""
    s_array = np.atleast_1d(np.asarray(s, dtype=np.float64))
    out = np.empty(s_array.shape)
    p0, _ = tilted.start_states(system)
    for k, t in enumerate(s_array):
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            if observable.startswith("jumps_"):
                name = observable[len("jumps_"):]
                value = tilted.log_exponential_average(system, lambda c: t * float(c.name == name))
            elif observable.startswith("heat_"):
                bath = observable[len("heat_"):]
                mu = system.baths[bath].mu
                value = tilted.log_exponential_average(
                    system, lambda c: -t * (c.energy - mu * c.particles) if c.bath == bath else 0.0)
            elif observable == "work":
                e_i, e_f = tilted.initial_basis(system)[0], tilted.final_basis(system)[0]
                value = tilted.log_exponential_average(system, lambda c: t * c.energy,
                                                       np.exp(t * e_i), np.exp(-t * e_f))
            else:
                p_t = tilted.final_populations(system)
                betas = {b: system.baths[b].beta for b in system.baths}
                value = tilted.log_exponential_average(
                    system, lambda c: t * betas[c.bath] * (c.energy - system.baths[c.bath].mu * c.particles),
                    np.where(p0 > 0, np.where(p0 > 0, p0, 1.0) ** -t, 0.0),
                    np.where(p_t > 0, np.where(p_t > 0, p_t, 1.0), 0.0) ** t)
        out[k] = value
    return out if np.ndim(s) else float(out[0])


def log_generating_function(system, observable: str):
    """s -> ln G_X(s) of ``observable`` (the system's own ``log_generating_function`` when it has
    one)."""
    if hasattr(system, "log_generating_function"):
        return partial(system.log_generating_function, observable)
    return partial(_bridge, system, observable)


def exact_moments(system, observable: str) -> tuple[float, float]:
    """Exact (mean, variance) from the tilted generator's Taylor blocks."""
    if observable.startswith("jumps_"):
        name = observable[len("jumps_"):]
        return tilted.moments(system, lambda c: float(c.name == name))
    if observable.startswith("heat_"):
        bath = observable[len("heat_"):]
        mu = system.baths[bath].mu
        return tilted.moments(system, lambda c: -(c.energy - mu * c.particles) if c.bath == bath else 0.0)
    e_i, e_f = tilted.initial_basis(system)[0], tilted.final_basis(system)[0]
    if observable == "work":
        return tilted.moments(system, lambda c: c.energy, -e_i, e_f)
    p0, _ = tilted.start_states(system)
    p_t = tilted.final_populations(system)
    return tilted.moments(
        system, lambda c: system.baths[c.bath].beta * (c.energy - system.baths[c.bath].mu * c.particles),
        np.log(np.where(p0 > 0, p0, 1.0)), -np.log(np.where(p_t > 0, p_t, 1.0)))


def sigma_defined(system) -> bool:
    return system.measure_energy and not any(b.zero_temperature for b in system.baths.values())


def exponents(system) -> np.ndarray:
    """(observables, S) s values of the kernel (NaN-padded): ``exponential.exponents`` of each
    observable, with beta for the work of a one-bath system and 1 for sigma."""
    rows = []
    for name in observable_names(system):
        if name == "work" and not system.measure_energy or name == "entropy_production" and not sigma_defined(system):
            rows.append(np.zeros(0))
            continue
        extra = ()
        if name == "work" and len(system.baths) == 1:
            (bath,) = system.baths.values()
            extra = (bath.beta,) if np.isfinite(bath.beta) and bath.beta > 0 else ()
        if name == "entropy_production":
            extra = (1.0,)
        _, variance = exact_moments(system, name)
        std = float(np.sqrt(max(variance, 0.0)))
        if std <= exponential.ROUND_OFF * value_scale(system, name):
            std = 0.0                                              # deterministic: nothing to choose
        rows.append(exponential.exponents(log_generating_function(system, name), std, extra))
    width = max((len(r) for r in rows), default=0)
    table = np.full((len(rows), max(width, 1)), np.nan)
    for k, r in enumerate(rows):
        table[k, :len(r)] = r
    return table


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
