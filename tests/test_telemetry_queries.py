"""The alert and workbook queries against the telemetry the app really emits.

Every KQL query in infra/app/alerts.bicep, infra/app/workbook/*.kql and the docs picks log
records by their message (``Name == 'hrupload.file'`` for the custom event, ``Message ==
'...'`` for a trace) and reads their fields as ``Properties.x`` (the workspace tables) or
``customDimensions.x`` (the classic App Insights tables). The Azure Monitor exporter turns each
``extra={...}`` key of a log record into one such field. So the test runs the real pipeline and
Key Vault adapter against Azurite and the stand-ins, keeps the records they log, and checks
that each query names messages the app logs, reads only fields those records carry, and
filters on statuses the app records. A renamed field fails here, not as an alert that never
fires.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hrupload.app import pipeline
from hrupload.app.runs import Status
from tests.app.test_pipeline import (
    MULTI,
    RESIGNATIONS,
    drop,
    key_vault_provider,
    make_services,
)

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "infra" / "app" / "alerts.bicep"
WORKBOOK = ROOT / "infra" / "app" / "workbook"
WORKBOOK_BICEP = ROOT / "infra" / "app" / "workbook.bicep"

# Attributes every LogRecord has: what is left over came from extra={...}.
STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
# Set by the exporter from the record itself, never a field of ours; the marker is consumed.
NOT_FIELDS = {"microsoft.custom_event.name"}

FIELD = re.compile(r"\b(?:Properties|customDimensions)(?:\.(\w+)|\[\s*'([^']+)'\s*\])")
PICKS = re.compile(r"\b(?:Name|name|Message|message)\s*==\s*'([^']+)'")
STATUS_EQ = re.compile(r"\bstatus\s*==\s*'([^']+)'")
STATUS_IN = re.compile(r"\bstatus\s+in\s*\(([^)]*)\)")


def alert_queries() -> dict[str, str]:
    """alerts.bicep's ''' literals by variable name, with the shared parts (the file events,
    the sweep's connector records) put in."""
    text = ALERTS.read_text(encoding="utf-8")
    literals = dict(re.findall(r"^var (\w+) = '''(.*?)'''", text, re.M | re.S))
    files, connectors = literals.pop("fileEvents"), literals.pop("connectorEvents")
    return {
        f"alerts.bicep {n}": q.replace("__FILE_EVENTS__", files).replace(
            "__CONNECTOR_EVENTS__", connectors
        )
        for n, q in literals.items()
    }


def workbook_queries() -> dict[str, str]:
    return {f"workbook/{p.name}": p.read_text(encoding="utf-8") for p in WORKBOOK.glob("*.kql")}


def doc_queries() -> dict[str, str]:
    """The ```kusto blocks in the docs: operators paste them into Logs."""
    found = {}
    for path in sorted((ROOT / "docs").glob("*.md")):
        blocks = re.findall(r"```kusto\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
        found |= {f"{path.name} query {i + 1}": b for i, b in enumerate(blocks)}
    return found


def queries() -> dict[str, str]:
    return alert_queries() | workbook_queries() | doc_queries()


def without_comments(kql: str) -> str:
    return re.sub(r"//[^\n]*", "", kql)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def fields(self) -> dict[str, set[str]]:
        """Message -> the fields its records carried."""
        out: dict[str, set[str]] = {}
        for r in self.records:
            keys = set(r.__dict__) - STANDARD - NOT_FIELDS
            out.setdefault(r.getMessage(), set()).update(keys)
        return out


@pytest.fixture
def _emitted(hr_storage, connector_standin, keyvault_standin):
    handler = Records()
    logger = logging.getLogger("hrupload")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        services = make_services(hr_storage, connector_standin)
        drop(hr_storage, "resignation/ok.csv", RESIGNATIONS)
        drop(hr_storage, "all.csv", MULTI)
        drop(hr_storage, "resignation/latin1.csv", "EmailAddress\nrené@x.com\n".encode("latin-1"))
        outcomes = {
            pipeline.process_blob(services, name).status
            for name in ("resignation/ok.csv", "all.csv", "resignation/latin1.csv")
        }
        assert outcomes == {Status.UPLOADED, Status.PARTIAL, Status.FAILED}
        pipeline.sweep(services)  # ends with the connector's record

        expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
        keyvault_standin.set_secret(
            "hr-connector-app-secret", "a-secret", expires=int(expires.timestamp())
        )
        key_vault_provider(keyvault_standin, "hr-connector-app-secret")()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    handler.expires = expires  # type: ignore[attr-defined]
    handler.file_events = [  # type: ignore[attr-defined]
        r for r in handler.records if r.getMessage() == pipeline.FILE_EVENT
    ]
    handler.connector_events = [  # type: ignore[attr-defined]
        r for r in handler.records if r.getMessage() == pipeline.CONNECTOR_EVENT
    ]
    return handler


@pytest.fixture
def records(_emitted) -> Records:
    return _emitted


def test_there_are_queries_to_check():
    names = set(queries())
    assert {
        "alerts.bicep failuresQuery",
        "alerts.bicep partialQuery",
        "alerts.bicep noUploadQuery",
        "alerts.bicep sweepSilentQuery",
    } <= names
    assert {
        "workbook/files-per-day.kql",
        "workbook/rows-per-day.kql",
        "workbook/failures-by-reason.kql",
        "workbook/last-upload.kql",
        "deploy.md query 1",
    } <= names


@pytest.mark.parametrize("name", sorted(queries()))
def test_each_query_reads_only_fields_the_app_emits(name, records):
    kql = without_comments(queries()[name])
    fields = records.fields()
    picked = set(PICKS.findall(kql))
    assert picked, f"{name} does not say which log records it reads"
    unknown = picked - set(fields)
    assert not unknown, f"{name} reads records the app never logs: {unknown}"
    allowed = set().union(*(fields[m] for m in picked))
    used = {a or b for a, b in FIELD.findall(kql)}
    assert used, f"{name} reads no field"
    assert used <= allowed, f"{name} reads fields the app does not emit: {used - allowed}"


@pytest.mark.parametrize("name", sorted(queries()))
def test_each_query_filters_on_statuses_the_app_records(name):
    kql = without_comments(queries()[name])
    statuses = set(STATUS_EQ.findall(kql))
    for group in STATUS_IN.findall(kql):
        statuses |= set(re.findall(r"'([^']+)'", group))
    assert statuses <= {s.value for s in Status}, f"{name}: {statuses - set(Status)}"


def test_the_file_event_is_a_custom_event_with_its_job_and_reason(records, connector_standin):
    events = records.file_events
    assert {e.status for e in events} == {"uploaded", "partial", "failed"}
    for e in events:
        # The exporter's marker for a custom event (AppEvents / customEvents, not traces).
        assert getattr(e, "microsoft.custom_event.name") == pipeline.FILE_EVENT
        assert e.job_id == connector_standin.job_id
    failed = next(e for e in events if e.status == "failed")
    assert "not UTF-8" in failed.error
    partial = next(e for e in events if e.status == "partial")
    assert (int(partial.rejected), partial.error) == (2, "")
    for e in events:  # no row values (the files' addresses) in any field, the reason included
        fields = {k: str(v) for k, v in e.__dict__.items() if k not in STANDARD}
        assert "@" not in json.dumps(fields), fields


def test_the_connector_event_is_a_custom_event_with_its_job_and_last_upload(
    records, connector_standin
):
    (event,) = records.connector_events  # the single connector: one
    assert getattr(event, "microsoft.custom_event.name") == pipeline.CONNECTOR_EVENT
    assert (event.connector, event.job_id) == ("", connector_standin.job_id)
    newest = max(r.created for r in records.file_events if r.status in ("uploaded", "partial"))
    last = datetime.fromisoformat(event.last_upload)
    assert abs(last.timestamp() - newest) < 1, "the newest uploaded or partial file"
    assert 0 <= event.hours_since_upload < 0.1
    fields = {k: str(v) for k, v in event.__dict__.items() if k not in STANDARD}
    assert "@" not in json.dumps(fields), fields


def test_the_secret_read_says_when_the_secret_expires(records):
    read = [r for r in records.records if r.getMessage().startswith("read the connector secret")]
    assert read and read[-1].secret_name == "hr-connector-app-secret"
    assert datetime.fromisoformat(read[-1].expires) == records.expires


def test_the_workbook_has_a_query_file_for_each_query_item():
    layout = json.loads((WORKBOOK / "workbook.json").read_text(encoding="utf-8"))
    items = {i["name"] for i in layout["items"] if i["type"] == 3}
    files = {p.stem for p in WORKBOOK.glob("*.kql")}
    assert items == files
    bicep = WORKBOOK_BICEP.read_text(encoding="utf-8")
    for stem in files:
        assert f"'{stem}': loadTextContent('workbook/{stem}.kql')" in bicep
