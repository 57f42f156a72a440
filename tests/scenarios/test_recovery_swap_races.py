"""The recovery races of the swap side (explore/scenarios/recovery_swap.py): with its guard
off each scenario's hazard is found and replays (that nothing is found with every guard
on, within the scenario's budget, is tests/explore/test_self_test.py's business).  R8's
in-place enteaming of a mapped page read from swap is found on v29 too, where migration
cannot supply such pages; the unguarded v24 hazard of a fault mapping a team whose
migrated slots are not yet enteamed is found on v24, not on v29, and so is R4b on a resumed
team whose head index is in swap."""

from __future__ import annotations

from typing import Any

import pytest

import hugetmpfs.explore.scenarios  # noqa: F401  (registers the built-in scenarios)
from hugetmpfs.explore import REGISTRY
from hugetmpfs.shmem.names import GUARDS
from hugetmpfs.testing import assert_explore_finds, assert_explores_clean

# scenario -> the kind of finding its guard's absence gives
GUARDED = {
    "recovery-swapin-vs-punch-and-write": "exception",  # a swap-cache slot migrated into
    "recovery-resume-swapin": "invariant",  # a PageTeam head in the swap cache
    "recovery-swapin-mapped": "invariant",  # the team's pte count
    "recovery-vs-write-pagevec": "oracle",  # the extent left partial
}


@pytest.mark.parametrize("name", sorted(GUARDED))
def test_guard_off_finds_the_hazard_and_it_replays(name: str) -> None:
    sc = REGISTRY[name]
    assert sc.guard in GUARDS
    assert sc.recovery
    assert sc.swap
    assert_explore_finds(
        sc,
        GUARDED[name],
        strategy=sc.find.strategy,
        schedules=sc.find.schedules,
        bound=sc.find.bound,
        guards_off=(sc.guard,),
        shrink=False,
    )


def test_r8_a_mapped_page_read_from_swap_is_counted_on_v29() -> None:
    sc = REGISTRY["recovery-swapin-mapped"]
    result = assert_explore_finds(
        sc,
        "invariant",
        strategy="random",  # DFS within one preemption needs 85 schedules here
        schedules=30,
        guards_off=("recovery/R8",),
        variant="v29",
        shrink=False,
    )
    assert result.found is not None
    assert result.found.finding is not None
    assert "pte field" in result.found.finding.message


def _unguarded_finding(name: str, kind: str, **options: Any) -> str:
    """Explore unguarded scenario *name* with every guard on: what it finds (of *kind*,
    replayed), as a message."""
    sc = REGISTRY[name]
    assert sc.guard is None
    result = assert_explore_finds(sc, kind, **options)
    assert result.found is not None
    assert result.found.finding is not None
    return result.found.finding.message


def test_v24_a_fault_maps_a_team_with_migrated_slots_not_yet_enteamed() -> None:
    message = _unguarded_finding(
        "recovery-v24-fault-vs-unteamed", "invariant", strategy="dfs", bound=2, schedules=60
    )
    assert "checked_teams_are_populated" in message


def test_v29_enteams_as_it_migrates_so_the_fault_finds_no_such_slot() -> None:
    sc = REGISTRY["recovery-v24-fault-vs-unteamed"]
    assert_explores_clean(sc, strategy="dfs", bound=2, schedules=50, variant="v29")


def test_v29_a_write_repeats_on_a_prepared_slot_until_populate_gives_up() -> None:
    """R26: the RETRY spin is shown with every guard on, nothing is lost (the end check
    reads the file back first), and it replays."""
    sc = REGISTRY["recovery-v29-fault-spins-on-prepared-slot"]
    assert sc.guard is None
    result = assert_explore_finds(
        sc, "oracle", strategy="dfs", bound=2, schedules=20, variant="v29"
    )
    assert result.found is not None
    assert result.found.finding is not None
    details = result.found.finding.details
    assert details["problems"] == [result.found.finding.message]
    assert result.found.finding.message.startswith("R26: the write's shmem_getpage_gfp repeated")


def test_v24_answers_small_for_a_prepared_slot_so_nothing_spins() -> None:
    sc = REGISTRY["recovery-v29-fault-spins-on-prepared-slot"]
    assert_explores_clean(sc, strategy="dfs", bound=2, schedules=60, variant="v24")


def test_r4b_v24_a_resumed_head_migrated_from_swap_and_disbanded_keeps_a_reference() -> None:
    """R4b on a resumed team (found with every guard on in recovery-resume-swapin at DFS
    bound 2): the head index's swap entry is read into a page of its own (no pre-pass on an
    exposed team), migrated into the head hole, and a punch disbands the team before the
    next pass counts the head."""
    find = REGISTRY["recovery-v24-resume-head-leak"].find
    message = _unguarded_finding(
        "recovery-v24-resume-head-leak",
        "invariant",
        strategy=find.strategy,
        bound=find.bound,
        schedules=find.schedules,
    )
    assert "refcount_matches_owners" in message


def test_v29_enteams_a_resumed_head_as_it_migrates_so_nothing_leaks() -> None:
    sc = REGISTRY["recovery-v24-resume-head-leak"]
    assert_explores_clean(sc, strategy="dfs", bound=1, schedules=200, variant="v29")
