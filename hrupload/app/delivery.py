"""Delivering one file: scan, validate, chunk, upload with bounded concurrency, resume.

This is the one path every front door takes to send a file (``hrupload upload``, the
blob trigger, the sweep): they differ only in where bytes come from, where the
reports go, and where delivered-chunk checkpoints are kept.

Chunks are numbered in file order and are deterministic for a given file, profile,
scenario and chunk size, so a checkpoint of delivered indices is enough to resume
without re-sending. The one at-least-once window: a chunk the service accepted but
whose answer (or checkpoint write) was lost is sent again on the next run.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, BinaryIO

from hrupload.app.ports import Checkpoints, Uploader
from hrupload.app.runs import Status
from hrupload.core import csvread
from hrupload.core.csvread import FileFacts
from hrupload.core.csvwrite import Chunk, RejectedRows
from hrupload.core.errors import Blame, HrUploadError, blame
from hrupload.core.profile import DEFAULT_PROFILE, Profile
from hrupload.core.report import FileError, FileProblem, Report
from hrupload.core.termsafe import logger
from hrupload.core.validate import Validation, new_report
from hrupload.settings import default

log = logger(__name__)  # file-derived text in messages and fields is escaped

DEFAULT_RECORDS_PER_CALL = int(default("HRUPLOAD_RECORDS_PER_CALL"))
#: HRUPLOAD_MAX_CHUNK_MB's default: with ``concurrency`` chunks in flight, what bounds the
#: memory an upload holds for any file (rows under a wide header are long).
DEFAULT_MAX_CHUNK_BYTES = int(default("HRUPLOAD_MAX_CHUNK_MB")) << 20
#: HRUPLOAD_CONCURRENCY's default, chunks in flight at once. Each request costs the service
#: ~50 ms plus its own parsing of the chunk, so with four in flight a 1M-row file (200
#: chunks) spent 6 s waiting on the network; twelve keep the upload within the time
#: validation takes (~4 s end to end, docs/benchmarks.md). It is a ceiling: the connector
#: client's gate (hrupload/app/limiter.py) halves the requests in flight when the service
#: pushes back and grows them back after. Memory stays bounded at twelve chunks (~1.2 MB each).
DEFAULT_CONCURRENCY = int(default("HRUPLOAD_CONCURRENCY"))


def checkpoint_key(
    sha256: str,
    job_id: str,
    records_per_call: int,
    profile: Profile,
    scenario: str | None,
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
) -> str:
    """What numbers a file's chunks: the chunk limits decide where chunks end."""
    raw = f"{sha256}|{job_id}|{records_per_call}|{profile.fingerprint()}|{scenario or ''}"
    if max_chunk_bytes != DEFAULT_MAX_CHUNK_BYTES:  # keys made before the limit still match
        raw += f"|{max_chunk_bytes}"
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


@dataclass
class Outcome:
    report: Report
    key: str | None = None
    chunks: int = 0  # chunks of valid rows the file makes (so far, if stopped early)
    sent: int = 0  # chunks sent in this run
    resumed: int = 0  # chunks skipped because an earlier run delivered them
    uploaded: int = 0  # valid records the connector has (this run and earlier ones)
    rejected_rows: IO[bytes] | None = None
    #: Why sending stopped: an HrUploadError, or (a bug in a sender thread) the exception
    #: itself, which errors.blame() calls UNEXPECTED: never dressed up as an outage.
    error: Exception | None = None
    dry_run: bool = False
    chunk_sizes: list[int] = field(default_factory=list)

    @property
    def status(self) -> Status:
        """uploaded | partial | failed | retrying, as the run log records it."""
        if self.error is not None:
            # errors.blame() decides: only the file's own fault makes it "failed".
            return Status.FAILED if blame(self.error) is Blame.FILE else Status.RETRYING
        if self.report.file_error is not None:
            return Status.FAILED
        if self.report.rejected and not self.report.valid:
            return Status.FAILED
        return Status.PARTIAL if self.report.rejected else Status.UPLOADED

    def exit_code(self) -> int:
        """0 all sent, 3 the valid rows sent and some rejected, 1 failed (nothing to send
        counts: a file whose every row is rejected is a failure, as its status says)."""
        if self.error is not None or self.status is Status.FAILED:
            return 1
        return 3 if self.report.rejected else 0

    @property
    def error_message(self) -> str | None:
        """The error, fit to show: an unexpected exception's own text may quote a row it was
        handed, so only its type is shown (the traceback is in the log)."""
        if self.error is None:
            return None
        if blame(self.error) is Blame.UNEXPECTED:
            return (
                f"unexpected error while uploading ({type(self.error).__name__}); nothing "
                "unsent is counted as delivered, run again (the traceback is in the log)"
            )
        return str(self.error)

    def summary(self) -> dict:
        r = self.report
        return {
            "file": r.file,
            "status": self.status,
            "rows": r.rows,
            "valid": r.valid,
            "rejected": r.rejected,
            "blank": r.blank,
            "uploaded": self.uploaded,
            "chunks": self.chunks,
            "sent": self.sent,
            "resumed": self.resumed,
            "dry_run": self.dry_run,
            "sha256": r.sha256,
            "error": self.error_message,
            "file_error": r.file_error.to_dict() if r.file_error else None,
        }


