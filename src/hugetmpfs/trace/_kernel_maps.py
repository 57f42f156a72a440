"""The kernel runner's mappings: mmap, munmap, touch, madvise, smaps and meminfo (DESIGN.md §3.3).

Runs inside the executor child only.  Map handles are mapping-relative views of real mappings;
whatever the contract defines relative to the mapping (touch bounds, madvise clipping, smaps
ranges) is done here, and everything else is the kernel's answer.

**Placement.**  Where a mapping lies in virtual memory changes answers the traces see: a read
fault maps the cached pages of its 16-page fault-around window, which is aligned in *virtual*
addresses and clipped to the VMA and to its page table (so ``smaps.Rss`` depends on the
address), and a PMD mapping, or ``MADV_COLLAPSE``, needs the address to be congruent to the
file offset modulo HPAGE_PMD_SIZE (2 MiB).  Left to ASLR, these answers change from run to
run, so both runners place every mapping by one rule (DESIGN.md §3.3 "Placement"):

- on a mount where huge pages may be used (huge=always/within_size/advise, or any mount while
  ``shmem_enabled`` is ``force``): address ≡ file offset (mod 2 MiB), congruent;
- on huge=never: address ≡ file offset + 64 KiB (mod 2 MiB), never congruent (never
  PMD-mappable: ``MADV_COLLAPSE`` is EINVAL).  A read fault at file offset *o* then maps the
  cached pages of [s, s + 64 KiB), where s = max(round_down(o, 64 KiB), the mapping's first
  file offset), clipped to the mapping's end and to its page table, whose 2 MiB boundaries
  fall at file offsets ≡ 2 MiB − 64 KiB (mod 2 MiB) (mm/memory.c ``do_fault_around``).

:class:`AddressSpace` makes it so.  Once per executor it reserves a large range of address
space (PROT_NONE, MAP_NORESERVE: no memory, no commit charge) and hands out fresh slots from
a cursor: each mapping gets a slot of its own, 2 MiB-aligned, at least 2 MiB away from the
previous one (so no two trace mappings are ever adjacent and merge), and is mapped there with
MAP_FIXED at ``slot + ((offset + shift) mod 2 MiB)``.  MAP_FIXED changes no errno: every
argument error (unaligned offset EINVAL, bad descriptor EBADF, length 0 EINVAL, offset + length
overflowing EOVERFLOW, open-mode EACCES) is decided by the kernel before or without replacing
what is at the address, and an offset that is negative or not page-aligned, or a length that
is not positive or does not fit in the reservation, is passed to the kernel as before, with a
NULL hint, so its own answer comes back (tests/trace/test_kernel_runner.py compares both
ways).  munmap maps PROT_NONE back over the mapping (one MAP_FIXED call, so the reservation
never has a hole that another mmap of this process could take), and slots are never reused:
the cursor only moves forward, so a mapping's address depends only on the trace's own mmaps,
in order.

Touch accesses go through ``/proc/self/mem`` rather than through a pointer: the kernel faults
the page in exactly as for a user access (same fault-around, same PMD mapping, same COW), but a
fault that would deliver SIGBUS makes the access fail with EIO instead of killing the runner.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

from hugetmpfs.trace import _syscalls as sc
from hugetmpfs.trace.syscall_names import MADVICE

PAGE = 4096
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
HPAGE_PMD_SIZE = 2 * MiB  # x86-64 and arm64 with 4 KiB pages
#: How far from congruent a mapping is placed on a mount without huge pages.
NEVER_SHIFT = 64 * KiB
#: Address space reserved per executor: virtual only (PROT_NONE, MAP_NORESERVE).
RESERVATION = 512 * GiB
_RESERVE_FLAGS = sc.MAP_PRIVATE | sc.MAP_ANONYMOUS | sc.MAP_NORESERVE
_SHMEM_ENABLED = "/sys/kernel/mm/transparent_hugepage/shmem_enabled"
_SMAPS_FIELDS = {"Rss:": 0, "ShmemPmdMapped:": 1}
_MEMINFO_FIELDS = ("Shmem", "ShmemHugePages", "ShmemPmdMapped")
_STAT_REFRESH = "/proc/sys/vm/stat_refresh"


def round_up(n: int, to: int = PAGE) -> int:
    return -(-n // to) * to


def os_error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def huge_pages_possible(huge: str) -> bool:
    """Whether a mount with this ``huge=`` may use huge pages on this host (read, never set)."""
    if huge != "never":
        return True
    try:
        with open(_SHMEM_ENABLED) as f:
            return "[force]" in f.read()  # forces huge pages on every tmpfs mount
    except OSError:
        return False


def placement_shift(huge: str) -> int:
    """(address − file offset) mod HPAGE_PMD_SIZE for every mapping on this mount."""
    return 0 if huge_pages_possible(huge) else NEVER_SHIFT


class AddressSpace:
    """Deterministic placement: fresh slots of one reserved range (see the module docstring)."""

    def __init__(self, shift: int, size: int = RESERVATION) -> None:
        self.shift = shift
        raw = sc.mmap(size + HPAGE_PMD_SIZE, sc.PROT_NONE, _RESERVE_FLAGS, -1, 0)
        self.start = round_up(raw, HPAGE_PMD_SIZE)
        self.end = self.start + size
        self.cursor = self.start

    def place(self, offset: int, length: int) -> int | None:
        """The MAP_FIXED address for a mapping, or None: map it with a NULL hint instead.

        None for an offset that is negative or not page-aligned, and for a length that is not
        positive or does not fit in what is left of the reservation: the kernel rejects most
        of those before placing anything, and a NULL hint lets it answer the rest (ENOMEM, or
        a mapping elsewhere) without MAP_FIXED ever reaching past the reservation.
        """
        if offset < 0 or offset % PAGE or length <= 0:
            return None
        lead = (offset + self.shift) % HPAGE_PMD_SIZE
        need = round_up(lead + round_up(length), HPAGE_PMD_SIZE)
        if need > self.end - self.cursor:
            return None
        addr = self.cursor + lead
        self.cursor += need + HPAGE_PMD_SIZE  # a gap: the next mapping is never adjacent
        return addr

    def restore(self, addr: int, span: int) -> None:
        """Put the reservation back over [addr, addr + span), replacing what is mapped there."""
        sc.mmap(span, sc.PROT_NONE, _RESERVE_FLAGS | sc.MAP_FIXED, -1, 0, addr)


@dataclass(frozen=True)
class Mapping:
    """One live mapping made by the trace."""

    addr: int
    span: int  # the VMA's length: the trace's length rounded up to pages
    writable: bool
    offset: int  # file offset of addr
    fd: int  # private dup() of the file, so i_size stays readable after the trace closes its fd
    placed: bool = True  # inside the reservation (else where a NULL hint put it)


class Maps:
    """The map handles of one trace and the operations on them."""

    def __init__(self, huge: str) -> None:
        self.handles: dict[str, Mapping | None] = {}
        # On huge=never the contract itself defines SIGBUS past EOF (DESIGN.md §3.3 touch).
        self.huge_never = huge == "never"
        self.space = AddressSpace(placement_shift(huge))
        self.mem_fd = os.open("/proc/self/mem", os.O_RDWR)
        self.pagemap_fd = os.open("/proc/self/pagemap", os.O_RDONLY)

    def mmap(self, name: str, fd: int, offset: int, length: int, prot: str, shared: bool) -> None:
        """Map *fd*; a failure raises OSError and leaves *name* dead (it names the newest map)."""
        self.handles[name] = None
        prot_bits = sc.PROT_READ | (sc.PROT_WRITE if prot == "rw" else 0)
        flags = sc.MAP_SHARED if shared else sc.MAP_PRIVATE
        span = round_up(length)
        want = self.space.place(offset, length)
        if want is None:
            addr = sc.mmap(length, prot_bits, flags, fd, offset)
        else:
            try:
                addr = sc.mmap(length, prot_bits, flags | sc.MAP_FIXED, fd, offset, want)
            except OSError:
                # The argument errors leave the reservation alone; anything later might not.
                self.space.restore(want, span)
                raise
            assert addr == want, f"MAP_FIXED mapped at {addr:#x}, not {want:#x}"
        placed = want is not None
        self.handles[name] = Mapping(addr, span, prot == "rw", offset, os.dup(fd), placed)

    def munmap(self, name: str) -> None:
        """Unmap *name*; a dead handle is a successful no-op (the contract's munmap ⇒ 0)."""
        m = self.handles.get(name)
        if m is None:
            return
        if m.placed:
            self.space.restore(m.addr, m.span)  # unmaps the file, in one call: no hole opens
        else:
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
        m = self.handles.get(name)
        if m is None:  # DESIGN.md §3.3, literally: whatever the length
            raise os_error(errno.EINVAL if offset % PAGE else errno.ENOMEM)
        # mm/madvise.c checks the arguments before looking at any VMA: an unaligned start or
        # a negative length is EINVAL, an empty range succeeds.
        if offset % PAGE or length < 0:
            raise os_error(errno.EINVAL)
        if length == 0:
            return
        start, end = offset, offset + round_up(length)
        lo, hi = max(start, 0), min(end, m.span)
        if lo >= hi:
            raise os_error(errno.ENOMEM)
        if (lo, hi) == (start, end):
            sc.madvise(m.addr + offset, length, MADVICE[advice])
            return
        # Clip to the mapping ourselves: the kernel would also advise any neighbouring VMA.
        # As in madvise_walk_vmas, an error from the mapped part wins over the gap's ENOMEM.
        sc.madvise(m.addr + lo, hi - lo, MADVICE[advice])
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
