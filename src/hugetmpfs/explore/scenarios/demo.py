"""Scenarios that show the explorer at work on the plainest hazards."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.explore.scenario import Budget, scenario
from hugetmpfs.mm.filemap import lock_page, trylock_page, unlock_page
from hugetmpfs.mm.page_alloc import alloc_pages
from hugetmpfs.mm.swap import put_page

if TYPE_CHECKING:
    from hugetmpfs.shmem.machine import Machine


def _two_pages(m: Machine) -> tuple[int, int]:
    a, b = alloc_pages(m, 0, 0), alloc_pages(m, 0, 0)
    assert a is not None
    assert b is not None
    return a, b


@scenario("demo-lock-order", guard=None, find=Budget("dfs", 50, 2))
def lock_order(m: Machine) -> None:
    """Two tasks lock the same two pages in opposite orders (what base/R4.4's trylock avoids)."""
    m.engine.lockdep = False  # let the deadlock itself be found, not the order violation
    a, b = _two_pages(m)

    def take(first: int, second: int) -> None:
        lock_page(m, first)
        m.engine.point("demo:between_locks")
        lock_page(m, second)
        unlock_page(m, second)
        unlock_page(m, first)

    m.engine.spawn(take, a, b, name="task A", cpu=0)
    m.engine.spawn(take, b, a, name="task B", cpu=1)
    return _free(a, b)


def _free(*pages: int) -> object:
    def end_check(m: Machine) -> list[str]:
        for page in pages:
            put_page(m, page)
        return []

    return end_check


@scenario("demo-trylock", guard=None, find=Budget("dfs", 50, 2))
def trylock(m: Machine) -> object:
    """The same two tasks, the second lock taken by trylock: the loser does without, as
    shmem_disband_hugeteam does when the head is busy (base/R4.4).  No deadlock."""
    a, b = _two_pages(m)
    done: list[str] = []

    def take(first: int, second: int, name: str) -> None:
        lock_page(m, first)
        m.engine.point("demo:between_locks")
        if trylock_page(m, second):
            unlock_page(m, second)
        unlock_page(m, first)
        done.append(name)

    m.engine.spawn(take, a, b, "A", name="task A", cpu=0)
    m.engine.spawn(take, b, a, "B", name="task B", cpu=1)

    def end_check(m: Machine) -> list[str]:
        for page in (a, b):
            put_page(m, page)
        return [] if sorted(done) == ["A", "B"] else [f"tasks finished: {done}"]

    return end_check


@scenario("demo-lock-order-noisy", guard=None, cpus=3, find=Budget("pct", 100, 2))
def lock_order_noisy(m: Machine) -> object:
    """demo-lock-order with a third task busy beside them: long schedules to shrink."""
    m.engine.lockdep = False
    a, b = _two_pages(m)

    def take(first: int, second: int) -> None:
        for _ in range(3):
            m.engine.point("demo:before")
        lock_page(m, first)
        m.engine.point("demo:between_locks")
        lock_page(m, second)
        unlock_page(m, second)
        unlock_page(m, first)

    def busy() -> None:
        for _ in range(40):
            m.engine.point("demo:busy")

    m.engine.spawn(take, a, b, name="task A", cpu=0)
    m.engine.spawn(take, b, a, name="task B", cpu=1)
    m.engine.spawn(busy, name="bystander", cpu=2)
    return _free(a, b)
