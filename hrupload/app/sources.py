"""Sources: places hrupload pulls HR files from (a SharePoint/OneDrive folder, an HR
system's report URL) and drops into ``hr-incoming/<connector folder>/``, where the blob
pipeline handles them like any other file (one path for every file).

This module holds the interface both kinds implement and that ``hrupload pull`` and the
daily timer drive; the adapters (``hrupload.adapters.sharepoint``, ``...report_source``)
implement it, ``hrupload.compose`` builds them from ``Settings.sources``.

What a source remembers between pulls (a drive item's eTag, a report's content hash) is
:class:`Seen`: opaque text per key, stored by the run log's table, so a file that did not
change is not dropped again and one that changed is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Fetched:
    """One file a source got, ready to drop into incoming."""

    #: The file's name under the connector's folder (no folders of its own; safe characters).
    name: str
    content: bytes
    #: What identifies this version (an eTag, a content hash): remembered under ``key``.
    version: str
    #: The source's own key for this file (a drive item id, the report URL).
    key: str


class Source(Protocol):
    """A configured source: ``fetch`` yields what changed since the versions in ``seen``."""

    #: The source's name in messages, the run log and ``hrupload pull --source``.
    name: str
    #: The connector whose folder the files are dropped into.
    connector: str

    def fetch(self, seen: Mapping[str, str]) -> Iterator[Fetched]:
        """Every file whose version differs from ``seen[key]`` (or that is new). Raises an
        :class:`hrupload.core.errors.HrUploadError` with one sentence when the source
        cannot be read (refused, unreachable, a redirect it may not follow, HTML instead
        of data); the caller records it and goes on with the other sources."""
        ...

    def taken(self, fetched: Fetched) -> None:
        """Called once ``fetched`` is safely in incoming: a source that moves taken files
        (SharePoint's optional ``move_to``) does it here; others do nothing."""
        ...
