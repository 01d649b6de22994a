"""A local stand-in for an HR system's report URL, shaped like a Workday RaaS custom report.

``GET /ccx/service/customreport2/{tenant}/{owner}/{report}?format=csv|json`` answers the
report's rows as CSV (columns: the keys of the rows, in first-seen order) or as JSON
``{"Report_Entry": [{...}, ...]}``, whose values may be nested (objects, lists) so that a
client's refusal of nested values is tested. It needs HTTP basic auth with an integration
user's password (or, if configured, a bearer token); anything else is 401 with
``WWW-Authenticate``. Only ``csv`` and ``json`` are served (Workday's default, XML, is not).

``POST /ccx/oauth2/{tenant}/token`` is a client-credentials token endpoint for the
``clients`` it is given (form ``client_id`` and ``client_secret``): each token it issues is
accepted as a bearer token until :meth:`ReportStandIn.expire_tokens` forgets them all, the way
a token revoked (or expired early) is refused before its ``expires_in``.

Faults (``hrupload_dev.connector.Fault``, endpoint ``report``) give the answers a real HR
system or the proxy in front of it gives: statuses, redirects (to another host, to http), an
HTML sign-in page with 200, delays, dropped connections. Tests in other processes drive it
through ``/_standin/...`` (unauthenticated: loopback only). It never logs passwords, tokens
or report content (the rows are employees' data).
"""

from __future__ import annotations

import base64
import binascii
import csv
import hmac
import io
import json
import logging
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import click

from hrupload_dev.commands import print_secret, serve_until_interrupted
from hrupload_dev.connector import (
    DispatchingHandler,
    Fault,
    LoopbackStandIn,
    Reply,
    StandInHandler,
)
from hrupload_dev.entra import form_fields

logger = logging.getLogger(__name__)

__all__ = ["RECORDS_KEY", "Fault", "ReportStandIn", "rows_to_csv"]

#: Where a Workday RaaS JSON answer keeps its rows.
RECORDS_KEY = "Report_Entry"
FORMATS = ("csv", "json")
DEFAULT_PORT = 8402
DEMO_TENANT = "contoso"
DEMO_OWNER = "ISU_HRUpload"
DEMO_REPORT = "Leavers"
_REALM = "Workday"
_REPORT_PATH = re.compile(r"^/ccx/service/customreport2/([^/]+)/([^/]+)/([^/]+)/?$")
_TOKEN_PATH = re.compile(r"^/ccx/oauth2/([^/]+)/token/?$")
_CONTROL_REPORT = re.compile(r"^/_standin/reports/([^/]+)/([^/]+)/([^/]+)$")
_CSV = "text/csv; charset=utf-8"
_JSON = "application/json; charset=utf-8"


def rows_to_csv(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """The CSV an HR system exports for ``rows``: a header of every key (first-seen order),
    CRLF rows, empty for a missing key; a nested value is written as its JSON text."""
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return out.getvalue().encode("utf-8")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@dataclass
class _Report:
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)
    #: Served for ``format=csv`` instead of the rows' CSV (a file exactly as some system writes).
    csv: bytes | None = field(default=None, repr=False)


class _ReportHandler(DispatchingHandler):
    server_version = "hrupload-report-standin"

    def serve(self, method: str) -> None:
        owner: ReportStandIn = self.owner
        body = self.read_body_or_reply()
        if body is None:
            return
        target = urlsplit(self.path)
        if target.path.startswith("/_standin/"):
            return self.send_reply(owner.serve_control(method, target.path, body))
        token_path = _TOKEN_PATH.match(target.path)
        if token_path and method == "POST":
            owner.count("token")
            tenant = unquote(token_path.group(1))
            fields = form_fields(self.headers.get_content_type(), body)
            return self.serve_with_faults(
                "token", body, lambda _: owner.serve_token(tenant, fields)
            )
        match = _REPORT_PATH.match(target.path)
        if match is None or method != "GET":
            return self.send_reply(Reply(404, b"Not Found", "text/plain; charset=utf-8"))
        key = tuple(unquote(part) for part in match.groups())
        query = {k.lower(): v[0] for k, v in parse_qs(target.query).items()}
        authorization = self.headers.get("Authorization", "")
        owner.count("requests")
        self.serve_with_faults(
            "report", body, lambda _: owner.serve_report(key, query, authorization)
        )


