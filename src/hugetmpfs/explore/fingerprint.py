"""State fingerprints for DFS: an exact hash of the model machine and of where each actor is.

A fingerprint is taken at a scheduling decision (``Strategy.pick``/``choose``).  It covers:

* **the machine**: every object reachable from the :class:`~hugetmpfs.shmem.machine.Machine`
  — the frame arrays (flags, refcount, mapcount, mapping, index, private, LRU links,
  content) byte for byte, page data, the buddy free areas, per-CPU lists, page caches
  (radix trees), LRU heads, mm_structs and their page tables, vmstat and recovery counters,
  inodes, teams, sysctls, lock owners and readers, shrinker and recovery lists — walked
  generically: an instance is its class and its ``__dict__``/``__slots__`` in order, a dict
  its items *in insertion order* (the model may iterate them), a list its items, a set of
  ints or strings its sorted items, an ``array``/``numpy`` array its bytes, a function its
  qualified name and the contents of its closure, a bound method its function and its
  ``self``.  Shared objects and cycles are encoded as back-references numbered in order of
  first visit, so two states are equal exactly when their object graphs are isomorphic
  from the machine (identities of objects, ``id()``, are not part of the state);
* **the engine**: which actors are runnable, blocked (on what, in which order of arrival),
  sleeping or done, their CPUs, preemption counts, the locks they hold, virtual clocks and
  ready times, pending timers and the running actor;
* **the scenario's own state** reachable from each actor's function and arguments (closure
  cells, e.g. a list the actors append to and the end check reads);
* **each actor's position**, twice over: its suspended Python frames, innermost first —
  each frame's function, the instruction it stopped at (``f_lasti``) and its locals, walked
  like the rest (a local that points into the machine is a back-reference; a builtin
  iterator is what it pickles to; a generator is its own frame) — and the sequence of
  preemption points it has passed (point names in order, from the engine's point log, as a
  running hash per actor).  The running actor's frames are taken from the engine's frame
  that consulted the strategy outwards.  The history keeps a state from recurring on one
  path (so a revisit is never an ancestor) and carries the step count a livelock is
  judged by.

Not covered, and where two different states could therefore still be merged: a frame's
value stack (the temporaries of an expression half evaluated at the call that switched
away, e.g. the first operand of ``a + f()`` while ``f`` runs), and builtin objects in
locals that do not pickle (encoded by their type alone).  The model's code suspends in
calls made as statements or assignments, where the value stack holds only the callee.
Without the frames, two orders of a punch's steps against a fault-around that had read
pages into its locals were merged (tests/explore/test_dfs_prune.py), so the frames are
needed.  The engine's step count, the schedule and the point log (the history of *how*
the state was reached) are left out on purpose: they are what differs between two
interleavings reaching the same state.  Sets of objects (rather than of ints or strings)
are hashed in an order-independent way, by their members' encodings; a dict whose values
compare equal to its previous copy (``1 == True``) reuses its encoding, a corner the model's
fields, which keep their types, do not reach.

Cost: a fingerprint walks every object each time (about 115 objects, 20 frames and 700
tokens for a recovery scenario), then marshals and hashes the tokens.  Measured on
recovery-vs-eviction (DFS at bound 2, 1 500 executions, 4.3 fingerprints an execution, some
1.1 ms of fingerprints an execution): an execution's first, on a machine just built, about
0.33 ms; the later ones 0.23 ms; the same state fingerprinted again at once 0.19 ms, of which
marshal and hash 0.04 ms.  The walk, at about 1 µs an object, is what is left, and none of
these cut it (each measured): reading a frame's locals from the dict f_locals filled at the
previous fingerprint when the frame has provably not run since (its callee the same
activation) -- f_locals costs some 0.5 µs a frame, no more than the bookkeeping; one loop over
keys and values together; back-reference tokens kept in the memo; a cache of whole subtrees
checked by identity (0.45 µs an object to check, half of walking it, before any relocating of
back-references).  What is kept between fingerprints never changes a value
(tests/explore/test_fingerprint_reference.py and test_fingerprint_caches.py compare with the
version before, at every DFS choice): within an execution, from its first fingerprint on,
leaves and arrays unchanged since the previous fingerprint (by identity, then value or
bytes); across executions, which build their machines anew, the digests of arrays' bytes
(looked up by the bytes) and the steps of the actors' running point hashes (by the hash before
and the point), most of which DFS's executions share.  Reusing more across executions (array
tokens by their place in the walk, the running point hashes from the previous execution's
equal log prefix) measured within noise and was taken out.
"""

