"""Faults on tmpfs mappings: shmem_fault, and the huge path that fills a team and asks
__do_fault to map it by one pmd.

A fault on a page of a team may map the whole team hugely when the pmd is still empty
(FAULT_FLAG_MAY_HUGE), the mapping is congruent with the file modulo the huge page size
and covers the whole extent, and it is not a store to a private mapping.  The team is
first *populated*: every hole instantiated (SGP_TEAM, beyond EOF too), zeroed, Uptodate
and Dirty; then the head is locked and handed back with VM_FAULT_HUGE.  No huge policy is
asked here: a team that exists may always be mapped hugely (patch 03/31).

Models: mm/shmem.c shmem_fault, shmem_populate_hugeteam, shmem_vm_ops (v4.6-rc2 with
patch 07/31's final form and patch 23/31's recovery trigger).
Differs: no hole-punch wait (shmem_falloc) before getpage: a fault racing a punch is left
to base/R11's guard in shmem_disband_hugeteam.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.filemap import lock_page, unlock_page
from hugetmpfs.mm.mm_types import (
    FAULT_FLAG_MAY_HUGE,
    FAULT_FLAG_WRITE,
    VM_FAULT_HUGE,
    VM_FAULT_LOCKED,
    VM_FAULT_OOM,
    VM_FAULT_SIGBUS,
    VM_HUGEPAGE,
    VM_NOHUGEPAGE,
    VM_SHARED,
)
from hugetmpfs.mm.page_flags import PG_checked, PG_dirty, PG_team, PG_uptodate
from hugetmpfs.mm.page_ref import get_page, get_page_unless_zero
from hugetmpfs.mm.pageteam import team_head
from hugetmpfs.mm.swap import put_page
from hugetmpfs.shmem.getpage import ENOMEM, SGP_CACHE, SGP_TEAM, shmem_getpage_gfp
from hugetmpfs.shmem.huge import SHMEM_HUGE_DENY, SHMEM_HUGE_FORCE
from hugetmpfs.shmem.inode import SHMEM_HUGE_ADVISE, SHMEM_HUGE_NEVER
from hugetmpfs.shmem.recovery import shmem_huge_recovery
from hugetmpfs.shmem.teamhole import shmem_fill_teamholes

if TYPE_CHECKING:
    from hugetmpfs.mm.mm_types import VMA, Vmf
    from hugetmpfs.shmem.inode import ShmemInodeInfo
    from hugetmpfs.shmem.machine import Machine

EAGAIN = 11
PAGE_SHIFT = 12
_UPTODATE_DIRTY = PG_uptodate | PG_dirty


class ShmemVmOps:
    """shmem_vm_ops: ->fault is shmem_fault, ->map_pages the generic fault-around."""

    def fault(self, m: Machine, vma: VMA, vmf: Vmf) -> int:
        return shmem_fault(m, vma, vmf)

    def map_pages(self, m: Machine, vma: VMA, vmf: Vmf, start_pgoff: int, end_pgoff: int) -> None:
        from hugetmpfs.mm.filemap import filemap_map_pages

        filemap_map_pages(m, vma, vmf, start_pgoff, end_pgoff)


shmem_vm_ops = ShmemVmOps()


def shmem_fault(m: Machine, vma: VMA, vmf: Vmf) -> int:
    """->fault for tmpfs mappings: the page at vmf.pgoff, locked (VM_FAULT_LOCKED), or the
    locked head of its populated team (VM_FAULT_LOCKED | VM_FAULT_HUGE), or SIGBUS / OOM.

    Models: mm/shmem.c shmem_fault (patch 07/31's final form, patch 23/31's trigger).
    Guards: base/R7.1, base/R7.3.
    """
    inode = vma.vm_file.f_mapping.host
    gfp = inode.mapping.gfp_mask
    once = 0
    while True:  # single:
        vmf.page = None
        error, page = shmem_getpage_gfp(m, inode, vmf.pgoff, SGP_CACHE, gfp, vma)
        if error:
            return VM_FAULT_OOM if error == -ENOMEM else VM_FAULT_SIGBUS
        assert page is not None
        vmf.page = page
        if not _huge_area(m, inode, vma, vmf, once):
            return VM_FAULT_LOCKED
        once += 1
        if not m.flags[page] & PG_team or not vmf.flags & FAULT_FLAG_MAY_HUGE:
            # patch 23/31: not hugely now (a small page, or a pte table in the pmd), but
            # perhaps later: let a recovery work rebuild the team and remap it.  A vma with
            # an anon_vma may hold COWed pages (an over-strict hint).
            if m.sysctl.shmem_huge_recoveries and vma.anon_vma is None:
                shmem_huge_recovery(m, inode, page, vma)
            return VM_FAULT_LOCKED
        head = _hold_head(m, page)
        if head is None:
            return VM_FAULT_LOCKED  # map small
        unlock_page(m, page)
        put_page(m, page)
        vmf.page = None
        if shmem_populate_hugeteam(m, inode, head, vma) < 0:
            put_page(m, head)
            continue  # goto single: this time small
        lock_page(m, head)
        # base/R7.1: truncation, hole-punch or the shrinker may have disbanded the team
        # while it was populated unlocked; the head lock now keeps them out.
        if not m.flags[head] & PG_team and m.guard_on("base/R7.1"):
            unlock_page(m, head)
            put_page(m, head)
            continue  # goto single
        m.flags[head] |= PG_checked  # SetPageChecked: populated, safe from truncation
        vmf.page = head
        return VM_FAULT_LOCKED | VM_FAULT_HUGE


def _huge_area(m: Machine, inode: ShmemInodeInfo, vma: VMA, vmf: Vmf, once: int) -> bool:
    """patch 23/31's conditions for mapping hugely, now or after recovery: huge allowed here
    (not denied; forced, or a huge mount), the first try, not a store to a private
    mapping, a congruent VMA covering the whole extent (deliberately no i_size check: the
    team may be mapped up to its end beyond EOF)."""
    shmem_huge = m.sysctl.shmem_huge
    if shmem_huge == SHMEM_HUGE_DENY or once:
        return False
    if shmem_huge != SHMEM_HUGE_FORCE:
        # the policy extensions (docs/teams.md): MADV_NOHUGEPAGE opts a VMA out, and an
        # advise mount maps hugely only where MADV_HUGEPAGE asked for it
        mode = inode.sb.huge
        if mode == SHMEM_HUGE_NEVER or vma.vm_flags & VM_NOHUGEPAGE:
            return False
        if mode == SHMEM_HUGE_ADVISE and not vma.vm_flags & VM_HUGEPAGE:
            return False
    if vmf.flags & FAULT_FLAG_WRITE and not vma.vm_flags & VM_SHARED:
        return False
    size = m.HPAGE_PMD_SIZE
    if (vma.vm_start - (vma.vm_pgoff << PAGE_SHIFT)) & (size - 1):
        return False
    start = vmf.address & ~(size - 1)
    return start >= vma.vm_start and start + size <= vma.vm_end


def _hold_head(m: Machine, page: int) -> int | None:
    """A reference on the team head of *page*, or None if it is gone or disbanded."""
    head = team_head(m, page)
    m.engine.point("base/R7.3:before_get")
    # base/R7.3: once the fault drops its page, nothing it holds keeps the head; a
    # disband and free could reuse it.  A reference taken now fails against that.
    if m.guard_on("base/R7.3"):
        if not get_page_unless_zero(m, head):
            return None
    else:
        get_page(m, head)
    if not m.flags[head] & PG_team:
        put_page(m, head)
        return None
    return head


def shmem_populate_hugeteam(m: Machine, inode: ShmemInodeInfo, head: int, vma: VMA) -> int:
    """Instantiate every hole of the team at *head*, zeroed, Uptodate and Dirty: 0, or
    -EAGAIN if the team was disbanded meanwhile, or getpage's error.  Runs unlocked.

    Models: mm/shmem.c shmem_populate_hugeteam (patch 07/31).
    Guards: base/R7.1, base/R7.2 (through shmem_getpage_gfp and base/R4.2).
    """
    flags = m.flags
    if flags[head] & PG_checked:
        return 0
    gfp = inode.mapping.gfp_mask
    index = m.index[head]
    for i in range(m.HPAGE_PMD_NR):
        # base/R7.1: a racing disband ends the team; stop filling it.
        if not flags[head] & PG_team:
            return -EAGAIN
        if flags[head] & PG_checked:
            return 0  # another fault populated it first
        if flags[head + i] & _UPTODATE_DIRTY == _UPTODATE_DIRTY:
            continue
        done = shmem_fill_teamholes(m, inode, head, i)  # the steps below, uncontended
        if done == m.HPAGE_PMD_NR:
            return 0  # the rest of the team filled: the loop would find nothing to do
        if done > i:
            continue  # filled up to done: the loop passes by them
        error, p = shmem_getpage_gfp(m, inode, index + i, SGP_TEAM, gfp, vma)
        if error:
            return error
        assert p is not None
        flags[p] |= PG_dirty  # even when the map is read-only, for now
        unlock_page(m, p)
        put_page(m, p)
        # base/R7.1: this index was filled by a small page, not from our team.
        if p != head + i:
            return -EAGAIN
        m.engine.point("shmem_populate_hugeteam:cond_resched")
    return 0
