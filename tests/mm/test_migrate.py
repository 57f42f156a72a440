"""mm/migrate.py: migrate_pages moves a page-cache page's slot, contents, flags and counts,
takes its ptes down and puts them back on whichever page holds the data, and has the modes
and checks huge tmpfs recovery needs (patches 24 and 29 of 31)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from hugetmpfs.check import check_machine, machine_at_rest, step_hook
from hugetmpfs.mm import vmstat as v
from hugetmpfs.mm.filemap import lock_page, trylock_page, unlock_page
from hugetmpfs.mm.migrate import (
    EBUSY,
    ENOMEM,
    MIGRATE_ASYNC,
    MIGRATE_SHMEM_RECOVERY,
    MIGRATE_SYNC,
    MR_SHMEM_HUGEHOLE,
    MR_SHMEM_RECOVERY,
    migrate_pages,
    putback_movable_pages,
    unmap_and_move,
)
from hugetmpfs.mm.mm_types import PTE_DIRTY, PTE_PFN_SHIFT, PTE_WRITE, PTE_YOUNG, MMStruct
from hugetmpfs.mm.page_alloc import GFP_KERNEL, alloc_pages
from hugetmpfs.mm.page_flags import PG_dirty, PG_lru, PG_swapbacked, PG_team, PG_writeback
from hugetmpfs.mm.page_ref import get_page
from hugetmpfs.mm.pgtable import pmd_shift
from hugetmpfs.mm.swap import isolate_lru_page, lru_add_drain_all, put_page
from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.fileops import WriteSource
from hugetmpfs.shmem.machine import Machine, MachineConfig
from hugetmpfs.shmem.shrinker import shmem_shrink_hugehole
from hugetmpfs.shmem.vfs_mmap import sys_mmap, sys_munmap, sys_touch
from hugetmpfs.sim import RandomStrategy
from hugetmpfs.testing import SwitchAt

if TYPE_CHECKING:
    from collections.abc import Callable


def huge_task(strategy: object = None, guards_off: tuple[str, ...] = ()) -> vfs.Task:
    config = MachineConfig(ram=8 << 20, hpage_nr=8, guards_off=guards_off)
    m = Machine(config, strategy)  # type: ignore[arg-type]
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


def _small_file(strategy: object = None, guards_off: tuple[str, ...] = ()) -> tuple[vfs.Task, int]:
    task = huge_task(strategy, guards_off)
    task.m.set_sysctl("vm.shmem_huge", -1)  # deny: small pages only
    return task, file_with(task, "f", [0, 1, 2])


def _isolate(task: vfs.Task, page: int) -> list[int]:
    assert isolate_lru_page(task.m, page) == 0
    task.m.vmstat.zone[v.NR_ISOLATED_ANON] += 1
    return [page]


def _isolated(index: int) -> tuple[vfs.Task, int, int, list[int]]:
    """Small pages 0..2 of file f, page *index* isolated: (task, fd, page, [page])."""
    task, fd = _small_file()
    page = page_at(task, fd, index)
    return task, fd, page, _isolate(task, page)


def _alloc(m: object, page: int, private: object) -> int | None:
    return alloc_pages(m, GFP_KERNEL, 0)  # type: ignore[arg-type]


def _migrate_ok(task: vfs.Task, fd: int, old: int, pages: list[int]) -> int:
    """Migrate the isolated *old* (the only page on *pages*), which must succeed: the new
    page now in its slot."""
    m = task.m
    index = m.index[old]
    assert migrate_pages(m, pages, _alloc, None, None, MIGRATE_SYNC, MR_SHMEM_HUGEHOLE) == 0
    assert pages == []
    new = page_at(task, fd, index)
    assert new != old
    assert m.refcount[old] == 0, "the old page is freed"
    return new


def test_migrate_moves_slot_contents_flags_and_counts() -> None:
    task, fd = _small_file()
    m = task.m
    old = page_at(task, fd, 1)
    before = read_page(task, fd, 1)
    shmem = m.vmstat.zone[v.NR_SHMEM]
    pages = _isolate(task, old)
    new = _migrate_ok(task, fd, old, pages)
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
    task, fd, old, pages = _isolated(0)
    m = task.m
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
    task, _, old, pages = _isolated(2)
    m = task.m
    assert trylock_page(m, old)
    assert migrate_pages(m, pages, _alloc, None, None, MIGRATE_ASYNC, MR_SHMEM_HUGEHOLE) == 1
    assert pages == [old]
    unlock_page(m, old)
    putback_movable_pages(m, pages)
    lru_add_drain_all(m)
    assert check_machine(m) == []


def test_a_team_page_is_refused_with_ebusy_and_leaves_the_list() -> None:
    """Patch 05/31: the refusal comes after the new page is allocated and goes out the
    way any final failure does: the page back to its LRU, off the list, the new page
    given back; a later pass neither retries it nor counts it again."""
    task = huge_task()
    fd = file_with(task, "f", [0, 1, 2])
    m = task.m
    page, other = page_at(task, fd, 1), page_at(task, fd, 2)
    given: list[int] = []

    def alloc(m: Machine, page: int, private: object) -> int | None:
        new = _alloc(m, page, private)
        given.append(new)  # type: ignore[arg-type]
        return new

    assert m.flags[page] & PG_team
    assert m.flags[other] & PG_team
    pages = _isolate(task, page)
    rc = unmap_and_move(m, alloc, None, None, page, False, MIGRATE_SYNC, MR_SHMEM_HUGEHOLE, pages)
    assert rc == -EBUSY
    assert pages == [], "-EBUSY is final: the page leaves the list"
    assert m.refcount[given[0]] == 0, "the new page went back"
    pages = _isolate(task, other)
    assert migrate_pages(m, pages, _alloc, None, None, MIGRATE_SYNC, MR_SHMEM_HUGEHOLE) == 1
    assert pages == []
    lru_add_drain_all(m)
    assert page_at(task, fd, 1) == page
    assert page_at(task, fd, 2) == other
    assert check_machine(m) == []


# -- pte-mapped pages: the ptes come down and go back up ------------------------------------

MAPLEN = 3 * 4096
PAGE1 = 4096  # the offset of the page these tests migrate


def _pte(task: vfs.Task, addr: int) -> int:
    """The pte mapping *addr* in the task's mm (0 if none, or no table)."""
    table = task.mm.pmds.get(addr >> pmd_shift(task.m))
    return 0 if table is None else table.ptes[(addr >> 12) & (task.m.HPAGE_PMD_NR - 1)]


