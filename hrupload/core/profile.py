"""Column-mapping profiles: the same mapping an admin types into the Purview portal wizard.

A profile is JSON (a file path, or the JSON itself in ``HRUPLOAD_PROFILE``). It is
checked strictly when loaded, because a typo in a profile would otherwise surface
as thousands of confusing row errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hrupload.core.dialect import SCENARIO_COLUMNS, Dialect, delimiter_named, encoding_named
from hrupload.core.errors import ProfileError
from hrupload.core.rules import from_formats
from hrupload.core.scenarios import DEFAULT_SCENARIO_COLUMN, SCENARIOS, scenario_named


@dataclass(frozen=True)
class ScenarioMapping:
    value: str
    #: canonical field name -> header name in the file
    columns: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    scenario_column: str | None = None
    #: Scenarios the profile mentions; empty means "all, with default values".
    scenarios: dict[str, ScenarioMapping] = field(default_factory=dict)
    date_formats: tuple[str, ...] = ()
    #: a legacy encoding (normalised, see dialect.encoding_named); None: UTF-8, or what a
    #: byte order mark says
    encoding: str | None = None
    #: one of dialect.DELIMITERS; None: detected from the header line
    delimiter: str | None = None
    source: str = "(defaults)"

    def mapping(self, scenario: str) -> ScenarioMapping:
        found = self.scenarios.get(scenario)
        return found or ScenarioMapping(SCENARIOS[scenario].default_value)

    def active_scenarios(self) -> list[str]:
        return list(self.scenarios) or list(SCENARIOS)

    @property
    def maps_nothing(self) -> bool:
        """No column mapping: no profile at all, or one that only says how files are read
        (``encoding``, ``delimiter``, or ``--encoding``/``--delimiter`` alone)."""
        return not (self.scenario_column or self.scenarios or self.date_formats)

    def reading(self, *, encoding: str | None = None, delimiter: str | None = None) -> Profile:
        """This profile with the command line's ``--encoding``/``--delimiter`` (None: the
        profile's own); raises ValueError saying why a name cannot be used."""
        return replace(
            self,
            encoding=encoding_named(encoding) if encoding else self.encoding,
            delimiter=delimiter_named(delimiter) if delimiter else self.delimiter,
        )

    def dialect(self) -> Dialect:
        """How files under this profile are read: its encoding and delimiter, and the
        column names that tell one delimiter from another."""
        columns = {
            self.mapping(name).columns.get(f.name, f.name).lower()
            for name in self.active_scenarios()
            for f in SCENARIOS[name].fields
        }
        columns.add((self.scenario_column or DEFAULT_SCENARIO_COLUMN).lower())
        return Dialect(self.encoding, self.delimiter, frozenset(columns) | SCENARIO_COLUMNS)

    def fingerprint(self) -> str:
        """Stable hash of what changes validation results (part of the resume key)."""
        doc = {
            "scenario_column": self.scenario_column,
            "scenarios": {
                k: [v.value, sorted(v.columns.items())] for k, v in self.scenarios.items()
            },
            "date_formats": list(self.date_formats),
        }
        # only when set: the resume keys of profiles made before these keys still match
        if self.encoding is not None:
            doc["encoding"] = self.encoding
        if self.delimiter is not None:
            doc["delimiter"] = self.delimiter
        import hashlib  # not at import: OpenSSL's libcrypto is ~4 MB of RSS

        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


DEFAULT_PROFILE = Profile()
#: A profile maps a few dozen columns: a few KB of JSON. Anything near this limit is not a
#: profile (a data file named by mistake, or a crafted one), and is refused before it is
#: parsed whole.
MAX_PROFILE_BYTES = 256 << 10
#: Nesting a profile may have: its own shape is four levels deep (scenarios, a scenario,
#: its columns); deeper JSON would only exhaust the parser's stack.
MAX_PROFILE_DEPTH = 16
_SETTING = "HRUPLOAD_PROFILE (--profile)"
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")
_TOP_KEYS = {"scenario_column", "scenarios", "date_formats", "description", "encoding", "delimiter"}
_SCENARIO_KEYS = {"value", "columns"}


