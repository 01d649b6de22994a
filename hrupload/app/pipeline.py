"""The blob pipeline: one file from ``hr-incoming`` to ``hr-processed`` or ``hr-failed``.

Both front doors (the blob trigger and timer in ``function_app.py``, and the CLI's
``process`` / ``sweep``) call ``process_blob`` and ``sweep`` here; nothing about a
file's fate is decided anywhere else.

Order of work for one blob, and why:
1. lease it (two Event Grid deliveries, or a trigger racing the sweep, process once);
2. consult the ledger for this blob version (name + ETag): a finished version is only
   moved, never uploaded again;
3. scan (size, encoding, SHA-256), skip identical content sent recently (dedupe);
4. deliver with chunk checkpoints in Table storage (another instance resumes);
5. write the reports beside the destination, then record the outcome with its
   destination *before* moving, so a crash mid-move is finished by the next run instead
   of re-uploading, and a finished file never lacks its rejected rows.

Whose fault a failure is comes from one place, :func:`hrupload.core.errors.blame`. The file's
own problems send it to failed with its report. An outage or a configuration problem
(the connector, the token endpoint, Key Vault, storage, a wrong URL or credentials) would
hit every file alike: the file stays in incoming with the reason recorded, the blob
trigger raises :class:`RetryLater`, and the sweep stops at the first such failure instead
of spending a retry budget on every remaining file. Anything unexpected (a bug,
MemoryError) keeps the file in incoming too, counts toward HRUPLOAD_GIVE_UP_HOURS, and
lets the other files go on. See docs/reliability.md for the table of every fault.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hrupload.app.delivery import Outcome, Plan, deliver
from hrupload.app.ports import (
    BlobExists,
    BlobGone,
    BlobInfo,
    BlobNameUnsupported,
    BlobTaken,
    Checkpoints,
    RunLog,
    Storage,
    Uploader,
)
from hrupload.app.runs import DELIVERED, FINAL, RunKind, RunRecord, Status
from hrupload.core import csvread
from hrupload.core.csvread import FileFacts
from hrupload.core.errors import Blame, ConfigError, HrUploadError, StorageError, blame
from hrupload.core.profile import Profile
from hrupload.core.redact import redact
from hrupload.core.report import FileProblem
from hrupload.core.termsafe import logger
from hrupload.core.validate import new_report, scenario_from_name
from hrupload.settings import Settings

log = logger(__name__)  # file-derived text in messages and fields is escaped

#: The scenario whose rows Purview forgets unless they are re-sent (refresh_profiles).
PROFILE_SCENARIO = "employee-profile"
#: A zero-byte blob modified this recently may be a file still being written (SFTP and
#: Data Lake clients create the file empty and commit its content later): the sweep and
#: the container-scan trigger leave it for later, as the Event Grid filter does (it lets
#: only completed writes through, infra/app/eventgrid-subscription.bicep).
IN_PROGRESS_WINDOW = timedelta(minutes=15)


class RetryLater(HrUploadError):
    """The file stays in incoming; raised from the trigger so the host retries it.

    ``outage`` is set when the cause is not the file but a service every file needs.
    """

    def __init__(self, message: str, *, outage: str | None = None) -> None:
        super().__init__(message)
        self.outage = outage


@dataclass
class FileResult:
    blob: str
    # uploaded | partial | failed | duplicate | retrying | taken | gone | skipped
    status: str
    run_id: str | None = None
    destination: str | None = None
    message: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    #: Set (to the reason) when a service every file needs failed: other files would too.
    outage: str | None = None
    #: The HRUPLOAD_CONNECTORS connector of a profile refresh (None: the single connector).
    connector: str | None = None

    def to_dict(self) -> dict[str, Any]:
        named = {"connector": self.connector} if self.connector else {}
        return {
            "blob": self.blob,
            "status": self.status,
            "run_id": self.run_id,
            "destination": self.destination,
            "message": self.message,
            "outage": self.outage,
            **named,
            **self.counts,
        }


def _redact(text: str | None) -> str | None:
    """Keep e-mail addresses (row values) and credentials out of run records, reports and
    logs, even when a service quotes them back in an error body."""
    return redact(text) if text else text


def _describe(exc: BaseException | None) -> str:
    """The reason recorded for a failure. An unexpected exception's own text may quote
    anything it was handed (a row, a name), so only its type is kept; the traceback goes
    to the log for whoever fixes the bug."""
    if exc is None:
        return "transient failure"
    if blame(exc) is Blame.UNEXPECTED:
        return (
            f"unexpected error ({type(exc).__name__}); the file stays in incoming and is "
            "tried again (the traceback is in the log)"
        )
    return _redact(str(exc)) or type(exc).__name__


def _outage(exc: BaseException | None) -> str | None:
    """The reason to stop sending for, when blame() says every file would fail alike."""
    if exc is not None and blame(exc) is Blame.OUTAGE:
        return _describe(exc)
    return None


@dataclass
class Services:
    """Everything a run needs, built once per process from the settings
    (:func:`hrupload.compose.build_services`); tests build it with their own parts."""

    settings: Settings
    storage: Storage
    #: Builds the connector client; called at the first upload, so the secret is read late.
    client_factory: Callable[[], Uploader]
    profile: Profile
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    #: HRUPLOAD_CONNECTORS: each connector's own services (its settings, client and
    #: profile, the storage shared), by name; empty with the single-connector settings.
    connectors: dict[str, Services] = field(default_factory=dict)
    #: Set when the configuration (a config blob) does not load: why every file stays in
    #: incoming, recorded against each until it is fixed.
    held: str | None = None
    _client: Uploader | None = field(default=None, init=False, repr=False)
    _client_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def runlog(self) -> RunLog:
        return self.storage.runlog()

    @property
    def checkpoints(self) -> Checkpoints:
        return self.storage.checkpoints()

    @property
    def connector(self) -> str | None:
        """The name of the connector these services are for (None: the single one)."""
        return self.settings.connector_name

    def each_connector(self) -> list[Services]:
        """The services of every connector: each of HRUPLOAD_CONNECTORS', or these."""
        for own in self.connectors.values():
            own.clock = self.clock
        return list(self.connectors.values()) or [self]

    def route(self, name: str) -> Services | None:
        """The services of the connector a blob in incoming belongs to (by its folder);
        None when HRUPLOAD_CONNECTORS is set and no connector claims it."""
        if not self.settings.connectors:
            return self
        for connector in self.settings.connectors:
            if connector.claims(name):
                own = self.connectors[connector.name]
                own.clock = self.clock
                return own
        return None

    def unclaimed(self, name: str) -> str:
        """Why a blob no connector claims is not uploaded: its folder and the configured ones."""
        folder = name.rsplit("/", 1)[0] if "/" in name else ""
        where = f"folder {folder!r}" if folder else "the top of the container"
        folders = ", ".join(f"{c.folder}/ ({c.name})" for c in self.settings.connectors)
        return (
            f"not uploaded: the file is in {where}, which no connector of HRUPLOAD_CONNECTORS "
            f"claims; the configured folders are {folders}. Drop it again into its "
            "connector's folder"
        )

    def client(self) -> Uploader:
        """The one connector client: files processed at once share one token and one
        secret read."""
        with self._client_lock:
            if self._client is None:
                self._client = self.client_factory()
            return self._client


