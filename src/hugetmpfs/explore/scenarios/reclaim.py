"""Teams under reclaim: the hugehole shrinker and the LRU weight transfer (patches 06, 13)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.explore.scenario import Budget, scenario
from hugetmpfs.explore.scenarios._setup import PAGE, PUNCH, written_file
from hugetmpfs.mm.swap import isolate_lru_page
from hugetmpfs.mm.vmscan import reclaim_pages
from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.shrinker import shmem_shrink_hugehole
from hugetmpfs.shmem.vfs_mmap import sys_mmap, sys_touch

if TYPE_CHECKING:
    from hugetmpfs.shmem.machine import Machine


@scenario("shrinker-vs-fault", guard=None, find=Budget("random", 300, 2))
def shrinker_vs_fault(m: Machine) -> None:
    """base/Q-1: the shrinker chooses a team with one hole; a fault fills it, completes the
    team and maps it by pmd before the shrinker disbands it (no head lock, no recheck)."""
    nr = m.HPAGE_PMD_NR
    task, fd = written_file(m, list(range(1, nr)))
    vfs.sys_ftruncate(task, fd, nr * PAGE)
    addr = sys_mmap(task, fd, 0, nr * PAGE, "rw", True)
    m.engine.spawn(shmem_shrink_hugehole, m, None, name="shrinker", cpu=0)
    m.engine.spawn(sys_touch, task, addr, nr * PAGE, 0, 1, 1, None, name="fault", cpu=1)


@scenario(
    "putback-vs-disband",
    guard="base/R13.1",
    swap=4 << 20,
    find=Budget("dfs", 300, 2),
    clean=Budget("dfs", 100, 2),
)
def putback_vs_disband(m: Machine) -> None:
    """base/R13.1: reclaim parks team tails, moving their LRU weight to the head, while a
    punch of the head disbands the team."""
    task, fd = written_file(m, [0, 1, 2, 3])
    tree = task.files[fd].inode.mapping.page_tree
    tails = [tree.lookup(index) for index in (1, 2, 3)]

    def reclaim() -> None:
        for page in tails:
            if isolate_lru_page(m, page) == 0:  # type: ignore[arg-type]
                reclaim_pages(m, [page])  # type: ignore[list-item]

    m.engine.spawn(reclaim, name="reclaim", cpu=0)
    m.engine.spawn(vfs.sys_fallocate, task, fd, PUNCH, 0, PAGE, name="punch", cpu=1)
