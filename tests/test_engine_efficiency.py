"""The engine efficiency -<W>/<Q_hot>: estimate, delta-method stderr, exact value, verdict."""
import numpy as np
import pytest

import mcthermo as mt
from mcthermo.checks import engine_efficiency_check
from mcthermo.results import EngineEfficiency
from mcthermo.systems.stroke_engine import engine_efficiency


def efficiency_row(run):
    rows = run.checks.query("check == 'engine_efficiency'")
    assert len(rows) == 1
    return rows.iloc[0]


def engine(friction=0.2):
    """A three-level Otto engine with quantum friction: W / Q_hot varies between trajectories."""
    return mt.examples.ladder_otto(levels=3, cycles=2, friction=friction)


def test_otto_engine_efficiency_against_its_exact_value():
    run = mt.sample(engine(), trajectories=40_000, seed=11)
    row = efficiency_row(run)
    summary = run.summary.set_index("observable")
    expected = -summary.loc["work", "mean_exact"] / summary.loc["heat_hot", "mean_exact"]
    assert row.expected == pytest.approx(expected, rel=1e-12)
    assert row.estimate == pytest.approx(-summary.loc["work", "mean"] / summary.loc["heat_hot", "mean"],
                                         rel=1e-12)
    assert 0 < row.expected < 1 - 0.2 / 2.0                # below Carnot 1 - beta_h / beta_c
    assert row.verdict == "passed" and abs(row.z) < 5 and row.stderr > 0


def test_a_two_level_otto_engine_has_a_fixed_ratio_and_passes_only_exactly():
    """Two levels, adiabatic quenches: W = -(1 - gap_c / gap_h) Q_hot on every trajectory."""
    row = efficiency_row(mt.sample(mt.examples.two_level_otto(cycles=3), trajectories=4096, seed=1))
    assert row.verdict == "passed" and row.expected == pytest.approx(0.5, rel=1e-12)
    assert row.estimate == pytest.approx(0.5, rel=1e-9)


def test_exact_covariance_of_work_and_hot_heat_equals_the_exact_joint_law():
    """Cov(W, Q_hot) from transfer matrices (Var of W + Q) against the exact joint law (DP)."""
    otto = engine()
    joint = mt.sample(otto, trajectories=64, seed=1).tables["work_heat"]
    p = joint["probability_exact"].to_numpy()
    w, q = joint["work"].to_numpy(), joint["heat"].to_numpy()
    mw, mq = p @ w, p @ q
    exact = otto.engine("forward").exact_pair_moments("work", "heat_hot")
    np.testing.assert_allclose(exact, [mw, mq, p @ (w - mw) ** 2, p @ (q - mq) ** 2,
                                       p @ ((w - mw) * (q - mq))], rtol=1e-10, atol=1e-12)


def test_a_wrong_exact_value_or_a_wrong_sampler_fails():
    right = engine().engine("forward")
    other = engine(friction=0.35).engine("forward")
    exact = right.exact_pair_moments("work", "heat_hot")

    def sums(engine, n=40_000):
        counts = engine.counts(5, 0, 0, n)
        grids = engine.cell_values(np.arange(counts.size))
        return engine_efficiency(grids["work"], grids["heat_hot"], counts, "hot", exact)

    assert engine_efficiency_check("forward", sums(right))["verdict"] == "passed"
    sampled = sums(right)
    wrong_value = EngineEfficiency("hot", sampled.n, sampled.sums, (exact[0] * 1.10, *exact[1:]))
    assert engine_efficiency_check("forward", wrong_value)["verdict"] == "failed"
    assert engine_efficiency_check("forward", sums(other))["verdict"] == "failed"


def test_too_few_trajectories_or_no_exact_moments_are_inconclusive():
    strokes = engine().engine("forward")
    exact = strokes.exact_pair_moments("work", "heat_hot")
    counts = strokes.counts(5, 0, 0, 3)
    grids = strokes.cell_values(np.arange(counts.size))
    few = engine_efficiency(grids["work"], grids["heat_hot"], counts, "hot", exact)
    assert engine_efficiency_check("forward", few)["verdict"] == "inconclusive"
    blind = EngineEfficiency("hot", few.n, few.sums, None)
    blind_row = engine_efficiency_check("forward", blind)
    assert blind_row["verdict"] == "not applicable" and "no exact moments" in blind_row["reason"]


