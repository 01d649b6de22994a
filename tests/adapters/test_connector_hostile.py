"""The connector client against hostile servers: redirects, proxies' pages, wrong paths,
untrusted certificates, echoed secrets, a proxy in the environment.

Each server is a real one on 127.0.0.1 (an OS-picked port), stopped by the test that
started it; the token comes from the connector stand-in wherever the test is about the
ingestion side. Every failure is checked where the pipeline will read it: ``blame()``.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from hrupload.adapters.connector import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    ConnectorClient,
    SecretCredential,
    endpoints,
)
from hrupload.core.errors import Blame, ConnectorError, blame
from hrupload.core.redact import redact
from hrupload_dev.connector import ConnectorStandIn
from tests.plugins.standins import TEST_APP_SECRET

CHUNK = (
    b"EmailAddress,ResignationDate,LastWorkingDate\r\n"
    b"ana@contoso.com,2024-05-01T00:00:00Z,2024-05-31T00:00:00Z\r\n"
)
TOKEN_JSON = json.dumps({"access_token": "tok-Abc123xyz", "expires_in": 3600}).encode()


# -- a small server that answers whatever the test says ----------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    reason: str | None = None  # the reason phrase; None: the standard one


class Hostile:
    """``answer(seen) -> Answer`` for every request; ``.seen`` lists what arrived."""

    def __init__(
        self, answer: Callable[[Seen], Answer], *, tls: ssl.SSLContext | None = None
    ) -> None:
        self.answer = answer
        self.seen: list[Seen] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, self.path, dict(self.headers), self.rfile.read(length))
                outer.seen.append(seen)
                reply = outer.answer(seen)
                self.send_response(reply.status, reply.reason)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_CONNECT = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Hostile:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def always(reply: Answer) -> Callable[[Seen], Answer]:
    return lambda _seen: reply


def token_then(ingestion: Answer) -> Callable[[Seen], Answer]:
    """A token for the token path, ``ingestion`` for anything else."""

    def answer(seen: Seen) -> Answer:
        if "/oauth2/token" in seen.path:
            return Answer(200, TOKEN_JSON, {"Content-Type": "application/json"})
        return ingestion

    return answer


def client_for(login: str, ingestion: str, *, budget: float = 0.5, **kwargs) -> ConnectorClient:
    return ConnectorClient(
        SecretCredential("tenant-1", "app-1", TEST_APP_SECRET),
        job_id="job-1",
        endpoints=endpoints(login_url=login, ingestion_url=ingestion),
        retry_budget=budget,
        max_backoff=0.05,
        timeout=(2.0, 2.0),
        **kwargs,
    )


@pytest.fixture
def sink() -> Iterator[Hostile]:
    """Where a redirect points: answers 200 to anything, so following it would 'succeed'."""
    with Hostile(always(Answer(200, b"OK"))) as server:
        yield server


# -- 1. redirects are never followed ------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_an_ingestion_redirect_is_a_systemic_failure_never_a_delivery(
    sink: Hostile, status: int
) -> None:
    location = f"{sink.url}/elsewhere/api/signals"
    with Hostile(token_then(Answer(status, headers={"Location": location}))) as server:
        client = client_for(server.url, server.url)

        with pytest.raises(ConnectorError) as failed:
            client.upload(CHUNK, filename="a.csv")

    assert sink.seen == []  # the redirect was not followed: no GET turned into "success"
    assert [s.method for s in server.seen if "signals" in s.path] == ["POST"]  # not retried
    message = str(failed.value)
    assert "127.0.0.1" in message and "redirect" in message
    assert "Nothing of this chunk is counted as delivered" in message
    assert failed.value.status == status
    assert blame(failed.value) is Blame.OUTAGE


@pytest.mark.parametrize("status", [302, 307, 308])
def test_a_token_redirect_never_resends_the_secret(sink: Hostile, status: int) -> None:
    # The Location is a host the URL check itself refuses (plain http off loopback) and,
    # in the second server, a loopback sink that would record the secret.
    with Hostile(
        always(Answer(status, headers={"Location": "http://steal.example.test/t"}))
    ) as server:
        client = client_for(server.url, sink.url)
        with pytest.raises(ConnectorError) as failed:
            client.token()
    to_sink = Hostile(always(Answer(status, headers={"Location": f"{sink.url}/t"})))
    with to_sink as server, pytest.raises(ConnectorError):
        client_for(server.url, sink.url).token()

    assert sink.seen == []
    message = str(failed.value)
    assert "steal.example.test" in message
    assert "--login-url" in message
    assert TEST_APP_SECRET not in message
    assert blame(failed.value) is Blame.OUTAGE


def test_a_redirect_location_is_printed_only_as_a_host() -> None:
    crafted = "https://evil.example.test/\x1b[2Jpath?client_secret=x"
    hostile = Hostile(always(Answer(307, headers={"Location": crafted})))
    with hostile as server, pytest.raises(ConnectorError) as failed:
        client_for(server.url, server.url).token()

    assert "evil.example.test" in str(failed.value)
    assert "\x1b" not in str(failed.value) and "client_secret" not in str(failed.value)


# -- 2. one taxonomy: what would hit every file alike is an outage ------------------------------

HTML = {"Content-Type": "text/html; charset=utf-8"}
LOGIN_PAGE = b"<!DOCTYPE html><html><body><form>Corporate proxy sign-in</form></body></html>"


@pytest.mark.parametrize(
    "reply",
    [
        Answer(200, LOGIN_PAGE, HTML),
        Answer(200, b"not json at all", {"Content-Type": "text/plain"}),
        Answer(200, b'{"token_type": "Bearer"}', {"Content-Type": "application/json"}),
        Answer(403, b"<html><body>Blocked by policy</body></html>", HTML),
        Answer(407, b"", {"Proxy-Authenticate": "Basic"}),
    ],
    ids=["html-200", "text-200", "json-without-token", "html-403", "407"],
)
def test_a_token_endpoint_answer_that_is_not_a_token_is_an_outage(reply: Answer) -> None:
    with Hostile(always(reply)) as server:
        client = client_for(server.url, server.url)
        with pytest.raises(ConnectorError) as failed:
            client.upload(CHUNK, filename="a.csv")

    assert blame(failed.value) is Blame.OUTAGE
    assert "HTTPS_PROXY" in str(failed.value)
    assert [s.path.split("?")[0] for s in server.seen] == ["/tenant-1/oauth2/token"]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, "AADSTS7000215"),  # wrong secret
        (401, "AADSTS50034"),  # unknown to us: still not the file's fault
        (403, "AADSTS53003"),  # blocked by conditional access
        (400, "AADSTS90002"),  # unknown tenant
    ],
)
def test_every_token_refusal_is_an_outage(status: int, code: str) -> None:
    doc = {"error": "invalid_client", "error_description": f"{code}: refused.\r\nTrace ID: 1"}
    reply = Answer(status, json.dumps(doc).encode(), {"Content-Type": "application/json"})
    with Hostile(always(reply)) as server, pytest.raises(ConnectorError) as failed:
        client_for(server.url, server.url).upload(CHUNK, filename="a.csv")

    assert code in str(failed.value)
    assert failed.value.systemic
    assert blame(failed.value) is Blame.OUTAGE


def test_a_job_mismatch_named_only_in_the_reason_phrase_is_an_outage() -> None:
    reply = Answer(403, b"", reason="jobId and corresponding appId do not match")
    with Hostile(token_then(reply)) as server, pytest.raises(ConnectorError) as failed:
        client_for(server.url, server.url).upload(CHUNK, filename="a.csv")

    assert "check --app-id and --job-id" in str(failed.value)
    assert blame(failed.value) is Blame.OUTAGE


def test_a_wrong_ingestion_path_is_an_outage(connector_standin: ConnectorStandIn) -> None:
    # The stand-in is the real service here: a mistyped ingestion URL gets its 404.
    client = ConnectorClient(
        SecretCredential(connector_standin.tenant_id, connector_standin.app_id, TEST_APP_SECRET),
        job_id=connector_standin.job_id or "",
        endpoints=endpoints(
            login_url=connector_standin.url, ingestion_url=connector_standin.url + "/typo"
        ),
        retry_budget=0.5,
    )

    with pytest.raises(ConnectorError) as failed:
        client.upload(CHUNK, filename="a.csv")

    assert failed.value.status == 404
    assert "--ingestion-url" in str(failed.value)
    assert blame(failed.value) is Blame.OUTAGE
    assert connector_standin.uploads == []


@pytest.mark.parametrize(
    "reply",
    [
        Answer(502, LOGIN_PAGE, HTML),  # retried, then the budget's failure
        Answer(200, LOGIN_PAGE, HTML),  # a proxy's page with 200 is not the connector's "yes"
        Answer(403, b"<html><body>Access denied by proxy</body></html>", HTML),
        Answer(405, b"Method not allowed"),
        Answer(409, b"conflict"),
    ],
    ids=["html-502", "html-200", "html-403", "405", "409"],
)
def test_ingestion_refusals_that_do_not_name_the_content_are_outages(reply: Answer) -> None:
    with Hostile(token_then(reply)) as server, pytest.raises(ConnectorError) as failed:
        client_for(server.url, server.url, budget=0.3).upload(CHUNK, filename="a.csv")

    assert blame(failed.value) is Blame.OUTAGE


@pytest.mark.parametrize("status", [400, 413, 415, 422])
def test_a_refusal_about_the_csv_is_the_files_fault(status: int) -> None:
    body = b'{"error": "Invalid CSV: header EmailAddress missing"}'
    reply = Answer(status, body, {"Content-Type": "application/json"})
    with Hostile(token_then(reply)) as server, pytest.raises(ConnectorError) as failed:
        client_for(server.url, server.url).upload(CHUNK, filename="a.csv")

    assert "Invalid CSV" in str(failed.value)
    assert blame(failed.value) is Blame.FILE


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_refused_connection_is_an_outage() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"

    with pytest.raises(ConnectorError) as failed:
        client_for(url, url, budget=0.3).upload(CHUNK, filename="a.csv")

    assert "failed before any answer" in str(failed.value)
    assert blame(failed.value) is Blame.OUTAGE


@pytest.fixture
def untrusted_tls() -> ssl.SSLContext:
    """A server certificate from a throw-away CA nobody trusts (as a TLS-inspecting proxy
    presents its own)."""
    import trustme

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    trustme.CA().issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.mark.parametrize("endpoint", ["token", "ingestion"])
def test_an_untrusted_certificate_fails_at_once_as_an_outage(
    untrusted_tls: ssl.SSLContext, endpoint: str
) -> None:
    with Hostile(token_then(Answer(200, b"OK")), tls=untrusted_tls) as server:
        plain = Hostile(token_then(Answer(200, b"OK")))
        with plain:
            login, ingestion = (
                (server.url, plain.url) if endpoint == "token" else (plain.url, server.url)
            )
            with pytest.raises(ConnectorError) as failed:
                client_for(login, ingestion, budget=30.0).upload(CHUNK, filename="a.csv")

    message = str(failed.value)
    assert "certificate" in message and "REQUESTS_CA_BUNDLE" in message
    assert not failed.value.transient  # not retried for the 30 s budget
    assert blame(failed.value) is Blame.OUTAGE
    assert server.seen == []  # the handshake failed: nothing was sent, the secret included


# -- 10. echoed secrets are masked -------------------------------------------------------------


def test_an_ingestion_refusal_quoting_the_token_and_a_row_masks_both() -> None:
    def echo(seen: Seen) -> Answer:
        if "/oauth2/token" in seen.path:
            return Answer(200, TOKEN_JSON, {"Content-Type": "application/json"})
        quoted = f"bad request from {seen.headers['Authorization']} for ana@contoso.com"
        return Answer(400, quoted.encode())

    with Hostile(echo) as server, pytest.raises(ConnectorError) as failed:
        client_for(server.url, server.url).upload(CHUNK, filename="a.csv")

    message = str(failed.value)
    assert "tok-Abc123xyz" not in message
    assert "ana@contoso.com" not in message
    assert "Bearer <secret>" in message and "<email address>" in message


def test_a_token_refusal_echoing_the_form_masks_the_secret() -> None:
    def echo(seen: Seen) -> Answer:
        doc = {"error": "invalid_request", "error_description": f"bad form: {seen.body.decode()}"}
        return Answer(400, json.dumps(doc).encode(), {"Content-Type": "application/json"})

    with Hostile(echo) as server, pytest.raises(ConnectorError) as failed:
        client_for(server.url, server.url).token()

    message = str(failed.value)
    assert TEST_APP_SECRET not in message
    from urllib.parse import quote_plus

    assert quote_plus(TEST_APP_SECRET) not in message
    assert "client_secret=<secret>" in message


def test_a_refusal_quoting_the_token_via_the_reason_phrase_is_masked() -> None:
    def echo(seen: Seen) -> Answer:
        if "/oauth2/token" in seen.path:
            return Answer(200, TOKEN_JSON, {"Content-Type": "application/json"})
        return Answer(409, b"", reason=f"Conflict for {seen.headers['Authorization']}")

    with Hostile(echo) as server, pytest.raises(ConnectorError) as failed:
        client_for(server.url, server.url).upload(CHUNK, filename="a.csv")

    assert "tok-Abc123xyz" not in str(failed.value)


@pytest.mark.parametrize(
    ("text", "gone", "kept"),
    [
        (
            "echo: eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJlLXZhbHVl rest",
            "eyJhbGciOiJSUzI1NiJ9",
            "rest",
        ),
        ("Authorization: Bearer abc.DEF-123_xyz~", "abc.DEF-123_xyz~", "Authorization"),
        ('{"client_assertion": "aaaa.bbbb.cccc"}', "aaaa.bbbb", "client_assertion"),
        ("key Xy9kL2mNq8RtZ3vBw7YpA1sD4fG6hJ0kLzXcVbNm end", "Xy9kL2mNq8RtZ3vB", "end"),
        ("row ana.lopez+hr@contoso.co.uk failed", "ana.lopez", "row"),
    ],
    ids=["jwt", "bearer", "assertion-field", "opaque-key", "email"],
)
def test_redact_masks_credential_shapes(text: str, gone: str, kept: str) -> None:
    masked = redact(text)
    assert gone not in masked
    assert kept in masked


@pytest.mark.parametrize(
    "text",
    [
        "HR_Export_2024-05-01_Resignations_Final.csv has 3 rows",
        "job 7e57aaaa-0000-4000-8000-000000000001 in tenant",
        "sha256 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "ingestion answered 404 Not Found: check --ingestion-url / HRUPLOAD_INGESTION_URL",
    ],
)
def test_redact_keeps_what_a_person_needs_to_read(text: str) -> None:
    assert redact(text) == text


def test_redact_masks_exact_secrets_even_in_unusual_shapes() -> None:
    secret = "short~pw"  # no credential shape at all
    assert redact(f"echo {secret} and {secret}", secrets=[secret]) == "echo <secret> and <secret>"
    assert redact("tiny", secrets=["tiny"]) == "tiny"  # too short to mask words safely


# -- 11. proxies ------------------------------------------------------------------------------


@pytest.fixture
def recording_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hostile]:
    """A 'corporate proxy' on loopback that records what it is asked and refuses it all;
    every proxy variable points at it."""
    with Hostile(always(Answer(502, b"proxy says no"))) as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.setenv(name, proxy.url)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        yield proxy


def test_the_loopback_stand_in_is_reached_directly_despite_a_proxy(
    recording_proxy: Hostile, connector_standin: ConnectorStandIn
) -> None:
    # Check first that this environment would send a plain session through the proxy.
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(connector_standin.url + "/", timeout=2).raise_for_status()
    assert recording_proxy.seen
    recording_proxy.seen.clear()
    client = ConnectorClient(
        SecretCredential(connector_standin.tenant_id, connector_standin.app_id, TEST_APP_SECRET),
        job_id=connector_standin.job_id or "",
        endpoints=endpoints(login_url=connector_standin.url, ingestion_url=connector_standin.url),
        retry_budget=1.0,
    )

    client.upload(CHUNK, filename="a.csv")

    assert recording_proxy.seen == []
    assert len(connector_standin.uploads) == 1


def test_a_real_endpoint_goes_through_https_proxy(recording_proxy: Hostile) -> None:
    client = client_for("https://login.example.test", "https://webhook.example.test", budget=0.3)

    with pytest.raises(ConnectorError) as failed:
        client.upload(CHUNK, filename="a.csv")

    tunnels = [(s.method, s.path) for s in recording_proxy.seen]
    assert ("CONNECT", "login.example.test:443") in tunnels
    assert "HTTPS_PROXY" in str(failed.value)
    assert blame(failed.value) is Blame.OUTAGE
    # The tunnel request carries no secret: it is sent only inside the TLS tunnel.
    assert all(TEST_APP_SECRET.encode() not in s.body for s in recording_proxy.seen)


def test_the_loopback_key_vault_is_reached_directly_despite_a_proxy(
    recording_proxy: Hostile, keyvault_standin
) -> None:
    from hrupload.adapters.keyvault import KeyVaultSecret

    provider = KeyVaultSecret(
        keyvault_standin.url,
        "hr-connector-app-secret",
        credential=keyvault_standin.credential,
        client_options={
            "verify_challenge_resource": False,
            "connection_verify": keyvault_standin.ca_cert_pem_path,
            "retry_total": 0,
        },
    )

    assert provider() == TEST_APP_SECRET
    assert recording_proxy.seen == []


def test_the_doctors_probe_goes_through_the_proxy_with_no_credentials(
    recording_proxy: Hostile,
) -> None:
    from hrupload.adapters.connector import probe

    with pytest.raises(ConnectorError) as failed:
        probe("https://webhook.example.test/", timeout=2)

    assert [(s.method, s.path) for s in recording_proxy.seen] == [
        ("CONNECT", "webhook.example.test:443")
    ]
    assert not any("authorization" in (k.lower() for k in s.headers) for s in recording_proxy.seen)
    assert "HTTPS_PROXY" in str(failed.value)


def test_the_doctors_probe_takes_any_answer_as_reachable(
    connector_standin: ConnectorStandIn,
) -> None:
    from hrupload.adapters.connector import probe

    assert probe(connector_standin.url + "/") == 404
    assert connector_standin.uploads == [] and connector_standin.token_requests == []


def test_the_proxy_a_url_goes_through_is_named_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hrupload.adapters.net import proxy_of

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    assert proxy_of("https://webhook.ingestion.office.com") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://alice:s3cret@proxy.corp.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")

    assert proxy_of("https://webhook.ingestion.office.com") == "proxy.corp.example:3128"
    assert proxy_of("https://api.internal.example") is None
    assert proxy_of("http://127.0.0.1:8080") is None


def test_the_aadsts_hint_comes_from_the_one_table() -> None:
    from hrupload.adapters.connector import _AADSTS_HINTS, aadsts_hint

    message = "token request refused (401 invalid_client): whatever [AADSTS7000215]"
    assert aadsts_hint(message) == ("AADSTS7000215", _AADSTS_HINTS["AADSTS7000215"])
    assert aadsts_hint("token request refused (400 ): AADSTS90100: unparsable") is None


# -- 15. the read timeout ---------------------------------------------------------------------


def test_the_read_timeout_defaults_to_400_seconds(tmp_path: Path) -> None:
    from hrupload import compose, settings

    client = ConnectorClient(
        SecretCredential("t", "a", "s"), job_id="j", endpoints=endpoints(), retry_budget=1
    )
    assert client.timeout == (CONNECT_TIMEOUT, 400.0) == (CONNECT_TIMEOUT, READ_TIMEOUT)
    env = {
        "HRUPLOAD_TENANT_ID": "t",
        "HRUPLOAD_APP_ID": "a",
        "HRUPLOAD_JOB_ID": "j",
        "HRUPLOAD_APP_SECRET": "s",
    }
    assert compose.make_client(settings.load(env)).timeout == (CONNECT_TIMEOUT, 400.0)
    env["HRUPLOAD_READ_TIMEOUT"] = "45"
    assert compose.make_client(settings.load(env)).timeout == (CONNECT_TIMEOUT, 45.0)


@pytest.mark.parametrize("value", ["0", "soon", "-5"])
def test_a_malformed_read_timeout_fails_naming_itself(value: str) -> None:
    from hrupload import settings
    from hrupload.core.errors import ConfigError

    with pytest.raises(ConfigError, match="HRUPLOAD_READ_TIMEOUT"):
        settings.load({"HRUPLOAD_READ_TIMEOUT": value})


def test_the_read_timeout_option_reaches_the_client(
    connector_standin: ConnectorStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from hrupload.cli.main import main
    from hrupload_dev.connector import Fault

    for name in ("HRUPLOAD_READ_TIMEOUT", "HRUPLOAD_RETRY_BUDGET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HRUPLOAD_STATE_DIR", str(tmp_path / "state"))
    csv = tmp_path / "resignations.csv"
    csv.write_bytes(CHUNK)
    connector_standin.add_faults(*[Fault.delay(2.0)] * 6)
    env = {**connector_standin.env(), "HRUPLOAD_APP_SECRET": TEST_APP_SECRET}

    result = CliRunner().invoke(
        main, ["upload", str(csv), "--read-timeout", "1", "--retry-budget", "1"], env=env
    )

    assert result.exit_code == 1
    assert "within 1s" in result.output


# -- the firewall list ------------------------------------------------------------------------


def test_the_readme_lists_every_clouds_hosts_for_the_firewall() -> None:
    from urllib.parse import urlsplit

    from hrupload.adapters.connector import CLOUDS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    network = readme.split("### Network", 1)[1].split("\n## ", 1)[0]
    for cloud, urls in CLOUDS.items():
        row = next(line for line in network.splitlines() if line.startswith(f"| `{cloud}` |"))
        for url in urls:
            assert f"`{urlsplit(url).hostname}`" in row, (cloud, url)
