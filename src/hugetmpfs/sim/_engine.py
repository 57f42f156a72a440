"""The engine: actors on virtual CPUs, virtual time, timers, blocking and waking, the run loop.

Only the engine's main greenlet decides who runs.  An actor gives control back at a
preemption point where the strategy wants to switch, when it blocks, sleeps or ends; the main
loop then fires the timers that are due and asks the strategy for the next actor.
Everything is ordered: actor ids are dense, waiters are kept in arrival order, timers in a
heap keyed by (time, sequence number), so a run is a pure function of (inputs, strategy,
seed).

Time: each virtual CPU has its own clock, advanced by the work its actors charge with
:meth:`Engine.consume`.  Under a timed strategy (workloads) the runnable actor whose CPU is
earliest runs next, and timers (sleeps, I/O completions) fire in time order between actors.
Under a timeless strategy (exploration) a sleep is just a preemption point and a timer is an
actor of its own, so that every order of events can be explored.

A point that does not switch must cost about a function call: in workload mode it is one
comparison of the CPU clock with a precomputed horizon.
"""

from __future__ import annotations

import heapq
import math
from typing import TYPE_CHECKING, Any

import greenlet

from hugetmpfs.sim.actor import BLOCKED, DONE, RUNNABLE, SLEEPING, Actor
from hugetmpfs.sim.schedule import CHOOSE, PICK, Decision, Finding, Schedule

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

    from hugetmpfs.sim.strategy.base import Strategy

INF = math.inf
#: The kind of the pseudo-finding of an execution a strategy abandoned (:meth:`Engine.abandon`).
ABANDONED = "abandoned"


class EngineError(Exception):
    """Misuse of the engine by model code (blocking outside an actor, waking nobody...)."""


