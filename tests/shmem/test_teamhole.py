"""shmem/teamhole.py: filling a team's holes without contention does exactly what the
general path (shmem_getpage_gfp per hole) does: the same results, the same machine state,
the same preemption points in the same order."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from hugetmpfs.mm.highmem import page_read
from hugetmpfs.shmem import fault, teamhole
from hugetmpfs.shmem.machine import Machine
from hugetmpfs.trace import model_runner
from hugetmpfs.trace.model_runner import run_model
from hugetmpfs.trace.parse import parse_bytes

if TYPE_CHECKING:
    import pytest

    from hugetmpfs.shmem.inode import ShmemInodeInfo

MiB = 1 << 20
PAGE = 4096

# Teams begun by writes (two members), by fallocate (members not uptodate), by a fault;
# a store and a load through shared mappings fill the rest, hugely.
OPS: list[dict[str, Any]] = [
    {"op": "mount", "huge": "always", "size": "16M"},
    {"op": "open", "path": "f", "as": "f", "flags": ["O_RDWR", "O_CREAT"]},
    {"op": "ftruncate", "fd": "f", "length": 8 * MiB},
    {"op": "pwrite", "fd": "f", "offset": 3 * PAGE, "len": 2 * PAGE, "byte": 7},
    {"op": "fallocate", "fd": "f", "mode": [], "offset": 2 * MiB + 5 * PAGE, "len": 9 * PAGE},
    {"op": "pwrite", "fd": "f", "offset": 4 * MiB - PAGE, "len": PAGE, "byte": 9},
    {"op": "mmap", "fd": "f", "as": "w", "offset": 0, "length": 6 * MiB, "prot": "rw",
     "shared": True},
    {"op": "touch", "map": "w", "offset": 0, "len": 6 * MiB, "stride": PAGE, "write": True,
     "byte": 1},
    {"op": "mmap", "fd": "f", "as": "r", "offset": 6 * MiB, "length": 2 * MiB, "prot": "r",
     "shared": True},
    {"op": "touch", "map": "r", "offset": 0, "len": 2 * MiB, "stride": 3 * PAGE,
     "write": False},
    {"op": "pread", "fd": "f", "offset": 0, "len": 8 * MiB},
    {"op": "smaps", "map": "w"},
    {"op": "meminfo"},
]  # fmt: skip


def _digest(m: Machine) -> str:
    h = hashlib.sha256()
    for name in ("flags", "refcount", "private", "mapping", "index", "content"):
        h.update(getattr(m, name).tobytes())
    h.update(bytes(m.lru_next.tobytes()) + bytes(m.lru_prev.tobytes()))
    for page in sorted(m.data):
        h.update(page.to_bytes(8, "little") + page_read(m, page, 0, PAGE))
    h.update(repr((m.vmstat.zone, m.vmstat.events, m.lru_head, m.lru_size)).encode())
    h.update(repr((m.engine.steps, m.engine.clock, m.engine.point_log)).encode())
    return h.hexdigest()


def _replay(monkeypatch: pytest.MonkeyPatch, fast: bool) -> tuple[Any, str, int]:
    machines: list[Machine] = []

    class Recorded(Machine):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.engine.point_log = []
            machines.append(self)

    filled = [0]

    def fill(m: Machine, inode: ShmemInodeInfo, head: int, i: int) -> int:
        done = teamhole.shmem_fill_teamholes(m, inode, head, i) if fast else i
        filled[0] += done - i
        return done

    monkeypatch.setattr(model_runner, "Machine", Recorded)
    monkeypatch.setattr(fault, "shmem_fill_teamholes", fill)
    text = "\n".join(json.dumps(op) for op in OPS)
    results = run_model(parse_bytes(text.encode(), "inline.jsonl"))
    return results, _digest(machines[0]), filled[0]


def test_uncontended_holes_are_filled_as_getpage_fills_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast_results, fast_state, holes = _replay(monkeypatch, fast=True)
    slow_results, slow_state, _ = _replay(monkeypatch, fast=False)
    assert holes > 1000  # the fast path was taken
    assert all(r["errno"] is None for r in fast_results), fast_results
    assert fast_results == slow_results
    assert fast_state == slow_state
