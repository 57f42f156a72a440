"""The incremental step hook against the full recount: identical results at every step.

check/incremental.py reruns a check only when something it reads changed.  Here every
scheduling decision of several explore scenarios (guards on, and off so that violations
occur) runs the incremental checks and every check from scratch side by side, and the
violation lists must be equal, both as the step hook asks (first broken invariant only)
and in full.  The runs do not stop at a violation, so checks that keep failing, and
failures that clear again, are compared too.  End to end, explore finds the same thing at
the same step with the incremental hook as with the full one.

Some checks were rewritten for speed (plain Python over the few pages concerned instead of
numpy over every frame): at every step each is also compared with its original
(tests/check/reference_checks.py).
"""

from __future__ import annotations

import inspect
import random
from dataclasses import fields, is_dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from reference_checks import ORIGINAL_FRAMES_OK, ORIGINAL_HELPERS, ORIGINAL_PARTS, ORIGINALS

import hugetmpfs.explore.runner as runner
import hugetmpfs.explore.scenarios  # noqa: F401  (registers the built-in scenarios)
from hugetmpfs.check.census import READS, Census
from hugetmpfs.check.core import INVARIANTS, Context
from hugetmpfs.check.incremental import ALL_FRAMES, VALUE, Tracker, expand, known_part
from hugetmpfs.check.invariants import (
    REST_POINTS,
    check_machine,
    held_locks,
    machine_at_rest,
    run_checks,
    select,
    step_hook,
)
from hugetmpfs.explore import REGISTRY
from hugetmpfs.explore.runner import ExploreOptions, explore
from hugetmpfs.mm.page_alloc import POISON
from hugetmpfs.shmem.machine import Machine, MachineConfig
from hugetmpfs.sim import RandomStrategy
from hugetmpfs.sim.schedule import Finding

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine
    from hugetmpfs.sim import Engine

#: Scenarios, with their guard on or off, between them covering recovery, migration, swap,
#: reclaim, COW, teams under pmds and the LRU.
CASES = [
    ("recovery-vs-punch-and-write", False),
    ("recovery-migrate-vs-punch-head", False),
    ("reclaim-unmap-vs-munmap", True),
    ("recovery-vs-eviction", True),
    ("putback-vs-disband", True),
    ("recovery-resume-swapin", True),
    ("recovery-swapin-mapped", True),
    ("alloc-two-writers-one-hole", True),
    ("alloc-fault-vs-truncate", True),
    ("huge-fault-vs-cow-fault", True),
]
#: Those whose runs here break an invariant at some step (so violations are compared too).
BROKEN = {
    "putback-vs-disband",
    "recovery-resume-swapin",
    "recovery-swapin-mapped",
    "alloc-two-writers-one-hole",
    "alloc-fault-vs-truncate",
}
#: Consecutive broken steps after which an execution is stopped (some livelock once broken).
PATIENCE = 40


def _same(a: object, b: object) -> bool:
    """Equal values: numpy arrays by dtype and contents, census dataclasses field by
    field, containers item by item, model objects by identity."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and np.array_equal(a, b)
        )
    if is_dataclass(a) and type(a).__module__ == Census.__module__:
        return type(a) is type(b) and all(
            _same(getattr(a, f.name), getattr(b, f.name)) for f in fields(a)
        )
    if isinstance(a, list | tuple | dict) and isinstance(b, list | tuple | dict):
        if isinstance(a, dict):
            a, b = list(a.items()), list(b.items())  # type: ignore[union-attr]
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, int | str | float | None):
        return a == b
    return a is b  # a model object (mm, table, mapping): the same one


def kept_census_mismatches(tracker: Tracker, at_rest: bool, held: frozenset[str]) -> list[str]:
    """The census parts a tracker keeps (across decisions) that differ from a fresh
    census's; a kept recount (counters.RECOUNT_PART) against the recount made afresh."""
    from hugetmpfs.check.counters import RECOUNTS

    m = tracker.m
    fresh = Context(m, at_rest, held)
    out = []
    for name, kept in list(tracker.census.__dict__.items()):
        if name in ("m", "n"):
            continue
        if name.startswith("recounts_"):
            for counter, value in kept.items():
                if value != RECOUNTS[counter][0](fresh):
                    out.append(f"kept recount {counter} is stale")
        elif not _same(kept, getattr(fresh.census, name)):
            out.append(f"kept census part {name} is stale")
    return out


