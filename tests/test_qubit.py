"""Driven qubit: spec validation and exact answers against the spec numbers and independent
computations (matrix exponentials, QuTiP mesolve in the lab frame)."""
import argparse

import numpy as np
import pytest
from scipy.linalg import expm

from mcthermo.models.qubit import DrivenQubit, SecularApproximationWarning
from mcthermo.models.qubit_exact import joint_pmf, mean_energies
from mcthermo import Bath
from mcthermo.models.qubit_floquet import CHANNELS, channel_coefficients, correlation_spectrum

SX = np.array([[0, 1], [1, 0]], complex)
SY = np.array([[0, -1j], [1j, 0]])
SZ = np.array([[1, 0], [0, -1]], complex)
FLOQUET_OPS = {"z": np.diag([1.0, -1.0]).astype(complex), "+": np.array([[0, 1], [0, 0]], complex),
               "-": np.array([[0, 0], [1, 0]], complex)}
THERMAL = dict(initial="thermal", initial_temperature=5.0)


@pytest.mark.parametrize("laser, expected", [
    (10.0, (0.0723532763, 0.0389636636, 0.0228159019, -0.29995087)),
    (9.4, (0.0915236001, 0.0167099419, 0.0244804016, -0.69122434)),
])
def test_rates_and_steady_inversion_match_spec(laser, expected):
    q = DrivenQubit(laser_frequency=laser)
    np.testing.assert_allclose(q.floquet_rates(), expected[:3], atol=1e-10)
    assert q.steady_inversion() == pytest.approx(expected[3], abs=1e-8)
    # per-bath rates add up to the totals
    total = np.add(q.floquet_rates("photon"), q.floquet_rates("dephasing"))
    np.testing.assert_allclose(total, q.floquet_rates(), rtol=1e-14)


@pytest.mark.parametrize("laser", [10.0, 9.4])
def test_channel_decomposition_against_propagator(laser):
    """V^dag U(t)^dag s U(t) V = sum_c e^{-i omega_c t} c L_c at random times (spec C1)."""
    q = DrivenQubit(laser_frequency=laser)
    V = q.floquet_basis()
    hbar = 0.5 * q.detuning * SZ + 0.5 * q.rabi * SX
    coefficient = channel_coefficients(q.mixing_angle)
    for t in np.random.default_rng(3).uniform(0, 50, 20):
        U = np.diag([np.exp(-0.5j * laser * t), np.exp(0.5j * laser * t)]) @ expm(-1j * hbar * t)
        for bath, sigma in (("dephasing", SZ), ("photon", SX)):
            lhs = V.T @ U.conj().T @ sigma @ U @ V
            rhs = sum(np.exp(-1j * w * t) * c * FLOQUET_OPS[op] for (b, op, *_), c, w
                      in zip(CHANNELS, coefficient, q.channel_frequencies()) if b == bath)
            np.testing.assert_allclose(lhs, rhs, atol=1e-12)


def test_energy_matches_spec_table():
    q = DrivenQubit()
    t = np.array([0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0])
    expected = [-5.0, -2.45707591, 1.66923669, -0.91873217, 1.42289376, -0.40289442, -0.09022391]
    np.testing.assert_allclose(q.energy(t), expected, atol=1.5e-8)
    # closed form at resonance: U = (Om/2) s_inf (1 - e^{-G1 t}) - (w0/2) e^{-G2 t} cos(Om t)
    gm, gp, gz = q.floquet_rates()
    g1, g2 = gm + gp, (gm + gp) / 2 + 2 * gz
    closed = 0.5 * q.steady_inversion() * (1 - np.exp(-g1 * t)) - 5 * np.exp(-g2 * t) * np.cos(t)
    np.testing.assert_allclose(q.energy(t), closed, atol=1e-13)


