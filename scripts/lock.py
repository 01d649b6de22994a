"""Regenerate requirements.lock: requirements.txt resolved in a fresh venv, pinned.

    python3 scripts/lock.py        # then review the diff and run `make audit`

The lock is what ``make audit`` checks for known vulnerabilities. A pin keeps its
``# unverifiable: <why>`` note only while its version stays the same: a new version
must show again that the audit can check it, or be given a reason anew.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
HEADER = """\
# Runtime dependencies (requirements.txt) as resolved for Python {python}, pinned.
# `make audit` (part of `make test`) checks every pin for known vulnerabilities; regenerate
# with `python3 scripts/lock.py` after changing requirements.txt or to pick up fixes.
# A pin the audit cannot check where it runs (the index serves vulnerability data only for
# each project's latest release) must say why with a trailing `# unverifiable: <reason>`;
# the audit then checks it against the latest release's known vulnerabilities and warns.
"""
_PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)(\s+#.*)?$")
_TOOLS = {"pip", "setuptools", "wheel"}


def _name(pin: str) -> str:
    return re.sub(r"[-_.]+", "-", pin.split("==", 1)[0]).lower()


def _notes(text: str) -> dict[str, str]:
    notes = {}
    for line in text.splitlines():
        m = _PIN.match(line.strip())
        if m and m.group(3):
            notes[f"{m.group(1).lower()}=={m.group(2)}"] = m.group(3)
    return notes


def main() -> None:
    old = _notes(LOCK.read_text()) if LOCK.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        py = str(venv / "bin" / "python")
        subprocess.run(
            [py, "-m", "pip", "install", "--quiet", "-r", str(ROOT / "requirements.txt")],
            check=True,
        )
        frozen = subprocess.run(
            [py, "-m", "pip", "freeze", "--all", "--exclude-editable"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    pins = []
    for line in frozen.splitlines():
        m = _PIN.match(line.strip())
        if not m or m.group(1).lower() in _TOOLS:
            continue
        pin = f"{m.group(1)}=={m.group(2)}"
        pins.append(pin + old.get(pin.lower(), ""))
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    LOCK.write_text(HEADER.format(python=python) + "\n".join(sorted(pins, key=_name)) + "\n")
    print(f"wrote {LOCK.relative_to(ROOT)}: {len(pins)} pins")


if __name__ == "__main__":
    main()