#: Room left under Azure's 1,024-character limit for ``.rejected.csv`` and a run id.
_MAX_DEST = 990
#: Beside each archived file: its report (same container) and rejected rows (failed/).
REPORT_SUFFIX = ".report.json"
REJECTED_SUFFIX = ".rejected.csv"


def _dated(now: datetime, name: str) -> str:
    """``YYYY/MM/DD/<name>``, shortened (keeping its end and a hash) when too long."""
    dest = f"{now:%Y/%m/%d}/{name}"
    if len(dest) <= _MAX_DEST:
        return dest
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    keep = _MAX_DEST - len(f"{now:%Y/%m/%d}/") - len(digest) - 2
    return f"{now:%Y/%m/%d}/{digest}--{name[-keep:].lstrip('/')}"


def _copy_counts(record: RunRecord, outcome: Outcome) -> None:
    """What the run log keeps of a delivery: its counts, and its rows per scenario."""
    r = outcome.report
    record.rows, record.valid, record.rejected = r.rows, r.valid, r.rejected
    record.uploaded, record.chunks = outcome.uploaded, outcome.chunks
    record.scenarios = {k: v["valid"] + v["rejected"] for k, v in r.scenarios.items()}


def _first_folder_scenario(name: str) -> str | None:
    if "/" in name:
        return scenario_from_name(name.split("/", 1)[0])
    return None


def _plan(services: Services, name: str, *, size_limit: bool = True) -> Plan:
    """How the pipeline sends a file named ``name`` in incoming: as the settings say, with
    the scenario its first folder names. A profile refresh re-sends a file already taken
    in, so the size limit (which may have been lowered since) does not stop it."""
    settings = services.settings
    folder = settings.connector.folder if settings.connector else None
    if folder is not None and name.startswith(folder + "/"):
        # Under a connector's folder the scenario folder comes next, or the folder names it.
        name = name[len(folder) + 1 :]
        fallback = _first_folder_scenario(name) or scenario_from_name(folder.rsplit("/", 1)[-1])
    else:
        fallback = _first_folder_scenario(name)
    return Plan(
        job_id=settings.job_id or "",
        profile=services.profile,
        fallback_scenario=fallback,
        records_per_call=settings.records_per_call,
        max_chunk_bytes=settings.max_chunk_bytes,
        concurrency=settings.concurrency,
        max_bytes=settings.max_file_mb << 20 if size_limit else None,
    )


