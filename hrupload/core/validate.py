"""The validation engine: header planning and per-row checks. Pure: no I/O beyond the
stream it is handed, no Azure imports.

``Checker`` decides once, from the header, which column feeds which field of which
scenario; checking a row is then a handful of lookups. ``Validation`` runs a checker
over a stream and keeps the report as it goes, so the uploader can consume rows as
they are checked and memory never grows with the file.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from hrupload.core import csvread
from hrupload.core.csvread import FileFacts, Record
from hrupload.core.csvwrite import ChunkBuilder, csv_line
from hrupload.core.profile import DEFAULT_PROFILE, Profile
from hrupload.core.report import (
    FileProblem,
    Report,
    RowError,
    header_looks_like_data,
    shown_header,
    value_kind,
)
from hrupload.core.scenarios import DEFAULT_SCENARIO_COLUMN, SCENARIOS, Field, Kind, scenario_named

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


#: Columns a header may have. HR exports have a few dozen; a wider header is not an HR
#: export (or is one row of hundreds of thousands of values), and every short row would be
#: padded to its width, in memory and in every chunk sent.
MAX_COLUMNS = 1024


@dataclass(frozen=True)
class Bound:
    field: Field
    index: int | None  # None: the file has no column for this field


@dataclass(frozen=True)
class Plan:
    scenario: str
    bound: tuple[Bound, ...]
    missing: tuple[str, ...]  # required fields with no column (multi-scenario files)
    #: Date columns of *other* scenarios, for the "shifted columns?" hint.
    other_dates: tuple[tuple[int, str], ...]


@dataclass
class Checked:
    line: int
    fields: list[str]  # what goes out: padded, dates rewritten
    source: list[str]  # as read
    scenario: str | None
    errors: list[RowError]
    blank: bool = False

    @property
    def valid(self) -> bool:
        return not self.errors and not self.blank


class Checker:
    """Bind header columns to scenario fields once; then check rows against that plan."""

    def __init__(
        self,
        header: list[str],
        profile: Profile = DEFAULT_PROFILE,
        *,
        scenario: str | None = None,
        fallback_scenario: str | None = None,
        max_chunk_bytes: int | None = None,
    ) -> None:
        self.header = header
        self.width = len(header)
        self.profile = profile
        #: the most a row may take in an upload chunk (the chunk holds the header too);
        #: None: no limit (a check that uploads nothing, when asked)
        self.max_chunk_bytes = max_chunk_bytes
        self.max_row_bytes = _row_budget(header, max_chunk_bytes)
        self._date_formats = profile.date_formats
        self._index = self._index_header(header)
        self.scenario_index: int | None = None
        self.values: dict[str, str] = {}

        column = None if scenario else (profile.scenario_column or None)
        # With no profile at all, Microsoft's own HRScenario name makes a multi-scenario file;
        # a profile without scenario_column says the file is single-scenario.
        if (
            column is None
            and scenario is None
            and profile == DEFAULT_PROFILE
            and DEFAULT_SCENARIO_COLUMN.lower() in self._index
        ):
            column = DEFAULT_SCENARIO_COLUMN
        if column is not None:
            if column.lower() not in self._index:
                raise FileProblem(
                    "missing-column",
                    f"the scenario column {column!r} named by the profile is not in the header; "
                    f"{self._found()}",
                )
            self.scenario_index = self._index[column.lower()]
            self.scenario_column = header[self.scenario_index]
            names = profile.active_scenarios()
            self.values = {profile.mapping(n).value.lower(): n for n in names}
            #: what a row's scenario cell becomes: the value as the profile (or Microsoft's
            #: docs) spell it, whatever case and surrounding spaces the file used
            self.canonical = {n: profile.mapping(n).value for n in names}
            self.plans = {n: self._plan(n) for n in names}
            self.single: str | None = None
        else:
            self.single = self._choose_single(scenario, fallback_scenario)
            plan = self._plan(self.single)
            if plan.missing:
                raise FileProblem(
                    "missing-column",
                    f"{self.single} needs column(s) {', '.join(plan.missing)}, which the header "
                    f"lacks; {self._found()}" + self._spaces_hint(plan),
                )
            self.plans = {self.single: plan}

    # -- header planning -------------------------------------------------------------

    def _index_header(self, header: list[str]) -> dict[str, int]:
        index: dict[str, int] = {}
        for i, name in enumerate(header):
            key = name.lower()
            if key in index:
                where = f"columns {index[key] + 1} and {i + 1}"
                if header_looks_like_data(header):  # two equal values, not names
                    raise FileProblem(
                        "duplicate-header",
                        f"{where} of the first line hold the same text; {self._found()}",
                    )
                raise FileProblem(
                    "duplicate-header",
                    f"column {shown_header(name)!r} appears twice in the header ({where}); "
                    "column names must be unique, ignoring case"
                    if name.strip()
                    else f"{where} of the header both have no name; name every column "
                    "uniquely or delete the empty ones",
                )
            index[key] = i
        return index

    def _found(self) -> str:
        """What the header holds, for a message: "found N columns: 'A', 'B'", or, when the
        first line looks like data (a headerless export), how many columns and why, and
        never a cell of it: beside an address there are names and zip codes."""
        return describe_header(self.header)

    def _column_for(self, scenario: str, f: Field) -> str:
        return self.profile.mapping(scenario).columns.get(f.name, f.name)

    def _plan(self, scenario: str) -> Plan:
        bound = []
        missing = []
        used = set()
        for f in SCENARIOS[scenario].fields:
            index = self._index.get(self._column_for(scenario, f).lower())
            bound.append(Bound(f, index))
            if index is None and f.required:
                missing.append(self._column_for(scenario, f))
            if index is not None:
                used.add(index)
        other_dates = {}
        for other in self.profile.active_scenarios():
            for f in SCENARIOS[other].fields:
                if f.kind is Kind.DATE:
                    index = self._index.get(self._column_for(other, f).lower())
                    if index is not None and index not in used:
                        other_dates[index] = self.header[index]
        return Plan(scenario, tuple(bound), tuple(missing), tuple(sorted(other_dates.items())))

    def _choose_single(self, explicit: str | None, fallback: str | None) -> str:
        if explicit:
            named = scenario_named(explicit)
            if named is None:
                raise FileProblem(
                    "unknown-scenario",
                    f"unknown scenario {explicit!r}; known scenarios: {', '.join(SCENARIOS)}",
                )
            return named.name
        listed = list(self.profile.scenarios)
        if len(listed) == 1:
            return listed[0]
        candidates = self.profile.active_scenarios()
        if fallback and fallback in candidates:
            return fallback
        fitting = [n for n in candidates if not self._plan(n).missing]
        if len(fitting) == 1:
            return fitting[0]
        if fitting:
            raise FileProblem(
                "ambiguous-scenario",
                f"the header fits several scenarios ({', '.join(fitting)}); say which with "
                "--scenario NAME (or a profile naming one scenario, an HRScenario column, "
                "or a file or folder named after the scenario)",
            )
        raise FileProblem(
            "unknown-scenario",
            f"the header fits no scenario's required columns; {self._found()}. Say which "
            "scenario with --scenario NAME, or map the columns in a profile",
        )

    def _spaces_hint(self, plan: Plan) -> str:
        stripped = {h.strip().lower(): h for h in self.header if h != h.strip()}
        hints = [
            f"{stripped[m.lower()]!r} has surrounding spaces"
            for m in plan.missing
            if m.lower() in stripped
        ]
        return (" (" + "; ".join(hints) + ")") if hints else ""

    # -- rows ------------------------------------------------------------------------

    def check(self, record: Record) -> Checked:
        line = record.line
        source = record.fields
        if record.problem is not None:
            return Checked(
                line, [], source, None, [RowError(line, None, "malformed-row", record.problem)]
            )
        if not any(v.strip() for v in source):
            return Checked(line, [], source, None, [], blank=True)
        errors: list[RowError] = []
        if len(source) > self.width:
            errors.append(
                RowError(
                    line,
                    None,
                    "extra-fields",
                    f"the row has {len(source)} fields but the header has {self.width}: remove "
                    "the extra values, or quote values that contain commas",
                )
            )
            fields = source[: self.width]
        elif len(source) < self.width:
            fields = source + [""] * (self.width - len(source))
        else:
            fields = list(source)

        if self.single is not None:
            scenario = self.single
        else:
            scenario = self._row_scenario(line, fields, errors)
            if scenario is None:
                return Checked(line, fields, source, None, errors)
        plan = self.plans[scenario]
        for bound in plan.bound:
            self._check_field(line, scenario, plan, bound, fields, errors)
        if not errors and self.max_row_bytes is not None:
            self._check_size(line, fields, errors)
        return Checked(line, fields, source, scenario, errors)

    def exact_scenario(self, raw: str) -> str | None:
        """The scenario of a cell spelled exactly as it is sent (see ``_row_scenario``)."""
        scenario = self.values.get(raw.lower())
        return scenario if scenario is not None and self.canonical[scenario] == raw else None

    def _check_size(self, line: int, fields: list[str], errors: list[RowError]) -> None:
        """A row that cannot fit in one upload chunk with the header is rejected, not sent
        alone over the limit (the chunk limit is what bounds memory)."""
        assert self.max_row_bytes is not None
        # UTF-8 takes at most 4 bytes a character; a quote doubled takes 2 for 1: a
        # bound that spares nearly every row the exact count
        if 4 * sum(map(len, fields)) + 3 * len(fields) + 2 <= self.max_row_bytes:
            return
        size = len(csv_line(fields).encode("utf-8"))
        if size > self.max_row_bytes:
            errors.append(
                RowError(
                    line,
                    None,
                    "row-too-large",
                    f"the row takes {size:,} bytes in an upload chunk, more than the "
                    f"{self.max_row_bytes:,} left beside the header in a chunk of "
                    f"{(self.max_chunk_bytes or 0) >> 20} MB (--max-chunk-mb, "
                    "HRUPLOAD_MAX_CHUNK_MB): "
                    "shorten its values or raise the limit",
                )
            )

    def _row_scenario(self, line: int, fields: list[str], errors: list[RowError]) -> str | None:
        assert self.scenario_index is not None
        raw = fields[self.scenario_index].strip()
        if raw:
            scenario = self.values.get(raw.lower())
            if scenario is not None:
                # sent as spelled by the profile: the service need not forgive case or spaces
                fields[self.scenario_index] = self.canonical[scenario]
                return scenario
        accepted = self._accepted
        if not raw:
            errors.append(
                RowError(
                    line,
                    self.scenario_column,
                    "missing-value",
                    f"{self.scenario_column} is empty; it must be one of {accepted}",
                )
            )
            return None
        errors.append(
            RowError(
                line,
                self.scenario_column,
                "unknown-scenario",
                f"{self.scenario_column} holds a value that is not a known scenario; "
                f"accepted values: {accepted}",
            )
        )
        return None

    @functools.cached_property
    def _accepted(self) -> str:
        return ", ".join(repr(self.profile.mapping(n).value) for n in self.plans)

    def _check_field(
        self,
        line: int,
        scenario: str,
        plan: Plan,
        bound: Bound,
        fields: list[str],
        errors: list[RowError],
    ) -> None:
        f = bound.field
        if bound.index is None:
            if f.required:
                column = self._column_for(scenario, f)
                errors.append(
                    RowError(
                        line,
                        column,
                        "missing-column",
                        f"{scenario} rows need a {column!r} column ({f.name}); the header has none",
                    )
                )
            return
        column = self.header[bound.index]
        cell = fields[bound.index]
        value = cell.strip()
        if not value:
            if f.required:
                errors.append(
                    RowError(
                        line,
                        column,
                        "missing-value",
                        f"{_label(column, f)} is required for {scenario}"
                        + self._shift_hint(plan, f, fields),
                    )
                )
            return
        if f.kind is Kind.EMAIL:
            if cell == value and len(value) > (f.max_length or 254):
                errors.append(
                    RowError(
                        line,
                        column,
                        "too-long",
                        f"{column} is {len(value)} characters; an email address "
                        f"is at most {f.max_length}",
                    )
                )
                return
            problem = email_problem(cell)
            if problem:
                errors.append(
                    RowError(
                        line,
                        column,
                        "invalid-email",
                        f"{column} is not an email address (UPN): it {problem}",
                    )
                )
            return
        if f.kind is Kind.DATE:
            if is_iso_datetime(value):
                return
            rewritten = self._from_profile_format(value)
            if rewritten is None:
                extra = (
                    " or one of the profile's date_formats " + ", ".join(self._date_formats)
                    if self._date_formats
                    else ""
                )
                errors.append(
                    RowError(
                        line,
                        column,
                        "invalid-date",
                        f"{column} is not a valid date: use ISO 8601 like {ISO_EXAMPLE}{extra}",
                    )
                )
            else:
                fields[bound.index] = rewritten
            return
        if f.max_length is not None and len(value) > f.max_length:
            errors.append(
                RowError(
                    line,
                    column,
                    "too-long",
                    f"{_label(column, f)} is {len(value)} characters; the limit is {f.max_length}",
                )
            )

    def _from_profile_format(self, value: str) -> str | None:
        for fmt in self._date_formats:
            try:
                parsed = datetime.strptime(value, fmt)
            except ValueError:
                continue
            return parsed.isoformat()
        return None

    def _shift_hint(self, plan: Plan, f: Field, fields: list[str]) -> str:
        if f.kind is not Kind.DATE:
            return ""
        for index, name in plan.other_dates:
            value = fields[index].strip()
            if value and (is_iso_datetime(value) or self._from_profile_format(value)):
                return f". {f.name} is empty but {name} holds a date: shifted columns?"
        return ""


#: Names a message lists at most; the count says how many there are.
_LISTED = 20


def describe_header(header: list[str]) -> str:
    """ "found N columns: 'A', 'B'" for a message, or, when a cell looks like a value (the
    first line is data: the export has no header line), the count and which columns hold
    what kind of value, never a cell: beside the address are names and zip codes."""
    count = f"{len(header)} column{'s' if len(header) != 1 else ''}"
    kinds = [(i, kind) for i, h in enumerate(header) if (kind := value_kind(h))]
    if kinds:
        why = ", ".join(f"column {i + 1} holds {kind}" for i, kind in kinds[:3])
        return (
            f"found {count}, and the first line looks like data, not a header ({why}): add "
            "the header line missing from the export"
        )
    names = ", ".join(repr(h) for h in header[:_LISTED]) or "(nothing)"
    more = f" and {len(header) - _LISTED} more" if len(header) > _LISTED else ""
    return f"found {count}: {names}{more}"


def _row_budget(header: list[str], max_chunk_bytes: int | None) -> int | None:
    if max_chunk_bytes is None:
        return None
    header_bytes = len(csv_line(header).encode("utf-8"))
    if header_bytes >= max_chunk_bytes:
        raise FileProblem(
            "header-too-large",
            f"the header line alone takes {header_bytes:,} bytes, which leaves no room for "
            f"rows in an upload chunk of {max_chunk_bytes >> 20} MB: shorten the column "
            "names or raise --max-chunk-mb (HRUPLOAD_MAX_CHUNK_MB)",
        )
    return max_chunk_bytes - header_bytes


def check_width(header: list[str]) -> None:
    """A header wider than ``MAX_COLUMNS`` is a file error, before anything is planned or
    padded to its width."""
    if len(header) > MAX_COLUMNS:
        raise FileProblem(
            "too-many-columns",
            f"the header has {len(header):,} columns, more than the {MAX_COLUMNS:,} an HR "
            "export may have: delete the columns the connector does not use, or add the "
            "missing header line",
        )


def _label(column: str, f: Field) -> str:
    return column if column.lower() == f.name.lower() else f"{column} ({f.name})"


def start_checker(
    report: Report,
    header: Record | None,
    profile: Profile = DEFAULT_PROFILE,
    scenario: str | None = None,
    fallback_scenario: str | None = None,
    max_chunk_bytes: int | None = None,
) -> Checker | None:
    """Plan the checks from the header record; a file-level problem ends in the report."""
    try:
        if header is None or header.problem or not any(h.strip() for h in header.fields):
            why = header.problem if header and header.problem else "the first line is empty"
            raise FileProblem("no-header", f"no usable header line: {why}")
        check_width(header.fields)
        report.header = header.fields
        return Checker(
            header.fields,
            profile,
            scenario=scenario,
            fallback_scenario=fallback_scenario,
            max_chunk_bytes=max_chunk_bytes,
        )
    except FileProblem as problem:
        report.file_error = problem.error
        return None


#: "auto": the native engine (hrupload.core.fastcheck) where it applies, else the reference;
#: "reference": always the csv-module reader and Checker, row by row.
ENGINES = ("auto", "reference")


@dataclass
class Validation:
    """One pass over a stream: yields checked rows (blank ones counted, not yielded).

    Iterating it is the reference engine. :meth:`chunked` gives what an upload needs
    (chunks of valid rows, and the rejected rows) and takes the native engine when it can.
    """

    stream: BinaryIO
    facts: FileFacts
    report: Report
    profile: Profile = DEFAULT_PROFILE
    scenario: str | None = None
    fallback_scenario: str | None = None
    #: the upload chunk limit (``HRUPLOAD_MAX_CHUNK_MB``): rows that cannot fit are
    #: rejected, and :meth:`chunked` never makes a bigger chunk. None: no limit.
    max_chunk_bytes: int | None = None
    checker: Checker | None = field(default=None, init=False)

    def __iter__(self) -> Iterator[Checked]:
        report = self.report
        reader = csvread.records(self.stream, self.facts.encoding)
        self.checker = start_checker(
            report,
            next(reader, None),
            self.profile,
            self.scenario,
            self.fallback_scenario,
            self.max_chunk_bytes,
        )
        if self.checker is None:
            return
        check = self.checker.check
        for record in reader:
            checked = check(record)
            if checked.blank:
                report.blank += 1
                continue
            report.add_row(checked.scenario, checked.errors)
            yield checked

    def chunked(self, records_per_call: int, *, engine: str = "auto") -> Iterator[Chunk | Checked]:
        """Upload chunks of up to ``records_per_call`` valid rows and ``max_chunk_bytes``
        (each a complete CSV: the header line, then the rows as ``ChunkBuilder`` writes
        them) and the rejected rows, both in file order; the report fills as they come."""
        if engine == "auto" and _fast_engine_for(self.facts.encoding):
            from hrupload.core import fastcheck

            run = fastcheck.FastRun(
                self.stream,
                self.facts.encoding,
                self.report,
                self.profile,
                self.scenario,
                self.fallback_scenario,
                max_chunk_bytes=self.max_chunk_bytes,
            )
            try:
                yield from fastcheck.run_chunks(run, records_per_call, self.max_chunk_bytes)
            finally:
                self.checker = run.checker
            return
        builder: ChunkBuilder | None = None
        for row in self:
            if builder is None:
                builder = ChunkBuilder(self.report.header, records_per_call, self.max_chunk_bytes)
            if row.errors:
                yield row
                continue
            data = builder.add(row.fields)
            if data is not None:
                yield Chunk(data, builder.flushed)
        if builder is not None:
            data = builder.flush()
            if data is not None:
                yield Chunk(data, builder.flushed)


@dataclass(frozen=True)
class Chunk:
    """One upload document: the header line and ``records`` valid rows, UTF-8."""

    data: bytes
    records: int


def _fast_engine_for(encoding: str) -> bool:
    """The native engine reads UTF-8 files, with pyarrow (looked up, not imported: the
    engine chooses pyarrow's allocator before the first import)."""
    return encoding in ("utf-8", "utf-8-sig") and importlib.util.find_spec("pyarrow") is not None


def new_report(name: str, facts: FileFacts | None = None) -> Report:
    report = Report(file=name)
    if facts is not None:
        report.bytes, report.sha256, report.encoding = facts.size, facts.sha256, facts.encoding
    return report


def validate_stream(
    open_stream: Callable[[], BinaryIO],
    *,
    name: str,
    profile: Profile = DEFAULT_PROFILE,
    scenario: str | None = None,
    fallback_scenario: str | None = None,
    max_bytes: int | None = None,
    on_row: Callable[[Checked], None] | None = None,
    engine: str = "auto",
    fingerprint: bool = True,
    max_chunk_bytes: int | None = None,
) -> Report:
    """Scan then validate a re-openable source; a file-level problem ends in the report.

    Without ``on_row`` (only the report is wanted) the native engine scans and validates in
    one read; ``engine="reference"`` forces the row-by-row reference engine.
    ``fingerprint=False`` skips the SHA-256 (the report's ``sha256`` is then None): a check
    alone needs no resume or de-duplication key. ``max_chunk_bytes``: reject the rows an
    upload with that chunk limit would (None: no limit).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}")
    report = new_report(name)
    if on_row is None and engine == "auto" and _fast_engine_for("utf-8"):
        from hrupload.core import fastcheck

        try:
            return fastcheck.validate_fused(
                lambda: _open(open_stream),
                report,
                profile=profile,
                scenario=scenario,
                fallback_scenario=fallback_scenario,
                max_bytes=max_bytes,
                fingerprint=fingerprint,
                max_chunk_bytes=max_chunk_bytes,
            )
        except FileProblem as problem:  # unreadable
            report.file_error = problem.error
            return report
    try:
        with _open(open_stream) as stream:
            facts = csvread.scan(stream, max_bytes=max_bytes, fingerprint=fingerprint)
        stream = _open(open_stream)
    except FileProblem as problem:
        report.file_error = problem.error
        return report
    report.bytes, report.sha256, report.encoding = facts.size, facts.sha256, facts.encoding
    with stream:
        validation = Validation(
            stream, facts, report, profile, scenario, fallback_scenario, max_chunk_bytes
        )
        for checked in validation:
            if on_row is not None:
                on_row(checked)
    return report


def _open(open_stream: Callable[[], BinaryIO]) -> BinaryIO:
    try:
        return open_stream()
    except OSError as exc:
        raise FileProblem(
            "unreadable", f"cannot read the file: {exc.strerror or type(exc).__name__}"
        ) from None


def scenario_from_name(name: str) -> str | None:
    """A file or folder named after a scenario (``resignation.csv``, ``resignation/x.csv``)."""
    parts = [p for p in re.split(r"[\\/]", name) if p]
    if not parts:
        return None
    stem = parts[-1].rsplit(".", 1)[0] if "." in parts[-1] else parts[-1]
    for candidate in [stem, *parts[-2:-1]]:
        scenario = scenario_named(candidate)
        if scenario is not None:
            return scenario.name
    return None


def validate_path(path: str | Path, **kwargs) -> Report:
    path = Path(path)
    kwargs.setdefault("fallback_scenario", scenario_from_name(path.name))
    return validate_stream(lambda: path.open("rb"), name=path.name, **kwargs)
