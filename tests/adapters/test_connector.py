"""The connector client against the connector stand-in, over real loopback HTTP.

Nothing is patched: the client gets a real ``requests`` session that only remembers when
each request went out and how it ended, so retries, pauses and backoff are measured on
the wire. Budgets and backoff caps are small so the whole file runs in seconds.
"""

from __future__ import annotations

import email.utils
import threading
import time
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from tenacity import Future, RetryCallState, Retrying

from hrupload.adapters.connector import (
    RESOURCE,
    TOKEN_MARGIN,
    CertificateCredential,
    ConnectorClient,
    SecretCredential,
    endpoints,
)
from hrupload.app.limiter import ConcurrencyGate
from hrupload.core.errors import AuthenticationError, ConfigError, ConnectorError
from hrupload_dev.connector import ConnectorStandIn, Fault
from tests.plugins.standins import TEST_APP_SECRET, StandInCertificate

CHUNK = (
    b"EmailAddress,ResignationDate,LastWorkingDate\r\n"
    b'ana@contoso.com,2024-05-01T00:00:00Z,"2024-05-31T00:00:00Z"\r\n'
)


# -- a session that remembers the wire ----------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    method: str
    path: str
    started: float  # time.monotonic() when the request went out
    ended: float  # ... when the answer (or the failure) came back
    status: int | None  # None: no answer at all (dropped, timed out)

    @property
    def endpoint(self) -> str:
        return "ingestion" if self.path.endswith("/api/signals") else "token"


