"""Property (issue 6): whatever the file, what the connector receives reassembles to exactly
the valid rows, in order.

Generated files (valid and invalid rows, quoted commas, line breaks and quotes, short,
long and blank rows, unicode) go through ``deliver()`` with a real ConnectorClient to the
connector stand-in, in chunks of 1 to 7 records. Every chunk must be a complete CSV that
starts with the header line; all chunks together must hold the valid rows' output fields,
each once and in file order; and rows == valid + rejected, blank lines counted apart.
The engine's own verdicts are tested in test_properties.py; here they are the oracle.
"""

from __future__ import annotations

import csv
import io
import math
import re

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hrupload.adapters.connector import ConnectorClient, SecretCredential, endpoints
from hrupload.app.delivery import Plan, deliver
from hrupload.core.checker import Checked
from hrupload.core.csvwrite import csv_line
from hrupload.core.validate import validate_stream
from hrupload_dev.connector import ConnectorStandIn

HEADERS = {
    "resignation": ["EmailAddress", "ResignationDate", "LastWorkingDate", "Notes"],
    "performance-review": ["EmailAddress", "EffectiveDate", "Remarks", "Rating"],
}

letters = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6)


def mostly(good, bad):
    """``good`` three times in four (st.one_of would pick evenly)."""
    return st.integers(0, 3).flatmap(lambda i: good if i else bad)


emails = mostly(
    st.builds("{}@{}.com".format, letters, letters),
    st.sampled_from(["", "no-at-sign", "two@@x.com", "a b@c.com", "=cmd@x"]),
)
dates = mostly(
    st.sampled_from(["2026-11-02T09:30:00Z", "2019-04-23T15:18:02.4675041+05:30"]),
    st.sampled_from(["", "2026-02-30T00:00:00Z", "yesterday", "=NOW()"]),
)
awkward = st.text(alphabet=',"\r\n \t;=+-@\u00e9\u6771\u2028\U0001f600', max_size=8)
anything = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    max_size=12,
)
cells = st.one_of(st.just(""), letters, awkward, anything)


def rows_for(header: list[str]):
    """Rows shaped like the header's records (often valid), and some cut short, too long
    or blank."""
    third = dates if header[2].endswith("Date") else cells
    shaped = st.tuples(emails, dates, third, cells).map(list)
    short = st.tuples(shaped, st.integers(0, len(header) - 1)).map(lambda t: t[0][: t[1]])
    long = st.tuples(shaped, st.lists(cells, min_size=1, max_size=2)).map(lambda t: t[0] + t[1])
    blank = st.lists(st.sampled_from(["", " ", "\t"]), max_size=len(header))
    return st.lists(mostly(shaped, st.one_of(short, long, blank)), max_size=25)


def render(header: list[str], rows: list[list[str]], newline: str) -> bytes:
    """Each row in csv's quoting (a field with a line break is quoted), joined by ``newline``."""

    def one(row: list[str]) -> str:
        return csv_line(row)[:-2]

    return "".join(one(r) + newline for r in [header, *rows]).encode()


@st.composite
def files(draw):
    scenario = draw(st.sampled_from(sorted(HEADERS)))
    header = HEADERS[scenario]
    rows = draw(rows_for(header))
    data = render(header, rows, draw(st.sampled_from(["\r\n", "\n"])))
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data  # Excel's "CSV UTF-8" BOM
    return scenario, header, rows, data


@settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(file=files(), per_call=st.integers(1, 7), concurrency=st.integers(1, 3))
def test_chunks_reassemble_to_exactly_the_valid_rows(
    connector_standin: ConnectorStandIn, file, per_call: int, concurrency: int
) -> None:
    scenario, header, rows, data = file
    standin = connector_standin
    standin.clear_uploads()
    client = _client(standin)

    outcome = deliver(
        lambda: io.BytesIO(data),
        Plan(
            job_id=standin.job_id or "",
            fallback_scenario=scenario,
            records_per_call=per_call,
            concurrency=concurrency,
        ),
        name="gen.csv",
        client=client,
    )

    valid: list[list[str]] = []
    oracle = validate_stream(
        lambda: io.BytesIO(data),
        name="gen.csv",
        fallback_scenario=scenario,
        on_row=lambda row: _keep(row, valid),
    )
    report = outcome.report
    event(f"chunks: {'several' if outcome.chunks > 1 else outcome.chunks}")
    event(f"rejected rows: {'some' if report.rejected else 'none'}")
    event(f"blank rows: {'some' if report.blank else 'none'}")
    assert outcome.error is None and report.file_error is None
    assert report.rows == report.valid + report.rejected
    assert report.rows + report.blank == len(rows)
    assert (report.rows, report.valid, report.blank) == (oracle.rows, oracle.valid, oracle.blank)
    assert outcome.uploaded == report.valid == len(valid)
    assert outcome.chunks == math.ceil(report.valid / per_call)

    received: list[list[str]] = []
    head = csv_line(header).encode()
    uploads = sorted(standin.uploads, key=lambda u: u.filename)  # .partNNNNN: file order
    assert [u.filename for u in uploads] == [
        f"gen.csv.part{i:05d}.csv" for i in range(1, outcome.chunks + 1)
    ]
    for upload in uploads:
        assert upload.content.startswith(head)
        assert upload.content.endswith(b"\r\n")
        records = list(
            csv.reader(io.StringIO(upload.content.decode("utf-8"), newline=""), strict=True)
        )
        assert records[0] == header
        assert 1 <= len(records) - 1 <= per_call
        received.extend(records[1:])
    assert received == valid
    # Rows go out as written, only padded: a short row gets empty trailing fields.
    for fields in received:
        assert len(fields) == len(header)


def _client(standin: ConnectorStandIn) -> ConnectorClient:
    return ConnectorClient(
        SecretCredential(standin.tenant_id, standin.app_id or "", standin.app_secret or ""),
        job_id=standin.job_id or "",
        endpoints=endpoints(login_url=standin.url, ingestion_url=standin.url),
        retry_budget=2,
    )


def _keep(row: Checked, valid: list[list[str]]) -> None:
    if row.valid:
        valid.append(row.fields)


def test_render_quotes_line_breaks_so_rows_stay_whole() -> None:
    data = render(["A", "B"], [["x\ny", 'q"'], []], "\n")
    assert re.fullmatch(rb'A,B\n"x\ny","q"""\n\n', data)
