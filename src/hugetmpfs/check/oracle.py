"""The data oracle: what every byte of every tmpfs file should read.

A deliberately naive reference, sharing no code with the model: per file a size and a
sparse map of 4 KiB pages (page index -> one repeated byte, or 4096 bytes; absent = zeros).
Its methods are named after the syscalls and take the model's return value, so the oracle
follows what the model says it did (a short write on ENOSPC, a failed fallocate) and checks
the bytes, not the errnos (tests/property checks those against its own reference).

:meth:`Oracle.verify` reads every page of every tracked file straight from the model's page
cache through ``page_read`` (swapped pages: through the swap device once it exists) and
reports the first differing byte per file.  :func:`exposed_poison` checks that no page a
user can reach through a mapping, or read through the cache, holds POISON (uninitialised or
freed memory): registered as the invariant ``user_pages_initialised``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.check.core import STEP, Report, Violation, invariant
from hugetmpfs.mm.highmem import MIXED, PoisonError, page_read
from hugetmpfs.mm.machine import PAGE_SHIFT, PAGE_SIZE
from hugetmpfs.mm.page_alloc import POISON
from hugetmpfs.mm.page_flags import PG_locked, PG_uptodate
from hugetmpfs.mm.radix_tree import radix_to_swp_entry, radix_tree_exceptional_entry
from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.fileops import WriteSource

if TYPE_CHECKING:
    from hugetmpfs.check.core import Context
    from hugetmpfs.mm.machine import MemMachine
    from hugetmpfs.shmem.inode import ShmemInodeInfo

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02

Page = int | bytearray  # a repeated byte, or the page's bytes


class FileState:
    """One file as the oracle sees it: ``size`` and the non-zero pages."""

    __slots__ = ("pages", "size")

    def __init__(self) -> None:
        self.size = 0
        self.pages: dict[int, Page] = {}

    def page_bytes(self, index: int) -> bytes:
        page = self.pages.get(index, 0)
        return bytes(page) if isinstance(page, bytearray) else bytes((page,)) * PAGE_SIZE

    def put(self, offset: int, data: bytes | int, length: int) -> None:
        """Store *length* bytes (of *data*, or the byte *data*) at *offset*."""
        end = offset + length
        while offset < end:
            index, start = offset >> PAGE_SHIFT, offset & (PAGE_SIZE - 1)
            n = min(PAGE_SIZE - start, end - offset)
            if isinstance(data, int) and n == PAGE_SIZE:
                self.pages[index] = data
            else:
                chunk = bytes((data,)) * n if isinstance(data, int) else data[:n]
                buf = bytearray(self.page_bytes(index))
                buf[start : start + n] = chunk
                self.pages[index] = buf
            if not isinstance(data, int):
                data = data[n:]
            offset += n

    def zero(self, offset: int, length: int) -> None:
        """Zero [offset, offset+length) (whole pages are simply dropped)."""
        end = offset + length
        first = (offset + PAGE_SIZE - 1) >> PAGE_SHIFT
        last = end >> PAGE_SHIFT
        for index in [i for i in self.pages if first <= i < last]:
            del self.pages[index]
        if first > last:  # inside one page
            self.put(offset, 0, length)
            return
        if offset & (PAGE_SIZE - 1):
            self.put(offset, 0, (first << PAGE_SHIFT) - offset)
        if end & (PAGE_SIZE - 1) and last >= first:
            self.put(last << PAGE_SHIFT, 0, end - (last << PAGE_SHIFT))


class Oracle:
    """The expected contents of tmpfs files, keyed by the model's inode objects."""

    def __init__(self) -> None:
        self.files: dict[ShmemInodeInfo, FileState] = {}

    def file(self, inode: ShmemInodeInfo) -> FileState:
        state = self.files.get(inode)
        if state is None:
            state = self.files[inode] = FileState()
        return state

    # -- the syscalls ---------------------------------------------------------------------

    def pwrite(self, inode: ShmemInodeInfo, offset: int, data: bytes | int, ret: int) -> None:
        """pwrite of *data* (bytes, or a byte repeated) at *offset* that returned *ret*."""
        if ret <= 0:
            return
        f = self.file(inode)
        f.put(offset, data if isinstance(data, int) else data[:ret], ret)
        f.size = max(f.size, offset + ret)

    def ftruncate(self, inode: ShmemInodeInfo, length: int, ret: int = 0) -> None:
        if ret < 0:
            return
        f = self.file(inode)
        first = (length + PAGE_SIZE - 1) >> PAGE_SHIFT
        for index in [i for i in f.pages if i >= first]:
            del f.pages[index]
        if length & (PAGE_SIZE - 1) and length < f.size:
            f.zero(length, (first << PAGE_SHIFT) - length)  # the kept page's tail
        f.size = length

    def fallocate(
        self, inode: ShmemInodeInfo, mode: int, offset: int, length: int, ret: int = 0
    ) -> None:
        """Allocation changes no byte (only the size, without KEEP_SIZE); a punched hole
        reads as zeros."""
        if ret < 0:
            return
        f = self.file(inode)
        if mode & FALLOC_FL_PUNCH_HOLE:
            f.zero(offset, length)
        elif not mode & FALLOC_FL_KEEP_SIZE:
            f.size = max(f.size, offset + length)

    def store(self, inode: ShmemInodeInfo, offset: int, data: bytes | int, length: int) -> None:
        """A store through a shared mapping: bytes change, the size does not."""
        self.file(inode).put(offset, data, length)

    def forget(self, inode: ShmemInodeInfo) -> None:
        """The inode was evicted (unlinked and closed): nothing left to read."""
        self.files.pop(inode, None)

    def read(self, inode: ShmemInodeInfo, offset: int, length: int) -> bytes:
        """What pread(offset, length) must return."""
        f = self.file(inode)
        end = min(offset + length, f.size)
        out = bytearray()
        while offset < end:
            index, start = offset >> PAGE_SHIFT, offset & (PAGE_SIZE - 1)
            n = min(PAGE_SIZE - start, end - offset)
            out += f.page_bytes(index)[start : start + n]
            offset += n
        return bytes(out)

    # -- checking the model ---------------------------------------------------------------

    def verify(self, m: MemMachine) -> list[Violation]:
        """Compare every tracked, unevicted file with the model: size, then bytes."""
        out: list[Violation] = []
        for inode, f in self.files.items():
            if inode.evicted:
                continue
            if inode.i_size != f.size:
                out.append(
                    Violation("oracle_size", f"{inode!r}: i_size {inode.i_size}, expected {f.size}")
                )
                continue
            problem = _first_difference(m, inode, f)
            if problem:
                out.append(Violation("oracle_data", f"{inode!r} {problem}"))
        return out


