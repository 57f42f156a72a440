"""The real-kernel runner (trace/kernel_runner.py): results of every op on Linux, and cleanup.

Every test here needs root and a tmpfs mount (``@pytest.mark.kernel``).  Expected values are
what Linux 6.18 answers for mappings placed by the runner's rule (DESIGN.md §3.3 "Placement":
address ≡ file offset mod 2 MiB on huge mounts, file offset + 64 KiB on huge=never), which
makes fault-around and MADV_COLLAPSE answers exact.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import faulthandler
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hugetmpfs.errors import KernelRunnerError
from hugetmpfs.trace import _syscalls as sc
from hugetmpfs.trace._kernel_exec import Executor, mount_private_tmpfs
from hugetmpfs.trace._kernel_maps import (
    NEVER_SHIFT,
    RESERVATION,
    AddressSpace,
    Mapping,
    Maps,
    huge_pages_possible,
)
from hugetmpfs.trace.kernel_runner import probe_kernel, run_in_executor, run_kernel
from hugetmpfs.trace.ops import INT64_MAX, OPS
from hugetmpfs.trace.parse import parse_bytes

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.kernel

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
EMPTY_SHA = hashlib.sha256(b"").hexdigest()
ROOT = Path(__file__).resolve().parents[2]


# -- helpers ---------------------------------------------------------------------------------


def run(huge: str, *ops: dict[str, Any], size: int | str = "64M") -> list[dict[str, Any]]:
    """Run a mount line plus *ops* on the kernel; returns the results after the mount's."""
    lines = [{"op": "mount", "huge": huge, "size": size}, *ops]
    trace = parse_bytes("\n".join(json.dumps(line) for line in lines).encode())
    results = run_kernel(trace)
    assert [r["i"] for r in results] == list(range(len(lines)))
    assert [r["op"] for r in results] == [line["op"] for line in lines]
    assert results[0] == {"i": 0, "op": "mount", "ret": 0, "errno": None}
    return results[1:]


def rets(results: list[dict[str, Any]]) -> list[int | str]:
    """Each result's ret, or its errno when it failed."""
    return [r["ret"] if r["errno"] is None else r["errno"] for r in results]


def op_open(path: str, handle: str, *flags: str) -> dict[str, Any]:
    return {"op": "open", "path": path, "as": handle, "flags": list(flags)}


def op_pwrite(fd: str, offset: int, length: int, byte: int = 7) -> dict[str, Any]:
    return {"op": "pwrite", "fd": fd, "offset": offset, "len": length, "byte": byte}


def op_pread(fd: str, offset: int, length: int) -> dict[str, Any]:
    return {"op": "pread", "fd": fd, "offset": offset, "len": length}


def op_mmap(fd: str, handle: str, offset: int, length: int, prot: str = "rw", shared: bool = True):
    return {
        "op": "mmap",
        "fd": fd,
        "as": handle,
        "offset": offset,
        "length": length,
        "prot": prot,
        "shared": shared,
    }


def op_touch(m: str, offset: int, length: int, stride: int = 4096, byte: int | None = None):
    line = {"op": "touch", "map": m, "offset": offset, "len": length, "stride": stride}
    line["write"] = byte is not None
    if byte is not None:
        line["byte"] = byte
    return line


def op_madvise(m: str, offset: int, length: int, advice: str) -> dict[str, Any]:
    return {"op": "madvise", "map": m, "offset": offset, "len": length, "advice": advice}


def op(name: str, **fields: Any) -> dict[str, Any]:
    return {"op": name, **fields}


RW_CREAT = ("O_RDWR", "O_CREAT")


def smaps_of(result: dict[str, Any]) -> tuple[int, int]:
    assert result["op"] == "smaps"
    assert result["errno"] is None
    return result["Rss"], result["ShmemPmdMapped"]


def mountinfo_mentions(text: str, pid: int | str = "self") -> bool:
    try:
        return text in Path(f"/proc/{pid}/mountinfo").read_text()
    except OSError:  # the process is gone
        return False


@pytest.fixture
def private_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Make the runner create its temporary directory under *tmp_path*, to check it is gone."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


# -- probe, result shape, model-only ops ---------------------------------------------------


def test_probe_finds_the_kernel_usable() -> None:
    assert probe_kernel() is None


def test_results_have_exactly_the_contract_fields(private_tmp: Path) -> None:
    results = run(
        "never",
        op_open("f", "a", *RW_CREAT),
        op_pwrite("a", 0, 5000),
        op_pread("a", 0, 10),
        op("fstat", fd="a"),
        op("statfs"),
        op_mmap("a", "m", 0, 8192),
        op("smaps", map="m"),
        op("meminfo"),
        op_touch("m", 0, 16384),
        op("close", fd="a"),
        op("close", fd="a"),
    )
    assert results[8]["errno"] == "SIGSEGV"  # a failed touch: the one failure with extras
    for r in results:
        if r["errno"] is None:
            extras = list(OPS[r["op"]].results)
        else:
            extras = ["done"] if r["op"] == "touch" else []
        assert list(r) == ["i", "op", "ret", "errno", *extras], r
        assert all(type(v) in (int, str, type(None)) for v in r.values())
    assert results[-1] == {"i": 11, "op": "close", "ret": -1, "errno": "EBADF"}
    assert list(os.listdir(private_tmp)) == []
    assert not mountinfo_mentions("hugetmpfs-kernel-")


def test_model_only_ops_answer_enosys_and_machine_zero() -> None:
    lines = [
        {"op": "machine", "ram": "1G", "hpage_nr": 8},
        {"op": "sysctl", "name": "vm.shmem_huge", "value": 1},
        {"op": "mount", "huge": "never"},
        {"op": "pressure", "bytes": "1M"},
        {"op": "release"},
        {"op": "run", "ms": 10},
        {"op": "check"},
        {"op": "stats"},
    ]
    trace = parse_bytes("\n".join(json.dumps(line) for line in lines).encode())
    results = run_kernel(trace)
    enosys = {"ret": -1, "errno": "ENOSYS"}
    assert results == [
        {"i": 0, "op": "machine", "ret": 0, "errno": None},
        {"i": 1, "op": "sysctl", **enosys},
        {"i": 2, "op": "mount", "ret": 0, "errno": None},
        {"i": 3, "op": "pressure", **enosys},
        {"i": 4, "op": "release", **enosys},
        {"i": 5, "op": "run", **enosys},
        {"i": 6, "op": "check", **enosys, "violations": []},  # check always carries violations
        {"i": 7, "op": "stats", **enosys},
    ]


# -- files -----------------------------------------------------------------------------------


def test_open_and_close() -> None:
    results = run(
        "never",
        op_open("f", "a", "O_RDONLY"),  # no such file
        op_open("f", "a", "O_WRONLY", "O_CREAT", "O_EXCL"),
        op_open("f", "b", "O_WRONLY", "O_CREAT", "O_EXCL"),
        # Access mode 3 (O_WRONLY|O_RDWR): opens, but neither reads nor writes.
        op_open("f", "c", "O_WRONLY", "O_RDWR"),
        op_pread("c", 0, 1),
        op_pwrite("c", 0, 1),
        op("close", fd="a"),
        op("close", fd="a"),
        op_open("d/e", "d", *RW_CREAT),
    )
    assert rets(results) == ["ENOENT", 0, "EEXIST", 0, "EBADF", "EBADF", 0, "EBADF", "ENOENT"]


