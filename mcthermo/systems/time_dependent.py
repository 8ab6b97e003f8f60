"""Time-dependent Hamiltonians given as QuTiP ``QobjEvo``, QuTiP lists ``[H0, [V, "cos(w*t)"]]`` or
callables H(t): a periodic one becomes the harmonics of ``mt.FloquetSystem``, anything else is
refused with the way to write it (``pieces=`` for piecewise-constant protocols).

Units hbar = 1.  The period is the drive ``frequency`` Omega when given; otherwise it is read from
string coefficients cos(a*t), sin(a*t), exp(+-1j*a*t) (a a number or an expression of the
QobjEvo's args): Omega is the largest frequency of which every a is an integer multiple (ratios
rational to 1e-12 with denominators <= 1000).  Then H(t) is sampled on N points of one period
(N = 256, doubled up to 4096) and its Fourier series H0 + sum_m (V_m e^{i m Omega t} + h.c.)
accepted only if it reproduces H(t) at 16 other times to 1e-12 (relative).
"""
from __future__ import annotations

import math
import re
import warnings
from fractions import Fraction

import numpy as np

#: relative accuracy the Fourier series must reach at off-grid times
SERIES_TOLERANCE = 1e-12
#: harmonics below this fraction of the largest matrix element are round-off and dropped
HARMONIC_FLOOR = 1e-14
#: relative tolerance of c_{-m} = c_m^dag (H(t) Hermitian at every time)
HERMITIAN_TOLERANCE = 1e-10

PIECES_HINT = ("for a piecewise-constant protocol give pieces=[mt.Piece(H1, channels1, t1), "
               "mt.Piece(H2, channels2, t2), ...] (sudden quenches between constant Hamiltonians)")
_TRIG = re.compile(r"(?:cos|sin)\(\s*([^()]*?)\s*\*\s*t\s*\)|(?:cos|sin)\(\s*t\s*\*\s*([^()]*?)\s*\)"
                   r"|exp\(\s*[-+]?\s*1j\s*\*\s*([^()]*?)\s*\*\s*t\s*\)")


def is_time_dependent(value) -> bool:
    """A QobjEvo, a QuTiP list with a time-dependent term, or a callable H(t)."""
    if type(value).__name__ == "QobjEvo":
        return True
    if isinstance(value, list) and any(_qutip_term(term) for term in value):
        return True
    return callable(value) and not hasattr(value, "full") and not isinstance(value, np.ndarray)


def _qutip_term(term) -> bool:
    """[operator, coefficient] of a QuTiP list (a row of a nested-list matrix is not one)."""
    return (isinstance(term, (list, tuple)) and len(term) == 2
            and (hasattr(term[0], "full") or np.ndim(term[0]) == 2)
            and (isinstance(term[1], str) or callable(term[1]) or np.ndim(term[1]) == 1))


def _as_function(value):
    """(H(t) as a numpy-returning function, the QobjEvo or None)."""
    if isinstance(value, list):
        import qutip

        def operator(x):                        # numpy matrices as Qobj (QuTiP wants Qobj)
            return x if hasattr(x, "full") or np.ndim(x) != 2 else qutip.Qobj(np.asarray(x))
        value = [[operator(term[0]), term[1]] if _qutip_term(term) else operator(term)
                 for term in value]
        try:
            with warnings.catch_warnings():     # QuTiP falls back on eval without a compiler: fine
                warnings.simplefilter("ignore", UserWarning)
                value = qutip.QobjEvo(value)
        except Exception as error:   # noqa: BLE001 (QuTiP raises several types for bad input)
            raise ValueError(f"the time-dependent Hamiltonian list could not be read by "
                             f"qutip.QobjEvo ({error}); build the QobjEvo with its args= yourself") \
                from None
    if type(value).__name__ == "QobjEvo":
        return (lambda t: value(t).full()), value
    return (lambda t: np.asarray(getattr(value(t), "full", lambda: value(t))(), complex)), None


def _string_frequencies(evo) -> list[float] | None:
    """Frequencies a of the trig/exp terms of string coefficients, or None if a coefficient is not
    a string of that form."""
    import qutip
    frequencies = []
    args = {}
    for term in evo.to_list():
        if isinstance(term, qutip.Qobj):
            continue
        coefficient = term[1]
        reduced = coefficient.__reduce__()[1] if "Str" in type(coefficient).__name__ else ()
        if len(reduced) < 2 or not isinstance(reduced[0], str):
            return None                                     # not a string coefficient
        text = reduced[0]
        args.update(reduced[1] or {})
        found = _TRIG.findall(text)
        if not found:
            return None
        for groups in found:
            expression = next(g for g in groups if g)
            try:
                frequencies.append(abs(float(eval(expression, {"__builtins__": {}, "np": np,
                                                              "pi": math.pi}, dict(args)))))
            except Exception:   # noqa: BLE001 (an expression we cannot evaluate: no period)
                return None
    return frequencies


