"""The blob pipeline against real Azurite and the connector stand-in on loopback."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hrupload import compose
from hrupload.app import pipeline
from hrupload.app.runs import RunRecord
from hrupload.core.errors import ConfigError
from hrupload.core.profile import DEFAULT_PROFILE
from hrupload.settings import load
from hrupload_dev.connector import Fault

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
RESIGNATIONS = (SAMPLES / "resignation.csv").read_bytes()
MULTI = (SAMPLES / "multi-scenario.csv").read_bytes()
PROFILES = (SAMPLES / "employee-profile.csv").read_bytes()


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def make_services(hr_storage, standin, clock=None, **overrides) -> pipeline.Services:
    env = {
        "HR_STORAGE": "UseDevelopmentStorage=true",  # unused: the storage object is given
        "HRUPLOAD_TENANT_ID": standin.tenant_id,
        "HRUPLOAD_APP_ID": standin.app_id,
        "HRUPLOAD_JOB_ID": standin.job_id,
        "HRUPLOAD_APP_SECRET": standin.app_secret,
        "HRUPLOAD_LOGIN_URL": standin.url,
        "HRUPLOAD_INGESTION_URL": standin.url,
        "HRUPLOAD_INCOMING_CONTAINER": hr_storage.incoming,
        "HRUPLOAD_PROCESSED_CONTAINER": hr_storage.processed,
        "HRUPLOAD_FAILED_CONTAINER": hr_storage.failed,
        "HRUPLOAD_RUNS_TABLE": hr_storage.runs_table,
        "HRUPLOAD_RETRY_BUDGET": "2",
    } | overrides
    settings = load(env)
    services = pipeline.Services(
        settings,
        hr_storage,
        lambda: compose.make_client(settings),
        DEFAULT_PROFILE,
    )
    if clock is not None:
        services.clock = clock
    return services


def key_vault_provider(standin, name: str):
    """A real KeyVaultSecret talking to the HTTPS stand-in (the seam Key Vault needs)."""
    from hrupload.adapters.keyvault import KeyVaultSecret

    return KeyVaultSecret(
        standin.url,
        name,
        credential=standin.credential,
        client_options={
            "verify_challenge_resource": False,
            "connection_verify": standin.ca_cert_pem_path,
        },
    )


@pytest.fixture
def services(hr_storage, connector_standin):
    return make_services(hr_storage, connector_standin)


def drop(storage, name: str, data: bytes) -> None:
    storage.put_blob(storage.incoming, name, data)


def names(storage, container: str) -> list[str]:
    return sorted(b.name for b in storage.list_blobs(container))


def received_rows(standin) -> list[list[str]]:
    rows = []
    for upload in standin.uploads:
        records = list(csv.reader(io.StringIO(upload.content.decode("utf-8"), newline="")))
        rows.extend(records[1:])
    return rows


def today(clock_now: datetime | None = None) -> str:
    return f"{(clock_now or datetime.now(UTC)):%Y/%m/%d}"


def read(storage, container: str, name: str) -> bytes:
    with storage.open_read(container, name) as stream:
        return stream.read()


def test_valid_file_is_uploaded_and_moved_to_processed_with_report(services, connector_standin):
    storage = services.storage
    drop(storage, "resignation/2026-11-24.csv", RESIGNATIONS)

    result = pipeline.process_blob(services, "resignation/2026-11-24.csv")

    assert result.status == "uploaded"
    dest = f"{today()}/resignation/2026-11-24.csv"
    assert result.destination == f"{storage.processed}/{dest}"
    assert names(storage, storage.incoming) == []
    assert names(storage, storage.processed) == [dest, dest + ".report.json"]
    assert read(storage, storage.processed, dest) == RESIGNATIONS
    info = storage.get_info(storage.processed, dest)
    assert info.metadata["hrupload_status"] == "uploaded"
    assert info.metadata["hrupload_uploaded"] == "2"
    assert info.metadata["hrupload_run_id"] == result.run_id
    report = json.loads(read(storage, storage.processed, dest + ".report.json"))
    assert (report["rows"], report["valid"], report["rejected"]) == (2, 2, 0)
    assert report["scenarios"] == {"resignation": {"valid": 2, "rejected": 0}}
    assert len(received_rows(connector_standin)) == 2
    run = services.runlog.list_runs()[0]
    assert (run.status, run.uploaded, run.chunks, run.destination) == (
        "uploaded",
        2,
        1,
        result.destination,
    )


def test_partly_rejected_file_goes_to_processed_and_rejected_rows_to_failed(
    services, connector_standin
):
    storage = services.storage
    drop(storage, "all.csv", MULTI)

    result = pipeline.process_blob(services, "all.csv")

    assert result.status == "partial"
    assert names(storage, storage.processed) == [
        f"{today()}/all.csv",
        f"{today()}/all.csv.report.json",
    ]
    assert names(storage, storage.failed) == [f"{today()}/all.csv.rejected.csv"]
    rejected = list(
        csv.reader(
            io.StringIO(read(storage, storage.failed, f"{today()}/all.csv.rejected.csv").decode())
        )
    )
    assert rejected[0][-1] == "Error"
    assert len(rejected) == 3
    assert all("shifted columns" in row[-1] for row in rejected[1:])
    assert len(received_rows(connector_standin)) == 6


def test_file_level_error_goes_to_failed_unsent(services, connector_standin):
    storage = services.storage
    drop(storage, "resignation/latin1.csv", "EmailAddress\nrené@x.com\n".encode("latin-1"))

    result = pipeline.process_blob(services, "resignation/latin1.csv")

    assert result.status == "failed"
    assert "not UTF-8" in result.message
    assert names(storage, storage.failed) == [
        f"{today()}/resignation/latin1.csv",
        f"{today()}/resignation/latin1.csv.report.json",
    ]
    report = json.loads(
        read(storage, storage.failed, f"{today()}/resignation/latin1.csv.report.json")
    )
    assert report["file_error"]["code"] == "not-utf8"
    assert connector_standin.uploads == []


def test_every_row_rejected_goes_to_failed(services, connector_standin):
    storage = services.storage
    data = b"EmailAddress,ResignationDate,LastWorkingDate\nnot-an-email,2026-01-01T00:00:00Z,x\n"
    drop(storage, "resignation/bad.csv", data)

    result = pipeline.process_blob(services, "resignation/bad.csv")

    assert result.status == "failed"
    assert "every row was rejected" in result.message
    assert f"{today()}/resignation/bad.csv" in names(storage, storage.failed)
    assert f"{today()}/resignation/bad.csv.rejected.csv" in names(storage, storage.failed)
    assert connector_standin.uploads == []


def test_header_only_file_goes_to_processed(services, connector_standin):
    storage = services.storage
    drop(storage, "resignation/empty.csv", b"EmailAddress,ResignationDate,LastWorkingDate\r\n")
    result = pipeline.process_blob(services, "resignation/empty.csv")
    assert result.status == "uploaded"
    assert result.counts["rows"] == 0
    assert f"{today()}/resignation/empty.csv" in names(storage, storage.processed)
    assert connector_standin.uploads == []


def test_scenario_comes_from_the_first_folder(services, connector_standin):
    storage = services.storage
    data = (SAMPLES / "performance-review.csv").read_bytes()
    drop(storage, "performance-review/x.csv", data)
    drop(storage, "misc/x.csv", data.replace(b"sarad", b"sara"))
    assert pipeline.process_blob(services, "performance-review/x.csv").status == "uploaded"
    result = pipeline.process_blob(services, "misc/x.csv")
    assert result.status == "failed"
    assert "--scenario" in result.message


def test_identical_content_within_window_is_a_duplicate(services, connector_standin):
    storage = services.storage
    drop(storage, "resignation/monday.csv", RESIGNATIONS)
    assert pipeline.process_blob(services, "resignation/monday.csv").status == "uploaded"
    drop(storage, "resignation/tuesday.csv", RESIGNATIONS)

    result = pipeline.process_blob(services, "resignation/tuesday.csv")

    assert result.status == "duplicate"
    assert len(connector_standin.uploads) == 1
    assert f"{today()}/resignation/tuesday.csv" in names(storage, storage.processed)
    info = storage.get_info(storage.processed, f"{today()}/resignation/tuesday.csv")
    assert info.metadata["hrupload_status"] == "duplicate"


def test_dedupe_off_sends_again(hr_storage, connector_standin):
    services = make_services(hr_storage, connector_standin, HRUPLOAD_DEDUPE_HOURS="0")
    drop(hr_storage, "resignation/a.csv", RESIGNATIONS)
    drop(hr_storage, "resignation/b.csv", RESIGNATIONS)
    assert pipeline.process_blob(services, "resignation/a.csv").status == "uploaded"
    assert pipeline.process_blob(services, "resignation/b.csv").status == "uploaded"
    assert len(connector_standin.uploads) == 2


def test_same_name_twice_a_day_keeps_both_processed_copies(services, connector_standin):
    storage = services.storage
    drop(storage, "resignation/daily.csv", RESIGNATIONS)
    pipeline.process_blob(services, "resignation/daily.csv")
    drop(storage, "resignation/daily.csv", PROFILES.replace(b"Sara", b"Sarah"))
    pipeline.process_blob(services, "resignation/daily.csv")
    processed = [n for n in names(storage, storage.processed) if not n.endswith(".json")]
    failed = [n for n in names(storage, storage.failed) if not n.endswith(".json")]
    assert len(processed) + len(failed) == 2


def test_transient_failure_keeps_the_blob_and_records_why(services, connector_standin):
    storage = services.storage
    drop(storage, "resignation/a.csv", RESIGNATIONS)
    connector_standin.add_faults(*[Fault.http(503)] * 50, endpoint="ingestion")

    with pytest.raises(pipeline.RetryLater):
        pipeline.process_blob(services, "resignation/a.csv", raise_on_retry=True)

    assert names(storage, storage.incoming) == ["resignation/a.csv"]
    run = services.runlog.list_runs()[0]
    assert run.status == "retrying"
    assert "503" in run.error

    connector_standin.clear_faults()
    result = pipeline.process_blob(services, "resignation/a.csv")
    assert result.status == "uploaded"
    assert names(storage, storage.incoming) == []
    assert services.runlog.ledger_get(run.blob, run.etag).attempts == 2


def test_gives_up_after_the_give_up_window(hr_storage, connector_standin):
    clock = Clock()
    services = make_services(hr_storage, connector_standin, clock, HRUPLOAD_GIVE_UP_HOURS="72")
    drop(hr_storage, "resignation/a.csv", RESIGNATIONS)
    connector_standin.add_faults(*[Fault.http(503)] * 100, endpoint="ingestion")
    assert pipeline.process_blob(services, "resignation/a.csv").status == "retrying"

    clock.now += timedelta(hours=73)
    result = pipeline.process_blob(services, "resignation/a.csv")

    assert result.status == "failed"
    assert "gave up after 72 hours" in result.message
    assert names(hr_storage, hr_storage.incoming) == []
    assert f"{today(clock.now)}/resignation/a.csv" in names(hr_storage, hr_storage.failed)


def test_resume_after_transient_failure_sends_only_missing_chunks(hr_storage, connector_standin):
    data = b"EmailAddress,ResignationDate,LastWorkingDate\n" + b"".join(
        f"u{i}@contoso.com,2026-01-01T00:00:00Z,2026-01-31T00:00:00Z\n".encode() for i in range(5)
    )
    drop(hr_storage, "resignation/five.csv", data)
    one_by_one = {"HRUPLOAD_RECORDS_PER_CALL": "1", "HRUPLOAD_CONCURRENCY": "1"}
    # Two chunks get through, then the service is down for longer than the retry budget.
    connector_standin.add_faults(
        Fault.delay(0), Fault.delay(0), *[Fault.http(503)] * 60, endpoint="ingestion"
    )
    first = make_services(hr_storage, connector_standin, **one_by_one)
    assert pipeline.process_blob(first, "resignation/five.csv").status == "retrying"
    assert len(connector_standin.uploads) == 2

    connector_standin.clear_faults()
    second = make_services(hr_storage, connector_standin, **one_by_one)  # "another instance"
    result = pipeline.process_blob(second, "resignation/five.csv")

    assert result.status == "uploaded"
    assert result.counts["uploaded"] == 5
    assert sorted(r[0] for r in received_rows(connector_standin)) == [
        f"u{i}@contoso.com" for i in range(5)
    ]


def test_checkpoints_skip_chunks_a_crashed_run_delivered(hr_storage, connector_standin):
    from hrupload.app.delivery import checkpoint_key
    from hrupload.core import csvread

    data = b"EmailAddress,ResignationDate,LastWorkingDate\n" + b"".join(
        f"u{i}@contoso.com,2026-01-01T00:00:00Z,2026-01-31T00:00:00Z\n".encode() for i in range(4)
    )
    drop(hr_storage, "resignation/four.csv", data)
    services = make_services(hr_storage, connector_standin, HRUPLOAD_RECORDS_PER_CALL="1")
    facts = csvread.scan(io.BytesIO(data))
    key = checkpoint_key(facts.sha256, connector_standin.job_id, 1, DEFAULT_PROFILE, None)
    # A run on another instance delivered chunks 0 and 2, then died.
    services.checkpoints.mark(key, 0)
    services.checkpoints.mark(key, 2)

    result = pipeline.process_blob(services, "resignation/four.csv")

    assert result.status == "uploaded"
    assert result.counts["uploaded"] == 4
    assert sorted(r[0] for r in received_rows(connector_standin)) == [
        "u1@contoso.com",
        "u3@contoso.com",
    ]
    assert services.checkpoints.delivered(key) == set()  # cleared once the file is done


def test_two_processes_of_one_blob_upload_once(hr_storage, connector_standin):
    connector_standin.latency = 0.3  # hold the first run inside its lease
    drop(hr_storage, "resignation/race.csv", RESIGNATIONS)
    results = []

    def run() -> None:
        services = make_services(hr_storage, connector_standin)
        results.append(pipeline.process_blob(services, "resignation/race.csv"))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    statuses = sorted(r.status for r in results)
    assert statuses.count("uploaded") == 1
    assert set(statuses) <= {"uploaded", "taken", "gone"}
    assert len(connector_standin.uploads) == 1


def test_blob_deleted_before_processing_is_gone(services):
    result = pipeline.process_blob(services, "resignation/never-there.csv")
    assert result.status == "gone"


def test_missing_containers_and_table_are_created(hr_storage, connector_standin):
    from hrupload.adapters.storage import HrStorage

    fresh = HrStorage(
        hr_storage.blob_service,
        hr_storage.table_service,
        incoming=hr_storage.incoming,  # exists: that is where the file was dropped
        processed=hr_storage.processed + "-new",
        failed=hr_storage.failed + "-new",
        runs_table=hr_storage.runs_table + "new",
    )
    drop(hr_storage, "resignation/a.csv", RESIGNATIONS)
    services = make_services(
        hr_storage,
        connector_standin,
        HRUPLOAD_PROCESSED_CONTAINER=fresh.processed,
        HRUPLOAD_FAILED_CONTAINER=fresh.failed,
        HRUPLOAD_RUNS_TABLE=fresh.runs_table,
    )
    services.storage = fresh
    try:
        assert pipeline.process_blob(services, "resignation/a.csv").status == "uploaded"
        assert names(fresh, fresh.processed)
        assert fresh.runlog().list_runs()[0].status == "uploaded"
    finally:
        fresh.blob_service.delete_container(fresh.processed)
        fresh.blob_service.delete_container(fresh.failed)
        fresh.table_service.delete_table(fresh.runs_table)


def test_interrupted_move_is_finished_without_uploading_again(services, connector_standin):
    storage = services.storage
    drop(storage, "resignation/a.csv", RESIGNATIONS)
    info = storage.get_info(storage.incoming, "resignation/a.csv")
    dest = f"{storage.processed}/{today()}/resignation/a.csv"
    # The outcome was recorded, then the process died before the move.
    services.runlog.put(
        RunRecord(
            run_id="crashedrun01",
            blob=f"{storage.incoming}/resignation/a.csv",
            etag=info.etag,
            sha256=None,
            job_id=connector_standin.job_id,
            status="uploaded",
            rows=2,
            valid=2,
            uploaded=2,
            chunks=1,
            destination=dest,
            first_seen=datetime.now(UTC),
            finished=datetime.now(UTC),
        )
    )

    result = pipeline.process_blob(services, "resignation/a.csv")

    assert result.status == "uploaded"
    assert result.destination == dest
    assert connector_standin.uploads == []
    assert names(storage, storage.incoming) == []
    assert f"{today()}/resignation/a.csv" in names(storage, storage.processed)


def test_sweep_handles_everything_and_summarises(services, connector_standin):
    storage = services.storage
    drop(storage, "resignation/a.csv", RESIGNATIONS)
    drop(storage, "all.csv", MULTI)
    drop(storage, "resignation/bad.csv", b"\x00\x01binary")
    summary = pipeline.sweep(services)
    doc = summary.to_dict()
    assert (doc["files"], doc["uploaded"], doc["partial"], doc["failed"]) == (3, 1, 1, 1)
    assert names(storage, storage.incoming) == []
    assert summary.stuck == []
    (recorded,) = [r for r in services.runlog.list_runs() if r.kind == "sweep"]
    assert recorded.status == "done"
    assert recorded.summary["files"] == 3
    assert (recorded.summary["uploaded"], recorded.summary["failed"]) == (1, 1)


def test_sweep_refreshes_employee_profiles_when_due(hr_storage, connector_standin):
    clock = Clock()
    services = make_services(hr_storage, connector_standin, clock)
    drop(hr_storage, "employee-profile/people.csv", PROFILES)
    pipeline.sweep(services)
    assert len(connector_standin.uploads) == 1

    clock.now += timedelta(days=5)
    assert pipeline.sweep(services).profile_refresh is None
    assert len(connector_standin.uploads) == 1

    clock.now += timedelta(days=10)
    summary = pipeline.sweep(services)
    assert summary.profile_refresh is not None
    assert summary.profile_refresh.status == "uploaded"
    assert len(connector_standin.uploads) == 2
    assert connector_standin.uploads[1].content == connector_standin.uploads[0].content
    kinds = [r.kind for r in services.runlog.list_runs()]
    assert "profile-refresh" in kinds

    clock.now += timedelta(days=1)
    assert pipeline.sweep(services).profile_refresh is None


def test_secret_rotation_is_picked_up_from_key_vault(
    hr_storage, connector_standin, keyvault_standin
):
    provider = key_vault_provider(keyvault_standin, "hr-connector-app-secret")
    services = make_services(hr_storage, connector_standin)
    settings = services.settings
    services.client_factory = lambda: compose.make_client(settings, secret_provider=provider)
    drop(hr_storage, "resignation/a.csv", RESIGNATIONS)
    assert pipeline.process_blob(services, "resignation/a.csv").status == "uploaded"

    # Rotate: the app gets a new secret and Key Vault holds it; our cache still has the old.
    connector_standin.set_app_secret(connector_standin.app_id, "rotated-secret-2")
    keyvault_standin.set_secret("hr-connector-app-secret", "rotated-secret-2")
    connector_standin.expire_tokens()  # so the next upload gets a 401 and needs a new token
    drop(hr_storage, "resignation/c.csv", RESIGNATIONS.replace(b"sarad", b"saraz"))

    assert pipeline.process_blob(services, "resignation/c.csv").status == "uploaded"
    assert keyvault_standin.reads == 2  # read once, re-read once after the rejection
    assert len(connector_standin.uploads) == 2


def test_unresolved_key_vault_reference_is_explained():
    with pytest.raises(ConfigError, match="unresolved Key Vault reference"):
        load(
            {
                "HRUPLOAD_APP_SECRET": "@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/x)"
            }
        )


def test_missing_settings_are_named(hr_storage, connector_standin):
    services = make_services(hr_storage, connector_standin, HRUPLOAD_JOB_ID="")
    drop(hr_storage, "resignation/a.csv", RESIGNATIONS)
    with pytest.raises(ConfigError, match="HRUPLOAD_JOB_ID"):
        pipeline.process_blob(services, "resignation/a.csv")
    assert names(hr_storage, hr_storage.incoming) == ["resignation/a.csv"]
    run = services.runlog.list_runs()[0]
    assert run.status == "retrying"
    assert "HRUPLOAD_JOB_ID" in run.error


def test_dot_segment_name_stays_with_a_recorded_reason(services):
    result = pipeline.process_blob(services, "resignation/../evil.csv")
    assert result.status == "failed"
    assert "left in incoming" in result.message
    assert services.runlog.list_runs()[0].error.startswith("left in incoming")


def test_very_long_names_are_shortened_on_move(services, connector_standin):
    storage = services.storage
    name = "resignation/" + "n" * 1000 + ".csv"
    drop(storage, name, RESIGNATIONS)
    result = pipeline.process_blob(services, name)
    assert result.status == "uploaded"
    dest = result.destination.split("/", 1)[1]
    assert len(dest) <= 1000
    assert dest.endswith("nnnn.csv")
    assert names(storage, storage.incoming) == []


def test_certificate_from_key_vault_signs_the_token_request(
    hr_storage, connector_standin, keyvault_standin, test_certificate
):
    services = make_services(
        hr_storage,
        connector_standin,
        HRUPLOAD_APP_ID=test_certificate.app_id,
        HRUPLOAD_JOB_ID=test_certificate.job_id,
        HRUPLOAD_APP_SECRET="",
        HRUPLOAD_KEY_VAULT_URL=keyvault_standin.url,
        HRUPLOAD_CERTIFICATE_NAME="hr-connector-certificate",
    )
    provider = key_vault_provider(keyvault_standin, "hr-connector-certificate")
    settings = services.settings
    services.client_factory = lambda: compose.make_client(settings, secret_provider=provider)
    drop(hr_storage, "resignation/a.csv", RESIGNATIONS)

    assert pipeline.process_blob(services, "resignation/a.csv").status == "uploaded"
    assertion = connector_standin.last_assertion
    assert assertion["header"]["x5t"] == test_certificate.x5t
    assert assertion["claims"]["iss"] == test_certificate.app_id


def test_unreadable_key_vault_certificate_keeps_the_file_with_the_reason(
    hr_storage, connector_standin, keyvault_standin
):
    keyvault_standin.set_secret("not-a-cert", "definitely not PEM or PFX")
    services = make_services(hr_storage, connector_standin, HRUPLOAD_CERTIFICATE_NAME="not-a-cert")
    provider = key_vault_provider(keyvault_standin, "not-a-cert")
    settings = services.settings
    services.client_factory = lambda: compose.make_client(settings, secret_provider=provider)
    drop(hr_storage, "resignation/a.csv", RESIGNATIONS)

    result = pipeline.process_blob(services, "resignation/a.csv")

    assert result.status == "retrying"
    assert "could not be read as PEM or PFX" in services.runlog.list_runs()[0].error
    assert names(hr_storage, hr_storage.incoming) == ["resignation/a.csv"]


# --------------------------------------------------------------------------- unexpected errors


def failing_client(services, exc: BaseException, times: int | None = None):
    """The Services seam for the connector client: its construction raises ``exc`` (a bug,
    MemoryError) ``times`` times (None: always), then builds the real client."""
    real = services.client_factory
    left = [times]

    def factory():
        if left[0] is None or left[0] > 0:
            left[0] = None if left[0] is None else left[0] - 1
            raise exc
        return real()

    services.client_factory = factory
    return services


def test_an_unexpected_error_is_recorded_and_counts_toward_giving_up(hr_storage, connector_standin):
    clock = Clock()
    services = make_services(hr_storage, connector_standin, clock, HRUPLOAD_GIVE_UP_HOURS="72")
    failing_client(services, MemoryError("row alice@contoso.com"))
    drop(hr_storage, "resignation/a.csv", RESIGNATIONS)

    result = pipeline.process_blob(services, "resignation/a.csv")

    assert result.status == "retrying" and result.outage is None
    (run,) = services.runlog.list_runs()
    assert (run.status, run.attempts) == ("retrying", 1)  # not left "running"
    assert "unexpected error (MemoryError)" in run.error
    assert "alice" not in run.error  # the exception's own text may quote a row
    with pytest.raises(pipeline.RetryLater) as raised:  # the trigger: the host retries
        pipeline.process_blob(services, "resignation/a.csv", raise_on_retry=True)
    assert raised.value.outage is None  # not an outage: other files go on
    assert services.runlog.ledger_get(run.blob, run.etag).attempts == 2

    clock.now += timedelta(hours=73)
    result = pipeline.process_blob(services, "resignation/a.csv")

    assert result.status == "failed"
    assert "gave up after 72 hours" in result.message and "MemoryError" in result.message
    assert names(hr_storage, hr_storage.incoming) == []
    assert connector_standin.uploads == []


def test_an_unexpected_error_does_not_stop_the_sweep(hr_storage, connector_standin):
    services = failing_client(
        make_services(hr_storage, connector_standin), RuntimeError("a bug"), times=1
    )
    for name in ("a", "b", "c"):
        drop(hr_storage, f"resignation/{name}.csv", RESIGNATIONS.replace(b"sarad", name.encode()))

    summary = pipeline.sweep(services)

    assert sorted(r.status for r in summary.results) == ["retrying", "uploaded", "uploaded"]
    assert (summary.stopped, summary.deferred) == (None, [])
    assert "RuntimeError" in next(r.message for r in summary.results if r.status == "retrying")
    assert pipeline.sweep(services).count("uploaded") == 1
    assert names(hr_storage, hr_storage.incoming) == []


# --------------------------------------------------------------------------- abandoned runs


def abandoned(services, name: str, *, started: datetime, first_seen: datetime) -> RunRecord:
    """What a run the host stopped (timeout, out of memory) leaves: a "running" record."""
    info = services.storage.get_info(services.storage.incoming, name)
    record = RunRecord(
        run_id="killed00run1",
        blob=f"{services.storage.incoming}/{name}",
        etag=info.etag,
        sha256=None,
        job_id=services.settings.job_id,
        status="running",
        attempts=1,
        first_seen=first_seen,
        started=started,
    )
    services.runlog.put(record)
    return record


def history(services, run_id: str) -> RunRecord:
    return next(r for r in services.runlog.list_runs() if r.run_id == run_id)


def test_an_attempt_running_past_the_function_timeout_counts_as_a_failed_one(
    hr_storage, connector_standin
):
    clock = Clock()
    services = make_services(hr_storage, connector_standin, clock)
    timeout = services.settings.function_timeout  # read from host.json
    assert timeout == timedelta(hours=1)
    drop(hr_storage, "resignation/a.csv", RESIGNATIONS)
    killed = abandoned(
        services, "resignation/a.csv", started=clock.now - 2 * timeout, first_seen=clock.now
    )

    assert pipeline.process_blob(services, "resignation/a.csv").status == "uploaded"

    old = history(services, killed.run_id)
    assert old.status == "retrying"
    assert "did not finish within the function timeout (1:00:00" in old.error
    assert services.runlog.ledger_get(killed.blob, killed.etag).attempts == 2


def test_an_attempt_younger_than_the_function_timeout_is_not_judged(hr_storage, connector_standin):
    clock = Clock()
    services = make_services(hr_storage, connector_standin, clock)
    drop(hr_storage, "resignation/a.csv", RESIGNATIONS)
    recent = abandoned(
        services,
        "resignation/a.csv",
        started=clock.now - timedelta(minutes=59),
        first_seen=clock.now - timedelta(hours=100),
    )

    assert pipeline.process_blob(services, "resignation/a.csv").status == "uploaded"
    assert history(services, recent.run_id).status == "running"


def test_a_file_whose_every_attempt_is_stopped_is_given_up_on(hr_storage, connector_standin):
    """Out of memory each time: no exception reaches Python, yet the file must not loop."""
    clock = Clock()
    services = make_services(hr_storage, connector_standin, clock, HRUPLOAD_GIVE_UP_HOURS="72")
    drop(hr_storage, "resignation/a.csv", RESIGNATIONS)
    abandoned(
        services,
        "resignation/a.csv",
        started=clock.now - timedelta(hours=2),
        first_seen=clock.now - timedelta(hours=73),
    )

    result = pipeline.process_blob(services, "resignation/a.csv")

    assert result.status == "failed"
    assert "gave up after 72 hours of failed attempts" in result.message
    assert "function timeout" in result.message
    assert connector_standin.uploads == []
    assert names(hr_storage, hr_storage.incoming) == []
    dest = f"{today(clock.now)}/resignation/a.csv"
    assert read(hr_storage, hr_storage.failed, dest) == RESIGNATIONS


# --------------------------------------------------------------------------- archives


def archived(storage) -> dict[str, bytes]:
    """Every blob in processed and failed, by ``container/name``."""
    return {
        f"{c}/{n}": read(storage, c, n)
        for c in (storage.processed, storage.failed)
        for n in names(storage, c)
    }


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("resignation/x.csv.report.json", "resignation/x.csv"),
        ("resignation/x.csv", "resignation/x.csv.report.json"),
        ("resignation/x.csv.rejected.csv", "resignation/x.csv"),
    ],
    ids=["report-named-file-first", "report-named-file-second", "rejected-named-file-first"],
)
def test_no_archived_blob_is_overwritten_by_another_files_report(
    services, connector_standin, first, second
):
    storage = services.storage
    # Every row of the first is rejected (so it goes to failed); the second has both kinds.
    bad = RESIGNATIONS.replace(b"@", b".")
    drop(storage, first, bad)
    one = pipeline.process_blob(services, first)
    before = archived(storage)
    drop(storage, second, RESIGNATIONS.replace(b"sarad@", b"sarad."))

    two = pipeline.process_blob(services, second)

    after = archived(storage)
    assert {n: after.get(n) for n in before} == before  # nothing archived was changed
    assert len(after) == len(before) + 3  # the second file, its report, its rejected rows
    for result, data in ((one, bad), (two, RESIGNATIONS.replace(b"sarad@", b"sarad."))):
        container, dest = result.destination.split("/", 1)
        assert read(storage, container, dest) == data
        report = json.loads(read(storage, container, dest + ".report.json"))
        assert report["run_id"] == result.run_id


class RacingStorage:
    """HrStorage whose existence check misses what another run just wrote (a race)."""

    def __init__(self, storage) -> None:
        self._storage = storage

    def __getattr__(self, name):
        return getattr(self._storage, name)

    def blob_exists(self, container: str, name: str) -> bool:
        return False


def test_a_report_name_taken_in_a_race_is_not_overwritten(hr_storage, connector_standin):
    services = make_services(hr_storage, connector_standin)
    services.storage = RacingStorage(hr_storage)
    dest = f"{today()}/resignation/x.csv"
    hr_storage.put_blob(hr_storage.processed, dest + ".report.json", b"another run's report")
    drop(hr_storage, "resignation/x.csv", RESIGNATIONS)

    result = pipeline.process_blob(services, "resignation/x.csv")

    assert result.status == "uploaded"
    assert read(hr_storage, hr_storage.processed, dest + ".report.json") == b"another run's report"
    container, moved = result.destination.split("/", 1)
    assert result.run_id in moved  # this run's own name instead
    assert read(hr_storage, container, moved) == RESIGNATIONS
    assert json.loads(read(hr_storage, container, moved + ".report.json"))["status"] == "uploaded"


# --------------------------------------------------------------------------- not files


def test_folder_markers_are_skipped_silently(hr_storage, connector_standin):
    clock = Clock()
    services = make_services(hr_storage, connector_standin, clock)
    hr_storage.put_blob(hr_storage.incoming, "resignation/", b"")
    hr_storage.put_blob(hr_storage.incoming, "archive", b"", metadata={"hdi_isfolder": "true"})
    drop(hr_storage, "resignation/a.csv", RESIGNATIONS)
    clock.now += timedelta(days=2)  # old enough to be "stuck" if they counted as files

    summary = pipeline.sweep(services)

    assert [r.blob for r in summary.results] == [f"{hr_storage.incoming}/resignation/a.csv"]
    assert (summary.stuck, summary.to_dict()["files"]) == (["resignation/a.csv"], 1)
    assert names(hr_storage, hr_storage.incoming) == ["archive", "resignation/"]
    for marker in ("archive", "resignation/"):
        assert pipeline.process_blob(services, marker).status == "skipped"
    assert [r.blob for r in services.runlog.list_runs() if r.kind == "file"] == [
        f"{hr_storage.incoming}/resignation/a.csv"
    ]


def test_an_empty_blob_just_written_is_left_for_later(hr_storage, connector_standin):
    """SFTP creates the file empty and commits it later: the sweep and the container-scan
    trigger wait; once it has stayed empty a while, it is an empty file (the file's fault)."""
    clock = Clock()
    services = make_services(hr_storage, connector_standin, clock)
    hr_storage.put_blob(hr_storage.incoming, "resignation/upload.csv", b"")

    assert pipeline.sweep(services).to_dict()["files"] == 0
    scanned = pipeline.process_blob(services, "resignation/upload.csv", skip_in_progress=True)
    assert scanned.status == "skipped"
    assert names(hr_storage, hr_storage.incoming) == ["resignation/upload.csv"]
    assert [r for r in services.runlog.list_runs() if r.kind == "file"] == []

    clock.now += pipeline.IN_PROGRESS_WINDOW + timedelta(seconds=1)
    (result,) = pipeline.sweep(services).results
    assert result.status == "failed"
    assert names(hr_storage, hr_storage.incoming) == []


def test_the_2mb_file_of_200000_columns_fails_in_one_sentence_naming_no_cell(
    hr_storage, connector_standin
):
    """The file that once made ``process`` peak at 5 GB (its peak RSS is in make bench)."""
    services = make_services(hr_storage, connector_standin)
    header = "EmailAddress,ResignationDate,LastWorkingDate" + "".join(
        f",c{i}" for i in range(200_000)
    )
    rows = "".join(
        f"ilse{i}@contoso.com,2026-01-01T00:00:00Z,2026-01-02T00:00:00Z\n" for i in range(8000)
    )
    drop(services.storage, "wide.csv", (header + "\n" + rows).encode())

    result = pipeline.process_blob(services, "wide.csv")

    assert result.status == "failed"
    assert "200,003 columns" in result.message and result.message.count(". ") == 0
    report = json.loads(
        read(services.storage, services.storage.failed, f"{today()}/wide.csv.report.json")
    )
    assert report["file_error"]["code"] == "too-many-columns" and report["header"] == []
    assert connector_standin.uploads == []


def test_chunks_sent_never_pass_the_chunk_limit(hr_storage, connector_standin):
    services = make_services(
        hr_storage, connector_standin, HRUPLOAD_MAX_CHUNK_MB="1", HRUPLOAD_RECORDS_PER_CALL="100000"
    )
    remark = "r" * 190
    data = "EmailAddress,EffectiveDate,Remarks\n" + "".join(
        f"a{i}@contoso.com,2026-01-01T00:00:00Z,{remark}\n" for i in range(12_000)
    )
    drop(services.storage, "performance-review/long.csv", data.encode())

    result = pipeline.process_blob(services, "performance-review/long.csv")

    assert result.status == "uploaded"
    sizes = [u.size for u in connector_standin.uploads]
    assert len(sizes) >= 3 and max(sizes) <= 1 << 20
    assert sum(u.records or 0 for u in connector_standin.uploads) == 12_000


def test_the_profiles_encoding_and_delimiter_are_honoured(hr_storage, connector_standin):
    """A European Excel export (";", Windows-1252) under a profile naming its encoding:
    the connector gets comma-separated UTF-8, the report says how the file was read."""
    from hrupload.core.profile import load_profile

    services = make_services(hr_storage, connector_standin)
    services.profile = load_profile(SAMPLES / "excel-semicolon-cp1252.profile.json")
    storage = services.storage
    data = (SAMPLES / "excel-semicolon-cp1252.csv").read_bytes()
    drop(storage, "employees.csv", data)

    result = pipeline.process_blob(services, "employees.csv")

    assert result.status == "partial", result.message
    rows = received_rows(connector_standin)
    assert len(rows) == 3 and all(len(r) == 12 for r in rows)
    assert ["Jonas", "Müller"] in [r[1:3] for r in rows]
    assert read(storage, storage.processed, f"{today()}/employees.csv") == data  # kept as sent
    report = json.loads(read(storage, storage.processed, f"{today()}/employees.csv.report.json"))
    assert (report["encoding"], report["delimiter"]) == ("cp1252", ";")
    rejected = read(storage, storage.failed, f"{today()}/employees.csv.rejected.csv").decode()
    assert "Ærø" in rejected


def test_without_the_profiles_encoding_the_message_names_it(services, connector_standin):
    storage = services.storage
    drop(storage, "employees.csv", (SAMPLES / "excel-semicolon-cp1252.csv").read_bytes())

    result = pipeline.process_blob(services, "employees.csv")

    assert result.status == "failed"
    assert 'the profile\'s "encoding"' in result.message
    assert connector_standin.uploads == []
