"""Reading HR CSV files as a stream: encoding, fingerprint, and records with line numbers.

A file is read twice. The first pass (``scan``) is cheap and native-speed: it
checks the encoding and NUL bytes, finds the delimiter from the header line
(:mod:`hrupload.core.dialect`) and computes the SHA-256 that keys resume state
and de-duplication. Only a file that passes it is parsed, so a bad byte near the
end can never leave half a file uploaded.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from hrupload.core.dialect import (
    DEFAULT_DIALECT,
    DELIMITERS,
    ENCODING_FIELD,
    Dialect,
    detect_delimiter,
)
from hrupload.core.report import FileProblem

BLOCK = 1 << 20
#: A field longer than this is an unbalanced quote far more often than real data;
#: the record is rejected and reading resumes on the next line.
FIELD_LIMIT = 1 << 20


def allow_long_fields() -> None:
    """Let the csv module read fields up to ``FIELD_LIMIT`` (its default is 128 KiB).

    The limit is the csv module's, for the whole process: it is raised when reading starts,
    not at import, and never lowered (every reader here wants the same), so no other reader
    in the process is made stricter.
    """
    if csv.field_size_limit() < FIELD_LIMIT:
        csv.field_size_limit(FIELD_LIMIT)


_BOMS = (
    (codecs.BOM_UTF32_LE, None),  # checked before UTF-16 LE, which is its prefix
    (codecs.BOM_UTF32_BE, None),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass(frozen=True)
class FileFacts:
    size: int
    #: None when the scan was asked not to hash (``hrupload validate``)
    sha256: str | None
    encoding: str
    #: one of ``dialect.DELIMITERS``: the dialect's, or detected from the header line
    delimiter: str = ","


def detect_encoding(head: bytes, chosen: str | None = None) -> str:
    """What the byte order mark says, else the ``chosen`` legacy encoding, else UTF-8. A
    mark wins over a choice: it is unambiguous, and a profile serves many exports."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            if codec is None:
                raise FileProblem(
                    "unsupported-encoding",
                    "the file is UTF-32; save it as UTF-8 (in Excel: 'CSV UTF-8') and try again",
                )
            return codec
    return chosen or "utf-8"


def scan(
    stream: BinaryIO,
    *,
    max_bytes: int | None = None,
    fingerprint: bool = True,
    dialect: Dialect = DEFAULT_DIALECT,
) -> FileFacts:
    """Check that the whole file decodes and holds no NUL bytes, and find its delimiter;
    hash it on the way (unless ``fingerprint`` is false: then ``sha256`` is None)."""
    scanner = Scanner(max_bytes=max_bytes, fingerprint=fingerprint, dialect=dialect)
    while block := stream.read(BLOCK):
        scanner.feed(block)
    return scanner.finish()


