"""Independent Python-integer implementation of the documented stream derivation (kernels/rng.py),
transcribed from the authors' C code: splitmix64.c (Vigna, after Steele, Lea and Flood 2014) and
xoshiro256starstar.c (Blackman and Vigna), https://prng.di.unimi.it/."""

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def splitmix_finaliser(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def splitmix64_draws(x):
    """Endless splitmix64 outputs from the state ``x``: x += golden gamma, then the finaliser."""
    while True:
        x = (x + GOLDEN) & MASK
        yield splitmix_finaliser(x)


def reference_key(seed, stream):
    key = splitmix_finaliser((seed + GOLDEN) & MASK)
    return splitmix_finaliser(key ^ ((stream * 0xD1B54A32D192ED03 + GOLDEN) & MASK))


def reference_refinement_key(key):
    return splitmix_finaliser(key ^ 0x632BE59BD9B4E019)


def reference_keyed_state(key, index):
    draws = splitmix64_draws(splitmix_finaliser(key ^ splitmix_finaliser((index + GOLDEN) & MASK)))
    return tuple(next(draws) for _ in range(4))


def reference_state(seed, stream, index):
    """The documented derivation in Python integers (independent of Numba's uint64 typing)."""
    return reference_keyed_state(reference_key(seed, stream), index)


def xoshiro_draws(state):
    """Endless xoshiro256** outputs from ``state`` (a 4-tuple of Python ints)."""
    s0, s1, s2, s3 = state

    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & MASK

    while True:
        result = (rotl((s1 * 5) & MASK, 7) * 9) & MASK
        t = (s1 << 17) & MASK
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        yield result
