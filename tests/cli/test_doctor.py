"""``hrupload doctor`` against real Azurite and the stand-ins, with each fault injected.

Every run checks that the secret and tokens never show in what the command printed, and
that nothing was left behind in storage or sent as a file.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hrupload.adapters.storage import HrStorage
from hrupload.cli.doctor import Seams
from hrupload.cli.main import main
from hrupload_dev.azurite import Azurite
from hrupload_dev.connector import ConnectorStandIn, Fault
from hrupload_dev.keyvault import KeyVaultStandIn
from tests.plugins.standins import (
    CERTIFICATE_SECRET_NAME,
    SECRET_NAME,
    TEST_APP_SECRET,
    StandInCertificate,
)

TOKEN = re.compile(r"standin\.[A-Za-z0-9_-]{20,}")  # the shape of every stand-in token
CHECKS = [
    "settings",
    "connector",
    "profile",
    "storage",
    "incoming",
    "processed",
    "failed",
    "table",
    "secret",
    "token",
    "ingestion",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting or proxy from the developer's shell leaks into a run."""
    for name in list(os.environ):
        if name.startswith(("HRUPLOAD_", "HR_STORAGE")) or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli_env(standin: ConnectorStandIn, **changes: str | None) -> dict[str, str | None]:
    """The CLI set-up: the connector's settings and secret, no storage."""
    return {**standin.env(include_secret=True), **changes}


def function_env(
    storage: HrStorage, azurite: Azurite, standin: ConnectorStandIn, **changes: str | None
) -> dict[str, str | None]:
    """The Function set-up: storage too, on this test's containers and table."""
    storage_env = {
        "HR_STORAGE": azurite.connection_string,
        "HRUPLOAD_INCOMING_CONTAINER": storage.incoming,
        "HRUPLOAD_PROCESSED_CONTAINER": storage.processed,
        "HRUPLOAD_FAILED_CONTAINER": storage.failed,
        "HRUPLOAD_RUNS_TABLE": storage.runs_table,
    }
    return cli_env(standin, **(storage_env | changes))


def doctor(
    *args: str, env: dict[str, str | None], obj: Seams | None = None, as_json: bool = True
) -> tuple[Result, dict[str, dict[str, str]]]:
    """Run ``hrupload doctor`` (with --json unless told otherwise); the checks by name."""
    argv = ["doctor", *args, *(["--json"] if as_json else [])]
    result = CliRunner().invoke(main, argv, env={"COLUMNS": "300", **env}, obj=obj)
    for text in (result.stdout, result.stderr):
        assert TEST_APP_SECRET not in text, "the secret shows"
        assert not TOKEN.search(text), "a token shows"
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    if not as_json:
        return result, {}
    doc = json.loads(result.stdout)
    return result, {c["name"]: c for c in doc["data"]["checks"]}


def outcomes(checks: dict[str, dict[str, str]]) -> dict[str, str]:
    return {name: c["outcome"] for name, c in checks.items()}


def blobs_in(storage: HrStorage) -> list[str]:
    return [
        info.path
        for container in (storage.incoming, storage.processed, storage.failed)
        for info in storage.list_blobs(container)
    ]


# -- all good -------------------------------------------------------------------------------


def test_a_good_function_set_up_passes_every_check_and_leaves_nothing_behind(
    hr_storage: HrStorage, azurite: Azurite, connector_standin: ConnectorStandIn
) -> None:
    result, checks = doctor(env=function_env(hr_storage, azurite, connector_standin))

    assert result.exit_code == 0, result.output
    assert list(checks) == CHECKS
    assert set(outcomes(checks).values()) == {"ok"}, checks
    assert hr_storage.incoming in checks["incoming"]["detail"]
    assert "written and deleted" in checks["table"]["detail"]
    assert "HTTP 404" in checks["ingestion"]["detail"]  # the stand-in's answer to GET /
    assert blobs_in(hr_storage) == []
    table = hr_storage.table_service.get_table_client(hr_storage.runs_table)
    assert list(table.list_entities()) == []
    assert connector_standin.uploads == []  # no HR data, not even an empty file
    assert [r.outcome for r in connector_standin.token_requests] == ["issued"]


