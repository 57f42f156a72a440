"""Removing pages from the page cache: mm/truncate.c.

Models: mm/truncate.c (v4.6-rc2): truncate_inode_page, truncate_complete_page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.filemap import delete_from_page_cache
from hugetmpfs.mm.page_flags import PG_dirty

if TYPE_CHECKING:
    from hugetmpfs.mm.filemap import AddressSpace
    from hugetmpfs.mm.machine import MemMachine

PAGE_SHIFT = 12


def truncate_complete_page(m: MemMachine, mapping: AddressSpace, page: int) -> int:
    """Take a locked page out of the cache for good: 0, or -EIO if it left meanwhile."""
    if m.mapping[page] != mapping.id:
        return -5
    m.flags[page] &= ~PG_dirty  # cancel_dirty_page
    delete_from_page_cache(m, page)
    return 0


def truncate_inode_page(m: MemMachine, mapping: AddressSpace, page: int) -> int:
    """Unmap a locked page from every process if it is still mapped, then remove it."""
    if m.mapcount[page] >= 0:
        from hugetmpfs.mm.memory import unmap_mapping_range

        unmap_mapping_range(m, mapping, m.index[page] << PAGE_SHIFT, 1 << PAGE_SHIFT, False)
    return truncate_complete_page(m, mapping, page)
