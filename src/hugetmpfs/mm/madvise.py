"""madvise(2) on the model's mappings, answering as Linux 6.18 does on tmpfs.

Measured on the real kernel (6.18, tmpfs huge=never, root, a private mount namespace): a
file of 32 written pages mapped whole, all pages faulted in (fault-around), page 9 written
through the mapping when writable, then madvise of pages [8, 16).  "shared r" is MAP_SHARED
with PROT_READ of an O_RDWR fd; "shared r (ro fd)" of an O_RDONLY fd; "private" any
MAP_PRIVATE.  Rss and blocks are the mapping's smaps Rss and the file's st_blocks.

=============== ========================================= =================================
advice          answer                                    effect
=============== ========================================= =================================
NORMAL, RANDOM, 0 everywhere                              VMA split in 3 (flags rr / sr,
SEQUENTIAL                                                hg / nh); nothing unmapped
HUGEPAGE,
NOHUGEPAGE
WILLNEED        0 everywhere                              nothing: no page allocated for a
                                                          hole, Rss unchanged (no swap)
DONTNEED        0 everywhere                              range zapped (Rss -32 kB), COW
                                                          copies discarded (page reads the
                                                          file again); file kept
FREE            EINVAL everywhere (not anonymous)         nothing
REMOVE          0 on shared rw and shared r (VM_MAYWRITE  hole punched (blocks -64, Rss
                suffices); EACCES on shared r (ro fd)     -32 kB, page reads 0)
                and private
COLD            0 everywhere                              Rss unchanged (pages deactivated)
PAGEOUT         0 everywhere                              file pages mapped once are
                                                          unmapped (Rss -32 kB); a page
                                                          mapped twice is skipped; COW
                                                          pages stay (no swap); clean tmpfs
                                                          pages (read-faulted holes) are
                                                          freed (Shmem drops, st_blocks too
                                                          once getattr recalculates); dirty
                                                          ones stay cached
POPULATE_READ   0 everywhere                              faults the range in, fault-around
                                                          included; holes get pages
POPULATE_WRITE  0 on shared rw and private rw; EINVAL on  write faults: COW copies on
                shared r, shared r (ro fd), private r     private (Anonymous +28 kB), dirty
                                                          pages on shared
COLLAPSE        EINVAL everywhere (huge=never)            nothing
=============== ========================================= =================================

Arguments and ranges (every advice): an unaligned start is EINVAL (even with length 0);
length 0 is 0; a length that rounds up past the end of the address space (-1, -4096) is
EINVAL; a length of 1 covers a page.  A range reaching past the mapping's end answers
ENOMEM after applying the advice to the mapped part (DONTNEED, REMOVE, PAGEOUT, flags), and
the mapped part's error wins over the gap's (FREE, COLLAPSE: EINVAL).  POPULATE_* are not
per-VMA: they fault page by page from the start and stop at the first failure, so a range
starting in a gap answers ENOMEM with nothing populated, and a range crossing EOF (file of
10 pages + 100 bytes, populate pages 4..23) answers EFAULT with pages 4..10 populated
(POPULATE_READ mapped 0..10 through fault-around).

Models: mm/madvise.c (6.18): do_madvise, madvise_walk_vmas, madvise_vma_behavior,
madvise_update_vma, madvise_willneed, madvise_dontneed_free, madvise_remove,
madvise_cold, madvise_pageout, madvise_populate, madvise_collapse's entry; mm/gup.c
faultin_page_range for POPULATE; mm/vmscan.c reclaim_pages for PAGEOUT.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.debug import VM_BUG_ON
from hugetmpfs.mm.memory import handle_mm_fault
from hugetmpfs.mm.memory_unmap import zap_page_range
from hugetmpfs.mm.mm_types import (
    FAULT_FLAG_ALLOW_RETRY,
    FAULT_FLAG_KILLABLE,
    FAULT_FLAG_TRIED,
    FAULT_FLAG_WRITE,
    PTE_DIRTY,
    PTE_PFN_SHIFT,
    PTE_WRITE,
    PTE_YOUNG,
    VM_EXEC,
    VM_FAULT_ERROR,
    VM_FAULT_OOM,
    VM_FAULT_RETRY,
    VM_HUGEPAGE,
    VM_LOCKED,
    VM_MAYWRITE,
    VM_NOHUGEPAGE,
    VM_RAND_READ,
    VM_READ,
    VM_SEQ_READ,
    VM_SHARED,
    VM_WRITE,
    PageTable,
    find_vma,
)
from hugetmpfs.mm.page_flags import PG_active, PG_dirty, PG_lru, PG_referenced
from hugetmpfs.mm.page_ref import get_page
from hugetmpfs.mm.pgtable import pmd_shift, populated_pmds
from hugetmpfs.mm.swap import (
    add_page_to_lru_list,
    del_page_from_lru_list,
    isolate_lru_page,
    lru_add_drain,
    page_lru,
    put_page,
)
from hugetmpfs.mm.vma import vma_modify_flags

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine
    from hugetmpfs.mm.mm_types import VMA, MMStruct

MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED = 0, 1, 2, 3, 4
MADV_FREE, MADV_REMOVE, MADV_HUGEPAGE, MADV_NOHUGEPAGE = 8, 9, 14, 15
MADV_COLD, MADV_PAGEOUT, MADV_POPULATE_READ, MADV_POPULATE_WRITE = 20, 21, 22, 23
MADV_COLLAPSE = 25

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = ~(PAGE_SIZE - 1)
ULONG_MAX = (1 << 64) - 1
EINVAL, ENOMEM, EFAULT, EACCES = 22, 12, 14, 13
VM_SHARED_MAYWRITE = VM_SHARED | VM_MAYWRITE  # vma_is_shared_maywrite

_FLAG_ADVICE = {
    MADV_NORMAL: (VM_RAND_READ | VM_SEQ_READ, 0),
    MADV_SEQUENTIAL: (VM_RAND_READ, VM_SEQ_READ),
    MADV_RANDOM: (VM_SEQ_READ, VM_RAND_READ),
    MADV_HUGEPAGE: (VM_NOHUGEPAGE, VM_HUGEPAGE),
    MADV_NOHUGEPAGE: (VM_HUGEPAGE, VM_NOHUGEPAGE),
}  # advice -> (flags cleared, flags set)
_READ_LOCKED = frozenset(
    {MADV_REMOVE, MADV_WILLNEED, MADV_DONTNEED, MADV_FREE, MADV_COLD, MADV_PAGEOUT}
    | {MADV_POPULATE_READ, MADV_POPULATE_WRITE, MADV_COLLAPSE}
)
_VALID = frozenset(_FLAG_ADVICE) | _READ_LOCKED


def do_madvise(m: MemMachine, mm: MMStruct, start: int, len_in: int, behavior: int) -> int:
    """madvise(start, len_in, behavior): 0 or -errno (see the table above)."""
    if behavior not in _VALID or start & ~PAGE_MASK:
        return -EINVAL
    len_in &= ULONG_MAX
    length = (len_in + PAGE_SIZE - 1) & PAGE_MASK & ULONG_MAX
    if len_in and not length:
        return -EINVAL  # rounded up from a small negative
    end = start + length
    if end > ULONG_MAX:
        return -EINVAL
    if end == start:
        return 0
    sem = mm.mmap_sem
    if behavior not in _READ_LOCKED:  # these edit vm_flags
        sem.down_write()
        try:
            return madvise_walk_vmas(m, mm, start, end, behavior)
        finally:
            sem.up_write()
    sem.down_read()
    try:
        if behavior in (MADV_POPULATE_READ, MADV_POPULATE_WRITE):
            return madvise_populate(m, mm, start, end, behavior == MADV_POPULATE_WRITE)
        return madvise_walk_vmas(m, mm, start, end, behavior)
    finally:
        sem.up_read()


def madvise_walk_vmas(m: MemMachine, mm: MMStruct, start: int, end: int, behavior: int) -> int:
    """Apply the advice VMA by VMA; a gap is remembered as ENOMEM and the walk goes on,
    while a VMA's error ends it at once."""
    unmapped_error = 0
    vma = find_vma(mm, start)
    while True:
        if vma is None:
            return -ENOMEM
        if start < vma.vm_start:
            unmapped_error = -ENOMEM
            start = vma.vm_start
            if start >= end:
                break
        tmp = min(vma.vm_end, end)
        error, vma = madvise_vma_behavior(m, mm, vma, start, tmp, behavior)
        if error:
            return error
        if vma is None:  # mmap_sem was dropped: the VMAs may have changed
            vma = find_vma(mm, tmp)
            start = tmp
        else:
            start = max(tmp, vma.vm_end)
            vma = find_vma(mm, vma.vm_end)
        if start >= end:
            break
    return unmapped_error