def _shared_mapped(
    strategy: object = None,
) -> tuple[vfs.Task, int, int, vfs.Task, int]:
    """Small pages 0..2 of file f, mapped shared by two processes: *task* writable (page 1
    written through the mapping), *other* read-only (page 1 read through it).  Returns
    (task, fd, addr, other, other_addr)."""
    task, fd = _small_file(strategy)
    other = vfs.Task(task.m, task.sb, MMStruct(task.m))
    ofd = vfs.sys_open(other, "f", vfs.O_RDWR)
    addr = sys_mmap(task, fd, 0, MAPLEN, "rw", True)
    oaddr = sys_mmap(other, ofd, 0, MAPLEN, "r", True)
    assert addr > 0
    assert oaddr > 0
    assert sys_touch(task, addr, MAPLEN, PAGE1 + 7, 1, 1, 0x7A) == (None, 0)
    assert sys_touch(other, oaddr, MAPLEN, PAGE1, 1, 1, None) == (None, 0)
    lru_add_drain_all(task.m)
    return task, fd, addr, other, oaddr


def _counts(task: vfs.Task, other: vfs.Task) -> tuple[int, ...]:
    m = task.m
    return (
        task.mm.rss["MM_SHMEMPAGES"],
        other.mm.rss["MM_SHMEMPAGES"],
        m.vmstat.zone[v.NR_FILE_MAPPED],
        m.vmstat.zone[v.NR_SHMEM],
    )


