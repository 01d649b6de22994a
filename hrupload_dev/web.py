"""``hrupload dev web``: the web page on this machine (127.0.0.1), over the storage the
settings name (Azurite in development: ``HR_STORAGE`` as ``make demo`` or ``hrupload dev
connector`` print it), served by Werkzeug's threaded server.

:class:`WebServer` is the same server for tests: ``with WebServer(app) as server:`` and
``server.url`` (no key in it).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
from pathlib import Path
from typing import Any

import click

from hrupload.web.http import PREFIX


class WebServer:
    """A WSGI app served over real HTTP on 127.0.0.1 (a port the OS picks unless given),
    in a thread of its own, until :meth:`stop`."""

    def __init__(self, app: Any, *, port: int = 0) -> None:
        from werkzeug.serving import make_server

        self._server = make_server(
            "127.0.0.1", port, app, threaded=True, request_handler=_handler()
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def url(self) -> str:
        """The page's address, without the key: ``http://127.0.0.1:PORT/api/``."""
        return f"http://127.0.0.1:{self.port}{PREFIX}/"

    def start(self) -> WebServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="hrupload-dev-web", daemon=True
        )
        self._thread.start()
        return self

    def serve(self) -> None:
        """Serve in this thread until interrupted (the command's way)."""
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler() -> type:
    """Werkzeug's request handler, logging each request without its query: the first
    one carries the key (``?code=KEY``), which must not reach a log."""
    from werkzeug.serving import WSGIRequestHandler

    class QuietKeyHandler(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            path = self.path.split("?", 1)[0]
            self.log("info", '"%s %s" %s %s', self.command, path, code, size)

    return QuietKeyHandler


def with_key(settings: Any) -> tuple[Any, str | None]:
    """The settings in key mode with a key: theirs, or a random one made now (returned, to
    be printed once)."""
    web = settings.web
    if web.auth == "key" and web.key:
        return settings, None
    key = secrets.token_urlsafe(24)
    web = dataclasses.replace(web, auth="key", key=key)
    return dataclasses.replace(settings, web=web), key


def settings_file(path: Path | None) -> dict[str, str]:
    """The environment with a Core Tools ``local.settings.json``'s Values over it (the
    file was named on the command line); the environment alone without one."""
    import os

    env = dict(os.environ)
    if path is None:
        return env
    try:
        values = json.loads(path.read_text(encoding="utf-8"))["Values"]
        given = {str(k): str(v) for k, v in values.items() if isinstance(v, str) and v}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise click.BadParameter(
            f"cannot read its Values: {exc}", param_hint="'--settings'"
        ) from None
    return env | given


@click.command("web")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="[default: one the OS picks]"
)
@click.option(
    "--settings",
    "settings_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Take the settings from a Core Tools local.settings.json (over the environment). "
    "[default: the environment]",
)
def web_command(port: int, settings_path: Path | None) -> None:
    """Serve the web page (status, check a file) on 127.0.0.1 over the configured storage
    (HR_STORAGE: Azurite's connection string in development).

    Key mode only: the key is HRUPLOAD_WEB_KEY, or a random one made for this run and
    printed once in the URL to open.
    """
    from hrupload.compose import load_settings
    from hrupload.core.errors import ConfigError, HrUploadError
    from hrupload.web import create_app

    try:  # blob:<name> profiles and connectors are read as the Function reads them
        settings, generated = with_key(load_settings(settings_file(settings_path)))
        app = create_app(settings)
        app.services.storage.ensure_containers()  # a fresh Azurite has none yet
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except HrUploadError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        server = WebServer(app, port=port)
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); pick another port with --port"
        ) from None
    code = generated if generated else "$HRUPLOAD_WEB_KEY"
    click.echo(f"hrupload web page on {server.url}")
    click.echo(f"Open: {server.url}?code={code}")
    if generated:
        click.echo("  (a key made for this run, shown once; set HRUPLOAD_WEB_KEY to keep one)")
    click.echo("Press Ctrl-C to stop.")
    try:
        server.serve()
    except KeyboardInterrupt:
        click.echo("Stopping the web page.")
