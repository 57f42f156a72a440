"""The ``run`` command's work, kept out of cli.py: find the scenario, run it, write and print.

Everything that can be wrong with the input (the scenario file, an override, an output
directory that is not ours to replace) is checked before the machine is built.
"""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING

import click

from hugetmpfs.errors import InputError
from hugetmpfs.workload.scenario import DEFAULT, builtin_names, builtin_path
from hugetmpfs.workload.scenario_file import load_scenario

if TYPE_CHECKING:
    from rich.console import Console

    from hugetmpfs.workload.scenario import Scenario

#: What an output directory of ours holds: only then may a new run replace it.
OUTPUT_MARKERS = ("series.json", "index.html", "sweep.json")


def resolve(name: str | None) -> str:
    """The file of scenario *name*: a built-in's name, or a path to a TOML file."""
    name = name or DEFAULT
    if name in builtin_names():
        return builtin_path(name)
    if name.endswith(".toml") or os.sep in name or os.path.exists(name):
        return name
    known = ", ".join(builtin_names())
    raise InputError(f"unknown scenario {name!r} (built in: {known}; or give a .toml file)")


def load(name: str | None, overrides: tuple[str, ...] = (), scale: int = 1) -> Scenario:
    return load_scenario(resolve(name), overrides, scale)


def check_output_dir(path: str, option: str) -> None:
    """Refuse, before the run, a directory that cannot be created, or that is not a previous
    run's output (only that may be replaced)."""
    if not path:  # "" would stand for the current directory: replaced, it would be lost
        raise InputError(f"{option} '': cannot create: No such file or directory")
    if os.path.lexists(path):
        if not os.path.isdir(path):
            raise InputError(f"{option} {path}: exists and is not a directory")
        entries = os.listdir(path)
        if entries and not any(m in entries for m in OUTPUT_MARKERS):
            raise InputError(
                f"{option} {path}: exists and is not the output of a run; not replacing it"
            )
    _check_creatable(path, option)


def _check_creatable(path: str, option: str) -> None:
    """Create (and remove) a directory where the outputs will be put together, beside *path*:
    a place that cannot be written is found now, not once the run is over."""
    parent = os.path.dirname(os.path.abspath(path))
    existing = parent
    while not os.path.lexists(existing):  # the directories missing are created then
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        shown = existing if os.path.isabs(path) else os.path.relpath(existing)
        raise InputError(f"{option} {path}: cannot create: {shown} is not a directory")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".hugetmpfs-", dir=existing))
    except OSError as e:
        raise InputError(f"{option} {path}: cannot create: {e.strerror}") from None


def list_scenarios() -> str:
    """The built-in scenarios, one a line, with the first line of their description."""
    lines = []
    for name in builtin_names():
        sc = load_scenario(builtin_path(name))
        first = sc.description.split(". ")[0].replace("\n", " ")
        lines.append(f"{name:22} {first}")
        lines.append(f"{'':22} {builtin_path(name)}")
    return "\n".join(lines)


def run_and_report(
    sc: Scenario, console: Console, out_dir: str, report_dir: str | None
) -> tuple[int, dict[str, str]]:
    """Run *sc* with a progress bar, write its outputs, print the tables: (status, paths)."""
    from hugetmpfs.workload import report
    from hugetmpfs.workload.runner import run_scenario, scenario_weight

    report.check_apart(out_dir, report_dir)  # before the run, which may be long
    console.print(f"[bold]{sc.name}[/]: {sc.description}", highlight=False)
    with report.progress_bar(console, sc, scenario_weight(sc)) as update:
        result = run_scenario(sc, progress=update)
    paths = report.write_outputs(result, out_dir, report_dir)
    report.print_report(console, result, paths)
    if console.quiet:  # what went wrong still goes to stderr
        for error in result.errors:
            click.echo(f"hugetmpfs: {sc.name}: {error}", err=True)
        lost = sum(result.mismatched_bytes.values())
        if lost:
            click.echo(f"hugetmpfs: {sc.name}: {lost} bytes read back differ", err=True)
    return (0 if result.verified else 1), paths


def compare_runs(a: str, b: str, console: Console, plot: str | None) -> int:
    """Print two runs side by side (and plot them if asked): both checked before either."""
    from hugetmpfs.workload.compare import compare_files

    compare_files(a, b, console, plot)
    return 0


def sweep(
    name: str,
    params: tuple[str, ...],
    overrides: tuple[str, ...],
    scale: int,
    out_dir: str | None,
    workers: int,
    console: Console,
) -> int:
    """Run *name* over the grid of *params* and print one table of the results."""
    import shutil

    from hugetmpfs.workload import sweep as sw
    from hugetmpfs.workload.report import fresh_dir, replace_dir

    grid = sw.parse_params(params)
    if not grid:
        raise InputError("sweep needs at least one --param KEY.PATH=VALUE[,VALUE...]")
    path = resolve(name)
    first = load_scenario(path, overrides, scale)
    sw.check_grid(path, grid, overrides, scale)
    out = out_dir or os.path.join("out", f"sweep-{first.name}")
    check_output_dir(out, "--out")
    tmp, done = None, False
    try:
        tmp = fresh_dir(os.path.abspath(out))
        total = len(sw.grid(grid))
        console.print(f"[bold]{first.name}[/]: {total} runs on {min(workers, total)} workers")
        rows = sw.run_sweep(
            path, grid, overrides, scale, tmp, workers,
            lambda k, n: console.print(f"  run {k}/{n} done"),
        )  # fmt: skip
        sw.write_table(rows, tmp)
        replace_dir(tmp, os.path.abspath(out))
        done = True
    except OSError as e:
        raise InputError(f"--out {out}: cannot write: {e.strerror or e}") from None
    finally:
        if tmp is not None and not done:
            shutil.rmtree(tmp, ignore_errors=True)
    console.print(sw.sweep_table(rows, f"sweep of {first.name}"))
    console.print(f"results: {os.path.join(out, 'sweep.csv')}, {os.path.join(out, 'sweep.json')}")
    return 0 if all(r["summary"]["verified"] for r in rows) else 1
