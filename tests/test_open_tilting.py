"""Tilted sampling of open systems: exact replayed weights, tilted tails, reweighted theorems."""
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy.linalg import expm
from scipy.special import logsumexp

import mcthermo as mt
from invariance import assert_independent_of_chunks_and_threads
from mcthermo.kernels import lindblad, replay
from mcthermo.model import STREAMS
from mcthermo.systems import open_sampling, open_tilting
from mcthermo.tilting import tilted_spec
from mcthermo.systems.open_system import Channel, OpenSystem, Piece


def _driven_qubit():
    """A qubit with a coherent drive (the channels are not eigenoperators), two pieces."""
    sx = np.array([[0, 1], [1, 0]], complex)
    sz = np.diag([0.5, -0.5]).astype(complex)
    down = np.array([[0, 0], [1, 0]], complex)
    pieces = [Piece(sz + 0.3 * sx, [Channel("emit", 0.8 * down, 1.0, "b"),
                                    Channel("absorb", 0.5 * down.T, -1.0, "b")], 1.3),
              Piece(1.5 * sz - 0.2 * sx, [Channel("emit", 0.6 * down, 1.0, "b"),
                                          Channel("absorb", 0.7 * down.T, -1.0, "b")], 0.9)]
    rho0 = np.array([[0.3, 0.1], [0.1, 0.7]], complex)
    return OpenSystem(pieces=pieces, baths={"b": mt.Bath(beta=1.0)}, initial=rho0,
                      energy_units={"b": 1.0})


def _density(system, i, j, times, names):
    """p0(i) |<j| e^{-i H_eff (T - t_n)} L_n ... L_1 e^{-i H_eff t_1} |i>|^2 by matrix exponentials
    of each piece's H_eff (independent of the kernel's eigen-decomposition)."""
    e0, v0 = np.linalg.eigh(system.pieces[0].hamiltonian)
    ef, vf = np.linalg.eigh(system.pieces[-1].hamiltonian)
    p0 = np.real(v0[:, i].conj() @ system.initial @ v0[:, i])
    psi = v0[:, i].astype(complex)
    boundaries = np.cumsum([p.duration for p in system.pieces])
    t, q = 0.0, 0
    for piece, end in zip(system.pieces, boundaries):
        gamma = sum(c.operator.conj().T @ c.operator for c in piece.channels)
        h_eff = piece.hamiltonian - 0.5j * gamma
        while q < len(times) and times[q] <= end:
            psi = expm(-1j * h_eff * (times[q] - t)) @ psi
            psi = next(c.operator for c in piece.channels if c.name == names[q]) @ psi
            t, q = times[q], q + 1
        psi = expm(-1j * h_eff * (end - t)) @ psi
        t = end
    return p0 * abs(vf[:, j].conj() @ psi) ** 2


def test_replayed_density_equals_matrix_exponential_formula():
    system = _driven_qubit()
    other = open_tilting.proposal(system, "heat_b", 0.7)
    plain = open_tilting.bare(system, open_tilting.split(system.pieces))
    replays = open_tilting.replays([plain, other])
    names = system.channel_names
    records = [(0, 1, [], []), (1, 0, [0.4], ["emit"]), (0, 0, [0.2, 1.0, 1.5, 2.1],
                                                          ["absorb", "emit", "absorb", "emit"])]
    for i, j, times, channels in records:
        slots = np.array([names.index(c) for c in channels], np.int64)
        for e, reference in enumerate([plain, other]):
            got = replay.log_density(replays, e, i, j, np.array(times, float), slots, len(times),
                                     np.empty(2, complex), np.empty(2, complex))
            assert got == pytest.approx(math.log(_density(reference, i, j, times, channels)),
                                        abs=1e-12)


