"""bar and crooks rows of an OpenSystem with reverse=True whose work is NOT on a lattice: the
midpoint (simple overlap) free-energy estimate and the generating-function Crooks relation
G_R(s) = e^{beta dF} G_F(beta - s) on the symmetric exponents beta/2, beta/2 +- delta that both
directions accumulate; both pass on the exact sampler and flag a free energy 0.2 off."""
import copy

import numpy as np
import pytest

import mcthermo as mt
from mcthermo import checks
from mcthermo.calibration import shift_free_energy
from mcthermo.systems import open_exponential

TRAJECTORIES = 30_000


def _hermitian(rng, d):
    a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    return (a + a.conj().T) / 2


@pytest.fixture(scope="module")
def davies():
    """Three pieces of random non-commuting complex H_n (d = 3), Davies channels to one bath "b",
    a Gibbs start at its beta = 1: no heat lattice, so no work histogram."""
    rng = np.random.default_rng(3)
    coupling = _hermitian(rng, 3)
    pieces = []
    for duration in (0.7, 3.0, 0.9):
        h = 0.5 * _hermitian(rng, 3)
        pieces.append(mt.Piece(h, mt.davies_channels(h, coupling, "b", 1.0, lambda w: 1.0), duration))
    return mt.OpenSystem(pieces=pieces, baths={"b": mt.Bath(beta=1.0)}, initial=mt.Gibbs(bath="b"))


@pytest.fixture(scope="module")
def accumulators(davies):
    return {d: davies.accumulate(d, 7, 0, TRAJECTORIES) for d in ("forward", "reverse")}


@pytest.fixture(scope="module")
def both_directions(davies, accumulators):
    return davies.results(accumulators)


def test_both_directions_accumulate_one_symmetric_set_around_beta_over_2(davies):
    beta = 1.0
    forward = open_exponential.crooks_exponents(davies)
    reverse = open_exponential.crooks_exponents(davies.protocol("reverse"))
    np.testing.assert_array_equal(forward, reverse)
    assert beta / 2 in forward and len(forward) == 5            # beta/2, beta/2 +- delta, +- delta/2
    np.testing.assert_allclose(np.sort(beta - forward), forward, atol=1e-12)
    work = open_exponential.observable_names(davies).index("work")
    for system in (davies, davies.protocol("reverse")):
        assert set(forward) <= set(open_exponential.exponents(system)[work])


def test_bar_and_crooks_pass_off_the_lattice(both_directions):
    assert isinstance(both_directions.bar_crooks, tuple)
    assert not both_directions.directions["forward"].observable("work").histogrammed
    table = mt.tables.build(both_directions)["checks"].set_index("check")
    bar, crooks = table.loc["bar"], table.loc["crooks"]
    assert bar["verdict"] == "passed" and abs(bar["z"]) < 4, bar
    assert "midpoint" in bar["reason"]
    assert 5 * bar["stderr"] < 0.2                       # it can see a free energy 0.2 off
    assert crooks["verdict"] == "passed" and crooks["dof"] >= 4 and crooks["p_value"] > 1e-3, crooks
    assert crooks["expected"] == crooks["dof"]


@pytest.mark.parametrize("shift", [0.2, -0.2])
def test_a_wrong_free_energy_is_flagged_by_both_rows(both_directions, shift):
    beta, delta_f = both_directions.bar_crooks
    forward = both_directions.directions["forward"].observable("work")
    reverse = both_directions.directions["reverse"].observable("work")
    bar = checks.generating_bar_check(forward, reverse, beta, delta_f + shift)
    crooks = checks.generating_crooks_check(forward, reverse, beta, delta_f + shift)
    assert bar["verdict"] == "failed" and abs(bar["z"]) > 10, bar
    assert crooks["verdict"] == "failed" and crooks["p_value"] < 1e-20, crooks


def test_a_shifted_free_energy_fails_both_rows_of_the_table(both_directions):
    """The calibration's wrong-dF run (``calibration.shift_free_energy``) on the same sums."""
    shifted = shift_free_energy(copy.deepcopy(both_directions), 0.2)
    table = mt.tables.build(shifted)["checks"].set_index("check")
    assert table.loc["bar", "verdict"] == "failed" and table.loc["crooks", "verdict"] == "failed"


def test_undriven_work_is_zero_and_the_rows_decide_without_fluctuations():
    """One piece (no drive): W = 0 on every trajectory, dF = 0; both rows pass without a stderr,
    and dF = 0.2 fails them."""
    rng = np.random.default_rng(3)
    coupling, h = _hermitian(rng, 3), 0.5 * _hermitian(rng, 3)
    system = mt.OpenSystem(pieces=[mt.Piece(h, mt.davies_channels(h, coupling, "b", 1.0, lambda w: 1.0), 1.0)],
                           baths={"b": mt.Bath(beta=1.0)}, initial=mt.Gibbs(bath="b"))
    results = system.results({d: system.accumulate(d, 1, 0, 2000) for d in ("forward", "reverse")})
    table = mt.tables.build(results)["checks"].set_index("check")
    assert (table.loc[["bar", "crooks"], "verdict"] == "passed").all(), table.loc[["bar", "crooks"]]
    forward, reverse = (results.directions[d].observable("work") for d in ("forward", "reverse"))
    for check in (checks.generating_bar_check, checks.generating_crooks_check):
        assert check(forward, reverse, 1.0, 0.2)["verdict"] == "failed"
