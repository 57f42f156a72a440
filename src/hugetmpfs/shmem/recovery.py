"""Recovery of huge pages: a fault that cannot map hugely queues a work that rebuilds the team.

A fault in a huge-able area whose page is small (fragmentation fallback, or swapped back in
after its team was disbanded), or a team member whose pmd already holds a page table, queues
a ``struct recovery`` for the page's extent (at most one per extent, at most
``vm.shmem_huge_recoveries`` at once).  The work runs later as a kworker actor: it resumes the
team the extent still has (found through its HUGEHOLE tag or the faulting page), or takes a
fresh huge page, then populates it (shmem/recovery_populate.py) and, once complete, replaces
the pte tables mapping it by huge pmds (shmem/recovery_remap.py).

Models: mm/shmem.c (patch 23/31, with 24's exposed_team and 30's gfp masks):
shmem_huge_recovery, shmem_recovery_work, shmem_work_still_useful, and the eviction wait
on ``info->recoveries``.
Differs: one node, so ``__GFP_THISNODE`` and the faulting page's node change nothing; there
is no compaction (docs/recovery.md): the order-9 allocation succeeds only if the buddy
allocator has a free block of that order, after reclaim if the mask allows it.  No memcg:
"the mm can still charge" is ``mm_users > 0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hugetmpfs.mm.page_alloc import __free_pages, alloc_pages, split_page
from hugetmpfs.mm.page_flags import PG_swapbacked, PG_team
from hugetmpfs.mm.page_ref import get_page, get_page_unless_zero
from hugetmpfs.mm.pageteam import team_head
from hugetmpfs.mm.swap import put_page
from hugetmpfs.shmem.gfp import shmem_huge_gfp
from hugetmpfs.shmem.team import shmem_clear_tag_hugehole
from hugetmpfs.sim import SpinLock

if TYPE_CHECKING:
    from hugetmpfs.mm.mm_types import VMA, MMStruct
    from hugetmpfs.shmem.inode import ShmemInodeInfo
    from hugetmpfs.shmem.machine import Machine

EINVAL, ENOMEM = 22, 12


@dataclass(eq=False)
class Recovery:
    """struct recovery: one queued or running work on one extent of one file."""

    mm: MMStruct
    inode: ShmemInodeInfo
    page: int  # the faulting page, then the team head (one reference either way)
    head_index: int
    migrated_head: int | None = None  # V24 only
    # Model only (V24, for check/): the head once migration has really moved a page into it
    # (set under tree_lock as the slot changes, mm/migrate.py's page_moved hook) until
    # populate counts it.  ``migrated_head`` is set before the move, when the head may still
    # be a hole that a write can fill through the normal path (counted at once).
    filled_head: int | None = None
    exposed_team: bool = False
    # The model's own bookkeeping (for check/): the fresh huge page while it is private to
    # the work, each of its subpages holding its base reference.
    private_head: int | None = None
    bumped: int | None = None  # the page populate holds an artificial mapcount on (R8)
    exiting: bool = False  # its reference on ``page`` is put, its list entry not yet gone

    def __repr__(self) -> str:
        return f"<recovery {self.inode!r} extent {self.head_index:#x}>"


def init_recovery(m: Machine) -> None:
    """The global recovery list and its lock (patch 23/31)."""
    m.recoverylist: list[Recovery] = []
    m.recoverylist_depth = 0  # unsigned int in the kernel
    m.recoverylist_lock = SpinLock(m.engine, "shmem_recoverylist_lock")
    m.kworkers = 0
    m.__dict__.setdefault("check_owners", []).append(recovery_owners)


def recovery_owners(m: Machine) -> list[int]:
    """The references recovery holds, one pfn each, for check/'s refcount census: each
    work's on its page (the faulting page, then the head); every subpage of a fresh huge
    page still private to its work; a v24 head that migration filled and the next pass
    has not yet counted (its cache reference is still separate: ``filled_head``)."""
    out = []
    for r in m.recoverylist:
        if r.exiting:
            continue
        out.append(r.page)
        if r.private_head is not None:
            out.extend(range(r.private_head, r.private_head + m.HPAGE_PMD_NR))
        h = r.filled_head
        if h is not None and m.flags[h] & PG_swapbacked:  # migration filled it
            out.append(h)
    return out


def recoveries_limit(m: Machine) -> int | None:
    """The queue limit as the code applies it: ``depth >= shmem_huge_recoveries`` compares
    an unsigned depth with an int, so a negative value means no limit at all; the
    ``recoveries-negative-disables`` behaviour follows patch 30's documentation instead
    (None: recovery disabled)."""
    limit = m.sysctl.shmem_huge_recoveries
    if limit < 0:
        return None if "recoveries-negative-disables" in m.behaviours else limit & 0xFFFFFFFF
    return limit


def shmem_huge_recovery(m: Machine, inode: ShmemInodeInfo, page: int, vma: VMA) -> None:
    """Queue a recovery work for the extent of the locked *page* (a fault's), unless the
    queue is full or the extent is queued already.

    Models: mm/shmem.c shmem_huge_recovery (patch 23/31).
    Guards: recovery/R12 (per-extent dedupe), recovery/R13 (info->recoveries).
    """
    st = m.recovery_stats
    limit = recoveries_limit(m)
    if limit is None:
        return
    if m.recoverylist_depth >= limit:  # unlocked: overshoot is acceptable
        st.work_too_many += 1
        return
    r = Recovery(vma.mm, inode, page, m.index[page] & ~(m.HPAGE_PMD_NR - 1))
    # recovery/R12: two works on one extent would build two teams for it.
    if not recovery_enlist(m, r, dedupe=m.guard_on("recovery/R12")):
        st.work_already += 1
        return
    get_page(m, page)
    schedule_work(m, shmem_recovery_work, r)


def recovery_enlist(m: Machine, r: Recovery, dedupe: bool = True) -> bool:
    """Put *r* on the recovery list (unless, with *dedupe*, its extent is there already)
    and make it hold its mm and inode: True, or False if the extent was taken.  The caller
    gives ``r.page`` its reference."""
    with m.recoverylist_lock:
        if dedupe and any(
            q.inode is r.inode and q.head_index == r.head_index for q in m.recoverylist
        ):
            return False
        m.recoverylist.insert(0, r)
        m.recoverylist_depth += 1
    r.mm.mm_count += 1  # pins struct mm, not its users
    if m.guard_on("recovery/R13"):
        r.inode.recoveries += 1  # eviction waits for this to drop to zero
    m.recovery_stats.work_queued += 1
    return True


def populate_bumps(m: Machine) -> list[int]:
    """Pages populate holds an artificial mapcount on while it enteams them (recovery/R8):
    their mapcount, pte count and Mapped settle only when it drops it."""
    return [r.bumped for r in getattr(m, "recoverylist", ()) if r.bumped is not None]


def schedule_work(m: Machine, fn: object, r: Recovery) -> None:
    """queue_work on system_wq: the work runs in a kworker of the queueing CPU's pool.

    Models: kernel/workqueue.c schedule_work.  Differs: each work gets a kworker actor of
    its own (the pool's concurrency management would start one whenever the running one
    blocks, so works never wait for each other except on the locks they take)."""
    cur = m.engine.current
    cpu = cur.cpu if cur is not None else 0
    m.kworkers += 1
    m.engine.spawn(fn, m, r, name=f"kworker/{cpu}:{m.kworkers}", cpu=cpu)


def shmem_work_still_useful(m: Machine, r: Recovery) -> bool:
    """The faulting page is still in its file, the mm can still charge, and the file is
    still mapped somewhere.

    Models: mm/shmem.c shmem_work_still_useful (patch 23/31, !CONFIG_MEMCG form)."""
    mapping = m.mappings[m.mapping[r.page]]  # READ_ONCE(page->mapping)
    return mapping is not None and r.mm.mm_users > 0 and bool(mapping.i_mmap)


def shmem_recovery_work(m: Machine, r: Recovery) -> None:
    """The work: resume the extent's team or take a fresh huge page, populate it, and remap
    it by pmds once complete.

    Models: mm/shmem.c shmem_recovery_work (patches 23, 24 and 30 of 31).
    Guards: recovery/R10 (the shrinklist-lock barrier after clearing the tag).
    """
    shmem_recovery_run(m, r)


def shmem_recovery_run(m: Machine, r: Recovery) -> int:
    """The work's body, returning what became of it: 0 (complete and remapped), -EINVAL
    (too late: nothing to do), -ENOMEM (no huge page), or populate's error."""
    from hugetmpfs.shmem.recovery_populate import shmem_recovery_populate
    from hugetmpfs.shmem.recovery_remap import shmem_recovery_remap

    st = m.recovery_stats
    error = -EINVAL
    if not shmem_work_still_useful(m, r):
        st.work_too_late += 1
    else:
        head = _resumable_head(m, r)
        if head is not None:
            r.exposed_team = True
            if m.flags[r.page] & PG_team:
                st.resume_teamed += 1
            else:
                st.resume_tagged += 1
        else:
            head = _fresh_huge_page(m, r)
            error = -ENOMEM
        if head is not None:
            page, r.page = r.page, head
            put_page(m, page)  # before migrating it: migration wants an exact count
            error = shmem_recovery_populate(m, r, head)
            if error == 0:
                shmem_recovery_remap(m, r, head)
    _recovery_exit(m, r)
    return error


def _resumable_head(m: Machine, r: Recovery) -> int | None:
    """A referenced head of a live team for the extent (found by its tag or as the faulting
    page's team), or None."""
    mapping = r.inode.mapping
    head = None
    with mapping.tree_lock:
        page = shmem_clear_tag_hugehole(m, mapping, r.head_index)
    if page is not None:
        head = team_head(m, page)
        m.engine.point("recovery/R10:after_clear_tag")
        # recovery/R10: a shrinker that chose this team before the tag went holds the
        # shrinklist lock until it has disbanded the head; once we have had the lock, it is
        # done with it, and no later shrinker can find the team (no tag).
        if m.guard_on("recovery/R10"):
            with m.shrinklist_lock:
                pass
    if m.flags[r.page] & PG_team:
        head = team_head(m, r.page)  # a complete team carries no tag
    if head is None:
        return None
    if not get_page_unless_zero(m, head):
        return None
    if (
        not m.flags[head] & PG_team
        or m.mapping[head] != mapping.id
        or m.index[head] != r.head_index
    ):
        put_page(m, head)
        return None
    return head


def _fresh_huge_page(m: Machine, r: Recovery) -> int | None:
    """A new order-9 page split into 512 (the head with the work's extra reference), private
    to the work: not PageTeam, no mapping, on no list."""
    st = m.recovery_stats
    gfp = shmem_huge_gfp(m.sysctl.shmem_recovery_gfpmask, r.inode.mapping.gfp_mask)
    head = alloc_pages(m, gfp, m.HPAGE_PMD_ORDER)
    if head is None:
        st.huge_failed += 1
        return None
    if not shmem_work_still_useful(m, r):
        __free_pages(m, head, m.HPAGE_PMD_ORDER)
        st.huge_too_late += 1
        return None
    split_page(m, head, m.HPAGE_PMD_ORDER)
    get_page(m, head)  # the work's own reference
    st.huge_alloced += 1
    r.exposed_team = False
    r.private_head = head
    return head


def _recovery_exit(m: Machine, r: Recovery) -> None:
    r.exiting = True
    put_page(m, r.page)
    inode = r.inode
    if m.guard_on("recovery/R13"):
        inode.recoveries -= 1
        if inode.recoveries == 0:
            m.engine.wake(("recoveries", inode))
    r.mm.mm_count -= 1  # mmdrop
    with m.recoverylist_lock:
        m.recoverylist_depth -= 1
        m.recoverylist.remove(r)
    m.engine.wake(("recovery", inode, r.head_index))  # MADV_COLLAPSE may be waiting


def shmem_wait_recoveries(m: Machine, inode: ShmemInodeInfo) -> None:
    """Eviction waits (uninterruptibly) until no work holds the inode.

    Models: mm/shmem.c shmem_evict_inode's wait_on_atomic_t (patch 23/31)."""
    while inode.recoveries:
        m.engine.block_on(("recoveries", inode), "shmem_evict_inode:recoveries")