def _two_bath_qubit():
    """A qubit between a hot (beta 0.5) and a cold (beta 2) bath, Davies channels, t = 50."""
    h = np.diag([0.5, -0.5]).astype(complex)
    a = np.array([[0, 1], [1, 0]], complex)
    channels = (mt.davies_channels(h, a, "hot", 0.5, lambda w: 0.2)
                + mt.davies_channels(h, a, "cold", 2.0, lambda w: 0.2))
    return OpenSystem(hamiltonian=h, channels=channels,
                      baths={"hot": mt.Bath(beta=0.5), "cold": mt.Bath(beta=2.0)},
                      initial=mt.gibbs_state(h, 1.0), duration=50.0)


#: tilt of heat_hot whose exact tilted law has its mean at Q_hot = 21 (~9.3 standard deviations)
TAIL_TILT = -2.4747727


def test_tilted_dft_is_accurate_in_relative_terms_in_the_tail():
    system = _two_bath_qubit()
    tail = 21 + 60
    one = open_tilting.exact_log_law(system, "heat_hot", 1.0, 60, (0.0, -2.0))
    other = open_tilting.exact_log_law(system, "heat_hot", 1.0, 60, (0.0, -2.5))
    assert math.exp(one[tail]) == pytest.approx(2.086943e-13, rel=1e-6)
    assert abs(one[tail] - other[tail]) < 1e-9                 # two tilts: the same relative value
    plain = open_tilting.exact_log_law(system, "heat_hot", 1.0, 60, (0.0,))
    assert plain[tail] == -np.inf                              # the plain DFT cannot resolve it


def _tail_run(spec, tilt, n=20000):
    run = mt.sample(spec, n, 11, tilt=tilt)
    law = run.tables["reweighted"]
    reached = law[law.stderr > 0]
    return run, reached.set_index("value"), (reached.probability - reached.probability_exact) / reached.stderr


def test_two_bath_heat_tail_at_ten_standard_deviations():
    """P(Q_hot = 21) = 2.1e-13 from 2e4 tilted trajectories, every reached atom within |z| <= 5."""
    run, law, z = _tail_run(_two_bath_qubit(), {"heat_hot": TAIL_TILT})
    assert law.loc[21.0, "probability_exact"] == pytest.approx(2.086943e-13, rel=1e-6)
    assert law.loc[21.0, "stderr"] < 0.05 * law.loc[21.0, "probability_exact"]
    assert law.index.max() >= 26 and np.abs(z).max() <= 5
    tilted = run.tables["checks"][run.tables["checks"].tilt == f"heat_hot={TAIL_TILT:.6g}"]
    heat = tilted[tilted.observable == "heat_hot"]
    assert set(heat.verdict) == {"passed"}                     # the proposal against its own exact law


def test_a_proposal_with_one_rate_two_percent_off_is_caught():
    system = _two_bath_qubit()
    spec = tilted_spec(system, {"heat_hot": TAIL_TILT})
    spec.replays_of("forward")  # the weights replay the correct proposal
    good = spec.systems_of("forward")[1]
    wrong = OpenSystem(pieces=[Piece(p.hamiltonian, [Channel(c.name, c.operator * (math.sqrt(1.02) if
                                                                                   c.name == "hot:-1" else 1),
                                                             c.energy, c.bath) for c in p.channels],
                                     p.duration) for p in good.pieces],
                       baths=good.baths, initial=good.initial, energy_units=good.energy_units)
    good.__dict__["_derived"]["tables"] = open_sampling.kernel_tables(wrong, good.layout())
    run, law, z = _tail_run(system, spec)
    checks = run.tables["checks"]
    heat = checks[(checks.tilt == f"heat_hot={TAIL_TILT:.6g}") & (checks.observable == "heat_hot")]
    assert "failed" in set(heat.verdict)   # the tilted histogram against the proposal's exact law


