"""Rows built on exact generating functions G(s) = <e^{-s X}> (no histogram, no lattice):
jarzynski, integral_ft, mean, variance and distribution on a generic open system, each flagged by a
wrong sampler; round-off and power rules (deterministic observables, low temperature)."""
from dataclasses import replace

import numpy as np
import pytest

import mcthermo as mt
from mcthermo import exponential
from mcthermo.checks import generating_average_check, generating_distribution_check
from mcthermo.results import Observable
from mcthermo.systems.open_system import Bath, OpenSystem, Piece, davies_channels, gibbs_state

TRAJECTORIES = 100_000


def _hermitian(rng, d):
    a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    return (a + a.conj().T) / 2


def davies_protocol(seed=3, d=3, beta=1.0, durations=(0.7, 3.0, 0.9), rate=1.0, energy=0.5):
    """Three pieces of non-commuting random Hamiltonians (scaled by ``energy``), Davies channels to
    one bath, Gibbs start."""
    rng = np.random.default_rng(seed)
    coupling = _hermitian(rng, d)
    pieces = []
    for duration in durations:
        h = _hermitian(rng, d) * energy
        pieces.append(Piece(h, davies_channels(h, coupling, "bath", beta, lambda w: rate), duration))
    return OpenSystem(pieces=pieces, baths={"bath": Bath(beta=beta)}, initial=mt.Gibbs(beta))


def _sampled_by(correct, sampler, n=TRAJECTORIES, seed=5):
    """The checks of ``correct`` (its exact answers, its s values) on trajectories of ``sampler``."""
    sampler.__dict__["_derived"] = {"layout": correct.layout()}
    accumulators = {key: value for key, value in sampler.accumulate("forward", seed, 0, n).items()}
    return mt.tables.build(correct.results({"forward": accumulators}))["checks"]


def _rates_off(system, piece=1, factor=1.02, both=True):
    """Both rates of one transition (the channel pair +-omega of the busiest channel of ``piece``)
    multiplied by ``factor``: detailed balance still holds (``both=False``: only the busiest one,
    detailed balance broken)."""
    channels = system.pieces[piece].channels
    busiest = max(channels, key=lambda c: np.linalg.norm(c.operator))
    top = abs(busiest.energy) if both else busiest.energy
    changed = [replace(c, operator=c.operator * np.sqrt(factor))
               if abs((abs(c.energy) if both else c.energy) - top) < 1e-12 else c for c in channels]
    pieces = list(system.pieces)
    pieces[piece] = replace(pieces[piece], channels=tuple(changed))
    return replace(system, pieces=pieces)


def _longer(system, piece=1, factor=1.05):
    pieces = list(system.pieces)
    pieces[piece] = replace(pieces[piece], duration=pieces[piece].duration * factor)
    return replace(system, pieces=pieces)


@pytest.fixture(scope="module")
def davies():
    return davies_protocol()


@pytest.fixture(scope="module")
def correct_checks(davies):
    return _sampled_by(davies, davies)


def test_every_row_on_a_generic_davies_protocol_passes_without_a_lattice(davies, correct_checks):
    checks = correct_checks.set_index(["check", "observable"])
    assert set(correct_checks["verdict"]) == {"passed"}, correct_checks[correct_checks["verdict"] != "passed"]
    for observable in ("work", "heat_bath", "entropy_production"):
        for check in ("mean", "variance", "distribution"):
            assert (check, observable) in checks.index
        assert checks.loc[("distribution", observable), "dof"] >= 2
    jarzynski = checks.loc[("jarzynski", "work")]
    # dF +- 0.2 lies beyond 5 stderr: the row could see a wrong free energy of 0.2
    assert 5 * jarzynski["stderr"] < 0.2 and abs(jarzynski["z"]) < 4
    assert jarzynski["method"] == "exact null stderr from G(2s)"
    assert abs(checks.loc[("integral_ft", "entropy_production"), "z"]) < 4
    # a wrong free energy is flagged
    work = davies.results({"forward": davies.accumulate("forward", 5, 0, 4096)}).directions["forward"]
    beta, delta_f = work.jarzynski
    wrong = mt.checks.jarzynski_check("forward", work.observable("work"), beta, delta_f + 0.2)
    assert wrong["verdict"] in ("failed", "inconclusive")


