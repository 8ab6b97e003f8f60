"""Stroke protocols with two particle-exchanging baths: a particle counter particles_<bath> per bath
(N_{s'} - N_s on the bath's thermalisations), exact laws against a brute-force enumeration of level
paths, sampled rows, and particle conservation on every sampled trajectory."""
import itertools

import numpy as np
import pytest

import mcthermo as mt

pytestmark = pytest.mark.filterwarnings("error")

BATHS = {"left": mt.Bath(beta=1.0, mu=0.8), "right": mt.Bath(beta=2.0, mu=-0.2)}
STROKES = [mt.Thermalize("left", 0.8), mt.Quench([0.0, 1.3]), mt.Thermalize("right", 0.7), mt.Quench([0.0, 0.5])]
PARTICLES = np.array([0, 1])  # one level, empty or occupied


def two_leads():
    return mt.Strokes(energies=[0.0, 0.5], particles=[0, 1], baths=BATHS, initial="left", strokes=STROKES,
                      cycles=3)


def brute_force():
    """{(particles_left, particles_right): probability} over every level path, grand-canonical
    thermalisations written from scratch."""
    def gibbs(e, bath):
        h = np.asarray(e, float) - bath.mu * PARTICLES
        w = np.exp(-bath.beta * (h - h.min()))
        return w / w.sum()

    steps, e = [], np.array([0.0, 0.5])
    for stroke in STROKES * 3:
        if isinstance(stroke, mt.Quench):
            steps.append((np.eye(2), None))
            e = np.asarray(stroke.energies, float)
        else:
            k = stroke.strength
            steps.append(((1 - k) * np.eye(2) + k * gibbs(e, BATHS[stroke.bath])[None, :], stroke.bath))
    law = {}
    p0 = gibbs([0.0, 0.5], BATHS["left"])
    for path in itertools.product(range(2), repeat=len(steps) + 1):
        p, counted = p0[path[0]], {"left": 0, "right": 0}
        for (t, bath), a, b in zip(steps, path[:-1], path[1:]):
            p *= t[a, b]
            if bath is not None:
                counted[bath] += PARTICLES[b] - PARTICLES[a]
        if p > 0:
            key = (counted["left"], counted["right"])
            law[key] = law.get(key, 0.0) + p
    return law


def test_particle_counters_per_lead_against_enumeration_and_conservation(tmp_path):
    spec = two_leads()
    assert spec.chain.names == ("work", "heat_left", "heat_right", "particles_left", "particles_right")
    law = brute_force()
    run = mt.sample(spec, trajectories=20_000, seed=7, out=tmp_path / "run", save_samples=True)
    summary = run.summary.set_index("observable")
    for k, name in enumerate(["particles_left", "particles_right"]):
        marginal = {}
        for key, p in law.items():
            marginal[key[k]] = marginal.get(key[k], 0.0) + p
        values, p = np.array(list(marginal)), np.array(list(marginal.values()))
        mean = np.dot(p, values)
        assert abs(summary.loc[name, "mean_exact"] - mean) < 1e-12
        assert abs(summary.loc[name, "std_exact"] - np.sqrt(np.dot(p, (values - mean) ** 2))) < 1e-12
        exact = run.histogram.query(f"observable == '{name}' and probability_exact > 0")
        assert len(exact) == len(marginal) > 2
        for value, probability in zip(exact["value"], exact["probability_exact"]):
            assert abs(marginal[int(round(value))] - probability) < 1e-12
        # the generating function of the counter from the tilted transfer matrices
        s = 0.7
        np.testing.assert_allclose(spec.engine("forward").log_generating_function(name, s),
                                   np.log(np.dot(p, np.exp(-s * values))), rtol=1e-12, atol=1e-12)
    rows = run.checks.query("observable in ['particles_left', 'particles_right']")
    assert len(rows) == 6 and (rows["verdict"] == "passed").all()
    assert not (run.checks["verdict"] == "failed").any()
    samples = mt.read(tmp_path / "run").samples
    assert len(samples) == 20_000
    net = PARTICLES[samples.level_final.to_numpy()] - PARTICLES[samples.level_initial.to_numpy()]
    assert np.array_equal(samples.particles_left + samples.particles_right, net)
    assert (samples.particles_left != 0).any() and (samples.particles_right != 0).any()


def test_a_wrong_particle_law_is_flagged():
    """The distribution check of a counter fails against a sampler of another lead's chemical potential."""
    run = mt.sample(two_leads(), trajectories=20_000, seed=7)
    wrong = mt.Strokes(energies=[0.0, 0.5], particles=[0, 1],
                       baths={"left": mt.Bath(beta=1.0, mu=0.8), "right": mt.Bath(beta=2.0, mu=0.6)},
                       initial="left", strokes=STROKES, cycles=3)
    exact = run.histogram.query("observable == 'particles_right'").set_index("value")["probability_exact"]
    other = mt.sample(wrong, trajectories=20_000, seed=7).histogram.query(
        "observable == 'particles_right'").set_index("value")
    counts = other["count"].reindex(exact.index, fill_value=0).to_numpy()
    z = (counts / counts.sum() - exact.to_numpy()) / np.sqrt(exact.to_numpy() * (1 - exact.to_numpy()) / counts.sum())
    assert np.abs(z).max() > 5
