"""A local stand-in for the Purview HR connector: its token endpoint and its ingestion endpoint.

Microsoft ships no emulator for the HR connector, and a mock that patches ``requests`` would
only test our idea of the service. So tests and the demo talk to this real HTTP server on
loopback, which implements the documented contract and nothing more:

* ``POST /{tenant}/oauth2/token`` (Entra ID v1 client credentials, with a client secret or a
  certificate-signed client assertion), answering with the real AADSTS error codes;
* ``POST /api/signals?jobid=...`` (one ``file`` part of multipart/form-data, a bearer token
  from the token endpoint, a job that belongs to the app that got the token).

It can also misbehave on purpose (a queue of faults: HTTP statuses with ``Retry-After`` or an
odd reason phrase, dropped or reset connections, delays, uploads accepted but never answered,
redirects elsewhere, a proxy's HTML sign-in page, refusals that quote the request's token or
secret back) so the client's retry, resume, classification and redaction are tested against
the failures a hostile network will produce. With a ``Capacity`` it behaves as a service
under load: at most K uploads served at once, the rest answered 429 with ``Retry-After``.
Tests in other processes drive it through ``/_standin/...`` control endpoints, which are
unauthenticated: loopback only.

It never logs secrets, tokens or file contents (the files hold employees' e-mail addresses).
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import html
import io
import json
import logging
import re
import secrets
import shlex
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from email.message import Message
from email.parser import Parser
from email.policy import HTTP
from email.utils import collapse_rfc2231_value
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, Literal, Self
from urllib.parse import parse_qs, urlsplit

import click

from hrupload_dev.entra import (
    SECRET_FIELDS,
    AadError,
    ClientApps,
    check_resource,
    form_fields,
    redacted,
)

logger = logging.getLogger(__name__)

#: The HR connector's resource (audience) in every Microsoft cloud's token request.
PURVIEW_RESOURCE = "https://microsoft.onmicrosoft.com/86dfdabb-5089-4a0c-880a-cfa5a790c5b1"
#: The service's exact answer when the job ID belongs to another app.
JOB_APP_MISMATCH = "jobId and corresponding appId do not match."

DEMO_TENANT_ID = "00000000-0000-0000-0000-000000000001"
DEMO_APP_ID = "11111111-1111-1111-1111-111111111111"
DEMO_JOB_ID = "22222222-2222-2222-2222-222222222222"
DEFAULT_PORT = 8400

_JSON = "application/json; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"
_HTML = "text/html; charset=utf-8"
_LINGER_ZERO = struct.pack("ii", 1, 0)


# --------------------------------------------------------------------------------------------
# Faults: shared by every stand-in (the Key Vault stand-in imports them from here).
# --------------------------------------------------------------------------------------------

FaultKind = Literal[
    "status", "drop", "delay", "accept-then-drop", "redirect", "html", "reset", "echo"
]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "status",
    "drop",
    "delay",
    "accept-then-drop",
    "redirect",
    "html",
    "reset",
    "echo",
)
#: The kinds answered with a complete HTTP reply (built by ``LoopbackStandIn.fault_reply``).
REPLY_KINDS = frozenset({"status", "redirect", "html", "echo"})
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
_FAULT_FIELDS = frozenset(
    {"kind", "status", "retry_after", "body", "content_type", "seconds", "location", "reason"}
)

#: What a corporate proxy or captive portal answers instead of the service: an HTML sign-in
#: page, often with 200, so a client that only looks at the status thinks it got through.
PROXY_LOGIN_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Sign in - Contoso Web Gateway</title></head>\n"
    "<body><h1>Authentication required</h1>\n"
    "<p>Your organisation requires you to sign in before browsing.</p>\n"
    '<form method="post" action="http://proxy.contoso.example/login">'
    '<input name="username"><input name="password" type="password">'
    '<button type="submit">Sign in</button></form>\n</body></html>\n'
)


@dataclass(frozen=True)
class Fault:
    """One misbehaviour, consumed by exactly one request to the endpoint it was queued for.

    Build one with :meth:`http`, :meth:`drop`, :meth:`delay`, :meth:`accept_then_drop`,
    :meth:`redirect`, :meth:`html`, :meth:`reset` or :meth:`echo`; :meth:`from_json` reads
    the same thing from the control endpoint's JSON.
    """

    kind: FaultKind
    status: int = 0
    retry_after: str | None = None
    #: None: the stand-in writes a body in the service's own error format for ``status``.
    body: bytes | None = field(default=None, repr=False)
    content_type: str | None = None
    seconds: float = 0.0
    #: Where a redirect points (another host: a proxy, a typo'd URL, an attacker).
    location: str | None = None
    #: The HTTP reason phrase instead of the standard one (some gateways put the error there).
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {FAULT_KINDS}")
        if self.kind in REPLY_KINDS and not 100 <= self.status <= 599:
            raise ValueError(f"a {self.kind} fault needs an HTTP status, got {self.status!r}")
        if self.kind == "redirect":
            if self.status not in REDIRECT_STATUSES:
                raise ValueError(f"a redirect needs one of {REDIRECT_STATUSES}, got {self.status}")
            if not self.location:
                raise ValueError("a redirect needs a 'location'")
        elif self.location is not None:
            raise ValueError("only a redirect has a 'location'")
        if self.reason is not None and ("\r" in self.reason or "\n" in self.reason):
            raise ValueError("a reason phrase cannot hold a line break")
        if self.seconds < 0:
            raise ValueError("a delay cannot be negative")

    @classmethod
    def http(
        cls,
        status: int,
        *,
        retry_after: float | str | None = None,
        body: bytes | str | Mapping[str, Any] | list[Any] | None = None,
        content_type: str | None = None,
        reason: str | None = None,
    ) -> Fault:
        """Answer with ``status`` (and ``Retry-After`` if given) instead of serving the request.

        ``reason`` replaces the reason phrase of the status line (e.g. the job/app mismatch,
        which the service has been seen to send there with an empty body).
        """
        raw, content_type = _raw_body(body, content_type)
        return cls(
            "status",
            status=status,
            retry_after=_retry_after(retry_after),
            body=raw,
            content_type=content_type,
            reason=reason,
        )

    @classmethod
    def redirect(cls, location: str, status: int = 307) -> Fault:
        """Answer ``status`` with ``Location: location``: a proxy or a mistyped URL sending
        the client elsewhere. 307/308 ask the client to repeat the POST, body and all."""
        return cls("redirect", status=status, location=location)

    @classmethod
    def html(
        cls, status: int = 200, *, body: bytes | str | None = None, reason: str | None = None
    ) -> Fault:
        """Answer an HTML page (by default a proxy's sign-in page) instead of the service's
        JSON; with 200 it looks like success to a client that only reads the status."""
        raw, _ = _raw_body(PROXY_LOGIN_PAGE if body is None else body, None)
        return cls("html", status=status, body=raw, content_type=_HTML, reason=reason)

    @classmethod
    def drop(cls) -> Fault:
        """Read the request, then close the connection without a single byte of answer."""
        return cls("drop")

    @classmethod
    def reset(cls) -> Fault:
        """Read the request, then reset the connection (TCP RST, no FIN, no answer): what a
        firewall or a crashing load balancer does."""
        return cls("reset")

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait ``seconds``, then serve the request normally (to trip client timeouts).

        The request is processed when the wait ends even if the client gave up: an upload
        under a delay is stored late, like a slow service would; use ``wait_for_uploads``.
        """
        return cls("delay", seconds=float(seconds))

    @classmethod
    def accept_then_drop(cls) -> Fault:
        """Serve the request (an upload is stored), then close without answering.

        The case a resuming client must get right: the service has the chunk, the client
        does not know it.
        """
        return cls("accept-then-drop")

    @classmethod
    def echo(cls, status: int = 401) -> Fault:
        """Refuse with ``status`` and a body that quotes the request's credentials back: its
        bearer token, its ``client_secret`` or ``client_assertion`` (decoded and as sent), and
        a JWT made from them, as a debugging gateway or a careless service might. Every value
        quoted is recorded in the stand-in's ``echoed``, so a test knows what must not leak."""
        return cls("echo", status=status)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        """Read a fault from JSON: ``{"status": 503, "retry_after": 2}``, ``{"kind": "drop"}``,
        ``{"kind": "delay", "seconds": 1.5}``, ``{"kind": "accept-then-drop"}``,
        ``{"kind": "redirect", "status": 302, "location": "http://evil.example/"}``,
        ``{"kind": "html", "status": 403}``, ``{"kind": "reset"}``, ``{"kind": "echo",
        "status": 401}``, ``{"status": 403, "reason": "...", "body": ""}``."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a fault must be a JSON object, got {data!r}")
        unknown = set(data) - _FAULT_FIELDS
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        kind = data.get("kind") or ("status" if "status" in data else None)
        status = data.get("status")
        if status is not None and not isinstance(status, int):
            raise ValueError("'status' must be an integer")
        reason = data.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise ValueError("'reason' must be a string")
        if kind == "status":
            if status is None:
                raise ValueError("a status fault needs an integer 'status'")
            return cls.http(
                status,
                retry_after=data.get("retry_after"),
                body=data.get("body"),
                content_type=data.get("content_type"),
                reason=reason,
            )
        if kind == "redirect":
            location = data.get("location")
            if not isinstance(location, str):
                raise ValueError("a redirect fault needs a string 'location'")
            return cls.redirect(location, 307 if status is None else status)
        if kind == "html":
            body = data.get("body")
            if body is not None and not isinstance(body, str):
                raise ValueError("an html fault's 'body' must be a string")
            return cls.html(200 if status is None else status, body=body, reason=reason)
        if kind == "echo":
            return cls.echo(401 if status is None else status)
        if kind == "delay":
            seconds = data.get("seconds")
            if not isinstance(seconds, int | float):
                raise ValueError("a delay fault needs a number 'seconds'")
            return cls.delay(seconds)
        if kind in ("drop", "accept-then-drop", "reset"):
            return cls(kind)
        raise ValueError(f"unknown fault kind {kind!r}; use one of {FAULT_KINDS}")

    def to_json(self) -> dict[str, Any]:
        """The fault as the control endpoint reports it (the body is left out)."""
        data: dict[str, Any] = {"kind": self.kind}
        if self.kind in REPLY_KINDS:
            data["status"] = self.status
        if self.retry_after is not None:
            data["retry_after"] = self.retry_after
        if self.location is not None:
            data["location"] = self.location
        if self.reason is not None:
            data["reason"] = self.reason
        if self.kind == "delay":
            data["seconds"] = self.seconds
        return data


def _raw_body(
    body: bytes | str | Mapping[str, Any] | list[Any] | None, content_type: str | None
) -> tuple[bytes | None, str | None]:
    if isinstance(body, Mapping | list):
        return json.dumps(body).encode(), content_type or _JSON
    if isinstance(body, str):
        return body.encode(), content_type or _TEXT
    return body, content_type


def _retry_after(value: float | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)


# --------------------------------------------------------------------------------------------
# The HTTP plumbing shared by the stand-ins.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A complete HTTP answer, built by the stand-in's logic and written by its handler."""

    status: int
    body: bytes = b""
    content_type: str = _JSON
    headers: tuple[tuple[str, str], ...] = ()
    #: The status line's reason phrase; None: the standard one for ``status``.
    reason: str | None = None

    @classmethod
    def json(cls, status: int, data: Any, headers: Iterable[tuple[str, str]] = ()) -> Reply:
        return cls(status, json.dumps(data).encode(), _JSON, tuple(headers))


class BodyError(Exception):
    """The request body could not be read as HTTP says it should be."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Server(ThreadingHTTPServer):
    """A threading server that can stop promptly and, when given a context, speak TLS.

    The TLS handshake happens on the connection's own thread, so one slow client cannot
    stall ``accept()`` for the others.
    """

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        owner: LoopbackStandIn,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.owner = owner
        self.ssl_context = ssl_context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can hang without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        self._track(request)
        try:
            if self.ssl_context is not None:
                request.settimeout(10)
                try:
                    tls = self.ssl_context.wrap_socket(request, server_side=True)
                except (OSError, ValueError) as exc:
                    logger.debug("TLS handshake with %s failed: %s", client_address, exc)
                    return
                self._untrack(request)
                request = tls
                self._track(request)
            super().process_request_thread(request, client_address)
        finally:
            self._untrack(request)
            self.shutdown_request(request)

    def _track(self, sock: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(sock)

    def close_connections(self) -> None:
        """End kept-alive connections so their threads do not outlive the server."""
        with self._connections_lock:
            connections = list(self._connections)
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError | ssl.SSLError | BodyError) or (
            self.owner.stopping
        ):
            logger.debug("connection from %s ended: %r", client_address, exc)
        else:
            logger.exception("stand-in request handler failed")


class StandInHandler(BaseHTTPRequestHandler):
    """Request plumbing every stand-in shares: bodies, replies, dropped connections, faults."""

    protocol_version = "HTTP/1.1"  # keep-alive, like the real services and our clients
    timeout = 30  # an idle kept-alive connection gives its thread back
    max_body = 256 * 1024 * 1024
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        # The request line holds paths and job ids only; still, keep it out of test output.
        logger.debug("%s " + format, self.address_string(), *args)

    @property
    def owner(self) -> Any:
        return self.server.owner

    def read_body(self) -> bytes:
        """The whole request body, so every answer (even a fault) leaves the connection clean."""
        encoding = self.headers.get("Transfer-Encoding", "").strip().lower()
        if encoding:
            if encoding != "chunked":
                raise BodyError(400, f"unsupported Transfer-Encoding {encoding!r}")
            return self._read_chunked()
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
            if length < 0:
                raise ValueError
        except ValueError:
            raise BodyError(400, f"invalid Content-Length {raw!r}") from None
        if length > self.max_body:
            raise BodyError(413, f"request body of {length} bytes is too large")
        data = self.rfile.read(length)
        if len(data) != length:
            raise ConnectionError("client closed the connection in the middle of the body")
        return data

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BodyError(400, "malformed chunk size") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > self.max_body:
                raise BodyError(413, "chunked request body is too large")
            chunk = self.rfile.read(size)
            if len(chunk) != size or self.rfile.read(2) != b"\r\n":
                raise ConnectionError("client closed the connection in the middle of a chunk")
            chunks.append(chunk)

    def read_body_or_reply(self) -> bytes | None:
        """The body, or None after answering a body the stand-in could not read."""
        try:
            return self.read_body()
        except BodyError as exc:
            self.close_connection = True
            self.send_reply(Reply.json(exc.status, {"error": {"message": str(exc)}}))
            return None

    def send_reply(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status, reply.reason)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(reply.body)
        except (ConnectionError, ssl.SSLError) as exc:
            # The client gave up (a timeout under a delay fault): nobody is left to tell.
            logger.debug("client left before the answer: %r", exc)
            self.close_connection = True

    def drop_connection(self) -> None:
        """Close without answering; the server shuts the socket when the handler returns."""
        self.close_connection = True

    def reset_connection(self) -> None:
        """Close with a TCP reset: linger 0 makes ``close()`` send RST instead of FIN."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
            self.connection.close()

    def serve_with_faults(self, endpoint: str, body: bytes, serve: Callable[[bool], Reply]) -> None:
        """Apply the latency and the next queued fault, then (unless faulted) ``serve``.

        ``serve`` receives whether its answer is going to be lost, so it can record that.
        """
        owner: LoopbackStandIn = self.owner
        if owner.latency and not owner.pause(owner.latency):
            return self.drop_connection()
        fault = owner.take_fault(endpoint)
        if fault is not None:
            logger.info("stand-in fault on %s: %s", endpoint, fault.to_json())
            if fault.kind in REPLY_KINDS:
                return self.send_reply(owner.fault_reply(endpoint, fault, self, body))
            if fault.kind == "drop":
                return self.drop_connection()
            if fault.kind == "reset":
                return self.reset_connection()
            if fault.kind == "delay" and not owner.pause(fault.seconds):
                return self.drop_connection()
        answer_lost = fault is not None and fault.kind == "accept-then-drop"
        reply = serve(answer_lost)
        if answer_lost:
            return self.drop_connection()
        return self.send_reply(reply)


class DispatchingHandler(StandInHandler):
    """A stand-in that answers every method in one place: ``serve(method)``."""

    def serve(self, method: str) -> None:
        raise NotImplementedError

    def do_GET(self) -> None:
        self.serve("GET")

    def do_POST(self) -> None:
        self.serve("POST")

    def do_PUT(self) -> None:
        self.serve("PUT")

    def do_PATCH(self) -> None:
        self.serve("PATCH")

    def do_DELETE(self) -> None:
        self.serve("DELETE")


class LoopbackStandIn:
    """Lifecycle, fault queues and latency shared by the stand-ins.

    Subclasses name their handler, their fault endpoints and (for HTTPS) an SSL context.
    """

    handler_class: ClassVar[type[StandInHandler]]
    fault_endpoints: ClassVar[tuple[str, ...]]
    scheme: ClassVar[str] = "http"

    def __init__(self, *, host: str, port: int, latency: float = 0.0) -> None:
        self.host = host
        self._requested_port = port
        #: Seconds added to every API request (not the control endpoints); for benchmarks.
        self.latency = latency
        self._lock = threading.RLock()
        self._faults: dict[str, deque[Fault]] = {name: deque() for name in self.fault_endpoints}
        #: Every credential an echo fault quoted back (tests' needles: none may leak).
        self.echoed: list[str] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext | None:
        return None

    def start(self) -> Self:
        """Listen and serve on a daemon thread; returns self so ``with X(...).start()`` reads."""
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already running at {self.url}")
        self._stopping.clear()
        server = _Server(
            (self.host, self._requested_port), self.handler_class, self, self._ssl_context()
        )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},  # stop() waits for one poll
            name=f"{type(self).__name__}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.debug("%s listening on %s", type(self).__name__, self.url)
        return self

    def stop(self) -> None:
        """Stop accepting, wake delayed requests and end open connections."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running: call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def pause(self, seconds: float) -> bool:
        """Sleep, unless the stand-in stops first; False means it is stopping."""
        return not self._stopping.wait(seconds)

    # -- faults ----------------------------------------------------------------------------

    def add_faults(self, *faults: Fault | Mapping[str, Any], endpoint: str | None = None) -> None:
        """Queue faults for ``endpoint`` (default: the first one); one is used per request."""
        name = endpoint or self.fault_endpoints[0]
        if name not in self._faults:
            raise ValueError(f"unknown endpoint {name!r}; use one of {self.fault_endpoints}")
        parsed = [f if isinstance(f, Fault) else Fault.from_json(f) for f in faults]
        for fault in parsed:
            self._check_fault(name, fault)
        with self._lock:
            self._faults[name].extend(parsed)

    def _check_fault(self, endpoint: str, fault: Fault) -> None:
        """Subclasses refuse faults that make no sense for them."""

    def clear_faults(self, endpoint: str | None = None) -> None:
        with self._lock:
            for name, queue in self._faults.items():
                if endpoint in (None, name):
                    queue.clear()

    def pending_faults(self, endpoint: str | None = None) -> list[Fault]:
        with self._lock:
            return list(self._faults[endpoint or self.fault_endpoints[0]])

    def take_fault(self, endpoint: str) -> Fault | None:
        with self._lock:
            queue = self._faults[endpoint]
            return queue.popleft() if queue else None

    def fault_reply(
        self, endpoint: str, fault: Fault, handler: StandInHandler, body: bytes = b""
    ) -> Reply:
        """The answer to a fault that answers (status, redirect, html, echo), in the
        service's own error format unless the fault gives a body. ``body`` is the request's."""
        headers: list[tuple[str, str]] = []
        if fault.retry_after is not None:
            headers.append(("Retry-After", fault.retry_after))
        if fault.location is not None:
            headers.append(("Location", fault.location))
        if fault.kind == "echo":
            document = self.echo_body(endpoint, fault, self.echo_values(handler, body))
            reply = Reply.json(fault.status, document, headers)
        elif fault.body is not None:
            reply = Reply(fault.status, fault.body, fault.content_type or _TEXT, tuple(headers))
        elif fault.kind == "redirect":
            href = html.escape(fault.location or "")
            page = f'<html><body>Moved to <a href="{href}">here</a>.</body></html>'
            reply = Reply(fault.status, page.encode(), _HTML, tuple(headers))
        else:
            document = self.default_fault_body(endpoint, fault, handler)
            reply = Reply.json(fault.status, document, headers)
        return replace(reply, reason=fault.reason)

    def echo_values(self, handler: StandInHandler, body: bytes) -> dict[str, str]:
        """The credentials a request carried, as an echo fault quotes them (and records
        them in :attr:`echoed`): the Authorization header, the form's ``client_secret`` and
        ``client_assertion`` decoded and as sent, and a JWT that wraps them."""
        values: dict[str, str] = {}
        authorization = handler.headers.get("Authorization", "").strip()
        if authorization:
            values["authorization"] = authorization
        if handler.headers.get_content_type() == "application/x-www-form-urlencoded":
            text = body.decode("utf-8", "replace")
            fields = parse_qs(text, keep_blank_values=True)
            for name in sorted(SECRET_FIELDS):
                if fields.get(name):
                    values[name] = fields[name][0]
            if any(name in values for name in SECRET_FIELDS):
                values["request_body"] = text
        values["jwt"] = _fake_jwt({"echo": sorted(values), "jti": secrets.token_urlsafe(12)})
        with self._lock:
            self.echoed.extend(values.values())
        return values

    def echo_body(self, endpoint: str, fault: Fault, values: Mapping[str, str]) -> Any:
        """The error document of an echo fault; subclasses write it in their service's form."""
        quoted = "; ".join(f"{name}={value}" for name, value in values.items())
        return {
            "error": {
                "code": _phrase(fault.status).replace(" ", ""),
                "message": f"The request was refused (injected). Request details: {quoted}",
            }
        }

    def default_fault_body(self, endpoint: str, fault: Fault, handler: StandInHandler) -> Any:
        phrase = _phrase(fault.status)
        return {"error": {"code": phrase.replace(" ", ""), "message": f"{phrase} (injected)"}}

    def fault_state(self) -> dict[str, Any]:
        with self._lock:
            pending = {name: [f.to_json() for f in q] for name, q in self._faults.items()}
        return {"pending": pending, "latency": self.latency}

    def apply_control(self, data: Any) -> None:
        """Apply a control document: ``{"clear": true, "<endpoint>": [faults], "latency": s}``.

        Everything is checked before anything changes, so a bad document changes nothing.
        """
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        unknown = set(data) - {"clear", "latency", *self.fault_endpoints}
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        queued: dict[str, list[Fault]] = {}
        for name in self.fault_endpoints:
            items = data.get(name, [])
            if not isinstance(items, list):
                raise ValueError(f"{name!r} must be a list of faults")
            queued[name] = [Fault.from_json(item) for item in items]
            for fault in queued[name]:
                self._check_fault(name, fault)
        latency = data.get("latency", self.latency)
        if not isinstance(latency, int | float) or latency < 0:
            raise ValueError("'latency' must be a non-negative number of seconds")
        if data.get("clear"):
            self.clear_faults()
        for name, faults in queued.items():
            self.add_faults(*faults, endpoint=name)
        self.latency = float(latency)


