"""``hugetmpfs run``, ``compare`` and ``sweep`` as a user runs them: exit statuses, one-line
errors, and no partial output."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from test_cli import bad_input, hugetmpfs

if TYPE_CHECKING:
    from pathlib import Path

TINY = """\
name = "tiny"
description = "One small file on huge=always, filled and read back."
shows = "Coverage climbs to 100 %."

[machine]
ram = "64M"
cpus = 2

[[mount]]
huge = "always"
size = "32M"

[sample]
every_ms = 1
pagemaps = ["filled", "end"]

[[process]]
name = "writer"
phase = [
  { op = "create", file = "data", size = "8M" },
  { op = "map", file = "data" },
  { op = "fill", file = "data", byte = 7 },
  { op = "signal", event = "filled" },
  { op = "touch", file = "data", pattern = "hotcold", count = 100 },
  { op = "verify", file = "data", byte = 7 },
]
"""


def test_list_names_every_builtin(tmp_path: Path) -> None:
    proc = hugetmpfs(tmp_path, "run", "--list")
    assert proc.returncode == 0
    for name in ("swap-and-recover", "fragmentation", "shrinker-vs-recovery", "shared-buffers",
                 "phases"):  # fmt: skip
        assert name in proc.stdout


def test_run_a_file_writes_outputs_and_says_where_the_report_is(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(TINY)
    proc = hugetmpfs(tmp_path, "run", "tiny.toml", "--report", "rep")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("report: rep/index.html")
    out = tmp_path / "out" / "tiny"
    for name in ("series.json", "series.csv", "summary.json", "coverage.png", "index.html",
                 "pagemap-0-filled.png", "pagemap-1-end.png"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    assert (tmp_path / "rep" / "index.html").read_text().count("data:image/png;base64,") >= 8
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verified"]
    assert summary["figures"]["coverage_pmd_pct_peak"] == 100
    again = hugetmpfs(tmp_path, "run", "tiny.toml", "--quiet", "--set", "machine.seed=1")
    assert again.returncode == 0
    assert list((tmp_path / "out").iterdir()) == [out]  # replaced, nothing left over


def test_a_broken_scenario_is_one_line_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(TINY.replace("byte = 7 }", "byte = 700 }", 1))
    proc = hugetmpfs(tmp_path, "run", "bad.toml")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == "bad.toml:22: process[0].phase[2].byte: 700 must be in 0..255\n"
    (tmp_path / "syntax.toml").write_text(TINY.replace("[machine]", "[machine"))
    proc = hugetmpfs(tmp_path, "run", "syntax.toml")
    assert proc.returncode == 2
    assert proc.stderr.startswith("syntax.toml:5: ")
    assert proc.stderr.count("\n") == 1
    proc = hugetmpfs(tmp_path, "run", "nosuch")
    assert proc.returncode == 2
    assert proc.stderr.startswith("hugetmpfs: unknown scenario 'nosuch'")
    proc = hugetmpfs(tmp_path, "run", "swap-basic", "--set", "machine.ram=12")
    assert proc.stderr.count("\n") == 1
    assert proc.returncode == 2
    assert ": machine.ram: 12 must be in" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_run_refuses_to_replace_a_directory_that_is_not_its_own(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(TINY)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    proc = hugetmpfs(tmp_path, "run", "tiny.toml", "--out", "mine")
    assert proc.returncode == 2
    assert "not the output of a run" in proc.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_compare_and_sweep(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(TINY)
    proc = hugetmpfs(
        tmp_path, "sweep", "tiny.toml", "--param", "machine.variant=v24,v29",
        "--param", "mount.0.huge=always,never", "--out", "sw",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert [r["params"] for r in rows] == [
        {"machine.variant": "v24", "mount.0.huge": "always"},
        {"machine.variant": "v24", "mount.0.huge": "never"},
        {"machine.variant": "v29", "mount.0.huge": "always"},
        {"machine.variant": "v29", "mount.0.huge": "never"},
    ]
    assert [r["summary"]["figures"]["coverage_pmd_pct_end"] for r in rows] == [100, 0, 100, 0]
    assert "sweep.csv" in proc.stdout
    proc = hugetmpfs(
        tmp_path, "compare", "sw/000/series.json", "sw/001/series.json", "--plot", "c.png"
    )
    assert proc.returncode == 0, proc.stderr
    assert "mount 0" in proc.stdout
    assert "pmd coverage, end (%)" in proc.stdout
    assert (tmp_path / "c.png").stat().st_size > 0
    (tmp_path / "x.json").write_text("{}")
    proc = hugetmpfs(tmp_path, "compare", "x.json", "sw/000/series.json")
    assert proc.returncode == 2
    assert proc.stderr == "hugetmpfs: x.json: not the series.json of a hugetmpfs run\n"
    proc = hugetmpfs(tmp_path, "sweep", "tiny.toml", "--param", "machine.cpus=1,0")
    assert proc.returncode == 2
    assert proc.stderr == "tiny.toml: machine.cpus: 0 must be in 1..64 (set by --set)\n"


def test_compare_refuses_bad_input_in_one_line_before_printing_or_plotting(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(TINY)
    assert hugetmpfs(tmp_path, "run", "tiny.toml", "--quiet", "--out", "a").returncode == 0
    run = json.loads((tmp_path / "a" / "series.json").read_text())
    run["meta"]["machine"] = [1]
    (tmp_path / "B.json").write_text(json.dumps(run))
    (tmp_path / "big.json").write_text('{"a": ' + "9" * 5000 + "}")
    a, plot = "a/series.json", "c.png"
    for args, stderr in (
        (("B.json", "--plot", plot), "B.json: meta.machine is not an object but a list"),
        (("big.json", "--plot", plot), "big.json: an integer of 5000 digits (a run writes at most"),
        (("/dev/zero", "--plot", plot), "/dev/zero: not a regular file"),
        ((a, "--plot", "c.txt"), "--plot c.txt: format 'txt' is not supported (write .png, .svg"),
        ((a, "--plot", "nodir/c.png"), "--plot nodir/c.png: nodir is not a directory"),
        ((a, "--plot", ""), "--plot: the file name is empty"),
    ):  # fmt: skip
        proc = hugetmpfs(tmp_path, "compare", a, *args)
        assert proc.stderr.startswith(f"hugetmpfs: {stderr}")
        bad_input(proc, proc.stderr.rstrip("\n"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["B.json", "a", "big.json", "tiny.toml"]


def test_a_run_cut_short_exits_1_and_says_why(tmp_path: Path) -> None:
    proc = hugetmpfs(
        tmp_path, "run", "swap-basic", "--scale", "64", "--set", "run.max_ms=1", "--quiet"
    )
    assert proc.returncode == 1
    assert "run.max_ms (1) reached with" in proc.stderr
    assert (tmp_path / "out" / "swap-basic" / "index.html").exists()


def test_processes_that_wait_for_each_other_are_bad_input(tmp_path: Path) -> None:
    (tmp_path / "dl.toml").write_text(
        '[machine]\nram = "64M"\n'
        '[[process]]\nname = "a"\n'
        'phase = [{ op = "wait", event = "x" }, { op = "signal", event = "y" }]\n'
        '[[process]]\nname = "b"\n'
        'phase = [{ op = "wait", event = "y" }, { op = "signal", event = "x" }]\n'
    )
    proc = hugetmpfs(tmp_path, "run", "dl.toml", "--quiet")
    assert proc.returncode == 2
    assert proc.stderr == (
        "hugetmpfs: dl.toml: the processes wait for each other: a for 'x', b for 'y'\n"
    )
    assert not (tmp_path / "out").exists()
