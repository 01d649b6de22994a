"""The web page: a front door beside the CLI for HR and compliance admins.

``create_app(settings)`` is a WSGI app (Werkzeug, Jinja2 templates) over the same services
the CLI and the Functions use: the status of every connector from the run log, checking a
file as ``hrupload validate`` does, each file's report and rejected rows. The Function app
serves it from one HTTP trigger (``hrupload.functions.on_http``); ``hrupload dev web``
serves it on this machine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hrupload.app.pipeline import Services
    from hrupload.settings import Settings
    from hrupload.web.app import WebApp


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> WebApp:
    """The WSGI app for ``settings`` (clients built by :mod:`hrupload.compose`), or over
    ``services`` already built (the Function app's, cached per worker)."""
    from hrupload.web.app import WebApp

    if services is None:
        from hrupload import compose

        services = compose.build_services(settings or compose.load_settings())
    return WebApp(services)
