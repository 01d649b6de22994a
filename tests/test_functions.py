"""The Function app: its bindings as the host reads them, and its triggers called directly
against real Azurite and the connector stand-in (Core Tools cannot be installed here)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from hrupload import functions
from hrupload.app import pipeline
from hrupload.settings import load
from hrupload_dev.connector import Fault

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


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
    assert set(fns) == {"process_incoming_blob", "daily_sweep", "web"}

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


# -- telemetry: the exporter signs in with the managed identity --------------------------------

TELEMETRY_PROBE = """
import gc, json, os, socket, sys

real_connect = socket.socket.connect

def loopback_only(sock, address):
    host = address[0] if isinstance(address, tuple) else address
    if not str(host).startswith(("127.", "::1", "localhost")):
        raise OSError(f"the probe may reach only loopback, not {host}")
    return real_connect(sock, address)

socket.socket.connect = loopback_only

from azure.monitor.opentelemetry.exporter.export._base import BaseExporter
from hrupload import functions
from hrupload.settings import load

functions._setup_logging(load())
exporters = [o for o in gc.get_objects() if isinstance(o, BaseExporter)]
credentials = {id(e._credential): e._credential for e in exporters}
found = {"exporters": sorted(type(e).__name__ for e in exporters),
         "credentials": sorted(type(c).__name__ for c in credentials.values())}
if len(credentials) == 1:
    (credential,) = credentials.values()
    found["token"] = credential.get_token("https://monitor.azure.com/.default").token
print(json.dumps(found), flush=True)
os._exit(0)  # no flush at exit: nothing is exported
"""


class IdentityEndpoint(BaseHTTPRequestHandler):
    """The App Service managed identity endpoint (IDENTITY_ENDPOINT), on loopback."""

    asked: ClassVar[list[dict]] = []

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        self.asked.append(
            {k: v[0] for k, v in query.items()} | {"header": self.headers.get("X-IDENTITY-HEADER")}
        )
        body = json.dumps(
            {
                "access_token": "probe-token",
                "expires_on": str(int(time.time()) + 3600),
                "resource": query.get("resource", [""])[0],
                "token_type": "Bearer",
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_telemetry_signs_in_with_the_managed_identity(tmp_path):
    """App Insights has local auth off: every exporter configure_azure_monitor builds holds the
    managed identity named by AZURE_CLIENT_ID, and that is who asks for the token."""
    pytest.importorskip("azure.monitor.opentelemetry")
    IdentityEndpoint.asked.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), IdentityEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    loopback = "http://127.0.0.1:9/"  # nothing listens there; nothing is exported anyway
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "AZURE_CLIENT_ID": "11111111-2222-3333-4444-555555555555",
        "APPLICATIONINSIGHTS_CONNECTION_STRING": (
            "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
            f"IngestionEndpoint={loopback};LiveEndpoint={loopback}"
        ),
        "IDENTITY_ENDPOINT": f"http://127.0.0.1:{server.server_port}/msi/token",
        "IDENTITY_HEADER": "probe-header",
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
        "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
    }
    try:
        done = subprocess.run(
            [sys.executable, "-c", TELEMETRY_PROBE],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"AzureMonitorLogExporter", "AzureMonitorTraceExporter"} <= set(found["exporters"])
    assert found["credentials"] == ["ManagedIdentityCredential"], found
    assert found["token"] == "probe-token"
    assert [a["client_id"] for a in IdentityEndpoint.asked] == [env["AZURE_CLIENT_ID"]]
    assert IdentityEndpoint.asked[0]["header"] == "probe-header"


def test_telemetry_without_an_identity_uses_the_connection_string_alone():
    assert functions.telemetry_credential(load({})) is None


def test_the_timer_pulls_then_sweeps_and_a_failing_source_stops_neither(
    app_env, monkeypatch, report_standin
):
    from tests.plugins.standins import (
        TEST_REPORT_NAME,
        TEST_REPORT_OWNER,
        TEST_REPORT_PASSWORD,
        TEST_REPORT_USER,
    )

    fns, storage, standin = app_env
    rows = [
        {"EmailAddress": "sarad@contoso.com", "ResignationDate": "2019-04-23T15:18:02Z",
         "LastWorkingDate": "2019-04-29T15:18:02Z"},
    ]  # fmt: skip
    report_standin.set_report(TEST_REPORT_NAME, rows, owner=TEST_REPORT_OWNER)
    auth = {"type": "basic", "username": TEST_REPORT_USER, "secret_env": "TIMER_REPORT_PW"}
    sources = [
        report_standin.source("leavers", format="json", name="wrong", auth=auth | {
            "secret_env": "TIMER_WRONG_PW"}),
        report_standin.source("leavers", format="csv", auth=auth),
    ]  # fmt: skip
    connectors = [{"name": "leavers", "folder": "leavers", "job_id": standin.job_id}]
    monkeypatch.setenv("HRUPLOAD_CONNECTORS", json.dumps({"connectors": connectors,
                                                          "sources": sources}))  # fmt: skip
    monkeypatch.setenv("TIMER_REPORT_PW", TEST_REPORT_PASSWORD)
    monkeypatch.setenv("TIMER_WRONG_PW", "wrong-password-123")

    fns["daily_sweep"].get_user_function()(TimerRequest(past_due=False))

    assert [b.name for b in storage.list_blobs(storage.incoming)] == []
    processed = [b.name for b in storage.list_blobs(storage.processed)]
    assert [n for n in processed if n.endswith(".csv")] == [
        next(n for n in processed if n.endswith("/leavers/leavers-report.csv"))
    ]
    assert len(standin.uploads) == 1
    runs = storage.runlog().list_runs()
    pulls = {r.summary["source"]: r.status for r in runs if r.kind == "pull"}
    assert pulls == {"wrong": "failed", "leavers-report": "done"}
    assert [r.status for r in runs if r.kind == "sweep"] == ["done"]
