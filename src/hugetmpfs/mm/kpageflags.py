"""/proc/kpageflags for the model: each frame's flags as the kernel exports them.

Models: fs/proc/page.c stable_page_flags (v4.6-rc2) with patch 21/31's KPF_TEAM (26, any
PageTeam page) and KPF_TEAM_PMD_MMAP (27, a team head mapped by at least one pmd).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.page_flags import (
    PG_active,
    PG_buddy,
    PG_dirty,
    PG_locked,
    PG_lru,
    PG_mlocked,
    PG_reclaim,
    PG_referenced,
    PG_swapbacked,
    PG_swapcache,
    PG_team,
    PG_unevictable,
    PG_uptodate,
    PG_writeback,
)
from hugetmpfs.mm.pageteam import team_pmd_mapped

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine

KPF_LOCKED, KPF_REFERENCED, KPF_UPTODATE, KPF_DIRTY, KPF_LRU, KPF_ACTIVE = 0, 2, 3, 4, 5, 6
KPF_MMAP, KPF_ANON, KPF_SWAPCACHE, KPF_SWAPBACKED, KPF_NOPAGE, KPF_BUDDY = 11, 12, 13, 14, 20, 10
KPF_WRITEBACK, KPF_RECLAIM, KPF_UNEVICTABLE, KPF_MLOCKED = 8, 9, 18, 33
KPF_TEAM, KPF_TEAM_PMD_MMAP = 26, 27  # patch 21/31

_SIMPLE = (
    (PG_locked, KPF_LOCKED),
    (PG_referenced, KPF_REFERENCED),
    (PG_uptodate, KPF_UPTODATE),
    (PG_dirty, KPF_DIRTY),
    (PG_lru, KPF_LRU),
    (PG_active, KPF_ACTIVE),
    (PG_writeback, KPF_WRITEBACK),
    (PG_reclaim, KPF_RECLAIM),
    (PG_swapcache, KPF_SWAPCACHE),
    (PG_swapbacked, KPF_SWAPBACKED),
    (PG_unevictable, KPF_UNEVICTABLE),
    (PG_mlocked, KPF_MLOCKED),
    (PG_buddy, KPF_BUDDY),
    (PG_team, KPF_TEAM),
)

FLAG_LETTERS = {KPF_TEAM: "y", KPF_TEAM_PMD_MMAP: "Y"}  # tools/vm/page-types' letters


def stable_page_flags(m: MemMachine, pfn: int) -> int:
    """The KPF_* bits of frame *pfn*."""
    if not 0 <= pfn < m.nr_frames:
        return 1 << KPF_NOPAGE
    flags = m.flags[pfn]
    out = 0
    for pg, kpf in _SIMPLE:
        if flags & pg:
            out |= 1 << kpf
    if m.mapcount[pfn] >= 0:
        out |= 1 << KPF_MMAP
    mapping = m.mappings[m.mapping[pfn]]
    if mapping is not None and getattr(mapping, "is_anon", False):
        out |= 1 << KPF_ANON
    if flags & PG_team and team_pmd_mapped(m, pfn) and not m.index[pfn] & (m.HPAGE_PMD_NR - 1):
        out |= 1 << KPF_TEAM_PMD_MMAP
    return out
