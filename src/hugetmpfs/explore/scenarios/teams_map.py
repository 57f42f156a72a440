"""Teams mapped by pmd and by ptes: faults, punch, munmap and reclaim's unmap racing one
another (patches 10, 11 and 15 of 31).

Each scenario works on one complete team of HPAGE_PMD_NR (8) pages, written before the
actors start, and names the guard whose absence it shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.explore.scenario import Budget, scenario
from hugetmpfs.explore.scenarios._setup import PAGE, PUNCH, written_file
from hugetmpfs.mm.filemap import lock_page, unlock_page
from hugetmpfs.mm.mm_types import MMStruct
from hugetmpfs.mm.rmap import TTU_IGNORE_ACCESS, TTU_UNMAP, try_to_unmap
from hugetmpfs.mm.swap import lru_add_drain_all
from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.fileops import WriteSource
from hugetmpfs.shmem.shrinker import shmem_shrink_hugehole
from hugetmpfs.shmem.team import SHMEM_TAG_HUGEHOLE
from hugetmpfs.shmem.vfs_mmap import sys_madvise, sys_mmap, sys_munmap, sys_touch

if TYPE_CHECKING:
    from hugetmpfs.shmem.machine import Machine

MADV_DONTNEED = 4


def _head(task: vfs.Task, fd: int) -> int:
    page = task.files[fd].inode.mapping.page_tree.lookup(0)
    assert isinstance(page, int)
    return page


@scenario(
    "huge-fault-vs-cow-fault",
    guard="base/R10.1",
    find=Budget("dfs", 50, 2),
    clean=Budget("dfs", 120, 2),
)
def huge_fault_vs_cow_fault(m: Machine) -> None:
    """base/R10.1: a read fault maps the team by pmd while a write fault on the same
    private mapping (COW: always small) puts a pte table under the same empty pmd."""
    nr = m.HPAGE_PMD_NR
    task, fd = written_file(m, range(m.HPAGE_PMD_NR))
    addr = sys_mmap(task, fd, 0, nr * PAGE, "rw", False)
    m.engine.spawn(sys_touch, task, addr, nr * PAGE, 0, 1, 1, None, name="read", cpu=0)
    m.engine.spawn(sys_touch, task, addr, nr * PAGE, 3 * PAGE, 1, 1, 0x7A, name="cow", cpu=1)


@scenario(
    "punch-vs-huge-fault",
    guard="base/R11",
    find=Budget("random", 300, 2),
    clean=Budget("dfs", 120, 2),
)
def punch_vs_huge_fault(m: Machine) -> None:
    """base/R11 (Andres' race): a punch of the head unmaps the range while nothing is
    mapped, then a fault maps the team by pmd before the punch disbands it."""
    nr = m.HPAGE_PMD_NR
    task, fd = written_file(m, range(m.HPAGE_PMD_NR))
    addr = sys_mmap(task, fd, 0, nr * PAGE, "rw", True)
    m.engine.spawn(vfs.sys_fallocate, task, fd, PUNCH, 0, PAGE, name="punch", cpu=0)
    m.engine.spawn(sys_touch, task, addr, nr * PAGE, 0, 1, 1, None, name="fault", cpu=1)


@scenario(
    "reclaim-unmap-vs-munmap",
    guard="base/R10.3",
    find=Budget("dfs", 50, 2),
    clean=Budget("dfs", 100, 2),
)
def reclaim_unmap_vs_munmap(m: Machine) -> None:
    """base/R10.3: reclaim's try_to_unmap finds the team's huge pmd and drops the pmd
    lock; munmap zaps the pmd before reclaim takes it down."""
    nr = m.HPAGE_PMD_NR
    task, fd = written_file(m, range(m.HPAGE_PMD_NR))
    addr = sys_mmap(task, fd, 0, nr * PAGE, "rw", True)
    sys_touch(task, addr, nr * PAGE, 0, 1, 1, None)  # mapped by pmd
    head = _head(task, fd)

    def reclaim() -> None:
        lock_page(m, head)
        try_to_unmap(m, head, TTU_UNMAP | TTU_IGNORE_ACCESS)
        unlock_page(m, head)

    m.engine.spawn(reclaim, name="reclaim", cpu=0)
    m.engine.spawn(sys_munmap, task, addr, nr * PAGE, name="munmap", cpu=1)


@scenario(
    "pte-map-vs-disband",
    guard="base/R15.2",
    find=Budget("dfs", 100, 2),
    clean=Budget("dfs", 120, 2),
)
def pte_map_vs_disband(m: Machine) -> object:
    """base/R15.2: a small fault maps a tail (its pte count goes to the head's usage)
    while a punch of another tail disbands the team: the tail still shows PageTeam."""
    task, fd = written_file(m, range(m.HPAGE_PMD_NR))
    head = _head(task, fd)
    # The upper half of the extent only: mapped small, and fault-around leaves the head
    # (whose lock the punch takes by trylock) alone.
    half = m.HPAGE_PMD_NR // 2 * PAGE
    addr = sys_mmap(task, fd, half, half, "rw", True)
    m.engine.spawn(vfs.sys_fallocate, task, fd, PUNCH, PAGE, PAGE, name="punch", cpu=0)
    m.engine.spawn(sys_touch, task, addr, half, 2 * PAGE, 1, 1, None, name="fault", cpu=1)

    def end_check(m: Machine) -> list[str]:
        # I12: a disbanded head keeps team_usage 1 (it is not in the swap cache here).
        if m.private[head] != 1:
            return [f"disbanded head {head}: ->private {m.private[head]:#x}, not 1 (I12)"]
        return []

    return end_check


@scenario(
    "remap-vs-punch",
    guard="base/R10.2",
    cpus=3,
    find=Budget("dfs", 150, 2),
    clean=Budget("dfs", 120, 2),
)
def remap_vs_punch(m: Machine) -> None:
    """base/R10.2: MADV_DONTNEED of one page splits the team's huge pmd into ptes while a
    punch of the head (whose range unmap ran before the huge fault mapped the team)
    disbands it (the head, locked by lock_page, not trylock: no base/R4.4 retry spin)."""
    nr = m.HPAGE_PMD_NR
    task, fd = written_file(m, range(m.HPAGE_PMD_NR))
    addr = sys_mmap(task, fd, 0, nr * PAGE, "rw", True)

    def fault_then_split() -> None:
        sys_touch(task, addr, nr * PAGE, 0, 1, 1, None)
        sys_madvise(task, (addr, nr * PAGE), PAGE, PAGE, MADV_DONTNEED)

    m.engine.spawn(vfs.sys_fallocate, task, fd, PUNCH, 0, PAGE, name="punch", cpu=0)
    m.engine.spawn(fault_then_split, name="fault+split", cpu=1)


@scenario("shrinklist-vs-new-team", guard=None, find=Budget("dfs", 50, 2))
def shrinklist_vs_new_team(m: Machine) -> object:
    """base/R6.3 (unguarded): the shrinker unlinks an inode whose teams are all complete
    while a write starts a new team in it; the writer tests the list unlocked, sees the
    inode still there, and the inode leaves the list with a HUGEHOLE-tagged team (I32)."""
    nr = m.HPAGE_PMD_NR
    task, fd = written_file(m, range(nr))  # complete: no tag left, but the inode stays listed
    inode = task.files[fd].inode
    m.engine.spawn(shmem_shrink_hugehole, m, None, name="shrinker", cpu=0)
    src = WriteSource(PAGE, byte=0x7A)
    m.engine.spawn(vfs.sys_pwrite64, task, fd, src, nr * PAGE, name="write", cpu=1)

    def end_check(m: Machine) -> list[str]:
        tagged = inode.mapping.page_tree.tag_count[SHMEM_TAG_HUGEHOLE]
        if tagged and not inode.on_shrinklist:
            return [f"inode with {tagged} HUGEHOLE-tagged team(s) is off shmem_shrinklist (I32)"]
        return []

    return end_check


@scenario(
    "shrinker-to-team-fills",
    guard="base/R6.5",
    find=Budget("dfs", 50, 2),
    clean=Budget("dfs", 150, 2),
)
def shrinker_to_team_fills(m: Machine) -> None:
    """base/R6.5: the shrinker chooses a FROM team with one member and a TO team with one
    hole; a write fills that hole before the shrinker disbands TO."""
    nr = m.HPAGE_PMD_NR
    task = vfs.Task(m, m.mounts[0], MMStruct(m))
    fd = vfs.sys_open(task, "f", vfs.O_RDWR | vfs.O_CREAT)
    for index in [0, *range(nr, 2 * nr - 1)]:  # FROM: index 0; TO: all but its last
        vfs.sys_pwrite64(task, fd, WriteSource(PAGE, byte=0x61), index * PAGE)
    lru_add_drain_all(m)
    m.engine.spawn(shmem_shrink_hugehole, m, None, name="shrinker", cpu=0)
    src = WriteSource(PAGE, byte=0x7A)
    m.engine.spawn(vfs.sys_pwrite64, task, fd, src, (2 * nr - 1) * PAGE, name="write", cpu=1)
