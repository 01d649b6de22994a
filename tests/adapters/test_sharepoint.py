"""The SharePoint source against the Graph stand-in (a real loopback server)."""

from __future__ import annotations

import http.server
import json
import logging
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from hrupload.adapters.sharepoint import (
    GRAPH_URLS,
    SharePointError,
    SharePointSource,
    safe_name,
)
from hrupload.core.errors import ConfigError
from hrupload.settings import CLOUDS, load
from hrupload_dev.connector import Fault
from hrupload_dev.graph import GraphStandIn
from tests.plugins.standins import (
    TEST_GRAPH_APP_ID,
    TEST_GRAPH_SECRET,
    TEST_TENANT_ID,
)

FOLDER = "HR/leavers"
CSV = "email,date\nada@example.com,2026-01-01\n"


def settings_for(standin: GraphStandIn, **env: str):
    return load(
        {
            "HRUPLOAD_TENANT_ID": TEST_TENANT_ID,
            "HRUPLOAD_APP_ID": TEST_GRAPH_APP_ID,
            "HRUPLOAD_GRAPH_URL": standin.url,
            "HRUPLOAD_RETRY_BUDGET": "1",
            **env,
        }
    )


def source_for(
    standin: GraphStandIn, secret: str = TEST_GRAPH_SECRET, **extra: str
) -> SharePointSource:
    config = standin.source("leavers", FOLDER, **extra)
    return SharePointSource.from_config(config, settings=settings_for(standin), secret=secret)


def test_every_csv_of_the_folder_is_taken_over_all_pages_and_nothing_else(graph_standin):
    for name in ("a.csv", "b.csv", "c.csv", "D.CSV", "notes.txt"):
        graph_standin.put_file(f"{FOLDER}/{name}", CSV + name)
    graph_standin.make_folder(f"{FOLDER}/done.csv")  # a folder, whatever its name says
    graph_standin.put_file("HR/elsewhere.csv", CSV)

    fetched = list(source_for(graph_standin).fetch({}))

    assert sorted(f.name for f in fetched) == ["D.CSV", "a.csv", "b.csv", "c.csv"]
    assert {f.content for f in fetched} == {(CSV + f.name).encode() for f in fetched}
    assert graph_standin.requests("children") >= 3  # pages of two
    assert graph_standin.download_authorizations == 0
    item = graph_standin.item(f"{FOLDER}/a.csv")
    first = next(f for f in fetched if f.name == "a.csv")
    assert (first.key, first.version) == (item["id"], item["eTag"])


def test_an_unchanged_file_is_skipped_and_a_changed_one_fetched_again(graph_standin):
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    graph_standin.put_file(f"{FOLDER}/b.csv", CSV)
    source = source_for(graph_standin)
    seen = {f.key: f.version for f in source.fetch({})}
    assert len(seen) == 2

    assert list(source.fetch(seen)) == []
    graph_standin.put_file(f"{FOLDER}/b.csv", CSV + "bob@example.com,2026-02-01\n")
    again = list(source.fetch(seen))

    assert [f.name for f in again] == ["b.csv"]
    assert again[0].version != seen[again[0].key]
    assert again[0].content.endswith(b"bob@example.com,2026-02-01\n")


def test_without_a_download_url_the_content_redirect_is_followed_without_the_token(
    graph_standin,
):
    item = graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    graph_standin.add_faults(Fault.http(200, body={"value": [item]}), endpoint="children")

    fetched = list(source_for(graph_standin).fetch({}))

    assert [f.content for f in fetched] == [CSV.encode()]
    assert graph_standin.requests("content") == 1
    assert graph_standin.requests("download") == 1
    assert graph_standin.download_authorizations == 0


@pytest.mark.parametrize(
    "location",
    ["http://files.example.com/a.csv", "ftp://files.example.com/a.csv"],
)
def test_a_download_that_is_not_https_is_refused(graph_standin, location):
    item = graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    listed = {**item, "@microsoft.graph.downloadUrl": location}
    graph_standin.add_faults(Fault.http(200, body={"value": [listed]}), endpoint="children")

    with pytest.raises(SharePointError, match="only https is followed"):
        list(source_for(graph_standin).fetch({}))


