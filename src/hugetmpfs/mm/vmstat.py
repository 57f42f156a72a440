"""vmstat counters and events: mm/vmstat.c, include/linux/mmzone.h (zone_stat_item) and
include/linux/vm_event_item.h, with the items patch 01/31 adds.

One zone, so zone counters are machine counters.  Counters are exact at every instant (the
kernel's per-CPU deltas are folded at once), which is what the invariants recount.
"""

from __future__ import annotations

# enum zone_stat_item (v4.6 names; the series adds the NR_SHMEM_* items and renames
# NR_ANON_TRANSPARENT_HUGEPAGES to NR_ANON_HUGEPAGES).
ZONE_STAT_ITEMS = (
    "NR_FREE_PAGES",
    "NR_ALLOC_BATCH",
    "NR_LRU_BASE",  # placeholder so the LRU items keep their kernel order
    "NR_INACTIVE_ANON",
    "NR_ACTIVE_ANON",
    "NR_INACTIVE_FILE",
    "NR_ACTIVE_FILE",
    "NR_UNEVICTABLE",
    "NR_MLOCK",
    "NR_ANON_PAGES",
    "NR_FILE_MAPPED",
    "NR_FILE_PAGES",
    "NR_FILE_DIRTY",
    "NR_WRITEBACK",
    "NR_SLAB_RECLAIMABLE",
    "NR_SLAB_UNRECLAIMABLE",
    "NR_PAGETABLE",
    "NR_KERNEL_STACK",
    "NR_UNSTABLE_NFS",
    "NR_BOUNCE",
    "NR_VMSCAN_WRITE",
    "NR_VMSCAN_IMMEDIATE",
    "NR_WRITEBACK_TEMP",
    "NR_ISOLATED_ANON",
    "NR_ISOLATED_FILE",
    "NR_SHMEM",
    "NR_DIRTIED",
    "NR_WRITTEN",
    "NR_PAGES_SCANNED",
    "NR_ANON_HUGEPAGES",
    "NR_SHMEM_HUGEPAGES",
    "NR_SHMEM_PMDMAPPED",
    "NR_SHMEM_FREEHOLES",
    "NR_FREE_CMA_PAGES",
    "NR_SWAPCACHE",  # a model convenience: the kernel derives it from swapper spaces
)

VM_EVENTS = (
    "PGPGIN",
    "PGPGOUT",
    "PSWPIN",
    "PSWPOUT",
    "PGALLOC_NORMAL",
    "PGFREE",
    "PGACTIVATE",
    "PGDEACTIVATE",
    "PGFAULT",
    "PGMAJFAULT",
    "PGSCAN_KSWAPD",
    "PGSCAN_DIRECT",
    "PGSTEAL_KSWAPD",
    "PGSTEAL_DIRECT",
    "PGROTATED",
    "PGMIGRATE_SUCCESS",
    "PGMIGRATE_FAIL",
    "COMPACTSTALL",
    "ALLOCSTALL",
    "OOM_KILL",
    "SWAP_RA",
    "THP_FILE_ALLOC",
    "THP_FILE_MAPPED",
    "THP_SPLIT_PMD",
    "UNEVICTABLE_PGMLOCKED",
)

# Module constants for the hot paths: m.vmstat.zone[NR_SHMEM] += 1.
for _i, _name in enumerate(ZONE_STAT_ITEMS):
    globals()[_name] = _i
for _i, _name in enumerate(VM_EVENTS):
    globals()[_name] = _i
NR_FREE_PAGES: int
NR_INACTIVE_ANON: int
NR_ACTIVE_ANON: int
NR_UNEVICTABLE: int
NR_MLOCK: int
NR_ANON_PAGES: int
NR_FILE_MAPPED: int
NR_FILE_PAGES: int
NR_PAGETABLE: int
NR_WRITEBACK: int
NR_ISOLATED_ANON: int
NR_SHMEM: int
NR_ANON_HUGEPAGES: int
NR_SHMEM_HUGEPAGES: int
NR_SHMEM_PMDMAPPED: int
NR_SHMEM_FREEHOLES: int
NR_SWAPCACHE: int
PSWPIN: int
PSWPOUT: int
PGFREE: int
PGFAULT: int
PGMAJFAULT: int
PGALLOC_NORMAL: int


class VmStat:
    """Zone counters (``zone``) and event counts (``events``), both plain lists of ints."""

    __slots__ = ("events", "zone")

    def __init__(self) -> None:
        self.zone = [0] * len(ZONE_STAT_ITEMS)
        self.events = [0] * len(VM_EVENTS)

    def as_dict(self) -> dict[str, int]:
        """/proc/vmstat: the kernel's lower-case names."""
        out = {name.lower(): v for name, v in zip(ZONE_STAT_ITEMS, self.zone, strict=True)}
        del out["nr_lru_base"]
        out["nr_anon_transparent_hugepages"] = out.pop("nr_anon_hugepages")
        out.update({name.lower(): v for name, v in zip(VM_EVENTS, self.events, strict=True)})
        return out
