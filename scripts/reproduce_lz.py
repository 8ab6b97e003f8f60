"""Regenerate the figures of seed 001 (Landau–Zener crossings) from the chain model.

    python scripts/reproduce_lz.py [--out data/reproduce/lz] [--trajectories 1000000] [--seed 7]

Writes Parquet tables (and PNG figures when matplotlib is installed) under --out:
  fig2_occupation.parquet/.png  occupation vs time: single chain trajectories, their sampled mean and
                                the exact staircase p_i (equilibrium start, and the seed's p_0 = 1);
  fig3_entropy_production.parquet/.png  Sigma of one crossing vs (R, p_i) at f_i = 0.75, Eq. (6);
  fig4_work.parquet/.png        forward P(w) and backward P~(-w), sampled vs exact, dOmega_eq marked;
  run/                          the full sampled run (Parquet contract, incl. crossings.parquet);
  exact/                        the numerically exact quantum reference of Eq. (2) (issue #6):
                                occupation.parquet, work_exact.parquet, work_comparison.parquet,
                                overlaid on Figs. 2 and 4 (p(t) curve, binned TPM work distributions);
  exact_regimes.parquet         (--regimes) stochastic vs exact in other regimes: far ends, fast,
                                near-adiabatic, strong coupling, and round trips (levels crossed twice).
Units hbar = k_B = 1; seed parameters: beta 1.2, mu 3, eps_i = 1..9, gamma 0.2, eps_dot 1, eps 0 -> 10.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import logit

import mcthermo as mt
from mcthermo.exact import lz_comparison
from mcthermo.model import STREAMS
from mcthermo.models.landau_zener import LandauZener, crossing_entropy_production


def segment_times(spec):
    """Start and end time of every segment e_k -> e_{k+1}: the speed of crossing i holds until
    crossing i + 1 (seed Sec. II); the first segment runs at the first crossing's speed."""
    speeds = np.concatenate([spec.speed_array[:1], spec.speed_array])
    ends = np.cumsum(np.diff(spec.positions()) / speeds)
    return np.concatenate([[0.0], ends[:-1]]), ends


def figure2(spec, seed, paths=5, averaged=20_000):
    chain = spec.chain()
    start, end = segment_times(spec)
    stream = STREAMS["forward"]
    rows = []
    sampled = np.zeros(chain.events + 1)
    for index in range(averaged):
        occupation = chain.occupations(seed, stream, index)
        sampled += occupation
        if index < paths:
            rows.append(pd.DataFrame({"curve": f"trajectory {index}", "occupation": occupation}))
    curves = {f"sampled mean ({averaged})": sampled / averaged,
              "stochastic exact, equilibrium start": chain.occupation_probabilities(),
              "stochastic exact, p_0 = 1 (seed Fig. 2)":
                  dataclasses.replace(chain, initial_occupation=1.0).occupation_probabilities()}
    rows += [pd.DataFrame({"curve": name, "occupation": p}) for name, p in curves.items()]
    frame = pd.concat(rows, ignore_index=True)
    segments = len(start)
    frame["segment"] = np.tile(np.arange(segments), len(rows))
    frame["t_start"] = np.tile(start, len(rows))
    frame["t_end"] = np.tile(end, len(rows))
    return frame


def figure3(thermal=0.75, points=200):
    """Eq. (6) on the centres of a points x points grid of (R, p_i) cells (Eq. 6 needs 0 < p_i < 1)."""
    centres = (np.arange(points) + 0.5) / points
    keep, p = np.meshgrid(centres, centres, indexing="ij")
    sigma = crossing_entropy_production(p, keep, logit(thermal))
    return pd.DataFrame({"keep": keep.ravel(), "occupation": p.ravel(), "thermal_occupation": thermal,
                         "entropy_production": sigma.ravel()})


