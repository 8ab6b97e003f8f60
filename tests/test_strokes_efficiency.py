"""The stochastic efficiency eta = -W / Q_hot of two-bath stroke protocols as an observable
conditioned on Q_hot != 0: its exact conditional law against brute-force path enumeration, sampled
checks with their own z-scores, and wrong laws / wrong samplers flagged."""
import itertools

import numpy as np
import pytest

import mcthermo as mt
from mcthermo.checks import Z_THRESHOLD
from mcthermo.results import DirectionResults, Observable, Results
from mcthermo.runner import _check_trajectory_counts
from mcthermo.io import MCThermoFileError
from mcthermo.tables import build

from test_strokes import empty, incommensurate, otto, three_level


def friction_otto(cycles=3, friction=0.3, beta_hot=0.5):
    """Two-level Otto engine whose compression quench swaps the levels with probability
    ``friction`` (doubly stochastic): eta = -W / Q_hot then varies from trajectory to trajectory."""
    swap = np.array([[1.0 - friction, friction], [friction, 1.0 - friction]])
    return otto(cycles=cycles, baths={"hot": mt.Bath(beta=beta_hot), "cold": mt.Bath(beta=2.0)},
                strokes=[mt.Quench([0.0, 2.0], swap), mt.Thermalize("hot", 0.8),
                         mt.Quench([0.0, 1.0]), mt.Thermalize("cold")])


def enumerated_efficiency(spec):
    """Brute force from the protocol's own definition (no engine, no chain, no lattice): every level
    path, its probability as a product of stroke transition probabilities, its W and Q_hot.
    Returns ({eta rounded to 1e-9: P(eta | Q_hot != 0)}, P(Q_hot = 0))."""
    baths = spec.baths
    hot = min(baths, key=lambda b: baths[b].beta)
    d = len(spec.energies)

    def gibbs(bath, energies):
        weights = np.exp(-baths[bath].beta * (energies - energies.min()))
        return weights / weights.sum()

    energies = np.array(spec.energies)
    initial = gibbs(spec.initial, energies) if isinstance(spec.initial, str) else np.array(spec.initial)
    # per stroke: (transition matrix, energies before, energies after, "work" or the bath's name)
    strokes = []
    for stroke in list(spec.strokes) * spec.cycles:
        if isinstance(stroke, mt.Quench):
            after = np.array(stroke.energies)
            t = np.eye(d) if stroke.transitions is None else np.array(stroke.transitions)
            strokes.append((t, energies, after, "work"))
            energies = after
        else:
            k = stroke.strength
            t = (1.0 - k) * np.eye(d) + k * gibbs(stroke.bath, energies)[None, :]
            strokes.append((t, energies, energies, stroke.bath))
    law, undefined = {}, 0.0
    for path in itertools.product(range(d), repeat=len(strokes) + 1):
        p = initial[path[0]] * np.prod([t[path[n], path[n + 1]] for n, (t, *_) in enumerate(strokes)])
        if p == 0.0:
            continue
        work = sum(after[path[n + 1]] - before[path[n]]
                   for n, (_, before, after, kind) in enumerate(strokes) if kind == "work")
        heat = sum(after[path[n + 1]] - before[path[n]]
                   for n, (_, before, after, kind) in enumerate(strokes) if kind == hot)
        if abs(heat) < 1e-9:
            undefined += p
            continue
        key = round(-work / heat, 9) + 0.0
        law[key] = law.get(key, 0.0) + p
    return {eta: p / (1.0 - undefined) for eta, p in law.items()}, undefined


