"""The faster fingerprint against its previous version: the same value at every decision.

explore/fingerprint.py was rewritten for speed; tests/explore/reference_fingerprint.py is
the version before, verbatim.  Here DFS explores several scenarios (bound 2, a few hundred
executions each, with and without pruning) with both fingerprinters taken side by side at
every choice, and the two values must be equal every time.  The search itself runs on the
new values, so the paths explored are those the new fingerprint leads to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import reference_fingerprint

import hugetmpfs.explore.runner as runner
import hugetmpfs.explore.scenarios  # noqa: F401  (registers the built-in scenarios)
from hugetmpfs.explore import REGISTRY
from hugetmpfs.explore.fingerprint import fingerprinter
from hugetmpfs.explore.runner import ExploreOptions, explore
from hugetmpfs.sim.strategy.dfs import DFSStrategy

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.sim import Engine

CASES = [
    ("recovery-remap-vs-punch", 300, True),
    ("fault-tail-vs-punch-head-hole", 300, True),
    ("alloc-fault-vs-truncate", 300, True),
    ("recovery-swapin-mapped", 300, True),
    ("reclaim-unmap-vs-munmap", 200, False),
]


class _Both:
    """A fingerprint function taking the new and the reference fingerprint and comparing."""

    def __init__(self, root: Any, engine: Engine) -> None:
        self.new = fingerprinter(root, engine)
        self.ref = reference_fingerprint.fingerprinter(root, engine)
        self.calls: list[int] = []

    def __call__(self) -> bytes:
        ref = self.ref()
        new = self.new()
        assert new == ref
        self.calls.append(1)
        return new


@pytest.mark.slow
@pytest.mark.parametrize(("name", "executions", "prune"), CASES)
def test_the_fingerprint_equals_the_reference_at_every_choice(
    name: str, executions: int, prune: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[_Both] = []

    def both(root: Any, engine: Engine) -> Callable[[], bytes]:
        made.append(_Both(root, engine))
        return made[-1]

    monkeypatch.setattr(runner, "fingerprinter", both)
    # every choice, also those reached with no preemption left
    monkeypatch.setattr(DFSStrategy, "hash_spent", True)
    monkeypatch.setattr(DFSStrategy, "SPENT_PER_EXECUTION", 1 << 30)
    sc = REGISTRY[name]
    opts = ExploreOptions(
        "dfs", executions, 0, bound=2, shrink=False, prune=prune, variant=sc.variant or "v24"
    )
    result = explore(sc, opts)
    assert result.executions > 1
    assert len(made) >= result.executions
    assert sum(len(b.calls) for b in made) > result.executions  # compared at many choices
