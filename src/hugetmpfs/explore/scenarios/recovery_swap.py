"""Recovery's swap side racing the other paths (patches 26, 27 and 29 of 31): an extent of
HPAGE_PMD_NR (8) pages, some of them pushed to swap, so that a fresh recovery's swapin
pre-pass reads them straight into their slots of the new huge page, or a resumed one
finds them in swap.

As in explore/scenarios/recovery.py, each scenario queues the work (a kworker on CPU 0),
starts the actor it races with on CPU 1 and names the guard whose absence it shows; an end
check reads the file back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hugetmpfs.explore.scenario import Budget, scenario
from hugetmpfs.explore.scenarios._setup import PAGE, PUNCH, written_file
from hugetmpfs.explore.scenarios.recovery import (
    FIX,
    NEW,
    punch_and_write,
    queue_work,
    reads_back,
)
from hugetmpfs.mm.page_flags import PG_checked
from hugetmpfs.mm.swap import isolate_lru_page, lru_add_drain_all
from hugetmpfs.mm.vmscan import reclaim_pages
from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.fileops import WriteSource
from hugetmpfs.shmem.vfs_mmap import sys_madvise, sys_mmap, sys_touch

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from hugetmpfs.shmem.machine import Machine

    Check = Callable[[Machine], list[str]]

SWAP = 4 << 20
MADV_DONTNEED = 4
# every scenario here: recovery on, a swap device, and the R27 fix (recovery.py's FIX)
SWAP_SIDE: dict[str, Any] = {"recovery": True, "swap": SWAP, "behaviours": FIX}


def swap_out(m: Machine, task: vfs.Task, fd: int, indices: Iterable[int]) -> None:
    """Push the pages at *indices* to swap, as two MADV_PAGEOUTs would: the first reclaim
    writes each to its slot, the second frees it from the swap cache."""
    tree = task.files[fd].inode.mapping.page_tree
    for index in indices:
        page = tree.lookup(index)
        for _ in range(2):
            if isolate_lru_page(m, page) == 0:  # type: ignore[arg-type]
                reclaim_pages(m, [page])  # type: ignore[list-item]
        assert tree.lookup(index) not in (None, page), f"page {index} did not go to swap"


def swapped_extent(
    m: Machine, swapped: Iterable[int], table: bool = False
) -> tuple[vfs.Task, int, int]:
    """A task, a file whose first extent holds small pages (byte 0x61 + index) from index 1
    on, those at *swapped* in swap, and a shared mapping of the extent, mapping nothing,
    but with a pte table in its pmd if *table* (so that no fault there maps hugely):
    (task, fd, addr)."""
    nr = m.HPAGE_PMD_NR
    m.sysctl.shmem_huge = -1  # deny teams: every page small
    task, fd = written_file(m, range(1, nr))
    m.sysctl.shmem_huge = 0
    swap_out(m, task, fd, swapped)
    limit, m.sysctl.shmem_huge_recoveries = m.sysctl.shmem_huge_recoveries, 0
    addr = sys_mmap(task, fd, 0, nr * PAGE, "rw", True)
    if table:
        sys_touch(task, addr, nr * PAGE, PAGE, PAGE, PAGE, None)  # no work queued
        sys_madvise(task, (addr, nr * PAGE), 0, nr * PAGE, MADV_DONTNEED)
    m.sysctl.shmem_huge_recoveries = limit
    return task, fd, addr


def recovered(task: vfs.Task, fd: int, then: Check) -> Check:
    """An end check: the file's first extent is a complete team (PageChecked head), and
    *then*'s."""
    tree = task.files[fd].inode.mapping.page_tree

    def check(m: Machine) -> list[str]:
        head = tree.lookup(0)
        st = m.recovery_stats
        # A page that its user still holds cannot migrate (page_unmigrated): a partial end
        # is then no fault of isolation.
        if (head is None or not m.flags[head] & PG_checked) and not st.page_unmigrated:
            return [
                f"extent not recovered: recov_partial {st.recov_partial}, page_off_lru "
                f"{st.page_off_lru}, recov_retried {st.recov_retried}"
            ]
        return then(m)

    return check


def reads_written(task: vfs.Task, fd: int, changed: int | None = None) -> Check:
    """An end check for swapped_extent's file: a hole at index 0, then 0x61 + index, but
    NEW at *changed*."""
    return reads_back(task, fd, lambda i: NEW if i == changed else 0x61 + i if i else 0)


