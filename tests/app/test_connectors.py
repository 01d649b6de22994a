"""Several connectors from one deployment (HRUPLOAD_CONNECTORS), against real Azurite and
the connector stand-in serving two apps and three jobs."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from hrupload import compose
from hrupload.app import pipeline
from hrupload.app.runs import RunRecord
from hrupload.cli.main import main
from hrupload.settings import load
from hrupload_dev.azurite import Azurite
from hrupload_dev.connector import ConnectorStandIn
from tests.plugins.azurite import storage_env
from tests.reliability import connection_string
from tests.storage_proxy import proxied

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
RESIGNATIONS = (SAMPLES / "resignation.csv").read_bytes()
#: The same rows under the HR system's own column names: only a profile makes them valid.
RENAMED = RESIGNATIONS.replace(
    b"EmailAddress,ResignationDate,LastWorkingDate", b"Work Email,Notice Date,Last Day", 1
)
PROFILE = {
    "scenarios": {
        "resignation": {
            "columns": {
                "EmailAddress": "Work Email",
                "ResignationDate": "Notice Date",
                "LastWorkingDate": "Last Day",
            }
        }
    }
}
TENANT = "11111111-1111-1111-1111-111111111111"
APP_A, SECRET_A = "aaaaaaaa-0000-0000-0000-000000000001", "secret-a"
APP_B, SECRET_B = "bbbbbbbb-0000-0000-0000-000000000002", "secret-b"
JOB_LEAVERS, JOB_REVIEWS, JOB_HR = (
    f"{n}{n}{n}{n}0000-0000-0000-0000-00000000000{n}" for n in "123"
)


@pytest.fixture
def standin(tmp_path):
    with ConnectorStandIn(
        tenant_id=TENANT,
        apps={APP_A: SECRET_A, APP_B: SECRET_B},
        jobs={JOB_LEAVERS: APP_A, JOB_REVIEWS: APP_A, JOB_HR: APP_B},
        out_dir=tmp_path / "received",
    ) as server:
        yield server


CONNECTORS = {
    "connectors": [
        {"name": "leavers", "folder": "leavers", "job_id": JOB_LEAVERS},
        {"name": "reviews", "folder": "hr/reviews", "job_id": JOB_REVIEWS},
        {
            "name": "workday",
            "folder": "workday",
            "job_id": JOB_HR,
            "app_id": APP_B,
            "secret_env": "WORKDAY_APP_SECRET",
            "profile": PROFILE,
        },
    ],
    "sources": [],
}


@pytest.fixture
def env(azurite: Azurite, hr_storage, standin, monkeypatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith(("HRUPLOAD_", "HR_STORAGE")):
            monkeypatch.delenv(name)
    return {
        **storage_env(azurite, hr_storage),
        "HRUPLOAD_TENANT_ID": TENANT,
        "HRUPLOAD_APP_ID": APP_A,
        "HRUPLOAD_APP_SECRET": SECRET_A,
        "HRUPLOAD_LOGIN_URL": standin.url,
        "HRUPLOAD_INGESTION_URL": standin.url,
        "HRUPLOAD_RETRY_BUDGET": "2",
        "HRUPLOAD_CONNECTORS": json.dumps(CONNECTORS),
        "WORKDAY_APP_SECRET": SECRET_B,
    }


@pytest.fixture
def services(env) -> pipeline.Services:
    return compose.build_services(load(env))


def drop(services, name: str, data: bytes) -> None:
    services.storage.put_blob(services.settings.incoming, name, data)


def test_each_folder_goes_to_its_connectors_job_app_and_profile(services, standin):
    drop(services, "leavers/2026-12-01.csv", RESIGNATIONS)
    drop(services, "hr/reviews/resignation/2026-12-01.csv", RESIGNATIONS)
    drop(services, "workday/resignation.csv", RENAMED)

    summary = pipeline.sweep(services)

    by_blob = {r.blob.split("/", 1)[1]: r for r in summary.results}
    assert {name: r.status for name, r in by_blob.items()} == {
        "leavers/2026-12-01.csv": "uploaded",
        "hr/reviews/resignation/2026-12-01.csv": "uploaded",
        "workday/resignation.csv": "uploaded",
    }
    received = sorted((u.job_id, u.app_id, u.records) for u in standin.uploads)
    assert received == sorted(
        [(JOB_LEAVERS, APP_A, 2), (JOB_REVIEWS, APP_A, 2), (JOB_HR, APP_B, 2)]
    ), "each file went to its connector's job, as its connector's app"
    runs = {r.blob.split("/", 1)[1]: r for r in services.runlog.list_runs() if r.kind == "file"}
    assert runs["leavers/2026-12-01.csv"].connector == "leavers"
    assert runs["workday/resignation.csv"].job_id == JOB_HR
    assert runs["workday/resignation.csv"].connector == "workday"


def test_the_connectors_of_one_app_share_one_token(services, standin):
    drop(services, "leavers/a.csv", RESIGNATIONS)
    drop(services, "hr/reviews/resignation/b.csv", RESIGNATIONS)
    drop(services, "workday/resignation.csv", RENAMED)

    pipeline.sweep(services)

    assert len(standin.uploads) == 3
    asked = sorted(t.fields.get("client_id") for t in standin.token_requests)
    assert asked == sorted([APP_A, APP_B]), "one token per app, not one per connector"


def test_a_profile_belongs_to_its_connector_only(services, standin):
    # The HR system's column names mean nothing to the leavers connector (no profile).
    drop(services, "leavers/resignation.csv", RENAMED)

    result = pipeline.process_blob(services, "leavers/resignation.csv")

    assert result.status == "failed"
    assert standin.uploads == []


@pytest.mark.parametrize("name", ["other/2026-12-01.csv", "top.csv", "leaversX/a.csv"])
def test_a_folder_no_connector_claims_goes_to_failed_naming_the_folders(services, standin, name):
    drop(services, name, RESIGNATIONS)

    result = pipeline.process_blob(services, name)

    assert result.status == "failed"
    assert standin.uploads == [] and standin.token_requests == []
    for folder in ("leavers/", "hr/reviews/", "workday/"):
        assert folder in result.message
    storage = services.storage
    assert [b.name for b in storage.list_blobs(storage.incoming)] == []
    container, dest = result.destination.split("/", 1)
    assert container == storage.failed
    with storage.open_read(container, dest + ".report.json") as stream:
        report = json.loads(stream.read())
    assert "no connector" in report["error"]
    if "/" in name:
        assert repr(name.split("/")[0]) in report["error"]
    else:
        assert "the top of the container" in report["error"]


def test_the_employee_profile_refresh_is_each_connectors_own(services, standin):
    profiles = (SAMPLES / "employee-profile.csv").read_bytes()
    drop(services, "hr/reviews/employee-profile.csv", profiles)
    assert pipeline.process_blob(services, "hr/reviews/employee-profile.csv").status == "uploaded"
    standin.clear_uploads()
    later = services.clock() + timedelta(days=15)
    services.clock = lambda: later

    summary = pipeline.sweep(services)

    assert [r.status for r in summary.profile_refreshes] == ["uploaded"]
    assert [u.job_id for u in standin.uploads] == [JOB_REVIEWS]
    refresh = next(r for r in services.runlog.list_runs() if r.kind == "profile-refresh")
    assert (refresh.connector, refresh.job_id) == ("reviews", JOB_REVIEWS)


def test_status_shows_one_connectors_runs(services, env):
    drop(services, "leavers/a.csv", RESIGNATIONS)
    drop(services, "workday/resignation.csv", RENAMED)
    pipeline.sweep(services)

    result = CliRunner().invoke(main, ["status", "--json", "--connector", "workday"], env=env)

    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["data"]["runs"]
    assert [(r["blob"].split("/", 1)[1], r["connector"]) for r in runs] == [
        ("workday/resignation.csv", "workday")
    ]
    unknown = CliRunner().invoke(main, ["status", "--connector", "nobody"], env=env)
    assert unknown.exit_code == 2
    assert "leavers, reviews, workday" in unknown.output


def test_without_connectors_a_blob_anywhere_goes_to_the_one_job(env, standin):
    single = {k: v for k, v in env.items() if k != "HRUPLOAD_CONNECTORS"}
    services = compose.build_services(load(single | {"HRUPLOAD_JOB_ID": JOB_LEAVERS}))
    drop(services, "other/resignation.csv", RESIGNATIONS)

    result = pipeline.process_blob(services, "other/resignation.csv")

    assert result.status == "uploaded"
    assert [u.job_id for u in standin.uploads] == [JOB_LEAVERS]


def test_the_file_event_names_the_connector_and_its_job(services, standin, caplog):
    drop(services, "workday/resignation.csv", RENAMED)
    drop(services, "elsewhere/resignation.csv", RESIGNATIONS)

    with caplog.at_level("INFO", logger="hrupload.app.pipeline"):
        pipeline.sweep(services)

    events = {
        r.blob.split("/", 1)[1]: (r.status, r.connector, r.job_id)
        for r in caplog.records
        if r.getMessage() == "hrupload.file"
    }
    assert events == {
        "workday/resignation.csv": ("uploaded", "workday", JOB_HR),
        "elsewhere/resignation.csv": (
            "failed",
            None,
            "",
        ),  # no job: the event carries its fields as text
    }


def connector_events(caplog) -> dict[str, tuple[str, str, object]]:
    """The sweep's one event per connector: name -> (job, last upload, hours since)."""
    return {
        r.connector: (r.job_id, r.last_upload, r.hours_since_upload)
        for r in caplog.records
        if r.getMessage() == pipeline.CONNECTOR_EVENT
    }


