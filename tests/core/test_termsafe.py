"""Terminal-safe output (issue 11, point 9): a blob name, a file name or a column name can
not clear the screen, reorder what is shown, or forge a line.

The attack runs through ``hrupload process``, ``sweep``, ``status`` and ``validate`` on real
blobs in Azurite and real files, and through the blob trigger; every line they print and
every log record they make is searched for a raw control or format character.
"""

from __future__ import annotations

import json
import logging
import os
import unicodedata
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from hrupload import functions
from hrupload.cli.main import main
from hrupload.core.termsafe import json_safe, logger, printable
from tests.invariants import hr_csv
from tests.reliability import settings_env

UNSAFE = {"Cc", "Cf", "Zl", "Zp", "Cs"}
HEADER = "EmailAddress,ResignationDate,LastWorkingDate"
ROW = "a@contoso.com,2026-11-02T09:30:00Z,2026-11-30T00:00:00Z"
#: Each one tries something else on the operator's terminal. These are listed by the
#: sweep; names with C0 controls other than a line feed cannot be (Azurite's listing is
#: XML, where they are not allowed) and are processed by name below.
HOSTILE = {
    "forge": "resignation/a\nuploaded resignation/FAKE LINE.csv",
    "bidi": "resignation/report\u202evsc.exe",
    "invisible": "resignation/zero\u200bwidth\u2028sep\x9b31m\u2066.csv",
    "markup": "resignation/[red]x[/red] [/].csv",
}
#: Processed by name (``hrupload process``, the blob trigger): never listed.
BY_NAME = {
    "clear": "resignation/\x1b[2J\x1b[31mclear.csv",
    "overwrite": "resignation/b\r\x1b[Kuploaded over\x07.csv",
}
READABLE = "resignation/résumé 日本 Ünïcode.csv"


def unsafe_chars(text: str, *, lines: bool) -> list[str]:
    """The characters of ``text`` that act on a terminal; ``lines=True`` allows the line
    breaks the program itself prints between its lines."""
    return [
        repr(c) for c in text if unicodedata.category(c) in UNSAFE and not (lines and c == "\n")
    ]


def assert_terminal_safe(text: str, where: str) -> None:
    assert unsafe_chars(text, lines=True) == [], f"raw control characters in {where}"
    for line in text.splitlines():
        # The forged lines would start with these; the real ones start with a status word.
        assert not line.lstrip().startswith(("uploaded resignation/FAKE", "uploaded over")), (
            f"a forged line in {where}: {line!r}"
        )


