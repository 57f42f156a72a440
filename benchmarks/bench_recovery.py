"""(f) Recovery per 2 MiB extent: MADV_COLLAPSE of a file of small pages, model vs kernel.

Run: .venv/bin/python benchmarks/bench_recovery.py [--mib N] [--runs N] [--json FILE]

Both sides write the file in 1 MiB pwrites on a huge=advise mount (writes get small pages
there), map it shared at a 2 MiB boundary and then, timed, MADV_COLLAPSE each 2 MiB extent
in turn.  The kernel collapses by copying into a new THP (khugepaged's collapse_file); the
model runs the extent's recovery work synchronously (shmem/collapse.py): a fresh huge page,
populate migrating every small page into its slot of the new team, and the remap.  One op is
one extent.  No target: the issue asks for the figure and its ratio to the kernel (about
0.42 ms per 2 MiB in reference/kernel-oracle.md §3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from _common import IoBench, MiB, bench_main, report_io_bench, run_io_bench

from hugetmpfs.shmem import vfs, vfs_mmap
from hugetmpfs.shmem.fileops import WriteSource

if TYPE_CHECKING:
    import argparse

HUGE = 2 * MiB
CHUNK = MiB
BYTE = 0x5A
MADV_COLLAPSE = 25

#: reference/kernel-oracle.md §3: MADV_COLLAPSE of 256 MiB of small pages, 53.4 ms (128 extents)
ANCHOR_US_PER_EXTENT = 53.4e3 / 128


def bench(size: int) -> IoBench:
    def setup(task: vfs.Task, fd: int) -> int:
        for offset in range(0, size, CHUNK):
            assert vfs.sys_pwrite64(task, fd, WriteSource(CHUNK, byte=BYTE), offset) == CHUNK
        addr = vfs_mmap.sys_mmap(task, fd, 0, size, "rw", True)
        assert addr >= 0, addr
        assert addr % HUGE == 0, addr
        return addr

    def work(task: vfs.Task, fd: int, addr: int) -> None:
        for offset in range(0, size, HUGE):
            rc = vfs_mmap.sys_madvise(task, (addr, size), offset, HUGE, MADV_COLLAPSE)
            assert rc == 0, f"MADV_COLLAPSE at {offset}: {rc}"

    def trace_setup() -> list[dict[str, Any]]:
        return [
            {"op": "mount", "huge": "advise", "size": "1G"},
            {"op": "open", "path": "bench", "as": "f", "flags": ["O_RDWR", "O_CREAT"]},
            *({"op": "pwrite", "fd": "f", "offset": offset, "len": CHUNK, "byte": BYTE}
              for offset in range(0, size, CHUNK)),
            {"op": "mmap", "fd": "f", "as": "m", "offset": 0, "length": size, "prot": "rw",
             "shared": True},
        ]  # fmt: skip

    def trace_work() -> list[dict[str, Any]]:
        return [
            {"op": "madvise", "map": "m", "offset": offset, "len": HUGE,
             "advice": "MADV_COLLAPSE"}
            for offset in range(0, size, HUGE)
        ]  # fmt: skip

    return IoBench(
        key="f",
        name="recovery",
        title=f"MADV_COLLAPSE {size // MiB} MiB of small pages, 2 MiB at a time, huge=advise",
        kernel_mode="collapse",
        size=size,
        chunk=CHUNK,
        ops=size // HUGE,
        op_unit="2 MiB extent",
        setup=setup,
        work=work,
        trace_setup=trace_setup,
        trace_work=trace_work,
        anchor_us_per_op=ANCHOR_US_PER_EXTENT,
        huge="advise",
        target=None,
        notes=(
            "model: the recovery work of each extent run synchronously (a fresh huge page, "
            "populate migrating 512 small pages into their slots, remap)",
        ),
    )


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mib", type=int, default=256, help="file size in MiB (2 MiB steps)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.mib < 2 or args.mib % 2:
        raise SystemExit("--mib must be a positive multiple of 2")
    return run_io_bench(bench(args.mib * MiB), args.runs)


if __name__ == "__main__":
    bench_main(run, report_io_bench, __doc__, add_args)
