"""Race exploration: scenarios, the exploration driver, replay and findings."""

from hugetmpfs.explore.runner import ExploreOptions, ExploreResult, explore, replay, run_once
from hugetmpfs.explore.scenario import REGISTRY, Scenario, scenario

__all__ = [
    "REGISTRY",
    "ExploreOptions",
    "ExploreResult",
    "Scenario",
    "explore",
    "replay",
    "run_once",
    "scenario",
]
