"""Address-space layout: mmap, munmap, and where mappings go.

Callers of do_mmap and do_munmap hold mmap_sem for write; vm_mmap_pgoff and vm_munmap take
it.  The VMA list itself (linking, splitting, merging, unmapping) is mm/vma.py, as in 6.18.

Placement is top-down from ``mm.mmap_base``, deterministic.  By default a file mapping is
placed so that its address is *not* congruent to its file offset modulo HPAGE_PMD_SIZE,
so it can never be mapped by a huge pmd (the kernel's choice there depends on where
earlier mappings happened to fall; the model makes it definite, DESIGN.md §3.3).  A file
whose ``get_unmapped_area`` hook wants huge pages gets patch 07/31's congruent placement
through huge_align_unmapped_area, which the shmem layer calls from that hook.

Models: mm/mmap.c, mm/util.c (Linux 6.18's argument checks and errno order:
see sys_mmap_check_offset and do_mmap), arch/x86/kernel/sys_x86_64.c
(arch_get_unmapped_area_topdown), patch 07/31 (shmem_get_unmapped_area's alignment).
Differs: no bottom-up fallback when top-down finds no room, no overcommit accounting
(VM_ACCOUNT), no shared anonymous mappings, no mprotect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.mm_types import (
    FMODE_READ,
    FMODE_WRITE,
    VM_EXEC,
    VM_MAYEXEC,
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
    VMA,
    find_vma,
)
from hugetmpfs.mm.vma import do_vmi_munmap, get_file, vma_link, vma_merge_new_range
from hugetmpfs.mm.vma import vma_modify_flags as vma_modify_flags

if TYPE_CHECKING:
    from typing import Any

    from hugetmpfs.mm.machine import MemMachine
    from hugetmpfs.mm.mm_types import MMStruct

__all__ = [
    "do_mmap",
    "do_munmap",
    "find_vma",
    "get_unmapped_area",
    "huge_align_unmapped_area",
    "mm_get_unmapped_area",
    "sys_mmap_check_offset",
    "vm_mmap_pgoff",
    "vm_munmap",
    "vma_modify_flags",
]

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = ~(PAGE_SIZE - 1)
ULONG_MAX = (1 << 64) - 1
TASK_SIZE = (1 << 47) - PAGE_SIZE  # x86_64, 4-level page tables
MMAP_MIN_ADDR = 65536  # vm.mmap_min_addr
DEFAULT_MAX_MAP_COUNT = 65530  # vm.max_map_count

PROT_READ, PROT_WRITE, PROT_EXEC = 0x1, 0x2, 0x4
MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE, MAP_TYPE = 0x01, 0x02, 0x03, 0x0F
MAP_FIXED, MAP_ANONYMOUS = 0x10, 0x20

EINVAL, ENOMEM, EACCES, ENODEV, EOVERFLOW = 22, 12, 13, 19, 75
MAX_LFS_FILESIZE = (1 << 63) - 1
NOT_HUGE_SHIFT = 64 << 10  # where non-huge file mappings sit relative to huge alignment


# -- mmap --------------------------------------------------------------------------------------


def sys_mmap_check_offset(offset: int) -> int:
    """The check mmap(2) makes before it looks at the descriptor: an offset that is not
    page-aligned is -EINVAL (negative offsets are huge unsigned ones: they pass here and
    fail later with -EOVERFLOW).  Then ``pgoff = (offset mod 2**64) >> 12``.

    Models: arch/x86/kernel/sys_x86_64.c SYSCALL_DEFINE6(mmap)."""
    return -EINVAL if offset & ~PAGE_MASK else 0


def mmap_pgoff(offset: int) -> int:
    """The page offset ksys_mmap_pgoff receives for byte *offset* (as an unsigned long)."""
    return (offset & ULONG_MAX) >> PAGE_SHIFT


def vm_mmap_pgoff(
    m: MemMachine,
    mm: MMStruct,
    file: Any,
    addr: int,
    length: int,
    prot: int,
    flags: int,
    pgoff: int,
) -> int:
    """mmap once the descriptor is known (*file*, or None with MAP_ANONYMOUS): the address,
    or -errno.  Takes mmap_sem for write.  Models: mm/util.c vm_mmap_pgoff."""
    mm.mmap_sem.down_write()
    try:
        return do_mmap(m, mm, file, addr, length, prot, flags, pgoff)
    finally:
        mm.mmap_sem.up_write()


def do_mmap(
    m: MemMachine,
    mm: MMStruct,
    file: Any,
    addr: int,
    length: int,
    prot: int,
    flags: int,
    pgoff: int,
) -> int:
    """Create a mapping: the address or -errno, checking in 6.18's order (measured here):
    length 0 EINVAL; length rounding to 0 (negative) ENOMEM; pgoff + pages wrapping
    EOVERFLOW; too many maps ENOMEM; no room (length > TASK_SIZE) ENOMEM; offset + length
    beyond MAX_LFS_FILESIZE EOVERFLOW; a shared writable mapping of a file not open for
    writing EACCES; a bad map type EINVAL; a file not open for reading EACCES (any type).

    Models: mm/mmap.c do_mmap (6.18).
    """
    length &= ULONG_MAX
    if not length:
        return -EINVAL
    if not flags & MAP_FIXED:
        addr = _round_hint_to_min(addr & ULONG_MAX)
    length = (length + PAGE_SIZE - 1) & PAGE_MASK & ULONG_MAX
    if not length:
        return -ENOMEM
    if pgoff + (length >> PAGE_SHIFT) > ULONG_MAX:
        return -EOVERFLOW
    if len(mm.vmas) > DEFAULT_MAX_MAP_COUNT:
        return -ENOMEM
    addr = get_unmapped_area(m, mm, file, addr, length, pgoff, flags)
    if addr < 0:
        return addr
    vm_flags = _calc_vm_prot_bits(prot) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
    if file is not None:
        vm_flags = _file_vm_flags(file, pgoff, length, prot, flags, vm_flags)
        if vm_flags < 0:
            return vm_flags
    elif flags & MAP_TYPE == MAP_PRIVATE:
        pgoff = addr >> PAGE_SHIFT
    else:
        return -EINVAL  # shared anonymous memory would be shmem_zero_setup's: not modelled
    return mmap_region(m, mm, file, addr, length, vm_flags, pgoff)


def _round_hint_to_min(hint: int) -> int:
    hint &= PAGE_MASK
    if hint and hint < MMAP_MIN_ADDR:
        return MMAP_MIN_ADDR
    return hint


def _calc_vm_prot_bits(prot: int) -> int:
    return (
        (VM_READ if prot & PROT_READ else 0)
        | (VM_WRITE if prot & PROT_WRITE else 0)
        | (VM_EXEC if prot & PROT_EXEC else 0)
    )


def _file_vm_flags(file: Any, pgoff: int, length: int, prot: int, flags: int, vm_flags: int) -> int:
    """do_mmap's checks of a file mapping: the VMA's flags, or -errno."""
    if length > MAX_LFS_FILESIZE or pgoff > (MAX_LFS_FILESIZE - length) >> PAGE_SHIFT:
        return -EOVERFLOW  # file_mmap_ok
    f_mode = file.f_mode
    kind = flags & MAP_TYPE
    if kind in (MAP_SHARED, MAP_SHARED_VALIDATE):
        if prot & PROT_WRITE and not f_mode & FMODE_WRITE:
            return -EACCES
        vm_flags |= VM_SHARED | VM_MAYSHARE
        if not f_mode & FMODE_WRITE:
            vm_flags &= ~(VM_MAYWRITE | VM_SHARED)  # a read-only shared map is private
    elif kind != MAP_PRIVATE:
        return -EINVAL
    if not f_mode & FMODE_READ:
        return -EACCES
    if getattr(file, "mmap", None) is None:
        return -ENODEV
    return vm_flags


def mmap_region(
    m: MemMachine, mm: MMStruct, file: Any, addr: int, length: int, vm_flags: int, pgoff: int
) -> int:
    """Map [addr, addr+length): unmap what MAP_FIXED covers, let ->mmap set the VMA up,
    then extend a neighbour if the new VMA would merge with it, or link the new one."""
    end = addr + length
    if any(v.vm_start < end and v.vm_end > addr for v in mm.vmas):
        do_munmap(m, mm, addr, length)
    vma = VMA(mm, addr, end, pgoff, vm_flags, file)
    if file is not None:
        error = file.mmap(m, vma)
        if error:
            return error
    if vma_merge_new_range(m, mm, vma) is None:
        get_file(vma.vm_file)
        vma_link(mm, vma)
    return addr


# -- placement --------------------------------------------------------------------------------


def get_unmapped_area(
    m: MemMachine, mm: MMStruct, file: Any, addr: int, length: int, pgoff: int, flags: int
) -> int:
    """Where a new mapping goes: the file's ->get_unmapped_area if it has one, else the
    mm's default; -ENOMEM when nothing fits.  Models: mm/mmap.c __get_unmapped_area."""
    if length > TASK_SIZE - MMAP_MIN_ADDR:
        return -ENOMEM
    get_area = getattr(file, "get_unmapped_area", None) if file is not None else None
    if get_area is None:
        addr = mm_get_unmapped_area(m, mm, file, addr, length, pgoff, flags)
    else:
        addr = get_area(m, mm, addr, length, pgoff, flags)
    if addr < 0:
        return addr
    if addr > TASK_SIZE - length:
        return -ENOMEM
    if addr & ~PAGE_MASK:
        return -EINVAL
    return addr


