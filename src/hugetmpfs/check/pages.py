"""Invariants of page fields: the page cache against them, and reference counts.

**Page cache.**  Radix-tree entries against page fields and counts.

A page enters a tree and leaves it under the mapping's ``tree_lock`` (with nrpages,
nrexceptional, NR_FILE_PAGES, NR_SHMEM updated in the same section), so the tree-side
checks hold at every step where no ``tree_lock`` is held.  The page side is set up before
the insertion (``page->mapping`` and ``index`` are stored, then the lock is taken), but the
page is locked through it: a page that names a mapping is in that tree unless it is locked.

Models the assertions of mm/filemap.c (page_cache_tree_insert, __delete_from_page_cache)
and shmem_add_to_page_cache (VM_BUG_ON_PAGE(!PageSwapBacked)), made global.

**References.**  Every reference has an owner, and every owner a reference (I19, and the
refcount lines of recovery §6.2 item 5).  The census knows these owners (one reference
each): a page-cache slot; a swap-cache slot; a pagevec slot; a present pte; a pressure-hog
mapping (mm/pressure.py); a huge pmd (on the team head); a pte table (its own frame,
deposited or not); a team hole (the team's reference, digest §1.10); whatever was
registered on the machine with ``check.core.register_owner``.

Transient references it cannot see: the caller's own (find_get_entry, getpage's result, a
page lock holder's pin), LRU isolation (isolate_lru_page's reference while a page sits on a
private list) and speculative lookups (get_page_unless_zero before a recheck).  So at a
step the count covers the owners; at rest there are no transients and it equals them, and
a frame that is neither free nor owned is lost.  Every path takes a reference before it
becomes an owner and drops it after it stops being one, so the inequality holds at every
step except inside ``tree_lock``, where migration may freeze a cached page's count at 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hugetmpfs.check.core import REST, STEP, Report, Violation, invariant
from hugetmpfs.mm.filemap import AddressSpace
from hugetmpfs.mm.page_flags import PG_buddy, PG_locked, PG_swapbacked, PG_team

if TYPE_CHECKING:
    from hugetmpfs.check.census import Census
    from hugetmpfs.check.core import Context

TREE_LOCK = ("tree_lock",)
REPORT_PAGES = 8  # pages named per violation kind; the rest are counted


# -- the page cache -----------------------------------------------------------------------


def _wrong_entries(c: Census, k: np.ndarray | slice) -> dict[str, np.ndarray]:
    """Per page-cache entry of *k* (indices into the census's entry arrays): what is wrong
    with it, by kind."""
    cache = c.cache
    pfn = cache.pfn[k]
    flags = c.flags[pfn]
    return {
        "holds a page that points elsewhere": (c.mapping[pfn] != cache.mapping_id[k])
        | (c.index[pfn] != cache.index[k]),
        "holds a shmem page without PG_swapbacked": cache.shmem[k] & ((flags & PG_swapbacked) == 0),
        "holds a free page": (c.refcount[pfn] <= 0) | ((flags & PG_buddy) != 0) | c.free[pfn],
        "holds a page that is in several slots": cache.count[pfn] > 1,
    }


def _entries_ok_at(ctx: Context, frames: list[int]) -> bool:
    """pagecache_matches_page_fields's condition at the entries of these frames (pfns in
    range): _wrong_entries's conditions, one entry at a time (they are few)."""
    count = ctx.census.cache.count
    held = {page for page in frames if count[page]}  # frames some entry holds
    if not held:
        return True
    if any(count[page] > 1 for page in held):
        return False  # in several slots
    return _held_entries_ok(ctx, held)


def _held_entries_ok(ctx: Context, held: set[int]) -> bool:
    """Whether each entry holding a frame of *held* (each in one slot) points back, is
    PG_swapbacked if shmem's and is not free."""
    c = ctx.census
    cache = c.cache
    m = ctx.m
    flags, mapping, index, refcount, free = m.flags, m.mapping, m.index, m.refcount, c.free
    entries = zip(
        cache.pfn.tolist(),
        cache.mapping_id.tolist(),
        cache.index.tolist(),
        cache.shmem.tolist(),
        strict=True,
    )
    for page, mapping_id, page_index, shmem in entries:
        if page not in held:
            continue
        if mapping[page] != mapping_id or index[page] != page_index:
            return False  # points elsewhere
        if shmem and not flags[page] & PG_swapbacked:
            return False  # a shmem page without PG_swapbacked
        if refcount[page] <= 0 or flags[page] & PG_buddy or free[page]:
            return False  # free
    return True


