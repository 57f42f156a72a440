"""The engine: actors on virtual CPUs, virtual time, modelled locks, preemption points and
scheduling strategies.  Imports no other layer of hugetmpfs."""
