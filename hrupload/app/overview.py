"""What the run log says, as people read it: the words of each run (``hrupload status``)
and the status page's view (``hrupload.web``): per connector the last sweep, the files of
the last days with their counts, the rows per day, and what still waits in incoming and why.

Only records and blob names the run log holds come out of here; the front doors fetch a
file's report or rejected rows through :func:`archived`, which answers only for a run the
log names, so a crafted name can never reach storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from hrupload.app.pipeline import REJECTED_SUFFIX, REPORT_SUFFIX, Services, is_folder_marker
from hrupload.app.ports import BlobInfo
from hrupload.app.runs import RunKind, RunRecord, Status
from hrupload.core.report import count

#: How far back the status page looks.
WINDOW_DAYS = 14
#: Most runs the status page reads per connector (newest first).
MAX_RUNS = 2000


def file_of(record: RunRecord) -> str:
    """The blob's name inside its container, as a run names the file it is about."""
    return record.blob.split("/", 1)[1] if "/" in record.blob else record.blob


def run_label(record: RunRecord) -> str:
    """What a run is about, in the file column: the file, or what kind of run it was."""
    if record.kind == RunKind.SWEEP:
        return "(daily sweep)"
    if record.kind == RunKind.PULL:
        return f"(pull {record.summary.get('source', '?')})"
    return file_of(record)


def run_note(record: RunRecord) -> str:
    """The note beside a run: why it failed or waits, or what a sweep, pull or profile
    refresh did. Free of row values, as every run record's text is."""
    note = record.error or ""
    c = record.summary
    if record.kind == RunKind.PULL:
        dropped = count(c.get("dropped", 0), "file") + " dropped"
        return dropped + (f"; {note}" if note else "")
    if record.kind == RunKind.SWEEP:
        return (
            f"{count(c.get('files', 0), 'file')}: {c.get('uploaded', 0)} uploaded, "
            f"{c.get('partial', 0)} partial, {c.get('failed', 0)} failed, "
            f"{c.get('retrying', 0)} retrying, {c.get('stuck', 0)} waiting > 24 h"
            + (f"; {note}" if note else "")
        )
    if record.kind == RunKind.PROFILE_REFRESH:
        return "employee profiles re-sent so Purview keeps them" + (f"; {note}" if note else "")
    return note


@dataclass(frozen=True)
class DayCount:
    """Rows uploaded and rejected by the files finished on one (UTC) day."""

    day: date
    uploaded: int = 0
    rejected: int = 0


@dataclass(frozen=True)
class Waiting:
    """A blob still in incoming, and the last thing the run log says about it."""

    name: str
    size: int
    last_modified: datetime
    #: The status of its last run (retrying, running), None when none has run yet.
    status: str | None
    reason: str


@dataclass
class ConnectorView:
    """One connector's part of the status page (``name`` None: the single connector)."""

    name: str | None
    folder: str | None
    files: list[RunRecord] = field(default_factory=list)
    days: list[DayCount] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)


@dataclass
class Overview:
    """The status page: the last sweep, each connector, and blobs no connector claims."""

    #: When it was read, and the start of the window it shows.
    now: datetime
    since: datetime
    last_sweep: RunRecord | None
    connectors: list[ConnectorView]
    #: HRUPLOAD_CONNECTORS: files no connector claimed (failed for it), and blobs waiting
    #: in a folder none claims.
    unclaimed_files: list[RunRecord] = field(default_factory=list)
    unclaimed: list[Waiting] = field(default_factory=list)


