"""Regenerate the staircase seed's figures (seed 000): Fig. 2 and Fig. 3, as Parquet (+ PNG).

Fig. 2: work distributions for N = 1, 5, 20, 100, 1000, 10000, sampled and exact; the distribution
narrows around dF as N grows (plotted as a density P(W)/d so different N compare).
Fig. 3: the mean work <W>_N for N = 5^0 .. 5^6, sampled and exact, against dF (minimum-work
principle: <W>_N decreases to dF, N(<W>_N - dF) -> 0.016894).

    python scripts/reproduce_staircase.py [--out data/reproduce/staircase] [--trajectories 200000]
"""
import argparse
from pathlib import Path

import numpy as np
import pandas as pd

import mcthermo as mt
from mcthermo.io import write_table

PAPER = dict(beta=1.0, gap_start=float(np.log(2.0)), gap_end=float(np.log(3.0)))


def figure2(out: Path, trajectories: int, seed: int) -> pd.DataFrame:
    frames = []
    for n in (1, 5, 20, 100, 1000, 10_000):
        spec = mt.Staircase(steps=n, **PAPER)
        run = mt.sample(spec, trajectories, seed + n, out=out / "runs" / f"n{n}", progress=True)
        work = run.histogram.query("observable == 'work' and direction == 'forward'")
        frames.append(work.assign(step=spec.step))
    return pd.concat(frames, ignore_index=True)


def figure3(out: Path, trajectories: int, seed: int) -> pd.DataFrame:
    rows = []
    for k in range(7):
        n = 5**k
        spec = mt.Staircase(steps=n, **PAPER)
        run = mt.sample(spec, trajectories, seed + n, out=out / "runs" / f"mean-n{n}", progress=True)
        work = run.summary.query("observable == 'work' and direction == 'forward'").iloc[0]
        rows.append({"steps": n, "mean_work": work["mean"], "stderr": work["stderr"],
                     "mean_work_exact": spec.mean_work(), "free_energy_change": spec.free_energy_change(),
                     "scaled_excess": n * (spec.mean_work() - spec.free_energy_change())})
    return pd.DataFrame(rows)


def plot(fig2: pd.DataFrame, fig3: pd.DataFrame, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dF = mt.Staircase(steps=1, **PAPER).free_energy_change()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for (n, group), colour in zip(fig2.groupby("steps"), plt.cm.viridis(np.linspace(0, 0.9, 6))):
        d = group["step"].iloc[0]
        ax.plot(group["value"], group["probability_exact"] / d, "-", color=colour, lw=1,
                label=f"N = {n} exact")
        sampled = group[group["count"] > 0]
        ax.plot(sampled["value"], sampled["probability"] / d, ".", color=colour, ms=3)
    ax.axvline(dF, color="k", ls="--", lw=0.8, label=r"$\Delta F$")
    ax.set(xlabel="work W", ylabel="P(W) / d", yscale="log", ylim=(1e-3, 3e3),
           title="Staircase work distributions (dots: sampled)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "fig2_work_distributions.png", dpi=130)

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.errorbar(fig3["steps"], fig3["mean_work"], yerr=fig3["stderr"], fmt="o", ms=4, label="sampled")
    ax.plot(fig3["steps"], fig3["mean_work_exact"], "-", label=r"exact $d\sum_j P_j$")
    ax.axhline(dF, color="k", ls="--", label=r"$\Delta F = \ln(9/8)$")
    ax.set(xscale="log", xlabel="steps N", ylabel=r"$\langle W\rangle_N$",
           title="Minimum-work principle: mean work approaches the free-energy change")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "fig3_mean_work.png", dpi=130)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data/reproduce/staircase")
    parser.add_argument("--trajectories", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=2008)
    args = parser.parse_args()
    out = Path(args.out)
    fig2, fig3 = figure2(out, args.trajectories, args.seed), figure3(out, args.trajectories, args.seed)
    info = {"model": "staircase", "parameters": PAPER, "script": "reproduce_staircase.py",
            "trajectories": args.trajectories, "seed": args.seed}
    write_table(fig2, out / "fig2_work_distributions.parquet", info)
    write_table(fig3, out / "fig3_mean_work.parquet", info)
    print(fig3.to_string(index=False))
    try:
        plot(fig2, fig3, out)
    except ImportError:
        print("matplotlib not installed (pip install 'mcthermo[plot]'): Parquet only")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
