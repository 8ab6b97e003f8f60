"""Stroke protocols: input validation, parameters round trip, and the exact references (log-space DP,
transfer-matrix moments, integral FT) against brute-force path enumeration and the staircase."""
import itertools
import json

import numpy as np
import pytest

import mcthermo as mt
from mcthermo.model import STREAMS
from mcthermo.exact.strokes_dp import (StrokeChain, common_unit, energy_quanta, log_joint_pmf,
                                        log_tilted_average)
from mcthermo.systems.bath import Bath

HOT, COLD = Bath(beta=0.5), Bath(beta=2.0)


def otto(cycles=2, **changes):
    arguments = dict(energies=[0.0, 1.0], baths={"hot": HOT, "cold": COLD}, initial="cold",
                     strokes=[mt.Quench([0.0, 2.0]), mt.Thermalize("hot"), mt.Quench([0.0, 1.0]),
                              mt.Thermalize("cold")], cycles=cycles)
    return mt.Strokes(**{**arguments, **changes})


def random_unitary_transitions(rng, d):
    """|U|^2 of a random unitary: doubly stochastic."""
    u = np.linalg.qr(rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)))[0]
    return np.abs(u) ** 2


def three_level(rng, particles=None, baths=None, initial="cold"):
    """d = 3, energies on the 0.5 lattice, random unitary quenches, partial thermalisation; with
    particles (0, 1, 1) the unitaries act in the one-particle block only."""
    baths = baths or {"hot": Bath(beta=0.4), "cold": Bath(beta=1.7)}
    names = list(baths)

    def transitions():
        if particles is None:
            return random_unitary_transitions(rng, 3)
        t = np.eye(3)
        t[1:, 1:] = random_unitary_transitions(rng, 2)
        return t

    return mt.Strokes(energies=[0.0, 0.5, 1.5], baths=baths, initial=initial, particles=particles,
                      strokes=[mt.Quench([0.0, 1.0, 2.5], transitions()),
                               mt.Thermalize(names[0], 0.6),
                               mt.Quench([0.0, 0.5, 1.5], transitions()),
                               mt.Thermalize(names[-1])], cycles=2)


def incommensurate(rng, cycles=2):
    """Three levels at 0, 1, sqrt 2 and a hot quench to 0, sqrt 3, 2: quanta 1, sqrt 2, sqrt 3, ..."""
    return mt.Strokes(energies=[0.0, 1.0, np.sqrt(2.0)], baths={"hot": HOT, "cold": COLD}, initial="cold",
                      strokes=[mt.Quench([0.0, np.sqrt(3.0), 2.0]), mt.Thermalize("hot", 0.5),
                               mt.Quench([0.0, 1.0, np.sqrt(2.0)], random_unitary_transitions(rng, 3)),
                               mt.Thermalize("cold")], cycles=cycles)


def empty(engine):
    """An accumulator of no trajectories (the exact declarations only)."""
    return {"counts": np.zeros(engine.shape, dtype=np.int64)}


# --- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("changes, message", [
    (dict(strokes=[mt.Quench([0.0, 1.0]), mt.Thermalize("warm")]), "unknown bath 'warm'"),
    (dict(strokes=[mt.Quench([0.0, 1.0, 2.0])]), r"strokes\[0\] Quench: 3 energies for 2 levels"),
    (dict(energies=[0.0, np.inf]), "energies must be finite"),
    (dict(initial="warm"), "initial 'warm' is not a bath"),
    (dict(initial=[0.5, 0.6]), "initial populations"),
    (dict(cycles=0), "cycles must be an integer >= 1"),
    (dict(particles=[0, 1, 2]), "particles must be 2 integers"),
    (dict(energy_unit=0.3), "energy_unit 0.3"),
    (dict(strokes=["quench"]), r"strokes\[0\] must be an mt.Quench"),
])
def test_bad_input_is_one_clear_value_error(changes, message):
    with pytest.raises(ValueError, match=message):
        otto(**changes)


