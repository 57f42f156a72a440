"""Checking at every step without recounting what did not change: exact change detection.

A check's verdict is a function of the state it reads (and, for a few, of ``ctx.at_rest``
and ``ctx.held``).  The step hook keeps, per machine, an exact copy of every *part* of the
state the checks read, taken at the previous decision; at each decision it compares the
machine with those copies (bytes for the per-frame arrays, tuples of values and object
identities for everything else) and learns which parts changed, and for ``flags`` which
bits.  Then:

* a check whose last run found **nothing** is not rerun while none of the parts it
  ``reads`` (check/core.py) has changed since that run: its verdict would be the same, so
  its result is the same empty list.  A check that found something is always rerun (its
  messages name page fields it does not list as read), and a check that declares no
  ``reads`` reruns whenever anything at all changed;
* the census (check/census.py) is kept across decisions, and each of its parts is
  recomputed only when one of the parts it reads (census.READS) has changed (for a read
  of an array at a support's frames only, when one of those frames did).  A *valued*
  part (VALUED, a numpy array) is then recomputed at once and its readers learn of a
  change only if its value differs from the one they read (unless no reader is settled
  or kept: they rerun anyway, and it is made when one of them reads it);
* a read of a per-frame array at a support's frames only (``(array, support)``, a page
  array or a valued census array such as ``free``) reruns its reader only when the array
  changed at one of those frames (or the support changed): the changed frames are found
  from the old and new values (few, in the usual step).  A check with ``frames_ok`` is
  asked about those frames instead of rerun (check/core.py).

What to drop and unsettle for a set of changed parts (and flag bits), and which reads at
some frames are left to look at then, is worked out once and kept (Layout.plan), shared by
every tracker of the same invariants: a step costs a look-up, not a walk over the readers
of each changed part.  The object parts are copied in one call (copy_objects) and
compared at once, part by part only when they differ.

Nothing here relies on the model reporting its writes: a copy is compared, so a mutation
anywhere in a part is seen.  A copy may change when nothing the checks read did (a stale
radix-tree slot, a dict reordered): that costs a rerun, never a missed change.  What must
hold is that every state a check's verdict (or a census part) reads belongs to a part in
its ``reads``; tests/check/test_incremental.py runs scenarios with every check recomputed
from scratch beside the incremental ones and compares their results at every step.

The parts (what each copies):

=============  ==========================================================================
part           state
=============  ==========================================================================
flags          ``m.flags`` (changed bits are known: a check may read only some)
refcount ...   ``m.refcount``, ``mapcount``, ``mapping``, ``index``, ``private``,
               ``content``; ``lru_links`` is ``lru_next`` and ``lru_prev``
mappings       ``m.mappings`` (the objects, by identity)
lru_lists      LRU heads, tails and sizes
free_lists     buddy free list heads and nr_free
pcp            the per-CPU free lists
pvecs          the LRU add pagevecs
zone           ``m.vmstat.zone``; ``zone:<NAME>`` only that counter (vmstat.ZONE_STAT_ITEMS)
page_caches    every address_space: its radix tree (slots, tags, counts), nrpages,
               nrexceptional, a_ops, id, i_mmap, and its host's evicted/alloced/swapped
mm             every mm: VMAs (bounds, flags, file and its mapping), pmds, page tables
               (ptes, nr_present, frame), huge pmds and deposited tables, nr_ptes, rss
files          mounts (limits, used blocks, names, inodes and their counters, lock
               state, shrink-list mark) and the shrink list (its inodes likewise)
swap           the swap cache and the swap device's map and counters
hog            the pressure hog's pages
recovery       the recovery list (each work, its bumped page, migrated head, exiting)
registered     the pfns every registered owner (core.register_owner) yields
census:<name>  a valued census part (VALUED): changed when its recomputed value differs
at_rest        ``ctx.at_rest``
held           ``ctx.held``; ``held:<class>`` only whether that lock class is in it
ctx            both ``at_rest`` and ``held``
=============  ==========================================================================
"""

