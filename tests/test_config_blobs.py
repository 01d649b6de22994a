"""Configuration in a blob: ``blob:<name>`` in HRUPLOAD_PROFILE, HRUPLOAD_CONNECTORS or a
connector's ``profile`` names a blob of the config container (HRUPLOAD_CONFIG_CONTAINER).

The Function reads it at each run (a new ETag: the services are rebuilt), so an operator
changes the profile with an upload; a blob that is missing or invalid keeps every file in
incoming with a reason naming it. Against real Azurite and the connector stand-in.
"""

from __future__ import annotations

import importlib
import json
import re
import secrets
import sys
from pathlib import Path

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest
from click.testing import CliRunner

from hrupload import compose, functions
from hrupload.adapters.storage import HrStorage
from hrupload.cli.main import main
from hrupload.core.errors import ConfigError
from hrupload.settings import MAX_CONFIG_BYTES, ConfigBlob, StorageSettings, load
from tests.plugins.azurite import storage_env
from tests.reliability import connection_string
from tests.storage_proxy import proxied

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
DEPLOY_MD = ROOT / "docs" / "deploy.md"

#: Maps nothing: the sample's own column names are the scenario's.
PROFILE_A = '{"description": "A: the default columns"}'
#: Names columns the sample does not have: a file checked with it has every row rejected.
PROFILE_B = json.dumps(
    {
        "description": "B: the HR system's own names",
        "scenarios": {
            "resignation": {
                "columns": {
                    "EmailAddress": "Work Email",
                    "ResignationDate": "Notice Date",
                    "LastWorkingDate": "Last Day",
                }
            }
        },
    }
)


# -- settings: the text source is pluggable, the blob is read once -------------------------------


class Shelf:
    """A real reader over a dict: what the composition root passes, without storage."""

    def __init__(self, **blobs: str) -> None:
        self.blobs = blobs
        self.reads: list[tuple[str, str]] = []

    def __call__(self, storage: StorageSettings, container: str, name: str) -> ConfigBlob:
        self.reads.append((container, name))
        if name not in self.blobs:
            raise ConfigError("the blob does not exist")
        return ConfigBlob(name, self.blobs[name], etag=f'"{len(self.reads)}"')


def test_a_blob_profile_is_read_through_the_reader_and_parsed_naming_the_blob():
    shelf = Shelf(**{"profile.json": PROFILE_B})
    env = {"HR_STORAGE": "UseDevelopmentStorage=true", "HRUPLOAD_PROFILE": "blob:profile.json"}

    loaded = load(env, read_config=shelf)

    assert shelf.reads == [("hr-config", "profile.json")]
    assert loaded.config_blobs["profile.json"].etag == '"1"'
    profile = loaded.load_profile()
    assert profile.source == "blob:profile.json (container hr-config, from HRUPLOAD_PROFILE)"
    assert profile.active_scenarios() == ["resignation"]


def test_connectors_and_a_connectors_profile_come_from_blobs_each_read_once():
    connectors = {
        "connectors": [
            {"name": "a", "folder": "a", "job_id": "job-a", "profile": "blob:p.json"},
            {"name": "b", "folder": "b", "job_id": "job-b", "profile": "blob:p.json"},
        ]
    }
    shelf = Shelf(**{"connectors.json": json.dumps(connectors), "p.json": PROFILE_B})
    env = {
        "HR_STORAGE": "UseDevelopmentStorage=true",
        "HRUPLOAD_CONNECTORS": "blob:connectors.json",
        "HRUPLOAD_CONFIG_CONTAINER": "settings",
    }

    loaded = load(env, read_config=shelf)

    assert shelf.reads == [("settings", "connectors.json"), ("settings", "p.json")]
    assert [c.name for c in loaded.connectors] == ["a", "b"]
    own = loaded.for_connector(loaded.connectors[1])
    assert own.load_profile().active_scenarios() == ["resignation"]


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"HRUPLOAD_PROFILE": "blob:gone.json"}, "HRUPLOAD_PROFILE blob:gone.json"),
        ({"HRUPLOAD_CONNECTORS": "blob:gone.json"}, "HRUPLOAD_CONNECTORS blob:gone.json"),
        (
            {
                "HRUPLOAD_CONNECTORS": '{"connectors": [{"name": "x", "folder": "x", '
                '"job_id": "j", "profile": "blob:gone.json"}]}'
            },
            "connector 'x' (connectors[0]) profile blob:gone.json",
        ),
    ],
)
def test_a_missing_blob_is_a_config_error_naming_the_setting_and_the_blob(env, says):
    with pytest.raises(ConfigError) as caught:
        load({"HR_STORAGE": "UseDevelopmentStorage=true", **env}, read_config=Shelf())
    assert says in str(caught.value)
    assert "container hr-config" in str(caught.value)
    assert "does not exist" in str(caught.value)


