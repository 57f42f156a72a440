"""The checks the step hook's faster versions replaced, as they were (commit 0899375):
tests/check/test_incremental.py compares each new version with its original at every step.

Verbatim but for the ``@invariant`` registrations (these are plain functions of a context)
and the docstrings (the checks' own say what they check).
Where only a helper changed, the helper is kept and compared (``_members``, ``_mapped``).
Two changes are left out as plain to see: team_usage_matches_team's sibling
huge_pmds_map_live_complete_teams returns early when no huge pmd exists (its loop over
their heads would find nothing), and vmstat_matches_recount keeps each recount on the
census (computed once per state, the same value).  vmstat_matches_recount is kept as it was
before it looked up the counters to compare once per (at rest, locks held).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hugetmpfs.check import counters, lists, mappings, teams
from hugetmpfs.check.core import Report, Violation
from hugetmpfs.check.counters import _teams
from hugetmpfs.check.teams import _pending_heads
from hugetmpfs.mm import vmstat as v
from hugetmpfs.mm.mm_types import PTE_WRITE, VM_WRITE
from hugetmpfs.mm.page_alloc import POISON
from hugetmpfs.mm.page_flags import (
    PG_active,
    PG_buddy,
    PG_locked,
    PG_lru,
    PG_swapbacked,
    PG_team,
    PG_unevictable,
    PG_uptodate,
)
from hugetmpfs.mm.swap import (
    LRU_INACTIVE_ANON,
    LRU_INACTIVE_FILE,
    LRU_NAMES,
    LRU_UNEVICTABLE,
    PAGEVEC_SIZE,
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
    m, c = ctx.m, ctx.census
    r = Report("buddy_free_lists_consistent")
    b = c.buddy
    lists.free_blocks_consistent(ctx, r)  # the lines up to here, as they were
    heads = np.zeros(c.n, dtype=bool)
    for order_blocks in b.blocks:
        heads[order_blocks] = True
    for page in np.flatnonzero(((c.flags & PG_buddy) != 0) & ~heads)[:16]:
        r.add("PG_buddy on a page heading no free block: " + m.dump_page(int(page)))
    return r.result()


def free_pages_unreferenced(ctx: Context) -> list[Violation]:
    m, c = ctx.m, ctx.census
    r = Report("free_pages_unreferenced")
    uses = lists.page_uses(c)  # the dict it spelt out
    for what, use in uses.items():
        for page in np.flatnonzero(c.free & (use > 0))[:4]:
            r.add(f"free page {what}: " + m.dump_page(int(page)))
    return r.result()


def page_lru_of(flags: np.ndarray) -> np.ndarray:
    lru = np.where(flags & PG_swapbacked, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE)
    lru = lru + ((flags & PG_active) != 0)
    return np.where(flags & PG_unevictable, LRU_UNEVICTABLE, lru)


def weights(ctx: Context, pages: np.ndarray) -> np.ndarray:
    team = (ctx.census.flags[pages] & PG_team) != 0
    private = np.frombuffer(ctx.m.private, dtype=ctx.m.private.typecode)[pages]
    return np.where(team, private & ctx.m.team.TEAM_LRU_WEIGHT_MASK, 1)


def lru_flags_match_lists(ctx: Context) -> list[Violation]:
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
    m, c = ctx.m, ctx.census
    r = Report("lru_size_matches_lists")
    for lru, members in enumerate(c.lru.members):
        weight = int(weights(ctx, np.asarray(members, dtype=np.int64)).sum())
        r.expect(f"lru_size[{LRU_NAMES[lru]}] vs weights on the list", weight, m.lru_size[lru])
    return r.result()


def _members(ctx: Context) -> dict[int, int]:
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


def page_fields_match_pagecache(ctx: Context) -> list[Violation]:
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


def _mapped(ctx: Context, kind: int) -> int:
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


def vmstat_matches_recount(ctx: Context) -> list[Violation]:
    zone = ctx.m.vmstat.zone
    census = ctx.census
    r = Report("vmstat_matches_recount")
    for name, (recount, locks, rest_only, at_least) in counters.RECOUNTS.items():
        if ctx.busy(locks) or (rest_only and not at_least and not ctx.at_rest):
            continue
        got = zone[getattr(v, name)]
        kept = getattr(census, counters.RECOUNT_PART[name])
        want = kept[name] if name in kept else kept.setdefault(name, recount(ctx))
        if name == "NR_FILE_MAPPED" and abs(got - want) == 1 and populate_bumps(ctx.m):
            continue  # recovery/R8: an unmap during the enteam dance settles it last
        if at_least and not ctx.at_rest:
            if got < want:
                r.add(f"{name} is {got}, below its recount {want}")
        elif want != got:
            r.expect(f"{name} vs recount", want, got)
    return r.result()


def team_heads(self: Census) -> np.ndarray:
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
    ids = self.mapping
    bad = (ids < 0) | (ids >= len(self.kinds))
    out = np.full(self.n, 3, dtype=np.int8)
    out[~bad] = self.kinds[ids[~bad]]
    return out


def team_holes(self: Census) -> np.ndarray:
    out = np.zeros(self.n, dtype=np.int64)
    nr = self.m.HPAGE_PMD_NR
    for head in self.team_heads:
        span = slice(int(head), int(head) + nr)
        out[span] = (self.cache.count[span] == 0) | ((self.flags[span] & PG_team) == 0)
    return out


def owners(self: Census) -> np.ndarray:
    t = self.tables
    return (
        self.cache.count
        + self.swapcache_count
        + self.pvec_count
        + t.pte_count
        + self.hog_count
        + t.pmd_count
        + t.table_frames
        + self.team_holes
        + self.extra_owners
    )


# -- originals of commit c868b99 (rewritten for speed since) ------------------------------


def frames_partitioned(ctx: Context) -> list[Violation]:
    c = ctx.census
    r = Report("frames_partitioned")
    cover, pcp = c.buddy.cover, c.pcp_count
    for page in (cover > 1).nonzero()[0][:4]:
        r.add(f"pfn {int(page)} lies in {int(cover[page])} free buddy blocks")
    for page in (pcp > 1).nonzero()[0][:4]:
        r.add(f"pfn {int(page)} is on the per-CPU lists {int(pcp[page])} times")
    for page in ((pcp > 0) & (cover > 0)).nonzero()[0][:4]:
        r.add(f"pfn {int(page)} is both on a per-CPU list and in a buddy block")
    return r.result()


def pagevecs_consistent(ctx: Context) -> list[Violation]:
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
    for page in (c.pvec_count > 1).nonzero()[0][:4]:
        r.add(f"in pagevecs {int(c.pvec_count[page])} times: " + m.dump_page(int(page)))
    return r.result()


def team_usage_matches_team(ctx: Context) -> list[Violation]:
    m, c = ctx.m, ctx.census
    t = m.team
    n = m.HPAGE_PMD_NR
    r = Report("team_usage_matches_team")
    members = teams._members(ctx)
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


def pagecache_matches_page_fields(ctx: Context) -> list[Violation]:
    from hugetmpfs.check.pages import _wrong_entries

    m, c = ctx.m, ctx.census
    cache = c.cache
    r = Report("pagecache_matches_page_fields")
    for problem in cache.problems:
        r.add(problem)
    pfn = cache.pfn
    for what, bad in _wrong_entries(c, slice(None)).items():
        for k in bad.nonzero()[0][:4]:
            page, index = int(pfn[k]), int(cache.index[k])
            where = f"{m.mappings[int(cache.mapping_id[k])]!r} index {index:#x}"
            r.add(f"{where} {what}: " + m.dump_page(page))
    return r.result()


def refcount_covers_owners(ctx: Context) -> list[Violation]:
    from hugetmpfs.check.pages import _owners_text

    m, c = ctx.m, ctx.census
    r = Report("refcount_covers_owners")
    for page in (c.refcount < 0).nonzero()[0][:4]:
        r.add("negative count: " + m.dump_page(int(page)))
    for page in (c.refcount < c.owners).nonzero()[0][:REPORT_PAGES]:
        page = int(page)
        r.add(f"count below owners ({_owners_text(ctx, page)}): " + m.dump_page(page))
    return r.result()


def page_tables_match_mapcounts(ctx: Context) -> list[Violation]:
    m, c = ctx.m, ctx.census
    t = c.tables
    r = Report("page_tables_match_mapcounts")
    for problem in t.problems:
        r.add(problem)
    want = t.pte_count + t.pmd_count + c.hog_count
    got = c.mapcount + 1
    # recovery/R8: populate holds one artificial mapcount while it enteams a mapped page
    # (and drops it last: an unmap meanwhile may already have taken the real one)
    for page in populate_bumps(m):
        if got[page] in (want[page], want[page] + 1):
            got[page] = want[page]  # got is a fresh array: the census is untouched
    for page in (got != want).nonzero()[0][:8]:
        page = int(page)
        hog = f" + {int(c.hog_count[page])} hog" if c.hog_count[page] else ""
        maps = f"{int(t.pte_count[page])} ptes + {int(t.pmd_count[page])} pmds{hog}"
        r.add(f"{maps} map it, but " + m.dump_page(page))
    return r.result()


def ptes_match_vmas(ctx: Context) -> list[Violation]:
    m, c = ctx.m, ctx.census
    r = Report("ptes_match_vmas")
    names = {id(mm): f"mm {i}" for i, mm in enumerate(m.mms)}
    for mm, addr, page, pte in c.tables.ptes:
        where = f"{names[id(mm)]} pte at {addr:#x}"
        vma = mappings._vma_at(mm, addr)
        if vma is None:
            r.add(f"{where} lies in no VMA")
            continue
        if pte & PTE_WRITE and not vma.vm_flags & VM_WRITE:
            r.add(f"{where} is writable in a read-only {vma!r}")
        if vma.vm_file is not None and 0 <= page < c.n:
            problem = mappings._file_pte_problem(ctx, vma, addr, page, bool(pte & PTE_WRITE))
            if problem:
                r.add(f"{where} in {vma!r}: {problem}: " + m.dump_page(page))
    for mm, addr, pmd in c.tables.huge:
        where = f"{names[id(mm)]} huge pmd at {addr:#x}"
        vma = mappings._vma_at(mm, addr)
        end = addr + m.HPAGE_PMD_SIZE
        if vma is None or vma.vm_end < end or vma.vm_file is None:
            r.add(f"{where} is not inside one file VMA")
        elif not 0 <= pmd.head < c.n or not m.flags[pmd.head] & PG_team:
            r.add(f"{where} maps pfn {pmd.head}, not a team head")
        elif mappings._file_pte_problem(ctx, vma, addr, pmd.head, False):
            r.add(f"{where}: head is not the cache page there: " + m.dump_page(pmd.head))
    return r.result()


def pcp_count(self: Census) -> np.ndarray:
    from hugetmpfs.check.census import counts

    return counts(self.n, [p for pcp in self.m.pcp for p in pcp if 0 <= p < self.n])


def used(self: Census) -> np.ndarray:
    """Where one of lists.page_uses is non-zero (free_pages_unreferenced, commit c868b99)."""
    t = self.tables
    uses = (
        self.cache.count,
        self.lru.list_of >= 0,
        self.pvec_count,
        t.pte_count,
        t.pmd_count,
        t.table_frames,
    )
    out = np.zeros(self.n, dtype=bool)
    for use in uses:
        out |= use != 0
    return out


#: census part -> its original computation
ORIGINAL_PARTS: dict[str, Callable[[Census], np.ndarray]] = {
    "team_heads": team_heads,
    "team_holes": team_holes,
    "page_kind": page_kind,
    "owners": owners,  # commit c868b99
    "pcp_count": pcp_count,  # commit c868b99
    "used": used,
}


#: invariant name -> its original function
ORIGINALS: dict[str, Callable[[Context], list[Violation]]] = {
    f.__name__: f
    for f in (
        buddy_free_lists_consistent,
        free_pages_unreferenced,
        lru_flags_match_lists,
        lru_size_matches_lists,
        page_fields_match_pagecache,
        user_pages_initialised,
        vmstat_matches_recount,
        frames_partitioned,
        pagevecs_consistent,
        team_usage_matches_team,
        pagecache_matches_page_fields,
        refcount_covers_owners,
        page_tables_match_mapcounts,
        ptes_match_vmas,
    )
}


def _entries_ok_at(ctx: Context, frames: np.ndarray) -> bool:
    from hugetmpfs.check.pages import _wrong_entries

    c = ctx.census
    at = np.zeros(c.n, dtype=bool)
    at[frames] = True
    k = at[c.cache.pfn].nonzero()[0]  # the entries holding one of the frames
    return not any(bad.any() for bad in _wrong_entries(c, k).values())


def _covers_at(ctx: Context, frames: np.ndarray) -> bool:
    c = ctx.census
    refcount = c.refcount[frames]
    return not (refcount < 0).any() and not (refcount < c.owners[frames]).any()


def _unreferenced_at(ctx: Context, frames: np.ndarray) -> bool:
    c = ctx.census
    return not (c.free[frames] & used(c)[frames]).any()


#: invariant -> its original frames_ok, of a context and the frames as a numpy array
#: (commit c868b99)
ORIGINAL_FRAMES_OK: dict[str, Callable[[Context, np.ndarray], bool]] = {
    "pagecache_matches_page_fields": _entries_ok_at,
    "refcount_covers_owners": _covers_at,
    "free_pages_unreferenced": _unreferenced_at,  # (new: its condition, from the original)
}

#: helper -> (its new version, its original), each a function of a context
ORIGINAL_HELPERS: dict[str, tuple[Callable[[Context], object], Callable[[Context], object]]] = {
    "teams._members": (teams._members, _members),
    "counters._mapped(file)": (lambda ctx: counters._mapped(ctx, 1), lambda ctx: _mapped(ctx, 1)),
    "counters._mapped(anon)": (lambda ctx: counters._mapped(ctx, 2), lambda ctx: _mapped(ctx, 2)),
}


# -- the versions before the per-step cost cut (commit 1a46a4e), verbatim but for the
# registrations and docstrings: census parts returning census dataclasses, a helper of
# buddy_free_lists_consistent, and pcp_lists_consistent (compared through
# ORIGINAL_HELPERS, as plain values: see _plain)


def _plain(value: object) -> object:
    """A census value comparable with ``==``: numpy arrays as (dtype, list), dataclasses
    field by field, containers item by item."""
    from dataclasses import fields, is_dataclass

    if isinstance(value, np.ndarray):
        return (str(value.dtype), value.tolist())
    if is_dataclass(value) and not isinstance(value, type):
        return tuple(_plain(getattr(value, f.name)) for f in fields(value))
    if isinstance(value, list | tuple):
        return [_plain(x) for x in value]
    if isinstance(value, dict):
        return {k: _plain(x) for k, x in value.items()}
    return value


def cache(self: Census) -> object:
    from hugetmpfs.check.census import CacheCensus, counts
    from hugetmpfs.mm.radix_tree import radix_to_swp_entry

    out = CacheCensus()
    pfns, indices, ids, shmem = [], [], [], []
    for mapping in self.address_spaces:
        is_shmem = mapping.a_ops == "shmem_aops"
        tally = out.per_mapping[id(mapping)] = [0, 0]
        for index, entry in mapping.page_tree.items():
            if entry < 0:  # an exceptional (swap) entry
                out.swaps.append((mapping, index, radix_to_swp_entry(entry)))
                tally[1] += 1
                continue
            tally[0] += 1
            if entry < self.n:
                pfns.append(entry)
                indices.append(index)
                ids.append(mapping.id)
                shmem.append(is_shmem)
            else:
                out.problems.append(f"{mapping!r} index {index:#x} holds pfn {entry}")
    out.count = counts(self.n, pfns)
    out.pfn = np.asarray(pfns, dtype=np.int64)
    out.index = np.asarray(indices, dtype=np.int64)
    out.mapping_id = np.asarray(ids, dtype=np.int64)
    out.shmem = np.asarray(shmem, dtype=bool)
    return out


def lru(self: Census) -> object:
    from hugetmpfs.check.census import LruCensus
    from hugetmpfs.mm.machine import NIL
    from hugetmpfs.mm.swap import NR_LRU_LISTS

    m, n = self.m, self.n
    list_of = np.full(n, -1, dtype=np.int8)
    members: list[list[int]] = []
    problems: list[tuple[int, str]] = []
    for lru in range(NR_LRU_LISTS):
        pages: list[int] = []
        prev, page = NIL, m.lru_head[lru]
        while page != NIL:
            if not 0 <= page < n:
                problems.append((lru, f"link from {prev} to pfn {page} out of range"))
                break
            if list_of[page] != -1:
                where = "twice (a cycle)" if list_of[page] == lru else "on two lists"
                problems.append((lru, f"pfn {page} reached {where}"))
                break
            if m.lru_prev[page] != prev:
                problems.append((lru, f"pfn {page}.prev is {m.lru_prev[page]}, not {prev}"))
            list_of[page] = lru
            pages.append(page)
            prev, page = page, m.lru_next[page]
        if m.lru_tail[lru] != prev:
            problems.append((lru, f"lru_tail is {m.lru_tail[lru]}, last page is {prev}"))
        members.append(pages)
    return LruCensus(members, list_of, problems)


def buddy(self: Census) -> object:
    from hugetmpfs.check.census import BuddyCensus
    from hugetmpfs.mm.machine import MAX_ORDER, NIL

    m, n = self.m, self.n
    cover = np.zeros(n, dtype=np.int32)
    blocks: list[list[int]] = []
    problems: list[str] = []
    for order in range(MAX_ORDER):
        heads: list[int] = []
        prev, page = NIL, m.free_head[order]
        while page != NIL:
            if not 0 <= page < n or page & ((1 << order) - 1) or page + (1 << order) > n:
                problems.append(f"order {order}: block at pfn {page} misaligned or outside")
                break
            if cover[page]:
                problems.append(f"order {order}: pfn {page} reached twice or overlaps")
                break
            if m.lru_prev[page] != prev:
                problems.append(
                    f"order {order}: pfn {page}.prev is {m.lru_prev[page]}, expected {prev}"
                )
            cover[page : page + (1 << order)] += 1
            heads.append(page)
            prev, page = page, m.lru_next[page]
        blocks.append(heads)
    return BuddyCensus(blocks, cover, problems)


def free_blocks_consistent(ctx: Context) -> list[Violation]:
    from hugetmpfs.mm.machine import MAX_ORDER

    r = Report("free_blocks_consistent")
    m, c = ctx.m, ctx.census
    b = c.buddy
    for problem in b.problems:
        r.add(problem)
    for order in range(MAX_ORDER):
        if len(b.blocks[order]) != m.nr_free[order]:
            r.expect(f"nr_free[{order}]", len(b.blocks[order]), m.nr_free[order])
        free_heads = set(b.blocks[order])
        for page in b.blocks[order]:
            if not m.flags[page] & PG_buddy or m.private[page] != order:
                r.add(f"order {order} free block lacks PG_buddy/order: " + m.dump_page(page))
            buddy = page ^ (1 << order)
            if order < MAX_ORDER - 1 and buddy in free_heads and page < buddy:
                r.add(f"order {order}: buddies {page} and {buddy} both free, not merged")
    in_use = (c.refcount != 0) | (c.mapcount != -1) | (c.mapping != 0)
    for page in ((b.cover > 0) & in_use).nonzero()[0][:4]:
        r.add("frame in a free block is in use: " + m.dump_page(int(page)))
    return r.result()


def _fresh(m: object) -> Census:
    from hugetmpfs.check.census import Census

    return Census(m)  # type: ignore[arg-type]


def _free_blocks_consistent_now(ctx: Context) -> list[Violation]:
    r = Report("free_blocks_consistent")
    lists.free_blocks_consistent(ctx, r)
    return r.result()


def pcp_lists_consistent(ctx: Context) -> list[Violation]:
    m = ctx.m
    r = Report("pcp_lists_consistent")
    for cpu, pcp in enumerate(m.pcp):
        for page in pcp:
            if not 0 <= page < m.nr_frames:
                r.add(f"cpu{cpu} list holds pfn {page} out of range")
            elif m.flags[page] or m.refcount[page] or m.mapcount[page] != -1 or m.mapping[page]:
                r.add(f"cpu{cpu} free page in use: " + m.dump_page(page))
    return r.result()


ORIGINALS[pcp_lists_consistent.__name__] = pcp_lists_consistent
ORIGINAL_HELPERS.update(
    {
        "lists.free_blocks_consistent": (_free_blocks_consistent_now, free_blocks_consistent),
        **{
            f"census.{part.__name__}": (
                lambda ctx, name=part.__name__: _plain(getattr(ctx.census, name)),
                lambda ctx, part=part: _plain(part(_fresh(ctx.m))),
            )
            for part in (cache, lru, buddy)
        },
    }
)


# -- more checks before the per-step cost cut (commit 1a46a4e), verbatim


from hugetmpfs.check.team_lists import SHMEM_TAG_HUGEHOLE, _inodes  # noqa: E402
from hugetmpfs.mm.page_flags import PG_checked, PG_dirty  # noqa: E402
from hugetmpfs.mm.radix_tree import radix_tree_exceptional_entry  # noqa: E402


def team_lru_weights(ctx: Context) -> list[Violation]:
    """A live team head's LRU weight is 1 plus its tails of weight 0, at most N (I10); a
    team tail weighs 0 or 1, and 0 only while on the Unevictable side (I11)."""
    m, c = ctx.m, ctx.census
    r = Report("team_lru_weights")
    t = m.team
    nr = m.HPAGE_PMD_NR
    flags, private = m.flags, m.private
    for head in (int(h) for h in c.team_heads):
        parked = 0
        for page in range(head + 1, head + nr):
            if not flags[page] & PG_team:
                continue
            usage = private[page]
            if usage not in (0, 1):
                r.add(f"tail {page} of team {head}: team_usage {usage}, not 0 or 1")
            elif usage == 0:
                parked += 1
                if not flags[page] & PG_unevictable:
                    r.add(f"tail {page} of team {head} weighs 0 but is evictable")
        weight = private[head] & t.TEAM_LRU_WEIGHT_MASK
        if 1 + parked != weight:  # (the message is made only then)
            r.expect(f"team {head} weight (1 + parked tails)", 1 + parked, weight)
        if weight > nr:
            r.add(f"team {head} weight {weight} > {nr}")
    return r.result()


def hugehole_tags(ctx: Context) -> list[Violation]:
    """A HUGEHOLE tag sits only on a member of a live, partly filled team, at most one per
    team (I31); complete and disbanded teams carry none."""
    m = ctx.m
    r = Report("hugehole_tags")
    t = m.team
    nr = m.HPAGE_PMD_NR
    for inode in _inodes(m):
        mapping = inode.mapping  # type: ignore[attr-defined]
        tree = mapping.page_tree
        seen: set[int] = set()
        index = 0
        while (found := tree.next_tagged(index, SHMEM_TAG_HUGEHOLE)) is not None:
            idx, page = found
            index = idx + 1
            head = page - (idx % nr)
            if (
                radix_tree_exceptional_entry(page)
                or not m.flags[page] & PG_team
                or not m.flags[head] & PG_team
            ):
                r.add(f"{mapping} index {idx}: HUGEHOLE tag on an entry not in a live team")
                continue
            if m.private[head] >= t.TEAM_COMPLETE:
                r.add(f"{mapping} index {idx}: HUGEHOLE tag in complete team {head}")
            if head in seen:
                r.add(f"{mapping} index {idx}: a second HUGEHOLE tag in team {head}")
            seen.add(head)
    return r.result()


def checked_teams_are_populated(ctx: Context) -> list[Violation]:
    """A live team head with PageChecked is complete and every subpage is Uptodate and
    Dirty (I15: shmem_populate_hugeteam made them so before shmem_fault set Checked)."""
    m, c = ctx.m, ctx.census
    n = m.HPAGE_PMD_NR
    t = m.team
    r = Report("checked_teams_are_populated")
    want = PG_uptodate | PG_dirty | PG_team
    for head in c.team_heads:
        head = int(head)
        if not m.flags[head] & PG_checked:
            continue
        if m.private[head] < t.TEAM_COMPLETE:
            r.add(f"team {head} is Checked but incomplete ({t.describe(m.private[head])})")
            continue
        bad = ((c.flags[head : head + n] & want) != want).nonzero()[0]
        if len(bad):
            r.add(
                f"Checked team {head}: not Uptodate, Dirty, Team: "
                + m.dump_page(head + int(bad[0]))
            )
    return r.result()


ORIGINALS.update(
    {f.__name__: f for f in (team_lru_weights, hugehole_tags, checked_teams_are_populated)}
)


from hugetmpfs.mm.mm_types import PTE_PRESENT  # noqa: E402


def _rss_kind_1a46a4e(ctx: Context, page: int) -> str | None:
    kind = ctx.census.page_kind[page]
    if kind == 2:
        return "MM_ANONPAGES"
    if kind == 1:
        return "MM_SHMEMPAGES" if ctx.m.flags[page] & PG_swapbacked else "MM_FILEPAGES"
    return None


def page_table_counts_match(ctx: Context) -> list[Violation]:
    """Per table, nr_present == its present ptes, and a deposited table has none; per mm,
    nr_ptes == tables under its pmds (deposited ones included, I20), and the rss counters
    equal the ptes by kind (anon, shmem, other file) plus HPAGE_PMD_NR per huge pmd in
    MM_SHMEMPAGES (I30)."""
    m, c = ctx.m, ctx.census
    t = c.tables
    r = Report("page_table_counts_match")
    rss: dict[int, dict[str, int]] = {id(mm): dict.fromkeys(mm.rss, 0) for mm in m.mms}
    tables = dict.fromkeys(rss, 0)
    for mm, addr, table, deposited in t.tables:
        tables[id(mm)] += 1
        present = sum(1 for pte in table.ptes if pte & PTE_PRESENT)
        if present != table.nr_present:  # (the message is made only then)
            r.expect(f"table at {addr:#x} (pfn {table.page}) nr_present", present, table.nr_present)
        if deposited and present:
            r.add(f"deposited table under the huge pmd at {addr:#x} maps {present} ptes")
    for mm, _, page, _ in t.ptes:
        kind = _rss_kind_1a46a4e(ctx, page) if 0 <= page < c.n else None
        if kind is not None:
            rss[id(mm)][kind] = rss[id(mm)].get(kind, 0) + 1
    for mm, _, _ in t.huge:
        rss[id(mm)]["MM_SHMEMPAGES"] += m.HPAGE_PMD_NR
    for i, mm in enumerate(m.mms):
        if tables[id(mm)] != mm.nr_ptes:  # (the message is made only then)
            r.expect(f"mm {i} nr_ptes vs tables", tables[id(mm)], mm.nr_ptes)
        for name, want in rss[id(mm)].items():
            if want != mm.rss.get(name, 0):  # (the message is made only then)
                r.expect(f"mm {i} {name} vs ptes", want, mm.rss.get(name, 0))
    return r.result()


ORIGINALS[page_table_counts_match.__name__] = page_table_counts_match
