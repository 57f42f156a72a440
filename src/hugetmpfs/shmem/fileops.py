"""tmpfs file operations: read, write, truncate, hole-punch, fallocate, SEEK_DATA/SEEK_HOLE.

Models: mm/shmem.c (v4.6-rc2): shmem_file_read_iter, shmem_write_begin/end (with
generic_perform_write), shmem_setattr, shmem_undo_range, shmem_truncate_range,
shmem_fallocate, shmem_file_llseek.  Differs: where 6.18's behaviour is visible in results
and departs from v4.6 (the second SGP_FALLOC initialising a page fallocated earlier,
mapping_seek_hole_data's rules), the model follows 6.18 (DESIGN.md §3.1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.costs import PUNCH_PAGE_NS, READ_PAGE_NS, WRITE_PAGE_NS
from hugetmpfs.mm.filemap import find_get_entries, lock_page, trylock_page, unlock_page
from hugetmpfs.mm.highmem import clear_highpage, page_fill, page_read, page_write, zero_user_segment
from hugetmpfs.mm.page_flags import PG_dirty, PG_team, PG_uptodate
from hugetmpfs.mm.radix_tree import radix_tree_exceptional_entry
from hugetmpfs.mm.swap import put_page, release_pages
from hugetmpfs.mm.truncate import truncate_inode_page
from hugetmpfs.shmem.getpage import (
    SGP_FALLOC,
    SGP_READ,
    SGP_WRITE,
    shmem_getpage,
)
from hugetmpfs.shmem.inode import MAX_LFS_FILESIZE, ShmemInodeInfo, shmem_recalc_inode
from hugetmpfs.shmem.team import shmem_disband_hugeteam

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.shmem.machine import Machine

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGEVEC_SIZE = 14
EINVAL, ENOSPC, EFBIG, ENXIO, EINTR = 22, 28, 27, 6, 4
SEEK_DATA, SEEK_HOLE = 3, 4


class WriteSource:
    """The bytes a write copies in: a run of one byte (cheap at any size) or literal data."""

    __slots__ = ("byte", "data", "length")

    def __init__(self, length: int, byte: int | None = None, data: bytes | None = None) -> None:
        self.length = length
        self.byte = byte
        self.data = data

    def copy_to(self, m: Machine, page: int, offset: int, start: int, n: int) -> None:
        """Copy source bytes [start, start+n) to the page at *offset*."""
        if self.data is None:
            assert self.byte is not None
            page_fill(m, page, offset, n, self.byte)
        else:
            page_write(m, page, offset, self.data[start : start + n])


def shmem_file_read(
    m: Machine, inode: ShmemInodeInfo, pos: int, count: int, sink: Callable[[bytes], None]
) -> int:
    """Copy up to *count* bytes from *pos* to *sink*; return the number of bytes read."""
    index, offset = pos >> PAGE_SHIFT, pos & (PAGE_SIZE - 1)
    done = 0
    while done < count:
        i_size = inode.i_size
        end_index = i_size >> PAGE_SHIFT
        if index > end_index or (index == end_index and i_size & (PAGE_SIZE - 1) <= offset):
            break
        error, page = shmem_getpage(m, inode, index, SGP_READ)
        if error:
            break  # -EINVAL: raced with truncation, the read just ends
        if page is not None:
            unlock_page(m, page)
        # Evaluate i_size again: reads are not serialised against truncation.
        i_size = inode.i_size
        nr = PAGE_SIZE
        if index == i_size >> PAGE_SHIFT:
            nr = i_size & (PAGE_SIZE - 1)
            if nr <= offset:
                if page is not None:
                    put_page(m, page)
                break
        nr = min(nr - offset, count - done)
        sink(page_read(m, page, offset, nr) if page is not None else bytes(nr))
        if page is not None:
            put_page(m, page)
        done += nr
        m.engine.consume(READ_PAGE_NS)
        offset += nr
        index += offset >> PAGE_SHIFT
        offset &= PAGE_SIZE - 1
    return done


def shmem_file_write(m: Machine, inode: ShmemInodeInfo, pos: int, src: WriteSource) -> int:
    """generic_perform_write through shmem_write_begin/end: bytes written, or -errno when
    the first page already failed."""
    written = 0
    while written < src.length:
        index, offset = (pos + written) >> PAGE_SHIFT, (pos + written) & (PAGE_SIZE - 1)
        n = min(PAGE_SIZE - offset, src.length - written)
        error, page = shmem_getpage(m, inode, index, SGP_WRITE, pos + src.length)
        if error:
            return written or error
        assert page is not None
        if not m.flags[page] & PG_uptodate:
            # shmem_write_end zeroes what the write does not cover before exposing it.
            if n < PAGE_SIZE:
                clear_highpage(m, page)
            m.flags[page] |= PG_uptodate
        src.copy_to(m, page, offset, written, n)
        m.flags[page] |= PG_dirty
        if pos + written + n > inode.i_size:
            inode.i_size = pos + written + n
        unlock_page(m, page)
        put_page(m, page)
        written += n
        m.engine.consume(WRITE_PAGE_NS)
        m.engine.point("generic_perform_write:next_page")
    return written


# -- truncation and hole-punch ------------------------------------------------------------


def shmem_undo_range(
    m: Machine, inode: ShmemInodeInfo, lstart: int, lend: int, unfalloc: bool
) -> None:
    """Remove the pages and swap entries of [lstart, lend] (lend -1: to the end), zeroing
    the partial pages at the edges.  *unfalloc* removes only pages never made uptodate
    (undoing a failed fallocate)."""
    start = (lstart + PAGE_SIZE - 1) >> PAGE_SHIFT
    partial_start = lstart & (PAGE_SIZE - 1)
    if lend == -1:
        end, partial_end = None, 0
    else:
        end, partial_end = (lend + 1) >> PAGE_SHIFT, (lend + 1) & (PAGE_SIZE - 1)
    _undo_pass(m, inode, start, end, unfalloc, trylock=True)
    _zero_partial(m, inode, start, end, partial_start, partial_end)
    if end is not None and start >= end:
        return
    _undo_pass(m, inode, start, end, unfalloc, trylock=False)
    with inode.info_lock:
        shmem_recalc_inode(m, inode)


def _zero_partial(
    m: Machine, inode: ShmemInodeInfo, start: int, end: int | None, pstart: int, pend: int
) -> None:
    if pstart:
        _, page = shmem_getpage(m, inode, start - 1, SGP_READ)
        if page is not None:
            top = PAGE_SIZE
            if end is not None and start > end:
                top, pend = pend, 0
            zero_user_segment(m, page, pstart, top)
            m.flags[page] |= PG_dirty
            unlock_page(m, page)
            put_page(m, page)
    if pend and end is not None:
        _, page = shmem_getpage(m, inode, end, SGP_READ)
        if page is not None:
            zero_user_segment(m, page, 0, pend)
            m.flags[page] |= PG_dirty
            unlock_page(m, page)
            put_page(m, page)


def _undo_pass(
    m: Machine, inode: ShmemInodeInfo, start: int, end: int | None, unfalloc: bool, trylock: bool
) -> None:
    """One pass of shmem_undo_range: the first tries locks, the second waits for them and,
    for a full truncation, repeats until nothing is left.  A team page's team is disbanded
    first (patch 04/31); when that fails (the head's trylock, base/R4.4) a hole-punch's
    second pass retries the same index at once, a truncation a later pass."""
    mapping = inode.mapping
    index = start
    while end is None or index < end:
        nr = PAGEVEC_SIZE if end is None else min(end - index, PAGEVEC_SIZE)
        entries = find_get_entries(m, mapping, index, nr, end)
        if not entries:
            if trylock or index == start or end is not None:
                break
            index = start  # truncating: restart to make sure all are gone
            continue
        retry = None
        for k, (idx, entry) in enumerate(entries):
            if radix_tree_exceptional_entry(entry):
                if not unfalloc:
                    m.shmem_free_swap(m, inode, idx, entry)
                continue
            if _undo_page(m, mapping, entry, unfalloc, trylock) and not trylock and end is not None:
                retry = idx  # punch: retry the team's disband now
                _release(m, [e for _, e in entries[k + 1 :]])
                break
        index = retry if retry is not None else entries[-1][0] + 1
        m.engine.consume(PUNCH_PAGE_NS)  # cond_resched: a retry loop must let time pass
        if retry is not None:
            # base/R4.4: the head's lock is held elsewhere; spin until its holder lets go.
            m.engine.yield_point("shmem_undo_range:punch_retry")
        else:
            m.engine.point("shmem_undo_range:cond_resched")


def _release(m: Machine, entries: list[int]) -> None:
    for entry in entries:
        if not radix_tree_exceptional_entry(entry):
            put_page(m, entry)


def _undo_page(m: Machine, mapping: object, page: int, unfalloc: bool, trylock: bool) -> bool:
    """Remove one page found by the scan (dropping the scan's reference); True when it is
    still a team page because its team could not be disbanded yet."""
    if trylock:
        if not trylock_page(m, page):
            put_page(m, page)
            return False
    else:
        lock_page(m, page)
    in_team = False
    if (not unfalloc or not m.flags[page] & PG_uptodate) and m.mapping[page] == mapping.id:
        if m.flags[page] & PG_team:
            shmem_disband_hugeteam(m, page)
        in_team = bool(m.flags[page] & PG_team)
        if not in_team:
            truncate_inode_page(m, mapping, page)
            m.engine.consume(PUNCH_PAGE_NS)
    unlock_page(m, page)
    release_pages(m, [page], cold=True)  # pages of teams go back cold (patch 04/31)
    return in_team


def shmem_truncate_range(m: Machine, inode: ShmemInodeInfo, lstart: int, lend: int) -> None:
    shmem_undo_range(m, inode, lstart, lend, False)


def shmem_setattr_size(m: Machine, inode: ShmemInodeInfo, newsize: int) -> int:
    """ftruncate's part in shmem_setattr: 0 or -errno."""
    from hugetmpfs.mm.memory import unmap_mapping_range

    if newsize > MAX_LFS_FILESIZE:
        return -EFBIG
    oldsize = inode.i_size
    if newsize == oldsize:
        return 0
    inode.i_size = newsize
    if newsize < oldsize:
        holebegin = (newsize + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
        if oldsize > holebegin:
            unmap_mapping_range(m, inode.mapping, holebegin, 0, True)
        if inode.alloced:
            shmem_truncate_range(m, inode, newsize, -1)
        if oldsize > holebegin:  # again, for private pages COWed meanwhile
            unmap_mapping_range(m, inode.mapping, holebegin, 0, True)
    return 0


def shmem_fallocate(
    m: Machine, inode: ShmemInodeInfo, punch: bool, keep_size: bool, offset: int, length: int
) -> int:
    """shmem_fallocate for PUNCH_HOLE (with KEEP_SIZE) and plain allocation: 0 or -errno."""
    if punch:
        return _punch_hole(m, inode, offset, length)
    if offset + length > MAX_LFS_FILESIZE:
        return -EFBIG
    start = offset >> PAGE_SHIFT
    end = (offset + length + PAGE_SIZE - 1) >> PAGE_SHIFT
    sb = inode.sb
    if sb.max_blocks and end - start > sb.max_blocks:
        return -ENOSPC  # avoid a swapstorm when the length is impossible anyway
    index = start
    while index < end:
        error, page = shmem_getpage(m, inode, index, SGP_FALLOC, offset + length)
        if error:
            if index > start:  # remove the !uptodate pages this call added
                shmem_undo_range(m, inode, start << PAGE_SHIFT, (index << PAGE_SHIFT) - 1, True)
            return error
        assert page is not None
        m.flags[page] |= PG_dirty
        unlock_page(m, page)
        put_page(m, page)
        index += 1
        m.engine.point("shmem_fallocate:cond_resched")
    if not keep_size and offset + length > inode.i_size:
        inode.i_size = offset + length
    return 0


def _punch_hole(m: Machine, inode: ShmemInodeInfo, offset: int, length: int) -> int:
    from hugetmpfs.mm.memory import unmap_mapping_range

    unmap_start = (offset + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    unmap_end = ((offset + length) & ~(PAGE_SIZE - 1)) - 1
    if unmap_end > unmap_start:
        unmap_mapping_range(m, inode.mapping, unmap_start, 1 + unmap_end - unmap_start, False)
    shmem_truncate_range(m, inode, offset, offset + length - 1)
    # No need to unmap again: hole-punching leaves COWed pages.
    return 0


def shmem_seek_hole_data(m: Machine, inode: ShmemInodeInfo, start: int, whence: int) -> int:
    """mapping_seek_hole_data for tmpfs: data is an uptodate page or a swap entry, so a
    fallocated page that was never written is a hole.  Page granularity.

    Returns the new offset, or -ENXIO for SEEK_DATA with no data from *start* to i_size and
    for any *start* at or beyond i_size.
    """
    end = inode.i_size
    if start >= end:
        return -ENXIO
    tree = inode.mapping.page_tree
    last = (end + PAGE_SIZE - 1) >> PAGE_SHIFT  # entries at or past EOF's page do not count
    index = start >> PAGE_SHIFT
    while True:
        found = tree.next_entry(index, last)
        if whence == SEEK_DATA:
            if found is None:
                return -ENXIO
            idx, entry = found
            if radix_tree_exceptional_entry(entry) or m.flags[entry] & PG_uptodate:
                return max(start, idx << PAGE_SHIFT)
            index = idx + 1
            continue
        # SEEK_HOLE: the first page at or after *index* that holds no data.
        if found is None or found[0] > index:
            return min(max(start, index << PAGE_SHIFT), end)
        idx, entry = found
        if not (radix_tree_exceptional_entry(entry) or m.flags[entry] & PG_uptodate):
            return min(max(start, idx << PAGE_SHIFT), end)
        index = idx + 1