@scenario(
    "recovery-swapin-vs-punch-and-write",
    guard="recovery/R7",
    **SWAP_SIDE,
    find=Budget("dfs", 20, 1),
    clean=Budget("dfs", 100, 2),
)
def recovery_swapin_vs_punch_and_write(m: Machine) -> object:
    """recovery/R7: the pre-pass reads page 5 from swap into its slot; page 5 is punched
    (its entry freed, the slot left in the swap cache) and written again, into a small
    page elsewhere; populate, finding that page at index 5, must not migrate it into the
    prepared slot."""
    task, fd, _ = swapped_extent(m, [5])
    queue_work(m, task, fd)
    m.engine.spawn(punch_and_write, task, fd, 5, name="punch+write", cpu=1)
    return reads_written(task, fd, 5)


def partial_team(m: Machine) -> tuple[vfs.Task, int]:
    """A task and a file whose first extent is a partial team: members 1..3 (written on the
    huge mount) and holes, its head among them; indices 0 and 5 hold small pages, written
    while teams were denied, and pushed to swap (as when recovery could not migrate them
    into their slots and reclaim took them later)."""
    task, fd = written_file(m, [1, 2, 3])
    m.sysctl.shmem_huge = -1
    for index in (0, 5):
        vfs.sys_pwrite64(task, fd, WriteSource(PAGE, byte=0x61 + index), index * PAGE)
    lru_add_drain_all(m)
    m.sysctl.shmem_huge = 0
    swap_out(m, task, fd, [0, 5])
    sys_mmap(task, fd, 0, m.HPAGE_PMD_NR * PAGE, "rw", True)
    return task, fd


@scenario(
    "recovery-resume-swapin",
    guard="recovery/R18",
    **SWAP_SIDE,
    find=Budget("dfs", 20, 1),
    clean=Budget("dfs", 100, 2),
)
def recovery_resume_swapin(m: Machine) -> object:
    """recovery/R18: a work resumes a partial (exposed) team whose indices 0 and 5 are in
    swap, while 5 is punched and written again (the write may fill the visible hole).  No
    swapin pre-pass may read into an exposed team: its head hole is PageTeam, and the swap
    cache would put the entry where team_usage belongs.  (Read into the tail slot 5, the
    punch and write are caught downstream: recovery/R7, or the hint's page_raced.)"""
    task, fd = partial_team(m)
    queue_work(m, task, fd, 1)
    m.engine.spawn(punch_and_write, task, fd, 5, name="punch+write", cpu=1)
    want = [0x61, 0x62, 0x63, 0x64, 0, NEW, None, None]
    return reads_back(task, fd, want.__getitem__)


@scenario(
    "recovery-v24-resume-head-leak",
    guard=None,
    **SWAP_SIDE,
    find=Budget("dfs", 150, 1),  # first at execution 108
)
def recovery_v24_resume_head_leak(m: Machine) -> object:
    """R4b (unguarded, v24) on a resumed team: its head index is in swap, and with no
    pre-pass on an exposed team (recovery/R18) populate swaps it into a page of its own
    and migrates that into the head hole; a punch of member 2 disbands the team before
    the next pass counts the head, which keeps one reference too many.  v29 enteams the
    head as it migrates: no window."""
    task, fd = partial_team(m)
    queue_work(m, task, fd, 1)
    m.engine.spawn(vfs.sys_fallocate, task, fd, PUNCH, 2 * PAGE, PAGE, name="punch", cpu=1)
    want = [0x61, 0x62, 0, 0x64, 0, 0x66, None, None]
    return reads_back(task, fd, want.__getitem__)


def _fault_and_zap(m: Machine, task: vfs.Task, addr: int, index: int) -> None:
    """Map the page at *index* by a fault, then zap its pte (MADV_DONTNEED)."""
    nr = m.HPAGE_PMD_NR
    sys_touch(task, addr, nr * PAGE, index * PAGE, PAGE, PAGE, None)
    sys_madvise(task, (addr, nr * PAGE), index * PAGE, PAGE, MADV_DONTNEED)


