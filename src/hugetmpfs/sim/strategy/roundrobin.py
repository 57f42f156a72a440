"""The fast default for workloads and trace replay: time-ordered round robin with long slices.

Each virtual CPU keeps its own clock.  The engine runs the runnable actor whose CPU is
earliest in virtual time and lets it run until it is one *quantum* ahead of the next ready
actor, so CPUs advance together and parallel actors interleave at the scale of a quantum.
The quantum is drawn from the seed (DESIGN.md §3.4: long slices, switch points drawn from
the machine's seed), so two seeds interleave background actors differently while one seed
always gives the same run.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hugetmpfs.sim._engine import Engine

#: Mean virtual time slice (ns).  Long enough that switching is rare on hot paths.
DEFAULT_QUANTUM_NS = 50_000


class RoundRobinStrategy:
    """Pick the earliest actor in virtual time; ties go to the current actor, then lowest id."""

    every_point = False
    timeless = False

    def __init__(self, seed: int = 0, quantum_ns: int = DEFAULT_QUANTUM_NS) -> None:
        self.seed = seed
        self.mean_quantum = quantum_ns
        self.rng = random.Random(seed)
        self.engine: Engine | None = None
        self._started = False

    def new_execution(self) -> int | None:
        if self._started:
            return None
        self._started = True
        return self.seed

    def bind(self, engine: Engine) -> None:
        self.engine = engine

    def pick(self, runnable: Sequence[int], current: int | None, point: str) -> int:
        assert self.engine is not None
        ready = self.engine.ready_time
        best = min(runnable, key=lambda aid: (ready(aid), aid != current, aid))
        return best

    def choose(self, n: int, what: str) -> int:
        return self.rng.randrange(n)

    def quantum(self) -> int:
        # Uniform in [q/2, 3q/2): the switch points move with the seed.
        q = self.mean_quantum
        return q // 2 + self.rng.randrange(q)