def test_the_json_document_matches_its_schema_passing_or_failing(
    connector_standin: ConnectorStandIn,
) -> None:
    from hrupload.app.doctor import Outcome
    from tests.cli.test_json_schemas import checked, schema_docs

    good, _ = doctor(env=cli_env(connector_standin))
    bad, _ = doctor(env=cli_env(connector_standin, HRUPLOAD_APP_SECRET="not-the-secret-at-all"))

    assert checked("doctor", good.stdout)["ok"] is True
    data = checked("doctor", bad.stdout)
    assert data["ok"] is False
    assert [c["name"] for c in data["checks"]] == CHECKS
    items = schema_docs()["doctor.schema.json"]["properties"]["data"]["properties"]["checks"]
    assert set(items["items"]["properties"]["outcome"]["enum"]) == {o.value for o in Outcome}


def test_the_cli_set_up_passes_with_storage_skipped_naming_the_setting(
    connector_standin: ConnectorStandIn,
) -> None:
    result, checks = doctor(env=cli_env(connector_standin))

    assert result.exit_code == 0, result.output
    assert checks["storage"]["outcome"] == "skipped"
    assert "HR_STORAGE" in checks["storage"]["detail"]
    for name in ("incoming", "processed", "failed", "table"):
        assert checks[name]["detail"] == "skipped: storage skipped"
    assert {outcomes(checks)[n] for n in ("settings", "secret", "token", "ingestion")} == {"ok"}
    assert checks["secret"]["detail"].startswith("HRUPLOAD_APP_SECRET set in the environment")


def test_the_checklist_marks_each_line_and_puts_the_fix_under_a_failure(
    connector_standin: ConnectorStandIn,
) -> None:
    env = cli_env(connector_standin, HRUPLOAD_APP_SECRET="not-the-secret")
    result, _ = doctor(env=env, as_json=False)

    lines = result.stdout.splitlines()
    assert result.exit_code == 1
    assert lines[0].startswith("✓ settings")
    assert any(line.startswith("– storage") for line in lines)
    token = next(i for i, line in enumerate(lines) if line.startswith("✗ token"))
    assert "AADSTS7000215" in lines[token]
    assert lines[token + 1].strip().startswith("fix: the app secret is wrong or expired")
    assert lines[-1] == "1 of 11 checks failed."


def test_the_options_override_the_environment(connector_standin: ConnectorStandIn) -> None:
    result, checks = doctor(
        "--tenant-id", "00000000-0000-4000-8000-00000000dead", env=cli_env(connector_standin)
    )

    assert result.exit_code == 1
    assert "AADSTS90002" in checks["token"]["detail"]


def test_a_usage_error_exits_2_and_a_bad_option_value_is_a_failed_check_naming_it(
    connector_standin: ConnectorStandIn,
) -> None:
    usage = CliRunner().invoke(main, ["doctor", "--no-such-option"], env=cli_env(connector_standin))
    assert usage.exit_code == 2

    result, checks = doctor("--cloud", "mars", env=cli_env(connector_standin))
    assert result.exit_code == 1
    assert checks["settings"]["detail"].startswith("--cloud must be one of")


# -- settings and profile -------------------------------------------------------------------


def test_a_malformed_setting_fails_the_first_check_naming_it_and_skips_the_rest(
    connector_standin: ConnectorStandIn,
) -> None:
    result, checks = doctor(env=cli_env(connector_standin, HRUPLOAD_CONCURRENCY="lots"))

    assert result.exit_code == 1
    assert checks["settings"]["outcome"] == "failed"
    assert "HRUPLOAD_CONCURRENCY must be a whole number" in checks["settings"]["detail"]
    assert checks["settings"]["fix"]
    assert {outcomes(checks)[n] for n in CHECKS[1:]} == {"skipped"}
    assert connector_standin.token_requests == []


def test_missing_ids_fail_the_connector_check_and_skip_the_token(
    connector_standin: ConnectorStandIn,
) -> None:
    result, checks = doctor(env=cli_env(connector_standin, HRUPLOAD_JOB_ID=None))

    assert result.exit_code == 1
    assert checks["connector"]["outcome"] == "failed"
    assert "HRUPLOAD_JOB_ID" in checks["connector"]["detail"]
    assert "secret" not in checks["connector"]["detail"]  # the secret has a check of its own
    assert checks["token"]["detail"] == "skipped: connector IDs failed"
    assert checks["ingestion"]["outcome"] == "ok"  # needs no IDs