def test_a_pte_mapped_page_migrates_and_its_ptes_follow() -> None:
    task, fd, addr, other, oaddr = _shared_mapped()
    m = task.m
    old = page_at(task, fd, 1)
    before = read_page(task, fd, 1)
    assert before[7] == 0x7A
    assert m.mapcount[old] == 1, "two ptes"
    assert m.refcount[old] == 3, "the cache's and two ptes'"
    wbits = _pte(task, addr + PAGE1) & (PTE_WRITE | PTE_DIRTY | PTE_YOUNG)
    obits = _pte(other, oaddr + PAGE1) & (PTE_WRITE | PTE_DIRTY | PTE_YOUNG)
    assert wbits == PTE_WRITE | PTE_DIRTY | PTE_YOUNG
    assert obits == PTE_YOUNG
    counts = _counts(task, other)
    pages = _isolate(task, old)
    new = _migrate_ok(task, fd, old, pages)
    assert _pte(task, addr + PAGE1) == new << PTE_PFN_SHIFT | 1 | wbits
    assert _pte(other, oaddr + PAGE1) == new << PTE_PFN_SHIFT | 1 | obits
    assert m.mapcount[new] == 1
    lru_add_drain_all(m)
    assert m.refcount[new] == 3, "the cache's and two ptes'"
    assert m.flags[new] & PG_dirty, "the writable pte's dirtiness went to the page"
    assert _counts(task, other) == counts, "rss, NR_FILE_MAPPED, NR_SHMEM"
    assert read_page(task, fd, 1) == before
    # Both processes still see the data through their ptes, without a fault.
    faults = m.vmstat.events[v.PGFAULT]
    assert sys_touch(other, oaddr, MAPLEN, PAGE1 + 7, 1, 1, None) == (None, 0)
    assert sys_touch(task, addr, MAPLEN, PAGE1 + 8, 1, 1, 0x7B) == (None, 0)
    assert m.vmstat.events[v.PGFAULT] == faults
    assert read_page(task, fd, 1)[7:9] == b"\x7a\x7b"
    assert m.vmstat.events[v.PGMIGRATE_SUCCESS] == 1
    assert check_machine(m) == []


def test_a_failed_migration_puts_the_ptes_back_on_the_old_page() -> None:
    task, fd, addr, other, oaddr = _shared_mapped()
    m = task.m
    old = page_at(task, fd, 1)
    ptes = (_pte(task, addr + PAGE1), _pte(other, oaddr + PAGE1))
    counts = _counts(task, other)
    pages = _isolate(task, old)
    m.refcount[old] += 1  # a racing lookup's pin: the refcount freeze must fail
    assert migrate_pages(m, pages, _alloc, None, None, MIGRATE_SYNC, MR_SHMEM_HUGEHOLE) == 1
    assert pages == [old], "-EAGAIN to the end"
    assert (_pte(task, addr + PAGE1), _pte(other, oaddr + PAGE1)) == ptes
    assert m.mapcount[old] == 1
    assert _counts(task, other) == counts
    m.refcount[old] -= 1
    putback_movable_pages(m, pages)
    lru_add_drain_all(m)
    assert m.refcount[old] == 3
    assert page_at(task, fd, 1) == old
    assert check_machine(m) == []


def _migrate_one(task: vfs.Task, page: int, mode: int, reason: int, out: list[int]) -> None:
    pages = [page]
    out.append(migrate_pages(task.m, pages, _alloc, None, None, mode, reason))
    putback_movable_pages(task.m, pages)


@dataclass
class Race:
    """_race's outcome: the two processes, page 1's old frame, PGFAULT before the race and
    [migrate_pages' result]."""

    task: vfs.Task
    fd: int
    addr: int
    other: vfs.Task
    oaddr: int
    old: int
    faults: int
    out: list[int]


