"""Determinism of whole-machine runs: seeds, schedules, replay, deadlocks."""

from __future__ import annotations

from typing import Any

from hugetmpfs.mm.filemap import lock_page, unlock_page
from hugetmpfs.mm.mm_types import MMStruct
from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.fileops import WriteSource
from hugetmpfs.shmem.machine import Machine, MachineConfig
from hugetmpfs.sim import RandomStrategy, ReplayStrategy, RoundRobinStrategy


def _two_writers(strategy: Any, seed: int = 0) -> tuple[Machine, list[tuple[str, int]]]:
    """Two processes on two CPUs writing and reading files; returns the machine and a log."""
    m = Machine(MachineConfig(ram=32 << 20, cpus=2, seed=seed), strategy)
    sb = m.mount("never", 16 << 20)
    log: list[tuple[str, int]] = []

    def writer(name: str, byte: int) -> None:
        task = vfs.Task(m, sb, MMStruct(m))
        fd = vfs.sys_open(task, name, vfs.O_RDWR | vfs.O_CREAT)
        for i in range(64):
            ret = vfs.sys_pwrite64(task, fd, WriteSource(4096 * 3, byte=byte), i * 4096 * 2)
            log.append((name, ret))
            vfs.sys_ftruncate(task, fd, (i + 1) * 4096 * 2)

    m.engine.spawn(writer, "a", 1, name="a", cpu=0)
    m.engine.spawn(writer, "b", 2, name="b", cpu=1)
    assert m.engine.run() is None
    return m, log


def _schedule(m: Machine) -> list[tuple[int, str, int]]:
    return [(d.value, d.point, d.step) for d in m.engine.schedule.decisions]


def test_same_seed_same_results_and_schedule() -> None:
    runs = [_two_writers(RoundRobinStrategy(seed=5, quantum_ns=2_000)) for _ in range(3)]
    assert len({repr(log) for _, log in runs}) == 1
    assert len({repr(_schedule(m)) for m, _ in runs}) == 1
    assert len(runs[0][0].engine.schedule) > 10, "the two writers must actually interleave"


def test_another_seed_gives_another_schedule() -> None:
    schedules = {
        repr(_schedule(_two_writers(RoundRobinStrategy(seed=s, quantum_ns=2_000))[0]))
        for s in range(4)
    }
    assert len(schedules) == 4


def test_a_recorded_schedule_replays_exactly() -> None:
    m, log = _two_writers(RandomStrategy(11))
    replayed, log2 = _two_writers(ReplayStrategy(m.engine.schedule.decisions))
    assert log2 == log
    assert _schedule(replayed) == _schedule(m)
    assert replayed.vmstat.as_dict() == m.vmstat.as_dict()


def test_a_deadlock_is_reported_with_its_schedule_and_replays() -> None:
    def abba(strategy: Any) -> Any:
        m = Machine(MachineConfig(ram=8 << 20, cpus=2, lockdep=False), strategy)

        def take(first: int, second: int) -> None:
            lock_page(m, first)
            m.engine.point("between")
            lock_page(m, second)
            unlock_page(m, second)
            unlock_page(m, first)

        m.engine.spawn(take, 10, 20, name="t0", cpu=0)
        m.engine.spawn(take, 20, 10, name="t1", cpu=1)
        return m.engine.run()

    finding = None
    for seed in range(40):
        finding = abba(RandomStrategy(seed))
        if finding is not None:
            break
    assert finding is not None
    assert finding.kind == "deadlock"
    assert "t0" in finding.message
    assert "t1" in finding.message
    again = abba(ReplayStrategy(finding.schedule.decisions))
    assert again is not None
    assert again.kind == "deadlock"
    assert again.message == finding.message
