"""Tables and checks of the driven qubit from its merged accumulators.

Accumulators (``DrivenQubit.accumulate``): ``moments`` (float, one row per block of trajectory
indices, reduced here in block order), ``counts`` over (n0, nt, m_L + H, m_W + H), ``overflow``,
per-channel ``channel_sum``/``channel_square`` and ``first_law_violations`` (integers).

Bloch-vector check: z-scores of the lab x, y, z at every output time are strongly correlated in
time (a state persists ~1/gamma between jumps, spec C5), so one verdict is taken on max |z| with the
Bonferroni threshold z* = Phi^{-1}(1 - p/m), p = 2.9e-7 = P(Z > 5) the false-alarm rate of one
5-sigma check and m the number of random z-scores: the family false-alarm rate is at most 2p =
5.7e-7 whatever the correlation (for 201 times x 3 components z* = 6.1).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..checks import distribution_check, exact_count_check, expectation_check, integral_ft_check, mean_check
from ..results import ExactCount, Expectation, Observable
from ..stats import histogram_frame, lattice_groups, summary_row
from . import qubit_exact, qubit_thermo
from .qubit_floquet import CHANNELS

OBSERVABLES = ("work", "heat_photon", "heat_dephasing", "entropy_production")
HISTOGRAM_COLUMNS = ["direction", "observable", "value", "bin_low", "bin_high", "count",
                     "probability", "probability_exact"]
SUMMARY_COLUMNS = ["direction", "observable", "trajectories", "mean", "std", "stderr", "mean_exact",
                   "std_exact"]


def trajectories(acc) -> int:
    return int(acc["counts"].sum() + acc["overflow"].sum())


def floquet_moments(acc):
    """Mean (s, x~, y~) per output time and the covariance of one trajectory's values."""
    n = trajectories(acc)
    total = np.sum(acc["moments"], axis=0)              # blocks reduced in index order
    mean = total[:, :3] / n
    second = total[:, [3, 6, 7, 6, 4, 8, 7, 8, 5]].reshape(-1, 3, 3) / n
    cov = (second - mean[:, :, None] * mean[:, None, :]) * n / max(n - 1, 1)
    return mean, cov, n


def bloch_table(spec, acc):
    """Lab Bloch vector with standard errors and exact values; the max-|z| check row."""
    times = spec.output_times()
    mean, cov, n = floquet_moments(acc)
    amap = spec.bloch_map(times)
    r = np.einsum("nij,nj->ni", amap, mean)
    var = np.einsum("nij,njk,nik->ni", amap, cov, amap)
    se = np.sqrt(np.clip(var, 0.0, None) / n)
    exact = spec.bloch(times)
    frame = pd.DataFrame({"time": times})
    for k, axis in enumerate("xyz"):
        frame[axis] = r[:, k]
        frame[f"{axis}_stderr"] = se[:, k]
    for k, axis in enumerate("xyz"):
        frame[f"{axis}_exact"] = exact[:, k]
    row = expectation_check(Expectation("bloch", "bloch_vector", times, r, se, exact, ("x", "y", "z"), n))
    return frame, row


def thermo_table(spec, acc):
    """Exact C6 bookkeeping and the same formulas on the trajectory-average state."""
    times = spec.output_times()
    exact = qubit_thermo.thermodynamics(spec, times)
    mean, _, _ = floquet_moments(acc)
    sampled = qubit_thermo.bookkeeping(spec, times, mean)
    keep = ["time", "U", "entropy", "inverse_temperature"]
    for a in qubit_thermo.APPROACHES:
        keep += [f"heat_{a}", f"work_{a}", f"heat_rate_{a}", f"work_rate_{a}", f"heat_{a}_photon",
                 f"heat_{a}_dephasing", f"entropy_production_{a}"]
    frame = exact[keep].copy()
    for column in ["U", "entropy"] + [f"{q}_{a}" for a in qubit_thermo.APPROACHES
                                      for q in ("heat", "work", "entropy_production")]:
        frame[f"{column}_mc"] = sampled[column].to_numpy()
    return frame


def observable_grids(spec, h):
    """Exact values of every observable on the (n0, nt, m_L, m_W) lattice of half-width h."""
    n0 = np.arange(2).reshape(2, 1, 1, 1)
    nt = np.arange(2).reshape(1, 2, 1, 1)
    m_l = (np.arange(2 * h + 1) - h).reshape(1, 1, -1, 1)
    m_w = (np.arange(2 * h + 1) - h).reshape(1, 1, 1, -1)
    m_z = (n0 - nt) - m_w
    wl, w = spec.laser_frequency, spec.quasi_frequency
    work = wl * m_l
    photon = wl * m_l + w * m_w
    dephasing = w * m_z
    with np.errstate(divide="ignore"):
        log_p0 = np.log(qubit_exact.floquet_populations(spec, 0.0)[::-1])      # index 0 = -
        log_pt = np.log(qubit_exact.floquet_populations(spec, spec.t_end)[::-1])
    sigma = (log_p0.reshape(2, 1, 1, 1) - log_pt.reshape(1, 2, 1, 1)
             + spec.photon_bath.beta * photon + spec.dephasing_bath.beta * dephasing)
    shape = (2, 2, 2 * h + 1, 2 * h + 1)
    return {name: np.broadcast_to(v, shape) for name, v in
            zip(OBSERVABLES, (work, photon, dephasing, sigma))}


