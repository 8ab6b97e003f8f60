"""mcthermo plot and report: figures and a self-contained HTML page."""
import pytest

import mcthermo as mt
from mcthermo import cli

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    mt.sample(mt.Staircase(steps=5), 20_000, 1, reverse=True, out=root / "staircase")
    mt.sample(mt.LandauZener(), 20_000, 2, reverse=True, out=root / "lz")
    mt.sample(mt.DrivenQubit(t_end=5.0, times=26), 2_000, 3, out=root / "qubit")
    mt.sample(mt.examples.two_level_otto(cycles=2), 20_000, 4, out=root / "otto")
    return root


def test_plot_writes_every_figure(runs, capsys):
    assert cli.main(["plot", str(runs)]) == 0
    names = {p.name for p in (runs / "staircase" / "figures").iterdir()}
    assert {"histogram_work.png", "histogram_heat.png", "crooks.png", "jarzynski_convergence.png"} <= names
    assert (runs / "lz" / "figures" / "crossings.png").stat().st_size > 1000
    assert (runs / "qubit" / "figures" / "bloch.png").stat().st_size > 1000
    otto = {p.name for p in (runs / "otto" / "figures").iterdir()}
    assert {"histogram_efficiency.png", "work_heat.png", "histogram_heat_hot.png"} <= otto
    for png in runs.rglob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_is_one_self_contained_page(runs, capsys):
    assert cli.main(["report", str(runs)]) == 0
    page = (runs / "report.html").read_text()
    assert page.count("<h2>") == 4 and "data:image/png;base64," in page   # one section per run
    assert "checks passed" in page and "jarzynski" in page and "src=\"http" not in page


def test_histogram_axes_fit_the_data_and_lattices_are_not_joined(runs):
    from mcthermo.plots import histogram_limits

    run = mt.read(runs / "qubit")
    rows = run.histogram.query("observable == 'heat_photon'")
    (x_low, x_high), (y_low, y_high) = histogram_limits(rows, run.info["trajectories"], log=True)
    sampled = rows[rows["count"] > 0]
    assert y_high <= 1.5 and y_low > 0  # not up to 10^1
    span = sampled["value"].max() - sampled["value"].min()
    assert x_low >= rows["value"].min() and x_high - x_low <= 3 * max(span, 1.0) + 1
    assert x_low < sampled["value"].min() and x_high > sampled["value"].max()


def test_report_shows_three_verdict_states_and_folder_names(runs, tmp_path):
    from mcthermo.report import write_report

    run = mt.read(runs / "staircase")
    run.tables["checks"]["verdict"] = ["inconclusive"] + ["passed"] * (len(run.checks) - 1)
    page = write_report(run, tmp_path / "r.html", figures=False).read_text()
    assert 'class="inconclusive"' in page and "1 inconclusive" in page and "<h2>staircase —" in page
