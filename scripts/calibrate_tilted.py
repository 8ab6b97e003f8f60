"""Calibrate tilted (Doob) sampling with MBAR reweighting: false alarms of a correct sampler, power
against a wrong free energy and a wrong sampler, where plain sampling is inconclusive.

1. The issue's one-step quench (two-level gap 20 -> 0.5 k_BT at beta = 1: <e^{-beta W}> = 1.607
   carried by excited starts of probability 2.1e-9).  Plain sampling of 1e6 trajectories: the
   Jarzynski row is inconclusive.  tilt="auto", 1e6 trajectories per ensemble, --replicates seeds:
   the reweighted Jarzynski row passes (|z| <= 5: a false alarm in 1.7e6 per check for normal z),
   its 5 stderr below 0.1 k_BT; against dF + 0.1 it fails; a sampler whose Doob chain draws the
   excited start 2 % too often fails the tilted-histogram G-test.
2. Staircase N = 100 (ln 2 -> ln 3, beta = 1), 2e5 trajectories per ensemble, six tilts: every atom
   of the reweighted P(W) above 1e-30 against the exact law, |z| by its stated stderr.
3. The issue's 8-level ladder Otto engine over 20 cycles with friction (<sigma> = 6.5, relative
   variance of e^{-sigma} 4.8e11: ``OTTO``), integral FT, plain and tilt="auto", 1e6 trajectories
   per ensemble.
4. Coverage: the z of the reweighted jarzynski (both directions) and crooks rows over 120 seeds.
5. A jump system: a qubit quenched 20 -> 0.5 -> 4 k_BT with Davies relaxation in three pieces
   (beta = 1), plain and tilt="auto" in both directions, --jump-trajectories per ensemble and
   --replicates seeds: the reweighted jarzynski / integral_ft / crooks rows judged by their exact
   a-priori variance (every ensemble's own importance-sampling estimate, combined by exact inverse
   variance); against dF + 0.1 they fail; a proposal with the rate of one channel 2 % off (the
   weights replay the correct one; 10 x --jump-trajectories) fails its own tilted checks.

    python scripts/calibrate_tilted.py [--replicates 20] [--trajectories 1000000]
                                       [--jump-trajectories 100000] [--only N]
"""
import argparse
import math
import time
from dataclasses import replace
from unittest import mock

import numpy as np

import mcthermo as mt
from mcthermo.calibration import biased_doob
from mcthermo.systems import open_sampling, stroke_engine
from mcthermo.tilting import tilted_spec


def quench():
    return mt.Staircase(beta=1.0, gap_start=20.0, gap_end=0.5, steps=1)


def reweighted(run, check):
    checks = run.checks
    return checks[(checks.check == check) & checks.tilt.str.endswith("(reweighted)")].iloc[0]


def tilted_distribution(run):
    checks = run.checks
    return checks[(checks.check == "distribution") & (checks.tilt != "") & ~checks.tilt.str.endswith(")")]


def one_step_quench(replicates, trajectories):
    spec = quench()
    df = spec.free_energy_change()
    plain = mt.sample(spec, trajectories, 0).checks
    plain = plain[plain.check == "jarzynski"].iloc[0]
    print(f"1. one-step quench, {trajectories:.0e} trajectories per ensemble")
    print(f"   plain: jarzynski {plain.verdict} ({plain.reason})")
    zs, stderrs, shifted, histogram, started = [], [], [], [], time.perf_counter()
    tilt = tilted_spec(spec, "auto")  # chosen (and printed) once
    for seed in range(replicates):
        run = mt.sample(spec, trajectories, seed, tilt=tilt)
        row = reweighted(run, "jarzynski")
        zs.append(row.z)
        stderrs.append(row.stderr)
        shifted.append((row.estimate - (df + 0.1)) / row.stderr)
        histogram.append(tilted_distribution(run).verdict.eq("passed").all())
    zs = np.array(zs)
    print(f"   tilt {run.info['tilt']['tilts']} (a-priori relative variance "
          f"{run.info['tilt']['relative_variance']:.3g}); {time.perf_counter() - started:.0f} s")
    print(f"   correct sampler: {np.sum(np.abs(zs) <= 5)}/{replicates} jarzynski rows pass, max |z| = "
          f"{np.abs(zs).max():.2f}, mean z = {zs.mean():+.2f}, sd z = {zs.std(ddof=1):.2f}; "
          f"tilted histograms pass in {sum(histogram)}/{replicates}")
    print(f"   stderr {np.mean(stderrs):.2e} k_BT: 5 stderr = {5 * np.mean(stderrs):.3f} < 0.1; "
          f"against dF + 0.1: |z| >= {np.min(np.abs(shifted)):.1f} in every replicate (fails)")
    with mock.patch.object(stroke_engine, "doob_chain", biased_doob(stroke_engine.doob_chain, 1.02)):
        failed = []
        for seed in range(min(replicates, 5)):
            rows = tilted_distribution(mt.sample(quench(), trajectories, seed, tilt=tilted_spec(quench(), "auto", quiet=True)))
            failed.append((rows.verdict == "failed").any())
            z_wrong = rows.z.max()
    print(f"   sampler 2 % off (excited start of the Doob chain): the tilted histogram fails in "
          f"{sum(failed)}/{len(failed)} replicates (last z = {z_wrong:.1f})")


