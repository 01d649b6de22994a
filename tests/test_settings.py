"""Settings are read once, checked, and documented everywhere they should be."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from hrupload.core.errors import ConfigError
from hrupload.settings import (
    HOST_DEFAULT_TIMEOUT,
    SETTINGS,
    fingerprint,
    function_timeout,
    load,
    trigger_bindings,
)

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_load_without_any_environment():
    settings = load({})
    assert settings.incoming == "hr-incoming"
    assert settings.records_per_call == 5000
    assert settings.dedupe_hours == 20
    assert settings.storage is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HRUPLOAD_RECORDS_PER_CALL", "lots"),
        ("HRUPLOAD_RECORDS_PER_CALL", "0"),
        ("HRUPLOAD_GIVE_UP_HOURS", "-1"),
        ("HRUPLOAD_MAX_FILE_MB", "1.5"),
        ("HRUPLOAD_CLOUD", "moon"),
    ],
)
def test_a_malformed_setting_fails_naming_itself(name, value):
    with pytest.raises(ConfigError, match=name):
        load({name: value})


def test_identity_based_storage_needs_the_table_endpoint():
    with pytest.raises(ConfigError, match="HR_STORAGE__tableServiceUri"):
        load({"HR_STORAGE__blobServiceUri": "https://acct.blob.core.windows.net"})
    settings = load(
        {
            "HR_STORAGE__blobServiceUri": "https://acct.blob.core.windows.net",
            "HR_STORAGE__tableServiceUri": "https://acct.table.core.windows.net",
            "HR_STORAGE__clientId": "abc",
        }
    )
    assert settings.storage.table_url.endswith("table.core.windows.net")
    assert settings.storage.client_id == "abc"


def test_missing_connector_settings_are_all_named_at_once():
    with pytest.raises(ConfigError) as caught:
        load({}).require_connector()
    for name in ("HRUPLOAD_TENANT_ID", "HRUPLOAD_APP_ID", "HRUPLOAD_JOB_ID", "KEY_VAULT_URL"):
        assert name in str(caught.value)


def test_sample_local_settings_hold_every_setting():
    values = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    assert {s.name for s in SETTINGS} <= set(values)
    assert values["HR_STORAGE"] == "UseDevelopmentStorage=true"


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in readme]
    assert missing == []


@pytest.mark.parametrize(
    ("same", "value"),
    [
        (("HRUPLOAD_INCOMING_CONTAINER", "HRUPLOAD_PROCESSED_CONTAINER"), "hr-files"),
        (("HRUPLOAD_INCOMING_CONTAINER", "HRUPLOAD_FAILED_CONTAINER"), "hr-files"),
        (("HRUPLOAD_PROCESSED_CONTAINER", "HRUPLOAD_FAILED_CONTAINER"), "HR-Done"),
    ],
)
def test_containers_that_would_loop_are_refused_naming_the_settings(same, value):
    env = {same[0]: value, same[1]: value.lower()}
    with pytest.raises(ConfigError, match="three different containers") as caught:
        load(env)
    assert all(name in str(caught.value) for name in same)


def test_one_container_set_to_anothers_default_is_refused():
    with pytest.raises(ConfigError, match="HRUPLOAD_INCOMING_CONTAINER and HRUPLOAD_FAILED"):
        load({"HRUPLOAD_FAILED_CONTAINER": "hr-incoming"})


def test_the_function_timeout_is_read_from_host_json():
    declared = json.loads((ROOT / "host.json").read_text())["functionTimeout"]
    hours, minutes, seconds = (int(part) for part in declared.split(":"))
    assert load({}).function_timeout == timedelta(hours=hours, minutes=minutes, seconds=seconds)


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("00:10:00", timedelta(minutes=10)),
        ("1.02:00:00", timedelta(days=1, hours=2)),
        ("-1", None),
        (None, HOST_DEFAULT_TIMEOUT),
    ],
)
def test_function_timeout_forms(tmp_path, declared, expected):
    host = tmp_path / "host.json"
    host.write_text(
        json.dumps({"version": "2.0"} | ({"functionTimeout": declared} if declared else {}))
    )
    assert function_timeout(host) == expected
    assert function_timeout(tmp_path / "missing.json") == HOST_DEFAULT_TIMEOUT


@pytest.mark.parametrize("declared", ["an hour", "1:00", "01:00:00:00"])
def test_a_malformed_function_timeout_is_refused(tmp_path, declared):
    host = tmp_path / "host.json"
    host.write_text(json.dumps({"functionTimeout": declared}))
    with pytest.raises(ConfigError, match="functionTimeout"):
        function_timeout(host)


def test_blob_source_is_checked():
    assert load({"HRUPLOAD_BLOB_SOURCE": "logsandcontainerscan"}).blob_source == (
        "LogsAndContainerScan"
    )
    with pytest.raises(ConfigError, match="HRUPLOAD_BLOB_SOURCE"):
        load({"HRUPLOAD_BLOB_SOURCE": "Polling"})


# -- the command line's overrides -------------------------------------------------------------


def test_an_override_wins_over_the_environment_which_wins_over_the_default():
    env = {"HRUPLOAD_MAX_CHUNK_MB": "6"}
    assert load({}).max_chunk_mb == 4
    assert load(env).max_chunk_mb == 6
    assert load(env, {"HRUPLOAD_MAX_CHUNK_MB": "8"}).max_chunk_mb == 8
    assert load(env, {"HRUPLOAD_MAX_CHUNK_MB": None}).max_chunk_mb == 6  # not given


def test_a_malformed_override_fails_naming_the_option_it_came_from():
    options = {"HRUPLOAD_MAX_FILE_MB": "--max-file-mb", "HRUPLOAD_CLOUD": "--cloud"}
    with pytest.raises(ConfigError, match=r"^--max-file-mb must be at least 1, got 0"):
        load({}, {"HRUPLOAD_MAX_FILE_MB": "0"}, options=options)
    with pytest.raises(ConfigError, match=r"^--cloud must be one of commercial, gcc"):
        load({}, {"HRUPLOAD_CLOUD": "moon"}, options=options)
    # The same value from the environment is named by its variable.
    with pytest.raises(ConfigError, match=r"^HRUPLOAD_MAX_FILE_MB must be at least 1"):
        load({"HRUPLOAD_MAX_FILE_MB": "0"}, options=options)


def test_an_override_of_an_undeclared_setting_is_a_bug():
    with pytest.raises(KeyError):
        load({}, {"HRUPLOAD_NO_SUCH_THING": "1"})


@pytest.mark.parametrize(
    ("name", "value"), [("HRUPLOAD_CONCURRENCY", "17"), ("HRUPLOAD_RECORDS_PER_CALL", "100001")]
)
def test_limits_hold_for_the_environment_and_the_command_line_alike(name, value):
    with pytest.raises(ConfigError, match=f"{name} must be at most"):
        load({name: value})
    with pytest.raises(ConfigError, match="--opt must be at most"):
        load({}, {name: value}, options={name: "--opt"})


def test_an_unresolved_key_vault_reference_is_refused_from_either_source():
    reference = "@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/s/)"
    for env, overrides in (
        ({"HRUPLOAD_APP_SECRET": reference}, {}),
        ({}, {"HRUPLOAD_APP_SECRET": reference}),
    ):
        with pytest.raises(ConfigError, match="unresolved Key Vault reference") as caught:
            load(env, overrides)
        assert reference not in str(caught.value)


def test_missing_ids_are_named_by_the_option_on_the_command_line():
    settings = load({}, options={"HRUPLOAD_JOB_ID": "--job-id"})
    with pytest.raises(
        ConfigError,
        match=r"^missing HRUPLOAD_TENANT_ID, HRUPLOAD_APP_ID, --job-id \(or HRUPLOAD_JOB_ID\)",
    ):
        settings.require_connector()
    with pytest.raises(ConfigError) as caught:
        load(
            {"HRUPLOAD_TENANT_ID": "t", "HRUPLOAD_APP_ID": "a", "HRUPLOAD_JOB_ID": "j"}
        ).require_connector()
    assert "HRUPLOAD_APP_SECRET" in str(caught.value)
    load(
        {"HRUPLOAD_TENANT_ID": "t", "HRUPLOAD_APP_ID": "a", "HRUPLOAD_JOB_ID": "j"}
    ).require_connector(certificate=True)


def test_the_cli_and_platform_settings_are_typed_fields(tmp_path):
    settings = load(
        {
            "HRUPLOAD_STATE_DIR": "~/hr-state",
            "HRUPLOAD_LOCK_WAIT": "5",
            "HRUPLOAD_CERTIFICATE_PASSWORD": "pfx-password",
            "AZURE_CLIENT_ID": "identity",
            "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=k",
        }
    )
    assert settings.state_dir == Path.home() / "hr-state"
    assert (settings.lock_wait, settings.managed_identity_client_id) == (5, "identity")
    assert settings.certificate_password == "pfx-password"
    assert "pfx-password" not in repr(settings) and "InstrumentationKey" not in repr(settings)
    assert load({}).state_dir is None and load({}).app_insights is None


def test_trigger_bindings_never_fail_at_indexing():
    assert trigger_bindings({}) == ("hr-incoming", "EventGrid")
    assert trigger_bindings(
        {"HRUPLOAD_INCOMING_CONTAINER": "hr-drop", "HRUPLOAD_BLOB_SOURCE": "logsandcontainerscan"}
    ) == ("hr-drop", "LogsAndContainerScan")
    assert (
        trigger_bindings({"HRUPLOAD_BLOB_SOURCE": "Polling"})[1] == "EventGrid"
    )  # load() names it


def test_the_fingerprint_changes_with_any_setting_read():
    base = fingerprint({})
    assert fingerprint({"HRUPLOAD_DEDUPE_HOURS": "1"}) != base
    assert fingerprint({"HR_STORAGE__blobServiceUri": "https://a"}) != base
    assert fingerprint({"AZURE_CLIENT_ID": "x"}) != base
    assert fingerprint({"UNRELATED": "x"}) == base
