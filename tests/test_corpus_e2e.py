"""The bad-input corpus through the whole path (issue 6): ``hrupload upload`` against the
connector stand-in, and the blob pipeline against Azurite and the stand-in.

test_validate.py checks the engine's verdict on each file; this checks everything around
it. Nothing crashes or prints a traceback; the path counts what the engine counts
(rows == valid + rejected, blank lines apart); every valid row reaches the connector
exactly once, in order, inside complete CSV chunks; every rejected row is in the
rejected-rows CSV with its line and reason, formula-like cells neutralised there (only);
and every blob ends in processed/ or failed/, or stays in incoming with a run record
saying why. The corpus is generated, not committed.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import random
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hrupload.app import pipeline
from hrupload.cli.main import main
from hrupload.core.checker import Checked
from hrupload.core.csvwrite import csv_line, neutralise
from hrupload.core.validate import validate_stream
from hrupload_dev.connector import ConnectorStandIn
from tests.app.test_pipeline import make_services

RESIGNATION = "EmailAddress,ResignationDate,LastWorkingDate"
REVIEW = "EmailAddress,EffectiveDate,Remarks,Rating"
D1, D2 = "2026-11-02T09:30:00Z", "2026-11-30T00:00:00Z"
ROW = f"ana@contoso.com,{D1},{D2}"
RECORDS_PER_CALL = 2  # small, so most files make several chunks
EXIT = {"uploaded": 0, "partial": 3, "failed": 1}


@dataclass(frozen=True)
class Case:
    make: Callable[[], bytes]
    scenario: str = "resignation"
    #: File error codes the engine may give (empty: the file is usable).
    file_error: tuple[str, ...] = ()


def lines(*rows: str, end: str = "\r\n") -> bytes:
    return "".join(row + end for row in rows).encode()


def utf16(codec: str, bom: bytes) -> bytes:
    text = lines(REVIEW, f"zoë@contoso.com,{D1},Café – 東京 “ok”,4", "").decode()
    return bom + text.encode(codec)


def formulas() -> bytes:
    """Formula-like values: uploaded as they are, neutralised in the rejected-rows CSV."""
    return lines(
        REVIEW,
        f'ana@contoso.com,{D1},"=HYPERLINK(""http://x.example"",""click"")",+1',
        f"bo@contoso.com,{D1},-2+3,@SUM(A1:A2)",
        f"=cmd|' /C calc'!A0,{D1},=1+1,+2",  # invalid email: rejected
        f"@evil.example,{D1},-x,@y",  # invalid email: rejected
        "cy@contoso.com,not-a-date,\t=tab,-1",  # bad date: rejected
    )


CORPUS: dict[str, Case] = {
    "empty": Case(lambda: b"", file_error=("empty-file",)),
    "header-only": Case(lambda: lines(RESIGNATION)),
    "binary": Case(
        lambda: random.Random(6).randbytes(4096),
        file_error=("not-utf8", "binary-file"),
    ),
    "nul-bytes": Case(
        lambda: lines(RESIGNATION, ROW) + b"bo@contoso.com,\x00\x00,\r\n",
        file_error=("binary-file",),
    ),
    "utf-16-le": Case(lambda: utf16("utf-16-le", b"\xff\xfe"), scenario="performance-review"),
    "utf-16-be": Case(lambda: utf16("utf-16-be", b"\xfe\xff"), scenario="performance-review"),
    "latin-1": Case(
        lambda: lines(RESIGNATION, ROW) + f"zoë@contoso.com,{D1},{D2}\r\n".encode("latin-1"),
        file_error=("not-utf8",),
    ),
    "single-50mb-line": Case(lambda: lines(RESIGNATION) + b"x" * (50 << 20)),
    "10000-columns": Case(
        lambda: lines(
            ",".join(f"c{i}" for i in range(10_000)) + "," + RESIGNATION,
            "," * 10_000 + ROW,
            "v," * 10_000 + ROW.replace("ana", "bo"),
        ),
        file_error=("too-many-columns",),
    ),
    "1000-columns": Case(
        lambda: lines(
            ",".join(f"c{i}" for i in range(1_000)) + "," + RESIGNATION,
            "," * 1_000 + ROW,
            "v," * 1_000 + ROW.replace("ana", "bo"),
        )
    ),
    "duplicate-headers": Case(
        lambda: lines(RESIGNATION + ",emailaddress", ROW + ",x"), file_error=("duplicate-header",)
    ),
    "unbalanced-quotes": Case(
        lambda: lines(RESIGNATION, ROW, f'"bo@contoso.com,{D1},{D2}', ROW, ROW)
    ),
    "cr-only": Case(lambda: lines(RESIGNATION, ROW, ROW.replace("ana", "bo"), ROW, end="\r")),
    "quoted-commas-newlines-quotes": Case(
        lambda: lines(
            RESIGNATION + ",Notes",
            f'{ROW},"a, b"',
            f'{ROW},"line 1\r\nline 2\nline 3"',
            f'{ROW},"she said ""no"""',
            f'{ROW},"{"é" * 300}"',
            f"{ROW}",  # short row: padded
        )
    ),
    "blank-lines": Case(lambda: lines(RESIGNATION, ROW, "", ",,", " , ,\t", ROW, ",")),
    "no-header-line": Case(
        lambda: lines(ROW, ROW.replace("ana", "bo")), file_error=("missing-column",)
    ),
    "formula-like-values": Case(formulas, scenario="performance-review"),
}
# Every rejected value above that looks like a formula; checked cell by cell below too.
FORMULA_VALUES = ["=cmd|' /C calc'!A0", "=1+1", "+2", "@evil.example", "-x", "@y", "\t=tab", "-1"]