def test_bad_strokes_are_refused():
    with pytest.raises(ValueError, match="doubly stochastic"):
        mt.Quench([0.0, 1.0], [[0.9, 0.1], [0.5, 0.5]])
    with pytest.raises(ValueError, match=r"strength must lie in \[0, 1\]"):
        mt.Thermalize("hot", 1.5)
    with pytest.raises(ValueError, match="Quench energies must be finite"):
        mt.Quench([0.0, np.nan])
    with pytest.raises(ValueError, match="conserves it"):
        otto(particles=[0, 1], strokes=[mt.Quench([0.0, 1.0], [[0.5, 0.5], [0.5, 0.5]])])


def test_parameters_round_trip_through_json():
    rng = np.random.default_rng(3)
    for spec in (otto(), three_level(rng, initial=(0.2, 0.3, 0.5)), otto(energy_unit=0.5)):
        parameters = json.loads(json.dumps(spec.parameters()))
        again = mt.Strokes.from_parameters(parameters)
        assert again.parameters() == spec.parameters()
        assert np.array_equal(again.chain.log_transition, spec.chain.log_transition)
    assert mt.MODELS["strokes"] is mt.Strokes


def test_energy_quanta_are_found_declared_or_several():
    assert common_unit([0.5, 1.5, 0.25]) == 0.25
    assert common_unit([1.0, 2.0 / 3.0]) == pytest.approx(1.0 / 3.0, rel=1e-15)
    assert common_unit([1.0, np.sqrt(2.0)]) is None
    np.testing.assert_allclose(energy_quanta([2.0, np.sqrt(2.0), 1.0, 3 * np.sqrt(2.0) / 2]),
                               [1.0, np.sqrt(2.0) / 2], rtol=1e-15)
    with pytest.raises(ValueError, match="energy_unit 0.4"):
        common_unit([1.0], 0.4)
    # an incommensurate Otto engine: one axis per (observable, quantum); W steps by +-(sqrt 2 - 1)
    engine = otto(strokes=[mt.Quench([0.0, np.sqrt(2.0)]), mt.Thermalize("hot"), mt.Quench([0.0, 1.0]),
                           mt.Thermalize("cold")]).engine("forward")
    assert engine.axes_description() == "work / 0.414214, heat_hot / 1.41421"
    # levels 0, 1, sqrt 2 then 0, sqrt 3, 2: the work moves on the axes of 1, sqrt 2 and sqrt 3
    box = incommensurate(np.random.default_rng(0)).engine("forward").box
    assert sorted(np.round(box.unit[box.owner == 0], 6)) == [1.0, 1.414214, 1.732051]


# --- exact references -----------------------------------------------------------------------
def enumerate_joint(engine):
    """P(initial level, final level, tracked observable values) summed over every level path (no
    DP, no lattice): {(i, j, values rounded to 1e-9): probability}."""
    chain = engine.chain
    law = {}
    p0, steps = np.exp(chain.log_initial), np.exp(chain.log_transition)
    tracked = chain.increments[engine.tracked]
    for path in itertools.product(range(chain.levels), repeat=chain.steps + 1):
        p = p0[path[0]] * np.prod([steps[n, path[n], path[n + 1]] for n in range(chain.steps)])
        if p == 0.0:
            continue
        total = sum(tracked[:, n, path[n], path[n + 1]] for n in range(chain.steps))
        key = (path[0], path[-1], *np.round(total, 9) + 0.0)
        law[key] = law.get(key, 0.0) + p
    return law


def dp_joint(engine):
    """The engine's exact law (the dense DP, or the sparse one on its support) of (initial level,
    final level, tracked observable values) in the same form."""
    if engine.mode == "sparse":
        keys, log_p = engine.support
    else:
        log_p = np.ravel(log_joint_pmf(engine.chain, engine.box))
        keys = np.flatnonzero(log_p > -np.inf)
        log_p = log_p[keys]
    values = engine.cell_values(keys)
    levels = np.unravel_index(keys, engine.shape)[:2]
    names = [engine.chain.names[k] for k in engine.tracked]
    law = {}
    for c in range(keys.size):
        key = (levels[0][c], levels[1][c], *(round(float(values[name][c]), 9) + 0.0 for name in names))
        law[key] = law.get(key, 0.0) + float(np.exp(log_p[c]))
    return law


