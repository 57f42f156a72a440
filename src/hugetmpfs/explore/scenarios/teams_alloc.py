"""Teams being allocated and joined: the hugehint handshake of patch 04 (base/R4.x).

Each scenario puts two small actors on one extent of one file: two writers, or a writer or
a fault against a truncation or punch.  Its end check looks for the hazard the guard is
there for (I6: one live team per extent, holding only its own pages) and for data lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.explore.scenario import Budget, scenario
from hugetmpfs.explore.scenarios._setup import PAGE, PUNCH, written_file
from hugetmpfs.mm.page_flags import PG_swapbacked, PG_team
from hugetmpfs.mm.radix_tree import radix_tree_exceptional_entry
from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.fileops import WriteSource
from hugetmpfs.shmem.vfs_mmap import sys_mmap, sys_touch

if TYPE_CHECKING:
    from hugetmpfs.shmem.inode import ShmemInodeInfo
    from hugetmpfs.shmem.machine import Machine


def _writer(task: vfs.Task, fd: int, index: int) -> None:
    vfs.sys_pwrite64(task, fd, WriteSource(PAGE, byte=0x61 + index), index * PAGE)


def extent_problems(m: Machine, inode: ShmemInodeInfo) -> list[str]:
    """I6 over the first extent of *inode*: every page in it belongs to one live team (at
    its own offset from the head, PageTeam and SwapBacked) or none does."""
    nr = m.HPAGE_PMD_NR
    tree = inode.mapping.page_tree
    heads = set()
    small = []
    for index in range(nr):
        page = tree.lookup(index)
        if page is None or radix_tree_exceptional_entry(page):
            continue
        if not m.flags[page] & PG_team:
            small.append(index)
            continue
        head = page - index
        heads.add(head)
        if not m.flags[head] & PG_team or m.index[head] != 0:
            return [f"index {index}: page {page} is a member of a dead team: {m.dump_page(page)}"]
        if not m.flags[page] & PG_swapbacked:
            return [f"index {index}: a member without PG_swapbacked: {m.dump_page(page)}"]
    if len(heads) > 1:
        return [f"I6: {len(heads)} live teams in one extent (heads {sorted(heads)})"]
    if heads and small:
        return [f"I6: small pages at {small} inside the extent of team {min(heads)}"]
    return []


def _data_problems(m: Machine, task: vfs.Task, fd: int, want: dict[int, int]) -> list[str]:
    """Each page of *want* reads back as its byte."""
    out: list[str] = []
    for index, byte in sorted(want.items()):
        got: list[bytes] = []
        vfs.sys_pread64(task, fd, PAGE, index * PAGE, got.append)
        data = b"".join(got)
        if data != bytes([byte]) * PAGE:
            out.append(f"index {index} reads {data[:4]!r}..., not {bytes([byte])!r} * {PAGE}")
    return out


@scenario(
    "alloc-two-writers-one-extent",
    guard="base/R4.1",
    find=Budget("dfs", 2000, 2),
    clean=Budget("dfs", 300, 2),
)
def two_writers_one_extent(m: Machine) -> object:
    """base/R4.1: two writers to different pages of an empty extent; both look it up as
    empty under RCU, both allocate a team, and each inserts its page."""
    task, fd = written_file(m, [])
    inode = task.files[fd].inode
    m.engine.spawn(_writer, task, fd, 0, name="write 0", cpu=0)
    m.engine.spawn(_writer, task, fd, 1, name="write 1", cpu=1)

    def end_check(m: Machine) -> list[str]:
        return extent_problems(m, inode) or _data_problems(m, task, fd, {0: 0x61, 1: 0x62})

    return end_check


@scenario(
    "alloc-two-writers-one-hole",
    guard="base/R4.2",
    find=Budget("dfs", 2000, 2),
    clean=Budget("dfs", 300, 2),
)
def two_writers_one_hole(m: Machine) -> object:
    """base/R4.2: two writers to the same hole of a live team; both are given the hole as
    their hint, and the second takes its lock after the first filled it."""
    task, fd = written_file(m, [0])
    inode = task.files[fd].inode
    m.engine.spawn(_writer, task, fd, 1, name="write 1", cpu=0)
    m.engine.spawn(_writer, task, fd, 1, name="write 1 again", cpu=1)

    def end_check(m: Machine) -> list[str]:
        return extent_problems(m, inode) or _data_problems(m, task, fd, {0: 0x61, 1: 0x62})

    return end_check


@scenario(
    "alloc-writer-vs-punch-head",
    guard="base/R4.3",
    find=Budget("dfs", 2000, 2),
    clean=Budget("dfs", 300, 2),
)
def writer_vs_punch_head(m: Machine) -> object:
    """base/R4.3: a writer looks up a hole of a team whose only member is the head, while
    a punch of the head disbands the team and frees its holes."""
    task, fd = written_file(m, [0])
    inode = task.files[fd].inode
    m.engine.spawn(_writer, task, fd, 1, name="write 1", cpu=0)
    m.engine.spawn(vfs.sys_fallocate, task, fd, PUNCH, 0, PAGE, name="punch 0", cpu=1)

    def end_check(m: Machine) -> list[str]:
        return extent_problems(m, inode) or _data_problems(m, task, fd, {0: 0, 1: 0x62})

    return end_check


@scenario(
    "alloc-fault-vs-truncate",
    guard="base/R4.6",
    find=Budget("dfs", 2000, 2),
    clean=Budget("dfs", 300, 2),
)
def fault_vs_truncate(m: Machine) -> object:
    """base/R4.6: a read fault instantiates a page of a new team just as ftruncate shrinks
    the file below it: the fault finds itself beyond EOF after the insert."""
    nr = m.HPAGE_PMD_NR
    task, fd = written_file(m, [])
    inode = task.files[fd].inode
    vfs.sys_ftruncate(task, fd, nr * PAGE)
    # One page short of the extent, so the fault maps small and does not populate.
    size = (nr - 1) * PAGE
    addr = sys_mmap(task, fd, 0, size, "r", True)
    m.engine.spawn(sys_touch, task, addr, size, PAGE, 1, 1, None, name="fault 1", cpu=0)
    m.engine.spawn(vfs.sys_ftruncate, task, fd, 0, name="truncate", cpu=1)

    # A team page may stay in the cache beyond the new EOF: not a problem here.
    return lambda m: extent_problems(m, inode)


@scenario("fault-vs-punch-tail-spin", guard=None, find=Budget("dfs", 50, 2))
def fault_vs_punch_tail_spin(m: Machine) -> None:
    """base/R4.4's busy loop: a huge fault holds the head's lock while a punch of a tail
    retries its trylock of the head.  The punch must yield to the holder (a livelock only
    an unfair scheduler could make); nothing should be found."""
    nr = m.HPAGE_PMD_NR
    task, fd = written_file(m, list(range(1, nr)))
    vfs.sys_ftruncate(task, fd, nr * PAGE)
    addr = sys_mmap(task, fd, 0, nr * PAGE, "r", True)
    m.engine.spawn(sys_touch, task, addr, nr * PAGE, PAGE, 1, 1, None, name="fault", cpu=0)
    m.engine.spawn(vfs.sys_fallocate, task, fd, PUNCH, 2 * PAGE, PAGE, name="punch", cpu=1)


@scenario(
    "fault-tail-vs-punch-head-hole",
    guard="base/R7.3",
    find=Budget("random", 300, 2),
    clean=Budget("random", 250, 2),
)
def fault_tail_vs_punch(m: Machine) -> None:
    """base/R7.3: a huge fault on a member of a team whose head is a hole, while a punch of
    another member disbands the team and frees the hole head."""
    nr = m.HPAGE_PMD_NR
    task, fd = written_file(m, list(range(1, nr - 1)))
    vfs.sys_ftruncate(task, fd, nr * PAGE)
    addr = sys_mmap(task, fd, 0, nr * PAGE, "r", True)
    m.engine.spawn(sys_touch, task, addr, nr * PAGE, PAGE, 1, 1, None, name="fault", cpu=0)
    m.engine.spawn(vfs.sys_fallocate, task, fd, PUNCH, 2 * PAGE, PAGE, name="punch", cpu=1)