def _race(strategy: object, racer: Callable[[Race], None]) -> Race:
    """Migrate page 1 of _shared_mapped's file (actor "mig") while ``racer(race)`` runs
    (actor "racer"), every invariant checked at every step."""
    task, fd, addr, other, oaddr = _shared_mapped(strategy)
    m = task.m
    old = page_at(task, fd, 1)
    _isolate(task, old)
    race = Race(task, fd, addr, other, oaddr, old, m.vmstat.events[v.PGFAULT], [])
    m.engine.step_hooks.append(step_hook(m))
    m.engine.spawn(_migrate_one, task, old, MIGRATE_SYNC, MR_SHMEM_HUGEHOLE, race.out, name="mig")
    m.engine.spawn(racer, race, name="racer", cpu=1)
    finding = m.engine.run()
    assert finding is None, finding.message
    lru_add_drain_all(m)
    return race


def _in_the_window(point: str) -> SwitchAt:
    return SwitchAt([(point, "racer")])


def test_munmap_in_the_window_takes_the_entry_away() -> None:
    """other's munmap runs while the ptes are down: its entry is gone (its VMA and table
    too), and only task's pte comes back, on the new page."""
    strategy = _in_the_window("__unmap_and_move:unmapped")
    r = _race(strategy, lambda r: sys_munmap(r.other, r.oaddr, MAPLEN))
    m = r.task.m
    assert strategy.script == [], "munmap ran in the window"
    assert r.out == [0]
    new = page_at(r.task, r.fd, 1)
    assert new != r.old
    assert r.other.mm.vmas == []
    assert r.other.mm.pmds == {}
    assert r.other.mm.rss["MM_SHMEMPAGES"] == 0
    assert _pte(r.task, r.addr + PAGE1) >> PTE_PFN_SHIFT == new
    assert m.mapcount[new] == 0, "one pte"
    assert m.refcount[new] == 2, "the cache's and one pte's"
    assert machine_at_rest(m)
    assert check_machine(m) == []


def test_a_new_mapping_in_the_window_gets_no_stale_pte() -> None:
    """other unmaps and maps the file again (a new VMA, maybe at the same place): the entry
    belonged to the old VMA and is dropped; the new VMA faults the new page in."""
    again: list[int] = []

    def remap(r: Race) -> None:
        assert sys_munmap(r.other, r.oaddr, MAPLEN) == 0
        again.append(sys_mmap(r.other, max(r.other.files), 0, MAPLEN, "r", True))

    strategy = _in_the_window("__unmap_and_move:unmapped")
    r = _race(strategy, remap)
    assert strategy.script == []
    assert r.out == [0]
    new = page_at(r.task, r.fd, 1)
    assert _pte(r.other, again[0] + PAGE1) == 0
    assert sys_touch(r.other, again[0], MAPLEN, PAGE1 + 7, 1, 1, None) == (None, 0)
    assert _pte(r.other, again[0] + PAGE1) >> PTE_PFN_SHIFT == new
    assert check_machine(r.task.m) == []


def _writer(r: Race, n: int) -> None:
    for k in range(n):
        assert sys_touch(r.task, r.addr, MAPLEN, PAGE1 + 16 * k, 1, 1, 0x30 + k) == (None, 0)
        r.task.m.engine.point("test:written")


def _race_writer(strategy: object, n: int) -> Race:
    """_race with a writer making *n* stores to page 1 through its mapping; no store is
    lost."""
    r = _race(strategy, lambda r: _writer(r, n))
    data = read_page(r.task, r.fd, 1)
    assert [data[16 * k] for k in range(n)] == [0x30 + k for k in range(n)]
    assert data[7] == 0x7A
    assert check_machine(r.task.m) == []
    return r


@pytest.mark.parametrize("seed", range(12))
def test_stores_through_the_mapping_racing_migration_are_never_lost(seed: int) -> None:
    assert _race_writer(RandomStrategy(seed), 6).out in ([0], [1])


