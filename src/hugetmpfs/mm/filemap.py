"""The page cache: struct address_space, page locks, lookups and deletion (mm/filemap.c).

Page locks are the PG_locked bit.  Waiting for one blocks the actor on the key
``("page", pfn)``; unlock wakes every waiter and the strategy decides who gets it.  A page
lock is not owned by a task in the kernel (an I/O completion unlocks what a task locked), so
only lockdep's bookkeeping remembers who took it.

Models: mm/filemap.c (v4.6-rc2): lock_page, trylock_page, unlock_page, find_get_entry,
find_lock_entry, find_get_entries, __delete_from_page_cache, delete_from_page_cache;
filemap_map_pages (fault-around, with 6.18's visible behaviour).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hugetmpfs.mm.debug import VM_BUG_ON_PAGE
from hugetmpfs.mm.mm_types import VM_FAULT_NOPAGE, VM_SHARED, VM_WRITE, HugePmd, mk_pte
from hugetmpfs.mm.page_flags import PG_locked, PG_swapbacked, PG_uptodate
from hugetmpfs.mm.page_ref import get_page_unless_zero
from hugetmpfs.mm.pgtable import pmd_install, pmd_shift
from hugetmpfs.mm.radix_tree import RadixTree, radix_tree_exceptional_entry
from hugetmpfs.mm.rmap import mm_counter_file, page_add_file_rmap
from hugetmpfs.mm.swap import put_page
from hugetmpfs.mm.vmstat import NR_FILE_PAGES, NR_SHMEM
from hugetmpfs.sim import RWSem, SpinLock
from hugetmpfs.sim.locks import _held_pop, _held_push, _may_hold, lock_class, lockdep_acquire

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine
    from hugetmpfs.mm.mm_types import VMA, PageTable, Vmf
    from hugetmpfs.sim import Actor

PAGE_LOCK = lock_class("page_lock")
_PAGE_LOCK_MAY_HOLD = _may_hold(PAGE_LOCK)


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
    _page_locked_by(m, page, engine.current)
    return True


def lock_page(m: MemMachine, page: int) -> None:
    """Sleep until the page lock is ours."""
    engine = m.engine
    engine.point("lock:page_lock")
    cur = engine.current
    if cur is not None and cur.held and engine.lockdep:
        for held_cls, _ in cur.held:  # lockdep_acquire's usual case, inline
            if held_cls.name not in _PAGE_LOCK_MAY_HOLD:
                lockdep_acquire(engine, PAGE_LOCK, page, trylock=False)
                break
    flags = m.flags
    while flags[page] & PG_locked:
        if cur is None:
            VM_BUG_ON_PAGE(True, m, page, "lock_page contended outside the engine")
        engine.block_on(("page", page), "wait:page_lock")
    flags[page] |= PG_locked  # _page_locked_by, inline: every getpage locks a page
    if cur is not None:
        m.page_lockers[page] = cur
        cur.held.append((PAGE_LOCK, page))  # a sleeping lock: no preempt_count


def __set_page_locked(m: MemMachine, page: int) -> None:
    """__SetPageLocked on a page nobody else can see yet, recorded for lockdep."""
    _page_locked_by(m, page, m.engine.current)


def _page_locked_by(m: MemMachine, page: int, actor: Actor | None) -> None:
    m.flags[page] |= PG_locked
    if actor is not None:
        m.page_lockers[page] = actor
        _held_push(actor, PAGE_LOCK, page)


def unlock_page(m: MemMachine, page: int) -> None:
    flags = m.flags
    if not flags[page] & PG_locked:
        VM_BUG_ON_PAGE(True, m, page, "unlock_page of an unlocked page")
    flags[page] &= ~PG_locked
    holder = m.page_lockers.pop(page, None)
    if holder is not None:  # possibly another actor: an I/O completion unlocks for a task
        held = holder.held
        if held and held[-1][0] is PAGE_LOCK and held[-1][1] == page:  # _held_pop, inline
            held.pop()
        else:
            _held_pop(holder, PAGE_LOCK, page)
    waiters = m.engine.waiters
    if waiters and ("page", page) in waiters:
        m.engine.wake(("page", page))


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


# -- fault-around ---------------------------------------------------------------------------


def filemap_map_pages(m: MemMachine, vma: VMA, vmf: Vmf, start_pgoff: int, end_pgoff: int) -> int:
    """Map the ready pages of [start_pgoff, end_pgoff] around a read fault, without I/O.

    A page is mapped when it is in the cache, uptodate, not locked (a trylock must take
    it), below i_size rounded up to a page, and its pte is still none; it is mapped
    read-only unless the mapping is shared and writable (shmem needs no write-notify).
    Returns VM_FAULT_NOPAGE when the faulting address itself got mapped.  The pte table of
    an empty pmd comes from ``vmf.prealloc_pte`` and is installed only if a page is mapped.

    Models: mm/filemap.c filemap_map_pages, next_uptodate_folio, filemap_map_order0_folio
    (Linux 6.18: what fault-around maps is visible in smaps Rss).
    Differs: every page is looked up and trylocked before the pte lock is taken (6.18 takes
    it after the first page), so no page lock is tried under the pte spinlock.
    """
    mapping = vma.vm_file.f_mapping
    max_idx = (mapping.host.i_size + 4095) >> 12
    pages = _trylock_ready_pages(m, mapping, start_pgoff, min(end_pgoff, max_idx - 1))
    if not pages:
        return 0
    mm = vma.mm
    pmd = vmf.address >> pmd_shift(m)
    pt = mm.pmds.get(pmd)
    if pt is None and vmf.prealloc_pte is not None:
        if pmd_install(m, mm, pmd, vmf.prealloc_pte):
            vmf.prealloc_pte = None
        pt = mm.pmds.get(pmd)
    ret, unmapped = 0, pages
    if pt is not None and pt.__class__ is not HugePmd:
        ret, unmapped = _map_pages_locked(m, vma, vmf, pt, pages)
    for _, page in pages:
        unlock_page(m, page)
    for _, page in unmapped:
        put_page(m, page)  # the lookup's reference; a mapped page's became its pte's
    return ret


def _trylock_ready_pages(
    m: MemMachine, mapping: AddressSpace, start: int, end: int
) -> list[tuple[int, int]]:
    """(index, page) of the pages of [start, end] fit to map, each locked and referenced."""
    out: list[tuple[int, int]] = []
    tree = mapping.page_tree
    flags = m.flags
    index = start
    while index <= end:
        found = tree.next_entry(index, end + 1)
        if found is None:
            break
        index, page = found
        index += 1
        if page < 0:  # a swap entry: leave it to the fault
            continue
        # The lookup holds no reference: the page may be freed and reused before the
        # speculative get, which the reload below (and the mapping check) catch.
        m.engine.point("filemap_map_pages:speculative")
        if not get_page_unless_zero(m, page):
            continue
        if flags[page] & PG_locked or not flags[page] & PG_uptodate:
            put_page(m, page)
            continue
        if tree.lookup(index - 1) != page or not trylock_page(m, page):
            put_page(m, page)
            continue
        # Truncated or reused while we took the lock?
        if m.mapping[page] != mapping.id or not flags[page] & PG_uptodate:
            unlock_page(m, page)
            put_page(m, page)
            continue
        out.append((index - 1, page))
    return out


def _map_pages_locked(
    m: MemMachine, vma: VMA, vmf: Vmf, pt: PageTable, pages: list[tuple[int, int]]
) -> tuple[int, list[tuple[int, int]]]:
    """Install the ptes under the table's lock: (ret, the pages left unmapped)."""
    write = vma.vm_flags & (VM_SHARED | VM_WRITE) == VM_SHARED | VM_WRITE
    base = vma.vm_start - (vma.vm_pgoff << 12)  # where file index 0 would be
    mask = m.HPAGE_PMD_NR - 1
    rss = vma.mm.rss
    ret = 0
    unmapped = []
    ptes = pt.ptes
    with pt.ptl:
        for index, page in pages:
            address = base + (index << 12)
            i = (address >> 12) & mask
            if ptes[i]:
                unmapped.append((index, page))
                continue
            if address == vmf.address:
                ret = VM_FAULT_NOPAGE
            ptes[i] = mk_pte(page, write)
            pt.nr_present += 1
            page_add_file_rmap(m, page)
            rss[mm_counter_file(m, page)] += 1
    return ret, unmapped
