"""Figures from the machine's state: the kernel's fragmentation index, page maps, recovery
stats read generically."""

from __future__ import annotations

from types import SimpleNamespace

from hugetmpfs.workload.memstate import (
    FRAME_STATES,
    fragmentation_index,
    frame_counts,
    recovery_stats,
    unusable_index,
)
from hugetmpfs.workload.runner import run_scenario
from hugetmpfs.workload.scenario import builtin_path
from hugetmpfs.workload.scenario_file import load_scenario

ORDER = 9


def test_fragmentation_index_is_the_kernels() -> None:
    assert fragmentation_index([0] * 11, ORDER) == 0  # no free blocks
    assert fragmentation_index([5, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], ORDER) == -1000  # it fits
    # 100 free pages in 100 blocks: 1000 - (1000 + 100*1000/512) / 100 = 1000 - 11
    assert fragmentation_index([100] + [0] * 10, ORDER) == 989
    # 256 free pages in one order-8 block: lack of memory more than fragmentation
    assert fragmentation_index([0] * 8 + [1, 0, 0], ORDER) == 1000 - (1000 + 500)
    assert unusable_index([100] + [0] * 10, ORDER) == 1000
    assert unusable_index([0] * 9 + [1, 0], ORDER) == 0
    assert unusable_index([0] * 11, ORDER) == 1000


def test_recovery_stats_are_read_generically() -> None:
    assert recovery_stats(SimpleNamespace()) is None
    assert recovery_stats(SimpleNamespace(recovery_stats={"b": 2, "a": 1})) == {"a": 1, "b": 2}
    obj = SimpleNamespace(as_dict=lambda: {"work_queued": 3})
    assert recovery_stats(SimpleNamespace(recovery_stats=obj)) == {"work_queued": 3}
    assert recovery_stats(SimpleNamespace(recovery_stats=lambda: {"x": 1})) == {"x": 1}
    assert recovery_stats(SimpleNamespace(recovery_stats=7)) is None


def test_page_maps_account_for_every_frame_and_the_file() -> None:
    sc = load_scenario(builtin_path("swap-and-recover"), scale=32)
    result = run_scenario(sc)
    filled = next(pm for pm in result.pagemaps if pm.label == "filled")
    counts = frame_counts(filled)
    assert sum(counts.values()) == sc.machine.ram >> 12
    assert set(counts) == set(FRAME_STATES)
    file_pages = 512 * 1024 * 1024 // 32 >> 12
    assert counts["team, pmd-mapped"] == file_pages  # filled: all of it in pmd-mapped teams
    name, slots = filled.files[0]
    assert name == "data"
    assert slots == "M" * file_pages
    swapped = next(pm for pm in result.pagemaps if pm.label == "swapped")
    assert "w" in swapped.files[0][1]
    kept = result.series.kept(("Mem*",))
    assert "MemFree" in kept
    assert "pgfault" in kept  # the plots' own columns are always kept
    assert "nr_dirty" not in kept
