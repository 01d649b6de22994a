"""A local stand-in for Microsoft Graph v1.0 over one or more drives (a SharePoint document
library or a OneDrive), and for the Entra ID v2.0 token endpoint that Graph's tokens come from.

Microsoft has no Graph emulator, and a mock would only test our idea of Graph; so the
SharePoint source is tested against this real loopback server, which implements the
documented contract a pull needs and nothing more:

* ``POST /{tenant}/oauth2/v2.0/token``: client credentials (a secret or a certificate-signed
  assertion) for scope ``https://graph.microsoft.com/.default``, refused with Entra ID's own
  AADSTS codes (the checks are shared with the connector stand-in: ``hrupload_dev.entra``);
* ``GET /v1.0/drives/{drive}/root:/{path}:/children``, ``.../root/children`` and
  ``.../items/{id}/children``: a page of driveItems (``$top``, ``@odata.nextLink`` with a
  ``$skiptoken``), each with ``id``, ``name``, ``eTag``, ``cTag``, ``size``,
  ``lastModifiedDateTime``, ``file`` or ``folder``, ``parentReference`` and, for files,
  ``@microsoft.graph.downloadUrl``: a pre-authenticated, short-lived URL on this server that
  needs (and must not be sent) an Authorization header;
* ``GET /v1.0/drives/{drive}/items/{id}`` (or ``root:/{path}``): one driveItem;
* ``GET /v1.0/drives/{drive}/items/{id}/content``: ``302 Found`` to that download URL;
  both answer ``304 Not Modified`` to an ``If-None-Match`` naming the current eTag or cTag;
* ``PATCH /v1.0/drives/{drive}/items/{id}`` with ``{"parentReference": {"id": ...}}`` (and
  optionally ``"name"``): move (and rename) an item, honouring ``If-Match``.

Every API call needs a bearer token from the token endpoint (401 ``InvalidAuthenticationToken``
otherwise); a drive the app was not granted (Sites.Selected: only the sites an admin granted)
is 403 ``accessDenied``. Faults (``hrupload_dev.connector.Fault``) are queued per endpoint:
``token``, ``children``, ``item``, ``content``, ``download``, ``move``; a redirect fault on
``download`` is a download URL that redirects again. Tests in other processes drive it through
``/_standin/...`` (unauthenticated: loopback only). It never logs secrets, tokens or content.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import shlex
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import click

from hrupload_dev.commands import print_secret, serve_until_interrupted
from hrupload_dev.connector import (
    DEMO_APP_ID,
    DEMO_TENANT_ID,
    DispatchingHandler,
    Fault,
    LoopbackStandIn,
    Reply,
    StandInHandler,
)
from hrupload_dev.entra import AadError, ClientApps, check_scope, form_fields

logger = logging.getLogger(__name__)

__all__ = ["GRAPH_SCOPE", "Fault", "GraphStandIn"]

GRAPH_RESOURCE = "https://graph.microsoft.com"
#: The only scope an app-only (client credentials) token for Graph can ask for.
GRAPH_SCOPE = f"{GRAPH_RESOURCE}/.default"
#: Graph's own page size for children when no ``$top`` is given.
DEFAULT_PAGE_SIZE = 200
#: How long a ``@microsoft.graph.downloadUrl`` works (Graph: "only valid for a short period
#: of time (a few minutes)").
DOWNLOAD_URL_LIFETIME = 300
DEFAULT_PORT = 8401
DEMO_DRIVE_ID = "b!c3RhbmQtaW4tc2l0ZQ.aHJ1cGxvYWQtZHJpdmU"
DEMO_FOLDER = "HR/leavers"

#: Where a person would open an item in a browser: a made-up host, never fetched.
_WEB_URL = "https://standin.sharepoint.example/sites/hr/Shared%20Documents"
_TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/token/?$")
_TAIL = r"(?:/children|/content)"
#: An item by path (``root:/a/b`` then ``:/children`` with the colon), the root, or an id.
_API = re.compile(
    r"^/v1\.0/drives/(?P<drive>[^/]+)/"
    rf"(?:root:/(?P<path>[^:]+?)(?::(?P<ptail>{_TAIL})?)?|root(?P<rtail>{_TAIL})?"
    rf"|items/(?P<item>[^/:]+)(?P<itail>{_TAIL})?)/?$"
)
_DOWNLOAD = re.compile(r"^/_download/(?P<drive>[^/]+)/(?P<item>[^/]+)$")
_CONTROL_FILES = re.compile(r"^/_standin/files/(?P<drive>[^/]+)/(?P<path>.+)$")
_UNSAFE_NAME = re.compile(r'[\x00-\x1f"*:<>?/\\|]')


def _now_iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_item_id() -> str:
    """An id shaped like SharePoint's: ``01`` and 32 base32 characters."""
    return "01" + base64.b32encode(secrets.token_bytes(20)).decode()[:32]