from __future__ import annotations

from functools import cache
from itertools import compress, starmap
from operator import attrgetter, not_
from typing import TYPE_CHECKING, Any

import numpy as np

from hugetmpfs.check.census import READS as CENSUS_READS
from hugetmpfs.check.census import Census
from hugetmpfs.mm.filemap import AddressSpace
from hugetmpfs.mm.mm_types import HugePmd
from hugetmpfs.mm.vmstat import ZONE_STAT_ITEMS

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.check.core import Context, Invariant, Violation
    from hugetmpfs.mm.machine import MemMachine

#: The per-frame arrays, by part (``lru_links`` is two arrays).
ARRAY_PARTS: dict[str, tuple[str, ...]] = {
    "flags": ("flags",),
    "refcount": ("refcount",),
    "mapcount": ("mapcount",),
    "mapping": ("mapping",),
    "index": ("index",),
    "private": ("private",),
    "lru_links": ("lru_next", "lru_prev"),
    "content": ("content",),
}


def _mappings(m: Any) -> tuple[Any, ...]:
    return tuple(m.mappings)


def _lru_lists(m: Any) -> tuple[Any, ...]:
    return (tuple(m.lru_head), tuple(m.lru_tail), tuple(m.lru_size))


def _free_lists(m: Any) -> tuple[Any, ...]:
    return (tuple(m.free_head), tuple(m.nr_free))


def _pcp(m: Any) -> tuple[Any, ...]:
    return tuple(map(tuple, m.pcp))


def _pvecs(m: Any) -> tuple[Any, ...]:
    return tuple(map(tuple, m.lru_add_pvec))


def _zone(m: Any) -> tuple[int, ...]:
    return tuple(m.vmstat.zone)


_SPACE = attrgetter("id", "a_ops", "nrpages", "nrexceptional", "host")


def _page_caches(m: Any) -> tuple[Any, ...]:
    out = []
    for x in m.mappings:
        if isinstance(x, AddressSpace):
            host = x.host
            # the radix tree (mm/radix_tree.py) as values: its counts, node keys, and each
            # node's occupancy, tag masks and slots
            tree = x.page_tree
            nodes = [
                (key, node.mask, tuple(node.tags), node.slots.tobytes())
                for key, node in tree.nodes.items()
            ]
            out.append(
                (
                    x,
                    _SPACE(x),
                    tuple(x.i_mmap),
                    getattr(host, "evicted", None),
                    getattr(host, "alloced", None),
                    getattr(host, "swapped", None),
                    (tree.count, tuple(tree.tag_count), tuple(tree.keys), tuple(nodes)),
                )
            )
    return tuple(out)


def _pmd(key: int, entry: Any) -> tuple[Any, ...]:
    """A pmd as values: a huge pmd's fields and its deposited table, or a pte table (the
    table, its frame, nr_present and ptes)."""
    if isinstance(entry, HugePmd):
        d = entry.deposited
        table = () if d is None else (d, d.page, d.nr_present, tuple(d.ptes))
        return (key, entry, entry.head, entry.write, entry.dirty, entry.young, table)
    if entry is None:
        return (key,)
    return (key, entry, entry.page, entry.nr_present, tuple(entry.ptes))


_VMA = attrgetter("mm", "vm_start", "vm_end", "vm_pgoff", "vm_flags", "vm_file")


def _vma(vma: Any) -> tuple[Any, ...]:
    where = _VMA(vma)
    file = where[-1]
    if file is None:
        return (vma, where)
    f_mapping = file.f_mapping
    return (vma, where, f_mapping, f_mapping.id, tuple(f_mapping.i_mmap))


def _mm(m: Any) -> tuple[Any, ...]:
    return tuple(
        [
            (
                mm,
                mm.nr_ptes,
                tuple(mm.rss.items()),
                tuple(map(_vma, mm.vmas)),
                tuple(starmap(_pmd, mm.pmds.items())),
            )
            for mm in m.mms
        ]
    )


