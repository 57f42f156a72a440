"""When tmpfs allocates huge, and how: the huge policy, shmem_alloc_page's team branch, and
the shrink list an inode joins when it gets a team.

Models: mm/shmem.c of patches 03, 04, 06, 23 and 24 of 31 (shmem_alloc_page, the
shmem_huge sysctl and huge= mount option), extended with the upstream vocabulary as
policies over the same team machinery (docs/teams.md): ``within_size`` allocates a team only
when i_size, including the write's end, covers the whole extent; ``advise`` only for faults
in a VMA marked MADV_HUGEPAGE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.filemap import __set_page_locked, lock_page, unlock_page
from hugetmpfs.mm.mm_types import VM_HUGEPAGE, VM_NOHUGEPAGE
from hugetmpfs.mm.page_alloc import alloc_pages, split_page
from hugetmpfs.mm.page_flags import PG_swapbacked, PG_swapcache, PG_team
from hugetmpfs.mm.page_ref import get_page
from hugetmpfs.mm.swap import put_page
from hugetmpfs.shmem.gfp import shmem_huge_gfp
from hugetmpfs.shmem.inode import (
    SHMEM_HUGE_ADVISE,
    SHMEM_HUGE_ALWAYS,
    SHMEM_HUGE_WITHIN_SIZE,
    ShmemInodeInfo,
)
from hugetmpfs.shmem.team import (
    SHMEM_ALLOC_HUGE_PAGE,
    SHMEM_ALLOC_SMALL_PAGE,
    SHMEM_RETRY_HUGE_PAGE,
    shmem_hugeteam_lookup,
)

if TYPE_CHECKING:
    from hugetmpfs.mm.mm_types import VMA
    from hugetmpfs.shmem.machine import Machine

SHMEM_HUGE_DENY, SHMEM_HUGE_FORCE = -1, 2
PAGE_SHIFT = 12


def shmem_huge_enabled(
    m: Machine, inode: ShmemInodeInfo, index: int, vma: VMA | None, write_end: int
) -> bool:
    """Whether getpage may allocate a team for *index* (patch 04/31's test, extended)."""
    shmem_huge = m.sysctl.shmem_huge
    if shmem_huge == SHMEM_HUGE_DENY or inode.mapping.a_ops != "shmem_aops":
        return False
    if shmem_huge == SHMEM_HUGE_FORCE:
        return True
    if vma is not None and vma.vm_flags & VM_NOHUGEPAGE:
        return False
    mode = inode.sb.huge
    if mode == SHMEM_HUGE_ALWAYS:
        return True
    if mode == SHMEM_HUGE_WITHIN_SIZE:
        size = max(inode.i_size, write_end)
        end = (index | (m.HPAGE_PMD_NR - 1)) + 1
        return (size + (1 << PAGE_SHIFT) - 1) >> PAGE_SHIFT >= end
    if mode == SHMEM_HUGE_ADVISE:
        return vma is not None and bool(vma.vm_flags & VM_HUGEPAGE)
    return False


def shmem_alloc_page(
    m: Machine, gfp: int, inode: ShmemInodeInfo, index: int, hugehint: int | None
) -> tuple[int | None, int | None, int | None]:
    """A page for *index*: (locked page with a reference, final hugehint, new team head).

    With a hugehint, look at the extent first: an empty extent gets a new team (the page
    wanted is its subpage, the rest are holes), a live team gives its hole, anything else a
    small page.  The page is not yet swap-backed when it belongs to a team: that marks
    instantiation, which shmem_add_to_page_cache does under tree_lock.

    Models: mm/shmem.c shmem_alloc_page (patches 04, 06, 23, 24 of 31).
    Guards: base/R4.2.
    """
    if hugehint is not None:
        hugehint = shmem_hugeteam_lookup(m, inode.mapping, index, speculative=True)
        # base/R4.1: the hint is only a snapshot; another allocator, a truncator or a
        # disbander may change the extent from here until shmem_add_to_page_cache, which
        # looks again under tree_lock.  (A hole's window opens at its lock_page below.)
        if hugehint == SHMEM_ALLOC_HUGE_PAGE:
            m.engine.point("base/R4.1:after_lookup")
            head = _alloc_team(m, inode, index, gfp)
            if head is not None:
                page = head + (index & (m.HPAGE_PMD_NR - 1))
                get_page(m, page)
                __set_page_locked(m, page)
                return page, hugehint, head
        elif hugehint != SHMEM_ALLOC_SMALL_PAGE:
            page = hugehint
            head = page - (index & (m.HPAGE_PMD_NR - 1))
            lock_page(m, page)
            # base/R4.2: another allocator given the same hole may have filled it while we
            # waited for its lock, or a disbander ended the team: inserting it again would
            # fail, and the failure path would clear the winner's SwapBacked and Team.  The
            # lock, held from here until the page is in the cache, makes this check final.
            if m.guard_on("base/R4.2") and (
                m.flags[page] & PG_swapbacked or not m.flags[head] & PG_team
            ):
                if m.variant == "v29":
                    if m.flags[page] & PG_swapcache and not m.mapping[page]:
                        # R26 (unguarded): a slot recovery's swapin pre-pass prepared,
                        # whose entry has gone since; this fault repeats until populate
                        # reaches the slot and gives the team up.
                        m.engine.point("recovery/R26:retry_prepared_slot")
                    return page, SHMEM_RETRY_HUGE_PAGE, None  # -EEXIST: retry from the top
                unlock_page(m, page)  # V24: patch 24 fell back to a small page here
                put_page(m, page)
                hugehint = SHMEM_ALLOC_SMALL_PAGE
            else:
                return page, hugehint, None
    page = alloc_pages(m, gfp, 0)
    if page is None:
        return None, hugehint, None
    __set_page_locked(m, page)
    m.flags[page] |= PG_swapbacked
    return page, hugehint, None


def _alloc_team(m: Machine, inode: ShmemInodeInfo, index: int, gfp: int) -> int | None:
    """A fresh huge allocation split into a team for *index*'s extent (head is PageTeam with
    mapping and index, team_usage = one LRU weight), or None.  *gfp* is the small page's
    mask; vm.shmem_huge_gfpmask shapes it for the huge one (patch 30/31)."""
    gfp = shmem_huge_gfp(m.sysctl.shmem_huge_gfpmask, gfp)
    head = alloc_pages(m, gfp, m.HPAGE_PMD_ORDER)
    # patch 06 (limited by 23): give the hugehole shrinker one chance, then retry once.
    if (
        head is None
        and m.sysctl.shmem_huge_recoveries == 0
        and m.shrink_hugehole is not None
        and m.shrink_hugehole(m, None) != m.SHRINK_STOP
    ):
        head = alloc_pages(m, gfp, m.HPAGE_PMD_ORDER)
    if head is None:
        return None
    split_page(m, head, m.HPAGE_PMD_ORDER)
    m.private[head] = m.team.TEAM_LRU_WEIGHT_ONE
    m.flags[head] |= PG_team
    m.mapping[head] = inode.mapping.id
    m.index[head] = index & ~(m.HPAGE_PMD_NR - 1)
    return head


def shmem_shrinklist_add(m: Machine, inode: ShmemInodeInfo) -> None:
    """Put an inode with a new team on the hugehole shrinker's list (patch 06/31)."""
    if inode.on_shrinklist:  # unlocked test first; base/R6.3 lives in this window
        return
    with m.shrinklist_lock:
        if not inode.on_shrinklist:
            inode.on_shrinklist = True
            m.shrinklist.append(inode)
