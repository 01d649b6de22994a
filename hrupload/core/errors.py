"""The small exception hierarchy every front door (CLI, Functions) maps to exits and logs.

Messages are written for the person who has to act on them: what went wrong, where,
and what to do next. They never contain a secret, a token or a row value.
"""

from __future__ import annotations

from enum import StrEnum


class HrUploadError(Exception):
    """Base of every error hrupload raises on purpose; ``str()`` is the user's message."""


class ConfigError(HrUploadError):
    """A setting, option or profile is missing or malformed: fix the configuration."""


class ProfileError(ConfigError):
    """The column-mapping profile is unreadable or names something unknown."""


class SecretError(HrUploadError):
    """The app secret or certificate could not be obtained."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class ConnectorError(HrUploadError):
    """The connector (token or ingestion endpoint) refused or could not be reached.

    ``transient`` says whether trying again later may succeed. ``systemic`` says the
    failure would hit every file alike (an outage, or our own configuration: credentials,
    a wrong URL, a proxy answering instead of the service); it defaults to ``transient``.
    See :func:`blame` for what the pipeline does with each.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        transient: bool = False,
        systemic: bool | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.transient = transient
        self.systemic = transient if systemic is None else systemic


class AuthenticationError(ConnectorError):
    """The token endpoint rejected the app's credentials (wrong secret, app or tenant)."""


class SourceError(HrUploadError):
    """A source (a SharePoint folder, an HR system's report URL) could not be read: refused,
    unreachable, redirected, or it answered something other than the data. ``hrupload pull``
    records it against the source and goes on with the others."""


class StorageError(HrUploadError):
    """Blob or table storage failed; always treated as transient by the pipeline."""


class Blame(StrEnum):
    """Whose fault a failure is, which decides where the file goes (docs/reliability.md)."""

    #: The file's own content (encoding, header, every row rejected, a refusal naming the
    #: content): the file goes to failed/ with its report.
    FILE = "file"
    #: A service or setting every file needs (connector, token endpoint, Key Vault, storage,
    #: credentials, a wrong URL, a proxy): the file stays in incoming with the reason, the
    #: sweep stops and defers the rest, the blob trigger raises so the host retries.
    OUTAGE = "outage"
    #: Anything we did not expect (a bug, MemoryError): the file stays in incoming with the
    #: reason and the attempt counts toward HRUPLOAD_GIVE_UP_HOURS; other files go on.
    UNEXPECTED = "unexpected"


def blame(exc: BaseException) -> Blame:
    """The one place that decides whose fault ``exc`` is."""
    if isinstance(exc, ConfigError | SecretError | StorageError | AuthenticationError):
        return Blame.OUTAGE
    if isinstance(exc, ConnectorError):
        return Blame.OUTAGE if exc.systemic or exc.transient or exc.status == 401 else Blame.FILE
    if isinstance(exc, HrUploadError):
        return Blame.FILE
    return Blame.UNEXPECTED
