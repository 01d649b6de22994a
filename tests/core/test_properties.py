"""Properties over generated files: every row is counted once, nothing raises, values
round-trip, line numbers are physical lines, and no value reaches a message."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hrupload.core.checker import Checked
from hrupload.core.profile import DEFAULT_PROFILE, Profile, parse_profile
from hrupload.core.report import Report
from hrupload.core.rules import is_iso_datetime
from hrupload.core.validate import validate_stream

SINGLE = ["EmailAddress", "ResignationDate", "LastWorkingDate", "Notes"]
MULTI = [
    "HRScenario",
    "EmailAddress",
    "ResignationDate",
    "LastWorkingDate",
    "EffectiveDate",
    "Remarks",
    "Rating",
]
SCENARIO_VALUES = {
    "resignation": "resignation",
    "job level change": "job-level-change",
    "performance review": "performance-review",
    "performance improvement plan": "performance-improvement-plan",
    "employee profile": "employee-profile",
}
US_DATE = "%m/%d/%Y %H:%M"

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

letters = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=8)


def _emails(separators: list[str], tlds: list[str]):
    return st.builds(
        "{}{}@{}.{}".format, letters, st.sampled_from(separators), letters, st.sampled_from(tlds)
    )


good_emails = _emails(["", ".", "+x"], ["com", "co.uk"])
bad_emails = _emails(["", " ", "@"], ["com", "", "c"])


def mostly(good, *others):
    """``good`` three times in four: st.one_of would pick evenly between strategies."""
    return st.integers(0, 3).flatmap(lambda i: good if i else st.one_of(*others))


emails = mostly(good_emails, bad_emails)


def _iso(fractions: list[str], zones: list[str]):
    return st.builds(
        lambda d, frac, zone: d.strftime("%Y-%m-%dT%H:%M:%S") + frac + zone,
        st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),
        st.sampled_from(fractions),
        st.sampled_from(zones),
    )


good_iso_dates = _iso(["", ".1", ".4675041"], ["", "Z", "+05:30", "-14:00"])
iso_dates = st.one_of(good_iso_dates, _iso([".12345678", "."], ["+0530", "z", "+15:00"]))
us_dates = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda d: d.strftime(US_DATE)
)
# Surrounding whitespace is ignored when checking, and kept in what is passed on.
dates = st.tuples(
    st.sampled_from(["", "", " "]),
    mostly(good_iso_dates, iso_dates, us_dates, st.just("")),
    st.sampled_from(["", "", "\t"]),
).map("".join)
scenario_values = st.sampled_from([*SCENARIO_VALUES, "Promotion", ""]).map(
    lambda v: v.upper() if len(v) % 2 else f" {v} "
)
awkward = st.text(alphabet=',"\r\n \t;@\ufeff\u2028', max_size=6)
anything = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    max_size=30,
)
cells = st.one_of(
    st.just(""),
    st.just(" "),
    emails,
    iso_dates,
    us_dates,
    scenario_values,
    awkward,
    anything,
    st.text(alphabet="r", min_size=195, max_size=205),
)


def rows_for(header: list[str]):
    """Random rows, and rows shaped like the header's records (often valid), some cut short."""
    if header == MULTI:
        shaped = st.tuples(scenario_values, emails, dates, dates, dates, cells, cells)
    else:
        shaped = st.tuples(emails, dates, dates, cells)
    shaped_rows = shaped.map(list)
    cut_rows = st.tuples(shaped_rows, st.integers(0, len(header))).map(lambda t: t[0][: t[1]])
    random_rows = st.lists(cells, max_size=len(header) + 2)
    return st.lists(mostly(shaped_rows, cut_rows, random_rows), max_size=25)


def render(header: list[str], rows: list[list[str]], newline: str) -> tuple[str, list[int]]:
    """The CSV text, and the physical line each row starts on.

    Each row is formatted with csv's "\\r\\n" dialect, which quotes every field holding a
    line break, then joined with ``newline``: the rows are then exactly as written.
    """

    def one(row: list[str]) -> str:
        out = io.StringIO()
        csv.writer(out).writerow(row)
        return out.getvalue()[:-2]

    text = one(header) + newline
    starts = []
    for row in rows:
        starts.append(len(re.findall(r"\r\n|\r|\n", text)) + 1)
        text += one(row) + newline
    return text, starts


def validate(data: bytes, profile: Profile = DEFAULT_PROFILE, **kwargs) -> tuple[Report, list]:
    checked: list[Checked] = []
    report = validate_stream(
        lambda: io.BytesIO(data), name="gen.csv", profile=profile, on_row=checked.append, **kwargs
    )
    assert report.valid + report.rejected == report.rows == len(checked)
    assert sum(report.error_counts.values()) == len(report.errors) + report.errors_truncated
    for counts in report.scenarios.values():
        assert set(counts) == {"valid", "rejected"}
    if report.file_error is not None:
        assert report.rows == 0
    return report, checked


