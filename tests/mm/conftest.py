"""Fixtures for the mm layer's tests: a 64 MiB machine, an mm, and a fake tmpfs file."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from fakefs import FakeFile, machine

from hugetmpfs.mm.mm_types import MMStruct

if TYPE_CHECKING:
    from hugetmpfs.mm.machine import MemMachine


@pytest.fixture
def m() -> MemMachine:
    return machine()


@pytest.fixture
def mm(m: MemMachine) -> MMStruct:
    return MMStruct(m)


@pytest.fixture
def f(m: MemMachine) -> FakeFile:
    return FakeFile(m)
