"""Connector, token endpoint and Key Vault faults, through the blob pipeline (issue 6).

Real servers on loopback: Azurite, the connector stand-in, the Key Vault stand-in. After
every test the invariants of :mod:`tests.invariants` hold for every file, and no secret,
token or row address appears in the logs, the run records or the reports.
"""

from __future__ import annotations

import json
import logging
import time

import pytest

from hrupload import compose
from hrupload.adapters.keyvault import KeyVaultSecret
from hrupload.app import pipeline
from hrupload_dev.connector import Fault
from tests.invariants import check_files, hr_csv, leaked, log_texts
from tests.plugins.standins import SECRET_NAME, TEST_APP_SECRET, TEST_KEYVAULT_TOKEN
from tests.reliability import drop, make_services, names

ROTATED = "rotated~Secret_9+8/7=6"
NEEDLES = (TEST_APP_SECRET, ROTATED, TEST_KEYVAULT_TOKEN, "standin.", "@contoso.com")


def fast(settings, secret_provider=None):
    """The production client with short back-off, so a retry budget of 2 s sees several tries."""
    client = compose.make_client(settings, secret_provider=secret_provider)
    client.max_backoff = 0.2
    return client


@pytest.fixture(autouse=True)
def nothing_leaks(caplog, hr_storage):
    """Every log line hrupload writes, every run record and every report, free of secrets."""
    caplog.set_level(logging.DEBUG, logger="hrupload")
    seen: list[str] = []
    yield seen
    texts = log_texts(caplog.records) + seen
    texts += [f"{r.error} {r.destination}" for r in hr_storage.runlog().list_runs()]
    for container in (hr_storage.processed, hr_storage.failed):
        for name in names(hr_storage, container):
            if name.endswith(".report.json"):
                with hr_storage.open_read(container, name) as stream:
                    texts.append(stream.read().decode())
    assert leaked(texts, NEEDLES) == []


def process(services, name, seen, **kwargs) -> pipeline.FileResult:
    try:
        result = pipeline.process_blob(services, name, **kwargs)
    except pipeline.RetryLater as exc:
        seen.append(str(exc))
        raise
    seen.append(result.message)
    return result


def latest(storage, name):
    return next(r for r in storage.runlog().list_runs() if r.blob.endswith("/" + name))


# --------------------------------------------------------------------------- connector


@pytest.mark.parametrize(
    "statuses",
    [(503, 503), (500, 502, 504), (503, 500, 502, 504)],
    ids=["503x2", "500-502-504", "all-four"],
)
def test_transient_5xx_within_the_budget_is_uploaded_once(
    hr_storage, connector_standin, nothing_leaks, statuses
):
    files = {"resignation/a.csv": hr_csv("a", 12, 2)}
    etags = drop(hr_storage, files)
    connector_standin.add_faults(*[Fault.http(s) for s in statuses], endpoint="ingestion")
    services = make_services(hr_storage, connector_standin, client_factory=fast)

    result = process(services, "resignation/a.csv", nothing_leaks)

    assert result.status == "partial"
    assert connector_standin.pending_faults("ingestion") == []
    check_files(hr_storage, connector_standin, files, etags=etags)


def test_5xx_past_the_budget_stays_in_incoming_and_the_next_sweep_finishes(
    hr_storage, connector_standin, nothing_leaks
):
    files = {"resignation/a.csv": hr_csv("a", 10), "resignation/b.csv": hr_csv("b", 10)}
    etags = drop(hr_storage, files)
    connector_standin.add_faults(*[Fault.http(503)] * 200, endpoint="ingestion")
    services = make_services(hr_storage, connector_standin, client_factory=fast)

    with pytest.raises(pipeline.RetryLater) as raised:
        process(services, "resignation/a.csv", nothing_leaks, raise_on_retry=True)

    assert raised.value.outage and "503" in raised.value.outage
    assert names(hr_storage, hr_storage.incoming) == sorted(files)
    record = latest(hr_storage, "resignation/a.csv")
    assert record.status == "retrying"
    assert "503" in record.error and "run again later" in record.error
    check_files(hr_storage, connector_standin, files, etags=etags, deferred=files)

    connector_standin.clear_faults()
    summary = pipeline.sweep(services)

    assert (summary.count("uploaded"), summary.stopped) == (2, None)
    check_files(hr_storage, connector_standin, files, etags=etags)


