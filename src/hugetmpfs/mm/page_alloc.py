"""The buddy allocator: mm/page_alloc.c for one zone, orders 0..MAX_ORDER-1.

Free blocks of each order are threaded through ``lru_next``/``lru_prev`` (page->lru) with
PG_buddy set and the order in ``private``, as set_page_order() does.  Order-0 pages are
freed to per-CPU lists first: hot frees to the hot end, cold frees (disband's holes) to the
cold end, and the cold end drains to the buddy lists first, so pages freed cold are the
likeliest to merge back into a huge block.

Pages on per-CPU lists are not in NR_FREE_PAGES, as in v4.6 (rmqueue_bulk takes them out).
Freed and freshly allocated pages hold garbage: ``content`` -2 (POISON), which the data
oracle refuses to read, so exposing uninitialised or freed memory is a finding, not luck.

Models: mm/page_alloc.c (v4.6-rc2): __rmqueue_smallest, expand, __free_one_page,
free_hot_cold_page, free_pcppages_bulk, split_page, __setup_per_zone_wmarks.
Differs: one migratetype, no compaction (an order-9 allocation fails when no free block
of that order exists), no fallback lists.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from typing import TYPE_CHECKING

from hugetmpfs.errors import ModelBug
from hugetmpfs.mm.debug import VM_BUG_ON_PAGE
from hugetmpfs.mm.machine import MAX_ORDER, NIL
from hugetmpfs.mm.page_flags import PG_buddy, PG_lru
from hugetmpfs.mm.page_ref import put_page_testzero
from hugetmpfs.mm.vmstat import NR_FREE_PAGES, PGALLOC_NORMAL, PGFREE

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine

POISON = -2  # content code of a page whose bytes are garbage

PCP_BATCH = 31
PCP_HIGH = 6 * PCP_BATCH

# gfp bits the model looks at (v4.6 values; include/linux/gfp.h).
__GFP_HIGHMEM = 0x02
__GFP_MOVABLE = 0x08
__GFP_IO = 0x40
__GFP_FS = 0x80
__GFP_NOWARN = 0x200
__GFP_REPEAT = 0x400
__GFP_NOFAIL = 0x800
__GFP_NORETRY = 0x1000
__GFP_COMP = 0x4000
__GFP_HARDWALL = 0x20000
__GFP_THISNODE = 0x40000
__GFP_DIRECT_RECLAIM = 0x400000
__GFP_KSWAPD_RECLAIM = 0x2000000
__GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM
GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS
GFP_HIGHUSER = GFP_KERNEL | __GFP_HARDWALL | __GFP_HIGHMEM
GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE


def init_free_areas(m: MemMachine) -> None:
    """Boot: every frame free, in the largest aligned blocks that fit."""
    m.free_head = [NIL] * MAX_ORDER
    m.nr_free = [0] * MAX_ORDER
    m.pcp = [deque() for _ in range(m.cpus)]
    setup_per_zone_wmarks(m, None)
    pfn = 0
    while pfn < m.nr_frames:
        order = MAX_ORDER - 1
        while pfn & ((1 << order) - 1) or pfn + (1 << order) > m.nr_frames:
            order -= 1
        _add_to_free_list(m, pfn, order)
        pfn += 1 << order
    m.vmstat.zone[NR_FREE_PAGES] = m.nr_frames


def setup_per_zone_wmarks(m: MemMachine, min_free_kbytes: int | None) -> None:
    """Watermarks from vm.min_free_kbytes (its boot default when None)."""
    kbytes = m.nr_frames * 4
    if min_free_kbytes is None:
        min_free_kbytes = max(128, min(65536, math.isqrt(kbytes * 16)))
    m.min_free_kbytes = min_free_kbytes
    wmin = min_free_kbytes // 4
    tmp = max(wmin // 4, m.nr_frames * 10 // 10000)
    m.wmark_min, m.wmark_low, m.wmark_high = wmin, wmin + tmp, wmin + 2 * tmp


# -- free lists (page->lru) ---------------------------------------------------------------


def _add_to_free_list(m: MemMachine, page: int, order: int) -> None:
    head = m.free_head[order]
    m.lru_next[page] = head
    m.lru_prev[page] = NIL
    if head != NIL:
        m.lru_prev[head] = page
    m.free_head[order] = page
    m.flags[page] = PG_buddy
    m.private[page] = order
    m.nr_free[order] += 1


def _del_from_free_list(m: MemMachine, page: int, order: int) -> None:
    nxt, prv = m.lru_next[page], m.lru_prev[page]
    if prv != NIL:
        m.lru_next[prv] = nxt
    else:
        m.free_head[order] = nxt
    if nxt != NIL:
        m.lru_prev[nxt] = prv
    m.lru_next[page] = m.lru_prev[page] = NIL
    m.flags[page] = 0
    m.private[page] = 0
    m.nr_free[order] -= 1


def __rmqueue_smallest(m: MemMachine, order: int) -> int | None:
    """Take a block of *order* from the smallest free list that has one, splitting it."""
    for current in range(order, MAX_ORDER):
        page = m.free_head[current]
        if page == NIL:
            continue
        _del_from_free_list(m, page, current)
        expand(m, page, order, current)
        return page
    return None


def expand(m: MemMachine, page: int, low: int, high: int) -> None:
    """Give back the upper halves of a block of order *high* split down to *low*."""
    size = 1 << high
    while high > low:
        high -= 1
        size >>= 1
        _add_to_free_list(m, page + size, high)


def __free_one_page(m: MemMachine, page: int, order: int) -> None:
    """Return a block to the buddy lists, merging it with its free buddies."""
    while order < MAX_ORDER - 1:
        buddy = page ^ (1 << order)
        if buddy >= m.nr_frames or not (m.flags[buddy] & PG_buddy and m.private[buddy] == order):
            break
        _del_from_free_list(m, buddy, order)
        page &= buddy
        order += 1
    _add_to_free_list(m, page, order)


# -- allocation ---------------------------------------------------------------------------


def prep_new_page(m: MemMachine, page: int, order: int) -> None:
    """A freshly allocated block: refcount 1 on its first page, garbage contents."""
    VM_BUG_ON_PAGE(m.flags[page], m, page, "allocating a page with flags set")
    m.refcount[page] = 1
    if order == 0:
        m.content[page] = POISON
        m.data.pop(page, None)
        return
    n = 1 << order
    m.content[page : page + n] = array(m.content.typecode, [POISON]) * n
    data = m.data
    if data:
        for p in range(page, page + n):
            data.pop(p, None)


def rmqueue(m: MemMachine, order: int, cpu: int) -> int | None:
    """Take a block: order 0 from this CPU's list (refilled in a batch), else the buddy."""
    if order == 0:
        pcp = m.pcp[cpu]
        if not pcp:
            for _ in range(PCP_BATCH):
                page = __rmqueue_smallest(m, 0)
                if page is None:
                    break
                pcp.appendleft(page)  # refill at the cold end, as rmqueue_bulk's list_add_tail
                m.vmstat.zone[NR_FREE_PAGES] -= 1
            if not pcp:
                return None
        return pcp.pop()  # the hot end
    page = __rmqueue_smallest(m, order)
    if page is not None:
        m.vmstat.zone[NR_FREE_PAGES] -= 1 << order
    return page


