"""Client for the Purview HR connector: the token endpoint and the ingestion endpoint.

Where Microsoft's sample script retries everything blindly and reports success for
requests that never went out, this client retries only what can succeed later,
honours Retry-After for every request in flight, refreshes its token on a 401,
and turns the service's known failures into messages that say what to fix.
"""

from __future__ import annotations

import base64
import collections
import copy
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_before_delay,
    wait_random_exponential,
)

from hrupload.adapters.net import is_loopback, proxies_for
from hrupload.app.limiter import ConcurrencyGate, Signal
from hrupload.core.errors import AuthenticationError, ConfigError, ConnectorError, HrUploadError
from hrupload.core.redact import redact
from hrupload.core.termsafe import logger
from hrupload.settings import CLOUDS, default

log = logger(__name__)  # file-derived text in messages and fields is escaped

RESOURCE = "https://microsoft.onmicrosoft.com/86dfdabb-5089-4a0c-880a-cfa5a790c5b1"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
#: Ingestion refusals that can be about the content sent (a malformed CSV, a chunk too
#: large, a wrong media type): only these may put the file in failed. Every other refusal
#: (a wrong path, a proxy's block page, a job of another app) would hit every file alike.
CONTENT_STATUS = frozenset({400, 413, 415, 422})
#: Answers that say the service has more than it can take: the concurrency gate halves.
OVERLOAD_STATUS = frozenset({429, 503})
CONNECT_TIMEOUT = 10.0
#: Microsoft's own script waits 400 s (raised from 150 s after failures in the field): the
#: service may take minutes to answer a large chunk. HRUPLOAD_READ_TIMEOUT / --read-timeout.
READ_TIMEOUT = float(default("HRUPLOAD_READ_TIMEOUT"))
RETRY_BUDGET = float(default("HRUPLOAD_RETRY_BUDGET"))
#: Tokens are renewed this long before they expire, so none expires mid-upload.
TOKEN_MARGIN = 300.0
_AADSTS_HINTS = {
    "AADSTS7000215": "the app secret is wrong or expired: create a new client secret for the "
    "app registration and update it (Key Vault, or HRUPLOAD_APP_SECRET)",
    "AADSTS7000222": "the app secret has expired: create a new client secret",
    "AADSTS700016": "the app ID was not found in this tenant: check --app-id (the app "
    "registration's Application (client) ID) and --tenant-id",
    "AADSTS90002": "the tenant was not found: check --tenant-id (Directory (tenant) ID) and "
    "--cloud",
    "AADSTS700027": "the certificate assertion was rejected: check that the certificate is "
    "uploaded to the app registration",
    "AADSTS500011": "the connector's resource is unknown in this cloud: check --cloud",
}


@dataclass(frozen=True)
class Endpoints:
    login: str
    ingestion: str

    def token_url(self, tenant_id: str) -> str:
        return f"{self.login}/{tenant_id}/oauth2/token?api-version=1.0"

    def upload_url(self, job_id: str) -> str:
        return f"{self.ingestion}/api/signals?jobid={job_id}"


