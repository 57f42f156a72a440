"""The simulated machine's memory management: frames and the buddy allocator, page flags,
LRU and pagevecs, swap, the page cache, page tables, faults, rmap, migration, reclaim, vmstat."""
