"""The Graph drive and HR report stand-ins, driven over loopback with plain requests.

The SharePoint and HTTPS sources will be tested against these servers, so their contracts
are pinned here: the v2.0 token endpoint's AADSTS codes, children paging by nextLink, eTags
that change with the content, a download URL that needs no Authorization header (and
noticing one that got it), the 401/403 paths, basic auth, and every fault kind.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import click
import jwt
import pytest
import requests

from hrupload_dev.connector import Fault
from hrupload_dev.entra import JWT_BEARER_ASSERTION
from hrupload_dev.graph import GRAPH_SCOPE, GraphStandIn
from hrupload_dev.report import RECORDS_KEY, ReportStandIn, rows_to_csv
from tests.plugins.standins import (
    TEST_DRIVE_ID,
    TEST_GRAPH_APP_ID,
    TEST_GRAPH_PAGE_SIZE,
    TEST_GRAPH_SECRET,
    TEST_REPORT_NAME,
    TEST_REPORT_OWNER,
    TEST_REPORT_PASSWORD,
    TEST_REPORT_USER,
    TEST_TENANT_ID,
    StandInCertificate,
)

TIMEOUT = 5
FOLDER = "HR/leavers"
CSV = b'EmailAddress,TerminationDate\r\nana@example.com,"2024-05-01"\r\n'


# -- helpers ----------------------------------------------------------------------------------


def graph_token_response(
    graph: GraphStandIn, *, tenant: str = TEST_TENANT_ID, **changes: str | None
) -> requests.Response:
    form: dict[str, str | None] = {
        "client_id": TEST_GRAPH_APP_ID,
        "client_secret": TEST_GRAPH_SECRET,
        "grant_type": "client_credentials",
        "scope": GRAPH_SCOPE,
    }
    form.update(changes)
    return requests.post(
        f"{graph.url}/{tenant}/oauth2/v2.0/token",
        data={k: v for k, v in form.items() if v is not None},
        timeout=TIMEOUT,
    )


def graph_token(graph: GraphStandIn) -> str:
    response = graph_token_response(graph)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def graph_get(
    graph: GraphStandIn, path_or_url: str, token: str | None, **kwargs: Any
) -> requests.Response:
    url = path_or_url if path_or_url.startswith("http") else f"{graph.url}{path_or_url}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kwargs.pop("extra", None) or {})
    kwargs.setdefault("allow_redirects", False)
    return requests.get(url, headers=headers, timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)


def children_path(folder: str = FOLDER, drive: str = TEST_DRIVE_ID) -> str:
    return f"/v1.0/drives/{drive}/root:/{folder}:/children"


def list_all(graph: GraphStandIn, token: str, folder: str = FOLDER) -> list[list[dict[str, Any]]]:
    """Every page of ``folder``'s children, following @odata.nextLink."""
    pages: list[list[dict[str, Any]]] = []
    url: str | None = children_path(folder)
    while url is not None:
        response = graph_get(graph, url, token)
        assert response.status_code == 200, response.text
        document = response.json()
        pages.append(document["value"])
        url = document.get("@odata.nextLink")
    return pages


def only_item(graph: GraphStandIn, token: str, name: str) -> dict[str, Any]:
    items = [i for page in list_all(graph, token) for i in page if i["name"] == name]
    assert len(items) == 1
    return items[0]


def basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def get_report(
    report: ReportStandIn, *, format: str = "csv", headers: dict[str, str] | None = None, **kw: Any
) -> requests.Response:
    return requests.get(
        report.report_url(TEST_REPORT_NAME, format=format, owner=TEST_REPORT_OWNER),
        headers=basic(TEST_REPORT_USER, TEST_REPORT_PASSWORD) if headers is None else headers,
        allow_redirects=False,
        timeout=kw.pop("timeout", TIMEOUT),
        **kw,
    )


def run_banner(module: str, *args: str) -> tuple[subprocess.Popen[str], list[str]]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HRUPLOAD_GRAPH_SECRET", "HRUPLOAD_REPORT_PASSWORD")
    }
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    banner: list[str] = []
    assert proc.stdout is not None
    while not banner or "Ctrl-C" not in banner[-1]:
        line = proc.stdout.readline()
        if not line:
            proc.kill()
            pytest.fail(f"the command ended early: {proc.stderr.read() if proc.stderr else ''}")
        banner.append(line)
    return proc, banner


def exports(banner: list[str]) -> dict[str, str]:
    return dict(
        line.split("export ", 1)[1].split("  #")[0].strip().split("=", 1)
        for line in banner
        if "export " in line
    )


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    return stdout, stderr


