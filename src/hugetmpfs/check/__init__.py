"""Invariants recomputed from scratch, and the data oracle (what every byte should read).

``check_machine(m)`` lists the violations of every invariant that applies now;
``step_hook(m)`` checks at every scheduling decision of an engine run; ``Oracle`` follows
file operations and ``Oracle.verify(m)`` compares every byte.  ``INVARIANTS`` names them all,
with when each holds and what it costs.
"""

from hugetmpfs.check.core import (
    INVARIANTS,
    REST,
    STEP,
    Context,
    Invariant,
    Violation,
    invariant,
    register_owner,
)
from hugetmpfs.check.invariants import check_machine, check_machine_fast, machine_at_rest, step_hook
from hugetmpfs.check.oracle import Oracle, exposed_poison

__all__ = [
    "INVARIANTS",
    "REST",
    "STEP",
    "Context",
    "Invariant",
    "Oracle",
    "Violation",
    "check_machine",
    "check_machine_fast",
    "exposed_poison",
    "invariant",
    "machine_at_rest",
    "register_owner",
    "step_hook",
]