def test_a_blob_reference_without_storage_says_to_set_it():
    with pytest.raises(ConfigError, match="no storage is set: set HR_STORAGE"):
        load({"HRUPLOAD_PROFILE": "blob:profile.json"}, read_config=Shelf())
    with pytest.raises(ConfigError, match="must be followed by a blob name"):
        load({"HR_STORAGE": "x", "HRUPLOAD_PROFILE": "blob:"}, read_config=Shelf())


def test_the_config_container_may_not_be_one_of_the_file_containers():
    with pytest.raises(ConfigError, match="HRUPLOAD_CONFIG_CONTAINER"):
        load({"HRUPLOAD_CONFIG_CONTAINER": "hr-incoming"})


# -- the reader over storage: size-limited, every failure a sentence ------------------------------


@pytest.fixture
def config_container(hr_storage: HrStorage):
    """A config container of this test's own (HRUPLOAD_CONFIG_CONTAINER)."""
    name = f"hr-config-{secrets.token_hex(3)}"
    hr_storage.blob_service.create_container(name)
    yield name
    hr_storage.blob_service.delete_container(name)


def test_the_reader_reads_a_blob_with_its_etag_and_sees_a_new_version(
    hr_storage, azurite, config_container
):
    hr_storage.put_blob(config_container, "profile.json", PROFILE_A.encode(), overwrite=True)
    env = storage_env(azurite, hr_storage) | {
        "HRUPLOAD_CONFIG_CONTAINER": config_container,
        "HRUPLOAD_PROFILE": "blob:profile.json",
    }
    blobs = compose.ConfigBlobs()

    loaded = compose.load_settings(env, config_blobs=blobs)

    assert loaded.load_profile().active_scenarios() != ["resignation"]  # A maps nothing
    assert not blobs.changed(loaded)
    hr_storage.put_blob(config_container, "profile.json", PROFILE_B.encode(), overwrite=True)
    assert blobs.changed(loaded)
    assert compose.load_settings(env).load_profile().active_scenarios() == ["resignation"]
    hr_storage.delete_blob(config_container, "profile.json")
    assert blobs.changed(loaded), "a blob gone is a change: reading again says why"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"{" + b" " * MAX_CONFIG_BYTES + b"}", "over 1024 KiB"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b"{not json", "not valid JSON"),
    ],
)
def test_an_unusable_blob_is_refused_naming_it(
    hr_storage, azurite, config_container, content, says
):
    hr_storage.put_blob(config_container, "connectors.json", content, overwrite=True)
    env = storage_env(azurite, hr_storage) | {
        "HRUPLOAD_CONFIG_CONTAINER": config_container,
        "HRUPLOAD_CONNECTORS": "blob:connectors.json",
    }
    with pytest.raises(ConfigError) as caught:
        compose.load_settings(env)
    assert says in str(caught.value)
    assert f"HRUPLOAD_CONNECTORS blob:connectors.json (container {config_container})" in str(
        caught.value
    )


