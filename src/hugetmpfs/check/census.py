"""The census: one walk over everything that can hold or list a page, shared by the checks.

Each part is computed on first use and kept for the round (:class:`Part`, a lock-free
``functools.cached_property``), so a round costs one walk of each structure however many
invariants read it.  Walks are defensive: a corrupt list (a cycle, a pfn out of range, a
broken back link) ends the walk with a *problem* string, which the structural invariants
report, instead of hanging or raising.  Per-frame results are numpy arrays indexed by pfn;
the page arrays themselves are read through zero-copy views (``np.frombuffer`` over the
``array.array``).

Costs (n = frames): views O(1); ``cache`` O(entries in all page caches); ``lru`` O(pages on
LRU lists); ``buddy`` O(free blocks) plus O(n) numpy; ``tables`` O(pte tables × HPAGE_PMD_NR);
``owners`` the sum of those plus O(n) numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from hugetmpfs.mm.filemap import AddressSpace
from hugetmpfs.mm.machine import MAX_ORDER, NIL, PAGE_SHIFT
from hugetmpfs.mm.mm_types import PTE_PFN_SHIFT, PTE_PRESENT, HugePmd, PageTable
from hugetmpfs.mm.page_alloc import POISON
from hugetmpfs.mm.page_flags import PG_mlocked, PG_swapbacked, PG_swapcache, PG_team
from hugetmpfs.mm.radix_tree import radix_to_swp_entry
from hugetmpfs.mm.swap import NR_LRU_LISTS

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine

#: What each part of the census reads: state parts of check/incremental.py, other census
#: parts, page-flag bits (ints) when it reads only those bits of ``flags``, or
#: ``(array, support)`` when it reads a per-frame array only where the census array
#: *support* is non-zero (as a check's ``reads``, check/core.py; no support may read so).  The step
#: hook keeps a census across decisions and recomputes a part only when one of these
#: changed; a new part must be listed here (the numpy views of the page arrays read their
#: own array and are never recomputed).
READS: dict[str, tuple[str | int | tuple[str, str], ...]] = {
    "flags": ("flags",),
    "refcount": ("refcount",),
    "mapcount": ("mapcount",),
    "mapping": ("mapping",),
    "index": ("index",),
    "kinds": ("mappings",),
    "page_kind": ("mapping", "kinds"),
    "address_spaces": ("mappings",),
    "cache": ("address_spaces", "page_caches"),
    "lru": ("lru_lists", "lru_links"),
    "pvec_count": ("pvecs",),
    "pcp_count": ("pcp",),
    "hog_count": ("hog",),
    "swapcache_count": ("swap",),
    "buddy": ("free_lists", "lru_links"),
    "free": ("buddy", "pcp_count"),
    "tables": ("mm",),
    "team_heads": ("team_pages", "index", "mapping"),
    "team_pages": (PG_team,),
    "team_holes": ("team_hole_frames",),
    "team_hole_frames": ("team_heads", "cache", PG_team),
    "team_usage": ("team_heads", ("private", "team_pages")),
    "mapped": ("mapcount",),
    "lru_pages": ("lru",),
    "used": ("cache", "lru", "pvecs", "tables"),
    "pmd_count": ("tables",),
    "filled_heads": ("recovery",),
    "swapcache_flagged": (PG_swapcache,),
    "uncached_file_pages": ("page_kind", "cache"),
    "poison": ("content",),
    "extra_owners": ("registered",),
    "flag_counts": (PG_swapcache, PG_mlocked),
    "mapped_kinds": ("mapped", "page_kind"),
    # where check/counters.py keeps its recounts, by what they read (counters.RECOUNT_PART)
    "recounts_cache": ("cache", ("flags", "cache.count", PG_swapbacked), "flag_counts"),
    "recounts_flags": ("flag_counts",),
    "recounts_mapped": (
        "mapped_kinds",
        "hog_count",
        "team_heads",
        ("private", "team_pages"),
        PG_team,
        "mapped",
        "team_usage",
    ),
    "recounts_tables": ("tables",),
    "recounts_teams": ("team_heads", ("private", "team_pages"), "team_usage"),
    "owners": (
        "cache",
        "swapcache_count",
        "pvec_count",
        "tables",
        "hog_count",
        "team_hole_frames",
        "extra_owners",
    ),
}


def view(arr: Any) -> np.ndarray:
    """A numpy view of one of the machine's per-frame ``array.array`` fields (no copy)."""
    return np.frombuffer(arr, dtype=arr.typecode)