def fundamental(frequencies: list[float]) -> float | None:
    """The largest Omega with every frequency an integer multiple of it (None if incommensurate)."""
    frequencies = [f for f in frequencies if f > 0]
    if not frequencies:
        return None
    base = min(frequencies)
    ratios = [Fraction(f / base).limit_denominator(1000) for f in frequencies]
    if any(abs(float(r) - f / base) > 1e-12 * f / base for r, f in zip(ratios, frequencies)):
        return None
    denominator = math.lcm(*(r.denominator for r in ratios))
    return base / denominator


def find_frequency(value) -> float | None:
    """Omega read from the string coefficients of a QobjEvo / QuTiP list (None if not found)."""
    _, evo = _as_function(value)
    if evo is None:
        return None
    frequencies = _string_frequencies(evo)
    return None if frequencies is None else fundamental(frequencies)


def harmonics(value, frequency: float | None = None) -> tuple[np.ndarray, dict, float]:
    """(H0, {m: V_m}, Omega) of a periodic time-dependent Hamiltonian (module docstring)."""
    function, _ = _as_function(value)
    if frequency is None:
        frequency = find_frequency(value)
        if frequency is None:
            raise ValueError("the period of the time-dependent Hamiltonian cannot be found (only "
                             "string coefficients cos(a*t), sin(a*t), exp(1j*a*t) with commensurate "
                             "a are read): give frequency=Omega to mt.FloquetSystem if it is "
                             f"periodic; otherwise {PIECES_HINT}")
    period = 2 * np.pi / frequency
    probe = period * (np.arange(16) + 0.5 * (np.sqrt(5) - 1)) / 16        # off every grid
    exact = np.array([function(t) for t in probe])
    scale = max(1.0, float(np.abs(exact).max()))
    points = 256
    while True:
        samples = np.array([function(t) for t in np.arange(points) * period / points])
        series = np.fft.fft(samples, axis=0) / points                     # c_m: e^{+i m Omega t}
        m = np.fft.fftfreq(points, 1.0 / points)
        rebuilt = np.einsum("tm,mij->tij", np.exp(1j * np.outer(probe * frequency, m)), series)
        error = float(np.abs(rebuilt - exact).max())
        if error <= SERIES_TOLERANCE * scale:
            break
        if points >= 4096:
            raise ValueError(f"the Hamiltonian is not periodic with period 2 pi / {frequency:g} (its "
                             f"Fourier series misses H(t) by {error:.2g}): {PIECES_HINT}; a "
                             "periodic drive goes to mt.FloquetSystem with its frequency")
        points *= 2
    # Hermitian at every time <=> c_{-m} = c_m^dag for every harmonic m (m = 0: H0 Hermitian)
    for k in range(points // 2 + 1):
        error = float(np.abs(series[-k] - series[k].conj().T).max())
        if error > HERMITIAN_TOLERANCE * scale:
            which = ("its constant part H0 is not Hermitian" if k == 0 else
                     f"its harmonic m = -{k} is not the adjoint of harmonic m = {k} (V_-{k} != "
                     f"V_{k}^dag, V_m the coefficient of e^{{i m Omega t}})")
            raise ValueError(f"the time-dependent Hamiltonian is not Hermitian at every time: "
                             f"{which}, by {error:.3g} (Omega = {frequency:g}); each coefficient "
                             "multiplies its operator, so a complex coefficient needs its "
                             "conjugate term (e.g. [V, 'exp(1j*w*t)'] with [V.dag(), "
                             "'exp(-1j*w*t)']) and a real one a Hermitian operator")
    h0 = series[0]
    drive = {int(k): series[k] for k in range(1, points // 2)
             if np.abs(series[k]).max() > HARMONIC_FLOOR * scale}
    return (h0 + h0.conj().T) / 2, drive, float(frequency)


def refusal(value) -> str:
    """Why OpenSystem refuses a time-dependent Hamiltonian, and what to write instead."""
    try:
        frequency = find_frequency(value)
    except ValueError:
        frequency = None
    if frequency is not None:
        return (f"the Hamiltonian is time dependent and periodic (frequency {frequency:g}): use "
                "mt.FloquetSystem(hamiltonian=..., couplings=[mt.Coupling(A, bath=...)], ...), "
                "which accepts it as given; an OpenSystem has constant Hamiltonians, and "
                f"{PIECES_HINT}")
    return (f"the Hamiltonian is time dependent: an OpenSystem has constant Hamiltonians, and "
            f"{PIECES_HINT}; a periodic drive goes to mt.FloquetSystem (give frequency=Omega)")
