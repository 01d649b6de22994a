"""The one place Azure SDK errors become hrupload errors, for blob and table storage alike.

Messages name the container, blob or table (never content) and say what to do. The
pipeline then handles one small set (:mod:`hrupload.app.ports`): :class:`BlobGone` and
:class:`BlobTaken` need their own handling, :class:`BlobExists` means a create-only write
found a blob in its place, and every other :class:`StorageError` is an outage to
:func:`hrupload.core.errors.blame` (the file stays, the sweep stops);
:class:`StorageUnavailable` says the service did not answer at all.

The table below is read top to bottom; the first rule whose status and error code match
decides. The Azure SDK is imported where it is used, so importing this costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hrupload.app.ports import BlobExists, BlobGone, BlobTaken
from hrupload.core.errors import StorageError

if TYPE_CHECKING:
    from azure.core.exceptions import AzureError, HttpResponseError


class StorageUnavailable(StorageError):
    """The storage service did not answer, or answered 5xx: every request fails for now."""


class TableMissing(StorageError):
    """The table does not exist (yet): on fresh storage the run log has nothing to show."""


@dataclass(frozen=True)
class _Answer:
    """One HTTP error answer, as the rules see it."""

    status: int
    code: str
    #: The request is about a blob (a 404 then means the blob is gone).
    blob: bool


@dataclass(frozen=True)
class _Rule:
    matches: Callable[[_Answer], bool]
    error: type[StorageError]
    #: Filled with action, where, container, code, denied, http and rid.
    message: str


_EXISTS = "could not {action} {where}: a blob of that name already exists and is never overwritten"

_RULES: tuple[_Rule, ...] = (
    _Rule(
        lambda a: a.status == 404 and a.code == "ContainerNotFound",
        StorageError,
        "could not {action} {where}: container {container!r} does not exist; check the "
        "container settings or create it (HrStorage.ensure_containers)",
    ),
    _Rule(
        lambda a: a.status == 404 and a.code == "TableNotFound",
        TableMissing,
        "could not {action} {where}: the table does not exist; check HRUPLOAD_RUNS_TABLE or "
        "create it (HrStorage.ensure_containers)",
    ),
    _Rule(
        lambda a: a.status == 404 and a.blob,
        BlobGone,
        "{where} no longer exists (could not {action} it)",
    ),
    _Rule(lambda a: a.status == 409 and a.code == "BlobAlreadyExists", BlobExists, _EXISTS),
    _Rule(
        lambda a: a.status == 409 and a.code == "LeaseAlreadyPresent",
        BlobTaken,
        "{where} is leased by another instance, which is processing it",
    ),
    _Rule(
        lambda a: a.status == 412 and a.code in ("ConditionNotMet", "SourceConditionNotMet"),
        StorageError,
        "could not {action} {where}: the blob changed meanwhile (its ETag no longer matches); "
        "the new version is processed on the next attempt",
    ),
    _Rule(
        lambda a: a.status in (409, 412) and a.code.startswith("Lease"),
        StorageError,
        "could not {action} {where}: a lease is in the way ({code}), e.g. this instance's "
        "lease expired and another took the blob{rid}",
    ),
    _Rule(
        lambda a: a.status == 403,
        StorageError,
        "could not {action} {where}: access denied ({denied}){rid}; check that the app's "
        "identity has the 'Storage Blob Data Contributor' and 'Storage Table Data "
        "Contributor' roles on the account",
    ),
    _Rule(lambda a: a.status >= 500, StorageUnavailable, "could not {action} {where}: {http}{rid}"),
    _Rule(lambda a: True, StorageError, "could not {action} {where}: {http}{rid}"),
)


def error_code(exc: HttpResponseError) -> str:
    """The service's error code; HEAD responses carry it only in a header."""
    code = getattr(exc, "error_code", None)
    if not code and exc.response is not None:
        code = exc.response.headers.get("x-ms-error-code")
    return str(getattr(code, "value", code) or "")


def _request_id(exc: HttpResponseError) -> str:
    if exc.response is None:
        return ""
    rid = exc.response.headers.get("x-ms-request-id")
    return f" (request id {rid})" if rid else ""


def translate(exc: AzureError, action: str, where: str, *, blob: bool) -> StorageError:
    """The hrupload error for an Azure SDK error; ``where`` names container/blob or table."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    if isinstance(exc, ClientAuthenticationError) and exc.status_code is None:
        # The credential found no sign-in (DefaultAzureCredential tried them all): no
        # request went out, so this is not the service failing to answer.
        return StorageError(
            f"could not {action} {where}: no Azure sign-in to use for storage; sign in "
            "(az login, azd auth login) or give HR_STORAGE a connection string"
        )
    if not isinstance(exc, HttpResponseError) or exc.status_code is None:
        return StorageUnavailable(
            f"could not {action} {where}: storage did not answer ({type(exc).__name__}); "
            "check that HR_STORAGE names a reachable account (work in progress is tried "
            "again on the next attempt)"
        )
    answer = _Answer(exc.status_code, error_code(exc), blob)
    rule = next(rule for rule in _RULES if rule.matches(answer))
    return rule.error(
        rule.message.format(
            action=action,
            where=where,
            container=where.split("/", 1)[0],
            code=answer.code,
            denied=answer.code or "HTTP 403",
            http=f"HTTP {answer.status} {answer.code}".rstrip(),
            rid=_request_id(exc),
        )
    )


@contextmanager
def translated(action: str, where: str, *, blob: bool = True) -> Iterator[None]:
    """Run SDK calls, turning their errors into hrupload errors naming ``where``."""
    from azure.core.exceptions import AzureError

    try:
        yield
    except AzureError as exc:
        raise translate(exc, action, where, blob=blob) from exc


@contextmanager
def create_only(active: bool, action: str, where: str) -> Iterator[None]:
    """A conditional create that lost to an existing blob raises :class:`BlobExists`,
    whether the service says 409 BlobAlreadyExists or 412 (copies may answer either)."""
    from azure.core.exceptions import HttpResponseError

    try:
        yield
    except HttpResponseError as exc:
        # 412 SourceConditionNotMet is the source changing, not the destination existing.
        lost = (exc.status_code, error_code(exc)) in (
            (409, "BlobAlreadyExists"),
            (412, "ConditionNotMet"),
        )
        if active and lost:
            raise BlobExists(_EXISTS.format(action=action, where=where)) from exc
        raise
