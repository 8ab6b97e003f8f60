"""What an ``OpenSystem`` declares after sampling: merged counts beside their exact answers.

Observables (docs/observables.md: heat = energy INTO the system):
- ``jumps_<channel>``: histogram of the count with its exact law (DFT of the tilted generator);
- ``heat_<bath>``: histogram with exact law where the bath's heat quanta lie on a lattice, else
  sample moments; exact mean and variance always;
- ``work`` and ``entropy_production`` (with the two-point energy measurement): histogram on exact
  atoms with their exact law when every bath is on a lattice (work: and no chemical work), else
  moments; sigma = ln p0(i) - ln p_t(j) - sum_b beta_b Q_b with p_t the final populations;
- ``particles_<bath>`` for every bath whose channels carry particles: the net particles into the
  system, mean only (from the jump-count histograms) against the exact mean, its null stderr from
  the exact variance (``_particle_observables``);
- ``integral_ft``: the exact ln<e^{-sigma}> from the tilted generator (never assumed 0), or why it
  does not apply; ``jarzynski``: (beta, dF) when there is one bath, no particle exchange, a Gibbs
  start, and the exact ln<e^{-beta W}> equals -beta dF;
- with ``reverse=True`` the same per direction (the reverse direction samples
  ``system.reversed()``), and ``bar_crooks`` (beta, dF) where Crooks and BAR hold, else why not;
- expectation values at the output times against e^{Lt} rho0 (dephased by the measurement).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from .. import exponential
from ..exact import generating, tilted
from ..exact.effort import Progress
from ..stats import lattice_groups, log_group_sum, variance_from_sums, zero_within_round_off
from ..results import DirectionResults, EngineEfficiency, ExactCount, Expectation, Observable, Results
from . import open_exponential
from .open_theorems import crooks_reason, free_energy_change, gibbs_start, reverse_partner_reason
from .open_sampling import Layout

#: cost of an exact law (counting fields x pieces x d^6 x Taylor products) above which only the
#: exact moments are given
MAX_LAW_COST = 2e10


def _log(p):
    """ln of an exact law (``tilted.lattice_law``/``count_law`` already zero every probability
    below the DFT's round-off bound or outside the exact support): -inf for zero."""
    with np.errstate(divide="ignore"):
        return np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), -np.inf)


def _atoms(name, values, counts, law, moments):
    """One observable on the distinct values of ``values`` (``stats.lattice_groups``: equal to 10
    relative digits), counts summed and the exact law summed in log space."""
    keep = (counts > 0) | (law > 0) if law is not None else counts > 0
    unique, inverse = lattice_groups(values[keep])
    atom_counts = np.bincount(inverse, weights=counts[keep], minlength=len(unique)).astype(np.int64)
    log_p = None if law is None else log_group_sum(inverse, _log(law[keep]), len(unique))
    return Observable(name, values=unique, counts=atom_counts, log_probability_exact=log_p,
                      mean_exact=moments[0], variance_exact=moments[1])


def _moments_only(name, n, sums, moments):
    return Observable(name, n=n, total=float(sums[0]), total_squares=float(sums[1]),
                      mean_exact=moments[0], variance_exact=moments[1], checks=("mean", "variance"))


def results(system, accumulators: dict) -> Results:
    """The ``Results`` of merged accumulators (see ``OpenSystem.accumulate``), per direction (each
    from the protocol it sampled: ``system.protocol(direction)``), with ``bar_crooks`` when the
    reverse direction was sampled.  The expectation table is the forward direction's."""
    directions, tables = {}, {}
    for direction, acc in accumulators.items():
        protocol = system.protocol(direction)
        directions[direction], extra = direction_results(protocol, protocol.layout(), acc)
        if direction == "forward":
            tables = extra
    bar_crooks = bar_crooks_declaration(system, directions) if "reverse" in directions else None
    return Results(directions, bar_crooks=bar_crooks, extra_tables=tables)


def _law_cost(system) -> float:
    return system.dimension ** 6 * len(system.pieces) * 25


def count_laws_feasible(system, geometry: Layout) -> bool:
    """Whether the jump counts get their exact laws (else exact moments only)."""
    return system.exact and geometry.max_count * _law_cost(system) <= MAX_LAW_COST


def lattice_law_feasible(system, geometry: Layout) -> bool:
    """Whether the joint law of (i, j, heat lattices) is computed (else exact moments only)."""
    return system.exact and np.prod(geometry.joint_shape[2:]) * _law_cost(system) <= MAX_LAW_COST


