"""``diff``: what is compared on which mount (DESIGN.md §3.6), and the report."""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

import pytest

from hugetmpfs.errors import InputError
from hugetmpfs.trace import parse_bytes
from hugetmpfs.trace.diff import compare, format_comparison, format_skipped
from hugetmpfs.trace.results import dumps, failed, ok

if TYPE_CHECKING:
    from hugetmpfs.trace import Op, Trace
    from hugetmpfs.trace.results import Result

HUGE = ("always", "within_size", "advise")
SHA_A, SHA_B = "a" * 64, "b" * 64
DROP: Any = object()  # as a field value: remove the field


def op(name: str, /, **fields: Any) -> str:
    obj = {"op": name}
    obj.update({k.rstrip("_"): v for k, v in fields.items()})
    return json.dumps(obj)


OPEN = op("open", path="f", as_="f", flags=["O_RDWR", "O_CREAT"])
MMAP = op("mmap", fd="f", as_="m", offset=0, length=8192, prot="rw", shared=True)
PWRITE = op("pwrite", fd="f", offset=0, len=8192, byte=97)
PREAD = op("pread", fd="f", offset=0, len=8192)
FSTAT = op("fstat", fd="f")


def lseek(whence: str, offset: int = 0, fd: str = "f") -> str:
    return op("lseek", fd=fd, offset=offset, whence=whence)


def touch(write: bool) -> str:
    extra = {"byte": 1} if write else {}
    return op("touch", map="m", offset=0, len=8192, stride=4096, write=write, **extra)


def setup(huge: str, *lines: str) -> tuple[Trace, list[Result]]:
    """A trace (mount, open f, mmap m, then *lines*) and a plausible result for each op.

    Ops 0-2 are mount, open and mmap; the first of *lines* is op 3, on line 4.
    """
    text = "\n".join([op("mount", huge=huge), OPEN, MMAP, *lines])
    trace = parse_bytes(text.encode(), "t.jsonl")
    return trace, [baseline(o) for o in trace.ops]


def baseline(o: Op) -> Result:
    sample = {"sha256": SHA_A, "violations": [], "size": 8192, "blocks": 16}
    return ok(o, 0, **{name: sample.get(name, 0) for name in o.spec.results})


def edit(results: list[Result], index: int, **fields: Any) -> list[Result]:
    """A copy of *results* with line *index* changed (a DROP value removes the field)."""
    out = copy.deepcopy(results)
    for name, value in fields.items():
        if value is DROP:
            del out[index][name]
        else:
            out[index][name] = value
    return out


def sigbus(results: list[Result], index: int, done: int = 1) -> list[Result]:
    out = copy.deepcopy(results)
    out[index] = {"i": index, "op": "touch", "ret": -1, "errno": "SIGBUS", "done": done}
    return out


def diverges_at(trace: Trace, left: list[Result], right: list[Result], index: int) -> Any:
    c = compare(trace, left, right)
    assert not c.agrees
    assert c.divergence is not None
    assert c.divergence.index == index
    assert c.checked == index
    return c.divergence


# -- agreement and plain divergences ----------------------------------------------------


@pytest.mark.parametrize("huge", ["never", *HUGE])
def test_identical_streams_agree(huge: str) -> None:
    trace, results = setup(huge, PWRITE, PREAD, FSTAT, touch(True), op("statfs"))
    c = compare(trace, results, copy.deepcopy(results))
    assert c.agrees
    assert c.divergence is None
    assert c.checked == c.compared_lines == len(trace.ops)
    assert c.skipped_lines == 0


def test_key_order_does_not_matter() -> None:
    trace, left = setup("never", PREAD, FSTAT)
    right = [dict(reversed(list(r.items()))) for r in left]
    assert compare(trace, left, right).agrees