def past_upload(services, connector: str, job: str, ago: timedelta, **fields) -> RunRecord:
    when = datetime.now(UTC) - ago
    record = RunRecord(
        run_id=f"{connector}-{ago.days}d-{fields.get('status', 'uploaded')}",
        blob=f"hr-incoming/{connector}/old.csv",
        etag=f'"{ago.days}"',
        sha256=None,
        job_id=job,
        connector=connector,
        status=fields.pop("status", "uploaded"),
        started=when,
        finished=when,
        **fields,
    )
    services.runlog.put(record)
    return record


def test_the_sweep_reports_each_connectors_last_upload(services, caplog):
    # reviews: five days ago, older than the two days an alert can look back over; a later
    # failed file and profile refresh are no upload of an export. workday: never (only
    # before the look-back). leavers: today, by this sweep.
    five_days = past_upload(services, "reviews", JOB_REVIEWS, timedelta(days=5))
    past_upload(services, "reviews", JOB_REVIEWS, timedelta(days=1), status="failed")
    past_upload(services, "reviews", JOB_REVIEWS, timedelta(hours=30), kind="profile-refresh")
    past_upload(services, "workday", JOB_HR, pipeline.UPLOAD_LOOKBACK + timedelta(days=1))
    drop(services, "leavers/2026-12-01.csv", RESIGNATIONS)

    with caplog.at_level("INFO", logger="hrupload.app.pipeline"):
        pipeline.sweep(services)

    events = connector_events(caplog)
    leavers = next(r for r in services.runlog.list_runs() if r.connector == "leavers")
    assert events.pop("leavers")[:2] == (JOB_LEAVERS, leavers.finished.isoformat())
    job, last, hours = events.pop("reviews")
    assert (job, last) == (JOB_REVIEWS, five_days.finished.isoformat())
    assert 119.9 <= hours <= 120.1
    assert events == {"workday": (JOB_HR, "", "")}, "one event per connector, no more"
    sweep_end = next(i for i, r in enumerate(caplog.records) if r.getMessage() == "sweep finished")
    assert all(
        i > sweep_end
        for i, r in enumerate(caplog.records)
        if r.getMessage() == pipeline.CONNECTOR_EVENT
    ), "logged at the sweep's end"