def test_pwrite_and_pread() -> None:
    data = bytes(range(256)) * 3
    results = run(
        "never",
        op_open("f", "a", *RW_CREAT),
        op_pwrite("a", 0, 10000, byte=9),
        {"op": "pwrite", "fd": "a", "offset": 9990, "hex": data.hex().upper()},
        {"op": "pwrite", "fd": "a", "offset": 0, "hex": ""},
        op_pread("a", 0, 100000),  # short: stops at EOF
        op_pread("a", 20000, 10),  # beyond EOF
        op_pread("a", 0, 0),
        op("fstat", fd="a"),
    )
    content = b"\x09" * 9990 + data
    assert rets(results) == [0, 10000, 768, 0, len(content), 0, 0, 0]
    assert results[4]["sha256"] == hashlib.sha256(content).hexdigest()
    assert results[5]["sha256"] == EMPTY_SHA == results[6]["sha256"]
    assert (results[7]["size"], results[7]["blocks"]) == (len(content), 24)


def test_large_writes_are_chunked_like_one_call() -> None:
    length = 150 * MiB  # three 64 MiB chunks
    results = run(
        "never",
        op_open("f", "a", *RW_CREAT),
        op_pwrite("a", 0, length, byte=5),
        op_pread("a", 0, GiB),
        op_pwrite("a", 0, length, byte=6),  # the mount holds only 100 MiB: a short write
        op_pwrite("a", 100 * MiB, 1),  # then ENOSPC
        op("statfs"),
        size="100M",
    )
    assert rets(results)[:3] == [0, 100 * MiB, 100 * MiB]
    assert results[2]["sha256"] == hashlib.sha256(b"\x05" * (100 * MiB)).hexdigest()
    assert rets(results)[3:] == [100 * MiB, "ENOSPC", 0]
    assert results[5]["blocks_used"] == 100 * MiB // 4096


def test_enospc_at_the_size_limit_is_a_short_write() -> None:
    results = run(
        "never",
        op_open("f", "a", *RW_CREAT),
        op_pwrite("a", 0, 100000),
        op_pwrite("a", 65536, 1),
        op("fallocate", fd="a", mode=[], offset=0, len=100000),
        op("fstat", fd="a"),
        op("statfs"),
        size="64K",
    )
    assert rets(results) == [0, 65536, "ENOSPC", "ENOSPC", 0, 0]
    assert (results[4]["size"], results[4]["blocks"]) == (65536, 128)
    assert results[5]["blocks_used"] == 16


def test_argument_errors_come_before_the_descriptor_where_linux_checks_them_first() -> None:
    results = run(
        "never",
        op_open("f", "a", *RW_CREAT),
        op("close", fd="a"),
        op_pread("a", -1, 1),  # EINVAL before EBADF
        op_pwrite("a", -1, 1),
        op("ftruncate", fd="a", length=-1),
        op_mmap("a", "m", 1, 4096),  # unaligned offset: EINVAL before EBADF
        op_pread("a", 0, 1),  # then EBADF
        op_pwrite("a", 0, 0),
        op("ftruncate", fd="a", length=0),
        op_mmap("a", "m", 0, 4096),
        op("fallocate", fd="a", mode=[], offset=-1, len=0),  # EBADF first
        op("lseek", fd="a", offset=-1, whence="SEEK_SET"),
        op("fstat", fd="a"),
        op("close", fd="a"),
        op_open("bad", "b", "O_RDONLY"),  # a failed open is a dead handle too
        op("fstat", fd="b"),
    )
    assert rets(results)[:2] == [0, 0]
    assert rets(results)[2:6] == ["EINVAL"] * 4
    assert rets(results)[6:] == ["EBADF"] * 8 + ["ENOENT", "EBADF"]


def test_ftruncate_and_offsets_beyond_the_end() -> None:
    results = run(
        "never",
        op_open("f", "a", *RW_CREAT),
        op_open("f", "r", "O_RDONLY"),
        op("ftruncate", fd="a", length=-1),
        op("ftruncate", fd="r", length=10),  # not open for writing
        op("ftruncate", fd="a", length=INT64_MAX),
        op("ftruncate", fd="a", length=3000),
        op_pwrite("a", INT64_MAX - 10, 100),  # offset + len overflows: EINVAL
        op_pread("r", INT64_MAX - 100 * MiB, GiB),  # even though the first chunk would not
        op_pread("r", INT64_MAX - 10, 10),
        op("fstat", fd="a"),
    )
    assert rets(results) == [0, 0, "EINVAL", "EINVAL", 0, 0, "EINVAL", "EINVAL", 0, 0]
    assert (results[-1]["size"], results[-1]["blocks"]) == (3000, 0)


def test_fallocate_modes() -> None:
    results = run(
        "never",
        op_open("f", "a", *RW_CREAT),
        op_pwrite("a", 0, 16384),
        op("fallocate", fd="a", mode=["PUNCH_HOLE"], offset=0, len=4096),
        op("fallocate", fd="a", mode=["ZERO_RANGE"], offset=0, len=4096),
        op("fallocate", fd="a", mode=["ZERO_RANGE", "KEEP_SIZE"], offset=0, len=4096),
        op("fallocate", fd="a", mode=["COLLAPSE_RANGE"], offset=0, len=4096),
        op("fallocate", fd="a", mode=["INSERT_RANGE"], offset=0, len=4096),
        op("fallocate", fd="a", mode=["PUNCH_HOLE", "KEEP_SIZE"], offset=4096, len=4096),
        op("fallocate", fd="a", mode=[], offset=0, len=0),
        op("fallocate", fd="a", mode=["KEEP_SIZE"], offset=65536, len=65536),
        op("fstat", fd="a"),
        op("fallocate", fd="a", mode=[], offset=0, len=1 << 20),
        op("fstat", fd="a"),
    )
    assert rets(results) == [0, 16384] + ["EOPNOTSUPP"] * 5 + [0, "EINVAL", 0, 0, 0, 0]
    assert (results[10]["size"], results[10]["blocks"]) == (16384, 24 + 128)
    assert (results[12]["size"], results[12]["blocks"]) == (1 << 20, 2048)


