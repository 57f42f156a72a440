"""Invariants of the page lists: buddy free lists, per-CPU free lists, LRU lists, pagevecs.

**Allocator** (mm/page_alloc.c).  The model's allocator has no zone lock: every allocation
and free is one step of the model (no preemption point inside), so its invariants hold at
every step.  They are page_is_buddy / bad_page / free_pages_check made global: every frame
is exactly one of free in a buddy block, on a per-CPU list, or allocated.

**LRU** (mm/swap.c, mm/vmscan.c).  List links, PG_lru, the list a page is on and the lists'
weighted sizes all change under ``lru_lock`` with no preemption point inside, so these hold
at every step where nobody holds ``lru_lock``.  Pagevecs are per-CPU and their pages reach
a list only in __pagevec_lru_add, which empties the pagevec before taking the lock: a page
is in a pagevec or on a list, never both, at every step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hugetmpfs.check.core import STEP, Report, Violation, invariant
from hugetmpfs.mm.machine import MAX_ORDER
from hugetmpfs.mm.page_flags import (
    PG_active,
    PG_buddy,
    PG_lru,
    PG_swapbacked,
    PG_team,
    PG_unevictable,
)
from hugetmpfs.mm.swap import (
    LRU_INACTIVE_ANON,
    LRU_INACTIVE_FILE,
    LRU_NAMES,
    LRU_UNEVICTABLE,
    NR_LRU_LISTS,
    PAGEVEC_SIZE,
    page_lru,
)
from hugetmpfs.mm.vmstat import NR_FREE_PAGES, NR_INACTIVE_ANON

if TYPE_CHECKING:
    from hugetmpfs.check.census import Census
    from hugetmpfs.check.core import Context
    from hugetmpfs.mm.machine import MemMachine

LRU_LOCK = ("lru_lock",)


# -- the allocator ------------------------------------------------------------------------


def free_blocks_consistent(ctx: Context, r: Report) -> None:
    """buddy_free_lists_consistent up to PG_buddy on non-heads: the lists, each block's
    head, merging, nr_free, and nothing in use inside a block."""
    m, c = ctx.m, ctx.census
    b = c.buddy
    for problem in b.problems:
        r.add(problem)
    flags, private, nr_free = m.flags, m.private, m.nr_free
    for order, blocks in enumerate(b.blocks):
        if len(blocks) != nr_free[order]:
            r.expect(f"nr_free[{order}]", len(blocks), nr_free[order])
        if not blocks:
            continue
        free_heads = set(blocks)
        for page in blocks:
            if not flags[page] & PG_buddy or private[page] != order:
                r.add(f"order {order} free block lacks PG_buddy/order: " + m.dump_page(page))
            buddy = page ^ (1 << order)
            if order < MAX_ORDER - 1 and buddy in free_heads and page < buddy:
                r.add(f"order {order}: buddies {page} and {buddy} both free, not merged")
    # in use: a count, a mapcount (-1 + 1 is the only 0) or a mapping; one array for all
    in_use = c.refcount | c.mapping | (c.mapcount + 1)
    for page in np.logical_and(b.cover, in_use).nonzero()[0][:4]:  # (non-zero: True)
        r.add("frame in a free block is in use: " + m.dump_page(int(page)))


@invariant(
    when=STEP,
    cost="O(free blocks) + O(frames) numpy",
    reads=(
        "buddy",
        "free_lists",
        PG_buddy,
        *((array, "buddy.cover") for array in ("private", "refcount", "mapcount", "mapping")),
    ),
)
def buddy_free_lists_consistent(ctx: Context) -> list[Violation]:
    """Each free list is well linked both ways; each block is aligned to its order, inside
    the machine, carries PG_buddy and its order in ``private`` on its first page only, has
    count 0, no mapcount and no mapping; blocks do not overlap; no block has a free buddy of
    the same order (it would have merged); ``nr_free[order]`` counts the list."""
    m, c = ctx.m, ctx.census
    r = Report("buddy_free_lists_consistent")
    b = c.buddy
    free_blocks_consistent(ctx, r)
    heads = {page for order_blocks in b.blocks for page in order_blocks}
    # the usual answer at once: as many PG_buddy frames as heads carrying it
    flags = m.flags
    if np.count_nonzero(c.flags & PG_buddy) == sum(1 for p in heads if flags[p] & PG_buddy):
        return r.result()
    marked = ((c.flags & PG_buddy) != 0).nonzero()[0].tolist()  # ascending, as few as blocks
    for page in [page for page in marked if page not in heads][:16]:
        r.add("PG_buddy on a page heading no free block: " + m.dump_page(page))
    return r.result()


@invariant(
    when=STEP,
    cost="O(pages on per-CPU lists)",
    reads=(
        "pcp",
        *((array, "pcp_count") for array in ("flags", "refcount", "mapcount", "mapping")),
    ),
)
def pcp_lists_consistent(ctx: Context) -> list[Violation]:
    """Pages on per-CPU free lists are in range and free: no flags, count 0, no mapcount
    and no mapping."""
    m = ctx.m
    r = Report("pcp_lists_consistent")
    n, flags, refcount, mapcount, mapping = m.nr_frames, m.flags, m.refcount, m.mapcount, m.mapping
    for cpu, pcp in enumerate(m.pcp):
        for page in pcp:
            if not 0 <= page < n:
                r.add(f"cpu{cpu} list holds pfn {page} out of range")
            elif flags[page] or refcount[page] or mapcount[page] != -1 or mapping[page]:
                r.add(f"cpu{cpu} free page in use: " + m.dump_page(page))
    return r.result()


@invariant(
    when=STEP,
    cost="O(free blocks + per-CPU pages) + O(frames) numpy",
    reads=("buddy", "pcp_count", "free"),
)
def frames_partitioned(ctx: Context) -> list[Violation]:
    """Every frame is exactly one of: in one free buddy block, once on one per-CPU list, or
    allocated (neither).  Together with pcp_lists_consistent and free_pages_unreferenced
    this is what makes "free" mean free."""
    c = ctx.census
    r = Report("frames_partitioned")
    b, n = c.buddy, c.n
    # the usual answer at once: counts ≥ 0, so every frame is in at most one block, once
    # on the per-CPU lists, and not both, exactly when their sum is at most 1 everywhere,
    # that is when the sum over all frames (the blocks' pages and the per-CPU entries,
    # counted as cover and pcp_count count them) is the number of free frames
    total = sum(len(heads) << order for order, heads in enumerate(b.blocks))
    total += sum(1 for pages in ctx.m.pcp for p in pages if 0 <= p < n)
    if not n or np.count_nonzero(c.free) == total:
        return r.result()
    cover, pcp = b.cover, c.pcp_count
    for page in (cover > 1).nonzero()[0][:4]:
        r.add(f"pfn {int(page)} lies in {int(cover[page])} free buddy blocks")
    for page in (pcp > 1).nonzero()[0][:4]:
        r.add(f"pfn {int(page)} is on the per-CPU lists {int(pcp[page])} times")
    for page in ((pcp > 0) & (cover > 0)).nonzero()[0][:4]:
        r.add(f"pfn {int(page)} is both on a per-CPU list and in a buddy block")
    return r.result()


@invariant(when=STEP, cost="O(MAX_ORDER)", fast=True, reads=("free_lists", "zone:NR_FREE_PAGES"))
def nr_free_pages_matches(ctx: Context) -> list[Violation]:
    """NR_FREE_PAGES == Σ nr_free[order] << order: the pages in buddy blocks (per-CPU lists
    are outside it, as in v4.6)."""
    m = ctx.m
    r = Report("nr_free_pages_matches")
    buddy = sum(nr << order for order, nr in enumerate(m.nr_free))
    r.expect("NR_FREE_PAGES vs pages in buddy blocks", buddy, m.vmstat.zone[NR_FREE_PAGES])
    return r.result()


def page_uses(c: Census) -> dict[str, np.ndarray]:
    """Per frame, its uses that a free frame must not have."""
    t = c.tables
    return {
        "in a page cache": c.cache.count,
        "on an LRU list": c.lru.list_of >= 0,
        "in a pagevec": c.pvec_count,
        "mapped by a pte": t.pte_count,
        "mapped by a huge pmd": t.pmd_count,
        "a pte table": t.table_frames,
    }


def _unreferenced_at(ctx: Context, frames: list[int]) -> bool:
    """free_pages_unreferenced's condition at these frames: none both free and used."""
    free, used = ctx.census.free, ctx.census.used
    return not any(free[page] and used[page] for page in frames)


