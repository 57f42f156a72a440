"""Builders of the differential trace corpus (see ``corpus/generate.py``).

Each module holds a few *families*: functions ``family(huge) -> Iterator[Trace]`` that build
the traces of one theme for one mount mode.  ``FAMILIES`` in ``generate.py`` orders them.
"""
