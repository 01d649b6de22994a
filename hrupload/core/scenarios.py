"""The five HR scenarios the Purview connector accepts and the fields of each.

Field names and limits follow Microsoft's "Set up a connector to import HR data";
everything here is data, so adding a scenario or field is a one-line change. How each kind
of field is checked is :data:`hrupload.core.rules.RULES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    TEXT = "text"
    EMAIL = "email"
    DATE = "date"


@dataclass(frozen=True)
class Field:
    name: str
    required: bool
    kind: Kind = Kind.TEXT
    #: this field's own limit in characters; None: its kind's (rules.RULES), if any
    max_length: int | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    #: What an HRScenario column holds for this scenario unless a profile says otherwise.
    default_value: str
    fields: tuple[Field, ...]

    @property
    def required(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.required)

    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name.lower() == name.lower():
                return f
        return None


_EMAIL = Field("EmailAddress", True, Kind.EMAIL)  # its limit is the kind's (rules.RULES)
_EFFECTIVE = Field("EffectiveDate", True, Kind.DATE)
_REMARKS = Field("Remarks", False, max_length=200)
_RATING = Field("Rating", False, max_length=25)

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "resignation",
            "Resignation",
            (
                _EMAIL,
                Field("ResignationDate", True, Kind.DATE),
                Field("LastWorkingDate", True, Kind.DATE),
            ),
        ),
        Scenario(
            "job-level-change",
            "Job level change",
            (_EMAIL, _EFFECTIVE, _REMARKS, Field("OldLevel", False), Field("NewLevel", False)),
        ),
        Scenario(
            "performance-review", "Performance review", (_EMAIL, _EFFECTIVE, _REMARKS, _RATING)
        ),
        Scenario(
            "performance-improvement-plan",
            "Performance improvement plan",
            (_EMAIL, _EFFECTIVE, _REMARKS, _RATING),
        ),
        Scenario(
            "employee-profile",
            "Employee profile",
            (
                _EMAIL,
                Field("EmployeeFirstName", True),
                Field("EmployeeLastName", True),
                Field("EmployeeAddressLine1", True),
                Field("EmployeeZipCode", True),
                Field("EmployeeAddressLine2", False),
                Field("EmployeeCity", False),
                Field("EmployeeState", False),
                Field("EmployeeCountry", False),
                Field("EmployeeDepartment", False),
                Field("EmployeeType", False),
                Field("EmployeeRole", False),
            ),
        ),
    )
}

#: The column name Microsoft's docs use for multi-scenario files.
DEFAULT_SCENARIO_COLUMN = "HRScenario"


def scenario_named(name: str) -> Scenario | None:
    """Look a scenario up by name, forgiving case and spaces/underscores for hyphens."""
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    return SCENARIOS.get(key)