#: the reason of every check row without an exact answer when the system has ``exact=False``
NO_EXACT = "no exact reference (exact=False)"
NO_MOMENTS = (None, None)


def direction_results(system, geometry: Layout, acc: dict) -> tuple[DirectionResults, dict]:
    """What one direction's merged accumulators declare (its observables and theorem checks) and
    its extra tables; with ``system.exact`` False no exact reference is computed (the rows say
    so)."""
    n = int(acc["joint"].sum() + acc["joint_overflow"].sum())
    observables = []
    count_feasible = count_laws_feasible(system, geometry)
    progress = Progress("references of the open system", len(system.channel_names) + len(system.bath_names))
    for c, name in enumerate(system.channel_names):
        law = tilted.count_law(system, name, geometry.max_count) if count_feasible else None
        # the law's own moments are exact (its leaked mass is < 1e-15); else block derivatives
        moments = (None, None) if law is not None or not system.exact else tilted.moments(
            system, lambda ch, name=name: float(ch.name == name))
        progress.advance()
        observables.append(Observable(
            f"jumps_{name}", values=np.arange(geometry.max_count + 1),
            counts=acc["count_histogram"][c], mean_exact=moments[0], variance_exact=moments[1],
            log_probability_exact=None if law is None else _log(law)))
    joint = acc["joint"].reshape(geometry.joint_shape)
    law = None
    if lattice_law_feasible(system, geometry):
        steps = [tilted.channel_increments(
            system, lambda ch, b=b: round((ch.energy - system.baths[b].mu * ch.particles)
                                          / geometry.units[b]) if ch.bath == b else 0.0)
            for b in geometry.lattice_baths]
        law = tilted.lattice_law(system, steps, list(geometry.half_widths.values()))
    floats = acc["floats"].sum(axis=0)
    baths = system.bath_names
    for b, bath in enumerate(baths):
        mu = system.baths[bath].mu
        moments = NO_MOMENTS if not system.exact else tilted.moments(
            system, lambda ch: -(ch.energy - mu * ch.particles) if ch.bath == bath else 0.0)
        progress.advance()
        if bath in geometry.half_widths:
            axis = 2 + geometry.lattice_baths.index(bath)
            others = tuple(a for a in range(joint.ndim) if a != axis)
            h = geometry.half_widths[bath]
            values = 0.0 - geometry.units[bath] * np.arange(-h, h + 1)     # no -0.0 atom
            observables.append(_atoms(f"heat_{bath}", values, joint.sum(axis=others),
                                      None if law is None else law.sum(axis=others), moments))
        else:
            observables.append(_moments_only(f"heat_{bath}", n, floats[b], moments))
    observables += _particle_observables(system, acc, n)
    # trajectories outside the histogram windows (each has probability < 1e-15 by construction)
    overflow = int(acc["count_overflow"].sum() + acc["joint_overflow"].sum())
    out = DirectionResults(observables, exact_counts=[ExactCount("histogram_overflow", "jumps",
                                                                 overflow, n)])
    out.integral_ft = reverse_partner_reason(system)
    if system.measure_energy:
        _energy_observables(system, geometry, joint, law, floats, n, out)
    _attach_exponential_sums(system, geometry, acc, out)
    out.expectations = _expectations(system, acc, n)
    progress.close()
    if not system.exact:
        out.no_exact_reference = NO_EXACT
    tables = {}
    if out.expectations:
        e = out.expectations[0]
        tables["expectation"] = pd.DataFrame({
            "observable": np.repeat(np.array(e.components, dtype=object)[None, :], len(e.times), 0).ravel(),
            "time": np.repeat(e.times, len(e.components)), "mean": e.mean.ravel(),
            "stderr": e.stderr.ravel(), "exact": e.exact.ravel()})
    return out, tables


