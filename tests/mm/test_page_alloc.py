"""mm/page_alloc.c for one zone: boot, buddy split and merge, per-CPU hot/cold lists,
watermarks, split_page and the bad-page checks at free."""

from __future__ import annotations

import pytest

from hugetmpfs.check import check_machine
from hugetmpfs.errors import ModelBug
from hugetmpfs.mm.machine import MAX_ORDER, MemMachine
from hugetmpfs.mm.page_alloc import (
    GFP_KERNEL,
    PCP_BATCH,
    PCP_HIGH,
    POISON,
    alloc_pages,
    drain_all_pages,
    free_hot_cold_page,
    free_pcppages_bulk,
    split_page,
    zone_watermark_ok,
)
from hugetmpfs.mm.page_alloc import __free_pages as free_pages
from hugetmpfs.mm.page_alloc import __rmqueue_smallest as rmqueue_smallest
from hugetmpfs.mm.page_flags import PG_buddy, PG_lru
from hugetmpfs.mm.page_ref import put_page_testzero
from hugetmpfs.mm.vmstat import NR_FREE_PAGES
from hugetmpfs.sim import Engine, RoundRobinStrategy

ALLOCATOR = (
    "buddy_free_lists_consistent",
    "pcp_lists_consistent",
    "frames_partitioned",
    "nr_free_pages_matches",
)


def machine(ram: int = 8 << 20) -> MemMachine:
    return MemMachine(Engine(RoundRobinStrategy()), ram, cpus=2, hpage_nr=512)


def free0(m: MemMachine, page: int, cold: bool = False) -> None:
    assert put_page_testzero(m, page)
    free_hot_cold_page(m, page, cold)


def test_boot_puts_every_frame_in_the_largest_aligned_blocks() -> None:
    m = machine(9 << 20)  # 2304 frames: two order-10 blocks and one order-8
    assert m.nr_free[MAX_ORDER - 1] == 2
    assert m.nr_free[8] == 1
    assert sum(n << o for o, n in enumerate(m.nr_free)) == m.nr_frames
    assert m.vmstat.zone[NR_FREE_PAGES] == m.nr_frames
    assert m.flags[0] == PG_buddy
    assert m.private[0] == MAX_ORDER - 1
    assert check_machine(m, names=ALLOCATOR) == []


def test_rmqueue_smallest_splits_a_large_block_into_one_of_each_order() -> None:
    m = machine(4 << 20)  # one order-10 block
    page = rmqueue_smallest(m, 0)
    assert page == 0
    assert m.nr_free == [1] * (MAX_ORDER - 1) + [0]
    assert m.free_head[9] == 512  # the upper half of the block
    assert m.free_head[0] == 1


def test_order0_allocation_refills_the_cpu_list_in_a_batch() -> None:
    m = machine()
    page = alloc_pages(m, GFP_KERNEL, 0)
    assert page is not None
    assert len(m.pcp[0]) == PCP_BATCH - 1
    assert m.vmstat.zone[NR_FREE_PAGES] == m.nr_frames - PCP_BATCH  # pcp pages are not free
    assert m.refcount[page] == 1
    assert m.content[page] == POISON  # garbage until someone initialises it
    assert check_machine(m, names=ALLOCATOR) == []


def test_hot_frees_are_reused_first_and_cold_frees_last() -> None:
    m = machine()
    a = alloc_pages(m, GFP_KERNEL, 0)
    b = alloc_pages(m, GFP_KERNEL, 0)
    assert a is not None
    assert b is not None
    free0(m, a, cold=True)
    free0(m, b, cold=False)
    assert alloc_pages(m, GFP_KERNEL, 0) == b  # hot: at the hot end
    assert m.pcp[0][0] == a  # cold: at the end drained first
    free_pcppages_bulk(m, 0, 1)
    assert a not in m.pcp[0]
    assert m.flags[a] & PG_buddy or m.flags[a & ~1] & PG_buddy  # back in a buddy block
    assert check_machine(m, names=ALLOCATOR) == []


def test_a_cpu_list_past_its_high_mark_frees_a_batch() -> None:
    m = machine()
    pages = [alloc_pages(m, GFP_KERNEL, 0) for _ in range(PCP_HIGH + 5)]
    assert None not in pages
    for page in pages:
        free0(m, page)  # type: ignore[arg-type]
        assert len(m.pcp[0]) < PCP_HIGH
    assert check_machine(m, names=ALLOCATOR) == []


def test_freeing_a_block_merges_it_back() -> None:
    m = machine(4 << 20)
    page = alloc_pages(m, GFP_KERNEL, 9)
    assert page is not None
    assert m.nr_free[MAX_ORDER - 1] == 0
    free_pages(m, page, 9)
    assert m.nr_free[MAX_ORDER - 1] == 1
    assert m.vmstat.zone[NR_FREE_PAGES] == m.nr_frames
    assert check_machine(m, names=ALLOCATOR) == []


def test_split_page_makes_independent_pages_that_free_back_to_a_block() -> None:
    m = machine(4 << 20)
    page = alloc_pages(m, GFP_KERNEL, 3)
    assert page is not None
    split_page(m, page, 3)
    assert [m.refcount[p] for p in range(page, page + 8)] == [1] * 8
    for p in range(page, page + 8):
        free0(m, p, cold=True)
    drain_all_pages(m)
    assert m.nr_free[MAX_ORDER - 1] == 1  # every page merged back
    assert all(not pcp for pcp in m.pcp)
    assert check_machine(m, names=ALLOCATOR) == []


def test_watermarks_refuse_what_would_drain_the_zone() -> None:
    m = machine(8 << 20)
    assert alloc_pages(m, GFP_KERNEL, MAX_ORDER - 1) is not None
    # 1024 frames left, far above the watermarks, but taking them all would breach min
    assert not zone_watermark_ok(m, MAX_ORDER - 1, m.wmark_min)
    assert alloc_pages(m, GFP_KERNEL, MAX_ORDER - 1) is None
    assert alloc_pages(m, GFP_KERNEL, 5) is not None


def test_freeing_a_page_in_use_is_a_bad_page_state() -> None:
    m = machine()
    page = alloc_pages(m, GFP_KERNEL, 0)
    assert page is not None
    m.flags[page] |= PG_lru
    with pytest.raises(ModelBug, match="Bad page state"):
        free0(m, page)


def test_freeing_an_anonymous_page_forgets_its_anon_vma() -> None:
    m = machine()

    class AnonVma:
        PAGE_MAPPING_ANON = True

    page = alloc_pages(m, GFP_KERNEL, 0)
    assert page is not None
    m.mapping[page] = m.register_mapping(AnonVma())
    free0(m, page)
    assert m.mapping[page] == 0
    assert check_machine(m, names=ALLOCATOR) == []
