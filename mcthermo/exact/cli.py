"""`mcthermo exact lz ...`: the numerically exact quantum reference of the Landau–Zener model.

Hooked into ``mcthermo/cli.py`` by ``add_parser(commands)`` in ``build_parser`` and
``"exact": run`` in the handler table; bad input raises ValueError, which ``mcthermo.cli.main``
prints as one line with exit code 2.
"""
from __future__ import annotations

from ..models.landau_zener import LandauZener

#: models with an exact quantum reference: name -> spec class
EXACT_MODELS = {"lz": LandauZener}


def add_parser(subparsers) -> None:
    """Add ``exact`` with one sub-command per model to the top-level ``subparsers``."""
    exact = subparsers.add_parser("exact", help="numerically exact quantum reference of a model "
                                                "(writes occupation.parquet, work_exact.parquet)")
    models = exact.add_subparsers(dest="exact_model", required=True, parser_class=type(exact))
    lz = models.add_parser("lz", help="exact dynamics of the Landau-Zener Hamiltonian (seed Eq. 2): "
                                      "p(t) and two-point-measurement work statistics")
    LandauZener.add_arguments(lz)  # the options of `mcthermo sample lz`
    lz.add_argument("--time-step", type=float,
                    help="integrator step (default: halved from min(1/||h||, 0.05) until --tolerance "
                         "is met); must satisfy ||h|| * dt <= 1 rad")
    lz.add_argument("--tolerance", type=float, default=1e-10,
                    help="max-norm error of the one-body propagator, step-doubling estimate (default 1e-10)")
    lz.add_argument("--initial-occupation", type=float, default=1.0,
                    help="system-level occupation of the factorised state for p(t) (default 1, seed Fig. 2); "
                         "the equilibrium start f(level_start) is always written too")
    lz.add_argument("--out", help="output directory (default data/exact/lz-<hash of the parameters>)")
    lz.add_argument("--quiet", action="store_true", help="print nothing")


def _default_out(spec, args) -> str:
    from ..run import fingerprint

    identity = {"model": spec.name, "parameters": spec.parameters(), "time_step": args.time_step,
                "tolerance": args.tolerance, "initial_occupation": args.initial_occupation}
    return f"data/exact/{spec.name}-{fingerprint(identity)[:8]}"


def cost_estimate(spec, time_step=None) -> tuple[float, float]:
    """(time steps, seconds) the exact propagation needs at least, from the parameters alone: both
    directions on the starting grid and its halving (step doubling), timed on a short stretch.
    ValueError naming the driving options when the grid would exceed the integrator's limit."""
    import time

    import numpy as np

    from .lz_propagator import MAX_PHASE, MAX_STEPS, drive_from_spec, step_propagators

    steps, per_step = 0.0, 0.0
    for direction in ("forward", "reverse"):
        drive = drive_from_spec(spec, direction)
        dt = float(time_step) if time_step else min(MAX_PHASE / drive.spread(), 0.05)
        grid = drive.duration / dt
        if grid > MAX_STEPS:
            raise ValueError(f"--speed/--speeds: the exact propagation needs {grid:.3g} time steps of "
                             f"{dt:g} over t = {drive.duration:.3g} (limit {MAX_STEPS}); drive faster, "
                             "narrow --level-start/--level-end or give a larger --time-step")
        steps += 3 * grid  # the grid and its halving, at least once
        sample = np.minimum(np.arange(1025) * dt, drive.duration)
        started = time.perf_counter()
        for _ in step_propagators(drive, sample):
            pass
        per_step = max(per_step, (time.perf_counter() - started) / 1024)
    return steps, steps * per_step


def run(args) -> int:
    """Compute and write the exact tables; print the comparison summary unless --quiet."""
    import sys

    from .effort import Effort, reporting
    from .lz_comparison import exact_lz, write_exact
    from .lz_tpm import require_enumerable, tpm_pairs, tpm_seconds

    spec = EXACT_MODELS[args.exact_model].from_arguments(args)
    require_enumerable(len(spec.levels))
    steps, seconds = cost_estimate(spec, args.time_step)
    enumeration = 2 * tpm_seconds(len(spec.levels))  # forward and reverse
    # the system row of U at every time step is kept: (L + 2) complex numbers per step
    (Effort("Landau-Zener propagation", 16.0 * steps * (len(spec.levels) + 2), seconds)
     + Effort("TPM work enumeration", 0.0, enumeration)).require(
        "drive faster, narrow --level-start/--level-end, or loosen --tolerance / a larger --time-step")
    if not args.quiet:
        print(f"mcthermo: exact {args.exact_model}: propagation of at least {steps:.3g} time steps, "
              f"about {max(seconds, 0.1):.2g} s or more (each halving of the step for --tolerance "
              f"doubles it); TPM work enumeration of 2 x {tpm_pairs(len(spec.levels)):.3g} pairs, "
              f"about {max(enumeration, 0.1):.2g} s", file=sys.stderr)
    with reporting(not args.quiet):
        result = exact_lz(spec, time_step=args.time_step, tolerance=args.tolerance,
                          initial_occupation=args.initial_occupation)
    out = args.out or _default_out(spec, args)
    write_exact(result, out, args.time_step, args.tolerance, args.initial_occupation)
    if not args.quiet:
        print(summary_text(result))
        print(f"wrote {out}/occupation.parquet, work_exact.parquet, work_comparison.parquet")
    return 0


def summary_text(result) -> str:
    """Readable comparison of the exact quantum and the stochastic description."""
    s = result.summary
    lines = [f"dOmega (full H, TPM Crooks) = {s['delta_omega_full']:.10g}   "
             f"dOmega_eq (system level alone, stochastic model) = {s['delta_omega_eq']:.10g}",
             f"Crooks on the exact distributions: max |P_F(w) - e^(beta(w - dOmega)) P_R(-w)| = "
             f"{s['crooks_max_abs_residual']:.2g}",
             f"{'direction':<10}{'<W> quantum':>14}{'<W> stochastic':>16}{'TV distance':>13}"
             f"{'Jarzynski rel.':>16}{'dt':>9}{'U error':>10}"]
    for d in ("forward", "reverse"):
        lines.append(f"{d:<10}{s[d + '_mean_work_quantum']:>14.6f}{s[d + '_mean_work_stochastic']:>16.6f}"
                     f"{s[d + '_total_variation']:>13.4g}{s[d + '_jarzynski_residual']:>16.2g}"
                     f"{s[d + '_time_step']:>9.3g}{s[d + '_propagator_error']:>10.2g}")
    lines.append("|p_exact - p_stochastic| (max at midpoints between levels / of window means / at the end):")
    for key, value in s["occupation_deviation"].items():
        cells = "".join(f"{'-' if v is None else f'{v:.4f}':>10}" for v in value.values())
        lines.append(f"  {key:<24}{cells}")
    return "\n".join(lines)
