"""``hrupload upload`` end to end against the connector stand-in.

Most runs go through click's CliRunner (same process, fast); two run the installed
console script as a real process. Every run checks what the stand-in received and that
neither the secret nor a token shows up in anything the command wrote.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from http import HTTPStatus
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hrupload.cli.main import main
from hrupload_dev.connector import JOB_APP_MISMATCH, ConnectorStandIn, Fault
from tests.plugins.standins import TEST_APP_SECRET, StandInCertificate

HEADER = "EmailAddress,ResignationDate,LastWorkingDate"
TOKEN = re.compile(r"standin\.[A-Za-z0-9_-]{20,}")  # the shape of every stand-in token
HRUPLOAD = Path(sys.executable).with_name("hrupload")
JUNK = ("\r", "\x1b[", "━", "%|")  # carriage returns, ANSI codes, progress bar pieces


def resignations(valid: int, rejected: int = 0) -> tuple[bytes, list[list[str]]]:
    """A resignation file: ``valid`` good rows, every third of the first ``rejected``
    positions taken by a row with a bad email; and the good rows."""
    lines, good = [HEADER], []
    for i in range(valid + rejected):
        if i % 3 == 1 and rejected > 0 and len(lines) - len(good) <= rejected:
            lines.append(f"not-an-email-{i},2026-11-02T09:30:00Z,2026-11-30T00:00:00Z")
            continue
        row = [f"user{i:04d}@contoso.com", "2026-11-02T09:30:00Z", "2026-11-30T00:00:00Z"]
        lines.append(",".join(row))
        good.append(row)
    return ("\r\n".join(lines) + "\r\n").encode(), good[:valid]


def received_rows(standin: ConnectorStandIn) -> list[list[str]]:
    rows = []
    for upload in sorted(standin.uploads, key=lambda u: (u.filename, u.seq)):  # file order
        text = upload.content.decode("utf-8")
        lines = text.split("\r\n")
        assert lines[0] == HEADER
        rows.extend(line.split(",") for line in lines[1:] if line)
    return rows


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No HRUPLOAD_* setting from the developer's shell leaks into a run."""
    for name in list(os.environ):
        if name.startswith("HRUPLOAD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HRUPLOAD_STATE_DIR", str(tmp_path / "state"))


def standin_env(standin: ConnectorStandIn, **changes: str | None) -> dict[str, str | None]:
    env: dict[str, str | None] = {**standin.env(), "HRUPLOAD_APP_SECRET": standin.app_secret}
    env.update(changes)
    return env


def upload(*args: str | Path, env: dict[str, str | None]) -> Result:
    return CliRunner().invoke(main, ["upload", *map(str, args)], env=env)


def assert_no_secrets(result: Result, *files: Path, secrets: tuple[str, ...] = ()) -> None:
    texts = {"stdout": result.stdout, "stderr": result.stderr}
    texts.update({str(f): f.read_text(errors="replace") for f in files if f.exists()})
    for where, text in texts.items():
        for secret in (TEST_APP_SECRET, *secrets):
            assert secret not in text, f"the secret shows in {where}"
        assert not TOKEN.search(text), f"a token shows in {where}"


def reports(folder: Path, name: str) -> tuple[Path, Path]:
    return folder / f"{name}.report.json", folder / f"{name}.rejected.csv"


# -- success ------------------------------------------------------------------------------------