class _Run:
    """State of one attempt at one blob."""

    def __init__(
        self,
        services: Services,
        name: str,
        info: BlobInfo,
        ledger: RunRecord | None,
        lease: Any = None,
    ) -> None:
        self.s = services
        self.name = name
        self.info = info
        self.lease = lease
        #: True once the outcome (with its destination) is in the run log.
        self.recorded = False
        #: Why no connector of HRUPLOAD_CONNECTORS takes this blob, if none does.
        self.unclaimed: str | None = None
        self.now = services.clock()
        self.run_id = uuid.uuid4().hex[:12]
        self.record = RunRecord(
            run_id=self.run_id,
            blob=f"{services.settings.incoming}/{name}",
            etag=info.etag,
            sha256=None,
            job_id=services.settings.job_id,
            connector=services.connector,
            status=Status.RUNNING,
            attempts=(ledger.attempts if ledger else 0) + 1,
            first_seen=(ledger.first_seen if ledger and ledger.first_seen else self.now),
            started=self.now,
        )

    @property
    def incoming(self) -> str:
        return self.s.settings.incoming

    def save(self) -> None:
        self.s.runlog.put(self.record)

    def _archive(self, container: str, dest: str) -> list[tuple[str, str]]:
        """Every blob a finished file writes: the file, its report, its rejected rows."""
        return [
            (container, dest),
            (container, dest + REPORT_SUFFIX),
            (self.s.settings.failed, dest + REJECTED_SUFFIX),
        ]

    def _unique(self, container: str, path: str, *, force: bool = False) -> str:
        """A destination none of whose archive blobs exists yet: an earlier file of the
        same name that day, or a file named like another's report (``x.csv.report.json``
        before ``x.csv``), keeps its archive. Writes are create-only besides, so a race
        this check cannot see fails instead of overwriting."""
        storage = self.s.storage
        if not force and not any(
            storage.blob_exists(c, n) for c, n in self._archive(container, path)
        ):
            return path
        stem, dot, ext = path.rpartition(".")
        return f"{stem}.{self.run_id}.{ext}" if dot and "/" not in ext else f"{path}.{self.run_id}"

    def finish(
        self,
        status: str,
        *,
        outcome: Outcome | None = None,
        error: str | None = None,
        report_doc: dict | None = None,
    ) -> FileResult:
        """Write the reports, record the outcome with its destination, then move the file.

        Reports first: a crash after the record is finished by moving only, and the file
        must not end up moved without its rejected rows. Record before the move: a crash
        mid-move is finished by the next run instead of uploading again.
        """
        settings = self.s.settings
        container = settings.failed if status == Status.FAILED else settings.processed
        dest = self._unique(container, _dated(self.now, self.name))
        rec = self.record
        rec.status = status
        rec.error = _redact(error)
        rec.destination = f"{container}/{dest}"
        rec.finished = self.s.clock()
        if outcome is not None:
            rec.sha256, rec.blank = outcome.report.sha256, outcome.report.blank
            _copy_counts(rec, outcome)
        try:
            self.write_reports(outcome=outcome, report_doc=report_doc)
        except BlobExists:
            # Another run took one of these names after we looked: take this run's own.
            dest = self._unique(container, _dated(self.now, self.name), force=True)
            rec.destination = f"{container}/{dest}"
            self.write_reports(outcome=outcome, report_doc=report_doc)
        self.save()
        self.recorded = True
        self.complete_move()
        return self.result()

    def write_reports(
        self, *, outcome: Outcome | None = None, report_doc: dict | None = None
    ) -> None:
        """``<dest>.report.json`` beside the file, and ``<dest>.rejected.csv`` in failed."""
        rec = self.record
        container, dest = rec.destination.split("/", 1)
        storage = self.s.storage
        if outcome is not None:
            upload = outcome.summary()
            upload["error"] = _redact(upload.get("error"))
            doc = outcome.report.to_dict() | {
                "run_id": rec.run_id,
                "status": rec.status,
                "upload": upload,
            }
        else:
            doc = report_doc or {"run_id": rec.run_id, "status": rec.status, "error": rec.error}
        # Create-only (If-None-Match: *): an archived blob is never overwritten.
        storage.put_blob(
            container,
            dest + REPORT_SUFFIX,
            json.dumps(doc, indent=2).encode(),
            content_type="application/json",
            overwrite=False,
        )
        if outcome is not None and outcome.rejected_rows is not None:
            # Named after the destination (run id included when it had to be made unique),
            # so two same-named files of one day keep their own rejected rows.
            outcome.rejected_rows.seek(0)
            storage.put_blob(
                self.s.settings.failed,
                dest + REJECTED_SUFFIX,
                outcome.rejected_rows,
                content_type="text/csv",
                overwrite=False,
            )

    def complete_move(self) -> None:
        """Move the file to the recorded destination (again, after a crash mid-move)."""
        rec = self.record
        container, dest = rec.destination.split("/", 1)
        storage = self.s.storage
        if not self.recorded and not storage.blob_exists(container, dest + REPORT_SUFFIX):
            # Recorded by a version that wrote reports after the record, then crashed.
            self.write_reports()
        metadata = {
            "hrupload_run_id": rec.run_id,
            "hrupload_status": rec.status,
            "hrupload_rows": str(rec.rows),
            "hrupload_valid": str(rec.valid),
            "hrupload_rejected": str(rec.rejected),
            "hrupload_uploaded": str(rec.uploaded),
        }
        if rec.sha256:
            metadata["hrupload_sha256"] = rec.sha256
        storage.move(
            self.incoming,
            self.name,
            container,
            dest,
            lease=self.lease,
            metadata=metadata,
            expected_sha256=rec.sha256,
        )

    def result(self, message: str = "") -> FileResult:
        rec = self.record
        return FileResult(
            blob=rec.blob,
            status=rec.status,
            run_id=rec.run_id,
            destination=rec.destination,
            message=message or (rec.error or ""),
            counts={
                "rows": rec.rows,
                "valid": rec.valid,
                "rejected": rec.rejected,
                "blank": rec.blank,
                "uploaded": rec.uploaded,
                "chunks": rec.chunks,
            },
        )


