"""The workload runner: scaled-down built-ins, their outputs, and determinism."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from hugetmpfs.errors import InputError
from hugetmpfs.workload.report import write_outputs
from hugetmpfs.workload.runner import run_scenario, scenario_weight
from hugetmpfs.workload.scenario import builtin_path
from hugetmpfs.workload.scenario_file import load_scenario

if TYPE_CHECKING:
    from pathlib import Path


def builtin(name: str, scale: int, *overrides: str):
    return load_scenario(builtin_path(name), overrides, scale)


def test_swap_basic_swaps_out_and_reads_everything_back(tmp_path: Path) -> None:
    seen: list[float] = []
    sc = builtin("swap-basic", 16)
    result = run_scenario(sc, progress=lambda done, what, vt: seen.append(done))
    assert result.verified, (result.errors, result.mismatched_bytes)
    assert sum(result.mismatched_bytes.values()) == 0
    s = result.series
    swap_used = [t - f for t, f in zip(s.columns["SwapTotal"], s.columns["SwapFree"], strict=True)]
    assert max(swap_used) > 0
    assert s.last("pswpout") > 0
    assert s.last("pswpin") > 0
    assert abs(seen[-1] - scenario_weight(sc)) < 1e-6
    paths = write_outputs(result, str(tmp_path / "out"))
    data = json.loads((tmp_path / "out" / "series.json").read_text())
    assert data["time_ms"] == s.time_ms
    for path in paths.values():
        assert (tmp_path / "out").joinpath(path.rsplit("/", 1)[1]).stat().st_size > 0


def test_runs_are_deterministic_to_the_byte(tmp_path: Path) -> None:
    """Same scenario and seed: the series JSON is bit-identical."""
    texts = []
    for i in range(2):
        result = run_scenario(builtin("swap-and-recover", 32))
        write_outputs(result, str(tmp_path / f"run{i}"))
        texts.append((tmp_path / f"run{i}" / "series.json").read_bytes())
    assert texts[0] == texts[1]
    other = run_scenario(builtin("swap-and-recover", 32, "machine.seed=5"))
    assert other.series.columns  # another seed still runs


def test_outputs_that_cannot_be_written_leave_nothing_and_keep_the_last_run(
    tmp_path: Path,
) -> None:
    result = run_scenario(builtin("swap-basic", 64))
    write_outputs(result, str(tmp_path / "o1"))
    before = (tmp_path / "o1" / "series.json").read_bytes()
    with pytest.raises(InputError, match=r"^/proc/x: cannot write: "):
        write_outputs(result, str(tmp_path / "o1"), "/proc/x")
    with pytest.raises(InputError, match=r"^--report .*/o1/rep: is inside --out .*/o1; "):
        write_outputs(result, str(tmp_path / "o1"), str(tmp_path / "o1" / "rep"))
    with pytest.raises(InputError, match=r"^--out .*/o1/sub: is inside --report .*/o1; "):
        write_outputs(result, str(tmp_path / "o1" / "sub"), str(tmp_path / "o1"))
    assert [p.name for p in tmp_path.iterdir()] == ["o1"]  # no temporary directory left
    assert (tmp_path / "o1" / "series.json").read_bytes() == before
    assert "rep" not in [p.name for p in (tmp_path / "o1").iterdir()]
