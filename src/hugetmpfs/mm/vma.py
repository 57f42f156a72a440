"""VMAs: linking, splitting, merging and unmapping them (Linux 6.18's mm/vma.c).

``mm.vmas`` is the sorted VMA list (the kernel's maple tree); a file VMA is also on its
file's ``f_mapping.i_mmap``, changed under i_mmap_rwsem held for write (rmap walkers read
vm_start and vm_pgoff under it), and a VMA with COW pages on its anon_vma's list.  Callers
hold mmap_sem for write.  A VMA holds a reference on its file, taken and dropped through
the file's optional ``get_file()`` and ``fput(m)``.

Models: mm/vma.c (6.18): __split_vma, vma_merge_new_range, vma_modify_flags,
do_vmi_munmap / do_vmi_align_munmap / unmap_region; mm/huge_memory.c
split_huge_pmd_address (patch 10/31).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from operator import attrgetter
from typing import TYPE_CHECKING

from hugetmpfs.mm.huge_memory import remap_team_by_ptes
from hugetmpfs.mm.memory_unmap import unmap_vmas
from hugetmpfs.mm.mm_types import VMA, HugePmd, find_vma
from hugetmpfs.mm.pgtable import free_pgtables, pmd_shift
from hugetmpfs.mm.rmap import anon_vma_clone, unlink_anon_vmas
from hugetmpfs.mm.swap import release_pages

if TYPE_CHECKING:
    from typing import Any

    from hugetmpfs.mm.machine import MemMachine
    from hugetmpfs.mm.mm_types import MMStruct

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = ~(PAGE_SIZE - 1)
ULONG_MAX = (1 << 64) - 1
TASK_SIZE = (1 << 47) - PAGE_SIZE
EINVAL = 22

_VM_START = attrgetter("vm_start")


def vma_link(mm: MMStruct, vma: VMA) -> None:
    """Insert *vma* into the mm's list and its file's i_mmap."""
    insort(mm.vmas, vma, key=_VM_START)
    if vma.vm_file is not None:
        mapping = vma.vm_file.f_mapping
        mapping.i_mmap_rwsem.down_write()
        mapping.i_mmap.append(vma)
        mapping.i_mmap_rwsem.up_write()


def _unlink_file_vma(vma: VMA) -> None:
    if vma.vm_file is not None:
        mapping = vma.vm_file.f_mapping
        mapping.i_mmap_rwsem.down_write()
        mapping.i_mmap.remove(vma)
        mapping.i_mmap_rwsem.up_write()


def get_file(file: Any) -> None:
    get = getattr(file, "get_file", None)
    if get is not None:
        get()


def fput(m: MemMachine, file: Any) -> None:
    put = getattr(file, "fput", None)
    if put is not None:
        put(m)


def _resize(vma: VMA, start: int, end: int, pgoff: int) -> None:
    """Change a linked VMA's bounds where rmap walkers can see it: under i_mmap_rwsem."""
    mapping = vma.vm_file.f_mapping if vma.vm_file is not None else None
    if mapping is not None:
        mapping.i_mmap_rwsem.down_write()
    vma.vm_start, vma.vm_end, vma.vm_pgoff = start, end, pgoff
    if mapping is not None:
        mapping.i_mmap_rwsem.up_write()


def split_huge_pmd_address(m: MemMachine, vma: VMA, address: int) -> None:
    """A VMA boundary at *address* inside a huge pmd: map that team by ptes first.

    Models: mm/huge_memory.c split_huge_pmd_address (patch 10/31: remap_team_by_ptes)."""
    shift = pmd_shift(m)
    if address & ((1 << shift) - 1) and vma.mm.pmds.get(address >> shift).__class__ is HugePmd:
        remap_team_by_ptes(m, vma, address, address >> shift)


def __split_vma(m: MemMachine, mm: MMStruct, vma: VMA, addr: int, new_below: bool) -> VMA:
    """Cut *vma* at *addr*; the new VMA is the part below (*new_below*) or above, and is
    returned; *vma* keeps the other part."""
    split_huge_pmd_address(m, vma, addr)
    delta = (addr - vma.vm_start) >> PAGE_SHIFT
    if new_below:
        new = VMA(mm, vma.vm_start, addr, vma.vm_pgoff, vma.vm_flags, vma.vm_file, vma.vm_ops)
        _resize(vma, addr, vma.vm_end, vma.vm_pgoff + delta)
    else:
        new = VMA(mm, addr, vma.vm_end, vma.vm_pgoff + delta, vma.vm_flags, vma.vm_file)
        new.vm_ops = vma.vm_ops
        _resize(vma, vma.vm_start, addr, vma.vm_pgoff)
    anon_vma_clone(new, vma)
    get_file(new.vm_file)
    vma_link(mm, new)
    return new


def _can_merge(a: VMA, b: VMA) -> bool:
    """Whether *a*, just below *b*, and *b* could be one VMA (is_mergeable_vma, anon_vma
    and pgoff continuity)."""
    return (
        a.vm_end == b.vm_start
        and a.vm_flags == b.vm_flags
        and a.vm_file is b.vm_file
        and a.vm_ops is b.vm_ops
        and a.vm_pgoff + ((a.vm_end - a.vm_start) >> PAGE_SHIFT) == b.vm_pgoff
        and (a.anon_vma is None or b.anon_vma is None or a.anon_vma is b.anon_vma)
    )


