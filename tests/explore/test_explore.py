"""The explorer: strategies find what they should, findings replay exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import hugetmpfs.explore.scenarios  # noqa: F401  (registers the built-in scenarios)
from hugetmpfs.explore import REGISTRY, ExploreOptions, explore
from hugetmpfs.explore.findings import (
    FORMAT,
    load_finding,
    replay_options,
    save_finding,
    schedule_of,
)
from hugetmpfs.explore.runner import replay
from hugetmpfs.sim.strategy.pct import PCTStrategy
from hugetmpfs.testing import assert_explore_finds, assert_explores_clean

LOCK_ORDER = REGISTRY["demo-lock-order"]
TRYLOCK = REGISTRY["demo-trylock"]


def test_every_strategy_finds_the_deadlock_and_it_replays() -> None:
    for strategy in ("random", "pct", "dfs"):
        result = assert_explore_finds(LOCK_ORDER, "deadlock", strategy=strategy, schedules=500)
        assert result.found is not None
        assert result.found.finding is not None
        assert result.found.finding.schedule.preemptions() >= 1


def test_dfs_is_exhaustive_within_its_bound() -> None:
    result = assert_explores_clean(TRYLOCK, strategy="dfs", bound=2, schedules=10_000)
    assert result.exhausted
    bigger = explore(TRYLOCK, ExploreOptions(strategy="dfs", bound=3, schedules=10_000))
    assert bigger.exhausted
    assert bigger.executions >= result.executions


def test_exploration_is_deterministic() -> None:
    runs = [explore(LOCK_ORDER, ExploreOptions("pct", 500, seed=3)) for _ in range(3)]
    assert len({(r.found_at, r.steps) for r in runs}) == 1


def test_find_save_replay_round_trip(tmp_path: Path) -> None:
    result = explore(LOCK_ORDER, ExploreOptions("random", 500, seed=1))
    path = save_finding(result, str(tmp_path))
    data = load_finding(path)
    assert data["scenario"] == "demo-lock-order"
    run = replay(LOCK_ORDER, schedule_of(data).decisions, result.options)
    assert run.finding is not None
    assert list(run.finding.signature()) == data["finding"]["signature"]


FINDINGS = Path(__file__).parent.parent.parent / "docs" / "findings"
FIXED_SINCE = {  # docs/findings/README.md
    "putback-vs-disband-alloced-lag.json",  # a false report: the checker was mended
    "recovery-vs-eviction-r27-fix-head-beyond-eof.json",  # the R27 fix's undo
}


def test_the_documented_findings_replay_in_their_own_format() -> None:
    """docs/findings keeps schedules of format 1, recorded while kswapd started runnable:
    they replay as recorded (kswapd started that way), strictly; a new file is format 2."""
    files = sorted(FINDINGS.glob("*.json"))
    assert files
    for path in files:
        data = load_finding(str(path))
        sc = REGISTRY[data["scenario"]]
        opts = replay_options(data)
        assert opts.kswapd_asleep == (data["format"] >= 2)
        run = replay(sc, schedule_of(data).decisions, opts)
        got = list(run.finding.signature()) if run.finding is not None else None
        if path.name in FIXED_SINCE:  # the model or the checker was mended since
            assert got is None, path.name
        else:
            assert got == data["finding"]["signature"], path.name
    assert FORMAT == 2


def test_cli_explore_and_replay(tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hugetmpfs", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )

    found = cli("explore", "demo-lock-order", "--strategy", "pct", "--json")
    assert found.returncode == 1, found.stderr
    summary = json.loads(found.stdout)
    assert summary["found"] is True
    again = cli("explore", "--replay", summary["schedule_file"])
    assert again.returncode == 1
    assert "reproduced" in again.stdout
    assert cli("explore", "demo-trylock", "--strategy", "dfs").returncode == 0
    bad = cli("explore", "no-such-scenario")
    assert bad.returncode == 2
    assert "unknown scenario" in bad.stderr
    assert cli("explore", "demo-trylock", "--disable-guard", "base/R0").returncode == 2


def test_pct_bound_is_reported() -> None:
    pct = PCTStrategy(depth=2)
    pct.new_execution()
    assert 0 < pct.bound(actors=2) <= 1


def test_shrinking_keeps_the_finding_and_makes_it_smaller() -> None:
    sc = REGISTRY["demo-lock-order-noisy"]
    raw = explore(sc, ExploreOptions("random", 500, seed=2, shrink=False))
    small = explore(sc, ExploreOptions("random", 500, seed=2))
    assert raw.found is not None
    assert small.found is not None
    f_raw, f_small = raw.found.finding, small.found.finding
    assert f_raw is not None
    assert f_small is not None
    assert f_small.signature() == f_raw.signature()
    key = (f_small.schedule.preemptions(), f_small.step)
    assert key <= (f_raw.schedule.preemptions(), f_raw.step)
    # A deadlock is declared once the bystander has finished too, so steps barely move;
    # the preemptions are what shrinking removes (one is needed: A must stop between locks).
    assert f_raw.schedule.preemptions() > 2
    assert f_small.schedule.preemptions() <= 2
    again = replay(sc, f_small.schedule.decisions, small.options)  # strict replay
    assert again.finding is not None
    assert again.finding.signature() == f_small.signature()


def test_workers_give_the_serial_result() -> None:
    sc = REGISTRY["demo-lock-order-noisy"]
    for strategy in ("random", "pct"):
        serial = explore(sc, ExploreOptions(strategy, 300, seed=11))
        parallel = explore(sc, ExploreOptions(strategy, 300, seed=11), workers=2)
        assert parallel.found_at == serial.found_at
        assert parallel.steps == serial.steps
        assert parallel.executions == serial.executions
        assert parallel.found is not None
        assert serial.found is not None
        assert parallel.found.finding is not None
        assert serial.found.finding is not None
        assert parallel.found.finding.schedule.to_json() == serial.found.finding.schedule.to_json()


def test_a_finding_comes_with_a_chrome_trace(tmp_path: Path) -> None:
    result = explore(LOCK_ORDER, ExploreOptions("pct", 500, seed=0))
    path = save_finding(result, str(tmp_path))
    trace = json.loads(
        (tmp_path / path.rsplit("/", 1)[1].replace(".json", ".trace.json")).read_text()
    )
    names = {e["args"]["name"] for e in trace["traceEvents"] if e["ph"] == "M"}
    assert {"task A (cpu0)", "task B (cpu1)"} <= names
    assert any(e["ph"] == "X" for e in trace["traceEvents"])


def test_self_test_rows_follow_the_json_contract() -> None:
    from hugetmpfs.explore.selftest import self_test_one

    base = ExploreOptions("dfs", 2000, bound=2)
    keys = {
        "scenario",
        "guard",
        "guard_off_found",
        "guard_on_found",
        "schedules_to_first",
        "seconds",
    }
    deadlock = self_test_one(LOCK_ORDER, base)
    assert set(deadlock) == keys
    assert deadlock["guard"] is None
    assert deadlock["guard_off_found"] is None
    assert deadlock["guard_on_found"] is True
    assert isinstance(deadlock["schedules_to_first"], int)
    clean = self_test_one(TRYLOCK, base)
    assert clean["guard_on_found"] is False
    assert clean["schedules_to_first"] is None
    assert isinstance(clean["seconds"], float)


def test_coverage_names_the_orders_tried() -> None:
    result = explore(TRYLOCK, ExploreOptions("dfs", 10_000, bound=2))
    rows = {row["point"]: row for row in result.coverage.table()}
    page_lock = rows["lock:page_lock"]
    assert ["task A", "task B"] in page_lock["both_orders"]


def _explore_cli(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "hugetmpfs", "explore", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout


def test_pct_reports_its_bound_next_to_what_it_observed(tmp_path: Path) -> None:
    pct_run = ("demo-lock-order", "--strategy", "pct", "--schedules", "200")
    out = json.loads(_explore_cli(tmp_path, *pct_run, "--json"))
    pct = out["pct"]
    assert pct["depth"] == 2
    assert pct["actors"] >= 2
    assert pct["bound"] == 1 / (pct["actors"] * pct["k"] ** (pct["depth"] - 1))
    assert pct["expected_executions"] == round(1 / pct["bound"])
    text = _explore_cli(tmp_path, *pct_run)
    assert "1/(n·k^(d−1))" in text
    assert f"found at execution {out['executions']}" in text
    dfs = _explore_cli(tmp_path, "demo-trylock", "--strategy", "dfs", "--schedules", "20", "--json")
    assert json.loads(dfs)["pct"] is None


def test_the_report_says_what_shrinking_took_away() -> None:
    from hugetmpfs.explore.findings import report

    noisy = REGISTRY["demo-lock-order-noisy"]
    result = explore(noisy, ExploreOptions("random", 1000, seed=0))
    assert result.found is not None
    assert result.found.finding is not None
    before = result.shrunk_from_preemptions
    assert before is not None
    assert before > result.found.finding.schedule.preemptions()
    text = report(result, None)
    assert f"shrunk   from {before} preemptions and {result.shrunk_from} steps" in text
    unshrunk = explore(noisy, ExploreOptions("random", 1000, seed=0, shrink=False))
    assert unshrunk.shrunk_from is None
    assert "shrunk" not in report(unshrunk, None)


def test_pct_bound_of_any_depth_is_exact() -> None:
    from hugetmpfs.explore.findings import report
    from hugetmpfs.explore.runner import pct_bound

    result = explore(TRYLOCK, ExploreOptions("pct", 3, seed=0, depth=64))
    b = pct_bound(result)
    assert b is not None
    assert b["expected_executions"] == b["actors"] * b["k"] ** 63
    assert 0 < b["bound"] < 1e-100
    assert "(1 in 2.77e+145)" in report(result, None)
