"""The built-in race scenarios.  Importing this package registers them all."""

from hugetmpfs.explore.scenarios import demo as demo
from hugetmpfs.explore.scenarios import reclaim as reclaim
from hugetmpfs.explore.scenarios import recovery as recovery
from hugetmpfs.explore.scenarios import recovery_resume as recovery_resume
from hugetmpfs.explore.scenarios import recovery_swap as recovery_swap
from hugetmpfs.explore.scenarios import teams_alloc as teams_alloc
from hugetmpfs.explore.scenarios import teams_map as teams_map
