"""What the web page's modules share: where it lives, the headers every response carries,
the limits, and the one interface the pages see of the app (:class:`Site`)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

    from hrupload.app.pipeline import Services
    from hrupload.settings import WebSettings
    from hrupload.web.auth import Visitor

#: Where the pages live: the Functions host's route prefix (host.json's default), kept
#: locally too so a link works the same in both places.
PREFIX = "/api"
#: The Content-Security-Policy of every response: no inline script or style, nothing
#: from elsewhere, never framed.
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
#: The static files, by name, and their types: nothing else under static/ is served.
STATIC = {"style.css": "text/css; charset=utf-8", "favicon.svg": "image/svg+xml"}
#: Room for the multipart framing and the form's small fields around the file itself.
FORM_SLACK = 64 << 10
#: A run id as the pipeline makes them (uuid4 hex, cut).
RUN_ID = re.compile(r"[0-9a-f]{6,32}")


class Site(Protocol):
    """What a page handler uses of the app."""

    services: Services
    web: WebSettings
    prefix: str

    def render(
        self, template: str, visitor: Visitor | None, *, status: int = 200, **context: Any
    ) -> Response: ...

    def static(self, name: str) -> Response: ...


def size_text(n: int) -> str:
    """A size as the page states it: "10 MiB", "512 KiB"."""
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    return f"{n >> 10} KiB"


def unavailable(reason: str) -> tuple[int, dict[str, str], bytes]:
    """The page when the app cannot even be built (a setting does not load): status,
    headers (the same security headers) and body, without templates."""
    from html import escape

    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>hrupload is not configured</title></head><body><main>"
        "<h1>hrupload is not configured</h1>"
        f"<p>{escape(reason)}</p><p>Fix the app setting and restart the app.</p>"
        "</main></body></html>"
    ).encode()
    headers = SECURITY_HEADERS | {
        "Cache-Control": "no-store",
        "Content-Type": "text/html; charset=utf-8",
    }
    return 503, headers, body
