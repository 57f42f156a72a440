"""The files the trace commands read and write: traces, stored results, ``replay --out``.

Inputs must be regular files: a FIFO would block forever and a device like ``/dev/zero`` would
be read until memory runs out.  An output is checked before anything runs, and is replaced only
when it is a regular file that is not one of the inputs: never a device, a FIFO or the trace.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat

from hugetmpfs.errors import InputError, TraceError

#: A UTF-8 byte-order mark: JSON text must not start with one (RFC 8259 §8.1).
BOM = b"\xef\xbb\xbf"
BOM_REASON = "a UTF-8 byte-order mark; save the file without it"


def read_regular(path: str, what: str) -> bytes:
    """The bytes of the regular file *path*; *what* names it in errors ("trace", "results").

    A file that cannot be opened is a :class:`TraceError` for the file as a whole; one that is
    not a regular file is an :class:`InputError`, found without reading or blocking on it.
    """
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise TraceError(path, 0, f"cannot read {what}: {e.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(f"{path}: not a regular file")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    except OSError as e:
        raise TraceError(path, 0, f"cannot read {what}: {e.strerror}") from None
    finally:
        os.close(fd)


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
        self.directory = os.path.dirname(self.path)
        existing = self._stat()
        if existing is not None:
            if not stat.S_ISREG(existing.st_mode):
                raise InputError(f"{self.shown}: not a regular file")
            for name, input_path in inputs.items():
                try:
                    other = os.stat(input_path)
                except OSError:
                    continue
                if (other.st_dev, other.st_ino) == (existing.st_dev, existing.st_ino):
                    raise InputError(f"{self.shown}: is the {name} {input_path} itself")
        # Create (and remove) a file beside it now, rather than find out after the run.
        fd, tmp = self._create_temp()
        os.close(fd)
        os.unlink(tmp)

    def write(self, text: str) -> None:
        """Replace the file with *text* atomically: a temporary file beside it, renamed over it.

        A new file gets the mode ``open()`` would give it (0666 less the umask); a file that
        is replaced keeps its permission bits.
        """
        existing = self._stat()
        if existing is not None and not stat.S_ISREG(existing.st_mode):
            raise InputError(f"{self.shown}: not a regular file")
        fd, tmp = self._create_temp()
        try:
            try:
                if existing is not None:
                    os.fchmod(fd, stat.S_IMODE(existing.st_mode))
                with os.fdopen(fd, "w", closefd=False) as f:
                    f.write(text)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as e:
            _unlink_quietly(tmp)
            raise self._error("cannot write", e.errno) from None
        except BaseException:
            _unlink_quietly(tmp)
            raise

    def _stat(self) -> os.stat_result | None:
        try:
            return os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise self._error("cannot create", e.errno) from None

    def _create_temp(self) -> tuple[int, str]:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        for _ in range(100):
            tmp = os.path.join(self.directory, f".hugetmpfs-{secrets.token_hex(4)}")
            try:
                return os.open(tmp, flags, 0o666), tmp  # the umask applies, as for open()
            except FileExistsError:
                continue
            except OSError as e:
                raise self._error("cannot create", e.errno) from None
        raise self._error("cannot create", errno.EEXIST)

    def _error(self, what: str, code: int | None) -> InputError:
        reason = os.strerror(code) if code is not None else "unknown error"
        return InputError(f"{self.shown}: {what}: {reason}")


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
