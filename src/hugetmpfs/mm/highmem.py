"""What pages hold: include/linux/highmem.h's clear/zero/copy helpers on the model's content.

A page of one repeated byte is stored as that byte (``m.content[page]``) and costs nothing
more; only a page with mixed bytes gets its bytes in ``m.data``: while all but a few
(``SPARSE_MAX``) are one byte, as after a store through a mapping, a *sparse page*: the
tuple ``(byte, offset, other byte, offset, other byte, ...)``, a later pair overriding an
earlier one at the same offset (small, immutable, and plain ints, which the cycle collector
soon stops tracking), else a bytearray.  Either way the content code is MIXED and readers
see the same bytes.  Reading a page whose content is POISON (freshly allocated and never
initialised, or freed) raises :class:`PoisonError`: the data oracle's way of catching
exposure of uninitialised memory or a use after free, the hazards the series' guards
exist for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.errors import ModelBug
from hugetmpfs.mm.machine import PAGE_SIZE
from hugetmpfs.mm.page_alloc import POISON

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine

MIXED = -1  # content code: the bytes are in m.data[page]
SPARSE_MAX = 64  # (offset, byte) pairs a sparse page may hold before it is materialised


def _sparse_read(data: tuple[int, ...], offset: int, length: int) -> bytearray:
    """The bytes [offset, offset+length) of a sparse page."""
    buf = bytearray((data[0],)) * length
    end = offset + length
    for i in range(1, len(data), 2):
        off = data[i]
        if offset <= off < end:
            buf[off - offset] = data[i + 1]
    return buf


def _sparse_pairs(offset: int, length: int, byte: int) -> tuple[int, ...]:
    if length == 1:
        return (offset, byte)
    return tuple(x for off in range(offset, offset + length) for x in (off, byte))


class PoisonError(ModelBug):
    """A page was read while its bytes were garbage (uninitialised or freed memory)."""

    finding_kind = "oracle"


def page_read(m: MemMachine, page: int, offset: int, length: int) -> bytes:
    """The bytes [offset, offset+length) of a page."""
    code = m.content[page]
    if code >= 0:
        return bytes((code,)) * length
    if code == MIXED:
        data = m.data[page]
        if data.__class__ is tuple:
            return bytes(_sparse_read(data, offset, length))
        return bytes(data[offset : offset + length])
    raise PoisonError("reading uninitialised or freed memory: " + m.dump_page(page))


def page_data_copy(m: MemMachine, page: int) -> bytearray:
    """A copy of the 4 KiB of a page whose content code is MIXED (swap writes it out)."""
    data = m.data[page]
    if data.__class__ is tuple:
        return _sparse_read(data, 0, PAGE_SIZE)
    return bytearray(data)


def page_fill(m: MemMachine, page: int, offset: int, length: int, byte: int) -> None:
    """Set [offset, offset+length) of a page to *byte*."""
    code = m.content[page]
    if code == byte or length <= 0:
        return
    if length == PAGE_SIZE:
        m.content[page] = byte
        m.data.pop(page, None)
        return
    if length <= SPARSE_MAX:  # a few bytes: no 4 KiB copy while the page stays sparse
        if code >= 0:
            if length == 1:  # a store through a mapping
                m.data[page] = (code, offset, byte)
            else:
                m.data[page] = (code, *_sparse_pairs(offset, length, byte))
            m.content[page] = MIXED
            return
        if code == MIXED:
            data = m.data[page]
            if data.__class__ is tuple and len(data) // 2 + length <= SPARSE_MAX:
                m.data[page] = data + _sparse_pairs(offset, length, byte)
                return
    buf = _materialise(m, page, code)
    buf[offset : offset + length] = bytes((byte,)) * length


def page_write(m: MemMachine, page: int, offset: int, data: bytes) -> None:
    """Copy *data* into a page at *offset*."""
    if not data:
        return
    first = data[0]
    if data.count(first) == len(data):
        page_fill(m, page, offset, len(data), first)
        return
    if len(data) == PAGE_SIZE:  # overwrites every byte: whatever the page held goes
        m.data[page] = bytearray(data)
        m.content[page] = MIXED
        return
    buf = _materialise(m, page, m.content[page])
    buf[offset : offset + len(data)] = data


def _materialise(m: MemMachine, page: int, code: int) -> bytearray:
    if code == MIXED:
        data = m.data[page]
        if data.__class__ is tuple:
            data = m.data[page] = _sparse_read(data, 0, PAGE_SIZE)
        return data
    if code == POISON:
        # Writing part of a garbage page leaves the rest garbage: keep it poisoned bytewise
        # by refusing, since the kernel never does this to a page it then exposes.
        raise PoisonError("partial write into an uninitialised page: " + m.dump_page(page))
    buf = bytearray((code,)) * PAGE_SIZE
    m.data[page] = buf
    m.content[page] = MIXED
    return buf


def clear_highpage(m: MemMachine, page: int) -> None:
    m.content[page] = 0
    m.data.pop(page, None)


def zero_user_segment(m: MemMachine, page: int, start: int, end: int) -> None:
    if m.content[page] == POISON and start == 0 and end == PAGE_SIZE:
        clear_highpage(m, page)
        return
    page_fill(m, page, start, end - start, 0)


def copy_highpage(m: MemMachine, to: int, frm: int) -> None:
    """Copy a page's contents (migration, COW); garbage copies as garbage."""
    code = m.content[frm]
    m.content[to] = code
    if code == MIXED:
        data = m.data[frm]
        # a sparse page's tuple is never changed, only replaced: the copy may share it
        m.data[to] = data if data.__class__ is tuple else bytearray(data)
    else:
        m.data.pop(to, None)


def page_is_uniform(m: MemMachine, page: int) -> int | None:
    """The byte every position of the page holds, or None."""
    code = m.content[page]
    return code if code >= 0 else None
