"""Recovery (patches 23–31): trigger and queue, work, populate in both forms, swapin pass,
remap, stats and tunables, on traces and on directly driven machines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hugetmpfs.errors import ModelBug
from hugetmpfs.shmem.recovery_stats import stats_relations
from hugetmpfs.trace import parse_bytes, parse_file
from hugetmpfs.trace.model_runner import run_model

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "swap-and-recover.jsonl"
MiB = 1 << 20


def _example(variant: str | None = None, behaviours: list[str] | None = None) -> bytes:
    """The shipped scenario, with another variant or behaviour list if asked."""
    lines = EXAMPLE.read_text().splitlines()
    out = []
    for line in lines:
        if line.startswith('{"op": "machine"'):
            op = json.loads(line)
            if variant is not None:
                op["variant"] = variant
            if behaviours is not None:
                op["behaviours"] = behaviours
            line = json.dumps(op)
        out.append(line)
    return "\n".join(out).encode()


def _by_op(results: list[dict], op: str) -> list[dict]:
    return [r for r in results if r["op"] == op]


def _run(text: bytes, check_steps: bool = False) -> list[dict]:
    return run_model(parse_bytes(text, "inline.jsonl"), check_steps=check_steps)


def _assert_consistent(stats: dict) -> None:
    """The digest's consistency relations between the counters (§4)."""
    broken = [text for text, holds in stats_relations(stats) if not holds]
    assert not broken, broken
    assert stats["remap_faulter"] <= stats["recov_completed"] + stats["resume_teamed"]


# -- the shipped scenario --------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["v24", "v29"])
def test_swap_and_recover_recovers_every_team_with_invariants_at_every_step(variant: str) -> None:
    results = _run(_example(variant), check_steps=True)
    assert all(r["ret"] >= 0 for r in results), [r for r in results if r["ret"] < 0]
    smaps = _by_op(results, "smaps")
    before, after_touch, after_run = (s["ShmemPmdMapped"] for s in smaps)
    assert before == 32 * 1024  # kB: every team mapped by a pmd
    assert after_touch < before  # pressure disbanded teams; faulting back maps small
    assert after_run >= 0.95 * before
    reads = _by_op(results, "pread")
    assert reads[0]["sha256"] == reads[-1]["sha256"]  # every byte reads back as written
    stats = _by_op(results, "stats")[0]
    _assert_consistent(stats)
    assert stats["recov_completed"] > 0
    assert stats["remap_faulter"] > 0
    assert stats["swap_read"] > 0
    assert stats["page_migrate"] > 0
    assert _by_op(results, "check")[0]["violations"] == []


def test_v24_and_v29_differ_in_what_page_teamed_counts() -> None:
    """v24 counts migrated pages when its extra pass enteams them; v29's migration
    callback enteams them without counting (digest §7.3 item 3)."""
    v24 = _by_op(_run(_example("v24")), "stats")[0]
    v29 = _by_op(_run(_example("v29")), "stats")[0]
    assert v29["page_teamed"] == v29["swap_read"]
    assert v24["page_teamed"] == v24["swap_read"] + v24["page_migrate"] - v24["page_unmigrated"]


def test_v24_without_the_r4c_fix_counts_a_migrated_head_twice() -> None:
    """recovery/R4c (unguarded, v24): a pte-mapped page migrated into the head slot has its
    restored pte counted in the team's pte field, then counted again by the pass that
    enteams the head: the field ends one too high (I9), and Mapped one too low."""
    with pytest.raises(ModelBug, match=r"team_usage_matches_team|vmstat_matches_recount"):
        _run(_example("v24", behaviours=[]), check_steps=True)
    results = _run(_example("v24", behaviours=[]))
    assert "team_usage_matches_team" in _by_op(results, "check")[0]["violations"]


def test_the_run_is_deterministic() -> None:
    assert _run(_example()) == _run(_example())


# -- trigger and queue -----------------------------------------------------------------------


