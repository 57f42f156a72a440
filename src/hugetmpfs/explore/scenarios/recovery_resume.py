"""Recovery racing the resume, shrinker and fault side (patches 23–29 of 31): a work that
resumes a tagged partial team while the hugehole shrinker takes it (R10), a fault that
gives the extent a second team while recovery's own is still private (R5), and a punch
that disbands the team while its pages are migrated into it (R9).

As in explore/scenarios/recovery.py, the work is a kworker on CPU 0 and the actor it races
with runs on CPU 1; each scenario names the guard whose absence it shows.  R10 and R9 are
shown on v29 (``--variant v29``): see tests/scenarios/test_recovery_resume_races.py for why
not on v24.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.explore.scenario import Budget, scenario
from hugetmpfs.explore.scenarios._setup import PAGE, PUNCH, written_file
from hugetmpfs.explore.scenarios.recovery import FIX, queue_work, reads_back, small_extent
from hugetmpfs.mm.page_flags import PG_team
from hugetmpfs.mm.radix_tree import radix_tree_exceptional_entry
from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.fileops import WriteSource
from hugetmpfs.shmem.shrinker import shmem_shrink_hugehole
from hugetmpfs.shmem.vfs_mmap import sys_mmap, sys_touch

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.shmem.inode import ShmemInodeInfo
    from hugetmpfs.shmem.machine import Machine

NEW = 0x7A  # what the racing writer stores
# a team the shrinker disbanded leaves its members as small pages, the head's pte-mapped:
# a fresh recovery then migrates it into the head slot, where v24 counts its pte twice
# (recovery/R4c, unguarded); with its fix only the guarded race is at stake
FIX_R4C = (*FIX, "R4c-fix")


def partial_team(m: Machine, members: int) -> tuple[vfs.Task, int]:
    """A task and a file whose first extent is a team of its first *members* pages (byte
    0x61 + index), written on the huge mount: the allocator tagged the team HUGEHOLE and
    put the inode on the shrink list.  The members are mapped by ptes, without a work."""
    nr = m.HPAGE_PMD_NR
    task, fd = written_file(m, range(members))
    addr = sys_mmap(task, fd, 0, nr * PAGE, "rw", True)
    # huge mappings denied while touching: a fault would populate the team and map it by
    # pmd; recoveries off: no fault queues a work of its own
    limit, m.sysctl.shmem_huge_recoveries = m.sysctl.shmem_huge_recoveries, 0
    m.sysctl.shmem_huge = -1
    sys_touch(task, addr, nr * PAGE, 0, members * PAGE, PAGE, None)
    m.sysctl.shmem_huge = 0
    m.sysctl.shmem_huge_recoveries = limit
    return task, fd


def live_teams(inode: ShmemInodeInfo) -> Callable[[Machine], list[str]]:
    """An end check: the extent's cached pages belong to one live team at most (I6)."""

    def check(m: Machine) -> list[str]:
        heads = set()
        for index in range(m.HPAGE_PMD_NR):
            page = inode.mapping.page_tree.lookup(index)
            if page is None or radix_tree_exceptional_entry(page):
                continue
            head = page - index
            if m.flags[page] & PG_team and m.flags[head] & PG_team:
                heads.add(head)
        if len(heads) > 1:
            return [f"I6: {len(heads)} live teams in one extent (heads {sorted(heads)})"]
        return []

    return check


@scenario(
    "recovery-resume-vs-shrinker",
    guard="recovery/R10",
    recovery=True,
    behaviours=FIX_R4C,
    variant="v29",
    find=Budget("dfs", 60, 1),
    clean=Budget("dfs", 120, 2),
)
def recovery_resume_vs_shrinker(m: Machine) -> object:
    """recovery/R10: the hugehole shrinker has chosen the tagged partial team and holds the
    shrink-list lock on its way to disbanding it, while a work clears the tag and resumes
    the team: without the barrier the work completes it and maps it by pmd, and the
    shrinker then disbands a pmd-mapped team (base/I16)."""
    members = m.HPAGE_PMD_NR - 2
    task, fd = partial_team(m, members)
    queue_work(m, task, fd)
    m.engine.spawn(shmem_shrink_hugehole, m, None, name="shrinker", cpu=1)
    return reads_back(task, fd, lambda i: 0x61 + i if i < members else None)


@scenario(
    "recovery-vs-fault-new-team",
    guard="recovery/R5",
    recovery=True,
    behaviours=FIX,
    find=Budget("dfs", 100, 1),
    clean=Budget("dfs", 80, 2),
)
def recovery_vs_fault_new_team(m: Machine) -> object:
    """recovery/R5: while the work's fresh huge page is still private (or exposed, its head
    not yet in the cache), the extent is punched and written again; the write finds the
    extent empty and allocates a team of its own, which populate then meets at that slot:
    two teams for one extent."""
    nr = m.HPAGE_PMD_NR
    # one small page (the last), so that the work is short and the window early in it
    task, fd, _ = small_extent(m, nr - 1)
    inode = task.files[fd].inode
    queue_work(m, task, fd, nr - 1)

    def punch_and_write() -> None:
        vfs.sys_fallocate(task, fd, PUNCH, 0, nr * PAGE)
        vfs.sys_pwrite64(task, fd, WriteSource(1, byte=NEW), 5 * PAGE)

    m.engine.spawn(punch_and_write, name="punch+write", cpu=1)
    return live_teams(inode)


@scenario(
    "recovery-migrate-vs-punch-head",
    guard="recovery/R9",
    recovery=True,
    behaviours=FIX,
    variant="v29",
    find=Budget("dfs", 50, 1),
    clean=Budget("dfs", 70, 2),
)
def recovery_migrate_vs_punch_head(m: Machine) -> object:
    """recovery/R9: the head, instantiated in place, is punched while the other pages are
    on their way into their slots: the team is disbanded under populate, and the v29
    migration callback, the last check, must not enteam a page into the dead team."""
    task, fd, _ = small_extent(m)
    queue_work(m, task, fd)
    m.engine.spawn(vfs.sys_fallocate, task, fd, PUNCH, 0, PAGE, name="punch 0", cpu=1)
    return reads_back(task, fd, lambda i: 0x61 + i if i else 0)
