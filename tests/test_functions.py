"""The Function app: its bindings as the host reads them, and its triggers called directly
against real Azurite and the connector stand-in (Core Tools cannot be installed here)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from hrupload import functions
from hrupload.app import pipeline
from hrupload_dev.connector import Fault

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def fresh_app(monkeypatch, **env):
    """Import function_app anew: get_functions() works once per app object."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    sys.modules.pop("function_app", None)
    module = importlib.import_module("function_app")
    return module, {f.get_function_name(): f for f in module.app.get_functions()}


def bindings(function) -> list[dict]:
    return json.loads(function.get_function_json())["bindings"]


def test_bindings_as_the_host_sees_them(monkeypatch):
    monkeypatch.delenv("HRUPLOAD_BLOB_SOURCE", raising=False)
    monkeypatch.delenv("HRUPLOAD_INCOMING_CONTAINER", raising=False)
    _, fns = fresh_app(monkeypatch)
    assert set(fns) == {"process_incoming_blob", "daily_sweep"}

    (blob,) = bindings(fns["process_incoming_blob"])
    assert blob["type"] == "blobTrigger"
    assert blob["path"] == "hr-incoming/{name}"
    assert blob["connection"] == "HR_STORAGE"
    assert blob["source"] == "EventGrid"

    (timer,) = bindings(fns["daily_sweep"])
    assert timer["type"] == "timerTrigger"
    assert timer["schedule"] == "%HRUPLOAD_SCHEDULE%"
    assert timer["runOnStartup"] is False
    assert timer["useMonitor"] is True


def test_polling_source_and_container_from_settings(monkeypatch):
    _, fns = fresh_app(
        monkeypatch,
        HRUPLOAD_BLOB_SOURCE="LogsAndContainerScan",
        HRUPLOAD_INCOMING_CONTAINER="hr-drop",
    )
    (blob,) = bindings(fns["process_incoming_blob"])
    assert blob["source"] == "LogsAndContainerScan"
    assert blob["path"] == "hr-drop/{name}"


def test_blob_trigger_binds_a_client_not_bytes(monkeypatch):
    _module, fns = fresh_app(monkeypatch)
    user = fns["process_incoming_blob"].get_user_function()
    annotation = user.__annotations__["client"]
    assert "BlobClient" in str(annotation)


@pytest.fixture
def app_env(monkeypatch, azurite, hr_storage, connector_standin):
    env = {
        "HR_STORAGE": azurite.connection_string,
        "HRUPLOAD_TENANT_ID": connector_standin.tenant_id,
        "HRUPLOAD_APP_ID": connector_standin.app_id,
        "HRUPLOAD_JOB_ID": connector_standin.job_id,
        "HRUPLOAD_APP_SECRET": connector_standin.app_secret,
        "HRUPLOAD_LOGIN_URL": connector_standin.url,
        "HRUPLOAD_INGESTION_URL": connector_standin.url,
        "HRUPLOAD_INCOMING_CONTAINER": hr_storage.incoming,
        "HRUPLOAD_PROCESSED_CONTAINER": hr_storage.processed,
        "HRUPLOAD_FAILED_CONTAINER": hr_storage.failed,
        "HRUPLOAD_RUNS_TABLE": hr_storage.runs_table,
        "HRUPLOAD_RETRY_BUDGET": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _module, fns = fresh_app(monkeypatch)
    return fns, hr_storage, connector_standin


def test_blob_trigger_runs_the_pipeline(app_env):
    fns, storage, standin = app_env
    storage.put_blob(
        storage.incoming, "resignation/today.csv", (SAMPLES / "resignation.csv").read_bytes()
    )
    trigger = fns["process_incoming_blob"].get_user_function()

    # What the worker would hand over for a classic binding; only the name is used.
    trigger(func.blob.InputStream(data=b"", name=f"{storage.incoming}/resignation/today.csv"))

    assert [b.name for b in storage.list_blobs(storage.incoming)] == []
    assert any(
        b.name.endswith("resignation/today.csv") for b in storage.list_blobs(storage.processed)
    )
    assert len(standin.uploads) == 1


def test_blob_trigger_raises_on_transient_failure_so_the_host_retries(app_env):
    fns, storage, standin = app_env
    storage.put_blob(
        storage.incoming, "resignation/today.csv", (SAMPLES / "resignation.csv").read_bytes()
    )
    standin.add_faults(*[Fault.http(503)] * 50, endpoint="ingestion")
    trigger = fns["process_incoming_blob"].get_user_function()

    with pytest.raises(pipeline.RetryLater):
        trigger(func.blob.InputStream(data=b"", name=f"{storage.incoming}/resignation/today.csv"))

    assert [b.name for b in storage.list_blobs(storage.incoming)] == ["resignation/today.csv"]


def test_timer_trigger_sweeps_incoming(app_env):
    fns, storage, standin = app_env
    storage.put_blob(
        storage.incoming, "resignation/a.csv", (SAMPLES / "resignation.csv").read_bytes()
    )
    storage.put_blob(storage.incoming, "all.csv", (SAMPLES / "multi-scenario.csv").read_bytes())
    sweep = fns["daily_sweep"].get_user_function()

    sweep(TimerRequest(past_due=True))

    assert [b.name for b in storage.list_blobs(storage.incoming)] == []
    runs = storage.runlog().list_runs()
    assert sorted(r.status for r in runs if r.kind == "file") == ["partial", "uploaded"]
    (swept,) = [r for r in runs if r.kind == "sweep"]
    assert swept.status == "done"
    assert (swept.summary["files"], swept.summary["past_due"]) == (2, True)
    assert len(standin.uploads) == 2


def test_services_are_built_once_per_settings(app_env, monkeypatch):
    first = functions.services()
    assert functions.services() is first
    monkeypatch.setenv("HRUPLOAD_RECORDS_PER_CALL", "10")
    assert functions.services() is not first
    assert functions.services().settings.records_per_call == 10


def test_blob_name_from_client_or_stream():
    class FakeClient:  # the SDK BlobClient exposes these two attributes
        blob_name = "resignation/a.csv"
        container_name = "hr-incoming"

    assert functions.blob_name(FakeClient()) == "resignation/a.csv"
    stream = func.blob.InputStream(data=b"", name="hr-incoming/resignation/a.csv")
    assert functions.blob_name(stream) == "resignation/a.csv"


@pytest.mark.parametrize(
    ("source", "where"), [("LogsAndContainerScan", "incoming"), ("EventGrid", "failed")]
)
def test_a_container_scan_leaves_a_file_still_being_written(app_env, monkeypatch, source, where):
    """A container scan also fires for a file created empty and committed later (SFTP);
    Event Grid delivers only completed writes, so an empty file there is a file."""
    fns, storage, standin = app_env
    monkeypatch.setenv("HRUPLOAD_BLOB_SOURCE", source)
    storage.put_blob(storage.incoming, "resignation/upload.csv", b"")
    trigger = fns["process_incoming_blob"].get_user_function()

    trigger(func.blob.InputStream(data=b"", name=f"{storage.incoming}/resignation/upload.csv"))

    container = storage.incoming if where == "incoming" else storage.failed
    assert any(b.name.endswith("resignation/upload.csv") for b in storage.list_blobs(container))
    assert standin.uploads == []