@dataclass
class _Item:
    id: str
    name: str
    parent_id: str | None
    is_folder: bool
    content: bytes = field(default=b"", repr=False)
    #: eTag changes with anything (content, name, place); cTag with the content only.
    version: int = 1
    content_version: int = 1
    created: float = field(default_factory=time.time)
    modified: float = field(default_factory=time.time)
    guid: str = field(default_factory=lambda: str(uuid.uuid4()).upper())

    @property
    def etag(self) -> str:
        return f'"{{{self.guid}}},{self.version}"'

    @property
    def ctag(self) -> str:
        return f'"c:{{{self.guid}}},{self.content_version}"'


@dataclass
class _Drive:
    id: str
    root: _Item
    items: dict[str, _Item] = field(default_factory=dict)

    def children(self, folder_id: str) -> list[_Item]:
        return sorted(
            (i for i in self.items.values() if i.parent_id == folder_id),
            key=lambda i: (not i.is_folder, i.name.lower()),
        )

    def child(self, folder_id: str, name: str) -> _Item | None:
        return next((i for i in self.children(folder_id) if i.name.lower() == name.lower()), None)

    def find(self, path: str) -> _Item | None:
        item: _Item | None = self.root
        for name in _split(path):
            item = self.child(item.id, name) if item is not None else None
        return item

    def path_of(self, item: _Item) -> str:
        names: list[str] = []
        while item.parent_id is not None:
            names.append(item.name)
            item = self.items[item.parent_id]
        return "/".join(reversed(names))


def _split(path: str) -> list[str]:
    return [part for part in path.strip("/").split("/") if part]


@dataclass(frozen=True)
class _Download:
    drive_id: str
    item_id: str
    expires_at: float


class _GraphHandler(DispatchingHandler):
    server_version = "hrupload-graph-standin"

    def serve(self, method: str) -> None:
        owner: GraphStandIn = self.owner
        body = self.read_body_or_reply()
        if body is None:
            return
        target = urlsplit(self.path)
        path = unquote(target.path)
        query = {k: v[0] for k, v in parse_qs(target.query, keep_blank_values=True).items()}
        if target.path.startswith("/_standin/"):
            return self.send_reply(owner.serve_control(method, path, body))
        token_path = _TOKEN_PATH.match(target.path)
        if token_path and method == "POST":
            tenant = unquote(token_path.group(1))
            host = self.headers.get("Host", "")
            owner.count("token")
            return self.serve_with_faults(
                "token", body, lambda _: owner.serve_token(tenant, self.headers, body, host)
            )
        download = _DOWNLOAD.match(target.path)
        if download and method == "GET":
            owner.count("download")
            if self.headers.get("Authorization"):
                owner.note_download_authorization()
            drive_id, item_id = unquote(download["drive"]), unquote(download["item"])
            return self.serve_with_faults(
                "download", body, lambda _: owner.serve_download(drive_id, item_id, query)
            )
        api = _API.match(target.path)
        if api is None:
            return self.send_reply(_graph_error(400, "invalidRequest", f"Invalid request {path}"))
        endpoint = owner.endpoint_for(method, api["ptail"] or api["rtail"] or api["itail"])
        if endpoint is None:
            return self.send_reply(
                _graph_error(405, "methodNotAllowed", f"{method} is not supported here.")
            )
        owner.count(endpoint)
        authorization = self.headers.get("Authorization", "")
        self.serve_with_faults(
            endpoint,
            body,
            lambda _: owner.serve_api(
                endpoint, authorization, api.groupdict(), query, self.headers, body
            ),
        )


