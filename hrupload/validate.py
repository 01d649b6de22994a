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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from hrupload import csvread
from hrupload.csvread import FileFacts, Record
from hrupload.csvwrite import ChunkBuilder
from hrupload.profile import DEFAULT_PROFILE, Profile
from hrupload.report import FileProblem, Report, RowError, shown_header
from hrupload.scenarios import DEFAULT_SCENARIO_COLUMN, SCENARIOS, Field, Kind, scenario_named

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


#: what str.isspace() calls whitespace (the same Unicode table)
_SPACE = re.compile(r"\s")


def email_problem(value: str) -> str | None:
    """Why ``value`` is not a usable UPN/email, or None. Never echoes the value."""
    if _SPACE.search(value):
        return "contains whitespace"
    if value.count("@") != 1:
        return "must contain exactly one '@'"
    local, domain = value.split("@")
    if not local:
        return "has nothing before the '@'"
    if "." not in domain or domain.startswith(".") or domain.endswith(".") or ".." in domain:
        return "needs a domain with a dot after the '@' (like contoso.com)"
    return None


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
    ) -> None:
        self.header = header
        self.width = len(header)
        self.profile = profile
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
                    f"found: {self._found()}",
                )
            self.scenario_index = self._index[column.lower()]
            self.scenario_column = header[self.scenario_index]
            names = profile.active_scenarios()
            self.values = {profile.mapping(n).value.lower(): n for n in names}
            self.plans = {n: self._plan(n) for n in names}
            self.single: str | None = None
        else:
            self.single = self._choose_single(scenario, fallback_scenario)
            plan = self._plan(self.single)
            if plan.missing:
                raise FileProblem(
                    "missing-column",
                    f"{self.single} needs column(s) {', '.join(plan.missing)}, which the header "
                    f"lacks; found: {self._found()}" + self._spaces_hint(plan),
                )
            self.plans = {self.single: plan}

    # -- header planning -------------------------------------------------------------

    def _index_header(self, header: list[str]) -> dict[str, int]:
        index: dict[str, int] = {}
        for i, name in enumerate(header):
            key = name.lower()
            if key in index:
                where = f"columns {index[key] + 1} and {i + 1}"
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
        found = ", ".join(repr(shown_header(h)) for h in self.header) or "(nothing)"
        if any(shown_header(h) != h for h in self.header):
            found += " (the first line holds an email address: is the header line missing?)"
        return found

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
            "the header fits no scenario's required columns; found: "
            f"{self._found()}. Say which scenario with --scenario NAME, or map the columns in a "
            "profile",
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
        return Checked(line, fields, source, scenario, errors)

    def _row_scenario(self, line: int, fields: list[str], errors: list[RowError]) -> str | None:
        assert self.scenario_index is not None
        raw = fields[self.scenario_index].strip()
        if raw:
            scenario = self.values.get(raw.lower())
            if scenario is not None:
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
        value = fields[bound.index].strip()
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
            if len(value) > (f.max_length or 254):
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
            problem = email_problem(value)
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


def _label(column: str, f: Field) -> str:
    return column if column.lower() == f.name.lower() else f"{column} ({f.name})"


def start_checker(
    report: Report,
    header: Record | None,
    profile: Profile = DEFAULT_PROFILE,
    scenario: str | None = None,
    fallback_scenario: str | None = None,
) -> Checker | None:
    """Plan the checks from the header record; a file-level problem ends in the report."""
    try:
        if header is None or header.problem or not any(h.strip() for h in header.fields):
            why = header.problem if header and header.problem else "the first line is empty"
            raise FileProblem("no-header", f"no usable header line: {why}")
        report.header = header.fields
        return Checker(
            header.fields, profile, scenario=scenario, fallback_scenario=fallback_scenario
        )
    except FileProblem as problem:
        report.file_error = problem.error
        return None


#: "auto": the native engine (hrupload.fastcheck) where it applies, else the reference;
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
    checker: Checker | None = field(default=None, init=False)

    def __iter__(self) -> Iterator[Checked]:
        report = self.report
        reader = csvread.records(self.stream, self.facts.encoding)
        self.checker = start_checker(
            report, next(reader, None), self.profile, self.scenario, self.fallback_scenario
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
        """Upload chunks of up to ``records_per_call`` valid rows (each a complete CSV:
        the header line, then the rows as ``ChunkBuilder`` writes them) and the rejected
        rows, both in file order; the report fills as they come."""
        if engine == "auto" and _fast_engine_for(self.facts.encoding):
            from hrupload import fastcheck

            run = fastcheck.FastRun(
                self.stream,
                self.facts.encoding,
                self.report,
                self.profile,
                self.scenario,
                self.fallback_scenario,
            )
            try:
                yield from fastcheck.run_chunks(run, records_per_call)
            finally:
                self.checker = run.checker
            return
        builder: ChunkBuilder | None = None
        for row in self:
            if builder is None:
                builder = ChunkBuilder(self.report.header, records_per_call)
            if row.errors:
                yield row
                continue
            count = builder.count + 1
            data = builder.add(row.fields)
            if data is not None:
                yield Chunk(data, count)
        if builder is not None:
            count = builder.count
            data = builder.flush()
            if data is not None:
                yield Chunk(data, count)


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
) -> Report:
    """Scan then validate a re-openable source; a file-level problem ends in the report.

    Without ``on_row`` (only the report is wanted) the native engine scans and validates in
    one read; ``engine="reference"`` forces the row-by-row reference engine.
    ``fingerprint=False`` skips the SHA-256 (the report's ``sha256`` is then None): a check
    alone needs no resume or de-duplication key.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}")
    report = new_report(name)
    if on_row is None and engine == "auto" and _fast_engine_for("utf-8"):
        from hrupload import fastcheck

        try:
            return fastcheck.validate_fused(
                lambda: _open(open_stream),
                report,
                profile=profile,
                scenario=scenario,
                fallback_scenario=fallback_scenario,
                max_bytes=max_bytes,
                fingerprint=fingerprint,
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
        for checked in Validation(stream, facts, report, profile, scenario, fallback_scenario):
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