#: How Data Lake (hierarchical namespace) marks a folder: a zero-byte blob with this
#: metadata. ``hrupload doctor`` writes its test blobs so, so one a crash leaves behind
#: is passed over like any folder, never taken for an HR file.
FOLDER_METADATA = {"hdi_isfolder": "true"}


def is_folder_marker(info: BlobInfo) -> bool:
    """A directory entry, not a file: Data Lake lists folders as zero-byte blobs with
    :data:`FOLDER_METADATA`, and some tools create ``name/`` blobs."""
    if info.size:
        return False
    return info.name.endswith("/") or all(
        info.metadata.get(key, "").lower() == value for key, value in FOLDER_METADATA.items()
    )


def is_being_written(info: BlobInfo, now: datetime) -> bool:
    """Zero bytes and modified within IN_PROGRESS_WINDOW: probably an upload in progress."""
    return info.size == 0 and now - info.last_modified < IN_PROGRESS_WINDOW


def process_blob(
    services: Services,
    name: str,
    *,
    raise_on_retry: bool = False,
    skip_in_progress: bool = False,
) -> FileResult:
    """Take one blob in incoming to its end state; never loses it.

    Returns the result; with ``raise_on_retry`` (the blob trigger) a failure that keeps
    the file in incoming raises ``RetryLater`` after it is recorded, so the Functions host
    retries. Folder markers are skipped; with ``skip_in_progress`` (the container-scan
    trigger, which also sees files still being written) so is a fresh zero-byte blob.
    """
    where = f"{services.settings.incoming}/{name}"
    try:
        return _take(services, name, skip_in_progress=skip_in_progress)
    except BlobNameUnsupported as exc:
        return _unaddressable(services, where, str(exc))
    except BlobTaken:
        return FileResult(
            where, Status.TAKEN, message="another run holds this blob; it will finish it"
        )
    except BlobGone:
        return FileResult(where, Status.GONE, message="already processed or deleted")
    except RetryLater as exc:
        if raise_on_retry:
            raise
        return FileResult(
            where,
            Status.RETRYING,
            message=f"left in incoming; will retry: {exc}",
            outage=exc.outage,
        )
    except StorageError as exc:
        # Storage failed before anything was recorded (or while recording): the file is
        # untouched in incoming and the next attempt starts over.
        reason = _describe(exc)
        log.warning("storage failed; the blob stays in incoming", extra={"blob": where})
        if raise_on_retry:
            raise RetryLater(reason, outage=_outage(exc)) from None
        return FileResult(
            where,
            Status.RETRYING,
            message=f"left in incoming; will retry: {reason}",
            outage=_outage(exc),
        )


def _take(services: Services, name: str, *, skip_in_progress: bool) -> FileResult:
    """Pass over what is not a file yet; lease the rest and carry it on from where the
    ledger says this version stands."""
    settings = services.settings
    storage = services.storage
    where = f"{settings.incoming}/{name}"
    storage.ensure_containers()
    info = storage.get_info(settings.incoming, name)
    if is_folder_marker(info):
        return FileResult(where, Status.SKIPPED, message="a folder, not a file")
    if skip_in_progress and is_being_written(info, services.clock()):
        return FileResult(
            where,
            Status.SKIPPED,
            message="empty and just modified: probably still being written",
        )
    own = services.route(name)
    with storage.lease(settings.incoming, name) as lease:
        # Read under the lease: a run that finished just before we got it is seen here.
        ledger = services.runlog.ledger_get(where, info.etag)
        run = _Run(own or services, name, info, ledger, lease)
        if own is None:
            run.unclaimed = services.unclaimed(name)
        services = run.s
        if ledger is not None and ledger.status == Status.RUNNING:
            abandoned = _close_abandoned(services, run, ledger)
            if abandoned is not None:
                return abandoned
        if ledger is not None and ledger.status in FINAL and ledger.destination:
            # Recorded before, but the move did not finish (crash): finish it only.
            run.record = ledger
            run.complete_move()
            log.info("finished an interrupted move", extra=_fields(run.record))
            return run.result("finished an interrupted move")
        return _process_leased(services, run)


