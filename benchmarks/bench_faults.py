"""Fault-path cost on huge=never: first-touch faults, fault-around, mapped accesses, munmap.

Run: .venv/bin/python benchmarks/bench_faults.py [MiB] [repeats]
Each figure is the best of *repeats* runs (the machine is shared), in microseconds; the
first-touch fault is split into shmem's ->fault (getpage) and the rest (the mm layer:
mmap_sem, VMA lookup, fault dispatch, pte table, pte lock, rmap, the access itself).
The kernel's first-touch fault costs 2.3 us (DESIGN.md §5, 428k faults/s).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from hugetmpfs.mm.fault import access_address, access_range
from hugetmpfs.mm.mm_types import FMODE_READ, FMODE_WRITE, MMStruct
from hugetmpfs.mm.mmap import MAP_SHARED, PROT_READ, PROT_WRITE, vm_mmap_pgoff, vm_munmap
from hugetmpfs.shmem import getpage
from hugetmpfs.shmem.inode import ShmemInodeInfo
from hugetmpfs.shmem.machine import Machine, MachineConfig

PAGE = 4096


class TimedVmOps:
    """shmem_vm_ops with the time spent in ->fault added up."""

    def __init__(self) -> None:
        self.spent = 0.0

    def fault(self, m: Machine, vma: Any, vmf: Any) -> int:
        t = time.perf_counter()
        ret = getpage.shmem_fault(m, vma, vmf)
        self.spent += time.perf_counter() - t
        return ret

    def map_pages(self, m: Machine, vma: Any, vmf: Any, start: int, end: int) -> int | None:
        return getpage.shmem_vm_ops.map_pages(m, vma, vmf, start, end)


class File:
    """Just enough of shmem's struct file to map it."""

    def __init__(self, inode: ShmemInodeInfo, vm_ops: TimedVmOps) -> None:
        self.f_mode = FMODE_READ | FMODE_WRITE
        self.f_mapping = inode.mapping
        self.vm_ops = vm_ops

    def mmap(self, m: Machine, vma: Any) -> int:
        vma.vm_ops = self.vm_ops
        return 0


def run(mib: int, lockdep: bool) -> dict[str, float]:
    m = Machine(MachineConfig(ram=(mib + 256) << 20, lockdep=lockdep))
    inode = ShmemInodeInfo(m, m.mount("never", (mib + 64) << 20))
    inode.i_size = mib << 20
    ops = TimedVmOps()
    file = File(inode, ops)
    mm = MMStruct(m)
    n = (mib << 20) // PAGE
    out: dict[str, float] = {}

    def timed(name: str, count: int, fn: Any) -> None:
        t = time.perf_counter()
        fn()
        out[name] = (time.perf_counter() - t) / count * 1e6

    def body() -> None:
        rw = PROT_READ | PROT_WRITE
        addr = vm_mmap_pgoff(m, mm, file, 0, mib << 20, rw, MAP_SHARED, 0)
        timed(
            "first-touch write fault",
            n,
            lambda: [access_address(m, mm, addr + k * PAGE, True, 0) for k in range(n)],
        )
        out["  of which shmem ->fault"] = ops.spent / n * 1e6
        out["  of which the mm layer"] = out["first-touch write fault"] - ops.spent / n * 1e6
        timed(
            "store to a mapped page",
            n,
            lambda: [access_address(m, mm, addr + k * PAGE + 8, True, 0) for k in range(n)],
        )
        timed(
            "load from a mapped page",
            n,
            lambda: [access_address(m, mm, addr + k * PAGE + 8, False) for k in range(n)],
        )
        timed(
            "whole-page store, 4096 accesses",
            n // 16,
            lambda: [
                access_range(m, mm, addr + k * PAGE, PAGE, 1, True, 3) for k in range(n // 16)
            ],
        )
        vm_munmap(m, mm, addr, mib << 20)
        addr = vm_mmap_pgoff(m, mm, file, 0, mib << 20, PROT_READ, MAP_SHARED, 0)
        timed(
            "load, cached file (1 fault per 16 pages)",
            n,
            lambda: [access_address(m, mm, addr + k * PAGE, False) for k in range(n)],
        )
        timed("munmap, per mapped page", n, lambda: vm_munmap(m, mm, addr, mib << 20))

    m.engine.spawn(body, name="task")
    assert m.engine.run() is None
    return out


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    for lockdep in (True, False):
        runs = [run(mib, lockdep) for _ in range(repeats)]
        print(f"{mib} MiB in an actor, lockdep {'on' if lockdep else 'off'}, best of {repeats}:")
        for name in runs[0]:
            print(f"  {name:45s} {min(r[name] for r in runs):7.2f} us")


if __name__ == "__main__":
    main()
