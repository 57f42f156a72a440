"""Parse and validate a trace (format v1, DESIGN.md §3) before anything runs.

Every malformed case of §3.5 raises :class:`TraceError` naming the file, the line and the
reason, so a bad trace never produces partial results.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hugetmpfs.errors import TraceError
from hugetmpfs.shmem.names import BEHAVIOURS, GUARDS
from hugetmpfs.trace.files import BOM, BOM_REASON, read_input
from hugetmpfs.trace.ops import (
    KINDS,
    MACHINE_DEFAULTS,
    MOUNT_SIZE_DEFAULT,
    OPS,
    Field,
    OpSpec,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

_SIZE_RE = re.compile(r"([0-9]+)([KkMmGg]?)")
_HEX_RE = re.compile(r"(?:[0-9A-Fa-f]{2})*")
_SUFFIX = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


@dataclass(frozen=True)
class Op:
    """One validated operation line.

    ``args`` holds the fields with sizes as byte counts and name lists as tuples; handle
    fields hold the handle's name.
    """

    i: int  # 0-based op index, the result's "i"
    line: int  # 1-based line in the trace file
    name: str
    args: Mapping[str, Any]
    text: str = field(default="", compare=False, repr=False)  # the line as written, for reports

    @property
    def spec(self) -> OpSpec:
        return OPS[self.name]

    @property
    def model_only(self) -> bool:
        return OPS[self.name].model_only


@dataclass(frozen=True)
class Trace:
    """A whole validated trace."""

    path: str
    ops: tuple[Op, ...]
    huge: str  # the mount's huge= mode
    size: int  # the mount's size= in bytes
    machine: Mapping[str, Any] = field(default_factory=lambda: dict(MACHINE_DEFAULTS))


def parse_file(path: str) -> Trace:
    """Read and validate the trace at *path*, which must be a regular file."""
    return parse_bytes(read_input(path, "trace"), path)


def parse_bytes(data: bytes, path: str = "<trace>") -> Trace:
    """Validate the trace text *data*; *path* only names it in error messages."""
    return _Parser(path).parse(data.split(b"\n"))


def _describe(value: Any) -> str:
    return f"{_show(value)} (type {_json_type(value)})"


def _show(value: Any, limit: int = 60) -> str:
    """*value* as short JSON: a message stays one readable line whatever the trace holds."""
    try:
        text = json.dumps(value)
    except (RecursionError, ValueError):  # nested as deep as the decoder allows
        text = "..."
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate field {key!r}")
        obj[key] = value
    return obj


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# One decoder for every line: building it per line was a third of a replay's parse time.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)


class _Parser:
    def __init__(self, path: str) -> None:
        self.path = path
        self.defined: dict[str, set[str]] = {"fd": set(), "map": set()}

    def fail(self, line: int, reason: str) -> TraceError:
        return TraceError(self.path, line, reason)

    def parse(self, lines: Iterable[bytes]) -> Trace:
        ops: list[Op] = []
        mount: Op | None = None
        machine: dict[str, Any] = dict(MACHINE_DEFAULTS)
        for lineno, raw in enumerate(lines, start=1):
            decoded = self.decode(lineno, raw)
            if decoded is None:
                continue
            op = self.validate(lineno, len(ops), *decoded)
            if op.name == "machine":
                if ops:
                    raise self.fail(lineno, "machine must be the first operation of the trace")
                machine.update(op.args)
            elif op.name == "mount":
                if mount is not None:
                    raise self.fail(
                        lineno, f"a second mount (the trace mounts once, on line {mount.line})"
                    )
                mount = op
            elif not op.model_only and mount is None:
                raise self.fail(lineno, f"{op.name} before mount")
            ops.append(op)
        if mount is None:
            raise self.fail(1, "the trace has no mount operation")
        return Trace(
            path=self.path,
            ops=tuple(ops),
            huge=mount.args["huge"],
            size=mount.args.get("size", MOUNT_SIZE_DEFAULT),
            machine=machine,
        )

    def decode(self, lineno: int, raw: bytes) -> tuple[dict[str, Any], str] | None:
        """The line's object and its text, or None for a blank or comment line."""
        if raw.startswith(BOM):
            raise self.fail(lineno, BOM_REASON)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise self.fail(lineno, f"invalid UTF-8 at byte {e.start}") from None
        # Only JSON's own whitespace: str.strip() would also accept \x1c or U+00A0 around it.
        stripped = text.strip(" \t\r")
        if not stripped or stripped.startswith("#"):
            return None
        try:
            obj = _DECODER.decode(stripped)
        except RecursionError:
            raise self.fail(lineno, "invalid JSON: nested too deeply") from None
        except ValueError as e:
            raise self.fail(lineno, f"invalid JSON: {e}") from None
        if not isinstance(obj, dict):
            raise self.fail(lineno, f"expected a JSON object, got a {_json_type(obj)}")
        return obj, stripped

    def validate(self, lineno: int, index: int, obj: dict[str, Any], text: str = "") -> Op:
        if "op" not in obj:
            raise self.fail(lineno, "missing field 'op'")
        name = obj["op"]
        if not isinstance(name, str):
            raise self.fail(lineno, f"op must be a string, got {_describe(name)}")
        spec = OPS.get(name)
        if spec is None:
            raise self.fail(lineno, f"unknown op {name!r}")
        for key in obj:
            if key != "op" and spec.field(key) is None:
                raise self.fail(lineno, f"{name}: unknown field {key!r}")
        args: dict[str, Any] = {}
        for f in spec.fields:
            if f.name not in obj:
                if f.required:
                    raise self.fail(lineno, f"{name}: missing field {f.name!r}")
                continue
            args[f.name] = self.value(lineno, name, f, obj[f.name])
        self.cross_check(lineno, name, args)
        for f in spec.fields:  # a handle is defined only once its own line is valid
            if f.kind == "defines":
                self.defined["fd" if name == "open" else "map"].add(args[f.name])
        return Op(i=index, line=lineno, name=name, args=args, text=text)

    def value(self, lineno: int, op: str, f: Field, v: Any) -> Any:
        return _CHECKS[f.kind](self, lineno, op, f, v)

    # -- one method per field kind -------------------------------------------------------

    def _expect(self, ok: bool, lineno: int, op: str, f: Field, what: str, v: Any) -> None:
        if not ok:
            raise self.fail(lineno, f"{op}: {f.name} must be {what}, got {_describe(v)}")

    def _range(self, lineno: int, op: str, f: Field, n: int, shown: Any) -> int:
        lo = f.lo if f.lo is not None else n
        hi = f.hi if f.hi is not None else n
        if not lo <= n <= hi:
            raise self.fail(lineno, f"{op}: {f.name}={_show(shown)} must be in {lo}..{hi}")
        return n

    def _kind_int(self, lineno: int, op: str, f: Field, v: Any) -> int:
        self._expect(type(v) is int, lineno, op, f, "an integer", v)
        return self._range(lineno, op, f, v, v)

    def _kind_bool(self, lineno: int, op: str, f: Field, v: Any) -> bool:
        self._expect(isinstance(v, bool), lineno, op, f, "true or false", v)
        return v

    def _kind_str(self, lineno: int, op: str, f: Field, v: Any) -> str:
        self._expect(isinstance(v, str) and v != "", lineno, op, f, "a non-empty string", v)
        return v

    def _kind_size(self, lineno: int, op: str, f: Field, v: Any) -> int:
        if type(v) is int:
            return self._range(lineno, op, f, v, v)
        m = _SIZE_RE.fullmatch(v) if isinstance(v, str) else None
        self._expect(m is not None, lineno, op, f, "a size (an integer, or digits with K/M/G)", v)
        assert m is not None
        digits = m.group(1).lstrip("0") or "0"
        # Past 20 digits it is out of every range, and int() refuses more than 4300 digits.
        n = int(digits) if len(digits) <= 20 else 1 << 80
        n *= _SUFFIX[m.group(2).lower()]
        return self._range(lineno, op, f, n, v)

    def _kind_enum(self, lineno: int, op: str, f: Field, v: Any) -> str:
        self._expect(isinstance(v, str), lineno, op, f, "a string", v)
        if v not in f.choices:
            raise self.fail(
                lineno, f"{op}: unknown {f.name} {v!r} (one of: {', '.join(f.choices)})"
            )
        return v

    def _kind_names(self, lineno: int, op: str, f: Field, v: Any) -> tuple[str, ...]:
        return self._names(lineno, op, f, v, f.choices)

    def _kind_strlist(self, lineno: int, op: str, f: Field, v: Any) -> tuple[str, ...]:
        known = {"behaviours": BEHAVIOURS, "guards_off": GUARDS}[f.name]
        return self._names(lineno, op, f, v, tuple(known))

    def _names(
        self, lineno: int, op: str, f: Field, v: Any, known: tuple[str, ...]
    ) -> tuple[str, ...]:
        ok = isinstance(v, list) and all(isinstance(x, str) for x in v)
        self._expect(ok, lineno, op, f, "a list of names", v)
        for x in v:
            if x not in known:
                choices = ", ".join(known) if known else "none are defined yet"
                raise self.fail(lineno, f"{op}: unknown name {x!r} in {f.name} (known: {choices})")
        return tuple(v)

    def _kind_path(self, lineno: int, op: str, f: Field, v: Any) -> str:
        self._expect(isinstance(v, str), lineno, op, f, "a string", v)
        # A lone surrogate (JSON "\ud800") has no UTF-8 form, so no file can have that name.
        if not _encodable(v):
            raise self.fail(lineno, f"{op}: path {v!r} holds a lone surrogate (not UTF-8)")
        parts = v.split("/")
        if any(p in ("", ".", "..") for p in parts) or "\0" in v:
            raise self.fail(
                lineno,
                f"{op}: path {v!r} must be a relative name: non-empty parts separated by '/', "
                "never '.' or '..'",
            )
        return v

    def _kind_defines(self, lineno: int, op: str, f: Field, v: Any) -> str:
        return self._kind_str(lineno, op, f, v)

    def _kind_fd(self, lineno: int, op: str, f: Field, v: Any) -> str:
        return self._handle(lineno, op, f, v, "fd", "open")

    def _kind_map(self, lineno: int, op: str, f: Field, v: Any) -> str:
        return self._handle(lineno, op, f, v, "map", "mmap")

    def _handle(self, lineno: int, op: str, f: Field, v: Any, space: str, definer: str) -> str:
        self._expect(isinstance(v, str) and v != "", lineno, op, f, "a handle name", v)
        if v not in self.defined[space]:
            raise self.fail(lineno, f"{op}: {f.name} {v!r} is not defined by any earlier {definer}")
        return v

    def _kind_hex(self, lineno: int, op: str, f: Field, v: Any) -> bytes:
        ok = isinstance(v, str) and _HEX_RE.fullmatch(v) is not None
        self._expect(ok, lineno, op, f, "hex digits of even length", v)
        return bytes.fromhex(v)

    # -- rules spanning fields ----------------------------------------------------------

    def cross_check(self, lineno: int, op: str, args: dict[str, Any]) -> None:
        if op == "pwrite":
            has_hex = "hex" in args
            has_fill = "len" in args or "byte" in args
            if has_hex and has_fill:
                raise self.fail(lineno, "pwrite: hex cannot be combined with len or byte")
            if not has_hex and not ("len" in args and "byte" in args):
                missing = "len" if "len" not in args else "byte"
                raise self.fail(
                    lineno, f"pwrite: missing field {missing!r} (give len and byte, or hex)"
                )
        elif op == "touch":
            if args["write"] and "byte" not in args:
                raise self.fail(lineno, "touch: a write touch needs byte")
            if not args["write"] and "byte" in args:
                raise self.fail(lineno, "touch: byte is only allowed on a write touch")
        elif op == "machine":
            n = args.get("hpage_nr", 2)
            if n & (n - 1):  # the range is checked already; geometry needs a power of two
                raise self.fail(lineno, f"machine: hpage_nr={n} must be a power of two (2..512)")


_CHECKS = {kind: getattr(_Parser, f"_kind_{kind}") for kind in KINDS}
