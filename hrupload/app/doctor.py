"""``hrupload doctor``'s model: a checklist of small checks, run in order, as data.

Each :class:`Item` is one thing a set-up needs (settings, storage, the secret, a token,
the ingestion host); :func:`run` runs them and returns one :class:`Check` per item, which
the CLI prints as a checklist or as JSON. An item that needs an earlier one is skipped
when that one did not pass, so one cause shows once, not as a cascade of failures.

The checks themselves are built from the settings in :func:`hrupload.compose.doctor_checks`;
this module knows no adapter. A check passes by returning what it saw, skips by raising
:class:`Skip` (saying which setting would enable it), and fails by raising an
:class:`~hrupload.core.errors.HrUploadError`, whose message says what is wrong; the fix
is the error's own (:class:`Problem`) or the item's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum

from hrupload.core.errors import HrUploadError
from hrupload.core.redact import redact


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


class Skip(Exception):
    """The check does not apply to this set-up; the message says why."""


class Problem(HrUploadError):
    """A failed check with its own fix (the item's general fix does not fit)."""

    def __init__(self, message: str, *, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


@dataclass(frozen=True)
class Item:
    #: A stable id, for --json and for ``needs``.
    name: str
    title: str
    #: Runs the check: returns what it saw; raises Skip or an HrUploadError.
    check: Callable[[], str]
    #: Names of earlier items that must have passed for this one to run.
    needs: tuple[str, ...] = ()
    #: What to do when it fails, unless the error says (:class:`Problem`).
    fix: str = ""


@dataclass(frozen=True)
class Check:
    """One line of the checklist."""

    name: str
    title: str
    outcome: Outcome
    detail: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == Outcome.OK

    def to_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


def run(items: Iterable[Item]) -> list[Check]:
    """Run ``items`` in order; never raises for what a user can cause.

    An error that is not an HrUploadError is a bug in a check, not a fault of the set-up,
    but the checklist still goes on: it fails that item, naming the error's type."""
    done: dict[str, Check] = {}
    for item in items:
        blocked = next((done[n] for n in item.needs if n in done and not done[n].ok), None)
        if blocked is not None:
            done[item.name] = _skipped(item, f"{blocked.title} {blocked.outcome}")
            continue
        try:
            detail = item.check()
        except Skip as exc:
            done[item.name] = _skipped(item, str(exc))
        except Problem as exc:
            done[item.name] = _failed(item, str(exc), exc.fix)
        except HrUploadError as exc:
            done[item.name] = _failed(item, str(exc), item.fix)
        except Exception as exc:  # one broken check must not hide the others
            text = f"unexpected {type(exc).__name__}: {exc}"
            done[item.name] = _failed(item, text, item.fix)
        else:
            done[item.name] = Check(item.name, item.title, Outcome.OK, redact(detail))
    return list(done.values())


def passed(checks: Iterable[Check]) -> bool:
    """True when nothing failed (a skipped check does not count against the set-up)."""
    return all(c.outcome != Outcome.FAILED for c in checks)


def _skipped(item: Item, why: str) -> Check:
    return Check(item.name, item.title, Outcome.SKIPPED, redact(f"skipped: {why}"))


def _failed(item: Item, detail: str, fix: str) -> Check:
    # Messages are written never to hold a secret; redact() is the belt to those braces.
    return Check(item.name, item.title, Outcome.FAILED, redact(detail), redact(fix))
