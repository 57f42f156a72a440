"""The allocation and lookup races of patch 04 (base/R4.x): each guard off is found and
replays; with every guard on, DFS at preemption bound 2 searches every schedule clean."""

from __future__ import annotations

import pytest

from hugetmpfs.explore.scenario import REGISTRY
from hugetmpfs.explore.scenarios import teams_alloc
from hugetmpfs.shmem.names import GUARDS
from hugetmpfs.testing import assert_explore_finds, assert_explores_clean

#: scenario -> (its guard, the kind of finding with the guard off, a word of its message)
CASES = {
    teams_alloc.two_writers_one_extent.name: ("base/R4.1", "oracle", "I6: 2 live teams"),
    teams_alloc.two_writers_one_hole.name: ("base/R4.2", "invariant", "pagecache_matches"),
    teams_alloc.writer_vs_punch_head.name: ("base/R4.3", "exception", "get_page on a free"),
    teams_alloc.fault_vs_truncate.name: ("base/R4.6", "invariant", "team_usage_matches_team"),
}


def test_scenarios_are_registered_with_their_guards() -> None:
    for name, (guard, _, _) in CASES.items():
        sc = REGISTRY[name]
        assert sc.setup.__module__ == teams_alloc.__name__
        assert sc.guard == guard
        assert guard in GUARDS
        assert sc.hpage_nr == 8


@pytest.mark.parametrize("variant", ["v24", "v29"])
@pytest.mark.parametrize("name", list(CASES))
def test_guard_off_is_found_and_replays(name: str, variant: str) -> None:
    sc = REGISTRY[name]
    guard, kind, words = CASES[name]
    result = assert_explore_finds(
        sc, kind, strategy="dfs", bound=2, schedules=2000, variant=variant, guards_off=(guard,)
    )
    assert result.found is not None
    assert result.found.finding is not None
    assert words in result.found.finding.message


def test_r4_1_off_lets_a_writer_join_a_team_being_disbanded() -> None:
    """The hint a writer took (a hole of the team) is stale once a punch of the head has
    disbanded the team: without the recheck under tree_lock the page joins a dead team."""
    sc = teams_alloc.writer_vs_punch_head
    result = assert_explore_finds(
        sc, "invariant", strategy="dfs", bound=2, schedules=2000, guards_off=("base/R4.1",)
    )
    assert result.found is not None
    assert result.found.finding is not None
    assert "NR_SHMEM_FREEHOLES" in result.found.finding.message


@pytest.mark.parametrize("variant", ["v24", "v29"])
@pytest.mark.parametrize("name", list(CASES))
def test_all_guards_on_is_clean_exhaustively(name: str, variant: str) -> None:
    sc = REGISTRY[name]
    result = assert_explores_clean(sc, strategy="dfs", bound=2, schedules=5000, variant=variant)
    assert result.exhausted
