"""The two-state chain: exact DP against brute-force path enumeration; kernel against the DP."""
import functools
import itertools

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcthermo.checks import distribution_check
from mcthermo.systems.two_state_chain import TwoStateChain
from mcthermo.results import Observable


def _random_chain(rng, events, max_weight=2):
    weights = rng.integers(0, max_weight + 1, events + 1)
    return TwoStateChain(
        initial_occupation=rng.uniform(),
        keep=rng.choice([0.0, 1.0, rng.uniform()], events),
        occupation=rng.uniform(size=events),
        work_weights=weights,
        work_values=np.arange(weights.sum() + 1) * 0.3,
    )


def _enumerate(chain):
    """P(n_initial, n_final, work index) by summing over all 2^(M+1) occupation paths."""
    pmf = np.zeros((2, 2, chain.lattice_size))
    for path in itertools.product((0, 1), repeat=chain.events + 1):
        p = chain.initial_occupation if path[0] else 1 - chain.initial_occupation
        for i in range(chain.events):
            redraw = chain.occupation[i] if path[i + 1] else 1 - chain.occupation[i]
            p *= chain.keep[i] * (path[i + 1] == path[i]) + (1 - chain.keep[i]) * redraw
        pmf[path[0], path[-1], int(np.dot(path, chain.work_weights))] += p
    return pmf


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), events=st.integers(0, 8))
def test_joint_pmf_equals_path_enumeration(seed, events):
    chain = _random_chain(np.random.default_rng(seed), events)
    np.testing.assert_allclose(chain.joint_pmf(), _enumerate(chain), atol=1e-14, rtol=0)


def test_occupation_probabilities_are_the_marginals_of_the_dp():
    chain = _random_chain(np.random.default_rng(5), 6)
    p = chain.occupation_probabilities()
    assert abs(chain.joint_pmf()[:, 1].sum() - p[-1]) < 1e-14


def _joint(counts, pmf) -> Observable:
    """The joint (n_initial, n_final, work index) histogram beside its exact law, as one observable."""
    with np.errstate(divide="ignore"):
        return Observable("joint", np.arange(counts.size), counts.ravel(), np.log(pmf.ravel()))


def test_kernel_counts_follow_the_exact_pmf_and_a_wrong_chain_is_flagged():
    chain = _random_chain(np.random.default_rng(11), 7)
    counts = chain.counts(seed=3, stream=0, first=0, count=400_000, blocks=16)
    exact = chain.joint_pmf().ravel()
    assert counts.sum() == 400_000
    assert distribution_check("forward", _joint(counts, exact))["z"] < 5
    wrong = TwoStateChain(chain.initial_occupation, chain.keep, chain.occupation * 0.97,
                          chain.work_weights, chain.work_values)
    bad = wrong.counts(seed=3, stream=0, first=0, count=400_000, blocks=16)
    assert distribution_check("forward", _joint(bad, exact))["z"] > 5


def test_counts_do_not_depend_on_blocks_threads_or_splitting():
    chain = _random_chain(np.random.default_rng(2), 12)
    whole = chain.counts(9, 0, 0, 50_000, blocks=1)
    assert np.array_equal(whole, chain.counts(9, 0, 0, 50_000, blocks=37))
    split = chain.counts(9, 0, 0, 20_000, blocks=4) + chain.counts(9, 0, 20_000, 30_000, blocks=5)
    assert np.array_equal(whole, split)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert np.array_equal(whole, chain.counts(9, 0, 0, 50_000, blocks=8))
    finally:
        numba.set_num_threads(threads)


@functools.lru_cache(maxsize=None)
def _fraction(value):
    from fractions import Fraction

    return Fraction(value)


def _python_trajectory(chain, seed, stream, index):
    """The documented algorithm with Python integers and exact fractions, event by event: the
    uniform u of event e starts with 16-bit lane e (four per draw, least significant first) and
    continues, only while undecided, with 52-bit chunks of the refinement stream; G = [u < gain],
    K = [1 - u < loss], n' = G or (n and not K).  Returns (n_initial, n_final, work index, ties)."""
    from fractions import Fraction

    from reference_rng import (reference_key, reference_keyed_state, reference_refinement_key,
                               xoshiro_draws)

    key = reference_key(seed, stream)
    draws = xoshiro_draws(reference_keyed_state(key, index))
    refinement = None

    def lanes():
        for x in draws:
            for shift in (0, 16, 32, 48):
                yield (x >> shift) & 0xFFFF

    def decide(lower, width, p):  # u in [lower, lower + width): is u < p settled?
        if lower + width <= p:
            return True
        return False if lower >= p else None

    redraw = 1.0 - chain.keep
    gains = [chain.initial_occupation] + list(redraw * chain.occupation)
    losses = [chain.initial_vacancy] + list(redraw * chain.vacancy)
    n, path, ties = 0, [], 0
    for lane, gain, loss in zip(lanes(), gains, losses):
        gain, loss = _fraction(float(gain)), _fraction(float(loss))
        lower, width = Fraction(lane, 2**16), Fraction(1, 2**16)
        # the same test as decide() on the lane alone, in integers (speed)
        g = True if (lane + 1) * gain.denominator <= gain.numerator << 16 else (
            False if lane * gain.denominator >= gain.numerator << 16 else None)
        k = True if (65536 - lane) * loss.denominator <= loss.numerator << 16 else (
            False if (65535 - lane) * loss.denominator >= loss.numerator << 16 else None)
        ties += g is None or k is None
        while g is None or k is None:
            if refinement is None:
                refinement = xoshiro_draws(reference_keyed_state(reference_refinement_key(key), index))
            width /= 2**52
            lower += (next(refinement) >> 12) * width
            g = decide(lower, width, gain) if g is None else g
            k = decide(1 - lower - width, width, loss) if k is None else k
        n = int(g or (n and not k))
        path.append(n)
    return path[0], n, int(np.dot(path, chain.work_weights)), ties


