"""Scheduling strategies, one module each (round-robin, random, PCT, DFS, replay)."""
