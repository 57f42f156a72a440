"""The buddy allocator against a set of free frames (hypothesis stateful testing).

The reference knows only which frames are free.  An allocation must return an aligned
block of free frames; a free returns them; split_page turns a block into independent
pages.  After every rule the allocator's own structures (buddy lists, per-CPU lists,
NR_FREE_PAGES) must pass check/'s allocator invariants and describe exactly the
reference's free set.
"""

from __future__ import annotations

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hugetmpfs.check import check_machine
from hugetmpfs.check.census import Census
from hugetmpfs.mm.machine import MAX_ORDER, MemMachine
from hugetmpfs.mm.page_alloc import (
    GFP_KERNEL,
    alloc_pages,
    drain_all_pages,
    free_hot_cold_page,
    split_page,
)
from hugetmpfs.mm.page_alloc import __free_pages as free_pages  # no name mangling in a class
from hugetmpfs.mm.page_ref import put_page_testzero
from hugetmpfs.mm.vmstat import NR_FREE_PAGES
from hugetmpfs.sim import Engine, RoundRobinStrategy

RAM = 8 << 20  # 2048 frames: two blocks of the largest order
ALLOCATOR_INVARIANTS = (
    "buddy_free_lists_consistent",
    "pcp_lists_consistent",
    "frames_partitioned",
    "nr_free_pages_matches",
    "free_pages_unreferenced",
)


class Buddy(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.m = MemMachine(Engine(RoundRobinStrategy()), RAM, cpus=1, hpage_nr=512)
        self.free = set(range(self.m.nr_frames))
        self.blocks: list[tuple[int, int]] = []  # (first pfn, order) held by the test

    @rule(order=st.integers(0, MAX_ORDER - 1))
    def alloc(self, order: int) -> None:
        m = self.m
        page = alloc_pages(m, GFP_KERNEL, order)
        if page is None:
            # refused: below the min watermark, or no free block large enough
            free = m.vmstat.zone[NR_FREE_PAGES]
            no_block = not any(m.nr_free[o] for o in range(order, MAX_ORDER))
            assert free - (1 << order) + 1 <= m.wmark_min or (order and no_block)
            return
        frames = set(range(page, page + (1 << order)))
        assert page % (1 << order) == 0
        assert frames <= self.free, "allocated frames that were not free"
        assert m.refcount[page] == 1
        self.free -= frames
        self.blocks.append((page, order))

    @precondition(lambda self: self.blocks)
    @rule(i=st.integers(0, 1 << 16), cold=st.booleans())
    def free_block(self, i: int, cold: bool) -> None:
        page, order = self.blocks.pop(i % len(self.blocks))
        if order == 0:
            assert put_page_testzero(self.m, page)
            free_hot_cold_page(self.m, page, cold)
        else:
            free_pages(self.m, page, order)
        self.free |= set(range(page, page + (1 << order)))

    @precondition(lambda self: any(order for _, order in self.blocks))
    @rule(i=st.integers(0, 1 << 16))
    def split(self, i: int) -> None:
        big = [b for b in self.blocks if b[1]]
        page, order = big[i % len(big)]
        self.blocks.remove((page, order))
        split_page(self.m, page, order)
        self.blocks += [(p, 0) for p in range(page, page + (1 << order))]

    @rule()
    def drain(self) -> None:
        drain_all_pages(self.m)
        assert not self.m.pcp[0]

    @invariant()
    def allocator_is_consistent(self) -> None:
        assert check_machine(self.m, names=ALLOCATOR_INVARIANTS) == []

    @invariant()
    def free_frames_are_the_references(self) -> None:
        census = Census(self.m)
        assert set(np.flatnonzero(census.free).tolist()) == self.free


Buddy.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=50,
    derandomize=True,
    database=None,
    deadline=None,
)
TestBuddy = Buddy.TestCase