@pytest.mark.parametrize("case", ["adiabatic otto", "friction otto", "three-level", "incommensurate"])
def test_conditional_efficiency_law_equals_path_enumeration(case):
    rng = np.random.default_rng(7)
    spec = {"adiabatic otto": lambda: otto(cycles=3),
            "friction otto": lambda: friction_otto(cycles=2),
            "three-level": lambda: three_level(rng),
            "incommensurate": lambda: incommensurate(rng)}[case]()
    engine = spec.engine("forward")
    results = engine.direction_results(empty(engine))[0]
    eta, flags = results.observable("efficiency"), results.observable("efficiency_undefined")
    assert eta.condition == "heat_hot != 0" and eta.n == 0
    law, undefined = enumerated_efficiency(spec)
    dp = {round(float(v), 9) + 0.0: p for v, p in zip(eta.values, eta.probability_exact)}
    assert dp.keys() == law.keys()
    for value, p in law.items():
        assert dp[value] == pytest.approx(p, rel=1e-12, abs=1e-15), value
    assert flags.probability_exact[1] == pytest.approx(undefined, rel=1e-12, abs=1e-15)
    assert flags.probability_exact.sum() == pytest.approx(1.0, abs=1e-14)
    # the exact conditional moments are those of the enumerated law
    values, p = np.array(list(law)), np.array(list(law.values()))
    mean = float(np.dot(p, values))
    exact_mean, exact_variance = eta.exact_moments()
    assert exact_mean == pytest.approx(mean, rel=1e-9, abs=1e-12)
    assert exact_variance == pytest.approx(float(np.dot(p, (values - mean) ** 2)), rel=1e-9, abs=1e-12)


def efficiency_rows(run, direction="forward"):
    checks = run.checks
    rows = checks[(checks["observable"] == "efficiency") & (checks["direction"] == direction)]
    return rows.set_index("check")


def test_sampled_efficiency_passes_its_checks_given_the_conditioned_count():
    spec = friction_otto(cycles=3)
    trajectories, seed = 200_000, 5
    run = mt.sample(spec, trajectories=trajectories, seed=seed)
    rows = efficiency_rows(run)
    assert list(rows.index) == ["mean", "variance", "distribution"]
    assert set(rows["verdict"]) == {"passed"}, rows
    assert (rows["z"].abs() <= Z_THRESHOLD).all()
    assert set(rows["condition"]) == {"heat_hot != 0"}
    # the conditioned count: per-trajectory samples of the same trajectories, counted here
    frame = spec.samples("forward", seed, 0, trajectories)
    defined = frame["heat_hot"].abs() > 1e-9
    summary = run.summary.set_index("observable")
    assert summary.loc["efficiency", "trajectories"] == defined.sum() < trajectories
    assert (rows["trajectories"] == defined.sum()).all()
    assert summary.loc["efficiency", "condition"] == "heat_hot != 0"
    # the histogram rows are the histogram of -W / Q_hot over those trajectories
    eta = -frame["work"][defined] / frame["heat_hot"][defined]
    histogram = run.histogram.query("observable == 'efficiency' and count > 0")
    assert (dict(zip(histogram["value"].round(9), histogram["count"]))
            == eta.round(9).value_counts().to_dict())
    assert summary.loc["efficiency", "mean"] == pytest.approx(eta.mean(), rel=1e-12)
    # the samples' own efficiency column: the same values, NaN where Q_hot = 0
    np.testing.assert_array_equal(frame["efficiency"][defined], eta)
    assert frame["efficiency"][~defined].isna().all()
    print("efficiency z:", rows["z"].round(3).to_dict(), "n =", int(defined.sum()))


def test_the_readme_engine_counts_efficiency_over_the_trajectories_with_hot_heat():
    """The README's Otto engine (adiabatic quenches): eta = 1 - 1/2 on every trajectory with
    Q_hot != 0, a deterministic observable: its three rows pass because every sample sits on the
    exact value ("no sampled fluctuation"); a sample off the atom fails."""
    spec = otto(cycles=5)
    run = mt.sample(spec, trajectories=50_000, seed=1)
    rows = efficiency_rows(run)
    assert set(rows["verdict"]) == {"passed"}
    assert rows["reason"].str.contains("no sampled fluctuation").all()
    from mcthermo.checks import distribution_check

    off = mt.Observable("efficiency", [0.5, 0.75], [999, 1], [0.0, -np.inf])  # one sample off the atom
    assert distribution_check("forward", off)["verdict"] == "failed"
    undefined = run.histogram.query("observable == 'efficiency_undefined' and value == 1")["count"].sum()
    summary = run.summary.set_index("observable")
    assert summary.loc["efficiency", "trajectories"] == 50_000 - undefined
    assert summary.loc["efficiency", "mean"] == pytest.approx(0.5, abs=1e-15)


