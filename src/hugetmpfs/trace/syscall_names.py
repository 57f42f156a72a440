"""Linux's numbers for the names traces use: open flags, fallocate modes, whences, madvise
advice and errno names (Linux x86-64 and arm64 values, which agree for all of these).

Both runners read these tables: the kernel runner to call the real syscalls, the model runner
to call the model's.
"""

from __future__ import annotations

import errno

from hugetmpfs.trace.ops import ERRNO_ALIASES

OPEN_FLAGS = {
    "O_RDONLY": 0o0,
    "O_WRONLY": 0o1,
    "O_RDWR": 0o2,
    "O_CREAT": 0o100,
    "O_EXCL": 0o200,
    "O_TRUNC": 0o1000,
    "O_APPEND": 0o2000,
}
FALLOC_MODES = {
    "KEEP_SIZE": 0x01,
    "PUNCH_HOLE": 0x02,
    "COLLAPSE_RANGE": 0x08,
    "ZERO_RANGE": 0x10,
    "INSERT_RANGE": 0x20,
}
WHENCE = {"SEEK_SET": 0, "SEEK_CUR": 1, "SEEK_END": 2, "SEEK_DATA": 3, "SEEK_HOLE": 4}
MADVICE = {
    "MADV_NORMAL": 0,
    "MADV_RANDOM": 1,
    "MADV_SEQUENTIAL": 2,
    "MADV_WILLNEED": 3,
    "MADV_DONTNEED": 4,
    "MADV_FREE": 8,
    "MADV_REMOVE": 9,
    "MADV_HUGEPAGE": 14,
    "MADV_NOHUGEPAGE": 15,
    "MADV_COLD": 20,
    "MADV_PAGEOUT": 21,
    "MADV_POPULATE_READ": 22,
    "MADV_POPULATE_WRITE": 23,
    "MADV_COLLAPSE": 25,
}

#: errno number -> the contract's name (EOPNOTSUPP, EAGAIN, EDEADLK: never the aliases).
ERRNO_NAMES = {num: ERRNO_ALIASES.get(name, name) for num, name in sorted(errno.errorcode.items())}
ERRNO_NAMES[95] = "EOPNOTSUPP"
ERRNO_NAMES[11] = "EAGAIN"
ERRNO_NAMES[35] = "EDEADLK"
ERRNO_NAMES[117] = "EUCLEAN"
