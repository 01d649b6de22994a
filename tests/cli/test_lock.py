"""Two ``hrupload upload`` runs of the same file at once (issue 11, point 13): with one
state directory the second waits for the first, or refuses, and never sends the chunks
again; a killed holder leaves no lock behind. Real processes against the connector
stand-in; the first is held mid-upload by a slow answer the test queued."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from hrupload.adapters.local_state import LocalCheckpoints, UploadBusy
from hrupload.core.errors import ConfigError
from hrupload_dev.connector import ConnectorStandIn, Fault
from tests.cli.test_upload import received_rows, resignations
from tests.reliability import Child, wait_until

CHUNKS = ["--records-per-call", "3", "--concurrency", "1"]


def upload_child(
    standin: ConnectorStandIn, state: Path, cwd: Path, *args: str | Path, **env: str
) -> Child:
    settings = standin.env(include_secret=True) | {"HRUPLOAD_STATE_DIR": str(state)} | env
    return Child(["upload", *map(str, args), *CHUNKS], settings, cwd)


def hold_first_upload(standin: ConnectorStandIn, child: Child, seconds: float) -> None:
    """Return once ``child`` is mid-upload: its first chunk sits in a slow answer."""
    standin.add_faults(Fault.delay(seconds), endpoint="ingestion")
    wait_until(lambda: not standin.pending_faults("ingestion"), 30, "the first chunk", child)


def write(tmp_path: Path, name: str, valid: int) -> tuple[Path, list[list[str]]]:
    data, good = resignations(valid)
    path = tmp_path / name
    path.write_bytes(data)
    return path, good


def test_the_second_upload_waits_for_the_first_and_sends_nothing_again(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source, good = write(tmp_path, "resignation.csv", 10)  # 4 chunks
    state = tmp_path / "state"
    first = upload_child(connector_standin, state, tmp_path, source)
    hold_first_upload(connector_standin, first, 3)

    second = upload_child(connector_standin, state, tmp_path, source, "--lock-wait", "60")
    first_code, first_out, first_err = first.finish()
    second_code, second_out, second_err = second.finish()

    assert first_code == 0, first_err
    assert "10 records uploaded in 4 chunks" in first_out
    assert second_code == 0, second_err
    assert (
        f"another upload of {source} is running (pid {first.proc.pid}); waiting up to 60 s"
        in second_err
    )
    assert "Already uploaded" in second_out and "nothing sent" in second_out
    assert len(connector_standin.uploads) == 4  # each chunk once
    assert received_rows(connector_standin) == good
    assert "Traceback" not in first_err + second_err


def test_with_no_wait_the_second_upload_refuses_at_once_and_leaves_the_reports_alone(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source, good = write(tmp_path, "resignation.csv", 10)
    state = tmp_path / "state"
    first = upload_child(connector_standin, state, tmp_path, source)
    hold_first_upload(connector_standin, first, 3)

    second = upload_child(connector_standin, state, tmp_path, source, "--json", "--lock-wait", "0")
    second_code, second_out, second_err = second.finish()
    first_code, _, first_err = first.finish()

    assert second_code == 1, second_err
    assert "not uploaded: another upload of" in second_err
    assert f"is still running (pid {first.proc.pid}); nothing was sent" in second_err
    assert len(second_err.strip().splitlines()) == 1  # one sentence, no traceback
    assert json.loads(second_out)["data"]["files"][0]["status"] == "busy"
    assert first_code == 0, first_err
    report = json.loads((tmp_path / "resignation.csv.report.json").read_text())
    assert report["upload"]["status"] == "uploaded"  # the first run's report, whole
    assert len(connector_standin.uploads) == 4
    assert received_rows(connector_standin) == good


def test_a_killed_upload_leaves_no_lock_behind(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source, good = write(tmp_path, "resignation.csv", 10)
    state = tmp_path / "state"
    first = upload_child(connector_standin, state, tmp_path, source)
    hold_first_upload(connector_standin, first, 30)
    first.kill()  # SIGKILL: no finally block runs, the lock file and its note stay

    second = upload_child(connector_standin, state, tmp_path, source, "--lock-wait", "120")
    code, out, err = second.finish()

    assert code == 0, err
    assert "waiting" not in err  # the dead holder's lock went with its process
    assert "10 records uploaded in 4 chunks" in out
    # The killed run's first chunk may still arrive late (at least once); every row is there.
    rows = received_rows(connector_standin)
    assert {tuple(r) for r in rows} == {tuple(r) for r in good}


def test_different_files_upload_in_parallel(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    a, _ = write(tmp_path, "resignation-a.csv", 4)
    b, _ = write(tmp_path, "resignation-b.csv", 5)  # other content: another lock
    state = tmp_path / "state"
    first = upload_child(connector_standin, state, tmp_path, a)
    hold_first_upload(connector_standin, first, 3)

    second = upload_child(connector_standin, state, tmp_path, b, "--lock-wait", "0")
    code, out, err = second.finish()

    assert code == 0, err
    assert "Upload Successful" in out
    assert first.proc.poll() is None  # b went out while a was still uploading
    assert first.finish()[0] == 0
    assert len(connector_standin.uploads) == 2 + 2


# -- the lock itself ------------------------------------------------------------------------------


def test_a_held_lock_refuses_or_waits_naming_its_holder(tmp_path: Path) -> None:
    checkpoints = LocalCheckpoints(tmp_path)
    waited = []
    with checkpoints.hold("k", file="a.csv", wait=0):
        with (
            pytest.raises(UploadBusy) as refused,
            LocalCheckpoints(tmp_path).hold("k", file="a.csv", wait=0),
        ):
            pass
        with (
            pytest.raises(UploadBusy) as timed_out,
            LocalCheckpoints(tmp_path).hold("k", file="a.csv", wait=0.2, on_wait=waited.append),
        ):
            pass
        with LocalCheckpoints(tmp_path).hold("other", file="b.csv", wait=0):
            pass  # another key: not blocked
    assert refused.value.holder.pid == os.getpid()
    assert "another upload of a.csv is still running" in str(refused.value)
    assert "after waiting 0.2 s" in str(timed_out.value)
    assert [h.pid for h in waited] == [os.getpid()]
    with LocalCheckpoints(tmp_path).hold("k", file="a.csv", wait=0):
        pass  # released on leaving the block
    assert not (tmp_path / "locks" / "k.owner").exists()


def test_a_waiter_gets_the_lock_when_the_holder_lets_go(tmp_path: Path) -> None:
    release = threading.Event()
    held = threading.Event()

    def holder() -> None:
        with LocalCheckpoints(tmp_path).hold("k", file="a.csv", wait=0):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(30)
    timer = threading.Timer(0.3, release.set)
    timer.start()
    try:
        with LocalCheckpoints(tmp_path).hold("k", file="a.csv", wait=30, on_wait=lambda h: None):
            assert release.is_set()
    finally:
        thread.join(30)


def test_an_unwritable_state_dir_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    unwritable = LocalCheckpoints(blocker / "state")
    with (
        pytest.raises(ConfigError, match="HRUPLOAD_STATE_DIR"),
        unwritable.hold("k", file="a.csv", wait=0),
    ):
        pass
