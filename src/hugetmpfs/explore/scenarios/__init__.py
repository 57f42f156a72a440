"""The built-in race scenarios.  Importing this package registers them all."""

from hugetmpfs.explore.scenarios import demo as demo
from hugetmpfs.explore.scenarios import reclaim as reclaim
