"""Invariants of tmpfs files: block accounting, inode lifetimes, swap entries and slots.

**Blocks and inodes** (mm/shmem.c, fs/inode.c).

``alloced`` and ``i_blocks`` change together under ``info->lock``, so they agree at every step
where that inode's lock is free.  ``alloced`` follows the page cache lazily: getpage counts a
page after adding it, truncation removes pages and calls shmem_recalc_inode at the end, so
``alloced >= nrpages + swapped`` only at rest, and not always equal there: a recalc that
runs inside another page's shmem_writepage (swapped raised, nrpages not yet lowered) gives
back one page too few, as in the kernel, until the file's next recalc.  ``used_blocks`` is
charged before a page is allocated and given back in shmem_recalc_inode together with
``alloced``, so it covers
``Σ alloced`` at every step and equals it at rest (only on a mount with a size limit: an
unlimited mount does not count, as in the kernel).

Inodes are found through each mount's ``s_inodes`` (named or only open, not yet evicted) and
evicted ones through their mappings, which stay registered on the machine.

**Swap** (mm/swapfile.c, mm/swap_state.c).  The swap cache (``m.swapper_space``: slot ->
page) and a page's PG_swapcache and ``private`` change together in one step
(__add_to_swap_cache, __delete_from_swap_cache), so they agree at every step.  A slot's
count is taken before its reference is stored (swap_shmem_alloc before
shmem_delete_from_page_cache puts the entry in the tree) and dropped after the reference is
gone (shmem_free_swap, swapin), so it covers its references at every step and equals them
at rest; likewise SWAP_HAS_CACHE is set before the page enters the swap cache and cleared
after it leaves.  ``inode.swapped`` follows the tree lazily (REST).

Page tables hold no swap entries in the model (mm/memory.py: no swap ptes), so a slot's
references are the shmem radix-tree entries naming it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hugetmpfs.check.core import REST, STEP, Report, Violation, invariant
from hugetmpfs.mm.page_flags import PG_swapbacked, PG_swapcache
from hugetmpfs.mm.swapfile import SWAP_HAS_CACHE, SWAP_MAP_SHMEM
from hugetmpfs.shmem.inode import BLOCKS_PER_PAGE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from hugetmpfs.check.core import Context
    from hugetmpfs.shmem.inode import ShmemInodeInfo, ShmemSbInfo

SWAP_LOCKS = ("tree_lock", "swap_lock")


# -- blocks and inodes --------------------------------------------------------------------


def superblocks(m: Any) -> list[ShmemSbInfo]:
    return list(getattr(m, "mounts", ()))


def live_inodes(m: Any) -> Iterator[ShmemInodeInfo]:
    for sb in superblocks(m):
        yield from sb.s_inodes.values()


@invariant(when=STEP, cost="O(inodes)", fast=True, reads=("files",))
def inode_blocks_match(ctx: Context) -> list[Violation]:
    """i_blocks == 8 × alloced, and 0 ≤ swapped ≤ alloced, for every inode whose
    info->lock is free."""
    r = Report("inode_blocks_match")
    for inode in live_inodes(ctx.m):
        if inode.info_lock.is_locked():
            continue
        r.expect(
            f"{inode!r} i_blocks vs 8 × alloced", BLOCKS_PER_PAGE * inode.alloced, inode.i_blocks
        )
        if not 0 <= inode.swapped <= inode.alloced:
            r.add(f"{inode!r}: swapped {inode.swapped} outside 0..alloced {inode.alloced}")
    return r.result()


@invariant(when=REST, cost="O(inodes)", fast=True, reads=("files", "cache"))
def inode_alloced_matches_pages(ctx: Context) -> list[Violation]:
    """nrpages + swapped ≤ alloced: every data page of the file is in its page cache or
    on swap, and counted.  alloced may stay above: pages that left the cache unrecorded
    (a clean page dropped by reclaim; a page truncated while shmem_writepage was between
    raising swapped and deleting its page from the cache, so that the truncation's
    shmem_recalc_inode saw one page too few freed) are given back by the next
    shmem_recalc_inode.  Below is never made good: recalc only gives back."""
    r = Report("inode_alloced_matches_pages")
    for inode in live_inodes(ctx.m):
        counted = inode.mapping.nrpages + inode.swapped
        if inode.alloced < counted:
            r.add(f"{inode!r} alloced {inode.alloced} below nrpages + swapped {counted}")
    return r.result()


@invariant(when=STEP, cost="O(inodes)", fast=True, reads=("files",))
def sb_used_blocks_cover_inodes(ctx: Context) -> list[Violation]:
    """On a size-limited mount, Σ alloced ≤ used_blocks ≤ max_blocks."""
    r = Report("sb_used_blocks_cover_inodes")
    for i, sb in enumerate(superblocks(ctx.m)):
        if not sb.max_blocks:
            continue
        alloced = sum(inode.alloced for inode in sb.s_inodes.values())
        if not alloced <= sb.used_blocks <= sb.max_blocks:
            r.add(
                f"mount {i}: used_blocks {sb.used_blocks} outside Σ alloced {alloced} .. "
                f"max_blocks {sb.max_blocks}"
            )
    return r.result()


@invariant(when=REST, cost="O(inodes)", fast=True, reads=("files",))
def sb_used_blocks_match(ctx: Context) -> list[Violation]:
    """On a size-limited mount, used_blocks == Σ alloced over its live inodes, unlinked
    but open ones included (the blocks statfs reports in use)."""
    r = Report("sb_used_blocks_match")
    for i, sb in enumerate(superblocks(ctx.m)):
        if sb.max_blocks:
            alloced = sum(inode.alloced for inode in sb.s_inodes.values())
            if alloced != sb.used_blocks:  # (the message is made only then)
                r.expect(f"mount {i} used_blocks vs Σ alloced", alloced, sb.used_blocks)
    return r.result()


@invariant(
    when=REST, cost="O(inodes + mappings)", fast=True, reads=("files", "address_spaces", "cache")
)
def inode_lifetimes_consistent(ctx: Context) -> list[Violation]:
    """A named inode is live with i_nlink ≥ 1; a live unnamed inode is still in use
    (i_count > 0, else it should have been evicted); counts are ≥ 0; an evicted inode is
    off s_inodes and has no pages, swap or blocks."""
    r = Report("inode_lifetimes_consistent")
    for i, sb in enumerate(superblocks(ctx.m)):
        for name, inode in sb.names.items():
            if sb.s_inodes.get(inode.ino) is not inode or inode.i_nlink < 1:
                r.add(f"mount {i} name {name!r} -> {inode!r} not live (nlink {inode.i_nlink})")
        for inode in sb.s_inodes.values():
            if inode.evicted or inode.i_count < 0 or (not inode.i_nlink and not inode.i_count):
                r.add(
                    f"mount {i} {inode!r}: evicted {inode.evicted}, i_nlink "
                    f"{inode.i_nlink}, i_count {inode.i_count}"
                )
    for mapping in ctx.census.address_spaces:
        inode = mapping.host
        if getattr(inode, "evicted", False) and (inode.alloced or inode.swapped):
            r.add(f"evicted {inode!r} keeps alloced {inode.alloced} swapped {inode.swapped}")
    return r.result()


# -- swap ---------------------------------------------------------------------------------


def swap_references(ctx: Context) -> dict[int, int]:
    """slot -> radix-tree entries naming it, over every page cache."""
    refs: dict[int, int] = {}
    for _, _, slot in ctx.census.cache.swaps:
        refs[slot] = refs.get(slot, 0) + 1
    return refs


def _slot_count(value: int) -> int:
    count = value & ~SWAP_HAS_CACHE
    return 1 if count == SWAP_MAP_SHMEM & ~SWAP_HAS_CACHE else count


@invariant(
    when=STEP,
    locks=SWAP_LOCKS,
    cost="O(swap-cache pages) + O(frames) numpy",
    reads=(
        "swap",
        PG_swapcache,
        ("flags", "swapcache_count", PG_swapbacked),
        ("private", "swapcache_count"),
        ("private", "swapcache_flagged"),
        ("refcount", "swapcache_count"),
        ("free", "swapcache_count"),
    ),
)
def swapcache_matches_page_fields(ctx: Context) -> list[Violation]:
    """Each swap-cache page is PG_swapcache and PG_swapbacked, holds its slot in
    ``private``, is not free, and its slot has SWAP_HAS_CACHE; each PG_swapcache frame is
    the swap cache's page for its slot; NR_SWAPCACHE counts them."""
    m, c = ctx.m, ctx.census
    r = Report("swapcache_matches_page_fields")
    space: dict[int, int] = getattr(m, "swapper_space", {})
    si: Any = getattr(m, "swap_info", None)
    for slot, page in space.items():
        if not 0 <= page < c.n:
            r.add(f"swap cache slot {slot} holds pfn {page}")
            continue
        flags = m.flags[page]
        if not flags & PG_swapcache or not flags & PG_swapbacked or m.private[page] != slot:
            r.add(f"swap cache slot {slot} page disagrees: " + m.dump_page(page))
        if m.refcount[page] <= 0 or c.free[page]:
            r.add(f"swap cache slot {slot} holds a free page: " + m.dump_page(page))
        if si is None or not 0 < slot < si.max or not si.swap_map[slot] & SWAP_HAS_CACHE:
            r.add(f"swap cache slot {slot} lacks SWAP_HAS_CACHE in swap_map")
    for page in ((c.flags & PG_swapcache) != 0).nonzero()[0][:8]:
        page = int(page)
        if space.get(m.private[page]) != page:
            r.add("PG_swapcache but not in the swap cache: " + m.dump_page(page))
    return r.result()


