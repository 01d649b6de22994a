"""Entra ID client credentials as the stand-ins' token endpoints check them.

The connector stand-in serves the v1 endpoint (``/{tenant}/oauth2/token``, a ``resource``) and
the Graph stand-in the v2.0 one (``/{tenant}/oauth2/v2.0/token``, a ``scope``); both check the
same things in the same order and refuse with the same AADSTS codes, so that logic lives here
once: the app registrations (secrets and certificates), the checks, and the error document.
Only what differs (the resource or scope, the success document) stays with each stand-in.
No HTTP here; the stand-ins turn :class:`AadError` into their reply.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: The request fields that hold a credential: never logged, redacted when recorded.
SECRET_FIELDS = frozenset({"client_secret", "client_assertion"})


class AadError(Exception):
    """A token endpoint refusal, written the way Entra ID writes it."""

    def __init__(self, status: int, error: str, code: int, message: str) -> None:
        super().__init__(f"AADSTS{code}: {message}")
        self.status, self.error, self.code, self.message = status, error, code, message

    def document(self) -> dict[str, Any]:
        """The JSON body Entra ID answers with (``error``, ``error_description`` ...)."""
        now = datetime.now(UTC)
        trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
        description = (
            f"AADSTS{self.code}: {self.message}\r\nTrace ID: {trace_id}\r\n"
            f"Correlation ID: {correlation_id}\r\nTimestamp: {stamp}"
        )
        return {
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        }


@dataclass(frozen=True)
class Certificate:
    thumbprint_hex: str
    public_key: Any


def form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """A token request's form fields (first value of each); empty unless form-encoded."""
    if content_type != "application/x-www-form-urlencoded":
        return {}
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}


def redacted(fields: Mapping[str, str]) -> dict[str, str]:
    """``fields`` with every credential replaced, as a stand-in may record them."""
    return {k: ("<redacted>" if k in SECRET_FIELDS else v) for k, v in fields.items()}


def check_resource(expected: str, tenant_id: str) -> Callable[[Mapping[str, str]], None]:
    """The v1 endpoint's check: ``resource`` must be ``expected``."""

    def check(fields: Mapping[str, str]) -> None:
        resource = fields.get("resource")
        if not resource:
            raise missing("resource")
        if resource != expected:
            raise resource_not_found(resource, tenant_id)

    return check


def check_scope(resource: str, tenant_id: str) -> Callable[[Mapping[str, str]], None]:
    """The v2.0 endpoint's check for client credentials: ``scope`` must be exactly
    ``{resource}/.default`` (a delegated scope such as ``.../Files.Read`` is refused)."""
    expected = f"{resource.rstrip('/')}/.default"

    def check(fields: Mapping[str, str]) -> None:
        scope = fields.get("scope")
        if not scope:
            raise missing("scope")
        if "resource" in fields:
            raise AadError(
                400,
                "invalid_request",
                901002,
                "The 'resource' request parameter is not supported.",
            )
        if scope == expected:
            return
        # ".../.default" names its resource; ".../Files.Read" a permission of one.
        named = scope.removesuffix("/.default") if scope.endswith("/.default") else None
        named = named if named is not None else scope.rpartition("/")[0]
        if named.rstrip("/") != resource.rstrip("/"):
            raise resource_not_found(named or scope, tenant_id)
        raise AadError(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must "
            "have a scope value with /.default suffixed to the resource identifier "
            "(application ID URI).",
        )

    return check


def resource_not_found(resource: str, tenant_id: str) -> AadError:
    return AadError(
        400,
        "invalid_resource",
        500011,
        f"The resource principal named {resource} was not found in the tenant named "
        f"{tenant_id}. This can happen if the application has not been installed by "
        "the administrator of the tenant or consented to by any user in the tenant. You "
        "might have sent your authentication request to the wrong tenant.",
    )


