"""The model's named choices: the two forms of recovery, behaviours (variants of the spec,
known bugs and their fixes) and race guards.

Guard names are ``base/<race id>`` for reference/hugh-series-01-22.md and
``recovery/<race id>`` for reference/hugh-series-23-31.md (DESIGN.md §4).  A name is listed
here only once the model implements what it names, so a trace or a command line that asks
for anything else is rejected as bad input.
"""

from __future__ import annotations

#: The two forms of recovery (DESIGN.md §2): the seed patch's two-pass enteam (v24) and the
#: migration callback that enteams under tree_lock (v29).
VARIANTS = ("v24", "v29")

#: name -> one-line description
BEHAVIOURS: dict[str, str] = {
    "recoveries-negative-disables": "a negative vm.shmem_huge_recoveries disables recovery, "
    "as patch 30's documentation says (the code compares it unsigned: no limit)",
    "R4c-fix": "v24: populate's pass that counts a head filled by migration does not count "
    "its pte again when the restored pte was counted already (recovery/R4c)",
    "R27-expose-empty-head": "a fix for recovery/R27: a fresh recovery whose head index holds "
    "nothing exposes the head before the populate loop, so the SGP_TEAM hint can fill it",
}

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
    "recovery/R1": "__unmap_and_move in recovery mode quits migrate_pages when the locked "
    "source page was truncated since isolation",
    "recovery/R5": "populate gives up when getpage returns a member of another live team",
    "recovery/R6": "populate treats a Team page whose head is no longer Team as ordinary",
    "recovery/R7": "populate gives up when its prepared slot is SwapBacked but getpage "
    "returned another page",
    "recovery/R8": "populate bumps the mapcount of a pte-mapped page while enteaming it and "
    "counts it in the head's pte count",
    "recovery/R9": "populate and the migration callbacks recheck PageTeam(head)",
    "recovery/R10": "a resumed work cycles shmem_shrinklist_lock after clearing the tag",
    "recovery/R12": "one queued or running work per extent (work_already)",
    "recovery/R13": "info->recoveries holds eviction until the works are done",
    "recovery/R15": "remap_team_by_pmd backs out of a table with no pte left",
    "recovery/R16": "the swapin pre-pass confirms the entry after swapcache_prepare",
    "recovery/R18": "no swapin pre-pass on an exposed team",
    "recovery/R20": "a hint slot whose insertion failed is made a hole again",
    "recovery/R22": "populate drains all CPUs' pagevecs once and retries",
    "recovery/R24": "remap rechecks PageTeam(head) under the head lock",
    "base/R7.3": "the huge fault takes a reference on the team head that fails against a "
    "head being freed (get_page_unless_zero) before it drops its own page",
}
