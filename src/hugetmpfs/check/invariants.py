"""Run the invariants: every subject module registers its own (check/core.py explains how).

==============================  ======================================================
module                          subject
==============================  ======================================================
check/lists.py                  buddy free lists, per-CPU lists, NR_FREE_PAGES, free frames;
                                LRU lists, PG_lru, lru_size, pagevecs
check/pages.py                  radix trees against page fields, nrpages, nrexceptional;
                                reference counts against the owners the census sees
check/mappings.py               page tables against mapcounts, rss, VMAs, i_mmap
check/counters.py               every zone counter the model maintains, recounted
check/teams.py                  team_usage against members, pmds and ptes; huge pmds
check/team_lists.py             teams under reclaim: LRU weights, HUGEHOLE tags, shrink list
check/files.py                  tmpfs blocks, used_blocks, inode lifetimes; swap cache,
                                swap slots' counts, shmem's swap entries
check/oracle.py                 no garbage reachable by users (and the data oracle)
==============================  ======================================================

:func:`check_machine` runs every invariant that applies now; :func:`check_machine_fast`
only those whose cost does not grow with the number of pages (counter cross-checks), cheap
enough for every step of a long workload.

**When they apply.**  Two questions decide it (check/core.py):

* **Which locks are held?**  Every actor's ``held`` list (sim/locks.py keeps it for lockdep)
  names the lock classes it is inside; an RWSem held by its writer also counts as
  ``"<class>:write"``.  An invariant whose ``locks`` meet that set is skipped, because the
  holder may be half-way through changing what it checks.
* **Is the machine at rest?**  No kernel path is part-way through an operation: every actor
  has ended, has not started, or is a daemon parked at an idle point (a ``block_on`` or
  ``sleep`` whose name starts with ``"idle:"`` or is in IDLE_POINTS: the convention
  daemons follow to be checked at rest), and the running actor, if any, is between
  operations.  Only the caller knows that last part: :func:`check_machine` assumes its
  caller is between operations (the trace runner's ``check`` op is), while the step hook
  knows the running actor is inside one, except at the points in *rest_points*.

**Incrementally.**  The step hook does not recount what did not change: it keeps exact
copies of the state the checks read and reruns a check only when something it ``reads``
(check/core.py) changed since it last found nothing (check/incremental.py), with the same
results as rerunning them all (tests/check/test_incremental.py compares the two at every
step).  :func:`check_machine` always recounts from scratch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from hugetmpfs.check.core import INVARIANTS, Context, Violation
from hugetmpfs.check.incremental import Tracker
from hugetmpfs.sim import Finding, RWSem
from hugetmpfs.sim.actor import DONE

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from hugetmpfs.check.core import Invariant
    from hugetmpfs.mm.machine import MemMachine
    from hugetmpfs.sim import Actor, Engine

#: The subject modules, imported in this order: it is the order invariants run and report.
SUBJECTS = ("lists", "pages", "mappings", "counters", "teams", "team_lists", "files", "oracle")
for _subject in SUBJECTS:
    import_module(f"hugetmpfs.check.{_subject}")


def check_machine(
    m: MemMachine, *, at_rest: bool | None = None, names: Collection[str] | None = None
) -> list[Violation]:
    """Every applicable invariant's violations (empty when the machine is consistent).

    The caller is taken to be between operations: the machine is at rest unless another
    actor is part-way through one (pass *at_rest* to override).  REST invariants are
    skipped when it is not at rest, and any invariant whose locks some actor holds.
    Cost: one census (walks of every page cache, LRU list, free list, pagevec and page
    table) plus a few O(frames) numpy passes; about a millisecond per thousand pages in use.
    """
    return run_checks(select(names), machine_context(m, at_rest), first_only=False)


def check_machine_fast(m: MemMachine, *, at_rest: bool | None = None) -> list[Violation]:
    """The fast invariants only: O(inodes + mappings + MAX_ORDER + LRU lists), no census
    walk of pages."""
    return run_checks(select(fast=True), machine_context(m, at_rest), first_only=False)


IDLE_PREFIX = "idle:"
#: Where the existing daemons park with no work in hand (names predating the prefix).
IDLE_POINTS = frozenset({"kswapd:sleep"})

#: Points at which the running actor is between operations (the trace runner's task).
REST_POINTS = frozenset({"trace:op_done"})


def held_locks(engine: Engine) -> frozenset[str]:
    """Lock classes some actor holds, plus ``"<class>:write"`` for RWSems held to write."""
    out: set[str] = set()
    for actor in engine.actors:
        if not actor.held:  # the usual: nothing
            continue
        for cls, lock in actor.held:
            out.add(cls.name)
            if isinstance(lock, RWSem) and lock.writer is actor:
                out.add(cls.name + ":write")
    return frozenset(out) if out else NOTHING_HELD


NOTHING_HELD: frozenset[str] = frozenset()


def actor_at_rest(actor: Actor) -> bool:
    """Ended, never started, or a daemon parked at an ``idle:`` point holding nothing."""
    if actor.state == DONE or not (actor or actor.dead):
        return True
    point = actor.last_point
    idle = point.startswith(IDLE_PREFIX) or point in IDLE_POINTS
    # A daemon woken at its idle point but not yet resumed has still done nothing.
    return actor.daemon and not actor.held and idle


def machine_at_rest(m: MemMachine, current_at_rest: bool = True) -> bool:
    """No kernel path is mid-operation; *current_at_rest* vouches for the running actor."""
    engine = m.engine
    cur = engine.current
    if cur is not None and not (current_at_rest and not cur.held):
        return False
    return all(a is cur or actor_at_rest(a) for a in engine.actors)


def machine_context(m: MemMachine, at_rest: bool | None = None) -> Context:
    """A context for checking *m* now (at rest unless some actor is mid-operation)."""
    if at_rest is None:
        at_rest = machine_at_rest(m)
    return Context(m, at_rest, held_locks(m.engine))


def select(names: Collection[str] | None = None, fast: bool = False) -> list[Invariant]:
    """The registered invariants named (all when None), only the fast ones if *fast*."""
    if names is not None:
        unknown = sorted(set(names) - INVARIANTS.keys())
        if unknown:
            raise ValueError(f"unknown invariants {unknown}; known: {sorted(INVARIANTS)}")
    return [
        inv
        for inv in INVARIANTS.values()
        if (names is None or inv.name in names) and (inv.fast or not fast)
    ]


def run_checks(invariants: list[Invariant], ctx: Context, first_only: bool) -> list[Violation]:
    """Run the invariants that apply in *ctx*; stop at the first broken one if asked."""
    out: list[Violation] = []
    for inv in invariants:
        if not inv.applies(ctx):
            continue
        found = inv.fn(ctx)
        out += found
        if found and first_only:
            break
    return out


def step_hook(
    m: MemMachine,
    *,
    names: Collection[str] | None = None,
    fast: bool = False,
    every: int = 1,
    rest_points: Collection[str] = REST_POINTS,
    incremental: bool = True,
) -> Callable[[Engine, str], Finding | None]:
    """An ``engine.step_hooks`` entry checking *m*'s invariants at scheduling decisions.

    At each decision (every *every*-th one) it runs the selected invariants that apply:
    STEP ones whose locks nobody holds, and REST ones only at *rest_points* when every
    other actor is at rest.  The first broken invariant stops the run with
    ``Finding(kind="invariant", details={"name": ..., "violations": [...], "point": ...})``.
    Cost per decision: the listed costs of the invariants run (module docstrings).

    *incremental* (the default) reruns only the checks that found nothing before and read
    something that changed since, with the same results as rerunning them all
    (check/incremental.py); False recomputes every check from scratch at every decision.
    """
    invariants = select(names, fast)
    tracker = Tracker(m, invariants) if incremental else None
    decisions = 0

    def hook(engine: Engine, point: str) -> Finding | None:
        nonlocal decisions
        decisions += 1
        if decisions % every:
            return None
        at_rest = point in rest_points and machine_at_rest(m, current_at_rest=True)
        ctx = Context(m, at_rest, held_locks(engine))
        if tracker is not None:
            found = tracker.run(ctx, first_only=True)
        else:
            found = run_checks(invariants, ctx, first_only=True)
        if not found:
            return None
        first = found[0]
        cur = engine.current
        return Finding(
            "invariant",
            f"invariant {first.name} violated at step {engine.steps} ({point}): {first.message}",
            engine.steps,
            engine.schedule,
            cur.name if cur is not None else None,
            {"name": first.name, "violations": found, "point": point},
        )

    def recheck(at_rest: bool | None = None) -> list[Violation]:
        """What check_machine(m) finds with this hook's invariants, from the hook's kept
        copies: only the checks whose reads changed since the last decision rerun (the end
        of an exploration's execution, after a few steps since the last decision)."""
        ctx = machine_context(m, at_rest)
        if tracker is None:
            return run_checks(invariants, ctx, first_only=False)
        return tracker.run(ctx, first_only=False)

    hook.check_machine = recheck  # type: ignore[attr-defined]
    return hook
