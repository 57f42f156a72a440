"""Replay a recorded schedule exactly, refusing to guess when the run departs from it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.sim.schedule import CHOOSE, PICK, Decision

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hugetmpfs.sim._engine import Engine


_KINDS = {PICK: "an actor to run", CHOOSE: "a data choice"}


class ReplayDivergedError(Exception):
    """The run offered a choice the recorded schedule does not match.

    The schedule came from different inputs, a different variant or different model code.
    """


class ReplayStrategy:
    """Answer every decision from a recorded list; after its end, keep the current actor.

    A prefix replay (shrinking cuts tails) continues deterministically past the end: the
    running actor keeps running, else the lowest id; data choices take 0.
    """

    timeless = True

    def __init__(
        self, decisions: Sequence[Decision], every_point: bool = True, lenient: bool = False
    ) -> None:
        self.decisions = list(decisions)
        self.every_point = every_point
        # Lenient replay (shrinking): the recorded answers are preferences; where one cannot
        # be followed the default is taken instead of refusing.
        self.lenient = lenient
        self.pos = 0
        self._started = False

    def new_execution(self) -> int | None:
        if self._started:
            return None
        self._started = True
        return 0

    def bind(self, engine: Engine) -> None:
        self.pos = 0

    def _next(self, kind: int, options: tuple[int, ...], point: str) -> Decision | None:
        if self.pos >= len(self.decisions):
            return None
        d = self.decisions[self.pos]
        self.pos += 1
        if self.lenient:
            return d if d.kind == kind else None
        if d.kind != kind:
            raise ReplayDivergedError(
                f"decision {self.pos - 1}: schedule has {_KINDS[d.kind]} at {d.point!r}, the "
                f"run asks for {_KINDS[kind]} at {point!r}"
            )
        if d.point != point:
            raise ReplayDivergedError(
                f"decision {self.pos - 1}: schedule has {d.point!r}, the run is at {point!r}"
            )
        return d

    def pick(self, runnable: Sequence[int], current: int | None, point: str) -> int:
        d = self._next(PICK, tuple(runnable), point)
        if d is None:
            return current if current in runnable else runnable[0]
        if d.value not in runnable:
            if self.lenient:
                return current if current in runnable else runnable[0]
            raise ReplayDivergedError(
                f"decision {self.pos - 1} at {point!r}: actor {d.value} is not runnable "
                f"(runnable: {list(runnable)})"
            )
        return d.value

    def choose(self, n: int, what: str) -> int:
        d = self._next(CHOOSE, (n,), what)
        if d is None:
            return 0
        if not 0 <= d.value < n:
            if self.lenient:
                return 0
            raise ReplayDivergedError(
                f"decision {self.pos - 1}: choice {d.value} not in range({n})"
            )
        return d.value

    def quantum(self) -> int:
        return 0
