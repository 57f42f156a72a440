"""Recovery racing the other paths (patches 23–29 of 31): one extent of HPAGE_PMD_NR (8) pages,
its first a hole and the others small pages written while huge pages were denied and mapped by
ptes, so that a recovery work has everything to do: take a fresh huge page, instantiate the
head in place, migrate every other page into its slot, remap by pmd.

Each scenario queues that work (a kworker on CPU 0) and starts the actor it races with on
CPU 1, and names the guard whose absence it shows; an end check reads the file back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.check import register_owner
from hugetmpfs.explore.scenario import Budget, scenario
from hugetmpfs.explore.scenarios._setup import PAGE, PUNCH, written_file
from hugetmpfs.mm.page_flags import PG_checked
from hugetmpfs.mm.page_ref import get_page
from hugetmpfs.mm.swap import put_page
from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.fileops import WriteSource
from hugetmpfs.shmem.recovery import shmem_huge_recovery
from hugetmpfs.shmem.vfs_mmap import sys_mmap, sys_munmap, sys_touch

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.shmem.machine import Machine

NEW = 0x7A  # what the racing writer stores
# v24's unguarded hazards R4b and R4c need a page migrated into the head slot: the head index
# is left a hole, which the R27 fix lets recovery instantiate in place, so that in the
# scenarios of guarded races only their own guard is at stake
FIX = ("R27-expose-empty-head",)


def small_extent(m: Machine, first: int = 1) -> tuple[vfs.Task, int, int]:
    """A task, a file whose first extent holds small pages (byte 0x61 + index) from index
    *first* on, and a shared mapping of the extent with those pages mapped by ptes:
    (task, fd, addr)."""
    nr = m.HPAGE_PMD_NR
    m.sysctl.shmem_huge = -1  # deny teams: every page small
    task, fd = written_file(m, range(first, nr))
    m.sysctl.shmem_huge = 0
    limit, m.sysctl.shmem_huge_recoveries = m.sysctl.shmem_huge_recoveries, 0
    addr = sys_mmap(task, fd, 0, nr * PAGE, "rw", True)
    span = (nr - first) * PAGE
    sys_touch(task, addr, nr * PAGE, first * PAGE, span, PAGE, None)  # ptes, no work queued
    m.sysctl.shmem_huge_recoveries = limit
    return task, fd, addr


def queue_work(m: Machine, task: vfs.Task, fd: int, index: int = 1) -> None:
    """A fault's shmem_huge_recovery for the extent, as if *index* had just faulted: the
    work runs as a kworker on CPU 0."""
    inode = task.files[fd].inode
    page = inode.mapping.page_tree.lookup(index)
    shmem_huge_recovery(m, inode, page, task.mm.vmas[0])


def reads_back(
    task: vfs.Task, fd: int, want: Callable[[int], int | None]
) -> Callable[..., list[str]]:
    """An end check: every page of the extent holds ``want(index)`` in its first byte
    (None: nothing to read, beyond EOF)."""

    def check(m: Machine) -> list[str]:
        problems = []
        for index in range(m.HPAGE_PMD_NR):
            got: list[bytes] = []
            vfs.sys_pread64(task, fd, 1, index * PAGE, got.append)
            byte = got[0][0] if got and got[0] else None
            if byte != want(index):
                problems.append(f"page {index} reads {byte!r}, not {want(index)!r} (data lost)")
        return problems

    return check


def punch_and_write(task: vfs.Task, fd: int, index: int) -> None:
    """Punch the page at *index*, then write NEW into its first byte."""
    vfs.sys_fallocate(task, fd, PUNCH, index * PAGE, PAGE)
    vfs.sys_pwrite64(task, fd, WriteSource(1, byte=NEW), index * PAGE)


def _written(index: int, changed: int | None = None) -> int:
    if index == changed:
        return NEW
    return 0x61 + index if index else 0


@scenario(
    "recovery-vs-punch-and-write",
    guard="recovery/R1",
    recovery=True,
    behaviours=FIX,
    find=Budget("dfs", 150, 1),
    clean=Budget("dfs", 100, 2),
)
def recovery_vs_punch_and_write(m: Machine) -> object:
    """recovery/R1: the work isolates page 3 to migrate it into its slot; the page is
    punched and the offset written again (the write fills slot 3 of the exposed team);
    migrating the old page now would copy stale data over the new."""
    task, fd, _ = small_extent(m)
    queue_work(m, task, fd)

    m.engine.spawn(punch_and_write, task, fd, 3, name="punch+write", cpu=1)
    return reads_back(task, fd, lambda i: _written(i, 3))


@scenario(
    "recovery-remap-vs-punch",
    guard="recovery/R24",
    recovery=True,
    behaviours=FIX,
    find=Budget("dfs", 40, 1),
    clean=Budget("dfs", 100, 2),
)
def recovery_remap_vs_punch(m: Machine) -> object:
    """recovery/R24: a punch disbands the team between populate, which completed it, and
    remap, which must not map a dead team by pmd."""
    task, fd, _ = small_extent(m)
    queue_work(m, task, fd)
    m.engine.spawn(vfs.sys_fallocate, task, fd, PUNCH, 2 * PAGE, PAGE, name="punch", cpu=1)
    return reads_back(task, fd, lambda i: 0 if i == 2 else _written(i))


@scenario(
    "recovery-vs-eviction",
    guard="recovery/R13",
    recovery=True,
    behaviours=FIX,
    find=Budget("dfs", 200, 1),
    clean=Budget("dfs", 100, 2),
)
def recovery_vs_eviction(m: Machine) -> None:
    """recovery/R13: the file is unmapped, closed and unlinked while its work runs: the
    inode must not be evicted (freed) until the work lets go of it."""
    task, fd, addr = small_extent(m)
    queue_work(m, task, fd)

    def let_go() -> None:
        sys_munmap(task, addr, m.HPAGE_PMD_NR * PAGE)
        vfs.sys_close(task, fd)
        vfs.sys_unlink(task, "f")

    m.engine.spawn(let_go, name="unlink", cpu=1)


def _head_misplaced(m: Machine) -> tuple[vfs.Task, int]:
    """Small pages at every index but 1 (a hole, filled in place first), the head's page
    mapped by a pte, and the work queued: v24 migrates that page into the head slot."""
    nr = m.HPAGE_PMD_NR
    m.sysctl.shmem_huge = -1
    task, fd = written_file(m, [0, *range(2, nr)])
    m.sysctl.shmem_huge = 0
    limit, m.sysctl.shmem_huge_recoveries = m.sysctl.shmem_huge_recoveries, 0
    addr = sys_mmap(task, fd, 0, nr * PAGE, "rw", True)
    sys_touch(task, addr, nr * PAGE, 0, PAGE, PAGE, None)  # the head's page, by a pte
    m.sysctl.shmem_huge_recoveries = limit
    queue_work(m, task, fd, 0)
    return task, fd


@scenario("recovery-v24-head-migrated", guard=None, recovery=True, find=Budget("dfs", 5, 1))
def recovery_v24_head_migrated(m: Machine) -> object:
    """recovery/R4c (unguarded, v24): the head's page is mapped and misplaced, another
    slot is instantiated in place first; migration's restored pte on the (PageTeam) head is
    counted, and the pass that accounts the head counts it again (I9)."""
    task, fd = _head_misplaced(m)
    return reads_back(task, fd, lambda i: 0 if i == 1 else 0x61 + i)


@scenario(
    "recovery-v24-head-leak",
    guard=None,
    recovery=True,
    behaviours=("R4c-fix",),
    find=Budget("dfs", 100, 1),
)
def recovery_v24_head_leak(m: Machine) -> object:
    """recovery/R4b (unguarded, v24): migration has filled the head slot (its cache
    reference still separate) when a punch of another page disbands the team, before the
    pass that would count the head: the head keeps one reference too many."""
    task, fd = _head_misplaced(m)
    m.engine.spawn(vfs.sys_fallocate, task, fd, PUNCH, 5 * PAGE, PAGE, name="punch", cpu=1)
    return reads_back(task, fd, lambda i: 0 if i in (1, 5) else 0x61 + i)


@scenario("recovery-head-hole", guard=None, recovery=True, find=Budget("dfs", 5, 1))
def recovery_head_hole(m: Machine) -> object:
    """recovery/R27 (unguarded, Mika Penttilä's case): a fresh recovery of an extent whose
    first page is a hole fails at the SGP_TEAM hint, every time (the R27 fix behaviour
    exposes the head first)."""
    task, fd, _ = small_extent(m)
    queue_work(m, task, fd)
    inode = task.files[fd].inode

    def recovered(m: Machine) -> list[str]:
        head = inode.mapping.page_tree.lookup(0)
        if head is None or not m.flags[head] & PG_checked:
            return [f"extent not recovered (recov_failed {m.recovery_stats.recov_failed}, R27)"]
        return []

    return recovered


@scenario(
    "recovery-partial-end-tags-complete-team",
    guard=None,
    recovery=True,
    behaviours=FIX,
    find=Budget("dfs", 20, 1),  # first at execution 4 (both forms)
)
def recovery_partial_end_tags_complete_team(m: Machine) -> object:
    """(unguarded, both forms; found by the model): page 3 is pinned (a reference held
    elsewhere, as get_user_pages would hold it), so migration cannot move it and populate
    ends partial, slot 3 a hole.  Holding only the head lock it counts the holes, then
    takes tree_lock to tag the team HUGEHOLE: in between, page 3 is punched and written
    again, and the write fills hole 3 through the normal path (it locks the hole, not the
    head), completing the team (no tag to clear yet).  The tag lands on a complete team
    (I31), where the shrinker's shmem_get_hugehole rejects it without advancing (base/Q-5)
    and nothing clears it."""
    task, fd, _ = small_extent(m)
    pinned = task.files[fd].inode.mapping.page_tree.lookup(3)
    assert pinned is not None
    get_page(m, pinned)
    pins = [pinned]
    register_owner(m, lambda m: pins)
    queue_work(m, task, fd)

    def punch_write_unpin() -> None:
        vfs.sys_fallocate(task, fd, PUNCH, 3 * PAGE, PAGE)
        vfs.sys_pwrite64(task, fd, WriteSource(1, byte=NEW), 3 * PAGE)
        pins.clear()
        put_page(m, pinned)

    m.engine.spawn(punch_write_unpin, name="punch+write", cpu=1)
    return reads_back(task, fd, lambda i: _written(i, 3))
