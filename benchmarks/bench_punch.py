"""(c) Punch every other 4 KiB over 256 MiB (PUNCH_HOLE | KEEP_SIZE) on huge=never.

Run: .venv/bin/python benchmarks/bench_punch.py [--mib N] [--runs N] [--json FILE]
The file is written first with pwrite in 1 MiB chunks (untimed); the timed part is the
size / 8 KiB fallocate calls, each punching one 4 KiB page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from _common import FALLOC_PUNCH_KEEP, PAGE, IoBench, MiB, bench_main, report_io_bench, run_io_bench
from bench_pwrite import CHUNK, pwrite_file, pwrite_ops, trace_open

from hugetmpfs.shmem import vfs

if TYPE_CHECKING:
    import argparse


#: reference/kernel-oracle.md §3: 32,768 punches over 256 MiB, 53.5 ms on huge=never
ANCHOR_US_PER_PUNCH = 53.5e3 / 32768


def punch_every_other(task: vfs.Task, fd: int, size: int) -> None:
    for offset in range(0, size, 2 * PAGE):
        ret = vfs.sys_fallocate(task, fd, FALLOC_PUNCH_KEEP, offset, PAGE)
        assert ret == 0, ret


def punch_ops(size: int) -> list[dict[str, Any]]:
    return [
        {"op": "fallocate", "fd": "f", "mode": ["PUNCH_HOLE", "KEEP_SIZE"], "offset": offset,
         "len": PAGE}
        for offset in range(0, size, 2 * PAGE)
    ]  # fmt: skip


def bench(size: int) -> IoBench:
    return IoBench(
        anchor_us_per_op=ANCHOR_US_PER_PUNCH,
        key="c",
        name="punch",
        title=f"punch every other 4 KiB over {size // MiB} MiB, huge=never",
        kernel_mode="punch",
        size=size,
        chunk=CHUNK,
        ops=size // (2 * PAGE),
        op_unit="fallocate(PUNCH_HOLE|KEEP_SIZE) of 4 KiB",
        setup=lambda task, fd: pwrite_file(task, fd, size),
        work=lambda task, fd, state: punch_every_other(task, fd, size),
        trace_setup=lambda: trace_open() + pwrite_ops(size),
        trace_work=lambda: punch_ops(size),
    )


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mib", type=int, default=256, help="file size, in MiB")


def run(args: argparse.Namespace) -> dict[str, Any]:
    return run_io_bench(bench(args.mib * MiB), args.runs)


if __name__ == "__main__":
    bench_main(run, report_io_bench, __doc__, add_args)
