"""The mapping system calls traces make: mmap, munmap, madvise, user accesses, smaps.

The argument rules DESIGN.md §3.3 fixes for traces (a map handle's range, the SIGSEGV and
SIGBUS rules of ``touch``, the clipping of ``madvise``) are applied here, exactly as the
kernel runner applies them; everything past them is the mm layer's.

Models: arch/x86/kernel/sys_x86_64.c (mmap), mm/util.c, mm/mmap.c, mm/madvise.c,
fs/proc/task_mmu.c at the syscall boundary, and shmem_mmap / shmem_get_unmapped_area.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.fault import (
    ACCESS_ENOMEM,
    ACCESS_SIGBUS,
    ACCESS_SIGSEGV,
    access_pmd_run,
    access_range,
)
from hugetmpfs.mm.madvise import do_madvise
from hugetmpfs.mm.mm_types import VM_WRITE, find_vma
from hugetmpfs.mm.mmap import mmap_pgoff, sys_mmap_check_offset, vm_mmap_pgoff, vm_munmap
from hugetmpfs.mm.task_mmu import smaps_rss
from hugetmpfs.shmem.inode import SHMEM_HUGE_NEVER

if TYPE_CHECKING:
    from hugetmpfs.mm.mm_types import MMStruct
    from hugetmpfs.shmem.vfs import Task

PAGE_SIZE = 4096
EBADF, EINVAL, ENOMEM = 9, 22, 12
PROT_READ, PROT_WRITE = 0x1, 0x2
MAP_SHARED, MAP_PRIVATE = 0x01, 0x02
_SIGNALS = {ACCESS_SIGSEGV: "SIGSEGV", ACCESS_SIGBUS: "SIGBUS", ACCESS_ENOMEM: "ENOMEM"}


def round_up(n: int) -> int:
    return (n + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def sys_mmap(task: Task, fd: int, offset: int, length: int, prot: str, shared: bool) -> int:
    """mmap(NULL, length, prot, MAP_SHARED or MAP_PRIVATE, fd, offset): address or -errno."""
    error = sys_mmap_check_offset(offset)  # before the descriptor, as x86_64's sys_mmap
    if error:
        return error
    file = task.files.get(fd)
    if file is None:
        return -EBADF
    prot_bits = PROT_READ | (PROT_WRITE if prot == "rw" else 0)
    flags = MAP_SHARED if shared else MAP_PRIVATE
    return vm_mmap_pgoff(task.m, task.mm, file, 0, length, prot_bits, flags, mmap_pgoff(offset))


def sys_munmap(task: Task, addr: int, length: int) -> int:
    return vm_munmap(task.m, task.mm, addr, length)


def sys_touch(
    task: Task, addr: int, maplen: int, offset: int, length: int, stride: int, byte: int | None
) -> tuple[str | None, int]:
    """The trace op ``touch``: (None, 0), or (signal or errno name, accesses made).

    One access at ``offset + k*stride`` for each k with ``k*stride < length``.  The accesses
    that fall in one page are made together once the page is mapped, since they cannot
    fault in between (mm/fault.py access_range).
    """
    m, mm = task.m, task.mm
    write = byte is not None
    span = round_up(maplen)
    never = task.sb.huge == SHMEM_HUGE_NEVER
    k = 0
    while k * stride < length:
        off = offset + k * stride
        signal = _precheck(mm, addr + off, off, span, write, never)
        if signal:
            return signal, k  # DESIGN.md §3.3: the failing access is not made
        n = _same_page_accesses(off, k, stride, length)
        ret = access_range(m, mm, addr + off, n, stride, write, byte)
        if ret:
            return _SIGNALS[ret], k
        k += n
        if stride >= PAGE_SIZE and not never:
            k += _pmd_mapped_run(task, addr, span, offset, length, stride, byte, k)
    return None, 0


def _pmd_mapped_run(
    task: Task,
    addr: int,
    span: int,
    offset: int,
    length: int,
    stride: int,
    byte: int | None,
    k: int,
) -> int:
    """The accesses from the k-th on that a huge pmd already maps and permits, made at once:
    how many.  Between accesses that cannot fault nothing else runs, so _precheck's answer
    is the same for each of them inside one VMA (its SIGBUS rule is for huge=never mounts
    only), and the MMU finds the same pmd (mm/fault.py access_pmd_run)."""
    off = offset + k * stride
    if k * stride >= length or off >= span:
        return 0
    address = addr + off
    vma = find_vma(task.mm, address)
    if vma is None or address < vma.vm_start:
        return 0
    write = byte is not None
    if write and not vma.vm_flags & VM_WRITE:
        return 0
    # accesses j >= k with j*stride < length and offset + j*stride < span, below vm_end
    end = min(addr + offset + length, addr + span, vma.vm_end)
    return access_pmd_run(task.m, task.mm, address, end, stride, write, byte)


def _same_page_accesses(off: int, k: int, stride: int, length: int) -> int:
    """How many accesses from the k-th on fall in the page of offset *off*."""
    in_page = (PAGE_SIZE - (off & (PAGE_SIZE - 1)) + stride - 1) // stride
    remaining = (length - k * stride + stride - 1) // stride
    return min(in_page, remaining)


def _precheck(
    mm: MMStruct, address: int, off: int, span: int, write: bool, never: bool
) -> str | None:
    """DESIGN.md §3.3's rules, in their order: outside the mapping or a write to a
    read-only one is SIGSEGV; on huge=never, at or past the page-rounded EOF is SIGBUS."""
    if off < 0 or off >= span:
        return "SIGSEGV"
    vma = find_vma(mm, address)
    if vma is None or address < vma.vm_start:
        return "SIGSEGV"
    if write and not vma.vm_flags & VM_WRITE:
        return "SIGSEGV"
    if never and vma.vm_file is not None:
        pos = (vma.vm_pgoff << 12) + (address - vma.vm_start)
        if pos >= round_up(vma.vm_file.f_mapping.host.i_size):
            return "SIGBUS"
    return None


def sys_madvise(task: Task, mapping: tuple[int, int], offset: int, length: int, advice: int) -> int:
    """madvise over a mapping-relative range, clipped to the mapping (DESIGN.md §3.3).

    mm/madvise.c checks its arguments before any VMA: an unaligned start or a negative
    length is EINVAL, an empty range succeeds.  A range reaching outside the mapping is
    applied to the mapped part and answers ENOMEM, unless the mapped part failed first.
    """
    addr, maplen = mapping
    if offset & (PAGE_SIZE - 1) or length < 0:
        return -EINVAL
    if length == 0:
        return 0
    start, end = offset, offset + round_up(length)
    lo, hi = max(start, 0), min(end, round_up(maplen))
    if lo >= hi:
        return -ENOMEM
    if (lo, hi) == (start, end):
        return do_madvise(task.m, task.mm, addr + offset, length, advice)
    error = do_madvise(task.m, task.mm, addr + lo, hi - lo, advice)
    return error or -ENOMEM


def sys_smaps(task: Task, addr: int, length: int) -> tuple[int, int]:
    """(Rss, ShmemPmdMapped) in kB over the mapping's own range."""
    return smaps_rss(task.m, task.mm, addr, addr + round_up(length))
