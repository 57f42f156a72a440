"""Invariants of user mappings: page tables against mapcounts, rss, VMAs and the page cache.

Walks every registered mm (``m.mms``).  A pte and the mapcount, rss and Mapped counts it
implies change together under the table's pte lock (a huge pmd: under the pmd lock), so
these hold at every step where no ``pte_lock`` or ``pmd_lock`` is held.  VMAs change with
``mmap_sem`` held for writing and enter a file's ``i_mmap`` under ``i_mmap_rwsem`` held for
writing.  A pte never outlives the cache page it maps: truncation unmaps a page, under its
page lock, before deleting it under ``tree_lock``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hugetmpfs.check.core import STEP, Report, Violation, invariant
from hugetmpfs.mm.mm_types import PTE_PRESENT, PTE_WRITE, VM_SHARED, VM_WRITE
from hugetmpfs.mm.page_flags import PG_swapbacked, PG_team
from hugetmpfs.shmem.recovery import populate_bumps

if TYPE_CHECKING:
    from hugetmpfs.check.core import Context

PTL = ("pte_lock", "pmd_lock")
VMA_LOCKS = ("mmap_sem:write", "i_mmap_rwsem:write")


def _mapcounts_are_mappings(ctx: Context) -> bool:
    """Whether every frame's mapcount + 1 is its mappings (ptes, huge pmds on the head, hog
    pages), from the few frames mapped either way: a frame in neither has mapcount -1."""
    m, c = ctx.m, ctx.census
    t, n = c.tables, c.n
    want: dict[int, int] = {}  # frame -> its mappings, where there are some
    for page in t.mapped_pfns:  # in range
        want[page] = want.get(page, 0) + 1
    for page in getattr(m, "hog_pages", ()):  # what hog_count counts
        if 0 <= page < n:
            want[page] = want.get(page, 0) + 1
    mapped = c.mapped.tolist()  # mapcount ≥ 0: in want, each with its count
    if len(mapped) != len(want) or c.mapcount.min(initial=-1) < -1:
        return False
    mapcount = m.mapcount
    return all(mapcount[page] + 1 == want.get(page) for page in mapped)


@invariant(
    when=STEP,
    locks=PTL,
    cost="census (tables) + O(frames) numpy",
    reads=("tables", "hog_count", "mapcount", "mapped", "recovery"),
)
def page_tables_match_mapcounts(ctx: Context) -> list[Violation]:
    """page_mapcount(page) == ptes mapping it + huge pmds mapping it as head (I18: a pmd
    gives the head one mapcount and the tails none) + the pressure hog's mappings."""
    m, c = ctx.m, ctx.census
    t = c.tables
    r = Report("page_tables_match_mapcounts")
    if not t.problems and _mapcounts_are_mappings(ctx) and not populate_bumps(m):
        return r.result()  # the usual answer: every mapcount is its mappings
    for problem in t.problems:
        r.add(problem)
    want = t.pte_count + t.pmd_count + c.hog_count
    got = c.mapcount + 1
    # recovery/R8: populate holds one artificial mapcount while it enteams a mapped page
    # (and drops it last: an unmap meanwhile may already have taken the real one)
    for page in populate_bumps(m):
        if got[page] in (want[page], want[page] + 1):
            got[page] = want[page]  # got is a fresh array: the census is untouched
    for page in (got != want).nonzero()[0][:8]:
        page = int(page)
        hog = f" + {int(c.hog_count[page])} hog" if c.hog_count[page] else ""
        maps = f"{int(t.pte_count[page])} ptes + {int(t.pmd_count[page])} pmds{hog}"
        r.add(f"{maps} map it, but " + m.dump_page(page))
    return r.result()


@invariant(
    when=STEP,
    locks=PTL,
    cost="census (tables)",
    reads=("tables", "mm", "page_kind", ("flags", "tables.pte_count", PG_swapbacked)),
)
def page_table_counts_match(ctx: Context) -> list[Violation]:
    """Per table, nr_present == its present ptes, and a deposited table has none; per mm,
    nr_ptes == tables under its pmds (deposited ones included, I20), and the rss counters
    equal the ptes by kind (anon, shmem, other file) plus HPAGE_PMD_NR per huge pmd in
    MM_SHMEMPAGES (I30)."""
    m, c = ctx.m, ctx.census
    t = c.tables
    r = Report("page_table_counts_match")
    rss: dict[int, dict[str, int]] = {id(mm): dict.fromkeys(mm.rss, 0) for mm in m.mms}
    tables = dict.fromkeys(rss, 0)
    for mm, addr, table, deposited in t.tables:
        tables[id(mm)] += 1
        present = sum(1 for pte in table.ptes if pte & PTE_PRESENT)
        if present != table.nr_present:  # (the message is made only then)
            r.expect(f"table at {addr:#x} (pfn {table.page}) nr_present", present, table.nr_present)
        if deposited and present:
            r.add(f"deposited table under the huge pmd at {addr:#x} maps {present} ptes")
    n, page_kind, flags = c.n, c.page_kind, m.flags
    for mm, _, page, _ in t.ptes:  # each by its kind: anon, shmem or other file
        if not 0 <= page < n:
            continue
        kind = page_kind.item(page)
        if kind == 2:
            name = "MM_ANONPAGES"
        elif kind == 1:
            name = "MM_SHMEMPAGES" if flags[page] & PG_swapbacked else "MM_FILEPAGES"
        else:
            continue
        counts = rss[id(mm)]
        counts[name] = counts.get(name, 0) + 1
    for mm, _, _ in t.huge:
        rss[id(mm)]["MM_SHMEMPAGES"] += m.HPAGE_PMD_NR
    for i, mm in enumerate(m.mms):
        if tables[id(mm)] != mm.nr_ptes:  # (the message is made only then)
            r.expect(f"mm {i} nr_ptes vs tables", tables[id(mm)], mm.nr_ptes)
        for name, want in rss[id(mm)].items():
            if want != mm.rss.get(name, 0):  # (the message is made only then)
                r.expect(f"mm {i} {name} vs ptes", want, mm.rss.get(name, 0))
    return r.result()


