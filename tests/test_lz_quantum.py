"""Exact quantum reference of the Landau–Zener model (issue #6), checked against independent
computations: an adaptive ODE for the one-body propagator, brute-force Fock-space matrices
(Jordan–Wigner, many-body expm and eigen-projectors) for L <= 5, analytic limits, and the
fluctuation theorems on the exact distributions."""
import argparse

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import solve_ivp

from mcthermo.exact import cli as exact_cli
from mcthermo.exact import lz_quantum as lq
from mcthermo.io import read_table, table_metadata
from mcthermo.models.landau_zener import LandauZener, diabatic_probability

# a small irregular drive: three levels, unequal couplings, two legs at different speeds
SMALL = lq.Drive([1.0, 2.2, 2.9], [0.2, 0.3, 0.15], [0.0, 1.7, 4.0], [1.0, 0.7])
BETA, MU = 1.3, 1.9


def ode_propagator(drive, rtol=1e-13):
    """Independent one-body U by DOP853 on i dU/dt = h(t) U, leg by leg (the path has kinks)."""
    d = drive.modes
    y = np.eye(d, dtype=complex).ravel()
    ends = np.concatenate([[0.0], np.cumsum(drive.durations)])
    for a, b in zip(ends[:-1], ends[1:]):
        def rhs(t, y):
            return (-1j * drive.hamiltonian(drive.level_at(t)) @ y.reshape(d, d)).ravel()
        y = solve_ivp(rhs, (a, b), y, method="DOP853", rtol=rtol, atol=rtol).y[:, -1]
    return y.reshape(d, d)


@pytest.fixture(scope="module")
def seed():
    spec = LandauZener()
    return spec, lq.exact_lz(spec)


# --- integrator ---------------------------------------------------------------------------------
def test_magnus_is_fourth_order_unitary_and_matches_adaptive_ode():
    reference = ode_propagator(SMALL)
    errors = [np.abs(lq.propagator_on_grid(SMALL, lq.time_grid(SMALL, dt))[0] - reference).max()
              for dt in (0.04, 0.02, 0.01)]
    assert 12 < errors[0] / errors[1] < 20 and 12 < errors[1] / errors[2] < 20  # ~2^4 = 16
    run = lq.propagate(SMALL, tolerance=1e-10)
    true_error = np.abs(run.unitary - reference).max()
    assert true_error < 1e-10 and run.error <= 1e-10
    assert run.error / 3 < true_error < 3 * run.error  # step-doubling estimate is honest
    assert np.abs(run.unitary.conj().T @ run.unitary - np.eye(4)).max() < 1e-12  # rounding only


def test_reverse_protocol_propagator_is_the_transpose():
    """Time reversal of a real symmetric h(t): U_reverse = U_forward^T.  The Gauss–Magnus step is
    time-symmetric and the grid mirrors, so this holds to rounding at any step, not just to the
    integration tolerance: Crooks is then exact to rounding on the computed distributions."""
    for step in (0.1, None):
        forward = lq.propagate(SMALL, time_step=step, tolerance=1e-3 if step else 1e-11).unitary
        reverse = lq.propagate(SMALL.reversed(), time_step=step, tolerance=1e-3 if step else 1e-11).unitary
        assert np.abs(reverse - forward.T).max() < 1e-13


def test_single_crossing_approaches_the_landau_zener_formula():
    drive = lq.Drive([0.0], [0.2], [-50.0, 50.0], [1.0])
    run = lq.propagate(drive, tolerance=1e-8)
    stay = abs(run.unitary[0, 0]) ** 2
    assert abs(stay - diabatic_probability(0.4, 1.0)) < 6e-3  # finite-time tail ~ gamma / 50


# --- many-body observables against brute force in Fock space -----------------------------------
# The Fock-space references use the same (coarse) Magnus grid as the one-body run: they test the
# many-body mapping to rounding, independently of the integration error tested above.
def test_occupation_matches_fock_space():
    times = lq.time_grid(SMALL, 0.1)
    u, rows = lq.propagator_on_grid(SMALL, times, record_row=0)
    run = lq.Propagation(SMALL, times, rows, u, 0.1, float("nan"))
    p = lq.occupation(run, lq.factorised_density(SMALL, BETA, MU, 0.7))
    for k in (0, 7, 30, run.times.size - 1):
        brute = lq.fock_occupation(SMALL, run.times[:k + 1], BETA, MU, 0.7)
        assert abs(p[k] - brute) < 1e-12


