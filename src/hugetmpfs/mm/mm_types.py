"""Processes' address spaces: struct mm_struct, vm_area_struct, vm_fault and their flags.

Models: include/linux/mm_types.h, include/linux/mm.h (v4.6-rc2, with patches 07, 09 and 10
of 31: FAULT_FLAG_MAY_HUGE, VM_FAULT_HUGE).

Page tables have the pmd level the series needs: ``mm.pmds`` maps a pmd number
(``addr >> PMD_SHIFT``, where a pmd covers HPAGE_PMD_NR pages) to either a
:class:`PageTable` of ptes or a :class:`HugePmd` mapping a whole team by its head.
A pte is an int: 0 when none, else ``pfn << PTE_PFN_SHIFT | PTE_* bits``.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Protocol

from hugetmpfs.sim import RWSem, SpinLock

if TYPE_CHECKING:
    from hugetmpfs.mm.filemap import AddressSpace
    from hugetmpfs.mm.machine import MemMachine

# vm_flags (include/linux/mm.h)
VM_READ = 0x1
VM_WRITE = 0x2
VM_EXEC = 0x4
VM_SHARED = 0x8
VM_MAYREAD = 0x10
VM_MAYWRITE = 0x20
VM_MAYEXEC = 0x40
VM_MAYSHARE = 0x80
VM_LOCKED = 0x2000
VM_SEQ_READ = 0x8000
VM_RAND_READ = 0x10000
VM_HUGEPAGE = 0x20000000
VM_NOHUGEPAGE = 0x40000000

# fault flags (include/linux/mm.h; MAY_HUGE from patch 07/31)
FAULT_FLAG_WRITE = 0x01
FAULT_FLAG_ALLOW_RETRY = 0x04
FAULT_FLAG_KILLABLE = 0x10
FAULT_FLAG_TRIED = 0x20
FAULT_FLAG_USER = 0x40
FAULT_FLAG_REMOTE = 0x80
FAULT_FLAG_MAY_HUGE = 0x200

# fault results (include/linux/mm.h; VM_FAULT_HUGE from patch 07/31)
VM_FAULT_OOM = 0x0001
VM_FAULT_SIGBUS = 0x0002
VM_FAULT_MAJOR = 0x0004
VM_FAULT_WRITE = 0x0008
VM_FAULT_HWPOISON = 0x0010
VM_FAULT_SIGSEGV = 0x0040
VM_FAULT_HUGE = 0x0080
VM_FAULT_NOPAGE = 0x0100
VM_FAULT_LOCKED = 0x0200
VM_FAULT_RETRY = 0x0400
VM_FAULT_FALLBACK = 0x0800
VM_FAULT_ERROR = VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_HWPOISON

# pte bits (an int per pte; the model's own encoding)
PTE_PRESENT = 0x1
PTE_WRITE = 0x2
PTE_DIRTY = 0x4
PTE_YOUNG = 0x8
PTE_PFN_SHIFT = 4


def pte_pfn(pte: int) -> int:
    return pte >> PTE_PFN_SHIFT


def mk_pte(page: int, write: bool, dirty: bool = False) -> int:
    return (
        page << PTE_PFN_SHIFT
        | PTE_PRESENT
        | PTE_YOUNG
        | (PTE_WRITE if write else 0)
        | (PTE_DIRTY if dirty else 0)
    )


# f_mode bits of an open file (include/linux/fs.h)
FMODE_READ = 0x1
FMODE_WRITE = 0x2


class PageTable:
    """One page of ptes under a pmd (``HPAGE_PMD_NR`` entries); ``page`` is its own frame.

    ``ptl`` is the table's own pte lock (split ptlocks, as x86_64 has them), so faults in
    different tables of one mm do not serialise; mm/pgtable.py makes it.
    """

    __slots__ = ("nr_present", "page", "ptes", "ptl")

    def __init__(self, nr: int, page: int, ptl: SpinLock | None = None) -> None:
        self.ptes = [0] * nr
        self.nr_present = 0
        self.page = page
        self.ptl = ptl


@dataclass
class HugePmd:
    """A pmd mapping a complete team by its head (patch 10/31), with its deposited table."""

    head: int
    write: bool
    deposited: PageTable | None
    dirty: bool = True
    young: bool = True


class VmOperations(Protocol):
    """vm_operations_struct: what a file mapping's faults call (shmem_vm_ops)."""

    def fault(self, m: MemMachine, vma: VMA, vmf: Vmf) -> int:
        """->fault: find or create the page at ``vmf.pgoff``; set ``vmf.page`` (locked,
        with a reference) and return VM_FAULT_* bits (VM_FAULT_LOCKED on success)."""
        ...

    def map_pages(
        self, m: MemMachine, vma: VMA, vmf: Vmf, start_pgoff: int, end_pgoff: int
    ) -> int | None:
        """->map_pages: fault-around (filemap_map_pages for shmem); VM_FAULT_NOPAGE when it
        mapped the faulting address itself (6.18), else 0 (None is taken as 0)."""
        ...


