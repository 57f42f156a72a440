"""Page reference counts: include/linux/page_ref.h and mm.h's get/put helpers.

Models: include/linux/mm.h, include/linux/pagemap.h (v4.6-rc2): get_page,
get_page_unless_zero (the primitive behind page_cache_get_speculative), put_page_testzero,
page_ref_freeze / page_ref_unfreeze (page_freeze_refs in v4.6, used by migration).
``put_page`` itself lives in mm/swap.py, as in the kernel, because the last put takes the
page off its LRU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.debug import VM_BUG_ON_PAGE

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine


def get_page(m: MemMachine, page: int) -> None:
    if m.refcount[page] <= 0:
        VM_BUG_ON_PAGE(True, m, page, "get_page on a free page")
    m.refcount[page] += 1


def get_page_unless_zero(m: MemMachine, page: int) -> bool:
    """Take a reference unless the page is being freed (speculative lookups, base/R4.3)."""
    if m.refcount[page] <= 0:
        return False
    m.refcount[page] += 1
    return True


page_cache_get_speculative = get_page_unless_zero


def put_page_testzero(m: MemMachine, page: int) -> bool:
    refcount = m.refcount
    if refcount[page] <= 0:
        VM_BUG_ON_PAGE(True, m, page, "put_page on a free page")
    refcount[page] -= 1
    return refcount[page] == 0


def page_ref_freeze(m: MemMachine, page: int, count: int) -> bool:
    """Set the count to 0 if it is exactly *count*: nobody else may take a reference now."""
    if m.refcount[page] != count:
        return False
    m.refcount[page] = 0
    return True


def page_ref_unfreeze(m: MemMachine, page: int, count: int) -> None:
    VM_BUG_ON_PAGE(m.refcount[page] != 0, m, page, "unfreezing a page that is not frozen")
    m.refcount[page] = count
