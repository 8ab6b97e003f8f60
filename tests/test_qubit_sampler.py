"""Driven qubit sampler: reproducibility, kernel twins, statistical agreement with the exact
answers, and every check shown able to fail on a wrong sampler or a wrong reference."""
import dataclasses
import hashlib

import numba
import numpy as np
import pandas as pd
import pytest

from mcthermo.kernels import jumps
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
    """Bit-identical to the outputs recorded before the kernel arguments became one JumpTables
    (sha256 of every array, thermal start off resonance, seed 123, trajectories 7 ..).  Change these
    digests only with a deliberate change of the draws."""
    q = DrivenQubit(laser_frequency=9.4, initial="thermal", initial_temperature=5.0, times=21)
    acc = q.accumulate("forward", 123, 7, 2000)
    assert _digest([acc[k] for k in sorted(acc)]) == "03ddc77c3a6762a7"
    assert _digest(jumps.jump_samples(123, 0, 7, 300, q.jump_tables())) == "7d6dce1d9b3be4a3"
    assert _digest([a for i in (0, 5, 17) for a in q.jump_record(123, i)]) == "cb8fd2d4e2e2e15e"


def test_kernel_matches_its_python_twin(qubit):
    k = qubit.jump_tables()
    args = (SEED, 0, 10, 40, k)
    for compiled, python in zip(jumps.jump_samples(*args), jumps.jump_samples.py_func(*args)):
        np.testing.assert_array_equal(compiled, python)
    times, channels = qubit.jump_record(SEED, 12)
    np.testing.assert_array_equal(times, jumps.jump_record.py_func(SEED, 0, 12, k)[0])
    np.testing.assert_array_equal(channels, jumps.jump_record.py_func(SEED, 0, 12, k)[1])
    # the scalar helpers of the hot loop (the RNG state cannot round-trip through Python ints)
    cp, cm = np.complex128(0.6 + 0.2j), np.complex128(-0.3 + 0.714j)
    for dt in (0.0, 0.7, 1e4):
        np.testing.assert_allclose(jumps._decay(cp, cm, 0.09, 0.06, dt),
                                   jumps._decay.py_func(cp, cm, 0.09, 0.06, dt), rtol=1e-14)
    moments = [np.zeros((2, 3, jumps.MOMENTS)) for _ in range(2)]
    jumps._record(moments[0], 1, 2, cp, cm)
    jumps._record.py_func(moments[1], 1, 2, cp, cm)
    np.testing.assert_allclose(moments[0], moments[1], rtol=1e-15)
    for u in (0.0, 0.3, 0.999999):
        assert jumps._pick(u, k.cum_plus, k.chan_plus) == jumps._pick.py_func(u, k.cum_plus, k.chan_plus)


def test_samples_and_jump_record_agree_with_accumulators(qubit):
    rows = qubit.samples("forward", 3, 0, 500)
    acc = qubit.accumulate("forward", 3, 0, 500)
    channels = rows[[f"jumps_{c}" for c in range(9)]].to_numpy()
    np.testing.assert_array_equal(channels.sum(axis=0), acc["channel_sum"])
    assert np.all(np.abs(rows["first_law_residual"]) < 1e-12)
    times, channel = qubit.jump_record(3, 17)
    np.testing.assert_array_equal(np.bincount(channel, minlength=9), channels[17])
    assert np.all(np.diff(times) > 0) and (times.size == 0 or times[-1] <= qubit.t_end)


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
    original = DrivenQubit.jump_tables

    def slow_decay(self):
        tables = original(self)
        return tables._replace(a=0.8 * tables.a)  # the + branch waits 25 % too long

    monkeypatch.setattr(DrivenQubit, "jump_tables", slow_decay)
    acc = qubit.accumulate("forward", SEED, 0, 50_000)
    monkeypatch.undo()
    failed = set(_failed(qubit, acc))
    assert ("bloch", "bloch_vector") in failed
    assert ("mean", "heat_dephasing") in failed


def test_first_law_check_fails_on_wrong_channel_bookkeeping(qubit, monkeypatch):
    original = DrivenQubit.jump_tables

    def lost_quanta(self):
        tables = original(self)
        d_dephasing = tables.d_dephasing.copy()
        d_dephasing[1] = 0                  # z-bath s~- jumps forget their quantum W
        return tables._replace(d_dephasing=d_dephasing)

    monkeypatch.setattr(DrivenQubit, "jump_tables", lost_quanta)
    acc = qubit.accumulate("forward", SEED, 0, 5000)
    monkeypatch.undo()
    assert acc["first_law_violations"][0] > 0
    assert ("first_law", "energy") in set(_failed(qubit, acc))


def test_lattice_range_check_fails_when_the_lattice_is_too_small(qubit, monkeypatch):
    monkeypatch.setattr(DrivenQubit, "half_width", lambda self: 1)
    acc = qubit.accumulate("forward", SEED, 0, 5000)
    assert acc["overflow"][0] > 0
    assert ("lattice_range", "energy") in set(_failed(qubit, acc))


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
