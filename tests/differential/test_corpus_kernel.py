"""The corpus replayed on the real kernel agrees with the kernel results stored beside it.

This is what keeps ``corpus/*/*.kernel.jsonl`` honest: the stored results are the oracle the
model is diffed against, so they must be what this kernel answers today, under the same
rules (DESIGN.md §3.6) that ``diff`` applies to the model.  Regenerate with ``make corpus``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from corpus_files import corpus_traces, results_path, trace_id

from hugetmpfs.trace._kernel_maps import AddressSpace
from hugetmpfs.trace.diff import compare, format_comparison
from hugetmpfs.trace.kernel_runner import run_kernel
from hugetmpfs.trace.parse import parse_file
from hugetmpfs.trace.results import read_results

if TYPE_CHECKING:
    from pathlib import Path

TRACES = corpus_traces()


@pytest.mark.kernel
@pytest.mark.parametrize("path", TRACES, ids=[trace_id(p) for p in TRACES])
def test_kernel_agrees_with_stored_results(path: Path) -> None:
    recorded = results_path(path)
    if not recorded.exists():
        pytest.fail(f"{trace_id(path)} has no recorded {recorded.name}: run `make corpus` as root")
    trace = parse_file(str(path))
    stored = read_results(str(recorded))
    comparison = compare(trace, stored, run_kernel(trace))
    assert comparison.agrees, (
        format_comparison(trace, comparison, ("stored", "kernel now"))
        + "\n(if the kernel or the trace changed on purpose, re-record with `make corpus`)"
    )


def _failed_mmaps(path: Path) -> bool:
    recorded = results_path(path)
    return recorded.exists() and any(
        r["op"] == "mmap" and r["errno"] is not None for r in read_results(str(recorded))
    )


MMAP_ERRORS = [p for p in TRACES if _failed_mmaps(p)]


@pytest.mark.kernel
@pytest.mark.parametrize("path", MMAP_ERRORS, ids=[trace_id(p) for p in MMAP_ERRORS])
def test_mmap_answers_do_not_depend_on_placement(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every mmap of a trace where one fails answers the same placed by the runner's rule
    (MAP_FIXED in its reservation) as with a NULL hint, where the kernel chooses."""
    trace = parse_file(str(path))
    placed = run_kernel(trace)
    monkeypatch.setattr(AddressSpace, "place", lambda self, offset, length: None)
    anywhere = run_kernel(trace)  # the executor is forked: it inherits the patch
    mmaps = [i for i, op in enumerate(trace.ops) if op.name == "mmap"]
    assert [placed[i] for i in mmaps] == [anywhere[i] for i in mmaps]
    assert any(placed[i]["errno"] is not None for i in mmaps)