def _kind(obj: object) -> int:
    if obj is None:
        return 0
    if isinstance(obj, AddressSpace):
        return 1
    return 2 if getattr(obj, "PAGE_MAPPING_ANON", False) else 3


def counts(n: int, pfns: list[int]) -> np.ndarray:
    """How many times each pfn in ``range(n)`` occurs in *pfns* (all must be in range)."""
    if not pfns:
        return np.zeros(n, dtype=np.int64)
    return np.bincount(np.asarray(pfns, dtype=np.int64), minlength=n)


class Part(cached_property):
    """``functools.cached_property`` without its lock: before Python 3.12 every first
    access takes an RLock, which costs as much as some parts (a census is never shared
    between threads).  Computed on first use and kept in the instance dict, which shadows
    this descriptor from then on."""

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.attrname] = self.func(instance)
        return value


@dataclass
class CacheCensus:
    """Every page-cache entry, in mapping then index order: the pages as parallel arrays,
    the swap entries as (mapping, index, slot), and per mapping (by ``id``) its numbers of
    page and swap entries."""

    swaps: list[tuple[AddressSpace, int, int]] = field(default_factory=list)
    per_mapping: dict[int, list[int]] = field(default_factory=dict)
    count: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    problems: list[str] = field(default_factory=list)
    # The page entries (in range) as parallel arrays, for vectorised checks.
    pfn: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    mapping_id: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    shmem: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


@dataclass
class LruCensus:
    members: list[list[int]]  # per LRU list, head to tail
    list_of: np.ndarray  # int8 per frame: the list it was found on, or -1
    problems: list[tuple[int, str]]  # (list, what is wrong)


@dataclass
class BuddyCensus:
    blocks: list[list[int]]  # per order, the first pfn of each free block, list order
    cover: np.ndarray  # per frame: how many free blocks contain it (1 when healthy)
    problems: list[str]


@dataclass
class TableCensus:
    """Present ptes and huge pmds of every registered mm, and the frames of their tables;
    per frame, how many ptes, huge pmds and tables name it (counted on first use: most
    rounds read only the lists)."""

    ptes: list[tuple[Any, int, int, int]]  # (mm, address, pfn, pte)
    huge: list[tuple[Any, int, HugePmd]]  # (mm, address, pmd)
    tables: list[tuple[Any, int, PageTable, bool]]  # (mm, address, table, deposited)
    problems: list[str]
    n: int
    # the frames in range named by each present pte, then by each huge pmd (its head), and
    # those of the tables: what the counts below count, as lists (few)
    mapped_pfns: list[int]
    nr_ptes: int  # how many of mapped_pfns are the ptes'
    table_pfns: list[int]

    @Part
    def pte_count(self) -> np.ndarray:
        return counts(self.n, self.mapped_pfns[: self.nr_ptes])

    @Part
    def pmd_count(self) -> np.ndarray:
        return counts(self.n, self.mapped_pfns[self.nr_ptes :])

    @Part
    def table_frames(self) -> np.ndarray:
        return counts(self.n, self.table_pfns)