# an inode's fields; its info_lock by owner (finer than is_locked(): locked iff an owner)
_INODE = attrgetter(
    "ino",
    "mapping",
    "alloced",
    "swapped",
    "i_blocks",
    "i_nlink",
    "i_count",
    "evicted",
    "on_shrinklist",
    "info_lock.owner",
)


def _inode(inode: Any) -> tuple[Any, ...]:
    return (inode, _INODE(inode))


def _files(m: Any) -> tuple[Any, ...]:
    """Mounts with their names and inodes (by identity), the shrink list (likewise), and
    each inode met there once, with its fields (an inode is in ``names`` and ``s_inodes``
    both: copied once).  Inodes compare by identity, so this changes exactly when a copy
    of every inode wherever it is met would."""
    mounts = []
    inodes: dict[int, Any] = {}  # met first -> first
    for sb in getattr(m, "mounts", ()):
        names, s_inodes = tuple(sb.names.items()), tuple(sb.s_inodes.items())
        mounts.append((sb, sb.max_blocks, sb.used_blocks, names, s_inodes))
        for _, inode in names:
            inodes[id(inode)] = inode
        for _, inode in s_inodes:
            inodes[id(inode)] = inode
    shrinklist = getattr(m, "shrinklist", None)
    listed = None if shrinklist is None else tuple(shrinklist)
    for inode in listed or ():
        inodes[id(inode)] = inode
    return (tuple(mounts), listed, tuple(map(_inode, inodes.values())))


def _swap(m: Any) -> tuple[Any, ...]:
    space = getattr(m, "swapper_space", None)
    si = getattr(m, "swap_info", None)
    device = None if si is None else (si, si.max, si.inuse_pages, si.swap_map.tobytes())
    return (None if space is None else tuple(space.items()), device)


def _hog(m: Any) -> tuple[Any, ...]:
    return tuple(getattr(m, "hog_pages", ()))


def _recovery(m: Any) -> tuple[Any, ...] | None:
    recoveries = getattr(m, "recoverylist", None)
    if recoveries is None:
        return None
    return tuple((r, r.bumped, r.migrated_head, r.filled_head, r.exiting) for r in recoveries)


def _registered(m: Any) -> tuple[Any, ...]:
    return tuple(tuple(fn(m)) for fn in getattr(m, "check_owners", ()))


#: The parts that are not per-frame arrays, and how each is copied.
OBJECT_PARTS: dict[str, Callable[[Any], tuple[Any, ...]]] = {
    "mappings": _mappings,
    "lru_lists": _lru_lists,
    "free_lists": _free_lists,
    "pcp": _pcp,
    "pvecs": _pvecs,
    "zone": _zone,
    "page_caches": _page_caches,
    "mm": _mm,
    "files": _files,
    "swap": _swap,
    "hog": _hog,
    "recovery": _recovery,
    "registered": _registered,
}

OBJECT_NAMES = tuple(OBJECT_PARTS)


_COPIES = tuple(OBJECT_PARTS.values())


def copy_objects(m: Any) -> tuple[Any, ...]:
    """Every OBJECT_PARTS copy, in its order, made in one call."""
    return tuple([copy(m) for copy in _COPIES])


PARTS = frozenset({*ARRAY_PARTS, *OBJECT_PARTS, "at_rest", "held"})
if PARTS & {name for name in CENSUS_READS if name not in ARRAY_PARTS}:
    raise AssertionError("a state part is named like a census part")
ALL_FLAGS = -1
ALL_FRAMES = "*"  # the support of a restricted read that reads every frame
FLAG_BITS = 32  # m.flags holds uint32 words
HELD = "held:"
ZONE = "zone:"
ZONE_PARTS = tuple(ZONE + name for name in ZONE_STAT_ITEMS)  # in counter order


