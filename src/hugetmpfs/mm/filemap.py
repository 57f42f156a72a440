"""The page cache: struct address_space, page locks, lookups and deletion (mm/filemap.c).

Page locks are the PG_locked bit.  Waiting for one blocks the actor on the key
``("page", pfn)``; unlock wakes every waiter and the strategy decides who gets it.  A page
lock is not owned by a task in the kernel (an I/O completion unlocks what a task locked), so
only lockdep's bookkeeping remembers who took it.

Models: mm/filemap.c (v4.6-rc2): lock_page, trylock_page, unlock_page, find_get_entry,
find_lock_entry, find_get_entries, __delete_from_page_cache, delete_from_page_cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hugetmpfs.mm.debug import VM_BUG_ON_PAGE
from hugetmpfs.mm.page_flags import PG_locked, PG_swapbacked
from hugetmpfs.mm.page_ref import get_page_unless_zero
from hugetmpfs.mm.radix_tree import RadixTree, radix_tree_exceptional_entry
from hugetmpfs.mm.swap import put_page
from hugetmpfs.mm.vmstat import NR_FILE_PAGES, NR_SHMEM
from hugetmpfs.sim import RWSem, SpinLock
from hugetmpfs.sim.locks import _held_pop, _held_push, lock_class, lockdep_acquire

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine

PAGE_LOCK = lock_class("page_lock")


class AddressSpace:
    """struct address_space: a file's page cache and the VMAs that map it."""

    def __init__(self, m: MemMachine, host: Any, a_ops: str, gfp_mask: int) -> None:
        self.host = host
        self.a_ops = a_ops  # "shmem_aops", or another name for non-shmem mappings
        self.gfp_mask = gfp_mask
        self.page_tree = RadixTree()
        self.tree_lock = SpinLock(m.engine, "tree_lock", f"tree_lock#{getattr(host, 'ino', 0)}")
        self.i_mmap: list[Any] = []  # VMAs mapping this file, in creation order
        self.i_mmap_rwsem = RWSem(m.engine, "i_mmap_rwsem")
        self.nrpages = 0
        self.nrexceptional = 0
        self.id = m.register_mapping(self)

    def __repr__(self) -> str:
        return f"inode#{getattr(self.host, 'ino', '?')}"


def mapping_gfp_mask(mapping: AddressSpace) -> int:
    return mapping.gfp_mask


# -- page locks ---------------------------------------------------------------------------


def trylock_page(m: MemMachine, page: int) -> bool:
    engine = m.engine
    engine.point("trylock:page_lock")
    if m.flags[page] & PG_locked:
        return False
    if engine.lockdep:
        lockdep_acquire(engine, PAGE_LOCK, page, trylock=True)
    m.flags[page] |= PG_locked
    _held_push(engine.current, PAGE_LOCK, page)
    return True


def lock_page(m: MemMachine, page: int) -> None:
    """Sleep until the page lock is ours."""
    engine = m.engine
    engine.point("lock:page_lock")
    if engine.lockdep:
        lockdep_acquire(engine, PAGE_LOCK, page, trylock=False)
    while m.flags[page] & PG_locked:
        if engine.current is None:
            VM_BUG_ON_PAGE(True, m, page, "lock_page contended outside the engine")
        engine.block_on(("page", page), "wait:page_lock")
    m.flags[page] |= PG_locked
    _held_push(engine.current, PAGE_LOCK, page)


def __set_page_locked(m: MemMachine, page: int) -> None:
    """__SetPageLocked on a page nobody else can see yet, recorded for lockdep."""
    m.flags[page] |= PG_locked
    _held_push(m.engine.current, PAGE_LOCK, page)


def unlock_page(m: MemMachine, page: int) -> None:
    VM_BUG_ON_PAGE(not m.flags[page] & PG_locked, m, page, "unlock_page of an unlocked page")
    m.flags[page] &= ~PG_locked
    engine = m.engine
    cur = engine.current
    if cur is not None and (PAGE_LOCK, page) in cur.held:
        _held_pop(cur, PAGE_LOCK, page)
    elif cur is not None:
        for actor in engine.actors:  # unlocked on someone else's behalf (I/O completion)
            if (PAGE_LOCK, page) in actor.held:
                actor.held.remove((PAGE_LOCK, page))
                break
    if ("page", page) in engine.waiters:
        engine.wake(("page", page))


def wait_on_page_locked(m: MemMachine, page: int) -> None:
    engine = m.engine
    while m.flags[page] & PG_locked:
        engine.block_on(("page", page), "wait_on_page_locked")


# -- lookups ------------------------------------------------------------------------------


def find_get_entry(m: MemMachine, mapping: AddressSpace, index: int) -> int | None:
    """The entry at *index*: a page with a reference taken, an exceptional entry, or None."""
    while True:
        entry = mapping.page_tree.lookup(index)
        if entry is None or radix_tree_exceptional_entry(entry):
            return entry
        if not get_page_unless_zero(m, entry):
            m.engine.point("find_get_entry:repeat")
            continue  # being freed: look again
        if mapping.page_tree.lookup(index) != entry:
            put_page(m, entry)  # moved meanwhile
            continue
        return entry


def find_lock_entry(m: MemMachine, mapping: AddressSpace, index: int) -> int | None:
    """Like find_get_entry, but a page comes back locked and still in this mapping."""
    while True:
        entry = find_get_entry(m, mapping, index)
        if entry is None or radix_tree_exceptional_entry(entry):
            return entry
        lock_page(m, entry)
        if m.mapping[entry] != mapping.id or m.index[entry] != index:
            unlock_page(m, entry)  # truncated while we slept on the lock
            put_page(m, entry)
            continue
        return entry


def find_get_entries(
    m: MemMachine, mapping: AddressSpace, start: int, nr: int, end: int | None = None
) -> list[tuple[int, int]]:
    """Up to *nr* (index, entry) from *start*; pages come with a reference."""
    out = []
    for index, entry in mapping.page_tree.gang_lookup(start, nr, end):
        if radix_tree_exceptional_entry(entry) or get_page_unless_zero(m, entry):
            out.append((index, entry))
    return out


# -- deletion -----------------------------------------------------------------------------


def __delete_from_page_cache(m: MemMachine, page: int) -> None:
    """Under tree_lock: take a page out of its mapping's tree and counts."""
    mapping = m.mappings[m.mapping[page]]
    mapping.page_tree.delete(m.index[page])
    m.mapping[page] = 0
    mapping.nrpages -= 1
    zone = m.vmstat.zone
    zone[NR_FILE_PAGES] -= 1
    if m.flags[page] & PG_swapbacked:
        zone[NR_SHMEM] -= 1


def delete_from_page_cache(m: MemMachine, page: int) -> None:
    """Remove a locked page from the page cache and drop the cache's reference."""
    VM_BUG_ON_PAGE(not m.flags[page] & PG_locked, m, page, "delete_from_page_cache unlocked")
    mapping = m.mappings[m.mapping[page]]
    with mapping.tree_lock:
        __delete_from_page_cache(m, page)
    put_page(m, page)
