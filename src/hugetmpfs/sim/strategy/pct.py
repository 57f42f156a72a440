"""PCT: probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi, Nagarakatte,
"A Randomized Scheduler with Probabilistic Guarantees of Finding Bugs", ASPLOS 2010).

Each actor gets a distinct random priority of at least *depth*; *depth* - 1 change points are
drawn uniformly among the first *k* steps.  At every step the runnable actor of highest
priority runs; at the i-th change point the running actor's priority drops to i (below every
initial priority).  A bug of depth d among n actors in k steps is found with probability at
least 1 / (n * k^(d-1)) per execution.

Field invariants, checked by asserts: priorities are distinct; change points are distinct
and within [1, k].  *k* adapts once: after the first execution it becomes that execution's
length (if longer than the guess) and stays, so execution i depends only on (seed, i, k) and
executions can run in parallel with the same results as in series.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hugetmpfs.sim._engine import Engine


#: Depth d means d - 1 change points, each at one of the k steps of an execution: past a few
#: dozen the bound 1/(n·k^(d−1)) is nil and the search no longer PCT's.
MAX_PCT_DEPTH = 64


def expected_executions(actors: int, k: int, depth: int) -> int:
    """n·k^(d−1), exactly: the inverse of PCT's bound on finding a depth-d bug among n actors
    in executions of at most k steps, per execution."""
    return actors * k ** (depth - 1)


class PCTStrategy:
    """Priority-based random scheduling with *depth* - 1 priority change points."""

    every_point = True
    timeless = True

    def __init__(
        self,
        seed: int = 0,
        depth: int = 2,
        executions: int | None = 1,
        k_guess: int = 200,
        first: int = 0,
    ) -> None:
        if not 1 <= depth <= MAX_PCT_DEPTH:
            raise ValueError(f"PCT depth must be in 1..{MAX_PCT_DEPTH}")
        self.seed = seed
        self.depth = depth
        self.executions = executions
        self.count = first  # executions before *first* ran elsewhere (a parallel worker)
        self.k = k_guess
        self.rng = random.Random(seed)
        self.priorities: dict[int, int] = {}
        self.change_points: list[int] = []
        self.steps = 0

    def new_execution(self) -> int | None:
        if self.executions is not None and self.count >= self.executions:
            return None
        if self.count == 1 and self.steps > self.k:
            self.k = self.steps  # calibrated on the first execution, then fixed
        seed = self.seed + self.count
        self.count += 1
        self.rng = random.Random(seed)
        self.priorities = {}
        self.steps = 0
        points = self.rng.sample(range(1, self.k + 1), min(self.depth - 1, self.k))
        self.change_points = sorted(points)
        return seed

    def bind(self, engine: Engine) -> None:
        pass

    def _priority(self, aid: int) -> int:
        if aid not in self.priorities:
            # A fresh actor gets a random rank among the initial priorities (all >= depth).
            used = set(self.priorities.values())
            value = self.depth + self.rng.randrange(1 << 30)
            while value in used:
                value += 1
            self.priorities[aid] = value
        return self.priorities[aid]

    def pick(self, runnable: Sequence[int], current: int | None, point: str) -> int:
        self.steps += 1
        if current is not None and self.steps in self.change_points:
            i = self.change_points.index(self.steps) + 1
            self.priorities[current] = i  # below every initial priority, and distinct
        best = max(runnable, key=self._priority)
        assert len(set(self.priorities.values())) == len(self.priorities), "distinct"
        return best

    def choose(self, n: int, what: str) -> int:
        return self.rng.randrange(n)

    def quantum(self) -> int:
        return 0

    def bound(self, actors: int) -> float:
        """The theoretical lower bound on finding a depth-``depth`` bug per execution."""
        return 1 / expected_executions(actors, self.k, self.depth)  # int / int: no overflow
