"""Continuous-time limit of the Landau–Zener chain (seed Sec. VI): the Gillespie sampler against the
master equation, and the discrete chain converging to it as level spacing and gap shrink."""
import numpy as np
import pytest

from mcthermo.kernels.gillespie import redraw_paths
from mcthermo.kernels.rng import bernoulli_threshold
from mcthermo.exact.golden_rule import GoldenRuleLimit, golden_rule_limit, sample_paths
from mcthermo.models.landau_zener import LandauZener, diabatic_probability
from mcthermo.stats import mean_estimate, variance_estimate
from mcthermo.theorems import jarzynski

BETA, MU, START, END = 1.2, 3.0, 0.0, 10.0
#: redraw intensity per unit energy of the seed's crossings (R_LZ per unit spacing)
DENSITY = float(-np.log(diabatic_probability(0.4, 1.0)))
CONTINUUM = GoldenRuleLimit(BETA, MU, (START, END), (DENSITY,))


def refined_chain(h):
    """Levels at spacing h tiling [START, END] (cell centres), sqrt(speed) = h (the seed's ratio
    spacing / sqrt(speed) = 1), gap delta = sqrt(2 speed DENSITY h / pi) ~ h^{3/2}, so that
    R = exp(-DENSITY h): the golden-rule rate per unit energy stays DENSITY as h -> 0."""
    levels = START + (np.arange(1, round((END - START) / h) + 1) - 0.5) * h
    speed = h**2
    gap = np.sqrt(2.0 * speed * DENSITY * h / np.pi)
    return LandauZener(BETA, MU, tuple(levels), coupling=gap / 2, speed=speed,
                       level_start=START, level_end=END)


def _z_scores(process, samples):
    exact = process.moments()
    work = samples.work.to_numpy()
    return {"mean work": mean_estimate(work).z(exact["mean_work"]),
            "work variance": variance_estimate(work).z(exact["work_variance"]),
            "final occupation": mean_estimate(samples.n_final.to_numpy()).z(exact["occupation"]),
            "jarzynski": jarzynski(work, beta=process.beta).z(process.free_energy_change())}


def test_kernel_matches_its_python_twin():
    args = (11, 0, 5, 300, bernoulli_threshold(0.7), np.array([0.0, 1.0, 2.5, 4.0]),
            np.array([0.0, 2.0, 0.7]), BETA, MU)
    compiled, python = redraw_paths(*args), redraw_paths.py_func(*args)
    for a, b in zip(compiled, python):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)
    assert compiled[3].sum() > 300  # the path really jumps


def test_master_equation_moments_obey_jarzynski():
    for process in (CONTINUUM, LandauZener().golden_rule_limit("reverse")):
        exact = process.moments()
        assert abs(exact["exp_work"] * np.exp(process.beta * process.free_energy_change()) - 1) < 1e-10
    # no redraws: the occupation is frozen, W = n_0 (END - START)
    frozen = GoldenRuleLimit(BETA, MU, (START, END), (0.0,)).moments()
    f0 = frozen["occupation"]
    assert abs(frozen["mean_work"] - 10 * f0) < 1e-12
    assert abs(frozen["work_variance"] - 100 * f0 * (1 - f0)) < 1e-10


@pytest.mark.parametrize("process", [CONTINUUM, GoldenRuleLimit(BETA, MU, (END, START), (DENSITY,)),
                                     LandauZener().golden_rule_limit("forward"),
                                     LandauZener().golden_rule_limit("reverse")],
                         ids=["forward", "reverse", "seed cells forward", "seed cells reverse"])
def test_gillespie_sampler_follows_the_master_equation(process):
    z = _z_scores(process, sample_paths(process, seed=17, count=400_000))
    assert max(abs(v) for v in z.values()) < 5, z


def test_a_wrong_rate_is_flagged():
    wrong = GoldenRuleLimit(BETA, MU, (START, END), (1.1 * DENSITY,))
    z = _z_scores(CONTINUUM, sample_paths(wrong, seed=17, count=400_000))
    assert abs(z["mean work"]) > 5 or abs(z["final occupation"]) > 5, z


def test_seed_cells_keep_each_crossing_with_probability_r():
    spec = LandauZener()
    process = spec.golden_rule_limit()
    mass = np.asarray(process.density) * np.abs(np.diff(process.edges))
    np.testing.assert_allclose(np.exp(-mass[1:-1]), spec.keep_probabilities(), rtol=1e-14)
    assert process.edges[:2] == (0.0, 0.5) and process.edges[-2:] == (9.5, 10.0)
    assert golden_rule_limit(spec, "reverse") == spec.golden_rule_limit("reverse")
    with pytest.raises(ValueError, match="R_i > 0"):
        LandauZener(speed=1e-6).golden_rule_limit()


def test_discrete_chain_converges_to_the_golden_rule_limit():
    """Exact chain moments approach the master equation at second order in the spacing h, and
    the whole work distribution approaches the sampled continuum one (Kolmogorov distance ~ h)."""
    exact = CONTINUUM.moments()
    samples = np.sort(sample_paths(CONTINUUM, seed=5, count=400_000).work.to_numpy())
    steps = [2.0**-k for k in range(7)]
    errors, distances = [], []
    for h in steps:
        spec = refined_chain(h)
        np.testing.assert_allclose(spec.golden_rule_limit().density[1:-1], DENSITY, rtol=1e-12)
        dist = spec.work_distribution()
        work, p = dist.work.to_numpy(), dist.probability.to_numpy()
        mean = p @ work
        errors.append([mean - exact["mean_work"], p @ (work - mean) ** 2 - exact["work_variance"],
                       spec.occupation_probabilities()[-1] - exact["occupation"]])
        cdf = np.cumsum(p)
        above = np.searchsorted(samples, work, side="right") / samples.size
        below = np.searchsorted(samples, work, side="left") / samples.size
        distances.append(max(np.max(np.abs(cdf - above)),
                             np.max(np.abs(np.append(0.0, cdf[:-1]) - below))))
    errors = np.abs(errors)
    ratios = errors[:-1] / errors[1:]
    assert np.all((ratios > 3.8) & (ratios < 4.3)), ratios       # O(h^2)
    assert np.all(errors[0] < 0.015) and np.all(errors[-1] < 4e-6), errors[-1]
    assert distances[0] > 0.07 and distances[-1] < 0.004, distances
    assert np.all(np.diff(distances) < 0)
