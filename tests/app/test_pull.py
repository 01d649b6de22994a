"""``hrupload pull`` against the HR report stand-in (basic auth, Workday RaaS shaped), real
Azurite and the connector stand-in: what a source got lands in its connector's folder and
the blob pipeline uploads it like any other file."""

from __future__ import annotations

import json
import logging
import os

import pytest

from hrupload import compose
from hrupload.app import pipeline
from hrupload.app.pull import pull
from hrupload.core.errors import ConfigError
from hrupload.settings import load
from hrupload_dev.azurite import Azurite
from hrupload_dev.connector import ConnectorStandIn, Fault
from hrupload_dev.report import ReportStandIn
from tests.plugins.azurite import storage_env
from tests.plugins.standins import (
    TEST_REPORT_NAME,
    TEST_REPORT_OWNER,
    TEST_REPORT_PASSWORD,
    TEST_REPORT_USER,
)

TENANT = "11111111-1111-1111-1111-111111111111"
APP, SECRET = "aaaaaaaa-0000-0000-0000-000000000001", "secret-a"
JOB_LEAVERS, JOB_HR = "11110000-0000-0000-0000-000000000001", "22220000-0000-0000-0000-000000000002"
ROWS = [
    {
        "EmailAddress": "sarad@contoso.com",
        "ResignationDate": "2019-04-23T15:18:02Z",
        "LastWorkingDate": "2019-04-29T15:18:02Z",
    },
    {
        "EmailAddress": "pilarp@contoso.com",
        "ResignationDate": "2019-04-24T09:15:49Z",
        "LastWorkingDate": "2019-04-29T15:18:02Z",
    },
]
PASSWORD_ENV = "TEST_REPORT_PASSWORD_ENV"


@pytest.fixture(name="standin")
def standin_fixture(tmp_path):
    with ConnectorStandIn(
        tenant_id=TENANT,
        apps={APP: SECRET},
        jobs={JOB_LEAVERS: APP, JOB_HR: APP},
        out_dir=tmp_path / "received",
    ) as server:
        yield server


#: The report stand-in's basic auth, its password in PASSWORD_ENV.
BASIC = {"type": "basic", "username": TEST_REPORT_USER, "secret_env": PASSWORD_ENV}


def report_sources(report: ReportStandIn, *extra: dict) -> list[dict]:
    return [report.source("leavers", format="csv") | {"auth": BASIC}, *extra]


def json_source(report: ReportStandIn, name: str) -> dict:
    """A JSON (Report_Entry) source of the workday connector, named ``name``."""
    return report.source("workday", format="json") | {"name": name, "auth": BASIC}


def make_env(azurite, hr_storage, standin, sources: list[dict]) -> dict[str, str]:
    return {
        **storage_env(azurite, hr_storage),
        "HRUPLOAD_TENANT_ID": TENANT,
        "HRUPLOAD_APP_ID": APP,
        "HRUPLOAD_APP_SECRET": SECRET,
        "HRUPLOAD_LOGIN_URL": standin.url,
        "HRUPLOAD_INGESTION_URL": standin.url,
        "HRUPLOAD_RETRY_BUDGET": "2",
        "HRUPLOAD_CONNECTORS": json.dumps(
            {
                "connectors": [
                    {"name": "leavers", "folder": "leavers", "job_id": JOB_LEAVERS},
                    {"name": "workday", "folder": "hr/workday", "job_id": JOB_HR},
                ],
                "sources": sources,
            }
        ),
    }


@pytest.fixture(name="clean_env")
def clean_env_fixture(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("HRUPLOAD_", "HR_STORAGE")):
            monkeypatch.delenv(name)
    monkeypatch.setenv(PASSWORD_ENV, TEST_REPORT_PASSWORD)


@pytest.fixture
def setup(azurite: Azurite, hr_storage, standin, report_standin, clean_env):
    """``setup(*extra_sources)``: (services, sources) for the leavers report plus extras."""

    def build(*extra: dict, env: dict | None = None):
        settings = load(
            make_env(azurite, hr_storage, standin, report_sources(report_standin, *extra))
            | (env or {})
        )
        return compose.build_services(settings), compose.build_sources(settings)

    return build


