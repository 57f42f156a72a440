"""Where a checked step's time goes, and the ceiling of a faster change detection.

The steps/s target needs a step of 50 µs.  This splits the step of the steps benchmark
(check/incremental.py's Tracker at every decision) into:

- ``detect``: comparing the machine with the kept copies (``Tracker._changes``);
- ``checks``: the invariants rerun, with the census parts they compute on the way
  (``Invariant.fn``, timed call by call);
- ``refresh``: the rest of the tracker: what the changes reach, the valued census parts
  recomputed to compare their values, reads restricted to some frames and ``frames_ok``;
- ``outside``: engine, model and scenario set-up, everything but the tracker.

and measures the **ceiling of a write barrier**: the same executions again with
``Tracker._changes`` answering from a recording of the first run (exactly what it found
then, at no cost), so that what the model could report about its writes is free and
nothing else changes.  The parts are each one's share of a run timed call by call, applied
to the time of an untimed run.
"""

from __future__ import annotations

import statistics
import time
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from hugetmpfs.check import incremental
from hugetmpfs.check.core import INVARIANTS
from hugetmpfs.explore.runner import ExploreOptions, explore

if TYPE_CHECKING:
    from collections.abc import Iterator

    from hugetmpfs.explore.scenario import Scenario


def _set(obj: Any, name: str, value: Any) -> None:
    if isinstance(obj, type):
        setattr(obj, name, value)
    else:  # a frozen dataclass (Invariant)
        object.__setattr__(obj, name, value)


@contextmanager
def _patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    was = obj.__dict__[name]
    _set(obj, name, value)
    try:
        yield
    finally:
        _set(obj, name, was)


def _timed(fn: Any, spent: list[float]) -> Any:
    clock = time.perf_counter

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[0] += clock() - start

    return timed


def _run(sc: Scenario, options: ExploreOptions) -> tuple[int, float]:
    start = time.perf_counter()
    result = explore(sc, options)
    return result.steps, time.perf_counter() - start


def _split(sc: Scenario, options: ExploreOptions, steps: int) -> dict[str, float]:
    """Each part's share of a timed run (the tracker, its change detection, the checks)."""
    tracker, detect, checks = [0.0], [0.0], [0.0]
    with ExitStack() as stack:
        stack.enter_context(
            _patched(incremental.Tracker, "run", _timed(incremental.Tracker.run, tracker))
        )
        stack.enter_context(
            _patched(incremental.Tracker, "_changes", _timed(incremental.Tracker._changes, detect))
        )
        for inv in INVARIANTS.values():
            stack.enter_context(_patched(inv, "fn", _timed(inv.fn, checks)))
        again, total = _run(sc, options)
    if again != steps:
        raise AssertionError("the timed run did not repeat the untimed one")
    return {"tracker": tracker[0] / total, "detect": detect[0] / total, "checks": checks[0] / total}


def _free_detection(sc: Scenario, options: ExploreOptions, runs: int) -> float:
    """The executions again, with Tracker._changes replaying what it found in a recorded
    run of them (the runs are deterministic: the same calls in the same order): the
    median seconds of *runs* replays."""
    changes = incremental.Tracker._changes
    recorded: list[tuple[list[str], int, dict[str, Any]]] = []

    def recording(self: incremental.Tracker, at_rest: bool, held: frozenset[str]) -> Any:
        changed, bits = changes(self, at_rest, held)
        deltas = {
            # a page array's old values (its live view is the next run's own)
            part: d if d is None or part == "flags" else np.array(d[1])
            for part, d in self.deltas.items()
        }
        recorded.append((list(changed), bits, deltas))
        return changed, bits

    def replaying(self: incremental.Tracker, at_rest: bool, held: frozenset[str]) -> Any:
        changed, bits, deltas = recorded[at[0]]
        at[0] += 1
        self.deltas.clear()
        live = {part: view for part, _, _, view, _ in self.arrays}
        for part, d in deltas.items():
            self.deltas[part] = (live[part], d) if isinstance(d, np.ndarray) else d
        return list(changed), bits

    with _patched(incremental.Tracker, "_changes", recording):
        steps = _run(sc, options)[0]
    times = []
    for _ in range(runs):
        at = [0]
        with _patched(incremental.Tracker, "_changes", replaying):
            again, seconds = _run(sc, options)
        if again != steps or at[0] != len(recorded):
            raise AssertionError("the replayed run did not repeat the recorded one")
        times.append(seconds)
    return statistics.median(times)


def step_costs(sc: Scenario, schedules: int, steps: int, total: float) -> dict[str, Any]:
    """µs per step of each part of a run of *steps* steps in *total* seconds (random,
    *schedules* executions from seed 0), and steps/s with change detection free."""
    options = ExploreOptions("random", schedules, 0, shrink=False)
    split = _split(sc, options, steps)
    _, bare = _run(sc, replace(options, invariants=False))
    free = _free_detection(sc, options, runs=3)
    # each part's share of the timed run, of the untimed run's time
    us = total * 1e6 / steps
    share = split["tracker"] - split["detect"] - split["checks"]
    return {
        "steps": steps,
        "us_per_step": round(us, 1),
        "detect_us": round(split["detect"] * us, 1),
        "checks_us": round(split["checks"] * us, 1),
        "refresh_us": round(share * us, 1),
        "outside_us": round((1 - split["tracker"]) * us, 1),
        "no_invariants_us": round(bare * 1e6 / steps, 1),
        "free_detection_us": round(free * 1e6 / steps, 1),
        "free_detection_steps_per_s": round(steps / free),
    }
