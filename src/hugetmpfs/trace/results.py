"""Result lines of trace format v1 (DESIGN.md §3.3): build, write and read them.

A result is a dict whose keys come in the contract's order: ``i``, ``op``, ``ret``, ``errno``,
then the op's extra fields.  Both runners build results only through :func:`ok` and
:func:`failed`, so the two streams can be compared field by field.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import TYPE_CHECKING, Any

from hugetmpfs.errors import TraceError
from hugetmpfs.trace.ops import ERRNO_ALIASES

if TYPE_CHECKING:
    from collections.abc import Iterable

    from hugetmpfs.trace.parse import Op

Result = dict[str, Any]


#: Ops whose results one runner may extend with fields of its own (DESIGN.md §3.3:
#: "the model may add fields" to meminfo); the contract's fields come first.
EXTENSIBLE = frozenset({"meminfo"})


def ok(op: Op, ret: int, **extras: Any) -> Result:
    """A successful result of *op* with return value *ret* and the op's extra fields."""
    expected = op.spec.results
    missing = set(expected) - set(extras)
    added = set(extras) - set(expected)
    if missing or (added and op.name not in EXTENSIBLE):
        raise ValueError(f"{op.name}: result fields {sorted(extras)} != {list(expected)}")
    result: Result = {"i": op.i, "op": op.name, "ret": ret, "errno": None}
    for name in expected:
        result[name] = extras[name]
    for name in extras:
        if name not in result:
            result[name] = extras[name]
    return result


def failed(op: Op, errno_name: str, **extras: Any) -> Result:
    """A failed result of *op*: ``ret`` -1 and the Linux errno name (or signal name for touch)."""
    result: Result = {
        "i": op.i,
        "op": op.name,
        "ret": -1,
        "errno": ERRNO_ALIASES.get(errno_name, errno_name),
    }
    result.update(extras)
    return result


def dumps(result: Result) -> str:
    """One result as one JSON line (no trailing newline)."""
    return json.dumps(result, separators=(", ", ": "))


def write_results(results: Iterable[Result], path: str | None) -> None:
    """Write *results* as JSON Lines to *path*, atomically, or to stdout when *path* is None.

    A file is written whole or not at all: results go to a temporary file beside it that is
    renamed over *path* only once everything is written.
    """
    text = "".join(dumps(r) + "\n" for r in results)
    if path is None:
        import sys

        sys.stdout.write(text)
        sys.stdout.flush()
        return
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".hugetmpfs-", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_results(path: str) -> list[Result]:
    """Read a stored result file; a malformed line is a :class:`TraceError` (file:line)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise TraceError(path, 0, f"cannot read results: {e.strerror}") from None
    results: list[Result] = []
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise TraceError(path, lineno, f"invalid result line: {e}") from None
        except RecursionError:  # the decoder's own limit, not ours to raise
            raise TraceError(path, lineno, "invalid result line: nested too deeply") from None
        if not isinstance(obj, dict):
            raise TraceError(path, lineno, "a result line must be a JSON object")
        for key, kind in (("i", int), ("op", str), ("ret", int)):
            if not isinstance(obj.get(key), kind) or isinstance(obj.get(key), bool):
                raise TraceError(path, lineno, f"result field {key!r} missing or mistyped")
        if "errno" not in obj or not (obj["errno"] is None or isinstance(obj["errno"], str)):
            raise TraceError(path, lineno, "result field 'errno' missing or mistyped")
        results.append(obj)
    return results
