"""The system calls traces make, with Linux 6.18's argument checks in Linux's order.

Each ``sys_*`` returns what the syscall returns: a non-negative value, or -errno.  The
checks that come before the file descriptor is looked up (negative offsets for pread and
pwrite, negative lengths for ftruncate) come first here too, so errno precedence matches the
kernel's (DESIGN.md §3.3).

Models: fs/open.c, fs/read_write.c, fs/namei.c (open, unlink), fs/stat.c, fs/statfs.c, and
the VFS side of mm/shmem.c (shmem_getattr, shmem_statfs, shmem_evict_inode) as of 6.18.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hugetmpfs.mm.mmap import huge_align_unmapped_area, mm_get_unmapped_area
from hugetmpfs.shmem.fault import shmem_vm_ops
from hugetmpfs.shmem.fileops import (
    SEEK_DATA,
    SEEK_HOLE,
    WriteSource,
    shmem_fallocate,
    shmem_file_read,
    shmem_file_write,
    shmem_seek_hole_data,
    shmem_setattr_size,
    shmem_truncate_range,
)
from hugetmpfs.shmem.inode import (
    MAX_LFS_FILESIZE,
    SHMEM_HUGE_NEVER,
    ShmemInodeInfo,
    ShmemSbInfo,
    shmem_get_inode,
)
from hugetmpfs.shmem.recovery import shmem_wait_recoveries

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.mm.filemap import AddressSpace
    from hugetmpfs.mm.mm_types import VMA, MMStruct
    from hugetmpfs.shmem.machine import Machine

EBADF, ENOENT, EEXIST, EINVAL, ENOTDIR, ENAMETOOLONG = 9, 2, 17, 22, 20, 36
EOPNOTSUPP, EFBIG, ENXIO = 95, 27, 6

O_ACCMODE = 0o3
O_WRONLY, O_RDWR = 0o1, 0o2
O_CREAT, O_EXCL, O_TRUNC, O_APPEND = 0o100, 0o200, 0o1000, 0o2000
FMODE_READ, FMODE_WRITE = 0x1, 0x2
SEEK_SET, SEEK_CUR, SEEK_END = 0, 1, 2
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_COLLAPSE_RANGE = 0x08
FALLOC_FL_ZERO_RANGE = 0x10
FALLOC_FL_INSERT_RANGE = 0x20
FALLOC_FL_MODE_MASK = (
    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_INSERT_RANGE
)
NAME_MAX = 255


@dataclass(eq=False)
class File:
    """struct file: an open tmpfs file (shared by the fd table and the VMAs mapping it)."""

    inode: ShmemInodeInfo
    f_flags: int
    f_mode: int
    f_pos: int = 0
    f_count: int = 1

    @property
    def f_mapping(self) -> AddressSpace:
        return self.inode.mapping

    # -- file_operations the mm layer calls (mm/mm_types.py MmapFile) ----------------------

    def mmap(self, m: Machine, vma: VMA) -> int:
        """shmem_mmap: faults go to shmem_fault."""
        vma.vm_ops = shmem_vm_ops
        return 0

    def get_unmapped_area(
        self, m: Machine, mm: MMStruct, addr: int, length: int, pgoff: int, flags: int
    ) -> int:
        """shmem_get_unmapped_area (patch 07/31): huge-aligned where huge pages may be used."""
        if shmem_huge_enabled_for_mapping(m, self.inode.sb):
            return huge_align_unmapped_area(m, mm, self, addr, length, pgoff, flags)
        return mm_get_unmapped_area(m, mm, self, addr, length, pgoff, flags)

    def get_file(self) -> None:
        """A VMA takes a reference to the file it maps."""
        self.f_count += 1

    def fput(self, m: Machine) -> None:
        fput(m, self)

    def madvise_collapse(self, m: Machine, vma: VMA, start: int, end: int) -> int:
        """MADV_COLLAPSE: recovery of each extent, synchronously (shmem/collapse.py)."""
        from hugetmpfs.shmem.collapse import shmem_madvise_collapse

        return shmem_madvise_collapse(m, vma, start, end)

    def fallocate_punch(self, m: Machine, offset: int, length: int) -> int:
        """MADV_REMOVE's vfs_fallocate(PUNCH_HOLE | KEEP_SIZE)."""
        mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
        error = _vfs_fallocate_checks(self, mode, offset, length)
        if error:
            return error
        return shmem_fallocate(m, self.inode, True, True, offset, length)