@pytest.mark.parametrize("perturb", [_rates_off, _longer], ids=["rates 2% off", "piece 5% longer"])
def test_a_wrong_sampler_is_flagged(davies, perturb):
    checks = _sampled_by(davies, perturb(davies))
    failed = checks[checks["verdict"] == "failed"]
    assert len(failed) >= 1, checks
    assert failed["z"].abs().max() > 5


@pytest.fixture(scope="module")
def far_off_checks(davies):
    """One rate of the busiest transition 50 % too large (detailed balance broken), 40 000
    trajectories (at 20 000 the variance rows' z is about -4 to -6, at the threshold: over eight
    seeds -3.8 +- 0.6 for heat and -5.0 +- 0.4 for work on one sampler, -4.1 +- 1.2 and
    -5.8 +- 0.9 on another)."""
    return _sampled_by(davies, _rates_off(davies, factor=1.5, both=False), n=40_000)


@pytest.mark.parametrize("check", ["mean", "variance", "distribution", "integral_ft"])
def test_each_row_kind_without_a_lattice_flags_a_wrong_sampler(far_off_checks, check):
    """Each row kind on work, heat and sigma (no histogram: exponential sums and G(s) only) sees a
    wrong sampler by itself."""
    rows = far_off_checks[(far_off_checks["check"] == check)
                          & far_off_checks["observable"].isin(["work", "heat_bath", "entropy_production"])]
    assert (rows["verdict"] == "failed").any(), rows


def test_generating_distribution_uses_the_exact_covariance():
    """Gaussian X ~ N(0, 1): ln G(s) = s^2 / 2; a sample from N(0.05, 1) of 1e5 is flagged, a correct
    one passes."""
    rng = np.random.default_rng(1)
    log_g = lambda s: np.asarray(s, float) ** 2 / 2
    s = exponential.exponents(log_g, 1.0)
    for shift, verdict in ((0.0, "passed"), (0.05, "failed")):
        x = rng.normal(shift, 1.0, TRAJECTORIES)
        sums = np.array([np.log(np.sum(np.exp(-t * x))) for t in s])
        obs = Observable("x", n=x.size, total=x.sum(), total_squares=(x * x).sum(), mean_exact=0.0,
                         variance_exact=1.0, exponents=s, log_exponential_sums=sums,
                         log_generating_function=log_g)
        row = generating_distribution_check("forward", obs)
        assert row["verdict"] == verdict, row
        assert row["estimate"] == row["statistic"] and row["expected"] == row["dof"] >= 4


def test_low_temperature_exponential_averages_are_inconclusive_never_failed():
    """beta = 50 and 400: <e^{-sigma}> and <e^{-beta W}> are carried by paths no sample contains."""
    for beta, energy in ((50.0, 0.5), (400.0, 0.5)):          # beta omega up to ~100 and ~900
        system = davies_protocol(beta=beta, seed=4, energy=energy)
        run = mt.sample(system, 20_000, 7, progress=False)
        checks = run.checks.set_index(["check", "observable"])
        assert "failed" not in set(run.checks["verdict"]), run.checks[run.checks["verdict"] == "failed"]
        for key in (("integral_ft", "entropy_production"), ("jarzynski", "work")):
            if key in checks.index and checks.loc[key, "verdict"] == "inconclusive":
                assert "trajectories_needed" in checks.loc[key, "reason"]
        # beta = 50: both carried by paths of probability ~e^-100 (relative variances ~1e88, 1e132)
        if beta == 50.0:
            assert checks.loc[("integral_ft", "entropy_production"), "verdict"] == "inconclusive"
            assert checks.loc[("jarzynski", "work"), "verdict"] == "inconclusive"


