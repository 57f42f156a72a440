"""Team pages under reclaim: a tail waits for its head, parked on the Unevictable list with
weight 0 (its weight moved to the head); the head disbands the team, which gives the weight
back (evictify), then goes to swap (patches 04, 13 of 31)."""

from __future__ import annotations

import pytest
from teamrig import N, file_with, huge_task, page_at, read_page, write_pages

from hugetmpfs.check import check_machine, machine_at_rest, step_hook
from hugetmpfs.mm import vmstat as v
from hugetmpfs.mm.mm_types import MMStruct
from hugetmpfs.mm.page_flags import PG_active, PG_lru, PG_swapcache, PG_team, PG_unevictable
from hugetmpfs.mm.swap import (
    LRU_INACTIVE_ANON,
    LRU_UNEVICTABLE,
    isolate_lru_page,
    lru_add_drain_all,
    lru_list_pages,
)
from hugetmpfs.mm.vmscan import page_evictable, reclaim_pages
from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.machine import Machine, MachineConfig
from hugetmpfs.sim import RandomStrategy

PUNCH = vfs.FALLOC_FL_PUNCH_HOLE | vfs.FALLOC_FL_KEEP_SIZE


def _reclaim(task: vfs.Task, page: int) -> int:
    m = task.m
    if isolate_lru_page(m, page) != 0:
        return 0
    return reclaim_pages(m, [page])


def _weight(task: vfs.Task, page: int) -> int:
    return task.m.private[page] & task.m.team.TEAM_LRU_WEIGHT_MASK


def test_a_tail_waits_for_its_head_parked_with_weight_zero() -> None:
    task = huge_task(swap=4 << 20)
    fd = file_with(task, "f", [0, 1, 2])
    m = task.m
    head, tail = page_at(task, fd, 0), page_at(task, fd, 1)
    assert _reclaim(task, tail) == 0
    assert m.flags[tail] & PG_team
    assert m.flags[tail] & PG_unevictable
    assert not m.flags[tail] & PG_active, "for_reclaim cleared: kept, not activated"
    assert m.private[tail] == 0
    assert not page_evictable(m, tail)
    assert _weight(task, head) == 2
    assert tail in lru_list_pages(m, LRU_UNEVICTABLE)
    assert m.lru_size[LRU_UNEVICTABLE] == 0, "a parked tail weighs nothing"
    assert m.lru_size[LRU_INACTIVE_ANON] == 3, "its weight is on the head's list"
    assert m.vmstat.zone[v.NR_ISOLATED_ANON] == 0
    assert m.swap_info.inuse_pages == 0, "nothing was written"
    assert check_machine(m) == []


def test_the_head_disbands_evictifies_and_swaps() -> None:
    task = huge_task(swap=4 << 20)
    fd = file_with(task, "f", [0, 1, 2])
    m = task.m
    data = {i: read_page(task, fd, i) for i in range(3)}
    head, tail = page_at(task, fd, 0), page_at(task, fd, 1)
    _reclaim(task, tail)
    _reclaim(task, page_at(task, fd, 2))
    assert _weight(task, head) == 3
    _reclaim(task, head)
    assert not m.flags[head] & PG_team
    assert m.flags[head] & PG_swapcache, "the head went to swap once the team was gone"
    for page in (tail, tail + 1):
        assert not m.flags[page] & (PG_team | PG_unevictable)
        assert m.private[page] == 1, "evictify gave the weight back"
        assert m.flags[page] & PG_lru
    assert m.lru_size[LRU_UNEVICTABLE] == 0
    assert m.vmstat.zone[v.NR_SHMEM_FREEHOLES] == 0
    assert check_machine(m) == []
    assert {i: read_page(task, fd, i) for i in range(3)} == data
    assert check_machine(m) == []


def test_a_tail_of_a_team_whose_head_is_a_hole_disbands_and_swaps() -> None:
    task = huge_task(swap=4 << 20)
    fd = file_with(task, "f", [1, 2])
    m = task.m
    data = read_page(task, fd, 1)
    tail = page_at(task, fd, 1)
    assert m.vmstat.zone[v.NR_SHMEM_FREEHOLES] == N - 2
    _reclaim(task, tail)
    assert m.flags[tail] & PG_swapcache
    assert not m.flags[page_at(task, fd, 2)] & PG_team
    assert m.vmstat.zone[v.NR_SHMEM_FREEHOLES] == 0
    assert check_machine(m) == []
    assert read_page(task, fd, 1) == data


