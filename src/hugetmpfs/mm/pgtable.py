"""Page-table pages: allocating, installing and freeing the pte tables under the pmds.

A pte table is a real frame (NR_PAGETABLE counts it from pte_alloc_one to pte_free) and a
:class:`~hugetmpfs.mm.mm_types.PageTable` holding its ptes and its own pte lock.  It is
installed under the pmd lock (``mm.page_table_lock``) and counted in ``mm.nr_ptes`` while
a pmd points at it; free_pgtables takes it down once no VMA covers any part of its range,
as the kernel's floor/ceiling rule does.  Tables left empty by MADV_DONTNEED or truncation
stay, as in the kernel.

Models: mm/memory.c __pte_alloc, free_pgtables / free_pgd_range (v4.6-rc2; patch 09/31
installs the table only after ->fault), include/asm-generic/pgalloc.h pte_alloc_one,
pte_free, include/linux/mm.h pte_lockptr.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.debug import VM_BUG_ON
from hugetmpfs.mm.machine import PAGE_SHIFT
from hugetmpfs.mm.mm_types import HugePmd, PageTable
from hugetmpfs.mm.page_alloc import GFP_KERNEL, __free_pages, alloc_pages
from hugetmpfs.mm.vmstat import NR_PAGETABLE
from hugetmpfs.sim import SpinLock

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine
    from hugetmpfs.mm.mm_types import MMStruct

ENOMEM = 12


def pmd_shift(m: MemMachine) -> int:
    """log2 of the bytes one pmd maps: a pte table covers HPAGE_PMD_NR pages."""
    return PAGE_SHIFT + m.HPAGE_PMD_ORDER


def pte_alloc_one(m: MemMachine) -> PageTable | None:
    """A zeroed page for a pte table, with its pte lock; None when memory is short."""
    page = alloc_pages(m, GFP_KERNEL, 0)
    if page is None:
        return None
    m.content[page] = 0  # __GFP_ZERO: the table's bytes are its (empty) ptes
    m.vmstat.zone[NR_PAGETABLE] += 1  # pgtable_page_ctor
    return PageTable(m.HPAGE_PMD_NR, page, SpinLock(m.engine, "pte_lock", f"ptl#{page}"))


def pte_free(m: MemMachine, pt: PageTable) -> None:
    VM_BUG_ON(pt.nr_present, f"freeing pte table {pt.page} with {pt.nr_present} ptes")
    m.vmstat.zone[NR_PAGETABLE] -= 1  # pgtable_page_dtor
    __free_pages(m, pt.page, 0)


def pmd_install(m: MemMachine, mm: MMStruct, pmd: int, pt: PageTable) -> bool:
    """Point an empty pmd at *pt* under the pmd lock; False if someone filled it first."""
    with mm.page_table_lock:
        if pmd in mm.pmds:
            return False
        mm.nr_ptes += 1
        mm.pmds[pmd] = pt
        return True


def __pte_alloc(m: MemMachine, mm: MMStruct, pmd: int) -> int:
    """Make sure pmd *pmd* has something under it: 0, or -ENOMEM.

    The table is allocated before the pmd lock is taken, so a racing fault may install
    its own first: then ours is freed (patch 09/31 relies on this double check, and a
    racing map_team_by_pmd may have made the pmd huge, which callers must check).
    """
    new = pte_alloc_one(m)
    if new is None:
        return -ENOMEM
    if not pmd_install(m, mm, pmd, new):
        pte_free(m, new)
    return 0


def free_pgtables(m: MemMachine, mm: MMStruct, start: int, end: int) -> None:
    """Free the pte tables over [start, end) that no remaining VMA overlaps.

    Called by munmap after the VMAs were unlinked (so rmap walkers can no longer reach
    these tables) and their ptes zapped, with mmap_sem held for write.
    """
    shift = pmd_shift(m)
    size = 1 << shift
    for pmd in populated_pmds(mm, start >> shift, (end - 1) >> shift):
        entry = mm.pmds[pmd]
        if _pmd_range_in_use(mm, pmd << shift, (pmd << shift) + size):
            continue
        VM_BUG_ON(isinstance(entry, HugePmd), f"huge pmd {pmd:#x} left behind by munmap")
        with mm.page_table_lock:
            del mm.pmds[pmd]
            mm.nr_ptes -= 1
        pte_free(m, entry)


def populated_pmds(mm: MMStruct, first: int, last: int) -> list[int]:
    """The pmds of [first, last] that have something under them, in order (without
    walking empty address space, which may be terabytes)."""
    if last - first < len(mm.pmds):
        return [pmd for pmd in range(first, last + 1) if pmd in mm.pmds]
    return sorted(pmd for pmd in mm.pmds if first <= pmd <= last)


def _pmd_range_in_use(mm: MMStruct, lo: int, hi: int) -> bool:
    return any(vma.vm_start < hi and vma.vm_end > lo for vma in mm.vmas)
