"""The model's named choices: behaviours (variants of the spec, known bugs and their fixes)
and race guards.

Guard names are ``base/<race id>`` for reference/hugh-series-01-22.md and
``recovery/<race id>`` for reference/hugh-series-23-31.md (DESIGN.md §4).  A name is listed
here only once the model implements what it names, so a trace or a command line that asks
for anything else is rejected as bad input.
"""

from __future__ import annotations

#: name -> one-line description
BEHAVIOURS: dict[str, str] = {}

#: name -> one-line description of the check it switches
GUARDS: dict[str, str] = {
    "base/R7.1": "shmem_fault rechecks PageTeam(head) under the head lock after populating",
    "base/R10.2": "remap_team_by_ptes drops the team's pmd count only after every pte is set",
    "base/R10.3": "unmap_team_by_pmd rechecks under the pmd lock that the pmd maps the head",
    "base/R6.1": "eviction unlinks the inode under shmem_shrinklist_lock, which the hugehole "
    "shrinker holds across disband_hugehead",
    "base/R13.1": "putback_inactive_pages moves a tail's LRU weight only to a head still "
    "PageTeam, checked under tree_lock",
}
