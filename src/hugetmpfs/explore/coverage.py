"""Which conflicting operations an exploration ran in both orders.

Two actors' visits to the same lock class or the same named race window conflict; an
exploration covers the pair when some execution had the first actor there before the second
and another the second before the first.  This is a coarse stand-in for the happens-before
coverage of CHESS-style tools: it names the windows whose both orders were never tried.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONFLICT_PREFIXES = ("lock:", "trylock:", "down_read:", "down_write:", "base/", "recovery/")


class _Keys(dict[str, "str | None"]):
    """Point name -> its conflict key, or None (not a conflicting point): some hundred
    names recur in every execution's log, so each is classified once."""

    def __missing__(self, point: str) -> str | None:
        key = None
        if point.startswith(CONFLICT_PREFIXES):
            key = point.split(":", 1)[0] if point.startswith(("base/", "recovery/")) else point
        self[point] = key
        return key


_KEYS = _Keys()


@dataclass
class Coverage:
    """Observed orders of actors at each conflicting point, across executions."""

    orders: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    def add(
        self, point_log: list[tuple[int, int, str]], actors: list[tuple[int, str, int]]
    ) -> None:
        keys = _KEYS
        last: dict[str, int] = {}  # key -> the actor there last
        moves = []  # (key, actor before, actor after), in order
        for _, aid, point in point_log:
            key = keys[point]
            if key is not None:
                before = last.get(key)
                if before != aid:
                    if before is not None:
                        moves.append((key, before, aid))
                    last[key] = aid
        # by name: actors of the same name are one
        names = {aid: name for aid, name, _ in actors}
        for key, before, aid in moves:
            pair = (names.get(before, str(before)), names.get(aid, str(aid)))
            if pair[0] != pair[1]:
                self.orders.setdefault(key, set()).add(pair)

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
