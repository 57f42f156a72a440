"""pytest helpers: a race scenario as a test (cf. trio.testing).

from hugetmpfs.testing import assert_explores_clean, assert_explore_finds

def test_my_scenario_is_race_free():
    assert_explores_clean(my_scenario, strategy="dfs", bound=2)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hugetmpfs.explore.findings import report
from hugetmpfs.explore.runner import ExploreOptions, ExploreResult, explore, replay

if TYPE_CHECKING:
    from hugetmpfs.explore.scenario import Scenario


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