def _quench_system():
    """A qubit whose gap goes 20 -> 0.5 -> 4 (k_B T = 1) in three pieces with Davies relaxation:
    <e^{-beta W}> is carried by paths of probability ~1e-9."""
    a = np.array([[0, 1], [1, 0]], complex)
    pieces = []
    for gap in (20.0, 0.5, 4.0):
        h = np.diag([gap / 2, -gap / 2]).astype(complex)
        pieces.append(Piece(h, mt.davies_channels(h, a, "bath", 1.0, lambda w: 0.3), 1.0))
    return OpenSystem(pieces=pieces, baths={"bath": mt.Bath(beta=1.0)},
                      initial=mt.gibbs_state(pieces[0].hamiltonian, 1.0))


def test_auto_tilt_tests_jarzynski_and_the_integral_ft_where_plain_sampling_cannot():
    for tilt, check, other in (("auto", "jarzynski", "integral_ft"), ("auto:integral_ft", "integral_ft", "jarzynski")):
        run = mt.sample(_quench_system(), 20000, 5, tilt=tilt)
        checks = run.tables["checks"]
        plain = checks[(checks.tilt == "") & checks.check.isin(["jarzynski", "integral_ft"])]
        assert set(plain.verdict) == {"inconclusive"}
        reweighted = checks[checks.tilt.str.endswith("(reweighted)")].set_index("check")
        assert reweighted.loc[check, "verdict"] == "passed"
        assert abs(reweighted.loc[check, "z"]) <= 5
        assert 0 < 5 * reweighted.loc[check, "stderr"] < 0.1   # dF +- 0.1 k_B T lies beyond 5 stderr
        assert run.info["tilt"]["target"] == [check, 1.0]
        # the other row is judged by its own exact variance: these ladders reach its paths too
        assert reweighted.loc[other, "verdict"] == "passed"
        assert set(reweighted.stderr_source) == {"exact"}


def test_tilted_open_system_accumulators_do_not_depend_on_threads_or_chunks():
    spec = tilted_spec(_quench_system(), {"work": [0.5, 0.9]})
    for direction in ("forward", "reverse"):
        assert_independent_of_chunks_and_threads(
            lambda first, count: spec.accumulate(direction, 2, first, count))


def test_tilted_open_system_run_resumes_to_identical_tables_in_both_directions(tmp_path):
    out, tilt = tmp_path / "run", {"work": 0.9}
    first = mt.sample(_quench_system(), 3000, 2, reverse=True, out=out, chunk_size=1000, tilt=tilt)
    for path in sorted((out / "chunks").glob("reverse-*"))[1:3]:
        path.unlink()
    (out / "reweighted.parquet").unlink()
    again = mt.sample(_quench_system(), 3000, 2, reverse=True, out=out, tilt=tilt)
    for name in ("histogram", "summary", "checks", "reweighted"):
        pd.testing.assert_frame_equal(first.tables[name], again.tables[name])
    reweighted = first.checks[first.checks.tilt.str.endswith("(reweighted)")]
    assert set(reweighted.direction) == {"forward", "reverse", "both"}


def test_a_floquet_system_is_tilted_through_its_floquet_frame_open_system():
    sx, sz = np.array([[0, 1], [1, 0]]), np.diag([0.5, -0.5])
    driven = mt.FloquetSystem(hamiltonian=sz, drive={1: 0.1 * sx}, frequency=1.0,
                              couplings=[mt.Coupling(sx, bath="b", spectral_density=lambda w: 0.02 * w)],
                              baths={"b": mt.Bath(beta=2.0)}, initial=np.diag([0.0, 1.0]), duration=20.0)
    run = mt.sample(driven, 4000, 1, reverse=True, tilt={"entropy_production": 0.5})
    checks = run.tables["checks"]
    assert run.info["model"] == "floquet_system"
    assert "failed" not in set(checks.verdict)
    rows = checks[checks.tilt.str.endswith("(reweighted)") & (checks.check == "integral_ft")]
    assert set(rows.direction) == {"forward", "reverse"}
    assert set(rows.verdict) == {"passed"} and set(rows.stderr_source) == {"exact"}


