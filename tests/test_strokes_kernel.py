"""The d-level stroke sampler: exact alias tables, sampled laws against the exact DP (G-test at a fixed
seed), a wrong sampler / wrong law flagged, bit-identity across chunks and threads, and the
two-level path through the two-state lanes kernel."""
import numba
import numpy as np
import pytest

import mcthermo as mt
from mcthermo.checks import Z_THRESHOLD, distribution_check, mean_check
from mcthermo.exact.strokes_dp import log_joint_pmf
from mcthermo.kernels.strokes import alias_probabilities, alias_row
from mcthermo.results import Observable
from mcthermo.systems.bath import Bath

from test_strokes import incommensurate, otto, staircase_as_strokes, three_level


def test_alias_rows_sample_the_rounded_probabilities_exactly():
    rng = np.random.default_rng(0)
    for d, columns in [(1, 2), (3, 4), (8, 8), (5, 8), (300, 512)]:
        p = rng.random(d) ** 3
        p[rng.random(d) < 0.3] = 0.0
        p[0] += 1e-300
        p /= p.sum()
        threshold, primary, alias = alias_row(p, columns)
        sampled = alias_probabilities(threshold, primary, alias, columns)
        assert np.all(sampled[:d][p == 0] == 0.0) and np.all(sampled[d:] == 0.0)
        np.testing.assert_allclose(sampled[:d], p, rtol=0, atol=d * 2.0**-52)
        assert sampled.sum() == 1.0


def sampled_law(spec, trajectories, seed=7, direction="forward"):
    """(engine, sampled counts, exact ln-law) of the joint histogram."""
    engine = spec.engine(direction)
    counts = spec.accumulate(direction, seed, 0, trajectories)["counts"]
    return engine, counts, log_joint_pmf(engine.chain, engine.box)


def joint_g_test(counts, log_exact):
    """G-test row of the joint (initial level, final level, lattice) histogram against a law."""
    joint = Observable("joint", np.arange(counts.size), counts.ravel(), np.ravel(log_exact))
    return distribution_check("forward", joint)


@pytest.mark.parametrize("case", ["three-level two baths", "eight levels", "two-level two baths",
                                  "incommensurate"])
def test_sampled_joint_law_passes_the_g_test(case):
    rng = np.random.default_rng(21)
    spec = {"three-level two baths": lambda: three_level(rng),
            "eight levels": lambda: ladder(rng, 8),
            "two-level two baths": lambda: otto(cycles=3),
            "incommensurate": lambda: incommensurate(rng)}[case]()
    engine, counts, exact = sampled_law(spec, 200_000)
    assert engine.two_state is None
    row = joint_g_test(counts, exact)
    assert row["passed"], row
    results = engine.direction_results({"counts": counts})[0]
    for observable in results.observables:
        row = mean_check("forward", observable)  # (no z where an observable cannot vary)
        assert row["verdict"] != "failed" and not abs(row["z"]) > Z_THRESHOLD, row
    # the efficiency histogram against its exact law (conditioned on Q_hot != 0); a one-atom law
    # (adiabatic two-level Otto: eta = 1 - w_c / w_h) has nothing to fit
    row = distribution_check("forward", results.observable("efficiency"))
    assert row["passed"] or row["reason"].endswith("the exact law has one atom and every sample is on it")
    assert row["verdict"] != "failed"


def ladder(rng, d, cycles=2):
    """A truncated harmonic ladder (levels n w) in an Otto cycle with random unitary quenches."""
    from test_strokes import random_unitary_transitions

    return mt.Strokes(energies=np.arange(d) * 1.0, baths={"hot": Bath(beta=0.3), "cold": Bath(beta=1.5)},
                      initial="cold",
                      strokes=[mt.Quench(np.arange(d) * 2.0, random_unitary_transitions(rng, d)),
                               mt.Thermalize("hot", 0.7), mt.Quench(np.arange(d) * 1.0),
                               mt.Thermalize("cold")], cycles=cycles)


def test_a_wrong_sampler_and_a_wrong_law_are_flagged():
    rng = np.random.default_rng(21)
    spec = three_level(rng)
    engine, counts, exact = sampled_law(spec, 200_000)
    # the law of a weaker hot contact against the counts of the right one
    weaker = mt.Strokes(**{**spec.parameters(), "baths": spec.baths,
                           "strokes": [s if not isinstance(s, mt.Thermalize) or s.strength == 1.0
                                       else mt.Thermalize(s.bath, 0.5) for s in spec.strokes]})
    wrong = log_joint_pmf(weaker.engine("forward").chain, engine.box)
    assert not joint_g_test(counts, wrong)["passed"]
    # counts of a sampler of the wrong protocol against the right law
    wrong_counts = weaker.accumulate("forward", 7, 0, 200_000)["counts"]
    assert not joint_g_test(wrong_counts, exact)["passed"]
    # the right counts against the wrong exact mean heat
    heat = engine.direction_results({"counts": counts})[0].observable("heat_hot")
    wrong_mean, _ = weaker.engine("forward").exact_moments("heat_hot")
    assert mean_check("forward", heat)["passed"]
    assert not mean_check("forward", Observable("heat_hot", heat.values, heat.counts,
                                                mean_exact=wrong_mean))["passed"]


