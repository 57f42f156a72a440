"""The incremental step hook against the full recount: identical results at every step.

check/incremental.py reruns a check only when something it reads changed.  Here every
scheduling decision of several explore scenarios (guards on, and off so that violations
occur) runs the incremental checks and every check from scratch side by side, and the
violation lists must be equal, both as the step hook asks (first broken invariant only)
and in full.  The runs do not stop at a violation, so checks that keep failing, and
failures that clear again, are compared too.  End to end, explore finds the same thing at
the same step with the incremental hook as with the full one.
"""

from __future__ import annotations

import inspect
from functools import cached_property
from typing import TYPE_CHECKING

import pytest

import hugetmpfs.explore.runner as runner
import hugetmpfs.explore.scenarios  # noqa: F401  (registers the built-in scenarios)
from hugetmpfs.check.census import READS, Census
from hugetmpfs.check.core import INVARIANTS, Context
from hugetmpfs.check.incremental import Tracker, expand, known_part
from hugetmpfs.check.invariants import (
    REST_POINTS,
    held_locks,
    machine_at_rest,
    run_checks,
    select,
    step_hook,
)
from hugetmpfs.explore import REGISTRY
from hugetmpfs.explore.runner import ExploreOptions, explore
from hugetmpfs.sim.schedule import Finding

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine
    from hugetmpfs.sim import Engine

#: Scenarios, with their guard on or off, between them covering recovery, migration, swap,
#: reclaim, COW, teams under pmds and the LRU.
CASES = [
    ("recovery-vs-punch-and-write", False),
    ("recovery-migrate-vs-punch-head", False),
    ("reclaim-unmap-vs-munmap", True),
    ("recovery-vs-eviction", True),
    ("putback-vs-disband", True),
    ("recovery-resume-swapin", True),
    ("recovery-swapin-mapped", True),
    ("alloc-two-writers-one-hole", True),
    ("alloc-fault-vs-truncate", True),
    ("huge-fault-vs-cow-fault", True),
]
#: Those whose runs here break an invariant at some step (so violations are compared too).
BROKEN = {
    "putback-vs-disband",
    "recovery-resume-swapin",
    "recovery-swapin-mapped",
    "alloc-two-writers-one-hole",
    "alloc-fault-vs-truncate",
}
#: Consecutive broken steps after which an execution is stopped (some livelock once broken).
PATIENCE = 40


class Twin:
    """A step hook that runs the checks both ways and records every disagreement."""

    def __init__(self) -> None:
        self.steps = 0
        self.violating_steps = 0
        self.mismatches: list[str] = []

    def hook(self, m: MemMachine, **_: object) -> object:
        invariants = select()
        first = Tracker(m, invariants)
        every = Tracker(m, invariants)

        broken = 0

        def hook(engine: Engine, point: str) -> Finding | None:
            nonlocal broken
            at_rest = point in REST_POINTS and machine_at_rest(m, current_at_rest=True)
            held = held_locks(engine)
            for tracker, first_only in ((first, True), (every, False)):
                fast = tracker.run(Context(m, at_rest, held), first_only)
                full = run_checks(invariants, Context(m, at_rest, held), first_only)
                if fast != full:
                    self.mismatches.append(f"step {engine.steps} ({point}): {fast} != {full}")
            self.steps += 1
            self.violating_steps += bool(full)
            # a violation does not stop the run: checks that stay broken, or heal, are
            # compared too, up to PATIENCE broken steps in a row
            broken = broken + 1 if full else 0
            if broken < PATIENCE:
                return None
            return Finding("invariant", "still broken", engine.steps, engine.schedule)

        return hook


@pytest.mark.parametrize(("name", "guard_off"), CASES)
def test_incremental_equals_full_recount_at_every_step(
    name: str, guard_off: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = REGISTRY[name]
    twin = Twin()
    monkeypatch.setattr(runner, "step_hook", twin.hook)
    guards = (sc.guard,) if guard_off and sc.guard else ()
    explore(sc, ExploreOptions("random", 6, 11, guards_off=guards, shrink=False))
    assert twin.steps > 0
    assert not twin.mismatches, "\n".join(twin.mismatches[:5])
    assert bool(twin.violating_steps) == (name in BROKEN)


@pytest.mark.parametrize("name", [n for n, off in CASES if off][:6])
def test_explore_finds_the_same_with_either_hook(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = REGISTRY[name]
    opts = ExploreOptions("random", 10, 3, guards_off=(sc.guard,) if sc.guard else (), shrink=False)
    found = {}
    for incremental in (True, False):

        def hook(m: MemMachine, incremental: bool = incremental, **kw: object) -> object:
            return step_hook(m, incremental=incremental, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(runner, "step_hook", hook)
        r = explore(sc, opts)
        f = r.found.finding if r.found is not None else None
        found[incremental] = (
            r.executions,
            r.steps,
            None if f is None else (f.kind, f.message, f.step, f.schedule.to_json(), f.details),
        )
    assert found[True] == found[False]


def test_every_census_part_says_what_it_reads() -> None:
    parts = {name for name, attr in vars(Census).items() if isinstance(attr, cached_property)}
    assert parts == set(READS), "census.READS must list every cached part of Census"
    for name in READS:
        expand(frozenset({name}), 0)  # every name it uses is known


def test_every_invariant_reads_known_parts() -> None:
    for inv in INVARIANTS.values():
        parts, _ = expand(inv.reads, inv.flag_bits)
        assert all(known_part(p) for p in parts)
        # a check that consults the context itself must say so
        source = inspect.getsource(inv.fn)
        if "ctx.at_rest" in source:
            assert "at_rest" in parts, inv.name
        if "ctx.held" in source or "ctx.busy" in source:
            assert any(p == "held" or p.startswith("held:") for p in parts), inv.name
