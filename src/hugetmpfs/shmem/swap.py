"""tmpfs and swap: writing pages out under reclaim and reading them back on demand.

Models: mm/shmem.c (v4.6-rc2) under CONFIG_SWAP: shmem_writepage, the swap branch of
shmem_getpage_gfp, shmem_confirm_swap, shmem_free_swap, shmem_delete_from_page_cache; and
free_swap_and_cache from mm/swapfile.c; shmem_writepage's team rules of patches 04 and 13
of 31 (a tail waits for its head; the head disbands its team before it is swapped).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.filemap import lock_page, trylock_page, unlock_page
from hugetmpfs.mm.highmem import clear_highpage
from hugetmpfs.mm.page_flags import (
    PG_dirty,
    PG_referenced,
    PG_swapbacked,
    PG_swapcache,
    PG_team,
    PG_uptodate,
    PG_writeback,
)
from hugetmpfs.mm.page_io import swap_writepage, wait_on_page_writeback
from hugetmpfs.mm.pageteam import team_head
from hugetmpfs.mm.radix_tree import radix_to_swp_entry, swp_to_radix_entry
from hugetmpfs.mm.swap import put_page
from hugetmpfs.mm.swap_state import (
    add_to_swap_cache,
    delete_from_swap_cache,
    lookup_swap_cache,
    swapin_readahead,
)
from hugetmpfs.mm.swapfile import get_swap_page, swap_free, swap_shmem_alloc, swapcache_free
from hugetmpfs.mm.vmscan import PAGE_ACTIVATE, PAGE_KEEP, PAGE_SUCCESS
from hugetmpfs.mm.vmstat import NR_FILE_PAGES, NR_SHMEM
from hugetmpfs.shmem.getpage import (
    EEXIST,
    EIO,
    ENOMEM,
    SGP_WRITE,
    shmem_add_to_page_cache,
)
from hugetmpfs.shmem.inode import shmem_recalc_inode
from hugetmpfs.shmem.team import shmem_disband_hugeteam

if TYPE_CHECKING:
    from hugetmpfs.mm.filemap import AddressSpace
    from hugetmpfs.shmem.inode import ShmemInodeInfo
    from hugetmpfs.shmem.machine import Machine

ENOENT = 2


def shmem_writepage(m: Machine, page: int, mapping: AddressSpace) -> int:
    """->writepage under reclaim: move a locked tmpfs page to the swap cache and write it.

    Returns PAGE_SUCCESS (the page is now swap cache under writeback, unlocked),
    PAGE_ACTIVATE (redirtied, still locked: no swap space, or a team that would not disband)
    or PAGE_KEEP (redirtied, still locked: a team tail whose head is in use).

    Models: mm/shmem.c shmem_writepage (v4.6-rc2; patches 04, 06 and 13 of 31).
    Guards: base/R6.2.
    """
    inode: ShmemInodeInfo = mapping.host
    if m.flags[page] & PG_team:
        head = team_head(m, page)
        # A tail waits for its head: while the head is in use, a swapped tail would only
        # break the team.  Redirtied with for_reclaim cleared, so it is kept but not
        # activated, and putback_inactive_pages parks it (patch 13/31).
        if page != head and m.flags[head] & PG_swapbacked:
            m.flags[page] |= PG_dirty
            return PAGE_KEEP
    if not m.swap_info.pages:
        return _redirty(m, page)
    if not m.flags[page] & PG_uptodate:
        clear_highpage(m, page)  # a fallocated page: swap out zeroes
        m.flags[page] |= PG_uptodate
    swap = get_swap_page(m)
    if not swap:
        return _redirty(m, page)
    if m.flags[page] & PG_team:
        # The head, or a tail of a team whose head is a hole (nothing can map it by pmd):
        # the team goes first.  base/R6.2: only once PageTeam is clear may the swap entry
        # go into page->private, the word that was team_usage.
        shmem_disband_hugeteam(m, page)
        if m.flags[page] & PG_team:  # the head's trylock failed: try again later
            swapcache_free(m, swap)
            return _redirty(m, page)
    if add_to_swap_cache(m, page, swap) != 0:
        swapcache_free(m, swap)
        return _redirty(m, page)
    with inode.info_lock:
        shmem_recalc_inode(m, inode)
        inode.swapped += 1
    swap_shmem_alloc(m, swap)
    shmem_delete_from_page_cache(m, page, mapping, swp_to_radix_entry(swap))
    swap_writepage(m, page)
    return PAGE_SUCCESS


def _redirty(m: Machine, page: int) -> int:
    m.flags[page] |= PG_dirty
    return PAGE_ACTIVATE


def shmem_delete_from_page_cache(
    m: Machine, page: int, mapping: AddressSpace, radswap: int
) -> None:
    """Replace a page by its swap entry in the radix tree and drop the cache's reference."""
    with mapping.tree_lock:
        mapping.page_tree.replace_slot(m.index[page], radswap)
        m.mapping[page] = 0
        mapping.nrpages -= 1
        mapping.nrexceptional += 1
        m.vmstat.zone[NR_FILE_PAGES] -= 1
        m.vmstat.zone[NR_SHMEM] -= 1
    put_page(m, page)


