"""The pages: status, check a file, a file's report, its rejected rows, the stylesheet.

Each handler takes the request and the visitor the gate let in. Blob names never come
from the request: a report or rejected-rows link names a run id, and the blob is the one
that run's record names (:func:`hrupload.app.overview.archived`), so there is no path to
traverse.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote

from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Request, Response

from hrupload.app import overview
from hrupload.app.ports import BlobGone
from hrupload.web import check
from hrupload.web.chart import chart
from hrupload.web.http import RUN_ID, Site

if TYPE_CHECKING:
    from hrupload.web.auth import Visitor

#: Most bytes of a stored report the report page reads (a report keeps at most 10,000
#: row errors, far below this).
MAX_REPORT_BYTES = 32 << 20
#: Pieces the rejected-rows download is streamed in.
STREAM_CHUNK = 64 << 10


def handlers(app: Site) -> dict[str, Callable[..., Response]]:
    def root(request: Request, visitor: Visitor) -> Response:
        return Response(status=303, headers={"Location": app.prefix + "/"})

    def status(request: Request, visitor: Visitor) -> Response:
        view = overview.overview(app.services)
        charts = [chart(c.days) for c in view.connectors]
        return app.render(
            "status.html",
            visitor,
            page="status",
            view=view,
            charts=charts,
            days=overview.WINDOW_DAYS,
            now=view.now,
        )

    def report(request: Request, visitor: Visitor, run_id: str) -> Response:
        record, (container, name) = _archived(app, run_id, "report")
        with _opened(app, container, name) as stream:
            doc = json.loads(stream.read(MAX_REPORT_BYTES))
        rejected = overview.archived(app.services, record, "rejected")
        return app.render(
            "report.html",
            visitor,
            page="report",
            run=record,
            name=overview.file_of(record),
            r=check.report_view(doc),
            meanings=check.MEANINGS,
            rejected_url=f"{app.prefix}/files/{run_id}/rejected.csv" if rejected else None,
        )

    def rejected(request: Request, visitor: Visitor, run_id: str) -> Response:
        record, (container, name) = _archived(app, run_id, "rejected")
        stream = _opened(app, container, name)
        download = _download_name(overview.file_of(record))
        return Response(
            _chunks(stream),
            mimetype="text/csv",
            headers={
                "Content-Disposition": download,
                "Cache-Control": "no-store",
            },
            direct_passthrough=True,
        )

    def static(request: Request, visitor: Visitor, name: str) -> Response:
        return app.static(name)

    return {
        "root": root,
        "status": status,
        "check": lambda request, visitor: check.page(app, request, visitor),
        "report": report,
        "rejected": rejected,
        "static": static,
    }


def _archived(app: Site, run_id: str, what: str) -> tuple[Any, tuple[str, str]]:
    """The run the link names and where its ``what`` is stored; 404 for anything else."""
    if not RUN_ID.fullmatch(run_id):
        raise NotFound()
    record = overview.find_run(app.services, run_id)
    where = overview.archived(app.services, record, what) if record else None
    if record is None or where is None:
        raise NotFound()
    return record, where


def _opened(app: Site, container: str, name: str) -> BinaryIO:
    try:
        return app.services.storage.open_read(container, name)
    except BlobGone:
        raise NotFound() from None


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    try:
        while piece := stream.read(STREAM_CHUNK):
            yield piece
    finally:
        stream.close()


def _download_name(file: str) -> str:
    """``attachment`` with the file's own name (its last part) + ``.rejected.csv``: an
    ASCII fallback and the UTF-8 name, so no character of it can break the header."""
    base = file.rsplit("/", 1)[-1] + ".rejected.csv"
    ascii_name = "".join(
        ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_" for ch in base
    )
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(base, safe='')}"
