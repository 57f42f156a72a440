"""What ``hugetmpfs explore`` does, kept out of cli.py so the command stays a thin shell."""

from __future__ import annotations

import json
from typing import Any

import click

from hugetmpfs.errors import InputError
from hugetmpfs.explore import findings as fnd
from hugetmpfs.explore.runner import (
    ExploreOptions,
    ExploreResult,
    explore,
    pct_bound,
    replay,
    with_functions,
)
from hugetmpfs.explore.scenario import REGISTRY, Scenario
from hugetmpfs.shmem.names import GUARDS
from hugetmpfs.sim import ReplayDivergedError


def _registry() -> dict[str, Scenario]:
    import hugetmpfs.explore.scenarios  # noqa: F401  (registers the built-in scenarios)

    return REGISTRY


def list_scenarios() -> str:
    rows = [
        f"{name:28} {sc.guard or '(unguarded)':18} {sc.description}"
        for name, sc in sorted(_registry().items())
    ]
    return "\n".join(rows)


def options(
    strategy: str,
    schedules: int,
    seed: int,
    depth: int,
    bound: int,
    variant: str,
    guards: tuple[str, ...],
    prune: bool = True,
) -> ExploreOptions:
    for name in guards:
        if name not in GUARDS:
            known = ", ".join(sorted(GUARDS)) or "none yet"
            raise InputError(f"unknown guard {name!r} (known: {known})")
    return ExploreOptions(
        strategy, schedules, seed, depth, bound, variant, tuple(guards), prune=prune
    )


def scenario_named(name: str) -> Scenario:
    registry = _registry()
    if name not in registry:
        raise InputError(f"unknown scenario {name!r} (see hugetmpfs explore --list)")
    return registry[name]


def _summary(result: ExploreResult, path: str | None) -> dict[str, Any]:
    f = result.found.finding if result.found else None
    return {
        "scenario": result.scenario.name,
        "guard": result.scenario.guard,
        "strategy": result.options.strategy,
        "executions": result.executions,
        "steps": result.steps,
        "found": f is not None,
        "finding": None
        if f is None
        else {"kind": f.kind, "message": f.message.splitlines()[0], "step": f.step},
        "schedule_file": path,
        # the steps and preemptions of the execution found, before shrinking (null: not
        # shrunk)
        "shrunk_from": None
        if result.shrunk_from is None
        else {"steps": result.shrunk_from, "preemptions": result.shrunk_from_preemptions},
        "exhausted": result.exhausted,
        "coverage": result.coverage.table(),
        "seconds": round(result.seconds, 3),
        # DFS: distinct states (fingerprints at choices) and executions cut at a revisit
        "states": result.states,
        "pruned": result.pruned,
        # PCT: its lower bound per execution, 1/(n·k^(d−1)), with n, k and d (else null)
        "pct": pct_bound(result),
    }


FINDINGS = "findings"  # where schedule files are saved, in the working directory


def explore_scenario(name: str, opts: ExploreOptions, as_json: bool, workers: int = 1) -> int:
    if workers > 1 and opts.strategy == "dfs":
        # each process would prune at states the others explored: not the serial search
        raise InputError("--workers runs random and pct schedules in parallel; dfs runs in one")
    sc = scenario_named(name)
    fnd.findings_dir_usable(FINDINGS)  # before the search, not after it
    result = explore(sc, opts, workers)
    if result.found is not None:  # the report names each point's kernel function
        result.found = with_functions(sc, result.found, opts)
    path = fnd.save_finding(result, FINDINGS) if result.found else None
    if as_json:
        click.echo(json.dumps(_summary(result, path)))
    else:
        click.echo(fnd.report(result, path))
        click.echo("coverage of conflicting points (serial executions only):")
        click.echo(result.coverage.text())
    return 1 if result.found else 0


_DIVERGED = " (the schedule was recorded from other inputs or other model code)"


def replay_file(path: str, as_json: bool, scenario: str | None = None) -> int:
    """Replay a schedule file (of *scenario*, when the command line names one too)."""
    data = fnd.load_finding(path)
    if scenario is not None and scenario != data["scenario"]:
        raise InputError(f"{path}: a schedule of {data['scenario']!r}, not of {scenario!r}")
    sc = _registry().get(data["scenario"])
    if sc is None:
        raise InputError(
            f"{path}: a schedule of scenario {data['scenario']!r}, which this model has not "
            "(see hugetmpfs explore --list)"
        )
    fnd.check_compatible(path, data, sc)
    try:
        run = replay(sc, fnd.schedule_of(data).decisions, fnd.replay_options(data), where=True)
    except ReplayDivergedError as e:  # in the engine's own loop
        raise InputError(f"{path}: {e}{_DIVERGED}") from None
    diverged = run.finding.details.get("exception") if run.finding else None
    if isinstance(diverged, ReplayDivergedError):  # in an actor
        raise InputError(f"{path}: {diverged}{_DIVERGED}")
    got = list(run.finding.signature()) if run.finding else None
    same = got == data["finding"]["signature"]
    if as_json:
        click.echo(json.dumps({"reproduced": same, "signature": got}))
    else:
        verdict = "reproduced" if same else f"NOT reproduced (got {got})"
        click.echo(f"{data['finding']['kind']}: {data['finding']['message'].splitlines()[0]}")
        click.echo(f"{verdict}")
        click.echo(fnd.diagram(run))
    return 1 if run.finding else 0


def self_test(
    opts: ExploreOptions, as_json: bool, given_budget: bool = False, scenario: str | None = None
) -> int:
    """Every scenario (or the one named), within its own budgets, or within --schedules
    (and --strategy, --bound) when the command line gives them."""
    from dataclasses import replace

    from hugetmpfs.explore import selftest

    base = replace(opts, strategy="dfs") if opts.strategy == "random" else opts
    only = None if scenario is None else scenario_named(scenario)
    rows, ok = selftest.self_test(base, scenario_budgets=not given_budget, only=only)
    click.echo(json.dumps(rows) if as_json else selftest.table(rows))
    return 0 if ok else 1
