"""hugetmpfs: an executable, deterministic model of Linux huge tmpfs and its recovery.

The public surface grows with the model; kernel-named functions stay in their subpackages
(``hugetmpfs.mm``, ``hugetmpfs.shmem``).
"""

from hugetmpfs._version import __version__
from hugetmpfs.errors import HugetmpfsError, InputError, ModelBug, TraceError

__all__ = ["HugetmpfsError", "InputError", "ModelBug", "TraceError", "__version__"]
