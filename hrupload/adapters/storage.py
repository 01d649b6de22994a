"""Blob storage for the HR containers: list, lease, stream, write and verified moves.

:class:`HrStorage` is the app's :class:`hrupload.app.ports.Storage`. Every Azure SDK error
goes through :mod:`hrupload.adapters.azure_errors`, which raises the app's blob outcomes
(:class:`~hrupload.app.ports.BlobGone`, ``BlobTaken``, ``BlobExists``) or another
:class:`StorageError` naming the container and blob (never content); names that cannot
be addressed are refused here first (:class:`~hrupload.app.ports.BlobNameUnsupported`).

The Azure SDKs are imported where they are used: a cold start that only validates a
file pays nothing for them.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote, unquote

from hrupload.adapters.azure_errors import create_only, translated
from hrupload.app.ports import BlobExists, BlobGone, BlobInfo, BlobNameUnsupported
from hrupload.core.errors import ConfigError, StorageError
from hrupload.core.termsafe import logger

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import (
        BlobClient,
        BlobLeaseClient,
        BlobProperties,
        BlobServiceClient,
    )

    from hrupload.adapters.tables import RunLog, TableCheckpoints
    from hrupload.settings import StorageSettings

log = logger(__name__)  # file-derived text in messages and fields is escaped

#: Bytes fetched per ranged GET while streaming: large enough that a 3 GB file is a few
#: hundred requests, small enough that a Function instance holds only a few chunks.
READ_CHUNK = 4 * 1024 * 1024
#: Blobs per listing page; the service's maximum. The listing follows continuation pages.
LIST_PAGE_SIZE = 5000
#: Azure's limit on a blob name, in characters.
MAX_BLOB_NAME = 1024
#: How long a pending server-side copy may take before the move gives up (it is retried).
COPY_TIMEOUT_SECONDS = 600.0

_METADATA_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Prefix of a metadata value that had to be percent-encoded (RFC 8187 ext-value form).
_ENCODED_PREFIX = "utf-8''"
#: Characters RFC 8187 allows unencoded in an ext-value, besides letters and digits.
_ATTR_CHARS = "!#$&+-.^_`|~"


# --------------------------------------------------------------------------- metadata


def encode_metadata_value(value: str) -> str:
    """Make a metadata value safe to send: blob metadata travels in ASCII HTTP headers.

    Printable ASCII without surrounding whitespace is kept as it is, so ordinary values
    stay readable in the portal; anything else is written in the RFC 8187 form
    ``utf-8''<percent-encoded>``, which :func:`decode_metadata_value` reverses exactly.
    """
    plain = (
        value.isascii()
        and value.isprintable()
        and value == value.strip()
        and not value.lower().startswith(_ENCODED_PREFIX)
    )
    return value if plain else _ENCODED_PREFIX + quote(value, safe=_ATTR_CHARS)


def decode_metadata_value(value: str) -> str:
    """Reverse :func:`encode_metadata_value`; other values are returned unchanged."""
    if value.lower().startswith(_ENCODED_PREFIX):
        return unquote(value[len(_ENCODED_PREFIX) :])
    return value


def encode_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Encode every value; a key that is not a C# identifier is a bug, so it raises."""
    encoded = {}
    for key, value in metadata.items():
        if not _METADATA_KEY.match(key):
            raise ValueError(
                f"blob metadata name {key!r} is not allowed: use letters, digits and '_' "
                "and do not start with a digit"
            )
        encoded[key] = encode_metadata_value(str(value))
    return encoded


