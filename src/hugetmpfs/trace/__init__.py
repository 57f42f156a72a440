"""Trace format v1: parse, run on the model, run on the real kernel, diff (DESIGN.md §3)."""

from hugetmpfs.trace.parse import Op, Trace, parse_bytes, parse_file

__all__ = ["Op", "Trace", "parse_bytes", "parse_file"]