def test_open_system_engine_efficiency():
    h = np.diag([0.0, 1.0, 3.0])
    a = np.array([[0, 0, 1.0], [0, 0, 0], [1.0, 0, 0]])      # hot couples 0 <-> 2
    b = np.array([[0, 1.0, 0], [1.0, 0, 0], [0, 0, 0]])      # cold couples 0 <-> 1
    drive = 0.25 * np.array([[0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])
    pieces = [mt.Piece(h + drive, mt.davies_channels(h, a, "hot", 0.2, lambda w: 0.2)
                       + mt.davies_channels(h, b, "cold", 2.0, lambda w: 0.2), 6.0)]
    system = mt.OpenSystem(pieces=pieces, baths={"hot": mt.Bath(beta=0.2), "cold": mt.Bath(beta=2.0)},
                           initial=mt.gibbs_state(h, 2.0))
    run = mt.sample(system, trajectories=3 * 4096, seed=2)
    row = efficiency_row(run)
    summary = run.summary.set_index("observable")
    assert row.expected == pytest.approx(-summary.loc["work", "mean_exact"]
                                         / summary.loc["heat_hot", "mean_exact"], rel=1e-12)
    assert row.estimate == pytest.approx(-summary.loc["work", "mean"] / summary.loc["heat_hot", "mean"],
                                         rel=1e-9)
    assert row.verdict == "passed" and abs(row.z) < 5


# --- net particles exchanged with a bath -------------------------------------------------------
def grand_canonical_protocol():
    rng = np.random.default_rng(4)
    t = np.eye(3)
    u = np.linalg.qr(rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)))[0]
    t[1:, 1:] = np.abs(u) ** 2                      # quenches conserve N (levels 1, 2: one particle)
    return mt.Strokes(energies=[0.0, 0.5, 1.5], particles=[0, 1, 1],
                      baths={"lead": mt.Bath(beta=0.8, mu=0.5)}, initial=(0.2, 0.5, 0.3),
                      strokes=[mt.Quench([0.0, 1.0, 2.5], t), mt.Thermalize("lead", 0.6),
                               mt.Quench([0.0, 0.5, 1.5], t.T), mt.Thermalize("lead")], cycles=2)


def test_particles_of_the_bath_against_brute_force():
    protocol = grand_canonical_protocol()
    chain = protocol.chain
    propagator = np.linalg.multi_dot([np.exp(step) for step in chain.log_transition])
    joint = np.exp(chain.log_initial)[:, None] * propagator          # P(i, j)
    n = np.array([0, 1, 1])
    particles = n[None, :] - n[:, None]
    mean = np.sum(joint * particles)
    variance = np.sum(joint * (particles - mean) ** 2)
    run = mt.sample(protocol, trajectories=20_000, seed=3)
    summary = run.summary.set_index("observable").loc["particles_lead"]
    assert summary.mean_exact == pytest.approx(mean, abs=1e-12)
    assert summary.std_exact == pytest.approx(np.sqrt(variance), abs=1e-12)
    histogram = run.histogram.query("observable == 'particles_lead'").set_index("value")
    for value in (-1, 0, 1):
        assert histogram.loc[value, "probability_exact"] == pytest.approx(joint[particles == value].sum(),
                                                                          abs=1e-12)
    rows = run.checks.query("observable == 'particles_lead'")
    assert set(rows["check"]) == {"mean", "variance", "distribution"}
    assert (rows["verdict"] == "passed").all()


