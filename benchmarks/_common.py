"""Shared helpers of the model-vs-kernel benchmarks (issue "The model, part 2").

- :func:`machine_info`: what the figures were measured on;
- the kernel side: a small C program (:data:`C_SOURCE`) compiled at run time with ``cc``
  (or, without a compiler, the same loops in Python with ctypes), run on a fresh tmpfs in a
  private mount namespace through ``kernel_runner.run_in_executor``: 2 warm-ups, then the
  median of 5 runs (as reference/kernel-oracle.md §3 measured its anchors);
- the model side: the vfs functions called directly, in an engine actor (the realistic way)
  and outside any actor, and a generated trace replayed by ``run_model``; the median of 3;
- :class:`IoBench` and :func:`run_io_bench`, which measure one of benchmarks (a)–(c) all
  these ways, and :func:`bench_main`, the command line each benchmark module shares.

Wall-clock fields are named ``seconds`` or ``wall_*`` (DESIGN.md §4).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import mmap
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hugetmpfs.errors import KernelRunnerError
from hugetmpfs.mm.mm_types import MMStruct
from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.machine import Machine, MachineConfig
from hugetmpfs.sim import Engine
from hugetmpfs.trace import _syscalls as sc
from hugetmpfs.trace._kernel_exec import mount_private_tmpfs
from hugetmpfs.trace.kernel_runner import run_in_executor
from hugetmpfs.trace.model_runner import run_model
from hugetmpfs.trace.parse import parse_file

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
PAGE = 4096
KERNEL_WARMUPS, KERNEL_RUNS, MODEL_RUNS = 2, 5, 3
TARGET_RATIO = 20.0  # (a)-(c): the model within 20x of the kernel
FALLOC_PUNCH_KEEP = 0x02 | 0x01  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE

# -- the machine ------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cc": compiler_version(),
        "loadavg": list(os.getloadavg()),
    }


def describe_machine(info: dict[str, Any]) -> str:
    return (
        f"machine: {info['cpu']}, {info['cores']} cores ({info['cores_usable']} usable), "
        f"{info['kernel']}, {info['python']}, cc: {info['cc'] or 'none'}; "
        f"load average {info['loadavg'][0]:.2f}"
    )


# -- timing -----------------------------------------------------------------------------------


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


class Stopwatch:
    """Wall and CPU time of a ``with`` block, in ns (the CPU time is this process's, which
    a busy machine disturbs less than the wall time)."""

    def __enter__(self) -> Stopwatch:
        self.ns = -time.perf_counter_ns()
        self.cpu_ns = -time.process_time_ns()
        return self

    def __exit__(self, *exc: object) -> None:
        self.ns += time.perf_counter_ns()
        self.cpu_ns += time.process_time_ns()

    def sample(self) -> dict[str, int]:
        return {"ns": self.ns, "cpu_ns": self.cpu_ns}


def figure(samples: Sequence[dict[str, int]]) -> dict[str, Any]:
    """The median of samples: ``seconds`` (wall), ``cpu_seconds``, and every sample."""
    wall = [s["ns"] / 1e9 for s in samples]
    cpu = [s["cpu_ns"] / 1e9 for s in samples]
    return {
        "seconds": median(wall),
        "cpu_seconds": median(cpu),
        "wall_samples": wall,
        "cpu_samples": cpu,
    }


def rss_bytes(field_name: str = "VmRSS") -> int:
    """A field of /proc/self/status (VmRSS, VmHWM, ...) in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * KiB
    raise RuntimeError(f"no {field_name} in /proc/self/status")


# -- the kernel: a C program, or Python with ctypes -------------------------------------------

C_SOURCE = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL

struct sample { long long ns, cpu_ns; long minflt; };