def _fock_case(levels, couplings, start, end, speed):
    drive = lq.Drive(levels, couplings, [start, end], [speed])
    times = lq.time_grid(drive, 0.1)
    one_body = lq.propagator_on_grid(drive, times)[0]
    return drive, one_body, lq.fock_propagator(drive, times)


def test_characteristic_function_determinant_matches_fock_trace():
    drive, u, big_u = _fock_case([0.5, 1.5, 2.1, 3.3], [0.25, 0.1, 0.3, 0.2], -0.5, 4.0, 1.5)
    h_i, h_f = drive.hamiltonian(-0.5), drive.hamiltonian(4.0)
    points = np.array([0.3, -1.7, 2.9, 1j * BETA, 0.4 - 0.2j])
    det = lq.characteristic_function(points, h_i, h_f, u, BETA, MU)
    brute = lq.fock_characteristic_function(points, h_i, h_f, big_u, BETA, MU)
    assert np.abs(det - brute).max() < 1e-12 * np.abs(brute).max()


def test_tpm_enumeration_matches_fock_projectors():
    drive, u, big_u = _fock_case([0.7, 1.5, 2.0, 2.8, 4.1], [0.2, 0.35, 0.1, 0.25, 0.3], 0.0, 5.0, 2.0)
    h_i, h_f = drive.hamiltonian(0.0), drive.hamiltonian(5.0)
    exact = lq.tpm_work_distribution(h_i, h_f, u, BETA, MU)
    brute = lq.fock_work_distribution(h_i, h_f, big_u, BETA, MU)
    brute = brute[brute.probability > 1e-15]
    exact = exact[exact.probability > 1e-15]
    merged = pd.merge_asof(exact, brute, on="work", direction="nearest", tolerance=1e-8)
    assert len(exact) == len(brute) and merged.probability_y.notna().all()
    assert np.abs(merged.probability_x - merged.probability_y).max() < 1e-12
    assert abs(exact.probability.sum() - 1) < 1e-12


def test_enumerated_distribution_reproduces_the_determinant(seed):
    spec, result = seed
    drive = lq.drive_from_spec(spec)
    run = lq.propagate(drive)
    h_i, h_f = drive.hamiltonian(spec.level_start), drive.hamiltonian(spec.level_end)
    forward = result.work[result.work.direction == "forward"]
    u = np.array([0.1, 0.7, 2.3, -4.0])
    series = np.exp(1j * np.outer(u, forward.work)) @ forward.probability
    det = lq.characteristic_function(u, h_i, h_f, run.unitary, spec.beta, spec.mu)
    assert np.abs(series - det).max() < 1e-11  # the u-grid of one run vs another: U agrees to ~1e-10
    assert abs(forward.probability.sum() - 1) < 1e-12 and len(forward) > 10_000


# --- fluctuation theorems on the exact quantum distributions -------------------------------------
def test_crooks_and_jarzynski_hold_with_the_full_grand_potential(seed):
    spec, result = seed
    s = result.summary
    assert s["crooks_max_abs_residual"] < 1e-10 and s["crooks_max_log_residual"] < 1e-8
    assert s["crooks_unmatched_probability"] == 0.0
    assert abs(s["forward_jarzynski_residual"]) < 1e-10 and abs(s["reverse_jarzynski_residual"]) < 1e-10
    # the isolated-level dOmega_eq of the stochastic model is NOT the TPM free-energy change ...
    gap = s["delta_omega_full"] - s["delta_omega_eq"]
    assert 0.03 < gap < 0.04
    forward = result.work[result.work.direction == "forward"]
    reverse = result.work[result.work.direction == "reverse"]
    wrong = lq.crooks_residual(forward, reverse, spec.beta, s["delta_omega_eq"])
    assert abs(wrong["max_log_residual"] - spec.beta * gap) < 1e-8
    # ... but both agree as gamma -> 0 (coupling shifts of the eigenvalues ~ gamma^2)
    weak = LandauZener(coupling=1e-3)
    h = lq.drive_from_spec(weak).hamiltonian
    full = (lq.full_grand_potential(h(10.0), weak.beta, weak.mu)
            - lq.full_grand_potential(h(0.0), weak.beta, weak.mu))
    assert abs(full - weak.free_energy_change()) < 1e-5


