"""Fluctuation-theorem estimators on counts (exact lattices) or per-trajectory samples.

Conventions: work W in energy units, beta = 1/k_B T, hbar = k_B = 1.  Forward work W_F, reverse
work W_R of the time-reversed protocol; Jarzynski <e^{-beta W_F}> = e^{-beta dF}; Crooks
P_F(W) / P_R(-W) = e^{beta (W - dF)}.  ``dF`` is the equilibrium free-energy change of the forward
protocol (the grand potential change dOmega for open systems).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2 as chi2_distribution

from .stats import Estimate, as_distribution, log_mean_exp


def jarzynski(values, counts=None, *, beta: float) -> Estimate:
    """Free-energy estimate -ln<e^{-beta W}>/beta (exponential average, log-sum-exp) with its
    delta-method stderr.  For reverse work it estimates -dF."""
    _check_beta(beta)
    log_mean, log_stderr, n = log_mean_exp(values, counts, scale=-beta)
    return Estimate.normal(-log_mean / beta, log_stderr / beta, n)


@dataclass(frozen=True)
class CrooksFit:
    """Crooks relation on the work values populated in both directions.

    ``free_energy``: generalised-least-squares estimate of dF from W - ln[P_F(W)/P_R(-W)]/beta with
    the full multinomial covariance of the log-frequencies; ``chi2``/``dof``: deviation of the
    measured log-ratios from the exact line beta (W - dF_expected), ``None`` until evaluated.
    """

    work: np.ndarray
    log_ratio: np.ndarray
    covariance: np.ndarray
    free_energy: Estimate
    beta: float

    def chi2(self, expected_free_energy: float):
        """(chi2, dof, p-value) of the log-ratios about the line beta (W - expected)."""
        residual = self.log_ratio - self.beta * (self.work - expected_free_energy)
        value = float(residual @ _solve(self.covariance, residual))
        dof = residual.size
        return value, dof, float(chi2_distribution.sf(value, dof))


def crooks(forward_values, forward_counts, reverse_values, reverse_counts, *, beta: float,
           min_count: int = 50) -> CrooksFit:
    """Compare P_F(W) with P_R(-W) on work values with at least ``min_count`` counts each way.

    The log-frequency ln(c_k/n) of a multinomial has variance 1/c_k - 1/n and covariance -1/n
    between bins, to leading order; forward and reverse samples are independent.
    """
    _check_beta(beta)
    wf, cf, nf = as_distribution(forward_values, forward_counts)
    wr, cr, nr = as_distribution(reverse_values, reverse_counts)
    reverse_lookup = {float(np.round(-w, 9)): c for w, c in zip(wr, cr)}
    pairs = [(w, c, reverse_lookup.get(float(np.round(w, 9)), 0.0)) for w, c in zip(wf, cf)]
    pairs = [(w, c, r) for w, c, r in pairs if c >= min_count and r >= min_count]
    if not pairs:
        raise ValueError(f"no work value has {min_count} or more counts in both directions: "
                         "Crooks cannot be checked (sample more trajectories)")
    work, c_f, c_r = (np.array(column) for column in zip(*pairs))
    log_ratio = np.log(c_f / nf) - np.log(c_r / nr)
    covariance = np.diag(1.0 / c_f + 1.0 / c_r) - (1.0 / nf + 1.0 / nr)
    # each work value gives dF_k = W_k - log_ratio_k / beta; GLS mean of the dF_k
    estimates = work - log_ratio / beta
    ones = np.ones(work.size)
    weights = _solve(covariance / beta**2, ones)
    information = float(ones @ weights)
    value = float(weights @ estimates) / information
    free_energy = Estimate.normal(value, np.sqrt(1.0 / information), min(nf, nr))
    return CrooksFit(work, log_ratio, covariance, free_energy, beta)


def _solve(matrix, vector):
    try:
        return np.linalg.solve(matrix, vector)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(matrix) @ vector


def _check_beta(beta):
    if not (np.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be finite and positive (got {beta})")
