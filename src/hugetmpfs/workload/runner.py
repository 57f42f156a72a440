"""Run a workload scenario on a model machine: processes as actors, counters sampled over
virtual time, every byte read back verified.

Each process is an actor on its own virtual CPU with its own address space and open files;
phases run in order.  A sampler timer records meminfo and vmstat every ``sample_ms`` of
virtual time.  The run is a pure function of the scenario (its seed included).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hugetmpfs.errors import ModelBug
from hugetmpfs.mm.mm_types import MMStruct
from hugetmpfs.mm.pressure import hog_allocate, hog_release
from hugetmpfs.shmem import vfs, vfs_mmap
from hugetmpfs.shmem.machine import Machine
from hugetmpfs.workload.series import Series

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.workload.scenario import Phase, ProcessSpec, Scenario

CHUNK = 4 << 20  # long phases proceed (and report progress) in chunks of this many bytes
MAX_VIRTUAL_MS = 600_000  # a run that has not ended by then is stuck: sampling stops


@dataclass
class RunResult:
    """What a run produced.  ``wall_seconds`` is the only host-time measurement."""

    scenario: Scenario
    series: Series
    mismatched_bytes: dict[str, int] = field(default_factory=dict)
    phases_done: int = 0
    phases_total: int = 0
    virtual_ms: float = 0.0
    wall_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return not self.errors and all(v == 0 for v in self.mismatched_bytes.values())


class _Run:
    """The shared state of one run: machine, mount, events, results, progress."""

    def __init__(self, sc: Scenario, progress: Callable[[float, str, float], None] | None) -> None:
        self.sc = sc
        self.m = Machine(sc.machine)
        for name, value in sc.sysctls:
            if self.m.set_sysctl(name, value):
                raise ModelBug(f"scenario {sc.name}: sysctl {name}={value} refused")
        self.sb = self.m.mount(sc.mount.huge, sc.mount.size)
        self.series = Series()
        self.events: set[str] = set()
        self.progress = progress or (lambda done, what, vt: None)
        self.result = RunResult(sc, self.series, phases_total=scenario_weight(sc))
        self.running = True

    def advance(self, amount: float, what: str) -> None:
        self.result.phases_done += amount
        self.progress(self.result.phases_done, what, self.m.engine.now() / 1e6)

    def sample(self) -> None:
        m = self.m
        self.series.sample(m, m.engine.now())
        t = m.engine.now()
        if self.running and t < MAX_VIRTUAL_MS * 1_000_000:
            m.engine.call_later(int(self.sc.sample_ms * 1e6), self.sample, name="sampler")


def _weight(phase: Phase) -> float:
    return max(1.0, phase.args.get("length", 0) / CHUNK)


def scenario_weight(sc: Scenario) -> float:
    """The total the progress callback counts up to."""
    return sum(_weight(p) for spec in sc.processes for p in spec.phases)


def run_scenario(
    sc: Scenario, progress: Callable[[float, str, float], None] | None = None
) -> RunResult:
    """Run *sc*; *progress* gets (work done, what, virtual ms) as the run proceeds."""
    start = time.perf_counter()
    run = _Run(sc, progress)
    m = run.m
    actors = [
        m.engine.spawn(_process, run, spec, name=spec.name, cpu=spec.cpu % m.cpus)
        for spec in sc.processes
    ]
    run.sample()
    try:
        finding = m.engine.run(until=lambda: all(a.state == "done" for a in actors))
    finally:
        run.running = False
        m.engine.close()
    if finding is not None:
        raise ModelBug(f"scenario {sc.name}: {finding.kind}: {finding.message}")
    run.series.sample(m, max(m.engine.clock))  # the clocks outlive close()
    run.result.virtual_ms = max(m.engine.clock) / 1e6
    run.result.wall_seconds = time.perf_counter() - start
    return run.result


# -- processes and their phases -----------------------------------------------------------


class _Process:
    def __init__(self, run: _Run, spec: ProcessSpec) -> None:
        self.run = run
        self.spec = spec
        self.task = vfs.Task(run.m, run.sb, MMStruct(run.m))
        self.fds: dict[str, int] = {}
        self.maps: dict[str, tuple[int, int, int]] = {}  # file -> (addr, length, offset)

    def fd(self, name: str) -> int:
        if name not in self.fds:
            fd = vfs.sys_open(self.task, name, vfs.O_RDWR | vfs.O_CREAT)
            if fd < 0:
                raise ModelBug(f"{self.spec.name}: open {name}: error {fd}")
            self.fds[name] = fd
        return self.fds[name]

    def fail(self, what: str) -> None:
        self.run.result.errors.append(f"{self.spec.name}: {what}")


def _process(run: _Run, spec: ProcessSpec) -> None:
    proc = _Process(run, spec)
    for phase in spec.phases:
        run.series.mark(run.m.engine.now(), f"{spec.name}: {phase.title}")
        _PHASES[phase.op](proc, phase.args)
        if phase.op not in ("fill", "verify"):
            run.advance(_weight(phase), f"{spec.name}: {phase.title}")


def _create(proc: _Process, a: dict[str, Any]) -> None:
    ret = vfs.sys_ftruncate(proc.task, proc.fd(a["file"]), a["size"])
    if ret:
        proc.fail(f"ftruncate {a['file']}: error {ret}")


def _map(proc: _Process, a: dict[str, Any]) -> None:
    prot = "rw" if a.get("write", True) else "r"
    addr = vfs_mmap.sys_mmap(
        proc.task, proc.fd(a["file"]), a["offset"], a["length"], prot, a.get("shared", True)
    )
    if addr < 0:
        proc.fail(f"mmap {a['file']}: error {addr}")
        return
    proc.maps[a["file"]] = (addr, a["length"], a["offset"])


def _fill(proc: _Process, a: dict[str, Any]) -> None:
    """Write every byte of the mapped range, as a process storing to it would."""
    addr, maplen, base = proc.maps[a["file"]]
    start = a.get("offset", base) - base
    length = a.get("length", maplen)
    for off in range(start, start + length, CHUNK):
        n = min(CHUNK, start + length - off)
        signal, done = vfs_mmap.sys_touch(proc.task, addr, maplen, off, n, 1, a["byte"])
        if signal:
            proc.fail(f"fill {a['file']} at {off}: {signal} after {done} bytes")
            return
        proc.run.advance(n / CHUNK, f"{proc.spec.name}: fill")


def _verify(proc: _Process, a: dict[str, Any]) -> None:
    """Read the range back with pread and count the bytes that differ from *byte*."""
    fd, byte = proc.fd(a["file"]), a["byte"]
    offset, length = a.get("offset", 0), a["length"]
    bad = 0

    def sink(data: bytes) -> None:
        nonlocal bad
        bad += len(data) - data.count(byte)

    for off in range(offset, offset + length, CHUNK):
        n = min(CHUNK, offset + length - off)
        got = vfs.sys_pread64(proc.task, fd, n, off, sink)
        if got != n:
            proc.fail(f"pread {a['file']} at {off}: {got} of {n} bytes")
        proc.run.advance(n / CHUNK, f"{proc.spec.name}: verify")
    key = f"{proc.spec.name}:{a['file']}@{offset}"
    proc.run.result.mismatched_bytes[key] = bad


def _pressure(proc: _Process, a: dict[str, Any]) -> None:
    if hog_allocate(proc.run.m, a["bytes"]):
        proc.fail(f"pressure {a['bytes']}: ENOMEM")


def _signal(proc: _Process, a: dict[str, Any]) -> None:
    proc.run.events.add(a["event"])
    proc.run.m.engine.wake(("event", a["event"]))


def _wait(proc: _Process, a: dict[str, Any]) -> None:
    while a["event"] not in proc.run.events:
        proc.run.m.engine.block_on(("event", a["event"]), f"wait:{a['event']}")


def _truncate(proc: _Process, a: dict[str, Any]) -> None:
    vfs.sys_ftruncate(proc.task, proc.fd(a["file"]), a["size"])


def _punch(proc: _Process, a: dict[str, Any]) -> None:
    mode = vfs.FALLOC_FL_PUNCH_HOLE | vfs.FALLOC_FL_KEEP_SIZE
    vfs.sys_fallocate(proc.task, proc.fd(a["file"]), mode, a["offset"], a["length"])


def _unmap(proc: _Process, a: dict[str, Any]) -> None:
    addr, length, _ = proc.maps.pop(a["file"])
    vfs_mmap.sys_munmap(proc.task, addr, length)


_PHASES: dict[str, Callable[[_Process, dict[str, Any]], None]] = {
    "create": _create,
    "map": _map,
    "fill": _fill,
    "verify": _verify,
    "pressure": _pressure,
    "release": lambda proc, a: hog_release(proc.run.m),
    "sleep": lambda proc, a: proc.run.m.engine.sleep(int(a["ms"] * 1e6), "phase:sleep"),
    "signal": _signal,
    "wait": _wait,
    "truncate": _truncate,
    "punch": _punch,
    "unmap": _unmap,
}
