"""mt.FloquetSystem (README, "Your own periodically driven system") against an independent Floquet–Born–Markov computation written here:
the propagator by scipy's DOP853 (rtol 1e-13) on a 256-point grid, Fourier components by a direct
DFT, and the secular (Pauli) rate equation for the Floquet populations with per-bath heat currents.
"""
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm, null_space

import mcthermo as mt
from mcthermo.exact import tilted

E = np.eye(3)
H0 = np.diag([0.0, 1.0, 2.3])
V1 = 0.3 * (np.outer(E[0], E[1]) + np.outer(E[2], E[1]))  # no rotating frame removes t
V2 = 0.1 * np.outer(E[0], E[2])                       # not Hermitian: V2 e^{2i W t} + h.c.
OMEGA = 4.0
A_HOT = np.outer(E[0], E[2]) + np.outer(E[2], E[0]) + 0.3 * np.diag([1.0, 0.0, -1.0])
A_COLD = (np.outer(E[0], E[1]) + np.outer(E[1], E[0])
          + 0.5 * (np.outer(E[1], E[2]) + np.outer(E[2], E[1])))
BETAS = {"hot": 0.5, "cold": 2.0}


def j_hot(x):                                           # Ohmic: a pure-dephasing channel J'(0)/beta
    return 0.03 * x * np.exp(-x / 5)


def j_cold(x):                                          # super-Ohmic: none
    return 0.01 * x**3 * np.exp(-x / 4)


SPECTRA = {"hot": (A_HOT, j_hot, 0.03), "cold": (A_COLD, j_cold, 0.0)}
OBSERVABLES = {"n2": np.diag([0.0, 0.0, 1.0]), "x01": np.outer(E[0], E[1]) + np.outer(E[1], E[0])}
TIMES = np.linspace(0.0, 12.0, 7)


def system(drive=None, **options):
    base = dict(hamiltonian=H0, drive={1: V1, 2: V2} if drive is None else drive, frequency=OMEGA,
                couplings=[mt.Coupling(A_HOT, bath="hot", spectral_density=j_hot),
                           mt.Coupling(A_COLD, bath="cold", spectral_density=j_cold)],
                baths={b: mt.Bath(beta=beta) for b, beta in BETAS.items()},
                initial=mt.gibbs_state(H0, 1.0), duration=12.0, output_times=TIMES,
                observables=OBSERVABLES)
    base.update(options)
    return mt.FloquetSystem(**base)


# --- the independent computation -------------------------------------------------------------------
def hamiltonian(t):
    h = H0.astype(complex)
    for m, v in ((1, V1), (2, V2)):
        h = h + np.exp(1j * m * OMEGA * t) * v + np.exp(-1j * m * OMEGA * t) * v.conj().T
    return h


def propagators(times):
    """U(t) at the given times in [0, T] by DOP853 on the 9 complex entries."""
    def rhs(t, y):
        return (-1j * hamiltonian(t) @ y.reshape(3, 3)).ravel()
    period = 2 * np.pi / OMEGA
    solution = solve_ivp(rhs, (0.0, period), np.eye(3, dtype=complex).ravel(), method="DOP853",
                         t_eval=np.asarray(times), rtol=1e-13, atol=1e-14)
    return solution.y.T.reshape(-1, 3, 3)


@pytest.fixture(scope="module")
def reference():
    """Quasienergies (principal branch), modes on a grid, Fourier components, Pauli rates."""
    period, grid_points, K = 2 * np.pi / OMEGA, 256, 12
    grid = np.arange(grid_points) * period / grid_points
    extra = np.mod(TIMES, period)
    unique, inverse = np.unique(np.concatenate([grid, [period], extra]), return_inverse=True)
    u = propagators(unique)[inverse]
    values, vectors = np.linalg.eig(u[grid_points])
    vectors = vectors / np.linalg.norm(vectors, axis=0)
    eps = -np.angle(values) / period

    def modes(index, times):
        return u[index] @ vectors * np.exp(1j * np.outer(times, eps))[:, None, :]

    on_grid = modes(np.arange(grid_points), grid)
    ks = np.arange(-K, K + 1)
    rates = np.zeros((3, 3))                          # rates[a, c]: c -> a
    currents = {b: np.zeros(3) for b in SPECTRA}     # energy given to bath b per unit time from c
    for bath, (a_op, density, slope) in SPECTRA.items():
        f = np.conj(np.swapaxes(on_grid, 1, 2)) @ a_op @ on_grid
        x = np.einsum("kt,tac->kac", np.exp(1j * np.outer(ks, OMEGA * grid)), f) / grid_points
        beta = BETAS[bath]
        for n, k in enumerate(ks):
            for a in range(3):
                for c in range(3):
                    delta = eps[c] - eps[a] + k * OMEGA
                    if abs(delta) < 1e-9:
                        gamma = slope / beta
                    else:
                        occupation = 1 / np.expm1(beta * abs(delta))
                        gamma = density(abs(delta)) * (occupation + 1 if delta > 0 else occupation)
                    weight = abs(x[n, a, c]) ** 2 * gamma
                    if a != c:
                        rates[a, c] += weight
                    currents[bath][c] += weight * delta
    generator = rates - np.diag(rates.sum(axis=0))
    p_steady = null_space(generator)[:, 0]
    p_steady = p_steady / p_steady.sum()
    p0 = np.real(np.einsum("ia,ij,ja->a", vectors.conj(), mt.gibbs_state(H0, 1.0), vectors))
    at_times = modes(np.arange(grid_points + 1, len(u)), extra)
    return dict(eps=eps, vectors=vectors, generator=generator, p_steady=p_steady, p0=p0,
                currents=currents, at_times=at_times)


