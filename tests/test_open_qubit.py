"""Seed 002's driven qubit written as an OpenSystem (Floquet frame, sideband channels, quasi-energy
as the measured energy) reproduces DrivenQubit's exact tables and its sampled law."""
import numpy as np
import pytest
from scipy import stats

import mcthermo as mt
from mcthermo.models.qubit_exact import mean_energies
from mcthermo.models.qubit_floquet import CHANNELS

#: Floquet operators on the basis (|+>, |->)
OPERATORS = {"-": np.array([[0, 0], [1, 0]], complex), "+": np.array([[0, 1], [0, 0]], complex),
             "z": np.diag([1.0, -1.0]).astype(complex)}


def as_open_system(qubit: mt.DrivenQubit) -> mt.OpenSystem:
    """H = quasi-energy operator diag(W/2, -W/2) on (|+>, |->); one channel per sideband
    (README, Driven qubit) with L = sqrt(rate) s~op and energy n_L w_L + n_W W given to its bath, of which
    the laser supplies drive_work = n_L w_L (the label check: energy = Bohr frequency n_W W +
    drive_work)."""
    w = qubit.quasi_frequency
    channels = [mt.Channel(f"{bath}_{op}_{nl:+d}wL{nw:+d}W", np.sqrt(rate) * OPERATORS[op], energy,
                           bath, drive_work=nl * qubit.laser_frequency)
                for (bath, op, nl, nw), rate, energy
                in zip(CHANNELS, qubit.channel_rates(), qubit.channel_frequencies()) if rate > 0]
    s, x, y = qubit.initial_floquet()
    rho = 0.5 * np.array([[1 + s, x - 1j * y], [x + 1j * y, 1 - s]])
    return mt.OpenSystem(hamiltonian=np.diag([w / 2, -w / 2]), channels=channels,
                         baths={"photon": mt.Bath(beta=qubit.photon_bath.beta),
                                "dephasing": mt.Bath(beta=qubit.dephasing_bath.beta)},
                         initial=rho, duration=qubit.t_end)


@pytest.fixture(scope="module")
def pair():
    qubit = mt.DrivenQubit(t_end=20.0, times=21, initial=(0.3, 0.2, -0.5))
    system = as_open_system(qubit)
    accumulators = {"forward": system.accumulate("forward", 4, 0, 4 * 4096)}
    return (qubit.results({"forward": qubit.accumulate("forward", 4, 0, 4096)}),
            system.results(accumulators), qubit, system)


def law(observable):
    return dict(zip(np.round(observable.values, 9), np.exp(observable.log_probability_exact)))


def test_exact_laws_and_means_equal_the_driven_qubit(pair):
    reference, open_results, qubit, system = pair
    ref = reference.directions["forward"]
    mine = open_results.directions["forward"]
    means = mean_energies(qubit)
    for name in ("work", "heat_photon", "heat_dephasing", "entropy_production"):
        a, b = law(ref.observable(name)), law(mine.observable(name))
        worst = max(abs(a.get(v, 0.0) - b.get(v, 0.0)) for v in set(a) | set(b))
        assert worst < 1e-12, name
        if name in means:
            assert mine.observable(name).mean_exact == pytest.approx(means[name], rel=1e-12, abs=1e-13)
    assert mine.integral_ft == pytest.approx(ref.integral_ft, abs=1e-12)


def test_sampled_law_of_the_open_system_matches_the_driven_qubit_law(pair):
    reference, open_results, qubit, system = pair
    mine = open_results.directions["forward"]
    for name in ("work", "heat_photon", "heat_dephasing"):
        observed = mine.observable(name)
        expected = law(reference.directions["forward"].observable(name))
        p = np.array([expected.get(v, 0.0) for v in np.round(observed.values, 9)])
        order = np.argsort(-p)
        counts, p = observed.counts[order], p[order]
        cut = np.searchsorted(np.cumsum(p), 1 - 5 / observed.n)     # pool the tail (< 5 expected)
        pooled = np.append(counts[:cut], counts[cut:].sum())
        expected_counts = observed.n * np.append(p[:cut], 1 - p[:cut].sum())
        statistic = ((pooled - expected_counts) ** 2 / expected_counts).sum()
        assert stats.chi2.sf(statistic, len(pooled) - 1) > 1e-3 / 3, name

