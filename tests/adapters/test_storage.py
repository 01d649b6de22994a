"""hrupload.adapters.storage against a real Azurite: leases, streaming, verified moves, outages."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from azure.storage.blob import BlobServiceClient

from hrupload.adapters.storage import (
    READ_CHUNK,
    HrStorage,
    decode_metadata_value,
    encode_metadata,
    encode_metadata_value,
)
from hrupload.app.ports import BlobExists, BlobGone, BlobInfo, BlobNameUnsupported, BlobTaken
from hrupload.core.errors import ConfigError, StorageError
from hrupload.settings import StorageSettings
from tests.plugins.azurite import Azurite, blob_service, table_service

MiB = 1024 * 1024

WEIRD_NAMES = [
    "with space/and ünïcödé 東京 #1?x=%41&y+z.csv",
    "a..b/..leading and trailing../x..csv",
    "semi;colon=eq,@!$'()*[]{}~`^.csv",
    "trailing dot.",
    "Ü/" + "ü€" * 511,  # 1,024 characters, most of them outside ASCII
]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def storage_on(azurite: Azurite, like: HrStorage, **clients: object) -> HrStorage:
    """A second HrStorage (a second instance of the app) on the same containers."""
    return HrStorage(
        clients.get("blob") or blob_service(azurite),  # type: ignore[arg-type]
        clients.get("table") or table_service(azurite),  # type: ignore[arg-type]
        incoming=like.incoming,
        processed=like.processed,
        failed=like.failed,
        runs_table=like.runs_table,
    )


# --------------------------------------------------------------------------- containers


def test_ensure_containers_is_idempotent_and_cached(hr_storage: HrStorage, azurite: Azurite):
    requests: list[str] = []

    def count(request) -> None:
        requests.append(request.http_request.method)

    blob = BlobServiceClient.from_connection_string(
        azurite.connection_string, raw_request_hook=count
    )
    other = storage_on(azurite, hr_storage, blob=blob)
    other.ensure_containers()  # all exist already (the fixture made them)
    made = len(requests)
    assert made == 3  # one create per container, answered 409
    other.ensure_containers()
    assert len(requests) == made  # cached: no further requests

    names = {c.name for c in hr_storage.blob_service.list_containers()}
    assert {hr_storage.incoming, hr_storage.processed, hr_storage.failed} <= names
    tables = {t.name for t in hr_storage.table_service.list_tables()}
    assert hr_storage.runs_table in tables


def test_ensure_containers_creates_missing_ones(hr_storage: HrStorage, azurite: Azurite):
    hr_storage.blob_service.delete_container(hr_storage.failed)
    fresh = storage_on(azurite, hr_storage)
    fresh.ensure_containers()
    fresh.put_blob(fresh.failed, "x.csv", b"x")
    assert fresh.blob_exists(fresh.failed, "x.csv")


# --------------------------------------------------------------------------- put / info


def test_put_and_get_info(hr_storage: HrStorage):
    s = hr_storage
    before = datetime.now(UTC).replace(microsecond=0)
    s.put_blob(
        s.incoming,
        "people.csv",
        b"a,b\n1,2\n",
        metadata={"source": "Zoë Ångström / 東京", "plain": "abc", "spaced": " x "},
        content_type="text/csv",
    )
    info = s.get_info(s.incoming, "people.csv")
    assert isinstance(info, BlobInfo)
    assert (info.container, info.name, info.size) == (s.incoming, "people.csv", 8)
    assert info.path == f"{s.incoming}/people.csv"
    assert info.etag.startswith('"') and info.etag.endswith('"')
    assert info.last_modified.tzinfo is not None and info.last_modified >= before
    assert info.created is not None
    assert info.metadata == {"source": "Zoë Ångström / 東京", "plain": "abc", "spaced": " x "}

    raw = s.blob_service.get_blob_client(s.incoming, "people.csv").get_blob_properties()
    assert raw.content_settings.content_type == "text/csv"
    assert raw.metadata["plain"] == "abc"  # plain ASCII is stored as it is
    assert all(value.isascii() for value in raw.metadata.values())


def test_put_accepts_streams_and_iterables(hr_storage: HrStorage):
    s = hr_storage
    s.put_blob(s.failed, "stream.csv", io.BytesIO(b"from a stream"))
    s.put_blob(s.failed, "chunks.csv", (part for part in (b"from ", b"chunks")))
    with s.open_read(s.failed, "stream.csv") as reader:
        assert reader.read() == b"from a stream"
    with s.open_read(s.failed, "chunks.csv") as reader:
        assert reader.read() == b"from chunks"


def test_put_without_overwrite_keeps_the_existing_blob(hr_storage: HrStorage):
    s = hr_storage
    s.put_blob(s.processed, "report.json", b"first")
    with pytest.raises(StorageError, match=r"report\.json"):
        s.put_blob(s.processed, "report.json", b"second", overwrite=False)
    with s.open_read(s.processed, "report.json") as reader:
        assert reader.read() == b"first"


def test_missing_blob_and_missing_container(hr_storage: HrStorage):
    s = hr_storage
    with pytest.raises(BlobGone, match=r"nothing\.csv"):
        s.get_info(s.incoming, "nothing.csv")
    assert not s.blob_exists(s.incoming, "nothing.csv")
    with pytest.raises(StorageError, match="does not exist") as caught:
        s.get_info("no-such-container", "x.csv")
    assert not isinstance(caught.value, BlobGone)
    with pytest.raises(StorageError, match="no-such-container"):
        list(s.list_blobs("no-such-container"))


def test_delete_and_exists(hr_storage: HrStorage):
    s = hr_storage
    s.put_blob(s.incoming, "d.csv", b"x")
    assert s.blob_exists(s.incoming, "d.csv")
    assert s.delete_blob(s.incoming, "d.csv") is True
    assert s.delete_blob(s.incoming, "d.csv") is False
    assert not s.blob_exists(s.incoming, "d.csv")


def test_metadata_encoding_round_trips():
    for value in ["abc", "", "Zoë", " lead", "trail ", "tab\there", "utf-8''looks encoded", "50%"]:
        encoded = encode_metadata_value(value)
        assert encoded.isascii() and encoded.isprintable()
        assert decode_metadata_value(encoded) == value
    assert encode_metadata_value("plain ASCII, kept as is") == "plain ASCII, kept as is"
    with pytest.raises(ValueError, match="metadata name"):
        encode_metadata({"not-an-identifier": "x"})


# --------------------------------------------------------------------------- listing


@pytest.mark.slow
def test_list_blobs_follows_pages(hr_storage: HrStorage):
    s = hr_storage
    count = 5_050  # more than one 5,000-blob page
    names = [f"many/{i:05d}.csv" for i in range(count)]
    with ThreadPoolExecutor(max_workers=10) as pool:  # the SDK's connection pool holds 10
        list(pool.map(lambda name: s.put_blob(s.incoming, name, b"x"), names))
    s.put_blob(s.incoming, "other/outside-prefix.csv", b"y")

    listed = list(s.list_blobs(s.incoming, prefix="many/"))
    assert [b.name for b in listed] == names
    assert all(b.size == 1 and b.etag.startswith('"') for b in listed)
    assert len(list(s.list_blobs(s.incoming))) == count + 1


def test_list_blobs_returns_metadata(hr_storage: HrStorage):
    s = hr_storage
    s.put_blob(s.failed, "2024/01/02/a.csv", b"abc", metadata={"note": "ünï"})
    [info] = list(s.list_blobs(s.failed, prefix="2024/"))
    assert info.metadata == {"note": "ünï"}
    assert info.size == 3
    assert info.etag == s.get_info(s.failed, "2024/01/02/a.csv").etag


# --------------------------------------------------------------------------- leases


def test_lease_is_exclusive_and_released(hr_storage: HrStorage, azurite: Azurite):
    s = hr_storage
    s.put_blob(s.incoming, "hr.csv", b"data")
    other = storage_on(azurite, s)
    with s.lease(s.incoming, "hr.csv", seconds=15) as lease:
        assert lease.id and not lease.lost
        with pytest.raises(BlobTaken, match=r"hr\.csv"), other.lease(s.incoming, "hr.csv"):
            pass
    with other.lease(s.incoming, "hr.csv") as second:  # released at the end of the block
        assert second.id != lease.id


def test_lease_on_a_deleted_blob(hr_storage: HrStorage):
    s = hr_storage
    s.put_blob(s.incoming, "gone.csv", b"data")
    s.delete_blob(s.incoming, "gone.csv")
    with pytest.raises(BlobGone, match=r"gone\.csv"), s.lease(s.incoming, "gone.csv"):
        pass
    with pytest.raises(ValueError, match="15 to 60"), s.lease(s.incoming, "gone.csv", seconds=5):
        pass


@pytest.mark.slow
def test_lease_is_renewed_past_its_duration(hr_storage: HrStorage, azurite: Azurite):
    s = hr_storage
    s.put_blob(s.incoming, "long.csv", b"data")
    other = storage_on(azurite, s)
    with s.lease(s.incoming, "long.csv", seconds=15) as lease:
        time.sleep(20)  # past the 15 s a lease lasts without renewal
        with pytest.raises(BlobTaken), other.lease(s.incoming, "long.csv", seconds=15):
            pass
        assert not lease.lost


def test_lease_reports_when_it_was_lost(hr_storage: HrStorage):
    s = hr_storage
    s.put_blob(s.incoming, "stolen.csv", b"data")
    raw = s.blob_service.get_blob_client(s.incoming, "stolen.csv")
    with s.lease(s.incoming, "stolen.csv", seconds=15) as lease:
        # An administrator breaks the lease and another holder takes the blob.
        from azure.storage.blob import BlobLeaseClient

        BlobLeaseClient(raw, lease_id=lease.id).break_lease(lease_break_period=0)
        raw.acquire_lease(lease_duration=15)
        deadline = time.monotonic() + 10  # renewals run every 5 s
        while not lease.lost and time.monotonic() < deadline:
            time.sleep(0.2)
        assert lease.lost


# --------------------------------------------------------------------------- reading


def test_open_read_streams_in_bounded_chunks(hr_storage: HrStorage):
    s = hr_storage
    data = os.urandom(20 * MiB + 123)
    s.put_blob(s.incoming, "big.csv", data)
    digest = hashlib.sha256()
    held = []
    tracemalloc.start()
    try:
        with s.open_read(s.incoming, "big.csv") as reader:
            consumed = 0
            while chunk := reader.read(MiB):
                consumed += len(chunk)
                digest.update(chunk)
                # Never more than one chunk ahead of what the caller has read...
                assert reader.raw.bytes_fetched <= consumed + READ_CHUNK
                held.append(tracemalloc.get_traced_memory()[0])
            requests = reader.raw.requests
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert consumed == len(data)
    assert digest.hexdigest() == sha(data)
    assert requests == 6  # 20 MiB + 123 bytes in 4 MiB ranges
    # ...and holding about one chunk between reads, not the blob.
    assert max(held) < 2 * READ_CHUNK, f"{max(held) / MiB:.1f} MiB held between reads"
    # While a range downloads, the SDK briefly needs ~9x its size (list(response)
    # pre-sizes a list from the response length); still a bound, not the blob's size.
    assert peak < 11 * READ_CHUNK, f"peak {peak / MiB:.1f} MiB while streaming 20 MiB"


def test_open_read_fails_loudly_when_the_blob_is_replaced(hr_storage: HrStorage):
    s = hr_storage
    s.put_blob(s.incoming, "moving.csv", b"a" * (9 * MiB))
    with s.open_read(s.incoming, "moving.csv") as reader:
        assert reader.read(MiB) == b"a" * MiB
        s.put_blob(s.incoming, "moving.csv", b"b" * (9 * MiB))  # HR drops a new version
        with pytest.raises(StorageError, match="changed meanwhile") as caught:
            reader.read(8 * MiB)
    assert "moving.csv" in str(caught.value)
    assert "bbb" not in str(caught.value)


def test_open_read_with_a_stale_etag(hr_storage: HrStorage):
    s = hr_storage
    s.put_blob(s.incoming, "v.csv", b"one")
    old = s.get_info(s.incoming, "v.csv").etag
    with s.open_read(s.incoming, "v.csv", etag=old.strip('"')) as reader:  # Event Grid form
        assert reader.read() == b"one"
    s.put_blob(s.incoming, "v.csv", b"two")
    with pytest.raises(StorageError, match="changed meanwhile"):
        s.open_read(s.incoming, "v.csv", etag=old)
    with pytest.raises(BlobGone):
        s.open_read(s.incoming, "missing.csv")


def test_open_read_is_seekable_and_handles_empty_blobs(hr_storage: HrStorage):
    s = hr_storage
    s.put_blob(s.incoming, "empty.csv", b"")
    with s.open_read(s.incoming, "empty.csv") as reader:
        assert reader.read() == b""
    s.put_blob(s.incoming, "ten.csv", b"0123456789")
    with s.open_read(s.incoming, "ten.csv") as reader:
        assert reader.read(3) == b"012"
        reader.seek(0)
        assert reader.read() == b"0123456789"


def test_open_read_under_a_lease(hr_storage: HrStorage):
    s = hr_storage
    s.put_blob(s.incoming, "leased.csv", b"content")
    with s.lease(s.incoming, "leased.csv", seconds=15) as lease:
        with s.open_read(s.incoming, "leased.csv", lease=lease) as reader:
            assert reader.read() == b"content"
        assert s.content_sha256(s.incoming, "leased.csv", lease=lease) == sha(b"content")


# --------------------------------------------------------------------------- moves


def test_move_verifies_then_deletes_the_source(hr_storage: HrStorage):
    s = hr_storage
    data = os.urandom(5 * MiB + 7)
    s.put_blob(s.incoming, "hr.csv", data, metadata={"dropped_by": "Workday", "note": "old"})
    with s.lease(s.incoming, "hr.csv", seconds=15) as lease:
        moved = s.move(
            s.incoming,
            "hr.csv",
            s.processed,
            "2024/05/06/hr.csv",
            lease=lease,
            metadata={"run_id": "r-1", "note": "Zoë's run"},
        )
        assert not lease.lost
    assert (moved.container, moved.name, moved.size) == (
        s.processed,
        "2024/05/06/hr.csv",
        len(data),
    )
    assert moved.metadata == {"dropped_by": "Workday", "run_id": "r-1", "note": "Zoë's run"}
    assert not s.blob_exists(s.incoming, "hr.csv")
    assert s.content_sha256(s.processed, "2024/05/06/hr.csv") == sha(data)


def test_move_with_expected_sha256(hr_storage: HrStorage):
    s = hr_storage
    s.put_blob(s.incoming, "known.csv", b"known content")
    moved = s.move(
        s.incoming,
        "known.csv",
        s.failed,
        "2024/01/01/known.csv",
        expected_sha256=sha(b"known content"),
    )
    assert moved.size == len(b"known content")
    assert not s.blob_exists(s.incoming, "known.csv")


def test_move_that_does_not_verify_leaves_the_source(hr_storage: HrStorage):
    s = hr_storage
    s.put_blob(s.incoming, "keep.csv", b"the real content", metadata={"a": "1"})
    with pytest.raises(StorageError, match="SHA-256 differs") as caught:
        s.move(s.incoming, "keep.csv", s.processed, "x/keep.csv", expected_sha256="0" * 64)
    assert "keep.csv" in str(caught.value) and "real content" not in str(caught.value)
    assert not s.blob_exists(s.processed, "x/keep.csv")  # the bad copy is gone
    info = s.get_info(s.incoming, "keep.csv")
    assert info.metadata == {"a": "1"} and info.size == len(b"the real content")


def test_a_retried_move_finishes_onto_its_own_earlier_copy(hr_storage: HrStorage):
    """A crash between copy and delete leaves the copy; the retry accepts it as its own."""
    s = hr_storage
    s.put_blob(s.processed, "2024/01/01/again.csv", b"same content")
    s.put_blob(s.incoming, "again.csv", b"same content")
    moved = s.move(
        s.incoming, "again.csv", s.processed, "2024/01/01/again.csv", metadata={"a": "1"}
    )
    assert (moved.size, moved.metadata) == (12, {"a": "1"})
    assert not s.blob_exists(s.incoming, "again.csv")


def test_a_move_never_overwrites_another_archived_blob(hr_storage: HrStorage):
    s = hr_storage
    s.put_blob(s.processed, "2024/01/01/again.csv", b"an archived file")
    s.put_blob(s.incoming, "again.csv", b"new")
    with pytest.raises(BlobExists, match="never overwritten"):
        s.move(s.incoming, "again.csv", s.processed, "2024/01/01/again.csv")
    with s.open_read(s.processed, "2024/01/01/again.csv") as reader:
        assert reader.read() == b"an archived file"
    with s.open_read(s.incoming, "again.csv") as reader:
        assert reader.read() == b"new"


def test_a_create_only_write_raises_blob_exists_and_keeps_the_blob(hr_storage: HrStorage):
    s = hr_storage
    s.put_blob(s.failed, "x.csv.rejected.csv", b"first")
    with pytest.raises(BlobExists, match=r"x\.csv\.rejected\.csv.*never overwritten"):
        s.put_blob(s.failed, "x.csv.rejected.csv", io.BytesIO(b"second"), overwrite=False)
    with s.open_read(s.failed, "x.csv.rejected.csv") as reader:
        assert reader.read() == b"first"


def test_move_of_a_vanished_blob(hr_storage: HrStorage):
    s = hr_storage
    with pytest.raises(BlobGone):
        s.move(s.incoming, "never-there.csv", s.failed, "x/never-there.csv")
    with pytest.raises(ValueError, match="onto itself"):
        s.move(s.incoming, "a.csv", s.incoming, "a.csv")


@pytest.mark.parametrize("name", WEIRD_NAMES, ids=lambda n: n[:24])
def test_move_and_lease_with_weird_names(hr_storage: HrStorage, name: str):
    s = hr_storage
    data = f"content of {name}".encode()
    s.put_blob(s.incoming, name, data, metadata={"original_name": name})
    [listed] = list(s.list_blobs(s.incoming))
    assert listed.name == name
    # A 1,024-character name cannot take a date prefix: it moves under its own name.
    dst_name = name if len(name) > 1000 else f"2024/05/06/{name}"
    with s.lease(s.incoming, name, seconds=15) as lease:
        moved = s.move(s.incoming, name, s.processed, dst_name, lease=lease)
    assert moved.name == dst_name
    assert moved.metadata == {"original_name": name}
    assert not s.blob_exists(s.incoming, name)
    with s.open_read(s.processed, dst_name) as reader:
        assert reader.read() == data


@pytest.mark.parametrize(
    "name", ["a/../b.csv", "../hr-processed/x.csv", "./x.csv", "d/..", "a\\..\\b"]
)
def test_dot_segment_names_are_refused_before_any_request(hr_storage: HrStorage, name: str):
    s = hr_storage
    s.put_blob(s.incoming, "b.csv", b"must stay")
    for call in (
        lambda: s.get_info(s.incoming, name),
        lambda: s.put_blob(s.incoming, name, b"x"),
        lambda: s.move(s.incoming, "b.csv", s.processed, name),
        lambda: s.lease(s.incoming, name).__enter__(),
    ):
        with pytest.raises(BlobNameUnsupported, match="segment"):
            call()
    assert s.blob_exists(s.incoming, "b.csv")
    assert [b.name for b in s.list_blobs(s.processed)] == []


def test_names_longer_than_azure_allows_are_refused(hr_storage: HrStorage):
    s = hr_storage
    name = "x" * 1020 + ".csv"
    s.put_blob(s.incoming, name, b"data")
    with pytest.raises(BlobNameUnsupported, match="at most 1024"):
        s.move(s.incoming, name, s.processed, "2024/01/01/" + name)
    assert s.blob_exists(s.incoming, name)


# --------------------------------------------------------------------------- settings


def test_from_settings_with_a_connection_string(hr_storage: HrStorage, azurite: Azurite):
    settings = StorageSettings(azurite.connection_string, None, None, None, None)
    s = HrStorage.from_settings(
        settings,
        incoming=hr_storage.incoming,
        processed=hr_storage.processed,
        failed=hr_storage.failed,
        runs_table=hr_storage.runs_table,
    )
    s.ensure_containers()
    s.put_blob(s.incoming, "via-settings.csv", b"ok")
    assert s.get_info(s.incoming, "via-settings.csv").size == 2
    assert s.runlog().list_runs() == []


def test_from_settings_with_identity_urls_makes_no_request():
    class NoToken:
        def get_token(self, *scopes, **kwargs):
            raise AssertionError("no request expected")

    settings = StorageSettings(
        None,
        "https://acct.blob.core.windows.net",
        None,
        "https://acct.table.core.windows.net",
        "client-id",
    )
    s = HrStorage.from_settings(
        settings, incoming="i", processed="p", failed="f", runs_table="t", credential=NoToken()
    )
    assert s.blob_service.url.startswith("https://acct.blob.core.windows.net")
    assert s.table_service.url.startswith("https://acct.table.core.windows.net")
    with pytest.raises(ConfigError, match="tableServiceUri"):
        HrStorage.from_settings(
            StorageSettings(None, "https://acct.blob.core.windows.net", None, None, None),
            incoming="i",
            processed="p",
            failed="f",
            runs_table="t",
            credential=NoToken(),
        )


# --------------------------------------------------------------------------- outages


def test_an_outage_raises_storage_error_naming_the_blob(hr_storage: HrStorage, azurite: Azurite):
    from hrupload.app.runs import RunRecord

    s = hr_storage
    s.put_blob(s.incoming, "during-outage.csv", b"secret row values")
    ports = dict(azurite.ports)
    old_pid = azurite.pid
    azurite.stop(crash=True)
    try:
        started = time.monotonic()
        with pytest.raises(StorageError, match="did not answer") as caught:
            s.get_info(s.incoming, "during-outage.csv")
        assert not isinstance(caught.value, BlobGone)
        message = str(caught.value)
        assert f"{s.incoming}/during-outage.csv" in message and "secret" not in message
        with pytest.raises(StorageError, match=s.runs_table):
            s.runlog().put(RunRecord("r", "c/b.csv", '"0x1"', None, None, "running"))
        assert time.monotonic() - started < 20
    finally:
        azurite.start()
    assert azurite.ports == ports and azurite.pid != old_pid
    # In-memory data did not survive the restart: the containers are gone too.
    with pytest.raises(StorageError, match="does not exist"):
        s.get_info(s.incoming, "during-outage.csv")
    fresh = storage_on(azurite, s)
    fresh.ensure_containers()
    fresh.put_blob(fresh.incoming, "after.csv", b"ok")
    assert fresh.blob_exists(fresh.incoming, "after.csv")


def test_concurrent_leases_only_one_wins(hr_storage: HrStorage, azurite: Azurite):
    s = hr_storage
    s.put_blob(s.incoming, "race.csv", b"data")
    results: list[str] = []
    barrier = threading.Barrier(4)

    def contend(storage: HrStorage) -> None:
        barrier.wait()
        try:
            with storage.lease(storage.incoming, "race.csv", seconds=15):
                results.append("won")
                time.sleep(0.5)
        except BlobTaken:
            results.append("taken")

    storages = [storage_on(azurite, s) for _ in range(4)]
    threads = [threading.Thread(target=contend, args=(st,)) for st in storages]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["taken", "taken", "taken", "won"]


def test_the_fixture_holds_the_server_process(azurite: Azurite):
    assert azurite.running and azurite.pid
    comm = Path(f"/proc/{azurite.pid}/comm")
    if comm.exists():  # Linux: the PID is node itself, not a shell or npx wrapper
        assert comm.read_text().strip() == "node"
    assert {
        urlsplit(u).hostname for u in (azurite.blob_url, azurite.table_url, azurite.queue_url)
    } == {"127.0.0.1"}
    assert len(set(azurite.ports.values())) == 3 and 0 not in azurite.ports.values()