def model_page(m: MemMachine, inode: ShmemInodeInfo, index: int) -> bytes:
    """The 4 KiB a read of page *index* of *inode* returns from the model."""
    entry = inode.mapping.page_tree.lookup(index)
    if entry is None:
        return bytes(PAGE_SIZE)
    if radix_tree_exceptional_entry(entry):
        return swap_page(m, radix_to_swp_entry(entry))
    if not m.flags[entry] & PG_uptodate:
        return bytes(PAGE_SIZE)  # fallocated, never written: reads as a hole
    return page_read(m, entry, 0, PAGE_SIZE)


def swap_page(m: MemMachine, slot: int) -> bytes:
    """The 4 KiB swap slot *slot* holds: its swap-cache page once uptodate (the newest
    copy), else what the device stored (mm/page_io.py)."""
    page = getattr(m, "swapper_space", {}).get(slot)
    if page is not None and m.flags[page] & PG_uptodate:
        return page_read(m, page, 0, PAGE_SIZE)
    si = getattr(m, "swap_info", None)
    if si is None or not 0 < slot < si.max or not si.swap_map[slot]:
        raise PoisonError(f"swap entry {slot} names no allocated slot")
    code = si.content[slot]
    if code >= 0:
        return bytes((code,)) * PAGE_SIZE
    if code == MIXED:
        return bytes(si.data[slot])
    raise PoisonError(f"swap slot {slot} holds garbage")


def _first_difference(m: MemMachine, inode: ShmemInodeInfo, f: FileState) -> str:
    npages = (f.size + PAGE_SIZE - 1) >> PAGE_SHIFT
    cached = {i for i, _ in inode.mapping.page_tree.items(0, npages)}
    for index in sorted(cached | {i for i in f.pages if i < npages}):
        want = f.page_bytes(index)
        try:
            got = model_page(m, inode, index)
        except PoisonError as e:
            return f"page {index:#x}: {e}"
        limit = min(PAGE_SIZE, f.size - (index << PAGE_SHIFT))
        if got[:limit] != want[:limit]:
            at = next(k for k in range(limit) if got[k] != want[k])
            offset = (index << PAGE_SHIFT) + at
            return f"byte {offset:#x}: expected {want[at]:#04x}, got {got[at]:#04x}"
    return ""


