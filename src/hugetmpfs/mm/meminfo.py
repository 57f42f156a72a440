"""/proc/meminfo: fs/proc/meminfo.c with the fields patch 01/31 adds, all in kB.

Models: fs/proc/meminfo.c and si_mem_available() (v4.6-rc2), with patch 02/31 counting
ShmemFreeHoles in MemAvailable (never in MemFree).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm import vmstat as v

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine


def meminfo(m: MemMachine) -> dict[str, int]:
    """Every meminfo field the model tracks, by its kernel name, in kB."""
    z = m.vmstat.zone
    huge_kb = m.HPAGE_PMD_NR * 4

    def kb(pages: int) -> int:
        return pages * 4

    free = z[v.NR_FREE_PAGES]
    file_lru = z[v.NR_INACTIVE_FILE] + z[v.NR_ACTIVE_FILE]
    available = free - m.wmark_low * 1 + file_lru - min(file_lru // 2, m.wmark_low)
    available += z[v.NR_SHMEM_FREEHOLES]  # patch 02/31: holes can be shrunk at once
    si = m.swap_info
    swap_total, swap_free = si.pages, si.pages - si.inuse_pages
    return {
        "MemTotal": kb(m.nr_frames),
        "MemFree": kb(free),
        "MemAvailable": kb(max(available, 0)),
        "Cached": kb(z[v.NR_FILE_PAGES] - z[v.NR_SWAPCACHE]),
        "SwapCached": kb(z[v.NR_SWAPCACHE]),
        "Active(anon)": kb(z[v.NR_ACTIVE_ANON]),
        "Inactive(anon)": kb(z[v.NR_INACTIVE_ANON]),
        "Unevictable": kb(z[v.NR_UNEVICTABLE]),
        "Mlocked": kb(z[v.NR_MLOCK]),
        "SwapTotal": kb(swap_total),
        "SwapFree": kb(swap_free),
        "AnonPages": kb(z[v.NR_ANON_PAGES]),
        "Mapped": kb(z[v.NR_FILE_MAPPED]),
        "Shmem": kb(z[v.NR_SHMEM]),
        "PageTables": kb(z[v.NR_PAGETABLE]),
        "AnonHugePages": z[v.NR_ANON_HUGEPAGES] * huge_kb,
        "ShmemHugePages": z[v.NR_SHMEM_HUGEPAGES] * huge_kb,
        "ShmemPmdMapped": z[v.NR_SHMEM_PMDMAPPED] * huge_kb,
        "ShmemFreeHoles": kb(z[v.NR_SHMEM_FREEHOLES]),
    }
