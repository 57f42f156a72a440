"""The engine: actors on virtual CPUs, virtual time, modelled locks, preemption points and
scheduling strategies.  Imports no other layer of hugetmpfs."""

from hugetmpfs.sim._engine import Engine, EngineError
from hugetmpfs.sim.actor import Actor
from hugetmpfs.sim.locks import LOCK_ORDER, LockdepError, Mutex, RWSem, SpinLock
from hugetmpfs.sim.schedule import Decision, Finding, Schedule
from hugetmpfs.sim.strategy.random import RandomStrategy
from hugetmpfs.sim.strategy.replay import ReplayDivergedError, ReplayStrategy
from hugetmpfs.sim.strategy.roundrobin import RoundRobinStrategy

__all__ = [
    "LOCK_ORDER",
    "Actor",
    "Decision",
    "Engine",
    "EngineError",
    "Finding",
    "LockdepError",
    "Mutex",
    "RWSem",
    "RandomStrategy",
    "ReplayDivergedError",
    "ReplayStrategy",
    "RoundRobinStrategy",
    "Schedule",
    "SpinLock",
]
