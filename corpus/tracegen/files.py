"""Families on file contents and size: pwrite/pread at boundaries, ftruncate, fallocate, lseek.

Every trace reads back what it wrote (pread answers a sha256), and checks size, blocks and the
mount's used pages after each kind of change, because those are what tmpfs decides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracegen.builder import HPAGE, INT64_MAX, PAGE, MiB, Trace
from tracegen.names import sz

if TYPE_CHECKING:
    from collections.abc import Iterator

#: (offset, len) of one write: page and 2 MiB boundaries, either side, straddling and exact.
BOUNDARY_WRITES = (
    (0, 0),
    (0, 1),
    (0, 4095),
    (0, 4096),
    (0, 4097),
    (4095, 1),
    (4095, 2),
    (4096, 4096),
    (4097, 4095),
    (4097, 8192),
    (HPAGE - PAGE, PAGE),
    (HPAGE - PAGE, 2 * PAGE),
    (HPAGE - 1, 2),
    (HPAGE, PAGE),
    (HPAGE + PAGE, 1),
    (HPAGE - PAGE - 1, PAGE + 2),
    (0, HPAGE),
    (0, HPAGE + PAGE),
    (PAGE, HPAGE),
    (HPAGE - PAGE, HPAGE + 2 * PAGE),
)


def rw_boundaries(huge: str) -> Iterator[Trace]:
    """One write on an empty file, then reads at, across and beyond the new EOF."""
    for k, (off, n) in enumerate(BOUNDARY_WRITES):
        end = off + n
        t = Trace(
            f"write-at-{sz(off)}-len-{sz(n)}",
            f"pwrite len {n} at {off} on an empty file; size/blocks/used; reads at, across, "
            "and beyond EOF",
            huge,
        )
        t.create().pwrite("f", off, n, 0x41 + k).state("f")
        t.readback("f", end + PAGE).pread("f", off, n)
        t.pread("f", end, PAGE).pread("f", max(end - 1, 0), PAGE).pread("f", end + HPAGE, 1)
        t.lseek("f", 0, "END").lseek("f", 0, "CUR")
        yield t


#: (offset, len) of a write over 3 pages of existing data (byte 0x11).
OVERWRITES = (
    (0, 1),
    (4095, 2),
    (4096, 4096),
    (8191, 4098),
    (12288, 1),
    (12289, PAGE),
    (5000, HPAGE),
)


def rw_overwrite(huge: str) -> Iterator[Trace]:
    """A second write over, across and past the end of existing data."""
    for off, n in OVERWRITES:
        t = Trace(
            f"overwrite-at-{sz(off)}-len-{sz(n)}",
            f"3 pages of data, then pwrite len {n} at {off}: content, size and blocks",
            huge,
        )
        t.create().pwrite("f", 0, 3 * PAGE, 0x11).pwrite("f", off, n, 0xEE).state("f")
        t.readback("f", max(off + n, 3 * PAGE) + 1).pread("f", off, n)
        yield t


def hex_writes(huge: str) -> Iterator[Trace]:
    """pwrite with hex data: unaligned, straddling page and 2 MiB boundaries, either case."""
    data = bytes(range(256)) * 3
    cases = (
        ("hex-at-0", 0, data[:16], False),
        ("hex-straddle-page", PAGE - 5, data[:10], True),
        ("hex-straddle-2m", HPAGE - 3, data[:7], False),
        ("hex-768-bytes-at-4097", 4097, data, True),
        ("hex-empty-beyond-eof", 3 * PAGE, b"", False),
        ("hex-all-bytes-at-1m", MiB, data[:256], False),
    )
    for name, off, payload, upper in cases:
        t = Trace(name, f"pwrite hex ({len(payload)} bytes) at {off} over a filled page", huge)
        t.create().pwrite("f", 0, PAGE, 0x30).pwrite_hex("f", off, payload, upper).state("f")
        t.readback("f", off + len(payload) + PAGE).pread("f", off, len(payload))
        t.pwrite_hex("f", off + 1, payload[:3]).pread("f", off, len(payload) + 4)
        yield t


def eof_reads(huge: str) -> Iterator[Trace]:
    """Reads of empty files, holes, exactly EOF and far beyond; zero-length ops."""
    t = Trace("read-empty-file", "pread of an empty file: 0 bytes at 0, 4096 and 2M", huge)
    yield t.create().pread("f", 0, PAGE).pread("f", PAGE, 1).pread("f", HPAGE, 0).state("f")

    t = Trace("read-hole-middle", "sparse file: pread inside the hole gives zeros", huge)
    t.create().pwrite("f", 0, 10, 1).pwrite("f", 3 * MiB, 10, 2).pread("f", 10, HPAGE)
    yield t.pread("f", HPAGE - 7, 20).readback("f", 4 * MiB).state("f")

    t = Trace("read-exactly-eof", "pread starting at EOF, ending at EOF, across EOF", huge)
    t.create().pwrite("f", 0, 5000, 3)
    yield t.pread("f", 5000, 1).pread("f", 4999, 1).pread("f", 0, 5000).pread("f", 0, 5001)

    t = Trace("read-far-beyond-eof", "pread at 1 GiB, 2^40 and INT64_MAX offsets", huge)
    t.create().pwrite("f", 0, 100, 4).pread("f", 1 << 30, 10).pread("f", 1 << 40, PAGE)
    yield t.pread("f", INT64_MAX, 0).pread("f", INT64_MAX - 10, 5)

    t = Trace("zero-length-ops", "pwrite/pread of 0 bytes beyond EOF do not extend", huge)
    t.create().pwrite("f", 0, 8, 5).pwrite("f", 3 * PAGE, 0, 6).state("f")
    yield t.pread("f", 3 * PAGE, 0).pwrite_hex("f", MiB, b"").state("f")

    t = Trace("read-negative-offset", "pread/pwrite at a negative offset: EINVAL", huge)
    t.create().pwrite("f", 0, 8, 5).pread("f", -1, 1).pread("f", -PAGE, 0)
    yield t.pwrite("f", -1, 1, 1).pwrite_hex("f", -HPAGE, b"\x01").state("f")


def _filled(t: Trace, n: int, byte: int = 0x61) -> Trace:
    return t.create().pwrite("f", 0, n, byte)


#: (name, initial data, then a list of ftruncate lengths) — each step is checked.
TRUNCATES = (
    ("shrink-mid-page-grow", 3 * PAGE, (6000, 16384)),
    ("shrink-zero-grow-page", 3 * PAGE, (0, PAGE)),
    ("shrink-4095", 3 * PAGE, (4095, 4097)),
    ("shrink-4096", 3 * PAGE, (4096, 3 * PAGE)),
    ("shrink-4097", 3 * PAGE, (4097, 1)),
    ("grow-sparse-2m+4k", 0, (HPAGE + PAGE,)),
    ("shrink-mid-2m-grow", 3 * MiB, (MiB + 1, 4 * MiB)),
    ("shrink-to-2m-4k", 4 * MiB, (HPAGE - PAGE,)),
    ("shrink-to-2m", 4 * MiB, (HPAGE, HPAGE + 1)),
    ("shrink-to-2m+4k", 4 * MiB, (HPAGE + PAGE, HPAGE - 1)),
    ("same-size", 5000, (5000, 5000)),
    ("grow-1t-sparse", PAGE, (1 << 40, PAGE)),
    ("shrink-3m-to-1m-4k", 3 * MiB, (MiB - PAGE, 3 * MiB)),
)


def truncates(huge: str) -> Iterator[Trace]:
    """ftruncate grow and shrink, mid-page and mid-2MiB, with reads and a write after each."""
    for name, initial, lengths in TRUNCATES:
        t = Trace(
            f"truncate-{name}",
            f"{initial} bytes of data, then ftruncate to {', '.join(map(str, lengths))}",
            huge,
        )
        _filled(t, initial)
        for length in lengths:
            t.ftruncate("f", length).state("f").readback("f", min(length, 4 * MiB) + PAGE)
        last = lengths[-1]
        t.pwrite("f", max(last - 2, 0), 4, 0x7A).state("f").readback("f", last + PAGE)
        t.lseek("f", 0, "DATA").lseek("f", 0, "HOLE")
        yield t
    t = Trace("truncate-negative", "ftruncate to -1 and INT64_MIN: EINVAL, size kept", huge)
    yield _filled(t, 100).ftruncate("f", -1).ftruncate("f", -(1 << 63)).state("f")
