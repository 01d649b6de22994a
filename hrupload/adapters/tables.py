"""The run log, the ledger and delivered-chunk checkpoints, kept in one Table.

:class:`RunLog` and :class:`TableCheckpoints` are the app's ports of those names
(:mod:`hrupload.app.ports`); the records they keep are the app's :class:`RunRecord`.

Partitions of the runs table:

``blob``
    The ledger: one entity per blob version (RowKey = SHA-256 of ``blob`` and ETag), so
    the pipeline can tell at once whether a version was already handled.
``run``
    History: one entity per run, RowKey = inverted start time + run id, so a plain
    query lists the newest runs first and a time window is a RowKey range.
``doctor``
    ``hrupload doctor``'s test entity, deleted as soon as it is written.
``src-<hash>``
    One partition per source (the SHA-256 of its name): one entity per file it dropped
    (RowKey = SHA-256 of the source's key), holding the version last dropped.
``ckpt-<key>``
    One entity per delivered chunk of an upload in progress, so a retry on another
    instance resumes without re-sending.

Table keys may not contain ``/``, ``\\``, ``#`` or ``?``; everything user-shaped is hashed
or escaped before it becomes a key. Datetimes are timezone-aware UTC throughout.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from hrupload.adapters.azure_errors import TableMissing, error_code, translated
from hrupload.app.runs import DELIVERED, RECORDED, RunKind, RunRecord
from hrupload.core.termsafe import logger

if TYPE_CHECKING:
    from azure.data.tables import TableClient

log = logger(__name__)  # file-derived text in messages and fields is escaped

#: A run record's error is cut to this many characters.
MAX_ERROR_CHARS = 2000

LEDGER_PARTITION = "blob"
HISTORY_PARTITION = "run"
#: Where ``hrupload doctor`` writes (and at once deletes) its test entity.
PROBE_PARTITION = "doctor"
#: A source's partition: this and the SHA-256 of the source's name.
SOURCE_PARTITION_PREFIX = "src-"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_TICKS = 10**19 - 1  # microseconds; 19 digits keep RowKeys the same length
_KINDS = frozenset(RunKind)
_COUNTS = ("rows", "valid", "rejected", "blank", "uploaded", "chunks", "attempts")
_KEY_UNSAFE = re.compile(r"[/\\#?%\x00-\x1f\x7f-\x9f]")
_CKPT_SAFE = re.compile(r"[A-Za-z0-9_.\-]{1,200}")


# --------------------------------------------------------------------------- keys


def ledger_key(blob: str, etag: str) -> str:
    """RowKey of a blob version; ETags are compared without their quotes."""
    return hashlib.sha256(f"{blob}\n{etag.strip().strip(chr(34))}".encode()).hexdigest()


def _ticks(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(microseconds=1)


def _inverted(when: datetime) -> str:
    return f"{_MAX_TICKS - _ticks(when):019d}"


def _escape_key(text: str) -> str:
    return _KEY_UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", text)


def history_key(record: RunRecord) -> str:
    """Newest first: inverted start time, then the run id (unique within a start time)."""
    return f"{_inverted(_utc(record.started, 'started'))}_{_escape_key(record.run_id)}"


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"RunRecord.{name} must be timezone-aware (UTC), got a naive datetime")
    return value.astimezone(UTC)


# --------------------------------------------------------------------------- entities


def _to_entity(record: RunRecord, partition: str, row: str) -> dict[str, Any]:
    from azure.data.tables import EdmType, EntityProperty

    if record.status not in RECORDED:
        expected = ", ".join(sorted(RECORDED))
        raise ValueError(f"unknown run status {record.status!r}; expected one of {expected}")
    if record.kind not in _KINDS:
        expected = ", ".join(RunKind)
        raise ValueError(f"unknown run kind {record.kind!r}; expected one of {expected}")
    entity: dict[str, Any] = {
        "PartitionKey": partition,
        "RowKey": row,
        "run_id": record.run_id,
        "blob": record.blob,
        "blob_etag": record.etag,
        "sha256": record.sha256,
        "job_id": record.job_id,
        "connector": record.connector,
        "status": str(record.status),
        "scenarios": json.dumps(record.scenarios, sort_keys=True, separators=(",", ":")),
        "error": record.error[:MAX_ERROR_CHARS] if record.error is not None else None,
        "destination": record.destination,
        "started": _utc(record.started, "started"),
        "kind": str(record.kind),
        "summary": json.dumps(record.summary, sort_keys=True) if record.summary else None,
    }
    for name in ("first_seen", "finished"):
        value = getattr(record, name)
        entity[name] = _utc(value, name) if value is not None else None
    for name in _COUNTS:
        entity[name] = EntityProperty(int(getattr(record, name)), EdmType.INT64)
    # Absent properties read back as None; with REPLACE upserts an old value cannot linger.
    return {key: value for key, value in entity.items() if value is not None}


def _plain(value: Any) -> Any:
    """Unwrap EntityProperty (Int64) and TablesEntityDatetime into plain Python values."""
    value = getattr(value, "value", value)
    if isinstance(value, datetime):
        value = value.astimezone(UTC)
        return datetime(*value.timetuple()[:6], value.microsecond, tzinfo=UTC)
    return value


def _from_entity(entity: Any) -> RunRecord:
    def get(name: str, default: Any = None) -> Any:
        return _plain(entity.get(name, default))

    scenarios = get("scenarios") or "{}"
    try:
        parsed = {str(k): int(v) for k, v in json.loads(scenarios).items()}
    except (ValueError, TypeError, AttributeError):
        parsed = {}
    try:
        summary = json.loads(get("summary") or "{}")
    except ValueError:
        summary = {}
    return RunRecord(
        summary=summary if isinstance(summary, dict) else {},
        run_id=get("run_id", ""),
        blob=get("blob", ""),
        etag=get("blob_etag", ""),
        sha256=get("sha256"),
        job_id=get("job_id"),
        connector=get("connector"),
        status=get("status", ""),
        scenarios=parsed,
        error=get("error"),
        destination=get("destination"),
        first_seen=get("first_seen"),
        started=get("started") or _EPOCH,
        finished=get("finished"),
        kind=get("kind", RunKind.FILE.value),
        **{name: int(get(name, 0) or 0) for name in _COUNTS},
    )


# --------------------------------------------------------------------------- run log


def _since(since: datetime, parameters: dict[str, Any]) -> str:
    """The history filter for runs started at or after ``since`` (its parameter added).

    RowKeys of runs started at ``since`` begin with its inverted ticks and '_'; '~' sorts
    after '_', so the bound keeps them and drops anything older.
    """
    parameters["upto"] = _inverted(_utc(since, "since")) + "~"
    return "RowKey lt @upto"


class RunLog:
    """Every run, newest first, and the ledger of blob versions already handled.

    Build it from the storage layer (``HrStorage.runlog()``) or from a ``TableClient``.
    """

    def __init__(self, table_client: TableClient) -> None:
        self._table = table_client
        self._where = f"table {table_client.table_name}"

    def probe(self, row: str) -> None:
        """Write and delete one entity outside the run log's partitions: proves the table
        exists and this identity may write to it (``hrupload doctor``)."""
        entity = {"PartitionKey": PROBE_PARTITION, "RowKey": row}
        with translated("write a test entity to", self._where, blob=False):
            self._table.upsert_entity(entity)
            self._table.delete_entity(PROBE_PARTITION, row)

    def ledger_get(self, blob: str, etag: str) -> RunRecord | None:
        """The latest record for this blob version, or None if it was never seen."""
        from azure.core.exceptions import ResourceNotFoundError

        with translated("read the ledger in", self._where, blob=False):
            try:
                entity = self._table.get_entity(LEDGER_PARTITION, ledger_key(blob, etag))
            except ResourceNotFoundError as exc:
                if error_code(exc) == "TableNotFound":
                    raise
                return None
        return _from_entity(entity)

    def source_seen(self, source: str) -> dict[str, str]:
        """The version last dropped of each file of ``source``, by the source's key."""
        with translated("read the source versions in", self._where, blob=False):
            entities = self._table.query_entities(
                "PartitionKey eq @pk",
                parameters={"pk": source_partition(source)},
                select=["key", "version"],
            )
            return {str(e["key"]): str(e["version"]) for e in entities if e.get("key")}

    def source_remember(self, source: str, key: str, version: str) -> None:
        """Remember that ``source`` dropped ``version`` of its file ``key``."""
        from azure.data.tables import UpdateMode

        entity = {
            "PartitionKey": source_partition(source),
            "RowKey": hashlib.sha256(key.encode()).hexdigest(),
            "source": source,
            "key": key,
            "version": version,
            "dropped": datetime.now(UTC),
        }
        with translated("write the source version to", self._where, blob=False):
            self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    def put(self, record: RunRecord) -> None:
        """Record a run's current state: its ledger entry and its history entry."""
        from azure.data.tables import UpdateMode

        history = _to_entity(record, HISTORY_PARTITION, history_key(record))
        ledger = dict(history, PartitionKey=LEDGER_PARTITION)
        ledger["RowKey"] = ledger_key(record.blob, record.etag)
        with translated("write the run record to", self._where, blob=False):
            self._table.upsert_entity(history, mode=UpdateMode.REPLACE)
            self._table.upsert_entity(ledger, mode=UpdateMode.REPLACE)
        log.debug(
            "run recorded",
            extra={"run_id": record.run_id, "blob": record.blob, "status": record.status},
        )

    def _history(
        self, query: str = "", parameters: dict[str, Any] | None = None, page: int = 1000
    ) -> Iterator[RunRecord]:
        # The SDK substitutes @names only as whole space-separated words: keep the spaces.
        query_filter = "PartitionKey eq @pk" + (f" and ( {query} )" if query else "")
        with translated("query runs in", self._where, blob=False):
            entities = self._table.query_entities(
                query_filter,
                parameters={"pk": HISTORY_PARTITION, **(parameters or {})},
                results_per_page=page,
            )
            for entity in entities:
                yield _from_entity(entity)

    def list_runs(
        self,
        since: datetime | None = None,
        limit: int | None = None,
        *,
        connector: str | None = None,
    ) -> list[RunRecord]:
        """Runs started at or after ``since``, newest first, at most ``limit`` of them;
        only ``connector``'s when given (HRUPLOAD_CONNECTORS)."""
        if limit is not None and limit <= 0:
            return []
        clauses: list[str] = []
        parameters: dict[str, Any] = {}
        if since is not None:
            clauses.append(_since(since, parameters))
        if connector is not None:
            clauses.append("connector eq @connector")
            parameters["connector"] = connector
        query = " and ".join(clauses)
        runs = []
        page = min(limit, 1000) if limit else 1000
        try:
            for record in self._history(query, parameters, page):
                runs.append(record)
                if limit is not None and len(runs) >= limit:
                    break
        except TableMissing:
            return []  # nothing has run yet: the first run creates the table
        return runs

    def find_recent_upload(self, sha256: str, job_id: str, since: datetime) -> RunRecord | None:
        """The latest delivery of this content to this job finished at or after ``since``.

        The pipeline's dedupe check: the same bytes dropped again (under any name)
        within the window are not re-sent.
        """
        delivered = " or ".join(f"status eq '{status}'" for status in DELIVERED)
        query = f"sha256 eq @sha and job_id eq @job and finished ge @since and ({delivered})"
        parameters = {"sha": sha256, "job": job_id, "since": _utc(since, "since")}
        found = list(self._history(query, parameters))
        return max(found, key=lambda r: r.finished or _EPOCH) if found else None

    def latest(
        self,
        *,
        status: tuple[str, ...] = DELIVERED,
        scenario: str | None = None,
        kind: str | None = None,
        connector: str | None = None,
        since: datetime | None = None,
    ) -> RunRecord | None:
        """The newest run (by start) with one of ``status``, of ``kind`` if given, and
        with rows of ``scenario`` if given; e.g. the employee-profile file to re-send.
        ``connector``: only that connector's runs (None: any connector's). ``since``: only
        runs started at or after it, a RowKey range, so a run log with no match reads only
        that stretch of history instead of all of it.
        """
        if not status:
            raise ValueError("latest() needs at least one status")
        clauses = [" or ".join(f"status eq @s{i}" for i in range(len(status)))]
        parameters: dict[str, Any] = {f"s{i}": str(value) for i, value in enumerate(status)}
        if kind is not None:
            clauses.append("kind eq @kind")
            parameters["kind"] = str(kind)
        if connector is not None:
            clauses.append("connector eq @connector")
            parameters["connector"] = connector
        if since is not None:
            clauses.append(_since(since, parameters))
        query = " and ".join(f"( {clause} )" for clause in clauses)
        for record in self._history(query, parameters, page=100):
            if scenario is None or record.scenarios.get(scenario, 0) > 0:
                return record
        return None


