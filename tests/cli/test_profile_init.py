"""``hrupload profile init``: a starting profile from an export's header and rows that
validates the export as the admin would map it, and never guesses what it cannot tell."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from hrupload.cli.main import main

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def run(*args: str | Path, stdin: bytes | None = None):
    result = CliRunner().invoke(main, [str(a) for a in args], input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def init(path: Path, *extra: str) -> tuple[dict, str]:
    result = run("profile", "init", path, *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


def validated(path: Path, profile: dict | None) -> dict:
    extra = ["--profile", json.dumps(profile)] if profile is not None else []
    result = run("validate", path, "--json", *extra)
    assert result.exit_code in (0, 3), result.output
    return json.loads(result.stdout)["data"]["files"][0]


def counts(report: dict) -> tuple:
    return report["rows"], report["valid"], report["rejected"], report["scenarios"]


def test_a_multi_scenario_export_gets_its_scenario_column_and_values() -> None:
    profile, notes = init(SAMPLES / "multi-scenario.csv")
    assert profile["scenario_column"] == "HRScenario"
    assert profile["scenarios"]["resignation"]["value"] == "Resignation"
    assert profile["scenarios"]["job-level-change"]["columns"]["NewLevel"] == "NewLevel"
    assert counts(validated(SAMPLES / "multi-scenario.csv", profile)) == counts(
        validated(SAMPLES / "multi-scenario.csv", None)
    )
    assert "to do" not in notes


def test_microsofts_sample_names_are_mapped_to_the_documented_fields() -> None:
    profile, notes = init(SAMPLES / "employee-profile-microsoft.csv")
    columns = profile["scenarios"]["employee-profile"]["columns"]
    assert columns["EmployeeAddressLine1"] == "EmployeeAddLine1"
    assert columns["EmployeeDepartment"] == "EmployeeDept"
    assert "UserName" in notes  # not a field: a note, not a mapping


def test_us_dates_get_the_format_that_reads_them_all(tmp_path: Path) -> None:
    source = tmp_path / "leavers.csv"
    source.write_text(
        "EmailAddress,ResignationDate,LastWorkingDate\n"
        "a@contoso.com,4/23/2019,05/31/2019\n"
        "b@contoso.com,03/04/2019,3/29/2019\n"  # 03/04 alone reads both ways; 4/23 settles it
    )
    assert validated(source, None)["rejected"] == 2
    profile, notes = init(source)
    assert profile["date_formats"] == ["%m/%d/%Y"]
    assert validated(source, profile)["rejected"] == 0
    assert "contoso" not in notes  # row values are never shown


def test_dates_that_read_both_ways_are_a_note_not_a_guess(tmp_path: Path) -> None:
    source = tmp_path / "leavers.csv"
    source.write_text(
        "EmailAddress,ResignationDate,LastWorkingDate\na@contoso.com,03/04/2019,05/06/2019\n"
    )
    profile, notes = init(source)
    assert "date_formats" not in profile
    assert "%d/%m/%Y" in notes and "%m/%d/%Y" in notes
    assert "%d/%m/%Y" in profile["description"]


def test_an_excel_semicolon_cp1252_export_keeps_its_dialect() -> None:
    profile, _ = init(SAMPLES / "excel-semicolon-cp1252.csv", "--encoding", "windows-1252")
    assert (profile["delimiter"], profile["encoding"]) == (";", "cp1252")
    sample = json.loads((SAMPLES / "excel-semicolon-cp1252.profile.json").read_text())
    mine = validated(SAMPLES / "excel-semicolon-cp1252.csv", profile)
    assert counts(mine) == counts(validated(SAMPLES / "excel-semicolon-cp1252.csv", sample))
    assert mine["file_error"] is None


def test_unknown_columns_and_values_are_left_for_the_admin() -> None:
    profile, notes = init(SAMPLES / "hr-system.csv")
    assert profile["scenario_column"] == "Event Type"
    assert profile["scenarios"] == {}
    assert "Termination" in notes and "Work Email" in notes


def test_standard_input_an_output_file_and_no_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "leavers.profile.json"
    data = (SAMPLES / "resignation.csv").read_bytes()
    first = run("profile", "init", "-", "-o", out, stdin=data)
    assert first.exit_code == 0, first.output
    assert json.loads(out.read_text())["scenarios"]["resignation"]["columns"]
    assert out.stat().st_mode & 0o077 == 0  # private: it may name HR columns and values
    again = run("profile", "init", "-", "-o", out, stdin=data)
    assert again.exit_code == 2 and "--force" in again.output
    assert run("profile", "init", "-", "-o", out, "--force", stdin=data).exit_code == 0


def test_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    source = tmp_path / "x.csv"
    source.write_bytes(b"EmailAddress\n\xff\xfe\x00\n")
    result = run("profile", "init", source)
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "--encoding" in result.stderr
    hostile = tmp_path / "h.csv"
    hostile.write_text("EmailAddress,Evil\x1b[2J[/]Col\na@contoso.com,x\n")
    shown = run("profile", "init", hostile)
    assert shown.exit_code == 0
    assert "\x1b" not in shown.stderr and "Evil\\x1b[2J[/]Col" in shown.stderr
