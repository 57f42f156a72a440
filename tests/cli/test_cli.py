"""The command line's contract (DESIGN.md §4): exit statuses and what goes where.

Every test runs ``python -m hugetmpfs`` in a subprocess, as a user would, inside a temporary
directory so that file names in messages are short and exact.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from hugetmpfs import __version__

if TYPE_CHECKING:
    from pathlib import Path

MOUNT = {"op": "mount", "huge": "never"}
OPEN = {"op": "open", "path": "f", "as": "f", "flags": ["O_RDWR", "O_CREAT"]}
PREAD = {"op": "pread", "fd": "f", "offset": 0, "len": 4096}
TRACE = [MOUNT, OPEN, PREAD]
RESULTS = [
    {"i": 0, "op": "mount", "ret": 0, "errno": None},
    {"i": 1, "op": "open", "ret": 0, "errno": None},
    {"i": 2, "op": "pread", "ret": 0, "errno": None, "sha256": "e3b0"},
]


def hugetmpfs(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "hugetmpfs", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def write_jsonl(path: Path, objs: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(o) + "\n" for o in objs))
    return path.name


def bad_input(proc: subprocess.CompletedProcess[str], stderr: str) -> None:
    """Exit 2, nothing on stdout, and exactly one line on stderr."""
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    assert proc.stderr == stderr + "\n"


@pytest.fixture
def files(tmp_path: Path) -> Path:
    write_jsonl(tmp_path / "t.jsonl", TRACE)
    write_jsonl(tmp_path / "a.jsonl", RESULTS)
    write_jsonl(tmp_path / "b.jsonl", RESULTS)
    return tmp_path


# -- help and version -------------------------------------------------------------------


def test_help(tmp_path: Path) -> None:
    proc = hugetmpfs(tmp_path, "--help")
    assert proc.returncode == 0
    assert "replay" in proc.stdout
    assert "diff" in proc.stdout


def test_diff_help(tmp_path: Path) -> None:
    proc = hugetmpfs(tmp_path, "diff", "--help")
    assert proc.returncode == 0
    assert "TRACE [A] [B]" in proc.stdout


def test_version(tmp_path: Path) -> None:
    proc = hugetmpfs(tmp_path, "--version")
    assert proc.returncode == 0
    assert __version__ in proc.stdout


# -- malformed traces -------------------------------------------------------------------

MALFORMED = [
    ('{"op": "mount", "huge": "never"}\n{"op": "close", "fd": "x"}\n', 2, "close: fd 'x'"),
    ('# comment\n{"op": "mount", "huge": "sometimes"}\n', 2, "mount: unknown huge 'sometimes'"),
    ("", 1, "the trace has no mount operation"),
    ('{"op": "mount", "huge": "never"}\n[1]\n', 2, "expected a JSON object, got a list"),
]


@pytest.mark.parametrize(("text", "line", "reason"), MALFORMED)
@pytest.mark.parametrize("command", [["replay"], ["replay", "--kernel"], ["diff"]])
def test_malformed_trace(
    files: Path, command: list[str], text: str, line: int, reason: str
) -> None:
    (files / "bad.jsonl").write_text(text)
    args = [*command, "bad.jsonl"] + (["a.jsonl", "b.jsonl"] if command == ["diff"] else [])
    proc = hugetmpfs(files, *args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"bad.jsonl:{line}: {reason}")
    assert proc.stderr.count("\n") == 1


def test_malformed_trace_invalid_utf8(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_bytes(b'{"op": "mount", "huge": "never"}\n\xff\n')
    bad_input(hugetmpfs(tmp_path, "replay", "bad.jsonl"), "bad.jsonl:2: invalid UTF-8 at byte 0")


@pytest.mark.parametrize("command", ["replay", "diff", "stats"])
def test_missing_trace(tmp_path: Path, command: str) -> None:
    proc = hugetmpfs(tmp_path, command, "nope.jsonl")
    bad_input(proc, "nope.jsonl: cannot read trace: No such file or directory")


def test_replay_on_the_model(files: Path) -> None:
    proc = hugetmpfs(files, "replay", "t.jsonl")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["op"] for r in lines] == [op["op"] for op in TRACE]
    assert [(r["ret"], r["errno"]) for r in lines] == [(r["ret"], r["errno"]) for r in RESULTS]
    assert lines[2]["sha256"] == hashlib.sha256(b"").hexdigest()


def test_replay_is_deterministic(files: Path) -> None:
    runs = {hugetmpfs(files, "replay", "t.jsonl").stdout for _ in range(3)}
    assert len(runs) == 1


# -- diff -------------------------------------------------------------------------------


def test_diff_agreement(files: Path) -> None:
    proc = hugetmpfs(files, "diff", "t.jsonl", "a.jsonl", "b.jsonl")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "t.jsonl: a.jsonl and b.jsonl agree (huge=never): 3 lines compared "
        "(0 with fields skipped), 0 lines skipped\n"
    )
    assert proc.stderr == ""


def test_diff_divergence(files: Path) -> None:
    write_jsonl(files / "b.jsonl", [*RESULTS[:2], {**RESULTS[2], "ret": -1, "errno": "EBADF"}])
    proc = hugetmpfs(files, "diff", "t.jsonl", "a.jsonl", "b.jsonl")
    assert proc.returncode == 1
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("t.jsonl:3: op 2 (pread) diverges: ")
    assert lines[1] == f"  trace    {json.dumps(PREAD)}"
    assert lines[2].startswith('  a.jsonl  {"i": 2, "op": "pread", "ret": 0,')
    assert lines[3].startswith('  b.jsonl  {"i": 2, "op": "pread", "ret": -1, "errno": "EBADF"')
    assert "context: the 2 ops before it" in lines


def test_diff_length_mismatch(files: Path) -> None:
    write_jsonl(files / "b.jsonl", RESULTS[:2])
    proc = hugetmpfs(files, "diff", "t.jsonl", "a.jsonl", "b.jsonl")
    assert proc.returncode == 1
    assert "b.jsonl  (none: ends after 2 results)" in proc.stdout


def test_diff_skipped_listing(files: Path) -> None:
    write_jsonl(files / "t.jsonl", [MOUNT, OPEN, PREAD, {"op": "meminfo"}])
    meminfo = {"i": 3, "op": "meminfo", "ret": 0, "errno": None, "Shmem": 4}
    write_jsonl(files / "a.jsonl", [*RESULTS, meminfo])
    write_jsonl(files / "b.jsonl", [*RESULTS, {**meminfo, "Shmem": 8}])
    proc = hugetmpfs(files, "diff", "--skipped", "t.jsonl", "a.jsonl", "b.jsonl")
    assert proc.returncode == 0
    assert "  Shmem  4        8   (differs)" in proc.stdout.splitlines()
    assert proc.stdout.splitlines()[-1].endswith("1 lines skipped")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"i": 0, "op": "mount", "ret": 0, "errno": null}\n{"i": 1,\n',
            "b.jsonl:2: invalid result",
        ),
        ('\n\n{"i": 0, "op": "mount", "errno": null}\n', "b.jsonl:3: result field 'ret'"),
        ("[1]\n", "b.jsonl:1: a result line must be a JSON object"),
        ("[" * 100_000 + "\n", "b.jsonl:1: invalid result line"),
    ],
)
def test_diff_malformed_result_file(files: Path, content: str, message: str) -> None:
    (files / "b.jsonl").write_text(content)
    proc = hugetmpfs(files, "diff", "t.jsonl", "a.jsonl", "b.jsonl")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith(message)
    assert proc.stderr.count("\n") == 1


def test_diff_results_of_another_trace(files: Path) -> None:
    write_jsonl(files / "t.jsonl", [MOUNT, OPEN, {"op": "fstat", "fd": "f"}])
    proc = hugetmpfs(files, "diff", "t.jsonl", "a.jsonl", "b.jsonl")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "the results are not of trace t.jsonl" in proc.stderr


@pytest.mark.parametrize("missing", ["a", "b"])
def test_diff_missing_result_file(files: Path, missing: str) -> None:
    args = (
        ["t.jsonl", "nope.jsonl", "b.jsonl"] if missing == "a" else ["t.jsonl", "a.jsonl", "nope"]
    )
    proc = hugetmpfs(files, "diff", *args)
    name = args[1] if missing == "a" else args[2]
    bad_input(proc, f"{name}: cannot read results: No such file or directory")


def test_diff_with_one_result_file_is_a_usage_error(files: Path) -> None:
    proc = hugetmpfs(files, "diff", "t.jsonl", "a.jsonl")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "give both stored result files A and B, or neither" in proc.stderr


@pytest.mark.kernel
def test_diff_runs_both_runners(files: Path) -> None:
    proc = hugetmpfs(files, "diff", "t.jsonl")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "agree" in proc.stdout


def test_stats_shows_the_counters_and_their_relations(tmp_path: Path) -> None:
    example = os.path.join(
        os.path.dirname(__file__), "..", "..", "examples", "swap-and-recover.jsonl"
    )
    proc = hugetmpfs(tmp_path, "stats", str(example), "--json")
    assert proc.returncode == 0, proc.stderr
    counters = json.loads(proc.stdout)
    assert len(counters) == 26
    assert counters["recov_completed"] == counters["remap_faulter"] > 0
    text = hugetmpfs(tmp_path, "stats", str(example)).stdout
    assert "recov_completed" in text
    assert "BROKEN" not in text
    assert text.count("holds ") == 3


def test_explore_self_test_of_one_scenario(tmp_path: Path) -> None:
    proc = hugetmpfs(tmp_path, "explore", "remap-vs-punch", "--self-test", "--json")
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["scenario"] == "remap-vs-punch"
    assert row["guard_off_found"] is True
    assert row["guard_on_found"] is False
    bad_input(
        hugetmpfs(tmp_path, "explore", "nosuch", "--self-test"),
        "hugetmpfs: unknown scenario 'nosuch' (see hugetmpfs explore --list)",
    )


def test_explore_replay_of_another_scenarios_schedule(tmp_path: Path) -> None:
    assert hugetmpfs(tmp_path, "explore", "demo-lock-order").returncode == 1
    path = "findings/demo-lock-order-001.json"
    assert hugetmpfs(tmp_path, "explore", "demo-lock-order", "--replay", path).returncode == 1
    bad_input(
        hugetmpfs(tmp_path, "explore", "demo-trylock", "--replay", path),
        f"hugetmpfs: {path}: a schedule of 'demo-lock-order', not of 'demo-trylock'",
    )


def test_explore_refuses_workers_for_dfs(tmp_path: Path) -> None:
    bad_input(
        hugetmpfs(tmp_path, "explore", "demo-trylock", "--strategy", "dfs", "--workers", "2"),
        "hugetmpfs: --workers runs random and pct schedules in parallel; dfs runs in one",
    )


def test_explore_refuses_a_findings_path_that_is_a_file_before_exploring(tmp_path: Path) -> None:
    (tmp_path / "findings").write_text("mine\n")
    bad_input(
        hugetmpfs(tmp_path, "explore", "demo-lock-order"),
        "hugetmpfs: findings: not a directory, so findings cannot be saved there",
    )
    assert (tmp_path / "findings").read_text() == "mine\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--list", "--self-test"], "--list and --self-test are separate modes: give one"),
        (["--replay", "f.json", "--self-test"], "--replay and --self-test are separate modes"),
        (["--replay", "f.json", "--seed", "3"], "--replay takes --seed from the schedule file"),
        (["--replay", "f.json", "--disable-guard", "base/R4.1"], "--replay takes --disable-guard"),
    ],
)
def test_explore_modes_and_replay_options_do_not_mix(
    tmp_path: Path, args: list[str], message: str
) -> None:
    proc = hugetmpfs(tmp_path, "explore", *args)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"hugetmpfs: {message}")
