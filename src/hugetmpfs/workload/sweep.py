"""One scenario over a grid of parameters, in parallel processes, results in one table.

``--param machine.variant=v24,v29 --param sysctl.vm.shmem_huge_recoveries=0,8`` makes four
runs.  Each parameter is a scenario key path (as ``--set`` takes) with comma-separated
values; every point of the grid is validated before anything runs.  Each run writes its
``series.json`` and ``summary.json`` (comparable with ``hugetmpfs compare``) under
``DIR/NNN``; the table goes to ``DIR/sweep.json`` and ``DIR/sweep.csv``.  Workers are forked
processes: each builds its own machine, so the results are the same with any ``--workers``.
"""

from __future__ import annotations

import csv
import itertools
import json
import multiprocessing
import os
from typing import TYPE_CHECKING, Any

from rich.table import Table

from hugetmpfs.errors import InputError
from hugetmpfs.workload.scenario_file import load_scenario

if TYPE_CHECKING:
    from collections.abc import Callable

#: The figures a sweep's table shows, after the parameters.
COLUMNS = (
    ("coverage_pmd_pct_end", "coverage end %"),
    ("coverage_pmd_pct_low_after_peak", "coverage low %"),
    ("coverage_recovered_ms", "recovered in ms"),
    ("free_holes_mib_peak", "holes peak MiB"),
    ("swap_used_mib_peak", "swap peak MiB"),
    ("pswpout", "pswpout"),
    ("extfrag_index_end", "extfrag end"),
)
RECOVERY_COLUMNS = ("work_queued", "recov_completed", "recov_failed")


def parse_params(params: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    """``KEY=V1,V2`` -> (KEY, ["V1", "V2"]) for each parameter; a key given twice is refused
    (the grid would hold only the last one's values)."""
    out = []
    seen: dict[tuple[str, ...], str] = {}
    for text in params:
        key, sep, values = text.partition("=")
        items = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key.strip() or not items:
            raise InputError(f"--param {text!r}: expected KEY.PATH=VALUE[,VALUE...]")
        same = tuple(p for p in key.strip().split(".") if p)  # as --set reads the key
        if same in seen:
            again = "given twice" if seen[same] == key.strip() else f"the same key as {seen[same]}"
            raise InputError(f"--param {key.strip()}: {again}; give its values once, V1,V2,...")
        seen[same] = key.strip()
        out.append((key.strip(), items))
    return out


def grid(params: list[tuple[str, list[str]]]) -> list[dict[str, str]]:
    """Every combination of the parameters' values, in order (the last varies fastest)."""
    keys = [k for k, _ in params]
    return [
        dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(v for _, v in params))
    ]


def _overrides(base: tuple[str, ...], point: dict[str, str]) -> tuple[str, ...]:
    return (*base, *(f"{k}={v}" for k, v in point.items()))


def _run_point(job: tuple[str, tuple[str, ...], int, str]) -> dict[str, Any]:
    """In a worker: run one point of the grid and write its data; its summary."""
    from hugetmpfs.workload.report import summary, write_data
    from hugetmpfs.workload.runner import run_scenario

    path, overrides, scale, out_dir = job
    result = run_scenario(load_scenario(path, overrides, scale))
    os.makedirs(out_dir, exist_ok=True)
    write_data(result, out_dir)
    return summary(result)


def check_grid(
    path: str, params: list[tuple[str, list[str]]], base: tuple[str, ...], scale: int
) -> None:
    """Validate every point of the grid: bad input fails here, before any run."""
    for point in grid(params):
        load_scenario(path, _overrides(base, point), scale)


def run_sweep(
    path: str,
    params: list[tuple[str, list[str]]],
    base: tuple[str, ...],
    scale: int,
    out_dir: str,
    workers: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run the grid; one row per point: its parameters, its summary, its directory."""
    points = grid(params)
    check_grid(path, params, base, scale)
    jobs = [
        (path, _overrides(base, point), scale, os.path.join(out_dir, f"{i:03d}"))
        for i, point in enumerate(points)
    ]
    rows: list[dict[str, Any]] = []
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(min(workers, len(jobs))) as pool:
        for i, info in enumerate(pool.imap(_run_point, jobs)):
            rows.append({"params": points[i], "dir": f"{i:03d}", "summary": info})
            if progress is not None:
                progress(i + 1, len(jobs))
    return rows


def table_rows(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The sweep table: a header and one row of strings per run."""
    from hugetmpfs.workload.report import fmt_value

    keys = list(rows[0]["params"]) if rows else []
    recovery = any(r["summary"]["figures"]["recovery"] is not None for r in rows)
    head = ["run", *(k.rsplit(".", 1)[-1] for k in keys), *(label for _, label in COLUMNS)]
    head += list(RECOVERY_COLUMNS) if recovery else []
    head += ["virtual ms", "verified", "wall s"]
    out = []
    for r in rows:
        s, fig = r["summary"], r["summary"]["figures"]
        cells = [
            r["dir"],
            *(r["params"][k] for k in keys),
            *(fmt_value(fig[k]) for k, _ in COLUMNS),
        ]
        if recovery:
            cells += [fmt_value((fig["recovery"] or {}).get(k)) for k in RECOVERY_COLUMNS]
        cells += [
            fmt_value(s["virtual_ms"]),
            "yes" if s["verified"] else "NO",
            f"{s['wall_seconds']:.1f}",
        ]
        out.append(cells)
    return head, out


def sweep_table(rows: list[dict[str, Any]], title: str) -> Table:
    """The sweep table for the console: parameters left-aligned, figures right-aligned."""
    head, body = table_rows(rows)
    nparams = len(rows[0]["params"]) if rows else 0
    table = Table(title=title)
    for i, h in enumerate(head):
        table.add_column(h, justify="left" if i <= nparams else "right")
    for cells in body:
        table.add_row(*cells)
    return table


def write_table(rows: list[dict[str, Any]], out_dir: str) -> dict[str, str]:
    """sweep.json (every summary) and sweep.csv (the table) in *out_dir*."""
    head, body = table_rows(rows)
    paths = {"json": os.path.join(out_dir, "sweep.json"), "csv": os.path.join(out_dir, "sweep.csv")}
    with open(paths["json"], "w") as f:
        json.dump(rows, f, indent=1, sort_keys=True)
        f.write("\n")
    with open(paths["csv"], "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(head)
        writer.writerows(body)
    return paths