class MmapFile(Protocol):
    """What do_mmap and madvise need of ``vma.vm_file`` (struct file and its f_op).

    ``f_mapping.host`` must have ``i_size`` (fault-around stops at EOF).  Optional members,
    looked up with getattr: ``get_unmapped_area(m, mm, addr, length, pgoff, flags) -> int``
    (f_op->get_unmapped_area; absent or None: the mm's default placement),
    ``madvise_willneed(m, vma, start, end) -> int`` (shmem_swapin_range; absent: no-op)
    and ``madvise_collapse(m, vma, start, end) -> int`` (absent: -EINVAL, as huge=never).
    """

    f_mode: int  # FMODE_READ | FMODE_WRITE
    f_mapping: AddressSpace

    def mmap(self, m: MemMachine, vma: VMA) -> int:
        """->mmap (shmem_mmap): set ``vma.vm_ops``; 0 or -errno."""
        ...

    def fallocate_punch(self, m: MemMachine, offset: int, length: int) -> int:
        """vfs_fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) for MADV_REMOVE, with
        vfs_fallocate's own checks (FMODE_WRITE: -EBADF); 0 or -errno."""
        ...


@dataclass(slots=True)
class Vmf:
    """struct vm_fault."""

    address: int
    pgoff: int
    flags: int
    page: int | None = None
    cow_page: int | None = None
    prealloc_pte: PageTable | None = None  # 6.18: fault-around's table for an empty pmd


@dataclass(eq=False)
class VMA:
    """struct vm_area_struct: [vm_start, vm_end) of one mm mapping a file from vm_pgoff."""

    mm: MMStruct
    vm_start: int
    vm_end: int
    vm_pgoff: int
    vm_flags: int
    vm_file: Any = None  # the open file, an MmapFile (its mapping is vm_file.f_mapping)
    vm_ops: VmOperations | None = None
    anon_vma: Any = None  # set once a private write copied a page (COW)

    def __repr__(self) -> str:
        return f"<vma {self.vm_start:#x}-{self.vm_end:#x} pgoff {self.vm_pgoff:#x}>"


@dataclass(eq=False)
class MMStruct:
    """struct mm_struct: a process's VMAs, page tables, rss counters and locks."""

    m: Any
    vmas: list[VMA] = field(default_factory=list)  # sorted by vm_start
    pmds: dict[int, PageTable | HugePmd] = field(default_factory=dict)
    mmap_sem: RWSem = field(init=False)
    mm_users: int = 1
    mm_count: int = 1
    owner: Any = None
    nr_ptes: int = 0
    rss: dict[str, int] = field(
        default_factory=lambda: {"MM_FILEPAGES": 0, "MM_ANONPAGES": 0, "MM_SHMEMPAGES": 0}
    )
    mmap_base: int = 0x7F00_0000_0000
    # mm->page_table_lock, which is the pmd lock here (one per mm rather than one per pmd
    # table: a pmd table spans 1 GiB, more than the model's address spaces use).
    page_table_lock: SpinLock = field(init=False)

    def __post_init__(self) -> None:
        self.mmap_sem = RWSem(self.m.engine, "mmap_sem", "mmap_sem")
        self.m.mms.append(self)  # the machine's registry of live mms (mmput removes it)
        self.page_table_lock = SpinLock(self.m.engine, "pmd_lock", "page_table_lock")


_VM_END = attrgetter("vm_end")


def find_vma(mm: MMStruct, addr: int) -> VMA | None:
    """The first VMA with ``addr < vm_end`` (it may start above *addr*), or None.

    Models: mm/mmap.c find_vma (here because the fault path needs it and mm/mmap.py
    imports mm/memory.py; mm/mmap.py re-exports it).
    """
    vmas = mm.vmas
    i = bisect_right(vmas, addr, key=_VM_END)
    return vmas[i] if i < len(vmas) else None


def linear_page_index(vma: VMA, address: int) -> int:
    """The file page index *address* maps in *vma* (include/linux/pagemap.h)."""
    return ((address - vma.vm_start) >> 12) + vma.vm_pgoff