class Engine:
    """Runs actors under a strategy; see :meth:`run`."""

    def __init__(
        self,
        strategy: Strategy,
        cpus: int = 1,
        max_steps: int | None = None,
        lockdep: bool = True,
    ) -> None:
        if cpus < 1:
            raise ValueError("cpus must be >= 1")
        self.strategy = strategy
        self.cpus = cpus
        self.max_steps = max_steps
        self.lockdep = lockdep  # check every lock acquisition against sim/locks.py LOCK_ORDER
        self.main = greenlet.getcurrent()
        self.actors: list[Actor] = []  # by id, forever (ids are dense)
        self.runnable: dict[int, Actor] = {}  # aid -> actor, for the actors that may run
        # sorted(runnable), kept until runnable changes (None): most points change nothing
        self._ids: tuple[int, ...] | None = ()
        self.live = 0  # actors not yet done
        self.live_daemons = 0
        self.current: Actor | None = None
        self.clock = [0] * cpus  # virtual ns executed by each CPU
        self.timer_now: int | None = None  # the time of the timer being fired, if any
        self.waiters: dict[Hashable, list[Actor]] = {}
        self.timers: list[tuple[int, int, Any, tuple[Any, ...]]] = []  # (time, seq, target, args)
        self._seq = 0
        self.steps = 0  # preemption points passed
        self.schedule = Schedule()
        self.every_point = strategy.every_point
        self.timeless = strategy.timeless
        self.horizon: float = INF
        self.step_hooks: list[Callable[[Engine, str], Finding | None]] = []
        # (step, actor id, point) of every point, when a report wants the run's shape
        self.point_log: list[tuple[int, int, str]] | None = None
        self.finding: Finding | None = None
        strategy.bind(self)

    # -- actors and time ------------------------------------------------------------------

    def spawn(
        self,
        fn: Callable[..., Any],
        *args: Any,
        name: str | None = None,
        cpu: int = 0,
        daemon: bool = False,
        asleep_on: Hashable | None = None,
    ) -> Actor:
        """Create an actor running ``fn(*args)`` on virtual CPU *cpu*; it starts runnable,
        or with *asleep_on*, blocked on that key: it runs ``fn`` from the start when
        :meth:`wake` wakes the key.

        A daemon whose function begins by sleeping until wanted (kswapd) starts asleep: its
        first run would only find nothing wanted and block, and left runnable it would
        offer every scheduling decision a preemption to that empty run, doubling the
        states an exhaustive search visits (one copy with the daemon yet to run).
        """
        if not 0 <= cpu < self.cpus:
            raise ValueError(f"cpu {cpu} out of range 0..{self.cpus - 1}")
        aid = len(self.actors)
        actor = Actor(self, aid, name or fn.__name__, cpu, fn, args, daemon)
        actor.ready_at = self.now()
        self.actors.append(actor)
        self.live += 1
        self.live_daemons += daemon
        if asleep_on is None:
            self._make_runnable(actor, actor.ready_at)
        else:
            actor.state = BLOCKED
            actor.waiting = asleep_on
            self.waiters.setdefault(asleep_on, []).append(actor)
        return actor

    def now(self) -> int:
        """Virtual time (ns) as seen by the running actor (its CPU's clock) or timer."""
        cur = self.current
        if cur is not None:
            return self.clock[cur.cpu]
        return self.timer_now if self.timer_now is not None else self.clock[0]

    def consume(self, ns: int) -> None:
        """Charge *ns* of virtual CPU time to the running actor's CPU."""
        cur = self.current
        if cur is not None:
            self.clock[cur.cpu] += ns

    def ready_time(self, aid: int) -> int:
        actor = self.actors[aid]
        return max(self.clock[actor.cpu], actor.ready_at)

    def call_later(self, ns: int, fn: Callable[..., Any], *args: Any, name: str = "timer") -> None:
        """Run ``fn(*args)`` *ns* of virtual time from now, like an interrupt handler.

        Timed strategies fire it from the main loop at its time; exploring strategies run it
        in an actor of its own, so it interleaves with every other actor.
        """
        if self.timeless:
            cpu = self.current.cpu if self.current is not None else 0
            self.spawn(_timer_actor, self, ns, fn, args, name=name, cpu=cpu)
            return
        self._push_timer(self.now() + ns, fn, args)

    def _push_timer(self, t: int, target: Any, args: tuple[Any, ...]) -> None:
        self._seq += 1
        heapq.heappush(self.timers, (t, self._seq, target, args))
        if not self.every_point and t < self.horizon:
            self.horizon = t

    # -- preemption points ----------------------------------------------------------------

    def point(self, name: str) -> None:
        """A place where the kernel could be interleaved (named after the window it opens)."""
        cur = self.current
        if cur is None:
            return
        self.steps += 1
        if self.point_log is not None:
            self.point_log.append((self.steps, cur.aid, name))
        if self.every_point or self.clock[cur.cpu] >= self.horizon:
            cur.last_point = name
            self._decide(cur, name)

    def yield_point(self, name: str) -> None:
        """A busy-wait's retry (cond_resched in a loop that waits for another CPU): the
        running actor lets every other runnable actor go first.

        Exploring strategies pick among the others, and the switch is not counted as a
        preemption (Shuttle's and loom's yield_now): without it an adversarial schedule can
        starve the actor a spinner waits for and report a livelock the kernel cannot have.
        Timed strategies just let time pass."""
        cur = self.current
        if cur is None:
            return
        if not self.every_point:
            self.consume(1_000)
            self.point(name)
            return
        self.steps += 1
        if self.point_log is not None:
            self.point_log.append((self.steps, cur.aid, name))
        cur.last_point = name
        others = [aid for aid in self._candidates(cur) if aid != cur.aid]
        if not others:
            self._decide(cur, name)
            return
        if self.step_hooks:
            self._run_hooks(name)
        nxt = others[0] if len(others) == 1 else self.strategy.pick(others, None, name)
        if len(others) > 1:
            self.schedule.decisions.append(
                Decision(PICK, nxt, tuple(others), name, cur.aid, self.steps)
            )
        self.main.switch(self.actors[nxt])

    def _decide(self, cur: Actor, name: str) -> None:
        if self.step_hooks:
            self._run_hooks(name)
        if self.max_steps is not None and self.steps > self.max_steps:
            msg = f"more than {self.max_steps} steps"
            self._stop(Finding("step_limit", msg, self.steps, self.schedule, cur.name))
        if self.timers and self.timers[0][0] <= self.clock[cur.cpu]:
            self.main.switch(_RESCHEDULE)  # let the main loop fire the timers first
            return
        candidates = self._candidates(cur)
        if len(candidates) > 1:
            nxt = self._pick(candidates, cur.aid, name)
            if nxt != cur.aid:
                self.main.switch(self.actors[nxt])
                return
        self._reset_horizon(cur)

    def _candidates(self, cur: Actor | None) -> list[int]:
        """The ids of the actors that may run now, in increasing order: a new list at each
        call (the actors' suspended frames keep theirs, and a state fingerprint walks
        frames: one object shared by several frames would encode as a back-reference, and
        equal states reached with and without the sharing would differ)."""
        ids = self._ids
        if ids is None:
            ids = self._ids = tuple(sorted(self.runnable))
        if len(ids) > 1 and cur is not None and cur.preempt_count > 0 and cur.state == RUNNABLE:
            cpu = cur.cpu  # preemption is off: nobody else of this CPU may run
            runnable = self.runnable
            return [aid for aid in ids if aid == cur.aid or runnable[aid].cpu != cpu]
        return list(ids)

    def _pick(self, candidates: list[int], current: int | None, name: str) -> int:
        nxt = self.strategy.pick(candidates, current, name)
        # Exploration keeps the options (shrinking and DFS need them); workloads only the
        # answer, since they replay from the seed.
        options = tuple(candidates) if self.every_point else ()
        self.schedule.decisions.append(Decision(PICK, nxt, options, name, current, self.steps))
        return nxt

    def choose(self, n: int, what: str) -> int:
        """A recorded data choice in ``range(n)``; forced (0) when n == 1."""
        if n <= 1:
            return 0
        value = self.strategy.choose(n, what)
        self.schedule.decisions.append(Decision(CHOOSE, value, (n,), what, None, self.steps))
        return value

    def _reset_horizon(self, cur: Actor) -> None:
        if self.every_point:
            return
        others = [self.ready_time(aid) for aid in self.runnable if aid != cur.aid]
        horizon = min(others) + self.strategy.quantum() if others else INF
        if self.timers and self.timers[0][0] < horizon:
            horizon = self.timers[0][0]
        self.horizon = horizon

    def preempt_disable(self) -> None:
        """No other actor of the running actor's CPU may run until preempt_enable."""
        if self.current is not None:
            self.current.preempt_count += 1

    def preempt_enable(self) -> None:
        if self.current is not None:
            self.current.preempt_count -= 1

    # -- blocking and waking --------------------------------------------------------------

    def _make_runnable(self, actor: Actor, t: int) -> None:
        actor.state = RUNNABLE
        actor.ready_at = t
        self.runnable[actor.aid] = actor
        self._ids = None
        if not self.every_point and self.current is not None:
            self.horizon = min(self.horizon, self.ready_time(actor.aid) + self.strategy.quantum())

    def block_on(self, key: Hashable, name: str) -> None:
        """Block the running actor until someone calls :meth:`wake` on *key*."""
        cur = self._require_actor("block")
        cur.state = BLOCKED
        cur.waiting = key
        cur.last_point = name
        del self.runnable[cur.aid]
        self._ids = None
        self.waiters.setdefault(key, []).append(cur)
        self.main.switch(None)

    def wake(self, key: Hashable, nr: int | None = None) -> int:
        """Make the actors blocked on *key* runnable (all, or the first *nr*); return how many."""
        queue = self.waiters.get(key)
        if not queue:
            return 0
        woken = queue if nr is None else queue[:nr]
        rest = [] if nr is None else queue[nr:]
        if rest:
            self.waiters[key] = rest
        else:
            del self.waiters[key]
        t = self.now()
        for actor in woken:
            actor.waiting = None
            self._make_runnable(actor, t)
        return len(woken)

    def sleep(self, ns: int, name: str = "sleep") -> None:
        """Let *ns* of virtual time pass for the running actor without using its CPU."""
        cur = self._require_actor("sleep")
        if self.timeless:
            self.point(name)
            return
        cur.state = SLEEPING
        cur.last_point = name
        del self.runnable[cur.aid]
        self._ids = None
        self._push_timer(self.now() + ns, cur, ())
        self.main.switch(None)

    def _require_actor(self, what: str) -> Actor:
        cur = self.current
        if cur is None:
            raise EngineError(f"cannot {what} outside an actor")
        return cur

    # -- the run loop ---------------------------------------------------------------------

    def run(self, until: Actor | Callable[[], bool] | None = None) -> Finding | None:
        """Run until *until* holds (an actor ended, or a predicate), or no actor can run.

        With no *until*, run until every non-daemon actor has ended.  Returns a finding
        (deadlock, exception in an actor, step limit, failed step hook) or None.
        """
        if greenlet.getcurrent() is not self.main:
            raise EngineError("Engine.run must be called from the greenlet that created it")
        done = self._until(until)
        while self.finding is None and not done():
            self._fire_due_timers()
            actor = self._next_actor()
            if self.finding is not None:  # the strategy abandoned the execution
                break
            if actor is None:
                self.finding = self._deadlock_or_none()
                break
            self._switch_to(actor)
        return self.finding

    def close(self) -> None:
        """End every actor that has not finished (daemons parked in their loops, actors left
        blocked by a finding) and drop the engine's references, so the machine can be
        freed: the garbage collector cannot see through a suspended greenlet's frame."""
        self.finding = self.finding or Finding("closed", "engine closed", self.steps, self.schedule)
        for actor in self.actors:
            if not actor.dead and actor.state != DONE:
                try:
                    actor.throw(greenlet.GreenletExit)
                except greenlet.GreenletExit:
                    pass
        self.actors.clear()
        self.runnable.clear()
        self._ids = ()
        self.waiters.clear()
        self.timers.clear()
        self.step_hooks.clear()
        self.current = None

    def _until(self, until: Actor | Callable[[], bool] | None) -> Callable[[], bool]:
        if until is None:
            return lambda: self.live == self.live_daemons
        if isinstance(until, Actor):
            return lambda: until.state == DONE
        return until

    def _fire_due_timers(self) -> None:
        """Fire every timer due before the earliest runnable actor's time."""
        while self.timers and self.finding is None:
            limit = min((self.ready_time(aid) for aid in self.runnable), default=INF)
            if self.timers[0][0] > limit:
                return
            self._fire_timer()

    def _fire_timer(self) -> None:
        t, _, target, args = heapq.heappop(self.timers)
        if isinstance(target, Actor):
            self._make_runnable(target, t)
            return
        self.timer_now = t
        try:
            target(*args)
        except Exception as e:  # a failing interrupt handler is a finding, like an actor's
            self.finding = Finding(
                getattr(e, "finding_kind", "exception"),
                f"{type(e).__name__}: {e}",
                self.steps,
                self.schedule,
                "timer",
                {"exception": e},
            )
        finally:
            self.timer_now = None

    def _next_actor(self) -> Actor | None:
        candidates = self._candidates(None)
        if not candidates:
            return None
        if len(candidates) == 1:
            return self.actors[candidates[0]]
        return self.actors[self._pick(candidates, None, "schedule")]

    def _switch_to(self, actor: Actor) -> None:
        nxt: Actor | None = actor
        while nxt is not None:  # a preempted actor names its successor
            self.current = nxt
            if nxt.ready_at > self.clock[nxt.cpu]:
                self.clock[nxt.cpu] = nxt.ready_at  # the CPU idled until the actor was ready
            self._reset_horizon(nxt)
            nxt = nxt.switch()
            if self.current is not None and self.current.state == DONE:
                self._ended(self.current)
                nxt = None
            elif nxt is _RESCHEDULE:
                nxt = None
        self.current = None

    def _ended(self, actor: Actor) -> None:
        self.runnable.pop(actor.aid, None)
        self._ids = None
        self.live -= 1
        self.live_daemons -= actor.daemon
        if actor.error is not None and self.finding is None:
            err = actor.error
            kind = getattr(err, "finding_kind", "exception")
            self.finding = Finding(
                kind,
                f"{type(err).__name__}: {err}",
                self.steps,
                self.schedule,
                actor.name,
                {"exception": err},
            )

    def _deadlock_or_none(self) -> Finding | None:
        blocked = [a for a in self.actors if a.state == BLOCKED]
        if all(a.daemon for a in blocked):
            return None  # only daemons wait for work: the machine is quiescent
        lines = [
            f"{a.name} (cpu{a.cpu}) waits for {a.waiting!r} at {a.last_point}" for a in blocked
        ]
        return Finding(
            "deadlock",
            "all actors blocked:\n  " + "\n  ".join(lines),
            self.steps,
            self.schedule,
            None,
            {"name": "deadlock"},
        )

    def _stop(self, finding: Finding) -> None:
        """End the execution from inside an actor: record the finding, never return."""
        self.finding = finding
        self.main.switch(None)
        raise EngineError("a stopped execution was resumed")  # pragma: no cover

    def abandon(self, reason: str) -> None:
        """End the execution at the current decision with no finding of its own (kind
        ``abandoned``): the strategy knows everything that follows was explored already.
        Called by a strategy from ``pick``; from inside an actor it does not return."""
        finding = Finding(ABANDONED, reason, self.steps, self.schedule, details={"name": reason})
        if greenlet.getcurrent() is self.main:
            self.finding = finding  # the run loop stops before switching to anyone
            return
        self._stop(finding)

    def _run_hooks(self, name: str) -> None:
        for hook in self.step_hooks:
            finding = hook(self, name)
            if finding is not None:
                self._stop(finding)


class _Reschedule:
    """What an actor hands the main loop when timers are due: choose again after them."""


_RESCHEDULE: Any = _Reschedule()


def _timer_actor(engine: Engine, ns: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    engine.sleep(ns, "timer:pending")
    fn(*args)
