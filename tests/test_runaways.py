"""Runs that could run away are sized before anything is computed (issue #22 B)."""
import numpy as np
import pytest

import mcthermo as mt
from mcthermo.runner import resolve_chunk_size
from mcthermo.systems import stroke_engine


def test_sizing_a_chunk_never_builds_the_exact_law(monkeypatch):
    """Strokes(cycles=10**4) used to spend > 90 s in resolve_chunk_size -> log_sparse_pmf."""
    def forbidden(*args, **kwargs):
        raise AssertionError("resolve_chunk_size built the exact law")

    monkeypatch.setattr(stroke_engine, "log_sparse_pmf", forbidden)
    monkeypatch.setattr(stroke_engine, "log_joint_pmf", forbidden)
    engine = mt.examples.two_level_otto(cycles=10**4)
    assert resolve_chunk_size(engine, None) > 0


@pytest.mark.parametrize("make", [lambda: mt.examples.two_level_otto(cycles=3),
                                  lambda: mt.examples.ladder_otto(levels=4, cycles=2)])
def test_draws_per_trajectory_are_those_of_the_kernel_tables(make):
    engine = make().engine("forward")
    assert engine.steps_per_trajectory() == engine.tables.steps == engine.moment_tables.steps


# --- exact references are sized first; exact=False samples without them ----------------------
from mcthermo.exact import effort, tilted  # noqa: E402


def open_system(d=3, **changes):
    rng = np.random.default_rng(3)
    h = np.diag(np.arange(d, dtype=float))
    a = rng.normal(size=(d, d))
    options = dict(hamiltonian=h, channels=(mt.davies_channels(h, a + a.T, "hot", 0.5, lambda w: 0.2)
                                            + mt.davies_channels(h, a - a.T, "cold", 2.0, lambda w: 0.1)),
                   baths={"hot": mt.Bath(beta=0.5), "cold": mt.Bath(beta=2.0)},
                   initial=mt.gibbs_state(h, 1.0), duration=2.0,
                   output_times=np.linspace(0, 2, 3), observables={"n": h})
    options.update(changes)
    return mt.OpenSystem(**options)


def test_a_large_open_system_is_refused_in_one_line_before_any_exact_work(monkeypatch):
    """d = 40 with 1,560 Davies channels grew to 20 GB in exact/tilted.py: now refused at once."""
    def forbidden(*args, **kwargs):
        raise AssertionError("exact work before the size was checked")

    monkeypatch.setattr(tilted, "transfer", forbidden)
    monkeypatch.setattr(tilted, "taylor_transfer", forbidden)
    rng = np.random.default_rng(1)
    h = np.diag(np.sort(rng.uniform(0, 5, 40)))
    x = rng.normal(size=(40, 40))
    system = mt.OpenSystem(hamiltonian=h, channels=mt.davies_channels(h, x + x.T, "hot", 1.0, lambda w: 0.1),
                           baths={"hot": mt.Bath(beta=1.0)}, initial=np.eye(40) / 40, duration=1.0)
    assert len(system.channel_names) == 1560
    with pytest.raises(ValueError) as refused:
        mt.sample(system, trajectories=4096, seed=1)
    message = str(refused.value)
    assert "\n" not in message and "GiB" in message and "exact=False" in message


def test_exact_false_samples_the_same_trajectories_without_references():
    exact = mt.sample(open_system(), trajectories=4096, seed=5)
    plain = mt.sample(open_system(exact=False), trajectories=4096, seed=5)
    a, b = (run.tables["summary"].set_index("observable") for run in (exact, plain))
    # the same trajectories: equal jump counts; the float observables' atoms sit on lattices of
    # other widths (the exact widths are narrower), so their means agree to round-off
    jumps = [name for name in b.index if name.startswith("jumps_")]
    np.testing.assert_array_equal(a.loc[jumps, "mean"], b.loc[jumps, "mean"])
    np.testing.assert_allclose(a.loc[b.index, "mean"], b["mean"], rtol=1e-14, atol=1e-15)
    assert b["mean_exact"].isna().all() and a["mean_exact"].notna().all()
    checks = plain.tables["checks"]
    exactless = checks[checks["check"].isin(["mean", "variance", "distribution", "integral_ft",
                                             "expectation"])]
    assert len(exactless) and (exactless["verdict"] == "not applicable").all()
    assert exactless["reason"].str.contains("no exact reference").all()
    assert (plain.tables["histogram"]["probability_exact"].isna()).all()


def test_exact_false_is_part_of_the_spec():
    system = open_system(exact=False)
    assert mt.OpenSystem.from_parameters(system.parameters()) == system
    assert mt.OpenSystem.from_parameters(open_system().parameters()).exact
    with pytest.raises(ValueError, match="exact must be True or False"):
        open_system(exact="no")