def madvise_vma_behavior(
    m: MemMachine, mm: MMStruct, vma: VMA, start: int, end: int, behavior: int
) -> tuple[int, VMA | None]:
    """One VMA's part [start, end): (0 or -errno, the VMA now there, or None if mmap_sem
    was dropped meanwhile)."""
    if behavior == MADV_REMOVE:
        return madvise_remove(m, mm, vma, start, end), None
    if behavior == MADV_WILLNEED:
        return madvise_willneed(m, vma, start, end), vma
    if behavior in (MADV_DONTNEED, MADV_FREE):
        return madvise_dontneed_free(m, vma, start, end, behavior), vma
    if behavior in (MADV_COLD, MADV_PAGEOUT):
        return madvise_cold_or_pageout(m, vma, start, end, behavior == MADV_PAGEOUT), vma
    if behavior == MADV_COLLAPSE:
        collapse = getattr(vma.vm_file, "madvise_collapse", None)
        if collapse is None:
            return -EINVAL, vma
        return collapse(m, vma, start, end), None  # it drops and retakes mmap_sem
    cleared, added = _FLAG_ADVICE[behavior]
    # MADV_HUGEPAGE would also register the mm with khugepaged: recovery's business.
    return 0, vma_modify_flags(m, mm, vma, start, end, (vma.vm_flags & ~cleared) | added)


