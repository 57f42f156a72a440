"""Recovery's swapin pre-pass: read every swap entry of the extent straight into its slot
of the new huge page, all reads started up front.

Reading into the final place spares a migration per page and the readahead of unrelated
slots.  It runs only on a huge page not yet exposed (recovery/R18): once the team is
visible, a truncation could free an entry and let a fault fill the hole we are reading
into.  A slot whose entry turns out to be cached already (recovery/R17) or freed and
perhaps reused (recovery/R16) is left to the populate loop.

Models: mm/shmem.c shmem_recovery_swapin, shmem_next_swap (patch 26/31).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.page_flags import PG_locked, PG_swapbacked
from hugetmpfs.mm.page_io import swap_readpage
from hugetmpfs.mm.radix_tree import radix_to_swp_entry, radix_tree_exceptional_entry
from hugetmpfs.mm.swap import lru_add_drain, lru_cache_add_anon
from hugetmpfs.mm.swap_state import __add_to_swap_cache
from hugetmpfs.mm.swapfile import swapcache_free, swapcache_prepare
from hugetmpfs.shmem.swap import shmem_confirm_swap

if TYPE_CHECKING:
    from hugetmpfs.mm.filemap import AddressSpace
    from hugetmpfs.shmem.machine import Machine
    from hugetmpfs.shmem.recovery import Recovery


def shmem_next_swap(mapping: AddressSpace, index: int, end: int) -> tuple[int, int] | None:
    """The first swap entry at a slot in (index, end), as (slot, entry), or None."""
    tree = mapping.page_tree
    start = index + 1
    while start < end:
        found = tree.next_entry(start, end)
        if found is None:
            return None
        if radix_tree_exceptional_entry(found[1]):
            return found
        start = found[0] + 1
    return None


def shmem_recovery_swapin(m: Machine, r: Recovery, head: int) -> None:
    """Start asynchronous reads of the extent's swap entries into their slots of *head*.

    Models: mm/shmem.c shmem_recovery_swapin (patch 26/31).
    Guards: recovery/R16, recovery/R18.
    """
    inode = r.inode
    # recovery/R18: on an exposed team, a truncation could free an entry while our read is
    # in flight and a fault then fill the (visible) hole page we are reading into.
    if not inode.swapped or (r.exposed_team and m.guard_on("recovery/R18")):
        return
    st = m.recovery_stats
    mapping = inode.mapping
    index, end = r.head_index - 1, r.head_index + m.HPAGE_PMD_NR
    while (found := shmem_next_swap(mapping, index, end)) is not None:
        index, radswap = found
        swap = radix_to_swp_entry(radswap)
        page = head + (index & (m.HPAGE_PMD_NR - 1))
        st.swap_entry += 1
        if swapcache_prepare(m, swap):  # recovery/R17: cached already, or freed
            st.swap_cached += 1
            continue
        m.engine.point("recovery/R16:after_prepare")
        # recovery/R16: the entry may have been freed since the scan and the slot reused by
        # another file: that page must never be read into our huge page.
        if m.guard_on("recovery/R16") and not shmem_confirm_swap(mapping, index, radswap):
            swapcache_free(m, swap)
            st.swap_gone += 1
            continue
        m.flags[page] |= PG_locked | PG_swapbacked  # not yet visible: no atomics needed
        __add_to_swap_cache(m, page, swap)
        st.swap_read += 1
        lru_cache_add_anon(m, page)
        swap_readpage(m, page)  # the completion unlocks it
        m.engine.point("shmem_recovery_swapin:cond_resched")
    lru_add_drain(m)
