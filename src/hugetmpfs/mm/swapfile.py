"""The swap device: slots, their reference counts, and what each slot holds.

One swap device (type 0).  A swap entry is the slot's offset; slot 0 is the swap header,
as in Linux, so 0 is never a valid entry.  ``swap_map[offset]`` counts the references
(page tables, shmem's radix tree) plus SWAP_HAS_CACHE while a swap-cache page exists.
Slot contents are stored like frames' (one byte code, or a bytearray), so a swapped page of
one repeated byte costs nothing more.

Allocation is next-fit from a cursor, as scan_swap_map's cluster_next, so a run's slots are
deterministic.

Models: mm/swapfile.c (v4.6-rc2): get_swap_page, swap_free, swapcache_prepare,
swapcache_free, swap_shmem_alloc, free_swap_and_cache, page_swapcount.
Differs: no clusters, discard or priorities; one device.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

from hugetmpfs.errors import ModelBug

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine

SWAP_HAS_CACHE = 0x40
SWAP_MAP_MAX = 0x3E
SWAP_MAP_SHMEM = 0xBF  # a slot owned by shmem's radix tree (swap_shmem_alloc)
EEXIST, ENOENT = 17, 2


class SwapInfo:
    """struct swap_info_struct for the machine's one swap device."""

    def __init__(self, nr_slots: int) -> None:
        self.max = nr_slots  # slot 0 is the header
        self.swap_map = array("B", bytes(nr_slots))
        self.content = array("h", bytes(2 * nr_slots))
        self.data: dict[int, bytearray] = {}
        self.inuse_pages = 0
        self.cluster_next = 1
        self.busy_until = 0  # virtual time the device has finished its queued I/O
        if nr_slots:
            self.swap_map[0] = SWAP_MAP_MAX  # the header is never allocated

    @property
    def pages(self) -> int:
        """Usable slots (total_swap_pages)."""
        return max(self.max - 1, 0)


def init_swap(m: MemMachine, swap_bytes: int) -> None:
    m.swap_info = SwapInfo(swap_bytes >> 12 if swap_bytes >= 8192 else 0)


def total_swap_pages(m: MemMachine) -> int:
    return m.swap_info.pages


def nr_swap_pages(m: MemMachine) -> int:
    """Free slots."""
    si = m.swap_info
    return si.pages - si.inuse_pages


def get_swap_page(m: MemMachine) -> int:
    """Allocate a slot with SWAP_HAS_CACHE set (for add_to_swap_cache); 0 when full."""
    si = m.swap_info
    if si.inuse_pages >= si.pages:
        return 0
    offset = si.cluster_next
    for _ in range(si.max):
        if offset >= si.max:
            offset = 1
        if not si.swap_map[offset]:
            si.swap_map[offset] = SWAP_HAS_CACHE
            si.inuse_pages += 1
            si.cluster_next = offset + 1
            return offset
        offset += 1
    raise ModelBug("swap: inuse_pages says there is a free slot, but none was found")


def _count(si: SwapInfo, entry: int) -> int:
    c = si.swap_map[entry] & ~SWAP_HAS_CACHE
    return 1 if c == SWAP_MAP_SHMEM & ~SWAP_HAS_CACHE else c


def _put_slot(si: SwapInfo, entry: int, value: int) -> None:
    si.swap_map[entry] = value
    if value == 0:
        si.inuse_pages -= 1
        si.content[entry] = 0
        si.data.pop(entry, None)


def swap_shmem_alloc(m: MemMachine, entry: int) -> None:
    """The slot now belongs to a shmem radix entry (one reference, never more)."""
    si = m.swap_info
    si.swap_map[entry] = SWAP_MAP_SHMEM | (si.swap_map[entry] & SWAP_HAS_CACHE)


def swap_free(m: MemMachine, entry: int) -> None:
    """Drop one reference (a page table's or shmem's) to a slot."""
    si = m.swap_info
    v = si.swap_map[entry]
    if not v & ~SWAP_HAS_CACHE:
        raise ModelBug(f"swap_free: slot {entry} has no reference (map {v:#x})")
    has_cache = v & SWAP_HAS_CACHE
    count = _count(si, entry) - 1
    _put_slot(si, entry, (count | has_cache) if count else has_cache)


def swapcache_prepare(m: MemMachine, entry: int) -> int:
    """Claim the right to add a page for *entry* to the swap cache: 0, -EEXIST (someone
    else has it cached) or -ENOENT (the slot is free: the entry went away)."""
    si = m.swap_info
    if not 0 < entry < si.max:
        return -ENOENT
    v = si.swap_map[entry]
    if v & SWAP_HAS_CACHE:
        return -EEXIST
    if not v:
        return -ENOENT
    si.swap_map[entry] = v | SWAP_HAS_CACHE
    return 0


def swapcache_free(m: MemMachine, entry: int) -> None:
    """Drop SWAP_HAS_CACHE; the slot is freed if nothing else refers to it."""
    si = m.swap_info
    v = si.swap_map[entry]
    if not v & SWAP_HAS_CACHE:
        raise ModelBug(f"swapcache_free: slot {entry} has no cache (map {v:#x})")
    _put_slot(si, entry, v & ~SWAP_HAS_CACHE)


def page_swapcount(m: MemMachine, entry: int) -> int:
    return _count(m.swap_info, entry)