def decode_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Metadata as the service returns it, with encoded values turned back to text."""
    # Azure (and Azurite) may hand an empty value back as None.
    return {key: decode_metadata_value(value or "") for key, value in (metadata or {}).items()}


# --------------------------------------------------------------------------- names


def check_blob_name(name: str) -> None:
    """Refuse names the service or the HTTP stack would not address as written."""
    if not name:
        raise BlobNameUnsupported("a blob name must not be empty")
    if len(name) > MAX_BLOB_NAME:
        raise BlobNameUnsupported(
            f"blob name is {len(name)} characters long; Azure allows at most {MAX_BLOB_NAME} "
            f"(name starts {name[:80]!r})"
        )
    # The service turns '\' into '/', so 'a\..\b' is a dot segment as well.
    if any(segment in (".", "..") for segment in name.replace("\\", "/").split("/")):
        raise BlobNameUnsupported(
            f"blob name {name!r} has a '.' or '..' path segment, which cannot be addressed "
            "reliably over HTTP; rename the file (e.g. drop the dot segments) and drop it again"
        )


def _quoted(etag: str) -> str:
    """ETags come quoted from properties and unquoted from listings and Event Grid."""
    etag = etag.strip()
    return etag if etag.startswith('"') or etag.startswith("W/") else f'"{etag}"'


def _info(container: str, name: str, props: BlobProperties) -> BlobInfo:
    return BlobInfo(
        container=container,
        name=name,
        etag=_quoted(props.etag),
        size=int(props.size or 0),
        last_modified=props.last_modified,
        created=props.creation_time,
        metadata=decode_metadata(props.metadata),
    )


# --------------------------------------------------------------------------- lease


class Lease:
    """A blob lease held by this instance, renewed in the background.

    ``lost`` turns true when a renewal failed: another instance may have taken the blob
    over, so the holder should not move or delete it.
    """

    def __init__(self, container: str, name: str, client: BlobLeaseClient, seconds: int) -> None:
        self.container = container
        self.name = name
        self.seconds = seconds
        self._client = client
        self._lost = False
        self._ended = False
        self._stop = threading.Event()
        # Renewal and the delete that ends the lease must not interleave, or a renewal
        # answered 404 by the deleted blob would report the lease as lost.
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def id(self) -> str:
        """The lease ID that writes and deletes of the blob must present."""
        return str(self._client.id)

    @property
    def lost(self) -> bool:
        return self._lost

    def __repr__(self) -> str:
        return f"Lease({self.container}/{self.name}, lost={self._lost})"

    def _start(self) -> None:
        self._thread = threading.Thread(
            target=self._renew_forever, name="hrupload-lease-renewal", daemon=True
        )
        self._thread.start()

    def _renew_forever(self) -> None:
        from azure.core.exceptions import AzureError, HttpResponseError

        while not self._stop.wait(self.seconds / 3):
            with self._lock:
                if self._ended:
                    return
                try:
                    self._client.renew()
                except AzureError as exc:
                    self._lost = True
                    status = getattr(exc, "status_code", None)
                    log.warning(
                        "could not renew the blob lease",
                        extra={
                            "container": self.container,
                            "blob": self.name,
                            "status": status,
                            "error": type(exc).__name__,
                        },
                    )
                    # A 4xx is final (gone, or someone else's lease); a timeout may pass.
                    if isinstance(exc, HttpResponseError) and status and status < 500:
                        return

    @contextmanager
    def _ending(self) -> Iterator[None]:
        """Hold renewal off while the leased blob is deleted; no renewal follows it."""
        with self._lock:
            yield
            self._ended = True
            self._stop.set()

    def _finish(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.seconds)
        with self._lock:
            if self._ended:
                return
            self._ended = True
            from azure.core.exceptions import AzureError, ResourceNotFoundError

            try:
                self._client.release()
            except ResourceNotFoundError:
                pass  # the blob was moved away; its lease went with it
            except AzureError as exc:
                # The lease expires by itself within `seconds`; nothing to undo.
                log.info(
                    "could not release the blob lease; it will expire",
                    extra={
                        "container": self.container,
                        "blob": self.name,
                        "error": type(exc).__name__,
                    },
                )


# --------------------------------------------------------------------------- reading


class _BlobRangeReader(io.RawIOBase):
    """Reads a blob by ranged GETs of at most READ_CHUNK bytes, each pinned to one ETag.

    Wrapped in an ``io.BufferedReader`` by :meth:`HrStorage.open_read`; holds no data
    itself, so memory stays at one chunk whatever the blob's size.
    """

    def __init__(
        self, client: BlobClient, where: str, *, etag: str, size: int, lease: str | None
    ) -> None:
        super().__init__()
        self._client = client
        self._where = where
        self._etag = etag
        self._lease = lease
        self.size = size
        self._pos = 0
        #: Bytes downloaded so far; lets tests check nothing is read ahead.
        self.bytes_fetched = 0
        self.requests = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def _fetch(self, length: int) -> bytes:
        from azure.core import MatchConditions

        with translated("read", self._where):
            data = self._client.download_blob(
                offset=self._pos,
                length=length,
                etag=self._etag,
                match_condition=MatchConditions.IfNotModified,
                lease=self._lease,
                max_concurrency=1,
            ).readall()
        self.requests += 1
        self.bytes_fetched += len(data)
        if len(data) != length:
            raise StorageError(
                f"{self._where} returned {len(data)} bytes where {length} were expected "
                f"at offset {self._pos}; it is read again on the next attempt"
            )
        return data

    def readinto(self, buffer: Any) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed blob reader")
        length = min(len(buffer), READ_CHUNK, max(self.size - self._pos, 0))
        if length <= 0:
            return 0
        data = self._fetch(length)
        buffer[:length] = data
        self._pos += length
        return length

    def readall(self) -> bytes:
        parts = []
        while self._pos < self.size:
            length = min(READ_CHUNK, self.size - self._pos)
            parts.append(self._fetch(length))
            self._pos += length
        return b"".join(parts)


# --------------------------------------------------------------------------- storage


class HrStorage:
    """The HR containers and the run-log table of one storage account.

    Constructed with SDK clients (tests pass clients for Azurite); use
    :meth:`from_settings` to build them from the app's settings.
    """

    def __init__(
        self,
        blob_service: BlobServiceClient,
        table_service: TableServiceClient,
        *,
        incoming: str,
        processed: str,
        failed: str,
        runs_table: str,
        config: str | None = None,
        list_page_size: int = LIST_PAGE_SIZE,
    ) -> None:
        self.blob_service = blob_service
        self.table_service = table_service
        self.incoming = incoming
        self.processed = processed
        self.failed = failed
        self.runs_table = runs_table
        #: HRUPLOAD_CONFIG_CONTAINER (None: not created here)
        self.config = config
        self.list_page_size = list_page_size
        self._ensured = False
        self._ensure_lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        storage: StorageSettings,
        *,
        incoming: str,
        processed: str,
        failed: str,
        runs_table: str,
        config: str | None = None,
        credential: TokenCredential | None = None,
        client_options: Mapping[str, Any] | None = None,
    ) -> HrStorage:
        """Clients from HR_STORAGE: a connection string (Azurite, laptops) or identity.

        With service URLs, ``credential`` is used when given, else a
        ``DefaultAzureCredential`` that prefers the user-assigned identity named by
        ``HR_STORAGE__clientId``. ``client_options`` go to both SDK clients (``hrupload
        doctor`` asks for no retries, so a dead endpoint fails at once).
        """
        options = dict(client_options or {})
        from azure.data.tables import TableServiceClient
        from azure.storage.blob import BlobServiceClient

        if storage.connection_string:
            blob = BlobServiceClient.from_connection_string(storage.connection_string, **options)
            table = TableServiceClient.from_connection_string(storage.connection_string, **options)
        else:
            if not storage.blob_url or not storage.table_url:
                raise ConfigError(
                    "HR_STORAGE__blobServiceUri and HR_STORAGE__tableServiceUri are both "
                    "required when HR_STORAGE (a connection string) is not set"
                )
            if credential is None:
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential(managed_identity_client_id=storage.client_id)
            blob = BlobServiceClient(storage.blob_url, credential=credential, **options)
            table = TableServiceClient(storage.table_url, credential=credential, **options)
        return cls(
            blob,
            table,
            incoming=incoming,
            processed=processed,
            failed=failed,
            runs_table=runs_table,
            config=config,
        )

    # ---------------------------------------------------------------- helpers

    def _blob(self, container: str, name: str) -> BlobClient:
        check_blob_name(name)
        return self.blob_service.get_blob_client(container, name)

    def runlog(self) -> RunLog:
        """The run log and ledger kept in ``runs_table``."""
        from hrupload.adapters.tables import RunLog

        return RunLog(self.table_service.get_table_client(self.runs_table))

    def checkpoints(self) -> TableCheckpoints:
        """Delivered-chunk checkpoints, shared by every instance, in ``runs_table``."""
        from hrupload.adapters.tables import TableCheckpoints

        return TableCheckpoints(self.table_service.get_table_client(self.runs_table))

    # ---------------------------------------------------------------- containers

    def ensure_containers(self) -> None:
        """Create the containers (incoming, processed, failed, config) and the run-log
        table if missing.

        Idempotent; after the first success this instance makes no further requests,
        so calling it at the start of every run costs nothing.
        """
        if self._ensured:
            return
        from azure.core.exceptions import ResourceExistsError

        with self._ensure_lock:
            if self._ensured:
                return
            made = (self.incoming, self.processed, self.failed, self.config)
            for container in filter(None, made):
                with translated("create container", container, blob=False):
                    try:
                        self.blob_service.create_container(container)
                        log.info("created container", extra={"container": container})
                    except ResourceExistsError:
                        pass
            with translated("create table", self.runs_table, blob=False):
                self.table_service.create_table_if_not_exists(self.runs_table)
            self._ensured = True

    def container_exists(self, container: str) -> bool:
        """Whether ``container`` exists; an answer either way shows storage is reachable."""
        client = self.blob_service.get_container_client(container)
        with translated("check container", container, blob=False):
            return bool(client.exists())

    # ---------------------------------------------------------------- reading

    def list_blobs(self, container: str, prefix: str | None = None) -> Iterator[BlobInfo]:
        """Every blob in ``container`` (under ``prefix``), following continuation pages."""
        client = self.blob_service.get_container_client(container)
        where = f"{container}/{prefix or ''}"
        with translated("list", where, blob=False):
            pages = client.list_blobs(
                name_starts_with=prefix, include=["metadata"], results_per_page=self.list_page_size
            )
            for props in pages:
                yield _info(container, props.name, props)

    def get_info(self, container: str, name: str) -> BlobInfo:
        """The blob's current version; raises :class:`BlobGone` if it does not exist."""
        client = self._blob(container, name)
        with translated("read properties of", f"{container}/{name}"):
            return _info(container, name, client.get_blob_properties())

    def read_small(self, container: str, name: str, *, limit: int) -> tuple[bytes, str]:
        """A small blob's content, at most ``limit`` bytes of it (a larger one is cut
        there: the caller sees it is too large), and its ETag; :class:`BlobGone` if it
        does not exist."""
        client = self._blob(container, name)
        with translated("read", f"{container}/{name}"):
            downloader = client.download_blob(offset=0, length=limit)
            return downloader.readall(), _quoted(downloader.properties.etag)

    def blob_exists(self, container: str, name: str) -> bool:
        """Whether the blob exists; for checks where a missing blob is not an error."""
        client = self._blob(container, name)
        with translated("check", f"{container}/{name}"):
            return bool(client.exists())

    @contextmanager
    def lease(self, container: str, name: str, *, seconds: int = 60) -> Iterator[Lease]:
        """Hold the blob's lease for the with-block, so no other instance processes it.

        Raises :class:`BlobTaken` when another holder has it and :class:`BlobGone` when
        the blob does not exist. A background thread renews the lease every
        ``seconds / 3``; if a renewal fails, ``lease.lost`` turns true. The lease is
        released at the end (quietly, if the blob was moved away meanwhile).
        """
        if not 15 <= seconds <= 60:
            raise ValueError("a blob lease lasts 15 to 60 seconds")
        client = self._blob(container, name)
        where = f"{container}/{name}"
        with translated("lease", where):
            lease_client = client.acquire_lease(lease_duration=seconds)
        held = Lease(container, name, lease_client, seconds)
        held._start()
        log.debug("blob leased", extra={"container": container, "blob": name})
        try:
            yield held
        finally:
            held._finish()

    def open_read(
        self,
        container: str,
        name: str,
        *,
        etag: str | None = None,
        lease: Lease | None = None,
    ) -> BinaryIO:
        """A binary reader that streams the blob in READ_CHUNK pieces.

        Every request is conditional on one ETag (``etag``, or the version current when
        opening), so a blob replaced mid-read fails with :class:`StorageError` instead of
        mixing two versions. Close it (or use ``with``) when done.
        """
        from azure.core import MatchConditions

        client = self._blob(container, name)
        where = f"{container}/{name}"
        lease_id = lease.id if lease else None
        condition: dict[str, Any] = {}
        if etag:
            condition = {"etag": _quoted(etag), "match_condition": MatchConditions.IfNotModified}
        with translated("open", where):
            props = client.get_blob_properties(lease=lease_id, **condition)
        raw = _BlobRangeReader(
            client, where, etag=_quoted(props.etag), size=int(props.size or 0), lease=lease_id
        )
        return io.BufferedReader(raw, buffer_size=READ_CHUNK)  # type: ignore[return-value]

    def content_sha256(
        self,
        container: str,
        name: str,
        *,
        etag: str | None = None,
        lease: Lease | None = None,
    ) -> str:
        """SHA-256 (hex) of the blob's content, streamed."""
        digest = hashlib.sha256()
        with self.open_read(container, name, etag=etag, lease=lease) as reader:
            while chunk := reader.read(READ_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    # ---------------------------------------------------------------- writing

    def put_blob(
        self,
        container: str,
        name: str,
        data: bytes | BinaryIO | Iterable[bytes],
        *,
        metadata: dict[str, str] | None = None,
        content_type: str | None = None,
        overwrite: bool = True,
    ) -> None:
        """Write a block blob (reports, rejected rows); large streams go up in blocks.

        With ``overwrite=False`` the write is conditional (If-None-Match: *) and raises
        :class:`BlobExists` when a blob is already there: the way archives are written.
        """
        from azure.storage.blob import ContentSettings

        client = self._blob(container, name)
        settings = ContentSettings(content_type=content_type) if content_type else None
        where = f"{container}/{name}"
        with translated("write", where), create_only(not overwrite, "write", where):
            client.upload_blob(
                data,  # type: ignore[arg-type]
                overwrite=overwrite,
                metadata=encode_metadata(metadata or {}),
                content_settings=settings,
            )

    def delete_blob(
        self,
        container: str,
        name: str,
        *,
        lease: Lease | None = None,
        etag: str | None = None,
    ) -> bool:
        """Delete the blob (and its snapshots); False when it was already gone.

        With ``etag``, only that version is deleted; with ``lease``, the lease ends
        with the blob and is not renewed or released afterwards.
        """
        from azure.core import MatchConditions

        client = self._blob(container, name)
        kwargs: dict[str, Any] = {"delete_snapshots": "include"}
        if etag:
            kwargs.update(etag=_quoted(etag), match_condition=MatchConditions.IfNotModified)
        where = f"{container}/{name}"
        try:
            with translated("delete", where):
                if lease is None:
                    client.delete_blob(**kwargs)
                else:
                    with lease._ending():
                        client.delete_blob(lease=lease.id, **kwargs)
        except BlobGone:
            return False
        return True

    # ---------------------------------------------------------------- moving

    def move(
        self,
        src_container: str,
        name: str,
        dst_container: str,
        dst_name: str,
        *,
        lease: Lease | None = None,
        metadata: dict[str, str] | None = None,
        expected_sha256: str | None = None,
    ) -> BlobInfo:
        """Copy server-side, verify the copy, then delete the source.

        The copy is create-only (If-None-Match: *): an archive is never overwritten. A
        destination already there is accepted only when it holds the source's content
        (a move retried after a crash between copy and delete); otherwise
        :class:`BlobExists` is raised and both blobs stay as they are. The destination
        must have the source's length and SHA-256 (``expected_sha256`` if given, else the
        source is hashed too) before it gets ``metadata`` merged over the source's and the
        source is deleted. A copy of ours that does not verify is deleted and
        :class:`StorageError` is raised with the source untouched.
        """
        if (src_container, name) == (dst_container, dst_name):
            raise ValueError("a blob cannot be moved onto itself")
        src = self._blob(src_container, name)
        dst = self._blob(dst_container, dst_name)
        src_where, dst_where = f"{src_container}/{name}", f"{dst_container}/{dst_name}"
        source = self.get_info(src_container, name)
        expected = expected_sha256 or self.content_sha256(
            src_container, name, etag=source.etag, lease=lease
        )
        extra = {"container": src_container, "blob": name, "destination": dst_where}

        copied, created = self._copy(src, dst, source, dst_where)
        try:
            self._verify(copied, source, expected.lower(), dst_where)
        except StorageError as exc:
            if not created:
                raise BlobExists(
                    f"could not move {src_where} to {dst_where}: a different blob is already "
                    "there and is never overwritten; the source was left in place"
                ) from exc
            self._discard(dst_container, dst_name, copied.etag)
            log.error("copy did not verify; source left in place", extra=extra)
            raise

        merged = encode_metadata({**source.metadata, **(metadata or {})})
        from azure.core import MatchConditions

        with translated("set metadata on", dst_where):
            dst.set_blob_metadata(
                merged, etag=copied.etag, match_condition=MatchConditions.IfNotModified
            )
        try:
            self.delete_blob(src_container, name, lease=lease, etag=source.etag)
        except StorageError as exc:
            raise StorageError(
                f"{src_where} was copied to {dst_where} and verified, but the source could "
                f"not be deleted: {exc}"
            ) from exc
        log.info("blob moved", extra={**extra, "size": source.size})
        return self.get_info(dst_container, dst_name)

    def _copy(
        self, src: BlobClient, dst: BlobClient, source: BlobInfo, where: str
    ) -> tuple[BlobInfo, bool]:
        """Start the create-only server-side copy pinned to the source's ETag and wait for
        it; the flag says whether this call created the destination (False: it was there,
        e.g. from an earlier attempt, and the caller verifies what it holds)."""
        from azure.core import MatchConditions

        created = True
        status = None
        try:
            with translated("copy to", where), create_only(True, "copy to", where):
                started = dst.start_copy_from_url(
                    src.url,
                    source_etag=source.etag,
                    source_match_condition=MatchConditions.IfNotModified,
                    match_condition=MatchConditions.IfMissing,
                )
            status = started.get("copy_status")
        except BlobExists:
            created = False
        deadline = time.monotonic() + COPY_TIMEOUT_SECONDS
        delay = 0.2
        while True:
            with translated("check the copy to", where):
                props = dst.get_blob_properties()
            status = props.copy.status or status
            if status != "pending":
                break
            if time.monotonic() > deadline:
                if not created:  # an earlier attempt's copy: not ours to abort
                    raise StorageError(
                        f"an earlier copy to {where} is still pending after "
                        f"{COPY_TIMEOUT_SECONDS:.0f} s; the move is tried again later"
                    )
                with translated("abort the copy to", where):
                    dst.abort_copy(props.copy.id)
                raise StorageError(
                    f"copying to {where} did not finish in {COPY_TIMEOUT_SECONDS:.0f} s; "
                    "it was aborted and the source left in place"
                )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        if created and status != "success":
            raise StorageError(
                f"copying {source.path} to {where} ended with status {status!r} "
                f"({props.copy.status_description or 'no description'}); source left in place"
            )
        return _info(dst.container_name, dst.blob_name, props), created

    def _verify(self, copied: BlobInfo, source: BlobInfo, expected: str, where: str) -> None:
        if copied.size != source.size:
            raise StorageError(
                f"the copy {where} has {copied.size} bytes where {source.path} has "
                f"{source.size}; the copy was deleted and the source left in place"
            )
        actual = self.content_sha256(copied.container, copied.name, etag=copied.etag)
        if actual != expected:
            raise StorageError(
                f"the copy {where} does not have the content of {source.path} (SHA-256 "
                "differs); the copy was deleted and the source left in place"
            )

    def _discard(self, container: str, name: str, etag: str) -> None:
        """Delete a bad copy; failing to is logged, the original error matters more."""
        try:
            self.delete_blob(container, name, etag=etag)
        except StorageError:
            log.warning(
                "could not delete an unverified copy",
                extra={"container": container, "blob": name},
            )