def steady_state(open_system):
    """Null vector of the Floquet-frame Liouvillian (row-major vec) as a density matrix."""
    piece = open_system.pieces[0]
    generator = tilted.liouvillian(piece.hamiltonian, [c.operator for c in piece.channels])
    rho = null_space(generator)[:, 0].reshape(3, 3)
    return rho / np.trace(rho)


# --- tests ----------------------------------------------------------------------------------------
def test_steady_state_and_heat_currents_equal_the_independent_floquet_born_markov(reference):
    spec = system()
    assert spec.propagator_error < 1e-12 and spec.dropped_weight <= 1e-12 and 2 <= spec.sidebands < 12
    shift = (spec.quasienergies[:, None] - reference["eps"][None, :]) / OMEGA   # equal mod Omega
    assert np.abs(shift - np.round(shift)).min(axis=1).max() < 1e-11
    open_system = spec.open_system()
    rho = steady_state(open_system)
    p_lab = spec.basis().modes[0]
    lab = p_lab @ rho @ p_lab.conj().T                         # steady state at t = 0 (mod T)
    v = reference["vectors"]
    expected = (v * reference["p_steady"]) @ v.conj().T
    assert np.abs(lab - expected).max() < 1e-8
    for bath in SPECTRA:
        mine = -sum(c.energy * np.real(np.trace(c.operator @ rho @ c.operator.conj().T))
                    for c in open_system.pieces[0].channels if c.bath == bath)
        theirs = -reference["currents"][bath] @ reference["p_steady"]
        assert abs(mine - theirs) <= 1e-8 * abs(theirs), bath
        assert abs(theirs) > 1e-5                              # a real current, not a zero


def test_channels_are_labelled_paired_and_the_dephasing_channel_is_j_prime_over_beta():
    spec = system()
    channels = spec.open_system().pieces[0].channels
    for c in channels:                                          # partner at -Delta, L ~ L^dag
        partner = [p for p in channels if p.bath == c.bath and p.energy == -c.energy]
        assert len(partner) == 1, c.name
        ratio = np.linalg.norm(partner[0].operator) ** 2 / np.linalg.norm(c.operator) ** 2
        if c.energy:
            assert ratio == pytest.approx(np.exp(-BETAS[c.bath] * c.energy), rel=1e-12)
        step = c.drive_work / OMEGA
        assert step == round(step)
    zero = [c for c in channels if c.energy == 0.0]
    assert [c.bath for c in zero] == ["hot"]                   # super-Ohmic cold bath: none
    diagonal = np.diag(zero[0].operator)
    x0 = np.einsum("tia,ij,tja->a", spec.basis().modes.conj(), A_HOT, spec.basis().modes).real
    x0 = x0 / spec.basis().modes.shape[0]
    assert np.abs(np.abs(diagonal) ** 2 - 0.03 / BETAS["hot"] * x0**2).max() < 1e-12


def test_sub_ohmic_dephasing_is_refused_unless_given_and_secular_failure_is_refused():
    couplings = [mt.Coupling(A_HOT, bath="hot", spectral_density=lambda x: 0.03 * np.sqrt(x)),
                 mt.Coupling(A_COLD, bath="cold", spectral_density=j_cold)]
    with pytest.raises(ValueError, match="sub-Ohmic.*zero_frequency_rate"):
        system(couplings=couplings)
    couplings[0] = mt.Coupling(A_HOT, bath="hot", spectral_density=lambda x: 0.03 * np.sqrt(x),
                               zero_frequency_rate=0.01)
    zero = [c for c in system(couplings=couplings).open_system().pieces[0].channels if c.energy == 0]
    assert len(zero) == 1
    strong = [mt.Coupling(A_HOT, bath="hot", spectral_density=lambda x: 5.0 * x),
              mt.Coupling(A_COLD, bath="cold", spectral_density=j_cold)]
    with pytest.raises(ValueError, match=r"secular approximation invalid.*smallest gap.*total rate"):
        system(couplings=strong)


