"""Shrinking a finding's schedule: fewest preemptions, then fewest steps, then fewest choices.

The contract (Hypothesis's, conjecture/shrinker.py): a candidate is kept only if replaying it
reproduces the same finding (same kind, same invariant or message), and only if it is smaller
under the shortlex order (preemptions, steps, choices).  Whether a pass makes progress is a
deterministic function of the schedule, so "stop when no pass makes progress" is sound, and a
finding never shrinks into a non-finding.  Candidates are replayed leniently (a recorded
answer that cannot be followed any more falls back to the default), and what is kept is the
*exact* schedule of the replay, so the result replays strictly.

First, once, when there are several preemptions: the default run with a single one (at each
of its first choices, to each actor).  Then passes: cut the tail; drop one preemption (keep
the running actor instead), every preemption from one on, or one preemption and every choice
after it; pick a lower actor id at one choice.  Dropping one preemption alone can leave a
local minimum: the later choices were made for the interleaving that preemption began.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from hugetmpfs.sim import ReplayStrategy
from hugetmpfs.sim.schedule import PICK, Decision

if TYPE_CHECKING:
    from collections.abc import Iterator

    from hugetmpfs.explore.runner import Execution, ExploreOptions
    from hugetmpfs.explore.scenario import Scenario


@dataclass
class ShrinkResult:
    run: Execution
    original_steps: int
    replays: int
    original_preemptions: int = 0


ONE_PREEMPTION_SPAN = 64  # choices of the default run tried for a single preemption


def _key(run: Execution) -> tuple[int, int, int]:
    f = run.finding
    assert f is not None
    return (f.schedule.preemptions(), f.step, len(f.schedule))


def _single(decisions: list[Decision]) -> Iterator[list[Decision]]:
    """The default run with one preemption, at each of its first choices, to each actor."""
    actors = sorted({o for d in decisions if d.kind == PICK for o in d.options})
    for i in range(min(len(decisions), ONE_PREEMPTION_SPAN)):
        for a in actors:
            # -1 is never runnable: the lenient replay takes the default there
            yield [*(replace(d, value=-1) for d in decisions[:i]), Decision(PICK, a, (), "", None)]


def _candidates(decisions: list[Decision]) -> Iterator[list[Decision]]:
    n = len(decisions)
    for cut in sorted({n // 2, (3 * n) // 4, n - 1}):  # cut the tail
        if 0 <= cut < n:
            yield decisions[:cut]
    preempting = [i for i, d in enumerate(decisions) if d.preemption and d.current is not None]
    for i in preempting:  # drop one preemption
        d = decisions[i]
        yield [*decisions[:i], replace(d, value=d.current), *decisions[i + 1 :]]
    preempted = set(preempting)
    for i in preempting:  # drop every preemption from one on (the rest then follows them)
        yield [
            replace(d, value=d.current) if k >= i and k in preempted else d
            for k, d in enumerate(decisions)
        ]
    for i in preempting:  # drop one preemption and what came after it (defaults follow)
        yield [*decisions[:i], replace(decisions[i], value=decisions[i].current)]
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

    def better(candidate: list[Decision]) -> Execution | None:
        nonlocal replays
        replays += 1
        attempt = run_once(sc, ReplayStrategy(candidate, lenient=True), options, best.seed)
        f = attempt.finding
        if f is not None and f.signature() == signature and _key(attempt) < _key(best):
            return attempt
        return None

    # First, once, with half the budget at most: a single preemption.
    if run.finding.schedule.preemptions() > 1:
        for candidate in _single(run.finding.schedule.decisions):
            if replays >= budget // 2:
                break
            found = better(candidate)
            if found is not None:
                best = found
                break
    progress = True
    while progress and replays < budget:
        progress = False
        assert best.finding is not None
        for candidate in _candidates(best.finding.schedule.decisions):
            if replays >= budget:
                break
            found = better(candidate)
            if found is not None:
                best, progress = found, True
                break
    assert run.finding is not None
    return ShrinkResult(best, run.steps, replays, run.finding.schedule.preemptions())
