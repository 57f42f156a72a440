"""The trace parser: every malformed case of DESIGN.md §3.5 is `file:line: reason`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hugetmpfs.errors import TraceError
from hugetmpfs.trace import parse_bytes, parse_file
from hugetmpfs.trace.ops import OPS, Field, GiB, KiB, MiB

if TYPE_CHECKING:
    from collections.abc import Callable

MOUNT = '{"op": "mount", "huge": "never"}'
OPEN = '{"op": "open", "path": "f", "as": "f", "flags": ["O_RDWR", "O_CREAT"]}'
MMAP = (
    '{"op": "mmap", "fd": "f", "as": "m", "offset": 0, "length": 8192, '
    '"prot": "rw", "shared": true}'
)
PREFIX = (MOUNT, OPEN, MMAP)  # lines 1-3: handles f (fd) and m (map) defined


def parse_lines(*lines: str, sep: str = "\n") -> Any:
    return parse_bytes(sep.join(lines).encode(), "t.jsonl")


def rejects(data: bytes | str, line: int, *words: str) -> TraceError:
    """Parsing *data* fails on *line* with a reason that contains every one of *words*."""
    raw = data.encode() if isinstance(data, str) else data
    with pytest.raises(TraceError) as info:
        parse_bytes(raw, "t.jsonl")
    e = info.value
    assert str(e).startswith(f"t.jsonl:{line}: "), str(e)
    assert (e.path, e.line) == ("t.jsonl", line)
    assert "\n" not in str(e)
    for word in words:
        assert word in e.reason, (word, e.reason)
    return e


def after_prefix(line: str) -> str:
    """*line* as line 4, after a mount, an open of handle f and an mmap of handle m."""
    return "\n".join((*PREFIX, line))


DROP: Any = object()  # a field value meaning "leave this field out"


def op(op_name: str, /, **fields: Any) -> str:
    """One trace line; ``as_`` stands for the reserved word ``as``."""
    obj = {"op": op_name}
    obj.update({k.rstrip("_"): v for k, v in fields.items() if v is not DROP})
    return json.dumps(obj)


def pwrite(**fields: Any) -> str:
    return op("pwrite", **{"fd": "f", "offset": 0, **fields})


def touch(**fields: Any) -> str:
    return op("touch", **{"map": "m", "offset": 0, "len": 4096, "stride": 4096, **fields})


def machine(**fields: Any) -> str:
    return "\n".join((op("machine", **fields), MOUNT))


def mount(**fields: Any) -> str:
    return op("mount", **{"huge": "never", **fields})


# -- JSON and line structure ------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "line", "words"),
    [
        ('{"op": "mount", "huge": ', 1, ("invalid JSON",)),
        (f"{MOUNT}\n{{op: statfs}}", 2, ("invalid JSON",)),
        (f"{MOUNT}\n{MOUNT} {MOUNT}", 2, ("invalid JSON",)),
        (b'{"op": "mount", "huge": "never"}\n{"op": "unlink", "path": "\xff"}', 2, ("UTF-8",)),
        (b"\xef\xbb", 1, ("UTF-8",)),
        (after_prefix(pwrite(offset=float("nan"), len=1, byte=0)), 4, ("NaN",)),
        (
            after_prefix('{"op": "pread", "fd": "f", "offset": Infinity, "len": 1}'),
            4,
            ("Infinity",),
        ),
        (
            after_prefix('{"op": "pread", "fd": "f", "offset": -Infinity, "len": 1}'),
            4,
            ("Infinity",),
        ),
        ("[" * 100_000, 1, ("invalid JSON", "deep")),
        ('\x1c{"op": "mount", "huge": "never"}', 1, ("invalid JSON",)),
        ('\u00a0{"op": "mount", "huge": "never"}', 1, ("invalid JSON",)),
    ],
)
def test_invalid_json_or_utf8(data: str | bytes, line: int, words: tuple[str, ...]) -> None:
    rejects(data, line, *words)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("[1, 2]", "list"),
        ('"mount"', "string"),
        ("3", "integer"),
        ("true", "boolean"),
        ("null", "null"),
    ],
)
def test_line_not_an_object(text: str, kind: str) -> None:
    rejects(f"{MOUNT}\n{text}", 2, "expected a JSON object", kind)


def test_missing_op() -> None:
    rejects('{"huge": "never"}', 1, "missing field 'op'")


@pytest.mark.parametrize("value", ["3", "null", '["mount"]', "true"])
def test_op_not_a_string(value: str) -> None:
    rejects(f'{{"op": {value}, "huge": "never"}}', 1, "op must be a string")


def test_unknown_op() -> None:
    rejects(f"{MOUNT}\n{op('mkdir', path='d')}", 2, "unknown op 'mkdir'")


@pytest.mark.parametrize(
    "line",
    [
        op("close", fd="f", flags=[]),
        op("statfs", i=3),
        op("pread", fd="f", offset=0, len=1, sha256="00"),
    ],
)
def test_unknown_field(line: str) -> None:
    name = json.loads(line)["op"]
    e = rejects(after_prefix(line), 4, f"{name}: unknown field")
    assert "'op'" not in e.reason


@pytest.mark.parametrize(
    ("line", "missing"),
    [
        (op("pread", fd="f", offset=0), "len"),
        (op("open", path="g", as_="g"), "flags"),
        (op("mmap", fd="f", offset=0, length=1, prot="r", shared=True), "as"),
        (touch(stride=DROP, write=False), "stride"),
        (op("lseek", fd="f", offset=0), "whence"),
        (op("sysctl", name="vm.shmem_huge"), "value"),
    ],
)
def test_missing_required_field(line: str, missing: str) -> None:
    rejects(after_prefix(line), 4, f"missing field {missing!r}")


def test_missing_mount_huge() -> None:
    rejects('{"op": "mount", "size": "1M"}', 1, "mount: missing field 'huge'")


def test_duplicate_key() -> None:
    rejects(after_prefix('{"op": "close", "fd": "f", "fd": "f"}'), 4, "duplicate field 'fd'")
    rejects('{"op": "mount", "op": "mount", "huge": "never"}', 1, "duplicate field 'op'")


# -- wrong types ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (op("pread", fd="f", offset=0.0, len=1), ("offset must be an integer", "0.0", "number")),
        (op("pread", fd="f", offset=0, len=1.5), ("len must be an integer", "number")),
        (op("pread", fd="f", offset=True, len=1), ("offset must be an integer", "boolean")),
        (op("ftruncate", fd="f", length=False), ("length must be an integer", "boolean")),
        (op("pread", fd="f", offset="0", len=1), ("offset must be an integer", "string")),
        (touch(write=1, byte=1), ("write must be true or false", "integer")),
        (op("mmap", fd="f", as_="n", offset=0, length=1, prot="r", shared=0), ("shared must be",)),
        (
            op("open", path="g", as_="g", flags="O_RDWR"),
            ("flags must be a list of names", "string"),
        ),
        (op("open", path="g", as_="g", flags=["O_RDWR", 2]), ("flags must be a list of names",)),
        (op("fallocate", fd="f", mode="KEEP_SIZE", offset=0, len=1), ("mode must be a list",)),
        (op("fallocate", fd="f", mode=[None], offset=0, len=1), ("mode must be a list",)),
        (op("lseek", fd="f", offset=0, whence=0), ("whence must be a string", "integer")),
        (op("open", path=["f"], as_="g", flags=[]), ("path must be a string", "list")),
        (op("open", path="g", as_="", flags=[]), ("as must be a non-empty string",)),
        (op("close", fd=3), ("fd must be a handle name", "integer")),
        (op("touch", map=None, offset=0, len=1, stride=1, write=False), ("map must be a handle",)),
        (pwrite(hex=12), ("hex must be hex digits", "integer")),
        (op("sysctl", name="", value=1), ("name must be a non-empty string",)),
        (op("sysctl", name="vm.x", value="1"), ("value must be an integer", "string")),
        (op("pressure", bytes=1.0), ("bytes must be a size", "number")),
        (op("pressure", bytes=True), ("bytes must be a size", "boolean")),
        (op("run", ms=None), ("ms must be an integer", "null")),
    ],
)
def test_wrong_type(line: str, words: tuple[str, ...]) -> None:
    rejects(after_prefix(line), 4, *words)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"huge": 1}, ("huge must be a string",)),
        ({"size": 4096.0}, ("size must be a size", "number")),
        ({"size": [4096]}, ("size must be a size", "list")),
        ({"size": "4 K"}, ("size must be a size",)),
        ({"size": "4KB"}, ("size must be a size",)),
        ({"size": "4T"}, ("size must be a size",)),
        ({"size": "-4K"}, ("size must be a size",)),
        ({"size": "1.5M"}, ("size must be a size",)),
        ({"size": ""}, ("size must be a size",)),
    ],
)
def test_mount_wrong_type(fields: dict[str, Any], words: tuple[str, ...]) -> None:
    rejects(mount(**fields), 1, *words)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"cpus": 2.0}, ("cpus must be an integer",)),
        ({"variant": 24}, ("variant must be a string",)),
        ({"behaviours": "r27"}, ("behaviours must be a list of names",)),
        ({"guards_off": [1]}, ("guards_off must be a list of names",)),
        ({"ram": "2GiB"}, ("ram must be a size",)),
        ({"swap": None}, ("swap must be a size",)),
    ],
)
def test_machine_wrong_type(fields: dict[str, Any], words: tuple[str, ...]) -> None:
    rejects(machine(**fields), 1, *words)


# -- out of range -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (pwrite(len=1, byte=256), ("pwrite: byte=256 must be in 0..255",)),
        (pwrite(len=1, byte=-1), ("byte=-1 must be in 0..255",)),
        (touch(write=True, byte=256), ("touch: byte=256 must be in 0..255",)),
        (touch(write=True, byte=-1), ("byte=-1",)),
        (touch(write=False, stride=0), ("stride=0 must be in 1..",)),
        (touch(write=False, stride=-4096), ("stride=-4096",)),
        (touch(write=False, len=-1), ("touch: len=-1 must be in 0..1073741824",)),
        (touch(write=False, len=GiB + 1), ("len=1073741825",)),
        (pwrite(len=-1, byte=0), ("pwrite: len=-1 must be in 0..",)),
        (pwrite(len=GiB + 1, byte=0), ("len=1073741825",)),
        (op("pread", fd="f", offset=0, len=-1), ("pread: len=-1",)),
        (op("pread", fd="f", offset=0, len=GiB + 1), ("pread: len=1073741825",)),
        (op("pread", fd="f", offset=1 << 63, len=1), ("offset=9223372036854775808",)),
        (op("run", ms=-1), ("run: ms=-1 must be in 0..",)),
        (op("pressure", bytes=0), ("pressure: bytes=0 must be in 1..",)),
        (op("pressure", bytes="0K"), ('bytes="0K"',)),
    ],
)
def test_out_of_range(line: str, words: tuple[str, ...]) -> None:
    rejects(after_prefix(line), 4, *words)


@pytest.mark.parametrize(
    "size", [4095, "4095", "3K", "3k", 0, "0", -4096, GiB + 1, "1025M", "1048577k", "2G", "2g"]
)
def test_mount_size_out_of_range(size: int | str) -> None:
    rejects(mount(size=size), 1, f"mount: size={json.dumps(size)} must be in 4096..1073741824")


def test_mount_size_with_thousands_of_digits_is_out_of_range() -> None:
    rejects(mount(size="9" * 5000), 1, "mount: size=", "must be in 4096..1073741824")


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (4096, 4096),
        ("4096", 4096),
        ("4K", 4096),
        ("4k", 4096),
        ("16M", 16 * MiB),
        ("16m", 16 * MiB),
        ("1G", GiB),
        ("1g", GiB),
        ("1048576K", GiB),
        (GiB, GiB),
        ("0004K", 4096),
        ("0" * 5000 + "4K", 4096),
    ],
)
def test_mount_size_in_range(size: int | str, expected: int) -> None:
    assert parse_lines(mount(size=size)).size == expected


def test_mount_size_default() -> None:
    assert parse_lines(MOUNT).size == 256 * MiB


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"hpage_nr": 1}, ("hpage_nr=1 must be in 2..512",)),
        ({"hpage_nr": 0}, ("hpage_nr=0",)),
        ({"hpage_nr": 1024}, ("hpage_nr=1024 must be in 2..512",)),
        ({"hpage_nr": 3}, ("hpage_nr=3 must be a power of two",)),
        ({"hpage_nr": 384}, ("power of two",)),
        ({"cpus": 0}, ("cpus=0 must be in 1..",)),
        ({"cpus": -1}, ("cpus=-1",)),
        ({"ram": 0}, ("ram=0 must be in",)),
        ({"ram": "512K"}, ('ram="512K" must be in',)),
        ({"swap": -1}, ("swap=-1",)),
        ({"seed": -1}, ("seed=-1",)),
    ],
)
def test_machine_out_of_range(fields: dict[str, Any], words: tuple[str, ...]) -> None:
    rejects(machine(**fields), 1, *words)


@pytest.mark.parametrize("n", [2, 4, 8, 64, 512])
def test_hpage_nr_powers_of_two(n: int) -> None:
    assert parse_lines(machine(hpage_nr=n)).machine["hpage_nr"] == n


# -- unknown names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (
            op("madvise", map="m", offset=0, len=1, advice="MADV_FOO"),
            ("unknown advice 'MADV_FOO'",),
        ),
        (op("madvise", map="m", offset=0, len=1, advice="madv_normal"), ("unknown advice",)),
        (op("open", path="g", as_="g", flags=["O_SYNC"]), ("unknown name 'O_SYNC' in flags",)),
        (op("fallocate", fd="f", mode=["FOO"], offset=0, len=1), ("unknown name 'FOO' in mode",)),
        (op("lseek", fd="f", offset=0, whence="SEEK_FOO"), ("unknown whence 'SEEK_FOO'",)),
        (op("mmap", fd="f", as_="n", offset=0, length=1, prot="w", shared=True), ("unknown prot",)),
    ],
)
def test_unknown_choice(line: str, words: tuple[str, ...]) -> None:
    rejects(after_prefix(line), 4, *words)


def test_unknown_huge_mode() -> None:
    rejects(mount(huge="sometimes"), 1, "unknown huge 'sometimes'", "never")


def test_unknown_variant() -> None:
    rejects(machine(variant="v30"), 1, "unknown variant 'v30'")


@pytest.mark.parametrize(
    ("field", "name"), [("behaviours", "r27-fix"), ("guards_off", "recovery/R999")]
)
def test_unknown_behaviour_or_guard(field: str, name: str) -> None:
    # The registries in shmem/names.py are empty until the model implements what they name.
    rejects(machine(**{field: [name]}), 1, f"unknown name {name!r} in {field}")


def test_empty_name_lists_are_allowed() -> None:
    trace = parse_lines(machine(behaviours=[], guards_off=[]), OPEN)
    assert trace.machine["behaviours"] == ()
    assert trace.ops[2].args["flags"] == ("O_RDWR", "O_CREAT")


@pytest.mark.parametrize(
    "path", ["", "/f", "f/", "a//b", ".", "..", "a/../b", "./f", "a/.", "f\u0000"]
)
def test_bad_path(path: str) -> None:
    rejects(f"{MOUNT}\n{op('unlink', path=path)}", 2, "unlink: path", "relative name")


def test_path_with_lone_surrogate() -> None:
    rejects(f'{MOUNT}\n{{"op": "unlink", "path": "\\ud800"}}', 2, "lone surrogate")


# -- rules spanning fields --------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (pwrite(hex="00", len=1), ("hex cannot be combined with len or byte",)),
        (pwrite(hex="00", byte=1), ("hex cannot be combined",)),
        (pwrite(hex="00", len=1, byte=1), ("hex cannot be combined",)),
        (pwrite(hex="abc"), ("hex must be hex digits of even length", '"abc"')),
        (pwrite(hex="zz"), ("hex must be hex digits of even length",)),
        (pwrite(hex="0x00"), ("hex must be hex digits",)),
        (pwrite(hex="00 11"), ("hex must be hex digits",)),
        (pwrite(), ("pwrite: missing field 'len'", "give len and byte, or hex")),
        (pwrite(len=1), ("missing field 'byte'",)),
        (pwrite(byte=1), ("missing field 'len'",)),
        (touch(write=False, byte=0), ("byte is only allowed on a write touch",)),
        (touch(write=True), ("a write touch needs byte",)),
    ],
)
def test_cross_field_rules(line: str, words: tuple[str, ...]) -> None:
    rejects(after_prefix(line), 4, *words)


@pytest.mark.parametrize(
    ("hexdigits", "data"), [("", b""), ("00ff", b"\0\xff"), ("AbCd", b"\xab\xcd")]
)
def test_hex_either_case(hexdigits: str, data: bytes) -> None:
    assert parse_lines(*PREFIX, pwrite(hex=hexdigits)).ops[3].args["hex"] == data


# -- handles ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (op("close", fd="g"), ("close: fd 'g' is not defined by any earlier open",)),
        (op("fstat", fd="m"), ("fd 'm' is not defined by any earlier open",)),  # a map handle
        (op("munmap", map="f"), ("munmap: map 'f' is not defined by any earlier mmap",)),  # an fd
        (touch(map="g", write=False), ("map 'g' is not defined",)),
        (op("mmap", fd="m", as_="n", offset=0, length=1, prot="r", shared=True), ("fd 'm'",)),
    ],
)
def test_handle_used_before_defined(line: str, words: tuple[str, ...]) -> None:
    rejects(after_prefix(line), 4, *words)


def test_open_as_does_not_define_a_map_handle() -> None:
    rejects(f"{MOUNT}\n{OPEN}\n{op('smaps', map='f')}", 3, "map 'f' is not defined")


def test_handle_used_on_its_defining_line_is_undefined() -> None:
    line = op("mmap", fd="g", as_="g", offset=0, length=1, prot="r", shared=True)
    rejects(f"{MOUNT}\n{line}", 2, "fd 'g' is not defined")


def test_as_redefined_is_allowed() -> None:
    again = OPEN.replace('"path": "f"', '"path": "other"')
    mmap_again = MMAP.replace('"length": 8192', '"length": 4096')
    trace = parse_lines(*PREFIX, again, mmap_again, op("close", fd="f"), op("munmap", map="m"))
    assert [o.name for o in trace.ops] == [
        "mount",
        "open",
        "mmap",
        "open",
        "mmap",
        "close",
        "munmap",
    ]
    assert trace.ops[3].args["path"] == "other"


# -- order of operations ----------------------------------------------------------------


def test_machine_not_first() -> None:
    rejects(f"{MOUNT}\n{op('machine', cpus=2)}", 2, "machine must be the first operation")
    rejects(f"{op('run', ms=1)}\n{op('machine')}\n{MOUNT}", 2, "machine must be the first")
    rejects(f"{op('machine')}\n{op('machine')}\n{MOUNT}", 2, "machine must be the first")


def test_machine_after_comments_and_blanks_is_first() -> None:
    trace = parse_lines("# header", "", op("machine", cpus=4, ram="4G"), MOUNT)
    assert trace.machine["cpus"] == 4
    assert trace.machine["ram"] == 4 * GiB
    assert trace.ops[0].line == 3


@pytest.mark.parametrize(
    "text",
    ["", "\n\n", "# only a comment\n", op("machine"), f"{op('machine')}\n{op('run', ms=5)}"],
)
def test_no_mount_is_reported_at_line_1(text: str) -> None:
    rejects(text, 1, "no mount")


def test_two_mounts() -> None:
    rejects(f"{MOUNT}\n{OPEN}\n\n{MOUNT}", 4, "a second mount", "line 1")


@pytest.mark.parametrize("line", [op("statfs"), op("meminfo"), OPEN, op("unlink", path="f")])
def test_table_op_before_mount(line: str) -> None:
    name = json.loads(line)["op"]
    rejects(f"{line}\n{MOUNT}", 1, f"{name} before mount")
    rejects(f"{op('machine')}\n{op('run', ms=1)}\n{line}\n{MOUNT}", 3, f"{name} before mount")


def test_model_only_ops_before_mount_are_allowed() -> None:
    lines = (
        op("sysctl", name="vm.shmem_huge", value=1),
        op("pressure", bytes="1M"),
        op("run", ms=0),
        op("release"),
        op("check"),
        op("stats"),
        MOUNT,
    )
    trace = parse_lines(*lines)
    assert [o.model_only for o in trace.ops] == [True] * 6 + [False]
    assert trace.ops[1].args["bytes"] == MiB


# -- line numbers -----------------------------------------------------------------------


def test_blank_and_comment_lines_count_in_line_numbers() -> None:
    text = f"# a trace\n\n   \n{MOUNT}\n  # indented comment\n\t\n{op('close', fd='nope')}\n"
    rejects(text, 7, "fd 'nope'")
    trace = parse_lines("# c", "", MOUNT, "", OPEN)
    assert [(o.i, o.line) for o in trace.ops] == [(0, 3), (1, 5)]


def test_crlf_line_endings() -> None:
    trace = parse_lines("# c", MOUNT, "", OPEN, op("fstat", fd="f"), "", sep="\r\n")
    assert [(o.i, o.line, o.name) for o in trace.ops] == [
        (0, 2, "mount"),
        (1, 4, "open"),
        (2, 5, "fstat"),
    ]
    assert trace.ops[2].text == '{"op": "fstat", "fd": "f"}'
    rejects("\r\n".join(("# c", MOUNT, "", op("close", fd="x"))) + "\r\n", 4, "fd 'x'")


def test_op_text_is_the_line_as_written() -> None:
    trace = parse_lines(f"  {MOUNT}  ", op("statfs"))
    assert trace.ops[0].text == MOUNT
    assert trace.ops[0].args == {"huge": "never"}


def test_parse_file_names_the_file(tmp_path: Any) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(f"{MOUNT}\n{op('close', fd='x')}\n")
    with pytest.raises(TraceError, match=r"bad\.jsonl:2: close: fd 'x'"):
        parse_file(str(path))


def test_parse_file_missing(tmp_path: Any) -> None:
    path = str(tmp_path / "missing.jsonl")
    with pytest.raises(TraceError) as info:
        parse_file(path)
    assert str(info.value) == f"{path}: cannot read trace: No such file or directory"


def test_long_values_are_shortened_in_messages() -> None:
    e = rejects(after_prefix(pwrite(hex=["0" * 10_000])), 4, "hex must be hex digits")
    assert len(str(e)) < 200


# -- properties -------------------------------------------------------------------------

HANDLES = st.sampled_from(["f", "g", "m", "a/b"])  # "m" as an fd name too: separate namespaces
PATHS = st.sampled_from(["f", "g", "dir/f", "…ü"])
HEX = st.binary(max_size=8).map(bytes.hex) | st.binary(max_size=8).map(lambda b: b.hex().upper())
FILLER = st.sampled_from(["", "   ", "# comment", "\t# indented", "#"])
_UNIT = {"k": KiB, "K": KiB, "m": MiB, "M": MiB, "g": GiB, "G": GiB}


def sizes(lo: int, hi: int) -> st.SearchStrategy[int | str]:
    """A size in lo..hi, as an integer or digits with a suffix of either case."""
    as_int = st.integers(lo, hi)
    with_suffix = st.sampled_from("KkMmGg").flatmap(
        lambda u: st.integers(-(-lo // _UNIT[u]), hi // _UNIT[u]).map(lambda n: f"{n}{u}")
    )
    return st.one_of(as_int, as_int.map(str), with_suffix)


def field_values(f: Field, fds: list[str], maps: list[str]) -> st.SearchStrategy[Any]:
    """Valid values of field *f*, read from the op table."""
    if f.name == "hpage_nr":
        return st.sampled_from([2 << k for k in range(9)])
    kinds: dict[str, Callable[[], st.SearchStrategy[Any]]] = {
        "int": lambda: st.integers(f.lo, f.hi),
        "size": lambda: sizes(f.lo or 0, f.hi or 0),
        "bool": st.booleans,
        "str": lambda: st.text(min_size=1),
        "enum": lambda: st.sampled_from(f.choices),
        "names": lambda: st.lists(st.sampled_from(f.choices), max_size=3),
        "strlist": lambda: st.just([]),  # the registries are empty so far
        "path": lambda: PATHS,
        "defines": lambda: HANDLES,
        "fd": lambda: st.sampled_from(fds),
        "map": lambda: st.sampled_from(maps),
        "hex": lambda: HEX,
    }
    return kinds[f.kind]()


@st.composite
def op_lines(draw: st.DrawFn, name: str, fds: list[str], maps: list[str]) -> dict[str, Any]:
    """A valid line of op *name*; optional fields at random, then the rules across fields."""
    obj: dict[str, Any] = {"op": name}
    for f in OPS[name].fields:
        if f.required or draw(st.booleans()):
            obj[f.name] = draw(field_values(f, fds, maps))
    if name == "pwrite":
        if draw(st.booleans()):
            obj.pop("hex", None)
            obj.setdefault("len", draw(st.integers(0, GiB)))
            obj.setdefault("byte", draw(st.integers(0, 255)))
        else:
            obj.pop("len", None)
            obj.pop("byte", None)
            obj["hex"] = draw(HEX)
    if name == "touch" and obj["write"]:
        obj.setdefault("byte", draw(st.integers(0, 255)))
    elif name == "touch":
        obj.pop("byte", None)
    return obj


def usable(name: str, fds: list[str], maps: list[str]) -> bool:
    """Op *name* may come next: after the mount, and with the handles it needs defined."""
    kinds = {f.kind for f in OPS[name].fields}
    return (
        name not in ("machine", "mount")
        and ("fd" not in kinds or bool(fds))
        and ("map" not in kinds or bool(maps))
    )


@st.composite
def valid_traces(draw: st.DrawFn) -> tuple[str, list[tuple[str, int]]]:
    """A valid trace's text, and the (op name, line) of each op in order."""
    lines: list[str] = []
    ops: list[tuple[str, int]] = []
    fds: list[str] = []
    maps: list[str] = []

    def emit(name: str) -> None:
        obj = draw(op_lines(name, fds, maps))
        lines.extend(draw(st.lists(FILLER, max_size=2)))
        lines.append(json.dumps(obj, ensure_ascii=draw(st.booleans())))
        ops.append((name, len(lines)))
        if name in ("open", "mmap"):
            (fds if name == "open" else maps).append(obj["as"])

    model_ops = [n for n, spec in OPS.items() if spec.model_only and n != "machine"]
    if draw(st.booleans()):
        emit("machine")
    for name in draw(st.lists(st.sampled_from(model_ops), max_size=2)):
        emit(name)
    emit("mount")
    for _ in range(draw(st.integers(0, 25))):
        emit(draw(st.sampled_from([n for n in sorted(OPS) if usable(n, fds, maps)])))
    lines.extend(draw(st.lists(FILLER, max_size=2)))
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines), ops


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(valid_traces())
def test_valid_traces_parse(case: tuple[str, list[tuple[str, int]]]) -> None:
    text, expected = case
    trace = parse_bytes(text.encode(), "p.jsonl")
    assert [(o.name, o.line) for o in trace.ops] == expected
    assert [o.i for o in trace.ops] == list(range(len(expected)))
    assert all(json.loads(o.text)["op"] == o.name for o in trace.ops)


