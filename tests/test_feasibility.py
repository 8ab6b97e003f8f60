"""Model-side refusals of issue 16 (cases 4 and 7): every size and magnitude is checked from the
parameters alone, before any large array exists, with one line naming the parameter (the CLI option
on the command line); parameters at the edge of the accepted range give finite exact answers."""
import numpy as np
import pytest

from mcthermo.cli import main
from mcthermo.models.landau_zener import LandauZener, LandauZenerValidityWarning
from mcthermo.models.qubit import MAX_HALF_WIDTH, DrivenQubit
from mcthermo.models.staircase import Staircase
from mcthermo.runner import sample
from mcthermo.systems.bath import Bath


def _refused(argv, tmp_path, capsys):
    """Exit status 2, the stderr line, and nothing written under --out."""
    out = tmp_path / "run"
    status = main(["sample", *argv, "--trajectories", "10", "--out", str(out)])
    assert status == 2 and not out.exists()
    return capsys.readouterr().err


def _all_finite(run):
    exact = run.summary[["mean_exact", "std_exact"]].to_numpy()
    return bool(np.all(np.isfinite(exact)))


# --- case 4: staircase feasibility before any O(steps) array ------------------------------------
def test_staircase_feasibility_needs_no_chain(monkeypatch, tmp_path):
    """--steps 1e9 grew to 24 GB: the check built the chain (O(steps) arrays) first."""
    def no_chain(self, direction="forward"):
        raise AssertionError("the feasibility check built the chain")

    monkeypatch.setattr(Staircase, "chain", no_chain)
    spec = Staircase(steps=10**9)
    assert spec.steps_per_trajectory() == 10**9 + 1
    with pytest.raises(ValueError, match=r"1000000000 events x 1000000001 work values"):
        spec.check_tables_feasible()
    with pytest.raises(ValueError, match="dynamic programme"):
        sample(spec, 10, 1, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match=r"steps must be <= 2\*\*62"):
        Staircase(steps=2**63)


@pytest.mark.parametrize("spec", [Staircase(steps=7), Staircase(gap_start=3.0, gap_end=1.0, steps=5),
                                  Staircase(gap_end=float(np.log(2.0)), steps=9), LandauZener(),
                                  LandauZener(levels=(1.0, 2.5, 3.7), level_end=5.0)],
                         ids=["rise", "lower", "flat", "lz", "lz-incommensurate"])
def test_dp_size_is_the_chains(spec):
    chain = spec.chain("forward")
    assert spec.dp_size() == (chain.events, chain.lattice_size)


# --- case 7: the driven qubit -----------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    (dict(t_end=1e300), r"t_end must be <= 24\d\d at these rates"),
    (dict(atom_frequency=1e300), r"atom_frequency must be <= 1e\+15"),
    (dict(laser_frequency=1e300), r"laser_frequency must be <= 1e\+15"),
    (dict(atom_frequency=1e6), r"t_end must be <= 0.02 at quasi-frequency"),
    (dict(times=10**8), r"times must be <= 4000000"),
    (dict(dephasing_bath=Bath(coupling=0.005, temperature=1e300)),
     r"dephasing_bath temperature = 1e\+300 and dephasing_bath coupling = 0.005 give 6.08e\+298"),
    (dict(photon_bath=Bath(coupling=0.002, temperature=0.0)), r"photon_bath temperature must be > 0"),
    (dict(dephasing_bath=Bath(coupling=0.005, temperature=1e-300)),
     r"dephasing_bath temperature must be >= "),
    (dict(photon_bath=Bath(coupling=1e307, temperature=2.0)), r"photon_bath coupling must keep"),
    (dict(rates=(1e300, 1.0, 1.0)), r"t_end must be <= "),
], ids=["t_end", "atom", "laser", "fine-grid", "times", "dephasing-hot", "zero-temperature",
        "dephasing-cold", "coupling", "rates"])
def test_qubit_refuses_in_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DrivenQubit(**kwargs)


