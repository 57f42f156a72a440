"""The recovery's debugfs counters (patch 28/31): /sys/kernel/debug/shmem_huge_recovery/*.

Plain u32 counters bumped without atomics, as in the kernel ("debugging doesn't need them
to be u64s"); the model wraps them at 2**32 when read.  ``stats`` trace lines, the CLI
and the workload series read them through :func:`recovery_stats`.

Models: mm/shmem.c shr_stats / shmem_recovery_stats_init (patch 28/31).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hugetmpfs.shmem.machine import Machine

#: The 26 counters, in the order debugfs lists them (alphabetical).
RECOVERY_STATS = (
    "huge_alloced",
    "huge_failed",
    "huge_too_late",
    "page_created",
    "page_migrate",
    "page_off_lru",
    "page_raced",
    "page_teamed",
    "page_unmigrated",
    "recov_completed",
    "recov_failed",
    "recov_partial",
    "recov_retried",
    "remap_another",
    "remap_faulter",
    "remap_untried",
    "resume_tagged",
    "resume_teamed",
    "swap_cached",
    "swap_entry",
    "swap_gone",
    "swap_read",
    "work_already",
    "work_queued",
    "work_too_late",
    "work_too_many",
)


class RecoveryStats:
    """One attribute per counter; ``shr_stats(name)`` in the kernel is ``stats.name += 1``."""

    __slots__ = RECOVERY_STATS

    def __init__(self) -> None:
        for name in RECOVERY_STATS:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) & 0xFFFFFFFF for name in RECOVERY_STATS}


def recovery_stats(m: Machine) -> dict[str, int]:
    """The 26 counters as debugfs shows them (u32)."""
    return m.recovery_stats.as_dict()


def stats_relations(s: dict[str, int]) -> list[tuple[str, bool]]:
    """The digest's consistency relations between the counters (§4), each with whether it
    holds: every queued work ends one way; every swap entry the pre-pass saw went one way;
    every populate past its shortcut ends once; a remap follows a completion."""
    populates = s["huge_alloced"] + s["resume_tagged"] + s["resume_teamed"]
    ended = s["recov_completed"] + s["recov_partial"] + s["recov_failed"]
    return [
        (
            "work_queued = work_too_late + huge_failed + huge_too_late + huge_alloced"
            " + resume_tagged + resume_teamed",
            s["work_queued"]
            == s["work_too_late"]
            + s["huge_failed"]
            + s["huge_too_late"]
            + s["huge_alloced"]
            + s["resume_tagged"]
            + s["resume_teamed"],
        ),
        (
            "swap_entry = swap_cached + swap_gone + swap_read",
            s["swap_entry"] == s["swap_cached"] + s["swap_gone"] + s["swap_read"],
        ),
        ("recov_completed + recov_partial + recov_failed ≤ populates", ended <= populates),
    ]
