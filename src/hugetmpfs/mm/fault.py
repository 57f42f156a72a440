"""User loads and stores: the MMU's walk of the page tables and the page-fault handler.

This is how a trace's ``touch`` reaches memory.  An access whose pte is present and allows
it is made at once, setting the pte's young (and dirty) bits as the MMU does, and takes no
lock: the MMU's walk is atomic, so it is one step of the model.  Otherwise the access
faults: mmap_sem is taken for read, the VMA and its permissions checked (SIGSEGV), the
fault handled, and the access retried; a fault that fails gives SIGBUS, or ENOMEM when it
found no memory (6.18 would run the OOM killer; DESIGN.md §3.4 makes that ENOMEM).

Models: arch/x86/mm/fault.c do_user_addr_fault, access_error (6.18's visible behaviour,
v4.6's retry: FAULT_FLAG_ALLOW_RETRY once, then FAULT_FLAG_TRIED).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.costs import FAULT_NS
from hugetmpfs.mm.highmem import MIXED, page_fill, page_read
from hugetmpfs.mm.memory import handle_mm_fault
from hugetmpfs.mm.mm_types import (
    FAULT_FLAG_ALLOW_RETRY,
    FAULT_FLAG_KILLABLE,
    FAULT_FLAG_TRIED,
    FAULT_FLAG_USER,
    FAULT_FLAG_WRITE,
    PTE_DIRTY,
    PTE_PFN_SHIFT,
    PTE_WRITE,
    PTE_YOUNG,
    VM_EXEC,
    VM_FAULT_ERROR,
    VM_FAULT_OOM,
    VM_FAULT_RETRY,
    VM_FAULT_SIGSEGV,
    VM_READ,
    VM_WRITE,
    PageTable,
    find_vma,
)
from hugetmpfs.mm.page_alloc import POISON

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine
    from hugetmpfs.mm.mm_types import MMStruct

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT

# What an access ends with, as negated signal or errno numbers.
ACCESS_SIGBUS = -7
ACCESS_SIGSEGV = -11
ACCESS_ENOMEM = -12


def access_address(
    m: MemMachine, mm: MMStruct, address: int, write: bool, byte: int | None = None
) -> int:
    """One user load (or store of *byte*) at *address*: 0, or ACCESS_SIGSEGV (no VMA there,
    or a store to a read-only VMA), ACCESS_SIGBUS, ACCESS_ENOMEM (the fault found no
    memory).  A mapped, permitted access costs no fault; otherwise the fault is handled as
    the kernel's page-fault handler does and the access retried.  Reading garbage (a
    poisoned page) raises PoisonError: that is a model bug found.
    """
    while True:
        page = _mmu_walk(m, mm, address, write)
        if page >= 0:
            _access(m, page, address & (PAGE_SIZE - 1), 1, 1, write, byte)
            return 0
        ret = _user_fault(m, mm, address, write)
        if ret:
            return ret


def access_range(
    m: MemMachine, mm: MMStruct, address: int, n: int, stride: int, write: bool, byte: int | None
) -> int:
    """*n* accesses at ``address + k*stride``, all inside one page, as access_address makes
    them: once the first is made the page is mapped, so the rest cannot fault (the batch is
    one step of the model, as the CPU's accesses to a mapped page are).  Returns 0 or the
    first access's failure (then none was made)."""
    while True:
        page = _mmu_walk(m, mm, address, write)
        if page >= 0:
            _access(m, page, address & (PAGE_SIZE - 1), n, stride, write, byte)
            return 0
        ret = _user_fault(m, mm, address, write)
        if ret:
            return ret


def access_pmd_run(
    m: MemMachine, mm: MMStruct, address: int, end: int, stride: int, write: bool, byte: int | None
) -> int:
    """Single accesses at ``address + j*stride`` below *end* (stride >= PAGE_SIZE), as long as
    they stay in the huge pmd mapping *address* and it permits them: made as access_range
    makes them once mapped (the MMU walk of each sets the pmd's young and dirty bits, then
    the access), with no walk needed to find the pmd again.  Returns how many were made,
    0 when *address* is not mapped so."""
    entry = mm.pmds.get(address >> (m.HPAGE_PMD_ORDER + PAGE_SHIFT))
    if entry is None or entry.__class__ is PageTable or (write and not entry.write):
        return 0
    end = min(end, (address | (m.HPAGE_PMD_SIZE - 1)) + 1)
    if address >= end:
        return 0
    entry.young = True  # each walk sets them: once is the same
    if write:
        entry.dirty = True
    mask, head = m.HPAGE_PMD_NR - 1, entry.head
    content, data = m.content, m.data
    accesses = range(address, end, stride)
    for address in accesses:
        page = head + ((address >> PAGE_SHIFT) & mask)
        code = content[page]
        if write:  # _access, inline
            if code != byte:
                if code >= 0:  # page_fill's one byte stored into a plain page, inline
                    data[page] = (code, address & (PAGE_SIZE - 1), byte)
                    content[page] = MIXED
                else:
                    page_fill(m, page, address & (PAGE_SIZE - 1), 1, byte)
        elif code == POISON:
            page_read(m, page, address & (PAGE_SIZE - 1), 1)  # raises PoisonError
    return len(accesses)


def _mmu_walk(m: MemMachine, mm: MMStruct, address: int, write: bool) -> int:
    """The page an access may use at once (setting the pte's young and dirty bits as the
    MMU does), or -1 when it needs a fault."""
    entry = mm.pmds.get(address >> (m.HPAGE_PMD_ORDER + PAGE_SHIFT))
    if entry is None:
        return -1
    if entry.__class__ is PageTable:
        ptes = entry.ptes
        i = (address >> PAGE_SHIFT) & (m.HPAGE_PMD_NR - 1)
        pte = ptes[i]
        if not pte or (write and not pte & PTE_WRITE):
            return -1
        bits = PTE_YOUNG | PTE_DIRTY if write else PTE_YOUNG
        if pte & bits != bits:
            ptes[i] = pte | bits
        return pte >> PTE_PFN_SHIFT
    if write and not entry.write:
        return -1
    entry.young = True
    if write:
        entry.dirty = True
    return entry.head + ((address >> PAGE_SHIFT) & (m.HPAGE_PMD_NR - 1))


def _access(
    m: MemMachine, page: int, offset: int, n: int, stride: int, write: bool, byte: int | None
) -> None:
    if write:
        if stride == 1 or n == 1:
            page_fill(m, page, offset, n, byte)
        else:
            for k in range(n):
                page_fill(m, page, offset + k * stride, 1, byte)
    elif m.content[page] == POISON:
        page_read(m, page, offset, 1)  # raises PoisonError


def _user_fault(m: MemMachine, mm: MMStruct, address: int, write: bool) -> int:
    """do_user_addr_fault: find the VMA, check permissions, handle the fault, retry once
    after VM_FAULT_RETRY (->fault dropped mmap_sem to wait); 0 or an ACCESS_* code."""
    flags = FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE | FAULT_FLAG_USER
    if write:
        flags |= FAULT_FLAG_WRITE
    sem = mm.mmap_sem
    sem.down_read()
    while True:
        vma = find_vma(mm, address)
        if vma is None or address < vma.vm_start:
            sem.up_read()
            return ACCESS_SIGSEGV
        if not vma.vm_flags & (VM_WRITE if write else VM_READ | VM_WRITE | VM_EXEC):
            sem.up_read()
            return ACCESS_SIGSEGV
        ret = handle_mm_fault(m, mm, address, flags, vma)
        m.engine.consume(FAULT_NS)
        if not ret & VM_FAULT_RETRY:
            break
        flags = (flags & ~FAULT_FLAG_ALLOW_RETRY) | FAULT_FLAG_TRIED
        sem.down_read()
    sem.up_read()
    if ret & VM_FAULT_ERROR:
        if ret & VM_FAULT_OOM:
            return ACCESS_ENOMEM
        return ACCESS_SIGSEGV if ret & VM_FAULT_SIGSEGV else ACCESS_SIGBUS
    return 0
