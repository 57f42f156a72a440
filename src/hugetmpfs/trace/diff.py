"""Compare two result streams of one trace, op by op (DESIGN.md §3.6).

``compare`` walks both streams line by line and stops at the first divergence.  What it
compares depends on the mount:

- ``huge=never``: every field of every line, as JSON values, except ``meminfo`` lines (the
  kernel's counters are machine-wide).
- a huge mount (``always``, ``within_size``, ``advise``): only the fields no design can change
  (``HUGE_COMPARED``); ``meminfo`` and ``smaps`` lines, SEEK_DATA/SEEK_HOLE ``lseek`` lines (and
  the SEEK_CUR lines that inherit their offset) and SIGBUS ``touch`` lines are skipped, and after
  a write ``touch`` that stopped with SIGBUS, ``sha256`` is no longer compared.
- model-only ops are skipped on every mount.

``i`` and ``op`` are compared on every line, skipped or not.  Whatever is not compared is
recorded in ``Comparison.skipped`` with both values, to be shown side by side.

**Reading of "SEEK_CUR after them".**  On a huge mount a SEEK_DATA/SEEK_HOLE may leave the two
designs at different file offsets (hole granularity follows the page size), so the offset of
that fd handle *drifts*: every later SEEK_CUR on the same handle adds to it and is skipped too.
The handle is re-anchored by an ``lseek`` SEEK_SET or SEEK_END that succeeds on both sides
(both then set the same absolute offset; if either fails, the offset may be unchanged), or by
an ``open`` that redefines it or a ``close`` of it (afterwards the handle is a fresh file or
fd -1).  A drift starts whatever the SEEK_DATA/SEEK_HOLE answered, even when both sides agreed.
``pread``/``pwrite`` are positional and never move the offset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hugetmpfs.errors import InputError
from hugetmpfs.trace.results import dumps

if TYPE_CHECKING:
    from hugetmpfs.trace.parse import Op, Trace
    from hugetmpfs.trace.results import Result

#: On a huge mount, the only fields compared: what no page-cache design can change.
HUGE_COMPARED = ("ret", "errno", "sha256", "size", "done")
#: Compared on every line, skipped or not: they say which op a result belongs to.
IDENTITY = ("i", "op")

_ABSENT: Any = object()  # a field one side does not have


@dataclass(frozen=True)
class Divergence:
    """The first line where the two streams disagree."""

    index: int  # 0-based result line, which is the op index "i"
    op: Op | None  # the trace's op on that line; None past the trace's last op
    fields: tuple[str, ...]  # the fields that differ; () when one stream has ended
    left: Result | None  # None: the left stream ended before this line
    right: Result | None  # None: the right stream ended before this line
    reason: str  # one line, naming no side (the report adds the labels)

    @property
    def line(self) -> int | None:
        """The op's line in the trace file."""
        return None if self.op is None else self.op.line

    @property
    def text(self) -> str:
        """The op's line as written in the trace."""
        return "" if self.op is None else self.op.text


@dataclass(frozen=True)
class Skipped:
    """A line, or some fields of a line, that were not compared; shown, never failed."""

    index: int
    op: Op
    fields: tuple[str, ...]  # not compared: every field but i/op when whole_line
    whole_line: bool
    reason: str
    left: Result
    right: Result


@dataclass(frozen=True)
class Comparison:
    """The outcome of :func:`compare`: the first divergence, if any, and what was skipped.

    Lines after a divergence are not looked at, so ``skipped`` and the counts stop there.
    """

    huge: str
    divergence: Divergence | None
    skipped: list[Skipped]
    checked: int  # lines that agreed (compared or skipped), before the divergence if any
    left: list[Result] = field(repr=False)
    right: list[Result] = field(repr=False)

    @property
    def agrees(self) -> bool:
        return self.divergence is None

    @property
    def skipped_lines(self) -> int:
        return sum(s.whole_line for s in self.skipped)

    @property
    def compared_lines(self) -> int:
        """Lines compared in full or in part."""
        return self.checked - self.skipped_lines

    @property
    def partly_skipped_lines(self) -> int:
        return sum(not s.whole_line for s in self.skipped)


def compare(trace: Trace, left: list[Result], right: list[Result]) -> Comparison:
    """Compare two result streams of *trace* per DESIGN.md §3.6; stop at the first divergence.

    Raises :class:`InputError` when both streams agree on a line's ``i`` and ``op`` but the
    trace has a different op there (or none): they are results of another trace.
    """
    rules = _Rules(trace.huge)
    skipped: list[Skipped] = []
    divergence: Divergence | None = None
    checked = 0
    for k in range(max(len(left), len(right))):
        divergence = _identity(trace, k, left, right)
        if divergence is None:
            divergence = _compare_line(rules, trace.ops[k], left[k], right[k], skipped)
        if divergence is not None:
            break
        checked += 1
    return Comparison(trace.huge, divergence, skipped, checked, left, right)


