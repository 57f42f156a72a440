"""``compare``'s input checks: a series.json is checked whole, and the plot's path before any
work, so that bad input is one precise error and nothing is printed or written."""

from __future__ import annotations

import copy
import io
import json
import os
import stat
from typing import TYPE_CHECKING, Any

import pytest
from rich.console import Console

from hugetmpfs.errors import InputError
from hugetmpfs.workload import compare
from hugetmpfs.workload.compare import check_plot_path, compare_files

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

#: A series.json as ``run`` writes it, cut down to two samples and the plotted columns.
RUN: dict[str, Any] = {
    "meta": {
        "scenario": "tiny",
        "description": "",
        "machine": {"cpus": 2, "ram": 67108864, "variant": "v24", "behaviours": []},
        "mounts": [{"name": "tmp", "huge": "always", "size": 33554432}],
        "sysctls": {},
        "summary": {
            "virtual_ms": 5.0,
            "verified": True,
            "figures": {
                "coverage_pmd_pct_end": 100.0,
                "coverage_recovered_ms": None,
                "pgfault": 4,
                "recovery": {"huge_alloced": 0, "recov_completed": 1},
            },
        },
    },
    "time_ms": [0.0, 5.0],
    "columns": {name: [0, 2048] for name in compare.PLOTTED},
    "events": [[0.0, "start"]],
    "recovery_stats": True,
}


def written(
    tmp_path: Path, name: str, change: Callable[[dict[str, Any]], Any] | None = None
) -> str:
    """RUN, changed by *change*, as the file *name* in *tmp_path*: its path."""
    doc = copy.deepcopy(RUN)
    if change is not None:
        change(doc)
    (tmp_path / name).write_text(json.dumps(doc))
    return str(tmp_path / name)


def run_compare(a: str, b: str, plot: str | None = None) -> str:
    out = io.StringIO()
    compare_files(a, b, Console(file=out, width=140), plot)
    return out.getvalue()


def fails(a: str, b: str, plot: str | None, message: str) -> None:
    """compare refuses with *message* and has printed nothing and written no plot."""
    out = io.StringIO()
    with pytest.raises(InputError) as e:
        compare_files(a, b, Console(file=out, width=140), plot)
    assert str(e.value) == message
    assert out.getvalue() == ""


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def change(doc: dict[str, Any]) -> None:
        for key in parents:
            doc = doc[key]
        if value is _DELETE:
            del doc[last]
        else:
            doc[last] = value

    return change


_DELETE = object()
FIG = "meta.summary.figures"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("meta.machine", [1], "meta.machine is not an object but a list"),
        ("meta.mounts", "ab", "meta.mounts is not a list but a string"),
        ("meta.mounts", 5, "meta.mounts is not a list but a number"),
        ("meta.mounts", [5], "meta.mounts[0] is not an object but a number"),
        ("meta.sysctls", [1], "meta.sysctls is not an object but a list"),
        ("meta.scenario", None, "meta.scenario is not a string but null"),
        ("meta.summary.figures", [1], f"{FIG} is not an object but a list"),
        ("meta.summary.verified", _DELETE, "meta.summary.verified is missing"),
        ("meta.summary.virtual_ms", "5", "meta.summary.virtual_ms is not a number but a string"),
        (f"{FIG}.recovery", [1], f"{FIG}.recovery is not an object but a list"),
        (f"{FIG}.pgfault", "zz", f"{FIG}.pgfault is not a number but a string"),
        (f"{FIG}.recovery.x", "a", f"{FIG}.recovery.x is not a number but a string"),
        ("columns.ShmemPmdMapped", _DELETE, "columns.ShmemPmdMapped is missing (--plot draws it)"),
        ("columns.Shmem", [0], "columns.Shmem has 1 values, time_ms 2"),
        ("columns.Shmem", ["a", "a"], "columns.Shmem[0] is not a number but a string"),
        ("columns.Shmem", None, "columns.Shmem is not a list but null"),
        ("columns.a\nb", [0], 'columns["a\\nb"] has 1 values, time_ms 2'),
        ("time_ms", [0.0], "columns.ShmemPmdMapped has 2 values, time_ms 1"),
        ("time_ms", [0.0, True], "time_ms[1] is not a number but a boolean"),
    ],
)  # fmt: skip
def test_a_field_of_another_type_is_named_by_its_path_before_anything_is_printed(
    tmp_path: Path, path: str, value: Any, message: str
) -> None:
    a = written(tmp_path, "A.json")
    b = written(tmp_path, "B.json", _set(path, value))
    fails(a, b, str(tmp_path / "c.png"), f"{b}: {message}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A.json", "B.json"]