def _store_in_the_window(point: str) -> Race:
    """The writer stores to page 1 when migration reaches *point*."""
    strategy = _in_the_window(point)
    r = _race_writer(strategy, 3)
    assert strategy.script == [], "the writer ran in the window"
    assert r.task.m.vmstat.events[v.PGFAULT] > r.faults, "the store faulted"
    return r


def test_a_store_after_the_move_waits_on_the_new_page_and_finds_its_pte() -> None:
    """The writer's store faults once the new page is in the cache but before the ptes are
    back: shmem_fault waits on the new page's lock, which migration holds until the ptes
    are restored; the fault then finds the pte there, and the store goes to the new page."""
    r = _store_in_the_window("__unmap_and_move:moved")
    new = page_at(r.task, r.fd, 1)
    assert r.out == [0]
    assert new != r.old
    assert _pte(r.task, r.addr + PAGE1) >> PTE_PFN_SHIFT == new
    assert _pte(r.other, r.oaddr + PAGE1) >> PTE_PFN_SHIFT == new


def test_a_store_before_the_move_pins_the_old_page_and_migration_gives_up() -> None:
    """The writer's store faults while the ptes are down: shmem_fault holds a reference on
    the old page while it waits for its lock (as migration_entry_wait does), so the count
    freeze fails; under this schedule the waiter never runs between passes, every pass
    fails, and the ptes go back to the old page each time."""
    r = _store_in_the_window("__unmap_and_move:unmapped")
    assert r.out == [1]
    assert page_at(r.task, r.fd, 1) == r.old
    assert _pte(r.task, r.addr + PAGE1) >> PTE_PFN_SHIFT == r.old
    assert _pte(r.other, r.oaddr + PAGE1) >> PTE_PFN_SHIFT == r.old


# -- recovery: MR_SHMEM_RECOVERY, MIGRATE_SHMEM_RECOVERY and its hook ----------------------


def _slot(m: Machine, byte: int) -> int:
    """A page standing for a team slot: its base reference is the caller's."""
    slot = alloc_pages(m, GFP_KERNEL, 0)
    assert slot is not None
    m.content[slot] = byte
    return slot


def _get_slot(m: object, page: int, slot: object) -> int:
    """shmem_get_recovery_page's contract: the slot, with a reference of its own."""
    get_page(m, slot)  # type: ignore[arg-type]
    return slot  # type: ignore[return-value]


def _put_slot(m: object, newpage: int, slot: object) -> None:
    put_page(m, newpage)  # type: ignore[arg-type]


def _r1_run(mode: int, guards_off: tuple[str, ...]) -> tuple[vfs.Task, int, int, list[int]]:
    """Isolate page 1 of f, truncate f to one page at ``recovery/R1:before_lock`` and let
    migration into a slot holding 0x77 go on: (task, old page, slot, [result])."""
    strategy = SwitchAt([("recovery/R1:before_lock", "truncate")])
    task, fd = _small_file(strategy, guards_off)
    m = task.m
    old = page_at(task, fd, 1)
    pages = _isolate(task, old)
    slot = _slot(m, 0x77)
    out: list[int] = []

    def migrate() -> None:
        out.append(migrate_pages(m, pages, _get_slot, _put_slot, slot, mode, MR_SHMEM_RECOVERY))
        assert pages == [], "the page left the list either way"

    m.engine.spawn(migrate, name="mig")
    m.engine.spawn(vfs.sys_ftruncate, task, fd, 4096, name="truncate", cpu=1)
    assert m.engine.run() is None
    assert strategy.script == [], "truncation ran in the window"
    return task, old, slot, out


