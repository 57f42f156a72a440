"""Reports name the kernel function of each point (explore/where.py), and never cut it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hugetmpfs.explore.scenarios  # noqa: F401  (registers the built-in scenarios)
from hugetmpfs.explore import REGISTRY, ExploreOptions, explore
from hugetmpfs.explore.cli_support import replay_file
from hugetmpfs.explore.findings import diagram, save_finding
from hugetmpfs.explore.runner import Execution, with_functions
from hugetmpfs.explore.where import is_kernel_name, label


@pytest.mark.parametrize(
    ("name", "kernel"),
    [
        ("shmem_recovery_populate", True),
        ("__unmap_and_move", True),
        ("_populate_pass", False),
        ("__enter__", False),
        ("<listcomp>", False),
        ("lock_page", False),
    ],
)
def test_which_names_are_the_kernels(name: str, kernel: bool) -> None:
    assert is_kernel_name(name) is kernel


def test_a_label_does_not_repeat_a_function_the_point_is_named_after() -> None:
    assert label("shmem_recovery_populate", "shmem_recovery_populate:cond_resched") == (
        "shmem_recovery_populate() cond_resched"
    )
    assert label("rmap_walk", "down_read:i_mmap_rwsem") == "rmap_walk() down_read:i_mmap_rwsem"
    assert label(None, "lock:tree_lock") == "lock:tree_lock"


@pytest.fixture(scope="module")
def r1_found() -> Execution:
    sc = REGISTRY["recovery-vs-punch-and-write"]
    options = ExploreOptions("pct", 2000, 0, guards_off=("recovery/R1",))
    result = explore(sc, options)
    assert result.found is not None
    return with_functions(sc, result.found, options)


def test_a_reported_finding_knows_the_kernel_function_of_every_point(
    r1_found: Execution,
) -> None:
    functions = r1_found.functions
    assert functions is not None
    assert len(functions) == len(r1_found.point_log)
    assert all(is_kernel_name(f) for f in functions)
    # the window of recovery/R1 is opened in migration, its lock points in the work
    named = dict(zip((p for _, _, p in r1_found.point_log), functions, strict=True))
    assert named["recovery/R1:before_lock"] == "__unmap_and_move"
    assert {"shmem_recovery_populate", "shmem_undo_range"} <= set(functions)


def test_the_diagram_names_them_and_cuts_nothing(r1_found: Execution) -> None:
    width = 30
    text = diagram(r1_found, width=width)
    rows = [line.split("|") for line in text.splitlines()[2:]]
    assert all(len(cell.strip()) <= width for row in rows for cell in row)
    work = " ".join(row[0].strip() for row in rows if row[0].strip())  # kworker's column
    assert "__unmap_and_move() recovery/R1:before_lock (2 points)" in work


def test_the_diagram_says_what_it_leaves_out() -> None:
    log = [(step, step % 2, f"p{step}") for step in range(1, 11)]
    run = Execution(None, 10, 0, log, [(0, "a", 0), (1, "b", 1)])
    text = diagram(run, max_rows=4)
    assert "(6 earlier stretches not shown" in text
    assert "p10" in text
    assert "p6" not in text


def test_the_trace_and_a_replay_name_them_too(
    r1_found: Execution, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sc = REGISTRY["recovery-vs-punch-and-write"]
    result = explore(sc, ExploreOptions("pct", 2000, 0, guards_off=("recovery/R1",)))
    result.found = r1_found
    path = save_finding(result, str(tmp_path))
    trace = json.loads(Path(path.removesuffix(".json") + ".trace.json").read_text())
    points = [p for e in trace["traceEvents"] if e["ph"] == "X" for p in e["args"]["points"]]
    assert len(points) == len(r1_found.point_log)
    assert "__unmap_and_move() recovery/R1:before_lock" in points
    assert replay_file(path, as_json=False) == 1
    out = capsys.readouterr().out
    assert "reproduced" in out
    assert "__unmap_and_move()" in out
