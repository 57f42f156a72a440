"""explore/coverage.py follows actor ids, names only the changes of actor and resumes a scan
where a log stops sharing the one before (as DFS says): the orders it records are those of
the plain scan by name of every log from the start."""

from __future__ import annotations

import random

from hugetmpfs.explore.coverage import CONFLICT_PREFIXES, Coverage
from hugetmpfs.sim import Engine, SpinLock
from hugetmpfs.sim.strategy.dfs import DFSStrategy

POINTS = ["lock:a", "trylock:b", "down_read:c", "base/R1:x", "recovery/y:z", "other", "wait:a"]


def _reference(logs: list[tuple[list[tuple[int, int, str]], list[tuple[int, str, int]]]]) -> dict:
    orders: dict[str, set[tuple[str, str]]] = {}
    for log, actors in logs:
        names = {aid: name for aid, name, _ in actors}
        last: dict[str, str] = {}
        for _, aid, point in log:
            if not point.startswith(CONFLICT_PREFIXES):
                continue
            key = point.split(":", 1)[0] if point.startswith(("base/", "recovery/")) else point
            who = names.get(aid, str(aid))
            before = last.get(key)
            if before is not None and before != who:
                orders.setdefault(key, set()).add((before, who))
            last[key] = who
    return orders


def test_coverage_records_what_a_scan_by_name_does() -> None:
    rng = random.Random(7)
    for _ in range(30):
        actors = [(0, "a", 0), (1, "b", 1), (2, "a", 0), (3, "c", 1)]  # two called "a"
        logs = []
        shared = []
        log: list[tuple[int, int, str]] = []
        for _ in range(12):
            cut = rng.randrange(len(log) + 1)  # the next log shares a prefix, like DFS's
            shared.append(rng.randrange(cut + 1))  # what the caller knows of it
            log = log[:cut] + [
                (cut + k + 1, rng.randrange(4), rng.choice(POINTS))
                for k in range(rng.randrange(80))
            ]
            if rng.random() < 0.2:
                actors = [*actors[:3], (3, rng.choice("cd"), 1)]
            logs.append((log, list(actors)))
        cov = Coverage()
        for (log, acts), known in zip(logs, shared, strict=True):
            cov.add(log, acts, known)
        assert cov.orders == _reference(logs)
        assert list(cov.orders) == list(_reference(logs))  # in the same order


def _worker(engine: Engine, lock: SpinLock, tag: str) -> None:
    for k in range(3):
        engine.point(f"{tag}:{k}")
        with lock:
            engine.point(f"{tag}:in")


def test_dfs_shared_steps_are_the_points_an_execution_repeats() -> None:
    dfs = DFSStrategy(bound=2, prune=False)
    before: list[tuple[int, int, str]] = []
    executions = total = 0
    while dfs.new_execution() is not None:
        shared = dfs.shared_steps
        engine = Engine(dfs, cpus=2)
        engine.point_log = []
        lock = SpinLock(engine, "lru_lock")
        engine.spawn(_worker, engine, lock, "a", cpu=0)
        engine.spawn(_worker, engine, lock, "b", cpu=1)
        assert engine.run() is None
        log = engine.point_log
        assert shared <= min(len(log), len(before))
        assert log[:shared] == before[:shared]
        total += shared
        before = log
        executions += 1
        engine.close()
    assert executions > 50
    assert total > 5 * executions  # most of each log is shared