def test_the_single_connector_is_reported_too(env, standin, caplog):
    single = {k: v for k, v in env.items() if k != "HRUPLOAD_CONNECTORS"}
    services = compose.build_services(load(single | {"HRUPLOAD_JOB_ID": JOB_LEAVERS}))
    drop(services, "resignation/today.csv", RESIGNATIONS)

    with caplog.at_level("INFO", logger="hrupload.app.pipeline"):
        pipeline.sweep(services)

    events = connector_events(caplog)
    assert list(events) == [""], "unnamed, as its runs and file events are"
    job, last, hours = events[""]
    today = next(r for r in services.runlog.list_runs() if r.kind == "file")
    assert (job, last) == (JOB_LEAVERS, today.finished.isoformat())
    assert 0 <= hours < 0.1


def test_each_connectors_lookup_is_one_bounded_query(env, azurite, caplog):
    with proxied(azurite) as (_blob, table):
        proxied_env = env | {"HR_STORAGE": connection_string(azurite.blob_url, table.url)}
        services = compose.build_services(load(proxied_env))
        services.storage.ensure_containers()
        past_upload(services, "workday", JOB_HR, timedelta(days=3))
        # Counts only: the history queries that carry the look-back's RowKey bound.
        bounded = table.fail("GET", r"\$filter=.*RowKey lt ", times=0)
        with caplog.at_level("INFO", logger="hrupload.app.pipeline"):
            pipeline.sweep(services)

    assert len(connector_events(caplog)) == 3
    assert bounded.seen == 3, "one query per connector, each within the look-back"


