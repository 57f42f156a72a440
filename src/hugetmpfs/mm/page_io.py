"""Swap I/O: pages go to and come from swap slots asynchronously, after a virtual latency.

Each submitted I/O waits for the device (one page at a time, SWAP_PAGE_NS each) and
completes after its latency through ``Engine.call_later``, as the
block layer's completion does in interrupt context: a read fills the page, marks it
uptodate and unlocks it; a write ends the page's writeback.  Under an exploring strategy the
completion is an actor of its own, so every order of completion against other kernel paths
can be explored.

Models: mm/page_io.c (v4.6-rc2): swap_readpage, swap_writepage, end_swap_bio_read,
end_swap_bio_write; end_page_writeback from mm/filemap.c.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.costs import SWAP_LATENCY_NS, SWAP_PAGE_NS
from hugetmpfs.mm.debug import VM_BUG_ON_PAGE
from hugetmpfs.mm.filemap import unlock_page
from hugetmpfs.mm.highmem import page_data_copy
from hugetmpfs.mm.page_flags import PG_locked, PG_reclaim, PG_uptodate, PG_writeback
from hugetmpfs.mm.swap import rotate_reclaimable_page
from hugetmpfs.mm.vmstat import NR_WRITEBACK, PSWPIN, PSWPOUT

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.mm.machine import MemMachine


def _submit(m: MemMachine, fn: Callable[[MemMachine, int], None], page: int) -> None:
    """Queue a one-page I/O on the swap device: it completes after the device's latency,
    once the pages queued before it were served.  At once outside the engine."""
    engine = m.engine
    if engine.current is None and engine.timer_now is None:
        fn(m, page)
        return
    si = m.swap_info
    now = engine.now()
    si.busy_until = max(si.busy_until, now) + SWAP_PAGE_NS
    engine.call_later(si.busy_until - now + SWAP_LATENCY_NS, fn, m, page, name="bio")


def swap_readpage(m: MemMachine, page: int) -> None:
    """Start reading a locked swap-cache page from its slot; completion unlocks it."""
    VM_BUG_ON_PAGE(not m.flags[page] & PG_locked, m, page, "swap_readpage unlocked")
    m.vmstat.events[PSWPIN] += 1
    _submit(m, end_swap_bio_read, page)


def end_swap_bio_read(m: MemMachine, page: int) -> None:
    si = m.swap_info
    entry = m.private[page]
    code = si.content[entry]
    m.content[page] = code
    if code == -1:
        m.data[page] = bytearray(si.data[entry])
    else:
        m.data.pop(page, None)
    m.flags[page] |= PG_uptodate
    unlock_page(m, page)


def swap_writepage(m: MemMachine, page: int) -> None:
    """Write a locked swap-cache page to its slot: writeback starts, the page unlocks."""
    si = m.swap_info
    entry = m.private[page]
    code = m.content[page]
    si.content[entry] = code  # the device reads the page as of submission
    if code == -1:
        si.data[entry] = page_data_copy(m, page)
    else:
        si.data.pop(entry, None)
    m.flags[page] |= PG_writeback
    m.vmstat.zone[NR_WRITEBACK] += 1
    unlock_page(m, page)
    m.vmstat.events[PSWPOUT] += 1
    _submit(m, end_page_writeback, page)


def end_page_writeback(m: MemMachine, page: int) -> None:
    """The write completed.  A page reclaim wrote out goes to the tail of its list, where
    the next scan frees it (rotate_reclaimable_page)."""
    if m.flags[page] & PG_reclaim:
        m.flags[page] &= ~PG_reclaim
        rotate_reclaimable_page(m, page)
    m.flags[page] &= ~PG_writeback
    m.vmstat.zone[NR_WRITEBACK] -= 1
    key = ("writeback", page)
    if key in m.engine.waiters:
        m.engine.wake(key)


def wait_on_page_writeback(m: MemMachine, page: int) -> None:
    while m.flags[page] & PG_writeback:
        m.engine.block_on(("writeback", page), "wait_on_page_writeback")