def _unaddressable(services: Services, where: str, reason: str) -> FileResult:
    """A name the storage API cannot address can be neither read nor moved: it stays in
    incoming, and the run log says why and what to do, every time the sweep sees it."""
    now = services.clock()
    record = RunRecord(
        run_id=uuid.uuid4().hex[:12],
        blob=where,
        etag="",
        sha256=None,
        job_id=services.settings.job_id,
        connector=services.connector,
        status=Status.FAILED,
        error=f"left in incoming, unread: {reason}",
        attempts=1,
        first_seen=now,
        started=now,
        finished=now,
    )
    services.runlog.put(record)
    _emit(record)
    return FileResult(where, Status.FAILED, run_id=record.run_id, message=record.error or "")


def _fields(rec: RunRecord) -> dict[str, Any]:
    return {
        "run_id": rec.run_id,
        "blob": rec.blob,
        "status": rec.status,
        "connector": rec.connector,
        "job_id": rec.job_id,
        "rows": rec.rows,
        "valid": rec.valid,
        "rejected": rec.rejected,
        "uploaded": rec.uploaded,
        "chunks": rec.chunks,
    }


def _close_abandoned(services: Services, run: _Run, ledger: RunRecord) -> FileResult | None:
    """An attempt still "running" after the function timeout was stopped by the host
    (timeout, out of memory, a crash): record it as a failed attempt. If the file has been
    failing like that for HRUPLOAD_GIVE_UP_HOURS, give up on it rather than let it take
    down every attempt for ever; otherwise return None and try again."""
    settings = services.settings
    timeout = settings.function_timeout
    if timeout is None or run.now - ledger.started <= timeout:
        return None
    reason = (
        f"the attempt started {ledger.started:%Y-%m-%d %H:%M} UTC did not finish within the "
        f"function timeout ({timeout}, host.json functionTimeout): it was stopped (timeout, "
        "out of memory or a crash); counted as a failed attempt"
    )
    ledger.status, ledger.error, ledger.finished = Status.RETRYING, reason, run.now
    services.runlog.put(ledger)
    log.warning("an earlier attempt never finished", extra=_fields(ledger))
    age = run.now - (run.record.first_seen or run.now)
    if age < timedelta(hours=settings.give_up_hours):
        return None
    message = f"gave up after {settings.give_up_hours} hours of failed attempts: {reason}"
    return _end(run, Status.FAILED, error=message)


def _process_leased(services: Services, run: _Run) -> FileResult:
    run.save()
    try:
        return _attempt(services, run)
    except RetryLater:
        raise
    except ConfigError as exc:
        # Not the file's fault: keep it, say why, and fail loudly so someone fixes the setting.
        run.record.status, run.record.error = Status.RETRYING, str(exc)
        run.save()
        raise
    except Exception as exc:
        if blame(exc) is Blame.UNEXPECTED:
            log.exception("unexpected error processing a blob", extra={"run_id": run.run_id})
        if run.recorded:
            # The outcome and its destination are recorded: the next run only moves it.
            raise RetryLater(_describe(exc), outage=_outage(exc)) from None
        if blame(exc) is Blame.FILE:
            return _end(run, Status.FAILED, error=_describe(exc))
        return _retry_or_give_up(run, exc, None)


def _attempt(services: Services, run: _Run) -> FileResult:
    """Scan, skip a recent duplicate, deliver with shared checkpoints, then settle."""
    settings = services.settings
    if services.held is not None:
        raise ConfigError(services.held)  # recorded by _process_leased; the file stays
    if run.unclaimed is not None:
        # Its placement is wrong, not its content: to failed, the report saying where to put it.
        log.warning("no connector claims this blob", extra={"blob": run.record.blob})
        return _end(run, Status.FAILED, error=run.unclaimed)
    plan = _plan(services, run.name)
    scanned = _scan(services, run, plan)
    if isinstance(scanned, FileResult):
        return scanned
    run.record.sha256 = scanned.sha256
    duplicate = _skip_duplicate(services, run, scanned)
    if duplicate is not None:
        return duplicate
    outcome = deliver(
        lambda: services.storage.open_read(settings.incoming, run.name, etag=run.info.etag),
        plan,
        name=run.name,
        client=services.client(),
        checkpoints=services.checkpoints,
        facts=scanned,
    )
    return _settle(services, run, outcome)


def _scan(services: Services, run: _Run, plan: Plan) -> FileFacts | FileResult:
    """The file's facts; a file too large or unreadable as CSV goes to failed here."""
    settings = services.settings
    try:
        csvread.check_size(run.info.size, plan.max_bytes)
        with services.storage.open_read(settings.incoming, run.name, etag=run.info.etag) as f:
            return csvread.scan(f, max_bytes=plan.max_bytes, dialect=plan.profile.dialect())
    except FileProblem as problem:
        report = new_report(run.name)
        report.bytes = run.info.size
        report.file_error = problem.error
        return _end(run, Status.FAILED, outcome=Outcome(report), error=problem.error.message)