@pytest.mark.parametrize(
    ("profile", "says"),
    [
        ('{"scenarios": {"nonsense": {}}}', "nonsense"),
        ("{not json", "not valid JSON"),
        ("/nowhere/profile.json", "/nowhere/profile.json"),
    ],
)
def test_a_bad_profile_fails_the_profile_check(
    connector_standin: ConnectorStandIn, profile: str, says: str
) -> None:
    result, checks = doctor(env=cli_env(connector_standin, HRUPLOAD_PROFILE=profile))

    assert result.exit_code == 1
    assert checks["profile"]["outcome"] == "failed"
    assert says in checks["profile"]["detail"]
    assert checks["token"]["outcome"] == "ok"  # the rest still ran


def test_a_good_profile_file_passes(connector_standin: ConnectorStandIn, tmp_path: Path) -> None:
    path = tmp_path / "profile.json"
    path.write_text('{"scenarios": {"resignation": {}}}')

    result, checks = doctor(env=cli_env(connector_standin, HRUPLOAD_PROFILE=str(path)))

    assert result.exit_code == 0, checks
    assert checks["profile"]["detail"] == f"{path}: valid (resignation)"


# -- storage --------------------------------------------------------------------------------


def test_storage_that_does_not_answer_fails_fast_and_skips_the_containers(
    hr_storage: HrStorage, azurite: Azurite, connector_standin: ConnectorStandIn
) -> None:
    dead = azurite.connection_string
    for port in set(re.findall(r"127\.0\.0\.1:(\d+)", dead)):
        dead = dead.replace(f":{port}/", f":{closed_port()}/")
    env = function_env(hr_storage, azurite, connector_standin, HR_STORAGE=dead)

    started = time.monotonic()
    result, checks = doctor(env=env)

    assert time.monotonic() - started < 10  # no retries
    assert result.exit_code == 1
    assert checks["storage"]["outcome"] == "failed"
    assert "storage did not answer" in checks["storage"]["detail"]
    assert "HR_STORAGE" in checks["storage"]["fix"]
    for name in ("incoming", "processed", "failed", "table"):
        assert checks[name]["detail"] == "skipped: storage failed"
    assert checks["token"]["outcome"] == "ok"


def test_a_missing_container_fails_its_check_naming_the_setting(
    hr_storage: HrStorage, azurite: Azurite, connector_standin: ConnectorStandIn
) -> None:
    hr_storage.blob_service.delete_container(hr_storage.failed)

    result, checks = doctor(env=function_env(hr_storage, azurite, connector_standin))

    assert result.exit_code == 1
    assert outcomes(checks)["incoming"] == outcomes(checks)["processed"] == "ok"
    failed = checks["failed"]
    assert failed["outcome"] == "failed"
    assert failed["detail"] == f"container {hr_storage.failed!r} does not exist"
    assert "HRUPLOAD_FAILED_CONTAINER" in failed["fix"]
    assert f"--name {hr_storage.failed}" in failed["fix"]


def test_a_missing_table_fails_its_check_naming_the_setting(
    hr_storage: HrStorage, azurite: Azurite, connector_standin: ConnectorStandIn
) -> None:
    hr_storage.table_service.delete_table(hr_storage.runs_table)

    result, checks = doctor(env=function_env(hr_storage, azurite, connector_standin))

    assert result.exit_code == 1
    assert checks["table"]["detail"] == f"table {hr_storage.runs_table!r} does not exist"
    assert "HRUPLOAD_RUNS_TABLE" in checks["table"]["fix"]


def test_a_test_blob_left_behind_by_a_crash_is_never_processed(
    hr_storage: HrStorage, connector_standin: ConnectorStandIn
) -> None:
    """What the container check writes, left in incoming as if the doctor had died before
    deleting it: the blob trigger and the sweep both pass over it."""
    from hrupload.app import pipeline
    from tests.app.test_pipeline import make_services

    name = "hrupload-doctor-0123456789abcdef"
    hr_storage.put_blob(
        hr_storage.incoming, name, b"", metadata=pipeline.FOLDER_METADATA, overwrite=False
    )
    services = make_services(hr_storage, connector_standin)

    assert pipeline.process_blob(services, name).status == "skipped"
    assert pipeline.sweep(services).results == []
    assert connector_standin.uploads == []
    assert hr_storage.blob_exists(hr_storage.incoming, name)  # not moved to failed either