def _only_trace_errors(data: bytes) -> None:
    """Parsing *data* succeeds or raises a well-formed TraceError, never anything else."""
    error: TraceError | None = None
    try:
        parse_bytes(data, "x.jsonl")
    except TraceError as e:
        error = e
    if error is not None:
        assert error.line >= 1
        assert str(error).startswith(f"x.jsonl:{error.line}: ")
        assert "\n" not in str(error)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_trace_error(data: bytes) -> None:
    _only_trace_errors(data)


@given(st.lists(st.binary(max_size=40), max_size=5))
def test_arbitrary_lines_after_a_mount_raise_only_trace_error(lines: list[bytes]) -> None:
    _only_trace_errors(b"\n".join([MOUNT.encode(), OPEN.encode(), *lines]))


FIELD_NAMES = sorted({f.name for spec in OPS.values() for f in spec.fields} | {"op", "i", ""})
PLAUSIBLE = st.sampled_from(
    [
        "f",
        "m",
        "g",
        "never",
        "always",
        "O_RDWR",
        "SEEK_DATA",
        "MADV_FREE",
        "KEEP_SIZE",
        "r",
        "rw",
        "4K",
        "1G",
        "0",
        "00ff",
        "abc",
        "v29",
        "",
        ".",
        "a/../b",
        -1,
        0,
        1,
        255,
        256,
        4096,
        GiB,
        1 << 63,
        -(1 << 63) - 1,
        True,
        False,
        None,
        [],
        ["O_RDWR"],
        ["KEEP_SIZE", 3],
        {},
    ]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5) | PLAUSIBLE,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)
OBJECTS = st.dictionaries(
    st.sampled_from(FIELD_NAMES) | st.text(max_size=4), JSON_VALUES | PLAUSIBLE, max_size=6
)
OP_OBJECTS = st.builds(
    lambda name, rest: {"op": name, **{k: v for k, v in rest.items() if k != "op"}},
    st.sampled_from(sorted(OPS)) | JSON_VALUES,
    OBJECTS,
)


@settings(max_examples=300)
@given(st.booleans(), st.lists(OBJECTS | OP_OBJECTS | JSON_VALUES, min_size=1, max_size=5))
def test_arbitrary_json_raises_only_trace_error(prefix: bool, values: list[Any]) -> None:
    lines = [*PREFIX] if prefix else []
    lines += [json.dumps(v) for v in values]  # NaN and Infinity included: json.dumps allows them
    _only_trace_errors("\n".join(lines).encode())
