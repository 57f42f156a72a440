"""Filling one hole of a team when nothing can contend: shmem_populate_hugeteam's step
(shmem_getpage_gfp with SGP_TEAM, then unlock and put) without its generality.

A huge fault populates up to 511 holes, each through getpage's whole path: the cache
lookup, the hugehint lookup twice (speculative, then again under tree_lock, base/R4.1),
the hole's lock and recheck (base/R4.2), the insertion, the LRU, the inode's counts.  When
no other actor can run at any point of that path (a timed run before its horizon, or no
engine running), no lock on it is held or awaited, and the hole is an ordinary one of a
live team, every test on the path has a known outcome before the first point: this makes
the same state changes, the same preemption points and the same lock operations in the
same order, without the tests.  Anything else is left to the general path.

Models: mm/shmem.c shmem_populate_hugeteam's loop body on a hole (patch 07/31), through
shmem_getpage_gfp, shmem_alloc_page, shmem_hugeteam_lookup and shmem_add_to_page_cache
(patches 04, 06, 24 and 27 of 31); the general path is in shmem/getpage.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.filemap import lock_page, unlock_page
from hugetmpfs.mm.highmem import clear_highpage
from hugetmpfs.mm.page_flags import (
    PG_checked,
    PG_dirty,
    PG_locked,
    PG_swapbacked,
    PG_team,
    PG_uptodate,
)
from hugetmpfs.mm.swap import lru_cache_add_anon, put_page
from hugetmpfs.mm.vmstat import NR_FILE_PAGES, NR_SHMEM
from hugetmpfs.shmem.getpage import SGP_TEAM, _beyond_eof
from hugetmpfs.shmem.inode import BLOCKS_PER_PAGE, shmem_recalc_inode
from hugetmpfs.shmem.team import shmem_added_to_hugeteam

if TYPE_CHECKING:
    from hugetmpfs.shmem.inode import ShmemInodeInfo
    from hugetmpfs.shmem.machine import Machine

#: the guards whose tests the general path makes on a hole; with one off, it goes that way
_HOLE_GUARDS = frozenset({"base/R4.1", "base/R4.2", "base/R4.3"})
_UPTODATE_DIRTY = PG_uptodate | PG_dirty


def shmem_fill_teamholes(m: Machine, inode: ShmemInodeInfo, head: int, i: int) -> int:
    """From subpage *i* of the team at *head* on, do what shmem_populate_hugeteam's loop
    does while it is certain: pass by the members, and instantiate each hole (zeroed,
    Uptodate and Dirty) as its getpage, unlock, put and cond_resched would; stop at the
    first subpage whose outcome the general path must decide.  Returns that subpage: *i*
    if nothing was done, HPAGE_PMD_NR if the rest of the team was filled.

    A hole's path is certain, beyond what _uncontended_team says of the extent and the
    locks, when: no point on it can switch (no engine running, or a timed run whose CPU
    clock is before the horizon: the path consumes no time, sets no timer and, with nobody
    waiting on its locks, wakes nobody); the index holds nothing; the mount has a block to
    charge; the hole has a reference, is not swap-backed, is unlocked and nobody waits for
    it.  (Tested inline: this loop runs for every subpage a huge fault fills.)  Since no
    other actor runs from the first hole filled here to the last, what holds for the extent
    and the locks at the start holds throughout.
    """
    engine = m.engine
    if engine.every_point or not _uncontended_team(m, inode, head):
        return i
    cur, clock = engine.current, engine.clock
    cpu = 0 if cur is None else cur.cpu
    flags, refcount, nr = m.flags, m.refcount, m.HPAGE_PMD_NR
    mapping, sb = inode.mapping, inode.sb
    tree = mapping.page_tree
    tree_lock, lru_lock, info_lock = mapping.tree_lock, m.lru_lock, inode.info_lock
    waiters = engine.waiters
    # the locks the path takes are free, and nobody waits for them to be released
    for lock in (tree_lock, lru_lock, info_lock):
        if lock.owner is not None or lock in waiters:
            return i
    point, zone, index = engine.point, m.vmstat.zone, m.index[head]
    tail_usage = m.team.TEAM_LRU_WEIGHT_ONE
    filled = False
    while i < nr:
        # shmem_populate_hugeteam's own tests, in its order
        if not flags[head] & PG_team or flags[head] & PG_checked:
            break
        page = head + i
        if flags[page] & _UPTODATE_DIRTY == _UPTODATE_DIRTY:
            if not filled:
                return i  # a member: the loop passes it by itself
            i += 1
            continue
        if (
            (cur is not None and clock[cpu] >= engine.horizon)
            or tree.lookup(index + i) is not None
            or (sb.max_blocks and sb.used_blocks >= sb.max_blocks)
            or refcount[page] <= 0
            or flags[page] & (PG_swapbacked | PG_locked)
            or (waiters and ("page", page) in waiters)
        ):
            break
        # shmem_getpage_gfp(SGP_TEAM) on the hole, each step as the general path makes it
        if sb.max_blocks:  # shmem_acct_block_ok
            sb.used_blocks += 1
        point("base/R4.3:before_get")  # shmem_hugeteam_lookup, speculative
        refcount[page] += 1
        lock_page(m, page)  # shmem_alloc_page: the hole, rechecked (base/R4.2)
        with tree_lock:  # shmem_add_to_page_cache: the lookup again (base/R4.1)
            flags[page] |= PG_swapbacked
            if not flags[page] & PG_team:  # a tail (the head keeps its team_usage)
                m.private[page] = tail_usage
                flags[page] |= PG_team
            m.mapping[page] = mapping.id
            m.index[page] = index + i
            tree.insert(index + i, page)
            shmem_added_to_hugeteam(m, page, mapping, page)
            mapping.nrpages += 1
            zone[NR_FILE_PAGES] += 1
            zone[NR_SHMEM] += 1
        lru_cache_add_anon(m, page)
        with info_lock:
            inode.alloced += 1
            inode.i_blocks += BLOCKS_PER_PAGE
            shmem_recalc_inode(m, inode)
        if not flags[page] & PG_uptodate:  # _clear_and_check
            clear_highpage(m, page)
            flags[page] |= PG_uptodate
        # then shmem_populate_hugeteam's own steps
        flags[page] |= PG_dirty
        unlock_page(m, page)
        put_page(m, page)
        point("shmem_populate_hugeteam:cond_resched")
        filled = True
        i += 1
    return i


def _uncontended_team(m: Machine, inode: ShmemInodeInfo, head: int) -> bool:
    """Whether the tests getpage makes of the extent, and not of the hole, are certain for
    every hole of the team at *head* as long as only this path runs: its guards are on;
    no index of the extent is beyond EOF; its first entry is a member of the live team at *head*,
    of this mapping and extent (which every hole filled here remains)."""
    if not m.guards_off.isdisjoint(_HOLE_GUARDS):
        return False
    mapping = inode.mapping
    start, nr = m.index[head], m.HPAGE_PMD_NR
    if _beyond_eof(m, SGP_TEAM, start + nr - 1, inode):  # then no index of it is
        return False
    found = mapping.page_tree.next_entry(start, start + nr)
    if found is None:
        return False
    idx, entry = found
    flags = m.flags
    if entry < 0 or not flags[entry] & PG_team or entry - (idx - start) != head:
        return False
    return bool(flags[head] & PG_team) and m.mapping[head] == mapping.id
