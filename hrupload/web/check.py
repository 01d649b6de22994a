"""Check a file: the form, the same validation ``hrupload validate`` runs
(:func:`hrupload.core.validate.validate_stream`, with the deployment's or the chosen
connector's profile and the same limits), and the report as a table.

Nothing is stored: the bytes are checked in memory and dropped, unless the visitor asked
for a clean file to be put into its connector's incoming folder (create-only: an existing
blob of that name is never replaced).
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from hrupload.app.ports import BlobExists, BlobNameUnsupported
from hrupload.core.report import FILE_CODES, ROW_CODES, Report, shown_header
from hrupload.core.validate import scenario_from_name, validate_stream
from hrupload.web.http import Site, size_text

if TYPE_CHECKING:
    from hrupload.app.pipeline import Services
    from hrupload.web.auth import Visitor

#: What each code means, for the "problems by code" table.
MEANINGS = {**ROW_CODES, **FILE_CODES}
#: Row errors a page lists; the counts above the table cover them all.
MAX_SHOWN = 1000
#: A name a file may be dropped into incoming under: printable, no path, not a dot name.
_DROP_NAME = re.compile(r"[^\x00-\x1f\x7f/\\]{1,200}")


def page(app: Site, request: Request, visitor: Visitor) -> Response:
    services = app.services
    names = list(services.connectors)
    context: dict[str, Any] = {
        "page": "check",
        "connectors": names,
        "chosen": request.form.get("connector") if request.method == "POST" else None,
        "limit": _limit(app),
        "can_send": True,
        "report": None,
        "message": None,
        "sent": None,
        "meanings": MEANINGS,
    }
    if request.method != "POST":
        return app.render("check.html", visitor, **context)
    upload = request.files.get("file")
    # Shown as sent (escaped); a file dropped into incoming takes only its last part.
    name = (upload.filename or "").strip()[:255] if upload else ""
    if upload is None or not name:
        context["message"] = "Choose a CSV file to check."
        return app.render("check.html", visitor, status=400, **context)
    own = services.connectors.get(context["chosen"] or "") if names else services
    if own is None:
        context["message"] = "Choose one of the connectors in the list."
        return app.render("check.html", visitor, status=400, **context)
    data = upload.stream.read(app.web.max_bytes + 1)
    if len(data) > app.web.max_bytes:
        from werkzeug.exceptions import RequestEntityTooLarge

        raise RequestEntityTooLarge()
    report = validate_bytes(own, data, name, max_bytes=app.web.max_bytes)
    if request.form.get("send") == "1":
        context["sent"], context["message"] = _send(own, data, _base_name(name), report)
    context["report"] = report_view(report.to_dict())
    return app.render("check.html", visitor, **context)


def validate_bytes(services: Services, data: bytes, name: str, *, max_bytes: int) -> Report:
    """What ``hrupload validate NAME`` says of ``data``, with these services' profile."""
    connector = services.settings.connector
    folder_scenario = scenario_from_name(connector.folder + "/") if connector else None
    return validate_stream(
        lambda: io.BytesIO(data),
        name=name,
        profile=services.profile,
        fallback_scenario=scenario_from_name(name) or folder_scenario,
        max_bytes=max_bytes,
        fingerprint=False,
        max_chunk_bytes=services.settings.max_chunk_bytes,
    )


def report_view(doc: dict[str, Any]) -> dict[str, Any]:
    """A report document (``Report.to_dict()``, or an archived ``.report.json``) as the
    report table shows it: columns as reports may name them, at most MAX_SHOWN errors."""
    errors = [
        {
            "line": e.get("line"),
            "column": shown_header(str(e["column"])) if e.get("column") else None,
            "code": e.get("code"),
            "message": e.get("message"),
        }
        for e in (doc.get("errors") or [])[:MAX_SHOWN]
    ]
    listed = len(doc.get("errors") or [])
    file_error = doc.get("file_error")
    if not file_error and doc.get("error") and "rows" not in doc:
        # A file that failed before validation: its report holds only the reason.
        file_error = {"code": doc.get("status", "failed"), "message": doc["error"]}
    return {
        "file": doc.get("file", ""),
        "rows": doc.get("rows", 0),
        "valid": doc.get("valid", 0),
        "rejected": doc.get("rejected", 0),
        "blank": doc.get("blank", 0),
        "header": [str(h) for h in doc.get("header") or []],
        "scenarios": doc.get("scenarios") or {},
        "error_counts": doc.get("error_counts") or {},
        "errors": errors,
        "hidden": listed - len(errors) + int(doc.get("errors_truncated") or 0),
        "file_error": file_error,
    }


def _send(
    services: Services, data: bytes, name: str, report: Report
) -> tuple[str | None, str | None]:
    """Put a clean file into incoming (its connector's folder): (done, refused) sentences."""
    if report.file_error is not None or report.rejected or not report.rows:
        return None, "Not sent: only a file whose every row is valid is sent to incoming."
    if not _DROP_NAME.fullmatch(name) or name.strip(".") == "":
        return None, "Not sent: rename the file (letters, digits, dots and dashes) and try again."
    connector = services.settings.connector
    target = f"{connector.folder}/{name}" if connector else name
    incoming = services.settings.incoming
    try:
        services.storage.put_blob(incoming, target, data, content_type="text/csv", overwrite=False)
    except BlobExists:
        return None, (
            f"Not sent: a file named {target} is already waiting in incoming; rename yours, "
            "or wait for the other to be processed."
        )
    except BlobNameUnsupported as exc:
        return None, f"Not sent: {exc}"
    return f"Sent to {incoming}/{target}: the pipeline takes it from there.", None


def _base_name(filename: str | None) -> str:
    """The file's own name, without any folder a browser or a crafted request put in it."""
    return re.split(r"[\\/]", filename or "")[-1].strip()


def _limit(app: Site) -> str:
    return size_text(app.web.max_bytes)
