"""Families on mappings: mmap checks, touch strides, SIGBUS/SIGSEGV, private COW, fault-around.

A touch reports only whether and where it faulted; what it did to the file is read back with
pread, and what it mapped with smaps (Rss), which is how fault-around becomes visible.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracegen.builder import HPAGE, PAGE, KiB, Trace

if TYPE_CHECKING:
    from collections.abc import Iterator

#: (descriptor flags, name) for the mmap permission matrix.
FD_MODES = (
    (("RDONLY",), "rdonly"),
    (("WRONLY",), "wronly"),
    (("RDWR",), "rdwr"),
    (("RDWR", "APPEND"), "rdwr-append"),
    (("WRONLY", "RDWR"), "wronly-rdwr"),
)


def mmap_modes(huge: str) -> Iterator[Trace]:
    """shared/private × r/rw on each access mode: EACCES where the descriptor cannot back it."""
    for flags, name in FD_MODES:
        t = Trace(f"mmap-modes-{name}", f"mmap shared/private r/rw on an O_{name} fd", huge)
        t.create().pwrite("f", 0, 2 * PAGE, 0x21).open("f", *flags, as_="d")
        for shared in (True, False):
            for prot in ("r", "rw"):
                m = f"{'s' if shared else 'p'}{prot}"
                t.mmap("d", m, 0, 2 * PAGE, prot, shared).touch(m, 0, 2 * PAGE)
                if prot == "rw":
                    t.touch(m, 10, 1, 1, 0x99)
                t.smaps(m)
        yield t.readback("f", 3 * PAGE).statfs()


def mmap_args(huge: str) -> Iterator[Trace]:
    """Offsets, lengths and placement beyond EOF."""
    t = Trace("mmap-unaligned-offsets", "offsets 1, 4095, 4097, 2M+1: EINVAL", huge)
    t.create().pwrite("f", 0, 4 * PAGE, 1)
    for off in (1, PAGE - 1, PAGE + 1, HPAGE + 1):
        t.mmap("f", "m", off, PAGE)
    yield t.touch("m", 0, 1).madvise("m", 0, PAGE, "DONTNEED").smaps("m")

    t = Trace("mmap-length-0-and-1", "length 0: EINVAL; length 1 maps a whole page", huge)
    t.create().pwrite("f", 0, 2 * PAGE, 1).mmap("f", "z", 0, 0).mmap("f", "m", 0, 1)
    t.touch("m", 0, 1).touch("m", PAGE - 1, 1, 1, 3).touch("m", PAGE, 1)
    yield t.smaps("m").smaps("z").readback("f", 2 * PAGE)

    t = Trace("mmap-beyond-eof", "a mapping longer than the file: SIGBUS past round_up(EOF)", huge)
    t.create().pwrite("f", 0, 5000, 1).mmap("f", "m", 0, 5 * PAGE)
    t.touch("m", 0, 5 * PAGE).touch("m", 0, 5 * PAGE, PAGE, 2).touch("m", 8191, 2, 1)
    yield t.smaps("m").readback("f", 3 * PAGE).state("f")

    t = Trace("mmap-offset-past-eof", "mapping entirely beyond EOF: first access SIGBUS", huge)
    t.create().pwrite("f", 0, 2 * PAGE, 1).mmap("f", "m", 1 << 20, 4 * PAGE)
    yield t.touch("m", 0, PAGE).touch("m", 0, 1, 1, 1).smaps("m").state("f")

    t = Trace("mmap-file-grows-shrinks", "ftruncate while mapped moves the SIGBUS line", huge)
    t.create().pwrite("f", 0, PAGE, 1).mmap("f", "m", 0, 8 * PAGE)
    t.touch("m", 0, 8 * PAGE).ftruncate("f", 6 * PAGE + 1).touch("m", 0, 8 * PAGE)
    t.touch("m", 0, 8 * PAGE, PAGE, 4).smaps("m").ftruncate("f", 2 * PAGE)
    yield t.smaps("m").touch("m", 0, 8 * PAGE).readback("f", 8 * PAGE).state("f")

    t = Trace("mmap-at-offset", "a mapping of [2M, 4M) of a 4M file and one at 12K", huge)
    t.create().pwrite("f", 0, 2 * HPAGE, 1).mmap("f", "m", HPAGE, HPAGE)
    t.touch("m", 0, HPAGE, 64 * KiB, 2).mmap("f", "n", 3 * PAGE, 4 * PAGE, "r")
    yield t.touch("n", 0, 4 * PAGE).smaps("m").smaps("n").readback("f", 2 * HPAGE)


#: (name, file size, map length, touch offset, len, stride) — odd strides and offsets included.
STRIDES = (
    ("stride-1", 3 * PAGE, 3 * PAGE, 4090, 12, 1),
    ("stride-4096", 16 * PAGE, 16 * PAGE, 0, 16 * PAGE, PAGE),
    ("stride-8192", 16 * PAGE, 16 * PAGE, 0, 16 * PAGE, 8192),
    ("stride-4097", 16 * PAGE, 16 * PAGE, 0, 16 * PAGE, 4097),
    ("stride-3000", 8 * PAGE, 8 * PAGE, 100, 8 * PAGE - 100, 3000),
    ("stride-12289", 32 * PAGE, 32 * PAGE, 1, 32 * PAGE - 1, 12289),
    ("stride-64k", HPAGE, HPAGE, PAGE, HPAGE - PAGE, 64 * KiB),
    ("stride-huge", 16 * PAGE, 16 * PAGE, 5, 16 * PAGE, 1 << 40),
    ("stride-len-0", 4 * PAGE, 4 * PAGE, 0, 0, 1),
    ("stride-4097-past-eof", 10000, 8 * PAGE, 0, 8 * PAGE, 4097),
    ("stride-8192-past-eof", 5 * PAGE + 1, 16 * PAGE, PAGE, 15 * PAGE, 8192),
    ("stride-1-across-eof", 5000, 3 * PAGE, 8180, 20, 1),
    ("stride-3-past-map", 2 * PAGE, 2 * PAGE, 2 * PAGE - 7, 20, 3),
)


def touch_strides(huge: str) -> Iterator[Trace]:
    """Write then read touches with a stride, then the file's content.

    Rss is read after the write touch, where write faults have mapped exactly the pages
    written (read faults map their fault-around windows: see advise.fault_around).
    """
    for name, size, length, off, n, stride in STRIDES:
        t = Trace(
            f"touch-{name}",
            f"{size}-byte file, map {length}: touch read/write at {off} len {n} stride {stride}",
            huge,
        )
        t.create().pwrite("f", 0, size, 0x33).mmap("f", "m", 0, length)
        t.touch("m", off, n, stride, 0xC4).smaps("m").touch("m", off, n, stride)
        yield t.readback("f", size + PAGE).state("f")
    t = Trace("touch-write-hole-stride", "write touches fill a sparse file's holes", huge)
    t.create().ftruncate("f", 64 * PAGE).mmap("f", "m", 0, 64 * PAGE).statfs()
    t.touch("m", 0, 64 * PAGE, 3 * PAGE, 1).state("f").smaps("m")
    yield t.touch("m", PAGE, 64 * PAGE, 7 * PAGE).state("f").readback("f", 64 * PAGE)


def faults(huge: str) -> Iterator[Trace]:
    """SIGSEGV outside the mapping or on write to r, dead handles; SIGBUS before SIGSEGV."""
    t = Trace("segv-outside", "negative offset and past round_up(length): SIGSEGV", huge)
    t.create().pwrite("f", 0, 4 * PAGE, 1).mmap("f", "m", 0, 5000).touch("m", -1, 1)
    t.touch("m", 8191, 1).touch("m", 8192, 1).touch("m", 0, 3 * PAGE, PAGE, 2)
    yield t.touch("m", -PAGE, 2 * PAGE, PAGE).smaps("m").readback("f", 4 * PAGE)

    t = Trace("segv-write-to-r", "write touches on prot r maps: SIGSEGV, shared and private", huge)
    t.create().pwrite("f", 0, 2 * PAGE, 1).mmap("f", "s", 0, 2 * PAGE, "r")
    t.mmap("f", "p", 0, 2 * PAGE, "r", False).touch("s", 0, 2 * PAGE)
    t.touch("s", 0, 2 * PAGE, PAGE, 1).touch("p", 5, 1, 1, 1).touch("p", 0, 2 * PAGE)
    yield t.smaps("s").smaps("p").readback("f", 2 * PAGE)

    t = Trace("segv-dead-handles", "touches on unmapped and never-mapped handles", huge)
    t.create().pwrite("f", 0, PAGE, 1).mmap("f", "m", 0, PAGE).touch("m", 0, 1, 1, 1)
    t.munmap("m").touch("m", 0, 1).touch("m", 0, 1, 1, 2).mmap("f", "bad", 0, 0)
    yield t.touch("bad", 0, 10, 1).smaps("bad").readback("f", PAGE)

    t = Trace("sigbus-before-segv", "past EOF and past the map: the first bad access wins", huge)
    t.create().pwrite("f", 0, PAGE, 1).mmap("f", "m", 0, 2 * PAGE)
    t.touch("m", 0, 3 * PAGE, PAGE).touch("m", 0, 3 * PAGE, PAGE, 5)
    t.touch("m", 2 * PAGE, 1).ftruncate("f", 0).touch("m", 0, 1)
    yield t.smaps("m").state("f")


def private_cow(huge: str) -> Iterator[Trace]:
    """MAP_PRIVATE writes copy the page: the file is unchanged, other maps too."""
    t = Trace("cow-private-write", "private writes leave the file's content unchanged", huge)
    t.create().pwrite("f", 0, 4 * PAGE, 1).mmap("f", "p", 0, 4 * PAGE, "rw", False)
    t.touch("p", 0, 4 * PAGE, PAGE, 2).smaps("p").readback("f", 4 * PAGE).statfs()
    t.mmap("f", "s", 0, 4 * PAGE, "r").touch("s", 0, 4 * PAGE).smaps("s")
    yield t.pwrite("f", 0, PAGE, 3).touch("p", 0, 4 * PAGE).smaps("p").readback("f", 4 * PAGE)

    t = Trace("cow-read-then-write", "private read fault, then write fault on the same page", huge)
    t.create().pwrite("f", 0, 2 * PAGE, 1).mmap("f", "p", 0, 2 * PAGE, "rw", False)
    t.touch("p", 0, 2 * PAGE).smaps("p").touch("p", 1, 1, 1, 2).smaps("p")
    yield t.readback("f", 2 * PAGE).state("f")

    t = Trace("cow-hole", "private write on a hole allocates the file page, not data", huge)
    t.create().ftruncate("f", 4 * PAGE).statfs().mmap("f", "p", 0, 4 * PAGE, "rw", False)
    t.touch("p", PAGE, 1, 1, 9).state("f").smaps("p").readback("f", 4 * PAGE)
    yield t.lseek("f", 0, "DATA").lseek("f", 0, "HOLE")

    t = Trace("cow-rdonly-fd", "private rw on an O_RDONLY fd: writes stay private", huge)
    t.create().pwrite("f", 0, 2 * PAGE, 1).open("f", as_="r")
    t.mmap("r", "p", 0, 2 * PAGE, "rw", False).touch("p", 0, 2 * PAGE, 100, 5)
    yield t.smaps("p").readback("r", 2 * PAGE)

    t = Trace("cow-then-truncate", "truncation also drops private copies: SIGBUS after", huge)
    t.create().pwrite("f", 0, 4 * PAGE, 1).mmap("f", "p", 0, 4 * PAGE, "rw", False)
    t.touch("p", 0, 4 * PAGE, PAGE, 2).ftruncate("f", PAGE).touch("p", 0, 4 * PAGE)
    yield t.smaps("p").ftruncate("f", 4 * PAGE).touch("p", 0, 4 * PAGE).smaps("p")

    t = Trace("cow-past-eof", "private write beyond EOF: SIGBUS", huge)
    t.create().pwrite("f", 0, 100, 1).mmap("f", "p", 0, 3 * PAGE, "rw", False)
    yield t.touch("p", 0, 3 * PAGE, PAGE, 2).smaps("p").readback("f", PAGE).state("f")

    t = Trace("cow-dontneed", "MADV_DONTNEED on a private map drops the copies", huge)
    t.create().pwrite("f", 0, 4 * PAGE, 1).mmap("f", "p", 0, 4 * PAGE, "rw", False)
    t.touch("p", 0, 4 * PAGE, PAGE, 2).madvise("p", 0, 2 * PAGE, "DONTNEED").smaps("p")
    yield t.touch("p", 0, 4 * PAGE).smaps("p").readback("f", 4 * PAGE)