from __future__ import annotations

import hashlib
import marshal
import sys
import types
from array import array
from collections import deque
from collections.abc import Callable
from enum import Enum
from itertools import chain
from operator import attrgetter
from typing import Any

import greenlet

from hugetmpfs.sim._engine import Engine
from hugetmpfs.sim.actor import Actor
from hugetmpfs.sim.locks import Mutex, RWSem, SpinLock

try:  # numpy is optional: the model keeps frames in ``array``s, but arrays elsewhere may not
    import numpy as _np
except ImportError:  # pragma: no cover
    _np = None

#: marshal's format 2 writes no back-references, so equal tokens give equal bytes whether or
#: not they are the same Python objects.
_MARSHAL = 2
#: The engine's functions that consult the strategy: the running actor's frames are
#: fingerprinted from the innermost of these outwards.
_DECISION_CODES = frozenset(
    {Engine._pick.__code__, Engine.yield_point.__code__, Engine.choose.__code__}
)
_PRIMITIVE = (type(None), bool, int, float, str, bytes)
_PRIM = frozenset(_PRIMITIVE)  # the same, for a faster ``type(x) in``
_PRIM_FUNCTION = _PRIM | {types.FunctionType}  # what a leaf's fields may be
#: Engine fields that are the history of how a state was reached, or the explorer's own.
_ENGINE_STATE = (
    "live",
    "live_daemons",
    "clock",
    "timer_now",
    "timers",
    "cpus",
)
#: Actor fields that are state (the rest: greenlet machinery, result, error).
_ACTOR_STATE = ("state", "preempt_count", "held", "waiting", "ready_at", "cpu", "daemon")
_UNSET = ("unset",)  # a slot never assigned
_engine_state = attrgetter(*_ENGINE_STATE)
_actor_state = attrgetter(*_ACTOR_STATE)


