"""Brute-force Fock-space reference for the exact Landau–Zener module (tests only).

Everything here works on the full 2^(L+1)-dimensional many-body space (Jordan–Wigner matrices,
many-body matrix exponentials and eigen-projectors), never on the one-body matrices that
mcthermo/exact uses, so it checks the one-body -> many-body mapping (determinant formulas,
Slater-determinant enumeration) independently.  Units hbar = k_B = 1.
"""
import math

import numpy as np
import pandas as pd
from scipy.linalg import expm

from mcthermo.models.landau_zener import fermi

#: largest L for the brute-force Fock space (2^(L+1) states)
MAX_FOCK_LEVELS = 7
#: many-body eigenvalues and work values closer than this (energy units) are one level / one atom
RESOLUTION = 1e-9


def fock_annihilators(modes: int) -> list[np.ndarray]:
    """Jordan–Wigner annihilators a_j on the 2^modes Fock space (real matrices; bit j = mode j)."""
    assert modes - 1 <= MAX_FOCK_LEVELS, f"L = {modes - 1}: 2^{modes} Fock states is too many"
    lower = np.array([[0.0, 1.0], [0.0, 0.0]])  # |0><1| on one mode
    sign = np.diag([1.0, -1.0])
    ops = []
    for j in range(modes):
        factors = [sign] * j + [lower] + [np.eye(2)] * (modes - j - 1)
        op = factors[0]
        for f in factors[1:]:
            op = np.kron(op, f)
        ops.append(op)
    return ops


def second_quantise(h: np.ndarray, ops) -> np.ndarray:
    """H = sum_jk h_jk a_j^dag a_k on Fock space."""
    return sum(h[j, k] * ops[j].T @ ops[k] for j in range(len(ops)) for k in range(len(ops))
               if h[j, k] != 0)


def fock_propagator(drive, times: np.ndarray) -> np.ndarray:
    """Many-body 4th-order Magnus propagator: exp(-i dt H_eff^MB) by scipy expm, H_eff^MB built
    from the many-body Hamiltonians at the Gauss points (never from the one-body matrices)."""
    ops = fock_annihilators(drive.modes)
    number = [a.T @ a for a in ops]
    couplings = sum(g * (ops[0].T @ ops[i + 1] + ops[i + 1].T @ ops[0]) for i, g in enumerate(drive.couplings))
    static = sum(e * number[i + 1] for i, e in enumerate(drive.levels)) + couplings
    # H(t) = static + eps_t n_0, so [H(t2), H(t1)] = (eps_2 - eps_1) [n_0, static]
    commutator = number[0] @ static - static @ number[0]
    dt = np.diff(times)
    node = (0.5 - math.sqrt(3.0) / 6.0, 0.5 + math.sqrt(3.0) / 6.0)
    eps1, eps2 = drive.level_at(times[:-1] + node[0] * dt), drive.level_at(times[:-1] + node[1] * dt)
    u = np.eye(2 ** drive.modes, dtype=complex)
    for step, e1, e2 in zip(dt, eps1, eps2):
        generator = (-0.5j * step * (2.0 * static + (e1 + e2) * number[0])
                     - (math.sqrt(3.0) / 12.0) * step**2 * (e2 - e1) * commutator)
        u = expm(generator) @ u
    return u


def fock_work_distribution(h_initial, h_final, fock_unitary, beta, mu) -> pd.DataFrame:
    """TPM work distribution by projectors on the eigenspaces of the many-body H_i, H_f:
    P(E_f, E_i) = Tr[Pi_f U Pi_i rho_gc U^dag], rho_gc = e^{-beta(H_i - mu N)} / Xi."""
    modes = h_initial.shape[0]
    ops = fock_annihilators(modes)
    number = sum(a.T @ a for a in ops)
    big_i, big_f = second_quantise(h_initial, ops), second_quantise(h_final, ops)
    rho = expm(-beta * (big_i - mu * number))
    rho /= np.trace(rho)
    works, probs = [], []
    spaces_i, spaces_f = _eigenspaces(big_i), _eigenspaces(big_f)
    energy_f = np.array([e for e, _ in spaces_f])
    projectors_f = np.array([p for _, p in spaces_f])
    for e_i, p_i in spaces_i:
        evolved = fock_unitary @ (p_i @ rho @ p_i) @ np.conj(fock_unitary.T)
        works.append(energy_f - e_i)
        probs.append(np.einsum("kab,ba->k", projectors_f, evolved).real)  # Tr[Pi_f evolved]
    return _merge(np.concatenate(works), np.concatenate(probs))


def _eigenspaces(big, resolution=RESOLUTION):
    """(eigenvalue, projector) of a Hermitian matrix, degenerate eigenvalues grouped."""
    energy, vectors = np.linalg.eigh(big)
    group = np.concatenate([[0], np.cumsum(np.diff(energy) > resolution)])
    return [(energy[group == g].mean(), vectors[:, group == g] @ vectors[:, group == g].T)
            for g in range(group[-1] + 1)]


def fock_characteristic_function(u, h_initial, h_final, fock_unitary, beta, mu) -> np.ndarray:
    """G(u) = Tr[e^{iu H_f} U e^{-iu H_i} rho_gc U^dag] with many-body matrices."""
    ops = fock_annihilators(h_initial.shape[0])
    number = sum(a.T @ a for a in ops)
    big_i, big_f = second_quantise(h_initial, ops), second_quantise(h_final, ops)
    rho = expm(-beta * (big_i - mu * number))
    rho /= np.trace(rho)
    return np.array([np.trace(expm(1j * x * big_f) @ fock_unitary @ expm(-1j * x * big_i) @ rho
                              @ np.conj(fock_unitary.T)) for x in np.atleast_1d(u)])


def fock_occupation(drive, times: np.ndarray, beta, mu, system_occupation) -> np.ndarray:
    """<c^dag c> at the end of ``times`` from the factorised many-body state, brute force."""
    ops = fock_annihilators(drive.modes)
    number = [a.T @ a for a in ops]
    rho = np.eye(1)
    for p in np.concatenate([[system_occupation], fermi(beta, mu, drive.levels)]):
        rho = np.kron(rho, np.diag([1.0 - p, p]))  # bit order matches the Jordan–Wigner kron order
    u = fock_propagator(drive, times)
    return float(np.trace(number[0] @ u @ rho @ np.conj(u.T)).real)



def _merge(work, probability):
    """Atoms (work, probability) with work values closer than RESOLUTION summed into one."""
    order = np.argsort(work)
    work, probability = work[order], probability[order]
    starts = np.flatnonzero(np.concatenate([[True], np.diff(work) > RESOLUTION]))
    return pd.DataFrame({"work": work[starts], "probability": np.add.reduceat(probability, starts)})
