"""Time series of the kernel's counters, sampled at fixed steps of virtual time.

A sample is taken by an engine timer, so it sees the machine between two steps of its
actors, at a definite virtual time, whatever the host is doing: the series of a run is a
pure function of the scenario.

Columns: every meminfo field (kB) and vmstat counter under the kernel's names; the
fragmentation figures of ``memstate`` (``extfrag_index`` and ``unusable_index`` ×1000,
``free_huge_blocks``, ``free_pages_buddy``); and, when the model exposes them, the recovery
stats as ``recovery.<debugfs name>``.  Every value is an integer, so the JSON of a run is
bit-identical from one run to the next.
"""

from __future__ import annotations

import csv
import fnmatch
import json
from typing import TYPE_CHECKING, Any

from hugetmpfs.workload.memstate import fragmentation_stats, recovery_stats

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
RECOVERY_PREFIX = "recovery."
#: Columns the plots and summaries read: always kept, whatever ``sample.fields`` says.
ALWAYS = (
    *HEADLINE,
    "MemTotal",
    "SwapTotal",
    "Mapped",
    "pswpin",
    "pswpout",
    "pgsteal_kswapd",
    "pgsteal_direct",
    "allocstall",
    "pgfault",
    "extfrag_index",
    "unusable_index",
    "free_huge_blocks",
    "free_pages_buddy",
)


class Series:
    """Columns of samples: ``time_ms`` plus every counter (see the module's docstring)."""

    def __init__(self) -> None:
        self.time_ms: list[float] = []
        self.columns: dict[str, list[int]] = {}
        self.events: list[tuple[float, str]] = []  # (time, what happened): phase boundaries
        self.recovery = False  # whether the model exposed recovery stats
        self.last_ns = 0

    def sample(self, m: Machine, t_ns: int) -> None:
        self.time_ms.append(t_ns / 1e6)
        self.last_ns = t_ns
        values: dict[str, int] = dict(m.meminfo())
        values.update(m.vmstat.as_dict())
        values.update(fragmentation_stats(m))
        stats = recovery_stats(m)
        if stats is not None:
            self.recovery = True
            values.update({RECOVERY_PREFIX + k: v for k, v in stats.items()})
        for name, value in values.items():
            self.columns.setdefault(name, []).append(value)

    def mark(self, t_ns: int, what: str) -> None:
        self.events.append((t_ns / 1e6, what))

    def last(self, name: str) -> int:
        return self.columns[name][-1]

    def recovery_columns(self) -> list[str]:
        return sorted(c for c in self.columns if c.startswith(RECOVERY_PREFIX))

    def kept(self, fields: tuple[str, ...]) -> list[str]:
        """The column names *fields* (glob patterns) selects, with the ALWAYS ones, sorted."""
        return sorted(
            c
            for c in self.columns
            if c in ALWAYS
            or c.startswith(RECOVERY_PREFIX)
            or any(fnmatch.fnmatchcase(c, f) for f in fields)
        )

    def to_json(self, fields: tuple[str, ...] = ("*",)) -> dict[str, Any]:
        cols = {name: self.columns[name] for name in self.kept(fields)}
        return {
            "time_ms": self.time_ms,
            "columns": cols,
            "events": self.events,
            "recovery_stats": self.recovery,
        }

    def write_json(self, path: str, meta: dict[str, Any], fields: tuple[str, ...] = ("*",)) -> None:
        with open(path, "w") as f:
            json.dump({"meta": meta, **self.to_json(fields)}, f, indent=1, sort_keys=True)
            f.write("\n")

    def write_csv(self, path: str, fields: tuple[str, ...] = ("*",)) -> None:
        names = self.kept(fields)
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["time_ms", *names])
            for i, t in enumerate(self.time_ms):
                writer.writerow([f"{t:.3f}", *(self.columns[n][i] for n in names)])
