"""The web page as the Functions host runs it: one anonymous HTTP route for every path,
handed to the WSGI app; called directly with a ``func.HttpRequest``."""

from __future__ import annotations

import json

import azure.functions as func
import pytest

from tests.plugins.web import WEB_KEY
from tests.test_functions import bindings, fresh_app


def test_the_http_binding_as_the_host_sees_it(monkeypatch):
    _, fns = fresh_app(monkeypatch)
    trigger, output = sorted(bindings(fns["web"]), key=lambda b: b["direction"])
    assert trigger["type"] == "httpTrigger" and trigger["direction"] == "IN"
    assert trigger["route"] == "{*path}"
    assert trigger["authLevel"] == "ANONYMOUS"
    assert sorted(m.upper() for m in trigger["methods"]) == ["GET", "POST"]
    assert output["type"] == "http" and output["direction"] == "OUT"


@pytest.fixture
def web_function(monkeypatch, web_env):
    for key, value in web_env.items():
        monkeypatch.setenv(key, value)
    _, fns = fresh_app(monkeypatch)
    return fns["web"].get_user_function()


def _get(path: str, **headers: str) -> func.HttpRequest:
    return func.HttpRequest("GET", f"https://hrupload.example{path}", headers=headers, body=b"")


def test_the_function_serves_the_status_page_to_the_key_holder(web_function):
    response = web_function(_get("/api/", **{"x-functions-key": WEB_KEY}), None)
    assert response.status_code == 200
    assert "<h1>Status</h1>" in response.get_body().decode()
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["Cache-Control"] == "no-store"


def test_the_function_refuses_a_request_without_the_key(web_function):
    response = web_function(_get("/api/check"), None)
    assert response.status_code == 401
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_key_link_sets_a_secure_cookie_through_the_function(web_function):
    response = web_function(_get(f"/api/check?code={WEB_KEY}"), None)
    assert response.status_code == 303
    assert response.headers["Location"] == "/api/check"
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and WEB_KEY not in cookie
    again = web_function(_get("/api/check", Cookie=cookie.split(";", 1)[0]), None)
    assert again.status_code == 200


def test_a_setting_that_does_not_load_is_a_page_naming_it(monkeypatch, web_env):
    for key, value in (web_env | {"HRUPLOAD_WEB_MAX_KB": "lots"}).items():
        monkeypatch.setenv(key, value)
    _, fns = fresh_app(monkeypatch)
    response = fns["web"].get_user_function()(_get("/api/"), None)
    assert response.status_code == 503
    body = response.get_body().decode()
    assert "HRUPLOAD_WEB_MAX_KB" in body and "Traceback" not in body
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    json.dumps(dict(response.headers))  # plain strings, as the host sends them
