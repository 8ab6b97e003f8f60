"""Exact generating functions ln<e^{-sX}> of stroke protocols and chains (tilted transfer matrices,
the tilt e^{-sX}) and their finite-time Doob transform, against brute-force path enumeration written from the
protocol's definition (Gibbs weights, energies), the exact DP laws, and the staircase's closed form."""
import itertools

import numpy as np
import pytest
from scipy.special import logsumexp

import mcthermo as mt
from mcthermo.exact.strokes_dp import doob_chain, log_joint_pmf
from mcthermo.systems.bath import Bath

S = np.array([-1.3, -0.2, 0.0, 0.4, 1.0, 2.5, 7.0])


def protocol(rng, particles=(0, 1, 1)):
    """d = 3 with particles, two baths (one with mu), unitary quenches within the particle blocks."""
    t = np.eye(3)
    u = np.linalg.qr(rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)))[0]
    t[1:, 1:] = np.abs(u) ** 2
    return mt.Strokes(energies=[0.0, 0.5, 1.5], particles=particles,
                      baths={"hot": Bath(beta=0.4, mu=0.5), "cold": Bath(beta=1.7)}, initial="cold",
                      strokes=[mt.Quench([0.0, 1.0, 2.5], t), mt.Thermalize("hot", 0.6),
                               mt.Quench([0.0, 0.5, 1.5], t.T), mt.Thermalize("cold", 0.8)], cycles=2)


def enumerate_paths(spec: mt.Strokes):
    """Every level path with its probability and observables, from the strokes themselves."""
    d, n = spec.levels, spec.level_particles
    e0 = np.asarray(spec.energies)
    if isinstance(spec.initial, str):
        bath = spec.baths[spec.initial]
        p0 = np.exp(-bath.beta * (e0 - bath.mu * n))
        p0 /= p0.sum()
    else:
        p0 = np.asarray(spec.initial)
    strokes = spec.expanded()
    rows = []
    for path in itertools.product(range(d), repeat=len(strokes) + 1):
        p, work, heat, energies = p0[path[0]], 0.0, {b: 0.0 for b in spec.baths}, e0
        for stroke, a, b in zip(strokes, path, path[1:]):
            if isinstance(stroke, mt.Quench):
                t = np.eye(d) if stroke.transitions is None else stroke.transitions
                p *= t[a, b]
                new = np.asarray(stroke.energies)
                work += new[b] - energies[a]
                energies = new
            else:
                bath = spec.baths[stroke.bath]
                pi = np.exp(-bath.beta * (energies - bath.mu * n))
                pi /= pi.sum()
                p *= (1 - stroke.strength) * (a == b) + stroke.strength * pi[b]
                heat[stroke.bath] += energies[b] - energies[a] - bath.mu * (n[b] - n[a])
        if p > 0:
            rows.append((path[0], path[-1], p, work, heat))
    final = np.zeros(d)
    for _, j, p, _, _ in rows:
        final[j] += p
    out = []
    for i, j, p, work, heat in rows:
        sigma = np.log(p0[i]) - np.log(final[j]) - sum(spec.baths[b].beta * q for b, q in heat.items())
        out.append((p, {"work": work, **{f"heat_{b}": q for b, q in heat.items()}, "entropy_production": sigma}))
    return out


def brute_log_g(paths, name, s):
    p = np.array([p for p, _ in paths])
    x = np.array([values[name] for _, values in paths])
    return logsumexp(np.log(p)[None, :] - np.asarray(s)[:, None] * x[None, :], axis=1)


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_generating_functions_match_path_enumeration(direction):
    spec = protocol(np.random.default_rng(5))
    paths = enumerate_paths(spec if direction == "forward" else spec.reverse())
    for name in ("work", "heat_hot", "heat_cold", "entropy_production"):
        exact = spec.log_generating_function(name, S, direction)
        assert exact.shape == S.shape
        np.testing.assert_allclose(exact, brute_log_g(paths, name, S), rtol=1e-12, atol=1e-12)
        scalar = spec.log_generating_function(name, 0.4, direction)
        assert isinstance(scalar, float) and scalar == exact[3]
    # the integral fluctuation theorem: <e^{-sigma}> = 1
    assert abs(spec.log_generating_function("entropy_production", 1.0, direction)) < 1e-13


def test_generating_functions_match_the_exact_dp_laws():
    """logsumexp over the law of (initial, final, lattice) cells, incommensurate energies included."""
    rng = np.random.default_rng(2)
    u = np.linalg.qr(rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3)))[0]
    spec = mt.Strokes(energies=[0.0, 1.0, np.sqrt(2.0)], baths={"hot": Bath(beta=0.5), "cold": Bath(beta=2.0)},
                      initial="cold", strokes=[mt.Quench([0.0, np.sqrt(3.0), 2.0]), mt.Thermalize("hot", 0.5),
                                               mt.Quench([0.0, 1.0, np.sqrt(2.0)], np.abs(u) ** 2),
                                               mt.Thermalize("cold")], cycles=2)
    engine = spec.engine("forward")
    log_pmf = np.ravel(log_joint_pmf(engine.chain, engine.box))
    grids = engine.cell_values(np.arange(log_pmf.size))
    for name, grid in grids.items():
        expected = logsumexp(log_pmf[None, :] - S[:, None] * grid[None, :], axis=1)
        np.testing.assert_allclose(spec.log_generating_function(name, S), expected, rtol=1e-12, atol=1e-12)