def energy_tables(spec, acc):
    """Histogram and summary rows and the checks of the jump observables (needs the baths)."""
    counts = acc["counts"]
    half_width = (counts.shape[-1] - 1) // 2           # the lattice the sampler used
    pmf = qubit_exact.joint_pmf(spec, half_width)
    means = qubit_exact.mean_energies(spec)
    histogram, summary, checks = [], [], []
    for name, grid in observable_grids(spec, half_width).items():
        possible = np.isfinite(grid)
        values, inverse = lattice_groups(grid[possible])
        count = np.bincount(inverse, counts[possible], values.size).astype(np.int64)
        probability = np.bincount(inverse, pmf[possible], values.size)
        histogram.append(histogram_frame("forward", name, values, count, probability))
        summary.append(summary_row("forward", name, values, count, probability))
        expected = means.get(name, summary[-1]["mean_exact"])
        with np.errstate(divide="ignore"):
            obs = Observable(name, values, count, np.log(probability), mean_exact=expected)
        checks.append(mean_check("forward", obs))
        checks.append(distribution_check("forward", obs))
        if name == "entropy_production":
            checks.append(integral_ft_check("forward", obs, 0.0))
    return histogram, summary, checks


#: Floquet jump operators by name: s~- lowers (+ -> -), s~+ raises, s~z dephases
_JUMP_KIND = {"-": "lower", "+": "raise", "z": "z"}


def _frequency_label(laser, floquet):
    """The frequency a channel gives to its bath, n_L w_L + n_W W, e.g. 'wL+W', '-W', '0'."""
    text = {1: "wL", -1: "-wL", 0: ""}[laser]
    if floquet:
        text += ("-" if floquet < 0 else "+" if text else "") + "W"
    return text or "0"


def channel_rows(spec, acc):
    """Mean jumps per channel against g_c int p_source dt (channels with a non-zero rate)."""
    n = trajectories(acc)
    expected = qubit_exact.mean_counts(spec)
    rows = []
    for c, (bath, op, nl, nw) in enumerate(CHANNELS):
        if spec.channel_rates()[c] == 0:
            continue
        label = (f"jumps_{_JUMP_KIND[op]}" if spec.rates is not None
                 else f"jumps_{bath}_{_JUMP_KIND[op]}_at_{_frequency_label(nl, nw)}")
        rows.append(mean_check("forward", Observable(label, n=n, total=float(acc["channel_sum"][c]),
                                                     total_squares=float(acc["channel_square"][c]),
                                                     mean_exact=expected[c])))
    return rows


def tables(spec, accumulators):
    acc = accumulators["forward"]
    n = trajectories(acc)
    bloch, bloch_row = bloch_table(spec, acc)
    checks = [bloch_row,
              exact_count_check(ExactCount("first_law", "energy", int(acc["first_law_violations"].sum()), n)),
              exact_count_check(ExactCount("lattice_range", "energy", int(acc["overflow"].sum()), n))]
    histogram, summary = [], []
    if spec.rates is None:
        histogram, summary, energy_checks = energy_tables(spec, acc)
        checks += energy_checks
    checks += channel_rows(spec, acc)
    return {
        "histogram": (pd.concat(histogram, ignore_index=True) if histogram
                      else pd.DataFrame(columns=HISTOGRAM_COLUMNS)),
        "summary": pd.DataFrame(summary) if summary else pd.DataFrame(columns=SUMMARY_COLUMNS),
        "checks": pd.DataFrame(checks),
        "bloch": bloch,
        "thermo": thermo_table(spec, acc),
    }


def sample_frame(spec, first, labels, lattice, channel_counts):
    """Per-trajectory rows: Floquet labels (1 = +, 0 = -), lattice indices, energies (NaN in the
    rates-only form), entropy production, first-law residual and jumps per channel."""
    count = labels.shape[0]
    frame = pd.DataFrame({"trajectory": np.arange(first, first + count, dtype=np.int64),
                          "n_initial": labels[:, 0], "n_final": labels[:, 1],
                          "laser_quanta": lattice[:, 0], "photon_quanta": lattice[:, 1],
                          "dephasing_quanta": lattice[:, 2]})
    wl, w = spec.laser_frequency, spec.quasi_frequency
    if spec.rates is None:
        work = wl * lattice[:, 0]
        photon = wl * lattice[:, 0] + w * lattice[:, 1]
        dephasing = w * lattice[:, 2]
        quasi_energy = w * (labels[:, 1].astype(float) - labels[:, 0])   # eps_nt - eps_n0
        p0 = qubit_exact.floquet_populations(spec, 0.0)[1 - labels[:, 0]]
        pt = qubit_exact.floquet_populations(spec, spec.t_end)[1 - labels[:, 1]]
        sigma = (np.log(p0) - np.log(pt) + spec.photon_bath.beta * photon
                 + spec.dephasing_bath.beta * dephasing)
        frame = frame.assign(work=work, heat_photon=photon, heat_dephasing=dephasing,
                             entropy_production=sigma,
                             first_law_residual=quasi_energy - (work - photon - dephasing))
    for c in range(channel_counts.shape[1]):
        frame[f"jumps_{c}"] = channel_counts[:, c]
    return frame
