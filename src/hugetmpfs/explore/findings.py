"""Findings as files and as pictures: the schedule file ``explore --replay`` reproduces, and
the side-by-side diagram of what each actor did.

A schedule file is JSON holding the format and package versions, the scenario, variant,
hpage_nr, disabled guards, strategy, seed, the finding and every choice.  Replay refuses a
file from another format, with a field missing or of the wrong kind, or for a scenario whose
geometry differs, naming the field (or the schedule entry) and why; a schedule the run
departs from (recorded from other inputs or other model code) is refused likewise.

Format 2 is written now.  Format 1 files were recorded while kswapd started runnable (its
first run only went to sleep, but until then it was an option at every decision); they
replay with kswapd started that way (:func:`replay_options`), so their choices stay valid.
"""

from __future__ import annotations

import json
import os
import textwrap
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hugetmpfs._version import __version__
from hugetmpfs.errors import InputError
from hugetmpfs.explore.runner import STRATEGIES
from hugetmpfs.explore.where import label
from hugetmpfs.files import NotRegularFileError, read_regular, write_whole
from hugetmpfs.shmem.names import GUARDS, VARIANTS
from hugetmpfs.sim.schedule import CHOOSE, PICK, Schedule

if TYPE_CHECKING:
    from collections.abc import Callable

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
    findings_dir_usable(directory)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise InputError(f"{directory}: cannot make the findings directory: {e.strerror}") from None
    for n in range(1, 10_000):
        path = os.path.join(directory, f"{result.scenario.name}-{n:03d}.json")
        try:
            f = open(path, "x")  # never overwrite an earlier finding  # noqa: SIM115
        except FileExistsError:
            continue
        except OSError as e:
            raise InputError(f"{path}: cannot write the finding: {e.strerror}") from None
        try:  # the schedule and its trace both, or neither
            with f:
                json.dump(data, f, indent=1)
                f.write("\n")
            write_whole(path.removesuffix(".json") + ".trace.json", json.dumps(chrome_trace(run)))
        except (OSError, NotRegularFileError) as e:
            os.unlink(path)
            # A NotRegularFileError names the trace file; an OSError's strerror does not.
            reason = (e.strerror or e) if isinstance(e, OSError) else e
            raise InputError(f"{path}: cannot write the finding: {reason}") from None
        return path
    raise InputError(f"{directory}: too many findings already")


def findings_dir_usable(directory: str) -> None:
    """Refuse a findings directory that exists and is not a directory (before exploring)."""
    if os.path.lexists(directory) and not os.path.isdir(directory):
        raise InputError(f"{directory}: not a directory, so findings cannot be saved there")


def chrome_trace(run: Execution) -> dict[str, Any]:
    """The run as Chrome trace events (open in Perfetto or chrome://tracing): one thread per
    actor, one slice per stretch of consecutive points (named after its first, with every
    point and its kernel function in its args), one microsecond per step."""
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
    for first, last, aid, texts in _stretches(run):
        events.append(
            {
                "ph": "X",
                "pid": 1,
                "tid": aid,
                "ts": first,
                "dur": last - first + 1,
                "name": texts[0],
                "args": {"points": texts},
            }
        )
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
    """A schedule file's contents, every field checked: a bad one is named with the reason
    (InputError), before anything runs."""
    try:
        data = json.loads(read_regular(path))
    except (OSError, ValueError) as e:
        reason = (e.strerror or e) if isinstance(e, OSError) else e
        raise InputError(f"{path}: cannot read the schedule file: {reason}") from None
    except RecursionError:
        raise InputError(f"{path}: cannot read the schedule file: nested too deeply") from None
    fmt = data.get("format") if isinstance(data, dict) else None
    if not _is_int(fmt) or fmt not in FORMATS:
        raise InputError(f"{path}: not a schedule file of format {' or '.join(map(str, FORMATS))}")
    for name, ok, what in _FIELDS:
        if name not in data:
            raise InputError(f"{path}: no {name!r} field")
        if not ok(data[name]):
            raise InputError(f"{path}: {name!r} is {data[name]!r}, not {what}")
    for name in data["guards_off"]:
        if not isinstance(name, str) or name not in GUARDS:
            raise InputError(f"{path}: 'guards_off' names {name!r}, not a guard of this model")
    finding = data["finding"]
    for name, ok, what in _FINDING_FIELDS:
        if not ok(finding.get(name)):
            raise InputError(f"{path}: 'finding' has {name!r} {finding.get(name)!r}, not {what}")
    for i, entry in enumerate(data["schedule"]):
        problem = _entry_problem(entry)
        if problem:
            raise InputError(f"{path}: schedule entry {i} ({json.dumps(entry)}): {problem}")
    return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_FIELDS: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("scenario", lambda v: isinstance(v, str), "a scenario's name"),
    ("variant", lambda v: v in VARIANTS, f"one of {', '.join(VARIANTS)}"),
    ("hpage_nr", _is_int, "an integer"),
    ("guards_off", lambda v: isinstance(v, list), "a list of guard names"),
    ("strategy", lambda v: v in STRATEGIES, f"one of {', '.join(STRATEGIES)}"),
    ("seed", lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    ("finding", lambda v: isinstance(v, dict), "an object"),
    ("schedule", lambda v: isinstance(v, list), "a list of decisions"),
)
_FINDING_FIELDS: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("kind", lambda v: isinstance(v, str), "a string"),
    ("signature", lambda v: isinstance(v, list), "a list"),
    ("message", lambda v: isinstance(v, str), "a string"),
    ("step", _is_int, "an integer"),
)


