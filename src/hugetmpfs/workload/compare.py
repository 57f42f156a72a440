"""Two runs side by side: ``hugetmpfs compare A.json B.json``.

A and B are the ``series.json`` files of two runs (of one scenario with two variants, two
sysctl settings, two seeds...).  The table shows the setting that differ, then every
summary figure of A and B and their difference; ``--plot`` draws the two runs' coverage,
free holes, swap and free huge blocks over virtual time on one figure.
"""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table

from hugetmpfs.errors import InputError
from hugetmpfs.workload.report import SUMMARY_ROWS, fmt_value


def load_run(path: str) -> dict[str, Any]:
    """A run's series.json, checked enough to compare it."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not JSON ({e})") from None
    ok = (
        isinstance(data, dict)
        and isinstance(data.get("meta"), dict)
        and isinstance(data["meta"].get("summary"), dict)
        and isinstance(data.get("columns"), dict)
        and isinstance(data.get("time_ms"), list)
    )
    if not ok:
        raise InputError(f"{path}: not the series.json of a hugetmpfs run")
    return data


def _settings(run: dict[str, Any]) -> dict[str, str]:
    meta = run["meta"]
    out = {"scenario": str(meta.get("scenario"))}
    out.update({f"machine.{k}": str(v) for k, v in sorted(meta.get("machine", {}).items())})
    out.update({f"sysctl {k}": str(v) for k, v in sorted(meta.get("sysctls", {}).items())})
    for i, mount in enumerate(meta.get("mounts", [])):
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
    fa, fb = ma.get("figures", {}), mb.get("figures", {})
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
    table = Table(title="two runs side by side")
    table.add_column("")
    table.add_column(f"A: {name_a}", justify="right")
    table.add_column(f"B: {name_b}", justify="right")
    table.add_column("B − A", justify="right")
    for row in compare_rows(a, b):
        table.add_row(*row)
    return table


def plot_compare(a: dict[str, Any], b: dict[str, Any], labels: tuple[str, str], path: str) -> None:
    """A and B over virtual time on one figure."""
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
    for ax, (title, fn) in zip(axes, panels, strict=True):
        for run, label, style in ((a, labels[0], "-"), (b, labels[1], "--")):
            ax.plot(run["time_ms"], fn(run["columns"]), style, label=label)
        ax.set_title(title, fontsize=9, loc="left")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[-1].set_xlabel("virtual time (ms)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _pct(num: list[int], den: list[int]) -> list[float]:
    return [100.0 * x / y if y else 0.0 for x, y in zip(num, den, strict=True)]


def _swap_used(c: dict[str, list[int]]) -> list[float]:
    return [(t - f) / 1024 for t, f in zip(c["SwapTotal"], c["SwapFree"], strict=True)]
