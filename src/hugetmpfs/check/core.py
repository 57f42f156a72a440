"""The invariant registry: violations, when an invariant holds, and what a check sees.

Every invariant is a function of the machine's state alone, recomputed from scratch (never
from a log of what happened), registered with three facts the step hook needs:

``when``
    ``STEP``: holds at every preemption point, provided no actor holds one of the
    invariant's ``locks`` (the digest's "Quiescent" rule, reference/hugh-series-01-22.md
    §4).  ``REST``: holds only when no kernel path is part-way through an operation (see
    :func:`hugetmpfs.check.invariants.machine_at_rest`), because some path updates its
    quantities in several steps with no lock around them all (a page added to the cache
    before the inode counts it, a pte table allocated before it is installed).
``locks``
    Lock class names from sim/locks.py LOCK_ORDER; ``"<class>:write"`` means an RWSem of
    that class held for writing.  While any actor holds one, the check is skipped.
``fast``
    True when the cost does not grow with the number of pages (counter cross-checks over
    inodes, mappings and list heads): :func:`check_machine_fast` runs only these.
``reads``
    What the check's verdict (whether it finds a violation) reads: names of the state
    parts and census parts of check/incremental.py; page-flag bits (ints) when it reads
    only those bits of ``flags``; ``(array, support)`` or ``("flags", support, bits)`` when
    it reads a per-frame array only at the frames where the census array *support*
    (``"free"``, ``"cache.count"``...) is non-zero; the array is a page array or a valued
    census array (incremental.VALUED: ``("free", "lru_pages")``).  The step hook reruns a check that
    found nothing only when something it reads changed since (check/incremental.py);
    ``None`` (the default) says "anything": the check reruns whenever anything changed.
    The support ``"*"`` is every frame.
``frames_ok``
    For a check that is a condition on each frame (it finds something exactly when the
    condition fails at some frame): ``frames_ok(ctx, frames)`` says whether the whole
    condition holds at *frames* (pfns, a list of ints, maybe repeated) now.  When the
    only reads of a check that found nothing that changed are restricted reads, the step
    hook asks it about the changed frames of those reads instead of rerunning the check
    (free_pages_unreferenced reads the valued ``free`` and ``used`` at every frame so).

A new subsystem (teams, recovery) adds its invariants with :func:`invariant` in its own
module under check/ (listed in check/invariants.py SUBJECTS) and, if it holds page
references the census cannot see, teaches check/census.py to count them (or, for a
machine-specific holder such as a test's own pages, calls :func:`register_owner`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from hugetmpfs.check.census import Census
    from hugetmpfs.mm.machine import MemMachine

STEP = "step"
REST = "rest"

#: Violations reported per invariant before the rest are summarised in one line.
REPORT_LIMIT = 8


@dataclass(frozen=True)
class Violation:
    """One broken rule: the invariant's name and a precise account (what, expected, got)."""

    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


class Context:
    """What one round of checks knows: the machine, whether it is at rest, which lock
    classes some actor holds, and the census (walked once, on first use, then shared)."""

    def __init__(self, m: MemMachine, at_rest: bool, held: frozenset[str] = frozenset()) -> None:
        self.m = m
        self.at_rest = at_rest
        self.held = held

    @cached_property
    def census(self) -> Census:
        from hugetmpfs.check.census import Census

        return Census(self.m)

    def busy(self, locks: frozenset[str]) -> bool:
        """Whether some actor holds one of *locks* (so their quantities are in flux)."""
        return not self.held.isdisjoint(locks)


@dataclass(frozen=True)
class Invariant:
    """A registered invariant (see the module docstring for the fields)."""

    name: str
    fn: Callable[[Context], list[Violation]]
    when: str
    locks: frozenset[str]
    cost: str
    fast: bool
    reads: frozenset[str | tuple[Any, ...]] | None = None  # what the verdict reads; None: all
    flag_bits: int = -1  # page-flag bits the verdict reads; -1: all of them
    # whether the check's per-frame condition holds at the given frames (see invariant())
    frames_ok: Callable[[Context, Any], bool] | None = None

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip()

    def applies(self, ctx: Context) -> bool:
        """Whether this invariant must hold in *ctx* (at rest if REST, its locks free)."""
        if self.when == REST and not ctx.at_rest:
            return False
        return not ctx.busy(self.locks)


#: Every invariant, in registration order (module import order: deterministic).
INVARIANTS: dict[str, Invariant] = {}


def invariant(
    *,
    when: str,
    cost: str,
    locks: Iterable[str] = (),
    fast: bool = False,
    reads: Iterable[str | int | tuple[Any, ...]] | None = None,
    frames_ok: Callable[[Context, Any], bool] | None = None,
) -> Callable[[Callable[[Context], list[Violation]]], Callable[..., list[Violation]]]:
    """Register a check.  The decorated function takes a :class:`Context`; the name it is
    bound to takes a machine (and optionally a context), so tests call ``name(m)``."""
    parts: frozenset[str | tuple[Any, ...]] | None = None
    flag_bits = -1
    if reads is not None:
        reads = tuple(reads)
        strange = [x for x in reads if not isinstance(x, str | int | tuple)]
        if strange:
            raise TypeError(f"reads: parts, flag bits and (array, support) only, not {strange}")
        names = {x for x in reads if not isinstance(x, int)}
        parts = frozenset(names - {"flags"})
        flag_bits = 0
        for bits in (x for x in reads if isinstance(x, int)):
            flag_bits |= bits
        if "flags" in names:
            flag_bits = -1

    def register(fn: Callable[[Context], list[Violation]]) -> Callable[..., list[Violation]]:
        inv = Invariant(
            fn.__name__, fn, when, frozenset(locks), cost, fast, parts, flag_bits, frames_ok
        )
        if inv.name in INVARIANTS:
            raise ValueError(f"invariant {inv.name} registered twice")
        INVARIANTS[inv.name] = inv

        def run(m: MemMachine, ctx: Context | None = None) -> list[Violation]:
            if ctx is None:
                from hugetmpfs.check.invariants import machine_context

                ctx = machine_context(m)
            return fn(ctx) if inv.applies(ctx) else []

        run.__name__ = fn.__name__
        run.__doc__ = fn.__doc__
        run.invariant = inv  # type: ignore[attr-defined]
        return run

    return register


def register_owner(m: MemMachine, fn: Callable[[MemMachine], Iterable[int]]) -> None:
    """Teach *m*'s refcount invariants about references held outside the census's view:
    *fn* yields one pfn per reference.  Kept on the machine (``m.check_owners``), like all
    model state."""
    owners = m.__dict__.setdefault("check_owners", [])
    if fn not in owners:
        owners.append(fn)


class Report:
    """Collects one invariant's violations, summarising beyond REPORT_LIMIT."""

    __slots__ = ("items", "more", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.items: list[Violation] = []
        self.more = 0

    def add(self, message: str) -> None:
        if len(self.items) < REPORT_LIMIT:
            self.items.append(Violation(self.name, message))
        else:
            self.more += 1

    def expect(self, what: str, expected: int, got: int) -> None:
        """Report ``what: expected X, got Y`` unless they agree."""
        if expected != got:
            self.add(f"{what}: expected {expected}, got {got}")

    def result(self) -> list[Violation]:
        if self.more:
            return [*self.items, Violation(self.name, f"... and {self.more} more like these")]
        return self.items
