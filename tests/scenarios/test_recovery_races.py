"""The recovery races (explore/scenarios/recovery.py): with its guard off each scenario's
hazard is found and replays (that nothing is found with every guard on, within the
scenario's budget, is tests/explore/test_self_test.py's business); the unguarded hazards
(R4b and R4c on v24, R27 and the partial end's tag on a team a write completed on both
forms) are found with every guard on."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

import hugetmpfs.explore.scenarios  # noqa: F401  (registers the built-in scenarios)
from hugetmpfs.explore import REGISTRY
from hugetmpfs.explore.findings import load_finding, replay_options, schedule_of
from hugetmpfs.explore.runner import ExploreOptions, replay, run_once
from hugetmpfs.explore.scenario import Scenario
from hugetmpfs.explore.scenarios.recovery import (
    NEW,
    _head_misplaced,
    punch_and_write,
    reads_back,
)
from hugetmpfs.mm.page_flags import PG_swapbacked
from hugetmpfs.shmem.names import GUARDS
from hugetmpfs.shmem.shrinker import shmem_get_hugehole
from hugetmpfs.testing import SwitchAt, assert_explore_finds, assert_explores_clean

if TYPE_CHECKING:
    from hugetmpfs.shmem.machine import Machine

GUARDED = ("recovery-vs-punch-and-write", "recovery-remap-vs-punch", "recovery-vs-eviction")

FINDINGS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "findings")


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


# -- v24's pending head: only a page migration really moved into it ------------------------


def _watch_head(m: Machine, seen: list[tuple[int | None, int | None, bool]]) -> None:
    """Record, at every step, (migrated_head, filled_head, head SwapBacked) of the work."""

    def hook(engine: object, point: str) -> None:
        for r in m.recoverylist:
            if r.exposed_team and not r.exiting:
                swapbacked = bool(m.flags[r.page] & PG_swapbacked)
                seen.append((r.migrated_head, r.filled_head, swapbacked))

    m.engine.step_hooks.append(hook)


def _head_rewritten(seen: list[tuple[int | None, int | None, bool]]) -> Scenario:
    """v24: the head index's page, misplaced, is punched while migration into the head
    slot waits to lock it, and written again: the write fills the head hole through the
    normal path (counted at once), then migration finds its source truncated (R1)."""

    def setup(m: Machine) -> object:
        task, fd = _head_misplaced(m)
        _watch_head(m, seen)

        m.engine.spawn(punch_and_write, task, fd, 0, name="punch+write", cpu=1)
        return reads_back(task, fd, lambda i: NEW if i == 0 else 0 if i == 1 else 0x61 + i)

    return Scenario("recovery-v24-head-rewritten", setup, recovery=True, behaviours=("R4c-fix",))


def test_v24_a_head_rewritten_before_migration_moves_into_it_is_not_pending() -> None:
    """Regression (docs/recovery.md): shmem_get_recovery_page sets migrated_head before the
    move; check/ took that head, once SwapBacked, for one migration had filled and populate
    had yet to count, and team_usage_matches_team reported a false I7 when a write filled
    the hole instead.  Every guard on: nothing is found, and the write's data stays."""
    seen: list[tuple[int | None, int | None, bool]] = []
    strategy = SwitchAt([("recovery/R1:before_lock", "punch+write")])
    strategy.new_execution()
    run = run_once(_head_rewritten(seen), strategy, ExploreOptions(variant="v24"))
    assert strategy.script == [], "the punch and the write ran while migration waited"
    assert run.finding is None, run.finding.message
    # the window was reached: migrated_head set, the head SwapBacked by the write, no move
    assert any(mh is not None and filled is None and sb for mh, filled, sb in seen)
    assert all(filled is None for _, filled, _ in seen)