def shmem_confirm_swap(mapping: AddressSpace, index: int, radswap: int) -> bool:
    """True if *radswap* is still the entry at *index* (guards recovery/R16 and swapin)."""
    return mapping.page_tree.lookup(index) == radswap


def shmem_swapin_getpage(
    m: Machine, inode: ShmemInodeInfo, index: int, radswap: int, sgp: int, gfp: int
) -> tuple[int, int | None]:
    """The swap branch of shmem_getpage_gfp: (0, locked page) or (-errno, None)."""
    mapping = inode.mapping
    swap = radix_to_swp_entry(radswap)
    page = lookup_swap_cache(m, swap)
    if page is None:
        page = swapin_readahead(m, swap, gfp)
        if page is None:
            return -ENOMEM, None
    lock_page(m, page)  # waits for the read to complete
    # Someone else may have swapped it in, truncated it, or reused the slot meanwhile.
    if (
        not m.flags[page] & PG_swapcache
        or m.private[page] != swap
        or not shmem_confirm_swap(mapping, index, radswap)
    ):
        unlock_page(m, page)
        put_page(m, page)
        return -EEXIST, None
    if not m.flags[page] & PG_uptodate:
        unlock_page(m, page)
        put_page(m, page)
        return -EIO, None
    wait_on_page_writeback(m, page)
    error = shmem_add_to_page_cache(m, page, mapping, index, radswap)
    if error:
        unlock_page(m, page)
        put_page(m, page)
        return error, None
    with inode.info_lock:
        inode.swapped -= 1
        shmem_recalc_inode(m, inode)
    if sgp == SGP_WRITE:
        m.flags[page] |= PG_referenced
    delete_from_swap_cache(m, page)
    m.flags[page] |= PG_dirty
    swap_free(m, swap)
    return 0, page


def shmem_free_swap(m: Machine, inode: ShmemInodeInfo, index: int, radswap: int) -> int:
    """Remove a swap entry from the file (truncation): 0, or -ENOENT if it already went."""
    mapping = inode.mapping
    with mapping.tree_lock:
        if mapping.page_tree.lookup(index) != radswap:
            return -ENOENT
        mapping.page_tree.delete(index)
        mapping.nrexceptional -= 1
    with inode.info_lock:
        inode.swapped -= 1
    free_swap_and_cache(m, radix_to_swp_entry(radswap))
    return 0


def free_swap_and_cache(m: Machine, entry: int) -> None:
    """Drop a reference to a slot; if only the swap cache is left, free that page too."""
    swap_free(m, entry)
    page = m.swapper_space.get(entry) if m.swap_info.swap_map[entry] == 0x40 else None
    if page is None:
        return
    m.refcount[page] += 1  # find_get_page
    if not trylock_page(m, page):
        put_page(m, page)
        return
    if m.flags[page] & PG_swapcache and not m.flags[page] & PG_writeback and m.mapcount[page] < 0:
        delete_from_swap_cache(m, page)
        m.flags[page] |= PG_dirty
    unlock_page(m, page)
    put_page(m, page)
