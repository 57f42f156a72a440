"""The step hook: invariants at every scheduling decision, gated by held locks and rest."""

from __future__ import annotations

import random

import pytest

from hugetmpfs.check import check_machine, machine_at_rest, step_hook
from hugetmpfs.check.invariants import held_locks
from hugetmpfs.check.oracle import Oracle, ShadowTask
from hugetmpfs.mm import vmstat as v
from hugetmpfs.mm.mm_types import MMStruct
from hugetmpfs.mm.pressure import hog_allocate, hog_release
from hugetmpfs.mm.swap import lru_add_drain
from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.machine import Machine, MachineConfig
from hugetmpfs.sim import RandomStrategy

O_RDWR_CREAT = vfs.O_RDWR | vfs.O_CREAT
PUNCH = vfs.FALLOC_FL_PUNCH_HOLE | vfs.FALLOC_FL_KEEP_SIZE


def _machine(seed: int) -> Machine:
    return Machine(MachineConfig(ram=16 << 20, cpus=2, seed=seed), RandomStrategy(seed))


def _task(m: Machine, oracle: Oracle) -> ShadowTask:
    return ShadowTask(vfs.Task(m, m.mounts[0], MMStruct(m)), oracle)


def _file_worker(s: ShadowTask, name: str, seed: int, shared: str) -> None:
    """Random file operations on a private file (checked byte for byte afterwards) and on a
    file every worker shares (checked only by the invariants: its bytes depend on order)."""
    rng = random.Random(seed)
    own = s.open(name, O_RDWR_CREAT)
    other = s.open(shared, O_RDWR_CREAT)
    for _ in range(20):
        fd = own if rng.random() < 0.6 else other
        off = rng.randrange(0, 24) * 1024
        op = rng.randrange(5)
        if op == 0:
            s.pwrite(fd, off, rng.randrange(256), rng.randrange(1, 9000))
        elif op == 1:
            s.ftruncate(fd, rng.randrange(0, 20000))
        elif op == 2:
            s.fallocate(fd, rng.choice((0, vfs.FALLOC_FL_KEEP_SIZE)), off, 6000)
        elif op == 3:
            s.fallocate(fd, PUNCH, off, rng.randrange(1, 9000))
        else:
            s.pread(fd, off, 5000)
        lru_add_drain(s.m) if rng.random() < 0.2 else None
    s.close(other)
    s.close(own)


@pytest.mark.parametrize("seed", range(8))
def test_concurrent_file_operations_keep_every_invariant(seed: int) -> None:
    m = _machine(seed)
    m.mount("never", 512 << 10)
    oracle = Oracle()
    m.engine.step_hooks.append(step_hook(m))
    tasks = [_task(m, oracle) for _ in range(3)]
    for i, s in enumerate(tasks):
        m.engine.spawn(_file_worker, s, f"own{i}", seed * 10 + i, "shared", cpu=i % 2)
    finding = m.engine.run()
    assert finding is None, finding.message
    assert len(m.engine.schedule) > 50  # decisions, each one checked
    assert machine_at_rest(m)  # kswapd sleeps at its idle point
    assert check_machine(m) == []
    shared = m.mounts[0].names["shared"]
    assert [x for x in oracle.verify(m) if repr(shared) not in x.message] == []


def _run_one(m: Machine, fn: object, point_names: tuple[str, ...] = ()) -> object:
    m.engine.step_hooks.append(step_hook(m))
    m.engine.spawn(fn, name="corrupter", cpu=0)  # type: ignore[arg-type]
    return m.engine.run()


def test_hook_stops_the_run_at_the_first_broken_invariant() -> None:
    m = _machine(0)

    def corrupter() -> None:
        m.engine.point("before")
        m.vmstat.zone[v.NR_SHMEM] += 1
        m.engine.point("after")

    finding = _run_one(m, corrupter)
    assert finding is not None
    assert finding.kind == "invariant"
    assert finding.details["name"] == "vmstat_matches_recount"
    assert finding.details["point"] == "after"
    assert "NR_SHMEM" in finding.message