def incoming(services) -> dict[str, bytes]:
    storage = services.storage
    container = services.settings.incoming
    return {
        b.name: storage.open_read(container, b.name).read() for b in storage.list_blobs(container)
    }


def test_a_csv_report_lands_in_its_connectors_folder_and_is_uploaded(
    setup, report_standin, standin
):
    report_standin.set_report(TEST_REPORT_NAME, ROWS, owner=TEST_REPORT_OWNER)
    services, sources = setup()

    summary = pull(services, sources)

    assert summary.ok
    assert summary.results[0].dropped == ["leavers/leavers-report.csv"]
    assert list(incoming(services)) == ["leavers/leavers-report.csv"]
    swept = pipeline.sweep(services)
    assert [r.status for r in swept.results] == ["uploaded"]
    assert [(u.job_id, u.records) for u in standin.uploads] == [(JOB_LEAVERS, 2)]
    runs = [r for r in services.runlog.list_runs() if r.kind == "pull"]
    assert [(r.status, r.summary, r.connector) for r in runs] == [
        ("done", {"source": "leavers-report", "dropped": 1}, "leavers")
    ]


def test_a_json_report_becomes_a_csv_of_its_keys(setup, report_standin, standin):
    rows = [dict(ROWS[0]), {**ROWS[1], "Extra": 7, "Active": True}]
    report_standin.set_report(TEST_REPORT_NAME, rows, owner=TEST_REPORT_OWNER)
    services, sources = setup(json_source(report_standin, "workday-json"))

    summary = pull(services, sources, only="workday-json")

    assert [r.dropped for r in summary.results] == [["hr/workday/workday-json.csv"]]
    lines = incoming(services)["hr/workday/workday-json.csv"].decode().splitlines()
    assert lines[0] == "EmailAddress,ResignationDate,LastWorkingDate,Extra,Active"
    assert lines[1].endswith(",,") and lines[2].endswith(",7,true")
    swept = pipeline.sweep(services)
    assert [r.status for r in swept.results] == ["uploaded"]
    assert [u.job_id for u in standin.uploads] == [JOB_HR]


def test_unchanged_content_is_not_dropped_twice_and_changed_is(setup, report_standin):
    report_standin.set_report(TEST_REPORT_NAME, ROWS, owner=TEST_REPORT_OWNER)
    services, sources = setup()

    assert pull(services, sources).results[0].dropped == ["leavers/leavers-report.csv"]
    assert pull(services, sources).results[0].dropped == [], "the same report again"
    report_standin.set_report(TEST_REPORT_NAME, ROWS[:1], owner=TEST_REPORT_OWNER)
    again = pull(services, sources).results[0].dropped
    # The first file is still waiting in incoming: the new one never overwrites it.
    assert again == ["leavers/leavers-report-2.csv"]
    files = incoming(services)
    assert files["leavers/leavers-report.csv"].count(b"\n") == 3
    assert files["leavers/leavers-report-2.csv"].count(b"\n") == 2