def is_blank(row: list[str]) -> bool:
    return not any(v.strip() for v in row)


def check_counts_and_round_trip(
    header: list[str], rows: list[list[str]], report: Report, checked: list[Checked], starts
) -> None:
    assert report.file_error is None
    kept = [(row, line) for row, line in zip(rows, starts, strict=True) if not is_blank(row)]
    assert report.blank == len(rows) - len(kept)
    assert report.rows == len(kept)
    width = len(header)
    for (row, line), got in zip(kept, checked, strict=True):
        assert got.source == row
        assert got.line == line
        assert got.valid == (not got.errors)
        assert {e.line for e in got.errors} <= {line}
        if len(row) > width:
            assert "extra-fields" in {e.code for e in got.errors}
        elif got.valid:
            expected = row + [""] * (width - len(row))
            if got.scenario is not None and "HRScenario" in header:
                # the scenario cell goes out as the profile spells it, whatever case and
                # surrounding spaces the file used: never raw
                at = header.index("HRScenario")
                canonical = DEFAULT_PROFILE.mapping(got.scenario).value
                assert expected[at].strip().lower() == canonical.lower()
                expected[at] = canonical
            assert got.fields == expected


def check_no_values_in_messages(rows: list[list[str]], report: Report) -> None:
    quoted = {v.strip() for row in rows for v in row if "@" in v and len(v.strip()) >= 5}
    for err in report.errors:
        for value in quoted:
            assert value not in err.message


@PROPERTY
@given(
    rows=rows_for(SINGLE),
    newline=st.sampled_from(["\r\n", "\n", "\r"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
)
def test_single_scenario_files(rows: list[list[str]], newline: str, encoding: str) -> None:
    text, starts = render(SINGLE, rows, newline)
    report, checked = validate(text.encode(encoding))
    check_counts_and_round_trip(SINGLE, rows, report, checked, starts)
    check_no_values_in_messages(rows, report)
    assert set(report.scenarios) <= {"resignation"}


@PROPERTY
@given(rows=rows_for(MULTI), newline=st.sampled_from(["\r\n", "\n"]))
def test_multi_scenario_files(rows: list[list[str]], newline: str) -> None:
    text, starts = render(MULTI, rows, newline)
    report, checked = validate(text.encode())
    check_counts_and_round_trip(MULTI, rows, report, checked, starts)
    check_no_values_in_messages(rows, report)
    for got in checked:
        if got.source and len(got.source) <= len(MULTI):
            expected = SCENARIO_VALUES.get(got.source[0].strip().lower())
            assert got.scenario == expected
            if expected is None:
                assert {e.code for e in got.errors} & {"unknown-scenario", "missing-value"}


@PROPERTY
@given(rows=rows_for(SINGLE))
def test_profile_date_formats_are_rewritten_to_iso(rows: list[list[str]]) -> None:
    profile = parse_profile({"scenarios": {"resignation": {}}, "date_formats": [US_DATE]})
    text, _ = render(SINGLE, rows, "\n")
    report, checked = validate(text.encode(), profile)
    assert report.file_error is None
    assert report.rows == sum(1 for row in rows if not is_blank(row))
    for got in checked:
        if len(got.source) > len(SINGLE):
            continue
        padded = got.source + [""] * (len(SINGLE) - len(got.source))
        bad_dates = {e.column for e in got.errors if e.code == "invalid-date"}
        for i in (1, 2):
            value = padded[i].strip()
            try:
                expected = datetime.strptime(value, US_DATE).isoformat()
            except ValueError:
                expected = padded[i]  # ISO 8601 (passed on as written), or rejected
            accepted = bool(value) and (is_iso_datetime(value) or expected != padded[i])
            assert (SINGLE[i] not in bad_dates) == (accepted or not value)
            if got.valid:
                assert got.fields[i] == expected
        if got.valid:
            assert [got.fields[0], got.fields[3]] == [padded[0], padded[3]]


@PROPERTY
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    validate(data)
    validate(data, scenario="resignation")


@PROPERTY
@given(
    body=st.lists(st.sampled_from([*'ab@,"\r\n \x00é', "2019-04-23T15:18:02Z"]), max_size=60).map(
        "".join
    ),
    header=st.sampled_from([SINGLE, MULTI, ["EmailAddress", "EffectiveDate"]]),
)
def test_arbitrary_text_after_a_header_never_raises(body: str, header: list[str]) -> None:
    report, checked = validate((",".join(header) + "\n" + body).encode())
    if "\x00" in body:
        assert report.file_error is not None
        return
    if header == ["EmailAddress", "EffectiveDate"]:
        assert report.file_error is not None
        assert report.file_error.code == "ambiguous-scenario"
        return
    assert report.file_error is None
    for got in checked:
        assert got.line >= 2