def test_without_drive_the_channels_are_the_davies_channels_of_h0():
    spec = system(drive={1: 0 * V1})
    assert np.abs(spec.quasienergies - np.diag(H0)).max() < 1e-12
    p0 = spec.basis().modes[0]
    for bath, (a_op, density, _) in SPECTRA.items():
        mine = {round(c.energy, 9): p0 @ c.operator @ p0.conj().T
                for c in spec.open_system().pieces[0].channels if c.bath == bath and c.energy != 0}
        davies = {round(c.energy, 9): c.operator
                  for c in mt.davies_channels(H0, a_op, bath, BETAS[bath], density)}
        assert set(mine) == set(davies)
        assert max(np.abs(mine[w] - davies[w]).max() for w in davies) < 1e-12
        assert all(c.drive_work == 0 for c in spec.open_system().pieces[0].channels)


@pytest.fixture(scope="module")
def sampled():
    spec = system()
    run = mt.sample(spec, trajectories=4 * 4096, seed=5)
    return spec, run


def test_sampled_heat_and_lab_observables_against_the_independent_computation(reference, sampled):
    spec, run = sampled
    generator, p0 = reference["generator"], reference["p0"]
    size = len(p0)
    big = np.zeros((2 * size, 2 * size))
    big[:size, :size], big[size:, :size] = generator, np.eye(size)
    # a wrong expectation: the same system with the two temperatures swapped
    swapped = system(baths={"hot": mt.Bath(beta=BETAS["cold"]), "cold": mt.Bath(beta=BETAS["hot"])})
    wrong = {b: tilted.moments(swapped.open_system(),
                               lambda c, b=b: -c.energy if c.bath == b else 0.0)[0] for b in SPECTRA}
    for bath in SPECTRA:
        integral = expm(big * spec.duration)[size:, :size] @ p0        # int_0^t p dt
        expected = -reference["currents"][bath] @ integral
        row = run.summary.set_index("observable").loc[f"heat_{bath}"]
        assert abs(row["mean_exact"] - expected) <= 1e-8 * abs(expected), bath
        z = (row["mean"] - expected) / row["stderr"]
        assert abs(z) < 5, (bath, z)
        assert abs((row["mean"] - wrong[bath]) / row["stderr"]) > 5, bath      # flagged
    table = run.tables["expectation"]
    populations = np.array([expm(generator * t) @ p0 for t in TIMES])
    modes = reference["at_times"]
    for name, a in OBSERVABLES.items():
        rows = table[table.observable == name]
        expected = np.einsum("ta,tia,ij,tja->t", populations, modes.conj(), a, modes).real
        assert np.abs(rows.exact.to_numpy() - expected).max() < 1e-8, name
        z = (rows["mean"].to_numpy() - expected) / np.maximum(rows.stderr.to_numpy(), 1e-300)
        assert np.abs(z[rows.stderr.to_numpy() > 0]).max() < 5, name
    # a wrong expectation: the Floquet modes frozen at t = 0 (no frame rotation) is flagged
    frozen = np.repeat(modes[:1], len(TIMES), axis=0)
    rows = table[table.observable == "x01"]
    wrong = np.einsum("ta,tia,ij,tja->t", populations, frozen.conj(), OBSERVABLES["x01"], frozen).real
    assert np.abs((rows["mean"].to_numpy() - wrong) / rows.stderr.to_numpy()).max() > 5


def test_integral_fluctuation_theorem_is_exact(sampled):
    spec, run = sampled
    open_system = spec.open_system()
    p0, _ = tilted.start_states(open_system)
    value = tilted.log_exponential_average(
        open_system, lambda c: BETAS[c.bath] * c.energy, 1 / p0, tilted.final_populations(open_system))
    assert abs(value) < 1e-10
    assert abs(spec.log_generating_function("entropy_production", 1.0)) < 1e-10
    for bath in SPECTRA:                                  # d/ds ln G at 0 = -mean, as sampled
        mean = run.summary.set_index("observable").loc[f"heat_{bath}", "mean_exact"]
        h = 1e-5
        slope = (spec.log_generating_function(f"heat_{bath}", h)
                 - spec.log_generating_function(f"heat_{bath}", -h)) / (2 * h)
        assert abs(slope + mean) < 1e-8
    assert run.spec.name == "open_system" and run.info["model"] == "floquet_system"


