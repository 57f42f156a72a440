"""Actors: the kernel paths (tasks, kworkers, kswapd, I/O completions) the engine interleaves.

An actor is a greenlet, so modelled kernel code reads like the kernel's own: straight-line
code that calls ``lock()`` or ``point()`` where the kernel could be interleaved, and the
engine switches actors there.

Starting a greenlet costs some 10 µs on CPython 3.11 (its first frame maps a fresh frame
stack, unmapped again when it ends), as much as a few dozen preemption points.  The
explorer builds a machine per execution, so an engine with ``recycle`` set keeps its
actors' greenlets alive when their functions end, and :meth:`Engine.close` hands them to
the next engine's actors.  An actor reports its own life, not its greenlet's: ``dead``,
``bool()`` and ``gr_frame`` are those of a fresh greenlet running the actor's function.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import greenlet

if TYPE_CHECKING:
    from collections.abc import Callable

RUNNABLE = "runnable"
BLOCKED = "blocked"
SLEEPING = "sleeping"  # blocked until a virtual time
DONE = "done"

# An actor's life: not started, running its function (maybe suspended), ended.
_NEW, _RUNNING, _ENDED = 0, 1, 2
_greenlet_frame = greenlet.greenlet.gr_frame.__get__  # type: ignore[attr-defined]
_greenlet_dead = greenlet.greenlet.dead.__get__  # type: ignore[attr-defined]
#: Greenlets of closed engines' actors, parked for new actors (per thread: a greenlet runs
#: only in the thread that made it), at most _KEEP of them.
_parked = threading.local()
_KEEP = 64


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
        super().__init__(_run, parent=engine.main)
        self._assign(engine, aid, name, cpu, fn, args, daemon)

    @classmethod
    def new(
        cls,
        engine: Any,
        aid: int,
        name: str,
        cpu: int,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        daemon: bool,
    ) -> Actor:
        """An actor for *engine*: on a parked greenlet when it recycles and one is left."""
        parked = getattr(_parked, "actors", None)
        if not engine.recycle or not parked:
            return cls(engine, aid, name, cpu, fn, args, daemon)
        actor: Actor = parked.pop()
        actor.parent = engine.main
        actor._assign(engine, aid, name, cpu, fn, args, daemon)
        return actor

    def _assign(
        self,
        engine: Any,
        aid: int,
        name: str,
        cpu: int,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        daemon: bool,
    ) -> None:
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
        self._life = _NEW

    def recycle(self) -> None:
        """Called by :meth:`Engine.close` once the actor has ended or never started: drop
        its references and park its greenlet for a new actor (unless it is still inside
        its function, having survived the GreenletExit, or its greenlet ended)."""
        reusable = self._life != _RUNNING and not _greenlet_dead(self)
        self._life = _ENDED
        self.state = DONE
        self.engine = self.fn = self.result = self.error = self.waiting = None
        self.args = ()
        self.held = []
        parked = getattr(_parked, "actors", None)
        if parked is None:
            parked = _parked.actors = []
        if reusable and len(parked) < _KEEP and self.parent is greenlet.getcurrent():
            parked.append(self)

    @property
    def dead(self) -> bool:  # type: ignore[override]
        return self._life == _ENDED or _greenlet_dead(self)  # or killed before it started

    def __bool__(self) -> bool:
        return self._life == _RUNNING

    @property
    def gr_frame(self) -> Any:  # type: ignore[override]
        return _greenlet_frame(self) if self._life == _RUNNING else None

    def __repr__(self) -> str:
        return f"<actor {self.aid} {self.name} cpu{self.cpu} {self.state}>"


def _run() -> None:
    """Every actor greenlet's body: the actor's function, then, when its engine recycles,
    parked until :meth:`Actor.new` gives it another actor."""
    while True:
        actor: Actor = greenlet.getcurrent()  # type: ignore[assignment]
        actor._life = _RUNNING
        try:
            actor.result = actor.fn(*actor.args)
        except BaseException as e:  # reported by the engine as a finding, never lost
            actor.error = e
        actor.state = DONE
        actor._life = _ENDED
        if not actor.engine.recycle:
            return
        # To the engine as if the greenlet had ended.  No other local: the frame's locals
        # are part of every state fingerprint (explore/fingerprint.py), a recycled
        # greenlet's the same as a fresh one's.
        actor.parent.switch(None)
