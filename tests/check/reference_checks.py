"""The checks the step hook's faster versions replaced, as they were (commit 0899375):
tests/check/test_incremental.py compares each new version with its original at every step.

Verbatim but for the ``@invariant`` registrations (these are plain functions of a context).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hugetmpfs.check.core import Report, Violation
from hugetmpfs.check.teams import _pending_heads
from hugetmpfs.mm import vmstat as v
from hugetmpfs.mm.machine import MAX_ORDER
from hugetmpfs.mm.page_alloc import POISON
from hugetmpfs.mm.page_flags import (
    PG_active,
    PG_buddy,
    PG_locked,
    PG_lru,
    PG_mlocked,
    PG_swapbacked,
    PG_swapcache,
    PG_team,
    PG_unevictable,
    PG_uptodate,
)
from hugetmpfs.mm.swap import (
    LRU_INACTIVE_ANON,
    LRU_INACTIVE_FILE,
    LRU_NAMES,
    LRU_UNEVICTABLE,
    page_lru,
)
from hugetmpfs.shmem.recovery import populate_bumps

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.check.census import Census
    from hugetmpfs.check.core import Context

PTL = frozenset({"pte_lock", "pmd_lock"})
TREE = frozenset({"tree_lock", "swap_lock"})
TEAMS = frozenset({"tree_lock", "lru_lock"})
REPORT_PAGES = 8


def buddy_free_lists_consistent(ctx: Context) -> list[Violation]:
    """Each free list is well linked both ways; each block is aligned to its order, inside
    the machine, carries PG_buddy and its order in ``private`` on its first page only, has
    count 0, no mapcount and no mapping; blocks do not overlap; no block has a free buddy of
    the same order (it would have merged); ``nr_free[order]`` counts the list."""
    m, c = ctx.m, ctx.census
    r = Report("buddy_free_lists_consistent")
    b = c.buddy
    for problem in b.problems:
        r.add(problem)
    for order in range(MAX_ORDER):
        r.expect(f"nr_free[{order}]", len(b.blocks[order]), m.nr_free[order])
        free_heads = set(b.blocks[order])
        for page in b.blocks[order]:
            if not m.flags[page] & PG_buddy or m.private[page] != order:
                r.add(f"order {order} free block lacks PG_buddy/order: " + m.dump_page(page))
            buddy = page ^ (1 << order)
            if order < MAX_ORDER - 1 and buddy in free_heads and page < buddy:
                r.add(f"order {order}: buddies {page} and {buddy} both free, not merged")
    in_use = (c.refcount != 0) | (c.mapcount != -1) | (c.mapping != 0)
    for page in np.flatnonzero((b.cover > 0) & in_use)[:4]:
        r.add("frame in a free block is in use: " + m.dump_page(int(page)))
    heads = np.zeros(c.n, dtype=bool)
    for order_blocks in b.blocks:
        heads[order_blocks] = True
    for page in np.flatnonzero(((c.flags & PG_buddy) != 0) & ~heads)[:16]:
        r.add("PG_buddy on a page heading no free block: " + m.dump_page(int(page)))
    return r.result()


def free_pages_unreferenced(ctx: Context) -> list[Violation]:
    """A free frame (buddy block or per-CPU list) is in no page cache, LRU list, pagevec or
    page table, and is mapped by no pte or huge pmd (I17: no mapped page is freed)."""
    m, c = ctx.m, ctx.census
    r = Report("free_pages_unreferenced")
    t = c.tables
    uses = {
        "in a page cache": c.cache.count,
        "on an LRU list": c.lru.list_of >= 0,
        "in a pagevec": c.pvec_count,
        "mapped by a pte": t.pte_count,
        "mapped by a huge pmd": t.pmd_count,
        "a pte table": t.table_frames,
    }
    for what, use in uses.items():
        for page in np.flatnonzero(c.free & (use > 0))[:4]:
            r.add(f"free page {what}: " + m.dump_page(int(page)))
    return r.result()


def page_lru_of(flags: np.ndarray) -> np.ndarray:
    """page_lru() over an array of flags words (the list each page belongs on)."""
    lru = np.where(flags & PG_swapbacked, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE)
    lru = lru + ((flags & PG_active) != 0)
    return np.where(flags & PG_unevictable, LRU_UNEVICTABLE, lru)


def weights(ctx: Context, pages: np.ndarray) -> np.ndarray:
    """hpage_nr_pages() over an array of pages: 1, or a team page's LRU weight."""
    team = (ctx.census.flags[pages] & PG_team) != 0
    private = np.frombuffer(ctx.m.private, dtype=ctx.m.private.typecode)[pages]
    return np.where(team, private & ctx.m.team.TEAM_LRU_WEIGHT_MASK, 1)


