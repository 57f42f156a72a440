"""The engine: switching at points, time order, blocking, deadlock, findings, replay."""

from __future__ import annotations

import pytest

from hugetmpfs.sim import (
    Engine,
    EngineError,
    RandomStrategy,
    ReplayDivergedError,
    ReplayStrategy,
    RoundRobinStrategy,
    SpinLock,
)


def _counter_actor(engine: Engine, log: list[str], tag: str, n: int) -> None:
    for k in range(n):
        log.append(f"{tag}{k}")
        engine.point(f"{tag}:{k}")


def test_single_actor_runs_to_completion_without_decisions() -> None:
    engine = Engine(RoundRobinStrategy(), cpus=1)
    log: list[str] = []
    a = engine.spawn(_counter_actor, engine, log, "a", 5)
    assert engine.run() is None
    assert log == ["a0", "a1", "a2", "a3", "a4"]
    assert a.state == "done"
    assert len(engine.schedule) == 0
    assert engine.steps == 5


def test_random_strategy_interleaves_and_is_deterministic() -> None:
    def run(seed: int) -> list[str]:
        engine = Engine(RandomStrategy(seed), cpus=2)
        log: list[str] = []
        engine.spawn(_counter_actor, engine, log, "a", 6, cpu=0)
        engine.spawn(_counter_actor, engine, log, "b", 6, cpu=1)
        assert engine.run() is None
        return log

    runs = {tuple(run(7)) for _ in range(10)}
    assert len(runs) == 1, "same seed must give the same interleaving"
    assert len({tuple(run(s)) for s in range(20)}) > 5, "seeds must change the interleaving"
    log = run(7)
    assert sorted(log) == sorted([f"a{k}" for k in range(6)] + [f"b{k}" for k in range(6)])


def test_replay_reproduces_a_random_run_exactly() -> None:
    def build(strategy: object) -> tuple[Engine, list[str]]:
        engine = Engine(strategy, cpus=2)  # type: ignore[arg-type]
        log: list[str] = []
        engine.spawn(_counter_actor, engine, log, "a", 8, cpu=0)
        engine.spawn(_counter_actor, engine, log, "b", 8, cpu=1)
        return engine, log

    engine, log = build(RandomStrategy(3))
    assert engine.run() is None
    replay, log2 = build(ReplayStrategy(engine.schedule.decisions))
    assert replay.run() is None
    assert log2 == log
    assert replay.schedule.choices() == engine.schedule.choices()


def test_replay_refuses_a_schedule_from_other_code() -> None:
    engine = Engine(RandomStrategy(1), cpus=2)
    log: list[str] = []
    engine.spawn(_counter_actor, engine, log, "a", 4, cpu=0)
    engine.spawn(_counter_actor, engine, log, "b", 4, cpu=1)
    engine.run()
    other = Engine(ReplayStrategy(engine.schedule.decisions), cpus=2)
    other.spawn(_counter_actor, other, [], "x", 4, cpu=0)
    other.spawn(_counter_actor, other, [], "y", 4, cpu=1)
    finding = other.run()
    assert finding is not None
    assert isinstance(finding.details["exception"], ReplayDivergedError)


def test_round_robin_orders_cpus_by_virtual_time() -> None:
    engine = Engine(RoundRobinStrategy(seed=0, quantum_ns=1_000), cpus=2)
    log: list[tuple[str, int]] = []

    def worker(tag: str, cost: int) -> None:
        for _ in range(20):
            engine.consume(cost)
            log.append((tag, engine.now()))
            engine.point("work")

    engine.spawn(worker, "fast", 100, cpu=0)
    engine.spawn(worker, "slow", 1_000, cpu=1)
    assert engine.run() is None
    # Both CPUs advance together: fast's 20 steps (2 µs) finish early in slow's 20 µs.
    fast_done = max(t for tag, t in log if tag == "fast")
    assert fast_done == 2_000
    order = [tag for tag, _ in log]
    assert order.index("slow") < order.index("fast") + 20  # interleaved, not serialised
    assert engine.clock == [2_000, 20_000]


def test_sleep_orders_by_wake_time_and_idles_the_cpu() -> None:
    engine = Engine(RoundRobinStrategy(), cpus=1)
    log: list[tuple[str, int]] = []

    def sleeper(tag: str, ns: int) -> None:
        engine.sleep(ns)
        log.append((tag, engine.now()))

    engine.spawn(sleeper, "late", 5_000)
    engine.spawn(sleeper, "early", 1_000)
    assert engine.run() is None
    assert log == [("early", 1_000), ("late", 5_000)]


def test_spinlock_excludes_and_wakes() -> None:
    engine = Engine(RandomStrategy(5), cpus=2)
    lock = SpinLock(engine, "tree_lock")
    inside: list[int] = []
    seen_overlap: list[bool] = []

    def critical(aid: int) -> None:
        for _ in range(5):
            lock.lock()
            inside.append(aid)
            seen_overlap.append(len(inside) > 1)
            engine.point("inside")
            inside.remove(aid)
            lock.unlock()

    engine.spawn(critical, 0, cpu=0)
    engine.spawn(critical, 1, cpu=1)
    assert engine.run() is None
    assert not any(seen_overlap)