class Task:
    """A process: its open files and its address space."""

    def __init__(self, m: Machine, sb: ShmemSbInfo, mm: MMStruct) -> None:
        self.m = m
        self.sb = sb
        self.mm = mm
        self.files: dict[int, File] = {}

    def fd_install(self, file: File) -> int:
        fd = 3  # 0-2 are the standard streams
        while fd in self.files:
            fd += 1
        self.files[fd] = file
        return fd


SHMEM_HUGE_DENY, SHMEM_HUGE_FORCE = -1, 2


def shmem_huge_enabled_for_mapping(m: Machine, sb: ShmemSbInfo) -> bool:
    """Whether mappings of this mount are placed for huge pmds (patch 03/31's policy)."""
    shmem_huge = m.sysctl.shmem_huge
    if shmem_huge == SHMEM_HUGE_DENY:
        return False
    return shmem_huge == SHMEM_HUGE_FORCE or sb.huge != SHMEM_HUGE_NEVER


def get_file(file: File) -> File:
    file.f_count += 1
    return file


def fput(m: Machine, file: File) -> None:
    """Drop a reference to an open file; the last one releases its inode."""
    file.f_count -= 1
    if file.f_count == 0:
        iput(m, file.inode)


def iput(m: Machine, inode: ShmemInodeInfo) -> None:
    inode.i_count -= 1
    if inode.i_count == 0 and inode.i_nlink == 0:
        shmem_evict_inode(m, inode)


def shmem_evict_inode(m: Machine, inode: ShmemInodeInfo) -> None:
    """The last user of an unlinked inode is gone: free its pages and swap."""
    inode.i_size = 0
    shmem_truncate_range(m, inode, 0, -1)
    shmem_shrinklist_del(m, inode)
    shmem_wait_recoveries(m, inode)  # recovery/R13: queued and running works hold it
    inode.evicted = True
    del inode.sb.s_inodes[inode.ino]  # evict()'s inode_sb_list_del
    m.shmem_evicted(m, inode)


def shmem_shrinklist_del(m: Machine, inode: ShmemInodeInfo) -> None:
    """Eviction takes the inode off the hugehole shrinker's list (patch 06/31).

    Guards: base/R6.1 (the shrinker disbands a chosen team holding only this lock, so the
    inode may be freed only once it is off the list under the lock)."""
    if not inode.on_shrinklist:
        return
    if not m.guard_on("base/R6.1"):
        _shrinklist_unlink(m, inode)
        return
    with m.shrinklist_lock:
        if inode.on_shrinklist:
            _shrinklist_unlink(m, inode)


def _shrinklist_unlink(m: Machine, inode: ShmemInodeInfo) -> None:
    m.shrinklist.remove(inode)
    inode.on_shrinklist = False


# -- names --------------------------------------------------------------------------------


def _lookup(task: Task, path: str) -> tuple[int, ShmemInodeInfo | None]:
    parts = path.split("/")
    if any(len(p.encode()) > NAME_MAX for p in parts):
        return -ENAMETOOLONG, None
    if len(parts) > 1:  # only the root directory exists
        return (-ENOTDIR if parts[0] in task.sb.names else -ENOENT), None
    return 0, task.sb.names.get(path)


def sys_open(task: Task, path: str, flags: int) -> int:
    """open(path, flags, 0600) as root: the new fd, or -errno."""
    m = task.m
    error, inode = _lookup(task, path)
    if error:
        return error
    if inode is None:
        if not flags & O_CREAT:
            return -ENOENT
        inode = shmem_get_inode(m, task.sb)
        task.sb.names[path] = inode
    elif flags & O_CREAT and flags & O_EXCL:
        return -EEXIST
    if flags & O_TRUNC:
        shmem_setattr_size(m, inode, 0)
    inode.i_count += 1
    f_mode = (flags + 1) & O_ACCMODE  # OPEN_FMODE: access mode 3 gives neither
    return task.fd_install(File(inode, flags, f_mode))


def sys_unlink(task: Task, path: str) -> int:
    error, inode = _lookup(task, path)
    if error:
        return error
    if inode is None:
        return -ENOENT
    del task.sb.names[path]
    inode.i_nlink = 0
    if inode.i_count == 0:
        shmem_evict_inode(task.m, inode)
    return 0


def sys_close(task: Task, fd: int) -> int:
    file = task.files.pop(fd, None)
    if file is None:
        return -EBADF
    fput(task.m, file)
    return 0


