"""Invariants recomputed from scratch, and the data oracle."""