def test_time_dependent_input_goes_to_floquet_or_is_refused_with_pieces():
    qutip = pytest.importorskip("qutip")
    import warnings
    h0, v1, v2 = (qutip.Qobj(m) for m in (H0, V1, V2))
    with warnings.catch_warnings():                    # QuTiP: no compiler, string coefficients eval
        warnings.simplefilter("ignore", UserWarning)
        evo = qutip.QobjEvo([h0, [v1, "exp(1j*w*t)"], [v1.dag(), "exp(-1j*w*t)"],
                             [v2 + v2.dag(), "cos(2*w*t)"], [1j * (v2 - v2.dag()), "sin(2*w*t)"]],
                            args={"w": OMEGA})
        detuned = qutip.QobjEvo([h0, [v1 + v1.dag(), "cos(w*t)"], [v1 + v1.dag(), "cos(sqrt(2)*t)"]],
                                args={"w": OMEGA})
    from_evo = system(drive={}, hamiltonian=evo, frequency=None)
    reference = system()
    assert from_evo.frequency == pytest.approx(OMEGA, rel=1e-15)
    assert set(from_evo.drive) == {1, 2}
    assert np.abs(from_evo.drive[1] - V1).max() < 1e-14 and np.abs(from_evo.drive[2] - V2).max() < 1e-14
    assert np.abs(from_evo.quasienergies - reference.quasienergies).max() < 1e-12
    callable_h = system(drive={}, hamiltonian=hamiltonian, frequency=OMEGA)
    assert np.abs(callable_h.quasienergies - reference.quasienergies).max() < 1e-12
    with pytest.raises(ValueError, match=r"frequencies .*\(1.41421356237, 4\) are incommensurate.*"
                                         "pieces="):
        system(drive={}, hamiltonian=detuned, frequency=None)
    with pytest.raises(ValueError, match="not periodic.*pieces="):
        system(drive={}, hamiltonian=detuned, frequency=OMEGA)
    channels = reference.open_system().pieces[0].channels
    with pytest.raises(ValueError, match="periodic \\(frequency 4\\).*mt.FloquetSystem.*pieces="):
        mt.OpenSystem(hamiltonian=evo, channels=channels, baths={"hot": mt.Bath(beta=1.0),
                      "cold": mt.Bath(beta=1.0)}, initial=np.eye(3) / 3, duration=1.0)
    with pytest.raises(ValueError, match="time dependent.*pieces="):
        mt.Piece(hamiltonian, channels, 1.0)
    with pytest.raises(ValueError, match="time dependent.*pieces="):
        mt.Piece([H0, [V1 + V1.T, "cos(3*t)"]], channels, 1.0)
    assert mt.Piece(H0.tolist(), [], 1.0).dimension == 3          # a nested-list matrix is not


SX, SY, SZ = (np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[0.0, -1j], [1j, 0.0]]),
              np.diag([1.0, -1.0]))


def seed_qubit_floquet_system(qubit, **options):
    """Seed 002 from its lab Hamiltonian H(t) = (w0/2) sz + (Om/2)(s+ e^{-i wL t} + s- e^{i wL t}),
    photon bath through sx, dephasing bath through sz, J here = 2 pi J_seed."""
    baths = {"photon": qubit.photon_bath, "dephasing": qubit.dephasing_bath}
    return mt.FloquetSystem(
        hamiltonian=0.5 * qubit.atom_frequency * SZ, drive={1: 0.5 * qubit.rabi * np.array([[0.0, 0], [1, 0]])},
        frequency=qubit.laser_frequency,
        couplings=[mt.Coupling(op, bath=b,
                               spectral_density=lambda x, b=b: 2 * np.pi * baths[b].density(x))
                   for b, op in (("photon", SX), ("dephasing", SZ))],
        baths={b: mt.Bath(beta=bath.beta) for b, bath in baths.items()}, **options)


