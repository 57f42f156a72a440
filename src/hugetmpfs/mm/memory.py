"""Page faults: the fault-handling half of mm/memory.c.

The structure is v4.6's with patch 09/31: handle_pte_fault reads the pmd without a lock and
leaves an empty pmd empty until ->fault has run (with FAULT_FLAG_MAY_HUGE, so shmem may ask
for a huge pmd), then __do_fault allocates the pte table.  What results show follows
Linux 6.18 (DESIGN.md §3.1):

* a read fault on a file mapping maps the ready cached pages of a 16-page window around it
  (fault-around), before ->fault when the pte table exists; for an empty pmd it is done
  after ->fault (patch 09's order), which maps the same pages;
* shared writable tmpfs mappings get writable ptes from read faults too (tmpfs needs no
  write-notify), so a later store dirties the pte without a fault;
* a store to a private mapping copies the page into an anonymous page (COW).

Write-protect faults and anonymous VMAs are in mm/memory_anon.py; taking ptes down (zap,
unmap_mapping_range) in mm/memory_unmap.py, re-exported here; the user loads and stores
that fault come from mm/fault.py.  Lock order: mmap_sem (read) > page lock > pmd lock >
pte lock.

Models: mm/memory.c (v4.6-rc2 with patches 07, 09, 10 of 31; fault-around as in 6.18):
handle_mm_fault, handle_pte_fault, do_fault, __do_fault, do_set_pte, finish_fault,
do_fault_around, do_read_fault, do_cow_fault, do_shared_fault, wp_huge_pmd.
Differs: no swap ptes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.debug import VM_BUG_ON_PAGE
from hugetmpfs.mm.filemap import lock_page, unlock_page
from hugetmpfs.mm.highmem import copy_highpage
from hugetmpfs.mm.huge_memory import map_team_by_pmd, remap_team_by_ptes
from hugetmpfs.mm.memory_anon import do_anonymous_page, do_wp_page, lru_cache_add_active
from hugetmpfs.mm.memory_unmap import unmap_mapping_range as unmap_mapping_range
from hugetmpfs.mm.memory_unmap import zap_page_range as zap_page_range
from hugetmpfs.mm.mm_types import (
    FAULT_FLAG_MAY_HUGE,
    FAULT_FLAG_WRITE,
    PTE_DIRTY,
    PTE_PFN_SHIFT,
    PTE_PRESENT,
    PTE_WRITE,
    PTE_YOUNG,
    VM_FAULT_ERROR,
    VM_FAULT_FALLBACK,
    VM_FAULT_HUGE,
    VM_FAULT_LOCKED,
    VM_FAULT_NOPAGE,
    VM_FAULT_OOM,
    VM_FAULT_RETRY,
    VM_FAULT_SIGBUS,
    VM_FAULT_SIGSEGV,
    VM_SHARED,
    VM_WRITE,
    HugePmd,
    PageTable,
    Vmf,
    find_vma,
)
from hugetmpfs.mm.page_alloc import GFP_HIGHUSER_MOVABLE, alloc_pages
from hugetmpfs.mm.page_flags import PG_dirty, PG_locked, PG_swapbacked, PG_uptodate
from hugetmpfs.mm.pgtable import __pte_alloc, pmd_shift, pte_alloc_one, pte_free
from hugetmpfs.mm.rmap import (
    anon_vma_prepare,
    page_add_file_rmap,
    page_add_new_anon_rmap,
)
from hugetmpfs.mm.swap import put_page
from hugetmpfs.mm.vmstat import PGFAULT

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine
    from hugetmpfs.mm.mm_types import VMA, MMStruct

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = ~(PAGE_SIZE - 1)
FAULT_AROUND_PAGES = 16  # fault_around_bytes: 64 KiB (6.18's default)
_BAIL = VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY


# -- the fault entry ------------------------------------------------------------------------


def handle_mm_fault(
    m: MemMachine, mm: MMStruct, address: int, flags: int, vma: VMA | None = None
) -> int:
    """Resolve a fault at *address*; VM_FAULT_* bits.  Called with mmap_sem held for read;
    on VM_FAULT_RETRY it has been released (by ->fault), as in the kernel.

    *vma* is the VMA the caller found for *address* (v4.6 passes it; found here if None).
    """
    m.vmstat.events[PGFAULT] += 1
    if vma is None:
        vma = find_vma(mm, address)
        if vma is None or address < vma.vm_start:
            return VM_FAULT_SIGSEGV
    return __handle_mm_fault(m, mm, vma, address, flags)


def __handle_mm_fault(m: MemMachine, mm: MMStruct, vma: VMA, address: int, flags: int) -> int:
    pmd = address >> (PAGE_SHIFT + m.HPAGE_PMD_ORDER)
    entry = mm.pmds.get(pmd)
    if entry.__class__ is HugePmd:
        if not flags & FAULT_FLAG_WRITE or entry.write:
            entry.young = True  # huge_pmd_set_accessed
            return 0
        ret = wp_huge_pmd(m, vma, address, pmd)
        if not ret & VM_FAULT_FALLBACK:
            return ret
        entry = mm.pmds.get(pmd)  # now a table of ptes: COW one small page
    return handle_pte_fault(m, mm, vma, address, entry, flags)


def wp_huge_pmd(m: MemMachine, vma: VMA, address: int, pmd: int) -> int:
    """A store into a read-only huge pmd of a file VMA: split it to ptes and go on there.

    Models: mm/memory.c wp_huge_pmd (patch 10/31's team case)."""
    remap_team_by_ptes(m, vma, address, pmd)
    return VM_FAULT_FALLBACK


def handle_pte_fault(
    m: MemMachine, mm: MMStruct, vma: VMA, address: int, pt: PageTable | None, flags: int
) -> int:
    """The pte level; *pt* was read from the pmd without a lock (patch 09/31: None while
    the pmd is empty, and then nothing is allocated here)."""
    if pt is None:
        pte = 0
    else:
        i = (address >> PAGE_SHIFT) & (m.HPAGE_PMD_NR - 1)
        pte = pt.ptes[i]
    if not pte:
        if vma.vm_ops is None:
            return do_anonymous_page(m, mm, vma, address, flags)
        return do_fault(m, mm, vma, address, flags)
    pt.ptl.lock()
    if pt.ptes[i] != pte:  # changed since the lockless read: let the access retry
        pt.ptl.unlock()
        return 0
    if flags & FAULT_FLAG_WRITE:
        if not pte & PTE_WRITE:
            return do_wp_page(m, mm, vma, address, pt, i, pte)
        pte |= PTE_DIRTY
    pt.ptes[i] = pte | PTE_YOUNG
    pt.ptl.unlock()
    return 0


# -- faults on file mappings -----------------------------------------------------------------


def do_fault(m: MemMachine, mm: MMStruct, vma: VMA, address: int, flags: int) -> int:
    """A file mapping's pte is none: read, COW or shared fault."""
    vmf = Vmf(address & PAGE_MASK, ((address - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff, flags)
    if not flags & FAULT_FLAG_WRITE:
        ret = do_read_fault(m, mm, vma, vmf)
    elif not vma.vm_flags & VM_SHARED:
        ret = do_cow_fault(m, mm, vma, vmf)
    else:
        ret = do_shared_fault(m, mm, vma, vmf)
    if vmf.prealloc_pte is not None:  # fault-around found nothing to map with it
        pte_free(m, vmf.prealloc_pte)
        vmf.prealloc_pte = None
    return ret


def __do_fault(m: MemMachine, mm: MMStruct, vma: VMA, vmf: Vmf) -> int:
    """Call ->fault, then (patch 09/31) put a pte table under an empty pmd.

    On success ``vmf.page`` is locked and referenced and a pte table is in place.
    """
    pmd = vmf.address >> (PAGE_SHIFT + m.HPAGE_PMD_ORDER)
    if pmd not in mm.pmds:
        vmf.flags |= FAULT_FLAG_MAY_HUGE  # no table yet: a huge pmd could go here
    ret = vma.vm_ops.fault(m, vma, vmf)
    if ret & _BAIL:
        return ret
    page = vmf.page
    if ret & VM_FAULT_HUGE:
        return ret | map_team_by_pmd(m, vma, vmf.address, pmd, page)
    if not ret & VM_FAULT_LOCKED:
        lock_page(m, page)
    else:
        VM_BUG_ON_PAGE(not m.flags[page] & PG_locked, m, page, "->fault returned it unlocked")
    # base/R10.1: between ->fault and here a racing fault may have mapped this pmd huge.
    m.engine.point("__do_fault:pmd_recheck")
    entry = mm.pmds.get(pmd)
    if entry is None:
        if __pte_alloc(m, mm, pmd):
            unlock_page(m, page)
            put_page(m, page)
            return VM_FAULT_OOM
        entry = mm.pmds[pmd]
    if entry.__class__ is HugePmd:
        unlock_page(m, page)
        put_page(m, page)
        return VM_FAULT_NOPAGE
    return ret


def do_set_pte(
    m: MemMachine,
    vma: VMA,
    address: int,
    page: int,
    pt: PageTable,
    i: int,
    write: bool,
    anon: bool,
) -> None:
    """Install the pte for a file page, or for a new *anon* page (a COW copy), under the
    pte lock; the pte takes over the caller's page reference."""
    rss = vma.mm.rss
    if anon:
        rss["MM_ANONPAGES"] += 1
        page_add_new_anon_rmap(m, page, vma, address)
    else:
        rss["MM_SHMEMPAGES" if m.flags[page] & PG_swapbacked else "MM_FILEPAGES"] += 1
        page_add_file_rmap(m, page)
    # mk_pte with vm_page_prot: writable when the mapping is shared and writable (tmpfs
    # wants no write-notify), dirty when the fault is a write.
    if write:
        pt.ptes[i] = page << PTE_PFN_SHIFT | PTE_PRESENT | PTE_YOUNG | PTE_WRITE | PTE_DIRTY
    elif vma.vm_flags & (VM_SHARED | VM_WRITE) == VM_SHARED | VM_WRITE:
        pt.ptes[i] = page << PTE_PFN_SHIFT | PTE_PRESENT | PTE_YOUNG | PTE_WRITE
    else:
        pt.ptes[i] = page << PTE_PFN_SHIFT | PTE_PRESENT | PTE_YOUNG
    pt.nr_present += 1


def finish_fault(m: MemMachine, vma: VMA, vmf: Vmf, page: int, write: bool) -> int:
    """Map *page* at vmf.address unless a racing fault did: 0 or VM_FAULT_NOPAGE.  A
    write to a private mapping maps vmf.cow_page, the new anonymous copy."""
    address = vmf.address
    pt = vma.mm.pmds[address >> (PAGE_SHIFT + m.HPAGE_PMD_ORDER)]
    i = (address >> PAGE_SHIFT) & (m.HPAGE_PMD_NR - 1)
    ptl = pt.ptl
    ptl.lock()
    if pt.ptes[i]:
        ptl.unlock()
        return VM_FAULT_NOPAGE
    do_set_pte(m, vma, address, page, pt, i, write, page == vmf.cow_page)
    ptl.unlock()
    return 0


def _should_fault_around(vma: VMA) -> bool:
    return getattr(vma.vm_ops, "map_pages", None) is not None and FAULT_AROUND_PAGES > 1


def do_fault_around(m: MemMachine, vma: VMA, vmf: Vmf) -> int:
    """Map the ready pages of the 16-page window around vmf.address: the window starts at
    the 64 KiB-aligned address below, or the VMA's start if later, and stops at the VMA's
    end and the pte table's; VM_FAULT_NOPAGE when it mapped vmf.address too.

    Models: mm/memory.c do_fault_around (Linux 6.18)."""
    ptrs = m.HPAGE_PMD_NR
    pte_off = (vmf.address >> PAGE_SHIFT) & (ptrs - 1)
    vma_off = vmf.pgoff - vma.vm_pgoff
    from_pte = max(pte_off & ~(FAULT_AROUND_PAGES - 1), pte_off - min(pte_off, vma_off))
    vma_pages = (vma.vm_end - vma.vm_start) >> PAGE_SHIFT
    to_pte = min(from_pte + FAULT_AROUND_PAGES, ptrs, pte_off + vma_pages - vma_off) - 1
    mm = vma.mm
    pmd = vmf.address >> pmd_shift(m)
    if pmd not in mm.pmds and vmf.prealloc_pte is None:
        vmf.prealloc_pte = pte_alloc_one(m)
        if vmf.prealloc_pte is None:
            return VM_FAULT_OOM
    start = vmf.pgoff + from_pte - pte_off
    ret = vma.vm_ops.map_pages(m, vma, vmf, start, vmf.pgoff + to_pte - pte_off) or 0
    if not ret:  # a ->map_pages that does not say: look at the pte
        pt = mm.pmds.get(pmd)
        if pt.__class__ is PageTable and pt.ptes[pte_off]:
            ret = VM_FAULT_NOPAGE
    return ret


def do_read_fault(m: MemMachine, mm: MMStruct, vma: VMA, vmf: Vmf) -> int:
    """A load from a file page not mapped yet: fault-around, else ->fault and map it.

    Differs: 6.18 runs fault-around first even on an empty pmd; here an empty pmd gets
    ->fault first (patch 09/31) and fault-around after it, which maps the same pages; if
    ->fault fails with SIGBUS fault-around still runs, as 6.18's would have before it.
    """
    had_table = (vmf.address >> pmd_shift(m)) in mm.pmds
    around = _should_fault_around(vma)
    if had_table and around:
        ret = do_fault_around(m, vma, vmf)
        if ret:
            return ret
    ret = __do_fault(m, mm, vma, vmf)
    if ret & _BAIL:
        if around and not had_table and ret & VM_FAULT_SIGBUS:
            do_fault_around(m, vma, vmf)
        return ret
    page = vmf.page
    ret |= finish_fault(m, vma, vmf, page, False)
    unlock_page(m, page)
    if ret & VM_FAULT_NOPAGE:
        put_page(m, page)
    if around and not had_table:
        do_fault_around(m, vma, vmf)
    return ret


def do_cow_fault(m: MemMachine, mm: MMStruct, vma: VMA, vmf: Vmf) -> int:
    """A store to a private file mapping where nothing is mapped: copy the file's page into
    a new anonymous page and map that, writable."""
    if anon_vma_prepare(m, vma):
        return VM_FAULT_OOM
    new_page = alloc_pages(m, GFP_HIGHUSER_MOVABLE, 0)
    if new_page is None:
        return VM_FAULT_OOM
    vmf.cow_page = new_page
    ret = __do_fault(m, mm, vma, vmf)
    if ret & _BAIL:
        put_page(m, new_page)
        return ret
    page = vmf.page
    copy_highpage(m, new_page, page)  # copy_user_highpage
    m.flags[new_page] |= PG_uptodate
    ret |= finish_fault(m, vma, vmf, new_page, True)
    if ret & VM_FAULT_NOPAGE:
        put_page(m, new_page)
    else:
        lru_cache_add_active(m, new_page)
    unlock_page(m, page)
    put_page(m, page)
    return ret


def do_shared_fault(m: MemMachine, mm: MMStruct, vma: VMA, vmf: Vmf) -> int:
    """A store to a shared file mapping where nothing is mapped: map the page writable and
    dirty it (fault_dirty_shared_page)."""
    ret = __do_fault(m, mm, vma, vmf)
    if ret & _BAIL:
        return ret
    page = vmf.page
    ret |= finish_fault(m, vma, vmf, page, True)
    if ret & _BAIL:
        unlock_page(m, page)
        put_page(m, page)
        return ret
    m.flags[page] |= PG_dirty  # set_page_dirty: shmem's just sets the flag
    unlock_page(m, page)
    return ret