@invariant(
    when=STEP,
    locks=TREE_LOCK,
    cost="O(entries in all page caches), numpy",
    reads=(
        "cache",
        ("flags", "cache.count", PG_swapbacked | PG_buddy),
        *((array, "cache.count") for array in ("mapping", "index", "refcount")),
        ("free", "cache.count"),
    ),
    frames_ok=_entries_ok_at,
)
def pagecache_matches_page_fields(ctx: Context) -> list[Violation]:
    """Every page in every mapping's tree points back (``mapping``, ``index``), is
    PG_swapbacked when the mapping is shmem's, is not free (count ≥ 1, not PG_buddy, on no
    free list), and sits in exactly one slot of one tree."""
    m, c = ctx.m, ctx.census
    cache = c.cache
    r = Report("pagecache_matches_page_fields")
    pfns = cache.pfn.tolist()
    held = set(pfns)
    if not cache.problems and len(held) == len(pfns) and _held_entries_ok(ctx, held):
        return r.result()  # the usual answer: each page in one slot, each entry right
    for problem in cache.problems:
        r.add(problem)
    pfn = cache.pfn
    for what, bad in _wrong_entries(c, slice(None)).items():
        for k in bad.nonzero()[0][:4]:
            page, index = int(pfn[k]), int(cache.index[k])
            where = f"{m.mappings[int(cache.mapping_id[k])]!r} index {index:#x}"
            r.add(f"{where} {what}: " + m.dump_page(page))
    return r.result()


@invariant(
    when=STEP,
    locks=TREE_LOCK,
    cost="O(frames) numpy",
    reads=(
        "page_kind",
        "uncached_file_pages",
        ("flags", "uncached_file_pages", PG_locked | PG_team | PG_swapbacked),
    ),
)
def page_fields_match_pagecache(ctx: Context) -> list[Violation]:
    """A page whose ``mapping`` names an address_space is in a page cache (where:
    pagecache_matches_page_fields checks that the slot is its own), unless it is locked
    (being added: the fields are set before the tree_lock is taken) or is the head hole of
    a team (PageTeam without PageSwapBacked: I3 says a head is in the cache exactly when
    SwapBacked); every mapping id names a registered object."""
    m, c = ctx.m, ctx.census
    r = Report("page_fields_match_pagecache")
    if c.page_kind.max(initial=0) == 3:  # (kinds are 0..3: one pass in the usual case)
        for page in (c.page_kind == 3).nonzero()[0][:4]:
            r.add("mapping id out of range: " + m.dump_page(int(page)))
    flags = m.flags
    stray = [
        page
        for page in c.uncached_file_pages.nonzero()[0].tolist()  # few, if any
        if not flags[page] & PG_locked  # not being added
        and flags[page] & (PG_team | PG_swapbacked) != PG_team  # not a team's head hole
    ]
    for page in stray[:8]:
        r.add(
            f"names {m.mappings[m.mapping[page]]!r} but is in no page cache: " + m.dump_page(page)
        )
    return r.result()


@invariant(
    when=STEP,
    locks=TREE_LOCK,
    cost="O(entries in all page caches)",
    reads=("address_spaces", "cache"),
)
def pagecache_counts_match(ctx: Context) -> list[Violation]:
    """Per mapping, nrpages == page entries and nrexceptional == exceptional (swap)
    entries of its tree, and the mapping of an evicted inode is empty."""
    c = ctx.census
    r = Report("pagecache_counts_match")
    for mapping in c.address_spaces:
        pages, swaps = c.cache.per_mapping[id(mapping)]
        if pages != mapping.nrpages:  # (the message is made only then)
            r.expect(f"{mapping!r} nrpages vs page entries", pages, mapping.nrpages)
        if swaps != mapping.nrexceptional:  # (the message is made only then)
            r.expect(f"{mapping!r} nrexceptional vs swap entries", swaps, mapping.nrexceptional)
        if getattr(mapping.host, "evicted", False) and mapping.page_tree.count:
            r.add(f"{mapping!r} was evicted but holds {mapping.page_tree.count} entries")
    return r.result()


