"""A schedule file is checked field by field before anything runs, and a schedule the run
departs from is refused: a precise one-line error and exit status 2, never a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import hugetmpfs.explore.scenarios  # noqa: F401  (registers the built-in scenarios)
from hugetmpfs.errors import InputError
from hugetmpfs.explore import REGISTRY, ExploreOptions, explore
from hugetmpfs.explore.cli_support import replay_file
from hugetmpfs.explore.findings import save_finding

if TYPE_CHECKING:
    from collections.abc import Callable


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = explore(REGISTRY["demo-lock-order"], ExploreOptions("random", 500, seed=1))
    path = save_finding(result, str(tmp_path_factory.mktemp("findings")))
    return json.loads(Path(path).read_text())


def _set(*keys: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *inner, last = keys
        for key in inner:
            data = data[key]
        data[last] = value

    return change


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda data: data.pop(key)


def _first_point(data: dict[str, Any]) -> None:
    data["schedule"][0][3] = "lock:nothing"


def _first_value(data: dict[str, Any]) -> None:
    data["schedule"][0][1] = 99


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_drop("scenario"), "no 'scenario' field"),
        (_drop("finding"), "no 'finding' field"),
        (_set("variant", value="v99"), "'variant' is 'v99', not one of v24, v29"),
        (_set("strategy", value="bfs"), "'strategy' is 'bfs', not one of random, pct, dfs"),
        (_set("seed", value=-1), "'seed' is -1, not an integer >= 0"),
        (_set("seed", value=True), "'seed' is True, not an integer >= 0"),
        (_set("guards_off", value=["base/R99"]), "'guards_off' names 'base/R99'"),
        (_set("guards_off", value=[["x"]]), "'guards_off' names ['x']"),
        (_set("format", value=True), "not a schedule file of format 1 or 2"),
        (_set("format", value=2.0), "not a schedule file of format 1 or 2"),
        (_set("scenario", value="nosuch"), "a schedule of scenario 'nosuch', which this model"),
        (_set("finding", "step", value="7"), "'finding' has 'step' '7', not an integer"),
        (_set("schedule", 0, value=["x"]), 'schedule entry 0 (["x"]): not [kind'),
        (_set("schedule", 0, 0, value=7), "kind 7 is neither 0 (pick an actor) nor 1"),
        (_set("schedule", 0, 2, value=[1, "2"]), "options [1, '2'] is not a list of integers"),
        (_first_point, "schedule has 'lock:nothing', the run is at"),
        (_first_value, "actor 99 is not runnable"),
        (_set("schedule", 0, 0, value=1), "schedule has a data choice at"),
    ],
)
def test_a_bad_schedule_file_is_named_with_its_reason(
    recorded: dict[str, Any],
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    data = json.loads(json.dumps(recorded))
    change(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError) as e:
        replay_file(str(path), as_json=False)
    assert str(e.value).startswith(f"{path}: ")
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_the_recorded_file_itself_replays(
    recorded: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "good.json"
    path.write_text(json.dumps(recorded))
    assert replay_file(str(path), as_json=True) == 1
    assert json.loads(capsys.readouterr().out)["reproduced"] is True


def test_a_schedule_file_that_is_not_a_regular_file_or_nested_too_deep(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"fifo\.json: not a regular file"):
        replay_file(str(fifo), as_json=False)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    with pytest.raises(InputError, match=r"deep\.json: cannot read the schedule file: nested"):
        replay_file(str(deep), as_json=False)


def test_a_finding_is_saved_whole_or_not_at_all(tmp_path: Path) -> None:
    from hugetmpfs.explore.findings import findings_dir_usable

    result = explore(REGISTRY["demo-lock-order"], ExploreOptions("random", 500, seed=1))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError, match="not a directory"):
        findings_dir_usable(str(blocker))
    with pytest.raises(InputError, match="not a directory"):
        save_finding(result, str(blocker))
    # the trace's name taken by a directory: the schedule file is not left without it
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "demo-lock-order-001.trace.json").mkdir()
    with pytest.raises(InputError, match="cannot write the finding"):
        save_finding(result, str(tmp_path / "f"))
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["demo-lock-order-001.trace.json"]
