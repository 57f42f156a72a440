"""Invariants of the zone counters (vmstat): each one the model maintains, recounted.

Counters are exact in the model (vmstat.py folds per-CPU deltas at once), so a counter
equals its recount whenever nobody holds the lock under which it changes together with
what it counts.  The table below says, for each counter, what it counts, under which locks
it changes, and whether the equality needs rest (NR_PAGETABLE counts a pte table from its
allocation, before pmd_install links it anywhere the census can see; NR_ISOLATED_* count
pages on private isolation lists the census cannot see at all).  The LRU counters are
checked with their lists (check/lru.py) and NR_FREE_PAGES with the buddy lists
(check/buddy.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hugetmpfs.check.core import STEP, Report, Violation, invariant
from hugetmpfs.mm import vmstat as v
from hugetmpfs.mm.page_flags import PG_mlocked, PG_swapbacked, PG_swapcache, PG_team
from hugetmpfs.mm.vmstat import ZONE_STAT_ITEMS
from hugetmpfs.shmem.recovery import populate_bumps

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.check.core import Context

PTL = frozenset({"pte_lock", "pmd_lock"})
TREE = frozenset({"tree_lock", "swap_lock"})
TEAMS = frozenset({"tree_lock", "lru_lock"})


def _cache_pages(ctx: Context, shmem_only: bool) -> int:
    pfn = ctx.census.cache.pfn
    if not shmem_only:
        return len(pfn)
    flags = ctx.m.flags  # at the few cached frames: plain Python
    return sum(1 for page in pfn.tolist() if flags[page] & PG_swapbacked)


def _flagged(ctx: Context, bit: int) -> int:
    return ctx.census.flag_counts[bit]  # PG_swapcache or PG_mlocked


def _file_pages(ctx: Context) -> int:
    """Page-cache pages, plus swap-cache pages (the kernel counts both in NR_FILE_PAGES)."""
    return _cache_pages(ctx, False) + _flagged(ctx, PG_swapcache)


def _mapped(ctx: Context, kind: int) -> int:
    """Mapped pages of one kind (1 file, 2 anon, the hog's pages included), team pages
    counted per I26."""
    c = ctx.census
    mapped = c.mapped  # few: plain Python from here
    kinds = c.mapped_kinds  # page_kind at each
    if kind != 1:
        if not getattr(ctx.m, "hog_pages", ()):  # what hog_count counts: no hog mapping
            return kinds.count(kind)
        hogs = c.hog_count[mapped].tolist()
        return kinds.count(kind) + sum(
            1 for k, hog in zip(kinds, hogs, strict=True) if hog and not k
        )
    # I26: a member of a *live* team counts by its team's rule; a tail still marked PG_team
    # while its head is already disbanded (I4's transient, inside disband_hugetails) counts
    # as the plain page it is about to be.
    flags = ctx.m.flags
    teams = _teams(ctx)
    n = ctx.m.HPAGE_PMD_NR
    members = dict.fromkeys(teams, 0)
    total = 0
    for page, k in zip(mapped.tolist(), kinds, strict=True):
        if k != 1:
            continue
        head = page - page % n  # live heads are aligned
        if head in teams and flags[page] & PG_team:
            members[head] += 1
        else:
            total += 1
    for head, (_, pmds) in teams.items():
        total += n if pmds else members[head]
    return total


def _teams(ctx: Context) -> dict[int, tuple[int, int]]:
    """Live team head -> (instantiated pages, pmd mappings), read from its team_usage."""
    return ctx.census.team_usage


def _hugepages(ctx: Context) -> int:
    return sum(1 for nr, _ in _teams(ctx).values() if nr == ctx.m.HPAGE_PMD_NR)


def _pmdmapped(ctx: Context) -> int:
    return sum(1 for _, pmds in _teams(ctx).values() if pmds)


def _freeholes(ctx: Context) -> int:
    nr_max = ctx.m.HPAGE_PMD_NR
    return sum(nr_max - nr for nr, _ in _teams(ctx).values() if nr)


def _tables(ctx: Context) -> int:
    return len(ctx.census.tables.tables)


#: counter -> (recount, locks under which it changes, equal only at rest, at step ≥ recount)
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

#: counter -> the census part its recount is kept in once made: the parts are grouped by
#: what the recounts read (census.READS), so a step that changes only what one group reads
#: leaves the others' recounts standing.
RECOUNT_PART: dict[str, str] = {
    "NR_FILE_PAGES": "recounts_cache",
    "NR_SHMEM": "recounts_cache",
    "NR_SWAPCACHE": "recounts_flags",
    "NR_FILE_MAPPED": "recounts_mapped",
    "NR_ANON_PAGES": "recounts_mapped",
    "NR_MLOCK": "recounts_flags",
    "NR_PAGETABLE": "recounts_tables",
    "NR_ISOLATED_ANON": "recounts_flags",  # constants: any part will do
    "NR_ISOLATED_FILE": "recounts_flags",
    "NR_ANON_HUGEPAGES": "recounts_flags",
    "NR_SHMEM_HUGEPAGES": "recounts_teams",
    "NR_SHMEM_PMDMAPPED": "recounts_teams",
    "NR_SHMEM_FREEHOLES": "recounts_teams",
}

#: The lock classes vmstat_matches_recount asks about (ctx.busy) itself.
RECOUNT_LOCKS = frozenset().union(*(locks for _, locks, _, _ in RECOUNTS.values()))


@invariant(
    when=STEP,
    cost="census (cache, tables) + O(frames) numpy",
    reads=(
        *(f"zone:{name}" for name in RECOUNTS),
        *sorted(set(RECOUNT_PART.values())),  # the census parts the recounts are kept in
        "recovery",
        "at_rest",
        *(f"held:{lock}" for lock in sorted(RECOUNT_LOCKS)),
    ),
)
def vmstat_matches_recount(ctx: Context) -> list[Violation]:
    """Each zone counter in RECOUNTS equals its recount from the pages: NR_FILE_PAGES
    (cache + swap-cache pages), NR_SHMEM (swap-backed cache pages), NR_SWAPCACHE,
    NR_FILE_MAPPED and NR_ANON_PAGES (mapped file / anon pages, a team counted per I26),
    NR_MLOCK (PG_mlocked pages, I27), NR_PAGETABLE (pte tables, ≥ at a step, == at rest),
    NR_ISOLATED_* (0 at rest), NR_ANON_HUGEPAGES (0), NR_SHMEM_HUGEPAGES / PMDMAPPED /
    FREEHOLES (I21–I23, from live team heads' team_usage).  Each is skipped while its
    locks are held."""
    zone = ctx.m.vmstat.zone
    census = ctx.census
    r = Report("vmstat_matches_recount")
    for name, item, part, recount, below_only in _recounts_now(ctx.at_rest, ctx.held):
        got = zone[item]
        kept = getattr(census, part)
        want = kept.get(name)
        if want is None:
            want = kept[name] = recount(ctx)
        if want == got:
            continue  # the usual: nothing to say
        if name == "NR_FILE_MAPPED" and abs(got - want) == 1 and populate_bumps(ctx.m):
            continue  # recovery/R8: an unmap during the enteam dance settles it last
        if below_only:
            if got < want:
                r.add(f"{name} is {got}, below its recount {want}")
        elif want != got:
            r.expect(f"{name} vs recount", want, got)
    return r.result()


#: (at_rest, held) -> the recounts vmstat_matches_recount compares then, in RECOUNTS order
_RECOUNTS_NOW: dict[tuple[bool, frozenset[str]], list[tuple[str, int, str, Any, bool]]] = {}


def _recounts_now(at_rest: bool, held: frozenset[str]) -> list[tuple[str, int, str, Any, bool]]:
    """The counters compared in this context (their locks free; a rest-only one at rest):
    name, zone item, the census part its recount is kept in, the recount, and whether
    only a counter below its recount is wrong (NR_PAGETABLE at a step)."""
    key = (at_rest, held)
    out = _RECOUNTS_NOW.get(key)
    if out is None:
        out = _RECOUNTS_NOW[key] = [
            (name, getattr(v, name), RECOUNT_PART[name], recount, at_least and not at_rest)
            for name, (recount, locks, rest_only, at_least) in RECOUNTS.items()
            if held.isdisjoint(locks) and not (rest_only and not at_least and not at_rest)
        ]
    return out


@invariant(when=STEP, cost="O(zone counters)", fast=True, reads=("zone",))
def vmstat_nonnegative(ctx: Context) -> list[Violation]:
    """No zone counter is negative (a decrement without its increment)."""
    r = Report("vmstat_nonnegative")
    zone = ctx.m.vmstat.zone
    if min(zone, default=0) >= 0:
        return r.result()
    for name, value in zip(ZONE_STAT_ITEMS, zone, strict=True):
        if value < 0:
            r.add(f"{name} is {value}")
    return r.result()


@invariant(
    when=STEP,
    locks=TREE | PTL | TEAMS,
    cost="O(mappings)",
    fast=True,
    reads=(
        "address_spaces",
        "cache",
        *(
            f"zone:{name}"
            for name in (
                "NR_FILE_PAGES",
                "NR_SWAPCACHE",
                "NR_SHMEM",
                "NR_SHMEM_HUGEPAGES",
                "NR_SHMEM_PMDMAPPED",
            )
        ),
    ),
)
def vmstat_counters_consistent(ctx: Context) -> list[Violation]:
    """Counters agree with each other without a recount: NR_FILE_PAGES == Σ nrpages +
    NR_SWAPCACHE; NR_SHMEM ≤ NR_FILE_PAGES; I24: NR_SHMEM ≥ N·NR_SHMEM_HUGEPAGES ≥
    N·NR_SHMEM_PMDMAPPED."""
    m = ctx.m
    z = m.vmstat.zone
    r = Report("vmstat_counters_consistent")
    nrpages = sum(x.nrpages for x in ctx.census.address_spaces)
    r.expect(
        "NR_FILE_PAGES vs Σ nrpages + NR_SWAPCACHE", nrpages + z[v.NR_SWAPCACHE], z[v.NR_FILE_PAGES]
    )
    if z[v.NR_SHMEM] > z[v.NR_FILE_PAGES]:
        r.add(f"NR_SHMEM {z[v.NR_SHMEM]} exceeds NR_FILE_PAGES {z[v.NR_FILE_PAGES]}")
    if z[v.NR_SHMEM] < m.HPAGE_PMD_NR * z[v.NR_SHMEM_HUGEPAGES]:
        r.add(f"NR_SHMEM {z[v.NR_SHMEM]} < N × NR_SHMEM_HUGEPAGES {z[v.NR_SHMEM_HUGEPAGES]}")
    if z[v.NR_SHMEM_HUGEPAGES] < z[v.NR_SHMEM_PMDMAPPED]:
        r.add(f"NR_SHMEM_HUGEPAGES {z[v.NR_SHMEM_HUGEPAGES]} < PMDMAPPED")
    return r.result()