# --------------------------------------------------------------------------- checkpoints


def source_partition(source: str) -> str:
    """``src-<hash>``: a source's name may hold anything a key may not."""
    return SOURCE_PARTITION_PREFIX + hashlib.sha256(source.encode()).hexdigest()


def checkpoint_partition(key: str) -> str:
    """``src-<hash>``
        One partition per source (the SHA-256 of its name): one entity per file it dropped
        (RowKey = SHA-256 of the source's key), holding the version last dropped.
    ``ckpt-<key>``; a key unfit for a PartitionKey is replaced by its SHA-256."""
    if _CKPT_SAFE.fullmatch(key):
        return f"ckpt-{key}"
    return f"ckpt-{hashlib.sha256(key.encode()).hexdigest()}"


class TableCheckpoints:
    """Delivered-chunk numbers per upload, shared by every instance of the app.

    Same interface as the CLI's ``LocalCheckpoints``; ``mark`` is safe to call from
    several upload threads at once (each chunk is its own entity).
    """

    def __init__(self, table_client: TableClient) -> None:
        self._table = table_client
        self._where = f"table {table_client.table_name}"

    def _rows(self, key: str) -> list[str]:
        with translated("read checkpoints in", self._where, blob=False):
            entities = self._table.query_entities(
                "PartitionKey eq @pk",
                parameters={"pk": checkpoint_partition(key)},
                select=["RowKey"],
                results_per_page=1000,
            )
            return [entity["RowKey"] for entity in entities]

    def delivered(self, key: str) -> set[int]:
        """Chunk numbers already accepted by the connector for this upload."""
        return {int(row) for row in self._rows(key)}

    def mark(self, key: str, index: int) -> None:
        """Remember that chunk ``index`` was accepted; idempotent."""
        from azure.data.tables import UpdateMode

        if index < 0:
            raise ValueError("chunk numbers start at 0")
        entity = {"PartitionKey": checkpoint_partition(key), "RowKey": f"{index:08d}"}
        with translated("write a checkpoint to", self._where, blob=False):
            self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    def clear(self, key: str) -> None:
        """Forget an upload's checkpoints (it completed); batches of 100 per request."""
        partition = checkpoint_partition(key)
        rows = self._rows(key)
        with translated("clear checkpoints in", self._where, blob=False):
            for start in range(0, len(rows), 100):
                batch = [
                    ("delete", {"PartitionKey": partition, "RowKey": row})
                    for row in rows[start : start + 100]
                ]
                self._table.submit_transaction(batch)  # type: ignore[arg-type]
