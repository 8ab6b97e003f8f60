"""Tables users open in pandas: the system is stored once (run.json); rows carry system_id and a
few scalar parameters, the same way for OpenSystem and Strokes (issue #22 B4)."""
import numpy as np
import pytest

import mcthermo as mt
from mcthermo.run import system_id


def small_open_system(rate=0.2):
    h = np.diag([0.0, 1.0, 2.0])
    a = np.array([[0, 1, 0.3], [1, 0, 1], [0.3, 1, 0]])
    return mt.OpenSystem(hamiltonian=h, channels=mt.davies_channels(h, a, "hot", 0.5, lambda w: rate),
                         baths={"hot": mt.Bath(beta=0.5)}, initial=mt.gibbs_state(h, 0.5), duration=1.0)


def scalar_columns_only(run):
    for name, table in run.tables.items():
        leading = list(table.columns[:3])
        assert leading == ["model", "run_id", "system_id"], name
        assert (table["system_id"] == run.info["system_id"]).all()
        for column in table.columns:
            values = table[column].dropna()
            assert not any(isinstance(v, (list, dict, np.ndarray)) for v in values), (name, column)
            assert all(len(v) < 200 for v in values if isinstance(v, str)), (name, column)


@pytest.mark.parametrize("make", [small_open_system, lambda: mt.examples.two_level_otto(cycles=2)])
def test_rows_carry_system_id_and_scalars_not_the_system(make, tmp_path):
    spec = make()
    run = mt.sample(spec, trajectories=4096, seed=1, out=tmp_path / "run")
    scalar_columns_only(run)
    scalar_columns_only(mt.read(tmp_path / "run"))
    assert run.info["system_id"] == system_id(spec.parameters())
    assert mt.read(tmp_path / "run").spec.parameters() == spec.parameters()  # the whole system: run.json


def test_open_system_rows_name_the_scalars_a_sweep_varies():
    table = mt.sample(small_open_system(), trajectories=4096, seed=1).tables["summary"]
    assert {"dimension", "pieces", "duration", "measure_energy"} <= set(table.columns)
    assert "system" not in table.columns and "fingerprint" not in table.columns


def test_strokes_rows_name_levels_cycles_and_initial():
    table = mt.sample(mt.examples.two_level_otto(cycles=2), trajectories=4096, seed=1).tables["summary"]
    assert (table["levels"] == 2).all() and (table["cycles"] == 2).all() and (table["initial"] == "cold").all()
    assert not {"energies", "strokes", "baths", "particles"} & set(table.columns)


def test_resume_still_refuses_a_changed_system(tmp_path):
    mt.sample(small_open_system(), trajectories=4096, seed=1, out=tmp_path / "run")
    with pytest.raises(ValueError, match="holds a different run"):
        mt.sample(small_open_system(rate=0.3), trajectories=4096, seed=1, out=tmp_path / "run")


def test_version_minor_bumped_for_the_new_table_contract():
    major, minor, _ = (int(x) for x in mt.__version__.split("."))
    assert (major, minor) >= (0, 4)


def test_floquet_rows_carry_the_open_system_scalars_and_the_frequency():
    sz, sx = np.diag([0.5, -0.5]), np.array([[0, 0.5], [0.5, 0]])
    driven = mt.FloquetSystem(hamiltonian=sz, drive={1: 0.1 * sx}, frequency=1.0,
                              couplings=[mt.Coupling(sx, bath="b", spectral_density=lambda w: 0.02 * w)],
                              baths={"b": mt.Bath(beta=2.0)}, initial=np.diag([0.0, 1.0]), duration=5.0)
    run = mt.sample(driven, trajectories=4096, seed=1)
    scalar_columns_only(run)
    assert "system" not in run.summary.columns and (run.summary["frequency"] == 1.0).all()