class Census:
    """Lazily computed views and walks of one machine (see the module docstring)."""

    def __init__(self, m: MemMachine) -> None:
        self.m = m
        self.n = m.nr_frames

    # -- the page arrays ------------------------------------------------------------------

    @Part
    def flags(self) -> np.ndarray:
        return view(self.m.flags)

    @Part
    def refcount(self) -> np.ndarray:
        return view(self.m.refcount)

    @Part
    def mapcount(self) -> np.ndarray:
        return view(self.m.mapcount)

    @Part
    def mapping(self) -> np.ndarray:
        return view(self.m.mapping)

    @Part
    def index(self) -> np.ndarray:
        return view(self.m.index)

    @Part
    def kinds(self) -> np.ndarray:
        """Per mapping id: 0 NULL, 1 an address_space (a file page), 2 an anon_vma (an
        anonymous page: PAGE_MAPPING_ANON, mm/rmap.py), 3 anything else."""
        return np.array([_kind(x) for x in self.m.mappings], dtype=np.int8)

    @Part
    def page_kind(self) -> np.ndarray:
        """Per frame: 0 no mapping, 1 file, 2 anon, 3 a bad mapping id."""
        ids, kinds = self.mapping, self.kinds
        # no bad id, the usual: as unsigned, a negative id is beyond every good one
        if not self.n or ids.view(f"u{ids.itemsize}").max() < len(kinds):
            if kinds.tolist() == list(range(len(kinds))):  # the usual: each id its kind
                return ids.astype(np.int8)
            return kinds.take(ids)
        bad = (ids < 0) | (ids >= len(self.kinds))
        out = np.full(self.n, 3, dtype=np.int8)
        out[~bad] = self.kinds[ids[~bad]]
        return out

    @Part
    def address_spaces(self) -> list[AddressSpace]:
        return [x for x in self.m.mappings if isinstance(x, AddressSpace)]

    # -- page caches ----------------------------------------------------------------------

    @Part
    def cache(self) -> CacheCensus:
        n = self.n
        swaps: list[tuple[AddressSpace, int, int]] = []
        per_mapping: dict[int, list[int]] = {}
        problems: list[str] = []
        rows: list[int] = []  # pfn, index, mapping id, shmem: per page entry in range
        for mapping in self.address_spaces:
            is_shmem = int(mapping.a_ops == "shmem_aops")
            tally = per_mapping[id(mapping)] = [0, 0]
            mapping_id = mapping.id
            for index, entry in mapping.page_tree.items():
                if entry < 0:  # an exceptional (swap) entry
                    swaps.append((mapping, index, radix_to_swp_entry(entry)))
                    tally[1] += 1
                    continue
                tally[0] += 1
                if entry < n:
                    rows += (entry, index, mapping_id, is_shmem)
                else:
                    problems.append(f"{mapping!r} index {index:#x} holds pfn {entry}")
        # one conversion for the four arrays (views of its columns: entries are few, and
        # numpy calls cost the most)
        pfn, index, ids, shmem = np.array(rows, dtype=np.int64).reshape(-1, 4).T
        count = np.bincount(pfn, minlength=n) if len(pfn) else np.zeros(n, dtype=np.int64)
        return CacheCensus(swaps, per_mapping, count, problems, pfn, index, ids, shmem != 0)

    # -- LRU lists and pagevecs -----------------------------------------------------------

    @Part
    def lru(self) -> LruCensus:
        m, n = self.m, self.n
        lru_next, lru_prev = m.lru_next, m.lru_prev
        list_of = np.full(n, -1, dtype=np.int8)
        members: list[list[int]] = []
        problems: list[tuple[int, str]] = []
        for lru in range(NR_LRU_LISTS):
            pages: list[int] = []
            prev, page = NIL, m.lru_head[lru]
            while page != NIL:
                if not 0 <= page < n:
                    problems.append((lru, f"link from {prev} to pfn {page} out of range"))
                    break
                if list_of[page] != -1:
                    where = "twice (a cycle)" if list_of[page] == lru else "on two lists"
                    problems.append((lru, f"pfn {page} reached {where}"))
                    break
                if lru_prev[page] != prev:
                    problems.append((lru, f"pfn {page}.prev is {lru_prev[page]}, not {prev}"))
                list_of[page] = lru
                pages.append(page)
                prev, page = page, lru_next[page]
            if m.lru_tail[lru] != prev:
                problems.append((lru, f"lru_tail is {m.lru_tail[lru]}, last page is {prev}"))
            members.append(pages)
        return LruCensus(members, list_of, problems)

    @Part
    def pvec_count(self) -> np.ndarray:
        n = self.n
        return counts(n, [p for pvec in self.m.lru_add_pvec for p in pvec if 0 <= p < n])

    @Part
    def pcp_count(self) -> np.ndarray:
        n = self.n
        return counts(n, [p for pcp in self.m.pcp for p in pcp if 0 <= p < n])

    @Part
    def hog_count(self) -> np.ndarray:
        """Per frame, the pressure hog's mappings of it: its pages are mapped once each in
        page tables the model does not build (mm/pressure.py ``m.hog_pages``); each is a
        mapcount, a reference and an NR_ANON_PAGES page, as a pte would be."""
        n = self.n
        return counts(n, [p for p in getattr(self.m, "hog_pages", ()) if 0 <= p < n])

    @Part
    def swapcache_count(self) -> np.ndarray:
        """Per frame, the swap-cache slots holding it (``m.swapper_space``, slot -> pfn)."""
        n, space = self.n, getattr(self.m, "swapper_space", {})
        return counts(n, [p for p in space.values() if 0 <= p < n])

    # -- the buddy allocator --------------------------------------------------------------

    @Part
    def buddy(self) -> BuddyCensus:
        healthy = self._buddy_healthy()
        return healthy if healthy is not None else self._buddy_walk()

    def _buddy_healthy(self) -> BuddyCensus | None:
        """The buddy census when the lists are sound (the usual), from a walk in plain
        Python (blocks are few); None at the first thing amiss, which _buddy_walk reports."""
        m, n = self.m, self.n
        lru_next, lru_prev = m.lru_next, m.lru_prev
        blocks: list[list[int]] = []
        spans: list[tuple[int, int]] = []
        for order in range(MAX_ORDER):
            size = 1 << order
            heads: list[int] = []
            prev, page = NIL, m.free_head[order]
            while page != NIL:
                if not 0 <= page < n or page & (size - 1) or page + size > n:
                    return None
                if lru_prev[page] != prev or len(heads) > n:  # (the length: a bound)
                    return None
                heads.append(page)
                spans.append((page, page + size))
                prev, page = page, lru_next[page]
            blocks.append(heads)
        spans.sort()
        cover = np.zeros(n, dtype=np.int32)
        end = 0
        for start, stop in spans:
            if start < end:  # blocks overlap (or one is listed twice)
                return None
            cover[start:stop] = 1
            end = stop
        return BuddyCensus(blocks, cover, [])

    def _buddy_walk(self) -> BuddyCensus:
        """The buddy census of any lists, sound or not: each problem, in walk order."""
        m, n = self.m, self.n
        cover = np.zeros(n, dtype=np.int32)
        blocks: list[list[int]] = []
        problems: list[str] = []
        for order in range(MAX_ORDER):
            heads: list[int] = []
            prev, page = NIL, m.free_head[order]
            while page != NIL:
                if not 0 <= page < n or page & ((1 << order) - 1) or page + (1 << order) > n:
                    problems.append(f"order {order}: block at pfn {page} misaligned or outside")
                    break
                if cover[page]:
                    problems.append(f"order {order}: pfn {page} reached twice or overlaps")
                    break
                if m.lru_prev[page] != prev:
                    problems.append(
                        f"order {order}: pfn {page}.prev is {m.lru_prev[page]}, expected {prev}"
                    )
                cover[page : page + (1 << order)] += 1
                heads.append(page)
                prev, page = page, m.lru_next[page]
            blocks.append(heads)
        return BuddyCensus(blocks, cover, problems)

    @Part
    def free(self) -> np.ndarray:
        """Frames the allocator owns: inside a free buddy block or on a per-CPU list."""
        return np.logical_or(self.buddy.cover, self.pcp_count)  # (counts: non-zero is > 0)

    # -- page tables ----------------------------------------------------------------------

    @Part
    def tables(self) -> TableCensus:
        m, n = self.m, self.n
        shift = PAGE_SHIFT + m.HPAGE_PMD_ORDER
        ptes, huge, tables, problems = [], [], [], []
        for mm in m.mms:
            for pmd, entry in mm.pmds.items():
                base = pmd << shift
                if isinstance(entry, HugePmd):
                    huge.append((mm, base, entry))
                    if entry.deposited is not None:
                        tables.append((mm, base, entry.deposited, True))
                    continue
                tables.append((mm, base, entry, False))
                for i, pte in enumerate(entry.ptes):
                    if pte & PTE_PRESENT:
                        ptes.append((mm, base + (i << PAGE_SHIFT), pte >> PTE_PFN_SHIFT, pte))
        pte_pfns = [p for _, _, p, _ in ptes if 0 <= p < n]
        problems += [f"pte at {a:#x} maps pfn {p}" for _, a, p, _ in ptes if not 0 <= p < n]
        heads = [e.head for _, _, e in huge if 0 <= e.head < n]
        frames = [t.page for _, _, t, _ in tables if 0 <= t.page < n]
        return TableCensus(ptes, huge, tables, problems, n, pte_pfns + heads, len(pte_pfns), frames)

    # -- teams ----------------------------------------------------------------------------

    @Part
    def team_heads(self) -> np.ndarray:
        """pfns of live team heads (patch 04/31): PageTeam, aligned pfn and index, mapped."""
        m, nr = self.m, self.m.HPAGE_PMD_NR
        heads = [
            pfn
            # team pages, few (team_pages is a support: often made already)
            for pfn in self.team_pages.nonzero()[0].tolist()
            if not pfn % nr and not m.index[pfn] % nr and m.mapping[pfn]
        ]
        return np.array(heads, dtype=np.intp)

    @Part
    def team_pages(self) -> np.ndarray:
        """Per frame: PageTeam.  What is read of a team (its heads' and members' ``private``)
        is read only here: a support (check/core.py ``reads``)."""
        return (self.flags & PG_team) != 0

    @Part
    def team_usage(self) -> dict[int, tuple[int, int]]:
        """Live team head -> (instantiated pages, pmd mappings), read from its team_usage
        (``private``; the high counter counts both)."""
        m = self.m
        high = m.team.TEAM_HIGH_COUNTER
        out = {}
        for head in self.team_heads.tolist():
            count = m.private[head] // high
            nr = min(count, m.HPAGE_PMD_NR)
            out[head] = (nr, count - nr)
        return out

    @Part
    def mapped(self) -> np.ndarray:
        """The frames with a mapcount (≥ 0), in increasing order."""
        return (self.mapcount >= 0).nonzero()[0]

    @Part
    def used(self) -> np.ndarray:
        """Per frame: a use a free frame must not have (check/lists.py page_uses): in a
        page cache, on an LRU list, in a pagevec, mapped by a pte or a huge pmd (its
        head), a pte table.  From the few pages each names."""
        n, t = self.n, self.tables
        pfns = self.cache.pfn.tolist()  # in range
        for pages in self.lru.members:  # in range
            pfns += pages
        pfns += [p for pvec in self.m.lru_add_pvec for p in pvec if 0 <= p < n]
        pfns += t.mapped_pfns  # ptes and huge pmds' heads, in range
        pfns += t.table_pfns
        out = np.zeros(n, dtype=bool)
        out[pfns] = True
        return out

    @Part
    def flag_counts(self) -> dict[int, int]:
        """How many frames have each of PG_swapcache and PG_mlocked (the zone counters'
        recounts: kept while those bits stand, whatever else changes)."""
        flags = self.flags
        return {bit: int(np.count_nonzero(flags & bit)) for bit in (PG_swapcache, PG_mlocked)}

    @Part
    def mapped_kinds(self) -> list[int]:
        """page_kind of each frame of ``mapped``, in its order."""
        return self.page_kind[self.mapped].tolist()

    @Part
    def pmd_count(self) -> np.ndarray:
        """Per frame: the huge pmds mapping it (``tables.pmd_count``; valued)."""
        return self.tables.pmd_count

    @Part
    def lru_pages(self) -> np.ndarray:
        """Per frame: found on an LRU list (a support: the pages whose flags say which
        list they belong on)."""
        return self.lru.list_of >= 0

    @Part
    def filled_heads(self) -> np.ndarray:
        """Per frame: the head migration filled for a recovery (``filled_head``), in range."""
        out = np.zeros(self.n, dtype=bool)
        for r in getattr(self.m, "recoverylist", ()):
            if r.filled_head is not None and 0 <= r.filled_head < self.n:
                out[r.filled_head] = True
        return out

    @Part
    def swapcache_flagged(self) -> np.ndarray:
        """Per frame: PG_swapcache."""
        return (self.flags & PG_swapcache) != 0

    @Part
    def uncached_file_pages(self) -> np.ndarray:
        """Per frame: a file page (its mapping an address_space) in no page cache."""
        out = self.page_kind == 1
        out[self.cache.pfn] = False  # the frames cache.count counts (few)
        return out

    @Part
    def poison(self) -> np.ndarray:
        """Per frame: its content is POISON (uninitialised or freed memory)."""
        return view(self.m.content) == POISON

    @Part
    def team_holes(self) -> np.ndarray:
        """Per frame 1 where a live team's own (base) reference keeps a subpage: a hole (in
        no page cache), or a page recovery placed in its slot but has not yet enteamed
        (cached, not PageTeam: its cache reference is separate; digest §1.10)."""
        out = np.zeros(self.n, dtype=np.int64)
        out[self.team_hole_frames] = 1
        return out

    @Part
    def team_hole_frames(self) -> list[int]:
        """The frames where team_holes is 1, in increasing order."""
        heads = self.team_heads.tolist()  # few teams: plain Python
        if not heads:
            return []
        nr, flags = self.m.HPAGE_PMD_NR, self.m.flags
        cached = set(self.cache.pfn.tolist())  # where cache.count is not 0
        return [
            page
            for head in heads
            for page in range(head, min(head + nr, self.n))
            if page not in cached or not flags[page] & PG_team
        ]

    # Where check/counters.py keeps each zone counter's recount once made, one dict per
    # group of recounts that read the same parts (READS lists them).

    @Part
    def recounts_cache(self) -> dict[str, int]:
        return {}

    @Part
    def recounts_flags(self) -> dict[str, int]:
        return {}

    @Part
    def recounts_mapped(self) -> dict[str, int]:
        return {}

    @Part
    def recounts_tables(self) -> dict[str, int]:
        return {}

    @Part
    def recounts_teams(self) -> dict[str, int]:
        return {}

    # -- references -----------------------------------------------------------------------

    @Part
    def extra_owners(self) -> np.ndarray:
        m, n = self.m, self.n
        return counts(n, [p for fn in getattr(m, "check_owners", ()) for p in fn(m) if 0 <= p < n])

    @Part
    def owners(self) -> np.ndarray:
        """References every frame is known to have: one per page-cache slot, swap-cache
        slot, pagevec entry, present pte, hog mapping, huge pmd (on the head), pte table,
        team hole and registered owner."""
        # one count of every owner's frame (what the sum of the per-owner counts is)
        m, n, t = self.m, self.n, self.tables
        pfns = self.cache.pfn.tolist()  # in range
        pfns += [p for p in getattr(m, "swapper_space", {}).values() if 0 <= p < n]
        pfns += [p for pvec in m.lru_add_pvec for p in pvec if 0 <= p < n]
        pfns += t.mapped_pfns  # ptes and huge pmds' heads, in range
        pfns += [p for p in getattr(m, "hog_pages", ()) if 0 <= p < n]
        pfns += t.table_pfns
        pfns += self.team_hole_frames  # team_holes is 1 there, 0 elsewhere
        pfns += [p for fn in getattr(m, "check_owners", ()) for p in fn(m) if 0 <= p < n]
        return counts(n, pfns)
