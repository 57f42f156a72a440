"""The exploration driver: run a scenario under a strategy, execution after execution,
checking every invariant at every step, until a finding or the budget is spent.

A finding comes back with its schedule, which :func:`replay` reproduces exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from hugetmpfs.check import check_machine, step_hook
from hugetmpfs.errors import InputError
from hugetmpfs.explore.coverage import Coverage
from hugetmpfs.explore.fingerprint import fingerprinter
from hugetmpfs.explore.where import WhereLog
from hugetmpfs.shmem.machine import Machine
from hugetmpfs.sim import RandomStrategy, ReplayStrategy
from hugetmpfs.sim._engine import ABANDONED
from hugetmpfs.sim.schedule import Finding
from hugetmpfs.sim.strategy.dfs import DFSStrategy
from hugetmpfs.sim.strategy.pct import PCTStrategy, expected_executions

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.check.core import Violation
    from hugetmpfs.explore.scenario import Scenario
    from hugetmpfs.sim._engine import Engine
    from hugetmpfs.sim.schedule import Decision
    from hugetmpfs.sim.strategy.base import Strategy

    StepHook = Callable[[Engine, str], Finding | None]

STRATEGIES = ("random", "pct", "dfs")


@dataclass(frozen=True)
class ExploreOptions:
    """How to explore; each field is a command-line flag of ``hugetmpfs explore``."""

    strategy: str = "random"  # --strategy: random, pct or dfs
    schedules: int = 1000  # --schedules: executions at most
    seed: int = 0  # --seed: of the first execution (random, pct)
    depth: int = 2  # --depth: PCT's bug depth d
    bound: int = 2  # --bound: DFS's preemption bound
    variant: str = "v24"  # --variant
    guards_off: tuple[str, ...] = ()  # --disable-guard, repeatable
    invariants: bool = True  # --no-invariants turns the per-step checks off
    shrink: bool = True  # --no-shrink keeps the schedule as found
    fast_invariants: bool = False  # --fast-invariants: only the cheap ones at every step
    prune: bool = True  # --no-prune: DFS explores revisited states again
    # Not a flag: False when replaying a schedule file of format 1 (findings.py)
    kswapd_asleep: bool = True


@dataclass
class Execution:
    """One run of a scenario: its finding (or None) and what it looked like."""

    finding: Finding | None
    steps: int
    seed: int
    point_log: list[tuple[int, int, str]]
    actors: list[tuple[int, str, int]]  # (id, name, cpu)
    pruned: bool = False  # DFS abandoned it at a state explored before
    # the kernel function each point_log entry was reached in (explore/where.py), for the
    # executions a report shows; None for the others
    functions: list[str] | None = None


@dataclass
class ExploreResult:
    scenario: Scenario
    options: ExploreOptions
    executions: int = 0
    steps: int = 0
    seconds: float = 0.0
    found: Execution | None = None
    found_at: int | None = None  # which execution (1-based) found it
    exhausted: bool = False  # DFS searched every schedule within its bound
    actors: int = 0
    k: int = 0  # PCT's final estimate of the steps per execution
    # the steps and preemptions of the execution found, before shrinking (None: not shrunk)
    shrunk_from: int | None = None
    shrunk_from_preemptions: int | None = None
    coverage: Coverage = field(default_factory=Coverage)
    extra: dict[str, float] = field(default_factory=dict)
    states: int = 0  # DFS: distinct state fingerprints at its choices
    pruned: int = 0  # DFS: executions abandoned at a state explored before


def pct_bound(result: ExploreResult) -> dict[str, float | int] | None:
    """PCT's guarantee for this run, next to what was observed: a bug of depth d among n
    actors in executions of at most k steps is found by each execution with probability at
    least 1/(n·k^(d−1)) (Burckhardt et al., ASPLOS 2010); None for other strategies."""
    if result.options.strategy != "pct" or not result.k or not result.actors:
        return None
    d, n, k = result.options.depth, result.actors, result.k
    expected = expected_executions(n, k, d)  # 1 / expected is 0.0 past a float's range
    return {"depth": d, "actors": n, "k": k, "bound": 1 / expected, "expected_executions": expected}


def make_strategy(options: ExploreOptions) -> Strategy:
    if options.strategy == "random":
        return RandomStrategy(options.seed, executions=options.schedules)
    if options.strategy == "pct":
        return PCTStrategy(options.seed, options.depth, executions=options.schedules)
    if options.strategy == "dfs":
        dfs = DFSStrategy(options.bound, max_executions=options.schedules, prune=options.prune)
        dfs.hash_spent = dfs.hash_spent or options.invariants  # see DFSStrategy.hash_spent
        return dfs
    raise InputError(f"unknown strategy {options.strategy!r} (one of: {', '.join(STRATEGIES)})")


def run_once(
    sc: Scenario, strategy: Strategy, options: ExploreOptions, seed: int = 0, where: bool = False
) -> Execution:
    """One execution of *sc* under *strategy* (already told of the new execution); with
    *where*, noting the kernel function of each point (Execution.functions)."""
    config = sc.config(options.variant, options.guards_off, seed)
    if not options.kswapd_asleep:
        config = replace(config, kswapd_asleep=False)
    m = Machine(config, strategy)
    if not sc.recovery:
        m.sysctl.shmem_huge_recoveries = 0
    engine = m.engine
    engine.max_steps = sc.max_steps
    m.mount(sc.mount_huge, sc.mount_size)
    recheck = None  # check_machine(m), from the step hook's copies (all invariants only)
    if options.invariants:
        hook = step_hook(m, fast=options.fast_invariants)
        if not options.fast_invariants:
            recheck = getattr(hook, "check_machine", None)
        if isinstance(strategy, DFSStrategy):
            hook = _unless_replaying(hook, strategy)
        engine.step_hooks.append(hook)
    engine.point_log = WhereLog() if where else []
    end_check = sc.setup(m)
    if isinstance(strategy, DFSStrategy):
        strategy.fingerprint = fingerprinter(m, engine)
    pruned = False
    try:
        finding = engine.run()
        if finding is not None and finding.kind == ABANDONED:
            finding, pruned = None, True
        elif finding is None:
            finding = _end_checks(m, end_check, options.invariants, recheck)
        actors = [(a.aid, a.name, a.cpu) for a in engine.actors]
    finally:
        log = engine.point_log or []
        engine.close()
    functions = log.functions if isinstance(log, WhereLog) else None
    return Execution(finding, engine.steps, seed, log, actors, pruned, functions)


def _unless_replaying(hook: StepHook, dfs: DFSStrategy) -> StepHook:
    """*hook*, skipped while DFS replays the prefix of an earlier execution: runs are
    deterministic, so every point before the last replayed choice was checked in the
    execution that first reached it (the checker's copies make it exact after a gap:
    check/incremental.py compares the whole state, not a log of writes)."""

    def hook_unless_replaying(engine: Engine, point: str) -> Finding | None:
        if dfs.replaying():
            return None
        return hook(engine, point)

    return hook_unless_replaying


def _end_checks(
    m: Machine,
    end_check: object,
    invariants: bool,
    recheck: Callable[[], list[Violation]] | None = None,
) -> Finding | None:
    problems = end_check(m) if callable(end_check) else []
    if problems:
        return Finding(
            "oracle",
            problems[0],
            m.engine.steps,
            m.engine.schedule,
            details={"name": "end_check", "problems": problems},
        )
    if invariants:
        violations = recheck() if recheck is not None else check_machine(m)
        if violations:
            v = violations[0]
            return Finding(
                "invariant",
                f"invariant {v.name} violated at the end: {v.message}",
                m.engine.steps,
                m.engine.schedule,
                details={"name": v.name},
            )
    return None


def explore(sc: Scenario, options: ExploreOptions, workers: int = 1) -> ExploreResult:
    """Run executions until a finding or the budget is spent (in *workers* processes for
    random and PCT, with the same result as one)."""
    if workers > 1 and options.strategy in ("random", "pct") and options.schedules > 1:
        return _explore_parallel(sc, options, workers)
    strategy = make_strategy(options)
    result = ExploreResult(sc, options)
    start = time.perf_counter()
    while result.executions < options.schedules:
        seed = strategy.new_execution()
        if seed is None:
            result.exhausted = isinstance(strategy, DFSStrategy) and strategy.exhausted
            break
        run = run_once(sc, strategy, options, seed)
        result.executions += 1
        result.steps += run.steps
        result.coverage.add(run.point_log, run.actors)
        result.actors = max(result.actors, len(run.actors))
        if run.finding is not None:
            result.found, result.found_at = run, result.executions
            if options.shrink:
                from hugetmpfs.explore.shrink import shrink

                small = shrink(sc, run, options)
                result.found = small.run
                result.shrunk_from = small.original_steps
                result.shrunk_from_preemptions = small.original_preemptions
            break
    result.seconds = time.perf_counter() - start
    if isinstance(strategy, PCTStrategy):
        result.k = strategy.k
    if isinstance(strategy, DFSStrategy):
        result.states, result.pruned = len(strategy.states), strategy.pruned
    return result


def replay(
    sc: Scenario,
    decisions: list[Decision],
    options: ExploreOptions,
    seed: int = 0,
    where: bool = False,
) -> Execution:
    """Run *sc* once more, following a recorded schedule exactly."""
    return run_once(sc, ReplayStrategy(decisions), options, seed, where)


def with_functions(sc: Scenario, run: Execution, options: ExploreOptions) -> Execution:
    """*run* (a finding) replayed from its schedule, noting the kernel function of each
    point for its report.  Executions are pure functions of their choices: the replay is
    the same execution, step for step."""
    assert run.finding is not None
    again = replay(sc, run.finding.schedule.decisions, options, run.seed, where=True)
    if again.point_log != run.point_log or again.finding is None:
        raise AssertionError(f"{sc.name}: replaying a finding's schedule gave another execution")
    if again.finding.signature() != run.finding.signature():
        raise AssertionError(f"{sc.name}: replaying a finding's schedule gave another finding")
    return again


def _explore_parallel(sc: Scenario, options: ExploreOptions, workers: int) -> ExploreResult:
    from hugetmpfs.explore.parallel import parallel_outcomes

    start = time.perf_counter()
    first = explore(sc, replace(options, schedules=1))  # calibrates PCT's k
    if first.found is not None:
        first.options = options
        return first
    # PCT's k, as the serial run fixes it after its first execution.
    k = max(PCTStrategy().k, first.steps) if options.strategy == "pct" else 0
    outcomes = parallel_outcomes(sc, options, workers, k)
    result = ExploreResult(sc, options, executions=1 + len(outcomes), actors=first.actors, k=k)
    result.steps = first.steps + sum(steps for _, steps, _ in outcomes)
    found = next((o for o in outcomes if o[2]), None)
    if found is not None:  # rerun that execution here, exactly, for its schedule
        from hugetmpfs.explore.parallel import _strategy

        strategy = _strategy(options, found[0], k)
        seed = strategy.new_execution()
        run = run_once(sc, strategy, options, seed or 0)
        result.found, result.found_at = run, found[0] + 1
        if options.shrink:
            from hugetmpfs.explore.shrink import shrink

            small = shrink(sc, run, options)
            result.found, result.shrunk_from = small.run, small.original_steps
            result.shrunk_from_preemptions = small.original_preemptions
    result.seconds = time.perf_counter() - start
    return result
