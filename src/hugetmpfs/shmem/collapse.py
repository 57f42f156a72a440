"""MADV_COLLAPSE on a huge tmpfs mapping: recovery of each extent, run synchronously.

An extension beyond the series (which has no MADV_COLLAPSE): upstream collapses each
PMD-aligned extent of the range and answers 0 when every one is huge at the end, else the
errno of the last failure.  The model runs the recovery work itself for each extent in
the calling task, exactly as a kworker would run it (the same counters count it), with
mmap_sem dropped around it as upstream's collapse drops it: the remap takes it for
writing.  An extent with no page at all first gets its head page instantiated through
the normal allocation path (a new team where a huge page is free), so that there is a
page to recover from.

An extent whose recovery is queued already is waited for, then finished.  Answers
(upstream's madvise_collapse_errno): 0; -EAGAIN when the extent was left partial; -ENOMEM
when no huge page was free; -EINVAL for a mount without huge pages, a VMA not congruent with
the file or holding no whole aligned extent, a range holding no whole extent, an extent
wholly beyond EOF, or a recovery that failed.

Models: mm/khugepaged.c madvise_collapse (Linux 6.18), over mm/shmem.c
shmem_recovery_work (patch 23/31).  docs/recovery.md has the details.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.filemap import find_get_entry, unlock_page
from hugetmpfs.mm.mm_types import HugePmd, linear_page_index
from hugetmpfs.mm.page_flags import PG_checked, PG_team
from hugetmpfs.mm.radix_tree import radix_tree_exceptional_entry
from hugetmpfs.mm.swap import put_page
from hugetmpfs.shmem.getpage import SGP_CACHE, shmem_getpage_gfp
from hugetmpfs.shmem.huge import SHMEM_HUGE_DENY, SHMEM_HUGE_FORCE
from hugetmpfs.shmem.inode import SHMEM_HUGE_NEVER
from hugetmpfs.shmem.recovery import Recovery, recovery_enlist, shmem_recovery_run

if TYPE_CHECKING:
    from hugetmpfs.mm.mm_types import VMA
    from hugetmpfs.shmem.inode import ShmemInodeInfo
    from hugetmpfs.shmem.machine import Machine

EAGAIN, ENOMEM, EINVAL = 11, 12, 22


def shmem_madvise_collapse(m: Machine, vma: VMA, start: int, end: int) -> int:
    """MADV_COLLAPSE of [start, end) of *vma*, called with mmap_sem held for reading (it is
    dropped and retaken: the caller must look the VMA up again)."""
    inode = vma.vm_file.f_mapping.host
    shmem_huge = m.sysctl.shmem_huge
    if shmem_huge == SHMEM_HUGE_DENY or (
        shmem_huge != SHMEM_HUGE_FORCE and inode.sb.huge == SHMEM_HUGE_NEVER
    ):
        return -EINVAL
    size = m.HPAGE_PMD_SIZE
    # thp_vma_suitable_order: the VMA must be congruent with the file and hold one whole
    # aligned extent, whatever the range asked
    first = (vma.vm_start + size - 1) & ~(size - 1)
    if ((vma.vm_start >> 12) - vma.vm_pgoff) & (m.HPAGE_PMD_NR - 1) or first + size > vma.vm_end:
        return -EINVAL
    hstart, hend = (start + size - 1) & ~(size - 1), end & ~(size - 1)
    if hstart > hend:
        return -EINVAL  # no whole extent: upstream's unsigned count cannot match
    mm = vma.mm
    wanted = thps = 0
    last = -EINVAL
    for addr in range(hstart, hend, size):
        wanted += 1
        pgoff = linear_page_index(vma, addr)
        if pgoff & (m.HPAGE_PMD_NR - 1):
            last = -EINVAL  # cannot be mapped hugely here
            continue
        if mm.pmds.get(addr >> (12 + m.HPAGE_PMD_ORDER)).__class__ is HugePmd:
            thps += 1  # mapped hugely already
            continue
        mm.mmap_sem.up_read()
        try:
            error = _collapse_extent(m, inode, vma, pgoff)
        finally:
            mm.mmap_sem.down_read()
        if error:
            last = error
        else:
            thps += 1
    return 0 if thps == wanted else last


def _collapse_extent(m: Machine, inode: ShmemInodeInfo, vma: VMA, head_index: int) -> int:
    mapping = inode.mapping
    if head_index << 12 >= inode.i_size:
        return -EINVAL
    page = _some_page(m, inode, head_index)
    if page is None:
        return -ENOMEM
    r = Recovery(vma.mm, inode, page, head_index)
    while not recovery_enlist(m, r):
        # a work is on the extent already: wait for it, then finish what it left
        m.engine.block_on(("recovery", inode, head_index), "madvise_collapse:wait")
    error = shmem_recovery_run(m, r)
    if error in (-ENOMEM, -EAGAIN, -EINVAL):
        return error
    head = _find_get_page(m, mapping, head_index)
    if head is None:
        return -EAGAIN
    done = m.flags[head] & (PG_team | PG_checked) == PG_team | PG_checked
    put_page(m, head)
    return 0 if done else -EAGAIN if error == 0 else -EINVAL


def _some_page(m: Machine, inode: ShmemInodeInfo, head_index: int) -> int | None:
    """A referenced page of the extent to recover from: the first cached one, or the head
    page instantiated now (through the huge allocation path)."""
    mapping = inode.mapping
    for index, _ in mapping.page_tree.gang_lookup(
        head_index, m.HPAGE_PMD_NR, head_index + m.HPAGE_PMD_NR
    ):
        page = _find_get_page(m, mapping, index)
        if page is not None:
            return page
    error, page = shmem_getpage_gfp(m, inode, head_index, SGP_CACHE, inode.mapping.gfp_mask)
    if error or page is None:
        return None
    unlock_page(m, page)
    return page


def _find_get_page(m: Machine, mapping: object, index: int) -> int | None:
    """find_get_page: the referenced page at *index*, or None (a hole or a swap entry)."""
    entry = find_get_entry(m, mapping, index)
    if entry is None or radix_tree_exceptional_entry(entry):
        return None
    return entry
