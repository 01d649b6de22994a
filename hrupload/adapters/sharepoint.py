"""A SharePoint document library or OneDrive folder as a source (``"kind": "sharepoint"``):
Microsoft Graph v1.0 with an app-only token.

The token comes from the v2.0 endpoint (client credentials for ``{graph}/.default``) with
the app's secret, or in Azure from the managed identity when no secret is configured. A
pull lists the folder's children (every ``@odata.nextLink`` page, only on the same Graph
host), takes the ``.csv`` files whose eTag changed, and downloads each from its
pre-authenticated ``@microsoft.graph.downloadUrl`` (or ``/content``'s one redirect to it):
that is the only redirect ever followed, and it is followed without the Authorization
header (the URL carries its own short-lived credential; the token must not travel to
wherever it points) and only to https (loopback in tests). Every other 3xx is a failure
naming where it pointed. Transport failures, timeouts, proxies and the AADSTS hints are
the connector client's (:mod:`hrupload.adapters.connector`, :mod:`hrupload.adapters.net`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

from hrupload.adapters.connector import (
    CONNECT_TIMEOUT,
    TRANSIENT_STATUS,
    Retryable,
    SecretCredential,
    answer_excerpt,
    check_url,
    host_of,
    looks_like_html,
    new_session,
    retry_after_of,
    send,
    token_refusal,
)
from hrupload.adapters.net import is_loopback
from hrupload.app.sources import Fetched
from hrupload.core.errors import ConfigError, HrUploadError
from hrupload.core.redact import redact
from hrupload.core.termsafe import logger, printable
from hrupload.settings import CLOUDS, Settings, entry_fields

log = logger(__name__)

#: Microsoft Graph per cloud (HRUPLOAD_CLOUD); HRUPLOAD_GRAPH_URL overrides it.
GRAPH_URLS: Mapping[str, str] = {
    "commercial": "https://graph.microsoft.com",
    "gcc": "https://graph.microsoft.com",
    "gcc-high": "https://graph.microsoft.us",
    "dod": "https://dod-graph.microsoft.us",
}
#: The scope a stand-in's (loopback) token endpoint expects: the commercial Graph's.
_DEFAULT_GRAPH = GRAPH_URLS["commercial"]
#: The fields of a ``"kind": "sharepoint"`` source entry.
FIELDS = (
    "name",
    "kind",
    "connector",
    "drive_id",
    "folder",
    "app_id",
    "secret_name",
    "secret_env",
    "move_to",
)
_PERMISSION_HINT = (
    "grant the app Sites.Selected on the site that holds the drive (application permission, "
    "admin consent, then POST /sites/{{site-id}}/permissions with role {role}): see the "
    "README, 'Pull from SharePoint or OneDrive'"
)
#: Characters a blob name (and the pipeline's messages) should not get from a file name.
_UNSAFE = re.compile(r"[^A-Za-z0-9._\- ()+,=@\[\]]")
#: Pages of children followed at most (200 items each): a loop of nextLinks ends here.
MAX_PAGES = 500


class SharePointError(HrUploadError):
    """A SharePoint source could not be read: refused, not found, unreachable, or an
    answer it may not use (a redirect, a web page). ``transient``: trying later may help."""

    def __init__(self, message: str, *, status: int | None = None, transient: bool = False):
        super().__init__(message)
        self.status = status
        self.transient = transient


def safe_name(name: str) -> str:
    """A drive item's name as a file name under the connector's folder: no folders, no
    control or unusual characters (each becomes ``_``), never empty or a dot name."""
    cleaned = _UNSAFE.sub("_", name.replace("/", "_").replace("\\", "_")).strip(" .")
    return cleaned[:200] or "file.csv"


class SharePointSource:
    """One SharePoint/OneDrive folder; see the module's docstring."""

    def __init__(
        self,
        *,
        name: str,
        connector: str,
        drive_id: str,
        folder: str,
        graph_url: str,
        token_url: str,
        scope: str,
        tenant_id: str,
        app_id: str | None,
        secret: str | Callable[[bool], str] | None,
        managed_identity_client_id: str | None = None,
        move_to: str | None = None,
        retry_budget: float = 60.0,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT, 120.0),
        session: requests.Session | None = None,
    ) -> None:
        self.name = name
        self.connector = connector
        self.drive_id = drive_id
        self.folder = folder.strip("/")
        self.graph_url = graph_url
        self.token_url = token_url
        self.scope = scope
        self.move_to = move_to.strip("/") if move_to else None
        self.retry_budget = retry_budget
        self.timeout = timeout
        self._session = session or new_session()
        self._credential = (
            SecretCredential(tenant_id, app_id or "", secret) if secret is not None else None
        )
        self._identity_client_id = managed_identity_client_id
        self._token: str | None = None
        self._token_expires = 0.0
        self._sent: list[str] = []
        self._move_target: str | None = None

    def __repr__(self) -> str:
        return f"SharePointSource(name={self.name!r}, drive_id={self.drive_id!r})"

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        settings: Settings,
        secret: str | Callable[[bool], str] | None,
    ) -> SharePointSource:
        """From a ``"kind": "sharepoint"`` entry of HRUPLOAD_CONNECTORS' sources; ``secret``
        is the app's (Key Vault or ``secret_env``), None for the managed identity."""
        connector = str(config.get("connector") or "")
        name = str(config.get("name") or f"{connector}-sharepoint")
        where = f"HRUPLOAD_CONNECTORS source {name!r}"
        entry_fields(config, FIELDS, where)
        values = {}
        for key in ("drive_id", "folder", "app_id", "move_to"):
            value = config.get(key)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"{where}: {key!r} must be text, got {type(value).__name__}")
            values[key] = (value or "").strip() or None
        for key in ("drive_id", "folder"):
            if not values[key]:
                raise ConfigError(f"{where}: {key!r} is missing; a sharepoint source needs one")
        if not settings.tenant_id:
            raise ConfigError(f"{where}: HRUPLOAD_TENANT_ID is missing; the Graph token needs it")
        app_id = values["app_id"] or settings.app_id
        if secret is not None and not app_id:
            raise ConfigError(f"{where}: no app_id and no HRUPLOAD_APP_ID for the Graph token")
        graph, login = _graph_and_login(settings)
        return cls(
            name=name,
            connector=connector,
            drive_id=values["drive_id"] or "",
            folder=values["folder"] or "",
            graph_url=graph,
            token_url=f"{login}/{quote(settings.tenant_id)}/oauth2/v2.0/token",
            scope=f"{_DEFAULT_GRAPH if is_loopback(urlsplit(graph).hostname) else graph}/.default",
            tenant_id=settings.tenant_id,
            app_id=app_id,
            secret=secret,
            managed_identity_client_id=settings.managed_identity_client_id,
            move_to=values["move_to"],
            retry_budget=float(settings.retry_budget),
            timeout=(CONNECT_TIMEOUT, float(settings.read_timeout)),
        )

    # -- the Source interface --------------------------------------------------------------

    def fetch(self, seen: Mapping[str, str]) -> Iterator[Fetched]:
        for item in self._children():
            name = item.get("name")
            if "folder" in item or "file" not in item or not isinstance(name, str):
                continue
            if not name.lower().endswith(".csv"):
                continue
            key, version = str(item.get("id") or ""), str(item.get("eTag") or "")
            if not key or (version and seen.get(key) == version):
                continue
            content = self._download(item)
            log.info(
                "source %s: took %s (%d bytes)",
                self.name,
                name,
                len(content),
                extra={"source": self.name, "item": key},
            )
            yield Fetched(name=safe_name(name), content=content, version=version, key=key)

    def taken(self, fetched: Fetched) -> None:
        """Moves the item into ``move_to``, a subfolder of the source's folder that must
        exist (hrupload does not create it). A failure is logged, not
        raised: the file is safely in incoming, and its eTag keeps it from being re-dropped."""
        if not self.move_to:
            return
        try:
            target = self._move_target or self._folder_id(f"{self.folder}/{self.move_to}")
            self._move_target = target
            url = f"{self._drive_url()}/items/{quote(fetched.key)}"
            response = self._api("PATCH", url, json={"parentReference": {"id": target}})
            if not response.ok:
                raise self._api_failure(response, f"moving {fetched.name} into {self.move_to!r}")
        except HrUploadError as exc:
            log.warning(
                "source %s: %s was taken but not moved into %r: %s",
                self.name,
                fetched.name,
                self.move_to,
                exc,
                extra={"source": self.name, "item": fetched.key},
            )

    # -- Graph -----------------------------------------------------------------------------

    def _drive_url(self) -> str:
        return f"{self.graph_url}/v1.0/drives/{quote(self.drive_id, safe='!')}"

    def _path_url(self, path: str) -> str:
        return f"{self._drive_url()}/root:/{quote(path)}:"

    def _children(self) -> Iterator[dict[str, Any]]:
        url: str | None = f"{self._path_url(self.folder)}/children"
        for _ in range(MAX_PAGES):
            if url is None:
                return
            response = self._api("GET", url)
            if not response.ok:
                raise self._api_failure(response, f"listing folder {self.folder!r}")
            page = self._json(response, f"the listing of folder {self.folder!r}")
            items = page.get("value")
            if not isinstance(items, list):
                raise self._error(f"listing folder {self.folder!r} answered no list of items")
            yield from (i for i in items if isinstance(i, dict))
            url = page.get("@odata.nextLink")
            if url is not None:
                url = self._same_graph(str(url))
        raise self._error(f"listing folder {self.folder!r} did not end after {MAX_PAGES} pages")

    def _same_graph(self, url: str) -> str:
        """A nextLink is followed with the token: only to this Graph, over https or loopback."""
        here, there = urlsplit(self.graph_url), urlsplit(url)
        if (there.scheme, there.netloc.lower()) != (here.scheme, here.netloc.lower()):
            raise self._error(
                f"the listing of folder {self.folder!r} pointed its next page at "
                f"{host_of(self.graph_url, url)}, not at {here.hostname}; it is not followed "
                "(the token would go there). Check HRUPLOAD_GRAPH_URL and any proxy in between"
            )
        return url

    def _folder_id(self, path: str) -> str:
        response = self._api("GET", self._path_url(path))
        if response.status_code == 404:
            raise self._error(
                f"the move_to folder {path!r} does not exist in drive {self.drive_id}: create "
                "it (hrupload does not)",
                status=404,
            )
        if not response.ok:
            raise self._api_failure(response, f"finding the move_to folder {path!r}")
        item = self._json(response, f"the move_to folder {path!r}")
        if "folder" not in item or not item.get("id"):
            raise self._error(f"move_to {path!r} in drive {self.drive_id} is not a folder")
        return str(item["id"])

    def _download(self, item: Mapping[str, Any]) -> bytes:
        name = printable(item.get("name"))
        url = item.get("@microsoft.graph.downloadUrl")
        if not isinstance(url, str) or not url:
            content_url = f"{self._drive_url()}/items/{quote(str(item['id']))}/content"
            response = self._api("GET", content_url, redirect_ok=True)
            location = response.headers.get("Location")
            if response.status_code not in (301, 302, 303, 307, 308) or not location:
                if response.ok:  # some hosts answer the content itself
                    return self._content(response, name)
                raise self._api_failure(response, f"downloading {name}", redirect_ok=True)
            url = urljoin(response.url, location)
        return self._content(self._download_once(url, name), name)

    def _download_once(self, url: str, name: str) -> requests.Response:
        """The one redirect followed: no Authorization header, https (or loopback) only."""
        parts = urlsplit(url)
        if not (
            parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname))
        ):
            raise self._error(
                f"the download of {name} points at {parts.scheme or 'no'}:// on "
                f"{host_of(url, url)}; only https is followed (the file would travel "
                "unencrypted)"
            )
        response = self._retrying("GET", url, headers={})
        if 300 <= response.status_code < 400:
            raise self._redirect(response, f"the download of {name}")
        if not response.ok:
            raise self._error(
                f"the download of {name} answered {response.status_code} {response.reason}",
                status=response.status_code,
            )
        return response

    def _content(self, response: requests.Response, name: str) -> bytes:
        if looks_like_html(response):
            raise self._error(
                f"the download of {name} answered a web page, not the file: a proxy or a "
                "sign-in page may be in between (check HTTPS_PROXY / NO_PROXY)"
            )
        return response.content

    def _json(self, response: requests.Response, what: str) -> dict[str, Any]:
        try:
            document = response.json()
        except ValueError:
            document = None
        if not isinstance(document, dict) or looks_like_html(response):
            kind = "a web page" if looks_like_html(response) else "no JSON document"
            raise self._error(
                f"{what} answered {kind}, not Graph's: a proxy may be answering in Graph's "
                "place (check HTTPS_PROXY / NO_PROXY and HRUPLOAD_GRAPH_URL)"
            )
        return document

    def _api(
        self, method: str, url: str, *, redirect_ok: bool = False, **kwargs: Any
    ) -> requests.Response:
        """A Graph call with the token, renewed once on a 401. A redirect is a failure
        naming where it pointed, except ``/content``'s (``redirect_ok``), to the download."""
        response = self._retrying(method, url, headers=self._auth(), **kwargs)
        if response.status_code == 401:
            self._token = None
            response = self._retrying(method, url, headers=self._auth(), **kwargs)
        if 300 <= response.status_code < 400 and not redirect_ok:
            raise self._redirect(response, f"Graph ({method} {urlsplit(url).path})")
        return response

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._access_token()}"}

    def _retrying(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Transient failures (and Graph's 429/503 with Retry-After) tried again within the
        retry budget, as the connector client does; the answer to anything else."""
        start, attempt = time.monotonic(), 0
        while True:
            try:
                response = send(self._session, method, url, timeout=self.timeout, **kwargs)
                if response.status_code not in TRANSIENT_STATUS:
                    return response
                last, wait = f"{response.status_code} {response.reason}", retry_after_of(response)
                status: int | None = response.status_code
            except Retryable as exc:
                last, wait, status = str(exc), exc.retry_after, exc.status
            attempt += 1
            wait = max(wait, min(30.0, 0.5 * 2**attempt))
            if time.monotonic() - start + wait > self.retry_budget:
                raise self._error(
                    f"Graph kept failing for the retry budget ({self.retry_budget:.0f}s); "
                    f"last: {last}. Try again later",
                    status=status,
                    transient=True,
                )
            time.sleep(wait)

    # -- token -----------------------------------------------------------------------------

    def _access_token(self) -> str:
        if self._token and time.monotonic() < self._token_expires:
            return self._token
        token, lifetime = self._token_once() if self._credential else self._identity_token()
        self._sent.append(token)
        self._token, self._token_expires = token, time.monotonic() + max(60.0, lifetime - 300)
        return token

    def _identity_token(self) -> tuple[str, float]:
        """The Function's managed identity (no secret configured): Azure only."""
        from azure.core.exceptions import AzureError
        from azure.identity import ManagedIdentityCredential

        try:
            credential = ManagedIdentityCredential(client_id=self._identity_client_id)
            token = credential.get_token(self.scope)
        except AzureError as exc:
            raise self._error(
                f"no secret is configured and the managed identity gave no Graph token "
                f"({exc.__class__.__name__}): give the source secret_name or secret_env, or "
                "run it in Azure with the identity granted Sites.Selected"
            ) from None
        return token.token, token.expires_on - time.time()

    def _token_once(self, *, refreshed: bool = False) -> tuple[str, float]:
        credential = self._credential
        assert credential is not None  # _access_token checked
        form = {
            "client_id": credential.app_id,
            "grant_type": "client_credentials",
            "scope": self.scope,
            **credential.form(self.token_url),
        }
        self._sent.append(form.get("client_secret", ""))
        response = self._retrying("POST", self.token_url, data=form)
        if 300 <= response.status_code < 400:
            raise self._redirect(response, "the Graph token endpoint")
        try:
            document = response.json()
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise self._error(
                f"the Graph token endpoint answered {response.status_code} with "
                f"{'a web page' if looks_like_html(response) else 'no JSON'}: a proxy may be "
                "answering in its place (check HTTPS_PROXY / NO_PROXY)",
                status=response.status_code,
            )
        if not response.ok:
            message, auth = token_refusal(response.status_code, document)
            if auth and not refreshed and credential.refresh():
                return self._token_once(refreshed=True)  # the secret was rotated: once more
            raise self._error(f"the Graph {message}", status=response.status_code)
        token = document.get("access_token")
        if not isinstance(token, str) or not token:
            raise self._error("the Graph token endpoint answered no access_token")
        return token, float(document.get("expires_in") or 3600)

    # -- errors ----------------------------------------------------------------------------

    def _error(
        self, message: str, *, status: int | None = None, transient: bool = False
    ) -> SharePointError:
        text = redact(f"SharePoint source {self.name!r}: {message}", secrets=self._sent)
        return SharePointError(printable(text), status=status, transient=transient)

    def _redirect(self, response: requests.Response, what: str) -> SharePointError:
        return self._error(
            f"{what} answered {response.status_code} {response.reason}, redirecting to "
            f"{host_of(response.url, response.headers.get('Location'))}; redirects are never "
            "followed. Check HRUPLOAD_GRAPH_URL and any proxy in between",
            status=response.status_code,
        )

    def _api_failure(
        self, response: requests.Response, what: str, *, redirect_ok: bool = False
    ) -> SharePointError:
        """The one table of Graph refusals: each names what to fix."""
        status = response.status_code
        if 300 <= status < 400 and not redirect_ok:
            return self._redirect(response, what)
        if status in (401, 403):
            role = '["write"] (move_to moves files)' if self.move_to else '["read"]'
            return self._error(
                f"{what} was refused ({status}) for drive {self.drive_id}: "
                + _PERMISSION_HINT.format(role=role),
                status=status,
            )
        if status == 404:
            return self._error(
                f"{what}: drive {self.drive_id} or folder {self.folder!r} was not found (404): "
                "check drive_id and folder (the folder's path from the drive's root)",
                status=status,
            )
        if looks_like_html(response):
            return self._error(
                f"{what} answered {status} with a web page, not Graph's answer: a proxy may be "
                "in between (check HTTPS_PROXY / NO_PROXY)",
                status=status,
            )
        return self._error(
            f"{what} answered {status} {response.reason}: {answer_excerpt(response)}"
        )


def _graph_and_login(settings: Settings) -> tuple[str, str]:
    """Graph's base URL and the login URL its token comes from. A loopback Graph (the dev
    stand-in) serves its token endpoint too; elsewhere the cloud's login (or the override)."""
    graph = check_url(settings.graph_url or GRAPH_URLS[settings.cloud], "HRUPLOAD_GRAPH_URL")
    if is_loopback(urlsplit(graph).hostname):
        return graph, graph
    login = check_url(
        settings.login_url or CLOUDS[settings.cloud][0], "--login-url / HRUPLOAD_LOGIN_URL"
    )
    return graph, login
