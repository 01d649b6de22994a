"""The rule table: each kind's reference check, and the fast engine's expressions proven to
accept only what the reference accepts unchanged."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hrupload.core.rules import (
    RULES,
    Column,
    Problem,
    ScenarioValues,
    column,
    email_problem,
    is_iso_datetime,
    suggest_formats,
)
from hrupload.core.scenarios import SCENARIOS, Field, Kind

# -- dates and emails -----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2019-04-23T15:18:02.4675041+05:30",
        "2019-04-24T09:15:49Z",
        "2019-04-29T15:18:02.7117540",
        "2019-04-29T15:18:02",
        "2019-04-29T15:18:02.1-08:00",
        "2020-02-29T23:59:59+14:00",
    ],
)
def test_iso_dates_accepted(value: str) -> None:
    assert is_iso_datetime(value)


@pytest.mark.parametrize(
    "value",
    [
        "2019-02-29T10:00:00",  # not a leap year
        "2019-04-31T10:00:00",
        "2019-13-01T10:00:00",
        "2019-04-23T24:00:00",
        "2019-04-23T15:60:00",
        "2019-04-23T15:18",
        "2019-04-23",
        "2019-04-23 15:18:02",
        "2019-04-23T15:18:02.46750411",  # eight fraction digits
        "2019-04-23T15:18:02.",
        "2019-04-23T15:18:02+0530",
        "2019-04-23T15:18:02+15:00",
        "2019-04-23T15:18:02z",
        "04/23/2019",
        "٢٠١٩-٠٤-٢٣T15:18:02Z",  # Arabic-Indic digits match a Unicode \d
        "２０１９-04-23T15:18:02Z",  # full-width digits
    ],
)
def test_iso_dates_rejected(value: str) -> None:
    assert not is_iso_datetime(value)


@pytest.mark.parametrize(
    "value", ["sarad@contoso.com", "s.a+r_d@mail.contoso.co.uk", "x@y.z", "sarad@CONTOSO.COM"]
)
def test_emails_accepted(value: str) -> None:
    assert email_problem(value) is None


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("sarad.contoso.com", "exactly one '@'"),
        ("sarad@@contoso.com", "exactly one '@'"),
        ("a@b@contoso.com", "exactly one '@'"),
        ("@contoso.com", "nothing before the '@'"),
        ("sarad@contoso", "domain with a dot"),
        ("sarad@", "domain with a dot"),
        ("sarad@.com", "domain with a dot"),
        ("sarad@contoso..com", "domain with a dot"),
        ("sara d@contoso.com", "whitespace"),
        ("sarad@contoso.com\tx", "whitespace"),
    ],
)
def test_emails_rejected_with_the_reason(value: str, why: str) -> None:
    problem = email_problem(value)
    assert problem is not None
    assert why in problem
    assert value not in problem


def test_an_address_with_non_ascii_letters_is_still_an_address() -> None:
    assert email_problem("müller@contoso.com") is None
    assert email_problem("ilse@bücher.example") is None


# -- one table for both engines ----------------------------------------------------------

EMAIL = SCENARIOS["resignation"].field("EmailAddress")
DATE = SCENARIOS["resignation"].field("ResignationDate")
REMARKS = SCENARIOS["performance-review"].field("Remarks")


@pytest.mark.parametrize("kind", [k for k, rule in RULES.items() if rule.certain])
@given(data=st.data())
def test_what_the_fast_expression_vouches_for_the_reference_accepts_unchanged(
    kind: Kind, data: st.DataObject
) -> None:
    rule = RULES[kind]
    assert rule.certain is not None
    value = data.draw(st.from_regex(re.compile(rule.certain), fullmatch=True))
    f = Field("F", True, kind)
    where = column("F", f)
    if where.limit is not None and len(value.encode()) > where.limit:
        return  # the fast engine tests the length too
    assert value.strip() == value and value  # nothing for the reader to strip
    assert rule.check(value, value, where) is None


def test_the_email_limit_is_declared_once_and_both_engines_read_it() -> None:
    assert EMAIL is not None and EMAIL.max_length is None  # the field takes its kind's
    assert column("EmailAddress", EMAIL).limit == RULES[Kind.EMAIL].max_length == 254
    long = "a" * 243 + "@contoso.com"  # 255 characters
    verdict = RULES[Kind.EMAIL].check(long, long, column("EmailAddress", EMAIL))
    assert isinstance(verdict, Problem) and verdict.code == "too-long"
    assert "at most 254" in verdict.message and long not in verdict.message


def test_a_date_in_a_profile_format_is_sent_rewritten_and_an_iso_date_as_it_is() -> None:
    assert DATE is not None
    where = Column("Quit", DATE, None, ("%m/%d/%Y",))
    assert RULES[Kind.DATE].check("04/23/2019", "04/23/2019", where) == "2019-04-23T00:00:00"
    assert RULES[Kind.DATE].check(" 2019-04-23T00:00:00", "2019-04-23T00:00:00", where) is None
    verdict = RULES[Kind.DATE].check("23.04.2019", "23.04.2019", where)
    assert isinstance(verdict, Problem) and verdict.code == "invalid-date"
    assert "%m/%d/%Y" in verdict.message and "23.04" not in verdict.message


# -- a date in another shape: the date_formats entry that would read it ---------------------


def date_verdict(value: str, formats: tuple[str, ...] = ()) -> Problem | str | None:
    assert DATE is not None
    return RULES[Kind.DATE].check(value, value, Column("Quit", DATE, None, formats))


@pytest.mark.parametrize(
    ("value", "fmt"),
    [
        ("2019-04-23", "%Y-%m-%d"),
        ("2019-04-23 10:00:00", "%Y-%m-%d %H:%M:%S"),
        ("2019-04-23 10:00", "%Y-%m-%d %H:%M"),
        ("2019-04-23T10:00", "%Y-%m-%dT%H:%M"),
        ("2019-04-23T10:00Z", "%Y-%m-%dT%H:%M%z"),
        ("4/23/2019", "%m/%d/%Y"),
        ("4/23/2019 3:18 PM", "%m/%d/%Y %I:%M %p"),
        ("04/23/2019 15:18:02.123", "%m/%d/%Y %H:%M:%S.%f"),
        ("23/04/2019", "%d/%m/%Y"),
        ("23/04/2019 10:00", "%d/%m/%Y %H:%M"),
        ("23.04.2019", "%d.%m.%Y"),
        ("23.04.2019 10:00:00", "%d.%m.%Y %H:%M:%S"),
        ("2019/04/23", "%Y/%m/%d"),
        ("2019/04/23 10:00:00+05:30", "%Y/%m/%d %H:%M:%S%z"),
    ],
)
def test_a_common_shape_is_named_by_the_format_that_reads_it(value: str, fmt: str) -> None:
    verdict = date_verdict(value)
    assert isinstance(verdict, Problem) and verdict.code == "invalid-date"
    assert verdict.message == (
        f"Quit is not ISO 8601 (yyyy-mm-ddThh:mm:ss, like 2019-04-23T15:18:02.4675041+05:30): "
        f'add "{fmt}" to the profile\'s "date_formats" to accept it'
    )  # the whole message: the value is not in it
    # and the advice works: with that entry the value goes out in ISO 8601
    rewritten = date_verdict(value, (fmt,))
    assert isinstance(rewritten, str) and is_iso_datetime(rewritten)


def test_month_first_or_day_first_is_left_to_the_admin() -> None:
    verdict = date_verdict("03/04/2019")
    assert isinstance(verdict, Problem) and verdict.code == "invalid-date"
    assert 'month first ("%m/%d/%Y") or day first ("%d/%m/%Y")' in verdict.message
    assert "add the one your export uses" in verdict.message
    assert "03/04" not in verdict.message


def test_the_profile_formats_that_do_not_read_it_are_named() -> None:
    verdict = date_verdict("23.04.2019", ("%m/%d/%Y",))
    assert isinstance(verdict, Problem)
    assert "the profile's date_formats (%m/%d/%Y) do not read it" in verdict.message
    assert 'add "%d.%m.%Y"' in verdict.message


@pytest.mark.parametrize(
    "value",
    [
        "2019-02-30",
        "13/13/2019",
        "2019-04-23 15:18:02.4675041",  # %f reads at most 6 digits
        "23-04-19",
        "soon",
        "2019-04-23T10:00:00+15:00",
    ],
)
def test_no_format_is_suggested_for_what_no_format_reads_right(value: str) -> None:
    assert suggest_formats(value) == ()
    verdict = date_verdict(value)
    assert isinstance(verdict, Problem) and verdict.code == "invalid-date"
    assert "use ISO 8601 like" in verdict.message


_SHAPES = [
    f"{date}{time}{zone}"
    for date in ("%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y")
    for time in ("", " %H:%M", " %H:%M:%S", "T%H:%M", " %H:%M:%S.%f", " %I:%M %p")
    for zone in ("", "%z")
    if time or not zone
]


@given(
    when=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2199, 12, 31)),
    fmt=st.sampled_from(_SHAPES),
    offset=st.integers(-14 * 60, 14 * 60),
)
def test_every_suggestion_reads_the_value_as_it_was_written(
    when: datetime, fmt: str, offset: int
) -> None:
    if "%z" in fmt:
        when = when.replace(tzinfo=timezone(timedelta(minutes=offset)))
    value = when.strftime(fmt)
    suggested = suggest_formats(value)
    assert fmt in suggested
    for each in suggested:
        rewritten = date_verdict(value, (each,))
        assert isinstance(rewritten, str) and is_iso_datetime(rewritten)
    rewritten = date_verdict(value, (fmt,))
    assert isinstance(rewritten, str)
    assert datetime.fromisoformat(rewritten) == datetime.strptime(value, fmt)


# -- formats that read one value two ways -----------------------------------------------------


def test_a_value_two_formats_read_differently_is_rejected_not_settled_by_order() -> None:
    both = ("%m/%d/%Y", "%d/%m/%Y")
    for formats in (both, both[::-1]):
        verdict = date_verdict("03/04/2019", formats)
        assert isinstance(verdict, Problem) and verdict.code == "ambiguous-date"
        assert '"%m/%d/%Y"' in verdict.message and '"%d/%m/%Y"' in verdict.message
        assert "keep only the one your export uses" in verdict.message
        assert "03/04" not in verdict.message
    # only one reading: no doubt; the same reading twice: no doubt either
    assert date_verdict("23/04/2019", both) == "2019-04-23T00:00:00"
    assert date_verdict("04/04/2019", both) == "2019-04-04T00:00:00"


def test_bounded_text_names_the_column_and_the_field() -> None:
    assert REMARKS is not None
    where = column("Notes", REMARKS)
    assert RULES[Kind.TEXT].check("x" * 200, "x" * 200, where) is None
    verdict = RULES[Kind.TEXT].check("x" * 201, "x" * 201, where)
    assert verdict == Problem("too-long", "Notes (Remarks) is 201 characters; the limit is 200")


def test_scenario_values_forgive_case_and_spaces_and_are_sent_as_spelled() -> None:
    values = ScenarioValues("Event", {"resignation": "Quit", "job-level-change": "Promoted"})
    assert values.read(" quit ") == ("resignation", "Quit")
    assert values.exact("Quit") == "resignation"
    assert values.exact("quit") is None and values.exact(" Quit") is None  # rewritten first
    empty, unknown = values.read("  "), values.read("Fired")
    assert isinstance(empty, Problem) and empty.code == "missing-value"
    assert isinstance(unknown, Problem) and unknown.code == "unknown-scenario"
    assert "'Quit', 'Promoted'" in unknown.message and "Fired" not in unknown.message
