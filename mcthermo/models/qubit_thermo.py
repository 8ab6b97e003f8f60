"""Ensemble thermodynamics of the driven qubit in three bookkeepings (README, Driven qubit).

rho = (1 + r.sigma)/2, H = h.sigma/2, U = h.r/2; r = |r|, n_r = r/|r|, n_h = h/|h|.  The velocity
splits as dr/dt = h x r (unitary) + sum_nu v_nu (dissipator of bath nu, carried to the lab frame
by the Floquet map).  Heat is energy absorbed by the qubit (rates Qdot, Wdot):

- conventional:        Qdot = h.rdot/2,                 Wdot = r.hdot/2
- Hamiltonian-based:   Qdot = (|h|/2)(rdot.n_h + r.ndot_h), Wdot = (r.n_h/2) d|h|/dt
- entropy-based:       Qdot = (h.n_r/2) d|r|/dt,        Wdot = (|r|/2)(hdot.n_r + h.ndot_r)

Heat per bath applies each approach's (linear) heat functional to v_nu; the Hamiltonian-based drive
term (|h|/2) r.ndot_h, which no bath supplies, is charged to the photon bath (the laser and the
photon bath act through the same sx coupling).  Entropy S = -tr rho ln rho; irreversible entropy
Sigma(t) = S(t) - S(0) - sum_nu beta_nu Q_nu(t).  ``inverse_temperature`` is the least-squares
temperature of the state, -ln rho ~ beta H + const: beta_S = -2 artanh(|r|) (n_r.n_h) / |h|.
Integrals are cumulative Simpson on a grid refined to dt <= 0.005 min(1, 1/W) (exact tables) or on
the given times (trajectory averages).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.integrate import cumulative_simpson
from scipy.special import xlogy

from .qubit_floquet import BATHS, dissipative_velocity

APPROACHES = ("conventional", "hamiltonian", "entropy")


def _dot(a, b):
    return np.einsum("ni,ni->n", a, b)


def _direction(r, fallback):
    """Unit vector of r; at r = 0 the limit direction of the motion (fallback)."""
    norm = np.linalg.norm(r, axis=1)
    safe = np.where(norm > 0, norm, 1.0)[:, None]
    fallback = fallback / np.maximum(np.linalg.norm(fallback, axis=1), 1e-300)[:, None]
    return np.where(norm[:, None] > 0, r / safe, fallback), norm


def rates_of_state(spec, times, u):
    """Heat and work rates of every approach, per bath, for Floquet-frame states u(t) (n, 3).

    Returns (frame of rates and state functions, dict approach -> dict bath -> heat rate)."""
    amap = spec.bloch_map(times)
    r = np.einsum("nij,nj->ni", amap, u)
    h, dh = spec.field(times)
    if spec.rates is None:
        velocities = {b: np.einsum("nij,nj->ni", amap, dissipative_velocity(u, spec.floquet_rates(b)))
                      for b in BATHS}
    else:
        velocities = {"all": np.einsum("nij,nj->ni", amap, dissipative_velocity(u, spec.rates))}
    rdot = np.cross(h, r) + sum(velocities.values())
    n_r, norm_r = _direction(r, rdot)
    n_h, norm_h = _direction(h, h)
    # |r| ndot_r and |h| ndot_h, free of the division by |r| (finite at r = 0)
    r_ndot_r = rdot - n_r * _dot(n_r, rdot)[:, None]
    h_ndot_h = dh - n_h * _dot(n_h, dh)[:, None]
    drive = 0.5 * _dot(r, h_ndot_h)
    heat = {
        "conventional": {b: 0.5 * _dot(h, v) for b, v in velocities.items()},
        "hamiltonian": {b: 0.5 * norm_h * _dot(n_h, v) for b, v in velocities.items()},
        "entropy": {b: 0.5 * _dot(h, n_r) * _dot(n_r, v) for b, v in velocities.items()},
    }
    heat["hamiltonian"]["photon" if spec.rates is None else "all"] += drive
    work = {"conventional": 0.5 * _dot(r, dh),
            "hamiltonian": 0.5 * _dot(r, n_h) * _dot(n_h, dh),
            "entropy": 0.5 * (norm_r * _dot(dh, n_r) + _dot(h, r_ndot_r))}
    p = np.clip((1 + norm_r) / 2, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):     # beta_S = +-inf for a pure state
        beta = -2 * np.arctanh(np.minimum(norm_r, 1.0)) * _dot(n_r, n_h) / norm_h
    state = pd.DataFrame({
        "time": np.asarray(times, dtype=np.float64), "x": r[:, 0], "y": r[:, 1], "z": r[:, 2],
        "U": 0.5 * _dot(h, r), "entropy": -xlogy(p, p) - xlogy(1 - p, 1 - p),
        "inverse_temperature": beta,
    })
    return state, heat, work


def _integrate(values, times):
    if len(times) < 3:
        return np.concatenate([[0.0], np.cumsum(np.diff(times) * (values[1:] + values[:-1]) / 2)])
    return cumulative_simpson(values, x=times, initial=0.0)


def bookkeeping(spec, times, u) -> pd.DataFrame:
    """Time, r, U, S, beta_S and, per approach a: heat_a, work_a (integrated from times[0]),
    heat_rate_a, work_rate_a, heat_a_<bath> and entropy_production_a (NaN in the rates-only
    form, which has no bath temperatures)."""
    state, heat, work = rates_of_state(spec, times, u)
    out = state
    for a in APPROACHES:
        q_rate = sum(heat[a].values())
        out[f"heat_{a}"] = _integrate(q_rate, times)
        out[f"work_{a}"] = _integrate(work[a], times)
        out[f"heat_rate_{a}"] = q_rate
        out[f"work_rate_{a}"] = work[a]
        flow = np.zeros(len(times))
        for b in BATHS:
            if spec.rates is None:
                out[f"heat_{a}_{b}"] = _integrate(heat[a][b], times)
                bath = spec.photon_bath if b == "photon" else spec.dephasing_bath
                flow += bath.beta * out[f"heat_{a}_{b}"].to_numpy()
            else:
                out[f"heat_{a}_{b}"] = np.nan
        entropy = out["entropy"].to_numpy()
        out[f"entropy_production_{a}"] = (entropy - entropy[0] - flow if spec.rates is None
                                          else np.nan)
    return out


def fine_factor(spacing, quasi_frequency) -> float:
    """Integer refinement factor (as a float: it may exceed any array size) that brings an output
    spacing down to <= 0.005 min(1, 1/W)."""
    target = 0.005 * min(1.0, 1.0 / quasi_frequency)
    return max(1.0, float(np.ceil(spacing / target)))


def fine_grid(times, quasi_frequency):
    """The output times refined by an integer factor to spacing <= 0.005 min(1, 1/W)."""
    times = np.asarray(times, dtype=np.float64)
    factor = int(fine_factor(np.max(np.diff(times)), quasi_frequency))
    steps = (len(times) - 1) * factor
    fine = np.interp(np.arange(steps + 1) / factor, np.arange(len(times)), times)
    return fine, factor


def thermodynamics(spec, times) -> pd.DataFrame:
    """Exact bookkeeping at ``times`` (must start at 0, increasing): the analytic state on the fine
    grid, integrated by cumulative Simpson, sampled back at ``times``."""
    times = np.asarray(times, dtype=np.float64)
    if times[0] != 0.0 or np.any(np.diff(times) <= 0):
        raise ValueError("thermodynamics times must start at 0 and increase")
    fine, factor = fine_grid(times, spec.quasi_frequency)
    frame = bookkeeping(spec, fine, spec.floquet_state(fine))
    out = frame.iloc[::factor].reset_index(drop=True)
    out["time"] = times
    return out
