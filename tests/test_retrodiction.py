"""Retrodicted labels of the jump kernel (``retrodict``): an unmeasured start whose initial energy
label is read off the record, against the exact measured-start law and the exact unmeasured
propagation; the first-law count of ``tally``; every check shown able to fail."""
import numpy as np
import pytest
from scipy import stats
from scipy.linalg import expm

import mcthermo as mt
from mcthermo.kernels import lindblad
from mcthermo.systems import open_sampling

# component 0 is the upper level (E = 1), component 1 the lower one: the energy labels (sorted)
# are the components in reverse order
H = np.diag([1.0, 0.0])
EMIT = 0.9 * np.array([[0, 0], [1, 0]])            # 0 -> 1, gives 1 to the bath
ABSORB = 0.5 * np.array([[0, 1], [0, 0]])          # 1 -> 0
DEPHASE = np.diag([0.4, -0.3])
SX = np.array([[0, 1], [1, 0]], complex)
SY = np.array([[0, -1j], [1j, 0]])
T = 1.5
TRAJECTORIES = 20_000


def classical(initial, hamiltonian=H, channels=None):
    channels = channels or [mt.Channel("emit", EMIT, 1.0, "b"), mt.Channel("absorb", ABSORB, -1.0, "b"),
                            mt.Channel("dephase", DEPHASE, 0.0, "b")]
    return mt.OpenSystem(hamiltonian=hamiltonian, channels=channels, baths={"b": mt.Bath(beta=1.0)},
                         initial=initial, duration=T, output_times=np.linspace(0, T, 7),
                         observables={"x": SX, "y": SY, "upper": np.diag([1.0, 0.0])})


def coherent_start():
    psi = np.array([np.cos(0.4), np.sin(0.4) * np.exp(0.7j)])
    phi = np.array([np.sin(0.4), -np.cos(0.4) * np.exp(0.7j)])
    return 0.8 * np.outer(psi, psi.conj()) + 0.2 * np.outer(phi, phi.conj())


def retrodicted_tables(system):
    tables = open_sampling.kernel_tables(system, system.layout(), retrodict=True)
    # integer first law: level energies in quanta (labels sorted: 0, 1) and one quantum per unit
    # of the bath's heat axis, E_j - E_i + heat given = 0 for every trajectory
    return tables._replace(level_quanta=np.array([0, 1], np.int64), balance=np.array([1], np.int64))


def run(tables, count=TRAJECTORIES, seed=4):
    return lindblad.accumulate(tables, seed, 0, 0, count, 4096, 1)


def measured_law(system):
    """P(i, j) = <i|rho0|i> [e^{Q T}]_{j i} with the rate matrix Q_ba = sum_k |<b|L_k|a>|^2 of the
    populations of the components, then put on the energy labels (label of component a: 1 - a)."""
    q = sum(np.abs(c.operator) ** 2 for c in system.pieces[0].channels)
    q = q - np.diag(np.diag(q))
    q -= np.diag(q.sum(axis=0))
    propagator = expm(q * T)
    p0 = np.real(np.diag(system.initial))
    law = np.zeros((2, 2))
    for a in range(2):               # label of component a is 1 - a
        for b in range(2):
            law[1 - a, 1 - b] = p0[a] * propagator[b, a]
    return law


def unmeasured_expectations(system):
    """tr(A e^{L t} rho0) of every observable at every output time (Lindbladian superoperator)."""
    d = 2
    eye = np.eye(d)
    generator = -1j * (np.kron(H, eye) - np.kron(eye, H.T))
    for c in system.pieces[0].channels:
        L = c.operator
        loss = L.conj().T @ L
        generator += np.kron(L, L.conj()) - 0.5 * (np.kron(loss, eye) + np.kron(eye, loss.T))
    out = []
    for t in system.output_times:
        rho = (expm(generator * t) @ system.initial.ravel()).reshape(d, d)
        out.append([np.real(np.trace(a @ rho)) for a in system.observables.values()])
    return np.array(out)