class ReportStandIn(LoopbackStandIn):
    """Workday-RaaS-shaped report URLs on one loopback HTTP server.

    ``users`` maps user names to passwords (basic auth); ``tokens`` are bearer tokens it also
    accepts. Reports are set with :meth:`set_report` and found by (tenant, owner, report);
    :meth:`report_url` builds a report's URL.
    """

    handler_class = _ReportHandler
    fault_endpoints = ("report", "token")

    def __init__(
        self,
        *,
        tenant: str = DEMO_TENANT,
        users: Mapping[str, str] | None = None,
        tokens: Iterable[str] = (),
        clients: Mapping[str, str] | None = None,
        token_lifetime: int = 3600,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, latency=latency)
        self.tenant = tenant
        self._users = dict(users or {})
        self._tokens = set(tokens)
        self._clients = dict(clients or {})
        #: What ``expires_in`` the token endpoint announces (its tokens last until expired).
        self.token_lifetime = token_lifetime
        self._issued: set[str] = set()
        self._reports: dict[tuple[str, str, str], _Report] = {}
        self._counts = {"requests": 0, "served": 0, "refused": 0, "token": 0, "issued": 0}

    # -- configuration ---------------------------------------------------------------------

    def set_user(self, username: str, password: str) -> None:
        """Add a user or change its password (the old one stops working at once)."""
        with self._lock:
            self._users[username] = password

    def add_token(self, token: str) -> None:
        with self._lock:
            self._tokens.add(token)

    def set_client(self, client_id: str, secret: str) -> None:
        """A client the token endpoint issues tokens to (client credentials)."""
        with self._lock:
            self._clients[client_id] = secret

    def expire_tokens(self) -> None:
        """Refuse every token issued so far, before its ``expires_in`` is up."""
        with self._lock:
            self._issued.clear()

    def token_url(self) -> str:
        return f"{self.url}/ccx/oauth2/{quote(self.tenant, safe='')}/token"

    @property
    def username(self) -> str | None:
        return next(iter(self._users), None)

    def set_report(
        self,
        report: str,
        rows: Sequence[Mapping[str, Any]] | None = None,
        *,
        csv: bytes | str | None = None,
        owner: str = DEMO_OWNER,
        tenant: str | None = None,
    ) -> None:
        """Set (or replace) a report's rows, and optionally its CSV bytes exactly."""
        raw = csv.encode() if isinstance(csv, str) else csv
        key = (tenant or self.tenant, owner, report)
        with self._lock:
            self._reports[key] = _Report([dict(r) for r in rows or []], raw)

    def delete_report(self, report: str, *, owner: str = DEMO_OWNER) -> None:
        with self._lock:
            self._reports.pop((self.tenant, owner, report), None)

    def report_url(
        self, report: str | None = None, *, format: str = "csv", owner: str | None = None
    ) -> str:
        """The URL of a report (default: the first one set) with ``?format=``."""
        with self._lock:
            if report is None:
                key = next(iter(self._reports))
            else:
                key = (self.tenant, owner or DEMO_OWNER, report)
        return f"{self._url(key)}?format={format}"

    def _url(self, key: tuple[str, str, str]) -> str:
        return self.url + "/ccx/service/customreport2/" + "/".join(quote(p, safe="") for p in key)

    def source(self, connector: str, *, format: str = "csv", **extra: Any) -> dict[str, Any]:
        """A ``"kind": "https"`` source entry for the first report, with basic auth."""
        entry: dict[str, Any] = {
            "name": f"{connector}-report",
            "kind": "https",
            "connector": connector,
            "url": self.report_url(format=format),
            "format": format,
            "auth": {"type": "basic", "username": self.username or ""},
        }
        if format == "json":
            entry["records"] = RECORDS_KEY
        entry.update(extra)
        return entry

    # -- what tests look at ----------------------------------------------------------------

    def count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    @property
    def requests(self) -> int:
        """Report requests received (faulted and refused ones included)."""
        return self._count("requests")

    @property
    def served(self) -> int:
        """Reports answered with their content."""
        return self._count("served")

    @property
    def refused(self) -> int:
        """401 answers (missing or wrong credentials)."""
        return self._count("refused")

    @property
    def token_requests(self) -> int:
        """Requests to the token endpoint (faulted and refused ones included)."""
        return self._count("token")

    @property
    def tokens_issued(self) -> int:
        return self._count("issued")

    def _count(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def state(self) -> dict[str, Any]:
        with self._lock:
            counts = dict(self._counts)
        return {**counts, **self.fault_state()}

    # -- the report URL --------------------------------------------------------------------

    def _authorized(self, header: str) -> bool:
        scheme, _, credentials = header.strip().partition(" ")
        credentials = credentials.strip()
        with self._lock:
            users, tokens = dict(self._users), self._tokens | self._issued
        if scheme.lower() == "bearer" and credentials:
            return any(hmac.compare_digest(credentials.encode(), t.encode()) for t in tokens)
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        username, sep, password = decoded.partition(":")
        expected = users.get(username)
        return (
            bool(sep)
            and expected is not None
            and hmac.compare_digest(password.encode(), expected.encode())
        )

    def serve_report(
        self, key: tuple[str, str, str], query: Mapping[str, str], authorization: str
    ) -> Reply:
        if not self._authorized(authorization):
            self.count("refused")
            logger.info(
                "report request refused: %s",
                "no credentials" if not authorization else "bad credentials",
            )
            return Reply(
                401,
                b"Unauthorized",
                "text/plain; charset=utf-8",
                (("WWW-Authenticate", f'Basic realm="{_REALM}"'),),
            )
        with self._lock:
            report = self._reports.get(key)
        if report is None:
            return Reply(404, b"Report not found", "text/plain; charset=utf-8")
        format = query.get("format", "").lower()
        if format not in FORMATS:
            message = f"format must be one of {', '.join(FORMATS)} (stand-in)"
            return Reply(400, message.encode(), "text/plain; charset=utf-8")
        self.count("served")
        logger.info("report %s served as %s (%d rows)", key[2], format, len(report.rows))
        if format == "json":
            return Reply.json(200, {RECORDS_KEY: report.rows})
        content = report.csv if report.csv is not None else rows_to_csv(report.rows)
        return Reply(200, content, _CSV)

    # -- the token endpoint ----------------------------------------------------------------

    def serve_token(self, tenant: str, fields: Mapping[str, str]) -> Reply:
        """Client credentials: ``grant_type``, ``client_id`` and ``client_secret`` in the form."""
        if tenant != self.tenant:
            return Reply.json(404, {"error": "invalid_request", "error_description": "no tenant"})
        if fields.get("grant_type") != "client_credentials":
            return Reply.json(400, {"error": "unsupported_grant_type"})
        with self._lock:
            expected = self._clients.get(fields.get("client_id", ""))
        given = fields.get("client_secret", "")
        if expected is None or not hmac.compare_digest(given.encode(), expected.encode()):
            logger.info("token request refused: unknown client or wrong secret")
            return Reply.json(401, {"error": "invalid_client"})
        token = "report." + secrets.token_urlsafe(24)
        with self._lock:
            self._issued.add(token)
            self._counts["issued"] += 1
        return Reply.json(
            200,
            {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime},
        )

    # -- faults and control ----------------------------------------------------------------

    def default_fault_body(self, endpoint: str, fault: Fault, handler: StandInHandler) -> Any:
        return {"error": f"{fault.status} (injected)"}

    def serve_control(self, method: str, path: str, body: bytes) -> Reply:
        """``GET /_standin/state``; ``POST /_standin/faults``; ``PUT
        /_standin/reports/{tenant}/{owner}/{report}`` with ``{"rows": [...]}`` and/or
        ``{"csv": "..."}``."""
        try:
            if path == "/_standin/state" and method == "GET":
                return Reply.json(200, self.state())
            if path == "/_standin/faults" and method == "POST":
                self.apply_control(json.loads(body or b"{}"))
                return Reply.json(200, self.state())
            match = _CONTROL_REPORT.match(path)
            if match and method == "PUT":
                tenant, owner, report = (unquote(p) for p in match.groups())
                document = json.loads(body or b"{}")
                if not isinstance(document, dict) or set(document) - {"rows", "csv"}:
                    raise ValueError('expected {"rows": [...], "csv": "..."}')
                rows = document.get("rows") or []
                if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                    raise ValueError("'rows' must be a list of objects")
                self.set_report(report, rows, csv=document.get("csv"), owner=owner, tenant=tenant)
                return Reply.json(200, {"url": self._url((tenant, owner, report))})
        except ValueError as exc:
            return Reply.json(400, {"error": str(exc)})
        return Reply.json(404, {"error": f"no control endpoint {method} {path}"})


def _read_rows(path: Path) -> tuple[list[dict[str, Any]], bytes]:
    raw = path.read_bytes()
    reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline=""))
    return [dict(row) for row in reader], raw