def random_spectrum(rng, d=3, cycles=2):
    """An Otto engine on d levels with random (incommensurate) spectra and random unitary strokes:
    one lattice axis per energy quantum, a box of ~1e7 cells, a support of ~2e3."""
    cold, hot = np.sort(rng.uniform(0.0, 1.0, d)), np.sort(rng.uniform(0.0, 2.0, d))
    return mt.Strokes(energies=cold, baths={"hot": HOT, "cold": COLD}, initial="cold",
                      strokes=[mt.Quench(hot, random_unitary_transitions(rng, d)), mt.Thermalize("hot", 0.7),
                               mt.Quench(cold, random_unitary_transitions(rng, d)), mt.Thermalize("cold")],
                      cycles=cycles)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("case", ["otto", "three-level two baths", "three-level grand canonical",
                                  "given populations", "incommensurate"])
def test_dp_equals_path_enumeration(case, sparse, monkeypatch):
    from mcthermo.systems import stroke_engine

    if sparse:  # the dense box refused: the sparse DP on the support
        monkeypatch.setattr(stroke_engine, "MAX_HISTOGRAM_CELLS", 10)
    rng = np.random.default_rng(11)
    spec = {"otto": lambda: otto(cycles=3),
            "three-level two baths": lambda: three_level(rng),
            "three-level grand canonical": lambda: three_level(rng, particles=[0, 1, 1],
                                                               baths={"bath": Bath(beta=0.8, mu=0.5)},
                                                               initial="bath"),
            "given populations": lambda: three_level(rng, initial=(0.0, 0.3, 0.7)),
            "incommensurate": lambda: incommensurate(rng)}[case]()
    engine = spec.engine("forward")
    assert engine.mode == ("sparse" if sparse else "law")
    exact, enumerated = dp_joint(engine), enumerate_joint(engine)
    assert exact.keys() == enumerated.keys()
    for key, p in enumerated.items():
        assert exact[key] == pytest.approx(p, rel=1e-12, abs=1e-15), key
    assert sum(exact.values()) == pytest.approx(1.0, abs=1e-14)


def test_random_spectra_get_the_exact_law_on_the_support():
    """Incommensurate spectra: the box (one axis per energy quantum) is far too large, the support
    small; the sparse DP equals path enumeration and the sampled histogram passes its checks."""
    spec = random_spectrum(np.random.default_rng(3))
    engine = spec.engine("forward")
    assert engine.infeasible_histogram() is not None and engine.mode == "sparse"
    assert spec.exact_tables() == "law on the support"
    exact, enumerated = dp_joint(engine), enumerate_joint(engine)
    assert exact.keys() == enumerated.keys()
    for key, p in enumerated.items():
        assert exact[key] == pytest.approx(p, rel=1e-12, abs=1e-15), key
    run = mt.sample(spec, trajectories=200_000, seed=4, chunk_size=70_000)
    checks = run.checks
    assert set(checks["verdict"]) <= {"passed", "inconclusive"}, checks[checks["verdict"] == "failed"]
    assert set(checks.query("check == 'distribution'")["verdict"]) == {"passed"}
    # the same histogram whatever the chunking
    other = mt.sample(spec, trajectories=200_000, seed=4, chunk_size=200_000)
    assert run.histogram.equals(other.histogram)
    # the joint G-test on the support passes against the sparse law, fails against a tilted one
    from mcthermo.checks import distribution_check

    counts = spec.accumulate("forward", 4, 0, 200_000)["counts"]
    keys, log_p = engine.support
    assert counts.shape == keys.shape and counts.sum() == 200_000
    work = engine.cell_values(keys)["work"]
    for tilt, passed in ((0.0, True), (0.1, False)):
        log_q = log_p - tilt * work
        log_q -= np.logaddexp.reduce(log_q)
        row = distribution_check("forward", mt.Observable("joint", np.arange(keys.size), counts, log_q))
        assert row["passed"] is passed, row