def _entry_problem(entry: Any) -> str | None:
    """Why a schedule entry is not ``[kind, value, options, point, current]`` (Schedule
    .to_json), or None."""
    if not isinstance(entry, list) or len(entry) != 5:
        return "not [kind, value, options, point, current]"
    kind, value, options, point, current = entry
    if kind not in (PICK, CHOOSE) or isinstance(kind, bool):
        return f"kind {kind!r} is neither {PICK} (pick an actor) nor {CHOOSE} (a data choice)"
    if not _is_int(value):
        return f"value {value!r} is not an integer"
    if not isinstance(options, list) or not all(map(_is_int, options)):
        return f"options {options!r} is not a list of integers"
    if not isinstance(point, str):
        return f"point {point!r} is not a string"
    if current is not None and not _is_int(current):
        return f"current {current!r} is neither an actor id nor null"
    return None


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


def _stretches(run: Execution) -> list[tuple[int, int, int, list[str]]]:
    """The runs of consecutive points of one actor: (first step, last step, actor id, the
    points as a report shows them, with their kernel functions when known)."""
    functions = run.functions
    out: list[tuple[int, int, int, list[str]]] = []
    for i, (step, aid, point) in enumerate(run.point_log):
        text = label(functions[i] if functions is not None else None, point)
        if out and out[-1][2] == aid:
            first, _, _, texts = out[-1]
            texts.append(text)
            out[-1] = (first, step, aid, texts)
        else:
            out.append((step, step, aid, [text]))
    return out


def _lines(text: str, width: int) -> list[str]:
    return textwrap.wrap(
        text, width, subsequent_indent="  ", break_long_words=True, break_on_hyphens=False
    ) or [""]


def diagram(run: Execution, width: int = 38, max_rows: int = 60) -> str:
    """Columns per actor, one row per run of consecutive points of one actor, naming the
    kernel function of each point when the run knows them (Execution.functions); a cell
    too long for its column continues on the next lines, never cut."""
    names = {aid: f"{name} (cpu{cpu})" for aid, name, cpu in run.actors}
    shown = sorted({aid for _, aid, _ in run.point_log})

    def row(cells: dict[int, str]) -> list[str]:
        wrapped = {aid: _lines(text, width) for aid, text in cells.items()}
        height = max(map(len, wrapped.values()), default=1)
        return [
            " | ".join(
                (wrapped[a][k] if a in wrapped and k < len(wrapped[a]) else "").ljust(width)
                for a in shown
            ).rstrip()
            for k in range(height)
        ]

    header = row({a: str(names.get(a, a)) for a in shown})
    rows = [*header, "-" * ((width + 3) * len(shown) - 3)]
    stretches = _stretches(run)
    if len(stretches) > max_rows:
        rows.append(
            f"({len(stretches) - max_rows} earlier stretches not shown: every point is in "
            "the .trace.json beside the schedule file)"
        )
    for _, _, aid, texts in stretches[-max_rows:]:
        text = texts[0] if len(texts) == 1 else f"{texts[0]} .. {texts[-1]} ({len(texts)} points)"
        rows += row({aid: text})
    return "\n".join(rows)


def _big(n: int) -> str:
    """*n* as it is, or past a trillion in scientific form (Decimal: no float overflow)."""
    return str(n) if n < 10**12 else f"{Decimal(n):.3g}"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


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
        f"1/(n·k^(d−1)) = {b['bound']:.3g} per execution (1 in {_big(b['expected_executions'])}); "
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
        f"{_count(f.schedule.preemptions(), 'preemption')}"
    )
    if result.shrunk_from is not None:
        was = (result.shrunk_from_preemptions, result.shrunk_from)
        now = (f.schedule.preemptions(), result.found.steps)
        lines.append(
            f"shrunk   from {_count(was[0], 'preemption')} and {_count(was[1], 'step')}"
            if was != now
            else "shrunk   nothing: no schedule with fewer preemptions or steps finds it"
        )
    if opts.strategy == "dfs":
        lines.append(_states(result))
    if opts.strategy == "pct":
        lines.append(_pct(result))
    if path:
        lines.append(f"replay   hugetmpfs explore --replay {path}")
    lines.append(diagram(result.found))
    return "\n".join(lines)
