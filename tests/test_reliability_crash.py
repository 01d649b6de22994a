"""Crashes, races and storage outages (issue 6), with real processes on loopback.

A crash is a SIGKILL of ``hrupload process`` running in a child process, taken while the
child sits blocked in a state the test can see from outside:

* mid-upload between chunks: every chunk needs a fresh token (the stand-in's tokens live
  no longer than the client's renewal margin) and the third token request is held, so
  chunks 0 and 1 are delivered and checkpointed and chunk 2 is not sent;
* after a chunk was accepted, before its checkpoint: the checkpoint write is held by a
  proxy in front of Azurite's table service;
* between the verified copy and the delete of a move: the delete is held by a proxy in
  front of Azurite's blob service.

No test hook in the code under test. A killed process's blob lease would expire within
60 s; the tests break it instead of waiting, after checking that the blob is left alone
until then.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from hrupload import functions
from hrupload.adapters.storage import HrStorage
from hrupload.app import pipeline
from hrupload_dev.azurite import Azurite
from hrupload_dev.connector import Fault
from tests.invariants import check_files, hr_csv
from tests.plugins.azurite import blob_service, table_service
from tests.reliability import (
    Child,
    break_lease,
    connection_string,
    drop,
    make_services,
    names,
    settings_env,
    wait_until,
)
from tests.storage_proxy import proxied


def child_env(azurite, storage, standin, *, blob_url=None, table_url=None, **overrides):
    env = settings_env(storage, standin, **overrides)
    env["HR_STORAGE"] = connection_string(
        blob_url or azurite.blob_url, table_url or azurite.table_url
    )
    return env


def process_child(tmp_path, env, storage, name) -> Child:
    return Child(["process", f"{storage.incoming}/{name}", "--json"], env, tmp_path)


def ledger(storage, name: str, etag: str):
    return storage.runlog().ledger_get(f"{storage.incoming}/{name}", etag)


def resume(services, storage, name: str) -> pipeline.FileResult:
    """The next run after a kill: the dead run's lease holds the blob until it expires."""
    assert pipeline.process_blob(services, name).status == "taken"
    assert name in names(storage, storage.incoming)
    break_lease(storage, name)
    return pipeline.process_blob(services, name)


# --------------------------------------------------------------------------- crashes


def test_killed_between_chunks_the_next_run_sends_no_chunk_twice(
    azurite, hr_storage, connector_standin, tmp_path
):
    name = "resignation/big.csv"
    files = {name: hr_csv("big", 50)}
    etags = drop(hr_storage, files)
    connector_standin.token_lifetime = 300  # inside the client's renewal margin: one per chunk
    connector_standin.add_faults(Fault.delay(0), Fault.delay(0), Fault.delay(60), endpoint="token")
    one_by_one = {"HRUPLOAD_RECORDS_PER_CALL": "10", "HRUPLOAD_CONCURRENCY": "1"}
    child = process_child(
        tmp_path, child_env(azurite, hr_storage, connector_standin, **one_by_one), hr_storage, name
    )

    wait_until(lambda: not connector_standin.pending_faults("token"), 30, "the third token", child)
    child.kill()

    assert len(connector_standin.uploads) == 2
    assert names(hr_storage, hr_storage.incoming) == [name]
    assert ledger(hr_storage, name, etags[name]).status == "running"
    check_files(hr_storage, connector_standin, files, etags=etags)

    services = make_services(hr_storage, connector_standin, **one_by_one)
    result = resume(services, hr_storage, name)

    assert (result.status, result.counts["uploaded"]) == ("uploaded", 50)
    assert len(connector_standin.uploads) == 5
    check_files(hr_storage, connector_standin, files, etags=etags)


def test_killed_after_a_chunk_was_accepted_but_not_checkpointed_sends_that_chunk_again(
    azurite, hr_storage, connector_standin, tmp_path
):
    """The at-least-once window, by crash: the service has chunk 1, the run log does not."""
    name = "resignation/big.csv"
    files = {name: hr_csv("big", 50)}
    etags = drop(hr_storage, files)
    one_by_one = {"HRUPLOAD_RECORDS_PER_CALL": "10", "HRUPLOAD_CONCURRENCY": "1"}
    with proxied(azurite) as (_blob, table):
        held = table.hold("PUT", r"\(PartitionKey='ckpt-[^']*',RowKey='00000001'\)")
        env = child_env(azurite, hr_storage, connector_standin, table_url=table.url, **one_by_one)
        child = process_child(tmp_path, env, hr_storage, name)
        wait_until(held.arrived.is_set, 30, "the checkpoint of chunk 1", child)
        child.kill()

    assert len(connector_standin.uploads) == 2
    check_files(hr_storage, connector_standin, files, etags=etags, repeats={name: 10})

    services = make_services(hr_storage, connector_standin, **one_by_one)
    assert resume(services, hr_storage, name).status == "uploaded"

    assert len(connector_standin.uploads) == 6
    states = check_files(hr_storage, connector_standin, files, etags=etags, repeats={name: 10})
    assert states[name].repeated == 10  # chunk 1, once more; nothing else