def check_url(url: str, setting: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url.rstrip("/")
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return url.rstrip("/")
    if parts.scheme == "http":
        raise ConfigError(
            f"{setting}: plain http is refused for {parts.hostname}: the secret and HR data "
            "would travel unencrypted. Use https (http is allowed only for loopback stand-ins)."
        )
    raise ConfigError(f"{setting}: not an http(s) URL: {url!r}")


def endpoints(
    cloud: str = default("HRUPLOAD_CLOUD"),
    *,
    login_url: str | None = None,
    ingestion_url: str | None = None,
) -> Endpoints:
    """The cloud's endpoints (the settings' table of clouds), with overrides; plain http
    only for loopback."""
    if cloud not in CLOUDS:
        raise ConfigError(f"--cloud must be one of {', '.join(CLOUDS)}; got {cloud!r}")
    login, ingestion = CLOUDS[cloud]
    return Endpoints(
        check_url(login_url or login, "--login-url / HRUPLOAD_LOGIN_URL"),
        check_url(ingestion_url or ingestion, "--ingestion-url / HRUPLOAD_INGESTION_URL"),
    )


def aadsts_hint(message: str) -> tuple[str, str] | None:
    """The AADSTS code a token refusal names (``[AADSTS7000215]``) and its hint from the
    table above, or None: for a caller that shows the fix apart from the message."""
    match = re.search(r"\[(AADSTS\d+)\]", message)
    hint = _AADSTS_HINTS.get(match.group(1)) if match else None
    return (match.group(1), hint) if match and hint else None


#: The AADSTS codes that say the app's own credentials are wrong (not an outage).
_CREDENTIAL_CODES = frozenset(
    {"AADSTS7000215", "AADSTS7000222", "AADSTS700016", "AADSTS90002", "AADSTS700027"}
)


def token_refusal(status: int, doc: Mapping[str, Any]) -> tuple[str, bool]:
    """A token endpoint's JSON refusal (v1 or v2.0) as one sentence, with the hint from
    the table above when the AADSTS code has one, and whether it says the credentials are
    wrong (the caller re-reads the secret once). The caller redacts the message."""
    description = str(doc.get("error_description", "")).split("\r\n")[0].split("\n")[0]
    code = description.split(":")[0].strip() if description.startswith("AADSTS") else ""
    hint = _AADSTS_HINTS.get(code)
    message = f"token request refused ({status} {doc.get('error', '')})"
    if hint:
        message += f": {hint} [{code}]"
    elif description:
        message += f": {description[:300]}"
    return message, status in (400, 401) and code in _CREDENTIAL_CODES


def probe(url: str, *, timeout: float = CONNECT_TIMEOUT) -> int:
    """Whether ``url``'s host answers, as an upload would reach it (the proxy settings, the
    TLS checks): one GET with no token and no data. The HTTP status, whatever it is, for
    any answer means the host is reachable; ConnectorError when none came."""
    session = new_session()
    try:
        return send(session, "GET", url, timeout=(timeout, timeout)).status_code
    except Retryable as exc:
        raise ConnectorError(str(exc), transient=True) from None
    finally:
        session.close()


class AppCredential(Protocol):
    """How the app proves itself to the token endpoint."""

    tenant_id: str
    app_id: str

    def form(self, token_url: str) -> dict[str, str]: ...

    def refresh(self) -> bool:
        """Re-read the credential after an authentication failure; True when it changed."""
        ...


class SecretCredential:
    """A client secret; ``secret`` may be a provider so a rotated secret is picked up."""

    def __init__(self, tenant_id: str, app_id: str, secret: str | Callable[[bool], str]) -> None:
        self.tenant_id = tenant_id
        self.app_id = app_id
        self._provider = secret if callable(secret) else (lambda _force, s=secret: s)
        self._current: str | None = None

    def _secret(self, force: bool = False) -> str:
        if self._current is None or force:
            self._current = self._provider(force)
        return self._current

    def form(self, token_url: str) -> dict[str, str]:
        return {"client_secret": self._secret()}

    def refresh(self) -> bool:
        before = self._current
        return self._secret(force=True) != before

    def __repr__(self) -> str:  # never show the secret, even in a debugger or traceback
        return f"SecretCredential(tenant_id={self.tenant_id!r}, app_id={self.app_id!r})"


class CertificateCredential:
    """Signs a short-lived RS256 client assertion with the app's certificate."""

    def __init__(self, tenant_id: str, app_id: str, private_key: Any, certificate: Any) -> None:
        from cryptography.hazmat.primitives import hashes

        self.tenant_id = tenant_id
        self.app_id = app_id
        self._key = private_key
        thumbprint = certificate.fingerprint(hashes.SHA1())  # noqa: S303 - x5t is SHA-1 by spec
        self.x5t = base64.urlsafe_b64encode(thumbprint).rstrip(b"=").decode()

    @classmethod
    def from_bytes(
        cls, tenant_id: str, app_id: str, data: bytes, password: str | None = None
    ) -> CertificateCredential:
        """PEM (private key and certificate in one) or PFX; ValueError when neither fits."""
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import load_pem_private_key, pkcs12

        secret = password.encode() if password else None
        try:
            if b"-----BEGIN" in data:
                key = load_pem_private_key(data, secret)
                cert = x509.load_pem_x509_certificate(data)
            else:
                key, cert, _ = pkcs12.load_key_and_certificates(data, secret)
        except TypeError as exc:  # cryptography's word for a missing or unneeded password
            raise ValueError(str(exc)) from None
        if key is None or cert is None:
            raise ValueError("it must hold both the private key and the certificate")
        return cls(tenant_id, app_id, key, cert)

    @classmethod
    def from_file(
        cls, tenant_id: str, app_id: str, path: str | Path, password: str | None = None
    ) -> CertificateCredential:
        try:
            return cls.from_bytes(tenant_id, app_id, Path(path).read_bytes(), password)
        except ValueError as exc:
            raise ConfigError(
                f"cannot load certificate {path}: {exc}. Give a PEM file holding the private key "
                "and the certificate, or a PFX with HRUPLOAD_CERTIFICATE_PASSWORD"
            ) from None

    def form(self, token_url: str) -> dict[str, str]:
        import jwt

        now = int(time.time())
        claims = {
            "aud": token_url,
            "iss": self.app_id,
            "sub": self.app_id,
            "jti": str(uuid.uuid4()),
            "nbf": now,
            "exp": now + 600,
        }
        assertion = jwt.encode(claims, self._key, algorithm="RS256", headers={"x5t": self.x5t})
        return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}

    def refresh(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"CertificateCredential(app_id={self.app_id!r}, x5t={self.x5t!r})"


class Retryable(ConnectorError):
    """A failure a later attempt may get past: retried within the retry budget (here and
    by the report source, :mod:`hrupload.adapters.report_source`)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float = 0.0,
        overload: bool = False,
    ):
        super().__init__(message, status=status, transient=True)
        self.retry_after = retry_after
        #: The service is overloaded (429, 503, no answer in time): fewer requests in flight.
        self.overload = overload or status in OVERLOAD_STATUS


def retry_after_of(response: requests.Response) -> float:
    raw = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
        except (TypeError, ValueError):
            return 0.0


def answer_excerpt(response: requests.Response, limit: int = 300) -> str:
    """The service's answer for a message, on one line and cut short; the caller redacts
    the whole message (it may quote a row, the token or the secret)."""
    text = " ".join(response.text.split())
    return text[:limit] + ("…" if len(text) > limit else "")


def looks_like_html(response: requests.Response) -> bool:
    """A web page where an API answer belongs: a proxy's login or block page, a captive
    portal, a wrong host's front page. The service itself answers JSON or plain text."""
    kind = response.headers.get("Content-Type", "").lower()
    start = response.text.lstrip()[:15].lower()
    return "html" in kind or start.startswith(("<!doctype", "<html", "<head", "<body"))


_HOST_CHARS = re.compile(r"[A-Za-z0-9.\-:\[\]_]+")


def host_of(url: str, location: str | None) -> str:
    """The host a redirect points at, safe to print (it came from the network)."""
    from urllib.parse import urljoin

    if not location:
        return "nowhere (no Location header)"
    try:
        host = urlsplit(urljoin(url, location)).hostname or "?"
    except ValueError:
        return "an unparsable Location"
    return host if _HOST_CHARS.fullmatch(host) else ascii(host)


_PROXY_HINT = (
    "a proxy or firewall may be answering in the service's place: check HTTPS_PROXY / "
    "NO_PROXY and that the firewall allow-list includes {host} (README, 'Network')"
)


class ConnectorClient:
    """One client per job; safe to share between the threads uploading chunks."""

    def __init__(
        self,
        credential: AppCredential,
        *,
        job_id: str,
        endpoints: Endpoints,
        retry_budget: float = RETRY_BUDGET,
        timeout: tuple[float, float] | float | None = None,
        session: requests.Session | None = None,
        max_backoff: float = 60.0,
        gate: ConcurrencyGate | None = None,
        tokens_from: ConnectorClient | None = None,
    ) -> None:
        """``gate`` bounds the ingestion requests in flight and learns from their outcomes
        (:mod:`hrupload.app.limiter`); without one, the callers' threads are the only bound.
        ``tokens_from``: a client of the same app (another job of it) whose tokens this one
        uses, so the connectors of one app ask for one token, not one each."""
        self.credential = credential
        self.job_id = job_id
        self.endpoints = endpoints
        self.retry_budget = retry_budget
        if timeout is None:
            timeout = (CONNECT_TIMEOUT, READ_TIMEOUT)
        elif isinstance(timeout, int | float):
            timeout = (float(timeout), float(timeout))
        self.timeout = timeout
        self.max_backoff = max_backoff
        self.gate = gate
        self._session = session or new_session()
        self._lock = threading.Lock()
        self._token_lock = threading.Lock()
        self._token: str | None = None
        self._token_expires = 0.0
        #: Counts finished token fetches, so threads that waited for one share its result.
        self._fetches = 0
        self._fetch_error: BaseException | None = None
        self._paused_until = 0.0
        #: The credentials this client has sent lately (tokens, the secret, assertions):
        #: masked wherever a service echoes them back.
        self._sent_secrets: collections.deque[str] = (
            tokens_from._sent_secrets if tokens_from else collections.deque(maxlen=16)
        )
        self._tokens_from = (tokens_from._tokens_from or tokens_from) if tokens_from else None

    def __repr__(self) -> str:
        return f"ConnectorClient(job_id={self.job_id!r}, ingestion={self.endpoints.ingestion!r})"

    @property
    def session(self) -> requests.Session:
        """The HTTP session every request goes through (a test hands in a recording one)."""
        return self._session

    # -- retry plumbing --------------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        backoff = wait_random_exponential(multiplier=0.5, max=self.max_backoff)(state)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", 0.0)
        return max(backoff, retry_after)

    def _retrying(self, budget_start: float) -> Retrying:
        remaining = max(0.0, self.retry_budget - (time.monotonic() - budget_start))
        return Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, Retryable)),
            stop=stop_before_delay(remaining),
            wait=self._wait,
            reraise=True,
            before_sleep=self._log_retry,
        )

    @staticmethod
    def _log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "transient connector failure, retrying",
            extra={"attempt": state.attempt_number, "reason": str(exc)},
        )

    def _honour_pause(self, deadline: float) -> None:
        # A 429 anywhere pauses every request to the service, not just the one that got it.
        # A pause that outlasts this request's budget fails it now instead of sleeping past it.
        while True:
            with self._lock:
                delay = self._paused_until - time.monotonic()
            if delay <= 0:
                return
            if time.monotonic() + delay > deadline:
                raise Retryable(
                    f"the service asked for a pause of {delay:.0f}s more (Retry-After)",
                    retry_after=delay,
                )
            time.sleep(min(delay, 1.0))

    def _pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    # -- failures ----------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        return redact(text, secrets=list(self._sent_secrets))

    def _refusal(
        self, message: str, *, status: int | None, systemic: bool, auth: bool = False
    ) -> ConnectorError:
        """A refusal trying again cannot fix; ``systemic`` when it would hit every file
        alike (errors.blame() keeps the file in incoming then)."""
        kind = AuthenticationError if auth else ConnectorError
        return kind(self._redact(message), status=status, systemic=systemic)

    def _refuse_redirect(self, response: requests.Response, what: str, setting: str) -> None:
        """Redirects are never followed: a 302 would turn the upload into a body-less GET
        whose 200 looks like success, a 307 would re-send the secret wherever it points."""
        if not 300 <= response.status_code < 400:
            return
        target = host_of(response.url, response.headers.get("Location"))
        raise self._refusal(
            f"{what} answered {response.status_code} {response.reason}, redirecting to "
            f"{target}; redirects are never followed (the request would go to a host nobody "
            f"configured). Check {setting} and any proxy in between"
            + (". Nothing of this chunk is counted as delivered" if what == "ingestion" else ""),
            status=response.status_code,
            systemic=True,
        )

    # -- token -----------------------------------------------------------------------

    def token(self, *, force: bool = False) -> str:
        """A cached token; ``force`` renews it (after a 401) unless another thread just did."""
        owner = self._tokens_from or self
        return owner._token_other_than(owner._token if force else None)

    def _token_other_than(self, stale: str | None) -> str:
        """The cached token unless it is ``stale`` or close to expiry, else a new one.

        One fetch at a time; the chunks that waited for it share its outcome, a failure
        included, so a token endpoint that is down spends one retry budget, not one per chunk.
        """
        if self._tokens_from is not None:
            return self._tokens_from._token_other_than(stale)
        fetches = self._fetches
        with self._token_lock:
            if self._fetches != fetches and self._fetch_error is not None:
                raise copy.copy(self._fetch_error).with_traceback(None)
            token = self._token
            if token and token != stale and time.monotonic() < self._token_expires:
                return token
            try:
                token, lifetime = self._fetch_token()
            except HrUploadError as exc:
                self._fetch_error = exc
                raise
            finally:
                self._fetches += 1
            self._fetch_error = None
            self._token = token
            self._token_expires = time.monotonic() + max(0.0, lifetime - TOKEN_MARGIN)
            return token

    def _fetch_token(self) -> tuple[str, float]:
        start = time.monotonic()
        refreshed = False
        while True:
            try:
                for attempt in self._retrying(start):
                    with attempt:
                        return self._token_once()
            except AuthenticationError:
                # The secret may have been rotated since we read it: re-read once.
                if not refreshed and self.credential.refresh():
                    refreshed = True
                    log.info("authentication failed; retrying once with the re-read secret")
                    continue
                raise
            except Retryable as exc:
                within = (
                    f" within the retry budget ({self.retry_budget:.0f}s)"
                    if self.retry_budget >= 1
                    else ""  # one attempt (doctor): there was no budget to speak of
                )
                raise ConnectorError(
                    f"could not get a token{within}: {exc}",
                    status=exc.status,
                    transient=True,
                ) from None

    def _token_once(self) -> tuple[str, float]:
        url = self.endpoints.token_url(self.credential.tenant_id)
        form = {
            "client_id": self.credential.app_id,
            "grant_type": "client_credentials",
            "resource": RESOURCE,
            "tenant_id": self.credential.tenant_id,
            **self.credential.form(url.split("?")[0]),
        }
        for field in ("client_secret", "client_assertion"):
            if form.get(field):
                self._sent_secrets.append(form[field])
        response = self._send("POST", url, data=form)
        self._refuse_redirect(response, "the token endpoint", "--login-url / HRUPLOAD_LOGIN_URL")
        if response.status_code in TRANSIENT_STATUS:
            raise Retryable(
                f"token endpoint answered {response.status_code} {response.reason}",
                status=response.status_code,
                retry_after=retry_after_of(response),
            )
        if not response.ok:
            raise self._token_failure(response)
        try:
            doc = response.json()
            token = doc["access_token"]
            if not isinstance(token, str) or not token:
                raise KeyError("access_token")
        except (ValueError, KeyError, TypeError):
            host = urlsplit(url).hostname
            what = "a web page" if looks_like_html(response) else "no access_token"
            raise self._refusal(
                f"the token endpoint answered {response.status_code} with {what} instead of a "
                f"token; {_PROXY_HINT.format(host=host)}, and check --login-url / --cloud",
                status=response.status_code,
                systemic=True,
            ) from None
        self._sent_secrets.append(token)
        lifetime = float(doc.get("expires_in") or 0)
        if not lifetime and doc.get("expires_on"):
            lifetime = float(doc["expires_on"]) - time.time()
        return token, lifetime or 3600.0

    def _token_failure(self, response: requests.Response) -> ConnectorError:
        """Every token refusal is systemic: no file is involved in asking for a token."""
        try:
            doc = response.json()
            if not isinstance(doc, dict):
                doc = {}
        except ValueError:
            doc = {}
        if not doc and (looks_like_html(response) or response.status_code == 407):
            host = urlsplit(response.url).hostname
            return self._refusal(
                f"the token request was refused with a web page ({response.status_code} "
                f"{response.reason}), not by Microsoft Entra; {_PROXY_HINT.format(host=host)}",
                status=response.status_code,
                systemic=True,
            )
        message, auth = token_refusal(response.status_code, doc)
        return self._refusal(message, status=response.status_code, systemic=True, auth=auth)

    # -- upload ----------------------------------------------------------------------

    def upload(self, data: bytes, *, filename: str) -> requests.Response:
        """Send one complete CSV chunk; returns only once the service has accepted it."""
        start = time.monotonic()
        deadline = start + self.retry_budget
        url = self.endpoints.upload_url(self.job_id)
        refreshed = False
        while True:
            try:
                for attempt in self._retrying(start):
                    with attempt:
                        return self._upload_once(url, data, filename, deadline)
            except _Unauthorized as exc:
                if refreshed:
                    raise self._refusal(str(exc), status=401, systemic=True) from None
                refreshed = True
                self._token_other_than(exc.stale_token)
            except Retryable as exc:
                raise ConnectorError(
                    f"the connector kept failing for the whole retry budget "
                    f"({self.retry_budget:.0f}s); last: {exc}. Nothing of this chunk is counted "
                    "as delivered; run again later (delivered chunks are not re-sent)",
                    status=exc.status,
                    transient=True,
                ) from None

    def _upload_once(
        self, url: str, data: bytes, filename: str, deadline: float
    ) -> requests.Response:
        """One attempt, admitted by the gate (if any), which hears what the answer said
        about the service's load."""
        if self.gate is None:
            return self._attempt(url, data, filename, deadline)
        ticket = self.gate.acquire()
        signal = Signal.OTHER
        try:
            response = self._attempt(url, data, filename, deadline)
            signal = Signal.SUCCESS
            return response
        except Retryable as exc:
            signal = Signal.OVERLOAD if exc.overload else Signal.OTHER
            raise
        finally:
            self.gate.release(ticket, signal)

    def _attempt(self, url: str, data: bytes, filename: str, deadline: float) -> requests.Response:
        self._honour_pause(deadline)
        token = self.token()
        headers = {"Authorization": f"Bearer {token}"}
        files = {"file": (filename, data, "text/csv")}
        response = self._send("POST", url, headers=headers, files=files)
        self._refuse_redirect(response, "ingestion", "--ingestion-url / HRUPLOAD_INGESTION_URL")
        status = response.status_code
        if 200 <= status < 300 and not looks_like_html(response):
            return response
        if status in TRANSIENT_STATUS:
            wait = retry_after_of(response)
            if status == 429 or wait:
                self._pause(wait or 1.0)
            raise Retryable(
                f"ingestion answered {status} {response.reason}", status=status, retry_after=wait
            )
        if status == 401:
            raise _Unauthorized(
                self._redact(
                    f"ingestion refused the token twice (401 {response.reason}): "
                    f"{answer_excerpt(response)}"
                ),
                stale_token=token,
            )
        raise self._ingestion_refusal(response)

    def _ingestion_refusal(self, response: requests.Response) -> ConnectorError:
        """The one place that decides whether a refusal is about this file's content."""
        status, reason, body = response.status_code, response.reason or "", answer_excerpt(response)
        host, path = urlsplit(response.url).hostname, urlsplit(response.url).path
        if status == 403 and "do not match" in f"{reason} {body}".lower():
            message = (
                "403 Forbidden: the job ID belongs to another app: check --app-id and --job-id "
                "in the connector's flyout in the Purview portal"
            )
            return self._refusal(message, status=status, systemic=True)
        if looks_like_html(response) or status == 407:
            return self._refusal(
                f"ingestion answered {status} {reason} with a web page, not the connector's "
                f"answer; {_PROXY_HINT.format(host=host)}. Nothing of this chunk is counted "
                "as delivered",
                status=status,
                systemic=True,
            )
        if status == 404:
            return self._refusal(
                f"ingestion answered 404 {reason}: no connector API at {host}{path}; check "
                f"--ingestion-url / HRUPLOAD_INGESTION_URL and --cloud (the answer: {body})",
                status=status,
                systemic=True,
            )
        message = f"ingestion refused the upload: {status} {reason}: {body}"
        return self._refusal(message, status=status, systemic=status not in CONTENT_STATUS)

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        return send(self._session, method, url, timeout=self.timeout, **kwargs)


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: tuple[float, float],
    **kwargs: Any,
) -> requests.Response:
    """One request, never redirected, never through a proxy to loopback; transport
    failures translated here, in one table."""
    host = urlsplit(url).hostname
    try:
        return session.request(
            method,
            url,
            timeout=timeout,
            allow_redirects=False,
            proxies=proxies_for(url),
            **kwargs,
        )
    except requests.exceptions.SSLError as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate" in str(exc).lower():
            # Trying again cannot fix a certificate; every file would fail the same way.
            raise ConnectorError(
                f"the TLS certificate of {host} is not trusted: a proxy that inspects TLS "
                "may be in between (give its CA with REQUESTS_CA_BUNDLE, or exempt "
                f"{host} from inspection), or the URL points at the wrong host",
                systemic=True,
            ) from None
        raise Retryable(f"the TLS handshake with {host} failed") from None
    except requests.exceptions.ProxyError:
        raise Retryable(
            f"the proxy for {host} refused or could not be reached: check HTTPS_PROXY and NO_PROXY"
        ) from None
    except requests.ReadTimeout:
        raise Retryable(f"no answer from {host} within {timeout[1]:g}s", overload=True) from None
    except requests.Timeout:
        raise Retryable(f"no connection to {host} within {timeout[0]:g}s") from None
    except requests.exceptions.ChunkedEncodingError:
        raise Retryable(f"the connection to {host} broke in the middle of the answer") from None
    except requests.ConnectionError as exc:
        text = str(exc)
        if "NameResolutionError" in text or "Name or service not known" in text:
            raise Retryable(
                f"cannot resolve {host}: check DNS, proxy settings and that the firewall "
                f"allow-list includes {host}"
            ) from None
        raise Retryable(f"connection to {host} failed before any answer") from None


class _Unauthorized(ConnectorError):
    def __init__(self, message: str, *, stale_token: str) -> None:
        super().__init__(message, status=401)
        self.stale_token = stale_token  # renew unless another chunk already has


def new_session() -> requests.Session:
    session = requests.Session()
    from requests.adapters import HTTPAdapter

    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "hrupload"
    return session
