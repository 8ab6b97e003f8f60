"""A self-contained HTML report of a run or a directory of runs: verdicts, summaries, figures
(PNG embedded as base64, so the single file can be mailed or archived)."""
from __future__ import annotations

import base64
import html
import tempfile
from pathlib import Path

from .run import Collection

_STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:12px;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px}
.failed{background:#fdd}img{max-width:48%;margin:4px}h2{border-bottom:1px solid #aaa}"""

_CHECK_COLUMNS = ["check", "direction", "observable", "estimate", "stderr", "expected", "z",
                  "threshold", "passed", "trajectories"]


def _checks_html(checks):
    table = checks[[c for c in _CHECK_COLUMNS if c in checks]].copy()
    table["passed"] = table["passed"].map({True: "passed", False: "FAILED"})
    rendered = table.to_html(index=False, float_format=lambda x: f"{x:.6g}")
    return rendered.replace("<td>FAILED</td>", '<td class="failed">FAILED</td>')


def _run_section(run, figures: bool) -> str:
    info = run.info
    parameters = ", ".join(f"{k} = {v}" for k, v in info["parameters"].items())
    parts = [f"<h2>{html.escape(info['model'])} — run {info['run_id']}</h2>",
             f"<p>{html.escape(parameters)}<br>seed {info['seed']}, {info['trajectories']} trajectories"
             f"{' per direction (forward and reverse)' if info.get('reverse') else ''}; "
             f"mcthermo {info.get('version')}, created {info.get('created')}</p>",
             f"<p><b>{int(run.checks['passed'].sum())} of {len(run.checks)} checks passed</b></p>",
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
    failed = sum(int((~run.checks["passed"]).sum()) for run in runs)
    total = sum(len(run.checks) for run in runs)
    body = [f"<h1>mcthermo report: {len(runs)} run(s), {total - failed} of {total} checks passed</h1>"]
    body += [_run_section(run, figures) for run in runs]
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>mcthermo report</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>")
    path = Path(path)
    from .io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(page)
    return path
