"""Where the differential corpus lives, shared by its two test modules."""

from __future__ import annotations

from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
MOUNTS = ("never", "always")
RESULTS_SUFFIX = ".kernel.jsonl"


def corpus_traces(root: Path = CORPUS) -> list[Path]:
    """Every trace under *root*, never/ first, each directory in file-name order."""
    return [
        path
        for mount in MOUNTS
        for path in sorted((root / mount).glob("*.jsonl"))
        if not path.name.endswith(RESULTS_SUFFIX)
    ]


def results_path(trace: Path) -> Path:
    """The kernel's recorded results of *trace*, stored beside it."""
    return trace.with_name(trace.name.removesuffix(".jsonl") + RESULTS_SUFFIX)


def trace_id(trace: Path) -> str:
    """A test id: the trace's file name under its mount directory (names repeat across mounts)."""
    return f"{trace.parent.name}/{trace.name}"
