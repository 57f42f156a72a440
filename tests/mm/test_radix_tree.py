"""lib/radix-tree.c as the model reduces it: point operations, tags, range scans."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hugetmpfs.mm.radix_tree import (
    PAGECACHE_TAG_DIRTY,
    PAGECACHE_TAG_TOWRITE,
    RadixTree,
    radix_to_swp_entry,
    radix_tree_exceptional_entry,
    swp_to_radix_entry,
)

EEXIST = 17


def test_insert_lookup_delete() -> None:
    t = RadixTree()
    assert t.lookup(5) is None
    assert t.insert(5, 100) == 0
    assert t.insert(5, 101) == -EEXIST  # occupied: the first entry stays
    assert t.lookup(5) == 100
    assert t.count == 1
    assert t.delete(5) == 100
    assert t.delete(5) is None
    assert t.count == 0
    assert t.keys == []  # an emptied node is freed


def test_entries_in_distant_nodes_stay_sorted() -> None:
    t = RadixTree()
    for index in (1 << 20, 3, 64, 63, 200):
        t.insert(index, index + 1)
    assert [i for i, _ in t.items()] == [3, 63, 64, 200, 1 << 20]
    assert t.keys == sorted(t.keys)


def test_replace_slot_keeps_tags_and_count() -> None:
    t = RadixTree()
    t.insert(7, 70)
    t.tag_set(7, PAGECACHE_TAG_DIRTY)
    t.replace_slot(7, swp_to_radix_entry(9))
    assert radix_tree_exceptional_entry(t.lookup(7))
    assert t.tag_get(7, PAGECACHE_TAG_DIRTY)
    assert t.count == 1
    with pytest.raises(AssertionError):
        t.replace_slot(8, 1)  # the same node, but an empty slot


def test_tags_set_clear_and_count() -> None:
    t = RadixTree()
    for i in range(0, 300, 10):
        t.insert(i, i)
    t.tag_set(20, PAGECACHE_TAG_DIRTY)
    t.tag_set(20, PAGECACHE_TAG_DIRTY)  # idempotent
    t.tag_set(250, PAGECACHE_TAG_DIRTY)
    assert t.tag_count[PAGECACHE_TAG_DIRTY] == 2
    assert t.tagged(PAGECACHE_TAG_DIRTY)
    assert not t.tagged(PAGECACHE_TAG_TOWRITE)
    assert t.tag_clear(20, PAGECACHE_TAG_DIRTY)
    assert not t.tag_clear(20, PAGECACHE_TAG_DIRTY)  # clearing twice says so
    assert not t.tag_clear(12345, PAGECACHE_TAG_DIRTY)  # no node there at all
    assert t.delete(250) == 250  # deleting clears the slot's tags
    assert t.tag_count[PAGECACHE_TAG_DIRTY] == 0
    with pytest.raises(AssertionError):
        t.tag_set(21, PAGECACHE_TAG_DIRTY)  # an empty slot cannot be tagged


def test_range_scans_respect_start_and_end() -> None:
    t = RadixTree()
    for i in (2, 63, 64, 130, 1000):
        t.insert(i, i * 10)
    assert t.next_entry(0) == (2, 20)
    assert t.next_entry(3) == (63, 630)
    assert t.next_entry(65) == (130, 1300)
    assert t.next_entry(65, 130) is None  # end is exclusive
    assert t.next_entry(1001) is None
    assert t.gang_lookup(3, 2) == [(63, 630), (64, 640)]
    assert t.gang_lookup(0, 10, end=131) == [(2, 20), (63, 630), (64, 640), (130, 1300)]
    assert list(t.items(63, 131)) == [(63, 630), (64, 640), (130, 1300)]
    assert list(t.items(0, 0)) == []
    t.tag_set(130, PAGECACHE_TAG_DIRTY)
    assert t.next_tagged(0, PAGECACHE_TAG_DIRTY) == (130, 1300)
    assert t.next_tagged(131, PAGECACHE_TAG_DIRTY) is None


def test_swap_entries_are_exceptional_and_round_trip() -> None:
    for swp in (1, 2, 12345):
        entry = swp_to_radix_entry(swp)
        assert radix_tree_exceptional_entry(entry)
        assert radix_to_swp_entry(entry) == swp
    assert not radix_tree_exceptional_entry(0)  # pfn 0 is a page
    assert not radix_tree_exceptional_entry(None)


ops = st.lists(
    st.tuples(st.sampled_from("idt"), st.integers(0, 400), st.integers(0, 1 << 20)), max_size=80
)


@settings(max_examples=150, derandomize=True, database=None, deadline=None)
@given(ops, st.integers(0, 400), st.integers(0, 450))
def test_agrees_with_a_dict(ops: list[tuple[str, int, int]], start: int, end: int) -> None:
    t, ref, tags = RadixTree(), {}, set()
    for op, index, value in ops:
        if op == "i":
            assert t.insert(index, value) == (-EEXIST if index in ref else 0)
            ref.setdefault(index, value)
        elif op == "d":
            assert t.delete(index) == ref.pop(index, None)
            tags.discard(index)
        elif index in ref:
            t.tag_set(index, PAGECACHE_TAG_DIRTY)
            tags.add(index)
    assert t.count == len(ref)
    assert list(t.items()) == sorted(ref.items())
    in_range = sorted((i, v) for i, v in ref.items() if start <= i < end)
    assert list(t.items(start, end)) == in_range
    assert t.gang_lookup(start, 1000, end) == in_range
    assert t.next_entry(start, end) == (in_range[0] if in_range else None)
    tagged = sorted(i for i in tags if i >= start)
    found = t.next_tagged(start, PAGECACHE_TAG_DIRTY)
    assert found == ((tagged[0], ref[tagged[0]]) if tagged else None)
    assert t.tag_count[PAGECACHE_TAG_DIRTY] == len(tags)
