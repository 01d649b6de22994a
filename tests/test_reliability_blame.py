"""The failure taxonomy (issue 11, point 2), through the whole pipeline on loopback.

``errors.blame()`` is the one decision. A failure that would hit every file alike (an
outage, or our own configuration) keeps each file in incoming with the reason recorded,
stops the sweep at the first file (the rest are deferred, untried), and makes the blob
trigger raise ``RetryLater`` so the host retries. Only the file's own problems send it to
failed. Every case here ends with the fault removed and every file delivered once: the
table in docs/reliability.md lists them.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from hrupload import compose
from hrupload.app import pipeline
from hrupload_dev.connector import JOB_APP_MISMATCH, Fault
from tests.invariants import check_files, hr_csv
from tests.plugins.standins import TEST_CERT_JOB_ID
from tests.reliability import drop, make_services, names

PROXY_LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in to continue</title></head>"
    "<body><form action='/login'>Corporate proxy: please sign in</form></body></html>"
)


def fast(settings):
    """The production client with short back-off, so a 2 s budget sees several tries."""
    client = compose.make_client(settings)
    client.max_backoff = 0.2
    return client


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Case:
    """How to break every file alike, what the reason must say, and how to undo it."""

    #: (storage, standin, keyvault) -> settings overrides; may arm faults.
    arm: Callable[..., dict[str, str]]
    hint: str
    disarm: Callable[..., None] = lambda storage, standin, keyvault: standin.clear_faults()


def _faults(endpoint: str, fault: Fault) -> Callable[..., dict[str, str]]:
    def arm(storage, standin, keyvault) -> dict[str, str]:
        standin.add_faults(*[fault] * 200, endpoint=endpoint)
        return {}

    return arm


def _vault_forbidden(storage, standin, keyvault) -> dict[str, str]:
    keyvault.add_faults(*[Fault.http(403)] * 20)
    return {"HRUPLOAD_KEY_VAULT_URL": keyvault.url, "HRUPLOAD_APP_SECRET": ""}


def _processed_container_gone(storage, standin, keyvault) -> dict[str, str]:
    # Deleted (or never creatable) after start-up: every file's archive write fails.
    storage.blob_service.delete_container(storage.processed)
    return {}


def _processed_container_back(storage, standin, keyvault) -> None:
    import time

    from azure.core.exceptions import ResourceExistsError

    for _ in range(50):  # Azurite keeps a deleted container's name busy for a moment
        try:
            storage.blob_service.create_container(storage.processed)
            return
        except ResourceExistsError:
            time.sleep(0.1)


CASES = {
    "403-job-mismatch": Case(
        lambda *_: {"HRUPLOAD_JOB_ID": TEST_CERT_JOB_ID}, "check --app-id and --job-id"
    ),
    "403-job-mismatch-body": Case(
        _faults("ingestion", Fault.http(403, body=JOB_APP_MISMATCH)),
        "check --app-id and --job-id",
    ),
    "404-wrong-ingestion-path": Case(
        lambda s, standin, k: {"HRUPLOAD_INGESTION_URL": standin.url + "/wrong/path"},
        "404",
    ),
    "token-html-200": Case(
        _faults("token", Fault.http(200, body=PROXY_LOGIN_PAGE, content_type="text/html")),
        "proxy",
    ),
    "token-html-403": Case(
        _faults("token", Fault.http(403, body=PROXY_LOGIN_PAGE, content_type="text/html")),
        "proxy",
    ),
    "token-401-wrong-secret": Case(
        lambda *_: {"HRUPLOAD_APP_SECRET": "not-the-secret"}, "the app secret is wrong"
    ),
    "connection-refused": Case(
        lambda *_: {"HRUPLOAD_INGESTION_URL": f"http://127.0.0.1:{closed_port()}"},
        "127.0.0.1",
    ),
    "tls-untrusted": Case(
        # The Key Vault stand-in speaks HTTPS with a certificate no default bundle trusts.
        lambda s, standin, keyvault: {"HRUPLOAD_LOGIN_URL": keyvault.url},
        "127.0.0.1",
    ),
    "key-vault-403": Case(
        _vault_forbidden,
        "'Key Vault Secrets User' role",
        lambda s, standin, keyvault: keyvault.clear_faults(),
    ),
    "storage-container-gone": Case(
        _processed_container_gone, "does not exist", _processed_container_back
    ),
}


def vault_services(storage, standin, keyvault, overrides):
    """With Key Vault: the real secret cache, trusting the stand-in's CA."""
    from hrupload.adapters.keyvault import KeyVaultSecret
    from tests.plugins.standins import SECRET_NAME

    provider = KeyVaultSecret(
        keyvault.url,
        SECRET_NAME,
        credential=keyvault.credential,
        client_options={
            "verify_challenge_resource": False,
            "connection_verify": keyvault.ca_cert_pem_path,
            "retry_total": 0,
        },
    )

    def client(settings):
        client = compose.make_client(settings, secret_provider=provider)
        client.max_backoff = 0.2
        return client

    return make_services(storage, standin, client_factory=client, **overrides)


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_an_outage_keeps_every_file_waiting_stops_the_sweep_and_the_trigger_retries(
    hr_storage, connector_standin, keyvault_standin, case
):
    files = {f"resignation/{i}.csv": hr_csv(f"f{i}", 4, 1) for i in range(3)}
    etags = drop(hr_storage, files)
    overrides = case.arm(hr_storage, connector_standin, keyvault_standin)
    if "HRUPLOAD_KEY_VAULT_URL" in overrides:
        broken = vault_services(hr_storage, connector_standin, keyvault_standin, overrides)
    else:
        broken = make_services(hr_storage, connector_standin, client_factory=fast, **overrides)

    summary = pipeline.sweep(broken)

    # The first file stays with the reason; the sweep stops there and defers the rest.
    assert [r.status for r in summary.results] == ["retrying"]
    assert case.hint in (summary.stopped or "")
    assert len(summary.deferred) == 2
    assert summary.profile_refresh is None
    assert names(hr_storage, hr_storage.incoming) == sorted(files)
    assert [n for n in names(hr_storage, hr_storage.failed) if not n.endswith(".json")] == []
    first = summary.results[0].blob.split("/", 1)[1]
    record = hr_storage.runlog().ledger_get(summary.results[0].blob, etags[first])
    if record is not None:  # the run log itself may be what is out of reach
        assert record.status == "retrying"
        assert case.hint in (record.error or "")

    # The blob trigger raises, so the Functions host retries the file.
    with pytest.raises(pipeline.RetryLater) as raised:
        pipeline.process_blob(broken, summary.deferred[0], raise_on_retry=True)
    assert raised.value.outage and case.hint in raised.value.outage
    assert names(hr_storage, hr_storage.incoming) == sorted(files)

    # Fixed: nothing was lost meanwhile, and the next sweep delivers every file once.
    case.disarm(hr_storage, connector_standin, keyvault_standin)
    check_files(hr_storage, connector_standin, files, etags=etags, deferred=summary.deferred[1:])
    fixed = make_services(hr_storage, connector_standin, client_factory=fast)
    again = pipeline.sweep(fixed)
    assert (again.count("partial"), again.stopped) == (3, None)
    check_files(hr_storage, connector_standin, files, etags=etags)


@pytest.mark.parametrize(
    "fault",
    [
        Fault.http(400, body={"error": {"code": "BadRequest", "message": "Invalid file."}}),
        Fault.http(413, body="Request Entity Too Large"),
    ],
    ids=["400", "413"],
)
def test_a_refusal_about_the_content_fails_that_file_and_the_sweep_goes_on(
    hr_storage, connector_standin, fault
):
    """The file's own fault: to failed, with its report; the other files are sent."""
    files = {f"resignation/{i}.csv": hr_csv(f"f{i}", 4) for i in range(3)}
    etags = drop(hr_storage, files)
    connector_standin.add_faults(fault, endpoint="ingestion")
    services = make_services(hr_storage, connector_standin, client_factory=fast)

    summary = pipeline.sweep(services)

    assert sorted(r.status for r in summary.results) == ["failed", "uploaded", "uploaded"]
    assert (summary.stopped, summary.deferred) == (None, [])
    states = check_files(hr_storage, connector_standin, files, etags=etags)
    assert sorted(s.where for s in states.values()) == ["failed", "processed", "processed"]
