"""Families that rely on the placement rule (DESIGN.md §3.3 "Placement") explicitly.

Both runners place every mapping at an address ≡ file offset (mod 2 MiB) on a mount where
huge pages may be used, and ≡ file offset + 64 KiB on huge=never.  On never that makes the
fault-around windows line up with 64 KiB-aligned file offsets (a window starts at the fault
rounded down to 64 KiB, or at the mapping's start if that is later, and spans 16 pages,
clipped to the mapping's end), and it makes every mapping non-congruent, so MADV_COLLAPSE
answers EINVAL; on a huge mount every mapping is congruent and MADV_COLLAPSE can succeed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracegen.builder import HPAGE, PAGE, KiB, MiB, Trace

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Cached pages of the sparse fault-around file: a page on each side of every 64 KiB boundary
#: up to 256 KiB, so that a window misplaced by even one page would map a different set.
SPARSE = (0, 1, 14, 15, 16, 17, 30, 31, 32, 33, 47, 48, 63)


def _sparse(t: Trace) -> Trace:
    t.create().ftruncate("f", 64 * PAGE)
    for p in SPARSE:
        t.pwrite("f", p * PAGE, PAGE, 0x20 + p)
    return t


def fault_around_windows(huge: str) -> Iterator[Trace]:
    """One read fault at file offset 0, 60K, 64K or 68K: Rss shows which window was mapped."""
    for off in (0, 60 * KiB, 64 * KiB, 68 * KiB):
        name = f"placement-window-at-{off // KiB}k"
        t = Trace(name, f"read fault at file offset {off // KiB}K: its 64K-aligned window", huge)
        _sparse(t).mmap("f", "m", 0, 64 * PAGE, "r").touch("m", off, 1).smaps("m")
        yield t.touch("m", off + PAGE, 1).smaps("m").touch("m", 2 * PAGE, 1).smaps("m")

    t = Trace("placement-windows-in-turn", "read faults at 0, 60K, 64K, 68K in turn", huge)
    _sparse(t).mmap("f", "m", 0, 64 * PAGE, "r", False)
    for off in (0, 60 * KiB, 64 * KiB, 68 * KiB, 124 * KiB, 128 * KiB, 252 * KiB):
        t.touch("m", off, 1).smaps("m")
    yield t.readback("f", 64 * PAGE).statfs()


def map_at_offset(huge: str) -> Iterator[Trace]:
    """Mappings that start at file offset 68K (and 4K, 60K, 2M - 4K): clamped windows."""
    t = Trace("placement-map-at-68k", "map file [68K, 196K): windows clamped at its ends", huge)
    t.create().pwrite("f", 0, 64 * PAGE, 0x31).mmap("f", "m", 68 * KiB, 32 * PAGE)
    for off in (0, 56 * KiB, 64 * KiB, 124 * KiB):  # file 68K, 124K, 132K, 192K
        t.touch("m", off, 1).smaps("m")
    t.touch("m", 4 * PAGE, 1, 1, 0x32).smaps("m").madvise("m", 0, 32 * PAGE, "DONTNEED")
    yield t.smaps("m").touch("m", 60 * KiB, 1).smaps("m").readback("f", 64 * PAGE)

    t = Trace("placement-map-at-68k-sparse", "map from 68K over sparsely cached pages", huge)
    _sparse(t).mmap("f", "m", 68 * KiB, 44 * PAGE, "r").touch("m", 0, 1).smaps("m")
    t.touch("m", 64 * KiB, 1).smaps("m").touch("m", 172 * KiB, 1).smaps("m")
    yield t.lseek("f", 0, "HOLE").statfs()

    for off in (PAGE, 60 * KiB, HPAGE - PAGE):
        name = f"placement-map-at-{off // KiB}k"
        t = Trace(name, f"map 3M of a 6M file from {off // KiB}K; read every 256K", huge)
        t.create().pwrite("f", 0, 6 * MiB, 0x41).mmap("f", "m", off, 3 * MiB, "r")
        yield t.touch("m", 0, 3 * MiB, 256 * KiB).smaps("m").touch("m", 0, 3 * MiB).smaps("m")

    t = Trace("placement-two-maps-one-file", "two maps of one file at 0 and 68K", huge)
    t.create().pwrite("f", 0, 64 * PAGE, 0x51).mmap("f", "a", 0, 64 * PAGE)
    t.mmap("f", "b", 68 * KiB, 16 * PAGE).touch("a", 72 * KiB, 1).touch("b", 4 * KiB, 1)
    yield t.smaps("a").smaps("b").munmap("a").smaps("b").touch("b", 60 * KiB, 1).smaps("b")


def collapse(huge: str) -> Iterator[Trace]:
    """MADV_COLLAPSE by placement: EINVAL on never (never congruent), 0 on a huge mount."""
    for off, length in ((0, 2 * HPAGE), (HPAGE, HPAGE), (64 * KiB, 4 * MiB), (68 * KiB, HPAGE)):
        name = f"placement-collapse-at-{off // KiB}k-{length // MiB}m"
        t = Trace(name, f"MADV_COLLAPSE of a map of [{off}, +{length}) of a 6M file", huge)
        t.create().pwrite("f", 0, 6 * MiB, 0x61).mmap("f", "m", off, length)
        t.touch("m", 0, length, 64 * KiB).madvise("m", 0, length, "COLLAPSE")
        first = -off % HPAGE  # the first 2M-aligned file offset in the map, map-relative
        t.madvise("m", first, HPAGE, "COLLAPSE").touch("m", 0, length, 512 * KiB, 0x62)
        yield t.smaps("m").readback("f", 6 * MiB).state("f")

    if huge == "never":  # on huge mounts this is huge-map-collapse-sparse
        t = Trace("placement-collapse-sparse", "MADV_COLLAPSE over a sparsely written 2M", huge)
        t.create().ftruncate("f", 4 * MiB).mmap("f", "m", 0, 4 * MiB, "rw")
        t.madvise("m", 0, HPAGE, "NOHUGEPAGE").touch("m", 0, HPAGE, 64 * KiB, 7)
        t.madvise("m", 0, HPAGE, "HUGEPAGE").madvise("m", 0, HPAGE, "COLLAPSE")
        yield t.smaps("m").readback("f", 4 * MiB).state("f")

    t = Trace("placement-collapse-private", "MADV_COLLAPSE of a private map", huge)
    t.create().pwrite("f", 0, 4 * MiB, 0x71).mmap("f", "p", 0, 4 * MiB, "rw", False)
    t.touch("p", 0, 4 * MiB, HPAGE).madvise("p", 0, 4 * MiB, "COLLAPSE")
    yield t.touch("p", 0, 4 * MiB, MiB, 0x72).readback("f", 4 * MiB).smaps("p")
