"""Findings as files and as pictures: the schedule file ``explore --replay`` reproduces, and
the side-by-side diagram of what each actor did.

A schedule file is JSON holding the format and package versions, the scenario, variant,
hpage_nr, disabled guards, strategy, seed, the finding and every choice.  Replay refuses a
file from another format or a scenario whose geometry differs, naming the field.

Format 2 is written now.  Format 1 files were recorded while kswapd started runnable (its
first run only went to sleep, but until then it was an option at every decision); they
replay with kswapd started that way (:func:`replay_options`), so their choices stay valid.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from hugetmpfs._version import __version__
from hugetmpfs.errors import InputError
from hugetmpfs.sim.schedule import Schedule

if TYPE_CHECKING:
    from hugetmpfs.explore.runner import Execution, ExploreOptions, ExploreResult
    from hugetmpfs.explore.scenario import Scenario

FORMAT = 2
FORMATS = (1, 2)  # read; format 1: kswapd started runnable


def save_finding(result: ExploreResult, directory: str = "findings") -> str:
    """Write the finding's schedule to a fresh ``findings/<scenario>-NNN.json``; its path."""
    assert result.found is not None
    assert result.found.finding is not None
    run, finding, opts = result.found, result.found.finding, result.options
    data = {
        "format": FORMAT,
        "hugetmpfs": __version__,
        "scenario": result.scenario.name,
        "variant": opts.variant,
        "hpage_nr": result.scenario.hpage_nr,
        "guards_off": list(opts.guards_off),
        "strategy": opts.strategy,
        "seed": run.seed,
        "execution": result.found_at,
        "finding": {
            "kind": finding.kind,
            "signature": list(finding.signature()),
            "message": finding.message,
            "step": finding.step,
        },
        "schedule": finding.schedule.to_json(),
    }
    os.makedirs(directory, exist_ok=True)
    for n in range(1, 10_000):
        path = os.path.join(directory, f"{result.scenario.name}-{n:03d}.json")
        try:
            with open(path, "x") as f:  # never overwrite an earlier finding
                json.dump(data, f, indent=1)
                f.write("\n")
            with open(path.removesuffix(".json") + ".trace.json", "w") as f:
                json.dump(chrome_trace(run), f)
            return path
        except FileExistsError:
            continue
    raise InputError(f"{directory}: too many findings already")


def chrome_trace(run: Execution) -> dict[str, Any]:
    """The run as Chrome trace events (open in Perfetto or chrome://tracing): one thread per
    actor, one slice per stretch of consecutive points, one microsecond per step."""
    events: list[dict[str, Any]] = [
        {
            "ph": "M",
            "name": "thread_name",
            "pid": 1,
            "tid": aid,
            "args": {"name": f"{name} (cpu{cpu})"},
        }
        for aid, name, cpu in run.actors
    ]
    stretch: list[tuple[int, int, str]] = []
    for entry in [*run.point_log, (0, -1, "")]:
        if stretch and entry[1] != stretch[0][1]:
            first, last = stretch[0], stretch[-1]
            events.append(
                {
                    "ph": "X",
                    "pid": 1,
                    "tid": first[1],
                    "ts": first[0],
                    "dur": last[0] - first[0] + 1,
                    "name": first[2],
                    "args": {"points": [p for _, _, p in stretch]},
                }
            )
            stretch = []
        stretch.append(entry)
    if run.finding is not None:
        events.append(
            {
                "ph": "i",
                "pid": 1,
                "tid": 0,
                "ts": run.finding.step,
                "s": "g",
                "name": f"{run.finding.kind}: {run.finding.message.splitlines()[0]}",
            }
        )
    return {"traceEvents": events, "displayTimeUnit": "ns"}


def load_finding(path: str) -> dict[str, Any]:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read the schedule file: {e}") from None
    if not isinstance(data, dict) or data.get("format") not in FORMATS:
        raise InputError(f"{path}: not a schedule file of format {' or '.join(map(str, FORMATS))}")
    return data


