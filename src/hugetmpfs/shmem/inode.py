"""tmpfs superblocks and inodes: struct shmem_sb_info, struct shmem_inode_info.

Models: include/linux/shmem_fs.h and mm/shmem.c (v4.6-rc2): shmem_get_inode,
shmem_recalc_inode, shmem_evict_inode, the size= block accounting (used_blocks against
max_blocks), with the fields the series adds (sb huge, info->shrinklist, info->recoveries).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hugetmpfs.mm.filemap import AddressSpace
from hugetmpfs.mm.page_alloc import GFP_HIGHUSER_MOVABLE
from hugetmpfs.sim import SpinLock

if TYPE_CHECKING:
    from hugetmpfs.shmem.machine import Machine

BLOCKS_PER_PAGE = 8  # 512-byte blocks in a page
MAX_LFS_FILESIZE = (1 << 63) - 1

# shmem_sb_info.huge (patch 03/31 keeps 0/1; the upstream names map onto policies)
SHMEM_HUGE_NEVER = 0
SHMEM_HUGE_ALWAYS = 1
SHMEM_HUGE_WITHIN_SIZE = 2
SHMEM_HUGE_ADVISE = 3
HUGE_MODES = {
    "never": SHMEM_HUGE_NEVER,
    "always": SHMEM_HUGE_ALWAYS,
    "within_size": SHMEM_HUGE_WITHIN_SIZE,
    "advise": SHMEM_HUGE_ADVISE,
}


class ShmemSbInfo:
    """One tmpfs mount: its size limit in pages, usage, huge policy and inodes by name."""

    def __init__(self, m: Machine, max_blocks: int, huge: int) -> None:
        self.m = m
        self.max_blocks = max_blocks
        self.used_blocks = 0  # the kernel's percpu_counter, exact here
        self.huge = huge
        self.stat_lock = SpinLock(m.engine, "swap_info_lock", "stat_lock")
        self.names: dict[str, ShmemInodeInfo] = {}  # the root directory
        # super_block.s_inodes: every inode not yet evicted, named or only open, by ino
        # (creation order).  check/ sums their blocks against used_blocks.
        self.s_inodes: dict[int, ShmemInodeInfo] = {}
        self.next_ino = 2


class ShmemInodeInfo:
    """A tmpfs inode together with its shmem_inode_info (one object in the model).

    ``i_count`` counts what keeps the inode alive besides its name: open files and
    mappings; the inode is evicted when it has neither name nor users.
    """

    def __init__(self, m: Machine, sb: ShmemSbInfo) -> None:
        self.sb = sb
        self.ino = sb.next_ino
        sb.next_ino += 1
        self.i_size = 0
        self.i_blocks = 0
        self.i_nlink = 1
        self.i_count = 0
        self.alloced = 0  # data pages: in the page cache or swapped
        self.swapped = 0  # pages on swap
        self.flags = 0
        self.info_lock = SpinLock(m.engine, "swap_info_lock", "info->lock")
        self.mapping = AddressSpace(m, self, "shmem_aops", GFP_HIGHUSER_MOVABLE)
        # patch 06/31: on shmem_shrinklist while the mapping may hold HUGEHOLE-tagged teams
        self.on_shrinklist = False
        # patch 23/31: queued or running recovery works holding this inode
        self.recoveries = 0
        self.evicted = False
        sb.s_inodes[self.ino] = self

    def __repr__(self) -> str:
        return f"inode#{self.ino}"


def shmem_get_inode(m: Machine, sb: ShmemSbInfo) -> ShmemInodeInfo:
    return ShmemInodeInfo(m, sb)


def shmem_recalc_inode(m: Machine, inode: ShmemInodeInfo) -> None:
    """Give back the blocks of pages that left the page cache without being swapped.

    Called with info->lock held after nrpages went down (truncation, eviction).
    """
    freed = inode.alloced - inode.swapped - inode.mapping.nrpages
    if freed > 0:
        inode.alloced -= freed
        inode.i_blocks -= freed * BLOCKS_PER_PAGE
        shmem_unacct_blocks(inode, freed)


def shmem_acct_block_ok(inode: ShmemInodeInfo, pages: int) -> bool:
    """Charge *pages* against size=; False (ENOSPC) if the mount is full."""
    sb = inode.sb
    if sb.max_blocks:
        if sb.used_blocks + pages > sb.max_blocks:
            return False
        sb.used_blocks += pages
    return True


def shmem_unacct_blocks(inode: ShmemInodeInfo, pages: int) -> None:
    sb = inode.sb
    if sb.max_blocks:
        sb.used_blocks -= pages


def inode_of(mapping: AddressSpace) -> Any:
    return mapping.host