@pytest.mark.parametrize("mode", [MIGRATE_SYNC, MIGRATE_SHMEM_RECOVERY])
def test_r1_a_source_truncated_before_its_lock_quits_with_enomem(mode: int) -> None:
    """Patch 24 keys the check on MR_SHMEM_RECOVERY, patch 29 on MIGRATE_SHMEM_RECOVERY."""
    task, old, slot, out = _r1_run(mode, ())
    m = task.m
    assert out == [-ENOMEM]
    assert m.content[slot] == 0x77, "the slot's data is untouched"
    assert m.refcount[slot] == 1, "put_new_page dropped get_new_page's reference"
    assert m.vmstat.events[v.PGMIGRATE_FAIL] == 1
    put_page(m, slot)
    lru_add_drain_all(m)
    assert m.refcount[old] == 0, "the truncated page, put back, is freed"
    assert check_machine(m) == []


def test_r1_guard_off_the_truncated_source_is_copied_over_the_slot() -> None:
    task, _, slot, out = _r1_run(MIGRATE_SHMEM_RECOVERY, ("recovery/R1",))
    m = task.m
    assert out == [0], "the migration of a truncated page 'succeeds'"
    assert m.content[slot] == 0x61 + 1, "the old page's data overwrote the slot's"
    assert m.vmstat.events[v.PGMIGRATE_SUCCESS] == 1
    put_page(m, slot)
    lru_add_drain_all(m)
    assert check_machine(m) == []


def test_recovery_mode_does_not_wait_for_writeback() -> None:
    """MIGRATE_SHMEM_RECOVERY is not MIGRATE_SYNC for the writeback test (digest §7.3 #2)."""
    task, fd, old, pages = _isolated(1)
    m = task.m
    m.flags[old] |= PG_writeback
    rc = unmap_and_move(
        m, _alloc, None, None, old, True, MIGRATE_SHMEM_RECOVERY, MR_SHMEM_RECOVERY, pages
    )
    assert rc == -EBUSY
    assert pages == [], "final: put back"
    m.flags[old] &= ~PG_writeback
    lru_add_drain_all(m)
    assert page_at(task, fd, 1) == old
    assert check_machine(m) == []


def test_the_recovery_hook_saying_no_quits_and_leaves_the_old_page() -> None:
    task, fd = _small_file()
    m = task.m
    first, second = page_at(task, fd, 1), page_at(task, fd, 2)
    before = read_page(task, fd, 1)
    pages = _isolate(task, first) + _isolate(task, second)
    slot = _slot(m, 0x77)
    calls: list[tuple[int, int]] = []

    def hook(m: object, newpage: int, page: int) -> bool:
        calls.append((newpage, page))
        return False  # the team was disbanded meanwhile

    m.shmem_recovery_migrate_page = hook
    rc = migrate_pages(
        m, pages, _get_slot, _put_slot, slot, MIGRATE_SHMEM_RECOVERY, MR_SHMEM_RECOVERY
    )
    assert rc == -ENOMEM
    assert calls == [(slot, first)]
    assert pages == [second], "the page not tried yet stays for putback_movable_pages"
    assert m.refcount[slot] == 1
    assert m.content[slot] == 0x77
    assert m.mapping[slot] == 0
    putback_movable_pages(m, pages)
    lru_add_drain_all(m)
    assert page_at(task, fd, 1) == first
    assert m.refcount[first] == 1, "unfrozen to the cache's reference, put back"
    assert read_page(task, fd, 1) == before
    put_page(m, slot)
    assert check_machine(m) == []


def test_the_recovery_hook_saying_yes_gives_no_cache_reference() -> None:
    """A mapped page migrates into a slot in MIGRATE_SHMEM_RECOVERY mode: the hook runs with
    the old count frozen and before the slot has an identity, and the slot's base
    reference becomes its cache reference; the ptes follow."""
    task, fd, addr, other, oaddr = _shared_mapped()
    m = task.m
    old = page_at(task, fd, 1)
    before = read_page(task, fd, 1)
    pages = _isolate(task, old)
    slot = _slot(m, 0)  # its one reference is the base reference a team slot holds
    seen: list[tuple[int, int, int]] = []

    def hook(m: Machine, newpage: int, page: int) -> bool:
        seen.append((m.refcount[page], m.mapping[newpage], m.refcount[newpage]))
        return True

    m.shmem_recovery_migrate_page = hook  # type: ignore[assignment]
    rc = migrate_pages(
        m, pages, _get_slot, _put_slot, slot, MIGRATE_SHMEM_RECOVERY, MR_SHMEM_RECOVERY
    )
    assert rc == 0
    assert seen == [(0, 0, 2)], "old count frozen, no identity yet, base + get_new_page"
    assert page_at(task, fd, 1) == slot
    assert _pte(task, addr + PAGE1) >> PTE_PFN_SHIFT == slot
    assert _pte(other, oaddr + PAGE1) >> PTE_PFN_SHIFT == slot
    lru_add_drain_all(m)
    assert m.refcount[slot] == 3, "base (= cache) and two ptes: no extra cache reference"
    assert read_page(task, fd, 1) == before
    assert check_machine(m) == []


