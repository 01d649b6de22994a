"""Settings are read once, checked, and documented everywhere they should be."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hrupload.errors import ConfigError
from hrupload.settings import SETTINGS, load

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
