"""Invariants of teams under reclaim: LRU weights, HUGEHOLE tags and the shrink list.

Weights move under ``lru_lock`` (and ``tree_lock`` for the head's check, base/R13.1), tags
under ``tree_lock``, the shrink list under ``shmem_shrinklist_lock``; each check is skipped
while one of its locks is held.

Covered elsewhere: I21 (NR_SHMEM_HUGEPAGES) and I23 (NR_SHMEM_FREEHOLES) by
check/counters.py ``vmstat_matches_recount``, from the heads' team_usage, which
check/teams.py ``team_usage_matches_team`` compares with the members (I7); I28 (weighted
LRU sizes) by check/lists.py ``lru_size_matches_lists``.

Models: the digest's invariants I10, I11, I31, I32 and I33 (reference/hugh-series-01-22.md
§4), with I31 relaxed to "at most one tag" because patch 23/31 lets a team have none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.check.core import REST, STEP, Report, Violation, invariant
from hugetmpfs.mm.page_flags import PG_team, PG_unevictable
from hugetmpfs.mm.radix_tree import PAGECACHE_TAG_DIRTY, radix_tree_exceptional_entry

if TYPE_CHECKING:
    from collections.abc import Iterator

    from hugetmpfs.check.core import Context
    from hugetmpfs.mm.machine import MemMachine

SHMEM_TAG_HUGEHOLE = PAGECACHE_TAG_DIRTY  # as shmem/team.py (check/ sits above shmem/)


def _inodes(m: MemMachine) -> Iterator[object]:
    for sb in getattr(m, "mounts", ()):
        yield from sb.s_inodes.values()


@invariant(
    when=STEP,
    locks=("lru_lock", "tree_lock"),
    cost="O(live teams × N)",
    reads=(
        "team_heads",
        PG_team,
        ("flags", "team_pages", PG_unevictable),
        ("private", "team_pages"),
    ),
)
def team_lru_weights(ctx: Context) -> list[Violation]:
    """A live team head's LRU weight is 1 plus its tails of weight 0, at most N (I10); a
    team tail weighs 0 or 1, and 0 only while on the Unevictable side (I11)."""
    m, c = ctx.m, ctx.census
    r = Report("team_lru_weights")
    t = m.team
    nr = m.HPAGE_PMD_NR
    flags, private = m.flags, m.private
    for head in c.team_heads.tolist():
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


@invariant(
    when=STEP,
    locks=("tree_lock",),
    cost="O(tagged slots + live teams)",
    reads=("files", "cache", PG_team, ("private", "team_pages")),
)
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
        if not any(node.tags[SHMEM_TAG_HUGEHOLE] for node in tree.nodes.values()):
            continue  # no tagged slot (what next_tagged looks for)
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


@invariant(when=REST, cost="O(inodes)", fast=True, reads=("files", "cache"))
def tagged_inodes_on_shrinklist(ctx: Context) -> list[Violation]:
    """Every inode with a HUGEHOLE tag is on the shrink list (I32; at rest, as base/R6.3
    leaves a window between tagging and joining the list)."""
    m = ctx.m
    r = Report("tagged_inodes_on_shrinklist")
    listed = {id(i) for i in getattr(m, "shrinklist", ())}
    for inode in _inodes(m):
        if inode.mapping.page_tree.tag_count[SHMEM_TAG_HUGEHOLE] and id(inode) not in listed:  # type: ignore[attr-defined]
            r.add(f"{inode.mapping} has HUGEHOLE tags but is not on the shrink list")  # type: ignore[attr-defined]
    return r.result()


@invariant(
    when=STEP, locks=("shmem_shrinklist_lock",), cost="O(shrink list)", fast=True, reads=("files",)
)
def shrinklist_consistent(ctx: Context) -> list[Violation]:
    """The shrink list holds each inode once, exactly those marked on it, and no evicted
    inode (I32's depth, I33)."""
    m = ctx.m
    r = Report("shrinklist_consistent")
    shrinklist = getattr(m, "shrinklist", [])
    ids = [id(i) for i in shrinklist]
    if len(set(ids)) != len(ids):
        r.add("an inode is on the shrink list twice")
    for inode in shrinklist:
        if inode.evicted:
            r.add(f"evicted {inode.mapping} is still on the shrink list")
        if not inode.on_shrinklist:
            r.add(f"{inode.mapping} is on the shrink list but not marked so")
    listed = set(ids)
    for inode in _inodes(m):
        if inode.on_shrinklist and id(inode) not in listed:  # type: ignore[attr-defined]
            r.add(f"{inode.mapping} is marked on the shrink list but is not")  # type: ignore[attr-defined]
    return r.result()
