"""The rule for each kind of field, and for the scenario column: the one table both engines
read.

The reference engine (:class:`hrupload.core.checker.Checker`) asks a rule's :meth:`Rule.check`
about each value; the fast engine (:mod:`hrupload.core.fastcheck`) tests whole columns with
the rule's ``certain`` expression and its length limit, and hands every value they do not
vouch for to the reference. A new kind of field is one more entry in :data:`RULES`.

Contract between the two halves of a rule: a non-empty value that matches ``certain`` (RE2
and Python's ``re`` read these expressions alike) and is no longer than the limit in UTF-8
bytes is one :meth:`Rule.check` accepts *unchanged*. ``certain`` None: any non-blank value
of an allowed length is (the tests in tests/core/test_fastpath.py prove each expression).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from hrupload.core.scenarios import Field, Kind

# -- ISO 8601 dates ----------------------------------------------------------------------

# ASCII digits only: str.isdigit-style \d would accept Arabic-Indic or full-width digits.
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,7})?(?:Z|([+-])(\d{2}):(\d{2}))?",
    re.ASCII,
)
ISO_EXAMPLE = "2019-04-23T15:18:02.4675041+05:30"


def is_iso_datetime(value: str) -> bool:
    """ISO 8601 as Microsoft's samples write it, and a real calendar date and time."""
    m = _ISO.fullmatch(value)
    if not m:
        return False
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    try:
        datetime(y, mo, d, h, mi, s)
    except ValueError:
        return False
    if m.group(7):
        return int(m.group(8)) <= 14 and int(m.group(9)) <= 59
    return True


_D = "[0-9]"
_YEAR = f"(?:{_D}{{3}}[1-9]|{_D}{{2}}[1-9]{_D}|{_D}[1-9]{_D}{{2}}|[1-9]{_D}{{3}})"  # not 0000
_MONTH_DAY = (
    f"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1{_D}|2[0-8])"
    f"|(?:0[13-9]|1[0-2])-(?:29|30)"
    f"|(?:0[13578]|1[02])-31)"
)
_LEAP = f"(?:{_D}{_D}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
#: :func:`is_iso_datetime` as one regular expression: the shape, and a real date.
DATE_RE = (
    f"^(?:{_YEAR}-{_MONTH_DAY}|{_LEAP}-02-29)"
    f"T(?:[01]{_D}|2[0-3]):[0-5]{_D}:[0-5]{_D}(?:\\.{_D}{{1,7}})?"
    f"(?:Z|[+-](?:0{_D}|1[0-4]):[0-5]{_D})?$"
)

# -- e-mail addresses (UPNs) -------------------------------------------------------------

#: Unicode categories no address can hold: controls (C0, C1), format characters (zero-width
#: space and joiners, bidi overrides, BOM, soft hyphen), surrogates, private use, unassigned.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def _character(value: str) -> str | None:
    """The first character no address can hold (whitespace anywhere, what ``_INVISIBLE``
    lists), described by code point and position: the account is then matched by nobody,
    and the value itself must not be shown."""
    for i, ch in enumerate(value):
        category = unicodedata.category(ch)
        if ch.isspace() or category in _INVISIBLE:
            kind = (
                "whitespace"
                if ch.isspace()
                else "a control character"
                if category == "Cc"
                else "an invisible character"
            )
            name = unicodedata.name(ch, "")
            return (
                f"contains {kind}, U+{ord(ch):04X}{f' {name}' if name else ''}, at character "
                f"{i + 1} of {len(value)}: delete it"
            )
    return None


def email_problem(value: str) -> str | None:
    """Why ``value`` is not a usable UPN/email, or None. Never echoes the value.

    ``value`` is the cell as read: surrounding whitespace is a problem too, as the cell
    goes out as it is.
    """
    invisible = _character(value)
    if invisible:
        return invisible
    if value.count("@") != 1:
        return "must contain exactly one '@'"
    local, domain = value.split("@")
    if not local:
        return "has nothing before the '@'"
    if "." not in domain or domain.startswith(".") or domain.endswith(".") or ".." in domain:
        return "needs a domain with a dot after the '@' (like contoso.com)"
    return None


# Printable ASCII without space, '"', ',' and '@' (and '.' in a domain label): a value made
# of these has nothing for str.strip() to remove and passes email_problem.
_LOCAL = r"[!#-+\--?A-~]"
_LABEL = r"[!#-+\-/-?A-~]"
EMAIL_RE = f"^{_LOCAL}+@{_LABEL}+(?:\\.{_LABEL}+)+$"
#: A character str.strip() never removes: the value is not blank.
NONBLANK_RE = "[!-~]"

