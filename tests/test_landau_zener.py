"""Landau–Zener crossings (seed 001, spec Model B): the spec's numbers, exact answers against
brute-force path enumeration, fluctuation theorems for every R, Monte Carlo checks, input handling."""
import argparse
import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

from mcthermo.models.landau_zener import (LandauZener, LandauZenerValidityWarning, fermi,
                                          grand_potential, relative_entropy,
                                          relative_entropy_to_thermal, thermal_log_odds)
from mcthermo.tables import build as build_tables

BETA, MU = 1.2, 3.0
SEED = LandauZener()
IRREGULAR = LandauZener(levels=(1, 2, 3, 4, 5, 6), level_start=0.37, level_end=6.81)
INCOMMENSURATE = LandauZener(levels=(1.0, 2.0, 2.0 + 2**0.5, 3.0 + 2**0.5, 4.5 + 2**0.5),
                             level_start=0.1, level_end=6.4 + np.pi / 10)


def with_keep(keep, levels=tuple(range(1, 10)), start=0.0, end=10.0):
    """A spec with prescribed R_i: R = 0 by a very slow crossing, R = 1 by zero gap, else the gap
    delta = sqrt(-2 ln R / pi) at unit speed."""
    keep = np.broadcast_to(np.asarray(keep, float), (len(levels),))
    speeds = np.where(keep == 0.0, 1e-6, 1.0)
    gaps = np.where((keep == 0.0) | (keep == 1.0), 0.4 * (keep == 0.0),
                    np.sqrt(-2.0 * np.log(np.clip(keep, 1e-300, 1.0)) / np.pi))
    spec = LandauZener(BETA, MU, tuple(levels), gaps=tuple(gaps), speeds=tuple(speeds),
                       level_start=start, level_end=end)
    np.testing.assert_allclose(spec.keep_probabilities(), keep, rtol=1e-14, atol=0)
    return spec


def _mixed():
    keep = np.random.default_rng(12345).uniform(0.3, 1.0, 9)
    keep[0], keep[-1] = 0.0, 1.0
    return keep


KEEP_SETS = {"R=0": 0.0, "R=0.5": 0.5, "R=1": 1.0, "R_LZ": float(SEED.keep_probabilities()[0]),
             "mixed": _mixed()}


# --- the spec's numbers ----------------------------------------------------------------------------
def test_seed_numbers():
    assert abs(SEED.keep_probabilities()[0] - 0.7777676792) < 1e-10
    assert abs(SEED.mean_work() - 6.1882533489) < 1e-9
    assert abs(SEED.free_energy_change() - 3.0222768758) < 1e-9
    p = [0.973403, 0.960830, 0.918094, 0.825180, 0.693239, 0.557663, 0.439643, 0.343754,
         0.267910, 0.208538]
    sigma = [0.012416, 0.066820, 0.180047, 0.311365, 0.395382, 0.424233, 0.417917, 0.392738,
             0.358326]
    np.testing.assert_allclose(SEED.occupation_probabilities(), p, rtol=0, atol=5e-7)
    np.testing.assert_allclose(SEED.crossings().entropy_production, sigma, rtol=0, atol=5e-7)
    dp = SEED.work_distribution()
    assert abs(np.dot(dp.work, dp.probability) - 6.1882533489) < 1e-9
    assert abs(LandauZener(levels=(1, 2, 3, 4, 5, 6), level_end=7.0).free_energy_change()
               - 3.0156341881) < 1e-9


# --- entropy production per crossing ------------------------------------------------------------
def _random_specs(count, seed=7):
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LandauZenerValidityWarning)
        for _ in range(count):
            levels = np.sort(rng.uniform(-3, 8, rng.integers(1, 12)))
            yield LandauZener(rng.uniform(0.1, 3), rng.uniform(-2, 6), tuple(levels),
                              gaps=tuple(rng.uniform(0, 1.5, levels.size)),
                              speeds=tuple(rng.uniform(0.05, 3, levels.size)),
                              level_start=levels[0] - rng.uniform(0.1, 2),
                              level_end=levels[-1] + rng.uniform(0.1, 2))