def test_v24_a_head_migration_filled_is_pending_until_populate_counts_it() -> None:
    """filled_head is set by the move into the head itself and cleared when the next pass
    counts the head: the team completes and nothing is found."""
    seen: list[tuple[int | None, int | None, bool]] = []
    sc = REGISTRY["recovery-v24-head-migrated"]

    def setup(m: Machine) -> object:
        check = sc.setup(m)
        _watch_head(m, seen)
        return check

    strategy = SwitchAt([])
    strategy.new_execution()
    fixed = replace(sc, setup=setup, behaviours=("R4c-fix",))
    run = run_once(fixed, strategy, ExploreOptions(variant="v24"))
    assert run.finding is None, run.finding.message
    filled = [f for _, f, _ in seen]
    assert any(f is not None for f in filled), "migration filled the head"
    assert filled[-1] is None, "populate counted it"
    # before the move the head was a hole: migrated_head alone does not make it pending
    first = next(i for i, (mh, _, _) in enumerate(seen) if mh is not None)
    assert seen[first][1] is None


# -- the partial end tags a team a write has just completed ---------------------------------


@pytest.mark.parametrize("variant", ["v24", "v29"])
def test_the_partial_end_can_tag_a_team_a_write_completed(variant: str) -> None:
    """Unguarded in the series (both forms): populate counts the holes under the head lock
    only, and a write fills the last one (locking the hole) before populate tags the team:
    a HUGEHOLE tag on a complete team (I31)."""
    sc = REGISTRY["recovery-partial-end-tags-complete-team"]
    assert sc.guard is None
    find = sc.find
    result = assert_explore_finds(
        sc,
        "invariant",
        strategy=find.strategy,
        bound=find.bound,
        schedules=find.schedules,
        variant=variant,
    )
    assert result.found is not None
    assert result.found.finding is not None
    assert "HUGEHOLE tag in complete team" in result.found.finding.message


def test_the_shrinker_spins_on_the_tag_of_a_complete_team() -> None:
    """What the stale tag does: shmem_get_hugehole rejects the complete team and looks up the
    same tag again (base/Q-5), with nothing left to clear it."""
    sc = REGISTRY["recovery-partial-end-tags-complete-team"]
    found = assert_explore_finds(sc, "invariant", strategy="dfs", bound=1, schedules=20)
    assert found.found is not None
    assert found.found.finding is not None
    spins: list[str] = []

    def setup(m: Machine) -> object:
        check = sc.setup(m)

        def end(m: Machine) -> list[str]:
            def bounded(name: str) -> None:
                spins.append(name)
                if len(spins) >= 100:
                    raise _SpunError

            m.engine.yield_point = bounded  # type: ignore[method-assign]
            inode = m.shrinklist[0]
            with pytest.raises(_SpunError):
                shmem_get_hugehole(m, inode.mapping, 0)
            return check(m)  # type: ignore[operator]

        return end

    options = ExploreOptions(strategy="dfs", invariants=False)
    run = replay(replace(sc, setup=setup), found.found.finding.schedule.decisions, options)
    assert run.finding is None
    assert set(spins) == {"base/Q-5:get_hugehole_retry"}


class _SpunError(Exception):
    """The bounded yield point's way out of shmem_get_hugehole's loop."""


def test_r27_fix_removes_its_head_left_beyond_eof_by_an_eviction() -> None:
    """The schedule exhaustive DFS found with every guard on (docs/findings): the exposed
    head is inserted by the SGP_TEAM hint after eviction's truncation; the R27 fix's undo
    truncates it, so the evicted inode holds nothing."""
    path = os.path.join(FINDINGS, "recovery-vs-eviction-r27-fix-head-beyond-eof.json")
    data = load_finding(path)
    sc = REGISTRY[data["scenario"]]
    assert "R27-expose-empty-head" in sc.behaviours
    assert data["format"] == 1  # recorded while kswapd started runnable
    run = replay(sc, schedule_of(data).decisions, replay_options(data))
    assert run.finding is None
    names = {aid: name for aid, name, _ in run.actors}
    undo = {names[aid] for _, aid, point in run.point_log if point.startswith("shmem_undo_range")}
    assert "unlink" in undo  # the eviction's truncation
    assert any(name.startswith("kworker") for name in undo)  # and the fix's undo after it