#: Census parts whose readers are told of a change only when their value changed: when
#: what one reads changes, the step hook recomputes it at once and compares it with the
#: value it had (numpy arrays only: a value holding model objects, which change in place,
#: could not be compared).  In topological order (a part after those it reads).  A check
#: (or census part) reading one reads the pseudo-part ``census:<name>``.
VALUED: tuple[str, ...] = ("team_heads", "mapped", "free", "used", "pmd_count")
VALUE = "census:"
VALUE_PARTS = frozenset(VALUE + name for name in VALUED)


def known_part(name: str) -> bool:
    return (
        name in PARTS
        or (name.startswith(HELD) and len(name) > len(HELD))
        or name in ZONE_PARTS
        or name in VALUE_PARTS
    )


Restricted = tuple[str, str, int]  # (array part, census support, flag bits)


@cache
def expand(
    reads: frozenset[Any] | None, flag_bits: int
) -> tuple[frozenset[str], int, tuple[Restricted, ...]]:
    """The state parts and flag bits behind *reads* (census parts replaced by what they
    read, recursively; None reads everything), and its reads of single arrays restricted
    to the frames of a census support, as ``(array part, support, flag bits)``."""
    if reads is None:
        return PARTS, ALL_FLAGS, ()
    parts: set[str] = set()
    restricted: list[Restricted] = []
    todo = list(reads)
    while todo:
        name = todo.pop()
        if isinstance(name, tuple):
            array, support, *bits = name
            if array in VALUED and not bits:  # a valued census array at some frames
                restricted.append((VALUE + array, support, ALL_FLAGS))
            elif array not in ARRAY_PARTS or len(ARRAY_PARTS[array]) != 1 or len(bits) > 1:
                raise ValueError(f"restricted read {name!r}: one array part, a support, bits")
            else:
                restricted.append((array, support, bits[0] if bits else ALL_FLAGS))
            if support != ALL_FRAMES:
                todo.append(support.split(".")[0])  # the support changing reruns the check
        elif name == "ctx":
            parts |= {"at_rest", "held"}
        elif name in VALUED:
            parts.add(VALUE + name)
        elif known_part(name):
            parts.add(name)
        elif name in CENSUS_READS:
            for x in CENSUS_READS[name]:
                if isinstance(x, int):
                    flag_bits |= x
                elif x == "flags":
                    flag_bits = ALL_FLAGS
                else:
                    todo.append(x)
        else:
            raise ValueError(f"unknown part {name!r}; parts: {sorted(PARTS)}")
    return frozenset(parts), flag_bits, tuple(restricted)


def inputs(name: str) -> tuple[frozenset[str], int, tuple[Restricted, ...]]:
    """What census part *name* reads, expanded (a valued part it reads, as its
    pseudo-part)."""
    reads = CENSUS_READS[name]
    bits = 0
    for x in reads:
        if isinstance(x, int):
            bits |= x
        elif x == "flags":
            bits = ALL_FLAGS
    return expand(frozenset(x for x in reads if not isinstance(x, int) and x != "flags"), bits)


UNSEEN = object()  # a valued part not computed when it was dropped


VALUE_NAMES = frozenset(VALUED)


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