class GraphStandIn(LoopbackStandIn):
    """Graph v1.0 drives and the v2.0 token endpoint on one loopback HTTP server.

    ``apps`` maps app ids to client secrets (``certificates``: app ids to PEM certificates);
    ``drives`` are the drive ids that exist (default: one, :data:`DEMO_DRIVE_ID`) and
    ``granted`` those the apps may read (default: all of them). ``.url`` is both the Graph
    base URL (``HRUPLOAD_GRAPH_URL``) and the login URL of the token endpoint.
    """

    handler_class = _GraphHandler
    fault_endpoints = ("children", "item", "content", "download", "move", "token")

    def __init__(
        self,
        *,
        tenant_id: str = DEMO_TENANT_ID,
        apps: Mapping[str, str] | None = None,
        certificates: Mapping[str, bytes | str] | None = None,
        drives: Iterable[str] = (DEMO_DRIVE_ID,),
        granted: Iterable[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        token_lifetime: int = 3600,
        download_lifetime: float = DOWNLOAD_URL_LIFETIME,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, latency=latency)
        self.tenant_id = tenant_id
        self.apps = ClientApps(tenant_id)
        for app_id, secret in (apps or {}).items():
            self.apps.set_secret(app_id, secret)
        for app_id, pem in (certificates or {}).items():
            self.apps.add_certificate(app_id, pem)
        #: Children per page when the request gives no ``$top`` (Graph: 200).
        self.page_size = page_size
        self.token_lifetime = token_lifetime
        self.download_lifetime = download_lifetime
        self._drives: dict[str, _Drive] = {}
        drive_ids = list(drives)
        for drive_id in drive_ids:
            self.add_drive(drive_id)
        self._granted = {d.lower() for d in (drive_ids if granted is None else granted)}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._downloads: dict[str, _Download] = {}
        self._counts: dict[str, int] = dict.fromkeys(self.fault_endpoints, 0)
        self._download_authorizations = 0

    # -- configuration ---------------------------------------------------------------------

    @property
    def app_id(self) -> str | None:
        return self.apps.app_id

    @property
    def app_secret(self) -> str | None:
        return self.apps.secret(self.app_id)

    @property
    def drive_id(self) -> str:
        """The first drive: the fixtures' and the CLI's."""
        return next(iter(self._drives.values())).id

    def add_drive(self, drive_id: str | None = None, *, granted: bool = False) -> str:
        drive_id = drive_id or "b!" + base64.urlsafe_b64encode(secrets.token_bytes(24)).decode()
        root = _Item(_new_item_id(), "root", None, True)
        with self._lock:
            self._drives[drive_id.lower()] = _Drive(drive_id, root, {root.id: root})
            if granted:
                self._granted.add(drive_id.lower())
        return drive_id

    def grant(self, drive_id: str) -> None:
        """Grant the apps a drive (what an admin's Sites.Selected permission grant does)."""
        with self._lock:
            self._granted.add(drive_id.lower())

    def revoke(self, drive_id: str) -> None:
        with self._lock:
            self._granted.discard(drive_id.lower())

    def env(self) -> dict[str, str]:
        """The settings that point hrupload's Graph calls at this stand-in."""
        return {
            "HRUPLOAD_GRAPH_URL": self.url,
            "HRUPLOAD_TENANT_ID": self.tenant_id,
            "HRUPLOAD_APP_ID": self.app_id or "",
        }

    def source(self, connector: str, folder: str, **extra: Any) -> dict[str, Any]:
        """A ``"kind": "sharepoint"`` source entry for this stand-in's first drive."""
        return {
            "name": f"{connector}-sharepoint",
            "kind": "sharepoint",
            "connector": connector,
            "drive_id": self.drive_id,
            "folder": folder,
            **extra,
        }

    # -- files -----------------------------------------------------------------------------

    def _drive(self, drive_id: str | None) -> _Drive:
        drive = self._drives.get((drive_id or self.drive_id).lower())
        if drive is None:
            raise KeyError(f"no drive {drive_id!r}")
        return drive

    def make_folder(self, path: str, *, drive_id: str | None = None) -> dict[str, Any]:
        """Create ``path`` (and its parents) as folders; returns the last one's driveItem."""
        with self._lock:
            drive = self._drive(drive_id)
            folder = self._folder(drive, _split(path))
            return self._drive_item(drive, folder, with_download=False)

    def _folder(self, drive: _Drive, names: list[str]) -> _Item:
        folder = drive.root
        for name in names:
            child = drive.child(folder.id, name)
            if child is None:
                child = _Item(_new_item_id(), name, folder.id, True)
                drive.items[child.id] = child
            elif not child.is_folder:
                raise ValueError(f"{name!r} is a file, not a folder")
            folder = child
        return folder

    def put_file(
        self, path: str, content: bytes | str, *, drive_id: str | None = None
    ) -> dict[str, Any]:
        """Add the file at ``path`` (folders made as needed) or replace its content: the item
        keeps its id, and gets a new eTag and cTag. Returns its driveItem (no download URL)."""
        raw = content.encode() if isinstance(content, str) else content
        *folders, name = _split(path)
        if _UNSAFE_NAME.search(name):
            raise ValueError(f"{name!r} is not a valid SharePoint file name")
        with self._lock:
            drive = self._drive(drive_id)
            folder = self._folder(drive, folders)
            item = drive.child(folder.id, name)
            if item is None:
                item = _Item(_new_item_id(), name, folder.id, False, raw)
                drive.items[item.id] = item
            elif item.is_folder:
                raise ValueError(f"{path!r} is a folder")
            else:
                item.content = raw
                item.version += 1
                item.content_version += 1
                item.modified = time.time()
            return self._drive_item(drive, item, with_download=False)

    def delete(self, path: str, *, drive_id: str | None = None) -> bool:
        """Delete the item at ``path`` (a folder with everything in it); False if none."""
        with self._lock:
            drive = self._drive(drive_id)
            item = drive.find(path)
            if item is None or item.parent_id is None:
                return False
            doomed = [item.id]
            while doomed:
                current = doomed.pop()
                doomed.extend(c.id for c in drive.children(current))
                drive.items.pop(current, None)
            return True

    def item(self, path: str, *, drive_id: str | None = None) -> dict[str, Any] | None:
        """The driveItem at ``path`` (no download URL), or None."""
        with self._lock:
            drive = self._drive(drive_id)
            found = drive.find(path)
            return self._drive_item(drive, found, with_download=False) if found else None

    def names(self, folder: str, *, drive_id: str | None = None) -> list[str]:
        """What is in ``folder`` (subfolders first), e.g. to check a move."""
        with self._lock:
            drive = self._drive(drive_id)
            found = drive.find(folder)
            return [i.name for i in drive.children(found.id)] if found else []

    # -- what tests look at ----------------------------------------------------------------

    def count(self, endpoint: str) -> None:
        with self._lock:
            self._counts[endpoint] += 1

    def requests(self, endpoint: str) -> int:
        """Requests to ``endpoint`` (one of :attr:`fault_endpoints`), faulted ones included."""
        with self._lock:
            return self._counts[endpoint]

    def note_download_authorization(self) -> None:
        with self._lock:
            self._download_authorizations += 1

    @property
    def download_authorizations(self) -> int:
        """Requests to a download URL that carried an Authorization header: a client that
        sends its Graph token to a pre-authenticated URL (possibly another host) leaks it.
        Must stay 0."""
        with self._lock:
            return self._download_authorizations

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens = {t: (app, 0.0) for t, (app, _) in self._tokens.items()}

    def expire_download_urls(self) -> None:
        with self._lock:
            self._downloads = {
                t: _Download(d.drive_id, d.item_id, 0.0) for t, d in self._downloads.items()
            }

    def state(self) -> dict[str, Any]:
        with self._lock:
            counts = dict(self._counts)
            authorizations = self._download_authorizations
        return {
            "requests": counts,
            "download_authorizations": authorizations,
            **self.fault_state(),
        }

    # -- token endpoint --------------------------------------------------------------------

    def serve_token(self, tenant: str, headers: Message, body: bytes, host: str) -> Reply:
        content_type = headers.get_content_type() if headers.get("Content-Type") else ""
        fields = form_fields(content_type, body)
        token_path = f"/{tenant}/oauth2/v2.0/token"
        audiences = {f"{self.url}{token_path}", f"http://{host}{token_path}"}
        try:
            app_id = self.apps.authenticate(
                tenant, fields, audiences, check_scope(GRAPH_RESOURCE, self.tenant_id)
            )
        except AadError as refusal:
            logger.info("token refused: AADSTS%s (%s)", refusal.code, refusal.error)
            return Reply.json(refusal.status, refusal.document())
        token = "graph-standin." + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (app_id, time.time() + self.token_lifetime)
        logger.info("Graph token issued to app %s", app_id)
        expires_in = max(self.token_lifetime - 1, 0)
        return Reply.json(
            200,
            {
                "token_type": "Bearer",
                "expires_in": expires_in,
                "ext_expires_in": expires_in,
                "access_token": token,
            },
        )

    # -- Graph API -------------------------------------------------------------------------

    @staticmethod
    def endpoint_for(method: str, tail: str | None) -> str | None:
        if method == "GET":
            return {"/children": "children", "/content": "content"}.get(tail or "", "item")
        if method == "PATCH" and not tail:
            return "move"
        return None

    def serve_api(
        self,
        endpoint: str,
        authorization: str,
        route: Mapping[str, str | None],
        query: Mapping[str, str],
        headers: Message,
        body: bytes,
    ) -> Reply:
        refusal = self._check_token(authorization)
        if refusal is not None:
            return refusal
        drive_id = unquote(route["drive"] or "")
        with self._lock:
            drive = self._drives.get(drive_id.lower())
            if drive is None:
                return _graph_error(
                    404,
                    "itemNotFound",
                    "The provided drive id appears to be malformed, or does not represent a "
                    "valid drive.",
                )
            if drive_id.lower() not in self._granted:
                logger.info("drive %s not granted to the app", drive_id)
                return _graph_error(403, "accessDenied", "Access denied")
            if route["item"]:
                item = drive.items.get(unquote(route["item"]))
            elif route["path"]:
                item = drive.find(unquote(route["path"]))
            else:
                item = drive.root
            if item is None:
                return _graph_error(404, "itemNotFound", "The resource could not be found.")
            if endpoint == "children":
                return self._children(drive, item, query)
            if endpoint == "move":
                return self._move(drive, item, headers, body)
            if_none_match = headers.get("If-None-Match", "").strip()
            if if_none_match and if_none_match in (item.etag, item.ctag):
                return Reply(304, b"", "text/plain", (("ETag", item.etag),))
            if endpoint == "content":
                if item.is_folder:
                    return _graph_error(
                        400, "invalidRequest", "Only a file has content to download."
                    )
                location = self._download_url(drive, item)
                return Reply(302, b"", "text/plain", (("Location", location),))
            return Reply.json(200, self._drive_item(drive, item, with_download=True))

    def _check_token(self, authorization: str) -> Reply | None:
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        with self._lock:
            issued = self._tokens.get(token) if scheme.lower() == "bearer" else None
        if issued is not None and issued[1] > time.time():
            return None
        if not token:
            message = "Access token is empty."
        elif issued is None:
            message = "IDX14100: JWT is not well formed (not a token this stand-in issued)."
        else:
            message = "Lifetime validation failed, the token is expired."
        return _graph_error(
            401,
            "InvalidAuthenticationToken",
            message,
            headers=[
                (
                    "WWW-Authenticate",
                    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/'
                    'common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"',
                )
            ],
        )

    def _children(self, drive: _Drive, folder: _Item, query: Mapping[str, str]) -> Reply:
        if not folder.is_folder:
            return _graph_error(400, "invalidRequest", "The item is not a folder.")
        try:
            top = int(query.get("$top") or self.page_size)
            skiptoken = query.get("$skiptoken") or query.get("$skipToken") or "MA=="
            offset = int(base64.urlsafe_b64decode(skiptoken).decode())
            if top < 1 or offset < 0:
                raise ValueError
        except ValueError:
            return _graph_error(400, "invalidRequest", "Invalid $top or $skiptoken.")
        children = drive.children(folder.id)
        page = children[offset : offset + top]
        path = f"/v1.0/drives/{quote(drive.id)}/items/{folder.id}/children"
        document: dict[str, Any] = {
            "@odata.context": f"{self.url}/v1.0/$metadata#drives('{drive.id}')/items"
            f"('{folder.id}')/children",
            "value": [self._drive_item(drive, i, with_download=True) for i in page],
        }
        if offset + top < len(children):
            skiptoken = base64.urlsafe_b64encode(str(offset + top).encode()).decode()
            document["@odata.nextLink"] = (
                f"{self.url}{path}?{urlencode({'$top': top, '$skiptoken': skiptoken})}"
            )
        return Reply.json(200, document)

    def _move(self, drive: _Drive, item: _Item, headers: Message, body: bytes) -> Reply:
        try:
            document = json.loads(body or b"null")
        except ValueError:
            return _graph_error(400, "invalidRequest", "The request body is not valid JSON.")
        if not isinstance(document, dict):
            return _graph_error(400, "invalidRequest", "The request body must be an object.")
        if_match = headers.get("If-Match")
        if if_match and if_match.strip() not in ("*", item.etag, item.ctag):
            return _graph_error(
                412, "preconditionFailed", "ETag does not match current item's value"
            )
        parent_ref = document.get("parentReference") or {}
        name = document.get("name", item.name)
        if not isinstance(parent_ref, dict) or not isinstance(name, str) or not name:
            return _graph_error(400, "invalidRequest", "Invalid parentReference or name.")
        other_drive = parent_ref.get("driveId")
        if other_drive and str(other_drive).lower() != drive.id.lower():
            return _graph_error(
                400, "invalidRequest", "Items cannot be moved between drives with this request."
            )
        parent = drive.items.get(parent_ref.get("id") or item.parent_id or "")
        if parent is None:
            return _graph_error(404, "itemNotFound", "The parent item could not be found.")
        if not parent.is_folder or parent.id == item.id:
            return _graph_error(400, "invalidRequest", "The parent must be another folder.")
        clash = drive.child(parent.id, name)
        if clash is not None and clash.id != item.id:
            return _graph_error(409, "nameAlreadyExists", "The specified item name already exists.")
        item.parent_id, item.name = parent.id, name
        item.version += 1
        logger.info("item %s moved into %s", item.id, parent.id)
        return Reply.json(200, self._drive_item(drive, item, with_download=True))

    def _drive_item(self, drive: _Drive, item: _Item, *, with_download: bool) -> dict[str, Any]:
        parent_path = (
            drive.path_of(drive.items[item.parent_id]) if item.parent_id is not None else None
        )
        document: dict[str, Any] = {
            "id": item.id,
            "name": item.name,
            "eTag": item.etag,
            "cTag": item.ctag,
            "createdDateTime": _now_iso(item.created),
            "lastModifiedDateTime": _now_iso(item.modified),
            "size": len(item.content)
            if not item.is_folder
            else sum(len(c.content) for c in drive.children(item.id)),
            "webUrl": f"{_WEB_URL}/{quote(drive.path_of(item))}",
        }
        if parent_path is not None:
            document["parentReference"] = {
                "driveType": "documentLibrary",
                "driveId": drive.id,
                "id": item.parent_id,
                "path": f"/drives/{drive.id}/root:" + (f"/{parent_path}" if parent_path else ""),
            }
        if item.is_folder:
            document["folder"] = {"childCount": len(drive.children(item.id))}
            if item.parent_id is None:
                document["root"] = {}
        else:
            mime = "text/csv" if item.name.lower().endswith(".csv") else "application/octet-stream"
            document["file"] = {"mimeType": mime}
            if with_download:
                document["@microsoft.graph.downloadUrl"] = self._download_url(drive, item)
        return document

    def _download_url(self, drive: _Drive, item: _Item) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._downloads[token] = _Download(
                drive.id, item.id, time.time() + self.download_lifetime
            )
        return f"{self.url}/_download/{quote(drive.id)}/{item.id}?{urlencode({'tempauth': token})}"

    def serve_download(self, drive_id: str, item_id: str, query: Mapping[str, str]) -> Reply:
        """The pre-authenticated URL: its ``tempauth`` is the only credential it looks at."""
        with self._lock:
            grant = self._downloads.get(query.get("tempauth", ""))
            drive = self._drives.get(drive_id.lower())
            item = drive.items.get(item_id) if drive is not None else None
            valid = (
                grant is not None
                and grant.expires_at > time.time()
                and grant.drive_id.lower() == drive_id.lower()
                and grant.item_id == item_id
            )
            content = item.content if item is not None and not item.is_folder else None
        if not valid:
            return _graph_error(401, "unauthenticated", "The download URL is invalid or expired.")
        if content is None:
            return _graph_error(404, "itemNotFound", "The resource could not be found.")
        return Reply(200, content, "application/octet-stream")

    # -- faults and control ----------------------------------------------------------------

    def default_fault_body(self, endpoint: str, fault: Fault, handler: StandInHandler) -> Any:
        if endpoint == "token":
            return {
                "error": "temporarily_unavailable",
                "error_description": f"AADSTS50196: {fault.status} (injected)",
            }
        codes = {
            401: "InvalidAuthenticationToken",
            403: "accessDenied",
            404: "itemNotFound",
            429: "activityLimitReached",
            503: "serviceNotAvailable",
        }
        document = json.loads(
            _graph_error(
                fault.status, codes.get(fault.status, "generalException"), "(injected)"
            ).body
        )
        return document

    def serve_control(self, method: str, path: str, body: bytes) -> Reply:
        """``GET /_standin/state``; ``POST /_standin/faults`` (as every stand-in);
        ``PUT``/``DELETE /_standin/files/{drive}/{path}`` (the body is the file)."""
        try:
            if path == "/_standin/state" and method == "GET":
                return Reply.json(200, self.state())
            if path == "/_standin/faults" and method == "POST":
                self.apply_control(json.loads(body or b"{}"))
                return Reply.json(200, self.state())
            files = _CONTROL_FILES.match(path)
            if files and method == "PUT":
                return Reply.json(200, self.put_file(files["path"], body, drive_id=files["drive"]))
            if files and method == "DELETE":
                found = self.delete(files["path"], drive_id=files["drive"])
                return Reply.json(200 if found else 404, {"deleted": found})
        except (ValueError, KeyError) as exc:
            return Reply.json(400, {"error": {"code": "BadRequest", "message": str(exc)}})
        return Reply.json(404, {"error": {"code": "NotFound", "message": path}})


def _graph_error(
    status: int, code: str, message: str, headers: Iterable[tuple[str, str]] = ()
) -> Reply:
    """Graph's error document, with the ``innerError`` every Graph error carries."""
    request_id = str(uuid.uuid4())
    document = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": _now_iso(time.time()),
                "request-id": request_id,
                "client-request-id": request_id,
            },
        }
    }
    return Reply.json(status, document, headers)


