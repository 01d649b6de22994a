"""`make demo` must keep working: run it for real and check what it shows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_runs_the_whole_pipeline_and_cleans_up():
    proc = subprocess.run(
        [sys.executable, "-m", "hrupload_dev.demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Sweep: 6 files: 4 uploaded, 1 partial, 0 duplicate, 1 failed, 0 retrying" in out
    assert "5 uploads, 14 records" in out
    assert "saved-as-latin1.csv" in out
    assert "Stopped Azurite and the stand-in." in out
    assert "Traceback" not in proc.stderr
    # The demo's secret is a stand-in's, but the rule holds everywhere: never print it.
    assert "demo-secret" not in out + proc.stderr