def _identity(trace: Trace, k: int, left: list[Result], right: list[Result]) -> Divergence | None:
    """Both streams have line *k*, and it is a result of the trace's op *k*."""
    op = trace.ops[k] if k < len(trace.ops) else None
    if k >= len(left) or k >= len(right):
        a = left[k] if k < len(left) else None
        b = right[k] if k < len(right) else None
        return Divergence(k, op, (), a, b, "one stream ends here")
    a, b = left[k], right[k]
    differ = tuple(f for f in IDENTITY if not _same(a.get(f, _ABSENT), b.get(f, _ABSENT)))
    if differ:
        return Divergence(k, op, differ, a, b, "the two results are of different ops")
    if op is None:
        raise InputError(
            f"the results have more lines than trace {trace.path} has ops ({len(trace.ops)}): "
            "they are results of another trace"
        )
    if a.get("i") != k or a.get("op") != op.name:
        raise InputError(
            f"the results are not of trace {trace.path}: result {k} is i={_show(a.get('i'))} "
            f"op={_show(a.get('op'))}, but op {k} of the trace is {op.name!r} (line {op.line})"
        )
    return None


def _compare_line(
    rules: _Rules, op: Op, a: Result, b: Result, skipped: list[Skipped]
) -> Divergence | None:
    reason = rules.line_skipped(op, a, b)
    if reason is not None:
        skipped.append(Skipped(op.i, op, _fields(a, b), True, reason, a, b))
        rules.advance(op, a, b)
        return None
    compared, ignored = rules.split_fields(_fields(a, b))
    differ = tuple(f for f in compared if not _same(a.get(f, _ABSENT), b.get(f, _ABSENT)))
    if differ:
        return Divergence(op.i, op, differ, a, b, _differ_reason(differ, a, b))
    if ignored:
        skipped.append(Skipped(op.i, op, ignored, False, rules.fields_reason(ignored), a, b))
    rules.advance(op, a, b)
    return None


