"""Virtual time the model's operations cost, in ns.

Virtual time orders actors and timers and is what workload reports plot on their x axis; it
never depends on the host.  The figures are calibrated on the real kernel of the machines
this project runs on (reference/kernel-oracle.md §3: 2.3 µs per small-page fault on
huge=never, 3 GiB/s for write(), 1.6 µs per hole-punch) and on a modest swap device.
"""

from __future__ import annotations

FAULT_NS = 2_300  # one page fault handled (small page, tmpfs)
WRITE_PAGE_NS = 1_300  # write(): one page copied into the page cache
READ_PAGE_NS = 700  # read(): one page copied out
PUNCH_PAGE_NS = 1_600  # truncation or hole-punch: one page removed
RECLAIM_PAGE_NS = 800  # reclaim: one page scanned through shrink_page_list
SWAP_LATENCY_NS = 100_000  # a swap I/O's latency
SWAP_PAGE_NS = 20_000  # the swap device's time per page (about 200 MB/s)
SYSCALL_NS = 1_000  # any operation of a trace, on top of its work
