"""``-`` reads a file from standard input, for ``validate`` and ``upload``: the same report
and the same chunks as the file itself, a private copy deleted afterwards, and a stream
larger than the limit refused without being read to its end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from click.testing import CliRunner

from hrupload.cli.main import main
from hrupload_dev.connector import ConnectorStandIn

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
HRUPLOAD = Path(sys.executable).with_name("hrupload")


def run(*args: str, stdin: bytes, env: dict[str, str] | None = None):
    result = CliRunner().invoke(main, list(args), input=stdin, env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def files_of(doc: str) -> list[dict]:
    return json.loads(doc)["data"]["files"]


def test_validate_reads_stdin_as_it_reads_the_file() -> None:
    data = (SAMPLES / "multi-scenario.csv").read_bytes()
    piped = run("validate", "-", "--json", stdin=data)
    direct = run("validate", str(SAMPLES / "multi-scenario.csv"), "--json", stdin=b"")
    assert piped.exit_code == direct.exit_code == 3
    (mine,), (theirs,) = files_of(piped.stdout), files_of(direct.stdout)
    assert mine["file"] == "<stdin>"
    assert {k: v for k, v in mine.items() if k != "file"} == {
        k: v for k, v in theirs.items() if k != "file"
    }


def test_stdin_beside_files_and_only_once() -> None:
    data = (SAMPLES / "resignation.csv").read_bytes()
    both = run("validate", str(SAMPLES / "resignation.csv"), "-", "--json", stdin=data)
    assert [f["file"] for f in files_of(both.stdout)][1] == "<stdin>"
    twice = run("validate", "-", "-", stdin=data)
    assert twice.exit_code == 2 and "only once" in twice.output


def test_a_stream_over_the_limit_is_refused_unread() -> None:
    # Through a real pipe from a process that would write 64 MB: the CLI stops reading
    # just past the 1 MB limit and says the file is too large.
    endless = "import sys\nfor _ in range(64): sys.stdout.buffer.write(b'x' * (1 << 20))"
    writer = subprocess.Popen([sys.executable, "-c", endless], stdout=subprocess.PIPE)
    done = subprocess.run(
        [HRUPLOAD, "validate", "-", "--max-file-mb", "1", "--json"],
        stdin=writer.stdout,
        capture_output=True,
        timeout=120,
        check=False,
    )
    writer.stdout.close()
    writer.kill()
    writer.wait()
    assert done.returncode == 1, done.stderr
    (report,) = files_of(done.stdout)
    assert report["file_error"]["code"] == "file-too-large"


def test_upload_from_stdin_sends_the_rows_and_leaves_no_copy(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    before = set(Path(tempfile.gettempdir()).glob("hrupload-stdin-*"))
    env = {**connector_standin.env(), "HRUPLOAD_APP_SECRET": connector_standin.app_secret}
    env["HRUPLOAD_STATE_DIR"] = str(tmp_path / "state")
    data = (SAMPLES / "resignation.csv").read_bytes()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = run("upload", "-", "--json", stdin=data, env=env)
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    (summary,) = files_of(result.stdout)
    assert (summary["file"], summary["status"], summary["uploaded"]) == ("<stdin>", "uploaded", 2)
    assert len(connector_standin.uploads) == 1
    report = json.loads((tmp_path / "stdin.csv.report.json").read_text())
    assert report["file"] == "<stdin>"
    assert set(Path(tempfile.gettempdir()).glob("hrupload-stdin-*")) == before