@pytest.mark.parametrize(
    ("field", "value"),
    [("ret", 1), ("ret", -1), ("errno", "EBADF"), ("ret", False), ("ret", 0.0)],
)
def test_ret_or_errno_differs(field: str, value: Any) -> None:
    trace, left = setup("never", PWRITE, PREAD)
    d = diverges_at(trace, left, edit(left, 4, **{field: value}), 4)
    assert d.fields == (field,)
    assert (d.line, d.text, d.op.name) == (5, PREAD, "pread")
    assert d.left == left[4]
    assert d.right[field] == value
    assert d.reason == f"{field} differs"


def test_extra_field_on_one_side() -> None:
    trace, left = setup("never", PWRITE)
    d = diverges_at(trace, left, edit(left, 3, bogus=0), 3)
    assert d.fields == ("bogus",)
    assert "one side only" in d.reason


def test_missing_field_on_one_side() -> None:
    trace, left = setup("never", PREAD)
    d = diverges_at(trace, edit(left, 3, sha256=DROP), left, 3)
    assert d.fields == ("sha256",)
    assert "one side only" in d.reason


@pytest.mark.parametrize(("field", "value"), [("op", "pwrite"), ("i", 7)])
def test_identity_differs(field: str, value: Any) -> None:
    trace, left = setup("never", PREAD, op("meminfo"))
    d = diverges_at(trace, left, edit(left, 3, **{field: value}), 3)
    assert d.fields == (field,)
    # i and op are compared even on lines that are otherwise skipped
    d = diverges_at(trace, left, edit(left, 4, **{field: value}), 4)
    assert d.fields == (field,)


@pytest.mark.parametrize("short_side", ["left", "right"])
def test_length_mismatch_is_reported_at_the_first_missing_line(short_side: str) -> None:
    trace, full = setup("never", PWRITE, PREAD)
    short = full[:4]
    left, right = (short, full) if short_side == "left" else (full, short)
    d = diverges_at(trace, left, right, 4)
    assert d.fields == ()
    assert d.op is trace.ops[4]
    assert (d.left is None) == (short_side == "left")
    assert (d.right is None) == (short_side == "right")


def test_empty_stream_diverges_at_line_0() -> None:
    trace, full = setup("never")
    assert diverges_at(trace, full, [], 0).right is None


def test_one_stream_longer_than_the_trace() -> None:
    trace, left = setup("never", PREAD)
    extra = [*left, {"i": 4, "op": "pread", "ret": 0, "errno": None}]
    d = diverges_at(trace, extra, left, 4)
    assert d.op is None
    assert d.line is None
    assert d.right is None


def test_results_of_another_trace_are_bad_input() -> None:
    trace, left = setup("never", PREAD)
    other = edit(left, 3, op="pwrite")
    with pytest.raises(InputError, match=r"not of trace t\.jsonl: result 3 .* op 3 of the trace"):
        compare(trace, other, other)
    longer = [*left, {"i": 4, "op": "pread", "ret": 0, "errno": None}]
    with pytest.raises(InputError, match="more lines than trace"):
        compare(trace, longer, longer)


def test_only_the_first_divergence_is_reported() -> None:
    trace, left = setup("never", PWRITE, op("meminfo"), PREAD, op("meminfo"))
    right = edit(edit(left, 5, ret=1), 3, ret=2)
    c = compare(trace, left, right)
    assert c.divergence is not None
    assert c.divergence.index == 3
    assert c.skipped == []  # the meminfo lines come after it


# -- huge=never -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "field", "value"),
    [
        (FSTAT, "blocks", 4096),
        (op("statfs"), "blocks_used", 512),
        (op("smaps", map="m"), "Rss", 2048),
        (lseek("SEEK_DATA"), "ret", 8192),
        (lseek("SEEK_HOLE"), "ret", 8192),
    ],
)
def test_never_compares_every_field(line: str, field: str, value: int) -> None:
    trace, left = setup("never", PWRITE, line)
    assert diverges_at(trace, left, edit(left, 4, **{field: value}), 4).fields == (field,)