def test_killed_between_verified_copy_and_delete_the_next_run_only_moves(
    azurite, hr_storage, connector_standin, tmp_path
):
    name = "resignation/a.csv"
    files = {name: hr_csv("a", 20, 3)}
    etags = drop(hr_storage, files)
    with proxied(azurite) as (blob, _table):
        held = blob.hold("DELETE", rf"^/[^/]+/{hr_storage.incoming}/{name}")
        env = child_env(azurite, hr_storage, connector_standin, blob_url=blob.url)
        child = process_child(tmp_path, env, hr_storage, name)
        wait_until(held.arrived.is_set, 30, "the delete that ends the move", child)
        child.kill()

    record = ledger(hr_storage, name, etags[name])
    assert (record.status, record.destination.split("/", 1)[0]) == ("partial", hr_storage.processed)
    assert names(hr_storage, hr_storage.incoming) == [name]  # both copies exist now
    states = check_files(hr_storage, connector_standin, files, etags=etags)
    assert states[name].where == "incoming"
    uploads = len(connector_standin.uploads)

    services = make_services(hr_storage, connector_standin)
    result = resume(services, hr_storage, name)

    assert (result.status, result.message) == ("partial", "finished an interrupted move")
    assert result.destination == record.destination
    assert len(connector_standin.uploads) == uploads
    states = check_files(hr_storage, connector_standin, files, etags=etags)
    assert states[name].report["rejected"] == 3  # the full report, not rewritten by the mover


# --------------------------------------------------------------------------- concurrency


def test_one_blob_processed_by_two_processes_at_once_is_uploaded_once(
    azurite, hr_storage, connector_standin, tmp_path
):
    name = "resignation/race.csv"
    files = {name: hr_csv("race", 8)}
    etags = drop(hr_storage, files)
    connector_standin.latency = 0.5  # the first run holds the lease while it uploads
    env = child_env(azurite, hr_storage, connector_standin)
    children = [process_child(tmp_path, env, hr_storage, name) for _ in range(2)]

    statuses = sorted(child.json()["data"]["files"][0]["status"] for child in children)

    assert statuses[1] == "uploaded"
    assert statuses[0] in ("gone", "taken")
    assert len(connector_standin.uploads) == 1
    check_files(hr_storage, connector_standin, files, etags=etags)


