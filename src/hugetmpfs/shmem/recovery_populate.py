"""shmem_recovery_populate: fill the recovery's huge page with the extent's data, enteaming
what is in place and migrating what is not.

One pass walks the extent's slots in order.  ``shmem_getpage_gfp(SGP_TEAM)`` with the slot
as hint turns a swap entry into page cache (into the slot itself when the swapin pre-pass
read it there), returns the page already cached, or instantiates a zeroed page in the slot
(patch 27).  A page in its slot is enteamed; a misplaced one is isolated for
``migrate_pages`` into its slot.  The head is exposed (PageTeam, mapping, index) at the
first slot.  If some pages could not be isolated or migrated, all CPUs' pagevecs are
drained once and the pass repeats.  Then, under the head lock: complete ⇒ PageChecked;
holes left ⇒ tag and shrink list, -EAGAIN; no progress or an error ⇒ disband.

Two forms, selected by ``machine.variant`` (DESIGN.md §3.1):

* **v24** (the seed, patch 24/31): migration lands pages in their slots unteamed; another
  pass enteams them.  A page migrated into the head slot finds the head already PageTeam
  and looks done, so ``migrated_head`` and ``account_head`` make the next pass count it.
  (Model only: ``Recovery.filled_head`` marks such a head for check/ from the move itself,
  through the ``m.page_moved`` hook, until that pass counts it.)
* **v29** (patch 29/31): migration calls back into shmem (shmem_recovery_migrate_page)
  under tree_lock to enteam the new page as it takes the slot; no extra pass.

Models: mm/shmem.c shmem_recovery_populate, shmem_get_recovery_page,
shmem_put_recovery_page (patches 24, 27 and 29 of 31), shmem_recovery_migrate_page (29).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hugetmpfs.mm.debug import VM_BUG_ON_PAGE
from hugetmpfs.mm.filemap import lock_page, unlock_page
from hugetmpfs.mm.machine import PAGE_SHIFT, PAGE_SIZE
from hugetmpfs.mm.migrate import (
    MIGRATE_SHMEM_RECOVERY,
    MIGRATE_SYNC,
    MR_SHMEM_RECOVERY,
    migrate_pages,
    putback_movable_pages,
)
from hugetmpfs.mm.page_alloc import __GFP_NORETRY
from hugetmpfs.mm.page_flags import (
    PG_checked,
    PG_dirty,
    PG_lru,
    PG_swapbacked,
    PG_team,
    PG_uptodate,
)
from hugetmpfs.mm.page_ref import get_page_unless_zero
from hugetmpfs.mm.pageteam import inc_team_pte_mapped, team_head
from hugetmpfs.mm.rmap import page_add_file_rmap, page_mapped, page_remove_rmap
from hugetmpfs.mm.swap import isolate_lru_page, lru_add_drain, lru_add_drain_all, put_page
from hugetmpfs.mm.vmstat import NR_ISOLATED_ANON
from hugetmpfs.shmem.fileops import shmem_truncate_range
from hugetmpfs.shmem.getpage import SGP_TEAM, shmem_getpage_gfp
from hugetmpfs.shmem.huge import shmem_shrinklist_add
from hugetmpfs.shmem.recovery_swapin import shmem_recovery_swapin
from hugetmpfs.shmem.team import (
    SHMEM_TAG_HUGEHOLE,
    shmem_added_to_hugeteam,
    shmem_disband_hugetails,
    shmem_disband_hugeteam,
    shmem_freeholes,
)

if TYPE_CHECKING:
    from hugetmpfs.shmem.machine import Machine
    from hugetmpfs.shmem.recovery import Recovery

ENOENT, EAGAIN, EINVAL = 2, 11, 22
_UPTODATE_DIRTY = PG_uptodate | PG_dirty


@dataclass
class _Pass:
    """The locals one populate call carries across its passes."""

    migrate: list[int] = field(default_factory=list)
    account_head: bool = False  # v24
    migratable: int = 0  # v24
    unmigratable: int = 0


def shmem_recovery_populate(m: Machine, r: Recovery, head: int) -> int:
    """Make the team at *head* complete: 0 (PageChecked), -EAGAIN (partial: tagged and on
    the shrink list), or a negative error (the team disbanded).

    Models: mm/shmem.c shmem_recovery_populate (patch 24/31 as v24; patch 29/31 as v29;
    with 26's swapin pre-pass and 27's SGP_TEAM hint).
    Guards: recovery/R5, recovery/R6, recovery/R7, recovery/R9 (each pass), recovery/R22.
    """
    flags = m.flags
    # Complete already (a resumed team): relies on disband clearing PageChecked.
    if flags[head] & PG_team and flags[head] & PG_checked:
        return 0
    shmem_recovery_swapin(m, r, head)
    v24 = m.variant == "v24"
    st = m.recovery_stats
    p = _Pass()
    drained_all = False
    error = 0
    while True:  # again:
        if v24:
            p.migratable = p.unmigratable = 0
        error = _populate_pass(m, r, head, p)
        if p.migrate:
            lru_add_drain(m)
            if not error:
                error = _migrate_misplaced(m, r, head, p)
            putback_movable_pages(m, p.migrate)
            lru_add_drain(m)
        # recovery/R22: a page just added to the LRU may sit in another CPU's pagevec,
        # where isolation cannot take it: drain everyone's, once (IPIs), and go again.
        if not error and p.unmigratable and not drained_all and m.guard_on("recovery/R22"):
            drained_all = True
            lru_add_drain_all(m)
            st.recov_retried += 1
            continue
        if v24 and not error and p.migratable:
            continue  # a pass to enteam the pages migration placed
        break
    return _populate_finish(m, r, head, error)


def _populate_pass(m: Machine, r: Recovery, head: int, p: _Pass) -> int:
    flags = m.flags
    inode = r.inode
    gfp = inode.mapping.gfp_mask | __GFP_NORETRY  # small pages must not OOM-kill
    v24 = m.variant == "v24"
    for i in range(m.HPAGE_PMD_NR):
        team = head + i
        if (
            flags[team] & PG_team
            and flags[team] & _UPTODATE_DIRTY == _UPTODATE_DIRTY
            and not (v24 and p.account_head)
        ):
            continue  # enteamed already
        # the R27 fix: a head index holding nothing (no page, no swap) gets the head exposed
        # first, so that the SGP_TEAM hint may instantiate it in place
        if (
            i == 0
            and not r.exposed_team
            and "R27-expose-empty-head" in m.behaviours
            and inode.mapping.page_tree.lookup(r.head_index) is None
        ):
            _expose_head(m, r, head)
        error, page = shmem_getpage_gfp(m, inode, r.head_index + i, SGP_TEAM, gfp, None, hint=team)
        if error:
            return error
        assert page is not None
        error = _populate_slot(m, r, head, team, page, p)
        unlock_page(m, page)
        put_page(m, page)
        if error:
            return error
        m.engine.point("shmem_recovery_populate:cond_resched")
    return 0


def _populate_slot(m: Machine, r: Recovery, head: int, team: int, page: int, p: _Pass) -> int:
    """One slot: *page* (locked, referenced, Uptodate, never swapcache) holds the data for
    slot *team*.  0 or -ENOENT."""
    flags = m.flags
    v24 = m.variant == "v24"
    if not flags[page] & PG_dirty:
        flags[page] |= PG_dirty  # every member dirty, even for read-only mappings
    # recovery/R6: a Team tail whose head is no longer Team belongs to a team being
    # disbanded: treat it as an ordinary page (migrate it).
    if flags[page] & PG_team and (
        flags[team_head(m, page)] & PG_team or not m.guard_on("recovery/R6")
    ):
        # recovery/R5: a member of another live team for this extent (a fault allocated
        # one while ours was private): two teams for one extent; give ours up.
        if page != team and m.guard_on("recovery/R5"):
            return -ENOENT
        if not (v24 and p.account_head and page == head):
            return 0  # ours already, nothing to do
    # recovery/R7: our slot was prepared (swapin or hint) but the offset now holds another
    # page: it was truncated or punched meanwhile, and the slot may still be in swapcache
    # (a swap entry where team_usage belongs) or on its way on or off an LRU.
    if flags[team] & PG_swapbacked and page != team and m.guard_on("recovery/R7"):
        return -ENOENT
    if not r.exposed_team:
        VM_BUG_ON_PAGE(team != head, m, team, "first populated slot is not the head")
        _expose_head(m, r, head)
        if v24 and page == head:
            p.account_head = True  # instantiated before exposure: still to be counted
    # recovery/R9: evicted, truncated, punched, shrunk or reclaimed meanwhile.
    if not flags[head] & PG_team and m.guard_on("recovery/R9"):
        return -ENOENT
    if page == team:
        _enteam_in_place(m, r, head, page, p)
    else:
        _isolate_misplaced(m, page, p)
    return 0


def _expose_head(m: Machine, r: Recovery, head: int) -> None:
    """Make the fresh head visible: PageTeam with mapping and index, even while a hole."""
    r.exposed_team = True
    r.private_head = None  # the team's holes are the team's now
    m.private[head] = m.team.TEAM_LRU_WEIGHT_ONE
    m.flags[head] |= PG_team
    m.mapping[head] = r.inode.mapping.id
    m.index[head] = r.head_index


def _enteam_in_place(m: Machine, r: Recovery, head: int, page: int, p: _Pass) -> None:
    """Count *page*, cached in its own slot, as a member (guard recovery/R8: a page some pte
    maps already must join the head's pte count)."""
    flags = m.flags
    mapping = r.inode.mapping
    VM_BUG_ON_PAGE(not flags[page] & PG_swapbacked, m, page, "enteaming an unbacked page")
    # recovery/R8: a pte may map the page from before it joined; it may be unmapped while
    # we enteam it.  An artificial mapping makes the real last unmap happen after, and
    # the page lock keeps a new first mapping out.
    mapped = page_mapped(m, page) and m.guard_on("recovery/R8")
    if mapped:
        m.engine.preempt_disable()
        page_add_file_rmap(m, page)
        r.bumped = page
    with mapping.tree_lock:
        if flags[head] & PG_team:
            if page != head:
                m.private[page] = m.team.TEAM_LRU_WEIGHT_ONE
                flags[page] |= PG_team
            if m.variant != "v24" or page != head or p.account_head:
                shmem_added_to_hugeteam(m, page, mapping, None)
                put_page(m, page)  # the separate cache reference is redundant now
                m.recovery_stats.page_teamed += 1
                if page == r.filled_head:
                    r.filled_head = None  # (model bookkeeping: counted at last)
    # recovery/R4c (v24, unguarded): a head filled by migration had its restored pte
    # counted in the team's pte field already if the team had members by then: counting
    # it again here leaves the field one too high.  The R4c-fix behaviour counts it only
    # if the field does not yet include it (the model's fix recounts the team's mapped
    # members; a kernel fix would carry a flag from the restore).
    counted = (
        mapped
        and p.account_head
        and page == head
        and "R4c-fix" in m.behaviours
        and _pte_field_counts_head(m, head)
    )
    p.account_head = False
    if counted:
        page_remove_rmap(m, page)
        r.bumped = None
        m.engine.preempt_enable()
    elif mapped:
        inc_team_pte_mapped(m, page)
        page_remove_rmap(m, page)
        r.bumped = None
        m.engine.preempt_enable()


def _pte_field_counts_head(m: Machine, head: int) -> bool:
    """Whether the team's pte field already counts the (mapped) head: it equals the number
    of mapped members, the head included."""
    flags, mapcount = m.flags, m.mapcount
    mapped = sum(
        1 for p in range(head, head + m.HPAGE_PMD_NR) if flags[p] & PG_team and mapcount[p] >= 0
    )
    return m.team.team_pte_count(m.private[head]) == mapped


def _isolate_misplaced(m: Machine, page: int, p: _Pass) -> None:
    st = m.recovery_stats
    VM_BUG_ON_PAGE(p.account_head, m, page, "misplaced page while accounting the head")
    if not m.flags[page] & PG_lru:
        lru_add_drain(m)  # only this CPU's pagevec
    if isolate_lru_page(m, page) == 0:
        m.vmstat.zone[NR_ISOLATED_ANON] += 1
        p.migrate.append(page)
        st.page_migrate += 1
        p.migratable += 1
    else:
        st.page_off_lru += 1
        p.unmigratable += 1


def _migrate_misplaced(m: Machine, r: Recovery, head: int, p: _Pass) -> int:
    st = m.recovery_stats
    if m.variant == "v24":
        r.migrated_head = None
        nr = migrate_pages(
            m,
            p.migrate,
            shmem_get_recovery_page,
            shmem_put_recovery_page,
            r,
            MIGRATE_SYNC,
            MR_SHMEM_RECOVERY,
        )
        p.account_head = r.migrated_head is not None
    else:
        nr = migrate_pages(
            m,
            p.migrate,
            shmem_get_recovery_page,
            shmem_put_recovery_page,
            head,
            MIGRATE_SHMEM_RECOVERY,
            MR_SHMEM_RECOVERY,
        )
    if nr < 0:
        return -ENOENT  # quit early: the team must be disbanded anyway
    if nr > 0:
        st.page_unmigrated += nr
        p.unmigratable += nr
        p.migratable -= nr
    return 0


def _populate_finish(m: Machine, r: Recovery, head: int, error: int) -> int:
    st = m.recovery_stats
    flags = m.flags
    lock_page(m, head)
    nr = m.HPAGE_PMD_NR
    if not r.exposed_team:
        VM_BUG_ON_PAGE(not error, m, head, "unexposed team without an error")
        r.private_head = None
        shmem_disband_hugetails(m, head)  # frees the holes; the head is the work's
    elif flags[head] & PG_team:
        if not error:
            nr = shmem_freeholes(m, head)
            if nr == m.HPAGE_PMD_NR:
                error = -ENOENT  # no progress: not worth resuming
        if error:
            shmem_disband_hugeteam(m, head)  # unsafe to let the shrinker back in on it
    elif not error:
        error = -ENOENT  # someone else disbanded our team
    if error:
        st.recov_failed += 1
    elif nr == 0:
        flags[head] |= PG_checked  # complete: ready for pmds
        st.recov_completed += 1
    else:
        _leave_partial(m, r, head)
        st.recov_partial += 1
        error = -EAGAIN
    unlock_page(m, head)
    if error == -EINVAL and "R27-expose-empty-head" in m.behaviours:
        _undo_beyond_eof(m, r)
    return error


def _undo_beyond_eof(m: Machine, r: Recovery) -> None:
    """The R27 fix's own undo (model behaviour, not in the series): the SGP_TEAM hint found
    i_size shrunk after instantiating the exposed head, which base/R4.6 leaves in the cache
    for the truncation, as a team member; but the truncation may have run already (an
    eviction that now waits for this work), and nothing would remove the head.  Truncate
    the extent's part beyond EOF now that the team is disbanded, as that truncation would
    have."""
    inode = r.inode
    start = max((inode.i_size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1), r.head_index << PAGE_SHIFT)
    end = ((r.head_index + m.HPAGE_PMD_NR) << PAGE_SHIFT) - 1
    if start <= end:
        shmem_truncate_range(m, inode, start, end)


def _leave_partial(m: Machine, r: Recovery, head: int) -> None:
    """Tag the first member HUGEHOLE and put the inode on the shrink list: the shrinker may
    take the holes, a later fault's recovery resume the team."""
    flags = m.flags
    first = next(p for p in range(head, head + m.HPAGE_PMD_NR) if flags[p] & PG_swapbacked)
    VM_BUG_ON_PAGE(not flags[first] & PG_team, m, first, "partial team's first is no member")
    mapping = r.inode.mapping
    with mapping.tree_lock:
        mapping.page_tree.tag_set(m.index[first], SHMEM_TAG_HUGEHOLE)
    shmem_shrinklist_add(m, r.inode)


# -- migration callbacks -------------------------------------------------------------------


def shmem_get_recovery_page(m: Machine, oldpage: int, private: object) -> int | None:
    """migrate_pages' new_page_t: the team slot for *oldpage*, referenced, or None when the
    team is gone (migrate_pages then quits).

    Models: mm/shmem.c shmem_get_recovery_page (patches 24 and 29 of 31).
    Guards: recovery/R9.
    """
    v24 = m.variant == "v24"
    head = private.page if v24 else private  # type: ignore[attr-defined]
    newpage = head + (m.index[oldpage] & (m.HPAGE_PMD_NR - 1))
    if not get_page_unless_zero(m, newpage):
        return None  # the hole was freed: the team is gone
    if not m.flags[head] & PG_team and m.guard_on("recovery/R9"):
        put_page(m, newpage)
        return None
    if v24 and newpage == head:
        private.migrated_head = head  # type: ignore[attr-defined]
    return newpage


def shmem_put_recovery_page(m: Machine, newpage: int, private: object) -> None:
    """migrate_pages' free_page_t: the migration to *newpage* did not happen."""
    if m.variant == "v24" and private.migrated_head == newpage:  # type: ignore[attr-defined]
        private.migrated_head = None  # type: ignore[attr-defined]
    if m.variant == "v24" and private.filled_head == newpage:  # type: ignore[attr-defined]
        private.filled_head = None  # type: ignore[attr-defined]  # (model bookkeeping)
    put_page(m, newpage)


def shmem_recovery_page_moved(m: Machine, newpage: int, oldpage: int) -> None:
    """Model only (no kernel counterpart; ``m.page_moved``, under tree_lock as the slot
    changes): a v24 recovery whose ``migrated_head`` is *newpage* has had a page really
    moved into its head, which is SwapBacked and cached now but not yet counted; check/
    reads that from ``filled_head`` until populate counts the head."""
    if m.variant != "v24":
        return
    for r in m.recoverylist:
        if r.migrated_head == newpage and not r.exiting:
            r.filled_head = newpage


def shmem_recovery_migrate_page(m: Machine, newpage: int, oldpage: int) -> bool:
    """Under tree_lock, the old page's count frozen: enteam *newpage* as it takes the slot
    (v29).  False if the team was disbanded meanwhile (migrate_pages then quits).

    Models: mm/shmem.c shmem_recovery_migrate_page (patch 29/31).
    Guards: recovery/R9 (PageTeam(head) under the tree_lock disband clears it under).
    """
    head = newpage - (m.index[oldpage] & (m.HPAGE_PMD_NR - 1))
    if not m.flags[head] & PG_team and m.guard_on("recovery/R9"):
        return False
    if newpage != head:
        m.private[newpage] = m.team.TEAM_LRU_WEIGHT_ONE  # before added_to_hugeteam
        m.flags[newpage] |= PG_team
        m.mapping[newpage] = m.mapping[oldpage]
        m.index[newpage] = m.index[oldpage]
    mapping = m.mappings[m.mapping[oldpage]]
    shmem_added_to_hugeteam(m, newpage, mapping, None)
    return True
