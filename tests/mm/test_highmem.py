"""Page contents (mm/highmem.py): uniform pages stay cheap, garbage is never read."""

from __future__ import annotations

import pytest

from hugetmpfs.mm.highmem import (
    MIXED,
    SPARSE_MAX,
    PoisonError,
    clear_highpage,
    copy_highpage,
    page_data_copy,
    page_fill,
    page_read,
    page_write,
)
from hugetmpfs.mm.machine import PAGE_SIZE, MemMachine
from hugetmpfs.mm.page_alloc import GFP_KERNEL, POISON, alloc_pages
from hugetmpfs.sim import Engine, RoundRobinStrategy


def fresh_page() -> tuple[MemMachine, int]:
    m = MemMachine(Engine(RoundRobinStrategy()), 4 << 20, cpus=1, hpage_nr=512)
    page = alloc_pages(m, GFP_KERNEL, 0)
    assert page is not None
    assert m.content[page] == POISON
    return m, page


def test_a_whole_page_of_mixed_bytes_replaces_garbage() -> None:
    # Regression: a full-page write of non-uniform data into a new page raised PoisonError
    # ("partial write into an uninitialised page"), so any pwrite of >= 4 KiB of mixed
    # bytes covering a new page crashed the model.
    m, page = fresh_page()
    data = bytes(range(256)) * (PAGE_SIZE // 256)
    page_write(m, page, 0, data)
    assert m.content[page] == MIXED
    assert page_read(m, page, 0, PAGE_SIZE) == data


def test_a_partial_write_into_garbage_is_refused_and_garbage_is_never_read() -> None:
    m, page = fresh_page()
    with pytest.raises(PoisonError):
        page_write(m, page, 10, b"ab")
    with pytest.raises(PoisonError):
        page_read(m, page, 0, 1)


def test_uniform_writes_stay_uniform() -> None:
    m, page = fresh_page()
    page_write(m, page, 0, b"\x07" * PAGE_SIZE)
    assert m.content[page] == 7
    assert page not in m.data
    page_write(m, page, 100, b"xy")
    assert page_read(m, page, 99, 4) == b"\x07xy\x07"


def test_a_few_bytes_stored_keep_a_page_sparse_and_exact() -> None:
    # A store through a mapping writes one byte of a zeroed page: the page keeps its
    # base byte and the bytes that differ (no 4 KiB copy), and reads the same as a
    # bytearray would, until too many bytes differ and it is materialised.
    m, page = fresh_page()
    clear_highpage(m, page)
    page_fill(m, page, 5, 1, 1)
    assert m.content[page] == MIXED
    assert m.data[page].__class__ is tuple
    want = bytearray(PAGE_SIZE)
    want[5] = 1
    assert page_read(m, page, 0, PAGE_SIZE) == want
    assert page_read(m, page, 4, 3) == b"\x00\x01\x00"
    other = alloc_pages(m, GFP_KERNEL, 0)
    assert other is not None
    copy_highpage(m, other, page)
    page_fill(m, other, 6, 1, 2)  # the copy is independent
    assert page_read(m, page, 6, 1) == b"\x00"
    assert page_data_copy(m, other)[5:7] == b"\x01\x02"
    page_fill(m, page, 100, SPARSE_MAX, 3)  # too many: materialised, still exact
    want[100 : 100 + SPARSE_MAX] = b"\x03" * SPARSE_MAX
    assert m.data[page].__class__ is bytearray
    assert page_read(m, page, 0, PAGE_SIZE) == want
    page_write(m, page, 0, b"\x09" * PAGE_SIZE)
    assert m.content[page] == 9
    assert page not in m.data