def test_a_content_redirect_to_plain_http_elsewhere_is_refused(graph_standin):
    item = graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    graph_standin.add_faults(Fault.http(200, body={"value": [item]}), endpoint="children")
    graph_standin.add_faults(
        Fault.redirect("http://evil.example/a.csv", status=302), endpoint="content"
    )

    with pytest.raises(SharePointError, match=r"evil\.example; only https"):
        list(source_for(graph_standin).fetch({}))


def test_a_download_that_redirects_again_is_not_followed(graph_standin):
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    graph_standin.add_faults(
        Fault.redirect("https://other.example/a.csv", status=302), endpoint="download"
    )

    with pytest.raises(SharePointError, match=r"redirecting to other\.example; redirects are"):
        list(source_for(graph_standin).fetch({}))


def test_an_api_redirect_is_a_failure_naming_where_it_pointed(graph_standin):
    graph_standin.add_faults(
        Fault.redirect("https://proxy.example/login", status=302), endpoint="children"
    )

    with pytest.raises(SharePointError, match=r"redirecting to proxy\.example"):
        list(source_for(graph_standin).fetch({}))


@pytest.mark.parametrize("endpoint", ["download", "children"])
def test_a_web_page_instead_of_the_answer_is_refused(graph_standin, endpoint):
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    graph_standin.add_faults(Fault.html(), endpoint=endpoint)

    with pytest.raises(SharePointError, match="web page"):
        list(source_for(graph_standin).fetch({}))


def test_a_next_page_on_another_host_is_not_followed(graph_standin):
    next_link = "https://evil.example/v1.0/drives/x/items/y/children?$skiptoken=Mg=="
    graph_standin.add_faults(
        Fault.http(200, body={"value": [], "@odata.nextLink": next_link}), endpoint="children"
    )

    with pytest.raises(SharePointError, match=r"next page at evil\.example.*not followed"):
        list(source_for(graph_standin).fetch({}))
    assert graph_standin.requests("children") == 1


def test_a_drive_not_granted_says_to_grant_sites_selected(graph_standin):
    graph_standin.revoke(graph_standin.drive_id)

    with pytest.raises(SharePointError) as caught:
        list(source_for(graph_standin).fetch({}))

    message = str(caught.value)
    assert "Sites.Selected" in message and '["read"]' in message
    assert graph_standin.drive_id in message
    assert caught.value.status == 403


def test_a_missing_folder_is_named(graph_standin):
    with pytest.raises(SharePointError, match=r"folder 'HR/leavers' was not found"):
        list(source_for(graph_standin).fetch({}))


def test_a_wrong_secret_gets_the_aadsts_hint_and_is_never_shown(graph_standin, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong~Secret_value"

    with pytest.raises(SharePointError) as caught:
        list(source_for(graph_standin, secret=wrong).fetch({}))

    message = str(caught.value)
    assert "the app secret is wrong or expired" in message and "AADSTS7000215" in message
    for secret in (wrong, TEST_GRAPH_SECRET):
        assert secret not in message and secret not in caplog.text


def test_a_rotated_secret_is_read_again_once(graph_standin):
    answers = ["stale~secret", TEST_GRAPH_SECRET]
    source = SharePointSource.from_config(
        graph_standin.source("leavers", FOLDER),
        settings=settings_for(graph_standin),
        secret=lambda force: answers.pop(0),
    )
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV)

    assert [f.name for f in source.fetch({})] == ["a.csv"]
    assert answers == []


def test_a_taken_file_is_moved_into_move_to(graph_standin):
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    graph_standin.make_folder(f"{FOLDER}/done")
    source = source_for(graph_standin, move_to="done")

    [fetched] = list(source.fetch({}))
    source.taken(fetched)

    assert graph_standin.names(f"{FOLDER}/done") == ["a.csv"]
    assert "a.csv" not in graph_standin.names(FOLDER)


def test_a_failed_move_is_logged_not_raised(graph_standin, caplog):
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    source = source_for(graph_standin, move_to="done")  # no such folder
    [fetched] = list(source.fetch({}))

    with caplog.at_level(logging.WARNING):
        source.taken(fetched)

    assert "not moved into 'done'" in caplog.text and "does not exist" in caplog.text
    assert graph_standin.names(FOLDER) == ["a.csv"]


def test_without_move_to_taken_leaves_the_file(graph_standin):
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    source = source_for(graph_standin)
    [fetched] = list(source.fetch({}))

    source.taken(fetched)

    assert graph_standin.names(FOLDER) == ["a.csv"]
    assert graph_standin.requests("move") == 0


