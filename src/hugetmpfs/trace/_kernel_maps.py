"""The kernel runner's mappings: mmap, munmap, touch, madvise, smaps and meminfo (DESIGN.md §3.3).

Runs inside the executor child only.  Map handles are mapping-relative views of real mappings
made with a NULL hint, so the kernel picks every address; whatever the contract defines
relative to the mapping (touch bounds, madvise clipping, smaps ranges) is done here, and
everything else is the kernel's answer.

Touch accesses go through ``/proc/self/mem`` rather than through a pointer: the kernel faults
the page in exactly as for a user access (same fault-around, same PMD mapping, same COW), but a
fault that would deliver SIGBUS makes the access fail with EIO instead of killing the runner.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

from hugetmpfs.trace import _syscalls as sc

PAGE = 4096
_SMAPS_FIELDS = {"Rss:": 0, "ShmemPmdMapped:": 1}
_MEMINFO_FIELDS = ("Shmem", "ShmemHugePages", "ShmemPmdMapped")
_STAT_REFRESH = "/proc/sys/vm/stat_refresh"


def round_up(n: int, to: int = PAGE) -> int:
    return -(-n // to) * to


def os_error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


@dataclass(frozen=True)
class Mapping:
    """One live mapping made by the trace."""

    addr: int
    span: int  # the VMA's length: the trace's length rounded up to pages
    writable: bool
    offset: int  # file offset of addr
    fd: int  # private dup() of the file, so i_size stays readable after the trace closes its fd


class Maps:
    """The map handles of one trace and the operations on them."""

    def __init__(self, huge: str) -> None:
        self.handles: dict[str, Mapping | None] = {}
        # On huge=never the contract itself defines SIGBUS past EOF (DESIGN.md §3.3 touch).
        self.huge_never = huge == "never"
        self.mem_fd = os.open("/proc/self/mem", os.O_RDWR)
        self.pagemap_fd = os.open("/proc/self/pagemap", os.O_RDONLY)

    def mmap(self, name: str, fd: int, offset: int, length: int, prot: str, shared: bool) -> None:
        """Map *fd*; a failure raises OSError and leaves *name* dead (it names the newest map)."""
        self.handles[name] = None
        prot_bits = sc.PROT_READ | (sc.PROT_WRITE if prot == "rw" else 0)
        flags = sc.MAP_SHARED if shared else sc.MAP_PRIVATE
        addr = sc.mmap(length, prot_bits, flags, fd, offset)
        self.handles[name] = Mapping(addr, round_up(length), prot == "rw", offset, os.dup(fd))

    def munmap(self, name: str) -> None:
        """Unmap *name*; a dead handle is a successful no-op (the contract's munmap ⇒ 0)."""
        m = self.handles.get(name)
        if m is None:
            return
        sc.munmap(m.addr, m.span)
        os.close(m.fd)
        self.handles[name] = None

    # -- touch --------------------------------------------------------------------------

    def touch(
        self, name: str, offset: int, length: int, stride: int, byte: int | None
    ) -> tuple[str | None, int]:
        """Make the accesses of one ``touch``; returns (signal name or None, accesses made)."""
        m = self.handles.get(name)
        if m is None:
            return "SIGSEGV", 0
        write = byte is not None
        limit = round_up(os.fstat(m.fd).st_size) if self.huge_never else None
        pos, end, done = offset, offset + length, 0
        while pos < end:
            fault = self._precheck(m, pos, write, limit)
            if fault is not None:
                return fault, done
            # Every access inside one 4 KiB page after the first behaves like the first (the
            # page is mapped by then), so a page's accesses are made together: this keeps a
            # stride-1 touch of 1 GiB at one or two syscalls per page.
            n = (min(end, (pos // PAGE + 1) * PAGE) - 1 - pos) // stride + 1
            made = self._access_page(m.addr + pos, n, stride, byte)
            done += made
            if made < n:
                return "SIGBUS", done
            pos += n * stride
        return None, done

    def _precheck(self, m: Mapping, pos: int, write: bool, limit: int | None) -> str | None:
        """The contract's checks before an access: the ones /proc/self/mem cannot make."""
        if not 0 <= pos < m.span or (write and not m.writable):
            # Outside the VMA /proc/self/mem would reach a neighbour; on a read-only mapping
            # it would write anyway (FOLL_FORCE).  A user access gets SIGSEGV in both cases.
            return "SIGSEGV"
        if limit is not None and m.offset + pos >= limit:
            return "SIGBUS"
        return None

    def _access_page(self, addr: int, n: int, stride: int, byte: int | None) -> int:
        """Make *n* accesses at addr, addr+stride, ... (one page); returns how many were made."""
        try:
            if byte is None:
                os.pread(self.mem_fd, 1, addr)
                return n
            os.pwrite(self.mem_fd, bytes((byte,)), addr)  # the first access takes the fault
        except OSError as e:
            if e.errno in (errno.EIO, errno.EFAULT):  # the fault would have raised SIGBUS
                return 0
            raise
        if n > 1:  # the page is mapped writable now: read-modify-write the rest in one go
            span = (n - 1) * stride + 1
            data = bytearray(os.pread(self.mem_fd, span, addr))
            data[::stride] = bytes((byte,)) * n
            os.pwrite(self.mem_fd, data, addr)
        return n

    # -- madvise ------------------------------------------------------------------------

    def madvise(self, name: str, offset: int, length: int, advice: str) -> None:
        """madvise a mapping-relative range; raises OSError with the answer."""
        # mm/madvise.c checks the arguments before looking at any VMA: an unaligned start or
        # a negative length is EINVAL, an empty range succeeds, whatever is mapped there.
        if offset % PAGE or length < 0:
            raise os_error(errno.EINVAL)
        if length == 0:
            return
        m = self.handles.get(name)
        if m is None:
            raise os_error(errno.ENOMEM)  # the whole range is unmapped
        start, end = offset, offset + round_up(length)
        lo, hi = max(start, 0), min(end, m.span)
        if lo >= hi:
            raise os_error(errno.ENOMEM)
        if (lo, hi) == (start, end):
            sc.madvise(m.addr + offset, length, sc.MADVICE[advice])
            return
        # Clip to the mapping ourselves: the kernel would also advise any neighbouring VMA.
        # As in madvise_walk_vmas, an error from the mapped part wins over the gap's ENOMEM.
        sc.madvise(m.addr + lo, hi - lo, sc.MADVICE[advice])
        raise os_error(errno.ENOMEM)

    # -- smaps --------------------------------------------------------------------------

    def smaps(self, name: str) -> tuple[int, int]:
        """(Rss, ShmemPmdMapped) in kB over the mapping's own address range; zeros when dead."""
        m = self.handles.get(name)
        if m is None:
            return 0, 0
        lo, hi = m.addr, m.addr + m.span
        totals = [0, 0]
        for start, end, values in _smaps_entries(lo, hi):
            if lo <= start and end <= hi:
                totals[0] += values[0]
                totals[1] += values[1]
            else:
                # The VMA was merged with a neighbour mapping the same file at the adjacent
                # offsets; smaps cannot split it, so count our part's page-table entries.
                rss, pmd = self._scan(max(start, lo), min(end, hi))
                totals[0] += rss
                totals[1] += pmd
        return totals[0], totals[1]

    def _scan(self, start: int, end: int) -> tuple[int, int]:
        rss = pmd = 0
        for s, e, categories in sc.pagemap_scan(self.pagemap_fd, start, end):
            rss += (e - s) // 1024
            if categories & sc.PAGE_IS_HUGE:  # a PMD-mapped folio: shmem in a tmpfs mapping
                pmd += (e - s) // 1024
        return rss, pmd


def _smaps_entries(lo: int, hi: int) -> list[tuple[int, int, list[int]]]:
    """The /proc/self/smaps entries overlapping [lo, hi): (start, end, [Rss, ShmemPmdMapped])."""
    entries: list[tuple[int, int, list[int]]] = []
    current: list[int] | None = None
    with open("/proc/self/smaps") as f:
        for line in f:
            if line[0] in "0123456789abcdef":  # a VMA header; field names start in uppercase
                start, _, end = line.split(" ", 1)[0].partition("-")
                s, e = int(start, 16), int(end, 16)
                current = [0, 0] if s < hi and e > lo else None
                if current is not None:
                    entries.append((s, e, current))
            elif current is not None:
                key, _, rest = line.partition(" ")
                if key in _SMAPS_FIELDS:
                    current[_SMAPS_FIELDS[key]] = int(rest.split()[0])
    return entries


def meminfo() -> dict[str, int]:
    """The Shmem counters of /proc/meminfo in kB, with the per-CPU deltas folded in first."""
    try:
        # A refresh, not a setting: it folds per-CPU vmstat diffs into the global counters.
        with open(_STAT_REFRESH, "w") as f:
            f.write("1")
    except OSError:
        pass
    values: dict[str, int] = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in _MEMINFO_FIELDS:
                values[key] = int(rest.split()[0])
    return values
