"""Filling the holes of a team when nothing can contend: shmem_populate_hugeteam's steps
(shmem_getpage_gfp with SGP_TEAM, then unlock and put, on each hole) without their
generality.

A huge fault populates up to 511 holes, each through getpage's whole path: the cache
lookup, the hugehint lookup twice (speculative, then again under tree_lock, base/R4.1),
the hole's lock and recheck (base/R4.2), the insertion, the LRU, the inode's counts.  When
no other actor can run at any point of that path (a timed run before its horizon, or no
engine running), no lock on it is held or awaited, and the holes are ordinary ones of a
live team, every test on the path has a known outcome before the first point, and no
point is a decision: so the holes are found first, then brought at once to the state the
general path leaves, and the points it would pass are counted (and logged, when the engine
keeps a log) in its order.  Anything else is left to the general path.
tests/shmem/test_teamhole.py compares the two: whole machine state and point log.

Models: mm/shmem.c shmem_populate_hugeteam's loop body on a hole (patch 07/31), through
shmem_getpage_gfp, shmem_alloc_page, shmem_hugeteam_lookup and shmem_add_to_page_cache
(patches 04, 06, 24 and 27 of 31); the general path is in shmem/getpage.py.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

from hugetmpfs.mm.filemap import _PAGE_LOCK_MAY_HOLD, PAGE_LOCK
from hugetmpfs.mm.page_flags import (
    PG_active,
    PG_checked,
    PG_dirty,
    PG_locked,
    PG_lru,
    PG_swapbacked,
    PG_team,
    PG_uptodate,
)
from hugetmpfs.mm.swap import PAGEVEC_SIZE, lru_add_pages_locked
from hugetmpfs.mm.vmstat import NR_FILE_PAGES, NR_SHMEM, NR_SHMEM_FREEHOLES, NR_SHMEM_HUGEPAGES
from hugetmpfs.shmem.getpage import SGP_TEAM, _beyond_eof
from hugetmpfs.shmem.inode import BLOCKS_PER_PAGE
from hugetmpfs.shmem.team import shmem_clear_tag_hugehole

if TYPE_CHECKING:
    from collections.abc import Iterable

    from hugetmpfs.mm.filemap import AddressSpace
    from hugetmpfs.shmem.inode import ShmemInodeInfo
    from hugetmpfs.shmem.machine import Machine
    from hugetmpfs.sim import Actor, Engine, SpinLock

#: the guards whose tests the general path makes on a hole; with one off, it goes that way
_HOLE_GUARDS = frozenset({"base/R4.1", "base/R4.2", "base/R4.3"})
_UPTODATE_DIRTY = PG_uptodate | PG_dirty
_MEMBER = PG_swapbacked | PG_team | PG_uptodate | PG_dirty  # what a filled hole becomes
# the points of a hole's path that are not a lock's
_AT_GET = "base/R4.3:before_get"
_AT_PAGE_LOCK = "lock:page_lock"
_AT_RESCHED = "shmem_populate_hugeteam:cond_resched"


def shmem_fill_teamholes(m: Machine, inode: ShmemInodeInfo, head: int, i: int) -> int:
    """From subpage *i* of the team at *head* on, do what shmem_populate_hugeteam's loop
    does while it is certain: pass by the members, and instantiate each hole (zeroed,
    Uptodate and Dirty) as its getpage, unlock, put and cond_resched would; stop at the
    first subpage whose outcome the general path must decide.  Returns that subpage: *i*
    if nothing was done, HPAGE_PMD_NR if the rest of the team was filled.

    A hole's path is certain, beyond what _uncontended_team says of the extent, when: no
    point on it can switch (no engine running, or a timed run whose CPU clock is before the
    horizon: the path consumes no time, sets no timer and, with nobody waiting on its
    locks, wakes nobody); the locks it takes are free, nobody waits for them and lockdep
    accepts them under what the actor holds; the index holds nothing; the mount has a
    block to charge; the hole has a reference, is not swap-backed, on an LRU or locked, and
    nobody waits for it.  Since no other actor runs from the first hole filled here to the
    last, and nothing the path does to one hole changes what is tested of another, the
    holes are found first and then filled all at once (_fill): nothing can observe the
    states in between, so only the end state, the points passed (counted, and logged when
    the engine keeps a point log) and their order must be those of the general path.
    """
    engine = m.engine
    if engine.every_point or not _uncontended_team(m, inode, head):
        return i
    cur = engine.current
    if cur is not None and engine.clock[cur.cpu] >= engine.horizon:
        return i
    flags = m.flags
    # shmem_populate_hugeteam's own tests of the head: nothing here changes their outcome
    if not flags[head] & PG_team or flags[head] & PG_checked:
        return i
    mapping, sb = inode.mapping, inode.sb
    locks = (mapping.tree_lock, m.lru_lock, inode.info_lock)
    waiters = engine.waiters
    for lock in locks:
        if lock.owner is not None or lock in waiters:
            return i
    if cur is not None and cur.held and engine.lockdep and not _lockdep_quiet(cur, locks):
        return i  # the general path reports it
    # shmem_recalc_inode gives blocks back only when pages left the cache unrecorded: then
    # the first hole's recalc changes what the mount can charge for the next ones
    if inode.alloced - inode.swapped - mapping.nrpages > 0:
        return i
    nr = m.HPAGE_PMD_NR
    if head & (nr - 1) or m.index[head] & (nr - 1):
        return i  # team_head would not find *head* from its subpages (the general path)
    if m.private[head] < m.team.TEAM_PAGE_COUNTER:
        return i  # no member counted: the first one added tags the team (the general path)
    budget = sb.max_blocks - sb.used_blocks if sb.max_blocks else nr
    holes, stop = _certain_holes(m, inode, head, i, budget)
    if not holes:
        return i
    pvec = m.lru_add_pvec[0 if cur is None else cur.cpu]
    if pvec and not _pvec_certain(m, pvec, holes):
        return i
    queued = len(pvec)
    _fill(m, inode, head, holes, pvec)
    if cur is not None:
        _pass_points(engine, cur.aid, len(holes), queued, locks)
    return stop


def _pvec_certain(m: Machine, pvec: list[int], holes: list[int]) -> bool:
    """Whether the pages queued in this CPU's pagevec before the holes are drained as a
    drain in the middle of the holes drains them: it is not over-full, and none of its
    pages is a hole or would lose its last reference (put_page would free it)."""
    if len(pvec) >= PAGEVEC_SIZE:
        return False
    refcount = m.refcount
    if any(refcount[page] <= 1 for page in pvec):
        return False
    return _none_of(pvec, holes)


def _none_of(pages: Iterable[int], holes: list[int]) -> bool:
    """Whether none of *pages* is one of *holes* (ascending)."""
    lo, hi = holes[0], holes[-1]
    inside = [page for page in pages if lo <= page <= hi]
    return not inside or set(holes).isdisjoint(inside)


def _lockdep_quiet(cur: Actor, locks: tuple[SpinLock, ...]) -> bool:
    """Whether lockdep accepts each lock of a hole's path (the page lock, then each of
    *locks* under it) while *cur* holds what it holds now."""
    if any(PAGE_LOCK.name not in lock.cls.ancestors for lock in locks):
        return False
    return all(
        held_cls.name in _PAGE_LOCK_MAY_HOLD
        and all(held_cls.name in lock.cls.ancestors for lock in locks)
        for held_cls, _ in cur.held
    )


def _certain_holes(
    m: Machine, inode: ShmemInodeInfo, head: int, i: int, budget: int
) -> tuple[list[int], int]:
    """The holes the loop would fill from subpage *i* on while certain, and the subpage it
    would stop at (HPAGE_PMD_NR at the end); no holes if subpage *i* is not such a hole."""
    flags, refcount, nr = m.flags, m.refcount, m.HPAGE_PMD_NR
    tree = inode.mapping.page_tree
    start = m.index[head]
    waiters = m.engine.waiters
    waiting = {key[1] for key in waiters if key.__class__ is tuple and key[:1] == ("page",)}
    found = tree.next_entry(start + i, start + nr)
    occupied = nr if found is None else found[0] - start  # the next index holding something
    holes: list[int] = []
    runs = True
    while i < nr:
        # the usual case first: fresh frames (no flag set, referenced) up to the next entry
        stop = min(occupied, i + budget - len(holes))
        if runs and stop > i + 1:
            a, b = head + i, head + stop
            if (
                flags[a:b].count(0) == b - a
                and min(refcount[a:b]) > 0
                and (not waiting or waiting.isdisjoint(range(a, b)))
            ):
                holes.extend(range(a, b))
                i = stop
                continue
            runs = False  # then one by one
        page = head + i
        f = flags[page]
        if f & _UPTODATE_DIRTY == _UPTODATE_DIRTY:
            if not holes:
                break  # a member: the loop passes it by itself
            if i == occupied:
                found = tree.next_entry(start + i + 1, start + nr)
                occupied = nr if found is None else found[0] - start
            i += 1
            continue
        if (
            i == occupied
            or len(holes) >= budget
            or refcount[page] <= 0
            or f & (PG_swapbacked | PG_locked | PG_lru)
            or page in waiting
        ):
            break
        holes.append(page)
        i += 1
    return holes, i


def _fill(m: Machine, inode: ShmemInodeInfo, head: int, holes: list[int], pvec: list[int]) -> None:
    """The state the general path leaves after filling *holes* (holes of the team at
    *head*, in order), each by: charge a block; take a reference; lock the page;
    under tree_lock, make it a swap-backed member at its index, insert it and count it
    (shmem_added_to_hugeteam) in the mapping and the zone; lru_cache_add_anon (a pagevec
    reference; a full pagevec is drained under lru_lock, dropping its references); under
    info->lock, count it in the inode (shmem_recalc_inode finds nothing to give back);
    clear it if not uptodate and mark it Uptodate and Dirty; unlock it; put it."""
    n = len(holes)
    refcount, mapping, sb = m.refcount, inode.mapping, inode.sb
    start = m.index[head]
    lockers = m.page_lockers
    if lockers and not _none_of(lockers, holes):  # lock_page records the locker, unlock_page
        for page in holes:  # forgets it
            lockers.pop(page, None)
    tree, run = mapping.page_tree, 0
    for k in range(1, n + 1):  # a run of consecutive subpages at a time
        if k == n or holes[k] != holes[k - 1] + 1:
            first = holes[run]
            _become_members(m, mapping, first, first + k - run, start + first - head)
            tree.insert_run(start + first - head, first, k - run)
            run = k
    # shmem_added_to_hugeteam of each: the team has a member, so none is the first
    t, zone, private = m.team, m.vmstat.zone, m.private
    usage = private[head]
    private[head] = usage + n * t.TEAM_PAGE_COUNTER
    # the k-th hole (from 1) completes the team, or finds it complete, if
    # usage + k * TEAM_PAGE_COUNTER >= TEAM_COMPLETE
    first_complete = max(1, -(-(t.TEAM_COMPLETE - usage) // t.TEAM_PAGE_COUNTER))
    for _ in range(max(0, n - first_complete + 1)):
        shmem_clear_tag_hugehole(m, mapping, start)
        zone[NR_SHMEM_HUGEPAGES] += 1
    zone[NR_SHMEM_FREEHOLES] -= n
    mapping.nrpages += n
    zone[NR_FILE_PAGES] += n
    zone[NR_SHMEM] += n
    # the pagevec: every PAGEVEC_SIZE-th page added drains it (the drain's references are
    # dropped at once: none is the last one); the getpage reference becomes the cache's
    queued = pvec + holes
    drained = len(queued) - len(queued) % PAGEVEC_SIZE
    if drained:  # a drained hole's pagevec reference is dropped, an earlier page's too
        lru_add_pages_locked(m, queued[:drained])
        for page in pvec:
            refcount[page] -= 1
    queued_before = len(pvec)
    pvec[:] = queued[drained:]
    for page in queued[max(drained, queued_before) :]:  # the holes still queued
        refcount[page] += 1
    if sb.max_blocks:  # shmem_acct_block_ok
        sb.used_blocks += n
    inode.alloced += n
    inode.i_blocks += n * BLOCKS_PER_PAGE


def _become_members(m: Machine, mapping: AddressSpace, a: int, b: int, index: int) -> None:
    """Make the holes [a, b) swap-backed members, zeroed, Uptodate and Dirty, at *index* on
    in *mapping*: the flags set as their paths set them (PG_active cleared by
    lru_cache_add_anon), a tail's team_usage (the head keeps its own), clear_highpage of
    any not uptodate."""
    flags, private, content, data = m.flags, m.private, m.content, m.data
    n = b - a
    if flags[a:b].count(0) == n:  # fresh frames, the usual case: all alike
        flags[a:b] = array(flags.typecode, [_MEMBER]) * n
        private[a:b] = array(private.typecode, [m.team.TEAM_LRU_WEIGHT_ONE]) * n
        content[a:b] = array(content.typecode, [0]) * n
        if data:
            for page in range(a, b):
                data.pop(page, None)
    else:
        for page in range(a, b):
            f = flags[page]
            if not f & PG_uptodate:  # clear_highpage
                content[page] = 0
                data.pop(page, None)
            if not f & PG_team:
                private[page] = m.team.TEAM_LRU_WEIGHT_ONE
            flags[page] = (f | _MEMBER) & ~PG_active
    m.mapping[a:b] = array(m.mapping.typecode, [mapping.id]) * n
    m.index[a:b] = array(m.index.typecode, range(index, index + n))


def _pass_points(
    engine: Engine, aid: int, n: int, queued: int, locks: tuple[SpinLock, ...]
) -> None:
    """Pass the points of *n* holes' paths, none a decision (see shmem_fill_teamholes): count
    them, and log them when the engine keeps a log.  With *queued* pages in the pagevec
    before, the k-th hole's lru_cache_add drains it when queued + k is a multiple of
    PAGEVEC_SIZE."""
    drains = (queued + n) // PAGEVEC_SIZE - queued // PAGEVEC_SIZE
    log = engine.point_log
    if log is not None:
        at_tree, at_lru, at_info = (f"lock:{lock.cls.name}" for lock in locks)
        step = engine.steps
        for k in range(1, n + 1):
            log.append((step + 1, aid, _AT_GET))  # shmem_hugeteam_lookup, speculative
            log.append((step + 2, aid, _AT_PAGE_LOCK))  # shmem_alloc_page: the hole, locked
            log.append((step + 3, aid, at_tree))  # shmem_add_to_page_cache
            step += 3
            if (queued + k) % PAGEVEC_SIZE == 0:
                step += 1
                log.append((step, aid, at_lru))  # lru_cache_add_anon's drain
            log.append((step + 1, aid, at_info))  # the inode's counts
            log.append((step + 2, aid, _AT_RESCHED))  # shmem_populate_hugeteam's
            step += 2
    engine.steps += 5 * n + drains


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