def figure4(run, spec):
    hist = run.histogram[run.histogram.observable == "work"]
    frame = hist[["direction", "value", "count", "probability", "probability_exact"]].copy()
    # backward distribution plotted at -w, as in the seed: P~(-w_m)
    frame["w"] = np.where(frame.direction == "forward", frame.value, -frame.value) + 0.0
    frame["delta_omega_eq"] = spec.free_energy_change()
    return frame.reset_index(drop=True)


#: regimes compared in exact_regimes.parquet: label -> LandauZener parameters
REGIMES = {
    "seed (Figs. 2, 4)": {},
    "seed, ends far from the levels (-5 -> 15)": {"level_start": -5.0, "level_end": 15.0},
    "fast, weak coupling (gamma 0.05, speed 4)": {"coupling": 0.05, "speed": 4.0},
    "slow, weak coupling (gamma 0.05, speed 0.05)": {"coupling": 0.05, "speed": 0.05},
    "near-adiabatic (gamma 0.2, speed 0.05)": {"speed": 0.05},
    "strong coupling (gamma 0.4, speed 0.1)": {"coupling": 0.4, "speed": 0.1},
}
ROUND_TRIPS = {"round trip, seed": {}, "round trip, weak coupling (gamma 0.05)": {"coupling": 0.05},
               "round trip, near-adiabatic (speed 0.05)": {"speed": 0.05}}


def exact_regimes(tolerance=1e-9):
    """One row per regime: TPM vs stochastic work (mean, total-variation distance of the quantum
    atoms binned to the stochastic lattice), p(t) deviations, dOmega full vs isolated level; and
    for round trips the mean (dissipated) work and the final occupation."""
    rows = []
    for label, parameters in REGIMES.items():
        spec = lz_comparison.quiet_spec(**parameters)
        s = lz_comparison.exact_lz(spec, tolerance=tolerance).summary
        deviation = s["occupation_deviation"]["forward/equilibrium"]
        rows.append({"regime": label, "keep_R": float(spec.keep_probabilities()[0]),
                     "mean_work_quantum": s["forward_mean_work_quantum"],
                     "mean_work_stochastic": s["forward_mean_work_stochastic"],
                     "tv_forward": s["forward_total_variation"], "tv_reverse": s["reverse_total_variation"],
                     "p_window_deviation": deviation["window"], "p_midpoint_deviation": deviation["midpoint"],
                     "p_final_deviation": deviation["final"],
                     "delta_omega_full": s["delta_omega_full"], "delta_omega_eq": s["delta_omega_eq"]})
    for label, parameters in ROUND_TRIPS.items():
        spec = lz_comparison.quiet_spec(**parameters)
        r = lz_comparison.round_trip(spec, tolerance=tolerance)
        rows.append({"regime": label, "keep_R": float(spec.keep_probabilities()[0]),
                     "mean_work_quantum": r["mean_work_quantum"],
                     "mean_work_stochastic": r["mean_work_stochastic"],
                     "p_final_deviation": abs(r["final_occupation_quantum"] - r["final_occupation_stochastic"]),
                     "delta_omega_full": 0.0, "delta_omega_eq": 0.0})
    return pd.DataFrame(rows)


