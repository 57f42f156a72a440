"""The recovery races (explore/scenarios/recovery.py): with its guard off each scenario's
hazard is found and replays (that nothing is found with every guard on, within the
scenario's budget, is tests/explore/test_self_test.py's business); the unguarded hazards
(R4b and R4c on v24, R27 on both forms) are found with every guard on."""

from __future__ import annotations

import pytest

import hugetmpfs.explore.scenarios  # noqa: F401  (registers the built-in scenarios)
from hugetmpfs.explore import REGISTRY
from hugetmpfs.shmem.names import GUARDS
from hugetmpfs.testing import assert_explore_finds, assert_explores_clean

GUARDED = ("recovery-vs-punch-and-write", "recovery-remap-vs-punch", "recovery-vs-eviction")


@pytest.mark.parametrize("name", GUARDED)
def test_guard_off_finds_the_hazard_and_it_replays(name: str) -> None:
    sc = REGISTRY[name]
    assert sc.guard in GUARDS
    assert sc.recovery
    find = sc.find
    assert_explore_finds(
        sc,
        strategy=find.strategy,
        schedules=find.schedules,
        bound=find.bound,
        guards_off=(sc.guard,),
        shrink=False,
    )


def test_r4c_v24_counts_a_migrated_head_twice_and_v29_does_not() -> None:
    sc = REGISTRY["recovery-v24-head-migrated"]
    assert sc.guard is None
    result = assert_explore_finds(sc, "invariant", strategy="dfs", bound=1, schedules=5)
    assert result.found is not None
    assert result.found.finding is not None
    assert "team_usage_matches_team" in result.found.finding.message
    assert_explores_clean(sc, strategy="dfs", bound=1, schedules=20, variant="v29")


@pytest.mark.parametrize("variant", ["v24", "v29"])
def test_r27_a_head_hole_is_never_recovered(variant: str) -> None:
    sc = REGISTRY["recovery-head-hole"]
    result = assert_explore_finds(
        sc, "oracle", strategy="dfs", bound=1, schedules=5, variant=variant
    )
    assert result.found is not None
    assert result.found.finding is not None
    assert "R27" in result.found.finding.message


def test_r4b_v24_a_head_disbanded_before_it_is_counted_keeps_a_reference() -> None:
    sc = REGISTRY["recovery-v24-head-leak"]
    assert sc.guard is None
    result = assert_explore_finds(sc, "invariant", strategy="dfs", bound=1, schedules=100)
    assert result.found is not None
    assert result.found.finding is not None
    assert "refcount_matches_owners" in result.found.finding.message
