"""Page migration: move the contents, the page-cache slot and the mappings of isolated pages.

The caller isolates the pages (``isolate_lru_page``, counted in NR_ISOLATED_ANON) and passes
them with an allocator for the new pages; each page is tried up to ten times.  A page that
cannot be migrated yet (locked, under writeback, an unexpected reference) answers -EAGAIN and
is retried on the next pass; any other failure is final, and -ENOMEM (no new page, or a
recovery source truncated: recovery/R1) ends migrate_pages at once.  Pages whose migration
succeeded or failed for good leave the list; the rest stay on it (those not yet tried
too) for the caller's ``putback_movable_pages``.

A pte-mapped file page is unmapped first (try_to_unmap with TTU_MIGRATION), moved with
both pages locked, and its ptes then put back onto the new page, or onto the old one if
the move failed, before either page is unlocked (remove_migration_ptes).

Models: mm/migrate.c (v4.6-rc2): migrate_pages, unmap_and_move, __unmap_and_move,
move_to_new_page, migrate_page, migrate_page_move_mapping, migrate_page_copy,
remove_migration_ptes / remove_migration_pte, putback_movable_pages; patch 05/31's
refusals of PageTeam pages (the hugehole shrinker of patch 06/31 clears PageTeam before it
migrates), MR_SHMEM_HUGEHOLE; patch 24/31's MR_SHMEM_RECOVERY and the truncated-source
check in __unmap_and_move, patch 29/31's MIGRATE_SHMEM_RECOVERY and its call into
shmem_recovery_migrate_page from migrate_page_move_mapping.
Guards: recovery/R1.
Differs: no migration-entry ptes.  try_to_unmap clears each pte as an unmap does (the
pte's dirtiness goes to the page; its reference, rmap and rss count are dropped) and
remembers the slot (mm/rmap.py MigrationEntry); remove_migration_ptes installs a pte with
the same write, dirty and young bits in each slot that is still there: the mm's pmd still
points at the same table, the slot is still empty and the VMA is still in its mm covering
the address.  Otherwise munmap or exit took the entry away, and it is skipped; a VMA
split in the window (the kernel's rmap walk would find the entry in the new part) drops
it too, and the page is faulted back in when next used.  (The kernel's restored pte is
old and clean; the bits are kept here, write only while the VMA allows it, as
maybe_mkwrite.)  A fault in the window
behaves as the kernel's migration_entry_wait: shmem_fault's find_lock_entry waits on the
old page's lock, finds the page gone from the cache and retries onto the new page, whose
lock migration holds until the ptes are back; fault-around's trylock skips both pages.
MADV_DONTNEED in the window does not cancel an entry (the kernel's zap clears migration
entries): the restored pte maps the cache page a refault would map, so only Rss differs
until it is zapped again.  Anonymous pages still mapped are refused (-EAGAIN, retried, then
put back): no anon migration.  A migrated-from page is freed at once (v4.7's put_page), not
through putback_lru_page's pagevec.  No memcg, no balloon or non-LRU movable pages, one
node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.debug import VM_BUG_ON_PAGE
from hugetmpfs.mm.filemap import lock_page, trylock_page, unlock_page
from hugetmpfs.mm.highmem import copy_highpage
from hugetmpfs.mm.mm_types import PTE_PFN_SHIFT, PTE_PRESENT, PTE_WRITE, VM_WRITE, find_vma
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
from hugetmpfs.mm.pageteam import guard_on
from hugetmpfs.mm.pgtable import pmd_shift
from hugetmpfs.mm.rmap import (
    TTU_IGNORE_ACCESS,
    TTU_IGNORE_MLOCK,
    TTU_MIGRATION,
    MigrationEntry,
    PageAnon,
    page_add_file_rmap,
    page_mapped,
    try_to_unmap,
)
from hugetmpfs.mm.swap import put_page, putback_lru_page
from hugetmpfs.mm.vmstat import NR_ISOLATED_ANON, PGMIGRATE_FAIL, PGMIGRATE_SUCCESS

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.mm.machine import MemMachine

EAGAIN, EBUSY, ENOMEM, ENOSYS = 11, 16, 12, 38
MIGRATEPAGE_SUCCESS = 0

# enum migrate_mode (patch 29/31 adds MIGRATE_SHMEM_RECOVERY, "a MIGRATE_SYNC specific to
# huge tmpfs recovery": it waits for page locks as MIGRATE_SYNC does, but the tests for
# exactly MIGRATE_SYNC, such as the writeback wait, take it as not synchronous)
MIGRATE_ASYNC, MIGRATE_SYNC_LIGHT, MIGRATE_SYNC, MIGRATE_SHMEM_RECOVERY = range(4)

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

#: try_to_unmap's flags for migration: the pages go whether recently used or mlocked.
TTU_MIGRATE = TTU_MIGRATION | TTU_IGNORE_MLOCK | TTU_IGNORE_ACCESS

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
    """Migrate the isolated *pages* (a list the call shortens): the number not migrated,
    those still -EAGAIN after ten passes included, or -ENOMEM if it quit early (the
    allocator ran dry, or recovery/R1).  Pages left in *pages*, tried or not, are still
    isolated: the caller owes them putback_movable_pages.

    ``get_new_page(m, page, private)`` returns a new page (or None) with a reference that
    migration drops: putback_lru_page does on success, ``put_new_page(m, newpage,
    private)`` (put_page if None) otherwise.  The page cache takes its own reference on a
    new page, except in MIGRATE_SHMEM_RECOVERY mode, where the team slot's base reference,
    which it must already hold, becomes the cache's.

    Models: mm/migrate.c migrate_pages (v4.6-rc2).
    """
    nr_failed = nr_succeeded = 0
    retry = 1
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
                return _migrate_done(m, nr_succeeded, nr_failed, -ENOMEM)  # goto out
            if rc == -EAGAIN:
                retry += 1
            elif rc == MIGRATEPAGE_SUCCESS:
                nr_succeeded += 1
            else:
                nr_failed += 1  # permanent failure (-EBUSY, -ENOSYS, ...)
    nr_failed += retry
    return _migrate_done(m, nr_succeeded, nr_failed, nr_failed)


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
    """Allocate a target for *page*, move it, and settle both pages: unless the answer is
    -EAGAIN (or the allocator gave nothing) the old page leaves *pages*, and an unused new
    page goes back through *put_new_page*.

    Models: mm/migrate.c unmap_and_move (v4.6-rc2; patch 05/31's PageTeam refusal).
    """
    newpage = get_new_page(m, page, private)
    if newpage is None:
        return -ENOMEM  # the page stays on the list
    # patch 05/31: a team page is not migrated (only the shrinker migrates team pages, and it
    # clears PageTeam first).  -EBUSY is final: the page goes back to its LRU, off the list,
    # so that later passes neither retry it nor count it failed again.
    if m.flags[page] & PG_team:
        _page_done(m, page, pages, freed=False)
        _newpage_unused(m, newpage, put_new_page, private)
        return -EBUSY
    if m.refcount[page] == 1:
        # Only the isolation holds the page: it was freed (truncated) meanwhile.
        m.flags[page] &= ~(PG_active | PG_unevictable)
        rc = MIGRATEPAGE_SUCCESS
        _page_done(m, page, pages, freed=True)
        _newpage_unused(m, newpage, put_new_page, private)
        return rc
    rc = __unmap_and_move(m, page, newpage, force, mode, reason)
    if rc != -EAGAIN:  # out:
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


def __unmap_and_move(
    m: MemMachine, page: int, newpage: int, force: bool, mode: int, reason: int
) -> int:
    """Lock the old page (and trylock the new one), wait for writeback if allowed, unmap
    the old page, move it, and map whichever page holds the data now where it was mapped.

    Models: mm/migrate.c __unmap_and_move (v4.6-rc2; patch 24/31's *reason* and
    truncation check, which patch 29/31 keys on MIGRATE_SHMEM_RECOVERY instead).
    Guards: recovery/R1.
    Differs: a mapped anonymous page is refused with -EAGAIN (see the module).
    """
    # recovery/R1: the window between isolation and the page lock, where truncation or a
    # hole-punch may take the source page out of the file.
    m.engine.point("recovery/R1:before_lock")
    if not trylock_page(m, page):
        if not force or mode == MIGRATE_ASYNC:
            return -EAGAIN
        lock_page(m, page)
    try:
        # recovery/R1: truncation or a hole-punch removed the source since it was isolated
        # (only the page lock makes page->mapping stable).  A fault at that offset may have
        # instantiated the team slot we are about to copy into, through the hugehint, and
        # written new data there; the slot may be on an LRU already.  Copying would destroy
        # that data: -ENOMEM makes migrate_pages quit at once, and recovery gives up.
        if (
            (reason == MR_SHMEM_RECOVERY or mode == MIGRATE_SHMEM_RECOVERY)
            and not m.mapping[page]
            and guard_on(m, "recovery/R1")
        ):
            return -ENOMEM
        if m.flags[page] & PG_writeback:
            # Only a synchronous, forced migration waits for the write to finish.  This is
            # the kernel's test for exactly MIGRATE_SYNC, so MIGRATE_SHMEM_RECOVERY gets
            # -EBUSY here (digest §7.3 item 2: harmless, a page in shmem's cache is never
            # under writeback, it moves to the swap cache first).
            if mode != MIGRATE_SYNC:
                return -EBUSY
            if not force:
                return -EAGAIN
            wait_on_page_writeback(m, page)
        # The new page is not visible to anyone yet; the trylock cannot fail in practice,
        # but it blocks others once the page is in the cache, as in the kernel.
        if not trylock_page(m, newpage):
            return -EAGAIN
        try:  # out_unlock_both:
            return _unmap_move_remap(m, page, newpage, mode)
        finally:
            unlock_page(m, newpage)
    finally:  # out_unlock:
        unlock_page(m, page)


def _unmap_move_remap(m: MemMachine, page: int, newpage: int, mode: int) -> int:
    """The heart of __unmap_and_move, both pages locked: take the ptes down, move, put the
    ptes back onto the page that now holds the data."""
    mapping = m.mappings[m.mapping[page]]
    entries: list[MigrationEntry] = []
    if mapping is not None and page_mapped(m, page):
        if PageAnon(m, page):
            return -EAGAIN  # see Differs: no anonymous migration
        try_to_unmap(m, page, TTU_MIGRATE, entries)
        # Every pte is down: a fault now waits on the old page's lock (shmem_fault), and
        # when it gets it finds the page gone from the cache and waits on the new page's.
        m.engine.point("__unmap_and_move:unmapped")
    rc = -EAGAIN
    if not page_mapped(m, page):  # still mapped: a huge pmd try_to_unmap refused
        rc = move_to_new_page(m, newpage, page, mode)
    if entries:
        # On success the new page is in the cache now, locked: a fault finds it and waits.
        m.engine.point("__unmap_and_move:moved")
        remove_migration_ptes(m, mapping, entries, newpage if rc == MIGRATEPAGE_SUCCESS else page)
    return rc


def remove_migration_ptes(
    m: MemMachine, mapping: object, entries: list[MigrationEntry], page: int
) -> None:
    """Map *page* (the new page if the move succeeded, else the old one) where
    try_to_unmap left migration *entries*; under *mapping*'s i_mmap_rwsem for read, as
    rmap_walk takes it, with *page* locked.

    Models: mm/migrate.c remove_migration_ptes (v4.6-rc2).
    """
    VM_BUG_ON_PAGE(not m.flags[page] & PG_locked, m, page, "remove_migration_ptes: unlocked")
    rwsem = mapping.i_mmap_rwsem  # type: ignore[attr-defined]
    rwsem.down_read()
    try:
        for entry in entries:
            remove_migration_pte(m, entry, page)
    finally:
        rwsem.up_read()


def remove_migration_pte(m: MemMachine, entry: MigrationEntry, page: int) -> bool:
    """Put a pte for *page* back into the slot of *entry*, with the bits the old pte had:
    True, or False if the entry is gone.

    Models: mm/migrate.c remove_migration_pte (v4.6-rc2).
    Differs: the young and dirty bits are kept (the kernel's restored pte is old and
    clean).
    """
    vma, pt, address = entry.vma, entry.pt, entry.address
    mm = vma.mm
    pt.ptl.lock()
    try:
        # munmap (or exit) may have taken the VMA away in the window and zapped or freed
        # its table, and a new VMA and table may be there now: those would have cleared
        # the kernel's migration entry, so the slot is ours only if all three still hold.
        # A fault cannot have filled the slot meanwhile: it waits on a locked page.
        vma_now = find_vma(mm, address)
        if (
            mm.pmds.get(address >> pmd_shift(m)) is not pt
            or pt.ptes[entry.slot]
            or vma_now is not vma
            or address < vma.vm_start
        ):
            return False
        bits = entry.bits
        if not vma.vm_flags & VM_WRITE:
            bits &= ~PTE_WRITE  # maybe_mkwrite: the VMA's permissions may have changed
        get_page(m, page)  # the pte's reference
        mm.rss[entry.counter] += 1
        page_add_file_rmap(m, page)
        pt.ptes[entry.slot] = page << PTE_PFN_SHIFT | PTE_PRESENT | bits
        pt.nr_present += 1
        return True
    finally:
        pt.ptl.unlock()


def move_to_new_page(m: MemMachine, newpage: int, page: int, mode: int) -> int:
    """Both pages locked and the old one unmapped: move the cache slot and contents; on
    success the old page forgets its mapping.

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
    # v4.6 gives the new page its identity only past the point of no return, so a failure
    # leaves it untouched: it may be a recovery team's slot (or head), whose mapping is
    # the team's own.
    if rc == MIGRATEPAGE_SUCCESS:
        m.mapping[page] = 0
    return rc


def migrate_page(m: MemMachine, mapping: object, newpage: int, page: int, mode: int) -> int:
    """Move the cache slot, then copy flags and contents.

    Models: mm/migrate.c migrate_page (v4.6-rc2).
    """
    rc = migrate_page_move_mapping(m, mapping, newpage, page, mode)
    if rc != MIGRATEPAGE_SUCCESS:
        return rc
    migrate_page_copy(m, newpage, page)
    return MIGRATEPAGE_SUCCESS


def migrate_page_move_mapping(
    m: MemMachine, mapping: object, newpage: int, page: int, mode: int
) -> int:
    """Replace *page* by *newpage* in its mapping's radix tree, under tree_lock, with the old
    page's count frozen: nobody may find or pin it while the slot changes.

    In MIGRATE_SHMEM_RECOVERY mode, shmem's hook ``m.shmem_recovery_migrate_page(m,
    newpage, page)`` runs once the count is frozen: False (the team was disbanded) gives
    -ENOMEM with nothing changed; otherwise the new page, a team slot, takes no cache
    reference, because its base reference becomes that (patch 29/31).  The model's
    ``m.page_moved`` hook (no kernel counterpart) is told of the move as the slot changes.

    Models: mm/migrate.c migrate_page_move_mapping (v4.6-rc2; patch 05/31's -EAGAIN,
    patch 29/31's MIGRATE_SHMEM_RECOVERY branch).
    """
    # patch 05/31: a page that joined a team since it was isolated stays where it is.
    if m.flags[page] & PG_team:
        return -EAGAIN
    # Expected references: the isolation's, plus the page cache's for a page in a mapping
    # (a mapped page's ptes were taken down, with their references, before we came here).
    if mapping is None:
        return -EAGAIN if m.refcount[page] != 1 else _set_new_identity(m, newpage, page)
    expected = 2
    index = m.index[page]
    with mapping.tree_lock:  # type: ignore[attr-defined]
        tree = mapping.page_tree  # type: ignore[attr-defined]
        if tree.lookup(index) != page or not page_ref_freeze(m, page, expected):
            return -EAGAIN  # truncated, or someone holds a reference (gup, a lookup)
        if mode == MIGRATE_SHMEM_RECOVERY:
            hook = m.shmem_recovery_migrate_page
            if hook is not None and not hook(m, newpage, page):
                page_ref_unfreeze(m, page, expected)
                return -ENOMEM  # the team is gone: quit migrate_pages at once
        else:
            get_page(m, newpage)  # the page cache's reference
        # Point of no return: the count is frozen, nobody else can find the page now.
        _set_new_identity(m, newpage, page)
        tree.replace_slot(index, newpage)
        if m.page_moved is not None:
            m.page_moved(m, newpage, page)  # model only: check/'s bookkeeping
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
