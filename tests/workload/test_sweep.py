"""The sweep: a grid of overrides, the same results whatever the number of workers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hugetmpfs.errors import InputError
from hugetmpfs.workload.scenario import builtin_path
from hugetmpfs.workload.sweep import grid, parse_params, run_sweep, table_rows

if TYPE_CHECKING:
    from pathlib import Path


def test_grid_is_every_combination_last_fastest() -> None:
    params = parse_params(("machine.seed=0,1", "machine.variant=v24,v29"))
    assert grid(params) == [
        {"machine.seed": "0", "machine.variant": "v24"},
        {"machine.seed": "0", "machine.variant": "v29"},
        {"machine.seed": "1", "machine.variant": "v24"},
        {"machine.seed": "1", "machine.variant": "v29"},
    ]
    with pytest.raises(InputError, match=r"expected KEY\.PATH=VALUE"):
        parse_params(("machine.seed",))


def test_results_do_not_depend_on_the_workers(tmp_path: Path) -> None:
    params = parse_params(("machine.seed=0,1",))
    path = builtin_path("shrinker-vs-recovery")
    runs = [
        run_sweep(path, params, (), 64, str(tmp_path / f"w{workers}"), workers)
        for workers in (1, 2)
    ]

    def without_host_time(rows: list[dict]) -> list[dict]:
        return [
            {**r, "summary": {k: v for k, v in r["summary"].items() if k != "wall_seconds"}}
            for r in rows
        ]

    assert without_host_time(runs[0]) == without_host_time(runs[1])
    head, body = table_rows(runs[0])
    assert head[:2] == ["run", "seed"]
    assert [cells[1] for cells in body] == ["0", "1"]
    assert (tmp_path / "w2" / "001" / "series.json").exists()


def test_a_parameter_given_twice_is_refused() -> None:
    with pytest.raises(InputError, match=r"^--param machine\.seed: given twice"):
        parse_params(("machine.seed=1", "machine.variant=v24", "machine.seed=2"))
    with pytest.raises(
        InputError, match=r"^--param machine\.\.seed: the same key as machine\.seed"
    ):
        parse_params(("machine.seed=1", "machine..seed=2"))
