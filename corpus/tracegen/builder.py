"""A small fluent builder for trace-format-v1 lines (DESIGN.md §3), used by every family.

Methods mirror the ops one to one and return the builder, so a trace reads like the syscalls
it makes.  Field order in the output is fixed (``op`` first, then the contract's order), which
keeps the generated files byte-identical from run to run.
"""

from __future__ import annotations

import json
from typing import Any

KiB = 1 << 10
MiB = 1 << 20
PAGE = 4096
HPAGE = 2 * MiB  # PMD size on x86-64: the huge-page boundary the corpus probes
INT64_MAX = (1 << 63) - 1

#: Short names accepted by ``Trace.lseek`` (``"DATA"`` -> ``"SEEK_DATA"``).
_WHENCE = {"SET", "CUR", "END", "DATA", "HOLE"}


def _o(flags: tuple[str, ...]) -> list[str]:
    """Open flags given with or without their ``O_`` prefix."""
    return [f if f.startswith("O_") else f"O_{f}" for f in flags]


def _madv(advice: str) -> str:
    return advice if advice.startswith("MADV_") else f"MADV_{advice}"


class Trace:
    """One trace under construction: its file name, its comment line and its op lines."""

    def __init__(self, name: str, comment: str, huge: str, size: str | int | None = None) -> None:
        if "\n" in comment:
            raise ValueError(f"{name}: the comment must be one line")
        self.name = name
        self.comment = comment
        self.huge = huge
        mount: dict[str, Any] = {"op": "mount", "huge": huge}
        if size is not None:
            mount["size"] = size
        self.lines: list[dict[str, Any]] = [mount]

    def add(self, op: str, **fields: Any) -> Trace:
        self.lines.append({"op": op, **fields})
        return self

    def render(self) -> str:
        body = "".join(json.dumps(line, separators=(", ", ": ")) + "\n" for line in self.lines)
        return f"# {self.comment}\n{body}"

    # -- files -------------------------------------------------------------------------

    def open(self, path: str, *flags: str, as_: str | None = None) -> Trace:
        return self.add("open", path=path, **{"as": as_ or path}, flags=_o(flags))

    def create(self, path: str = "f", as_: str | None = None) -> Trace:
        """The common case: a new read-write file."""
        return self.open(path, "RDWR", "CREAT", as_=as_)

    def close(self, fd: str) -> Trace:
        return self.add("close", fd=fd)

    def pwrite(self, fd: str, offset: int, length: int, byte: int) -> Trace:
        return self.add("pwrite", fd=fd, offset=offset, len=length, byte=byte)

    def pwrite_hex(self, fd: str, offset: int, data: bytes, upper: bool = False) -> Trace:
        text = data.hex().upper() if upper else data.hex()
        return self.add("pwrite", fd=fd, offset=offset, hex=text)

    def pread(self, fd: str, offset: int, length: int) -> Trace:
        return self.add("pread", fd=fd, offset=offset, len=length)

    def ftruncate(self, fd: str, length: int) -> Trace:
        return self.add("ftruncate", fd=fd, length=length)

    def fallocate(self, fd: str, mode: tuple[str, ...] | list[str], offset: int, n: int) -> Trace:
        return self.add("fallocate", fd=fd, mode=list(mode), offset=offset, len=n)

    def punch(self, fd: str, offset: int, n: int) -> Trace:
        return self.fallocate(fd, ("PUNCH_HOLE", "KEEP_SIZE"), offset, n)

    def lseek(self, fd: str, offset: int, whence: str) -> Trace:
        if whence in _WHENCE:
            whence = f"SEEK_{whence}"
        return self.add("lseek", fd=fd, offset=offset, whence=whence)

    def fstat(self, fd: str) -> Trace:
        return self.add("fstat", fd=fd)

    def statfs(self) -> Trace:
        return self.add("statfs")

    def unlink(self, path: str) -> Trace:
        return self.add("unlink", path=path)

    def meminfo(self) -> Trace:
        return self.add("meminfo")

    # -- mappings ----------------------------------------------------------------------

    def mmap(
        self,
        fd: str,
        as_: str,
        offset: int,
        length: int,
        prot: str = "rw",
        shared: bool = True,
    ) -> Trace:
        return self.add(
            "mmap", fd=fd, **{"as": as_}, offset=offset, length=length, prot=prot, shared=shared
        )

    def touch(
        self, map_: str, offset: int, length: int, stride: int = PAGE, byte: int | None = None
    ) -> Trace:
        """A read touch, or a write touch of *byte* when it is given."""
        fields: dict[str, Any] = {"map": map_, "offset": offset, "len": length, "stride": stride}
        fields["write"] = byte is not None
        if byte is not None:
            fields["byte"] = byte
        return self.add("touch", **fields)

    def madvise(self, map_: str, offset: int, length: int, advice: str) -> Trace:
        return self.add("madvise", map=map_, offset=offset, len=length, advice=_madv(advice))

    def munmap(self, map_: str) -> Trace:
        return self.add("munmap", map=map_)

    def smaps(self, map_: str) -> Trace:
        return self.add("smaps", map=map_)

    # -- common groups -----------------------------------------------------------------

    def state(self, fd: str) -> Trace:
        """fstat and statfs: size, blocks and the mount's used pages after a change."""
        return self.fstat(fd).statfs()

    def readback(self, fd: str, length: int, offset: int = 0) -> Trace:
        """sha256 of the file's bytes (pread from *offset*), checking content end to end."""
        return self.pread(fd, offset, length)