class ClientApps:
    """The app registrations one tenant's token endpoint knows: secrets and certificates.

    ``last_assertion`` holds the header and claims of the last client assertion (decoded,
    even if it was refused).
    """

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._lock = threading.RLock()
        self._secrets: dict[str, str] = {}
        self._certificates: dict[str, dict[str, Certificate]] = {}
        self._app_order: list[str] = []
        self.last_assertion: dict[str, Any] | None = None

    def set_secret(self, app_id: str, secret: str) -> None:
        """Register an app or rotate its secret (the old secret stops working at once)."""
        with self._lock:
            self._secrets[app_id.lower()] = secret
            self._remember(app_id)

    def add_certificate(self, app_id: str, pem: bytes | str) -> str:
        """Trust ``pem``'s key for ``app_id``'s client assertions; returns the base64url x5t."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        cert = x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
        digest = cert.fingerprint(hashes.SHA1())  # noqa: S303 - x5t is SHA-1 by definition
        x5t = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        with self._lock:
            self._certificates.setdefault(app_id.lower(), {})[x5t] = Certificate(
                digest.hex().upper(), cert.public_key()
            )
            self._remember(app_id)
        return x5t

    def _remember(self, app_id: str) -> None:
        if app_id.lower() not in (a.lower() for a in self._app_order):
            self._app_order.append(app_id)

    @property
    def app_id(self) -> str | None:
        """The first app with a secret (else the first app): the CLI's and fixtures' app."""
        with self._lock:
            with_secret = [a for a in self._app_order if a.lower() in self._secrets]
            return (with_secret or self._app_order or [None])[0]

    def secret(self, app_id: str | None) -> str | None:
        with self._lock:
            return self._secrets.get(app_id.lower()) if app_id else None

    def authenticate(
        self,
        tenant: str,
        fields: Mapping[str, str],
        audiences: set[str],
        check_target: Callable[[Mapping[str, str]], None],
    ) -> str:
        """The app id the request proves to be, or the AADSTS refusal Entra ID would give.

        ``audiences`` are the token URLs a client assertion may name; ``check_target`` refuses
        a wrong ``resource`` (v1) or ``scope`` (v2) the way that endpoint does.
        """
        if tenant.lower() != self.tenant_id.lower():
            raise AadError(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
                "and are signing into the correct cloud. Check with your subscription "
                "administrator, this may happen if there are no active subscriptions for the "
                "tenant.",
            )
        for name in ("grant_type", "client_id"):
            if not fields.get(name):
                raise missing(name)
        if fields["grant_type"] != "client_credentials":
            raise AadError(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{fields['grant_type']}'.",
            )
        app_id = fields["client_id"]
        with self._lock:
            secret = self._secrets.get(app_id.lower())
            certificates = dict(self._certificates.get(app_id.lower(), {}))
        if secret is None and not certificates:
            raise AadError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{app_id}' was not found in the directory "
                f"'{self.tenant_id}'. This can happen if the application has not been installed "
                "by the administrator of the tenant or consented to by any user in the tenant. "
                "You may have sent your authentication request to the wrong tenant.",
            )
        check_target(fields)
        if "client_secret" in fields and "client_assertion" in fields:
            raise AadError(
                400,
                "invalid_request",
                90014,
                "Send exactly one client credential: 'client_secret' or 'client_assertion', "
                "not both (stand-in check).",
            )
        if "client_secret" in fields:
            if secret is None or not hmac.compare_digest(
                fields["client_secret"].encode(), secret.encode()
            ):
                raise AadError(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request "
                    "is the client secret value, not the client secret ID, for a secret added to "
                    f"app '{app_id}'.",
                )
            return app_id
        if "client_assertion" in fields:
            self._verify_assertion(app_id, fields, certificates, audiences)
            return app_id
        raise AadError(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or "
            "'client_secret'.",
        )

    def _verify_assertion(
        self,
        app_id: str,
        fields: Mapping[str, str],
        certificates: Mapping[str, Certificate],
        audiences: set[str],
    ) -> None:
        import jwt

        assertion_type = fields.get("client_assertion_type")
        if not assertion_type:
            raise missing("client_assertion_type")
        if assertion_type != JWT_BEARER_ASSERTION:
            raise AadError(
                400,
                "invalid_request",
                50027,
                f"Invalid client_assertion_type '{assertion_type}'; expected "
                f"'{JWT_BEARER_ASSERTION}'.",
            )
        assertion = fields["client_assertion"]
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise AadError(
                401, "invalid_client", 50027, "JWT token is invalid or malformed."
            ) from None
        with self._lock:
            self.last_assertion = {"header": header, "claims": claims}
        x5t = header.get("x5t")
        certificate = certificates.get(x5t) if isinstance(x5t, str) else None
        used = thumbprint_hex(x5t)
        if certificate is None:
            raise AadError(
                401,
                "invalid_client",
                700027,
                "The certificate with identifier used to sign the client assertion is not "
                f"registered on application. [Reason - The key was not found., Thumbprint of key "
                f"used by client: '{used}', Please visit the Azure Portal, Graph Explorer or "
                f"directly use MS Graph to see configured keys for app Id '{app_id}'.]",
            )
        try:
            jwt.decode(
                assertion,
                certificate.public_key,
                algorithms=["RS256"],
                audience=sorted(audiences),
                options={"require": ["aud", "iss", "sub", "jti", "nbf", "exp"]},
            )
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError):
            raise AadError(
                401,
                "invalid_client",
                700027,
                "Client assertion contains an invalid signature. [Reason - The provided signature "
                f"value did not match the expected signature value., Thumbprint of key used by "
                f"client: '{used}']",
            ) from None
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
            raise AadError(
                401,
                "invalid_client",
                700024,
                f"Client assertion is not within its valid time range. Current time: "
                f"{iso(time.time())}, assertion valid from {iso(claims.get('nbf'))}, expiry "
                f"time of assertion {iso(claims.get('exp'))}.",
            ) from None
        except jwt.InvalidAudienceError:
            raise AadError(
                401,
                "invalid_client",
                50013,
                f"Assertion audience claim does not match the required value. The audience in "
                f"the assertion was '{claims.get('aud')}' and the expected audience is "
                f"'{min(audiences)}'.",
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise AadError(
                401,
                "invalid_client",
                50027,
                f"JWT token is invalid or malformed: the required claim '{exc.claim}' is missing.",
            ) from None
        except jwt.InvalidTokenError as exc:
            raise AadError(
                401, "invalid_client", 50027, f"JWT token is invalid or malformed: {exc}."
            ) from None
        if claims.get("iss") != app_id or claims.get("sub") != app_id:
            raise AadError(
                401,
                "invalid_client",
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.",
            )


def missing(name: str) -> AadError:
    return AadError(
        400,
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{name}'.",
    )


def thumbprint_hex(x5t: object) -> str:
    if not isinstance(x5t, str):
        return "(no x5t header)"
    try:
        return base64.urlsafe_b64decode(x5t + "=" * (-len(x5t) % 4)).hex().upper()
    except (binascii.Error, ValueError):
        return x5t


def iso(value: object) -> str:
    if not isinstance(value, int | float):
        return "(missing)"
    return datetime.fromtimestamp(value, UTC).strftime("%m/%d/%Y %H:%M:%S")
