"""Workload scenarios: a machine, tmpfs mounts, and processes that run phases.

A scenario is plain data, read from a TOML file (``scenario_file.py``; the format is in
docs/workloads.md).  Each process is an actor on its own virtual CPU running its phases in
order; ``wait`` phases synchronise processes on named events that ``signal`` phases raise.
Sampling of the kernel's counters happens every ``sample.every_ms`` of virtual time,
independent of the processes.

The built-in scenarios are TOML files shipped in ``workload/scenarios/``, so that a user can
copy one and change it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hugetmpfs.shmem.machine import MachineConfig

GiB, MiB = 1 << 30, 1 << 20


@dataclass(frozen=True)
class Phase:
    """One step of a process: ``op`` with its validated arguments (sizes in bytes)."""

    op: str
    args: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def title(self) -> str:
        return self.label or self.op


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    phases: tuple[Phase, ...]
    cpu: int = 0
    mount: str = "tmp"


@dataclass(frozen=True)
class MountSpec:
    huge: str = "never"
    size: int = 256 * MiB
    name: str = "tmp"


@dataclass(frozen=True)
class SampleSpec:
    """What to sample and how often (virtual time)."""

    every_ms: float = 10.0
    #: glob patterns of the series columns to keep (the plots' own columns are always kept)
    fields: tuple[str, ...] = ("*",)
    #: instants for page maps: virtual ms (float), or an event name ("start", "end", or any
    #: event a ``signal`` phase raises)
    pagemaps: tuple[float | str, ...] = ("end",)


@dataclass(frozen=True)
class RunSpec:
    """How long the machine runs once every process has ended."""

    after_ms: float = 0.0  # keep running (and sampling) at least this long
    until_idle: bool = True  # then until background work (kswapd, recovery) is done
    max_ms: float = 600_000.0  # never beyond this virtual time


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    machine: MachineConfig
    mounts: tuple[MountSpec, ...]
    processes: tuple[ProcessSpec, ...]
    sample: SampleSpec = SampleSpec()
    run: RunSpec = RunSpec()
    sysctls: tuple[tuple[str, int], ...] = ()
    shows: str = ""  # what a reader should see in the plots
    source: str = ""  # the file it came from


DEFAULT = "swap-and-recover"


def builtin_names() -> list[str]:
    """The built-in scenarios, by name (their TOML files' stems), sorted."""
    folder = resources.files("hugetmpfs.workload") / "scenarios"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def builtin_path(name: str) -> str:
    """The file of built-in scenario *name*."""
    return str(resources.files("hugetmpfs.workload") / "scenarios" / f"{name}.toml")
