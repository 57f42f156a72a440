"""Huge tmpfs teams: a huge allocation split into small pages held together by PG_team.

A team covers one HPAGE_PMD_NR-page extent of a file; its head (the first pfn) carries
PG_team, mapping and index from allocation on, and the team's counts in ``team_usage``
(mm/pageteam.py).  A subpage is a member once it is in the page cache (PG_swapbacked); the
others are holes, owned by the team with refcount 1, counted in NR_SHMEM_FREEHOLES.

Models: mm/shmem.c of patches 04, 06 and 24 of 31: shmem_hugeteam_lookup,
shmem_added_to_hugeteam, shmem_clear_tag_hugehole, shmem_freeholes,
shmem_disband_hugehead, shmem_disband_hugetails, shmem_disband_hugeteam.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.debug import VM_BUG_ON_PAGE
from hugetmpfs.mm.filemap import trylock_page, unlock_page
from hugetmpfs.mm.memory import unmap_mapping_range
from hugetmpfs.mm.page_alloc import free_hot_cold_page
from hugetmpfs.mm.page_flags import (
    PG_active,
    PG_checked,
    PG_lru,
    PG_mlocked,
    PG_swapbacked,
    PG_team,
    PG_unevictable,
)
from hugetmpfs.mm.page_ref import get_page, get_page_unless_zero, put_page_testzero
from hugetmpfs.mm.pageteam import team_head, team_pmd_mapped
from hugetmpfs.mm.radix_tree import PAGECACHE_TAG_DIRTY, radix_tree_exceptional_entry
from hugetmpfs.mm.swap import (
    LRU_INACTIVE_ANON,
    LRU_UNEVICTABLE,
    add_page_to_lru_tail,
    del_page_from_lru_list,
    isolate_lru_page,
    page_lru,
    put_page,
    update_lru_size,
)
from hugetmpfs.mm.vmstat import NR_ISOLATED_ANON, NR_SHMEM_FREEHOLES, NR_SHMEM_HUGEPAGES

if TYPE_CHECKING:
    from hugetmpfs.mm.filemap import AddressSpace
    from hugetmpfs.shmem.machine import Machine

# hugehint values (patch 04/31); any value >= 0 is the team page (pfn) to fill.
SHMEM_ALLOC_SMALL_PAGE = -1
SHMEM_ALLOC_HUGE_PAGE = -2
SHMEM_RETRY_HUGE_PAGE = -3
SHMEM_TAG_HUGEHOLE = PAGECACHE_TAG_DIRTY  # free for reuse: shmem does no dirty accounting
EALREADY = 114


def shmem_hugeteam_lookup(m: Machine, mapping: AddressSpace, index: int, speculative: bool) -> int:
    """What the extent of *index* holds, as a hugehint: ALLOC_HUGE (nothing in the cache),
    ALLOC_SMALL (a small page, a swap entry, or a dead team), or the team page for *index*
    (with a reference taken when *speculative*).

    Called under RCU from shmem_alloc_page (speculative) and again under tree_lock from
    shmem_add_to_page_cache, which insists on the same answer (base/R4.1).

    Models: mm/shmem.c shmem_hugeteam_lookup (patch 04/31; patch 24's V24 check).
    Guards: base/R4.3.
    """
    nr = m.HPAGE_PMD_NR
    start = index & ~(nr - 1)
    while True:  # restart:
        found = mapping.page_tree.next_entry(start, start + nr)
        if found is None:
            return SHMEM_ALLOC_HUGE_PAGE
        idx, entry = found
        if radix_tree_exceptional_entry(entry) or not m.flags[entry] & PG_team:
            return SHMEM_ALLOC_SMALL_PAGE
        head = entry - (idx - start)
        page = head + (index - start)
        if speculative:
            m.engine.point("base/R4.3:before_get")
            # base/R4.3: under RCU only, a truncation or punch may disband the team and free
            # this hole since the slot was read: a plain get_page would take a reference on
            # a free page.  The speculative reference fails at count 0: restart.
            if m.guard_on("base/R4.3") and not get_page_unless_zero(m, page):
                m.engine.point("shmem_hugeteam_lookup:restart")
                continue
            if not m.guard_on("base/R4.3"):
                get_page(m, page)  # the guard off: a reference taken blindly
        # base/R4.3: a disbander may have ended the team meanwhile, and the head been freed
        # and reused by another file or extent: joining it would make a team of strangers.
        if m.guard_on("base/R4.3") and (
            not m.flags[head] & PG_team or m.mapping[head] != mapping.id or m.index[head] != start
        ):
            return _drop(m, page, speculative, SHMEM_ALLOC_SMALL_PAGE)
        # recovery/R2 (patch 24, V24 until patch 29): a swap-backed slot is either being
        # filled by a racing task or was migrated into by recovery and then punched.
        if m.variant == "v24" and m.flags[page] & PG_swapbacked:
            return _drop(m, page, speculative, SHMEM_ALLOC_SMALL_PAGE)
        return page


def _drop(m: Machine, page: int, speculative: bool, hint: int) -> int:
    if speculative:
        put_page(m, page)
    return hint


def shmem_freeholes(m: Machine, head: int) -> int:
    """How many of the team's subpages are holes (0 once complete)."""
    t = m.team
    usage = m.private[head]
    return 0 if usage >= t.TEAM_COMPLETE else m.HPAGE_PMD_NR - usage // t.TEAM_PAGE_COUNTER


def shmem_clear_tag_hugehole(m: Machine, mapping: AddressSpace, index: int) -> int | None:
    """Under tree_lock: clear the team's HUGEHOLE tag, wherever in its extent it sits; return
    the tagged page, or None when the extent carries no tag (patch 23 made that legal)."""
    found = mapping.page_tree.next_tagged(index, SHMEM_TAG_HUGEHOLE)
    if found is None or found[0] >= index + m.HPAGE_PMD_NR:
        return None
    idx, page = found
    VM_BUG_ON_PAGE(radix_tree_exceptional_entry(page), m, 0, "HUGEHOLE tag on a swap entry")
    mapping.page_tree.tag_clear(idx, SHMEM_TAG_HUGEHOLE)
    return page


def shmem_added_to_hugeteam(m: Machine, page: int, mapping: AddressSpace, hugehint: int) -> None:
    """Under tree_lock: *page* just became a member; count it (patch 24's form)."""
    t = m.team
    head = team_head(m, page)
    m.private[head] += t.TEAM_PAGE_COUNTER
    usage = m.private[head]
    zone = m.vmstat.zone
    if usage < 2 * t.TEAM_PAGE_COUNTER:  # the team's first member
        if hugehint == SHMEM_ALLOC_HUGE_PAGE:
            mapping.page_tree.tag_set(m.index[page], SHMEM_TAG_HUGEHOLE)
        zone[NR_SHMEM_FREEHOLES] += m.HPAGE_PMD_NR - 1
        return
    if usage >= t.TEAM_COMPLETE:
        shmem_clear_tag_hugehole(m, mapping, m.index[head])
        zone[NR_SHMEM_HUGEPAGES] += 1
    zone[NR_SHMEM_FREEHOLES] -= 1


# -- disband ------------------------------------------------------------------------------


def shmem_disband_hugehead(m: Machine, head: int) -> tuple[int, int]:
    """Dissolve the team at *head* (no new members): (members it had, or -EALREADY if a
    racing disbander won; the LRU weight the head carried).

    team_usage is reset before PG_team is cleared (base/R6.2: writepage may store a swap
    entry in the same word once PG_team is gone).  The head is not necessarily locked
    (the shrinker): base/R6.1 makes the loser of the PageTeam test get -EALREADY.
    """
    t = m.team
    mapping = m.mappings[m.mapping[head]]  # READ_ONCE(head->mapping)
    if mapping is None:
        return -EALREADY, 0
    lru_locked = (m.private[head] & t.TEAM_LRU_WEIGHT_MASK) != 1
    if lru_locked:
        m.lru_lock.lock()
    try:
        with mapping.tree_lock:
            # base/R6.1: the shrinker holds no lock on the head, only shmem_shrinklist_lock,
            # which eviction must take before the inode (and this tree_lock) can be freed.
            VM_BUG_ON_PAGE(
                getattr(mapping.host, "evicted", False), m, head, "tree_lock of an evicted inode"
            )
            if not m.flags[head] & PG_team:
                return -EALREADY, 0
            old = m.private[head]
            m.private[head] = t.TEAM_LRU_WEIGHT_ONE
            weight, nr = old & t.TEAM_LRU_WEIGHT_MASK, old // t.TEAM_PAGE_COUNTER
            m.flags[head] &= ~PG_team
            if not m.flags[head] & PG_swapbacked:
                m.mapping[head] = 0
            if m.flags[head] & PG_lru and weight > 1:
                update_lru_size(m, page_lru(m, head), 1 - weight)
            _undo_team_counts(m, head, mapping, nr)
            return nr, weight
    finally:
        if lru_locked:
            m.lru_lock.unlock()


def _undo_team_counts(m: Machine, head: int, mapping: AddressSpace, nr: int) -> None:
    zone = m.vmstat.zone
    n = m.HPAGE_PMD_NR
    if nr >= n:
        # base/I16: a disband never finds the team mapped by a pmd (for the shrinker).
        VM_BUG_ON_PAGE(nr != n, m, head, f"disbanding a pmd-mapped team (nr {nr})")
        m.flags[head] &= ~PG_checked
        zone[NR_SHMEM_HUGEPAGES] -= 1
    elif nr > 0:
        shmem_clear_tag_hugehole(m, mapping, m.index[head])
        zone[NR_SHMEM_FREEHOLES] -= n - nr


def shmem_disband_hugetails(
    m: Machine, head: int, pages: list[int] | None = None, nr: int = 0
) -> int:
    """After disband_hugehead: members become ordinary pages, holes are freed cold (so the
    buddy allocator can merge the extent back into a huge block).  Returns *nr* as left.

    Three modes (patch 06/31), by *nr*:
      ``0``   plain disband;
      ``< 0`` the shrinker's FROM team (``-fromused``): isolate each member from its LRU
              onto *pages* (counted in NR_ISOLATED_ANON) for migration;
      ``> 0`` the shrinker's TO team (``fromused``): give *nr* of its holes to *pages*, as
              targets for the FROM team's members; the other holes are freed.

    Models: mm/shmem.c shmem_disband_hugetails (patches 04, 06 and 24 of 31).
    """
    isolated = 0
    if not m.flags[head] & PG_swapbacked:
        if nr > 0 and pages is not None:
            pages.append(head)  # the head is a hole: it becomes a target
            nr -= 1
        else:
            _put_hole(m, head)
    elif nr < 0 and pages is not None and isolate_lru_page(m, head) == 0:
        pages.append(head)
        isolated += 1
    for page in range(head + 1, head + m.HPAGE_PMD_NR):
        if m.flags[page] & PG_team:
            if nr < 0 and pages is not None and isolate_lru_page(m, page) == 0:
                pages.append(page)
                isolated += 1
            m.flags[page] &= ~PG_team
        elif m.flags[page] & PG_swapbacked:
            put_page(m, page)  # patch 24: half recovered, its cache reference keeps it
        elif nr > 0 and pages is not None:
            pages.append(page)
            nr -= 1
        else:
            _put_hole(m, page)
    if isolated:
        m.vmstat.zone[NR_ISOLATED_ANON] += isolated
    nr += isolated
    # Some members may not have been isolated (off their LRU meanwhile): nr stays < 0.
    VM_BUG_ON_PAGE(nr > 0, m, head, f"disband_hugetails: {nr} holes short")
    return nr


def _put_hole(m: Machine, page: int) -> None:
    if put_page_testzero(m, page):
        free_hot_cold_page(m, page, cold=True)


def shmem_disband_hugeteam(m: Machine, page: int) -> None:
    """Disband the team of the locked *page*, taking the head's lock with a trylock (base/R4.4:
    the caller's page lock is held); on failure nothing happens and the caller retries.

    Models: mm/shmem.c shmem_disband_hugeteam (patch 11/31's final form).
    Guards: base/R11 (with base/R10.2 in remap_team_by_ptes), base/R4.4, base/R4.5.
    """
    head = team_head(m, page)
    if head != page:
        if not get_page_unless_zero(m, head):
            return
        if not trylock_page(m, head):
            put_page(m, head)
            return
        if not m.flags[head] & PG_team:
            unlock_page(m, head)
            put_page(m, head)
            return
    mapping = m.mappings[m.mapping[page]]
    # base/R11: a huge fault may have mapped the team by pmd after truncation's full-range
    # unmap_mapping_range; pmd mappings raise only the head's mapcount, so truncation
    # would see the tails unmapped and free them while still mapped.  Holding the head
    # lock keeps new pmd mappings out: unmap (each pass splits a pmd into ptes, which
    # truncation then sees) until the team is pmd-mapped no more.
    while m.guard_on("base/R11") and team_pmd_mapped(m, head):
        unmap_mapping_range(m, mapping, m.index[page] << 12, 1 << 12, False)
        if team_pmd_mapped(m, head):
            _wait_for_remap(m, mapping)
    m.engine.preempt_disable()  # base/R4.5: a truncator may be spinning on a tail
    nr, weight = shmem_disband_hugehead(m, head)
    if head != page:
        unlock_page(m, head)
    if weight > 1:
        shmem_evictify_hugetails(m, head, weight)
    if nr >= 0:
        shmem_disband_hugetails(m, head)
    if head != page:
        put_page(m, head)
    m.engine.preempt_enable()


def _wait_for_remap(m: Machine, mapping: AddressSpace) -> None:
    """Still pmd-mapped after an unmap pass: a remap_team_by_ptes is filling the ptes
    (base/R10.2 drops the pmd count last).  The kernel's zap would wait for it on the new
    table's pte lock; the model's unmap skips a table that looks empty, so wait here on
    the pmd locks the remapper holds, rather than spin."""
    for vma in list(mapping.i_mmap):
        with vma.mm.page_table_lock:
            pass


def shmem_evictify_hugetails(m: Machine, head: int, weight: int) -> None:
    """Give the weight a disbanded head carried back to the tails that gave it up, moving
    them from the Unevictable list back to the inactive anon list (patch 13/31).

    Loops until the whole weight is returned: a racing putback_inactive_pages may still be
    moving a tail's weight (base/R13.1).  A tail briefly isolated gets its weight back but
    stays off the lists (base/R13.2)."""
    t = m.team
    while weight != 1:
        for page in range(head + m.HPAGE_PMD_NR - 1, head, -1):
            if not m.flags[page] & PG_team or m.private[page] == t.TEAM_LRU_WEIGHT_ONE:
                continue
            with m.lru_lock:
                if m.private[page] == t.TEAM_LRU_WEIGHT_ONE:
                    continue
                weight -= 1
                _evictify_one(m, page)
        if weight != 1:
            m.engine.point("shmem_evictify_hugetails:again")


def _evictify_one(m: Machine, page: int) -> None:
    """Under lru_lock: restore one tail's weight and its place on an evictable list."""
    m.private[page] = m.team.TEAM_LRU_WEIGHT_ONE
    if not m.flags[page] & PG_lru:
        return
    VM_BUG_ON_PAGE(m.flags[page] & PG_active, m, page, "a parked tail is active")
    if m.flags[page] & PG_mlocked:  # !page_evictable: stays on Unevictable, now weighing 1
        update_lru_size(m, LRU_UNEVICTABLE, 1)
        return
    m.private[page] = 0  # off the list with the weight it had, back with the weight it has
    del_page_from_lru_list(m, page, LRU_UNEVICTABLE)
    m.private[page] = m.team.TEAM_LRU_WEIGHT_ONE
    m.flags[page] &= ~PG_unevictable
    add_page_to_lru_tail(m, page, LRU_INACTIVE_ANON)