def test_transfer_moments_equal_the_moments_of_the_exact_laws():
    rng = np.random.default_rng(5)
    spec = three_level(rng, particles=[0, 1, 1], baths={"bath": Bath(beta=0.8, mu=0.5)}, initial="bath")
    engine = spec.engine("forward")
    results = engine.direction_results(empty(engine))[0]
    for observable in results.observables:
        p = observable.probability_exact
        mean = np.dot(p, observable.values)
        variance = np.dot(p, (observable.values - mean) ** 2)
        assert observable.mean_exact == pytest.approx(mean, rel=1e-12, abs=1e-13), observable.name
        assert observable.variance_exact == pytest.approx(variance, rel=1e-11), observable.name


def test_integral_ft_is_computed_and_needs_unitary_quenches():
    rng = np.random.default_rng(1)
    spec = three_level(rng)
    engine = spec.engine("forward")
    assert abs(engine.log_integral_ft()) < 1e-14
    # the same exponential average from the exact law of sigma
    results = engine.direction_results(empty(engine))[0]
    assert results.observable("entropy_production").log_exponential_average(1.0) == pytest.approx(
        0.0, abs=1e-12)
    # a merely stochastic quench breaks it (spec g_strokes.py: 0.879 there)
    chain = engine.chain
    stochastic = rng.random((3, 3))
    stochastic /= stochastic.sum(axis=1, keepdims=True)
    log_transition = chain.log_transition.copy()
    log_transition[0] = np.log(stochastic)
    broken = StrokeChain(chain.log_initial, log_transition, chain.increments, chain.names)
    assert abs(log_tilted_average(broken, *engine._entropy_terms())) > 1e-3  # 8.8e-3


def test_first_law_and_efficiency_of_the_two_level_otto_engine():
    """Two levels, adiabatic quenches: every defined efficiency is 1 - w_c / w_h = 1/2."""
    engine = otto(cycles=4).engine("forward")
    results = engine.direction_results(empty(engine))[0]
    eta = results.observable("efficiency")
    assert eta.condition == "heat_hot != 0" and np.allclose(eta.values, 0.5)
    assert eta.probability_exact.sum() == pytest.approx(1.0, abs=1e-14)
    assert eta.exact_moments() == (pytest.approx(0.5, abs=1e-15), pytest.approx(0.0, abs=1e-15))
    # first law on average, from the transfer matrices: <E_final> - <E_initial> = <W> + sum_b <Q_b>
    total = sum(engine.exact_moments(name)[0] for name in ("work", "heat_hot", "heat_cold"))
    energies = np.array([0.0, 1.0])
    change = np.dot(np.exp(engine.chain.log_populations()) - np.exp(engine.chain.log_initial), energies)
    assert total == pytest.approx(change, abs=1e-14)
    assert results.observable("efficiency_undefined").probability_exact.sum() == pytest.approx(1.0, abs=1e-14)


def staircase_as_strokes(staircase):
    gaps = staircase.gaps()
    strokes = []
    for gap in gaps[1:]:
        strokes += [mt.Quench([0.0, gap]), mt.Thermalize("bath")]
    return mt.Strokes(energies=[0.0, gaps[0]], baths={"bath": Bath(beta=staircase.beta)},
                      initial="bath", strokes=strokes, energy_unit=abs(staircase.step))