def _vma_at(mm: Any, addr: int) -> Any:
    for vma in mm.vmas:
        if vma.vm_start <= addr < vma.vm_end:
            return vma
    return None


@invariant(
    when=STEP,
    locks=(*PTL, "tree_lock", "mmap_sem:write"),
    cost="census (tables)",
    reads=("tables", "mm", "page_kind", "mapping", "index", PG_team),
)
def ptes_match_vmas(ctx: Context) -> list[Violation]:
    """Each present pte lies in a VMA of its mm and is writable only if the VMA is; in a
    file VMA it maps the file's cache page at the linear index, or (private VMA) an anon
    page, and a private VMA never maps a cache page writably.  A huge pmd lies wholly in
    one VMA, maps a live team head (PageTeam) at the linear index (I14, I20)."""
    m, c = ctx.m, ctx.census
    r = Report("ptes_match_vmas")
    names = {id(mm): f"mm {i}" for i, mm in enumerate(m.mms)}
    for mm, addr, page, pte in c.tables.ptes:
        vma = _vma_at(mm, addr)
        if vma is None:
            r.add(f"{names[id(mm)]} pte at {addr:#x} lies in no VMA")
            continue
        if pte & PTE_WRITE and not vma.vm_flags & VM_WRITE:
            r.add(f"{names[id(mm)]} pte at {addr:#x} is writable in a read-only {vma!r}")
        if vma.vm_file is not None and 0 <= page < c.n:
            problem = _file_pte_problem(ctx, vma, addr, page, bool(pte & PTE_WRITE))
            if problem:
                where = f"{names[id(mm)]} pte at {addr:#x}"
                r.add(f"{where} in {vma!r}: {problem}: " + m.dump_page(page))
    for mm, addr, pmd in c.tables.huge:
        where = f"{names[id(mm)]} huge pmd at {addr:#x}"
        vma = _vma_at(mm, addr)
        end = addr + m.HPAGE_PMD_SIZE
        if vma is None or vma.vm_end < end or vma.vm_file is None:
            r.add(f"{where} is not inside one file VMA")
        elif not 0 <= pmd.head < c.n or not m.flags[pmd.head] & PG_team:
            r.add(f"{where} maps pfn {pmd.head}, not a team head")
        elif _file_pte_problem(ctx, vma, addr, pmd.head, False):
            r.add(f"{where}: head is not the cache page there: " + m.dump_page(pmd.head))
    return r.result()


def _file_pte_problem(ctx: Context, vma: Any, addr: int, page: int, write: bool) -> str:
    m = ctx.m
    index = ((addr - vma.vm_start) >> 12) + vma.vm_pgoff
    mapping = vma.vm_file.f_mapping
    kind = ctx.census.page_kind[page]
    if kind == 2:
        return "" if not vma.vm_flags & VM_SHARED else "anon page in a shared mapping"
    if m.mapping[page] != mapping.id or m.index[page] != index:
        return f"not the cache page of {mapping!r} at index {index:#x}"
    if write and not vma.vm_flags & VM_SHARED:
        return "cache page writable in a private mapping (missed COW)"
    return ""


@invariant(
    when=STEP, locks=VMA_LOCKS, cost="O(VMAs)", fast=True, reads=("mm", "cache", "address_spaces")
)
def vmas_well_formed(ctx: Context) -> list[Violation]:
    """Each mm's VMAs are page aligned, non-empty, sorted and disjoint, and belong to it;
    a file VMA is on its file's i_mmap, and each i_mmap entry is a VMA of a live mm."""
    m = ctx.m
    r = Report("vmas_well_formed")
    live = set()
    for i, mm in enumerate(m.mms):
        prev_end = 0
        for vma in mm.vmas:
            live.add(id(vma))
            if vma.mm is not mm or vma.vm_start & 0xFFF or vma.vm_end & 0xFFF:
                r.add(f"mm {i} {vma!r}: misaligned or owned by another mm")
            if not prev_end <= vma.vm_start < vma.vm_end:
                r.add(f"mm {i} {vma!r}: empty, unsorted or overlapping (prev end {prev_end:#x})")
            prev_end = vma.vm_end
            if vma.vm_file is not None and vma not in vma.vm_file.f_mapping.i_mmap:
                r.add(f"mm {i} {vma!r} is missing from {vma.vm_file.f_mapping!r}'s i_mmap")
    for mapping in ctx.census.address_spaces:
        for vma in mapping.i_mmap:
            if id(vma) not in live:
                r.add(f"{mapping!r} i_mmap holds {vma!r}, which no live mm has")
    return r.result()
