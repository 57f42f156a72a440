"""The workload runner: a scaled-down main job, its outputs, and determinism."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from hugetmpfs.workload.report import write_outputs
from hugetmpfs.workload.runner import run_scenario, scenario_weight
from hugetmpfs.workload.scenario import swap_basic

if TYPE_CHECKING:
    from pathlib import Path


def test_swap_basic_swaps_out_and_reads_everything_back(tmp_path: Path) -> None:
    seen: list[float] = []
    result = run_scenario(swap_basic(scale=16), progress=lambda done, what, vt: seen.append(done))
    assert result.verified, (result.errors, result.mismatched_bytes)
    assert sum(result.mismatched_bytes.values()) == 0
    s = result.series
    assert (
        max(s.columns["SwapTotal"][i] - s.columns["SwapFree"][i] for i in range(len(s.time_ms))) > 0
    )
    assert s.last("pswpout") > 0
    assert s.last("pswpin") > 0
    assert seen[-1] == scenario_weight(swap_basic(scale=16))
    paths = write_outputs(result, str(tmp_path / "out"))
    data = json.loads((tmp_path / "out" / "series.json").read_text())
    assert data["time_ms"] == s.time_ms
    for path in paths.values():
        assert (tmp_path / "out").joinpath(path.rsplit("/", 1)[1]).stat().st_size > 0


def test_runs_are_deterministic() -> None:
    a = run_scenario(swap_basic(scale=32))
    b = run_scenario(swap_basic(scale=32))
    assert a.series.to_json() == b.series.to_json()
    assert a.virtual_ms == b.virtual_ms