class _Walker:
    """Encodes an object graph into a flat list of primitives (see the module docstring).

    Written for speed (a fingerprint is taken at every new DFS choice): primitives are
    appended where they are met rather than walked, an instance's ``__dict__`` is read in
    place, and immutable values (frozen dataclasses of primitives, such as lock classes) are
    encoded once per object and then reused."""

    def __init__(
        self,
        arrays: dict[int, tuple[Any, bytearray, Any]] | None = None,
        leaves: dict[int, tuple[Any, Any, Any]] | None = None,
    ) -> None:
        self.out: list[Any] = []
        self.memo: dict[int, int] = {}
        # id -> (array, a copy of its bytes, its token) at the previous fingerprint
        self.arrays = {} if arrays is None else arrays
        # id -> (object, a copy of its fields or items, its encoding), for leaves
        self.leaves: dict[int, tuple[Any, Any, Any]] = {} if leaves is None else leaves

    def walk(self, obj: Any) -> None:
        t = type(obj)
        if t in _PRIM:
            self.out.append(obj)
            return
        key = id(obj)
        memo = self.memo
        ref = memo.get(key)
        if ref is not None:
            self.out.append(_REFS[ref] if ref < _NREFS else ("@", ref))
            return
        memo[key] = len(memo)
        handler = _HANDLERS.get(t)
        if handler is None:
            handler = _HANDLERS[t] = _handler(t)
        handler(self, obj)

    def _sequence(self, obj: list[Any] | tuple[Any, ...]) -> None:
        out = self.out
        if len(obj) >= _LEAF_LIST:  # a long tuple of primitives: as before
            tuple_ = type(obj) is tuple  # (a list's token is made anew each time)
            if tuple_:
                leaf = self.leaves.get(id(obj))
                if leaf is not None and leaf[0] is obj:
                    out.append(leaf[2])
                    return
            if _PRIM.issuperset(map(type, obj)):
                token = (type(obj).__name__, len(obj), *obj)
                if tuple_:
                    self.leaves[id(obj)] = (obj, obj, token)
                out.append(token)
                return
        append = out.append
        append((type(obj).__name__, len(obj)))
        if _PRIM.issuperset(map(type, obj)):
            out.extend(obj)
            return
        memo = self.memo
        for x in obj:
            t = type(x)
            if t in _PRIM:
                append(x)
                continue
            key = id(x)
            ref = memo.get(key)
            if ref is not None:
                append(_REFS[ref] if ref < _NREFS else ("@", ref))
                continue
            memo[key] = len(memo)
            handler = _HANDLERS.get(t)
            if handler is None:
                handler = _HANDLERS[t] = _handler(t)
            handler(self, x)

    def _dict(self, obj: dict[Any, Any]) -> None:
        self.out.append(("d", len(obj)))
        self._items(obj)

    def _array(self, obj: array[Any]) -> None:
        # the same array as at this execution's previous fingerprint, its bytes unchanged:
        # a bytearray compares with the array's buffer byte for byte (memcmp, no copy)
        before = self.arrays.get(id(obj))
        if before is not None and before[0] is obj and before[1] == obj:
            self.out.append(before[2])
            return
        now = obj.tobytes()
        digest = _DIGESTS.get(now)
        if digest is None:
            digest = _remember_digest(now)
        token = ("a", obj.typecode, len(obj), digest)
        self.arrays[id(obj)] = (obj, bytearray(now), token)
        self.out.append(token)

    def _lock(self, obj: SpinLock) -> None:
        # the other slots (engine, class, name, point names) are set once, in __init__
        self.out.append(("k", obj.name))
        self.walk(obj.owner)

    def _rwsem(self, obj: RWSem) -> None:
        self.out.append(("r", obj.name, obj.writers_waiting))
        self.walk(obj.writer)
        self.walk(obj.readers)

    def _bytearray(self, obj: bytearray) -> None:
        self.out.append(("b", hashlib.blake2b(obj, digest_size=16).digest()))

    def _frozen(self, obj: Any) -> None:
        token = _IMMUTABLE.get(id(obj))
        if token is None or token[0] is not obj:
            token = _remember(obj)
        if token[1] is None:  # a frozen object holding a mutable one
            self._instance(obj)
        else:
            self.out.append(token[1])

    def _enum(self, obj: Enum) -> None:
        self.out.append(("e", type(obj).__qualname__, obj.name))

    def _method(self, obj: types.MethodType) -> None:
        self.out.append(("m", obj.__func__.__qualname__))
        self.walk(obj.__self__)

    def _named(self, obj: Any) -> None:  # builtins, modules, classes
        self.out.append(("B", getattr(obj, "__module__", None), obj.__qualname__))

    def _opaque(self, obj: Any) -> None:  # the engine's main greenlet: not state
        self.out.append(("g",))

    def _exception(self, obj: BaseException) -> None:
        self.out.append(("x", type(obj).__qualname__, str(obj)))

    def _ndarray(self, obj: Any) -> None:
        digest = hashlib.blake2b(obj.tobytes(), digest_size=16).digest()
        self.out.append(("n", obj.dtype.str, obj.shape, digest))

    def _sequence_like(self, obj: Any) -> None:  # namedtuples, deques, list subclasses
        self.out.append(("L", type(obj).__qualname__, len(obj)))
        if _PRIM.issuperset(map(type, obj)):
            self.out.extend(obj)
        else:
            for x in obj:
                self.walk(x)
        if hasattr(obj, "__dict__"):
            self._items(vars(obj))

    def _dict_like(self, obj: dict[Any, Any]) -> None:  # defaultdict, OrderedDict, Counter
        self.out.append(("D", type(obj).__qualname__, len(obj)))
        self._items(obj)
        self.walk(getattr(obj, "default_factory", None))

    def _items(self, d: dict[Any, Any]) -> None:
        append = self.out.append
        memo = self.memo
        handlers = _HANDLERS
        for k, v in d.items():
            if type(k) in _PRIM:
                append(k)
            else:
                self.walk(k)
            t = type(v)
            if t in _PRIM:
                append(v)
                continue
            key = id(v)
            ref = memo.get(key)
            if ref is not None:
                append(_REFS[ref] if ref < _NREFS else ("@", ref))
                continue
            memo[key] = len(memo)
            handler = handlers.get(t)
            if handler is None:
                handler = handlers[t] = _handler(t)
            handler(self, v)

    def _set(self, obj: set[Any] | frozenset[Any]) -> None:
        if all(type(x) in (int, str) for x in obj):
            items = sorted(obj, key=lambda x: (type(x) is str, x))
            self.out.append(("s", tuple(items)))
            return
        # members that are objects: order-independent, by each member's own encoding
        parts = []
        for x in obj:
            sub = _Walker()
            sub.memo = dict(self.memo)  # references to what was seen before stay references
            sub.walk(x)
            parts.append(marshal.dumps(sub.out, _MARSHAL))
        self.out.append(("S", tuple(sorted(parts))))

    def _function(self, fn: types.FunctionType) -> None:
        self.out.append(("f", fn.__module__, fn.__qualname__))
        if fn.__closure__:
            for cell in fn.__closure__:
                try:
                    value = cell.cell_contents
                except ValueError:  # an empty cell
                    self.out.append(("c",))
                    continue
                self.walk(value)
        if fn.__defaults__:
            self.walk(fn.__defaults__)

    def _instance(self, obj: Any) -> None:
        out = self.out
        t = type(obj)
        info = _INSTANCES.get(t)
        if info is None:
            info = _INSTANCES[t] = _instance_info(t)
        slots, head, leaf_head = info
        d = getattr(obj, "__dict__", None)
        if d is not None and not slots:
            # A leaf (every field a primitive or a plain function) whose fields are equal to
            # those at the previous fingerprint has the same encoding: reuse it.
            leaf = self.leaves.get(id(obj))
            if leaf is not None and leaf[0] is obj and leaf[1] == d:
                out.append(leaf[2])
                return
            values = d.values()
            if _PRIM.issuperset(map(type, values)):
                token = (*leaf_head, *chain.from_iterable(d.items()))
                self.leaves[id(obj)] = (obj, dict(d), token)
                out.append(token)
                return
            if _PRIM_FUNCTION.issuperset(map(type, values)) and all(
                type(v) in _PRIM or _plain_function(v) for v in values
            ):
                token = (*leaf_head, *_leaf_items(d))
                self.leaves[id(obj)] = (obj, dict(d), token)
                out.append(token)
                return
        out.append(head)
        if d is not None:
            out.append(len(d))
            self._items(d)
        if slots:
            walk = self.walk
            for name in slots:
                v = getattr(obj, name, _UNSET)
                if type(v) in _PRIM:
                    out.append(v)
                else:
                    walk(v)

    def _actor(self, a: Actor) -> None:
        out = self.out
        out.append(("A", a.aid, a.name))
        walk = self.walk
        for v in _actor_state(a):
            if type(v) in _PRIM:
                out.append(v)
            else:
                walk(v)
        walk(a.fn)
        walk(a.args)
        if a.dead:
            return
        # where it is: its frames, innermost first (a suspended actor's from where it
        # switched away; the running actor's from the engine's frame that asked the
        # strategy, leaving out the strategy and whoever fingerprints)
        frame = _decision_frame() if greenlet.getcurrent() is a else a.gr_frame
        items = self._items
        while frame is not None:
            code = frame.f_code
            loc = frame.f_locals
            out.append(("F", code.co_filename, code.co_qualname, frame.f_lasti))
            out.append(len(loc))
            items(loc)
            frame = frame.f_back

    def _frame(self, frame: types.FrameType) -> None:
        """A frame: its function, the instruction it stopped at, and its locals."""
        code = frame.f_code
        out = self.out
        out.append(("F", code.co_filename, code.co_qualname, frame.f_lasti))
        loc = frame.f_locals
        out.append(len(loc))
        self._items(loc)

    def _generator(self, obj: types.GeneratorType[Any, Any, Any]) -> None:
        self.out.append(("G", obj.gi_code.co_qualname))
        if obj.gi_frame is not None:
            self._frame(obj.gi_frame)

    def _reduced(self, obj: Any) -> None:
        """A builtin object the walk does not know (an iterator, say): what it pickles to,
        or only its type when it does not pickle."""
        self.out.append(("R", type(obj).__qualname__))
        try:
            reduced = obj.__reduce__()
        except Exception:
            return
        if isinstance(reduced, tuple):
            self.walk(reduced[1:])

    def _engine(self, e: Engine) -> None:
        out = self.out
        out.append(("E", e.current.aid if e.current is not None else None))
        walk = self.walk
        for v in _engine_state(e):
            if type(v) in _PRIM:
                out.append(v)
            else:
                walk(v)
        out.append(tuple(sorted(e.runnable)))
        out.append(("w", len(e.waiters)))
        for key, queue in e.waiters.items():
            self.walk(key)
            out.append(tuple(a.aid for a in queue))
        for a in e.actors:
            self.walk(a)