def _skip_duplicate(services: Services, run: _Run, facts: FileFacts) -> FileResult | None:
    """Identical content delivered for this job within HRUPLOAD_DEDUPE_HOURS is not sent
    again: the file is archived as a duplicate naming the earlier run."""
    settings = services.settings
    if settings.dedupe_hours <= 0 or not settings.job_id:
        return None
    since = run.now - timedelta(hours=settings.dedupe_hours)
    earlier = services.runlog.find_recent_upload(facts.sha256, settings.job_id, since)
    if earlier is None:
        return None
    when = f"{earlier.finished:%Y-%m-%d %H:%M} UTC" if earlier.finished else "recently"
    message = (
        f"identical content was uploaded for this job at {when} "
        f"(run {earlier.run_id}); not sent again"
    )
    report_doc = {
        "run_id": run.run_id,
        "status": Status.DUPLICATE,
        "duplicate_of": earlier.run_id,
        "message": message,
        "sha256": facts.sha256,
        "bytes": new_report(run.name, facts).bytes,
    }
    return _end(run, Status.DUPLICATE, report_doc=report_doc, error=None, message=message)


def _settle(services: Services, run: _Run, outcome: Outcome) -> FileResult:
    """Where a delivered (or stopped) file goes, as blame() says; a finished upload's
    checkpoints are cleared."""
    if outcome.error is not None and blame(outcome.error) is not Blame.FILE:
        return _retry_or_give_up(run, outcome.error, outcome)
    if outcome.error is not None:
        # The service refused the file for good: report every row, not only those read
        # before the refusal stopped the upload.
        _complete_report(services, run, outcome)
    error = (
        str(outcome.error)
        if outcome.error
        else (outcome.report.file_error.message if outcome.report.file_error else None)
    )
    if outcome.status is Status.FAILED and error is None:
        error = f"every row was rejected ({outcome.report.rejected}); see the rejected rows"
    result = _end(run, outcome.status, outcome=outcome, error=error)
    if outcome.key:
        try:
            services.checkpoints.clear(outcome.key)
        except StorageError:
            log.warning("could not clear chunk checkpoints", extra={"run_id": run.run_id})
    return result


def _complete_report(services: Services, run: _Run, outcome: Outcome) -> None:
    """Validate the rest of a file whose upload stopped early (nothing is sent), so its
    report and rejected rows cover every row; what was uploaded stays as counted."""
    settings = services.settings
    try:
        full = deliver(
            lambda: services.storage.open_read(settings.incoming, run.name, etag=run.info.etag),
            _plan(services, run.name),
            name=run.name,
            client=None,
        )
    except HrUploadError:
        log.warning("could not complete the report", extra={"run_id": run.run_id})
        return
    if full.report.file_error is not None:
        return
    if outcome.rejected_rows is not None:
        outcome.rejected_rows.close()
    outcome.report, outcome.rejected_rows = full.report, full.rejected_rows
    outcome.chunks = max(outcome.chunks, full.chunks)


def _end(run: _Run, status: str, *, message: str = "", **kwargs: Any) -> FileResult:
    try:
        result = run.finish(status, **kwargs)
    except StorageError as exc:
        reason = _describe(exc)
        if run.recorded:
            # The outcome and its destination are recorded: the next run only moves it.
            log.warning(
                "move failed; the next run finishes it",
                extra={"run_id": run.run_id, "reason": reason},
            )
        else:
            _record_retry(run, f"could not finish: {reason}")
        raise RetryLater(reason, outage=_outage(exc)) from None
    _emit(run.record)
    if message:
        result.message = message
    return result


def _record_retry(run: _Run, reason: str) -> None:
    run.record.status = Status.RETRYING
    run.record.error = _redact(reason)
    run.record.destination = None
    run.record.finished = run.s.clock()
    try:
        run.save()
    except StorageError:
        log.warning("could not record the retry", extra={"run_id": run.run_id})


def _retry_or_give_up(run: _Run, exc: BaseException | None, outcome: Outcome | None):
    """Keep the file in incoming with the reason, or, after HRUPLOAD_GIVE_UP_HOURS of
    failed attempts (outages and unexpected errors alike), send it to failed."""
    settings = run.s.settings
    reason = _describe(exc)
    age = run.now - (run.record.first_seen or run.now)
    if age >= timedelta(hours=settings.give_up_hours):
        if outcome is not None:
            _complete_report(run.s, run, outcome)
        message = f"gave up after {settings.give_up_hours} hours of failed attempts: {reason}"
        return _end(run, Status.FAILED, outcome=outcome, error=message)
    if outcome is not None:
        run.record.uploaded = outcome.uploaded
        run.record.chunks = outcome.chunks
    _record_retry(run, reason)
    _emit(run.record)
    raise RetryLater(reason, outage=_outage(exc))


