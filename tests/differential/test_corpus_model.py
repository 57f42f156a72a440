"""The model against the kernel's stored results, under DESIGN.md §3.6's rules.

This needs no root: the kernel's answers are the ``.kernel.jsonl`` files beside the traces
(recorded by ``make corpus``, and themselves re-checked against the live kernel by
test_corpus_kernel.py).  Every trace must agree, huge=never and huge=always alike
(MADV_COLLAPSE on a huge mount included: the model answers it with recovery).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from corpus_files import corpus_traces, results_path, trace_id

from hugetmpfs.trace import parse_file
from hugetmpfs.trace.diff import compare, format_comparison
from hugetmpfs.trace.model_runner import run_model
from hugetmpfs.trace.results import read_results

if TYPE_CHECKING:
    from pathlib import Path

NEVER = [t for t in corpus_traces() if t.parent.name == "never"]
ALWAYS = [t for t in corpus_traces() if t.parent.name == "always"]


@pytest.mark.parametrize("path", NEVER + ALWAYS, ids=trace_id)
def test_model_agrees_with_the_kernel(path: Path) -> None:
    trace = parse_file(str(path))
    kernel = read_results(str(results_path(path)))
    model = run_model(trace)
    comparison = compare(trace, kernel, model)
    assert comparison.agrees, format_comparison(trace, comparison, ("kernel", "model"))


def test_the_never_corpus_is_all_here() -> None:
    assert len(NEVER) >= 200


def test_replays_are_identical() -> None:
    """Same trace, same results, every time (the random traces exercise the most paths)."""
    for path in [t for t in NEVER if "random" in t.name][:12]:
        trace = parse_file(str(path))
        runs = {repr(run_model(trace)) for _ in range(3)}
        assert len(runs) == 1, path.name
