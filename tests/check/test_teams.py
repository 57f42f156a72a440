"""check/teams.py: pmd-mapped and partial teams pass; each corruption is named."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hugetmpfs.check import INVARIANTS, check_machine
from hugetmpfs.check.invariants import machine_context
from hugetmpfs.mm.mm_types import HugePmd, MMStruct
from hugetmpfs.mm.page_flags import PG_checked, PG_dirty
from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.fileops import WriteSource
from hugetmpfs.shmem.machine import Machine, MachineConfig
from hugetmpfs.shmem.vfs_mmap import sys_mmap, sys_touch

if TYPE_CHECKING:
    from collections.abc import Callable

N = 8


def mapped_team_machine() -> tuple[Machine, HugePmd]:
    """hpage_nr 8, huge=always: team 0 complete and mapped by a pmd, team 1 with holes and
    one page mapped by a pte."""
    m = Machine(MachineConfig(ram=8 << 20, hpage_nr=N))
    task = vfs.Task(m, m.mount("always", 1 << 20), MMStruct(m))
    fd = vfs.sys_open(task, "f", vfs.O_RDWR | vfs.O_CREAT)
    assert vfs.sys_pwrite64(task, fd, WriteSource(4096, byte=0x78), 0) == 4096
    assert vfs.sys_pwrite64(task, fd, WriteSource(4096, byte=0x79), (N + 2) * 4096) == 4096
    span = 2 * m.HPAGE_PMD_SIZE
    addr = sys_mmap(task, fd, 0, span, "r", True)
    assert sys_touch(task, addr, span, 0, 1, 1, None) == (None, 0)  # huge: populates team 0
    pmd = task.mm.pmds[addr >> (12 + m.HPAGE_PMD_ORDER)]
    assert pmd.__class__ is HugePmd
    return m, pmd


def c_pte_field(m: Machine, pmd: HugePmd) -> None:
    m.private[pmd.head] += m.team.TEAM_PTE_COUNTER


def c_tail_freed(m: Machine, pmd: HugePmd) -> None:
    m.pcp[0].append(pmd.head + 3)  # a tail under the pmd handed back to the allocator


def c_checked_clean(m: Machine, pmd: HugePmd) -> None:
    m.flags[pmd.head + 5] &= ~PG_dirty


def c_no_deposit(m: Machine, pmd: HugePmd) -> None:
    pmd.deposited.nr_present = 1  # type: ignore[union-attr]


TEAM_CORRUPTIONS: list[tuple[str, Callable[[Machine, HugePmd], None]]] = [
    ("team_usage_matches_team", c_pte_field),
    ("huge_pmds_map_live_complete_teams", c_tail_freed),
    ("checked_teams_are_populated", c_checked_clean),
    ("huge_pmds_fit_their_vmas", c_no_deposit),
]


def test_pmd_mapped_and_partial_teams_pass() -> None:
    m, pmd = mapped_team_machine()
    assert m.flags[pmd.head] & PG_checked
    assert check_machine(m) == []


@pytest.mark.parametrize(
    ("name", "corrupt"), TEAM_CORRUPTIONS, ids=[n for n, _ in TEAM_CORRUPTIONS]
)
def test_corruption_is_named(name: str, corrupt: Callable[[Machine, HugePmd], None]) -> None:
    m, pmd = mapped_team_machine()
    corrupt(m, pmd)
    assert name in {x.name for x in check_machine(m)}
    messages = [x.message for x in INVARIANTS[name].fn(machine_context(m))]
    assert messages
    assert all(messages)