#: The per-file event's name: a custom event (AppEvents, customEvents) in App Insights. The
#: alert and workbook queries (infra/app/alerts.bicep, infra/app/workbook/) read it and its
#: fields; tests/test_telemetry_queries.py checks they read only fields emitted here.
FILE_EVENT = "hrupload.file"


def _emit(rec: RunRecord) -> None:
    """One structured event per file, with the job it went to and why it failed, if it did
    (the reason is already free of row values: see RunRecord.error)."""
    log.info(
        FILE_EVENT,
        extra=_fields(rec)
        | {
            "job_id": rec.job_id or "",
            "error": rec.error or "",
            "event": FILE_EVENT,
            "microsoft.custom_event.name": FILE_EVENT,
        },
    )


#: One event per connector at the end of each sweep: when its newest file was uploaded. A
#: log search alert looks back two days at most, so the file events alone cannot say that a
#: connector last uploaded five days ago; the per-connector silence alert
#: (infra/app/alerts.bicep) reads this instead.
CONNECTOR_EVENT = "hrupload.connector"
#: How far back the sweep looks for a connector's last upload: more than the longest
#: silence the alert takes (noUploadHours, at most 800: a monthly export's gap), and a bound
#: on the run-log query.
#: A connector with no upload in it is reported with an empty ``last_upload``.
UPLOAD_LOOKBACK = timedelta(days=35)


def _report_connectors(services: Services) -> None:
    """One CONNECTOR_EVENT per configured connector (the single one too, with an empty
    name, as the run log and the file event have it): its newest uploaded or partial file,
    from one bounded run-log query each."""
    if services.held is not None:
        return  # the configuration did not load: which connectors there are is unknown
    now = services.clock()
    for own in services.each_connector():
        name = own.connector or ""
        try:
            last = own.runlog.latest(
                status=DELIVERED,
                kind=RunKind.FILE,
                connector=own.connector,
                since=now - UPLOAD_LOOKBACK,
            )
        except StorageError as exc:
            log.warning(
                "could not read the connector's last upload from the run log",
                extra={"connector": name, "reason": _describe(exc)},
            )
            continue
        when = (last.finished or last.started) if last else None
        log.info(
            CONNECTOR_EVENT,
            extra={
                "connector": name,
                "job_id": own.settings.job_id or "",
                "last_upload": when.isoformat() if when else "",
                "hours_since_upload": round((now - when) / timedelta(hours=1), 1) if when else "",
                "event": CONNECTOR_EVENT,
                "microsoft.custom_event.name": CONNECTOR_EVENT,
            },
        )


# -- the daily sweep -----------------------------------------------------------------


@dataclass
class SweepSummary:
    results: list[FileResult] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    #: The first of ``profile_refreshes``: the one refresh of a single connector.
    profile_refresh: FileResult | None = None
    #: One per connector whose employee profiles were re-sent.
    profile_refreshes: list[FileResult] = field(default_factory=list)
    past_due: bool = False
    #: Why the sweep stopped sending (a service every file needs failed), if it did.
    stopped: str | None = None
    #: Blobs left in incoming untried because the sweep had stopped; the next one takes them.
    deferred: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": len(self.results) + len(self.deferred),
            "uploaded": self.count(Status.UPLOADED),
            "partial": self.count(Status.PARTIAL),
            "processed": self.count(Status.UPLOADED)
            + self.count(Status.PARTIAL)
            + self.count(Status.DUPLICATE),
            "duplicate": self.count(Status.DUPLICATE),
            "failed": self.count(Status.FAILED),
            "retrying": self.count(Status.RETRYING),
            "taken": self.count(Status.TAKEN),
            "deferred": len(self.deferred),
            "stopped": self.stopped,
            "stuck": self.stuck,
            "past_due": self.past_due,
            "profile_refresh": self.profile_refresh.to_dict() if self.profile_refresh else None,
            "profile_refreshes": [r.to_dict() for r in self.profile_refreshes],
            "results": [r.to_dict() for r in self.results],
        }