class RecordingSession(requests.Session):
    """A real session that records every request's timing and outcome, for assertions."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Sent] = []
        self._lock = threading.Lock()
        self._answered: dict[int, threading.Event] = {}

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        started = time.monotonic()
        status = None
        try:
            response = super().request(method, url, *args, **kwargs)
            status = response.status_code
            return response
        finally:
            with self._lock:
                self.sent.append(
                    Sent(method, urlsplit(url).path, started, time.monotonic(), status)
                )
                event = self._answered.get(status) if status else None
            if event is not None:
                event.set()

    def answered(self, status: int) -> threading.Event:
        """An event set once a response with ``status`` has come back."""
        with self._lock:
            return self._answered.setdefault(status, threading.Event())

    def to(self, endpoint: str) -> list[Sent]:
        with self._lock:
            return [s for s in self.sent if s.endpoint == endpoint]


def make_client(
    standin: ConnectorStandIn,
    *,
    credential=None,
    job_id: str | None = None,
    budget: float = 3.0,
    max_backoff: float = 0.05,
    timeout: tuple[float, float] = (2.0, 2.0),
    session: RecordingSession | None = None,
    gate: ConcurrencyGate | None = None,
) -> ConnectorClient:
    return ConnectorClient(
        credential
        or SecretCredential(standin.tenant_id, standin.app_id or "", standin.app_secret or ""),
        job_id=job_id or standin.job_id or "",
        endpoints=endpoints(login_url=standin.url, ingestion_url=standin.url),
        retry_budget=budget,
        timeout=timeout,
        session=session or RecordingSession(),
        max_backoff=max_backoff,
        gate=gate,
    )


def wire(client: ConnectorClient) -> RecordingSession:
    return client.session  # type: ignore[return-value]  # the session the test handed in


def statuses(client: ConnectorClient, endpoint: str) -> list[int | None]:
    return [s.status for s in wire(client).to(endpoint)]


# -- endpoints ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cloud", "login", "ingestion"),
    [
        ("commercial", "https://login.windows.net", "https://webhook.ingestion.office.com"),
        ("gcc", "https://login.microsoftonline.com", "https://webhook-gcc.ingestion.office365.us"),
        (
            "gcc-high",
            "https://login.microsoftonline.us",
            "https://webhook-itarl4.ingestion.office365.us",
        ),
        ("dod", "https://login.microsoftonline.us", "https://webhook-itarl5.ingestion.apps.mil"),
    ],
)
def test_each_cloud_has_its_documented_hosts(cloud: str, login: str, ingestion: str) -> None:
    ends = endpoints(cloud)

    assert (ends.login, ends.ingestion) == (login, ingestion)
    assert ends.token_url("t-1") == f"{login}/t-1/oauth2/token?api-version=1.0"
    assert ends.upload_url("j-1") == f"{ingestion}/api/signals?jobid=j-1"


def test_commercial_is_the_default_cloud() -> None:
    assert endpoints() == endpoints("commercial")


def test_overrides_replace_the_cloud_hosts() -> None:
    ends = endpoints(
        "dod", login_url="https://login.example.test/", ingestion_url="https://ingest.example.test"
    )

    assert ends.login == "https://login.example.test"
    assert ends.ingestion == "https://ingest.example.test"
    only_login = endpoints("gcc", login_url="https://login.example.test")
    assert only_login.ingestion == "https://webhook-gcc.ingestion.office365.us"


def test_an_unknown_cloud_is_refused_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"--cloud must be one of commercial, gcc, gcc-high, dod"):
        endpoints("gcc-moderate")


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "http://10.0.0.5:8400",
        "http://0.0.0.0:8400",
        "http://localhost.example.com",
        "http://127.0.0.1.nip.io",
    ],
)
def test_plain_http_is_refused_off_loopback(url: str) -> None:
    host = urlsplit(url).hostname

    with pytest.raises(ConfigError) as refused:
        endpoints(login_url=url)
    message = str(refused.value)
    assert f"plain http is refused for {host}" in message
    assert "Use https" in message
    assert "--login-url" in message
    with pytest.raises(ConfigError, match="--ingestion-url"):
        endpoints(ingestion_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8400",
        "http://localhost:8400",
        "http://[::1]:8400",
        "http://127.0.0.2",
        "https://example.com",
        "https://10.0.0.5:8443",
    ],
)
def test_loopback_http_and_any_https_are_allowed(url: str) -> None:
    ends = endpoints(login_url=url, ingestion_url=url)

    assert ends.login == ends.ingestion == url


@pytest.mark.parametrize("url", ["ftp://example.com", "login.windows.net", "https://"])
def test_a_url_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="not an http"):
        endpoints(login_url=url)


# -- upload and token basics --------------------------------------------------------------------


def test_upload_sends_the_chunk_byte_for_byte(connector_standin: ConnectorStandIn) -> None:
    client = make_client(connector_standin)

    response = client.upload(CHUNK, filename="resignation.csv.part00001.csv")

    assert response.status_code == 200
    [stored] = connector_standin.uploads
    assert stored.content == CHUNK
    assert stored.filename == "resignation.csv.part00001.csv"
    assert stored.job_id == connector_standin.job_id
    assert stored.records == 1
    [token_request] = connector_standin.token_requests
    assert token_request.outcome == "issued"
    assert token_request.api_version == "1.0"
    assert token_request.fields["resource"] == RESOURCE
    assert token_request.fields["grant_type"] == "client_credentials"
    assert token_request.fields["client_id"] == connector_standin.app_id


def test_the_token_is_fetched_once_for_many_chunks(connector_standin: ConnectorStandIn) -> None:
    client = make_client(connector_standin)

    for n in range(5):
        client.upload(CHUNK, filename=f"part{n}.csv")

    assert len(connector_standin.uploads) == 5
    assert len(connector_standin.token_requests) == 1
    assert client.token() == client.token()
    assert len(connector_standin.token_requests) == 1


def test_force_renews_the_token(connector_standin: ConnectorStandIn) -> None:
    client = make_client(connector_standin)

    first = client.token()
    second = client.token(force=True)

    assert first != second
    assert len(connector_standin.token_requests) == 2


def test_the_token_is_renewed_shortly_before_it_expires(
    test_certificate: StandInCertificate,
) -> None:
    # Tokens live TOKEN_MARGIN + 2 s here, so the client may use one for about a second.
    with ConnectorStandIn(
        tenant_id="t-short",
        apps={"app-short": "s3cret"},
        jobs={"job-short": "app-short"},
        token_lifetime=int(TOKEN_MARGIN) + 2,
    ) as standin:
        client = make_client(standin)
        client.upload(CHUNK, filename="a.csv")
        client.upload(CHUNK, filename="b.csv")
        assert len(standin.token_requests) == 1

        time.sleep(1.2)
        client.upload(CHUNK, filename="c.csv")

        assert len(standin.token_requests) == 2
        # Renewed before the old token ran out: the service never refused one.
        assert statuses(client, "ingestion") == [200, 200, 200]


def test_an_ingestion_401_renews_the_token_once(connector_standin: ConnectorStandIn) -> None:
    client = make_client(connector_standin)
    client.upload(CHUNK, filename="a.csv")
    connector_standin.expire_tokens()

    client.upload(CHUNK, filename="b.csv")

    assert statuses(client, "ingestion") == [200, 401, 200]
    assert len(connector_standin.token_requests) == 2
    assert len(connector_standin.uploads) == 2


def test_a_401_that_persists_fails_after_one_renewal(connector_standin: ConnectorStandIn) -> None:
    client = make_client(connector_standin)
    connector_standin.add_faults(Fault.http(401), Fault.http(401), Fault.http(401))

    with pytest.raises(ConnectorError) as failed:
        client.upload(CHUNK, filename="a.csv")

    assert failed.value.status == 401
    assert not failed.value.transient
    assert "401" in str(failed.value)
    assert statuses(client, "ingestion") == [401, 401]
    assert len(connector_standin.token_requests) == 2
    assert connector_standin.uploads == []


def test_chunks_in_flight_that_all_get_401_share_one_renewal(
    connector_standin: ConnectorStandIn,
) -> None:
    client = make_client(connector_standin)
    client.token()
    connector_standin.expire_tokens()
    # One request is answered late: its 401 comes back after the others renewed the token.
    connector_standin.add_faults(Fault.delay(0.3))
    start = threading.Barrier(6)

    def send(n: int) -> None:
        start.wait()
        client.upload(CHUNK, filename=f"part{n}.csv")

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(connector_standin.uploads) == 6
    assert len(connector_standin.token_requests) == 2


# -- transient failures ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(connector_standin: ConnectorStandIn, status: int) -> None:
    client = make_client(connector_standin)
    connector_standin.add_faults(Fault.http(status))

    client.upload(CHUNK, filename="a.csv")

    assert statuses(client, "ingestion") == [status, 200]
    assert [u.content for u in connector_standin.uploads] == [CHUNK]


def test_a_dropped_connection_is_retried(connector_standin: ConnectorStandIn) -> None:
    client = make_client(connector_standin)
    connector_standin.add_faults(Fault.drop())

    client.upload(CHUNK, filename="a.csv")

    assert statuses(client, "ingestion") == [None, 200]
    assert len(connector_standin.uploads) == 1


def test_a_timeout_is_retried_and_the_late_copy_is_the_at_least_once_window(
    connector_standin: ConnectorStandIn,
) -> None:
    client = make_client(connector_standin, timeout=(1.0, 0.3))
    connector_standin.add_faults(Fault.delay(1.0))

    client.upload(CHUNK, filename="a.csv")

    [timed_out, answered] = wire(client).to("ingestion")
    assert timed_out.status is None
    assert 0.25 <= timed_out.ended - timed_out.started < 0.9
    assert answered.status == 200
    # The slow service still stores the request the client gave up on: a second copy.
    assert [u.content for u in connector_standin.wait_for_uploads(2)] == [CHUNK, CHUNK]


def test_an_answer_lost_after_the_service_stored_the_chunk_means_sending_again(
    connector_standin: ConnectorStandIn,
) -> None:
    client = make_client(connector_standin)
    connector_standin.add_faults(Fault.accept_then_drop())

    client.upload(CHUNK, filename="a.csv")

    assert statuses(client, "ingestion") == [None, 200]
    first, second = connector_standin.uploads
    assert first.answer_dropped and not second.answer_dropped
    assert first.sha256 == second.sha256


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_is_honoured_even_beyond_the_backoff_cap(
    connector_standin: ConnectorStandIn, form: str
) -> None:
    client = make_client(connector_standin, max_backoff=0.05)
    if form == "seconds":
        retry_after: str = "1"
        least = 1.0
    else:  # whole seconds: the wait is somewhere in (1, 2] s
        retry_after = email.utils.formatdate(time.time() + 2, usegmt=True)
        least = 0.9
    connector_standin.add_faults(Fault.http(503, retry_after=retry_after))

    client.upload(CHUNK, filename="a.csv")

    refused, accepted = wire(client).to("ingestion")
    assert refused.status == 503 and accepted.status == 200
    assert accepted.started - refused.ended >= least


def test_a_429_pauses_every_request_to_the_endpoint(connector_standin: ConnectorStandIn) -> None:
    client = make_client(connector_standin)
    client.token()
    throttled = wire(client).answered(429)
    connector_standin.add_faults(Fault.http(429, retry_after=1))

    first = threading.Thread(target=client.upload, args=(CHUNK,), kwargs={"filename": "a.csv"})
    first.start()
    assert throttled.wait(5)
    answered_at = time.monotonic()
    client.upload(CHUNK, filename="b.csv")  # another chunk, not the one that got the 429
    first.join()

    later = [s for s in wire(client).to("ingestion") if s.started > answered_at]
    assert len(later) == 2  # the retry and the other chunk
    assert all(s.started >= answered_at + 0.95 for s in later)
    assert len(connector_standin.uploads) == 2


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    client = ConnectorClient(
        SecretCredential("t", "a", "s"),
        job_id="j",
        endpoints=endpoints(),
        max_backoff=4.0,
    )

    def waits(attempt: int, exc: BaseException | None = None, n: int = 300) -> list[float]:
        state = RetryCallState(Retrying(), None, (), {})
        state.attempt_number = attempt
        state.outcome = Future.construct(attempt, exc or ConnectorError("503"), True)
        return [client._wait(state) for _ in range(n)]

    windows = {attempt: waits(attempt) for attempt in range(1, 7)}
    for attempt, sample in windows.items():
        assert all(0 <= w <= min(4.0, 0.5 * 2 ** (attempt - 1)) for w in sample)
        assert len(set(sample)) > 250  # jitter: no two clients retry in step
    means = [sum(s) / len(s) for s in windows.values()]
    assert means[0] < means[1] < means[2] < means[3]  # the window doubles...
    assert max(windows[6]) > 3.0  # ...up to the cap

    class Throttled(ConnectorError):
        retry_after = 3.0

    assert min(waits(1, Throttled("429"))) >= 3.0


def test_retrying_stops_when_the_budget_is_spent(connector_standin: ConnectorStandIn) -> None:
    client = make_client(connector_standin, budget=1.0, max_backoff=0.1)
    connector_standin.add_faults(*[Fault.http(503)] * 200)

    began = time.monotonic()
    with pytest.raises(ConnectorError) as spent:
        client.upload(CHUNK, filename="a.csv")
    took = time.monotonic() - began

    assert 0.7 <= took < 1.6
    assert spent.value.transient
    assert spent.value.status == 503
    assert "retry budget" in str(spent.value)
    assert "503 Service Unavailable" in str(spent.value)
    assert len(wire(client).to("ingestion")) >= 5
    assert connector_standin.uploads == []


def test_a_retry_after_longer_than_the_budget_stops_at_once(
    connector_standin: ConnectorStandIn,
) -> None:
    client = make_client(connector_standin, budget=2.0)
    connector_standin.add_faults(Fault.http(503, retry_after=30))

    began = time.monotonic()
    with pytest.raises(ConnectorError, match="retry budget"):
        client.upload(CHUNK, filename="a.csv")

    assert time.monotonic() - began < 1.0
    assert statuses(client, "ingestion") == [503]


def test_a_pause_longer_than_the_budget_does_not_hold_other_chunks(
    connector_standin: ConnectorStandIn,
) -> None:
    client = make_client(connector_standin, budget=1.5)
    client.token()
    connector_standin.add_faults(Fault.http(429, retry_after=30))
    with pytest.raises(ConnectorError):
        client.upload(CHUNK, filename="a.csv")

    began = time.monotonic()
    with pytest.raises(ConnectorError) as spent:
        client.upload(CHUNK, filename="b.csv")

    assert time.monotonic() - began < 2.0
    assert spent.value.transient
    assert "retry budget" in str(spent.value)
    assert statuses(client, "ingestion") == [429]  # the second chunk was never sent


# -- errors that trying again cannot fix --------------------------------------------------------


@pytest.mark.parametrize("status", [400, 404, 409, 413, 415, 422, 501])
def test_other_errors_fail_at_once_with_the_services_words(
    connector_standin: ConnectorStandIn, status: int
) -> None:
    client = make_client(connector_standin)
    body = f"The service explains status {status} here."
    connector_standin.add_faults(Fault.http(status, body=body))

    with pytest.raises(ConnectorError) as refused:
        client.upload(CHUNK, filename="a.csv")

    message = str(refused.value)
    assert str(status) in message
    assert HTTPStatus(status).phrase in message
    assert body in message
    assert refused.value.status == status
    assert not refused.value.transient
    assert statuses(client, "ingestion") == [status]


def test_a_job_of_another_app_says_to_check_app_id_and_job_id(
    connector_standin: ConnectorStandIn, test_certificate: StandInCertificate
) -> None:
    client = make_client(connector_standin, job_id=test_certificate.job_id)

    with pytest.raises(ConnectorError) as refused:
        client.upload(CHUNK, filename="a.csv")

    assert refused.value.status == 403
    assert "check --app-id and --job-id" in str(refused.value)
    assert not refused.value.transient
    assert statuses(client, "ingestion") == [403]


# -- the token endpoint ---------------------------------------------------------------------------


def test_transient_token_failures_are_retried(connector_standin: ConnectorStandIn) -> None:
    client = make_client(connector_standin)
    connector_standin.add_faults(
        Fault.http(503), Fault.drop(), Fault.http(429, retry_after=0), endpoint="token"
    )

    client.upload(CHUNK, filename="a.csv")

    assert statuses(client, "token") == [503, None, 429, 200]
    assert len(connector_standin.uploads) == 1


def test_token_endpoint_down_for_the_whole_budget_fails_once_for_all_chunks(
    connector_standin: ConnectorStandIn,
) -> None:
    client = make_client(connector_standin, budget=1.0, max_backoff=0.1)
    connector_standin.add_faults(*[Fault.http(503)] * 400, endpoint="token")
    errors: list[BaseException] = []

    def send(n: int) -> None:
        try:
            client.upload(CHUNK, filename=f"part{n}.csv")
        except ConnectorError as exc:
            errors.append(exc)

    began = time.monotonic()
    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Each waiting chunk does not spend a budget of its own, one after the other.
    assert time.monotonic() - began < 2.0
    assert len(errors) == 4
    assert all(e.transient and "token" in str(e) for e in errors)


@pytest.mark.parametrize(
    ("case", "code", "advice"),
    [
        ("wrong-secret", "AADSTS7000215", "create a new client secret"),
        ("unknown-app", "AADSTS700016", "check --app-id"),
        ("unknown-tenant", "AADSTS90002", "check --tenant-id"),
    ],
)
def test_token_refusals_say_what_to_fix(
    connector_standin: ConnectorStandIn, case: str, code: str, advice: str
) -> None:
    tenant, app, secret = (
        connector_standin.tenant_id,
        connector_standin.app_id or "",
        "not-the-secret-Xy9",
    )
    if case != "wrong-secret":
        secret = TEST_APP_SECRET
    if case == "unknown-app":
        app = str(uuid.uuid4())
    if case == "unknown-tenant":
        tenant = str(uuid.uuid4())
    client = make_client(connector_standin, credential=SecretCredential(tenant, app, secret))

    with pytest.raises(AuthenticationError) as refused:
        client.upload(CHUNK, filename="a.csv")

    message = str(refused.value)
    assert code in message
    assert advice in message
    assert secret not in message
    assert not refused.value.transient
    assert len(wire(client).to("token")) == 1  # a refusal is not retried blindly
    assert wire(client).to("ingestion") == []


def test_a_rotated_secret_is_read_again_once_and_used(connector_standin: ConnectorStandIn) -> None:
    store = {"secret": TEST_APP_SECRET}
    reads: list[bool] = []

    def provider(force: bool) -> str:
        reads.append(force)
        return store["secret"]

    credential = SecretCredential(connector_standin.tenant_id, connector_standin.app_id, provider)
    client = make_client(connector_standin, credential=credential)
    client.upload(CHUNK, filename="a.csv")
    # The secret is rotated (old one dead at once) and the old token runs out.
    store["secret"] = "rotated~Secret_5+6/7=8"
    connector_standin.set_app_secret(connector_standin.app_id, store["secret"])
    connector_standin.expire_tokens()

    client.upload(CHUNK, filename="b.csv")

    assert reads == [False, True]
    assert [r.outcome for r in connector_standin.token_requests] == [
        "issued",
        "AADSTS7000215",
        "issued",
    ]
    assert len(connector_standin.uploads) == 2


def test_a_secret_still_wrong_after_reading_again_fails(
    connector_standin: ConnectorStandIn,
) -> None:
    given = iter(["wrong-one", "wrong-two"])
    reads: list[bool] = []

    def provider(force: bool) -> str:
        reads.append(force)
        return next(given)

    credential = SecretCredential(connector_standin.tenant_id, connector_standin.app_id, provider)
    client = make_client(connector_standin, credential=credential)

    with pytest.raises(AuthenticationError, match="AADSTS7000215"):
        client.upload(CHUNK, filename="a.csv")

    assert reads == [False, True]
    assert len(connector_standin.token_requests) == 2


# -- certificates -------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["pem", "pfx"])
def test_the_certificate_assertion_has_the_documented_shape(
    connector_standin: ConnectorStandIn, test_certificate: StandInCertificate, form: str
) -> None:
    tenant = connector_standin.tenant_id
    if form == "pem":
        credential = CertificateCredential.from_file(
            tenant, test_certificate.app_id, test_certificate.pem_path
        )
    else:
        credential = CertificateCredential.from_file(
            tenant,
            test_certificate.app_id,
            test_certificate.pfx_path,
            test_certificate.pfx_password,
        )
    client = make_client(connector_standin, credential=credential, job_id=test_certificate.job_id)

    client.upload(CHUNK, filename="a.csv")
    now = time.time()

    assert credential.x5t == test_certificate.x5t
    assertion = connector_standin.last_assertion
    assert assertion is not None
    assert assertion["header"]["x5t"] == test_certificate.x5t
    assert assertion["header"]["alg"] == "RS256"
    claims = assertion["claims"]
    assert claims["aud"] == f"{connector_standin.url}/{tenant}/oauth2/token"
    assert claims["iss"] == claims["sub"] == test_certificate.app_id
    assert uuid.UUID(claims["jti"])
    assert claims["nbf"] - 5 <= now <= claims["exp"]
    assert claims["exp"] - claims["nbf"] <= 3600
    [request] = connector_standin.token_requests
    assert request.outcome == "issued"
    assert request.fields["client_assertion_type"] == (
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )
    assert "client_secret" not in request.fields
    assert len(connector_standin.uploads) == 1

    client.token(force=True)
    assert connector_standin.last_assertion["claims"]["jti"] != claims["jti"]  # type: ignore[index]


def test_the_assertion_is_signed_by_the_certificates_key(
    connector_standin: ConnectorStandIn, test_certificate: StandInCertificate
) -> None:
    credential = CertificateCredential.from_file(
        "t-1", test_certificate.app_id, test_certificate.pem_path
    )

    form = credential.form("https://login.example.test/t-1/oauth2/token")

    from cryptography import x509

    public_key = x509.load_pem_x509_certificate(test_certificate.cert_pem).public_key()
    claims = jwt.decode(
        form["client_assertion"],
        public_key,  # type: ignore[arg-type]
        algorithms=["RS256"],
        audience="https://login.example.test/t-1/oauth2/token",
    )
    assert claims["iss"] == test_certificate.app_id


@pytest.mark.parametrize(
    ("which", "password", "match"),
    [
        ("pfx", "wrong-password", "cannot load certificate"),
        ("pfx", None, "cannot load certificate"),
        ("cert-only", None, "cannot load certificate"),
    ],
)
def test_an_unusable_certificate_is_a_configuration_error(
    test_certificate: StandInCertificate, which: str, password: str | None, match: str
) -> None:
    path = test_certificate.pfx_path if which == "pfx" else test_certificate.cert_path

    with pytest.raises(ConfigError, match=match) as refused:
        CertificateCredential.from_file("t", "a", path, password)

    assert "wrong-password" not in str(refused.value)


# -- secrets stay secret ----------------------------------------------------------------------


def test_reprs_never_show_the_secret_or_the_token(connector_standin: ConnectorStandIn) -> None:
    credential = SecretCredential(
        connector_standin.tenant_id, connector_standin.app_id, TEST_APP_SECRET
    )
    client = make_client(connector_standin, credential=credential)
    token = client.token()

    for shown in (repr(credential), repr(client), str(credential), str(client)):
        assert TEST_APP_SECRET not in shown
        assert token not in shown


def test_a_timeout_can_be_one_number(connector_standin: ConnectorStandIn) -> None:
    client = ConnectorClient(
        SecretCredential(connector_standin.tenant_id, connector_standin.app_id, TEST_APP_SECRET),
        job_id=connector_standin.job_id or "",
        endpoints=endpoints(login_url=connector_standin.url, ingestion_url=connector_standin.url),
        timeout=0.3,  # type: ignore[arg-type]
        retry_budget=0.5,
        max_backoff=0.05,
    )
    connector_standin.add_faults(*[Fault.delay(1.0)] * 5)

    with pytest.raises(ConnectorError, match=r"within 0\.3s"):
        client.upload(CHUNK, filename="a.csv")