# -- what the engine says (the oracle) ----------------------------------------------------------


@dataclass
class Expected:
    report: dict
    header: list[str]  # as in the file (the report's copy hides email-like names)
    valid: list[list[str]]  # fields as they go out
    rejected: list[Checked]

    @property
    def status(self) -> str:
        r = self.report
        if r["file_error"] or (r["rejected"] and not r["valid"]):
            return "failed"
        return "partial" if r["rejected"] else "uploaded"


def expected(data: bytes, case: Case) -> Expected:
    valid: list[list[str]] = []
    rejected: list[Checked] = []

    def keep(row: Checked) -> None:
        if row.valid:
            valid.append(row.fields)
        elif row.errors:
            rejected.append(row)

    report = validate_stream(
        lambda: io.BytesIO(data), name="x.csv", fallback_scenario=case.scenario, on_row=keep
    )
    doc = report.to_dict()
    if case.file_error:
        assert doc["file_error"] and doc["file_error"]["code"] in case.file_error, doc
    else:
        assert doc["file_error"] is None, doc
    return Expected(doc, report.header, valid, rejected)


# -- checks shared by both front doors ----------------------------------------------------------


def check_counts(report: dict, exp: Expected, uploaded: int) -> None:
    for key in ("rows", "valid", "rejected", "blank"):
        assert report[key] == exp.report[key], key
    assert report["rows"] == report["valid"] + report["rejected"]
    assert uploaded == report["valid"]
    assert (report["file_error"] or {}).get("code") == (exp.report["file_error"] or {}).get("code")


def check_received(standin: ConnectorStandIn, exp: Expected) -> None:
    """Each valid row reached the connector once, in file order, in complete CSV chunks."""
    uploads = sorted(standin.uploads, key=lambda u: u.filename)  # .partNNNNN: file order
    rows: list[list[str]] = []
    header = csv_line(exp.header).encode()
    for upload in uploads:
        assert upload.content.startswith(header)
        records = list(csv.reader(io.StringIO(upload.content.decode("utf-8"), newline="")))
        assert 1 <= len(records) - 1 <= RECORDS_PER_CALL
        rows.extend(records[1:])
    assert rows == exp.valid


def check_rejected(data: bytes | None, exp: Expected) -> None:
    """Every rejected row, with its line and reason; formula-like cells neutralised."""
    if not exp.rejected:
        assert data is None
        return
    assert data is not None
    records = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert records[0] == [*(neutralise(h) for h in exp.header), "Error"]
    assert len(records) - 1 == len(exp.rejected)
    for record, row in zip(records[1:], exp.rejected, strict=True):
        *cells, reason = record
        assert cells == [neutralise(v) for v in row.source]
        for err in row.errors:
            assert f"line {err.line}: " in reason and f"[{err.code}]" in reason
        for cell in cells:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


