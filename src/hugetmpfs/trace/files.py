"""The files the trace commands read and write: traces, stored results, ``replay --out``.

Inputs must be regular files (:func:`hugetmpfs.files.read_regular`).  An output is checked
before anything runs, and is replaced only when it is a regular file that is not one of the
inputs: never a device, a FIFO or the trace.
"""

from __future__ import annotations

import contextlib
import errno
import os
from typing import TYPE_CHECKING

from hugetmpfs.errors import InputError, TraceError
from hugetmpfs.files import (
    NotRegularFileError,
    check_can_create,
    existing_regular,
    read_regular,
    write_whole,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

#: A UTF-8 byte-order mark: JSON text must not start with one (RFC 8259 §8.1).
BOM = b"\xef\xbb\xbf"
BOM_REASON = "a UTF-8 byte-order mark; save the file without it"


def read_input(path: str, what: str) -> bytes:
    """The bytes of the regular file *path*; *what* names it in errors ("trace", "results").

    A file that cannot be read is a :class:`TraceError` for the file as a whole; one that is
    not a regular file is an :class:`InputError`, found without reading or blocking on it.
    """
    try:
        return read_regular(path)
    except OSError as e:
        raise TraceError(path, 0, f"cannot read {what}: {e.strerror}") from None


class Output:
    """A result file given on the command line (*option* names it), checked before the run.

    The path must be a regular file or not exist, its directory must let a file be created,
    and it must not be any of *inputs* (the same file by another name included).  A symbolic
    link is followed: the file it points to is replaced, the link is kept.
    """

    def __init__(self, path: str, option: str, inputs: dict[str, str]) -> None:
        self.shown = f"{option} {path}" if path else f"{option} ''"
        if not path:
            raise self._error("cannot create", errno.ENOENT)
        if path.endswith("/"):
            raise self._error("cannot create", errno.EISDIR)
        self.path = os.path.realpath(path)
        with self._reported("cannot create"):
            existing = existing_regular(self.path)
        if existing is not None:
            for name, input_path in inputs.items():
                try:
                    other = os.stat(input_path)
                except OSError:
                    continue
                if (other.st_dev, other.st_ino) == (existing.st_dev, existing.st_ino):
                    raise InputError(f"{self.shown}: is the {name} {input_path} itself")
        with self._reported("cannot create"):
            check_can_create(self.path)  # now, rather than find out after the run

    def write(self, text: str) -> None:
        """Replace the file with *text*, whole or not at all (:func:`write_whole`)."""
        with self._reported("cannot write"):
            write_whole(self.path, text)

    @contextlib.contextmanager
    def _reported(self, what: str) -> Iterator[None]:
        """The errors of the file operations in the block, as one line naming the option."""
        try:
            yield
        except NotRegularFileError:
            raise InputError(f"{self.shown}: not a regular file") from None
        except OSError as e:
            raise self._error(what, e.errno) from None

    def _error(self, what: str, code: int | None) -> InputError:
        reason = os.strerror(code) if code is not None else "unknown error"
        return InputError(f"{self.shown}: {what}: {reason}")
