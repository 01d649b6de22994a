"""Writing CSV: upload chunks for the connector, and the rejected-rows file for people.

Both are built with the csv module from parsed fields, never by slicing lines, so a
quoted value with commas or newlines always stays one value inside one chunk.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable
from typing import IO

from hrupload.report import RowError

#: Excel runs a cell that starts with one of these as a formula; the rejected-rows CSV
#: is opened by people in Excel, so such cells get a leading apostrophe there (only).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_line(fields: Iterable[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(fields)
    return out.getvalue()


class ChunkBuilder:
    """Collects valid rows into complete CSV documents of at most ``size`` records."""

    def __init__(self, header: list[str], size: int) -> None:
        self.size = size
        self._header = csv_line(header)
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")
        self.count = 0

    def add(self, fields: list[str]) -> bytes | None:
        """Add a row; returns the finished chunk when this row filled it."""
        self._writer.writerow(fields)
        self.count += 1
        if self.count >= self.size:
            return self.flush()
        return None

    def flush(self) -> bytes | None:
        if not self.count:
            return None
        data = (self._header + self._buffer.getvalue()).encode("utf-8")
        self._buffer.seek(0)
        self._buffer.truncate()
        self.count = 0
        return data


def neutralise(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


class RejectedRows:
    """The rejected rows with an Error column, spooled to disk past a few MB."""

    def __init__(self, header: list[str]) -> None:
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115
        self._text = io.TextIOWrapper(self.file, encoding="utf-8", newline="", write_through=True)
        self._writer = csv.writer(self._text, lineterminator="\r\n")
        self._writer.writerow([*(neutralise(h) for h in header), "Error"])
        self.count = 0

    def add(self, line: int, fields: list[str], errors: list[RowError]) -> None:
        reason = "; ".join(
            f"line {e.line}: " + (f"{e.column}: " if e.column else "") + f"{e.message} [{e.code}]"
            for e in errors
        )
        self._writer.writerow([*(neutralise(v) for v in fields), reason])
        self.count += 1

    def finish(self) -> IO[bytes]:
        """The finished CSV, rewound for reading."""
        self._text.flush()
        self._text.detach()
        self.file.seek(0)
        return self.file
