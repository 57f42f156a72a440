"""Run a trace on the model (DESIGN.md §3): one result per op, like the kernel runner.

The trace's ops run in one task, an actor on CPU 0, so that background actors (kswapd,
kworkers, recovery) interleave with it under the workload strategy, and a blocked op lets
them run.  Each op costs a deterministic amount of virtual time.  A replay is a pure
function of the trace.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from hugetmpfs.errors import ModelBug
from hugetmpfs.mm.costs import SYSCALL_NS
from hugetmpfs.mm.mm_types import MMStruct
from hugetmpfs.mm.pressure import hog_allocate, hog_release
from hugetmpfs.shmem import vfs, vfs_mmap
from hugetmpfs.shmem.fileops import WriteSource
from hugetmpfs.shmem.machine import Machine, MachineConfig
from hugetmpfs.trace.results import Result, failed, ok
from hugetmpfs.trace.syscall_names import (
    ERRNO_NAMES,
    FALLOC_MODES,
    MADVICE,
    OPEN_FLAGS,
    WHENCE,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.trace.parse import Op, Trace


def run_model(trace: Trace, check_steps: bool = False) -> list[Result]:
    """Replay *trace* on a fresh model machine; one result per op.  With *check_steps*,
    every invariant is checked at every scheduling decision, and the first violation
    raises ModelBug naming the op and the step."""
    return run_model_machine(trace, check_steps)[0]


def run_model_machine(trace: Trace, check_steps: bool = False) -> tuple[list[Result], Machine]:
    """:func:`run_model`, also returning the machine as the trace left it."""
    config = MachineConfig(**dict(trace.machine))
    machine = Machine(config)
    if check_steps:
        from hugetmpfs.check import step_hook

        machine.engine.step_hooks.append(step_hook(machine))
    runner = ModelRunner(machine, trace)
    task = machine.engine.spawn(runner.main, name="task", cpu=0)
    try:
        finding = machine.engine.run(until=task)
    finally:
        machine.engine.close()  # kswapd and other daemons would keep the machine alive
    if finding is not None:
        err = finding.details.get("exception")
        where = runner.current_op
        at = f" at op {where.i} ({trace.path}:{where.line})" if where is not None else ""
        raise ModelBug(f"{finding.kind}{at}: {finding.message}") from err
    return runner.results, machine


class ModelRunner:
    """Executes one trace's ops in the task actor, keeping the handle tables."""

    def __init__(self, m: Machine, trace: Trace) -> None:
        self.m = m
        self.trace = trace
        self.results: list[Result] = []
        self.fds: dict[str, int] = {}  # handle -> fd, -1 once failed or closed
        self.maps: dict[str, tuple[int, int] | None] = {}  # handle -> (addr, length)
        self.task: vfs.Task | None = None
        self.meminfo_base: dict[str, int] = {}
        self.current_op: Op | None = None

    def main(self) -> None:
        for op in self.trace.ops:
            self.current_op = op
            handler: Callable[[Op], Result] = getattr(self, f"op_{op.name}")
            self.results.append(handler(op))
            self.m.engine.consume(SYSCALL_NS)
            self.m.engine.point("trace:op_done")
        self.current_op = None

    # -- helpers --------------------------------------------------------------------------

    def _ret(self, op: Op, ret: int, **extras: Any) -> Result:
        if ret < 0:
            return failed(op, ERRNO_NAMES[-ret])
        return ok(op, ret, **extras)

    def _fd(self, op: Op) -> int:
        return self.fds[op.args["fd"]]

    @property
    def t(self) -> vfs.Task:
        assert self.task is not None
        return self.task

    # -- model-only ops -------------------------------------------------------------------

    def op_machine(self, op: Op) -> Result:
        return ok(op, 0)

    def op_sysctl(self, op: Op) -> Result:
        return self._ret(op, self.m.set_sysctl(op.args["name"], op.args["value"]))

    def op_pressure(self, op: Op) -> Result:
        return self._ret(op, hog_allocate(self.m, op.args["bytes"]))

    def op_release(self, op: Op) -> Result:
        hog_release(self.m)
        return ok(op, 0)

    def op_run(self, op: Op) -> Result:
        self.m.engine.sleep(op.args["ms"] * 1_000_000, "trace:run")
        return ok(op, 0)

    def op_check(self, op: Op) -> Result:
        from hugetmpfs.check import check_machine

        violations = check_machine(self.m)
        if violations:
            return failed(op, "EUCLEAN", violations=sorted({v.name for v in violations}))
        return ok(op, 0, violations=[])

    def op_stats(self, op: Op) -> Result:
        from hugetmpfs.shmem.recovery_stats import recovery_stats

        return ok(op, 0, **recovery_stats(self.m))

    # -- files ----------------------------------------------------------------------------

    def op_mount(self, op: Op) -> Result:
        sb = self.m.mount(op.args["huge"], self.trace.size)
        self.task = vfs.Task(self.m, sb, MMStruct(self.m))
        self.meminfo_base = self.m.meminfo()
        return ok(op, 0)

    def op_open(self, op: Op) -> Result:
        flags = 0
        for name in op.args["flags"]:
            flags |= OPEN_FLAGS[name]
        fd = vfs.sys_open(self.t, op.args["path"], flags)
        self.fds[op.args["as"]] = fd if fd >= 0 else -1
        return self._ret(op, min(fd, 0))

    def op_close(self, op: Op) -> Result:
        fd = self._fd(op)
        self.fds[op.args["fd"]] = -1
        return self._ret(op, vfs.sys_close(self.t, fd))

    def op_pwrite(self, op: Op) -> Result:
        a = op.args
        if "hex" in a:
            src = WriteSource(len(a["hex"]), data=a["hex"])
        else:
            src = WriteSource(a["len"], byte=a["byte"])
        return self._ret(op, vfs.sys_pwrite64(self.t, self._fd(op), src, a["offset"]))

    def op_pread(self, op: Op) -> Result:
        h = hashlib.sha256()
        ret = vfs.sys_pread64(self.t, self._fd(op), op.args["len"], op.args["offset"], h.update)
        return self._ret(op, ret, sha256=h.hexdigest())

    def op_ftruncate(self, op: Op) -> Result:
        return self._ret(op, vfs.sys_ftruncate(self.t, self._fd(op), op.args["length"]))

    def op_fallocate(self, op: Op) -> Result:
        mode = 0
        for name in op.args["mode"]:
            mode |= FALLOC_MODES[name]
        a = op.args
        return self._ret(op, vfs.sys_fallocate(self.t, self._fd(op), mode, a["offset"], a["len"]))

    def op_lseek(self, op: Op) -> Result:
        whence = WHENCE[op.args["whence"]]
        return self._ret(op, vfs.sys_lseek(self.t, self._fd(op), op.args["offset"], whence))

    def op_fstat(self, op: Op) -> Result:
        ret, size, blocks = vfs.sys_fstat(self.t, self._fd(op))
        return self._ret(op, ret, size=size, blocks=blocks)

    def op_statfs(self, op: Op) -> Result:
        ret, used = vfs.sys_statfs(self.t)
        return self._ret(op, ret, blocks_used=used)

    def op_unlink(self, op: Op) -> Result:
        return self._ret(op, vfs.sys_unlink(self.t, op.args["path"]))

    # -- mappings -------------------------------------------------------------------------

    def op_mmap(self, op: Op) -> Result:
        a = op.args
        ret = vfs_mmap.sys_mmap(
            self.t, self._fd(op), a["offset"], a["length"], a["prot"], a["shared"]
        )
        self.maps[a["as"]] = (ret, a["length"]) if ret >= 0 else None
        return self._ret(op, min(ret, 0))

    def op_munmap(self, op: Op) -> Result:
        mapping = self.maps.get(op.args["map"])
        self.maps[op.args["map"]] = None
        if mapping is None:
            return ok(op, 0)
        return self._ret(op, vfs_mmap.sys_munmap(self.t, *mapping))

    def op_touch(self, op: Op) -> Result:
        a = op.args
        mapping = self.maps.get(a["map"])
        if mapping is None:
            return failed(op, "SIGSEGV", done=0)
        signal, done = vfs_mmap.sys_touch(
            self.t,
            mapping[0],
            mapping[1],
            a["offset"],
            a["len"],
            a["stride"],
            a.get("byte") if a["write"] else None,
        )
        if signal:
            return failed(op, signal, done=done)
        return ok(op, 0)

    def op_madvise(self, op: Op) -> Result:
        a = op.args
        mapping = self.maps.get(a["map"])
        if mapping is None:
            return failed(op, "EINVAL" if a["offset"] & 4095 else "ENOMEM")
        ret = vfs_mmap.sys_madvise(self.t, mapping, a["offset"], a["len"], MADVICE[a["advice"]])
        return self._ret(op, ret)

    def op_smaps(self, op: Op) -> Result:
        mapping = self.maps.get(op.args["map"])
        if mapping is None:
            return ok(op, 0, Rss=0, ShmemPmdMapped=0)
        rss, pmd = vfs_mmap.sys_smaps(self.t, *mapping)
        return ok(op, 0, Rss=rss, ShmemPmdMapped=pmd)

    def op_meminfo(self, op: Op) -> Result:
        """The contract's four fields, then the model's other meminfo fields (all deltas
        from just after mount, in kB), so a trace can see swap and reclaim at work."""
        now = self.m.meminfo()
        return ok(op, 0, **{f: now[f] - self.meminfo_base[f] for f in now})
