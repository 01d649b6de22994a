"""Delivered-chunk checkpoints on local disk, for the CLI's resume.

One small JSON file per (file content, job, chunk size, profile): rewritten
atomically after every delivered chunk, readable only by the user, and removed 14
days after the upload completed.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path

from hrupload.settings import setting

KEEP_SECONDS = 14 * 24 * 3600


def default_state_dir() -> Path:
    configured = setting("HRUPLOAD_STATE_DIR")
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_state_dir

    return Path(user_state_dir("hrupload", appauthor=False))


class LocalCheckpoints:
    def __init__(self, directory: Path | None = None, *, keep_seconds: float = KEEP_SECONDS):
        self.directory = directory or default_state_dir()
        self.keep_seconds = keep_seconds
        self._cache: dict[str, dict] = {}
        self._lock = threading.Lock()  # chunks finish on several upload threads

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def _load(self, key: str) -> dict:
        if key not in self._cache:
            doc = _read(self._path(key))
            completed = doc["completed"]
            if completed and time.time() - completed > self.keep_seconds:
                doc = _read(None)
            self._cache[key] = doc
        return self._cache[key]

    def _save(self, key: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        state = self._cache[key]
        doc = {
            "delivered": sorted(state["delivered"]),
            "completed": state["completed"],
            "updated": time.time(),
        }
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".ckpt-")  # created 0600
        with os.fdopen(fd, "w") as out:
            json.dump(doc, out)
        os.replace(tmp, self._path(key))

    def delivered(self, key: str) -> set[int]:
        return set(self._load(key)["delivered"])

    def mark(self, key: str, index: int) -> None:
        with self._lock:
            self._load(key)["delivered"].add(index)
            self._save(key)

    def completed_at(self, key: str) -> float | None:
        return self._load(key)["completed"]

    def complete(self, key: str) -> None:
        self._load(key)["completed"] = time.time()
        self._save(key)
        self.prune()

    def clear(self, key: str) -> None:
        self._cache.pop(key, None)
        self._path(key).unlink(missing_ok=True)

    def prune(self) -> None:
        """Forget completed uploads older than the keep period."""
        if not self.directory.is_dir():
            return
        now = time.time()
        for path in self.directory.glob("*.json"):
            completed = _read(path)["completed"]
            if completed and now - completed > self.keep_seconds:
                path.unlink(missing_ok=True)


def _read(path: Path | None) -> dict:
    """A state file's content; a missing or damaged one (cut short, edited) is empty state,
    which at worst sends some chunks again rather than stopping the upload."""
    empty: dict = {"delivered": set(), "completed": None}
    if path is None:
        return empty
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return empty
    if not isinstance(doc, dict):
        return empty
    delivered = doc.get("delivered", [])
    completed = doc.get("completed")
    if not isinstance(delivered, list) or not all(isinstance(i, int) for i in delivered):
        return empty
    if not isinstance(completed, int | float) or isinstance(completed, bool):
        completed = None
    return {"delivered": set(delivered), "completed": completed}