def test_seed_qubit_channels_from_the_lab_hamiltonian_equal_the_driven_qubit_closed_forms():
    """Every channel's frequency, rate and operator from the lab Hamiltonian equal DrivenQubit's
    closed forms (Floquet geometry and the nine sideband channels) to 1e-12."""
    from mcthermo.models.qubit_floquet import CHANNELS
    operators = {"-": np.array([[0, 0], [1, 0]]), "+": np.array([[0, 1], [0, 0]]),
                 "z": np.diag([1.0, -1.0])}                       # on the basis (|+>, |->)
    qubit = mt.DrivenQubit(atom_frequency=10.0, laser_frequency=9.3, rabi=1.0)
    spec = seed_qubit_floquet_system(qubit, initial=np.diag([0.0, 1.0]), duration=1.0)
    mine = {(c.bath, round(c.energy, 8)): c for c in spec.open_system().pieces[0].channels}
    floquet, modes = qubit.floquet_basis(), spec.basis().modes[0]
    seen = set()
    for (bath, op, *_), rate, omega in zip(CHANNELS, qubit.channel_rates(),
                                           qubit.channel_frequencies()):
        key = (bath, round(omega, 8))
        if rate < 1e-300:
            assert key not in mine
            continue
        weight = np.linalg.norm(mine[key].operator) ** 2 / (2 if op == "z" else 1)
        assert weight == pytest.approx(rate, rel=1e-12), key      # measured: 1.7e-13
        # the operators themselves, in the atom basis at t = 0 (independent of the modes' phases),
        # up to the global phase of a channel (its dissipator does not see it)
        closed = floquet @ (np.sqrt(rate) * operators[op]) @ floquet.conj().T
        lab = modes @ mine[key].operator @ modes.conj().T
        phase = np.vdot(lab, closed) / abs(np.vdot(lab, closed))
        assert np.abs(lab * phase - closed).max() < 1e-12 * np.sqrt(rate), key
        seen.add(key)
    tiny = [k for k in set(mine) - seen if np.linalg.norm(mine[k].operator) ** 2 > 1e-12]
    assert not tiny                                   # the rotating-wave drive has no other sideband


@pytest.mark.parametrize("kwargs", [{"laser_frequency": 9.3}, {"initial": (0.3, 0.2, -0.5)}])
def test_driven_qubit_samples_the_floquet_system_of_its_lab_hamiltonian(kwargs):
    """DrivenQubit.open_system() -- the system its trajectories are sampled from -- against the
    FloquetSystem compiled from the lab Hamiltonian: the same channels (bath, energy given to it,
    rate to 1e-12 relative, operator in the atom basis at t = 0 to 1e-12 up to its phase), the
    same quasi-energy splitting W (mod wL), and, without the initial measurement, the same exact
    lab Bloch vector (<sigma_x,y,z> through each system's own frame) at every output time."""
    qubit = mt.DrivenQubit(t_end=12.0, times=25, **kwargs)
    r0 = qubit.initial_bloch()
    spec = seed_qubit_floquet_system(
        qubit, initial=0.5 * (np.eye(2) + r0[0] * SX + r0[1] * SY + r0[2] * SZ),
        duration=qubit.t_end, output_times=qubit.output_times(),
        observables={"x": SX, "y": SY, "z": SZ}, measure_energy=False)
    theirs = {(c.bath, round(c.energy, 8)): c for c in spec.open_system().pieces[0].channels
              if np.linalg.norm(c.operator) ** 2 > 1e-12}
    ours = qubit.open_system()
    to_atom = qubit.floquet_basis()[:, ::-1]               # columns |->, |+>: our levels
    modes = spec.basis().modes[0]
    worst = 0.0
    for c in ours.pieces[0].channels:
        if np.linalg.norm(c.operator) ** 2 <= 1e-12:     # cos(eta) = 6e-17 at resonance: no channel
            assert (c.bath, round(c.energy, 8)) not in theirs
            continue
        other = theirs.pop((c.bath, round(c.energy, 8)))
        rate, rate_theirs = (np.linalg.norm(x.operator) ** 2 for x in (c, other))
        assert rate_theirs == pytest.approx(rate, rel=1e-12), c.name
        a, b = to_atom @ c.operator @ to_atom.conj().T, modes @ other.operator @ modes.conj().T
        phase = np.vdot(b, a) / abs(np.vdot(b, a))
        worst = max(worst, np.abs(b * phase - a).max() / np.sqrt(rate))
    assert not theirs and worst < 1e-12
    eps = np.diff(spec.quasienergies)[0]
    assert min(abs((eps - s * qubit.quasi_frequency + qubit.laser_frequency / 2) % qubit.laser_frequency
                   - qubit.laser_frequency / 2) for s in (1, -1)) < 1e-12
    import dataclasses
    rho = tilted.states_at(dataclasses.replace(ours, measure_energy=False), ours.output_times)
    lab = np.stack([np.einsum("tab,tba->t", rho, ours.observable_at(a)).real for a in "xyz"], 1)
    floquet_frame = spec.open_system()
    rho = tilted.states_at(floquet_frame, floquet_frame.output_times)
    reference = np.stack([np.einsum("tab,tba->t", rho, floquet_frame.observable_at(a)).real
                          for a in "xyz"], 1)
    assert np.abs(lab - reference).max() < 1e-12, np.abs(lab - reference).max()   # measured 1e-13