def madvise_willneed(m: MemMachine, vma: VMA, start: int, end: int) -> int:
    """Start reading the range in: for tmpfs, swap-in of swapped pages only (holes stay
    holes); nothing to do without swap."""
    swapin = getattr(vma.vm_file, "madvise_willneed", None)
    if swapin is not None:
        swapin(m, vma, start, end)  # shmem_swapin_range
    lru_add_drain(m)
    return 0


def madvise_dontneed_free(m: MemMachine, vma: VMA, start: int, end: int, behavior: int) -> int:
    if vma.vm_flags & VM_LOCKED:
        return -EINVAL
    if behavior == MADV_DONTNEED:
        zap_page_range(m, vma, start, end - start)
        return 0
    if vma.vm_ops is not None:
        return -EINVAL  # MADV_FREE is for anonymous memory only
    return 0  # Differs: lazy freeing of anonymous pages is not modelled


def madvise_remove(m: MemMachine, mm: MMStruct, vma: VMA, start: int, end: int) -> int:
    """Punch a hole in the file under a shared mapping that may write (VM_SHARED and
    VM_MAYWRITE: PROT_WRITE is not needed), with mmap_sem dropped around the punch."""
    if vma.vm_flags & VM_LOCKED:
        return -EINVAL
    file = vma.vm_file
    if file is None:
        return -EINVAL
    if vma.vm_flags & VM_SHARED_MAYWRITE != VM_SHARED_MAYWRITE:
        return -EACCES
    offset = (start - vma.vm_start) + (vma.vm_pgoff << PAGE_SHIFT)
    # The file's fallocate takes locks that order before mmap_sem (i_rwsem): drop it.
    # The file outlives the VMA meanwhile through the punch's own reference (get_file).
    mm.mmap_sem.up_read()
    try:
        return file.fallocate_punch(m, offset, end - start)
    finally:
        mm.mmap_sem.down_read()


# -- COLD and PAGEOUT ---------------------------------------------------------------------


def madvise_cold_or_pageout(m: MemMachine, vma: VMA, start: int, end: int, pageout: bool) -> int:
    """Deactivate (COLD) or reclaim at once (PAGEOUT) the pages mapped only here."""
    if vma.vm_flags & VM_LOCKED:
        return -EINVAL
    lru_add_drain(m)
    pages = _cold_pte_range(m, vma, start, end, pageout)
    if not pageout:
        for page in pages:
            _deactivate_page(m, page)
            put_page(m, page)
        return 0
    isolated = []
    for page in pages:
        if isolate_lru_page(m, page) == 0:
            isolated.append(page)
        put_page(m, page)
    m.reclaim_pages(m, isolated)
    return 0