def test_open_system_samples_carry_particles_per_bath():
    """Per-trajectory particles_<bath> = -sum of nu over the bath's jumps; its sample mean against
    the exact mean and variance from the tilted generator."""
    from mcthermo.exact import tilted
    h = np.diag([0.0, 1.0])
    lower = np.array([[0, 1.0], [0, 0]])
    lead = mt.Bath(beta=1.0, mu=0.3)
    channels = mt.davies_channels(h, lower + lower.T, "lead", 1.0, lambda w: 0.5, mu=0.3,
                                  particles=[0, 1])
    system = mt.OpenSystem(hamiltonian=h, channels=channels, baths={"lead": lead},
                           initial=np.diag([1.0, 0.0]), duration=2.0)
    rows = system.samples("forward", 3, 0, 20_000)
    mean, variance = tilted.moments(system, lambda c: -float(c.particles))
    z = (rows["particles_lead"].mean() - mean) / np.sqrt(variance / len(rows))
    assert abs(z) < 5 and 0 < mean < 1
    assert set(rows["particles_lead"].unique()) <= {0, 1}


def test_without_joint_moments_the_row_says_not_applicable():
    row = engine_efficiency_check("forward", EngineEfficiency("hot", 1000, None))
    assert row["verdict"] == "not applicable" and "no joint moments" in row["reason"]


def two_lead_dot(mu_left=1.0):
    """A single level (empty / occupied) between two leads: a net particle current left -> right."""
    h = np.diag([0.0, 0.3])
    hop = np.array([[0, 1.0], [1.0, 0]])
    baths = {"left": mt.Bath(beta=2.0, mu=mu_left), "right": mt.Bath(beta=2.0, mu=-0.5)}
    channels = [c for name, bath in baths.items() for c in mt.davies_channels(
        h, hop, name, bath.beta, lambda w: 0.6, mu=bath.mu, particles=[0, 1])]
    return mt.OpenSystem(hamiltonian=h, channels=channels, baths=baths,
                         initial=np.diag([1.0, 0.0]), duration=2.0)


def test_open_system_particles_per_bath_are_observables():
    """particles_<bath> of each lead: exact mean against the rate equation integrated in time, the
    mean check passes on the sampler and fails against a wrong exact mean or a wrong mu."""
    from dataclasses import replace

    from scipy.integrate import quad_vec
    from scipy.linalg import expm

    from mcthermo.checks import mean_check
    from mcthermo.exact import tilted
    from mcthermo.systems.open_results import direction_results
    system = two_lead_dot()
    rates = {(c.bath, c.particles): np.linalg.norm(c.operator) ** 2 for c in system.pieces[0].channels}
    into = {b: rates[(b, -1)] for b in system.baths}            # nu = -1: a particle given to the dot
    out = {b: rates[(b, 1)] for b in system.baths}
    generator = np.array([[-sum(into.values()), sum(out.values())],
                          [sum(into.values()), -sum(out.values())]])
    populations = quad_vec(lambda t: expm(generator * t) @ [1.0, 0.0], 0, 2.0, epsabs=1e-14)[0]
    exact = {b: into[b] * populations[0] - out[b] * populations[1] for b in system.baths}
    assert exact["left"] > 0.1 and exact["right"] < -0.1

    acc = system.accumulate("forward", 5, 0, 12_000)
    observables = {o.name: o for o in direction_results(system, system.layout(), acc)[0].observables}
    for bath in ("left", "right"):
        obs = observables[f"particles_{bath}"]
        assert obs.mean_exact == pytest.approx(exact[bath], abs=1e-12)
        row = mean_check("forward", obs)
        assert row["verdict"] == "passed" and abs(row["z"]) < 4, row
        # 10 stderr off: |z - 10| > 6 whatever the sample's own |z| < 4, so it must fail
        wrong = mean_check("forward", replace(obs, mean_exact=obs.mean_exact + 10 * row["stderr"]))
        assert wrong["verdict"] == "failed"
    wrong_mu = tilted.moments(two_lead_dot(mu_left=0.5),
                              lambda c: -float(c.particles) if c.bath == "left" else 0.0)
    wrong = replace(observables["particles_left"], mean_exact=wrong_mu[0], variance_exact=wrong_mu[1])
    assert mean_check("forward", wrong)["verdict"] == "failed"
    run = mt.sample(system, trajectories=4096, seed=1)
    rows = run.checks.query("observable == 'particles_left'")
    assert list(rows["check"]) == ["mean"] and rows["verdict"].iloc[0] == "passed"
    summary = run.summary.set_index("observable").loc["particles_left"]
    assert summary.mean_exact == pytest.approx(exact["left"], abs=1e-12) and np.isnan(summary["std"])