def test_doctor_checks_every_connector_and_names_the_one_that_fails(env, standin):
    from hrupload.app.doctor import run

    checks = {c.name: c for c in run(compose.doctor_checks(lambda: load(env)))}

    assert all(c.ok for c in checks.values()), {n: c.detail for n, c in checks.items()}
    for name in ("leavers", "reviews", "workday"):
        assert f"{name}: " in checks["token"].detail
    assert f"job {JOB_HR}" in checks["connector"].detail

    broken = env | {"WORKDAY_APP_SECRET": "wrong"}
    checks = {c.name: c for c in run(compose.doctor_checks(lambda: load(broken)))}
    assert not checks["token"].ok
    assert "connector 'workday'" in checks["token"].detail
    assert "wrong" not in checks["token"].detail


def test_a_connectors_profile_that_does_not_load_fails_at_start_naming_it(env):
    from hrupload.core.errors import ConfigError

    doc = json.loads(env["HRUPLOAD_CONNECTORS"])
    doc["connectors"][1]["profile"] = {"scenarios": {"no-such-scenario": {}}}
    with pytest.raises(ConfigError, match="connector 'reviews'"):
        compose.build_services(load(env | {"HRUPLOAD_CONNECTORS": json.dumps(doc)}))


def test_sweep_json_carries_every_connectors_profile_refresh(services, env, standin):
    """Two connectors' employee profiles are due: `sweep --json` names both refreshes, each
    with its connector, and matches the sweep schema."""
    from tests.cli.test_json_schemas import checked

    profiles = (SAMPLES / "employee-profile.csv").read_bytes()
    past = services.clock() - timedelta(days=15)
    services.clock = lambda: past  # delivered 15 days ago: due for a refresh today
    for name in ("leavers/employee-profile.csv", "hr/reviews/employee-profile.csv"):
        drop(services, name, profiles)
        assert pipeline.process_blob(services, name).status == "uploaded"
    standin.clear_uploads()

    result = CliRunner().invoke(main, ["sweep", "--json"], env=env)

    assert result.exit_code == 0, result.output
    summary = checked("sweep", result.stdout)["summary"]
    refreshes = summary["profile_refreshes"]
    assert sorted((r["connector"], r["status"]) for r in refreshes) == [
        ("leavers", "uploaded"),
        ("reviews", "uploaded"),
    ]
    assert summary["profile_refresh"] == refreshes[0], "the first, as before"
    assert sorted(u.job_id for u in standin.uploads) == sorted([JOB_LEAVERS, JOB_REVIEWS])