def test_quasienergies_and_modes_equal_qutip_floquet_basis():
    """QuTiP's FloquetBasis (atol = rtol = 1e-13, 256 precomputed steps per period): quasienergies
    mod Omega to 1e-11 and the same modes (|overlap| = 1) at an arbitrary time."""
    qutip = pytest.importorskip("qutip")
    period = 2 * np.pi / OMEGA
    basis = qutip.FloquetBasis(qutip.QobjEvo(lambda t: qutip.Qobj(hamiltonian(t))), period,
                               options={"atol": 1e-13, "rtol": 1e-13, "nsteps": 10**6},
                               precompute=np.arange(256) * period / 256)
    spec = system()
    assert np.abs(np.sort(np.mod(spec.quasienergies, OMEGA))
                  - np.sort(np.mod(basis.e_quasi, OMEGA))).max() < 1e-11
    theirs = np.column_stack([k.full()[:, 0] for k in basis.mode(0.37)])
    overlaps = np.abs(spec.modes_at([0.37])[0].conj().T @ theirs)
    assert np.abs(np.sort(overlaps.max(axis=1)) - 1).max() < 1e-10


def test_unmeasured_coherent_start_keeps_its_lab_coherence():
    """measure_energy=False: the lab state at t = 0 is the given coherent one (frame rule checked
    against <psi0|A|psi0> to 1e-12) and the sampled lab observables follow the exact ones."""
    psi0 = (E[0] + E[2]) / np.sqrt(2)
    x02 = np.outer(E[0], E[2]) + np.outer(E[2], E[0])
    spec = system(initial=psi0, measure_energy=False, observables={"x02": x02, **OBSERVABLES})
    results = spec.results({"forward": spec.accumulate("forward", 3, 0, 4096)})
    (expectation,) = results.directions["forward"].expectations
    assert expectation.exact[0, 0] == pytest.approx(1.0, abs=1e-12)        # <psi0|x02|psi0>
    assert abs(expectation.mean[0, 0] - 1.0) < 1e-12                        # every trajectory
    stderr = np.where(expectation.stderr > 0, expectation.stderr, np.inf)
    z = (expectation.mean - expectation.exact) / stderr
    assert np.abs(z).max() < 5
    assert results.directions["forward"].observable("work") is None       # counting only


def _x(i, j):
    return np.outer(E[i], E[j]) + np.outer(E[j], E[i])


def test_a_channel_combining_different_sidebands_is_refused_and_an_undriven_one_is_not():
    """Quasienergies whose differences coincide modulo Omega put terms of different sidebands k in
    one channel: its Floquet-frame dissipator is periodic, so FloquetSystem refuses (silently, it
    gave the Pauli answer: heat current -8.79e-4 where the secular Floquet-Born-Markov one is
    -4.58e-4).  Undriven, the k != 0 components vanish and the ladder is mt.davies_channels."""
    j = lambda x: 0.01 * x * np.exp(-x / 10)                          # noqa: E731
    degenerate = dict(hamiltonian=np.diag([0.0, 1.0, 2.5]), drive={1: np.diag([0.3, 0.0, 0.0])},
                      frequency=1.5, couplings=[mt.Coupling(_x(0, 1) + _x(0, 2), bath="b",
                                                            spectral_density=j)],
                      baths={"b": mt.Bath(beta=1.0)}, initial=np.diag([0, 0, 1.0]), duration=5.0)
    # eps_2 - eps_1 = Omega exactly, and to 1e-12 (below the secular check's reach)
    for shift in (0.0, 1e-12):
        degenerate["hamiltonian"] = np.diag([0.0, 1.0, 2.5 + shift])
        with pytest.raises(ValueError, match=r"'b:\+2.5' \(Delta = 2.5, and 19 other channels\) "
                                             r"combines jumps of different sidebands: \|0><2\| in "
                                             r"sideband k = 0 .*; \|0><1\| in sideband k = 1 "
                                             r".*periodic"):
            mt.FloquetSystem(**degenerate)
    # an accidental coincidence: eps_0 + eps_1 = 2 eps_2 - 3 Omega (a resonantly driven ladder)
    ladder = dict(hamiltonian=np.diag([0.0, 1.0, 2.0]), drive={1: 0.05 * _x(0, 1)}, frequency=1.0,
                  couplings=[mt.Coupling(_x(0, 1) + _x(1, 2), bath="b",
                                         spectral_density=lambda x: 0.01 * x)],
                  baths={"b": mt.Bath(beta=1.0)}, initial=np.diag([1.0, 0, 0]), duration=5.0)
    with pytest.raises(ValueError, match=r"different sidebands: \|1><2\| in sideband k = 0 .*; "
                                         r"\|2><0\| in sideband k = 3"):
        mt.FloquetSystem(**ladder)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # no LocalJumpWarning either
        undriven = mt.FloquetSystem(**{**ladder, "drive": {1: 0 * _x(0, 1)}})
    mine = {c.energy: c.operator for c in undriven.open_system().pieces[0].channels}
    davies = {c.energy: c.operator for c in mt.davies_channels(
        ladder["hamiltonian"], _x(0, 1) + _x(1, 2), "b", 1.0, lambda x: 0.01 * x)}
    assert sorted(mine) == pytest.approx(sorted(davies), abs=1e-12)
    p0 = undriven.basis().modes[0]
    for (w, op), (w_d, op_d) in zip(sorted(mine.items()), sorted(davies.items())):
        assert np.abs(p0 @ op @ p0.conj().T - op_d).max() < 1e-12


