"""Run every benchmark of "The model, part 2", print one table, write results/latest.json.

Run: make bench   (or .venv/bin/python benchmarks/run_all.py [--quick] [--only a,b,c,d])
Each benchmark runs in a process of its own (a clean heap for the memory figure, a small
process for the kernel executor to fork); --quick shrinks every size for a smoke test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from _common import describe_machine, machine_info, verdict

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "latest.json")

#: key -> (module, full-size arguments, --quick arguments)
BENCHES: dict[str, tuple[str, list[str], list[str]]] = {
    "a": ("bench_fault_touch.py", [], ["--mib", "64"]),
    "b": ("bench_pwrite.py", [], ["--mib", "64"]),
    "c": ("bench_punch.py", [], ["--mib", "16"]),
    "d": ("bench_memory_per_frame.py", [], ["--ram-gib", "1", "--fill-gib", "0.9"]),
    "e": ("bench_fault_touch.py", ["--huge", "always"], ["--mib", "64", "--huge", "always"]),
    "f": ("bench_recovery.py", [], ["--mib", "16"]),
}


def run_one(key: str, quick: bool, runs: int | None, tmp: str) -> dict[str, Any]:
    module, full, small = BENCHES[key]
    out = os.path.join(tmp, f"{key}.json")
    command = [sys.executable, os.path.join(HERE, module), *(small if quick else full)]
    if runs is not None and key != "d":
        command += ["--runs", str(runs)]
    subprocess.run([*command, "--json", out], check=True)
    with open(out) as f:
        result: dict[str, Any] = json.load(f)
    result["command"] = " ".join(os.path.relpath(c) if os.sep in c else c for c in command)
    return result


def table(results: list[dict[str, Any]]) -> str:
    head = (
        f"{'bench':20s} {'way':10s} {'model s':>8s} {'us/op':>7s} {'kernel s':>8s} "
        f"{'us/op':>6s} {'ratio':>6s} {'cpu':>6s} {'anchor':>6s}  target"
    )
    notes = [
        "ratio: model / kernel wall time, both measured in this run; cpu: the same of the CPU",
        "time of the process; anchor: model / kernel-oracle.md's figure (a quiet machine)",
    ]
    lines = [head, "-" * len(head)]
    for r in results:
        lines += _memory_rows(r) if r["key"] == "d" else _io_rows(r)
    return "\n".join([*lines, *notes])


def _x(ratio: float | None) -> str:
    return f"{ratio:5.1f}x" if ratio is not None else f"{'n/a':>6s}"


def _limit(target: float | None) -> str:
    return f"<= {target:g}x" if target is not None else "(report)"


def _io_rows(r: dict[str, Any]) -> list[str]:
    kernel, ops, anchor, rows = r["kernel"]["seconds"], r["ops"], r["anchor_us_per_op"], []
    k = f"{kernel:8.3f} {kernel / ops * 1e6:6.2f}" if kernel else f"{'n/a':>8s} {'':6s}"
    for way, fig in r["model"].items():
        us = fig["seconds"] / ops * 1e6
        ratio = r["ratios"][way]
        rows.append(
            f"{'(' + r['key'] + ') ' + r['name']:20s} {way:10s} {fig['seconds']:8.3f} {us:7.2f} "
            f"{k} {_x(ratio)} {_x(r['cpu_ratios'][way])} {_x(us / anchor if anchor else None)}  "
            f"{_limit(r['target_ratio'])} {verdict(ratio, r['target_ratio'])}"
        )
    return rows


def _memory_rows(r: dict[str, Any]) -> list[str]:
    ok = "ok" if r["meets_target"] else "MISSED"
    return [
        f"{'(d) memory_per_frame':20s} {'api_actor':10s} {r['bytes_per_frame']:8.1f} bytes/frame "
        f"({r['frames']} frames; fill {r['wall_fill']:.0f} s, {r['fill_us_per_page']:.1f} "
        f"us/page)  <= {r['target_bytes_per_frame']} {ok}"
    ]


def _peaks(results: list[dict[str, Any]]) -> list[str]:
    return [f"({r['key']}) {r['rss_peak'] / 2**20:.0f} MiB" for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--runs", type=int, help="model runs per figure (default 3)")
    parser.add_argument("--only", default="a,b,c,d", help="which benchmarks, e.g. a,c")
    args = parser.parse_args()
    info = machine_info()
    print(describe_machine(info), flush=True)
    t = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hugetmpfs-bench-") as tmp:
        keys = args.only.split(",")
        results = [run_one(key, args.quick, args.runs, tmp) for key in keys]
    seconds = time.perf_counter() - t
    print()
    print(describe_machine(info))
    print(table(results))
    print("peak RSS per benchmark process: " + ", ".join(_peaks(results)))
    print(f"total wall time {seconds:.0f} s")
    write_latest(info, results, seconds, args)


def write_latest(
    info: dict[str, Any], results: list[dict[str, Any]], seconds: float, args: argparse.Namespace
) -> None:
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    doc = {
        "machine": info,
        "command": " ".join([os.path.relpath(sys.executable), *sys.argv]),
        "quick": args.quick,
        "seconds": seconds,
        "wall_finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commands": {r["key"]: r["command"] for r in results},
        "results": {r["key"]: r for r in results},
    }
    with open(RESULTS, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print(f"wrote {os.path.relpath(RESULTS)}")


if __name__ == "__main__":
    main()