def lru_flags_match_lists(ctx: Context) -> list[Violation]:
    """A page is on an LRU list ⇔ PG_lru; it is on the list page_lru() names; it is not
    free.  (Its count may be 0: the last put_page takes it off the list after dropping the
    count, waiting for lru_lock in between, as in the kernel.)"""
    m, c = ctx.m, ctx.census
    r = Report("lru_flags_match_lists")
    for lru, members in enumerate(c.lru.members):
        pages = np.asarray(members, dtype=np.int64)
        flags = c.flags[pages]
        name = LRU_NAMES[lru]
        for page in pages[(flags & PG_lru) == 0][:4]:
            r.add(f"on {name} without PG_lru: " + m.dump_page(int(page)))
        wrong = pages[((flags & PG_lru) != 0) & (page_lru_of(flags) != lru)]
        for page in wrong[:4]:
            want = LRU_NAMES[page_lru(m, int(page))]
            r.add(f"on {name}, flags say {want}: " + m.dump_page(int(page)))
        for page in pages[((flags & PG_buddy) != 0) | c.free[pages]][:4]:
            r.add(f"free page on {name}: " + m.dump_page(int(page)))
    stray = np.flatnonzero(((c.flags & PG_lru) != 0) & (c.lru.list_of < 0))
    for page in stray[:8]:
        r.add("PG_lru but on no LRU list: " + m.dump_page(int(page)))
    return r.result()


def lru_size_matches_lists(ctx: Context) -> list[Violation]:
    """lru_size[list] == Σ hpage_nr_pages(page) over the list (I28: team pages weigh their
    LRU weight, a parked tail 0)."""
    m, c = ctx.m, ctx.census
    r = Report("lru_size_matches_lists")
    for lru, members in enumerate(c.lru.members):
        weight = int(weights(ctx, np.asarray(members, dtype=np.int64)).sum())
        r.expect(f"lru_size[{LRU_NAMES[lru]}] vs weights on the list", weight, m.lru_size[lru])
    return r.result()


def _members(ctx: Context) -> dict[int, int]:
    """Live team head -> how many of its subpages are members: PageTeam and in the cache at
    their own index.  A page recovery put in its slot but has not yet enteamed (not
    PageTeam; or v24's head filled by migration, still to be counted) is not one yet."""
    c = ctx.census
    nr = ctx.m.HPAGE_PMD_NR
    heads = c.team_heads
    out = dict.fromkeys((int(h) for h in heads), 0)
    if not len(heads) or not len(c.cache.pfn):
        return out
    pfn, index = c.cache.pfn, c.cache.index
    head = pfn - (pfn % nr)
    own = (index % nr == pfn % nr) & np.isin(head, heads)
    own &= (c.index[head] + pfn % nr) == index
    own &= c.mapping[head] == c.cache.mapping_id
    own &= (c.flags[pfn] & PG_team) != 0
    for h, count in zip(*np.unique(head[own], return_counts=True), strict=True):
        out[int(h)] = int(count)
    for h in _pending_heads(ctx):
        if out.get(h):
            out[h] -= 1
    return out


