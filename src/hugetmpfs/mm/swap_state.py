"""The swap cache: pages being written to or read from swap, found by swap entry.

Models: mm/swap_state.c (v4.6-rc2): __add_to_swap_cache, add_to_swap_cache,
__delete_from_swap_cache, delete_from_swap_cache, lookup_swap_cache,
__read_swap_cache_async, read_swap_cache_async, swapin_readahead (page-cluster 3: an
aligned window of 8 slots around the wanted one).  Swap-cache pages count in NR_FILE_PAGES,
as in v4.6; ``NR_SWAPCACHE`` keeps their number for meminfo's SwapCached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.debug import VM_BUG_ON_PAGE
from hugetmpfs.mm.page_alloc import alloc_pages
from hugetmpfs.mm.page_flags import PG_locked, PG_swapbacked, PG_swapcache
from hugetmpfs.mm.page_io import swap_readpage
from hugetmpfs.mm.page_ref import get_page, get_page_unless_zero
from hugetmpfs.mm.swap import lru_cache_add_anon, put_page
from hugetmpfs.mm.swapfile import swapcache_free, swapcache_prepare
from hugetmpfs.mm.vmstat import NR_FILE_PAGES, NR_SWAPCACHE, SWAP_RA

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine

EEXIST = 17
PAGE_CLUSTER = 3  # vm.page-cluster


def init_swap_cache(m: MemMachine) -> None:
    m.swapper_space: dict[int, int] = {}  # swap entry -> page


def __add_to_swap_cache(m: MemMachine, page: int, entry: int) -> int:
    """Under the swapper tree lock: file a locked page under *entry* (+1 reference)."""
    VM_BUG_ON_PAGE(m.flags[page] & PG_swapcache, m, page, "already in swap cache")
    VM_BUG_ON_PAGE(not m.flags[page] & PG_swapbacked, m, page, "swap cache needs swapbacked")
    if entry in m.swapper_space:
        return -EEXIST
    get_page(m, page)
    m.flags[page] |= PG_swapcache
    m.private[page] = entry
    m.swapper_space[entry] = page
    m.vmstat.zone[NR_FILE_PAGES] += 1
    m.vmstat.zone[NR_SWAPCACHE] += 1
    return 0


def add_to_swap_cache(m: MemMachine, page: int, entry: int) -> int:
    return __add_to_swap_cache(m, page, entry)


def __delete_from_swap_cache(m: MemMachine, page: int) -> None:
    entry = m.private[page]
    del m.swapper_space[entry]
    m.flags[page] &= ~PG_swapcache
    m.private[page] = 0
    m.vmstat.zone[NR_FILE_PAGES] -= 1
    m.vmstat.zone[NR_SWAPCACHE] -= 1


def delete_from_swap_cache(m: MemMachine, page: int) -> None:
    """Take a locked page out of the swap cache, giving up its slot's cache claim."""
    VM_BUG_ON_PAGE(not m.flags[page] & PG_locked, m, page, "delete_from_swap_cache unlocked")
    entry = m.private[page]
    __delete_from_swap_cache(m, page)
    swapcache_free(m, entry)
    put_page(m, page)


def lookup_swap_cache(m: MemMachine, entry: int) -> int | None:
    """The swap-cache page for *entry*, with a reference, or None."""
    page = m.swapper_space.get(entry)
    if page is not None and get_page_unless_zero(m, page):
        return page
    return None


def __read_swap_cache_async(m: MemMachine, entry: int, gfp: int) -> tuple[int | None, bool]:
    """The page for *entry*, found or newly added and locked for reading: (page, new?)."""
    while True:
        found = lookup_swap_cache(m, entry)
        if found is not None:
            return found, False
        page = alloc_pages(m, gfp, 0)
        if page is None:
            return None, False
        err = swapcache_prepare(m, entry)
        if err == -EEXIST:
            put_page(m, page)  # raced with another reader: go find its page
            m.engine.yield_point("read_swap_cache_async:raced")
            continue
        if err:
            put_page(m, page)  # the slot was freed: nothing to read
            return None, False
        # Locked for the read, which the I/O completion unlocks: not the task's to track.
        m.flags[page] |= PG_locked | PG_swapbacked
        __add_to_swap_cache(m, page, entry)  # the allocation's reference is the caller's
        lru_cache_add_anon(m, page)
        return page, True


def read_swap_cache_async(m: MemMachine, entry: int, gfp: int) -> int | None:
    page, new = __read_swap_cache_async(m, entry, gfp)
    if new:
        assert page is not None
        swap_readpage(m, page)
    return page


def swapin_readahead(m: MemMachine, entry: int, gfp: int) -> int | None:
    """Read an aligned cluster of 2**page-cluster slots around *entry*, return *entry*'s."""
    mask = (1 << PAGE_CLUSTER) - 1
    start, end = entry & ~mask, (entry | mask) + 1
    for offset in range(max(start, 1), min(end, m.swap_info.max)):
        if offset == entry:
            continue
        page = read_swap_cache_async(m, offset, gfp)
        if page is not None:
            m.vmstat.events[SWAP_RA] += 1
            put_page(m, page)
    return read_swap_cache_async(m, entry, gfp)
