"""Stroke protocols with a zero-temperature bath (beta = inf, #21 item 6): thermalisation to the
ground level(s), exact laws against a brute-force enumeration of level paths, sampled rows, and rows
saying "not applicable" where the entropy production is infinite."""
import itertools

import numpy as np
import pytest

import mcthermo as mt
from mcthermo.systems.stroke_protocol import StrokeProtocol

pytestmark = pytest.mark.filterwarnings("error")  # no RuntimeWarning from exact code

INF = np.inf


def degenerate_otto(cycles=2):
    """Three levels whose cold ground level is doubly degenerate; the first quench mixes it."""
    mix = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    return mt.Strokes(energies=[0.0, 0.0, 1.0], baths={"hot": mt.Bath(beta=0.3), "cold": mt.Bath(beta=INF)},
                      initial="cold", strokes=[mt.Quench([0.0, 0.5, 2.0], mix), mt.Thermalize("hot"),
                                               mt.Quench([0.0, 0.0, 1.0]), mt.Thermalize("cold", 0.7)],
                      cycles=cycles)


def brute_force(energies, strokes, cycles, betas, initial):
    """{(work, heat of each bath of ``betas``): probability} by enumerating every level path, with transition
    matrices written from scratch (zero temperature: uniform over the ground levels); ``initial`` a
    bath name (its Gibbs state) or the populations."""
    def gibbs(e, beta):
        e = np.asarray(e, float)
        if np.isinf(beta):
            ground = e == e.min()
            return ground / ground.sum()
        w = np.exp(-beta * (e - e.min()))
        return w / w.sum()

    steps, e = [], np.asarray(energies, float)
    for stroke in list(strokes) * cycles:
        if isinstance(stroke, mt.Quench):
            new = np.asarray(stroke.energies, float)
            t = np.eye(e.size) if stroke.transitions is None else np.asarray(stroke.transitions)
            steps.append((t, new[None, :] - e[:, None], None))
            e = new
        else:
            k = stroke.strength
            t = (1 - k) * np.eye(e.size) + k * gibbs(e, betas[stroke.bath])[None, :]
            steps.append((t, e[None, :] - e[:, None], stroke.bath))
    law = {}
    p0 = gibbs(energies, betas[initial]) if isinstance(initial, str) else np.asarray(initial)
    for path in itertools.product(range(len(energies)), repeat=len(steps) + 1):
        p, work, heat = p0[path[0]], 0.0, dict.fromkeys(betas, 0.0)
        for (t, de, bath), a, b in zip(steps, path[:-1], path[1:]):
            p *= t[a, b]
            if bath is None:
                work += de[a, b]
            else:
                heat[bath] += de[a, b]
        if p > 0:
            key = (round(work, 9), *(round(heat[b], 9) for b in betas))
            law[key] = law.get(key, 0.0) + p
    return law


