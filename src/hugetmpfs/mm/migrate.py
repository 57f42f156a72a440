"""Page migration: move the contents and the page-cache slot of isolated pages to new pages.

The caller isolates the pages (``isolate_lru_page``, counted in NR_ISOLATED_ANON) and passes
them with an allocator for the new pages; each page is tried up to ten times.  A page that
cannot be migrated yet (locked, under writeback, an unexpected reference) answers -EAGAIN and
is retried on the next pass; any other failure is final.  Pages whose migration succeeded or
failed for good leave the list; the rest stay on it for the caller's
``putback_movable_pages``.

Models: mm/migrate.c (v4.6-rc2): migrate_pages, unmap_and_move, __unmap_and_move,
move_to_new_page, migrate_page, migrate_page_move_mapping, migrate_page_copy,
putback_movable_pages; patch 05/31's refusals of PageTeam pages (the hugehole shrinker of
patch 06/31 clears PageTeam before it migrates), and MR_SHMEM_HUGEHOLE.
Differs: a page still mapped by ptes is not migrated (-EAGAIN, so retried, then put back):
the model has no migration ptes (mm/rmap.py), hence no remove_migration_ptes; the only
caller (the shrinker) then leaves such a page where it is.  A migrated-from page is freed
at once (v4.7's put_page), not through putback_lru_page's pagevec.  No memcg, no
balloon or non-LRU movable pages, one node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.debug import VM_BUG_ON_PAGE
from hugetmpfs.mm.filemap import lock_page, trylock_page, unlock_page
from hugetmpfs.mm.highmem import copy_highpage
from hugetmpfs.mm.page_flags import (
    PG_active,
    PG_checked,
    PG_dirty,
    PG_error,
    PG_locked,
    PG_referenced,
    PG_swapbacked,
    PG_team,
    PG_unevictable,
    PG_uptodate,
    PG_writeback,
    PG_young,
)
from hugetmpfs.mm.page_io import wait_on_page_writeback
from hugetmpfs.mm.page_ref import get_page, page_ref_freeze, page_ref_unfreeze
from hugetmpfs.mm.rmap import page_mapped
from hugetmpfs.mm.swap import put_page, putback_lru_page
from hugetmpfs.mm.vmstat import NR_ISOLATED_ANON, PGMIGRATE_FAIL, PGMIGRATE_SUCCESS

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.mm.machine import MemMachine

EAGAIN, EBUSY, ENOMEM, ENOSYS = 11, 16, 12, 38
MIGRATEPAGE_SUCCESS = 0

# enum migrate_mode
MIGRATE_ASYNC, MIGRATE_SYNC_LIGHT, MIGRATE_SYNC = range(3)

# enum migrate_reason (v4.6, with patch 06/31's MR_SHMEM_HUGEHOLE and patch 24/31's
# MR_SHMEM_RECOVERY, which the recovery work passes so that migration can tell its pages)
(
    MR_COMPACTION,
    MR_MEMORY_FAILURE,
    MR_MEMORY_HOTPLUG,
    MR_SYSCALL,
    MR_MEMPOLICY_MBIND,
    MR_NUMA_MISPLACED,
    MR_CMA,
    MR_SHMEM_HUGEHOLE,
    MR_SHMEM_RECOVERY,
) = range(9)
MIGRATE_REASON = (
    "compaction",
    "memory_failure",
    "memory_hotplug",
    "syscall_or_cpuset",
    "mempolicy_mbind",
    "numa_misplaced",
    "cma",
    "shmem_hugehole",
    "shmem_recovery",
)

#: The flags migrate_page_copy carries from the old page to the new one.
COPIED_FLAGS = PG_error | PG_referenced | PG_uptodate | PG_checked | PG_young | PG_swapbacked

PASSES = 10


def migrate_pages(
    m: MemMachine,
    pages: list[int],
    get_new_page: Callable[[MemMachine, int, object], int | None],
    put_new_page: Callable[[MemMachine, int, object], None] | None,
    private: object,
    mode: int,
    reason: int,
) -> int:
    """Migrate the isolated *pages* (a list the call shortens): the number not migrated
    (a negative errno if the allocator ran dry).  Pages left in *pages* are still isolated.

    Models: mm/migrate.c migrate_pages (v4.6-rc2).
    """
    nr_failed = nr_succeeded = 0
    retry = 1
    rc = 0
    for npass in range(PASSES):
        if not retry:
            break
        retry = 0
        for page in list(pages):
            if page not in pages:
                continue
            rc = unmap_and_move(
                m, get_new_page, put_new_page, private, page, npass > 2, mode, reason, pages
            )
            if rc == -ENOMEM:
                nr_failed += 1
                return _migrate_done(m, nr_succeeded, nr_failed + retry, -ENOMEM)
            if rc == -EAGAIN:
                retry += 1
            elif rc == MIGRATEPAGE_SUCCESS:
                nr_succeeded += 1
            else:
                nr_failed += 1  # permanent failure (-EBUSY, -ENOSYS, ...)
    return _migrate_done(m, nr_succeeded, nr_failed + retry, nr_failed + retry)


def _migrate_done(m: MemMachine, succeeded: int, failed: int, rc: int) -> int:
    m.vmstat.events[PGMIGRATE_SUCCESS] += succeeded
    m.vmstat.events[PGMIGRATE_FAIL] += failed
    return rc


def unmap_and_move(
    m: MemMachine,
    get_new_page: Callable[[MemMachine, int, object], int | None],
    put_new_page: Callable[[MemMachine, int, object], None] | None,
    private: object,
    page: int,
    force: bool,
    mode: int,
    reason: int,
    pages: list[int],
) -> int:
    """Allocate a target for *page*, move it, and settle both pages.

    Models: mm/migrate.c unmap_and_move (v4.6-rc2; patch 05/31's PageTeam refusal).
    """
    # patch 05/31: a team page is not migrated (only the shrinker migrates team pages, and it
    # clears PageTeam first); -EBUSY is final, so it is not retried ten times.
    if m.flags[page] & PG_team:
        return -EBUSY
    newpage = get_new_page(m, page, private)
    if newpage is None:
        return -ENOMEM
    if m.refcount[page] == 1:
        # Only the isolation holds the page: it was freed (truncated) meanwhile.
        m.flags[page] &= ~(PG_active | PG_unevictable)
        rc = MIGRATEPAGE_SUCCESS
        _page_done(m, page, pages, freed=True)
        _newpage_unused(m, newpage, put_new_page, private)
        return rc
    rc = __unmap_and_move(m, page, newpage, force, mode)
    if rc != -EAGAIN:
        _page_done(m, page, pages, freed=rc == MIGRATEPAGE_SUCCESS)
    if rc == MIGRATEPAGE_SUCCESS:
        putback_lru_page(m, newpage)  # drops get_new_page's reference; the cache keeps one
    else:
        _newpage_unused(m, newpage, put_new_page, private)
    return rc


def _page_done(m: MemMachine, page: int, pages: list[int], freed: bool) -> None:
    """The page leaves the migration list: freed if it moved, else back to its LRU."""
    pages.remove(page)
    m.vmstat.zone[NR_ISOLATED_ANON] -= 1
    if freed:
        put_page(m, page)  # the isolation's reference, now the last one
    else:
        putback_lru_page(m, page)


def _newpage_unused(
    m: MemMachine,
    newpage: int,
    put_new_page: Callable[[MemMachine, int, object], None] | None,
    private: object,
) -> None:
    if put_new_page is not None:
        put_new_page(m, newpage, private)
    else:
        put_page(m, newpage)


def __unmap_and_move(m: MemMachine, page: int, newpage: int, force: bool, mode: int) -> int:
    """Lock the old page (and trylock the new one), wait for writeback if allowed, and move.

    Models: mm/migrate.c __unmap_and_move (v4.6-rc2).
    Differs: a mapped page is refused with -EAGAIN (no migration ptes, see the module).
    """
    if not trylock_page(m, page):
        if not force or mode == MIGRATE_ASYNC:
            return -EAGAIN
        lock_page(m, page)
    try:
        if m.flags[page] & PG_writeback:
            # Only a synchronous, forced migration waits for the write to finish.
            if mode != MIGRATE_SYNC:
                return -EBUSY
            if not force:
                return -EAGAIN
            wait_on_page_writeback(m, page)
        # The new page is not visible to anyone yet; the trylock cannot fail in practice,
        # but it blocks others once the page is in the cache, as in the kernel.
        if not trylock_page(m, newpage):
            return -EAGAIN
        try:
            if page_mapped(m, page):
                return -EAGAIN  # see Differs: no migration ptes to move the mapping with
            return move_to_new_page(m, newpage, page, mode)
        finally:
            unlock_page(m, newpage)
    finally:
        unlock_page(m, page)


def move_to_new_page(m: MemMachine, newpage: int, page: int, mode: int) -> int:
    """Both pages locked: move the mapping and contents; on success the old page forgets
    its mapping.

    Models: mm/migrate.c move_to_new_page (v4.6-rc2).
    """
    VM_BUG_ON_PAGE(not m.flags[page] & PG_locked, m, page, "move_to_new_page: old unlocked")
    VM_BUG_ON_PAGE(not m.flags[newpage] & PG_locked, m, newpage, "move_to_new_page: new")
    mapping = m.mappings[m.mapping[page]]
    if mapping is None:
        rc = migrate_page(m, None, newpage, page, mode)
    elif getattr(mapping, "a_ops", None) == "shmem_aops":
        rc = migrate_page(m, mapping, newpage, page, mode)  # shmem_aops.migratepage
    else:
        rc = -ENOSYS  # fallback_migrate_page: no other filesystem here
    if rc == MIGRATEPAGE_SUCCESS:
        m.mapping[page] = 0
    else:
        m.mapping[newpage] = 0
    return rc


def migrate_page(m: MemMachine, mapping: object, newpage: int, page: int, mode: int) -> int:
    """Move the cache slot, then copy flags and contents.

    Models: mm/migrate.c migrate_page (v4.6-rc2).
    """
    rc = migrate_page_move_mapping(m, mapping, newpage, page)
    if rc != MIGRATEPAGE_SUCCESS:
        return rc
    migrate_page_copy(m, newpage, page)
    return MIGRATEPAGE_SUCCESS


def migrate_page_move_mapping(m: MemMachine, mapping: object, newpage: int, page: int) -> int:
    """Replace *page* by *newpage* in its mapping's radix tree, under tree_lock, with the old
    page's count frozen: nobody may find or pin it while the slot changes.

    Models: mm/migrate.c migrate_page_move_mapping (v4.6-rc2; patch 05/31's -EAGAIN).
    """
    # patch 05/31: a page that joined a team since it was isolated stays where it is.
    if m.flags[page] & PG_team:
        return -EAGAIN
    # Expected references: the isolation's, plus the page cache's for a page in a mapping.
    if mapping is None:
        return -EAGAIN if m.refcount[page] != 1 else _set_new_identity(m, newpage, page)
    expected = 2
    index = m.index[page]
    with mapping.tree_lock:  # type: ignore[attr-defined]
        tree = mapping.page_tree  # type: ignore[attr-defined]
        if tree.lookup(index) != page or not page_ref_freeze(m, page, expected):
            return -EAGAIN  # truncated, or someone holds a reference (gup, a lookup)
        # Point of no return: the count is frozen, nobody else can find the page now.
        _set_new_identity(m, newpage, page)
        get_page(m, newpage)  # the page cache's reference
        tree.replace_slot(index, newpage)
        page_ref_unfreeze(m, page, expected - 1)  # the cache's reference is gone
    return MIGRATEPAGE_SUCCESS


def _set_new_identity(m: MemMachine, newpage: int, page: int) -> int:
    m.index[newpage] = m.index[page]
    m.mapping[newpage] = m.mapping[page]
    if m.flags[page] & PG_swapbacked:
        m.flags[newpage] |= PG_swapbacked
    return MIGRATEPAGE_SUCCESS


def migrate_page_copy(m: MemMachine, newpage: int, page: int) -> None:
    """Copy the contents and the page state flags; the old page keeps none of the LRU or
    dirty state (migrate_page_copy, v4.6-rc2)."""
    copy_highpage(m, newpage, page)
    flags = m.flags[page]
    new = m.flags[newpage] | (flags & COPIED_FLAGS)
    if flags & PG_active:
        VM_BUG_ON_PAGE(flags & PG_unevictable, m, page, "active and unevictable")
        new |= PG_active
    elif flags & PG_unevictable:
        new |= PG_unevictable
    if flags & PG_dirty:
        new |= PG_dirty
    m.flags[newpage] = new
    m.flags[page] = flags & ~(PG_active | PG_unevictable | PG_dirty | PG_checked)


def putback_movable_pages(m: MemMachine, pages: list[int]) -> None:
    """Return the pages migration left on *pages* to their LRUs (one isolation each)."""
    for page in pages:
        m.vmstat.zone[NR_ISOLATED_ANON] -= 1
        putback_lru_page(m, page)
    pages.clear()
