"""Shrinking a finding's schedule: fewest preemptions, then fewest steps, then fewest choices.

The contract (Hypothesis's, conjecture/shrinker.py): a candidate is kept only if replaying it
reproduces the same finding (same kind, same invariant or message), and only if it is smaller
under the shortlex order (preemptions, steps, choices).  Whether a pass makes progress is a
deterministic function of the schedule, so "stop when no pass makes progress" is sound, and a
finding never shrinks into a non-finding.  Candidates are replayed leniently (a recorded
answer that cannot be followed any more falls back to the default), and what is kept is the
*exact* schedule of the replay, so the result replays strictly.

Passes: cut the tail; drop one preemption (keep the running actor instead); pick a lower actor
id at one choice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from hugetmpfs.sim import ReplayStrategy

if TYPE_CHECKING:
    from collections.abc import Iterator

    from hugetmpfs.explore.runner import Execution, ExploreOptions
    from hugetmpfs.explore.scenario import Scenario
    from hugetmpfs.sim.schedule import Decision


@dataclass
class ShrinkResult:
    run: Execution
    original_steps: int
    replays: int


def _key(run: Execution) -> tuple[int, int, int]:
    f = run.finding
    assert f is not None
    return (f.schedule.preemptions(), f.step, len(f.schedule))


def _candidates(decisions: list[Decision]) -> Iterator[list[Decision]]:
    n = len(decisions)
    for cut in sorted({n // 2, (3 * n) // 4, n - 1}):  # cut the tail
        if 0 <= cut < n:
            yield decisions[:cut]
    for i, d in enumerate(decisions):  # drop one preemption
        if d.preemption and d.current is not None:
            yield [*decisions[:i], replace(d, value=d.current), *decisions[i + 1 :]]
    for i, d in enumerate(decisions):  # lower actor ids
        lower = [o for o in d.options if o < d.value]
        if lower:
            yield [*decisions[:i], replace(d, value=lower[0]), *decisions[i + 1 :]]


def shrink(
    sc: Scenario, run: Execution, options: ExploreOptions, budget: int = 300
) -> ShrinkResult:
    """Shrink the schedule of *run* (which has a finding) within *budget* replays."""
    from hugetmpfs.explore.runner import run_once

    assert run.finding is not None
    signature = run.finding.signature()
    best, replays = run, 0
    progress = True
    while progress and replays < budget:
        progress = False
        assert best.finding is not None
        for candidate in _candidates(best.finding.schedule.decisions):
            if replays >= budget:
                break
            replays += 1
            attempt = run_once(sc, ReplayStrategy(candidate, lenient=True), options, best.seed)
            f = attempt.finding
            if f is not None and f.signature() == signature and _key(attempt) < _key(best):
                best, progress = attempt, True
                break
    return ShrinkResult(best, run.steps, replays)
