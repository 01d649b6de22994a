"""tests/plugins/browser.py: without Chromium, browser tests skip locally and fail in CI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
def test_needs_a_browser(page):
    page.set_content("<p>hi</p>")
"""


def run_probe(tmp_path, **env):
    (tmp_path / "test_probe.py").write_text(PROBE)
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.plugins.browser"]\n')
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(("ci", "outcome"), [("", "1 skipped"), ("true", "1 error")])
def test_without_chromium_skip_locally_fail_in_ci(tmp_path, ci, outcome):
    result = run_probe(tmp_path, HRUPLOAD_CHROMIUM=str(tmp_path / "no-chromium"), CI=ci)
    assert outcome in result.stdout, result.stdout
    assert "no Chromium" in result.stdout