def test_a_sweep_stops_sending_when_the_connector_is_down(
    hr_storage, connector_standin, nothing_leaks
):
    """One retry budget spent, not one per file: the rest wait for the next sweep."""
    files = {f"resignation/{i}.csv": hr_csv(f"f{i}", 5) for i in range(6)}
    etags = drop(hr_storage, files)
    connector_standin.add_faults(*[Fault.http(503)] * 500, endpoint="ingestion")
    services = make_services(hr_storage, connector_standin, client_factory=fast)

    started = time.monotonic()
    summary = pipeline.sweep(services)

    assert time.monotonic() - started < 8  # one budget of 2 s, not six
    assert [r.status for r in summary.results] == ["retrying"]
    assert "503" in (summary.stopped or "")
    assert len(summary.deferred) == 5
    assert summary.to_dict()["files"] == 6
    assert summary.profile_refresh is None
    check_files(hr_storage, connector_standin, files, etags=etags, deferred=summary.deferred)

    connector_standin.clear_faults()
    assert pipeline.sweep(services).count("uploaded") == 6
    check_files(hr_storage, connector_standin, files, etags=etags)


def test_429_retry_after_pauses_then_uploads(hr_storage, connector_standin, nothing_leaks):
    files = {"resignation/a.csv": hr_csv("a", 6)}
    etags = drop(hr_storage, files)
    connector_standin.add_faults(Fault.http(429, retry_after=1), endpoint="ingestion")
    services = make_services(hr_storage, connector_standin, client_factory=fast)

    started = time.monotonic()
    assert process(services, "resignation/a.csv", nothing_leaks).status == "uploaded"

    assert time.monotonic() - started >= 1.0
    check_files(hr_storage, connector_standin, files, etags=etags)


def test_429_asking_for_longer_than_the_budget_is_retried_later_at_once(
    hr_storage, connector_standin, nothing_leaks
):
    files = {"resignation/a.csv": hr_csv("a", 6)}
    etags = drop(hr_storage, files)
    connector_standin.add_faults(*[Fault.http(429, retry_after=600)] * 3, endpoint="ingestion")
    services = make_services(hr_storage, connector_standin, client_factory=fast)

    started = time.monotonic()
    result = process(services, "resignation/a.csv", nothing_leaks)

    assert time.monotonic() - started < 5  # not 600 s
    assert result.status == "retrying"
    assert "429" in latest(hr_storage, "resignation/a.csv").error
    check_files(hr_storage, connector_standin, files, etags=etags)


def test_connection_dropped_before_any_answer_is_retried(
    hr_storage, connector_standin, nothing_leaks
):
    files = {"resignation/a.csv": hr_csv("a", 8), "resignation/b.csv": hr_csv("b", 8)}
    etags = drop(hr_storage, files)
    services = make_services(hr_storage, connector_standin, client_factory=fast)

    connector_standin.add_faults(Fault.drop(), Fault.drop(), endpoint="ingestion")
    assert process(services, "resignation/a.csv", nothing_leaks).status == "uploaded"

    connector_standin.add_faults(*[Fault.drop()] * 200, endpoint="ingestion")
    result = process(services, "resignation/b.csv", nothing_leaks)
    assert result.status == "retrying"
    assert "failed before any answer" in latest(hr_storage, "resignation/b.csv").error
    check_files(hr_storage, connector_standin, files, etags=etags)


def test_slow_answer_past_the_timeout_is_sent_again_inside_the_at_least_once_window(
    hr_storage, connector_standin, nothing_leaks
):
    """The service got the chunk but answered after the client gave up: the client cannot
    know, so it sends the chunk again. That is the documented at-least-once window."""
    files = {"resignation/a.csv": hr_csv("a", 9)}
    etags = drop(hr_storage, files)
    connector_standin.add_faults(Fault.delay(1.5), endpoint="ingestion")

    def short_timeout(settings):
        client = fast(settings)
        client.timeout = (2.0, 0.5)
        return client

    services = make_services(hr_storage, connector_standin, client_factory=short_timeout)
    assert process(services, "resignation/a.csv", nothing_leaks).status == "uploaded"

    connector_standin.wait_for_uploads(2, timeout=5)  # the slow one lands late
    states = check_files(
        hr_storage, connector_standin, files, etags=etags, repeats={"resignation/a.csv": 9}
    )
    assert states["resignation/a.csv"].repeated == 9