def test_never_compares_sigbus_touches_and_sha_after_them() -> None:
    trace, left = setup("never", touch(True), PREAD)
    assert diverges_at(trace, sigbus(left, 3, done=0), sigbus(left, 3, done=1), 3).fields == (
        "done",
    )
    left = sigbus(left, 3)
    assert diverges_at(trace, left, edit(left, 4, sha256=SHA_B), 4).fields == ("sha256",)


def test_never_skips_meminfo_lines() -> None:
    trace, left = setup("never", op("meminfo"), PREAD)
    right = edit(left, 3, Shmem=1234, ShmemFreeHoles=DROP, extra=1)
    c = compare(trace, left, right)
    assert c.agrees
    assert (c.compared_lines, c.skipped_lines) == (4, 1)
    (s,) = c.skipped
    assert (s.index, s.whole_line, s.left, s.right) == (3, True, left[3], right[3])
    assert "Shmem" in s.fields
    assert "extra" in s.fields
    assert "machine-wide" in s.reason


# -- huge mounts ------------------------------------------------------------------------


@pytest.mark.parametrize("huge", HUGE)
@pytest.mark.parametrize(
    ("line", "field"), [(FSTAT, "blocks"), (op("statfs"), "blocks_used"), (PWRITE, "extra")]
)
def test_huge_ignores_other_fields(huge: str, line: str, field: str) -> None:
    trace, left = setup(huge, line)
    right = edit(left, 3, **{field: 12345})
    c = compare(trace, left, right)
    assert c.agrees
    (s,) = c.skipped
    assert (s.index, s.fields, s.whole_line) == (3, (field,), False)
    assert "only ret, errno, sha256, size, done are compared" in s.reason
    assert (c.compared_lines, c.partly_skipped_lines, c.skipped_lines) == (4, 1, 0)


@pytest.mark.parametrize("huge", HUGE)
@pytest.mark.parametrize(
    ("line", "results"),
    [
        (PWRITE, {"ret": 4096}),
        (PWRITE, {"errno": "ENOSPC", "ret": -1}),
        (PREAD, {"sha256": SHA_B}),
        (PREAD, {"sha256": DROP}),
        (FSTAT, {"size": 2 << 20}),
        (touch(False), {"ret": -1, "errno": "SIGSEGV", "done": 1}),
    ],
)
def test_huge_compares_ret_errno_sha256_size_done(
    huge: str, line: str, results: dict[str, Any]
) -> None:
    trace, left = setup(huge, line)
    d = diverges_at(trace, left, edit(left, 3, **results), 3)
    assert set(d.fields) == set(results)


def test_huge_compares_done_of_a_failed_touch() -> None:
    trace, left = setup("always", touch(True))
    left = edit(left, 3, ret=-1, errno="SIGSEGV", done=1)
    assert diverges_at(trace, left, edit(left, 3, done=2), 3).fields == ("done",)


@pytest.mark.parametrize("huge", HUGE)
@pytest.mark.parametrize("line", [op("meminfo"), op("smaps", map="m")])
def test_huge_skips_meminfo_and_smaps(huge: str, line: str) -> None:
    trace, left = setup(huge, line)
    name = json.loads(line)["op"]
    right = edit(left, 3, ret=-1, errno="EIO")  # even ret and errno are not compared
    c = compare(trace, left, right)
    assert c.agrees
    (s,) = c.skipped
    assert s.whole_line
    assert s.reason.startswith(name)
    assert s.fields[:2] == ("ret", "errno")


@pytest.mark.parametrize("whence", ["SEEK_DATA", "SEEK_HOLE"])
def test_huge_skips_seek_data_hole_and_the_seek_cur_after_them(whence: str) -> None:
    trace, left = setup("always", lseek(whence), lseek("SEEK_CUR", 1), lseek("SEEK_CUR", 1))
    right = edit(edit(edit(left, 3, ret=2 << 20), 4, ret=(2 << 20) + 1), 5, ret=(2 << 20) + 2)
    c = compare(trace, left, right)
    assert c.agrees
    assert [(s.index, s.whole_line) for s in c.skipped] == [(3, True), (4, True), (5, True)]
    assert whence in c.skipped[0].reason
    assert "SEEK_CUR" in c.skipped[1].reason


