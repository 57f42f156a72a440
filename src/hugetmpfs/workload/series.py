"""Time series of the kernel's counters, sampled at fixed steps of virtual time.

A sample is taken by an engine timer, so it sees the machine between two steps of its
actors, at a definite virtual time, whatever the host is doing: the series of a run is a
pure function of the scenario.
"""

from __future__ import annotations

import csv
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hugetmpfs.shmem.machine import Machine

#: The meminfo fields every report shows first (kB).
HEADLINE = (
    "MemFree",
    "Shmem",
    "ShmemHugePages",
    "ShmemPmdMapped",
    "ShmemFreeHoles",
    "SwapCached",
    "SwapFree",
    "Unevictable",
)


class Series:
    """Columns of samples: ``time_ms`` plus every meminfo field (kB) and vmstat counter."""

    def __init__(self) -> None:
        self.time_ms: list[float] = []
        self.columns: dict[str, list[int]] = {}
        self.events: list[tuple[float, str]] = []  # (time, what happened): phase boundaries

    def sample(self, m: Machine, t_ns: int) -> None:
        self.time_ms.append(t_ns / 1e6)
        values: dict[str, int] = dict(m.meminfo())
        values.update(m.vmstat.as_dict())
        for name, value in values.items():
            self.columns.setdefault(name, []).append(value)

    def mark(self, t_ns: int, what: str) -> None:
        self.events.append((t_ns / 1e6, what))

    def last(self, name: str) -> int:
        return self.columns[name][-1]

    def to_json(self) -> dict[str, Any]:
        return {"time_ms": self.time_ms, "columns": self.columns, "events": self.events}

    def write_json(self, path: str, meta: dict[str, Any]) -> None:
        with open(path, "w") as f:
            json.dump({"meta": meta, **self.to_json()}, f, indent=1, sort_keys=True)
            f.write("\n")

    def write_csv(self, path: str) -> None:
        names = sorted(self.columns)
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["time_ms", *names])
            for i, t in enumerate(self.time_ms):
                writer.writerow([f"{t:.3f}", *(self.columns[n][i] for n in names)])
