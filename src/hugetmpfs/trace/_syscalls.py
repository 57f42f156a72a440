"""Thin ctypes bindings to the Linux syscalls the kernel runner needs (x86-64 and arm64 Linux).

Python's own wrappers are avoided wherever they would check arguments themselves, allocate a
buffer of the requested size, or are missing (``unshare``, ``mount``, raw ``mmap``): the point
of the kernel runner is that the *kernel* decides every errno and its precedence.  Offsets and
lengths are passed as signed 64-bit values so that negative ones reach the kernel unchanged.

Every function returns the syscall's non-negative result or raises :class:`OSError` with the
kernel's errno.  The numbers behind the names traces use (open flags, fallocate modes, whences,
madvise advice) are not here: both runners read them from ``syscall_names``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import platform
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

c_long, c_int, c_ulong, c_void_p = ctypes.c_long, ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p

# Raw syscall numbers: mmap goes through syscall(2) so that glibc cannot pre-check the offset.
_SYS_MMAP = {"x86_64": 9, "aarch64": 222}.get(platform.machine())

CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x4000, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1

PROT_READ, PROT_WRITE = 0x1, 0x2
MAP_SHARED, MAP_PRIVATE, MAP_FIXED = 0x01, 0x02, 0x10
MAP_ANONYMOUS, MAP_NORESERVE = 0x20, 0x4000
PROT_NONE = 0x0


def _missing(*_args: object) -> int:
    ctypes.set_errno(errno.ENOSYS)
    return -1


def _fn(names: str, restype: type, *argtypes: type) -> Callable[..., Any]:
    """The first libc function of *names* that exists; a missing one fails with ENOSYS."""
    for name in names.split():
        f = getattr(_libc, name, None)
        if f is not None:
            f.restype = restype
            f.argtypes = argtypes
            return f  # type: ignore[no-any-return]
    return _missing


_unshare = _fn("unshare", c_int, c_int)
_mount = _fn("mount", c_int, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, c_ulong, c_void_p)
_umount2 = _fn("umount2", c_int, ctypes.c_char_p, c_int)
_prctl = _fn("prctl", c_int, c_int, c_ulong, c_ulong, c_ulong, c_ulong)
_close = _fn("close", c_int, c_int)
_pread = _fn("pread64 pread", c_long, c_int, c_void_p, ctypes.c_size_t, c_long)
_pwrite = _fn("pwrite64 pwrite", c_long, c_int, c_void_p, ctypes.c_size_t, c_long)
_ftruncate = _fn("ftruncate64 ftruncate", c_int, c_int, c_long)
_fallocate = _fn("fallocate64 fallocate", c_int, c_int, c_int, c_long, c_long)
_lseek = _fn("lseek64 lseek", c_long, c_int, c_long, c_int)
_syscall = _fn("syscall", c_long, c_long, c_ulong, c_ulong, c_ulong, c_ulong, c_long, c_long)
_mmap = _fn("mmap64 mmap", c_void_p, c_void_p, ctypes.c_size_t, c_int, c_int, c_int, c_long)
_munmap = _fn("munmap", c_int, c_void_p, ctypes.c_size_t)
_madvise = _fn("madvise", c_int, c_void_p, ctypes.c_size_t, c_int)


def _check(ret: int | None) -> int:
    """Raise the caller's errno as OSError when a libc call returned -1."""
    if ret == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return int(ret or 0)


def _size(n: int) -> int:
    """A length as the kernel's size_t sees it: negative values wrap, as in C."""
    return n & 0xFFFF_FFFF_FFFF_FFFF


def unshare(flags: int) -> None:
    _check(_unshare(flags))


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    enc = lambda s: None if s is None else os.fsencode(s)  # noqa: E731 - tiny local helper
    _check(_mount(enc(source), enc(target), enc(fstype), flags, enc(data)))


def umount(target: str, flags: int = 0) -> None:
    _check(_umount2(os.fsencode(target), flags))


