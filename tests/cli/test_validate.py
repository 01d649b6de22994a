"""``hrupload validate``: the summary, the error table, ``--json``, and the exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hrupload.cli.main import main

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
HRUPLOAD = Path(sys.executable).parent / "hrupload"
D1 = "2019-04-23T15:18:02.4675041+05:30"
RESIGNATION = "EmailAddress,ResignationDate,LastWorkingDate"


def hrupload(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    # A wide terminal keeps rich from wrapping the messages the tests look for.
    return CliRunner().invoke(
        main, ["validate", *map(str, args)], env={"COLUMNS": "400", **(env or {})}
    )


def as_json(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, dict]:
    result = hrupload(*args, "--json", env=env)
    doc = json.loads(result.stdout)
    assert (doc["schema"], doc["version"], doc["kind"]) == ("hrupload", 1, "validate")
    (report,) = doc["data"]["files"]  # one file: the same list as several
    return result.exit_code, report


def write(tmp_path: Path, text: str | bytes, name: str = "export.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_all_valid_exits_0_with_a_summary() -> None:
    result = hrupload(SAMPLES / "resignation.csv")
    assert result.exit_code == 0, result.output
    assert "resignation.csv: 2 rows, 2 valid, 0 rejected, 0 blank" in result.stdout
    assert "resignation" in result.stdout.split("blank", 1)[1]


def test_one_row_is_counted_in_the_singular(tmp_path: Path) -> None:
    path = write(tmp_path, f"{RESIGNATION}\r\nsomeone@contoso.com,{D1},{D1}\r\n")
    result = hrupload(path)
    assert result.exit_code == 0, result.output
    assert "export.csv: 1 row, 1 valid, 0 rejected, 0 blank" in result.stdout


def test_rejected_rows_exit_3_with_the_error_table() -> None:
    result = hrupload(SAMPLES / "multi-scenario.csv")
    assert result.exit_code == 3, result.output
    out = result.stdout
    assert "8 rows, 6 valid, 2 rejected, 0 blank" in out
    for scenario in ("resignation", "job-level-change", "performance-improvement-plan"):
        assert scenario in out
    assert "EffectiveDate" in out and "missing-value" in out
    assert "shifted columns?" in out


def test_file_error_exits_1(tmp_path: Path) -> None:
    result = hrupload(write(tmp_path, b"\x00\x01binary"))
    assert result.exit_code == 1
    assert "NUL bytes" in result.stdout
    assert "[binary-file]" in result.stdout


def test_zero_rows_exit_0(tmp_path: Path) -> None:
    result = hrupload(write(tmp_path, RESIGNATION + "\n\n,,\n"))
    assert result.exit_code == 0
    assert "0 rows, 0 valid, 0 rejected, 2 blank" in result.stdout


def test_json_report_shape() -> None:
    code, doc = as_json(SAMPLES / "hr-system.csv", "--profile", SAMPLES / "hr-system.profile.json")
    assert code == 3
    assert {"file", "rows", "valid", "rejected", "blank", "scenarios", "errors", "file_error"} <= (
        set(doc)
    )
    assert doc["file"].endswith("hr-system.csv")
    assert (doc["rows"], doc["valid"], doc["rejected"], doc["blank"]) == (5, 3, 2, 1)
    assert doc["scenarios"] == {
        "resignation": {"valid": 1, "rejected": 1},
        "performance-review": {"valid": 2, "rejected": 1},
    }
    assert doc["file_error"] is None
    assert doc["errors"] == [
        {
            "line": 6,
            "column": "Work Email",
            "code": "invalid-email",
            "message": doc["errors"][0]["message"],
        },
        {
            "line": 7,
            "column": "Work Email",
            "code": "missing-value",
            "message": doc["errors"][1]["message"],
        },
    ]
    assert "meganb" not in json.dumps(doc)


def test_json_file_error(tmp_path: Path) -> None:
    code, doc = as_json(write(tmp_path, "EmailAddress,EmailAddress\n"))
    assert code == 1
    assert doc["rows"] == 0
    assert doc["file_error"]["code"] == "duplicate-header"
    assert "appears twice" in doc["file_error"]["message"]


def test_profile_from_the_environment_inline() -> None:
    profile = (SAMPLES / "hr-system.profile.json").read_text()
    code, doc = as_json(SAMPLES / "hr-system.csv", env={"HRUPLOAD_PROFILE": profile})
    assert (code, doc["valid"]) == (3, 3)


def test_scenario_option(tmp_path: Path) -> None:
    path = write(tmp_path, f"EmailAddress,EffectiveDate\na@contoso.com,{D1}\n")
    assert hrupload(path).exit_code == 1
    code, doc = as_json(path, "--scenario", "PERFORMANCE-REVIEW")
    assert code == 0
    assert doc["scenarios"] == {"performance-review": {"valid": 1, "rejected": 0}}


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--scenario", "promotion"], "--scenario"),
        (["--profile", "/nonexistent/profile.json"], "--profile"),
        (["--profile", '{"scenarios": {"promotion": {}}}'], "--profile"),
        (["--profile", '{"date_formats": ["%Q"]}'], "--profile"),
        (["--max-file-mb", "0"], "--max-file-mb"),
    ],
)
def test_usage_errors_exit_2_and_name_the_option(args: list[str], option: str) -> None:
    result = hrupload(SAMPLES / "resignation.csv", *args)
    assert result.exit_code == 2
    assert option in result.output
    if "promotion" in args[1]:
        assert "'promotion'" in result.output


def test_no_files_is_a_usage_error() -> None:
    assert hrupload().exit_code == 2


def test_missing_file_is_a_file_error(tmp_path: Path) -> None:
    code, doc = as_json(tmp_path / "nope.csv")
    assert code == 1
    assert doc["file_error"]["code"] == "unreadable"


def test_file_over_the_size_limit(tmp_path: Path) -> None:
    path = write(tmp_path, RESIGNATION + "\n" + "x" * (2 << 20))
    code, doc = as_json(path, "--max-file-mb", "1")
    assert code == 1
    assert doc["file_error"]["code"] == "file-too-large"


def test_several_files_exit_with_the_worst_and_json_is_a_list(tmp_path: Path) -> None:
    good = SAMPLES / "resignation.csv"
    result = hrupload(good, SAMPLES / "multi-scenario.csv", "--json")
    assert result.exit_code == 3
    assert [d["rejected"] for d in json.loads(result.stdout)["data"]["files"]] == [0, 2]
    assert hrupload(good, write(tmp_path, b"")).exit_code == 1


def test_only_the_first_errors_are_tabled(tmp_path: Path) -> None:
    rows = "".join(f"bad{i},{D1},{D1}\n" for i in range(30))
    result = hrupload(write(tmp_path, RESIGNATION + "\n" + rows))
    assert result.exit_code == 3
    assert "… 10 more errors; --json lists them all" in result.stdout
    assert result.stdout.count("invalid-email") == 20


def test_markup_like_names_are_printed_not_interpreted(tmp_path: Path) -> None:
    path = write(tmp_path, "[/],[bold]Mail\n", name="odd[b]name.csv")
    result = hrupload(path)
    assert result.exit_code == 1, result.output
    assert "'[/]', '[bold]Mail'" in result.stdout
    assert "odd[b]name.csv" in result.stdout
    multi = write(tmp_path, "HRScenario,EmailAddress,[/red]\nPromotion,a@contoso.com,x\n")
    result = hrupload(multi)
    assert result.exit_code == 3, result.output
    assert "unknown-scenario" in result.stdout


def test_values_never_reach_the_output(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        RESIGNATION + f"\nmarta.ortiz@contoso,{D1},{D1}\nmarta ortiz@contoso.com,{D1},{D1}\n",
    )
    text = hrupload(path)
    code, doc = as_json(path)
    assert text.exit_code == code == 3
    assert "marta" not in text.output
    assert "marta" not in json.dumps(doc)


def test_installed_command_no_traceback_for_bad_input(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}
    cases = {
        "binary.csv": (bytes(range(256)) * 8, 1),
        "latin1.csv": ((RESIGNATION + "\nJosé@contoso.com,,\n").encode("latin-1"), 1),
        "markup.csv": (b"[/],x\n", 1),
        "mixed.csv": (f"{RESIGNATION}\nbad,{D1},{D1}\n".encode(), 3),
        "empty.csv": (b"", 1),
    }
    for name, (content, expected) in cases.items():
        path = write(tmp_path, content, name=name)
        for extra in ([], ["--json"]):
            done = subprocess.run(
                [HRUPLOAD, "validate", path, *extra],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
                check=False,
            )
            assert "Traceback" not in done.stderr + done.stdout, (name, done.stderr)
            assert done.returncode == expected, (name, extra, done.stdout, done.stderr)
            if extra:
                json.loads(done.stdout)
    done = subprocess.run(
        [HRUPLOAD, "validate", path, "--scenario", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--scenario" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["validate", "upload", "process"])
def test_a_hostile_profile_exits_2_naming_the_setting_without_a_traceback(
    tmp_path: Path, command: str
) -> None:
    """Deeply nested (the parser's stack) or huge (memory): a configuration error."""
    deep = tmp_path / "deep.json"
    deep.write_text('{"description": ' + "[" * 50_000 + "]" * 50_000 + "}")
    huge = tmp_path / "huge.json"
    huge.write_text('{"description": "' + "x" * (1 << 20) + '"}')
    source = write(tmp_path, f"{RESIGNATION}\na@contoso.com,{D1},{D1}\n")
    for profile in (deep, huge):
        env = {
            **os.environ,
            "HRUPLOAD_PROFILE": str(profile),
            # storage that is never reached: the profile is refused first
            "HR_STORAGE": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            "AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/a;TableEndpoint=http://127.0.0.1:9/a",
        }
        args = {
            "validate": ["validate", str(source)],
            "upload": ["upload", "--dry-run", str(source)],
            "process": ["process", "hr-incoming/export.csv"],
        }[command]
        done = subprocess.run(
            [str(HRUPLOAD), *args], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2, done.stderr
        assert "HRUPLOAD_PROFILE" in done.stderr and "Traceback" not in done.stderr


# -- how files are written: delimiters and legacy encodings ----------------------------------

EUROPE = SAMPLES / "excel-semicolon-cp1252.csv"
UNICODE_TEXT = SAMPLES / "excel-unicode-text.txt"


def test_a_windows_1252_export_is_refused_naming_the_encoding_option() -> None:
    result = hrupload(EUROPE)
    assert result.exit_code == 1, result.output
    out = " ".join(result.stdout.split())
    assert "not UTF-8 or UTF-16: undecodable byte 0xFC" in out and "(line 2)" in out
    assert 'set the profile\'s "encoding" (or --encoding cp1252)' in out
    assert "[not-utf8]" in out


@pytest.mark.parametrize(
    "how",
    [
        ["--encoding", "cp1252"],
        ["--encoding", "Windows-1252", "--delimiter", ";"],
        ["--profile", str(SAMPLES / "excel-semicolon-cp1252.profile.json")],
    ],
    ids=["option", "both-options", "profile"],
)
def test_a_semicolon_windows_1252_export_validates_by_choice(how: list[str]) -> None:
    code, doc = as_json(EUROPE, *how)
    assert code == 3
    assert (doc["encoding"], doc["delimiter"]) == ("cp1252", ";")
    assert (doc["rows"], doc["valid"], doc["rejected"]) == (4, 3, 1)
    assert doc["scenarios"] == {"employee-profile": {"valid": 3, "rejected": 1}}
    assert [(e["line"], e["code"]) for e in doc["errors"]] == [(5, "invalid-email")]
    assert "EmployeeAddressLine2" in doc["header"]


def test_excel_unicode_text_validates_as_it_is() -> None:
    code, doc = as_json(UNICODE_TEXT)
    assert code == 3
    assert (doc["encoding"], doc["delimiter"]) == ("utf-16", "\t")
    assert (doc["valid"], doc["rejected"]) == (2, 1)
    assert doc["header"] == ["EmailAddress", "ResignationDate", "LastWorkingDate"]
    text = hrupload(UNICODE_TEXT).stdout
    assert "read as utf-16, fields separated by tab" in text
    assert "read as" not in hrupload(SAMPLES / "resignation.csv").stdout


def test_an_ambiguous_header_says_so_and_names_the_delimiter_field(tmp_path: Path) -> None:
    path = write(tmp_path, "Work Email,Site;Notice Date\r\na@contoso.com,x;y\r\n")
    result = hrupload(path)
    assert result.exit_code == 1
    out = " ".join(result.stdout.split())
    assert "could be separated by ',' and ';'" in out
    assert 'the profile\'s "delimiter" (or --delimiter)' in out
    assert "[ambiguous-delimiter]" in out
    code, doc = as_json(path, "--delimiter", ";", "--scenario", "resignation")
    assert code == 1
    assert doc["delimiter"] == ";" and doc["file_error"]["code"] == "missing-column"
    assert doc["header"] == ["Work Email,Site", "Notice Date"]


def test_a_quoted_semicolon_in_a_comma_file_does_not_fool_the_detection(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'{RESIGNATION},"Notes; free text"\r\n'
        f'a@contoso.com,{D1},{D1},"one; two; three"\r\nb@contoso.com,{D1},{D1},x;y\r\n',
    )
    code, doc = as_json(path)
    assert code == 0, doc
    assert (doc["delimiter"], doc["valid"]) == (",", 2)


@pytest.mark.parametrize(
    ("args", "hint", "words"),
    [
        (["--encoding", "klingon"], "'--encoding'", "unknown encoding 'klingon'"),
        (["--encoding", "rot13"], "'--encoding'", "cannot read a CSV export"),
        (["--delimiter", ":"], "'--delimiter'", "delimiter must be one of"),
        (["--profile", '{"encoding": "ebcdic-x"}'], "'--profile'", "unknown encoding"),
    ],
)
def test_an_unusable_encoding_or_delimiter_is_a_usage_error(args, hint: str, words: str) -> None:
    result = hrupload(SAMPLES / "resignation.csv", *args)
    assert result.exit_code == 2
    assert hint in result.output and words in result.output
    assert "Traceback" not in result.output


def test_choosing_how_files_are_read_keeps_the_hrscenario_column() -> None:
    code, doc = as_json(SAMPLES / "multi-scenario.csv", "--encoding", "utf-8", "--delimiter", ",")
    assert code == 3
    assert len(doc["scenarios"]) == 4
