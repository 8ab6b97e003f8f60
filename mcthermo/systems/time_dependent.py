"""Time-dependent Hamiltonians given as QuTiP ``QobjEvo``, QuTiP lists ``[H0, [V, "cos(w*t)"]]`` or
callables H(t): a periodic one becomes the harmonics of ``mt.FloquetSystem``, anything else is
refused with the way to write it (``pieces=`` for piecewise-constant protocols).

Units hbar = 1.  The period is the drive ``frequency`` Omega when given; otherwise it is read from
string coefficients (QuTiP's syntax, numpy functions, the QobjEvo's args): every occurrence of t
must sit in the argument of a cos, sin or exp (np.cos, ... too) that is linear in t, a*t + b: the
argument is evaluated with the args at five times, so "cos(t)", "sin(2*t)", "cos(w*t + 0.3)",
"cos(2*pi*t/T)", "0.2*cos(w*t)**2" and "exp(-1j*w*t)" are read (a real for cos/sin, imaginary for
exp); a coefficient without t ("1", "0.3*a") is constant (harmonic 0).  Omega is the largest
frequency of which every |a| is an integer multiple (ratios rational to 1e-12 with denominators
<= 1000; otherwise the frequencies are incommensurate and H(t) is not periodic).  Anything else
(t outside such a function, a chirp cos(a*t**2), exp(-t**2), callable or array coefficients) needs
``frequency=`` -- or is not periodic: then ``pieces=``.  H(t) is then sampled on N points of one
period (N = 256, doubled up to 4096) and its Fourier series H0 + sum_m (V_m e^{i m Omega t} + h.c.)
accepted only if it reproduces H(t) at 16 other times to 1e-12 (relative) and is Hermitian at every
time (V_-m = V_m^dag to 1e-10, relative).
"""
from __future__ import annotations

import ast
import math
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


#: functions a string coefficient may use (QuTiP evaluates them with numpy's)
_NAMESPACE = {"np": np, "numpy": np, "pi": np.pi, "e": np.e, "j": 1j,
              **{name: getattr(np, name) for name in (
                  "sin", "cos", "tan", "exp", "log", "sqrt", "abs", "real", "imag", "conj",
                  "sinh", "cosh", "tanh", "arcsin", "arccos", "arctan")}}
#: times at which the argument of cos/sin/exp is evaluated to find its linear coefficient
_PROBE_TIMES = (0.0, 1.0, 0.37, 2.9, -1.3)


def _function_name(node) -> str | None:
    """'cos' for cos(...), np.cos(...), numpy.cos(...), math.cos(...)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
            and node.value.id in ("np", "numpy", "math", "cmath"):
        return node.attr
    return None


def coefficient_frequencies(text: str, args: dict) -> list[float] | None:
    """The angular frequencies of a string coefficient (module docstring): every occurrence of t
    must sit in the argument of a cos, sin or exp that is linear in t (a t + b, evaluated with
    ``args`` at a few times; a real for cos/sin, imaginary for exp); [] for a constant; None
    otherwise (not read: no period from this coefficient)."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return None
    namespace = {**_NAMESPACE, **args}
    covered, frequencies = set(), []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _function_name(node.func) in ("cos", "sin", "exp")
                and len(node.args) == 1 and not node.keywords):
            continue
        times_inside = {id(n) for n in ast.walk(node.args[0])
                        if isinstance(n, ast.Name) and n.id == "t"}
        if not times_inside or times_inside <= covered:
            continue
        code = compile(ast.Expression(node.args[0]), "<coefficient>", "eval")
        try:
            values = np.array([complex(eval(code, {"__builtins__": {}}, {**namespace, "t": t}))
                               for t in _PROBE_TIMES])
        except Exception:   # noqa: BLE001 (an argument we cannot evaluate: no period read)
            return None
        slope = values[1] - values[0]                      # probe times 0 and 1
        fitted = values[0] + slope * np.array(_PROBE_TIMES)
        scale = max(1.0, float(np.abs(values).max()))
        if not np.all(np.isfinite(values)) or np.abs(fitted - values).max() > 1e-12 * scale:
            return None                                    # not linear in t (a chirp, ...)
        oscillating, damping = ((slope.real, slope.imag) if _function_name(node.func) != "exp"
                                else (slope.imag, slope.real))
        if abs(damping) > 1e-12 * scale:
            return None                                    # grows or decays: not periodic
        frequencies.append(abs(oscillating))
        covered |= times_inside
    everywhere = {id(n) for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "t"}
    return frequencies if everywhere <= covered else None


def _frequencies_of(coefficient) -> list[float] | None:
    """The frequencies of a QuTiP coefficient: a string one, or a sum, product or conjugate of
    string ones (QuTiP builds those when terms share an operator or QobjEvos are multiplied)."""
    kind = type(coefficient).__name__
    if "Str" in kind:
        text, args = coefficient.__reduce__()[1][:2]
        return coefficient_frequencies(text, dict(args or {})) if isinstance(text, str) else None
    if kind in ("SumCoefficient", "MulCoefficient", "ConjCoefficient"):
        frequencies = []
        for part in coefficient.__reduce__()[2]:
            if part is None:
                continue
            found = _frequencies_of(part)
            if found is None:
                return None
            frequencies += found
        return frequencies
    return None                                             # a callable or array coefficient


def _string_frequencies(evo) -> list[float] | None:
    """The frequencies of every coefficient of a QobjEvo, or None if one is not a string or not
    read (``coefficient_frequencies``)."""
    import qutip
    frequencies = []
    for term in evo.to_list():
        if isinstance(term, qutip.Qobj):
            continue
        found = _frequencies_of(term[1])
        if found is None:
            return None
        frequencies += found
    return frequencies


def fundamental(frequencies: list[float]) -> float | None:
    """The largest Omega with every frequency an integer multiple of it (None if incommensurate
    or if there is no nonzero frequency)."""
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


def _no_period(value) -> str:
    """Why the period of a time-dependent Hamiltonian without ``frequency`` cannot be found."""
    _, evo = _as_function(value)
    frequencies = None if evo is None else _string_frequencies(evo)
    if frequencies is not None and any(f > 0 for f in frequencies):
        listed = ", ".join(f"{f:.12g}" for f in sorted(set(f for f in frequencies if f > 0)))
        return (f"the frequencies of the time-dependent Hamiltonian ({listed}) are incommensurate "
                "(no ratio is a fraction with denominator <= 1000 to 1e-12): it is not periodic, "
                f"and {PIECES_HINT}")
    if frequencies is not None:
        return ("the time-dependent Hamiltonian is constant (no coefficient depends on t): give it "
                "as a matrix")
    return ("the period of the time-dependent Hamiltonian cannot be found (only string coefficients "
            "in which t appears in cos(a*t + b), sin(a*t + b) or exp(1j*a*t + b) are read, a "
            "number or an expression of the args): give frequency=Omega to mt.FloquetSystem if it "
            f"is periodic; otherwise {PIECES_HINT}")


def harmonics(value, frequency: float | None = None) -> tuple[np.ndarray, dict, float]:
    """(H0, {m: V_m}, Omega) of a periodic time-dependent Hamiltonian (module docstring)."""
    function, _ = _as_function(value)
    if frequency is None:
        frequency = find_frequency(value)
        if frequency is None:
            raise ValueError(_no_period(value))
    elif not (math.isfinite(frequency) and frequency > 0):
        raise ValueError(f"frequency must be a finite number > 0 (got {frequency!r})")
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