def replay_options(data: dict[str, Any]) -> ExploreOptions:
    """The options that replay a loaded schedule file as it was recorded."""
    from hugetmpfs.explore.runner import ExploreOptions

    return ExploreOptions(
        data["strategy"],
        1,
        data["seed"],
        variant=data["variant"],
        guards_off=tuple(data["guards_off"]),
        kswapd_asleep=data["format"] >= 2,
    )


def check_compatible(path: str, data: dict[str, Any], sc: Scenario) -> None:
    if data.get("hpage_nr") != sc.hpage_nr:
        raise InputError(
            f"{path}: hpage_nr {data.get('hpage_nr')} differs from the scenario's {sc.hpage_nr}"
        )


def schedule_of(data: dict[str, Any]) -> Schedule:
    return Schedule.from_json(data["schedule"])


def diagram(run: Execution, width: int = 38, max_rows: int = 60) -> str:
    """Columns per actor, one row per run of consecutive points of one actor."""
    names = {aid: f"{name} (cpu{cpu})" for aid, name, cpu in run.actors}
    shown = sorted({aid for _, aid, _ in run.point_log})
    header = " | ".join(f"{names.get(a, a)!s:<{width}}"[:width] for a in shown)
    rows = [header, "-" * len(header)]
    last_actor, points = None, []
    segments: list[tuple[int, list[str]]] = []
    for _, aid, point in run.point_log:
        if aid != last_actor and points:
            segments.append((last_actor, points))  # type: ignore[arg-type]
            points = []
        last_actor = aid
        points.append(point)
    if points:
        segments.append((last_actor, points))  # type: ignore[arg-type]
    for aid, pts in segments[-max_rows:]:
        text = pts[0] if len(pts) == 1 else f"{pts[0]} .. {pts[-1]} ({len(pts)})"
        cells = [(text if a == aid else "")[:width].ljust(width) for a in shown]
        rows.append(" | ".join(cells).rstrip())
    return "\n".join(rows)


def _states(result: ExploreResult) -> str:
    how = "pruned at a revisited state" if result.options.prune else "pruning off"
    return f"states   {result.states} distinct, {result.pruned} executions {how}"


def _pct(result: ExploreResult) -> str:
    from hugetmpfs.explore.runner import pct_bound

    b = pct_bound(result)
    if b is None:
        return ""
    seen = f"found at execution {result.found_at}" if result.found else "not found"
    return (
        f"pct      depth {b['depth']}, {b['actors']} actors, k = {b['k']} steps: at least "
        f"1/(n·k^(d−1)) = {b['bound']:.3g} per execution (1 in {b['expected_executions']}); "
        f"observed: {seen}"
    )


def report(result: ExploreResult, path: str | None) -> str:
    """The human report of a finding (or of a clean exploration)."""
    sc, opts = result.scenario, result.options
    lines = [
        f"scenario {sc.name}   variant {opts.variant}   hpage_nr {sc.hpage_nr}"
        + (f"   guards off: {', '.join(opts.guards_off)}" if opts.guards_off else "")
    ]
    if result.found is None or result.found.finding is None:
        lines.append(
            f"no finding in {result.executions} executions ({opts.strategy}"
            + (f" bound {opts.bound}" if opts.strategy == "dfs" else "")
            + (", exhaustive" if result.exhausted else "")
            + f"), {result.steps} steps, {result.seconds:.1f} s"
        )
        if opts.strategy == "dfs":
            lines.append(_states(result))
        if opts.strategy == "pct":
            lines.append(_pct(result))
        return "\n".join(lines)
    f = result.found.finding
    lines.insert(0, f"{f.kind}: {f.message.splitlines()[0]}")
    lines.append(
        f"found    execution {result.found_at} of at most {opts.schedules} "
        f"({opts.strategy}, seed {result.found.seed}), step {f.step}, "
        f"{f.schedule.preemptions()} preemptions"
    )
    if opts.strategy == "dfs":
        lines.append(_states(result))
    if opts.strategy == "pct":
        lines.append(_pct(result))
    if path:
        lines.append(f"replay   hugetmpfs explore --replay {path}")
    lines.append(diagram(result.found))
    return "\n".join(lines)