def zone_watermark_ok(m: MemMachine, order: int, mark: int) -> bool:
    """Enough free pages, and a free block of at least *order*, above *mark*."""
    free = m.vmstat.zone[NR_FREE_PAGES] - (1 << order) + 1
    if free <= mark:
        return False
    return order == 0 or any(m.nr_free[o] for o in range(order, MAX_ORDER))


def get_page_from_freelist(m: MemMachine, order: int, mark: int) -> int | None:
    """The fast path: allocate only while the zone stays above *mark*."""
    if not zone_watermark_ok(m, order, mark) and not (order == 0 and m.pcp[_cpu(m)]):
        return None
    page = rmqueue(m, order, _cpu(m))
    if page is not None:
        prep_new_page(m, page, order)
        m.vmstat.events[PGALLOC_NORMAL] += 1 << order
    return page


def _cpu(m: MemMachine) -> int:
    cur = m.engine.current
    return cur.cpu if cur is not None else 0


def alloc_pages(m: MemMachine, gfp: int, order: int) -> int | None:
    """Allocate 2**order contiguous frames; None when the allocation fails.

    The slow path (waking kswapd, direct reclaim) is installed by mm/vmscan.py through
    ``m.alloc_slowpath``; without it a failure at the low watermark is final.
    """
    page = get_page_from_freelist(m, order, m.wmark_low)
    if page is not None:
        return page
    if m.alloc_slowpath is not None:
        return m.alloc_slowpath(m, gfp, order)
    return get_page_from_freelist(m, order, m.wmark_min)


