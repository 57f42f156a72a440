"""A minimal tmpfs-like file for the mm layer's tests: page cache, ->fault, ->map_pages.

It is not shmem: no size limit, no swap, no teams.  ->fault finds the page at the index or
allocates a zeroed one while the index is below i_size (SIGBUS beyond), as shmem_fault's
small-page path does; fallocate_punch unmaps and removes whole pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hugetmpfs.mm.filemap import (
    AddressSpace,
    delete_from_page_cache,
    filemap_map_pages,
    find_lock_entry,
    unlock_page,
)
from hugetmpfs.mm.filemap import (
    __set_page_locked as set_page_locked,
)
from hugetmpfs.mm.highmem import clear_highpage, page_fill
from hugetmpfs.mm.memory import unmap_mapping_range
from hugetmpfs.mm.mm_types import (
    FAULT_FLAG_ALLOW_RETRY,
    FMODE_READ,
    FMODE_WRITE,
    VM_FAULT_LOCKED,
    VM_FAULT_OOM,
    VM_FAULT_RETRY,
    VM_FAULT_SIGBUS,
)
from hugetmpfs.mm.page_alloc import GFP_HIGHUSER_MOVABLE, alloc_pages
from hugetmpfs.mm.page_flags import PG_dirty, PG_swapbacked, PG_uptodate
from hugetmpfs.mm.swap import lru_cache_add_anon, put_page
from hugetmpfs.mm.vmstat import NR_FILE_PAGES, NR_SHMEM
from hugetmpfs.sim import Engine, RoundRobinStrategy

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine
    from hugetmpfs.mm.mm_types import VMA, Vmf

from hugetmpfs.mm.machine import MemMachine as _MemMachine

PAGE = 4096


def machine(ram: int = 64 << 20, hpage_nr: int = 512) -> _MemMachine:
    return _MemMachine(Engine(RoundRobinStrategy(), cpus=2), ram=ram, cpus=2, hpage_nr=hpage_nr)


@dataclass(eq=False)
class Inode:
    i_size: int = 0
    ino: int = 1


class FakeVmOps:
    """->fault and ->map_pages; ``retry_once`` makes the next fault drop mmap_sem and ask
    for a retry, as shmem_fault does when it waits for a hole-punch."""

    def __init__(self) -> None:
        self.faults = 0
        self.retry_once = False

    def fault(self, m: MemMachine, vma: VMA, vmf: Vmf) -> int:
        self.faults += 1
        if self.retry_once and vmf.flags & FAULT_FLAG_ALLOW_RETRY:
            self.retry_once = False
            vma.mm.mmap_sem.up_read()
            return VM_FAULT_RETRY
        file = vma.vm_file
        while True:
            page = find_lock_entry(m, file.f_mapping, vmf.pgoff)
            if page is not None:
                break
            if vmf.pgoff << 12 >= file.inode.i_size:
                return VM_FAULT_SIGBUS
            page = file.add_page(m, vmf.pgoff)
            if page is None:
                return VM_FAULT_OOM
            if page >= 0:
                break
            # -EEXIST: a racing fault added it first; look again
        vmf.page = page
        return VM_FAULT_LOCKED

    def map_pages(self, m: MemMachine, vma: VMA, vmf: Vmf, start: int, end: int) -> int:
        return filemap_map_pages(m, vma, vmf, start, end)


@dataclass(eq=False)
class FakeFile:
    """An open file: the MmapFile protocol of mm_types."""

    m: MemMachine
    f_mode: int = FMODE_READ | FMODE_WRITE
    inode: Inode = field(default_factory=Inode)
    vm_ops: FakeVmOps = field(default_factory=FakeVmOps)
    f_count: int = 1
    punches: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.f_mapping = AddressSpace(self.m, self.inode, "shmem_aops", GFP_HIGHUSER_MOVABLE)

    def mmap(self, m: MemMachine, vma: VMA) -> int:
        vma.vm_ops = self.vm_ops
        return 0

    def get_file(self) -> None:
        self.f_count += 1

    def fput(self, m: MemMachine) -> None:
        self.f_count -= 1

    def add_page(self, m: MemMachine, index: int, byte: int = 0, dirty: bool = False) -> int | None:
        """A new zero-filled (or *byte*-filled) page at *index*, locked, in the cache; None
        without memory, -17 (EEXIST) if another got there first."""
        page = alloc_pages(m, GFP_HIGHUSER_MOVABLE, 0)
        if page is None:
            return None
        set_page_locked(m, page)
        m.flags[page] |= PG_swapbacked | PG_uptodate | (PG_dirty if dirty else 0)
        clear_highpage(m, page)
        if byte:
            page_fill(m, page, 0, PAGE, byte)
        mapping = self.f_mapping
        m.refcount[page] += 1  # the page cache's reference
        m.mapping[page] = mapping.id
        m.index[page] = index
        with mapping.tree_lock:
            error = mapping.page_tree.insert(index, page)
            if not error:
                mapping.nrpages += 1
                m.vmstat.zone[NR_FILE_PAGES] += 1
                m.vmstat.zone[NR_SHMEM] += 1
        if error:
            m.mapping[page] = 0
            m.refcount[page] -= 1
            unlock_page(m, page)
            put_page(m, page)
            return error
        lru_cache_add_anon(m, page)
        return page

    def write(self, m: MemMachine, index: int, byte: int) -> int:
        """pwrite of a whole page: the page, unlocked, dirty, with the cache's reference."""
        page = self.f_mapping.page_tree.lookup(index)
        if page is None:
            page = self.add_page(m, index, byte, dirty=True)
            unlock_page(m, page)
            put_page(m, page)
        else:
            page_fill(m, page, 0, PAGE, byte)
            m.flags[page] |= PG_dirty
        self.inode.i_size = max(self.inode.i_size, (index + 1) * PAGE)
        return page

    def fallocate_punch(self, m: MemMachine, offset: int, length: int) -> int:
        self.punches.append((offset, length))
        if not self.f_mode & FMODE_WRITE:
            return -9
        first, last = offset // PAGE, (offset + length) // PAGE
        unmap_mapping_range(m, self.f_mapping, first * PAGE, (last - first) * PAGE, False)
        for index in range(first, last):
            page = find_lock_entry(m, self.f_mapping, index)
            if page is not None:
                m.flags[page] &= ~PG_dirty
                delete_from_page_cache(m, page)
                unlock_page(m, page)
                put_page(m, page)
        return 0

    def cached(self) -> dict[int, int]:
        return dict(self.f_mapping.page_tree.items())


def in_actor(m: MemMachine, fn: object, *args: object) -> object:
    """Run ``fn(*args)`` as an actor (locks really taken, lockdep checking the order) and
    return its result; an exception in it is raised here."""
    actor = m.engine.spawn(fn, *args, name="test")  # type: ignore[arg-type]
    finding = m.engine.run()
    if finding is not None:
        error = finding.details.get("exception")
        raise error if error is not None else AssertionError(finding.message)
    return actor.result