def team_usage_matches_team(ctx: Context) -> list[Violation]:
    """For each live team: the high counter of team_usage is its instantiated pages plus
    its pmd mappings (I7), pmd mappings are those the page tables hold (I8), the pte field
    counts its subpages with a mapcount (I9), and it is complete exactly when all N
    subpages are instantiated (I13); only a complete team is pmd-mapped (I7, I14)."""
    m, c = ctx.m, ctx.census
    t = m.team
    n = m.HPAGE_PMD_NR
    r = Report("team_usage_matches_team")
    members = _members(ctx)
    pending = _pending_heads(ctx)
    bumps = populate_bumps(m)
    for head, nr in members.items():
        usage = m.private[head]
        pmds = int(c.tables.pmd_count[head])
        span = slice(head, head + n)
        mapped = (c.mapcount[span] >= 0) & ((c.flags[span] & PG_team) != 0)
        ptes = int(np.count_nonzero(mapped))
        where = f"team {head} ({t.describe(usage)}, {nr} members, {pmds} pmds, {ptes} mapped)"
        if usage // t.TEAM_PAGE_COUNTER != nr + pmds:
            r.add(f"{where}: high counter is not members + pmds (I7, I8)")
        if pmds and nr != n:
            r.add(f"{where}: an incomplete team is mapped by pmd (I7, I14)")
        # recovery/R8: while populate enteams a mapped page it counts its pte last; and a
        # v24 head filled by migration had its pte counted only if the team had members
        dancing = (head in pending and bool(mapped[0])) or any(
            head <= page < head + n for page in bumps
        )
        if t.team_pte_count(usage) != ptes and not (
            dancing and abs(t.team_pte_count(usage) - ptes) == 1
        ):
            r.add(f"{where}: pte field is not the subpages mapped (I9)")
        if (usage >= t.TEAM_COMPLETE) != (nr == n):
            r.add(f"{where}: TEAM_COMPLETE disagrees with the members (I13)")
    return r.result()


def huge_pmds_map_live_complete_teams(ctx: Context) -> list[Violation]:
    """Every huge pmd maps the head of a live, complete team (I14, I16: no team is
    disbanded while pmd-mapped), whose every subpage is in the cache at its index and not
    free (I17), with a reference for the cache, each pte and, on the head, each pmd (I19)."""
    m, c = ctx.m, ctx.census
    n = m.HPAGE_PMD_NR
    r = Report("huge_pmds_map_live_complete_teams")
    members = _members(ctx)
    t = c.tables
    for head in sorted({pmd.head for _, _, pmd in t.huge}):
        if members.get(head) != n:
            r.add(f"a huge pmd maps pfn {head}, not a live complete team: " + m.dump_page(head))
            continue
        span = slice(head, head + n)
        if np.any(c.free[span]):
            r.add(f"team {head} is pmd-mapped but has free subpages (I17)")
        want = 1 + t.pte_count[span] + t.pmd_count[span]
        for page in np.flatnonzero(c.refcount[span] < want)[:4]:
            page = head + int(page)
            r.add(f"pmd-mapped team {head}: too few references (I19): " + m.dump_page(page))
    return r.result()


def page_fields_match_pagecache(ctx: Context) -> list[Violation]:
    """A page whose ``mapping`` names an address_space is in a page cache (where:
    pagecache_matches_page_fields checks that the slot is its own), unless it is locked
    (being added: the fields are set before the tree_lock is taken) or is the head hole of
    a team (PageTeam without PageSwapBacked: I3 says a head is in the cache exactly when
    SwapBacked); every mapping id names a registered object."""
    m, c = ctx.m, ctx.census
    r = Report("page_fields_match_pagecache")
    for page in np.flatnonzero(c.page_kind == 3)[:4]:
        r.add("mapping id out of range: " + m.dump_page(int(page)))
    locked = (c.flags & PG_locked) != 0
    head_hole = (c.flags & (PG_team | PG_swapbacked)) == PG_team
    stray = (c.page_kind == 1) & ~locked & ~head_hole & (c.cache.count == 0)
    for page in np.flatnonzero(stray)[:8]:
        page = int(page)
        r.add(
            f"names {m.mappings[m.mapping[page]]!r} but is in no page cache: " + m.dump_page(page)
        )
    return r.result()