# -- (a) hrupload upload ------------------------------------------------------------------------


@pytest.fixture
def cli_env(connector_standin: ConnectorStandIn, tmp_path: Path, monkeypatch) -> dict:
    for name in list(os.environ):
        if name.startswith("HRUPLOAD_"):
            monkeypatch.delenv(name)
    return connector_standin.env(include_secret=True) | {
        "HRUPLOAD_STATE_DIR": str(tmp_path / "state"),
        "HRUPLOAD_RETRY_BUDGET": "2",
    }


def upload(source: Path, reports: Path, env: dict, *args: str) -> Result:
    argv = ["upload", str(source), "--report-dir", str(reports)]
    argv += ["--records-per-call", str(RECORDS_PER_CALL), *args]
    result = CliRunner().invoke(main, argv, env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


@pytest.mark.parametrize("case", list(CORPUS))
def test_cli_upload_accounts_for_every_row(
    case: str, cli_env: dict, connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    c = CORPUS[case]
    data = c.make()
    exp = expected(data, c)
    source = tmp_path / "in" / f"{c.scenario}.csv"
    source.parent.mkdir()
    source.write_bytes(data)
    reports = tmp_path / "reports"

    result = upload(source, reports, cli_env)

    assert result.exit_code == EXIT[exp.status], result.output
    report = json.loads((reports / f"{source.name}.report.json").read_text())
    assert report["upload"]["status"] == exp.status
    check_counts(report, exp, report["upload"]["uploaded"])
    check_received(connector_standin, exp)
    rejected = reports / f"{source.name}.rejected.csv"
    check_rejected(rejected.read_bytes() if rejected.exists() else None, exp)
    if exp.report["file_error"]:
        assert connector_standin.token_requests == []  # a file error sends nothing at all


def test_cli_formula_like_values_go_out_unchanged(
    cli_env: dict, connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source = tmp_path / "performance-review.csv"
    source.write_bytes(formulas())

    assert upload(source, tmp_path, cli_env).exit_code == 3
    sent = b"".join(u.content for u in connector_standin.uploads).decode()
    assert '"=HYPERLINK(""http://x.example"",""click"")",+1' in sent
    assert ",-2+3,@SUM(A1:A2)" in sent
    kept = (tmp_path / "performance-review.csv.rejected.csv").read_text()
    for value in FORMULA_VALUES:
        assert neutralise(value) in kept or f'"{neutralise(value)}"' in kept


def test_cli_file_over_the_size_limit_is_refused_unread(
    cli_env: dict, connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source = tmp_path / "resignation.csv"
    source.write_bytes(lines(RESIGNATION) + lines(ROW) * ((2 << 20) // len(ROW)))

    result = upload(source, tmp_path, cli_env | {"HRUPLOAD_MAX_FILE_MB": "1"})

    assert result.exit_code == 1
    report = json.loads((tmp_path / "resignation.csv.report.json").read_text())
    assert report["file_error"]["code"] == "file-too-large"
    assert (report["rows"], report["sha256"], report["upload"]["uploaded"]) == (0, None, 0)
    assert connector_standin.token_requests == [] and connector_standin.uploads == []


def test_cli_odd_file_names(cli_env: dict, connector_standin: ConnectorStandIn, tmp_path: Path):
    """Spaces, unicode, markup-like brackets and a name at the file system's 255-byte limit:
    the file is uploaded and its reports are written (shortened where they must be)."""
    names = [
        "with space and ünïcödé 東京 [bold]x.csv",
        "a..b..resignation.csv",
        "r" * 251 + ".csv",
    ]
    bad = f"nobody,{D1},{D2}"
    for i, name in enumerate(names):
        connector_standin.clear_uploads()
        folder = tmp_path / str(i)
        folder.mkdir()
        source = folder / name
        source.write_bytes(lines(RESIGNATION, ROW.replace("ana", f"ana{i}"), bad))

        result = upload(source, folder, cli_env, "--scenario", "resignation")

        assert result.exit_code == 3, result.output
        assert name in result.stdout  # printed as it is, not read as markup
        assert len(connector_standin.uploads) == 1
        written = sorted(p.name for p in folder.iterdir() if p != source)
        assert [n.rsplit(".", 2)[-2:] for n in written] == [["rejected", "csv"], ["report", "json"]]
        for n in written:
            assert len(os.fsencode(n)) <= 255
        report = json.loads(next(folder.glob("*.report.json")).read_text())
        assert (report["valid"], report["rejected"]) == (1, 1)


# -- (b) the blob pipeline ----------------------------------------------------------------------


def read_blob(storage, container: str, name: str) -> bytes:
    with storage.open_read(container, name) as stream:
        return stream.read()


def blob_names(storage, container: str) -> list[str]:
    return sorted(b.name for b in storage.list_blobs(container))


@pytest.fixture
def services(hr_storage, connector_standin):
    return make_services(
        hr_storage,
        connector_standin,
        HRUPLOAD_RECORDS_PER_CALL=str(RECORDS_PER_CALL),
        HRUPLOAD_DEDUPE_HOURS="0",
    )


@pytest.mark.parametrize("case", list(CORPUS))
def test_pipeline_accounts_for_every_row_and_files_every_blob(
    case: str, services, connector_standin: ConnectorStandIn
) -> None:
    c = CORPUS[case]
    data = c.make()
    exp = expected(data, c)
    storage = services.storage
    name = f"{c.scenario}/{case}.csv"
    storage.put_blob(storage.incoming, name, data)

    result = pipeline.process_blob(services, name)

    assert result.status == exp.status, result.message
    container = storage.failed if exp.status == "failed" else storage.processed
    assert result.destination and result.destination.startswith(container + "/")
    dest = result.destination.split("/", 1)[1]
    assert blob_names(storage, storage.incoming) == []
    info = storage.get_info(container, dest)
    assert info.size == len(data)
    assert info.metadata["hrupload_status"] == exp.status
    report = json.loads(read_blob(storage, container, dest + ".report.json"))
    assert report["status"] == exp.status
    check_counts(report, exp, report["upload"]["uploaded"])
    check_received(connector_standin, exp)
    rejected = f"{dest}.rejected.csv"
    has_rejected = storage.blob_exists(storage.failed, rejected)
    check_rejected(read_blob(storage, storage.failed, rejected) if has_rejected else None, exp)
    run = services.runlog.list_runs()[0]
    assert (run.status, run.destination) == (exp.status, result.destination)
    assert (run.rows, run.valid, run.rejected, run.uploaded) == (
        exp.report["rows"],
        exp.report["valid"],
        exp.report["rejected"],
        exp.report["valid"],
    )
    if exp.status == "failed":
        assert run.error  # the run record says why


def test_pipeline_file_over_the_size_limit_fails_unread(
    hr_storage, connector_standin: ConnectorStandIn
) -> None:
    services = make_services(hr_storage, connector_standin, HRUPLOAD_MAX_FILE_MB="1")
    storage = services.storage
    data = lines(RESIGNATION) + lines(ROW) * ((2 << 20) // len(ROW))
    storage.put_blob(storage.incoming, "resignation/big.csv", data)

    result = pipeline.process_blob(services, "resignation/big.csv")

    assert result.status == "failed"
    dest = result.destination.split("/", 1)[1]
    assert result.destination.startswith(storage.failed + "/")
    report = json.loads(read_blob(storage, storage.failed, dest + ".report.json"))
    assert report["file_error"]["code"] == "file-too-large"
    assert (report["rows"], report["sha256"], report["upload"]["uploaded"]) == (0, None, 0)
    run = services.runlog.list_runs()[0]
    assert (run.status, run.rows, run.sha256) == ("failed", 0, None)
    assert "HRUPLOAD_MAX_FILE_MB" in run.error
    assert connector_standin.token_requests == [] and connector_standin.uploads == []


def put_raw(storage, container: str, name: str, data: bytes) -> None:
    """Write a blob under a name the SDK refuses (dot segments), as another tool could:
    a raw PUT with a SAS, the path sent exactly as written."""
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    service = storage.blob_service
    sas = generate_container_sas(
        service.account_name,
        container,
        account_key=service.credential.account_key,
        permission=ContainerSasPermissions(write=True),
        expiry=datetime.now(UTC) + timedelta(minutes=5),
    )
    url = urllib.parse.urlsplit(service.get_container_client(container).url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request(
            "PUT",
            f"{url.path}/{name}?{sas}",
            body=data,
            headers={"x-ms-blob-type": "BlockBlob", "x-ms-version": "2021-08-06"},
        )
        assert conn.getresponse().status == 201
    finally:
        conn.close()


def test_sweep_files_odd_blob_names_and_records_the_unaddressable(
    services, connector_standin: ConnectorStandIn, azurite, monkeypatch
) -> None:
    """Through ``hrupload sweep`` itself: names with spaces, unicode, markup-like brackets,
    dots and 1,024 characters are processed; names with '..' segments cannot be read or
    moved, so they stay in incoming with a run record saying why."""
    storage = services.storage
    data = lines(RESIGNATION, ROW, f"nobody,{D1},{D2}")
    addressable = [
        "resignation/with space and ünïcödé 東京 #1 [bold]x[/].csv",
        "resignation/a lone [/] closing tag.csv",
        "resignation/a..b/..leading and trailing../x..csv",
        "resignation/" + "n" * (1024 - len("resignation/") - 4) + ".csv",
    ]
    for name in addressable:
        storage.put_blob(storage.incoming, name, data)
    stuck = ["resignation/../evil.csv", "resignation/./odd.csv"]
    for name in stuck:
        put_raw(storage, storage.incoming, name, data)
    assert len(addressable[-1]) == 1024
    env = {
        "HR_STORAGE": azurite.connection_string,
        "HRUPLOAD_TENANT_ID": connector_standin.tenant_id,
        "HRUPLOAD_APP_ID": connector_standin.app_id,
        "HRUPLOAD_JOB_ID": connector_standin.job_id,
        "HRUPLOAD_APP_SECRET": connector_standin.app_secret,
        "HRUPLOAD_LOGIN_URL": connector_standin.url,
        "HRUPLOAD_INGESTION_URL": connector_standin.url,
        "HRUPLOAD_INCOMING_CONTAINER": storage.incoming,
        "HRUPLOAD_PROCESSED_CONTAINER": storage.processed,
        "HRUPLOAD_FAILED_CONTAINER": storage.failed,
        "HRUPLOAD_RUNS_TABLE": storage.runs_table,
        "HRUPLOAD_DEDUPE_HOURS": "0",
        "HRUPLOAD_RETRY_BUDGET": "2",
    }
    for name in list(os.environ):
        if name.startswith("HRUPLOAD_"):
            monkeypatch.delenv(name)

    result = CliRunner().invoke(main, ["sweep"], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 1, result.output  # the unreadable names failed: cron can alert
    assert "Traceback" not in result.output
    assert "[bold]x[/]" in result.stdout  # printed as it is, not read as markup

    assert blob_names(storage, storage.incoming) == sorted(stuck)
    processed = blob_names(storage, storage.processed)
    assert len(processed) == 2 * len(addressable)  # each file and its report
    assert all(len(n) <= 1024 for n in processed)
    assert len(blob_names(storage, storage.failed)) == len(addressable)  # rejected rows
    assert len(connector_standin.uploads) == len(addressable)
    runs = {r.blob.split("/", 1)[1]: r for r in services.runlog.list_runs()}
    for name in addressable:
        assert (runs[name].status, runs[name].valid, runs[name].rejected) == ("partial", 1, 1)
    for name in stuck:
        assert runs[name].status == "failed"
        assert runs[name].error.startswith("left in incoming, unread")
        assert "segment" in runs[name].error

    result = CliRunner().invoke(main, ["status"], env=env)  # the same names, in a table
    assert result.exit_code == 0 and result.exception is None, result.output