def test_truncation_returns_a_parked_tails_weight() -> None:
    task = huge_task(swap=4 << 20)
    fd = file_with(task, "f", [0, 1, 2, 3])
    m = task.m
    for index in (1, 2, 3):
        _reclaim(task, page_at(task, fd, index))
    assert _weight(task, page_at(task, fd, 0)) == 4
    tail = page_at(task, fd, 3)
    assert vfs.sys_ftruncate(task, fd, 3 * 4096) == 0  # disbands: evictify, then frees 3
    assert not m.flags[tail] & (PG_team | PG_unevictable)
    lru_add_drain_all(m)
    assert m.lru_size[LRU_UNEVICTABLE] == 0
    assert check_machine(m) == []


# -- races under a random schedule, invariants at every step -------------------------------


def _reclaimer(task: vfs.Task, fd: int, rounds: int) -> None:
    """Reclaim every page of the file's first two extents, again and again."""
    m = task.m
    tree = task.files[fd].inode.mapping.page_tree
    for _ in range(rounds):
        for index in range(2 * N):
            page = tree.lookup(index)
            if page is None or page & 1 << 62 or page >= m.nr_frames:
                continue
            if m.refcount[page] > 0 and m.flags[page] & PG_lru:
                _reclaim(task, page)
            m.engine.point("test:reclaim_one")


def _disbander(task: vfs.Task, fd: int) -> None:
    """base/R6.2 and R13.1: punch (disbanding) and refill while pages are reclaimed."""
    vfs.sys_fallocate(task, fd, PUNCH, 2 * 4096, 4096)
    write_pages(task, fd, [2, 12])
    vfs.sys_ftruncate(task, fd, 11 * 4096)


@pytest.mark.parametrize("seed", range(6))
def test_writepage_and_putback_vs_disband_keep_every_invariant(seed: int) -> None:
    task = huge_task(swap=4 << 20, seed=seed, strategy=RandomStrategy(seed))
    m = task.m
    fd = file_with(task, "f", [0, 1, 3, 4, 9, 10, 11])
    m.engine.step_hooks.append(step_hook(m))
    m.engine.spawn(_reclaimer, task, fd, 2, name="reclaim", cpu=0)
    m.engine.spawn(_disbander, task, fd, name="disband", cpu=1)
    finding = m.engine.run()
    assert finding is None, finding.message
    assert machine_at_rest(m)
    assert check_machine(m) == []
    expected = {i: bytes([(0x61 + i) & 0xFF]) * 4096 for i in (0, 1, 3, 4, 9, 10)}
    assert {i: read_page(task, fd, i) for i in expected} == expected
    assert read_page(task, fd, 2) == bytes([0x63]) * 4096


# -- base/R13.1: the guard on => nothing found; off => the invariants name it --------------


def _reclaim_tails(task: vfs.Task, pages: list[int]) -> None:
    for page in pages:
        _reclaim(task, page)


def _punch_head(task: vfs.Task, fd: int) -> None:
    vfs.sys_fallocate(task, fd, PUNCH, 0, 4096)  # disbands the team


def _r13_1_run(seed: int, guards_off: tuple[str, ...]) -> str | None:
    m = Machine(
        MachineConfig(ram=8 << 20, swap=4 << 20, hpage_nr=N, seed=seed, guards_off=guards_off),
        RandomStrategy(seed),
    )
    task = vfs.Task(m, m.mount("always", 4 << 20), MMStruct(m))
    fd = file_with(task, "f", [0, 1, 2, 3])
    tails = [page_at(task, fd, i) for i in (1, 2, 3)]
    m.engine.step_hooks.append(step_hook(m))
    m.engine.spawn(_reclaim_tails, task, tails, name="reclaim", cpu=0)
    m.engine.spawn(_punch_head, task, fd, name="punch", cpu=1)
    finding = m.engine.run()
    return None if finding is None else finding.message


def test_r13_1_weight_moved_to_a_disbanded_head_is_found_without_the_guard() -> None:
    messages = [_r13_1_run(seed, ("base/R13.1",)) for seed in range(40)]
    found = [msg for msg in messages if msg is not None]
    assert found, "no schedule put the weight transfer inside the disband"
    assert all("lru_size" in msg or "weight" in msg for msg in found), found[0]


@pytest.mark.parametrize("seed", range(40))
def test_r13_1_guarded_weight_transfer_keeps_every_invariant(seed: int) -> None:
    assert _r13_1_run(seed, ()) is None
