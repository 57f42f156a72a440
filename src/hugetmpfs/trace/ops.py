"""The operations of trace format v1 (DESIGN.md §3.3 and §3.4): their fields and results.

This table is the single description of the format: the parser validates against it, both
runners dispatch on it, and ``diff`` reads which extra fields each result carries.
"""

from __future__ import annotations

from dataclasses import dataclass

from hugetmpfs.shmem.names import VARIANTS
from hugetmpfs.shmem.recovery_stats import RECOVERY_STATS

GiB = 1 << 30
MiB = 1 << 20
KiB = 1 << 10
PAGE_SIZE = 4096

#: Field kinds.  Every kind is validated by ``hugetmpfs.trace.parse``.
#: int        a JSON integer (not a boolean), signed 64-bit
#: bool       true / false
#: str        a non-empty string
#: size       an integer, or a string of digits with an optional K/M/G suffix (either case)
#: enum       one string out of ``choices``
#: names      a JSON list of strings out of ``choices`` (``[]`` allowed)
#: strlist    a JSON list of strings, checked later against a registry (behaviours, guards)
#: path       a relative name inside the mount: non-empty parts separated by "/", no "." or ".."
#: defines    a handle name this op defines (``as``): a non-empty string
#: fd / map   a handle name defined earlier by ``open`` / ``mmap``
#: hex        a string of hex digits of even length, either case
KINDS = (
    "int",
    "bool",
    "str",
    "size",
    "enum",
    "names",
    "strlist",
    "path",
    "defines",
    "fd",
    "map",
    "hex",
)


@dataclass(frozen=True)
class Field:
    """One field of an operation line."""

    name: str
    kind: str
    required: bool = True
    choices: tuple[str, ...] = ()
    lo: int | None = None  # inclusive bounds for int and size kinds
    hi: int | None = None


@dataclass(frozen=True)
class OpSpec:
    """One operation: its fields, whether only the model runs it, and its result's extra fields."""

    name: str
    fields: tuple[Field, ...]
    model_only: bool = False
    results: tuple[str, ...] = ()  # extra fields of a successful result, in order

    def field(self, name: str) -> Field | None:
        return _FIELDS[self.name].get(name)


INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

OPEN_FLAGS = ("O_RDONLY", "O_WRONLY", "O_RDWR", "O_CREAT", "O_EXCL", "O_TRUNC", "O_APPEND")
FALLOC_MODES = ("KEEP_SIZE", "PUNCH_HOLE", "ZERO_RANGE", "COLLAPSE_RANGE", "INSERT_RANGE")
WHENCES = ("SEEK_SET", "SEEK_CUR", "SEEK_END", "SEEK_DATA", "SEEK_HOLE")
ADVICES = (
    "MADV_NORMAL",
    "MADV_RANDOM",
    "MADV_SEQUENTIAL",
    "MADV_WILLNEED",
    "MADV_DONTNEED",
    "MADV_FREE",
    "MADV_REMOVE",
    "MADV_HUGEPAGE",
    "MADV_NOHUGEPAGE",
    "MADV_COLD",
    "MADV_PAGEOUT",
    "MADV_POPULATE_READ",
    "MADV_POPULATE_WRITE",
    "MADV_COLLAPSE",
)
HUGE_MODES = ("never", "always", "within_size", "advise")

MAX_LEN = GiB  # len of pread / pwrite / touch: 0..1 GiB
MOUNT_SIZE_MIN, MOUNT_SIZE_MAX, MOUNT_SIZE_DEFAULT = 4 * KiB, GiB, 256 * MiB


def _int(name: str, lo: int = INT64_MIN, hi: int = INT64_MAX, required: bool = True) -> Field:
    return Field(name, "int", required, lo=lo, hi=hi)


_fd = Field("fd", "fd")
_map = Field("map", "map")

