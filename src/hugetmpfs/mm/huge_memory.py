"""Mapping a team by a huge pmd, and back: the entry points the fault, zap and rmap paths call.

Only small pages are mapped so far, so no :class:`~hugetmpfs.mm.mm_types.HugePmd` is ever
installed and none of these runs; each names the patch it will implement.  The call sites
are in place: __do_fault on VM_FAULT_HUGE, zap_pmd_range for a pmd wholly or partly in
range, __split_vma across a huge pmd, a write fault on a read-only huge pmd, and
try_to_unmap_one for a team head (patch 08/31).

Models: mm/huge_memory.c (patch 10/31): map_team_by_pmd, unmap_team_by_pmd,
remap_team_by_ptes, zap_huge_pmd's team case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.errors import ModelBug

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine
    from hugetmpfs.mm.mm_types import VMA

_TODO = "not implemented yet: the model maps small pages only ({}, patch 10/31)"


def map_team_by_pmd(m: MemMachine, vma: VMA, address: int, pmd: int, head: int) -> int:
    """Map the locked, complete team *head* by pmd *pmd*: VM_FAULT_NOPAGE or VM_FAULT_OOM."""
    raise ModelBug(_TODO.format("map_team_by_pmd"))


def remap_team_by_ptes(m: MemMachine, vma: VMA, address: int, pmd: int) -> None:
    """Replace the huge pmd *pmd* by ptes of its team, from the deposited table."""
    raise ModelBug(_TODO.format("remap_team_by_ptes"))


def zap_huge_pmd(m: MemMachine, vma: VMA, pmd: int, tlb: list[int]) -> None:
    """Take down huge pmd *pmd* wholly in a zapped range; its head reference goes to *tlb*."""
    raise ModelBug(_TODO.format("zap_huge_pmd"))


def unmap_team_by_pmd(m: MemMachine, vma: VMA, address: int, head: int) -> None:
    """Reclaim's try_to_unmap_one found *head* mapped by a pmd: take the pmd down."""
    raise ModelBug(_TODO.format("unmap_team_by_pmd"))
