"""Writing CSV: upload chunks for the connector, and the rejected-rows file for people.

Both are built with the csv module from parsed fields, never by slicing lines, so a
quoted value with commas or newlines always stays one value inside one chunk.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

from hrupload.core.report import RowError

#: Excel runs a cell that starts with one of these as a formula; the rejected-rows CSV
#: is opened by people in Excel, so such cells get a leading apostrophe there (only).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Chunk:
    """One upload document: the header line and ``records`` valid rows, UTF-8."""

    data: bytes
    records: int


def csv_line(fields: Iterable[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(fields)
    return out.getvalue()


class ChunkBuilder:
    """Collects valid rows into complete CSV documents of at most ``size`` records and, with
    ``max_bytes``, at most that many bytes (the header line included): a row that would not
    fit starts the next chunk. A row too large for any chunk is the checker's to reject
    (``Checker.max_row_bytes``); one that gets here anyway goes alone, never dropped."""

    def __init__(self, header: list[str], size: int, max_bytes: int | None = None) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._header = csv_line(header).encode("utf-8")
        self._rows: list[bytes] = []
        self._bytes = len(self._header)
        self._line = io.StringIO()
        self._writer = csv.writer(self._line, lineterminator="\r\n")
        self.count = 0
        #: records in the chunk ``add`` or ``flush`` returned last
        self.flushed = 0

    def add(self, fields: list[str]) -> bytes | None:
        """Add a row; returns the chunk finished by this row: the one it filled, or the one
        before it when it did not fit there (at most one: a chunk of one record is full)."""
        self._line.seek(0)
        self._line.truncate()
        self._writer.writerow(fields)
        line = self._line.getvalue().encode("utf-8")
        done = None
        if self.count and self.max_bytes is not None and self._bytes + len(line) > self.max_bytes:
            done = self.flush()
        self._rows.append(line)
        self._bytes += len(line)
        self.count += 1
        if self.count >= self.size:
            assert done is None
            return self.flush()
        return done

    def flush(self) -> bytes | None:
        if not self.count:
            return None
        data = self._header + b"".join(self._rows)
        self._rows.clear()
        self._bytes = len(self._header)
        self.flushed, self.count = self.count, 0
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
