"""The five HR scenarios the Purview connector accepts and the fields of each.

Field names and limits follow Microsoft's "Set up a connector to import HR data";
everything here is data, so adding a scenario or field is a one-line change. How each kind
of field is checked is :data:`hrupload.core.rules.RULES`.

A field's ``aliases`` are the other names Microsoft's own sample files give its column (the
employee-profile sample says ``EmployeeAddLine1`` where the column table says
``EmployeeAddressLine1``; the US Government article's resignation sample says
``TerminationDate``). A header column is found, ignoring case, by the profile's mapping when
it names the field, else by the field's name, else by its first alias the header has. The
file goes out with its own header either way: the portal's mapping names its columns.

The employee-profile sample also has a ``UserName`` column, which is no field of any
scenario (the article's column table leaves it out; the portal maps nothing to it). It is
no error: like every column no scenario uses, it goes out unchecked, as it is.
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
    #: other names Microsoft's sample files use for this column (see the module's docstring)
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The names a header column may have for this field, in the order they are tried."""
        return (self.name, *self.aliases)


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
#: Microsoft's improvement-plan sample names these two columns its own way.
_PLAN_REMARKS = Field("Remarks", False, max_length=200, aliases=("ImprovementRemarks",))
_PLAN_RATING = Field("Rating", False, max_length=25, aliases=("PerformanceRating",))

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "resignation",
            "Resignation",
            (
                _EMAIL,
                # TerminationDate: the US Government article's sample
                Field("ResignationDate", True, Kind.DATE, aliases=("TerminationDate",)),
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
            (_EMAIL, _EFFECTIVE, _PLAN_REMARKS, _PLAN_RATING),
        ),
        # Microsoft's sample's UserName column is no field: see the module's docstring.
        Scenario(
            "employee-profile",
            "Employee profile",
            (
                _EMAIL,
                Field("EmployeeFirstName", True),
                Field("EmployeeLastName", True),
                Field("EmployeeAddressLine1", True, aliases=("EmployeeAddLine1",)),
                Field("EmployeeZipCode", True),
                Field("EmployeeAddressLine2", False, aliases=("EmployeeAddLine2",)),
                Field("EmployeeCity", False),
                Field("EmployeeState", False),
                Field("EmployeeCountry", False),
                Field("EmployeeDepartment", False, aliases=("EmployeeDept",)),
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
