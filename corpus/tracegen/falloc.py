"""Families on fallocate and lseek: allocation, punching, unsupported modes, SEEK_DATA/HOLE.

fallocated but unwritten pages are holes for SEEK_DATA while still charged in blocks; the
traces look at both after every step, and at the interplay with writes and truncation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracegen.builder import HPAGE, INT64_MAX, PAGE, MiB, Trace

if TYPE_CHECKING:
    from collections.abc import Iterator

KEEP = ("KEEP_SIZE",)
ALLOC: tuple[str, ...] = ()
PUNCH = ("PUNCH_HOLE", "KEEP_SIZE")


def _seek_all(t: Trace, fd: str, *offsets: int) -> Trace:
    for off in offsets:
        t.lseek(fd, off, "DATA").lseek(fd, off, "HOLE")
    return t


def _after(t: Trace, size: int) -> Trace:
    """The observations made after each fallocate step."""
    t.state("f").readback("f", size + PAGE)
    return _seek_all(t, "f", 0, PAGE)


#: (name, comment, steps) where a step is (mode, offset, len) or ("write", offset, len).
FALLOCATES = (
    ("keep-size-empty", "KEEP_SIZE 16K on an empty file", [(KEEP, 0, 4 * PAGE)]),
    ("plain-extends", "plain allocate 10000 bytes extends the size", [(ALLOC, 0, 10000)]),
    (
        "plain-inside",
        "plain allocate inside existing data changes nothing visible",
        [("write", 0, 3 * PAGE), (ALLOC, PAGE, PAGE)],
    ),
    (
        "keep-beyond-eof-then-grow",
        "KEEP_SIZE beyond EOF, then ftruncate grows over it",
        [("write", 0, 100), (KEEP, 2 * PAGE, 4 * PAGE), ("truncate", 5 * PAGE, 0)],
    ),
    (
        "punch-one-page",
        "punch page 2 of 5 pages of data",
        [("write", 0, 5 * PAGE), (PUNCH, 2 * PAGE, PAGE)],
    ),
    (
        "punch-partial-page",
        "punch 100 bytes inside one page: zeroed, nothing freed",
        [("write", 0, 2 * PAGE), (PUNCH, 1000, 100)],
    ),
    (
        "punch-straddling",
        "punch 1000..9000 over 3 pages: partial pages zeroed, whole page freed",
        [("write", 0, 3 * PAGE), (PUNCH, 1000, 8000)],
    ),
    (
        "punch-beyond-eof",
        "punch entirely beyond EOF is a no-op",
        [("write", 0, PAGE), (PUNCH, 4 * PAGE, 4 * PAGE)],
    ),
    (
        "punch-whole-file",
        "punch the whole file: blocks 0, size kept",
        [("write", 0, 7 * PAGE + 5), (PUNCH, 0, 8 * PAGE)],
    ),
    (
        "keep-mid-2m",
        "KEEP_SIZE across the 2 MiB boundary, then a write inside it",
        [(KEEP, HPAGE - PAGE, 2 * PAGE), ("write", HPAGE, 10)],
    ),
    (
        "alloc-then-partial-write",
        "allocate 64K, write one page in the middle: only it is data",
        [(ALLOC, 0, 16 * PAGE), ("write", 5 * PAGE + 7, 100)],
    ),
    (
        "alloc-then-shrink",
        "allocate 64K, ftruncate to 5000: the allocation beyond is freed",
        [(ALLOC, 0, 16 * PAGE), ("truncate", 5000, 0)],
    ),
    (
        "alloc-punch-write",
        "allocate, punch the middle, write into the punched range",
        [(ALLOC, 0, 8 * PAGE), (PUNCH, 2 * PAGE, 3 * PAGE), ("write", 3 * PAGE, 10)],
    ),
    (
        "alloc-over-data",
        "allocate over existing data leaves the content alone",
        [("write", 0, 3 * PAGE), (ALLOC, 0, 6 * PAGE), (KEEP, 0, 8 * PAGE)],
    ),
    (
        "punch-then-truncate-grow",
        "punch a hole, shrink into it, grow again",
        [
            ("write", 0, 6 * PAGE),
            (PUNCH, PAGE, 4 * PAGE),
            ("truncate", 3 * PAGE, 0),
            ("truncate", 9 * PAGE, 0),
        ],
    ),
    (
        "alloc-2m-aligned",
        "allocate exactly [2M, 4M) then write one byte at 3M",
        [(ALLOC, HPAGE, HPAGE), ("write", 3 * MiB, 1)],
    ),
    (
        "keep-unaligned",
        "KEEP_SIZE of 1 byte at 4095 and 2 bytes at 8191: whole pages charged",
        [(KEEP, 4095, 1), (KEEP, 8191, 2)],
    ),
    (
        "punch-2m-aligned",
        "punch exactly [2M, 4M) of 5M of data",
        [("write", 0, 5 * MiB), (PUNCH, HPAGE, HPAGE)],
    ),
)


def fallocates(huge: str) -> Iterator[Trace]:
    """fallocate steps with writes and truncation between them; state after every step."""
    for name, comment, steps in FALLOCATES:
        t = Trace(f"fallocate-{name}", f"fallocate: {comment}", huge).create()
        size = 0
        for mode, off, n in steps:
            if mode == "write":
                t.pwrite("f", off, n, 0x5C)
                size = max(size, off + n)
            elif mode == "truncate":
                t.ftruncate("f", off)
                size = off
            else:
                t.fallocate("f", mode, off, n)
                size = size if "KEEP_SIZE" in mode else max(size, off + n)
            _after(t, size)
        yield t


#: Modes tmpfs refuses, each with a valid range: every one is EOPNOTSUPP.
UNSUPPORTED = (
    ("punch-without-keep", ("PUNCH_HOLE",)),
    ("zero-range", ("ZERO_RANGE",)),
    ("zero-range-keep", ("ZERO_RANGE", "KEEP_SIZE")),
    ("collapse-range", ("COLLAPSE_RANGE",)),
    ("collapse-range-keep", ("COLLAPSE_RANGE", "KEEP_SIZE")),
    ("insert-range", ("INSERT_RANGE",)),
    ("punch-zero-keep", ("PUNCH_HOLE", "ZERO_RANGE", "KEEP_SIZE")),
)

#: (name, mode, offset, len) with bad ranges: EINVAL for offset < 0 or len <= 0, EFBIG past 2^63.
BAD_RANGES = (
    ("negative-offset", KEEP, -PAGE, PAGE),
    ("negative-len", ALLOC, 0, -PAGE),
    ("len-zero", ALLOC, 0, 0),
    ("punch-len-zero", PUNCH, 0, 0),
    ("zero-range-len-zero", ("ZERO_RANGE",), 0, 0),
    ("past-maxbytes", KEEP, INT64_MAX - 10, 100),
    ("punch-past-maxbytes", PUNCH, INT64_MAX - PAGE, 2 * PAGE),
    ("unsupported-negative-offset", ("INSERT_RANGE",), -1, PAGE),
)


def fallocate_errors(huge: str) -> Iterator[Trace]:
    """Unsupported modes and bad ranges: the error, and nothing changed."""
    for name, mode in UNSUPPORTED:
        t = Trace(f"fallocate-{name}", f"fallocate {'|'.join(mode)}: EOPNOTSUPP", huge)
        t.create().pwrite("f", 0, 3 * PAGE, 0x42).fallocate("f", mode, PAGE, PAGE)
        yield t.fallocate("f", mode, 0, 16 * PAGE).state("f").readback("f", 4 * PAGE)
    for name, mode, off, n in BAD_RANGES:
        t = Trace(f"fallocate-{name}", f"fallocate {list(mode)} at {off} len {n}", huge)
        t.create().pwrite("f", 0, PAGE, 0x43).fallocate("f", mode, off, n)
        yield t.state("f").readback("f", 2 * PAGE)


def seek_whence(huge: str) -> Iterator[Trace]:
    """SEEK_SET/CUR/END arithmetic and limits; SEEK_DATA/HOLE at and beyond EOF."""
    t = Trace("seek-at-and-beyond-eof", "SEEK_DATA/HOLE at EOF and beyond: ENXIO", huge)
    t.create().pwrite("f", 0, 5000, 1)
    yield _seek_all(t, "f", 4999, 5000, 8192, 1 << 40).lseek("f", 0, "CUR")

    t = Trace("seek-empty-file", "SEEK_DATA/HOLE on an empty file: ENXIO; SET/END work", huge)
    t.create()
    yield _seek_all(t, "f", 0).lseek("f", 0, "END").lseek("f", 10, "SET").lseek("f", 0, "CUR")

    t = Trace("seek-negative", "negative offsets for every whence", huge)
    t.create().pwrite("f", 0, 3 * PAGE, 1)
    for whence in ("SET", "DATA", "HOLE"):
        t.lseek("f", -1, whence)
    t.lseek("f", 100, "SET").lseek("f", -101, "CUR").lseek("f", -100, "CUR")
    yield t.lseek("f", -(3 * PAGE + 1), "END").lseek("f", -(3 * PAGE), "END")

    t = Trace("seek-cur-chain", "SEEK_SET/CUR/END arithmetic, beyond EOF and to INT64_MAX", huge)
    t.create().pwrite("f", 0, 5000, 1).lseek("f", 4096, "SET").lseek("f", 1, "CUR")
    t.lseek("f", 0, "CUR").lseek("f", 10, "END").lseek("f", HPAGE, "CUR")
    t.lseek("f", INT64_MAX, "SET").lseek("f", 0, "CUR").lseek("f", 1, "CUR")
    yield t.lseek("f", 0, "CUR").lseek("f", INT64_MAX, "END").lseek("f", 0, "CUR")


def seek_data_hole(huge: str) -> Iterator[Trace]:
    """SEEK_DATA/HOLE after partial writes, fallocate, punch and truncate."""
    t = Trace("seek-sparse", "SEEK_DATA/HOLE over bytes at 64K and 2M+4K of a 3M file", huge)
    t.create().pwrite("f", 64 * 1024, 1, 1).pwrite("f", HPAGE + PAGE, 1, 2)
    t.ftruncate("f", 3 * MiB)
    yield _seek_all(t, "f", 0, PAGE, 64 * 1024, 64 * 1024 + 1, 68 * 1024, HPAGE, 3 * MiB - 1)

    t = Trace("seek-after-fallocate", "fallocated pages are holes until written", huge)
    t.create().fallocate("f", ALLOC, 0, 8 * PAGE)
    _seek_all(t, "f", 0, 3 * PAGE).pwrite("f", 3 * PAGE + 10, 1, 9)
    yield _seek_all(t, "f", 0, 3 * PAGE, 4 * PAGE).lseek("f", 0, "CUR")

    t = Trace("seek-after-punch", "punched ranges are holes; partial punches are not", huge)
    t.create().pwrite("f", 0, 8 * PAGE, 1).punch("f", 2 * PAGE, 2 * PAGE)
    t.punch("f", 6 * PAGE + 1, 100)
    yield _seek_all(t, "f", 0, 2 * PAGE, 3 * PAGE, 5 * PAGE, 6 * PAGE, 8 * PAGE - 1)

    t = Trace("seek-after-truncate", "data beyond a shrink is gone, grown tail is a hole", huge)
    t.create().pwrite("f", 0, 4 * PAGE, 1).ftruncate("f", PAGE + 5).ftruncate("f", 8 * PAGE)
    yield _seek_all(t, "f", 0, PAGE, PAGE + 5, 2 * PAGE)

    t = Trace("seek-2m-sparse", "single bytes at 1M, 2M and 5M of an 8M file", huge)
    t.create().ftruncate("f", 8 * MiB)
    for off in (MiB, HPAGE, 5 * MiB):
        t.pwrite("f", off, 1, 3)
    yield _seek_all(t, "f", 0, MiB + 1, HPAGE - 1, HPAGE + 1, 4 * MiB, 5 * MiB + PAGE)