# -- the function -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("a\nb\r\tc\x7f", "a\\x0ab\\x0d\\x09c\\x7f"),
        ("\x9b31m", "\\x9b31m"),  # the single-byte CSI of C1
        ("abc\u202edef\u2066\u2069", "abc\\u202edef\\u2066\\u2069"),
        ("zero\u200bwidth\ufeff", "zero\\u200bwidth\\ufeff"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("undecodable \udcff", "undecodable \\udcff"),
    ],
)
def test_controls_breaks_and_format_characters_are_shown_escaped(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_letters_of_every_script_stay_readable() -> None:
    for text in (READABLE, "Zoë Ægir 東京 Москва مرحبا", "C:\\HR\\export [1].csv", "a b"):
        assert printable(text) == text


@given(st.text())
def test_whatever_goes_in_one_line_of_visible_text_comes_out(text: str) -> None:
    shown = printable(text)
    assert unsafe_chars(shown, lines=False) == []
    assert "\n" not in shown and "\r" not in shown


@given(st.recursive(st.text() | st.integers(), lambda inner: st.lists(inner, max_size=3)))
def test_json_made_safe_is_the_same_document(value) -> None:
    doc = json.dumps({"header": value}, indent=2, ensure_ascii=False)
    safe = json_safe(doc)
    assert json.loads(safe) == {"header": value}
    assert unsafe_chars(safe, lines=True) == []


def test_the_logger_escapes_messages_arguments_and_fields_and_keeps_the_caller(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logger("hrupload.test")
    with caplog.at_level(logging.INFO, logger="hrupload.test"):
        log.info("moved %s", HOSTILE["forge"], extra={"blob": BY_NAME["clear"], "rows": 3})
    (record,) = caplog.records
    assert record.getMessage() == "moved resignation/a\\x0auploaded resignation/FAKE LINE.csv"
    assert record.blob == "resignation/\\x1b[2J\\x1b[31mclear.csv"
    assert record.rows == 3  # numbers keep their type for App Insights
    assert (
        record.funcName
        == "test_the_logger_escapes_messages_arguments_and_fields_and_keeps_the_caller"
    )


# -- through the commands, on real blobs --------------------------------------------------------


class Records(logging.Handler):
    """Every record from hrupload's own loggers, whole."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("hrupload") and not record.name.startswith("hrupload_dev"):
            self.records.append(record)

    def assert_safe(self) -> None:
        standard = set(vars(logging.makeLogRecord({})))
        assert self.records, "no log record was made: the test would prove nothing"
        for record in self.records:
            texts = {"message": record.getMessage()}
            texts |= {
                k: v for k, v in vars(record).items() if k not in standard and isinstance(v, str)
            }
            for field, text in texts.items():
                assert unsafe_chars(text, lines=False) == [], (record.name, field, text)


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    hr = logging.getLogger("hrupload")
    level = hr.level
    hr.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)
        hr.setLevel(level)


@pytest.fixture
def cli_env(azurite, hr_storage, connector_standin, monkeypatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith("HRUPLOAD_"):
            monkeypatch.delenv(name)
    return settings_env(hr_storage, connector_standin, HRUPLOAD_DEDUPE_HOURS="0") | {
        "HR_STORAGE": azurite.connection_string
    }


def hostile_header_file() -> bytes:
    """A file whose header names carry the same attacks: the file error quotes them."""
    cells = ["EmailAddress", '"Resignation\x1b[2JDate\nuploaded resignation/FAKE LINE.csv"']
    cells.append("LastWorking\u202eDate\u200b")
    return ("\r\n".join([",".join(cells), ROW]) + "\r\n").encode()


def test_process_sweep_and_status_print_hostile_names_escaped(
    hr_storage, connector_standin, cli_env, records: Records
) -> None:
    storage = hr_storage
    runner = CliRunner()
    processed = []
    for name in BY_NAME.values():
        storage.put_blob(storage.incoming, name, hr_csv("p", 2, 1))
        result = runner.invoke(main, ["process", f"{storage.incoming}/{name}"], env=cli_env)
        assert result.exit_code == 3, result.output  # partial: the rejected row
        processed.append(result)
    storage.put_blob(storage.incoming, "resignation/bad header.csv", hostile_header_file())
    header = runner.invoke(
        main, ["process", f"{storage.incoming}/resignation/bad header.csv"], env=cli_env
    )
    assert header.exit_code == 1, header.output
    for name in [*HOSTILE.values(), READABLE]:
        storage.put_blob(storage.incoming, name, hr_csv("s", 2, 1))
    swept = runner.invoke(main, ["sweep"], env=cli_env)
    assert swept.exit_code == 3, swept.output  # every file partial: one row rejected in each
    status = runner.invoke(main, ["status"], env=cli_env)
    wide = runner.invoke(main, ["status"], env=cli_env | {"COLUMNS": "400"})  # names unfolded
    assert status.exit_code == 0, status.output

    # Every file went through: escaping is for showing names, not for refusing them.
    assert [b.name for b in storage.list_blobs(storage.incoming)] == [], swept.stdout
    assert len(connector_standin.uploads) == len(BY_NAME) + len(HOSTILE) + 1
    results = [("process", r) for r in processed] + [("bad header", header), ("sweep", swept)]
    for label, result in results:
        for stream in ("stdout", "stderr"):
            assert_terminal_safe(getattr(result, stream), f"{label} {stream}")
    assert "resignation/\\x1b[2J\\x1b[31mclear.csv" in processed[0].stdout
    assert "resignation/b\\x0d\\x1b[Kuploaded over\\x07.csv" in processed[1].stdout
    assert "Resignation\\x1b[2JDate\\nuploaded" in header.stdout  # the header cell, quoted
    assert "LastWorking\\u202eDate\\u200b" in header.stdout
    for shown in (
        "resignation/a\\x0auploaded resignation/FAKE LINE.csv",
        "resignation/report\\u202evsc.exe",
        "resignation/zero\\u200bwidth\\u2028sep\\x9b31m\\u2066.csv",
        "resignation/[red]x[/red] [/].csv",  # not read as markup
        READABLE,
    ):
        assert shown in swept.stdout, shown
    # Off a terminal, one tab-separated line per run, names whole: the tabs are the
    # separators the program prints; every cell between them is escaped.
    for cell in status.stdout.replace("\t", "\n").splitlines():
        assert_terminal_safe(cell, "status stdout")
    assert wide.stdout == status.stdout  # no wrapping, whatever the width
    for shown in ("b\\x0d\\x1b[Kuploaded over\\x07.csv", "report\\u202evsc.exe", READABLE):
        assert shown in status.stdout, shown
    assert all(line.count("\t") == 7 for line in status.stdout.splitlines())
    records.assert_safe()


def test_validate_prints_and_emits_json_without_raw_controls(tmp_path) -> None:
    source = tmp_path / "resignation \x1b[2J\u202e.csv"
    source.write_bytes(hostile_header_file())
    runner = CliRunner()

    shown = runner.invoke(main, ["validate", str(source)])
    as_json = runner.invoke(main, ["validate", "--json", str(source)])

    assert shown.exit_code == 1 and as_json.exit_code == 1
    assert_terminal_safe(shown.stdout, "validate")
    assert "resignation \\x1b[2J\\u202e.csv" in shown.stdout
    assert unsafe_chars(as_json.stdout, lines=True) == []
    (doc,) = json.loads(as_json.stdout)["data"][
        "files"
    ]  # the same data: JSON escapes, not lost characters
    assert doc["header"][2] == "LastWorking\u202eDate\u200b"
    assert doc["file"] == str(source)


def test_the_blob_trigger_logs_hostile_names_escaped(
    azurite, hr_storage, connector_standin, monkeypatch, records: Records
) -> None:
    env = settings_env(hr_storage, connector_standin) | {"HR_STORAGE": azurite.connection_string}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    names = [*HOSTILE.values(), *BY_NAME.values()]
    for i, name in enumerate(names):
        hr_storage.put_blob(hr_storage.incoming, name, hr_csv(f"f{i}", 1))  # not duplicates
        result = functions.on_blob(SimpleNamespace(blob_name=name))
        assert result.status == "uploaded"
    handled = [r for r in records.records if r.getMessage() == "blob handled"]
    assert len(handled) == len(names)
    assert f"{hr_storage.incoming}/resignation/\\x1b[2J\\x1b[31mclear.csv" in {
        r.blob for r in handled
    }
    records.assert_safe()