def set_parent_death_signal(signo: int) -> None:
    _check(_prctl(PR_SET_PDEATHSIG, signo, 0, 0, 0))


def close(fd: int) -> None:
    _check(_close(fd))


def pread(fd: int, buf: int, count: int, offset: int) -> int:
    """pread64 into the buffer at address *buf*."""
    return _check(_pread(fd, buf, _size(count), offset))


def pwrite(fd: int, buf: int, count: int, offset: int) -> int:
    """pwrite64 from the buffer at address *buf*."""
    return _check(_pwrite(fd, buf, _size(count), offset))


def ftruncate(fd: int, length: int) -> None:
    _check(_ftruncate(fd, length))


def fallocate(fd: int, mode: int, offset: int, length: int) -> None:
    _check(_fallocate(fd, mode, offset, length))


def lseek(fd: int, offset: int, whence: int) -> int:
    return _check(_lseek(fd, offset, whence))


def mmap(length: int, prot: int, flags: int, fd: int, offset: int, addr: int = 0) -> int:
    """mmap at *addr* (0: a NULL hint); the kernel alone validates length, offset and descriptor.

    With MAP_FIXED in *flags*, *addr* is where the mapping goes, replacing whatever was there.
    """
    if _SYS_MMAP is None:
        got = _mmap(addr or None, _size(length), prot, flags, fd, offset)
        return _check(-1 if got in (None, 0xFFFF_FFFF_FFFF_FFFF) else got)
    # glibc's syscall(3) turns the kernel's -errno into -1 and errno; user addresses are < 2**63.
    return _check(_syscall(_SYS_MMAP, addr, _size(length), prot, flags, fd, offset))


def munmap(addr: int, length: int) -> None:
    _check(_munmap(addr, _size(length)))


def madvise(addr: int, length: int, advice: int) -> None:
    _check(_madvise(addr, _size(length), advice))


_PM_SCAN_FIELDS = (
    "size",
    "flags",
    "start",
    "end",
    "walk_end",
    "vec",
    "vec_len",
    "max_pages",
    "category_inverted",
    "category_mask",
    "category_anyof_mask",
    "return_mask",
)


class _PmScanArg(ctypes.Structure):
    """struct pm_scan_arg (include/uapi/linux/fs.h)."""

    _fields_ = [(name, ctypes.c_uint64) for name in _PM_SCAN_FIELDS]


class _PageRegion(ctypes.Structure):
    """struct page_region (include/uapi/linux/fs.h)."""

    _fields_ = [
        ("start", ctypes.c_uint64),
        ("end", ctypes.c_uint64),
        ("categories", ctypes.c_uint64),
    ]


PAGE_IS_PRESENT, PAGE_IS_HUGE = 1 << 3, 1 << 6
_PAGEMAP_SCAN = 0xC0606610  # _IOWR('f', 16, struct pm_scan_arg)
_ioctl = _fn("ioctl", c_int, c_int, c_ulong, c_void_p)


def pagemap_scan(pagemap_fd: int, start: int, end: int) -> list[tuple[int, int, int]]:
    """The present pages of [start, end) as (start, end, categories) runs (PAGEMAP_SCAN, 6.7+).

    ``categories`` has PAGE_IS_PRESENT, plus PAGE_IS_HUGE where the run is PMD-mapped.
    """
    vec = (_PageRegion * 64)()
    runs: list[tuple[int, int, int]] = []
    while start < end:
        arg = _PmScanArg(
            size=ctypes.sizeof(_PmScanArg),
            start=start,
            end=end,
            vec=ctypes.addressof(vec),
            vec_len=len(vec),
            category_mask=PAGE_IS_PRESENT,
            return_mask=PAGE_IS_PRESENT | PAGE_IS_HUGE,
        )
        n = _check(_ioctl(pagemap_fd, _PAGEMAP_SCAN, ctypes.addressof(arg)))
        runs.extend((r.start, r.end, r.categories) for r in vec[:n])
        if arg.walk_end <= start:  # no progress: never expected, but never loop forever
            break
        start = arg.walk_end
    return runs
