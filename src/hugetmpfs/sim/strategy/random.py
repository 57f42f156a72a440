"""Uniformly random scheduling at every point, seeded per execution."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hugetmpfs.sim._engine import Engine


class RandomStrategy:
    """At every preemption point, run a uniformly chosen runnable actor.

    Execution k of a strategy built with seed s uses seed ``s + k``, so any single execution
    can be rerun on its own from the seed printed with its finding.
    """

    every_point = True
    timeless = True

    def __init__(self, seed: int = 0, executions: int | None = 1, first: int = 0) -> None:
        self.seed = seed
        self.executions = executions
        self.count = first  # executions before *first* ran elsewhere (a parallel worker)
        self.rng = random.Random(seed)

    def new_execution(self) -> int | None:
        if self.executions is not None and self.count >= self.executions:
            return None
        seed = self.seed + self.count
        self.count += 1
        self.rng = random.Random(seed)
        return seed

    def bind(self, engine: Engine) -> None:
        pass

    def pick(self, runnable: Sequence[int], current: int | None, point: str) -> int:
        return runnable[self.rng.randrange(len(runnable))]

    def choose(self, n: int, what: str) -> int:
        return self.rng.randrange(n)

    def quantum(self) -> int:
        return 0
