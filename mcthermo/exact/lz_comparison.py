"""The exact quantum reference of a ``LandauZener`` spec next to the stochastic model (seed Figs. 2, 4).

Units hbar = k_B = 1.  ``exact_lz`` propagates both protocols (``lz_propagator``), enumerates the TPM
work distributions (``lz_tpm``) and tabulates them against the chain's exact answers: p(t) against
the staircase p_i, quantum work atoms binned onto the stochastic work lattice, and the summary
printed by ``mcthermo exact lz``; ``round_trip`` drives the level up and back down.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..models.landau_zener import LandauZener, LandauZenerValidityWarning, fermi
from .lz_propagator import drive_from_spec, factorised_density, occupation, propagate
from .lz_tpm import crooks_residual, full_grand_potential, require_enumerable, tpm_work_distribution


def nearest_lattice(work, lattice):
    """Index of the nearest value of the sorted ``lattice`` for every work value."""
    lattice, work = np.asarray(lattice, dtype=np.float64), np.asarray(work, dtype=np.float64)
    if lattice.size == 1:
        return np.zeros(work.size, dtype=np.intp)
    right = np.clip(np.searchsorted(lattice, work), 1, lattice.size - 1)
    left = right - 1
    return np.where(np.abs(work - lattice[left]) <= np.abs(work - lattice[right]), left, right)


def compare_work(exact: pd.DataFrame, stochastic: pd.DataFrame) -> pd.DataFrame:
    """Quantum atoms binned to the nearest stochastic work value: columns work, probability_stochastic,
    probability_quantum, difference."""
    lattice = stochastic.work.to_numpy()
    index = nearest_lattice(exact.work.to_numpy(), lattice)
    quantum = np.bincount(index, exact.probability.to_numpy(), lattice.size)
    return pd.DataFrame({"work": lattice, "probability_stochastic": stochastic.probability.to_numpy(),
                         "probability_quantum": quantum,
                         "difference": quantum - stochastic.probability.to_numpy()})


def staircase(spec: LandauZener, direction, level, initial_occupation=None) -> np.ndarray:
    """The stochastic model's occupation at system-level energies ``level``: p_{k+1} while the level
    is between e_k and e_{k+1} (the staircase of seed Fig. 2)."""
    chain = spec.chain(direction)
    if initial_occupation is not None:
        chain = chain.starting_from(initial_occupation)
    p = chain.occupation_probabilities()
    e = spec.positions(direction)
    crossed = np.searchsorted(e[1:-1], level, side="right") if direction == "forward" else \
        np.searchsorted(-e[1:-1], -np.asarray(level), side="right")
    return p[crossed]


@dataclass(frozen=True, eq=False)
class ExactLZ:
    """Exact quantum reference of a LandauZener spec: tables and a summary dict (see ``exact_lz``)."""

    spec: LandauZener
    occupation: pd.DataFrame
    work: pd.DataFrame
    comparison: pd.DataFrame
    summary: dict


def exact_lz(spec: LandauZener, time_step=None, tolerance=1e-10, initial_occupation=1.0) -> ExactLZ:
    """Seed Figs. 2 and 4 from the exact quantum dynamics of Eq. (2).

    occupation: p(t) from the factorised state with the system level occupied with probability
    ``initial_occupation`` (seed Fig. 2: 1) and with f(level_start) ("equilibrium"), forward and
    (equilibrium, f(level_end)) reverse, with the stochastic staircase alongside.
    work: exact TPM atoms (direction, work, probability, work_lattice = nearest stochastic value).
    comparison: per stochastic work value, stochastic vs binned quantum probability.
    summary: dOmega (full) and dOmega_eq, Crooks/Jarzynski residuals, mean works, total-variation
    distances, p(t) deviations from the staircase (``occupation_deviation``), steps and integrator
    errors.  Raises ValueError for L > MAX_ENUMERATION_LEVELS or a time_step/tolerance that fails.
    """
    beta, mu = spec.beta, spec.mu
    require_enumerable(len(spec.levels))  # before the propagation, not after
    tables, atoms, comparisons = [], [], []
    summary = {}
    distributions = {}
    for direction in ("forward", "reverse"):
        drive = drive_from_spec(spec, direction)
        run = propagate(drive, time_step, tolerance)
        levels_t = run.levels_t
        starts = {"equilibrium": float(fermi(beta, mu, drive.nodes[0]))}
        if direction == "forward":
            starts["given"] = float(initial_occupation)
        for name, p0 in starts.items():
            p = occupation(run, factorised_density(drive, beta, mu, p0))
            tables.append(pd.DataFrame({
                "direction": direction, "initial_state": name, "initial_occupation": p0,
                "time": run.times, "level": levels_t, "occupation": p,
                "occupation_stochastic": staircase(spec, direction, levels_t, p0)}))
        h_i, h_f = drive.hamiltonian(drive.nodes[0]), drive.hamiltonian(drive.nodes[-1])
        exact = tpm_work_distribution(h_i, h_f, run.unitary, beta, mu)
        stochastic = spec.work_distribution(direction)
        compared = compare_work(exact, stochastic)
        exact["work_lattice"] = stochastic.work.to_numpy()[nearest_lattice(exact.work.to_numpy(),
                                                                           stochastic.work.to_numpy())]
        atoms.append(exact.assign(direction=direction))
        comparisons.append(compared.assign(direction=direction))
        distributions[direction] = exact
        summary[f"{direction}_time_step"] = run.time_step
        summary[f"{direction}_propagator_error"] = run.error
        summary[f"{direction}_mean_work_quantum"] = float(np.dot(exact.work, exact.probability))
        summary[f"{direction}_mean_work_stochastic"] = float(np.dot(stochastic.work, stochastic.probability))
        summary[f"{direction}_total_variation"] = float(0.5 * np.abs(compared.difference).sum())
        # relative: <e^{-beta W}> e^{beta dOmega} - 1, dOmega of this direction's full Hamiltonians
        summary[f"{direction}_jarzynski_residual"] = float(
            np.dot(exact.probability, np.exp(-beta * (exact.work - full_grand_potential(h_f, beta, mu)
                                                      + full_grand_potential(h_i, beta, mu)))) - 1.0)
    occupation_table = pd.concat(tables, ignore_index=True)
    h_start = drive_from_spec(spec).hamiltonian(spec.level_start)
    h_end = drive_from_spec(spec).hamiltonian(spec.level_end)
    delta_omega = full_grand_potential(h_end, beta, mu) - full_grand_potential(h_start, beta, mu)
    summary["delta_omega_full"] = delta_omega
    summary["delta_omega_eq"] = spec.free_energy_change()
    summary.update({f"crooks_{k}": v for k, v in crooks_residual(
        distributions["forward"], distributions["reverse"], beta, delta_omega).items()})
    summary["occupation_deviation"] = occupation_deviation(spec, occupation_table)
    columns = ["direction", "work", "probability", "work_lattice"]
    return ExactLZ(spec, occupation_table, pd.concat(atoms, ignore_index=True)[columns],
                   pd.concat(comparisons, ignore_index=True)[
                       ["direction", "work", "probability_stochastic", "probability_quantum", "difference"]],
                   summary)


def occupation_deviation(spec: LandauZener, occupation_table: pd.DataFrame) -> dict:
    """How far p_exact(t) is from the stochastic staircase, per "direction/initial_state":

    midpoint: max |p_exact - p_stochastic| at the midpoints between consecutive reservoir levels;
    window:   max |mean of p_exact over the middle half of each inter-crossing interval - p_stochastic|
              (averages out the coherent system-reservoir oscillations after each crossing);
    final:    |p_exact - p_{L+1}| at the end of the protocol.
    midpoint and window are None for a single reservoir level.
    """
    levels = np.asarray(spec.levels)
    out = {}
    for (direction, state), rows in occupation_table.groupby(["direction", "initial_state"], sort=False):
        level, p = rows.level.to_numpy(), rows.occupation.to_numpy()
        staircase_p = rows.occupation_stochastic.to_numpy()
        midpoint, window = 0.0, 0.0
        for low, high in zip(levels[:-1], levels[1:]):
            quarter = (high - low) / 4.0
            inside = (level > low + quarter) & (level < high - quarter)
            mid = np.argmin(np.abs(level - (low + high) / 2.0))
            midpoint = max(midpoint, abs(p[mid] - staircase_p[mid]))
            if inside.any():
                window = max(window, abs(p[inside].mean() - staircase_p[inside].mean()))
        interior = levels.size > 1  # no interval between crossings for L = 1
        out[f"{direction}/{state}"] = {"midpoint": float(midpoint) if interior else None,
                                       "window": float(window) if interior else None,
                                       "final": float(abs(p[-1] - staircase_p[-1]))}
    return out


def round_trip(spec: LandauZener, time_step=None, tolerance=1e-10) -> dict:
    """The level driven level_start -> level_end -> level_start: every reservoir level is crossed
    twice.  Exact: TPM work of the cycle (grand-canonical start for the full h(level_start); the
    free-energy change is zero, so <W> >= 0 is the dissipated work) and p(t_end) from the
    factorised equilibrium start.  Stochastic: the forward chain followed by the reverse chain
    started from p_{L+1}, i.e. assuming every reservoir level is back at f_i when crossed again."""
    beta, mu = spec.beta, spec.mu
    drive = drive_from_spec(spec).then(drive_from_spec(spec, "reverse"))
    run = propagate(drive, time_step, tolerance)
    h = drive.hamiltonian(spec.level_start)
    work = tpm_work_distribution(h, h, run.unitary, beta, mu)
    p0 = float(fermi(beta, mu, spec.level_start))
    p_exact = occupation(run, factorised_density(drive, beta, mu, p0))
    up = spec.chain("forward")
    p_up = up.occupation_probabilities()
    down = spec.chain("reverse").starting_from(p_up[-1])
    p_down = down.occupation_probabilities()
    w_stochastic = (np.dot(np.diff(spec.positions("forward")), p_up)
                    + np.dot(np.diff(spec.positions("reverse")), p_down))
    return {"mean_work_quantum": float(np.dot(work.work, work.probability)),
            "mean_work_stochastic": float(w_stochastic),
            "final_occupation_quantum": float(p_exact[-1]),
            "final_occupation_stochastic": float(p_down[-1]),
            "initial_occupation": p0, "time_step": run.time_step, "propagator_error": run.error}


def exact_info(spec: LandauZener, result: ExactLZ, time_step, tolerance, initial_occupation) -> dict:
    """Metadata stored with every exact table (JSON-able)."""
    from .. import __version__

    return {"model": spec.name, "kind": "exact-quantum", "parameters": spec.parameters(),
            "time_step": time_step, "tolerance": tolerance, "initial_occupation": initial_occupation,
            "version": __version__, "summary": result.summary}


def write_exact(result: ExactLZ, out, time_step=None, tolerance=1e-10, initial_occupation=1.0) -> dict:
    """Write occupation.parquet, work_exact.parquet and work_comparison.parquet under ``out``
    (atomic writes, run metadata in every table); returns the metadata."""
    from ..io import write_table

    out = Path(out)
    info = exact_info(result.spec, result, time_step, tolerance, initial_occupation)
    write_table(result.occupation, out / "occupation.parquet", info)
    write_table(result.work, out / "work_exact.parquet", info)
    write_table(result.comparison, out / "work_comparison.parquet", info)
    return info


def quiet_spec(**parameters) -> LandauZener:
    """LandauZener(**parameters) with the validity warning silenced (studies outside validity)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LandauZenerValidityWarning)
        return LandauZener(**parameters)
