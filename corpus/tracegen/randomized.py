"""Seeded random traces: op sequences over 1–3 files and 1–2 mappings, sizes up to a few MiB.

Each trace is a pure function of its seed (``random.Random(seed)``, whose integer methods are
stable across Python versions).  The walk keeps a rough idea of each file's size so that
offsets cluster where tmpfs has decisions to make: around EOF and page and 2 MiB boundaries.
Mistakes (closed handles, bad ranges, touches past EOF) are drawn on purpose, sparingly.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from tracegen.builder import HPAGE, PAGE, KiB, MiB, Trace

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

OPEN_FLAGS = (
    (("RDWR", "CREAT"), 6),
    (("RDWR",), 3),
    (("RDONLY",), 1),
    (("WRONLY", "CREAT"), 1),
    (("RDWR", "CREAT", "TRUNC"), 1),
    (("RDWR", "APPEND"), 1),
    (("RDWR", "CREAT", "EXCL"), 1),
)
FALLOC_MODES = (
    (("KEEP_SIZE",), 3),
    ((), 2),
    (("PUNCH_HOLE", "KEEP_SIZE"), 4),
    (("PUNCH_HOLE",), 1),
    (("ZERO_RANGE",), 1),
)
ADVICES = ("DONTNEED", "REMOVE", "WILLNEED", "POPULATE_READ", "POPULATE_WRITE", "NORMAL")
ADVICES += ("SEQUENTIAL", "RANDOM", "COLD", "HUGEPAGE", "NOHUGEPAGE")
STRIDES = (PAGE, PAGE, 2 * PAGE, 4097, 3 * PAGE + 1, 64 * KiB, 3000)
WHENCES = ("SET", "CUR", "END", "DATA", "HOLE")


def _weighted(rng: random.Random, table: tuple) -> tuple:
    return rng.choices([v for v, _ in table], [w for _, w in table])[0]


class _Walk:
    """One random trace: the builder plus a rough picture of files and maps."""

    def __init__(self, seed: int, huge: str) -> None:
        self.rng = rng = random.Random(seed)
        self.paths = ["a", "b", "c"][: rng.randint(1, 3)]
        self.map_names = ["m", "n"][: rng.randint(1, 2)]
        # size= limits only on never: at the limit, huge designs may legitimately differ in
        # which write comes up short (EOF-straddling huge pages hold space until split).
        size = rng.choice((None, None, None, "8M", "3M")) if huge == "never" else None
        self.n_ops = rng.randint(25, 50)
        self.t = Trace(
            f"random-s{seed}",
            f"seeded random ops (seed {seed}): {len(self.paths)} files, "
            f"{len(self.map_names)} maps, {self.n_ops} ops, size={size or 'default'}",
            huge,
            size,
        )
        self.size = dict.fromkeys(self.paths, 0)  # rough: what the trace has asked for
        self.maps: dict[str, int] = {}  # map handle -> length, once mmap was issued
        for path in self.paths:
            self.t.create(path)

    # -- drawing values ----------------------------------------------------------------

    def offset(self, path: str) -> int:
        rng, kind = self.rng, self.rng.random()
        if kind < 0.3:
            off = self.size[path] + rng.choice((-4097, -4096, -1, 0, 1, 4095, 4096))
        elif kind < 0.6:
            off = rng.randrange(1024) * PAGE
        elif kind < 0.8:
            off = rng.randrange(3) * HPAGE + rng.choice((-PAGE, -1, 0, 1, PAGE))
        else:
            off = rng.randrange(4 * MiB)
        return max(off, 0)

    def length(self) -> int:
        rng, kind = self.rng, self.rng.random()
        if kind < 0.05:
            return 0
        if kind < 0.2:
            return rng.randint(1, 64)
        if kind < 0.6:
            return rng.randint(1, 16) * PAGE
        if kind < 0.85:
            return rng.randrange(256 * KiB)
        if kind < 0.95:
            return HPAGE + rng.choice((-PAGE, 0, PAGE))
        return rng.randrange(3 * MiB)

    # -- ops ---------------------------------------------------------------------------

    def op_pwrite(self, path: str) -> None:
        off = self.offset(path)
        if self.rng.random() < 0.3:
            data = self.rng.randbytes(self.rng.randint(1, 48))
            self.t.pwrite_hex(path, off, data)
            n = len(data)
        else:
            n = self.length()
            self.t.pwrite(path, off, n, self.rng.randrange(256))
        if n:
            self.size[path] = max(self.size[path], off + n)

    def op_pread(self, path: str) -> None:
        self.t.pread(path, self.offset(path), min(self.length(), HPAGE + PAGE))

    def op_ftruncate(self, path: str) -> None:
        length = -1 if self.rng.random() < 0.05 else self.offset(path)
        self.t.ftruncate(path, length)
        if length >= 0:
            self.size[path] = length

    def op_fallocate(self, path: str) -> None:
        mode = _weighted(self.rng, FALLOC_MODES)
        off, n = self.offset(path), self.length()
        self.t.fallocate(path, mode, off, n)
        if mode == () and n > 0:
            self.size[path] = max(self.size[path], off + n)

    def op_lseek(self, path: str) -> None:
        whence = self.rng.choice(WHENCES)
        off = self.offset(path) if whence != "CUR" else self.rng.choice((0, 1, -1, PAGE))
        self.t.lseek(path, off, whence)

    def op_state(self, path: str) -> None:
        if self.rng.random() < 0.6:
            self.t.fstat(path)
        else:
            self.t.statfs()

    def op_open(self, path: str) -> None:
        flags = _weighted(self.rng, OPEN_FLAGS)
        self.t.open(path, *flags)
        if "TRUNC" in flags:
            self.size[path] = 0

    def op_close(self, path: str) -> None:
        self.t.close(path)

    def op_unlink(self, path: str) -> None:
        self.t.unlink(path)

    def op_mmap(self, path: str) -> None:
        rng, name = self.rng, self.rng.choice(self.map_names)
        off = rng.randrange(512) * PAGE + (rng.choice((1, 100)) if rng.random() < 0.05 else 0)
        length = rng.randint(1, 1024) * PAGE
        prot = "rw" if rng.random() < 0.75 else "r"
        self.t.mmap(path, name, off, length, prot, rng.random() < 0.7)
        self.maps[name] = length

    def op_map(self, path: str) -> None:
        """touch, madvise, smaps or munmap on a mapping issued earlier (or mmap one)."""
        if not self.maps:
            self.op_mmap(path)
            return
        name = self.rng.choice(sorted(self.maps))
        kind = self.rng.random()
        if kind < 0.55:
            self.touch(name)
        elif kind < 0.75:
            self.madvise(name)
        elif kind < 0.93:
            # On never, Rss after read touches shows the fault-around windows, which the
            # placement rule (DESIGN.md §3.3) makes deterministic.
            self.t.smaps(name)
        else:
            self.t.munmap(name)

    def touch(self, name: str) -> None:
        rng, length = self.rng, self.maps[name]
        off = rng.randrange(length) if rng.random() < 0.9 else length + rng.choice((-1, 0, PAGE))
        stride = rng.choice(STRIDES)
        n = rng.randint(1, 64) if rng.random() < 0.1 else rng.randint(1, length // PAGE) * PAGE
        if rng.random() < 0.1:
            stride = 1
            n = min(n, 64)
        self.t.touch(name, off, n, stride, rng.randrange(256) if rng.random() < 0.5 else None)

    def madvise(self, name: str) -> None:
        rng, pages = self.rng, self.maps[name] // PAGE
        start = rng.randrange(pages)
        n = rng.randint(1, pages - start) + (rng.randint(1, 8) if rng.random() < 0.1 else 0)
        self.t.madvise(name, start * PAGE, n * PAGE, rng.choice(ADVICES))

    # -- the walk ----------------------------------------------------------------------

    def build(self) -> Trace:
        ops: tuple[tuple[Callable[[str], None], int], ...] = (
            (self.op_pwrite, 20),
            (self.op_pread, 10),
            (self.op_ftruncate, 5),
            (self.op_fallocate, 8),
            (self.op_lseek, 5),
            (self.op_state, 8),
            (self.op_open, 3),
            (self.op_close, 2),
            (self.op_unlink, 1),
            (self.op_mmap, 4),
            (self.op_map, 24),
        )
        for _ in range(self.n_ops):
            _weighted(self.rng, ops)(self.rng.choice(self.paths))
        for path in self.paths:  # the final content of every file still reachable by name
            self.t.open(path, as_="z").fstat("z").pread("z", 0, 8 * MiB)
        self.t.statfs()
        if self.rng.random() < 0.3:
            self.t.meminfo()
        return self.t


def random_traces(huge: str) -> Iterator[Trace]:
    """60 random traces on never, 30 on huge mounts, each from its own fixed seed."""
    first, count = (1000, 60) if huge == "never" else (2000, 30)
    for seed in range(first, first + count):
        yield _Walk(seed, huge).build()
