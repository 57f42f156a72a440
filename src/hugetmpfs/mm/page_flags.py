"""Page flags: include/linux/page-flags.h, as the series uses them.

Per-frame fields live in arrays indexed by pfn (``m.flags[page]``): a page is its pfn.  The
helpers keep the kernel's names so model and C read side by side; ``__SetPageX`` is the
non-atomic variant for pages nobody else can see yet, which in the model is the same store.

Models: include/linux/page-flags.h (v4.6-rc2), plus PG_team (patch 04/31).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine

# Bit numbers follow v4.6's enum pageflags where the model uses the flag.
PG_locked = 1 << 0
PG_error = 1 << 1
PG_referenced = 1 << 2
PG_uptodate = 1 << 3
PG_dirty = 1 << 4
PG_lru = 1 << 5
PG_active = 1 << 6
PG_checked = 1 << 8  # PG_owner_priv_1
PG_reserved = 1 << 10
PG_writeback = 1 << 13
PG_swapcache = 1 << 15
PG_reclaim = 1 << 17
PG_swapbacked = 1 << 18
PG_unevictable = 1 << 19
PG_mlocked = 1 << 20
PG_young = 1 << 23
PG_team = 1 << 26  # patch 04/31: a member (or the head) of a huge tmpfs team
PG_buddy = 1 << 27  # in the kernel a page type in _mapcount; a flag here
PG_isolated = 1 << 28  # model-only: isolated from the LRU (the kernel knows by list)

FLAG_NAMES = {
    PG_locked: "locked",
    PG_error: "error",
    PG_referenced: "referenced",
    PG_uptodate: "uptodate",
    PG_dirty: "dirty",
    PG_lru: "lru",
    PG_active: "active",
    PG_checked: "checked",
    PG_reserved: "reserved",
    PG_writeback: "writeback",
    PG_swapcache: "swapcache",
    PG_reclaim: "reclaim",
    PG_swapbacked: "swapbacked",
    PG_unevictable: "unevictable",
    PG_mlocked: "mlocked",
    PG_young: "young",
    PG_team: "team",
    PG_buddy: "buddy",
    PG_isolated: "isolated",
}


def flag_names(flags: int) -> str:
    """``locked|uptodate|team`` for a flags word, as mm/debug.c prints them."""
    return "|".join(name for bit, name in FLAG_NAMES.items() if flags & bit)


def _make(bit: int) -> tuple:
    def test(m: MemMachine, page: int) -> bool:
        return bool(m.flags[page] & bit)

    def set_(m: MemMachine, page: int) -> None:
        m.flags[page] |= bit

    def clear(m: MemMachine, page: int) -> None:
        m.flags[page] &= ~bit

    def test_set(m: MemMachine, page: int) -> bool:
        old = m.flags[page]
        m.flags[page] = old | bit
        return bool(old & bit)

    def test_clear(m: MemMachine, page: int) -> bool:
        old = m.flags[page]
        m.flags[page] = old & ~bit
        return bool(old & bit)

    return test, set_, clear, test_set, test_clear


PageLocked, __SetPageLocked, __ClearPageLocked, _tsl, _tcl = _make(PG_locked)
PageReferenced, SetPageReferenced, ClearPageReferenced, _, TestClearPageReferenced = _make(
    PG_referenced
)
__SetPageReferenced = SetPageReferenced
PageUptodate, SetPageUptodate, ClearPageUptodate, _, _ = _make(PG_uptodate)
PageDirty, SetPageDirty, ClearPageDirty, TestSetPageDirty, TestClearPageDirty = _make(PG_dirty)
PageLRU, SetPageLRU, ClearPageLRU, _, TestClearPageLRU = _make(PG_lru)
PageActive, SetPageActive, ClearPageActive, _, TestClearPageActive = _make(PG_active)
PageChecked, SetPageChecked, ClearPageChecked, _, _ = _make(PG_checked)
PageWriteback, SetPageWriteback, ClearPageWriteback, _, _ = _make(PG_writeback)
PageSwapCache, SetPageSwapCache, ClearPageSwapCache, _, _ = _make(PG_swapcache)
PageReclaim, SetPageReclaim, ClearPageReclaim, _, _ = _make(PG_reclaim)
PageSwapBacked, SetPageSwapBacked, ClearPageSwapBacked, _, _ = _make(PG_swapbacked)
__SetPageSwapBacked = SetPageSwapBacked
__ClearPageSwapBacked = ClearPageSwapBacked
PageUnevictable, SetPageUnevictable, ClearPageUnevictable, _, TestClearPageUnevictable = _make(
    PG_unevictable
)
PageMlocked, SetPageMlocked, ClearPageMlocked, TestSetPageMlocked, TestClearPageMlocked = _make(
    PG_mlocked
)
PageTeam, SetPageTeam, ClearPageTeam, _, _ = _make(PG_team)
__SetPageTeam = SetPageTeam
PageBuddy, __SetPageBuddy, __ClearPageBuddy, _, _ = _make(PG_buddy)
PageIsolated, SetPageIsolated, ClearPageIsolated, _, _ = _make(PG_isolated)
del _, _tsl, _tcl
