"""Run a workload scenario on a model machine: processes as actors, counters sampled over
virtual time, page maps at chosen instants, every byte read back verified.

Each process is an actor on its own virtual CPU with its own address space and open files;
phases run in order (``phases.py`` lists them).  A sampler timer records meminfo, vmstat,
fragmentation and the recovery stats every ``sample.every_ms`` of virtual time.  Once every
process has ended the machine keeps running for ``run.after_ms``, then until its background
work (kswapd, recovery) is done, never beyond ``run.max_ms``.  The run is a pure function of
the scenario (its seed included).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hugetmpfs.errors import InputError, ModelBug
from hugetmpfs.shmem.machine import Machine
from hugetmpfs.sim.actor import DONE
from hugetmpfs.workload.memstate import PageMap, capture
from hugetmpfs.workload.processes import process_main, scenario_weight, static_sizes
from hugetmpfs.workload.series import Series

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.sim.actor import Actor
    from hugetmpfs.workload.scenario import Scenario


@dataclass
class RunResult:
    """What a run produced.  ``wall_seconds`` is the only host-time measurement."""

    scenario: Scenario
    series: Series
    pagemaps: list[PageMap] = field(default_factory=list)
    mismatched_bytes: dict[str, int] = field(default_factory=dict)
    phases_done: float = 0
    phases_total: float = 0
    virtual_ms: float = 0.0
    processes_ms: float = 0.0  # when the last process ended
    wall_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # OOMs and other outcomes, not errors

    @property
    def verified(self) -> bool:
        return not self.errors and all(v == 0 for v in self.mismatched_bytes.values())


class _Run:
    """The shared state of one run: machine, mounts, events, results, progress."""

    def __init__(self, sc: Scenario, progress: Callable[[float, str, float], None] | None) -> None:
        self.sc = sc
        self.m = Machine(sc.machine)
        for name, value in sc.sysctls:
            if self.m.set_sysctl(name, value):
                raise ModelBug(f"scenario {sc.name}: sysctl {name}={value} refused")
        self.sbs = {mt.name: self.m.mount(mt.huge, mt.size) for mt in sc.mounts}
        self.series = Series()
        self.events: set[str] = set()
        self.progress = progress or (lambda done, what, vt: None)
        self.result = RunResult(sc, self.series, phases_total=scenario_weight(sc))
        self.running = True  # the sampler re-arms itself while this holds
        self.settling_from: float | None = None  # virtual ns when the last process ended
        self.sizes = static_sizes(sc)
        self.actors: list[Actor] = []

    def now_ms(self) -> float:
        return self.m.engine.now() / 1e6

    def advance(self, amount: float, what: str) -> None:
        self.result.phases_done += amount
        self.progress(self.result.phases_done, what, self.now_ms())

    def sample(self) -> None:
        m, spec = self.m, self.sc.run
        t = m.engine.now()
        self.series.sample(m, t)
        if t >= spec.max_ms * 1e6:
            self.running = False
        elif self.settling_from is None:
            # every process waits, and nothing can wake one: stop, the engine reports it
            self.running = self.something_pending()
        elif t >= self.settling_from + spec.after_ms * 1e6:
            self.running = spec.until_idle and self.background_busy()
        if self.running:
            m.engine.call_later(int(self.sc.sample.every_ms * 1e6), self.sample, name="sampler")

    def something_pending(self) -> bool:
        """An actor that can run, or a timer besides ours (a sleeping actor, a delayed work)."""
        e = self.m.engine
        ours = (self.sample, self.snapshot)
        return bool(e.runnable) or any(entry[2] not in ours for entry in e.timers)

    def background_busy(self) -> bool:
        """Whether anything may still change the machine once the processes are done."""
        e = self.m.engine
        return self.something_pending() or e.live > e.live_daemons

    def snapshot(self, label: str, time_ms: float | None = None) -> None:
        when = self.now_ms() if time_ms is None else time_ms
        self.result.pagemaps.append(capture(self.m, label, when))

    def schedule_pagemaps(self) -> None:
        """Page maps at virtual times are timers; at events, the signal phase takes them."""
        for instant in self.sc.sample.pagemaps:
            if instant == "start":
                self.snapshot("start")
            elif not isinstance(instant, str):
                ns = int(instant * 1e6)
                self.m.engine.call_later(ns, self.snapshot, f"{instant:g} ms", name="pagemap")

    def ended(self) -> bool:
        """Whether the run is over: the sampler decides (``sample``); note when the last
        process ends, from which the machine settles."""
        if self.settling_from is None and all(a.state == DONE for a in self.actors):
            self.settling_from = self.m.engine.now()
            self.result.processes_ms = self.settling_from / 1e6
            self.progress(self.result.phases_done, "background work", self.now_ms())
        return not self.running


def run_scenario(
    sc: Scenario, progress: Callable[[float, str, float], None] | None = None
) -> RunResult:
    """Run *sc*; *progress* gets (work done, what, virtual ms) as the run proceeds."""
    start = time.perf_counter()
    run = _Run(sc, progress)
    m = run.m
    run.actors = [
        m.engine.spawn(process_main, run, spec, name=spec.name, cpu=spec.cpu)
        for spec in sc.processes
    ]
    run.schedule_pagemaps()
    run.sample()
    try:
        finding = m.engine.run(until=run.ended)
        end = max([*m.engine.clock, run.series.last_ns])
        if "end" in sc.sample.pagemaps:
            run.snapshot("end", end / 1e6)
        unfinished = [a.name for a in run.actors if a.state != DONE]
        stuck = _waiting_for_each_other(run.actors) if finding is not None else ""
    finally:
        run.running = False
        m.engine.close()
    if stuck:
        raise InputError(f"{sc.source or sc.name}: the processes wait for each other: {stuck}")
    if finding is not None:
        raise ModelBug(f"scenario {sc.name}: {finding.kind}: {finding.message}")
    if unfinished:
        run.result.errors.append(
            f"run.max_ms ({sc.run.max_ms:g}) reached with {', '.join(unfinished)} unfinished"
        )
    if end > run.series.last_ns:
        run.series.sample(m, end)
    run.result.pagemaps.sort(key=lambda pm: pm.time_ms)
    run.result.virtual_ms = end / 1e6
    run.result.wall_seconds = time.perf_counter() - start
    return run.result


def _waiting_for_each_other(actors: list[Actor]) -> str:
    """When the run deadlocked with every unfinished process in a ``wait`` phase: who waits
    for what (a scenario whose signals come in an impossible order); else ""."""
    blocked = [a for a in actors if a.state != DONE]
    events = [a.waiting for a in blocked]
    if not blocked or any(not (isinstance(e, tuple) and e[0] == "event") for e in events):
        return ""
    return ", ".join(f"{a.name} for {e[1]!r}" for a, e in zip(blocked, events, strict=True))


__all__ = ["RunResult", "run_scenario", "scenario_weight"]
