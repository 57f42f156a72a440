"""``hugetmpfs explore --self-test``: does the explorer find every race it should?

For each scenario naming a guard: with that guard off the explorer must find something, and
with every guard on it must find nothing.  Each side spends the scenario's own budget
(``Scenario.find``, ``Scenario.clean``: a strategy, a number of schedules, DFS's bound),
unless the command line gives ``--schedules``.  For an unguarded hazard, what is found with
every guard on (within its ``find`` budget) is reported.  The JSON form is a
contract: one object per scenario with ``scenario``, ``guard``, ``guard_off_found``,
``guard_on_found``, ``schedules_to_first`` and ``seconds``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from hugetmpfs.explore.runner import ExploreOptions, explore
from hugetmpfs.explore.scenario import REGISTRY, Budget, Scenario


def _within(base: ExploreOptions, sc: Scenario, budget: Budget | None) -> ExploreOptions:
    if budget is None:
        return base
    return replace(
        base,
        strategy=budget.strategy,
        schedules=budget.schedules,
        bound=budget.bound,
        variant=sc.variant or base.variant,
    )


def self_test_one(
    sc: Scenario, base: ExploreOptions, scenario_budgets: bool = True
) -> dict[str, Any]:
    """One row: with *scenario_budgets* each side spends the scenario's own budget
    (``Scenario.find``, ``Scenario.clean``), else *base*'s strategy and schedules."""
    start = time.perf_counter()
    off = None
    first: int | None = None
    find = _within(base, sc, sc.find if scenario_budgets else None)
    clean = _within(base, sc, sc.clean if scenario_budgets else None)
    if sc.guard is not None:
        found = explore(sc, replace(find, guards_off=(sc.guard,), shrink=False))
        off = found.found is not None
        first = found.found_at
    on = explore(sc, replace(find if sc.guard is None else clean, guards_off=(), shrink=False))
    if sc.guard is None:
        first = on.found_at
    return {
        "scenario": sc.name,
        "guard": sc.guard,
        "guard_off_found": off,
        "guard_on_found": on.found is not None,
        "schedules_to_first": first,
        "seconds": round(time.perf_counter() - start, 3),
    }


def self_test(
    base: ExploreOptions, scenario_budgets: bool = True, only: Scenario | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """Rows for every registered scenario (or *only* that one), and whether every guard
    behaved."""
    import hugetmpfs.explore.scenarios  # noqa: F401  (registers the built-ins)

    scenarios = [only] if only is not None else [sc for _, sc in sorted(REGISTRY.items())]
    rows = [self_test_one(sc, base, scenario_budgets) for sc in scenarios]
    ok = all(
        r["guard_off_found"] and not r["guard_on_found"] for r in rows if r["guard"] is not None
    )
    return rows, ok


def table(rows: list[dict[str, Any]]) -> str:
    w = max([len("scenario"), *(len(r["scenario"]) for r in rows)])
    head = (
        f"{'scenario':{w}} {'guard':14} {'off: found':>10} {'on: found':>9} {'first':>6} {'s':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        off = "-" if r["guard_off_found"] is None else ("yes" if r["guard_off_found"] else "NO")
        lines.append(
            f"{r['scenario']:{w}} {r['guard'] or '(unguarded)':14} {off:>10} "
            f"{'yes' if r['guard_on_found'] else 'no':>9} {r['schedules_to_first'] or '-':>6} "
            f"{r['seconds']:>7.2f}"
        )
    return "\n".join(lines)
