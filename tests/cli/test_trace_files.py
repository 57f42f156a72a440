"""The files ``replay``, ``diff`` and ``stats`` read and write, as a user names them: inputs
must be regular files, ``replay --out`` is checked before the run and replaces only a regular
file that is not the trace, with the mode a plain ``open()`` would give it."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

import pytest
from test_cli import RESULTS, TRACE, bad_input, hugetmpfs, write_jsonl

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def files(tmp_path: Path) -> Path:
    write_jsonl(tmp_path / "t.jsonl", TRACE)
    write_jsonl(tmp_path / "a.jsonl", RESULTS)
    return tmp_path


def listing(path: Path) -> set[str]:
    return {p.name for p in path.iterdir()}


# -- inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["replay", "fifo"],
        ["replay", "--kernel", "fifo"],
        ["stats", "fifo"],
        ["diff", "fifo", "a.jsonl", "a.jsonl"],
        ["diff", "t.jsonl", "fifo", "a.jsonl"],
        ["diff", "t.jsonl", "a.jsonl", "fifo"],
    ],
)
def test_a_fifo_is_refused_without_blocking_on_it(files: Path, args: list[str]) -> None:
    os.mkfifo(files / "fifo")
    bad_input(hugetmpfs(files, *args), "hugetmpfs: fifo: not a regular file")


def test_a_device_trace_is_refused_without_reading_it(tmp_path: Path) -> None:
    bad_input(
        hugetmpfs(tmp_path, "replay", "/dev/zero"), "hugetmpfs: /dev/zero: not a regular file"
    )


def test_a_symlink_to_a_trace_is_read(files: Path) -> None:
    (files / "link.jsonl").symlink_to("t.jsonl")
    assert hugetmpfs(files, "replay", "link.jsonl").returncode == 0


def test_a_byte_order_mark_is_named(files: Path) -> None:
    (files / "bom.jsonl").write_bytes(b'\xef\xbb\xbf{"op": "mount", "huge": "never"}\n')
    bad_input(
        hugetmpfs(files, "replay", "bom.jsonl"),
        "bom.jsonl:1: a UTF-8 byte-order mark; save the file without it",
    )
    (files / "b.jsonl").write_bytes(b"\xef\xbb\xbf" + (files / "a.jsonl").read_bytes())
    bad_input(
        hugetmpfs(files, "diff", "t.jsonl", "a.jsonl", "b.jsonl"),
        "b.jsonl:1: a UTF-8 byte-order mark; save the file without it",
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            {**RESULTS[2], "i": 7},
            "b.jsonl:3: result field 'i' is 7, but this is result 2 "
            "(results are numbered from 0, one per op)",
        ),
        (
            {**RESULTS[2], "sha256": [1]},
            "b.jsonl:3: result field 'sha256' must be a string, not [1]",
        ),
        (
            {"i": 2, "op": "fstat", "ret": 0, "errno": None, "size": "4096", "blocks": 8},
            "b.jsonl:3: result field 'size' must be an integer, not \"4096\"",
        ),
        (
            {"i": 2, "op": "touch", "ret": -1, "errno": "SIGBUS", "done": True},
            "b.jsonl:3: result field 'done' must be an integer, not true",
        ),
    ],
)
def test_a_mistyped_result_field_is_named(
    files: Path, line: dict[str, object], message: str
) -> None:
    write_jsonl(files / "b.jsonl", [*RESULTS[:2], line])
    bad_input(hugetmpfs(files, "diff", "t.jsonl", "a.jsonl", "b.jsonl"), message)


# -- replay --out -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("out", "reason"),
    [
        ("nodir/r.jsonl", "cannot create: No such file or directory"),
        ("", "cannot create: No such file or directory"),
        ("/proc/r.jsonl", "cannot create: No such file or directory"),
        ("t.jsonl/r.jsonl", "cannot create: Not a directory"),
        ("newdir/", "cannot create: Is a directory"),
    ],
)
@pytest.mark.parametrize("kernel", [[], ["--kernel"]])
def test_an_out_that_cannot_be_created_is_refused_before_the_run(
    files: Path, out: str, reason: str, kernel: list[str]
) -> None:
    # With --kernel the run would need root and a mount: the --out check comes first.
    before = listing(files)
    shown = out or "''"
    bad_input(
        hugetmpfs(files, "replay", *kernel, "t.jsonl", "--out", out),
        f"hugetmpfs: --out {shown}: {reason}",
    )
    assert listing(files) == before


@pytest.mark.parametrize("name", ["fifo", "link-to-fifo"])
def test_an_out_that_is_not_a_regular_file_is_left_alone(files: Path, name: str) -> None:
    os.mkfifo(files / "fifo")
    (files / "link-to-fifo").symlink_to("fifo")
    before = listing(files)
    bad_input(
        hugetmpfs(files, "replay", "t.jsonl", "--out", name),
        f"hugetmpfs: --out {name}: not a regular file",
    )
    assert listing(files) == before
    assert stat.S_ISFIFO(os.stat(files / "fifo").st_mode)
    assert (files / "link-to-fifo").is_symlink()


@pytest.mark.parametrize("name", ["t.jsonl", "./t.jsonl", "hardlink", "symlink"])
def test_an_out_that_is_the_trace_is_refused(files: Path, name: str) -> None:
    os.link(files / "t.jsonl", files / "hardlink")
    (files / "symlink").symlink_to("t.jsonl")
    trace = (files / "t.jsonl").read_bytes()
    bad_input(
        hugetmpfs(files, "replay", "t.jsonl", "--out", name),
        f"hugetmpfs: --out {name}: is the trace t.jsonl itself",
    )
    assert (files / "t.jsonl").read_bytes() == trace


def test_out_has_the_mode_open_gives(files: Path) -> None:
    (files / "old.jsonl").write_text("old\n")
    os.chmod(files / "old.jsonl", 0o640)
    (files / "link.jsonl").symlink_to("old.jsonl")
    umask = os.umask(0o022)
    try:
        assert hugetmpfs(files, "replay", "t.jsonl", "--out", "new.jsonl").returncode == 0
        assert hugetmpfs(files, "replay", "t.jsonl", "--out", "link.jsonl").returncode == 0
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(files / "new.jsonl").st_mode) == 0o644
    # A replaced file keeps its mode, and a symlink keeps pointing at it.
    assert stat.S_IMODE(os.stat(files / "old.jsonl").st_mode) == 0o640
    assert (files / "link.jsonl").is_symlink()
    assert (files / "old.jsonl").read_text() == (files / "new.jsonl").read_text() != "old\n"
    assert not [n for n in listing(files) if n.startswith(".hugetmpfs-")]