def test_deadlock_is_a_finding_with_the_schedule_not_a_hang() -> None:
    # ABBA on two sleeping locks of one class: found as a deadlock (lockdep off to get there).
    engine = Engine(RandomStrategy(0), cpus=2, lockdep=False)
    a = SpinLock(engine, "tree_lock", "A")
    b = SpinLock(engine, "tree_lock", "B")

    def take(first: SpinLock, second: SpinLock) -> None:
        first.lock()
        engine.point("between")
        second.lock()
        second.unlock()
        first.unlock()

    for seed in range(50):
        engine = Engine(RandomStrategy(seed), cpus=2, lockdep=False)
        a, b = SpinLock(engine, "tree_lock", "A"), SpinLock(engine, "tree_lock", "B")
        engine.spawn(take, a, b, cpu=0)
        engine.spawn(take, b, a, cpu=1)
        finding = engine.run()
        if finding is not None:
            break
    assert finding is not None
    assert finding.kind == "deadlock"
    assert "waits for A" in finding.message
    assert "waits for B" in finding.message
    assert len(finding.schedule) >= 1


def test_lockdep_reports_order_inversion() -> None:
    engine = Engine(RoundRobinStrategy(), cpus=1)
    tree = SpinLock(engine, "tree_lock")
    lru = SpinLock(engine, "lru_lock")

    def bad() -> None:
        tree.lock()
        lru.lock()  # lru_lock is outside tree_lock in LOCK_ORDER

    engine.spawn(bad)
    finding = engine.run()
    assert finding is not None
    assert finding.kind == "lockdep"
    assert "lru_lock" in finding.message
    assert "tree_lock" in finding.message


def test_exception_in_actor_is_a_finding() -> None:
    engine = Engine(RoundRobinStrategy(), cpus=1)

    def boom() -> None:
        engine.point("before")
        raise ValueError("model bug")

    engine.spawn(boom)
    finding = engine.run()
    assert finding is not None
    assert finding.kind == "exception"
    assert "model bug" in finding.message


def test_step_limit_stops_a_livelock() -> None:
    engine = Engine(RandomStrategy(0), cpus=1, max_steps=100)

    def spin() -> None:
        while True:
            engine.point("spin")

    engine.spawn(spin)
    finding = engine.run()
    assert finding is not None
    assert finding.kind == "step_limit"


def test_daemons_waiting_for_work_do_not_deadlock() -> None:
    engine = Engine(RoundRobinStrategy(), cpus=2)

    def daemon() -> None:
        engine.block_on("work", "idle")

    engine.spawn(daemon, cpu=1, daemon=True)
    engine.spawn(lambda: None, cpu=0)
    assert engine.run() is None


def test_sequential_use_outside_actors() -> None:
    engine = Engine(RoundRobinStrategy(), cpus=1)
    lock = SpinLock(engine, "tree_lock")
    with lock:
        engine.point("no-op outside actors")
        assert lock.is_locked()
    assert not lock.is_locked()
    with pytest.raises(EngineError):
        engine.block_on("x", "nowhere")


def test_an_actor_spawned_asleep_starts_when_woken() -> None:
    """kswapd's way: blocked on its key from the start, no choice offered until woken, then
    its function runs from the beginning; never woken, it is closed cleanly."""
    engine = Engine(RandomStrategy(3), cpus=2)
    log: list[str] = []
    sleeper = engine.spawn(log.append, "ran", name="sleeper", cpu=1, daemon=True, asleep_on="k")
    assert sleeper.state == "blocked"
    assert engine.waiters["k"] == [sleeper]

    def waker() -> None:
        engine.point("before")
        assert log == []
        engine.wake("k")
        engine.point("after")

    engine.spawn(waker, name="waker", cpu=0)
    assert engine.run() is None
    assert log == ["ran"]
    # asleep, the sleeper was no option: nothing to decide before the wake
    assert all(d.point != "before" for d in engine.schedule.decisions)

    idle = Engine(RandomStrategy(3), cpus=1)
    never = idle.spawn(log.append, "never", name="never", daemon=True, asleep_on="k")
    assert idle.run() is None  # only a daemon, asleep: nothing to run
    idle.close()
    assert never.dead
    assert log == ["ran"]


def test_each_decision_offers_a_list_of_its_own() -> None:
    """The candidates a decision offers stay in the deciding actor's frame while it is
    switched away, and state fingerprints walk frames: one list shared by two frames would
    encode as a back-reference, splitting equal states (explore/fingerprint.py)."""

    class Keep(RandomStrategy):
        def __init__(self) -> None:
            super().__init__(1)
            self.offered: list[object] = []

        def pick(self, runnable, current, point):  # type: ignore[no-untyped-def]
            self.offered.append(runnable)
            return super().pick(runnable, current, point)

    strategy = Keep()
    engine = Engine(strategy, cpus=2)
    log: list[str] = []
    engine.spawn(_counter_actor, engine, log, "a", 6, cpu=0)
    engine.spawn(_counter_actor, engine, log, "b", 6, cpu=1)
    assert engine.run() is None
    assert len(strategy.offered) > 5
    assert len({id(x) for x in strategy.offered}) == len(strategy.offered)