def test_wrong_basic_auth_is_recorded_and_the_other_sources_still_pull(
    setup, report_standin, caplog
):
    report_standin.set_report(TEST_REPORT_NAME, ROWS, owner=TEST_REPORT_OWNER)
    wrong = report_standin.source("workday", format="json") | {
        "name": "wrong-password",
        "auth": {"type": "basic", "username": TEST_REPORT_USER, "secret_env": "WRONG_PW"},
    }
    os.environ["WRONG_PW"] = "not-the-password-S3cr3t"
    try:
        services, sources = setup(wrong)
        sources.reverse()  # the failing one first: the next must still run
        with caplog.at_level(logging.DEBUG):
            summary = pull(services, sources)
    finally:
        del os.environ["WRONG_PW"]

    assert not summary.ok
    failed, fine = summary.results
    assert failed.source == "wrong-password" and failed.dropped == []
    assert "refused the credentials (401" in (failed.error or "")
    assert "environment variable WRONG_PW" in (failed.error or "")
    assert fine.ok and fine.dropped == ["leavers/leavers-report.csv"]
    runs = {r.summary["source"]: r for r in services.runlog.list_runs() if r.kind == "pull"}
    assert runs["wrong-password"].status == "failed"
    assert "401" in (runs["wrong-password"].error or "")
    assert "not-the-password-S3cr3t" not in caplog.text
    assert TEST_REPORT_PASSWORD not in caplog.text


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault.redirect("https://evil.example/steal", 302), "redirecting to evil.example"),
        (Fault.html(200), "got a web page, not the report"),
    ],
)
def test_a_redirect_or_a_web_page_is_refused(setup, report_standin, fault, expected):
    report_standin.set_report(TEST_REPORT_NAME, ROWS, owner=TEST_REPORT_OWNER)
    services, sources = setup()
    report_standin.add_faults(fault)

    summary = pull(services, sources)

    assert expected in (summary.results[0].error or "")
    assert incoming(services) == {}
    assert report_standin.requests == 1, "nothing followed the redirect"


def test_nested_json_is_refused_naming_its_path(setup, report_standin):
    rows = [*ROWS, {**ROWS[0], "Manager": {"Email": "boss@contoso.com"}}]
    report_standin.set_report(TEST_REPORT_NAME, rows, owner=TEST_REPORT_OWNER)
    services, sources = setup(json_source(report_standin, "nested"))

    summary = pull(services, sources, only="nested")

    assert "Report_Entry[2].Manager.Email is a nested value" in (summary.results[0].error or "")
    assert "boss@contoso.com" not in (summary.results[0].error or "")
    assert incoming(services) == {}


def test_http_to_another_host_is_refused_at_config(setup):
    plain = {
        "name": "plain",
        "kind": "https",
        "connector": "workday",
        "url": "http://hr.example.com/report?format=csv",
        "auth": {"type": "bearer", "secret_env": PASSWORD_ENV},
    }
    with pytest.raises(ConfigError, match=r"plain http is refused for hr\.example\.com"):
        setup(plain)


def test_an_unknown_source_name_is_a_config_error(setup):
    services, sources = setup()
    with pytest.raises(ConfigError, match="no source is named 'nope'"):
        pull(services, sources, only="nope")


def test_a_bearer_token_is_sent_and_never_shown(setup, report_standin, monkeypatch, caplog):
    report_standin.set_report(TEST_REPORT_NAME, ROWS, owner=TEST_REPORT_OWNER)
    report_standin.add_token("bearer-token-Xy+/=")
    monkeypatch.setenv("TEST_BEARER", "bearer-token-Xy+/=")
    bearer = report_standin.source("workday") | {
        "name": "bearer",
        "auth": {"type": "bearer", "secret_env": "TEST_BEARER"},
    }
    services, sources = setup(bearer)

    with caplog.at_level(logging.DEBUG):
        summary = pull(services, sources, only="bearer")

    assert summary.results[0].dropped == ["hr/workday/bearer.csv"]
    assert "bearer-token-Xy" not in caplog.text


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"colour": "red"}, r"unknown field 'colour'; the fields are name, kind, connector"),
        (
            {"auth": {"type": "basic", "username": "u", "secret_env": "X", "password": "pw"}},
            r"basic auth: unknown field 'password'; the fields are type, username, secret_name",
        ),
        ({"format": "xml"}, r"format must be one of csv, json"),
        ({"auth": {"type": "basic", "username": "u"}}, r"give 'secret_name' \(a Key Vault"),
        ({"auth": {"type": "digest"}}, r"auth type must be one of basic, bearer"),
        ({"auth": {"type": "basic", "secret_name": "pw"}}, r"'username' is missing"),
    ],
)
def test_a_malformed_source_fails_naming_the_field(setup, report_standin, change, expected):
    entry = report_standin.source("workday") | {"name": "bad"} | change
    with pytest.raises(ConfigError, match=r"source 'bad' \(sources\[1\]\).*" + expected):
        setup(entry)