def _particle_observables(system, acc, n) -> list[Observable]:
    """``particles_<bath>`` for every bath whose channels carry particles: the net particles into
    the system per trajectory, -sum over the bath's channels k of nu_k x (jumps of k).

    Mean only: the kernel keeps no per-trajectory particle sums, but the mean is linear in the
    channels' jump counts, so the sample total is exact from the count histograms (a trajectory whose
    count left a histogram window -- probability < 1e-15, the ``histogram_overflow`` row -- adds
    nothing).  The mean check is judged with the EXACT variance from the tilted generator as its
    null stderr (``tilted.moments``, increment -nu_k on the bath's channels); no sample variance
    exists (the summary row's std is NaN).  An exactly deterministic particle number has no check.
    """
    out = []
    histogram = acc["count_histogram"]
    counted = histogram @ np.arange(histogram.shape[1], dtype=np.float64)   # total jumps per channel
    for bath, into in system.particles_per_jump().items():
        moments = NO_MOMENTS if not system.exact else tilted.moments(
            system, lambda ch, bath=bath: -float(ch.particles) if ch.bath == bath else 0.0)
        scale = float(np.abs(into).max()) * max(1.0, abs(moments[0] or 0.0))
        fixed = moments[1] is not None and np.sqrt(max(moments[1], 0.0)) <= exponential.ROUND_OFF * scale
        out.append(Observable(f"particles_{bath}", n=n, total=float(np.dot(counted, into)),
                              total_squares=np.nan, mean_exact=moments[0], variance_exact=moments[1],
                              checks=() if fixed else ("mean",)))
    return out


def _energy_observables(system, geometry, joint, law, floats, n, out):
    """work and entropy_production (G0), integral_ft and jarzynski declarations."""
    baths = system.bath_names
    e_initial = tilted.initial_basis(system)[0]
    e_final = tilted.final_basis(system)[0]
    all_lattice = len(geometry.half_widths) == len(baths)
    chemical = any(c.particles != 0 and system.baths[c.bath].mu != 0
                   for p in system.pieces for c in p.channels)
    grids = np.meshgrid(*[np.arange(s) for s in geometry.joint_shape], indexing="ij")
    given = [geometry.units[b] * (grids[2 + k] - geometry.half_widths[b])
             for k, b in enumerate(geometry.lattice_baths)]
    moments = NO_MOMENTS if not system.exact else tilted.moments(system, lambda c: c.energy, -e_initial, e_final)
    if all_lattice and not chemical:
        values = e_final[grids[1]] - e_initial[grids[0]] + sum(given, np.zeros(joint.shape))
        out.observables.append(_atoms("work", values.ravel(), joint.ravel(),
                                      None if law is None else law.ravel(), moments))
        if len(baths) == 2:
            out.engine_efficiency = _engine_efficiency(system, geometry, values, given, joint, moments,
                                                       e_initial, e_final)
    else:
        out.observables.append(_moments_only("work", n, floats[len(baths)], moments))
        if len(baths) == 2:
            out.engine_efficiency = EngineEfficiency(hot_bath(system), n, None)
    if out.integral_ft is not None and "zero temperature" in out.integral_ft:
        return
    # ln p0 and ln p_t in log space (exact at any temperature), as the sampler uses them
    log_p0 = tilted.log_start(system)[0]
    log_p0 = np.where(np.isfinite(log_p0), log_p0, 0.0)
    log_pt = generating.log_final_populations(system)
    log_pt = np.where(np.isfinite(log_pt), log_pt, 0.0)
    moments = NO_MOMENTS if not system.exact else generating.moments(system, "entropy_production")
    if all_lattice:
        betas = [system.baths[b].beta for b in geometry.lattice_baths]
        values = log_p0[grids[0]] - log_pt[grids[1]] + sum(
            (beta * g for beta, g in zip(betas, given)), np.zeros(joint.shape))
        out.observables.append(_atoms("entropy_production", values.ravel(), joint.ravel(),
                                      None if law is None else law.ravel(), moments))
    else:
        out.observables.append(_moments_only("entropy_production", n, floats[len(baths) + 1], moments))
    if out.integral_ft is None and not system.exact:
        out.integral_ft = NO_EXACT
    elif out.integral_ft is None:
        # the exact ln<e^{-sigma}> from the generating function (log space): any spectrum
        out.integral_ft = zero_within_round_off(system.log_generating_function("entropy_production", 1.0))
    out.jarzynski = _jarzynski(system, out, e_initial, e_final)


def hot_bath(system) -> str:
    """The hot bath of a two-bath system: the smaller beta."""
    return min(system.bath_names, key=lambda b: system.baths[b].beta)


def _engine_efficiency(system, geometry, work, given, joint, work_moments, e_initial, e_final):
    """-<W>/<Q_hot> from the joint histogram (W and Q_hot per cell) and, with exact references,
    the exact moments of W, Q_hot and W + Q_hot (their covariance)."""
    hot = hot_bath(system)
    heat = -given[geometry.lattice_baths.index(hot)]  # given to the bath; heat is into the system
    counts = joint.ravel().astype(np.float64)
    w, q = work.ravel(), heat.ravel()
    sums = tuple(float(np.dot(counts, v)) for v in (w, q, w * w, q * q, w * q))
    exact = None
    if system.exact:
        mu = system.baths[hot].mu
        heat_step = lambda c: -(c.energy - mu * c.particles) if c.bath == hot else 0.0  # noqa: E731
        mq, vq = tilted.moments(system, heat_step)
        _, vs = tilted.moments(system, lambda c: c.energy + heat_step(c), -e_initial, e_final)
        mw, vw = work_moments
        exact = (mw, mq, vw, vq, 0.5 * (vs - vw - vq))
    return EngineEfficiency(hot, int(joint.sum()), sums, exact)