def plot(out, fig2, fig3, fig4, spec, exact=None):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: tables only")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in fig2.groupby("curve", sort=False):
        t = np.append(curve.t_start.to_numpy(), curve.t_end.iloc[-1])
        n = np.append(curve.occupation.to_numpy(), curve.occupation.iloc[-1])
        style = dict(lw=0.8, alpha=0.4) if name.startswith("trajectory") else dict(lw=2)
        ax.step(t, n, where="post", label=None if name.startswith("trajectory") else name, **style)
    if exact is not None:
        for state, label in (("given", "exact quantum, p_0 = 1"), ("equilibrium", "exact quantum, equilibrium start")):
            rows = exact.occupation[(exact.occupation.direction == "forward")
                                    & (exact.occupation.initial_state == state)]
            ax.plot(rows.time, rows.occupation, lw=1.2, label=label)
    ax.set(xlabel="time t (level energy, speed 1)", ylabel="occupation", title="Fig. 2: p(t)")
    ax.legend(fontsize=7)
    fig.savefig(out / "fig2_occupation.png", dpi=150, bbox_inches="tight")

    fig, ax = plt.subplots(figsize=(5, 4))
    points = int(np.sqrt(len(fig3)))
    grid = fig3.entropy_production.to_numpy().reshape(points, points)
    image = ax.imshow(grid.T, origin="lower", extent=(0, 1, 0, 1), aspect="auto", cmap="viridis")
    centres = (np.arange(points) + 0.5) / points
    ax.contour(centres, centres, grid.T, colors="w", linewidths=0.5)
    fig.colorbar(image, label="entropy production Sigma")
    ax.set(xlabel="diabatic probability R", ylabel="occupation p_i", title="Fig. 3: f_i = 0.75")
    fig.savefig(out / "fig3_entropy_production.png", dpi=150, bbox_inches="tight")

    fig, ax = plt.subplots(figsize=(6, 4))
    for direction, label, colour in (("forward", "P(w)", "k"), ("reverse", "P~(-w)", "r")):
        d = fig4[fig4.direction == direction].sort_values("w")
        ax.plot(d.w, d.probability_exact, "-", color=colour, label=f"{label} stochastic exact")
        ax.plot(d.w, d.probability, "o", color=colour, mfc="none", label=f"{label} stochastic sampled")
    if exact is not None:
        for direction, label, colour in (("forward", "P(w)", "saddlebrown"), ("reverse", "P~(-w)", "b")):
            d = exact.comparison[exact.comparison.direction == direction]
            w = d.work if direction == "forward" else -d.work
            ax.plot(w, d.probability_quantum, "x", color=colour, ms=7, label=f"{label} quantum TPM")
        ax.axvline(exact.summary["delta_omega_full"], color="g", ls=":", label="dOmega (full H)")
    ax.axvline(spec.free_energy_change(), color="b", ls="--", label="dOmega_eq")
    ax.set(xlabel="mechanical work w_m", ylabel="probability", yscale="log", title="Fig. 4")
    ax.legend(fontsize=7)
    fig.savefig(out / "fig4_work.png", dpi=150, bbox_inches="tight")
    plt.close("all")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data/reproduce/lz")
    parser.add_argument("--trajectories", type=int, default=10**6)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tolerance", type=float, default=1e-10,
                        help="propagator error of the exact quantum reference (default 1e-10)")
    parser.add_argument("--regimes", action="store_true",
                        help="also compare stochastic and exact in other regimes (exact_regimes.parquet)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spec = LandauZener()
    run = mt.sample(spec, trajectories=args.trajectories, seed=args.seed, reverse=True)
    run.save(out / "run")
    fig2, fig3, fig4 = figure2(spec, args.seed), figure3(), figure4(run, spec)
    for name, frame in (("fig2_occupation", fig2), ("fig3_entropy_production", fig3), ("fig4_work", fig4)):
        frame.to_parquet(out / f"{name}.parquet", index=False)
    exact = lz_comparison.exact_lz(spec, tolerance=args.tolerance)
    lz_comparison.write_exact(exact, out / "exact", tolerance=args.tolerance)
    plot(out, fig2, fig3, fig4, spec, exact)
    checks = run.checks
    print(f"R = {spec.keep_probabilities()[0]:.10f}, <W_m> = {spec.mean_work():.10f}, "
          f"dOmega_eq = {spec.free_energy_change():.10f}")
    print(f"{int(checks.passed.sum())}/{len(checks)} checks passed, max |z| = {checks.z.abs().max():.2f}; "
          f"wrote {out}")
    from mcthermo.exact.cli import summary_text

    print(summary_text(exact))
    if args.regimes:
        regimes = exact_regimes()
        regimes.to_parquet(out / "exact_regimes.parquet", index=False)
        with pd.option_context("display.width", 250, "display.max_columns", 20):
            print(regimes.round(4).to_string(index=False))


if __name__ == "__main__":
    main()