# -- the table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One header column bound to one field, as a rule needs to know it (made once per
    file, not per row)."""

    name: str  # the header's
    field: Field
    #: the longest value allowed, in characters: the field's own or its kind's
    limit: int | None
    #: the profile's ``date_formats``, for a date written another way
    date_formats: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The column as a message names it: with the field's name when they differ."""
        f = self.field
        return self.name if self.name.lower() == f.name.lower() else f"{self.name} ({f.name})"


@dataclass(frozen=True)
class Problem:
    """Why a value is rejected: an error code (the catalogue in :mod:`hrupload.core.report`)
    and a message that never quotes the value."""

    code: str
    message: str


@dataclass(frozen=True)
class Rule:
    """How a non-empty value of one kind of field is checked (a required field's empty
    value is the checker's "missing-value", whatever the kind)."""

    kind: Kind
    #: the longest value unless the field says otherwise (characters)
    max_length: int | None = None
    #: the fast engine's test: values matching it pass :meth:`check` unchanged
    certain: str | None = None

    def limit(self, f: Field) -> int | None:
        return f.max_length if f.max_length is not None else self.max_length

    def check(self, cell: str, value: str, column: Column) -> Problem | str | None:
        """``cell`` as read, ``value`` stripped (never empty). None: the cell goes out as
        it is; a string: it goes out as that instead; a :class:`Problem`: the row is
        rejected."""
        if column.limit is not None and len(value) > column.limit:
            return Problem(
                "too-long",
                f"{column.label} is {len(value)} characters; the limit is {column.limit}",
            )
        return None


@dataclass(frozen=True)
class EmailRule(Rule):
    def check(self, cell: str, value: str, column: Column) -> Problem | str | None:
        if cell == value and column.limit is not None and len(value) > column.limit:
            return Problem(
                "too-long",
                f"{column.name} is {len(value)} characters; an email address is at most "
                f"{column.limit}",
            )
        problem = email_problem(cell)
        if problem:
            return Problem(
                "invalid-email", f"{column.name} is not an email address (UPN): it {problem}"
            )
        return None


@dataclass(frozen=True)
class DateRule(Rule):
    def check(self, cell: str, value: str, column: Column) -> Problem | str | None:
        if is_iso_datetime(value):
            return None
        read = readings(value, column.date_formats)
        meanings = {iso for _, iso in read}
        if len(meanings) == 1:
            return read[0][1]
        if meanings:  # never settled by the order the formats are listed in
            first, meant = read[0]
            second = next(fmt for fmt, iso in read if iso != meant)
            return Problem(
                "ambiguous-date",
                f'{column.name} fits both "{first}" and "{second}" of the profile\'s '
                "date_formats, which read it as different dates: keep only the one your "
                "export uses",
            )
        return Problem("invalid-date", _not_iso(column, suggest_formats(value)))


def _not_iso(column: Column, suggested: tuple[str, ...]) -> str:
    """Why a date is refused and, when its shape is a common one, the ``date_formats`` entry
    that would read it: never the value itself."""
    listed = ", ".join(column.date_formats)
    if not suggested:
        extra = f" or one of the profile's date_formats {listed}" if listed else ""
        return f"{column.name} is not a valid date: use ISO 8601 like {ISO_EXAMPLE}{extra}"
    unread = f"; the profile's date_formats ({listed}) do not read it" if listed else ""
    said = f"{column.name} is not ISO 8601 ({ISO_SHAPE}, like {ISO_EXAMPLE}){unread}"
    if len(suggested) == 1:
        return f'{said}: add "{suggested[0]}" to the profile\'s "date_formats" to accept it'
    month, day = suggested
    return (
        f'{said}: it reads as month first ("{month}") or day first ("{day}"); add the one '
        'your export uses to the profile\'s "date_formats"'
    )


