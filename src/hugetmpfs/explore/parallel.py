"""``--workers N``: run the executions of a random or PCT exploration in N processes.

Execution i of these strategies depends only on (seed, i) — and PCT's k, fixed by the first
execution, which the parent runs itself — so worker w runs executions w+1, w+1+N, ... and the
result is the serial one: the finding of the lowest execution, the steps of executions up to
it.  DFS keeps one process (its executions depend on each other).  Processes are forked, so
scenarios registered by the caller (tests, user modules) are there in the workers too.
"""

from __future__ import annotations

import multiprocessing
from typing import TYPE_CHECKING

from hugetmpfs.sim import RandomStrategy
from hugetmpfs.sim.strategy.pct import PCTStrategy

if TYPE_CHECKING:
    from hugetmpfs.explore.runner import ExploreOptions
    from hugetmpfs.explore.scenario import Scenario
    from hugetmpfs.sim.strategy.base import Strategy

Outcome = tuple[int, int, bool]  # (execution index, steps, found)


def _strategy(options: ExploreOptions, index: int, k: int) -> Strategy:
    if options.strategy == "random":
        return RandomStrategy(options.seed, executions=index + 1, first=index)
    return PCTStrategy(options.seed, options.depth, index + 1, k_guess=k, first=index)


def _worker(args: tuple[str, ExploreOptions, int, int, int]) -> list[Outcome]:
    from hugetmpfs.explore.runner import run_once
    from hugetmpfs.explore.scenario import REGISTRY

    name, options, start, step, k = args
    sc = REGISTRY[name]
    out: list[Outcome] = []
    for index in range(start, options.schedules, step):
        strategy = _strategy(options, index, k)
        seed = strategy.new_execution()
        assert seed is not None
        run = run_once(sc, strategy, options, seed)
        out.append((index, run.steps, run.finding is not None))
        if run.finding is not None:
            break  # the executions after a finding cannot matter
    return out


def parallel_outcomes(sc: Scenario, options: ExploreOptions, workers: int, k: int) -> list[Outcome]:
    """Outcomes of executions 1.. (0-based; the parent ran 0), as many as serial would run."""
    jobs = [(sc.name, options, 1 + w, workers, k) for w in range(workers)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        results = pool.map(_worker, jobs)
    outcomes = sorted(o for part in results for o in part)
    first = next((o for o in outcomes if o[2]), None)
    return [o for o in outcomes if first is None or o[0] <= first[0]]
