"""Exact quantum reference of the Landau–Zener model (issue #6), checked against independent
computations: an adaptive ODE for the one-body propagator, brute-force Fock-space matrices
(tests/lz_fock_reference.py: Jordan–Wigner, many-body expm and eigen-projectors) for L <= 5,
analytic limits, and the fluctuation theorems on the exact distributions.  Every threshold is a
stated bound: the integrator's error expansion, rounding (steps x machine epsilon), or a
perturbative estimate in gamma / distance for the physics comparisons."""
import argparse
import math

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import solve_ivp

import lz_fock_reference as fock
from mcthermo.exact import cli as exact_cli
from mcthermo.exact import lz_comparison as lc
from mcthermo.exact import lz_propagator as lp
from mcthermo.exact import lz_tpm as lt
from mcthermo.io import read_table, table_metadata
from mcthermo.models.landau_zener import LandauZener, diabatic_probability, fermi

# a small irregular drive: three levels, unequal couplings, two legs at different speeds lasting
# 2 and 4 time units, so every step size 2^-k divides both legs and halving dt halves every step
SMALL = lp.Drive([1.0, 2.2, 2.9], [0.2, 0.3, 0.15], [0.0, 1.6, 4.0], [0.8, 0.6])
BETA, MU = 1.3, 1.9
EPS = np.finfo(np.float64).eps


def ode_propagator(drive, rtol):
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
def reference():
    """(U by DOP853 at rtol 3e-14, its error bound: the distance to the rtol 1e-13 solution)."""
    fine, coarse = ode_propagator(SMALL, 3e-14), ode_propagator(SMALL, 1e-13)
    return fine, float(np.abs(fine - coarse).max())


@pytest.fixture(scope="module")
def seed():
    spec = LandauZener()
    return spec, lc.exact_lz(spec)


# --- integrator ---------------------------------------------------------------------------------
def magnus(drive, dt):
    return lp.propagator_on_grid(drive, lp.time_grid(drive, dt))[0]


def test_magnus_is_fourth_order_unitary_and_matches_adaptive_ode(reference):
    """The Gauss–Magnus step is time-symmetric, so its global error has an expansion in even powers,
    E(dt) = C dt^4 + D dt^6 + ...: the observed order p(dt) = log2(e(dt) / e(dt/2)) is 4 + O(dt^2).
    Bound: |p - 4| shrinks at least 4-fold per halving from its value at the coarsest pair, plus
    the reference's error delta moving each log2 e by delta / (e ln 2)."""
    u_ref, delta = reference
    steps = [0.16 / 2**k for k in range(5)]
    errors = np.array([np.abs(magnus(SMALL, dt) - u_ref).max() for dt in steps])
    order = np.log2(errors[:-1] / errors[1:])
    slack = abs(order[0] - 4.0) / 4.0 ** np.arange(order.size) + 2 * delta / (errors[1:] * math.log(2))
    assert np.all(np.abs(order - 4.0) <= slack), (order, slack)
    # step doubling: est = (16/15) ||U_dt - U_dt/2|| differs from the true ||E(dt)|| by at most
    # ||E(dt) - 16 E(dt/2)|| / 15, whose relative size r(dt) = |e(dt) / (16 e(dt/2)) - 1| + O(dt^4)
    # is O(dt^2): bounded by r(0.08) (dt / 0.08)^2 (from the pair 0.08, 0.04 above)
    run = lp.propagate(SMALL, tolerance=1e-10)
    true_error = np.abs(run.unitary - u_ref).max()
    assert true_error < 1e-10 and run.error <= 1e-10
    relative = abs(errors[1] / (16 * errors[2]) - 1.0) * (run.time_step / 0.08) ** 2
    assert abs(run.error - true_error) <= relative * true_error + 2 * delta
    # unitary to rounding: each of the n steps adds at most ~ modes * eps
    n = lp.time_grid(SMALL, run.time_step).size - 1
    assert np.abs(run.unitary.conj().T @ run.unitary - np.eye(4)).max() < n * SMALL.modes * EPS


