"""Check a file: the same report as ``hrupload validate``, nothing stored, the size limit,
the CSRF token, and no file-derived text reaching the page as markup (no cell value at all)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from werkzeug.test import Client

from hrupload.settings import load
from hrupload.web import create_app
from tests.plugins.web import WEB_KEY, csrf_of

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"

HOSTILE_NAME = "<script>alert(1)</script>.csv"
HOSTILE_COLUMN = "<img src=x onerror=alert(1)>"
SECRET_EMAIL = "jane.secret.doe@contoso.com"
HOSTILE_CELL = f"<script>steal('{SECRET_EMAIL}')</script>"
HOSTILE_CSV = (
    f"EmailAddress,ResignationDate,LastWorkingDate,{HOSTILE_COLUMN}\n"
    f"{HOSTILE_CELL},2026-01-01T00:00:00Z,2026-01-31T00:00:00Z,x\n"
    f"{SECRET_EMAIL},not a date <b>bold</b>,2026-01-31T00:00:00Z,{HOSTILE_CELL}\n"
    "ok.person@contoso.com,2026-01-01T00:00:00Z,2026-01-31T00:00:00Z,y\n"
).encode()


def post_check(client: Client, data: bytes, name: str, **fields: str):
    page = client.get("/api/check").get_data(as_text=True)
    form = {"csrf": csrf_of(page), "file": (io.BytesIO(data), name), **fields}
    return client.post("/api/check", data=form, content_type="multipart/form-data")


def snapshot(storage) -> dict:
    """Every blob and every run-log row of the test's storage."""
    blobs = {
        c: sorted((b.name, b.etag) for b in storage.list_blobs(c))
        for c in (storage.incoming, storage.processed, storage.failed)
    }
    table = storage.table_service.get_table_client(storage.runs_table)
    try:
        rows = sorted(str(e.get("RowKey")) for e in table.list_entities())
    except Exception:  # no table yet: nothing has run
        rows = []
    return {"blobs": blobs, "rows": rows}


def validate_cli(path: Path) -> dict:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("hrupload")), "validate", "--json", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return json.loads(done.stdout)["data"]["files"][0]


def test_the_form_has_labels_the_limit_and_a_token(web_client):
    page = web_client.get("/api/check").get_data(as_text=True)
    assert '<label for="file">' in page and 'id="file"' in page
    assert "10 MiB" in page
    assert csrf_of(page)


def test_a_good_file_is_valid_and_nothing_is_stored(web_client, hr_storage):
    before = snapshot(hr_storage)
    response = post_check(web_client, (SAMPLES / "resignation.csv").read_bytes(), "resignation.csv")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "every row is valid" in page
    assert response.headers["Cache-Control"] == "no-store"
    assert snapshot(hr_storage) == before


def test_the_report_is_the_one_hrupload_validate_prints(web_client, hr_storage, tmp_path):
    path = tmp_path / "resignation.csv"
    path.write_bytes(HOSTILE_CSV)
    expected = validate_cli(path)
    assert expected["rejected"] >= 1  # the file is a useful test: it has row errors
    page = post_check(web_client, HOSTILE_CSV, "resignation.csv").get_data(as_text=True)
    for e in expected["errors"]:
        assert f'<td class="num">{e["line"]}</td>' in page
        assert f"<code>{e['code']}</code>" in page
    assert f"<dt>Rejected</dt><dd>{expected['rejected']}</dd>" in page
    assert f"<dt>Valid</dt><dd>{expected['valid']}</dd>" in page


def test_hostile_names_columns_and_cells_never_reach_the_page_raw(web_client, hr_storage):
    before = snapshot(hr_storage)
    response = post_check(web_client, HOSTILE_CSV, HOSTILE_NAME)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for raw in (HOSTILE_NAME, HOSTILE_COLUMN, "<script", "<img", "<b>"):
        assert raw not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.csv" in page  # the name, escaped
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # the column, escaped
    # A cell value is not on the page at all, not even escaped.
    for value in (SECRET_EMAIL, "steal(", "not a date", "bold", "ok.person"):
        assert value not in page
    assert snapshot(hr_storage) == before


def test_a_file_over_the_limit_gets_a_413_page(web_env, hr_storage):
    app = create_app(load(web_env | {"HRUPLOAD_WEB_MAX_KB": "1"}))
    client = Client(app)
    client.get(f"/api/?code={WEB_KEY}")
    big = (SAMPLES / "resignation.csv").read_bytes() * 40
    assert len(big) > 1024
    response = post_check(client, big, "resignation.csv")
    page = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "The file is too large" in page and "1 KiB" in page
    assert "Traceback" not in page
    small = post_check(client, (SAMPLES / "resignation.csv").read_bytes()[:900], "resignation.csv")
    assert small.status_code == 200


