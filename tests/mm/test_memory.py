"""Faults, fault-around, COW, zapping and user accesses (mm/memory.py, mm/memory_unmap.py,
mm/fault.py, filemap_map_pages)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from fakefs import PAGE, FakeFile, in_actor

from hugetmpfs.mm import vmstat as v
from hugetmpfs.mm.fault import (
    ACCESS_ENOMEM,
    ACCESS_SIGBUS,
    ACCESS_SIGSEGV,
    access_address,
    access_range,
)
from hugetmpfs.mm.filemap import lock_page, unlock_page
from hugetmpfs.mm.highmem import page_read
from hugetmpfs.mm.memory import handle_mm_fault, unmap_mapping_range, zap_page_range
from hugetmpfs.mm.mm_types import (
    FAULT_FLAG_WRITE,
    PTE_DIRTY,
    PTE_WRITE,
    VM_FAULT_SIGBUS,
    VM_FAULT_SIGSEGV,
    MMStruct,
    find_vma,
)
from hugetmpfs.mm.mmap import (
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    PROT_READ,
    PROT_WRITE,
    vm_mmap_pgoff,
    vm_munmap,
)
from hugetmpfs.mm.page_flags import PG_dirty, PG_referenced, PG_uptodate
from hugetmpfs.mm.rmap import PageAnon
from hugetmpfs.mm.swap import lru_add_drain, lru_add_drain_all
from hugetmpfs.mm.task_mmu import smaps, smaps_rss
from hugetmpfs.sim import Engine, RandomStrategy

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine

R, RW = PROT_READ, PROT_READ | PROT_WRITE
BASE = 0x7E00_0000_0000  # 2 MiB aligned


def fixed(
    m: MemMachine,
    mm: MMStruct,
    f: FakeFile,
    addr: int,
    pages: int,
    prot: int = R,
    flags: int = MAP_SHARED,
    pgoff: int = 0,
) -> int:
    ret = vm_mmap_pgoff(m, mm, f, addr, pages * PAGE, prot, flags | MAP_FIXED, pgoff)
    assert ret == addr
    return ret


def pte(m: MemMachine, mm: MMStruct, addr: int) -> int:
    pt = mm.pmds.get(addr >> (12 + m.HPAGE_PMD_ORDER))
    return 0 if pt is None else pt.ptes[(addr >> 12) & (m.HPAGE_PMD_NR - 1)]


def rss_pages(m: MemMachine, mm: MMStruct, addr: int, pages: int) -> int:
    return smaps_rss(m, mm, addr, addr + pages * PAGE)[0] // 4


def populate(m: MemMachine, f: FakeFile, indexes: range, i_size: int) -> None:
    for i in indexes:
        f.write(m, i, 1)
    f.inode.i_size = i_size
    lru_add_drain(m)  # so the refcounts below leave the pagevec's reference out


# -- fault-around: the extents 6.18 gives (measured, see the case names) ---------------------


@pytest.mark.parametrize(
    ("vma_off", "pages", "pgoff", "cached", "i_size", "touches", "expected"),
    [
        (0, 32, 0, range(64), 64 * PAGE, [5], [16]),  # aligned window
        (3, 32, 0, range(64), 64 * PAGE, [2], [16]),  # window starts at the VMA
        (3, 32, 0, range(64), 64 * PAGE, [2, 16], [16, 29]),
        (0, 5, 0, range(64), 64 * PAGE, [0], [5]),  # clamped to the VMA's end
        (504, 32, 0, range(64), 64 * PAGE, [2], [8]),  # ... and to the pte table's
        (504, 32, 0, range(64), 64 * PAGE, [2, 9], [8, 24]),
        (0, 80, 0, range(64), 64 * PAGE, [60], [16]),  # nothing cached beyond
        (0, 80, 0, range(64), 63 * PAGE + 1, [60], [16]),  # i_size rounds up
        (0, 32, 3, range(64), 64 * PAGE, [5], [16]),
        (0, 64, 0, range(0, 64, 2), 64 * PAGE, [5], [9]),  # holes: only cached pages
        (0, 64, 0, range(0, 64, 2), 64 * PAGE, [5, 21], [9, 18]),
        (5, 40, 3, range(64), 64 * PAGE, [12], [16]),
    ],
)
def test_fault_around_extent_matches_6_18(
    m: MemMachine,
    mm: MMStruct,
    f: FakeFile,
    vma_off: int,
    pages: int,
    pgoff: int,
    cached: range,
    i_size: int,
    touches: list[int],
    expected: list[int],
) -> None:
    populate(m, f, cached, i_size)
    addr = fixed(m, mm, f, BASE + vma_off * PAGE, pages, pgoff=pgoff)
    got = []
    for t in touches:
        assert access_address(m, mm, addr + t * PAGE, False) == 0
        got.append(rss_pages(m, mm, addr, pages))
    assert got == expected
    assert m.vmstat.zone[v.NR_FILE_MAPPED] == expected[-1] == mm.rss["MM_SHMEMPAGES"]


def test_fault_around_skips_locked_and_not_uptodate_pages(
    m: MemMachine, mm: MMStruct, f: FakeFile
) -> None:
    populate(m, f, range(16), 16 * PAGE)
    cache = f.cached()
    lock_page(m, cache[3])
    m.flags[cache[4]] &= ~PG_uptodate
    addr = fixed(m, mm, f, BASE, 16)
    assert access_address(m, mm, addr + 10 * PAGE, False) == 0
    assert rss_pages(m, mm, addr, 16) == 14
    assert not pte(m, mm, addr + 3 * PAGE)
    assert not pte(m, mm, addr + 4 * PAGE)
    unlock_page(m, cache[3])


def test_fault_around_needs_no_fault_when_the_page_is_cached(
    m: MemMachine, mm: MMStruct, f: FakeFile
) -> None:
    populate(m, f, range(32), 32 * PAGE)
    addr = fixed(m, mm, f, BASE, 32)
    assert access_address(m, mm, addr, False) == 0  # empty pmd: ->fault, then around
    assert f.vm_ops.faults == 1
    assert access_address(m, mm, addr + 20 * PAGE, False) == 0  # around maps it
    assert f.vm_ops.faults == 1
    assert m.vmstat.events[v.PGFAULT] == 2


def test_sigbus_fault_on_empty_pmd_still_maps_the_neighbours(
    m: MemMachine, mm: MMStruct, f: FakeFile
) -> None:
    # 6.18 runs fault-around before ->fault: its neighbours get mapped, then SIGBUS.
    populate(m, f, range(11), 11 * PAGE)
    addr = fixed(m, mm, f, BASE, 32)
    assert access_address(m, mm, addr + 12 * PAGE, False) == ACCESS_SIGBUS
    assert rss_pages(m, mm, addr, 32) == 11
    assert m.vmstat.zone[v.NR_PAGETABLE] == 1


def test_sigbus_with_nothing_to_map_leaves_no_table(
    m: MemMachine, mm: MMStruct, f: FakeFile
) -> None:
    addr = fixed(m, mm, f, BASE, 32)
    assert access_address(m, mm, addr, False) == ACCESS_SIGBUS
    assert mm.pmds == {}
    assert m.vmstat.zone[v.NR_PAGETABLE] == 0


# -- read, shared write, COW ----------------------------------------------------------------


def test_read_fault_on_a_hole_allocates_and_counts(
    m: MemMachine, mm: MMStruct, f: FakeFile
) -> None:
    f.inode.i_size = 8 * PAGE
    addr = fixed(m, mm, f, BASE, 8, RW)
    assert access_address(m, mm, addr + 2 * PAGE, False) == 0
    page = f.cached()[2]
    # references: the page cache, the pte, and the LRU pagevec's until it drains
    assert m.refcount[page] == 3
    assert m.mapcount[page] == 0
    assert m.vmstat.zone[v.NR_FILE_MAPPED] == 1
    assert mm.rss == {"MM_FILEPAGES": 0, "MM_ANONPAGES": 0, "MM_SHMEMPAGES": 1}
    entry = pte(m, mm, addr + 2 * PAGE)
    # a shared writable tmpfs mapping maps writable from a read fault, but clean
    assert entry & PTE_WRITE
    assert not entry & PTE_DIRTY
    assert not m.flags[page] & PG_dirty
    # so the store that follows takes no fault, and dirties the pte only
    assert access_address(m, mm, addr + 2 * PAGE + 7, True, 0x55) == 0
    assert m.vmstat.events[v.PGFAULT] == 1
    assert pte(m, mm, addr + 2 * PAGE) & PTE_DIRTY
    assert page_read(m, page, 6, 2) == b"\x00\x55"


def test_shared_write_fault_dirties_and_skips_fault_around(
    m: MemMachine, mm: MMStruct, f: FakeFile
) -> None:
    populate(m, f, range(32), 32 * PAGE)
    for page in f.cached().values():
        m.flags[page] &= ~PG_dirty
    addr = fixed(m, mm, f, BASE, 32, RW)
    assert access_address(m, mm, addr + 5 * PAGE, True, 7) == 0
    assert rss_pages(m, mm, addr, 32) == 1
    page = f.cached()[5]
    assert m.flags[page] & PG_dirty
    assert page_read(m, page, 0, 1) == b"\x07"


def test_private_read_maps_the_cache_page_read_only(
    m: MemMachine, mm: MMStruct, f: FakeFile
) -> None:
    populate(m, f, range(4), 4 * PAGE)
    addr = fixed(m, mm, f, BASE, 4, RW, MAP_PRIVATE)
    assert access_address(m, mm, addr, False) == 0
    assert pte(m, mm, addr) >> 4 == f.cached()[0]
    assert not pte(m, mm, addr) & PTE_WRITE
    assert find_vma(mm, addr).anon_vma is None


def test_cow_write_fault_copies_into_an_anonymous_page(
    m: MemMachine, mm: MMStruct, f: FakeFile
) -> None:
    in_actor(m, _cow_write_fault_copies_into_an_anonymous_page, m, mm, f)


def _cow_write_fault_copies_into_an_anonymous_page(
    m: MemMachine, mm: MMStruct, f: FakeFile
) -> None:
    populate(m, f, range(4), 4 * PAGE)
    shared = fixed(m, mm, f, BASE, 4, R)
    private = fixed(m, mm, f, BASE + (4 << 20), 4, RW, MAP_PRIVATE)
    assert access_address(m, mm, private + PAGE + 9, True, 0xEE) == 0
    cow = pte(m, mm, private + PAGE) >> 4
    file_page = f.cached()[1]
    assert cow != file_page
    assert PageAnon(m, cow)
    assert m.mapcount[cow] == 0
    assert m.vmstat.zone[v.NR_ANON_PAGES] == 1
    assert mm.rss["MM_ANONPAGES"] == 1
    assert mm.rss["MM_SHMEMPAGES"] == 0
    assert pte(m, mm, private + PAGE) & (PTE_WRITE | PTE_DIRTY) == PTE_WRITE | PTE_DIRTY
    # the copy is independent: the file and a shared map still read the old bytes
    assert page_read(m, cow, 8, 2) == b"\x01\xee"
    assert page_read(m, file_page, 9, 1) == b"\x01"
    assert access_address(m, mm, shared + PAGE + 9, False) == 0
    # a file write later is not seen through the private copy
    f.write(m, 1, 0x33)
    assert page_read(m, cow, 0, 1) == b"\x01"
    assert m.refcount[file_page] == 2  # the cache and the shared mapping's pte
    s = smaps(m, mm, private, private + 4 * PAGE)
    assert (s["Rss"], s["Anonymous"], s["Private_Dirty"]) == (4, 4, 4)


def test_write_after_private_read_moves_rss_from_file_to_anon(
    m: MemMachine, mm: MMStruct, f: FakeFile
) -> None:
    in_actor(m, _write_after_private_read_moves_rss_from_file_to_anon, m, mm, f)


def _write_after_private_read_moves_rss_from_file_to_anon(
    m: MemMachine, mm: MMStruct, f: FakeFile
) -> None:
    populate(m, f, range(4), 4 * PAGE)
    addr = fixed(m, mm, f, BASE, 4, RW, MAP_PRIVATE)
    assert access_address(m, mm, addr, False) == 0
    assert mm.rss["MM_SHMEMPAGES"] == 4
    assert m.vmstat.zone[v.NR_FILE_MAPPED] == 4
    file_page = f.cached()[0]
    assert access_address(m, mm, addr, True, 5) == 0  # do_wp_page -> wp_page_copy
    assert mm.rss == {"MM_FILEPAGES": 0, "MM_ANONPAGES": 1, "MM_SHMEMPAGES": 3}
    assert m.vmstat.zone[v.NR_FILE_MAPPED] == 3
    assert m.mapcount[file_page] == -1
    assert m.refcount[file_page] == 1
    assert m.vmstat.events[v.PGFAULT] == 2
    # a second store reuses the now private page without a fault
    assert access_address(m, mm, addr + 1, True, 6) == 0
    assert m.vmstat.events[v.PGFAULT] == 2


def test_cow_of_a_hole_instantiates_the_file_page_too(
    m: MemMachine, mm: MMStruct, f: FakeFile
) -> None:
    f.inode.i_size = 8 * PAGE
    addr = fixed(m, mm, f, BASE, 8, RW, MAP_PRIVATE)
    assert access_address(m, mm, addr + 3 * PAGE, True, 1) == 0
    assert list(f.cached()) == [3]  # as 6.18: blocks 8, Rss 4 (the anonymous copy)
    assert rss_pages(m, mm, addr, 8) == 1


# -- user access failures -----------------------------------------------------------------


def test_sigsegv_sigbus_and_retry(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    in_actor(m, _sigsegv_sigbus_and_retry, m, mm, f)


def _sigsegv_sigbus_and_retry(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    populate(m, f, range(2), 2 * PAGE)
    ro = fixed(m, mm, f, BASE, 4, R)
    assert access_address(m, mm, ro - PAGE, False) == ACCESS_SIGSEGV
    assert access_address(m, mm, ro, True, 1) == ACCESS_SIGSEGV
    assert access_address(m, mm, ro + 2 * PAGE, False) == ACCESS_SIGBUS
    assert handle_mm_fault(m, mm, BASE - PAGE, 0) == VM_FAULT_SIGSEGV
    mm.mmap_sem.down_read()
    assert handle_mm_fault(m, mm, ro + 3 * PAGE, FAULT_FLAG_WRITE) & VM_FAULT_SIGBUS
    mm.mmap_sem.up_read()
    f.vm_ops.retry_once = True
    rw = fixed(m, mm, f, BASE + (2 << 20), 2, RW)
    assert access_address(m, mm, rw + PAGE, True, 2) == 0
    assert f.vm_ops.faults == 4


def test_fault_without_memory_is_enomem(f: FakeFile) -> None:
    from fakefs import machine

    m = machine(ram=4 << 20)
    mm = MMStruct(m)
    f = FakeFile(m)
    f.inode.i_size = 8 << 20
    addr = vm_mmap_pgoff(m, mm, f, 0, 8 << 20, RW, MAP_SHARED, 0)
    results = [access_address(m, mm, addr + k * PAGE, True, 1) for k in range(2048)]
    assert ACCESS_ENOMEM in results
    first = results.index(ACCESS_ENOMEM)
    assert all(r == 0 for r in results[:first])


def test_access_range_batches_one_page(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    f.inode.i_size = PAGE
    addr = fixed(m, mm, f, BASE, 1, RW)
    assert access_range(m, mm, addr, PAGE, 1, True, 9) == 0
    page = f.cached()[0]
    assert m.content[page] == 9  # a whole-page store keeps the page uniform
    assert access_range(m, mm, addr + 1, 2048, 2, True, 3) == 0
    assert page_read(m, page, 0, 4) == b"\x09\x03\x09\x03"
    assert m.vmstat.events[v.PGFAULT] == 1


# -- zap and unmap_mapping_range -------------------------------------------------------------


def test_zap_moves_pte_dirt_to_the_page(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    in_actor(m, _zap_moves_pte_dirt_to_the_page, m, mm, f)


def _zap_moves_pte_dirt_to_the_page(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    f.inode.i_size = 4 * PAGE
    addr = fixed(m, mm, f, BASE, 4, RW)
    assert access_address(m, mm, addr, False) == 0
    page = f.cached()[0]
    assert access_address(m, mm, addr, True, 5) == 0  # no fault: the pte gets dirty
    assert not m.flags[page] & PG_dirty
    zap_page_range(m, find_vma(mm, addr), addr, 4 * PAGE)
    assert m.flags[page] & (PG_dirty | PG_referenced) == PG_dirty | PG_referenced
    assert m.mapcount[page] == -1
    assert m.vmstat.zone[v.NR_FILE_MAPPED] == 0
    assert mm.rss["MM_SHMEMPAGES"] == 0


def test_unmap_mapping_range_keeps_cows_unless_asked(
    m: MemMachine, mm: MMStruct, f: FakeFile
) -> None:
    in_actor(m, _unmap_mapping_range_keeps_cows_unless_asked, m, mm, f)


def _unmap_mapping_range_keeps_cows_unless_asked(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    populate(m, f, range(8), 8 * PAGE)
    shared = fixed(m, mm, f, BASE, 8, R)
    private = fixed(m, mm, f, BASE + (2 << 20), 8, RW, MAP_PRIVATE, pgoff=0)
    assert access_address(m, mm, shared, False) == 0
    assert access_address(m, mm, private, False) == 0
    assert access_address(m, mm, private + 2 * PAGE, True, 7) == 0  # a COW copy at index 2
    unmap_mapping_range(m, f.f_mapping, 2 * PAGE, 3 * PAGE, False)  # indexes 2..4
    assert [rss_pages(m, mm, shared, 8), rss_pages(m, mm, private, 8)] == [5, 6]
    assert pte(m, mm, private + 2 * PAGE)  # the copy stays
    unmap_mapping_range(m, f.f_mapping, 0, 0, True)  # to the end, copies too
    assert [rss_pages(m, mm, shared, 8), rss_pages(m, mm, private, 8)] == [0, 0]
    assert m.vmstat.zone[v.NR_ANON_PAGES] == 0
    assert m.vmstat.zone[v.NR_FILE_MAPPED] == 0
    assert mm.rss == {"MM_FILEPAGES": 0, "MM_ANONPAGES": 0, "MM_SHMEMPAGES": 0}
    assert all(m.refcount[p] == 1 for p in f.cached().values())


def test_unmap_mapping_range_respects_the_vma_offset(
    m: MemMachine, mm: MMStruct, f: FakeFile
) -> None:
    populate(m, f, range(16), 16 * PAGE)
    addr = fixed(m, mm, f, BASE, 8, R, pgoff=8)  # file pages 8..15
    assert access_address(m, mm, addr, False) == 0
    unmap_mapping_range(m, f.f_mapping, 10 * PAGE, PAGE + 1, False)  # pages 10 and 11
    assert [bool(pte(m, mm, addr + k * PAGE)) for k in range(5)] == [1, 1, 0, 0, 1]


# -- smaps -------------------------------------------------------------------------------------


def test_smaps_fields_for_shared_and_private_pages(
    m: MemMachine, mm: MMStruct, f: FakeFile
) -> None:
    populate(m, f, range(4), 4 * PAGE)
    for page in f.cached().values():
        m.flags[page] &= ~(PG_dirty | PG_referenced)
    a = fixed(m, mm, f, BASE, 4, R)
    b = fixed(m, mm, f, BASE + (2 << 20), 2, R)
    assert access_address(m, mm, a, False) == 0
    assert access_address(m, mm, b, False) == 0
    s = smaps(m, mm, a, a + 4 * PAGE)
    assert s["Rss"] == 16
    assert s["Pss"] == 2 * 2 + 2 * 4
    assert (s["Shared_Clean"], s["Private_Clean"], s["Shared_Dirty"]) == (8, 8, 0)
    assert s["Pss_Shmem"] == 12
    assert s["Anonymous"] == 0
    assert s["Referenced"] == 16
    assert s["ShmemPmdMapped"] == 0
    assert smaps_rss(m, mm, a, a + 4 * PAGE) == (16, 0)
    assert smaps_rss(m, mm, a + PAGE, a + 3 * PAGE) == (8, 0)


# -- concurrency -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_racing_faults_and_zaps_keep_counts_exact(seed: int) -> None:
    from hugetmpfs.mm.machine import MemMachine as Machine

    m = Machine(Engine(RandomStrategy(seed), cpus=2), ram=32 << 20, cpus=2, hpage_nr=8)
    mm = MMStruct(m)
    f = FakeFile(m)
    f.inode.i_size = 32 * PAGE
    addr = vm_mmap_pgoff(m, mm, f, 0, 32 * PAGE, RW, MAP_PRIVATE, 0)
    shared = vm_mmap_pgoff(m, mm, f, 0, 32 * PAGE, RW, MAP_SHARED, 0)

    def toucher(base: int, write: bool) -> None:
        for k in range(32):
            assert access_address(m, mm, base + k * PAGE, write and k % 3 == 0, 1) == 0

    def zapper() -> None:
        for _ in range(3):
            unmap_mapping_range(m, f.f_mapping, 8 * PAGE, 8 * PAGE, False)
            m.engine.point("test:zap")

    m.engine.spawn(toucher, addr, True, cpu=0)
    m.engine.spawn(toucher, shared, True, cpu=1)
    m.engine.spawn(toucher, addr, False, cpu=1)
    m.engine.spawn(zapper, cpu=0)
    assert m.engine.run() is None
    mapped = [
        pte(m, mm, x) >> 4 for base in (addr, shared) for x in range(base, base + 32 * PAGE, PAGE)
    ]
    mapped = [p for p in mapped if p]
    file_pages = set(f.cached().values())
    assert m.vmstat.zone[v.NR_FILE_MAPPED] == len({p for p in mapped if p in file_pages})
    assert m.vmstat.zone[v.NR_ANON_PAGES] == sum(1 for p in mapped if p not in file_pages)
    for p in file_pages:
        assert m.mapcount[p] + 1 == mapped.count(p)
    assert sum(mm.rss.values()) == len(mapped)
    # and everything comes back when the mappings go
    free_before = m.vmstat.zone[v.NR_FREE_PAGES] + sum(len(q) for q in m.pcp)
    assert vm_munmap(m, mm, addr, 32 * PAGE) == vm_munmap(m, mm, shared, 32 * PAGE) == 0
    lru_add_drain_all(m)
    zone = m.vmstat.zone
    assert zone[v.NR_FILE_MAPPED] == zone[v.NR_ANON_PAGES] == zone[v.NR_PAGETABLE] == 0
    assert mm.pmds == {}
    assert mm.nr_ptes == 0
    assert sum(mm.rss.values()) == 0
    assert all(m.refcount[p] == 1 and m.mapcount[p] == -1 for p in file_pages)
    anon = sum(1 for p in mapped if p not in file_pages)
    assert m.vmstat.zone[v.NR_FREE_PAGES] + sum(len(q) for q in m.pcp) >= free_before + anon


@pytest.mark.parametrize("seed", range(4))
def test_invariants_hold_at_every_step_of_racing_mm_operations(seed: int) -> None:
    """Faults, COW, DONTNEED, PAGEOUT, a VMA split, populate, truncation's unmap and a
    partial munmap, interleaved at random; check/ recounts everything at every step."""
    from hugetmpfs.check.invariants import check_machine
    from hugetmpfs.mm import madvise as mad
    from hugetmpfs.mm.machine import MemMachine as Machine

    m = Machine(Engine(RandomStrategy(seed), cpus=2), ram=32 << 20, cpus=2, hpage_nr=8)
    mm = MMStruct(m)
    f = FakeFile(m)
    f.inode.i_size = 48 * PAGE
    a = vm_mmap_pgoff(m, mm, f, 0, 48 * PAGE, RW, MAP_PRIVATE, 0)
    b = vm_mmap_pgoff(m, mm, f, 0, 48 * PAGE, RW, MAP_SHARED, 0)
    seen: list[str] = []

    def hook(engine: Engine, name: str) -> None:
        if engine.current is not None:
            seen.extend(f"{name}: {v}" for v in check_machine(m))

    def private() -> None:
        for k in range(48):
            ret = access_address(m, mm, a + k * PAGE, k % 2 == 0, 1)
            assert ret == 0 or (ret == ACCESS_SIGSEGV and 40 <= k < 44)  # racing munmap
        assert mad.do_madvise(m, mm, a, 16 * PAGE, mad.MADV_DONTNEED) == 0

    def shared() -> None:
        for k in range(48):
            assert access_address(m, mm, b + k * PAGE, k % 3 == 0, 2) == 0
        assert mad.do_madvise(m, mm, b, 48 * PAGE, mad.MADV_PAGEOUT) == 0
        assert mad.do_madvise(m, mm, b + 8 * PAGE, 8 * PAGE, mad.MADV_RANDOM) == 0

    def other() -> None:
        unmap_mapping_range(m, f.f_mapping, 4 * PAGE, 8 * PAGE, False)
        assert mad.do_madvise(m, mm, a + 16 * PAGE, 16 * PAGE, mad.MADV_POPULATE_WRITE) == 0
        assert vm_munmap(m, mm, a + 40 * PAGE, 4 * PAGE) == 0

    m.engine.step_hooks.append(hook)
    m.engine.spawn(private, cpu=0)
    m.engine.spawn(shared, cpu=1)
    m.engine.spawn(other, cpu=1)
    assert m.engine.run() is None
    assert seen == []
    assert check_machine(m) == []