def test_a_sharepoint_source_without_its_module_is_a_clear_config_error(setup):
    import importlib.util

    if importlib.util.find_spec("hrupload.adapters.sharepoint") is not None:
        pytest.skip("the sharepoint source is in this version")
    entry = {"kind": "sharepoint", "connector": "workday", "drive_id": "d", "folder": "HR"}
    with pytest.raises(ConfigError, match="the sharepoint source is not available"):
        setup(entry)


def test_client_credentials_get_a_token_first_and_send_it(setup, report_standin, monkeypatch):
    """A loopback token endpoint that checks the form and issues one token."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs

    forms: list[dict] = []

    class Token(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            forms.append(form)
            good = form.get("client_secret") == "cc-Secret+/=" and form.get("client_id") == "hr"
            body = json.dumps({"access_token": "cc-token-1", "expires_in": 3600} if good else {})
            self.send_response(200 if good else 401)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Token)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        report_standin.set_report(TEST_REPORT_NAME, ROWS, owner=TEST_REPORT_OWNER)
        report_standin.add_token("cc-token-1")
        monkeypatch.setenv("TEST_CC_SECRET", "cc-Secret+/=")
        entry = report_standin.source("workday") | {
            "name": "cc",
            "auth": {
                "type": "client_credentials",
                "token_url": f"http://127.0.0.1:{server.server_port}/token",
                "client_id": "hr",
                "scope": "reports.read",
                "secret_env": "TEST_CC_SECRET",
            },
        }
        services, sources = setup(entry)
        summary = pull(services, sources, only="cc")
    finally:
        server.shutdown()
        server.server_close()

    assert summary.results[0].dropped == ["hr/workday/cc.csv"], summary.results[0].error
    assert [(f["grant_type"], f["scope"]) for f in forms] == [
        ("client_credentials", "reports.read")
    ]


def test_a_secret_name_is_read_from_key_vault(
    azurite, hr_storage, standin, report_standin, keyvault_standin, clean_env, caplog
):
    report_standin.set_report(TEST_REPORT_NAME, ROWS, owner=TEST_REPORT_OWNER)
    keyvault_standin.set_secret("workday-isu-password", TEST_REPORT_PASSWORD)
    entry = report_standin.source("leavers") | {
        "auth": {"type": "basic", "username": TEST_REPORT_USER,
                 "secret_name": "workday-isu-password"},
    }  # fmt: skip
    env = make_env(azurite, hr_storage, standin, [entry])
    settings = load(env | {"HRUPLOAD_KEY_VAULT_URL": keyvault_standin.url})
    sources = compose.build_sources(
        settings,
        key_vault_credential=keyvault_standin.credential,
        key_vault_options={
            "verify_challenge_resource": False,
            "connection_verify": keyvault_standin.ca_cert_pem_path,
        },
    )

    with caplog.at_level(logging.DEBUG):
        summary = pull(compose.build_services(settings), sources)

    assert summary.results[0].dropped == ["leavers/leavers-report.csv"], summary.results[0].error
    assert TEST_REPORT_PASSWORD not in caplog.text


def test_a_secret_name_without_a_vault_is_a_config_error(setup, report_standin):
    entry = report_standin.source("workday") | {
        "name": "kv",
        "auth": {"type": "bearer", "secret_name": "token-in-vault"},
    }
    with pytest.raises(ConfigError, match="HRUPLOAD_KEY_VAULT_URL is not set"):
        setup(entry)


def test_a_sharepoint_folder_is_pulled_through_compose_and_uploaded(
    setup, report_standin, standin, monkeypatch
):
    """The two kinds side by side, as compose builds them from HRUPLOAD_CONNECTORS: the
    SharePoint source gets its app's secret from secret_env, lands in its connector's folder,
    and the sweep sends it to that connector's job; an unchanged file is not pulled again."""
    from hrupload_dev.graph import GraphStandIn

    graph_app, graph_secret = "bbbbbbbb-0000-0000-0000-000000000002", "graph-secret"
    monkeypatch.setenv("TEST_GRAPH_SECRET_ENV", graph_secret)
    report_standin.set_report(TEST_REPORT_NAME, ROWS, owner=TEST_REPORT_OWNER)
    with GraphStandIn(tenant_id=TENANT, apps={graph_app: graph_secret}) as graph:
        lines = ["EmailAddress,ResignationDate,LastWorkingDate"]
        lines += [
            f"{r['EmailAddress']},{r['ResignationDate']},{r['LastWorkingDate']}" for r in ROWS
        ]
        graph.put_file("HR/workday/leavers.csv", "\n".join(lines) + "\n")
        graph.put_file("HR/workday/notes.txt", "not a csv")
        source = graph.source("workday", "HR/workday") | {
            "app_id": graph_app,
            "secret_env": "TEST_GRAPH_SECRET_ENV",
        }
        services, sources = setup(source, env={"HRUPLOAD_GRAPH_URL": graph.url})

        first = pull(services, sources)
        again = pull(services, sources)

    assert first.ok and again.ok, (first, again)
    assert sorted(incoming(services)) == ["hr/workday/leavers.csv", "leavers/leavers-report.csv"]
    assert [r.dropped for r in again.results] == [[], []]
    swept = pipeline.sweep(services)
    assert sorted(r.status for r in swept.results) == ["uploaded", "uploaded"]
    assert sorted(u.job_id for u in standin.uploads) == sorted([JOB_LEAVERS, JOB_HR])


