"""Scenario files: TOML in, a validated :class:`Scenario` out, or one precise error.

Every error is a :class:`ScenarioError` printed as ``file:line: key.path: reason`` (the line
of the offending key, found by ``toml_lines``), or ``file: key.path: reason`` when no line
can be known (a ``--set`` override, a missing key).  Nothing runs before the whole file is
valid.  The format, key by key, is in docs/workloads.md; the phase table is ``phases.py``.

Overrides (``--set machine.seed=3``, and the sweep's grid) change the parsed document before
validation, so an override is checked exactly like the file.  ``scale`` divides every size
and access count, for quick runs of a big scenario.
"""

from __future__ import annotations

import math
import re
import sys
import tomllib
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from hugetmpfs.errors import ScenarioError
from hugetmpfs.files import read_regular
from hugetmpfs.shmem.inode import HUGE_MODES
from hugetmpfs.shmem.machine import MachineConfig, Sysctls
from hugetmpfs.shmem.names import BEHAVIOURS, GUARDS, VARIANTS
from hugetmpfs.shmem.sysctl import SYSCTLS, set_sysctl
from hugetmpfs.workload.phases import PHASE_ARGS, Arg
from hugetmpfs.workload.scenario import MountSpec, Phase, ProcessSpec, RunSpec, SampleSpec, Scenario
from hugetmpfs.workload.toml_lines import Path, format_path, key_lines, line_of

_SIZE = re.compile(r"^([0-9]+)([KMGkmg]?)$")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
SCALES = (1, 2, 4, 8, 16, 32, 64)

_TOP = ("name", "description", "shows", "machine", "sysctl", "sample", "run", "mount", "process")
_MACHINE = {
    "ram": Arg("size", default=2 << 30, lo=16 << 20, hi=64 << 30),
    "swap": Arg("size", default=0, lo=0, hi=64 << 30),
    "cpus": Arg("int", default=2, lo=1, hi=64),
    "seed": Arg("int", default=0, lo=0, hi=(1 << 64) - 1),
    "hpage_nr": Arg("int", default=512, lo=2, hi=512),
    "variant": Arg("enum", default="v24", choices=VARIANTS),
    "behaviours": Arg("strlist", default=()),
    "guards_off": Arg("strlist", default=()),
    "lockdep": Arg("bool", default=False),
}
_MOUNT = {
    "name": Arg("str", default="tmp"),
    "huge": Arg("enum", default="never", choices=tuple(HUGE_MODES)),
    "size": Arg("size", default=256 << 20, lo=4096, hi=64 << 30),
}
_SAMPLE = {
    "every_ms": Arg("number", default=10.0, lo=0.01, hi=1e9),
    "fields": Arg("strlist", default=("*",)),
    "pagemaps": Arg("instants", default=("end",)),
}
_RUN = {
    "after_ms": Arg("number", default=0.0, lo=0, hi=1e9),
    "until_idle": Arg("bool", default=True),
    "max_ms": Arg("number", default=600_000.0, lo=1, hi=1e9),
}
_PROCESS = ("name", "cpu", "mount", "phase")
#: The latest virtual time a page map may be asked for (as run.max_ms's bound).
_MAX_MS = 1e9


