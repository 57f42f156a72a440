"""Reverse mapping: counts on the -1/0 edges, team hooks, anon rmap, try_to_unmap and
page_referenced (mm/rmap.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakefs import PAGE, FakeFile, in_actor

from hugetmpfs.mm import vmstat as v
from hugetmpfs.mm.fault import access_address
from hugetmpfs.mm.filemap import lock_page, unlock_page
from hugetmpfs.mm.mm_types import PTE_YOUNG, VM_LOCKED, VM_SEQ_READ, MMStruct, find_vma
from hugetmpfs.mm.mmap import (
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    PROT_READ,
    PROT_WRITE,
    vm_mmap_pgoff,
)
from hugetmpfs.mm.page_alloc import GFP_KERNEL, alloc_pages
from hugetmpfs.mm.page_flags import PG_dirty, PG_swapbacked, PG_team
from hugetmpfs.mm.rmap import (
    SWAP_FAIL,
    SWAP_MLOCK,
    SWAP_SUCCESS,
    TTU_IGNORE_ACCESS,
    TTU_UNMAP,
    PageAnon,
    page_add_file_rmap,
    page_mapped,
    page_referenced,
    page_remove_rmap,
    try_to_unmap,
)
from hugetmpfs.mm.swap import lru_add_drain

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine

RW = PROT_READ | PROT_WRITE
BASE = 0x7E00_0000_0000


def mapped_twice(m: MemMachine, mm: MMStruct, f: FakeFile) -> tuple[int, int, int]:
    """Page 2 of a 4-page file mapped by a shared and a private VMA: (page, shared, private)."""
    for i in range(4):
        f.write(m, i, 1)
    lru_add_drain(m)
    shared = vm_mmap_pgoff(m, mm, f, BASE, 4 * PAGE, RW, MAP_SHARED | MAP_FIXED, 0)
    private = vm_mmap_pgoff(m, mm, f, BASE + (2 << 20), 4 * PAGE, RW, MAP_PRIVATE | MAP_FIXED, 0)
    assert access_address(m, mm, shared + 2 * PAGE, False) == 0  # maps 0..3, writable
    for page in f.cached().values():
        m.flags[page] &= ~PG_dirty
    assert access_address(m, mm, shared + 2 * PAGE, True, 5) == 0  # no fault: pte dirty
    assert access_address(m, mm, private + 2 * PAGE, False) == 0
    return f.cached()[2], shared, private


def pte(m: MemMachine, mm: MMStruct, addr: int) -> int:
    return mm.pmds[addr >> 21].ptes[(addr >> 12) & 511]


def test_file_rmap_counts_on_the_edges(m: MemMachine) -> None:
    page = alloc_pages(m, GFP_KERNEL, 0)
    mapped = m.vmstat.zone
    page_add_file_rmap(m, page)
    page_add_file_rmap(m, page)
    assert (m.mapcount[page], mapped[v.NR_FILE_MAPPED]) == (1, 1)
    page_remove_rmap(m, page)
    assert (m.mapcount[page], mapped[v.NR_FILE_MAPPED]) == (0, 1)
    page_remove_rmap(m, page)
    assert (m.mapcount[page], mapped[v.NR_FILE_MAPPED]) == (-1, 0)
    assert not page_mapped(m, page)


def test_team_pages_ask_the_head_before_counting(m: MemMachine) -> None:
    t = m.team
    head = alloc_pages(m, GFP_KERNEL, m.HPAGE_PMD_ORDER)
    tail = head + 3
    for p in (head, tail):
        m.flags[p] |= PG_team | PG_swapbacked
        m.index[p] = p - head
    m.private[head] = t.TEAM_COMPLETE + 1  # complete, weight 1, not pmd-mapped
    page_add_file_rmap(m, tail)
    assert m.vmstat.zone[v.NR_FILE_MAPPED] == 1
    assert t.team_pte_count(m.private[head]) == 1
    # now pmd-mapped: the pmd already counts every page in Mapped (patch 15/31)
    m.private[head] += t.TEAM_MAPPING_COUNTER
    m.flags[tail + 1] |= PG_team | PG_swapbacked
    m.index[tail + 1] = 4
    page_add_file_rmap(m, tail + 1)
    assert m.vmstat.zone[v.NR_FILE_MAPPED] == 1
    assert t.team_pte_count(m.private[head]) == 2
    page_remove_rmap(m, tail + 1)
    page_remove_rmap(m, tail)  # removed while pmd-mapped: Mapped keeps it
    assert m.vmstat.zone[v.NR_FILE_MAPPED] == 1
    assert t.team_pte_count(m.private[head]) == 0


def test_cow_pages_have_anon_rmap(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    f.inode.i_size = 4 * PAGE
    addr = vm_mmap_pgoff(m, mm, f, 0, 4 * PAGE, RW, MAP_PRIVATE, 0)
    assert access_address(m, mm, addr + PAGE, True, 1) == 0
    page = pte(m, mm, addr + PAGE) >> 4
    vma = find_vma(mm, addr)
    assert PageAnon(m, page)
    assert m.page_mapping(page) is vma.anon_vma
    assert m.index[page] == 1
    assert m.flags[page] & PG_swapbacked
    assert vma.anon_vma.vmas == [vma]
    assert m.vmstat.zone[v.NR_ANON_PAGES] == 1


def test_try_to_unmap_removes_every_pte(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    in_actor(m, _try_to_unmap_all, m, mm, f)


def _try_to_unmap_all(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    page, shared, private = mapped_twice(m, mm, f)
    assert m.mapcount[page] == 1
    assert m.refcount[page] == 3
    lock_page(m, page)
    assert try_to_unmap(m, page, TTU_UNMAP | TTU_IGNORE_ACCESS) == SWAP_SUCCESS
    unlock_page(m, page)
    assert not pte(m, mm, shared + 2 * PAGE)
    assert not pte(m, mm, private + 2 * PAGE)
    assert m.mapcount[page] == -1
    assert m.refcount[page] == 1
    assert m.flags[page] & PG_dirty  # the shared pte was dirty
    assert not m.flags[f.cached()[1]] & PG_dirty
    assert mm.rss["MM_SHMEMPAGES"] == 8 - 2


def test_try_to_unmap_keeps_young_locked_and_anon_pages(
    m: MemMachine, mm: MMStruct, f: FakeFile
) -> None:
    page, shared, private = mapped_twice(m, mm, f)
    lock_page(m, page)
    assert try_to_unmap(m, page) == SWAP_FAIL  # young: recently used
    assert not pte(m, mm, shared + 2 * PAGE) & PTE_YOUNG
    find_vma(mm, private).vm_flags |= VM_LOCKED
    result = try_to_unmap(m, page)
    assert result in (SWAP_FAIL, SWAP_MLOCK)
    find_vma(mm, private).vm_flags &= ~VM_LOCKED
    unlock_page(m, page)
    assert access_address(m, mm, private + PAGE, True, 9) == 0
    cow = pte(m, mm, private + PAGE) >> 4
    lock_page(m, cow)
    assert try_to_unmap(m, cow, TTU_IGNORE_ACCESS) == SWAP_FAIL  # needs swap: not here
    unlock_page(m, cow)


def test_page_referenced_counts_and_clears_young(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    page, shared, private = mapped_twice(m, mm, f)
    assert page_referenced(m, page) == (2, 0)
    assert page_referenced(m, page) == (0, 0)
    assert access_address(m, mm, shared + 2 * PAGE, False) == 0
    find_vma(mm, shared).vm_flags |= VM_SEQ_READ
    assert page_referenced(m, page) == (0, 0)  # a sequential reader's touch does not count
    find_vma(mm, private).vm_flags |= VM_LOCKED
    assert page_referenced(m, page)[1] == VM_LOCKED


def test_anon_vma_is_shared_by_split_vmas(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    in_actor(m, _anon_vma_split, m, mm, f)


def _anon_vma_split(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    from hugetmpfs.mm.mmap import vm_munmap

    f.inode.i_size = 8 * PAGE
    addr = vm_mmap_pgoff(m, mm, f, 0, 8 * PAGE, RW, MAP_PRIVATE, 0)
    for k in (1, 6):
        assert access_address(m, mm, addr + k * PAGE, True, 2) == 0
    anon_vma = find_vma(mm, addr).anon_vma
    assert vm_munmap(m, mm, addr + 3 * PAGE, 2 * PAGE) == 0
    assert len(anon_vma.vmas) == 2
    assert {find_vma(mm, addr).anon_vma, find_vma(mm, addr + 6 * PAGE).anon_vma} == {anon_vma}
    high = pte(m, mm, addr + 6 * PAGE) >> 4
    lock_page(m, high)
    assert page_referenced(m, high) == (1, 0)  # found through the anon_vma
    unlock_page(m, high)
    assert vm_munmap(m, mm, addr, 8 * PAGE) == 0
    assert anon_vma.vmas == []
    assert m.vmstat.zone[v.NR_ANON_PAGES] == 0
