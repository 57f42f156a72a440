"""The page cache's index: lib/radix-tree.c reduced to what shmem asks of it.

A tree of 64-slot nodes, flattened to two levels: a dict of leaf nodes keyed by
``index >> 6`` plus the sorted list of their keys, so a point lookup is one dict access and
range scans ("the first entry at or after i", gang lookups, tagged lookups) walk only
occupied nodes.  Each node keeps a bitmask of occupied slots and one per tag, as the
kernel's nodes keep tag bitmaps.

Entries are ints: a pfn (>= 0), or an *exceptional* entry (< 0) holding a swap entry, as
shmem stores swapped-out pages (swp_to_radix_entry).

Models: lib/radix-tree.c (v4.6-rc2) for radix_tree_lookup, insert, delete, replace_slot,
tag_set/clear/get, tagged, gang_lookup(_tag); include/linux/swapops.h for the entries.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right, insort
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

SHIFT = 6
SIZE = 1 << SHIFT
MASK = SIZE - 1
MAX_TAGS = 2
_ZEROS = bytes(8 * SIZE)
PAGECACHE_TAG_DIRTY = 0  # reused by shmem as SHMEM_TAG_HUGEHOLE (patch 06/31)
PAGECACHE_TAG_TOWRITE = 1


def swp_to_radix_entry(swp: int) -> int:
    return ~swp


def radix_to_swp_entry(entry: int) -> int:
    return ~entry


def radix_tree_exceptional_entry(entry: int | None) -> bool:
    return entry is not None and entry < 0


def _lowest_bit(mask: int) -> int:
    return (mask & -mask).bit_length() - 1


class _Node:
    """64 slots as machine integers (a list of Python ints would cost 40 bytes a page);
    ``mask`` says which slots are occupied."""

    __slots__ = ("mask", "slots", "tags")

    def __init__(self) -> None:
        self.slots = array("q", _ZEROS)
        self.mask = 0
        self.tags = [0] * MAX_TAGS


class RadixTree:
    """index -> entry, with per-slot tags."""

    __slots__ = ("count", "keys", "nodes", "tag_count")

    def __init__(self) -> None:
        self.nodes: dict[int, _Node] = {}
        self.keys: list[int] = []  # sorted node ids
        self.count = 0
        self.tag_count = [0] * MAX_TAGS

    def lookup(self, index: int) -> int | None:
        node = self.nodes.get(index >> SHIFT)
        if node is None or not node.mask >> (index & MASK) & 1:
            return None
        return node.slots[index & MASK]

    def insert(self, index: int, entry: int) -> int:
        """0, or -EEXIST when the slot is occupied."""
        key = index >> SHIFT
        node = self.nodes.get(key)
        if node is None:
            node = self.nodes[key] = _Node()
            insort(self.keys, key)
        bit = 1 << (index & MASK)
        if node.mask & bit:
            return -17  # -EEXIST
        node.slots[index & MASK] = entry
        node.mask |= bit
        self.count += 1
        return 0

    def insert_run(self, index: int, first: int, n: int) -> None:
        """Insert the *n* entries first, first + 1, ... at index, index + 1, ... (a run of a
        team's subpages), each into an empty slot: *n* inserts in one go."""
        nodes = self.nodes
        end = index + n
        while index < end:
            key, offset = index >> SHIFT, index & MASK
            count = min(SIZE - offset, end - index)
            node = nodes.get(key)
            if node is None:
                node = nodes[key] = _Node()
                insort(self.keys, key)
            bits = ((1 << count) - 1) << offset
            assert not node.mask & bits, "insert_run over an occupied slot"
            node.slots[offset : offset + count] = array("q", range(first, first + count))
            node.mask |= bits
            first += count
            index += count
        self.count += n

    def replace_slot(self, index: int, entry: int) -> None:
        node = self.nodes[index >> SHIFT]
        assert node.mask & (1 << (index & MASK)), "replace_slot of an empty slot"
        node.slots[index & MASK] = entry

    def delete(self, index: int) -> int | None:
        """Remove and return the entry at *index* (clearing its tags), or None."""
        key = index >> SHIFT
        node = self.nodes.get(key)
        if node is None:
            return None
        bit = 1 << (index & MASK)
        if not node.mask & bit:
            return None
        entry = node.slots[index & MASK]
        node.mask &= ~bit
        for tag in range(MAX_TAGS):
            if node.tags[tag] & bit:
                node.tags[tag] &= ~bit
                self.tag_count[tag] -= 1
        self.count -= 1
        if not node.mask:
            del self.nodes[key]
            del self.keys[bisect_left(self.keys, key)]
        return entry

    # -- tags -----------------------------------------------------------------------------

    def tag_set(self, index: int, tag: int) -> None:
        node = self.nodes[index >> SHIFT]
        bit = 1 << (index & MASK)
        assert node.mask & bit, "tagging an empty slot"
        if not node.tags[tag] & bit:
            node.tags[tag] |= bit
            self.tag_count[tag] += 1

    def tag_clear(self, index: int, tag: int) -> bool:
        """Clear a tag; True if it was set (clearing an untagged slot "succeeds" silently
        in the kernel, which is why shmem looks the tag up first)."""
        node = self.nodes.get(index >> SHIFT)
        bit = 1 << (index & MASK)
        if node is None or not node.tags[tag] & bit:
            return False
        node.tags[tag] &= ~bit
        self.tag_count[tag] -= 1
        return True

    def tag_get(self, index: int, tag: int) -> bool:
        node = self.nodes.get(index >> SHIFT)
        return node is not None and bool(node.tags[tag] & (1 << (index & MASK)))

    def tagged(self, tag: int) -> bool:
        return self.tag_count[tag] > 0

    # -- range scans ----------------------------------------------------------------------

    def _next(self, start: int, end: int | None, tag: int | None) -> tuple[int, int] | None:
        keys, nodes = self.keys, self.nodes
        node = nodes.get(start >> SHIFT)
        if node is not None:  # the usual case: the answer is in start's own node
            offset = start & MASK
            mask = (node.mask if tag is None else node.tags[tag]) >> offset << offset
            if mask:
                index = (start - offset) | _lowest_bit(mask)
                if end is not None and index >= end:
                    return None
                return index, node.slots[index & MASK]
        pos = bisect_left(keys, start >> SHIFT)
        offset = start & MASK if pos < len(keys) and keys[pos] == start >> SHIFT else 0
        while pos < len(keys):
            key = keys[pos]
            if end is not None and key << SHIFT >= end:
                return None
            node = nodes[key]
            mask = (node.mask if tag is None else node.tags[tag]) >> offset << offset
            if mask:
                index = (key << SHIFT) | _lowest_bit(mask)
                if end is not None and index >= end:
                    return None
                return index, node.slots[index & MASK]
            pos += 1
            offset = 0
        return None

    def next_entry(self, start: int, end: int | None = None) -> tuple[int, int] | None:
        """The first (index, entry) with start <= index < end, or None."""
        return self._next(start, end, None)

    def next_tagged(self, start: int, tag: int, end: int | None = None) -> tuple[int, int] | None:
        return self._next(start, end, tag)

    def gang_lookup(self, start: int, nr: int, end: int | None = None) -> list[tuple[int, int]]:
        """Up to *nr* (index, entry) pairs from *start* on, in index order."""
        out: list[tuple[int, int]] = []
        while len(out) < nr:
            found = self._next(start, end, None)
            if found is None:
                break
            out.append(found)
            start = found[0] + 1
        return out

    def items(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
        """Every (index, entry) in index order (for invariants and views)."""
        lo = bisect_left(self.keys, start >> SHIFT)
        hi = len(self.keys) if end is None else bisect_right(self.keys, (end - 1) >> SHIFT)
        for key in self.keys[lo:hi]:
            node = self.nodes[key]
            mask = node.mask
            while mask:
                bit = _lowest_bit(mask)
                mask &= mask - 1
                index = (key << SHIFT) | bit
                if index >= start and (end is None or index < end):
                    yield index, node.slots[bit]
