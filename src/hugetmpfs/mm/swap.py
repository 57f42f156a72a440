"""LRU lists, per-CPU pagevecs and the final put_page: mm/swap.c (and isolate_lru_page,
putback_lru_page from mm/vmscan.c, which live here beside the lists they manipulate).

Each list is threaded through ``lru_next``/``lru_prev``; its head is the most recently
added page and reclaim takes from the tail.  List sizes are weighted by hpage_nr_pages()
(patch 13/31: a parked team tail weighs 0, its head carries the weight).  A page is added
to an LRU only through a per-CPU pagevec, so until lru_add_drain() it is in no list and
isolate_lru_page() fails on it, exactly the case recovery's drain-all retry exists for.

Models: mm/swap.c, mm/vmscan.c, include/linux/mm_inline.h (v4.6-rc2, patch 13/31).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.errors import ModelBug
from hugetmpfs.mm.debug import VM_BUG_ON_PAGE
from hugetmpfs.mm.machine import NIL
from hugetmpfs.mm.page_alloc import free_hot_cold_page
from hugetmpfs.mm.page_flags import (
    PG_active,
    PG_lru,
    PG_swapbacked,
    PG_team,
    PG_unevictable,
)
from hugetmpfs.mm.page_ref import get_page, put_page_testzero
from hugetmpfs.mm.pageteam import hpage_nr_pages
from hugetmpfs.mm.vmstat import NR_INACTIVE_ANON
from hugetmpfs.sim import SpinLock

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine

LRU_INACTIVE_ANON = 0
LRU_ACTIVE_ANON = 1
LRU_INACTIVE_FILE = 2
LRU_ACTIVE_FILE = 3
LRU_UNEVICTABLE = 4
NR_LRU_LISTS = 5
LRU_NAMES = ("inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable")

PAGEVEC_SIZE = 14  # v4.6


def init_lru(m: MemMachine) -> None:
    m.lru_head = [NIL] * NR_LRU_LISTS
    m.lru_tail = [NIL] * NR_LRU_LISTS
    m.lru_size = [0] * NR_LRU_LISTS  # weighted, as lruvec->lru_size
    m.lru_add_pvec = [[] for _ in range(m.cpus)]
    m.lru_lock = SpinLock(m.engine, "lru_lock", "zone->lru_lock")


def _lru_of_flags(flags: int) -> int:
    if flags & PG_unevictable:
        return LRU_UNEVICTABLE
    lru = LRU_INACTIVE_ANON if flags & PG_swapbacked else LRU_INACTIVE_FILE
    return lru + 1 if flags & PG_active else lru


_LRU_FLAGS = PG_unevictable | PG_swapbacked | PG_active
#: the list of each combination of the flags that choose it
_LRU_OF_FLAGS = {
    f: _lru_of_flags(f)
    for f in {
        a | b | c for a in (0, PG_unevictable) for b in (0, PG_swapbacked) for c in (0, PG_active)
    }
}


def page_lru(m: MemMachine, page: int) -> int:
    """Which list a page belongs on, from its flags."""
    return _LRU_OF_FLAGS[m.flags[page] & _LRU_FLAGS]


def add_page_to_lru_list(m: MemMachine, page: int, lru: int) -> None:
    """Under lru_lock: add at the head of list *lru* and count its weight."""
    head = m.lru_head[lru]
    m.lru_next[page] = head
    m.lru_prev[page] = NIL
    if head != NIL:
        m.lru_prev[head] = page
    else:
        m.lru_tail[lru] = page
    m.lru_head[lru] = page
    # update_lru_size(m, lru, hpage_nr_pages(m, page)), inline: every new page comes here
    flags = m.flags[page]
    weight = m.private[page] & m.team.TEAM_LRU_WEIGHT_MASK if flags & PG_team else 1
    m.lru_size[lru] += weight
    m.vmstat.zone[NR_INACTIVE_ANON + lru] += weight


def del_page_from_lru_list(m: MemMachine, page: int, lru: int) -> None:
    nxt, prv = m.lru_next[page], m.lru_prev[page]
    if prv != NIL:
        m.lru_next[prv] = nxt
    else:
        m.lru_head[lru] = nxt
    if nxt != NIL:
        m.lru_prev[nxt] = prv
    else:
        m.lru_tail[lru] = prv
    m.lru_next[page] = m.lru_prev[page] = NIL
    update_lru_size(m, lru, -hpage_nr_pages(m, page))


def update_lru_size(m: MemMachine, lru: int, delta: int) -> None:
    """Under lru_lock: a page on list *lru* changed its weight by *delta* (patch 13/31)."""
    m.lru_size[lru] += delta
    m.vmstat.zone[NR_INACTIVE_ANON + lru] += delta


def lru_cache_add(m: MemMachine, page: int) -> None:
    """Queue a new page for its LRU on this CPU's pagevec (with a pagevec reference)."""
    if m.flags[page] & PG_lru:
        VM_BUG_ON_PAGE(True, m, page, "lru_cache_add of a page on an LRU")
    if m.refcount[page] <= 0:  # get_page, inline
        VM_BUG_ON_PAGE(True, m, page, "get_page on a free page")
    m.refcount[page] += 1
    cur = m.engine.current
    pvec = m.lru_add_pvec[cur.cpu if cur is not None else 0]
    pvec.append(page)
    if len(pvec) >= PAGEVEC_SIZE:
        __pagevec_lru_add(m, pvec)


def lru_cache_add_anon(m: MemMachine, page: int) -> None:
    m.flags[page] &= ~PG_active
    lru_cache_add(m, page)


