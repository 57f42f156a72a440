"""The kernel runner's executor: one trace's ops on a real tmpfs (DESIGN.md §3.3–3.4).

Runs only in the executor child that ``kernel_runner`` forks: :func:`mount_private_tmpfs`
moves that child into its own mount namespace first, so the mount disappears with the child
however it dies.  Each op is one Linux syscall (or, for large reads and writes, a sequence with
the same result as one call); every errno, and which check wins, is the kernel's.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from typing import TYPE_CHECKING, TypeAlias

from hugetmpfs.errors import KernelRunnerError
from hugetmpfs.trace import _syscalls as sc
from hugetmpfs.trace._kernel_maps import Maps, meminfo
from hugetmpfs.trace.ops import INT64_MAX, MiB
from hugetmpfs.trace.results import Result, failed, ok
from hugetmpfs.trace.syscall_names import ERRNO_NAMES, FALLOC_MODES, OPEN_FLAGS, WHENCE

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.trace.parse import Op, Trace

    #: One syscall moving bytes: (fd, buffer address, count, offset) -> bytes moved.
    IoCall: TypeAlias = Callable[[int, int, int, int], int]

#: Large reads and writes move at most this much per syscall (a 1 GiB op needs no 1 GiB buffer).
CHUNK = 64 * MiB


def mount_private_tmpfs(target: str, huge: str, size: int) -> None:
    """Mount a fresh tmpfs on *target*, visible only in a new mount namespace of this process."""
    options = f"huge={huge},size={size}"
    try:
        sc.unshare(sc.CLONE_NEWNS)
        # Without this, a shared "/" would propagate the mount back to the host namespace.
        sc.mount("none", "/", None, sc.MS_REC | sc.MS_PRIVATE, None)
        sc.mount("tmpfs", target, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV, options)
    except OSError as e:
        raise KernelRunnerError(f"cannot mount tmpfs ({options}) on {target}: {e.strerror}") from e


def execute(trace: Trace, mount_dir: str, send: Callable[[Result], None]) -> None:
    """Mount the trace's tmpfs on *mount_dir* and send one result per op, in order."""
    mount_private_tmpfs(mount_dir, trace.huge, trace.size)
    os.umask(0)  # open's mode is exactly 0600
    executor = Executor(mount_dir, trace.huge)
    for op in trace.ops:
        send(executor.run(op))


def _errno_name(e: OSError) -> str:
    return ERRNO_NAMES.get(e.errno or 0, f"E{e.errno}")


class _Buffers:
    """Reusable I/O buffers: a fill pattern for pwrite and a landing area for pread."""

    def __init__(self) -> None:
        self.fill_byte = -1
        self.fill = bytearray()
        self.read = bytearray()

    @staticmethod
    def address(buf: bytearray) -> int:
        return ctypes.addressof((ctypes.c_char * max(len(buf), 1)).from_buffer(buf))

    def filled(self, byte: int, n: int) -> bytearray:
        """At least *n* bytes of *byte*, and never empty: a zero count still needs an address."""
        if byte != self.fill_byte or len(self.fill) < max(n, 1):
            self.fill = bytearray((byte,)) * max(n, 1)
            self.fill_byte = byte
        return self.fill

    def landing(self, n: int) -> bytearray:
        """At least *n* bytes to read into, and never empty (as for :meth:`filled`)."""
        if len(self.read) < max(n, 1):
            self.read = bytearray(max(n, 1))
        return self.read


def _overflow_call(call: IoCall, fd: int, count: int, offset: int) -> int:
    """One call with the full count, on a buffer the kernel cannot touch.

    Used when offset + count overflows loff_t: the kernel rejects that (rw_verify_area)
    before it looks at the buffer, and a chunked sequence would not notice the overflow.
    """
    flags = sc.MAP_PRIVATE | sc.MAP_ANONYMOUS | sc.MAP_NORESERVE
    reserve = sc.mmap(count, sc.PROT_NONE, flags, -1, 0)
    try:
        return call(fd, reserve, count, offset)
    finally:
        sc.munmap(reserve, count)


def chunked_io(call: IoCall, fd: int, offset: int, total: int, buffer: Callable[[int], int]) -> int:
    """Move *total* bytes with the result of one pread/pwrite: the bytes moved, or the error.

    *buffer(n)* gives the address for the next *n* bytes.  Like a single call, the sequence
    stops at the first short transfer, and an error after some bytes were moved returns the
    count so far.  At least one call is made, so a zero count still checks the descriptor.
    """
    if offset >= 0 and offset + total > INT64_MAX:
        return _overflow_call(call, fd, total, offset)
    done = 0
    while True:
        n = min(CHUNK, total - done)
        try:
            moved = call(fd, buffer(n), n, offset + done)
        except OSError:
            if done:
                return done
            raise
        done += moved
        if moved < n or done == total:
            return done