def test_reverse_protocol_propagator_is_the_transpose():
    """Time reversal of a real symmetric h(t): U_reverse = U_forward^T.  The Gauss–Magnus step is
    time-symmetric and the grid mirrors, so this holds to rounding (n steps x modes x eps) at any
    step, not just to the integration tolerance: Crooks is then exact to rounding on the computed
    distributions."""
    for step in (0.1, None):
        forward = lp.propagate(SMALL, time_step=step, tolerance=1e-3 if step else 1e-11)
        reverse = lp.propagate(SMALL.reversed(), time_step=step, tolerance=1e-3 if step else 1e-11)
        n = forward.times.size - 1
        assert np.abs(reverse.unitary - forward.unitary.T).max() < n * SMALL.modes * EPS


def test_single_crossing_approaches_the_landau_zener_formula():
    """Sweep from -T to T at unit speed.  Outside the crossing the transition amplitude picks up
    int gamma e^{i eps^2 / 2} dt over |eps| > T, at most gamma / T per end (integration by parts),
    so |P_stay - R_LZ| <= 2 sqrt(1 - R) (2 gamma / T) + (2 gamma / T)^2."""
    gamma, T = 0.2, 50.0
    drive = lp.Drive([0.0], [gamma], [-T, T], [1.0])
    run = lp.propagate(drive, tolerance=1e-8)
    stay, keep = abs(run.unitary[0, 0]) ** 2, diabatic_probability(2 * gamma, 1.0)
    tail = 2 * gamma / T
    assert abs(stay - keep) < 2 * math.sqrt(1 - keep) * tail + tail**2 + 1e-8


# --- many-body observables against brute force in Fock space -----------------------------------
# The Fock-space references use the same (coarse) Magnus grid as the one-body run: they test the
# many-body mapping to rounding, independently of the integration error tested above.  Rounding:
# ~40 products of 2^(L+1)-dimensional matrices, far below 1e-12.
def test_occupation_matches_fock_space():
    times = lp.time_grid(SMALL, 0.1)
    u, rows = lp.propagator_on_grid(SMALL, times, record_row=0)
    run = lp.Propagation(SMALL, times, rows, u, 0.1, float("nan"))
    p = lp.occupation(run, lp.factorised_density(SMALL, BETA, MU, 0.7))
    for k in (0, 7, 30, run.times.size - 1):
        brute = fock.fock_occupation(SMALL, run.times[:k + 1], BETA, MU, 0.7)
        assert abs(p[k] - brute) < 1e-12


def _fock_case(levels, couplings, start, end, speed):
    drive = lp.Drive(levels, couplings, [start, end], [speed])
    times = lp.time_grid(drive, 0.1)
    one_body = lp.propagator_on_grid(drive, times)[0]
    return drive, one_body, fock.fock_propagator(drive, times)


def test_characteristic_function_determinant_matches_fock_trace():
    drive, u, big_u = _fock_case([0.5, 1.5, 2.1, 3.3], [0.25, 0.1, 0.3, 0.2], -0.5, 4.0, 1.5)
    h_i, h_f = drive.hamiltonian(-0.5), drive.hamiltonian(4.0)
    points = np.array([0.3, -1.7, 2.9, 1j * BETA, 0.4 - 0.2j])
    det = lt.characteristic_function(points, h_i, h_f, u, BETA, MU)
    brute = fock.fock_characteristic_function(points, h_i, h_f, big_u, BETA, MU)
    assert np.abs(det - brute).max() < 1e-12 * np.abs(brute).max()


def test_tpm_enumeration_matches_fock_projectors():
    drive, u, big_u = _fock_case([0.7, 1.5, 2.0, 2.8, 4.1], [0.2, 0.35, 0.1, 0.25, 0.3], 0.0, 5.0, 2.0)
    h_i, h_f = drive.hamiltonian(0.0), drive.hamiltonian(5.0)
    exact = lt.tpm_work_distribution(h_i, h_f, u, BETA, MU)
    brute = fock.fock_work_distribution(h_i, h_f, big_u, BETA, MU)
    brute = brute[brute.probability > 1e-15]
    exact = exact[exact.probability > 1e-15]
    merged = pd.merge_asof(exact, brute, on="work", direction="nearest", tolerance=1e-8)
    assert len(exact) == len(brute) and merged.probability_y.notna().all()
    assert np.abs(merged.probability_x - merged.probability_y).max() < 1e-12
    assert abs(exact.probability.sum() - 1) < 1e-12


