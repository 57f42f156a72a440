"""The fingerprint's process-wide caches (explore/fingerprint.py): the running hashes of the
actors' points and the digests of arrays' bytes, kept from one execution to the next.  They
must never change a value: the same DFS gives the same fingerprints at every choice whether
the caches start empty, warm from an earlier run, or are emptied all along, and those are
the reference fingerprint's (tests/explore/reference_fingerprint.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import reference_fingerprint

import hugetmpfs.explore.fingerprint as fingerprint
import hugetmpfs.explore.runner as runner
import hugetmpfs.explore.scenarios  # noqa: F401  (registers the built-in scenarios)
from hugetmpfs.explore import REGISTRY
from hugetmpfs.explore.runner import ExploreOptions, explore
from hugetmpfs.shmem.machine import Machine
from hugetmpfs.sim import ReplayStrategy
from hugetmpfs.sim.strategy.dfs import DFSStrategy

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.sim import Engine

TRYLOCK = REGISTRY["demo-trylock"]


def _fingerprints(
    name: str, executions: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[bytes], list[bytes]]:
    """Every fingerprint DFS takes on *name* (no pruning, so that the executions do not
    depend on the values), with the reference fingerprint of the same state beside it."""
    new: list[bytes] = []
    ref: list[bytes] = []

    def both(root: Any, engine: Engine) -> Callable[[], bytes]:
        fp = fingerprint.fingerprinter(root, engine)
        reference = reference_fingerprint.fingerprinter(root, engine)

        def call() -> bytes:
            ref.append(reference())
            new.append(fp())
            return new[-1]

        return call

    monkeypatch.setattr(runner, "fingerprinter", both)
    # every choice, also those reached with no preemption left
    monkeypatch.setattr(DFSStrategy, "hash_spent", True)
    monkeypatch.setattr(DFSStrategy, "SPENT_PER_EXECUTION", 1 << 30)
    sc = REGISTRY[name]
    opts = ExploreOptions(
        "dfs", executions, 0, bound=2, shrink=False, prune=False, variant=sc.variant or "v24"
    )
    explore(sc, opts)
    return new, ref


@pytest.mark.slow
@pytest.mark.parametrize("name", ["recovery-remap-vs-punch", "alloc-fault-vs-truncate"])
def test_cached_steps_and_digests_change_no_fingerprint(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fingerprint._STEPS.clear()
    fingerprint._DIGESTS.clear()
    cold, ref = _fingerprints(name, 60, monkeypatch)
    assert len(cold) > 60
    assert cold == ref
    assert fingerprint._STEPS
    assert fingerprint._DIGESTS
    warm, _ = _fingerprints(name, 60, monkeypatch)  # the caches as the first run left them
    assert warm == cold
    monkeypatch.setattr(fingerprint, "_STEPS_MAX", 3)
    monkeypatch.setattr(fingerprint, "_DIGESTS_MAX", 20_000)  # bytes: an array or two
    fingerprint._DIGESTS.clear()
    evicting, _ = _fingerprints(name, 60, monkeypatch)  # emptied again and again
    assert evicting == cold
    assert len(fingerprint._STEPS) <= 4
    assert 0 < sum(map(len, fingerprint._DIGESTS)) <= 20_000


def _machine() -> Machine:
    m = Machine(TRYLOCK.config("v24", ()), ReplayStrategy([]))
    m.mount(TRYLOCK.mount_huge, TRYLOCK.mount_size)
    m.engine.point_log = []
    TRYLOCK.setup(m)
    return m


def test_an_array_digest_follows_its_bytes_across_machines() -> None:
    """Two machines, as two executions build them: the second finds the first's digests
    by their bytes, and a changed array, its bytes back as before, its value back."""
    a, b = _machine(), _machine()
    fa = fingerprint.fingerprinter(a, a.engine)
    fb = fingerprint.fingerprinter(b, b.engine)
    ra = reference_fingerprint.fingerprinter(a, a.engine)
    rb = reference_fingerprint.fingerprinter(b, b.engine)
    first = fa()
    assert first == ra()
    assert fb() == rb()
    for delta in (1, 0, 7, 0):
        b.refcount[5] = a.refcount[5] + delta
        b.mapping[3] = a.mapping[3] + delta
        assert fb() == rb()
        assert fingerprint.Fingerprinter(b, b.engine)() == fb()  # so does a fresh one
    fingerprint._DIGESTS.clear()
    assert fa() == first