def overview(services: Services, *, now: datetime | None = None) -> Overview:
    """The status page's view of the run log and incoming, read now."""
    now = now or datetime.now(UTC)
    since = now - timedelta(days=WINDOW_DAYS)
    runlog = services.runlog
    runs = runlog.list_runs(since=since, limit=MAX_RUNS * max(len(services.connectors), 1))
    files = [r for r in runs if r.kind == RunKind.FILE]
    views = []
    for own in services.each_connector():
        mine = [r for r in files if r.connector == own.connector]
        folder = own.settings.connector.folder if own.settings.connector else None
        views.append(ConnectorView(own.connector, folder, mine, per_day(mine, now)))
    known = {view.name for view in views}
    result = Overview(
        now=now,
        since=since,
        last_sweep=runlog.latest(status=(Status.DONE, Status.STOPPED), kind=RunKind.SWEEP),
        connectors=views,
        unclaimed_files=[r for r in files if r.connector not in known],
    )
    _place_waiting(services, result)
    return result


def per_day(files: list[RunRecord], now: datetime) -> list[DayCount]:
    """Rows uploaded and rejected on each of the last WINDOW_DAYS days, oldest first."""
    today = now.astimezone(UTC).date()
    days = [today - timedelta(days=n) for n in range(WINDOW_DAYS - 1, -1, -1)]
    totals = {d: [0, 0] for d in days}
    for record in files:
        when = record.finished or record.started
        counts = totals.get(when.astimezone(UTC).date())
        if counts is not None:
            counts[0] += record.uploaded
            counts[1] += record.rejected
    return [DayCount(d, *totals[d]) for d in days]


def _place_waiting(services: Services, result: Overview) -> None:
    """Every blob still in incoming, under the connector whose folder holds it."""
    incoming = services.settings.incoming
    by_name = {view.name: view for view in result.connectors}
    for info in services.storage.list_blobs(incoming):
        if is_folder_marker(info):
            continue
        waiting = _waiting(services, info, result.last_sweep)
        own = services.route(info.name)
        if own is None:
            result.unclaimed.append(waiting)
        else:
            by_name[own.connector].waiting.append(waiting)


def _waiting(services: Services, info: BlobInfo, last_sweep: RunRecord | None) -> Waiting:
    last = services.runlog.ledger_get(info.path, info.etag)
    if last is None:
        reason = "not processed yet: the next trigger or the daily sweep takes it"
        if services.held is not None:
            # Not tried: the configuration does not load, so every file waits for the fix.
            reason = f"waits until the configuration loads: {services.held}"
        elif services.route(info.name) is None:
            reason = services.unclaimed(info.name)
        elif _stopped_before(last_sweep, info):
            # The sweep saw it but stopped sending first: what stopped it is the reason.
            reason = (
                f"the last sweep stopped before it: {last_sweep.error}; the next run "
                "takes it once that is fixed"
            )
        return Waiting(info.name, info.size, info.last_modified, None, reason)
    reason = last.error or f"its last run is {last.status}"
    return Waiting(info.name, info.size, info.last_modified, str(last.status), reason)


def _stopped_before(sweep: RunRecord | None, info: BlobInfo) -> bool:
    """The last sweep stopped (an outage) after this blob arrived: it was left untried."""
    return bool(
        sweep is not None
        and sweep.status == Status.STOPPED
        and sweep.error
        and sweep.started >= info.last_modified
    )


def find_run(services: Services, run_id: str, *, now: datetime | None = None) -> RunRecord | None:
    """The file run of the status page's window with this id, or None."""
    now = now or datetime.now(UTC)
    since = now - timedelta(days=WINDOW_DAYS)
    for record in services.runlog.list_runs(since=since, limit=MAX_RUNS * 4):
        if record.run_id == run_id and record.kind == RunKind.FILE:
            return record
    return None


def archived(services: Services, record: RunRecord, what: str) -> tuple[str, str] | None:
    """Where a finished file's ``report`` or ``rejected`` rows are stored (container, name),
    as the pipeline wrote them; None when the run has none (not finished, none rejected)."""
    if not record.destination or "/" not in record.destination:
        return None
    container, dest = record.destination.split("/", 1)
    if what == "report":
        return container, dest + REPORT_SUFFIX
    if what == "rejected" and record.rejected:
        return services.settings.failed, dest + REJECTED_SUFFIX
    return None
