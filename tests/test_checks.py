"""Every check passes on the correct sampler and fails on a deliberately wrong one."""
import numpy as np
import pandas as pd
import pytest

from mcthermo import Staircase
from mcthermo.calibration import work_checks, work_observable
from mcthermo.checks import Z_THRESHOLD, distribution_check, variance_check
from mcthermo.models.base import STREAMS
from mcthermo.models.chain import TwoStateChain
from mcthermo.results import Observable

TRAJECTORIES = 1_000_000


def _shifted(chain: TwoStateChain, factor: float) -> TwoStateChain:
    """The same protocol with every thermal occupation p_j multiplied by ``factor``."""
    return TwoStateChain(chain.initial_occupation * factor, chain.keep, chain.occupation * factor,
                         chain.work_weights, chain.work_values)


def _work(spec, direction, seed, factor=1.0):
    chain = _shifted(spec.chain(direction), factor)
    counts = chain.counts(seed, STREAMS[direction], 0, TRAJECTORIES, blocks=16)
    return work_observable(spec.chain(direction), counts)


def _checks(spec, forward_factor=1.0, reverse_factor=1.0, seed=11):
    work = {"forward": _work(spec, "forward", seed, forward_factor),
            "reverse": _work(spec, "reverse", seed, reverse_factor)}
    rows = work_checks(work, spec.beta, spec.free_energy_change())
    return pd.DataFrame(rows).set_index(["check", "direction", "observable"])


@pytest.fixture(scope="module")
def correct(request):
    return _checks(Staircase(steps=20))


def test_correct_sampler_passes_every_check(correct):
    assert set(correct.index.get_level_values("check")) == {
        "mean", "variance", "distribution", "jarzynski", "bar", "crooks", "crooks_linearity"}
    assert correct["passed"].all(), correct[~correct["passed"]]
    assert (correct["verdict"] == "passed").all()
    assert (correct["z"].abs() <= Z_THRESHOLD).all()


def test_sampler_with_thermal_occupations_shifted_by_one_percent_is_flagged(correct):
    wrong = _checks(Staircase(steps=20), forward_factor=1.01)
    for check in [("mean", "forward", "work"), ("distribution", "forward", "work"),
                  ("jarzynski", "forward", "work"), ("crooks", "both", "work"),
                  ("crooks_linearity", "both", "work")]:
        assert not wrong.loc[check, "passed"], check
    # the untouched reverse direction still passes its own checks
    assert wrong.loc[("mean", "reverse", "work"), "passed"]


def test_broken_reverse_protocol_is_flagged_by_crooks():
    wrong = _checks(Staircase(steps=20), reverse_factor=0.98)
    assert not wrong.loc[("bar", "both", "work"), "passed"]
    assert not wrong.loc[("crooks", "both", "work"), "passed"]
    assert not wrong.loc[("crooks_linearity", "both", "work"), "passed"]
    assert wrong.loc[("jarzynski", "forward", "work"), "passed"]


class _WrongFreeEnergy(Staircase):
    def free_energy_change(self):
        return super().free_energy_change() + 0.001  # 0.85 % off


def test_wrong_free_energy_is_flagged_by_jarzynski_and_crooks():
    spec = _WrongFreeEnergy(steps=20)
    wrong = _checks(spec)
    for check in [("jarzynski", "forward", "work"), ("jarzynski", "reverse", "work"),
                  ("bar", "both", "work"), ("crooks", "both", "work"), ("crooks_linearity", "both", "work")]:
        assert not wrong.loc[check, "passed"], check
    assert wrong.loc[("mean", "forward", "work"), "passed"]


def test_variance_check_flags_a_wrong_variance(correct):
    row = correct.loc[("variance", "forward", "work")]
    rng = np.random.default_rng(1)
    values = rng.normal(0.0, 1.0, 200_000)
    distinct, counts = np.unique(values, return_counts=True)
    assert variance_check("forward", Observable("x", distinct, counts, variance_exact=1.0, mean_exact=0.0))["passed"]
    wrong = variance_check("forward", Observable("x", distinct, counts, variance_exact=1.03, mean_exact=0.0))
    assert wrong["verdict"] == "failed" and "|z|" in wrong["reason"]
    assert abs(row["z"]) <= Z_THRESHOLD


def test_distribution_check_flags_mass_on_an_impossible_value():
    law = np.array([np.log(0.5), np.log(0.5), -np.inf])
    row = distribution_check("forward", Observable("x", [0, 1, 2], [10, 10, 1], law))
    assert not row["passed"] and row["p_value"] == 0.0
    assert distribution_check("forward", Observable("x", [0, 1, 2], [5030, 4970, 0], law))["passed"]