class Executor:
    """Runs ops on the mounted tmpfs; file handles are real descriptors, -1 once dead."""

    def __init__(self, mount_dir: str, huge: str) -> None:
        self.mount_dir = mount_dir
        self.dir_fd = os.open(mount_dir, os.O_RDONLY | os.O_DIRECTORY)
        self.fds: dict[str, int] = {}
        self.maps = Maps(huge)
        self.buffers = _Buffers()
        self.base = meminfo()  # meminfo answers deltas from just after the mount

    def run(self, op: Op) -> Result:
        if op.model_only:
            if op.name == "machine":
                return ok(op, 0)
            extras = {"violations": []} if op.name == "check" else {}
            return failed(op, "ENOSYS", **extras)
        try:
            return getattr(self, f"_op_{op.name}")(op)
        except OSError as e:
            return failed(op, _errno_name(e))

    def _fd(self, op: Op) -> int:
        return self.fds[op.args["fd"]]

    # -- files ----------------------------------------------------------------------------

    def _op_mount(self, op: Op) -> Result:
        return ok(op, 0)  # mounted before the first op, by execute()

    def _op_open(self, op: Op) -> Result:
        a = op.args
        self.fds[a["as"]] = -1  # a failed open leaves the (newest) handle dead
        flags = 0
        for name in a["flags"]:
            flags |= OPEN_FLAGS[name]  # O_WRONLY|O_RDWR stays access mode 3: the kernel decides
        # Earlier descriptors under the same name stay open: they keep their files alive.
        self.fds[a["as"]] = os.open(a["path"], flags, 0o600, dir_fd=self.dir_fd)
        return ok(op, 0)

    def _op_close(self, op: Op) -> Result:
        fd = self._fd(op)
        self.fds[op.args["fd"]] = -1  # Linux releases the descriptor even when close fails
        sc.close(fd)
        return ok(op, 0)

    def _op_pwrite(self, op: Op) -> Result:
        a = op.args
        if "hex" in a:
            data = bytearray(a["hex"]) or bytearray(1)  # a buffer even for zero bytes
            address = self.buffers.address(data)
            total = len(a["hex"])
            return ok(
                op, chunked_io(sc.pwrite, self._fd(op), a["offset"], total, lambda n: address)
            )
        fill = self.buffers.filled(a["byte"], min(a["len"], CHUNK))
        address = self.buffers.address(fill)
        return ok(op, chunked_io(sc.pwrite, self._fd(op), a["offset"], a["len"], lambda n: address))

    def _op_pread(self, op: Op) -> Result:
        a = op.args
        landing = self.buffers.landing(min(a["len"], CHUNK))
        address = self.buffers.address(landing)
        digest = hashlib.sha256()
        view = memoryview(landing)

        def call(fd: int, buf: int, count: int, offset: int) -> int:
            moved = sc.pread(fd, buf, count, offset)
            if buf == address:  # not the untouchable overflow buffer
                digest.update(view[:moved])
            return moved

        total = chunked_io(call, self._fd(op), a["offset"], a["len"], lambda n: address)
        return ok(op, total, sha256=digest.hexdigest())

    def _op_ftruncate(self, op: Op) -> Result:
        sc.ftruncate(self._fd(op), op.args["length"])
        return ok(op, 0)

    def _op_fallocate(self, op: Op) -> Result:
        mode = 0
        for name in op.args["mode"]:
            mode |= FALLOC_MODES[name]
        sc.fallocate(self._fd(op), mode, op.args["offset"], op.args["len"])
        return ok(op, 0)

    def _op_lseek(self, op: Op) -> Result:
        return ok(op, sc.lseek(self._fd(op), op.args["offset"], WHENCE[op.args["whence"]]))

    def _op_fstat(self, op: Op) -> Result:
        st = os.fstat(self._fd(op))
        return ok(op, 0, size=st.st_size, blocks=st.st_blocks)

    def _op_statfs(self, op: Op) -> Result:
        st = os.fstatvfs(self.dir_fd)
        return ok(op, 0, blocks_used=st.f_blocks - st.f_bfree)

    def _op_unlink(self, op: Op) -> Result:
        os.unlink(op.args["path"], dir_fd=self.dir_fd)
        return ok(op, 0)

    # -- mappings -------------------------------------------------------------------------

    def _op_mmap(self, op: Op) -> Result:
        a = op.args
        self.maps.mmap(a["as"], self._fd(op), a["offset"], a["length"], a["prot"], a["shared"])
        return ok(op, 0)

    def _op_munmap(self, op: Op) -> Result:
        self.maps.munmap(op.args["map"])
        return ok(op, 0)

    def _op_touch(self, op: Op) -> Result:
        a = op.args
        fault, done = self.maps.touch(a["map"], a["offset"], a["len"], a["stride"], a.get("byte"))
        return ok(op, 0) if fault is None else failed(op, fault, done=done)

    def _op_madvise(self, op: Op) -> Result:
        a = op.args
        self.maps.madvise(a["map"], a["offset"], a["len"], a["advice"])
        return ok(op, 0)

    def _op_smaps(self, op: Op) -> Result:
        rss, pmd = self.maps.smaps(op.args["map"])
        return ok(op, 0, Rss=rss, ShmemPmdMapped=pmd)

    def _op_meminfo(self, op: Op) -> Result:
        now = meminfo()
        delta = {key: now[key] - self.base[key] for key in now}
        # 6.18 has no free holes (the series' team pages do): always 0 on the kernel.
        return ok(op, 0, ShmemFreeHoles=0, **delta)
