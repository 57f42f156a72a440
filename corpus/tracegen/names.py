"""Short, readable sizes for trace file names ("2m-4k", "4097", "64k")."""

from __future__ import annotations

from tracegen.builder import HPAGE, KiB, MiB


def sz(n: int) -> str:
    """*n* bytes as a file-name fragment: exact, and relative to 2 MiB when close to it."""
    if n < 0:
        return f"neg{sz(-n)}"
    if n and n % (1 << 30) == 0:
        return f"{n >> 30}g"
    if n and n % MiB == 0:
        return f"{n // MiB}m"
    d = n - HPAGE
    if n > 64 * KiB and abs(d) < HPAGE // 2:
        return f"2m{'+' if d > 0 else '-'}{sz(abs(d))}"
    if n and n % KiB == 0:
        return f"{n // KiB}k"
    return str(n)
