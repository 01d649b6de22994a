"""Delivered-chunk checkpoints on local disk, for the CLI's resume.

One small JSON file per (file content, job, chunk size, profile): rewritten
atomically after every delivered chunk, readable only by the user, and removed 14
days after the upload completed.

Two uploads of the same file at once (a cron job overlapping a manual run) would both
read "nothing delivered yet" and send every chunk twice. :meth:`LocalCheckpoints.hold`
serialises them: an OS file lock per checkpoint key in the state directory, so
different files still upload in parallel. The OS drops the lock when its process dies
(even by SIGKILL), so a crashed upload never blocks the next one.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hrupload.core.errors import ConfigError, HrUploadError

KEEP_SECONDS = 14 * 24 * 3600


def default_state_dir() -> Path:
    """The user's state directory, the platform's convention: where checkpoints go when
    HRUPLOAD_STATE_DIR names none."""
    from platformdirs import user_state_dir

    return Path(user_state_dir("hrupload", appauthor=False))


@dataclass(frozen=True)
class Holder:
    """Who holds an upload lock, as its holder wrote it down (for the waiter's message)."""

    pid: int | None
    file: str


class UploadBusy(HrUploadError):
    """Another upload of the same file (same content, job, chunking and profile) with the
    same state directory is running, and did not finish within the wait."""

    def __init__(self, message: str, holder: Holder) -> None:
        super().__init__(message)
        self.holder = holder


class LocalCheckpoints:
    def __init__(self, directory: Path | None = None, *, keep_seconds: float = KEEP_SECONDS):
        """``directory``: HRUPLOAD_STATE_DIR (``Settings.state_dir``); None: the user's."""
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

    @contextmanager
    def hold(
        self,
        key: str,
        *,
        file: str,
        wait: float,
        on_wait: Callable[[Holder], None] | None = None,
    ) -> Iterator[None]:
        """Hold the upload lock of ``key`` for the ``with`` block: the one upload of that
        file this state directory runs at a time.

        Held by another process: ``on_wait(holder)`` is called once and the lock waited for
        up to ``wait`` seconds (0: not at all); then :class:`UploadBusy` is raised. The lock
        is the OS's (flock): released when the holder ends, however it ends.
        """
        from filelock import FileLock, Timeout

        locks = self.directory / "locks"
        lock = FileLock(locks / f"{key}.lock", mode=0o600, thread_local=False)
        owner = locks / f"{key}.owner"
        try:
            # Each level made private: mkdir's mode applies to the last one only.
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            locks.mkdir(exist_ok=True, mode=0o700)
            lock.acquire(timeout=0)
        except Timeout:  # (a subclass of OSError: first)
            holder = _holder(owner)
            if wait <= 0:
                raise _busy(file, holder, wait) from None
            if on_wait is not None:
                on_wait(holder)
            try:
                lock.acquire(timeout=wait)
            except Timeout:
                raise _busy(file, holder, wait) from None
        except OSError as exc:
            raise ConfigError(
                f"cannot take the upload lock in the state directory {self.directory}: "
                f"{exc.strerror or exc}; set HRUPLOAD_STATE_DIR to a folder you can write"
            ) from None
        try:
            fd, tmp = tempfile.mkstemp(dir=locks, prefix=".owner-")  # created 0600
            with os.fdopen(fd, "w") as out:
                json.dump({"pid": os.getpid(), "file": file, "since": time.time()}, out)
            os.replace(tmp, owner)
            yield
        finally:
            # Before the release: once released, the owner file may be the next holder's.
            owner.unlink(missing_ok=True)
            lock.release()

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


def _holder(owner: Path) -> Holder:
    """The lock holder's note; missing or damaged (it is written just after the lock is
    taken) reads as an unknown holder, which changes only the message."""
    try:
        doc = json.loads(owner.read_text())
    except (OSError, ValueError):
        return Holder(None, "")
    if not isinstance(doc, dict):
        return Holder(None, "")
    pid = doc.get("pid")
    file = doc.get("file")
    return Holder(
        pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        file if isinstance(file, str) else "",
    )


def describe_holder(holder: Holder) -> str:
    """``(pid 123)``, or nothing when the holder's note is not there yet."""
    return f" (pid {holder.pid})" if holder.pid is not None else ""


def _busy(file: str, holder: Holder, wait: float) -> UploadBusy:
    after = f" after waiting {wait:g} s" if wait > 0 else ""
    return UploadBusy(
        f"another upload of {file} is still running{describe_holder(holder)}{after}; "
        "nothing was sent: run this again when it has finished (or give --lock-wait more "
        "seconds)",
        holder,
    )