@scenario(
    "recovery-swapin-mapped",
    guard="recovery/R8",
    **SWAP_SIDE,
    find=Budget("dfs", 20, 1),
    clean=Budget("dfs", 40, 2),
)
def recovery_swapin_mapped(m: Machine) -> object:
    """recovery/R8: the pre-pass reads page 5 into its slot; a fault maps it by a pte before
    populate enteams it in place, and it is unmapped again meanwhile: the team's pte count
    must come out right (the artificial mapcount)."""
    task, fd, addr = swapped_extent(m, [5], table=True)
    queue_work(m, task, fd)
    m.engine.spawn(_fault_and_zap, m, task, addr, 5, name="fault+zap", cpu=1)
    return reads_written(task, fd)


@scenario(
    "recovery-v24-fault-vs-unteamed",
    guard=None,
    **SWAP_SIDE,
    find=Budget("dfs", 60, 2),  # first at execution 26 (97 at bound 1)
)
def recovery_v24_fault_vs_unteamed(m: Machine) -> object:
    """(unguarded, v24, found by the model): a fault on a member of the team being
    recovered, with no pte table in its pmd, populates the team for a huge mapping; it
    passes by the slots migration has filled and the next pass has yet to enteam
    (Uptodate and Dirty, as the "done" test wants), sets PageChecked on an incomplete team
    and maps it by pmd.  v29 enteams as it migrates: no such slots."""
    task, fd, addr = swapped_extent(m, [5])
    queue_work(m, task, fd)
    m.engine.spawn(_fault_and_zap, m, task, addr, 5, name="fault+zap", cpu=1)
    return reads_written(task, fd)


@scenario(
    "recovery-vs-write-pagevec",
    guard="recovery/R22",
    **SWAP_SIDE,
    find=Budget("dfs", 20, 1),
    clean=Budget("dfs", 60, 2),
)
def recovery_vs_write_pagevec(m: Machine) -> object:
    """recovery/R22: a write on CPU 1 fills the empty index 2 with a small page of its own,
    which waits in CPU 1's pagevec; populate cannot isolate it from CPU 0 until every
    CPU's pagevecs are drained (page 5, in swap, is read in place).  Nothing is lost
    without the drain, the extent is only left partial: a missed opportunity, so the end
    check is that it was recovered."""
    nr = m.HPAGE_PMD_NR
    m.sysctl.shmem_huge = -1  # deny teams: every page small
    task, fd = written_file(m, [0, 1, *range(3, nr)])
    m.sysctl.shmem_huge = 0
    swap_out(m, task, fd, [5])
    sys_mmap(task, fd, 0, nr * PAGE, "rw", True)
    m.engine.spawn(
        vfs.sys_pwrite64, task, fd, WriteSource(1, byte=NEW), 2 * PAGE, name="write", cpu=1
    )
    queue_work(m, task, fd)
    return recovered(task, fd, reads_back(task, fd, lambda i: NEW if i == 2 else 0x61 + i))


R26_POINT = "recovery/R26:retry_prepared_slot"


@scenario(
    "recovery-v29-fault-spins-on-prepared-slot",
    guard=None,
    **SWAP_SIDE,
    variant="v29",
    find=Budget("dfs", 60, 2),
)
def recovery_v29_fault_spins_on_prepared_slot(m: Machine) -> object:
    """R26 (unguarded, v29): the pre-pass reads page 5 into its slot; page 5 is punched (its
    entry freed, the slot left in the swap cache) and written again after the head is
    exposed: the write's lookup offers the prepared slot, which is SwapBacked, so
    shmem_alloc_page answers RETRY and shmem_getpage_gfp repeats, round after round, until
    populate reaches index 5, finds its entry gone and disbands the team.  Bounded by one
    populate pass: nothing is lost, the end check reports the spin.  v24 answers SMALL for
    a SwapBacked slot instead (recovery/R2's structure)."""
    task, fd, _ = swapped_extent(m, [5])
    queue_work(m, task, fd)
    m.engine.spawn(punch_and_write, task, fd, 5, name="punch+write", cpu=1)
    data = reads_written(task, fd, 5)

    def check(m: Machine) -> list[str]:
        spins = sum(1 for _, _, name in m.engine.point_log or () if name == R26_POINT)
        problems = data(m)
        if spins:
            problems.append(
                f"R26: the write's shmem_getpage_gfp repeated {spins} time(s) on the "
                "swap-prepared slot of a punched entry, until populate gave the team up"
            )
        return problems

    return check
