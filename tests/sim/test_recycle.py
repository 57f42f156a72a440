"""Recycled actor greenlets (Engine.recycle): a later engine's actors run on the greenlets of
a closed engine's actors, and look exactly like actors on fresh greenlets."""

from __future__ import annotations

import greenlet

from hugetmpfs.sim import Engine, RandomStrategy


def _frames(actor: object) -> list[tuple[str, int, list[str]]]:
    """What a fingerprint sees of a suspended actor's position."""
    out = []
    frame = actor.gr_frame  # type: ignore[attr-defined]
    while frame is not None:
        out.append((frame.f_code.co_qualname, frame.f_lasti, sorted(frame.f_locals)))
        frame = frame.f_back
    return out


def _run(engine: Engine, log: list[str]) -> tuple[list[object], list[list[object]]]:
    """Two workers and a daemon asleep; the frames of the workers when both are blocked."""

    def worker(tag: str) -> str:
        engine.point(f"{tag}:before")
        engine.block_on("go", "wait")
        log.append(tag)
        return tag.upper()

    def daemon() -> None:
        log.append("daemon")

    actors = [
        engine.spawn(worker, "a", cpu=0),
        engine.spawn(worker, "b", cpu=1),
        engine.spawn(daemon, daemon=True, asleep_on="never"),
    ]
    assert [bool(a) or a.dead for a in actors] == [False, False, False]  # not started
    assert [a.gr_frame for a in actors] == [None, None, None]
    assert engine.run() is not None  # both workers blocked: a deadlock
    frames = [_frames(a) for a in actors]
    assert [bool(a) for a in actors] == [True, True, False]
    engine.wake("go")
    engine.finding = None
    assert engine.run() is None
    assert [a.result for a in actors[:2]] == ["A", "B"]
    assert [a.dead for a in actors] == [True, True, False]
    assert [a.gr_frame for a in actors] == [None, None, None]
    return actors, frames


def test_recycled_greenlets_run_new_actors_like_fresh_ones() -> None:
    log: list[str] = []
    first = Engine(RandomStrategy(1), cpus=2)
    first.recycle = True
    actors, frames = _run(first, log)
    first.close()
    assert all(a.dead for a in actors)
    assert all(a.engine is None and a.fn is None for a in actors)  # nothing kept alive

    again = Engine(RandomStrategy(1), cpus=2)
    again.recycle = True
    reused, frames_again = _run(again, log)
    assert {id(a) for a in reused} == {id(a) for a in actors}  # the same greenlets
    assert frames_again == frames  # the same frames, locals and instructions
    assert sorted(log[:2]) == ["a", "b"]  # the daemon never ran
    assert log[2:] == log[:2]
    again.close()

    plain = Engine(RandomStrategy(1), cpus=2)  # not recycling: fresh greenlets
    fresh, frames_fresh = _run(plain, log)
    assert not {id(a) for a in fresh} & {id(a) for a in actors}
    assert frames_fresh == frames
    plain.close()
    assert fresh[2].dead  # closed before it started


def test_close_unwinds_a_blocked_actor_and_recycles_its_greenlet() -> None:
    unwound: list[str] = []
    engine = Engine(RandomStrategy(0), cpus=1)
    engine.recycle = True

    def stuck() -> None:
        try:
            engine.block_on("never", "stuck")
        finally:
            unwound.append("stuck")

    actor = engine.spawn(stuck)
    assert engine.run() is not None  # deadlock
    engine.close()
    assert unwound == ["stuck"]
    assert actor.dead
    assert not actor
    assert actor.error is None  # dropped by recycle

    later = Engine(RandomStrategy(0), cpus=1)
    later.recycle = True
    again = later.spawn(lambda: 7)
    assert again is actor
    assert later.run() is None
    assert again.result == 7
    later.close()
    assert greenlet.getcurrent() is later.main
