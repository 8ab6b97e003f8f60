"""Driven qubit sampler (the generic jump engine on the Floquet-frame OpenSystem): reproducibility,
the compiled system against the closed forms, statistical agreement with the exact answers, and
every check shown able to fail on a wrong sampler or a wrong reference."""
import dataclasses
import hashlib

import numba
import numpy as np
import pandas as pd
import pytest

from mcthermo.exact import tilted
from mcthermo.kernels import lindblad
from mcthermo.models import qubit as qubit_model
from mcthermo.models.qubit import DrivenQubit
from mcthermo import Bath
from mcthermo.checks import bonferroni_threshold as bloch_threshold
from mcthermo.models.qubit_results import bloch_table
from mcthermo.tables import build as build_tables

SEED = 20240604
B = DrivenQubit.block_size


@pytest.fixture(scope="module")
def qubit():
    return DrivenQubit()


@pytest.fixture(scope="module")
def accumulated(qubit):
    """200 000 ground-start trajectories at resonance (about 4 s on 2 cores)."""
    return qubit.accumulate("forward", SEED, 0, 200_000)


@pytest.fixture(scope="module")
def result(qubit, accumulated):
    return build_tables(qubit.results({"forward": accumulated}))


def _frames_equal(a, b):
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)


def test_tables_do_not_depend_on_chunking(qubit):
    whole = qubit.accumulate("forward", 5, 0, 2 * B + 100)
    parts = [qubit.accumulate("forward", 5, 0, B), qubit.accumulate("forward", 5, B, B + 100)]
    merged = {key: (np.concatenate([p[key] for p in parts]) if whole[key].dtype.kind == "f"
                    else parts[0][key] + parts[1][key]) for key in whole}
    for key in whole:
        np.testing.assert_array_equal(whole[key], merged[key])
    _frames_equal(build_tables(qubit.results({"forward": whole})), build_tables(qubit.results({"forward": merged})))


def test_accumulators_do_not_depend_on_thread_count(qubit):
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = qubit.accumulate("forward", 9, 0, 3 * B + 7)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = qubit.accumulate("forward", 9, 0, 3 * B + 7)
    finally:
        numba.set_num_threads(threads)
    for key in one:
        np.testing.assert_array_equal(one[key], many[key])


def _digest(arrays):
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return h.hexdigest()[:16]


def test_kernels_reproduce_the_recorded_draws():
    """Bit-identical to the outputs recorded when the qubit moved to the generic jump engine
    (sha256 of every array, thermal start off resonance, seed 123, trajectories 7 ..).  Change these
    digests only with a deliberate change of the draws."""
    q = DrivenQubit(laser_frequency=9.4, initial="thermal", initial_temperature=5.0, times=21)
    acc = q.accumulate("forward", 123, 7, 2000)
    assert _digest([acc[k] for k in sorted(acc)]) == DIGESTS[0]
    rows = q.samples("forward", 123, 7, 300)
    assert _digest([rows[c].to_numpy() for c in ("n_initial", "n_final", "laser_quanta",
                                                 "photon_quanta", "dephasing_quanta")]) == DIGESTS[1]
    assert _digest([a for i in (0, 5, 17) for a in q.jump_record(123, i)]) == DIGESTS[2]


#: accumulators, samples and jump records of ``test_kernels_reproduce_the_recorded_draws``
DIGESTS = ("780f5272eb0646eb", "2bbd3ced3704df1b", "7d25fbf0011bed02")


@pytest.mark.parametrize("kwargs", [{}, {"laser_frequency": 9.4, "initial": "thermal", "initial_temperature": 5.0},
                                    {"laser_frequency": 9.3, "initial": (0.3, 0.2, -0.5)},
                                    {"rates": (0.07, 0.04, 0.02), "initial": (0.0, 1.0, 0.0)}])
