"""The stand-ins themselves, driven over loopback with plain requests and the real SecretClient.

Every client test trusts these servers to answer like Microsoft's, so their contract is
pinned here: the token endpoint's AADSTS codes, the ingestion endpoint's checks and its
byte-exact storage, each fault kind, the control endpoint and the Key Vault challenge.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceResponseError,
)

from hrupload_dev.connector import (
    JOB_APP_MISMATCH,
    JWT_BEARER_ASSERTION,
    PURVIEW_RESOURCE,
    Capacity,
    ConnectorStandIn,
    Fault,
    MultipartError,
    count_records,
    parse_multipart,
)
from hrupload_dev.keyvault import KeyVaultStandIn, make_test_credential
from tests.plugins.standins import (
    CERTIFICATE_SECRET_NAME,
    SECRET_NAME,
    TEST_APP_SECRET,
    TEST_TENANT_ID,
    StandInCertificate,
)

TIMEOUT = 5
# CRLF rows, a quoted CRLF and commas inside a field, doubled quotes, UTF-8 beyond Latin-1.
CSV = (
    "EmailAddress,Name,TerminationDate\r\n"
    'ana@example.com,"Müller, Ana\r\nzweite Zeile",2024-05-01T00:00:00Z\r\n'
    'bo@example.com,"Bø ""Bob"" 🙂",2024-05-02T00:00:00Z\r\n'
).encode()


# -- helpers ----------------------------------------------------------------------------------


def token_form(standin: ConnectorStandIn, **changes: str | None) -> dict[str, str]:
    form: dict[str, str | None] = {
        "client_id": standin.app_id,
        "client_secret": standin.app_secret,
        "grant_type": "client_credentials",
        "resource": PURVIEW_RESOURCE,
        "tenant_id": standin.tenant_id,
    }
    form.update(changes)
    return {name: value for name, value in form.items() if value is not None}


def request_token(
    standin: ConnectorStandIn, *, tenant: str | None = None, **changes: str | None
) -> requests.Response:
    return requests.post(
        f"{standin.url}/{tenant or standin.tenant_id}/oauth2/token",
        params={"api-version": "1.0"},
        data=token_form(standin, **changes),
        timeout=TIMEOUT,
    )


def bearer(standin: ConnectorStandIn, **changes: str | None) -> str:
    response = request_token(standin, **changes)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def upload(
    standin: ConnectorStandIn,
    token: str,
    content: bytes = CSV,
    *,
    job: str | None = None,
    files: Any = None,
    timeout: float = TIMEOUT,
) -> requests.Response:
    return requests.post(
        f"{standin.url}/api/signals",
        params={"jobid": job or standin.job_id},
        headers={"Authorization": f"Bearer {token}"},
        files=files if files is not None else {"file": ("chunk.csv", content, "text/csv")},
        timeout=timeout,
    )


def make_assertion(
    standin: ConnectorStandIn,
    cert: StandInCertificate,
    *,
    key_pem: bytes | None = None,
    x5t: str | None = None,
    **claim_changes: Any,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "aud": f"{standin.url}/{standin.tenant_id}/oauth2/token",
        "iss": cert.app_id,
        "sub": cert.app_id,
        "jti": str(uuid.uuid4()),
        "nbf": now,
        "exp": now + 600,
    }
    claims.update(claim_changes)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(
        claims, key_pem or cert.key_pem, algorithm="RS256", headers={"x5t": x5t or cert.x5t}
    )


def request_token_with_assertion(
    standin: ConnectorStandIn, cert: StandInCertificate, assertion: str
) -> requests.Response:
    return request_token(
        standin,
        client_id=cert.app_id,
        client_secret=None,
        client_assertion_type=JWT_BEARER_ASSERTION,
        client_assertion=assertion,
    )


@pytest.fixture(scope="module")
def other_key_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# -- token endpoint ---------------------------------------------------------------------------


def test_token_with_secret_answers_like_entra_v1(connector_standin: ConnectorStandIn) -> None:
    before = int(time.time())
    response = request_token(connector_standin)

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == "3599"  # strings, like AAD v1
    assert before + 3599 <= int(body["expires_on"]) <= int(time.time()) + 3599
    assert body["resource"] == PURVIEW_RESOURCE
    assert body["access_token"]
    [record] = connector_standin.token_requests
    assert record.outcome == "issued"
    assert record.api_version == "1.0"
    assert record.content_type == "application/x-www-form-urlencoded"
    assert record.fields["client_secret"] == "<redacted>"
    assert record.fields["tenant_id"] == connector_standin.tenant_id
    assert TEST_APP_SECRET not in repr(connector_standin.token_requests)


@pytest.mark.parametrize(
    ("changes", "status", "error", "code"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client", "AADSTS7000215"),
        ({"client_id": str(uuid.UUID(int=7))}, 400, "unauthorized_client", "AADSTS700016"),
        ({"tenant": str(uuid.UUID(int=9))}, 400, "invalid_request", "AADSTS90002"),
        ({"resource": "https://graph.microsoft.com"}, 400, "invalid_resource", "AADSTS500011"),
        ({"resource": None}, 400, "invalid_request", "AADSTS900144"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type", "AADSTS70003"),
        ({"client_secret": None}, 401, "invalid_client", "AADSTS7000218"),
    ],
    ids=[
        "wrong-secret",
        "unknown-app",
        "unknown-tenant",
        "wrong-resource",
        "no-resource",
        "wrong-grant",
        "no-credential",
    ],
)
def test_token_refusals_carry_the_real_aadsts_codes(
    connector_standin: ConnectorStandIn,
    changes: dict[str, str | None],
    status: int,
    error: str,
    code: str,
) -> None:
    changes = dict(changes)
    tenant = changes.pop("tenant", None)
    response = request_token(connector_standin, tenant=tenant, **changes)

    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    assert body["error_description"].startswith(code + ": ")
    assert body["error_codes"] == [int(code.removeprefix("AADSTS"))]
    assert TEST_APP_SECRET not in response.text
    assert connector_standin.token_requests[-1].outcome == code


def test_rotated_secret_replaces_the_old_one(connector_standin: ConnectorStandIn) -> None:
    connector_standin.set_app_secret(connector_standin.app_id, "rotated")

    assert request_token(connector_standin, client_secret=TEST_APP_SECRET).status_code == 401
    assert request_token(connector_standin, client_secret="rotated").status_code == 200


def test_token_with_certificate_assertion(
    connector_standin: ConnectorStandIn, test_certificate: StandInCertificate
) -> None:
    assertion = make_assertion(connector_standin, test_certificate)
    response = request_token_with_assertion(connector_standin, test_certificate, assertion)

    assert response.status_code == 200, response.text
    seen = connector_standin.last_assertion
    assert seen is not None
    assert seen["header"]["alg"] == "RS256"
    assert seen["header"]["x5t"] == test_certificate.x5t
    assert seen["claims"]["aud"] == f"{connector_standin.url}/{TEST_TENANT_ID}/oauth2/token"
    assert seen["claims"]["iss"] == seen["claims"]["sub"] == test_certificate.app_id
    assert connector_standin.token_requests[-1].fields["client_assertion"] == "<redacted>"
    # The certificate app's token is good for the certificate app's job only.
    token = response.json()["access_token"]
    assert upload(connector_standin, token, job=test_certificate.job_id).status_code == 200


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("wrong-audience", "AADSTS50013"),
        ("expired", "AADSTS700024"),
        ("not-yet-valid", "AADSTS700024"),
        ("other-key", "AADSTS700027"),
        ("unknown-thumbprint", "AADSTS700027"),
        ("issuer-is-not-client", "AADSTS700021"),
        ("no-jti", "AADSTS50027"),
        ("not-a-jwt", "AADSTS50027"),
    ],
)
def test_bad_client_assertions_are_refused(
    connector_standin: ConnectorStandIn,
    test_certificate: StandInCertificate,
    other_key_pem: bytes,
    case: str,
    code: str,
) -> None:
    now = int(time.time())
    changes: dict[str, Any] = {
        "wrong-audience": {"aud": "https://login.microsoftonline.com/x/oauth2/token"},
        "expired": {"nbf": now - 900, "exp": now - 300},
        "not-yet-valid": {"nbf": now + 300, "exp": now + 900},
        "other-key": {"key_pem": other_key_pem},
        "unknown-thumbprint": {"x5t": "AAAAAAAAAAAAAAAAAAAAAAAAAAA"},
        "issuer-is-not-client": {"iss": connector_standin.app_id},
        "no-jti": {"jti": None},
    }.get(case, {})
    assertion = (
        "not.a.jwt"
        if case == "not-a-jwt"
        else make_assertion(connector_standin, test_certificate, **changes)
    )
    response = request_token_with_assertion(connector_standin, test_certificate, assertion)

    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert response.json()["error_description"].startswith(code + ": ")


# -- ingestion endpoint -----------------------------------------------------------------------


def test_upload_is_stored_byte_exact(connector_standin: ConnectorStandIn) -> None:
    response = upload(connector_standin, bearer(connector_standin))

    assert response.status_code == 200, response.text
    assert response.json()["records"] == 2
    [received] = connector_standin.uploads
    assert received.content == CSV
    assert received.seq == 1
    assert received.job_id == connector_standin.job_id
    assert received.app_id == connector_standin.app_id
    assert received.filename == "chunk.csv"
    assert received.records == 2  # the quoted line break does not start a record
    assert received.sha256 == hashlib.sha256(CSV).hexdigest()
    assert not received.answer_dropped
    assert connector_standin.out_dir is not None
    stored = connector_standin.out_dir / f"000001-{connector_standin.job_id}.csv"
    assert stored.read_bytes() == CSV
    assert "ana@example.com" not in repr(received)


@pytest.mark.parametrize(
    ("authorization", "expire"),
    [(None, False), ("Bearer not-issued-here", False), ("issued", True), ("Basic abc", False)],
    ids=["missing", "unknown", "expired", "not-bearer"],
)
def test_upload_needs_a_live_bearer_token(
    connector_standin: ConnectorStandIn, authorization: str | None, expire: bool
) -> None:
    headers = {}
    if authorization == "issued":
        headers["Authorization"] = f"Bearer {bearer(connector_standin)}"
    elif authorization:
        headers["Authorization"] = authorization
    if expire:
        connector_standin.expire_tokens()
    response = requests.post(
        f"{connector_standin.url}/api/signals",
        params={"jobid": connector_standin.job_id},
        headers=headers,
        files={"file": ("chunk.csv", CSV)},
        timeout=TIMEOUT,
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "Unauthorized"
    assert connector_standin.uploads == []


@pytest.mark.parametrize("job", ["cert-app-job", str(uuid.UUID(int=3))], ids=["other", "unknown"])
def test_job_of_another_app_is_forbidden_with_the_exact_message(
    connector_standin: ConnectorStandIn, test_certificate: StandInCertificate, job: str
) -> None:
    job_id = test_certificate.job_id if job == "cert-app-job" else job
    response = upload(connector_standin, bearer(connector_standin), job=job_id)

    assert response.status_code == 403
    assert response.text == JOB_APP_MISMATCH == "jobId and corresponding appId do not match."
    assert connector_standin.uploads == []


@pytest.mark.parametrize(
    "files",
    [
        {"file": ("a.csv", CSV), "extra": ("b.csv", CSV)},
        {"other": ("a.csv", CSV)},
        {"file": (None, CSV)},  # a form field, not a file
    ],
    ids=["extra-part", "wrong-name", "no-filename"],
)
def test_upload_needs_exactly_one_file_part(
    connector_standin: ConnectorStandIn, files: dict[str, Any]
) -> None:
    response = upload(connector_standin, bearer(connector_standin), files=files)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadRequest"
    assert connector_standin.uploads == []


def test_upload_that_is_not_multipart_is_refused(connector_standin: ConnectorStandIn) -> None:
    response = requests.post(
        f"{connector_standin.url}/api/signals",
        params={"jobid": connector_standin.job_id},
        headers={"Authorization": f"Bearer {bearer(connector_standin)}"},
        data=CSV,
        timeout=TIMEOUT,
    )

    assert response.status_code == 400
    assert connector_standin.uploads == []


def test_multipart_parser_keeps_every_byte() -> None:
    content = b'a,b\n"x\r\n--almost-the-boundary",\xc3\xa9\r'  # bare LF, CRLF, trailing CR
    body = (
        b"preamble\r\n--XyZ\r\n"
        b'Content-Disposition: form-data; name="file"; filename="r\xc3\xa9sum\xc3\xa9.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n" + content + b"\r\n--XyZ--\r\nepilogue"
    )

    [part] = parse_multipart(body, 'multipart/form-data; boundary="XyZ"')

    assert part.content == content
    assert part.name == "file"
    assert part.filename == "résumé.csv"
    with pytest.raises(MultipartError):
        parse_multipart(body[: body.index(b"\r\n--XyZ--")], "multipart/form-data; boundary=XyZ")
    with pytest.raises(MultipartError):
        parse_multipart(body, "text/csv")


def test_records_are_counted_as_csv_rows() -> None:
    assert count_records(CSV) == 2
    assert count_records(b"\xef\xbb\xbfh1,h2\n1,2\n\n3,4") == 2
    assert count_records(b"h1,h2\r\n") == 0
    assert count_records(b"") == 0


def test_concurrent_uploads_are_all_stored(connector_standin: ConnectorStandIn) -> None:
    token = bearer(connector_standin)
    header = b"EmailAddress,Name\r\n"
    chunks = [header + f"u{i}@example.com,Name {i}\r\n".encode() * 40_000 for i in range(8)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda chunk: upload(connector_standin, token, chunk), chunks))

    assert [r.status_code for r in responses] == [200] * 8
    received = connector_standin.uploads
    assert sorted(u.seq for u in received) == list(range(1, 9))
    assert sorted(u.content for u in received) == sorted(chunks)
    assert all(u.records == 40_000 for u in received)


def test_logs_hold_no_secret_token_or_row(
    connector_standin: ConnectorStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="hrupload_dev")
    token = bearer(connector_standin)
    upload(connector_standin, token)
    request_token(connector_standin, client_secret="wrong-secret")

    assert "upload 000001" in caplog.text
    for private in (TEST_APP_SECRET, token, "wrong-secret", "ana@example.com", "Müller"):
        assert private not in caplog.text


# -- faults -----------------------------------------------------------------------------------


def test_status_faults_are_served_in_order_then_normal_service(
    connector_standin: ConnectorStandIn,
) -> None:
    token = bearer(connector_standin)
    connector_standin.add_faults(
        Fault.http(503, retry_after=7),
        Fault.http(429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT", body={"error": "slow"}),
    )

    first, second, third = (upload(connector_standin, token) for _ in range(3))

    assert (first.status_code, first.headers["Retry-After"]) == (503, "7")
    assert first.json()["error"]["code"] == "ServiceUnavailable"
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert second.json() == {"error": "slow"}
    assert third.status_code == 200
    assert len(connector_standin.uploads) == 1


def test_token_faults_have_their_own_queue(connector_standin: ConnectorStandIn) -> None:
    token = bearer(connector_standin)
    connector_standin.add_faults(Fault.http(500), endpoint="token")

    assert upload(connector_standin, token).status_code == 200
    refused = request_token(connector_standin)
    assert refused.status_code == 500
    assert refused.json()["error"] == "temporarily_unavailable"
    assert request_token(connector_standin).status_code == 200


def test_drop_closes_without_answer(connector_standin: ConnectorStandIn) -> None:
    token = bearer(connector_standin)
    connector_standin.add_faults(Fault.drop())
    connector_standin.add_faults(Fault.drop(), endpoint="token")

    with pytest.raises(requests.ConnectionError):
        upload(connector_standin, token)
    with pytest.raises(requests.ConnectionError):
        request_token(connector_standin)
    assert connector_standin.uploads == []
    assert upload(connector_standin, token).status_code == 200


def test_delay_trips_the_client_timeout_then_serves(connector_standin: ConnectorStandIn) -> None:
    token = bearer(connector_standin)
    connector_standin.add_faults(Fault.delay(0.4))

    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        upload(connector_standin, token, timeout=0.1)
    assert time.monotonic() - started < 0.35

    # Like a slow service, the stand-in still processes the abandoned request.
    [late] = connector_standin.wait_for_uploads(1, timeout=3)
    assert late.content == CSV
    assert upload(connector_standin, token).status_code == 200


def test_accept_then_drop_stores_but_never_answers(connector_standin: ConnectorStandIn) -> None:
    token = bearer(connector_standin)
    connector_standin.add_faults(Fault.accept_then_drop())

    with pytest.raises(requests.ConnectionError):
        upload(connector_standin, token)

    [stored] = connector_standin.uploads
    assert stored.content == CSV
    assert stored.answer_dropped


def test_latency_is_added_to_each_request(connector_standin: ConnectorStandIn) -> None:
    token = bearer(connector_standin)
    connector_standin.latency = 0.15

    started = time.monotonic()
    assert upload(connector_standin, token).status_code == 200
    assert time.monotonic() - started >= 0.15


def test_fault_kinds_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault.from_json({"kind": "explode"})
    with pytest.raises(ValueError, match="HTTP status"):
        Fault.http(42)
    assert Fault.from_json({"status": 503, "retry_after": 2}) == Fault.http(503, retry_after="2")
    with pytest.raises(ValueError, match="redirect needs one of"):
        Fault.redirect("http://evil.example/", status=200)
    with pytest.raises(ValueError, match="needs a 'location'"):
        Fault.redirect("")
    with pytest.raises(ValueError, match="string 'location'"):
        Fault.from_json({"kind": "redirect", "status": 302})
    with pytest.raises(ValueError, match="only a redirect"):
        Fault("status", status=500, location="http://evil.example/")
    with pytest.raises(ValueError, match="line break"):
        Fault.http(403, reason="two\r\nlines")
    with pytest.raises(ValueError, match="HTTP status"):
        Fault.from_json({"kind": "echo", "status": 1000})
    with pytest.raises(ValueError, match="'status' must be an integer"):
        Fault.from_json({"kind": "html", "status": "403"})


NEW_FAULTS = [
    Fault.redirect("http://evil.example/api/signals", status=302),
    Fault.redirect("http://127.0.0.1:9/upload", status=308),
    Fault.html(),
    Fault.html(403),
    Fault.reset(),
    Fault.echo(),
    Fault.echo(500),
    Fault.http(403, reason=JOB_APP_MISMATCH, body=b""),
    Fault.http(404),
]


@pytest.mark.parametrize("fault", NEW_FAULTS, ids=lambda f: json.dumps(f.to_json()))
def test_every_fault_goes_through_json_unchanged(fault: Fault) -> None:
    """What a test in another process sends to the control endpoint is the same fault."""
    parsed = Fault.from_json(json.loads(json.dumps(fault.to_json())))

    assert parsed.to_json() == fault.to_json()
    assert parsed.kind == fault.kind and parsed.status == fault.status
    assert (parsed.location, parsed.reason) == (fault.location, fault.reason)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("endpoint", ["ingestion", "token"])
def test_redirects_point_elsewhere_and_serve_nothing(
    connector_standin: ConnectorStandIn, status: int, endpoint: str
) -> None:
    token = bearer(connector_standin)
    location = f"http://evil.example/{endpoint}?from=standin"
    connector_standin.add_faults(Fault.redirect(location, status), endpoint=endpoint)

    if endpoint == "ingestion":
        response = requests.post(
            f"{connector_standin.url}/api/signals",
            params={"jobid": connector_standin.job_id},
            headers={"Authorization": f"Bearer {token}"},
            files={"file": ("chunk.csv", CSV, "text/csv")},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
    else:
        response = requests.post(
            f"{connector_standin.url}/{connector_standin.tenant_id}/oauth2/token",
            data=token_form(connector_standin),
            allow_redirects=False,
            timeout=TIMEOUT,
        )

    assert response.status_code == status
    assert response.headers["Location"] == location
    assert response.headers["Content-Type"].startswith("text/html")
    assert connector_standin.uploads == []
    assert len(connector_standin.token_requests) == 1  # the bearer() one only
    assert upload(connector_standin, token).status_code == 200  # one request, one fault


@pytest.mark.parametrize("status", [200, 403])
def test_html_fault_is_a_proxy_sign_in_page_not_the_service(
    connector_standin: ConnectorStandIn, status: int
) -> None:
    token = bearer(connector_standin)
    connector_standin.add_faults(Fault.html(status))
    connector_standin.add_faults(Fault.html(status), endpoint="token")

    page = upload(connector_standin, token)
    token_page = request_token(connector_standin)

    for response in (page, token_page):
        assert response.status_code == status
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "<form" in response.text and "Sign in" in response.text
    assert connector_standin.uploads == []  # even a 200 page stored nothing
    assert len(connector_standin.token_requests) == 1


def test_reset_fault_sends_a_tcp_reset(connector_standin: ConnectorStandIn) -> None:
    import socket

    token = bearer(connector_standin)
    connector_standin.add_faults(Fault.reset(), Fault.reset())
    connector_standin.add_faults(Fault.reset(), endpoint="token")

    with pytest.raises(requests.ConnectionError, match="reset"):
        upload(connector_standin, token)
    with pytest.raises(requests.ConnectionError, match="reset"):
        request_token(connector_standin)
    # Below requests: a reset, not an orderly close (which would read as b"").
    with socket.create_connection(("127.0.0.1", connector_standin.port), timeout=TIMEOUT) as sock:
        sock.sendall(
            f"POST /api/signals?jobid={connector_standin.job_id} HTTP/1.1\r\n"
            "Host: x\r\nContent-Length: 0\r\n\r\n".encode()
        )
        with pytest.raises(ConnectionResetError):
            sock.recv(1024)
    assert connector_standin.uploads == []
    assert upload(connector_standin, token).status_code == 200


def test_reason_phrase_fault_carries_the_job_mismatch_with_an_empty_body(
    connector_standin: ConnectorStandIn,
) -> None:
    token = bearer(connector_standin)
    connector_standin.add_faults(Fault.http(403, reason=JOB_APP_MISMATCH, body=b""))

    response = upload(connector_standin, token)

    assert (response.status_code, response.reason, response.content) == (
        403,
        JOB_APP_MISMATCH,
        b"",
    )
    assert connector_standin.uploads == []


def test_echo_fault_quotes_the_bearer_token_and_a_jwt(connector_standin: ConnectorStandIn) -> None:
    token = bearer(connector_standin)
    connector_standin.add_faults(Fault.echo())

    response = upload(connector_standin, token)

    assert response.status_code == 401
    assert token in response.text
    authorization, jwt_text = connector_standin.echoed
    assert authorization == f"Bearer {token}"
    assert jwt_text.count(".") == 2 and jwt_text in response.text
    assert jwt.get_unverified_header(jwt_text)["typ"] == "JWT"
    assert connector_standin.uploads == []


def test_echo_fault_on_the_token_endpoint_quotes_the_secret_as_sent_too(
    connector_standin: ConnectorStandIn,
) -> None:
    from urllib.parse import quote_plus

    connector_standin.add_faults(Fault.echo(400), endpoint="token")

    response = request_token(connector_standin)

    assert response.status_code == 400
    description = response.json()["error_description"]
    assert description.startswith("AADSTS90100:")
    assert TEST_APP_SECRET in description
    assert quote_plus(TEST_APP_SECRET) in description  # the raw form body, encoded
    assert TEST_APP_SECRET in connector_standin.echoed
    assert connector_standin.token_requests == []  # refused before the token logic


def test_echo_fault_on_the_token_endpoint_quotes_a_client_assertion(
    connector_standin: ConnectorStandIn, test_certificate: StandInCertificate
) -> None:
    assertion = make_assertion(connector_standin, test_certificate)
    connector_standin.add_faults(Fault.echo(401), endpoint="token")

    response = request_token_with_assertion(connector_standin, test_certificate, assertion)

    assert response.status_code == 401
    assert assertion in response.json()["error_description"]
    assert assertion in connector_standin.echoed


def test_control_endpoint_takes_the_whole_fault_menu(connector_standin: ConnectorStandIn) -> None:
    control = f"{connector_standin.url}/_standin/faults"
    plan = {
        "ingestion": [f.to_json() for f in NEW_FAULTS],
        "token": [{"kind": "reset"}, {"kind": "html", "status": 403}],
    }

    response = requests.post(control, json=plan, timeout=TIMEOUT)

    assert response.status_code == 200
    assert response.json()["pending"] == plan
    served = [f.kind for f in connector_standin.pending_faults("ingestion")]
    assert served == [f.kind for f in NEW_FAULTS]


# -- capacity ---------------------------------------------------------------------------------


def test_capacity_serves_k_at_once_and_answers_the_rest_429_with_retry_after(
    connector_standin: ConnectorStandIn,
) -> None:
    token = bearer(connector_standin)
    connector_standin.latency = 0.4  # the service time: each served upload holds its place
    connector_standin.set_capacity(Capacity(2, retry_after=3))

    with ThreadPoolExecutor(max_workers=5) as pool:
        responses = list(pool.map(lambda _: upload(connector_standin, token), range(5)))

    served = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert (len(served), len(refused)) == (2, 3)
    assert {r.headers["Retry-After"] for r in refused} == {"3"}
    assert all(r.elapsed.total_seconds() < 0.3 for r in refused)  # answered at once
    assert len(connector_standin.uploads) == 2  # a refused upload is not stored
    assert 3 <= connector_standin.peak_in_flight <= 5  # a refused one counts in flight too
    assert len(connector_standin.capacity_refusals) == 3
    assert upload(connector_standin, token).status_code == 200  # room again once served


def test_capacity_is_set_and_reported_through_the_control_endpoint(
    connector_standin: ConnectorStandIn,
) -> None:
    control = f"{connector_standin.url}/_standin/faults"
    token = bearer(connector_standin)
    plan = {"capacity": {"limit": 1, "retry_after": 0.5}, "latency": 0.3}

    state = requests.post(control, json=plan, timeout=TIMEOUT).json()
    with ThreadPoolExecutor(max_workers=2) as pool:
        codes = sorted(pool.map(lambda _: upload(connector_standin, token).status_code, range(2)))
    load = requests.get(control, timeout=TIMEOUT).json()

    assert state["capacity"] == {"limit": 1, "retry_after": 0.5}
    assert codes == [200, 429]
    assert (load["load"]["peak_in_flight"], load["load"]["refused"]) == (2, 1)
    off = requests.post(control, json={"capacity": None, "latency": 0}, timeout=TIMEOUT).json()
    assert off["capacity"] is None and off["load"]["refused"] == 0  # counters start afresh
    with ThreadPoolExecutor(max_workers=3) as pool:
        codes = list(pool.map(lambda _: upload(connector_standin, token).status_code, range(3)))
    assert codes == [200] * 3


@pytest.mark.parametrize(
    "capacity",
    [{"limit": 0}, {"limit": "4"}, {"limit": 2, "retry_after": -1}, {"limit": 2, "burst": 1}, 4],
)
def test_a_bad_capacity_changes_nothing(connector_standin: ConnectorStandIn, capacity) -> None:
    control = f"{connector_standin.url}/_standin/faults"
    plan = {"capacity": capacity, "ingestion": [{"status": 503}], "latency": 0.1}

    response = requests.post(control, json=plan, timeout=TIMEOUT)

    assert response.status_code == 400
    assert "capacity" in response.json()["error"]["message"]
    assert connector_standin.capacity is None
    assert (connector_standin.pending_faults("ingestion"), connector_standin.latency) == ([], 0)


# -- control endpoint -------------------------------------------------------------------------


def test_control_endpoint_drives_faults_and_lists_uploads(
    connector_standin: ConnectorStandIn,
) -> None:
    control = f"{connector_standin.url}/_standin"
    token = bearer(connector_standin)
    plan = {"ingestion": [{"status": 503, "retry_after": 1}, {"kind": "drop"}], "latency": 0}

    set_response = requests.post(f"{control}/faults", json=plan, timeout=TIMEOUT)

    assert set_response.status_code == 200
    pending = requests.get(f"{control}/faults", timeout=TIMEOUT).json()["pending"]
    assert pending["ingestion"] == [
        {"kind": "status", "status": 503, "retry_after": "1"},
        {"kind": "drop"},
    ]
    assert upload(connector_standin, token).status_code == 503
    with pytest.raises(requests.ConnectionError):
        upload(connector_standin, token)
    assert upload(connector_standin, token).status_code == 200
    listing = requests.get(f"{control}/uploads", timeout=TIMEOUT)
    assert listing.json() == [
        {
            "seq": 1,
            "job": connector_standin.job_id,
            "app": connector_standin.app_id,
            "filename": "chunk.csv",
            "size": len(CSV),
            "records": 2,
            "sha256": hashlib.sha256(CSV).hexdigest(),
            "received_at": listing.json()[0]["received_at"],
            "answer_dropped": False,
        }
    ]
    assert "example.com" not in listing.text


def test_control_endpoint_rejects_a_bad_plan_whole(connector_standin: ConnectorStandIn) -> None:
    control = f"{connector_standin.url}/_standin/faults"
    plan = {"ingestion": [{"status": 503}], "token": [{"kind": "explode"}]}

    assert requests.post(control, json=plan, timeout=TIMEOUT).status_code == 400
    assert requests.post(control, data=b"{not json", timeout=TIMEOUT).status_code == 400
    assert connector_standin.pending_faults("ingestion") == []

    requests.post(control, json={"ingestion": [{"kind": "drop"}]}, timeout=TIMEOUT)
    cleared = requests.post(control, json={"clear": True}, timeout=TIMEOUT).json()
    assert cleared["pending"] == {"ingestion": [], "token": []}


# -- the CLI command --------------------------------------------------------------------------


def test_cli_prints_env_and_generated_secret_once_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HRUPLOAD_APP_SECRET"}
    env["PYTHONUNBUFFERED"] = "1"
    out = tmp_path / "received"
    command = [sys.executable, "-m", "hrupload_dev.connector", "--port", "0", "--out", str(out)]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        banner = []
        assert proc.stdout is not None
        while not banner or "Ctrl-C" not in banner[-1]:
            line = proc.stdout.readline()
            assert line, f"the command ended early: {proc.stderr.read() if proc.stderr else ''}"
            banner.append(line)
        exports = dict(
            line.split("export ", 1)[1].split("  #")[0].strip().split("=", 1)
            for line in banner
            if "export " in line
        )
        url, secret = exports["HRUPLOAD_LOGIN_URL"], exports["HRUPLOAD_APP_SECRET"]
        assert exports["HRUPLOAD_INGESTION_URL"] == url
        tenant, job = exports["HRUPLOAD_TENANT_ID"], exports["HRUPLOAD_JOB_ID"]
        form = {
            "client_id": exports["HRUPLOAD_APP_ID"],
            "client_secret": secret,
            "grant_type": "client_credentials",
            "resource": PURVIEW_RESOURCE,
            "tenant_id": tenant,
        }
        token_response = requests.post(f"{url}/{tenant}/oauth2/token", data=form, timeout=TIMEOUT)
        token = token_response.json()["access_token"]
        response = requests.post(
            f"{url}/api/signals",
            params={"jobid": job},
            headers={"Authorization": f"Bearer {token}"},
            files={"file": ("chunk.csv", CSV)},
            timeout=TIMEOUT,
        )
        assert response.status_code == 200
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == 0, stderr
    everything = "".join(banner) + stdout + stderr
    assert everything.count(secret) == 1
    assert "local stand-in secret" in next(line for line in banner if secret in line)
    assert token not in everything
    assert "ana@example.com" not in everything
    assert "upload 000001" in stderr
    assert (out / f"000001-{job}.csv").read_bytes() == CSV


# -- Key Vault --------------------------------------------------------------------------------


def test_secret_client_does_the_challenge_once_then_reads(
    keyvault_standin: KeyVaultStandIn,
) -> None:
    client = keyvault_standin.secret_client(retry_total=0)

    secret = client.get_secret(SECRET_NAME)

    assert secret.value == TEST_APP_SECRET
    assert secret.id == f"{keyvault_standin.url}/secrets/{SECRET_NAME}/{secret.properties.version}"
    assert (keyvault_standin.challenges, keyvault_standin.requests) == (1, 2)
    assert keyvault_standin.credential.calls == [
        (("https://vault.azure.net/.default",), TEST_TENANT_ID)
    ]
    assert client.get_secret(SECRET_NAME).value == TEST_APP_SECRET
    assert (keyvault_standin.challenges, keyvault_standin.requests) == (1, 3)
    assert keyvault_standin.reads == 2


def test_challenge_header_is_key_vaults(keyvault_standin: KeyVaultStandIn) -> None:
    url = f"{keyvault_standin.url}/secrets/{SECRET_NAME}?api-version=7.5"

    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, timeout=TIMEOUT)  # real TLS: only the test CA vouches for it
    response = requests.get(url, verify=keyvault_standin.ca_cert_pem_path, timeout=TIMEOUT)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer authorization="https://login.microsoftonline.com/{TEST_TENANT_ID}", '
        'resource="https://vault.azure.net"'
    )
    assert TEST_APP_SECRET not in response.text


def test_versions_and_rotation(keyvault_standin: KeyVaultStandIn) -> None:
    client = keyvault_standin.secret_client(retry_total=0)
    [first] = keyvault_standin.secret_versions(SECRET_NAME)

    second = keyvault_standin.set_secret(SECRET_NAME, "rotated")
    latest = client.get_secret(SECRET_NAME)
    assert (latest.value, latest.properties.version) == ("rotated", second)
    assert client.get_secret(SECRET_NAME, first).value == TEST_APP_SECRET

    written = client.set_secret(SECRET_NAME, "set-by-client")
    assert keyvault_standin.writes == 1
    assert keyvault_standin.secret_versions(SECRET_NAME)[-1] == written.properties.version
    assert client.get_secret(SECRET_NAME).value == "set-by-client"


def test_a_secret_keeps_the_expiry_it_was_set_with(keyvault_standin: KeyVaultStandIn) -> None:
    client = keyvault_standin.secret_client(retry_total=0)
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert client.get_secret(SECRET_NAME).properties.expires_on is None

    client.set_secret(SECRET_NAME, "with-expiry", expires_on=expires)

    assert client.get_secret(SECRET_NAME).properties.expires_on == expires


def test_certificate_secret_has_its_content_type(keyvault_standin: KeyVaultStandIn) -> None:
    secret = keyvault_standin.secret_client(retry_total=0).get_secret(CERTIFICATE_SECRET_NAME)

    assert secret.properties.content_type == "application/x-pem-file"
    assert "BEGIN PRIVATE KEY" in (secret.value or "")
    assert "BEGIN CERTIFICATE" in (secret.value or "")


def test_unknown_secret_or_version_is_secret_not_found(keyvault_standin: KeyVaultStandIn) -> None:
    client = keyvault_standin.secret_client(retry_total=0)

    with pytest.raises(ResourceNotFoundError) as missing:
        client.get_secret("no-such-secret")
    assert missing.value.error is not None and missing.value.error.code == "SecretNotFound"
    with pytest.raises(ResourceNotFoundError):
        client.get_secret(SECRET_NAME, uuid.uuid4().hex)


@pytest.mark.parametrize(
    ("status", "error_type", "code"),
    [(403, HttpResponseError, "Forbidden"), (404, ResourceNotFoundError, "SecretNotFound")],
)
def test_keyvault_status_faults_use_its_error_format(
    keyvault_standin: KeyVaultStandIn, status: int, error_type: type[Exception], code: str
) -> None:
    client = keyvault_standin.secret_client(retry_total=0)
    keyvault_standin.add_faults(Fault.http(status))

    with pytest.raises(error_type) as failure:
        client.get_secret(SECRET_NAME)

    assert isinstance(failure.value, HttpResponseError)
    assert failure.value.status_code == status
    assert failure.value.error is not None and failure.value.error.code == code
    assert client.get_secret(SECRET_NAME).value == TEST_APP_SECRET


def test_keyvault_drop_and_delay_fail_the_client(keyvault_standin: KeyVaultStandIn) -> None:
    client = keyvault_standin.secret_client(retry_total=0)
    client.get_secret(SECRET_NAME)  # challenge done: the faults hit the secret reads
    keyvault_standin.add_faults(Fault.drop(), Fault.delay(0.5))

    with pytest.raises(ServiceResponseError):
        client.get_secret(SECRET_NAME)
    with pytest.raises(ServiceResponseError):
        client.get_secret(SECRET_NAME, read_timeout=0.1)
    assert client.get_secret(SECRET_NAME).value == TEST_APP_SECRET


def keyvault_get(vault: KeyVaultStandIn, **kwargs: Any) -> requests.Response:
    return requests.get(
        f"{vault.url}/secrets/{SECRET_NAME}",
        params={"api-version": "7.4"},
        headers={"Authorization": f"Bearer {vault.token}"},
        verify=vault.ca_cert_pem_path,
        timeout=TIMEOUT,
        **kwargs,
    )


def test_keyvault_serves_the_hostile_faults_too(keyvault_standin: KeyVaultStandIn) -> None:
    keyvault_standin.add_faults(
        Fault.redirect("http://evil.example/secrets", 302),
        Fault.html(),
        Fault.reset(),
        Fault.echo(403),
        Fault.http(429, retry_after=3),
    )

    moved = keyvault_get(keyvault_standin, allow_redirects=False)
    page = keyvault_get(keyvault_standin)
    with pytest.raises(requests.ConnectionError):
        keyvault_get(keyvault_standin)
    echoed = keyvault_get(keyvault_standin)
    throttled = keyvault_get(keyvault_standin)

    assert (moved.status_code, moved.headers["Location"]) == (302, "http://evil.example/secrets")
    assert page.status_code == 200 and "<form" in page.text
    assert echoed.status_code == 403 and keyvault_standin.token in echoed.text
    assert f"Bearer {keyvault_standin.token}" in keyvault_standin.echoed
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "3")
    assert throttled.json()["error"]["code"] == "Throttled"
    assert TEST_APP_SECRET not in page.text + echoed.text  # the value is never echoed
    assert keyvault_get(keyvault_standin).json()["value"] == TEST_APP_SECRET


def test_keyvault_refuses_a_token_it_did_not_expect() -> None:
    with KeyVaultStandIn(secrets={SECRET_NAME: "value"}, token="expected") as vault:
        from azure.keyvault.secrets import SecretClient

        client = SecretClient(
            vault_url=vault.url,
            credential=make_test_credential("something-else"),
            verify_challenge_resource=False,
            connection_verify=vault.ca_cert_pem_path,
            retry_total=0,
        )
        with pytest.raises(ClientAuthenticationError):
            client.get_secret(SECRET_NAME)
        assert vault.reads == 0


def test_keyvault_needs_api_version(keyvault_standin: KeyVaultStandIn) -> None:
    response = requests.get(
        f"{keyvault_standin.url}/secrets/{SECRET_NAME}",
        headers={"Authorization": f"Bearer {keyvault_standin.token}"},
        verify=keyvault_standin.ca_cert_pem_path,
        timeout=TIMEOUT,
    )

    assert response.status_code == 400
    assert json.loads(response.text)["error"]["code"] == "BadParameter"
