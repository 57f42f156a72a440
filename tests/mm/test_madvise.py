"""madvise answers and effects, as measured on Linux 6.18's tmpfs (mm/madvise.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from fakefs import PAGE, FakeFile, in_actor

from hugetmpfs.mm import madvise as mad
from hugetmpfs.mm import vmstat as v
from hugetmpfs.mm.fault import access_address
from hugetmpfs.mm.highmem import page_read
from hugetmpfs.mm.madvise import do_madvise
from hugetmpfs.mm.mm_types import (
    FMODE_READ,
    FMODE_WRITE,
    VM_HUGEPAGE,
    VM_NOHUGEPAGE,
    VM_RAND_READ,
    VM_SEQ_READ,
    MMStruct,
)
from hugetmpfs.mm.mmap import (
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    PROT_READ,
    PROT_WRITE,
    vm_mmap_pgoff,
)
from hugetmpfs.mm.page_flags import PG_active, PG_dirty, PG_referenced
from hugetmpfs.mm.swap import LRU_ACTIVE_ANON, LRU_INACTIVE_ANON, lru_add_drain, lru_list_pages
from hugetmpfs.mm.task_mmu import smaps

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine

R, RW = PROT_READ, PROT_READ | PROT_WRITE
BASE = 0x7E00_0000_0000
N = 32
EINVAL, ENOMEM, EFAULT, EACCES = -22, -12, -14, -13

KINDS = {  # name: (f_mode, prot, flags)
    "shared rw": (FMODE_READ | FMODE_WRITE, RW, MAP_SHARED),
    "shared r": (FMODE_READ | FMODE_WRITE, R, MAP_SHARED),
    "shared r (ro fd)": (FMODE_READ, R, MAP_SHARED),
    "private rw": (FMODE_READ | FMODE_WRITE, RW, MAP_PRIVATE),
    "private r": (FMODE_READ, R, MAP_PRIVATE),
}


def rss_kb(m: MemMachine, mm: MMStruct, addr: int, pages: int = N) -> tuple[int, int]:
    s = smaps(m, mm, addr, addr + pages * PAGE)
    return s["Rss"], s["Anonymous"]


def setup_case(m: MemMachine, mm: MMStruct, kind: str) -> tuple[FakeFile, int]:
    """The kernel experiment: 32 written pages mapped whole, even pages read (fault-around
    maps all), page 9 written when the mapping may write."""
    f_mode, prot, flags = KINDS[kind]
    f = FakeFile(m, f_mode=f_mode)
    for i in range(N):
        f.write(m, i, 1)
    addr = vm_mmap_pgoff(m, mm, f, BASE, N * PAGE, prot, flags | MAP_FIXED, 0)
    for i in range(0, N, 2):
        assert access_address(m, mm, addr + i * PAGE, False) == 0
    if prot & PROT_WRITE:
        assert access_address(m, mm, addr + 9 * PAGE, True, 5) == 0
    return f, addr


# (advice, {kind: (ret, Rss after kB, Anonymous after kB, file pages after, VMAs)})
# before: Rss 128, Anonymous 4 on private rw, 32 file pages, 1 VMA
ALL0 = {k: (0, 128, 4 if k == "private rw" else 0, 32, 1) for k in KINDS}
SPLIT = {k: (0, 128, 4 if k == "private rw" else 0, 32, 3) for k in KINDS}
TABLE = [
    (mad.MADV_NORMAL, ALL0),
    (mad.MADV_RANDOM, SPLIT),
    (mad.MADV_SEQUENTIAL, SPLIT),
    (mad.MADV_HUGEPAGE, SPLIT),
    (mad.MADV_NOHUGEPAGE, SPLIT),
    (mad.MADV_WILLNEED, ALL0),
    (mad.MADV_COLD, ALL0),
    (mad.MADV_POPULATE_READ, ALL0),
    (mad.MADV_DONTNEED, dict.fromkeys(KINDS, (0, 96, 0, 32, 1))),
    (mad.MADV_FREE, {k: (EINVAL, *ALL0[k][1:]) for k in KINDS}),
    (mad.MADV_COLLAPSE, {k: (EINVAL, *ALL0[k][1:]) for k in KINDS}),
    (
        mad.MADV_REMOVE,
        {
            "shared rw": (0, 96, 0, 24, 1),
            "shared r": (0, 96, 0, 24, 1),
            "shared r (ro fd)": (EACCES, 128, 0, 32, 1),
            "private rw": (EACCES, 128, 4, 32, 1),
            "private r": (EACCES, 128, 0, 32, 1),
        },
    ),
    (
        mad.MADV_PAGEOUT,
        {
            "shared rw": (0, 96, 0, 32, 1),
            "shared r": (0, 96, 0, 32, 1),
            "shared r (ro fd)": (0, 96, 0, 32, 1),
            "private rw": (0, 100, 4, 32, 1),  # the COW copy stays: no swap
            "private r": (0, 96, 0, 32, 1),
        },
    ),
    (
        mad.MADV_POPULATE_WRITE,
        {
            "shared rw": (0, 128, 0, 32, 1),
            "shared r": (EINVAL, 128, 0, 32, 1),
            "shared r (ro fd)": (EINVAL, 128, 0, 32, 1),
            "private rw": (0, 128, 32, 32, 1),  # every page of the range copied
            "private r": (EINVAL, 128, 0, 32, 1),
        },
    ),
]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize(("advice", "answers"), TABLE)
def test_answers_match_6_18(
    m: MemMachine,
    mm: MMStruct,
    kind: str,
    advice: int,
    answers: dict[str, tuple[int, int, int, int, int]],
) -> None:
    def body() -> None:  # in an actor: lockdep checks every lock the advice takes
        f, addr = setup_case(m, mm, kind)
        assert rss_kb(m, mm, addr) == (128, 4 if kind == "private rw" else 0)
        ret = do_madvise(m, mm, addr + 8 * PAGE, 8 * PAGE, advice)
        assert (ret, *rss_kb(m, mm, addr), len(f.cached()), len(mm.vmas)) == answers[kind]

    in_actor(m, body)


@pytest.mark.parametrize(
    ("advice", "flag"),
    [
        (mad.MADV_RANDOM, VM_RAND_READ),
        (mad.MADV_SEQUENTIAL, VM_SEQ_READ),
        (mad.MADV_HUGEPAGE, VM_HUGEPAGE),
        (mad.MADV_NOHUGEPAGE, VM_NOHUGEPAGE),
    ],
)
def test_flag_advice_splits_and_normal_merges_back(
    m: MemMachine, mm: MMStruct, advice: int, flag: int
) -> None:
    f, addr = setup_case(m, mm, "shared rw")
    assert do_madvise(m, mm, addr + 8 * PAGE, 8 * PAGE, advice) == 0
    assert [bool(x.vm_flags & flag) for x in mm.vmas] == [False, True, False]
    back = (
        mad.MADV_NORMAL
        if flag in (VM_RAND_READ, VM_SEQ_READ)
        else (mad.MADV_NOHUGEPAGE if flag == VM_HUGEPAGE else mad.MADV_HUGEPAGE)
    )
    assert do_madvise(m, mm, addr, N * PAGE, back) == 0
    assert len(mm.vmas) == 1
    assert len(f.f_mapping.i_mmap) == 1


@pytest.mark.parametrize(
    "advice",
    [mad.MADV_DONTNEED, mad.MADV_NORMAL, mad.MADV_POPULATE_READ, mad.MADV_COLLAPSE, mad.MADV_FREE],
)
def test_argument_checks(m: MemMachine, mm: MMStruct, advice: int) -> None:
    _f, addr = setup_case(m, mm, "shared rw")
    assert do_madvise(m, mm, addr + 1, PAGE, advice) == EINVAL
    assert do_madvise(m, mm, addr, 0, advice) == 0
    assert do_madvise(m, mm, addr + 1, 0, advice) == EINVAL
    assert do_madvise(m, mm, addr, -1, advice) == EINVAL
    assert do_madvise(m, mm, addr, -4096, advice) == EINVAL
    expected = EINVAL if advice in (mad.MADV_COLLAPSE, mad.MADV_FREE) else 0
    assert do_madvise(m, mm, addr, 1, advice) == expected


def test_unknown_advice(m: MemMachine, mm: MMStruct) -> None:
    assert do_madvise(m, mm, BASE, PAGE, 7) == EINVAL


# -- ranges reaching outside the mapping ---------------------------------------------------------


@pytest.mark.parametrize(
    ("advice", "tail", "head"),
    [  # (ret, Rss kB after) for [24, 40) and then for [-8, 8)
        (mad.MADV_DONTNEED, (ENOMEM, 96), (ENOMEM, 64)),
        (mad.MADV_RANDOM, (ENOMEM, 128), (ENOMEM, 128)),
        (mad.MADV_FREE, (EINVAL, 128), (EINVAL, 128)),
        (mad.MADV_REMOVE, (ENOMEM, 96), (ENOMEM, 64)),
        (mad.MADV_COLLAPSE, (EINVAL, 128), (EINVAL, 128)),
        (mad.MADV_WILLNEED, (ENOMEM, 128), (ENOMEM, 128)),
        (mad.MADV_PAGEOUT, (ENOMEM, 96), (ENOMEM, 64)),
    ],
)
def test_gaps_answer_enomem_after_applying(
    m: MemMachine, mm: MMStruct, advice: int, tail: tuple[int, int], head: tuple[int, int]
) -> None:
    _f, addr = setup_case(m, mm, "shared rw")
    assert (do_madvise(m, mm, addr + 24 * PAGE, 16 * PAGE, advice), rss_kb(m, mm, addr)[0]) == tail
    assert (do_madvise(m, mm, addr - 8 * PAGE, 16 * PAGE, advice), rss_kb(m, mm, addr)[0]) == head


@pytest.mark.parametrize("advice", [mad.MADV_POPULATE_READ, mad.MADV_POPULATE_WRITE])
def test_populate_stops_at_a_gap(m: MemMachine, mm: MMStruct, f: FakeFile, advice: int) -> None:
    for i in range(N):
        f.write(m, i, 2)
    addr = vm_mmap_pgoff(m, mm, f, BASE, N * PAGE, RW, MAP_SHARED | MAP_FIXED, 0)
    assert do_madvise(m, mm, addr - 8 * PAGE, 16 * PAGE, advice) == ENOMEM
    assert rss_kb(m, mm, addr)[0] == 0  # nothing populated: the gap came first
    assert do_madvise(m, mm, addr + 24 * PAGE, 16 * PAGE, advice) == ENOMEM
    assert rss_kb(m, mm, addr + 24 * PAGE, 8)[0] == 32


# -- populate ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("advice", "flags", "rss", "anon"),
    [
        (mad.MADV_POPULATE_READ, MAP_SHARED, 44, 0),  # fault-around mapped 0..3 too
        (mad.MADV_POPULATE_READ, MAP_PRIVATE, 44, 0),
        (mad.MADV_POPULATE_WRITE, MAP_SHARED, 28, 0),
        (mad.MADV_POPULATE_WRITE, MAP_PRIVATE, 28, 28),
    ],
)
def test_populate_beyond_eof_is_efault_after_the_pages_before(
    m: MemMachine, mm: MMStruct, f: FakeFile, advice: int, flags: int, rss: int, anon: int
) -> None:
    for i in range(11):
        f.write(m, i, 1)
    f.inode.i_size = 10 * PAGE + 100
    addr = vm_mmap_pgoff(m, mm, f, 0, N * PAGE, RW, flags, 0)
    assert do_madvise(m, mm, addr + 4 * PAGE, 20 * PAGE, advice) == EFAULT
    assert rss_kb(m, mm, addr) == (rss, anon)


def test_populate_fills_holes_willneed_does_not(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    f.inode.i_size = N * PAGE
    addr = vm_mmap_pgoff(m, mm, f, 0, N * PAGE, RW, MAP_SHARED, 0)
    assert do_madvise(m, mm, addr, 4 * PAGE, mad.MADV_POPULATE_READ) == 0
    assert (rss_kb(m, mm, addr)[0], len(f.cached())) == (16, 4)
    assert not any(m.flags[p] & PG_dirty for p in f.cached().values())
    assert do_madvise(m, mm, addr + 8 * PAGE, 4 * PAGE, mad.MADV_POPULATE_WRITE) == 0
    assert (rss_kb(m, mm, addr)[0], len(f.cached())) == (32, 8)
    assert sum(1 for p in f.cached().values() if m.flags[p] & PG_dirty) == 4
    assert do_madvise(m, mm, addr + 16 * PAGE, 4 * PAGE, mad.MADV_WILLNEED) == 0
    assert (rss_kb(m, mm, addr)[0], len(f.cached())) == (32, 8)


# -- PAGEOUT and COLD -------------------------------------------------------------------------


def _read(m: MemMachine, mm: MMStruct, addr: int, pages: range) -> None:
    for i in pages:
        assert access_address(m, mm, addr + i * PAGE, False) == 0


def _write(m: MemMachine, mm: MMStruct, addr: int, pages: range) -> None:
    for i in pages:
        assert access_address(m, mm, addr + i * PAGE, True, 5) == 0


def _dontneed_then_read(m: MemMachine, mm: MMStruct, addr: int) -> None:
    _read(m, mm, addr, range(4))
    _write(m, mm, addr, range(4))
    assert do_madvise(m, mm, addr, 4 * PAGE, mad.MADV_DONTNEED) == 0
    _read(m, mm, addr, range(4))


@pytest.mark.parametrize(
    ("prepare", "kept"),
    [  # measured: which of 4 pages stay cached after PAGEOUT
        (lambda m, mm, a: _read(m, mm, a, range(4)), 0),  # clean holes are freed
        (lambda m, mm, a: (_read(m, mm, a, range(4)), _write(m, mm, a, range(4))), 4),
        (lambda m, mm, a: _write(m, mm, a, range(4)), 4),
        (lambda m, mm, a: do_madvise(m, mm, a, 4 * PAGE, mad.MADV_POPULATE_WRITE), 4),
        (lambda m, mm, a: do_madvise(m, mm, a, 4 * PAGE, mad.MADV_POPULATE_READ), 0),
        (_dontneed_then_read, 4),  # zap moved the pte's dirt to the page
    ],
)
def test_pageout_frees_clean_pages_and_keeps_dirty_ones(
    m: MemMachine, mm: MMStruct, f: FakeFile, prepare: object, kept: int
) -> None:
    f.inode.i_size = N * PAGE
    addr = vm_mmap_pgoff(m, mm, f, 0, N * PAGE, RW, MAP_SHARED, 0)
    in_actor(m, prepare, m, mm, addr)
    shmem = m.vmstat.zone[v.NR_SHMEM]
    assert in_actor(m, do_madvise, m, mm, addr, N * PAGE, mad.MADV_PAGEOUT) == 0
    assert rss_kb(m, mm, addr)[0] == 0
    assert len(f.cached()) == kept
    assert m.vmstat.zone[v.NR_SHMEM] == shmem - (4 - kept)
    assert m.vmstat.zone[v.NR_FILE_MAPPED] == 0
    if kept == 0:  # a fresh fault finds a hole again and reads zeroes
        assert access_address(m, mm, addr + 3 * PAGE, False) == 0
        assert page_read(m, f.cached()[3], 0, 1) == b"\x00"


def test_pageout_and_cold_skip_pages_mapped_twice(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    for i in range(N):
        f.write(m, i, 2)
    a = vm_mmap_pgoff(m, mm, f, 0, N * PAGE, R, MAP_SHARED, 0)
    b = vm_mmap_pgoff(m, mm, f, 0, N * PAGE, R, MAP_SHARED, 0)
    _read(m, mm, a, range(1))
    _read(m, mm, b, range(1))
    assert do_madvise(m, mm, a, 16 * PAGE, mad.MADV_PAGEOUT) == 0
    assert (rss_kb(m, mm, a)[0], rss_kb(m, mm, b)[0]) == (64, 64)
    assert do_madvise(m, mm, a, 16 * PAGE, mad.MADV_COLD) == 0
    assert (rss_kb(m, mm, a)[0], rss_kb(m, mm, b)[0]) == (64, 64)


def test_cold_deactivates_and_clears_young(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    for i in range(4):
        page = f.write(m, i, 3)
        m.flags[page] |= PG_active
    lru_add_drain(m)
    addr = vm_mmap_pgoff(m, mm, f, 0, 4 * PAGE, R, MAP_SHARED, 0)
    _read(m, mm, addr, range(1))
    pages = set(f.cached().values())
    assert pages <= set(lru_list_pages(m, LRU_ACTIVE_ANON))
    assert do_madvise(m, mm, addr, 4 * PAGE, mad.MADV_COLD) == 0
    assert pages <= set(lru_list_pages(m, LRU_INACTIVE_ANON))
    assert not any(m.flags[p] & (PG_active | PG_referenced) for p in pages)
    assert rss_kb(m, mm, addr)[0] == 16
    pt = mm.pmds[addr >> 21]
    assert not any(pte & 8 for pte in pt.ptes if pte)  # PTE_YOUNG cleared


# -- hooks: REMOVE, WILLNEED, COLLAPSE ---------------------------------------------------------


def test_remove_punches_the_file_range_without_mmap_sem(
    m: MemMachine, mm: MMStruct, f: FakeFile
) -> None:
    seen = []
    punch = f.fallocate_punch

    def spy(m_: MemMachine, offset: int, length: int) -> int:
        seen.append((offset, length, list(mm.mmap_sem.readers)))
        return punch(m_, offset, length)

    f.fallocate_punch = spy  # type: ignore[method-assign]
    f.inode.i_size = 64 * PAGE
    addr = vm_mmap_pgoff(m, mm, f, 0, 16 * PAGE, RW, MAP_SHARED, 4)  # file pages 4..19
    assert do_madvise(m, mm, addr + 2 * PAGE, 3 * PAGE, mad.MADV_REMOVE) == 0
    assert seen == [(6 * PAGE, 3 * PAGE, [])]


def test_willneed_and_collapse_hooks(m: MemMachine, mm: MMStruct, f: FakeFile) -> None:
    calls = []
    f.madvise_willneed = lambda m_, vma, s, e: calls.append(("willneed", s, e))  # type: ignore[attr-defined]
    f.madvise_collapse = lambda m_, vma, s, e: calls.append(("collapse", s, e)) or 0  # type: ignore[attr-defined]
    addr = vm_mmap_pgoff(m, mm, f, 0, 16 * PAGE, RW, MAP_SHARED, 0)
    assert do_madvise(m, mm, addr, 2 * PAGE, mad.MADV_WILLNEED) == 0
    assert do_madvise(m, mm, addr, 2 * PAGE, mad.MADV_COLLAPSE) == 0
    assert calls == [("willneed", addr, addr + 2 * PAGE), ("collapse", addr, addr + 2 * PAGE)]
