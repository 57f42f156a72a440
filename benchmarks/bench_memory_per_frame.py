"""(d) Host memory per frame: a 16 GiB model machine with its RAM filled by tmpfs pages.

Run: .venv/bin/python benchmarks/bench_memory_per_frame.py [--ram-gib G] [--fill-gib G] [--json F]
Through the Python API, in an engine actor: VmRSS (/proc/self/status) is read before the
machine is created, after it is created, and after a huge=never file of --fill-gib GiB was
written with pwrite in 1 MiB chunks of one repeated byte (so every page's content is the
one-byte form, no per-page bytearray).  Bytes per frame = RSS growth / frames of the machine.
Run it in a process of its own (run_all.py does): memory freed by earlier work would be
reused and hide part of the growth.
"""

from __future__ import annotations

import gc
import time
from typing import TYPE_CHECKING, Any

from _common import GiB, MiB, bench_main, in_actor, model_task, rss_bytes
from bench_pwrite import CHUNK, pwrite_file

from hugetmpfs.shmem import vfs

if TYPE_CHECKING:
    import argparse

TARGET_BYTES_PER_FRAME = 64
FRAME_ARRAYS = (
    "flags",
    "refcount",
    "mapcount",
    "mapping",
    "index",
    "private",
    "lru_next",
    "lru_prev",
    "content",
)


def settled_rss() -> int:
    gc.collect()
    return rss_bytes()


def fill(task: vfs.Task, size: int) -> float:
    """Write the file in the task actor; the wall seconds it took."""

    def body() -> float:
        fd = vfs.sys_open(task, "fill", vfs.O_RDWR | vfs.O_CREAT)
        t = time.perf_counter()
        pwrite_file(task, fd, size)
        return time.perf_counter() - t

    return in_actor(task.m, body)


def measure(ram: int, size: int) -> dict[str, Any]:
    before = settled_rss()
    t = time.perf_counter()
    task = model_task(ram, ram)
    wall_create = time.perf_counter() - t
    created = settled_rss()
    wall_fill = fill(task, size)
    filled = settled_rss()
    m = task.m
    frames, pages = m.nr_frames, size // 4096
    arrays = sum(len(a) * a.itemsize for a in (getattr(m, name) for name in FRAME_ARRAYS))
    shmem_kib = m.meminfo()["Shmem"]
    assert shmem_kib * 1024 == size, (shmem_kib, size)
    per_frame = (filled - before) / frames
    return {
        "ram_bytes": ram,
        "fill_bytes": size,
        "frames": frames,
        "pages_filled": pages,
        "rss_before": before,
        "rss_after_create": created,
        "rss_after_fill": filled,
        "rss_peak": rss_bytes("VmHWM"),
        "bytes_per_frame": per_frame,
        "bytes_per_frame_at_create": (created - before) / frames,
        "frame_arrays_per_frame": arrays / frames,
        "bytes_per_filled_page": (filled - created) / pages,
        "target_bytes_per_frame": TARGET_BYTES_PER_FRAME,
        "meets_target": per_frame <= TARGET_BYTES_PER_FRAME,
        "wall_create": wall_create,
        "wall_fill": wall_fill,
        "fill_us_per_page": wall_fill / pages * 1e6,
        "how": "vfs.sys_pwrite64 in 1 MiB chunks of byte 0x5a, in an engine actor (realistic), "
        "huge=never mount of the RAM's size; RSS from /proc/self/status VmRSS after gc.collect()",
    }


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ram-gib", type=float, default=16, help="model RAM, GiB")
    parser.add_argument("--fill-gib", type=float, default=15.5, help="file size, GiB")


def run(args: argparse.Namespace) -> dict[str, Any]:
    ram = int(args.ram_gib * GiB)
    size = int(args.fill_gib * GiB) // CHUNK * CHUNK
    result = measure(ram, size)
    result.update(key="d", name="memory_per_frame", title=title(result))
    return result


def title(result: dict[str, Any]) -> str:
    return (
        f"host memory per frame, {result['ram_bytes'] / GiB:g} GiB machine, "
        f"{result['fill_bytes'] / GiB:g} GiB of one-byte tmpfs pages"
    )


def report(result: dict[str, Any]) -> str:
    ok = "ok" if result["meets_target"] else "MISSED"
    return "\n".join(
        [
            f"(d) {result['title']}: {result['frames']} frames",
            f"  bytes per frame            {result['bytes_per_frame']:8.1f}   "
            f"(target <= {result['target_bytes_per_frame']}: {ok})",
            f"    at machine creation      {result['bytes_per_frame_at_create']:8.1f}   "
            f"(per-frame arrays: {result['frame_arrays_per_frame']:.1f})",
            f"    per filled page          {result['bytes_per_filled_page']:8.1f}",
            "  RSS before / created / filled / peak: "
            + " / ".join(
                f"{result[k] / MiB:.0f} MiB"
                for k in ("rss_before", "rss_after_create", "rss_after_fill", "rss_peak")
            ),
            f"  wall: create {result['wall_create']:.2f} s, fill {result['wall_fill']:.1f} s "
            f"({result['fill_us_per_page']:.2f} us/page)",
        ]
    )


if __name__ == "__main__":
    bench_main(run, report, __doc__, add_args)