def test_a_body_far_over_the_limit_is_refused_before_it_is_read(web_env):
    app = create_app(load(web_env | {"HRUPLOAD_WEB_MAX_KB": "1"}))
    client = Client(app)
    client.get(f"/api/?code={WEB_KEY}")
    response = client.post(
        "/api/check",
        data={"csrf": "x", "file": (io.BytesIO(b"a" * (1 << 20)), "big.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_a_post_without_the_right_token_is_refused(web_client, hr_storage, token):
    web_client.get("/api/check")
    form = {"file": (io.BytesIO(b"EmailAddress\n"), "x.csv")}
    if token is not None:
        form["csrf"] = token
    response = web_client.post("/api/check", data=form, content_type="multipart/form-data")
    assert response.status_code == 403
    assert "Reload the page" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}],
)
def test_a_post_from_another_site_is_refused_even_with_the_token(web_client, headers):
    token = csrf_of(web_client.get("/api/check").get_data(as_text=True))
    form = {"csrf": token, "file": (io.BytesIO(b"EmailAddress\n"), "x.csv")}
    response = web_client.post(
        "/api/check", data=form, content_type="multipart/form-data", headers=headers
    )
    assert response.status_code == 403


def test_a_browsers_own_form_under_no_referrer_sends_origin_null_and_passes(web_client):
    token = csrf_of(web_client.get("/api/check").get_data(as_text=True))
    form = {"csrf": token, "file": (io.BytesIO(b"EmailAddress\n"), "resignation.csv")}
    own = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    response = web_client.post(
        "/api/check", data=form, content_type="multipart/form-data", headers=own
    )
    assert response.status_code == 200
    form = {"csrf": token, "file": (io.BytesIO(b"EmailAddress\n"), "resignation.csv")}
    other = {"Origin": "null", "Sec-Fetch-Site": "cross-site"}
    response = web_client.post(
        "/api/check", data=form, content_type="multipart/form-data", headers=other
    )
    assert response.status_code == 403


def test_a_token_from_another_session_is_refused(web_app, web_client):
    other = Client(web_app)
    other.get(f"/api/?code={WEB_KEY}")
    token = csrf_of(other.get("/api/check").get_data(as_text=True))
    web_client.get("/api/check")
    form = {"csrf": token, "file": (io.BytesIO(b"EmailAddress\n"), "x.csv")}
    response = web_client.post("/api/check", data=form, content_type="multipart/form-data")
    assert response.status_code == 403


def test_no_file_is_a_sentence_not_a_traceback(web_client):
    token = csrf_of(web_client.get("/api/check").get_data(as_text=True))
    response = web_client.post("/api/check", data={"csrf": token})
    assert response.status_code == 400
    assert "Choose a CSV file" in response.get_data(as_text=True)


def test_a_clean_file_can_be_sent_to_incoming_once(web_client, hr_storage):
    data = (SAMPLES / "resignation.csv").read_bytes()
    page = post_check(web_client, data, "resignation.csv", send="1").get_data(as_text=True)
    assert f"Sent to {hr_storage.incoming}/resignation.csv" in page
    (blob,) = list(hr_storage.list_blobs(hr_storage.incoming))
    assert blob.name == "resignation.csv"
    with hr_storage.open_read(hr_storage.incoming, blob.name) as stream:
        assert stream.read() == data
    again = post_check(web_client, data, "resignation.csv", send="1").get_data(as_text=True)
    assert "already waiting in incoming" in again
    assert [b.etag for b in hr_storage.list_blobs(hr_storage.incoming)] == [blob.etag]


def test_a_file_with_rejected_rows_is_not_sent(web_client, hr_storage):
    page = post_check(web_client, HOSTILE_CSV, "resignation.csv", send="1").get_data(as_text=True)
    assert "Not sent" in page
    assert list(hr_storage.list_blobs(hr_storage.incoming)) == []


def test_a_sent_file_goes_into_its_connectors_folder_and_takes_only_its_name(web_env, hr_storage):
    connectors = '{"connectors": [{"name": "emea", "folder": "emea/hr", "job_id": "j"}]}'
    app = create_app(load(web_env | {"HRUPLOAD_CONNECTORS": connectors}))
    client = Client(app)
    client.get(f"/api/?code={WEB_KEY}")
    data = (SAMPLES / "resignation.csv").read_bytes()
    post_check(client, data, "../../x/resignation.csv", send="1", connector="emea")
    assert [b.name for b in hr_storage.list_blobs(hr_storage.incoming)] == [
        "emea/hr/resignation.csv"
    ]
    unknown = post_check(client, data, "resignation.csv", connector="nope")
    assert unknown.status_code == 400


def test_checking_logs_no_row_value(web_client, caplog):
    caplog.set_level("DEBUG")
    post_check(web_client, HOSTILE_CSV, HOSTILE_NAME)
    assert SECRET_EMAIL not in caplog.text and "steal(" not in caplog.text


@pytest.mark.parametrize("path", ["/api/", "/api/static/style.css", "/api/nope", "/api/check"])
def test_every_response_has_the_security_headers(web_app, web_client, path):
    from hrupload.web.http import CSP

    for client in (web_client, Client(web_app)):  # signed in, and refused
        response = client.get(path)
        assert response.headers["Content-Security-Policy"] == CSP
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        if "static" not in path or response.status_code != 200:
            assert response.headers["Cache-Control"] == "no-store"