def _fake_jwt(claims: Mapping[str, Any]) -> str:
    """A JWT-shaped string (header.claims.signature, base64url): what a real access token or
    client assertion looks like, so a redaction that only knows our own tokens is caught."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    return f"{header}.{part(json.dumps(dict(claims)).encode())}.{part(secrets.token_bytes(64))}"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# --------------------------------------------------------------------------------------------
# multipart/form-data
# --------------------------------------------------------------------------------------------


class MultipartError(ValueError):
    """The body is not the multipart/form-data its Content-Type announced."""


@dataclass(frozen=True)
class FormPart:
    name: str | None
    filename: str | None
    content_type: str | None
    content: bytes = field(repr=False)


def parse_multipart(body: bytes, content_type: str) -> list[FormPart]:
    """Split a multipart/form-data body into its parts, each part's bytes exactly as sent.

    A small byte-level parser rather than the ``email`` package: that parser works on lines of
    text and re-joins them, while the file part must come back byte for byte (CRLF and bare LF,
    a trailing CR, quoted newlines, UTF-8) and quickly for a few MB.
    """
    header = Message()
    header["Content-Type"] = content_type
    if not content_type or header.get_content_type() != "multipart/form-data":
        raise MultipartError(f"Content-Type must be multipart/form-data, got {content_type!r}")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise MultipartError("Content-Type has no boundary parameter")
    delimiter = b"--" + boundary.encode("latin-1")
    if body.startswith(delimiter):
        pos = len(delimiter)
    else:  # a preamble: the first delimiter then follows a CRLF like the others
        found = body.find(b"\r\n" + delimiter)
        if found < 0:
            raise MultipartError("the body does not contain the boundary")
        pos = found + 2 + len(delimiter)
    parts: list[FormPart] = []
    while True:
        if body.startswith(b"--", pos):  # the close delimiter; any epilogue is ignored
            return parts
        line_end = body.find(b"\r\n", pos)
        if line_end < 0 or body[pos:line_end].strip(b" \t"):
            raise MultipartError("malformed boundary line")
        start = line_end + 2
        end = body.find(b"\r\n" + delimiter, start)
        if end < 0:
            raise MultipartError("the body ends before the closing boundary")
        parts.append(_parse_part(body[start:end]))
        pos = end + 2 + len(delimiter)


def _parse_part(raw: bytes) -> FormPart:
    if raw.startswith(b"\r\n"):
        head, content = b"", raw[2:]
    else:
        split = raw.find(b"\r\n\r\n")
        if split < 0:
            raise MultipartError("a part has no blank line after its headers")
        head, content = raw[:split], raw[split + 4 :]
    headers = Parser(policy=HTTP).parsestr(head.decode("utf-8", "replace") + "\r\n\r\n", True)
    if headers.get_content_disposition() != "form-data":
        raise MultipartError("a part has no 'Content-Disposition: form-data' header")
    name = headers.get_param("name", header="content-disposition")
    return FormPart(
        name=collapse_rfc2231_value(name) if name is not None else None,  # type: ignore[arg-type]
        filename=headers.get_filename(),
        content_type=headers.get("Content-Type"),
        content=content,
    )


def count_records(content: bytes) -> int | None:
    """Rows after the header, read as CSV (a quoted newline stays inside its record)."""
    try:
        reader = csv.reader(io.StringIO(content.decode("utf-8-sig", "replace"), newline=""))
        rows = sum(1 for row in reader if row)
    except csv.Error:
        return None
    return max(rows - 1, 0)


# --------------------------------------------------------------------------------------------
# The connector stand-in
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """One file the ingestion endpoint accepted."""

    seq: int
    job_id: str
    app_id: str
    filename: str
    #: The file's bytes exactly as received; empty when the stand-in keeps no content.
    content: bytes = field(repr=False)  # personal data: keep it out of test failure output
    size: int
    received_at: float
    records: int | None
    sha256: str
    #: True for an accept-then-drop fault: stored, but the client never got the answer.
    answer_dropped: bool = False

    def metadata(self) -> dict[str, Any]:
        """Everything but the content, as the control endpoint reports it."""
        return {
            "seq": self.seq,
            "job": self.job_id,
            "app": self.app_id,
            "filename": self.filename,
            "size": self.size,
            "records": self.records,
            "sha256": self.sha256,
            "received_at": self.received_at,
            "answer_dropped": self.answer_dropped,
        }


@dataclass(frozen=True)
class TokenRequest:
    """One request to the token endpoint, with ``client_secret``/``client_assertion`` redacted."""

    tenant: str
    api_version: str | None
    content_type: str
    fields: Mapping[str, str]
    #: ``"issued"`` or the AADSTS code of the refusal, e.g. ``"AADSTS7000215"``.
    outcome: str
    received_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "api_version": self.api_version,
            "content_type": self.content_type,
            "fields": dict(self.fields),
            "outcome": self.outcome,
            "received_at": self.received_at,
        }


@dataclass(frozen=True)
class _IssuedToken:
    app_id: str
    expires_at: float


_TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/token/?$")


@dataclass(frozen=True)
class Capacity:
    """An overloaded service's limit: at most ``limit`` uploads served at once (each for the
    stand-in's latency, its service time); the rest answered 429 at once with ``Retry-After``.

    JSON (constructor or control endpoint): ``{"limit": 4, "retry_after": 1}``.
    """

    limit: int
    retry_after: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.limit, int) or isinstance(self.limit, bool) or self.limit < 1:
            raise ValueError(f"a capacity 'limit' must be a positive integer, got {self.limit!r}")
        if not isinstance(self.retry_after, int | float) or self.retry_after < 0:
            raise ValueError("a capacity 'retry_after' must be a non-negative number of seconds")

    @classmethod
    def from_json(cls, data: Any) -> Capacity | None:
        """``None`` (no limit) or ``{"limit": K, "retry_after": s}``."""
        if data is None:
            return None
        if not isinstance(data, dict):
            raise ValueError(f"'capacity' must be null or a JSON object, got {data!r}")
        unknown = set(data) - {"limit", "retry_after"}
        if unknown:
            raise ValueError(f"unknown capacity field(s): {', '.join(sorted(unknown))}")
        return cls(data.get("limit"), data.get("retry_after", 1.0))  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return {"limit": self.limit, "retry_after": self.retry_after}


class _Load:
    """Ingestion requests in flight, the peak, and the capacity refusals (seconds after the
    first ingestion request), under the stand-in's lock."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.serving = 0
        self.peak_in_flight = 0
        self.first_at: float | None = None
        self.refused_at: list[float] = []

    def reset(self) -> None:
        """Start counting afresh; requests still in flight stay counted until they end."""
        self.peak_in_flight = self.in_flight
        self.first_at = None
        self.refused_at = []

    def to_json(self) -> dict[str, Any]:
        return {
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "refused": len(self.refused_at),
            "refused_at": [round(t, 3) for t in self.refused_at],
        }