@pytest.mark.parametrize("steps, gap_start, gap_end", [(20, np.log(2.0), np.log(3.0)), (7, 3.0, 1.0)])
def test_staircase_written_as_strokes_has_the_staircase_exact_law(steps, gap_start, gap_end):
    staircase = mt.Staircase(beta=1.3, gap_start=gap_start, gap_end=gap_end, steps=steps)
    spec = staircase_as_strokes(staircase)
    engine = spec.engine("forward")
    results = engine.direction_results(empty(engine))[0]
    work = results.observable("work")
    order = np.argsort(work.values * np.sign(staircase.step))
    np.testing.assert_allclose(work.log_probability_exact[order], staircase.log_work_pmf(), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(work.values[order], staircase.step * np.arange(steps + 1), rtol=1e-12)
    # the joint law of (n_initial, n_final, work) against the two-state chain's DP
    joint = np.exp(log_joint_pmf(engine.chain, engine.box))
    chain_joint = staircase.chain().joint_pmf()
    if staircase.step < 0:
        joint = joint[:, :, ::-1]
    np.testing.assert_allclose(joint, chain_joint, rtol=1e-12, atol=1e-15)
    assert results.jarzynski == (staircase.beta, pytest.approx(staircase.free_energy_change(), abs=1e-15))
    assert abs(results.integral_ft) < 1e-13


def test_reverse_protocol_undoes_the_strokes():
    rng = np.random.default_rng(2)
    spec = three_level(rng, baths={"bath": Bath(beta=0.9)}, initial="bath")
    reverse = spec.reverse()
    assert reverse.initial == "bath" and reverse.energies == tuple(spec.energy_path()[-1])
    assert reverse.energy_path()[-1].tolist() == list(spec.energies)
    forward_quench, reverse_quench = spec.expanded()[0], reverse.strokes[-1]
    assert np.array_equal(reverse_quench.transitions, forward_quench.transitions.T)
    # Crooks: P_F(W) / P_R(-W) = e^{beta (W - dF)} on every common work value
    f = spec.engine("forward").direction_results(empty(spec.engine("forward")))[0]
    r = spec.engine("reverse").direction_results(empty(spec.engine("reverse")))[0]
    wf, wr = f.observable("work"), r.observable("work")
    lookup = dict(zip(np.round(-wr.values, 9), wr.log_probability_exact))
    beta, dF = 0.9, spec.free_energy_change()
    for w, log_p in zip(wf.values, wf.log_probability_exact):
        assert log_p - lookup[round(w, 9)] == pytest.approx(beta * (w - dF), abs=1e-11)
    # two baths: the reverse starts from the final populations
    two = three_level(np.random.default_rng(4))
    assert np.allclose(two.reverse().initial, np.exp(two.chain.log_populations()), rtol=1e-15)


# --- end to end -----------------------------------------------------------------------------
def test_sample_runs_an_otto_engine_end_to_end(tmp_path):
    spec = otto(cycles=3)
    run = mt.sample(spec, trajectories=200_000, seed=1, reverse=True, out=tmp_path / "otto",
                    chunk_size=70_000)
    checks = run.checks
    # eta = 1/2 on every trajectory with Q_hot != 0: its mean and variance cannot vary, its law has one atom
    still = (checks["observable"] == "efficiency") & checks["check"].isin(["mean", "variance", "distribution"])
    said = checks["check"].isin(["bar", "crooks"])  # two baths: rows saying why they do not apply
    assert set(checks[~still & ~said]["verdict"]) == {"passed"}, checks[~still & (checks["verdict"] != "passed")]
    assert set(checks[still | said]["verdict"]) == {"inconclusive"}
    assert checks[still]["reason"].str.contains("cannot vary|one atom").all()
    assert {"efficiency", "efficiency_undefined", "entropy_production", "heat_hot", "heat_cold"} <= set(
        checks["observable"])
    assert (checks["check"] == "integral_ft").sum() == 2 and "jarzynski" not in set(checks["check"])
    again = mt.read(tmp_path / "otto")
    assert again.spec.parameters() == spec.parameters()
    assert set(again.tables["work_heat"]["direction"]) == {"forward", "reverse"}
    assert "efficiency" not in again.tables
    eta = again.histogram.query("observable == 'efficiency'")
    assert set(eta["direction"]) == {"forward", "reverse"} and np.allclose(eta["value"], 0.5)
    summary = again.summary.set_index(["direction", "observable"])
    for direction in ("forward", "reverse"):
        undefined = again.histogram.query("observable == 'efficiency_undefined' and value == 1 "
                                          "and direction == @direction")["count"].sum()
        assert summary.loc[(direction, "efficiency"), "trajectories"] == 200_000 - undefined
        assert summary.loc[(direction, "efficiency"), "condition"] == "heat_hot != 0"
        assert summary.loc[(direction, "work"), "condition"] == ""
    # chunking does not change the histogram
    other = mt.sample(spec, trajectories=200_000, seed=1, reverse=True, chunk_size=200_000)
    assert run.histogram["count"].equals(other.histogram["count"])


def test_one_bath_protocol_gets_jarzynski_crooks_and_bar():
    rng = np.random.default_rng(8)
    spec = three_level(rng, baths={"bath": Bath(beta=0.9)}, initial="bath")
    run = mt.sample(spec, trajectories=100_000, seed=3, reverse=True)
    checks = run.checks
    assert {"jarzynski", "bar", "crooks", "integral_ft"} <= set(checks["check"])
    assert set(checks["verdict"]) == {"passed"}, checks[checks["verdict"] != "passed"]


def test_too_large_histograms_fall_back_to_exact_moments(monkeypatch):
    from mcthermo.checks import mean_check
    from mcthermo.systems import stroke_engine

    monkeypatch.setattr(stroke_engine, "MAX_HISTOGRAM_CELLS", 10)
    monkeypatch.setattr(stroke_engine, "MAX_SUPPORT", 10)
    spec = three_level(np.random.default_rng(8), baths={"bath": Bath(beta=0.9)}, initial="bath")
    assert spec.engine("forward").mode == "moments"
    assert spec.exact_tables().startswith("moments only") and "more than 10 (level, lattice) states" in \
        spec.exact_tables()
    run = mt.sample(spec, trajectories=100_000, seed=3, reverse=True, chunk_size=30_000)
    checks = run.checks
    assert set(checks["verdict"]) == {"passed", "inconclusive"}, checks[checks["verdict"] == "failed"]
    means = checks[checks["check"] == "mean"]
    assert {"work", "heat_bath", "entropy_production", "exp_minus_entropy_production",
            "exp_minus_beta_work"} <= set(means["observable"]) and set(means["verdict"]) == {"passed"}
    # float sums per fixed block of trajectories: independent of the chunking
    other = mt.sample(spec, trajectories=100_000, seed=3, reverse=True, chunk_size=100_000)
    assert run.summary.equals(other.summary)
    # per-trajectory samples are the same trajectories
    frame = spec.samples("forward", 3, 0, 5_000)
    head = spec.accumulate("forward", 3, 0, 5_000)["moments"].sum(axis=0)
    assert head[1] == pytest.approx(frame["work"].sum(), rel=1e-12)
    # a wrong exact mean is flagged
    work = spec.engine("forward").direction_results({"moments": spec.accumulate("forward", 3, 0, 100_000)[
        "moments"]})[0].observable("work")
    wrong = mt.Observable("work", n=work.n, total=work.total, total_squares=work.total_squares,
                          mean_exact=work.mean_exact + 0.05)
    assert mean_check("forward", work)["passed"] and not mean_check("forward", wrong)["passed"]


def test_too_large_dynamic_programmes_keep_the_histogram_and_the_exact_moments(monkeypatch):
    from mcthermo.systems import stroke_engine

    monkeypatch.setattr(stroke_engine, "MAX_DP_OPERATIONS", 10)
    spec = otto(cycles=2)
    assert spec.engine("forward").mode == "sparse"  # the sparse DP takes over
    monkeypatch.setattr(stroke_engine, "MAX_SUPPORT", 10)
    spec = otto(cycles=2)
    assert spec.engine("forward").mode == "histogram"
    run = mt.sample(spec, trajectories=50_000, seed=2)
    checks = run.checks.set_index(["check", "observable"])
    assert checks.loc[("mean", "work"), "verdict"] == "passed"
    assert checks.loc[("variance", "heat_hot"), "verdict"] == "passed"
    assert checks.loc[("distribution", "work"), "verdict"] == "inconclusive"
    assert checks.loc[("integral_ft", "entropy_production"), "verdict"] == "passed"


def test_command_line_samples_a_protocol_file_and_sweeps_its_factory(tmp_path, capsys):
    from mcthermo import cli

    (tmp_path / "engines.py").write_text(
        "import mcthermo as mt\n"
        "def otto(hot_gap=2.0, cycles=2):\n"
        "    return mt.Strokes(energies=[0.0, 1.0], baths={'hot': mt.Bath(beta=0.5), 'cold': mt.Bath(beta=2.0)},\n"
        "                      initial='cold', strokes=[mt.Quench([0.0, hot_gap]), mt.Thermalize('hot'),\n"
        "                                               mt.Quench([0.0, 1.0]), mt.Thermalize('cold')], cycles=cycles)\n"
        "engine = otto()\n"
        "def broken():\n"
        "    return mt.Strokes(energies=[0.0, 1.0], baths={}, initial='cold', strokes=[mt.Quench([0.0, 1.0])])\n")
    assert cli.main(["sample", f"{tmp_path}/engines.py:engine", "--trajectories", "20000", "--seed", "1",
                     "--out", str(tmp_path / "one")]) == 0
    assert mt.read(tmp_path / "one").spec.parameters() == otto(cycles=2).parameters()
    capsys.readouterr()
    assert cli.main(["sample", f"{tmp_path}/engines.py:broken", "--trajectories", "10",
                     "--out", str(tmp_path / "bad")]) == 2
    assert "initial 'cold' is not a bath" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    (tmp_path / "sweep.toml").write_text(f'model = "engines.py:otto"\ntrajectories = 20000\nseed = 1\n'
                                         f'out = "{tmp_path}/sweep"\n[sweep]\nhot_gap = [1.5, 3.0]\n')
    assert cli.main(["run", str(tmp_path / "sweep.toml")]) == 0
    summary = mt.read(tmp_path / "sweep").summary
    assert len(set(summary["run_id"])) == 2


# --- the seed models as stroke protocols (docs/observables.md, Stroke protocols) ---------------------------------------------
def seed_staircase_chain(staircase, direction):
    """The staircase's chain as the seed model built it (before it compiled to strokes)."""
    from scipy.special import expit

    from mcthermo.systems.two_state_chain import TwoStateChain

    spec = staircase if direction == "forward" else staircase.reverse()
    p, vacancy = spec.excitation_probabilities(), expit(spec.beta * spec.gaps())
    n = spec.steps
    return TwoStateChain(initial_occupation=p[0], initial_vacancy=vacancy[0], keep=np.zeros(n),
                         occupation=p[1:], vacancy=vacancy[1:],
                         work_weights=np.append(np.ones(n, dtype=np.int64), 0),
                         work_values=spec.step * np.arange(n + 1))


@pytest.mark.parametrize("staircase", [mt.Staircase(), mt.Staircase(beta=0.3, gap_start=4.0, gap_end=1.0, steps=37),
                                       mt.Staircase(beta=2.0, gap_start=1.0, gap_end=1.5, steps=1)])
def test_staircase_compiles_to_strokes_with_its_chain_unchanged(staircase):
    for direction in ("forward", "reverse"):
        chain, seed = staircase.chain(direction), seed_staircase_chain(staircase, direction)
        for name in ("initial_occupation", "initial_vacancy", "keep", "occupation", "vacancy",
                     "work_weights", "work_values"):
            assert np.array_equal(getattr(chain, name), getattr(seed, name)), (direction, name)
        assert np.array_equal(staircase.accumulate(direction, 9, 0, 20_000)["counts"],
                              seed.counts(9, STREAMS[direction], 0, 20_000, 16))
    assert staircase.strokes("reverse").parameters() == staircase.reverse().strokes().parameters()


def seed_landau_zener_chain(lz, direction, weights, unit):
    """The Landau-Zener chain as the seed model built it (before it compiled to strokes): keep R_i,
    Fermi occupations, the work lattice ``weights`` of quantum ``unit`` (forward order)."""
    from scipy.special import expit

    from mcthermo.systems.two_state_chain import TwoStateChain

    e, keep = lz.positions(direction), lz.keep_probabilities()
    weights = np.asarray(weights)
    sign = 1.0 if direction == "forward" else -1.0
    if direction == "reverse":
        keep, weights = keep[::-1], weights[::-1]
    x = -lz.beta * (e - lz.mu)  # thermal log-odds
    return TwoStateChain(initial_occupation=expit(x[0]), initial_vacancy=expit(-x[0]), keep=keep,
                         occupation=expit(x[1:-1]), vacancy=expit(-x[1:-1]), work_weights=weights,
                         work_values=sign * unit * np.arange(weights.sum() + 1))


@pytest.mark.filterwarnings("ignore::mcthermo.LandauZenerValidityWarning")
@pytest.mark.parametrize("case", [0, 1])
def test_landau_zener_compiles_to_strokes_with_its_chain_unchanged(case):
    """The seed's chain and the one compiled from ``LandauZener.strokes()``: the same redraw
    probabilities 1 - R_i bit for bit (keep = 1 - strength may differ from R_i in its last bit only
    where 1 - R_i rounds, and then 1 - keep = 1 - R_i exactly), the same thresholds, lattice and
    hence the same histograms for the same seed."""
    lz = lz_cases()[case]
    weights, unit = [([1] * 10, 1.0), ([2, 3, 2, 1, 2], 0.5)][case]
    for direction in ("forward", "reverse"):
        chain, seed = lz.chain(direction), seed_landau_zener_chain(lz, direction, weights, unit)
        for name in ("initial_occupation", "initial_vacancy", "occupation", "vacancy", "work_weights"):
            assert np.array_equal(getattr(chain, name), getattr(seed, name)), (direction, name)
        assert np.array_equal(1.0 - chain.keep, 1.0 - seed.keep)
        np.testing.assert_allclose(chain.work_values, seed.work_values, rtol=0, atol=1e-14)
        for table in ("gain", "loss", "below", "above", "weights"):
            assert np.array_equal(getattr(chain.tables, table), getattr(seed.tables, table)), table
        assert np.array_equal(lz.accumulate(direction, 9, 0, 20_000)["counts"],
                              seed.counts(9, STREAMS[direction], 0, 20_000, 16))


def lz_cases():
    return [mt.LandauZener(), mt.LandauZener(levels=(1.0, 2.5, 3.5, 4.0), mu=2.0, level_end=5.0),
            mt.LandauZener(levels=(1.0, 1.0 + np.sqrt(2.0), 4.0), mu=2.0, level_end=5.0)]


@pytest.mark.filterwarnings("ignore::mcthermo.LandauZenerValidityWarning")
@pytest.mark.parametrize("case", [0, 1, 2])
def test_landau_zener_as_strokes_has_its_exact_law(case):
    lz = lz_cases()[case]
    for direction in ("forward", "reverse"):
        engine = lz.strokes(direction).engine("forward")
        results = engine.direction_results(empty(engine))[0]
        chain = lz.chain(direction)
        joint = chain.joint_pmf()
        for name in ("work", "heat_reservoir"):
            mine = results.observable(name)
            if name == "work":
                values = np.broadcast_to(chain.work_values, joint.shape)
            else:
                values = lz.observables(direction, np.arange(2)[:, None, None], np.arange(2)[None, :, None],
                                        chain.work_values[None, None, :])["heat"]
            reference = {}
            for v, p in zip(np.round(np.ravel(values), 9), joint.ravel()):
                reference[v] = reference.get(v, 0.0) + p
            law = dict(zip(np.round(mine.values, 9), mine.probability_exact))
            for v, p in reference.items():
                assert law.get(v, 0.0) == pytest.approx(p, rel=1e-12, abs=1e-15), (direction, name, v)


def test_reverse_of_a_two_bath_engine_says_why_crooks_and_bar_do_not_apply():
    run = mt.sample(otto(cycles=2), trajectories=20_000, seed=6, reverse=True)
    rows = run.checks.set_index("check")
    for check in ("bar", "crooks"):
        assert rows.loc[check, "verdict"] == "inconclusive"
        assert rows.loc[check, "reason"].startswith("not applicable: Crooks and BAR need a protocol")
    # the reverse process itself is sampled and checked
    assert rows.query("direction == 'reverse'").loc["integral_ft", "verdict"] == "passed"


def test_random_spectra_beyond_int64_keys_fall_back_to_moment_sampling():
    """d = 8 random spectra, 3 cycles: 24 lattice axes, keys beyond int64 -- the histogram tables are
    never built; moment-only sampling runs and its means pass against the transfer matrices."""
    spec = random_spectrum(np.random.default_rng(3), d=8, cycles=3)
    engine = spec.engine("forward")
    assert engine.mode == "moments" and "keys would exceed 2**62" in spec.exact_tables()
    assert spec.steps_per_trajectory() == engine.moment_tables.steps
    run = mt.sample(spec, trajectories=20_000, seed=1)
    means = run.checks.query("check == 'mean'")
    assert set(means["verdict"]) == {"passed"} and len(means) == 5