def test_staircase_closed_form_and_jarzynski():
    """Staircase work = d * (excited draws), independent Bernoulli(P_j): ln G = sum ln(1 - P_j + P_j e^{-s d})."""
    spec = mt.Staircase(beta=1.3, gap_start=0.2, gap_end=2.0, steps=40)
    p = spec.excitation_probabilities()[:-1]
    closed = np.array([np.sum(np.log1p(p * np.expm1(-s * spec.step))) for s in S])
    np.testing.assert_allclose(spec.log_generating_function("work", S), closed, rtol=1e-12, atol=1e-13)
    assert spec.log_generating_function("work", spec.beta) == pytest.approx(
        -spec.beta * spec.free_energy_change(), rel=1e-13)
    assert spec.log_generating_function("work", spec.beta, "reverse") == pytest.approx(
        spec.beta * spec.free_energy_change(), rel=1e-13)
    # the one-step quench: <e^{-W}> = 1.607, carried by excited starts (2.1e-9)
    quench = mt.Staircase(beta=1.0, gap_start=20.0, gap_end=0.5, steps=1)
    assert np.exp(quench.log_generating_function("work", 1.0)) == pytest.approx(
        (1 + np.exp(-0.5)) / (1 + np.exp(-20.0)), rel=1e-14)
    # far tilts stay finite in log space: ln<e^{-sW}> -> -s W_min + ln P(W_min)
    assert spec.log_generating_function("work", 1e4) == pytest.approx(np.log(1 - p).sum(), rel=1e-12)


def test_chain_models_read_their_observables_off_the_stroke_chain():
    """Every column of a chain model (heat, entropy production, chemical work) against its DP law."""
    for spec in (mt.LandauZener(levels=(1.0, 2.5, 4.0), mu=2.0), mt.Staircase(steps=6)):
        chain = spec.chain("forward")
        log_pmf = np.ravel(chain.log_joint_pmf())
        grids = spec._observable_grids("forward", chain)
        for name, grid in grids.items():
            grid = np.ravel(grid)
            reached = log_pmf > -np.inf
            expected = logsumexp(log_pmf[None, reached] - S[:, None] * grid[None, reached], axis=1)
            np.testing.assert_allclose(spec.log_generating_function(name, S), expected, rtol=1e-12,
                                       atol=1e-12, err_msg=f"{spec.name} {name}")


def test_unknown_observables_are_named():
    spec = protocol(np.random.default_rng(5))
    with pytest.raises(ValueError, match="'jumps_a'"):
        spec.log_generating_function("jumps_a", 1.0)
    with pytest.raises(ValueError, match="'efficiency'"):
        spec.log_generating_function("efficiency", 1.0)
    with pytest.raises(ValueError, match="'heat_hot'"):
        mt.Staircase(steps=3).log_generating_function("heat_hot", 1.0)
    with pytest.raises(ValueError, match="direction"):
        spec.log_generating_function("work", 1.0, "backward")


def test_doob_chain_samples_the_tilted_path_law_exactly():
    """Q(path) = P(path) e^{-sX} / G(s) on every path (the tilt of the generating function G(s) = <e^{-sX}>), endpoint terms included."""
    spec = protocol(np.random.default_rng(7))
    engine = spec.engine("forward")
    paths = enumerate_paths(spec)
    chain = engine.chain
    for name, s in (("work", 1.3), ("entropy_production", 0.6), ("heat_hot", -0.8)):
        tilted, log_g = doob_chain(chain, s, *engine.observable_terms(name))
        assert log_g == pytest.approx(spec.log_generating_function(name, s), rel=1e-14, abs=1e-14)
        assert np.allclose(logsumexp(tilted.log_transition, axis=2), 0.0, atol=1e-14)
        assert np.array_equal(tilted.possible(), chain.possible())
        # path probabilities in both chains, enumerated level path by level path
        d, steps = chain.levels, chain.steps
        worst = 0.0
        for path, (p, values) in zip(_level_paths(chain), paths):
            q = tilted.log_initial[path[0]] + sum(tilted.log_transition[n, path[n], path[n + 1]]
                                                  for n in range(steps))
            worst = max(worst, abs(q - (np.log(p) - s * values[name] - log_g)))
        assert worst < 1e-12


def _level_paths(chain):
    """Level paths of non-zero probability, in the order of ``enumerate_paths``."""
    d = chain.levels
    for path in itertools.product(range(d), repeat=chain.steps + 1):
        log_p = chain.log_initial[path[0]] + sum(chain.log_transition[n, path[n], path[n + 1]]
                                                 for n in range(chain.steps))
        if log_p > -np.inf:
            yield path