class Scanner:
    """The checks of :func:`scan`, fed one read at a time.

    A reader that parses as it goes (the fast validation path) feeds the same blocks here
    and so reports exactly what ``scan`` would. Feed it reads of ``BLOCK`` bytes, as
    ``scan`` does: the size limit is checked at block boundaries.

    ``feed`` is ``note`` (size, hash, encoding) then ``check`` (decoding, NUL bytes). A
    reader that checks the text itself, off the main thread, notes each read as it comes
    and later either vouches for a stretch it found sound or has it checked here, in
    file order, so any problem is still reported exactly as ``scan`` words it.
    """

    def __init__(
        self,
        *,
        max_bytes: int | None = None,
        fingerprint: bool = True,
        dialect: Dialect = DEFAULT_DIALECT,
    ) -> None:
        self._max_bytes = max_bytes
        self._dialect = dialect
        self._digest: Any = None  # hashlib's SHA-256 object, when wanted
        if fingerprint:  # hashlib loads OpenSSL's libcrypto: ~4 MB of RSS a check can spare
            import hashlib

            self._digest = hashlib.sha256()
        self._decoder: codecs.IncrementalDecoder | None = None
        self.encoding = "utf-8"
        #: the dialect's, or detected once the header line has been read (None until then,
        #: and when the header leaves it open: ``finish`` then says so)
        self.delimiter: str | None = dialect.delimiter
        self._head: bytes | None = None if dialect.delimiter else b""  # reads, to the header
        #: why no delimiter was found, reported once the whole file is known to decode
        self._undecided: FileProblem | None = None
        self._offset = 0  # bytes noted
        self._checked = 0  # bytes checked or vouched for
        self._lines = 1
        #: where the read that went over the size limit ended
        self._over_at: int | None = None

    def feed(self, block: bytes | memoryview) -> None:
        """Check one non-empty read; raises :class:`FileProblem` at the first problem."""
        self._start(block)
        self.check(block)
        self._count(block)
        self._stop_if_over()

    def note(self, block: bytes | memoryview) -> None:
        """Count and hash one non-empty read whose text is checked later. A file over the
        size limit is reported once the checks reach that far: a problem before it, which
        ``scan`` would meet first, wins."""
        self._start(block)
        self._count(block)

    def check(self, data: bytes | bytearray | memoryview) -> None:
        """Check the next stretch of the file's text."""
        if not data:
            return
        if self._over_at is not None and self._checked + len(data) >= self._over_at:
            data = data[: self._over_at - self._checked]
        self._check(data, final=False)
        self._checked += len(data)
        self._stop_if_over()

    def vouch(self, size: int, newlines: int) -> None:
        """The next ``size`` bytes, ``newlines`` line breaks in them, were found sound
        elsewhere. They must end at a character boundary (a line break does)."""
        assert self._decoder is not None and not self._decoder.getstate()[0]
        self._checked += size
        self._lines += newlines
        self._stop_if_over()

    def _start(self, block: bytes | memoryview) -> None:
        if self._decoder is None:
            self.encoding = detect_encoding(bytes(block[:4]), self._dialect.encoding)
            self._decoder = codecs.getincrementaldecoder(self.encoding)(errors="strict")
        if self._head is not None:
            self._head += bytes(block[: _HEADER_BYTES - len(self._head)])
            self._find_delimiter(final=len(self._head) >= _HEADER_BYTES)

    def _find_delimiter(self, *, final: bool) -> None:
        """Detect the delimiter once the first reads hold the header line (or as much of
        it as a header may take). Bytes that do not decode are the scan's to report, and
        win over a header that leaves the delimiter open (a binary file's first "line")."""
        assert self._head is not None
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="replace")
        text = decoder.decode(self._head, final=final).removeprefix("\ufeff")
        end = min((i for i in (text.find("\n"), text.find("\r")) if i >= 0), default=-1)
        if end < 0 and not final:
            return
        self._head = None
        try:
            self.delimiter = detect_delimiter(
                text[:end] if end >= 0 else text, self._dialect.columns
            )
        except FileProblem as problem:
            # without its traceback, whose frames would keep the caller's read buffer
            self._undecided = problem.with_traceback(None)

    def _count(self, block: bytes | memoryview) -> None:
        if self._digest is not None:
            self._digest.update(block)
        self._offset += len(block)
        if self._max_bytes is not None and self._offset > self._max_bytes:
            # where ``scan``'s read that goes over the limit ends (reads here may be smaller)
            self._over_at = self._over_at or -(-(self._max_bytes + 1) // BLOCK) * BLOCK

    def _stop_if_over(self) -> None:
        if self._over_at is not None and self._checked >= self._over_at:
            assert self._max_bytes is not None
            raise FileProblem("file-too-large", _too_large(self._over_at, self._max_bytes))

    def finish(self) -> FileFacts:
        if self._decoder is None:
            raise FileProblem("empty-file", "the file is empty: expected a header line and rows")
        assert self._checked == self._offset, "every byte read is checked or vouched for"
        if self._head is not None:  # the file is one line
            self._find_delimiter(final=True)
        if self._over_at is not None:  # the file ended before a whole read past the limit
            raise FileProblem("file-too-large", _too_large(self._offset, self._max_bytes))
        self._check(b"", final=True)
        if self._undecided is not None:
            raise self._undecided
        assert self.delimiter is not None
        digest = self._digest.hexdigest() if self._digest is not None else None
        return FileFacts(self._offset, digest, self.encoding, self.delimiter)

    def _check(self, block: bytes | bytearray | memoryview, *, final: bool) -> None:
        assert self._decoder is not None
        state = self._decoder.getstate()
        try:
            text = self._decoder.decode(block, final=final)
        except UnicodeDecodeError as exc:
            raise _undecodable(
                self.encoding,
                state,
                bytes(block),
                exc,
                self._checked,
                self._lines,
                chosen=self.encoding == self._dialect.encoding,  # not a mark's
            ) from None
        if "\x00" in text:
            where = self._lines + text[: text.index("\x00")].count("\n")
            raise FileProblem(
                "binary-file",
                f"the file holds NUL bytes (line {where}): it is binary or not a CSV export. "
                "Export the data as CSV UTF-8.",
            )
        self._lines += text.count("\n")


def _undecodable(
    encoding: str,
    state: tuple[bytes, int],
    block: bytes,
    exc: UnicodeDecodeError,
    offset: int,
    lines: int,
    *,
    chosen: bool = False,
) -> FileProblem:
    """Say where the first bad byte is, and which option chooses the encoding (``chosen``:
    a profile or option named this one). ``exc`` counts from the bytes the decoder held
    back from the previous block (a character split across blocks), not from ``block``."""
    pending = state[0]
    data = pending + block
    bad = offset - len(pending) + exc.start
    # Decode the good prefix again from the same state to count lines in any encoding.
    replay = codecs.getincrementaldecoder(encoding)(errors="replace")
    replay.setstate(state)
    where = lines + replay.decode(block[: max(exc.start - len(pending), 0)]).count("\n")
    if chosen:
        code, save = "undecodable", f"Check {ENCODING_FIELD}: the export may be in another one."
    else:
        code, save = (
            "not-utf8",
            "Save it as UTF-8 (in Excel: 'CSV UTF-8 (Comma delimited)'); if the export is "
            'Windows-1252 or Latin-1, set the profile\'s "encoding" (or --encoding cp1252).',
        )
    if not block:  # only the held-back bytes were left: an incomplete last character
        return FileProblem(
            code,
            f"the file is not valid {_label(encoding)}: it ends in the middle of a character "
            f"at offset {bad} (line {where}); it may be truncated. {save}",
        )
    what = f"not valid {_label(encoding)}" if chosen else "not UTF-8 or UTF-16"
    return FileProblem(
        code,
        f"the file is {what}: undecodable byte 0x{data[exc.start]:02X} at offset "
        f"{bad} (line {where}). {save}",
    )


def _label(encoding: str) -> str:
    return {"utf-16": "UTF-16", "utf-8": "UTF-8", "utf-8-sig": "UTF-8"}.get(encoding, encoding)


def _too_large(size: int, limit: int) -> str:
    return (
        f"the file is larger than the {limit // (1 << 20)} MB limit (HRUPLOAD_MAX_FILE_MB); "
        "split it into smaller files"
    )


def check_size(size: int, max_bytes: int) -> None:
    """Fail fast, before reading a byte, when the size is known up front."""
    if size > max_bytes:
        raise FileProblem("file-too-large", _too_large(size, max_bytes))


@dataclass(frozen=True)
class Record:
    line: int
    fields: list[str]
    #: Set when the CSV itself is malformed here; ``fields`` is then empty.
    problem: str | None = None


def records(
    stream: BinaryIO, encoding: str, *, delimiter: str = ",", first_line: int = 1
) -> Iterator[Record]:
    """Yield every record with the physical line it starts on (the header is line 1).

    ``first_line`` numbers a stream that starts further into a file (at a record start).
    """
    assert delimiter in DELIMITERS
    buffered = io.BufferedReader(_Unclosable(stream), BLOCK)
    text = io.TextIOWrapper(buffered, encoding=encoding, newline="")
    lines = _Lines(text)
    lines.count = first_line - 1
    allow_long_fields()
    reader = csv.reader(lines, strict=True, delimiter=delimiter)
    while True:
        start = lines.count + 1
        lines.record = 0
        try:
            fields = next(reader)
        except StopIteration:
            return
        except _LineTooLong:
            yield Record(start, [], _TOO_LONG)
        except _RecordTooLong:
            yield Record(start, [], _RECORD_TOO_LONG)
        except csv.Error as exc:
            yield Record(start, [], _describe(str(exc)))
        else:
            yield Record(start, fields)


#: The most of a file's start read to find its header line (and the delimiter in it): a
#: header of ``checker.MAX_COLUMNS`` long names fits many times over.
_HEADER_BYTES = 1 << 16

#: A physical line longer than this is rejected without ever being held whole, so a file
#: with no line breaks (or a 10-million-comma line) cannot exhaust memory.
LINE_LIMIT = 4 * FIELD_LIMIT
_TOO_LONG = (
    f"a line is longer than {LINE_LIMIT // (1 << 20)} MiB: the file is not a CSV export with "
    "one record per line"
)


#: A record (over several lines: quoted line breaks) longer than this is rejected as it is
#: read: a record of many short quoted values would otherwise grow without bound. Reading
#: starts afresh on the next line.
RECORD_LIMIT = LINE_LIMIT
_RECORD_TOO_LONG = (
    f"a record is longer than {RECORD_LIMIT // (1 << 20)} MiB over several lines: usually an "
    "unbalanced quote, or values with line breaks that are not HR data"
)


class _LineTooLong(Exception):
    pass


class _RecordTooLong(Exception):
    pass


class _Lines:
    """The physical lines of ``text``, counted, none longer than ``LINE_LIMIT``.

    A longer line is skipped to its end and reported by raising ``_LineTooLong`` through
    the csv reader, which starts afresh on the next line.
    """

    def __init__(self, text: io.TextIOBase) -> None:
        self._text = text
        self.count = 0
        #: characters of the record being read (the reader resets it at each record)
        self.record = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._text.readline(LINE_LIMIT)
        if not line:
            raise StopIteration
        self.count += 1
        self.record += len(line)
        if self.record > RECORD_LIMIT and len(line) < self.record:
            raise _RecordTooLong
        if len(line) < LINE_LIMIT or line.endswith("\n"):
            return line
        while len(line) == LINE_LIMIT and not line.endswith(("\n", "\r")):
            line = self._text.readline(LINE_LIMIT)
        raise _LineTooLong


def _describe(csv_message: str) -> str:
    if "unexpected end of data" in csv_message:
        return "a quoted field is never closed (unbalanced quote); the record runs to the end"
    if "field larger than field limit" in csv_message:
        return (
            f"a field is longer than {FIELD_LIMIT // 1024} KiB, usually an unbalanced quote "
            "swallowing the lines after it"
        )
    if "expected after" in csv_message:
        return "a quoted field is followed by more text before the next delimiter (stray quote)"
    return f"malformed CSV ({csv_message})"


class _Unclosable(io.RawIOBase):
    """Lets TextIOWrapper read a caller's stream without closing it when collected."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n