def test_saved_samples_carry_the_weights_of_the_reweighted_rows(tmp_path):
    run = mt.sample(_quench_system(), 2000, 4, tilt={"work": [0.5, 0.95]}, out=tmp_path / "run",
                    save_samples=True, chunk_size=700)
    samples = mt.read(tmp_path / "run").samples
    assert len(samples) == 3 * 2000 and set(samples.tilt) == {"", "work=0.5", "work=0.95"}
    # the exact-variance row: each ensemble's own estimate, combined by exact inverse variance
    variances = tilted_spec(_quench_system(), {"work": [0.5, 0.95]}).relative_variances("forward", "work", 1.0)
    own = [np.mean(np.exp(group.log_own_weight.to_numpy() - group.work.to_numpy()))
           for _, group in samples.groupby("tilt", sort=True)]     # "", "work=0.5", "work=0.95"
    estimate = -math.log(np.sum(own / variances) / np.sum(1 / variances))
    checks = run.tables["checks"]
    row = checks[checks.tilt.str.endswith("(reweighted)")].set_index("check").loc["jarzynski"]
    assert estimate == pytest.approx(row.estimate, abs=1e-9)


def test_a_tilt_of_an_unknown_observable_is_refused_naming_it():
    with pytest.raises(ValueError, match="heat_warm"):
        mt.sample(_two_bath_qubit(), 10, 1, tilt={"heat_warm": 0.5})


def test_the_driven_qubit_is_tilted_through_its_floquet_frame_system_only():
    """DrivenQubit's own tables start unmeasured with retrodicted labels (no replayable start):
    tilting it is refused, naming the way that works; its Floquet-frame system tilts."""
    qubit = mt.DrivenQubit(t_end=10.0, times=11)
    with pytest.raises(ValueError, match=r"open_system\(\)"):
        mt.sample(qubit, 100, 1, tilt={"heat_photon": 0.3})
    run = mt.sample(qubit.open_system(), 2_000, 1, tilt={"heat_photon": 0.3}, progress=False)
    assert "failed" not in set(run.checks.verdict)


def _cycles():
    """A qubit at beta = 2 cycled four times between gaps 6 and 0.05 (Davies relaxation, one time
    unit per piece), ending at gap 5: both directions dissipate ~10 k_B T, so plain sampling leaves
    Jarzynski inconclusive and Crooks too imprecise to see dF +- 0.1 k_B T."""
    a = np.array([[0, 1], [1, 0]], complex)
    pieces = []
    for gap in (6.0, 0.05) * 4 + (5.0,):
        h = np.diag([gap / 2, -gap / 2]).astype(complex)
        pieces.append(Piece(h, mt.davies_channels(h, a, "bath", 2.0, lambda w: 1.0), 1.0))
    return OpenSystem(pieces=pieces, baths={"bath": mt.Bath(beta=2.0)}, initial=mt.Gibbs(2.0))


def _rows(run, check):
    checks = run.tables["checks"]
    return checks[checks.check == check].set_index("tilt")


def test_tilted_crooks_of_a_jump_system_from_both_directions():
    run = mt.sample(_cycles(), 5000, 5, reverse=True, tilt={"work": [0.5, 1.0]})
    assert set(_rows(run, "jarzynski").loc[""].verdict) == {"inconclusive"}
    plain, tilted = _rows(run, "crooks").loc[""], _rows(run, "crooks").loc["work=0.5,1(reweighted)"]
    assert 5 * plain.stderr > 0.1                      # plain sampling cannot see dF +- 0.1 k_B T
    assert tilted.verdict == "passed" and abs(tilted.z) <= 5 and tilted.direction == "both"
    for shift in (-0.1, 0.1):                          # ... the tilted run can
        assert abs(tilted.estimate - tilted.expected - shift) > 5 * tilted.stderr
    assert set(run.tables["checks"][run.tables["checks"].direction == "reverse"].tilt) >= {"work=0.5", "work=1"}


