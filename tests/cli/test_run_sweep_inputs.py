"""``hugetmpfs run`` and ``sweep`` refuse bad input in one line, exit 2, before running: output
directories that cannot be written or that overlap, files that are not regular files,
numbers out of range, a sweep parameter given twice.  An error leaves nothing behind and
keeps the outputs of earlier runs."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from test_cli import bad_input, hugetmpfs
from test_workload_cli import TINY

if TYPE_CHECKING:
    from pathlib import Path


def listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def test_an_output_that_cannot_be_created_is_refused_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(TINY)
    for args, stderr in (
        (("run", "tiny.toml", "--out", "/proc/x"), "--out /proc/x"),
        (("run", "tiny.toml", "--out", "o1", "--report", "/proc/x"), "--report /proc/x"),
        (("sweep", "tiny.toml", "--param", "machine.seed=1", "--out", "/proc/x"),
         "--out /proc/x"),
    ):  # fmt: skip
        proc = hugetmpfs(tmp_path, *args)
        bad_input(proc, f"hugetmpfs: {stderr}: cannot create: No such file or directory")
    bad_input(
        hugetmpfs(tmp_path, "run", "tiny.toml", "--report", ""),
        "hugetmpfs: --report '': cannot create: No such file or directory",
    )
    (tmp_path / "out").write_text("a file where the outputs would go")
    bad_input(
        hugetmpfs(tmp_path, "run", "tiny.toml"),
        "hugetmpfs: --out out/tiny: cannot create: out is not a directory",
    )
    bad_input(
        hugetmpfs(tmp_path, "sweep", "tiny.toml", "--param", "machine.seed=1,2"),
        "hugetmpfs: --out out/sweep-tiny: cannot create: out is not a directory",
    )
    assert listing(tmp_path) == ["out", "tiny.toml"]


def test_out_and_report_inside_one_another_are_refused(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(TINY)
    assert hugetmpfs(tmp_path, "run", "tiny.toml", "--quiet", "--out", "o1").returncode == 0
    before = (tmp_path / "o1" / "series.json").read_bytes()
    bad_input(
        hugetmpfs(tmp_path, "run", "tiny.toml", "--out", "o1/sub", "--report", "o1"),
        "hugetmpfs: --out o1/sub: is inside --report o1; choose another",
    )
    bad_input(
        hugetmpfs(tmp_path, "run", "tiny.toml", "--out", "o1", "--report", "o1/rep"),
        "hugetmpfs: --report o1/rep: is inside --out o1; choose another",
    )
    assert (tmp_path / "o1" / "series.json").read_bytes() == before
    assert "sub" not in listing(tmp_path / "o1")
    assert listing(tmp_path) == ["o1", "tiny.toml"]  # no temporary directory left
    # the same directory twice is one directory: the report is the run's own
    proc = hugetmpfs(tmp_path, "run", "tiny.toml", "--quiet", "--out", "o1", "--report", "./o1")
    assert proc.returncode == 0, proc.stderr
    assert listing(tmp_path) == ["o1", "tiny.toml"]


def test_a_scenario_that_is_not_a_regular_file(tmp_path: Path) -> None:
    bad_input(hugetmpfs(tmp_path, "run", "/dev/zero"), "hugetmpfs: /dev/zero: not a regular file")
    os.mkfifo(tmp_path / "fifo.toml")  # opening it to read must not wait for a writer
    bad_input(
        hugetmpfs(tmp_path, "sweep", "fifo.toml", "--param", "machine.seed=1"),
        "hugetmpfs: fifo.toml: not a regular file",
    )


def test_bad_values_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(TINY)
    big = "9" * 5000
    for override, stderr in (
        (f"machine.seed={big}", "--set: machine.seed: an integer of 5000 digits is out of range"),
        ("sample.every_ms=nan", "tiny.toml: sample.every_ms: nan is not a finite number"),
        ("run.max_ms=inf", "tiny.toml: run.max_ms: inf is not a finite number"),
        ("sample.pagemaps=[nan]", "tiny.toml: sample.pagemaps[0]: nan must be in 0..1e+09"),
        ("x=" + "[" * 100_000, "--set: x: the value is nested too deeply"),
    ):
        proc = hugetmpfs(tmp_path, "run", "tiny.toml", "--set", override)
        assert proc.stderr.startswith(stderr), proc.stderr
        bad_input(proc, proc.stderr.rstrip("\n"))
    (tmp_path / "big.toml").write_text(TINY.replace('ram = "64M"', f"seed = {big}"))
    bad_input(
        hugetmpfs(tmp_path, "run", "big.toml"),
        "big.toml:6: machine.seed: an integer of 5000 digits is out of range",
    )
    (tmp_path / "deep.toml").write_text(TINY + "x = " + "[" * 100_000 + "\n")
    bad_input(hugetmpfs(tmp_path, "run", "deep.toml"), "deep.toml:27: nested too deeply")
    assert listing(tmp_path) == ["big.toml", "deep.toml", "tiny.toml"]


def test_a_scenario_name_cannot_lead_out_of_the_output_directory(tmp_path: Path) -> None:
    for name in ("../../evil", "/tmp/x"):
        (tmp_path / "n.toml").write_text(TINY.replace('"tiny"', f'"{name}"'))
        bad_input(
            hugetmpfs(tmp_path, "run", "n.toml"), f"n.toml:1: name: '{name}': must not contain '/'"
        )
    assert listing(tmp_path) == ["n.toml"]


def test_sweep_validates_every_point_before_printing(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(TINY)
    bad_input(
        hugetmpfs(tmp_path, "sweep", "tiny.toml", "--param", "sample.every_ms=5,nan"),
        "tiny.toml: sample.every_ms: nan is not a finite number (set by --set)",
    )
    twice = ("--param", "machine.seed=1", "--param", "machine.seed=2")
    bad_input(
        hugetmpfs(tmp_path, "sweep", "tiny.toml", *twice),
        "hugetmpfs: --param machine.seed: given twice; give its values once, V1,V2,...",
    )
    assert listing(tmp_path) == ["tiny.toml"]