def test_a_sweep_racing_blob_triggers_handles_every_file_once(
    azurite, hr_storage, connector_standin, monkeypatch
):
    files = {f"resignation/{i:02d}.csv": hr_csv(f"r{i}", 6, i % 2) for i in range(12)}
    etags = drop(hr_storage, files)
    env = child_env(azurite, hr_storage, connector_standin)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    connector_standin.latency = 0.03
    results: list[pipeline.FileResult] = []
    errors: list[BaseException] = []

    def triggers() -> None:  # Event Grid delivers in its own order, on the app's instance
        for name in sorted(files, reverse=True):
            try:
                results.append(functions.on_blob(SimpleNamespace(blob_name=name)))
            except BaseException as exc:
                errors.append(exc)

    def daily_sweep() -> None:  # the timer, on another instance with its own clients
        results.extend(pipeline.sweep(make_services(hr_storage, connector_standin)).results)

    threads = [threading.Thread(target=triggers), threading.Thread(target=daily_sweep)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    done = [r.blob for r in results if r.status in ("uploaded", "partial")]
    assert sorted(done) == sorted(f"{hr_storage.incoming}/{n}" for n in files)
    assert {r.status for r in results} <= {"uploaded", "partial", "taken", "gone"}
    check_files(hr_storage, connector_standin, files, etags=etags)


# --------------------------------------------------------------------------- storage


@pytest.fixture(scope="module")
def durable_azurite(tmp_path_factory) -> Iterator[Azurite]:
    """An Azurite that keeps its data on disk: a stop and start is an outage, not a wipe."""
    server = Azurite(tmp_path_factory.mktemp("durable-azurite"), persistent=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def durable_storage(durable_azurite) -> HrStorage:
    durable_azurite.start()
    suffix = secrets.token_hex(3)
    storage = HrStorage(
        blob_service(durable_azurite),
        table_service(durable_azurite),
        incoming=f"hr-incoming-{suffix}",
        processed=f"hr-processed-{suffix}",
        failed=f"hr-failed-{suffix}",
        runs_table=f"hruploadruns{suffix}",
    )
    storage.ensure_containers()
    return storage


def test_storage_stopped_mid_sweep_and_restarted_loses_nothing(
    durable_azurite, durable_storage, connector_standin
):
    storage = durable_storage
    files = {f"resignation/{i}.csv": hr_csv(f"s{i}", 7, 1) for i in range(5)}
    etags = drop(storage, files)
    services = make_services(storage, connector_standin)

    def outage_after_the_first(result: pipeline.FileResult) -> None:
        if result.status == "partial" and durable_azurite.running:
            durable_azurite.stop()

    summary = pipeline.sweep(services, on_file=outage_after_the_first)

    assert [r.status for r in summary.results] == ["partial", "retrying"]
    assert "storage did not answer" in (summary.stopped or "")
    assert len(summary.deferred) == 3
    durable_azurite.start()
    untried = [*summary.deferred, summary.results[1].blob.split("/", 1)[1]]
    check_files(storage, connector_standin, files, etags=etags, deferred=untried)

    again = pipeline.sweep(services)

    assert (again.count("partial"), again.stopped) == (4, None)
    check_files(storage, connector_standin, files, etags=etags)


def test_storage_stopped_mid_upload_keeps_the_file_and_resends_one_chunk(
    durable_azurite, durable_storage, connector_standin
):
    storage = durable_storage
    name = "resignation/big.csv"
    files = {name: hr_csv("big", 20)}
    etags = drop(storage, files)
    services = make_services(
        storage, connector_standin, HRUPLOAD_RECORDS_PER_CALL="4", HRUPLOAD_CONCURRENCY="1"
    )
    # Chunk 2 is held at the service while storage goes away under the run.
    connector_standin.add_faults(Fault.delay(0), Fault.delay(0), Fault.delay(1.5))
    results: list[pipeline.FileResult] = []
    run = threading.Thread(target=lambda: results.append(pipeline.process_blob(services, name)))
    run.start()
    wait_until(lambda: not connector_standin.pending_faults(), 30, "chunk 2 at the service")
    durable_azurite.stop()
    run.join(60)
    durable_azurite.start()

    (result,) = results
    assert result.status == "retrying"  # not failed: nothing is wrong with the file
    assert result.outage
    assert len(connector_standin.uploads) == 3  # the service got chunk 2; the log did not
    check_files(storage, connector_standin, files, etags=etags, repeats={name: 4})

    again = pipeline.process_blob(services, name)

    assert again.status == "uploaded"
    states = check_files(storage, connector_standin, files, etags=etags, repeats={name: 4})
    assert states[name].repeated == 4  # chunk 2, accepted while its checkpoint could not be written


def test_a_checkpoint_write_failing_after_the_service_accepted_is_retried_not_failed(
    azurite, hr_storage, connector_standin
):
    """A storage blip between the upload and its checkpoint must not send the file to
    failed/ (its rows are at the service): it waits, and the next run resends that chunk."""
    from azure.data.tables import TableServiceClient

    name = "resignation/blip.csv"
    files = {name: hr_csv("blip", 12)}
    etags = drop(hr_storage, files)
    with proxied(azurite) as (_blob, table):
        table.fail("PUT", r"\(PartitionKey='ckpt-[^']*',RowKey='00000001'\)", times=2)
        flaky = HrStorage(
            hr_storage.blob_service,
            TableServiceClient.from_connection_string(
                connection_string(azurite.blob_url, table.url),
                retry_total=1,
                retry_backoff_factor=0.1,
            ),
            incoming=hr_storage.incoming,
            processed=hr_storage.processed,
            failed=hr_storage.failed,
            runs_table=hr_storage.runs_table,
        )
        services = make_services(
            flaky, connector_standin, HRUPLOAD_RECORDS_PER_CALL="4", HRUPLOAD_CONCURRENCY="1"
        )
        result = pipeline.process_blob(services, name)

        assert result.status == "retrying"
        assert names(hr_storage, hr_storage.failed) == []
        check_files(hr_storage, connector_standin, files, etags=etags, repeats={name: 4})

        assert pipeline.process_blob(services, name).status == "uploaded"

    states = check_files(hr_storage, connector_standin, files, etags=etags, repeats={name: 4})
    assert states[name].repeated == 4


def test_a_read_failing_mid_file_leaves_no_upload_running_after_the_run(
    azurite, hr_storage, connector_standin
):
    import time

    name = "resignation/large.csv"
    files = {name: hr_csv("large", 70_000)}  # over 4 MB: two ranged reads per pass
    etags = drop(hr_storage, files)
    connector_standin.latency = 1.0  # four chunks in flight whenever the read fails
    with proxied(azurite) as (blob, _table):
        # Two reads in the scan, then the delivery pass: its second read fails (twice, so
        # the SDK's own retry fails as well).
        blob.fail("GET", rf"/{hr_storage.incoming}/{name}$", times=2, after=3)
        flaky = HrStorage(
            blob_service(
                SimpleNamespace(connection_string=connection_string(blob.url, azurite.table_url))
            ),
            hr_storage.table_service,
            incoming=hr_storage.incoming,
            processed=hr_storage.processed,
            failed=hr_storage.failed,
            runs_table=hr_storage.runs_table,
        )
        services = make_services(flaky, connector_standin, HRUPLOAD_RECORDS_PER_CALL="5000")
        result = pipeline.process_blob(services, name)
        assert result.status == "retrying"
        returned = len(connector_standin.uploads)
        time.sleep(1.5)

    check_files(hr_storage, connector_standin, files, etags=etags)
    assert len(connector_standin.uploads) == returned, "chunks were still sent after the run"