def user_pages_initialised(ctx: Context) -> list[Violation]:
    """No POISON (uninitialised or freed memory) in a page mapped by a pte or covered by a
    huge pmd, nor in an uptodate page-cache page that is not locked (a locked page may be
    mid-write: shmem_file_write marks it uptodate before it copies)."""
    m, c = ctx.m, ctx.census
    r = Report("user_pages_initialised")
    poison = np.frombuffer(m.content, dtype=m.content.typecode) == POISON
    reach = c.tables.pte_count > 0
    for head in c.tables.pmd_count.nonzero()[0]:
        reach[int(head) : int(head) + m.HPAGE_PMD_NR] = True
    for page in np.flatnonzero(poison & reach)[:8]:
        r.add("mapped page holds garbage: " + m.dump_page(int(page)))
    readable = (c.cache.count > 0) & ((c.flags & (PG_uptodate | PG_locked)) == PG_uptodate)
    for page in np.flatnonzero(poison & readable)[:8]:
        r.add("uptodate cache page holds garbage: " + m.dump_page(int(page)))
    return r.result()


def _cache_pages(ctx: Context, shmem_only: bool) -> int:
    pfn = ctx.census.cache.pfn
    if not shmem_only:
        return len(pfn)
    return int(np.count_nonzero(ctx.census.flags[pfn] & PG_swapbacked))


def _flagged(ctx: Context, bit: int) -> int:
    return int(np.count_nonzero(ctx.census.flags & bit))


def _file_pages(ctx: Context) -> int:
    """Page-cache pages, plus swap-cache pages (the kernel counts both in NR_FILE_PAGES)."""
    return _cache_pages(ctx, False) + _flagged(ctx, PG_swapcache)


def _mapped(ctx: Context, kind: int) -> int:
    """Mapped pages of one kind (1 file, 2 anon, the hog's pages included), team pages
    counted per I26."""
    c = ctx.census
    mapped = (c.mapcount >= 0) & (c.page_kind == kind)
    if kind != 1:
        hog = (c.hog_count > 0) & (c.mapcount >= 0) & (c.page_kind == 0)
        return int(np.count_nonzero(mapped)) + int(np.count_nonzero(hog))
    # I26: a member of a *live* team counts by its team's rule; a tail still marked PG_team
    # while its head is already disbanded (I4's transient, inside disband_hugetails) counts
    # as the plain page it is about to be.
    team = (c.flags & PG_team) != 0
    live = np.zeros_like(team)
    teams = _teams(ctx)
    n = ctx.m.HPAGE_PMD_NR
    for head in teams:
        live[head : head + n] = team[head : head + n]
    total = int(np.count_nonzero(mapped & ~live))
    for head, (_, pmds) in teams.items():
        span = slice(head, head + n)
        total += n if pmds else int(np.count_nonzero(mapped[span] & live[span]))
    return total


def _teams(ctx: Context) -> dict[int, tuple[int, int]]:
    """Live team head -> (instantiated pages, pmd mappings), read from its team_usage."""
    m = ctx.m
    high = m.team.TEAM_HIGH_COUNTER
    out = {}
    for head in ctx.census.team_heads:
        count = m.private[int(head)] // high
        nr = min(count, m.HPAGE_PMD_NR)
        out[int(head)] = (nr, count - nr)
    return out


def _hugepages(ctx: Context) -> int:
    return sum(1 for nr, _ in _teams(ctx).values() if nr == ctx.m.HPAGE_PMD_NR)


def _pmdmapped(ctx: Context) -> int:
    return sum(1 for _, pmds in _teams(ctx).values() if pmds)


def _freeholes(ctx: Context) -> int:
    nr_max = ctx.m.HPAGE_PMD_NR
    return sum(nr_max - nr for nr, _ in _teams(ctx).values() if nr)


def _tables(ctx: Context) -> int:
    return len(ctx.census.tables.tables)