static long long clock_ns(clockid_t clock)
{
	struct timespec t;
	clock_gettime(clock, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long minflt(void)
{
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return u.ru_minflt;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void start(struct sample *s)
{
	s->minflt = minflt();
	s->cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	s->ns = clock_ns(CLOCK_MONOTONIC);
}

static void stop(struct sample *s)
{
	s->ns = clock_ns(CLOCK_MONOTONIC) - s->ns;
	s->cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - s->cpu_ns;
	s->minflt = minflt() - s->minflt;
}

static char *filled(size_t chunk)
{
	char *buf = malloc(chunk);
	if (!buf)
		die("malloc");
	memset(buf, 0x5a, chunk);
	return buf;
}

static void write_file(int fd, size_t size, size_t chunk, const char *buf)
{
	for (size_t off = 0; off < size; off += chunk)
		if (pwrite(fd, buf, chunk, off) != (ssize_t)chunk)
			die("pwrite");
}

/* (a) write 1 byte to every 4 KiB page of a shared mapping of a size-byte file */
static void bench_touch(int fd, size_t size, size_t chunk, struct sample *s)
{
	(void)chunk;
	if (ftruncate(fd, size))
		die("ftruncate");
	volatile char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	start(s);
	for (size_t off = 0; off < size; off += PAGE)
		p[off] = 1;
	stop(s);
	munmap((void *)p, size);
}

/* (b) pwrite size bytes in chunk-byte calls */
static void bench_pwrite(int fd, size_t size, size_t chunk, struct sample *s)
{
	char *buf = filled(chunk);
	start(s);
	write_file(fd, size, chunk, buf);
	stop(s);
	free(buf);
}

/* (c) write the file, then punch every other 4 KiB (PUNCH_HOLE | KEEP_SIZE) */
static void bench_punch(int fd, size_t size, size_t chunk, struct sample *s)
{
	char *buf = filled(chunk);
	write_file(fd, size, chunk, buf);
	free(buf);
	start(s);
	for (size_t off = 0; off < size; off += 2 * PAGE)
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, PAGE))
			die("fallocate");
	stop(s);
}

/* (f) write the file in small pages, map it at a 2 MiB boundary, then MADV_COLLAPSE each
 * 2 MiB extent (the mount must not give huge pages to writes: huge=advise) */
static void bench_collapse(int fd, size_t size, size_t chunk, struct sample *s)
{
	const size_t huge = 2UL << 20;
	char *buf = filled(chunk);
	write_file(fd, size, chunk, buf);
	free(buf);
	char *area = mmap(NULL, size + huge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		die("mmap reserve");
	char *p = (char *)(((unsigned long)area + huge - 1) & ~(huge - 1));
	if (mmap(p, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) != p)
		die("mmap");
	start(s);
	for (size_t off = 0; off < size; off += huge)
		if (madvise(p + off, huge, 25 /* MADV_COLLAPSE */))
			die("madvise(MADV_COLLAPSE)");
	stop(s);
	munmap(area, size + huge);
}

int main(int argc, char **argv)
{
	struct sample s;
	if (argc != 5) {
		fprintf(stderr, "usage: %s touch|pwrite|punch|collapse PATH SIZE CHUNK\n", argv[0]);
		return 2;
	}
	size_t size = strtoull(argv[3], NULL, 0), chunk = strtoull(argv[4], NULL, 0);
	int fd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die("open");
	if (!strcmp(argv[1], "touch"))
		bench_touch(fd, size, chunk, &s);
	else if (!strcmp(argv[1], "pwrite"))
		bench_pwrite(fd, size, chunk, &s);
	else if (!strcmp(argv[1], "punch"))
		bench_punch(fd, size, chunk, &s);
	else if (!strcmp(argv[1], "collapse"))
		bench_collapse(fd, size, chunk, &s);
	else
		return 2;
	close(fd);
	unlink(argv[2]);
	printf("{\"ns\": %lld, \"cpu_ns\": %lld, \"minflt\": %ld}\n", s.ns, s.cpu_ns, s.minflt);
	return 0;
}
"""

CC_FLAGS = ("-O2", "-Wall", "-Wextra", "-Werror")


def compiler_version() -> str | None:
    cc = shutil.which("cc")
    if cc is None:
        return None
    out = subprocess.run([cc, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.returncode == 0 and out.stdout else cc


@dataclass
class KernelTool:
    """How the kernel figure is measured: a compiled C program, or Python with ctypes."""

    binary: str | None  # None: the Python fallback
    command: str  # how it was built, for the record

    @property
    def name(self) -> str:
        return "C program (cc -O2)" if self.binary else "Python + ctypes (no cc)"


def build_kernel_tool(workdir: str) -> KernelTool:
    """Compile :data:`C_SOURCE` in *workdir*; fall back to Python when there is no ``cc``."""
    cc = shutil.which("cc")
    if cc is None:
        return KernelTool(None, "no cc on PATH: Python + ctypes loops")
    src, binary = os.path.join(workdir, "kbench.c"), os.path.join(workdir, "kbench")
    with open(src, "w") as f:
        f.write(C_SOURCE)
    command = [cc, *CC_FLAGS, "-o", binary, src]
    subprocess.run(command, check=True)
    return KernelTool(binary, " ".join(["cc", *CC_FLAGS, "-o", "kbench", "kbench.c"]))


def _run_c(binary: str, mode: str, path: str, size: int, chunk: int) -> dict[str, int]:
    out = subprocess.run(
        [binary, mode, path, str(size), str(chunk)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def _run_python(mode: str, path: str, size: int, chunk: int) -> dict[str, int]:
    """The C program's loops in Python (the fallback): timings include interpreter overhead."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        sample = _PY_MODES[mode](fd, size, chunk)
    finally:
        os.close(fd)
        os.unlink(path)
    return {**sample, "minflt": -1}


def _py_touch(fd: int, size: int, chunk: int) -> dict[str, int]:
    os.ftruncate(fd, size)
    with mmap.mmap(fd, size, mmap.MAP_SHARED) as mem, Stopwatch() as watch:
        for off in range(0, size, PAGE):
            mem[off] = 1
    return watch.sample()


def _py_write(fd: int, size: int, chunk: int) -> None:
    buf = b"\x5a" * chunk
    for off in range(0, size, chunk):
        os.pwrite(fd, buf, off)


def _py_pwrite(fd: int, size: int, chunk: int) -> dict[str, int]:
    with Stopwatch() as watch:
        _py_write(fd, size, chunk)
    return watch.sample()


def _py_punch(fd: int, size: int, chunk: int) -> dict[str, int]:
    _py_write(fd, size, chunk)
    with Stopwatch() as watch:
        for off in range(0, size, 2 * PAGE):
            sc.fallocate(fd, FALLOC_PUNCH_KEEP, off, PAGE)
    return watch.sample()


def _py_collapse(fd: int, size: int, chunk: int) -> dict[str, int]:
    _py_write(fd, size, chunk)
    huge = 2 * MiB
    libc = ctypes.CDLL(None, use_errno=True)
    with mmap.mmap(fd, size, mmap.MAP_SHARED) as mem:
        base = ctypes.addressof(ctypes.c_char.from_buffer(mem))
        if base % huge:  # Python cannot ask for MAP_FIXED at a boundary
            raise RuntimeError("the mapping is not 2 MiB aligned: collapse needs the C tool")
        with Stopwatch() as watch:
            for off in range(0, size, huge):
                if libc.madvise(ctypes.c_void_p(base + off), huge, 25):  # MADV_COLLAPSE
                    raise OSError(ctypes.get_errno(), "madvise(MADV_COLLAPSE)")
    return watch.sample()


_PY_MODES: dict[str, Callable[[int, int, int], dict[str, int]]] = {
    "touch": _py_touch,
    "pwrite": _py_pwrite,
    "punch": _py_punch,
    "collapse": _py_collapse,
}


def kernel_figure(
    tool: KernelTool, mode: str, size: int, chunk: int, mount_size: int, huge: str = "never"
) -> dict[str, Any]:
    """2 warm-ups, then the median of 5 runs of *mode* on one fresh tmpfs (huge=*huge*).

    The tmpfs is mounted in the executor child's private mount namespace (kernel_runner), so
    nothing host-wide changes; each run uses a new file, unlinked at its end.
    """

    def body(mount_dir: str, send: Callable[[Any], None]) -> None:
        mount_private_tmpfs(mount_dir, huge, mount_size)
        path = os.path.join(mount_dir, "bench")
        for _ in range(KERNEL_WARMUPS + KERNEL_RUNS):
            if tool.binary is not None:
                send(_run_c(tool.binary, mode, path, size, chunk))
            else:
                send(_run_python(mode, path, size, chunk))

    samples = run_in_executor(body)[KERNEL_WARMUPS:]
    return {
        "tool": tool.name,
        **figure(samples),
        "minflt": median([s["minflt"] for s in samples]),
        "method": f"{KERNEL_WARMUPS} warm-ups, median of {KERNEL_RUNS}, huge={huge} tmpfs "
        f"size={mount_size} in a private mount namespace, one CPU",
    }


# -- the model --------------------------------------------------------------------------------


def model_task(ram: int, mount_size: int, huge: str = "never") -> vfs.Task:
    """A fresh model machine with one tmpfs mount and a process to make syscalls."""
    m = Machine(MachineConfig(ram=ram))
    return vfs.Task(m, m.mount(huge, mount_size), MMStruct(m))


def in_actor(m: Machine, fn: Callable[[], Any]) -> Any:
    """Run fn() as the task actor on CPU 0 (as the trace runner runs ops); return its value."""
    box: list[Any] = []
    task = m.engine.spawn(lambda: box.append(fn()), name="task", cpu=0)
    finding = m.engine.run(until=task)
    if finding is not None:
        raise RuntimeError(f"the model reported {finding.kind}: {finding.message}")
    return box[0]


def release_machines() -> int:
    """End the actors left suspended by finished engine runs; the number ended.

    Works around a leak in the model: ``Engine.run(until=task)`` returns with the daemon
    actors (kswapd) blocked forever, and the cycle collector cannot see into a suspended
    greenlet's frames, so the machine (its page data included) is never freed, and its
    objects slow every later full collection.  Called between samples, never while timing.
    """
    ended = 0
    for obj in gc.get_objects():
        if isinstance(obj, Engine):
            for actor in obj.actors:
                if actor and not actor.dead:  # started, suspended: GreenletExit ends it
                    actor.throw()
                    ended += 1
    gc.collect()
    return ended


def write_trace(path: str, ops: Sequence[dict[str, Any]]) -> None:
    with open(path, "w") as f:
        f.writelines(json.dumps(op) + "\n" for op in ops)


def replay_sample(path: str) -> dict[str, int]:
    """Time of parsing the trace file and replaying it with ``run_model``."""
    gc.collect()
    with Stopwatch() as watch:
        results = run_model(parse_file(path))
    release_machines()
    failed = [r for r in results if r["errno"] is not None]
    if failed:
        raise RuntimeError(f"{path}: the replay failed: {failed[0]}")
    return watch.sample()


# -- benchmarks (a)-(c) -----------------------------------------------------------------------


@dataclass(frozen=True)
class IoBench:
    """One of benchmarks (a)-(c): the same work on the kernel, the model's API and a replay.

    ``setup(task, fd)`` prepares untimed and returns a state for ``work(task, fd, state)``,
    the timed part.  ``trace_setup()`` and ``trace_work()`` are the same two parts as trace
    ops; the replay figure is replay(setup + work) - replay(setup).
    """

    key: str
    name: str
    title: str
    kernel_mode: str
    size: int
    chunk: int
    ops: int
    op_unit: str
    setup: Callable[[vfs.Task, int], Any]
    work: Callable[[vfs.Task, int, Any], None]
    trace_setup: Callable[[], list[dict[str, Any]]]
    trace_work: Callable[[], list[dict[str, Any]]]
    anchor_us_per_op: float | None = None  # reference/kernel-oracle.md §3, per op
    huge: str = "never"  # the mount's huge= on both sides
    target: float | None = TARGET_RATIO  # None: a figure to report, no target
    mount_size: int = GiB
    ram: int = 2 * GiB
    notes: tuple[str, ...] = ()


def _api_once(bench: IoBench, actor: bool) -> dict[str, int]:
    task = model_task(bench.ram, bench.mount_size, bench.huge)

    def timed() -> dict[str, int]:
        fd = vfs.sys_open(task, "bench", vfs.O_RDWR | vfs.O_CREAT)
        state = bench.setup(task, fd)
        gc.collect()
        with Stopwatch() as watch:
            bench.work(task, fd, state)
        return watch.sample()

    sample = in_actor(task.m, timed) if actor else timed()
    release_machines()
    return sample


def api_figure(bench: IoBench, actor: bool, runs: int) -> dict[str, Any]:
    how = "in an engine actor on CPU 0 (realistic)" if actor else "outside any actor"
    return {
        **figure([_api_once(bench, actor) for _ in range(runs)]),
        "how": f"vfs syscalls called directly, {how}; fresh machine each run; median of {runs}",
    }


def replay_figure(bench: IoBench, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hugetmpfs-bench-") as tmp:
        setup_path, full_path = os.path.join(tmp, "setup.jsonl"), os.path.join(tmp, "full.jsonl")
        setup = bench.trace_setup()
        write_trace(setup_path, setup)
        write_trace(full_path, setup + bench.trace_work())
        full = figure([replay_sample(full_path) for _ in range(runs)])
        base = figure([replay_sample(setup_path) for _ in range(runs)])
    return {
        "seconds": full["seconds"] - base["seconds"],
        "cpu_seconds": full["cpu_seconds"] - base["cpu_seconds"],
        "wall_total": full["wall_samples"],
        "wall_setup": base["wall_samples"],
        "cpu_total": full["cpu_samples"],
        "cpu_setup": base["cpu_samples"],
        "trace_lines": len(setup) + len(bench.trace_work()),
        "how": f"parse_file + run_model of a generated trace, median of {runs}, minus the "
        "same for the trace's setup ops alone (machine, mount, open, ...)",
    }


def run_io_bench(bench: IoBench, runs: int = MODEL_RUNS) -> dict[str, Any]:
    """Every figure of one benchmark: the kernel's first (in a small process), then the model."""
    result: dict[str, Any] = {
        "key": bench.key,
        "name": bench.name,
        "title": bench.title,
        "size_bytes": bench.size,
        "ops": bench.ops,
        "op_unit": bench.op_unit,
        "target_ratio": bench.target,
        "anchor_us_per_op": bench.anchor_us_per_op,
        "notes": list(bench.notes),
        "kernel": _kernel_or_reason(bench),
        "model": {},
    }
    t = time.perf_counter()
    result["model"]["api_actor"] = api_figure(bench, True, runs)
    result["model"]["api_direct"] = api_figure(bench, False, runs)
    result["model"]["replay"] = replay_figure(bench, runs)
    result["wall_model_total"] = time.perf_counter() - t
    result["ratios"] = _ratios(result, "seconds")
    result["cpu_ratios"] = _ratios(result, "cpu_seconds")
    return result


def _kernel_or_reason(bench: IoBench) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hugetmpfs-kbench-") as tmp:
        tool = build_kernel_tool(tmp)
        try:
            fig = kernel_figure(
                tool, bench.kernel_mode, bench.size, bench.chunk, bench.mount_size, bench.huge
            )
        except KernelRunnerError as e:
            return {"tool": tool.name, "seconds": None, "error": str(e)}
    fig["build"] = tool.command
    return fig


def _ratios(result: dict[str, Any], key: str) -> dict[str, float | None]:
    """model / kernel for each way, of the wall time (``seconds``) or the CPU time."""
    kernel = result["kernel"].get(key)
    return {way: (fig[key] / kernel if kernel else None) for way, fig in result["model"].items()}


# -- reports ----------------------------------------------------------------------------------


def verdict(ratio: float | None, target: float | None) -> str:
    if target is None:
        return "no target"
    if ratio is None:
        return "n/a"
    return "ok" if ratio <= target else "MISSED"


def _times(fig: dict[str, Any], ops: int) -> str:
    return (
        f"{fig['seconds']:9.3f} s {fig['seconds'] / ops * 1e6:8.2f} us/op   "
        f"cpu {fig['cpu_seconds']:8.3f} s"
    )


def _ratio(ratio: float | None) -> str:
    return f"{ratio:6.1f}x" if ratio is not None else "    n/a"


def _target(target: float | None, ratio: float | None) -> str:
    if target is None:
        return "no target"
    return f"target <= {target:g}x: {verdict(ratio, target)}"


def report_io_bench(result: dict[str, Any]) -> str:
    ops, unit, target = result["ops"], result["op_unit"], result["target_ratio"]
    kernel = result["kernel"]
    lines = [f"({result['key']}) {result['title']}: {ops} x {unit}"]
    if kernel["seconds"] is None:
        lines.append(f"  kernel: not measured: {kernel['error']}")
    else:
        lines.append(f"  {'kernel, ' + kernel['tool']:30s} {_times(kernel, ops)}")
        lines.append(f"    ({kernel['method']})")
    for way, fig in result["model"].items():
        ratio = result["ratios"][way]
        lines.append(
            f"  {'model, ' + way:30s} {_times(fig, ops)}   ratio {_ratio(ratio)} "
            f"(cpu {_ratio(result['cpu_ratios'][way])}; {_target(target, ratio)})"
        )
    anchor = result["anchor_us_per_op"]
    if anchor is not None:
        vs = ", ".join(
            f"{way} {fig['seconds'] / ops * 1e6 / anchor:.1f}x"
            for way, fig in result["model"].items()
        )
        lines.append(
            f"  against kernel-oracle.md's anchor ({anchor:.2f} us/op, quiet machine): {vs}"
        )
    return "\n".join(lines)


def bench_main(
    run: Callable[[argparse.Namespace], dict[str, Any]],
    report: Callable[[dict[str, Any]], str],
    doc: str | None,
    add_args: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """The command line every benchmark module shares: run, print, optionally write JSON."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=MODEL_RUNS, help="model runs (median)")
    parser.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    if add_args is not None:
        add_args(parser)
    args = parser.parse_args()
    info = machine_info()
    print(describe_machine(info), flush=True)
    t = time.perf_counter()
    result = run(args)
    result["seconds"] = time.perf_counter() - t
    result["rss_peak"] = rss_bytes("VmHWM")
    result["machine"] = info
    result["command"] = " ".join([os.path.relpath(sys.executable), *sys.argv])
    print(report(result))
    print(
        f"  (benchmark wall time {result['seconds']:.1f} s, "
        f"peak RSS {result['rss_peak'] / MiB:.0f} MiB)"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
