"""Workload scenarios: a machine, tmpfs mounts, and processes that run phases.

A scenario is plain data.  Each process is an actor on its own virtual CPU running its phases
in order; ``wait`` phases synchronise processes on named events that ``signal`` phases (or
the end of another process's phase list) raise.  Sampling of the kernel's counters happens
every ``sample_ms`` of virtual time, independent of the processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hugetmpfs.shmem.machine import MachineConfig

GiB, MiB = 1 << 30, 1 << 20

#: Phase ops and their arguments (all sizes in bytes):
#: create   file, size              open O_RDWR|O_CREAT and ftruncate to size
#: map      file, offset, length, shared(bool), write(bool)   mmap it (handle = file)
#: fill     file, byte, offset?, length?    write every byte of the mapped range (stride 1)
#: touch    file, pattern (sequential|random|strided), stride?, write, byte?, count?, seed?
#: verify   file, byte, offset?, length?    pread and compare with the expected bytes
#: pressure bytes                   a hog takes unevictable memory (DESIGN.md §3.4)
#: release                          the hog exits
#: sleep    ms                      let virtual time pass
#: signal   event / wait event      synchronise with other processes
PHASE_OPS = (
    "create",
    "map",
    "fill",
    "touch",
    "verify",
    "pressure",
    "release",
    "sleep",
    "signal",
    "wait",
    "truncate",
    "punch",
    "unmap",
)


@dataclass(frozen=True)
class Phase:
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


@dataclass(frozen=True)
class MountSpec:
    huge: str = "never"
    size: int = 256 * MiB


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    machine: MachineConfig
    mount: MountSpec
    processes: tuple[ProcessSpec, ...]
    sample_ms: float = 10.0
    sysctls: tuple[tuple[str, int], ...] = ()


def swap_basic(scale: int = 1) -> Scenario:
    """The model's first main job: fill a file through mappings, swap it out, read it back.

    *scale* divides every size (tests run it small)."""
    half = 256 * MiB // scale
    writers = tuple(
        ProcessSpec(
            name=f"writer{i}",
            cpu=i,
            phases=(
                Phase(
                    "map",
                    {
                        "file": "data",
                        "offset": i * half,
                        "length": half,
                        "shared": True,
                        "write": True,
                    },
                ),
                Phase(
                    "fill",
                    {"file": "data", "byte": 0x10 + i, "offset": i * half, "length": half},
                    f"fill {half >> 20} MiB",
                ),
                Phase("signal", {"event": f"filled{i}"}),
                Phase("wait", {"event": "released"}),
                Phase(
                    "verify",
                    {"file": "data", "byte": 0x10 + i, "offset": i * half, "length": half},
                    "read back and verify",
                ),
            ),
        )
        for i in range(2)
    )
    hog = ProcessSpec(
        name="hog",
        cpu=1,
        phases=(
            Phase("create", {"file": "data", "size": 2 * half}),
            Phase("signal", {"event": "created"}),
            Phase("wait", {"event": "filled0"}),
            Phase("wait", {"event": "filled1"}),
            Phase("pressure", {"bytes": 640 * MiB // scale}, f"hog {640 // scale} MiB"),
            Phase("sleep", {"ms": 50}),
            Phase("release", {}, "hog exits"),
            Phase("signal", {"event": "released"}),
        ),
    )
    waiting = tuple(
        ProcessSpec(w.name, (Phase("wait", {"event": "created"}), *w.phases), w.cpu)
        for w in writers
    )
    return Scenario(
        name="swap-basic",
        description=(
            "Two processes map a 512 MiB tmpfs file and fill their halves; a hog takes "
            "640 MiB of unevictable memory on a 1 GiB machine with 256 MiB of swap, so "
            "reclaim writes tmpfs pages to swap; the hog exits and the file is read back "
            "and verified byte for byte."
        ),
        machine=MachineConfig(
            ram=GiB // scale, swap=256 * MiB // scale, cpus=2, seed=0, lockdep=False
        ),
        mount=MountSpec("never", GiB // scale),
        processes=(*waiting, hog),
        sample_ms=20.0,
    )


BUILTIN = {"swap-basic": swap_basic}
DEFAULT = "swap-basic"


def builtin(name: str) -> Scenario:
    return BUILTIN[name]()
