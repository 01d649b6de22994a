"""One function that makes file-derived text safe to show on a terminal or in a log line.

Blob names, file paths, column names, header cells and the service's reason text come
from whoever wrote the file (or runs the server). Printed as they are, an ``ESC[2J``
clears the operator's screen, a ``\\n`` starts a forged ``uploaded ...`` line, a
``U+202E`` (right-to-left override) shows ``resignation\u202evsc.exe`` as ``...exe.csv``.
Everything that shows such text goes through :func:`printable` first: the CLI's console
output (``process``, ``sweep``, ``status``, ``validate``, ``upload``) and the log fields
and messages of the pipeline and the Function triggers (every module logs through
:func:`logger`, so a new log call is covered without remembering to be).

What is escaped, as a visible ``\\xNN`` / ``\\uNNNN`` / ``\\UNNNNNNNN``: C0 and C1 controls
(ESC, CR, LF, TAB, DEL, the single-byte CSI ``\\x9b``...), the line and paragraph
separators, and every format character (Unicode category Cf: bidi overrides and isolates,
zero-width spaces and joiners, the BOM, invisible tags), plus lone surrogates (an
undecodable file name). Ordinary letters of any script (é, 日本, ü) stay as they are.
A backslash is left alone, so a Windows path stays readable; the escapes are for a reader,
not for parsing back.

Pure text in, text out: no I/O, so every layer may use it.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Mapping, MutableMapping
from typing import Any

#: Unicode categories that can move the cursor, end a line or change how the text
#: around them is shown, without being visible themselves.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _unsafe(char: str) -> bool:
    return unicodedata.category(char) in _UNSAFE_CATEGORIES


def printable(text: object) -> str:
    """``text`` (anything, as ``str()`` gives it) with every control, line break and
    invisible format character shown as an escape: one line that cannot forge another,
    move the cursor or reorder what is shown."""
    text = "" if text is None else str(text)
    if text.isprintable():  # the common case (spaces and letters): nothing to do
        return text
    return "".join(_escape(c) if _unsafe(c) else c for c in text)


def printable_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Log ``extra`` fields with every text value made :func:`printable`; numbers,
    booleans and None stay as they are, so structured telemetry keeps its types."""
    return {k: printable(v) if isinstance(v, str) else v for k, v in fields.items()}


def json_safe(document: str) -> str:
    """A JSON text (``json.dumps(..., ensure_ascii=False)``) with the characters
    :func:`printable` escapes written as JSON ``\\uNNNN`` escapes: the same document,
    readable names, and nothing that acts on the terminal it is printed to. (JSON
    already escapes C0 controls; C1 controls, bidi overrides and separators it does not.)"""
    if document.isprintable():
        return document
    out = []
    for char in document:
        if char in "\n" or not _unsafe(char):  # json.dumps(indent=...) puts real newlines
            out.append(char)
            continue
        code = ord(char)
        if code > 0xFFFF:  # outside the BMP: a UTF-16 surrogate pair, as JSON spells it
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out)


class PrintableLogger(logging.LoggerAdapter):
    """A module's logger whose messages, ``%`` arguments and ``extra`` text fields are
    made :func:`printable` before any handler sees them: the Functions host's console,
    App Insights and the CLI's stderr all get one line per record, whatever a blob name
    or a service's reason holds."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        if kwargs.get("extra"):
            kwargs["extra"] = printable_fields(kwargs["extra"])
        return (printable(msg) if isinstance(msg, str) else msg), kwargs

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        # LoggerAdapter passes ``args`` through untouched; a name given as a ``%s``
        # argument is escaped here, as the message and the fields are in process().
        safe = tuple(printable(a) if isinstance(a, str) else a for a in args)
        # One frame more (this one) between the record and the line that logged.
        kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1
        super().log(level, msg, *safe, **kwargs)


def logger(name: str) -> PrintableLogger:
    """``logging.getLogger(name)`` behind :class:`PrintableLogger`: what every hrupload
    module logs through."""
    return PrintableLogger(logging.getLogger(name), {})