def mm_get_unmapped_area(
    m: MemMachine, mm: MMStruct, file: Any, addr: int, length: int, pgoff: int, flags: int
) -> int:
    """The mm's default placement: MAP_FIXED as given, a free hint as given, else the
    highest room below mmap_base; a file mapping at an address congruent to its offset
    plus 64 KiB modulo HPAGE_PMD_SIZE (docs/trace-format.md, "Placement").

    Models: arch/x86/kernel/sys_x86_64.c arch_get_unmapped_area_topdown."""
    if length > TASK_SIZE - MMAP_MIN_ADDR:
        return -ENOMEM
    if flags & MAP_FIXED:
        return addr
    if addr:
        addr = (addr + PAGE_SIZE - 1) & PAGE_MASK
        if MMAP_MIN_ADDR <= addr <= TASK_SIZE - length and _range_free(mm, addr, addr + length):
            return addr
    if file is None:
        for lo, hi in _gaps_topdown(mm, MMAP_MIN_ADDR, mm.mmap_base):
            if hi - length >= lo:
                return hi - length
        return -ENOMEM
    # A file mapping goes where its address is congruent to its file offset plus
    # NOT_HUGE_SHIFT modulo HPAGE_PMD_SIZE: never PMD-mappable, and fault-around windows
    # (64 KiB aligned in the address space) line up with 64 KiB of the file.  The kernel
    # runner places its mappings by the same rule, so both see the same windows.
    size = m.HPAGE_PMD_SIZE
    shift = NOT_HUGE_SHIFT if size > NOT_HUGE_SHIFT else PAGE_SIZE
    residue = ((pgoff << PAGE_SHIFT) + shift) & (size - 1)
    for lo, hi in _gaps_topdown(mm, MMAP_MIN_ADDR, mm.mmap_base):
        addr = ((hi - length - residue) & ~(size - 1)) + residue
        if addr > hi - length:
            addr -= size
        if addr >= lo:
            return addr
    return -ENOMEM