class _ConnectorHandler(StandInHandler):
    server_version = "hrupload-connector-standin"

    def do_GET(self) -> None:
        owner: ConnectorStandIn = self.owner
        path = urlsplit(self.path).path
        if path == "/_standin/uploads":
            self.send_reply(Reply.json(200, [u.metadata() for u in owner.uploads]))
        elif path == "/_standin/faults":
            self.send_reply(Reply.json(200, owner.fault_state()))
        elif path == "/_standin/token-requests":
            self.send_reply(Reply.json(200, [r.to_json() for r in owner.token_requests]))
        else:
            self.send_reply(Reply.json(404, {"error": {"code": "NotFound", "message": path}}))

    def do_POST(self) -> None:
        owner: ConnectorStandIn = self.owner
        target = urlsplit(self.path)
        body = self.read_body_or_reply()
        if body is None:
            return
        query = parse_qs(target.query, keep_blank_values=True)
        token_path = _TOKEN_PATH.match(target.path)
        if target.path == "/api/signals":
            with owner.admitted() as admitted:
                if not admitted:
                    return self.send_reply(owner.capacity_reply())
                self.serve_with_faults(
                    "ingestion",
                    body,
                    lambda lost: owner.serve_ingestion(self.headers, query, body, lost),
                )
        elif token_path:
            tenant = token_path.group(1)
            host = self.headers.get("Host", "")
            self.serve_with_faults(
                "token", body, lambda _: owner.serve_token(tenant, self.headers, query, body, host)
            )
        elif target.path == "/_standin/faults":
            self.send_reply(owner.serve_control(body))
        else:
            self.send_reply(
                Reply.json(404, {"error": {"code": "NotFound", "message": target.path}})
            )


