"""The connector app's secret (or certificate) from Key Vault, cached and re-read on rotation.

The Function reads it with its managed identity through ``DefaultAzureCredential``.
There is no Key Vault emulator, so the client options are a seam: tests pass a CA
bundle for a local HTTPS stand-in and ``verify_challenge_resource=False``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from hrupload.core.errors import ConfigError, SecretError
from hrupload.core.termsafe import logger
from hrupload.settings import default

log = logger(__name__)  # file-derived text in messages and fields is escaped

#: The SDK's defaults (10 retries, 300 s read timeout) would hold a token request for most
#: of an hour when Key Vault hangs; a file waits better in incoming, with the reason recorded.
CLIENT_DEFAULTS: dict[str, Any] = {
    "retry_total": 3,
    "retry_backoff_factor": 0.5,
    "connection_timeout": 10,
    "read_timeout": 30,
}


class KeyVaultSecret:
    """A callable secret provider: ``provider(force)`` gives the current value.

    Values are kept for ``ttl`` seconds; ``force=True`` (after the token endpoint
    rejected the secret) reads again at once, which is how a rotation is picked up.
    """

    def __init__(
        self,
        vault_url: str,
        name: str,
        *,
        credential: Any = None,
        ttl: float = float(default("HRUPLOAD_SECRET_TTL_SECONDS")),
        client_options: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        managed_identity_client_id: str | None = None,
    ) -> None:
        """``managed_identity_client_id`` (AZURE_CLIENT_ID) picks the user-assigned
        identity that reads the vault when no ``credential`` is given."""
        if not vault_url.startswith("https://"):
            raise ConfigError(f"HRUPLOAD_KEY_VAULT_URL must be an https:// URL, got {vault_url!r}")
        self.vault_url = vault_url
        self.name = name
        self.ttl = ttl
        self._credential = credential
        self._identity = managed_identity_client_id
        from hrupload.adapters.net import proxies_for

        # A loopback vault (the stand-in) is reached directly, never through HTTPS_PROXY.
        direct = proxies_for(vault_url)
        self._options = CLIENT_DEFAULTS | ({"proxies": direct} if direct else {})
        self._options |= client_options or {}
        self._clock = clock
        self._lock = threading.Lock()
        self._value: str | None = None
        self._read_at = 0.0
        self._client: Any = None
        self.content_type: str | None = None

    def __repr__(self) -> str:
        return f"KeyVaultSecret(vault_url={self.vault_url!r}, name={self.name!r})"

    def _secret_client(self) -> Any:
        if self._client is None:
            from azure.keyvault.secrets import SecretClient

            credential = self._credential
            if credential is None:
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential(managed_identity_client_id=self._identity)
            self._client = SecretClient(self.vault_url, credential, **self._options)
        return self._client

    def __call__(self, force: bool = False) -> str:
        with self._lock:
            fresh = self._value is not None and self._clock() - self._read_at < self.ttl
            if fresh and not force:
                return self._value  # type: ignore[return-value]
            self._value = self._read()
            self._read_at = self._clock()
            return self._value

    def _read(self) -> str:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        where = f"secret {self.name!r} in {self.vault_url}"
        try:
            secret = self._secret_client().get_secret(self.name)
        except ResourceNotFoundError:
            raise SecretError(
                f"{where} does not exist: set it with `az keyvault secret set --vault-name "
                f"<vault> --name {self.name} --value <the app's client secret>`"
            ) from None
        except ClientAuthenticationError as exc:
            raise SecretError(
                f"cannot authenticate to Key Vault for {where}: {_first_line(exc)}. In Azure, "
                "check the managed identity (AZURE_CLIENT_ID); locally, run `az login`",
                transient=True,
            ) from None
        except HttpResponseError as exc:
            if exc.status_code == 403:
                raise SecretError(
                    f"access to {where} is forbidden: give the Function app's identity the "
                    "'Key Vault Secrets User' role on the vault",
                ) from None
            transient = exc.status_code is None or exc.status_code >= 500 or exc.status_code == 429
            raise SecretError(
                f"Key Vault answered {exc.status_code} for {where}", transient=transient
            ) from None
        except (ServiceRequestError, ServiceResponseError):
            raise SecretError(
                f"Key Vault did not answer for {where}: network or DNS problem", transient=True
            ) from None
        if not secret.value:
            raise SecretError(f"{where} is empty: set the app's client secret as its value")
        self.content_type = secret.properties.content_type
        # The expiry (empty when the secret has none) feeds the secret-expiry alert (alerts.bicep).
        expires = secret.properties.expires_on
        log.info(
            "read the connector secret from Key Vault",
            extra={"secret_name": self.name, "expires": expires.isoformat() if expires else ""},
        )
        return secret.value


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def certificate_from_key_vault(provider: Callable[..., str], tenant_id: str, app_id: str):
    """A Key Vault certificate's private key is readable as a secret of the same name:
    PEM text, or a base64 PFX."""
    import base64
    import binascii

    from hrupload.adapters.connector import CertificateCredential

    value = provider()
    try:
        data = value.encode() if "BEGIN" in value else base64.b64decode(value)
        return CertificateCredential.from_bytes(tenant_id, app_id, data)
    except (ValueError, binascii.Error):
        raise SecretError(
            f"Key Vault certificate {getattr(provider, 'name', '')!r} could not be read as PEM "
            "or PFX with its private key (is the certificate's key exportable?)"
        ) from None
