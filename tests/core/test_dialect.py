"""How a file is written: the delimiter from its header line, encodings named by choice."""

from __future__ import annotations

import pytest

from hrupload.core.dialect import (
    DELIMITER_FIELD,
    SCENARIO_COLUMNS,
    delimiter_named,
    detect_delimiter,
    encoding_named,
)
from hrupload.core.report import FileProblem

RESIGNATION = ["EmailAddress", "ResignationDate", "LastWorkingDate"]


def detect(line: str, columns=SCENARIO_COLUMNS) -> str:
    return detect_delimiter(line, columns)


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_each_delimiter_is_found_from_the_header(delimiter: str) -> None:
    assert detect(delimiter.join(RESIGNATION)) == delimiter


def test_a_delimiter_inside_quotes_splits_nothing() -> None:
    # a comma file whose header quotes a name holding ";" (and one holding a tab)
    assert detect('EmailAddress,"Notice; date","Last\tday"') == ","
    assert detect('"Work, email";"Notice date"') == ";"


def test_known_column_names_settle_a_header_that_splits_on_two() -> None:
    # European Excel: ";" between fields, a comma inside a column name
    assert detect("EmailAddress;EffectiveDate;Remarks, free text") == ";"
    assert detect("EmailAddress,EffectiveDate,Rating|Score") == ","


def test_a_profiles_own_column_names_count_too() -> None:
    line = "Work Email;Notice Date;Last Day, if known"
    assert detect(line, SCENARIO_COLUMNS | {"work email", "notice date"}) == ";"
    with pytest.raises(FileProblem):
        detect(line)  # no name is known without the profile: two ways to split it


def test_an_open_choice_is_refused_naming_the_profile_field() -> None:
    with pytest.raises(FileProblem) as caught:
        detect("Name,Town;Zip")
    error = caught.value.error
    assert error.code == "ambiguous-delimiter"
    assert "',' and ';'" in error.message
    assert DELIMITER_FIELD in error.message and '"delimiter"' in error.message


def test_equally_known_splits_are_refused_too() -> None:
    with pytest.raises(FileProblem) as caught:
        detect("EmailAddress,Remarks;EffectiveDate")  # one known name either way
    assert caught.value.error.code == "ambiguous-delimiter"


def test_a_header_no_candidate_splits_is_one_comma_column() -> None:
    assert detect("EmailAddress") == ","
    assert detect("") == ","


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (",", ","),
        (";", ";"),
        ("\t", "\t"),
        ("|", "|"),
        ("tab", "\t"),
        ("TAB", "\t"),
        ("semicolon", ";"),
        ("comma", ","),
        ("pipe", "|"),
    ],
)
def test_delimiters_by_character_or_word(given: str, expected: str) -> None:
    assert delimiter_named(given) == expected


@pytest.mark.parametrize("given", [":", " ", ",;", "", "\\t"])
def test_other_delimiters_are_refused(given: str) -> None:
    with pytest.raises(ValueError, match="delimiter must be one of"):
        delimiter_named(given)


@pytest.mark.parametrize(
    ("name", "normalised"),
    [
        ("cp1252", "cp1252"),
        ("Windows-1252", "cp1252"),
        ("latin-1", "iso8859-1"),
        ("ISO-8859-1", "iso8859-1"),
        ("iso8859_15", "iso8859-15"),
        ("mac-roman", "mac-roman"),
        ("utf8", "utf-8"),
        ("utf-16", "utf-16"),
        ("UTF-16LE", "utf-16-le"),
        ("utf_16_be", "utf-16-be"),
        (" cp1252 ", "cp1252"),
    ],
)
def test_encodings_are_normalised_to_the_codecs_name(name: str, normalised: str) -> None:
    assert encoding_named(name) == normalised


def test_an_unknown_encoding_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown encoding 'klingon'"):
        encoding_named("klingon")


@pytest.mark.parametrize(
    "name",
    # bytes-to-bytes codecs, and text codecs that do not read ASCII as itself
    [
        *("base64", "rot13", "zlib", "hex", "utf-7", "unicode_escape", "raw_unicode_escape"),
        *("cp500", "utf-32", "utf-32-le", "hz", "punycode", "idna"),
    ],
)
def test_encodings_that_cannot_read_a_csv_export_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="cannot read a CSV export"):
        encoding_named(name)