class _Loader:
    """Validation with the file's key lines at hand."""

    def __init__(self, path: str, lines: dict[Path, int], overridden: set[Path]) -> None:
        self.path = path
        self.lines = lines
        self.overridden = overridden

    def error(self, where: Path, reason: str) -> ScenarioError:
        if any(where[: len(o)] == o for o in self.overridden):
            return ScenarioError(self.path, 0, format_path(where), f"{reason} (set by --set)")
        return ScenarioError(self.path, line_of(self.lines, where), format_path(where), reason)

    def table(self, data: Any, where: Path, keys: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.error(where, f"must be a table, not {_kind(data)}")
        for key in data:
            if key not in keys:
                known = ", ".join(keys)
                raise self.error((*where, key), f"unknown key (known: {known})")
        return data

    def fields(self, data: Any, where: Path, spec: dict[str, Arg]) -> dict[str, Any]:
        data = self.table({} if data is None else data, where, spec)
        return {k: self.value(data.get(k), (*where, k), arg) for k, arg in spec.items()}

    def value(self, raw: Any, where: Path, arg: Arg) -> Any:
        if raw is None:
            if arg.required:
                raise self.error(where, "is required")
            return arg.default
        value = _convert(raw, arg)
        if value is None:
            raise self.error(where, f"{_show(raw)} is not {arg.describe()}")
        if (arg.lo is not None and value < arg.lo) or (arg.hi is not None and value > arg.hi):
            raise self.error(where, f"{_show(raw)} must be in {arg.range()}")
        if arg.kind == "instants":
            for k, instant in enumerate(value):
                if not isinstance(instant, str) and not 0 <= instant <= _MAX_MS:
                    raise self.error((*where, k), f"{_show(raw[k])} must be in 0..{_MAX_MS:g}")
        return value

    def names(self, values: tuple[str, ...], where: Path, what: str, known: Any) -> None:
        """Every one of *values* is a name in *known*."""
        for k, name in enumerate(values):
            if name not in known:
                listed = ", ".join(known) or "none are defined yet"
                raise self.error((*where, k), f"unknown {what} {name!r} (known: {listed})")

    def scenario_name(self, name: str) -> None:
        """The name makes the default output directory out/NAME: one plain directory name."""
        where: Path = ("name",)
        if "/" in name:
            raise self.error(where, f"{_show(name)}: must not contain '/'")
        if name in (".", ".."):
            raise self.error(where, f"{name!r}: must not be '.' or '..'")
        if any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise self.error(where, f"{_show(name)}: must not contain control characters")

    # -- sections -----------------------------------------------------------------------

    def machine(self, data: Any) -> MachineConfig:
        f = self.fields(data, ("machine",), _MACHINE)
        nr = f["hpage_nr"]
        if nr & (nr - 1):
            raise self.error(("machine", "hpage_nr"), f"{nr} must be a power of two in 2..512")
        if f["ram"] % (nr << 12):
            raise self.error(
                ("machine", "ram"), f"must be a multiple of the huge page ({nr} pages)"
            )
        self.names(f["behaviours"], ("machine", "behaviours"), "behaviour", BEHAVIOURS)
        self.names(f["guards_off"], ("machine", "guards_off"), "guard", GUARDS)
        f["behaviours"], f["guards_off"] = tuple(f["behaviours"]), tuple(f["guards_off"])
        return MachineConfig(**f)

    def sysctls(self, data: Any, ram: int) -> tuple[tuple[str, int], ...]:
        flat = _flatten(self.table({} if data is None else data, ("sysctl",), _AnyKey()))
        out = []
        for name, value in flat:
            where = ("sysctl", name)
            if where not in self.lines:
                where = ("sysctl", *name.split("."))
            if name not in SYSCTLS:
                raise self.error(where, f"unknown sysctl (known: {', '.join(SYSCTLS)})")
            if not isinstance(value, int) or isinstance(value, bool):
                raise self.error(where, f"{value!r} is not an integer")
            probe = SimpleNamespace(sysctl=Sysctls(), nr_frames=ram >> 12)
            if set_sysctl(probe, name, value):  # type: ignore[arg-type]
                raise self.error(where, f"{value} is refused by {name} (EINVAL)")
            out.append((name, value))
        return tuple(out)

    def mounts(self, data: Any) -> tuple[MountSpec, ...]:
        items = [data] if isinstance(data, dict) else data
        if items is None:
            items = [{}]
        if not isinstance(items, list) or not items:
            raise self.error(("mount",), "must be a table or a non-empty array of tables")
        mounts = []
        for i, item in enumerate(items):
            where: Path = ("mount",) if isinstance(data, dict) else ("mount", i)
            f = self.fields(item, where, _MOUNT)
            if any(m.name == f["name"] for m in mounts):
                raise self.error((*where, "name"), f"a mount named {f['name']!r} exists already")
            mounts.append(MountSpec(f["huge"], f["size"], f["name"]))
        return tuple(mounts)

    def processes(self, data: Any, m: MachineConfig, mounts: tuple[MountSpec, ...]) -> list:
        if not isinstance(data, list) or not data:
            raise self.error(("process",), "at least one [[process]] is required")
        procs: list[ProcessSpec] = []
        for i, item in enumerate(data):
            where: Path = ("process", i)
            self.table(item, where, _PROCESS)
            name = self.value(item.get("name"), (*where, "name"), Arg("str", default=f"p{i}"))
            if any(p.name == name for p in procs):
                raise self.error((*where, "name"), f"a process named {name!r} exists already")
            cpu = self.value(item.get("cpu"), (*where, "cpu"), Arg("int", default=0, lo=0))
            if cpu >= m.cpus:
                raise self.error(
                    (*where, "cpu"), f"{cpu} must be in 0..{m.cpus - 1} (machine.cpus)"
                )
            mount = self.value(item.get("mount"), (*where, "mount"), Arg("str", default=""))
            mount = mount or mounts[0].name
            if all(mt.name != mount for mt in mounts):
                raise self.error((*where, "mount"), f"no mount named {mount!r}")
            phases = item.get("phase")
            if not isinstance(phases, list) or not phases:
                raise self.error((*where, "phase"), "at least one [[process.phase]] is required")
            steps = tuple(self.phase(p, (*where, "phase", j)) for j, p in enumerate(phases))
            procs.append(ProcessSpec(name, steps, cpu, mount))
        return procs

    def phase(self, data: Any, where: Path) -> Phase:
        if not isinstance(data, dict):
            raise self.error(where, f"must be a table, not {_kind(data)}")
        op = data.get("op")
        if op not in PHASE_ARGS:
            reason = "is required" if op is None else f"{op!r} is not a phase op"
            raise self.error((*where, "op"), f"{reason} (ops: {', '.join(PHASE_ARGS)})")
        spec = {"op": Arg("str"), "label": Arg("str", default=""), **PHASE_ARGS[op]}
        f = self.fields(data, where, spec)
        touch_write = op == "touch" and f["write"]
        if op == "touch" and (f["byte"] is None) == touch_write:
            need = "a write touch needs byte" if touch_write else "byte is only for a write touch"
            raise self.error((*where, "byte"), need)
        label = f.pop("label")
        del f["op"]
        return Phase(op, {k: v for k, v in f.items() if v is not None}, label)

    def events(self, procs: list[ProcessSpec], sample: SampleSpec) -> None:
        """Every event waited for (or named as a page-map instant) is signalled somewhere."""
        signalled = {p.args["event"] for pr in procs for p in pr.phases if p.op == "signal"}
        for i, pr in enumerate(procs):
            for j, p in enumerate(pr.phases):
                if p.op == "wait" and p.args["event"] not in signalled:
                    where = ("process", i, "phase", j, "event")
                    raise self.error(where, f"no phase signals {p.args['event']!r}")
        for k, instant in enumerate(sample.pagemaps):
            if isinstance(instant, str) and instant not in {"start", "end", *signalled}:
                where = ("sample", "pagemaps", k)
                raise self.error(where, f"{instant!r} is not start, end or a signalled event")


class _AnyKey:
    def __contains__(self, key: object) -> bool:
        return True


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for key, value in data.items():
        if isinstance(value, dict):
            out.extend(_flatten(value, f"{prefix}{key}."))
        else:
            out.append((f"{prefix}{key}", value))
    return out


def _kind(value: Any) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _show(value: Any, limit: int = 60) -> str:
    """*value*'s repr, cut short: a message stays one readable line whatever the file holds."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # nested too deeply, or an int of too many digits
        text = "..."
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_size(raw: Any) -> int | None:
    """An integer, or a string of digits with an optional K/M/G suffix (powers of 1024)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        match = _SIZE.match(raw.strip())
        if match:
            digits = match[1].lstrip("0") or "0"
            # Past 20 digits it is out of every range, and int() refuses more than 4300 digits.
            n = int(digits) if len(digits) <= 20 else 1 << 80
            return n * _UNITS[match[2].lower()]
    return None


def _float(raw: Any) -> float | None:
    """*raw* as a float (an integer too big for one: the largest float), or None if not a
    number.  NaN and the infinities stay: the caller refuses them."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        return float(raw)
    except OverflowError:  # an integer of more than 308 digits: out of every range
        return sys.float_info.max if raw > 0 else -sys.float_info.max


def _convert(raw: Any, arg: Arg) -> Any:
    """*raw* as *arg*'s kind, or None when it is not of that kind."""
    kind = arg.kind
    is_int = isinstance(raw, int) and not isinstance(raw, bool)
    if kind in ("size", "stride", "count"):
        return parse_size(raw)
    if kind in ("int", "byte"):
        return raw if is_int else None
    if kind == "number":  # NaN would pass every bound check: no comparison holds for it
        value = _float(raw)
        return value if value is not None and math.isfinite(value) else None
    if kind == "bool":
        return raw if isinstance(raw, bool) else None
    if kind == "str":
        return raw if isinstance(raw, str) and raw else None
    if kind == "enum":
        return raw if raw in arg.choices else None
    if kind == "strlist":
        ok = isinstance(raw, list) and all(isinstance(x, str) for x in raw)
        return tuple(raw) if ok else None
    if kind == "instants":
        if not isinstance(raw, list):
            return None
        instants = tuple(x if isinstance(x, str) else _float(x) for x in raw)
        return None if None in instants else instants  # NaN is refused by the range check
    raise AssertionError(kind)


# -- overrides and scale --------------------------------------------------------------------


def parse_override(text: str) -> tuple[list[str], Any]:
    """``machine.seed=3`` -> (["machine", "seed"], 3); the value is read as TOML, else a string.

    ``sysctl.vm.shmem_huge=1`` keeps the sysctl's dotted name as one key."""
    if "=" not in text:
        raise ScenarioError("--set", 0, text, "expected KEY.PATH=VALUE")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ScenarioError("--set", 0, text, "expected KEY.PATH=VALUE")
    if parts[0] == "sysctl" and len(parts) > 1:
        parts = ["sysctl", ".".join(parts[1:])]
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    except RecursionError:
        raise ScenarioError("--set", 0, key.strip(), "the value is nested too deeply") from None
    except ValueError:  # an integer of more digits than int() converts: out of every range
        digits = sum(c.isdigit() for c in raw)
        raise ScenarioError(
            "--set", 0, key.strip(), f"an integer of {digits} digits is out of range"
        ) from None
    return parts, value


def apply_override(path: str, doc: dict[str, Any], parts: list[str], value: Any) -> Path:
    """Set *parts* in *doc* (array elements by index, or by their ``name``); the concrete path."""
    node: Any = doc
    concrete: list[str | int] = []
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        if isinstance(node, list):
            index = _element(node, part)
            if index is None:
                where = format_path(tuple(concrete))
                raise ScenarioError(path, 0, where, f"--set: no element {part!r}")
            concrete.append(index)
            if last:
                node[index] = value
            node = node[index]
            continue
        if not isinstance(node, dict):
            raise ScenarioError(path, 0, format_path(tuple(concrete)), "--set: not a table")
        concrete.append(part)
        if last:
            node[part] = value
        else:
            node = node.setdefault(part, {})
    return tuple(concrete)


def _element(items: list[Any], part: str) -> int | None:
    if part.isdigit():
        return int(part) if int(part) < len(items) else None
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == part:
            return i
    return None


def _scaled(sc: Scenario, scale: int) -> Scenario:
    """Every size and access count divided by *scale* (kept a multiple of the huge page when it
    was one, else of a small page)."""
    if scale == 1:
        return sc
    huge = sc.machine.hpage_nr << 12

    def div(v: int) -> int:
        unit = huge if v % huge == 0 else 4096
        return max(unit, v // scale // unit * unit) if v else 0

    def phase(p: Phase) -> Phase:
        spec = PHASE_ARGS[p.op]
        args = {
            k: (div(v) if spec[k].kind == "size" else max(1, v // scale))
            if spec[k].kind in ("size", "count")
            else v
            for k, v in p.args.items()
        }
        return replace(p, args=args)

    machine = replace(sc.machine, ram=div(sc.machine.ram), swap=div(sc.machine.swap))
    mounts = tuple(replace(m, size=div(m.size)) for m in sc.mounts)
    procs = tuple(replace(p, phases=tuple(map(phase, p.phases))) for p in sc.processes)
    return replace(sc, machine=machine, mounts=mounts, processes=procs)


# -- the entry points -----------------------------------------------------------------------


def parse_scenario(
    text: str, path: str, overrides: tuple[str, ...] = (), scale: int = 1
) -> Scenario:
    """Validate the TOML *text* of file *path*: the scenario, or a ScenarioError."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        match = re.search(r"\(at line (\d+), column \d+\)", str(e))
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e)) or "invalid TOML"
        raise ScenarioError(path, int(match[1]) if match else 0, "", reason) from None
    except RecursionError:
        raise ScenarioError(path, _nesting_line(text), "", "nested too deeply") from None
    except ValueError:  # tomllib's int() of an integer of more than 4300 digits
        raise _too_many_digits(text, path) from None
    if scale not in SCALES:
        raise ScenarioError(path, 0, "--scale", f"{scale} must be one of {SCALES}")
    overridden = {apply_override(path, doc, *parse_override(o)) for o in overrides}
    ld = _Loader(path, key_lines(text), overridden)
    ld.table(doc, (), _TOP)
    stem = path.rsplit("/", 1)[-1].removesuffix(".toml")
    name = ld.value(doc.get("name"), ("name",), Arg("str", default=stem))
    ld.scenario_name(name)
    description = ld.value(doc.get("description"), ("description",), Arg("str", default=""))
    shows = ld.value(doc.get("shows"), ("shows",), Arg("str", default=""))
    machine = ld.machine(doc.get("machine"))
    sysctls = ld.sysctls(doc.get("sysctl"), machine.ram)
    sample = SampleSpec(**ld.fields(doc.get("sample"), ("sample",), _SAMPLE))
    run = RunSpec(**ld.fields(doc.get("run"), ("run",), _RUN))
    mounts = ld.mounts(doc.get("mount"))
    procs = ld.processes(doc.get("process"), machine, mounts)
    ld.events(procs, sample)
    sc = Scenario(
        name, " ".join(description.split()), machine, mounts, tuple(procs), sample, run,
        sysctls, " ".join(shows.split()), path,
    )  # fmt: skip
    return _scaled(sc, scale)


#: A TOML string, a comment, an opening or closing bracket or brace, or a newline.
_TOKENS = re.compile(
    r'"""(?:\\.|[^\\])*?"""|\'\'\'.*?\'\'\'|'  # multi-line strings
    r'"(?:\\.|[^"\\\n])*"|\'[^\'\n]*\'|'  # one-line strings
    r"#[^\n]*|[\[{]|[\]}]|\n",
    re.DOTALL,
)
_DEEP = 100


def _nesting_line(text: str) -> int:
    """The line where arrays and inline tables first nest _DEEP deep (0 if they never do)."""
    depth, line = 0, 1
    for token in _TOKENS.finditer(text):
        t = token[0]
        line += t.count("\n")
        if t in "[{":
            depth += 1
            if depth >= _DEEP:
                return line
        elif t in "]}":
            depth -= 1
    return 0


def _too_many_digits(text: str, path: str) -> ScenarioError:
    """The error for the first integer of more digits than int() converts, by line and key."""
    for match in re.finditer(r"([=\[,]\s*)[+-]?([0-9][0-9_]*)", text):
        digits = match[2].replace("_", "")
        if len(digits) > sys.get_int_max_str_digits():
            line = text.count("\n", 0, match.start(2)) + 1
            # The document up to the integer: the last key path the scanner meets is its own.
            paths = list(key_lines(text[: match.end()]))
            where = format_path(paths[-1]) if paths else ""
            reason = f"an integer of {len(digits)} digits is out of range"
            return ScenarioError(path, line, where, reason)
    return ScenarioError(path, 0, "", "an integer has too many digits")


def load_scenario(path: str, overrides: tuple[str, ...] = (), scale: int = 1) -> Scenario:
    """Read and validate the scenario file *path* (a regular file: a FIFO would block the
    read forever, a device such as /dev/zero would fill the memory)."""
    try:
        raw = read_regular(path)
    except OSError as e:
        raise ScenarioError(path, 0, "", e.strerror or str(e)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ScenarioError(path, line, "", "not valid UTF-8") from None
    return parse_scenario(text, path, overrides, scale)
