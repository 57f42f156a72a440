"""The processes of a workload and their phases: each process is an actor with its own
address space and open files, running its phases in order (the table is in ``phases.py``).

Long phases proceed in chunks and report progress as they go; every phase reports exactly its
weight in all, so the progress bar ends at its total whatever happens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hugetmpfs.errors import ModelBug
from hugetmpfs.mm.mm_types import MMStruct
from hugetmpfs.mm.pressure import hog_allocate, hog_release
from hugetmpfs.shmem import vfs, vfs_mmap
from hugetmpfs.shmem.fileops import WriteSource
from hugetmpfs.workload.phases import file_names, repeats, touch_offsets

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.workload.runner import _Run
    from hugetmpfs.workload.scenario import Phase, ProcessSpec, Scenario

ENOMEM = 12
CHUNK = 4 << 20  # long phases proceed (and report progress) in chunks of this many bytes
TOUCH_BATCH = 2048  # random touches between two progress reports


def static_sizes(sc: Scenario) -> dict[str, int]:
    """The size each file is created with (for progress weights of whole-file phases)."""
    sizes: dict[str, int] = {}
    for spec in sc.processes:
        for p in spec.phases:
            if p.op in ("create", "truncate"):
                for name in file_names(p.args):
                    sizes.setdefault(name, p.args["size"])
    return sizes


def phase_weight(phase: Phase, sizes: dict[str, int] | None = None) -> float:
    a = phase.args
    if phase.op in ("fill", "verify", "write"):
        size = (sizes or {}).get(a["file"] if a.get("count", 1) == 1 else f"{a['file']}.0", 0)
        length = a.get("length") or size - a.get("offset", 0)
        if a.get("every"):
            length = length * max(1, size // a["every"])
        return max(1.0, length * a.get("count", 1) / CHUNK)
    if phase.op == "touch" and a.get("count"):
        return max(1.0, a["count"] / TOUCH_BATCH / 4)
    return 1.0


def scenario_weight(sc: Scenario) -> float:
    """The total the progress callback counts up to."""
    sizes = static_sizes(sc)
    return sum(phase_weight(p, sizes) for spec in sc.processes for p in spec.phases)


class Process:
    def __init__(self, run: _Run, spec: ProcessSpec) -> None:
        self.run = run
        self.spec = spec
        self.m = run.m
        self.task = vfs.Task(run.m, run.sbs[spec.mount], MMStruct(run.m))
        self.fds: dict[str, int] = {}
        self.maps: dict[str, tuple[int, int, int]] = {}  # file -> (addr, length, offset)
        self.phase_done = 0.0  # progress reported by the current phase

    def step(self, share: float, what: str) -> None:
        self.phase_done += share
        self.run.advance(share, f"{self.spec.name}: {what}")

    def fd(self, name: str) -> int:
        if name not in self.fds:
            fd = vfs.sys_open(self.task, name, vfs.O_RDWR | vfs.O_CREAT)
            if fd < 0:
                raise ModelBug(f"{self.spec.name}: open {name}: error {fd}")
            self.fds[name] = fd
        return self.fds[name]

    def close(self, name: str) -> None:
        fd = self.fds.pop(name, None)
        if fd is not None:
            vfs.sys_close(self.task, fd)

    def size(self, name: str) -> int:
        return vfs.sys_fstat(self.task, self.fd(name))[1]

    def fail(self, what: str) -> None:
        self.run.result.errors.append(f"{self.spec.name}: {what}")

    def note(self, what: str) -> None:
        self.run.result.notes.append(f"{self.spec.name}: {what}")
        self.run.series.mark(self.m.engine.now(), f"{self.spec.name}: {what}")

    def mapping(self, a: dict[str, Any], what: str) -> tuple[int, int, int, int] | None:
        """(addr, map length, start within the map, length) of a phase on a mapped range."""
        if a["file"] not in self.maps:
            self.fail(f"{what} {a['file']}: not mapped by this process")
            return None
        addr, maplen, base = self.maps[a["file"]]
        start = a.get("offset", base) - base
        length = a.get("length", maplen - start)
        if start < 0 or start + length > maplen:
            self.fail(f"{what} {a['file']}: range outside the mapping")
            return None
        return addr, maplen, start, length


def process_main(run: _Run, spec: ProcessSpec) -> None:
    proc = Process(run, spec)
    for phase in spec.phases:
        run.series.mark(run.m.engine.now(), f"{spec.name}: {phase.title}")
        weight = phase_weight(phase, run.sizes)
        proc.phase_done = 0.0
        _PHASES[phase.op](proc, phase.args, weight)
        # phases that report progress in chunks may fall short (an error, OOM): settle it
        run.advance(weight - proc.phase_done, f"{spec.name}: {phase.title}")


def _chunks(start: int, length: int, weight: float) -> list[tuple[int, int, float]]:
    """(offset, length, progress) steps of CHUNK bytes over a range."""
    offs = range(start, start + length, CHUNK)
    share = weight / max(1, len(offs))
    return [(off, min(CHUNK, start + length - off), share) for off in offs]


def _create(proc: Process, a: dict[str, Any], weight: float) -> None:
    names = file_names(a)
    for name in names:
        ret = vfs.sys_ftruncate(proc.task, proc.fd(name), a["size"])
        if ret:
            proc.fail(f"ftruncate {name}: error {ret}")
        if len(names) > 1:
            proc.close(name)  # many small files: keep the fd table small


def _write(proc: Process, a: dict[str, Any], weight: float) -> None:
    """pwrite *byte* over the range of each file (repeated ``every`` bytes, if given)."""
    names = file_names(a)
    for name in names:
        size = proc.size(name)
        offset = a.get("offset", 0)
        length = a.get("length", size - offset)
        spans = repeats(offset, length, a.get("every"), size)
        for start, span in spans:
            for off, n, share in _chunks(start, span, weight / len(names) / len(spans)):
                src = WriteSource(n, a["byte"])
                got = vfs.sys_pwrite64(proc.task, proc.fd(name), src, off)
                if got != n:
                    (proc.note if got == -ENOMEM else proc.fail)(f"pwrite {name} at {off}: {got}")
                    return
                proc.step(share, "write")
        if len(names) > 1:
            proc.close(name)


def _unlink(proc: Process, a: dict[str, Any], weight: float) -> None:
    for name in file_names(a):
        proc.close(name)
        ret = vfs.sys_unlink(proc.task, name)
        if ret:
            proc.fail(f"unlink {name}: error {ret}")


def _map(proc: Process, a: dict[str, Any], weight: float) -> None:
    prot = "rw" if a["write"] else "r"
    offset = a.get("offset", 0)
    length = a.get("length", proc.size(a["file"]) - offset)
    addr = vfs_mmap.sys_mmap(proc.task, proc.fd(a["file"]), offset, length, prot, a["shared"])
    if addr < 0:
        proc.fail(f"mmap {a['file']}: error {addr}")
        return
    proc.maps[a["file"]] = (addr, length, offset)


def _fill(proc: Process, a: dict[str, Any], weight: float) -> None:
    """Write every byte of the mapped range, as a process storing to it would."""
    where = proc.mapping(a, "fill")
    if where is None:
        return
    addr, maplen, start, length = where
    for off, n, share in _chunks(start, length, weight):
        if not _touch_range(proc, addr, maplen, off, n, 1, a["byte"], "fill"):
            return
        proc.step(share, "fill")


def _touch_range(
    proc: Process, addr: int, maplen: int, off: int, n: int, stride: int, byte: int | None,
    what: str,
) -> bool:  # fmt: skip
    signal, done = vfs_mmap.sys_touch(proc.task, addr, maplen, off, n, stride, byte)
    if signal == "ENOMEM":
        proc.note(f"{what}: out of memory at offset {off + done * stride}")
    elif signal:
        proc.fail(f"{what} at {off}: {signal} after {done} accesses")
    return not signal


def _touch(proc: Process, a: dict[str, Any], weight: float) -> None:
    """Access the mapped range in a pattern (phases.touch_offsets), reading or writing."""
    where = proc.mapping(a, "touch")
    if where is None:
        return
    addr, maplen, start, length = where
    byte = a.get("byte") if a["write"] else None
    if a["pattern"] in ("sequential", "strided"):
        stride = a.get("stride") or (
            4096 if a["pattern"] == "sequential" else proc.m.HPAGE_PMD_SIZE
        )
        for off, n, share in _chunks(start, length, weight):
            first = off + (-(off - start)) % stride  # the pattern's first access in this chunk
            if first < off + n and not _touch_range(
                proc, addr, maplen, first, off + n - first, stride, byte, "touch"
            ):
                return
            proc.step(share, "touch")
        return
    offsets = touch_offsets(a, length, proc.m.HPAGE_PMD_SIZE, proc.m.config.seed)
    share = weight * TOUCH_BATCH / max(1, len(offsets))
    for i, off in enumerate(offsets, 1):
        if not _touch_range(proc, addr, maplen, start + off, 1, 1, byte, "touch"):
            return
        if i % TOUCH_BATCH == 0:
            proc.step(share, "touch")


def _verify(proc: Process, a: dict[str, Any], weight: float) -> None:
    """Read the range back with pread and count the bytes that differ from *byte*."""
    fd, byte = proc.fd(a["file"]), a["byte"]
    offset = a.get("offset", 0)
    length = a.get("length", proc.size(a["file"]) - offset)
    bad = 0

    def sink(data: bytes) -> None:
        nonlocal bad
        bad += len(data) - data.count(byte)

    for off, n, share in _chunks(offset, length, weight):
        got = vfs.sys_pread64(proc.task, fd, n, off, sink)
        if got != n:
            proc.fail(f"pread {a['file']} at {off}: {got} of {n} bytes")
        proc.step(share, "verify")
    key = f"{proc.spec.name}:{a['file']}@{offset}"
    proc.run.result.mismatched_bytes[key] = bad


def _pressure(proc: Process, a: dict[str, Any], weight: float) -> None:
    if hog_allocate(proc.m, a["bytes"]):
        held = len(proc.m.hog_pages) * 4096 >> 20
        proc.note(f"pressure: out of memory, holding {held} MiB")


def _signal(proc: Process, a: dict[str, Any], weight: float) -> None:
    run = proc.run
    if a["event"] not in run.events and a["event"] in run.sc.sample.pagemaps:
        run.snapshot(a["event"])
    run.events.add(a["event"])
    proc.m.engine.wake(("event", a["event"]))


def _wait(proc: Process, a: dict[str, Any], weight: float) -> None:
    while a["event"] not in proc.run.events:
        proc.m.engine.block_on(("event", a["event"]), f"wait:{a['event']}")


def _truncate(proc: Process, a: dict[str, Any], weight: float) -> None:
    ret = vfs.sys_ftruncate(proc.task, proc.fd(a["file"]), a["size"])
    if ret:
        proc.fail(f"truncate {a['file']}: error {ret}")


def _punch(proc: Process, a: dict[str, Any], weight: float) -> None:
    mode = vfs.FALLOC_FL_PUNCH_HOLE | vfs.FALLOC_FL_KEEP_SIZE
    fd = proc.fd(a["file"])
    for off, n in repeats(a["offset"], a["length"], a.get("every"), proc.size(a["file"])):
        ret = vfs.sys_fallocate(proc.task, fd, mode, off, n)
        if ret:
            proc.fail(f"punch {a['file']} at {off}: error {ret}")
            return


def _unmap(proc: Process, a: dict[str, Any], weight: float) -> None:
    if a["file"] not in proc.maps:
        proc.fail(f"unmap {a['file']}: not mapped by this process")
        return
    addr, length, _ = proc.maps.pop(a["file"])
    vfs_mmap.sys_munmap(proc.task, addr, length)


def _sysctl(proc: Process, a: dict[str, Any], weight: float) -> None:
    if proc.m.set_sysctl(a["name"], a["value"]):
        proc.fail(f"sysctl {a['name']}={a['value']}: refused")


_PHASES: dict[str, Callable[[Process, dict[str, Any], float], None]] = {
    "create": _create,
    "write": _write,
    "unlink": _unlink,
    "map": _map,
    "unmap": _unmap,
    "fill": _fill,
    "touch": _touch,
    "verify": _verify,
    "pressure": _pressure,
    "release": lambda proc, a, w: hog_release(proc.m),
    "truncate": _truncate,
    "punch": _punch,
    "sleep": lambda proc, a, w: proc.m.engine.sleep(int(a["ms"] * 1e6), "phase:sleep"),
    "signal": _signal,
    "wait": _wait,
    "sysctl": _sysctl,
}