class ConnectorStandIn(LoopbackStandIn):
    """The token and ingestion endpoints of the HR connector, on one loopback HTTP server.

    ``apps`` maps app ids to client secrets, ``certificates`` maps app ids to PEM certificates
    whose keys sign client assertions, and ``jobs`` maps each job id to the app it belongs to.
    ``.url`` serves both the token path and ``/api/signals``, so it is both
    ``HRUPLOAD_LOGIN_URL`` and ``HRUPLOAD_INGESTION_URL``.
    """

    handler_class = _ConnectorHandler
    fault_endpoints = ("ingestion", "token")

    def __init__(
        self,
        *,
        tenant_id: str,
        apps: Mapping[str, str] | None = None,
        certificates: Mapping[str, bytes | str] | None = None,
        jobs: Mapping[str, str] | None = None,
        out_dir: str | Path | None = None,
        latency: float = 0.0,
        token_lifetime: int = 3600,
        keep_content: bool = True,
        capacity: Capacity | Mapping[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, latency=latency)
        self.tenant_id = tenant_id
        #: None: every upload is served; else at most ``capacity.limit`` at once (429s).
        self.capacity = (
            capacity if not isinstance(capacity, Mapping) else Capacity.from_json(dict(capacity))
        )
        self._load = _Load()
        #: False keeps only metadata in memory (long demo runs; the files are in ``out_dir``).
        self.keep_content = keep_content
        self.token_lifetime = token_lifetime
        self.out_dir = Path(out_dir) if out_dir is not None else None
        #: The app registrations the token endpoint knows (shared logic: hrupload_dev.entra).
        self.apps = ClientApps(tenant_id)
        for app_id, secret in (apps or {}).items():
            self.set_app_secret(app_id, secret)
        for app_id, pem in (certificates or {}).items():
            self.add_certificate(app_id, pem)
        self._jobs = {job.lower(): app for job, app in (jobs or {}).items()}
        self._job_order = list(jobs or {})
        self._tokens: dict[str, _IssuedToken] = {}
        self._uploads: list[Upload] = []
        self._token_requests: list[TokenRequest] = []
        self._seq = 0
        self._received = threading.Condition(self._lock)

    # -- configuration ---------------------------------------------------------------------

    def set_app_secret(self, app_id: str, secret: str) -> None:
        """Register an app or rotate its secret (the old secret stops working at once)."""
        self.apps.set_secret(app_id, secret)

    def add_certificate(self, app_id: str, pem: bytes | str) -> str:
        """Trust ``pem``'s key for ``app_id``'s client assertions; returns the base64url x5t."""
        return self.apps.add_certificate(app_id, pem)

    @property
    def last_assertion(self) -> dict[str, Any] | None:
        """Header and claims of the last client assertion (decoded, even if it was refused)."""
        return self.apps.last_assertion

    @property
    def app_id(self) -> str | None:
        """The first app with a secret (else the first app): the CLI's and fixtures' app."""
        return self.apps.app_id

    @property
    def app_secret(self) -> str | None:
        return self.apps.secret(self.app_id)

    @property
    def job_id(self) -> str | None:
        """The first job of :attr:`app_id`."""
        app = (self.app_id or "").lower()
        return next((j for j in self._job_order if self._jobs[j.lower()].lower() == app), None)

    def env(self, *, include_secret: bool = False) -> dict[str, str]:
        """The hrupload settings that point a client (or a child process) at this stand-in."""
        env = {
            "HRUPLOAD_LOGIN_URL": self.url,
            "HRUPLOAD_INGESTION_URL": self.url,
            "HRUPLOAD_TENANT_ID": self.tenant_id,
            "HRUPLOAD_APP_ID": self.app_id or "",
            "HRUPLOAD_JOB_ID": self.job_id or "",
        }
        if include_secret and self.app_secret:
            env["HRUPLOAD_APP_SECRET"] = self.app_secret
        return env

    # -- what tests look at ----------------------------------------------------------------

    @property
    def uploads(self) -> list[Upload]:
        with self._lock:
            return sorted(self._uploads, key=lambda u: u.seq)

    @property
    def token_requests(self) -> list[TokenRequest]:
        with self._lock:
            return list(self._token_requests)

    def wait_for_uploads(self, count: int, timeout: float = 5.0) -> list[Upload]:
        """Wait until ``count`` uploads arrived (a delayed one lands after the client gave up)."""
        deadline = time.monotonic() + timeout
        with self._received:
            while len(self._uploads) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._uploads)} of {count} uploads after {timeout}s")
                self._received.wait(left)
        return self.uploads

    def clear_uploads(self) -> None:
        with self._lock:
            self._uploads.clear()

    @property
    def peak_in_flight(self) -> int:
        """The most ingestion requests that were being handled at once (refused ones too)."""
        with self._lock:
            return self._load.peak_in_flight

    @property
    def capacity_refusals(self) -> list[float]:
        """When each capacity 429 was answered, in seconds after the first upload request."""
        with self._lock:
            return list(self._load.refused_at)

    def set_capacity(self, capacity: Capacity | None) -> None:
        """Limit (or, with None, stop limiting) the uploads served at once; resets the
        load counters (peak, refusals) so a benchmark reads only its own run."""
        with self._lock:
            self.capacity = capacity
            self._load.reset()

    # -- capacity --------------------------------------------------------------------------

    @contextlib.contextmanager
    def admitted(self) -> Iterator[bool]:
        """Count an ingestion request in flight; True when it may be served (under the
        capacity), False when it must be answered 429."""
        load = self._load
        with self._lock:
            now = time.monotonic()
            if load.first_at is None:
                load.first_at = now
            load.in_flight += 1
            load.peak_in_flight = max(load.peak_in_flight, load.in_flight)
            serve = self.capacity is None or load.serving < self.capacity.limit
            if serve:
                load.serving += 1
            else:
                load.refused_at.append(now - load.first_at)
        try:
            yield serve
        finally:
            with self._lock:
                load.in_flight -= 1
                if serve:
                    load.serving -= 1

    def capacity_reply(self) -> Reply:
        wait = self.capacity.retry_after if self.capacity is not None else 1.0
        document = {
            "error": {
                "code": "TooManyRequests",
                "message": "The service is busy (stand-in capacity limit); retry later.",
            }
        }
        return Reply.json(429, document, [("Retry-After", _retry_after(wait) or "1")])

    def expire_tokens(self) -> None:
        """Make every token issued so far expired, to test the client's refresh."""
        with self._lock:
            self._tokens = {t: _IssuedToken(i.app_id, 0.0) for t, i in self._tokens.items()}

    # -- control endpoint ------------------------------------------------------------------

    def apply_control(self, data: Any) -> None:
        """As for every stand-in, plus ``"capacity": {"limit": K, "retry_after": s}`` (or
        null: no limit), which also resets the load counters."""
        if isinstance(data, dict) and "capacity" in data:
            data = dict(data)
            capacity = Capacity.from_json(data.pop("capacity"))
            super().apply_control(data)  # checked before anything changes, as there
            self.set_capacity(capacity)
            return
        super().apply_control(data)

    def fault_state(self) -> dict[str, Any]:
        state = super().fault_state()
        with self._lock:
            state["capacity"] = self.capacity.to_json() if self.capacity is not None else None
            state["load"] = self._load.to_json()
        return state

    def serve_control(self, body: bytes) -> Reply:
        try:
            self.apply_control(json.loads(body or b"{}"))
        except ValueError as exc:  # JSONDecodeError is a ValueError
            return Reply.json(400, {"error": {"code": "BadRequest", "message": str(exc)}})
        return Reply.json(200, self.fault_state())

    def default_fault_body(self, endpoint: str, fault: Fault, handler: StandInHandler) -> Any:
        if endpoint == "token":
            return {
                "error": "temporarily_unavailable",
                "error_description": f"AADSTS50196: {_phrase(fault.status)} (injected)",
            }
        return super().default_fault_body(endpoint, fault, handler)

    def echo_body(self, endpoint: str, fault: Fault, values: Mapping[str, str]) -> Any:
        if endpoint == "token":
            # An AADSTS code the client has no hint for, so it shows the description.
            quoted = ", ".join(f"{name}='{value}'" for name, value in values.items())
            return {
                "error": "invalid_request",
                "error_description": f"AADSTS90100: The request could not be parsed (injected): "
                f"{quoted}",
                "error_codes": [90100],
            }
        return super().echo_body(endpoint, fault, values)

    # -- token endpoint --------------------------------------------------------------------

    def serve_token(
        self, tenant: str, headers: Message, query: Mapping[str, list[str]], body: bytes, host: str
    ) -> Reply:
        content_type = headers.get_content_type() if headers.get("Content-Type") else ""
        fields = form_fields(content_type, body)
        audiences = {f"{self.url}/{tenant}/oauth2/token", f"http://{host}/{tenant}/oauth2/token"}
        check = check_resource(PURVIEW_RESOURCE, self.tenant_id)
        try:
            app_id = self.apps.authenticate(tenant, fields, audiences, check)
            reply, outcome = self._issue_token(app_id), "issued"
        except AadError as refusal:
            reply, outcome = Reply.json(refusal.status, refusal.document()), f"AADSTS{refusal.code}"
            logger.info("token refused: AADSTS%s (%s)", refusal.code, refusal.error)
        record = TokenRequest(
            tenant=tenant,
            api_version=(query.get("api-version") or [None])[0],
            content_type=content_type,
            fields=redacted(fields),
            outcome=outcome,
            received_at=time.time(),
        )
        with self._lock:
            self._token_requests.append(record)
        return reply

    def _issue_token(self, app_id: str) -> Reply:
        token = "standin." + secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self._tokens[token] = _IssuedToken(app_id, now + self.token_lifetime)
        expires_in = max(self.token_lifetime - 1, 0)  # Entra ID says 3599 for an hour
        logger.info("token issued to app %s", app_id)
        return Reply.json(
            200,
            {
                "token_type": "Bearer",
                "expires_in": str(expires_in),
                "ext_expires_in": str(expires_in),
                "expires_on": str(int(now) + expires_in),
                "not_before": str(int(now)),
                "resource": PURVIEW_RESOURCE,
                "access_token": token,
            },
        )

    # -- ingestion endpoint ----------------------------------------------------------------

    def serve_ingestion(
        self, headers: Message, query: Mapping[str, list[str]], body: bytes, answer_lost: bool
    ) -> Reply:
        scheme, _, token = headers.get("Authorization", "").strip().partition(" ")
        with self._lock:
            issued = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if issued is None or issued.expires_at <= time.time():
            reason = "expired" if issued else ("not recognised" if token else "missing")
            return Reply.json(
                401,
                {"error": {"code": "Unauthorized", "message": f"Bearer token {reason}."}},
                headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')],
            )
        job_id = next((v[0] for k, v in query.items() if k.lower() == "jobid" and v[0]), None)
        if job_id is None:
            return _bad_request("The query parameter 'jobid' is required.")
        owner = self._jobs.get(job_id.lower())
        if owner is None or owner.lower() != issued.app_id.lower():
            logger.info("upload refused: job %s does not belong to app %s", job_id, issued.app_id)
            return Reply(403, JOB_APP_MISMATCH.encode(), _TEXT)
        try:
            parts = parse_multipart(body, headers.get("Content-Type", ""))
        except MultipartError as exc:
            return _bad_request(str(exc))
        names = [p.name for p in parts]
        if names != ["file"]:
            return _bad_request(f"Expected exactly one form part named 'file', got {names}.")
        if not parts[0].filename:
            return _bad_request("The 'file' part has no filename.")
        upload = self._store(job_id, issued.app_id, parts[0], answer_lost)
        return Reply.json(
            200,
            {
                "status": "accepted",
                "jobId": job_id,
                "fileName": upload.filename,
                "bytes": upload.size,
                "records": upload.records,
                "seq": upload.seq,
            },
        )

    def _store(self, job_id: str, app_id: str, part: FormPart, answer_lost: bool) -> Upload:
        with self._lock:
            self._seq += 1
            seq = self._seq
        upload = Upload(
            seq=seq,
            job_id=job_id,
            app_id=app_id,
            filename=part.filename or "",
            content=part.content if self.keep_content else b"",
            size=len(part.content),
            received_at=time.time(),
            records=count_records(part.content),
            sha256=hashlib.sha256(part.content).hexdigest(),
            answer_dropped=answer_lost,
        )
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            safe_job = re.sub(r"[^A-Za-z0-9._-]", "_", job_id)
            (self.out_dir / f"{seq:06d}-{safe_job}.csv").write_bytes(part.content)
        with self._received:
            self._uploads.append(upload)
            self._received.notify_all()
        logger.info(
            "upload %06d job %s: %d bytes, %s records%s",
            seq,
            job_id,
            upload.size,
            upload.records,
            " (answer dropped by fault)" if answer_lost else "",
            extra={"seq": seq, "job_id": job_id, "bytes": upload.size, "records": upload.records},
        )
        return upload


