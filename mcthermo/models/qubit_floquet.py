"""Baths, Floquet channels and the analytic Floquet–Lindblad solution of the driven qubit (README, Driven qubit).

Units hbar = k_B = 1: frequencies, energies and temperatures in the same unit, times in its inverse.
Lab Hamiltonian H(t) = (w0/2) sz + (Om/2)(s+ e^{-i wL t} + s- e^{i wL t}) = (1/2) h(t).sigma with
h(t) = (Om cos wL t, Om sin wL t, w0).  Floquet basis: eigenvectors of
Hbar = (Delta/2) sz + (Om/2) sx (Delta = w0 - wL, eigenvalues +-W/2, W = sqrt(Delta^2 + Om^2)),
|+> = cos(eta/2)|e> + sin(eta/2)|g>, |-> = -sin(eta/2)|e> + cos(eta/2)|g>, cos eta = Delta/W.

The Floquet-frame state is written as rho~ = (1 + s sz~ + x~ sx~ + y~ sy~)/2 in the interaction
picture (no quasi-energy phase), so rho~_{+-} = (x~ - i y~)/2; ``bloch_map`` turns (s, x~, y~) into
the lab Bloch vector, linearly.
"""
from __future__ import annotations

import numpy as np

from ..systems.bath import Bath

#: The nine channels (C7): (bath, operator, frequency in units of (wL, W)), index = kernel channel.
#: Frequency omega_c = nL wL + nW W: energy emitted into the bath (absorbed if negative).
CHANNELS = (
    ("dephasing", "z", 0, 0),
    ("dephasing", "-", 0, 1),
    ("dephasing", "+", 0, -1),
    ("photon", "z", 1, 0),
    ("photon", "z", -1, 0),
    ("photon", "-", 1, 1),
    ("photon", "+", -1, -1),
    ("photon", "+", 1, -1),
    ("photon", "-", -1, 1),
)
BATHS = ("photon", "dephasing")


def correlation_spectrum(bath: Bath, omega: float) -> float:
    """Bath correlation spectrum of a bosonic bath: G(w > 0) = 2 pi J(w)(n(w) + 1),
    G(-w) = e^{-beta w} G(w), G(0) = 2 pi T J'(0) (= 2 pi alpha T for the Ohmic density; J'(0) by a
    1e-7 difference quotient for a user density).  Zero temperature: emission only."""
    if omega == 0.0:
        slope = bath.coupling if bath.spectral_density is None else bath.density(1e-7) / 1e-7
        return 2.0 * np.pi * slope * bath.temperature
    w = abs(omega)
    emission = 2.0 * np.pi * bath.density(w) / -np.expm1(-bath.beta * w)
    return emission if omega > 0 else emission * np.exp(-bath.beta * w)


def mixing(atom_frequency, laser_frequency, rabi):
    """(Delta, W, eta) of the Floquet basis: detuning, generalised Rabi frequency, mixing angle."""
    delta = atom_frequency - laser_frequency
    return delta, float(np.hypot(delta, rabi)), float(np.arctan2(rabi, delta))


def channel_coefficients(eta):
    """Fourier coefficient c of each channel (README, Driven qubit; same order as ``CHANNELS``)."""
    c2, s2 = np.cos(eta / 2) ** 2, np.sin(eta / 2) ** 2
    return np.array([np.cos(eta), -np.sin(eta), -np.sin(eta), np.sin(eta) / 2, np.sin(eta) / 2,
                     c2, c2, -s2, -s2])


def to_floquet(r, eta):
    """Floquet components (s, x~, y~) of an atom-basis Bloch vector (rotation by eta about y)."""
    rx, ry, rz = r
    return np.array([np.cos(eta) * rz + np.sin(eta) * rx, np.cos(eta) * rx - np.sin(eta) * rz, ry])


def bloch_map(times, eta, W, laser_frequency):
    """A(t), shape (n, 3, 3): lab Bloch vector r(t) = A(t) (s, x~, y~) for interaction-picture
    Floquet components; the same map carries dissipative velocities to the lab frame."""
    t = np.asarray(times, dtype=np.float64)
    ce, se = np.cos(eta), np.sin(eta)
    cw, sw = np.cos(W * t), np.sin(W * t)
    # Schroedinger picture: x~ - i y~ rotates as e^{-iWt}; then atom axes; then lab rotation wL t.
    floquet = np.zeros((t.size, 3, 3))
    floquet[:, 0, 0] = 1.0
    floquet[:, 1, 1], floquet[:, 1, 2] = cw, -sw
    floquet[:, 2, 1], floquet[:, 2, 2] = sw, cw
    atom = np.array([[se, ce, 0.0], [0.0, 0.0, 1.0], [ce, -se, 0.0]])
    cl, sl = np.cos(laser_frequency * t), np.sin(laser_frequency * t)
    lab = np.zeros((t.size, 3, 3))
    lab[:, 0, 0], lab[:, 0, 1] = cl, -sl
    lab[:, 1, 0], lab[:, 1, 1] = sl, cl
    lab[:, 2, 2] = 1.0
    return lab @ atom @ floquet


def floquet_solution(u0, rates, times):
    """(s, x~, y~)(t), shape (n, 3): s = s_inf + (s0 - s_inf) e^{-G1 t}, coherence e^{-G2 t}, with
    G1 = g+ + g-, s_inf = (g+ - g-)/G1 and G2 = G1/2 + 2 g_z (README, Driven qubit)."""
    g_minus, g_plus, g_z = rates
    t = np.asarray(times, dtype=np.float64)
    gamma1 = g_plus + g_minus
    s_inf = steady_inversion(rates)
    s = s_inf + (u0[0] - s_inf) * np.exp(-gamma1 * t)
    decay = np.exp(-(gamma1 / 2 + 2 * g_z) * t)
    return np.column_stack([s, u0[1] * decay, u0[2] * decay])


def steady_inversion(rates):
    """s_inf = (g+ - g-)/(g+ + g-) (0 if both vanish: populations frozen is handled by the caller)."""
    g_minus, g_plus, _ = rates
    total = g_plus + g_minus
    return (g_plus - g_minus) / total if total > 0 else 0.0


def dissipative_velocity(u, rates):
    """d(s, x~, y~)/dt of the secular dissipator sum_k g_k D[L_k] at states u (n, 3)."""
    g_minus, g_plus, g_z = rates
    u = np.atleast_2d(u)
    dephasing = (g_plus + g_minus) / 2 + 2 * g_z
    return np.column_stack([-(g_plus + g_minus) * u[:, 0] + (g_plus - g_minus),
                            -dephasing * u[:, 1], -dephasing * u[:, 2]])


def population_integral(s0, rates, t):
    """int_0^t p+(t') dt' with p+ = (1 + s)/2 (exact), for the mean jump counts."""
    g_minus, g_plus, _ = rates
    gamma1 = g_plus + g_minus
    t = np.asarray(t, dtype=np.float64)
    if gamma1 == 0:
        return 0.5 * (1 + s0) * t
    s_inf = steady_inversion(rates)
    return 0.5 * ((1 + s_inf) * t + (s0 - s_inf) * -np.expm1(-gamma1 * t) / gamma1)
