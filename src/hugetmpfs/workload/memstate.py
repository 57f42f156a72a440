"""Figures computed from the machine's state, not from its counters: the buddy allocator's
fragmentation, the recovery stats when the model exposes them, and page maps.

Fragmentation follows mm/vmstat.c (fill_contig_page_info, __fragmentation_index,
unusable_free_index) over the model's free lists, for the huge page's order.  Like the
kernel, it sees only the buddy lists: pages on per-CPU lists are not free blocks.

A page map is a picture of memory at one instant: every physical frame's state (free, team
member mapped by a pmd or not, team hole, small tmpfs page, other), and for the largest
files, every page slot of every extent (team member, hole, small page, swapped, empty), from
the model's extent view (shmem/extent_map.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hugetmpfs.mm.machine import MAX_ORDER
from hugetmpfs.mm.page_flags import PG_swapbacked, PG_team
from hugetmpfs.shmem.extent_map import extent_chars

if TYPE_CHECKING:
    from hugetmpfs.shmem.inode import ShmemInodeInfo
    from hugetmpfs.shmem.machine import Machine

# -- fragmentation --------------------------------------------------------------------------


def contig_page_info(nr_free: list[int], order: int) -> tuple[int, int, int]:
    """(free pages, free blocks, free blocks suitable for *order*), as fill_contig_page_info."""
    free_pages = blocks_total = suitable = 0
    for o, blocks in enumerate(nr_free):
        blocks_total += blocks
        free_pages += blocks << o
        if o >= order:
            suitable += blocks << (o - order)
    return free_pages, blocks_total, suitable


def fragmentation_index(nr_free: list[int], order: int) -> int:
    """__fragmentation_index ×1000: 0 no free blocks, -1000 the request would succeed, else
    towards 1000 the more the failure is due to fragmentation rather than lack of memory."""
    free_pages, blocks_total, suitable = contig_page_info(nr_free, order)
    if not blocks_total:
        return 0
    if suitable:
        return -1000
    requested = 1 << order
    return 1000 - (1000 + free_pages * 1000 // requested) // blocks_total


def unusable_index(nr_free: list[int], order: int) -> int:
    """unusable_free_index ×1000: the share of free memory in blocks too small for *order*."""
    free_pages, _, suitable = contig_page_info(nr_free, order)
    if not free_pages:
        return 1000
    return (free_pages - (suitable << order)) * 1000 // free_pages


def fragmentation_stats(m: Machine) -> dict[str, int]:
    """The series' fragmentation columns at the huge page's order."""
    order = m.HPAGE_PMD_ORDER
    nr_free = list(m.nr_free[:MAX_ORDER])
    free_pages, _, suitable = contig_page_info(nr_free, order)
    return {
        "extfrag_index": fragmentation_index(nr_free, order),
        "unusable_index": unusable_index(nr_free, order),
        "free_huge_blocks": suitable,
        "free_pages_buddy": free_pages,
    }


# -- recovery stats -------------------------------------------------------------------------


def recovery_stats(m: Machine) -> dict[str, int] | None:
    """The recovery's debugfs counters, if this model exposes them (else None).

    Read generically: ``m.recovery_stats`` may be an object with ``as_dict()``, a mapping, or
    a function returning one; anything else counts as not exposed.
    """
    stats: Any = getattr(m, "recovery_stats", None)
    if stats is None:
        return None
    if hasattr(stats, "as_dict"):
        stats = stats.as_dict()
    elif callable(stats):
        stats = stats()
    if not isinstance(stats, dict):
        return None
    return {str(k): int(v) for k, v in sorted(stats.items())}


# -- page maps ------------------------------------------------------------------------------

#: Frame states of the physical strip, in drawing order.
FRAME_STATES = ("free", "team, pmd-mapped", "team member", "team hole", "small page", "other")
FREE, TEAM_PMD, TEAM, HOLE, SMALL, OTHER = range(6)
#: Slot states of a file extent: the extent map's characters.
SLOT_STATES = {
    "M": "team, pmd-mapped",
    "T": "team member",
    "h": "team hole",
    "s": "small page",
    "w": "swapped",
    ".": "empty",
}
MAX_FILES = 4  # page maps show the largest files only (of a huge page or more)


@dataclass
class PageMap:
    """Memory at one instant."""

    label: str
    time_ms: float
    frames: np.ndarray  # uint8 state per pfn
    hpage_nr: int
    files: list[tuple[str, str]]  # (file name, extent map characters, one per page slot)


def frame_states(m: Machine) -> np.ndarray:
    """The state of every physical frame (uint8, FRAME_STATES indices).

    A frame with no reference is free (in a buddy block or on a per-CPU list); a team's
    block is found from its head (PG_team at an aligned frame whose index is aligned)."""
    nr = m.HPAGE_PMD_NR
    flags = np.frombuffer(m.flags, dtype=np.uint32)
    refs = np.frombuffer(m.refcount, dtype=np.int32)
    owner = np.frombuffer(m.mapping, dtype=np.int32)
    anon = np.array([bool(getattr(x, "is_anon", False)) for x in m.mappings])
    states = np.full(m.nr_frames, OTHER, dtype=np.uint8)
    states[refs == 0] = FREE
    file_page = (owner != 0) & ~anon[owner] & (flags & PG_swapbacked != 0) & (refs > 0)
    states[file_page] = SMALL
    heads = np.flatnonzero(flags[::nr] & PG_team) * nr
    heads = heads[np.frombuffer(m.index, dtype=np.int64)[heads] % nr == 0]
    if heads.size:
        mapped = np.frombuffer(m.private, dtype=np.int64)[heads] >= m.team.TEAM_PMD_MAPPED
        block = heads[:, None] + np.arange(nr)
        member = (flags[block] & PG_team != 0) & (flags[block] & PG_swapbacked != 0)
        states[block] = np.where(member, np.where(mapped[:, None], TEAM_PMD, TEAM), HOLE)
    return states


def file_slots(m: Machine, inode: ShmemInodeInfo) -> str:
    """Every page slot of the file: the extent map's characters, one per page."""
    nr = m.HPAGE_PMD_NR
    end = (inode.i_size + 4095) >> 12
    out = [extent_chars(m, inode, start)[0] for start in range(0, end, nr)]
    return "".join(out)[:end]


def capture(m: Machine, label: str, time_ms: float) -> PageMap:
    """The page map of *m* now."""
    files = []
    for sb in m.mounts:
        files.extend((name, inode) for name, inode in sb.names.items())
    files.sort(key=lambda f: (-f[1].i_size, f[0]))
    files = [f for f in files if f[1].i_size >= m.HPAGE_PMD_SIZE][:MAX_FILES]  # an extent at least
    chosen = [(name, file_slots(m, inode)) for name, inode in files]
    return PageMap(label, time_ms, frame_states(m), m.HPAGE_PMD_NR, chosen)


def frame_counts(pm: PageMap) -> dict[str, int]:
    """How many frames are in each state."""
    counts = np.bincount(pm.frames, minlength=len(FRAME_STATES))
    return {name: int(counts[i]) for i, name in enumerate(FRAME_STATES)}
