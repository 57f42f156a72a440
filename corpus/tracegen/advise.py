"""Families on what a mapping holds: fault-around, madvise and munmap, seen through smaps.

A read fault on a file mapping also maps the cached, uptodate pages of its 64 KiB window
(fault-around); write faults and faults on holes map one page.  smaps.Rss shows both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracegen.builder import HPAGE, PAGE, KiB, Trace

if TYPE_CHECKING:
    from collections.abc import Iterator

WINDOW = 64 * KiB


def _cached(t: Trace, pages: int, only: tuple[int, ...] | None = None) -> Trace:
    """A file of *pages* pages, all written or only the pages listed (the rest are holes)."""
    t.create().ftruncate("f", pages * PAGE)
    if only is None:
        return t.pwrite("f", 0, pages * PAGE, 0x10)
    for p in only:
        t.pwrite("f", p * PAGE, PAGE, 0x10 + p)
    return t


#: (name, comment, file pages, cached pages or None for all, map (offset, pages, shared),
#:  touches as (page, write?)).
FAULT_AROUND = (
    ("first-page", "read page 0 of 64 cached pages", 64, None, (0, 64, True), [(0, False)]),
    ("page-5", "read page 5 of 64 cached pages", 64, None, (0, 64, True), [(5, False)]),
    ("page-17", "read page 17: the window of pages 16-31", 64, None, (0, 64, True), [(17, False)]),
    ("last-page", "read the last page of 64", 64, None, (0, 64, True), [(63, False)]),
    ("sparse", "only pages 0, 2, 4 and 20 cached", 32, (0, 2, 4, 20), (0, 32, True), [(2, False)]),
    ("write-no-around", "a write fault maps one page", 64, None, (0, 64, True), [(3, True)]),
    (
        "write-then-read",
        "write page 3, read page 9",
        64,
        None,
        (0, 64, True),
        [(3, True), (9, False)],
    ),
    ("private-read", "private map: read faults map around", 64, None, (0, 64, False), [(6, False)]),
    ("private-write", "private write fault copies one page", 64, None, (0, 64, False), [(6, True)]),
    ("clamp-eof", "a 5-page file in a 16-page map", 5, None, (0, 16, True), [(0, False)]),
    ("clamp-map-end", "a 3-page map of 64 cached pages", 64, None, (0, 3, True), [(1, False)]),
    (
        "map-at-4k",
        "map from file page 1; read map page 0",
        64,
        None,
        (PAGE, 32, True),
        [(0, False)],
    ),
    (
        "map-at-60k",
        "map from file page 15; read map page 2",
        64,
        None,
        (60 * KiB, 32, True),
        [(2, False)],
    ),
    ("hole-read", "read a hole among cached pages", 32, (0, 1, 3), (0, 32, True), [(2, False)]),
    ("two-windows", "reads in two windows", 64, None, (0, 64, True), [(1, False), (40, False)]),
)


def fault_around(huge: str) -> Iterator[Trace]:
    """Rss after read and write faults with various neighbours cached.

    The window is aligned in *virtual* addresses (and clipped to the VMA and its page table),
    so these answers depend on where the mapping is put: deterministic because both runners
    place it by the rule of DESIGN.md §3.3 (on never, address ≡ file offset + 64 KiB mod
    2 MiB, which lines the windows up with 64 KiB-aligned file offsets).
    """
    for name, comment, pages, only, (moff, mpages, shared), touches in FAULT_AROUND:
        t = Trace(f"fault-around-{name}", f"fault-around: {comment}", huge)
        _cached(t, pages, only).mmap("f", "m", moff, mpages * PAGE, "rw", shared).smaps("m")
        for page, write in touches:
            t.touch("m", page * PAGE + 1, 1, 1, 0x5E if write else None).smaps("m")
        yield t.statfs()
    t = Trace(
        "fault-around-fallocated", "fallocated (not uptodate) pages are not mapped around", huge
    )
    t.create().fallocate("f", (), 0, 16 * PAGE).pwrite("f", 3 * PAGE, 1, 1)
    t.mmap("f", "m", 0, 16 * PAGE).touch("m", 3 * PAGE, 1).smaps("m").touch("m", 0, 1)
    yield t.smaps("m").lseek("f", 0, "DATA").lseek("f", 0, "HOLE").state("f")

    t = Trace("fault-around-after-dontneed", "DONTNEED then a read maps around again", huge)
    _cached(t, 32).mmap("f", "m", 0, 32 * PAGE).touch("m", 0, 32 * PAGE, WINDOW).smaps("m")
    yield t.madvise("m", 0, 32 * PAGE, "DONTNEED").smaps("m").touch("m", 5 * PAGE, 1).smaps("m")


#: Advice that only hints: 0 and nothing visible changes (content, size).
HINTS = ("NORMAL", "RANDOM", "SEQUENTIAL", "WILLNEED", "COLD", "PAGEOUT", "HUGEPAGE", "NOHUGEPAGE")


def _mapped16(t: Trace, shared: bool = True, prot: str = "rw") -> Trace:
    """16 written pages, mapped whole and all touched (read)."""
    t.create().pwrite("f", 0, 16 * PAGE, 0x44).mmap("f", "m", 0, 16 * PAGE, prot, shared)
    return t.touch("m", 0, 16 * PAGE).smaps("m")


def madvise_hints(huge: str) -> Iterator[Trace]:
    """Each hint on shared and private maps: ret, Rss, and the content after."""
    for advice in HINTS:
        for shared in (True, False):
            kind = "shared" if shared else "private"
            t = Trace(f"madvise-{advice.lower()}-{kind}", f"MADV_{advice} on a {kind} map", huge)
            _mapped16(t, shared).madvise("m", 0, 16 * PAGE, advice).smaps("m")
            t.touch("m", 0, 16 * PAGE, PAGE, 0x45).madvise("m", 4 * PAGE, 4 * PAGE, advice)
            yield t.smaps("m").readback("f", 16 * PAGE).state("f")


def madvise_zap(huge: str) -> Iterator[Trace]:
    """DONTNEED and REMOVE: unmapping versus punching, by mapping kind and fd mode."""
    t = Trace("madvise-dontneed-shared", "DONTNEED unmaps; the file keeps its data", huge)
    _mapped16(t).madvise("m", 4 * PAGE, 8 * PAGE, "DONTNEED").smaps("m").state("f")
    yield t.readback("f", 16 * PAGE).touch("m", 0, 16 * PAGE).smaps("m")

    t = Trace("madvise-remove-shared", "REMOVE on a shared rw map punches the file", huge)
    _mapped16(t).madvise("m", 2 * PAGE, 3 * PAGE, "REMOVE").smaps("m").state("f")
    yield t.readback("f", 16 * PAGE).lseek("f", 0, "HOLE").touch("m", 2 * PAGE, 1).smaps("m")

    t = Trace("madvise-remove-private", "REMOVE on a private map: EACCES", huge)
    yield _mapped16(t, False).madvise("m", 0, PAGE, "REMOVE").state("f").smaps("m")

    t = Trace("madvise-remove-shared-r", "REMOVE on a shared r map: by the fd's mode", huge)
    _mapped16(t, True, "r").madvise("m", 0, PAGE, "REMOVE").open("f", as_="r")
    t.mmap("r", "n", 0, 4 * PAGE, "r").madvise("n", PAGE, PAGE, "REMOVE")
    yield t.state("f").readback("f", 16 * PAGE)

    t = Trace("madvise-remove-past-eof", "REMOVE over a range crossing EOF", huge)
    t.create().pwrite("f", 0, 3 * PAGE, 1).mmap("f", "m", 0, 8 * PAGE)
    yield t.madvise("m", 2 * PAGE, 6 * PAGE, "REMOVE").state("f").readback("f", 4 * PAGE)


def madvise_populate(huge: str) -> Iterator[Trace]:
    """POPULATE_READ/WRITE (holes, EOF, r maps, private maps), FREE and COLLAPSE."""
    t = Trace("madvise-populate-read", "POPULATE_READ maps; on holes it allocates", huge)
    t.create().pwrite("f", 0, 4 * PAGE, 1).ftruncate("f", 16 * PAGE).mmap("f", "m", 0, 20 * PAGE)
    t.statfs().madvise("m", 0, 16 * PAGE, "POPULATE_READ").smaps("m").state("f")
    yield t.madvise("m", 0, 20 * PAGE, "POPULATE_READ").smaps("m").lseek("f", 0, "HOLE")

    t = Trace("madvise-populate-write", "POPULATE_WRITE allocates and dirties; r map refuses", huge)
    t.create().ftruncate("f", 8 * PAGE).mmap("f", "m", 0, 8 * PAGE).mmap("f", "r", 0, PAGE, "r")
    t.madvise("m", 0, 8 * PAGE, "POPULATE_WRITE").smaps("m").state("f")
    t.madvise("r", 0, PAGE, "POPULATE_WRITE").madvise("m", 0, 9 * PAGE, "POPULATE_WRITE")
    yield t.lseek("f", 0, "DATA").lseek("f", 0, "HOLE").readback("f", 8 * PAGE)

    t = Trace("madvise-populate-private", "POPULATE_WRITE on a private map copies", huge)
    _mapped16(t, False).madvise("m", 0, 16 * PAGE, "POPULATE_WRITE").smaps("m").state("f")
    yield t.readback("f", 16 * PAGE)

    t = Trace("madvise-free", "MADV_FREE on file mappings: EINVAL", huge)
    _mapped16(t).madvise("m", 0, PAGE, "FREE").mmap("f", "p", 0, PAGE, "rw", False)
    yield t.touch("p", 0, 1, 1, 1).madvise("p", 0, PAGE, "FREE").smaps("m")

    # Placement decides on never: COLLAPSE would succeed there if the mapping's address were
    # congruent to its file offset modulo 2M; the placement rule makes it never so (EINVAL).
    t = Trace("madvise-collapse", "MADV_COLLAPSE over a 2M-aligned whole mapping", huge)
    t.create().pwrite("f", 0, 2 * HPAGE, 1).mmap("f", "m", 0, 2 * HPAGE)
    t.touch("m", 0, 2 * HPAGE, 16 * PAGE).madvise("m", 0, 2 * HPAGE, "COLLAPSE")
    yield t.madvise("m", 0, PAGE, "COLLAPSE").readback("f", 2 * HPAGE).state("f")


def madvise_ranges(huge: str) -> Iterator[Trace]:
    """Unaligned, partly outside, dead handles, negative and zero lengths."""
    t = Trace("madvise-unaligned", "an unaligned start: EINVAL, whatever the advice", huge)
    _mapped16(t)
    for advice in ("NORMAL", "DONTNEED", "REMOVE", "WILLNEED", "COLLAPSE"):
        t.madvise("m", 1, PAGE, advice)
    yield t.madvise("m", PAGE - 1, 1, "DONTNEED").smaps("m")

    t = Trace("madvise-partly-outside", "a range past the map's end: applied there, ENOMEM", huge)
    _mapped16(t).madvise("m", 12 * PAGE, 8 * PAGE, "DONTNEED").smaps("m")
    t.madvise("m", 14 * PAGE, 4 * PAGE, "REMOVE").state("f").madvise("m", 0, 17 * PAGE, "COLD")
    yield t.readback("f", 16 * PAGE)

    t = Trace("madvise-dead-handle", "advice on unmapped / never-mapped handles: ENOMEM", huge)
    _mapped16(t).munmap("m").madvise("m", 0, PAGE, "DONTNEED").madvise("m", 0, PAGE, "NORMAL")
    t.madvise("m", 1, PAGE, "DONTNEED").mmap("f", "bad", 1, PAGE)
    yield t.madvise("bad", 0, PAGE, "WILLNEED").madvise("bad", 3, PAGE, "WILLNEED")

    t = Trace("madvise-lengths", "len 0 is a no-op, len -1 / -4096 EINVAL, len 1 a page", huge)
    _mapped16(t).madvise("m", 0, 0, "DONTNEED").smaps("m").madvise("m", 0, -1, "DONTNEED")
    t.madvise("m", 0, -PAGE, "DONTNEED").madvise("m", 0, 1, "DONTNEED").smaps("m")
    yield t.madvise("m", 16 * PAGE, 0, "DONTNEED")


def munmaps(huge: str) -> Iterator[Trace]:
    """munmap, then every op on the dead handle; the file keeps shared writes."""
    t = Trace("munmap-then-use", "after munmap: touch SIGSEGV, smaps zeros, munmap again 0", huge)
    t.create().pwrite("f", 0, 4 * PAGE, 1).mmap("f", "m", 0, 4 * PAGE)
    t.touch("m", 0, 4 * PAGE, PAGE, 2).smaps("m").munmap("m").touch("m", 0, 1)
    yield t.smaps("m").munmap("m").readback("f", 4 * PAGE).statfs()

    t = Trace("munmap-failed-map", "munmap of a handle whose mmap failed: 0", huge)
    yield t.create().mmap("f", "m", 0, 0).munmap("m").smaps("m").touch("m", 0, 1)

    t = Trace("munmap-private", "munmap drops private copies, not the file", huge)
    t.create().pwrite("f", 0, 2 * PAGE, 1).mmap("f", "p", 0, 2 * PAGE, "rw", False)
    yield t.touch("p", 0, 2 * PAGE, PAGE, 2).statfs().munmap("p").statfs().readback("f", 8192)

    t = Trace("munmap-one-of-two", "two maps of one file: unmapping one leaves the other", huge)
    t.create().pwrite("f", 0, 4 * PAGE, 1).mmap("f", "a", 0, 4 * PAGE).mmap("f", "b", 0, 4 * PAGE)
    t.touch("a", 0, 4 * PAGE, PAGE, 3).touch("b", 0, 4 * PAGE).smaps("a").smaps("b")
    yield t.munmap("a").smaps("a").smaps("b").touch("b", 0, 1, 1, 4).readback("f", 4 * PAGE)