def test_strokes_with_exact_false_sample_without_references():
    exact = mt.sample(mt.examples.two_level_otto(cycles=2), trajectories=2048, seed=3)
    protocol = mt.examples.two_level_otto(cycles=2)
    plain_spec = mt.Strokes.from_parameters({**protocol.parameters(), "exact": False})
    plain = mt.sample(plain_spec, trajectories=2048, seed=3)
    a, b = (run.tables["summary"].set_index("observable") for run in (exact, plain))
    np.testing.assert_array_equal(a.loc[b.index, "mean"], b["mean"])
    assert b["mean_exact"].isna().all()
    rows = plain.tables["checks"]
    rows = rows[rows["check"].isin(["mean", "variance", "distribution", "integral_ft"])]
    assert len(rows) and rows["reason"].str.contains("no exact reference").all()


def test_a_long_stroke_law_is_refused_naming_exact_false(monkeypatch):
    monkeypatch.setattr(effort, "MAX_SECONDS", 1.0)
    protocol = mt.examples.two_level_otto(cycles=300)
    with pytest.raises(ValueError, match=r"exact law of the strokes on its support.*exact=False"):
        mt.sample(protocol, trajectories=64, seed=1)


def test_long_exact_work_reports_its_progress_on_stderr(monkeypatch, capsys):
    """Not a terminal: one line when it becomes long, one when it ends; silent under --quiet."""
    from mcthermo.exact.strokes_dp import log_sparse_pmf
    monkeypatch.setattr(effort, "QUIET_SECONDS", 0.0)
    engine = mt.examples.two_level_otto(cycles=20).engine("forward")
    log_sparse_pmf(engine.chain, engine.box, 1 << 20)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and "to go" in lines[0] and "done after" in lines[1]
    with effort.reporting(False):
        log_sparse_pmf(engine.chain, engine.box, 1 << 20)
    assert capsys.readouterr().err == ""


