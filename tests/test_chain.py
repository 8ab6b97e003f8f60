"""The two-state chain: exact DP against brute-force path enumeration; kernel against the DP."""
import itertools

import numba
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mcthermo.checks import distribution_check
from mcthermo.models.chain import TwoStateChain


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


def test_kernel_counts_follow_the_exact_pmf_and_a_wrong_chain_is_flagged():
    chain = _random_chain(np.random.default_rng(11), 7)
    counts = chain.counts(seed=3, stream=0, first=0, count=400_000, blocks=16)
    exact = chain.joint_pmf().ravel()
    assert counts.sum() == 400_000
    assert distribution_check("forward", "joint", counts.ravel(), exact)["z"] < 5
    wrong = TwoStateChain(chain.initial_occupation, chain.keep, chain.occupation * 0.97,
                          chain.work_weights, chain.work_values)
    bad = wrong.counts(seed=3, stream=0, first=0, count=400_000, blocks=16)
    assert distribution_check("forward", "joint", bad.ravel(), exact)["z"] > 5


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


def _python_trajectory(chain, seed, stream, index):
    """The documented algorithm in Python integers: xoshiro256** seeded as in kernels/rng.py, both
    32-bit halves of each draw used in turn, P(n'=1|n) = threshold_n / 2**32."""
    from reference_rng import MASK, reference_state

    state = list(reference_state(seed, stream, index))

    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & MASK

    def draws():
        while True:
            s0, s1, s2, s3 = state
            result = (rotl((s1 * 5) & MASK, 7) * 9) & MASK
            t = (s1 << 17) & MASK
            s2 ^= s0
            s3 ^= s1
            s1 ^= s2
            s0 ^= s3
            s2 ^= t
            state[:] = [s0, s1, s2, rotl(s3, 45)]
            yield result >> 32
            yield result & 0xFFFFFFFF

    initial, empty, occupied = (np.asarray(a, dtype=object) for a in chain.thresholds())
    uniforms = draws()
    n = int(next(uniforms) < initial)
    n_initial, work = n, n * int(chain.work_weights[0])
    for i in range(chain.events):
        k = next(uniforms)
        n = int(k < (occupied[i] if n else empty[i]))
        work += n * int(chain.work_weights[i + 1])
    return n_initial, n, work


def test_kernel_paths_equal_a_pure_python_reference():
    chain = _random_chain(np.random.default_rng(4), 7)
    n0, n1, m = chain.paths(5, 1, 100, 40)
    for t in range(40):
        assert _python_trajectory(chain, 5, 1, 100 + t) == (n0[t], n1[t], m[t])


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
    """The 32-bit Bernoulli resolution is invisible at 2e7 trajectories (G-test of the joint law)."""
    from mcthermo import LandauZener, Staircase

    for spec in (Staircase(steps=20), LandauZener()):
        chain = spec.chain("forward")
        counts = chain.counts(seed=77, stream=0, first=0, count=20_000_000, blocks=16)
        assert distribution_check("forward", "joint", counts.ravel(), chain.joint_pmf().ravel())["z"] < 5