def test_kernel_paths_equal_a_pure_python_reference():
    chain = _random_chain(np.random.default_rng(4), 7)
    n0, n1, m = chain.paths(5, 1, 100, 40)
    for t in range(40):
        assert _python_trajectory(chain, 5, 1, 100 + t)[:3] == (n0[t], n1[t], m[t])


@pytest.mark.parametrize("events", [0, 30, 31, 32, 63, 64, 95, 130])
def test_block_boundaries_and_weights_follow_the_reference(events):
    """Chains ending just before, at and after a 32-event block boundary; unequal weights (set-bit
    loop) and equal ones (popcount) both occur."""
    rng = np.random.default_rng(events)
    chain = _random_chain(rng, events, max_weight=3)
    n0, n1, m = chain.paths(8, 1, 1000, 30)
    for t in range(30):
        assert _python_trajectory(chain, 8, 1, 1000 + t)[:3] == (n0[t], n1[t], m[t])
    uniform = TwoStateChain(0.4, np.full(events, 0.3), np.full(events, 0.6),
                            np.ones(events + 1, dtype=np.int64), np.arange(events + 2.0))
    n0, n1, m = uniform.paths(8, 1, 1000, 30)
    for t in range(30):
        assert _python_trajectory(uniform, 8, 1, 1000 + t)[:3] == (n0[t], n1[t], m[t])


def test_tied_lanes_are_settled_as_in_the_exact_reference():
    """Long chains hit 16-bit ties (rate 2**-15 per event); tiny and near-one probabilities only
    settle through the refinement stream.  Every path equals the exact-fraction reference."""
    rng = np.random.default_rng(21)
    events = 2000
    occupation = rng.choice([1e-300, 3e-17, 2.0**-16 * 3 + 1e-19, 0.3, 1.0 - 2.0**-40], events)
    weights = rng.integers(0, 3, events + 1)
    chain = TwoStateChain(initial_occupation=1e-200, keep=rng.choice([0.0, 0.3], events),
                          occupation=occupation, vacancy=1.0 - occupation, work_weights=weights,
                          work_values=np.arange(weights.sum() + 1.0))
    n0, n1, m = chain.paths(2, 0, 0, 300)
    ties = 0
    for t in range(300):
        *path, tied = _python_trajectory(chain, 2, 0, t)
        assert tuple(path) == (n0[t], n1[t], m[t])
        ties += tied
    assert ties >= 5  # the tie path was exercised (expected ~18)


def test_paths_agree_with_counts():
    chain = _random_chain(np.random.default_rng(4), 5)
    n0, n1, m = chain.paths(5, 1, 100, 3000)
    counts = np.zeros((2, 2, chain.lattice_size), dtype=np.int64)
    np.add.at(counts, (n0, n1, m), 1)
    assert np.array_equal(counts, chain.counts(5, 1, 100, 3000, blocks=3))


def test_bad_chains_are_refused():
    import pytest

    with pytest.raises(ValueError, match="probabilities"):
        TwoStateChain(0.5, np.array([1.2]), np.array([0.5]), np.array([1, 1]), np.arange(3.0))
    with pytest.raises(ValueError, match="work_weights"):
        TwoStateChain(0.5, np.array([0.2]), np.array([0.5]), np.array([1]), np.arange(2.0))


def test_single_path_occupations_are_the_same_draws_as_the_counts():
    chain = _random_chain(np.random.default_rng(8), 9)
    n0, n1, m = chain.paths(3, 0, 40, 25)
    for t in range(25):
        path = chain.occupations(3, 0, 40 + t)
        assert (path[0], path[-1], int(np.dot(path, chain.work_weights))) == (n0[t], n1[t], m[t])


def test_sampled_law_at_twenty_million_trajectories():
    """The sampled joint law at 2e7 trajectories per model (G-test against the exact DP)."""
    from mcthermo import LandauZener, Staircase

    for spec in (Staircase(steps=20), LandauZener()):
        chain = spec.chain("forward")
        counts = chain.counts(seed=77, stream=0, first=0, count=20_000_000, blocks=16)
        assert distribution_check("forward", _joint(counts, chain.joint_pmf()))["z"] < 5