def huge_align_unmapped_area(
    m: MemMachine, mm: MMStruct, file: Any, uaddr: int, length: int, pgoff: int, flags: int
) -> int:
    """Patch 07/31's placement for a file that may be mapped by huge pmds: an address
    congruent to the file offset modulo HPAGE_PMD_SIZE when the mapping is large enough
    to hold an aligned huge extent and no hint or MAP_FIXED says otherwise.

    The shmem layer calls this from its ->get_unmapped_area once its policy allows huge
    pages (shmem_huge != DENY, and FORCE or the mount's huge=); otherwise it calls
    mm_get_unmapped_area.  Models: mm/shmem.c shmem_get_unmapped_area (patch 07/31).
    """
    if length > TASK_SIZE:
        return -ENOMEM
    addr = mm_get_unmapped_area(m, mm, file, uaddr, length, pgoff, flags)
    if addr < 0 or addr & ~PAGE_MASK or addr > TASK_SIZE - length:
        return addr
    size = m.HPAGE_PMD_SIZE
    if length < size or flags & MAP_FIXED or uaddr:
        return addr  # too small for a huge pmd, or the caller chose: respect it
    offset = (pgoff << PAGE_SHIFT) & (size - 1)
    if offset and offset + length < 2 * size:
        return addr  # cannot contain an aligned huge extent anyway
    if addr & (size - 1) == offset:
        return addr
    inflated_len = length + size - PAGE_SIZE
    if inflated_len > TASK_SIZE:
        return addr
    inflated_addr = mm_get_unmapped_area(m, mm, None, 0, inflated_len, 0, flags)
    if inflated_addr < 0 or inflated_addr & ~PAGE_MASK:
        return addr
    inflated_offset = inflated_addr & (size - 1)
    inflated_addr += offset - inflated_offset
    if inflated_offset > offset:
        inflated_addr += size
    if inflated_addr > TASK_SIZE - length:
        return addr
    return inflated_addr


def _range_free(mm: MMStruct, lo: int, hi: int) -> bool:
    vma = find_vma(mm, lo)
    return vma is None or vma.vm_start >= hi


def _gaps_topdown(mm: MMStruct, low: int, high: int) -> list[tuple[int, int]]:
    """The free ranges [lo, hi) of [low, high), highest first."""
    gaps = []
    end = high
    for vma in reversed(mm.vmas):
        if vma.vm_start >= end:
            continue
        if vma.vm_end < end:
            gaps.append((max(vma.vm_end, low), end))
        end = vma.vm_start
        if end <= low:
            return gaps
    gaps.append((low, end))
    return gaps


# -- munmap ------------------------------------------------------------------------------------


def vm_munmap(m: MemMachine, mm: MMStruct, start: int, length: int) -> int:
    """munmap(2): 0 or -errno; takes mmap_sem for write."""
    mm.mmap_sem.down_write()
    try:
        return do_munmap(m, mm, start, length)
    finally:
        mm.mmap_sem.up_write()


def do_munmap(m: MemMachine, mm: MMStruct, start: int, length: int) -> int:
    """Unmap [start, start+length): 0 or -EINVAL (mmap_sem held for write; mm/vma.py
    do_vmi_munmap does the work)."""
    return do_vmi_munmap(m, mm, start, length)
