"""Bounded-preemption depth-first search: every schedule with at most *bound* preemptions.

Stateless search in the manner of CHESS's iterative context bounding and Shuttle's DFS
scheduler: an execution follows the recorded prefix of choices, then takes the default
(keep running the current actor, else the lowest id) and records the alternatives; after
it, the deepest choice with an untried alternative within the preemption budget is advanced
and the next execution replays up to there.  A preemption is a switch away from an actor
that could have continued; switching when the current actor blocked or ended is free.

Field invariants: ``stack[i].options`` are the sorted runnable ids offered at the i-th
choice of every execution sharing that prefix (the engine makes runs deterministic; a
mismatch means uncontrolled nondeterminism and raises).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hugetmpfs.sim._engine import Engine


class NondeterminismError(Exception):
    """A replayed prefix offered different choices: the run depends on something else."""


@dataclass
class _Choice:
    options: tuple[int, ...]
    current: int | None
    order: list[int] = field(default_factory=list)  # options, default first
    pos: int = 0  # index into order of the option taken

    def preempts(self, value: int) -> bool:
        return self.current is not None and self.current in self.options and value != self.current


class DFSStrategy:
    """Explore every schedule with at most *bound* preemptions, one execution at a time."""

    every_point = True
    timeless = True

    def __init__(self, bound: int = 2, max_executions: int | None = None) -> None:
        self.bound = bound
        self.max_executions = max_executions
        self.stack: list[_Choice] = []
        self.depth = 0  # position in the stack during an execution
        self.executions = 0
        self.exhausted = False

    def new_execution(self) -> int | None:
        if self.max_executions is not None and self.executions >= self.max_executions:
            return None
        if self.executions and not self._advance():
            self.exhausted = True
            return None
        self.executions += 1
        self.depth = 0
        return 0

    def _preemptions(self, upto: int) -> int:
        return sum(1 for c in self.stack[:upto] if c.preempts(c.order[c.pos]))

    def _advance(self) -> bool:
        """Move the deepest choice with an untried alternative in budget; drop the rest."""
        while self.stack:
            top = self.stack[-1]
            used = self._preemptions(len(self.stack) - 1)
            while top.pos + 1 < len(top.order):
                top.pos += 1
                if used + top.preempts(top.order[top.pos]) <= self.bound:
                    return True
            self.stack.pop()
        return False

    def bind(self, engine: Engine) -> None:
        pass

    def pick(self, runnable: Sequence[int], current: int | None, point: str) -> int:
        options = tuple(runnable)
        if self.depth < len(self.stack):
            choice = self.stack[self.depth]
            if choice.options != options:
                raise NondeterminismError(
                    f"choice {self.depth} at {point!r}: recorded options {choice.options}, "
                    f"now {options}"
                )
        else:
            default = current if current in options else options[0]
            order = [default, *(o for o in options if o != default)]
            choice = _Choice(options, current, order)
            self.stack.append(choice)
        self.depth += 1
        return choice.order[choice.pos]

    def choose(self, n: int, what: str) -> int:
        return self.pick(tuple(range(n)), None, what)

    def quantum(self) -> int:
        return 0
