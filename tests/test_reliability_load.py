"""Many files at once (issue 6): all handled, memory bounded, incoming paged through.

The 200-file test runs the Function's own entry points in a child process (Event Grid
triggers on a thread pool, racing the daily sweep, as one busy instance would), which
reports its own peak memory (``VmHWM``), with nothing of the test process in it. (Not
``wait4``'s ``ru_maxrss``: at ``exec`` Linux carries the parent's high-water mark into it.)
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from hrupload.app import pipeline
from tests.invariants import check_files, hr_csv
from tests.reliability import Child, connection_string, drop, make_services, names, settings_env

#: One busy Function instance: Event Grid triggers on a thread pool, the sweep among them.
INSTANCE = r"""
import json, sys
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from hrupload import functions
from hrupload.app import pipeline

names = json.load(open(sys.argv[1]))
services = functions.services()
services.storage.list_page_size = int(sys.argv[2])  # several pages, moved from as listed

def trigger(name):
    try:
        return functions.on_blob(SimpleNamespace(blob_name=name)).status
    except pipeline.RetryLater:
        return "retry-later"

with ThreadPoolExecutor(8) as pool:
    sweep = pool.submit(pipeline.sweep, services)
    statuses = list(pool.map(trigger, names))
summary = sweep.result().to_dict()
status = open("/proc/self/status").read()
peak_kib = int(status.split("VmHWM:")[1].split()[0])
print(json.dumps({"triggers": statuses, "sweep": summary, "peak_kib": peak_kib}, default=str))
"""

#: Peak resident memory a busy instance may reach, whatever the number of files: the
#: interpreter, the Azure SDKs and pyarrow (~80 MB), plus per file in flight (8 here) up to
#: HRUPLOAD_CONCURRENCY chunks and two read blocks. Measured on 2 cores: 150-165 MB for the
#: 200 files below. A Flex Consumption instance has 2,048 MB.
PEAK_RSS_MB = 256
#: What 25 times the files may add over the warm-up: per-file leftovers (threads, open
#: streams, results) would show here. Streaming of large files is tested in test_storage.
GROWTH_MB = 40


def run_instance(tmp_path, azurite, storage, standin, files, page_size) -> tuple[dict, float]:
    listing = tmp_path / f"names-{len(files)}.json"
    listing.write_text(json.dumps(sorted(files)))
    env = settings_env(storage, standin, HRUPLOAD_RECORDS_PER_CALL="500", HRUPLOAD_RETRY_BUDGET="5")
    env["HR_STORAGE"] = connection_string(azurite.blob_url, azurite.table_url)
    child = Child(
        [str(listing), str(page_size)], env, tmp_path, command=[sys.executable, "-c", INSTANCE]
    )
    code, out, err = child.finish(timeout=240)
    assert code == 0, err[-3000:]
    result = json.loads(out)
    return result, result["peak_kib"] / 1024


@pytest.mark.slow
def test_200_files_dropped_at_once_are_all_handled_in_bounded_memory(
    azurite, hr_storage, connector_standin, tmp_path
):
    # A few large files among many small ones; some partly rejected, some unusable.
    # The warm-up has as many large files in flight as the real run can have, so what the
    # real run adds is what 25 times the files cost, not what more large files in flight do.
    warmup = {f"warmup/{i}.csv": hr_csv(f"w{i}", 20_000, 20) for i in range(8)}
    files = {f"resignation/{i:03d}.csv": hr_csv(f"f{i}", 300, i % 4) for i in range(192)}
    files |= {f"resignation/big-{i}.csv": hr_csv(f"big{i}", 20_000, 20) for i in range(6)}
    files["resignation/latin1.csv"] = "EmailAddress\nrené@x.com\n".encode("latin-1")
    files["resignation/binary.csv"] = b"\x00\x01\x02binary"
    assert len(files) == 200

    etags = drop(hr_storage, warmup)
    _, baseline_mb = run_instance(
        tmp_path, azurite, hr_storage, connector_standin, warmup, page_size=3
    )
    etags |= drop(hr_storage, files)
    result, peak_mb = run_instance(
        tmp_path, azurite, hr_storage, connector_standin, files, page_size=64
    )

    triggers, sweep = result["triggers"], result["sweep"]
    assert set(triggers) <= {"uploaded", "partial", "failed", "taken", "gone"}
    done = [s for s in triggers if s in ("uploaded", "partial", "failed")]
    assert len(done) + sweep["uploaded"] + sweep["partial"] + sweep["failed"] == 200
    assert names(hr_storage, hr_storage.incoming) == []
    states = check_files(hr_storage, connector_standin, files | warmup, etags=etags)
    unusable = [n for n, state in states.items() if state.report and state.report["file_error"]]
    assert sorted(unusable) == ["resignation/binary.csv", "resignation/latin1.csv"]
    assert all(states[n].where == "failed" for n in unusable)
    assert peak_mb < PEAK_RSS_MB, f"peak {peak_mb:.0f} MB"
    assert peak_mb < baseline_mb + GROWTH_MB, f"peak {peak_mb:.0f} MB, warm-up {baseline_mb:.0f}"


def test_the_sweep_pages_through_incoming_while_it_moves_files_out(hr_storage, connector_standin):
    """Moving blobs out while listing must not skip any: the continuation is a name."""
    files = {f"resignation/{i:02d}.csv": hr_csv(f"p{i}", 3) for i in range(23)}
    etags = drop(hr_storage, files)
    hr_storage.list_page_size = 4
    services = make_services(hr_storage, connector_standin)

    summary = pipeline.sweep(services)

    assert (summary.count("uploaded"), summary.to_dict()["files"]) == (23, 23)
    check_files(hr_storage, connector_standin, files, etags=etags)


@pytest.mark.slow
def test_10000_blobs_in_incoming_are_all_listed_and_none_is_lost(hr_storage, connector_standin):
    """A backlog while the connector refuses our secret: the sweep tries one file, then
    only lists, across both pages of 5,000, so the summary counts every waiting file."""
    body = hr_csv("x", 1)
    blobs = [f"backlog/{i:05d}.csv" for i in range(10_000)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: hr_storage.put_blob(hr_storage.incoming, n, body), blobs))
    services = make_services(hr_storage, connector_standin, HRUPLOAD_APP_SECRET="wrong")

    summary = pipeline.sweep(services)

    doc = summary.to_dict()
    assert (doc["files"], doc["retrying"], doc["deferred"]) == (10_000, 1, 9_999)
    assert "the app secret is wrong or expired" in summary.stopped
    assert [summary.results[0].blob.split("/", 1)[1], *summary.deferred] == blobs
    assert sum(1 for _ in hr_storage.list_blobs(hr_storage.incoming)) == 10_000
    assert connector_standin.uploads == []