def test_a_time_dependent_hamiltonian_not_hermitian_at_every_time_is_refused():
    """[H0, [V, "cos(w t)"]] with V not Hermitian is H(t) != H(t)^dag: V_{-1} = V/2 is not
    V_1^dag = V^dag/2 (it was silently replaced by V_1^dag)."""
    pytest.importorskip("qutip")
    base = dict(couplings=[mt.Coupling(SX, bath="b", spectral_density=lambda x: 0.01 * x)],
                baths={"b": mt.Bath(beta=1.0)}, initial=np.diag([0.0, 1.0]), duration=5.0)
    bad = SX + 1j * SZ
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)          # QuTiP: no compiler
        for h, frequency in (([0.5 * SZ, [bad, "cos(1.3*t)"]], None),
                             (lambda t: 0.5 * SZ + bad * np.cos(1.3 * t), 1.3)):
            with pytest.raises(ValueError, match=r"not Hermitian at every time: its harmonic "
                                                 r"m = -1 is not the adjoint of harmonic m = 1"):
                mt.FloquetSystem(hamiltonian=h, frequency=frequency, **base)
        with pytest.raises(ValueError, match="constant part H0 is not Hermitian"):
            mt.FloquetSystem(hamiltonian=[0.5 * SZ + 0.1j * SX, [SX, "cos(1.3*t)"]], **base)
        good = mt.FloquetSystem(hamiltonian=[0.5 * SZ, [SX + 1j * SY, "exp(1j*1.3*t)"],
                                             [SX - 1j * SY, "exp(-1j*1.3*t)"]], **base)
    assert np.abs(good.drive[1] - (SX + 1j * SY)).max() < 1e-14


def test_a_zero_frequency_an_array_spectral_density_and_a_single_coupling():
    """frequency=0 with a time-dependent Hamiltonian is refused (it divided by zero); a spectral
    density returning a size-1 array and a single Coupling (no list) are accepted as the plain
    forms; a spectral density returning several numbers is refused by name."""
    base = dict(hamiltonian=H0, drive={1: V1}, frequency=OMEGA, baths={"hot": mt.Bath(beta=0.5)},
                initial=np.diag([1.0, 0, 0]), duration=5.0)
    plain = mt.FloquetSystem(couplings=[mt.Coupling(A_HOT, bath="hot", spectral_density=j_hot)],
                             **base)
    for coupling in (mt.Coupling(A_HOT, bath="hot", spectral_density=lambda x: np.array([j_hot(x)])),
                     mt.Coupling(A_HOT, bath="hot", spectral_density=j_hot)):
        other = mt.FloquetSystem(couplings=coupling, **base)
        assert [(c.name, c.energy) for c in other.open_system().pieces[0].channels] == \
            [(c.name, c.energy) for c in plain.open_system().pieces[0].channels]
        assert all(np.array_equal(a.operator, b.operator) for a, b in zip(
            other.open_system().pieces[0].channels, plain.open_system().pieces[0].channels))
    with pytest.raises(ValueError, match=r"spectral_density\(.*\) must return one number"):
        mt.FloquetSystem(couplings=mt.Coupling(A_HOT, bath="hot",
                                               spectral_density=lambda x: np.array([x, x])), **base)
    with pytest.raises(ValueError, match="couplings must be an mt.Coupling or a non-empty list"):
        mt.FloquetSystem(couplings=A_HOT, **base)
    with pytest.raises(ValueError, match=r"frequency must be > 0 \(got 0.0\)"):
        mt.FloquetSystem(hamiltonian=lambda t: H0 + np.cos(t) * (V1 + V1.T), frequency=0.0,
                         couplings=mt.Coupling(A_HOT, bath="hot", spectral_density=j_hot),
                         **{k: v for k, v in base.items() if k not in ("hamiltonian", "drive",
                                                                          "frequency")})


