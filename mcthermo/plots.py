"""Figures of a run (extra: plot): work/heat histograms with the exact overlay, the Crooks plot,
convergence of the Jarzynski estimate with the number of trajectories, and model-specific
figures registered by each model with ``register``."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from . import theorems

#: model name -> functions (run, figure directory) -> list of written PNG paths
MODEL_PLOTS = defaultdict(list)


def register(model: str):
    """Decorator: add a model-specific figure function ``f(run, directory) -> [paths]``."""
    def decorator(function):
        MODEL_PLOTS[model].append(function)
        return function
    return decorator


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("figures need matplotlib: pip install 'mcthermo[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)
    return path


def histogram_limits(rows, trajectories: int, log: bool) -> tuple[tuple[float, float], tuple[float, float]]:
    """(x range, y range) fitted to what a histogram shows: the values sampled or with an exact
    probability the run could have resolved (>= 0.3 / trajectories), padded by 5 %; probabilities
    from just below the smallest shown to just above the largest (never up to 10 on a log axis)."""
    floor = 0.3 / trajectories
    exact = rows["probability_exact"].fillna(0.0).to_numpy()
    shown = (rows["count"].to_numpy() > 0) | (exact >= floor)
    values = rows["value"].to_numpy()[shown] if shown.any() else rows["value"].to_numpy()
    low, high = float(np.min(values)), float(np.max(values))
    pad = 0.05 * (high - low) if high > low else 0.5 * max(abs(low), 1.0)
    probabilities = np.concatenate([rows["probability"].to_numpy()[rows["count"].to_numpy() > 0],
                                    exact[exact >= floor]])
    top = float(probabilities.max()) if probabilities.size else 1.0
    if log:
        bottom = max(float(probabilities.min()) if probabilities.size else floor, 1e-300)
        return (low - pad, high + pad), (bottom / 3, min(top * 3, 1.5))
    return (low - pad, high + pad), (0.0, 1.1 * top)


def _conditions(run) -> dict[str, str]:
    """observable -> the condition it is counted under (e.g. "heat_hot != 0"), from the summary."""
    summary = run.summary
    if "condition" not in summary:
        return {}
    conditioned = summary[summary["condition"].fillna("") != ""]
    return dict(zip(conditioned["observable"], conditioned["condition"]))


def histograms(run, directory: Path, log: bool = True) -> list[Path]:
    """One figure per observable: sampled probabilities (dots) and exact ones (stems ending in a
    bar), at the lattice values only: nothing is drawn through the empty values between them.
    A conditioned observable (e.g. the stochastic efficiency, over the trajectories with
    Q_hot != 0) is drawn with its conditional law and says how many trajectories it counts."""
    plt = _pyplot()
    paths = []
    conditions = _conditions(run)
    for observable, rows in _plain(run.histogram).groupby("observable", sort=False):
        fig, ax = plt.subplots(figsize=(6, 4))
        counted = int(rows.groupby("direction")["count"].sum().max())
        (x_low, x_high), (y_low, y_high) = histogram_limits(rows, max(counted, 1), log)
        for index, (direction, part) in enumerate(rows.groupby("direction", sort=False)):
            part = part.sort_values("value")
            colour = f"C{index}"
            exact = part[part["probability_exact"].fillna(0.0) > 0]
            if len(exact):
                ax.vlines(exact["value"], y_low, exact["probability_exact"], colors=colour, lw=0.6, alpha=0.5)
                ax.plot(exact["value"], exact["probability_exact"], "_", color=colour, ms=9,
                        label=f"{direction} exact")
            sampled = part[part["count"] > 0]
            label = f"{direction} sampled"
            if observable in conditions:
                label += f" ({part['count'].sum():,} trajectories)"
            ax.plot(sampled["value"], sampled["probability"], "o", color=colour, ms=3, label=label)
        title = f"{run.info['model']}: {observable}"
        if observable in conditions:
            title += f" (trajectories with {conditions[observable]})"
        ax.set(xlabel=observable, ylabel="probability", title=title)
        if log:
            ax.set_yscale("log")
        ax.set_xlim(x_low, x_high)
        ax.set_ylim(y_low, y_high)
        ax.legend(fontsize=8)
        paths.append(_save(fig, directory / f"histogram_{observable}.png"))
    return paths


def _plain(table):
    """The rows of the plain ensemble (a tilted run also holds its tilted ensembles' rows)."""
    return table[table["tilt"].fillna("") == ""] if "tilt" in table else table


def _work_counts(run, direction):
    rows = _plain(run.histogram).query("observable == 'work' and direction == @direction and count > 0")
    return rows["value"].to_numpy(), rows["count"].to_numpy()


def _theorem(run, check):
    """(beta, expected dF) of a run's ``check`` rows (jarzynski: of the forward direction)."""
    rows = run.checks[run.checks["check"] == check]
    if check == "jarzynski":
        rows = rows[rows["direction"] == "forward"]
    if not len(rows) or "beta" not in rows or not np.isfinite(rows["beta"].iloc[0]):
        return None
    return float(rows["beta"].iloc[0]), float(rows["expected"].iloc[0])


def crooks_plot(run, directory: Path) -> list[Path]:
    """ln P_F(W)/P_R(-W) with error bars against the exact line beta (W - dF)."""
    theorem = _theorem(run, "crooks")
    if theorem is None or not np.isfinite(theorem[1]):
        return []
    beta, dF = theorem
    plt = _pyplot()
    try:
        fit = theorems.crooks(*_work_counts(run, "forward"), *_work_counts(run, "reverse"), beta=beta,
                              min_count=10)
    except theorems.EstimatorError:
        return []
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar(fit.work, fit.log_ratio, yerr=np.sqrt(np.diag(fit.covariance)), fmt="o", ms=3,
                label="sampled")
    grid = np.linspace(fit.work.min(), fit.work.max(), 50)
    ax.plot(grid, beta * (grid - dF), "-", label=r"$\beta(W-\Delta F)$ exact")
    ax.axvline(dF, ls="--", lw=0.8, color="k")
    ax.set(xlabel="work W", ylabel=r"$\ln P_F(W)/P_R(-W)$", title="Crooks relation")
    ax.legend(fontsize=8)
    return [_save(fig, directory / "crooks.png")]


def jarzynski_convergence(run, directory: Path, seed: int = 0) -> list[Path]:
    """The Jarzynski estimate from n of the sampled trajectories (drawn without replacement from
    the counts), n from 10 to all, with its standard error and the exact dF."""
    theorem = _theorem(run, "jarzynski")
    if theorem is None:
        return []
    beta, dF = theorem
    plt = _pyplot()
    rng = np.random.default_rng(seed)
    fig, ax = plt.subplots(figsize=(6, 4))
    for direction, sign in (("forward", 1.0), ("reverse", -1.0)):
        values, counts = _work_counts(run, direction)
        if values.size == 0:
            continue
        total = int(counts.sum())
        sizes = np.unique(np.geomspace(10, total, 15).astype(int))
        estimates = [theorems.jarzynski(values, rng.multivariate_hypergeometric(counts, n), beta=beta)
                     for n in sizes]
        ax.errorbar(sizes, [sign * e.value for e in estimates], yerr=[e.stderr for e in estimates],
                    fmt="o-", ms=3, label=f"{direction}" + (" (sign flipped)" if sign < 0 else ""))
    ax.axhline(dF, color="k", ls="--", label=r"exact $\Delta F$")
    ax.set(xscale="log", xlabel="trajectories n", ylabel=r"$-\beta^{-1}\ln\langle e^{-\beta W}\rangle_n$",
           title="Convergence of the Jarzynski estimate")
    ax.legend(fontsize=8)
    return [_save(fig, directory / "jarzynski_convergence.png")]


def plot_run(run, directory=None, log: bool = True) -> list[Path]:
    """Every figure of one run, as PNGs under ``directory`` (default: <run>/figures)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = histograms(run, directory, log) + crooks_plot(run, directory)
    paths += jarzynski_convergence(run, directory)
    if "reweighted" in run.tables:
        paths += tilted_tail(run, directory)
    for function in MODEL_PLOTS.get(run.info["model"], []):
        paths += function(run, directory)
    return paths


def tilted_tail(run, directory: Path) -> list[Path]:
    """A tilted run's reweighted law of the tilted observable (dots with 2-stderr bars) beside the
    plain ensemble's histogram (what plain sampling of as many trajectories reaches) and the exact
    law, on a log axis: the tails that only the tilts reach."""
    plt = _pyplot()
    law = run.tables["reweighted"]
    paths = []
    for (direction, observable), rows in law.groupby(["direction", "observable"], sort=False):
        rows = rows.sort_values("value")
        plain = _plain(run.histogram).query("observable == @observable and direction == @direction and count > 0")
        fig, ax = plt.subplots(figsize=(6, 4))
        exact = rows[rows["probability_exact"].fillna(0.0) > 0]
        ax.plot(exact["value"], exact["probability_exact"], "-", color="0.6", lw=1, label="exact")
        reached = rows[rows["probability"] > 0]
        ax.errorbar(reached["value"], reached["probability"], yerr=2 * reached["stderr"].fillna(0.0),
                    fmt="o", ms=3, color="C0", label=f"reweighted ({run.info['tilt']['observable']} tilts "
                    f"{', '.join(f'{s:g}' for s in run.info['tilt']['tilts'])})")
        ax.plot(plain["value"], plain["probability"], "s", ms=3, color="C1", mfc="none",
                label=f"plain sampling ({int(plain['count'].sum()):,} trajectories)")
        ax.set_yscale("log")
        ax.set(xlabel=observable, ylabel="probability", title=f"{run.info['model']}: {observable} ({direction})")
        ax.legend(fontsize=8)
        paths.append(_save(fig, directory / f"tilted_{direction}_{observable}.png"))
    return paths


@register("lz")
def lz_crossings(run, directory: Path) -> list[Path]:
    """Occupation p_i before each crossing and entropy production Sigma_i per crossing (exact)."""
    if "crossings" not in run.tables:
        return []
    plt = _pyplot()
    crossings = run.tables["crossings"].query("direction == 'forward'")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 5), sharex=True)
    top.plot(crossings["level"], crossings["occupation"], "o-", label=r"$p_i$ before crossing")
    top.plot(crossings["level"], crossings["thermal_occupation"], "s--", label=r"$f_i$ reservoir")
    top.set(ylabel="occupation")
    top.legend(fontsize=8)
    bottom.bar(crossings["level"], crossings["entropy_production"], width=0.4)
    bottom.set(xlabel=r"reservoir level $\varepsilon_i$", ylabel=r"$\Sigma_i$")
    return [_save(fig, directory / "crossings.png")]


@register("qubit")
def qubit_bloch(run, directory: Path) -> list[Path]:
    """Lab-frame Bloch vector <sigma_x,y,z>(t): trajectory averages (+-2 standard errors) at the
    output times on the exact master-equation solution, and the z-scores with the Bonferroni
    threshold of the run's bloch check."""
    if "bloch" not in run.tables:
        return []
    plt = _pyplot()
    bloch = run.tables["bloch"]
    t = bloch["time"].to_numpy()
    fig, axes = plt.subplots(4, 1, figsize=(7, 8), sharex=True,
                             gridspec_kw={"height_ratios": [2, 2, 2, 1.4]})
    # the exact solution on a fine grid: the lab-frame x, y oscillate faster than the output times
    fine = np.linspace(t[0], t[-1], min(20_000, 20 * t.size))
    exact = run.spec.bloch(fine)
    for k, (ax, axis) in enumerate(zip(axes, "xyz")):
        ax.plot(fine, exact[:, k], "k-", lw=0.6, label="exact")
        ax.errorbar(t, bloch[axis], yerr=2 * bloch[f"{axis}_stderr"], fmt="o", ms=2, lw=0.8,
                    label=r"sampled $\pm 2\sigma$")
        ax.set(ylabel=rf"$\langle\sigma_{axis}\rangle$")
    axes[0].legend(fontsize=8, loc="upper right")
    axes[0].set_title(f"{run.info['model']}: Bloch vector, {run.info['trajectories']:,} trajectories")
    checks = run.checks.query("check == 'bloch'")
    threshold = float(checks["threshold"].iloc[0]) if len(checks) else 5.0
    with np.errstate(divide="ignore", invalid="ignore"):
        for axis in "xyz":
            se = bloch[f"{axis}_stderr"].to_numpy()
            z = np.where(se > 0, (bloch[axis] - bloch[f"{axis}_exact"]) / se, 0.0)
            axes[3].plot(t, z, ".", ms=2, label=axis)
    for sign in (-1, 1):
        axes[3].axhline(sign * threshold, color="r", ls="--", lw=0.8)
    axes[3].set(xlabel="time t", ylabel="z-score\n(sampled - exact) / stderr")
    axes[3].legend(fontsize=7, ncol=3, loc="lower right")
    return [_save(fig, directory / "bloch.png")]


@register("strokes")
def stroke_engine(run, directory: Path) -> list[Path]:
    """The joint law of (W, Q_hot), sampled beside exact (the efficiency histogram is one of the
    observable histograms)."""
    joint = run.tables["work_heat"].query("direction == 'forward'") if "work_heat" in run.tables else []
    if not len(joint):
        return []
    plt = _pyplot()
    n = joint["count"].sum()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True, sharey=True)
    sampled = joint[joint["count"] > 0]
    exact = joint[joint["probability_exact"] >= 0.3 / max(n, 1)]
    panels = ((axes[0], sampled, np.log10(sampled["count"] / max(n, 1)), "sampled"),
              (axes[1], exact, np.log10(exact["probability_exact"]), "exact"))
    low = min(float(weight.min()) for _, _, weight, _ in panels if len(weight))
    for ax, part, weight, title in panels:
        points = ax.scatter(part["work"], part["heat"], c=weight, s=12, cmap="viridis",
                            marker="s", vmin=low, vmax=0.0)
        ax.set(xlabel="work W", title=f"{title}: joint law of (W, $Q_{{hot}}$)")
        fig.colorbar(points, ax=ax, label=r"$\log_{10}$ probability")
    axes[0].set_ylabel(r"heat from the hot bath $Q_{hot}$")
    return [_save(fig, directory / "work_heat.png")]
