"""What a run shows a person: a progress bar in virtual time, a timeline of meminfo, a summary
table, and the files (JSON and CSV series, PNG plots and page maps, an HTML report).

Files are written into a fresh directory beside the target and renamed into place at the end,
so a run that fails leaves no partial output.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hugetmpfs.errors import InputError
from hugetmpfs.workload.memstate import frame_counts
from hugetmpfs.workload.series import HEADLINE

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from rich.console import Console

    from hugetmpfs.workload.runner import RunResult
    from hugetmpfs.workload.scenario import Scenario
    from hugetmpfs.workload.series import Series


@contextmanager
def progress_bar(
    console: Console, sc: Scenario, total: float
) -> Iterator[Callable[[float, str, float], None]]:
    """A rich progress bar over the scenario's phases, showing virtual time."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("virtual {task.fields[vt]:>9.1f} ms"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(sc.name, total=total, vt=0.0)

        def update(done: float, what: str, vt: float) -> None:
            bar.update(task, completed=done, description=f"{sc.name}: {what}"[:60], vt=vt)

        yield update


def timeline_rows(series: Series, rows: int = 14) -> list[int]:
    """The sample indices a timeline shows: evenly spread, first and last included."""
    n = len(series.time_ms)
    step = max(1, (n + rows - 1) // rows)
    return sorted({*range(0, n, step), n - 1})


def timeline_table(series: Series, rows: int = 14) -> Table:
    """Every n-th sample of the headline meminfo fields, in MiB."""
    table = Table(title="meminfo over virtual time (MiB)")
    table.add_column("t (ms)", justify="right")
    for name in HEADLINE:
        table.add_column(name, justify="right")
    for i in timeline_rows(series, rows):
        cells = [f"{series.columns[name][i] / 1024:,.1f}" for name in HEADLINE]
        table.add_row(f"{series.time_ms[i]:,.1f}", *cells)
    return table


# -- the summary ----------------------------------------------------------------------------


def _coverage(series: Series) -> list[float]:
    c = series.columns
    return [
        100.0 * p / s if s else 0.0 for p, s in zip(c["ShmemPmdMapped"], c["Shmem"], strict=True)
    ]


def _recovered_ms(series: Series) -> float | None:
    """How long coverage took to come back to 95 % of its peak after its lowest point (None
    if it never fell below that, or never came back)."""
    cov = _coverage(series)
    if not cov:
        return None
    peak_at = max(range(len(cov)), key=lambda i: (cov[i], -i))
    low_at = min(range(peak_at, len(cov)), key=lambda i: (cov[i], i))
    target = 0.95 * cov[peak_at]
    if cov[low_at] >= target:
        return None
    for i in range(low_at, len(cov)):
        if cov[i] >= target:
            return round(series.time_ms[i] - series.time_ms[low_at], 3)
    return None


def figures(series: Series) -> dict[str, Any]:
    """The run's headline figures (deterministic: no host time)."""
    c = series.columns
    cov = _coverage(series)
    swap_used = [t - f for t, f in zip(c["SwapTotal"], c["SwapFree"], strict=True)]
    mib = 1024
    out: dict[str, Any] = {
        "coverage_pmd_pct_peak": round(max(cov), 2),
        "coverage_pmd_pct_low_after_peak": round(
            min(cov[max(range(len(cov)), key=lambda i: (cov[i], -i)) :]), 2
        ),
        "coverage_pmd_pct_end": round(cov[-1], 2),
        "coverage_recovered_ms": _recovered_ms(series),
        "shmem_hugepages_mib_end": c["ShmemHugePages"][-1] // mib,
        "free_holes_mib_peak": max(c["ShmemFreeHoles"]) // mib,
        "free_holes_mib_end": c["ShmemFreeHoles"][-1] // mib,
        "swap_used_mib_peak": max(swap_used) // mib,
        "swap_used_mib_end": swap_used[-1] // mib,
        "free_huge_blocks_low": min(c["free_huge_blocks"]),
        "free_huge_blocks_end": c["free_huge_blocks"][-1],
        "extfrag_index_peak": max(c["extfrag_index"]) / 1000,
        "extfrag_index_end": c["extfrag_index"][-1] / 1000,
    }
    for name in ("pswpout", "pswpin", "pgsteal_kswapd", "pgsteal_direct", "allocstall", "pgfault"):
        out[name] = c[name][-1]
    out["recovery"] = (
        {col.split(".", 1)[1]: c[col][-1] for col in series.recovery_columns()}
        if series.recovery
        else None
    )
    return out


def summary(result: RunResult, wall: bool = True) -> dict[str, Any]:
    """The run in one mapping; ``wall=False`` leaves out the host-time measurement."""
    sc = result.scenario
    out = {
        "scenario": sc.name,
        "variant": sc.machine.variant,
        "hpage_nr": sc.machine.hpage_nr,
        "seed": sc.machine.seed,
        "virtual_ms": round(result.virtual_ms, 3),
        "processes_ms": round(result.processes_ms, 3),
        "samples": len(result.series.time_ms),
        "verified": result.verified,
        "mismatched_bytes": result.mismatched_bytes,
        "errors": result.errors,
        "notes": result.notes,
        "figures": figures(result.series),
        "pagemaps": [
            {"label": pm.label, "time_ms": round(pm.time_ms, 3), "frames": frame_counts(pm)}
            for pm in result.pagemaps
        ],
    }
    if wall:
        out["wall_seconds"] = round(result.wall_seconds, 3)
    return out


SUMMARY_ROWS = (
    ("coverage_pmd_pct_peak", "pmd coverage, peak (%)"),
    ("coverage_pmd_pct_low_after_peak", "pmd coverage, lowest after the peak (%)"),
    ("coverage_pmd_pct_end", "pmd coverage, end (%)"),
    ("coverage_recovered_ms", "time to recover 95 % of peak coverage (ms)"),
    ("shmem_hugepages_mib_end", "ShmemHugePages, end (MiB)"),
    ("free_holes_mib_peak", "free holes, peak (MiB)"),
    ("free_holes_mib_end", "free holes, end (MiB)"),
    ("swap_used_mib_peak", "swap in use, peak (MiB)"),
    ("swap_used_mib_end", "swap in use, end (MiB)"),
    ("free_huge_blocks_low", "free huge blocks, lowest"),
    ("free_huge_blocks_end", "free huge blocks, end"),
    ("extfrag_index_peak", "fragmentation index, highest"),
    ("extfrag_index_end", "fragmentation index, end"),
    ("pswpout", "pages swapped out"),
    ("pswpin", "pages swapped in"),
    ("pgsteal_kswapd", "reclaimed by kswapd"),
    ("pgsteal_direct", "reclaimed directly"),
    ("pgfault", "page faults"),
)


def summary_rows(info: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows of the summary table, recovery stats included."""
    fig = info["figures"]
    rows = [("virtual time (ms)", f"{info['virtual_ms']:,.1f}")]
    rows += [(label, fmt_value(fig[key])) for key, label in SUMMARY_ROWS]
    if fig["recovery"] is None:
        rows.append(("recovery stats", "none: this model exposes none"))
    else:
        rows += [(f"recovery: {k}", fmt_value(v)) for k, v in fig["recovery"].items() if v]
        if not any(fig["recovery"].values()):
            rows.append(("recovery stats", "all zero"))
    rows.append(("verified", "every byte read back as written" if info["verified"] else "NO"))
    return rows


def fmt_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def summary_table(info: dict[str, Any]) -> Table:
    table = Table(title=f"{info['scenario']}: summary")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for label, value in summary_rows(info):
        table.add_row(label, value)
    return table


# -- files ----------------------------------------------------------------------------------


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-") or "instant"


def write_data(result: RunResult, out_dir: str) -> dict[str, str]:
    """Write series.json, series.csv and summary.json into *out_dir*; return their names."""
    sc = result.scenario
    meta = {
        "scenario": sc.name,
        "description": sc.description,
        "machine": dict(vars(sc.machine)),
        "mounts": [vars(mt) for mt in sc.mounts],
        "sysctls": dict(sc.sysctls),
        "summary": summary(result, wall=False),
    }
    fields = sc.sample.fields
    result.series.write_json(os.path.join(out_dir, "series.json"), meta, fields)
    result.series.write_csv(os.path.join(out_dir, "series.csv"), fields)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary(result), f, indent=1, sort_keys=True)
        f.write("\n")
    return {"json": "series.json", "csv": "series.csv", "summary": "summary.json"}


def _write_files(result: RunResult, out_dir: str) -> dict[str, str]:
    """Write every output into *out_dir*; return their names (relative)."""
    from hugetmpfs.workload.html import write_html
    from hugetmpfs.workload.plots import PANELS, plot_pagemap, plot_panels

    sc = result.scenario
    names = write_data(result, out_dir)
    plots = {p: f"{p}.png" for p in (*PANELS, "overview")}
    plot_panels(
        result.series,
        {k: os.path.join(out_dir, v) for k, v in plots.items()},
        f"{sc.name}: {sc.description}"[:120],
        sc.machine.hpage_nr,
    )
    names.update(plots)
    for i, pm in enumerate(result.pagemaps):
        name = f"pagemap-{i}-{_slug(pm.label)}.png"
        plot_pagemap(pm, os.path.join(out_dir, name), sc.name)
        names[f"pagemap {pm.label}"] = name
    names["report"] = "index.html"
    write_html(result, out_dir, names, os.path.join(out_dir, "index.html"))
    return names


def fresh_dir(target: str) -> str:
    """A new empty directory beside *target*, to be renamed to it once complete."""
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    return tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.", dir=parent)


def replace_dir(tmp: str, target: str) -> None:
    """Move the finished *tmp* to *target*, replacing what was there."""
    old = None
    if os.path.lexists(target):
        old = fresh_dir(target)
        os.rename(target, os.path.join(old, "previous"))
    os.rename(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def check_apart(out_dir: str, report_dir: str | None) -> None:
    """Refuse a report directory inside the output directory, or the other way round: the
    one replaced second would destroy the other, or lose it.  The same directory is fine."""
    if report_dir is None:
        return
    out, rep = os.path.realpath(out_dir), os.path.realpath(report_dir)
    if out == rep:
        return
    if os.path.commonpath([out, rep]) == out:
        raise InputError(f"--report {report_dir}: is inside --out {out_dir}; choose another")
    if os.path.commonpath([out, rep]) == rep:
        raise InputError(f"--out {out_dir}: is inside --report {report_dir}; choose another")


def write_outputs(result: RunResult, out_dir: str, report_dir: str | None = None) -> dict[str, str]:
    """Write the series, summary, plots, page maps and HTML report under *out_dir*, and the
    self-contained report alone under *report_dir* if given; return the paths.

    Both are put together in temporary directories first and renamed into place once both
    are complete: on any failure the temporary directories go and earlier outputs stay."""
    check_apart(out_dir, report_dir)
    given = shown = out_dir  # what an error names: the directory as the user gave it
    out_dir = os.path.abspath(out_dir)
    tmps: list[str] = []
    done = False
    try:
        tmps.append(fresh_dir(out_dir))
        names = _write_files(result, tmps[0])
        paths = {k: os.path.join(out_dir, v) for k, v in names.items()}
        if report_dir is not None and os.path.realpath(report_dir) != os.path.realpath(out_dir):
            shown = report_dir
            report_dir = os.path.abspath(report_dir)
            tmps.append(fresh_dir(report_dir))
            shutil.copy(os.path.join(tmps[0], "index.html"), os.path.join(tmps[1], "index.html"))
            replace_dir(tmps[1], report_dir)
            paths["report"] = os.path.join(report_dir, "index.html")
            shown = given
        replace_dir(tmps[0], out_dir)
        done = True
    except OSError as e:
        raise InputError(f"{shown}: cannot write: {e.strerror or e}") from None
    finally:
        if not done:
            for tmp in tmps:
                shutil.rmtree(tmp, ignore_errors=True)
    return paths


def print_report(console: Console, result: RunResult, paths: dict[str, str]) -> None:
    console.print(timeline_table(result.series))
    info = summary(result)
    console.print(summary_table(info))
    for error in result.errors:
        console.print(f"[red]error: {error}")
    for note in result.notes:
        console.print(f"[yellow]note: {note}")
    lost = sum(result.mismatched_bytes.values())
    if lost:
        console.print(f"[red]{lost} bytes differ[/] ({result.mismatched_bytes})")
    console.print(
        f"{info['samples']} samples over {info['virtual_ms']:,.1f} ms of virtual time, "
        f"{info['wall_seconds']:.1f} s of host time"
    )
    shown = {k: v for k, v in paths.items() if not k.startswith("pagemap") and k != "report"}
    for what, path in shown.items():
        console.print(f"  {what:13} {os.path.relpath(path)}", highlight=False)