@invariant(
    when=STEP,
    cost="census (cache, LRU, pagevecs, tables) + O(frames) numpy",
    # its verdict: whether a frame is both free and used (its report names the uses)
    reads=(("free", "*"), ("used", "*")),
    frames_ok=_unreferenced_at,
)
def free_pages_unreferenced(ctx: Context) -> list[Violation]:
    """A free frame (buddy block or per-CPU list) is in no page cache, LRU list, pagevec or
    page table, and is mapped by no pte or huge pmd (I17: no mapped page is freed)."""
    m, c = ctx.m, ctx.census
    r = Report("free_pages_unreferenced")
    free = c.free
    if not np.count_nonzero(free & c.used):  # the usual answer at once
        return r.result()
    uses = page_uses(c)
    for what, use in uses.items():  # counts (≥ 0) or flags: the used frames are few
        for page in [page for page in use.nonzero()[0].tolist() if free[page]][:4]:
            r.add(f"free page {what}: " + m.dump_page(page))
    return r.result()


# -- LRU lists and pagevecs ---------------------------------------------------------------


@invariant(when=STEP, locks=LRU_LOCK, cost="O(pages on LRU lists)", reads=("lru",))
def lru_lists_well_formed(ctx: Context) -> list[Violation]:
    """Each list runs head to tail with every ``prev`` link the reverse of a ``next`` link,
    ends at ``lru_tail``, has no cycle, and shares no page with another list."""
    r = Report("lru_lists_well_formed")
    for lru, problem in ctx.census.lru.problems:
        r.add(f"{LRU_NAMES[lru]}: {problem}")
    return r.result()