def test_slow_answers_past_the_budget_stay_in_incoming(
    hr_storage, connector_standin, nothing_leaks
):
    files = {"resignation/a.csv": hr_csv("a", 4)}
    etags = drop(hr_storage, files)
    connector_standin.add_faults(*[Fault.delay(0.6)] * 20, endpoint="ingestion")

    def short_timeout(settings):
        client = fast(settings)
        client.timeout = (2.0, 0.3)
        return client

    services = make_services(
        hr_storage, connector_standin, client_factory=short_timeout, HRUPLOAD_RETRY_BUDGET="1"
    )
    result = process(services, "resignation/a.csv", nothing_leaks)

    assert result.status == "retrying"
    assert "no answer from 127.0.0.1 within 0.3s" in latest(hr_storage, "resignation/a.csv").error
    connector_standin.clear_faults()
    # Every attempt timed out after the service had read it; each lands when the service
    # gets to it, as a slow service's would. That is one copy per lost answer.
    attempts = connector_standin.wait_for_uploads(1, timeout=3)
    time.sleep(0.7)
    attempts = len(connector_standin.uploads)
    assert process(services, "resignation/a.csv", nothing_leaks).status == "uploaded"
    states = check_files(
        hr_storage,
        connector_standin,
        files,
        etags=etags,
        repeats={"resignation/a.csv": 4},
        copies=attempts + 1,
    )
    assert states["resignation/a.csv"].repeated == 4


def test_answer_lost_after_the_service_accepted_sends_that_chunk_twice(
    hr_storage, connector_standin, nothing_leaks
):
    files = {"resignation/a.csv": hr_csv("a", 12)}
    etags = drop(hr_storage, files)
    connector_standin.add_faults(Fault.delay(0), Fault.accept_then_drop(), endpoint="ingestion")
    services = make_services(
        hr_storage,
        connector_standin,
        client_factory=fast,
        HRUPLOAD_RECORDS_PER_CALL="4",
        HRUPLOAD_CONCURRENCY="1",
    )

    assert process(services, "resignation/a.csv", nothing_leaks).status == "uploaded"

    assert [u.answer_dropped for u in connector_standin.uploads] == [False, True, False, False]
    states = check_files(
        hr_storage, connector_standin, files, etags=etags, repeats={"resignation/a.csv": 4}
    )
    assert states["resignation/a.csv"].repeated == 4  # exactly one chunk of four rows


# A 403 "jobId and corresponding appId do not match" is not the file's fault (every file of
# the job gets it): tests/test_reliability_blame.py keeps the files waiting for it.
@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (
            Fault.http(400, body={"error": {"code": "BadRequest", "message": "Invalid file."}}),
            "400 Bad Request",
        ),
    ],
    ids=["400"],
)
def test_permanent_refusal_goes_to_failed_with_the_services_reason_and_a_full_report(
    hr_storage, connector_standin, nothing_leaks, fault, reason
):
    # The refusal comes at the second chunk; rejected rows sit beyond it too.
    files = {"resignation/a.csv": hr_csv("a", 30, 6)}
    etags = drop(hr_storage, files)
    connector_standin.add_faults(Fault.delay(0), fault, endpoint="ingestion")
    services = make_services(
        hr_storage,
        connector_standin,
        client_factory=fast,
        HRUPLOAD_RECORDS_PER_CALL="5",
        HRUPLOAD_CONCURRENCY="1",
    )

    result = process(services, "resignation/a.csv", nothing_leaks)

    assert result.status == "failed"
    assert reason in result.message
    assert len(connector_standin.uploads) == 1  # no retry of a refusal
    states = check_files(hr_storage, connector_standin, files, etags=etags)
    state = states["resignation/a.csv"]
    assert state.where == "failed"
    assert (state.record.rows, state.record.rejected, state.record.uploaded) == (36, 6, 5)
    assert len(state.rejected) == 6
    assert state.report["rows"] == 36


