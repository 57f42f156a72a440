"""The whole simulated machine: memory, the engine, and tmpfs with its global state.

``Machine`` is what traces, scenarios and workloads build.  Everything the kernel keeps in
globals (shmem_shrinklist, the recovery list, sysctls) hangs off it, so two machines can
live in one process and ``--workers`` can fork safely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hugetmpfs.mm.machine import PAGE_SIZE, MemMachine
from hugetmpfs.mm.pressure import init_pressure
from hugetmpfs.mm.swap_state import init_swap_cache
from hugetmpfs.mm.swapfile import init_swap
from hugetmpfs.mm.vmscan import init_reclaim
from hugetmpfs.shmem.inode import HUGE_MODES, ShmemSbInfo
from hugetmpfs.shmem.recovery import init_recovery
from hugetmpfs.shmem.recovery_populate import (
    shmem_recovery_migrate_page,
    shmem_recovery_page_moved,
)
from hugetmpfs.shmem.recovery_stats import RecoveryStats
from hugetmpfs.shmem.shrinker import SHRINK_STOP, shmem_hugehole_shrinker, shmem_shrink_hugehole
from hugetmpfs.shmem.swap import shmem_free_swap, shmem_swapin_getpage, shmem_writepage
from hugetmpfs.sim import Engine, RoundRobinStrategy, SpinLock

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.shmem.inode import ShmemInodeInfo
    from hugetmpfs.sim.strategy.base import Strategy


@dataclass(frozen=True)
class MachineConfig:
    """What a ``machine`` trace line (DESIGN.md §3.4) or a scenario sets."""

    ram: int = 2 << 30
    swap: int = 0
    cpus: int = 2
    seed: int = 0
    hpage_nr: int = 512
    variant: str = "v24"
    behaviours: tuple[str, ...] = ()
    guards_off: tuple[str, ...] = ()
    lockdep: bool = True
    # kswapd starts asleep; False starts it runnable, as schedules of format 1 were recorded
    kswapd_asleep: bool = True


@dataclass
class Sysctls:
    """The vm.* sysctls the model reads (values as the kernel stores them)."""

    shmem_huge: int = 0
    shmem_huge_recoveries: int = 8
    shmem_huge_gfpmask: int = 0x4612CA
    shmem_recovery_gfpmask: int = 0x24602CA
    min_free_kbytes: int | None = None
    swappiness: int = 60


class Machine(MemMachine):
    """A simulated machine running huge tmpfs."""

    def __init__(self, config: MachineConfig, strategy: Strategy | None = None) -> None:
        engine = Engine(
            strategy or RoundRobinStrategy(config.seed), cpus=config.cpus, lockdep=config.lockdep
        )
        super().__init__(engine, config.ram, config.cpus, config.hpage_nr)
        self.config = config
        self.sysctl = Sysctls()
        self.variant = config.variant
        self.guards_off = frozenset(config.guards_off)
        self.behaviours = frozenset(config.behaviours)
        self.mounts: list[ShmemSbInfo] = []
        init_swap(self, config.swap)
        init_swap_cache(self)
        init_reclaim(self, config.kswapd_asleep)
        init_pressure(self)
        self.writepage = shmem_writepage
        self.shmem_swapin = shmem_swapin_getpage
        self.shmem_free_swap = shmem_free_swap
        self.shmem_evicted = _forget_inode
        # patch 06/31: inodes that may hold teams with holes, for the hugehole shrinker
        self.shrinklist: list[ShmemInodeInfo] = []
        self.shrinklist_lock = SpinLock(self.engine, "shmem_shrinklist_lock")
        self.SHRINK_STOP = SHRINK_STOP
        self.shrink_hugehole: Callable[[Machine, object], int] | None = shmem_shrink_hugehole
        self.hugehole_deferred = 0  # the shrinker's nr_deferred
        self.shrinkers.append(shmem_hugehole_shrinker)
        self.recovery_stats = RecoveryStats()  # patch 28/31's debugfs counters
        init_recovery(self)
        # patch 29/31: migrate_page_move_mapping's call back into shmem (v29 only uses it)
        self.shmem_recovery_migrate_page = shmem_recovery_migrate_page
        # model only: v24 recovery's filled_head, set as migration moves a page into a head
        self.page_moved = shmem_recovery_page_moved

    def set_sysctl(self, name: str, value: int) -> int:
        from hugetmpfs.shmem.sysctl import set_sysctl

        return set_sysctl(self, name, value)

    def meminfo(self) -> dict[str, int]:
        from hugetmpfs.mm.meminfo import meminfo

        return meminfo(self)

    def guard_on(self, name: str) -> bool:
        """Whether race guard *name* is active (every guard is, unless switched off)."""
        return name not in self.guards_off

    def mount(self, huge: str, size: int) -> ShmemSbInfo:
        """A new tmpfs mount with huge=*huge* and size=*size* bytes (rounded up to pages)."""
        sb = ShmemSbInfo(self, (size + PAGE_SIZE - 1) // PAGE_SIZE, HUGE_MODES[huge])
        self.mounts.append(sb)
        return sb


def _forget_inode(m: Machine, inode: ShmemInodeInfo) -> None:
    """Eviction's last step: nothing else holds the inode."""
