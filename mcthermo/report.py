"""A self-contained HTML report of a run or a directory of runs: verdicts, summaries, figures
(PNG embedded as base64, so the single file can be mailed or archived)."""
from __future__ import annotations

import base64
import html
import tempfile
from pathlib import Path

from .run import Collection, tally, verdicts

_STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:12px;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px}
.failed{background:#fdd}.inconclusive{background:#ffd}img{max-width:48%;margin:4px}h2{border-bottom:1px solid #aaa}"""

_CHECK_COLUMNS = ["check", "direction", "observable", "estimate", "stderr", "expected", "z",
                  "threshold", "verdict", "reason", "trajectories"]


def _checks_html(checks):
    table = checks.assign(verdict=verdicts(checks).map(
        {"passed": "passed", "failed": "FAILED", "inconclusive": "inconclusive",
         "not applicable": "not applicable"}))
    table = table[[c for c in _CHECK_COLUMNS if c in table]]
    rendered = table.to_html(index=False, float_format=lambda x: f"{x:.6g}")
    return (rendered.replace("<td>FAILED</td>", '<td class="failed">FAILED</td>')
            .replace("<td>inconclusive</td>", '<td class="inconclusive">inconclusive</td>'))


def _tally(checks) -> str:
    return f"{len(checks)} checks: {tally(verdicts(checks))}"


def _run_section(run, figures: bool) -> str:
    info = run.info
    parameters = ", ".join(f"{k} = {v}" for k, v in info["parameters"].items())
    parts = [f"<h2>{html.escape(run.name)} — {html.escape(info['model'])}, run {info['run_id']}</h2>",
             f"<p>{html.escape(parameters)}<br>seed {info['seed']}, {info['trajectories']} trajectories"
             f"{' per direction (forward and reverse)' if info.get('reverse') else ''}; "
             f"mcthermo {info.get('version')}, created {info.get('created')}</p>",
             f"<p><b>{_tally(run.checks)}</b></p>",
             _checks_html(run.checks),
             run.summary.drop(columns=list(info["parameters"]) + ["model", "run_id"], errors="ignore")
             .to_html(index=False, float_format=lambda x: f"{x:.6g}")]
    if figures:
        try:
            from .plots import plot_run

            with tempfile.TemporaryDirectory() as tmp:
                for path in plot_run(run, tmp):
                    data = base64.b64encode(Path(path).read_bytes()).decode()
                    parts.append(f'<img alt="{path.stem}" src="data:image/png;base64,{data}">')
        except ImportError as error:
            parts.append(f"<p>(no figures: {html.escape(str(error))})</p>")
    return "\n".join(parts)


def write_report(result, path, figures: bool = True) -> Path:
    """Write the HTML report of a Run or Collection to ``path``."""
    runs = result.runs if isinstance(result, Collection) else [result]
    states = [verdicts(run.checks) for run in runs]
    total, passed = sum(len(s) for s in states), sum(int((s == "passed").sum()) for s in states)
    failed, open_ = sum(int((s == "failed").sum()) for s in states), sum(int((s == "inconclusive").sum()) for s in states)
    apart = sum(int((s == "not applicable").sum()) for s in states)
    body = [f"<h1>mcthermo report: {len(runs)} run(s), {passed} of {total} checks passed, {failed} failed"
            + (f", {open_} inconclusive" if open_ else "")
            + (f", {apart} not applicable" if apart else "") + "</h1>"]
    body += [_run_section(run, figures) for run in runs]
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>mcthermo report</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>")
    path = Path(path)
    from .io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(page)
    return path