def test_the_hugehole_shrinker_migrates_a_pte_mapped_member_with_its_pte() -> None:
    """MR_SHMEM_HUGEHOLE: FROM's one member is mapped by a pte (a mapping smaller than the
    extent, so not by pmd); it moves into a hole of TO and its pte follows, as the kernel's
    migration entries would make it."""
    task = huge_task()
    fd = file_with(task, "f", [0, 8, 9, 10, 16, 17, 18, 19, 20, 21])  # 1, 3 and 6 members
    m = task.m
    addr = sys_mmap(task, fd, 0, 4096, "rw", True)
    assert sys_touch(task, addr, 4096, 5, 1, 1, 0x7A) == (None, 0)
    old = page_at(task, fd, 0)
    assert _pte(task, addr) >> PTE_PFN_SHIFT == old
    before = read_page(task, fd, 0)
    to_head = page_at(task, fd, 16)
    mapped = m.vmstat.zone[v.NR_FILE_MAPPED]
    assert shmem_shrink_hugehole(m, None) > 0
    new = page_at(task, fd, 0)
    assert to_head <= new < to_head + 8, "FROM's member now sits in a hole of TO"
    assert _pte(task, addr) >> PTE_PFN_SHIFT == new
    assert m.mapcount[new] == 0
    assert m.vmstat.zone[v.NR_FILE_MAPPED] == mapped
    assert m.vmstat.events[v.PGMIGRATE_SUCCESS] == 1
    assert read_page(task, fd, 0) == before
    lru_add_drain_all(m)
    assert check_machine(m) == []


@pytest.mark.parametrize(("mode", "failed"), [(MIGRATE_SHMEM_RECOVERY, 0), (MIGRATE_ASYNC, 1)])
def test_recovery_mode_waits_for_a_page_lock_once_forced(mode: int, failed: int) -> None:
    """MIGRATE_SHMEM_RECOVERY is a MIGRATE_SYNC for the page lock: from the fourth pass
    (force) it waits for the holder; MIGRATE_ASYNC never does."""
    strategy = SwitchAt([("test:held", "mig")])
    task, fd = _small_file(strategy)
    m = task.m
    m.shmem_recovery_migrate_page = None  # no team to enter: just the mode's waiting
    old = page_at(task, fd, 1)
    slot = _slot(m, 0)  # the base reference, which becomes the cache's in recovery mode
    out: list[int] = []

    def holder() -> None:
        lock_page(m, old)
        for _ in range(3):
            m.engine.point("test:held")
        unlock_page(m, old)

    def migrate() -> None:
        pages = [old]
        out.append(migrate_pages(m, pages, _get_slot, _put_slot, slot, mode, MR_SHMEM_RECOVERY))
        putback_movable_pages(m, pages)

    m.engine.spawn(holder, name="holder")
    m.engine.spawn(migrate, name="mig", cpu=1)
    _isolate(task, old)
    assert m.engine.run() is None
    assert strategy.script == []
    assert out == [failed]
    assert page_at(task, fd, 1) == (old if failed else slot)
    if failed:
        put_page(m, slot)
    lru_add_drain_all(m)
    assert check_machine(m) == []
