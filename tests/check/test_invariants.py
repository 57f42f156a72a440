"""Each invariant passes on healthy machines and names the corruption it exists to catch."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from checkrig import Rig, busy_rig, make_rig, map_file_page, populate, vma_for

from hugetmpfs.check import INVARIANTS, check_machine, check_machine_fast
from hugetmpfs.check.invariants import select
from hugetmpfs.mm import vmstat as v
from hugetmpfs.mm.machine import MAX_ORDER
from hugetmpfs.mm.mm_types import HugePmd
from hugetmpfs.mm.page_alloc import GFP_KERNEL, POISON, alloc_pages
from hugetmpfs.mm.page_flags import (
    PG_active,
    PG_buddy,
    PG_dirty,
    PG_lru,
    PG_swapbacked,
    PG_swapcache,
    PG_team,
)
from hugetmpfs.mm.radix_tree import swp_to_radix_entry
from hugetmpfs.mm.swap import LRU_INACTIVE_ANON
from hugetmpfs.mm.swapfile import SWAP_HAS_CACHE

if TYPE_CHECKING:
    from collections.abc import Callable


@pytest.fixture(scope="module")
def healthy() -> tuple[Rig, dict[str, int]]:
    return busy_rig()


def _fresh() -> tuple[Rig, dict[str, int]]:
    return busy_rig()


def names(rig: Rig, **kw: object) -> set[str]:
    return {x.name for x in check_machine(rig.m, **kw)}  # type: ignore[arg-type]


# -- healthy machines ---------------------------------------------------------------------


def test_every_invariant_is_documented_with_when_and_cost() -> None:
    invs = select()
    assert len(invs) >= 30
    for inv in invs:
        assert inv.when in ("step", "rest"), inv.name
        assert inv.cost, inv.name
        assert inv.doc, inv.name


def test_a_fresh_machine_is_consistent() -> None:
    rig = make_rig()
    assert check_machine(rig.m) == []


def test_a_busy_machine_is_consistent(healthy: tuple[Rig, dict[str, int]]) -> None:
    rig, _ = healthy
    assert check_machine(rig.m) == []
    assert check_machine_fast(rig.m) == []
    assert rig.shadow.verify() == []


def test_consistent_after_closing_everything() -> None:
    rig = make_rig()
    fds = populate(rig)
    for fd in fds.values():
        assert rig.shadow.close(fd) == 0
    assert rig.shadow.unlink("a") == 0
    assert check_machine(rig.m) == []
    assert rig.m.mounts[0].used_blocks == 6  # only "b" is left: named, 6 fallocated pages
    assert rig.shadow.verify() == []


# -- corruptions: each names its invariant ------------------------------------------------


def _cached(rig: Rig, fd: int, index: int) -> int:
    page = rig.task.files[fd].f_mapping.page_tree.lookup(index)
    assert page is not None
    assert page >= 0
    return page


def _free_block(rig: Rig, min_order: int = 1) -> tuple[int, int]:
    for order in range(min_order, MAX_ORDER):
        if rig.m.free_head[order] >= 0:
            return rig.m.free_head[order], order
    raise AssertionError("no free block")


def _inactive_anon(rig: Rig) -> int:
    page = rig.m.lru_head[LRU_INACTIVE_ANON]
    assert page >= 0
    return page


def _pvec_page(rig: Rig) -> int:
    return next(p for pvec in rig.m.lru_add_pvec for p in pvec)


def _shared_pte(rig: Rig) -> tuple[object, int]:
    mm = rig.task.mm
    pt = next(iter(mm.pmds.values()))
    i = next(i for i, pte in enumerate(pt.ptes) if pte)
    return pt, i


def c_nr_free(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.nr_free[_free_block(rig)[1]] += 1


def c_buddy_flag(rig: Rig, fds: dict[str, int]) -> None:
    page, _ = _free_block(rig)
    rig.m.flags[page] &= ~PG_buddy


def c_buddy_stray(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.flags[_cached(rig, fds["a"], 0)] |= PG_buddy


def c_buddy_unmerged(rig: Rig, fds: dict[str, int]) -> None:
    m = rig.m
    page, order = _free_block(rig)
    buddy = page ^ (1 << order)
    # pretend the buddy half is free too, as a separate block of the same order
    from hugetmpfs.mm.page_alloc import _add_to_free_list

    if m.flags[buddy] & PG_buddy:
        pytest.skip("buddy already free")
    for p in range(buddy, buddy + (1 << order)):
        m.refcount[p] = m.mapcount[p] = m.mapping[p] = 0
        m.mapcount[p] = -1
    _add_to_free_list(m, buddy, order)


def c_pcp_flags(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.flags[rig.m.pcp[0][0]] = PG_dirty


def c_pcp_twice(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.pcp[0].append(rig.m.pcp[0][0])


def c_nr_free_pages(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.vmstat.zone[v.NR_FREE_PAGES] += 1


def c_free_in_pagevec(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.lru_add_pvec[1].append(rig.m.pcp[0][0])


def c_lru_link(rig: Rig, fds: dict[str, int]) -> None:
    m = rig.m
    page = _inactive_anon(rig)
    m.lru_prev[m.lru_next[page]] = m.lru_next[page]


def c_lru_flag(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.flags[_inactive_anon(rig)] &= ~PG_lru


def c_lru_wrong_list(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.flags[_inactive_anon(rig)] |= PG_active


def c_lru_size(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.lru_size[LRU_INACTIVE_ANON] += 1
    rig.m.vmstat.zone[v.NR_INACTIVE_ANON] += 1


def c_lru_counter(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.vmstat.zone[v.NR_ACTIVE_ANON] += 1


def c_pagevec_lru(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.flags[_pvec_page(rig)] |= PG_lru


def c_cache_index(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.index[_cached(rig, fds["a"], 1)] += 7


def c_cache_swapbacked(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.flags[_cached(rig, fds["a"], 1)] &= ~PG_swapbacked


def c_stray_mapping(rig: Rig, fds: dict[str, int]) -> None:
    page = alloc_pages(rig.m, GFP_KERNEL, 0)
    assert page is not None
    rig.m.mapping[page] = rig.task.files[fds["a"]].f_mapping.id
    rig.m.index[page] = 1000


def c_nrpages(rig: Rig, fds: dict[str, int]) -> None:
    rig.task.files[fds["a"]].f_mapping.nrpages += 1


def c_nrexceptional(rig: Rig, fds: dict[str, int]) -> None:
    rig.task.files[fds["a"]].f_mapping.nrexceptional += 1


def c_refcount_low(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.refcount[_cached(rig, fds["a"], 1)] -= 1


def c_refcount_leak(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.refcount[_cached(rig, fds["a"], 1)] += 1


def c_lost_frame(rig: Rig, fds: dict[str, int]) -> None:
    page = alloc_pages(rig.m, GFP_KERNEL, 0)
    assert page is not None
    rig.m.refcount[page] = 0


def c_mapcount(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.mapcount[_cached(rig, fds["a"], 0)] += 1


def c_nr_present(rig: Rig, fds: dict[str, int]) -> None:
    pt, _ = _shared_pte(rig)
    pt.nr_present += 1  # type: ignore[attr-defined]


def c_rss(rig: Rig, fds: dict[str, int]) -> None:
    rig.task.mm.rss["MM_SHMEMPAGES"] += 1


def c_stale_pte(rig: Rig, fds: dict[str, int]) -> None:
    # a pte left behind by a truncation: the page is no longer the file's
    page = _cached(rig, fds["a"], 0)
    rig.m.index[page] = 40
    rig.task.files[fds["a"]].f_mapping.page_tree.delete(0)
    rig.task.files[fds["a"]].f_mapping.page_tree.insert(40, page)


def c_private_writable(rig: Rig, fds: dict[str, int]) -> None:
    vma = next(x for x in rig.task.mm.vmas if not x.vm_flags & 0x8)
    map_file_page(rig, vma, 1, write=True)


def c_vma_overlap(rig: Rig, fds: dict[str, int]) -> None:
    vma_for(rig, fds["a"], 2, shared=True, start=rig.task.mm.vmas[0].vm_start + 4096)


def c_i_mmap(rig: Rig, fds: dict[str, int]) -> None:
    rig.task.files[fds["a"]].f_mapping.i_mmap.clear()


def c_huge_pmd(rig: Rig, fds: dict[str, int]) -> None:
    mm = rig.task.mm
    mm.pmds[12345] = HugePmd(_cached(rig, fds["a"], 0), False, None)


def c_vmstat(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.vmstat.zone[v.NR_SHMEM] += 1


def c_vmstat_mapped(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.vmstat.zone[v.NR_FILE_MAPPED] -= 1


def c_vmstat_pagetable(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.vmstat.zone[v.NR_PAGETABLE] += 1


def c_vmstat_team(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.vmstat.zone[v.NR_SHMEM_FREEHOLES] += 3


def c_vmstat_negative(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.vmstat.zone[v.NR_BOUNCE] -= 1


def c_vmstat_file_pages(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.vmstat.zone[v.NR_FILE_PAGES] += 1


def c_i_blocks(rig: Rig, fds: dict[str, int]) -> None:
    rig.task.files[fds["a"]].inode.i_blocks += 8


def c_alloced(rig: Rig, fds: dict[str, int]) -> None:
    inode = rig.task.files[fds["b"]].inode  # a page in the cache that alloced missed
    inode.alloced -= 1
    inode.i_blocks -= 8
    rig.task.sb.used_blocks -= 1


def c_used_blocks(rig: Rig, fds: dict[str, int]) -> None:
    rig.task.sb.used_blocks += 1


def c_used_blocks_low(rig: Rig, fds: dict[str, int]) -> None:
    rig.task.sb.used_blocks -= 1


def c_unevicted(rig: Rig, fds: dict[str, int]) -> None:
    inode = rig.task.files[fds["c"]].inode
    inode.i_count = 0  # unlinked and unused, yet not evicted


def c_swapped(rig: Rig, fds: dict[str, int]) -> None:
    rig.task.files[fds["b"]].inode.swapped -= 1
    rig.task.files[fds["b"]].inode.alloced -= 1
    rig.task.files[fds["b"]].inode.i_blocks -= 8
    rig.task.sb.used_blocks -= 1


def c_swapcache_flag(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.flags[next(iter(rig.m.swapper_space.values()))] &= ~PG_swapcache


def c_swap_map_low(rig: Rig, fds: dict[str, int]) -> None:
    slot = next(iter(rig.m.swapper_space))
    rig.m.swap_info.swap_map[slot] = SWAP_HAS_CACHE


def c_swap_slot_leak(rig: Rig, fds: dict[str, int]) -> None:
    si = rig.m.swap_info
    si.swap_map[200] = 1
    si.inuse_pages += 1


def c_swap_entry_dangling(rig: Rig, fds: dict[str, int]) -> None:
    mapping = rig.task.files[fds["b"]].f_mapping
    mapping.page_tree.insert(30, swp_to_radix_entry(300))
    mapping.nrexceptional += 1


def c_poison_mapped(rig: Rig, fds: dict[str, int]) -> None:
    rig.m.content[_cached(rig, fds["a"], 0)] = POISON


def c_team_counter(rig: Rig, fds: dict[str, int]) -> None:
    # a live team head nobody counted: PageTeam, aligned pfn and index, 3 members
    m = rig.m
    page = _cached(rig, fds["a"], 0)
    head = page & ~(m.HPAGE_PMD_NR - 1)
    m.flags[head] |= PG_team
    m.mapping[head] = rig.task.files[fds["a"]].f_mapping.id
    m.index[head] = 0
    m.private[head] = 3 * m.team.TEAM_PAGE_COUNTER


CORRUPTIONS: list[tuple[str, Callable[[Rig, dict[str, int]], None]]] = [
    ("buddy_free_lists_consistent", c_nr_free),
    ("buddy_free_lists_consistent", c_buddy_flag),
    ("buddy_free_lists_consistent", c_buddy_stray),
    ("buddy_free_lists_consistent", c_buddy_unmerged),
    ("pcp_lists_consistent", c_pcp_flags),
    ("frames_partitioned", c_pcp_twice),
    ("nr_free_pages_matches", c_nr_free_pages),
    ("free_pages_unreferenced", c_free_in_pagevec),
    ("lru_lists_well_formed", c_lru_link),
    ("lru_flags_match_lists", c_lru_flag),
    ("lru_flags_match_lists", c_lru_wrong_list),
    ("lru_size_matches_lists", c_lru_size),
    ("lru_counters_agree", c_lru_counter),
    ("pagevecs_consistent", c_pagevec_lru),
    ("pagecache_matches_page_fields", c_cache_index),
    ("pagecache_matches_page_fields", c_cache_swapbacked),
    ("page_fields_match_pagecache", c_stray_mapping),
    ("pagecache_counts_match", c_nrpages),
    ("nrpages_match_tree_count", c_nrexceptional),
    ("refcount_covers_owners", c_refcount_low),
    ("refcount_matches_owners", c_refcount_leak),
    ("refcount_matches_owners", c_lost_frame),
    ("page_tables_match_mapcounts", c_mapcount),
    ("page_table_counts_match", c_nr_present),
    ("page_table_counts_match", c_rss),
    ("ptes_match_vmas", c_stale_pte),
    ("ptes_match_vmas", c_private_writable),
    ("ptes_match_vmas", c_huge_pmd),
    ("vmas_well_formed", c_vma_overlap),
    ("vmas_well_formed", c_i_mmap),
    ("vmstat_matches_recount", c_vmstat),
    ("vmstat_matches_recount", c_vmstat_mapped),
    ("vmstat_matches_recount", c_vmstat_pagetable),
    ("vmstat_matches_recount", c_vmstat_team),
    ("vmstat_matches_recount", c_team_counter),
    ("vmstat_nonnegative", c_vmstat_negative),
    ("vmstat_counters_consistent", c_vmstat_file_pages),
    ("inode_blocks_match", c_i_blocks),
    ("inode_alloced_matches_pages", c_alloced),
    ("sb_used_blocks_match", c_used_blocks),
    ("sb_used_blocks_cover_inodes", c_used_blocks_low),
    ("inode_lifetimes_consistent", c_unevicted),
    ("inode_swapped_matches_entries", c_swapped),
    ("swapcache_matches_page_fields", c_swapcache_flag),
    ("swap_slots_cover_entries", c_swap_map_low),
    ("swap_slots_cover_entries", c_swap_entry_dangling),
    ("swap_slots_match_entries", c_swap_slot_leak),
    ("user_pages_initialised", c_poison_mapped),
]


@pytest.mark.parametrize(
    ("name", "corrupt"), CORRUPTIONS, ids=[f"{n}-{f.__name__}" for n, f in CORRUPTIONS]
)
def test_corruption_is_named(name: str, corrupt: Callable[[Rig, dict[str, int]], None]) -> None:
    rig, fds = _fresh()
    corrupt(rig, fds)
    found = check_machine(rig.m)
    assert name in {x.name for x in found}, [str(x) for x in found]
    # the named invariant alone, called directly, sees it too, with a precise message
    direct = INVARIANTS[name].fn
    from hugetmpfs.check.invariants import machine_context

    messages = [x.message for x in direct(machine_context(rig.m))]
    assert messages
    assert all(messages)


def test_every_invariant_has_a_corruption_test() -> None:
    from test_team_lists import TEAM_LIST_CORRUPTIONS  # teams under reclaim, own rig
    from test_teams import TEAM_CORRUPTIONS  # pmd-mapped teams, own rig

    tested = {name for name, _ in CORRUPTIONS} | {name for name, _ in TEAM_LIST_CORRUPTIONS}
    tested |= {name for name, _ in TEAM_CORRUPTIONS}
    assert set(INVARIANTS) - tested == set()
