"""Equilibrium thermodynamics of one fermionic level (hbar = k_B = 1): occupations, grand
potentials, entropies.  Shared by the Landau–Zener model and its exact references."""
from __future__ import annotations

import numpy as np
from scipy.special import expit, xlogy


def fermi(beta, mu, energy):
    """Thermal occupation f(eps) = 1 / (1 + e^{beta (eps - mu)})."""
    return expit(-beta * (np.asarray(energy, dtype=np.float64) - mu))


def grand_potential(beta, mu, energy):
    """Equilibrium grand potential Omega_eq(eps) = ln(1 - f) / beta = -ln(1 + e^{-beta(eps-mu)}) / beta."""
    return -np.logaddexp(0.0, -beta * (np.asarray(energy, dtype=np.float64) - mu)) / beta


def relative_entropy(p, q):
    """Binary relative entropy D(p || q) = p ln(p/q) + (1-p) ln((1-p)/(1-q)), 0 ln 0 = 0."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    return xlogy(p, p) - xlogy(p, q) + xlogy(1.0 - p, 1.0 - p) - xlogy(1.0 - p, 1.0 - q)


def shannon_entropy(p):
    """S(p) = -p ln p - (1-p) ln(1-p)."""
    p = np.asarray(p, dtype=np.float64)
    return -xlogy(p, p) - xlogy(1.0 - p, 1.0 - p)


def thermal_log_odds(beta, mu, energy):
    """x = ln[f / (1 - f)] = -beta (eps - mu): exact where f itself rounds to 0 or 1."""
    return -beta * (np.asarray(energy, dtype=np.float64) - mu)


def relative_entropy_to_thermal(p, log_odds):
    """D(p || f) with f = expit(log_odds), using ln f = -ln(1 + e^{-x}), ln(1 - f) = -ln(1 + e^{x})."""
    p, x = np.asarray(p, dtype=np.float64), np.asarray(log_odds, dtype=np.float64)
    return (xlogy(p, p) + xlogy(1.0 - p, 1.0 - p)
            + p * np.logaddexp(0.0, -x) + (1.0 - p) * np.logaddexp(0.0, x))