def test_lseek_all_whences() -> None:
    results = run(
        "never",
        op_open("f", "a", *RW_CREAT),
        op("ftruncate", fd="a", length=3 * MiB),
        op_pwrite("a", 2 * MiB, 1),
        op("lseek", fd="a", offset=0, whence="SEEK_DATA"),
        op("lseek", fd="a", offset=0, whence="SEEK_HOLE"),
        op("lseek", fd="a", offset=2 * MiB, whence="SEEK_HOLE"),
        op("lseek", fd="a", offset=-1, whence="SEEK_CUR"),
        op("lseek", fd="a", offset=5, whence="SEEK_END"),
        op("lseek", fd="a", offset=3 * MiB, whence="SEEK_DATA"),  # at EOF: ENXIO
        op("lseek", fd="a", offset=3 * MiB, whence="SEEK_HOLE"),
        op("lseek", fd="a", offset=-5, whence="SEEK_DATA"),  # negative: ENXIO, not EINVAL
        op("lseek", fd="a", offset=-5, whence="SEEK_SET"),
        op("lseek", fd="a", offset=INT64_MAX, whence="SEEK_SET"),
        op("lseek", fd="a", offset=1, whence="SEEK_CUR"),
    )
    assert rets(results)[:8] == [0, 0, 1, 2 * MiB, 0, 2 * MiB + 4096, 2 * MiB + 4095, 3 * MiB + 5]
    assert rets(results)[8:] == ["ENXIO", "ENXIO", "ENXIO", "EINVAL", INT64_MAX, "EINVAL"]


def test_fstat_statfs_and_unlink() -> None:
    results = run(
        "never",
        op_open("f", "a", *RW_CREAT),
        op_pwrite("a", 0, 5000),
        op("statfs"),
        op("unlink", path="f"),
        op("unlink", path="f"),
        op("fstat", fd="a"),
        op("statfs"),  # the open descriptor keeps the unlinked file
        op("close", fd="a"),
        op("statfs"),
    )
    assert rets(results) == [0, 5000, 0, 0, "ENOENT", 0, 0, 0, 0]
    assert [results[i]["blocks_used"] for i in (2, 6, 8)] == [2, 2, 0]
    assert (results[5]["size"], results[5]["blocks"]) == (5000, 16)


# -- mappings --------------------------------------------------------------------------------


def test_mmap_errors_and_dead_handles() -> None:
    results = run(
        "never",
        op_open("f", "a", *RW_CREAT),
        op_open("f", "r", "O_RDONLY"),
        op_mmap("r", "m", 0, 4096, prot="rw", shared=True),  # shared writable on O_RDONLY
        op_mmap("r", "m", 0, 4096, prot="rw", shared=False),  # private is fine
        op_mmap("a", "m", 0, 0),
        op("munmap", map="m"),  # the failed mmap made m dead: munmap answers 0
        op("smaps", map="m"),
        op_madvise("m", 0, 4096, "MADV_NORMAL"),
        op_madvise("m", 1, 4096, "MADV_NORMAL"),
        op_touch("m", 0, 1),
        op_mmap("a", "m", 0, 4096),
        op("munmap", map="m"),
        op("munmap", map="m"),
        op_touch("m", 0, 1),
    )
    assert rets(results)[:9] == [0, 0, "EACCES", 0, "EINVAL", 0, 0, "ENOMEM", "EINVAL"]
    assert smaps_of(results[6]) == (0, 0)
    assert results[9] == {"i": 10, "op": "touch", "ret": -1, "errno": "SIGSEGV", "done": 0}
    assert rets(results[10:13]) == [0, 0, 0]
    assert (results[13]["errno"], results[13]["done"]) == ("SIGSEGV", 0)


def test_touch_sigbus_beyond_eof_on_never() -> None:
    results = run(
        "never",
        op_open("f", "a", *RW_CREAT),
        op_pwrite("a", 0, 5000),
        op_mmap("a", "m", 0, 1 << 20),
        op_touch("m", 0, 1 << 20, stride=1000),  # pages 0 and 1 hold EOF; 8192 is past it
        op_touch("m", 8192, 1, byte=1),
        op("ftruncate", fd="a", length=12288),
        op_touch("m", 8192, 4097, byte=1),  # i_size is read at each touch
    )
    assert rets(results)[:3] == [0, 5000, 0]
    assert (results[3]["errno"], results[3]["done"]) == ("SIGBUS", 9)  # 0, 1000, ..., 8000
    assert (results[4]["errno"], results[4]["done"]) == ("SIGBUS", 0)
    assert (results[6]["errno"], results[6]["done"]) == ("SIGBUS", 1)


def test_touch_sigbus_when_a_hole_cannot_be_filled() -> None:
    results = run(
        "never",
        op_open("f", "a", *RW_CREAT),
        op_pwrite("a", 0, 60 * KiB),
        op("ftruncate", fd="a", length=1 << 20),
        op_mmap("a", "m", 0, 1 << 20),
        op_touch("m", 60 * KiB, 8192, byte=3),  # the last free page, then ENOSPC
        op_touch("m", 100 * KiB, 1),  # a read fault into a hole must allocate too
        size="64K",
    )
    assert (results[4]["errno"], results[4]["done"]) == ("SIGBUS", 1)
    assert (results[5]["errno"], results[5]["done"]) == ("SIGBUS", 0)


def test_touch_sigsegv() -> None:
    results = run(
        "never",
        op_open("f", "a", *RW_CREAT),
        op_pwrite("a", 0, 1 << 20),
        op_mmap("a", "r", 0, 10000, prot="r"),
        op_touch("r", 0, 4096),  # reads are fine
        op_touch("r", 0, 1, byte=1),  # a write to a read-only mapping
        op_touch("r", 0, 20000, stride=4096),  # 0, 4096, 8192 inside; 12288 past the VMA
        op_touch("r", -1, 2, stride=1),
        op_mmap("a", "w", 0, 10000, prot="rw"),
        op_touch("w", 12287, 2, stride=1, byte=1),  # the VMA ends at round_up(10000, 4096)
        op_pread("a", 12287, 1),
    )
    assert rets(results)[:4] == [0, 1 << 20, 0, 0]
    done = [(r["errno"], r["done"]) for r in (results[4], results[5], results[6], results[8])]
    assert done == [("SIGSEGV", 0), ("SIGSEGV", 3), ("SIGSEGV", 0), ("SIGSEGV", 1)]
    assert results[9]["sha256"] == hashlib.sha256(b"\x01").hexdigest()


def test_write_touches_write_every_strided_byte() -> None:
    results = run(
        "never",
        op_open("f", "a", *RW_CREAT),
        op("ftruncate", fd="a", length=20000),
        op_mmap("a", "m", 0, 20000),
        op_touch("m", 100, 15000, stride=3, byte=0xAB),
        op_pread("a", 0, 20000),
    )
    expected = bytearray(20000)
    expected[100:15100:3] = b"\xab" * len(range(100, 15100, 3))
    assert rets(results) == [0, 0, 0, 0, 20000]
    assert results[4]["sha256"] == hashlib.sha256(expected).hexdigest()


def test_private_write_copies_the_page_and_shared_write_does_not() -> None:
    results = run(
        "never",
        op_open("f", "a", *RW_CREAT),
        op_pwrite("a", 0, 8192, byte=1),
        op_mmap("a", "p", 0, 8192, shared=False),
        op_touch("p", 0, 8192, byte=2),
        op_pread("a", 0, 8192),
        op_mmap("a", "s", 0, 8192, shared=True),
        op_touch("s", 0, 8192, byte=3),
        op_pread("a", 0, 8192),
    )
    assert rets(results) == [0, 8192, 0, 0, 8192, 0, 0, 8192]
    assert results[4]["sha256"] == hashlib.sha256(b"\x01" * 8192).hexdigest()
    shared = bytearray(b"\x01" * 8192)
    shared[0] = shared[4096] = 3
    assert results[7]["sha256"] == hashlib.sha256(shared).hexdigest()


