"""Finding, allocating and inserting tmpfs pages: shmem_getpage_gfp and its helpers.

Models: mm/shmem.c (v4.6-rc2) shmem_getpage_gfp, shmem_add_to_page_cache.  The huge-team
paths of patches 04–07 (hugehint) plug in through ``shmem/huge.py`` and ``shmem/team.py``;
shmem_fault and its huge path are in ``shmem/fault.py``.

sgp_type, ordered as the series orders it (patch 07/31 adds SGP_TEAM):
SGP_READ < SGP_CACHE < SGP_TEAM < SGP_WRITE < SGP_FALLOC.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.debug import VM_BUG_ON_PAGE
from hugetmpfs.mm.filemap import (
    delete_from_page_cache,
    find_lock_entry,
    lock_page,
    unlock_page,
)
from hugetmpfs.mm.highmem import clear_highpage
from hugetmpfs.mm.page_alloc import free_hot_cold_page
from hugetmpfs.mm.page_flags import (
    PG_dirty,
    PG_referenced,
    PG_swapbacked,
    PG_team,
    PG_uptodate,
)
from hugetmpfs.mm.page_ref import get_page, get_page_unless_zero, put_page_testzero
from hugetmpfs.mm.radix_tree import radix_tree_exceptional_entry
from hugetmpfs.mm.swap import lru_cache_add_anon, put_page
from hugetmpfs.mm.vmstat import NR_FILE_PAGES, NR_SHMEM, PGMAJFAULT
from hugetmpfs.shmem.huge import shmem_alloc_page, shmem_huge_enabled, shmem_shrinklist_add
from hugetmpfs.shmem.inode import (
    BLOCKS_PER_PAGE,
    ShmemInodeInfo,
    shmem_acct_block_ok,
    shmem_recalc_inode,
    shmem_unacct_blocks,
)
from hugetmpfs.shmem.team import (
    SHMEM_ALLOC_HUGE_PAGE,
    SHMEM_RETRY_HUGE_PAGE,
    shmem_added_to_hugeteam,
    shmem_disband_hugeteam,
    shmem_hugeteam_lookup,
)

if TYPE_CHECKING:
    from hugetmpfs.mm.filemap import AddressSpace
    from hugetmpfs.mm.mm_types import VMA
    from hugetmpfs.shmem.machine import Machine

SGP_READ, SGP_CACHE, SGP_TEAM, SGP_WRITE, SGP_FALLOC = range(5)

EINVAL, ENOMEM, ENOSPC, EEXIST, EIO, ENOENT = 22, 12, 28, 17, 5, 2


def shmem_add_to_page_cache(
    m: Machine,
    page: int,
    mapping: AddressSpace,
    index: int,
    expected: int | None,
    hugehint: int | None = None,
) -> int:
    """Insert a locked page at *index* (replacing *expected*, a swap entry, if given).

    With a hugehint, the extent must still look as it did when the page was chosen
    (base/R4.1), else -EEXIST.  A team page becomes a member here: PG_swapbacked (and
    PG_team for a tail) under tree_lock, and it takes no cache reference: the team's
    reference on the hole becomes the cache's.

    Models: mm/shmem.c shmem_add_to_page_cache (v4.6-rc2 with patches 04, 06, 13 of 31).
    Guards: base/R4.1.
    """
    with mapping.tree_lock:
        error = _add_locked(m, page, mapping, index, expected, hugehint)
        if error:
            if m.flags[page] & PG_team:
                # Back to a hole; the head keeps PG_team and mapping: it anchors the team.
                m.flags[page] &= ~PG_swapbacked
                if index & (m.HPAGE_PMD_NR - 1):
                    m.flags[page] &= ~PG_team
                    m.mapping[page] = 0
            else:
                m.mapping[page] = 0
    return error


def _add_locked(
    m: Machine,
    page: int,
    mapping: AddressSpace,
    index: int,
    expected: int | None,
    hugehint: int | None,
) -> int:
    tree = mapping.page_tree
    if hugehint is not None:
        # base/R4.1: the hint was taken under RCU alone; since then another allocator may
        # have made a team or put a small page in this extent, or a truncator disbanded
        # the team: inserting by the stale hint would leave two teams in one extent, a
        # small page inside a team's extent, or a member of a dead team.  Under tree_lock
        # the extent must still look the same, else -EEXIST and retry from the top.
        if (
            m.guard_on("base/R4.1")
            and shmem_hugeteam_lookup(m, mapping, index, speculative=False) != hugehint
        ):
            return -EEXIST
        if not m.flags[page] & PG_swapbacked:  # a team page: huge needs special care
            m.flags[page] |= PG_swapbacked
            if not m.flags[page] & PG_team:  # a tail (the head keeps its team_usage)
                m.private[page] = m.team.TEAM_LRU_WEIGHT_ONE
                m.flags[page] |= PG_team
    VM_BUG_ON_PAGE(not m.flags[page] & PG_swapbacked, m, page, "add_to_page_cache !swapbacked")
    m.mapping[page] = mapping.id
    m.index[page] = index
    if expected is None:
        error = tree.insert(index, page)
    elif tree.lookup(index) == expected:
        tree.replace_slot(index, page)
        mapping.nrexceptional -= 1
        error = 0
    else:
        error = -EEXIST
    if error:
        return error
    if m.flags[page] & PG_team:
        shmem_added_to_hugeteam(m, page, mapping, hugehint)
    else:
        m.refcount[page] += 1  # the page cache's reference
    mapping.nrpages += 1
    zone = m.vmstat.zone
    zone[NR_FILE_PAGES] += 1
    zone[NR_SHMEM] += 1
    return 0


def shmem_getpage_gfp(
    m: Machine,
    inode: ShmemInodeInfo,
    index: int,
    sgp: int,
    gfp: int,
    vma: VMA | None = None,
    write_end: int = 0,
    hint: int | None = None,
) -> tuple[int, int | None]:
    """Find or create the page at *index*; return (0, locked referenced page or None) or
    (-errno, None).

    SGP_READ finds a hole as (0, None); the others allocate.  Beyond i_size only SGP_WRITE
    and SGP_FALLOC may instantiate, and SGP_TEAM (patch 07/31: shmem_populate_hugeteam
    completes a team beyond EOF), which zero-fills and marks Uptodate like SGP_CACHE and
    always takes the hugehint path, to fill the existing team's hole.

    *vma* (a fault's) and *write_end* (a write's end) only inform the huge policy.

    Patch 27/31: SGP_TEAM judges i_size by the start of the extent (a team may be completed
    beyond EOF, but no team is begun there), before and after instantiating; and recovery
    passes its team slot as *hint* (the kernel's ``*pagep`` on entry): when the index
    holds nothing, that very page is instantiated there.

    Models: mm/shmem.c shmem_getpage_gfp (v4.6-rc2, with patches 04, 06, 07 and 27 of 31).
    Guards: base/R4.6 (in _clear_and_check), recovery/R20 (hint path; R19's page_raced
    answer is its structure, not a switchable check).
    """
    mapping = inode.mapping
    once = False
    while True:  # repeat:
        error, page = _getpage_once(m, inode, mapping, index, sgp, gfp, vma, write_end, hint)
        if error == -ENOSPC and not once:
            once = True
            with inode.info_lock:
                shmem_recalc_inode(m, inode)
            continue
        if error == -EEXIST:
            # The extent changed under us (a team made or disbanded, a slot raced):
            # repeat.  It can take several rounds while another CPU finishes what it is
            # doing to the extent (R26), so the retry lets the others run first.
            m.engine.yield_point("shmem_getpage_gfp:repeat")
            continue
        return error, page


def _beyond_eof(m: Machine, sgp: int, index: int, inode: ShmemInodeInfo) -> bool:
    if sgp == SGP_TEAM:  # patch 27/31: judged by the extent's start
        return (index & ~(m.HPAGE_PMD_NR - 1)) << 12 >= inode.i_size
    return sgp <= SGP_CACHE and (index << 12) >= inode.i_size


def _getpage_once(
    m: Machine,
    inode: ShmemInodeInfo,
    mapping: AddressSpace,
    index: int,
    sgp: int,
    gfp: int,
    vma: VMA | None,
    write_end: int,
    hint: int | None,
) -> tuple[int, int | None]:
    entry = find_lock_entry(m, mapping, index)
    page: int | None = entry
    swap = None
    if radix_tree_exceptional_entry(entry):
        swap = entry
        page = None
    if _beyond_eof(m, sgp, index, inode):
        return _unlock_out(m, page, -EINVAL)
    if page is not None and sgp == SGP_WRITE:
        m.flags[page] |= PG_referenced  # mark_page_accessed
    if page is not None and not m.flags[page] & PG_uptodate:
        # A fallocated page: only a reader may pass it by as a hole.
        if sgp != SGP_READ:
            return _clear_and_check(m, inode, index, page, sgp, alloced=False)
        unlock_page(m, page)
        put_page(m, page)
        page = None
    if page is not None or (sgp == SGP_READ and swap is None):
        return 0, page
    if swap is not None:
        m.vmstat.events[PGMAJFAULT] += 1
        return m.shmem_swapin(m, inode, index, swap, sgp, gfp)
    if sgp == SGP_TEAM and hint is not None:
        return _instantiate_hint(m, inode, mapping, index, hint)
    # SGP_TEAM fills a hole of a team that exists already, through the hugehint path:
    # patch 03/31, a team once made needs no policy check to be completed and mapped.
    huge = sgp == SGP_TEAM or shmem_huge_enabled(m, inode, index, vma, write_end)
    hugehint = SHMEM_ALLOC_HUGE_PAGE if huge else None
    return _alloc_new(m, inode, mapping, index, sgp, gfp, hugehint)


def _alloc_new(
    m: Machine,
    inode: ShmemInodeInfo,
    mapping: AddressSpace,
    index: int,
    sgp: int,
    gfp: int,
    hugehint: int | None,
) -> tuple[int, int | None]:
    if not shmem_acct_block_ok(inode, 1):
        return -ENOSPC, None
    page, hugehint, alloced_huge = shmem_alloc_page(m, gfp, inode, index, hugehint)
    error = -ENOMEM if page is None else -EEXIST if hugehint == SHMEM_RETRY_HUGE_PAGE else 0
    if not error:
        assert page is not None
        if sgp == SGP_WRITE:
            m.flags[page] |= PG_referenced
        error = shmem_add_to_page_cache(m, page, mapping, index, None, hugehint)
    if error:
        shmem_unacct_blocks(inode, 1)
        if page is not None:
            unlock_page(m, page)
            put_page(m, page)
        if alloced_huge is not None:  # the new team has no member: free it all
            _disband_unlocked(m, alloced_huge)
        return error, None
    assert page is not None
    _account_new_page(m, inode, page)
    if alloced_huge is not None:
        shmem_shrinklist_add(m, inode)
    if sgp == SGP_FALLOC:
        sgp = SGP_WRITE  # a new page: let fallocate use the SGP_WRITE shortcut
    return _clear_and_check(m, inode, index, page, sgp, alloced=True)


def _instantiate_hint(
    m: Machine, inode: ShmemInodeInfo, mapping: AddressSpace, index: int, page: int
) -> tuple[int, int | None]:
    """Recovery's slot *page* for an empty *index*: instantiate it there, zeroed (patch 27).

    The slot is a hole of the recovery's team: a tail goes into the cache as an ordinary
    page (with a cache reference, which populate drops when it enteams it); the exposed
    head, already PageTeam, becomes a member at once."""
    if not shmem_acct_block_ok(inode, 1):
        return -ENOSPC, None
    error = 0
    if not get_page_unless_zero(m, page):
        error = -ENOENT  # the hole was freed: the team is gone
    else:
        lock_page(m, page)  # may wait for a racing hugehint filler or a migration
        head = page - (index & (m.HPAGE_PMD_NR - 1))
        if not m.flags[head] & PG_team:
            # the team is gone, or its head not yet exposed: recovery/R27's known bug,
            # unless the expose-empty-head behaviour exposed it first
            error = -ENOENT
        elif m.flags[page] & PG_swapbacked:
            # recovery/R19: a fault's hugehint filled it first (retry finds its page), or
            # the swapin pre-pass prepared it and its entry was truncated since.
            m.recovery_stats.page_raced += 1
            error = -EEXIST if m.mapping[page] else -ENOENT
        else:
            m.flags[page] |= PG_swapbacked
            error = shmem_add_to_page_cache(m, page, mapping, index, None)
            # recovery/R20: back to a hole (possible only before the LRU has it)
            if error and m.guard_on("recovery/R20"):
                m.flags[page] &= ~PG_swapbacked
        if error:
            unlock_page(m, page)
            put_page(m, page)
    if error:
        shmem_unacct_blocks(inode, 1)
        return error, None
    m.recovery_stats.page_created += 1
    _account_new_page(m, inode, page)
    return _clear_and_check(m, inode, index, page, SGP_TEAM, alloced=True)


def _account_new_page(m: Machine, inode: ShmemInodeInfo, page: int) -> None:
    """A page just instantiated in the cache: onto the LRU, and counted in the inode."""
    lru_cache_add_anon(m, page)
    with inode.info_lock:
        inode.alloced += 1
        inode.i_blocks += BLOCKS_PER_PAGE
        shmem_recalc_inode(m, inode)


def _disband_unlocked(m: Machine, head: int) -> None:
    """Disband a team whose head nobody else can hold (it never got a member).

    Our own reference keeps the head until it is unlocked: the disband puts the team's
    (the head is a hole), and the last put frees it cold, as the other holes were."""
    get_page(m, head)
    lock_page(m, head)
    shmem_disband_hugeteam(m, head)
    unlock_page(m, head)
    if put_page_testzero(m, head):
        free_hot_cold_page(m, head, cold=True)


def _clear_and_check(
    m: Machine, inode: ShmemInodeInfo, index: int, page: int, sgp: int, alloced: bool
) -> tuple[int, int | None]:
    # clear: a writer fills the page itself; everyone else gets it zeroed and uptodate,
    # including SGP_FALLOC on a page fallocated earlier (6.18: lest undo on a later failure
    # cancel the earlier guarantee).  A new page arrives here for SGP_FALLOC as SGP_WRITE.
    if sgp != SGP_WRITE and not m.flags[page] & PG_uptodate:
        clear_highpage(m, page)
        m.flags[page] |= PG_uptodate
    # Perhaps the file has been truncated since we checked (a racing ftruncate).
    if _beyond_eof(m, sgp, index, inode):
        # base/R4.6: once in the cache, a team page is counted in its team's usage and
        # may be found (populate, another getpage) by others: deleting it here would
        # leave a member the team still counts, freed under its team.  Leave it for the
        # truncation to disband and remove (beyond EOF meanwhile, Q-7).
        if alloced and not (m.guard_on("base/R4.6") and m.flags[page] & PG_team):
            m.flags[page] &= ~PG_dirty
            delete_from_page_cache(m, page)
            with inode.info_lock:
                shmem_recalc_inode(m, inode)
        return _unlock_out(m, page, -EINVAL)
    return 0, page


def _unlock_out(m: Machine, page: int | None, error: int) -> tuple[int, None]:
    if page is not None:
        unlock_page(m, page)
        put_page(m, page)
    return error, None


def shmem_getpage(
    m: Machine, inode: ShmemInodeInfo, index: int, sgp: int, write_end: int = 0
) -> tuple[int, int | None]:
    return shmem_getpage_gfp(m, inode, index, sgp, inode.mapping.gfp_mask, None, write_end)
