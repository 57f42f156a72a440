"""Schedules (the record of every real choice in a run) and findings.

A schedule is the list of answers the strategy gave, in order: for a ``pick`` the chosen
actor id, for a ``choose`` the chosen value.  Forced moves (one candidate) are not recorded,
so replaying the same inputs with a :class:`ReplayStrategy` over the same list reproduces
the run exactly.  Each decision also keeps the name of the point it was taken at, for
reports; replay checks names too, so a schedule from different code is refused, not misread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PICK = 0
CHOOSE = 1


@dataclass(slots=True)  # one per choice of every execution: slots make them cheaper
class Decision:
    """One recorded choice: its kind, the answer, the options offered, and where."""

    kind: int  # PICK or CHOOSE
    value: int
    options: tuple[int, ...]  # runnable ids for PICK, (n,) for CHOOSE
    point: str
    current: int | None = None  # the actor that was running (PICK), for preemption counts
    step: int = 0  # the engine's step count when the choice was made

    @property
    def preemption(self) -> bool:
        """A switch away from an actor that could have continued."""
        return (
            self.kind == PICK
            and self.current is not None
            and self.current in self.options
            and self.value != self.current
        )


@dataclass(repr=False)
class Schedule:
    """The decisions of one run, in order."""

    decisions: list[Decision] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<Schedule {len(self.decisions)} decisions, {self.preemptions()} preemptions>"

    def choices(self) -> list[int]:
        return [d.value for d in self.decisions]

    def preemptions(self) -> int:
        return sum(1 for d in self.decisions if d.preemption)

    def __len__(self) -> int:
        return len(self.decisions)

    def to_json(self) -> list[list[Any]]:
        return [[d.kind, d.value, list(d.options), d.point, d.current] for d in self.decisions]

    @classmethod
    def from_json(cls, data: list[list[Any]]) -> Schedule:
        return cls([Decision(int(k), int(v), tuple(o), str(p), c) for k, v, o, p, c in data])


@dataclass(repr=False)
class Finding:
    """Something an execution found: a deadlock, an exception in an actor, a step limit.

    Invariant violations found by ``check/`` are findings of the same shape, with ``kind``
    "invariant".  A finding is a value, never an exception.
    """

    kind: str  # "deadlock", "exception", "step_limit", "invariant", "oracle", ...
    message: str
    step: int
    schedule: Schedule
    actor: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        first = self.message.split("\n", 1)[0]
        return f"<Finding {self.kind} at step {self.step} ({self.actor}): {first}>"

    def signature(self) -> tuple[str, str]:
        """What must stay the same when a schedule is shrunk or replayed."""
        return (self.kind, self.details.get("name", self.message.split("\n", 1)[0]))
