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
GUARDS: dict[str, str] = {}
