"""The HTML report renders in a real browser: every image loads, nothing is logged as an error.

Drives headless Chromium through chromedriver (selenium).  Skipped where Chromium is not
installed, unless HUGETMPFS_REQUIRE_BROWSER=1 (as in CI, where .ci/run installs it): then a
missing browser fails the test instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import TYPE_CHECKING

import pytest

from hugetmpfs.workload.report import write_outputs
from hugetmpfs.workload.runner import run_scenario
from hugetmpfs.workload.scenario import builtin_path
from hugetmpfs.workload.scenario_file import load_scenario

if TYPE_CHECKING:
    from pathlib import Path

CHROMIUM = os.environ.get("HUGETMPFS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("HUGETMPFS_CHROMEDRIVER", "/usr/bin/chromedriver")
REQUIRED = os.environ.get("HUGETMPFS_REQUIRE_BROWSER") == "1"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
IMAGES_STATE = """
return Array.from(document.images).map(
    img => [img.alt, img.complete, img.naturalWidth, img.naturalHeight]);
"""


def _browser_or_skip() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        why = f"needs {', '.join(missing)} (Debian: apt-get install chromium chromium-driver)"
        if REQUIRED:
            pytest.fail(f"HUGETMPFS_REQUIRE_BROWSER=1 but the report test {why}")
        pytest.skip(why)


def _render(path: str) -> tuple[list[list], list[dict], str]:
    """Load *path* in headless Chromium: (image states, console log entries, page title)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never download a driver
    profile = tempfile.mkdtemp(prefix="hugetmpfs-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(60)
        driver.get(f"file://{path}")
        images = driver.execute_script(IMAGES_STATE)
        return images, driver.get_log("browser"), driver.title
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    _browser_or_skip()
    sc = load_scenario(builtin_path("swap-and-recover"), scale=32)
    paths = write_outputs(run_scenario(sc), str(tmp_path / "out"), str(tmp_path / "report"))
    assert paths["report"] == str(tmp_path / "report" / "index.html")
    images, log, title = _render(paths["report"])
    assert title == "hugetmpfs: swap-and-recover"
    assert len(images) >= 6 + len(sc.sample.pagemaps)  # the panels and every page map
    for alt, complete, width, height in images:
        assert (complete, width > 100, height > 100) == (True, True, True), alt
    errors = [entry for entry in log if entry.get("level") in ("SEVERE", "ERROR")]
    assert not errors, errors
