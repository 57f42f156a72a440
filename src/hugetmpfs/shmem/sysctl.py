"""The vm.* sysctls a trace may set (DESIGN.md §3.4): names as under /proc/sys, with dots.

Models: kernel/sysctl.c entries added by patches 03, 23 and 30 of 31 (vm.shmem_huge,
vm.shmem_huge_recoveries, vm.shmem_huge_gfpmask, vm.shmem_recovery_gfpmask), plus the
standard vm.min_free_kbytes and vm.swappiness the model reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.page_alloc import setup_per_zone_wmarks

if TYPE_CHECKING:
    from hugetmpfs.shmem.machine import Machine

ENOENT, EINVAL = 2, 22
INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1


def _shmem_huge(m: Machine, value: int) -> int:
    if not -1 <= value <= 2:  # SHMEM_HUGE_DENY .. SHMEM_HUGE_FORCE
        return -EINVAL
    m.sysctl.shmem_huge = value
    return 0


def _plain_int(attr: str, lo: int = INT_MIN, hi: int = INT_MAX):
    def handler(m: Machine, value: int) -> int:
        if not lo <= value <= hi:
            return -EINVAL
        setattr(m.sysctl, attr, value)
        return 0

    return handler


def _min_free_kbytes(m: Machine, value: int) -> int:
    if not 0 <= value <= INT_MAX:
        return -EINVAL
    m.sysctl.min_free_kbytes = value
    setup_per_zone_wmarks(m, value)
    return 0


SYSCTLS = {
    "vm.shmem_huge": _shmem_huge,
    # proc_dointvec with no bounds: any int, negative included (see docs on its meaning)
    "vm.shmem_huge_recoveries": _plain_int("shmem_huge_recoveries"),
    "vm.shmem_huge_gfpmask": _plain_int("shmem_huge_gfpmask"),
    "vm.shmem_recovery_gfpmask": _plain_int("shmem_recovery_gfpmask"),
    "vm.min_free_kbytes": _min_free_kbytes,
    "vm.swappiness": _plain_int("swappiness", 0, 200),
}


def set_sysctl(m: Machine, name: str, value: int) -> int:
    """Write a sysctl: 0, -ENOENT for an unknown name, -EINVAL for a bad value."""
    handler = SYSCTLS.get(name)
    if handler is None:
        return -ENOENT
    return handler(m, value)