def test_fault_around_on_never_maps_up_to_16_cached_pages() -> None:
    results = run(
        "never",
        op_open("f", "a", *RW_CREAT),
        op_pwrite("a", 0, 1 << 20),
        op_mmap("a", "m", 0, 1 << 20, prot="r"),
        op_touch("m", 8 * 4096, 1),
        op("smaps", map="m"),
        op("ftruncate", fd="a", length=0),
        op("smaps", map="m"),
    )
    # The 64 KiB window is aligned in virtual addresses; placed at file offset + 64 KiB
    # (mod 2 MiB), it is the 64 KiB-aligned file range around the fault: pages 0..15.
    assert smaps_of(results[4]) == (64, 0)
    assert smaps_of(results[6]) == (0, 0)


def test_fault_around_window_on_a_huge_aligned_mount() -> None:
    # huge=advise places a mapping of 2 MiB or more huge-aligned (shorter ones anywhere), so
    # the window is the aligned 64 KiB of the file.
    results = run(
        "advise",
        op_open("f", "a", *RW_CREAT),
        op_pwrite("a", 0, 20 * 4096 + 100),  # 21 cached pages
        op_mmap("a", "m", 0, 2 << 20, prot="r"),
        op_touch("m", 3 * 4096, 1),
        op("smaps", map="m"),
        op_touch("m", 17 * 4096, 1),  # the window 16..31 holds pages 16..20
        op("smaps", map="m"),
        op("fallocate", fd="a", mode=["PUNCH_HOLE", "KEEP_SIZE"], offset=40960, len=4096),
        op("smaps", map="m"),
        op_touch("m", 40960, 1),  # the punched page is a hole: a read fault allocates it
        op("smaps", map="m"),
    )
    assert smaps_of(results[4]) == (64, 0)
    assert smaps_of(results[6]) == (64 + 20, 0)
    assert smaps_of(results[8]) == (64 + 20 - 4, 0)
    assert smaps_of(results[10]) == (64 + 20, 0)


def test_pmd_mapping_on_always() -> None:
    results = run(
        "always",
        op_open("f", "a", *RW_CREAT),
        op_pwrite("a", 0, 4 << 20),
        op_mmap("a", "m", 0, 4 << 20),
        op_touch("m", 0, 4 << 20, stride=4096),
        op("smaps", map="m"),
        op("fstat", fd="a"),
        op("meminfo"),
        op_madvise("m", 0, 4096, "MADV_DONTNEED"),  # zaps the whole PMD
        op("smaps", map="m"),
        op("ftruncate", fd="a", length=1),
        op_touch("m", 1 << 20, 1),  # past EOF, in the EOF folio, but no longer mapped
    )
    assert smaps_of(results[4]) == (4096, 4096)
    assert (results[5]["size"], results[5]["blocks"]) == (4 << 20, 8192)
    # meminfo is machine-wide: other tmpfs users on this machine move it too, so only its
    # shape is checked (test_meminfo_deltas_start_at_the_mount).
    assert results[6]["ShmemFreeHoles"] == 0
    assert smaps_of(results[8]) == (2048, 2048)
    assert (results[10]["errno"], results[10]["done"]) == ("SIGBUS", 0)


def test_madvise() -> None:
    results = run(
        "never",
        op_open("f", "a", *RW_CREAT),
        op_pwrite("a", 0, 1 << 20),
        op_mmap("a", "m", 0, 1 << 20),
        op_madvise("m", 4096, 0, "MADV_DONTNEED"),  # empty: 0
        op_madvise("m", 4095, 4096, "MADV_DONTNEED"),
        op_madvise("m", 0, -4096, "MADV_DONTNEED"),
        op_madvise("m", 0, 1 << 20, "MADV_COLLAPSE"),  # never: EINVAL
        op_madvise("m", 512 * KiB, 1 << 20, "MADV_POPULATE_READ"),  # half outside: ENOMEM
        op("smaps", map="m"),  # ... but the mapped half was populated
        op_madvise("m", (1 << 20) - 8192, 16384, "MADV_DONTNEED"),
        op("smaps", map="m"),
        op_madvise("m", 1 << 20, 4096, "MADV_DONTNEED"),  # wholly outside
        op_madvise("m", 0, 4096, "MADV_FREE"),  # not for file mappings
        op_madvise("m", 0, 1 << 20, "MADV_DONTNEED"),
        op("smaps", map="m"),
        op("ftruncate", fd="a", length=4096),
        op_madvise("m", 0, 8192, "MADV_POPULATE_READ"),  # past EOF: EFAULT
        op_mmap("a", "p", 0, 4096, shared=False),
        op_madvise("p", 0, 4096, "MADV_REMOVE"),  # private: EACCES
        op_madvise("m", 0, 4096, "MADV_REMOVE"),
        op("fstat", fd="a"),
    )
    assert rets(results)[:8] == [0, 1 << 20, 0, 0, "EINVAL", "EINVAL", "EINVAL", "ENOMEM"]
    # 512 KiB is 64 KiB-aligned in the file, so no fault-around window reaches below it.
    assert smaps_of(results[8]) == (512, 0)
    assert results[9]["errno"] == "ENOMEM"
    assert smaps_of(results[10]) == (512 - 8, 0)
    assert rets(results)[11:14] == ["ENOMEM", "EINVAL", 0]
    assert smaps_of(results[14]) == (0, 0)
    assert rets(results)[15:] == [0, "EFAULT", 0, "EACCES", 0, 0]
    assert (results[20]["size"], results[20]["blocks"]) == (4096, 0)


def test_madvise_on_always_and_collapse() -> None:
    results = run(
        "always",
        op_open("f", "a", *RW_CREAT),
        op_pwrite("a", 0, 4 << 20),
        op_mmap("a", "m", 0, 4 << 20),
        op_madvise("m", 0, 4 << 20, "MADV_NOHUGEPAGE"),
        op_touch("m", 0, 4 << 20),
        op("smaps", map="m"),  # PTE-mapped THPs
        op_madvise("m", 0, 4 << 20, "MADV_HUGEPAGE"),
        op_madvise("m", 0, 4 << 20, "MADV_DONTNEED"),
        op_madvise("m", 0, 4 << 20, "MADV_POPULATE_WRITE"),
        op("smaps", map="m"),
    )
    assert rets(results)[:5] == [0, 4 << 20, 0, 0, 0]
    assert smaps_of(results[5]) == (4096, 0)
    assert rets(results)[6:9] == [0, 0, 0]
    assert smaps_of(results[9]) == (4096, 4096)


