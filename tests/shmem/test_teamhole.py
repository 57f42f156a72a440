"""shmem/teamhole.py: filling a team's holes without contention does exactly what the
general path (shmem_getpage_gfp per hole) does: the same results, the same machine state,
the same preemption points in the same order (and the same count of them without a point
log); at several team sizes; and where the fill must stop or not start (a lock it takes
held by another actor, a hole locked, a timer due, the mount full, a pagevec page about to
be freed, blocks not yet given back), the general path takes over from the same place."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import pytest

from hugetmpfs.mm.filemap import lock_page, unlock_page
from hugetmpfs.mm.highmem import page_read
from hugetmpfs.mm.mm_types import MMStruct
from hugetmpfs.mm.page_flags import PG_active
from hugetmpfs.mm.radix_tree import swp_to_radix_entry
from hugetmpfs.shmem import fault, teamhole, vfs, vfs_mmap
from hugetmpfs.shmem.fileops import WriteSource
from hugetmpfs.shmem.machine import Machine, MachineConfig
from hugetmpfs.sim import RoundRobinStrategy
from hugetmpfs.trace import model_runner
from hugetmpfs.trace.model_runner import run_model
from hugetmpfs.trace.parse import parse_bytes

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.shmem.inode import ShmemInodeInfo

MiB = 1 << 20
PAGE = 4096
PUNCH = vfs.FALLOC_FL_PUNCH_HOLE | vfs.FALLOC_FL_KEEP_SIZE

# Teams begun by writes (two members), by fallocate (members not uptodate), by a fault;
# a store and a load through shared mappings fill the rest, hugely.
OPS: list[dict[str, Any]] = [
    {"op": "mount", "huge": "always", "size": "16M"},
    {"op": "open", "path": "f", "as": "f", "flags": ["O_RDWR", "O_CREAT"]},
    {"op": "ftruncate", "fd": "f", "length": 8 * MiB},
    {"op": "pwrite", "fd": "f", "offset": 3 * PAGE, "len": 2 * PAGE, "byte": 7},
    {"op": "fallocate", "fd": "f", "mode": [], "offset": 2 * MiB + 5 * PAGE, "len": 9 * PAGE},
    {"op": "pwrite", "fd": "f", "offset": 4 * MiB - PAGE, "len": PAGE, "byte": 9},
    {"op": "mmap", "fd": "f", "as": "w", "offset": 0, "length": 6 * MiB, "prot": "rw",
     "shared": True},
    {"op": "touch", "map": "w", "offset": 0, "len": 6 * MiB, "stride": PAGE, "write": True,
     "byte": 1},
    {"op": "mmap", "fd": "f", "as": "r", "offset": 6 * MiB, "length": 2 * MiB, "prot": "r",
     "shared": True},
    {"op": "touch", "map": "r", "offset": 0, "len": 2 * MiB, "stride": 3 * PAGE,
     "write": False},
    {"op": "pread", "fd": "f", "offset": 0, "len": 8 * MiB},
    {"op": "smaps", "map": "w"},
    {"op": "meminfo"},
]  # fmt: skip


def _digest(m: Machine, log: bool = True) -> str:
    """The whole machine state, the points passed and, with *log*, the point log."""
    h = hashlib.sha256()
    for name in ("flags", "refcount", "private", "mapping", "index", "content"):
        h.update(getattr(m, name).tobytes())
    h.update(bytes(m.lru_next.tobytes()) + bytes(m.lru_prev.tobytes()))
    for page in sorted(m.data):
        h.update(page.to_bytes(8, "little") + page_read(m, page, 0, PAGE))
    h.update(repr((m.vmstat.zone, m.vmstat.events, m.lru_head, m.lru_tail, m.lru_size)).encode())
    h.update(repr((m.lru_add_pvec, sorted(m.page_lockers), m.engine.steps)).encode())
    h.update(repr((m.engine.clock, m.engine.schedule.decisions)).encode())
    for sb in m.mounts:
        h.update(repr((sb.used_blocks, sb.max_blocks)).encode())
    for mapping in m.mappings[1:]:
        if mapping is None:
            continue
        tree = mapping.page_tree
        h.update(repr((mapping.nrpages, tree.count, tree.tag_count)).encode())
        nodes = [(key, tree.nodes[key]) for key in sorted(tree.nodes)]
        h.update(repr([(key, node.mask, node.tags) for key, node in nodes]).encode())
        h.update(b"".join(node.slots.tobytes() for _, node in nodes))
        host = mapping.host
        h.update(
            repr([getattr(host, a, None) for a in ("alloced", "swapped", "i_blocks")]).encode()
        )
    if log:
        h.update(repr(m.engine.point_log).encode())
    return h.hexdigest()


class _Fills:
    """shmem_fill_teamholes, or (slow) nothing, counting the holes filled and the calls
    that filled none."""

    def __init__(self, fast: bool, before: Callable[[Machine, int, int], None] | None = None):
        self.fast = fast
        self.holes = 0
        self.declined = 0
        self.before = before  # done before the first call past each team's first subpage
        self.teams: set[int] = set()

    def __call__(self, m: Machine, inode: ShmemInodeInfo, head: int, i: int) -> int:
        if self.before is not None and i > 0 and head not in self.teams:
            self.teams.add(head)
            self.before(m, head, i)
        done = teamhole.shmem_fill_teamholes(m, inode, head, i) if self.fast else i
        self.holes += done - i
        self.declined += done == i
        return done


def _replay(
    monkeypatch: pytest.MonkeyPatch, fast: bool, hpage_nr: int = 512, log: bool = True
) -> tuple[Any, str, int]:
    machines: list[Machine] = []

    class Recorded(Machine):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if log:
                self.engine.point_log = []
            machines.append(self)

    fills = _Fills(fast)
    monkeypatch.setattr(model_runner, "Machine", Recorded)
    monkeypatch.setattr(fault, "shmem_fill_teamholes", fills)
    ops = [{"op": "machine", "ram": "64M", "hpage_nr": hpage_nr}, *OPS]
    text = "\n".join(json.dumps(op) for op in ops)
    results = run_model(parse_bytes(text.encode(), "inline.jsonl"))
    return results, _digest(machines[0], log), fills.holes


@pytest.mark.parametrize("hpage_nr", [4, 8, 64, 512])
def test_uncontended_holes_are_filled_as_getpage_fills_them(
    monkeypatch: pytest.MonkeyPatch, hpage_nr: int
) -> None:
    fast_results, fast_state, holes = _replay(monkeypatch, True, hpage_nr)
    slow_results, slow_state, _ = _replay(monkeypatch, False, hpage_nr)
    assert holes > 1000  # the fast path was taken
    assert all(r["errno"] is None for r in fast_results), fast_results
    assert fast_results == slow_results
    assert fast_state == slow_state


def test_without_a_point_log_the_points_are_still_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, logged, _ = _replay(monkeypatch, True, log=False)
    _, general, _ = _replay(monkeypatch, False, log=False)
    assert logged == general


# -- under contention: actors on two CPUs, switching often ------------------------------------


def _contended(
    monkeypatch: pytest.MonkeyPatch, fast: bool, hpage_nr: int, seed: int, quantum: int
) -> tuple[str, _Fills]:
    """Two threads touch one shared mapping of a sparse file from either end, while a third
    writes into it and punches holes (disbanding teams); all on a timed round robin whose
    slices are short enough to switch inside faults."""
    fills = _Fills(fast)
    monkeypatch.setattr(fault, "shmem_fill_teamholes", fills)
    config = MachineConfig(ram=64 * MiB, hpage_nr=hpage_nr, seed=seed, cpus=2)
    m = Machine(config, RoundRobinStrategy(seed, quantum))
    m.engine.point_log = []
    task = vfs.Task(m, m.mount("always", 32 * MiB), MMStruct(m))
    team = m.HPAGE_PMD_SIZE
    size = max(8 * team, 2 * MiB)
    fd = vfs.sys_open(task, "f", vfs.O_RDWR | vfs.O_CREAT)
    assert vfs.sys_ftruncate(task, fd, size) == 0
    for k in range(0, size, 3 * team):
        assert vfs.sys_pwrite64(task, fd, WriteSource(PAGE, byte=5), k + team // 2) == PAGE
    addr = vfs_mmap.sys_mmap(task, fd, 0, size, "rw", True)
    thread = vfs.Task(m, task.sb, task.mm)

    def forward() -> None:
        assert vfs_mmap.sys_touch(task, addr, size, 0, size, PAGE, 1) == (None, 0)

    def backward() -> None:
        for k in range(size - team, -1, -team):
            assert vfs_mmap.sys_touch(thread, addr, size, k, team, PAGE, None) == (None, 0)

    def writer() -> None:
        wfd = vfs.sys_open(thread, "f", vfs.O_RDWR)
        for k in range(team, size, 2 * team):
            assert vfs.sys_pwrite64(thread, wfd, WriteSource(PAGE, byte=9), k + PAGE) == PAGE
            assert vfs.sys_fallocate(thread, wfd, PUNCH, k + 3 * PAGE, PAGE) == 0

    m.engine.spawn(forward, name="forward", cpu=0)
    m.engine.spawn(backward, name="backward", cpu=1)
    m.engine.spawn(writer, name="writer", cpu=1)
    finding = m.engine.run()
    assert finding is None, finding.message
    return _digest(m), fills


@pytest.mark.parametrize("hpage_nr", [4, 8, 64, 512])
@pytest.mark.parametrize(("seed", "quantum"), [(0, 500), (1, 3_000), (2, 20_000)])
def test_contended_holes_are_filled_as_getpage_fills_them(
    monkeypatch: pytest.MonkeyPatch, hpage_nr: int, seed: int, quantum: int
) -> None:
    fast, fast_fills = _contended(monkeypatch, True, hpage_nr, seed, quantum)
    slow, _ = _contended(monkeypatch, False, hpage_nr, seed, quantum)
    assert fast_fills.holes > 0  # the fast path was taken
    assert fast == slow


# -- what the fast path must leave to the general path ----------------------------------------

HELD = ["tree_lock", "lru_lock", "info_lock", "hole_lock", "none"]


def _unrecalced(m: Machine, head: int, i: int) -> None:
    m.mappings[m.mapping[head]].host.alloced += 1


def _marked_holes(m: Machine, head: int, i: int) -> None:
    """Holes not fresh: one PG_active (as lru_cache_add_anon clears), one with a stale
    locker (as lock_page replaces and unlock_page forgets)."""
    m.flags[head + i + 1] |= PG_active
    m.page_lockers[head + i + 2] = m.engine.current


def _timer_due(m: Machine, head: int, i: int) -> None:
    engine = m.engine
    log = engine.point_log
    assert log is not None
    engine.call_later(0, lambda: log.append((engine.steps, -1, "timer fired")))


_BEFORE_FILL = {"unrecalced": _unrecalced, "timer": _timer_due, "marked": _marked_holes}


def _declining(
    monkeypatch: pytest.MonkeyPatch, fast: bool, hpage_nr: int, held: str, case: str
) -> tuple[str, list[Any], _Fills]:
    """A toucher faults in a sparse file while another actor holds a lock the fill takes
    (*held*, or nothing) over a sleep, in a machine left as *case* says: ``pvec`` (the
    pagevec holds a page whose only reference is the pagevec's), ``full`` (the mount is
    full in the middle of a team), ``plain``; or, just before a fill: ``unrecalced`` (the
    inode counts a page that left the cache unrecorded, as a punch preempted before its
    shmem_recalc_inode leaves it), ``timer`` (a timer is due now: the next point decides),
    ``marked`` (holes not fresh: see _marked_holes)."""
    fills = _Fills(fast, _BEFORE_FILL.get(case))
    monkeypatch.setattr(fault, "shmem_fill_teamholes", fills)
    config = MachineConfig(ram=64 * MiB, hpage_nr=hpage_nr, cpus=2)
    m = Machine(config, RoundRobinStrategy(0))
    m.engine.point_log = []
    team = m.HPAGE_PMD_SIZE
    size = 4 * team
    limit = size + team // 2 if case == "full" else 32 * MiB  # full: in f's last team
    task = vfs.Task(m, m.mount("always", limit), MMStruct(m))
    if case == "pvec":  # a page written and truncated before the pagevec drained
        gfd = vfs.sys_open(task, "g", vfs.O_RDWR | vfs.O_CREAT)
        assert vfs.sys_pwrite64(task, gfd, WriteSource(PAGE, byte=3), 0) == PAGE
        assert vfs.sys_ftruncate(task, gfd, 0) == 0
        assert any(m.refcount[page] == 1 for page in m.lru_add_pvec[0])
    if case == "full":  # another file takes a team's blocks
        gfd = vfs.sys_open(task, "g", vfs.O_RDWR | vfs.O_CREAT)
        assert vfs.sys_fallocate(task, gfd, 0, 0, team) == 0
    fd = vfs.sys_open(task, "f", vfs.O_RDWR | vfs.O_CREAT)
    assert vfs.sys_ftruncate(task, fd, size) == 0
    assert vfs.sys_pwrite64(task, fd, WriteSource(PAGE, byte=5), team + 2 * PAGE) == PAGE
    inode = task.files[fd].inode
    member = inode.mapping.page_tree.lookup(team // PAGE + 2)
    hole = member - 2 + hpage_nr // 2  # in the middle of the second team
    addr = vfs_mmap.sys_mmap(task, fd, 0, size, "rw", True)
    results: list[Any] = []

    def holder() -> None:
        if held == "hole_lock":
            lock_page(m, hole)
            m.engine.sleep(50_000)
            unlock_page(m, hole)
            return
        lock = {"tree_lock": inode.mapping.tree_lock, "lru_lock": m.lru_lock}.get(held)
        lock = lock or inode.info_lock
        if held != "none":
            lock.lock()
        m.engine.sleep(50_000)
        if held != "none":
            lock.unlock()

    def toucher() -> None:
        results.append(vfs_mmap.sys_touch(task, addr, size, 0, size, PAGE, 1))

    m.engine.spawn(holder, name="holder", cpu=1)
    m.engine.spawn(toucher, name="toucher", cpu=0)
    finding = m.engine.run()
    assert finding is None, finding.message
    return _digest(m), results, fills


@pytest.mark.parametrize("hpage_nr", [8, 64])
@pytest.mark.parametrize("held", HELD)
@pytest.mark.parametrize("case", ["plain", "pvec", "full", "unrecalced", "timer", "marked"])
def test_holes_under_contention_are_filled_as_getpage_fills_them(
    monkeypatch: pytest.MonkeyPatch, hpage_nr: int, held: str, case: str
) -> None:
    fast, fast_results, fills = _declining(monkeypatch, True, hpage_nr, held, case)
    slow, slow_results, _ = _declining(monkeypatch, False, hpage_nr, held, case)
    assert fills.holes > 0  # the fast path was taken, if not everywhere
    assert fast_results == slow_results
    assert fast == slow


def test_a_hole_whose_index_holds_something_is_left_to_the_general_path() -> None:
    """As getpage's lookup finds it first: an entry in the extent that is not the team's
    page at that index (here a swap entry) stops the fill, whatever the frame's flags."""
    m = Machine(MachineConfig(ram=64 * MiB, hpage_nr=64))
    task = vfs.Task(m, m.mount("always", 32 * MiB), MMStruct(m))
    fd = vfs.sys_open(task, "f", vfs.O_RDWR | vfs.O_CREAT)
    assert vfs.sys_pwrite64(task, fd, WriteSource(PAGE, byte=5), 0) == PAGE
    inode = task.files[fd].inode
    tree = inode.mapping.page_tree
    head = tree.lookup(0)
    assert head is not None
    assert teamhole._certain_holes(m, inode, head, 1, 64) == (list(range(head + 1, head + 64)), 64)
    assert tree.insert(9, swp_to_radix_entry(12345)) == 0
    assert teamhole._certain_holes(m, inode, head, 1, 64) == (list(range(head + 1, head + 9)), 9)
    assert teamhole._certain_holes(m, inode, head, 1, 3) == (list(range(head + 1, head + 4)), 4)


