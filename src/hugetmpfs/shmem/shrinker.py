"""The hugehole shrinker: under memory pressure, free the holes of underused teams.

It chooses the team with the most free holes (FROM) and disbands it, isolating its members;
if FROM is at most half used, it also chooses the partial team on the same node with the
fewest holes that can still take all of FROM's members (TO), disbands it too keeping just
enough of its holes, and migrates FROM's members into them.  FROM's extent is then free as
a whole (a huge page again once the buddy allocator merges it), TO's extent is full of
small pages, and every other hole of both is freed.

Known and modelled as posted:

- base/Q-1: between the choice of a team (the RCU tag walk) and its disband, nothing stops a
  fault from completing the team and mapping it by pmd: there is no head lock and no
  recheck.  The window carries the preemption point ``base/Q-1:chosen``; disband_hugehead's
  ``nr == HPAGE_PMD_NR`` assertion (I16) turns that interleaving into a finding.
- base/Q-5: shmem_get_hugehole does not advance past a tagged page it rejects; it relies on
  the racing disband clearing the tag (point ``base/Q-5:get_hugehole_retry``).
- base/Q-12: shmem_shrink_hugehole answers SHRINK_STOP when it isolated nothing, even if it
  disbanded a team and freed its holes.

Models: mm/shmem.c of patch 06/31 (with 13's evictify): shmem_get_hugehole,
shmem_choose_hugehole, shmem_shrink_hugehole, shmem_count_hugehole, and shrink_slab's
do_shrink_slab for this one shrinker (seeks DEFAULT_SEEKS, batch HPAGE_PMD_NR).
Differs: one node, so every TO team is on FROM's node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.migrate import (
    MIGRATE_SYNC,
    MR_SHMEM_HUGEHOLE,
    migrate_pages,
    putback_movable_pages,
)
from hugetmpfs.mm.page_alloc import drain_local_pages, free_hot_cold_page
from hugetmpfs.mm.page_flags import PG_team
from hugetmpfs.mm.page_ref import get_page_unless_zero, put_page_testzero
from hugetmpfs.mm.pageteam import team_head
from hugetmpfs.mm.radix_tree import radix_tree_exceptional_entry
from hugetmpfs.mm.swap import LRU_ACTIVE_ANON, LRU_INACTIVE_ANON, put_page
from hugetmpfs.mm.vmstat import NR_SHMEM_FREEHOLES
from hugetmpfs.shmem.team import (
    SHMEM_TAG_HUGEHOLE,
    shmem_disband_hugehead,
    shmem_disband_hugetails,
    shmem_evictify_hugetails,
    shmem_freeholes,
)

if TYPE_CHECKING:
    from hugetmpfs.mm.filemap import AddressSpace
    from hugetmpfs.shmem.machine import Machine

SHRINK_STOP = -1
DEFAULT_SEEKS = 2
SCAN_LIMIT = 2000  # the scan covers the older half of the list, at most 1000 inodes


def shmem_get_hugehole(m: Machine, mapping: AddressSpace, index: int) -> tuple[int | None, int]:
    """The next team head at or after *index* with free holes, with a reference, and the
    index to continue from; (None, index) when the mapping has no more.

    Models: mm/shmem.c shmem_get_hugehole (patch 06/31).
    Guards: base/R6.4 (speculative references, PageTeam and mapping rechecked on the page and
    on its head).  base/Q-5: a rejected page does not advance *index*.
    """
    tree = mapping.page_tree
    while True:
        found = tree.next_tagged(index, SHMEM_TAG_HUGEHOLE)
        if found is None:
            return None, index
        idx, page = found
        if radix_tree_exceptional_entry(page):
            index = idx + 1
            continue
        head = _get_team_head(m, mapping, page)
        if head is not None:
            if shmem_freeholes(m, head) > 0:
                return head, m.index[head] + m.HPAGE_PMD_NR
            put_page(m, head)
        # base/Q-5: the tag is stale (a disband or completion is clearing it): look again.
        m.engine.yield_point("base/Q-5:get_hugehole_retry")


def _get_team_head(m: Machine, mapping: AddressSpace, page: int) -> int | None:
    """A reference on the live team head of tagged *page*, or None (base/R6.4)."""
    if not get_page_unless_zero(m, page):
        return None
    if not m.flags[page] & PG_team or m.mapping[page] != mapping.id:
        put_page(m, page)
        return None
    head = team_head(m, page)
    if head != page:
        ok = get_page_unless_zero(m, head)
        put_page(m, page)
        if not ok:
            return None
    if not m.flags[head] & PG_team or m.mapping[head] != mapping.id:
        put_page(m, head)
        return None
    return head


def _scan_shrinklist(m: Machine, want: int) -> int | None:
    """Under shmem_shrinklist_lock: the best team head (with a reference), or None.

    base/R6.3 unguarded: an inode without tags leaves the list (point
    ``base/R6.3:untagged``) while a getpage may be tagging a new team in it.

    *want* 0 chooses FROM, the team with the most free holes (511 ends the search: one
    member only); *want* > 0 chooses TO, the team with the fewest holes still >= *want*
    (exactly *want* ends it).  Inodes with no HUGEHOLE tag leave the list on the way.
    """
    best, best_holes = None, 0
    dd = 0
    for inode in list(m.shrinklist):
        mapping = inode.mapping
        if not mapping.page_tree.tag_count[SHMEM_TAG_HUGEHOLE]:
            # base/R6.3 (unguarded): a getpage may tag a new team right now, test
            # list_empty unlocked, see the inode still listed and not add it: the inode
            # leaves the list with a tagged team, whose holes are never shrunk.  The
            # kernel asks "Some barrier required?" and has none.
            m.engine.point("base/R6.3:untagged")
            m.shrinklist.remove(inode)
            inode.on_shrinklist = False
            continue
        index = 0
        while True:
            head, index = shmem_get_hugehole(m, mapping, index)
            if head is None:
                break
            holes = shmem_freeholes(m, head)
            if want:
                better = holes >= want and (best is None or holes < best_holes)
                perfect = holes == want
            else:
                better = holes > best_holes
                perfect = holes == m.HPAGE_PMD_NR - 1
            if better:
                if best is not None:
                    put_page(m, best)
                best, best_holes = head, holes
            else:
                put_page(m, head)
            if perfect:
                return best
        dd += 2
        if dd >= min(len(m.shrinklist), SCAN_LIMIT):
            break
    return best


def _choose_and_disband(m: Machine, want: int) -> tuple[int | None, int, int]:
    """Choose a team under shmem_shrinklist_lock and disband its head: (head with a
    reference or None, members it had or -EALREADY, LRU weight it carried)."""
    m.shrinklist_lock.lock()
    head = _scan_shrinklist(m, want)
    if head is None:
        m.shrinklist_lock.unlock()
        return None, 0, 0
    # base/Q-1 (unguarded): no head lock, no recheck that the team is still incomplete and
    # unmapped; a fault may complete it and map it by pmd right here.
    m.engine.point("base/Q-1:chosen")
    m.engine.preempt_disable()
    # base/R6.1: eviction unlinks the inode under shmem_shrinklist_lock before freeing it,
    # so holding the lock across disband_hugehead keeps the mapping alive.
    if not m.guard_on("base/R6.1"):
        m.shrinklist_lock.unlock()
    used, weight = shmem_disband_hugehead(m, head)
    if m.guard_on("base/R6.1"):
        m.shrinklist_lock.unlock()
    if weight > 1:
        shmem_evictify_hugetails(m, head, weight)
    return head, used, weight


def shmem_choose_hugehole(m: Machine, fromlist: list[int], tolist: list[int]) -> int:
    """Disband FROM (its members onto *fromlist*) and, if it is at most half used, TO (as
    many of its holes as FROM has members onto *tolist*): an estimate of pages freed.

    Models: mm/shmem.c shmem_choose_hugehole (patches 06 and 13 of 31).
    Guards: base/R6.1, base/R6.5 (TO's use is re-read from its disband).  base/Q-1 unguarded.
    """
    n = m.HPAGE_PMD_NR
    head, fromused, _ = _choose_and_disband(m, 0)
    if head is None:
        return 0
    if fromused > 0:
        shmem_disband_hugetails(m, head, fromlist, -fromused)
    elif fromused == 0:
        shmem_disband_hugetails(m, head)  # an empty team: free every hole
    m.engine.preempt_enable()
    put_page(m, head)
    if fromused <= 0:
        return 0
    freed = n - fromused
    if fromused > n // 2:
        return freed  # more than half full: not worth migrating, just free the holes
    head, toused, _ = _choose_and_disband(m, fromused)
    if head is None:
        return freed
    # base/R6.5: a getpage may have filled TO's holes since the scan chose it (no lock is
    # held on TO in between); handing out fromused holes it no longer has would overfill
    # it.  Re-read its use from the disband: if too few holes are left, just disband it
    # (FROM's members are then put back).
    if toused > 0 and (n - toused >= fromused or not m.guard_on("base/R6.5")):
        shmem_disband_hugetails(m, head, tolist, fromused)
    elif toused >= 0:
        shmem_disband_hugetails(m, head)
    if toused > 0:
        freed += n - toused
    m.engine.preempt_enable()
    put_page(m, head)
    return freed


def shmem_shrink_hugehole(m: Machine, sc: object) -> int:
    """The shrinker's scan (also called directly, *sc* None, when a huge allocation fails):
    disband one or two teams, migrate, free; pages freed or SHRINK_STOP.

    Models: mm/shmem.c shmem_shrink_hugehole (patch 06/31).  base/Q-12 as posted.
    """
    if not m.shrinklist:
        return SHRINK_STOP
    fromlist: list[int] = []
    tolist: list[int] = []
    freed = shmem_choose_hugehole(m, fromlist, tolist)
    if not fromlist:
        return SHRINK_STOP  # base/Q-12: even if a team was disbanded and its holes freed
    if tolist:
        migrate_pages(
            m, fromlist, _get_hole, _put_hole_back, tolist, MIGRATE_SYNC, MR_SHMEM_HUGEHOLE
        )
        m.engine.preempt_disable()
        drain_local_pages(m)  # try to preserve the huge block just freed
        m.engine.preempt_enable()
        for page in tolist:  # never counted as isolated: not putback_lru_page
            if put_page_testzero(m, page):
                free_hot_cold_page(m, page, cold=True)
        tolist.clear()
    putback_movable_pages(m, fromlist)
    return freed


def _get_hole(m: Machine, page: int, tolist: object) -> int | None:
    holes: list[int] = tolist  # type: ignore[assignment]
    return holes.pop(0) if holes else None


def _put_hole_back(m: Machine, page: int, tolist: object) -> None:
    holes: list[int] = tolist  # type: ignore[assignment]
    holes.insert(0, page)


def shmem_count_hugehole(m: Machine) -> int:
    """Freeable objects: every free hole, while some inode is on the list (holes are not
    charged to a memcg, so this shrinker serves global reclaim only)."""
    return m.vmstat.zone[NR_SHMEM_FREEHOLES] if m.shrinklist else 0


def shmem_hugehole_shrinker(m: Machine, nr_scanned: int) -> int:
    """shrink_slab's do_shrink_slab for this shrinker: scan in batches of HPAGE_PMD_NR in
    proportion to the LRU pages just scanned; pages freed.

    Models: mm/vmscan.c do_shrink_slab (v4.6-rc2) with shmem_hugehole_shrinker's fields.
    """
    freeable = shmem_count_hugehole(m)
    if freeable <= 0:
        return 0
    lru_pages = m.lru_size[LRU_INACTIVE_ANON] + m.lru_size[LRU_ACTIVE_ANON]
    delta = (4 * nr_scanned // DEFAULT_SEEKS) * freeable // (lru_pages + 1)
    total_scan = min(m.hugehole_deferred + delta, 2 * freeable)
    batch = m.HPAGE_PMD_NR
    freed = 0
    while total_scan >= batch:
        ret = shmem_shrink_hugehole(m, None)
        if ret == SHRINK_STOP:
            break
        freed += ret
        total_scan -= batch
    m.hugehole_deferred = total_scan if total_scan < batch else 0  # nr_deferred
    return freed