def test_qubit_jump_lattice_bound_is_sharp():
    rate = DrivenQubit().escape_rate()
    most = ((np.sqrt(100.0 + 4.0 * (MAX_HALF_WIDTH - 10)) - 10.0) / 2.0) ** 2
    assert DrivenQubit(t_end=0.999 * most / rate).half_width() <= MAX_HALF_WIDTH
    with pytest.raises(ValueError, match="t_end must be"):
        DrivenQubit(t_end=1.001 * most / rate)


def test_qubit_without_jumps_is_bounded_by_the_fine_grid():
    """Zero rates: no jump-count bound applies (and no division by the zero rate); the exact
    bookkeeping's time grid still bounds t_end."""
    assert DrivenQubit(rates=(0.0, 0.0, 0.0)).half_width() == 10
    with pytest.raises(ValueError, match=r"t_end must be <= 2e\+04 at quasi-frequency W = 1"):
        DrivenQubit(rates=(0.0, 0.0, 0.0), t_end=1e300)


@pytest.mark.parametrize("argv, option", [
    (["--t-end", "1e300"], "--t-end must be <="),
    (["--atom-frequency", "1e300"], "--atom-frequency must be <= 1e+15"),
    (["--dephasing-temperature", "1e300"], "--dephasing-temperature = 1e+300"),
    (["--dephasing-temperature", "0"], "--dephasing-temperature must be > 0"),
], ids=["t_end", "atom", "dephasing-hot", "zero-temperature"])
def test_qubit_cli_names_the_option(argv, option, tmp_path, capsys):
    err = _refused(["qubit", *argv], tmp_path, capsys)
    assert option in err and err.count("\n") == 1


# --- case 7: magnitudes whose exact answers would be NaN --------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda: Staircase(gap_start=1e300), r"gap_start must lie in \[-1e\+30, 1e\+30\]"),
    (lambda: Staircase(gap_end=-1e31), r"gap_end must lie in"),
    (lambda: Staircase(beta=1e300), r"beta must lie in \[1e-30, 1e\+30\]"),
    (lambda: Staircase(beta=1e-31), r"beta must lie in"),
    (lambda: Staircase(beta=1e29, gap_end=100.0), r"gap_end must satisfy beta \|gap_end\| <= 1e\+30"),
    (lambda: LandauZener(mu=1e300), r"mu must lie in"),
    (lambda: LandauZener(level_end=1e300), r"level_end must lie in"),
    (lambda: LandauZener(beta=1e30), r"mu must satisfy beta \|mu\|"),
], ids=["gap_start", "gap_end", "beta-large", "beta-small", "beta-gap", "mu", "level_end", "lz-beta"])
def test_chain_models_refuse_overflowing_magnitudes(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("make", [
    lambda: Staircase(gap_start=-1e30, gap_end=1e30, steps=10),
    lambda: Staircase(beta=1e30, gap_start=0.5, gap_end=1.0, steps=10),
    lambda: Staircase(beta=1e-30, steps=10),
    lambda: LandauZener(beta=1.0, mu=1e30, levels=(1.0, 2.0), level_end=3.0),
], ids=["gaps", "beta-large", "beta-small", "mu"])
def test_edge_of_the_range_has_finite_answers(make):
    """At the accepted edge the tables (up to 8th powers in the variance check) stay finite, and no
    RuntimeWarning is raised (filterwarnings = error)."""
    assert _all_finite(sample(make(), 2000, 3, reverse=True))


def test_lz_huge_coupling_is_adiabatic_not_nan():
    """coupling 1e300 overflowed delta^2 (a RuntimeWarning, NaN-prone): R = 0 exactly."""
    with pytest.warns(LandauZenerValidityWarning):
        spec = LandauZener(coupling=1e300)
    assert np.all(spec.keep_probabilities() == 0.0)
    assert _all_finite(sample(spec, 2000, 3, reverse=True))


@pytest.mark.parametrize("argv, option", [
    (["staircase", "--gap-start", "1e300"], "--gap-start must lie in"),
    (["lz", "--mu", "1e300"], "--mu must lie in"),
], ids=["staircase", "lz"])
def test_chain_cli_names_the_option(argv, option, tmp_path, capsys):
    err = _refused(argv, tmp_path, capsys)
    assert option in err and err.count("\n") == 1