def frames_ok_mismatches(ctx: Context, rng: random.Random) -> list[str]:
    """Each frames_ok asked about a few frame sets (pages in use, cached, in range, repeated
    ones), against its original (reference_checks.ORIGINAL_FRAMES_OK)."""
    c, n = ctx.census, ctx.m.nr_frames
    used = sorted({*c.cache.pfn.tolist(), *np.flatnonzero(c.refcount).tolist()}) or [0]
    out = []
    for name, original in ORIGINAL_FRAMES_OK.items():
        ok = INVARIANTS[name].frames_ok
        assert ok is not None
        for size in (1, 2, 5):
            frames = [rng.choice(used) for _ in range(size)] + [rng.randrange(n)]
            new, old = ok(ctx, frames), original(ctx, np.array(frames, dtype=np.intp))
            if new != old:
                out.append(f"{name}.frames_ok({frames}): {new} != {old}")
    return out


class Twin:
    """A step hook that runs the checks both ways and records every disagreement."""

    def __init__(self) -> None:
        self.steps = 0
        self.violating_steps = 0
        self.originals_broken = 0  # how often an original found something
        self.mismatches: list[str] = []
        self.rng = random.Random(7)

    def hook(self, m: MemMachine, **_: object) -> object:
        invariants = select()
        first = Tracker(m, invariants)
        every = Tracker(m, invariants)

        broken = 0

        def hook(engine: Engine, point: str) -> Finding | None:
            nonlocal broken
            at_rest = point in REST_POINTS and machine_at_rest(m, current_at_rest=True)
            held = held_locks(engine)
            for tracker, first_only in ((first, True), (every, False)):
                fast = tracker.run(Context(m, at_rest, held), first_only)
                full = run_checks(invariants, Context(m, at_rest, held), first_only)
                if fast != full:
                    self.mismatches.append(f"step {engine.steps} ({point}): {fast} != {full}")
                stale = kept_census_mismatches(tracker, at_rest, held)
                self.mismatches.extend(f"step {engine.steps} ({point}): {x}" for x in stale)
            ctx = Context(m, at_rest, held)
            for name, part in ORIGINAL_PARTS.items():
                new_part, old_part = getattr(ctx.census, name), part(Census(m))
                if new_part.dtype != old_part.dtype or not np.array_equal(new_part, old_part):
                    self.mismatches.append(f"step {engine.steps} census {name} differs")
            for name, (new_helper, old_helper) in ORIGINAL_HELPERS.items():
                if new_helper(ctx) != old_helper(Context(m, at_rest, held)):
                    self.mismatches.append(f"step {engine.steps} {name} differs")
            for name, original in ORIGINALS.items():
                if INVARIANTS[name].applies(ctx):
                    new, old = INVARIANTS[name].fn(ctx), original(Context(m, at_rest, held))
                    if new != old:
                        self.mismatches.append(f"step {engine.steps} {name}: {new} != {old}")
                    self.originals_broken += bool(old)
            self.mismatches.extend(
                f"step {engine.steps}: {x}" for x in frames_ok_mismatches(ctx, self.rng)
            )
            self.steps += 1
            self.violating_steps += bool(full)
            # a violation does not stop the run: checks that stay broken, or heal, are
            # compared too, up to PATIENCE broken steps in a row
            broken = broken + 1 if full else 0
            if broken < PATIENCE:
                return None
            return Finding("invariant", "still broken", engine.steps, engine.schedule)

        return hook


