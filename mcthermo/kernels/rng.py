"""Counter-based random streams: one xoshiro256** generator per trajectory.

Trajectory ``t`` of stream ``s`` in a run with seed ``seed`` starts from a state derived only from
``(seed, s, t)`` by splitmix64 hashing, so what a trajectory draws never depends on the thread,
chunk or Dask worker that samples it.  Streams separate the forward and reverse protocols (and any
other independent process of one run).

The generator state is four ``uint64`` scalars passed and returned by value (Numba keeps them in
registers).  ``uniform53`` returns the top 53 bits of a draw as an integer ``k``; ``u = k / 2**53``
is uniform on the grid ``{0, 2**-53, ..., 1 - 2**-53}``.  Bernoulli draws compare ``k`` with the
integer threshold ``ceil(p * 2**53)`` (``bernoulli_threshold``), exactly as ``u < p`` would.  The chain kernel takes 16-bit lanes of a
draw and settles ties exactly from a second, ``refinement_key`` stream (see ``chain.py``).
"""
import numpy as np

from ._jit import inline

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_STREAM = np.uint64(0xD1B54A32D192ED03)
_S11 = np.uint64(11)
_S17 = np.uint64(17)
_S45 = np.uint64(45)
_S7 = np.uint64(7)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_FIVE = np.uint64(5)
_NINE = np.uint64(9)
_ONE = np.uint64(1)
#: 2**-53, the spacing of uniform53 draws.
UNIT53 = 1.0 / 9007199254740992.0


@inline
def mix64(z):
    """The splitmix64 finaliser: a bijection of uint64 with full avalanche."""
    z = np.uint64(z)  # a no-op in kernels; types Python ints (and .py_func twins) correctly
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@inline
def _rotl(x, k):
    return (x << k) | (x >> (np.uint64(64) - k))


@inline
def stream_key(seed, stream):
    """Key of one stream of a run: hashed from (seed, stream), shared by all its trajectories."""
    key = mix64(np.uint64(seed) + _GOLDEN)
    return mix64(key ^ (np.uint64(stream) * _STREAM + _GOLDEN))


@inline
def keyed_state(key, index):
    """xoshiro256** state of trajectory ``index`` of the stream with key ``key``."""
    x = mix64(np.uint64(key) ^ mix64(np.uint64(index) + _GOLDEN))
    # four successive splitmix64 outputs: distinct inputs of a bijection, never all zero
    x = x + _GOLDEN
    s0 = mix64(x)
    x = x + _GOLDEN
    s1 = mix64(x)
    x = x + _GOLDEN
    s2 = mix64(x)
    x = x + _GOLDEN
    s3 = mix64(x)
    return s0, s1, s2, s3


_REFINE = np.uint64(0x632BE59BD9B4E019)


@inline
def refinement_key(key):
    """Key of the refinement stream paired with the stream ``key`` (extra bits for rare exact ties)."""
    return mix64(np.uint64(key) ^ _REFINE)


@inline
def trajectory_state(seed, stream, index):
    """xoshiro256** state of trajectory ``index`` in ``stream`` of a run seeded with ``seed``
    (kernels sampling many trajectories hoist ``stream_key`` out of their loop)."""
    return keyed_state(stream_key(seed, stream), index)


@inline
def next_uint64(s0, s1, s2, s3):
    """One xoshiro256** step: returns (output, s0, s1, s2, s3)."""
    s0, s1, s2, s3 = np.uint64(s0), np.uint64(s1), np.uint64(s2), np.uint64(s3)
    result = _rotl(s1 * _FIVE, _S7) * _NINE
    t = s1 << _S17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, _S45)
    return result, s0, s1, s2, s3


@inline
def uniform53(s0, s1, s2, s3):
    """Top 53 bits of one draw, as an integer in [0, 2**53): returns (k, s0, s1, s2, s3)."""
    x, s0, s1, s2, s3 = next_uint64(s0, s1, s2, s3)
    return x >> _S11, s0, s1, s2, s3


@inline
def uniform(s0, s1, s2, s3):
    """A double uniform on [0, 1) with 53 random bits: returns (u, s0, s1, s2, s3)."""
    k, s0, s1, s2, s3 = uniform53(s0, s1, s2, s3)
    return float(k) * UNIT53, s0, s1, s2, s3


@inline
def exponential(s0, s1, s2, s3):
    """An Exp(1) variate, -log(1 - u) with u in [0, 1): returns (e, s0, s1, s2, s3)."""
    u, s0, s1, s2, s3 = uniform(s0, s1, s2, s3)
    return -np.log1p(-u), s0, s1, s2, s3


def bernoulli_threshold(p):
    """Integer thresholds ``ceil(p * 2**53)``: ``uniform53 < threshold`` happens with probability
    ``threshold / 2**53``, the probability ``p`` rounded up to the 2**-53 grid (exact for p = 0, 1)."""
    p = np.asarray(p, dtype=np.float64)
    if np.any(~np.isfinite(p)) or np.any(p < 0.0) or np.any(p > 1.0):
        raise ValueError("probabilities must lie in [0, 1]")
    return np.ceil(p * 9007199254740992.0).astype(np.uint64)