_Handler = Callable[[_Walker, Any], None]
_HANDLERS: dict[type, _Handler] = {}  # how each class is walked, found once per class


def _handler(t: type) -> _Handler:
    w = _Walker
    exact: dict[type, _Handler] = {
        list: w._sequence,
        tuple: w._sequence,
        dict: w._dict,
        array: w._array,
        bytearray: w._bytearray,
        set: w._set,
        frozenset: w._set,
        Engine: w._engine,
        SpinLock: w._lock,
        Mutex: w._lock,
        RWSem: w._rwsem,
        types.FunctionType: w._function,
        types.MethodType: w._method,
        types.BuiltinFunctionType: w._named,
        types.ModuleType: w._named,
        types.GeneratorType: w._generator,
    }
    if t in exact:
        return exact[t]
    if _np is not None and t is _np.ndarray:
        return w._ndarray
    if issubclass(t, Actor):
        return w._actor
    if issubclass(t, greenlet.greenlet):
        return w._opaque
    if issubclass(t, type):
        return w._named
    if issubclass(t, Enum):
        return w._enum
    if issubclass(t, BaseException):
        return w._exception
    if issubclass(t, (list, tuple, deque)):
        return w._sequence_like
    if issubclass(t, dict):
        return w._dict_like
    params = getattr(t, "__dataclass_params__", None)
    if params is not None and params.frozen:
        return w._frozen
    if t.__module__ == "builtins" or ("__dict__" not in dir(t) and not _slots(t)):
        return w._reduced
    return w._instance


