"""The web page (``hrupload.web``) for tests: an app over each test's own storage, a
signed-in ``werkzeug.test.Client``, and the same app over real HTTP (``hrupload dev
web``'s server).

``web_env`` is the environment the app is built from (the ``hr_storage`` of the test and
:data:`WEB_KEY`); a test module that needs more overrides it, and ``web_app`` and the
rest follow. With the connector stand-in, so that a sweep uploads::

    @pytest.fixture
    def web_env(web_env, connector_standin):
        return web_env | connector_standin.env(include_secret=True)

then ``drop_and_sweep(web_app, {"resignation/a.csv": data})`` fills the run log.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from werkzeug.test import Client

from hrupload.app.runs import RunRecord
from hrupload.settings import load
from hrupload.web import create_app
from hrupload.web.app import WebApp
from hrupload_dev.web import WebServer
from tests.plugins.azurite import storage_env

#: The key the test app takes (key mode), in ``?code=`` or ``x-functions-key``.
WEB_KEY = "test-web-key_0123456789"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def drop_and_sweep(app: WebApp, files: dict[str, bytes]) -> dict[str, RunRecord]:
    """Drop ``files`` (name in incoming -> bytes) and run the daily sweep over the app's own
    services (the connector must be set up: see ``web_env``); each file's run record."""
    from hrupload.app import pipeline

    storage = app.services.storage
    for name, data in files.items():
        storage.put_blob(app.services.settings.incoming, name, data)
    pipeline.sweep(app.services)
    runs = app.services.runlog.list_runs()
    return {r.blob.split("/", 1)[1]: r for r in runs if r.kind == "file"}


def csrf_of(html: str) -> str:
    """The CSRF token a page's form carries."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@pytest.fixture
def web_env(azurite, hr_storage) -> dict[str, str]:
    return storage_env(azurite, hr_storage) | {"HRUPLOAD_WEB_KEY": WEB_KEY}


@pytest.fixture
def web_app(web_env: dict[str, str]) -> WebApp:
    return create_app(load(web_env))


@pytest.fixture
def web_client(web_app: WebApp) -> Client:
    """A client that opened the key link once: it holds the session cookie."""
    client = Client(web_app)
    response = client.get(f"/api/?code={WEB_KEY}")
    assert response.status_code == 303, response.status
    return client


@pytest.fixture
def web_server(web_app: WebApp) -> Iterator[WebServer]:
    """``web_app`` over real HTTP on 127.0.0.1; open ``web_server.url + "?code=" + WEB_KEY``."""
    with WebServer(web_app) as server:
        yield server