def lru_of(flags: int) -> int:
    """page_lru() of a flags word (the list a page with these flags belongs on)."""
    if flags & PG_unevictable:
        return LRU_UNEVICTABLE
    lru = LRU_INACTIVE_ANON if flags & PG_swapbacked else LRU_INACTIVE_FILE
    return lru + 1 if flags & PG_active else lru


def weight(m: MemMachine, page: int) -> int:
    """hpage_nr_pages(): 1, or a team page's LRU weight."""
    if m.flags[page] & PG_team:
        return m.private[page] & m.team.TEAM_LRU_WEIGHT_MASK
    return 1


@invariant(
    when=STEP,
    locks=LRU_LOCK,
    cost="O(pages on LRU lists) + O(frames) numpy",
    reads=(
        "lru",
        ("free", "lru_pages"),
        PG_lru,
        # page_lru() and PG_buddy of the pages on the lists
        ("flags", "lru_pages", PG_swapbacked | PG_active | PG_unevictable | PG_buddy),
    ),
)
def lru_flags_match_lists(ctx: Context) -> list[Violation]:
    """A page is on an LRU list ⇔ PG_lru; it is on the list page_lru() names; it is not
    free.  (Its count may be 0: the last put_page takes it off the list after dropping the
    count, waiting for lru_lock in between, as in the kernel.)"""
    m, c = ctx.m, ctx.census
    r = Report("lru_flags_match_lists")
    flags, free = m.flags, c.free
    on_lists = 0  # pages on the lists, each PG_lru (so far)
    for lru, pages in enumerate(c.lru.members):  # pfns in range, few: plain Python
        if not pages:
            continue
        name = LRU_NAMES[lru]
        lacking = [page for page in pages if not flags[page] & PG_lru]
        on_lists = -1 if lacking or on_lists < 0 else on_lists + len(pages)
        for page in lacking[:4]:
            r.add(f"on {name} without PG_lru: " + m.dump_page(page))
        wrong = [page for page in pages if flags[page] & PG_lru and lru_of(flags[page]) != lru]
        for page in wrong[:4]:
            want = LRU_NAMES[page_lru(m, page)]
            r.add(f"on {name}, flags say {want}: " + m.dump_page(page))
        for page in [page for page in pages if flags[page] & PG_buddy or free[page]][:4]:
            r.add(f"free page on {name}: " + m.dump_page(page))
    # the pages on the lists are distinct (the walk stops at one met twice): when each is
    # PG_lru and there are as many PG_lru frames, no other frame is PG_lru
    if on_lists >= 0 and np.count_nonzero(c.flags & PG_lru) == on_lists:
        return r.result()
    stray = (((c.flags & PG_lru) != 0) & (c.lru.list_of < 0)).nonzero()[0]
    for page in stray[:8]:
        r.add("PG_lru but on no LRU list: " + m.dump_page(int(page)))
    return r.result()


