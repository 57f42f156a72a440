"""shmem/shrinker.py: the hugehole shrinker chooses FROM and TO, migrates and frees holes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from teamrig import N, file_with, huge_task, page_at, read_page

from hugetmpfs.check import check_machine, machine_at_rest, step_hook
from hugetmpfs.mm import vmstat as v
from hugetmpfs.mm.page_flags import PG_team
from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.shrinker import (
    SHRINK_STOP,
    shmem_count_hugehole,
    shmem_hugehole_shrinker,
    shmem_shrink_hugehole,
)
from hugetmpfs.shmem.vfs_mmap import sys_mmap, sys_touch
from hugetmpfs.sim import RandomStrategy
from hugetmpfs.trace import parse_file
from hugetmpfs.trace.model_runner import run_model

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shrinker-before-swap.jsonl"


def _is_team(task: vfs.Task, fd: int, index: int) -> bool:
    return bool(task.m.flags[page_at(task, fd, index)] & PG_team)


def test_from_is_the_emptiest_team_and_to_the_fullest_that_fits() -> None:
    task = huge_task()
    fd = file_with(task, "f", [0, 8, 9, 10, 16, 17, 18, 19, 20, 21])  # 1, 3 and 6 members
    m = task.m
    data = {i: read_page(task, fd, i) for i in (0, 8, 16, 21)}
    c_head = page_at(task, fd, 16)
    assert m.vmstat.zone[v.NR_SHMEM_FREEHOLES] == 7 + 5 + 2
    assert shmem_count_hugehole(m) == 14
    freed = shmem_shrink_hugehole(m, None)
    assert freed == (N - 1) + (N - 6)  # FROM's holes and TO's
    moved = page_at(task, fd, 0)
    assert c_head <= moved < c_head + N, "FROM's member now sits in a hole of TO"
    assert not _is_team(task, fd, 0)
    assert not _is_team(task, fd, 16), "TO was disbanded"
    assert _is_team(task, fd, 8), "the middle team is left alone"
    assert m.vmstat.zone[v.NR_SHMEM_FREEHOLES] == 5
    assert m.vmstat.events[v.PGMIGRATE_SUCCESS] == 1
    assert {i: read_page(task, fd, i) for i in (0, 8, 16, 21)} == data
    assert check_machine(m) == []


def test_a_from_team_more_than_half_full_is_only_disbanded() -> None:
    task = huge_task()
    fd = file_with(task, "f", [*range(5), *range(8, 14)])  # 5 and 6 members
    m = task.m
    assert shmem_shrink_hugehole(m, None) == N - 5
    assert not _is_team(task, fd, 0)
    assert _is_team(task, fd, 8)
    assert m.vmstat.events[v.PGMIGRATE_SUCCESS] == 0
    assert m.vmstat.zone[v.NR_SHMEM_FREEHOLES] == 2
    assert check_machine(m) == []


def test_an_untagged_inode_leaves_the_list_and_then_it_stops() -> None:
    task = huge_task()
    fd = file_with(task, "f", list(range(N)))  # one complete team: no hole, no tag
    m = task.m
    assert task.files[fd].inode.on_shrinklist
    assert shmem_shrink_hugehole(m, None) == SHRINK_STOP  # base/Q-12: nothing isolated
    assert m.shrinklist == []
    assert shmem_shrink_hugehole(m, None) == SHRINK_STOP
    assert shmem_hugehole_shrinker(m, 32) == 0
    assert check_machine(m) == []


def test_eviction_takes_the_inode_off_the_list() -> None:
    task = huge_task()
    fd = file_with(task, "f", [0])
    inode = task.files[fd].inode
    assert task.m.shrinklist == [inode]
    assert vfs.sys_unlink(task, "f") == 0
    assert vfs.sys_close(task, fd) == 0
    assert inode.evicted
    assert task.m.shrinklist == []
    assert not inode.on_shrinklist


def test_the_shrinker_scales_with_the_scan() -> None:
    task = huge_task()
    file_with(task, "f", [0, 8, 16, 24])
    m = task.m
    assert shmem_hugehole_shrinker(m, 0) == 0, "nothing scanned, nothing asked of it"
    assert shmem_hugehole_shrinker(m, 32) > 0
    assert m.vmstat.zone[v.NR_SHMEM_FREEHOLES] < 4 * (N - 1)
    assert check_machine(m) == []


# -- races under a random schedule, invariants at every step -------------------------------


def _shrinker(task: vfs.Task, rounds: int) -> None:
    for _ in range(rounds):
        shmem_shrink_hugehole(task.m, None)
        task.m.engine.point("test:shrinker_round")


def _truncator(task: vfs.Task, fd: int, name: str) -> None:
    """base/R6.1: truncate, then unlink and close (evict) while the shrinker runs."""
    vfs.sys_ftruncate(task, fd, 9 * 4096)
    task.m.engine.point("test:truncated")
    vfs.sys_unlink(task, name)
    vfs.sys_close(task, fd)


@pytest.mark.parametrize("seed", range(6))
def test_shrinker_vs_truncate_and_evict_keep_every_invariant(seed: int) -> None:
    task = huge_task(seed=seed, strategy=RandomStrategy(seed))
    m = task.m
    a = file_with(task, "a", [0, 9, 10, 16, 17, 18, 19, 20, 21, 24])
    b = file_with(task, "b", [0, 1, 8, 18])
    keep = {i: read_page(task, b, i) for i in (0, 1, 8, 18)}
    m.engine.step_hooks.append(step_hook(m))
    m.engine.spawn(_shrinker, task, 3, name="shrinker", cpu=0)
    m.engine.spawn(_truncator, task, a, "a", name="truncate", cpu=1)
    finding = m.engine.run()
    assert finding is None, finding.message
    assert machine_at_rest(m)
    assert check_machine(m) == []
    assert {i: read_page(task, b, i) for i in (0, 1, 8, 18)} == keep
    assert all(not i.evicted for i in m.shrinklist)


# -- the acceptance trace --------------------------------------------------------------------


def _sparse_sha(byte: int) -> str:
    size = (8 << 20) - (64 << 10) + 4096
    data = bytearray(size)
    for k in range(0, size, 64 << 10):
        data[k : k + 4096] = bytes([byte]) * 4096
    return hashlib.sha256(data).hexdigest()


def test_under_pressure_holes_go_before_swap_takes_team_pages() -> None:
    results = run_model(parse_file(str(EXAMPLE)))
    meminfo = [r for r in results if r["op"] == "meminfo"]
    start = meminfo[0]
    assert start["ShmemFreeHoles"] >= 15 << 10, "sparse files: mostly holes"
    assert start["ShmemHugePages"] == 0
    # Before the holes are gone, swap has hardly moved ...
    for info in meminfo[1:]:
        if info["ShmemFreeHoles"] > 0:
            assert info["SwapFree"] > -512, json.dumps(info)
    # ... and they do go, all of them, while little was swapped.
    gone = next(i for i in meminfo if i["ShmemFreeHoles"] == 0)
    assert gone["SwapFree"] > -1024
    assert all(r["errno"] is None for r in results if r["op"] == "pressure")
    reads = [r for r in results if r["op"] == "pread"]
    assert [r["sha256"] for r in reads] == [_sparse_sha(0x41), _sparse_sha(0x42)]
    assert results[-1]["violations"] == []


# -- base/Q-1: kept as posted, so the explorer can show it -----------------------------------


def _shrink_once(task: vfs.Task) -> None:
    shmem_shrink_hugehole(task.m, None)


def _fault_head(task: vfs.Task, addr: int) -> None:
    sys_touch(task, addr, N * 4096, 0, 1, 1, None)


def _q1_run(seed: int) -> str | None:
    task = huge_task(seed=seed, strategy=RandomStrategy(seed))
    fd = file_with(task, "f", list(range(1, N)))  # the head is the only hole
    vfs.sys_ftruncate(task, fd, N * 4096)
    addr = sys_mmap(task, fd, 0, N * 4096, "rw", True)
    task.m.engine.spawn(_shrink_once, task, name="shrinker", cpu=0)
    task.m.engine.spawn(_fault_head, task, addr, name="fault", cpu=1)
    finding = task.m.engine.run()
    return None if finding is None else finding.message


def test_q1_a_fault_completing_and_mapping_the_chosen_team_is_a_finding() -> None:
    """The shrinker chose the team (one hole); at ``base/Q-1:chosen`` a fault fills the hole,
    completes the team and maps it by pmd; disband_hugehead then finds nr > N."""
    for seed in range(2000):  # random schedules: the window is one step wide
        message = _q1_run(seed)
        if message is not None:
            assert "disbanding a pmd-mapped team" in message, message
            return
    pytest.fail("no schedule of 2000 interleaved the fault into the base/Q-1 window")
