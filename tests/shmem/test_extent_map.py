"""The extent map and kpageflags views of teams, holes, small pages and swap."""

from __future__ import annotations

from hugetmpfs.mm.kpageflags import KPF_TEAM, KPF_TEAM_PMD_MMAP, stable_page_flags
from hugetmpfs.mm.mm_types import MMStruct
from hugetmpfs.shmem import vfs, vfs_mmap
from hugetmpfs.shmem.extent_map import extent_chars, extent_map
from hugetmpfs.shmem.fileops import WriteSource
from hugetmpfs.shmem.machine import Machine, MachineConfig

PAGE = 4096


def _file(huge: str) -> tuple[Machine, vfs.Task, int]:
    m = Machine(MachineConfig(ram=16 << 20, hpage_nr=8))
    task = vfs.Task(m, m.mount(huge, 8 << 20), MMStruct(m))
    return m, task, vfs.sys_open(task, "f", vfs.O_RDWR | vfs.O_CREAT)


def test_a_sparse_team_shows_members_and_holes() -> None:
    m, task, fd = _file("always")
    for index in (0, 3):
        vfs.sys_pwrite64(task, fd, WriteSource(PAGE, byte=7), index * PAGE)
    inode = task.files[fd].inode
    chars, summary = extent_chars(m, inode, 0)
    assert chars == "ThhThhhh"
    assert summary == "team 2/8"
    head = inode.mapping.page_tree.lookup(0)
    assert stable_page_flags(m, head) >> KPF_TEAM & 1
    assert not stable_page_flags(m, head) >> KPF_TEAM_PMD_MMAP & 1


def test_a_pmd_mapped_team_and_a_small_extent() -> None:
    m, task, fd = _file("always")
    vfs.sys_ftruncate(task, fd, 16 * PAGE)
    addr = vfs_mmap.sys_mmap(task, fd, 0, 8 * PAGE, "rw", True)

    def fault() -> None:
        assert vfs_mmap.sys_touch(task, addr, 8 * PAGE, 0, 1, 1, 5) == (None, 0)

    m.engine.spawn(fault, name="task")
    assert m.engine.run() is None
    inode = task.files[fd].inode
    assert extent_chars(m, inode, 0) == ("MMMMMMMM", "team complete pmd")
    head = inode.mapping.page_tree.lookup(0)
    assert stable_page_flags(m, head) >> KPF_TEAM_PMD_MMAP & 1
    text = extent_map(m, inode)
    assert text.splitlines()[1].split()[-1] == "empty"


def test_small_pages_on_a_never_mount() -> None:
    m, task, fd = _file("never")
    vfs.sys_pwrite64(task, fd, WriteSource(3 * PAGE, byte=1), 0)
    chars, summary = extent_chars(m, task.files[fd].inode, 0)
    assert chars == "sss....."
    assert summary == "empty+small"