# --------------------------------------------------------------------------------------------
# `hrupload dev report`
# --------------------------------------------------------------------------------------------


@click.command("report")
@click.option(
    "--port",
    type=int,
    default=DEFAULT_PORT,
    show_default=True,
    help="Port on 127.0.0.1 (0 picks a free one).",
)
@click.option("--tenant", default=DEMO_TENANT, show_default=True, help="Workday tenant name.")
@click.option("--owner", default=DEMO_OWNER, show_default=True, help="The report's owner.")
@click.option("--report", "report_name", default=DEMO_REPORT, show_default=True)
@click.option("--username", default=DEMO_OWNER, show_default=True, help="Basic auth user.")
@click.option(
    "--password",
    envvar="HRUPLOAD_REPORT_PASSWORD",
    default=None,
    help="Password the stand-in accepts. [default: a generated one; env: HRUPLOAD_REPORT_PASSWORD]",
)
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Serve this CSV (format=csv as is, format=json as its rows). [default: an empty report]",
)
@click.option(
    "--latency-ms", type=float, default=0.0, show_default=True, help="Added to every request."
)
def report_command(
    port: int,
    tenant: str,
    owner: str,
    report_name: str,
    username: str,
    password: str | None,
    csv_file: Path | None,
    latency_ms: float,
) -> None:
    """Run a local stand-in for an HR system's report URL (shaped like Workday RaaS).

    It is not Workday: it accepts only the user and password it prints.
    """
    generated = not password
    secret = secrets.token_urlsafe(24) if generated else str(password)
    standin = ReportStandIn(
        tenant=tenant, users={username: secret}, latency=latency_ms / 1000, port=port
    )
    rows, raw = _read_rows(csv_file) if csv_file is not None else ([], None)
    standin.set_report(report_name, rows, csv=raw, owner=owner)

    def banner() -> None:
        click.echo(f"HR report stand-in (local, not Workday) listening on {standin.url}")
        for format in FORMATS:
            click.echo(f"  {format + ':':5} GET {standin.report_url(format=format)}")
        click.echo(f"  basic auth user: {username}")
        print_secret(
            "HRUPLOAD_REPORT_PASSWORD",
            secret if generated else None,
            "--password or HRUPLOAD_REPORT_PASSWORD",
        )
        entry = standin.source("CONNECTOR")
        entry["auth"]["secret_env"] = "HRUPLOAD_REPORT_PASSWORD"  # noqa: S105 - a name
        click.echo(f"  source: {json.dumps(entry)}")
        click.echo("Press Ctrl-C to stop.")

    serve_until_interrupted(standin, port, banner)


def main(argv: list[str] | None = None) -> None:
    """``python -m hrupload_dev.report``: the same command without the ``hrupload`` CLI."""
    report_command.main(args=argv, prog_name="hrupload dev report")


if __name__ == "__main__":
    main()
