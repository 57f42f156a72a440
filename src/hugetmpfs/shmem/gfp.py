"""Composing the huge allocations' gfp masks from a sysctl template (patch 30/31).

``vm.shmem_huge_gfpmask`` (a fault's or a write's huge allocation) and
``vm.shmem_recovery_gfpmask`` (the recovery work's) are templates: the reclaim relaxants
(IO, FS, direct and kswapd reclaim) apply only where both the template and the request
allow them; zone bits come only from the request, never __GFP_COMP; the request's
REPEAT and NOFAIL (right for small pages, wrong for huge ones) are dropped; the rest is
the union.

Models: mm/shmem.c shmem_huge_gfp (patch 30/31).
"""

from __future__ import annotations

from hugetmpfs.mm.page_alloc import (
    __GFP_COMP,
    __GFP_HIGHMEM,
    __GFP_MOVABLE,
    __GFP_NOFAIL,
    __GFP_REPEAT,
    GFP_KERNEL,
)

__GFP_BITS_MASK = (1 << 26) - 1  # v4.6: __GFP_BITS_SHIFT 26
GFP_ZONEMASK = 0x01 | __GFP_HIGHMEM | 0x04 | __GFP_MOVABLE  # DMA, HIGHMEM, DMA32, MOVABLE


def shmem_huge_gfp(template: int, requested: int) -> int:
    """The mask for a huge allocation asked with *requested* under sysctl *template*."""
    relax = template & requested & GFP_KERNEL
    template &= __GFP_BITS_MASK & ~(GFP_ZONEMASK | __GFP_COMP | GFP_KERNEL)
    requested &= ~(__GFP_REPEAT | __GFP_NOFAIL | __GFP_COMP | GFP_KERNEL)
    return template | requested | relax