# -- freeing ------------------------------------------------------------------------------


def free_pcppages_bulk(m: MemMachine, cpu: int, count: int) -> None:
    """Move *count* pages from the cold end of a CPU's list to the buddy lists."""
    pcp = m.pcp[cpu]
    for _ in range(min(count, len(pcp))):
        __free_one_page(m, pcp.popleft(), 0)
        m.vmstat.zone[NR_FREE_PAGES] += 1


def _check_free(m: MemMachine, page: int) -> None:
    mapping = m.mapping[page]
    if mapping and getattr(m.mappings[mapping], "PAGE_MAPPING_ANON", False):
        m.mapping[page] = 0  # free_pages_prepare: an anonymous page forgets its anon_vma
    if m.flags[page] & PG_lru or m.mapcount[page] != -1 or m.mapping[page] != 0:
        raise ModelBug("BUG: Bad page state: " + m.dump_page(page, "freeing"))


def _free_prepare(m: MemMachine, page: int, order: int) -> None:
    for p in range(page, page + (1 << order)):
        _check_free(m, p)
        m.flags[p] = 0
        m.private[p] = 0
        m.refcount[p] = 0
        m.content[p] = POISON
        m.data.pop(p, None)
    m.vmstat.events[PGFREE] += 1 << order


def free_hot_cold_page(m: MemMachine, page: int, cold: bool) -> None:
    """Free an order-0 page to this CPU's list: hot pages are reused first, cold last."""
    _free_prepare(m, page, 0)
    cpu = _cpu(m)
    pcp = m.pcp[cpu]
    if cold:
        pcp.appendleft(page)
    else:
        pcp.append(page)
    if len(pcp) >= PCP_HIGH:
        free_pcppages_bulk(m, cpu, PCP_BATCH)


def __free_pages(m: MemMachine, page: int, order: int) -> None:
    """Drop a reference to a block and free it when it was the last."""
    if put_page_testzero(m, page):
        if order == 0:
            free_hot_cold_page(m, page, cold=False)
        else:
            _free_prepare(m, page, order)
            __free_one_page(m, page, order)
            m.vmstat.zone[NR_FREE_PAGES] += 1 << order


def drain_local_pages(m: MemMachine) -> None:
    """Empty this CPU's list into the buddy lists (used to preserve freed huge blocks)."""
    cpu = _cpu(m)
    free_pcppages_bulk(m, cpu, len(m.pcp[cpu]))


def drain_all_pages(m: MemMachine) -> None:
    for cpu in range(m.cpus):
        free_pcppages_bulk(m, cpu, len(m.pcp[cpu]))


def split_page(m: MemMachine, page: int, order: int) -> None:
    """Make a non-compound block into 2**order independently refcounted pages."""
    n = (1 << order) - 1
    m.refcount[page + 1 : page + 1 + n] = array(m.refcount.typecode, [1]) * n
