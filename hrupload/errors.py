"""The small exception hierarchy every front door (CLI, Functions) maps to exits and logs.

Messages are written for the person who has to act on them: what went wrong, where,
and what to do next. They never contain a secret, a token or a row value.
"""

from __future__ import annotations


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

    ``transient`` says whether trying again later may succeed; the pipeline keeps a
    file in incoming for transient errors and moves it to failed for the rest.
    """

    def __init__(self, message: str, *, status: int | None = None, transient: bool = False):
        super().__init__(message)
        self.status = status
        self.transient = transient


class AuthenticationError(ConnectorError):
    """The token endpoint rejected the app's credentials (wrong secret, app or tenant)."""


class StorageError(HrUploadError):
    """Blob or table storage failed; always treated as transient by the pipeline."""
