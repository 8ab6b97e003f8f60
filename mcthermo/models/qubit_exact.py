"""Exact jump statistics of the driven qubit (README, Driven qubit): mean channel counts and the full joint
distribution of the Floquet labels and energy lattices at t_end.

The jump record of the unravelling has the law of a classical Markov jump process on the Floquet
states {+, -}: channel c fires at rate g_c from its source state (s~-: from +, s~+: from -,
s~z: from either, no change).  With the counting fields chi_L (laser quanta) and chi_W (photon
Floquet quanta), the tilted generator L(chi) gives the generating function
E[e^{i(chi_L m_L + chi_W m_W)}; n0, nt] = [exp(L(chi) t)]_{nt, n0} p0(n0), and a 2-d FFT over a
(2H+1)^2 grid of fields returns the exact probabilities of (n0, nt, m_L, m_W) (aliasing below the
1e-15 lattice mass outside |m| <= H).  The dephasing quanta follow: m_Z = (n0 - nt) - m_W.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import expm

from .qubit_floquet import CHANNELS, population_integral

#: probabilities below this are FFT round-off and are set to zero
PMF_FLOOR = 1e-14


def increments():
    """(laser, photon, dephasing) integer increments of each channel.

    Energy emitted into the photon bath = wL m_L + W m_W, into the dephasing bath = W m_Z, laser
    work = wL m_L (each jump brings omega_c + (quasi-energy change) from the laser: +-wL for photon
    channels, 0 otherwise).  The heat of the convention (docs/observables.md) (into the atom) is minus the emitted energy.
    """
    laser = np.array([nl if bath == "photon" else 0 for bath, _, nl, _ in CHANNELS], dtype=np.int64)
    photon = np.array([nw if bath == "photon" else 0 for bath, _, _, nw in CHANNELS], dtype=np.int64)
    dephasing = np.array([nw if bath == "dephasing" else 0 for bath, _, _, nw in CHANNELS],
                         dtype=np.int64)
    return laser, photon, dephasing


def source_integrals(spec, t):
    """int_0^t P(source state of channel c) dt' for every channel, shape (9,)."""
    s0 = spec.initial_floquet()[0]
    plus = float(population_integral(s0, spec.floquet_rates(), t))
    return np.array([{"z": t, "-": plus, "+": t - plus}[op] for _, op, *_ in CHANNELS])


def mean_counts(spec, t=None) -> np.ndarray:
    """Exact mean number of jumps per channel on [0, t] (default t_end): g_c int p_source."""
    t = spec.t_end if t is None else float(t)
    return spec.channel_rates() * source_integrals(spec, t)


def mean_energies(spec, t=None) -> dict[str, float]:
    """Exact means of the laser work and of the heat from each bath into the atom (docs/observables.md: minus
    the energy the jumps emit into that bath) on [0, t] (default t_end)."""
    counts = mean_counts(spec, t)
    laser, photon, dephasing = increments()
    wl, w = spec.laser_frequency, spec.quasi_frequency
    return {"work": wl * float(laser @ counts),
            "heat_photon": -(wl * float(laser @ counts) + w * float(photon @ counts)),
            "heat_dephasing": -w * float(dephasing @ counts)}


def floquet_populations(spec, t) -> np.ndarray:
    """(p+, p-) of the ensemble at time t."""
    s = spec.floquet_state(np.array([float(t)]))[0, 0]
    return np.array([(1 + s) / 2, (1 - s) / 2])


def joint_pmf(spec, half_width=None) -> np.ndarray:
    """Exact P(n0, nt, m_L + H, m_W + H) at t_end, shape (2, 2, 2H+1, 2H+1), labels 0 = -, 1 = +
    (the kernel's n = 1 for +); H defaults to ``spec.half_width()``; entries below ``PMF_FLOOR``
    are zero."""
    half_width = spec.half_width() if half_width is None else half_width
    width = 2 * half_width + 1
    chi = 2 * np.pi * np.arange(width) / width
    chi_l, chi_w = np.meshgrid(chi, chi, indexing="ij")
    laser, photon, _ = increments()
    rate = spec.channel_rates()
    # generator on (-, +) = labels (0, 1), column = from
    gen = np.zeros((width, width, 2, 2), dtype=complex)
    for (_, op, *_), g, dl, dw in zip(CHANNELS, rate, laser, photon):
        phase = g * np.exp(1j * (chi_l * dl + chi_w * dw))
        if op == "z":
            gen[..., 0, 0] += phase - g
            gen[..., 1, 1] += phase - g
        elif op == "-":
            gen[..., 0, 1] += phase
            gen[..., 1, 1] -= g
        else:
            gen[..., 1, 0] += phase
            gen[..., 0, 0] -= g
    propagator = expm(gen * spec.t_end)
    p0 = floquet_populations(spec, 0.0)[::-1]             # (p-, p+)
    generating = propagator * p0[None, None, None, :]      # [.., nt, n0]
    pmf = np.fft.fft2(np.moveaxis(generating, (2, 3), (1, 0)), axes=(2, 3)).real / width**2
    pmf = np.roll(pmf, half_width, axis=(2, 3))
    pmf[pmf < PMF_FLOOR] = 0.0
    return pmf


def log_exponential_entropy_production(spec) -> float:
    """Exact ln<e^{-sigma}> at t_end (docs/observables.md, Open systems) from the real-tilted generator, without sampling
    and without the lattice: each jump of channel c is weighted by e^{-beta_b omega_c} (omega_c the
    energy it gives its bath) and the endpoints by p_t(nt) / p0(n0), so
    <e^{-sigma}> = sum_{n0: p0 > 0} sum_nt p_t(nt) [exp(L_tilted t_end)]_{nt, n0}."""
    betas = {"photon": spec.photon_bath.beta, "dephasing": spec.dephasing_bath.beta}
    generator = np.zeros((2, 2))                      # labels 0 = -, 1 = +; column = from
    for (bath, op, *_), g, omega in zip(CHANNELS, spec.channel_rates(), spec.channel_frequencies()):
        if g == 0.0:
            continue
        weighted = g * np.exp(-betas[bath] * omega)
        if op == "z":
            generator[[0, 1], [0, 1]] += weighted - g
        elif op == "-":
            generator[0, 1] += weighted
            generator[1, 1] -= g
        else:
            generator[1, 0] += weighted
            generator[0, 0] -= g
    propagator = expm(generator * spec.t_end)
    p0 = floquet_populations(spec, 0.0)[::-1]
    pt = floquet_populations(spec, spec.t_end)[::-1]
    return float(np.log(pt @ propagator[:, p0 > 0].sum(axis=1)))
