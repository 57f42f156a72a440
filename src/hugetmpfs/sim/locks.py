"""Modelled locks (spinlock, sleeping mutex, rwsem) and the lock order the engine enforces.

Lock ordering in the model (outermost first; a lock may be taken while holding only its
ancestors in this tree; a trylock may be taken under anything, which is how the head page
lock nests inside another page lock without deadlock, base/R4.4):

    mmap_sem
      page_lock                      (the page being faulted, added, truncated or migrated)
        i_mmap_rwsem
          pmd_lock
            pte_lock
        shmem_shrinklist_lock
          memcg_move_lock
            lru_lock
              tree_lock
                swap_lock
        shmem_recoverylist_lock
        swap_info_lock

Spinlocks (``*_lock`` except page_lock) disable preemption like the kernel's: while one is
held no other actor of the same CPU runs, and blocking on a sleeping lock is a bug
("sleeping function called from invalid context").  Lock operations are preemption points:
the point comes before the acquisition, where another CPU could get there first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hugetmpfs.errors import ModelBug

if TYPE_CHECKING:
    from hugetmpfs.sim._engine import Engine
    from hugetmpfs.sim.actor import Actor

LOCK_ORDER = """
mmap_sem
  page_lock
    i_mmap_rwsem
      pmd_lock
        pte_lock
    shmem_shrinklist_lock
      memcg_move_lock
        lru_lock
          tree_lock
            swap_lock
    shmem_recoverylist_lock
    swap_info_lock
