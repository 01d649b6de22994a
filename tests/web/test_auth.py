"""Every route needs someone let in: key mode (a laptop) and entra mode (Easy Auth in
front). Each way in is attacked: no key, a wrong key, a forged principal, the wrong group."""

from __future__ import annotations

import base64
import json

import pytest
from werkzeug.test import Client

from hrupload.settings import load
from hrupload.web import create_app
from tests.plugins.web import WEB_KEY

ROUTES = [
    "/api/",
    "/api/status",
    "/api/check",
    "/api/static/style.css",
    "/api/files/0123456789ab/report",
    "/api/files/0123456789ab/rejected.csv",
    "/api/no-such-page",
    "/",
]


@pytest.mark.parametrize("path", ROUTES)
def test_no_key_is_refused_on_every_route(web_app, path):
    response = Client(web_app).get(path)
    assert response.status_code == 401
    assert "Sign-in needed" in response.get_data(as_text=True)
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "attempt",
    [
        {"query_string": {"code": "wrong-key"}},
        {"query_string": {"code": WEB_KEY[:-1]}},
        {"headers": {"x-functions-key": "wrong-key"}},
        {"headers": {"Cookie": "hrupload_web=forged.0123abcd"}},
    ],
)
def test_a_wrong_key_or_a_forged_cookie_is_refused(web_app, attempt):
    response = Client(web_app).get("/api/", **attempt)
    assert response.status_code == 401


def test_the_key_link_sets_a_session_cookie_and_drops_the_key_from_the_url(web_app):
    client = Client(web_app)
    response = client.get("/api/check", query_string={"code": WEB_KEY, "x": "1"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/api/check?x=1"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/api/" in cookie
    assert WEB_KEY not in cookie
    assert client.get("/api/check").status_code == 200


def test_the_redirect_never_leaves_the_site(web_app):
    response = Client(web_app).get(
        "/api/",
        query_string={"code": WEB_KEY},
        environ_overrides={"PATH_INFO": "//evil.example/api/"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/evil.example/api/"


def test_the_key_in_a_header_serves_the_page_without_a_redirect(web_app):
    response = Client(web_app).get("/api/", headers={"x-functions-key": WEB_KEY})
    assert response.status_code == 200


def test_a_cookie_made_with_another_key_is_refused(web_env):
    other = create_app(load(web_env | {"HRUPLOAD_WEB_KEY": "another-key"}))
    client = Client(other)
    client.get("/api/?code=another-key")
    cookie = client.get_cookie("hrupload_web", path="/api/")
    ours = Client(create_app(load(web_env)))
    ours.set_cookie("hrupload_web", cookie.value, path="/api/")
    assert ours.get("/api/").status_code == 401


def test_without_a_key_every_request_is_refused_saying_to_set_one(web_env):
    env = {k: v for k, v in web_env.items() if k != "HRUPLOAD_WEB_KEY"}
    client = Client(create_app(load(env)))
    for attempt in ({}, {"query_string": {"code": ""}}, {"headers": {"x-functions-key": ""}}):
        response = client.get("/api/", **attempt)
        assert response.status_code == 403
        assert "HRUPLOAD_WEB_KEY" in response.get_data(as_text=True)


# -- entra mode ------------------------------------------------------------------------

GROUP = "6f1c1d0e-0000-4000-8000-00000000beef"


def _principal(*groups: str) -> str:
    claims = [{"typ": "groups", "val": g} for g in groups] + [{"typ": "name", "val": "Ana"}]
    doc = {"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": "roles"}
    return base64.b64encode(json.dumps(doc).encode()).decode()


def _signed_in(*groups: str) -> dict[str, str]:
    return {
        "X-MS-CLIENT-PRINCIPAL-ID": "00000000-0000-4000-8000-0000000000aa",
        "X-MS-CLIENT-PRINCIPAL-NAME": "ana@contoso.example",
        "X-MS-CLIENT-PRINCIPAL": _principal(*groups),
    }


@pytest.fixture
def entra_env(web_env):
    return web_env | {
        "HRUPLOAD_WEB_AUTH": "entra",
        "WEBSITE_AUTH_ENABLED": "True",
        "HRUPLOAD_WEB_GROUP": GROUP,
    }


def test_entra_lets_in_a_member_of_the_group(entra_env):
    response = Client(create_app(load(entra_env))).get("/api/", headers=_signed_in(GROUP))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "ana@contoso.example" in page and 'href="/.auth/logout"' in page


def test_entra_refuses_forged_principal_headers_without_the_platforms_authentication(entra_env):
    env = {k: v for k, v in entra_env.items() if k != "WEBSITE_AUTH_ENABLED"}
    for value in ({}, {"WEBSITE_AUTH_ENABLED": "False"}):
        client = Client(create_app(load(env | value)))
        response = client.get("/api/", headers=_signed_in(GROUP))
        assert response.status_code == 403
        assert "WEBSITE_AUTH_ENABLED" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "headers",
    [
        _signed_in("another-group"),
        _signed_in(),
        {**_signed_in(GROUP), "X-MS-CLIENT-PRINCIPAL": "not base64 json!"},
        {k: v for k, v in _signed_in(GROUP).items() if k != "X-MS-CLIENT-PRINCIPAL"},
    ],
)
def test_entra_refuses_someone_outside_the_group(entra_env, headers):
    response = Client(create_app(load(entra_env))).get("/api/", headers=headers)
    assert response.status_code == 403
    assert "not in the group" in response.get_data(as_text=True)


def test_entra_refuses_an_anonymous_request(entra_env):
    client = Client(create_app(load(entra_env)))
    assert client.get("/api/").status_code == 401
    assert client.get("/api/", query_string={"code": WEB_KEY}).status_code == 401


def test_entra_without_a_group_lets_in_whoever_easy_auth_signed_in(entra_env):
    app = create_app(load(entra_env | {"HRUPLOAD_WEB_GROUP": ""}))
    assert Client(app).get("/api/", headers=_signed_in()).status_code == 200


def test_entra_posts_carry_the_token_too(entra_env):
    import io

    from tests.plugins.web import csrf_of

    client = Client(create_app(load(entra_env)))
    headers = _signed_in(GROUP)
    token = csrf_of(client.get("/api/check", headers=headers).get_data(as_text=True))
    form = {"csrf": token, "file": (io.BytesIO(b"EmailAddress\n"), "resignation.csv")}
    ok = client.post("/api/check", data=form, headers=headers, content_type="multipart/form-data")
    assert ok.status_code == 200
    form = {"csrf": "forged", "file": (io.BytesIO(b"EmailAddress\n"), "resignation.csv")}
    bad = client.post("/api/check", data=form, headers=headers, content_type="multipart/form-data")
    assert bad.status_code == 403
