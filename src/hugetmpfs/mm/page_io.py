"""Swap I/O: pages go to and come from swap slots asynchronously, after a virtual latency.

Each submitted I/O completes after the device latency through ``Engine.call_later``, as the
block layer's completion does in interrupt context: a read fills the page, marks it
uptodate and unlocks it; a write ends the page's writeback.  Under an exploring strategy the
completion is an actor of its own, so every order of completion against other kernel paths
can be explored.

Models: mm/page_io.c (v4.6-rc2): swap_readpage, swap_writepage, end_swap_bio_read,
end_swap_bio_write; end_page_writeback from mm/filemap.c.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.debug import VM_BUG_ON_PAGE
from hugetmpfs.mm.filemap import unlock_page
from hugetmpfs.mm.page_flags import PG_locked, PG_uptodate, PG_writeback
from hugetmpfs.mm.vmstat import PSWPIN, PSWPOUT

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.mm.machine import MemMachine

SWAP_READ_NS = 100_000  # virtual device latency of one page read
SWAP_WRITE_NS = 100_000


def _submit(m: MemMachine, fn: Callable[[MemMachine, int], None], page: int, ns: int) -> None:
    """Complete an I/O *ns* from now; at once when the model runs outside the engine."""
    engine = m.engine
    if engine.current is None and engine.timer_now is None:
        fn(m, page)
        return
    engine.call_later(ns, fn, m, page, name="bio")


def swap_readpage(m: MemMachine, page: int) -> None:
    """Start reading a locked swap-cache page from its slot; completion unlocks it."""
    VM_BUG_ON_PAGE(not m.flags[page] & PG_locked, m, page, "swap_readpage unlocked")
    m.vmstat.events[PSWPIN] += 1
    _submit(m, end_swap_bio_read, page, SWAP_READ_NS)


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
        si.data[entry] = bytearray(m.data[page])
    else:
        si.data.pop(entry, None)
    m.flags[page] |= PG_writeback
    unlock_page(m, page)
    m.vmstat.events[PSWPOUT] += 1
    _submit(m, end_page_writeback, page, SWAP_WRITE_NS)


def end_page_writeback(m: MemMachine, page: int) -> None:
    m.flags[page] &= ~PG_writeback
    key = ("writeback", page)
    if key in m.engine.waiters:
        m.engine.wake(key)


def wait_on_page_writeback(m: MemMachine, page: int) -> None:
    while m.flags[page] & PG_writeback:
        m.engine.block_on(("writeback", page), "wait_on_page_writeback")