def _cold_pte_range(m: MemMachine, vma: VMA, start: int, end: int, pageout: bool) -> list[int]:
    """The pages mapped by ptes of [start, end) and by no other pte, each with a reference
    taken; COLD clears their young bits.  The LRU work waits until the pte lock is
    released (lru_lock orders outside it)."""
    out: list[int] = []
    mm = vma.mm
    shift = pmd_shift(m)
    mask = m.HPAGE_PMD_NR - 1
    for pmd in populated_pmds(mm, start >> shift, (end - 1) >> shift):
        pt = mm.pmds[pmd]
        if pt.__class__ is not PageTable:
            continue  # a huge pmd: split first, as 6.18 splits a large folio (not yet)
        lo = max(start, pmd << shift)
        hi = min(end, (pmd + 1) << shift)
        first = (lo >> PAGE_SHIFT) & mask
        with pt.ptl:
            for i in range(first, first + ((hi - lo) >> PAGE_SHIFT)):
                pte = pt.ptes[i]
                if not pte:
                    continue
                page = pte >> PTE_PFN_SHIFT
                if m.mapcount[page] > 0:
                    continue  # mapped elsewhere too: its references are not ours to clear
                if not pageout and pte & PTE_YOUNG:
                    pt.ptes[i] = pte & ~PTE_YOUNG
                m.flags[page] &= ~PG_referenced
                get_page(m, page)
                out.append(page)
    return out


def _deactivate_page(m: MemMachine, page: int) -> None:
    """Move a page on an active LRU list to the inactive one (lru_deactivate)."""
    with m.lru_lock:
        if m.flags[page] & (PG_lru | PG_active) == PG_lru | PG_active:
            del_page_from_lru_list(m, page, page_lru(m, page))
            m.flags[page] &= ~(PG_active | PG_referenced)
            add_page_to_lru_list(m, page, page_lru(m, page))


# -- POPULATE -------------------------------------------------------------------------------


def madvise_populate(m: MemMachine, mm: MMStruct, start: int, end: int, write: bool) -> int:
    """Fault in [start, end) page by page as get_user_pages does (follow the pte, else
    fault), stopping at the first failure: -ENOMEM where nothing is mapped (or no memory),
    -EINVAL for a VMA that does not allow the access, -EFAULT for a SIGBUS."""
    address = start
    while address < end:
        vma = find_vma(mm, address)
        if vma is None or address < vma.vm_start:
            return -ENOMEM
        if not vma.vm_flags & (VM_WRITE if write else VM_READ | VM_WRITE | VM_EXEC):
            return -EINVAL
        stop = min(end, vma.vm_end)
        while address < stop:
            if not _follow_page(m, mm, address, write):
                error = _faultin_page(m, mm, vma, address, write)
                if error:
                    return error
                vma = find_vma(mm, address)  # mmap_sem may have been dropped
                if vma is None or address < vma.vm_start:
                    break
                continue  # follow the page again
            address += PAGE_SIZE
    lru_add_drain(m)
    return 0


def _follow_page(m: MemMachine, mm: MMStruct, address: int, write: bool) -> bool:
    """follow_page_pte with FOLL_TOUCH: is the page mapped as needed?  Marks it accessed,
    and dirty for a write (the pte is writable, so dirtying is what the write means)."""
    entry = mm.pmds.get(address >> pmd_shift(m))
    if entry is None:
        return False
    if entry.__class__ is not PageTable:
        return not write or entry.write
    pte = entry.ptes[(address >> PAGE_SHIFT) & (m.HPAGE_PMD_NR - 1)]
    if not pte or (write and not pte & PTE_WRITE):
        return False
    page = pte >> PTE_PFN_SHIFT
    if write and not pte & PTE_DIRTY:
        m.flags[page] |= PG_dirty
    m.flags[page] |= PG_referenced  # mark_page_accessed
    return True


def _faultin_page(m: MemMachine, mm: MMStruct, vma: VMA, address: int, write: bool) -> int:
    """faultin_page: 0 (follow the page again) or -errno.  After VM_FAULT_RETRY (->fault
    dropped mmap_sem) the lock is retaken and the caller looks the VMA up again; the next
    fault is made with FAULT_FLAG_TRIED, which ->fault may not answer with a retry."""
    flags = FAULT_FLAG_KILLABLE | (FAULT_FLAG_WRITE if write else 0)
    ret = handle_mm_fault(m, mm, address, flags | FAULT_FLAG_ALLOW_RETRY, vma)
    if ret & VM_FAULT_RETRY:
        mm.mmap_sem.down_read()
        vma = find_vma(mm, address)
        if vma is None or address < vma.vm_start:
            return -ENOMEM
        ret = handle_mm_fault(m, mm, address, flags | FAULT_FLAG_TRIED, vma)
        VM_BUG_ON(ret & VM_FAULT_RETRY, "->fault asked for a retry it was not allowed")
    if ret & VM_FAULT_ERROR:
        return -ENOMEM if ret & VM_FAULT_OOM else -EFAULT
    return 0