def test_a_reverse_proposal_with_one_rate_two_percent_off_is_caught():
    spec = tilted_spec(_cycles(), {"work": [0.5, 1.0]})
    spec.replays_of("reverse")  # the weights replay the correct proposals
    good = spec.systems_of("reverse")[2]
    wrong = OpenSystem(pieces=[Piece(p.hamiltonian, [replace(c, operator=c.operator * (math.sqrt(1.02) if
                                                                                    c.name == "bath:+0.05" else 1))
                                                     for c in p.channels], p.duration) for p in good.pieces],
                       baths=good.baths, initial=good.initial, energy_units=good.energy_units)
    good.__dict__["_derived"]["tables"] = open_sampling.kernel_tables(wrong, good.layout())
    run = mt.sample(_cycles(), 16000, 5, reverse=True, tilt=spec)
    checks = run.tables["checks"]
    flagged = checks[(checks.verdict == "failed") & (checks.direction == "reverse")]
    assert set(flagged.tilt) == {"work=1"} and "jumps_bath:+0.05" in set(flagged.observable)


def test_the_classical_replay_of_davies_channels_equals_the_matrix_exponential_formula():
    """Davies channels and a measured start: one eigenbasis component at a time, every ensemble
    replayed in one walk as sums of logs; the same densities as the coherent replay of each
    ensemble and the matrix exponentials."""
    system = _quench_system()
    spec = tilted_spec(system, {"work": 0.9})
    replays = spec.replays_of("forward")
    assert replays.classical
    coherent = replays._replace(classical=False)
    plain = spec.systems_of("forward")[0]
    names = system.channel_names
    records = [(0, 0, [], []), (0, 1, [1.5], ["bath:-0.5"]), (1, 1, [0.3, 1.2, 1.7, 2.9],
                                                             ["bath:+20", "bath:-0.5", "bath:+0.5", "bath:-4"]),
               (0, 0, [1.5], ["bath:+0.5"])]   # the last: emission from the ground state, impossible
    for i, j, times, channels in records:
        slots = np.array([names.index(c) for c in channels], np.int64)
        args = (i, j, np.array(times, float), slots, len(times))
        got, expected = replay.log_densities(replays, *args), replay.log_densities(coherent, *args)
        if channels[-1:] == ["bath:+0.5"] and len(channels) == 1:
            assert np.all(got == -np.inf) and np.all(expected == -np.inf)
            continue
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
        assert got[0] == pytest.approx(math.log(_density(plain, i, j, times, channels)), abs=1e-12)


def _records(spec, n=40):
    """(i, j, jump times, slots) of every (i, j) with the jump records of the first ``n``
    trajectories of every ensemble of ``spec`` (forward)."""
    d = spec.system.dimension
    for e, system in enumerate(spec.systems_of("forward")):
        tables = system.kernel_tables()
        for index in range(n):
            times, slots = lindblad.jump_record(tables, 3, e, index)
            for i in range(d):
                for j in range(d):
                    yield i, j, times, slots


def _assert_replays_agree(one, other, records, rtol=1e-12):
    """The densities of every record under the tables ``one`` and ``other`` agree (-inf alike)."""
    for i, j, times, slots in records:
        a = replay.log_densities(one, i, j, times, slots, len(times))
        b = replay.log_densities(other, i, j, times, slots, len(times))
        assert np.array_equal(a == -np.inf, b == -np.inf)
        np.testing.assert_allclose(a[a > -np.inf], b[b > -np.inf], rtol=rtol, atol=0)