def client_credentials_source(report: ReportStandIn, monkeypatch) -> dict:
    """A source whose token comes from the report stand-in's own token endpoint."""
    report.set_client("hr-client", "cc-Secret+/=")
    monkeypatch.setenv("TEST_CC_SECRET", "cc-Secret+/=")
    return report.source("workday") | {
        "name": "cc",
        "auth": {
            "type": "client_credentials",
            "token_url": report.token_url(),
            "client_id": "hr-client",
            "secret_env": "TEST_CC_SECRET",
        },
    }


def test_a_token_refused_before_it_expires_is_replaced_once(setup, report_standin, monkeypatch):
    """The token is kept for its expires_in; a 401 before then (revoked) gets one fresh
    token and the same request again, and the pull succeeds."""
    report_standin.set_report(TEST_REPORT_NAME, ROWS, owner=TEST_REPORT_OWNER)
    services, sources = setup(client_credentials_source(report_standin, monkeypatch))

    assert pull(services, sources, only="cc").results[0].dropped == ["hr/workday/cc.csv"]
    assert report_standin.tokens_issued == 1
    report_standin.set_report(TEST_REPORT_NAME, ROWS[:1], owner=TEST_REPORT_OWNER)
    report_standin.expire_tokens()
    again = pull(services, sources, only="cc").results[0]

    assert again.ok and again.dropped == ["hr/workday/cc-2.csv"], again.error
    assert report_standin.tokens_issued == 2, "one fresh token after the 401"
    assert (report_standin.refused, report_standin.served) == (1, 2)


def test_a_fresh_token_refused_too_fails_without_asking_again(setup, report_standin, monkeypatch):
    report_standin.set_report(TEST_REPORT_NAME, ROWS, owner=TEST_REPORT_OWNER)
    services, sources = setup(client_credentials_source(report_standin, monkeypatch))
    report_standin.add_faults(Fault.http(401), Fault.http(401))

    result = pull(services, sources, only="cc").results[0]

    assert "refused the credentials (401" in (result.error or "")
    assert "'hr-client'" in (result.error or "")
    assert report_standin.tokens_issued == 2, "the first token, then one fresh one: no more"
    assert report_standin.requests == 2
    assert incoming(services) == {}