def test_seek_cur_before_any_seek_data_is_compared() -> None:
    trace, left = setup("always", lseek("SEEK_CUR", 1), lseek("SEEK_DATA"))
    assert diverges_at(trace, left, edit(left, 3, ret=5), 3).fields == ("ret",)


def test_seek_cur_on_another_handle_is_compared() -> None:
    open_g = op("open", path="g", as_="g", flags=["O_RDWR", "O_CREAT"])
    trace, left = setup("always", open_g, lseek("SEEK_HOLE"), lseek("SEEK_CUR", 1, fd="g"))
    assert diverges_at(trace, left, edit(left, 5, ret=5), 5).fields == ("ret",)


@pytest.mark.parametrize(
    "anchor",
    [
        lseek("SEEK_SET", 4096),
        lseek("SEEK_END"),
        op("close", fd="f"),
        op("open", path="f", as_="f", flags=["O_RDWR"]),
    ],
)
def test_seek_set_end_close_or_reopen_reanchor_the_handle(anchor: str) -> None:
    trace, left = setup("always", lseek("SEEK_DATA"), anchor, lseek("SEEK_CUR", 1))
    assert diverges_at(trace, left, edit(left, 5, ret=5), 5).fields == ("ret",)


def test_a_seek_set_that_failed_on_both_sides_does_not_reanchor() -> None:
    trace, left = setup("always", lseek("SEEK_HOLE"), lseek("SEEK_SET", -1), lseek("SEEK_CUR"))
    left = edit(left, 4, ret=-1, errno="EINVAL")
    c = compare(trace, left, edit(left, 5, ret=5))
    assert c.agrees
    assert [s.index for s in c.skipped] == [3, 5]


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("write", [True, False])
def test_huge_skips_touch_with_sigbus_on_either_side(side: str, write: bool) -> None:
    trace, base = setup("within_size", touch(write))
    left, right = (sigbus(base, 3), base) if side == "left" else (base, sigbus(base, 3, done=2))
    c = compare(trace, left, right)
    assert c.agrees
    (s,) = c.skipped
    assert (s.index, s.whole_line) == (3, True)
    assert "SIGBUS" in s.reason


def test_sha256_is_compared_before_a_sigbus_write_touch_and_dropped_after() -> None:
    trace, left = setup("always", PREAD, touch(True), PREAD, FSTAT, PREAD)
    right = edit(left, 3, sha256=SHA_B)
    assert diverges_at(trace, left, right, 3).fields == ("sha256",)

    left = sigbus(left, 4)
    right = edit(edit(left, 5, sha256=SHA_B), 7, sha256=DROP)
    c = compare(trace, left, right)
    assert c.agrees
    assert [(s.index, s.fields, s.whole_line) for s in c.skipped] == [
        (4, ("ret", "errno", "done"), True),
        (5, ("sha256",), False),
        (6, ("blocks",), False),  # fstat: skipped on any huge mount
        (7, ("sha256",), False),
    ]
    assert "write touch on line 5 stopped with SIGBUS" in c.skipped[1].reason
    # ret, size and the rest are still compared after it
    assert diverges_at(trace, left, edit(right, 6, size=1), 6).fields == ("size",)
    assert diverges_at(trace, left, edit(right, 7, ret=1), 7).fields == ("ret",)


def test_a_sigbus_read_touch_does_not_drop_sha256() -> None:
    trace, left = setup("always", touch(False), PREAD)
    left = sigbus(left, 3)
    assert diverges_at(trace, left, edit(left, 4, sha256=SHA_B), 4).fields == ("sha256",)


# -- model-only ops ---------------------------------------------------------------------