def _two_bath_pieces():
    """The two-bath qubit in three pieces of other gaps (Davies channels per piece)."""
    a = np.array([[0, 1], [1, 0]], complex)
    pieces = []
    for gap, duration in ((1.0, 2.0), (2.5, 1.5), (0.7, 3.0)):
        h = np.diag([gap / 2, -gap / 2]).astype(complex)
        pieces.append(Piece(h, mt.davies_channels(h, a, "hot", 0.5, lambda w: 0.4)
                            + mt.davies_channels(h, a, "cold", 2.0, lambda w: 0.3), duration))
    return OpenSystem(pieces=pieces, baths={"hot": mt.Bath(beta=0.5), "cold": mt.Bath(beta=2.0)},
                      initial=mt.gibbs_state(pieces[0].hamiltonian, 1.0))


def test_the_one_walk_classical_replay_equals_the_coherent_replay_of_each_ensemble():
    """A multi-piece two-bath Davies system with two tilted proposals: the classical walk (all
    ensembles at once) gives every ensemble's density of sampled records as the coherent replay."""
    spec = tilted_spec(_two_bath_pieces(), {"heat_hot": [-1.0, -2.0]})
    replays = spec.replays_of("forward")
    assert replays.classical and replays.log_start.shape[0] == 3
    records = list(_records(spec))
    assert max(len(times) for _, _, times, _ in records) >= 10
    _assert_replays_agree(replays, replays._replace(classical=False), records)


def _relabelled(tables, order):
    """Kernel tables with the eigenbasis components of piece n reordered: new component b is old
    component order[n, b] (the same unravelling, labelled otherwise)."""
    inverse = np.argsort(order, axis=1)
    rows, cols = tables.jump_row.copy(), tables.jump_col.copy()
    for n in range(len(order)):
        entries = slice(tables.jump_start[n, 0], tables.jump_start[n, -1])
        rows[entries], cols[entries] = inverse[n][rows[entries]], inverse[n][cols[entries]]
    return tables._replace(
        eigenvalues=np.take_along_axis(tables.eigenvalues, order, axis=1),
        right=np.stack([r[:, o] for r, o in zip(tables.right, order)]),
        left=np.stack([l[o, :] for l, o in zip(tables.left, order)]), jump_row=rows, jump_col=cols)


def test_ensembles_labelling_their_components_otherwise_share_the_classical_walk():
    """A proposal whose eigen-decompositions order the components otherwise (per piece) is
    relabelled as the plain ensemble: still one classical walk, the same densities."""
    spec = tilted_spec(_two_bath_pieces(), {"heat_hot": -1.5})
    records = list(_records(spec))
    reference = spec.replays_of("forward")
    proposal = spec.systems_of("forward")[1]
    tables = proposal.kernel_tables()
    order = np.array([[0, 1] if n % 3 == 1 else [1, 0] for n in range(len(tables.durations))])
    proposal.__dict__["_derived"]["tables"] = _relabelled(tables, order)
    relabelled = open_tilting.replays(spec.systems_of("forward"))
    assert relabelled.classical
    assert not np.array_equal(relabelled.eigenvalues, reference.eigenvalues)
    _assert_replays_agree(relabelled, reference, records)
    _assert_replays_agree(relabelled, relabelled._replace(classical=False), records)


def test_ensembles_whose_jumps_reach_other_components_are_replayed_coherently():
    """The same channel slot taking a component to different components in two ensembles: no
    shared component path, so the coherent replay, still exact (matrix exponentials)."""
    h = np.diag([0.0, 1.0, 2.0]).astype(complex)
    def system(target):
        jump = np.zeros((3, 3), complex)
        jump[target, 2] = 0.8
        return OpenSystem(pieces=[Piece(h, [Channel("x", jump, 2.0 - target, "b")], 1.5),
                                  Piece(1.5 * h, [Channel("x", 0.5 * jump, 3.0 - 1.5 * target, "b")], 1.0)],
                          baths={"b": mt.Bath(beta=1.0)}, initial=np.diag([0.2, 0.3, 0.5]).astype(complex))
    ensembles = [system(0), system(1)]
    replays = open_tilting.replays(ensembles)
    assert not replays.classical
    for i, j, times in ((2, 0, [0.7]), (2, 1, [1.9]), (1, 1, []), (2, 2, [])):
        got = replay.log_densities(replays, i, j, np.array(times), np.zeros(len(times), np.int64), len(times))
        for e, reference in enumerate(ensembles):
            p = _density(reference, i, j, times, ["x"] * len(times))
            assert got[e] == (pytest.approx(math.log(p), abs=1e-12) if p > 0 else -np.inf)


