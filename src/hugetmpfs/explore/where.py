"""Which modelled kernel function each preemption point was reached in, for reports.

A point is named after the window it opens (``lock:tree_lock``, ``recovery/R1:before_lock``),
which does not say whose code holds the window open: the engine's lock primitives and the
page-lock helpers open most of them on behalf of their caller.  A finding's report replays
its schedule once more with a :class:`WhereLog` as the engine's point log, which notes, at
each point, the innermost kernel function on the actor's stack: not the engine's, not a
helper opening points for its caller, not one of the model's own helpers (``_x``), so
``shmem_recovery_populate`` rather than ``SpinLock.lock``, ``lock_page`` or ``_populate_pass``.

Only that one replay pays for the frame walk; exploration logs points in a plain list.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import hugetmpfs.sim

_SIM = os.path.dirname(hugetmpfs.sim.__file__) + os.sep

#: Model functions that open a point on behalf of their caller, which the report names
#: instead: the page-lock helpers (mm/filemap.py), and shmem/teamhole.py's logging of the
#: points a batch of hole fills passes without a decision.
ON_BEHALF = frozenset({"lock_page", "trylock_page", "_pass_points"})


def is_kernel_name(name: str) -> bool:
    """Whether a model function's name is a kernel function's: not one of the model's own
    helpers (``_populate_pass``), comprehensions (``<listcomp>``) or Python's special
    methods (``__enter__``); the kernel's ``__unmap_and_move`` is one."""
    if name.startswith("<") or name in ON_BEHALF:
        return False
    if name.startswith("__"):
        return not name.endswith("__")
    return not name.startswith("_")


def kernel_function(frame: Any) -> str:
    """The innermost kernel function (is_kernel_name) at or above *frame* outside the
    engine (sim/); ``?`` when there is none (a point reached from the engine alone)."""
    while frame is not None:
        code = frame.f_code
        if not code.co_filename.startswith(_SIM) and is_kernel_name(code.co_name):
            return code.co_name
        frame = frame.f_back
    return "?"


class WhereLog(list):  # type: ignore[type-arg]
    """A point log (``(step, actor id, point)`` entries, as ``Engine.point_log``) that also
    keeps, in ``functions``, the kernel function each entry was logged from."""

    def __init__(self) -> None:
        super().__init__()
        self.functions: list[str] = []

    def append(self, entry: Any) -> None:
        # from Engine.point (skipped: sim/) or from a model function logging points itself
        self.functions.append(kernel_function(sys._getframe(1)))
        super().append(entry)


def label(function: str | None, point: str) -> str:
    """A point as a report shows it: ``function() point``, without the function's name
    twice when the point is named after it (``shmem_recovery_populate:cond_resched``)."""
    if function is None:
        return point
    if point.startswith(function + ":"):
        return f"{function}() {point[len(function) + 1 :]}"
    return f"{function}() {point}"
