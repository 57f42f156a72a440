"""mmap, munmap, placement and VMA editing (mm/mmap.py, mm/vma.py, mm/pgtable.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from fakefs import PAGE, FakeFile, in_actor

from hugetmpfs.mm import vmstat as v
from hugetmpfs.mm.fault import access_address
from hugetmpfs.mm.mm_types import (
    FMODE_READ,
    FMODE_WRITE,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_RAND_READ,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
    MMStruct,
    find_vma,
)
from hugetmpfs.mm.mmap import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    PROT_READ,
    PROT_WRITE,
    TASK_SIZE,
    do_mmap,
    huge_align_unmapped_area,
    mmap_pgoff,
    sys_mmap_check_offset,
    vm_mmap_pgoff,
    vm_munmap,
    vma_modify_flags,
)

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine

R, RW = PROT_READ, PROT_READ | PROT_WRITE
EINVAL, ENOMEM, EACCES, ENODEV, EOVERFLOW = -22, -12, -13, -19, -75


def mmap(
    m: MemMachine,
    mm: MMStruct,
    f: FakeFile | None,
    length: int,
    prot: int = R,
    flags: int = MAP_SHARED,
    offset: int = 0,
) -> int:
    return vm_mmap_pgoff(m, mm, f, 0, length, prot, flags, mmap_pgoff(offset))


# -- errno answers, as measured on 6.18 ------------------------------------------------------


def test_offset_check_comes_before_the_descriptor() -> None:
    assert sys_mmap_check_offset(100) == EINVAL
    assert sys_mmap_check_offset(-4096) == 0  # a huge unsigned offset: fails later
    assert sys_mmap_check_offset(8192) == 0


@pytest.mark.parametrize(
    ("length", "prot", "flags", "f_mode", "offset", "expected"),
    [
        (0, R, MAP_SHARED, FMODE_READ | FMODE_WRITE, 0, EINVAL),
        (0, RW, MAP_SHARED, FMODE_READ, 0, EINVAL),  # length first, before EACCES
        (-4096, RW, MAP_SHARED, FMODE_READ, 0, ENOMEM),  # rounds to 0 / too long
        (-1, R, MAP_SHARED, FMODE_READ, 0, ENOMEM),
        (1 << 47, R, MAP_SHARED, FMODE_READ, 0, ENOMEM),
        (4096, RW, MAP_SHARED, FMODE_WRITE, -4096, EOVERFLOW),  # before EACCES
        (4096, R, MAP_SHARED, FMODE_READ, (1 << 63) - 4096, EOVERFLOW),
        (8193, R, MAP_SHARED, FMODE_READ, (1 << 63) - 8192, EOVERFLOW),
        (4096, RW, MAP_SHARED, FMODE_READ, 0, EACCES),
        (4096, R, MAP_SHARED, FMODE_WRITE, 0, EACCES),  # mmap needs read access
        (4096, RW, MAP_SHARED, FMODE_WRITE, 0, EACCES),
        (4096, R, MAP_PRIVATE, FMODE_WRITE, 0, EACCES),
        (4096, RW, MAP_PRIVATE, FMODE_WRITE, 0, EACCES),
        (4096, R, 0, FMODE_READ, 0, EINVAL),  # no map type
        (4096, RW, MAP_PRIVATE, FMODE_READ, 0, 0),  # private rw of O_RDONLY is fine
        (4096, R, MAP_SHARED, FMODE_READ, 0, 0),
        (4096, R, MAP_SHARED, FMODE_READ, 1 << 62, 0),  # far offsets are fine
        (1 << 46, R, MAP_SHARED, FMODE_READ, 0, 0),
    ],
)
def test_mmap_errno_precedence(
    m: MemMachine,
    mm: MMStruct,
    length: int,
    prot: int,
    flags: int,
    f_mode: int,
    offset: int,
    expected: int,
) -> None:
    f = FakeFile(m, f_mode=f_mode)
    ret = mmap(m, mm, f, length, prot, flags, offset)
    assert (ret if ret < 0 else 0) == expected


def test_file_without_mmap_is_enodev(m: MemMachine, mm: MMStruct) -> None:
    class NoMmap:
        f_mode = FMODE_READ

    assert mmap(m, mm, NoMmap(), PAGE) == ENODEV  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("prot", "flags", "f_mode", "want", "unwanted"),
    [
        (RW, MAP_SHARED, FMODE_READ | FMODE_WRITE, VM_SHARED | VM_WRITE | VM_MAYWRITE, 0),
        (R, MAP_SHARED, FMODE_READ | FMODE_WRITE, VM_SHARED | VM_MAYWRITE, VM_WRITE),
        # a shared map of a read-only fd may never write: it is not VM_SHARED at all
        (R, MAP_SHARED, FMODE_READ, VM_MAYSHARE | VM_READ, VM_SHARED | VM_MAYWRITE),
        (RW, MAP_PRIVATE, FMODE_READ, VM_WRITE | VM_MAYWRITE, VM_SHARED | VM_MAYSHARE),
    ],
)
def test_vm_flags(
    m: MemMachine, mm: MMStruct, prot: int, flags: int, f_mode: int, want: int, unwanted: int
) -> None:
    addr = mmap(m, mm, FakeFile(m, f_mode=f_mode), PAGE, prot, flags)
    vma = find_vma(mm, addr)
    assert vma.vm_flags & want == want
    assert not vma.vm_flags & unwanted


# -- placement -----------------------------------------------------------------------------


def test_placement_is_top_down_and_deterministic(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    size = m.HPAGE_PMD_SIZE
    a = mmap(m, mm, f, 64 * PAGE, offset=PAGE)
    b = mmap(m, mm, f, 16 * PAGE, offset=PAGE)
    # The highest room below mmap_base at an address = offset + 64 KiB (mod 2 MiB).
    assert mm.mmap_base - size - 64 * PAGE < a <= mm.mmap_base - 64 * PAGE
    assert (a - PAGE - (64 << 10)) % size == 0
    assert (b - PAGE - (64 << 10)) % size == 0
    assert b < a
    mm2 = MMStruct(m)
    assert mmap(m, mm2, f, 64 * PAGE, offset=PAGE) == a


@pytest.mark.parametrize("offset", [0, 4096, 2 << 20, (2 << 20) - 4096])
def test_default_placement_is_never_pmd_congruent(
    m: MemMachine, mm: MMStruct, f: FakeFile, offset: int
) -> None:
    for length in (PAGE, 2 << 20, 4 << 20, 6 << 20):
        addr = mmap(m, mm, f, length, offset=offset)
        assert (addr - offset) % m.HPAGE_PMD_SIZE != 0
        assert (addr - offset - (64 << 10)) % m.HPAGE_PMD_SIZE == 0  # the runners' rule


def test_huge_hook_gets_congruent_placement(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    f.get_unmapped_area = lambda m_, mm_, a, n, pg, fl: huge_align_unmapped_area(  # type: ignore[attr-defined]
        m_, mm_, f, a, n, pg, fl
    )
    mmap(m, mm, f, 3 * PAGE)  # disturb the alignment of what comes next
    for offset, length in ((0, 4 << 20), (64 << 10, 6 << 20), (2 << 20, 2 << 20)):
        addr = mmap(m, mm, f, length, offset=offset)
        assert (addr - offset) % m.HPAGE_PMD_SIZE == 0, (offset, length)
    # too small for an aligned extent: left where the default put it
    addr = mmap(m, mm, f, (2 << 20) - PAGE)
    assert addr % m.HPAGE_PMD_SIZE != 0
    addr = mmap(m, mm, f, 3 << 20, offset=64 << 10)  # offset + length < 4 MiB
    assert (addr - (64 << 10)) % m.HPAGE_PMD_SIZE != 0


def test_hint_and_map_fixed(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    assert vm_mmap_pgoff(m, mm, f, 0x10000000, PAGE, R, MAP_SHARED, 0) == 0x10000000
    # the hint is taken: occupied, so the default placement is used
    assert vm_mmap_pgoff(m, mm, f, 0x10000000, PAGE, R, MAP_SHARED, 0) != 0x10000000
    # MAP_FIXED replaces what was there
    assert vm_mmap_pgoff(m, mm, f, 0x10000000, PAGE, R, MAP_SHARED | MAP_FIXED, 5) == 0x10000000
    assert find_vma(mm, 0x10000000).vm_pgoff == 5


def test_anonymous_private_mapping(m: MemMachine, mm: MMStruct) -> None:
    addr = mmap(m, mm, None, 4 * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    assert access_address(m, mm, addr + PAGE, True, 3) == 0
    assert mm.rss["MM_ANONPAGES"] == 1
    assert m.vmstat.zone[v.NR_ANON_PAGES] == 1
    assert mmap(m, mm, None, PAGE, RW, MAP_SHARED | MAP_ANONYMOUS) == EINVAL


# -- i_mmap, munmap, page tables ---------------------------------------------------------------


def test_mmap_links_i_mmap_and_takes_a_file_reference(
    m: MemMachine, mm: MMStruct, f: FakeFile
) -> None:
    addr = mmap(m, mm, f, 8 * PAGE)
    assert f.f_mapping.i_mmap == [find_vma(mm, addr)]
    assert f.f_count == 2
    assert vm_munmap(m, mm, addr, 8 * PAGE) == 0
    assert f.f_mapping.i_mmap == []
    assert f.f_count == 1
    assert mm.vmas == []


def test_munmap_partial_splits_vmas(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    in_actor(m, _munmap_partial, m, mm, f)


def _munmap_partial(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    f.inode.i_size = 18 * PAGE
    addr = mmap(m, mm, f, 16 * PAGE, RW, offset=2 * PAGE)
    for k in range(16):
        assert access_address(m, mm, addr + k * PAGE, True, 1) == 0
    assert m.vmstat.zone[v.NR_FILE_MAPPED] == 16
    assert vm_munmap(m, mm, addr + 4 * PAGE, 3 * PAGE) == 0
    spans = [(x.vm_start - addr, x.vm_end - addr, x.vm_pgoff) for x in mm.vmas]
    assert spans == [(0, 4 * PAGE, 2), (7 * PAGE, 16 * PAGE, 9)]
    assert sorted(f.f_mapping.i_mmap, key=lambda x: x.vm_start) == mm.vmas
    assert f.f_count == 3
    assert mm.rss["MM_SHMEMPAGES"] == 13
    assert m.vmstat.zone[v.NR_FILE_MAPPED] == 13
    assert access_address(m, mm, addr + 5 * PAGE, False) == -11  # SIGSEGV in the hole
    # the pages stay cached, with only the cache's reference left where unmapped
    page = f.f_mapping.page_tree.lookup(2 + 5)
    assert m.mapcount[page] == -1
    assert m.refcount[page] == 1


@pytest.mark.parametrize(
    ("start_off", "length", "expected"),
    [(1, PAGE, EINVAL), (0, 0, EINVAL), (0, -PAGE, EINVAL), (0, 1, 0)],
)
def test_munmap_arguments(
    m: MemMachine, mm: MMStruct, f: FakeFile, start_off: int, length: int, expected: int
) -> None:
    addr = mmap(m, mm, f, 4 * PAGE)
    assert vm_munmap(m, mm, addr + start_off, length) == expected


def test_munmap_of_nothing_and_of_huge_ranges(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    assert vm_munmap(m, mm, 0x10000000, PAGE) == 0
    addr = mmap(m, mm, f, 1 << 40)  # 1 TiB of address space costs nothing until touched
    assert vm_munmap(m, mm, addr, 1 << 40) == 0
    assert vm_munmap(m, mm, PAGE, TASK_SIZE) == EINVAL


def test_page_tables_are_counted_and_freed(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    in_actor(m, _page_tables, m, mm, f)


def _page_tables(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    f.inode.i_size = 8 << 20
    span = m.HPAGE_PMD_SIZE
    addr = mmap(m, mm, f, 4 * span)  # not pmd-aligned: spans 5 pte tables
    for k in range(0, 4 * span, span // 2):
        assert access_address(m, mm, addr + k, False) == 0
    tables = len({(addr + k) >> 21 for k in range(0, 4 * span, span // 2)})
    assert m.vmstat.zone[v.NR_PAGETABLE] == tables == mm.nr_ptes == len(mm.pmds)
    # unmapping the first 2 MiB frees only the table nothing else covers
    assert vm_munmap(m, mm, addr, span) == 0
    assert mm.nr_ptes == m.vmstat.zone[v.NR_PAGETABLE] == tables - 1
    assert vm_munmap(m, mm, addr + span, 3 * span) == 0
    assert mm.nr_ptes == m.vmstat.zone[v.NR_PAGETABLE] == 0
    assert mm.pmds == {}
    assert m.vmstat.zone[v.NR_FILE_MAPPED] == 0


def test_adjacent_compatible_mappings_merge(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    upper = mmap(m, mm, f, 4 * PAGE, offset=4 * PAGE)
    lower = vm_mmap_pgoff(m, mm, f, upper - 4 * PAGE, 4 * PAGE, R, MAP_SHARED, 0)
    assert lower == upper - 4 * PAGE
    assert len(mm.vmas) == 1
    assert (mm.vmas[0].vm_start, mm.vmas[0].vm_end, mm.vmas[0].vm_pgoff) == (
        lower,
        upper + 4 * PAGE,
        0,
    )
    assert f.f_count == 2  # one VMA, one reference
    # not contiguous in the file: no merge
    vm_mmap_pgoff(m, mm, f, lower - 4 * PAGE, 4 * PAGE, R, MAP_SHARED, 9)
    assert len(mm.vmas) == 2


def test_vma_modify_flags_splits_and_merges_back(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    addr = mmap(m, mm, f, 16 * PAGE)
    vma = find_vma(mm, addr)
    mm.mmap_sem.down_write()
    mid = vma_modify_flags(
        m, mm, vma, addr + 4 * PAGE, addr + 8 * PAGE, vma.vm_flags | VM_RAND_READ
    )
    assert [(x.vm_start - addr) // PAGE for x in mm.vmas] == [0, 4, 8]
    assert mid.vm_pgoff == 4
    assert mid.vm_flags & VM_RAND_READ
    assert len(f.f_mapping.i_mmap) == 3
    assert f.f_count == 4
    whole = vma_modify_flags(m, mm, mid, mid.vm_start, mid.vm_end, mid.vm_flags & ~VM_RAND_READ)
    mm.mmap_sem.up_write()
    assert mm.vmas == [whole]
    assert (whole.vm_start, whole.vm_end, whole.vm_pgoff) == (addr, addr + 16 * PAGE, 0)
    assert f.f_mapping.i_mmap == [whole]
    assert f.f_count == 2


def test_do_mmap_requires_the_caller_to_hold_nothing_else(
    m: MemMachine, mm: MMStruct, f: FakeFile
) -> None:
    mm.mmap_sem.down_write()
    try:
        assert do_mmap(m, mm, f, 0, PAGE, R, MAP_SHARED, 0) > 0
    finally:
        mm.mmap_sem.up_write()


def test_filling_the_gap_between_two_vmas_merges_all_three(
    m: MemMachine, mm: MMStruct, f: FakeFile
) -> None:
    base = 0x10000000
    assert vm_mmap_pgoff(m, mm, f, base, 4 * PAGE, R, MAP_SHARED | MAP_FIXED, 0) == base
    high = base + 8 * PAGE
    assert vm_mmap_pgoff(m, mm, f, high, 4 * PAGE, R, MAP_SHARED | MAP_FIXED, 8) == high
    assert len(mm.vmas) == 2
    middle = base + 4 * PAGE
    assert vm_mmap_pgoff(m, mm, f, middle, 4 * PAGE, R, MAP_SHARED | MAP_FIXED, 4) == middle
    assert [(x.vm_start, x.vm_end, x.vm_pgoff) for x in mm.vmas] == [(base, base + 12 * PAGE, 0)]
    assert f.f_mapping.i_mmap == mm.vmas
    assert f.f_count == 2