def load_profile(spec: str | Path | None) -> Profile:
    """Load a profile from a path or inline JSON; ``None`` or empty gives the defaults."""
    if spec is None or str(spec).strip() == "":
        return DEFAULT_PROFILE
    text = str(spec).strip()
    if text.startswith("{"):
        return parse_profile_text(text, source="inline JSON")
    path = Path(text).expanduser()
    return parse_profile_text(_read(path), source=str(path))


def parse_profile_text(text: str, *, source: str) -> Profile:
    """A profile from its JSON text (read from wherever ``source`` names: a file, a blob,
    inline); too large, too deep or malformed fails naming ``source``."""
    _check_size(len(text.encode("utf-8", "surrogatepass")), source)
    _check_depth(text, source)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(
            f"profile {source} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:  # _check_depth should have caught it: never a traceback
        raise ProfileError(_too_deep(source)) from None
    return parse_profile(doc, source=source)


def _read(path: Path) -> str:
    """The profile file's text, read no further than the size limit (the path may name a
    data file, or a device that never ends)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PROFILE_BYTES + 1)
        _check_size(len(data), str(path))
        return data.decode("utf-8-sig")
    except FileNotFoundError:
        raise ProfileError(f"profile file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"cannot read profile {path}: {exc}") from None


def _check_size(size: int, source: str) -> None:
    if size > MAX_PROFILE_BYTES:
        raise ProfileError(
            f"{_SETTING}: profile {source} is over {MAX_PROFILE_BYTES >> 10} KiB, far more "
            "than a column mapping takes; name the profile's JSON file, not a data file"
        )


def _check_depth(text: str, source: str) -> None:
    """Refuse JSON nested deeper than a profile is, before the parser recurses into it."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    if deepest > MAX_PROFILE_DEPTH:
        raise ProfileError(_too_deep(source))


def _too_deep(source: str) -> str:
    return (
        f"{_SETTING}: profile {source} nests objects or lists more than "
        f"{MAX_PROFILE_DEPTH} deep; a profile is an object of scenarios, each with its columns"
    )


def parse_profile(doc: Any, *, source: str = "profile") -> Profile:
    if not isinstance(doc, dict):
        raise ProfileError(f"profile {source} must be a JSON object")
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise ProfileError(
            f"profile {source}: unknown key(s) {', '.join(sorted(unknown))}; "
            f"expected {', '.join(sorted(_TOP_KEYS))}"
        )
    scenario_column = doc.get("scenario_column")
    if scenario_column is not None and (
        not isinstance(scenario_column, str) or not scenario_column.strip()
    ):
        raise ProfileError(f"profile {source}: scenario_column must be a non-empty string")

    raw_scenarios = doc.get("scenarios", {})
    if not isinstance(raw_scenarios, dict):
        raise ProfileError(f"profile {source}: scenarios must be an object keyed by scenario name")
    scenarios: dict[str, ScenarioMapping] = {}
    for key, body in raw_scenarios.items():
        scenario = scenario_named(key)
        if scenario is None:
            raise ProfileError(
                f"profile {source}: unknown scenario {key!r}; known scenarios: "
                f"{', '.join(SCENARIOS)}"
            )
        if scenario.name in scenarios:
            raise ProfileError(f"profile {source}: scenario {scenario.name} is listed twice")
        scenarios[scenario.name] = _parse_mapping(scenario.name, body or {}, source)

    values: dict[str, str] = {}
    for name, mapping in scenarios.items():
        other = values.get(mapping.value.lower())
        if other:
            raise ProfileError(
                f"profile {source}: scenarios {other} and {name} share the value {mapping.value!r}"
            )
        values[mapping.value.lower()] = name

    formats = doc.get("date_formats", [])
    if not isinstance(formats, list) or not all(isinstance(f, str) and "%" in f for f in formats):
        raise ProfileError(
            f"profile {source}: date_formats must be a list of strftime formats such as "
            '"%m/%d/%Y %H:%M"'
        )
    for fmt in formats:
        _check_date_format(fmt, source)
    _check_unambiguous(tuple(formats), source)
    return Profile(
        scenario_column=scenario_column.strip() if scenario_column else None,
        scenarios=scenarios,
        date_formats=tuple(formats),
        encoding=_named(doc, "encoding", encoding_named, source),
        delimiter=_named(doc, "delimiter", delimiter_named, source),
        source=source,
    )


def _named(doc: dict, key: str, normalise: Callable[[str], str], source: str) -> str | None:
    """``doc[key]`` as ``normalise`` returns it (None when absent), or a ProfileError."""
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProfileError(f"profile {source}: {key} must be a string")
    try:
        return normalise(value)
    except ValueError as exc:
        raise ProfileError(f"profile {source}: {exc}") from None


def _check_date_format(fmt: str, source: str) -> None:
    """A bad directive (``%Q``, a trailing ``%``) would otherwise match nothing, silently."""
    try:
        datetime.strptime("", fmt)
    except ValueError as exc:
        if "does not match format" not in str(exc):
            raise ProfileError(
                f"profile {source}: date format {fmt!r} is not valid: {exc}"
            ) from None


#: Dates whose parts all differ and are 12 or less: written in one of the profile's formats
#: and read back in another, they show whether the two can read one value two ways
#: (``03/04/2011``: March 4 month first, April 3 day first).
_PROBES = (
    datetime(2011, 3, 4, 5, 6, 7, 8000, tzinfo=timezone(timedelta(hours=9))),
    datetime(2012, 10, 9, 8, 1, 2, 3, tzinfo=timezone(timedelta(hours=-2))),
)


def _check_unambiguous(formats: tuple[str, ...], source: str) -> None:
    """Refuse two formats that read the same text as different dates: a value fitting both
    would otherwise be read by whichever is listed first, silently. (A pair the probes miss
    still cannot settle a value by order: the date rule rejects it as ``ambiguous-date``.)"""
    for probe in _PROBES:
        for first in formats:
            text = probe.strftime(first)
            meant = from_formats(text, (first,))
            if meant is None:  # a format that cannot read its own output (%Z, %U): no probe
                continue
            for second in formats:
                other = from_formats(text, (second,))
                if other is not None and other != meant:
                    raise ProfileError(
                        f'profile {source}: date_formats "{first}" and "{second}" read '
                        f"{text!r} as different dates ({meant} and {other}); a value fitting "
                        "both cannot be told apart: keep only the one your export uses"
                    )


def _parse_mapping(name: str, body: Any, source: str) -> ScenarioMapping:
    scenario = SCENARIOS[name]
    if not isinstance(body, dict):
        raise ProfileError(f"profile {source}: scenario {name} must be an object")
    unknown = set(body) - _SCENARIO_KEYS
    if unknown:
        raise ProfileError(
            f"profile {source}: scenario {name}: unknown key(s) {', '.join(sorted(unknown))}; "
            "expected value, columns"
        )
    value = body.get("value", scenario.default_value)
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(f"profile {source}: scenario {name}: value must be a non-empty string")
    columns_raw = body.get("columns", {})
    if not isinstance(columns_raw, dict):
        raise ProfileError(f"profile {source}: scenario {name}: columns must be an object")
    columns: dict[str, str] = {}
    for field_name, header in columns_raw.items():
        known = scenario.field(field_name)
        if known is None:
            raise ProfileError(
                f"profile {source}: scenario {name} has no field {field_name!r}; its fields are "
                f"{', '.join(f.name for f in scenario.fields)}"
            )
        if not isinstance(header, str) or not header:
            raise ProfileError(
                f"profile {source}: scenario {name}: column for {known.name} must be a "
                "non-empty string"
            )
        columns[known.name] = header
    return ScenarioMapping(value.strip(), columns)
