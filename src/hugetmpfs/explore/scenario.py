"""Race scenarios: plain functions that set up a machine and start actors.

A scenario names the guard it exercises (``base/<id>`` or ``recovery/<id>``), or None for
an unguarded hazard.  Write your own the same way::

    from hugetmpfs.explore import scenario

    @scenario("my-race", guard=None, hpage_nr=8)
    def my_race(m):
        m.engine.spawn(one_path, m, name="fault", cpu=0)
        m.engine.spawn(other_path, m, name="punch", cpu=1)

then ``hugetmpfs explore my-race`` (after importing the module that defines it) or, in a
test, ``hugetmpfs.testing.assert_explores_clean(my_race)``.  A scenario may return a
function that is called once every actor has ended, to check the end state (the data
oracle, say): it returns a list of problems, empty when all is well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hugetmpfs.shmem.machine import MachineConfig

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.shmem.machine import Machine

Check = "Callable[[Machine], list[str]]"


@dataclass(frozen=True)
class Budget:
    """How much exploring a self-test spends on one side of a scenario: a strategy, at most
    *schedules* executions, and DFS's preemption bound."""

    strategy: str = "dfs"
    schedules: int = 200
    bound: int = 2


@dataclass(frozen=True)
class Scenario:
    """A race scenario: *setup* builds the actors on a fresh machine."""

    name: str
    setup: Callable[[Machine], Any]
    guard: str | None = None
    description: str = ""
    ram: int = 8 << 20
    swap: int = 0
    cpus: int = 2
    hpage_nr: int = 8
    mount_huge: str = "always"
    mount_size: int = 4 << 20
    max_steps: int = 20_000
    behaviours: tuple[str, ...] = ()
    # Whether faults may queue recovery works.  Races of the base series (patches 01–22)
    # are explored on the series before recovery: vm.shmem_huge_recoveries = 0.
    recovery: bool = False
    # the self-test's budgets (explore --self-test, and CI): to find the race with the
    # guard off, and to find nothing with every guard on
    find: Budget = Budget("dfs", 200, 1)
    clean: Budget = Budget("dfs", 100, 2)
    # the form of recovery the self-test explores it in (None: the command line's, v24 by
    # default): a race some check of the other form absorbs is shown where it is not
    variant: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def config(self, variant: str, guards_off: tuple[str, ...], seed: int = 0) -> MachineConfig:
        return MachineConfig(
            ram=self.ram,
            swap=self.swap,
            cpus=self.cpus,
            seed=seed,
            hpage_nr=self.hpage_nr,
            variant=variant,
            behaviours=self.behaviours,
            guards_off=guards_off,
        )


REGISTRY: dict[str, Scenario] = {}


def scenario(name: str, guard: str | None = None, **options: Any) -> Callable[..., Scenario]:
    """Register the decorated function as a scenario called *name*."""

    def wrap(fn: Callable[[Machine], Any]) -> Scenario:
        sc = Scenario(name, fn, guard, (fn.__doc__ or "").strip().split("\n")[0], **options)
        REGISTRY[name] = sc
        return sc

    return wrap
