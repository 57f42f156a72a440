"""A busy-wait's retry yields to the actor it waits for, so exploring strategies do not
report livelocks the kernel cannot have (base/R4.4's trylock of the head in a punch)."""

from __future__ import annotations

import hugetmpfs.explore.scenarios  # noqa: F401  (registers the built-in scenarios)
from hugetmpfs.explore import REGISTRY
from hugetmpfs.testing import assert_explores_clean

SPIN = REGISTRY["fault-vs-punch-tail-spin"]


def test_pct_does_not_starve_the_lock_holder() -> None:
    assert_explores_clean(SPIN, strategy="pct", schedules=150)


def test_dfs_does_not_starve_the_lock_holder() -> None:
    assert_explores_clean(SPIN, strategy="dfs", bound=2, schedules=150)