@lru_cache(maxsize=1 << 12)  # HR exports repeat their dates: an effective date, a month end
def readings(value: str, formats: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(format, ``value`` in ISO 8601) for each of the profile's ``date_formats`` that reads
    ``value``: every one, so that two reading it differently are found, not settled by order."""
    read = []
    for fmt in formats:
        try:
            read.append((fmt, datetime.strptime(value, fmt).isoformat()))
        except ValueError:
            continue
    return tuple(read)


def from_formats(value: str, formats: tuple[str, ...]) -> str | None:
    """``value`` in ISO 8601 when the profile's ``date_formats`` read it one way only."""
    meanings = {iso for _, iso in readings(value, formats)}
    return meanings.pop() if len(meanings) == 1 else None


def is_date(value: str, formats: tuple[str, ...]) -> bool:
    """A date either way the file may write one (for the "shifted columns?" hint)."""
    return is_iso_datetime(value) or bool(readings(value, formats))


# -- dates in other shapes: which date_formats entry would read them ----------------------

#: How Microsoft's article writes the shape it asks for.
ISO_SHAPE = "yyyy-mm-ddThh:mm:ss"
#: The shapes HR exports write dates in: the date's three parts (a four-digit year first or
#: last) with one separator, then maybe a time (a space or T, seconds and a fraction
#: optional, maybe AM/PM) and an offset.
_SHAPE = re.compile(
    r"(?P<a>\d{1,4})(?P<sep>[-/.])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4})"
    r"(?:(?P<t>[ T])\d{1,2}:\d{2}(?P<s>:\d{2}(?P<f>\.\d{1,6})?)?(?P<ampm> ?[AaPp][Mm])?)?"
    r"(?P<z>Z|[+-]\d{2}:?\d{2})?",
    re.ASCII,
)


def suggest_formats(value: str) -> tuple[str, ...]:
    """The ``date_formats`` entries that would read ``value``: none when its shape is not a
    common one or it is no real date, one, or month first and day first when both read it.
    Each is one :func:`readings` accepts, turning ``value`` into ISO 8601 the connector takes.
    """
    m = _SHAPE.fullmatch(value)
    if m is None:
        return ()
    sep, a, c = m["sep"], m["a"], m["c"]
    if len(a) == 4 and len(c) <= 2:
        dates = [f"%Y{sep}%m{sep}%d"]
    elif len(c) == 4 and len(a) <= 2:
        dates = [f"%m{sep}%d{sep}%Y", f"%d{sep}%m{sep}%Y"]
    else:
        return ()
    time = ""
    if m["t"]:
        hour = "%I" if m["ampm"] else "%H"
        time = f"{m['t']}{hour}:%M" + (":%S" if m["s"] else "") + (".%f" if m["f"] else "")
        if m["ampm"]:
            time += " %p" if m["ampm"].startswith(" ") else "%p"
    zone = "%z" if m["z"] else ""
    return tuple(
        fmt
        for fmt in (f"{date}{time}{zone}" for date in dates)
        if (read := readings(value, (fmt,))) and is_iso_datetime(read[0][1])
    )


#: One rule per kind of field. The e-mail limit is RFC 5321's longest forward path.
RULES: dict[Kind, Rule] = {
    Kind.EMAIL: EmailRule(Kind.EMAIL, max_length=254, certain=EMAIL_RE),
    Kind.DATE: DateRule(Kind.DATE, certain=DATE_RE),
    Kind.TEXT: Rule(Kind.TEXT),
}


def column(name: str, f: Field, date_formats: tuple[str, ...] = ()) -> Column:
    return Column(name, f, RULES[f.kind].limit(f), tuple(date_formats))


# -- the scenario column -------------------------------------------------------------------


class ScenarioValues:
    """What a multi-scenario file's scenario column may hold: each active scenario's value
    as the profile (or Microsoft's docs) spell it, matched forgiving case and surrounding
    spaces, and sent as spelled."""

    def __init__(self, column: str, spelled: dict[str, str]) -> None:
        #: the header's name of the scenario column
        self.column = column
        #: scenario -> its value as sent
        self.canonical = dict(spelled)
        self._by_value = {value.lower(): name for name, value in spelled.items()}
        self.accepted = ", ".join(repr(v) for v in spelled.values())

    def read(self, cell: str) -> tuple[str, str] | Problem:
        """(scenario, the cell as it is sent) or why the row has none."""
        raw = cell.strip()
        scenario = self._by_value.get(raw.lower()) if raw else None
        if scenario is not None:
            # sent as spelled by the profile: the service need not forgive case or spaces
            return scenario, self.canonical[scenario]
        if not raw:
            return Problem(
                "missing-value", f"{self.column} is empty; it must be one of {self.accepted}"
            )
        return Problem(
            "unknown-scenario",
            f"{self.column} holds a value that is not a known scenario; "
            f"accepted values: {self.accepted}",
        )

    def exact(self, cell: str) -> str | None:
        """The scenario of a cell spelled exactly as it is sent (the fast engine's test:
        :meth:`read` takes it unchanged), else None."""
        scenario = self._by_value.get(cell.lower())
        return scenario if scenario is not None and self.canonical[scenario] == cell else None
