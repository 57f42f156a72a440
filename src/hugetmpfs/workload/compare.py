"""Two runs side by side: ``hugetmpfs compare A.json B.json``.

A and B are the ``series.json`` files of two runs (of one scenario with two variants, two
sysctl settings, two seeds...).  The table shows the setting that differ, then every
summary figure of A and B and their difference; ``--plot`` draws the two runs' coverage,
free holes, swap and free huge blocks over virtual time on one figure.

Both files are checked whole before anything is printed or written: a field of the wrong
type is an :class:`InputError` that names the file and the field's path inside it
(``B.json: meta.machine is not an object``), and the plot is drawn whole before it
replaces its target (:func:`hugetmpfs.files.write_whole`).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
from typing import TYPE_CHECKING, Any, BinaryIO

from rich.table import Table
from rich.text import Text

from hugetmpfs.errors import InputError
from hugetmpfs.files import NotRegularFileError, check_can_create, read_regular, write_whole
from hugetmpfs.workload.report import SUMMARY_ROWS, fmt_value

if TYPE_CHECKING:
    from rich.console import Console

#: The columns ``--plot`` draws: a run that lacks one cannot be plotted.
PLOTTED = ("ShmemPmdMapped", "Shmem", "ShmemFreeHoles", "SwapTotal", "SwapFree", "free_huge_blocks")
#: The formats ``--plot`` writes, named by the file's extension.
PLOT_FORMATS = ("png", "svg", "pdf")
#: The most digits an integer in series.json has: a seed or a byte count fits in 64 bits.
MAX_INT_DIGITS = 20


class _FieldError(Exception):
    """A field of the file that is not what ``run`` writes: the message names its path."""


class _TooLongError(ValueError):
    """An integer longer than any that ``run`` writes (Python would refuse it past 4300)."""


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _TooLongError(
            f"an integer of {digits} digits (a run writes at most {MAX_INT_DIGITS})"
        )
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is out of range")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(
    parse_int=_parse_int, parse_float=_parse_float, parse_constant=_reject_constant
)


def _read_json(path: str) -> Any:
    """The JSON value in the regular file *path*: a FIFO or a device is refused unread."""
    try:
        raw = read_regular(path)
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from None
    if not raw.strip():
        raise InputError(f"{path}: empty file")
    try:
        return _DECODER.decode(raw.decode("utf-8"))
    except _TooLongError as e:
        raise InputError(f"{path}: {e}") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not JSON (invalid UTF-8 at byte {e.start})") from None
    except RecursionError:
        raise InputError(f"{path}: not JSON (nested too deeply)") from None
    except ValueError as e:
        raise InputError(f"{path}: not JSON ({e})") from None


def load_run(path: str, plotted: bool = False) -> dict[str, Any]:
    """A run's series.json, checked whole; *plotted*: also the columns ``--plot`` draws."""
    data = _read_json(path)
    if not isinstance(data, dict) or not {"meta", "columns", "time_ms"} & set(data):
        raise InputError(f"{path}: not the series.json of a hugetmpfs run")
    try:
        _check_run(data, plotted)
    except _FieldError as e:
        raise InputError(f"{path}: {e}") from None
    return data


