"""DFS's state fingerprints and pruning: the same findings as without, a subset of states,
deterministic counts, and findings that still replay."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import hugetmpfs.explore.scenarios  # noqa: F401  (registers the built-in scenarios)
from hugetmpfs.explore import REGISTRY, ExploreOptions, explore
from hugetmpfs.explore.fingerprint import fingerprinter
from hugetmpfs.explore.runner import make_strategy, replay, run_once
from hugetmpfs.shmem.machine import Machine
from hugetmpfs.sim import ReplayStrategy
from hugetmpfs.sim.strategy.dfs import DFSStrategy

if TYPE_CHECKING:
    from hugetmpfs.explore.scenario import Scenario

TRYLOCK = REGISTRY["demo-trylock"]
# big enough that pruning saves executions, not only the ends of some
COMMAND = ("-m", "hugetmpfs", "explore", "punch-vs-huge-fault", "--strategy", "dfs")


def _states(sc: Scenario, options: ExploreOptions) -> tuple[DFSStrategy, bool]:
    """Explore like runner.explore, keeping the strategy (its set of fingerprints)."""
    strategy = make_strategy(options)
    assert isinstance(strategy, DFSStrategy)
    found = False
    while not found and strategy.new_execution() is not None:
        found = run_once(sc, strategy, options).finding is not None
    return strategy, found


def test_an_exhaustive_pruned_search_visits_a_subset_of_the_states() -> None:
    cases = [
        (TRYLOCK, (), 2, True),
        # without invariants only choices with preemptions left are hashed: a bigger tree
        (REGISTRY["fault-tail-vs-punch-head-hole"], (), 2, False),
        (REGISTRY["alloc-two-writers-one-hole"], (), 2, True),
    ]
    for sc, guards_off, bound, invariants in cases:
        opts = ExploreOptions(
            "dfs", 20_000, bound=bound, guards_off=guards_off, invariants=invariants, shrink=False
        )
        pruned, found = _states(sc, opts)
        full, found_full = _states(sc, replace(opts, prune=False))
        assert pruned.exhausted, sc.name
        assert full.exhausted, sc.name
        assert found == found_full, sc.name
        assert pruned.states <= full.states, sc.name
        assert pruned.pruned > 0, sc.name
        assert full.pruned == 0, sc.name
        assert pruned.executions <= full.executions, sc.name


def test_pruning_keeps_every_finding_at_its_bound() -> None:
    """Guard off, the race is found with and without pruning (and not at bound 0)."""
    for name, bound in (("alloc-two-writers-one-hole", 1), ("demo-lock-order", 1)):
        sc = REGISTRY[name]
        guards = (sc.guard,) if sc.guard else ()
        for b in (0, bound):
            opts = ExploreOptions("dfs", 20_000, bound=b, guards_off=guards, shrink=False)
            with_prune = explore(sc, opts)
            without = explore(sc, replace(opts, prune=False))
            assert (with_prune.found is None) == (without.found is None), (name, b)
            if with_prune.found is not None and without.found is not None:
                assert with_prune.found.finding is not None
                assert without.found.finding is not None
                sig = with_prune.found.finding.signature()
                assert sig == without.found.finding.signature(), (name, b)
            else:
                assert with_prune.exhausted, (name, b)
                assert without.exhausted, (name, b)
        assert explore(sc, ExploreOptions("dfs", 20_000, bound=bound, guards_off=guards)).found


def test_counts_are_deterministic_and_reported() -> None:
    opts = ExploreOptions("dfs", 20_000, bound=2)
    runs = [explore(TRYLOCK, opts) for _ in range(2)]
    assert len({(r.executions, r.states, r.pruned, r.steps) for r in runs}) == 1
    assert runs[0].exhausted
    assert runs[0].states > 0
    assert runs[0].pruned > 0
    unpruned = explore(TRYLOCK, replace(opts, prune=False))
    assert unpruned.states == runs[0].states  # every state is still reached
    assert unpruned.pruned == 0


def test_a_found_schedule_replays_and_shrinks_with_pruning() -> None:
    sc = REGISTRY["alloc-two-writers-one-hole"]
    opts = ExploreOptions("dfs", 2000, bound=2, guards_off=(sc.guard,))
    result = explore(sc, opts)
    assert result.found is not None
    assert result.found.finding is not None
    assert not result.found.pruned
    again = replay(sc, result.found.finding.schedule.decisions, opts)
    assert again.finding is not None
    assert again.finding.signature() == result.found.finding.signature()
    assert again.finding.schedule.to_json() == result.found.finding.schedule.to_json()


def test_fingerprint_sees_the_machine_and_each_actor_position() -> None:
    opts = ExploreOptions()
    m = Machine(TRYLOCK.config(opts.variant, ()), ReplayStrategy([]))
    m.mount(TRYLOCK.mount_huge, TRYLOCK.mount_size)
    m.engine.point_log = []
    TRYLOCK.setup(m)
    fp = fingerprinter(m, m.engine)
    first = fp()
    assert fp() == first  # taking one changes nothing
    m.refcount[5] += 1
    changed = fp()
    assert changed != first
    m.refcount[5] -= 1
    assert fp() == first
    m.engine.point_log.append((1, 0, "somewhere"))
    assert fp() != first  # an actor passed a point


def test_the_cli_reports_states_and_takes_no_prune(tmp_path: object) -> None:
    import json
    import subprocess
    import sys

    def run(*args: str) -> dict[str, object]:
        out = subprocess.run(
            [sys.executable, *COMMAND, "--schedules", "5000", "--json", *args],
            cwd=str(tmp_path),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return json.loads(out)

    pruned, full = run(), run("--no-prune")
    assert pruned["exhausted"] is True
    assert full["exhausted"] is True
    assert pruned["states"] == full["states"]
    assert isinstance(pruned["pruned"], int)
    assert pruned["pruned"] > 0
    assert full["pruned"] == 0
    assert isinstance(pruned["executions"], int)
    assert isinstance(full["executions"], int)
    assert pruned["executions"] < full["executions"]


def test_workers_leave_dfs_counts_unchanged() -> None:
    opts = ExploreOptions("dfs", 20_000, bound=2)
    serial, forked = explore(TRYLOCK, opts), explore(TRYLOCK, opts, workers=2)
    assert (serial.executions, serial.states, serial.pruned) == (
        forked.executions,
        forked.states,
        forked.pruned,
    )


def test_actors_locals_keep_states_apart() -> None:
    """Here a fault-around reads pages into its locals before a window; two orders of the
    punch's steps reach the same machine and the same points, and only the fault's locals
    differ.  A fingerprint without the actors' frames merged them and pruning then missed a
    state the unpruned search reaches; with the frames the two searches see the same."""
    sc = REGISTRY["fault-tail-vs-punch-head-hole"]
    opts = ExploreOptions("dfs", 20_000, bound=2, invariants=False, shrink=False)
    pruned, _ = _states(sc, opts)
    full, _ = _states(sc, replace(opts, prune=False))
    assert pruned.exhausted
    assert full.exhausted
    assert pruned.states == full.states
    assert pruned.executions < full.executions
