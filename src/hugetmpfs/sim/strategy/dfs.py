"""Bounded-preemption depth-first search: every schedule with at most *bound* preemptions.

Stateless search in the manner of CHESS's iterative context bounding and Shuttle's DFS
scheduler: an execution follows the recorded prefix of choices, then takes the default
(keep running the current actor, else the lowest id) and records the alternatives; after
it, the deepest choice with an untried alternative within the preemption budget is advanced
and the next execution replays up to there.  A preemption is a switch away from an actor
that could have continued; switching when the current actor blocked or ended is free.

State caching (CHESS's, with context bounding): given a *fingerprint* function of the
current state (``explore/fingerprint.py``: the machine, the engine and each actor's history
of points), every new choice with preemption budget left is keyed by (fingerprint, running
actor, options) and remembers the largest preemption budget it was reached with.  A choice
reached with no budget left is hashed only with ``hash_spent``: below it lies a single
schedule (it branches only where the running actor blocks or ends), which costs less to run
than a hash of the whole state unless every step is checked (measured on
recovery-vs-fault-new-team, bound 2, exhaustive: without invariants 11 337 executions in
11.7 s not hashing them, 10 418 in 26.7 s hashing them; with every invariant at every step
53.2 s against 44.5 s, and hashing only the first ``SPENT_PER_EXECUTION`` of them is
better still).  The runner sets it when invariants are checked.  The subtree
below a choice depends only on that key and on the budget left, so a choice reached again
with no more budget than before is not explored again: the execution is abandoned there
(:meth:`Engine.abandon`).  Revisits cannot be ancestors (an actor's history only grows), so
the earlier visit's subtree is complete by the time of the revisit, unless exploration
stopped (a finding, the execution budget), which ends the search anyway.  Without a
fingerprint function, or with ``prune=False``, nothing is pruned; distinct states (at the
choices hashed) are still counted when fingerprints are given.

Field invariants: ``stack[i].options`` are the sorted runnable ids offered at the i-th
choice of every execution sharing that prefix (the engine makes runs deterministic; a
mismatch means uncontrolled nondeterminism and raises).  ``used`` is the number of
preemptions among ``stack[:depth]`` as taken in this execution; ``stack[i].below`` the same
among ``stack[:i]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from hugetmpfs.sim._engine import Engine


class NondeterminismError(Exception):
    """A replayed prefix offered different choices: the run depends on something else."""


class _Choice:
    """A choice on the stack: the options offered, default first in *order*, and the one
    taken (``pos``), with whether taking it is a preemption (*preempt*) and the preemptions
    *below* it (among the choices before it, as taken; fixed while it is on the stack,
    since only deeper choices change under it): replaying and _advance need not recount."""

    __slots__ = ("below", "current", "options", "order", "pos", "preempt")

    def __init__(
        self,
        options: tuple[int, ...],
        current: int | None,
        order: list[int],
        below: int,
    ) -> None:
        self.options = options
        self.current = current
        self.order = order
        self.below = below
        self.pos = 0
        self.preempt = self.preempts(order[0])

    def preempts(self, value: int) -> bool:
        return self.current is not None and self.current in self.options and value != self.current


class DFSStrategy:
    """Explore every schedule with at most *bound* preemptions, one execution at a time."""

    every_point = True
    timeless = True
    # Hash choices reached with no preemption left too.  Worth it only when each step is
    # costly (invariants checked): a revisit then saves the checks of the rest of the run.
    hash_spent = False
    # ... only the first few of an execution: revisits come soon after the last preemption
    # (on recovery-swapin-mapped, 93 % of them are among the first four of an execution,
    # which are 40 % of such choices; recovery-vs-eviction has 18 of them per execution)
    SPENT_PER_EXECUTION = 4

    def __init__(
        self, bound: int = 2, max_executions: int | None = None, prune: bool = True
    ) -> None:
        self.bound = bound
        self.max_executions = max_executions
        self.prune = prune
        self.stack: list[_Choice] = []
        self.depth = 0  # position in the stack during an execution
        self.executions = 0
        self.exhausted = False
        self.engine: Engine | None = None
        # Set for each execution by whoever builds the machine (explore/runner.py).
        self.fingerprint: Callable[[], bytes] | None = None
        # (fingerprint, running actor, options) -> the most preemption budget left it was
        # reached with; its subtree has been (or is being) explored with that budget
        self.visited: dict[tuple[bytes, int | None, tuple[int, ...]], int] = {}
        self.states: set[bytes] = set()  # distinct fingerprints at choices
        self.pruned = 0  # executions abandoned at a revisited choice
        self.spent_hashed = 0  # choices hashed with no preemption left, this execution

    def new_execution(self) -> int | None:
        if self.max_executions is not None and self.executions >= self.max_executions:
            return None
        if self.executions and not self._advance():
            self.exhausted = True
            return None
        self.executions += 1
        self.spent_hashed = 0
        self.depth = 0
        self.fingerprint = None
        return 0

    def _advance(self) -> bool:
        """Move the deepest choice with an untried alternative in budget; drop the rest."""
        stack = self.stack
        while stack:
            top = stack[-1]
            order = top.order
            while top.pos + 1 < len(order):
                top.pos += 1
                preempt = top.preempts(order[top.pos])
                if top.below + preempt <= self.bound:
                    top.preempt = preempt
                    return True
            stack.pop()
        return False

    @property
    def used(self) -> int:
        """The preemptions taken so far in this execution (among ``stack[:depth]``)."""
        if not self.depth:
            return 0
        last = self.stack[self.depth - 1]
        return last.below + last.preempt

    def replaying(self) -> bool:
        """Whether the execution is still following the prefix of an earlier one (the
        next choice is a recorded one): every state until then was seen before."""
        return self.depth < len(self.stack)

    def bind(self, engine: Engine) -> None:
        self.engine = engine

    def pick(self, runnable: Sequence[int], current: int | None, point: str) -> int:
        options = tuple(runnable)
        depth = self.depth
        stack = self.stack
        if depth < len(stack):  # replaying: the recorded choice, as _advance left it
            choice = stack[depth]
            if choice.options != options:
                raise NondeterminismError(
                    f"choice {depth} at {point!r}: recorded options {choice.options}, now {options}"
                )
        else:
            default = current if current in options else options[0]
            if self.fingerprint is not None and self._revisit(options, current):
                return default  # the engine has been told to end the execution here
            order = [default, *(o for o in options if o != default)]
            choice = _Choice(options, current, order, self.used)
            stack.append(choice)
        self.depth = depth + 1
        return choice.order[choice.pos]

    def _revisit(self, options: tuple[int, ...], current: int | None) -> bool:
        """Count the state of a new choice; whether to abandon the execution there."""
        assert self.fingerprint is not None
        left = self.bound - self.used
        if not left:
            # No preemption left: what follows is one schedule (branching only where the
            # running actor blocks or ends), often cheaper to run than the state is to hash.
            if not self.hash_spent or self.spent_hashed >= self.SPENT_PER_EXECUTION:
                return False
            self.spent_hashed += 1
        fp = self.fingerprint()
        self.states.add(fp)
        key = (fp, current, options)
        before = self.visited.get(key)
        if before is not None and before >= left and self.prune and self.engine is not None:
            self.pruned += 1
            self.engine.abandon("pruned")
            return True
        if before is None or left > before:
            self.visited[key] = left
        return False

    def choose(self, n: int, what: str) -> int:
        return self.pick(tuple(range(n)), None, what)

    def quantum(self) -> int:
        return 0