def test_plain_http_graph_is_refused_unless_loopback(graph_standin):
    config = graph_standin.source("leavers", FOLDER)
    settings = settings_for(graph_standin, HRUPLOAD_GRAPH_URL="http://graph.example.com")

    with pytest.raises(ConfigError, match="HRUPLOAD_GRAPH_URL: plain http is refused"):
        SharePointSource.from_config(config, settings=settings, secret=TEST_GRAPH_SECRET)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"drvie_id": "x"}, "unknown field 'drvie_id'; the fields are name, kind, connector"),
        ({"drive_id": ""}, "'drive_id' is missing"),
        ({"folder": 3}, "'folder' must be text"),
    ],
)
def test_a_malformed_entry_is_a_config_error_naming_the_field(graph_standin, change, message):
    config = {**graph_standin.source("leavers", FOLDER), **change}

    with pytest.raises(ConfigError, match=message):
        SharePointSource.from_config(
            config, settings=settings_for(graph_standin), secret=TEST_GRAPH_SECRET
        )


def test_the_token_is_for_graph_from_the_cloud_login_when_graph_is_not_loopback():
    settings = load(
        {
            "HRUPLOAD_TENANT_ID": TEST_TENANT_ID,
            "HRUPLOAD_APP_ID": TEST_GRAPH_APP_ID,
            "HRUPLOAD_CLOUD": "gcc-high",
        }
    )
    source = SharePointSource.from_config(
        {"kind": "sharepoint", "connector": "c", "drive_id": "d", "folder": "f"},
        settings=settings,
        secret="s",  # never sent: the source is only built
    )
    assert source.graph_url == "https://graph.microsoft.us"
    assert source.scope == "https://graph.microsoft.us/.default"
    assert (
        source.token_url == f"https://login.microsoftonline.us/{TEST_TENANT_ID}/oauth2/v2.0/token"
    )


def test_every_cloud_has_its_graph():
    assert set(GRAPH_URLS) == set(CLOUDS)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("Leavers 2026.csv", "Leavers 2026.csv"),
        ("a/../b.csv", "a_.._b.csv"),
        ("\x1b[31mred.csv", "_[31mred.csv"),
        ("..", "file.csv"),
    ],
)
def test_item_names_become_safe_file_names(name, safe):
    assert safe_name(name) == safe


class _IdentityEndpoint(http.server.BaseHTTPRequestHandler):
    """App Service's managed-identity endpoint (IDENTITY_ENDPOINT / IDENTITY_HEADER), as
    azure-identity's ManagedIdentityCredential calls it; hands out ``server.token``."""

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        self.server.asked.append(query.get("resource", [""])[0])  # type: ignore[attr-defined]
        ok = self.headers.get("X-IDENTITY-HEADER") == "identity-header"
        body = json.dumps(
            {
                "access_token": self.server.token,  # type: ignore[attr-defined]
                "expires_on": str(int(time.time()) + 3600),
                "resource": query.get("resource", [""])[0],
                "token_type": "Bearer",
            }
            if ok
            else {"error": "unauthorized"}
        ).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def identity_endpoint(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _IdentityEndpoint)
    server.asked, server.token = [], ""  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{server.server_port}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "identity-header")
    monkeypatch.delenv("MSI_ENDPOINT", raising=False)
    yield server
    server.shutdown()
    server.server_close()


def test_without_a_secret_the_managed_identity_gets_the_graph_token(
    graph_standin, identity_endpoint
):
    # A token the Graph stand-in issued, handed out by the identity endpoint as Azure would.
    answer = requests.post(
        f"{graph_standin.url}/{TEST_TENANT_ID}/oauth2/v2.0/token",
        data={
            "client_id": TEST_GRAPH_APP_ID,
            "client_secret": TEST_GRAPH_SECRET,
            "grant_type": "client_credentials",
            "scope": "https://graph.microsoft.com/.default",
        },
        timeout=10,
    )
    identity_endpoint.token = answer.json()["access_token"]
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    source = SharePointSource.from_config(
        graph_standin.source("leavers", FOLDER), settings=settings_for(graph_standin), secret=None
    )

    assert [f.name for f in source.fetch({})] == ["a.csv"]
    assert identity_endpoint.asked == ["https://graph.microsoft.com"]
    assert graph_standin.requests("token") == 1  # only the test's own
