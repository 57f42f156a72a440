"""Result lines of trace format v1 (DESIGN.md §3.3): build, write and read them.

A result is a dict whose keys come in the contract's order: ``i``, ``op``, ``ret``, ``errno``,
then the op's extra fields.  Both runners build results only through :func:`ok` and
:func:`failed`, so the two streams can be compared field by field.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hugetmpfs.errors import TraceError
from hugetmpfs.trace.files import BOM, BOM_REASON, read_input
from hugetmpfs.trace.ops import ERRNO_ALIASES, FAILURE_EXTRAS, OPS

if TYPE_CHECKING:
    from collections.abc import Iterable

    from hugetmpfs.trace.files import Output
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


def write_results(results: Iterable[Result], out: Output | None) -> None:
    """Write *results* as JSON Lines to *out*, atomically, or to stdout when *out* is None.

    A file is written whole or not at all (:meth:`Output.write`).
    """
    text = "".join(dumps(r) + "\n" for r in results)
    if out is None:
        import sys

        sys.stdout.write(text)
        sys.stdout.flush()
        return
    out.write(text)


def read_results(path: str) -> list[Result]:
    """Read a stored result file; a malformed line is a :class:`TraceError` (file:line).

    Besides ``i``, ``op``, ``ret`` and ``errno``, the extra fields an op's result is known to
    carry are type-checked when present; ``i`` must count the results from 0.
    """
    data = read_input(path, "results")
    results: list[Result] = []
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if raw.startswith(BOM):
            raise TraceError(path, lineno, BOM_REASON)
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
        if obj["i"] != len(results):
            raise TraceError(
                path,
                lineno,
                f"result field 'i' is {obj['i']}, but this is result {len(results)} "
                "(results are numbered from 0, one per op)",
            )
        reason = _mistyped_extra(obj)
        if reason is not None:
            raise TraceError(path, lineno, reason)
        results.append(obj)
    return results


def _mistyped_extra(obj: Result) -> str | None:
    """Why one of the extra fields *obj*'s op is known to carry has the wrong type, if so."""
    spec = OPS.get(obj["op"])
    if spec is None:
        return None
    for name in (*spec.results, *FAILURE_EXTRAS.get(spec.name, ())):
        if name not in obj:
            continue
        value = obj[name]
        if name == "sha256":
            ok_type, wanted = isinstance(value, str), "a string"
        elif name == "violations":
            ok_type = isinstance(value, list) and all(isinstance(v, str) for v in value)
            wanted = "a list of strings"
        else:
            ok_type = isinstance(value, int) and not isinstance(value, bool)
            wanted = "an integer"
        if not ok_type:
            shown = json.dumps(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            return f"result field {name!r} must be {wanted}, not {shown}"
    return None
