"""The mapping, disband and shrinker races of teams (explore/scenarios/teams_map.py): with
its guard off each scenario's hazard is found and replays; with every guard on it is not;
an unguarded hazard is found with every guard on."""

from __future__ import annotations

import pytest

import hugetmpfs.explore.scenarios  # noqa: F401  (registers the built-in scenarios)
from hugetmpfs.explore import REGISTRY
from hugetmpfs.shmem.names import GUARDS
from hugetmpfs.testing import assert_explore_finds, assert_explores_clean

# scenario -> (strategy, schedules) with its guard off, then with every guard on (DFS at
# bound 2; a budget, not exhaustive, where exhausting the bound takes a minute).
GUARDED = {
    "huge-fault-vs-cow-fault": (("dfs", 50), ("dfs", 120)),
    "punch-vs-huge-fault": (("random", 300), ("dfs", 120)),
    "reclaim-unmap-vs-munmap": (("dfs", 50), ("dfs", 100)),
    "pte-map-vs-disband": (("dfs", 100), ("dfs", 120)),
    "remap-vs-punch": (("dfs", 150), ("dfs", 120)),
    "shrinker-to-team-fills": (("dfs", 50), ("dfs", 150)),
}


@pytest.mark.parametrize("name", sorted(GUARDED))
def test_guard_off_finds_the_hazard_and_it_replays(name: str) -> None:
    sc = REGISTRY[name]
    assert sc.guard in GUARDS
    strategy, schedules = GUARDED[name][0]
    assert_explore_finds(
        sc, strategy=strategy, schedules=schedules, bound=2, guards_off=(sc.guard,), shrink=False
    )


@pytest.mark.parametrize("name", sorted(GUARDED))
def test_every_guard_on_is_clean(name: str) -> None:
    strategy, schedules = GUARDED[name][1]
    assert_explores_clean(REGISTRY[name], strategy=strategy, schedules=schedules, bound=2)


def test_reclaim_unmap_vs_munmap_is_clean_exhaustively() -> None:
    result = assert_explores_clean(
        REGISTRY["reclaim-unmap-vs-munmap"], strategy="dfs", bound=2, schedules=10_000
    )
    assert result.exhausted


def test_unguarded_r6_3_is_found_with_every_guard_on() -> None:
    sc = REGISTRY["shrinklist-vs-new-team"]
    assert sc.guard is None
    result = assert_explore_finds(sc, "oracle", strategy="dfs", bound=2, schedules=50)
    assert result.found is not None
    assert result.found.finding is not None
    assert "I32" in result.found.finding.message
