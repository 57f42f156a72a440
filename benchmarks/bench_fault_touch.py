"""(a) Fault in 1 GiB by touch (write 1 byte per 4 KiB page) on huge=never: model vs kernel.

Run: .venv/bin/python benchmarks/bench_fault_touch.py [--mib N] [--runs N] [--json FILE]
The timed part is the touch alone: the file is ftruncated and mapped MAP_SHARED first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from _common import PAGE, GiB, IoBench, MiB, bench_main, report_io_bench, run_io_bench

from hugetmpfs.shmem import vfs, vfs_mmap

if TYPE_CHECKING:
    import argparse


#: reference/kernel-oracle.md §3: 612.0 ms to fault in 1 GiB on huge=never (262,144 faults)
ANCHOR_US_PER_FAULT = 612.0e3 / (GiB // PAGE)


#: reference/kernel-oracle.md §3: 62.4 ms to fault in 1 GiB on huge=always (514 faults)
ANCHOR_US_PER_PAGE_HUGE = 62.4e3 / (GiB // PAGE)
HUGE_TARGET = 40.0  # the kernel makes 512 faults where the model fills 262 144 subpages


def bench(size: int, huge: str = "never") -> IoBench:
    def setup(task: vfs.Task, fd: int) -> int:
        assert vfs.sys_ftruncate(task, fd, size) == 0
        addr = vfs_mmap.sys_mmap(task, fd, 0, size, "rw", True)
        assert addr >= 0, addr
        return addr

    def work(task: vfs.Task, fd: int, addr: int) -> None:
        signal, done = vfs_mmap.sys_touch(task, addr, size, 0, size, PAGE, 1)
        assert signal is None, (signal, done)

    def trace_setup() -> list[dict[str, Any]]:
        return [
            {"op": "mount", "huge": huge, "size": "1G"},
            {"op": "open", "path": "bench", "as": "f", "flags": ["O_RDWR", "O_CREAT"]},
            {"op": "ftruncate", "fd": "f", "length": size},
            {"op": "mmap", "fd": "f", "as": "m", "offset": 0, "length": size, "prot": "rw",
             "shared": True},
        ]  # fmt: skip

    def trace_work() -> list[dict[str, Any]]:
        return [
            {"op": "touch", "map": "m", "offset": 0, "len": size, "stride": PAGE, "write": True,
             "byte": 1},
        ]  # fmt: skip

    never = huge == "never"
    return IoBench(
        anchor_us_per_op=ANCHOR_US_PER_FAULT if never else ANCHOR_US_PER_PAGE_HUGE,
        huge=huge,
        target=20.0 if never else HUGE_TARGET,
        key="a" if never else "e",
        name="fault_touch" if never else "fault_touch_huge",
        title=f"fault in {size // MiB} MiB by touch (1 byte per 4 KiB page), huge={huge}",
        kernel_mode="touch",
        size=size,
        chunk=PAGE,
        ops=size // PAGE,
        op_unit="page fault" if never else "4 KiB page",
        setup=setup,
        work=work,
        trace_setup=trace_setup,
        trace_work=trace_work,
    )


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mib", type=int, default=1024, help="bytes to fault in, in MiB")
    parser.add_argument(
        "--huge",
        default="never",
        choices=("never", "always"),
        help="the mount's huge= (always: benchmark (e), target 40x)",
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    return run_io_bench(bench(args.mib * MiB, args.huge), args.runs)


if __name__ == "__main__":
    bench_main(run, report_io_bench, __doc__, add_args)