def test_hook_skips_what_a_held_lock_protects() -> None:
    m = _machine(0)
    sb = m.mount("never", 1 << 20)
    s = ShadowTask(vfs.Task(m, sb, MMStruct(m)))
    fd = s.open("f", O_RDWR_CREAT)
    mapping = s.inode(fd).mapping
    seen: list[frozenset[str]] = []

    def corrupter() -> None:
        with mapping.tree_lock:
            mapping.nrpages += 1  # half-way through an insertion, as far as anyone knows
            m.vmstat.zone[v.NR_FILE_PAGES] += 1
            seen.append(held_locks(m.engine))
            m.engine.point("inside tree_lock")
            mapping.nrpages -= 1
            m.vmstat.zone[v.NR_FILE_PAGES] -= 1

    assert _run_one(m, corrupter) is None
    assert "tree_lock" in seen[0]


def test_rest_invariants_run_only_at_rest_points() -> None:
    m = _machine(0)
    sb = m.mount("never", 1 << 20)
    s = ShadowTask(vfs.Task(m, sb, MMStruct(m)))
    fd = s.open("f", O_RDWR_CREAT)
    inode = s.inode(fd)
    s.pwrite(fd, 0, 1, 1)

    def corrupter() -> None:
        inode.alloced -= 1  # as if getpage had added the page to the cache, not yet counted
        inode.i_blocks -= 8
        sb.used_blocks -= 1
        m.engine.point("getpage:between")  # mid-operation: REST invariants do not apply
        m.engine.point("trace:op_done")  # between operations: they do

    finding = _run_one(m, corrupter)
    assert finding is not None
    assert finding.details["point"] == "trace:op_done"
    assert finding.details["name"] == "inode_alloced_matches_pages"


def test_an_actor_mid_operation_keeps_the_machine_from_rest() -> None:
    m = _machine(0)
    states: list[bool] = []

    def busy() -> None:
        m.engine.block_on("never-woken", "waiting for a page lock")

    def observer() -> None:
        while blocked.state != "blocked":  # whichever ran first: busy blocks before the look
            m.engine.yield_point("let busy block")
        states.append(machine_at_rest(m))

    blocked = m.engine.spawn(busy, name="busy", cpu=0, daemon=True)
    m.engine.spawn(observer, name="observer", cpu=1)
    assert m.engine.run() is None
    assert states == [False]


def _reclaim_scenario(seed: int) -> Machine:
    """File writers, a memory hog and kswapd: tmpfs pages go to swap and come back."""
    m = Machine(MachineConfig(ram=4 << 20, swap=4 << 20, cpus=2, seed=seed), RandomStrategy(seed))
    m.mount("never", 2 << 20)
    oracle = Oracle()
    m.engine.step_hooks.append(step_hook(m))
    writer, reader = _task(m, oracle), _task(m, oracle)

    def big() -> None:
        rng = random.Random(seed)
        fd = writer.open("big", O_RDWR_CREAT)
        for _ in range(4):
            writer.pwrite(fd, rng.randrange(0, 200) * 4096, rng.randrange(256), 100 * 4096)
            writer.pread(fd, rng.randrange(0, 200) * 4096, 200 * 4096)
        writer.close(fd)

    def hog() -> None:
        hog_allocate(m, 3 << 20)
        for _ in range(150):
            m.engine.point("hog:hold")
        hog_release(m)

    m.engine.spawn(big, name="big", cpu=0)
    m.engine.spawn(_file_worker, reader, "small", seed, "shared", cpu=1)
    m.engine.spawn(hog, name="hog", cpu=seed % 2)
    finding = m.engine.run()
    assert finding is None, finding.message
    assert check_machine(m) == []
    shared = m.mounts[0].names["shared"]
    assert [x for x in oracle.verify(m) if repr(shared) not in x.message] == []
    return m


def test_reclaim_and_swap_keep_every_invariant() -> None:
    m = _reclaim_scenario(1)
    assert m.vmstat.as_dict()["pswpout"] > 0  # the scenario does reach swap


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2, 6))
def test_reclaim_and_swap_keep_every_invariant_more_seeds(seed: int) -> None:
    _reclaim_scenario(seed)
