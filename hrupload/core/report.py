"""The validation report: one data model for the CLI, the Function's ``*.report.json``,
the run log and the tests.

Messages in a report never quote a cell's value: the report travels to logs and
storage metadata, and values may be personal data. The rejected-rows CSV (the
user's own data) is where values appear.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

#: Reports keep at most this many row errors; the rejected-rows CSV always has all.
MAX_REPORT_ERRORS = 10_000

#: Every code a report's errors carry, and what it means: the one catalogue. An engine, a
#: rule or a front door raising a code not listed here fails tests/core/test_report.py, and
#: so does a code the README's table of codes leaves out.
FILE_CODES: dict[str, str] = {
    "empty-file": "the file has no bytes",
    "file-too-large": "the file is over the size limit",
    "binary-file": "the file holds NUL bytes: it is not a CSV export",
    "not-utf8": "the file is neither UTF-8 nor UTF-16 with a BOM",
    "undecodable": "the file is not in the encoding the profile or --encoding names",
    "unsupported-encoding": "the file is in an encoding the connector cannot take (UTF-32)",
    "no-header": "the first line is empty or unreadable",
    "ambiguous-delimiter": "the header line could be split by more than one delimiter",
    "too-many-columns": "the header has more columns than an HR export may have",
    "header-too-large": "the header alone fills an upload chunk",
    "duplicate-header": "two columns have the same name, ignoring case",
    "missing-column": "a required column is not in the header",
    "ambiguous-scenario": "the header fits several scenarios and nothing says which",
    "unknown-scenario": "the header fits no scenario, or a scenario named is unknown",
}
ROW_CODES: dict[str, str] = {
    "malformed-row": "broken quoting, or a record over the size limit",
    "extra-fields": "the row has more fields than the header",
    "row-too-large": "the row cannot fit in one upload chunk with the header",
    "missing-value": "a required field, or the scenario column, is empty",
    "missing-column": "a multi-scenario row's scenario needs a column the header lacks",
    "unknown-scenario": "the scenario column holds no accepted value",
    "invalid-email": "the address is not a usable UPN or e-mail address",
    "invalid-date": "the date is not ISO 8601 nor in one of the profile's date_formats",
    "ambiguous-date": "two of the profile's date_formats read the date as different dates",
    "too-long": "the value is over its field's limit",
}


#: Two digits in a row, or a digit first: a zip code, a date, a street number, a phone
#: number. Column names rarely hold either ("AddressLine1" does not).
_VALUE_LIKE = re.compile(r"\d\d|^\s*\d")


def value_kind(cell: str) -> str | None:
    """What a header cell looks like when it is a value, not a column name (the export had
    no header line and its first record was read as one), else None.

    One heuristic for every message: a cell it picks is never shown, and a header with such a
    cell is never listed at all (a name or an address beside it would not look like a value).
    """
    if "@" in cell:
        return "an email address"
    if _VALUE_LIKE.search(cell):
        return "a date" if re.search(r"\d[-/.]\d", cell) else "a number"
    return None


def shown_header(name: str) -> str:
    """A header name as a report may show it: a cell that looks like a value (see
    :func:`value_kind`) is personal data more often than not, and reports must not carry it.
    """
    kind = value_kind(name)
    return f"({kind})" if kind else name


def header_looks_like_data(header: list[str]) -> bool:
    return any(value_kind(h) for h in header)


@dataclass(frozen=True)
class RowError:
    line: int
    column: str | None
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        # by hand: asdict deep-copies every value, and a report holds thousands of these
        return {
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "message": self.message,
        }


@dataclass(frozen=True)
class FileError:
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FileProblem(Exception):
    """Raised inside the engine when the file as a whole cannot be used."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.error = FileError(code, message)


class Facts(Protocol):
    """What a scan finds (``csvread.FileFacts``, which reads files and so is not here)."""

    size: int
    sha256: str | None
    encoding: str
    delimiter: str


@dataclass
class Report:
    """What one file holds and what is wrong with it. Its counts change only through its
    methods (``add_row``, ``add_blank``, ``add_valid``, ``see``), whichever engine reads
    the file; ``rows`` and ``valid`` are derived, not stored."""

    file: str
    bytes: int = 0
    sha256: str | None = None
    encoding: str | None = None
    #: the delimiter the file was read with (its chunks are always comma-separated)
    delimiter: str | None = None
    header: list[str] = field(default_factory=list)
    rejected: int = 0
    blank: int = 0
    #: per scenario, in the order the file first has a row of it: valid and rejected rows
    scenarios: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    errors_truncated: int = 0
    error_counts: dict[str, int] = field(default_factory=dict)
    file_error: FileError | None = None

    @property
    def valid(self) -> int:
        # a valid row always has its scenario
        return sum(counts["valid"] for counts in self.scenarios.values())

    @property
    def rows(self) -> int:
        return self.valid + self.rejected

    def note(self, facts: Facts) -> None:
        """What the scan found: size, fingerprint, and how the file is read."""
        self.bytes, self.sha256 = facts.size, facts.sha256
        self.encoding, self.delimiter = facts.encoding, facts.delimiter

    def see(self, scenario: str) -> dict[str, int]:
        """The scenario's counts, made (in file order) when it is first met."""
        counts = self.scenarios.get(scenario)
        if counts is None:
            counts = self.scenarios[scenario] = {"valid": 0, "rejected": 0}
        return counts

    def add_row(self, scenario: str | None, errors: list[RowError]) -> None:
        """One row checked: valid with no ``errors`` (it then has a ``scenario``)."""
        if not errors:
            if scenario is None:
                raise ValueError("a valid row has a scenario")
            self.see(scenario)["valid"] += 1
            return
        self.rejected += 1
        if scenario is not None:
            self.see(scenario)["rejected"] += 1
        for err in errors:
            self.error_counts[err.code] = self.error_counts.get(err.code, 0) + 1
            if len(self.errors) < MAX_REPORT_ERRORS:
                self.errors.append(err)
            else:
                self.errors_truncated += 1

    def add_valid(self, scenario: str, count: int) -> None:
        """``count`` valid rows of ``scenario`` at once (the fast engine's proven rows)."""
        self.see(scenario)["valid"] += count

    def add_blank(self) -> None:
        """A blank line: counted, neither valid nor rejected."""
        self.blank += 1

    def exit_code(self) -> int:
        """0 all rows valid (or none), 3 some rows rejected, 1 the file is unusable."""
        if self.file_error is not None:
            return 1
        return 3 if self.rejected else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            # a header that looks like data is a record of personal data: not shown at all
            "header": []
            if header_looks_like_data(self.header)
            else [shown_header(h) for h in self.header],
            "rows": self.rows,
            "valid": self.valid,
            "rejected": self.rejected,
            "blank": self.blank,
            "scenarios": self.scenarios,
            "error_counts": self.error_counts,
            "errors": [e.to_dict() for e in self.errors],
            "errors_truncated": self.errors_truncated,
            "file_error": self.file_error.to_dict() if self.file_error else None,
        }


def count(n: int, word: str) -> str:
    """``n`` and ``word``, plural unless one: "1 row", "2 rows", "0 files"; how every
    front door (the CLI, the web page, the demo) counts in a sentence."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
