"""Scenario files: every built-in loads, and a broken file fails with ``file:line: reason``."""

from __future__ import annotations

import os

import pytest

from hugetmpfs.errors import InputError, ScenarioError
from hugetmpfs.workload.scenario import builtin_names, builtin_path
from hugetmpfs.workload.scenario_file import load_scenario, parse_scenario
from hugetmpfs.workload.toml_lines import format_path, key_lines

GOOD = """\
name = "tiny"
description = "a tiny scenario"

[machine]
ram = "64M"
cpus = 2

[sysctl]
"vm.shmem_huge" = 0

[[mount]]
huge = "always"
size = "32M"

[sample]
every_ms = 5
pagemaps = ["filled", 3.5, "end"]

[[process]]
name = "writer"

  [[process.phase]]
  op = "create"
  file = "data"
  size = "8M"

  [[process.phase]]
  op = "map"
  file = "data"

  [[process.phase]]
  op = "fill"
  file = "data"
  byte = 1

  [[process.phase]]
  op = "signal"
  event = "filled"

[[process]]
name = "reader"
cpu = 1
phase = [
  { op = "wait", event = "filled" },
  { op = "touch", file = "data", pattern = "random", count = 10 },
]
"""


def error_of(text: str, *overrides: str) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.toml", overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_every_builtin_loads_and_says_what_it_shows() -> None:
    names = builtin_names()
    for name in ("swap-and-recover", "fragmentation", "shrinker-vs-recovery", "shared-buffers",
                 "phases"):  # fmt: skip
        assert name in names
    for name in names:
        sc = load_scenario(builtin_path(name))
        assert sc.name == name
        assert sc.description
        assert sc.shows


def test_a_good_file() -> None:
    sc = parse_scenario(GOOD, "s.toml")
    assert sc.machine.ram == 64 << 20
    assert sc.sysctls == (("vm.shmem_huge", 0),)
    assert [p.name for p in sc.processes] == ["writer", "reader"]
    assert sc.processes[1].phases[1].args["count"] == 10
    assert sc.sample.pagemaps == ("filled", 3.5, "end")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('ram = "64M"', 'ram = "64Q"', "s.toml:5: machine.ram: '64Q' is not a size"),
        ("cpus = 2", "cpus = 0", "s.toml:6: machine.cpus: 0 must be in 1..64"),
        ("cpus = 2", "cpu = 2", "s.toml:6: machine.cpu: unknown key"),
        (
            '"vm.shmem_huge" = 0',
            '"vm.shmem_huge" = 7',
            's.toml:9: sysctl."vm.shmem_huge": 7 is refused by vm.shmem_huge (EINVAL)',
        ),
        ('"vm.shmem_huge" = 0', "vm.nope = 1", "s.toml:9: sysctl.vm.nope: unknown sysctl"),
        (
            'huge = "always"',
            'huge = "sometimes"',
            "s.toml:12: mount[0].huge: 'sometimes' is not one of",
        ),
        (
            "  byte = 1",
            "  byte = 300",
            "s.toml:34: process[0].phase[2].byte: 300 must be in 0..255",
        ),
        (
            '  op = "map"',
            '  op = "mmap"',
            "s.toml:28: process[0].phase[1].op: 'mmap' is not a phase op",
        ),
        (
            '  size = "8M"',
            '  size = "8M"\n  colour = 3',
            "s.toml:26: process[0].phase[0].colour: unknown key",
        ),
        ("cpu = 1", "cpu = 2", "s.toml:42: process[1].cpu: 2 must be in 0..1 (machine.cpus)"),
        (
            'pattern = "random"',
            'pattern = "zigzag"',
            "s.toml:45: process[1].phase[1].pattern: 'zigzag' is not one of",
        ),
        (
            '{ op = "wait", event = "filled" }',
            '{ op = "wait", event = "never" }',
            "s.toml:44: process[1].phase[0].event: no phase signals 'never'",
        ),
        (
            "count = 10 }",
            "count = 10, write = true }",
            "s.toml:45: process[1].phase[1].byte: a write touch needs byte",
        ),
        ('3.5, "end"', '3.5, "later"', "s.toml:17: sample.pagemaps[2]: 'later' is not start, end"),
        ("every_ms = 5", "every_ms = 5\nevery_ms = 6", "s.toml:17: Cannot overwrite a value"),
        ('name = "writer"', 'name = "reader"', "s.toml:41: process[1].name: a process named "),
    ],
)
def test_errors_name_the_file_the_line_and_the_key(old: str, new: str, expected: str) -> None:
    assert old in GOOD
    assert error_of(GOOD.replace(old, new, 1)).startswith(expected)


