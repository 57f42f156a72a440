"""The census walks against their originals on broken lists and trees.

The buddy census walks sound free lists in plain Python and falls back to the exact walk
at the first thing amiss; the cache census reads the radix tree's nodes directly.  The
runs of test_incremental compare both with their originals (reference_checks) at every
step, but no run breaks a free list or a tree: here each is broken on purpose, in every way
the walks tell apart, and the census must equal the original's, problems and all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from checkrig import busy_rig
from reference_checks import _plain, buddy, cache

from hugetmpfs.check.census import Census
from hugetmpfs.mm.machine import MAX_ORDER, NIL

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.mm.machine import MemMachine


def _orders(m: MemMachine) -> list[list[int]]:
    """Each order's free blocks, head to tail."""
    out = []
    for order in range(MAX_ORDER):
        blocks, page = [], m.free_head[order]
        while page != NIL:
            blocks.append(page)
            page = m.lru_next[page]
        out.append(blocks)
    return out


def _largest(m: MemMachine) -> tuple[int, list[int]]:
    order = max(o for o, blocks in enumerate(_orders(m)) if blocks)
    return order, _orders(m)[order]


def _two(m: MemMachine) -> tuple[int, list[int]]:
    """An order with two free blocks or more."""
    for order, blocks in enumerate(_orders(m)):
        if len(blocks) >= 2:
            return order, blocks
    pytest.skip("no order with two free blocks")


def cycle(m: MemMachine) -> None:
    _, blocks = _two(m)
    m.lru_next[blocks[-1]] = blocks[0]


def self_loop(m: MemMachine) -> None:
    _, blocks = _largest(m)
    m.lru_next[blocks[0]] = blocks[0]


def bad_prev(m: MemMachine) -> None:
    _, blocks = _two(m)
    m.lru_prev[blocks[1]] = blocks[1] ^ 1


def misaligned(m: MemMachine) -> None:
    order, blocks = _largest(m)
    m.free_head[order] = blocks[0] + 1
    m.lru_prev[blocks[0] + 1] = NIL
    m.lru_next[blocks[0] + 1] = NIL


def out_of_range(m: MemMachine) -> None:
    _, blocks = _largest(m)
    m.lru_next[blocks[-1]] = m.nr_frames + 5


def around_a_block(m: MemMachine) -> None:
    """An order-0 block inside a larger one: met first (orders are walked upwards), so
    the larger block's head is not covered yet, and the overlap shows only in cover."""
    order, blocks = _largest(m)
    small = blocks[0] + 5
    head0 = m.free_head[0]
    m.free_head[0] = small
    m.lru_prev[small] = NIL
    m.lru_next[small] = head0
    if head0 != NIL:
        m.lru_prev[head0] = small
    assert order > 0


def twice(m: MemMachine) -> None:
    """The same block on two orders' lists."""
    _, blocks = _largest(m)
    m.free_head[0] = blocks[0]


BUDDY_BREAKS: list[Callable[[MemMachine], None]] = [
    cycle,
    self_loop,
    bad_prev,
    misaligned,
    out_of_range,
    around_a_block,
    twice,
]


@pytest.fixture(scope="module")
def machine() -> MemMachine:
    return busy_rig()[0].m


@pytest.mark.parametrize("corrupt", BUDDY_BREAKS, ids=lambda f: f.__name__)
def test_buddy_census_equals_its_original_on_broken_lists(
    machine: MemMachine, corrupt: Callable[[MemMachine], None]
) -> None:
    m = machine
    assert _plain(Census(m).buddy) == _plain(buddy(Census(m)))  # sound, first
    saved = list(m.free_head), m.lru_next[:], m.lru_prev[:]
    try:
        corrupt(m)
        got = Census(m).buddy
        assert got.problems or got.cover.max() > 1, "the break went unseen"
        assert _plain(got) == _plain(buddy(Census(m)))
    finally:
        m.free_head[:] = saved[0]
        m.lru_next[:] = saved[1]
        m.lru_prev[:] = saved[2]


def test_cache_census_equals_its_original_on_a_bad_entry(machine: MemMachine) -> None:
    m = machine
    c = Census(m)
    assert len(c.cache.pfn)  # pages
    assert c.cache.swaps  # and swap entries
    assert _plain(c.cache) == _plain(cache(Census(m)))
    mapping = c.address_spaces[0]
    index = max(i for i, _ in mapping.page_tree.items()) + 70  # in a node of its own
    assert mapping.page_tree.insert(index, m.nr_frames + 3) == 0
    try:
        got = Census(m).cache
        assert got.problems
        assert _plain(got) == _plain(cache(Census(m)))
    finally:
        mapping.page_tree.delete(index)
