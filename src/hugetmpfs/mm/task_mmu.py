"""/proc/<pid>/smaps over an address range: fs/proc/task_mmu.c.

smaps reports each VMA; the trace's ``smaps`` op sums the VMAs inside one mapping's range
(a madvise may have split it), so these functions sum over the VMAs' parts inside
[start, end), each VMA's figures in kB as the file shows them.

A huge pmd counts HPAGE_PMD_SIZE in Rss and in ShmemPmdMapped (Linux 6.18's name), which
patch 22/31 calls ShmemHugePages: both keys are given.  Sharing is judged page by page
with team_page_mapcount (patch 22/31), so a team tail mapped by a pmd and a pte counts as
shared.

Models: fs/proc/task_mmu.c (6.18's fields; patch 22/31 for teams): smaps_pte_entry,
smaps_pmd_entry, smaps_account, smaps_page_accumulate, __show_smap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.mm_types import PTE_DIRTY, PTE_PFN_SHIFT, PTE_YOUNG, HugePmd
from hugetmpfs.mm.page_flags import PG_dirty, PG_referenced, PG_swapbacked, PG_young
from hugetmpfs.mm.pageteam import team_page_mapcount
from hugetmpfs.mm.pgtable import pmd_shift, populated_pmds
from hugetmpfs.mm.rmap import AnonVma

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine
    from hugetmpfs.mm.mm_types import VMA, MMStruct

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PSS_SHIFT = 12

#: smaps fields in the order __show_smap prints them (all kB)
SMAPS_FIELDS = (
    "Rss",
    "Pss",
    "Pss_Dirty",
    "Pss_Anon",
    "Pss_File",
    "Pss_Shmem",
    "Shared_Clean",
    "Shared_Dirty",
    "Private_Clean",
    "Private_Dirty",
    "Referenced",
    "Anonymous",
    "ShmemPmdMapped",
    "ShmemHugePages",
)

#: struct mem_size_stats, the part the model keeps
_MSS_KEYS = (
    "resident",
    "pss",
    "pss_dirty",
    "pss_anon",
    "pss_file",
    "pss_shmem",
    "referenced",
    "shared_clean",
    "shared_dirty",
    "private_clean",
    "private_dirty",
    "anonymous",
    "shmem_pmd",
)


def smaps_rss(m: MemMachine, mm: MMStruct, start: int, end: int) -> tuple[int, int]:
    """(Rss, ShmemPmdMapped) in kB over [start, end): the trace's smaps op, counted from the
    tables' present counts where a whole table lies inside the range."""
    shift = pmd_shift(m)
    span = 1 << shift
    rss = pmd_mapped = 0
    for vma in _vmas_in(mm, start, end):
        lo, hi = max(start, vma.vm_start), min(end, vma.vm_end)
        for pmd in populated_pmds(mm, lo >> shift, (hi - 1) >> shift):
            entry = mm.pmds[pmd]
            if entry.__class__ is HugePmd:
                rss += span
                pmd_mapped += span
                continue
            a, b = max(lo, pmd << shift), min(hi, (pmd + 1) << shift)
            if b - a == span:
                rss += entry.nr_present << PAGE_SHIFT
            else:
                first = (a >> PAGE_SHIFT) & (m.HPAGE_PMD_NR - 1)
                ptes = entry.ptes[first : first + ((b - a) >> PAGE_SHIFT)]
                rss += (len(ptes) - ptes.count(0)) << PAGE_SHIFT
    return rss >> 10, pmd_mapped >> 10


def smaps(m: MemMachine, mm: MMStruct, start: int, end: int) -> dict[str, int]:
    """Every field of SMAPS_FIELDS, in kB, summed over the VMAs' parts in [start, end)."""
    total = dict.fromkeys(SMAPS_FIELDS, 0)
    for vma in _vmas_in(mm, start, end):
        mss = _smap_gather(m, vma, max(start, vma.vm_start), min(end, vma.vm_end))
        for key, value in _show_smap(mss).items():
            total[key] += value
    return total


def _vmas_in(mm: MMStruct, start: int, end: int) -> list[VMA]:
    return [vma for vma in mm.vmas if vma.vm_start < end and vma.vm_end > start]


def _smap_gather(m: MemMachine, vma: VMA, lo: int, hi: int) -> dict[str, int]:
    """The mem_size_stats of one VMA's part [lo, hi), in bytes (pss in bytes << PSS_SHIFT)."""
    mss = dict.fromkeys(_MSS_KEYS, 0)
    mm = vma.mm
    shift = pmd_shift(m)
    for pmd in populated_pmds(mm, lo >> shift, (hi - 1) >> shift):
        entry = mm.pmds[pmd]
        if entry.__class__ is HugePmd:
            # smaps_pmd_entry: the whole team, judged page by page below
            mss["shmem_pmd"] += 1 << shift
            _smaps_account(m, mss, entry.head, m.HPAGE_PMD_NR, entry.young, entry.dirty)
            continue
        a, b = max(lo, pmd << shift), min(hi, (pmd + 1) << shift)
        first = (a >> PAGE_SHIFT) & (m.HPAGE_PMD_NR - 1)
        for pte in entry.ptes[first : first + ((b - a) >> PAGE_SHIFT)]:
            if pte:
                page = pte >> PTE_PFN_SHIFT
                _smaps_account(m, mss, page, 1, pte & PTE_YOUNG, pte & PTE_DIRTY)
    return mss


def _smaps_account(
    m: MemMachine, mss: dict[str, int], page: int, nr: int, young: int, dirty: int
) -> None:
    """smaps_account for *nr* pages from *page* (1, or a team mapped by a pmd)."""
    size = nr << PAGE_SHIFT
    flags = m.flags[page]
    anon = m.mappings[m.mapping[page]].__class__ is AnonVma
    if anon:
        mss["anonymous"] += size
    mss["resident"] += size
    if young or flags & (PG_young | PG_referenced):
        mss["referenced"] += size
    kind = "pss_anon" if anon else "pss_shmem" if flags & PG_swapbacked else "pss_file"
    for p in range(page, page + nr):
        mapcount = team_page_mapcount(m, p)
        pss = PAGE_SIZE << PSS_SHIFT
        if mapcount >= 2:
            pss //= mapcount
        mss["pss"] += pss
        mss[kind] += pss
        shared = "shared" if mapcount >= 2 else "private"
        if dirty or m.flags[p] & PG_dirty:
            mss["pss_dirty"] += pss
            mss[shared + "_dirty"] += PAGE_SIZE
        else:
            mss[shared + "_clean"] += PAGE_SIZE


def _show_smap(mss: dict[str, int]) -> dict[str, int]:
    """__show_smap: the fields in kB (pss rounded down, as the kernel prints it)."""

    def pss(key: str) -> int:
        return mss[key] >> (10 + PSS_SHIFT)

    return {
        "Rss": mss["resident"] >> 10,
        "Pss": pss("pss"),
        "Pss_Dirty": pss("pss_dirty"),
        "Pss_Anon": pss("pss_anon"),
        "Pss_File": pss("pss_file"),
        "Pss_Shmem": pss("pss_shmem"),
        "Shared_Clean": mss["shared_clean"] >> 10,
        "Shared_Dirty": mss["shared_dirty"] >> 10,
        "Private_Clean": mss["private_clean"] >> 10,
        "Private_Dirty": mss["private_dirty"] >> 10,
        "Referenced": mss["referenced"] >> 10,
        "Anonymous": mss["anonymous"] >> 10,
        "ShmemPmdMapped": mss["shmem_pmd"] >> 10,
        "ShmemHugePages": mss["shmem_pmd"] >> 10,
    }