def test_weighted_sums_carry_each_ensembles_own_importance_weights():
    """Columns 3 and 4 of the weighted sums: ln sum r and ln sum r^2 of r = p_0 / p_own over the
    ensemble's own trajectories, as from each record's replayed densities (its jump record and
    outcomes drawn again)."""
    spec = tilted_spec(_two_bath_pieces(), {"heat_hot": -1.5})
    spec.prepare("forward")
    n, seed = 300, 4
    accumulators = spec.accumulate("forward", seed, 0, n)
    for e, system in enumerate(spec.systems_of("forward")):
        tables = (spec.protocol("forward") if e == 0 else system).kernel_tables()
        stream = STREAMS["forward"] if e == 0 else spec.stream("forward", e - 1)
        labels = lindblad.samples(tables, seed, stream, 0, n)[0]
        log_r = []
        for t, (i, j) in enumerate(labels):
            times, slots = lindblad.jump_record(tables, seed, stream, t)
            densities = replay.log_densities(spec.replays_of("forward"), i, j, times, slots, len(times))
            log_r.append(densities[0] - densities[e])
        sums = np.asarray(accumulators[f"weighted_{e}_sums"])
        got = [logsumexp(sums[:, 0, 3]), logsumexp(sums[:, 0, 4])]
        assert got == pytest.approx([logsumexp(log_r), logsumexp(2 * np.array(log_r))], rel=1e-12)
        if e == 0:
            assert got[0] == pytest.approx(math.log(n), rel=1e-12)


def test_the_plain_ensemble_of_a_tilted_run_is_the_plain_run():
    """One fused pass: the plain ensemble's tables are those of a plain run, bit for bit."""
    system = _quench_system()
    plain = mt.sample(system, 3000, 2).tables["checks"]
    tilted = mt.sample(system, 3000, 2, tilt={"work": 0.9}).tables["checks"]
    columns = ["check", "direction", "observable", "verdict", "estimate", "expected", "stderr", "z"]
    own = tilted[tilted.tilt == ""].reset_index(drop=True)
    assert own[columns].equals(plain[columns])


def test_crooks_row_from_reweighted_laws_flags_disagreeing_work_values():
    """dF_W = W - ln(P_F(W) / P_R(-W)) / beta of each work value: consistent values pass against
    the right dF and fail against dF + 0.1; one value off by 100 stderr makes the row
    inconclusive (its paths were missed, the stderr from the data cannot be trusted)."""
    from mcthermo.tilting import WorkLaw, crooks_row

    values = np.array([-1.0, 0.0, 1.0])
    forward = np.array([-2.0, -1.0, -0.5])
    reverse = forward[::-1] - values[::-1]          # ln P_R(-W) = ln P_F(W) - beta (W - dF), dF = 0

    def law(log_p):
        return WorkLaw(values, log_p, np.full(3, 1e-4), lambda atoms: 1e-4 * np.eye(len(atoms)))

    good = crooks_row(law(forward), law(reverse), 1.0, 0.0, 1000)
    assert good["verdict"] == "passed" and abs(good["estimate"]) < 1e-12 and good["atoms"] == 3
    assert crooks_row(law(forward), law(reverse), 1.0, 0.1, 1000)["verdict"] == "failed"
    broken = reverse.copy()
    broken[0] += 1.0
    row = crooks_row(law(forward), law(broken), 1.0, 0.0, 1000)
    assert row["verdict"] == "inconclusive" and "disagree" in row["reason"]
