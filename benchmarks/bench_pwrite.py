"""(b) pwrite 1 GiB in 1 MiB chunks on huge=never: model vs kernel.

Run: .venv/bin/python benchmarks/bench_pwrite.py [--mib N] [--runs N] [--json FILE]
The timed part is the pwrite calls into a new, empty file (every byte 0x5a).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from _common import PAGE, GiB, IoBench, MiB, bench_main, report_io_bench, run_io_bench

from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.fileops import WriteSource

if TYPE_CHECKING:
    import argparse

#: reference/kernel-oracle.md §3: write() of 1 GiB in 1 MiB chunks, 336.0 ms on huge=never
ANCHOR_US_PER_PAGE = 336.0e3 / (GiB // PAGE)
CHUNK = MiB
BYTE = 0x5A


def pwrite_file(task: vfs.Task, fd: int, size: int) -> None:
    """pwrite *size* bytes of BYTE in CHUNK-byte calls."""
    for offset in range(0, size, CHUNK):
        ret = vfs.sys_pwrite64(task, fd, WriteSource(CHUNK, byte=BYTE), offset)
        assert ret == CHUNK, ret


def pwrite_ops(size: int) -> list[dict[str, Any]]:
    """The same as trace ops on the handle ``f``."""
    return [
        {"op": "pwrite", "fd": "f", "offset": offset, "len": CHUNK, "byte": BYTE}
        for offset in range(0, size, CHUNK)
    ]


def trace_open() -> list[dict[str, Any]]:
    return [
        {"op": "mount", "huge": "never", "size": "1G"},
        {"op": "open", "path": "bench", "as": "f", "flags": ["O_RDWR", "O_CREAT"]},
    ]


def bench(size: int) -> IoBench:
    return IoBench(
        anchor_us_per_op=ANCHOR_US_PER_PAGE,
        key="b",
        name="pwrite",
        title=f"pwrite {size // MiB} MiB in 1 MiB chunks, huge=never",
        kernel_mode="pwrite",
        size=size,
        chunk=CHUNK,
        ops=size // PAGE,
        op_unit="page written",
        setup=lambda task, fd: None,
        work=lambda task, fd, state: pwrite_file(task, fd, size),
        trace_setup=trace_open,
        trace_work=lambda: pwrite_ops(size),
        notes=(f"{size // CHUNK} pwrite calls; figures per 4 KiB page written",),
    )


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mib", type=int, default=1024, help="bytes to write, in MiB")


def run(args: argparse.Namespace) -> dict[str, Any]:
    return run_io_bench(bench(args.mib * MiB), args.runs)


if __name__ == "__main__":
    bench_main(run, report_io_bench, __doc__, add_args)