_LEAF_LIST = 8  # lists at least this long are cached as leaves when all primitive

#: The digests of arrays' bytes met lately, by the bytes (Python's own hash of them costs a
#: fraction of a digest's): each execution builds its machine anew, and DFS's executions go
#: through many of the same states.  Only the bytes decide a digest, so a copy found equal
#: has the array's digest.
_DIGESTS: dict[bytes, bytes] = {}
_DIGESTS_MAX = 32 << 20  # bytes of arrays kept, at most; the oldest go first
_digests_size = 0


def _remember_digest(data: bytes) -> bytes:
    global _digests_size
    digest = hashlib.blake2b(data, digest_size=16).digest()
    if not _DIGESTS:
        _digests_size = 0
    if len(data) <= _DIGESTS_MAX:
        while _DIGESTS and _digests_size + len(data) > _DIGESTS_MAX:
            oldest = next(iter(_DIGESTS))
            del _DIGESTS[oldest]
            _digests_size -= len(oldest)
        _DIGESTS[data] = digest
        _digests_size += len(data)
    return digest


#: Back-reference tokens ``("@", n)`` made once (equal tuples marshal alike).
_NREFS = 4096
_REFS = tuple(("@", i) for i in range(_NREFS))


def _plain_function(v: Any) -> bool:
    """A function encoded by its name alone (no closure, no defaults): equal means same."""
    return type(v) is types.FunctionType and v.__closure__ is None and not v.__defaults__