@invariant(
    when=STEP,
    locks=SWAP_LOCKS,
    cost="O(swap slots) + O(entries in page caches)",
    reads=("cache", "swap"),
)
def swap_slots_cover_entries(ctx: Context) -> list[Violation]:
    """Every swap entry in a page cache names an allocated slot whose count covers its
    references (a shmem slot: exactly one entry); inuse_pages counts the used slots;
    without a swap device there is no entry at all."""
    m = ctx.m
    r = Report("swap_slots_cover_entries")
    refs = swap_references(ctx)
    si: Any = getattr(m, "swap_info", None)
    if si is None or not si.max:
        if refs:
            r.add(f"{sum(refs.values())} swap entries in page caches, but no swap device")
        return r.result()
    for slot, n in refs.items():
        if not 0 < slot < si.max:
            r.add(f"swap entry names slot {slot}, outside 1..{si.max - 1}")
        elif _slot_count(si.swap_map[slot]) < n:
            r.add(f"slot {slot}: {n} entries but swap_map {si.swap_map[slot]:#x}")
    used = int(np.count_nonzero(np.frombuffer(si.swap_map, dtype=np.uint8)[1:]))
    r.expect("inuse_pages vs used slots", used, si.inuse_pages)
    return r.result()


@invariant(when=REST, cost="O(swap slots) + O(entries in page caches)", reads=("swap", "cache"))
def swap_slots_match_entries(ctx: Context) -> list[Violation]:
    """At rest, a slot's count equals the entries naming it (no leaked slot), and
    SWAP_HAS_CACHE is set exactly on the slots the swap cache holds pages for."""
    m = ctx.m
    r = Report("swap_slots_match_entries")
    si: Any = getattr(m, "swap_info", None)
    if si is None:
        return r.result()
    refs = swap_references(ctx)
    space: dict[int, int] = getattr(m, "swapper_space", {})
    for slot in range(1, si.max):
        value = si.swap_map[slot]
        if value == 0 and slot not in refs and slot not in space:
            continue
        if refs.get(slot, 0) != _slot_count(value):  # (the message is made only then)
            r.expect(f"slot {slot} count vs entries", refs.get(slot, 0), _slot_count(value))
        if bool(value & SWAP_HAS_CACHE) != (slot in space):
            r.add(
                f"slot {slot}: SWAP_HAS_CACHE is {bool(value & SWAP_HAS_CACHE)}, "
                f"swap cache page {space.get(slot)}"
            )
    return r.result()


@invariant(when=REST, cost="O(entries in all page caches)", reads=("files", "cache"))
def inode_swapped_matches_entries(ctx: Context) -> list[Violation]:
    """inode.swapped == the swap entries in the inode's tree."""
    r = Report("inode_swapped_matches_entries")
    per_mapping = ctx.census.cache.per_mapping
    for inode in live_inodes(ctx.m):
        swaps = per_mapping[id(inode.mapping)][1]
        if swaps != inode.swapped:  # (the message is made only then)
            r.expect(f"{inode!r} swapped vs swap entries", swaps, inode.swapped)
    return r.result()