# -- secret and token -----------------------------------------------------------------------


def test_a_wrong_secret_fails_the_token_with_the_aadsts_hint(
    connector_standin: ConnectorStandIn,
) -> None:
    wrong = "wrong-secret-value-1234"
    result, checks = doctor(env=cli_env(connector_standin, HRUPLOAD_APP_SECRET=wrong))

    assert result.exit_code == 1
    token = checks["token"]
    assert token["outcome"] == "failed"
    assert "[AADSTS7000215]" in token["detail"]
    assert token["fix"].startswith("the app secret is wrong or expired")
    assert wrong not in result.stdout
    assert checks["secret"]["outcome"] == "ok"  # it was read; the token endpoint refused it


@pytest.mark.parametrize(
    ("setting", "code", "fix"),
    [
        ("HRUPLOAD_TENANT_ID", "AADSTS90002", "the tenant was not found"),
        ("HRUPLOAD_APP_ID", "AADSTS700016", "the app ID was not found"),
    ],
)
def test_a_wrong_tenant_or_app_fails_the_token_with_its_hint(
    connector_standin: ConnectorStandIn, setting: str, code: str, fix: str
) -> None:
    env = cli_env(connector_standin, **{setting: "00000000-0000-4000-8000-00000000dead"})
    result, checks = doctor(env=env)

    assert result.exit_code == 1
    assert f"[{code}]" in checks["token"]["detail"]
    assert checks["token"]["fix"].startswith(fix)


def test_a_token_endpoint_that_does_not_answer_fails_fast(
    connector_standin: ConnectorStandIn,
) -> None:
    env = cli_env(connector_standin, HRUPLOAD_LOGIN_URL=f"http://127.0.0.1:{closed_port()}")
    started = time.monotonic()
    result, checks = doctor(env=env)

    assert time.monotonic() - started < 10
    assert result.exit_code == 1
    assert "failed before any answer" in checks["token"]["detail"]
    assert "--login-url" in checks["token"]["fix"]


def test_no_secret_at_all_fails_the_secret_check_saying_what_to_set(
    connector_standin: ConnectorStandIn,
) -> None:
    result, checks = doctor(env=cli_env(connector_standin, HRUPLOAD_APP_SECRET=None))

    assert result.exit_code == 1
    assert checks["secret"]["detail"] == "no app secret or certificate is set"
    assert "HRUPLOAD_KEY_VAULT_URL" in checks["secret"]["fix"]
    assert checks["token"]["detail"] == "skipped: secret or certificate failed"


def test_a_certificate_file_is_checked_and_gets_a_token(
    connector_standin: ConnectorStandIn, test_certificate: StandInCertificate
) -> None:
    env = cli_env(
        connector_standin,
        HRUPLOAD_APP_SECRET=None,
        HRUPLOAD_APP_ID=test_certificate.app_id,
        HRUPLOAD_JOB_ID=test_certificate.job_id,
    )
    result, checks = doctor("--certificate", str(test_certificate.pem_path), env=env)

    assert result.exit_code == 0, checks
    assert checks["secret"]["detail"] == f"certificate {test_certificate.pem_path} read"
    assert checks["token"]["outcome"] == "ok"


def key_vault(standin: KeyVaultStandIn, name: str = SECRET_NAME) -> Seams:
    """The seam build_services has, handed in as click's context object: a real
    KeyVaultSecret talking to the HTTPS stand-in."""
    from hrupload.adapters.keyvault import KeyVaultSecret

    provider = KeyVaultSecret(
        standin.url,
        name,
        credential=standin.credential,
        client_options={
            "verify_challenge_resource": False,
            "connection_verify": standin.ca_cert_pem_path,
            "retry_total": 0,
        },
    )
    return Seams(secret_provider=provider)


def vault_env(connector: ConnectorStandIn, vault: KeyVaultStandIn) -> dict[str, str | None]:
    return cli_env(connector, HRUPLOAD_APP_SECRET=None, HRUPLOAD_KEY_VAULT_URL=vault.url)


def test_the_secret_read_from_key_vault_gets_a_token(
    connector_standin: ConnectorStandIn, keyvault_standin: KeyVaultStandIn
) -> None:
    env = vault_env(connector_standin, keyvault_standin)
    result, checks = doctor(env=env, obj=key_vault(keyvault_standin))

    assert result.exit_code == 0, checks
    assert checks["secret"]["detail"] == f"secret {SECRET_NAME!r} read from {keyvault_standin.url}"
    assert checks["token"]["outcome"] == "ok"
    assert keyvault_standin.reads == 1  # read once, for both checks


