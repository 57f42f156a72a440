"""Faults that make anonymous pages: write-protect faults (COW of a mapped page, or reuse
of an exclusive one) and faults in anonymous VMAs; the other half of mm/memory.c's faults.

A COW copy is an anonymous page: it gets the VMA's anon_vma as its mapping (rmap), counts
in NR_ANON_PAGES and MM_ANONPAGES, and goes to the active anon LRU, which is done after the
pte lock is dropped (see lru_cache_add_active).

Models: mm/memory.c (v4.6-rc2): do_wp_page, wp_page_reuse, wp_page_shared, wp_page_copy,
do_anonymous_page, lru_cache_add_active_or_unevictable.
Differs: no zero page (a read fault on an anonymous VMA allocates), no mlock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.filemap import lock_page, unlock_page
from hugetmpfs.mm.highmem import clear_highpage, copy_highpage
from hugetmpfs.mm.mm_types import (
    PTE_DIRTY,
    PTE_PFN_SHIFT,
    PTE_WRITE,
    PTE_YOUNG,
    VM_FAULT_OOM,
    VM_FAULT_SIGBUS,
    VM_FAULT_WRITE,
    VM_SHARED,
    VM_WRITE,
    HugePmd,
    mk_pte,
)
from hugetmpfs.mm.page_alloc import GFP_HIGHUSER_MOVABLE, alloc_pages
from hugetmpfs.mm.page_flags import PG_active, PG_dirty, PG_uptodate
from hugetmpfs.mm.page_ref import get_page
from hugetmpfs.mm.pgtable import __pte_alloc, pmd_shift
from hugetmpfs.mm.rmap import (
    PageAnon,
    anon_vma_prepare,
    mm_counter_file,
    page_add_new_anon_rmap,
    page_remove_rmap,
)
from hugetmpfs.mm.swap import lru_cache_add, put_page

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine
    from hugetmpfs.mm.mm_types import VMA, MMStruct, PageTable

PAGE_SHIFT = 12
PAGE_MASK = ~((1 << PAGE_SHIFT) - 1)


def lru_cache_add_active(m: MemMachine, page: int) -> None:
    """lru_cache_add_active_or_unevictable for a new anonymous page (no mlock here).

    Differs: called after the pte lock is dropped, since a full pagevec takes lru_lock,
    which sim/locks.py orders outside the pte lock; the page is locked or unreachable.
    """
    m.flags[page] |= PG_active
    lru_cache_add(m, page)


def do_wp_page(
    m: MemMachine, mm: MMStruct, vma: VMA, address: int, pt: PageTable, i: int, pte: int
) -> int:
    """A store hit a present read-only pte; called with its pte lock held, which it drops."""
    page = pte >> PTE_PFN_SHIFT
    if PageAnon(m, page):
        if m.mapcount[page] == 0:  # reuse_swap_page: ours alone
            return wp_page_reuse(pt, i, pte)
    elif vma.vm_flags & (VM_SHARED | VM_WRITE) == VM_SHARED | VM_WRITE:
        return wp_page_shared(m, pt, i, pte, page)
    return wp_page_copy(m, vma, address, pt, i, pte, page)


def wp_page_reuse(pt: PageTable, i: int, pte: int) -> int:
    pt.ptes[i] = pte | PTE_WRITE | PTE_DIRTY | PTE_YOUNG
    pt.ptl.unlock()
    return VM_FAULT_WRITE


def wp_page_shared(m: MemMachine, pt: PageTable, i: int, pte: int, page: int) -> int:
    """Make a shared file page's pte writable and dirty the page (no ->page_mkwrite)."""
    get_page(m, page)
    wp_page_reuse(pt, i, pte)
    lock_page(m, page)
    m.flags[page] |= PG_dirty
    unlock_page(m, page)
    put_page(m, page)
    return VM_FAULT_WRITE


def wp_page_copy(
    m: MemMachine, vma: VMA, address: int, pt: PageTable, i: int, pte: int, old_page: int
) -> int:
    """COW: copy *old_page* into a new anonymous page and map it in its place."""
    get_page(m, old_page)
    pt.ptl.unlock()
    anon_vma_prepare(m, vma)
    new_page = alloc_pages(m, GFP_HIGHUSER_MOVABLE, 0)
    if new_page is None:
        put_page(m, old_page)
        return VM_FAULT_OOM
    copy_highpage(m, new_page, old_page)
    m.flags[new_page] |= PG_uptodate
    rss = vma.mm.rss
    with pt.ptl:
        copied = pt.ptes[i] == pte  # pte_same: nobody changed it while it was unlocked
        if copied:
            if not PageAnon(m, old_page):
                rss[mm_counter_file(m, old_page)] -= 1
                rss["MM_ANONPAGES"] += 1
            pt.ptes[i] = mk_pte(new_page, True, True)
            page_add_new_anon_rmap(m, new_page, vma, address)
            page_remove_rmap(m, old_page)
    if copied:
        lru_cache_add_active(m, new_page)
        put_page(m, old_page)  # the old pte's reference
    else:
        put_page(m, new_page)
    put_page(m, old_page)
    return VM_FAULT_WRITE if copied else 0


def do_anonymous_page(m: MemMachine, mm: MMStruct, vma: VMA, address: int, flags: int) -> int:
    """A fault in a private anonymous VMA: a new zeroed page (no zero page here)."""
    if vma.vm_flags & VM_SHARED:
        return VM_FAULT_SIGBUS  # shared anonymous memory is a shmem file's business
    pmd = address >> pmd_shift(m)
    if pmd not in mm.pmds and __pte_alloc(m, mm, pmd):
        return VM_FAULT_OOM
    pt = mm.pmds[pmd]
    if pt.__class__ is HugePmd:
        return 0
    anon_vma_prepare(m, vma)
    page = alloc_pages(m, GFP_HIGHUSER_MOVABLE, 0)
    if page is None:
        return VM_FAULT_OOM
    clear_highpage(m, page)
    m.flags[page] |= PG_uptodate
    i = (address >> PAGE_SHIFT) & (m.HPAGE_PMD_NR - 1)
    with pt.ptl:
        raced = pt.ptes[i] != 0
        if not raced:
            mm.rss["MM_ANONPAGES"] += 1
            page_add_new_anon_rmap(m, page, vma, address & PAGE_MASK)
            writable = bool(vma.vm_flags & VM_WRITE)
            pt.ptes[i] = mk_pte(page, writable, writable)
            pt.nr_present += 1
    if raced:
        put_page(m, page)
    else:
        lru_cache_add_active(m, page)
    return 0