# --- physics: where the stochastic model holds and where it fails ---------------------------------
def test_uncoupled_level_is_reproduced_exactly():
    spec = LandauZener(levels=(1.0, 2.0, 3.0), coupling=0.0, level_end=4.0)  # R_i = 1
    result = lq.exact_lz(spec)
    occ = result.occupation
    assert np.abs(occ.occupation - occ.initial_occupation).max() < 1e-13
    assert np.abs(result.comparison.difference).max() < 1e-13


def test_seed_parameters_agree_with_the_stochastic_model(seed):
    spec, result = seed
    s = result.summary
    assert s["forward_total_variation"] < 0.015 and s["reverse_total_variation"] < 0.025
    assert abs(s["forward_mean_work_quantum"] - s["forward_mean_work_stochastic"]) < 0.1
    # between crossings the bare-level occupation differs by the hybridisation with the nearest
    # levels, (gamma / 0.5)^2 = 0.16 times an occupation difference: ~0.03
    for deviation in s["occupation_deviation"].values():
        assert deviation["window"] < 0.04 and deviation["midpoint"] < 0.04 and deviation["final"] < 0.015
    # the remaining disagreement of Fig. 4 sits at the ends (level 0 and 10 one spacing from eps_1,
    # eps_9): start and stop far from the reservoir and the distributions agree ten times better
    far = lq.exact_lz(LandauZener(level_start=-5.0, level_end=15.0), tolerance=1e-9).summary
    assert far["forward_total_variation"] < 1e-3 and far["reverse_total_variation"] < 1e-3


def test_level_crossed_twice_breaks_the_stochastic_model():
    """Slow round trip 0 -> 10 -> 0: the exact dynamics is adiabatic and returns (<W> -> 0), the
    stochastic model re-thermalises every reservoir level and dissipates ~ f_1 - f_9."""
    result = lq.round_trip(LandauZener(speed=0.05), tolerance=1e-8)
    assert result["mean_work_quantum"] < 0.02
    assert result["mean_work_stochastic"] > 0.9


# --- bad input and the command line ---------------------------------------------------------------
@pytest.mark.parametrize("call,message", [
    (lambda: lq.propagate(SMALL, time_step=0.5), "time_step 0.5 is too coarse for the fastest phase"),
    (lambda: lq.propagate(SMALL, time_step=0.1, tolerance=1e-12), "time_step 0.1 gives an estimated"),
    (lambda: lq.propagate(SMALL, time_step=-1.0), "time_step must be a finite number > 0"),
    (lambda: lq.propagate(SMALL, tolerance=0.0), "tolerance must be a finite number > 0"),
    (lambda: lq.tpm_work_distribution(np.eye(13), np.eye(13), np.eye(13), 1.0, 0.0),
     "levels: L = 12 reservoir levels is too many for the exact TPM enumeration"),
    (lambda: lq.exact_lz(LandauZener(levels=tuple(range(1, 13)), level_end=13.0)),
     "levels: L = 12 reservoir levels is too many"),
    (lambda: lq.fock_annihilators(9), "levels: L = 8 reservoir levels is too many for the brute-force"),
    (lambda: lq.factorised_density(SMALL, 1.0, 0.0, 1.5), "initial_occupation must lie in [0, 1]"),
])
def test_bad_input_names_the_parameter(call, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        call()


def _parse(*argv):
    parser = argparse.ArgumentParser(prog="mcthermo")
    exact_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


def test_cli_writes_the_tables_with_metadata(tmp_path, capsys):
    out = tmp_path / "exact"
    args = _parse("exact", "lz", "--levels", "1,2,3", "--level-end", "4", "--coupling", "0.15",
                  "--tolerance", "1e-9", "--out", str(out))
    assert exact_cli.run(args) == 0
    assert "dOmega (full H, TPM Crooks)" in capsys.readouterr().out
    occupation, work = read_table(out / "occupation.parquet"), read_table(out / "work_exact.parquet")
    assert set(occupation.initial_state) == {"equilibrium", "given"}
    assert set(work.direction) == {"forward", "reverse"}
    info = table_metadata(out / "work_comparison.parquet")
    assert info["parameters"]["levels"] == [1.0, 2.0, 3.0] and info["summary"]["crooks_max_abs_residual"] < 1e-10
    with pytest.raises(ValueError, match="time_step 1 is too coarse"):
        exact_cli.run(_parse("exact", "lz", "--levels", "1,2,3", "--level-end", "4", "--time-step", "1",
                             "--out", str(out)))