def staircase_tail(trajectories):
    spec = mt.Staircase()
    tilts = [-1400, -1000, -600, -300, 300, 600]
    started = time.perf_counter()
    run = mt.sample(spec, trajectories, 1, tilt={"work": tilts})
    law = run.tables["reweighted"]
    deep = law[law.probability_exact > 1e-30]
    z = (deep.probability - deep.probability_exact) / deep.stderr
    print(f"2. staircase N = 100, tilts {tilts}, {trajectories:.0e} per ensemble "
          f"({time.perf_counter() - started:.1f} s): {len(deep)} atoms above 1e-30 (smallest "
          f"{deep.probability_exact.min():.2g}), max |z| = {np.abs(z).max():.2f}; relative stderr "
          f"{(deep.stderr / deep.probability).min():.2%} .. {(deep.stderr / deep.probability).max():.2%}")


#: the issue's ladder Otto engine: 8 levels, 20 cycles, friction 0.05, the baths' beta chosen so that
#: <sigma> = 6.5 and the relative variance of e^{-sigma} is 4.8e11 (exact generating function)
OTTO = dict(levels=8, cycles=20, beta_hot=0.2325, beta_cold=0.8211)


def otto(trajectories):
    """The issue's 8-level ladder Otto engine over 20 cycles with friction (``OTTO``): its
    histogram box is too large to hold, so the ensembles count histogram keys and the tilted
    ensembles are checked against their exact tilted means and variances."""
    spec = mt.examples.ladder_otto(**OTTO)
    mean, variance = spec.engine("forward").exact_moments("entropy_production")
    log_g = lambda s: float(spec.log_generating_function("entropy_production", s))  # noqa: E731
    relative = np.expm1(log_g(2.0) - 2 * log_g(1.0))
    started = time.perf_counter()
    plain = mt.sample(spec, trajectories, 0).checks
    plain = plain[plain.check.isin(["integral_ft", "mean"]) & (plain.observable != "work")]
    run = mt.sample(spec, trajectories, 0, tilt="auto")
    row = reweighted(run, "integral_ft")
    tilted = run.checks[(run.checks.tilt != "") & ~run.checks.tilt.str.endswith(")")]
    print(f"3. ladder Otto (8 levels, 20 cycles, friction 0.05, beta_hot {OTTO['beta_hot']}, beta_cold "
          f"{OTTO['beta_cold']}; <sigma> = {mean:.2f}, Var {variance:.1f}, relative variance of e^-sigma "
          f"{relative:.3g}), {trajectories:.0e} per ensemble ({time.perf_counter() - started:.0f} s)")
    for item in plain.itertuples():
        print(f"   plain {item.check} {item.observable}: {item.verdict} {item.reason}")
    print(f"   tilted {len(run.info['tilt']['tilts'])} rungs up to {run.info['tilt']['tilts'][-1]:.3f}: "
          f"{(tilted.verdict == 'passed').sum()}/{len(tilted)} tilted mean/variance checks pass "
          f"(max |z| {tilted.z.abs().max():.2f}); reweighted integral_ft {row.verdict}, z = {row.z:.2f}, "
          f"stderr = {row.stderr:.3g} ({row.stderr_source}): -ln<e^-sigma> off by 0.1 would be "
          f"{0.1 / row.stderr:.1f} stderr away")


def z_calibration(replicates):
    """Distribution of the reweighted rows' z over seeds (staircase N = 10, both directions, tilts
    1 and 2, 3e4 trajectories per ensemble): sd 1 and normal tails when the stated stderr is right."""
    spec, zs = mt.Staircase(steps=10), {"jarzynski forward": [], "jarzynski reverse": [], "crooks": []}
    for seed in range(replicates):
        checks = mt.sample(spec, 30_000, seed, reverse=True, tilt={"work": [1.0, 2.0]}).checks
        checks = checks[checks.tilt.str.endswith("(reweighted)")]
        for name in zs:
            check, _, direction = name.partition(" ")
            zs[name].append(checks[(checks.check == check) & (checks.direction == (direction or "both"))].z.item())
    print(f"4. z of the reweighted rows over {replicates} seeds (staircase N = 10, tilts 1, 2, both directions):")
    for name, z in zs.items():
        z = np.array(z)
        print(f"   {name}: mean {z.mean():+.2f}, sd {z.std(ddof=1):.2f}, |z| > 2 in {np.mean(np.abs(z) > 2):.1%} "
              f"(normal 4.6 %), max |z| {np.abs(z).max():.2f}")


