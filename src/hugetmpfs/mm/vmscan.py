"""Page reclaim: kswapd, direct reclaim from the allocator's slow path, and the LRU scans
that write tmpfs pages to swap.

Models: mm/vmscan.c and mm/page_alloc.c's __alloc_pages_slowpath (v4.6-rc2), reduced:
shrink_zone → shrink_lruvec → shrink_{active,inactive}_list → shrink_page_list → pageout →
the mapping's ->writepage (shmem_writepage), and __remove_mapping for pages whose write to
swap has completed.  Slab shrinkers (the hugehole shrinker of patch 06/31) are called from
shrink_slab through ``m.shrinkers``.

Differs: one zone, no memcg, no dirty-page throttling; anonymous pages (private COW copies)
are not swapped: they are activated, so a machine short of memory reclaims tmpfs pages only
(document-level departure, DESIGN.md's pressure op uses unevictable memory).  OOM is the
failure of the allocation that found no progress, never a kill.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.costs import RECLAIM_PAGE_NS
from hugetmpfs.mm.filemap import __delete_from_page_cache, trylock_page, unlock_page
from hugetmpfs.mm.page_alloc import (
    __GFP_DIRECT_RECLAIM,
    __GFP_KSWAPD_RECLAIM,
    __GFP_NORETRY,
    __GFP_REPEAT,
    free_hot_cold_page,
    get_page_from_freelist,
)
from hugetmpfs.mm.page_flags import (
    PG_active,
    PG_dirty,
    PG_locked,
    PG_lru,
    PG_mlocked,
    PG_reclaim,
    PG_referenced,
    PG_swapbacked,
    PG_swapcache,
    PG_team,
    PG_unevictable,
    PG_writeback,
)
from hugetmpfs.mm.page_ref import page_ref_freeze
from hugetmpfs.mm.pageteam import clear_lru_weight, hpage_nr_pages, inc_lru_weight, team_head
from hugetmpfs.mm.swap import (
    LRU_ACTIVE_ANON,
    LRU_INACTIVE_ANON,
    add_page_to_lru_list,
    del_page_from_lru_list,
    lru_add_drain,
    page_lru,
    put_page,
    update_lru_size,
)
from hugetmpfs.mm.swap_state import __delete_from_swap_cache
from hugetmpfs.mm.swapfile import nr_swap_pages, swapcache_free
from hugetmpfs.mm.vmstat import (
    ALLOCSTALL,
    NR_FREE_PAGES,
    NR_ISOLATED_ANON,
    NR_SWAPCACHE,
    NR_WRITEBACK,
    OOM_KILL,
    PGSCAN_DIRECT,
    PGSCAN_KSWAPD,
    PGSTEAL_DIRECT,
    PGSTEAL_KSWAPD,
)

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine

SWAP_CLUSTER_MAX = 32
DEF_PRIORITY = 12
MAX_RECLAIM_RETRIES = 16
PAGE_ALLOC_COSTLY_ORDER = 3
CONGESTION_WAIT_NS = 1_000_000  # a reclaimer that made no progress waits for I/O

PAGE_KEEP, PAGE_ACTIVATE, PAGE_SUCCESS, PAGE_CLEAN = range(4)


def init_reclaim(m: MemMachine, kswapd_asleep: bool = True) -> None:
    """Install the allocator's slow path and start kswapd on the last CPU, asleep until
    the first wakeup (or, with *kswapd_asleep* False, runnable: schedules recorded before
    kswapd started asleep replay that way)."""
    m.alloc_slowpath = __alloc_pages_slowpath
    m.reclaim_pages = reclaim_pages
    m.shrinkers = []  # callables (m, nr_to_scan) -> pages freed
    m.kswapd_wanted = False
    # Asleep from the start, as kswapd() would be at once: nothing is wanted yet.
    m.kswapd = m.engine.spawn(
        kswapd,
        m,
        name="kswapd0",
        cpu=m.cpus - 1,
        daemon=True,
        asleep_on="kswapd" if kswapd_asleep else None,
    )


# -- the allocator's slow path ------------------------------------------------------------


def wakeup_kswapd(m: MemMachine) -> None:
    m.kswapd_wanted = True
    if "kswapd" in m.engine.waiters:
        m.engine.wake("kswapd")


def __alloc_pages_slowpath(m: MemMachine, gfp: int, order: int) -> int | None:
    if gfp & __GFP_KSWAPD_RECLAIM:
        wakeup_kswapd(m)
    page = get_page_from_freelist(m, order, m.wmark_min)
    if page is not None or not gfp & __GFP_DIRECT_RECLAIM or m.engine.current is None:
        return page
    no_progress = 0
    while True:
        m.vmstat.events[ALLOCSTALL] += 1
        if writeback_throttled(m):  # wait for the writes in flight: not a lack of progress
            m.engine.sleep(CONGESTION_WAIT_NS, "direct_reclaim:throttled")
            page = get_page_from_freelist(m, order, m.wmark_min)
            if page is not None:
                return page
            continue
        progress = try_to_free_pages(m, order)
        page = get_page_from_freelist(m, order, m.wmark_min)
        if page is not None:
            return page
        if gfp & __GFP_NORETRY or (order > PAGE_ALLOC_COSTLY_ORDER and not gfp & __GFP_REPEAT):
            return None
        no_progress = 0 if progress else no_progress + 1
        if no_progress > MAX_RECLAIM_RETRIES:
            m.vmstat.events[OOM_KILL] += 1  # out_of_memory: here the allocation fails
            return None
        m.engine.sleep(CONGESTION_WAIT_NS, "congestion_wait")


def writeback_throttled(m: MemMachine) -> bool:
    """Enough pages are already being written to swap to bring free memory back above the
    high watermark once their I/O completes: wait for it rather than write more.

    The model's stand-in for v4.6's writeback throttling (ZONE_WRITEBACK and
    congestion_wait in shrink_inactive_list, throttle_vm_writeout): without it a reclaimer
    faster than the swap device would write out far more than it needs."""
    zone = m.vmstat.zone
    deficit = m.wmark_high - zone[NR_FREE_PAGES]
    return zone[NR_WRITEBACK] >= max(deficit, SWAP_CLUSTER_MAX)


def try_to_free_pages(m: MemMachine, order: int) -> int:
    """Direct reclaim: scan at rising priority until a cluster of pages is reclaimed."""
    reclaimed = 0
    for priority in range(DEF_PRIORITY, -1, -1):
        reclaimed += shrink_zone(m, priority, kswapd=False)
        if reclaimed >= SWAP_CLUSTER_MAX:
            break
    return reclaimed


# -- kswapd -------------------------------------------------------------------------------


def kswapd(m: MemMachine) -> None:
    """Sleep until woken below the low watermark; reclaim up to the high one."""
    engine = m.engine
    while True:
        while not m.kswapd_wanted:
            engine.block_on("kswapd", "kswapd:sleep")
        m.kswapd_wanted = False
        balance_pgdat(m)


def balance_pgdat(m: MemMachine) -> None:
    stalls = 0
    while m.vmstat.zone[NR_FREE_PAGES] < m.wmark_high:
        reclaimed = 0
        for priority in range(DEF_PRIORITY, -1, -1):
            if writeback_throttled(m):
                break
            reclaimed += shrink_zone(m, priority, kswapd=True)
            if m.vmstat.zone[NR_FREE_PAGES] >= m.wmark_high:
                return
        if writeback_throttled(m):
            m.engine.sleep(CONGESTION_WAIT_NS, "kswapd:throttled")
            continue
        stalls = 0 if reclaimed else stalls + 1
        if stalls > MAX_RECLAIM_RETRIES:
            return  # nothing reclaimable: sleep until woken again
        m.engine.sleep(CONGESTION_WAIT_NS, "kswapd:congestion_wait")


# -- scanning -----------------------------------------------------------------------------


def shrink_zone(m: MemMachine, priority: int, kswapd: bool) -> int:
    """Scan the anonymous LRUs (tmpfs pages are swap-backed) and the slab shrinkers."""
    reclaimed = 0
    lru_add_drain(m)
    # Anonymous (and tmpfs) pages are worth scanning while swap has room, or while some
    # are already in the swap cache: those can be freed without swap space.
    if nr_swap_pages(m) > 0 or m.vmstat.zone[NR_SWAPCACHE] > 0:
        inactive = m.lru_size[LRU_INACTIVE_ANON]
        active = m.lru_size[LRU_ACTIVE_ANON]
        if inactive < active:
            shrink_active_list(m, max(active >> priority, 1))
        nr = max(m.lru_size[LRU_INACTIVE_ANON] >> priority, min(SWAP_CLUSTER_MAX, inactive))
        while nr > 0 and not writeback_throttled(m):
            batch = min(nr, SWAP_CLUSTER_MAX)
            reclaimed += shrink_inactive_list(m, batch, kswapd)
            nr -= batch
    for shrinker in m.shrinkers:
        reclaimed += shrinker(m, SWAP_CLUSTER_MAX)
    return reclaimed


def isolate_lru_pages(m: MemMachine, nr: int, lru: int) -> list[int]:
    """Under lru_lock: take up to *nr* pages from the tail of list *lru*."""
    taken = []
    page = m.lru_tail[lru]
    while page != -1 and len(taken) < nr:
        prev = m.lru_prev[page]
        if m.refcount[page] > 0:  # get_page_unless_zero
            m.refcount[page] += 1
            m.flags[page] &= ~PG_lru
            del_page_from_lru_list(m, page, lru)
            taken.append(page)
        page = prev
    m.vmstat.zone[NR_ISOLATED_ANON] += len(taken)
    return taken


def shrink_active_list(m: MemMachine, nr: int) -> None:
    """Move pages from the active to the inactive list (no young-bit second chance)."""
    with m.lru_lock:
        pages = isolate_lru_pages(m, nr, LRU_ACTIVE_ANON)
    for page in pages:
        m.flags[page] &= ~(PG_active | PG_referenced)
    _putback_pages(m, pages, from_inactive=False)  # move_active_pages_to_lru


def shrink_inactive_list(m: MemMachine, nr: int, kswapd: bool) -> int:
    with m.lru_lock:
        pages = isolate_lru_pages(m, nr, LRU_INACTIVE_ANON)
    events = m.vmstat.events
    events[PGSCAN_KSWAPD if kswapd else PGSCAN_DIRECT] += len(pages)
    survivors, reclaimed = shrink_page_list(m, pages)
    events[PGSTEAL_KSWAPD if kswapd else PGSTEAL_DIRECT] += reclaimed
    putback_inactive_pages(m, survivors)
    return reclaimed


def putback_inactive_pages(m: MemMachine, pages: list[int]) -> None:
    """Return the pages shrink_page_list kept to their lists and drop the isolation
    references; a team tail kept inactive gives its LRU weight to its head (patch 13/31).

    Models: mm/vmscan.c putback_inactive_pages (v4.6-rc2, patch 13/31).
    """
    _putback_pages(m, pages, from_inactive=True)


def _putback_pages(m: MemMachine, pages: list[int], from_inactive: bool) -> None:
    with m.lru_lock:
        for page in pages:
            if not page_evictable(m, page):
                m.flags[page] |= PG_unevictable
            elif from_inactive and m.flags[page] & PG_team and not m.flags[page] & PG_active:
                _team_putback(m, page)
            m.flags[page] |= PG_lru
            add_page_to_lru_list(m, page, page_lru(m, page))
    m.vmstat.zone[NR_ISOLATED_ANON] -= len(pages)
    for page in pages:
        put_page(m, page)


def _team_putback(m: MemMachine, page: int) -> None:
    """Under lru_lock: a team page that reclaim kept.  A tail whose team lives is parked on
    the Unevictable list with weight 0, its weight moving to the head; anything else is
    activated, the traditional fate of a redirtied page (patch 13/31)."""
    head = team_head(m, page)
    mapping = m.mappings[m.mapping[page]]  # READ_ONCE(page->mapping)
    transferring = False
    if page != head and mapping is not None:
        with mapping.tree_lock:
            # base/R13.1: a disbander resets the head's usage and clears PageTeam under
            # tree_lock; weight given to a head no longer a team would be lost, and the
            # tail stranded at weight 0.
            if m.flags[head] & PG_team or not m.guard_on("base/R13.1"):
                inc_lru_weight(m, head)
                transferring = True
    if transferring:
        if m.flags[head] & PG_lru:
            update_lru_size(m, page_lru(m, head), 1)
        m.flags[page] |= PG_unevictable
        clear_lru_weight(m, page)
    else:
        m.flags[page] |= PG_active


def page_evictable(m: MemMachine, page: int) -> bool:
    """Whether a page may go on an evictable list: not mlocked, and not a team tail that
    gave its weight to its head (patch 13/31: weight 0 means held as part of a team).

    Models: mm/vmscan.c page_evictable (v4.6-rc2, patch 13/31).
    """
    return not m.flags[page] & PG_mlocked and hpage_nr_pages(m, page) != 0


def shrink_page_list(
    m: MemMachine, pages: list[int], ignore_references: bool = False
) -> tuple[list[int], int]:
    """Try to free each isolated page; return (pages to put back, pages freed)."""
    survivors: list[int] = []
    freed = 0
    for page in pages:
        m.engine.consume(RECLAIM_PAGE_NS)
        if _reclaim_one(m, page, ignore_references):
            freed += 1
            m.vmstat.zone[NR_ISOLATED_ANON] -= 1
        else:
            survivors.append(page)
    return survivors, freed


def reclaim_pages(m: MemMachine, pages: list[int]) -> int:
    """Reclaim isolated pages at once, whatever their references (MADV_PAGEOUT)."""
    m.vmstat.zone[NR_ISOLATED_ANON] += len(pages)
    survivors, freed = shrink_page_list(m, pages, ignore_references=True)
    putback_inactive_pages(m, survivors)
    return freed


def _reclaim_one(m: MemMachine, page: int, ignore_references: bool) -> bool:
    """One page through shrink_page_list: True once it is freed (its reference was ours)."""
    if not trylock_page(m, page):
        return False
    flags = m.flags[page]
    keep = flags & (PG_writeback | PG_unevictable) or not flags & PG_swapbacked
    if not keep and getattr(m.mappings[m.mapping[page]], "is_anon", False):
        keep = True
        m.flags[page] |= PG_active  # anonymous pages are not swapped in the model
    if not keep and not ignore_references and page_check_references(m, page):
        keep = True
        m.flags[page] |= PG_active
    if not keep and m.mapcount[page] >= 0 and not _try_to_unmap(m, page, ignore_references):
        keep = True
        m.flags[page] |= PG_active
    if not keep and m.flags[page] & PG_dirty and not m.flags[page] & PG_swapcache:
        # Enough is being written already: keep it for later.  Not a team page: writepage
        # only redirties a tail whose head is in use, and keeping one here would park it.
        if not m.flags[page] & PG_team and writeback_throttled(m):
            unlock_page(m, page)
            return False
        m.flags[page] |= PG_reclaim  # rotate it to the tail when its write completes
        result = pageout(m, page)
        if result in (PAGE_ACTIVATE, PAGE_KEEP):
            m.flags[page] &= ~PG_reclaim  # not under writeback after all
        if result == PAGE_ACTIVATE:
            m.flags[page] |= PG_active
        if m.flags[page] & PG_locked:
            unlock_page(m, page)
        return False  # written out: freed on a later pass once the write completed
    if not keep and not m.flags[page] & (PG_writeback | PG_dirty) and __remove_mapping(m, page):
        unlock_page(m, page)
        # Point of no return: the count is frozen at 0, nobody can find the page.
        free_hot_cold_page(m, page, cold=True)
        return True
    unlock_page(m, page)
    return False


def page_check_references(m: MemMachine, page: int) -> bool:
    """Whether a swap-backed page must be activated rather than reclaimed: a young pte
    maps it.  PG_referenced alone does not save a swap-backed page (v4.6's
    page_check_references returns PAGEREF_RECLAIM for it), but is cleared."""
    from hugetmpfs.mm.rmap import page_referenced

    referenced_ptes, _ = page_referenced(m, page)
    m.flags[page] &= ~PG_referenced
    return referenced_ptes > 0


def _try_to_unmap(m: MemMachine, page: int, ignore_access: bool) -> bool:
    from hugetmpfs.mm.rmap import SWAP_SUCCESS, TTU_IGNORE_ACCESS, TTU_UNMAP, try_to_unmap

    flags = TTU_UNMAP | (TTU_IGNORE_ACCESS if ignore_access else 0)
    return try_to_unmap(m, page, flags) == SWAP_SUCCESS


def pageout(m: MemMachine, page: int) -> int:
    """Hand a dirty page to its mapping's ->writepage (shmem_writepage for tmpfs)."""
    mapping = m.mappings[m.mapping[page]]
    if mapping is None or m.writepage is None:
        return PAGE_KEEP
    m.flags[page] &= ~PG_dirty  # clear_page_dirty_for_io
    ret = m.writepage(m, page, mapping)
    if ret in (PAGE_ACTIVATE, PAGE_KEEP):
        return ret  # KEEP: redirtied with for_reclaim cleared (a team tail, patch 13/31)
    return PAGE_SUCCESS


def __remove_mapping(m: MemMachine, page: int) -> bool:
    """Take a clean, locked, isolated page out of the swap cache or its page cache, if the
    isolation and that cache hold the only two references; the count is then frozen at 0.
    A third reference (a lookup, get_user_pages) means someone may still use it: keep it.
    A clean tmpfs page is one never written since it was zeroed: dropping it loses
    nothing, its blocks come back when shmem next recalculates the inode."""
    if m.flags[page] & PG_team:
        return False  # patch 05/31: a team page is never freed from under its team
    if m.flags[page] & PG_swapcache:
        if not page_ref_freeze(m, page, 2):
            return False
        entry = m.private[page]
        __delete_from_swap_cache(m, page)
        swapcache_free(m, entry)
        return True
    mapping = m.mappings[m.mapping[page]]
    if mapping is None:
        return False
    with mapping.tree_lock:
        if not page_ref_freeze(m, page, 2):
            return False
        __delete_from_page_cache(m, page)
    return True
