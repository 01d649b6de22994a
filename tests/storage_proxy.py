"""A loopback HTTP proxy in front of one Azurite service, to hold or fail chosen requests.

The storage SDK signs the method, path, query and ``x-ms-*`` headers, not the host, so a
client pointed at the proxy works unchanged. A test can then:

* **hold** the first request matching a method and path pattern: the caller's process sits
  blocked in exactly that request (``hold.arrived`` tells when), e.g. the delete that ends
  a move, so it can be killed there with no test hook in the code under test;
* **fail** matching requests with a 5xx a given number of times.

A held request is never forwarded unless released with ``forward=True``: once the caller
is killed, storage has not seen it, as if the process died just before sending it.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


@dataclass
class Hold:
    method: str
    pattern: re.Pattern[str]
    arrived: threading.Event = field(default_factory=threading.Event)
    _released: threading.Event = field(default_factory=threading.Event)
    _forward: bool = False
    path: str = ""

    def release(self, *, forward: bool = False) -> None:
        self._forward = forward
        self._released.set()


@dataclass
class Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    #: Matching requests let through before the failures start.
    after: int = 0
    seen: int = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        proxy = self.server.proxy
        body = self._body()
        path = unquote(self.path)
        hold = proxy._take_hold(self.command, path)
        if hold is not None:
            hold.path = path
            hold.arrived.set()
            hold._released.wait(120)
            if not hold._forward:
                self.close_connection = True
                return
        failure = proxy._failure(self.command, path)
        if failure is not None:
            self._reply(
                failure.status,
                {"x-ms-error-code": "ServerBusy", "Content-Type": "application/xml"},
                b'<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code>'
                b"<Message>Injected by the test proxy.</Message></Error>",
            )
            return
        upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in _HOP and name.lower() != "content-length":
                    upstream.putheader(name, value)
            if body or self.command in ("PUT", "POST", "PATCH", "MERGE"):
                upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body or None)
            response = upstream.getresponse()
            data = response.read()
            headers = {k: v for k, v in response.getheaders() if k.lower() not in _HOP}
            self._reply(response.status, headers, data, head=self.command == "HEAD")
        finally:
            upstream.close()

    def _reply(self, status: int, headers: dict, data: bytes, head: bool = False) -> None:
        self.send_response_only(status)
        for name, value in headers.items():
            if name.lower() != "content-length" or head:
                self.send_header(name, value)
        if not head:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_MERGE = do_OPTIONS = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: StorageProxy


class StorageProxy:
    """``http://127.0.0.1:<port>/<account>`` in front of ``upstream_url``."""

    def __init__(self, upstream_url: str) -> None:
        hostport = upstream_url.split("//", 1)[1].split("/", 1)
        self.upstream_host, port = hostport[0].rsplit(":", 1)
        self.upstream_port = int(port)
        self.account_path = "/" + hostport[1] if len(hostport) > 1 else ""
        self._lock = threading.Lock()
        self._holds: list[Hold] = []
        self._failures: list[Failure] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.account_path}"

    def __enter__(self) -> StorageProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            holds = list(self._holds)
        for hold in holds:
            hold.release()
        self._server.shutdown()
        self._server.server_close()

    def hold(self, method: str, pattern: str) -> Hold:
        """Hold the next request whose method matches and whose decoded path matches."""
        hold = Hold(method.upper(), re.compile(pattern))
        with self._lock:
            self._holds.append(hold)
        return hold

    def fail(
        self, method: str, pattern: str, *, times: int, status: int = 503, after: int = 0
    ) -> Failure:
        """Answer ``status`` to ``times`` matching requests, after letting ``after`` through."""
        failure = Failure(method.upper(), re.compile(pattern), status, times, after)
        with self._lock:
            self._failures.append(failure)
        return failure

    def _take_hold(self, method: str, path: str) -> Hold | None:
        with self._lock:
            for hold in self._holds:
                if hold.method == method and hold.pattern.search(path):
                    self._holds.remove(hold)
                    return hold
        return None

    def _failure(self, method: str, path: str) -> Failure | None:
        with self._lock:
            for failure in self._failures:
                if failure.method != method or not failure.pattern.search(path):
                    continue
                failure.seen += 1
                if failure.after < failure.seen <= failure.after + failure.times:
                    return failure
        return None


@contextlib.contextmanager
def proxied(azurite):
    """Proxies for the blob and table services of ``azurite``."""
    with StorageProxy(azurite.blob_url) as blob, StorageProxy(azurite.table_url) as table:
        yield blob, table