def test_sweep_prints_every_connectors_profile_refresh(services, env):
    profiles = (SAMPLES / "employee-profile.csv").read_bytes()
    past = services.clock() - timedelta(days=15)
    services.clock = lambda: past
    for name in ("leavers/employee-profile.csv", "hr/reviews/employee-profile.csv"):
        drop(services, name, profiles)
        pipeline.process_blob(services, name)

    result = CliRunner().invoke(main, ["sweep"], env=env)

    assert result.exit_code == 0, result.output
    assert "employee profiles re-sent (connector leavers): uploaded" in result.output
    assert "employee profiles re-sent (connector reviews): uploaded" in result.output


def upload_as(env, tmp_path, name: str, data: bytes, *args: str):
    path = tmp_path / name
    path.write_bytes(data)
    env = env | {"HRUPLOAD_STATE_DIR": str(tmp_path / "state")}
    return CliRunner().invoke(main, ["upload", str(path), *args], env=env)


def test_upload_as_a_connector_sends_with_its_job_app_secret_and_profile(env, standin, tmp_path):
    # workday: its own app (secret from WORKDAY_APP_SECRET), job and profile.
    result = upload_as(env, tmp_path, "resignation.csv", RENAMED, "--connector", "workday")

    assert result.exit_code == 0, result.output
    assert [(u.job_id, u.app_id, u.records) for u in standin.uploads] == [(JOB_HR, APP_B, 2)]
    assert SECRET_B not in result.output


def test_upload_as_a_connector_of_the_default_app(env, standin, tmp_path):
    result = upload_as(env, tmp_path, "resignation.csv", RESIGNATIONS, "--connector", "reviews")

    assert result.exit_code == 0, result.output
    assert [(u.job_id, u.app_id) for u in standin.uploads] == [(JOB_REVIEWS, APP_A)]


def test_the_command_lines_profile_wins_over_the_connectors(env, standin, tmp_path):
    # The workday profile maps the renamed columns; --profile '{}' (none) leaves them unknown.
    result = upload_as(
        env, tmp_path, "resignation.csv", RENAMED, "--connector", "workday", "--profile", "{}"
    )

    assert result.exit_code == 1, result.output
    assert "which the header lacks" in result.output
    assert standin.uploads == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--connector", "nobody"], "no connector is named 'nobody'; HRUPLOAD_CONNECTORS has "
         "leavers, reviews, workday"),
        (["--connector", "leavers", "--job-id", JOB_HR], "leave out --job-id"),
        (["--connector", "workday", "--app-secret", "x"], "leave out --app-secret"),
    ],
)  # fmt: skip
def test_upload_with_a_wrong_connector_is_a_usage_error(env, standin, tmp_path, args, expected):
    result = upload_as(env, tmp_path, "resignation.csv", RESIGNATIONS, *args)

    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.split())
    assert standin.uploads == [] and standin.token_requests == []


def test_upload_with_a_connector_but_no_connectors_configured(env, standin, tmp_path):
    result = upload_as(
        env | {"HRUPLOAD_CONNECTORS": "", "HRUPLOAD_JOB_ID": JOB_LEAVERS},
        tmp_path, "resignation.csv", RESIGNATIONS, "--connector", "leavers",
    )  # fmt: skip

    assert result.exit_code == 2, result.output
    assert "HRUPLOAD_CONNECTORS is not set" in " ".join(result.output.split())
    assert standin.uploads == []