def __pagevec_lru_add(m: MemMachine, pvec: list[int]) -> None:
    """Move a pagevec's pages to their lists, then drop the pagevec's references."""
    pages = pvec[:]
    pvec.clear()
    with m.lru_lock:
        lru_add_pages_locked(m, pages)
    for page in pages:
        put_page(m, page)


def lru_add_pages_locked(m: MemMachine, pages: list[int]) -> None:
    """Under lru_lock: mark each page PG_lru and add it to the head of its list, in order
    (__pagevec_lru_add's loop, without the pagevec's references): add_page_to_lru_list
    on each, the pages of each list linked in one pass."""
    flags, private, mask = m.flags, m.private, m.team.TEAM_LRU_WEIGHT_MASK
    lists: list[list[int]] = [[] for _ in range(NR_LRU_LISTS)]
    weights = [0] * NR_LRU_LISTS
    for page in pages:
        f = flags[page] | PG_lru
        flags[page] = f
        lru = _LRU_OF_FLAGS[f & _LRU_FLAGS]
        lists[lru].append(page)
        # update_lru_size with hpage_nr_pages(), as add_page_to_lru_list
        weights[lru] += private[page] & mask if f & PG_team else 1
    nxt, prv = m.lru_next, m.lru_prev
    for lru, added in enumerate(lists):
        if not added:
            continue
        # each page becomes the head, in front of the one added before it
        first, below = added[0], m.lru_head[lru]
        nxt[first] = below
        if below == NIL:
            m.lru_tail[lru] = first
        else:
            prv[below] = first
        below = first
        for page in added[1:]:
            nxt[page] = below
            prv[below] = page
            below = page
        prv[below] = NIL
        m.lru_head[lru] = below
        m.lru_size[lru] += weights[lru]
        m.vmstat.zone[NR_INACTIVE_ANON + lru] += weights[lru]


def lru_add_drain_cpu(m: MemMachine, cpu: int) -> None:
    pvec = m.lru_add_pvec[cpu]
    if pvec:
        __pagevec_lru_add(m, pvec)


def lru_add_drain(m: MemMachine) -> None:
    """Drain this CPU's pagevec."""
    cur = m.engine.current
    lru_add_drain_cpu(m, cur.cpu if cur is not None else 0)


def lru_add_drain_all(m: MemMachine) -> None:
    """Drain every CPU's pagevec (the kernel sends work to each CPU; here it is direct)."""
    for cpu in range(m.cpus):
        lru_add_drain_cpu(m, cpu)


def isolate_lru_page(m: MemMachine, page: int) -> int:
    """Take a page off its LRU for migration or reclaim: 0, or -EBUSY if not on an LRU."""
    ret = -16  # -EBUSY
    with m.lru_lock:
        if m.flags[page] & PG_lru:
            get_page(m, page)
            m.flags[page] &= ~PG_lru
            del_page_from_lru_list(m, page, page_lru(m, page))
            ret = 0
    return ret


def putback_lru_page(m: MemMachine, page: int) -> None:
    """Return an isolated page to an LRU and drop the isolation reference."""
    m.flags[page] &= ~PG_unevictable
    lru_cache_add(m, page)
    put_page(m, page)


def rotate_reclaimable_page(m: MemMachine, page: int) -> None:
    """Move an inactive page on an LRU to its list's tail (reclaim's end), under lru_lock.

    Called from interrupt context (write completion), so it must not sleep: the lru_lock
    is a spinlock."""
    with m.lru_lock:
        # Reclaim may have isolated the page while we waited for the lock: look again.
        flags = m.flags[page]
        if flags & PG_lru and not flags & (PG_active | PG_unevictable):
            lru = page_lru(m, page)
            del_page_from_lru_list(m, page, lru)
            add_page_to_lru_tail(m, page, lru)


def add_page_to_lru_tail(m: MemMachine, page: int, lru: int) -> None:
    tail = m.lru_tail[lru]
    m.lru_prev[page] = tail
    m.lru_next[page] = NIL
    if tail != NIL:
        m.lru_next[tail] = page
    else:
        m.lru_head[lru] = page
    m.lru_tail[lru] = page
    update_lru_size(m, lru, hpage_nr_pages(m, page))


def __page_cache_release(m: MemMachine, page: int) -> None:
    if m.flags[page] & PG_lru:
        with m.lru_lock:
            m.flags[page] &= ~PG_lru
            del_page_from_lru_list(m, page, page_lru(m, page))


def put_page(m: MemMachine, page: int) -> None:
    """Drop a reference; the last one takes the page off its LRU and frees it."""
    refcount = m.refcount
    if refcount[page] > 1:  # put_page_testzero's usual case, inline: not the last one
        refcount[page] -= 1
        return
    if put_page_testzero(m, page):
        __page_cache_release(m, page)
        if m.flags[page] & (PG_active | PG_unevictable):
            m.flags[page] &= ~(PG_active | PG_unevictable)
        free_hot_cold_page(m, page, cold=False)


def release_pages(m: MemMachine, pages: list[int], cold: bool) -> None:
    """Drop one reference from each page, freeing the last ones hot or cold."""
    for page in pages:
        if put_page_testzero(m, page):
            __page_cache_release(m, page)
            m.flags[page] &= ~(PG_active | PG_unevictable)
            free_hot_cold_page(m, page, cold)


def lru_list_pages(m: MemMachine, lru: int) -> list[int]:
    """The pages of one list, head to tail (for invariants and views)."""
    out = []
    page = m.lru_head[lru]
    while page != NIL:
        out.append(page)
        page = m.lru_next[page]
        if len(out) > m.nr_frames:
            raise ModelBug(f"LRU list {LRU_NAMES[lru]} is corrupt (a cycle)")
    return out
