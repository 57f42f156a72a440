"""Families for huge mounts: 2 MiB boundaries, PMD-sized mappings, EOF inside a huge page.

On a huge mount diff compares only ret, errno, sha256, size and done, so these traces lean on
content read-back and sizes; blocks, Rss and SEEK_DATA/HOLE are recorded for the record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracegen.builder import HPAGE, PAGE, KiB, MiB, Trace

if TYPE_CHECKING:
    from collections.abc import Iterator

#: (name, steps): writes ("w", off, len), truncates ("t", len), punches ("p", off, len).
HUGE_SEQUENCES = (
    ("byte-at-0", [("w", 0, 1)]),
    ("byte-at-2m-1", [("w", HPAGE - 1, 1)]),
    ("byte-at-3m", [("w", 3 * MiB, 1)]),
    ("64k-at-1m", [("w", MiB, 64 * KiB)]),
    ("3m-at-0", [("w", 0, 3 * MiB)]),
    ("4k-then-2m-at-4k", [("w", 0, PAGE), ("w", PAGE, HPAGE)]),
    ("straddle-2m", [("w", HPAGE - 100, 200), ("w", 2 * HPAGE - 1, 2)]),
    ("shrink-4m-to-3m", [("w", 0, 4 * MiB), ("t", 3 * MiB)]),
    (
        "shrink-mid-huge-grow",
        [("w", 0, 4 * MiB), ("t", MiB + PAGE), ("t", 4 * MiB), ("w", 3 * MiB, 5)],
    ),
    ("shrink-to-2m-minus-1", [("w", 0, 4 * MiB), ("t", HPAGE - 1), ("w", HPAGE, 1)]),
    ("punch-4k-in-huge", [("w", 0, 4 * MiB), ("p", MiB, PAGE)]),
    ("punch-1-byte-in-huge", [("w", 0, 4 * MiB), ("p", MiB, 1)]),
    ("punch-aligned-2m", [("w", 0, 4 * MiB), ("p", HPAGE, HPAGE)]),
    ("punch-across-2m", [("w", 0, 4 * MiB), ("p", MiB, HPAGE)]),
    ("punch-beyond-eof-in-huge", [("w", 0, PAGE), ("p", MiB, MiB)]),
    ("rewrite-punched", [("w", 0, 4 * MiB), ("p", MiB, PAGE), ("w", MiB, 1)]),
    ("sparse-8m", [("t", 8 * MiB), ("w", 5 * MiB, 1), ("w", MiB, 1)]),
)


def huge_sequences(huge: str) -> Iterator[Trace]:
    """Writes, truncates and punches around 2 MiB: content and size after every step."""
    for name, steps in HUGE_SEQUENCES:
        t = Trace(f"huge-{name}", f"{huge}: {name} (content and size after each step)", huge)
        t.create()
        size = 0
        for kind, *args in steps:
            if kind == "w":
                t.pwrite("f", args[0], args[1], 0x48)
                size = max(size, args[0] + args[1])
            elif kind == "t":
                t.ftruncate("f", args[0])
                size = args[0]
            else:
                t.punch("f", args[0], args[1])
            t.state("f").readback("f", size + PAGE)
        yield t.lseek("f", 0, "DATA").lseek("f", 0, "HOLE").lseek("f", 0, "END")


def huge_fallocate(huge: str) -> Iterator[Trace]:
    """fallocate of whole and partial huge pages, then writes into them."""
    t = Trace("huge-falloc-keep-4m", "KEEP_SIZE 4M on an empty file, then a byte at 1M", huge)
    t.create().fallocate("f", ("KEEP_SIZE",), 0, 4 * MiB).state("f").pwrite("f", MiB, 1, 1)
    yield t.state("f").readback("f", 4 * MiB).lseek("f", 0, "DATA")

    t = Trace("huge-falloc-extend-punch", "allocate 6M, punch [1M, 5M), write at 3M", huge)
    t.create().fallocate("f", (), 0, 6 * MiB).punch("f", MiB, 4 * MiB).pwrite("f", 3 * MiB, 9, 2)
    yield t.state("f").readback("f", 6 * MiB).ftruncate("f", HPAGE + 1).state("f")


def _map_whole(t: Trace, huge: str, length: int) -> Trace:
    """Read-fault all of mapping "m": one fault per huge page on a huge mount, every page on
    huge=never (where one read fault maps only its 64 KiB fault-around window)."""
    return t.touch("m", 0, length, PAGE if huge == "never" else HPAGE)


def huge_maps(huge: str) -> Iterator[Trace]:
    """PMD-sized mappings, offsets that are not 2M-aligned, private and NOHUGEPAGE maps."""
    t = Trace("huge-map-4m", "4M file mapped whole; write touches every 4K", huge)
    t.create().ftruncate("f", 4 * MiB).mmap("f", "m", 0, 4 * MiB).touch("m", 0, 4 * MiB, PAGE, 1)
    yield t.smaps("m").state("f").readback("f", 4 * MiB).meminfo()

    t = Trace("huge-map-at-2m", "[2M, 4M) of a 4M file; read then write", huge)
    t.create().pwrite("f", 0, 4 * MiB, 1).mmap("f", "m", HPAGE, HPAGE)
    yield t.touch("m", 0, HPAGE, 8192).touch("m", 5, HPAGE - 5, 3 * PAGE, 2).readback("f", 4 * MiB)

    t = Trace("huge-map-at-64k", "mapping at file offset 64K: partly PMD-mappable", huge)
    t.create().pwrite("f", 0, 8 * MiB, 1).mmap("f", "m", 64 * KiB, 6 * MiB)
    yield t.touch("m", 0, 6 * MiB, PAGE, 3).smaps("m").readback("f", 8 * MiB)

    t = Trace("huge-map-private", "private writes over huge pages leave the file alone", huge)
    t.create().pwrite("f", 0, 4 * MiB, 1).mmap("f", "p", 0, 4 * MiB, "rw", False)
    yield t.touch("p", 0, 4 * MiB, 512 * KiB, 2).smaps("p").readback("f", 4 * MiB).state("f")

    t = Trace("huge-map-nohugepage", "MADV_NOHUGEPAGE then faults; HUGEPAGE then faults", huge)
    t.create().ftruncate("f", 8 * MiB).mmap("f", "m", 0, 8 * MiB)
    t.madvise("m", 0, 4 * MiB, "NOHUGEPAGE").touch("m", 0, 4 * MiB, PAGE, 1)
    t.madvise("m", 4 * MiB, 4 * MiB, "HUGEPAGE").touch("m", 4 * MiB, 4 * MiB, HPAGE, 2)
    yield t.smaps("m").state("f").readback("f", 8 * MiB)


def huge_maps_eof(huge: str) -> Iterator[Trace]:
    """EOF inside a mapped huge page: touches past it, writes past it, truncation under it."""
    t = Trace(
        "huge-map-eof-inside", "touch past EOF inside a huge mapping (SIGBUS not compared)", huge
    )
    t.create().pwrite("f", 0, MiB + 1, 1).mmap("f", "m", 0, 4 * MiB).touch("m", 0, 4 * MiB, PAGE)
    yield t.fstat("f").readback("f", 4 * MiB).touch("m", 3 * MiB, 1).fstat("f")

    t = Trace("huge-map-write-eof-inside", "write touch past EOF inside a huge mapping", huge)
    t.create().pwrite("f", 0, MiB, 1).mmap("f", "m", 0, HPAGE).pread("f", 0, MiB)
    t.touch("m", 0, HPAGE, 256 * KiB, 2).fstat("f").ftruncate("f", HPAGE).fstat("f")
    yield t.readback("f", HPAGE).touch("m", MiB, 1, 1, 3).readback("f", HPAGE)

    t = Trace("huge-map-truncate-mapped", "ftruncate 8M to 5M under a mapping", huge)
    _map_whole(t.create().pwrite("f", 0, 8 * MiB, 1).mmap("f", "m", 0, 8 * MiB), huge, 8 * MiB)
    t.ftruncate("f", 5 * MiB).touch("m", 5 * MiB - 1, 1).ftruncate("f", 8 * MiB)
    yield t.touch("m", 0, 8 * MiB, MiB, 6).readback("f", 8 * MiB).state("f")


def huge_maps_zap(huge: str) -> Iterator[Trace]:
    """Punch, DONTNEED, REMOVE and COLLAPSE inside mapped huge pages."""
    t = Trace("huge-map-punch-mapped", "punch 4K inside a mapped huge page, touch again", huge)
    _map_whole(t.create().pwrite("f", 0, 4 * MiB, 1).mmap("f", "m", 0, 4 * MiB), huge, 4 * MiB)
    t.punch("f", MiB, PAGE).smaps("m").touch("m", MiB, PAGE, PAGE, 5).readback("f", 4 * MiB)
    t.madvise("m", 0, HPAGE, "COLLAPSE").readback("f", 4 * MiB)  # never: EINVAL by placement
    yield t.state("f")

    t = Trace("huge-map-dontneed-4k", "DONTNEED of 4K inside a PMD mapping, then reads", huge)
    _map_whole(t.create().pwrite("f", 0, 4 * MiB, 1).mmap("f", "m", 0, 4 * MiB), huge, 4 * MiB)
    yield t.madvise("m", PAGE, PAGE, "DONTNEED").smaps("m").touch("m", 0, 4 * MiB, PAGE)

    t = Trace("huge-map-remove-2m", "MADV_REMOVE of an aligned 2M and of 4K", huge)
    _map_whole(t.create().pwrite("f", 0, 6 * MiB, 1).mmap("f", "m", 0, 6 * MiB), huge, 6 * MiB)
    t.madvise("m", HPAGE, HPAGE, "REMOVE").madvise("m", 4 * MiB + PAGE, PAGE, "REMOVE")
    yield t.state("f").readback("f", 6 * MiB).touch("m", 0, 6 * MiB, MiB)

    if huge == "never":
        return  # on never: placement-collapse-sparse (added later, so as not to renumber)
    t = Trace("huge-map-collapse-sparse", "MADV_COLLAPSE over a sparsely written 2M", huge)
    t.create().ftruncate("f", 4 * MiB).mmap("f", "m", 0, 4 * MiB, "rw")
    t.madvise("m", 0, HPAGE, "NOHUGEPAGE").touch("m", 0, HPAGE, 64 * KiB, 7)
    t.madvise("m", 0, HPAGE, "HUGEPAGE").madvise("m", 0, HPAGE, "COLLAPSE")
    yield t.readback("f", 4 * MiB).state("f")