# --------------------------------------------------------------------------------------------
# `hrupload dev graph`
# --------------------------------------------------------------------------------------------


@click.command("graph")
@click.option(
    "--port",
    type=int,
    default=DEFAULT_PORT,
    show_default=True,
    help="Port on 127.0.0.1 (0 picks a free one).",
)
@click.option("--tenant-id", default=DEMO_TENANT_ID, show_default=True)
@click.option("--app-id", default=DEMO_APP_ID, show_default=True)
@click.option(
    "--app-secret",
    envvar="HRUPLOAD_GRAPH_SECRET",
    default=None,
    help="Secret the token endpoint accepts. [default: a generated one; env: "
    "HRUPLOAD_GRAPH_SECRET]",
)
@click.option("--drive-id", default=DEMO_DRIVE_ID, show_default=True)
@click.option(
    "--folder", default=DEMO_FOLDER, show_default=True, help="Folder (from the drive root)."
)
@click.option(
    "--seed",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Put the *.csv files of this directory into --folder. [default: empty folder]",
)
@click.option(
    "--page-size",
    type=click.IntRange(min=1),
    default=DEFAULT_PAGE_SIZE,
    show_default=True,
    help="Children per page when a request gives no $top.",
)
@click.option(
    "--latency-ms", type=float, default=0.0, show_default=True, help="Added to every API request."
)
def graph_command(
    port: int,
    tenant_id: str,
    app_id: str,
    app_secret: str | None,
    drive_id: str,
    folder: str,
    seed: Path | None,
    page_size: int,
    latency_ms: float,
) -> None:
    """Run a local stand-in for Microsoft Graph (a drive folder) and its v2.0 token endpoint.

    It is not Microsoft's service: it accepts only the app and secret it prints.
    """
    generated = not app_secret
    secret = secrets.token_urlsafe(24) if generated else str(app_secret)
    standin = GraphStandIn(
        tenant_id=tenant_id,
        apps={app_id: secret},
        drives=[drive_id],
        page_size=page_size,
        latency=latency_ms / 1000,
        port=port,
    )
    standin.make_folder(folder)
    for path in sorted(seed.glob("*.csv")) if seed is not None else []:
        standin.put_file(f"{folder}/{path.name}", path.read_bytes())
    serve_until_interrupted(
        standin, port, lambda: _graph_banner(standin, folder, generated, secret)
    )


