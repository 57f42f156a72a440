"""The differential corpus without a kernel: its size, validity, recorded results, and that
``corpus/generate.py`` reproduces the committed traces byte for byte.
"""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

from corpus_files import CORPUS, MOUNTS, corpus_traces, results_path, trace_id

from hugetmpfs.trace.parse import parse_file
from hugetmpfs.trace.results import read_results

if TYPE_CHECKING:
    from pathlib import Path

MINIMUM = {"never": 200, "always": 100}


def test_corpus_has_enough_traces_per_mount() -> None:
    traces = corpus_traces()
    for mount in MOUNTS:
        n = sum(p.parent.name == mount for p in traces)
        assert n >= MINIMUM[mount], f"corpus/{mount} has {n} traces, want >= {MINIMUM[mount]}"


def test_every_trace_parses_and_says_what_it_exercises() -> None:
    problems = []
    for path in corpus_traces():
        trace = parse_file(str(path))  # a malformed trace raises TraceError naming its line
        if trace.huge != path.parent.name:
            problems.append(f"{trace_id(path)}: mounts huge={trace.huge}")
        if not path.read_text().startswith("# "):
            problems.append(f"{trace_id(path)}: the first line is not a '# ' comment")
    assert not problems, "\n".join(problems)


def test_every_trace_has_kernel_results_line_for_line() -> None:
    problems = []
    for path in corpus_traces():
        results = results_path(path)
        if not results.exists():
            problems.append(f"{trace_id(path)}: no {results.name} (run `make corpus` as root)")
            continue
        ops = parse_file(str(path)).ops
        stored = read_results(str(results))
        if len(stored) != len(ops):
            problems.append(f"{trace_id(path)}: {len(ops)} ops but {len(stored)} result lines")
            continue
        for op, result in zip(ops, stored, strict=True):
            if (result["i"], result["op"]) != (op.i, op.name):
                problems.append(f"{trace_id(path)}: result {result['i']} is not for op {op.i}")
                break
    assert not problems, "\n".join(problems)


def test_no_results_without_a_trace() -> None:
    traces = set(corpus_traces())
    orphans = [
        trace_id(p)
        for mount in MOUNTS
        for p in sorted((CORPUS / mount).glob("*.kernel.jsonl"))
        if p.with_name(p.name.removesuffix(".kernel.jsonl") + ".jsonl") not in traces
    ]
    assert not orphans, f"stale kernel results: {orphans}"


def _trace_files(root: Path) -> dict[str, bytes]:
    return {trace_id(p): p.read_bytes() for p in corpus_traces(root)}


def test_generator_reproduces_the_committed_traces(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(CORPUS / "generate.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    generated, committed = _trace_files(tmp_path), _trace_files(CORPUS)
    assert sorted(generated) == sorted(committed), "generate.py makes other files than committed"
    changed = [name for name in committed if generated[name] != committed[name]]
    assert not changed, f"generate.py no longer makes these traces as committed: {changed}"
