"""The reference check: bind the header's columns to scenario fields once, then check each
row against that plan. Pure: no I/O, no Azure imports.

``Checker`` decides once, from the header, which column feeds which field of which
scenario; checking a row is then a handful of lookups and the field kind's rule
(:mod:`hrupload.core.rules`). The fast engine proves most rows valid in bulk and asks a
``Checker`` about the rest, so its verdicts are this module's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hrupload.core.csvread import Record
from hrupload.core.csvwrite import csv_line
from hrupload.core.dialect import OUTPUT_DELIMITER, PLURALS
from hrupload.core.profile import DEFAULT_PROFILE, Profile
from hrupload.core.report import (
    FileProblem,
    Report,
    RowError,
    header_looks_like_data,
    shown_header,
    value_kind,
)
from hrupload.core.rules import RULES, Column, Problem, ScenarioValues, column, is_date
from hrupload.core.scenarios import DEFAULT_SCENARIO_COLUMN, SCENARIOS, Field, Kind, scenario_named

#: Columns a header may have. HR exports have a few dozen; a wider header is not an HR
#: export (or is one row of hundreds of thousands of values), and every short row would be
#: padded to its width, in memory and in every chunk sent.
MAX_COLUMNS = 1024


@dataclass(frozen=True)
class Bound:
    field: Field
    index: int | None  # None: the file has no column for this field
    #: the column as its rule reads it (None with ``index``)
    column: Column | None = None


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
        delimiter: str = OUTPUT_DELIMITER,
    ) -> None:
        self.header = header
        self.delimiter = delimiter
        self.width = len(header)
        self.profile = profile
        #: the most a row may take in an upload chunk (the chunk holds the header too);
        #: None: no limit (a check that uploads nothing, when asked)
        self.max_chunk_bytes = max_chunk_bytes
        self.max_row_bytes = _row_budget(header, max_chunk_bytes)
        self._date_formats = tuple(profile.date_formats)
        self._index = self._index_header(header)
        self.scenario_index: int | None = None
        #: a multi-scenario file's scenario column and the values it may hold
        self.scenario_values: ScenarioValues | None = None
        self.single: str | None = None

        column = self._scenario_column(scenario)
        if column is not None:
            if column.lower() not in self._index:
                raise FileProblem(
                    "missing-column",
                    f"the scenario column {column!r} named by the profile is not in the header; "
                    f"{self._found()}",
                )
            self.scenario_index = self._index[column.lower()]
            names = profile.active_scenarios()
            self.scenario_values = ScenarioValues(
                header[self.scenario_index], {n: profile.mapping(n).value for n in names}
            )
            self.plans = {n: self._plan(n) for n in names}
        else:
            self.single = self._choose_single(scenario, fallback_scenario)
            plan = self._plan(self.single)
            if plan.missing:
                raise FileProblem(
                    "missing-column",
                    f"{self.single} needs column(s) {self._wanted_list(plan)}, which the header "
                    f"lacks; {self._found()}" + self._spaces_hint(plan),
                )
            self.plans = {self.single: plan}

    # -- header planning -------------------------------------------------------------

    def _scenario_column(self, scenario: str | None) -> str | None:
        """The column naming each row's scenario, or None: the file is single-scenario."""
        if scenario:
            return None
        if self.profile.scenario_column:
            return self.profile.scenario_column
        # With no profile at all, Microsoft's own HRScenario name makes a multi-scenario file;
        # a profile without scenario_column says the file is single-scenario.
        if self.profile.maps_nothing and DEFAULT_SCENARIO_COLUMN.lower() in self._index:
            return DEFAULT_SCENARIO_COLUMN
        return None

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

    def _find(self, scenario: str, f: Field) -> int | None:
        """The header column that feeds ``f``: the one the profile maps it to, else the one
        with its name or, failing that, one of its aliases (Microsoft's sample names)."""
        mapped = self.profile.mapping(scenario).columns.get(f.name)
        names = (mapped,) if mapped is not None else f.names
        for name in names:
            index = self._index.get(name.lower())
            if index is not None:
                return index
        return None

    def _wanted_list(self, plan: Plan) -> str:
        """The required columns a header lacks, each with the aliases that would do."""
        wanted = []
        for b in plan.bound:
            if b.index is None and b.field.required:
                name = self._column_for(plan.scenario, b.field)
                aliases = self._aliases(plan.scenario, b.field)
                wanted.append(f"{name} (or {' or '.join(aliases)})" if aliases else name)
        return ", ".join(wanted)

    def _aliases(self, scenario: str, f: Field) -> tuple[str, ...]:
        """The other names a message may offer for ``f``'s column: none when the profile
        maps it (the mapping is then the only name that counts)."""
        return () if f.name in self.profile.mapping(scenario).columns else f.aliases

    def _plan(self, scenario: str) -> Plan:
        bound = []
        missing = []
        used = set()
        for f in SCENARIOS[scenario].fields:
            index = self._find(scenario, f)
            where = None if index is None else column(self.header[index], f, self._date_formats)
            bound.append(Bound(f, index, where))
            if index is None and f.required:
                missing.append(self._column_for(scenario, f))
            if index is not None:
                used.add(index)
        other_dates = {}
        for other in self.profile.active_scenarios():
            for f in SCENARIOS[other].fields:
                if f.kind is Kind.DATE:
                    index = self._find(other, f)
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
                    f"the extra values, or quote values that contain {PLURALS[self.delimiter]}",
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
            error = self._check_field(line, scenario, plan, bound, fields)
            if error is not None:
                errors.append(error)
        if not errors and self.max_row_bytes is not None:
            self._check_size(line, fields, errors)
        return Checked(line, fields, source, scenario, errors)

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
        values, index = self.scenario_values, self.scenario_index
        assert values is not None and index is not None
        read = values.read(fields[index])
        if isinstance(read, Problem):
            errors.append(RowError(line, values.column, read.code, read.message))
            return None
        scenario, fields[index] = read
        return scenario

    def _check_field(
        self, line: int, scenario: str, plan: Plan, bound: Bound, fields: list[str]
    ) -> RowError | None:
        """The field's error in this row, if any; a value the rule rewrites (a date in a
        profile's format) is rewritten in ``fields``."""
        f, where = bound.field, bound.column
        if where is None or bound.index is None:
            if not f.required:
                return None
            name = self._column_for(scenario, f)
            return RowError(
                line,
                name,
                "missing-column",
                f"{scenario} rows need a {name!r} column ({f.name})"
                + "".join(f", or {alias!r}" for alias in self._aliases(scenario, f))
                + "; the header has none",
            )
        cell = fields[bound.index]
        value = cell.strip()
        if not value:
            if not f.required:
                return None
            return RowError(
                line,
                where.name,
                "missing-value",
                f"{where.label} is required for {scenario}" + self._shift_hint(plan, f, fields),
            )
        verdict = RULES[f.kind].check(cell, value, where)
        if isinstance(verdict, Problem):
            return RowError(line, where.name, verdict.code, verdict.message)
        if verdict is not None:
            fields[bound.index] = verdict
        return None

    def _shift_hint(self, plan: Plan, f: Field, fields: list[str]) -> str:
        if f.kind is not Kind.DATE:
            return ""
        for index, name in plan.other_dates:
            value = fields[index].strip()
            if value and is_date(value, self._date_formats):
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


class Wants(Protocol):
    """What a run asks of the checks: the validation engines (``Validation`` and the fast
    engine's ``FastRun``) both carry these, so each starts its checker the same way."""

    report: Report
    profile: Profile
    scenario: str | None
    fallback_scenario: str | None
    max_chunk_bytes: int | None


def start_checker(run: Wants, header: Record | None) -> Checker | None:
    """Plan the checks from the header record; a file-level problem ends in ``run.report``."""
    report = run.report
    try:
        if header is None or header.problem or not any(h.strip() for h in header.fields):
            why = header.problem if header and header.problem else "the first line is empty"
            raise FileProblem("no-header", f"no usable header line: {why}")
        check_width(header.fields)
        report.header = header.fields
        return Checker(
            header.fields,
            run.profile,
            scenario=run.scenario,
            fallback_scenario=run.fallback_scenario,
            max_chunk_bytes=run.max_chunk_bytes,
            # what the scan found (the fast engine reads comma files only)
            delimiter=report.delimiter or OUTPUT_DELIMITER,
        )
    except FileProblem as problem:
        report.file_error = problem.error
        return None
