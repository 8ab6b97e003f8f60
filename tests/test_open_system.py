"""OpenSystem spec: validation, QuTiP input, JSON round trip, Davies channels, Gibbs states."""
import json

import numpy as np
import pytest

import mcthermo as mt
from mcthermo.run import fingerprint, identity
from mcthermo.systems.bath import Bath

H = np.diag([0.0, 1.0, 2.5])
A = np.array([[0, 1, 0.3], [1, 0, 1], [0.3, 1, 0]], dtype=float)


def maser_like(**changes):
    channels = (mt.davies_channels(H, A, "hot", 0.5, lambda w: 0.2 * w)
                + mt.davies_channels(H, A.T * 0.5, "cold", 2.0, lambda w: 0.1))
    options = dict(hamiltonian=H, channels=channels,
                   baths={"hot": Bath(beta=0.5), "cold": Bath(beta=2.0)},
                   initial=mt.gibbs_state(H, 1.0), duration=3.0,
                   output_times=np.linspace(0, 3, 7), observables={"n": np.diag([0, 1, 2.0])})
    options.update(changes)
    return mt.OpenSystem(**options)


def test_davies_local_detailed_balance_and_labels():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3))
    h = (a + a.conj().T) / 2
    c = rng.normal(size=(3, 3))
    channels = mt.davies_channels(h, c + c.T, "lead", beta=0.8, mu=0.3, particles=[0, 1, 2],
                                  spectral_density=lambda w: 0.3 * w + 0.2)
    rate = {(ch.energy, ch.particles): np.linalg.norm(ch.operator) ** 2 for ch in channels}
    worst = max(abs(rate[(-w, -nu)] / r * np.exp(0.8 * (w - 0.3 * nu)) - 1)
                for (w, nu), r in rate.items())
    assert len(channels) == 6 and worst < 1e-13
    for ch in channels:   # eigenoperator: [H, L] = -omega L
        assert np.abs(h @ ch.operator - ch.operator @ h + ch.energy * ch.operator).max() < 1e-12


def test_davies_zero_temperature_is_one_way():
    channels = mt.davies_channels(H, A, "cold", np.inf, lambda w: 0.1)
    assert channels and all(ch.energy > 0 for ch in channels)


def test_davies_channels_at_any_beta_omega(recwarn):
    """beta omega = 800 (past exp's overflow at 709.78): rates in log space, the absorption operator
    is e^{-400} A exactly (detailed balance in logs), no warning; the bath occupation underflows
    to 0 instead of raising."""
    h = np.diag([0.0, 1.0])
    a = np.array([[0, 1], [1, 0.0]])
    emit, absorb = mt.davies_channels(h, a, "cold", 800.0, lambda w: 0.3)
    assert (emit.energy, absorb.energy) == (1.0, -1.0)
    ratio = 2 * (np.log(np.abs(absorb.operator).max()) - np.log(np.abs(emit.operator).max()))
    assert ratio == pytest.approx(-800.0, rel=1e-14)
    assert mt.Bath(beta=800.0).occupation(1.0) == 0.0 and mt.Bath(beta=2000.0).occupation(1.0) == 0.0
    assert mt.Bath(beta=0.5).occupation(2.0) == pytest.approx(1 / np.expm1(1.0), rel=1e-15)
    system = mt.OpenSystem(hamiltonian=h, channels=[emit, absorb], baths={"cold": mt.Bath(beta=800.0)},
                           initial=np.diag([0.5, 0.5]), duration=1.0)
    assert np.isfinite(system.log_generating_function("heat_cold", [-1.0, 1.0])).all()
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_davies_names_tell_near_degenerate_frequencies_apart():
    h = np.diag([0.0, 1.0, 2.0 + 1e-7])
    channels = mt.davies_channels(h, np.ones((3, 3)) - np.eye(3), "bath", 1.0, lambda w: 0.2)
    names = [c.name for c in channels]
    assert len(set(names)) == len(names) == 6
    assert {"bath:+1", "bath:+1.0000001", "bath:-2.0000001"} <= set(names)
    assert mt.davies_channels(H, A, "bath", 1.0, lambda w: 0.1)[0].name == "bath:+2.5"
    mt.OpenSystem(hamiltonian=h, channels=channels, baths={"bath": mt.Bath(beta=1.0)},
                  initial=mt.gibbs_state(h, 1.0), duration=1.0)


def test_gibbs_state():
    rho = mt.gibbs_state(H, 0.7)
    expected = np.diag(np.exp(-0.7 * np.diag(H)))
    assert np.abs(rho - expected / np.trace(expected)).max() < 1e-15


def test_single_piece_is_stored_as_pieces_and_round_trips_through_json():
    system = maser_like()
    assert system.hamiltonian is None and len(system.pieces) == 1
    data = json.loads(json.dumps(system.parameters()))
    rebuilt = mt.OpenSystem.from_parameters(data)
    assert rebuilt == system
    assert rebuilt.pieces[0].channels[0].operator.dtype == np.complex128
    changed = maser_like(duration=3.5, output_times=[0, 3.5])
    assert fingerprint(identity(changed, 1, 10, False)) != fingerprint(identity(system, 1, 10, False))
    assert mt.MODELS["open_system"] is mt.OpenSystem


def test_qutip_operators_are_accepted():
    qutip = pytest.importorskip("qutip")
    h = qutip.sigmaz() * 0.5
    system = mt.OpenSystem(hamiltonian=h, channels=[mt.Channel("down", qutip.sigmam(), 1.0, "b"),
                                                     mt.Channel("up", 0.5 * qutip.sigmap(), -1.0, "b")],
                           baths={"b": Bath(beta=1.0)}, initial=qutip.basis(2, 0), duration=1.0,
                           observables={"sz": qutip.sigmaz()})
    assert np.array_equal(system.pieces[0].hamiltonian, h.full())
    assert np.array_equal(system.initial, np.diag([1.0, 0.0]).astype(complex))


