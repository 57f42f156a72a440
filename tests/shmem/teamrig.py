"""Small huge tmpfs machines for the team reclaim tests (hpage_nr 8 unless said)."""

from __future__ import annotations

from hugetmpfs.mm.mm_types import MMStruct
from hugetmpfs.mm.swap import lru_add_drain_all
from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.fileops import WriteSource
from hugetmpfs.shmem.machine import Machine, MachineConfig

N = 8
O_RDWR_CREAT = vfs.O_RDWR | vfs.O_CREAT


def huge_task(
    ram: int = 8 << 20, swap: int = 0, seed: int = 0, strategy: object = None, cpus: int = 2
) -> vfs.Task:
    m = Machine(MachineConfig(ram=ram, swap=swap, hpage_nr=N, seed=seed, cpus=cpus), strategy)  # type: ignore[arg-type]
    return vfs.Task(m, m.mount("always", 4 << 20), MMStruct(m))


def write_pages(task: vfs.Task, fd: int, indices: list[int], byte: int = 0x61) -> None:
    """One 4 KiB write of *byte* + index at each index."""
    for index in indices:
        src = WriteSource(4096, byte=(byte + index) & 0xFF)
        assert vfs.sys_pwrite64(task, fd, src, index * 4096) == 4096


def read_page(task: vfs.Task, fd: int, index: int) -> bytes:
    out: list[bytes] = []
    assert vfs.sys_pread64(task, fd, 4096, index * 4096, out.append) == 4096
    return b"".join(out)


def file_with(task: vfs.Task, name: str, indices: list[int], byte: int = 0x61) -> int:
    fd = vfs.sys_open(task, name, O_RDWR_CREAT)
    assert fd >= 0
    write_pages(task, fd, indices, byte)
    lru_add_drain_all(task.m)
    return fd


def page_at(task: vfs.Task, fd: int, index: int) -> int:
    page = task.files[fd].inode.mapping.page_tree.lookup(index)
    assert page is not None
    return page