class Layout:
    """What a tracker derives from its invariants alone: who reads what, and the plans
    made so far (what to drop and unsettle for a set of changed parts).  Shared by every
    tracker of the same invariants (layout())."""

    def __init__(self, invariants: tuple[Invariant, ...]) -> None:
        self.invariants = invariants
        expanded = [expand(inv.reads, inv.flag_bits) for inv in invariants]
        self.inv_reads = [(parts, bits) for parts, bits, _ in expanded]
        census_expanded = {
            name: inputs(name)
            for name in CENSUS_READS
            if name in Census.__dict__ and name not in ARRAY_PARTS
        }
        self.census_reads = {name: x[:2] for name, x in census_expanded.items()}
        # a census part dropped for a restricted read is dropped after the supports are
        # looked at (refresh), so none may be a support, nor read by one
        supports = {s.split(".")[0] for *_, r in expanded for _, s, _ in r}
        supports |= {s.split(".")[0] for x in census_expanded.values() for _, s, _ in x[2]}
        supports.discard(ALL_FRAMES)
        for name in supports:
            if inputs(name)[2]:
                raise AssertionError(f"support {name} reads an array at some frames only")
        # a valued part is recomputed before restricted reads are looked at: it may not
        # read one
        for k, name in enumerate(VALUED):
            parts, _, restricted = census_expanded[name]
            if restricted:
                raise AssertionError(f"valued {name} reads an array at some frames only")
            if parts & {VALUE + later for later in VALUED[k:]}:
                raise AssertionError(f"VALUED is not in topological order at {name}")
        # frames_ok answers for its own restricted reads only: none may come from a census
        # part (its change must rerun the check)
        for inv, (_, _, restricted) in zip(invariants, expanded, strict=True):
            own = {
                (VALUE + r[0] if r[0] in VALUED else r[0], r[1], r[2] if len(r) > 2 else ALL_FLAGS)
                for r in inv.reads or ()
                if isinstance(r, tuple)
            }
            if inv.frames_ok is not None and not set(restricted) <= own:
                raise AssertionError(f"{inv.name}: frames_ok, and a census part reads frames")
        # part -> checks / census parts reading it (flags: by bits)
        self.readers: dict[str, list[int]] = {p: [] for p in PARTS}
        for i, (parts, _) in enumerate(self.inv_reads):
            for p in parts:
                self.readers.setdefault(p, []).append(i)
        # the lock classes some check asks about one by one
        self.held_parts = sorted(p for p in self.readers if p.startswith(HELD))
        self.census_readers: dict[str, list[str]] = {p: [] for p in PARTS}
        for name, (parts, _) in self.census_reads.items():
            for p in parts:
                self.census_readers.setdefault(p, []).append(name)
        # flag bit -> checks / census parts reading it (-1: all that read any)
        self.bit_readers = {
            1 << b: [i for i, (_, bits) in enumerate(self.inv_reads) if bits & 1 << b]
            for b in range(FLAG_BITS)
        }
        self.all_bits = [i for i, (_, bits) in enumerate(self.inv_reads) if bits]
        self.census_bit_readers = {
            1 << b: [name for name, (_, bits) in self.census_reads.items() if bits & 1 << b]
            for b in range(FLAG_BITS)
        }
        self.census_all_bits = [name for name, (_, bits) in self.census_reads.items() if bits]
        # array part -> per (support, bits): the census parts and the checks reading the
        # array at the support's frames only (in the order first met)
        groups: dict[str, dict[tuple[str, int], tuple[list[str], list[int]]]] = {}
        for name, (_, _, restricted) in census_expanded.items():
            for array, support, bits in restricted:
                group = groups.setdefault(array, {}).setdefault((support, bits), ([], []))
                group[0].append(name)
        for i, (_, _, restricted) in enumerate(expanded):
            for array, support, bits in restricted:
                group = groups.setdefault(array, {}).setdefault((support, bits), ([], []))
                group[1].append(i)
        # as refresh reads them: the support as a getter of its census array (None: every
        # frame)
        self.restricted: dict[str, Groups] = {
            array: tuple(
                (
                    None if support == ALL_FRAMES else attrgetter(support),
                    bits,
                    tuple(names),
                    tuple(checks),
                )
                for (support, bits), (names, checks) in by.items()
            )
            for array, by in groups.items()
        }
        self.frames_ok = [inv.frames_ok for inv in invariants]
        # (changed parts, flag bits) -> what to drop and unsettle, and the restricted reads
        # to look at (plan)
        self.plans: dict[tuple[tuple[str, ...], int], Step] = {}
        self.value_plans = {name: self._plan((VALUE + name,), 0) for name in VALUED}
        # valued part -> the checks reading it (whole or at some frames) and the census
        # parts reading it: while none of those checks is settled and none of those parts
        # kept, its new value matters to nobody (its readers rerun anyway)
        self.watchers = {
            name: (
                tuple(
                    sorted(
                        {
                            *self.value_plans[name][2],
                            *(i for g in self.restricted.get(VALUE + name, ()) for i in g[3]),
                        }
                    )
                ),
                tuple(
                    {
                        *self.value_plans[name][0],
                        *self.value_plans[name][1],
                        *(n for g in self.restricted.get(VALUE + name, ()) for n in g[2]),
                    }
                ),
            )
            for name in VALUED
        }
        # (at_rest, held) -> the checks that apply (Invariant.applies reads only these)
        self.applicable: dict[tuple[bool, frozenset[str]], list[int]] = {}

    def _plan(self, changed: tuple[str, ...], flag_bits: int) -> Plan:
        """The census parts to drop (plain ones, then valued ones in VALUED order) and the
        checks to unsettle when *changed* and the *flag_bits* did."""
        drops: set[str] = set()
        unsettle: set[int] = set()
        for part in changed:
            drops.update(self.census_readers.get(part, ()))
            unsettle.update(self.readers.get(part, ()))
        bits = flag_bits
        while bits:  # each changed flag bit; all at once when -1 (or a bit unheard of)
            bit = bits & -bits if bits != ALL_FLAGS else ALL_FLAGS
            drops.update(self.census_bit_readers.get(bit, self.census_all_bits))
            unsettle.update(self.bit_readers.get(bit, self.all_bits))
            bits = 0 if bit == ALL_FLAGS else bits & (bits - 1)
        plain = tuple(sorted(drops - VALUE_NAMES))
        valued = tuple(name for name in VALUED if name in drops)
        return plain, valued, tuple(sorted(unsettle))

    def plan(self, changed: tuple[str, ...], flag_bits: int) -> Step:
        """_plan, and per array part (valued ones too) the restricted reads that may still
        need looking at once that is done (_looked_at)."""
        key = (changed, flag_bits)
        plan = self.plans.get(key)
        if plan is None:
            plain, valued, unsettle = self._plan(changed, flag_bits)
            looked_at = self._looked_at(changed, flag_bits, frozenset(unsettle))
            plan = self.plans[key] = (plain, valued, unsettle, looked_at)
        return plan

    def _looked_at(
        self, changed: tuple[str, ...], flag_bits: int, unsettled: frozenset[int]
    ) -> dict[str, Groups]:
        """The restricted reads of the arrays that *changed* (flags: of the *flag_bits*; and
        every valued part) without the checks *unsettled* already: they stay so until the
        checks run.  A read of flags that reads every changed bit reads them all
        (ALL_FLAGS): at each changed frame, one of its bits changed."""
        parts = [p for p in changed if p in self.restricted]
        parts += [p for p in self.restricted if p in VALUE_PARTS]
        out = {}
        for part in (*parts, "flags") if flag_bits else parts:
            groups = []
            for at, bits, names, checks in self.restricted.get(part, ()):
                if part == "flags":
                    if not bits & flag_bits:
                        continue
                    if bits & flag_bits == flag_bits:
                        bits = ALL_FLAGS
                checks = tuple(i for i in checks if i not in unsettled)
                if names or checks:
                    groups.append((at, bits, names, checks))
            out[part] = tuple(groups)
        return out


