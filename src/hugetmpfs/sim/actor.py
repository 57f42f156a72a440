"""Actors: the kernel paths (tasks, kworkers, kswapd, I/O completions) the engine interleaves.

An actor is a greenlet, so modelled kernel code reads like the kernel's own: straight-line
code that calls ``lock()`` or ``point()`` where the kernel could be interleaved, and the
engine switches actors there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import greenlet

if TYPE_CHECKING:
    from collections.abc import Callable

RUNNABLE = "runnable"
BLOCKED = "blocked"
SLEEPING = "sleeping"  # blocked until a virtual time
DONE = "done"


class Actor(greenlet.greenlet):
    """One modelled kernel execution context, bound to a virtual CPU.

    Fields (all owned by the engine):
    ``aid`` is the actor's id, dense from 0 in spawn order, and the only thing strategies and
    schedules see; ``cpu`` the virtual CPU it runs on; ``daemon`` actors (kswapd, kworkers)
    never end and do not keep ``Engine.run`` going; ``preempt_count`` > 0 forbids switching to
    another actor of the same CPU; ``held`` lists the locks held, innermost last (lockdep);
    ``waiting`` is the key the actor is blocked on; ``ready_at`` the virtual time from which it
    may run.
    """

    def __init__(
        self,
        engine: Any,
        aid: int,
        name: str,
        cpu: int,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        daemon: bool,
    ) -> None:
        super().__init__(self._main, parent=engine.main)
        self.engine = engine
        self.aid = aid
        self.name = name
        self.cpu = cpu
        self.fn = fn
        self.args = args
        self.daemon = daemon
        self.state = RUNNABLE
        self.preempt_count = 0
        self.held: list[Any] = []
        self.waiting: Any = None
        self.ready_at = 0
        self.result: Any = None
        self.error: BaseException | None = None
        self.last_point = "start"

    def _main(self) -> None:
        try:
            self.result = self.fn(*self.args)
        except BaseException as e:  # reported by the engine as a finding, never lost
            self.error = e
        self.state = DONE

    def __repr__(self) -> str:
        return f"<actor {self.aid} {self.name} cpu{self.cpu} {self.state}>"
