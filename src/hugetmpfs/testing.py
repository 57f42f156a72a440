"""pytest helpers: a race scenario as a test (cf. trio.testing).

from hugetmpfs.testing import assert_explores_clean, assert_explore_finds

def test_my_scenario_is_race_free():
    assert_explores_clean(my_scenario, strategy="dfs", bound=2)

and ``SwitchAt``, a scripted schedule for ``explore.runner.run_once``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hugetmpfs.explore.findings import report
from hugetmpfs.explore.runner import ExploreOptions, ExploreResult, explore, replay

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hugetmpfs.explore.scenario import Scenario
    from hugetmpfs.sim import Engine


def assert_explores_clean(sc: Scenario, **options: Any) -> ExploreResult:
    """Explore *sc* and fail the test with the finding's report if anything is found."""
    result = explore(sc, ExploreOptions(**options))
    assert result.found is None, report(result, None)
    return result


def assert_explore_finds(sc: Scenario, kind: str | None = None, **options: Any) -> ExploreResult:
    """Explore *sc*, require a finding (of *kind*, if given), and check its schedule
    replays to the same finding."""
    result = explore(sc, ExploreOptions(**options))
    assert result.found is not None, report(result, None)
    finding = result.found.finding
    assert finding is not None
    if kind is not None:
        assert finding.kind == kind, report(result, None)
    again = replay(sc, finding.schedule.decisions, result.options)
    assert again.finding is not None
    assert again.finding.signature() == finding.signature()
    return result


class SwitchAt:
    """A scripted schedule (a strategy for one execution): run the current actor (at first
    the lowest id) as long as it can; at the first passage of each scripted point, switch
    to the named actor, which then runs until it blocks or ends.  ``script`` is empty once
    every switch has happened."""

    every_point = True
    timeless = True

    def __init__(self, script: Sequence[tuple[str, str]]) -> None:
        self.script = list(script)
        self.engine: Engine | None = None
        self.started = False

    def new_execution(self) -> int | None:
        if self.started:
            return None
        self.started = True
        return 0

    def bind(self, engine: Engine) -> None:
        self.engine = engine

    def pick(self, runnable: Sequence[int], current: int | None, point: str) -> int:
        assert self.engine is not None
        if self.script and point == self.script[0][0]:
            for aid in runnable:
                if self.engine.actors[aid].name == self.script[0][1]:
                    self.script.pop(0)
                    return aid
        return current if current in runnable else runnable[0]

    def choose(self, n: int, what: str) -> int:
        return 0

    def quantum(self) -> int:
        return 0
