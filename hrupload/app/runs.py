"""What the app records about its work: the status names and the run record.

The app owns these; the run-log adapter (:mod:`hrupload.adapters.tables`) stores them and
the front doors print them. The values are the strings the run log, the reports and
``--json`` have always carried: a :class:`Status` compares equal to its value and is
written as it, so records stored before the enum read back the same.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """Where a file (or a sweep, or a profile refresh) stands."""

    #: An attempt is under way (or was stopped by the host before it could say otherwise).
    RUNNING = "running"
    #: The file stays in incoming with the reason; a later attempt tries again.
    RETRYING = "retrying"
    #: Every row was delivered.
    UPLOADED = "uploaded"
    #: The valid rows were delivered; the rest are in the rejected rows.
    PARTIAL = "partial"
    #: The file went to failed with its report (its own fault, or given up on).
    FAILED = "failed"
    #: Identical content was delivered for this job recently: not sent again.
    DUPLICATE = "duplicate"
    #: A sweep that went through every file.
    DONE = "done"
    #: A sweep that stopped sending because a service every file needs failed.
    STOPPED = "stopped"
    # Results only, never recorded: the blob was not ours to process.
    #: Another instance holds the blob's lease and is processing it.
    TAKEN = "taken"
    #: The blob was gone (processed or deleted) before we got to it.
    GONE = "gone"
    #: A folder marker, or an empty blob probably still being written.
    SKIPPED = "skipped"
    #: The CLI's: another upload of the same file holds its lock.
    BUSY = "busy"


#: The statuses a run record may hold.
RECORDED = frozenset(
    {
        Status.RUNNING,
        Status.RETRYING,
        Status.UPLOADED,
        Status.PARTIAL,
        Status.FAILED,
        Status.DUPLICATE,
        Status.DONE,
        Status.STOPPED,
    }
)
#: A file's end states: recorded with a destination, so only the move may be left to do.
FINAL = frozenset({Status.UPLOADED, Status.PARTIAL, Status.FAILED, Status.DUPLICATE})
#: Statuses meaning the connector received the file's rows (all, or some of them).
DELIVERED = (Status.UPLOADED, Status.PARTIAL)


class RunKind(StrEnum):
    """What a run record is about."""

    FILE = "file"
    PROFILE_REFRESH = "profile-refresh"
    SWEEP = "sweep"
    #: One source's pull (``hrupload pull``, the daily timer): what it dropped, or why it failed.
    PULL = "pull"


def utc_now() -> datetime:
    """Aware UTC now: the run log stores instants, and naive datetimes are rejected."""
    return datetime.now(UTC)


@dataclass
class RunRecord:
    """One run over one blob version (or one profile refresh, or one sweep)."""

    run_id: str
    #: ``container/name`` as dropped in the incoming container.
    blob: str
    etag: str
    sha256: str | None
    job_id: str | None
    #: One of RECORDED.
    status: str
    rows: int = 0
    valid: int = 0
    rejected: int = 0
    blank: int = 0
    uploaded: int = 0
    chunks: int = 0
    scenarios: dict[str, int] = field(default_factory=dict)
    #: Already free of row values (the pipeline guarantees it); the run log may cut it.
    error: str | None = None
    #: ``container/name`` the file was moved to.
    destination: str | None = None
    attempts: int = 0
    first_seen: datetime | None = None
    started: datetime = field(default_factory=utc_now)
    finished: datetime | None = None
    kind: str = RunKind.FILE
    #: A sweep's counts (files, uploaded, failed, retrying, stuck, ...); empty for files.
    summary: dict[str, Any] = field(default_factory=dict)
    #: The connector of HRUPLOAD_CONNECTORS the file went to (None: the single one).
    connector: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for ``hrupload status --json``."""
        doc = asdict(self)
        for key in ("first_seen", "started", "finished"):
            value = doc[key]
            doc[key] = value.isoformat() if value else None
        return doc
