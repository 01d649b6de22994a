"""An HR system's report URL as a source (``"kind": "https"``): Workday RaaS custom reports
(``.../ccx/service/customreport2/<tenant>/<owner>/<report>?format=csv|json``) and the
report URLs of other HR systems.

One GET per pull, with basic auth, a bearer token or a client-credentials token (kept
until it expires; refused with 401, it is replaced once by a fresh one); https only (plain
http for loopback stand-ins), never redirected, retried and timed out as the connector
client is. A JSON report's records become a CSV whose columns are the keys; a
nested value is refused naming its path. The version is the SHA-256 of the CSV, so a
report that did not change is not dropped again.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from tenacity import Retrying, retry_if_exception, stop_before_delay, wait_random_exponential

from hrupload.adapters.connector import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    RETRY_BUDGET,
    TRANSIENT_STATUS,
    Retryable,
    check_url,
    host_of,
    new_session,
    retry_after_of,
    send,
)
from hrupload.app.sources import Fetched
from hrupload.core.errors import ConfigError, ConnectorError, HrUploadError, SourceError
from hrupload.core.redact import redact
from hrupload.core.termsafe import logger
from hrupload.settings import entry_fields, entry_text

log = logger(__name__)  # file-derived text in messages and fields is escaped

FORMATS = ("csv", "json")
AUTH_TYPES = ("basic", "bearer", "client_credentials")
FIELDS = ("name", "kind", "connector", "url", "format", "records", "auth", "filename")
_AUTH_FIELDS = {
    "basic": ("type", "username", "secret_name", "secret_env"),
    "bearer": ("type", "secret_name", "secret_env"),
    "client_credentials": ("type", "token_url", "client_id", "scope", "secret_name", "secret_env"),
}
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,100}")
_HTML_PAGE = "got a web page, not the report: a login page? check the URL and credentials"

#: ``secret(where, secret_name, secret_env)``: a reader of the named secret, ``read(force)``.
SecretReader = Callable[[str, str | None, str | None], Callable[[bool], str]]


@dataclass(frozen=True)
class Auth:
    type: str
    username: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    scope: str | None = None
    #: Where the secret is: for messages that say which credential to check.
    secret_from: str = ""
    read: Callable[[bool], str] = field(default=lambda force: "", repr=False)

    def check_hint(self) -> str:
        if self.type == "basic":
            return f"check the username {self.username!r} and its password ({self.secret_from})"
        if self.type == "bearer":
            return f"check the bearer token ({self.secret_from})"
        return (
            f"check that the app {self.client_id!r} (its secret: {self.secret_from}) may read "
            "the report"
        )


def _text(config: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    return entry_text(config, key, where, required=required, needed="")


def _auth(raw: Any, where: str, secret: SecretReader) -> Auth:
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{where}: 'auth' must be an object with a type ({', '.join(AUTH_TYPES)})"
        )
    kind = raw.get("type")
    if kind not in AUTH_TYPES:
        raise ConfigError(
            f"{where}: auth type must be one of {', '.join(AUTH_TYPES)}; got {kind!r}"
        )
    where = f"{where} {kind} auth"
    entry_fields(raw, _AUTH_FIELDS[kind], where)
    secret_name, secret_env = _text(raw, "secret_name", where), _text(raw, "secret_env", where)
    if not (secret_name or secret_env):
        raise ConfigError(
            f"{where}: give 'secret_name' (a Key Vault secret) or 'secret_env' (an environment "
            "variable, for local use) for the secret"
        )
    secret_from = (
        f"environment variable {secret_env}" if secret_env else f"Key Vault secret {secret_name!r}"
    )
    token_url = None
    if kind == "client_credentials":
        token_url = check_url(
            _text(raw, "token_url", where, required=True) or "", f"{where} token_url"
        )
    return Auth(
        type=kind,
        username=_text(raw, "username", where, required=kind == "basic"),
        token_url=token_url,
        client_id=_text(raw, "client_id", where, required=kind == "client_credentials"),
        scope=_text(raw, "scope", where),
        secret_from=secret_from,
        read=secret(where, secret_name, secret_env),
    )


class ReportSource:
    """One report URL; implements :class:`hrupload.app.sources.Source`."""

    def __init__(
        self,
        *,
        name: str,
        connector: str,
        url: str,
        format: str,
        records: str | None,
        auth: Auth,
        filename: str,
        retry_budget: float = RETRY_BUDGET,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
        session: requests.Session | None = None,
        max_backoff: float = 60.0,
    ) -> None:
        self.name = name
        self.connector = connector
        self.url = url
        self.format = format
        self.records = records
        self.auth = auth
        self.filename = filename
        self.retry_budget = retry_budget
        self.timeout = timeout
        self.max_backoff = max_backoff
        self._session = session or new_session()
        self._token: tuple[str, float] | None = None
        #: Secrets and tokens sent, masked wherever an answer echoes them.
        self._sent: list[str] = []

    def __repr__(self) -> str:
        return f"ReportSource(name={self.name!r}, url={self.url!r})"

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        index: int,
        secret: SecretReader,
        retry_budget: float = RETRY_BUDGET,
        read_timeout: float = READ_TIMEOUT,
    ) -> ReportSource:
        """A source from its HRUPLOAD_CONNECTORS entry; a problem fails naming the field."""
        where = f"HRUPLOAD_CONNECTORS sources[{index}]"
        name = _text(config, "name", where) or f"{config.get('connector')}-report"
        if not _SAFE_NAME.fullmatch(name):
            raise ConfigError(
                f"{where}: name {name!r} may hold only letters, digits, '.', '_' and '-'"
            )
        where = f"HRUPLOAD_CONNECTORS source {name!r} (sources[{index}])"
        entry_fields(config, FIELDS, where)
        url = _text(config, "url", where, required=True) or ""
        check_url(url, f"{where} url")
        format = (_text(config, "format", where) or "csv").lower()
        if format not in FORMATS:
            raise ConfigError(
                f"{where}: format must be one of {', '.join(FORMATS)}; got {format!r}"
            )
        records = _text(config, "records", where)
        if records and format != "json":
            raise ConfigError(f"{where}: 'records' is for a json report only")
        filename = _text(config, "filename", where) or f"{name}.csv"
        if not _SAFE_NAME.fullmatch(filename) or not filename.lower().endswith(".csv"):
            raise ConfigError(
                f"{where}: filename {filename!r} must be a plain file name ending in .csv"
            )
        return cls(
            name=name,
            connector=str(config["connector"]),
            url=url,
            format=format,
            records=records,
            auth=_auth(config.get("auth"), where, secret),
            filename=filename,
            retry_budget=retry_budget,
            timeout=(CONNECT_TIMEOUT, read_timeout),
        )

    # -- Source --------------------------------------------------------------------------

    def fetch(self, seen: Mapping[str, str]) -> Iterator[Fetched]:
        body = self._download()
        try:
            content = body if self.format == "csv" else records_to_csv(body, self.records)
        except SourceError as exc:
            raise self._fail(str(exc)) from None
        version = "sha256:" + hashlib.sha256(content).hexdigest()
        if seen.get(self.url) == version:
            log.info("report unchanged since the last pull", extra={"source": self.name})
            return
        yield Fetched(name=self.filename, content=content, version=version, key=self.url)

    def taken(self, fetched: Fetched) -> None:
        """A report stays where it is."""

    # -- HTTP ----------------------------------------------------------------------------

    def _fail(self, message: str) -> SourceError:
        return SourceError(redact(f"source {self.name!r}: {message}", secrets=self._sent))

    def _retrying(self, start: float) -> Retrying:
        remaining = max(0.0, self.retry_budget - (time.monotonic() - start))

        def wait(state: Any) -> float:
            backoff = wait_random_exponential(multiplier=0.5, max=self.max_backoff)(state)
            exc = state.outcome.exception() if state.outcome else None
            return max(backoff, getattr(exc, "retry_after", 0.0))

        return Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, Retryable)),
            stop=stop_before_delay(remaining),
            wait=wait,
            reraise=True,
        )

    def _download(self) -> bytes:
        start = time.monotonic()
        try:
            for attempt in self._retrying(start):
                with attempt:
                    return self._once()
        except Retryable as exc:
            raise self._fail(
                f"the report kept failing for the whole retry budget ({self.retry_budget:.0f}s); "
                f"last: {exc}"
            ) from None
        except ConnectorError as exc:  # a transport failure retrying cannot fix (TLS)
            raise self._fail(str(exc)) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self) -> bytes:
        response = self._get()
        if response.status_code == 401 and self.auth.type == "client_credentials":
            # A token can stop working before its expires_in (revoked, or the server's
            # clock): once with a fresh one; a second 401 is the credentials' fault.
            log.info("report refused the token: getting a fresh one", extra={"source": self.name})
            self._token = None
            response = self._get()
        return self._content(response, "the report URL")

    def _get(self) -> requests.Response:
        headers = {"Authorization": self._authorization()}
        return send(self._session, "GET", self.url, timeout=self.timeout, headers=headers)

    def _content(self, response: requests.Response, what: str) -> bytes:
        status = response.status_code
        if 300 <= status < 400:
            target = host_of(response.url or self.url, response.headers.get("Location"))
            raise self._fail(
                f"{what} answered {status} {response.reason}, redirecting to {target}; sources "
                "never follow redirects: put the address the report is really at in the config"
            )
        if status in TRANSIENT_STATUS:
            raise Retryable(
                f"{what} answered {status} {response.reason}",
                status=status,
                retry_after=retry_after_of(response),
            )
        if status in (401, 403):
            self._token = None
            raise self._fail(
                f"{what} refused the credentials ({status} {response.reason}): "
                f"{self.auth.check_hint()}"
            )
        if _is_html(response):
            raise self._fail(_HTML_PAGE)
        if not 200 <= status < 300:
            raise self._fail(f"{what} answered {status} {response.reason}")
        return response.content

    def _secret(self) -> str:
        try:
            value = self.auth.read(False)
        except HrUploadError as exc:
            raise self._fail(str(exc)) from None
        self._sent.append(value)
        return value

    def _authorization(self) -> str:
        if self.auth.type == "basic":
            pair = f"{self.auth.username}:{self._secret()}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        if self.auth.type == "bearer":
            return f"Bearer {self._secret()}"
        return f"Bearer {self._client_token()}"

    def _client_token(self) -> str:
        if self._token and self._token[1] > time.monotonic():
            return self._token[0]
        form = {
            "grant_type": "client_credentials",
            "client_id": self.auth.client_id or "",
            "client_secret": self._secret(),
        }
        if self.auth.scope:
            form["scope"] = self.auth.scope
        url = self.auth.token_url or ""
        response = send(self._session, "POST", url, timeout=self.timeout, data=form)
        body = self._content(response, "the token URL")
        try:
            doc = json.loads(body)
            token = str(doc["access_token"])
            lifetime = float(doc.get("expires_in", 300))
        except (ValueError, KeyError, TypeError):
            raise self._fail("the token URL's answer holds no access_token") from None
        self._sent.append(token)
        self._token = (token, time.monotonic() + max(0.0, lifetime - 60))
        return token


def _is_html(response: requests.Response) -> bool:
    kind = response.headers.get("Content-Type", "").lower()
    return "text/html" in kind or response.content.lstrip()[:1] == b"<"


_SCALARS = (str, int, float, bool, type(None))


def _leaf_path(value: Any, path: str) -> str:
    """The path of the first value inside a nested one (``Manager.Email``), for messages."""
    if isinstance(value, dict) and value:
        key = next(iter(value))
        return _leaf_path(value[key], f"{path}.{key}")
    if isinstance(value, list) and value:
        return _leaf_path(value[0], f"{path}[0]")
    return path


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def records_to_csv(body: bytes, records: str | None) -> bytes:
    """A JSON report's records as CSV: the keys (all records', first-seen order) as the
    header, one row per record. A nested value (object, list) is refused with its path."""
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        raise SourceError("the report is not valid JSON; check 'format' and the URL") from None
    where = records or "the report"
    rows = doc.get(records) if records and isinstance(doc, dict) else doc
    if records and isinstance(doc, dict) and records not in doc:
        keys = ", ".join(map(repr, list(doc)[:10])) or "none"
        raise SourceError(f"the report has no {records!r} (its keys: {keys}); check 'records'")
    if not isinstance(rows, list):
        raise SourceError(
            f"{where} is not a list of records; set 'records' to the key that holds them "
            "(Workday: Report_Entry)"
        )
    columns: dict[str, None] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise SourceError(f"{where}[{i}] is not a record (an object)")
        for key, value in row.items():
            if not isinstance(value, _SCALARS):
                path = _leaf_path(value, f"{where}[{i}].{key}")
                raise SourceError(
                    f"{path} is a nested value; a CSV column holds one value: change the "
                    "report to give that field as text"
                )
            columns.setdefault(key)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue().encode("utf-8")
