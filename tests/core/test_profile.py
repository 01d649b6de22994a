"""Profiles: loaded from a path or inline JSON, and refused loudly when they name the unknown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hrupload.core.errors import ConfigError, ProfileError
from hrupload.core.profile import (
    DEFAULT_PROFILE,
    Profile,
    ScenarioMapping,
    load_profile,
    parse_profile,
)

SAMPLES = Path(__file__).resolve().parents[2] / "samples"

ISSUE_EXAMPLE = {
    "scenario_column": "HRScenario",
    "scenarios": {
        "resignation": {
            "value": "Resignation",
            "columns": {"EmailAddress": "Work Email", "ResignationDate": "Notice Date"},
        },
        "performance-review": {"value": "Perf review"},
    },
    "date_formats": ["%m/%d/%Y %H:%M"],
}


def refused(doc) -> str:
    with pytest.raises(ProfileError) as caught:
        parse_profile(doc, source="p.json")
    assert isinstance(caught.value, ConfigError)
    return str(caught.value)


@pytest.mark.parametrize("spec", [None, "", "   "])
def test_no_profile_gives_the_defaults(spec) -> None:
    assert load_profile(spec) is DEFAULT_PROFILE


def test_the_issue_example_inline() -> None:
    profile = load_profile(json.dumps(ISSUE_EXAMPLE))
    assert profile.source == "inline JSON"
    assert profile.scenario_column == "HRScenario"
    assert profile.active_scenarios() == ["resignation", "performance-review"]
    assert profile.mapping("resignation") == ScenarioMapping(
        "Resignation", {"EmailAddress": "Work Email", "ResignationDate": "Notice Date"}
    )
    assert profile.mapping("performance-review") == ScenarioMapping("Perf review", {})
    assert profile.date_formats == ("%m/%d/%Y %H:%M",)


def test_from_a_file_with_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(ISSUE_EXAMPLE).encode())
    profile = load_profile(path)
    assert profile.source == str(path)
    assert profile.scenario_column == "HRScenario"


@pytest.mark.parametrize(
    "name", ["hr-system.profile.json", "performance-improvement-plan.profile.json"]
)
def test_sample_profiles_load(name: str) -> None:
    assert isinstance(load_profile(SAMPLES / name), Profile)


def test_unmentioned_scenarios_get_default_values() -> None:
    profile = parse_profile({"scenarios": {"resignation": {}}})
    assert profile.active_scenarios() == ["resignation"]
    assert profile.mapping("resignation").value == "Resignation"
    assert profile.mapping("employee-profile") == ScenarioMapping("Employee profile", {})
    assert DEFAULT_PROFILE.active_scenarios() == [
        "resignation",
        "job-level-change",
        "performance-review",
        "performance-improvement-plan",
        "employee-profile",
    ]


def test_scenario_and_field_names_forgive_case_and_spelling() -> None:
    profile = parse_profile(
        {"scenarios": {"Job_Level_Change": {"columns": {"emailaddress": "Mail"}}}}
    )
    assert profile.mapping("job-level-change").columns == {"EmailAddress": "Mail"}


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"profile file not found: .*nope\.json"):
        load_profile(tmp_path / "nope.json")


def test_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="cannot read profile"):
        load_profile(tmp_path)


def test_invalid_json_gives_line_and_column() -> None:
    with pytest.raises(ProfileError, match=r"not valid JSON \(line 2, column"):
        load_profile('{"scenarios":\n  {,}}')


def test_unknown_scenario_is_named() -> None:
    message = refused({"scenarios": {"promotion": {}}})
    assert "unknown scenario 'promotion'" in message
    assert "resignation" in message


def test_unknown_field_is_named_with_the_scenarios_fields() -> None:
    message = refused({"scenarios": {"resignation": {"columns": {"Rating": "Score"}}}})
    assert "resignation has no field 'Rating'" in message
    assert "EmailAddress, ResignationDate, LastWorkingDate" in message


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ([], "must be a JSON object"),
        ({"scenario": "x"}, "unknown key(s) scenario"),
        ({"scenario_column": ""}, "scenario_column must be a non-empty string"),
        ({"scenario_column": 3}, "scenario_column must be a non-empty string"),
        ({"scenarios": ["resignation"]}, "scenarios must be an object"),
        ({"scenarios": {"resignation": "x"}}, "scenario resignation must be an object"),
        ({"scenarios": {"resignation": {"colums": {}}}}, "unknown key(s) colums"),
        ({"scenarios": {"resignation": {"value": " "}}}, "value must be a non-empty string"),
        ({"scenarios": {"resignation": {"columns": []}}}, "columns must be an object"),
        (
            {"scenarios": {"resignation": {"columns": {"EmailAddress": ""}}}},
            "column for EmailAddress must be a non-empty string",
        ),
        (
            {"scenarios": {"resignation": {"value": "X"}, "performance-review": {"value": "x"}}},
            "share the value 'x'",
        ),
        (
            {"scenarios": {"resignation": {}, "Resignation": {}}},
            "scenario resignation is listed twice",
        ),
        ({"date_formats": "%m/%d/%Y"}, "date_formats must be a list"),
        ({"date_formats": ["mm/dd/yyyy"]}, "date_formats must be a list"),
        ({"date_formats": ["%m/%d/%Q"]}, "date format '%m/%d/%Q' is not valid"),
        ({"date_formats": ["%Y-%m-%"]}, "date format '%Y-%m-%' is not valid"),
    ],
)
def test_malformed_profiles_are_refused(doc, expected: str) -> None:
    assert expected in refused(doc)


def test_fingerprint_follows_what_changes_validation() -> None:
    base = parse_profile(ISSUE_EXAMPLE, source="a")
    assert base.fingerprint() == parse_profile(ISSUE_EXAMPLE, source="b").fingerprint()
    described = dict(ISSUE_EXAMPLE, description="only words")
    assert base.fingerprint() == parse_profile(described).fingerprint()
    changed = dict(ISSUE_EXAMPLE, date_formats=["%d/%m/%Y %H:%M"])
    assert base.fingerprint() != parse_profile(changed).fingerprint()
    assert base.fingerprint() != DEFAULT_PROFILE.fingerprint()


def test_a_deeply_nested_profile_is_a_config_error_naming_the_setting(tmp_path: Path) -> None:
    deep = '{"description": ' + "[" * 100_000 + "]" * 100_000 + "}"
    (tmp_path / "deep.json").write_text(deep)
    for spec in (deep, str(tmp_path / "deep.json"), '{"description": ' + "[" * 17 + "]" * 17 + "}"):
        with pytest.raises(ProfileError) as caught:
            load_profile(spec)
        assert "HRUPLOAD_PROFILE" in str(caught.value)
    assert load_profile('{"description": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{{{{{"}').source


def test_a_huge_profile_is_refused_unread(tmp_path: Path) -> None:
    from hrupload.core.profile import MAX_PROFILE_BYTES

    huge = tmp_path / "export.csv"
    huge.write_bytes(b"x" * (MAX_PROFILE_BYTES + 1))
    for spec in (str(huge), "{" + " " * MAX_PROFILE_BYTES + "}", "/dev/zero"):
        with pytest.raises(ProfileError) as caught:
            load_profile(spec)
        assert "HRUPLOAD_PROFILE" in str(caught.value) and "KiB" in str(caught.value)


# -- date_formats that read one value two ways ----------------------------------------------


@pytest.mark.parametrize(
    ("formats", "named"),
    [
        (["%m/%d/%Y", "%d/%m/%Y"], ('"%m/%d/%Y" and "%d/%m/%Y"', "'03/04/2011'")),
        (["%d.%m.%Y %H:%M", "%m.%d.%Y %H:%M"], ('"%d.%m.%Y %H:%M" and "%m.%d.%Y %H:%M"',)),
        (["%Y-%m-%d", "%m/%d/%Y", "%Y-%d-%m"], ('"%Y-%m-%d" and "%Y-%d-%m"',)),
        (["%d/%m/%y", "%y/%m/%d"], ('"%d/%m/%y" and "%y/%m/%d"',)),
    ],
)
def test_formats_reading_a_value_as_two_dates_are_refused(
    formats: list[str], named: tuple[str, ...]
) -> None:
    message = refused({"date_formats": formats})
    for part in named:
        assert part in message
    assert "keep only the one your export uses" in message


@pytest.mark.parametrize(
    "formats",
    [
        ["%m/%d/%Y %H:%M", "%m/%d/%Y"],  # the README's and the sample's
        ["%d.%m.%Y", "%m/%d/%Y"],  # two shapes: no value fits both
        ["%m/%d/%Y", "%m/%d/%Y"],  # the same reading twice
        ["%Y-%m-%dT%H:%M%z", "%Y-%m-%d %H:%M"],
    ],
)
def test_formats_that_never_disagree_are_kept(formats: list[str]) -> None:
    assert parse_profile({"date_formats": formats}).date_formats == tuple(formats)


# -- how files are read: encoding and delimiter ------------------------------------------------


def test_encoding_and_delimiter_are_read_and_normalised() -> None:
    profile = parse_profile({"encoding": "Windows-1252", "delimiter": "tab"})
    assert (profile.encoding, profile.delimiter) == ("cp1252", "\t")
    dialect = profile.dialect()
    assert (dialect.encoding, dialect.delimiter) == ("cp1252", "\t")
    assert parse_profile({"delimiter": ";"}).delimiter == ";"
    assert (DEFAULT_PROFILE.encoding, DEFAULT_PROFILE.delimiter) == (None, None)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"encoding": "klingon"}, "p.json: unknown encoding 'klingon'"),
        ({"encoding": "base64"}, "encoding 'base64' cannot read a CSV export"),
        ({"encoding": 1252}, "encoding must be a string"),
        ({"delimiter": ":"}, "delimiter must be one of , ; | or a tab"),
        ({"delimiter": ["|"]}, "delimiter must be a string"),
    ],
)
def test_unknown_encodings_and_delimiters_are_refused_naming_the_field(doc, expected) -> None:
    assert expected in refused(doc)


def test_the_profiles_column_names_settle_the_delimiter() -> None:
    profile = load_profile(SAMPLES / "hr-system.profile.json")
    columns = profile.dialect().columns
    assert {"work email", "notice date", "event type", "emailaddress"} <= columns


def test_the_command_line_reads_over_the_profile() -> None:
    profile = parse_profile({"encoding": "latin-1", "delimiter": ";"}, source="p.json")
    assert profile.reading(encoding="cp1252").encoding == "cp1252"
    assert profile.reading(delimiter="|").delimiter == "|"
    assert profile.reading() == profile
    with pytest.raises(ValueError, match="unknown encoding"):
        profile.reading(encoding="nope")
    # how files are read maps no column: Microsoft's HRScenario column still makes a multi file
    assert DEFAULT_PROFILE.reading(encoding="cp1252", delimiter=";").maps_nothing
    assert profile.maps_nothing
    assert not parse_profile(ISSUE_EXAMPLE).reading(encoding="cp1252").maps_nothing
    assert not parse_profile({"date_formats": ["%d.%m.%Y"], "delimiter": ";"}).maps_nothing


def test_fingerprint_follows_how_files_are_read_and_keeps_older_keys() -> None:
    base = parse_profile(ISSUE_EXAMPLE)
    # the resume keys of profiles made before encoding and delimiter existed still match
    assert DEFAULT_PROFILE.fingerprint() == "464dc787944056a9"
    assert base.fingerprint() == "f5d5967f84acf334"
    fingerprints = {
        base.fingerprint(),
        parse_profile(dict(ISSUE_EXAMPLE, encoding="cp1252")).fingerprint(),
        parse_profile(dict(ISSUE_EXAMPLE, encoding="latin-1")).fingerprint(),
        parse_profile(dict(ISSUE_EXAMPLE, delimiter=";")).fingerprint(),
        base.reading(delimiter="tab").fingerprint(),
    }
    assert len(fingerprints) == 5
    assert parse_profile(dict(ISSUE_EXAMPLE, encoding="windows-1252")).fingerprint() == (
        parse_profile(dict(ISSUE_EXAMPLE, encoding="cp1252")).fingerprint()
    )