def test_a_refusal_quoting_a_row_keeps_the_address_out_of_records_and_reports(
    hr_storage, connector_standin, nothing_leaks
):
    files = {"resignation/a.csv": hr_csv("a", 3)}
    etags = drop(hr_storage, files)
    body = "Line 2: unknown user a-1@contoso.com in EmailAddress"
    connector_standin.add_faults(Fault.http(400, body=body), endpoint="ingestion")
    services = make_services(hr_storage, connector_standin, client_factory=fast)

    result = process(services, "resignation/a.csv", nothing_leaks)

    assert result.status == "failed"
    assert "a-1@contoso.com" not in result.message
    assert "unknown user <email" in result.message  # masked by the client or the pipeline
    check_files(hr_storage, connector_standin, files, etags=etags)


def test_401_renews_the_token_and_uploads(hr_storage, connector_standin, nothing_leaks):
    files = {"resignation/a.csv": hr_csv("a", 5)}
    etags = drop(hr_storage, files)
    connector_standin.add_faults(Fault.http(401), endpoint="ingestion")
    services = make_services(hr_storage, connector_standin, client_factory=fast)

    assert process(services, "resignation/a.csv", nothing_leaks).status == "uploaded"

    assert [t.outcome for t in connector_standin.token_requests] == ["issued", "issued"]
    check_files(hr_storage, connector_standin, files, etags=etags)


def test_401_even_with_a_new_token_is_configuration_so_the_file_waits(
    hr_storage, connector_standin, nothing_leaks
):
    files = {"resignation/a.csv": hr_csv("a", 5)}
    etags = drop(hr_storage, files)
    connector_standin.add_faults(Fault.http(401), Fault.http(401), endpoint="ingestion")
    services = make_services(hr_storage, connector_standin, client_factory=fast)

    result = process(services, "resignation/a.csv", nothing_leaks)

    assert result.status == "retrying"
    assert "401" in latest(hr_storage, "resignation/a.csv").error
    check_files(hr_storage, connector_standin, files, etags=etags)
    assert process(services, "resignation/a.csv", nothing_leaks).status == "uploaded"
    check_files(hr_storage, connector_standin, files, etags=etags)


# --------------------------------------------------------------------------- token endpoint


def test_token_endpoint_500s_are_retried(hr_storage, connector_standin, nothing_leaks):
    files = {"resignation/a.csv": hr_csv("a", 5), "resignation/b.csv": hr_csv("b", 5)}
    etags = drop(hr_storage, files)
    services = make_services(hr_storage, connector_standin, client_factory=fast)

    connector_standin.add_faults(Fault.http(500), Fault.http(500), endpoint="token")
    assert process(services, "resignation/a.csv", nothing_leaks).status == "uploaded"

    connector_standin.expire_tokens()
    connector_standin.add_faults(*[Fault.http(500)] * 200, endpoint="token")
    result = process(services, "resignation/b.csv", nothing_leaks)
    assert result.status == "retrying"
    assert "could not get a token" in latest(hr_storage, "resignation/b.csv").error
    check_files(hr_storage, connector_standin, files, etags=etags)


@pytest.mark.parametrize(
    ("setting", "value", "hint"),
    [
        ("HRUPLOAD_APP_SECRET", "not-the-secret", "the app secret is wrong or expired"),
        ("HRUPLOAD_APP_ID", "7e57ffff-0000-4000-8000-00000000dead", "app ID was not found"),
        ("HRUPLOAD_TENANT_ID", "7e57ffff-0000-4000-8000-00000000beef", "tenant was not found"),
    ],
    ids=["wrong-secret", "unknown-app", "unknown-tenant"],
)
def test_credentials_refused_keep_files_waiting_with_what_to_fix(
    hr_storage, connector_standin, nothing_leaks, setting, value, hint
):
    """Not the files' fault: they wait in incoming, the record says what to fix, and the
    sweep does not try every other file against the same refusal."""
    files = {f"resignation/{i}.csv": hr_csv(f"f{i}", 4) for i in range(3)}
    etags = drop(hr_storage, files)
    broken = make_services(hr_storage, connector_standin, client_factory=fast, **{setting: value})

    summary = pipeline.sweep(broken)

    assert [r.status for r in summary.results] == ["retrying"]
    assert len(summary.deferred) == 2
    record = latest(hr_storage, summary.results[0].blob.split("/", 1)[1])
    assert hint in record.error
    if setting == "HRUPLOAD_APP_SECRET":
        nothing_leaks.append(record.error)
        assert value not in record.error
    assert connector_standin.uploads == []
    check_files(hr_storage, connector_standin, files, etags=etags, deferred=summary.deferred)

    fixed = make_services(hr_storage, connector_standin, client_factory=fast)
    assert pipeline.sweep(fixed).count("uploaded") == 3
    check_files(hr_storage, connector_standin, files, etags=etags)


