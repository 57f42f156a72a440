"""mm/migrate.py: migrate_pages moves a page-cache page's slot, contents, flags and counts."""

from __future__ import annotations

from hugetmpfs.check import check_machine
from hugetmpfs.mm import vmstat as v
from hugetmpfs.mm.filemap import trylock_page, unlock_page
from hugetmpfs.mm.migrate import (
    EBUSY,
    MIGRATE_ASYNC,
    MIGRATE_SYNC,
    MR_SHMEM_HUGEHOLE,
    migrate_pages,
    putback_movable_pages,
    unmap_and_move,
)
from hugetmpfs.mm.mm_types import MMStruct
from hugetmpfs.mm.page_alloc import GFP_KERNEL, alloc_pages
from hugetmpfs.mm.page_flags import PG_dirty, PG_lru, PG_swapbacked, PG_team
from hugetmpfs.mm.swap import isolate_lru_page, lru_add_drain_all
from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.fileops import WriteSource
from hugetmpfs.shmem.machine import Machine, MachineConfig


def huge_task() -> vfs.Task:
    m = Machine(MachineConfig(ram=8 << 20, hpage_nr=8))
    return vfs.Task(m, m.mount("always", 4 << 20), MMStruct(m))


def file_with(task: vfs.Task, name: str, indices: list[int]) -> int:
    fd = vfs.sys_open(task, name, vfs.O_RDWR | vfs.O_CREAT)
    for index in indices:
        src = WriteSource(4096, byte=0x61 + index)
        assert vfs.sys_pwrite64(task, fd, src, index * 4096) == 4096
    lru_add_drain_all(task.m)
    return fd


def page_at(task: vfs.Task, fd: int, index: int) -> int:
    page = task.files[fd].inode.mapping.page_tree.lookup(index)
    assert page is not None
    return page


def read_page(task: vfs.Task, fd: int, index: int) -> bytes:
    out: list[bytes] = []
    assert vfs.sys_pread64(task, fd, 4096, index * 4096, out.append) == 4096
    return b"".join(out)


def _small_file() -> tuple[vfs.Task, int]:
    task = huge_task()
    task.m.set_sysctl("vm.shmem_huge", -1)  # deny: small pages only
    return task, file_with(task, "f", [0, 1, 2])


def _isolate(task: vfs.Task, page: int) -> list[int]:
    assert isolate_lru_page(task.m, page) == 0
    task.m.vmstat.zone[v.NR_ISOLATED_ANON] += 1
    return [page]


def _alloc(m: object, page: int, private: object) -> int | None:
    return alloc_pages(m, GFP_KERNEL, 0)  # type: ignore[arg-type]


def test_migrate_moves_slot_contents_flags_and_counts() -> None:
    task, fd = _small_file()
    m = task.m
    old = page_at(task, fd, 1)
    before = read_page(task, fd, 1)
    shmem = m.vmstat.zone[v.NR_SHMEM]
    pages = _isolate(task, old)
    assert migrate_pages(m, pages, _alloc, None, None, MIGRATE_SYNC, MR_SHMEM_HUGEHOLE) == 0
    assert pages == []
    new = page_at(task, fd, 1)
    assert new != old
    assert m.refcount[old] == 0, "the old page is freed"
    assert m.mapping[new] == task.files[fd].inode.mapping.id
    assert m.index[new] == 1
    assert m.flags[new] & PG_swapbacked
    assert m.flags[new] & PG_dirty
    assert m.refcount[new] == 2, "the cache's reference and the pagevec's"
    lru_add_drain_all(m)
    assert m.refcount[new] == 1
    assert m.flags[new] & PG_lru
    assert read_page(task, fd, 1) == before
    assert m.vmstat.zone[v.NR_ISOLATED_ANON] == 0
    assert m.vmstat.zone[v.NR_SHMEM] == shmem
    assert m.vmstat.events[v.PGMIGRATE_SUCCESS] == 1
    assert check_machine(m) == []


def test_an_extra_reference_fails_after_ten_passes_and_stays_isolated() -> None:
    task, fd = _small_file()
    m = task.m
    old = page_at(task, fd, 0)
    pages = _isolate(task, old)
    m.refcount[old] += 1  # a racing lookup's pin: the refcount freeze must fail
    allocated: list[int] = []

    def alloc(m: object, page: int, private: object) -> int | None:
        new = _alloc(m, page, private)
        allocated.append(new)  # type: ignore[arg-type]
        return new

    assert migrate_pages(m, pages, alloc, None, None, MIGRATE_SYNC, MR_SHMEM_HUGEHOLE) == 1
    assert pages == [old], "-EAGAIN to the end: the caller puts it back"
    assert len(allocated) == 10
    assert all(m.refcount[p] == 0 for p in allocated), "each new page was freed again"
    assert page_at(task, fd, 0) == old
    m.refcount[old] -= 1
    putback_movable_pages(m, pages)
    lru_add_drain_all(m)
    assert m.vmstat.events[v.PGMIGRATE_FAIL] == 1
    assert check_machine(m) == []


def test_a_locked_page_is_not_waited_for_in_async_mode() -> None:
    task, fd = _small_file()
    m = task.m
    old = page_at(task, fd, 2)
    pages = _isolate(task, old)
    assert trylock_page(m, old)
    assert migrate_pages(m, pages, _alloc, None, None, MIGRATE_ASYNC, MR_SHMEM_HUGEHOLE) == 1
    assert pages == [old]
    unlock_page(m, old)
    putback_movable_pages(m, pages)
    lru_add_drain_all(m)
    assert check_machine(m) == []


def test_a_team_page_is_refused_with_ebusy() -> None:
    task = huge_task()
    fd = file_with(task, "f", [0, 1])
    m = task.m
    page = page_at(task, fd, 1)
    assert m.flags[page] & PG_team
    pages = _isolate(task, page)
    rc = unmap_and_move(m, _alloc, None, None, page, False, MIGRATE_SYNC, MR_SHMEM_HUGEHOLE, pages)
    assert rc == -EBUSY
    assert pages == [page], "a team page refused before any work stays on the list"
    assert migrate_pages(m, pages, _alloc, None, None, MIGRATE_SYNC, MR_SHMEM_HUGEHOLE) == 1
    assert pages == [page], "-EBUSY is final, not retried: the caller puts it back"
    putback_movable_pages(m, pages)
    lru_add_drain_all(m)
    assert page_at(task, fd, 1) == page
    assert check_machine(m) == []