def test_ensure_containers_creates_the_config_container(hr_storage, azurite):
    name = f"hr-config-{secrets.token_hex(3)}"
    storage = HrStorage(
        hr_storage.blob_service,
        hr_storage.table_service,
        incoming=hr_storage.incoming,
        processed=hr_storage.processed,
        failed=hr_storage.failed,
        runs_table=hr_storage.runs_table,
        config=name,
    )
    try:
        storage.ensure_containers()
        assert storage.container_exists(name)
    finally:
        hr_storage.blob_service.delete_container(name)


# -- the Function: read at each run, held on a broken blob ----------------------------------------


@pytest.fixture
def app(monkeypatch, azurite, hr_storage, connector_standin, config_container):
    env = storage_env(azurite, hr_storage) | connector_standin.env(include_secret=True)
    env |= {
        "HRUPLOAD_RETRY_BUDGET": "1",
        "HRUPLOAD_DEDUPE_HOURS": "0",
        "HRUPLOAD_CONFIG_CONTAINER": config_container,
        "HRUPLOAD_PROFILE": "blob:profile.json",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    sys.modules.pop("function_app", None)
    module = importlib.import_module("function_app")
    trigger = {f.get_function_name(): f for f in module.app.get_functions()}[
        "process_incoming_blob"
    ].get_user_function()

    def drop(name: str) -> None:
        data = (SAMPLES / "resignation.csv").read_bytes()
        hr_storage.put_blob(hr_storage.incoming, name, data)
        trigger(func.blob.InputStream(data=b"", name=f"{hr_storage.incoming}/{name}"))

    return drop, hr_storage, config_container


def _record(storage: HrStorage, name: str):
    """The latest run of the file ``name`` (each attempt records its own)."""
    runs = [r for r in storage.runlog().list_runs() if r.kind == "file" and r.blob.endswith(name)]
    return max(runs, key=lambda r: r.started)


def test_an_uploaded_profile_is_used_by_the_next_file_without_a_restart(app, connector_standin):
    drop, storage, config = app
    storage.put_blob(config, "profile.json", PROFILE_A.encode(), overwrite=True)

    drop("resignation/first.csv")
    first = functions.services()
    assert _record(storage, "first.csv").status == "uploaded"

    storage.put_blob(config, "profile.json", PROFILE_B.encode(), overwrite=True)
    drop("resignation/second.csv")

    assert functions.services() is not first, "a new ETag rebuilds the services"
    second = _record(storage, "second.csv")
    assert second.status == "failed", "checked with profile B, whose columns the file lacks"
    assert "Work Email" in (second.error or "")
    assert len(connector_standin.uploads) == 1


def test_the_config_blob_is_checked_once_per_invocation(app, azurite, monkeypatch):
    """A timer run handles many files and pulls first: one look at the blob's ETag for all."""
    _drop, storage, config = app
    storage.put_blob(config, "profile.json", PROFILE_A.encode(), overwrite=True)
    data = (SAMPLES / "resignation.csv").read_bytes()
    with proxied(azurite) as (blob, _table):
        monkeypatch.setenv("HR_STORAGE", connection_string(blob.url, azurite.table_url))
        looks = blob.fail("HEAD", rf"/{config}/profile\.json(\?|$)", times=0)  # counts only
        reads = blob.fail("GET", rf"/{config}/profile\.json(\?|$)", times=0)
        seen = []
        for run in ("first", "second"):
            for n in range(3):
                storage.put_blob(storage.incoming, f"resignation/{run}-{n}.csv", data)
            functions.on_timer(TimerRequest())
            seen.append((looks.seen, reads.seen))

    assert seen == [(0, 1), (1, 1)], "read once, then one ETag check per run, not per file"
    assert [b.name for b in storage.list_blobs(storage.incoming)] == []


@pytest.mark.parametrize(
    ("content", "says"),
    [(None, "does not exist"), (b"{not json", "not valid JSON")],
    ids=["missing", "invalid"],
)
def test_a_missing_or_invalid_profile_blob_keeps_the_file_in_incoming_naming_it(
    app, connector_standin, content, says
):
    drop, storage, config = app
    if content is not None:
        storage.put_blob(config, "profile.json", content, overwrite=True)

    with pytest.raises(ConfigError):
        drop("resignation/today.csv")

    assert [b.name for b in storage.list_blobs(storage.incoming)] == ["resignation/today.csv"]
    record = _record(storage, "today.csv")
    assert record.status == "retrying"
    assert re.search(r"blob:profile\.json \(container hr-config-\w+", record.error or "")
    assert says in (record.error or "")
    assert "HRUPLOAD_PROFILE" in (record.error or "")
    assert connector_standin.uploads == []

    storage.put_blob(config, "profile.json", PROFILE_A.encode(), overwrite=True)
    functions.on_blob(
        func.blob.InputStream(data=b"", name=f"{storage.incoming}/resignation/today.csv")
    )
    assert _record(storage, "today.csv").status == "uploaded", "fixed blob: the next run uses it"


def test_the_doctor_reports_a_missing_config_blob(
    hr_storage, azurite, config_container, connector_standin
):
    env = {
        **connector_standin.env(include_secret=True),
        **storage_env(azurite, hr_storage),
        "HRUPLOAD_CONFIG_CONTAINER": config_container,
        "HRUPLOAD_PROFILE": "blob:profile.json",
        "COLUMNS": "300",
    }
    result = CliRunner().invoke(main, ["doctor", "--json"], env=env)

    assert result.exit_code == 1, result.output
    checks = {c["name"]: c for c in json.loads(result.stdout)["data"]["checks"]}
    assert checks["settings"]["outcome"] == "failed"
    assert "HRUPLOAD_PROFILE blob:profile.json" in checks["settings"]["detail"]
    assert "does not exist" in checks["settings"]["detail"]


# -- docs/deploy.md's two-connector example loads -------------------------------------------------


def _doc_section(title: str) -> str:
    text = DEPLOY_MD.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_two_connector_example_in_deploy_md_loads_with_the_real_loader(
    hr_storage, azurite, config_container, monkeypatch
):
    section = _doc_section("Two connectors: a SharePoint folder and a Workday report")
    blocks = re.findall(r"```json\n(.*?)```", section, re.S)
    (example,) = [b for b in blocks if '"connectors"' in b]
    profiles = [b for b in blocks if '"connectors"' not in b]
    doc = json.loads(example)
    for connector in doc["connectors"]:
        name = (connector.get("profile") or "").removeprefix("blob:")
        if name:
            (profile,) = profiles
            hr_storage.put_blob(config_container, name, profile.encode(), overwrite=True)
    hr_storage.put_blob(config_container, "connectors.json", example.encode(), overwrite=True)
    env = storage_env(azurite, hr_storage) | {
        "HRUPLOAD_CONFIG_CONTAINER": config_container,
        "HRUPLOAD_CONNECTORS": "blob:connectors.json",
        "HRUPLOAD_KEY_VAULT_URL": "https://kv-hr-example.vault.azure.net/",
        "HRUPLOAD_TENANT_ID": "00000000-0000-0000-0000-000000000000",
        "HRUPLOAD_APP_ID": "11111111-1111-1111-1111-111111111111",
    }
    for key in list(env):
        monkeypatch.delenv(key, raising=False)

    loaded = compose.load_settings(env)

    kinds = sorted(s["kind"] for s in loaded.sources)
    assert kinds == ["https", "sharepoint"]
    built = compose.build_sources(loaded)  # each source checked in full, as a pull would
    assert len(built) == 2
    for connector in loaded.connectors:
        loaded.for_connector(connector).load_profile()  # every profile it names parses
    https = next(s for s in loaded.sources if s["kind"] == "https")
    assert https["records"] == "Report_Entry" and https["auth"]["type"] == "basic"
    # The Key Vault secrets the section says to create are the ones the example names.
    named = {s.get("secret_name") or s.get("auth", {}).get("secret_name") for s in loaded.sources}
    named |= {c.secret_name for c in loaded.connectors if c.secret_name}
    created = set(re.findall(r"az keyvault secret set [^\n]*--name (\S+)", section))
    assert named - {None} <= created, named - created