def test_open_system_is_the_closed_form_floquet_frame(kwargs):
    """The compiled Floquet-frame system: levels (|->, |+>), H = diag(-W/2, W/2), one channel per
    closed-form channel with a rate (operator sqrt(g_c) s~op, energy omega_c, drive_work nL wL),
    rho~(0) on the diagonal where it should be; and its lab observables, evolved exactly WITHOUT the
    initial measurement (the kernel's unmeasured start), give the analytic (QuTiP-checked) Bloch
    vector to 1e-12."""
    q = DrivenQubit(**kwargs)
    system = q.open_system()
    w = q.quasi_frequency
    np.testing.assert_allclose(system.pieces[0].hamiltonian, np.diag([-w / 2, w / 2]), atol=1e-15)
    channels = system.pieces[0].channels
    assert len(channels) == len(q.channel_indices())
    for c, channel in zip(q.channel_indices(), channels):
        bath, op, nl, nw = qubit_model.CHANNELS[c]
        np.testing.assert_allclose(channel.operator, np.sqrt(q.channel_rates()[c])
                                   * qubit_model.FLOQUET_OPERATORS[op], rtol=0, atol=1e-15)
        assert channel.bath == bath and channel.energy == q.channel_frequencies()[c]
        assert channel.drive_work == nl * q.laser_frequency
    s0 = q.initial_floquet()[0]
    np.testing.assert_allclose(np.diag(system.initial).real, [(1 - s0) / 2, (1 + s0) / 2], atol=1e-15)
    unmeasured = dataclasses.replace(system, measure_energy=False)
    rho = tilted.states_at(unmeasured, unmeasured.output_times)
    lab = np.stack([np.einsum("tab,tba->t", rho, unmeasured.observable_at(a)).real for a in "xyz"], axis=1)
    assert np.abs(lab - q.bloch()).max() < 1e-12


def test_all_checks_pass_on_the_correct_sampler(result):
    checks = result["checks"]
    assert (checks["verdict"] != "failed").all(), checks.loc[~checks["passed"]].to_string()
    # <e^{-sigma}> rests on rare trajectories here (stderr ~100): no power, said so, not a pass;
    # a channel expecting ~1e-33 jumps is not checked; a C6 bookkeeping may violate the second law
    unjudged = checks[~checks["passed"]]
    assert set(unjudged["check"]) <= {"integral_ft", "mean", "second_law"}
    assert (unjudged.loc[unjudged["check"] == "mean", "verdict"] == "not applicable").all()
    assert (unjudged.loc[unjudged["check"] == "second_law", "observable"] != "heat_floquet").all()
    assert set(checks["check"]) >= {"bloch", "first_law", "mean", "distribution", "integral_ft"}
    random = checks[np.isfinite(checks["stderr"]) & (checks["stderr"] > 0)]
    # Bonferroni: for one fixed seed, max |z| of m null z-scores exceeds 4 with probability
    # <= m P(|Z| > 4) = m 6.3e-5 (1.6e-3 for the 25 rows here)
    assert len(random) <= 30 and np.abs(random["z"]).max() < 4.0


def test_bloch_and_thermo_tables(qubit, result):
    bloch, thermo = result["bloch"], result["thermo"]
    assert len(bloch) == qubit.times and len(thermo) == qubit.times
    z = (bloch[["x", "y", "z"]].to_numpy() - bloch[["x_exact", "y_exact", "z_exact"]].to_numpy())
    se = bloch[["x_stderr", "y_stderr", "z_stderr"]].to_numpy()
    assert np.nanmax(np.abs(z[1:] / se[1:])) < bloch_threshold(3 * (qubit.times - 1))
    # U = h.r/2 of the trajectory average: within 6 of its stderr (|h|/2) |se| at every time
    u_se = 0.5 * np.hypot(qubit.atom_frequency, qubit.rabi) * np.linalg.norm(se, axis=1)
    assert np.all(np.abs(thermo["U_mc"] - thermo["U"]) <= 6 * u_se + 1e-12)


def _calibration_z(z):
    """z-scores of the across-run means of z and of z^2 - 1 (one row of ``z`` per independent run):
    both 0 under the null, each with the standard error of its 40 independent run averages."""
    out = []
    for per_run in (z.mean(axis=1), (z**2).mean(axis=1) - 1.0):
        out.append(per_run.mean() / (per_run.std(ddof=1) / np.sqrt(per_run.size)))
    return np.array(out)


def test_bloch_z_scores_are_calibrated():
    """The Bonferroni threshold t(m) bounds the false-alarm rate of max |z| over m z-scores by
    m P(|Z| > t(m)) = 2 P(Z > 5) whatever their correlations, provided each z is marginally
    N(0, 1).  That premise is tested: 40 independent runs (5000 trajectories, 40 times x 3 axes),
    mean z = 0 and mean z^2 = 1 across runs; z inflated by 1.25 (a stderr 20 % too small) is flagged."""
    q = DrivenQubit(laser_frequency=9.4, initial=(0.0, 1.0, 0.0), times=41)
    runs = []
    for run in range(40):
        frame = bloch_table(q, q.accumulate("forward", 1000 + run, 0, 5000))[0].iloc[1:]
        runs.append(np.concatenate([(frame[a] - frame[f"{a}_exact"]) / frame[f"{a}_stderr"] for a in "xyz"]))
    z = np.array(runs)
    assert z.shape == (40, 120) and np.abs(z).max() < bloch_threshold(z.size)
    assert np.all(np.abs(_calibration_z(z)) < 4), _calibration_z(z)
    assert _calibration_z(1.25 * z)[1] > 4


