"""The memory hog behind the ``pressure`` and ``release`` trace ops (DESIGN.md §3.4).

A process that mmaps anonymous memory with MAP_LOCKED and touches it page by page: each
page comes through the normal allocation path, so it wakes kswapd and enters direct reclaim
when memory runs short, and it is unevictable once allocated (PG_mlocked, the Unevictable
LRU), so the only way to make room is to reclaim something else — tmpfs pages to swap.
The hog's pages are mapped once (in its own page tables, which the model does not build:
``m.hog_pages`` records them for the invariants).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.page_alloc import GFP_HIGHUSER_MOVABLE, alloc_pages
from hugetmpfs.mm.page_flags import PG_dirty, PG_mlocked, PG_swapbacked, PG_unevictable, PG_uptodate
from hugetmpfs.mm.swap import lru_cache_add, put_page
from hugetmpfs.mm.vmstat import NR_ANON_PAGES, NR_MLOCK, UNEVICTABLE_PGMLOCKED

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine

ENOMEM = 12
HOG_BYTE = 0xA5  # what the hog writes into its pages
HOG_PAGE_NS = 250  # virtual time to fault and fill one page


def init_pressure(m: MemMachine) -> None:
    m.hog_pages: list[int] = []


def hog_allocate(m: MemMachine, nbytes: int) -> int:
    """Take *nbytes* more (rounded up to pages): 0, or -ENOMEM keeping what was taken."""
    for _ in range((nbytes + 4095) >> 12):
        page = alloc_pages(m, GFP_HIGHUSER_MOVABLE, 0)
        if page is None:
            return -ENOMEM
        m.content[page] = HOG_BYTE
        m.flags[page] |= PG_swapbacked | PG_uptodate | PG_dirty | PG_mlocked | PG_unevictable
        m.mapcount[page] = 0  # mapped once, by the hog
        m.hog_pages.append(page)  # its "page table": before lru_cache_add can yield
        zone = m.vmstat.zone
        zone[NR_ANON_PAGES] += 1
        zone[NR_MLOCK] += 1
        m.vmstat.events[UNEVICTABLE_PGMLOCKED] += 1
        lru_cache_add(m, page)
        m.engine.consume(HOG_PAGE_NS)
        m.engine.point("pressure:page")
    return 0


def hog_release(m: MemMachine) -> None:
    """The hog exits: every page it took is unmapped, munlocked and freed."""
    zone = m.vmstat.zone
    while m.hog_pages:
        # One page at a time: put_page may yield, and the pages still listed must still
        # be the hog's (mapped, counted), as check/ sees them.
        page = m.hog_pages.pop()
        m.mapcount[page] = -1
        m.flags[page] &= ~PG_mlocked
        zone[NR_ANON_PAGES] -= 1
        zone[NR_MLOCK] -= 1
        put_page(m, page)