def test_enumerated_distribution_reproduces_the_determinant(seed):
    """Same U (same drive, step and tolerance), so only rounding separates the two: a sum over
    C(2L+2, L+1) enumerated pairs, each term <= 1 in modulus, errs by <= pairs x eps."""
    spec, result = seed
    drive = lp.drive_from_spec(spec)
    run = lp.propagate(drive)
    h_i, h_f = drive.hamiltonian(spec.level_start), drive.hamiltonian(spec.level_end)
    forward = result.work[result.work.direction == "forward"]
    u = np.array([0.1, 0.7, 2.3, -4.0])
    series = np.exp(1j * np.outer(u, forward.work)) @ forward.probability
    det = lt.characteristic_function(u, h_i, h_f, run.unitary, spec.beta, spec.mu)
    pairs = math.comb(2 * len(spec.levels) + 2, len(spec.levels) + 1)
    assert np.abs(series - det).max() < pairs * EPS
    assert abs(forward.probability.sum() - 1) < pairs * EPS and len(forward) > 10_000


# --- fluctuation theorems on the exact quantum distributions -------------------------------------
def _omega_shift(spec, gamma, level):
    """Second-order perturbation theory: coupling gamma to reservoir level eps_i shifts the system
    level by gamma^2 / (eps - eps_i) and eps_i by the opposite amount, so the grand potential moves
    by sum_i gamma^2 (f(eps) - f(eps_i)) / (eps - eps_i); the next order is gamma^4 / |eps - eps_i|^3."""
    distance = level - np.asarray(spec.levels)
    shift = gamma**2 * (fermi(spec.beta, spec.mu, level) - fermi(spec.beta, spec.mu, spec.levels)) / distance
    return float(shift.sum()), float(np.sum(gamma**4 / np.abs(distance) ** 3))


def test_crooks_and_jarzynski_hold_with_the_full_grand_potential(seed):
    """U~ = U^T to rounding, so Crooks holds to rounding: probabilities carry ~1e-15 absolute
    error, amplified by e^{beta (w - dOmega)} <= e^{12} in the absolute residual (< 1e-10) and by
    1 / P <= 1e6 in the log residual over atoms with P > 1e-6 (< 1e-8)."""
    spec, result = seed
    s = result.summary
    assert s["crooks_max_abs_residual"] < 1e-10 and s["crooks_max_log_residual"] < 1e-8
    assert s["crooks_unmatched_probability"] == 0.0
    assert abs(s["forward_jarzynski_residual"]) < 1e-10 and abs(s["reverse_jarzynski_residual"]) < 1e-10
    # the isolated-level dOmega_eq of the stochastic model is NOT the TPM free-energy change: they
    # differ by the coupling shifts, second order in gamma = 0.2 up to the fourth-order remainder
    gap = s["delta_omega_full"] - s["delta_omega_eq"]
    end, end_rest = _omega_shift(spec, 0.2, spec.level_end)
    start, start_rest = _omega_shift(spec, 0.2, spec.level_start)
    assert abs(gap - (end - start)) < end_rest + start_rest and gap > 0.03
    forward = result.work[result.work.direction == "forward"]
    reverse = result.work[result.work.direction == "reverse"]
    wrong = lt.crooks_residual(forward, reverse, spec.beta, s["delta_omega_eq"])
    assert abs(wrong["max_log_residual"] - spec.beta * gap) < 1e-8
    # ... but both agree as gamma -> 0 (shifts ~ gamma^2 / distance)
    weak = LandauZener(coupling=1e-3)
    h = lp.drive_from_spec(weak).hamiltonian
    full = (lt.full_grand_potential(h(10.0), weak.beta, weak.mu)
            - lt.full_grand_potential(h(0.0), weak.beta, weak.mu))
    bound = sum(1e-6 * np.sum(1 / np.abs(e - np.asarray(weak.levels))) for e in (0.0, 10.0))
    assert abs(full - weak.free_energy_change()) < bound


# --- physics: where the stochastic model holds and where it fails ---------------------------------
def _mixing(spec, level):
    """Weight sum_i (gamma / (level - eps_i))^2 that the bare system level at ``level`` shares
    with the reservoir levels in the hybridised eigenstates (first order in (gamma / distance)^2)."""
    return float(np.sum((spec.gap_array / 2 / (level - np.asarray(spec.levels))) ** 2))