# -- data ---------------------------------------------------------------------------------


def sys_pread64(task: Task, fd: int, count: int, pos: int, sink: Callable[[bytes], None]) -> int:
    if pos < 0:
        return -EINVAL
    file = task.files.get(fd)
    if file is None or not file.f_mode & FMODE_READ:
        return -EBADF
    if pos + count > MAX_LFS_FILESIZE:
        return -EINVAL  # rw_verify_area: pos + count wraps
    return shmem_file_read(task.m, file.inode, pos, count, sink)


def sys_pwrite64(task: Task, fd: int, src: WriteSource, pos: int) -> int:
    if pos < 0:
        return -EINVAL
    file = task.files.get(fd)
    if file is None or not file.f_mode & FMODE_WRITE:
        return -EBADF
    if pos + src.length > MAX_LFS_FILESIZE:
        return -EINVAL
    if src.length == 0:
        return 0
    inode = file.inode
    if file.f_flags & O_APPEND:
        pos = inode.i_size  # Linux's pwrite appends on O_APPEND files, whatever the offset
    if pos >= MAX_LFS_FILESIZE:
        return -EFBIG
    if src.length > MAX_LFS_FILESIZE - pos:
        src = WriteSource(MAX_LFS_FILESIZE - pos, src.byte, src.data)
    return shmem_file_write(task.m, inode, pos, src)


def sys_ftruncate(task: Task, fd: int, length: int) -> int:
    if length < 0:
        return -EINVAL
    file = task.files.get(fd)
    if file is None:
        return -EBADF
    if not file.f_mode & FMODE_WRITE:
        return -EINVAL
    return shmem_setattr_size(task.m, file.inode, length)


def sys_fallocate(task: Task, fd: int, mode: int, offset: int, length: int) -> int:
    file = task.files.get(fd)
    if file is None:
        return -EBADF
    error = _vfs_fallocate_checks(file, mode, offset, length)
    if error:
        return error
    if mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE):
        return -EOPNOTSUPP  # shmem_fallocate supports only these
    return shmem_fallocate(
        task.m,
        file.inode,
        bool(mode & FALLOC_FL_PUNCH_HOLE),
        bool(mode & FALLOC_FL_KEEP_SIZE),
        offset,
        length,
    )


def _vfs_fallocate_checks(file: File, mode: int, offset: int, length: int) -> int:
    if offset < 0 or length <= 0:
        return -EINVAL
    kind = mode & FALLOC_FL_MODE_MASK
    if kind == FALLOC_FL_PUNCH_HOLE and not mode & FALLOC_FL_KEEP_SIZE:
        return -EOPNOTSUPP
    if kind in (FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE) and mode & FALLOC_FL_KEEP_SIZE:
        return -EOPNOTSUPP
    if kind not in (
        0,
        FALLOC_FL_ZERO_RANGE,
        FALLOC_FL_PUNCH_HOLE,
        FALLOC_FL_COLLAPSE_RANGE,
        FALLOC_FL_INSERT_RANGE,
    ):
        return -EOPNOTSUPP  # modes are exclusive
    if not file.f_mode & FMODE_WRITE:
        return -EBADF
    if offset + length > MAX_LFS_FILESIZE:
        return -EFBIG
    return 0


def sys_lseek(task: Task, fd: int, offset: int, whence: int) -> int:
    file = task.files.get(fd)
    if file is None:
        return -EBADF
    inode = file.inode
    if whence in (SEEK_DATA, SEEK_HOLE):
        if offset < 0:
            return -ENXIO
        new = shmem_seek_hole_data(task.m, inode, offset, whence)
        if new < 0:
            return new
    elif whence == SEEK_SET:
        new = offset
    elif whence == SEEK_CUR:
        if offset == 0:
            return file.f_pos
        new = file.f_pos + offset
    elif whence == SEEK_END:
        new = inode.i_size + offset
    else:
        return -EINVAL
    if new < 0 or new > MAX_LFS_FILESIZE:
        return -EINVAL
    file.f_pos = new
    return new


def sys_fstat(task: Task, fd: int) -> tuple[int, int, int]:
    """(0 or -errno, st_size, st_blocks)."""
    file = task.files.get(fd)
    if file is None:
        return -EBADF, 0, 0
    return 0, file.inode.i_size, file.inode.i_blocks


def sys_statfs(task: Task) -> tuple[int, int]:
    """(0, pages in use: f_blocks - f_bfree)."""
    return 0, task.sb.used_blocks