class _Counting:
    """Counts bytes as the parser reads them, for progress on long files."""

    def __init__(self, raw: BinaryIO, on_read: Callable[[int], None] | None) -> None:
        self._raw = raw
        self._on_read = on_read

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if self._on_read is not None and data:
            self._on_read(len(data))
        return data


@dataclass(frozen=True, kw_only=True)
class Plan:
    """How one file is chunked and sent; the same file under the same plan makes the same
    chunks, which is what lets a checkpoint resume it. Defaults are the settings' own
    (:mod:`hrupload.settings`), so a caller names only what it decides."""

    job_id: str
    profile: Profile = DEFAULT_PROFILE
    #: Every row is of this scenario (``--scenario``); else a HRScenario column or ...
    scenario: str | None = None
    #: ... the scenario the file's (or its first folder's) name says.
    fallback_scenario: str | None = None
    records_per_call: int = DEFAULT_RECORDS_PER_CALL
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES
    concurrency: int = DEFAULT_CONCURRENCY
    #: A larger file is refused unread (None: no limit).
    max_bytes: int | None = None

    def key(self, sha256: str) -> str:
        """The checkpoint key of the file with this content under this plan."""
        return checkpoint_key(
            sha256,
            self.job_id,
            self.records_per_call,
            self.profile,
            self.scenario,
            self.max_chunk_bytes,
        )