def test_counts_are_bit_identical_across_chunks_and_threads():
    rng = np.random.default_rng(3)
    spec = ladder(rng, 5)
    whole = spec.accumulate("forward", 11, 0, 30_000)["counts"]
    parts = sum(spec.accumulate("forward", 11, first, count)["counts"]
                for first, count in [(0, 7_001), (7_001, 13_000), (20_001, 9_999)])
    assert np.array_equal(whole, parts)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = spec.accumulate("forward", 11, 0, 30_000)["counts"]
    finally:
        numba.set_num_threads(threads)
    assert np.array_equal(whole, single)
    # per-trajectory samples are the same trajectories
    frame = spec.samples("forward", 11, 0, 30_000)
    keys = np.ravel_multi_index(tuple(np.unravel_index(spec.engine("forward").keys(11, 0, 0, 30_000),
                                                       whole.shape)), whole.shape)
    assert np.array_equal(np.bincount(keys, minlength=whole.size).reshape(whole.shape), whole)
    assert list(frame.columns[:3]) == ["trajectory", "level_initial", "level_final"]
    # first law per trajectory (level n has energy n at the start and the end)
    np.testing.assert_allclose(frame["heat_hot"] + frame["heat_cold"] + frame["work"],
                               frame["level_final"] - frame["level_initial"], rtol=0, atol=1e-12)


def test_two_level_one_bath_protocols_run_on_the_two_state_kernel():
    staircase = mt.Staircase(beta=1.0, gap_start=float(np.log(2.0)), gap_end=float(np.log(3.0)), steps=50)
    spec = staircase_as_strokes(staircase)
    chain, box_index = spec.engine("forward").two_state
    reference = staircase.chain()
    for name in ("keep", "occupation", "vacancy", "work_weights"):
        assert np.array_equal(getattr(chain, name), getattr(reference, name)), name
    assert (chain.initial_occupation, chain.initial_vacancy) == (reference.initial_occupation,
                                                                 reference.initial_vacancy)
    counts = spec.accumulate("forward", 5, 0, 100_000)["counts"]
    assert np.array_equal(counts, staircase.accumulate("forward", 5, 0, 100_000)["counts"])
    # a lowering staircase: the work index counts down
    staircase = mt.Staircase(beta=2.0, gap_start=2.0, gap_end=0.5, steps=6)
    lowering = staircase_as_strokes(staircase)
    engine, counts, exact = sampled_law(lowering, 100_000)
    assert np.all(np.diff(engine.two_state.box_index) == -1)  # the work index counts down
    assert np.array_equal(engine.two_state[0].work_values, staircase.chain().work_values)
    assert joint_g_test(counts, exact)["passed"]


def test_two_state_work_range_beyond_the_reachable_box_is_handled():
    """Level 1 empty at the first rise: the chain's work range is wider than the reachable box."""
    spec = mt.Strokes(energies=[0.0, 1.0], baths={"bath": Bath(beta=1.0)}, initial=(1.0, 0.0),
                      strokes=[mt.Quench([0.0, 3.0]), mt.Thermalize("bath", 0.5), mt.Quench([0.0, 4.0]),
                               mt.Thermalize("bath")])
    engine, counts, exact = sampled_law(spec, 50_000)
    assert engine.two_state is not None and engine.two_state[0].lattice_size > engine.shape[2]
    assert joint_g_test(counts, exact)["passed"]


@pytest.mark.filterwarnings("ignore::mcthermo.LandauZenerValidityWarning")
@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_incommensurate_two_level_protocol_runs_on_the_two_state_kernel(direction):
    """Rises 1, sqrt 2, 3 - sqrt 2, 1 on two energy quanta (1 and 1 + sqrt 2): the chain's mixed-radix work index maps
    into the engine's two-axis box, where the sampled joint law passes the G-test against the DP
    (and a law of shifted probabilities fails it)."""
    spec = mt.LandauZener(levels=(1.0, 1.0 + np.sqrt(2.0), 4.0), mu=2.0, level_end=5.0).strokes()
    engine, counts, exact = sampled_law(spec, 200_000, direction=direction)
    assert engine.two_state is not None and engine.box.unit.size == 2
    assert engine.two_state.chain.lattice_size == 3 * 2 * 2  # the unit rise twice, sqrt 2, 3 - sqrt 2
    row = joint_g_test(counts, exact)
    assert row["passed"], row
    inside = engine.two_state.box_index[engine.two_state.box_index >= 0]
    assert np.unique(inside).size == inside.size  # distinct chain indices land in distinct cells
    tilted = exact.copy()
    tilted[:, 1] += np.log(1.05)  # 5 % more weight on paths ending occupied
    tilted -= np.logaddexp.reduce(tilted, axis=None)
    assert not joint_g_test(counts, tilted)["passed"]


