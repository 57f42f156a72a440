"""Plots of a run's time series (matplotlib is imported here and nowhere else)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hugetmpfs.workload.series import Series

PANELS = (
    ("Memory (MiB)", ("MemFree", "Shmem", "Unevictable", "SwapCached")),
    ("Swap in use (MiB)", ("SwapUsed",)),
    ("Huge tmpfs (MiB)", ("ShmemHugePages", "ShmemPmdMapped", "ShmemFreeHoles")),
)


def plot_series(series: Series, path: str, title: str) -> None:
    """Write a PNG of the headline counters over virtual time, phases marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = dict(series.columns)
    cols["SwapUsed"] = [t - f for t, f in zip(cols["SwapTotal"], cols["SwapFree"], strict=True)]
    t = series.time_ms
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(10, 8), sharex=True)
    for ax, (label, names) in zip(axes, PANELS, strict=True):
        for name in names:
            ax.plot(t, [v / 1024 for v in cols[name]], label=name, linewidth=1.5)
        for when, _ in series.events:
            ax.axvline(when, color="grey", linewidth=0.6, linestyle=":")
        ax.set_ylabel(label)
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    for when, what in series.events:
        axes[0].annotate(
            what,
            (when, 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            fontsize=6,
            va="top",
            ha="right",
            color="grey",
        )
    axes[-1].set_xlabel("virtual time (ms)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