def _absorb(m: MemMachine, mm: MMStruct, keep: VMA, gone: VMA) -> None:
    """*keep* has grown over *gone*, a linked VMA: take *gone* away."""
    if keep.anon_vma is None and gone.anon_vma is not None:
        anon_vma_clone(keep, gone)
    mm.vmas.remove(gone)
    _unlink_file_vma(gone)
    unlink_anon_vmas(gone)
    fput(m, gone.vm_file)


def _neighbours(mm: MMStruct, start: int, end: int) -> tuple[VMA | None, VMA | None]:
    """The linked VMAs ending exactly at *start* and starting exactly at *end*."""
    vmas = mm.vmas
    i = bisect_left(vmas, start, key=_VM_START)
    prev = vmas[i - 1] if i and vmas[i - 1].vm_end == start else None
    j = bisect_left(vmas, end, key=_VM_START)
    nxt = vmas[j] if j < len(vmas) and vmas[j].vm_start == end else None
    return prev, nxt


def vma_merge_new_range(m: MemMachine, mm: MMStruct, vma: VMA) -> VMA | None:
    """Grow a neighbour over the not yet linked *vma* if they merge; the VMA it became."""
    prev, nxt = _neighbours(mm, vma.vm_start, vma.vm_end)
    to_prev = prev is not None and _can_merge(prev, vma)
    to_next = nxt is not None and _can_merge(vma, nxt)
    # Both neighbours merge with it: they merge with each other unless their anon_vmas
    # differ (flags, file and offsets continue through the new VMA).
    if (
        to_prev
        and to_next
        and (prev.anon_vma is None or nxt.anon_vma is None or prev.anon_vma is nxt.anon_vma)
    ):
        _resize(prev, prev.vm_start, nxt.vm_end, prev.vm_pgoff)
        _absorb(m, mm, prev, nxt)
        return prev
    if to_prev:
        _resize(prev, prev.vm_start, vma.vm_end, prev.vm_pgoff)
        return prev
    if to_next:
        _resize(nxt, vma.vm_start, nxt.vm_end, vma.vm_pgoff)
        return nxt
    return None


def vma_modify_flags(
    m: MemMachine, mm: MMStruct, vma: VMA, start: int, end: int, flags: int
) -> VMA:
    """Give [start, end) of *vma* the flags *flags*, splitting it and merging the result
    with its neighbours as 6.18's vma_modify_flags ends up doing; the VMA now covering
    [start, end) (perhaps more, after a merge)."""
    if flags == vma.vm_flags:
        return vma
    if start > vma.vm_start:
        __split_vma(m, mm, vma, start, new_below=True)
    if end < vma.vm_end:
        __split_vma(m, mm, vma, end, new_below=False)
    vma.vm_flags = flags
    prev, nxt = _neighbours(mm, vma.vm_start, vma.vm_end)
    if nxt is not None and _can_merge(vma, nxt):
        _resize(vma, vma.vm_start, nxt.vm_end, vma.vm_pgoff)
        _absorb(m, mm, vma, nxt)
    if prev is not None and _can_merge(prev, vma):
        _resize(prev, prev.vm_start, vma.vm_end, prev.vm_pgoff)
        _absorb(m, mm, prev, vma)
        return prev
    return vma


def do_vmi_munmap(m: MemMachine, mm: MMStruct, start: int, length: int) -> int:
    """Unmap [start, start+length), splitting the VMAs at its ends: 0 or -EINVAL.

    The VMAs leave the mm first, then their ptes are zapped, then they leave i_mmap and
    their anon_vma (so rmap walkers no longer reach their tables), then the tables nobody
    covers are freed, and last the pages' references dropped.

    Models: mm/vma.c do_vmi_munmap, do_vmi_align_munmap, unmap_region (6.18).
    """
    length &= ULONG_MAX
    if start & ~PAGE_MASK or start > TASK_SIZE or length > TASK_SIZE - start:
        return -EINVAL
    length = (length + PAGE_SIZE - 1) & PAGE_MASK
    if not length:
        return -EINVAL
    end = start + length
    vma = find_vma(mm, start)
    if vma is None or vma.vm_start >= end:
        return 0
    if start > vma.vm_start:
        __split_vma(m, mm, vma, start, new_below=True)
    last = find_vma(mm, end - 1)
    if last is not None and last.vm_start < end < last.vm_end:
        __split_vma(m, mm, last, end, new_below=False)
    victims = [v for v in mm.vmas if v.vm_start < end and v.vm_end > start]
    for v in victims:
        mm.vmas.remove(v)
    tlb: list[int] = []
    unmap_vmas(m, victims, start, end, tlb)
    for v in victims:
        _unlink_file_vma(v)
        unlink_anon_vmas(v)
    free_pgtables(m, mm, start, end)
    release_pages(m, tlb, cold=False)  # tlb_finish_mmu
    for v in victims:
        fput(m, v.vm_file)
    return 0
