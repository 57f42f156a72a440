"""Families on the mount's size= limit: short writes, ENOSPC, SIGBUS on full, freeing space.

Also the few large traces (64 MiB) and the accounting walk-through that reads fstat, statfs
and meminfo after each kind of change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracegen.builder import HPAGE, PAGE, KiB, MiB, Trace

if TYPE_CHECKING:
    from collections.abc import Iterator


def size_writes(huge: str) -> Iterator[Trace]:
    """Writes that reach the limit: short writes, ENOSPC, in each spelling of size=."""
    t = Trace("size-4k", "size=4K: one page fits, the next write is ENOSPC", huge, "4K")
    t.create().pwrite("f", 0, 1, 1).pwrite("f", 4090, 10, 2).pwrite_hex("f", PAGE, b"\x01")
    t.pwrite("f", 0, 2 * PAGE, 3).pwrite("f", PAGE, 0, 4).state("f").ftruncate("f", HPAGE)
    yield t.state("f").readback("f", 2 * PAGE)

    t = Trace("size-64k-short-write", "size=64k: a 100K write is cut at 64K", huge, "64k")
    t.create().pwrite("f", 0, 100 * KiB, 5).state("f").pwrite("f", 64 * KiB, 1, 6)
    t.pwrite("f", 1000, 10, 7).readback("f", 128 * KiB).ftruncate("f", 0).statfs()
    yield t.pwrite("f", 0, 64 * KiB, 8).state("f")

    t = Trace("size-64k-unaligned-short", "a write starting mid-page at the limit", huge, 65536)
    t.create().pwrite("f", 100, 70000, 9).state("f").readback("f", 80000)
    yield t.pwrite("f", 65000, 2000, 10).state("f")


def size_fallocate(huge: str) -> Iterator[Trace]:
    """fallocate at the limit: ENOSPC undoes what it allocated; KEEP_SIZE fills the fs."""
    t = Trace("size-1m-fallocate", "size=1M: fallocate 2M ENOSPC leaves nothing behind", huge, "1M")
    t.create().fallocate("f", (), 0, HPAGE).state("f").fallocate("f", ("KEEP_SIZE",), 0, MiB)
    t.state("f").pwrite("f", 0, 10, 1).pwrite("f", MiB - 5, 10, 2).state("f")
    yield t.fallocate("f", ("KEEP_SIZE",), MiB, PAGE).readback("f", MiB + PAGE)

    t = Trace(
        "size-1m-partial-fallocate",
        "fallocate over partly allocated space at the limit",
        huge,
        "1m",
    )
    t.create().pwrite("f", 0, 512 * KiB, 1).fallocate("f", (), 256 * KiB, MiB).state("f")
    yield t.fallocate("f", (), 256 * KiB, 768 * KiB).state("f").readback("f", MiB)

    t = Trace(
        "size-64k-keep-size-fills", "KEEP_SIZE fills the fs; writes elsewhere fail", huge, "64k"
    )
    t.create().fallocate("f", ("KEEP_SIZE",), 0, 64 * KiB).state("f").create("g")
    t.pwrite("g", 0, 1, 1).pwrite("f", 0, 5, 2).state("f").ftruncate("f", 0).statfs()
    yield t.pwrite("g", 0, 1, 3).state("g")


def size_files(huge: str) -> Iterator[Trace]:
    """Several files sharing the limit; space held by unlinked open files; sparse growth."""
    t = Trace("size-3m-two-files", "size=3M: two 2M writes; the second is short", huge, "3M")
    t.create("a").create("b").pwrite("a", 0, HPAGE, 1).pwrite("b", 0, HPAGE, 2)
    t.statfs().fstat("b").unlink("a").statfs().close("a").statfs()
    yield t.pwrite("b", HPAGE, MiB, 3).state("b").readback("b", 4 * MiB)

    t = Trace("size-3m-one-write", "size=3M: one 3M write fills it exactly", huge, "3M")
    t.create().pwrite("f", 0, 3 * MiB, 1).state("f").pwrite("f", 3 * MiB, 1, 2)
    yield t.readback("f", 4 * MiB)

    t = Trace("size-4m-three-files", "size=4M: one byte in each of files a, b, c", huge, "4M")
    for name in ("a", "b", "c"):
        t.create(name).pwrite(name, 0, 1, 1).fstat(name)
    yield t.statfs().pwrite("c", PAGE, MiB, 2).fstat("c").statfs()

    t = Trace(
        "size-1m-unlink-open", "space of an unlinked open file is freed only at close", huge, "1M"
    )
    t.create().pwrite("f", 0, MiB, 1).unlink("f").create("g").pwrite("g", 0, 1, 1)
    yield t.close("f").pwrite("g", 0, 1, 2).state("g")

    t = Trace("size-1m-grow-sparse", "ftruncate far past the limit costs nothing", huge, "1M")
    yield t.create().ftruncate("f", 64 * MiB).state("f").pwrite("f", 32 * MiB, 10, 1).state("f")


def size_faults(huge: str) -> Iterator[Trace]:
    """Faults at the limit: SIGBUS for write and read faults on holes; punch makes room."""
    t = Trace("size-16m-touch-full", "size=16M: write touches past the limit SIGBUS", huge, "16M")
    t.create().ftruncate("f", 20 * MiB).pwrite("f", 0, 16 * MiB - 4 * PAGE, 1).statfs()
    t.mmap("f", "m", 0, 20 * MiB).touch("m", 16 * MiB - 4 * PAGE, 16 * PAGE, PAGE, 2).statfs()
    t.touch("m", 17 * MiB, 4 * PAGE, PAGE).madvise("m", 0, 20 * MiB, "POPULATE_WRITE")
    t.punch("f", 0, MiB).touch("m", 17 * MiB, 2 * PAGE, PAGE, 3).state("f")
    yield t.readback("f", 20 * MiB).smaps("m")

    t = Trace("size-64k-read-hole-full", "a read fault on a hole needs a page too", huge, "64k")
    t.create().pwrite("f", 0, 64 * KiB, 1).ftruncate("f", 128 * KiB)
    t.mmap("f", "m", 0, 128 * KiB, "r").touch("m", 0, 128 * KiB).smaps("m")
    t.mmap("f", "p", 0, 128 * KiB, "rw", False).touch("p", 80 * KiB, 1, 1, 1)
    yield t.pread("f", 64 * KiB, 64 * KiB).statfs()

    t = Trace("size-64k-punch-frees", "punching at the limit makes room for a write", huge, "64K")
    t.create().pwrite("f", 0, 64 * KiB, 1).pwrite("f", 64 * KiB, 1, 2).punch("f", 0, 8 * KiB)
    yield t.statfs().pwrite("f", 64 * KiB, 8 * KiB, 3).state("f").readback("f", 80 * KiB)


def large(huge: str) -> Iterator[Trace]:
    """A couple of 64 MiB traces: a big write, shrink, punch and full read-back."""
    t = Trace("large-64m", "64 MiB written, shrunk mid-2M, punched, read back whole", huge, "128M")
    t.create().pwrite("f", 0, 64 * MiB, 0x6B).state("f").ftruncate("f", 33 * MiB + PAGE)
    t.punch("f", 5 * MiB + 123, 7 * MiB).state("f").readback("f", 64 * MiB)
    yield t.lseek("f", 0, "HOLE").lseek("f", 5 * MiB + 123, "DATA").meminfo()

    t = Trace("large-64m-mapped", "64 MiB mapping touched every 64K, then unmapped", huge)
    t.create().ftruncate("f", 64 * MiB).mmap("f", "m", 0, 64 * MiB)
    t.touch("m", 0, 64 * MiB, 64 * KiB, 1).smaps("m").state("f").munmap("m")
    yield t.readback("f", 64 * MiB).statfs().meminfo()


def accounting(huge: str) -> Iterator[Trace]:
    """fstat, statfs and meminfo after each kind of change, in one file."""
    t = Trace(
        "accounting-walk", "size/blocks/used after write, truncate, falloc, punch, faults", huge
    )
    t.meminfo().create().state("f").pwrite("f", 0, 1, 1).state("f").pwrite("f", MiB, 1, 2)
    t.state("f").ftruncate("f", 3 * MiB).state("f").fallocate(
        "f", ("KEEP_SIZE",), 3 * MiB, 64 * KiB
    )
    t.state("f").punch("f", MiB, PAGE).state("f").mmap("f", "m", 0, 4 * MiB)
    t.touch("m", 2 * MiB, 1, 1, 3).state("f").touch("m", 2 * MiB + 8 * PAGE, 1).state("f")
    t.meminfo().ftruncate("f", 0).state("f").meminfo()
    yield t.munmap("m").close("f").unlink("f").statfs().meminfo()

    t = Trace("accounting-hole-reads", "pread of holes allocates nothing; a read fault does", huge)
    t.create().ftruncate("f", MiB).pread("f", 0, MiB).state("f").mmap("f", "m", 0, MiB, "r")
    yield t.touch("m", 0, 3 * PAGE, PAGE).state("f").smaps("m").meminfo()

    t = Trace("accounting-two-files", "statfs counts every file; fstat only its own", huge)
    t.create("a").create("b").pwrite("a", 0, 3 * PAGE, 1).pwrite("b", HPAGE, 5, 2)
    yield t.state("a").state("b").ftruncate("a", 0).state("b").meminfo()