def test_errors_without_a_line_name_the_key_path() -> None:
    assert error_of(GOOD.replace("[machine]", "[machine]\nhpage_nr = 3")).startswith(
        "s.toml:5: machine.hpage_nr: 3 must be a power of two"
    )
    missing = GOOD.replace('  file = "data"\n  size = "8M"', '  file = "data"')
    assert error_of(missing) == "s.toml:22: process[0].phase[0].size: is required"
    assert error_of(GOOD, "machine.cpus=99") == (
        "s.toml: machine.cpus: 99 must be in 1..64 (set by --set)"
    )
    assert error_of(GOOD, "process.reader.phase.1.count=0").startswith(
        "s.toml: process[1].phase[1].count: 0 must be in 1.."
    )


def test_unreadable_and_non_utf8_files(tmp_path) -> None:
    with pytest.raises(ScenarioError, match=r"^nope\.toml: No such file"):
        load_scenario("nope.toml")
    bad = tmp_path / "b.toml"
    bad.write_bytes(b'name = "x"\n# \xff\n')
    with pytest.raises(ScenarioError, match=r"b\.toml:2: not valid UTF-8"):
        load_scenario(str(bad))


def test_overrides_and_scale() -> None:
    sc = parse_scenario(GOOD, "s.toml", ("machine.seed=7", "sysctl.vm.shmem_huge=1"), scale=4)
    assert sc.machine.seed == 7
    assert sc.sysctls == (("vm.shmem_huge", 1),)
    assert sc.machine.ram == 16 << 20
    assert sc.processes[0].phases[0].args["size"] == 2 << 20
    assert sc.processes[1].phases[1].args["count"] == 2


def test_key_lines_of_headers_dotted_and_inline_keys() -> None:
    text = 'a = 1\n[t]\nb.c = "x # not a comment"\n[[arr]]\nk = [1,\n  {z = 2}]\n[[arr]]\nk = 3\n'
    lines = key_lines(text)
    assert lines[("a",)] == 1
    assert lines[("t", "b", "c")] == 3
    assert lines[("arr", 0, "k", 1, "z")] == 6
    assert lines[("arr", 1, "k")] == 8
    assert format_path(("sysctl", "vm.x", 2)) == 'sysctl."vm.x"[2]'


