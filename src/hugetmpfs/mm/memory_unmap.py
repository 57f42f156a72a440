"""Taking ptes down: zap_pte_range and its callers, the unmapping half of mm/memory.c.

Zapping a pte drops the page's mapcount (rmap), its rss count, and the pte's reference;
a dirty pte dirties a file page (the page must not be taken for clean later), a young pte
marks it referenced.  The references are gathered, as the kernel's mmu_gather does, and
dropped once the pte lock is released: a last reference frees the page, which takes
lru_lock, and the model's lock order keeps that outside the pte lock (and, for
unmap_mapping_range, outside i_mmap_rwsem).

``check_mapping`` is zap_details' field of that name: when set (truncation's first pass,
even_cows false), only that file's pages are zapped and private COW copies stay.

Models: mm/memory.c (v4.6-rc2 with patch 10/31): zap_pte_range, zap_pmd_range (as
unmap_page_range), unmap_vmas, zap_page_range, unmap_mapping_range(_tree).
Differs: page references are dropped after i_mmap_rwsem is released (the kernel's
tlb_finish_mmu runs under it); mark_page_accessed is reduced to PG_referenced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.huge_memory import remap_team_by_ptes, zap_huge_pmd
from hugetmpfs.mm.mm_types import PTE_DIRTY, PTE_PFN_SHIFT, PTE_YOUNG, VM_SEQ_READ, HugePmd
from hugetmpfs.mm.page_flags import PG_dirty, PG_referenced
from hugetmpfs.mm.pgtable import pmd_shift, populated_pmds
from hugetmpfs.mm.rmap import AnonVma, mm_counter_file, page_remove_rmap
from hugetmpfs.mm.swap import release_pages

if TYPE_CHECKING:
    from hugetmpfs.mm.filemap import AddressSpace
    from hugetmpfs.mm.machine import MemMachine
    from hugetmpfs.mm.mm_types import VMA, PageTable

PAGE_SHIFT = 12


def zap_pte_range(
    m: MemMachine,
    vma: VMA,
    pt: PageTable,
    lo: int,
    hi: int,
    check_mapping: AddressSpace | None,
    tlb: list[int],
) -> None:
    """Clear ptes [lo, hi) of one table under its lock; their pages go to *tlb*."""
    rss = vma.mm.rss
    ptes = pt.ptes
    mappings = m.mappings
    flags = m.flags
    keep_young = not vma.vm_flags & VM_SEQ_READ
    with pt.ptl:
        for i in range(lo, hi):
            pte = ptes[i]
            if not pte:
                continue
            page = pte >> PTE_PFN_SHIFT
            if check_mapping is not None and m.mapping[page] != check_mapping.id:
                continue  # a private COW copy: truncation's first pass leaves it
            ptes[i] = 0
            pt.nr_present -= 1
            if mappings[m.mapping[page]].__class__ is AnonVma:
                rss["MM_ANONPAGES"] -= 1
            else:
                if pte & PTE_DIRTY:
                    flags[page] |= PG_dirty  # set_page_dirty
                if pte & PTE_YOUNG and keep_young:
                    flags[page] |= PG_referenced  # mark_page_accessed
                rss[mm_counter_file(m, page)] -= 1
            page_remove_rmap(m, page)
            tlb.append(page)


def unmap_page_range(
    m: MemMachine,
    vma: VMA,
    start: int,
    end: int,
    check_mapping: AddressSpace | None,
    tlb: list[int],
) -> None:
    """Zap [start, end) of *vma*: a huge pmd wholly inside goes at once, one partly inside
    is split to ptes first (patch 10/31: remap_team_by_ptes)."""
    mm = vma.mm
    shift = pmd_shift(m)
    mask = m.HPAGE_PMD_NR - 1
    for pmd in populated_pmds(mm, start >> shift, (end - 1) >> shift):
        lo = max(start, pmd << shift)
        hi = min(end, (pmd + 1) << shift)
        entry = mm.pmds.get(pmd)
        if entry.__class__ is HugePmd:
            if hi - lo == 1 << shift:
                if check_mapping is None or m.mapping[entry.head] == check_mapping.id:
                    zap_huge_pmd(m, vma, pmd, tlb)
                continue
            remap_team_by_ptes(m, vma, lo, pmd)
            entry = mm.pmds.get(pmd)
        if entry is not None and entry.nr_present:
            first = (lo >> PAGE_SHIFT) & mask
            last = first + ((hi - lo) >> PAGE_SHIFT)
            zap_pte_range(m, vma, entry, first, last, check_mapping, tlb)


def unmap_vmas(m: MemMachine, vmas: list[VMA], start: int, end: int, tlb: list[int]) -> None:
    """Zap the parts of *vmas* inside [start, end) (munmap, with mmap_sem held for write)."""
    for vma in vmas:
        lo, hi = max(start, vma.vm_start), min(end, vma.vm_end)
        if lo < hi:
            unmap_page_range(m, vma, lo, hi, None, tlb)


def zap_page_range(m: MemMachine, vma: VMA, start: int, size: int) -> None:
    """Remove every pte of [start, start+size) in *vma*, COW copies included
    (MADV_DONTNEED; 6.18's zap_page_range_single).  mmap_sem is held for read."""
    tlb: list[int] = []
    unmap_page_range(m, vma, start, start + size, None, tlb)
    release_pages(m, tlb, cold=False)  # tlb_finish_mmu


def unmap_mapping_range(
    m: MemMachine, mapping: AddressSpace, holebegin: int, holelen: int, even_cows: bool
) -> None:
    """Unmap the file range [holebegin, holebegin+holelen) (holelen 0: to the end) from
    every VMA of *mapping*; without *even_cows*, private COW copies stay mapped.

    Truncation and hole-punch call it (the second time with even_cows, for copies made
    meanwhile); it may be called with the page lock of a page in the range held.
    """
    first = holebegin >> PAGE_SHIFT
    last = None
    if holelen:
        last = first + ((holelen + (1 << PAGE_SHIFT) - 1) >> PAGE_SHIFT) - 1
    check_mapping = None if even_cows else mapping
    tlb: list[int] = []
    mapping.i_mmap_rwsem.down_write()
    try:
        for vma in list(mapping.i_mmap):
            vba = vma.vm_pgoff
            vea = vba + ((vma.vm_end - vma.vm_start) >> PAGE_SHIFT) - 1
            zba = max(first, vba)
            zea = vea if last is None else min(last, vea)
            if zba > zea:
                continue
            start = vma.vm_start + ((zba - vba) << PAGE_SHIFT)
            end = vma.vm_start + ((zea - vba + 1) << PAGE_SHIFT)
            unmap_page_range(m, vma, start, end, check_mapping, tlb)
    finally:
        mapping.i_mmap_rwsem.up_write()
    release_pages(m, tlb, cold=False)
