"""hrupload.adapters.tables on a real Azurite table: ledger, history, dedupe, checkpoints."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hrupload.adapters.storage import HrStorage
from hrupload.adapters.tables import (
    MAX_ERROR_CHARS,
    RunLog,
    TableCheckpoints,
    checkpoint_partition,
)
from hrupload.app.runs import RunRecord
from hrupload.core.errors import StorageError

NOW = datetime(2024, 5, 6, 12, 0, 0, 123456, tzinfo=UTC)


def record(run_id: str, *, started: datetime = NOW, **fields) -> RunRecord:
    defaults: dict = {
        "blob": "hr-incoming/people.csv",
        "etag": '"0x8DC0001"',
        "sha256": "ab" * 32,
        "job_id": "job-1",
        "status": "uploaded",
    }
    defaults.update(fields)
    return RunRecord(run_id=run_id, started=started, **defaults)


@pytest.fixture
def runlog(hr_storage: HrStorage) -> RunLog:
    return hr_storage.runlog()


@pytest.fixture
def checkpoints(hr_storage: HrStorage) -> TableCheckpoints:
    return hr_storage.checkpoints()


# --------------------------------------------------------------------------- ledger


def test_put_and_ledger_get_round_trip_every_field(runlog: RunLog):
    rec = RunRecord(
        run_id="run-1",
        blob="hr-incoming/dir #1/Zoë's file?.csv",
        etag='"0x8DC0001"',
        sha256="cd" * 32,
        job_id="job-1",
        status="partial",
        rows=10,
        valid=7,
        rejected=2,
        blank=1,
        uploaded=7,
        chunks=3,
        scenarios={"employeeProfile": 5, "resignation": 2},
        error="x" * 5000,
        destination="hr-processed/2024/05/06/dir #1/Zoë's file?.csv",
        attempts=2,
        first_seen=NOW - timedelta(minutes=5),
        started=NOW,
        finished=NOW + timedelta(seconds=42),
        kind="file",
    )
    runlog.put(rec)
    got = runlog.ledger_get(rec.blob, rec.etag)
    assert got is not None
    assert got.error == "x" * MAX_ERROR_CHARS
    expected = RunRecord(**{**rec.__dict__, "error": "x" * MAX_ERROR_CHARS})
    assert got == expected
    for value in (got.first_seen, got.started, got.finished):
        assert value is not None and value.tzinfo is not None and value.utcoffset() == timedelta(0)
        assert type(value) is datetime


def test_ledger_is_per_blob_version(runlog: RunLog):
    runlog.put(record("r1", etag='"0x1"', status="failed"))
    assert runlog.ledger_get("hr-incoming/people.csv", '"0x2"') is None
    assert runlog.ledger_get("hr-incoming/other.csv", '"0x1"') is None
    # Event Grid gives the ETag without quotes: it is the same version.
    got = runlog.ledger_get("hr-incoming/people.csv", "0x1")
    assert got is not None and got.status == "failed"


def test_put_again_updates_the_run_in_place(runlog: RunLog):
    running = record("r1", status="running", finished=None, error="old error")
    runlog.put(running)
    done = record("r1", status="uploaded", finished=NOW + timedelta(minutes=1), rows=5)
    runlog.put(done)
    got = runlog.ledger_get(done.blob, done.etag)
    assert got is not None
    assert (got.status, got.rows, got.error) == ("uploaded", 5, None)  # no stale error kept
    runs = runlog.list_runs()
    assert [(r.run_id, r.status) for r in runs] == [("r1", "uploaded")]


def test_put_rejects_what_the_table_would_get_wrong(runlog: RunLog):
    with pytest.raises(ValueError, match="timezone-aware"):
        runlog.put(record("r1", started=datetime(2024, 1, 1)))
    with pytest.raises(ValueError, match="status"):
        runlog.put(record("r1", status="finished"))
    with pytest.raises(ValueError, match="kind"):
        runlog.put(record("r1", kind="other"))


def test_non_utc_datetimes_are_stored_as_utc(runlog: RunLog):
    cest = datetime(2024, 5, 6, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    runlog.put(record("r1", started=cest))
    [got] = runlog.list_runs()
    assert got.started == cest and got.started.tzinfo == UTC


# --------------------------------------------------------------------------- history


def test_list_runs_newest_first_with_since_and_limit(runlog: RunLog):
    starts = {f"r{i}": NOW - timedelta(hours=i) for i in range(6)}
    for run_id in ("r3", "r0", "r5", "r1", "r4", "r2"):  # written out of order
        runlog.put(record(run_id, started=starts[run_id], blob=f"hr-incoming/{run_id}.csv"))
    assert [r.run_id for r in runlog.list_runs()] == ["r0", "r1", "r2", "r3", "r4", "r5"]
    assert [r.run_id for r in runlog.list_runs(limit=2)] == ["r0", "r1"]
    assert runlog.list_runs(limit=0) == []
    # since is inclusive: r3 started exactly three hours ago.
    since = NOW - timedelta(hours=3)
    assert [r.run_id for r in runlog.list_runs(since=since)] == ["r0", "r1", "r2", "r3"]
    assert [r.run_id for r in runlog.list_runs(since=since, limit=1)] == ["r0"]
    assert runlog.list_runs(since=NOW + timedelta(microseconds=1)) == []


def test_runs_starting_at_the_same_instant_are_kept_apart(runlog: RunLog):
    runlog.put(record("a/b#c?d", blob="hr-incoming/one.csv"))
    runlog.put(record("a-b-c-d", blob="hr-incoming/two.csv"))
    assert sorted(r.run_id for r in runlog.list_runs(since=NOW)) == ["a-b-c-d", "a/b#c?d"]


def test_find_recent_upload_window(runlog: RunLog):
    sha = "ef" * 32
    runlog.put(
        record(
            "old", sha256=sha, finished=NOW - timedelta(hours=30), started=NOW - timedelta(hours=31)
        )
    )
    runlog.put(
        record(
            "new", sha256=sha, finished=NOW - timedelta(hours=10), started=NOW - timedelta(hours=11)
        )
    )
    runlog.put(record("failed", sha256=sha, status="failed", finished=NOW - timedelta(hours=1)))
    runlog.put(record("other-job", sha256=sha, job_id="job-2", finished=NOW - timedelta(hours=1)))
    # A long run: started before the window, finished inside it.
    runlog.put(
        record(
            "partial",
            sha256=sha,
            status="partial",
            started=NOW - timedelta(hours=25),
            finished=NOW - timedelta(hours=2),
        )
    )

    found = runlog.find_recent_upload(sha, "job-1", NOW - timedelta(hours=20))
    assert found is not None and found.run_id == "partial"  # the latest finished
    found = runlog.find_recent_upload(sha, "job-1", NOW - timedelta(hours=5))
    assert found is not None and found.run_id == "partial"
    assert runlog.find_recent_upload(sha, "job-1", NOW - timedelta(hours=1)) is None
    assert runlog.find_recent_upload("00" * 32, "job-1", NOW - timedelta(days=9)) is None
    found = runlog.find_recent_upload(sha, "job-2", NOW - timedelta(hours=20))
    assert found is not None and found.run_id == "other-job"


def test_latest_by_status_scenario_and_kind(runlog: RunLog):
    runlog.put(
        record("profile-old", started=NOW - timedelta(days=20), scenarios={"employeeProfile": 9})
    )
    runlog.put(
        record("profile-new", started=NOW - timedelta(days=3), scenarios={"employeeProfile": 4})
    )
    runlog.put(
        record(
            "profile-failed",
            status="failed",
            started=NOW - timedelta(days=1),
            scenarios={"employeeProfile": 4},
        )
    )
    runlog.put(record("resignations", started=NOW, scenarios={"resignation": 3}))
    runlog.put(
        record(
            "refresh",
            kind="profile-refresh",
            started=NOW - timedelta(days=2),
            scenarios={"employeeProfile": 4},
        )
    )

    newest = runlog.latest(status=("uploaded", "partial"), scenario="employeeProfile")
    assert newest is not None and newest.run_id == "refresh"
    newest = runlog.latest(status=("uploaded",), scenario="employeeProfile", kind="file")
    assert newest is not None and newest.run_id == "profile-new"
    newest = runlog.latest(status=("uploaded",))
    assert newest is not None and newest.run_id == "resignations"
    newest = runlog.latest(status=("failed",), scenario="employeeProfile")
    assert newest is not None and newest.run_id == "profile-failed"
    assert runlog.latest(status=("retrying",)) is None
    assert runlog.latest(status=("uploaded",), scenario="performanceReview") is None


def test_latest_since_reads_only_runs_started_in_the_window(runlog: RunLog):
    runlog.put(record("old", started=NOW - timedelta(days=20), connector="leavers"))
    runlog.put(record("edge", started=NOW - timedelta(days=5), connector="reviews"))
    runlog.put(record("other", started=NOW, connector="workday"))

    since = NOW - timedelta(days=5)
    assert runlog.latest(connector="leavers", since=since) is None
    assert runlog.latest(connector="leavers", since=since - timedelta(days=30)).run_id == "old"
    edge = runlog.latest(connector="reviews", since=since)  # started at `since`: kept
    assert edge is not None and edge.run_id == "edge"
    assert runlog.latest(since=since).run_id == "other"


def test_missing_table_is_a_storage_error_but_an_empty_run_list(hr_storage: HrStorage):
    gone = RunLog(hr_storage.table_service.get_table_client("nosuchtable"))
    with pytest.raises(StorageError, match="nosuchtable"):
        gone.ledger_get("c/b.csv", '"0x1"')
    with pytest.raises(StorageError, match="nosuchtable"):
        gone.put(record("r1"))
    assert gone.list_runs() == []  # fresh storage: nothing has run yet, not an error


# --------------------------------------------------------------------------- checkpoints


def test_checkpoints_mark_deliver_and_clear(checkpoints: TableCheckpoints):
    key = "a1b2c3" * 6
    assert checkpoints.delivered(key) == set()
    with ThreadPoolExecutor(max_workers=8) as pool:  # upload threads mark concurrently
        list(pool.map(lambda i: checkpoints.mark(key, i), range(250)))
    checkpoints.mark(key, 7)  # marking twice is harmless
    assert checkpoints.delivered(key) == set(range(250))
    checkpoints.mark("other", 1)
    checkpoints.clear(key)  # more than one 100-entity batch
    assert checkpoints.delivered(key) == set()
    assert checkpoints.delivered("other") == {1}
    checkpoints.clear("never-used")


def test_checkpoint_keys_unfit_for_table_keys_are_hashed(checkpoints: TableCheckpoints):
    weird = "hr-incoming/some file.csv#v2?x"
    assert "/" not in checkpoint_partition(weird) and "#" not in checkpoint_partition(weird)
    assert checkpoint_partition("abc123") == "ckpt-abc123"
    checkpoints.mark(weird, 3)
    assert checkpoints.delivered(weird) == {3}
    with pytest.raises(ValueError, match="start at 0"):
        checkpoints.mark(weird, -1)


def test_checkpoints_are_shared_between_instances(hr_storage: HrStorage, azurite):
    from tests.plugins.azurite import table_service

    first = hr_storage.checkpoints()
    second = TableCheckpoints(table_service(azurite).get_table_client(hr_storage.runs_table))
    first.mark("k", 0)
    first.mark("k", 1)
    assert second.delivered("k") == {0, 1}  # a retry on another instance resumes
