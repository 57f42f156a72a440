"""A file's extents at a glance: which slots are team members, holes, small pages, swap.

One line per HPAGE_PMD_NR-page extent, one character per page:

    M  member of a live team, mapped by a pmd      T  member of a live team
    h  hole of a live team (reserved, no data)     s  a small page (not in any team)
    w  swapped out                                  .  nothing (a hole in the file)

followed by the extent's summary (``team complete pmd``, ``team 5/8``, ``small``...).  This is
the model's page-types view: /proc/kpageflags with patch 21/31's team bits, per file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hugetmpfs.mm.page_flags import PG_swapbacked, PG_team
from hugetmpfs.mm.pageteam import team_pmd_mapped
from hugetmpfs.mm.radix_tree import radix_tree_exceptional_entry

if TYPE_CHECKING:
    from hugetmpfs.shmem.inode import ShmemInodeInfo
    from hugetmpfs.shmem.machine import Machine


def extent_chars(m: Machine, inode: ShmemInodeInfo, start: int) -> tuple[str, str]:
    """The characters of the extent at index *start* and its summary."""
    nr = m.HPAGE_PMD_NR
    tree = inode.mapping.page_tree
    head = _live_head(m, inode, start)
    mapped = head is not None and team_pmd_mapped(m, head)
    chars = []
    for index in range(start, start + nr):
        entry = tree.lookup(index)
        if head is not None and (entry is None or entry == head + index - start):
            page = head + index - start
            member = m.flags[page] & PG_swapbacked and m.flags[page] & PG_team
            chars.append(("M" if mapped else "T") if member else "h")
        elif entry is None:
            chars.append(".")
        elif radix_tree_exceptional_entry(entry):
            chars.append("w")
        else:
            chars.append("s")
    return "".join(chars), _summary(chars, head is not None, mapped)


def _live_head(m: Machine, inode: ShmemInodeInfo, start: int) -> int | None:
    found = inode.mapping.page_tree.next_entry(start, start + m.HPAGE_PMD_NR)
    if found is None or radix_tree_exceptional_entry(found[1]):
        return None
    idx, page = found
    if not m.flags[page] & PG_team:
        return None
    head = page - (idx - start)
    if m.flags[head] & PG_team and m.mapping[head] == inode.mapping.id and m.index[head] == start:
        return head
    return None


def _summary(chars: list[str], team: bool, mapped: bool) -> str:
    n = len(chars)
    if team:
        members = sum(c in "MT" for c in chars)
        state = "complete" if members == n else f"{members}/{n}"
        return f"team {state}" + (" pmd" if mapped else "")
    kinds = sorted({"small" if c == "s" else "swap" if c == "w" else "empty" for c in chars})
    return "+".join(kinds)


def extent_map(m: Machine, inode: ShmemInodeInfo, width: int = 64) -> str:
    """The whole file, one extent per line (long extents are cut to *width* characters)."""
    nr = m.HPAGE_PMD_NR
    end = max((inode.i_size + 4095) >> 12, 1)
    lines = []
    for start in range(0, end, nr):
        chars, summary = extent_chars(m, inode, start)
        shown = chars if len(chars) <= width else chars[:width] + "…"
        lines.append(f"{start:>10} {shown} {summary}")
    return "\n".join(lines)