def _fragmented(
    extra: list[dict], machine: dict | None = None, private: bool = False, start: int = 0
) -> bytes:
    """A 4 MiB file written while huge pages were denied (small pages), then mapped in a
    huge-able area and touched: every fault may queue a recovery."""
    ops = [
        {"op": "machine", "ram": "32M", "seed": 3, **(machine or {})},
        {"op": "sysctl", "name": "vm.shmem_huge", "value": -1},
        {"op": "mount", "huge": "always", "size": "16M"},
        {"op": "open", "path": "f", "as": "f", "flags": ["O_RDWR", "O_CREAT"]},
        {"op": "pwrite", "fd": "f", "offset": 0, "len": 4 * MiB, "byte": 9},
        {"op": "sysctl", "name": "vm.shmem_huge", "value": 0},
        *extra,
        {
            "op": "mmap",
            "fd": "f",
            "as": "m",
            "offset": 0,
            "length": 4 * MiB,
            "prot": "rw",
            "shared": not private,
        },
        {
            "op": "touch",
            "map": "m",
            "offset": start,
            "len": 4 * MiB - start,
            "stride": 4096,
            "write": False,
        },
        {"op": "run", "ms": 1000},
        {"op": "smaps", "map": "m"},
        {"op": "stats"},
        {"op": "check"},
        {"op": "pread", "fd": "f", "offset": 0, "len": 4 * MiB},
    ]
    return "\n".join(json.dumps(op) for op in ops).encode()


def test_small_pages_in_a_huge_area_are_recovered_into_teams() -> None:
    results = _run(_fragmented([]), check_steps=True)
    assert _by_op(results, "smaps")[0]["ShmemPmdMapped"] == 4096
    stats = _by_op(results, "stats")[0]
    _assert_consistent(stats)
    assert stats["work_queued"] == 2
    assert stats["huge_alloced"] == 2
    assert stats["recov_completed"] == 2
    assert stats["remap_faulter"] == 2
    assert _by_op(results, "check")[0]["violations"] == []


def test_no_recovery_when_disabled_or_for_a_private_mapping() -> None:
    off = _run(_fragmented([{"op": "sysctl", "name": "vm.shmem_huge_recoveries", "value": 0}]))
    assert _by_op(off, "stats")[0]["work_queued"] == 0
    assert _by_op(off, "smaps")[0]["ShmemPmdMapped"] == 0
    # a read fault on a private mapping qualifies (no COW yet); only a store would not
    private = _run(_fragmented([], private=True))
    assert _by_op(private, "stats")[0]["work_queued"] == 2


def test_the_queue_limit_refuses_works_beyond_it() -> None:
    results = _run(_fragmented([{"op": "sysctl", "name": "vm.shmem_huge_recoveries", "value": 1}]))
    stats = _by_op(results, "stats")[0]
    assert stats["work_too_many"] > 0
    _assert_consistent(stats)


@pytest.mark.parametrize(("behaviours", "queued"), [([], 2), (["recoveries-negative-disables"], 0)])
def test_a_negative_limit_means_no_limit_unless_the_documented_behaviour_is_chosen(
    behaviours: list[str], queued: int
) -> None:
    sysctl = {"op": "sysctl", "name": "vm.shmem_huge_recoveries", "value": -1}
    results = _run(_fragmented([sysctl], {"behaviours": behaviours}))
    assert _by_op(results, "stats")[0]["work_queued"] == queued


@pytest.mark.parametrize("variant", ["v24", "v29"])
def test_a_head_index_that_is_a_hole_fails_to_recover_unless_fixed(variant: str) -> None:
    """recovery/R27 (Mika Penttilä's observation): a fresh recovery of an extent whose first
    page is a hole always fails at the SGP_TEAM hint; the R27 fix exposes the head first."""
    punch = {
        "op": "fallocate",
        "fd": "f",
        "mode": ["PUNCH_HOLE", "KEEP_SIZE"],
        "offset": 0,
        "len": 4096,
    }
    results = _run(_fragmented([punch], {"variant": variant}, start=4096))
    stats = _by_op(results, "stats")[0]
    assert stats["recov_failed"] >= 1
    assert stats["recov_completed"] == 1
    fixed = _run(
        _fragmented(
            [punch], {"variant": variant, "behaviours": ["R27-expose-empty-head"]}, start=4096
        ),
        check_steps=True,
    )
    stats = _by_op(fixed, "stats")[0]
    assert stats["recov_failed"] == 0
    assert stats["recov_completed"] == 2
    assert stats["page_created"] >= 1
    assert _by_op(fixed, "pread")[0]["sha256"] == _by_op(results, "pread")[0]["sha256"]


def test_stats_answers_the_26_counters() -> None:
    results = run_model(parse_file(str(EXAMPLE)))
    stats = _by_op(results, "stats")[0]
    assert len([k for k in stats if k not in ("i", "op", "ret", "errno")]) == 26
