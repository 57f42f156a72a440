"""The explorer's targets: steps per second with every invariant at every step, PCT's
schedules to the first finding per guard (median over seeds), and DFS at bound 2 per
scenario (exhaustive or not within the budget, and how long).

Run: .venv/bin/python benchmarks/bench_explore.py [--quick] [--json FILE]

There is no kernel baseline here: the explorer has no counterpart on the real kernel (the
figures to beat are loom's, Shuttle's and CHESS's, reference/anchors.md).  Targets: ≥ 20 k
steps/s per core on the recovery-vs-hole-punch scenario; exhaustive bound 2 in < 60 s per
scenario; every guard's race within 10 000 PCT schedules at depth ≤ 2.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from typing import Any

from _common import describe_machine, machine_info
from step_costs import step_costs

import hugetmpfs.explore.scenarios  # noqa: F401  (registers the built-in scenarios)
from hugetmpfs.explore import REGISTRY
from hugetmpfs.explore.runner import ExploreOptions, explore, pct_bound

STEPS_SCENARIO = "recovery-vs-punch-and-write"


def steps_per_second(schedules: int, runs: int = 3) -> dict[str, Any]:
    """The median of *runs* runs (the first pays for the checker's plans, made once per
    process), and where a step's time goes (step_costs)."""
    sc = REGISTRY[STEPS_SCENARIO]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = explore(sc, ExploreOptions("random", schedules, 0, shrink=False))
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    steps = result.steps
    return {
        "scenario": STEPS_SCENARIO,
        "schedules": result.executions,
        "steps": steps,
        "seconds": round(seconds, 3),
        "seconds_samples": [round(t, 3) for t in times],
        "steps_per_s": round(steps / seconds),
        "target": 20_000,
        "costs": step_costs(sc, schedules, steps, seconds),
    }


SEED_STRIDE = 1_000_003  # between the first seeds of PCT's runs (more than any cap)


def pct_to_first(name: str, seeds: int, cap: int) -> dict[str, Any]:
    sc = REGISTRY[name]
    firsts: list[int | None] = []
    for k in range(seeds):
        # Execution i of a run seeded s uses seed s + i - 1: runs seeded 0, 1, 2 would
        # overlap and find at the same absolute seed.  Spread them apart.
        opts = ExploreOptions(
            "pct",
            cap,
            k * SEED_STRIDE,
            depth=2,
            variant=sc.variant or "v24",
            guards_off=(sc.guard,),
            shrink=False,
        )
        found = explore(sc, opts)
        firsts.append(found.found_at if found.found is not None else None)
        bound = pct_bound(found)
    hits = sorted(f for f in firsts if f is not None)
    return {
        "scenario": name,
        "guard": sc.guard,
        "found": f"{len(hits)}/{seeds}",
        "median_schedules": statistics.median(hits) if hits else None,
        "within_cap": len(hits) == seeds,
        # PCT's guarantee (of the last run): 1 in expected_executions at least
        "bound": bound,
    }


def dfs_bound2(name: str, cap: int, prune: bool = True) -> dict[str, Any]:
    """DFS at bound 2 with every guard on: with every invariant at every step, then without
    invariants (the same executions: what the checks cost)."""
    sc = REGISTRY[name]
    opts = ExploreOptions(
        "dfs", cap, 0, bound=2, variant=sc.variant or "v24", shrink=False, prune=prune
    )
    start = time.perf_counter()
    result = explore(sc, opts)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    bare = explore(sc, replace(opts, invariants=False))
    return {
        "scenario": name,
        "executions": result.executions,
        "exhausted": result.exhausted,
        "found": result.found is not None,
        "seconds": round(seconds, 2),
        "states": result.states,  # distinct state fingerprints at DFS's choices
        "pruned": result.pruned,  # executions cut at a state explored before
        "prune": prune,
        "seconds_no_invariants": round(time.perf_counter() - start, 2),
        "executions_no_invariants": bare.executions,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small budgets, for a smoke test")
    ap.add_argument("--json", help="also write the results as JSON to FILE")
    ap.add_argument("--no-prune", action="store_true", help="DFS without state pruning")
    ap.add_argument("--only", choices=("steps", "pct", "dfs"), help="run one section")
    args = ap.parse_args()
    seeds, cap, dfs_cap, sps = (2, 300, 200, 20) if args.quick else (5, 10_000, 20_000, 200)
    info = machine_info()
    guarded = sorted(n for n, sc in REGISTRY.items() if sc.guard is not None)

    def wanted(section: str) -> bool:
        return args.only in (None, section)

    out: dict[str, Any] = {"machine": info}
    print(describe_machine(info))
    if wanted("steps"):
        s = out["steps"] = steps_per_second(sps)
        print(
            f"steps/s with every invariant at every step ({s['scenario']}): {s['steps_per_s']} "
            f"({s['steps']} steps in {s['seconds']} s, the median of "
            f"{len(s['seconds_samples'])} runs; target {s['target']})"
        )
        c = s["costs"]
        print(
            f"  a step: {c['us_per_step']} µs = change detection {c['detect_us']} + checks "
            f"{c['checks_us']} + the rest of the tracker {c['refresh_us']} + outside it "
            f"{c['outside_us']} (without invariants: {c['no_invariants_us']} µs)\n"
            f"  with change detection free (replayed from a recording): "
            f"{c['free_detection_us']} µs, {c['free_detection_steps_per_s']} steps/s"
        )
    if wanted("pct"):
        out["pct"] = [pct_to_first(n, seeds, cap) for n in guarded]
        print(
            f"\nPCT depth 2, guard off, schedules to the first finding (seeds {seeds}, cap {cap}):"
        )
        for r in out["pct"]:
            print(
                f"  {r['scenario']:32} {r['guard']:14} {r['found']:>6}  "
                f"median {r['median_schedules']}"
                + (f"  (bound: 1 in {r['bound']['expected_executions']})" if r["bound"] else "")
            )
    if wanted("dfs"):
        prune = "state pruning off" if args.no_prune else "state pruning"
        print(
            f"\nDFS bound 2, every guard on, {prune} (cap {dfs_cap} executions; target: "
            "exhaustive < 60 s; seconds with invariants / without):"
        )
        out["dfs"] = []
        for n in guarded:
            r = dfs_bound2(n, dfs_cap, prune=not args.no_prune)
            out["dfs"].append(r)
            state = "exhaustive" if r["exhausted"] else "not exhausted"
            state = "FOUND" if r["found"] else state
            print(
                f"  {r['scenario']:34} {r['executions']:>6} executions {r['states']:>6} states "
                f"{r['pruned']:>6} pruned  {state:14} {r['seconds']:>7} s "
                f"{r['seconds_no_invariants']:>7} s",
                flush=True,
            )
        met = [r for r in out["dfs"] if r["exhausted"] and r["seconds"] < 60]
        searched = [r for r in out["dfs"] if not r["found"]]
        print(
            f"  exhaustive within 60 s: {len(met)} of the {len(searched)} that find nothing "
            f"(the longest {max((r['seconds'] for r in searched), default=0)} s)"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
