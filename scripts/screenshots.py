"""Regenerate the README's pictures of the web page (docs/images/web-*.png).

    .venv/bin/python scripts/screenshots.py

They come from the browser tests themselves (tests/web/test_browser.py: Azurite, the
connector stand-in, a real sweep, headless Chromium), so a picture shows what a test saw.
With HRUPLOAD_README_IMAGES set, ``screenshot()`` (tests/plugins/browser.py) also writes
``NAME.png`` there (1280 px wide, the top 1200 px of the page) beside the full-page 1280 and 390 px
ones under test-output/screenshots/; they are copied to docs/images/web-NAME.png only when
every test passed. Needs Chromium (``make browser``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
TESTS = "tests/web/test_browser.py"


def main() -> int:
    with tempfile.TemporaryDirectory() as shots:
        # CI=true: without Chromium the tests fail instead of skipping.
        env = {**os.environ, "HRUPLOAD_README_IMAGES": shots, "CI": "true"}
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TESTS],
            cwd=ROOT,
            env=env,
            check=False,
        )
        if done.returncode:
            print("screenshots: the browser tests failed; docs/images/ is left as it was")
            return done.returncode
        IMAGES.mkdir(parents=True, exist_ok=True)
        for png in sorted(Path(shots).glob("*.png")):
            target = IMAGES / f"web-{png.name}"
            shutil.copyfile(png, target)
            print(f"{target.relative_to(ROOT)}  {target.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