def test_a_certificate_read_from_key_vault_gets_a_token(
    connector_standin: ConnectorStandIn,
    keyvault_standin: KeyVaultStandIn,
    test_certificate: StandInCertificate,
) -> None:
    env = vault_env(connector_standin, keyvault_standin) | {
        "HRUPLOAD_CERTIFICATE_NAME": CERTIFICATE_SECRET_NAME,
        "HRUPLOAD_APP_ID": test_certificate.app_id,
        "HRUPLOAD_JOB_ID": test_certificate.job_id,
    }
    result, checks = doctor(env=env, obj=key_vault(keyvault_standin, CERTIFICATE_SECRET_NAME))

    assert result.exit_code == 0, checks
    assert checks["secret"]["detail"].startswith(f"certificate {CERTIFICATE_SECRET_NAME!r} read")
    assert checks["token"]["outcome"] == "ok"
    assert "BEGIN" not in result.stdout  # the key never shows


def test_key_vault_refusing_fails_the_secret_check_with_the_role_to_grant(
    connector_standin: ConnectorStandIn, keyvault_standin: KeyVaultStandIn
) -> None:
    keyvault_standin.add_faults(Fault.http(403))
    env = vault_env(connector_standin, keyvault_standin)
    result, checks = doctor(env=env, obj=key_vault(keyvault_standin))

    assert result.exit_code == 1
    assert "forbidden" in checks["secret"]["detail"]
    assert "Key Vault Secrets User" in checks["secret"]["detail"]
    assert checks["token"]["detail"] == "skipped: secret or certificate failed"
    assert connector_standin.token_requests == []


def test_a_secret_missing_from_key_vault_fails_the_secret_check_saying_how_to_set_it(
    connector_standin: ConnectorStandIn, keyvault_standin: KeyVaultStandIn
) -> None:
    env = vault_env(connector_standin, keyvault_standin)
    result, checks = doctor(env=env, obj=key_vault(keyvault_standin, "no-such-secret"))

    assert result.exit_code == 1
    assert "does not exist" in checks["secret"]["detail"]
    assert "az keyvault secret set" in checks["secret"]["detail"]


# -- the ingestion host ---------------------------------------------------------------------


def test_an_unresolvable_ingestion_host_fails_naming_it(
    connector_standin: ConnectorStandIn,
) -> None:
    host = "nowhere.example.invalid"
    env = cli_env(connector_standin, HRUPLOAD_INGESTION_URL=f"https://{host}")
    result, checks = doctor(env=env)

    assert result.exit_code == 1
    assert checks["ingestion"]["detail"] == f"cannot resolve {host}"
    assert host in checks["ingestion"]["fix"]
    assert checks["token"]["outcome"] == "ok"


def test_an_unreachable_proxy_fails_the_ingestion_check_naming_the_proxy(
    connector_standin: ConnectorStandIn,
) -> None:
    """The proxy resolves the name, so the doctor does not: a host no DNS knows is fine."""
    env = cli_env(
        connector_standin,
        HRUPLOAD_INGESTION_URL="https://ingest.example.invalid",
        HTTPS_PROXY=f"http://user:pa55word@127.0.0.1:{closed_port()}",
    )
    result, checks = doctor(env=env)

    assert result.exit_code == 1
    ingestion = checks["ingestion"]
    assert (
        "the proxy for ingest.example.invalid refused or could not be reached"
        in (ingestion["detail"])
    )
    assert "HTTPS_PROXY" in ingestion["fix"]
    assert "pa55word" not in result.stdout
    assert checks["token"]["outcome"] == "ok"  # loopback never goes through the proxy


def test_no_proxy_sends_the_ingestion_host_direct(connector_standin: ConnectorStandIn) -> None:
    env = cli_env(
        connector_standin,
        HRUPLOAD_INGESTION_URL="https://ingest.example.invalid",
        HTTPS_PROXY=f"http://127.0.0.1:{closed_port()}",
        NO_PROXY="example.invalid",
    )
    _, checks = doctor(env=env)

    assert checks["ingestion"]["detail"] == "cannot resolve ingest.example.invalid"