Plan = tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...]]
#: The reads of one array restricted to one support's frames (and flag bits): the
#: support's getter (of its census array; None for every frame), the flag bits, the census
#: parts and the checks reading so
Group = tuple[Any, int, tuple[str, ...], tuple[int, ...]]
Groups = tuple[Group, ...]
Step = tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...], dict[str, Groups]]  # plan()

_LAYOUTS: dict[tuple[int, ...], Layout] = {}


def layout(invariants: list[Invariant]) -> Layout:
    """The layout of these invariants (made once per list of the same invariants)."""
    key = tuple(map(id, invariants))
    found = _LAYOUTS.get(key)
    if found is None:  # it keeps the invariants, so their ids are not reused
        found = _LAYOUTS[key] = Layout(tuple(invariants))
    return found


class Tracker:
    """One machine's copies of the parts, its kept census, and which checks are settled
    (found nothing, and nothing they read has changed since)."""

    def __init__(self, m: MemMachine, invariants: list[Invariant]) -> None:
        self.m = m
        self.invariants = invariants
        self.layout = layout(invariants)
        self.start_afresh()
        # changed array part (or valued census part: refresh) -> (changed frames, old ^ new
        # there) for flags, (now, old) as numpy arrays for the others, None when first seen
        self.deltas: dict[str, Any] = {}

    def start_afresh(self) -> None:
        """No copies, no census kept, no check settled: the next round recounts all."""
        m = self.m
        self.census = Census(m)
        # (part, name, the array, a numpy view of it, its dtype)
        self.arrays = [
            (part, name, arr, np.frombuffer(arr, np.dtype(arr.typecode)), np.dtype(arr.typecode))
            for part, names in ARRAY_PARTS.items()
            for name in names
            for arr in (getattr(m, name),)
        ]
        self.copies: dict[str, Any] = {}
        self.settled = [False] * len(self.invariants)

    def _changes(self, at_rest: bool, held: frozenset[str]) -> tuple[list[str], int]:
        """Compare the machine with the copies (and keep the new ones): the parts that
        changed, and the flag bits that did.  ``self.deltas`` keeps, per changed array, what
        to find its changed frames from."""
        m, deltas, copies = self.m, self.deltas, self.copies
        deltas.clear()
        changed: list[str] = []
        flag_bits = 0
        for part, name, arr, live, dtype in self.arrays:
            if getattr(m, name) is not arr:  # a page array replaced (the census views too)
                self.start_afresh()
                return self._changes(at_rest, held)
            now = arr.tobytes()
            before = copies.get(name)
            if now == before:
                continue
            copies[name] = now
            if before is None:  # the first look: everything is new
                deltas[part] = None
                flag_bits = ALL_FLAGS
            elif part == "flags":  # the changed frames and bits at once (few)
                x = live ^ np.frombuffer(before, dtype)
                frames = (x != 0).nonzero()[0]  # (a bool array's nonzero is the faster)
                xors = x[frames].tolist()
                deltas[part] = (frames.tolist(), xors)
                for bits in xors:
                    flag_bits |= bits
            else:  # old != new made when a restricted read asks (see refresh)
                deltas[part] = (live, np.frombuffer(before, dtype))
            if part != "flags" and (not changed or changed[-1] != part):
                changed.append(part)
        objects = copy_objects(m)
        before = copies.get("objects")
        if objects != before:  # which parts changed
            copies["objects"] = objects
            if before is None:  # the first look
                changed += OBJECT_NAMES
                changed += ZONE_PARTS
            else:
                for part, now, was in zip(OBJECT_NAMES, objects, before, strict=True):
                    if now != was:
                        changed.append(part)
                        if part == "zone":  # and each counter that changed
                            changed += [
                                p for p, a, b in zip(ZONE_PARTS, was, now, strict=True) if a != b
                            ]
        if at_rest != copies.get("at_rest"):
            copies["at_rest"] = at_rest
            changed.append("at_rest")
        before = copies.get("held")
        if held != before:
            copies["held"] = held
            changed.append("held")
            for part in self.layout.held_parts:
                lock = part[len(HELD) :]
                if before is None or (lock in held) != (lock in before):
                    changed.append(part)
        return changed, flag_bits

    @staticmethod
    def _changed_frames(delta: Any) -> tuple[list[int], list[int] | None]:
        """The frames where a changed array (*delta*, see ``deltas``) changed, in
        increasing order, and for flags the changed bits there (old ^ new)."""
        now, before = delta
        if isinstance(now, list):  # flags: found already
            return now, before
        return (now != before).nonzero()[0].tolist(), None

    def refresh(self, ctx: Context) -> None:
        """Unsettle the checks and drop the census parts that read what changed."""
        changed, flag_bits = self._changes(ctx.at_rest, ctx.held)
        settled = self.settled
        if not changed and not flag_bits:
            ctx.__dict__["census"] = self.census
            return
        lay = self.layout
        cached = self.census.__dict__
        plain, valued, unsettle, looked_at = lay.plan(tuple(changed), flag_bits)
        for name in plain:
            cached.pop(name, None)
        for i in unsettle:
            settled[i] = False
        if valued:  # a valued part changed only if its value did (VALUED)
            before = {name: cached.pop(name, UNSEEN) for name in valued}
            for name in VALUED:
                if name not in before:
                    continue  # not dropped: it stands
                checks, names = lay.watchers[name]
                if not any(map(settled.__getitem__, checks)) and cached.keys().isdisjoint(names):
                    continue  # its readers rerun anyway: made when one reads it
                value = before[name]
                now = getattr(self.census, name)
                if value is not UNSEEN and _same_array(value, now):
                    continue
                if VALUE + name in lay.restricted:  # where it changed, for restricted reads
                    self.deltas[VALUE + name] = (
                        None if value is UNSEEN or value.shape != now.shape else (now, value)
                    )
                plain, valued, unsettle = lay.value_plans[name]
                for reader in plain:
                    cached.pop(reader, None)
                for reader in valued:
                    if reader not in before:
                        before[reader] = cached.pop(reader, UNSEEN)
                for i in unsettle:
                    settled[i] = False
        # reads restricted to some frames: rerun only if a changed frame is among them, or
        # for a check with frames_ok, if its condition fails at one (the census is current
        # by now; a support that changed has unsettled its readers)
        ctx.__dict__["census"] = self.census
        if not self.deltas:
            return
        asks: dict[int, list[int]] = {}  # check -> changed frames to ask about
        census = self.census
        for part, delta in self.deltas.items():
            groups = looked_at.get(part)
            if not groups:
                continue
            frames: list[int] | None = None
            xors: list[int] | None = None
            for at_support, bits, names, checks in groups:
                # census parts (none of them is a support: Layout checks), not kept, and
                # checks rerun already, need nothing
                if len(checks) == 1:
                    live = checks if settled[checks[0]] else ()
                else:
                    live = [i for i in checks if settled[i]]
                if names:
                    names = [name for name in names if name in cached]
                if not names and not live:
                    continue
                if delta is None:
                    hit: list[int] = [-1]  # everything is new
                else:
                    if frames is None:
                        frames, xors = self._changed_frames(delta)
                    if bits == ALL_FLAGS or xors is None:
                        hit = frames
                    else:
                        hit = [p for p, v in zip(frames, xors, strict=True) if v & bits]
                    if at_support is not None and hit:
                        at = at_support(census)
                        if len(hit) == 1:  # the usual: one frame changed
                            if not at[hit[0]]:
                                continue
                        else:
                            hit = [p for p in hit if at[p]]
                    if not hit:
                        continue
                for name in names:
                    cached.pop(name, None)
                for i in live:
                    if delta is None or lay.frames_ok[i] is None:
                        settled[i] = False
                    else:
                        asks.setdefault(i, []).extend(hit)
        for i, at_frames in asks.items():
            if settled[i]:
                ok = lay.frames_ok[i]
                assert ok is not None
                settled[i] = ok(ctx, at_frames)

    def run(self, ctx: Context, first_only: bool) -> list[Violation]:
        """What run_checks(self.invariants, ctx, first_only) returns, rerunning only the
        checks that are not settled."""
        self.refresh(ctx)
        settled, invariants = self.settled, self.invariants
        key = (ctx.at_rest, ctx.held)
        applicable = self.layout.applicable.get(key)
        if applicable is None:
            applicable = [i for i, inv in enumerate(invariants) if inv.applies(ctx)]
            self.layout.applicable[key] = applicable
        out: list[Violation] = []
        # the unsettled ones, in order (read as it goes: settling i touches no later one)
        for i in compress(applicable, map(not_, map(settled.__getitem__, applicable))):
            found = invariants[i].fn(ctx)
            if not found:
                settled[i] = True
                continue
            out += found
            if first_only:
                break
        return out
