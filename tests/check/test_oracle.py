"""The data oracle: it follows the syscalls, and finds the first wrong byte of a file."""

from __future__ import annotations

import random

import pytest
from checkrig import O_RDWR_CREAT, busy_rig, make_rig, swap_out

from hugetmpfs.check import check_machine, exposed_poison
from hugetmpfs.check.oracle import FileState
from hugetmpfs.mm.page_alloc import POISON
from hugetmpfs.mm.page_flags import PG_uptodate
from hugetmpfs.shmem import vfs

PUNCH = vfs.FALLOC_FL_PUNCH_HOLE | vfs.FALLOC_FL_KEEP_SIZE


def test_file_state_zero_and_put() -> None:
    f = FileState()
    f.size = 3 * 4096
    f.put(100, 7, 9000)
    assert f.page_bytes(0)[99:101] == b"\x00\x07"
    assert f.pages[1] == 7  # a whole page of one byte stays one int
    f.zero(4000, 200)  # across a page boundary
    assert f.page_bytes(0)[3999:4001] == b"\x07\x00"
    assert f.page_bytes(1)[:105] == bytes(104) + b"\x07"
    f.zero(0, 2 * 4096)
    assert 0 not in f.pages
    assert 1 not in f.pages


def _random_ops(seed: int, steps: int = 60) -> None:
    rng = random.Random(seed)
    rig = make_rig(size=256 << 10, swap=4 << 20)
    s = rig.shadow
    fds = [s.open(name, O_RDWR_CREAT) for name in ("x", "y")]
    for _ in range(steps):
        fd = rng.choice(fds)
        off = rng.randrange(0, 40) * rng.choice((1, 1000, 4096))
        op = rng.randrange(7)
        if op == 0:
            s.pwrite(fd, off, rng.randrange(256), rng.randrange(1, 30000))
        elif op == 1:
            s.pwrite(fd, off, rng.randbytes(rng.randrange(1, 9000)))
        elif op == 2:
            s.ftruncate(fd, rng.randrange(0, 60000))
        elif op == 3:
            s.fallocate(fd, rng.choice((0, vfs.FALLOC_FL_KEEP_SIZE)), off, rng.randrange(1, 20000))
        elif op == 4:
            s.fallocate(fd, PUNCH, off, rng.randrange(1, 20000))
        elif op == 5 and s.inode(fd).mapping.nrpages:
            index, entry = next(iter(s.inode(fd).mapping.page_tree.items()))
            if entry >= 0:
                swap_out(rig, fd, index)
        ret, data = s.pread(fd, off, 5000)
        assert data == s.oracle.read(s.inode(fd), off, 5000)
        assert ret == len(data)
        assert s.verify() == []
    assert check_machine(rig.m) == []


@pytest.mark.parametrize("seed", range(6))
def test_oracle_matches_after_random_operations(seed: int) -> None:
    _random_ops(seed)


def test_a_wrong_byte_is_reported_with_its_offset() -> None:
    rig, fds = busy_rig()
    inode = rig.shadow.inode(fds["a"])
    page = inode.mapping.page_tree.lookup(2)
    rig.m.content[page] = 0x42  # was 0x41
    found = rig.shadow.verify()
    assert [v.name for v in found] == ["oracle_data"]
    assert "byte 0x2000: expected 0x41, got 0x42" in found[0].message


def test_a_wrong_size_is_reported() -> None:
    rig, fds = busy_rig()
    rig.shadow.inode(fds["b"]).i_size += 1
    assert [v.name for v in rig.shadow.verify()] == ["oracle_size"]


def test_swapped_pages_are_read_from_the_swap_device() -> None:
    rig, fds = busy_rig()
    inode = rig.shadow.inode(fds["b"])
    assert inode.swapped == 1
    slot = ~inode.mapping.page_tree.lookup(1)
    rig.m.swap_info.content[slot] = 0x11  # the device lost the write
    page = rig.m.swapper_space.pop(slot)  # and the swap cache forgot the page
    del page
    found = rig.shadow.verify()
    assert "byte 0x1000: expected 0x00, got 0x11" in found[0].message


def test_garbage_in_a_readable_cache_page_is_exposed() -> None:
    rig, fds = busy_rig()
    page = rig.shadow.inode(fds["b"]).mapping.page_tree.lookup(3)
    assert not rig.m.flags[page] & PG_uptodate  # fallocated: garbage is fine, reads as zeros
    rig.m.content[page] = POISON
    assert exposed_poison(rig.m) == []
    rig.m.flags[page] |= PG_uptodate
    assert [v.name for v in exposed_poison(rig.m)] == ["user_pages_initialised"]
