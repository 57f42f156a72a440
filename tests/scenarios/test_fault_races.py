"""base/R7.3: the huge fault's reference on the team head must fail against a freed head."""

from __future__ import annotations

import hugetmpfs.explore.scenarios  # noqa: F401  (registers the built-in scenarios)
from hugetmpfs.explore import REGISTRY
from hugetmpfs.testing import assert_explore_finds, assert_explores_clean

SC = REGISTRY["fault-tail-vs-punch-head-hole"]


def test_guard_off_the_fault_takes_a_reference_on_a_freed_head() -> None:
    result = assert_explore_finds(
        SC, "exception", strategy="random", schedules=300, guards_off=("base/R7.3",)
    )
    assert result.found is not None
    assert result.found.finding is not None
    assert "get_page on a free page" in result.found.finding.message


def test_guard_on_nothing_is_found() -> None:
    assert_explores_clean(SC, strategy="random", schedules=250)
    assert_explores_clean(SC, strategy="pct", schedules=150)