def test_exact_references_use_the_worker_threads(monkeypatch):
    """OpenBLAS starts one thread per core; the exact references run with ``workers`` threads."""
    from mcthermo import blas
    if not blas.threads():
        pytest.skip("no OpenBLAS found in this process")
    seen = []
    original = tilted.moments

    def recording(*args, **kwargs):
        seen.append(blas.threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(tilted, "moments", recording)
    before = blas.threads()
    mt.sample(open_system(), trajectories=4096, seed=5, workers=1)
    assert seen and all(counts == [1] * len(counts) for counts in seen)
    assert blas.threads() == before


# --- runs that would take days are refused up front; the log gets an estimate -----------------
def test_a_run_beyond_a_day_is_refused_unless_yes(tmp_path):
    staircase = mt.Staircase(steps=100)
    with pytest.raises(ValueError) as refused:
        mt.sample(staircase, trajectories=10**18, seed=1, out=tmp_path / "run")
    message = str(refused.value)
    assert "\n" not in message and "--yes" in message and "yes=True" in message and "limit 24 h" in message
    assert not (tmp_path / "run").exists()                       # refused before anything written
    from mcthermo import runner
    assert runner.expected_seconds(staircase, 10**18, 1, 1) > runner.MAX_RUN_SECONDS
    assert runner.expected_seconds(staircase, 10**6, 1, 1) < 1.0


def test_yes_runs_past_the_refusal(monkeypatch):
    from mcthermo import runner
    monkeypatch.setattr(runner, "MAX_RUN_SECONDS", 0.0)
    with pytest.raises(ValueError, match="--yes"):
        mt.sample(mt.Staircase(steps=10), trajectories=1000, seed=1)
    assert mt.sample(mt.Staircase(steps=10), trajectories=1000, seed=1, yes=True).tables["summary"].size


def test_the_log_gets_one_estimate_line_after_the_first_chunk(capsys):
    """stderr is not a terminal under pytest: no bar, but one line with speed and expected end."""
    mt.sample(mt.Staircase(steps=10), trajectories=4000, seed=1, chunk_size=1000, progress=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if "trajectories/s" in line]
    assert len(lines) == 1 and "after the first chunk" in lines[0] and "expected end in" in lines[0]
    mt.sample(mt.Staircase(steps=10), trajectories=4000, seed=1, chunk_size=1000, progress=False)
    assert "trajectories/s" not in capsys.readouterr().err


def test_ctrl_c_stops_long_exact_work_at_once_and_leaves_nothing(monkeypatch, tmp_path):
    """A KeyboardInterrupt between two steps of an exact computation surfaces at once; the stroke
    law is computed before anything is written, so the run directory is left as it was."""
    calls = []

    def interrupt(self, amount=1.0):
        calls.append(amount)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(effort.Progress, "advance", interrupt)
    with pytest.raises(KeyboardInterrupt):
        mt.sample(mt.examples.two_level_otto(cycles=300), trajectories=64, seed=1, out=tmp_path / "run")
    assert len(calls) == 3 and not (tmp_path / "run").exists()


def test_the_exact_landau_zener_propagation_reports_progress(monkeypatch, capsys):
    from mcthermo.exact.lz_propagator import drive_from_spec, propagate
    monkeypatch.setattr(effort, "QUIET_SECONDS", 0.0)
    propagate(drive_from_spec(mt.LandauZener(levels=(1.0, 2.0), level_end=3.0)), tolerance=1e-6)
    err = capsys.readouterr().err
    assert "exact Landau-Zener propagation" in err and "to go" in err and "done after" in err


def test_the_command_line_refuses_1e18_trajectories_in_one_line(tmp_path, capsys):
    from mcthermo import cli
    code = cli.main(["sample", "staircase", "--trajectories", str(10**18), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--yes" in err[0] and not (tmp_path / "r").exists()


def test_every_direction_gets_its_exact_law_before_the_first_chunk(monkeypatch):
    """With reverse=True the reverse protocol's sparse law is sized and computed before sampling
    too (not inside its first chunk, where Ctrl-C would wait for the chunk)."""
    seen = []
    original = mt.Strokes.accumulate

    def accumulate(self, direction, seed, first, count):
        seen.append(all("support" in self.engine(d).__dict__ for d in ("forward", "reverse")))
        return original(self, direction, seed, first, count)

    monkeypatch.setattr(mt.Strokes, "accumulate", accumulate)
    protocol = mt.examples.two_level_otto(cycles=300)
    assert protocol.engine("forward").mode == "sparse"
    mt.sample(protocol, trajectories=64, seed=1, reverse=True)
    assert seen and all(seen)


def test_progress_with_a_work_model_extrapolates_work_not_steps(monkeypatch, capsys):
    """Fake clock: 10 units of work done in 2 s with 90 units left -> 10 %, 18 s to go."""
    clock = iter([0.0, 2.0, 2.0])
    monkeypatch.setattr(effort.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(effort.sys.stderr, "isatty", lambda: False, raising=False)
    progress = effort.Progress("model", 1000, left=lambda: 90.0)
    progress.advance(10.0)
    assert "10% after 2 s, about 18 s to go" in capsys.readouterr().err


def test_the_sparse_law_eta_follows_the_widening_support(monkeypatch):
    """Issue #22: a linear ETA in steps said 27 s for a law that took minutes.  The work of a step is
    the support it starts from; after 10 % of the steps the extrapolated work left is within a
    factor 2 of the work actually left (a linear extrapolation in steps is off by ~10x)."""
    from mcthermo.exact import strokes_dp

    work = []

    class Recording:
        def __init__(self, label, total, left=None):
            pass

        def advance(self, amount=1.0):
            work.append(amount)

        def close(self):
            pass

    monkeypatch.setattr(strokes_dp, "Progress", Recording)
    engine = mt.examples.two_level_otto(cycles=100).engine("forward")
    strokes_dp.log_sparse_pmf(engine.chain, engine.box, 1 << 40)
    work = np.array(work, dtype=float)
    steps = engine.chain.steps
    assert len(work) == steps and work[-1] > 5 * work[steps // 10]  # the support does widen
    for done in (steps // 20, steps // 10, steps // 4):
        left = strokes_dp.support_work_left(list(work[:done]), steps, 1 << 40)
        assert 0.5 < left / work[done:].sum() < 2.0
    # the support cap bounds the model
    assert strokes_dp.support_work_left([5, 10, 20, 40], 8, 50) == 4 * 50


def test_the_tpm_enumeration_reports_progress_that_ends_at_its_total(monkeypatch, capsys):
    """Work units: a pair of N-particle determinants counts N, the final merge 1.3 per pair."""
    from mcthermo.exact import lz_tpm

    monkeypatch.setattr(effort, "QUIET_SECONDS", 0.0)
    meters = []

    class Keeping(effort.Progress):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            meters.append(self)

    monkeypatch.setattr(lz_tpm, "Progress", Keeping)
    rng = np.random.default_rng(1)
    modes = 6
    h = np.diag(rng.standard_normal(modes))
    unitary, _ = np.linalg.qr(rng.standard_normal((modes, modes)) + 1j * rng.standard_normal((modes, modes)))
    atoms = lz_tpm.tpm_work_distribution(h, h, unitary, 1.0, 0.0)
    assert abs(atoms.probability.sum() - 1.0) < 1e-12
    assert meters[0].done == pytest.approx(meters[0].total, rel=1e-12)
    err = capsys.readouterr().err
    assert "exact TPM work distribution" in err and "done after" in err