def test_an_upload_prints_success_with_counts_and_writes_a_private_report(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    data, good = resignations(10)
    source = tmp_path / "resignation.csv"
    source.write_bytes(data)

    result = upload(source, "--records-per-call", "3", env=standin_env(connector_standin))

    assert result.exit_code == 0, result.output
    assert "Upload Successful" in result.stdout
    assert "10 records uploaded in 4 chunks; 0 rejected, 0 blank" in result.stdout
    assert received_rows(connector_standin) == good
    in_file_order = sorted(connector_standin.uploads, key=lambda u: u.filename)
    assert [u.records for u in in_file_order] == [3, 3, 3, 1]
    report, rejected = reports(tmp_path, "resignation.csv")
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    doc = json.loads(report.read_text())
    assert (doc["valid"], doc["rejected"]) == (10, 0)
    assert doc["upload"]["status"] == "uploaded"
    assert (doc["upload"]["uploaded"], doc["upload"]["chunks"]) == (10, 4)
    assert not rejected.exists()
    assert_no_secrets(result, report)
    assert len(connector_standin.token_requests) == 1  # so the token check above had one


def test_rejected_rows_exit_3_with_reports_in_the_report_dir(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    data, good = resignations(8, rejected=2)
    source = tmp_path / "resignation.csv"
    source.write_bytes(data)
    out = tmp_path / "out"

    result = upload(source, "--report-dir", out, env=standin_env(connector_standin))

    assert result.exit_code == 3, result.output
    assert "Upload Successful" in result.stdout
    assert "8 records uploaded in 1 chunk; 2 rejected" in result.stdout
    assert "EmailAddress EmailAddress" not in result.stdout  # the column said once
    report, rejected = reports(out, "resignation.csv")
    assert f"Rejected rows and reasons: {rejected}" in result.stdout
    assert received_rows(connector_standin) == good
    for path in (report, rejected):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = rejected.read_text().splitlines()
    assert lines[0] == f"{HEADER},Error"
    assert len(lines) == 3
    assert all(line.startswith("not-an-email-") and "[invalid-email]" in line for line in lines[1:])
    assert json.loads(report.read_text())["upload"]["status"] == "partial"
    assert not reports(tmp_path, "resignation.csv")[0].exists()  # not beside the file
    assert_no_secrets(result, report, rejected)


def test_reports_of_an_earlier_run_are_replaced_privately(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source = tmp_path / "resignation.csv"
    source.write_bytes(resignations(3)[0])
    report, rejected = reports(tmp_path, "resignation.csv")
    report.write_text("{}")
    rejected.write_text("stale")
    report.chmod(0o644)

    result = upload(source, env=standin_env(connector_standin))

    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    assert json.loads(report.read_text())["upload"]["uploaded"] == 3
    assert not rejected.exists()  # a stale one would say rows were rejected


def test_json_prints_only_the_summary(connector_standin: ConnectorStandIn, tmp_path: Path) -> None:
    source = tmp_path / "resignation.csv"
    source.write_bytes(resignations(5, rejected=1)[0])

    result = upload(source, "--json", "--records-per-call", "2", env=standin_env(connector_standin))

    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert doc["kind"] == "upload"
    (summary,) = doc["data"]["files"]
    assert summary["file"] == str(source)
    assert summary["status"] == "partial"
    assert (summary["valid"], summary["rejected"], summary["uploaded"]) == (5, 1, 5)
    assert (summary["chunks"], summary["sent"], summary["resumed"]) == (3, 3, 0)
    assert summary["error"] is None and not summary["dry_run"]
    assert "Upload Successful" not in result.output


def test_several_files_give_a_json_list_and_the_worst_exit_code(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    clean, partial, broken = (tmp_path / f"{n}-resignation.csv" for n in ("a", "b", "c"))
    clean.write_bytes(resignations(2)[0])
    partial.write_bytes(resignations(2, rejected=1)[0])
    broken.write_bytes(b"EmailAddress\r\n\xff\r\n")

    result = upload(clean, partial, broken, "--json", env=standin_env(connector_standin))

    assert result.exit_code == 1
    summaries = json.loads(result.stdout)["data"]["files"]
    assert [s["status"] for s in summaries] == ["uploaded", "partial", "failed"]
    assert summaries[2]["file_error"]["code"] == "not-utf8"
    assert len(connector_standin.uploads) == 2


def test_a_dry_run_sends_nothing_and_needs_no_credentials(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source = tmp_path / "resignation.csv"
    source.write_bytes(resignations(7, rejected=1)[0])
    env = standin_env(connector_standin, HRUPLOAD_APP_SECRET=None, HRUPLOAD_JOB_ID=None)

    result = upload(source, "--dry-run", "--records-per-call", "2", env=env)

    assert result.exit_code == 3, result.output
    assert "Dry run" in result.stdout
    assert "7 records would go out in 4 chunks; 1 rejected. Nothing was sent." in result.stdout
    assert connector_standin.uploads == [] and connector_standin.token_requests == []


# -- usage errors (exit 2) ----------------------------------------------------------------------


def test_a_missing_job_id_is_a_usage_error_naming_the_option(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source = tmp_path / "resignation.csv"
    source.write_bytes(resignations(2)[0])

    result = upload(source, env=standin_env(connector_standin, HRUPLOAD_JOB_ID=None))

    assert result.exit_code == 2
    assert "missing --job-id" in result.stderr
    assert "--tenant-id" not in result.stderr.split("(")[0]
    assert connector_standin.uploads == [] and connector_standin.token_requests == []


def test_no_secret_is_a_usage_error_saying_where_to_put_one(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source = tmp_path / "resignation.csv"
    source.write_bytes(resignations(2)[0])

    result = upload(source, env=standin_env(connector_standin, HRUPLOAD_APP_SECRET=None))

    assert result.exit_code == 2
    assert "HRUPLOAD_APP_SECRET" in result.stderr
    assert connector_standin.token_requests == []


def test_plain_http_to_a_remote_host_is_refused(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source = tmp_path / "resignation.csv"
    source.write_bytes(resignations(2)[0])
    env = standin_env(connector_standin, HRUPLOAD_INGESTION_URL="http://example.com")

    result = upload(source, env=env)

    assert result.exit_code == 2
    assert "plain http is refused for example.com" in result.stderr
    assert connector_standin.token_requests == []


def test_the_app_secret_option_works_with_a_warning_and_is_never_echoed(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source = tmp_path / "resignation.csv"
    source.write_bytes(resignations(2)[0])
    env = standin_env(connector_standin, HRUPLOAD_APP_SECRET=None)

    result = upload(source, "--app-secret", TEST_APP_SECRET, env=env)

    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "HRUPLOAD_APP_SECRET" in result.stderr
    assert "Upload Successful" in result.stdout
    assert_no_secrets(result, *reports(tmp_path, "resignation.csv"))


# -- failures (exit 1) --------------------------------------------------------------------------


def test_a_bad_file_uploads_nothing(connector_standin: ConnectorStandIn, tmp_path: Path) -> None:
    data, _ = resignations(50)
    source = tmp_path / "resignation.csv"
    source.write_bytes(data + b"last@contoso.com,2026-11-02T09:30:00Z,\xe9\r\n")

    result = upload(source, env=standin_env(connector_standin))

    assert result.exit_code == 1
    assert "Nothing was uploaded" in result.stdout
    assert "not UTF-8" in result.stdout
    assert connector_standin.uploads == [] and connector_standin.token_requests == []
    report = json.loads(reports(tmp_path, "resignation.csv")[0].read_text())
    assert report["file_error"]["code"] == "not-utf8"


def test_a_missing_file_is_reported_without_creating_folders(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    result = upload(tmp_path / "nowhere" / "hr.csv", env=standin_env(connector_standin))

    assert result.exit_code == 1
    assert "cannot read the file" in result.stdout
    assert not (tmp_path / "nowhere").exists()


def test_every_row_rejected_is_a_failure_not_a_success(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source = tmp_path / "resignation.csv"
    source.write_bytes(f"{HEADER}\r\nnobody,2026-11-02T09:30:00Z,2026-11-30T00:00:00Z\r\n".encode())

    result = upload(source, env=standin_env(connector_standin))

    assert result.exit_code == 1
    assert "Upload Successful" not in result.stdout
    assert "every row was rejected" in result.stdout
    assert connector_standin.uploads == []


def test_a_file_with_no_records_is_not_called_a_successful_upload(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source = tmp_path / "resignation.csv"
    source.write_bytes(f"{HEADER}\r\n".encode())

    result = upload(source, env=standin_env(connector_standin))

    assert result.exit_code == 0
    assert "Upload Successful" not in result.stdout
    assert "no records" in result.stdout
    assert connector_standin.uploads == []


@pytest.mark.parametrize("case", ["wrong-secret", "refused", "budget-spent", "job-of-other-app"])
def test_failures_say_what_happened_without_the_secret_or_token(
    connector_standin: ConnectorStandIn,
    test_certificate: StandInCertificate,
    tmp_path: Path,
    case: str,
) -> None:
    source = tmp_path / "resignation.csv"
    source.write_bytes(resignations(6)[0])
    env = standin_env(connector_standin)
    args: list[str | Path] = [source, "--records-per-call", "2", "--retry-budget", "1"]
    args += ["--concurrency", "1"]
    wrong = "Wrong~Secret_9+8/7=6"
    if case == "wrong-secret":
        env["HRUPLOAD_APP_SECRET"] = wrong
        expected = ["AADSTS7000215", "create a new client secret"]
    elif case == "refused":
        body = '{"error": "[/api/signals] rejected: [bold]column count[/bold]"}'
        connector_standin.add_faults(Fault.http(422, body=body))
        # The reason phrase as this Python spells it (3.13 says "Unprocessable Content").
        expected = [f"422 {HTTPStatus(422).phrase}", body]
    elif case == "budget-spent":
        connector_standin.add_faults(*[Fault.http(503)] * 300)
        expected = ["retry budget", "503 Service Unavailable", "rerun"]
    else:
        env["HRUPLOAD_JOB_ID"] = test_certificate.job_id
        expected = ["check --app-id and --job-id"]

    began = time.monotonic()
    result = upload(*args, env=env)

    assert result.exit_code == 1, result.output
    assert time.monotonic() - began < 5
    assert "Upload failed" in result.stdout
    assert "Upload Successful" not in result.stdout
    for fragment in expected:
        assert fragment in result.stdout
    # Only a refusal that may pass later is answered with a plain "rerun".
    assert ("fix the cause above" in result.stdout) == (case != "budget-spent"), result.stdout
    assert JOB_APP_MISMATCH not in result.stdout or case == "job-of-other-app"
    assert connector_standin.uploads == []
    assert_no_secrets(result, *reports(tmp_path, "resignation.csv"), secrets=(wrong,))
    report = json.loads(reports(tmp_path, "resignation.csv")[0].read_text())
    assert report["upload"]["error"]
    assert report["upload"]["uploaded"] == 0


def test_a_rerun_sends_only_the_rest_then_nothing_unless_forced(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    data, good = resignations(10)
    source = tmp_path / "resignation.csv"
    source.write_bytes(data)
    env = standin_env(connector_standin)
    args = [source, "--records-per-call", "3", "--concurrency", "1"]
    connector_standin.add_faults(Fault.delay(0), Fault.delay(0), Fault.http(400, body="no"))

    failed = upload(*args, env=env)

    assert failed.exit_code == 1
    assert "6 records in 2 chunks delivered" in failed.stdout
    assert "fix the cause above, then rerun the same command" in failed.stdout  # 400: permanent

    resumed = upload(*args, env=env)

    assert resumed.exit_code == 0, resumed.output
    assert "Upload Successful" in resumed.stdout
    assert "10 records uploaded in 4 chunks (2 delivered by an earlier run)" in resumed.stdout
    assert received_rows(connector_standin) == good  # each record exactly once

    again = upload(*args, env=env)

    assert again.exit_code == 0
    assert "Already uploaded" in again.stdout
    assert "--force" in again.stdout
    assert len(connector_standin.uploads) == 4
    connector_standin.clear_uploads()

    forced = upload(*args, "--force", env=env)

    assert forced.exit_code == 0
    assert "Upload Successful" in forced.stdout
    assert "10 records uploaded in 4 chunks; 0 rejected" in forced.stdout
    assert received_rows(connector_standin) == good


@pytest.mark.parametrize("form", ["pem", "pfx"])
def test_a_certificate_can_stand_in_for_the_secret(
    connector_standin: ConnectorStandIn,
    test_certificate: StandInCertificate,
    tmp_path: Path,
    form: str,
) -> None:
    source = tmp_path / "resignation.csv"
    source.write_bytes(resignations(4)[0])
    env = standin_env(
        connector_standin,
        HRUPLOAD_APP_SECRET=None,
        HRUPLOAD_APP_ID=test_certificate.app_id,
        HRUPLOAD_JOB_ID=test_certificate.job_id,
    )
    if form == "pfx":
        env["HRUPLOAD_CERTIFICATE_PASSWORD"] = test_certificate.pfx_password
    path = test_certificate.pem_path if form == "pem" else test_certificate.pfx_path

    result = upload(source, "--certificate", path, env=env)

    assert result.exit_code == 0, result.output
    assert [u.job_id for u in connector_standin.uploads] == [test_certificate.job_id]
    assert connector_standin.last_assertion is not None
    assert connector_standin.last_assertion["header"]["x5t"] == test_certificate.x5t
    assert test_certificate.pfx_password not in result.output


# -- the real process ---------------------------------------------------------------------------


def run_hrupload(*args: str | Path, env: dict[str, str | None]) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("HRUPLOAD_")}
    full.update({k: v for k, v in env.items() if v is not None})
    return subprocess.run(
        [str(HRUPLOAD), "upload", *map(str, args)],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_installed_command_uploads_a_large_file_without_progress_junk(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    data, good = resignations(20_000)  # about 1.4 MB: the size that would get a bar on a TTY
    assert len(data) > 1 << 20
    source = tmp_path / "resignation.csv"
    source.write_bytes(data)
    env = standin_env(connector_standin, HRUPLOAD_STATE_DIR=str(tmp_path / "state"))

    done = run_hrupload(source, "--records-per-call", "5000", env=env)

    assert done.returncode == 0, done.stderr
    assert "Upload Successful" in done.stdout
    assert "20000 records uploaded in 4 chunks; 0 rejected, 0 blank" in done.stdout
    assert received_rows(connector_standin) == good
    for stream in (done.stdout, done.stderr):
        assert not any(junk in stream for junk in JUNK), stream
        assert TEST_APP_SECRET not in stream and not TOKEN.search(stream)
    report = reports(tmp_path, "resignation.csv")[0]
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    assert TEST_APP_SECRET not in report.read_text()


def test_the_installed_command_exits_1_on_a_wrong_secret_and_2_on_a_missing_job(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source = tmp_path / "resignation.csv"
    source.write_bytes(resignations(3)[0])
    wrong = "Wrong~Secret_1+2/3=4"
    state = str(tmp_path / "state")

    refused = run_hrupload(
        source,
        env=standin_env(connector_standin, HRUPLOAD_APP_SECRET=wrong, HRUPLOAD_STATE_DIR=state),
    )
    unusable = run_hrupload(
        source, env=standin_env(connector_standin, HRUPLOAD_JOB_ID=None, HRUPLOAD_STATE_DIR=state)
    )

    assert refused.returncode == 1
    assert "AADSTS7000215" in refused.stdout
    assert unusable.returncode == 2
    assert "missing --job-id" in unusable.stderr
    for stream in (refused.stdout, refused.stderr, unusable.stdout, unusable.stderr):
        assert wrong not in stream and TEST_APP_SECRET not in stream
    assert connector_standin.uploads == []


def test_progress_off_a_terminal_is_a_plain_line_per_tenth(tmp_path: Path) -> None:
    source = tmp_path / "resignation.csv"
    data, _ = resignations(60000)
    assert len(data) > 2 << 20
    source.write_bytes(data)
    result = upload(source, "--dry-run", env={})
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "% read" in line]
    assert lines[-1].startswith("resignation.csv: 100% read"), result.stderr
    assert 2 <= len(lines) <= 10
    assert "\r" not in result.stderr and "━" not in result.stderr  # no bar off a terminal


# -- how files are written: whatever the export, the connector gets comma-separated UTF-8 ----

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def received_records(standin: ConnectorStandIn) -> list[list[str]]:
    """Every chunk's records, header included, read as the connector reads them: UTF-8
    (strictly), comma-separated; each chunk's header is checked to be the same."""
    import csv
    import io

    header, rows = None, []
    for upload in sorted(standin.uploads, key=lambda u: (u.filename, u.seq)):
        text = upload.content.decode("utf-8")  # strict: any other encoding fails here
        assert not text.startswith("\ufeff")
        records = list(csv.reader(io.StringIO(text, newline="")))
        assert header in (None, records[0])
        header = records[0]
        rows.extend(records[1:])
    return [header, *rows] if header else []


def test_a_semicolon_windows_1252_export_arrives_as_comma_separated_utf8(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source = tmp_path / "export.csv"
    source.write_bytes((SAMPLES / "excel-semicolon-cp1252.csv").read_bytes())
    env = standin_env(connector_standin)

    result = upload(source, "--encoding", "cp1252", "--records-per-call", "2", env=env)

    assert result.exit_code == 3, result.output
    assert "3 records uploaded in 2 chunks; 1 rejected" in result.stdout
    assert "read as cp1252, fields separated by ';'" in result.stdout
    records = received_records(connector_standin)
    assert records[0][:3] == ["EmailAddress", "EmployeeFirstName", "EmployeeLastName"]
    assert len(records[0]) == 12
    by_email = {r[0]: r for r in records[1:]}
    assert sorted(by_email) == [
        "francois.lefevre@contoso.com",
        "ines.garcia@contoso.com",
        "jonas.mueller@contoso.com",
    ]
    assert by_email["jonas.mueller@contoso.com"][2:4] == ["Müller", "Hauptstraße 5"]
    assert by_email["ines.garcia@contoso.com"][4] == "Piso 3; puerta B"  # quoted ";" kept
    assert by_email["francois.lefevre@contoso.com"][3] == "12, rue de l'Église"
    assert by_email["francois.lefevre@contoso.com"][11] == "Développeur – senior"
    chunk = connector_standin.uploads[0].content
    assert b";" not in chunk.split(b"\r\n", 1)[0]  # the header line is comma-separated
    assert "Müller".encode() in b"".join(u.content for u in connector_standin.uploads)
    report, rejected = reports(tmp_path, "export.csv")
    doc = json.loads(report.read_text())
    assert (doc["encoding"], doc["delimiter"]) == ("cp1252", ";")
    rejected_text = rejected.read_bytes().decode("utf-8")  # people's copy: UTF-8 as well
    assert "Søren" in rejected_text and "[invalid-email]" in rejected_text

    again = upload(source, "--encoding", "cp1252", "--records-per-call", "2", env=env)
    assert again.exit_code == 3, again.output
    assert "Already uploaded" in again.stdout  # the same choice resumes the same chunks
    assert len(connector_standin.uploads) == 2
    assert_no_secrets(result, report, rejected)


def test_excel_unicode_text_arrives_as_comma_separated_utf8(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source = tmp_path / "resignation.txt"
    source.write_bytes((SAMPLES / "excel-unicode-text.txt").read_bytes())

    result = upload(source, env=standin_env(connector_standin))

    assert result.exit_code == 3, result.output
    assert received_records(connector_standin) == [
        ["EmailAddress", "ResignationDate", "LastWorkingDate"],
        ["sarad@contoso.com", "2026-04-23T15:18:02+02:00", "2026-04-30T17:00:00+02:00"],
        ["björn.lind@contoso.com", "2026-05-02T09:00:00Z", "2026-05-29T16:30:00Z"],
    ]
    doc = json.loads(reports(tmp_path, "resignation.txt")[0].read_text())
    assert (doc["encoding"], doc["delimiter"], doc["upload"]["status"]) == (
        "utf-16",
        "\t",
        "partial",
    )


def test_an_ambiguous_export_is_not_sent_until_its_columns_or_delimiter_are_named(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source = tmp_path / "resignation.csv"
    source.write_bytes(
        b"Work Email;Notice Date;Last Day, if known\r\n"
        b"a@contoso.com;2026-11-02T09:30:00Z;2026-11-30T00:00:00Z\r\n"
    )
    env = standin_env(connector_standin)
    result = upload(source, "--json", env=env)
    assert result.exit_code == 1
    summary = json.loads(result.stdout)["data"]["files"][0]
    assert summary["file_error"]["code"] == "ambiguous-delimiter"
    assert 'the profile\'s "delimiter" (or --delimiter)' in summary["file_error"]["message"]
    assert connector_standin.uploads == []

    # the profile's column names settle it; --delimiter would too
    columns = {
        "EmailAddress": "Work Email",
        "ResignationDate": "Notice Date",
        "LastWorkingDate": "Last Day, if known",
    }
    profile = json.dumps({"scenarios": {"resignation": {"columns": columns}}})
    mapped = upload(source, "--json", "--profile", profile, env=env)
    assert mapped.exit_code == 0, mapped.output
    assert received_records(connector_standin) == [
        ["Work Email", "Notice Date", "Last Day, if known"],
        ["a@contoso.com", "2026-11-02T09:30:00Z", "2026-11-30T00:00:00Z"],
    ]
    named = upload(source, "--json", "--profile", profile, "--delimiter", ";", env=env)
    assert named.exit_code == 0, named.output
    assert len(connector_standin.uploads) == 2  # a new plan: the named delimiter is in its key


def test_an_unknown_encoding_sends_nothing(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source = tmp_path / "resignation.csv"
    source.write_bytes(resignations(2)[0])
    result = upload(source, "--encoding", "klingon", env=standin_env(connector_standin))
    assert result.exit_code == 2
    assert "'--encoding'" in result.output and "unknown encoding 'klingon'" in result.output
    assert connector_standin.uploads == []
