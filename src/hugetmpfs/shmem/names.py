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
    "base/R10.1": "map_team_by_pmd rechecks pmd_none under the pmd lock (a small fault may "
    "have put a pte table there)",
    "base/R11": "shmem_disband_hugeteam unmaps under the head lock while the team is pmd-mapped",
    "base/R15.2": "inc/dec_team_pte_mapped treat a team reset or no longer PageTeam as no team",
    "base/R4.1": "shmem_add_to_page_cache repeats the extent lookup under tree_lock and "
    "requires the hint it allocated by, else -EEXIST",
    "base/R4.2": "shmem_alloc_page locks the hinted hole, then rechecks it is not SwapBacked "
    "and its head still PageTeam",
    "base/R4.3": "shmem_hugeteam_lookup takes a speculative reference (fails at count 0) and "
    "rechecks the head's Team, mapping and index",
    "base/R4.6": "getpage does not delete a team page it added when i_size shrank meanwhile",
    "base/R6.5": "the hugehole shrinker re-reads TO's use from its disband and takes no holes "
    "from it unless enough are left",
    "base/R7.3": "the huge fault takes a reference on the team head that fails against a "
    "head being freed (get_page_unless_zero) before it drops its own page",
}
