"""The web page's WSGI app: routing, the gate, the security headers, the error pages.

Every request goes through :meth:`WebApp.__call__`: the gate first (no route, not even a
stylesheet or a 404, answers someone not let in), then the CSRF check for a POST, then
the page. Whatever happens, the response carries the security headers, and an error a
user can cause is a page with one sentence, never a traceback.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from datetime import UTC
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge
from werkzeug.routing import Map, RequestRedirect, Rule
from werkzeug.wrappers import Request, Response

from hrupload import __version__
from hrupload.core.errors import HrUploadError
from hrupload.core.termsafe import logger
from hrupload.web.auth import COOKIE, Gate, Refused, Visitor
from hrupload.web.http import FORM_SLACK, PREFIX, SECURITY_HEADERS, STATIC, size_text

if TYPE_CHECKING:
    from jinja2 import Environment

    from hrupload.app.pipeline import Services

log = logger("hrupload.web")


def _routes(prefix: str) -> Map:
    p = prefix
    return Map(
        [
            Rule("/", endpoint="root"),
            Rule(f"{p}/", endpoint="status"),
            Rule(f"{p}/status", endpoint="status"),
            Rule(f"{p}/check", endpoint="check", methods=["GET", "POST"]),
            Rule(f"{p}/files/<run_id>/report", endpoint="report"),
            Rule(f"{p}/files/<run_id>/rejected.csv", endpoint="rejected"),
            Rule(f"{p}/static/<name>", endpoint="static"),
        ]
    )


def templates() -> Environment:
    """The pages' templates, autoescaped everywhere: whatever a file, a column or a run
    record says is text, never markup."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(
        loader=PackageLoader("hrupload.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class _Request(Request):
    """A request whose uploaded files stay in memory (bounded by max_content_length): a
    checked file never touches the disk, not even as a temporary file."""

    def _get_file_stream(self, *args: Any, **kwargs: Any) -> io.BytesIO:
        return io.BytesIO()


class WebApp:
    """The WSGI app over one deployment's services (:func:`hrupload.web.create_app`)."""

    def __init__(self, services: Services, *, prefix: str = PREFIX) -> None:
        from hrupload.web import pages

        self.services = services
        self.web = services.settings.web
        self.prefix = prefix
        self.gate = Gate(self.web)
        self.env = templates()
        self.urls = _routes(prefix)
        self.pages: dict[str, Callable[..., Response]] = pages.handlers(self)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        request = _Request(environ)
        request.max_content_length = self.web.max_bytes + FORM_SLACK
        request.max_form_memory_size = FORM_SLACK
        response = self.respond(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
        response.headers.setdefault("Cache-Control", "no-store")
        return response(environ, start_response)

    def respond(self, request: Request) -> Response:
        visitor: Visitor | None = None
        try:
            visitor = self.gate.admit(request)
            if visitor.strip_code:
                response = self._without_code(request)
            else:
                endpoint, args = self.urls.bind_to_environ(request.environ).match()
                if request.method == "POST":
                    self.gate.check_csrf(request, visitor)
                response = self.pages[endpoint](request, visitor, **args)
        except Refused as exc:
            response = self.error(exc.status, exc.title, exc.message, visitor)
        except RequestRedirect as exc:
            response = exc.get_response(request.environ)
        except HTTPException as exc:
            response = self.http_error(exc, visitor)
        except HrUploadError as exc:
            log.warning("a page could not be shown", extra={"reason": str(exc)})
            response = self.error(503, "Storage could not be read", str(exc), visitor)
        except Exception:
            log.exception("the web page failed", extra={"path": request.path})
            response = self.error(
                500,
                "Something went wrong",
                "The page could not be shown; the app's log has the details. Try again, "
                "and report it if it keeps happening.",
                visitor,
            )
        if visitor is not None and visitor.new_cookie:
            self._set_cookie(request, response, visitor.new_cookie)
        return response

    def _without_code(self, request: Request) -> Response:
        """The same URL without ``code``: the key must not stay in the browser's history."""
        rest = [(k, v) for k, v in request.args.items(multi=True) if k != "code"]
        # One leading slash: "//host/..." would send the browser to another site.
        target = "/" + request.path.lstrip("/") + (f"?{urlencode(rest)}" if rest else "")
        response = Response(status=303, headers={"Location": target})
        return response

    def _set_cookie(self, request: Request, response: Response, value: str) -> None:
        response.set_cookie(
            COOKIE,
            value,
            path=self.prefix + "/",
            httponly=True,
            samesite="Strict",
            secure=request.scheme == "https",
        )

    # -- rendering -----------------------------------------------------------------------

    def render(
        self, template: str, visitor: Visitor | None, *, status: int = 200, **context: Any
    ) -> Response:
        from hrupload.app.overview import file_of, run_note

        page = self.env.get_template(template).render(
            prefix=self.prefix,
            visitor=visitor,
            version=__version__,
            entra=self.web.auth == "entra",
            held=self.services.held if visitor else None,
            when=_when,
            note=run_note,
            file_of=file_of,
            **context,
        )
        return Response(page, status=status, mimetype="text/html")

    def error(self, status: int, title: str, message: str, visitor: Visitor | None) -> Response:
        return self.render(
            "error.html",
            visitor,
            status=status,
            code=status,
            title=title,
            message=message,
            page="error",
        )

    def http_error(self, exc: HTTPException, visitor: Visitor | None) -> Response:
        if isinstance(exc, RequestEntityTooLarge):
            return self.error(
                413,
                "The file is too large",
                f"This page checks files up to {size_text(self.web.max_bytes)}. Check a "
                "larger file with hrupload validate on your computer, or split it.",
                visitor,
            )
        if isinstance(exc, NotFound) or exc.code == 404:
            return self.error(
                404,
                "Not found",
                "There is no such page, or the file is not in the run log of the last days.",
                visitor,
            )
        return self.error(exc.code or 400, exc.name, "The request was not understood.", visitor)

    def static(self, name: str) -> Response:
        kind = STATIC.get(name)
        if kind is None:
            raise NotFound()
        body = resources.files("hrupload.web").joinpath("static", name).read_bytes()
        response = Response(body, mimetype=kind.split(";")[0])
        response.headers["Content-Type"] = kind
        response.headers["Cache-Control"] = "private, max-age=300"
        return response


def _when(record: Any) -> str:
    when = record.finished or record.started
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if when else ""
