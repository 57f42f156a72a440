"""Files a user names: read an input only if it is a regular file, write an output whole.

A command line can name anything: a FIFO (reading would wait for a writer forever), a device
such as ``/dev/zero`` (read until memory runs out), a directory.  And a run can fail, or be
stopped, halfway through writing its output.  So the commands read the files they are given
with :func:`read_regular` and replace an output file with :func:`write_whole` (``run`` and
``sweep`` write whole directories instead: workload/report.py).  These raise
:class:`NotRegularFileError` for a path that is not a regular file and let an ``OSError``
through otherwise, so that each caller words it for what it reads or writes (a trace,
``--plot``, a schedule file).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat

from hugetmpfs.errors import InputError


class NotRegularFileError(InputError):
    """*path* names a FIFO, a device, a directory...: it is neither read nor replaced."""

    def __init__(self, path: str) -> None:
        super().__init__(f"{path}: not a regular file")
        self.path = path


def read_regular(path: str) -> bytes:
    """The bytes of the regular file *path* (a symbolic link is followed).

    Anything else is refused unread: the file is opened with ``O_NONBLOCK`` (a FIFO opens at
    once instead of waiting for a writer), then the open file itself is checked, so what is
    checked is what would be read, even if the path changes meanwhile.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFileError(path)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def existing_regular(path: str) -> os.stat_result | None:
    """The status of the file *path* names (a symbolic link followed), None if there is none.

    An output may replace a regular file only: replacing a FIFO or a device would quietly
    swap it for a file, and a directory cannot be replaced by one.
    """
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(status.st_mode):
        raise NotRegularFileError(path)
    return status


def check_can_create(path: str) -> None:
    """Create and remove a file beside *path*: find out now, not after a long run, that
    its directory is missing or read-only (an ``OSError``)."""
    fd, tmp = _create_beside(os.path.realpath(path))
    os.close(fd)
    os.unlink(tmp)


def write_whole(path: str, data: bytes | str) -> None:
    """Replace the file *path* with *data* (text as UTF-8), whole or not at all.

    *data* goes to a new file beside it, renamed over it once written: a reader never sees
    half of it, and a failure leaves *path* as it was and no temporary file behind.
    Otherwise it is what ``open(path, "w")`` would do: a symbolic link is followed (the file
    it points to is replaced, the link kept), a new file gets mode 0666 less the umask and a
    replaced one keeps its permission bits, and a path that exists and is not a regular file
    is refused (:func:`existing_regular`).
    """
    target = os.path.realpath(path)
    try:
        old = existing_regular(target)
    except NotRegularFileError:
        raise NotRegularFileError(path) from None
    fd, tmp = _create_beside(target)
    try:
        try:
            if old is not None:
                os.fchmod(fd, stat.S_IMODE(old.st_mode))
            with os.fdopen(fd, "wb", closefd=False) as f:
                f.write(data.encode() if isinstance(data, str) else data)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _create_beside(target: str) -> tuple[int, str]:
    """A new file in *target*'s directory, and its name (hidden, random, never an old one)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    directory = os.path.dirname(target)
    for _ in range(100):
        tmp = os.path.join(directory, f".hugetmpfs-{secrets.token_hex(4)}")
        try:
            # Mode 0666: the umask applies, as it does for open(); mkstemp would give 0600.
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), directory)