@pytest.mark.parametrize("changes, message", [
    (dict(hamiltonian=np.ones((2, 3))), "hamiltonian must be a square matrix"),
    (dict(hamiltonian=np.array([[0, 1], [0, 0]])), "hamiltonian must be Hermitian"),
    (dict(hamiltonian=np.diag([0, np.nan, 1])), "hamiltonian has NaN"),
    (dict(initial=np.eye(2) / 2), "initial has shape"),
    (dict(initial=np.eye(3)), "trace 1"),
    (dict(initial=np.diag([1.5, -0.5, 0])), "positive semidefinite"),
    (dict(initial=np.array([[0.5, 0.5j, 0], [0.5j, 0.5, 0], [0, 0, 0]])), "Hermitian"),
    (dict(baths={"hot": Bath(beta=0.5)}), "unknown bath 'cold'"),
    (dict(baths={"hot": Bath(beta=0.5), "cold": Bath(beta=2.0), "x": Bath(beta=1.0)}),
     "bath 'x' is used by no channel"),
    (dict(channels=[mt.Channel("a", np.eye(3), 0, "hot"), mt.Channel("a", np.eye(3), 0, "cold")]),
     "duplicate channel name 'a'"),
    (dict(channels=[mt.Channel("a", np.eye(2), 0, "hot")]), "channel 'a' operator has shape"),
    (dict(duration=0.0), "duration must be > 0"),
    (dict(output_times=[0, 4.0]), r"output_times must lie in \[0, duration"),
    (dict(output_times=[0, np.inf]), "output_times has NaN"),
    (dict(observables={"x": np.array([[0, 1, 0], [0, 0, 0], [0, 0, 0]])}), "observable 'x' must be Hermitian"),
])
def test_bad_input_is_refused_in_one_line(changes, message):
    with pytest.raises(ValueError, match=message) as error:
        maser_like(**changes)
    assert "\n" not in str(error.value)


def test_bad_channels():
    with pytest.raises(ValueError, match="channel 'x' energy must be a finite number"):
        mt.Channel("x", np.eye(2), np.nan, "b")
    with pytest.raises(ValueError, match="channel 'x' needs a bath name"):
        mt.Channel("x", np.eye(2), 1.0)
    with pytest.raises(ValueError, match="channel 'x' particles must be an integer"):
        mt.Channel("x", np.eye(2), 1.0, "b", particles=0.5)
    with pytest.raises(ValueError, match="with several baths declare its temperature"):
        maser_like().directions(True)


def test_lattice_units():
    system = maser_like()
    assert system.lattice_unit("hot") == pytest.approx(0.5, rel=1e-15)
    h_irrational = np.diag([0.0, 1.0, np.sqrt(2)])
    irrational = maser_like(hamiltonian=h_irrational,
                            channels=mt.davies_channels(h_irrational, A, "hot", 0.5, lambda w: 0.2 * w)
                            + mt.davies_channels(h_irrational, A, "cold", 2.0, lambda w: 0.1))
    assert irrational.lattice_unit("hot") is None
    declared = maser_like(energy_units={"cold": 0.25})
    assert declared.lattice_unit("cold") == 0.25
    with pytest.raises(ValueError, match="energy unit 0.3 of bath 'cold' does not divide"):
        maser_like(energy_units={"cold": 0.3}).lattice_unit("cold")


def test_channel_labels_are_checked_against_bohr_frequencies():
    """energy = Bohr frequency + drive_work where L is an eigenoperator of H (refused otherwise,
    naming channel, label and frequency); a non-eigenoperator channel warns once and is kept."""
    h = np.diag([1.5, 0.25, -1.0])
    down = np.outer([0, 0, 1], [1, 0, 0]).astype(complex)              # 1.5 -> -1.0: Delta = 2.5
    with pytest.raises(ValueError, match=r"channel 'down' has energy label 2\.0.*Bohr frequency 2\.5"):
        mt.Piece(h, [mt.Channel("down", down, 2.0, "b")], 1.0)
    with pytest.raises(ValueError, match=r"channel 'side'.*Bohr frequency 2\.5 and drive_work 1\.0"):
        mt.Piece(h, [mt.Channel("side", down, 2.5, "b", drive_work=1.0)], 1.0)
    side = mt.Channel("side", down, 3.5, "b", drive_work=1.0)           # a sideband: 2.5 + 1.0
    piece = mt.Piece(h, [side, mt.Channel("dephase", np.diag([1.0, 0, 0]), 0.0, "b")], 1.0)
    assert mt.Channel.from_json(json.loads(json.dumps(side.to_json()))).drive_work == 1.0
    assert piece.channels[0].energy == 3.5
    local = np.outer([0, 1, 1], [1, 0, 0]) / np.sqrt(2)               # two Bohr frequencies
    with pytest.warns(mt.LocalJumpWarning, match=r"'local'.*not an eigenoperator") as caught:
        mt.Piece(h, [mt.Channel("local", local, 7.0, "b")], 1.0)
        mt.Piece(h, [mt.Channel("local", local, 7.0, "b")], 2.0)
    assert len(caught) == 1


def test_a_local_channel_warns_once_over_the_pieces_of_a_drive():
    """The lab-frame maser has one Hamiltonian per piece: its four local channels warn once each,
    not once per piece."""
    import warnings
    from mcthermo.systems import open_system
    open_system._WARNED.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mt.examples.maser()
    assert len([w for w in caught if issubclass(w.category, mt.LocalJumpWarning)]) == 1
