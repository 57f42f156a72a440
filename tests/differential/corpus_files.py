"""Where the differential corpus lives, shared by its test modules.

The layout (mount directories, file order, where results sit) is defined once, by the
corpus's own recorder; the tests load it from there rather than restating it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "corpus"

_spec = importlib.util.spec_from_file_location("corpus_record", CORPUS / "record.py")
assert _spec is not None
assert _spec.loader is not None
_record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_record)

MOUNTS: tuple[str, ...] = _record.MOUNTS
RESULTS_SUFFIX: str = _record.SUFFIX
corpus_traces = _record.corpus_traces
results_path = _record.results_path


def trace_id(trace: Path) -> str:
    """A test id: the trace's file name under its mount directory (names repeat across mounts)."""
    return f"{trace.parent.name}/{trace.name}"
