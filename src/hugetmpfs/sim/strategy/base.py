"""The strategy interface (the Shuttle/loom shape): given the runnable actors, pick one.

A strategy lives across executions.  The engine, not the strategy, makes runs reproducible:
it passes runnable actor ids sorted, consults the strategy only where there is a real choice
(two or more candidates), and records every answer in the schedule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hugetmpfs.sim._engine import Engine


class Strategy(Protocol):
    """What the engine asks of a scheduling strategy.

    ``every_point``: consult ``pick`` at every preemption point (exploration) rather than only
    when the running actor's time slice is over (workloads).  ``timeless``: virtual time does
    not order actors (a sleeping actor is just one that may be picked later).
    """

    every_point: bool
    timeless: bool

    def new_execution(self) -> int | None:
        """Prepare the next execution; return its seed, or None when exploration is over."""
        ...

    def bind(self, engine: Engine) -> None:
        """Called once per execution, before the first decision."""
        ...

    def pick(self, runnable: Sequence[int], current: int | None, point: str) -> int:
        """Choose the actor to run next among *runnable* (sorted ids, at least two)."""
        ...

    def choose(self, n: int, what: str) -> int:
        """A data choice in ``range(n)`` (n ≥ 2), e.g. whether an allocation fails."""
        ...

    def quantum(self) -> int:
        """Virtual ns the running actor may run past the next ready actor (workloads only)."""
        ...
