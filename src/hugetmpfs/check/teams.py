"""Invariants of huge teams and their mappings (reference/hugh-series-01-22.md §4).

A live team is a head H with PageTeam, read here through the census (``team_heads``).
Its instantiated pages are counted from the page caches (the slot at ``H.index + k`` holds
``H + k``), its pmd mappings from the page tables, and both are compared with the head's
``team_usage`` (mm/pageteam.py).  A team's counts change under ``tree_lock`` (a member
added, a team disbanded), its mappings under the pmd and pte locks, so each check is
skipped while one of its locks is held.

Covered elsewhere: I18 (mapcounts against ptes and pmds) by
check/mappings.py ``page_tables_match_mapcounts``; I22 (NR_SHMEM_PMDMAPPED) and I26
(Mapped) by check/counters.py ``vmstat_matches_recount``; I30 (MM_SHMEMPAGES per pmd) by
``page_table_counts_match``.

Models: the digest's invariants I7, I8, I9, I13–I17, I19 and I20.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hugetmpfs.check.core import STEP, Report, Violation, invariant
from hugetmpfs.mm.page_flags import PG_checked, PG_dirty, PG_swapbacked, PG_team, PG_uptodate
from hugetmpfs.shmem.recovery import populate_bumps

if TYPE_CHECKING:
    from hugetmpfs.check.core import Context

PTL = ("pte_lock", "pmd_lock")
TEAM_LOCKS = ("tree_lock", "lru_lock")
VMA_LOCKS = ("mmap_sem:write", "i_mmap_rwsem:write")
#: What _members and _pending_heads read (check/incremental.py), populate_bumps included.
MEMBERS = (
    "team_heads",
    "cache",
    ("index", "team_pages"),  # at the heads only
    ("mapping", "team_pages"),
    PG_team,
    ("flags", "filled_heads", PG_swapbacked),  # _pending_heads
    "recovery",
)


def _members(ctx: Context, pending: set[int] | None = None) -> dict[int, int]:
    """Live team head -> how many of its subpages are members: PageTeam and in the cache at
    their own index.  A page recovery put in its slot but has not yet enteamed (not
    PageTeam; or v24's head filled by migration, still to be counted: *pending*, the
    _pending_heads if the caller has them) is not one yet."""
    c = ctx.census
    m = ctx.m
    nr = m.HPAGE_PMD_NR
    out = dict.fromkeys(c.team_heads.tolist(), 0)
    if not out:
        return out
    cache = c.cache
    entries = zip(cache.pfn.tolist(), cache.index.tolist(), cache.mapping_id.tolist(), strict=True)
    indices, mappings, flags = m.index, m.mapping, m.flags
    for pfn, index, mapping_id in entries:  # a few: plain Python
        k = pfn % nr
        head = pfn - k
        if (
            head in out
            and index % nr == k
            and indices[head] + k == index
            and mappings[head] == mapping_id
            and flags[pfn] & PG_team
        ):
            out[head] += 1
    for h in _pending_heads(ctx) if pending is None else pending:
        if out.get(h):
            out[h] -= 1
    return out


def _pending_heads(ctx: Context) -> set[int]:
    """v24 heads that migration filled and populate's next pass has yet to count: their
    pte mapping may be counted already (the restored pte found the head PageTeam).  Read
    from the model's ``filled_head``, set by the move itself: v24's ``migrated_head`` is set
    before the move, and the head may meanwhile be filled (and counted) by a write."""
    m = ctx.m
    return {
        r.filled_head
        for r in getattr(m, "recoverylist", ())
        if r.filled_head is not None and m.flags[r.filled_head] & PG_swapbacked
    }


@invariant(
    when=STEP,
    locks=(*PTL, *TEAM_LOCKS),
    cost="census (cache, tables) per team",
    reads=(
        *MEMBERS,
        ("private", "team_pages"),
        ("pmd_count", "team_pages"),  # at the heads
        ("mapcount", "team_pages"),
    ),
)
def team_usage_matches_team(ctx: Context) -> list[Violation]:
    """For each live team: the high counter of team_usage is its instantiated pages plus
    its pmd mappings (I7), pmd mappings are those the page tables hold (I8), the pte field
    counts its subpages with a mapcount (I9), and it is complete exactly when all N
    subpages are instantiated (I13); only a complete team is pmd-mapped (I7, I14)."""
    m, c = ctx.m, ctx.census
    t = m.team
    n = m.HPAGE_PMD_NR
    r = Report("team_usage_matches_team")
    if not len(c.team_heads):  # no team (what _members would find)
        return r.result()
    pending = _pending_heads(ctx)
    members = _members(ctx, pending)
    bumps = populate_bumps(m)
    pmd_count, mapcount, flags = c.pmd_count, m.mapcount, m.flags
    for head, nr in members.items():
        usage = m.private[head]
        pmds = int(pmd_count[head])
        # its subpages with a mapcount and PageTeam (few: plain Python)
        mapped = [
            mapcount[page] >= 0 and bool(flags[page] & PG_team)
            for page in range(head, min(head + n, c.n))
        ]
        ptes = sum(mapped)
        wrong = []
        if usage // t.TEAM_PAGE_COUNTER != nr + pmds:
            wrong.append("high counter is not members + pmds (I7, I8)")
        if pmds and nr != n:
            wrong.append("an incomplete team is mapped by pmd (I7, I14)")
        # recovery/R8: while populate enteams a mapped page it counts its pte last; and a
        # v24 head filled by migration had its pte counted only if the team had members
        pte_count = t.team_pte_count(usage)
        if pte_count != ptes and not (
            abs(pte_count - ptes) == 1
            and (
                (head in pending and bool(mapped[0]))
                or any(head <= page < head + n for page in bumps)
            )
        ):
            wrong.append("pte field is not the subpages mapped (I9)")
        if (usage >= t.TEAM_COMPLETE) != (nr == n):
            wrong.append("TEAM_COMPLETE disagrees with the members (I13)")
        if wrong:  # (the team is described only then)
            where = f"team {head} ({t.describe(usage)}, {nr} members, {pmds} pmds, {ptes} mapped)"
            for what in wrong:
                r.add(f"{where}: {what}")
    return r.result()


@invariant(
    when=STEP,
    locks=(*PTL, *TEAM_LOCKS),
    cost="census (cache, tables)",
    reads=(*MEMBERS, "tables", "free", "refcount"),
)
def huge_pmds_map_live_complete_teams(ctx: Context) -> list[Violation]:
    """Every huge pmd maps the head of a live, complete team (I14, I16: no team is
    disbanded while pmd-mapped), whose every subpage is in the cache at its index and not
    free (I17), with a reference for the cache, each pte and, on the head, each pmd (I19)."""
    m, c = ctx.m, ctx.census
    n = m.HPAGE_PMD_NR
    r = Report("huge_pmds_map_live_complete_teams")
    t = c.tables
    if not t.huge:
        return r.result()
    members = _members(ctx)
    for head in sorted({pmd.head for _, _, pmd in t.huge}):
        if members.get(head) != n:
            r.add(f"a huge pmd maps pfn {head}, not a live complete team: " + m.dump_page(head))
            continue
        span = slice(head, head + n)
        if np.any(c.free[span]):
            r.add(f"team {head} is pmd-mapped but has free subpages (I17)")
        want = 1 + t.pte_count[span] + t.pmd_count[span]
        for page in (c.refcount[span] < want).nonzero()[0][:4]:
            page = head + int(page)
            r.add(f"pmd-mapped team {head}: too few references (I19): " + m.dump_page(page))
    return r.result()


@invariant(
    when=STEP,
    locks=TEAM_LOCKS,
    cost="O(live teams × N)",
    reads=(
        "team_heads",
        # a span's page without PageTeam is wrong whatever its other flags
        ("flags", "team_pages", PG_checked | PG_uptodate | PG_dirty),
        PG_team,
        ("private", "team_pages"),
    ),
)
def checked_teams_are_populated(ctx: Context) -> list[Violation]:
    """A live team head with PageChecked is complete and every subpage is Uptodate and
    Dirty (I15: shmem_populate_hugeteam made them so before shmem_fault set Checked)."""
    m, c = ctx.m, ctx.census
    n = m.HPAGE_PMD_NR
    t = m.team
    r = Report("checked_teams_are_populated")
    want = PG_uptodate | PG_dirty | PG_team
    for head in c.team_heads.tolist():
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


@invariant(when=STEP, locks=(*PTL, *VMA_LOCKS), cost="O(huge pmds × VMAs)", reads=("tables", "mm"))
def huge_pmds_fit_their_vmas(ctx: Context) -> list[Violation]:
    """Every huge pmd lies wholly inside one VMA whose start is congruent with its file
    offset modulo the huge page size, and keeps an empty deposited table (I20; that
    nr_ptes counts it is ``page_table_counts_match``'s)."""
    m = ctx.m
    size = m.HPAGE_PMD_SIZE
    r = Report("huge_pmds_fit_their_vmas")
    for mm, addr, pmd in ctx.census.tables.huge:
        where = f"huge pmd at {addr:#x} (head {pmd.head})"
        vma = next((v for v in mm.vmas if v.vm_start <= addr < v.vm_end), None)
        if vma is None or vma.vm_end < addr + size:
            r.add(f"{where} is not inside one VMA")
        elif (vma.vm_start - (vma.vm_pgoff << 12)) % size:
            r.add(f"{where}: {vma!r} is not congruent with its file offset")
        if pmd.deposited is None:
            r.add(f"{where} has no deposited page table")
        elif pmd.deposited.nr_present:
            r.add(f"{where}: its deposited table maps {pmd.deposited.nr_present} ptes")
    return r.result()