def _bad_request(message: str) -> Reply:
    return Reply.json(400, {"error": {"code": "BadRequest", "message": message}})


# --------------------------------------------------------------------------------------------
# `hrupload dev connector`
# --------------------------------------------------------------------------------------------


def _from_settings(ctx: click.Context, param: click.Parameter, path: Path | None) -> Path | None:
    """``--settings local.settings.json``: the tenant, app, secret and job (and the port of
    HRUPLOAD_LOGIN_URL) of a Core Tools settings file become this stand-in's defaults, so
    ``func start`` with that file gets tokens from it. Options given as well still win."""
    if path is None:
        return None
    try:
        values = json.loads(path.read_text(encoding="utf-8"))["Values"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise click.BadParameter(f"cannot read its Values: {exc}", param=param) from None
    defaults = {
        "tenant_id": values.get("HRUPLOAD_TENANT_ID"),
        "app_id": values.get("HRUPLOAD_APP_ID"),
        "app_secret": values.get("HRUPLOAD_APP_SECRET"),
        "job_id": values.get("HRUPLOAD_JOB_ID"),
    }
    port = urlsplit(values.get("HRUPLOAD_LOGIN_URL") or "").port
    if port:
        defaults["port"] = port
    ctx.default_map = (ctx.default_map or {}) | {k: v for k, v in defaults.items() if v}
    return path


@click.command("connector")
@click.option(
    "--settings",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    callback=_from_settings,
    is_eager=True,
    expose_value=False,
    help="Take the tenant, app, secret, job and port from a Core Tools local.settings.json. "
    "[default: none]",
)
@click.option(
    "--port",
    type=int,
    default=DEFAULT_PORT,
    show_default=True,
    help="Port on 127.0.0.1 (0 picks a free one).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Store every received file here as <seq>-<jobid>.csv. [default: not stored]",
)
@click.option("--tenant-id", default=DEMO_TENANT_ID, show_default=True)
@click.option("--app-id", default=DEMO_APP_ID, show_default=True)
@click.option(
    "--app-secret",
    envvar="HRUPLOAD_APP_SECRET",
    default=None,
    help="Secret the stand-in accepts. [default: a generated one; env: HRUPLOAD_APP_SECRET]",
)
@click.option("--job-id", default=DEMO_JOB_ID, show_default=True)
@click.option(
    "--latency-ms", type=float, default=0.0, show_default=True, help="Added to every API request."
)
@click.option(
    "--capacity",
    type=click.IntRange(min=1),
    default=None,
    help="Serve at most this many uploads at once; answer the rest 429 with Retry-After. "
    "[default: no limit]",
)
@click.option(
    "--retry-after",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Seconds of Retry-After on a --capacity 429.",
)
def connector_command(
    port: int,
    out_dir: Path | None,
    tenant_id: str,
    app_id: str,
    app_secret: str | None,
    job_id: str,
    latency_ms: float,
    capacity: int | None,
    retry_after: float,
) -> None:
    """Run a local stand-in for the Purview HR connector (token and ingestion endpoints).

    It is not Microsoft's service: it accepts only the app, secret and job it prints.
    """
    generated = not app_secret
    secret = secrets.token_urlsafe(24) if generated else str(app_secret)
    standin = ConnectorStandIn(
        tenant_id=tenant_id,
        apps={app_id: secret},
        jobs={job_id: app_id},
        out_dir=out_dir,
        keep_content=False,
        latency=latency_ms / 1000,
        capacity=Capacity(capacity, retry_after) if capacity else None,
        port=port,
    )
    from hrupload_dev.commands import serve_until_interrupted

    serve_until_interrupted(
        standin, port, lambda: _print_banner(standin, secret if generated else None)
    )


def _print_banner(standin: ConnectorStandIn, generated_secret: str | None) -> None:
    url = standin.url
    click.echo(f"Purview HR connector stand-in (local, not Microsoft) listening on {url}")
    click.echo(f"  token:     POST {url}/{standin.tenant_id}/oauth2/token?api-version=1.0")
    click.echo(f"  ingestion: POST {url}/api/signals?jobid={standin.job_id}")
    click.echo("Point hrupload at it:")
    for name, value in standin.env().items():
        click.echo(f"  export {name}={shlex.quote(value)}")
    from hrupload_dev.commands import print_secret

    print_secret(
        "HRUPLOAD_APP_SECRET", generated_secret, "--app-secret, HRUPLOAD_APP_SECRET or --settings"
    )
    if standin.out_dir is not None:
        click.echo(f"Received files are stored in {standin.out_dir}")
    click.echo("Press Ctrl-C to stop.")


def main(argv: list[str] | None = None) -> None:
    """``python -m hrupload_dev.connector``: the same command without the ``hrupload`` CLI."""
    connector_command.main(args=argv, prog_name="hrupload dev connector")


if __name__ == "__main__":
    main()