TABLE_OPS: tuple[OpSpec, ...] = (
    OpSpec(
        "mount",
        (
            Field("huge", "enum", choices=HUGE_MODES),
            Field("size", "size", required=False, lo=MOUNT_SIZE_MIN, hi=MOUNT_SIZE_MAX),
        ),
    ),
    OpSpec(
        "open",
        (
            Field("path", "path"),
            Field("as", "defines"),
            Field("flags", "names", choices=OPEN_FLAGS),
        ),
    ),
    OpSpec("close", (_fd,)),
    OpSpec(
        "pwrite",
        (
            _fd,
            _int("offset"),
            _int("len", 0, MAX_LEN, required=False),
            _int("byte", 0, 255, required=False),
            Field("hex", "hex", required=False),
        ),
    ),
    OpSpec("pread", (_fd, _int("offset"), _int("len", 0, MAX_LEN)), results=("sha256",)),
    OpSpec("ftruncate", (_fd, _int("length"))),
    OpSpec(
        "fallocate",
        (_fd, Field("mode", "names", choices=FALLOC_MODES), _int("offset"), _int("len")),
    ),
    OpSpec("lseek", (_fd, _int("offset"), Field("whence", "enum", choices=WHENCES))),
    OpSpec("fstat", (_fd,), results=("size", "blocks")),
    OpSpec("statfs", (), results=("blocks_used",)),
    OpSpec("unlink", (Field("path", "path"),)),
    OpSpec(
        "mmap",
        (
            _fd,
            Field("as", "defines"),
            _int("offset"),
            _int("length"),
            Field("prot", "enum", choices=("r", "rw")),
            Field("shared", "bool"),
        ),
    ),
    OpSpec(
        "touch",
        (
            _map,
            _int("offset"),
            _int("len", 0, MAX_LEN),
            _int("stride", 1, INT64_MAX),
            Field("write", "bool"),
            _int("byte", 0, 255, required=False),
        ),
    ),
    OpSpec(
        "madvise",
        (_map, _int("offset"), _int("len"), Field("advice", "enum", choices=ADVICES)),
    ),
    OpSpec("munmap", (_map,)),
    OpSpec("smaps", (_map,), results=("Rss", "ShmemPmdMapped")),
    OpSpec(
        "meminfo",
        (),
        results=("Shmem", "ShmemHugePages", "ShmemPmdMapped", "ShmemFreeHoles"),
    ),
)


MODEL_OPS: tuple[OpSpec, ...] = (
    OpSpec(
        "machine",
        (
            Field("ram", "size", required=False, lo=1 * MiB, hi=1 << 40),
            Field("swap", "size", required=False, lo=0, hi=1 << 40),
            _int("cpus", 1, 64, required=False),
            _int("seed", 0, (1 << 64) - 1, required=False),
            _int("hpage_nr", 2, 512, required=False),
            Field("variant", "enum", required=False, choices=VARIANTS),
            Field("behaviours", "strlist", required=False),
            Field("guards_off", "strlist", required=False),
        ),
        model_only=True,
    ),
    OpSpec("sysctl", (Field("name", "str"), _int("value")), model_only=True),
    OpSpec("pressure", (Field("bytes", "size", lo=1, hi=1 << 40),), model_only=True),
    OpSpec("release", (), model_only=True),
    OpSpec("run", (_int("ms", 0, INT64_MAX),), model_only=True),
    OpSpec("check", (), model_only=True, results=("violations",)),
    OpSpec("stats", (), model_only=True, results=RECOVERY_STATS),
)

OPS: dict[str, OpSpec] = {spec.name: spec for spec in TABLE_OPS + MODEL_OPS}
_FIELDS: dict[str, dict[str, Field]] = {
    spec.name: {f.name: f for f in spec.fields} for spec in OPS.values()
}

#: Defaults of the ``machine`` line (DESIGN.md §3.4).
MACHINE_DEFAULTS = {
    "ram": 2 * GiB,
    "swap": 0,
    "cpus": 2,
    "seed": 0,
    "hpage_nr": 512,
    "variant": "v24",
    "behaviours": (),
    "guards_off": (),
}

#: Result fields carried by a *failed* op besides i/op/ret/errno.
FAILURE_EXTRAS = {"touch": ("done",), "check": ("violations",)}

#: Errno names as the contract spells them (never the aliases).
ERRNO_ALIASES = {"ENOTSUP": "EOPNOTSUPP", "EWOULDBLOCK": "EAGAIN", "EDEADLOCK": "EDEADLK"}