def _merged_body(mount_dir: str, send: Callable[[Any], None]) -> None:
    mount_private_tmpfs(mount_dir, "never", 64 * MiB)
    fd = os.open(f"{mount_dir}/f", os.O_RDWR | os.O_CREAT)
    os.pwrite(fd, b"\x07" * 2 * MiB, 0)
    maps = Maps("never")
    # The runner never places two mappings side by side (a NULL-hint mapping still could), so
    # m2, the file's first MiB, is put by hand just below m1, which maps the second MiB (in
    # m1's slot, below it, is reservation): the kernel merges the two into one VMA that smaps
    # cannot split.
    maps.mmap("m1", fd, MiB, MiB, "rw", True)
    m1 = maps.handles["m1"]
    assert m1 is not None
    _map_fixed(m1.addr - MiB, MiB, 3, sc.MAP_SHARED, fd, 0)
    m2 = maps.handles["m2"] = Mapping(m1.addr - MiB, MiB, True, 0, os.dup(fd))
    vmas = [line.split()[0] for line in Path("/proc/self/maps").read_text().splitlines()]
    send(f"{m2.addr:x}-{m1.addr + MiB:x}" in vmas)
    assert maps.touch("m1", 0, MiB, 4096, 1) == (None, 256)
    send([maps.smaps("m1"), maps.smaps("m2")])
    maps.madvise("m2", 0, MiB, "MADV_POPULATE_READ")
    maps.madvise("m1", 0, 8192, "MADV_DONTNEED")
    send([maps.smaps("m1"), maps.smaps("m2")])


def test_smaps_counts_only_its_part_of_a_merged_vma() -> None:
    merged, first, second = run_in_executor(_merged_body)
    assert merged, "the kernel did not merge the two mappings: this test needs another layout"
    assert first == [[1024, 0], [0, 0]]
    assert second == [[1016, 0], [1024, 0]]


def test_meminfo_deltas_start_at_the_mount() -> None:
    results = run("never", op("meminfo"))
    delta = results[0]
    assert list(delta)[4:] == ["Shmem", "ShmemHugePages", "ShmemPmdMapped", "ShmemFreeHoles"]
    assert all(type(v) is int for v in list(delta.values())[4:])
    assert delta["ShmemFreeHoles"] == 0  # the kernel has no free holes


# -- placement ---------------------------------------------------------------------------------

#: (file offset, length) of the mappings the placement tests make, in order.
_PLACED = [(0, 4096), (60 * KiB, 8192), (64 * KiB, MiB), (68 * KiB, 3 * MiB), (2 * MiB, 5000)]
_PLACED += [(2 * MiB + 4096, 2 * MiB), (3 * MiB, 4096), (0, 4 * MiB)]


def _placement_body(huge: str) -> Callable[[str, Callable[[Any], None]], None]:
    def body(mount_dir: str, send: Callable[[Any], None]) -> None:
        mount_private_tmpfs(mount_dir, huge, 64 * MiB)
        fd = os.open(f"{mount_dir}/f", os.O_RDWR | os.O_CREAT)
        os.ftruncate(fd, 8 * MiB)
        maps = Maps(huge)
        space = maps.space
        send([space.shift, space.start, space.end])
        for i, (offset, length) in enumerate(_PLACED):
            maps.mmap(str(i), fd, offset, length, "rw", True)
        placed = []
        for i in range(len(_PLACED)):
            m = maps.handles[str(i)]
            assert m is not None
            vma = [v for v in _vmas() if v[0] <= m.addr < v[1]]
            placed.append([m.addr, m.span, m.placed, vma[0][:2]])
        send(placed)
        for i in range(len(_PLACED)):
            maps.munmap(str(i))
        # munmap put the reservation back: one PROT_NONE VMA again, merged with its neighbours.
        send([v for v in _vmas() if v[0] < space.end and space.start < v[1]])

    return body