def test_the_docs_describe_every_builtin_phase_and_key() -> None:
    from pathlib import Path

    from hugetmpfs.workload.phases import PHASE_ARGS
    from hugetmpfs.workload.scenario_file import _MACHINE, _MOUNT, _RUN, _SAMPLE

    docs = (Path(__file__).parents[2] / "docs" / "workloads.md").read_text()
    for name in builtin_names():
        assert f"### {name} (" in docs, name
    for op, args in PHASE_ARGS.items():
        assert f"| `{op}` |" in docs, op
        for arg in args:
            assert arg in docs, (op, arg)
    for table in (_MACHINE, _MOUNT, _SAMPLE, _RUN):
        for key in table:
            assert f"\n{key} = " in docs, key


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("cpus = 2", "seed = " + "9" * 5000, "s.toml:6: machine.seed: an integer of 5000 digits "),
        ("count = 10 }", "count = [1, 2_" + "2" * 4400 + "] }",
         "s.toml:45: process[1].phase[1].count[1]: an integer of 4401 digits "),
        ('size = "8M"', f'size = "{"9" * 5000}M"', "s.toml:25: process[0].phase[0].size: '9999"),
        ("every_ms = 5", "every_ms = nan", "s.toml:16: sample.every_ms: nan is not a finite"),
        ("every_ms = 5", "every_ms = -inf", "s.toml:16: sample.every_ms: -inf is not a finite"),
        ("every_ms = 5", "every_ms = 1" + "0" * 400, "s.toml:16: sample.every_ms: 1000"),
        ("3.5,", "inf,", "s.toml:17: sample.pagemaps[1]: inf must be in 0..1e+09"),
        ("3.5,", "-1,", "s.toml:17: sample.pagemaps[1]: -1 must be in 0..1e+09"),
        ("count = 10 }", "count = 10, hot = nan }",
         "s.toml:45: process[1].phase[1].hot: nan is not a finite number"),
        ('{ op = "wait", event = "filled" }', '{ op = "sleep", ms = nan }',
         "s.toml:44: process[1].phase[0].ms: nan is not a finite number"),
        ("cpus = 2", 'behaviours = ["R4c-fix", "nope"]',
         "s.toml:6: machine.behaviours[1]: unknown behaviour 'nope' (known: "),
        ("cpus = 2", 'guards_off = [\n  "nope",\n]',
         "s.toml:7: machine.guards_off[0]: unknown guard 'nope' (known: base/"),
        ('name = "tiny"', 'name = "../../evil"', "s.toml:1: name: '../../evil': must not contain"),
        ('name = "tiny"', 'name = "/tmp/x"', "s.toml:1: name: '/tmp/x': must not contain '/'"),
        ('name = "tiny"', 'name = ".."', "s.toml:1: name: '..': must not be '.' or '..'"),
        ('name = "tiny"', 'name = "a\\nb"', "s.toml:1: name: 'a\\nb': must not contain control"),
        ("cpus = 2", "x = " + "[" * 300 + "{ y = " + "[" * 300, "s.toml:6: nested too deeply"),
    ],
)  # fmt: skip
def test_numbers_names_and_nesting_beyond_what_a_run_can_use(
    old: str, new: str, expected: str
) -> None:
    assert old in GOOD
    assert error_of(GOOD.replace(old, new, 1)).startswith(expected)


def test_names_that_stay_usable() -> None:
    for name in ("tiny", "my run v2.1", "ünïcode", "..x", "-dash"):
        assert parse_scenario(GOOD.replace('"tiny"', f'"{name}"', 1), "s.toml").name == name
    sc = parse_scenario(GOOD.replace("cpus = 2", 'behaviours = ["R4c-fix"]\ncpus = 2'), "s.toml")
    assert sc.machine.behaviours == ("R4c-fix",)
    sc = parse_scenario(GOOD, "s.toml", ('machine.guards_off=["recovery/R7"]',))
    assert sc.machine.guards_off == ("recovery/R7",)


def test_overrides_out_of_range_and_nested_too_deeply() -> None:
    assert error_of(GOOD, "machine.seed=" + "9" * 5000) == (
        "--set: machine.seed: an integer of 5000 digits is out of range"
    )
    assert error_of(GOOD, "machine.guards_off=[" + "[" * 100_000) == (
        "--set: machine.guards_off: the value is nested too deeply"
    )
    assert error_of(GOOD, "run.after_ms=nan") == (
        "s.toml: run.after_ms: nan is not a finite number (set by --set)"
    )
    assert error_of(GOOD, "name=..") == "s.toml: name: '..': must not be '.' or '..' (set by --set)"


def test_only_regular_files_are_read(tmp_path) -> None:
    with pytest.raises(InputError, match=r"^/dev/zero: not a regular file$"):
        load_scenario("/dev/zero")
    os.mkfifo(tmp_path / "f.toml")
    with pytest.raises(InputError, match=r"f\.toml: not a regular file$"):
        load_scenario(str(tmp_path / "f.toml"))
    with pytest.raises(InputError, match=r": not a regular file$"):
        load_scenario(str(tmp_path))