@pytest.mark.parametrize("terms, args, frequency, harmonics", [
    ([[SX, "cos(t)"]], {}, 1.0, {1: SX / 2}),
    ([[SX, "sin(2*t)"], [SZ, "cos(t)"]], {}, 1.0, {1: SZ / 2, 2: -0.5j * SX}),
    ([[SX, "cos(w*t + 0.3)"]], {"w": 1.3}, 1.3, {1: np.exp(0.3j) * SX / 2}),
    ([[SX, "np.cos(2*pi*t/T)"]], {"T": 2 * np.pi / 1.3}, 1.3, {1: SX / 2}),
    ([[SZ, "1"], [SX, "0.2*cos(1.3*t)**2"]], {}, 1.3, {2: 0.05 * SX}),
    ([[SX + 1j * SY, "exp(1.3j*t)"], [SX - 1j * SY, "exp(-1.3j * t)"]], {}, 1.3, {1: SX + 1j * SY}),
])
def test_the_period_is_read_from_string_coefficients(terms, args, frequency, harmonics):
    """cos/sin/exp of any argument linear in t (phases, pi, args, t alone) and constant strings
    (harmonic 0); the harmonics against the series written by hand."""
    qutip = pytest.importorskip("qutip")
    from mcthermo.systems.time_dependent import harmonics as fourier_series
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)          # QuTiP: no compiler
        evo = qutip.QobjEvo([qutip.Qobj(0.5 * SZ)] + [[qutip.Qobj(op), c] for op, c in terms],
                            args=args)
        h0, drive, omega = fourier_series(evo)
    assert omega == pytest.approx(frequency, rel=1e-12)
    constant = 0.5 * SZ + sum((op for op, c in terms if c == "1"), np.zeros((2, 2)))
    constant = constant + sum((0.1 * op for op, c in terms if "**2" in c), np.zeros((2, 2)))
    assert np.abs(h0 - constant).max() < 1e-13
    assert set(drive) == set(harmonics)
    assert max(np.abs(drive[m] - v).max() for m, v in harmonics.items()) < 1e-13


def test_a_hamiltonian_whose_period_cannot_be_read_is_refused_with_the_reason():
    qutip = pytest.importorskip("qutip")
    from mcthermo.systems.time_dependent import harmonics as fourier_series
    import warnings
    for coefficient, reason in (("cos(1.0*t) + cos(sqrt(2)*t)", r"\(1, 1.41421356237\) are "
                                                                  r"incommensurate.*pieces="),
                                ("cos(1.3*t**2)", "cannot be found.*frequency=Omega.*pieces="),
                                ("t*cos(t)", "cannot be found"),
                                ("exp(-0.1*t)*cos(t)", "cannot be found"),
                                ("exp(-t**2)", "cannot be found")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            evo = qutip.QobjEvo([qutip.Qobj(SZ), [qutip.Qobj(SX), coefficient]])
            with pytest.raises(ValueError, match=reason):
                fourier_series(evo)


def test_messages_name_what_is_missing_and_warnings_point_at_the_callers_line():
    """A coupling without any spectral density, a Gibbs or bath-name start, a slow drive whose
    U(T) differences are round-off of 65,536 steps (accepted, it was refused as 'too strong or
    too fast'), and the SecularApproximationWarning's line."""
    import warnings
    qubit = dict(hamiltonian=0.5 * SZ, drive={1: 0.02 * SX}, frequency=1.0,
                 baths={"b": mt.Bath(beta=1.0)}, initial=np.diag([0.0, 1.0]), duration=1.0)
    with pytest.raises(ValueError, match="coupling to bath 'b' has no spectral density"):
        mt.FloquetSystem(couplings=mt.Coupling(SX, bath="b"), **qubit)
    ohmic = mt.FloquetSystem(couplings=mt.Coupling(SX, bath="b"),
                             **{**qubit, "baths": {"b": mt.Bath(beta=1.0, coupling=0.001)}})
    assert len(ohmic.open_system().pieces[0].channels) > 0
    coupling = mt.Coupling(SX, bath="b", spectral_density=lambda x: 0.02 * x)
    for start in ("b", mt.Gibbs(1.0)):
        with pytest.raises(ValueError, match="initial must be the lab-frame state at t = 0, a "
                                             "density matrix or a state vector.*gibbs_state"):
            mt.FloquetSystem(couplings=coupling, **{**qubit, "initial": start})
    slow = mt.FloquetSystem(couplings=mt.Coupling(SX, bath="b", spectral_density=lambda x: 1e-6 * x),
                            **{**qubit, "drive": {1: 0.1 * SX}, "frequency": 1e-3})
    steps = len(slow.basis().modes)
    assert slow.propagator_error <= steps * 1e-16
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mt.FloquetSystem(couplings=coupling, **qubit)
    from mcthermo.systems.floquet import SecularApproximationWarning
    warned = [w for w in caught if w.category is SecularApproximationWarning]
    assert len(warned) == 1 and warned[0].filename == __file__
