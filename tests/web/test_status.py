"""The status page after a real sweep (Azurite and the connector stand-in): each file with
its counts and reason, the chart, what waits in incoming and why, the report page and the
rejected-rows download; nothing outside the run log can be fetched."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from werkzeug.test import Client

from hrupload.app import pipeline
from hrupload.settings import load
from hrupload.web import create_app
from tests.plugins.azurite import storage_env
from tests.plugins.web import WEB_KEY, drop_and_sweep

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
HOSTILE_NAME = "resignation/<img src=x onerror=alert(1)>.csv"
SECRET_EMAIL = "jane.secret.doe@contoso.com"
BAD_ROWS = (
    "EmailAddress,ResignationDate,LastWorkingDate\n"
    "ok.person@contoso.com,2026-01-01T00:00:00Z,2026-01-31T00:00:00Z\n"
    f"{SECRET_EMAIL},<script>alert(2)</script>,2026-01-31T00:00:00Z\n"
).encode()


@pytest.fixture
def web_env(azurite, hr_storage, connector_standin):
    return (
        storage_env(azurite, hr_storage)
        | connector_standin.env(include_secret=True)
        | {"HRUPLOAD_WEB_KEY": WEB_KEY, "HRUPLOAD_RETRY_BUDGET": "1"}
    )


@pytest.fixture
def swept(web_app, hr_storage):
    """A sweep over a good file, a partial one (hostile name, one bad row) and an
    unusable one; then a file dropped after it, still waiting."""
    files = {
        "resignation/good.csv": (SAMPLES / "resignation.csv").read_bytes(),
        HOSTILE_NAME: BAD_ROWS,
        "resignation/latin1.csv": "EmailAddress\nrené\n".encode("latin-1"),
    }
    runs = drop_and_sweep(web_app, files)
    hr_storage.put_blob(hr_storage.incoming, "resignation/later.csv", b"EmailAddress\n")
    return runs


def page_of(client: Client, path: str = "/api/") -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_data(as_text=True)


def test_the_status_page_lists_each_file_with_its_counts_and_reason(web_client, swept):
    runs = swept
    page = page_of(web_client)
    assert "Last daily sweep" in page and "3 files" in page
    good, partial, failed = (
        runs["resignation/good.csv"],
        runs[HOSTILE_NAME],
        runs["resignation/latin1.csv"],
    )
    assert (good.status, partial.status, failed.status) == ("uploaded", "partial", "failed")
    assert "resignation/good.csv" in page
    assert f'<td class="num">{good.uploaded}</td>' in page
    assert failed.error and _escaped(failed.error) in page
    assert "1 row rejected: the report says why" in page  # the partial file's reason
    assert "<svg" in page and 'class="uploaded"' in page and 'class="rejected"' in page


def test_a_hostile_file_name_is_escaped_and_no_row_value_is_on_the_page(web_client, swept):
    page = page_of(web_client)
    assert "<img src=x" not in page and "<script" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in page
    assert SECRET_EMAIL not in page and "ok.person" not in page


def test_what_waits_in_incoming_and_why(web_client, swept):
    page = page_of(web_client)
    waiting = page[page.index("Waiting in incoming") :]
    assert "resignation/later.csv" in waiting
    assert "not processed yet" in waiting


def test_a_retrying_file_shows_its_reason(web_app, web_client, hr_storage, connector_standin):
    from hrupload_dev.connector import Fault

    hr_storage.put_blob(
        hr_storage.incoming, "resignation/r.csv", (SAMPLES / "resignation.csv").read_bytes()
    )
    connector_standin.add_faults(*[Fault.http(503)] * 50, endpoint="ingestion")
    pipeline.sweep(web_app.services)
    (run,) = [r for r in hr_storage.runlog().list_runs() if r.kind == "file"]
    assert run.status == "retrying" and run.error
    waiting = page_of(web_client).split("Waiting in incoming", 1)[1]
    assert "resignation/r.csv" in waiting and _escaped(run.error) in waiting


def test_a_file_the_stopped_sweep_left_says_what_stopped_it(
    web_app, web_client, hr_storage, connector_standin
):
    from hrupload_dev.connector import Fault

    for name in ("resignation/a.csv", "resignation/b.csv"):
        hr_storage.put_blob(hr_storage.incoming, name, (SAMPLES / "resignation.csv").read_bytes())
    connector_standin.add_faults(*[Fault.http(503)] * 50, endpoint="ingestion")
    summary = pipeline.sweep(web_app.services)
    assert summary.stopped and len(summary.deferred) == 1  # the second was never tried
    waiting = page_of(web_client).split("Waiting in incoming", 1)[1]
    (untried,) = summary.deferred
    row = waiting.split(untried, 1)[1].split("</tr>", 1)[0]
    assert "the last sweep stopped before it" in row
    assert _escaped(summary.stopped) in row and "not processed yet" not in row


def test_each_file_links_to_its_report(web_client, swept):
    runs = swept
    partial = runs[HOSTILE_NAME]
    page = page_of(web_client)
    assert f"/api/files/{partial.run_id}/report" in page
    report = page_of(web_client, f"/api/files/{partial.run_id}/report")
    assert "<h1>Report</h1>" in report
    assert "<code>invalid-date</code>" in report
    assert "<script" not in report and "<img src" not in report and SECRET_EMAIL not in report
    failed = page_of(web_client, f"/api/files/{runs['resignation/latin1.csv'].run_id}/report")
    assert "The file cannot be used" in failed


def test_rejected_rows_download_as_an_attachment_streamed_from_storage(web_client, swept):
    runs = swept
    partial = runs[HOSTILE_NAME]
    assert f"/api/files/{partial.run_id}/rejected.csv" in page_of(web_client)
    response = web_client.get(f"/api/files/{partial.run_id}/rejected.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "<" not in disposition
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert any(SECRET_EMAIL in row for row in rows)
    # A file with no rejected rows has no download.
    good = runs["resignation/good.csv"]
    assert web_client.get(f"/api/files/{good.run_id}/rejected.csv").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/files/ffffffffffff/rejected.csv",
        "/api/files/ffffffffffff/report",
        "/api/files/..%2F..%2Fhr-failed/rejected.csv",
        "/api/files/../../hr-failed/x.rejected.csv",
        "/api/files/%2e%2e/report",
        "/api/static/../templates/base.html",
        "/api/static/..%2Ftemplates%2Fbase.html",
        "/api/static/base.html",
        "/api/files/resignation/good.csv.rejected.csv",
    ],
)
def test_nothing_outside_the_run_log_can_be_fetched(web_client, swept, path):
    response = web_client.get(path)
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "Not found" in body and "Traceback" not in body
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_the_blob_behind_a_run_gone_is_a_404_page(web_client, swept, hr_storage):
    runs = swept
    partial = runs[HOSTILE_NAME]
    dest = partial.destination.split("/", 1)[1]
    hr_storage.blob_service.get_blob_client(
        hr_storage.failed, dest + pipeline.REJECTED_SUFFIX
    ).delete_blob()
    assert web_client.get(f"/api/files/{partial.run_id}/rejected.csv").status_code == 404


def test_several_connectors_each_have_their_section(web_env, hr_storage, connector_standin):
    job = connector_standin.job_id
    connectors = json.dumps(
        {
            "connectors": [
                {"name": "emea", "folder": "emea", "job_id": job},
                {"name": "us", "folder": "us", "job_id": job},
            ]
        }
    )
    app = create_app(load(web_env | {"HRUPLOAD_CONNECTORS": connectors}))
    put = hr_storage.put_blob
    put(hr_storage.incoming, "emea/resignation/a.csv", (SAMPLES / "resignation.csv").read_bytes())
    put(hr_storage.incoming, "elsewhere/b.csv", b"EmailAddress\n")
    pipeline.sweep(app.services)
    put(hr_storage.incoming, "us/resignation/c.csv", b"EmailAddress\n")
    client = Client(app)
    client.get(f"/api/?code={WEB_KEY}")
    page = page_of(client)
    emea, us = page.split("Connector emea", 1)[1].split("Connector us", 1)
    assert "resignation/a.csv" in emea and "resignation/c.csv" not in emea
    assert "us/resignation/c.csv" in us
    assert "elsewhere/b.csv" in page  # failed: no connector claims its folder
    check = page_of(client, "/api/check")
    assert '<label for="connector">' in check and '<option value="us"' in check


def _escaped(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def test_a_configuration_that_does_not_load_is_said_on_every_page(web_env, hr_storage):
    from hrupload import compose

    reason = "HRUPLOAD_PROFILE names blob:profile.json, which is not in hr-config"
    held = compose.build_held_services(web_env, reason)
    client = Client(create_app(services=held))
    client.get(f"/api/?code={WEB_KEY}")
    hr_storage.put_blob(hr_storage.incoming, "resignation/a.csv", b"EmailAddress\n")
    for path in ("/api/", "/api/check"):
        page = page_of(client, path)
        assert "The configuration does not load" in page and _escaped(reason) in page
    waiting = page_of(client).split("Waiting in incoming", 1)[1]
    row = waiting.split("resignation/a.csv", 1)[1].split("</tr>", 1)[0]
    assert "waits until the configuration loads" in row and "not processed yet" not in row
    refused = Client(create_app(services=held)).get("/api/")
    assert refused.status_code == 401 and reason not in refused.get_data(as_text=True)
