"""Plots of a run (matplotlib is imported here and nowhere else): the time series panels
and the page maps, as PNG files.

Panels, over virtual time with the phases marked: huge-page coverage (ShmemPmdMapped and
ShmemHugePages as shares of Shmem), memory, free holes, swap in use, fragmentation (the
share of free memory in free huge blocks, and the kernel's fragmentation index) and the
recovery stats.  The recovery panel says so when the model exposes no recovery stats, or
when they all stayed zero: it never draws a line it does not have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hugetmpfs.workload.memstate import FRAME_STATES, SLOT_STATES

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from hugetmpfs.workload.memstate import PageMap
    from hugetmpfs.workload.series import Series

FRAME_COLOURS = ("#f2f2f2", "#1b7837", "#7fbf7b", "#fdb863", "#4393c3", "#8c8c8c")
SLOT_COLOURS = {
    "M": "#1b7837",
    "T": "#7fbf7b",
    "h": "#fdb863",
    "s": "#4393c3",
    "w": "#d6604d",
    ".": "#f2f2f2",
}
PANELS = ("coverage", "memory", "holes", "swap", "fragmentation", "recovery")
TITLES = {
    "coverage": "Huge-page coverage of tmpfs (% of Shmem)",
    "memory": "Memory (MiB)",
    "holes": "Free holes in teams (MiB)",
    "swap": "Swap in use (MiB)",
    "fragmentation": "Free memory in huge blocks (%), fragmentation index",
    "recovery": "Recovery stats (cumulative)",
}
MAX_RECOVERY_LINES = 8


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _share(num: list[int], den: list[int]) -> list[float]:
    return [100.0 * a / b if b else 0.0 for a, b in zip(num, den, strict=True)]


def _mib(values: list[int]) -> list[float]:
    return [v / 1024 for v in values]


def draw_panel(ax: Axes, name: str, series: Series, hpage_kb: int) -> None:
    """Draw panel *name* of *series* on *ax*."""
    c, t = series.columns, series.time_ms
    if name == "coverage":
        ax.plot(t, _share(c["ShmemPmdMapped"], c["Shmem"]), label="ShmemPmdMapped")
        ax.plot(t, _share(c["ShmemHugePages"], c["Shmem"]), label="ShmemHugePages", ls="--")
        ax.set_ylim(-2, 102)
    elif name == "memory":
        for col in ("MemFree", "Shmem", "ShmemHugePages", "Unevictable"):
            ax.plot(t, _mib(c[col]), label=col)
    elif name == "holes":
        ax.plot(t, _mib(c["ShmemFreeHoles"]), label="ShmemFreeHoles", color="#e08214")
    elif name == "swap":
        used = [a - b for a, b in zip(c["SwapTotal"], c["SwapFree"], strict=True)]
        ax.plot(t, _mib(used), label="swap in use", color="#d6604d")
        ax.plot(t, _mib(c["SwapCached"]), label="SwapCached", ls="--")
    elif name == "fragmentation":
        huge_free = [b * hpage_kb // 4 for b in c["free_huge_blocks"]]
        ax.plot(t, _share(huge_free, c["free_pages_buddy"]), label="free memory in huge blocks (%)")
        ax.set_ylim(-2, 102)
        twin = ax.twinx()
        twin.plot(t, [v / 1000 for v in c["extfrag_index"]], color="#762a83", lw=1, ls=":")
        twin.set_ylim(-1.05, 1.05)
        twin.set_ylabel("extfrag index", fontsize=7, color="#762a83")
        ax.plot([], [], color="#762a83", ls=":", label="fragmentation index (right; -1: fits)")
    elif name == "recovery":
        _recovery_panel(ax, series)
    if name in ("memory", "holes", "swap"):
        ax.set_ylim(bottom=0, top=max(1.0, ax.get_ylim()[1]))
    _mark_phases(ax, series)
    ax.set_title(TITLES[name], fontsize=9, loc="left")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=7)
    ax.grid(alpha=0.3)


def _recovery_panel(ax: Axes, series: Series) -> None:
    cols = series.recovery_columns()
    live = [col for col in cols if series.columns[col][-1]]
    if not cols or not live:
        what = (
            "no recovery stats: this model exposes none"
            if not cols
            else "recovery stats all zero: no recovery work happened in this run"
        )
        ax.text(0.5, 0.5, what, ha="center", va="center", transform=ax.transAxes, fontsize=9)
        ax.set_yticks([])
        return
    live.sort(key=lambda col: (-series.columns[col][-1], col))
    for col in live[:MAX_RECOVERY_LINES]:
        ax.plot(series.time_ms, series.columns[col], label=col.split(".", 1)[1])


def _mark_phases(ax: Axes, series: Series) -> None:
    for when, _ in series.events:
        ax.axvline(when, color="grey", linewidth=0.5, linestyle=":")


def plot_panels(series: Series, paths: dict[str, str], title: str, hpage_nr: int) -> None:
    """One PNG per panel (``paths[name]``) and, at ``paths['overview']``, all of them."""
    plt = _pyplot()
    hpage_kb = hpage_nr * 4
    for name in PANELS:
        if name not in paths:
            continue
        fig, ax = plt.subplots(figsize=(9, 3.2))
        draw_panel(ax, name, series, hpage_kb)
        ax.set_xlabel("virtual time (ms)")
        fig.tight_layout()
        fig.savefig(paths[name], dpi=100)
        plt.close(fig)
    if "overview" in paths:
        fig, axes = plt.subplots(len(PANELS), 1, figsize=(10, 15), sharex=True)
        for ax, name in zip(axes, PANELS, strict=True):
            draw_panel(ax, name, series, hpage_kb)
        _annotate_phases(axes[0], series)
        axes[-1].set_xlabel("virtual time (ms)")
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        fig.savefig(paths["overview"], dpi=90)
        plt.close(fig)


def _annotate_phases(ax: Axes, series: Series) -> None:
    for when, what in series.events:
        ax.annotate(
            what, (when, 1.0), xycoords=("data", "axes fraction"), rotation=90,
            fontsize=5, va="top", ha="right", color="grey",
        )  # fmt: skip


# -- page maps ------------------------------------------------------------------------------


def _grid(codes: np.ndarray, width: int, max_rows: int) -> np.ndarray:
    """*codes* laid out in rows of *width*, rows merged (most common code) beyond *max_rows*."""
    group = 1
    while -(-len(codes) // (width * group)) > max_rows:
        group *= 2
    n = len(codes)
    cell = width * group
    padded = np.full(-(-n // cell) * cell, 255, dtype=np.uint8)
    padded[:n] = codes
    if group > 1:  # each pixel stands for *group* consecutive frames: show the commonest
        chunks = padded.reshape(-1, group)
        onehot = np.stack([(chunks == k).sum(axis=1) for k in range(int(codes.max()) + 1)])
        padded = onehot.argmax(axis=0).astype(np.uint8)
        padded[(chunks == 255).all(axis=1)] = 255
    return padded.reshape(-1, width)


def _show(ax: Axes, grid: np.ndarray, colours: list[str]) -> None:
    from matplotlib.colors import ListedColormap

    masked = np.ma.masked_equal(grid, 255)
    cmap = ListedColormap(colours).with_extremes(bad="white")
    ax.imshow(masked, cmap=cmap, vmin=0, vmax=len(colours) - 1, aspect="auto",
              interpolation="nearest")  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])


def plot_pagemap(pm: PageMap, path: str, title: str) -> None:
    """A PNG of physical memory (left) and of the largest files' extents (right)."""
    from matplotlib.patches import Patch

    plt = _pyplot()
    ncols = 1 + len(pm.files)
    fig, axes = plt.subplots(1, ncols, figsize=(4 + 3 * len(pm.files), 5.2), squeeze=False)
    width = min(1024, 2 * pm.hpage_nr)
    counts = np.bincount(pm.frames, minlength=len(FRAME_STATES))
    _show(axes[0][0], _grid(pm.frames, width, 512), list(FRAME_COLOURS))
    axes[0][0].set_title(f"physical memory ({width} frames a row)", fontsize=8)
    handles = [
        Patch(color=FRAME_COLOURS[i], label=f"{name}: {counts[i] * 4 // 1024:,} MiB")
        for i, name in enumerate(FRAME_STATES)
    ]
    axes[0][0].legend(handles=handles, fontsize=6, loc="upper center",
                      bbox_to_anchor=(0.5, -0.02), ncol=2)  # fmt: skip
    order = list(SLOT_COLOURS)
    for ax, (name, slots) in zip(axes[0][1:], pm.files, strict=True):
        codes = np.frombuffer(slots.encode("ascii"), dtype=np.uint8)
        lut = np.full(256, 255, dtype=np.uint8)
        for k, ch in enumerate(order):
            lut[ord(ch)] = k
        _show(ax, _grid(lut[codes], pm.hpage_nr, 512), [SLOT_COLOURS[ch] for ch in order])
        ax.set_title(f"file {name}: one extent a row", fontsize=8)
        present = {ch: slots.count(ch) for ch in order}
        ax.legend(
            handles=[
                Patch(color=SLOT_COLOURS[ch], label=f"{SLOT_STATES[ch]}: {present[ch]:,}")
                for ch in order
            ],
            fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2,
        )  # fmt: skip
    fig.suptitle(f"{title} — at {pm.label} ({pm.time_ms:,.1f} ms)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