def _failed(spec, acc):
    checks = build_tables(spec.results({"forward": acc}))["checks"]
    return checks.loc[~checks["passed"], ["check", "observable"]].itertuples(index=False, name=None)


def test_checks_fail_against_a_wrong_reference(qubit, accumulated):
    """Same trajectories, analytic side with the photon bath 30 % stronger and hotter."""
    wrong = dataclasses.replace(qubit, photon_bath=Bath(coupling=0.0026, temperature=2.6, cutoff=30.0))
    failed = set(_failed(wrong, accumulated))
    assert ("bloch", "bloch_vector") in failed
    for name in ("work", "heat_photon", "heat_dephasing"):
        assert ("mean", name) in failed


HOT_SHORT = dict(initial="ground", laser_frequency=9.4, t_end=4.0, times=21,
                 photon_bath=Bath(coupling=0.002, temperature=6.0, cutoff=30.0))


def test_integral_ft_passes_and_fails_where_it_has_power():
    """A short run with a hot photon bath: e^{-sigma} has a null sd of about 1.3, so 10^5
    trajectories resolve <e^{-sigma}> to 0.004; sigma computed with a wrong photon temperature fails."""
    q = DrivenQubit(**HOT_SHORT)
    acc = q.accumulate("forward", SEED, 0, 100_000)
    checks = build_tables(q.results({"forward": acc}))["checks"].set_index("check")
    assert checks.loc["integral_ft", "passed"] and checks.loc["integral_ft", "stderr"] < 0.01
    wrong = dataclasses.replace(q, photon_bath=Bath(coupling=0.002, temperature=4.0, cutoff=30.0))
    assert ("integral_ft", "entropy_production") in set(_failed(wrong, acc))


def test_checks_fail_on_a_sampler_with_a_wrong_rate(qubit, monkeypatch):
    """The engine run on a Floquet-frame system whose s~- jumps are 20 % too slow."""
    monkeypatch.setitem(qubit_model.FLOQUET_OPERATORS, "-",
                        np.sqrt(0.8) * qubit_model.FLOQUET_OPERATORS["-"])
    acc = dataclasses.replace(qubit).accumulate("forward", SEED, 0, 50_000)
    monkeypatch.undo()
    failed = set(_failed(qubit, acc))
    assert ("bloch", "bloch_vector") in failed
    assert ("mean", "heat_dephasing") in failed


def test_first_law_check_fails_on_wrong_channel_bookkeeping(monkeypatch):
    original = DrivenQubit.kernel_tables

    def lost_quanta(self):
        tables = original(self)
        step = tables.step.copy()
        step[0, list(self.channel_indices()).index(1), 2] = 0   # z-bath s~- jumps forget their W
        return tables._replace(step=step)

    monkeypatch.setattr(DrivenQubit, "kernel_tables", lost_quanta)
    q = DrivenQubit()
    acc = q.accumulate("forward", SEED, 0, 5000)
    monkeypatch.undo()
    assert acc["first_law_violations"][0] > 0
    assert ("first_law", "energy") in set(_failed(q, acc))


def test_lattice_range_check_fails_when_the_lattice_is_too_small(monkeypatch):
    monkeypatch.setattr(DrivenQubit, "half_width", lambda self: 1)
    q = DrivenQubit()
    acc = q.accumulate("forward", SEED, 0, 5000)
    assert acc["joint_overflow"][0] > 0
    assert ("lattice_range", "energy") in set(_failed(q, acc))


def test_thermal_start_off_resonance_passes():
    q = DrivenQubit(laser_frequency=9.4, initial="thermal", initial_temperature=5.0, times=81)
    checks = build_tables(q.results({"forward": q.accumulate("forward", 77, 0, 60_000)}))["checks"]
    assert (checks["verdict"] != "failed").all(), checks.loc[~checks["passed"]].to_string()
    unjudged = checks[~checks["passed"]]
    assert set(unjudged["check"]) <= {"integral_ft", "second_law"}
    assert (unjudged.loc[unjudged["check"] == "second_law", "observable"] != "heat_floquet").all()


def test_rates_only_form_samples_ensemble_quantities():
    q = DrivenQubit(rates=(0.0723532763, 0.0389636636, 0.0228159019), times=81)
    result = build_tables(q.results({"forward": q.accumulate("forward", 11, 0, 40_000)}))
    assert result["histogram"].empty
    assert result["summary"]["observable"].str.startswith("jumps_").all()
    assert result["checks"]["passed"].all()
    assert set(result["checks"]["check"]) == {"bloch", "first_law", "lattice_range", "mean"}
    assert result["thermo"]["entropy_production_entropy_mc"].isna().all()
