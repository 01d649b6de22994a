"""`make demo` must keep working: run it for real and check what it shows."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from hrupload_dev import demo

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", name="proc")
def demo_run() -> subprocess.CompletedProcess[str]:
    """One run of the demo, for every test here (it takes some seconds)."""
    return subprocess.run(
        [sys.executable, "-m", "hrupload_dev.demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_demo_runs_the_whole_pipeline_and_cleans_up(proc):
    out = proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Sweep: 6 files: 4 uploaded, 1 partial, 0 duplicate, 1 failed, 0 retrying" in out
    assert "5 uploads, 14 records" in out
    assert "saved-as-latin1.csv" in out
    assert "Stopped Azurite and the stand-ins." in out
    assert "Traceback" not in proc.stderr
    # The demo's secrets are stand-ins', but the rule holds everywhere: never print them,
    # nor a row's values.
    for secret in ("demo-secret", demo.GRAPH_SECRET, demo.REPORT_PASSWORD):
        assert secret not in out + proc.stderr
    assert "@contoso.com" not in out + proc.stderr


def test_demo_pulls_each_source_into_its_connector(proc):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout.split("7. Two connectors pull", 1)[1]
    first, again = out.split("$ hrupload pull")[1:3]
    # Each source dropped its file into its own connector's folder, the first time only.
    assert "dropped  hr-incoming/leavers/workday-leavers.csv  (workday-leavers)" in first
    assert "dropped  hr-incoming/reviews/performance-review.csv  (sharepoint-reviews)" in first
    assert "Pull: 2 sources, 2 files dropped, 0 failed" in first
    assert "Pull: 2 sources, 0 files dropped, 0 failed" in again
    assert "dropped  " not in again
    assert "fetched: 1 report (the same content" in again
    assert "0 files from SharePoint (the eTag is unchanged)" in again
    assert "Sweep: 2 files: 2 uploaded, 0 partial, 0 duplicate, 0 failed, 0 retrying" in first
    # status --connector shows each connector's own file and pull, and not the other's.
    leavers = out.split("$ hrupload status --connector leavers")[1].split("$ hrupload")[0]
    reviews = out.split("$ hrupload status --connector reviews")[1].split("$ hrupload")[0]
    assert re.search(r"uploaded\s+leavers/workday-leavers\.csv", leavers)
    assert "(pull workday-leavers)" in leavers and "reviews/" not in leavers
    assert re.search(r"uploaded\s+reviews/performance-review\.csv", reviews)
    assert "(pull sharepoint-reviews)" in reviews and "leavers/" not in reviews
    # What the connector stand-in received: one file of two records per connector's job.
    for name, job in demo.PULL_CONNECTORS.items():
        assert re.search(rf"{name}\s*│\s*{job}\s*│\s*1\s*│\s*2\s", again), again


def test_demo_serves_the_web_page_over_what_it_left(proc):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout.split("10. The web page HR admins use", 1)[1]
    # Every file of the run (6 swept, 2 pulled) has its report on the page, the partial one
    # its rejected rows; the key made for the run is never printed without --web.
    assert re.search(r"GET http://127\.0\.0\.1:\d+/api/ → 200: the status page lists 8 files", out)
    assert "1 with rejected" in " ".join(out.split())
    assert "code=" not in proc.stdout + proc.stderr
