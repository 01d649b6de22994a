"""A starting profile from an export's header and a sample of its rows
(``hrupload profile init``).

What it can tell from the file it writes down: the columns it recognises (a field's own name
or one of Microsoft's sample names, ignoring case) for each scenario the header can serve,
the scenario column and the values it holds, the ``date_formats`` that read every sampled
date, the delimiter and a legacy encoding. What it cannot tell it never guesses: a column it
does not recognise, a scenario value it cannot place, dates that read both month first and
day first: each is a note for the admin (also written into the profile's ``description``),
and the profile leaves it out. The admin then maps the rest as in the portal's wizard.

Pure: a stream in, a dict out; the rows it samples never leave this module (only column
names, scenario values and format strings do).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from hrupload.core import csvread
from hrupload.core.dialect import DEFAULT_DIALECT, OUTPUT_DELIMITER, Dialect
from hrupload.core.rules import is_iso_datetime, readings, suggest_formats
from hrupload.core.scenarios import DEFAULT_SCENARIO_COLUMN, SCENARIOS, Kind, scenario_named

#: Rows read for scenario values and date shapes: enough to see every value an export
#: uses, little enough to be quick on a 3 GB file.
SAMPLE_ROWS = 5000
#: Most distinct values a scenario column holds (an HR export has a handful of events).
MAX_SCENARIO_VALUES = 12
#: Names a scenario column goes by in HR exports, beside Microsoft's HRScenario.
_SCENARIO_NAMES = ("hrscenario", "scenario", "event type", "event", "action", "action type")


@dataclass
class Starter:
    """The profile (as JSON-ready data) and what the admin still has to do by hand."""

    profile: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    #: header columns recognised as a field of some scenario
    recognised: list[str] = field(default_factory=list)
    unrecognised: list[str] = field(default_factory=list)


def starting_profile(stream: BinaryIO, *, name: str, dialect: Dialect = DEFAULT_DIALECT) -> Starter:
    """The starting profile for the export in ``stream`` (called ``name`` in its notes).
    Raises :class:`hrupload.core.report.FileProblem` when the file cannot be read at all
    (its encoding, an ambiguous delimiter, no header), as validation would."""
    facts = csvread.scan(stream, fingerprint=False, dialect=dialect)
    stream.seek(0)
    rows = _records(stream, facts)
    header_record = next(rows, None)
    if header_record is None or not any(f.strip() for f in header_record.fields):
        from hrupload.core.report import FileProblem

        raise FileProblem("no-header", "the file has no header line to start a profile from")
    header = [h.strip() for h in header_record.fields]
    sample = [r.fields for r in _take(rows, SAMPLE_ROWS) if r.problem is None]
    by_lower = {h.lower(): h for h in reversed(header) if h}

    starter = Starter(profile={"description": ""})
    scenario_column = _scenario_column(header, sample)
    mappings, recognised = _mappings(by_lower)
    if scenario_column is not None:
        values = _distinct(sample, header.index(scenario_column))
        mappings = _with_values(mappings, values, scenario_column, starter.notes)
        starter.profile["scenario_column"] = scenario_column
    else:
        mappings = _complete_only(mappings, starter.notes)
    starter.profile["scenarios"] = mappings
    formats = _date_formats(header, sample, mappings, starter.notes)
    if formats:
        starter.profile["date_formats"] = formats
    if facts.delimiter != OUTPUT_DELIMITER:
        starter.profile["delimiter"] = facts.delimiter
    if dialect.encoding and facts.encoding == dialect.encoding:
        starter.profile["encoding"] = facts.encoding
    starter.recognised = [h for h in header if h.lower() in recognised]
    starter.unrecognised = [
        h for h in header if h and h.lower() not in recognised and h != scenario_column
    ]
    if starter.unrecognised:
        starter.notes.append(
            "columns not recognised (map them to fields by hand, or leave them: the connector "
            "ignores columns it is not mapped to): " + ", ".join(starter.unrecognised)
        )
    starter.profile["description"] = f"Started by hrupload profile init from {name}." + (
        " To do: " + " ".join(f"({i}) {n}" for i, n in enumerate(starter.notes, 1))
        if starter.notes
        else ""
    )
    return starter


def _records(stream: BinaryIO, facts: csvread.FileFacts) -> Iterator[csvread.Record]:
    return csvread.records(stream, facts.encoding, delimiter=facts.delimiter)


def _take(rows: Iterator[csvread.Record], n: int) -> Iterator[csvread.Record]:
    for i, row in enumerate(rows):
        if i >= n:
            return
        yield row


def _distinct(sample: list[list[str]], index: int) -> list[str]:
    seen: dict[str, None] = {}
    for fields in sample:
        if index < len(fields) and (value := fields[index].strip()):
            seen.setdefault(value, None)
    return list(seen)


def _scenario_column(header: list[str], sample: list[list[str]]) -> str | None:
    """HRScenario (any case), else a column named like one whose values are few words."""
    for h in header:
        if h.lower() == DEFAULT_SCENARIO_COLUMN.lower():
            return h
    for h in header:
        if h.lower() in _SCENARIO_NAMES:
            values = _distinct(sample, header.index(h))
            if 0 < len(values) <= MAX_SCENARIO_VALUES and not any("@" in v for v in values):
                return h
    return None


def _mappings(by_lower: dict[str, str]) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """Per scenario, its fields found in the header (field -> header column)."""
    mappings: dict[str, dict[str, Any]] = {}
    recognised: set[str] = set()
    for scenario in SCENARIOS.values():
        columns = {}
        for f in scenario.fields:
            found = next((by_lower[n.lower()] for n in f.names if n.lower() in by_lower), None)
            if found is not None:
                columns[f.name] = found
                recognised.add(found.lower())
        if columns:
            mappings[scenario.name] = {"columns": columns}
    return mappings, recognised


def _missing(scenario: str, columns: dict[str, str]) -> list[str]:
    return [f.name for f in SCENARIOS[scenario].required if f.name not in columns]


def _complete_only(mappings: dict[str, dict[str, Any]], notes: list[str]) -> dict:
    """Without a scenario column a file is one scenario: those whose required fields are
    all in the header. EmailAddress alone fits every scenario: it says nothing."""
    complete = {
        s: m
        for s, m in mappings.items()
        if not _missing(s, m["columns"]) and set(m["columns"]) != {"EmailAddress"}
    }
    if not complete:
        notes.append(
            "no scenario has all its required columns in the header: map them under "
            '"scenarios" ('
            + "; ".join(
                f"{s}: {', '.join(f.name for f in SCENARIOS[s].required)}" for s in SCENARIOS
            )
            + ")"
        )
    elif len(complete) > 1:
        notes.append(
            "the header fits several scenarios (" + ", ".join(complete) + "): keep the one "
            "this export is, or add a scenario column"
        )
    return complete


def _with_values(
    mappings: dict[str, dict[str, Any]], values: list[str], column: str, notes: list[str]
) -> dict:
    """Each scenario value placed where it names a scenario; the rest are notes."""
    placed: dict[str, dict[str, Any]] = {}
    unplaced = []
    for value in values:
        scenario = scenario_named(value) or next(
            (s for s in SCENARIOS.values() if s.default_value.lower() == value.lower()), None
        )
        if scenario is None or scenario.name in placed:
            unplaced.append(value)
            continue
        body = {"value": value, "columns": mappings.get(scenario.name, {}).get("columns", {})}
        placed[scenario.name] = body
        if missing := _missing(scenario.name, body["columns"]):
            notes.append(f"{scenario.name} needs columns for {', '.join(missing)}")
    if unplaced:
        notes.append(
            f'values of {column!r} not placed (give each scenario its "value"): '
            + ", ".join(unplaced)
        )
    return placed


def _date_formats(
    header: list[str], sample: list[list[str]], mappings: dict, notes: list[str]
) -> list[str]:
    """The formats that read every sampled non-ISO date of the mapped date columns; a
    month-first / day-first choice the sample cannot settle is a note, not a guess."""
    date_columns = {
        m["columns"][f.name]
        for s, m in mappings.items()
        for f in SCENARIOS[s].fields
        if f.kind is Kind.DATE and f.name in m["columns"]
    }
    chosen: list[str] = []
    for column in (h for h in header if h in date_columns):
        values = [v for v in _distinct(sample, header.index(column)) if not is_iso_datetime(v)]
        # Values of one shape (month-first and day-first are one shape) need one format:
        # the one of their candidates that reads them all.
        shapes: dict[str, set[str]] = {}
        members: dict[str, list[str]] = {}
        for value in values:
            for fmt in suggest_formats(value):
                shape = _shape(fmt)
                shapes.setdefault(shape, set()).add(fmt)
                members.setdefault(shape, [])
                if value not in members[shape]:
                    members[shape].append(value)
        for shape, candidates in shapes.items():
            fits = sorted(f for f in candidates if all(readings(v, (f,)) for v in members[shape]))
            if len(fits) == 1:
                if fits[0] not in chosen:
                    chosen.append(fits[0])
            elif len(fits) > 1:
                notes.append(
                    f"dates in {column!r} read both as {' and as '.join(fits)}: add the one "
                    'the export uses to "date_formats"'
                )
    return chosen


def _shape(fmt: str) -> str:
    """A format with day-first written month-first: both orders of one shape alike."""
    return fmt.replace("%d/%m", "%m/%d").replace("%d.%m", "%m.%d").replace("%d-%m", "%m-%d")
