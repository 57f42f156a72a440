"""hugetmpfs.files: inputs are read only if they are regular files, outputs are written whole
with the mode open() would give; the commands' own tests check the messages they word."""

from __future__ import annotations

import os
import re
import stat
from typing import TYPE_CHECKING

import pytest

from hugetmpfs import files

if TYPE_CHECKING:
    from pathlib import Path


def test_only_a_regular_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"data")
    (tmp_path / "link").symlink_to("f")
    assert files.read_regular(str(tmp_path / "link")) == b"data"
    os.mkfifo(tmp_path / "fifo")  # opened blocking, this would wait for a writer
    for path in (str(tmp_path / "fifo"), "/dev/zero", str(tmp_path)):
        with pytest.raises(
            files.NotRegularFileError, match=f"^{re.escape(path)}: not a regular file$"
        ):
            files.read_regular(path)
    with pytest.raises(FileNotFoundError):
        files.read_regular(str(tmp_path / "missing"))


def test_a_write_has_the_mode_open_gives_and_follows_a_link(tmp_path: Path) -> None:
    old, link, new = tmp_path / "old", tmp_path / "link", tmp_path / "new"
    old.write_text("old")
    old.chmod(0o640)
    link.symlink_to("old")
    umask = os.umask(0o022)
    try:
        files.write_whole(str(new), "new")
        files.write_whole(str(link), b"replaced")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o644
    assert stat.S_IMODE(old.stat().st_mode) == 0o640
    assert link.is_symlink()
    assert (new.read_text(), old.read_text()) == ("new", "replaced")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "new", "old"]


def test_what_is_not_a_regular_file_is_left_alone(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to("fifo")
    (tmp_path / "dir").mkdir()
    for name in ("fifo", "link", "dir"):
        path = str(tmp_path / name)
        with pytest.raises(
            files.NotRegularFileError, match=f"^{re.escape(path)}: not a regular file$"
        ):
            files.existing_regular(path)
        with pytest.raises(
            files.NotRegularFileError, match=f"^{re.escape(path)}: not a regular file$"
        ):
            files.write_whole(path, "x")
    assert stat.S_ISFIFO(os.stat(tmp_path / "fifo").st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "fifo", "link"]
    assert files.existing_regular(str(tmp_path / "missing")) is None


def test_a_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "t"
    target.write_text("before")

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(os, "replace", fail)
        with pytest.raises(OSError, match="No space left"):
            files.write_whole(str(target), "after")
    assert target.read_text() == "before"
    assert [p.name for p in tmp_path.iterdir()] == ["t"]
    files.check_can_create(str(target))
    assert [p.name for p in tmp_path.iterdir()] == ["t"]
    with pytest.raises(FileNotFoundError):
        files.check_can_create(str(tmp_path / "nodir" / "t"))