@pytest.mark.parametrize(("name", "guard_off"), CASES)
def test_incremental_equals_full_recount_at_every_step(
    name: str, guard_off: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = REGISTRY[name]
    twin = Twin()
    monkeypatch.setattr(runner, "step_hook", twin.hook)
    guards = (sc.guard,) if guard_off and sc.guard else ()
    explore(sc, ExploreOptions("random", 6, 11, guards_off=guards, shrink=False))
    assert twin.steps > 0
    assert not twin.mismatches, "\n".join(twin.mismatches[:5])
    assert bool(twin.violating_steps) == (name in BROKEN)


@pytest.mark.parametrize("name", [n for n, off in CASES if off][:6])
def test_explore_finds_the_same_with_either_hook(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = REGISTRY[name]
    opts = ExploreOptions("random", 10, 3, guards_off=(sc.guard,) if sc.guard else (), shrink=False)
    found = {}
    for incremental in (True, False):

        def hook(m: MemMachine, incremental: bool = incremental, **kw: object) -> object:
            return step_hook(m, incremental=incremental, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(runner, "step_hook", hook)
        r = explore(sc, opts)
        f = r.found.finding if r.found is not None else None
        # an exception in the details compares by identity: by its text here
        details = f and {
            k: repr(v) if isinstance(v, BaseException) else v for k, v in f.details.items()
        }
        found[incremental] = (
            r.executions,
            r.steps,
            None if f is None else (f.kind, f.message, f.step, f.schedule.to_json(), details),
        )
    assert found[True] == found[False]


def test_every_census_part_says_what_it_reads() -> None:
    parts = {name for name, attr in vars(Census).items() if isinstance(attr, cached_property)}
    assert parts == set(READS), "census.READS must list every cached part of Census"
    for name in READS:
        expand(frozenset({name}), 0)  # every name it uses is known


def test_every_invariant_reads_known_parts() -> None:
    for inv in INVARIANTS.values():
        parts, _, restricted = expand(inv.reads, inv.flag_bits)
        for _, support, _ in restricted:
            if support == ALL_FRAMES:
                continue
            census = support.split(".")[0]
            assert census in READS, f"{inv.name}: support {support} is no census part"
        assert all(known_part(p) for p in parts)
        # a check that consults the context itself must say so
        source = inspect.getsource(inv.fn)
        if "ctx.at_rest" in source:
            assert "at_rest" in parts, inv.name
        if "ctx.held" in source or "ctx.busy" in source:
            assert any(p == "held" or p.startswith("held:") for p in parts), inv.name


#: Page fields a corruption may touch, and flag bits worth flipping.
FIELDS = ("flags", "refcount", "mapcount", "mapping", "index", "private", "content")
BITS = [1 << b for b in range(29)]


def _corrupt(m: MemMachine, rng: random.Random) -> None:
    """Change a few page fields at random, mostly of pages in use (where checks look)."""
    used = [p for p in range(m.nr_frames) if m.refcount[p] or m.mapping[p]] or [0]
    if rng.random() < 0.2:  # a page in use "freed" onto a per-CPU list
        m.pcp[rng.randrange(len(m.pcp))].append(rng.choice(used))
    for _ in range(rng.randrange(1, 4)):
        page = rng.choice(used) if rng.random() < 0.8 else rng.randrange(m.nr_frames)
        field = rng.choice(FIELDS)
        arr = getattr(m, field)
        if field == "flags":
            arr[page] ^= rng.choice(BITS)
        elif field == "content":
            arr[page] = POISON if rng.random() < 0.7 else rng.randrange(256)
        elif field == "mapping":
            arr[page] = rng.randrange(len(m.mappings))
        else:
            arr[page] += rng.choice((-1, 1, 2, m.HPAGE_PMD_NR))


@pytest.mark.parametrize(
    "name", ["recovery-vs-punch-and-write", "recovery-swapin-mapped", "huge-fault-vs-cow-fault"]
)
def test_rewritten_checks_equal_their_originals_on_corrupted_states(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At a few points of a run, corrupt page fields at random (and put them back): every
    rewritten check reports what its original does, and the incremental hook what the full
    recount does, violations and all."""
    rng = random.Random(5)
    mismatches: list[str] = []
    found = 0

    def make(m: MemMachine, **_: object) -> object:
        invariants = select()
        tracker = Tracker(m, invariants)

        def hook(engine: Engine, point: str) -> None:
            nonlocal found
            at_rest, held = False, frozenset[str]()
            tracker.run(Context(m, at_rest, held), False)
            if engine.steps % 7:
                return
            saved = {f: getattr(m, f)[:] for f in FIELDS}
            pcp = [list(pages) for pages in m.pcp]
            for _ in range(4):
                _corrupt(m, rng)
                fast = tracker.run(Context(m, at_rest, held), False)
                full = run_checks(invariants, Context(m, at_rest, held), False)
                if fast != full:
                    mismatches.append(f"step {engine.steps}: {fast} != {full}")
                stale = kept_census_mismatches(tracker, at_rest, held)
                mismatches.extend(f"step {engine.steps}: {x}" for x in stale)
                census = Census(m)
                for part_name, part in ORIGINAL_PARTS.items():
                    new_part, old_part = getattr(census, part_name), part(Census(m))
                    if new_part.dtype != old_part.dtype or not np.array_equal(new_part, old_part):
                        mismatches.append(f"step {engine.steps} census {part_name} differs")
                for helper, (new_helper, old_helper) in ORIGINAL_HELPERS.items():
                    ctx = Context(m, at_rest, held)
                    if new_helper(ctx) != old_helper(Context(m, at_rest, held)):
                        mismatches.append(f"step {engine.steps} {helper} differs")
                wrong = frames_ok_mismatches(Context(m, at_rest, held), rng)
                mismatches.extend(f"step {engine.steps}: {x}" for x in wrong)
                for inv_name, original in ORIGINALS.items():
                    new = INVARIANTS[inv_name].fn(Context(m, at_rest, held))
                    old = original(Context(m, at_rest, held))
                    found += bool(old)
                    if new != old:
                        mismatches.append(f"step {engine.steps} {inv_name}: {new} != {old}")
                for f, values in saved.items():
                    getattr(m, f)[:] = values
                for pages, before in zip(m.pcp, pcp, strict=True):
                    pages.clear()
                    pages.extend(before)

        return hook

    monkeypatch.setattr(runner, "step_hook", make)
    sc = REGISTRY[name]
    result = explore(sc, ExploreOptions("random", 3, 2, shrink=False))
    assert result.found is None, result.found.finding.message
    assert not mismatches, "\n".join(mismatches[:5])
    assert found > 20  # the originals did find things to compare


def test_a_replaced_page_array_starts_the_tracker_afresh() -> None:
    """Copies and census views belong to the arrays they were taken from: a machine whose
    page array is replaced is checked from scratch."""
    m = Machine(MachineConfig(ram=8 << 20, cpus=2, seed=1), RandomStrategy(1))
    m.mount("never", 0)
    invariants = select()
    tracker = Tracker(m, invariants)
    assert tracker.run(Context(m, True), False) == []
    refcount = m.refcount[:]
    refcount[m.nr_frames - 1] = 5  # a free frame with a count
    m.refcount = refcount
    fast = tracker.run(Context(m, True), False)
    assert fast
    assert fast == run_checks(invariants, Context(m, True), False)


def test_every_recount_is_kept_in_a_census_part() -> None:
    """vmstat_matches_recount keeps each recount in the census part named for it: every
    counter has one, and the check reads them all."""
    from hugetmpfs.check.counters import RECOUNT_PART, RECOUNTS

    assert set(RECOUNT_PART) == set(RECOUNTS)
    reads = INVARIANTS["vmstat_matches_recount"].reads or frozenset()
    for part in RECOUNT_PART.values():
        assert part in READS
        assert part in reads


def test_frames_ok_checks_read_only_through_restricted_reads_and_census() -> None:
    """A check asked about changed frames (frames_ok) instead of rerun reads every page
    array through a restricted read: a whole-array read would make the question
    incomplete.  (Their answers against the full recount: the tests above, corrupted
    states included.)"""
    from hugetmpfs.check.incremental import ARRAY_PARTS

    asked = [inv for inv in INVARIANTS.values() if inv.frames_ok is not None]
    assert {inv.name for inv in asked} >= {
        "refcount_covers_owners",
        "pagecache_matches_page_fields",
    }
    for inv in asked:
        assert inv.reads is not None
        assert inv.flag_bits == 0, inv.name  # flags only through restricted reads
        assert not set(ARRAY_PARTS) & set(inv.reads), inv.name


def test_census_parts_may_read_arrays_at_some_frames_but_not_for_frames_ok() -> None:
    """A census part reading an array only at a support's frames (recounts_teams reads
    ``private`` at team pages) is dropped only when one of those frames changes (the kept
    parts are compared with fresh ones at every step above); a check answering
    frames_ok may not read one, since its answer covers its own restricted reads only."""
    from dataclasses import replace

    parts, _, restricted = expand(frozenset({"recounts_teams"}), 0)
    assert "private" not in parts
    assert ("private", "team_pages", -1) in restricted
    m = Machine(MachineConfig(ram=8 << 20, cpus=2, seed=1), RandomStrategy(1))
    ok = INVARIANTS["refcount_covers_owners"]
    assert ok.reads is not None
    bad = replace(ok, reads=ok.reads | {"recounts_teams"})
    with pytest.raises(AssertionError, match="frames_ok"):
        Tracker(m, [bad])
    Tracker(m, [ok])


class _ReadCounters(list):  # type: ignore[type-arg]
    """A zone counter list that records which counters are read."""

    def __init__(self, values: list[int]) -> None:
        super().__init__(values)
        self.read: set[int] = set()

    def __getitem__(self, k: Any) -> Any:
        self.read.update(range(len(self))[k] if isinstance(k, slice) else (k,))
        return super().__getitem__(k)

    def __iter__(self) -> Any:
        self.read.update(range(len(self)))
        return super().__iter__()


@pytest.mark.parametrize(("name", "guard_off"), [CASES[0], CASES[4], CASES[8]])
def test_checks_reading_some_zone_counters_read_only_those(
    name: str, guard_off: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check whose reads name single zone counters (``zone:<NAME>``) is rerun only when
    one of those changes: at every step, each reads no other counter."""
    from hugetmpfs.mm.vmstat import ZONE_STAT_ITEMS

    some = {
        inv.name: {
            ZONE_STAT_ITEMS.index(p[5:])
            for p in inv.reads or ()
            if isinstance(p, str) and p.startswith("zone:")
        }
        for inv in INVARIANTS.values()
    }
    some = {name: counters for name, counters in some.items() if counters}
    assert {"vmstat_matches_recount", "nr_free_pages_matches", "lru_counters_agree"} <= set(some)
    wrong: list[str] = []
    ran = 0

    def make(m: MemMachine, **_: object) -> object:
        def hook(engine: Engine, point: str) -> None:
            nonlocal ran
            at_rest = point in REST_POINTS and machine_at_rest(m, current_at_rest=True)
            zone = m.vmstat.zone
            for check, counters in some.items():
                inv = INVARIANTS[check]
                ctx = Context(m, at_rest, held_locks(engine))
                if not inv.applies(ctx):
                    continue
                m.vmstat.zone = recording = _ReadCounters(zone)
                try:
                    inv.fn(ctx)
                finally:
                    m.vmstat.zone = zone
                ran += 1
                if not recording.read <= counters:
                    extra = sorted(ZONE_STAT_ITEMS[k] for k in recording.read - counters)
                    wrong.append(f"step {engine.steps}: {check} read {extra}")

        return hook

    monkeypatch.setattr(runner, "step_hook", make)
    sc = REGISTRY[name]
    guards = (sc.guard,) if guard_off and sc.guard else ()
    explore(sc, ExploreOptions("random", 3, 4, guards_off=guards, shrink=False))
    assert ran > 30
    assert not wrong, "\n".join(wrong[:5])


def test_a_valued_census_part_is_read_by_its_value() -> None:
    """A check reading a valued census part (incremental.VALUED: team_heads) reads the
    pseudo-part ``census:team_heads``, not what team_heads is computed from: it reruns
    when the heads change, not at every change of ``index`` or ``mapping``.  (That the
    value is compared right: the kept census parts and the results above, at every step,
    corrupted states included.)"""
    from hugetmpfs.check.incremental import VALUE, VALUED, inputs

    assert "team_heads" in VALUED
    for name in ("team_usage_matches_team", "checked_teams_are_populated", "team_lru_weights"):
        inv = INVARIANTS[name]
        parts, bits, _ = expand(inv.reads, inv.flag_bits)
        assert VALUE + "team_heads" in parts, name
        assert not {"index", "mapping"} & parts, name
    parts, bits, _ = inputs("team_heads")
    assert {"index", "mapping"} <= parts
    assert bits


@pytest.mark.parametrize("name", ["recovery-vs-punch-and-write", "recovery-swapin-mapped"])
def test_a_plan_leaves_out_only_restricted_reads_that_cannot_matter(name: str) -> None:
    """Layout.plan gives, per changed array (flags: of the changed bits; and per valued
    part), the restricted reads refresh looks at: each as Layout.restricted has it, less
    the checks the plan unsettles (they stay so until they run); one is left out only when
    it reads none of the changed bits or nothing is left of it, and a read of flags gets
    ALL_FLAGS (every changed frame) only when it reads every changed bit.  Here, for every
    plan made in a run."""
    from hugetmpfs.check.incremental import ALL_FLAGS, VALUE_PARTS, layout

    explore(REGISTRY[name], ExploreOptions("random", 6, 1, shrink=False))
    lay = layout(select())
    assert len(lay.plans) > 20
    for (changed, flag_bits), (_, _, unsettle, looked_at) in lay.plans.items():
        arrays = [p for p in lay.restricted if p in changed or p in VALUE_PARTS]
        assert set(looked_at) == {*arrays, *(["flags"] if flag_bits else [])}
        for part, groups in looked_at.items():
            expected = []
            for at, bits, names, checks in lay.restricted[part]:
                if part == "flags" and not bits & flag_bits:
                    continue
                checks = tuple(i for i in checks if i not in unsettle)
                if names or checks:
                    expected.append((at, bits, names, checks))
            assert len(groups) == len(expected), (part, changed, flag_bits)
            for got, want in zip(groups, expected, strict=True):
                assert got[0] is want[0]
                assert got[2:] == want[2:]
                if got[1] != want[1]:  # every changed bit is one it reads
                    assert part == "flags"
                    assert got[1] == ALL_FLAGS
                    assert want[1] & flag_bits == flag_bits


def _files_as_it_was(m: Any) -> tuple[Any, ...]:
    """incremental._files before it copied each inode once (an inode was copied wherever
    it was met)."""
    from hugetmpfs.check.incremental import _inode

    mounts = tuple(
        (
            sb,
            sb.max_blocks,
            sb.used_blocks,
            tuple((name, _inode(inode)) for name, inode in sb.names.items()),
            tuple((ino, _inode(inode)) for ino, inode in sb.s_inodes.items()),
        )
        for sb in getattr(m, "mounts", ())
    )
    shrinklist = getattr(m, "shrinklist", None)
    return (mounts, None if shrinklist is None else tuple(map(_inode, shrinklist)))


@pytest.mark.parametrize("name", ["recovery-vs-punch-and-write", "recovery-vs-eviction"])
def test_the_files_copy_changes_when_the_copy_it_replaced_did(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``files`` copies each inode once: at every step it changes exactly when the copy
    of every inode wherever met (as it was) does."""
    from hugetmpfs.check.incremental import _files

    changes = [0, 0]
    wrong: list[int] = []

    def make(m: MemMachine, **_: object) -> object:
        before = [_files(m), _files_as_it_was(m)]

        def hook(engine: Engine, point: str) -> None:
            now = [_files(m), _files_as_it_was(m)]
            moved = [a != b for a, b in zip(now, before, strict=True)]
            if moved[0] != moved[1]:
                wrong.append(engine.steps)
            changes[0] += moved[0]
            before[:] = now

        return hook

    monkeypatch.setattr(runner, "step_hook", make)
    explore(REGISTRY[name], ExploreOptions("random", 4, 1, shrink=False))
    assert not wrong
    assert changes[0] > 3


@pytest.mark.parametrize("name", ["recovery-vs-punch-and-write", "recovery-swapin-mapped"])
def test_copy_objects_is_every_object_part_copied(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tracker copies the object parts in one call (incremental.copy_objects): at
    every step it equals each part's own copy (OBJECT_PARTS), part by part."""
    from hugetmpfs.check.incremental import OBJECT_PARTS, copy_objects

    wrong: list[int] = []
    steps = 0

    def make(m: MemMachine, **_: object) -> object:
        def hook(engine: Engine, point: str) -> None:
            nonlocal steps
            steps += 1
            if copy_objects(m) != tuple(copy(m) for copy in OBJECT_PARTS.values()):
                wrong.append(engine.steps)

        return hook

    monkeypatch.setattr(runner, "step_hook", make)
    explore(REGISTRY[name], ExploreOptions("random", 3, 1, shrink=False))
    assert steps > 30
    assert not wrong


def _census_array(census: Census, support: str) -> np.ndarray:
    value: Any = census
    for attr in support.split("."):
        value = getattr(value, attr)
    return value


@pytest.mark.parametrize(
    "name", ["recovery-vs-punch-and-write", "recovery-swapin-mapped", "huge-fault-vs-cow-fault"]
)
def test_restricted_reads_read_nothing_outside_their_supports(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check reading an array only at a support's frames (``(array, support, bits)``,
    its own or a census part's) is not rerun when the array changes elsewhere: there, such
    a change must not make a check that found nothing find something.  At some steps of a
    run, each such read of each applicable check that finds nothing has the array changed
    at a few frames outside all its supports (flags: in the bits read there only), and the
    check must still find nothing."""
    rng = random.Random(11)
    tried = 0
    wrong: list[str] = []

    def make(m: MemMachine, **_: object) -> object:
        invariants = select()

        def hook(engine: Engine, point: str) -> None:
            nonlocal tried
            if engine.steps % 4:
                return
            held = held_locks(engine)
            for inv in invariants:
                ctx = Context(m, False, held)
                if not inv.applies(ctx) or inv.fn(ctx):
                    continue
                parts, whole_bits, restricted = expand(inv.reads, inv.flag_bits)
                for array, _, bits in restricted:
                    same = [s for a, s, b in restricted if a == array and b & bits]
                    if array in parts or ALL_FRAMES in same:
                        continue  # read everywhere: a change anywhere reruns it
                    if array == "flags":
                        bits &= ~whole_bits  # bits it also reads everywhere: likewise
                        if not bits:
                            continue
                    census = Census(m)
                    inside = np.zeros(m.nr_frames, dtype=bool)
                    for support in same:
                        inside |= _census_array(census, support) != 0
                    outside = np.flatnonzero(~inside).tolist()
                    if array.startswith(VALUE):  # a census array: changed in a census of its own
                        name = array[len(VALUE) :]
                        for page in rng.sample(outside, min(3, len(outside))):
                            changed = Census(m)
                            value = getattr(changed, name).copy()
                            value[page] = (
                                not value[page] if value.dtype == bool else value[page] + 1
                            )
                            changed.__dict__[name] = value
                            ctx = Context(m, False, held)
                            ctx.__dict__["census"] = changed
                            tried += 1
                            if inv.fn(ctx):
                                wrong.append(f"step {engine.steps} {inv.name} {name}@{page}")
                        continue
                    arr = getattr(m, array)
                    for page in rng.sample(outside, min(3, len(outside))):
                        was = arr[page]
                        if array == "flags":
                            arr[page] ^= rng.choice([1 << b for b in range(32) if bits >> b & 1])
                        else:
                            arr[page] = was + rng.choice((1, -1, 7))
                        after = Census(m)
                        moved = any(
                            not np.array_equal(
                                _census_array(census, s) != 0, _census_array(after, s) != 0
                            )
                            for s in same
                        )
                        found = inv.fn(Context(m, False, held))
                        arr[page] = was
                        if moved:
                            continue  # the support changed: the hook reruns the check
                        tried += 1
                        if found:
                            wrong.append(f"step {engine.steps} {inv.name} {array}@{page}: {found}")

        return hook

    monkeypatch.setattr(runner, "step_hook", make)
    explore(REGISTRY[name], ExploreOptions("random", 3, 5, shrink=False))
    assert tried > 100
    assert not wrong, "\n".join(wrong[:5])


@pytest.mark.parametrize(
    "name", ["recovery-vs-punch-and-write", "putback-vs-disband", "remap-vs-punch"]
)
def test_the_hooks_end_of_run_check_is_check_machine(name: str) -> None:
    """An exploration's end-of-execution check reruns, from the step hook's copies, only
    the checks whose reads changed: the same violations as check_machine, clean or not."""
    sc = REGISTRY[name]
    for seed in range(4):
        m = Machine(sc.config("v24", (), seed), RandomStrategy(seed))
        m.mount(sc.mount_huge, sc.mount_size)
        hook = step_hook(m)
        m.engine.step_hooks.append(hook)
        sc.setup(m)
        assert m.engine.run() is None
        assert hook.check_machine() == check_machine(m) == []  # type: ignore[attr-defined]
        page = int(np.flatnonzero(np.frombuffer(m.refcount, dtype=m.refcount.typecode))[0])
        m.refcount[page] += 1  # as if a reference were leaked after the last decision
        found = hook.check_machine()  # type: ignore[attr-defined]
        assert found
        assert found == check_machine(m)
        m.engine.close()