def test_ties_settle_through_several_refinement_chunks_exactly():
    """Probabilities built so that u ties them in its lane *and* its first 52-bit chunk: the answer
    is decided by the second chunk, exactly as the binary expansions say."""
    from reference_rng import reference_keyed_state, xoshiro_draws

    from mcthermo.kernels.chain import _settle

    refine, index = 0x1234_5678_9ABC_DEF1, 77
    draws = xoshiro_draws(reference_keyed_state(refine, index))
    first, second = next(draws) >> 12, next(draws) >> 12
    zero = np.uint64(0)
    # u = 0.[lane 0][first][second]... and gain = 0.[0][first] + 2**-69: G iff second < 2**51
    gain = (first + 0.5) * 2.0**-68
    g, k, *_, seeded = _settle(0, gain, 0.0, zero, zero, zero, zero, False, np.uint64(refine), index)
    assert seeded and (g, k) == (second < 2**51, False)
    # the complement 1 - u has digits [65535 - lane][2**52 - 1 - first]...: same construction for K
    loss = (2**52 - 1 - first + 0.5) * 2.0**-68
    g, k, *_ = _settle(65535, 0.0, loss, zero, zero, zero, zero, False, np.uint64(refine), index)
    assert (g, k) == (False, 2**52 - 1 - second < 2**51)
    # settled by the lane itself: no refinement draw
    *_, seeded = _settle(2, 3.5 / 65536, 0.0, zero, zero, zero, zero, False, np.uint64(refine), index)
    assert not seeded


def test_lane_masks_equal_elementwise_comparisons():
    from mcthermo.kernels.lanes import LANES, lane_masks

    @numba.njit
    def masks(lanes, below, above, offset):
        return lane_masks(lanes, below, above, offset)

    rng = np.random.default_rng(3)
    for _ in range(50):
        lanes = rng.integers(0, 65536, LANES).astype(np.uint16)
        below = rng.integers(0, 65536, 3 * LANES).astype(np.uint16)
        above = rng.integers(0, 65536, 3 * LANES).astype(np.uint16)
        below[rng.integers(0, 3 * LANES, 20)] = lanes[0]  # some ties
        offset = int(rng.integers(0, 2 * LANES + 1))
        low, high = below[offset:offset + LANES], above[offset:offset + LANES]
        bits = 1 << np.arange(LANES, dtype=np.uint64)
        expected = tuple(int(np.sum(bits[m])) for m in (lanes < low, lanes > high,
                                                         (lanes == low) | (lanes == high)))
        assert tuple(int(m) for m in masks(lanes, below, above, offset)) == expected


def _log_enumerate(chain):
    """ln P(n_initial, n_final, work index) by log-summing all 2^(M+1) paths, with ln f and
    ln(1 - f) from the log-odds x: ln f = -ln(1 + e^{-x})."""
    def log_draw(x, n):
        return -np.logaddexp(0.0, -x) if n else -np.logaddexp(0.0, x)

    log_pmf = np.full((2, 2, chain.lattice_size), -np.inf)
    with np.errstate(divide="ignore"):
        log_keep, log_redraw = np.log(chain.keep), np.log1p(-chain.keep)
    for path in itertools.product((0, 1), repeat=chain.events + 1):
        log_p = log_draw(chain.initial_log_odds, path[0])
        for i in range(chain.events):
            redraw = log_redraw[i] + log_draw(chain.log_odds[i], path[i + 1])
            log_p += np.logaddexp(log_keep[i] if path[i + 1] == path[i] else -np.inf, redraw)
        cell = (path[0], path[-1], int(np.dot(path, chain.work_weights)))
        log_pmf[cell] = np.logaddexp(log_pmf[cell], log_p)
    return log_pmf


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), events=st.integers(0, 7))
def test_log_joint_pmf_equals_log_path_enumeration_far_below_underflow(seed, events):
    """Log-odds up to +-2000 (probabilities e^{-2000}, zero in double precision): the log-space DP
    keeps every atom, and its occupation law is the DP's marginal."""
    rng = np.random.default_rng(seed)
    base = _random_chain(rng, events)
    x = rng.choice([-2000.0, -700.0, 0.3, 800.0], events + 1)
    with np.errstate(over="ignore"):
        chain = TwoStateChain(1.0 / (1.0 + np.exp(-x[0])), base.keep, 1.0 / (1.0 + np.exp(-x[1:])),
                              base.work_weights, base.work_values, initial_log_odds=x[0], log_odds=x[1:])
    log_pmf = chain.log_joint_pmf()
    reference = _log_enumerate(chain)
    assert np.array_equal(np.isneginf(log_pmf), np.isneginf(reference))
    finite = np.isfinite(reference)
    np.testing.assert_allclose(log_pmf[finite], reference[finite], rtol=1e-12, atol=1e-10)
    log_p, log_q = chain.log_occupation_probabilities()
    assert abs(np.logaddexp.reduce(log_pmf[:, 1].ravel()) - log_p[-1]) < 1e-10 * max(1.0, abs(log_p[-1]))
    assert abs(np.logaddexp.reduce(log_pmf[:, 0].ravel()) - log_q[-1]) < 1e-10 * max(1.0, abs(log_q[-1]))