RECOUNTS: dict[str, tuple[Callable[[Context], int], frozenset[str], bool, bool]] = {
    "NR_FILE_PAGES": (_file_pages, TREE, False, False),
    "NR_SHMEM": (lambda ctx: _cache_pages(ctx, True), TREE, False, False),
    "NR_SWAPCACHE": (lambda ctx: _flagged(ctx, PG_swapcache), TREE, False, False),
    "NR_FILE_MAPPED": (lambda ctx: _mapped(ctx, 1), PTL, False, False),
    "NR_ANON_PAGES": (lambda ctx: _mapped(ctx, 2), PTL, False, False),
    "NR_MLOCK": (lambda ctx: _flagged(ctx, PG_mlocked), PTL | {"lru_lock"}, False, False),
    "NR_PAGETABLE": (_tables, PTL, True, True),
    "NR_ISOLATED_ANON": (lambda ctx: 0, frozenset(), True, False),
    "NR_ISOLATED_FILE": (lambda ctx: 0, frozenset(), True, False),
    "NR_ANON_HUGEPAGES": (lambda ctx: 0, frozenset(), False, False),  # no anonymous THP
    "NR_SHMEM_HUGEPAGES": (_hugepages, TEAMS, False, False),  # I21
    "NR_SHMEM_PMDMAPPED": (_pmdmapped, PTL, False, False),  # I22
    "NR_SHMEM_FREEHOLES": (_freeholes, TEAMS, False, False),  # I23
}


def vmstat_matches_recount(ctx: Context) -> list[Violation]:
    """Each zone counter in RECOUNTS equals its recount from the pages: NR_FILE_PAGES
    (cache + swap-cache pages), NR_SHMEM (swap-backed cache pages), NR_SWAPCACHE,
    NR_FILE_MAPPED and NR_ANON_PAGES (mapped file / anon pages, a team counted per I26),
    NR_MLOCK (PG_mlocked pages, I27), NR_PAGETABLE (pte tables, ≥ at a step, == at rest),
    NR_ISOLATED_* (0 at rest), NR_ANON_HUGEPAGES (0), NR_SHMEM_HUGEPAGES / PMDMAPPED /
    FREEHOLES (I21–I23, from live team heads' team_usage).  Each is skipped while its
    locks are held."""
    zone = ctx.m.vmstat.zone
    r = Report("vmstat_matches_recount")
    for name, (recount, locks, rest_only, at_least) in RECOUNTS.items():
        if ctx.busy(locks) or (rest_only and not at_least and not ctx.at_rest):
            continue
        got, want = zone[getattr(v, name)], recount(ctx)
        if name == "NR_FILE_MAPPED" and abs(got - want) == 1 and populate_bumps(ctx.m):
            continue  # recovery/R8: an unmap during the enteam dance settles it last
        if at_least and not ctx.at_rest:
            if got < want:
                r.add(f"{name} is {got}, below its recount {want}")
        else:
            r.expect(f"{name} vs recount", want, got)
    return r.result()


def team_heads(self: Census) -> np.ndarray:
    """pfns of live team heads (patch 04/31): PageTeam, aligned pfn and index, mapped."""
    nr = self.m.HPAGE_PMD_NR
    pfns = np.arange(self.n)
    live = (
        ((self.flags & PG_team) != 0)
        & (pfns % nr == 0)
        & (self.index % nr == 0)
        & (self.mapping != 0)
    )
    return np.flatnonzero(live)


def page_kind(self: Census) -> np.ndarray:
    """Per frame: 0 no mapping, 1 file, 2 anon, 3 a bad mapping id."""
    ids = self.mapping
    bad = (ids < 0) | (ids >= len(self.kinds))
    out = np.full(self.n, 3, dtype=np.int8)
    out[~bad] = self.kinds[ids[~bad]]
    return out


#: census part -> its original computation
ORIGINAL_PARTS: dict[str, Callable[[Census], np.ndarray]] = {
    "team_heads": team_heads,
    "page_kind": page_kind,
}


#: invariant name -> its original function
ORIGINALS: dict[str, Callable[[Context], list[Violation]]] = {
    f.__name__: f
    for f in (
        buddy_free_lists_consistent,
        free_pages_unreferenced,
        lru_flags_match_lists,
        lru_size_matches_lists,
        team_usage_matches_team,
        huge_pmds_map_live_complete_teams,
        page_fields_match_pagecache,
        user_pages_initialised,
        vmstat_matches_recount,
    )
}
