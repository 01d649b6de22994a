"""How a file is written: its encoding and the character between its fields.

Excel writes what the machine's region says: "CSV UTF-8" with commas, ";" where the
decimal separator is a comma (most of Europe), "Unicode Text" (UTF-16, tab-separated),
and the legacy "CSV (Comma delimited)" in the Windows code page (Windows-1252 in Western
Europe and the Americas). Whatever a file is read as, the chunks sent on are always
comma-separated UTF-8 (:mod:`hrupload.core.csvwrite`).

The encoding is never guessed: UTF-8 unless a byte order mark says otherwise, or a legacy
encoding the profile (``encoding``) or ``--encoding`` names. A wrong guess would send
wrong names without a single error; a wrong choice at least is someone's decision.

The delimiter is detected from the header line unless the profile (``delimiter``) or
``--delimiter`` names it: the candidate that splits the header, or of several that do,
the one whose fields are column names the profile knows. When that still leaves more than
one, the file is refused with a message naming the profile field.

Pure: the standard library and the scenario table only.
"""

from __future__ import annotations

import codecs
import csv
import warnings
from collections.abc import Collection
from dataclasses import dataclass

from hrupload.core.report import FileProblem
from hrupload.core.scenarios import DEFAULT_SCENARIO_COLUMN, SCENARIOS

#: The delimiters a file may have (detected from the header, or named by a profile), with
#: how messages name them.
DELIMITERS = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}
#: Each delimiter in the plural, for "quote values that contain commas".
PLURALS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "'|' characters"}
#: What ``--delimiter`` and a profile's ``delimiter`` accept besides the characters (a tab
#: is awkward to type on a command line).
_DELIMITER_WORDS = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}
#: A file's chunks, whatever it was read as.
OUTPUT_DELIMITER = ","

#: The profile field and option that choose each, for messages.
ENCODING_FIELD = 'the profile\'s "encoding" (or --encoding)'
DELIMITER_FIELD = 'the profile\'s "delimiter" (or --delimiter)'

#: The UTF-16 encodings a profile may name: a file without a byte order mark says nothing
#: of its byte order. Every other encoding must read ASCII as ASCII (see _ascii_compatible).
_UTF16 = ("utf-16", "utf-16-le", "utf-16-be")
#: Text every encoding a profile may name reads unchanged: printable ASCII, the line
#: breaks and tab, and the escapes of the codecs that are not plain character maps
#: (unicode-escape's backslashes, UTF-7's "+", HZ's "~{").
_PROBE = "".join(map(chr, range(0x20, 0x7F))) + "\t\r\n" + "\\u0041\\x41 +AGE- ~{A~}"


#: The column names a header without a profile may hold (lowercase).
SCENARIO_COLUMNS = frozenset(
    {f.name.lower() for s in SCENARIOS.values() for f in s.fields}
    | {DEFAULT_SCENARIO_COLUMN.lower()}
)


@dataclass(frozen=True)
class Dialect:
    """What a profile (or the command line) says of a file's format; None: the default."""

    #: a legacy encoding, as :func:`encoding_named` normalises it; None: UTF-8, or what a
    #: byte order mark says (a mark always wins: it is unambiguous)
    encoding: str | None = None
    #: one of ``DELIMITERS``; None: detect it from the header line
    delimiter: str | None = None
    #: column names (lowercase) a header may hold: they settle which delimiter it has
    columns: frozenset[str] = SCENARIO_COLUMNS


#: No profile's say: UTF-8 (or a byte order mark's), the delimiter detected.
DEFAULT_DIALECT = Dialect()


def encoding_named(name: str) -> str:
    """The codec's own name for ``name`` ("latin-1" -> "iso8859-1", "windows-1252" ->
    "cp1252"); raises ValueError saying why a name cannot be used."""
    try:
        info = codecs.lookup(name.strip())
    except LookupError:
        raise ValueError(
            f"unknown encoding {name!r}; name one Python knows, such as cp1252 "
            "(Windows-1252), latin-1, iso8859-15 or utf-8"
        ) from None
    if info.name in _UTF16 or (
        getattr(info, "_is_text_encoding", True) and _ascii_compatible(info.name)
    ):
        return info.name
    raise ValueError(
        f"encoding {name!r} cannot read a CSV export: it does not read plain ASCII text as "
        "itself (use cp1252, latin-1, utf-8 or utf-16)"
    )


def _ascii_compatible(name: str) -> bool:
    """Do the delimiters, quotes and line breaks read as themselves? Only then are a
    wrong choice's errors about characters, not about the file's shape."""
    raw = _PROBE.encode("ascii")
    with warnings.catch_warnings():  # unicode-escape warns of the escapes it misreads
        warnings.simplefilter("error")
        try:
            return raw.decode(name) == _PROBE and _PROBE.encode(name) == raw
        except (UnicodeError, LookupError, Warning):
            return False


def delimiter_named(text: str) -> str:
    """One of ``DELIMITERS`` from how a profile or the command line writes it ("," or
    "comma", "\\t" or "tab"); raises ValueError otherwise."""
    found = text if text in DELIMITERS else _DELIMITER_WORDS.get(text.strip().lower())
    if found is None:
        raise ValueError(
            f"delimiter must be one of , ; | or a tab (or comma, semicolon, tab, pipe), "
            f"not {text!r}"
        )
    return found


def detect_delimiter(line: str, columns: Collection[str]) -> str:
    """The delimiter of a header ``line``: the one candidate that splits it into more than
    one field, or of several, the one whose fields hold the most known ``columns``
    (lowercase). A line no candidate splits is one column (",": the checker says what
    the header lacks). Raises FileProblem when the line leaves the choice open.
    """
    splits: dict[str, int] = {}
    for candidate in DELIMITERS:
        fields = _split(line, candidate)
        if len(fields) > 1:
            splits[candidate] = sum(f.strip().lower() in columns for f in fields)
    if not splits:
        return OUTPUT_DELIMITER
    if len(splits) == 1:
        return next(iter(splits))
    best = max(splits.values())
    winners = [d for d, known in splits.items() if known == best]
    if best and len(winners) == 1:
        return winners[0]
    named = " and ".join(DELIMITERS[d] for d in (winners if best else splits))
    raise FileProblem(
        "ambiguous-delimiter",
        f"the header line could be separated by {named}: say which with "
        f"{DELIMITER_FIELD}, for example --delimiter ';'",
    )


def _split(line: str, delimiter: str) -> list[str]:
    """The fields of ``line`` read with ``delimiter`` (quotes respected): a delimiter
    inside a quoted value splits nothing."""
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:  # a stray quote for this delimiter: it does not split the line cleanly
        return []
