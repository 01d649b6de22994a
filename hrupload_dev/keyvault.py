"""A local stand-in for Azure Key Vault's secrets API, over real HTTPS on loopback.

There is no Key Vault emulator, and hrupload reads its app secret through the real
``azure.keyvault.secrets.SecretClient``; so tests point that client at this server rather
than patching it. The stand-in speaks just enough of the protocol for the client to work
unchanged: TLS (a certificate from a throw-away ``trustme`` CA, which the client trusts via
``connection_verify=``), the Key Vault challenge (a 401 with ``WWW-Authenticate`` on the first
request, then a bearer token), ``GET /secrets/{name}[/{version}]`` and ``PUT /secrets/{name}``.

Like the connector stand-in it can fail on purpose (403, 404, 429, 5xx, delays, dropped or
reset connections, redirects, an HTML proxy page, a refusal quoting the bearer token) so the
secret cache and its error messages are tested against the answers Key Vault, or a proxy in
front of it, really gives.
It never logs secret values or tokens.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import shutil
import ssl
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from hrupload_dev.connector import (
    DEMO_TENANT_ID,
    Fault,
    LoopbackStandIn,
    Reply,
    StandInHandler,
)

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken
    from azure.keyvault.secrets import SecretClient

logger = logging.getLogger(__name__)

__all__ = ["Fault", "KeyVaultStandIn", "StaticTokenCredential", "make_test_credential"]

VAULT_RESOURCE = "https://vault.azure.net"
_SECRET_PATH = re.compile(r"^/secrets/([^/]+)(?:/([^/]*))?/?$")
_SECRET_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")


class StaticTokenCredential:
    """A real ``TokenCredential`` that always hands out one token: all a test needs of Entra ID.

    It records what the client asked for (``calls``: scopes and tenant), so a test can check
    that the Key Vault challenge, not hard-coded configuration, chose the scope and tenant.
    """

    def __init__(self, token: str, *, expires_in: int = 3600) -> None:
        self._token = token
        self._expires_in = expires_in
        self.calls: list[tuple[tuple[str, ...], str | None]] = []

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        from azure.core.credentials import AccessToken

        self.calls.append((scopes, tenant_id))
        return AccessToken(self._token, int(time.time()) + self._expires_in)

    def close(self) -> None:
        """Nothing to release; present because SDK clients close their credential's peers."""

    def __enter__(self) -> StaticTokenCredential:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:  # never the token
        return f"{type(self).__name__}(calls={len(self.calls)})"


def make_test_credential(token: str, *, expires_in: int = 3600) -> StaticTokenCredential:
    """A credential whose every token is ``token`` (the one a :class:`KeyVaultStandIn` expects)."""
    return StaticTokenCredential(token, expires_in=expires_in)


@dataclass(frozen=True)
class _Version:
    version: str
    value: str = field(repr=False)
    content_type: str | None
    tags: Mapping[str, str]
    created: int
    #: Unix time the secret expires (Key Vault's ``exp`` attribute), if it has one.
    expires: int | None = None


@dataclass
class _Secret:
    name: str
    versions: list[_Version] = field(default_factory=list)


