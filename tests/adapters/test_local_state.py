"""Local checkpoints: what survives between runs, who can read it, and when it is forgotten."""

from __future__ import annotations

import json
import stat
import threading
import time
from pathlib import Path

import pytest

from hrupload import compose
from hrupload.adapters.local_state import KEEP_SECONDS, LocalCheckpoints, default_state_dir
from hrupload.settings import load

DAY = 24 * 3600


def saved(directory: Path, key: str) -> dict:
    return json.loads((directory / f"{key}.json").read_text())


def age_completion(directory: Path, key: str, seconds: float) -> None:
    """Make the completed upload ``seconds`` old, as if that much time had passed."""
    doc = saved(directory, key)
    doc["completed"] = time.time() - seconds
    (directory / f"{key}.json").write_text(json.dumps(doc))


def test_delivered_chunks_survive_into_the_next_run(tmp_path: Path) -> None:
    first = LocalCheckpoints(tmp_path)
    first.mark("k1", 0)
    first.mark("k1", 2)

    assert LocalCheckpoints(tmp_path).delivered("k1") == {0, 2}
    assert saved(tmp_path, "k1")["delivered"] == [0, 2]
    assert saved(tmp_path, "k1")["completed"] is None


def test_keys_are_kept_apart(tmp_path: Path) -> None:
    checkpoints = LocalCheckpoints(tmp_path)
    checkpoints.mark("k1", 0)
    checkpoints.mark("k2", 5)

    again = LocalCheckpoints(tmp_path)
    assert again.delivered("k1") == {0}
    assert again.delivered("k2") == {5}
    assert again.delivered("k3") == set()


def test_state_is_readable_by_the_user_only(tmp_path: Path) -> None:
    directory = tmp_path / "state" / "nested"
    checkpoints = LocalCheckpoints(directory)

    checkpoints.mark("k1", 0)
    checkpoints.complete("k1")

    assert stat.S_IMODE((directory / "k1.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert [p.name for p in directory.iterdir()] == ["k1.json"]  # no temporary files left


def cli_checkpoints(env: dict[str, str]) -> LocalCheckpoints:
    """The checkpoints ``hrupload upload`` gets from these settings (a dry run's)."""
    return compose.build_local_upload(load(env), send=False).checkpoints


def test_the_state_directory_comes_from_the_setting(tmp_path: Path) -> None:
    env = {"HRUPLOAD_STATE_DIR": str(tmp_path / "from-env")}

    assert cli_checkpoints(env).directory == tmp_path / "from-env"
    cli_checkpoints(env).mark("k1", 3)
    assert LocalCheckpoints(tmp_path / "from-env").delivered("k1") == {3}

    assert cli_checkpoints({"HRUPLOAD_STATE_DIR": "~/hr-state"}).directory == (
        Path.home() / "hr-state"
    )


def test_without_the_setting_state_goes_to_the_users_state_dir() -> None:
    directory = cli_checkpoints({}).directory

    assert directory == default_state_dir() == LocalCheckpoints().directory
    assert directory.is_absolute()
    assert "hrupload" in directory.parts


def test_a_completed_upload_is_remembered_for_14_days(tmp_path: Path) -> None:
    assert KEEP_SECONDS == 14 * DAY
    LocalCheckpoints(tmp_path).mark("k1", 0)
    LocalCheckpoints(tmp_path).complete("k1")
    age_completion(tmp_path, "k1", 13 * DAY)

    kept = LocalCheckpoints(tmp_path)
    kept.prune()

    assert kept.delivered("k1") == {0}
    assert kept.completed_at("k1") is not None


def test_a_completed_upload_is_forgotten_after_14_days(tmp_path: Path) -> None:
    LocalCheckpoints(tmp_path).mark("k1", 0)
    LocalCheckpoints(tmp_path).complete("k1")
    age_completion(tmp_path, "k1", 15 * DAY)

    expired = LocalCheckpoints(tmp_path)

    assert expired.delivered("k1") == set()
    assert expired.completed_at("k1") is None
    expired.prune()
    assert not (tmp_path / "k1.json").exists()


def test_completing_another_upload_prunes_expired_ones_only(tmp_path: Path) -> None:
    checkpoints = LocalCheckpoints(tmp_path)
    for key in ("old", "recent", "unfinished"):
        checkpoints.mark(key, 0)
    checkpoints.complete("old")
    checkpoints.complete("recent")
    age_completion(tmp_path, "old", 15 * DAY)
    (tmp_path / "notes.txt").write_text("not ours")

    LocalCheckpoints(tmp_path).complete("new")

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "new.json",
        "notes.txt",
        "recent.json",
        "unfinished.json",
    ]


def test_the_keep_period_can_be_shorter(tmp_path: Path) -> None:
    checkpoints = LocalCheckpoints(tmp_path, keep_seconds=0.2)
    checkpoints.mark("k1", 0)
    checkpoints.complete("k1")
    assert LocalCheckpoints(tmp_path, keep_seconds=0.2).delivered("k1") == {0}

    time.sleep(0.3)

    assert LocalCheckpoints(tmp_path, keep_seconds=0.2).delivered("k1") == set()


def test_clear_forgets_one_key(tmp_path: Path) -> None:
    checkpoints = LocalCheckpoints(tmp_path)
    checkpoints.mark("k1", 0)
    checkpoints.mark("k2", 0)

    checkpoints.clear("k1")

    assert checkpoints.delivered("k1") == set()
    assert LocalCheckpoints(tmp_path).delivered("k1") == set()
    assert LocalCheckpoints(tmp_path).delivered("k2") == {0}
    checkpoints.clear("never-there")


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]", '"text"', '{"delivered": 3}'])
def test_a_damaged_state_file_counts_as_nothing_delivered(tmp_path: Path, content: str) -> None:
    (tmp_path / "k1.json").write_text(content)

    checkpoints = LocalCheckpoints(tmp_path)

    assert checkpoints.delivered("k1") == set()
    checkpoints.mark("k1", 4)
    assert LocalCheckpoints(tmp_path).delivered("k1") == {4}


def test_a_damaged_file_does_not_stop_pruning(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("[]")
    checkpoints = LocalCheckpoints(tmp_path)
    checkpoints.mark("k1", 0)
    checkpoints.complete("k1")

    checkpoints.prune()

    assert (tmp_path / "k1.json").exists()


def test_marks_from_many_upload_threads_are_all_kept(tmp_path: Path) -> None:
    checkpoints = LocalCheckpoints(tmp_path)

    def mark(start: int) -> None:
        for index in range(start, 200, 8):
            checkpoints.mark("k1", index)

    threads = [threading.Thread(target=mark, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert LocalCheckpoints(tmp_path).delivered("k1") == set(range(200))


def test_prune_without_a_directory_does_nothing(tmp_path: Path) -> None:
    LocalCheckpoints(tmp_path / "absent").prune()

    assert not (tmp_path / "absent").exists()