def _where(parent: str, key: str | int) -> str:
    """The path of *key* inside *parent*, printable on one line whatever the key holds."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if re.fullmatch(r"[\w().-]{1,60}", key, re.ASCII):
        return f"{parent}.{key}" if parent else key
    shown = json.dumps(key[:40] + ("..." if len(key) > 40 else ""))
    return f"{parent}[{shown}]"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _get(obj: dict[str, Any], parent: str, key: str, kind: str, optional: bool = False) -> Any:
    """*obj[key]*, which must be of *kind* (object, list, string, number, boolean)."""
    where = _where(parent, key)
    if key not in obj:
        if optional:
            return None
        raise _FieldError(f"{where} is missing")
    value = obj[key]
    if optional and value is None:
        return None
    _expect(value, where, kind)
    return value


_KINDS: dict[str, Any] = {
    "an object": lambda v: isinstance(v, dict),
    "a list": lambda v: isinstance(v, list),
    "a string": lambda v: isinstance(v, str),
    "a number": _is_number,
    "a boolean": lambda v: isinstance(v, bool),
}


def _expect(value: Any, where: str, kind: str) -> None:
    if not _KINDS[kind](value):
        raise _FieldError(f"{where} is not {kind} but {_kind_of(value)}")


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    return next(kind for kind, test in _KINDS.items() if test(value))


def _numbers(values: list[Any], where: str) -> None:
    for i, v in enumerate(values):
        _expect(v, f"{where}[{i}]", "a number")


def _check_run(data: dict[str, Any], plotted: bool) -> None:
    """Each field compare reads is there, of the type ``run`` writes; else a _FieldError."""
    meta = _get(data, "", "meta", "an object")
    _get(meta, "meta", "scenario", "a string")
    _get(meta, "meta", "machine", "an object")
    _get(meta, "meta", "sysctls", "an object")
    for i, mount in enumerate(_get(meta, "meta", "mounts", "a list")):
        _expect(mount, f"meta.mounts[{i}]", "an object")
    summary = _get(meta, "meta", "summary", "an object")
    _get(summary, "meta.summary", "virtual_ms", "a number")
    _get(summary, "meta.summary", "verified", "a boolean")
    figures = _get(summary, "meta.summary", "figures", "an object")
    for key in figures:
        if key != "recovery":
            _get(figures, "meta.summary.figures", key, "a number", optional=True)
    recovery = _get(figures, "meta.summary.figures", "recovery", "an object", optional=True)
    for key in recovery or ():
        _get(recovery, "meta.summary.figures.recovery", key, "a number", optional=True)
    time_ms = _get(data, "", "time_ms", "a list")
    _numbers(time_ms, "time_ms")
    columns = _get(data, "", "columns", "an object")
    for name in columns:
        where = _where("columns", name)
        values = _get(columns, "columns", name, "a list")
        _numbers(values, where)
        if len(values) != len(time_ms):
            raise _FieldError(f"{where} has {len(values)} values, time_ms {len(time_ms)}")
    for name in PLOTTED if plotted else ():
        if name not in columns:
            raise _FieldError(f"{_where('columns', name)} is missing (--plot draws it)")


def _settings(run: dict[str, Any]) -> dict[str, str]:
    meta = run["meta"]
    out = {"scenario": meta["scenario"]}
    out.update({f"machine.{k}": str(v) for k, v in sorted(meta["machine"].items())})
    out.update({f"sysctl {k}": str(v) for k, v in sorted(meta["sysctls"].items())})
    for i, mount in enumerate(meta["mounts"]):
        out[f"mount {i}"] = f"{mount.get('name')} huge={mount.get('huge')} size={mount.get('size')}"
    return out


def _delta(a: Any, b: Any) -> str:
    if isinstance(a, bool) or isinstance(b, bool):
        return ""
    if isinstance(a, int | float) and isinstance(b, int | float):
        d = b - a
        return ("+" if d > 0 else "") + fmt_value(round(d, 3) if isinstance(d, float) else d)
    return ""


def compare_rows(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(what, A, B, B-A) rows: the settings that differ, then the figures."""
    sa, sb = _settings(a), _settings(b)
    rows = [
        (key, sa.get(key, "—"), sb.get(key, "—"), "")
        for key in sorted(set(sa) | set(sb))
        if sa.get(key) != sb.get(key)
    ]
    ma, mb = a["meta"]["summary"], b["meta"]["summary"]
    fa, fb = ma["figures"], mb["figures"]
    for key, label in (("virtual_ms", "virtual time (ms)"), ("verified", "verified")):
        rows.append(
            (
                label,
                fmt_value(ma.get(key)),
                fmt_value(mb.get(key)),
                _delta(ma.get(key), mb.get(key)),
            )
        )
    for key, label in SUMMARY_ROWS:
        va, vb = fa.get(key), fb.get(key)
        rows.append((label, fmt_value(va), fmt_value(vb), _delta(va, vb)))
    ra, rb = fa.get("recovery") or {}, fb.get("recovery") or {}
    for key in sorted(set(ra) | set(rb)):
        va, vb = ra.get(key), rb.get(key)
        if va or vb:
            rows.append((f"recovery: {key}", fmt_value(va), fmt_value(vb), _delta(va, vb)))
    if fa.get("recovery") is None or fb.get("recovery") is None:
        rows.append(("recovery stats", _exposed(fa), _exposed(fb), ""))
    return rows


