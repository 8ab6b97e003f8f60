"""Independent Python-integer implementation of the documented stream derivation (kernels/rng.py)."""

MASK = (1 << 64) - 1


def splitmix_finaliser(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def reference_state(seed, stream, index):
    """The documented derivation in Python integers (independent of Numba's uint64 typing)."""
    golden = 0x9E3779B97F4A7C15
    key = splitmix_finaliser((seed + golden) & MASK)
    key = splitmix_finaliser(key ^ ((stream * 0xD1B54A32D192ED03 + golden) & MASK))
    x = splitmix_finaliser(key ^ splitmix_finaliser((index + golden) & MASK))
    state = []
    for _ in range(4):
        x = (x + golden) & MASK
        state.append(splitmix_finaliser(x))
    return tuple(state)