def test_a_zero_temperature_bath_is_accepted_and_its_exact_law_matches_enumeration():
    spec = degenerate_otto()
    law = brute_force(spec.energies, spec.strokes, spec.cycles, {"hot": 0.3, "cold": INF}, "cold")
    engine = spec.engine("forward")
    assert np.all(np.isfinite(engine.chain.log_initial[:2])) and engine.chain.log_initial[2] == -np.inf
    np.testing.assert_allclose(np.exp(engine.chain.log_initial), [0.5, 0.5, 0.0], rtol=0, atol=1e-15)
    run = mt.sample(spec, trajectories=20_000, seed=5)
    summary = run.summary.set_index("observable")
    for k, name in enumerate(["work", "heat_hot", "heat_cold"]):
        values = np.array([key[k] for key in law])
        p = np.array(list(law.values()))
        mean = np.dot(p, values)
        np.testing.assert_allclose(summary.loc[name, "mean_exact"], mean, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(summary.loc[name, "std_exact"], np.sqrt(np.dot(p, (values - mean) ** 2)),
                                   rtol=1e-12)
        exact = run.histogram.query(f"observable == '{name}' and probability_exact > 0")
        enumerated = {}
        for value, probability in zip(values, p):
            enumerated[value] = enumerated.get(value, 0.0) + probability
        assert len(exact) == len(enumerated)
        for value, probability in zip(exact["value"], exact["probability_exact"]):
            assert abs(enumerated[round(value, 9)] - probability) < 1e-12
    assert "entropy_production" not in set(run.summary["observable"])
    checks = run.checks.set_index(["check", "observable"])
    assert not (run.checks["verdict"] == "failed").any()
    assert (run.checks.query("check in ['mean', 'variance'] and observable in ['work', 'heat_hot', 'heat_cold']")
            ["verdict"] == "passed").all()
    verdict, reason = checks.loc[("integral_ft", "entropy_production"), ["verdict", "reason"]]
    assert verdict == "not applicable" and "zero temperature" in reason and "'cold'" in reason


def test_a_gibbs_start_at_zero_temperature_says_why_jarzynski_crooks_and_bar_do_not_apply():
    spec = mt.Strokes(energies=[0.0, 1.0, 2.5], baths={"bath": mt.Bath(temperature=0.0)}, initial="bath",
                      strokes=[mt.Quench([0.5, 0.0, 3.0], np.array([[0.3, 0.7, 0], [0.7, 0.3, 0], [0, 0, 1.0]])),
                               mt.Thermalize("bath", 0.4)], cycles=3)
    assert spec.free_energy_change() == 0.0  # the ground energy, 0 before and after
    law = brute_force(spec.energies, spec.strokes, spec.cycles, {"bath": INF}, "bath")
    run = mt.sample(spec, trajectories=20_000, seed=9, reverse=True)
    work = run.summary.query("observable == 'work' and direction == 'forward'").iloc[0]
    np.testing.assert_allclose(work["mean_exact"], sum(p * key[0] for key, p in law.items()), rtol=1e-12)
    rows = run.checks.set_index("check")
    for check in ("jarzynski", "integral_ft", "bar", "crooks"):
        for verdict, reason in zip(np.atleast_1d(rows.loc[check, "verdict"]),
                                   np.atleast_1d(rows.loc[check, "reason"])):
            assert verdict == "not applicable" and "zero temperature" in reason, (check, reason)
    assert not (run.checks["verdict"] == "failed").any()


def test_a_two_level_zero_temperature_protocol_runs_on_the_two_state_kernel():
    spec = mt.Strokes(energies=[0.0, 1.0], baths={"bath": mt.Bath(beta=INF)}, initial=(0.4, 0.6),
                      strokes=[mt.Quench([0.0, 2.0]), mt.Thermalize("bath", 0.3), mt.Quench([0.0, 1.0]),
                               mt.Thermalize("bath", 0.5)], cycles=3)
    engine = spec.engine("forward")
    assert engine.two_state is not None
    assert np.all(engine.two_state.chain.occupation == 0.0)  # a thermalisation never excites
    law = brute_force(spec.energies, spec.strokes, spec.cycles, {"bath": INF}, (0.4, 0.6))
    mean = sum(p * key[0] for key, p in law.items())
    np.testing.assert_allclose(engine.exact_moments("work")[0], mean, rtol=1e-12)
    np.testing.assert_allclose(engine.exact_moments("work")[1],
                               sum(p * (key[0] - mean) ** 2 for key, p in law.items()), rtol=1e-12)
    run = mt.sample(spec, trajectories=20_000, seed=4)
    assert not (run.checks["verdict"] == "failed").any()
    assert (run.checks.query("check == 'mean'")["verdict"] == "passed").all()


def test_generating_functions_at_zero_temperature():
    """ln<e^{-sX}> of work and heats stay exact (enumeration, 1e-12); the entropy production has none."""
    spec = degenerate_otto()
    law = brute_force(spec.energies, spec.strokes, spec.cycles, {"hot": 0.3, "cold": INF}, "cold")
    s = np.array([-1.3, 0.0, 0.7, 4.0])
    p = np.array(list(law.values()))
    for k, name in enumerate(["work", "heat_hot", "heat_cold"]):
        values = np.array([key[k] for key in law])
        expected = np.log(np.exp(-s[:, None] * values[None, :]) @ p)
        np.testing.assert_allclose(spec.log_generating_function(name, s), expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="entropy_production.*zero temperature"):
        spec.log_generating_function("entropy_production", 0.5)


def test_a_zero_temperature_protocol_survives_run_json():
    spec = degenerate_otto()
    again = StrokeProtocol.from_parameters(spec.parameters())
    assert again.baths["cold"].zero_temperature and again.baths["cold"].beta == INF
