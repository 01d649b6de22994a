"""The rule table: each kind's reference check, and the fast engine's expressions proven to
accept only what the reference accepts unchanged."""

from __future__ import annotations

import re

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
