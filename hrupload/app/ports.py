"""The services the app needs, as interfaces: the adapters implement them, tests swap them.

The app (delivery, the blob pipeline, the sweep) calls only what is declared here, so it
never imports an adapter, an SDK or an HTTP library; :mod:`hrupload.compose` hands it the
real adapters (:mod:`hrupload.adapters.storage`, ``.tables``, ``.connector``, ``.local_state``).

The blob outcomes the pipeline handles on their own are declared here too, as the app's
exceptions, for the storage adapter to raise::

    HrUploadError                      (hrupload.core.errors)
     └── StorageError                  every other one is an outage to blame()
          ├── BlobTaken                another instance holds the lease: it processes the file
          ├── BlobGone                 deleted (or moved) between its event and processing
          ├── BlobExists               a create-only write found a blob there; nothing overwritten
          └── BlobNameUnsupported      the name cannot be addressed; retrying cannot help
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Protocol

from hrupload.app.runs import DELIVERED, RunRecord
from hrupload.core.errors import StorageError


class BlobTaken(StorageError):
    """Another instance holds the blob's lease: it is processing the file right now."""


class BlobGone(StorageError):
    """The blob no longer exists, e.g. it was deleted between its event and processing."""


class BlobExists(StorageError):
    """A create-only write (If-None-Match: *) found a blob already there; nothing was
    overwritten. Archives are written this way, so none is ever clobbered."""


class BlobNameUnsupported(StorageError):
    """The blob's name cannot be addressed safely; retrying will not help.

    Names with ``.`` or ``..`` path segments are the case in point: the HTTP stack
    under the Azure SDK removes dot segments from request URLs, so such a request would
    fail (shared key) or act on a different blob (managed identity).
    """


@dataclass(frozen=True)
class BlobInfo:
    """What the pipeline needs to know about one blob version."""

    container: str
    name: str
    #: Always the quoted form the service returns in ETag headers (``"0x8D..."``).
    etag: str
    size: int
    last_modified: datetime
    created: datetime | None
    #: Decoded: values that had to be encoded to ASCII come back as written.
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        """``container/name``, the form the run log and the reports use."""
        return f"{self.container}/{self.name}"


class Uploader(Protocol):
    """What delivery sends chunks through (the connector client): one complete CSV chunk
    per call, returning only once the service accepted it, raising an HrUploadError when
    it did not."""

    def upload(self, data: bytes, *, filename: str) -> object: ...


class Checkpoints(Protocol):
    """Where delivered chunk numbers are remembered between runs."""

    def delivered(self, key: str) -> set[int]: ...

    def mark(self, key: str, index: int) -> None: ...

    def clear(self, key: str) -> None: ...


class SourceVersions(Protocol):
    """What each source has already dropped into incoming: the version (an eTag, a content
    hash) of each of its files, by the source's own key, so an unchanged file is not
    dropped again (:mod:`hrupload.app.pull`)."""

    def source_seen(self, source: str) -> dict[str, str]: ...

    def source_remember(self, source: str, key: str, version: str) -> None: ...


class RunLog(SourceVersions, Protocol):
    """Every run, newest first, the ledger of blob versions already handled, and the
    versions each source last dropped."""

    def put(self, record: RunRecord) -> None: ...

    def ledger_get(self, blob: str, etag: str) -> RunRecord | None: ...

    def find_recent_upload(self, sha256: str, job_id: str, since: datetime) -> RunRecord | None: ...

    def latest(
        self,
        *,
        status: tuple[str, ...] = DELIVERED,
        scenario: str | None = None,
        kind: str | None = None,
        connector: str | None = None,
        since: datetime | None = None,
    ) -> RunRecord | None: ...

    def list_runs(
        self,
        since: datetime | None = None,
        limit: int | None = None,
        *,
        connector: str | None = None,
    ) -> list[RunRecord]: ...


class BlobStore(Protocol):
    """The HR containers: list, lease, stream, create-only writes and verified moves."""

    def ensure_containers(self) -> None: ...

    def list_blobs(self, container: str, prefix: str | None = None) -> Iterator[BlobInfo]: ...

    def get_info(self, container: str, name: str) -> BlobInfo: ...

    def blob_exists(self, container: str, name: str) -> bool: ...

    def lease(self, container: str, name: str) -> AbstractContextManager[Any]: ...

    def open_read(self, container: str, name: str, *, etag: str | None = None) -> BinaryIO: ...

    def put_blob(
        self,
        container: str,
        name: str,
        data: bytes | BinaryIO | Iterable[bytes],
        *,
        content_type: str | None = None,
        overwrite: bool = True,
    ) -> None: ...

    def move(
        self,
        src_container: str,
        name: str,
        dst_container: str,
        dst_name: str,
        *,
        lease: Any = None,
        metadata: dict[str, str] | None = None,
        expected_sha256: str | None = None,
    ) -> BlobInfo: ...


class Storage(BlobStore, Protocol):
    """One storage account: the blob containers, and the table the run log and the
    shared chunk checkpoints live in."""

    def runlog(self) -> RunLog: ...

    def checkpoints(self) -> Checkpoints: ...