def test_a_wrong_sampler_or_a_wrong_law_is_flagged():
    spec = friction_otto(cycles=3)
    engine = spec.engine("forward")
    # wrong sampler: a hotter hot bath (same energies, so the same histogram box), judged against
    # this protocol's exact conditional law
    hotter = friction_otto(cycles=3, beta_hot=0.2).engine("forward")
    assert hotter.shape == engine.shape
    counts = hotter.counts(seed=3, stream=0, first=0, count=100_000)
    eta = engine.direction_results({"counts": counts})[0].observable("efficiency")
    checks = build(Results({"forward": DirectionResults([eta])}))["checks"].set_index("check")
    assert set(checks["verdict"]) == {"failed"}, checks[["z", "verdict", "reason"]]
    assert checks["reason"].str.endswith("trajectories with heat_hot != 0)").all()
    # wrong law: the right counts against the law with its atoms shifted by one
    right = engine.direction_results({"counts": engine.counts(seed=3, stream=0, first=0, count=100_000)})[0]
    good = right.observable("efficiency")
    log_p = good.log_probability_exact
    shifted = Observable("efficiency", good.values, good.counts, np.roll(log_p, 1), condition=good.condition)
    tables = build(Results({"forward": DirectionResults([good, shifted])}))
    checks = tables["checks"]
    assert list(checks["verdict"]) == ["passed"] * 3 + ["failed"] * 3, checks[["z", "verdict"]]


def test_without_the_exact_law_the_efficiency_checks_are_inconclusive(monkeypatch):
    from mcthermo.systems import stroke_engine

    monkeypatch.setattr(stroke_engine, "MAX_DP_OPERATIONS", 10)
    monkeypatch.setattr(stroke_engine, "MAX_SUPPORT", 10)  # nor the sparse DP
    run = mt.sample(friction_otto(cycles=2), trajectories=20_000, seed=2)
    rows = efficiency_rows(run)
    assert set(rows["verdict"]) == {"not applicable"}
    summary = run.summary.set_index("observable").loc["efficiency"]
    assert np.isnan(summary["mean_exact"]) and 0 < summary["trajectories"] < 20_000
    assert run.checks.set_index(["check", "observable"]).loc[("mean", "work"), "verdict"] == "passed"


def test_no_hot_heat_at_all_leaves_the_efficiency_empty_and_inconclusive():
    spec = otto(cycles=2, strokes=[mt.Quench([0.0, 2.0]), mt.Thermalize("hot", 0.0),
                                   mt.Quench([0.0, 1.0]), mt.Thermalize("cold")])
    run = mt.sample(spec, trajectories=5_000, seed=1)
    rows = efficiency_rows(run)
    assert set(rows["verdict"]) == {"inconclusive"}
    assert (rows["reason"] == "no trajectory with heat_hot != 0").all()
    assert run.summary.set_index("observable").loc["efficiency", "trajectories"] == 0


def test_the_run_counts_conditioned_observables_over_at_most_its_trajectories():
    values = np.array([0.0, 1.0])
    declared = [Observable("x", values, [3, 7]), Observable("y", values, [2, 1], condition="x == 1")]
    tables = build(Results({"forward": DirectionResults(declared)}))
    assert list(tables["summary"]["condition"]) == ["", "x == 1"]
    _check_trajectory_counts(tables, 10, None)
    tables["summary"].loc[1, "trajectories"] = 11
    with pytest.raises(MCThermoFileError, match="count 11 trajectories where the run has 10"):
        _check_trajectory_counts(tables, 10, None)
    tables["summary"].loc[1, "trajectories"] = 3
    tables["summary"].loc[0, "trajectories"] = 9
    with pytest.raises(MCThermoFileError, match="count 9 trajectories"):
        _check_trajectory_counts(tables, 10, None)
