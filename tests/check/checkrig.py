"""Building healthy machines for the check/ tests: file operations through the syscalls,
plus mappings and a swapped-out page made the way the kernel paths leave them.

The mappings are built here rather than through mm/memory.py's faults so that these tests
pin down what the invariants accept, independently of the fault path's own tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from hugetmpfs.check.oracle import ShadowTask
from hugetmpfs.mm.filemap import find_lock_entry, unlock_page
from hugetmpfs.mm.highmem import copy_highpage
from hugetmpfs.mm.mm_types import (
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
    VMA,
    MMStruct,
    mk_pte,
)
from hugetmpfs.mm.page_alloc import GFP_HIGHUSER_MOVABLE, alloc_pages
from hugetmpfs.mm.pgtable import pmd_install, pte_alloc_one
from hugetmpfs.mm.rmap import AnonVma, mm_counter, page_add_file_rmap, page_add_new_anon_rmap
from hugetmpfs.mm.swap import lru_add_drain_all, lru_cache_add, put_page
from hugetmpfs.mm.vmscan import PAGE_SUCCESS
from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.machine import Machine, MachineConfig
from hugetmpfs.shmem.swap import shmem_writepage

O_RDWR_CREAT = vfs.O_RDWR | vfs.O_CREAT
MAP_BASE = 0x4000_0000  # 1 GiB: aligned for any HPAGE_PMD_NR


@dataclass
class Rig:
    m: Machine
    shadow: ShadowTask

    @property
    def task(self) -> vfs.Task:
        return self.shadow.task


def make_rig(ram: int = 32 << 20, size: int = 1 << 20, swap: int = 0, hpage_nr: int = 512) -> Rig:
    m = Machine(MachineConfig(ram=ram, swap=swap, hpage_nr=hpage_nr))
    sb = m.mount("never", size)
    return Rig(m, ShadowTask(vfs.Task(m, sb, MMStruct(m))))


def populate(rig: Rig) -> dict[str, int]:
    """Files in every state: written, partly written, fallocated (beyond EOF too), truncated,
    punched, unlinked while open, evicted; pages both drained to the LRU and in pagevecs."""
    s = rig.shadow
    fds = {name: s.open(name, O_RDWR_CREAT) for name in ("a", "b", "c", "gone")}
    assert s.pwrite(fds["a"], 0, 0x41, 5 * 4096) == 5 * 4096
    assert s.pwrite(fds["a"], 9000, bytes(range(256)) * 3) == 768
    assert s.fallocate(fds["b"], vfs.FALLOC_FL_KEEP_SIZE, 0, 6 * 4096) == 0
    assert s.pwrite(fds["b"], 4096 + 10, 0x62, 100) == 100
    assert s.ftruncate(fds["a"], 3 * 4096 + 123) == 0
    assert s.fallocate(fds["a"], vfs.FALLOC_FL_PUNCH_HOLE | vfs.FALLOC_FL_KEEP_SIZE, 100, 5000) == 0
    assert s.pwrite(fds["gone"], 0, 0x7A, 8192) == 8192
    lru_add_drain_all(rig.m)
    assert s.pwrite(fds["c"], 3 * 4096, 0x63, 2 * 4096) == 2 * 4096  # stays in a pagevec
    assert s.unlink("c") == 0  # unlinked, still open
    assert s.unlink("gone") == 0
    assert s.close(fds.pop("gone")) == 0  # evicted
    return fds


def vma_for(rig: Rig, fd: int, npages: int, shared: bool, start: int = MAP_BASE) -> VMA:
    """A VMA mapping the first *npages* of *fd*'s file, linked in its mm and i_mmap."""
    mm, file = rig.task.mm, rig.task.files[fd]
    flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE
    if shared:
        flags |= VM_SHARED | VM_MAYSHARE
    vma = VMA(mm, start, start + npages * 4096, 0, flags, vm_file=file)
    mm.vmas.append(vma)
    mm.vmas.sort(key=lambda v: v.vm_start)
    file.f_mapping.i_mmap.append(vma)
    return vma


def set_pte(m: Machine, vma: VMA, addr: int, page: int, write: bool) -> None:
    """What do_set_pte leaves: the pte, its table, a mapcount, the rss and Mapped counts.
    The caller's reference on *page* becomes the pte's."""
    mm = vma.mm
    pmd = addr >> (12 + m.HPAGE_PMD_ORDER)
    if pmd not in mm.pmds:
        pt = pte_alloc_one(m)
        assert pt is not None
        assert pmd_install(m, mm, pmd, pt)
    pt = mm.pmds[pmd]
    pt.ptes[(addr >> 12) & (m.HPAGE_PMD_NR - 1)] = mk_pte(page, write)
    pt.nr_present += 1
    if m.mapcount[page] == -1 and vma.anon_vma is not None and m.mapping[page] == 0:
        page_add_new_anon_rmap(m, page, vma, addr)
    elif m.mappings[m.mapping[page]].__class__ is AnonVma:
        m.mapcount[page] += 1
    else:
        page_add_file_rmap(m, page)
    mm.rss[mm_counter(m, page)] += 1


def map_file_page(rig: Rig, vma: VMA, index: int, write: bool = False) -> int:
    """Map the cache page at *index* at its address in *vma*, as a fault would."""
    m = rig.m
    page = find_lock_entry(m, vma.vm_file.f_mapping, index)
    assert page is not None, f"no page at index {index}"
    assert page >= 0, f"a swap entry at index {index}"
    set_pte(m, vma, vma.vm_start + (index - vma.vm_pgoff) * 4096, page, write)
    unlock_page(m, page)
    return page


def map_cow_page(rig: Rig, vma: VMA, index: int) -> int:
    """A private write fault's result: a new anonymous copy of the cache page, writable."""
    m = rig.m
    if vma.anon_vma is None:
        vma.anon_vma = AnonVma(m)
        vma.anon_vma.vmas.append(vma)
    src = vma.vm_file.f_mapping.page_tree.lookup(index)
    new = alloc_pages(m, GFP_HIGHUSER_MOVABLE, 0)
    assert new is not None
    copy_highpage(m, new, src)
    set_pte(m, vma, vma.vm_start + (index - vma.vm_pgoff) * 4096, new, True)
    lru_cache_add(m, new)
    return new


def swap_out(rig: Rig, fd: int, index: int) -> int:
    """shmem_writepage on one cached page, as reclaim calls it (page locked, referenced)."""
    m = rig.m
    mapping = rig.task.files[fd].f_mapping
    page = find_lock_entry(m, mapping, index)
    assert page is not None
    assert page >= 0
    assert shmem_writepage(m, page, mapping) == PAGE_SUCCESS  # the write unlocks it
    put_page(m, page)
    return page


def busy_rig(swap: bool = True) -> tuple[Rig, dict[str, int]]:
    """A rig in every healthy state the invariants know, mappings and swap included."""
    rig = make_rig(swap=8 << 20 if swap else 0)
    fds = populate(rig)
    shared = vma_for(rig, fds["a"], 4, shared=True)
    map_file_page(rig, shared, 0, write=True)
    map_file_page(rig, shared, 2)
    private = vma_for(rig, fds["a"], 4, shared=False, start=MAP_BASE + (4 << 20))
    map_file_page(rig, private, 2)
    map_cow_page(rig, private, 3)
    if swap:
        swap_out(rig, fds["b"], 1)
    return rig, fds
