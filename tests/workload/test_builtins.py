"""Every built-in scenario, reduced (``--scale``): it runs, verifies, and its series show what
its documentation says a reader should see."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hugetmpfs.workload.report import figures
from hugetmpfs.workload.runner import run_scenario
from hugetmpfs.workload.scenario import builtin_names, builtin_path
from hugetmpfs.workload.scenario_file import load_scenario

if TYPE_CHECKING:
    from hugetmpfs.workload.series import Series

SCALE = 16


def _holes_fell_under_pressure(s: Series) -> bool:
    holes = s.columns["ShmemFreeHoles"]
    peak = holes.index(max(holes))
    return max(holes) > 0 and min(holes[peak:]) < max(holes) // 2


CHECKS = {
    "swap-basic": lambda s, f: f["pswpout"] > 0 and max(s.columns["ShmemHugePages"]) == 0,
    "swap-and-recover": lambda s, f: (
        f["pswpout"] > 0
        and f["coverage_pmd_pct_peak"] == 100
        and f["coverage_pmd_pct_low_after_peak"] < 100
    ),
    "fragmentation": lambda s, f: (
        f["extfrag_index_peak"] > 0.5
        and f["free_huge_blocks_end"] == 0
        and f["coverage_pmd_pct_end"] < 100
    ),
    "shrinker-vs-recovery": lambda s, f: _holes_fell_under_pressure(s),
    "shared-buffers": lambda s, f: f["pswpout"] > 0 and f["coverage_pmd_pct_peak"] == 100,
    "phases": lambda s, f: f["extfrag_index_peak"] > 0.5 and f["coverage_pmd_pct_end"] < 50,
}


def test_every_builtin_is_checked() -> None:
    assert sorted(CHECKS) == builtin_names()


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_builtin_reduced(name: str) -> None:
    # reduced runs are short in virtual time too: sample more often
    sc = load_scenario(builtin_path(name), ("sample.every_ms=2",), scale=SCALE)
    result = run_scenario(sc)
    assert result.verified, (result.errors, result.mismatched_bytes)
    assert result.pagemaps
    assert result.pagemaps[-1].label == "end"
    assert CHECKS[name](result.series, figures(result.series)), figures(result.series)