class _KeyVaultHandler(StandInHandler):
    server_version = "hrupload-keyvault-standin"

    def do_GET(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def _serve(self) -> None:
        owner: KeyVaultStandIn = self.owner
        body = self.read_body_or_reply()
        if body is None:
            return
        challenge = owner.check_authorization(self.headers.get("Authorization", ""))
        if challenge is not None:
            self.send_reply(challenge)
            return
        target = urlsplit(self.path)
        method = self.command
        self.serve_with_faults("secrets", body, lambda _: owner.serve_secrets(method, target, body))


class KeyVaultStandIn(LoopbackStandIn):
    """Key Vault's secrets API for ``SecretClient``: HTTPS, challenge auth, get and set.

    Use ``SecretClient(vault_url=kv.url, credential=kv.credential,
    verify_challenge_resource=False, connection_verify=kv.ca_cert_pem_path)``, or
    :meth:`secret_client`. Faults apply to authorised requests only, so the challenge
    round trip always works and a queued 403 is what the secret read itself gets.
    """

    handler_class = _KeyVaultHandler
    fault_endpoints = ("secrets",)
    scheme = "https"

    def __init__(
        self,
        *,
        secrets: Mapping[str, str] | None = None,
        token: str = "test-token",  # noqa: S107 - the loopback stand-in's test token
        tenant_id: str = DEMO_TENANT_ID,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, latency=latency)
        self.token = token
        self.tenant_id = tenant_id
        #: The credential that gets :attr:`token`; one object, so tests can read its ``calls``.
        self.credential = make_test_credential(token)
        self._secrets: dict[str, _Secret] = {}
        self._counts = {"requests": 0, "challenges": 0, "reads": 0, "writes": 0}
        self._tls_dir: Path | None = None
        self._ca_path: Path | None = None
        for name, value in (secrets or {}).items():
            self.set_secret(name, value)

    # -- TLS -------------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        import trustme

        ca = trustme.CA()
        leaf = ca.issue_cert(self.host, "localhost")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        leaf.configure_cert(context)
        self._tls_dir = Path(tempfile.mkdtemp(prefix="hrupload-kv-"))
        self._ca_path = self._tls_dir / "test-ca.pem"
        ca.cert_pem.write_to_path(str(self._ca_path))
        return context

    def stop(self) -> None:
        super().stop()
        if self._tls_dir is not None:
            shutil.rmtree(self._tls_dir, ignore_errors=True)
            self._tls_dir = None
            self._ca_path = None

    @property
    def ca_cert_pem_path(self) -> str:
        """The test CA's certificate: pass it as ``connection_verify=`` (or requests' verify=)."""
        if self._ca_path is None:
            raise RuntimeError("KeyVaultStandIn is not running: call start() first")
        return str(self._ca_path)

    def secret_client(self, **kwargs: Any) -> SecretClient:
        """A real ``SecretClient`` for this vault; ``kwargs`` override (e.g. ``retry_total=0``)."""
        from azure.keyvault.secrets import SecretClient

        options: dict[str, Any] = {
            "verify_challenge_resource": False,
            "connection_verify": self.ca_cert_pem_path,
        }
        options.update(kwargs)
        return SecretClient(vault_url=self.url, credential=self.credential, **options)

    # -- secrets ---------------------------------------------------------------------------

    def set_secret(
        self,
        name: str,
        value: str,
        *,
        content_type: str | None = None,
        expires: int | None = None,
    ) -> str:
        """Add a new version of ``name`` (rotation); returns the version id."""
        if not _SECRET_NAME.match(name):
            raise ValueError(f"invalid Key Vault secret name {name!r}")
        version = _Version(uuid.uuid4().hex, value, content_type, {}, int(time.time()), expires)
        with self._lock:
            self._secrets.setdefault(name.lower(), _Secret(name)).versions.append(version)
        return version.version

    def secret_versions(self, name: str) -> list[str]:
        """Version ids of ``name``, oldest first (empty for an unknown secret)."""
        with self._lock:
            secret = self._secrets.get(name.lower())
            return [v.version for v in secret.versions] if secret else []

    @property
    def requests(self) -> int:
        """Requests received, challenged ones included."""
        return self._count("requests")

    @property
    def challenges(self) -> int:
        """401 challenges sent (a SecretClient needs one per vault, then caches it)."""
        return self._count("challenges")

    @property
    def reads(self) -> int:
        """Secret values served: what a client-side cache is meant to keep low."""
        return self._count("reads")

    @property
    def writes(self) -> int:
        return self._count("writes")

    def _count(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def _bump(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    # -- protocol --------------------------------------------------------------------------

    def check_authorization(self, header: str) -> Reply | None:
        """None for the expected bearer token, else the challenge Key Vault answers with."""
        self._bump("requests")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), self.token.encode()):
            return None
        self._bump("challenges")
        message = (
            "AKV10000: Request is missing a Bearer or PoP token."
            if not token
            else "AKV10032: Invalid token: it is not the token this stand-in was configured with."
        )
        challenge = (
            f'Bearer authorization="https://login.microsoftonline.com/{self.tenant_id}", '
            f'resource="{VAULT_RESOURCE}"'
        )
        return Reply.json(
            401,
            {"error": {"code": "Unauthorized", "message": message}},
            headers=[("WWW-Authenticate", challenge)],
        )

    def serve_secrets(self, method: str, target: SplitResult, body: bytes) -> Reply:
        if not parse_qs(target.query).get("api-version"):
            return _error(400, "BadParameter", "The 'api-version' query parameter is missing.")
        match = _SECRET_PATH.match(target.path)
        if match is None:
            return _error(404, "NotFound", f"No such operation: {method} {target.path}")
        name, version = unquote(match.group(1)), unquote(match.group(2) or "")
        if not _SECRET_NAME.match(name):
            return _error(400, "BadParameter", f"The secret name '{name}' is invalid.")
        if method == "GET":
            return self._get(name, version)
        if version:
            return _error(405, "MethodNotAllowed", "Secrets are set by name, not by version.")
        return self._put(name, body)

    def _get(self, name: str, version: str) -> Reply:
        with self._lock:
            secret = self._secrets.get(name.lower())
            found: _Version | None = None
            if secret is not None:
                if not version:
                    found = secret.versions[-1]
                else:
                    found = next((v for v in secret.versions if v.version == version), None)
        if secret is None or found is None:
            return _secret_not_found(f"{name}/{version}" if version else name)
        self._bump("reads")
        return Reply.json(200, self._bundle(secret.name, found))

    def _put(self, name: str, body: bytes) -> Reply:
        try:
            document = json.loads(body or b"null")
        except ValueError:
            return _error(400, "BadParameter", "The request body is not valid JSON.")
        if not isinstance(document, dict) or not isinstance(document.get("value"), str):
            return _error(400, "BadParameter", "The request body must give a string 'value'.")
        content_type = document.get("contentType")
        attributes = document.get("attributes")
        expires = attributes.get("exp") if isinstance(attributes, dict) else None
        version = self.set_secret(
            name,
            document["value"],
            content_type=content_type if content_type else None,
            expires=expires if isinstance(expires, int) else None,
        )
        self._bump("writes")
        logger.info("secret %s set (version %s)", name, version)
        with self._lock:
            secret = self._secrets[name.lower()]
            found = next(v for v in secret.versions if v.version == version)
        return Reply.json(200, self._bundle(secret.name, found))

    def _bundle(self, name: str, version: _Version) -> dict[str, Any]:
        bundle: dict[str, Any] = {
            "value": version.value,
            "id": f"{self.url}/secrets/{name}/{version.version}",
            "attributes": {
                "enabled": True,
                "created": version.created,
                "updated": version.created,
                "recoveryLevel": "Recoverable+Purgeable",
                "recoverableDays": 90,
            },
            "tags": dict(version.tags),
        }
        if version.expires is not None:
            bundle["attributes"]["exp"] = version.expires
        if version.content_type:
            bundle["contentType"] = version.content_type
        return bundle

    def default_fault_body(self, endpoint: str, fault: Fault, handler: StandInHandler) -> Any:
        """Key Vault's own error bodies, so the client's error messages are tested for real."""
        if fault.status == 403:
            return {
                "error": {
                    "code": "Forbidden",
                    "message": (
                        "Caller is not authorized to perform action on resource. If role "
                        "assignments, deny assignments or role definitions were changed recently, "
                        "please observe propagation time. Action: "
                        "'Microsoft.KeyVault/vaults/secrets/getSecret/action'"
                    ),
                    "innererror": {"code": "ForbiddenByRbac"},
                }
            }
        if fault.status == 404:
            match = _SECRET_PATH.match(urlsplit(handler.path).path)
            return json.loads(_secret_not_found(match.group(1) if match else "?").body)
        if fault.status == 429:
            return {
                "error": {
                    "code": "Throttled",
                    "message": "Request was not allowed because of too many requests (injected).",
                }
            }
        return super().default_fault_body(endpoint, fault, handler)


def _error(status: int, code: str, message: str) -> Reply:
    return Reply.json(status, {"error": {"code": code, "message": message}})


def _secret_not_found(name: str) -> Reply:
    return _error(
        404,
        "SecretNotFound",
        f"A secret with (name/id) {name} was not found in this key vault. If you recently "
        "deleted this secret you may be able to recover it using the correct recovery command. "
        "For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
    )