def deliver(
    open_stream: Callable[[], BinaryIO],
    plan: Plan,
    *,
    name: str,
    client: Uploader | None,
    checkpoints: Checkpoints | None = None,
    facts: FileFacts | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Outcome:
    """Validate and send one file. ``client=None`` is a dry run: chunk, send nothing.

    ``facts`` saves the scan when the caller has already made it. Never raises for bad
    input or connector failures: they end in the outcome.
    """
    dry_run = client is None
    scanned = facts if facts is not None else _scan(open_stream, plan)
    if isinstance(scanned, FileError):
        return _unusable(name, scanned, dry_run)
    outcome = Outcome(new_report(name, scanned), key=plan.key(scanned.sha256), dry_run=dry_run)
    done = checkpoints.delivered(outcome.key) if checkpoints is not None and client else set()
    try:
        raw = open_stream()
    except OSError as exc:
        return _unusable(name, _unreadable(exc), dry_run)
    sender = _Sender(client, outcome.key, checkpoints, plan.concurrency, name) if client else None
    with raw:
        _Delivery(plan, outcome, done, sender).run(_Counting(raw, on_progress), scanned)
    _log_outcome(outcome)
    return outcome


def _scan(open_stream: Callable[[], BinaryIO], plan: Plan) -> FileFacts | FileError:
    """The file's facts (size, encoding, delimiter, SHA-256), or why it cannot be used."""
    try:
        with open_stream() as stream:
            return csvread.scan(stream, max_bytes=plan.max_bytes, dialect=plan.profile.dialect())
    except FileProblem as problem:
        return problem.error
    except OSError as exc:
        return _unreadable(exc)


class _Delivery:
    """One pass over a file: validate it, hand each chunk not ``done`` to the sender (none
    in a dry run), keep the rejected rows, and count it all in the outcome."""

    def __init__(
        self, plan: Plan, outcome: Outcome, done: set[int], sender: _Sender | None
    ) -> None:
        self.plan = plan
        self.outcome = outcome
        self.done = done
        self.sender = sender

    def run(self, stream: _Counting, facts: FileFacts) -> None:
        try:
            rejected = self._validate(stream, facts)
        except BaseException:
            # A read failing mid-file (storage outage, changed blob): no chunk may still be
            # in flight once the caller has recorded the failure and given up its lease.
            if self.sender is not None:
                self.sender.stop()
                self.sender.finish()
            raise
        if self.sender is not None:
            sent, records, error = self.sender.finish()
            self.outcome.sent = sent
            self.outcome.uploaded += records
            self.outcome.error = error
        if rejected is not None:
            self.outcome.rejected_rows = rejected.finish()

    def _validate(self, stream: _Counting, facts: FileFacts) -> RejectedRows | None:
        plan, report = self.plan, self.outcome.report
        validation = Validation(
            stream,  # type: ignore[arg-type]
            facts,
            report,
            plan.profile,
            plan.scenario,
            plan.fallback_scenario,
            plan.max_chunk_bytes,
        )
        rejected: RejectedRows | None = None
        # Chunks come ready-made, in file order, as ChunkBuilder writes them (the native
        # engine assembles them from the rows' bytes); rejected rows come as checked rows.
        for item in validation.chunked(plan.records_per_call):
            if isinstance(item, Chunk):
                self._dispatch(item)
                if self.sender is not None and self.sender.failed:
                    break
                continue
            if rejected is None:
                rejected = RejectedRows(report.header)
            rejected.add(item.line, item.source, item.errors)
        return rejected

    def _dispatch(self, chunk: Chunk) -> None:
        """Number the chunk; skip it if an earlier run delivered it, else send it."""
        outcome = self.outcome
        index = outcome.chunks
        outcome.chunks += 1
        outcome.chunk_sizes.append(chunk.records)
        if index in self.done:
            outcome.resumed += 1
            outcome.uploaded += chunk.records
        elif self.sender is not None:
            self.sender.submit(index, chunk.data, chunk.records)


def _log_outcome(outcome: Outcome) -> None:
    report = outcome.report
    log.info(
        "file delivered" if outcome.error is None else "file delivery stopped",
        extra={
            "file": report.file,
            "status": outcome.status,
            "rows": report.rows,
            "valid": report.valid,
            "rejected": report.rejected,
            "uploaded": outcome.uploaded,
            "chunks": outcome.chunks,
            "sent": outcome.sent,
            "resumed": outcome.resumed,
        },
    )


def _unreadable(exc: OSError) -> FileError:
    return FileError("unreadable", f"cannot read the file: {exc.strerror or type(exc).__name__}")


def _unusable(name: str, error: FileError, dry_run: bool) -> Outcome:
    report = new_report(name)
    report.file_error = error
    return Outcome(report, dry_run=dry_run)


class _Sender:
    """Uploads chunks on a small thread pool; at most ``concurrency`` chunks in memory."""

    def __init__(
        self,
        client: Uploader,
        key: str,
        checkpoints: Checkpoints | None,
        concurrency: int,
        name: str,
    ) -> None:
        self._client = client
        self._key = key
        self._checkpoints = checkpoints
        self._name = name
        self._slots = threading.BoundedSemaphore(max(1, concurrency))
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="up")
        self._futures: list[Future] = []
        self._lock = threading.Lock()
        self._sent = 0
        self._records = 0
        self._error: Exception | None = None
        self._stopped = False

    @property
    def failed(self) -> bool:
        return self._error is not None

    def stop(self) -> None:
        """Send nothing more: chunks still queued are dropped (never counted delivered)."""
        self._stopped = True

    def submit(self, index: int, data: bytes, records: int) -> None:
        self._slots.acquire()  # back-pressure: the parser waits while all slots are busy
        if self.failed:
            self._slots.release()
            return
        self._futures.append(self._pool.submit(self._send, index, data, records))

    def _send(self, index: int, data: bytes, records: int) -> None:
        try:
            if self.failed or self._stopped:
                return
            filename = f"{self._name.rsplit('/', 1)[-1]}.part{index + 1:05d}.csv"
            self._client.upload(data, filename=filename)
            if self._checkpoints is not None:
                self._checkpoints.mark(self._key, index)
            with self._lock:
                self._sent += 1
                self._records += records
        except HrUploadError as exc:
            with self._lock:
                if self._error is None:
                    self._error = exc
        except Exception as exc:  # a bug or an unexpected library error: keep the file safe
            # Kept as it is: wrapped as a transient ConnectorError it would read as an outage
            # (the sweep would stop and defer every other file for one bug).
            log.exception("unexpected error while uploading a chunk", extra={"chunk": index})
            with self._lock:
                if self._error is None:
                    self._error = exc
        finally:
            self._slots.release()

    def finish(self) -> tuple[int, int, Exception | None]:
        self._pool.shutdown(wait=True)
        return self._sent, self._records, self._error