@pytest.mark.parametrize("initial, expected", [
    ({}, (-0.09036460, 5.00014069, 4.90977609, 0.0, 0.14433192, 4.76544416)),
    (THERMAL, (-0.10415971, 3.80807792, 3.70391821, 0.0, 0.10410278, 3.59981543)),
])
def test_thermodynamic_totals_match_spec(initial, expected):
    row = DrivenQubit(**initial).thermodynamics().iloc[-1]
    got = [row[f"{q}_{a}"] for a in ("conventional", "hamiltonian", "entropy") for q in ("heat", "work")]
    np.testing.assert_allclose(got, expected, atol=2e-8)


@pytest.mark.parametrize("laser", [10.0, 9.4])
@pytest.mark.parametrize("initial", [{}, THERMAL, {"initial": "mixed"}, {"initial": (0.3, 0.6, -0.2)}])
def test_first_law_in_every_approach(laser, initial):
    q = DrivenQubit(laser_frequency=laser, **initial)
    frame = q.thermodynamics()
    du = frame["U"] - frame["U"].iloc[0]
    for a in ("conventional", "hamiltonian", "entropy"):
        assert np.max(np.abs(du - frame[f"heat_{a}"] - frame[f"work_{a}"])) < 1e-9
        per_bath = frame[f"heat_{a}_photon"] + frame[f"heat_{a}_dephasing"]
        np.testing.assert_allclose(per_bath, frame[f"heat_{a}"], atol=1e-12)
    # |h| is constant: the Hamiltonian-based work vanishes
    assert np.max(np.abs(frame["work_hamiltonian"])) < 1e-14
    np.testing.assert_allclose(frame["U"], q.energy(), atol=1e-14)


def test_maximally_mixed_start_all_approaches_agree():
    frame = DrivenQubit(initial="mixed").thermodynamics()
    for a in ("conventional", "entropy"):
        np.testing.assert_allclose(frame[f"heat_{a}"], frame["heat_hamiltonian"], atol=1e-9)


def test_steady_state_and_bloch_norm():
    q = DrivenQubit(laser_frequency=9.4, t_end=400.0)
    t = np.array([400.0])
    np.testing.assert_allclose(q.bloch(t), q.steady_state(t), atol=1e-15)
    assert np.linalg.norm(q.bloch(), axis=1).max() <= 1 + 1e-12


def test_exact_jump_statistics_are_normalised_and_consistent():
    """The FFT counting statistics (n0, nt, m_L, m_W) agree with the independent closed-form means."""
    q = DrivenQubit()
    pmf = joint_pmf(q)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-10)
    h = q.half_width()
    m = np.arange(-h, h + 1)
    means = mean_energies(q)
    work = q.laser_frequency * np.einsum("abij,i->", pmf, m)
    photon = -(work + q.quasi_frequency * np.einsum("abij,j->", pmf, m))   # heat into the atom (G0)
    assert work == pytest.approx(means["work"], abs=1e-9)
    assert photon == pytest.approx(means["heat_photon"], abs=1e-9)
    # Floquet populations at 0 and t_end are the marginals of (n0, nt)
    s0, st = q.floquet_state(np.array([0.0, q.t_end]))[:, 0]
    assert pmf[1].sum() == pytest.approx((1 + s0) / 2, abs=1e-10)
    assert pmf[:, 1].sum() == pytest.approx((1 + st) / 2, abs=1e-10)


@pytest.mark.parametrize("initial", ["ground", "mixed"])
def test_exact_lattice_distribution_obeys_the_integral_ft(initial):
    """sum_k P_k e^{-sigma_k} = 1 on the exact lattice (C7), also for a Floquet-coherent start."""
    from mcthermo.models.qubit_results import observable_grids

    q = DrivenQubit(initial=initial, laser_frequency=9.4, t_end=4.0, times=21,
                    photon_bath=Bath(coupling=0.002, temperature=6.0, cutoff=30.0))
    pmf = joint_pmf(q)
    sigma = observable_grids(q, q.half_width())["entropy_production"]
    assert np.sum(pmf[pmf > 0] * np.exp(-sigma[pmf > 0])) == pytest.approx(1.0, abs=1e-7)