@invariant(
    when=STEP,
    locks=LRU_LOCK,
    cost="O(pages on LRU lists), numpy",
    reads=("lru", "lru_lists", PG_team, ("private", "team_pages")),
)
def lru_size_matches_lists(ctx: Context) -> list[Violation]:
    """lru_size[list] == Σ hpage_nr_pages(page) over the list (I28: team pages weigh their
    LRU weight, a parked tail 0)."""
    m, c = ctx.m, ctx.census
    r = Report("lru_size_matches_lists")
    for lru, members in enumerate(c.lru.members):
        total = sum(weight(m, page) for page in members)
        if total != m.lru_size[lru]:  # (the message is made only then)
            r.expect(f"lru_size[{LRU_NAMES[lru]}] vs weights on the list", total, m.lru_size[lru])
    return r.result()


@invariant(
    when=STEP,
    locks=LRU_LOCK,
    cost="O(1)",
    fast=True,
    reads=("lru_lists", *(f"zone:NR_{name.upper()}" for name in LRU_NAMES)),
)
def lru_counters_agree(ctx: Context) -> list[Violation]:
    """The zone counters NR_INACTIVE_ANON .. NR_UNEVICTABLE equal lru_size of their list."""
    m = ctx.m
    r = Report("lru_counters_agree")
    for lru in range(NR_LRU_LISTS):
        name = "NR_" + LRU_NAMES[lru].upper()
        if (
            m.lru_size[lru] != m.vmstat.zone[NR_INACTIVE_ANON + lru]
        ):  # (the message is made only then)
            r.expect(f"{name} vs lru_size", m.lru_size[lru], m.vmstat.zone[NR_INACTIVE_ANON + lru])
        if m.lru_size[lru] < 0:
            r.add(f"lru_size[{LRU_NAMES[lru]}] is negative: {m.lru_size[lru]}")
    return r.result()


@invariant(
    when=STEP,
    cost="O(pages in pagevecs) + O(frames) numpy",
    reads=(
        "pvecs",
        ("flags", "pvec_count", PG_lru),
        "lru",
        ("refcount", "pvec_count"),
        ("free", "pvec_count"),
        "pvec_count",
    ),
)
def pagevecs_consistent(ctx: Context) -> list[Violation]:
    """A page in a per-CPU add pagevec is not PG_lru, on no list, in one pagevec slot only,
    holds the pagevec's reference (count ≥ 1) and is not free; a pagevec never stays full
    (lru_cache_add drains at PAGEVEC_SIZE)."""
    m, c = ctx.m, ctx.census
    r = Report("pagevecs_consistent")
    for cpu, pvec in enumerate(m.lru_add_pvec):
        if len(pvec) >= PAGEVEC_SIZE:
            r.add(f"cpu{cpu} pagevec holds {len(pvec)} pages, drains at {PAGEVEC_SIZE}")
        for page in pvec:
            if not 0 <= page < m.nr_frames:
                r.add(f"cpu{cpu} pagevec holds pfn {page} out of range")
                continue
            if m.flags[page] & PG_lru or c.lru.list_of[page] >= 0:
                r.add(f"cpu{cpu} pagevec page is on an LRU already: " + m.dump_page(page))
            if m.refcount[page] <= 0 or c.free[page]:
                r.add(f"cpu{cpu} pagevec page is free: " + m.dump_page(page))
    pages = [p for pvec in m.lru_add_pvec for p in pvec if 0 <= p < m.nr_frames]  # counted
    if len(set(pages)) != len(pages):  # some page in pagevecs more than once
        for page in (c.pvec_count > 1).nonzero()[0][:4]:
            r.add(f"in pagevecs {int(c.pvec_count[page])} times: " + m.dump_page(int(page)))
    return r.result()