"""

#: Classes that may sleep while held (the rest are spinlocks).
SLEEPING_CLASSES = frozenset({"mmap_sem", "page_lock", "i_mmap_rwsem"})


@dataclass(frozen=True)
class LockClass:
    """A lockdep class: the locks that share a place in the order."""

    name: str
    ancestors: frozenset[str]
    sleeping: bool


def _parse_order(text: str) -> dict[str, LockClass]:
    classes: dict[str, LockClass] = {}
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip())) // 2
        name = line.strip()
        stack = [(d, n) for d, n in stack if d < depth]
        classes[name] = LockClass(name, frozenset(n for _, n in stack), name in SLEEPING_CLASSES)
        stack.append((depth, name))
    return classes


LOCK_CLASSES = _parse_order(LOCK_ORDER)


class LockdepError(ModelBug):
    """A lock was taken against the declared order, or a sleeping lock under a spinlock."""

    finding_kind = "lockdep"


def lock_class(name: str) -> LockClass:
    try:
        return LOCK_CLASSES[name]
    except KeyError:
        raise ModelBug(f"lock class {name!r} is not in sim/locks.py LOCK_ORDER") from None


def lockdep_acquire(engine: Engine, cls: LockClass, what: Any, trylock: bool) -> None:
    """Check taking a lock of class *cls* against the locks the running actor holds."""
    actor = engine.current
    if actor is None or not engine.lockdep or not actor.held:
        return
    if trylock:  # it never waits, so the order does not matter: only sleeping under a spinlock
        if cls.sleeping:
            for held_cls, _ in actor.held:
                if not held_cls.sleeping:
                    raise _sleeping_error(cls, what, actor, held_cls)
        return
    ancestors, sleeping = cls.ancestors, cls.sleeping
    for held_cls, held in actor.held:
        if sleeping and not held_cls.sleeping:
            raise _sleeping_error(cls, what, actor, held_cls)
        if held_cls.name not in ancestors:
            raise LockdepError(
                f"lock order: {actor.name} takes {cls.name} {what!r} while holding "
                f"{held_cls.name} {held!r} (see sim/locks.py LOCK_ORDER)"
            )


def _sleeping_error(cls: LockClass, what: Any, actor: Actor, held_cls: LockClass) -> LockdepError:
    return LockdepError(
        f"sleeping function called from invalid context: {cls.name} {what!r} "
        f"taken by {actor.name} holding spinlock {held_cls.name}"
    )


def _may_hold(cls: LockClass) -> frozenset[str]:
    """The classes one may hold while taking a lock of class *cls* (lockdep_acquire's
    rules): its ancestors, and only sleeping ones for a sleeping lock."""
    if not cls.sleeping:
        return cls.ancestors
    return frozenset(name for name in cls.ancestors if name in SLEEPING_CLASSES)


def _held_push(actor: Actor | None, cls: LockClass, what: Any) -> None:
    if actor is not None:
        actor.held.append((cls, what))
        if not cls.sleeping:
            actor.preempt_count += 1


def _held_pop(actor: Actor | None, cls: LockClass, what: Any) -> None:
    if actor is None:
        return
    held = actor.held
    if held:  # the usual case: releasing the innermost lock
        c, w = held[-1]
        if c is cls and w == what:
            held.pop()
            if not cls.sleeping:
                actor.preempt_count -= 1
            return
    for i in range(len(held) - 1, -1, -1):
        c, w = actor.held[i]
        if c is cls and w == what:  # page locks are held by pfn, an int
            del actor.held[i]
            if not cls.sleeping:
                actor.preempt_count -= 1
            return
    raise ModelBug(f"{actor.name} releases {cls.name} {what!r} it does not hold")


#: class name -> (class, point names of lock, trylock and wait, _may_hold, whether it spins)
_SPIN_SPECS: dict[str, tuple[LockClass, str, str, str, frozenset[str], bool]] = {}


class SpinLock:
    """A spinlock: waiting for it is modelled as blocking (the waiter cannot progress)."""

    __slots__ = (
        "_at_lock",
        "_at_trylock",
        "_at_wait",
        "_held",
        "_may_hold",
        "_spins",
        "cls",
        "engine",
        "name",
        "owner",
    )

    def __init__(self, engine: Engine, cls: str, name: str = "") -> None:
        self.engine = engine
        self.name = name or cls
        self.owner: Actor | None = None
        # Point names are built once per class: lock operations sit on every hot path (and
        # machines, built anew for each execution explored, make their locks anew) ...
        spec = _SPIN_SPECS.get(cls)
        if spec is None:
            lc = lock_class(cls)
            spec = _SPIN_SPECS[cls] = (
                lc,
                f"lock:{cls}",
                f"trylock:{cls}",
                f"wait:{cls}",
                _may_hold(lc),
                not lc.sleeping,
            )
        self.cls, self._at_lock, self._at_trylock, self._at_wait, self._may_hold, self._spins = spec
        # ... and so is the actor's entry for it.
        self._held = (self.cls, self)

    def __repr__(self) -> str:
        return self.name

    def lock(self) -> SpinLock:
        engine = self.engine
        engine.point(self._at_lock)
        cur = engine.current
        if cur is None:
            if self.owner is not None:
                raise ModelBug(f"{self.name} is held by {self.owner.name} outside the engine")
            self.owner = _NOBODY
            return self
        held = cur.held
        if held and engine.lockdep:
            may_hold = self._may_hold  # lockdep_acquire's usual case, inline
            for held_cls, _ in held:
                if held_cls.name not in may_hold:
                    lockdep_acquire(engine, self.cls, self, trylock=False)
                    break
        while self.owner is not None:
            engine.block_on(self, self._at_wait)
        self.owner = cur
        held.append(self._held)  # _held_push, inline
        if self._spins:
            cur.preempt_count += 1
        return self

    def trylock(self) -> bool:
        engine = self.engine
        engine.point(self._at_trylock)
        if self.owner is not None:
            return False
        lockdep_acquire(engine, self.cls, self, trylock=True)
        self.owner = engine.current or _NOBODY
        _held_push(engine.current, self.cls, self)
        return True

    def unlock(self, *exc: object) -> None:
        if self.owner is None:
            raise ModelBug(f"unlock of {self.name}, which is not locked")
        engine = self.engine
        cur = engine.current
        if cur is not None:
            held = cur.held
            if held and held[-1] is self._held:  # _held_pop's usual case, inline
                held.pop()
                if self._spins:
                    cur.preempt_count -= 1
            else:
                _held_pop(cur, self.cls, self)
        self.owner = None
        waiters = engine.waiters
        if waiters and self in waiters:
            engine.wake(self)

    def is_locked(self) -> bool:
        return self.owner is not None

    # ``with lock:`` without a call more: lock() returns the lock, unlock() takes __exit__'s
    # arguments.
    __enter__ = lock
    __exit__ = unlock


class Mutex(SpinLock):
    """A sleeping lock with the same interface (its class must be a sleeping one)."""

    __slots__ = ()


class RWSem:
    """A reader-writer semaphore; waiting writers hold off new readers, as in Linux."""

    __slots__ = (
        "_at_down_read",
        "_at_down_write",
        "_at_trylock",
        "cls",
        "engine",
        "name",
        "readers",
        "writer",
        "writers_waiting",
    )

    def __init__(self, engine: Engine, cls: str, name: str = "") -> None:
        self.engine = engine
        self.cls = lock_class(cls)
        self.name = name or cls
        self.readers: list[Actor | None] = []
        self.writer: Actor | None = None
        self.writers_waiting = 0
        self._at_down_read = f"down_read:{cls}"  # built once: faults take mmap_sem
        self._at_down_write = f"down_write:{cls}"
        self._at_trylock = f"down_write_trylock:{cls}"

    def __repr__(self) -> str:
        return self.name

    def down_read(self) -> None:
        engine = self.engine
        engine.point(self._at_down_read)
        cur = engine.current
        if engine.lockdep:
            lockdep_acquire(engine, self.cls, self, trylock=False)
        while self.writer is not None or self.writers_waiting:
            self._wait("read")
        self.readers.append(cur)
        _held_push(cur, self.cls, self)

    def down_write(self) -> None:
        engine = self.engine
        engine.point(self._at_down_write)
        if engine.lockdep:
            lockdep_acquire(engine, self.cls, self, trylock=False)
        while self.writer is not None or self.readers:
            self.writers_waiting += 1
            try:
                self._wait("write")
            finally:
                self.writers_waiting -= 1
        self.writer = engine.current or _NOBODY
        _held_push(engine.current, self.cls, self)

    def down_write_trylock(self) -> bool:
        engine = self.engine
        engine.point(self._at_trylock)
        if self.writer is not None or self.readers:
            return False
        lockdep_acquire(engine, self.cls, self, trylock=True)
        self.writer = engine.current or _NOBODY
        _held_push(engine.current, self.cls, self)
        return True

    def up_read(self) -> None:
        engine = self.engine
        cur = engine.current
        self.readers.remove(cur)
        _held_pop(cur, self.cls, self)
        waiters = engine.waiters
        if waiters and self in waiters:
            engine.wake(self)

    def up_write(self) -> None:
        if self.writer is None:
            raise ModelBug(f"up_write of {self.name}, which is not write-locked")
        self.writer = None
        _held_pop(self.engine.current, self.cls, self)
        self.engine.wake(self)

    def _wait(self, how: str) -> None:
        if self.engine.current is None:
            raise ModelBug(f"{self.name} contended outside the engine")
        self.engine.block_on(self, f"wait:{self.cls.name}:{how}")


class _Nobody:
    """The owner of a lock taken outside any actor (plain sequential use of the model)."""

    name = "<no actor>"


_NOBODY: Any = _Nobody()
