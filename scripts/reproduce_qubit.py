"""Regenerate the driven-qubit figures of seed 002 (README, Driven qubit) as Parquet + PNG.

Figures (resonant drive w0 = wL = 10, Om = 1, the spec test baths):
  fig2a  Bloch vector, thermal start (T = 5): exact curve and jump-trajectory average
  fig2b  heat rates of the three approaches and dU/dt
  fig3a  changes from the initial to the steady state vs g- (g+, g_z fixed; rates-only form)
  fig3b  the same vs g_z
  fig4   entropy, irreversible entropy of each approach; inset beta_S and the Floquet inversion
  appendix_mixed, appendix_ground: fig2a/2b/4 panels for the maximally mixed and ground starts
Usage: python scripts/reproduce_qubit.py [--out data/reproduce/qubit] [--trajectories 200000]
"""
import argparse
import dataclasses
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mcthermo.models.qubit import DrivenQubit  # noqa: E402
from mcthermo.runner import sample  # noqa: E402

APPROACHES = {"conventional": ("C0", "--"), "hamiltonian": ("C2", "-."), "entropy": ("C3", ":")}
STARTS = {"thermal": dict(initial="thermal", initial_temperature=5.0),
          "mixed": dict(initial="mixed"), "ground": dict(initial="ground")}


def bloch_figure(run, path, title):
    bloch = run.tables["bloch"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for axis, colour in zip("xyz", ("C0", "C1", "C2")):
        ax.plot(bloch["time"], bloch[f"{axis}_exact"], color=colour, lw=0.8, label=f"r_{axis} exact")
        ax.errorbar(bloch["time"][::4], bloch[axis][::4], yerr=bloch[f"{axis}_stderr"][::4],
                    fmt=".", ms=3, color=colour, label=f"r_{axis} jumps")
    ax.set(xlabel="time", ylabel="Bloch vector", title=title)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def rates_figure(thermo, path, title):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(thermo["time"], np.gradient(thermo["U"], thermo["time"]), color="C4", label="dU/dt")
    for a, (colour, style) in APPROACHES.items():
        ax.plot(thermo["time"], thermo[f"heat_rate_{a}"], color=colour, ls=style, label=f"dQ/dt {a}")
    ax.set(xlabel="time", ylabel="heat rate", title=title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def entropy_figure(spec, thermo, path, title):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(thermo["time"], thermo["entropy"] - thermo["entropy"].iloc[0], color="C1", label="dS")
    for a, (colour, style) in APPROACHES.items():
        ax.plot(thermo["time"], thermo[f"entropy_production_{a}"], color=colour, ls=style,
                label=f"Sigma {a}")
    ax.set(xlabel="time", ylabel="entropy", title=title)
    ax.legend(fontsize=7, loc="lower left")
    inset = ax.inset_axes([0.6, 0.12, 0.36, 0.3])
    inset.plot(thermo["time"], thermo["inverse_temperature"], color="C6", lw=0.8)
    inset.plot(thermo["time"], spec.floquet_state(thermo["time"])[:, 0], color="C9", lw=0.8)
    inset.set_ylim(-2, 2)
    inset.tick_params(labelsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def sweep(base, name, values, out):
    """Changes from t = 0 to the steady state (t = 20 / slowest rate) vs one rate."""
    rows = []
    for value in values:
        rates = dict(zip(("g_minus", "g_plus", "g_z"), base.rates))
        rates[name] = value
        spec = dataclasses.replace(base, rates=tuple(rates.values()))
        g1 = rates["g_minus"] + rates["g_plus"]
        t_end = 20.0 / min(g1, g1 / 2 + 2 * rates["g_z"])
        history = spec.thermodynamics(np.linspace(0.0, t_end, 401))
        first, final = history.iloc[0], history.iloc[-1]
        rows.append({name: value, "dU": final["U"] - first["U"],
                     "dS": final["entropy"] - first["entropy"],
                     **{f"Q_{a}": final[f"heat_{a}"] for a in APPROACHES},
                     **{f"W_{a}": final[f"work_{a}"] for a in APPROACHES}})
    frame = pd.DataFrame(rows)
    frame.to_parquet(out / f"{'fig3a' if name == 'g_minus' else 'fig3b'}.parquet")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(frame[name], frame["dS"], color="C1", label="dS")
    ax.plot(frame[name], frame["dU"], color="C4", label="dU = Q_hamiltonian")
    for a, (colour, style) in APPROACHES.items():
        if a != "hamiltonian":
            ax.plot(frame[name], frame[f"Q_{a}"], color=colour, ls=style, label=f"Q {a}")
    if name == "g_minus":
        ax.axvline(base.rates[1], color="grey", lw=0.6)        # g- = g+: maximally mixed steady state
    ax.set(xlabel=name, ylabel="change, initial to steady state")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / f"{'fig3a' if name == 'g_minus' else 'fig3b'}.png", dpi=150)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data/reproduce/qubit")
    parser.add_argument("--trajectories", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for label, initial in STARTS.items():
        spec = DrivenQubit(**initial)
        prefix = "fig" if label == "thermal" else f"appendix_{label}_fig"
        run = sample(spec, trajectories=args.trajectories, seed=args.seed, out=out / f"run_{label}")
        bloch_figure(run, out / f"{prefix}2a.png", f"Bloch vector, {label} start")
        thermo = run.tables["thermo"]
        thermo.to_parquet(out / f"{prefix}2b_4.parquet")
        rates_figure(thermo, out / f"{prefix}2b.png", f"heat rates, {label} start")
        entropy_figure(spec, thermo, out / f"{prefix}4.png", f"entropy, {label} start")
        failed = run.checks.loc[~run.checks["passed"], "check"].tolist()
        print(f"{label}: {args.trajectories} trajectories, checks failed: {failed or 'none'}")
    base = DrivenQubit(rates=DrivenQubit().floquet_rates(), **STARTS["thermal"])
    sweep(base, "g_minus", np.linspace(0.005, 0.2, 40), out)
    sweep(base, "g_z", np.linspace(0.0, 0.2, 40), out)
    print(f"figures and tables in {out}")


if __name__ == "__main__":
    main()