@pytest.mark.parametrize("huge", ["never", *HUGE])
def test_model_only_ops_are_skipped(huge: str) -> None:
    lines = [op("check"), op("stats"), op("sysctl", name="vm.shmem_huge", value=1), op("run", ms=1)]
    trace, left = setup(huge, *lines)
    right = copy.deepcopy(left)
    for k in range(3, 7):  # what the kernel runner answers
        right[k] = failed(trace.ops[k], "ENOSYS")
    right = edit(right, 3, violations=[])
    left = edit(left, 3, ret=-1, errno="EUCLEAN", violations=["team_usage"])
    c = compare(trace, left, right)
    assert c.agrees
    assert [s.index for s in c.skipped] == [3, 4, 5, 6]
    assert all(s.whole_line and "model-only" in s.reason for s in c.skipped)


def test_machine_line_is_skipped() -> None:
    text = "\n".join([op("machine", cpus=4), op("mount", huge="never")])
    trace = parse_bytes(text.encode(), "t.jsonl")
    left = [baseline(o) for o in trace.ops]
    c = compare(trace, left, edit(left, 0, extra=1))
    assert c.agrees
    assert [s.index for s in c.skipped] == [0]


# -- reports ----------------------------------------------------------------------------


def test_agreement_is_one_summary_line() -> None:
    trace, left = setup("always", FSTAT, op("meminfo"), PREAD)
    c = compare(trace, left, edit(left, 3, blocks=4096))
    text = format_comparison(trace, c, ("a.jsonl", "b.jsonl"))
    assert text == (
        "t.jsonl: a.jsonl and b.jsonl agree (huge=always): 5 lines compared "
        "(1 with fields skipped), 1 lines skipped"
    )


def test_divergence_report_shows_the_op_both_results_and_context() -> None:
    trace, left = setup("never", PWRITE, op("meminfo"), PREAD)
    left = edit(left, 5, sha256="a")
    right = edit(left, 5, ret=4096, sha256="b")
    c = compare(trace, left, right)
    text = format_comparison(trace, c, ("kernel", "model"), context=2)
    lines = text.splitlines()
    assert lines[0] == "t.jsonl:6: op 5 (pread) diverges: ret, sha256 differ [huge=never]"
    assert lines[1] == f"  trace   {PREAD}"
    assert lines[2] == f"  kernel  {dumps(left[5])}"
    assert lines[3] == f"  model   {dumps(right[5])}"
    assert lines[5:8] == [
        "  field   kernel  model",
        "  ret     0       4096",
        '  sha256  "a"     "b"',
    ]
    assert "context: the 2 ops before it" in lines
    assert "  t.jsonl:4: op 3 (pwrite)" in lines
    assert any(x.startswith("  t.jsonl:5: op 4 (meminfo)  [skipped: meminfo") for x in lines)
    assert f"    trace   {PWRITE}" in lines
    assert lines[-1] == "agreed before it: 4 lines compared, 1 skipped"


def test_length_divergence_report() -> None:
    trace, left = setup("never", PREAD)
    c = compare(trace, left, left[:3])
    text = format_comparison(trace, c, ("a", "b"), context=0)
    assert text.splitlines()[:4] == [
        "t.jsonl:4: op 3 (pread) diverges: one stream ends here [huge=never]",
        f"  trace  {PREAD}",
        f"  a      {dumps(left[3])}",
        "  b      (none: ends after 3 results)",
    ]


def test_format_skipped_shows_both_values_side_by_side() -> None:
    trace, left = setup("advise", FSTAT)
    c = compare(trace, left, edit(left, 3, blocks=4096))
    assert format_skipped(trace, c, ("a", "b")).splitlines() == [
        "t.jsonl:4: op 3 (fstat) fields skipped: huge=advise: only ret, errno, sha256, size, done "
        "are compared",
        "  field   a   b",
        "  blocks  16  4096   (differs)",
    ]