def test_uncoupled_level_is_reproduced_exactly():
    spec = LandauZener(levels=(1.0, 2.0, 3.0), coupling=0.0, level_end=4.0)  # R_i = 1
    result = lc.exact_lz(spec)
    occ = result.occupation
    assert np.abs(occ.occupation - occ.initial_occupation).max() < 1e-13
    assert np.abs(result.comparison.difference).max() < 1e-13


def test_seed_parameters_agree_with_the_stochastic_model(seed):
    """The stochastic model describes bare levels; the exact eigenstates are hybridised.  At a
    level between crossings the bare occupation differs from p_i by at most its mixing weight with
    the reservoir (midpoint: 2 (gamma / 0.5)^2 = 0.32 at most, mixed occupations differ by at most
    max |p_i - f_i|); the TPM work atoms of both ends move by the mixing weights at the start and at
    the end (TV <= 2 (m_start + m_end))."""
    spec, result = seed
    s = result.summary
    p, f = spec.occupation_probabilities(), fermi(spec.beta, spec.mu, spec.levels)
    contrast = np.max(np.abs(p[:-1] - f))
    midpoints = (np.asarray(spec.levels[1:]) + spec.levels[:-1]) / 2
    between = max(_mixing(spec, m) for m in midpoints) * contrast
    final = _mixing(spec, spec.level_end) * contrast
    ends = 2 * (_mixing(spec, spec.level_start) + _mixing(spec, spec.level_end))
    assert s["forward_total_variation"] < ends and s["reverse_total_variation"] < ends
    for deviation in s["occupation_deviation"].values():
        assert deviation["window"] < between and deviation["midpoint"] < between
        assert deviation["final"] < final
    # start and stop six spacings from the reservoir: the mixing at the ends drops > 10-fold, and
    # the distributions agree accordingly
    far_spec = LandauZener(level_start=-5.0, level_end=15.0)
    far = lc.exact_lz(far_spec, tolerance=1e-9).summary
    far_ends = 2 * (_mixing(far_spec, -5.0) + _mixing(far_spec, 15.0))
    assert far_ends < ends / 10
    assert far["forward_total_variation"] < far_ends and far["reverse_total_variation"] < far_ends


def test_level_crossed_twice_breaks_the_stochastic_model():
    """Slow round trip 0 -> 10 -> 0: the exact dynamics is adiabatic and returns; only a diabatic
    passage (probability R_i each way) costs work, at most level_end - level_start summed over both
    passes, so <W> <= sum_i R_i (level_end - level_start).  The stochastic model re-thermalises every
    reservoir level and dissipates ~ f_1 - f_9, above that bound."""
    spec = LandauZener(speed=0.05)
    result = lc.round_trip(spec, tolerance=1e-8)
    bound = float(np.sum(spec.keep_probabilities())) * (spec.level_end - spec.level_start)
    assert 0.0 <= result["mean_work_quantum"] < bound
    assert result["mean_work_stochastic"] > bound


# --- bad input and the command line ---------------------------------------------------------------
@pytest.mark.parametrize("call,message", [
    (lambda: lp.propagate(SMALL, time_step=0.5), "time_step 0.5 is too coarse for the fastest phase"),
    (lambda: lp.propagate(SMALL, time_step=0.1, tolerance=1e-12), "time_step 0.1 gives an estimated"),
    (lambda: lp.propagate(SMALL, time_step=-1.0), "time_step must be a finite number > 0"),
    (lambda: lp.propagate(SMALL, tolerance=0.0), "tolerance must be a finite number > 0"),
    (lambda: lt.tpm_work_distribution(np.eye(13), np.eye(13), np.eye(13), 1.0, 0.0),
     "levels: L = 12 reservoir levels is too many for the exact TPM enumeration"),
    (lambda: lc.exact_lz(LandauZener(levels=tuple(range(1, 13)), level_end=13.0)),
     "levels: L = 12 reservoir levels is too many"),
    (lambda: lp.factorised_density(SMALL, 1.0, 0.0, 1.5), "initial_occupation must lie in [0, 1]"),
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
