"""explore/coverage.py follows actor ids and names only the changes of actor: the orders it
records are those of a plain scan by name of every log."""

from __future__ import annotations

import random

from hugetmpfs.explore.coverage import CONFLICT_PREFIXES, Coverage

POINTS = ["lock:a", "trylock:b", "down_read:c", "base/R1:x", "recovery/y:z", "other", "wait:a"]


def _reference(logs: list[tuple[list[tuple[int, int, str]], list[tuple[int, str, int]]]]) -> dict:
    orders: dict[str, set[tuple[str, str]]] = {}
    for log, actors in logs:
        names = {aid: name for aid, name, _ in actors}
        last: dict[str, str] = {}
        for _, aid, point in log:
            if not point.startswith(CONFLICT_PREFIXES):
                continue
            key = point.split(":", 1)[0] if point.startswith(("base/", "recovery/")) else point
            who = names.get(aid, str(aid))
            before = last.get(key)
            if before is not None and before != who:
                orders.setdefault(key, set()).add((before, who))
            last[key] = who
    return orders


def test_coverage_records_what_a_scan_by_name_does() -> None:
    rng = random.Random(7)
    for _ in range(30):
        actors = [(0, "a", 0), (1, "b", 1), (2, "a", 0), (3, "c", 1)]  # two called "a"
        logs = []
        log: list[tuple[int, int, str]] = []
        for _ in range(12):
            cut = rng.randrange(len(log) + 1)  # the next log shares a prefix, like DFS's
            log = log[:cut] + [
                (cut + k + 1, rng.randrange(4), rng.choice(POINTS))
                for k in range(rng.randrange(80))
            ]
            if rng.random() < 0.2:
                actors = [*actors[:3], (3, rng.choice("cd"), 1)]
            logs.append((log, list(actors)))
        cov = Coverage()
        for log, acts in logs:
            cov.add(log, acts)
        assert cov.orders == _reference(logs)
        assert list(cov.orders) == list(_reference(logs))  # in the same order
