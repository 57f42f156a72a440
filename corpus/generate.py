"""Generate the differential trace corpus: ``never/NNN-name.jsonl`` and ``always/NNN-name.jsonl``.

    python corpus/generate.py [--out DIR]

Deterministic: the families in ``tracegen/`` use fixed values and fixed seeds, so two runs
write byte-identical files.  Files are rewritten only when their text changes, and generated
traces (and their ``.kernel.jsonl`` results) that are no longer produced are deleted.  Every
trace is validated with the project's own parser before it is written.  ``corpus/record.py``
then replays them on the real kernel.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the tracegen package lives beside this script

from tracegen import (  # noqa: E402
    advise,
    falloc,
    files,
    handles,
    huge,
    maps,
    placement,
    randomized,
    space,
)

from hugetmpfs.files import write_whole  # noqa: E402
from hugetmpfs.trace.parse import parse_bytes  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tracegen.builder import Trace

MOUNTS = ("never", "always")
BOTH = MOUNTS
NEVER = ("never",)

#: Every family, in file-number order, with the mounts it is generated for.
FAMILIES: tuple[tuple[Callable[[str], Iterator[Trace]], tuple[str, ...]], ...] = (
    (files.rw_boundaries, BOTH),
    (files.rw_overwrite, BOTH),
    (files.hex_writes, BOTH),
    (files.eof_reads, BOTH),
    (files.truncates, BOTH),
    (falloc.fallocates, BOTH),
    (falloc.fallocate_errors, BOTH),
    (falloc.seek_whence, BOTH),
    (falloc.seek_data_hole, BOTH),
    (handles.open_flags, BOTH),
    (handles.open_modes, BOTH),
    (handles.reused_handles, BOTH),
    (handles.closed_handles, BOTH),
    (handles.errno_precedence, BOTH),
    (handles.unlinks, BOTH),
    (space.accounting, BOTH),
    (maps.mmap_modes, BOTH),
    (maps.mmap_args, BOTH),
    (maps.touch_strides, BOTH),
    (maps.faults, BOTH),
    (maps.private_cow, BOTH),
    (advise.fault_around, NEVER),  # Rss is not compared on huge mounts
    (advise.madvise_hints, BOTH),
    (advise.madvise_zap, BOTH),
    (advise.madvise_populate, BOTH),
    (advise.madvise_ranges, BOTH),
    (advise.munmaps, BOTH),
    (space.size_writes, BOTH),
    (space.size_fallocate, BOTH),
    (space.size_files, BOTH),
    (space.size_faults, BOTH),
    (space.large, BOTH),
    (huge.huge_sequences, BOTH),
    (huge.huge_fallocate, BOTH),
    (huge.huge_maps, BOTH),
    (huge.huge_maps_eof, BOTH),
    (huge.huge_maps_zap, BOTH),
    (randomized.random_traces, BOTH),
    # Last, so that adding them renumbered no earlier trace.
    (placement.fault_around_windows, NEVER),  # Rss is not compared on huge mounts
    (placement.map_at_offset, BOTH),
    (placement.collapse, BOTH),
)

#: Minimum corpus size per mount (the brief's floor; the tests check it too).
MINIMUM = {"never": 200, "always": 100}

#: A generated file name: a trace or its recorded kernel results.
GENERATED = re.compile(r"[0-9]{3}-[a-z0-9][a-z0-9+.-]*?(\.kernel)?\.jsonl")


def build(mount: str) -> tuple[dict[str, str], Counter[str]]:
    """The file name -> text of every trace for *mount*, and the count per family."""
    texts: dict[str, str] = {}
    per_family: Counter[str] = Counter()
    seen: set[str] = set()
    for family, mounts in FAMILIES:
        if mount not in mounts:
            continue
        for trace in family(mount):
            if trace.name in seen:
                raise AssertionError(f"{mount}: two traces named {trace.name!r}")
            seen.add(trace.name)
            name = f"{len(texts) + 1:03d}-{trace.name}.jsonl"
            text = trace.render()
            parsed = parse_bytes(text.encode(), f"{mount}/{name}")  # raises on any mistake
            assert parsed.huge == mount, f"{name}: mounted {parsed.huge}, filed under {mount}"
            texts[name] = text
            per_family[family.__name__] += 1
    assert len(texts) <= 999, "file numbers have three digits"
    assert len(texts) >= MINIMUM[mount], f"{mount}: only {len(texts)} traces"
    return texts, per_family


def write_if_changed(path: Path, text: str) -> bool:
    """Write *text* atomically unless the file already holds it; True when written."""
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    write_whole(str(path), text)
    return True


def remove_stale(directory: Path, keep: set[str]) -> list[str]:
    """Delete generated traces not in *keep*, and kernel results whose trace is gone."""
    removed = []
    for entry in sorted(os.listdir(directory)):
        if not GENERATED.fullmatch(entry):
            continue
        trace = entry.removesuffix(".kernel.jsonl") + ".jsonl" if ".kernel." in entry else entry
        if trace not in keep:
            (directory / entry).unlink()
            removed.append(entry)
    return removed


def generate(out: Path) -> dict[str, Counter[str]]:
    """Write the whole corpus under *out*; the per-mount, per-family counts."""
    counts = {}
    for mount in MOUNTS:
        directory = out / mount
        directory.mkdir(parents=True, exist_ok=True)
        texts, counts[mount] = build(mount)
        written = sum(write_if_changed(directory / name, text) for name, text in texts.items())
        removed = remove_stale(directory, set(texts))
        print(f"{mount}: {len(texts)} traces ({written} written, {len(removed)} stale removed)")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="corpus root (default: corpus/)")
    parser.add_argument("-v", "--verbose", action="store_true", help="counts per family")
    args = parser.parse_args(argv)
    counts = generate(args.out)
    if args.verbose:
        for mount, per_family in counts.items():
            for family, n in per_family.items():
                print(f"  {mount:6} {family:20} {n:3}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
