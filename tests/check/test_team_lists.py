"""check/team_lists.py: healthy teams pass; each corruption is named by its invariant."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hugetmpfs.check import INVARIANTS, check_machine
from hugetmpfs.check.invariants import machine_context
from hugetmpfs.mm.mm_types import MMStruct
from hugetmpfs.mm.page_flags import PG_team
from hugetmpfs.mm.radix_tree import PAGECACHE_TAG_DIRTY
from hugetmpfs.mm.swap import lru_add_drain_all
from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.fileops import WriteSource
from hugetmpfs.shmem.machine import Machine, MachineConfig

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.shmem.inode import ShmemInodeInfo

N = 8


def team_machine() -> tuple[Machine, ShmemInodeInfo]:
    """hpage_nr 8, huge=always: one file with two partial teams (pages 0, 2 and 8)."""
    m = Machine(MachineConfig(ram=8 << 20, hpage_nr=N))
    task = vfs.Task(m, m.mount("always", 1 << 20), MMStruct(m))
    fd = vfs.sys_open(task, "f", vfs.O_RDWR | vfs.O_CREAT)
    for index in (0, 2, 8):
        assert vfs.sys_pwrite64(task, fd, WriteSource(4096, byte=0x78), index * 4096) == 4096
    lru_add_drain_all(m)
    inode = next(iter(m.mounts[0].s_inodes.values()))
    return m, inode


def _head(m: Machine, inode: ShmemInodeInfo) -> int:
    page = inode.mapping.page_tree.lookup(2)
    assert m.flags[page] & PG_team
    return page - 2


def c_weight(m: Machine, inode: ShmemInodeInfo) -> None:
    m.private[_head(m, inode) + 2] = 0  # parked without the weight moving, and evictable


def c_second_tag(m: Machine, inode: ShmemInodeInfo) -> None:
    inode.mapping.page_tree.tag_set(2, PAGECACHE_TAG_DIRTY)


def c_off_list(m: Machine, inode: ShmemInodeInfo) -> None:
    m.shrinklist.remove(inode)
    inode.on_shrinklist = False


def c_twice(m: Machine, inode: ShmemInodeInfo) -> None:
    m.shrinklist.append(inode)


TEAM_LIST_CORRUPTIONS: list[tuple[str, Callable[[Machine, ShmemInodeInfo], None]]] = [
    ("team_lru_weights", c_weight),
    ("hugehole_tags", c_second_tag),
    ("tagged_inodes_on_shrinklist", c_off_list),
    ("shrinklist_consistent", c_twice),
]


def test_healthy_teams_pass() -> None:
    m, inode = team_machine()
    assert inode.on_shrinklist
    assert inode.mapping.page_tree.tag_count[PAGECACHE_TAG_DIRTY] == 2  # one per team
    assert check_machine(m) == []


@pytest.mark.parametrize(
    ("name", "corrupt"), TEAM_LIST_CORRUPTIONS, ids=[n for n, _ in TEAM_LIST_CORRUPTIONS]
)
def test_corruption_is_named(name: str, corrupt: Callable[[Machine, ShmemInodeInfo], None]) -> None:
    m, inode = team_machine()
    corrupt(m, inode)
    assert name in {x.name for x in check_machine(m)}
    messages = [x.message for x in INVARIANTS[name].fn(machine_context(m))]
    assert messages
    assert all(messages)