def _exposed(figures: dict[str, Any]) -> str:
    return "none exposed" if figures.get("recovery") is None else "exposed"


def compare_table(a: dict[str, Any], b: dict[str, Any], name_a: str, name_b: str) -> Table:
    # Text, not markup: a file name or a setting may hold "[" and "]".
    table = Table(title="two runs side by side")
    table.add_column("")
    table.add_column(Text(f"A: {name_a}"), justify="right")
    table.add_column(Text(f"B: {name_b}"), justify="right")
    table.add_column("B − A", justify="right")
    for row in compare_rows(a, b):
        table.add_row(*(Text(cell) for cell in row))
    return table


def check_plot_path(path: str) -> str:
    """The format ``--plot`` *path* is written in; an :class:`InputError` if it cannot be."""
    if not path:
        raise InputError("--plot: the file name is empty")
    ext = os.path.splitext(path)[1][1:].lower()
    if ext not in PLOT_FORMATS:
        said = f"format {ext!r} is not supported" if ext else "no extension"
        raise InputError(f"--plot {path}: {said} (write .png, .svg or .pdf)")
    if os.path.lexists(path) and not os.path.isfile(path):
        raise InputError(f"--plot {path}: exists and is not a regular file")
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise InputError(f"--plot {path}: {directory} is not a directory")
    try:
        check_can_create(path)
    except OSError as e:
        raise _cannot_write(path, e) from None
    return ext


def compare_files(a: str, b: str, console: Console, plot: str | None) -> None:
    """Check A and B (and the plot's path), draw the plot if asked, then print the table."""
    fmt = check_plot_path(plot) if plot is not None else ""
    run_a, run_b = load_run(a, plot is not None), load_run(b, plot is not None)
    if plot is not None:
        image = io.BytesIO()
        plot_compare(run_a, run_b, (f"A: {a}", f"B: {b}"), image, fmt)
        try:
            write_whole(plot, image.getvalue())
        except NotRegularFileError:
            raise InputError(f"--plot {plot}: exists and is not a regular file") from None
        except OSError as e:
            raise _cannot_write(plot, e) from None
    console.print(compare_table(run_a, run_b, a, b))
    if plot is not None:
        console.print(f"plot: {plot}", highlight=False, markup=False)


def _cannot_write(path: str, e: OSError) -> InputError:
    directory = os.path.dirname(path) or "."
    return InputError(f"--plot {path}: cannot write in {directory} ({e.strerror or e})")


def plot_compare(
    a: dict[str, Any], b: dict[str, Any], labels: tuple[str, str], out: BinaryIO, fmt: str
) -> None:
    """A and B over virtual time on one figure, written to *out* in format *fmt*."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("pmd coverage (% of Shmem)", lambda c: _pct(c["ShmemPmdMapped"], c["Shmem"])),
        ("free holes (MiB)", lambda c: [v / 1024 for v in c["ShmemFreeHoles"]]),
        ("swap in use (MiB)", _swap_used),
        ("free huge blocks", lambda c: c["free_huge_blocks"]),
    )  # fmt: skip
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 10), sharex=True)
    try:
        for ax, (title, fn) in zip(axes, panels, strict=True):
            for run, label, style in ((a, labels[0], "-"), (b, labels[1], "--")):
                # "$" would start mathtext, which a file name is not
                ax.plot(run["time_ms"], fn(run["columns"]), style, label=label.replace("$", r"\$"))
            ax.set_title(title, fontsize=9, loc="left")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        axes[-1].set_xlabel("virtual time (ms)")
        fig.tight_layout()
        fig.savefig(out, format=fmt, dpi=100)
    finally:
        plt.close(fig)


def _pct(num: list[int], den: list[int]) -> list[float]:
    return [100.0 * x / y if y else 0.0 for x, y in zip(num, den, strict=True)]


def _swap_used(c: dict[str, list[int]]) -> list[float]:
    return [(t - f) / 1024 for t, f in zip(c["SwapTotal"], c["SwapFree"], strict=True)]
