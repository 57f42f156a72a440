"""The HTML report of a run: one self-contained file (images embedded as data URIs, no
scripts, no external resources), so that it can be mailed or archived on its own.

It holds the scenario's description and what to look for, the machine, the summary table,
notes and errors, every plot, the page maps and a timeline of the headline meminfo fields.
"""

from __future__ import annotations

import base64
import html
import os
from typing import TYPE_CHECKING

from hugetmpfs.workload.plots import PANELS, TITLES
from hugetmpfs.workload.series import HEADLINE

if TYPE_CHECKING:
    from hugetmpfs.workload.runner import RunResult

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; }
td, th { border: 1px solid #ddd; padding: 2px 8px; } td.n { text-align: right; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.shows { background: #f5f9ff; border-left: 4px solid #4393c3; padding: 0.5em 1em; }
.error { color: #b2182b; } .note { color: #8c510a; }
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _img(folder: str, name: str, alt: str) -> str:
    with open(os.path.join(folder, name), "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}">'


def _table(head: list[str], rows: list[list[str]], numeric_from: int = 1) -> str:
    out = ["<table><tr>", *(f"<th>{_e(h)}</th>" for h in head), "</tr>"]
    for row in rows:
        cells = (
            f'<td class="n">{_e(c)}</td>' if i >= numeric_from else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        out += ["<tr>", *cells, "</tr>"]
    out.append("</table>")
    return "".join(out)


def _sections(result: RunResult, folder: str, names: dict[str, str]) -> list[str]:
    from hugetmpfs.workload.report import summary, summary_rows, timeline_rows

    sc, series = result.scenario, result.series
    info = summary(result)
    machine = [["scenario file", sc.source]] if sc.source else []
    machine += [[k, str(v)] for k, v in vars(sc.machine).items()]
    machine += [[f"mount {m.name}", f"huge={m.huge} size={m.size >> 20} MiB"] for m in sc.mounts]
    machine += [[f"sysctl {k}", str(v)] for k, v in sc.sysctls]
    out = [f"<h1>{_e(sc.name)}</h1>", f"<p>{_e(sc.description)}</p>"]
    if sc.shows:
        out.append(f'<div class="shows"><b>What to look for.</b> {_e(sc.shows)}</div>')
    out += ["<h2>Summary</h2>", _table(["figure", "value"], [list(r) for r in summary_rows(info)])]
    out += [f'<p class="error">error: {_e(x)}</p>' for x in result.errors]
    out += [f'<p class="note">note: {_e(x)}</p>' for x in result.notes]
    out += ["<h2>Machine</h2>", _table(["setting", "value"], machine, 2)]
    out.append("<h2>Over virtual time</h2>")
    out += [_img(folder, names[p], TITLES[p]) for p in PANELS]
    out.append("<h2>Page maps</h2>")
    for pm in result.pagemaps:
        out.append(f"<h3>at {_e(pm.label)} ({pm.time_ms:,.1f} ms)</h3>")
        out.append(_img(folder, names[f"pagemap {pm.label}"], f"page map at {pm.label}"))
    rows = [
        [f"{series.time_ms[i]:,.1f}", *(f"{series.columns[h][i] / 1024:,.1f}" for h in HEADLINE)]
        for i in timeline_rows(series, 20)
    ]
    out += ["<h2>meminfo over virtual time (MiB)</h2>", _table(["t (ms)", *HEADLINE], rows)]
    events = [[f"{t:,.3f}", what] for t, what in series.events]
    out += ["<h2>Phases</h2>", _table(["t (ms)", "what"], events, 2)]
    files = [[k, v] for k, v in names.items() if not k.startswith("pagemap") and k != "report"]
    out += ["<h2>Files beside this report</h2>", _table(["what", "file"], files, 2)]
    return out


def write_html(result: RunResult, folder: str, names: dict[str, str], path: str) -> None:
    """Write the report of *result* to *path*; its images are read from *folder*."""
    body = "\n".join(_sections(result, folder, names))
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>hugetmpfs: {_e(result.scenario.name)}</title>"
        '<link rel="icon" href="data:,">'
        f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