def bar_crooks_declaration(system, directions: dict) -> tuple[float, float] | str:
    """(beta, dF) of the forward protocol when Crooks and BAR hold for ``system`` and its
    reversal (``crooks_reason``) and the sample can test them: work histograms in both directions
    (Crooks on the work atoms, Bennett's acceptance ratio), or else the work's exact generating
    function and exponential sums in both directions (``checks.generating_bar_check`` and
    ``checks.generating_crooks_check``), else the reason they do not apply."""
    reason = crooks_reason(system)
    if reason is not None:
        return reason
    works = [d.observable("work") for d in directions.values()]
    if not all(w is not None and (w.histogrammed or w.log_generating_function is not None)
               for w in works):
        return ("Crooks and BAR need the work histograms or the work's exact generating function: "
                "the heat is not on a lattice (moments only)")
    (bath,) = system.baths.values()
    return bath.beta, free_energy_change(system, bath.beta)


def _jarzynski(system, out, e_initial, e_final):
    """(beta, dF) when Jarzynski is stated: one bath, no particles, a Gibbs start, and the exact
    ln<e^{-beta W}> equal to -beta dF (to 1e-9 relative to max(1, |beta dF|)); the reason as a string
    when the system has all but the last (its channels break detailed balance); else None."""
    work = out.observable("work")
    if len(system.baths) != 1 or work is None or not system.exact:
        return None
    (bath,) = system.baths.values()
    if any(c.particles for p in system.pieces for c in p.channels) or bath.zero_temperature:
        return None
    beta = bath.beta
    if not gibbs_start(system, beta):
        return None
    delta_f = free_energy_change(system, beta)
    exact = generating.log_generating_function(system, "work", beta)
    if abs(exact + beta * delta_f) <= 1e-9 * max(1.0, abs(beta * delta_f)):
        return beta, float(delta_f)
    return (f"the exact ln<e^(-beta W)> = {float(exact):.6g} differs from -beta dF = "
            f"{-beta * delta_f:.6g}: Jarzynski does not hold for these channels (no detailed balance)")


def _attach_exponential_sums(system, geometry, acc, out):
    """Give every observable its exact ln G (``open_exponential``), the merged sums
    ln sum e^{-s x} of the kernel and the scale of its values; moment-only observables then get
    variance and distribution rows too (``mcthermo.exponential``)."""
    if geometry.exponents is None or "exponential" not in acc or not system.exact:
        return
    sums = exponential.log_block_sum(acc["exponential"])          # blocks merged in index order
    for k, name in enumerate(open_exponential.observable_names(system)):
        obs = out.observable(name)
        used = np.isfinite(geometry.exponents[k])
        if obs is None or not used.any():          # jump counts: their exact law is histogrammed
            continue
        extra = dict(exponents=geometry.exponents[k][used], log_exponential_sums=sums[k][used],
                     log_generating_function=open_exponential.log_generating_function(system, name),
                     value_scale=open_exponential.value_scale(system, name))
        if not obs.histogrammed:
            extra["checks"] = ("mean", "variance", "distribution")
        out.observables[out.observables.index(obs)] = replace(obs, **extra)


def _expectations(system, acc, n) -> list[Expectation]:
    if not system.observables or not len(system.output_times):
        return []
    sums = acc["moments"].sum(axis=0)                      # (T, A, 2)
    mean = sums[..., 0] / n
    variance = variance_from_sums(sums[..., 0], sums[..., 1], n)
    if not system.exact:
        exact = np.full(mean.shape, np.nan)
        return [Expectation("expectation", "expectation", system.output_times, mean,
                            np.sqrt(variance / n), exact, tuple(system.observables), n)]
    rho = tilted.states_at(system, system.output_times)
    exact = np.stack([np.real(np.einsum("tab,tba->t", rho, system.observable_at(name)))
                      for name in system.observables], axis=1)
    return [Expectation("expectation", "expectation", system.output_times, mean,
                        np.sqrt(variance / n), exact, tuple(system.observables), n)]
