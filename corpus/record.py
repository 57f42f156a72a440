"""Replay every corpus trace on the real kernel and store its results as ``NAME.kernel.jsonl``.

    python corpus/record.py              # record all traces (root)
    python corpus/record.py --check      # replay again and compare with the stored results
    python corpus/record.py -k fallocate # only traces whose file name contains "fallocate"

Recording writes each result file atomically (the whole file or nothing), so an interrupted
run leaves every stored file complete.  ``--check`` writes nothing: it replays each trace and
compares the fresh results with the stored ones under DESIGN.md §3.6, which is how the
corpus is checked to be deterministic on the kernel.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from hugetmpfs.errors import HugetmpfsError
from hugetmpfs.trace.diff import compare, format_comparison
from hugetmpfs.trace.kernel_runner import probe_kernel, run_kernel
from hugetmpfs.trace.parse import parse_file
from hugetmpfs.trace.results import read_results, write_results

HERE = Path(__file__).resolve().parent
MOUNTS = ("never", "always")
SUFFIX = ".kernel.jsonl"


def corpus_traces(root: Path = HERE) -> list[Path]:
    """Every trace of the corpus, never/ first, each directory in file-name order."""
    return [
        path
        for mount in MOUNTS
        for path in sorted((root / mount).glob("*.jsonl"))
        if not path.name.endswith(SUFFIX)
    ]


def results_path(trace: Path) -> Path:
    """Where the kernel's results of *trace* are stored: beside it."""
    return trace.with_name(trace.name.removesuffix(".jsonl") + SUFFIX)


def record(traces: list[Path], errnos: Counter[str]) -> list[str]:
    """Replay and store each trace, counting failed ops per errno; the traces that failed.

    A trace the runner cannot replay keeps its old results (if any) and is reported; the
    others are still recorded, so one runner bug does not hide the rest of the corpus.
    """
    problems = []
    for path in traces:
        try:
            results = run_kernel(parse_file(str(path)))
        except HugetmpfsError as e:
            problems.append(f"{path.parent.name}/{path.name}: {e}")
            continue
        write_results(results, str(results_path(path)))
        errnos.update(r["errno"] for r in results if r["errno"] is not None)
    return problems


def check(traces: list[Path]) -> list[str]:
    """Replay each trace and compare with its stored results; the reports of disagreements."""
    reports = []
    for path in traces:
        try:
            trace = parse_file(str(path))
            stored = read_results(str(results_path(path)))
            comparison = compare(trace, stored, run_kernel(trace))
        except HugetmpfsError as e:
            reports.append(f"{path.parent.name}/{path.name}: {e}")
            continue
        if not comparison.agrees:
            reports.append(format_comparison(trace, comparison, ("stored", "fresh")))
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("-k", metavar="TEXT", default="", help="only file names containing TEXT")
    args = parser.parse_args(argv)
    reason = probe_kernel()
    if reason is not None:
        print(f"record: cannot run traces on the kernel: {reason}", file=sys.stderr)
        return 2
    traces = [p for p in corpus_traces() if args.k in p.name]
    start = time.monotonic()
    errnos: Counter[str] = Counter()
    reports = check(traces) if args.check else record(traces, errnos)
    seconds = time.monotonic() - start
    per_mount = Counter(p.parent.name for p in traces)
    counts = ", ".join(f"{n} {mount}" for mount, n in per_mount.items())
    print("\n\n".join(reports), file=sys.stderr)
    if args.check:
        print(f"checked {len(traces)} traces ({counts}) in {seconds:.1f} s: {len(reports)} differ")
        return 1 if reports else 0
    top = ", ".join(f"{name} {n}" for name, n in errnos.most_common())
    done = len(traces) - len(reports)
    print(f"recorded {done} of {len(traces)} traces ({counts}) in {seconds:.1f} s")
    print(f"failed ops by errno: {top or 'none'}")
    return 1 if reports else 0


if __name__ == "__main__":
    sys.exit(main())
