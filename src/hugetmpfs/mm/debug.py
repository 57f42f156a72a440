"""Model assertions and page dumps: mm/debug.c and include/linux/mmdebug.h.

A failed assertion raises ModelBug with a line shaped like __dump_page's, so a report says
which page, with which count, mapcount, mapping, index and flags, broke which rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.errors import ModelBug
from hugetmpfs.mm.page_flags import flag_names

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine


def dump_page(m: MemMachine, page: int, reason: str = "") -> str:
    """``page:4608 count:3 mapcount:1 mapping:inode#7 index:0x200 flags:locked|team``."""
    mapping = m.mappings[m.mapping[page]]
    return (
        f"page:{page} count:{m.refcount[page]} mapcount:{m.mapcount[page] + 1} "
        f"mapping:{mapping!r} index:{m.index[page]:#x} private:{m.private[page]:#x} "
        f"flags:{flag_names(m.flags[page])}" + (f" ({reason})" if reason else "")
    )


def VM_BUG_ON_PAGE(cond: object, m: MemMachine, page: int, why: str = "") -> None:
    """Raise ModelBug with a page dump when *cond* holds."""
    if cond:
        raise ModelBug("VM_BUG_ON_PAGE: " + dump_page(m, page, why))


def VM_BUG_ON(cond: object, why: str) -> None:
    if cond:
        raise ModelBug(f"VM_BUG_ON: {why}")
