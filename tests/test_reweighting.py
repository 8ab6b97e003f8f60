"""MBAR on tilted histograms (mcthermo.reweighting) against pymbar on the same samples, and its
exact asymptotic variance against the spread of repeated estimates."""
import warnings

import numpy as np
import pytest

from mcthermo import reweighting

X = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
LOG_P = np.array([0.0, -1.0, -2.5, -4.0, -6.0, -8.5]) - np.logaddexp.reduce([0.0, -1.0, -2.5, -4.0, -6.0, -8.5])
TILTS = np.array([0.0, -1.0, -2.0])
SIZES = np.array([3000, 2000, 2500])


def draw(rng):
    out = []
    for s, n in zip(TILTS, SIZES):
        q = np.exp(LOG_P - s * X)
        out.append(rng.multinomial(n, q / q.sum()))
    return np.array(out)


def test_mbar_matches_pymbar():
    pymbar = pytest.importorskip("pymbar")
    counts = draw(np.random.default_rng(1))
    solved = reweighting.solve(TILTS, X, counts)
    samples = np.concatenate([np.repeat(X, c) for c in counts])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = pymbar.MBAR(TILTS[:, None] * samples[None, :], SIZES)
        for log_a, a in ((-1.5 * X, np.exp(-1.5 * samples)), (np.where(X == 5, 0.0, -np.inf), (samples == 5) * 1.0)):
            expected = reference.compute_expectations(a)
            mean = np.exp(solved.log_average(log_a))
            assert mean == pytest.approx(expected["mu"][0], rel=1e-8)
            assert mean * np.sqrt(solved.log_average_variance(log_a)) == pytest.approx(expected["sigma"][0], rel=1e-6)
    assert solved.log_g == pytest.approx(-(reference.f_k - reference.f_k[0]), abs=1e-9)


def test_exact_variance_matches_the_spread_of_estimates():
    rng = np.random.default_rng(2)
    log_a = np.where(X == 5, 0.0, -np.inf)
    exact_g = np.array([np.logaddexp.reduce(LOG_P - s * X) for s in TILTS])
    estimates = []
    for _ in range(400):
        estimates.append(reweighting.solve(TILTS, X, draw(rng)).log_average(log_a))
    solved = reweighting.solve(TILTS, X, draw(rng))
    variance = solved.log_average_variance(log_a, LOG_P, exact_g)
    # the sample variance of 400 estimates is within ~3 x sqrt(2/400) = 21 % of the true one
    assert np.var(estimates) == pytest.approx(variance, rel=0.25)
    assert abs(np.mean(estimates) - LOG_P[5]) < 5 * np.sqrt(variance / 400)


def test_ensembles_without_overlap_are_refused():
    counts = np.array([[10, 0, 0], [0, 0, 10]])
    with pytest.raises(ValueError, match="overlap"):
        reweighting.solve([0.0, 1.0], [0.0, 1.0, 2.0], counts)


def test_atom_variances_at_once_equal_one_state_at_a_time():
    counts = draw(np.random.default_rng(4))
    solved = reweighting.solve(TILTS, X, counts)
    inverse = np.array([0, 0, 1, 1, 2, 3])  # four atoms of a coarser observable
    at_once = reweighting.atom_log_variances(solved, inverse, 4)
    one_by_one = [solved.log_average_variance(np.where(inverse == a, 0.0, -np.inf)) for a in range(4)]
    np.testing.assert_allclose(at_once, one_by_one, rtol=1e-9)


def test_atom_covariance_diagonal_equals_the_atom_variances():
    counts = draw(np.random.default_rng(6))
    solved = reweighting.solve(TILTS, X, counts)
    inverse = np.arange(6)
    covariance = reweighting.atom_log_covariance(solved, inverse, 6, [1, 3, 5])
    np.testing.assert_allclose(np.diag(covariance), reweighting.atom_log_variances(solved, inverse, 6)[[1, 3, 5]],
                               rtol=1e-8)
    # ln p of two atoms share the normalisation: positively correlated here
    assert covariance[0, 2] != 0.0
