"""Families on descriptors: open flags, closed and failed handles (fd −1), errno precedence,
and unlink while descriptors and mappings still hold the file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracegen.builder import HPAGE, INT64_MAX, PAGE, Trace

if TYPE_CHECKING:
    from collections.abc import Iterator


def _file_ops(t: Trace, fd: str) -> Trace:
    """Every file op once on *fd*, valid arguments: shows which ones its access mode allows."""
    t.pwrite(fd, 0, 10, 0x77).pread(fd, 0, 10).ftruncate(fd, PAGE)
    t.fallocate(fd, ("KEEP_SIZE",), 0, PAGE).lseek(fd, 0, "END").fstat(fd)
    return t.mmap(fd, "mr", 0, PAGE, "r", True).mmap(fd, "mw", 0, PAGE, "rw", True)


def open_flags(huge: str) -> Iterator[Trace]:
    """Each access mode and flag of open, on existing and missing files."""
    t = Trace("open-excl-exists", "O_CREAT|O_EXCL on an existing file: EEXIST, handle is -1", huge)
    t.create().open("f", "RDWR", "CREAT", "EXCL", as_="g").pread("g", 0, 1).fstat("g")
    yield t.open("f", "RDWR", "EXCL", as_="h").fstat("h").open("g2", "CREAT", "EXCL").fstat("g2")

    t = Trace("open-missing", "opening a missing file without O_CREAT: ENOENT", huge)
    t.open("nope", as_="a").open("nope", "RDWR", as_="b").open("nope", "WRONLY", "TRUNC", as_="c")
    yield t.fstat("a").open("nope", "WRONLY", "CREAT", as_="d").fstat("d").statfs()

    t = Trace("open-trunc", "O_TRUNC on reopen empties the file and frees its pages", huge)
    t.create().pwrite("f", 0, 3 * PAGE, 1).close("f").statfs().open("f", "RDWR", "TRUNC")
    yield t.state("f").pread("f", 0, PAGE)

    t = Trace("open-trunc-rdonly", "O_RDONLY|O_TRUNC still truncates on Linux", huge)
    t.create().pwrite("f", 0, 5000, 1).open("f", "RDONLY", "TRUNC", as_="r")
    yield t.state("r").fstat("f").pwrite("r", 0, 1, 1)

    t = Trace("open-append", "O_APPEND: pwrite appends whatever the offset", huge)
    t.open("f", "WRONLY", "CREAT", "APPEND").pwrite("f", 0, 100, 1).pwrite("f", 0, 50, 2)
    t.pwrite("f", 10000, 7, 3).pwrite_hex("f", 1, b"\xab\xcd").state("f")
    t.lseek("f", 0, "CUR").open("f", as_="r")
    yield t.readback("r", 8192).pread("f", 0, 1)

    t = Trace("open-append-rdwr", "O_RDWR|O_APPEND: reads at offsets, writes at the end", huge)
    t.open("f", "RDWR", "CREAT", "APPEND").pwrite("f", 0, PAGE, 1).pwrite("f", 5, 3, 2)
    t.pread("f", 0, PAGE + 3).pread("f", PAGE, 10).pwrite("f", -1, 1, 1).ftruncate("f", 10)
    yield t.pwrite("f", 0, 1, 4).state("f").readback("f", 100)

    t = Trace("open-path-slash", "paths with '/': ENOTDIR under a file, ENOENT under nothing", huge)
    t.create().open("f/x", "RDWR", "CREAT", as_="a").open("d/x", "RDWR", "CREAT", as_="b")
    yield t.unlink("f/x").unlink("d/x").fstat("a").statfs()

    t = Trace("open-two-handles", "two descriptors on one file see each other's writes", huge)
    t.create().open("f", "RDWR", as_="g").pwrite("f", 0, 5000, 1).pread("g", 0, 6000)
    yield t.ftruncate("g", 100).fstat("f").pwrite("g", 200, 1, 2).readback("f", 300)


def open_modes(huge: str) -> Iterator[Trace]:
    """Every file op on descriptors of each access mode, including mode 3."""
    t = Trace("open-rdonly-ops", "every file op on an O_RDONLY descriptor", huge)
    t.create().pwrite("f", 0, 3 * PAGE, 9).open("f", as_="r")
    yield _file_ops(t, "r").state("f").readback("f", 4 * PAGE)

    t = Trace("open-wronly-ops", "every file op on an O_WRONLY descriptor", huge)
    t.create().pwrite("f", 0, 3 * PAGE, 9).open("f", "WRONLY", as_="w")
    yield _file_ops(t, "w").state("f").readback("f", 4 * PAGE)

    t = Trace("open-wronly-rdwr", "O_WRONLY|O_RDWR (access mode 3): neither read nor write", huge)
    t.create().pwrite("f", 0, 3 * PAGE, 9).open("f", "WRONLY", "RDWR", as_="x")
    yield _file_ops(t, "x").state("f").readback("f", 4 * PAGE)

    t = Trace("open-wronly-rdwr-creat", "O_WRONLY|O_RDWR|O_CREAT creates the file", huge)
    t.open("g", "WRONLY", "RDWR", "CREAT").fstat("g").pwrite("g", 0, 1, 1).open("g", as_="r")
    yield t.fstat("r").statfs()

    t = Trace("open-rdonly-creat", "O_RDONLY|O_CREAT creates an empty file, writes EBADF", huge)
    t.open("f", "CREAT").state("f").pwrite("f", 0, 1, 1).ftruncate("f", 10).fstat("f")
    yield t.open("f", "EXCL", as_="e").fstat("e")


def reused_handles(huge: str) -> Iterator[Trace]:
    """An ``as`` reused names the newest object; the older one stays open (and mapped)."""
    t = Trace("as-reuse-open", "reusing a handle name leaves the old descriptor open", huge)
    t.open("a", "RDWR", "CREAT", as_="h").pwrite("h", 0, 2 * PAGE, 1).unlink("a").statfs()
    t.open("b", "RDWR", "CREAT", as_="h").pwrite("h", 0, PAGE, 2).statfs().close("h")
    yield t.statfs().pread("h", 0, 1).close("h")

    t = Trace("as-reuse-failed-open", "a failed open makes the reused handle -1", huge)
    t.open("a", "RDWR", "CREAT", as_="h").pwrite("h", 0, PAGE, 1)
    t.open("missing", "RDWR", as_="h").pwrite("h", 0, 1, 2).fstat("h").close("h")
    yield t.open("a", as_="r").readback("r", 2 * PAGE).statfs()

    t = Trace("as-reuse-mmap", "reusing a map name leaves the old mapping in place", huge)
    t.create().pwrite("f", 0, 4 * PAGE, 1).mmap("f", "m", 0, 4 * PAGE)
    t.touch("m", 0, 4 * PAGE, PAGE, 2).mmap("f", "m", 1, PAGE).touch("m", 0, 1)
    yield t.smaps("m").munmap("m").readback("f", 5 * PAGE).statfs()


def closed_handles(huge: str) -> Iterator[Trace]:
    """fd −1 after close or a failed open: which checks come before EBADF."""
    for how in ("closed", "failed-open"):
        t = Trace(
            f"fd-minus-one-{how}",
            f"a {how} handle: EINVAL for bad offsets/lengths first, else EBADF",
            huge,
        )
        t.create().pwrite("f", 0, PAGE, 1)
        if how == "closed":
            t.close("f")
        else:
            t.open("missing", "RDWR", as_="f")
        t.pread("f", 0, 1).pread("f", -1, 1).pwrite("f", 0, 1, 1).pwrite("f", -PAGE, 1, 1)
        t.pwrite_hex("f", -1, b"\x00").ftruncate("f", 0).ftruncate("f", -1)
        t.fallocate("f", ("ZERO_RANGE",), 0, PAGE).fallocate("f", ("KEEP_SIZE",), -1, 0)
        t.lseek("f", -1, "SET").lseek("f", -1, "DATA").fstat("f")
        t.mmap("f", "m", 1, PAGE).mmap("f", "m", 0, PAGE).mmap("f", "m", 0, 0)
        t.mmap("f", "m", PAGE + 1, 0).mmap("f", "m", 0, PAGE, "r", False)
        yield t.touch("m", 0, 1).close("f").statfs()

    t = Trace("close-twice", "closing a closed handle: EBADF", huge)
    yield t.create().close("f").close("f").fstat("f")

    t = Trace("close-then-reopen", "a handle name reopened after close works again", huge)
    t.create().pwrite("f", 0, 10, 1).close("f").pread("f", 0, 10).open("f", "RDWR")
    yield t.pread("f", 0, 10).pwrite("f", 10, 10, 2).state("f")

    t = Trace("close-while-mapped", "a mapping outlives its descriptor", huge)
    t.create().pwrite("f", 0, 2 * PAGE, 1).mmap("f", "m", 0, 2 * PAGE).close("f")
    t.touch("m", 0, 2 * PAGE, PAGE, 5).smaps("m").open("f", as_="r")
    yield t.readback("r", 3 * PAGE).madvise("m", 0, PAGE, "DONTNEED").smaps("m").statfs()


def errno_precedence(huge: str) -> Iterator[Trace]:
    """Which of two errors Linux reports, one syscall at a time."""
    t = Trace("errno-ftruncate-rdonly", "ftruncate on O_RDONLY: EINVAL, negative too", huge)
    t.create().pwrite("f", 0, 100, 1).open("f", as_="r")
    yield t.ftruncate("r", 10).ftruncate("r", -1).ftruncate("r", 1 << 40).fstat("f")

    t = Trace("errno-rw-wrong-mode", "pread on O_WRONLY / pwrite on O_RDONLY", huge)
    t.create().pwrite("f", 0, 100, 1).open("f", as_="r").open("f", "WRONLY", as_="w")
    t.pwrite("r", 0, 0, 1).pwrite("r", -1, 1, 1).pwrite("r", INT64_MAX, 1, 1)
    yield t.pread("w", 0, 0).pread("w", -1, 1).pread("w", INT64_MAX, 1).fstat("f")

    t = Trace("errno-fallocate-rdonly", "fallocate on O_RDONLY: range, then mode, then EBADF", huge)
    t.create().pwrite("f", 0, 100, 1).open("f", as_="r").fallocate("r", (), 0, 0)
    t.fallocate("r", ("ZERO_RANGE",), 0, PAGE).fallocate("r", ("PUNCH_HOLE",), 0, PAGE)
    t.fallocate("r", ("KEEP_SIZE",), 0, PAGE).fallocate("r", ("KEEP_SIZE",), INT64_MAX - 1, 10)
    yield t.fallocate("r", ("PUNCH_HOLE", "KEEP_SIZE"), 0, PAGE).state("f")

    t = Trace("errno-offset-overflow", "offset + len past INT64_MAX for pread/pwrite", huge)
    t.create().pwrite("f", INT64_MAX, 1, 1).pwrite("f", INT64_MAX - 1, 2, 1)
    t.pwrite("f", INT64_MAX, 0, 1).pread("f", INT64_MAX - 1, 2).pread("f", INT64_MAX, 0)
    yield t.pwrite("f", 1 << 40, 1, 2).state("f").pread("f", (1 << 40) - 1, 3)

    t = Trace("errno-mmap-order", "mmap: offset alignment, then fd, then length, then access", huge)
    t.create().pwrite("f", 0, PAGE, 1).open("f", as_="r")
    t.mmap("r", "a", 1, 0).mmap("r", "b", 0, 0).mmap("r", "c", 1, PAGE, "rw")
    t.mmap("r", "d", 0, 0, "rw").mmap("r", "e", 0, PAGE, "rw").mmap("r", "g", -PAGE, PAGE, "r")
    t.mmap("r", "h", HPAGE, PAGE, "r").mmap("r", "i", 0, -PAGE, "r")
    yield t.smaps("a").smaps("h").touch("h", 0, 1)

    t = Trace("errno-lseek-data-order", "SEEK_DATA: negative is ENXIO; closed fd EBADF first", huge)
    t.create().pwrite("f", 0, 100, 1).lseek("f", -1, "DATA").lseek("f", -1, "HOLE")
    yield t.close("f").lseek("f", -1, "DATA").lseek("f", 0, "SET")


def unlinks(huge: str) -> Iterator[Trace]:
    """unlink while descriptors and mappings keep the inode: space freed only at the end."""
    t = Trace("unlink-open-fd", "unlinked file stays readable and writable until closed", huge)
    t.create().pwrite("f", 0, 2 * PAGE, 1).statfs().unlink("f").pread("f", 0, 2 * PAGE)
    t.pwrite("f", 2 * PAGE, PAGE, 2).state("f").open("f", as_="g").close("f")
    yield t.statfs().pread("f", 0, 1)

    t = Trace("unlink-mapped", "unlinked and closed, the mapping keeps the pages", huge)
    t.create().pwrite("f", 0, 3 * PAGE, 1).mmap("f", "m", 0, 4 * PAGE).close("f")
    t.unlink("f").statfs().touch("m", 0, 3 * PAGE, PAGE, 7).touch("m", 0, 4 * PAGE)
    yield t.smaps("m").statfs().munmap("m").statfs()

    t = Trace("unlink-recreate", "a new file under an unlinked name is independent", huge)
    t.create().pwrite("f", 0, PAGE, 1).unlink("f").create(as_="g").state("g")
    yield t.pwrite("g", 0, 10, 2).pread("f", 0, PAGE).pread("g", 0, PAGE).statfs()

    t = Trace("unlink-missing", "unlink of a missing or already unlinked file: ENOENT", huge)
    t.unlink("nope").create().unlink("f").unlink("f").open("f", "RDWR", as_="g")
    yield t.statfs()

    t = Trace("unlink-then-mmap", "mmap of an unlinked file's descriptor, private rw", huge)
    t.create().pwrite("f", 0, 2 * PAGE, 1).open("f", as_="r").close("f").unlink("f")
    t.mmap("r", "m", 0, 2 * PAGE, "rw", False).touch("m", 0, 2 * PAGE, PAGE, 9)
    yield t.smaps("m").readback("r", 2 * PAGE).statfs().close("r").statfs()

    t = Trace("unlink-two-files", "space of two files, one unlinked and closed", huge)
    t.create("a").create("b").pwrite("a", 0, 5 * PAGE, 1).pwrite("b", 0, 3 * PAGE, 2)
    yield t.statfs().unlink("a").statfs().close("a").statfs().fstat("b")
