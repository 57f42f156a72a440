"""What a run shows a person: a progress bar in virtual time, a timeline table of the
meminfo fields, a summary, and the files written (JSON and CSV series, a PNG plot)."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

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
            bar.update(task, completed=done, description=f"{sc.name}: {what}", vt=vt)

        yield update


def timeline_table(series: Series, rows: int = 14) -> Table:
    """Every n-th sample of the headline meminfo fields, in MiB."""
    table = Table(title="meminfo over virtual time (MiB)")
    table.add_column("t (ms)", justify="right")
    for name in HEADLINE:
        table.add_column(name, justify="right")
    n = len(series.time_ms)
    step = max(1, (n + rows - 1) // rows)
    picks = sorted({*range(0, n, step), n - 1})
    for i in picks:
        cells = [f"{series.columns[name][i] / 1024:,.1f}" for name in HEADLINE]
        table.add_row(f"{series.time_ms[i]:,.1f}", *cells)
    return table


def summary(result: RunResult) -> dict[str, Any]:
    s = result.series
    vm = {
        name: s.last(name)
        for name in (
            "pswpout",
            "pswpin",
            "pgsteal_kswapd",
            "pgsteal_direct",
            "allocstall",
            "pgfault",
        )
    }
    return {
        "scenario": result.scenario.name,
        "virtual_ms": round(result.virtual_ms, 3),
        "samples": len(s.time_ms),
        "verified": result.verified,
        "mismatched_bytes": result.mismatched_bytes,
        "errors": result.errors,
        "vmstat": vm,
        "wall_seconds": round(result.wall_seconds, 3),
    }


def write_outputs(result: RunResult, out_dir: str) -> dict[str, str]:
    """Write series.json, series.csv, plot.png and summary.json; return their paths."""
    from hugetmpfs.workload.plots import plot_series

    os.makedirs(out_dir, exist_ok=True)
    paths = {
        "json": os.path.join(out_dir, "series.json"),
        "csv": os.path.join(out_dir, "series.csv"),
        "plot": os.path.join(out_dir, "plot.png"),
        "summary": os.path.join(out_dir, "summary.json"),
    }
    meta = {"scenario": result.scenario.name, "description": result.scenario.description}
    result.series.write_json(paths["json"], meta)
    result.series.write_csv(paths["csv"])
    plot_series(
        result.series, paths["plot"], f"{result.scenario.name}: {meta['description']}"[:110]
    )
    with open(paths["summary"], "w") as f:
        json.dump(summary(result), f, indent=1, sort_keys=True)
        f.write("\n")
    return paths


def print_report(console: Console, result: RunResult, paths: dict[str, str]) -> None:
    console.print(timeline_table(result.series))
    info = summary(result)
    lost = sum(result.mismatched_bytes.values())
    verdict = "[green]every byte read back as written" if not lost else f"[red]{lost} bytes differ"
    console.print(f"{verdict}[/]  ({info['mismatched_bytes']})")
    for error in result.errors:
        console.print(f"[red]{error}")
    vm = info["vmstat"]
    console.print(
        f"virtual time {info['virtual_ms']:,.1f} ms; swapped out {vm['pswpout']} pages, in "
        f"{vm['pswpin']}; reclaimed {vm['pgsteal_kswapd']} by kswapd, "
        f"{vm['pgsteal_direct']} directly; {info['wall_seconds']:.1f} s of host time"
    )
    for what, path in paths.items():
        console.print(f"  {what:8} {path}")