def reference_crossings(spec, direction):
    """Occupations p_1 .. p_{L+1} and per-crossing Sigma_i from scratch: p_{i+1} = R_i p_i +
    (1 - R_i) f_i, and the second law Sigma_i = S(p_{i+1}) - S(p_i) - beta Q_i with Shannon S and
    heat Q_i = (eps_i - mu)(p_{i+1} - p_i) (the log-ratio of a detailed-balanced crossing)."""
    e = spec.positions(direction)
    keep = np.exp(-np.pi * spec.gap_array**2 / (2 * spec.speed_array))
    keep = keep if direction == "forward" else keep[::-1]
    p = [1.0 / (1.0 + np.exp(spec.beta * (e[0] - spec.mu)))]
    for level, r in zip(e[1:-1], keep):
        p.append(r * p[-1] + (1 - r) / (1.0 + np.exp(spec.beta * (level - spec.mu))))
    p = np.array(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nan_to_num(p * np.log(p)) - np.nan_to_num((1 - p) * np.log1p(-p))
    return p, np.diff(entropy) - spec.beta * (e[1:-1] - spec.mu) * np.diff(p)


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_entropy_production_forms_agree_and_both_laws_hold(direction):
    worst = 0.0
    for spec in [SEED, IRREGULAR, *_random_specs(300)]:
        c = spec.crossings(direction)
        p, sigma = reference_crossings(spec, direction)
        x = thermal_log_odds(spec.beta, spec.mu, c.level)
        relaxation = (relative_entropy_to_thermal(c.occupation, x)
                      - relative_entropy_to_thermal(c.occupation_after, x))
        # beta (<W_m> - dOmega_eq) = sum_i Sigma_i + D(p_{L+1} || f(end))
        sign = 1.0 if direction == "forward" else -1.0
        end = thermal_log_odds(spec.beta, spec.mu, spec.positions(direction)[-1])
        total = (spec.beta * (spec.mean_work(direction) - sign * spec.free_energy_change())
                 - relative_entropy_to_thermal(spec.occupation_probabilities(direction)[-1], end))
        errors = [c.entropy_production - c.entropy_production_eq7, c.entropy_production - relaxation,
                  c.first_law_residual, c.second_law_residual, [c.entropy_production.sum() - total],
                  c.occupation - p[:-1], c.occupation_after - p[1:], c.entropy_production - sigma]
        worst = max(worst, max(np.max(np.abs(e)) for e in errors))
        assert c.entropy_production.min() > -1e-14
    assert worst < 1e-13


def test_eq7_needs_the_pinned_indices():
    """Using f_i instead of f_{i+1} in Eq. (7) is visibly wrong (spec: off by up to 0.655)."""
    c = SEED.crossings()
    after = np.append(c.level[1:], SEED.level_end)
    dissipated = c.mechanical_work - (grand_potential(BETA, MU, after) - grand_potential(BETA, MU, c.level))
    wrong = (BETA * dissipated - relative_entropy(c.occupation_after, c.thermal_occupation)
             + relative_entropy(c.occupation, c.thermal_occupation))
    assert np.max(np.abs(wrong - c.entropy_production)) > 0.5


# --- exact distributions against brute-force path enumeration -----------------------------------
def entropy_production_paths(spec, direction):
    """Every occupation path of one protocol: (n_initial, n_final, work, P[path], ln P[path] /
    P~[reversed path]), P~ the crossings run backwards from the final occupation p_{L+1} (the
    definition of sigma), straight from the physics."""
    e = spec.positions(direction)
    f = fermi(spec.beta, spec.mu, e)
    keep = np.exp(-np.pi * spec.gap_array**2 / (2 * spec.speed_array))
    keep = keep if direction == "forward" else keep[::-1]
    p_final, _ = reference_crossings(spec, direction)

    def step(new, old, i):  # crossing i of this protocol: keep w.p. R_i, else redraw from f(e_{i+1})
        return keep[i] * (new == old) + (1 - keep[i]) * (f[i + 1] if new else 1 - f[i + 1])

    for n in itertools.product((0, 1), repeat=len(keep) + 1):
        forward = (f[0] if n[0] else 1 - f[0]) * np.prod([step(n[i + 1], n[i], i) for i in range(len(keep))])
        backward = ((p_final[-1] if n[-1] else 1 - p_final[-1])
                    * np.prod([step(n[i], n[i + 1], i) for i in range(len(keep))]))
        if forward > 0:
            yield n[0], n[-1], float(np.dot(n, np.diff(e))), forward, float(np.log(forward / backward))


def enumerate_paths(spec):
    """Every occupation path (n_0..n_L) with its forward and reverse probabilities and its work,
    straight from the physics (not from the chain arrays)."""
    e = np.array([spec.level_start, *spec.levels, spec.level_end])
    f = fermi(spec.beta, spec.mu, e)
    keep = np.exp(-np.pi * spec.gap_array**2 / (2 * spec.speed_array))
    L = len(spec.levels)

    def step(new, old, i):  # crossing i (0-based): keep w.p. R_i, else redraw from f(eps_i)
        return keep[i] * (new == old) + (1 - keep[i]) * (f[i + 1] if new else 1 - f[i + 1])

    for n in itertools.product((0, 1), repeat=L + 1):
        forward = (f[0] if n[0] else 1 - f[0]) * np.prod([step(n[i + 1], n[i], i) for i in range(L)])
        reverse = (f[-1] if n[-1] else 1 - f[-1]) * np.prod([step(n[i], n[i + 1], i) for i in range(L)])
        yield n, forward, reverse, float(np.dot(n, np.diff(e)))


@pytest.mark.parametrize("spec", [SEED, IRREGULAR, INCOMMENSURATE, with_keep(_mixed())],
                         ids=["seed", "irregular", "incommensurate", "mixed"])
def test_dynamic_programming_equals_path_enumeration(spec):
    paths = list(enumerate_paths(spec))
    for direction, column, sign in (("forward", 1, 1.0), ("reverse", 2, -1.0)):
        chain = spec.chain(direction)
        pmf = chain.joint_pmf()
        # marginal over the work lattice and the (n_initial, n_final) marginal
        exact = pd.DataFrame({"work": np.round(sign * np.array([p[3] for p in paths]), 9) + 0.0,
                              "probability": [p[column] for p in paths]})
        exact = exact.groupby("work").probability.sum()
        dp = spec.work_distribution(direction).set_index(np.round(spec.work_distribution(direction).work, 9))
        np.testing.assert_allclose(dp.probability.reindex(exact.index, fill_value=0.0), exact,
                                   atol=1e-15, rtol=0)
        ends = np.zeros((2, 2))
        for n, *prob, _ in paths:
            first, last = (n[0], n[-1]) if direction == "forward" else (n[-1], n[0])
            ends[first, last] += prob[column - 1]
        np.testing.assert_allclose(pmf.sum(axis=2), ends, atol=1e-15, rtol=0)


def test_work_lattices():
    """The compiled chains' lattices: one quantum where the rises are commensurate and that lattice
    is no larger than the mixed-radix one over distinct rises; else mixed radix."""
    assert SEED.chain().lattice_size == 11
    assert IRREGULAR.chain().lattice_size == 24          # groups {0.63}, {1 x 5}, {0.81}: 2 * 6 * 2
    # rises 0.9, 1, sqrt 2, 1, 1.5, 0.8 + pi/10: the two unit rises lie on different energy quanta
    # (1 -> 2 on the rational axis, 2 + sqrt 2 -> 3 + sqrt 2 between two irrational ones): 2**6
    assert INCOMMENSURATE.chain().lattice_size == 2**6
    commensurate = LandauZener(levels=(0.5, 1.5, 3.0, 5.0, 7.5, 10.5), level_start=0.0, level_end=11.0)
    np.testing.assert_array_equal(commensurate.chain().work_weights, [1, 2, 3, 4, 5, 6, 1])  # unit 0.5
    assert commensurate.chain().lattice_size == 23
    assert abs(commensurate.chain().work_values[-1] - 11.0) < 1e-15
    rng = np.random.default_rng(1)
    with pytest.raises(ValueError, match="work lattice"):
        LandauZener(levels=tuple(np.cumsum(rng.uniform(1, 2, 20))), level_end=60.0)
    reverse = SEED.chain("reverse")
    assert reverse.work_values[-1] == -10.0 and np.all(np.diff(reverse.work_values) < 0)


# --- fluctuation theorems: exact for every R ---------------------------------------------------------
@pytest.mark.parametrize("keep", KEEP_SETS.values(), ids=KEEP_SETS.keys())
@pytest.mark.parametrize("protocol", [dict(), dict(levels=(1, 2, 3, 4, 5, 6), start=0.37, end=6.81)],
                         ids=["L=9", "L=6 irregular"])
def test_jarzynski_crooks_and_integral_ft_are_exact(keep, protocol):
    if np.ndim(keep) and "levels" in protocol:
        keep = keep[:6]
    spec = with_keep(keep, **protocol)
    beta, dOmega = spec.beta, spec.free_energy_change()
    forward, reverse = spec.work_distribution("forward"), spec.work_distribution("reverse")
    assert abs(np.dot(forward.probability, np.exp(-beta * (forward.work - dOmega))) - 1) < 1e-12
    assert abs(np.dot(reverse.probability, np.exp(-beta * (reverse.work + dOmega))) - 1) < 1e-12
    pf = forward.set_index(np.round(forward.work, 9)).probability
    pr = reverse.set_index(np.round(-reverse.work, 9) + 0.0).probability
    assert set(pf.index) == set(pr.index)
    crooks = np.log(pf / pr.reindex(pf.index)) - beta * (pf.index.to_numpy() - dOmega)
    assert np.max(np.abs(crooks)) < 1e-12
    # per path: ln P_F[n] / P_R[reversed n] = beta (W - dOmega)
    for n, p_f, p_r, w in enumerate_paths(spec):
        assert (p_f > 0) == (p_r > 0)
        if p_f > 0:
            assert abs(np.log(p_f / p_r) - beta * (w - dOmega)) < 1e-12
    # sigma of the model (a function of n_initial, n_final, W_m) is ln P[path] / P~[reversed path]
    # of every path, so <e^{-sigma}> = sum of P~ = 1
    for direction in ("forward", "reverse"):
        n0, n1, work, probability, sigma = map(np.array, zip(*entropy_production_paths(spec, direction)))
        model = spec.observables(direction, n0, n1, work)["entropy_production"]
        assert np.max(np.abs(model - sigma)) < 1e-12
        assert abs(np.sum(probability * np.exp(-model)) - 1) < 1e-12


def test_low_temperature_keeps_every_atom():
    """beta (eps - mu) up to 240: f rounds to 0 or 1 in double precision, so the chain carries the
    vacancy 1 - f from the log-odds.  The DP then keeps the rare atoms that Jarzynski weighs with
    e^{-beta W} (storing 1 - f by subtraction lost them: forward <e^{-beta (W - dOmega)}> = 0.111)."""
    spec = LandauZener(beta=40.0)
    for direction, sign in (("forward", 1.0), ("reverse", -1.0)):
        law = spec.work_distribution(direction)
        log_terms = np.log(law.probability[law.probability > 0]) - spec.beta * (
            law.work[law.probability > 0] - sign * spec.free_energy_change())
        assert abs(np.exp(np.logaddexp.reduce(log_terms)) - 1.0) < 1e-10
    tables = _sample(spec, count=200_000)
    assert (tables["checks"].verdict != "failed").all()
    assert np.isfinite(tables["crossings"].entropy_production).all()


# --- Monte Carlo ----------------------------------------------------------------------------------
def _sample(spec, sampler=None, count=10**6, seed=2024):
    sampler = sampler or spec
    return build_tables(spec.results({d: sampler.accumulate(d, seed, 0, count) for d in ("forward", "reverse")}))


@pytest.mark.parametrize("spec", [SEED, with_keep(_mixed()), IRREGULAR], ids=["seed", "mixed", "irregular"])
def test_monte_carlo_passes_every_check(spec):
    tables = _sample(spec)
    checks = tables["checks"]
    assert set(checks.check) >= {"mean", "variance", "distribution", "jarzynski", "crooks",
                                 "crooks_linearity", "integral_ft"}
    assert checks.passed.all(), checks.loc[~checks.passed, ["check", "direction", "observable", "z"]]
    assert checks.z.abs().max() < 5
    assert set(tables) == {"histogram", "summary", "checks", "crossings"}
    assert len(tables["crossings"]) == 2 * len(spec.levels) and tables["crossings"].exact.all()


def test_a_shifted_crossing_is_flagged():
    """Trajectories sampled with R_5 = 0.5 instead of 0.778 fail the checks of the true spec."""
    speeds = np.ones(9)
    speeds[4] = np.pi * 0.4**2 / (2 * np.log(2.0))  # R_5 = 0.5
    wrong = LandauZener(speeds=tuple(speeds))
    checks = _sample(SEED, sampler=wrong)["checks"]
    failed = checks[~checks.passed]
    assert {"distribution", "mean"} <= set(failed.check)
    assert failed.z.abs().max() > 20


def test_a_wrong_grand_potential_is_flagged():
    class WrongOmega(LandauZener):
        def free_energy_change(self):
            return super().free_energy_change() + 0.05

    checks = _sample(WrongOmega())["checks"]
    failed = set(zip(checks.check[~checks.passed], checks.direction[~checks.passed]))
    # the reverse Jarzynski average is dominated by rare paths (stderr 0.026 at 10^6): not flagged
    assert failed == {("jarzynski", "forward"), ("bar", "both"), ("crooks", "both"), ("crooks_linearity", "both")}


# --- input, warnings, command line ---------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,message", [
    (dict(levels=(1, 3, 2)), "strictly ascending"),
    (dict(levels=(1, 2, 2, 3)), "strictly ascending"),
    (dict(level_start=1.0), "level_start"),
    (dict(level_end=9.0), "level_end"),
    (dict(coupling=-0.1), "coupling"),
    (dict(gaps=(0.4,) * 8 + (-0.4,)), "gaps"),
    (dict(speed=-1.0), "speed"),
    (dict(speeds=(1.0,) * 8 + (0.0,)), "speed"),
    (dict(speeds=(1.0,) * 3), "one value per level"),
    (dict(speed=0.0), "speed must be > 0"),
    (dict(coupling=0.2, gaps=(0.4,) * 9), "not both"),
    (dict(beta=np.nan), "beta"),
    (dict(mu=np.inf), "mu"),
    (dict(levels=(1.0, np.nan)), "levels"),
    (dict(levels=()), "levels"),
    (dict(beta=0.0), "beta"),
])
def test_bad_input_is_one_clear_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message) as error:
        LandauZener(**kwargs)
    assert "\n" not in str(error.value)


