"""The phase ops of a scenario's processes: their arguments, and the touch patterns.

Each op's arguments are declared once here; ``scenario_file`` validates against this table,
docs/workloads.md documents it, and ``runner`` executes it.  Sizes are bytes (TOML integers
or strings such as ``"64M"``); ``count`` arguments are numbers of accesses.  ``--scale``
divides both kinds; a ``stride`` (``every``, a touch's ``stride``) is a size it leaves alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

PAGE = 4096
#: The largest file size and offset (the kernel's MAX_LFS_FILESIZE): the bound of every size.
MAX_SIZE = (1 << 63) - 1
_SIZES = ("size", "stride", "count")


@dataclass(frozen=True)
class Arg:
    """One argument: kind, whether required, default, bounds or choices."""

    kind: str  # size stride count int byte number bool str enum strlist instants
    required: bool = False
    default: Any = None
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind in _SIZES and self.hi is None:  # no size beyond what a syscall takes
            object.__setattr__(self, "hi", MAX_SIZE)

    def describe(self) -> str:
        return {
            "size": "a size (an integer, or digits with K, M or G)",
            "stride": "a size (an integer, or digits with K, M or G)",
            "count": "a count (an integer, or digits with K, M or G)",
            "int": "an integer",
            "byte": "an integer",
            "number": "a finite number",
            "bool": "true or false",
            "str": "a non-empty string",
            "enum": "one of " + ", ".join(self.choices),
            "strlist": "an array of strings",
            "instants": "an array of virtual ms and event names",
        }[self.kind]

    def range(self) -> str:
        return f"{self._bound(self.lo)}..{self._bound(self.hi)}"

    def _bound(self, value: float | None) -> str:
        """A bound as the file would write it: ``64G`` for a size, every digit of an integer."""
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:g}"
        if self.kind in ("size", "stride"):
            for suffix, shift in (("G", 30), ("M", 20), ("K", 10)):
                if value and value % (1 << shift) == 0:
                    return f"{value >> shift}{suffix}"
        return str(value)


def _req(kind: str, **kw: Any) -> Arg:
    return Arg(kind, required=True, **kw)


_FILE = {"file": _req("str")}
_BYTE = _req("byte", lo=0, hi=255)
_RANGE = {"offset": Arg("size", lo=0), "length": Arg("size", lo=1)}
PATTERNS = ("sequential", "random", "strided", "hotcold")

#: op -> its arguments (besides ``op`` and ``label``, which every phase may have).
PHASE_ARGS: dict[str, dict[str, Arg]] = {
    "create": {**_FILE, "size": _req("size", lo=0), "count": Arg("int", default=1, lo=1)},
    "write": {
        **_FILE,
        "byte": _BYTE,
        **_RANGE,
        "every": Arg("stride", lo=4096),
        "count": Arg("int", default=1, lo=1),
    },
    "unlink": {
        **_FILE,
        "count": Arg("int", default=1, lo=1),
        "start": Arg("int", default=0, lo=0),
        "step": Arg("int", default=1, lo=1),
    },
    "map": {
        **_FILE,
        **_RANGE,
        "shared": Arg("bool", default=True),
        "write": Arg("bool", default=True),
    },
    "unmap": dict(_FILE),
    "fill": {**_FILE, "byte": _BYTE, **_RANGE},
    "touch": {
        **_FILE,
        **_RANGE,
        "pattern": Arg("enum", default="sequential", choices=PATTERNS),
        "write": Arg("bool", default=False),
        "byte": Arg("byte", lo=0, hi=255),
        "stride": Arg("stride", lo=1),
        "count": Arg("count", lo=1),
        "hot": Arg("number", default=0.1, lo=0.0001, hi=1),
        "hot_share": Arg("number", default=0.9, lo=0, hi=1),
        "seed": Arg("int", default=0, lo=0),
    },
    "verify": {**_FILE, "byte": _BYTE, **_RANGE},
    "pressure": {"bytes": _req("size", lo=1)},
    "release": {},
    "truncate": {**_FILE, "size": _req("size", lo=0)},
    "punch": {
        **_FILE,
        "offset": _req("size", lo=0),
        "length": _req("size", lo=1),
        "every": Arg("stride", lo=4096),
    },
    "sleep": {"ms": _req("number", lo=0, hi=1e9)},
    "signal": {"event": _req("str")},
    "wait": {"event": _req("str")},
    "sysctl": {"name": _req("str"), "value": _req("int")},
}


def file_names(a: dict[str, Any]) -> list[str]:
    """The files a phase acts on: ``file``, or ``file.0`` .. ``file.N-1`` with ``count``."""
    count = a.get("count", 1)
    if count == 1:
        return [a["file"]]
    start, step = a.get("start", 0), a.get("step", 1)
    return [f"{a['file']}.{i}" for i in range(start, count, step)]


def touch_offsets(a: dict[str, Any], length: int, hpage_size: int, seed: int) -> list[int]:
    """The offsets (from the start of the range) a touch phase accesses, in order.

    sequential: every ``stride`` bytes (default a page); strided: every ``stride`` bytes
    (default a huge page); random: ``count`` pages drawn uniformly (default as many as the
    range holds); hotcold: ``count`` pages, ``hot_share`` of them drawn from the first
    ``hot`` share of the range's pages (the hot set), the rest from the other (cold) pages.
    """
    pattern = a.get("pattern", "sequential")
    if pattern in ("sequential", "strided"):
        stride = a.get("stride") or (PAGE if pattern == "sequential" else hpage_size)
        return list(range(0, length, stride))
    pages = max(1, length // PAGE)
    count = a.get("count") or pages
    rng = random.Random(seed * 1_000_003 + a.get("seed", 0))
    if pattern == "random":
        return [rng.randrange(pages) * PAGE for _ in range(count)]
    hot = max(1, min(pages, round(pages * a.get("hot", 0.1))))
    cold = pages - hot
    offsets = []
    for _ in range(count):
        if cold == 0 or rng.random() < a.get("hot_share", 0.9):
            offsets.append(rng.randrange(hot) * PAGE)
        else:
            offsets.append((hot + rng.randrange(cold)) * PAGE)
    return offsets


def repeats(offset: int, length: int, every: int | None, end: int) -> list[tuple[int, int]]:
    """(offset, length) of each repeat of a ranged phase with ``every`` (just one without),
    up to *end* (the file's size)."""
    if not every:
        return [(offset, length)]
    return [(off, min(length, end - off)) for off in range(offset, end, every)]