@invariant(when=STEP, locks=TREE_LOCK, cost="O(mappings)", fast=True, reads=("mappings", "cache"))
def nrpages_match_tree_count(ctx: Context) -> list[Violation]:
    """Per mapping, nrpages + nrexceptional == the tree's own entry count, both ≥ 0."""
    r = Report("nrpages_match_tree_count")
    for mapping in ctx.m.mappings:
        if not isinstance(mapping, AddressSpace):
            continue
        total = mapping.nrpages + mapping.nrexceptional
        if mapping.page_tree.count != total:  # (the message is made only then)
            r.expect(f"{mapping!r} nrpages + nrexceptional vs tree", mapping.page_tree.count, total)
        if mapping.nrpages < 0 or mapping.nrexceptional < 0:
            r.add(f"{mapping!r} negative: nrpages {mapping.nrpages} {mapping.nrexceptional}")
    return r.result()


# -- reference counts ---------------------------------------------------------------------


def _owners_text(ctx: Context, page: int) -> str:
    c = ctx.census
    t = c.tables
    parts = {
        "cache": c.cache.count[page],
        "swap cache": c.swapcache_count[page],
        "pagevec": c.pvec_count[page],
        "ptes": t.pte_count[page],
        "hog": c.hog_count[page],
        "pmds": t.pmd_count[page],
        "pte table": t.table_frames[page],
        "team hole": c.team_holes[page],
        "registered": c.extra_owners[page],
    }
    return ", ".join(f"{k} {int(n)}" for k, n in parts.items() if n) or "none"


def _covers_at(ctx: Context, frames: list[int]) -> bool:
    """refcount_covers_owners's condition at these frames (few: one at a time)."""
    refcount, owners = ctx.m.refcount, ctx.census.owners
    for page in frames:
        count = refcount[page]
        if count < 0 or count < owners[page]:
            return False
    return True


@invariant(
    when=STEP,
    locks=("tree_lock",),
    cost="census (all parts) + O(frames) numpy",
    reads=(("refcount", "*"), "owners"),
    frames_ok=_covers_at,
)
def refcount_covers_owners(ctx: Context) -> list[Violation]:
    """refcount ≥ the owners the census sees, and never negative."""
    m, c = ctx.m, ctx.census
    r = Report("refcount_covers_owners")
    if not np.count_nonzero(c.refcount < c.owners):  # owners ≥ 0: nor is a count negative
        return r.result()
    for page in (c.refcount < 0).nonzero()[0][:4]:
        r.add("negative count: " + m.dump_page(int(page)))
    for page in (c.refcount < c.owners).nonzero()[0][:REPORT_PAGES]:
        page = int(page)
        r.add(f"count below owners ({_owners_text(ctx, page)}): " + m.dump_page(page))
    return r.result()


@invariant(
    when=REST, cost="census (all parts) + O(frames) numpy", reads=("free", "refcount", "owners")
)
def refcount_matches_owners(ctx: Context) -> list[Violation]:
    """At rest, a frame that is not free has refcount == its owners ≥ 1: no leaked
    reference, and no frame lost to the allocator (allocated yet owned by nothing)."""
    m, c = ctx.m, ctx.census
    r = Report("refcount_matches_owners")
    used = ~c.free
    for page in (used & (c.refcount != c.owners)).nonzero()[0][:REPORT_PAGES]:
        page = int(page)
        r.add(f"count is not its owners ({_owners_text(ctx, page)}): " + m.dump_page(page))
    for page in (used & (c.owners == 0) & (c.refcount == 0)).nonzero()[0][:REPORT_PAGES]:
        r.add("frame neither free nor owned (lost): " + m.dump_page(int(page)))
    return r.result()