def sweep(
    services: Services,
    *,
    past_due: bool = False,
    on_file: Callable[[FileResult], None] | None = None,
) -> SweepSummary:
    """Process every blob in incoming, then refresh employee profiles when due.

    When blame() says a failure would hit every file alike (the connector unavailable or
    refusing our credentials or job, a wrong URL, a proxy, Key Vault, storage), the sweep
    stops sending: each further file would only spend a retry budget on the same failure.
    It still lists the rest, so the summary counts what waits (``deferred``) and what is
    older than a day (``stuck``). Folder markers and zero-byte blobs still being written
    are passed over without a word. At the end, one CONNECTOR_EVENT per connector says
    when it last uploaded, for the per-connector silence alert.
    """
    settings = services.settings
    storage = services.storage
    summary = SweepSummary(past_due=past_due)
    storage.ensure_containers()
    now = services.clock()
    listing = storage.list_blobs(settings.incoming)
    while True:
        try:
            info = next(listing, None)
        except StorageError as exc:
            summary.stopped = summary.stopped or _redact(f"listing incoming failed: {exc}")
            break
        if info is None:
            break
        if is_folder_marker(info) or is_being_written(info, now):
            continue
        if now - info.last_modified > timedelta(hours=24):
            summary.stuck.append(info.name)
        if summary.stopped:
            summary.deferred.append(info.name)
            continue
        result = _sweep_one(services, info.name)
        summary.results.append(result)
        if on_file is not None:
            on_file(result)
        if result.outage:
            summary.stopped = result.outage
            log.warning(
                "sweep stops sending until the next run: a service every file needs failed",
                extra={"blob": result.blob, "reason": result.outage},
            )
    if summary.stopped is None:
        for own in services.each_connector():
            refreshed = refresh_profiles(own)
            if refreshed is not None:
                summary.profile_refreshes.append(refreshed)
        summary.profile_refresh = next(iter(summary.profile_refreshes), None)
    counts = {k: v for k, v in summary.to_dict().items() if k not in ("results", "stuck")}
    counts["stuck"] = len(summary.stuck)
    counts.pop("profile_refresh", None)
    counts.pop("profile_refreshes", None)
    log.info("sweep finished", extra=counts | {"stuck_count": len(summary.stuck)})
    _record_sweep(services, now, summary, counts)
    _report_connectors(services)
    return summary


def _record_sweep(services: Services, started: datetime, summary: SweepSummary, counts) -> None:
    """One run-log entry per sweep, so `hrupload status` shows the timer ran and what it saw."""
    record = RunRecord(
        run_id=uuid.uuid4().hex[:12],
        blob=f"{services.settings.incoming}/",
        etag="",
        sha256=None,
        job_id=services.settings.job_id,
        connector=services.connector,
        status=Status.STOPPED if summary.stopped else Status.DONE,
        kind=RunKind.SWEEP,
        error=summary.stopped,
        started=started,
        finished=services.clock(),
        summary={k: v for k, v in counts.items() if k != "stopped"}
        | {"profile_refresh": summary.profile_refresh.status if summary.profile_refresh else None},
    )
    try:
        services.runlog.put(record)
    except StorageError:
        log.warning("could not record the sweep summary", extra={"run_id": record.run_id})


def _sweep_one(services: Services, name: str) -> FileResult:
    where = f"{services.settings.incoming}/{name}"
    try:
        return process_blob(services, name)
    except ConfigError:
        raise
    except Exception as exc:
        # Whatever it is, the file stays in incoming; only an outage stops the sweep, so
        # a bug does not strand every file after this one.
        if blame(exc) is Blame.UNEXPECTED:
            log.exception("unexpected error processing a blob", extra={"blob": where})
        return FileResult(where, Status.RETRYING, message=_describe(exc), outage=_outage(exc))


def refresh_profiles(services: Services) -> FileResult | None:
    """Purview forgets employee profiles not refreshed for 30 days: re-send in time."""
    newest_file = _profiles_due(services)
    if newest_file is None or not newest_file.destination:
        return None
    container, path = newest_file.destination.split("/", 1)
    now = services.clock()
    record = RunRecord(
        run_id=uuid.uuid4().hex[:12],
        blob=newest_file.destination,
        etag="",
        sha256=newest_file.sha256,
        job_id=services.settings.job_id,
        connector=services.connector,
        status=Status.RUNNING,
        kind=RunKind.PROFILE_REFRESH,
        started=now,
        first_seen=now,
        attempts=1,
    )
    try:
        outcome = deliver(
            lambda: services.storage.open_read(container, path),
            _plan(services, path.split("/", 3)[-1], size_limit=False),  # after YYYY/MM/DD/
            name=path,
            client=services.client(),
        )
    except HrUploadError as exc:
        record.status, record.error = Status.RETRYING, _redact(str(exc))
    else:
        record.status = outcome.status
        record.error = _redact(str(outcome.error)) if outcome.error else None
        _copy_counts(record, outcome)
    record.finished = services.clock()
    services.runlog.put(record)
    _emit(record)
    return FileResult(
        record.blob,
        record.status,
        run_id=record.run_id,
        message="employee profiles re-sent so Purview keeps them",
        counts={"uploaded": record.uploaded},
        connector=services.connector,
    )


def _profiles_due(services: Services) -> RunRecord | None:
    """The newest delivered file with employee profiles, when no delivery of profiles (the
    file's own or a refresh) is younger than HRUPLOAD_PROFILE_REFRESH_DAYS."""
    runlog = services.runlog
    mine = services.connector
    newest_file = runlog.latest(
        status=DELIVERED, scenario=PROFILE_SCENARIO, kind=RunKind.FILE, connector=mine
    )
    if newest_file is None:
        return None
    last = runlog.latest(status=DELIVERED, scenario=PROFILE_SCENARIO, kind=None, connector=mine)
    last_time = (last.finished if last else None) or newest_file.finished
    refresh_after = timedelta(days=services.settings.profile_refresh_days)
    if last_time and services.clock() - last_time < refresh_after:
        return None
    return newest_file