def jump_quench():
    """A qubit whose gap goes 20 -> 0.5 -> 4 (k_B T = 1) in three unit-time pieces with Davies
    relaxation: <e^{-beta W}> is carried by paths of probability ~1e-9."""
    a = np.array([[0, 1], [1, 0]], complex)
    pieces = []
    for gap in (20.0, 0.5, 4.0):
        h = np.diag([gap / 2, -gap / 2]).astype(complex)
        pieces.append(mt.Piece(h, mt.davies_channels(h, a, "bath", 1.0, lambda w: 0.3), 1.0))
    return mt.OpenSystem(pieces=pieces, baths={"bath": mt.Bath(beta=1.0)},
                         initial=mt.gibbs_state(pieces[0].hamiltonian, 1.0))


def jump_system(replicates, trajectories):
    system = jump_quench()
    plain = mt.sample(system, trajectories, 0, progress=False).checks
    print(f"5. jump system (qubit 20 -> 0.5 -> 4 k_BT, Davies, beta = 1), {trajectories:.0e} trajectories "
          f"per ensemble, both directions")
    for row in plain[plain.check.isin(["jarzynski", "integral_ft"])].itertuples():
        print(f"   plain {row.check} {row.direction}: {row.verdict} ({row.reason})")
    tilt = tilted_spec(system, "auto")
    zs, stderrs, shifted, started = {}, {}, {}, time.perf_counter()
    for seed in range(replicates):
        checks = mt.sample(system, trajectories, seed, reverse=True, tilt=tilt, progress=False).checks
        rows = checks[checks.tilt.str.endswith("(reweighted)") & (checks.verdict != "inconclusive")]
        for row in rows.itertuples():
            name = f"{row.check} {row.direction}"
            zs.setdefault(name, []).append(row.z)
            stderrs.setdefault(name, []).append(row.stderr)
            shifted.setdefault(name, []).append(abs(row.estimate - row.expected - 0.1) / row.stderr)
    print(f"   {replicates} seeds ({time.perf_counter() - started:.0f} s); rows judged by the exact variance:")
    for name, z in zs.items():
        z = np.array(z)
        print(f"   {name}: mean z {z.mean():+.2f}, sd {z.std(ddof=1):.2f}, max |z| {np.abs(z).max():.2f}, "
              f"stderr {np.mean(stderrs[name]):.2g} k_BT; against expected + 0.1: |z| >= "
              f"{np.min(shifted[name]):.1f} (fails)")
    # wrong samplers (the weights replay the correct proposal): the top rung's Doob start law drawing
    # the excited start 2 % too often, or the rate of its busiest channel 2 % too high
    for label, rate, excited in (("excited start 2 % too often", 1.0, 1.02), ("rate of bath:+0.5 2 % high", 1.02, 1.0)):
        spec = tilted_spec(system, "auto", quiet=True)
        spec.replays_of("forward")
        good = spec.systems_of("forward")[-1]
        start = np.real(np.diag(good.initial)) * np.array([excited, 1.0])   # level 0: gap / 2 (excited)
        wrong = mt.OpenSystem(pieces=[mt.Piece(p.hamiltonian, [replace(c, operator=c.operator * (
            math.sqrt(rate) if c.name == "bath:+0.5" else 1)) for c in p.channels], p.duration)
            for p in good.pieces], baths=good.baths, initial=np.diag(start / start.sum()),
            energy_units=good.energy_units)
        good.__dict__["_derived"]["tables"] = open_sampling.kernel_tables(wrong, good.layout())
        checks = mt.sample(system, 10 * trajectories, 0, tilt=spec, progress=False).checks
        own = checks[checks.tilt == f"work={spec.tilts[-1]:.6g}"]
        failed = own[own.verdict == "failed"]
        print(f"   proposal s = {spec.tilts[-1]:.3g}, {label}, {10 * trajectories:.0e} trajectories per "
              f"ensemble: {len(failed)} of its {len(own)} own checks fail "
              f"({', '.join(sorted(set(failed.check + ' ' + failed.observable)))}; max |z| {own.z.abs().max():.1f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=20)
    parser.add_argument("--trajectories", type=int, default=1_000_000)
    parser.add_argument("--jump-trajectories", type=int, default=100_000)
    parser.add_argument("--only", type=int, choices=range(1, 6), default=None, help="run only section N")
    args = parser.parse_args()
    sections = {1: lambda: one_step_quench(args.replicates, args.trajectories),
                2: lambda: staircase_tail(200_000), 3: lambda: otto(args.trajectories),
                4: lambda: z_calibration(120), 5: lambda: jump_system(args.replicates, args.jump_trajectories)}
    for number, section in sections.items():
        if args.only in (None, number):
            section()


if __name__ == "__main__":
    main()