@pytest.mark.parametrize(("huge", "shift"), [("never", 64 * KiB), ("always", 0), ("advise", 0)])
def test_mappings_are_placed_by_the_rule(huge: str, shift: int) -> None:
    if huge == "never" and huge_pages_possible("never"):
        pytest.skip("shmem_enabled=force: huge pages on every mount, so no shift on never")
    (got_shift, start, end), placed, after = run_in_executor(_placement_body(huge))
    assert got_shift == shift
    assert start % (2 * MiB) == 0
    assert end - start == RESERVATION
    previous_end = start - 2 * MiB
    for (offset, length), (addr, span, in_reservation, vma) in zip(_PLACED, placed, strict=True):
        assert in_reservation
        assert (addr - offset - shift) % (2 * MiB) == 0, (offset, hex(addr))
        assert span == -(-length // 4096) * 4096
        assert vma == [addr, addr + span]  # its own VMA: never merged with a neighbour
        assert addr - previous_end >= 2 * MiB  # slots are fresh, in order, with a gap
        assert start <= addr < addr + span <= end
        previous_end = addr + span
    [(lo, hi, perms)] = after
    assert lo <= start < end <= hi
    assert perms == "---p"


def _fallback_body(mount_dir: str, send: Callable[[Any], None]) -> None:
    space = AddressSpace(NEVER_SHIFT, size=8 * MiB)
    absurd = [(-4096, 4096), (1, 4096), (4097, 4096), (0, 0), (0, -4096), (0, -1)]
    answers = [space.place(off, n) for off, n in absurd]
    answers.append(space.place(0, 8 * MiB))  # 64 KiB + 8 MiB do not fit in 8 MiB
    send([answers, space.cursor - space.start])
    first = space.place(0, 4 * MiB - 64 * KiB)  # fits: lead 64 KiB, the slot is 4 MiB
    send([first is not None and first - space.start, space.cursor - space.start])
    send(space.place(0, 4096))  # the cursor is at 6 MiB (after a 2 MiB gap): 64 KiB + 4 KiB fit
    send(space.place(0, 4096))  # now at 10 MiB: past the end


def test_place_leaves_absurd_arguments_and_what_does_not_fit_to_a_null_hint() -> None:
    (answers, moved), first, third, fourth = run_in_executor(_fallback_body)
    assert answers == [None] * 7
    assert moved == 0
    assert first == [64 * KiB, 6 * MiB]
    assert third is not None
    assert fourth is None


#: mmap error cases: (name, descriptor, offset, length, prot, shared, errno).  The first six
#: are corpus never/121-errno-mmap-order; the others every other kind of failed mmap the
#: corpus records (EBADF, EACCES by open mode, ENOMEM, EOVERFLOW).
_MMAP_ERRORS = [
    ("unaligned-len-0", "ro", 1, 0, "rw", True, "EINVAL"),
    ("len-0", "ro", 0, 0, "rw", True, "EINVAL"),
    ("unaligned", "ro", 1, 4096, "rw", True, "EINVAL"),
    ("shared-rw-on-rdonly", "ro", 0, 4096, "rw", True, "EACCES"),
    ("negative-offset", "ro", -4096, 4096, "r", True, "EOVERFLOW"),
    ("negative-length", "ro", 0, -4096, "r", True, "ENOMEM"),
    ("length-minus-1", "ro", 0, -1, "r", True, "ENOMEM"),
    ("length-2^62", "rw", 0, 1 << 62, "r", True, "ENOMEM"),
    ("offset-overflows", "ro", INT64_MAX - 4095, 8192, "r", True, "EOVERFLOW"),
    ("unaligned-2m+1", "rw", 2 * MiB + 1, 4096, "rw", True, "EINVAL"),
    ("closed-fd", "closed", 0, 4096, "r", True, "EBADF"),
    ("closed-fd-len-0", "closed", 0, 0, "r", True, "EBADF"),
    ("closed-fd-unaligned", "closed", 4097, 4096, "r", True, "EINVAL"),
    ("wronly-shared-r", "wo", 0, 4096, "r", True, "EACCES"),
    ("wronly-private-rw", "wo", 0, 4096, "rw", False, "EACCES"),
    ("accmode-3-private", "m3", 0, 4096, "r", False, "EACCES"),
    ("accmode-3-shared-rw", "m3", 0, 4096, "rw", True, "EACCES"),
]


def _errno_of(call: Callable[..., Any], *args: Any) -> str:
    try:
        call(*args)
    except OSError as e:
        return errno.errorcode[e.errno or 0]
    return "ok"


def _mmap_errors_body(huge: str) -> Callable[[str, Callable[[Any], None]], None]:
    def body(mount_dir: str, send: Callable[[Any], None]) -> None:
        mount_private_tmpfs(mount_dir, huge, 64 * MiB)
        path = f"{mount_dir}/f"
        fds = {"rw": os.open(path, os.O_RDWR | os.O_CREAT), "closed": -1}
        os.pwrite(fds["rw"], b"\x07" * 8192, 0)
        fds |= {"ro": os.open(path, os.O_RDONLY), "wo": os.open(path, os.O_WRONLY)}
        fds["m3"] = os.open(path, os.O_WRONLY | os.O_RDWR)
        maps = Maps(huge)
        test_space = AddressSpace(maps.space.shift, size=64 * MiB)
        for name, fd_name, offset, length, prot, shared, _ in _MMAP_ERRORS:
            fd = fds[fd_name]
            bits = sc.PROT_READ | (sc.PROT_WRITE if prot == "rw" else 0)
            flags = sc.MAP_SHARED if shared else sc.MAP_PRIVATE
            plain = _errno_of(sc.mmap, length, bits, flags, fd, offset)
            # MAP_FIXED at the address the rule gives (its page, for an unaligned offset; a
            # slot start for a negative one), even where the runner passes a NULL hint: the
            # kernel must fail before it replaces the reservation, with the same errno.
            lead = (offset + test_space.shift) % (2 * MiB) // 4096 * 4096
            addr = test_space.start + lead
            fixed = _errno_of(sc.mmap, length, bits, flags | sc.MAP_FIXED, fd, offset, addr)
            intact = _reserved(test_space.start, test_space.end - test_space.start)
            runner = _errno_of(maps.mmap, name, fd, offset, length, prot, shared)
            send([name, plain, fixed, runner, intact, maps.handles[name] is None])

    return body


@pytest.mark.parametrize("huge", ["never", "always"])
def test_map_fixed_gives_every_mmap_error_the_plain_call_gives(huge: str) -> None:
    outcomes = run_in_executor(_mmap_errors_body(huge))
    assert [o[0] for o in outcomes] == [case[0] for case in _MMAP_ERRORS]
    for (name, plain, fixed, runner, intact, dead), case in zip(
        outcomes, _MMAP_ERRORS, strict=True
    ):
        assert (plain, fixed, runner) == (case[-1],) * 3, name
        assert intact, f"{name}: the failed MAP_FIXED call changed the reservation"
        assert dead, name


def test_fault_around_windows_follow_file_offsets_on_never() -> None:
    results = run(
        "never",
        op_open("f", "a", *RW_CREAT),
        op_pwrite("a", 0, 2 * MiB),
        op_mmap("a", "m", 0, 2 * MiB, prot="r"),
        op_touch("m", 0, 1),  # window [0, 64K)
        op("smaps", map="m"),
        op_touch("m", 60 * KiB, 1),  # same window: nothing new
        op("smaps", map="m"),
        op_touch("m", 64 * KiB, 1),  # [64K, 128K)
        op("smaps", map="m"),
        op_touch("m", 68 * KiB, 1),  # same window again
        op("smaps", map="m"),
        op_mmap("a", "n", 68 * KiB, 100 * KiB, prot="r"),  # file [68K, 168K)
        # The window starts at max(the fault rounded down to 64K, the map's start) and then
        # has 16 pages: [68K, 132K) here, not [64K, 128K) clipped.
        op_touch("n", 0, 1),
        op("smaps", map="n"),
        op_touch("n", 96 * KiB, 1),  # file 164K: [128K, 192K) clipped to 168K, 9 pages new
        op("smaps", map="n"),
        op_madvise("m", 0, 2 * MiB, "MADV_COLLAPSE"),  # never congruent on never
        op_madvise("n", 0, 64 * KiB, "MADV_COLLAPSE"),
    )
    rss = [smaps_of(results[i])[0] for i in (4, 6, 8, 10, 13, 15)]
    assert rss == [64, 64, 128, 128, 64, 100]
    assert rets(results[16:]) == ["EINVAL", "EINVAL"]


def test_collapse_on_a_huge_mount_succeeds_at_any_2m_aligned_file_offset() -> None:
    results = run(
        "advise",
        op_open("f", "a", *RW_CREAT),
        op_pwrite("a", 0, 6 * MiB),
        op_mmap("a", "m", 2 * MiB, 4 * MiB),
        op_touch("m", 0, 4 * MiB),  # small pages, PTE-mapped (advise, no MADV_HUGEPAGE)
        op_madvise("m", 0, 4 * MiB, "MADV_COLLAPSE"),
        op("smaps", map="m"),
        op_mmap("a", "n", 64 * KiB, 4 * MiB),  # congruent too: the PMD in the middle
        op_madvise("n", 2 * MiB - 64 * KiB, 2 * MiB, "MADV_COLLAPSE"),
    )
    assert rets(results[2:5]) == [0, 0, 0]
    assert smaps_of(results[5]) == (4096, 4096)
    assert rets(results[6:]) == [0, 0]


def test_dead_map_handles_answer_by_the_contract_whatever_the_length() -> None:
    results = run(
        "never",
        op_open("f", "a", *RW_CREAT),
        op_pwrite("a", 0, 8192),
        op_mmap("a", "bad", 0, 0),  # failed: dead
        op_mmap("a", "m", 0, 8192),
        op("munmap", map="m"),  # unmapped: dead
        *[
            op_madvise(handle, offset, length, "MADV_DONTNEED")
            for handle in ("bad", "m")
            for offset, length in [(0, 0), (0, -1), (0, 4096), (4096, 0), (1, 0), (1, -4096)]
        ],
        op_touch("m", 0, 0),
        op_touch("bad", 0, 1, byte=1),
        op("smaps", map="bad"),
        op("munmap", map="bad"),
        op("munmap", map="m"),
    )
    assert rets(results[:5]) == [0, 8192, "EINVAL", 0, 0]
    expected = ["ENOMEM", "ENOMEM", "ENOMEM", "ENOMEM", "EINVAL", "EINVAL"]
    assert rets(results[5:17]) == expected * 2
    assert [(r["errno"], r["done"]) for r in results[17:19]] == [("SIGSEGV", 0)] * 2
    assert smaps_of(results[19]) == (0, 0)
    assert rets(results[20:]) == [0, 0]


@pytest.mark.parametrize(
    "first",
    [op_pread("a", 0, 0), op_pread("a", 4096, 0), op_pwrite("a", 0, 0), op_pread("a", -1, 0)],
)
def test_zero_length_io_as_the_first_read_or_write(first: dict[str, Any]) -> None:
    # No buffer exists yet: a zero count must still pass the kernel an address.
    results = run(
        "never",
        op_open("f", "a", *RW_CREAT),
        first,
        op("close", fd="a"),
        op_pread("a", 0, 0),
        op_pwrite("a", 0, 0),
    )
    assert rets(results) == [0, "EINVAL" if first["offset"] < 0 else 0, 0, "EBADF", "EBADF"]
    if first["op"] == "pread" and first["offset"] >= 0:
        assert results[1]["sha256"] == EMPTY_SHA


# -- /proc/self/mem against direct access ---------------------------------------------------

# (name, huge, prep [(offset, length)] written with byte 7, file size, map offset, length,
#  shared, accesses [(offset, write)])
_SCENARIOS = [
    ("never/fault-around", "never", [(0, 100 * KiB)], None, 0, 4 * MiB, True, [(0, 0), (98304, 0)]),
    ("never/mid-file", "never", [(0, MiB)], None, 12 * KiB, MiB, True, [(520 * KiB, 0)]),
    ("never/sparse", "never", [(0, 4096), (32 * KiB, 4096)], MiB, 0, MiB, True, [(16 * KiB, 0)]),
    ("never/hole-write", "never", [], MiB, 0, MiB, True, [(16 * KiB, 1), (20 * KiB, 0)]),
    (
        "never/private",
        "never",
        [(0, MiB)],
        None,
        0,
        MiB,
        False,
        [(0, 1), (8192, 0), (200 * KiB, 1)],
    ),
    ("always/4M-read", "always", [(0, 4 * MiB)], None, 0, 4 * MiB, True, [(4096, 0), (3 * MiB, 0)]),
    ("always/4M-write", "always", [(0, 4 * MiB)], None, 0, 4 * MiB, True, [(0, 1), (3 * MiB, 1)]),
    ("always/hole", "always", [], 4 * MiB, 0, 4 * MiB, True, [(0, 0), (3 * MiB, 1)]),
    ("always/eof-folio", "always", [(0, 1)], None, 0, 4 * MiB, True, [(0, 0), (MiB, 0)]),
    ("always/private", "always", [(0, 4 * MiB)], None, 0, 4 * MiB, False, [(0, 0), (4096, 1)]),
    ("always/offset", "always", [(0, 8 * MiB)], None, 64 * KiB, 8 * MiB - 64 * KiB, True, [(0, 0)]),
    (
        "within_size/3M",
        "within_size",
        [(0, 3 * MiB)],
        None,
        0,
        4 * MiB,
        True,
        [(0, 0), (2 * MiB, 0)],
    ),
]


def _pagemap_runs(addr: int, length: int) -> str:
    """Which pages are present, and whether file (F) or anonymous (A), run-length encoded."""
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(addr // 4096 * 8)
        words = struct.iter_unpack("<Q", f.read(8 * (length // 4096)))
    runs: list[list[Any]] = []
    for (w,) in words:
        kind = ("F" if w >> 61 & 1 else "A") if w >> 63 & 1 else "."
        if runs and runs[-1][0] == kind:
            runs[-1][1] += 1
        else:
            runs.append([kind, 1])
    return " ".join(f"{k}{n}" for k, n in runs)


def _vmas() -> list[tuple[int, int, str]]:
    """This process's VMAs: (start, end, permissions)."""
    vmas = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        span, perms = line.split()[:2]
        start, _, end = span.partition("-")
        vmas.append((int(start, 16), int(end, 16), perms))
    return vmas


def _reserved(addr: int, length: int) -> bool:
    """Whether [addr, addr + length) lies in one PROT_NONE private VMA (the reservation)."""
    return any(s <= addr and addr + length <= e and p == "---p" for s, e, p in _vmas())


def _map_fixed(addr: int, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
    """mmap over the runner's own reservation at *addr* (MAP_FIXED: replaces the PROT_NONE)."""
    assert _reserved(addr, length), "MAP_FIXED would replace something else than the reservation"
    got = sc.mmap(length, prot, flags | sc.MAP_FIXED, fd, offset, addr)
    assert got == addr, "could not map at the address the runner placed a mapping before"
    return got


def _compare_body(huge: str) -> Callable[[str, Callable[[Any], None]], None]:
    def body(mount_dir: str, send: Callable[[Any], None]) -> None:
        mount_private_tmpfs(mount_dir, huge, 64 * MiB)
        maps = Maps(huge)
        for name, mode, prep, size, offset, length, shared, accesses in _SCENARIOS:
            if mode != huge:
                continue
            seen = {}
            addr = 0
            for via in ("mem", "direct"):
                fd = os.open(f"{mount_dir}/{name.replace('/', '-')}-{via}", os.O_RDWR | os.O_CREAT)
                for off, n in prep:
                    os.pwrite(fd, b"\x07" * n, off)
                if size is not None:
                    os.ftruncate(fd, size)
                prot, flags = 3, sc.MAP_SHARED if shared else sc.MAP_PRIVATE
                if via == "mem":  # the runner's own path: the kernel picks the address
                    maps.mmap(via, fd, offset, length, "rw", shared)
                    m = maps.handles[via]
                    assert m is not None
                    addr = m.addr
                    for pos, write in accesses:
                        assert maps.touch(via, pos, 1, 1, 5 if write else None) == (None, 1)
                else:  # the same address (the runner's reservation again since munmap)
                    _map_fixed(addr, length, prot, flags, fd, offset)
                    maps.handles[via] = Mapping(addr, length, True, offset, os.dup(fd))
                    for pos, write in accesses:
                        if write:
                            ctypes.memset(addr + pos, 5, 1)
                        else:
                            ctypes.string_at(addr + pos, 1)
                seen[via] = (maps.smaps(via), _pagemap_runs(addr, length))
                maps.munmap(via)
            send([name, seen["mem"], seen["direct"]])

    return body


@pytest.mark.parametrize("huge", ["never", "always", "within_size"])
def test_touch_through_proc_self_mem_faults_like_a_direct_access(huge: str) -> None:
    outcomes = run_in_executor(_compare_body(huge))
    assert outcomes, "no scenario ran"
    for name, mem, direct in outcomes:
        assert mem == direct, name


def _sigbus_body(mount_dir: str, send: Callable[[Any], None]) -> None:
    """Faults that deliver SIGBUS to a direct access make /proc/self/mem answer EIO."""
    mount_private_tmpfs(mount_dir, "never", 64 * KiB)
    fd = os.open(f"{mount_dir}/f", os.O_RDWR | os.O_CREAT)
    os.pwrite(fd, b"\x07" * 64 * KiB, 0)  # the mount is full
    os.ftruncate(fd, MiB)
    addr = sc.mmap(MiB, 3, sc.MAP_SHARED, fd, 0)
    mem = os.open("/proc/self/mem", os.O_RDWR)

    def both_ways(pos: int) -> None:
        try:
            os.pwrite(mem, b"\x01", addr + pos)
            via_mem = "ok"
        except OSError as e:
            via_mem = errno.errorcode[e.errno or 0]
        pid = os.fork()
        if pid == 0:  # a direct write in a child, which the SIGBUS may kill
            faulthandler.disable()  # pytest's: a SIGBUS is expected here, not worth a dump
            ctypes.memset(addr + pos, 1, 1)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        direct = signal.Signals(os.WTERMSIG(status)).name if os.WIFSIGNALED(status) else "ok"
        send([pos, via_mem, direct])

    both_ways(64 * KiB)  # a hole: the fault cannot allocate (ENOSPC)
    os.ftruncate(fd, 8192)
    both_ways(8192)  # past EOF
    both_ways(4096)  # and a page that works, for contrast


def test_proc_self_mem_answers_eio_where_a_direct_access_gets_sigbus() -> None:
    outcomes = run_in_executor(_sigbus_body)
    assert outcomes == [[64 * KiB, "EIO", "SIGBUS"], [8192, "EIO", "SIGBUS"], [4096, "ok", "ok"]]


# -- failures of the executor, from inside the runner -----------------------------------------


def test_executor_exception_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, private_tmp: Path
) -> None:
    def boom(self: Executor, op: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Executor, "_op_statfs", boom)  # the forked child inherits it
    with pytest.raises(KernelRunnerError, match=r"failed at op 2 \(line 3\): RuntimeError: boom"):
        run("never", op_open("f", "a", *RW_CREAT), op("statfs"))
    assert list(os.listdir(private_tmp)) == []


def test_executor_crash_is_reported_without_partial_results(
    monkeypatch: pytest.MonkeyPatch, private_tmp: Path
) -> None:
    def crash(self: Executor, op: Any) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(Executor, "_op_statfs", crash)
    with pytest.raises(KernelRunnerError) as info:
        run("never", op_open("f", "a", *RW_CREAT), op("statfs"))
    assert str(info.value) == "kernel executor died with SIGKILL at op 2 (line 3)"
    assert list(os.listdir(private_tmp)) == []
    assert not mountinfo_mentions(str(private_tmp))


def test_mount_refused_is_a_one_line_error() -> None:
    # size= is validated by the parser; a huge= the kernel rejects shows the mount error path.
    bad = dataclasses.replace(parse_bytes(b'{"op": "mount", "huge": "never"}'), huge="sometimes")
    with pytest.raises(KernelRunnerError, match=r"^cannot mount tmpfs \(huge=sometimes,.*: "):
        run_kernel(bad)


# -- the command line: signals, crashes, no root ------------------------------------------------


def _long_trace(path: Path) -> Path:
    lines = [{"op": "mount", "huge": "never", "size": "512M"}, op_open("f", "a", *RW_CREAT)]
    lines += [op_pwrite("a", 0, 256 * MiB, byte=i % 256) for i in range(400)]
    path.write_text("\n".join(json.dumps(line) for line in lines))
    return path


@pytest.fixture
def replay_cli(tmp_path: Path) -> Iterator[Callable[[], tuple[subprocess.Popen[str], int, Path]]]:
    """Start ``hugetmpfs replay --kernel`` on a long trace; wait for its executor's mount."""
    procs: list[subprocess.Popen[str]] = []

    def start() -> tuple[subprocess.Popen[str], int, Path]:
        tmp = tmp_path / "tmp"
        tmp.mkdir()
        trace = _long_trace(tmp_path / "long.jsonl")
        env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(ROOT / "src")}
        cmd = [sys.executable, "-m", "hugetmpfs", "replay", str(trace), "--kernel"]
        pipe = subprocess.PIPE  # a session of its own, as a shell job would be
        proc = subprocess.Popen(
            cmd, env=env, stdout=pipe, stderr=pipe, text=True, start_new_session=True
        )
        procs.append(proc)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            if children and mountinfo_mentions(str(tmp), children[0]):
                assert not mountinfo_mentions(str(tmp))  # never visible outside the executor
                return proc, int(children[0]), tmp
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        raise AssertionError("the executor never mounted its tmpfs")

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _assert_cleaned_up(executor: int, tmp: Path) -> None:
    assert not Path(f"/proc/{executor}").exists() or not mountinfo_mentions(str(tmp), executor)
    assert list(tmp.iterdir()) == []
    assert not mountinfo_mentions(str(tmp))


@pytest.mark.parametrize(
    ("signo", "group", "status", "message"),
    [
        (signal.SIGTERM, False, -signal.SIGTERM, ""),
        (signal.SIGHUP, False, -signal.SIGHUP, ""),
        (signal.SIGINT, False, 130, "hugetmpfs: interrupted\n"),
        (signal.SIGINT, True, 130, "hugetmpfs: interrupted\n"),  # Ctrl-C: the executor gets it too
    ],
)
def test_signal_to_the_cli_removes_the_mount(
    replay_cli: Callable[[], tuple[subprocess.Popen[str], int, Path]],
    signo: int,
    group: bool,
    status: int,
    message: str,
) -> None:
    proc, executor, tmp = replay_cli()
    sent = time.monotonic()
    if group:
        os.killpg(proc.pid, signo)
    else:
        proc.send_signal(signo)
    out, err = proc.communicate(timeout=10)
    assert time.monotonic() - sent < 3
    assert (proc.returncode, out, err) == (status, "", message)
    _assert_cleaned_up(executor, tmp)


def test_killed_executor_is_a_clean_error(
    replay_cli: Callable[[], tuple[subprocess.Popen[str], int, Path]],
) -> None:
    proc, executor, tmp = replay_cli()
    os.kill(executor, signal.SIGKILL)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith("hugetmpfs: kernel executor died with SIGKILL at op "), err
    _assert_cleaned_up(executor, tmp)


def test_refuses_without_root() -> None:
    """The CLI with root given up (in a fork: this interpreter is not world-readable)."""
    import hugetmpfs.cli as cli  # everything must be imported before giving up root

    public = Path(tempfile.mkdtemp())
    try:
        public.chmod(0o755)
        trace = public / "t.jsonl"
        trace.write_text('{"op": "mount", "huge": "never"}\n')
        trace.chmod(0o644)
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 99
            try:
                sys.stdout = sys.stderr = os.fdopen(wfd, "w")  # not pytest's capture
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                cli.cli.main(["replay", str(trace), "--kernel"], prog_name="hugetmpfs")
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 98
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(wfd)
        with os.fdopen(rfd) as f:
            output = f.read()
        _, status = os.waitpid(pid, 0)
    finally:
        for p in public.iterdir():
            p.unlink()
        public.rmdir()
    assert os.WEXITSTATUS(status) == 2, output
    assert output.count("\n") == 1
    assert output.startswith("hugetmpfs: the kernel runner needs root"), output
    assert "uid 65534" in output