def exposed_poison(m: MemMachine, ctx: Context | None = None) -> list[Violation]:
    """Pages reachable by user mappings (ptes, and every page under a huge pmd) and
    uptodate, unlocked page-cache pages must not hold POISON content."""
    return user_pages_initialised(m, ctx)


@invariant(
    when=STEP,
    cost="census (cache, tables) + O(frames) numpy",
    reads=("poison", "tables", "cache", ("flags", "poison", PG_uptodate | PG_locked)),
)
def user_pages_initialised(ctx: Context) -> list[Violation]:
    """No POISON (uninitialised or freed memory) in a page mapped by a pte or covered by a
    huge pmd, nor in an uptodate page-cache page that is not locked (a locked page may be
    mid-write: shmem_file_write marks it uptodate before it copies)."""
    m, c = ctx.m, ctx.census
    r = Report("user_pages_initialised")
    flags, content, n = m.flags, m.content, c.n  # content: what ``poison`` reads
    t = c.tables
    # the frames ptes map and huge pmds cover, and those in page caches: few (the frames
    # where pte_count, pmd_count and cache.count are non-zero, from what they count)
    reach = set(t.mapped_pfns)  # in range: the ptes' frames (and the heads, in a span)
    for head in {e.head for _, _, e in t.huge if 0 <= e.head < n}:
        reach.update(range(head, min(head + m.HPAGE_PMD_NR, n)))
    for page in sorted(page for page in reach if content[page] == POISON)[:8]:
        r.add("mapped page holds garbage: " + m.dump_page(page))
    readable = sorted(
        page
        for page in set(c.cache.pfn.tolist())
        if content[page] == POISON and flags[page] & (PG_uptodate | PG_locked) == PG_uptodate
    )
    for page in readable[:8]:
        r.add("uptodate cache page holds garbage: " + m.dump_page(page))
    return r.result()


class ShadowTask:
    """A task whose file syscalls also update an oracle: the model's syscalls
    (shmem/vfs.py), then the oracle with their results.  What tests and scenarios drive
    to have every byte checked by ``oracle.verify(m)``."""

    def __init__(self, task: vfs.Task, oracle: Oracle | None = None) -> None:
        self.task = task
        self.m = task.m
        self.oracle = oracle if oracle is not None else Oracle()

    def inode(self, fd: int) -> ShmemInodeInfo:
        return self.task.files[fd].inode

    def open(self, path: str, flags: int) -> int:
        return vfs.sys_open(self.task, path, flags)

    def close(self, fd: int) -> int:
        file = self.task.files.get(fd)
        ret = vfs.sys_close(self.task, fd)
        if file is not None and file.inode.evicted:
            self.oracle.forget(file.inode)
        return ret

    def unlink(self, path: str) -> int:
        inode = self.task.sb.names.get(path)
        ret = vfs.sys_unlink(self.task, path)
        if inode is not None and inode.evicted:
            self.oracle.forget(inode)
        return ret

    def pwrite(self, fd: int, offset: int, data: bytes | int, length: int = 0) -> int:
        """pwrite of *data*, or of *length* copies of the byte *data*."""
        if isinstance(data, int):
            src = WriteSource(length, byte=data)
        else:
            src = WriteSource(len(data), data=data)
        file = self.task.files.get(fd)
        append = file is not None and file.f_flags & vfs.O_APPEND
        pos = file.inode.i_size if append and file is not None else offset
        ret = vfs.sys_pwrite64(self.task, fd, src, offset)
        if file is not None:
            self.oracle.pwrite(file.inode, pos, data, ret)
        return ret

    def pread(self, fd: int, offset: int, length: int) -> tuple[int, bytes]:
        out = bytearray()
        ret = vfs.sys_pread64(self.task, fd, length, offset, out.extend)
        return ret, bytes(out)

    def ftruncate(self, fd: int, length: int) -> int:
        ret = vfs.sys_ftruncate(self.task, fd, length)
        if fd in self.task.files:
            self.oracle.ftruncate(self.inode(fd), length, ret)
        return ret

    def fallocate(self, fd: int, mode: int, offset: int, length: int) -> int:
        ret = vfs.sys_fallocate(self.task, fd, mode, offset, length)
        if fd in self.task.files:
            self.oracle.fallocate(self.inode(fd), mode, offset, length, ret)
        return ret

    def verify(self) -> list[Violation]:
        return self.oracle.verify(self.m)