def test_an_undriven_system_never_fails():
    """One Hamiltonian, Davies channels, Gibbs start: W = 0 and sigma = 0 on every trajectory; the
    exact variances are round-off (~1e-16), never a reason to fail."""
    rng = np.random.default_rng(11)
    h = _hermitian(rng, 3)
    coupling = _hermitian(rng, 3)
    for duration in (0.3, 1.0, 2.7, 6.0):
        system = OpenSystem(hamiltonian=h, channels=davies_channels(h, coupling, "bath", 1.3, lambda w: 0.4),
                            baths={"bath": Bath(beta=1.3)}, initial=gibbs_state(h, 1.3), duration=duration)
        checks = mt.sample(system, 4_096, 3, progress=False).checks
        assert "failed" not in set(checks["verdict"]), checks[checks["verdict"] == "failed"]
        rows = checks.set_index(["check", "observable"])
        for key in (("jarzynski", "work"), ("integral_ft", "entropy_production"), ("mean", "work")):
            assert rows.loc[key, "verdict"] == "passed"


def test_moment_only_ladder_otto_exponential_average_does_not_fail():
    """ladder_otto(levels=8, cycles=20): friction between all levels, moments only; <e^{-sigma}> has
    a relative variance far beyond any sample (it failed with z = -140,245 on a sample stderr)."""
    spec = mt.examples.ladder_otto(levels=8, cycles=20)
    run = mt.sample(spec, 20_000, 3, progress=False)
    rows = run.checks.set_index(["check", "observable"])
    row = rows.loc[("integral_ft", "entropy_production")]
    assert row["verdict"] in ("passed", "inconclusive") and "failed" not in set(run.checks["verdict"])


def test_exact_stderr_not_sample_stderr():
    """A z-test divides by the exact stderr sqrt(v / n) from G(2s): a sample whose own spread is
    tiny (it missed the tail) is not made to fail by it."""
    log_g = lambda s: np.asarray(s, float) ** 2 / 2            # Gaussian X: v(1) = e - 1
    x = np.zeros(1000)                                          # every sample at the mean
    obs = Observable("x", n=x.size, total=0.0, total_squares=0.0, mean_exact=0.0, variance_exact=1.0,
                     exponents=[1.0], log_exponential_sums=[np.log(x.size)], log_generating_function=log_g)
    row = generating_average_check("integral_ft", "forward", obs, 1.0, 0.5)
    v = np.e - 1
    assert row["stderr"] == pytest.approx(np.sqrt(v / x.size))
    assert row["z"] == pytest.approx(-np.expm1(-0.5) / np.sqrt(v / x.size))


def test_a_gibbs_start_without_detailed_balance_says_why_jarzynski_does_not_hold():
    """One bath and a Gibbs start, but the absorption rate doubled: <e^{-beta W}> != e^{-beta dF};
    the jarzynski row says so (it used to be missing)."""
    h0, h1 = np.diag([0.0, 1.0]), np.array([[0.0, 0.3], [0.3, 1.5]])
    a = np.array([[0.0, 1.0], [1.0, 0.0]])

    def channels(h):
        out = mt.davies_channels(h, a, "b", 1.0, lambda w: 0.2)
        return [mt.Channel(c.name, c.operator * (np.sqrt(2.0) if c.energy < 0 else 1.0), c.energy, c.bath)
                for c in out]

    system = mt.OpenSystem(pieces=[mt.Piece(h0, channels(h0), 1.0), mt.Piece(h1, channels(h1), 1.0)],
                           baths={"b": mt.Bath(beta=1.0)}, initial=mt.Gibbs(bath="b"))
    row = mt.sample(system, 2048, 3).checks.query("check == 'jarzynski'").iloc[0]
    assert row["verdict"] == "not applicable" and "Jarzynski does not hold" in row["reason"]