def _outside_actors(monkeypatch: pytest.MonkeyPatch, fast: bool) -> tuple[str, _Fills]:
    fills = _Fills(fast)
    monkeypatch.setattr(fault, "shmem_fill_teamholes", fills)
    m = Machine(MachineConfig(ram=64 * MiB, hpage_nr=64))
    task = vfs.Task(m, m.mount("always", 32 * MiB), MMStruct(m))
    fd = vfs.sys_open(task, "f", vfs.O_RDWR | vfs.O_CREAT)
    assert vfs.sys_ftruncate(task, fd, 4 * MiB) == 0
    assert vfs.sys_pwrite64(task, fd, WriteSource(3 * PAGE, byte=5), MiB - PAGE) == 3 * PAGE
    addr = vfs_mmap.sys_mmap(task, fd, 0, 4 * MiB, "rw", True)
    assert vfs_mmap.sys_touch(task, addr, 4 * MiB, 0, 4 * MiB, PAGE, 1) == (None, 0)
    return _digest(m), fills


def test_outside_any_actor_holes_are_filled_as_getpage_fills_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no engine running, no point is passed, on either path."""
    fast, fills = _outside_actors(monkeypatch, True)
    slow, _ = _outside_actors(monkeypatch, False)
    assert fills.holes > 0
    assert fast == slow
