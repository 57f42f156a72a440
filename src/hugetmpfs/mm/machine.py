"""The simulated machine's memory: struct page as arrays, and the objects that hang off it.

Models: include/linux/mm_types.h (struct page) and mm/page_alloc.c's boot-time setup, for a
machine with one node and one zone.  Per-frame fields are arrays indexed by pfn (a page *is*
its pfn), costing about 42 bytes a frame, so a 16 GiB machine fits in a few hundred MiB:

======== ======= ======================================================================
array    type    meaning
======== ======= ======================================================================
flags    uint32  page flags (mm/page_flags.py)
refcount int32   page->_count
mapcount int32   page->_mapcount (-1 = unmapped)
mapping  int32   id of the page's address_space in ``mappings`` (0 = NULL)
index    int64   page->index
private  int64   page->private: swap entry of a swapcache page, team_usage of a team page
                 (one word, as in the kernel: base/R6.2), buddy order of a free block
lru_next int32   list links (page->lru): an LRU list, a buddy free list or a private list
lru_prev int32
content  int16   what the page holds: 0..255 = every byte equal to that value;
                 -1 = the bytes are in ``data[pfn]`` (a bytearray of PAGE_SIZE)
======== ======= ======================================================================
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any

from hugetmpfs.mm.pageteam import TeamLayout
from hugetmpfs.mm.vmstat import VmStat

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.sim import Engine

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
MAX_ORDER = 11  # orders 0..10, as on x86_64
NIL = -1  # end of a list threaded through lru_next / lru_prev


class MemMachine:
    """Frames, the buddy allocator's free areas, per-CPU page lists, counters and the engine.

    The tmpfs layer extends it (``hugetmpfs.shmem.machine.Machine``); modelled kernel
    functions take it as their first argument, the model's stand-in for the kernel's globals.
    """

    def __init__(self, engine: Engine, ram: int, cpus: int, hpage_nr: int) -> None:
        if hpage_nr < 2 or hpage_nr & (hpage_nr - 1) or hpage_nr > 512:
            raise ValueError(f"hpage_nr={hpage_nr} must be a power of two in 2..512")
        self.engine = engine
        self.cpus = cpus
        self.nr_frames = ram >> PAGE_SHIFT
        self.HPAGE_PMD_NR = hpage_nr
        self.HPAGE_PMD_ORDER = hpage_nr.bit_length() - 1
        self.HPAGE_PMD_SIZE = hpage_nr << PAGE_SHIFT
        n = self.nr_frames
        self.flags = array("I", bytes(4 * n))
        self.refcount = array("i", bytes(4 * n))
        self.mapcount = array("i", [-1]) * n
        self.mapping = array("i", bytes(4 * n))
        self.index = array("q", bytes(8 * n))
        self.private = array("q", bytes(8 * n))
        self.lru_next = array("i", [NIL]) * n
        self.lru_prev = array("i", [NIL]) * n
        self.content = array("h", bytes(2 * n))
        self.data: dict[int, bytearray] = {}
        # Address spaces and anon_vmas by id; slot 0 stands for NULL.
        self.mappings: list[Any] = [None]
        # Every live mm_struct, in creation order: MMStruct registers itself, and whoever
        # tears an mm down (mmput) removes it.  check/ recounts mapcounts from their tables.
        self.mms: list[Any] = []
        self.vmstat = VmStat()
        self.team = TeamLayout(self.HPAGE_PMD_ORDER)
        # Hooks the layers above install (SimPy style: callbacks, never upward imports).
        self.alloc_slowpath: Callable[[MemMachine, int, int], int | None] | None = None
        self.page_lockers: dict[int, Any] = {}  # pfn -> actor that took its lock (lockdep)
        self.writepage: Callable[[MemMachine, int, Any], int] | None = None
        # patch 29/31: migrate_page_move_mapping's call into shmem in MIGRATE_SHMEM_RECOVERY
        # mode, shmem_recovery_migrate_page(m, newpage, oldpage) -> bool (mm/migrate.py)
        self.shmem_recovery_migrate_page: Callable[[MemMachine, int, int], bool] | None = None
        # Model only (no kernel counterpart): told of each move into a page-cache slot, as
        # page_moved(m, newpage, oldpage) under tree_lock once the slot holds newpage; shmem
        # keeps check/'s bookkeeping of v24 recovery's head with it (mm/migrate.py)
        self.page_moved: Callable[[MemMachine, int, int], None] | None = None
        from hugetmpfs.mm.page_alloc import init_free_areas
        from hugetmpfs.mm.swap import init_lru
        from hugetmpfs.mm.vmscan import reclaim_pages

        # mm/vmscan.py's reclaim_pages(m, isolated pages), for MADV_PAGEOUT
        self.reclaim_pages: Callable[[MemMachine, list[int]], int] = reclaim_pages

        init_free_areas(self)
        init_lru(self)

    def register_mapping(self, obj: Any) -> int:
        """Give an address_space (or anon_vma) the id its pages store in ``mapping``."""
        self.mappings.append(obj)
        return len(self.mappings) - 1

    def page_mapping(self, page: int) -> Any:
        """page->mapping as an object (None for NULL)."""
        return self.mappings[self.mapping[page]]

    def dump_page(self, page: int, reason: str = "") -> str:
        """One line shaped like mm/debug.c's __dump_page."""
        from hugetmpfs.mm.debug import dump_page

        return dump_page(self, page, reason)
