"""Remap a recovered team by huge pmds where its pages are mapped by ptes.

Every pte into the extent already maps the right slot of the team (migration saw to it),
so each page table can give way to a huge pmd: in the faulting mm, with its mmap_sem held
for writing (pte walkers cannot cope with a huge pmd appearing in place of their table),
and in other mms only if their mmap_sem can be had by trylock (taking it after the page
lock and i_mmap_rwsem would invert the lock order).  A pmd that is none is left to fault
for itself: the team is PageChecked, so the next fault maps it huge at once.

Models: mm/shmem.c shmem_recovery_remap (patch 25/31).
Guards: recovery/R23 (mmap_sem for write), recovery/R24 (PageTeam rechecked under the
head lock).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.debug import VM_BUG_ON_PAGE
from hugetmpfs.mm.filemap import lock_page, unlock_page
from hugetmpfs.mm.huge_memory import remap_team_by_pmd
from hugetmpfs.mm.mm_types import HugePmd
from hugetmpfs.mm.page_flags import PG_checked, PG_team
from hugetmpfs.mm.rmap import vma_address

if TYPE_CHECKING:
    from hugetmpfs.mm.mm_types import VMA
    from hugetmpfs.shmem.machine import Machine
    from hugetmpfs.shmem.recovery import Recovery


def shmem_recovery_remap(m: Machine, r: Recovery, head: int) -> None:
    """Replace pte tables mapping the complete team *head* by huge pmds.

    Models: mm/shmem.c shmem_recovery_remap (patch 25/31).
    """
    st = m.recovery_stats
    mm = r.mm
    mapping = r.inode.mapping
    mm.mmap_sem.down_write()
    lock_page(m, head)
    # recovery/R24: the team may have been disbanded since populate unlocked its head.
    if not m.flags[head] & PG_team and m.guard_on("recovery/R24"):
        unlock_page(m, head)
        mm.mmap_sem.up_write()
        return
    VM_BUG_ON_PAGE(not m.flags[head] & PG_checked, m, head, "remapping an unchecked team")
    mapping.i_mmap_rwsem.down_write()
    try_other = False
    for vma in list(mapping.i_mmap):
        found = _remappable(m, vma, head)
        if found is None:
            continue
        if vma.mm is not mm:
            try_other = True
            continue
        if remap_team_by_pmd(m, vma, found[0], found[1], head):
            st.remap_faulter += 1
    mm.mmap_sem.up_write()
    if try_other:
        for vma in list(mapping.i_mmap):
            if vma.mm is mm:
                continue
            found = _remappable(m, vma, head)
            if found is None:
                continue
            if vma.mm.mmap_sem.down_write_trylock():
                if remap_team_by_pmd(m, vma, found[0], found[1], head):
                    st.remap_another += 1
                vma.mm.mmap_sem.up_write()
            else:
                st.remap_untried += 1
    mapping.i_mmap_rwsem.up_write()
    unlock_page(m, head)


def _remappable(m: Machine, vma: VMA, head: int) -> tuple[int, int] | None:
    """(address, pmd) where *vma* could map *head* hugely over an existing pte table."""
    if vma.anon_vma is not None:
        return None  # may hold COWed pages (an over-strict hint)
    address = vma_address(m, head, vma)
    if address is None or address & (m.HPAGE_PMD_SIZE - 1):
        return None
    if vma.vm_end < address + m.HPAGE_PMD_SIZE or vma.mm.mm_users == 0:
        return None
    pmd = address >> (12 + m.HPAGE_PMD_ORDER)
    entry = vma.mm.pmds.get(pmd)  # mm_find_pmd: none or trans-huge is no use
    if entry is None or entry.__class__ is HugePmd:
        return None
    return address, pmd