# -- Graph: the v2.0 token endpoint ----------------------------------------------------------


def test_graph_token_for_the_default_scope(graph_standin: GraphStandIn) -> None:
    response = graph_token_response(graph_standin)

    assert response.status_code == 200
    document = response.json()
    assert document["token_type"] == "Bearer"
    assert isinstance(document["expires_in"], int) and document["expires_in"] > 3000
    assert document["access_token"]
    assert graph_standin.requests("token") == 1


@pytest.mark.parametrize(
    ("changes", "status", "error", "code"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client", 7000215),
        ({"client_id": str(uuid.UUID(int=7))}, 400, "unauthorized_client", 700016),
        ({"tenant": "not-our-tenant"}, 400, "invalid_request", 90002),
        ({"scope": None}, 400, "invalid_request", 900144),
        ({"scope": "https://graph.microsoft.com/Files.Read.All"}, 400, "invalid_scope", 1002012),
        ({"scope": "https://vault.azure.net/.default"}, 400, "invalid_resource", 500011),
        ({"resource": "https://graph.microsoft.com"}, 400, "invalid_request", 901002),
        ({"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
        ({"client_secret": None}, 401, "invalid_client", 7000218),
    ],
)
def test_graph_token_refusals_are_entras(
    graph_standin: GraphStandIn, changes: dict[str, str | None], status: int, error: str, code: int
) -> None:
    tenant = changes.pop("tenant", None) or TEST_TENANT_ID
    response = graph_token_response(graph_standin, tenant=tenant, **changes)

    assert response.status_code == status
    document = response.json()
    assert document["error"] == error
    assert document["error_codes"] == [code]
    assert document["error_description"].startswith(f"AADSTS{code}: ")
    assert "Trace ID: " in document["error_description"]
    assert TEST_GRAPH_SECRET not in response.text


def test_graph_token_with_a_client_assertion_for_the_v2_url(
    graph_standin: GraphStandIn, test_certificate: StandInCertificate
) -> None:
    now = int(time.time())
    token_url = f"{graph_standin.url}/{TEST_TENANT_ID}/oauth2/v2.0/token"
    claims = {
        "aud": token_url,
        "iss": TEST_GRAPH_APP_ID,
        "sub": TEST_GRAPH_APP_ID,
        "jti": str(uuid.uuid4()),
        "nbf": now,
        "exp": now + 600,
    }
    assertion = jwt.encode(
        claims, test_certificate.key_pem, algorithm="RS256", headers={"x5t": test_certificate.x5t}
    )
    form = {
        "client_id": TEST_GRAPH_APP_ID,
        "client_assertion": assertion,
        "client_assertion_type": JWT_BEARER_ASSERTION,
        "grant_type": "client_credentials",
        "scope": GRAPH_SCOPE,
    }
    good = requests.post(token_url, data=form, timeout=TIMEOUT)
    # The v1 URL is another audience: an assertion made for it is refused here.
    v1_claims = claims | {"aud": f"{graph_standin.url}/{TEST_TENANT_ID}/oauth2/token"}
    form["client_assertion"] = jwt.encode(
        v1_claims | {"jti": str(uuid.uuid4())},
        test_certificate.key_pem,
        algorithm="RS256",
        headers={"x5t": test_certificate.x5t},
    )
    wrong_audience = requests.post(token_url, data=form, timeout=TIMEOUT)

    assert good.status_code == 200, good.text
    assert wrong_audience.status_code == 401
    assert wrong_audience.json()["error_codes"] == [50013]


# -- Graph: listing children ------------------------------------------------------------------


def test_children_page_by_next_link_and_describe_each_item(graph_standin: GraphStandIn) -> None:
    names = [f"leavers-{n}.csv" for n in range(5)]
    for name in names:
        graph_standin.put_file(f"{FOLDER}/{name}", CSV)
    graph_standin.make_folder(f"{FOLDER}/taken")
    token = graph_token(graph_standin)

    pages = list_all(graph_standin, token)

    assert [len(p) for p in pages] == [TEST_GRAPH_PAGE_SIZE] * 3  # 6 children, 2 a page
    items = [i for page in pages for i in page]
    assert [i["name"] for i in items] == ["taken", *names]  # folders first, then by name
    folder, first = items[0], items[1]
    assert folder["folder"] == {"childCount": 0}
    assert "file" not in folder and "@microsoft.graph.downloadUrl" not in folder
    assert first["file"] == {"mimeType": "text/csv"}
    assert first["size"] == len(CSV)
    for key in ("id", "eTag", "cTag", "lastModifiedDateTime", "@microsoft.graph.downloadUrl"):
        assert first[key], key
    assert first["parentReference"]["driveId"] == TEST_DRIVE_ID
    assert first["parentReference"]["path"] == f"/drives/{TEST_DRIVE_ID}/root:/{FOLDER}"
    assert len({i["id"] for i in items}) == 6
    assert graph_standin.requests("children") == 3


def test_top_sets_the_page_size_and_items_children_answers_the_same(
    graph_standin: GraphStandIn,
) -> None:
    for n in range(3):
        graph_standin.put_file(f"{FOLDER}/{n}.csv", CSV)
    folder_id = graph_standin.item(FOLDER)["id"]  # type: ignore[index]
    token = graph_token(graph_standin)

    by_path = graph_get(graph_standin, children_path(), token, params={"$top": 10}).json()
    by_id = graph_get(
        graph_standin,
        f"/v1.0/drives/{TEST_DRIVE_ID}/items/{folder_id}/children",
        token,
        params={"$top": 10},
    ).json()
    root = graph_get(graph_standin, f"/v1.0/drives/{TEST_DRIVE_ID}/root/children", token).json()

    assert [i["name"] for i in by_path["value"]] == ["0.csv", "1.csv", "2.csv"]
    assert "@odata.nextLink" not in by_path
    assert [i["id"] for i in by_id["value"]] == [i["id"] for i in by_path["value"]]
    assert [i["name"] for i in root["value"]] == ["HR"]


def test_an_empty_folder_has_no_next_link_and_a_missing_one_is_item_not_found(
    graph_standin: GraphStandIn,
) -> None:
    graph_standin.make_folder(FOLDER)
    token = graph_token(graph_standin)

    empty = graph_get(graph_standin, children_path(), token)
    missing = graph_get(graph_standin, children_path("HR/nowhere"), token)

    assert empty.status_code == 200 and empty.json()["value"] == []
    assert "@odata.nextLink" not in empty.json()
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "itemNotFound"
    assert missing.json()["error"]["innerError"]["request-id"]


def test_replacing_a_file_keeps_its_id_and_changes_etag_and_ctag(
    graph_standin: GraphStandIn,
) -> None:
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    token = graph_token(graph_standin)
    before = only_item(graph_standin, token, "a.csv")
    again = only_item(graph_standin, token, "a.csv")

    graph_standin.put_file(f"{FOLDER}/a.csv", CSV + b"bo@example.com,2024-05-02\r\n")
    after = only_item(graph_standin, token, "a.csv")

    assert (again["eTag"], again["cTag"]) == (before["eTag"], before["cTag"])  # unchanged
    assert after["id"] == before["id"]
    assert after["eTag"] != before["eTag"]
    assert after["cTag"] != before["cTag"]
    assert after["size"] > before["size"]


def test_a_deleted_file_is_gone_from_the_listing(graph_standin: GraphStandIn) -> None:
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    graph_standin.put_file(f"{FOLDER}/b.csv", CSV)
    token = graph_token(graph_standin)

    assert graph_standin.delete(f"{FOLDER}/a.csv")
    assert not graph_standin.delete(f"{FOLDER}/a.csv")

    assert [i["name"] for page in list_all(graph_standin, token) for i in page] == ["b.csv"]


# -- Graph: downloading -----------------------------------------------------------------------


def test_download_url_needs_no_authorization_and_notices_one(graph_standin: GraphStandIn) -> None:
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    token = graph_token(graph_standin)
    url = only_item(graph_standin, token, "a.csv")["@microsoft.graph.downloadUrl"]

    plain = requests.get(url, timeout=TIMEOUT)
    assert plain.status_code == 200 and plain.content == CSV
    assert graph_standin.download_authorizations == 0

    leaked = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
    assert leaked.status_code == 200
    assert graph_standin.download_authorizations == 1
    assert graph_standin.requests("download") == 2


def test_download_url_is_refused_when_expired_or_forged(graph_standin: GraphStandIn) -> None:
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    token = graph_token(graph_standin)
    url = only_item(graph_standin, token, "a.csv")["@microsoft.graph.downloadUrl"]
    forged = url.split("?")[0] + "?tempauth=forged"

    assert requests.get(forged, timeout=TIMEOUT).status_code == 401
    graph_standin.expire_download_urls()
    expired = requests.get(url, timeout=TIMEOUT)

    assert expired.status_code == 401
    assert CSV not in expired.content


def test_content_answers_302_to_the_download_url_on_the_same_stand_in(
    graph_standin: GraphStandIn,
) -> None:
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    token = graph_token(graph_standin)
    item_id = only_item(graph_standin, token, "a.csv")["id"]
    content = f"/v1.0/drives/{TEST_DRIVE_ID}/items/{item_id}/content"

    redirect = graph_get(graph_standin, content, token)
    location = redirect.headers["Location"]
    followed = requests.get(location, timeout=TIMEOUT)  # without Authorization, as it must be
    # requests keeps the Authorization header on a same-host redirect: the stand-in sees it.
    naive = graph_get(graph_standin, content, token, allow_redirects=True)

    assert redirect.status_code == 302
    assert location.startswith(f"{graph_standin.url}/_download/")
    assert "tempauth=" in location
    assert followed.content == CSV
    assert naive.content == CSV
    assert graph_standin.download_authorizations == 1
    assert graph_standin.requests("content") == 2


def test_content_of_a_folder_is_refused(graph_standin: GraphStandIn) -> None:
    graph_standin.make_folder(FOLDER)
    token = graph_token(graph_standin)

    response = graph_get(
        graph_standin, f"/v1.0/drives/{TEST_DRIVE_ID}/root:/{FOLDER}:/content", token
    )

    assert response.status_code == 400


def test_if_none_match_with_the_current_tag_is_304(graph_standin: GraphStandIn) -> None:
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    token = graph_token(graph_standin)
    item = only_item(graph_standin, token, "a.csv")
    base = f"/v1.0/drives/{TEST_DRIVE_ID}/items/{item['id']}"

    answers = {
        (tag, tail): graph_get(
            graph_standin, f"{base}{tail}", token, extra={"If-None-Match": item[tag]}
        ).status_code
        for tag in ("eTag", "cTag")
        for tail in ("", "/content")
    }
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV + b"x,y\r\n")
    changed = graph_get(
        graph_standin, f"{base}/content", token, extra={"If-None-Match": item["eTag"]}
    )

    assert len(answers) == 4 and set(answers.values()) == {304}
    assert changed.status_code == 302


# -- Graph: moving ----------------------------------------------------------------------------


def test_patch_parent_reference_moves_a_file_into_a_subfolder(graph_standin: GraphStandIn) -> None:
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    taken = graph_standin.make_folder(f"{FOLDER}/taken")
    token = graph_token(graph_standin)
    item = only_item(graph_standin, token, "a.csv")

    response = requests.patch(
        f"{graph_standin.url}/v1.0/drives/{TEST_DRIVE_ID}/items/{item['id']}",
        json={"parentReference": {"id": taken["id"]}},
        headers={"Authorization": f"Bearer {token}", "If-Match": item["eTag"]},
        timeout=TIMEOUT,
    )

    assert response.status_code == 200, response.text
    moved = response.json()
    assert moved["id"] == item["id"]
    assert moved["parentReference"]["id"] == taken["id"]
    assert moved["cTag"] == item["cTag"] and moved["eTag"] != item["eTag"]
    assert graph_standin.names(FOLDER) == ["taken"]
    assert graph_standin.names(f"{FOLDER}/taken") == ["a.csv"]
    assert graph_standin.requests("move") == 1


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("stale-etag", 412, "preconditionFailed"),
        ("name-taken", 409, "nameAlreadyExists"),
        ("no-parent", 404, "itemNotFound"),
        ("not-json", 400, "invalidRequest"),
        ("other-drive", 400, "invalidRequest"),
    ],
)
def test_a_move_that_cannot_happen_is_refused_and_changes_nothing(
    graph_standin: GraphStandIn, case: str, status: int, code: str
) -> None:
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    graph_standin.put_file(f"{FOLDER}/taken/a.csv", CSV)
    taken = graph_standin.item(f"{FOLDER}/taken")
    token = graph_token(graph_standin)
    item = only_item(graph_standin, token, "a.csv")
    headers = {"Authorization": f"Bearer {token}"}
    body: Any = {"parentReference": {"id": taken["id"]}}  # type: ignore[index]
    if case == "stale-etag":
        headers["If-Match"] = item["eTag"]
        graph_standin.put_file(f"{FOLDER}/a.csv", CSV + b"x,y\r\n")
        body = {"parentReference": {"id": graph_standin.make_folder(f"{FOLDER}/other")["id"]}}
    elif case == "no-parent":
        body = {"parentReference": {"id": "01NOSUCHITEM"}}
    elif case == "other-drive":
        body = {"parentReference": {"id": taken["id"], "driveId": "b!b3RoZXI"}}  # type: ignore[index]
    data = b"{not json" if case == "not-json" else json.dumps(body).encode()

    response = requests.patch(
        f"{graph_standin.url}/v1.0/drives/{TEST_DRIVE_ID}/items/{item['id']}",
        data=data,
        headers=headers | {"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert "a.csv" in graph_standin.names(FOLDER)


# -- Graph: 401 and 403 -----------------------------------------------------------------------


@pytest.mark.parametrize("case", ["none", "unknown", "expired", "basic"])
def test_every_api_call_needs_a_bearer_token(graph_standin: GraphStandIn, case: str) -> None:
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    token = graph_token(graph_standin)
    item_id = graph_standin.item(f"{FOLDER}/a.csv")["id"]  # type: ignore[index]
    headers = {
        "none": {},
        "unknown": {"Authorization": "Bearer not-a-token"},
        "expired": {"Authorization": f"Bearer {token}"},
        "basic": {"Authorization": "Basic " + base64.b64encode(b"a:b").decode()},
    }[case]
    if case == "expired":
        graph_standin.expire_tokens()
    base = f"{graph_standin.url}/v1.0/drives/{TEST_DRIVE_ID}"

    answers = [
        requests.get(f"{base}/root:/{FOLDER}:/children", headers=headers, timeout=TIMEOUT),
        requests.get(f"{base}/items/{item_id}", headers=headers, timeout=TIMEOUT),
        requests.get(
            f"{base}/items/{item_id}/content",
            headers=headers,
            allow_redirects=False,
            timeout=TIMEOUT,
        ),
        requests.patch(f"{base}/items/{item_id}", json={}, headers=headers, timeout=TIMEOUT),
    ]

    for response in answers:
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
        assert response.headers["WWW-Authenticate"].startswith("Bearer ")
        assert "Location" not in response.headers
    if case == "expired":
        assert "expired" in answers[0].json()["error"]["message"]


def test_a_drive_not_granted_is_403_until_granted(graph_standin: GraphStandIn) -> None:
    other = graph_standin.add_drive("b!b3RoZXItc2l0ZQ.b3RoZXI")
    graph_standin.put_file("HR/a.csv", CSV, drive_id=other)
    token = graph_token(graph_standin)

    refused = graph_get(graph_standin, children_path("HR", drive=other), token)
    graph_standin.grant(other)
    granted = graph_get(graph_standin, children_path("HR", drive=other), token)
    graph_standin.revoke(other)
    revoked = graph_get(graph_standin, children_path("HR", drive=other), token)
    unknown = graph_get(graph_standin, children_path("HR", drive="b!bm9uZQ"), token)

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "accessDenied"
    assert CSV.decode() not in refused.text
    assert granted.status_code == 200 and [i["name"] for i in granted.json()["value"]] == ["a.csv"]
    assert revoked.status_code == 403
    assert unknown.status_code == 404


# -- Graph: faults ----------------------------------------------------------------------------


def test_status_fault_answers_in_graphs_error_format_once(graph_standin: GraphStandIn) -> None:
    graph_standin.make_folder(FOLDER)
    token = graph_token(graph_standin)
    graph_standin.add_faults(Fault.http(429, retry_after=3), endpoint="children")

    throttled = graph_get(graph_standin, children_path(), token)
    then = graph_get(graph_standin, children_path(), token)

    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "3"
    assert throttled.json()["error"]["code"] == "activityLimitReached"
    assert then.status_code == 200
    assert graph_standin.requests("children") == 2


def test_redirect_fault_sends_the_client_to_plain_http_elsewhere(
    graph_standin: GraphStandIn,
) -> None:
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    token = graph_token(graph_standin)
    item_id = graph_standin.item(f"{FOLDER}/a.csv")["id"]  # type: ignore[index]
    graph_standin.add_faults(Fault.redirect("http://evil.example/steal", 302), endpoint="content")
    graph_standin.add_faults(Fault.redirect("http://evil.example/list", 307), endpoint="children")

    content = graph_get(
        graph_standin, f"/v1.0/drives/{TEST_DRIVE_ID}/items/{item_id}/content", token
    )
    children = graph_get(graph_standin, children_path(), token)

    assert (content.status_code, content.headers["Location"]) == (302, "http://evil.example/steal")
    assert (children.status_code, children.headers["Location"]) == (307, "http://evil.example/list")


def test_download_url_that_redirects_again(graph_standin: GraphStandIn) -> None:
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    token = graph_token(graph_standin)
    url = only_item(graph_standin, token, "a.csv")["@microsoft.graph.downloadUrl"]
    graph_standin.add_faults(Fault.redirect(url, 302), endpoint="download")

    again = requests.get(url, allow_redirects=False, timeout=TIMEOUT)
    then = requests.get(url, timeout=TIMEOUT)

    assert again.status_code == 302 and again.headers["Location"] == url
    assert CSV not in again.content
    assert then.content == CSV


def test_html_fault_is_a_sign_in_page_with_200(graph_standin: GraphStandIn) -> None:
    graph_standin.make_folder(FOLDER)
    token = graph_token(graph_standin)
    graph_standin.add_faults(Fault.html(), endpoint="children")

    response = graph_get(graph_standin, children_path(), token)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Sign in" in response.text


@pytest.mark.parametrize("kind", ["drop", "reset"])
def test_drop_and_reset_faults_end_the_connection_without_an_answer(
    graph_standin: GraphStandIn, kind: str
) -> None:
    graph_standin.put_file(f"{FOLDER}/a.csv", CSV)
    token = graph_token(graph_standin)
    url = only_item(graph_standin, token, "a.csv")["@microsoft.graph.downloadUrl"]
    graph_standin.add_faults(Fault.drop() if kind == "drop" else Fault.reset(), endpoint="download")

    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=TIMEOUT)
    assert requests.get(url, timeout=TIMEOUT).content == CSV


def test_delay_fault_trips_a_client_timeout(graph_standin: GraphStandIn) -> None:
    graph_standin.make_folder(FOLDER)
    token = graph_token(graph_standin)
    graph_standin.add_faults(Fault.delay(1.0), endpoint="children")

    with pytest.raises(requests.Timeout):
        graph_get(graph_standin, children_path(), token, timeout=0.2)
    assert graph_get(graph_standin, children_path(), token).status_code == 200


def test_token_endpoint_faults(graph_standin: GraphStandIn) -> None:
    graph_standin.add_faults(Fault.http(503), Fault.html(), endpoint="token")

    unavailable = graph_token_response(graph_standin)
    proxy = graph_token_response(graph_standin)

    assert unavailable.status_code == 503
    assert unavailable.json()["error"] == "temporarily_unavailable"
    assert proxy.status_code == 200 and "access_token" not in proxy.text
    assert graph_token_response(graph_standin).status_code == 200
    assert graph_standin.requests("token") == 3


def test_the_control_endpoints_drive_it_from_another_process(graph_standin: GraphStandIn) -> None:
    base = f"{graph_standin.url}/_standin"
    put = requests.put(f"{base}/files/{TEST_DRIVE_ID}/{FOLDER}/a.csv", data=CSV, timeout=TIMEOUT)
    faults = requests.post(f"{base}/faults", json={"children": [{"status": 503}]}, timeout=TIMEOUT)
    bad = requests.post(f"{base}/faults", json={"nowhere": []}, timeout=TIMEOUT)
    token = graph_token(graph_standin)
    faulted = graph_get(graph_standin, children_path(), token)
    listed = graph_get(graph_standin, children_path(), token)
    deleted = requests.delete(f"{base}/files/{TEST_DRIVE_ID}/{FOLDER}/a.csv", timeout=TIMEOUT)
    state = requests.get(f"{base}/state", timeout=TIMEOUT).json()

    assert put.status_code == 200 and put.json()["size"] == len(CSV)
    assert faults.json()["pending"]["children"] == [{"kind": "status", "status": 503}]
    assert bad.status_code == 400
    assert faulted.status_code == 503
    assert [i["name"] for i in listed.json()["value"]] == ["a.csv"]
    assert deleted.json() == {"deleted": True}
    assert state["requests"]["children"] == 2
    assert state["requests"]["token"] == 1
    assert state["download_authorizations"] == 0


def test_graph_command_prints_settings_and_a_generated_secret_once(tmp_path: Path) -> None:
    (tmp_path / "leavers.csv").write_bytes(CSV)
    (tmp_path / "notes.txt").write_text("not a csv")
    proc, banner = run_banner("hrupload_dev.graph", "--seed", str(tmp_path), "--page-size", "1")
    try:
        values = exports(banner)
        url, secret = values["HRUPLOAD_GRAPH_URL"], values["HRUPLOAD_GRAPH_SECRET"]
        source = json.loads(next(line for line in banner if "source:" in line).split("source:")[1])
        token = requests.post(
            f"{url}/{values['HRUPLOAD_TENANT_ID']}/oauth2/v2.0/token",
            data={
                "client_id": values["HRUPLOAD_APP_ID"],
                "client_secret": secret,
                "grant_type": "client_credentials",
                "scope": GRAPH_SCOPE,
            },
            timeout=TIMEOUT,
        ).json()["access_token"]
        listing = requests.get(
            f"{url}/v1.0/drives/{source['drive_id']}/root:/{source['folder']}:/children",
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        ).json()
        stdout, stderr = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert [i["name"] for i in listing["value"]] == ["leavers.csv"]
    assert source["kind"] == "sharepoint"
    assert source["secret_env"] == "HRUPLOAD_GRAPH_SECRET"
    everything = "".join(banner) + stdout + stderr
    assert everything.count(secret) == 1
    assert token not in everything
    assert "ana@example.com" not in everything


# -- the report endpoint ----------------------------------------------------------------------

ROWS = [
    {"EmailAddress": "ana@example.com", "TerminationDate": "2024-05-01", "Name": "Müller, Ana"},
    {"EmailAddress": "bo@example.com", "TerminationDate": "2024-05-02", "Manager": "cy"},
]


def test_report_as_csv_with_basic_auth(report_standin: ReportStandIn) -> None:
    report_standin.set_report(TEST_REPORT_NAME, ROWS, owner=TEST_REPORT_OWNER)

    response = get_report(report_standin)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"), newline="")))
    assert [r["EmailAddress"] for r in rows] == ["ana@example.com", "bo@example.com"]
    assert list(rows[0]) == ["EmailAddress", "TerminationDate", "Name", "Manager"]
    assert rows[0]["Name"] == "Müller, Ana" and rows[0]["Manager"] == ""
    assert report_standin.requests == 1 and report_standin.served == 1


def test_report_as_json_keeps_nested_values(report_standin: ReportStandIn) -> None:
    nested = [{"EmailAddress": "ana@example.com", "Worker": {"ID": "W1", "Tags": ["a", "b"]}}]
    report_standin.set_report(TEST_REPORT_NAME, nested, owner=TEST_REPORT_OWNER)

    response = get_report(report_standin, format="json")

    assert response.status_code == 200
    assert response.json() == {RECORDS_KEY: nested}


def test_report_csv_can_be_given_byte_for_byte(report_standin: ReportStandIn) -> None:
    raw = "\ufeffEmailAddress;Date\nana@example.com;01.05.2024\n".encode()
    report_standin.set_report(TEST_REPORT_NAME, [], csv=raw, owner=TEST_REPORT_OWNER)

    assert get_report(report_standin).content == raw


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic(TEST_REPORT_USER, "wrong"),
        basic("someone-else", TEST_REPORT_PASSWORD),
        {"Authorization": "Basic not*base64"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        {"Authorization": "Bearer unknown"},
    ],
    ids=["none", "wrong-password", "wrong-user", "not-base64", "no-colon", "unknown-bearer"],
)
def test_bad_credentials_are_401_with_a_basic_challenge(
    report_standin: ReportStandIn, headers: dict[str, str]
) -> None:
    report_standin.set_report(TEST_REPORT_NAME, ROWS, owner=TEST_REPORT_OWNER)

    response = get_report(report_standin, headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert b"ana@example.com" not in response.content
    assert report_standin.refused == 1 and report_standin.served == 0


def test_a_configured_bearer_token_is_accepted(report_standin: ReportStandIn) -> None:
    report_standin.set_report(TEST_REPORT_NAME, ROWS, owner=TEST_REPORT_OWNER)
    report_standin.add_token("report-token")

    response = get_report(report_standin, headers={"Authorization": "Bearer report-token"})

    assert response.status_code == 200


def test_client_credentials_tokens_work_until_expired(report_standin: ReportStandIn) -> None:
    report_standin.set_report(TEST_REPORT_NAME, ROWS, owner=TEST_REPORT_OWNER)
    report_standin.set_client("hr-client", "client-secret")
    url = report_standin.token_url()
    form = {"grant_type": "client_credentials", "client_id": "hr-client"}

    wrong = requests.post(url, data=form | {"client_secret": "nope"}, timeout=5)
    answer = requests.post(url, data=form | {"client_secret": "client-secret"}, timeout=5)

    assert wrong.status_code == 401 and wrong.json() == {"error": "invalid_client"}
    assert answer.status_code == 200
    doc = answer.json()
    assert (doc["token_type"], doc["expires_in"]) == ("Bearer", 3600)
    bearer = {"Authorization": f"Bearer {doc['access_token']}"}
    assert get_report(report_standin, headers=bearer).status_code == 200
    report_standin.expire_tokens()
    assert get_report(report_standin, headers=bearer).status_code == 401, "before expires_in"
    assert (report_standin.token_requests, report_standin.tokens_issued) == (2, 1)


def test_a_changed_password_stops_the_old_one(report_standin: ReportStandIn) -> None:
    report_standin.set_user(TEST_REPORT_USER, "rotated")

    assert get_report(report_standin).status_code == 401
    assert get_report(report_standin, headers=basic(TEST_REPORT_USER, "rotated")).status_code == 200


def test_unknown_report_and_unsupported_format(report_standin: ReportStandIn) -> None:
    unknown = requests.get(
        report_standin.report_url("Nope", owner=TEST_REPORT_OWNER),
        headers=basic(TEST_REPORT_USER, TEST_REPORT_PASSWORD),
        timeout=TIMEOUT,
    )
    xml = get_report(report_standin, format="xml")

    assert unknown.status_code == 404
    assert xml.status_code == 400


@pytest.mark.parametrize(
    "location", ["http://evil.example/report", "https://login.other.example/sso"]
)
def test_report_redirect_fault(report_standin: ReportStandIn, location: str) -> None:
    report_standin.add_faults(Fault.redirect(location, 302))

    response = get_report(report_standin)

    assert response.status_code == 302
    assert response.headers["Location"] == location
    assert get_report(report_standin).status_code == 200


def test_report_html_login_page_with_200(report_standin: ReportStandIn) -> None:
    report_standin.add_faults(Fault.html(200))

    response = get_report(report_standin)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<form" in response.text


def test_report_slow_drop_and_status_faults(report_standin: ReportStandIn) -> None:
    report_standin.add_faults(Fault.delay(1.0), Fault.drop(), Fault.http(503, retry_after=5))

    with pytest.raises(requests.Timeout):
        get_report(report_standin, timeout=0.2)
    with pytest.raises(requests.ConnectionError):
        get_report(report_standin)
    unavailable = get_report(report_standin)

    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"] == "5"
    assert get_report(report_standin).status_code == 200
    assert report_standin.requests == 4


def test_report_control_endpoints(report_standin: ReportStandIn) -> None:
    base = f"{report_standin.url}/_standin"
    path = f"reports/{report_standin.tenant}/{TEST_REPORT_OWNER}/{TEST_REPORT_NAME}"

    put = requests.put(f"{base}/{path}", json={"rows": ROWS}, timeout=TIMEOUT)
    bad = requests.put(f"{base}/{path}", json={"rows": "x"}, timeout=TIMEOUT)
    faults = requests.post(f"{base}/faults", json={"report": [{"status": 500}]}, timeout=TIMEOUT)
    failed = get_report(report_standin, format="json")
    served = get_report(report_standin, format="json")
    state = requests.get(f"{base}/state", timeout=TIMEOUT).json()

    assert put.status_code == 200 and put.json()["url"].endswith(TEST_REPORT_NAME)
    assert bad.status_code == 400
    assert faults.status_code == 200
    assert failed.status_code == 500
    assert served.json()[RECORDS_KEY] == ROWS
    assert (state["requests"], state["served"]) == (2, 1)


def test_rows_to_csv_quotes_and_writes_nested_values_as_json() -> None:
    content = rows_to_csv([{"a": 'x,"y"', "b": None}, {"c": {"d": 1}}])

    assert content == b'a,b,c\r\n"x,""y""",,\r\n,,"{""d"": 1}"\r\n'


def test_report_command_prints_settings_and_a_generated_password_once(tmp_path: Path) -> None:
    (tmp_path / "leavers.csv").write_bytes(CSV)
    proc, banner = run_banner("hrupload_dev.report", "--csv", str(tmp_path / "leavers.csv"))
    try:
        password = exports(banner)["HRUPLOAD_REPORT_PASSWORD"]
        source = json.loads(next(line for line in banner if "source:" in line).split("source:")[1])
        auth = basic(source["auth"]["username"], password)
        as_csv = requests.get(source["url"], headers=auth, timeout=TIMEOUT)
        as_json = requests.get(
            source["url"].replace("format=csv", "format=json"), headers=auth, timeout=TIMEOUT
        )
        stdout, stderr = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert as_csv.content == CSV
    assert as_json.json()[RECORDS_KEY] == [
        {"EmailAddress": "ana@example.com", "TerminationDate": "2024-05-01"}
    ]
    assert source["kind"] == "https" and source["auth"]["secret_env"] == "HRUPLOAD_REPORT_PASSWORD"
    everything = "".join(banner) + stdout + stderr
    assert everything.count(password) == 1
    assert "ana@example.com" not in everything


@pytest.mark.parametrize("command", ["graph", "report"])
def test_help_shows_every_default(command: str) -> None:
    from click.testing import CliRunner

    from hrupload_dev.graph import graph_command
    from hrupload_dev.report import report_command

    chosen = {"graph": graph_command, "report": report_command}[command]
    result = CliRunner().invoke(chosen, ["--help"])

    assert result.exit_code == 0
    options = [p for p in chosen.params if isinstance(p, click.Option) and p.name != "help"]
    shown = [p.name for p in options if p.show_default or "[default:" in (p.help or "")]
    assert shown == [p.name for p in options]
    assert result.output.count("default") >= len(options)