# --------------------------------------------------------------------------- Key Vault


def vault_provider(keyvault_standin, **options) -> KeyVaultSecret:
    return KeyVaultSecret(
        keyvault_standin.url,
        SECRET_NAME,
        credential=keyvault_standin.credential,
        client_options={
            "verify_challenge_resource": False,
            "connection_verify": keyvault_standin.ca_cert_pem_path,
            "retry_total": 0,
            "read_timeout": 0.5,
        }
        | options,
    )


def vault_services(hr_storage, connector_standin, provider):
    return make_services(
        hr_storage,
        connector_standin,
        client_factory=lambda settings: fast(settings, secret_provider=provider),
        HRUPLOAD_APP_SECRET="",
        HRUPLOAD_KEY_VAULT_URL="https://vault.invalid",  # the provider above is used instead
    )


@pytest.mark.parametrize(
    ("fault", "hint"),
    [
        (Fault.http(403), "'Key Vault Secrets User' role"),
        (Fault.http(404), "az keyvault secret set"),
        (Fault.delay(2), "Key Vault did not answer"),
        (Fault.drop(), "Key Vault did not answer"),
    ],
    ids=["403", "404", "timeout", "dropped"],
)
def test_key_vault_failures_keep_files_waiting_with_what_to_fix(
    hr_storage, connector_standin, keyvault_standin, nothing_leaks, fault, hint
):
    files = {"resignation/a.csv": hr_csv("a", 5), "resignation/b.csv": hr_csv("b", 5)}
    etags = drop(hr_storage, files)
    keyvault_standin.add_faults(fault)
    services = vault_services(hr_storage, connector_standin, vault_provider(keyvault_standin))

    summary = pipeline.sweep(services)

    assert [r.status for r in summary.results] == ["retrying"]
    assert hint in (summary.stopped or "")
    assert hint in latest(hr_storage, summary.results[0].blob.split("/", 1)[1]).error
    check_files(hr_storage, connector_standin, files, etags=etags, deferred=summary.deferred)

    assert pipeline.sweep(services).count("uploaded") == 2
    check_files(hr_storage, connector_standin, files, etags=etags)


def test_secret_rotated_at_the_app_before_key_vault_waits_then_picks_up_the_new_one(
    hr_storage, connector_standin, keyvault_standin, nothing_leaks
):
    files = {f"resignation/{c}.csv": hr_csv(c, 4) for c in "abc"}
    etags = drop(hr_storage, {"resignation/a.csv": files["resignation/a.csv"]})
    provider = vault_provider(keyvault_standin)
    services = vault_services(hr_storage, connector_standin, provider)
    assert process(services, "resignation/a.csv", nothing_leaks).status == "uploaded"

    # Someone rotates the app's secret but has not stored the new one in Key Vault yet.
    connector_standin.set_app_secret(connector_standin.app_id, ROTATED)
    connector_standin.expire_tokens()
    etags |= drop(hr_storage, {"resignation/b.csv": files["resignation/b.csv"]})
    result = process(services, "resignation/b.csv", nothing_leaks)
    assert result.status == "retrying"
    assert "AADSTS7000215" in latest(hr_storage, "resignation/b.csv").error

    # Stored in Key Vault: the next run re-reads it once the token endpoint refuses the old.
    keyvault_standin.set_secret(SECRET_NAME, ROTATED)
    etags |= drop(hr_storage, {"resignation/c.csv": files["resignation/c.csv"]})
    summary = pipeline.sweep(services)

    assert summary.count("uploaded") == 2
    reads = keyvault_standin.reads
    assert reads <= 4  # first read, a forced re-read per refusal; never one per chunk
    check_files(hr_storage, connector_standin, files, etags=etags)
    assert json.loads(json.dumps(summary.to_dict(), default=str))["stopped"] is None