def _qutip_lab_run(q, tlist):
    """Lab-frame mesolve with H(t) and L_k(t) = sqrt(g_k) U(t) s~_k U(t)^dag (spec C3)."""
    qt = pytest.importorskip("qutip")
    wl, W, V = q.laser_frequency, q.quasi_frequency, q.floquet_basis()
    H = qt.QobjEvo([0.5 * q.atom_frequency * qt.sigmaz(),
                    [0.5 * q.rabi * qt.sigmap(), lambda t: np.exp(-1j * wl * t)],
                    [0.5 * q.rabi * qt.sigmam(), lambda t: np.exp(1j * wl * t)]])
    collapse = []
    for op, nu, g in zip("-+z", (W, -W, 0.0), q.floquet_rates()):
        A = np.sqrt(g) * V @ FLOQUET_OPS[op] @ V.T
        collapse.append(qt.QobjEvo([
            [qt.Qobj(np.diag(np.diag(A))), lambda t, nu=nu: np.exp(1j * nu * t)],
            [A[0, 1] * qt.sigmap(), lambda t, nu=nu: np.exp(1j * (nu - wl) * t)],
            [A[1, 0] * qt.sigmam(), lambda t, nu=nu: np.exp(1j * (nu + wl) * t)]]))
    r0 = q.initial_bloch()
    rho0 = qt.Qobj(0.5 * (np.eye(2) + r0[0] * SX + r0[1] * SY + r0[2] * SZ))
    options = dict(atol=1e-12, rtol=1e-10, nsteps=10**6, method="adams", progress_bar="")
    result = qt.mesolve(H, rho0, tlist, c_ops=collapse,
                        e_ops=[qt.sigmax(), qt.sigmay(), qt.sigmaz()], options=options)
    return np.column_stack(result.expect).real


@pytest.mark.parametrize("laser, initial", [(10.0, {}), (9.4, THERMAL), (9.4, {"initial": (0, 1, 0)})])
def test_analytic_bloch_vector_against_qutip_mesolve(laser, initial):
    q = DrivenQubit(laser_frequency=laser, t_end=20.0, **initial)
    tlist = np.linspace(0.0, 20.0, 401)
    np.testing.assert_allclose(q.bloch(tlist), _qutip_lab_run(q, tlist), atol=1e-7)


@pytest.mark.parametrize("kwargs, message", [
    ({"rabi": 0.0}, "rabi must be > 0"),
    ({"atom_frequency": -1.0}, "atom_frequency must be > 0"),
    ({"photon_bath": lambda: Bath(coupling=0.002, temperature=-1.0)}, "temperature must be >= 0"),
    ({"dephasing_bath": lambda: Bath(coupling=-0.1, temperature=1.0)}, "coupling must be >= 0"),
    ({"rates": (0.1, -0.1, 0.0)}, "rates must be three numbers"),
    ({"initial": (0.8, 0.8, 0.0)}, r"\|r\| <= 1"),
    ({"initial": "thermal"}, "initial_temperature"),
    ({"initial": "hot"}, "initial must be one of"),
    ({"times": 1}, "times must be an integer >= 2"),
    ({"rabi": 0.05}, "secular approximation invalid"),
])
def test_bad_input_is_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DrivenQubit(**{k: v() if callable(v) else v for k, v in kwargs.items()})


def test_secular_warning_when_frequencies_are_close():
    with pytest.warns(SecularApproximationWarning, match="photon-bath"):
        DrivenQubit(rabi=0.3)


def test_rates_only_form_refuses_heat_per_bath():
    q = DrivenQubit(rates=(0.07, 0.04, 0.02))
    assert q.steady_inversion() == pytest.approx(-0.03 / 0.11)
    with pytest.raises(ValueError, match="no heat per bath"):
        q.floquet_rates("photon")
    with pytest.raises(ValueError, match="no heat per bath"):
        q.channel_table()
    assert q.thermodynamics()["entropy_production_conventional"].isna().all()


