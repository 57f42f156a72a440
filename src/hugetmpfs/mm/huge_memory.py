"""Mapping a team by a huge pmd, and back: the entry points the fault, zap and rmap paths call.

A huge pmd (:class:`~hugetmpfs.mm.mm_types.HugePmd`) maps a complete team by its head.  It
holds one reference and one ``_mapcount`` on the head, none on the tails (digest §1.10),
and the head's team_usage counts it (``inc/dec_team_pmd_mapped``).  It keeps a deposited
pte table, counted in ``mm.nr_ptes``, so that remap_team_by_ptes cannot fail.  The pmd
lock is ``mm.page_table_lock``.

Callers: __do_fault on VM_FAULT_HUGE (map_team_by_pmd), unmap_page_range for a pmd
wholly in range (zap_huge_pmd) or partly in range (remap_team_by_ptes, as
__split_huge_pmd does: partial munmap, MADV_DONTNEED, unmap_mapping_range of one page),
__split_vma across a huge pmd, wp_huge_pmd, and try_to_unmap_one for a team head
(unmap_team_by_pmd, patch 08/31).

Models: mm/huge_memory.c (patch 10/31, with patch 15/31's Mapped accounting):
page_add_team_rmap, page_remove_team_rmap, map_team_by_pmd, unmap_team_by_pmd,
remap_team_by_ptes, zap_huge_pmd's team case.
Differs: no memcg statistics (patch 19/31), no mlock of huge pmds (patch 14/31).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.debug import VM_BUG_ON_PAGE
from hugetmpfs.mm.filemap import unlock_page
from hugetmpfs.mm.mm_types import (
    PTE_DIRTY,
    PTE_PFN_SHIFT,
    PTE_PRESENT,
    PTE_WRITE,
    PTE_YOUNG,
    VM_FAULT_NOPAGE,
    VM_FAULT_OOM,
    VM_SHARED,
    VM_WRITE,
    HugePmd,
)
from hugetmpfs.mm.page_flags import PG_dirty, PG_locked, PG_team
from hugetmpfs.mm.page_ref import get_page
from hugetmpfs.mm.pageteam import dec_team_pmd_mapped, guard_on, inc_team_pmd_mapped
from hugetmpfs.mm.pgtable import pte_alloc_one, pte_free
from hugetmpfs.mm.rmap import page_add_file_rmap, page_remove_rmap
from hugetmpfs.mm.swap import put_page
from hugetmpfs.mm.vmstat import NR_FILE_MAPPED, NR_SHMEM_PMDMAPPED

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine
    from hugetmpfs.mm.mm_types import VMA, PageTable


def page_add_team_rmap(m: MemMachine, head: int) -> None:
    """One more pmd maps the team at *head*: on the first, count the team in
    NR_SHMEM_PMDMAPPED and its pages not yet pte-mapped in Mapped.

    Models: mm/rmap.c page_add_team_rmap (patches 10 and 15 of 31).
    Guards: base/R15.1 (one atomic word holds both the pmd and the pte counts).
    """
    first, nr = inc_team_pmd_mapped(m, head)
    if first:
        zone = m.vmstat.zone
        zone[NR_SHMEM_PMDMAPPED] += 1
        zone[NR_FILE_MAPPED] += nr


def page_remove_team_rmap(m: MemMachine, head: int) -> None:
    """One pmd less maps the team at *head*; the mirror of page_add_team_rmap.

    Models: mm/rmap.c page_remove_team_rmap (patches 10 and 15 of 31).
    """
    last, nr = dec_team_pmd_mapped(m, head)
    if last:
        zone = m.vmstat.zone
        zone[NR_SHMEM_PMDMAPPED] -= 1
        zone[NR_FILE_MAPPED] -= nr


def map_team_by_pmd(m: MemMachine, vma: VMA, address: int, pmd: int, head: int) -> int:
    """Map the locked, complete team *head* by pmd *pmd*: VM_FAULT_NOPAGE or VM_FAULT_OOM.

    The fault's reference on the head becomes the pmd's, and the head is unlocked.

    Models: mm/huge_memory.c map_team_by_pmd (patch 10/31).
    Guards: base/R10.1 (the head lock serialises huge faults; the pmd is rechecked under
    the pmd lock, so a racing small fault's table or another huge pmd wins).
    """
    VM_BUG_ON_PAGE(not m.flags[head] & PG_team, m, head, "map_team_by_pmd: not a team")
    VM_BUG_ON_PAGE(not m.flags[head] & PG_locked, m, head, "map_team_by_pmd: unlocked")
    mm = vma.mm
    ret = VM_FAULT_NOPAGE
    if pmd not in mm.pmds:
        pgtable = pte_alloc_one(m)
        if pgtable is None:
            ret = VM_FAULT_OOM
        elif _install_huge_pmd(m, vma, pmd, head, pgtable):
            unlock_page(m, head)
            return VM_FAULT_NOPAGE
        else:
            pte_free(m, pgtable)
    # raced2:
    unlock_page(m, head)
    put_page(m, head)
    return ret


def _install_huge_pmd(m: MemMachine, vma: VMA, pmd: int, head: int, pgtable: PageTable) -> bool:
    """Under the pmd lock: set the huge pmd with its deposited table, unless the pmd was
    filled meanwhile (base/R10.1)."""
    mm = vma.mm
    # A shared writable tmpfs mapping wants no write-notify: its pmd is writable at once.
    write = vma.vm_flags & (VM_SHARED | VM_WRITE) == VM_SHARED | VM_WRITE
    with mm.page_table_lock:
        # base/R10.1: the head lock serialises huge faults, but not a small fault (a COW
        # write to a private mapping) that put a pte table under this pmd since the
        # unlocked pmd_none test: recheck under the pmd lock, or its table and ptes would
        # be overwritten and lost (pte under pmd).
        if pmd in mm.pmds and guard_on(m, "base/R10.1"):
            return False
        mm.pmds[pmd] = HugePmd(head, write, pgtable)
        page_add_file_rmap(m, head)  # the head's _mapcount, maybe 1 in Mapped (patch 15)
        page_add_team_rmap(m, head)
        mm.nr_ptes += 1  # the deposited table
        mm.rss["MM_SHMEMPAGES"] += m.HPAGE_PMD_NR
    return True


def _take_down_pmd(m: MemMachine, vma: VMA, pmd: int, entry: HugePmd) -> None:
    """Under the pmd lock: clear the huge pmd and undo what mapping it counted."""
    mm = vma.mm
    mm.pmds.pop(pmd, None)  # pmdp_huge_get_and_clear + pgtable_trans_huge_withdraw
    head = entry.head
    if entry.dirty:
        m.flags[head] |= PG_dirty  # set_page_dirty
    page_remove_team_rmap(m, head)
    page_remove_rmap(m, head)
    mm.nr_ptes -= 1
    mm.rss["MM_SHMEMPAGES"] -= m.HPAGE_PMD_NR


def zap_huge_pmd(m: MemMachine, vma: VMA, pmd: int, tlb: list[int]) -> None:
    """Take down huge pmd *pmd* wholly in a zapped range; its head reference goes to *tlb*.

    Models: mm/huge_memory.c zap_huge_pmd, the team case (patch 10/31).
    """
    mm = vma.mm
    with mm.page_table_lock:
        entry = mm.pmds.get(pmd)
        if entry.__class__ is not HugePmd:
            return
        _take_down_pmd(m, vma, pmd, entry)
    if entry.deposited is not None:
        pte_free(m, entry.deposited)
    tlb.append(entry.head)  # tlb_remove_page: the pmd's reference


def unmap_team_by_pmd(
    m: MemMachine, vma: VMA, address: int, head: int, seen: HugePmd | None = None
) -> None:
    """Reclaim's try_to_unmap_one found locked *head* mapped by a pmd (*seen*): take the
    pmd down.

    Models: mm/huge_memory.c unmap_team_by_pmd (patch 10/31).
    Guards: base/R10.3 (the pmd lock was dropped since the pmd was found: recheck it).
    """
    mm = vma.mm
    pmd = address >> (12 + m.HPAGE_PMD_ORDER)
    with mm.page_table_lock:
        entry = mm.pmds.get(pmd)
        # base/R10.3: try_to_unmap_one dropped the pmd lock after finding the pmd; a racing
        # zap_huge_pmd (munmap) or remap_team_by_ptes (split) may have taken it down since,
        # and a second take-down would drop the pmd's count, mapcount and reference twice.
        # Act only if the pmd still maps this head hugely.
        if guard_on(m, "base/R10.3") or seen is None:
            if entry.__class__ is not HugePmd or entry.head != head:
                return
        else:
            entry = seen  # the unguarded code trusts what it found
        _take_down_pmd(m, vma, pmd, entry)
    if entry.deposited is not None:
        pte_free(m, entry.deposited)
    put_page(m, entry.head)  # the pmd's reference; the caller holds its own


def remap_team_by_ptes(m: MemMachine, vma: VMA, address: int, pmd: int) -> None:
    """Replace the huge pmd *pmd* by ptes of its team, from the deposited table.

    Each tail gets a reference and a _mapcount for its pte; the head's pte takes over the
    pmd's.  It cannot fail, and it runs without the head lock.

    Models: mm/huge_memory.c remap_team_by_ptes (patch 10/31).
    Guards: base/R10.2 (the team's pmd count is dropped only after every pte is in place).
    """
    mm = vma.mm
    with mm.page_table_lock:
        entry = mm.pmds.get(pmd)
        if entry.__class__ is not HugePmd:
            return  # someone split or zapped it first
        head = entry.head
        pgtable = entry.deposited
        assert pgtable is not None
        guarded = guard_on(m, "base/R10.2")
        with pgtable.ptl:
            mm.pmds[pmd] = pgtable  # pmd_populate: nr_ptes already counts the deposit
            if not guarded:
                page_remove_team_rmap(m, head)  # the unguarded order: tails look unmapped
                m.engine.point("base/R10.2:remap_before_ptes")
            _fill_team_ptes(m, pgtable, head, entry)
            # base/R10.2: a disbander loops while team_pmd_mapped(head); dropping the pmd
            # count before every tail's mapcount is raised would let truncation free
            # tails still mapped.  Drop it last.
            if guarded:
                page_remove_team_rmap(m, head)


def _fill_team_ptes(m: MemMachine, pgtable: PageTable, head: int, entry: HugePmd) -> None:
    """Under both locks: a pte for every subpage; tails get a reference and a mapcount
    (page flags are not moved from head to tails: Q-13)."""
    bits = PTE_PRESENT | PTE_DIRTY
    if entry.write:
        bits |= PTE_WRITE
    if entry.young:
        bits |= PTE_YOUNG
    ptes = pgtable.ptes
    ptes[0] = head << PTE_PFN_SHIFT | bits
    for i in range(1, m.HPAGE_PMD_NR):
        page = head + i
        get_page(m, page)  # first: the pte's reference exists before the pte does
        ptes[i] = page << PTE_PFN_SHIFT | bits
        page_add_file_rmap(m, page)
    pgtable.nr_present = m.HPAGE_PMD_NR


def remap_team_by_pmd(m: MemMachine, vma: VMA, address: int, pmd: int, head: int) -> bool:
    """Replace the pte table under *pmd*, whose ptes all map their slots of the locked,
    complete team *head*, by one huge pmd; the emptied table is deposited.  True if done.

    A pmd found none or huge is left alone (not expected: the caller found a table).  A
    table with no pte left is backed out of: the mm may be between unmap_vmas and
    free_pgtables (munmap or exit), about to free it (recovery/R15).

    Models: mm/huge_memory.c remap_team_by_pmd (patch 25/31).
    Guards: recovery/R15.
    """
    VM_BUG_ON_PAGE(not m.flags[head] & PG_team, m, head, "remap_team_by_pmd: not a team")
    VM_BUG_ON_PAGE(not m.flags[head] & PG_locked, m, head, "remap_team_by_pmd: unlocked")
    mm = vma.mm
    with mm.page_table_lock:
        pgtable = mm.pmds.get(pmd)
        if pgtable is None or pgtable.__class__ is HugePmd:
            return False
        with pgtable.ptl:
            # Mark the head mapped before its pte goes, so its mapcount never bounces 1→0→1.
            page_add_file_rmap(m, head)
            ptes = pgtable.ptes
            rss = 0
            young = False
            for i in range(m.HPAGE_PMD_NR):
                pte = ptes[i]
                if not pte:
                    continue
                page = head + i
                VM_BUG_ON_PAGE(pte >> PTE_PFN_SHIFT != page, m, page, "pte not in its slot")
                young |= bool(pte & PTE_YOUNG)
                ptes[i] = 0
                page_remove_rmap(m, page)
                put_page(m, page)  # the pte's reference
                rss += 1
            pgtable.nr_present = 0
            # recovery/R15: no pte at all: back out rather than put a pmd over a table that
            # munmap or exit is about to free.
            if not rss and guard_on(m, "recovery/R15"):
                page_remove_rmap(m, head)
                return False
            # The huge pmd gets the vma's protection: writable for a shared writable map.
            write = vma.vm_flags & (VM_SHARED | VM_WRITE) == VM_SHARED | VM_WRITE
            mm.pmds[pmd] = HugePmd(head, write, pgtable, dirty=True, young=young or not rss)
            get_page(m, head)  # the pmd's reference
            page_add_team_rmap(m, head)
            mm.rss["MM_SHMEMPAGES"] += m.HPAGE_PMD_NR - rss  # nr_ptes: same table, deposited
    return True