def _graph_banner(standin: GraphStandIn, folder: str, generated: bool, secret: str) -> None:
    url = standin.url
    click.echo(f"Microsoft Graph stand-in (local, not Microsoft) listening on {url}")
    click.echo(f"  token:    POST {url}/{standin.tenant_id}/oauth2/v2.0/token")
    click.echo(f"  children: GET  {url}/v1.0/drives/{standin.drive_id}/root:/{folder}:/children")
    click.echo(f"  files:    PUT  {url}/_standin/files/{standin.drive_id}/{folder}/NAME.csv")
    click.echo("Point hrupload at it (the token endpoint is on the same URL):")
    for name, value in standin.env().items():
        click.echo(f"  export {name}={shlex.quote(value)}")
    print_secret(
        "HRUPLOAD_GRAPH_SECRET",
        secret if generated else None,
        "--app-secret or HRUPLOAD_GRAPH_SECRET",
    )
    source = standin.source(
        "CONNECTOR",
        folder,
        secret_env="HRUPLOAD_GRAPH_SECRET",  # noqa: S106 - a variable name
    )
    click.echo(f"  source: {json.dumps(source)}")
    click.echo("Press Ctrl-C to stop.")


def main(argv: list[str] | None = None) -> None:
    """``python -m hrupload_dev.graph``: the same command without the ``hrupload`` CLI."""
    graph_command.main(args=argv, prog_name="hrupload dev graph")


if __name__ == "__main__":
    main()
