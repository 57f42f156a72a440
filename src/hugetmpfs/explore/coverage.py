"""Which conflicting operations an exploration ran in both orders.

Two actors' visits to the same lock class or the same named race window conflict; an
exploration covers the pair when some execution had the first actor there before the second
and another the second before the first.  This is a coarse stand-in for the happens-before
coverage of CHESS-style tools: it names the windows whose both orders were never tried.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONFLICT_PREFIXES = ("lock:", "trylock:", "down_read:", "down_write:", "base/", "recovery/")

#: point name -> its conflict key, or None (not a conflicting point): a few hundred names
#: recur in every execution's log of some 150 points, so each is classified once
_KEYS: dict[str, str | None] = {}
_UNKNOWN = object()


def _key(point: str) -> str | None:
    if not point.startswith(CONFLICT_PREFIXES):
        return None
    return point.split(":", 1)[0] if point.startswith(("base/", "recovery/")) else point


@dataclass
class Coverage:
    """Observed orders of actors at each conflicting point, across executions."""

    orders: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    def add(
        self, point_log: list[tuple[int, int, str]], actors: list[tuple[int, str, int]]
    ) -> None:
        names = {aid: name for aid, name, _ in actors}
        keys = _KEYS
        last: dict[str, str] = {}
        for _, aid, point in point_log:
            key = keys.get(point, _UNKNOWN)
            if key is _UNKNOWN:
                key = keys[point] = _key(point)
            if key is None:
                continue
            who = names.get(aid, str(aid))
            before = last.get(key)
            if before is not None and before != who:
                self.orders.setdefault(key, set()).add((before, who))
            last[key] = who

    def table(self) -> list[dict[str, object]]:
        rows = []
        for key in sorted(self.orders):
            pairs = self.orders[key]
            both = sorted({tuple(sorted(p)) for p in pairs if (p[1], p[0]) in pairs})
            one = sorted(p for p in pairs if (p[1], p[0]) not in pairs)
            rows.append(
                {
                    "point": key,
                    "both_orders": [list(p) for p in both],
                    "one_order_only": [list(p) for p in one],
                }
            )
        return rows

    def text(self) -> str:
        lines = [f"{'point':40} both orders / one order only"]
        for row in self.table():
            both = ", ".join("↔".join(p) for p in row["both_orders"]) or "-"  # type: ignore[union-attr]
            one = ", ".join("→".join(p) for p in row["one_order_only"]) or "-"  # type: ignore[union-attr]
            lines.append(f"{row['point']:40} {both} / {one}")
        return "\n".join(lines)