def test_a_pickled_protocol_samples_the_same_chunks():
    """What a Dask worker receives: the pickled spec (with its compiled tables) gives the same
    accumulators for the same chunk (chunks are pure functions of spec, seed, direction, range)."""
    import pickle

    spec = three_level(np.random.default_rng(4), baths={"bath": Bath(beta=0.9)}, initial="bath")
    here = spec.accumulate("reverse", 5, 6_144, 6_144)["counts"]
    there = pickle.loads(pickle.dumps(spec))
    assert np.array_equal(there.accumulate("reverse", 5, 6_144, 6_144)["counts"], here)
    fresh = pickle.loads(pickle.dumps(three_level(np.random.default_rng(4), baths={"bath": Bath(beta=0.9)},
                                                  initial="bath")))
    assert np.array_equal(fresh.accumulate("reverse", 5, 6_144, 6_144)["counts"], here)


@pytest.mark.parametrize("cycles", [1, 3, 200])
def test_a_gap_that_rises_and_falls_counts_every_trajectory(cycles):
    """Issue #22: Quench([0, 1.5]), Thermalize, Quench([0, 1]), Thermalize stopped with "merged chunks
    count ... a chunk is damaged": rises and falls share work values on the chain's mixed-radix
    lattice (one rise and one fall give W = 0), and their counts overwrote each other instead of
    adding.  Every trajectory is counted, the joint law passes the G-test against the DP (a law
    tilted by 20 % fails it) and no row of the run fails."""
    spec = mt.Strokes(energies=[0.0, 1.0], baths={"bath": Bath(beta=1.0)}, initial="bath",
                      strokes=[mt.Quench([0.0, 1.5]), mt.Thermalize("bath"), mt.Quench([0.0, 1.0]),
                               mt.Thermalize("bath")], cycles=cycles)
    engine, counts, exact = sampled_law(spec, 20_000, seed=3)
    assert engine.two_state is not None  # the lane kernel, mixed radix over the rise and the fall
    assert counts.sum() == 20_000
    assert joint_g_test(counts, exact)["passed"]
    tilted = exact.copy()
    tilted[:, 1] += np.log(1.2)  # paths ending occupied
    tilted -= np.logaddexp.reduce(tilted, axis=None)
    assert not joint_g_test(counts, tilted)["passed"]
    checks = mt.sample(spec, trajectories=20_000, seed=3, reverse=True).checks
    assert not (checks["verdict"] == "failed").any(), checks
    moments = checks[checks["check"].isin(["mean", "variance", "distribution", "bar", "crooks"])]
    assert (moments["verdict"] == "passed").all(), moments


def cold_otto(levels: int, beta_cold: float):
    """Otto cycle on ``levels`` equally spaced levels (gap 1 -> 2 -> 1), hot bath beta 0.5."""
    low, high = list(np.arange(levels, dtype=float)), list(2.0 * np.arange(levels))
    return mt.Strokes(energies=low, baths={"hot": Bath(beta=0.5), "cold": Bath(beta=beta_cold)},
                      initial="cold", strokes=[mt.Quench(high), mt.Thermalize("hot"), mt.Quench(low),
                                               mt.Thermalize("cold")], cycles=5)


@pytest.mark.parametrize("levels", [2, 3])
@pytest.mark.parametrize("beta_cold", [38.0, 50.0, 400.0])
def test_a_near_zero_temperature_thermalisation_is_sampled_not_folded_as_a_permutation(levels, beta_cold):
    """Issue #21: from beta dE ~ 38 a cold thermalisation sends every level to the ground state with
    probability 1.0 in float64; its rows all had a maximum of 1.0 and the step was folded away as
    a permutation (<W> = -0.268 sampled against the exact -1.345, z = 343).  A permutation must be
    one-to-one: the step is sampled, and the moments and laws pass."""
    spec = cold_otto(levels, beta_cold)
    # p0 and the 10 thermalisations are random steps; the adiabatic quenches (permutations) are folded
    assert spec.engine("forward").tables.steps == 11
    checks = mt.sample(spec, trajectories=20_000, seed=11).checks
    laws = checks[checks["check"].isin(["mean", "variance", "distribution"])
                  & checks["observable"].isin(["work", "heat_hot", "heat_cold", "efficiency_undefined"])]
    assert len(laws) >= 10 and (laws["verdict"] == "passed").all(), laws
    work = checks.query("check == 'mean' and observable == 'work'").iloc[0]
    assert abs(work["z"]) <= Z_THRESHOLD and abs(work["estimate"] - work["expected"]) < 0.05