def joint_z(joint, law):
    n = joint.sum()
    p = law.ravel()
    return (joint - n * p) / np.sqrt(n * p * (1 - p))


@pytest.fixture(scope="module")
def coherent():
    system = classical(coherent_start())
    tables = retrodicted_tables(system)
    return system, tables, run(tables)


def test_labels_follow_the_measured_start_law_and_the_first_law(coherent):
    system, tables, (moments, floats, joint, joint_overflow, *_, violations) = coherent
    assert tables.retrodict and list(tables.initial_label) == [1, 0]
    assert joint_overflow == 0 and violations == 0
    z = joint_z(joint.reshape(2, 2, -1).sum(axis=2).ravel(), measured_law(system))
    assert np.abs(z).max() < stats.norm.isf(1e-3 / 8)
    # W = E_j - E_i + heat given is exactly 0 for every trajectory: its sum and square vanish
    assert np.all(floats[:, 1, :] == 0.0)


def test_observables_follow_the_unmeasured_coherent_evolution(coherent):
    system, tables, (moments, *_) = coherent
    total = moments.sum(axis=0)
    mean = total[..., 0] / TRAJECTORIES
    stderr = np.sqrt(np.maximum(total[..., 1] / TRAJECTORIES - mean ** 2, 0) / TRAJECTORIES)
    exact = unmeasured_expectations(system)
    assert abs(exact[0, 0]) > 0.3                 # a coherent start: <x> is not 0
    z = (mean - exact) / stderr
    assert np.abs(z).max() < stats.norm.isf(1e-3 / (2 * z.size))
    # the measured start (dephased) predicts <x> = 0 at every time: flagged
    assert np.abs(mean[:, 0] / stderr[:, 0]).max() > 10


def test_wrong_origin_rule_or_wrong_law_is_flagged(coherent):
    system, tables, (moments, floats, joint, *_) = coherent
    # the labels of the components swapped: the first law fails and the joint law is off
    swapped = tables._replace(initial_label=tables.initial_label[::-1].copy())
    _, _, wrong_joint, *_, wrong_violations = run(swapped)
    assert wrong_violations > 0.1 * TRAJECTORIES
    z = joint_z(wrong_joint.reshape(2, 2, -1).sum(axis=2).ravel(), measured_law(system))
    assert np.abs(z).max() > 10
    # a wrong expected law (emission rate 21 % high) is flagged on the right samples
    wrong = classical(coherent_start(), channels=[
        mt.Channel("emit", 1.1 * EMIT, 1.0, "b"), mt.Channel("absorb", ABSORB, -1.0, "b")])
    z = joint_z(joint.reshape(2, 2, -1).sum(axis=2).ravel(), measured_law(wrong))
    assert np.abs(z).max() > 5


@pytest.mark.parametrize("case", ["coherent hamiltonian", "interfering jump", "unmeasured"])
def test_retrodiction_is_refused_where_labels_are_not_classical(case):
    if case == "coherent hamiltonian":
        system = classical(coherent_start(), hamiltonian=H + 0.2 * SX)
        match = "not diagonal"
    elif case == "interfering jump":     # L^dag L = 1/4 (H_eff diagonal), rows of two entries
        system = classical(coherent_start(), channels=[
            mt.Channel("mix", 0.5 * np.array([[1, 1], [1, -1]]) / np.sqrt(2), 0.0, "b")])
        match = "from two"
    else:
        system = mt.OpenSystem(hamiltonian=H, channels=[mt.Channel("emit", EMIT, 1.0, "b")],
                               baths={"b": mt.Bath(beta=1.0)}, initial=coherent_start(),
                               duration=T, measure_energy=False)
        match = "measure_energy"
    with pytest.raises(ValueError, match=match):
        open_sampling.kernel_tables(system, system.layout(), retrodict=True)