def _leaf_items(d: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for k, v in d.items():
        out.append(k)
        out.append(v if type(v) in _PRIM else ("f", v.__module__, v.__qualname__))
    return out


def _decision_frame() -> types.FrameType | None:
    frame: types.FrameType | None = sys._getframe(2)
    while frame is not None and frame.f_code not in _DECISION_CODES:
        frame = frame.f_back
    return frame


#: Each class walked as an instance: its slot names and its tokens' heads.
_INSTANCES: dict[type, tuple[tuple[str, ...], tuple[str, str, str], tuple[str, str, str]]] = {}


def _instance_info(t: type) -> tuple[tuple[str, ...], tuple[str, str, str], tuple[str, str, str]]:
    return _slots(t), ("o", t.__module__, t.__qualname__), ("O", t.__module__, t.__qualname__)


_SLOTS: dict[type, tuple[str, ...]] = {}  # each class's slot names, all bases included


def _slots(t: type) -> tuple[str, ...]:
    slots = _SLOTS.get(t)
    if slots is None:
        names: list[str] = []
        for klass in reversed(t.__mro__):
            s = klass.__dict__.get("__slots__", ())
            names.extend((s,) if isinstance(s, str) else s)
        slots = _SLOTS[t] = tuple(n for n in names if n not in ("__dict__", "__weakref__"))
    return slots


class _MutableError(Exception):
    pass


#: id -> (object, its value token or None if it holds something mutable).  The object is
#: kept alive so that its id cannot be reused; the cache is dropped when it grows large.
_IMMUTABLE: dict[int, tuple[Any, Any]] = {}


def _remember(obj: Any) -> tuple[Any, Any]:
    if len(_IMMUTABLE) > 100_000:
        _IMMUTABLE.clear()
    try:
        token = _value(obj)
    except _MutableError:
        token = None
    entry = _IMMUTABLE[id(obj)] = (obj, token)
    return entry


def _value(obj: Any) -> Any:
    """The token of an immutable value: primitives, tuples and frozensets of them, enums and
    frozen dataclasses of them; raises _MutableError for anything else."""
    t = type(obj)
    if t in _PRIM:
        return obj
    if t is tuple:
        return ("t", tuple(_value(x) for x in obj))
    if t is frozenset:
        return ("z", tuple(sorted((_value(x) for x in obj), key=repr)))
    if isinstance(obj, Enum):
        return ("e", t.__qualname__, obj.name)
    params = getattr(t, "__dataclass_params__", None)
    if params is not None and params.frozen:
        fields = getattr(obj, "__dict__", None) or {n: getattr(obj, n) for n in _slots(t)}
        return ("F", t.__module__, t.__qualname__, tuple((k, _value(v)) for k, v in fields.items()))
    raise _MutableError


#: (running hash of an actor's points, the next point's name) -> the running hash after it.
#: Each execution's fingerprinter starts from the beginning of its point log, and DFS's
#: executions share their prefixes: most steps were hashed before.
_STEPS: dict[tuple[bytes, str], bytes] = {}
_STEPS_MAX = 200_000


class Fingerprinter:
    """Fingerprints of one execution's states: the machine (and its engine) plus each actor's
    history of points, read from the engine's point log as it grows."""

    def __init__(self, root: Any, engine: Engine) -> None:
        self.root = root
        self.engine = engine
        self.cursor = 0
        self.history: dict[int, bytes] = {}  # actor id -> running hash of its points
        self.arrays: dict[int, tuple[Any, bytearray, Any]] = {}
        self.leaves: dict[int, tuple[Any, Any, Any]] = {}
        self.calls = 0

    def _histories(self) -> tuple[tuple[int, bytes], ...]:
        log = self.engine.point_log
        if log is None:
            raise ValueError("fingerprints need the engine's point log")
        hist = self.history
        steps = _STEPS
        if len(steps) > _STEPS_MAX:
            steps.clear()
        for i in range(self.cursor, len(log)):
            _, aid, name = log[i]
            before = hist.get(aid, b"")
            after = steps.get((before, name))
            if after is None:
                h = hashlib.blake2b(before, digest_size=16)
                h.update(name.encode())
                after = steps[before, name] = h.digest()
            hist[aid] = after
        self.cursor = len(log)
        return tuple(sorted(hist.items()))

    def __call__(self) -> bytes:
        w = _Walker(self.arrays, self.leaves)
        self.calls += 1
        w.walk(self.root)
        w.walk(self.engine)  # if the root does not reach it
        w.out.append(self._histories())
        return hashlib.blake2b(marshal.dumps(w.out, _MARSHAL), digest_size=16).digest()


def fingerprinter(root: Any, engine: Engine) -> Callable[[], bytes]:
    """A function returning the fingerprint of the current state of *root* and *engine*."""
    return Fingerprinter(root, engine)