def test_user_spectral_density_equals_ohmic():
    ohmic = Bath(coupling=0.002, temperature=2.0, cutoff=30.0)
    user = Bath(coupling=0.0, temperature=2.0, spectral_density=lambda w: 0.002 * w * np.exp(-w / 30.0))
    for w in (-11.0, -1.0, 0.0, 1.0, 9.0):
        assert correlation_spectrum(user, w) == pytest.approx(correlation_spectrum(ohmic, w), rel=1e-6)


@pytest.mark.parametrize("spec", [DrivenQubit(), DrivenQubit(initial=(0.1, 0.2, 0.3), laser_frequency=9.4),
                                  DrivenQubit(rates=(0.07, 0.04, 0.02), **THERMAL)])
def test_parameters_round_trip_and_cli(spec):
    again = DrivenQubit.from_parameters(spec.parameters())
    assert again.parameters() == spec.parameters()
    parser = argparse.ArgumentParser()
    DrivenQubit.add_arguments(parser)
    args = parser.parse_args(["--initial", "0.1,0.2,0.3", "--laser-frequency", "9.4"])
    assert DrivenQubit.from_arguments(args).parameters() == DrivenQubit(
        initial=(0.1, 0.2, 0.3), laser_frequency=9.4).parameters()
    assert DrivenQubit.from_arguments(parser.parse_args([])).parameters() == DrivenQubit().parameters()


@pytest.mark.parametrize("kwargs", [{}, {"t_end": 0.5}, {"initial": "excited", "laser_frequency": 9.0}])
def test_exact_integral_ft_from_the_tilted_generator(kwargs):
    """ln<e^{-sigma}> from the real-tilted 2x2 generator is 0 (C7: the sideband channels obey local
    detailed balance), and agrees with the FFT law of sigma at short times; the FFT law sets atoms
    below 1e-14 to zero, and their e^{-sigma}-weighted mass (heavy: rare absorptions carry large
    e^{-sigma}) is the remaining 4e-8 at t = 0.5 (3e-6 at t = 2): the law cannot replace the tilt."""
    from mcthermo.models.qubit_exact import log_exponential_entropy_production
    from mcthermo.models.qubit_results import observable_grids
    from scipy.special import logsumexp

    q = DrivenQubit(**kwargs)
    assert log_exponential_entropy_production(q) == pytest.approx(0.0, abs=1e-12)
    if q.t_end <= 0.5:
        h = q.half_width()
        pmf = joint_pmf(q, h).ravel()
        sigma = observable_grids(q, h)["entropy_production"].ravel()
        used = pmf > 0
        assert logsumexp(-sigma[used], b=pmf[used]) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("kwargs", [{}, {"laser_frequency": 9.0, "rabi": 0.7, "t_end": 60.0},
                                    {"initial": "excited"}, {"initial": "mixed", "t_end": 15.0}])
def test_floquet_resolved_heat_obeys_the_second_law(kwargs):
    """<sigma>(t) with the heat the baths receive is >= 0 at every output time and equals the mean
    of the exact law of sigma at t_end; the C6 bookkeepings may go negative (reported, not failed)."""
    from mcthermo.models.qubit_results import floquet_entropy_production, observable_grids

    q = DrivenQubit(**kwargs)
    series = floquet_entropy_production(q, q.output_times())
    assert series.min() >= -1e-12
    h = q.half_width()
    pmf = joint_pmf(q, h)
    sigma = observable_grids(q, h)["entropy_production"]
    used = pmf > 0
    assert series[-1] == pytest.approx(float(np.sum(pmf[used] * sigma[used])), abs=1e-8)


def test_second_law_rows_distinguish_binding_and_reported_bookkeepings():
    from mcthermo.tables import build

    q = DrivenQubit(t_end=10.0, times=51)
    checks = build(q.results({"forward": q.accumulate("forward", 3, 0, 4096)}))["checks"]
    rows = checks[checks["check"] == "second_law"].set_index("observable")
    assert rows.loc["heat_floquet", "verdict"] == "passed"
    assert (rows.loc[["heat_conventional", "heat_hamiltonian"], "verdict"] == "not applicable").all()
    assert rows.loc["heat_hamiltonian", "estimate"] < -1.0   # -3.92 at t = 3 from the ground start
