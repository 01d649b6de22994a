"""``hrupload pull`` and the daily timer's first step: every configured source fetched once,
what it got dropped into ``hr-incoming/<connector folder>/`` for the blob pipeline.

For each source: the versions it dropped before (the run log's table), then
:meth:`Source.fetch`, then each file written create-only (a blob of that name already
there keeps its content; this one gets a suffix), its version remembered, and
:meth:`Source.taken`. A source that fails is recorded in the run log (a run of kind
``pull`` naming the source and the reason) and the others still run.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hrupload.app.ports import BlobExists
from hrupload.app.runs import RunKind, RunRecord, Status, utc_now
from hrupload.app.sources import Fetched, Source
from hrupload.core.errors import ConfigError, HrUploadError
from hrupload.core.redact import redact
from hrupload.core.termsafe import logger

if TYPE_CHECKING:
    from hrupload.app.pipeline import Services

log = logger(__name__)  # file-derived text in messages and fields is escaped

#: How many suffixed names (``name-2.csv`` ...) are tried before a drop gives up.
MAX_SUFFIX = 100


@dataclass
class SourceResult:
    """One source's pull: the blobs it dropped (names in incoming), or why it failed."""

    source: str
    connector: str
    dropped: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "connector": self.connector,
            "ok": self.ok,
            "dropped": list(self.dropped),
            "error": self.error,
        }


@dataclass
class PullSummary:
    results: list[SourceResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "sources": len(self.results),
            "failed": sum(not r.ok for r in self.results),
            "dropped": sum(len(r.dropped) for r in self.results),
            "results": [r.to_dict() for r in self.results],
        }


def pull(services: Services, sources: Sequence[Source], *, only: str | None = None) -> PullSummary:
    """Fetch each source (or the one named ``only``) once and drop what changed."""
    chosen = [s for s in sources if only is None or s.name == only]
    if only is not None and not chosen:
        known = ", ".join(s.name for s in sources) or "none"
        raise ConfigError(f"no source is named {only!r}; the configured sources are {known}")
    services.storage.ensure_containers()
    summary = PullSummary()
    for source in chosen:
        summary.results.append(_pull_one(services, source))
    return summary


def _folder_of(services: Services, connector: str) -> str:
    for c in services.settings.connectors:
        if c.name == connector:
            return c.folder
    raise ConfigError(f"source connector {connector!r} is not one of HRUPLOAD_CONNECTORS'")


def _pull_one(services: Services, source: Source) -> SourceResult:
    result = SourceResult(source.name, source.connector)
    record = RunRecord(
        run_id=uuid.uuid4().hex,
        blob="",
        etag="",
        sha256=None,
        job_id=None,
        status=Status.RUNNING,
        kind=RunKind.PULL,
        connector=source.connector,
        started=services.clock(),
    )
    try:
        folder = _folder_of(services, source.connector)
        record.blob = f"{services.settings.incoming}/{folder}/"
        record.etag = record.run_id  # the ledger keys each pull apart from every file
        own = services.connectors.get(source.connector)
        record.job_id = own.settings.job_id if own else None
        runlog = services.runlog
        seen = runlog.source_seen(source.name)
        for fetched in source.fetch(seen):
            name = _drop(services, folder, fetched)
            result.dropped.append(name)
            runlog.source_remember(source.name, fetched.key, fetched.version)
            log.info(
                "source file dropped",
                extra={"source": source.name, "connector": source.connector, "blob": name},
            )
            source.taken(fetched)
    except HrUploadError as exc:
        result.error = redact(str(exc))
    except Exception as exc:  # a source's own bug must not stop the other sources
        log.exception("source failed unexpectedly", extra={"source": source.name})
        result.error = f"an unexpected {type(exc).__name__} while pulling (see the log)"
    if result.error:
        log.warning("source failed", extra={"source": source.name, "reason": result.error})
    record.status = Status.DONE if result.ok else Status.FAILED
    record.error = result.error
    record.summary = {"source": source.name, "dropped": len(result.dropped)}
    record.finished = utc_now()
    try:
        services.runlog.put(record)
    except HrUploadError as exc:
        log.warning("pull not recorded", extra={"source": source.name, "reason": str(exc)})
    return result


def _drop(services: Services, folder: str, fetched: Fetched) -> str:
    """Write ``fetched`` create-only under ``folder``; a name taken gets ``-2``, ``-3``...
    so neither the blob already there nor this file is lost. Returns the blob's name."""
    stem, dot, ext = fetched.name.rpartition(".")
    if not dot:
        stem, ext = fetched.name, ""
    for n in range(1, MAX_SUFFIX + 1):
        candidate = fetched.name if n == 1 else f"{stem}-{n}{dot}{ext}"
        name = f"{folder}/{candidate}"
        try:
            services.storage.put_blob(
                services.settings.incoming,
                name,
                fetched.content,
                content_type="text/csv",
                overwrite=False,
            )
        except BlobExists:
            continue
        return name
    raise HrUploadError(
        f"{MAX_SUFFIX} files named like {fetched.name!r} wait in {folder}/ already; let the "
        "pipeline take them (hrupload sweep), then pull again"
    )
