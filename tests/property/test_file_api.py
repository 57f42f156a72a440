"""The model's file API against a bytes-per-file reference (hypothesis stateful testing).

The reference is written from the syscalls' documented behaviour, not from the model:
contents as one bytearray per file; per page a state (absent, fallocated, data) from which
it derives fstat's blocks (8 per page allocated), statfs (pages in use on the mount),
ENOSPC (a new page needs a free block of the 64 the 256 KiB mount has; a write stops short
at the first page it cannot get) and SEEK_DATA/SEEK_HOLE (data = pages written, uptodate;
fallocated-never-written pages are holes).  Two 6.18 details it follows: a fallocate over
a page fallocated earlier initialises it (zeroes, uptodate: data from then on), and a
fallocate that fails with ENOSPC removes only the pages it added itself.

After every rule, ``check_machine`` must find nothing and every file's bytes must match.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from hugetmpfs.check import check_machine
from hugetmpfs.check.oracle import model_page
from hugetmpfs.mm.mm_types import MMStruct
from hugetmpfs.shmem import vfs
from hugetmpfs.shmem.fileops import WriteSource
from hugetmpfs.shmem.machine import Machine, MachineConfig

PAGE = 4096
MOUNT = 256 << 10
MAX_BLOCKS = MOUNT // PAGE
NAMES = ("a", "b", "c")
ENOENT, EBADF, EEXIST, EINVAL, ENXIO, ENOSPC, EOPNOTSUPP = 2, 9, 17, 22, 6, 28, 95
FALLOC, DATA = "falloc", "data"
KEEP, PUNCH = vfs.FALLOC_FL_KEEP_SIZE, vfs.FALLOC_FL_PUNCH_HOLE


@dataclass(eq=False)
class RefFile:
    data: bytearray = field(default_factory=bytearray)  # len(data) is the size
    pages: dict[int, str] = field(default_factory=dict)  # index -> FALLOC | DATA
    nlink: int = 1
    opens: int = 0

    def zero(self, start: int, end: int) -> None:
        end = min(end, len(self.data))
        if start < end:
            self.data[start:end] = bytes(end - start)

    def drop_pages(self, first: int, last: int | None = None) -> None:
        for index in [i for i in self.pages if i >= first and (last is None or i < last)]:
            del self.pages[index]


@dataclass
class Handle:
    fd: int
    file: RefFile
    readable: bool
    writable: bool
    append: bool


offsets = st.one_of(st.integers(0, 16 * PAGE), st.integers(0, 80 * PAGE))
lengths = st.one_of(st.integers(1, 9000), st.integers(8 * PAGE, 72 * PAGE))


class FileApi(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.m = Machine(MachineConfig(ram=16 << 20))
        self.task = vfs.Task(self.m, self.m.mount("never", MOUNT), MMStruct(self.m))
        self.names: dict[str, RefFile] = {}
        self.handles: list[Handle] = []

    # -- the reference's derived quantities -----------------------------------------------

    def live(self) -> list[RefFile]:
        files = list(self.names.values()) + [h.file for h in self.handles]
        return list({id(f): f for f in files}.values())

    def used(self) -> int:
        return sum(len(f.pages) for f in self.live())

    def handle(self, i: int) -> Handle:
        return self.handles[i % len(self.handles)]

    # -- rules ----------------------------------------------------------------------------

    @initialize()
    def open_first(self) -> None:
        self.open("a", vfs.O_RDWR, creat=True, excl=False, trunc=False, append=False)

    @rule(
        name=st.sampled_from(NAMES),
        access=st.sampled_from((0, vfs.O_WRONLY, vfs.O_RDWR, vfs.O_RDWR, vfs.O_RDWR)),
        creat=st.booleans(),
        excl=st.booleans(),
        trunc=st.booleans(),
        append=st.booleans(),
    )
    def open(self, name: str, access: int, creat: bool, excl: bool, trunc: bool, append: bool):
        flags = access | (vfs.O_CREAT if creat else 0) | (vfs.O_EXCL if excl else 0)
        flags |= (vfs.O_TRUNC if trunc else 0) | (vfs.O_APPEND if append else 0)
        fd = vfs.sys_open(self.task, name, flags)
        f = self.names.get(name)
        if f is None and not creat:
            assert fd == -ENOENT
            return
        if f is not None and creat and excl:
            assert fd == -EEXIST
            return
        assert fd >= 3
        if f is None:
            f = self.names[name] = RefFile()
        if trunc:
            self._truncate(f, 0)
        f.opens += 1
        readable, writable = access != vfs.O_WRONLY, access != 0
        self.handles.append(Handle(fd, f, readable, writable, append))

    @precondition(lambda self: self.handles)
    @rule(i=st.integers(0, 7))
    def close(self, i: int) -> None:
        h = self.handle(i)
        assert vfs.sys_close(self.task, h.fd) == 0
        self.handles.remove(h)
        h.file.opens -= 1
        self._maybe_evict(h.file)

    @rule(name=st.sampled_from(NAMES))
    def unlink(self, name: str) -> None:
        ret = vfs.sys_unlink(self.task, name)
        f = self.names.pop(name, None)
        if f is None:
            assert ret == -ENOENT
            return
        assert ret == 0
        f.nlink = 0
        self._maybe_evict(f)

    def _maybe_evict(self, f: RefFile) -> None:
        if not f.nlink and not f.opens:
            f.pages.clear()

    @precondition(lambda self: self.handles)
    @rule(i=st.integers(0, 7), offset=offsets, length=lengths, byte=st.integers(0, 255))
    def pwrite_fill(self, i: int, offset: int, length: int, byte: int) -> None:
        self._pwrite(self.handle(i), offset, WriteSource(length, byte=byte), bytes([byte]) * length)

    @precondition(lambda self: self.handles)
    @rule(
        i=st.integers(0, 7),
        offset=st.one_of(offsets, st.integers(0, 20).map(lambda k: k * PAGE)),
        data=st.one_of(
            st.binary(min_size=1, max_size=300), st.binary(min_size=4000, max_size=9000)
        ),
    )
    def pwrite_data(self, i: int, offset: int, data: bytes) -> None:
        self._pwrite(self.handle(i), offset, WriteSource(len(data), data=data), data)

    def _pwrite(self, h: Handle, offset: int, src: WriteSource, data: bytes) -> None:
        ret = vfs.sys_pwrite64(self.task, h.fd, src, offset)
        if not h.writable:
            assert ret == -EBADF
            return
        f = h.file
        pos = len(f.data) if h.append else offset
        written = 0
        while written < len(data):
            index = (pos + written) // PAGE
            n = min(PAGE - (pos + written) % PAGE, len(data) - written)
            if index not in f.pages and self.used() >= MAX_BLOCKS:
                break
            f.pages[index] = DATA
            end = pos + written + n
            if end > len(f.data):
                f.data.extend(bytes(end - len(f.data)))
            f.data[pos + written : end] = data[written : written + n]
            written += n
        assert ret == (written if written else -ENOSPC), (ret, written)

    @precondition(lambda self: self.handles)
    @rule(i=st.integers(0, 7), offset=offsets, length=st.integers(0, 12000))
    def pread(self, i: int, offset: int, length: int) -> None:
        h = self.handle(i)
        out = bytearray()
        ret = vfs.sys_pread64(self.task, h.fd, length, offset, out.extend)
        if not h.readable:
            assert ret == -EBADF
            return
        want = bytes(h.file.data[offset : offset + length])
        assert ret == len(want)
        assert bytes(out) == want

    @precondition(lambda self: self.handles)
    @rule(i=st.integers(0, 7), length=st.one_of(st.integers(0, 30000), offsets))
    def ftruncate(self, i: int, length: int) -> None:
        h = self.handle(i)
        ret = vfs.sys_ftruncate(self.task, h.fd, length)
        if not h.writable:
            assert ret == -EINVAL
            return
        assert ret == 0
        self._truncate(h.file, length)

    def _truncate(self, f: RefFile, length: int) -> None:
        if length < len(f.data):
            f.drop_pages((length + PAGE - 1) // PAGE)
            del f.data[length:]
        else:
            f.data.extend(bytes(length - len(f.data)))

    @precondition(lambda self: self.handles)
    @rule(
        i=st.integers(0, 7),
        mode=st.sampled_from((0, KEEP, PUNCH | KEEP, PUNCH)),
        offset=offsets,
        length=lengths,
    )
    def fallocate(self, i: int, mode: int, offset: int, length: int) -> None:
        h = self.handle(i)
        ret = vfs.sys_fallocate(self.task, h.fd, mode, offset, length)
        if mode == PUNCH:
            assert ret == -EOPNOTSUPP
        elif not h.writable:
            assert ret == -EBADF
        elif mode & PUNCH:
            assert ret == 0
            self._punch(h.file, offset, length)
        else:
            assert ret == self._allocate(h.file, offset, length, mode & KEEP)

    def _punch(self, f: RefFile, offset: int, length: int) -> None:
        end = offset + length
        f.drop_pages((offset + PAGE - 1) // PAGE, end // PAGE)
        f.zero(offset, end)

    def _allocate(self, f: RefFile, offset: int, length: int, keep: int) -> int:
        start, end = offset // PAGE, (offset + length + PAGE - 1) // PAGE
        if end - start > MAX_BLOCKS:
            return -ENOSPC
        added = []
        for index in range(start, end):
            if index in f.pages:
                f.pages[index] = DATA  # 6.18: a page fallocated earlier is initialised
                continue
            if self.used() >= MAX_BLOCKS:
                for page in added:  # undo: only what this call added
                    del f.pages[page]
                return -ENOSPC
            f.pages[index] = FALLOC
            added.append(index)
        if not keep and offset + length > len(f.data):
            f.data.extend(bytes(offset + length - len(f.data)))
        return 0

    @precondition(lambda self: self.handles)
    @rule(
        i=st.integers(0, 7), offset=st.one_of(st.integers(0, 8 * PAGE), offsets), hole=st.booleans()
    )
    def seek(self, i: int, offset: int, hole: bool) -> None:
        h = self.handle(i)
        whence = vfs.SEEK_HOLE if hole else vfs.SEEK_DATA
        ret = vfs.sys_lseek(self.task, h.fd, offset, whence)
        assert ret == self._seek(h.file, offset, hole)

    def _seek(self, f: RefFile, offset: int, hole: bool) -> int:
        size = len(f.data)
        if offset >= size:
            return -ENXIO
        last = (size + PAGE - 1) // PAGE
        for index in range(offset // PAGE, last):
            if (f.pages.get(index) == DATA) != hole:
                return min(max(offset, index * PAGE), size)
        return size if hole else -ENXIO

    @precondition(lambda self: self.handles)
    @rule(i=st.integers(0, 7))
    def fstat(self, i: int) -> None:
        h = self.handle(i)
        assert vfs.sys_fstat(self.task, h.fd) == (0, len(h.file.data), 8 * len(h.file.pages))

    @rule()
    def statfs(self) -> None:
        assert vfs.sys_statfs(self.task) == (0, self.used())

    # -- after every rule -----------------------------------------------------------------

    @invariant()
    def machine_is_consistent(self) -> None:
        assert check_machine(self.m) == []

    @invariant()
    def every_byte_matches(self) -> None:
        inodes = {id(f): self.task.sb.names[name] for name, f in self.names.items()}
        for h in self.handles:
            inodes[id(h.file)] = self.task.files[h.fd].inode
        for f in self.live():
            inode = inodes[id(f)]
            assert inode.i_size == len(f.data)
            for index in range((len(f.data) + PAGE - 1) // PAGE):
                want = bytes(f.data[index * PAGE : (index + 1) * PAGE])
                got = model_page(self.m, inode, index)[: len(want)]
                assert got == want, f"{inode!r} page {index}"


FileApi.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=50,
    derandomize=True,
    database=None,
    deadline=None,
)
TestFileApi = FileApi.TestCase
