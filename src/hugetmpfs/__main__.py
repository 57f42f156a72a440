"""``python -m hugetmpfs`` is the ``hugetmpfs`` command."""

from hugetmpfs.cli import main

main()
