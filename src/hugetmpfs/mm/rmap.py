"""Reverse mapping: from a page to the ptes that map it, and the counts that go with them.

``_mapcount`` lives in ``m.mapcount`` (-1: unmapped).  A file page finds its VMAs through
its address_space's ``i_mmap``; an anonymous page (a private COW copy) through its
:class:`AnonVma`, whose id is what ``m.mapping`` holds for it, so page->mapping of an anon
page names an AnonVma as the kernel's PAGE_MAPPING_ANON pointer does.

NR_FILE_MAPPED counts a file page on its _mapcount's -1 -> 0 and 0 -> -1 edges, asking
inc/dec_team_pte_mapped first, so a team page covered by a huge pmd is counted once
(patch 15/31); NR_ANON_PAGES counts anonymous pages the same way.

Lock order: the page lock (the callers of try_to_unmap hold it), then i_mmap_rwsem or the
anon_vma's rwsem (the same lockdep class, as both sit at the same place in rmap.c's order),
then the pte lock.

Models: mm/rmap.c (v4.6-rc2; patches 08 and 15 of 31): anon_vma_prepare, page_add_file_rmap,
page_remove_rmap, page_add_new_anon_rmap, page_check_address, page_check_pmd (patch 08's
page_check_address_transhuge), try_to_unmap(_one),
page_referenced(_one), rmap_walk; include/linux/mm.h mm_counter, page_mapped.
Differs: no migration or swap ptes (try_to_unmap fails on anonymous pages), no mlock.
With TTU_MIGRATION a file page's pte is cleared as by an unmap, and the slot is remembered
in a :class:`MigrationEntry` for remove_migration_ptes (mm/migrate.py) instead of holding
a migration entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hugetmpfs.mm.mm_types import (
    PTE_DIRTY,
    PTE_PFN_SHIFT,
    PTE_WRITE,
    PTE_YOUNG,
    VM_LOCKED,
    VM_SEQ_READ,
    HugePmd,
    linear_page_index,
)
from hugetmpfs.mm.page_flags import PG_dirty, PG_swapbacked, PG_team
from hugetmpfs.mm.pageteam import dec_team_pte_mapped, inc_team_pte_mapped
from hugetmpfs.mm.pgtable import pmd_shift
from hugetmpfs.mm.swap import put_page
from hugetmpfs.mm.vmstat import NR_ANON_PAGES, NR_FILE_MAPPED
from hugetmpfs.sim import RWSem

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.mm.machine import MemMachine
    from hugetmpfs.mm.mm_types import VMA, MMStruct, PageTable

# try_to_unmap results and flags (include/linux/rmap.h, v4.6)
SWAP_SUCCESS, SWAP_AGAIN, SWAP_FAIL, SWAP_MLOCK = 0, 1, 2, 3
TTU_UNMAP = 1
TTU_MIGRATION = 2
TTU_IGNORE_MLOCK = 1 << 8
TTU_IGNORE_ACCESS = 1 << 9


class AnonVma:
    """struct anon_vma: the VMAs whose private COW pages may point here (no fork: one
    VMA and the pieces it is split into)."""

    # page->mapping names an anon_vma: what the layers that cannot import this module test
    # (page_alloc clears page->mapping at free, vmscan and check/census tell anon pages)
    PAGE_MAPPING_ANON = True
    is_anon = True

    def __init__(self, m: MemMachine) -> None:
        self.vmas: list[VMA] = []  # the anon_vma_chain
        self.rwsem = RWSem(m.engine, "i_mmap_rwsem", "anon_vma->rwsem")
        self.id = m.register_mapping(self)

    def __repr__(self) -> str:
        return f"anon_vma#{self.id}"


@dataclass(slots=True, eq=False)
class MigrationEntry:
    """Where try_to_unmap(TTU_MIGRATION) took a pte down: the model's migration entry.

    The kernel leaves a non-present pte naming the page in the slot; here the slot is left
    empty and this record says where it was and what the pte allowed, so that
    remove_migration_ptes can put a pte back there.  ``counter`` is the rss counter the
    unmap decremented; ``bits`` the pte's PTE_WRITE, PTE_DIRTY and PTE_YOUNG.
    """

    vma: VMA
    address: int
    pt: PageTable
    slot: int
    bits: int
    counter: str


def PageAnon(m: MemMachine, page: int) -> bool:
    return m.mappings[m.mapping[page]].__class__ is AnonVma


def anon_vma_prepare(m: MemMachine, vma: VMA) -> int:
    """Give *vma* an anon_vma before its first COW page: 0 (it cannot fail here)."""
    if vma.anon_vma is None:
        anon_vma = AnonVma(m)
        with vma.mm.page_table_lock:  # the kernel publishes vma->anon_vma under it
            if vma.anon_vma is None:
                vma.anon_vma = anon_vma
                anon_vma.vmas.append(vma)
    return 0


def anon_vma_clone(dst: VMA, src: VMA) -> None:
    """A VMA split from *src* shares its anon_vma (caller holds mmap_sem for write)."""
    if src.anon_vma is not None:
        dst.anon_vma = src.anon_vma
        dst.anon_vma.vmas.append(dst)


def unlink_anon_vmas(vma: VMA) -> None:
    anon_vma = vma.anon_vma
    if anon_vma is not None:
        anon_vma.rwsem.down_write()
        anon_vma.vmas.remove(vma)
        anon_vma.rwsem.up_write()


def mm_counter_file(m: MemMachine, page: int) -> str:
    return "MM_SHMEMPAGES" if m.flags[page] & PG_swapbacked else "MM_FILEPAGES"


def mm_counter(m: MemMachine, page: int) -> str:
    """Which rss counter a mapped page counts in."""
    if PageAnon(m, page):
        return "MM_ANONPAGES"
    return mm_counter_file(m, page)


def page_mapcount(m: MemMachine, page: int) -> int:
    return m.mapcount[page] + 1


def page_mapped(m: MemMachine, page: int) -> bool:
    """Mapped by some pte (or, for a team head, some pmd; tails of a pmd-mapped team are
    not: patch 11/31's race)."""
    return m.mapcount[page] >= 0


# -- adding and removing mappings ----------------------------------------------------------


def page_add_file_rmap(m: MemMachine, page: int) -> None:
    """One more pte maps file *page* (under its pte lock)."""
    count = m.mapcount[page] + 1
    m.mapcount[page] = count
    # patch 15/31: a team page covered by a huge pmd is in Mapped already.
    if count == 0 and (not m.flags[page] & PG_team or inc_team_pte_mapped(m, page)):
        m.vmstat.zone[NR_FILE_MAPPED] += 1


def page_remove_file_rmap(m: MemMachine, page: int) -> None:
    count = m.mapcount[page] - 1
    m.mapcount[page] = count
    if count == -1 and (not m.flags[page] & PG_team or dec_team_pte_mapped(m, page)):
        m.vmstat.zone[NR_FILE_MAPPED] -= 1


def page_remove_rmap(m: MemMachine, page: int) -> None:
    """One pte less maps *page* (under its pte lock)."""
    if not PageAnon(m, page):
        page_remove_file_rmap(m, page)
        return
    count = m.mapcount[page] - 1
    m.mapcount[page] = count
    if count == -1:
        m.vmstat.zone[NR_ANON_PAGES] -= 1


def page_add_new_anon_rmap(m: MemMachine, page: int, vma: VMA, address: int) -> None:
    """A new private page, seen by nobody else yet, is mapped at *address* of *vma*."""
    m.flags[page] |= PG_swapbacked  # __SetPageSwapBacked
    m.mapcount[page] = 0
    m.vmstat.zone[NR_ANON_PAGES] += 1
    m.mapping[page] = vma.anon_vma.id  # __page_set_anon_rmap
    m.index[page] = linear_page_index(vma, address)


# -- walking the mappings of a page ---------------------------------------------------------


def vma_address(m: MemMachine, page: int, vma: VMA) -> int | None:
    """Where *vma* maps *page*, or None when the page's index lies outside it."""
    address = vma.vm_start + ((m.index[page] - vma.vm_pgoff) << 12)
    if address < vma.vm_start or address >= vma.vm_end:
        return None
    return address


def rmap_walk(m: MemMachine, page: int, rmap_one: Callable[[VMA, int], bool]) -> None:
    """Call ``rmap_one(vma, address)`` for every VMA that may map *page*, until it returns
    False; under the anon_vma's or the mapping's rwsem, taken for read."""
    mapping = m.mappings[m.mapping[page]]
    if mapping is None:
        return
    lock = mapping.rwsem if mapping.__class__ is AnonVma else mapping.i_mmap_rwsem
    vmas = mapping.vmas if mapping.__class__ is AnonVma else mapping.i_mmap
    lock.down_read()
    try:
        for vma in list(vmas):
            address = vma_address(m, page, vma)
            if address is not None and not rmap_one(vma, address):
                break
    finally:
        lock.up_read()


def page_check_address(
    m: MemMachine, page: int, mm: MMStruct, address: int
) -> tuple[PageTable, int] | None:
    """The table and slot of the pte mapping *page* at *address*, returned with the pte
    lock held; None if it is not mapped there (or only by a huge pmd: see patch 08/31's
    page_check_address_transhuge, used by try_to_unmap_one for a team head)."""
    entry = mm.pmds.get(address >> pmd_shift(m))
    if entry is None or entry.__class__ is HugePmd:
        return None
    i = (address >> 12) & (m.HPAGE_PMD_NR - 1)
    # The pmd was read without a lock; the table stays while we hold i_mmap_rwsem (munmap
    # unlinks the VMA before free_pgtables), and its lock then validates the pte.
    entry.ptl.lock()
    pte = entry.ptes[i]
    if pte and pte >> PTE_PFN_SHIFT == page:
        return entry, i
    entry.ptl.unlock()
    return None


def page_check_pmd(m: MemMachine, page: int, mm: MMStruct, address: int) -> HugePmd | None:
    """The huge pmd mapping *page* at *address*, returned with the pmd lock held, or None.
    Only a team head matches a pmd: an rmap walk for a tail never finds it.

    Models: mm/rmap.c page_check_address_transhuge, its pmd half (patch 08/31).
    Guards: base/R8.
    """
    pmd = address >> pmd_shift(m)
    while True:  # again:
        entry = mm.pmds.get(pmd)  # the lockless snapshot
        if entry.__class__ is not HugePmd or entry.head != page:
            return None
        mm.page_table_lock.lock()
        # base/R8: the pmd may have been split or zapped since the snapshot: look again.
        if mm.pmds.get(pmd) is entry:
            return entry
        mm.page_table_lock.unlock()


def try_to_unmap_one(
    m: MemMachine,
    page: int,
    vma: VMA,
    address: int,
    flags: int,
    entries: list[MigrationEntry] | None = None,
) -> int:
    """Remove the pte (or, for a team head, the huge pmd) mapping *page* at *address* of
    *vma*: SWAP_AGAIN to go on.  With TTU_MIGRATION each pte taken down is remembered on
    *entries* (see :class:`MigrationEntry`); a huge pmd is not taken down then (SWAP_FAIL:
    v4.6 has no pmd migration entries, and a team page is never migrated, patch 05/31)."""
    mm = vma.mm
    huge = page_check_pmd(m, page, mm, address)
    if huge is not None and flags & TTU_MIGRATION:
        mm.page_table_lock.unlock()
        return SWAP_FAIL
    if huge is not None:
        locked = vma.vm_flags & VM_LOCKED and not flags & TTU_IGNORE_MLOCK
        young = not locked and huge.young and not flags & TTU_IGNORE_ACCESS
        if young:
            huge.young = False  # pmdp_clear_flush_young_notify: used recently, keep it
        mm.page_table_lock.unlock()
        if locked:
            return SWAP_MLOCK
        if young:
            return SWAP_FAIL
        from hugetmpfs.mm.huge_memory import unmap_team_by_pmd

        unmap_team_by_pmd(m, vma, address, page, huge)
        return SWAP_AGAIN
    found = page_check_address(m, page, mm, address)
    if found is None:
        return SWAP_AGAIN
    pt, i = found
    pte = pt.ptes[i]
    try:
        if vma.vm_flags & VM_LOCKED and not flags & TTU_IGNORE_MLOCK:
            return SWAP_MLOCK
        if not flags & TTU_IGNORE_ACCESS and pte & PTE_YOUNG:
            pt.ptes[i] = pte & ~PTE_YOUNG  # ptep_clear_flush_young: used recently, keep it
            return SWAP_FAIL
        if PageAnon(m, page):
            return SWAP_FAIL  # would need a swap or migration entry: not modelled
        pt.ptes[i] = 0
        pt.nr_present -= 1
        if pte & PTE_DIRTY:
            m.flags[page] |= PG_dirty  # set_page_dirty: the pte's dirtiness moves to the page
        counter = mm_counter_file(m, page)
        mm.rss[counter] -= 1
        page_remove_rmap(m, page)
        if flags & TTU_MIGRATION and entries is not None:
            bits = pte & (PTE_WRITE | PTE_DIRTY | PTE_YOUNG)
            entries.append(MigrationEntry(vma, address, pt, i, bits, counter))
    finally:
        pt.ptl.unlock()
    put_page(m, page)  # the pte's reference; the caller holds its own
    return SWAP_AGAIN


def try_to_unmap(
    m: MemMachine,
    page: int,
    flags: int = TTU_UNMAP,
    entries: list[MigrationEntry] | None = None,
) -> int:
    """Unmap a locked page from every pte: SWAP_SUCCESS when none is left.  With
    TTU_MIGRATION, *entries* collects the slots for remove_migration_ptes."""
    result = [SWAP_AGAIN]

    def one(vma: VMA, address: int) -> bool:
        result[0] = try_to_unmap_one(m, page, vma, address, flags, entries)
        return result[0] == SWAP_AGAIN and page_mapped(m, page)

    rmap_walk(m, page, one)
    ret = result[0]
    if ret != SWAP_MLOCK and not page_mapped(m, page):
        ret = SWAP_SUCCESS
    return ret


def page_referenced(m: MemMachine, page: int, is_locked: bool = True) -> tuple[int, int]:
    """(how many ptes had the young bit, which they lose; VM_LOCKED if a locked VMA maps
    it).  A reference through a VM_SEQ_READ mapping does not count, as in v4.6.

    Differs: an anonymous page is not trylocked when *is_locked* is False (no KSM or
    anon_vma reuse makes that lock matter here).
    """
    referenced, vm_flags = 0, 0
    if not page_mapped(m, page):
        return 0, 0

    def one(vma: VMA, address: int) -> bool:
        nonlocal referenced, vm_flags
        huge = page_check_pmd(m, page, vma.mm, address)
        if huge is not None:
            locked = vma.vm_flags & VM_LOCKED
            young = not locked and huge.young
            if young:
                huge.young = False  # pmdp_clear_flush_young_notify
            vma.mm.page_table_lock.unlock()
            if locked:
                vm_flags |= VM_LOCKED
                return False
            referenced += bool(young and not vma.vm_flags & VM_SEQ_READ)
            return True
        found = page_check_address(m, page, vma.mm, address)
        if found is None:
            return True
        pt, i = found
        pte = pt.ptes[i]
        if vma.vm_flags & VM_LOCKED:
            pt.ptl.unlock()
            vm_flags |= VM_LOCKED
            return False
        if pte & PTE_YOUNG:
            pt.ptes[i] = pte & ~PTE_YOUNG
            if not vma.vm_flags & VM_SEQ_READ:
                referenced += 1
        pt.ptl.unlock()
        return True

    rmap_walk(m, page, one)
    return referenced, vm_flags
