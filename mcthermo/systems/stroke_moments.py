"""Moment-only sampling of a stroke protocol whose histogram box is too large to hold.

Each trajectory accumulates its work, heats and entropy production as floats (and beta W for a
Gibbs-bath protocol); per block of ``BLOCK_SIZE`` consecutive trajectory indices the kernel sums
x, x^2, e^{-x} and e^{-2x} (``kernels/strokes.py::stroke_moments``), so the merged sums never depend
on chunking or threads.  The exact means and variances come from the transfer matrices and the
exact <e^{-s sigma}>, <e^{-s beta W}> from the tilted ones (``exact/strokes_dp.py``): checks are the
means of x, and the integral fluctuation theorem and Jarzynski rows on the sums of e^{-sigma} and
e^{-beta W}, judged with the exact null stderr from G(2s) (``checks.generating_average_check``).
"""
from __future__ import annotations

from functools import partial

import numpy as np

from ..kernels.strokes import stroke_moments, stroke_tables, stroke_values
from ..results import DirectionResults, EngineEfficiency, Observable

#: trajectories per row of the float accumulator
BLOCK_SIZE = 1024


def moment_names(engine) -> list[str]:
    """The float values each trajectory carries: work, heats, then entropy_production and beta_work
    where they are defined (a finite-temperature bath; a Gibbs-bath protocol)."""
    names = list(engine.chain.names) + ["entropy_production"]
    return names + (["beta_work"] if isinstance(engine.jarzynski(), tuple) else [])


def moment_tables(engine):
    """Kernel tables whose float values are the moment observables (no histogram key)."""
    chain, protocol = engine.chain, engine.protocol
    d = chain.levels
    coefficients, log_p0, end = engine._entropy_terms()
    # (a zero-temperature bath: sigma is not an observable; its column is carried as 0 and dropped)
    coefficients = np.where(np.isfinite(coefficients), coefficients, 0.0)
    columns = [np.moveaxis(chain.increments, 0, -1),
               np.tensordot(chain.increments, coefficients, axes=([0], [0]))[..., None]]
    start = np.zeros((d, len(chain.names) + 1))
    start[:, -1] = np.where(log_p0 > -np.inf, log_p0, 0.0)
    finish = np.zeros((d, len(chain.names) + 1))
    finish[:, -1] = np.where(np.isfinite(end), end, 0.0)
    if "beta_work" in moment_names(engine):
        gibbs = protocol.gibbs_bath()
        columns.append(protocol.baths[gibbs].beta * chain.increments[0][..., None])
        start, finish = np.pad(start, ((0, 0), (0, 1))), np.pad(finish, ((0, 0), (0, 1)))
    zeros = np.zeros(chain.log_transition.shape, dtype=np.int64)
    return stroke_tables(chain.log_initial, chain.log_transition, zeros, np.zeros(d, np.int64),
                         np.zeros(d, np.int64), np.concatenate(columns, axis=-1), start, finish)


def moment_accumulate(engine, seed, stream, first, count) -> np.ndarray:
    return stroke_moments(seed, stream, first, count, engine.moment_tables, BLOCK_SIZE)


def moment_samples(engine, seed, stream, first, count) -> dict[str, np.ndarray]:
    values = stroke_values(seed, stream, first, count, engine.moment_tables)
    return {name: values[:, k] for k, name in enumerate(moment_names(engine))
            if name != "beta_work" and (name != "entropy_production" or engine.why_no_entropy() is None)}


def moment_results(engine, moments, reason: str) -> DirectionResults:
    """Moment-only observables with their exact moments; ``reason`` says why there is no law."""
    names = moment_names(engine)
    m = len(names)
    sums = np.sum(moments, axis=0)  # blocks in trajectory order: independent of chunking
    n = int(round(sums[0]))
    observables = []
    no_entropy = engine.why_no_entropy()
    exact = engine.protocol.exact
    jarzynski = engine.jarzynski()
    exponential = {}                     # observable -> (s, sum of e^{-s x} over the sample)
    if no_entropy is None:
        exponential["entropy_production"] = (1.0, sums[1 + 2 * m + names.index("entropy_production")])
    if "beta_work" in names:
        exponential[names[0]] = (jarzynski[0], sums[1 + 2 * m + names.index("beta_work")])
    for k, name in enumerate(names):
        if name != "beta_work" and (name != "entropy_production" or no_entropy is None):
            mean, variance = engine.exact_moments(name)
            extra = {"checks": ("mean",)}
            if name in exponential and exact:
                # <e^{-s x}> from the block sums of e^{-x} (x = sigma, or beta W), judged against
                # the exact G(s), G(2s), G(3s) of the tilted transfer matrices (exact null stderr;
                # inconclusive where the sample cannot contain the paths that carry the average)
                s, total = exponential[name]
                extra = dict(exponents=[s], log_exponential_sums=[np.log(total) if total > 0 else -np.inf],
                             log_generating_function=partial(engine.log_generating_function, name),
                             checks=("mean", "variance"))
            observables.append(Observable(name, n=n, total=float(sums[1 + k]),
                                          total_squares=float(sums[1 + m + k]), mean_exact=mean,
                                          variance_exact=variance, **extra))
    # the moment kernel keeps no W x Q_hot sums: the engine-efficiency row says so
    efficiency = EngineEfficiency(engine.hot, n, None) if len(engine.baths) == 2 else None
    if not exact:
        return DirectionResults(observables, jarzynski=jarzynski if isinstance(jarzynski, str) else None,
                                integral_ft=no_entropy or reason, no_exact_reference=reason,
                                engine_efficiency=efficiency)
    return DirectionResults(observables, jarzynski=jarzynski,
                            integral_ft=no_entropy or engine.log_integral_ft(),
                            engine_efficiency=efficiency)
