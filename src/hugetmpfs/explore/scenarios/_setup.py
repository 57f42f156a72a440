"""Set-up shared by the scenarios: a task and a file with chosen pages written."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.mm_types import MMStruct
from hugetmpfs.mm.swap import lru_add_drain_all
from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.fileops import WriteSource

if TYPE_CHECKING:
    from collections.abc import Iterable

    from hugetmpfs.shmem.machine import Machine

PAGE = 4096
PUNCH = vfs.FALLOC_FL_PUNCH_HOLE | vfs.FALLOC_FL_KEEP_SIZE


def written_file(m: Machine, indices: Iterable[int]) -> tuple[vfs.Task, int]:
    """A task and a file on the scenario's mount with one page written at each index.

    The per-CPU LRU batches are drained so every page starts on its LRU list."""
    task = vfs.Task(m, m.mounts[0], MMStruct(m))
    fd = vfs.sys_open(task, "f", vfs.O_RDWR | vfs.O_CREAT)
    for index in indices:
        vfs.sys_pwrite64(task, fd, WriteSource(PAGE, byte=0x61 + index), index * PAGE)
    lru_add_drain_all(m)
    return task, fd