def test_the_columns_the_plot_draws_are_needed_only_for_the_plot(tmp_path: Path) -> None:
    a = written(tmp_path, "A.json")
    b = written(tmp_path, "B.json", _set("columns.SwapFree", _DELETE))
    assert "pmd coverage, end (%)" in run_compare(a, b)
    fails(a, b, str(tmp_path / "c.png"), f"{b}: columns.SwapFree is missing (--plot draws it)")
    assert not (tmp_path / "c.png").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": ' + "9" * 5000 + "}", "an integer of 5000 digits (a run writes at most 20)"),
        ("[" * 100000, "not JSON (nested too deeply)"),
        ('{"a": NaN}', "not JSON (NaN is not a JSON number)"),
        ('{"a": -Infinity}', "not JSON (-Infinity is not a JSON number)"),
        ('{"a": 1e400}', "not JSON (1e400 is out of range)"),
        ("", "empty file"),
        ("\xff", "not JSON (invalid UTF-8 at byte 0)"),
        ("[]", "not the series.json of a hugetmpfs run"),
    ],
)
def test_json_python_cannot_hold_is_one_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "B.json").write_bytes(text.encode("latin-1"))
    b = str(tmp_path / "B.json")
    fails(written(tmp_path, "A.json"), b, None, f"{b}: {message}")


def test_a_fifo_or_a_device_is_refused_unread(tmp_path: Path) -> None:
    a = written(tmp_path, "A.json")
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)  # opened blocking, this would wait for a writer forever
    fails(fifo, a, None, f"{fifo}: not a regular file")
    fails(a, "/dev/zero", None, "/dev/zero: not a regular file")


@pytest.mark.parametrize(
    ("plot", "message"),
    [
        ("", "--plot: the file name is empty"),
        ("x.txt", "--plot x.txt: format 'txt' is not supported (write .png, .svg or .pdf)"),
        ("x", "--plot x: no extension (write .png, .svg or .pdf)"),
        ("nodir/x.png", "--plot nodir/x.png: nodir is not a directory"),
        ("fifo.png", "--plot fifo.png: exists and is not a regular file"),
    ],
)
def test_the_plot_path_is_checked_before_the_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plot: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    os.mkfifo("fifo.png")
    a = written(tmp_path, "A.json")
    with pytest.raises(InputError) as e:
        check_plot_path(plot)
    assert str(e.value) == message
    fails(a, a, plot, message)
    assert sorted(os.listdir()) == ["A.json", "fifo.png"]


def test_a_directory_the_plot_cannot_be_written_in_is_one_error(tmp_path: Path) -> None:
    a = written(tmp_path, "A.json")
    fails(
        a, a, "/proc/x.png", "--plot /proc/x.png: cannot write in /proc (No such file or directory)"
    )


def test_the_plot_is_written_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = written(tmp_path, "A.json")
    plot = tmp_path / "c.svg"
    assert run_compare(a, a, str(plot)).endswith(f"plot: {plot}\n")
    assert plot.read_text().lstrip().startswith("<?xml")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(plot.stat().st_mode) == 0o666 & ~umask
    plot.write_text("the plot before")

    def half_then_fail(*args: Any) -> None:
        args[3].write(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(compare, "plot_compare", half_then_fail)
    out = io.StringIO()
    with pytest.raises(OSError, match="No space left"):
        compare_files(a, a, Console(file=out), str(plot))
    assert out.getvalue() == ""
    assert plot.read_text() == "the plot before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A.json", "c.svg"]


def test_file_names_and_settings_are_shown_as_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x[").mkdir()
    written(tmp_path, "x[/b].json", _set("meta.sysctls", {"vm.x": "[/red]"}))
    written(tmp_path, "B$x$.json")
    out = run_compare("x[/b].json", "B$x$.json", "c$\\frac$.png")  # mathtext would refuse it
    assert "A: x[/b].json" in out  # rich would refuse it as markup
    assert "[/red]" in out
    assert (tmp_path / "c$\\frac$.png").read_bytes().startswith(b"\x89PNG")
