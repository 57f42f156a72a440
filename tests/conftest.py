"""Shared test configuration.

Tests marked ``kernel`` need a real tmpfs mount.  They run whenever this process may mount
one; otherwise they skip, except under ``HUGETMPFS_REQUIRE_KERNEL=1`` (CI), where a test that
cannot reach the kernel fails instead.
"""

from __future__ import annotations

import functools
import os

import pytest


@functools.cache
def kernel_unavailable_reason() -> str | None:
    """Why tmpfs cannot be mounted here, or None when it can."""
    from hugetmpfs.trace.kernel_runner import probe_kernel

    return probe_kernel()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "kernel" in item.keywords:
            item.add_marker(pytest.mark.usefixtures("_kernel_required"))


@pytest.fixture
def _kernel_required() -> None:
    reason = kernel_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("HUGETMPFS_REQUIRE_KERNEL") == "1":
        pytest.fail(f"HUGETMPFS_REQUIRE_KERNEL=1 but the kernel is unavailable: {reason}")
    pytest.skip(f"real tmpfs unavailable: {reason}")