class _Rules:
    """What is compared on each line, and what earlier lines change about it."""

    def __init__(self, huge: str) -> None:
        self.huge_mode = huge
        self.huge = huge != "never"
        self.drifted: set[str] = set()  # fd handles whose offset a SEEK_DATA/HOLE set
        self.sha_dropped: Op | None = None  # the write touch that stopped with SIGBUS

    def line_skipped(self, op: Op, a: Result, b: Result) -> str | None:
        """Why the whole line is skipped, or None when it is compared."""
        if op.model_only:
            return "model-only op: the kernel runner does not run it"
        if op.name == "meminfo":
            return "meminfo: the kernel's counters are machine-wide"
        if not self.huge:
            return None
        where = f"huge={self.huge_mode}"
        if op.name == "smaps":
            return f"smaps on {where}: teams and compound folios map differently"
        if op.name == "lseek":
            whence = op.args["whence"]
            if whence in ("SEEK_DATA", "SEEK_HOLE"):
                return f"{whence} on {where}: holes follow each design's page size"
            if whence == "SEEK_CUR" and op.args["fd"] in self.drifted:
                return f"SEEK_CUR on {where} from an offset a SEEK_DATA/SEEK_HOLE set"
        if op.name == "touch" and _sigbus(a, b):
            return f"SIGBUS touch on {where}: both designs may map whole huge pages past EOF"
        return None

    def split_fields(self, fields: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The fields compared on a line that is not skipped, and the ones ignored."""
        if not self.huge:
            return fields, ()
        compared = tuple(
            f for f in fields if f in HUGE_COMPARED and not (f == "sha256" and self.sha_dropped)
        )
        return compared, tuple(f for f in fields if f not in compared)

    def fields_reason(self, ignored: tuple[str, ...]) -> str:
        reasons = []
        if any(f != "sha256" or not self.sha_dropped for f in ignored):
            reasons.append(f"huge={self.huge_mode}: only {', '.join(HUGE_COMPARED)} are compared")
        if "sha256" in ignored and self.sha_dropped is not None:
            reasons.append(
                f"sha256 is not compared after the write touch on line {self.sha_dropped.line}"
                " stopped with SIGBUS"
            )
        return "; ".join(reasons)

    def advance(self, op: Op, a: Result, b: Result) -> None:
        """Carry what line *op* changes over to the lines after it."""
        if not self.huge:
            return
        if op.name == "lseek":
            whence = op.args["whence"]
            if whence in ("SEEK_DATA", "SEEK_HOLE"):
                self.drifted.add(op.args["fd"])
            elif whence in ("SEEK_SET", "SEEK_END") and a.get("ret") != -1 and b.get("ret") != -1:
                self.drifted.discard(op.args["fd"])
        elif op.name in ("open", "close"):
            self.drifted.discard(op.args["as" if op.name == "open" else "fd"])
        elif op.name == "touch" and op.args["write"] and _sigbus(a, b):
            # One design may have written past EOF where the other faulted: any later read
            # that reaches those bytes (after the file grows) can legitimately differ.
            self.sha_dropped = self.sha_dropped or op


def _sigbus(a: Result, b: Result) -> bool:
    return a.get("errno") == "SIGBUS" or b.get("errno") == "SIGBUS"


def _fields(a: Result, b: Result) -> tuple[str, ...]:
    """Every field but i/op of either result: left's order first, then right's extras."""
    names = [f for f in a if f not in IDENTITY]
    names += [f for f in b if f not in IDENTITY and f not in a]
    return tuple(names)


def _same(x: Any, y: Any) -> bool:
    """Equal as JSON values: key order does not matter, but true is not 1, nor 1.0 1."""
    if type(x) is not type(y):
        return False
    if x is None or isinstance(x, (str, int)):
        return bool(x == y)
    return _canonical(x) == _canonical(y)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _show(value: Any) -> str:
    return "(absent)" if value is _ABSENT else json.dumps(value)


def _differ_reason(differ: tuple[str, ...], a: Result, b: Result) -> str:
    one_sided = [f for f in differ if (f in a) != (f in b)]
    if one_sided:
        return f"{', '.join(one_sided)} present on one side only"
    return f"{', '.join(differ)} {'differs' if len(differ) == 1 else 'differ'}"


# -- reports for humans ------------------------------------------------------------------


def format_comparison(
    trace: Trace,
    comparison: Comparison,
    labels: tuple[str, str] = ("left", "right"),
    context: int = 3,
) -> str:
    """The report: one summary line on agreement; on a divergence, the op, both results, the
    fields that differ side by side, and the *context* ops before it with both results.

    *labels* name the two streams (file names, or ``kernel`` and ``model``).
    """
    c = comparison
    if c.divergence is None:
        return (
            f"{trace.path}: {labels[0]} and {labels[1]} agree (huge={c.huge}): "
            f"{c.compared_lines} lines compared ({c.partly_skipped_lines} with fields skipped), "
            f"{c.skipped_lines} lines skipped"
        )
    return "\n".join(_Report(trace, c, labels).divergence(c.divergence, context))


def format_skipped(trace: Trace, comparison: Comparison, labels: tuple[str, str]) -> str:
    """Every skipped line or field, both values side by side (a row that differs is marked)."""
    out: list[str] = []
    for s in comparison.skipped:
        what = "skipped" if s.whole_line else "fields skipped"
        out.append(f"{trace.path}:{s.op.line}: op {s.index} ({s.op.name}) {what}: {s.reason}")
        rows = []
        for f in s.fields:
            x, y = _get(s.left, f), _get(s.right, f)
            rows.append((f, _show(x), _show(y) + ("" if _same(x, y) else "   (differs)")))
        out += _table(rows, labels) if rows else []
    return "\n".join(out)


class _Report:
    """The lines of a divergence report; both streams are named by *labels*."""

    def __init__(self, trace: Trace, comparison: Comparison, labels: tuple[str, str]) -> None:
        self.trace, self.c, self.labels = trace, comparison, labels
        self.width = max(len("trace"), *map(len, labels))

    def divergence(self, d: Divergence, context: int) -> list[str]:
        path = self.trace.path
        if d.op is None:
            head = f"{path}: result {d.index}, past the trace's last op: {d.reason}"
        else:
            head = f"{path}:{d.op.line}: op {d.index} ({d.op.name}) diverges: {d.reason}"
            head += f" [huge={self.c.huge}]"
        out = [head, *self.op_and_results(d.op, d.left, d.right, "  ")]
        if d.fields:
            rows = [(f, _show(_get(d.left, f)), _show(_get(d.right, f))) for f in d.fields]
            out += ["", *_table(rows, self.labels)]
        first = max(0, d.index - context)
        if first < d.index:
            n = d.index - first
            out += ["", f"context: the {n} op{'s' if n > 1 else ''} before it"]
            notes = {s.index: s for s in self.c.skipped}
            for k in range(first, d.index):
                out += self.context(self.trace.ops[k], notes.get(k))
        out.append(
            f"agreed before it: {self.c.compared_lines} lines compared, "
            f"{self.c.skipped_lines} skipped"
        )
        return out

    def context(self, op: Op, note: Skipped | None) -> list[str]:
        head = f"  {self.trace.path}:{op.line}: op {op.i} ({op.name})"
        if note is not None:
            head += f"  [{'skipped' if note.whole_line else 'fields skipped'}: {note.reason}]"
        a, b = self.c.left[op.i], self.c.right[op.i]
        return [head, *self.op_and_results(op, a, b, "    ")]

    def op_and_results(
        self, op: Op | None, a: Result | None, b: Result | None, indent: str
    ) -> list[str]:
        rows = [] if op is None else [("trace", op.text)]
        for label, result, stream in (
            (self.labels[0], a, self.c.left),
            (self.labels[1], b, self.c.right),
        ):
            ended = f"(none: ends after {len(stream)} results)"
            rows.append((label, ended if result is None else dumps(result)))
        return [f"{indent}{name:<{self.width}}  {text}" for name, text in rows]


def _table(rows: list[tuple[str, str, str]], labels: tuple[str, str]) -> list[str]:
    """Three left-aligned columns: field, left value, right value."""
    all_rows = [("field", *labels), *rows]
    w0 = max(len(r[0]) for r in all_rows)
    w1 = max(len(r[1]) for r in all_rows)
    return [f"  {r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}".rstrip() for r in all_rows]


def _get(result: Result | None, name: str) -> Any:
    return _ABSENT if result is None else result.get(name, _ABSENT)
