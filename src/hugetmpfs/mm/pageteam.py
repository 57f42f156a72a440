"""Team geometry and the head's ``team_usage`` word: include/linux/pageteam.h.

``team_usage`` shares page->private with the swap entry of a swapcache page (base/R6.2), so
it lives in ``m.private``.  The layout is patch 15/31's final 64-bit one, scaled to any
HPAGE_PMD_ORDER (DESIGN.md §2: geometry is a parameter):

    high counter (instantiated pages + pmd mappings once complete) | pte-mapped count |
    reserved | PMD_MLOCKED | LRU weight

Atomic operations (atomic_long_add_return, cmpxchg) are single steps of the model: no
preemption point inside them.

Models: include/linux/pageteam.h (patches 04, 06, 10, 13, 14, 15, 22 of 31).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.debug import VM_BUG_ON_PAGE
from hugetmpfs.mm.page_flags import PG_team

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine


def guard_on(m: MemMachine, name: str) -> bool:
    """Whether race guard *name* is on: ``Machine.guard_on`` for the mm layer, which also
    runs on a bare MemMachine (every guard on)."""
    return name not in getattr(m, "guards_off", ())


class TeamLayout:
    """The team_usage constants for one HPAGE_PMD_ORDER (patch 15's table, generalised)."""

    def __init__(self, order: int) -> None:
        self.ORDER = order
        self.NR = 1 << order
        self.TEAM_LRU_WEIGHT_ONE = 1
        self.TEAM_LRU_WEIGHT_MASK = (1 << (order + 1)) - 1
        self.TEAM_PMD_MLOCKED = 1 << (order + 1)
        self.TEAM_RESERVED_FLAG = 1 << (order + 2)
        self.TEAM_PTE_COUNTER = 1 << (order + 3)
        self.TEAM_HIGH_COUNTER = 1 << (2 * order + 4)
        self.TEAM_PTE_MASK = self.TEAM_HIGH_COUNTER - self.TEAM_PTE_COUNTER
        self.TEAM_PAGE_COUNTER = self.TEAM_HIGH_COUNTER
        self.TEAM_COMPLETE = self.TEAM_PAGE_COUNTER << order
        self.TEAM_MAPPING_COUNTER = self.TEAM_HIGH_COUNTER
        self.TEAM_PMD_MAPPED = self.TEAM_COMPLETE + self.TEAM_MAPPING_COUNTER

    def team_pte_count(self, usage: int) -> int:
        return (usage & self.TEAM_PTE_MASK) // self.TEAM_PTE_COUNTER

    def describe(self, usage: int) -> str:
        """``usage 0x80401001 (high 513, pte 1, weight 1)`` for reports."""
        return (
            f"usage {usage:#x} (high {usage // self.TEAM_HIGH_COUNTER}, "
            f"pte {self.team_pte_count(usage)}, weight {usage & self.TEAM_LRU_WEIGHT_MASK}"
            + (", pmd_mlocked" if usage & self.TEAM_PMD_MLOCKED else "")
            + ")"
        )


def team_head(m: MemMachine, page: int) -> int:
    """The head of the team *page* belongs to, from page->index (valid once index is set)."""
    nr = m.HPAGE_PMD_NR
    head = page - (m.index[page] & (nr - 1))
    if head != page & ~(nr - 1):
        VM_BUG_ON_PAGE(True, m, page, "team_head misplaced")
    return head


def team_pmd_mapped(m: MemMachine, head: int) -> bool:
    return m.private[head] >= m.team.TEAM_PMD_MAPPED


def inc_team_pmd_mapped(m: MemMachine, head: int) -> tuple[bool, int]:
    """Count one more pmd mapping; return (first pmd mapping?, pages newly counted Mapped)."""
    t = m.team
    usage = m.private[head] + t.TEAM_MAPPING_COUNTER
    m.private[head] = usage
    return usage < t.TEAM_PMD_MAPPED + t.TEAM_MAPPING_COUNTER, t.NR - t.team_pte_count(usage)


def dec_team_pmd_mapped(m: MemMachine, head: int) -> tuple[bool, int]:
    """Count one pmd mapping less; return (last pmd mapping?, pages no longer Mapped)."""
    t = m.team
    usage = m.private[head] - t.TEAM_MAPPING_COUNTER
    m.private[head] = usage
    return usage < t.TEAM_PMD_MAPPED, t.NR - t.team_pte_count(usage)


def _team_pte_update(m: MemMachine, page: int, delta: int) -> bool:
    """The cmpxchg loop of inc/dec_team_pte_mapped; True means "count it in Mapped".

    Guards: base/R15.1 (one word, cmpxchg: a single step here), base/R15.2.  base/R15.3
    unguarded.
    """
    if not m.flags[page] & PG_team:
        return True
    t = m.team
    head = team_head(m, page)
    while True:
        usage = m.private[head]
        # base/R15.2: a disbander (truncation, punch, writepage, the shrinker) may have
        # reset the head's usage and cleared its PageTeam while this tail still shows
        # PageTeam (inside shmem_disband_hugetails).  Counting into the reset word would
        # corrupt the head's ->private (weight 1, later a swap entry): a team reset or
        # disbanded meanwhile is treated as no team at all.
        if (not m.flags[head] & PG_team or usage // t.TEAM_PAGE_COUNTER == 0) and guard_on(
            m, "base/R15.2"
        ):
            return True
        # base/R15.3 (unguarded): the head may be freed and reused between the PageTeam
        # test above and the cmpxchg below; the kernel admits "tiny chance, must revisit".
        m.engine.point("base/R15.3:team_pte_cmpxchg")
        if m.private[head] == usage:  # cmpxchg
            m.private[head] = usage + delta
            return usage < t.TEAM_PMD_MAPPED


def inc_team_pte_mapped(m: MemMachine, page: int) -> bool:
    """A team page's _mapcount went -1 -> 0: count it in the head's pte field."""
    return _team_pte_update(m, page, m.team.TEAM_PTE_COUNTER)


def dec_team_pte_mapped(m: MemMachine, page: int) -> bool:
    """A team page's _mapcount went 0 -> -1."""
    return _team_pte_update(m, page, -m.team.TEAM_PTE_COUNTER)


def inc_lru_weight(m: MemMachine, head: int) -> None:
    m.private[head] += 1
    VM_BUG_ON_PAGE(
        (m.private[head] & m.team.TEAM_LRU_WEIGHT_MASK) > m.HPAGE_PMD_NR, m, head, "weight"
    )


def set_lru_weight(m: MemMachine, page: int) -> None:
    VM_BUG_ON_PAGE(m.private[page] != 0, m, page, "set_lru_weight")
    m.private[page] = 1


def clear_lru_weight(m: MemMachine, page: int) -> None:
    VM_BUG_ON_PAGE(m.private[page] != 1, m, page, "clear_lru_weight")
    m.private[page] = 0


def hpage_nr_pages(m: MemMachine, page: int) -> int:
    """LRU weight of a page: a team page's is in its team_usage (patch 13), others 1."""
    if m.flags[page] & PG_team:
        return m.private[page] & m.team.TEAM_LRU_WEIGHT_MASK
    return 1


def team_page_mapcount(m: MemMachine, page: int) -> int:
    """page_mapcount plus the team's pmd mappings for a tail of a live team (patch 22)."""
    count = m.mapcount[page] + 1
    if m.flags[page] & PG_team:
        head = team_head(m, page)
        if head != page:
            t = m.team
            value = m.private[head] - t.TEAM_COMPLETE
            # base/R22: read usage first, then check the head is still a team.
            if m.flags[head] & PG_team and value > 0:
                count += value // t.TEAM_MAPPING_COUNTER
    return count