def test_validity_warning_names_the_crossing():
    with pytest.warns(LandauZenerValidityWarning, match=r"crossing 2 \(level 2\)"):
        LandauZener(levels=(1, 2, 2.5, 4), level_end=5.0)  # spacing 0.5 < sqrt(speed) = 1
    with pytest.warns(LandauZenerValidityWarning, match="crossing 1 "):
        LandauZener(gaps=(1.5,) + (0.4,) * 8)            # delta_1 = 1.5 > spacing 1


def _parser():
    parser = argparse.ArgumentParser(exit_on_error=False)
    LandauZener.add_arguments(parser)
    return parser


def test_command_line_options():
    args = _parser().parse_args("--beta 1.2 --mu 3 --levels 1,2,3,4,5,6,7,8,9 --coupling 0.2 --speed 1 "
                                "--level-start 0 --level-end 10".split())
    assert LandauZener.from_arguments(args) == SEED
    assert LandauZener.from_arguments(_parser().parse_args([])) == SEED
    spec = LandauZener.from_arguments(_parser().parse_args(
        ["--levels", "1,2,3", "--gaps", "0.1,0.2,0.3", "--speeds", "0.5,0.7,0.9", "--level-end", "4"]))
    np.testing.assert_allclose(spec.keep_probabilities(),
                               np.exp(-np.pi * np.array([0.1, 0.2, 0.3])**2 / (2 * np.array([0.5, 0.7, 0.9]))))
    assert LandauZener.from_parameters(spec.parameters()) == spec
    assert LandauZener.from_parameters(SEED.parameters()) == SEED


def test_cli_sample_and_bad_input(tmp_path, monkeypatch, capsys):
    from mcthermo import cli, read

    monkeypatch.setitem(cli.MODELS, "lz", LandauZener)
    for argv in (["--levels", "3,2,1"], ["--coupling", "-1"], ["--levels", "1,two"]):
        try:
            code = cli.main(["sample", "lz", *argv, "--quiet"])
        except SystemExit as exit_:  # argparse errors
            code = exit_.code
        assert code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 3
    assert "strictly ascending" in error[0] and "coupling must be >= 0" in error[1]
    assert "comma-separated" in error[2]
    out = tmp_path / "lz"
    assert cli.main(["sample", "lz", "--trajectories", "20000", "--seed", "7", "--reverse",
                     "--out", str(out), "--quiet"]) == 0
    run = read(out)
    assert (out / "crossings.parquet").exists() and run.checks.passed.all()
    np.testing.assert_allclose(run.tables["crossings"].query("direction == 'forward'").entropy_production,
                               SEED.crossings().entropy_production, rtol=1e-15)
