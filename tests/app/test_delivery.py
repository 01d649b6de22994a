"""Delivering a file: chunking, valid rows only, retries in flight, resume without duplicates.

Every test sends through the real client to the connector stand-in and checks what the
stand-in received, byte for byte where it matters.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import time
from pathlib import Path

import pytest

from hrupload.adapters.local_state import LocalCheckpoints
from hrupload.app.delivery import Outcome, Plan, checkpoint_key, deliver
from hrupload.app.limiter import ConcurrencyGate
from hrupload.core.errors import Blame, blame
from hrupload.core.profile import DEFAULT_PROFILE, Profile, parse_profile
from hrupload_dev.connector import Capacity, ConnectorStandIn, Fault, Upload
from tests.adapters.test_connector import RecordingSession, make_client, wire

#: An HR system's own column names (one quoted, one with a trailing space, one not ASCII)
#: and US dates, mapped by a profile the way the Purview wizard maps them.
PROFILE = parse_profile(
    {
        "scenarios": {
            "resignation": {
                "columns": {
                    "EmailAddress": "Work Email",
                    "ResignationDate": "Notice Date",
                    "LastWorkingDate": "Last Day",
                }
            }
        },
        "date_formats": ["%m/%d/%Y %H:%M", "%m/%d/%Y"],
    }
)
SOURCE_HEADER = '"Work Email",Notice Date,Last Day,Kommentar (Ä),Notes \r\n'
HEADER = ["Work Email", "Notice Date", "Last Day", "Kommentar (Ä)", "Notes "]
HEADER_LINE = "Work Email,Notice Date,Last Day,Kommentar (Ä),Notes \r\n".encode()


def source_row(i: int) -> tuple[str, list[str]]:
    """Row ``i`` as the HR system writes it, and as the connector must receive it."""
    email = f"user{i:03d}@contoso.com"
    comment = f'Müller, "Ana" #{i} 🙂'
    quoted = '"' + comment.replace('"', '""') + '"'
    if i % 3 == 0:  # a US date and time, and a US date: both rewritten to ISO 8601
        line = f"{email},11/02/2026 09:30,11/30/2026,{quoted},n{i}"
        return line, [email, "2026-11-02T09:30:00", "2026-11-30T00:00:00", comment, f"n{i}"]
    if i % 3 == 1:  # short: no Notes at all, padded to the header's width
        line = f"{email},2026-11-02T09:30:00Z,2026-11-30T17:00:00+01:00,{quoted}"
        return line, [email, "2026-11-02T09:30:00Z", "2026-11-30T17:00:00+01:00", comment, ""]
    line = f"{email},2026-11-02T09:30:00.1234567Z,2026-11-30T00:00:00Z,,"
    return line, [email, "2026-11-02T09:30:00.1234567Z", "2026-11-30T00:00:00Z", "", ""]


REJECTED_LINES = {
    4: "not-an-email,2026-11-02T09:30:00Z,2026-11-30T00:00:00Z,,",
    9: "late@contoso.com,the 2nd of November,2026-11-30T00:00:00Z,,",
}


def hr_file(valid: int = 10) -> tuple[str, list[list[str]]]:
    """A file of ``valid`` good rows with the rejected lines slipped in; and the good rows."""
    lines, expected = [SOURCE_HEADER.rstrip("\r\n")], []
    i = 0
    while len(expected) < valid:
        line_number = len(lines) + 1
        if line_number in REJECTED_LINES:
            lines.append(REJECTED_LINES[line_number])
            continue
        line, sent = source_row(i)
        lines.append(line)
        expected.append(sent)
        i += 1
    return "\r\n".join(lines) + "\r\n", expected


def parse_chunk(upload: Upload) -> tuple[list[str], list[list[str]]]:
    text = upload.content.decode("utf-8")  # strict: every chunk is UTF-8
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    return rows[0], rows[1:]


def received(standin: ConnectorStandIn) -> list[list[str]]:
    """Every record the connector got, in order, after checking each chunk stands alone."""
    rows: list[list[str]] = []
    for upload in standin.uploads:
        assert not upload.content.startswith(codecs.BOM_UTF8)
        assert upload.content.startswith(HEADER_LINE)
        header, records = parse_chunk(upload)
        assert header == HEADER
        assert upload.records == len(records)
        rows.extend(records)
    return rows


#: What send() passes on to the Plan rather than to deliver().
PLAN_FIELDS = {f.name for f in dataclasses.fields(Plan)}


def send(
    data: bytes,
    standin: ConnectorStandIn | None,
    *,
    name: str = "hr.csv",
    profile: Profile = PROFILE,
    records_per_call: int = 3,
    concurrency: int = 1,
    checkpoints: LocalCheckpoints | None = None,
    budget: float = 3.0,
    **kwargs,
) -> Outcome:
    client = make_client(standin, budget=budget, max_backoff=0.1) if standin else None
    plan_fields = {k: kwargs.pop(k) for k in PLAN_FIELDS & kwargs.keys()}
    plan = Plan(
        job_id=standin.job_id if standin and standin.job_id else "dry-run",
        profile=profile,
        records_per_call=records_per_call,
        concurrency=concurrency,
        **plan_fields,
    )
    return deliver(
        lambda: io.BytesIO(data),
        plan,
        name=name,
        client=client,
        checkpoints=checkpoints,
        **kwargs,
    )


# -- chunks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 4])
def test_valid_rows_arrive_in_complete_chunks_in_file_order(
    connector_standin: ConnectorStandIn, concurrency: int
) -> None:
    text, expected = hr_file(valid=10)

    outcome = send(text.encode(), connector_standin, concurrency=concurrency)

    assert outcome.error is None
    uploads = connector_standin.uploads
    if concurrency > 1:  # chunks may land out of order; their names say which is which
        uploads = sorted(uploads, key=lambda u: u.filename)
    assert [u.filename for u in uploads] == [f"hr.csv.part{n:05d}.csv" for n in range(1, 5)]
    assert [u.records for u in uploads] == [3, 3, 3, 1]
    rows = []
    for upload in uploads:
        assert upload.content.startswith(HEADER_LINE)
        assert not upload.content.startswith(codecs.BOM_UTF8)
        header, records = parse_chunk(upload)
        assert header == HEADER
        rows.extend(records)
    assert rows == expected
    assert (outcome.chunks, outcome.sent, outcome.resumed, outcome.uploaded) == (4, 4, 0, 10)
    assert outcome.chunk_sizes == [3, 3, 3, 1]
    assert (outcome.report.valid, outcome.report.rejected) == (10, 2)
    assert outcome.status == "partial"
    assert outcome.exit_code() == 3


def test_values_are_sent_exactly_as_in_the_source_but_padded_and_dated(
    connector_standin: ConnectorStandIn,
) -> None:
    text, expected = hr_file(valid=6)

    send(text.encode(), connector_standin, records_per_call=100)

    [upload] = connector_standin.uploads
    assert received(connector_standin) == expected
    # The three row shapes, spelled out once: rewritten dates, a padded row, empty values.
    assert expected[0][1:3] == ["2026-11-02T09:30:00", "2026-11-30T00:00:00"]
    assert expected[1][4] == ""
    assert 'Müller, ""Ana"" #1 🙂' in upload.content.decode()


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-bom", "utf-16-le", "utf-16-be"])
def test_every_source_encoding_becomes_the_same_utf8_chunks(
    connector_standin: ConnectorStandIn, encoding: str
) -> None:
    text, expected = hr_file(valid=7)
    data = {
        "utf-8": text.encode(),
        "utf-8-bom": codecs.BOM_UTF8 + text.encode(),
        "utf-16-le": codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
        "utf-16-be": codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
    }[encoding]

    send(data, connector_standin)

    assert received(connector_standin) == expected
    reference = b"".join(u.content for u in connector_standin.uploads)
    connector_standin.clear_uploads()
    send(text.encode(), connector_standin)
    assert b"".join(u.content for u in connector_standin.uploads) == reference


def test_a_quoted_newline_on_a_chunk_boundary_stays_in_its_record(
    connector_standin: ConnectorStandIn,
) -> None:
    comments = [
        "plain",
        "line one\nline two",  # last record of chunk 1
        "first\r\nsecond",  # first record of chunk 2
        'says ""hi"",\nthen leaves',
        "\n",
    ]
    lines = [SOURCE_HEADER]
    for n, comment in enumerate(comments):
        lines.append(
            f'u{n}@contoso.com,2026-11-02T09:30:00Z,2026-11-30T00:00:00Z,"{comment}",x\r\n'
        )

    outcome = send("".join(lines).encode(), connector_standin, records_per_call=2)

    assert outcome.error is None
    chunks = [parse_chunk(u)[1] for u in connector_standin.uploads]
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert chunks[0][1][3] == "line one\nline two"
    assert chunks[1][0][3] == "first\r\nsecond"
    assert [r[3] for c in chunks for r in c] == [c.replace('""', '"') for c in comments]
    assert [u.records for u in connector_standin.uploads] == [2, 2, 1]


def test_rejected_rows_are_kept_with_the_reason_and_never_sent(
    connector_standin: ConnectorStandIn,
) -> None:
    text, expected = hr_file(valid=8)

    outcome = send(text.encode(), connector_standin)

    assert received(connector_standin) == expected
    sent = b"".join(u.content for u in connector_standin.uploads)
    assert b"not-an-email" not in sent and b"late@contoso.com" not in sent
    assert outcome.rejected_rows is not None
    rejected = list(csv.reader(io.TextIOWrapper(outcome.rejected_rows, "utf-8", newline="")))
    assert rejected[0] == [*HEADER, "Error"]
    assert [r[:-1] for r in rejected[1:]] == [
        REJECTED_LINES[4].split(","),
        REJECTED_LINES[9].split(","),
    ]
    assert rejected[1][-1].startswith("line 4: Work Email: ")
    assert "[invalid-email]" in rejected[1][-1]
    assert rejected[2][-1].startswith("line 9: Notice Date: ")
    assert "[invalid-date]" in rejected[2][-1]


def test_every_row_rejected_sends_nothing_and_is_a_failure(
    connector_standin: ConnectorStandIn,
) -> None:
    data = (SOURCE_HEADER + REJECTED_LINES[4] + "\r\n" + REJECTED_LINES[9] + "\r\n").encode()

    outcome = send(data, connector_standin)

    assert connector_standin.uploads == []
    assert connector_standin.token_requests == []
    assert (outcome.report.valid, outcome.report.rejected, outcome.uploaded) == (0, 2, 0)
    assert outcome.status == "failed"
    assert outcome.exit_code() == 1


# -- the whole file or nothing ----------------------------------------------------------------


def test_a_bad_byte_near_the_end_uploads_nothing(connector_standin: ConnectorStandIn) -> None:
    text, _ = hr_file(valid=30)
    data = text.encode() + b"tail@contoso.com,2026-11-02T09:30:00Z,2026-11-30\xff,,\r\n"

    outcome = send(data, connector_standin)

    assert outcome.report.file_error is not None
    assert outcome.report.file_error.code == "not-utf8"
    assert connector_standin.uploads == []
    assert connector_standin.token_requests == []
    assert (outcome.chunks, outcome.sent, outcome.uploaded) == (0, 0, 0)
    assert outcome.status == "failed"
    assert outcome.exit_code() == 1


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty-file"),
        (b"Work Email,Notice Date\r\nu@contoso.com,2026-11-02T09:30:00Z\r\n", "missing-column"),
        (b"a,b\x00c\r\n", "binary-file"),
    ],
)
def test_an_unusable_file_sends_nothing(
    connector_standin: ConnectorStandIn, data: bytes, code: str
) -> None:
    outcome = send(data, connector_standin)

    assert outcome.report.file_error is not None
    assert outcome.report.file_error.code == code
    assert connector_standin.uploads == []
    assert outcome.exit_code() == 1


def test_a_file_that_cannot_be_opened_is_reported_not_raised(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    missing = tmp_path / "gone.csv"

    outcome = deliver(
        lambda: missing.open("rb"),
        Plan(job_id=connector_standin.job_id or ""),
        name="gone.csv",
        client=make_client(connector_standin),
    )

    assert outcome.report.file_error is not None
    assert outcome.report.file_error.code == "unreadable"
    assert "cannot read the file" in outcome.report.file_error.message
    assert outcome.exit_code() == 1
    assert connector_standin.uploads == []


def test_a_file_over_the_size_limit_sends_nothing(connector_standin: ConnectorStandIn) -> None:
    text, _ = hr_file(valid=40)

    outcome = send(text.encode(), connector_standin, max_bytes=1024)

    assert outcome.report.file_error is not None
    assert outcome.report.file_error.code == "file-too-large"
    assert connector_standin.uploads == []


def test_a_dry_run_chunks_but_sends_nothing(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    text, _ = hr_file(valid=10)
    checkpoints = LocalCheckpoints(tmp_path / "state")

    outcome = send(text.encode(), None, checkpoints=checkpoints)

    assert outcome.dry_run
    assert (outcome.chunks, outcome.sent, outcome.uploaded) == (4, 0, 0)
    assert outcome.chunk_sizes == [3, 3, 3, 1]
    assert connector_standin.uploads == [] and connector_standin.token_requests == []
    assert not (tmp_path / "state").exists()


def test_progress_counts_every_byte_read(connector_standin: ConnectorStandIn) -> None:
    text, _ = hr_file(valid=10)
    data = text.encode()
    seen: list[int] = []

    send(data, connector_standin, on_progress=seen.append)

    assert sum(seen) == len(data)


# -- failures in flight -------------------------------------------------------------------------


def test_one_token_serves_every_chunk(connector_standin: ConnectorStandIn) -> None:
    text, expected = hr_file(valid=20)

    outcome = send(text.encode(), connector_standin, records_per_call=2, concurrency=4)

    assert outcome.sent == 10
    assert len(connector_standin.token_requests) == 1
    assert sorted(received(connector_standin)) == sorted(expected)


def test_a_429_holds_back_the_other_chunks_too(connector_standin: ConnectorStandIn) -> None:
    text, expected = hr_file(valid=18)
    client = make_client(connector_standin, max_backoff=0.05)
    client.token()
    throttled = wire(client).answered(429)
    # One chunk is throttled at once; two others are answered a little later, so the
    # chunks after them start while the pause is on.
    connector_standin.add_faults(Fault.http(429, retry_after=1), Fault.delay(0.3), Fault.delay(0.3))

    outcome = deliver(
        lambda: io.BytesIO(text.encode()),
        Plan(
            job_id=connector_standin.job_id or "",
            profile=PROFILE,
            records_per_call=3,
            concurrency=3,
        ),
        name="hr.csv",
        client=client,
    )

    assert outcome.error is None and outcome.sent == 6
    assert throttled.is_set()
    [answer] = [s for s in wire(client).to("ingestion") if s.status == 429]
    later = [s for s in wire(client).to("ingestion") if s.started > answer.ended]
    assert len(later) >= 3
    assert all(s.started >= answer.ended + 0.95 for s in later)
    assert sorted(received(connector_standin)) == sorted(expected)


def test_against_a_service_at_capacity_every_chunk_arrives_once_and_the_level_drops(
    connector_standin: ConnectorStandIn,
) -> None:
    text, expected = hr_file(valid=60)
    gate = ConcurrencyGate.adaptive(6)
    client = make_client(connector_standin, budget=20.0, max_backoff=0.05, gate=gate)
    connector_standin.latency = 0.05  # the service time of each upload it takes
    connector_standin.set_capacity(Capacity(2, retry_after=0.2))

    outcome = deliver(
        lambda: io.BytesIO(text.encode()),
        Plan(
            job_id=connector_standin.job_id or "",
            profile=PROFILE,
            records_per_call=3,
            concurrency=6,
        ),
        name="hr.csv",
        client=client,
    )

    assert outcome.error is None and outcome.sent == outcome.chunks == 20
    names = sorted(u.filename for u in connector_standin.uploads)
    assert names == [f"hr.csv.part{i:05d}.csv" for i in range(1, 21)]  # each exactly once
    assert sorted(received(connector_standin)) == sorted(expected)
    assert connector_standin.capacity_refusals  # the service did push back
    assert connector_standin.peak_in_flight <= 6  # never above --concurrency
    assert gate.decreases >= 1 and gate.lowest <= 3  # and the client listened
    assert not any(s.status == 429 for s in wire(client).to("ingestion")[-5:])  # settled


def test_a_bug_in_a_sender_thread_is_unexpected_not_an_outage(
    connector_standin: ConnectorStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    class BuggySession(RecordingSession):
        def request(self, method, url, *args, **kwargs):  # type: ignore[override]
            if "/api/signals" in url:  # say, a library bug that quotes what it was handed
                raise RuntimeError("cannot encode alice@contoso.com")
            return super().request(method, url, *args, **kwargs)

    text, _ = hr_file(valid=10)
    client = make_client(connector_standin, session=BuggySession())

    outcome = deliver(
        lambda: io.BytesIO(text.encode()),
        Plan(
            job_id=connector_standin.job_id or "",
            profile=PROFILE,
            records_per_call=3,
            concurrency=2,
        ),
        name="hr.csv",
        client=client,
    )

    assert isinstance(outcome.error, RuntimeError)  # the exception itself, not a disguise
    assert blame(outcome.error) is Blame.UNEXPECTED
    assert (outcome.status, outcome.exit_code(), outcome.sent) == ("retrying", 1, 0)
    message = outcome.summary()["error"]
    assert "RuntimeError" in message and "alice" not in message
    assert connector_standin.uploads == []
    assert "unexpected error while uploading a chunk" in caplog.text  # the traceback is logged


def test_a_chunk_whose_answer_was_lost_is_sent_again_and_counted_once(
    connector_standin: ConnectorStandIn,
) -> None:
    text, expected = hr_file(valid=10)
    connector_standin.add_faults(Fault.delay(0), Fault.accept_then_drop())

    outcome = send(text.encode(), connector_standin)

    assert outcome.error is None
    assert (outcome.chunks, outcome.sent, outcome.uploaded) == (4, 4, 10)
    uploads = connector_standin.uploads
    assert len(uploads) == 5  # the at-least-once window: the service got chunk 2 twice
    assert [u.answer_dropped for u in uploads] == [False, True, False, False, False]
    assert uploads[1].content == uploads[2].content
    once = [u for u in uploads if not u.answer_dropped]
    assert [r for u in once for r in parse_chunk(u)[1]] == expected


# -- resume -------------------------------------------------------------------------------------


def test_a_run_stopped_by_a_refusal_resumes_without_duplicates(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    text, expected = hr_file(valid=10)
    data = text.encode()
    connector_standin.add_faults(
        Fault.delay(0), Fault.delay(0), Fault.http(400, body="chunk 3 refused")
    )

    first = send(data, connector_standin, checkpoints=LocalCheckpoints(tmp_path))

    assert first.error is not None and first.error.status == 400  # type: ignore[attr-defined]
    assert "chunk 3 refused" in str(first.error)
    assert (first.sent, first.uploaded, first.status, first.exit_code()) == (2, 6, "failed", 1)
    assert first.key is not None
    assert LocalCheckpoints(tmp_path).delivered(first.key) == {0, 1}

    second = send(data, connector_standin, checkpoints=LocalCheckpoints(tmp_path))

    assert second.error is None
    assert second.key == first.key
    assert (second.chunks, second.resumed, second.sent, second.uploaded) == (4, 2, 2, 10)
    assert received(connector_standin) == expected  # every record exactly once, in order


def test_a_run_that_spent_its_budget_resumes_without_duplicates(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    text, expected = hr_file(valid=20)
    data = text.encode()
    connector_standin.add_faults(Fault.delay(0), Fault.delay(0), *[Fault.http(503)] * 400)

    began = time.monotonic()
    first = send(
        data,
        connector_standin,
        records_per_call=2,
        concurrency=3,
        budget=1.0,
        checkpoints=LocalCheckpoints(tmp_path),
    )

    assert time.monotonic() - began < 3.0
    assert first.error is not None and "retry budget" in str(first.error)
    assert first.status == "retrying"
    assert first.exit_code() == 1
    assert first.sent == 2
    connector_standin.clear_faults()

    second = send(
        data,
        connector_standin,
        records_per_call=2,
        concurrency=3,
        checkpoints=LocalCheckpoints(tmp_path),
    )

    assert second.error is None
    assert second.resumed == first.sent
    assert first.sent + second.sent == second.chunks == 10
    assert second.uploaded == 20
    assert len(connector_standin.uploads) == 10
    assert sorted(received(connector_standin)) == sorted(expected)


def test_a_finished_file_sends_nothing_again(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    text, _ = hr_file(valid=10)
    send(text.encode(), connector_standin, checkpoints=LocalCheckpoints(tmp_path))
    connector_standin.clear_uploads()

    again = send(text.encode(), connector_standin, checkpoints=LocalCheckpoints(tmp_path))

    assert (again.chunks, again.resumed, again.sent, again.uploaded) == (4, 4, 0, 10)
    assert connector_standin.uploads == []


def test_another_chunk_size_is_another_upload(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    text, expected = hr_file(valid=10)
    send(text.encode(), connector_standin, checkpoints=LocalCheckpoints(tmp_path))
    connector_standin.clear_uploads()

    other = send(
        text.encode(), connector_standin, records_per_call=5, checkpoints=LocalCheckpoints(tmp_path)
    )

    assert (other.resumed, other.sent) == (0, 2)
    assert received(connector_standin) == expected


def test_the_resume_key_covers_content_job_chunk_size_profile_and_scenario() -> None:
    base = ("a" * 64, "job-1", 5000, DEFAULT_PROFILE, None)
    key = checkpoint_key(*base)

    assert checkpoint_key(*base) == key
    changed = [
        ("b" * 64, "job-1", 5000, DEFAULT_PROFILE, None),
        ("a" * 64, "job-2", 5000, DEFAULT_PROFILE, None),
        ("a" * 64, "job-1", 4999, DEFAULT_PROFILE, None),
        ("a" * 64, "job-1", 5000, PROFILE, None),
        ("a" * 64, "job-1", 5000, DEFAULT_PROFILE, "resignation"),
    ]
    keys = {checkpoint_key(*c) for c in changed}
    assert len(keys) == len(changed) and key not in keys
