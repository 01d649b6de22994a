"""The composition root: every client both front doors use, built here from the settings.

The Function app (``hrupload.functions``) and the CLI call these; nothing below this
module builds an Azure, Key Vault or connector client of its own, and neither front door
wires an adapter itself, so a credential, a timeout or an endpoint is decided once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hrupload.app.pipeline import Services
from hrupload.core.profile import load_profile
from hrupload.settings import Settings

if TYPE_CHECKING:  # the adapters load when a client is built, not at import
    from hrupload.adapters.connector import AppCredential, ConnectorClient
    from hrupload.adapters.local_state import LocalCheckpoints

#: How the connector's secret is given: the secret itself, or ``provider(force)`` that
#: reads it (Key Vault; ``force`` after the token endpoint rejected it: a rotation).
SecretProvider = str | Callable[[bool], str]


def build_services(
    settings: Settings,
    *,
    storage_credential: Any = None,
    secret_provider: Callable[[bool], str] | None = None,
) -> Services:
    """Wire settings to real adapters; every check that can fail early fails here."""
    from hrupload.adapters.storage import HrStorage

    storage_settings = settings.require_storage()
    storage = HrStorage.from_settings(
        storage_settings,
        incoming=settings.incoming,
        processed=settings.processed,
        failed=settings.failed,
        runs_table=settings.runs_table,
        credential=storage_credential,
    )
    profile = load_profile(settings.profile)

    def client_factory():
        return make_client(settings, secret_provider=secret_provider)

    return Services(settings, storage, client_factory, profile)


@dataclass(frozen=True)
class LocalUpload:
    """What ``hrupload upload`` runs with: no storage, checkpoints on the local disk."""

    settings: Settings
    #: None for a dry run, which sends nothing and needs no credentials.
    client: ConnectorClient | None
    checkpoints: LocalCheckpoints


def build_local_upload(
    settings: Settings, *, certificate: Path | None = None, send: bool = True
) -> LocalUpload:
    """The CLI's counterpart of :func:`build_services`. ``certificate``: a PEM or PFX file
    given on the command line instead of a secret."""
    from hrupload.adapters.local_state import LocalCheckpoints

    client = make_client(settings, certificate=certificate) if send else None
    return LocalUpload(settings, client, LocalCheckpoints(settings.state_dir))


def secret_provider(settings: Settings) -> SecretProvider:
    """The connector's secret for these settings: HRUPLOAD_APP_SECRET itself (local use),
    else a Key Vault provider, read lazily and kept HRUPLOAD_SECRET_TTL_SECONDS. With
    HRUPLOAD_CERTIFICATE_NAME, the Key Vault secret holding that certificate's key."""
    if settings.app_secret and not settings.certificate_name:
        return settings.app_secret
    from hrupload.adapters.keyvault import KeyVaultSecret

    return KeyVaultSecret(
        settings.key_vault_url or "",
        settings.certificate_name or settings.secret_name,
        ttl=float(settings.secret_ttl_seconds),
        managed_identity_client_id=settings.managed_identity_client_id,
    )


def make_client(
    settings: Settings,
    *,
    secret_provider: Callable[[bool], str] | None = None,
    certificate: Path | None = None,
) -> ConnectorClient:
    """The connector client for these settings, the one place it is built for both front
    doors. ``secret_provider`` is the seam for tests and the local stand-ins;
    ``certificate`` the CLI's certificate file. Without them the secret (or, with
    HRUPLOAD_CERTIFICATE_NAME, the certificate) comes from HRUPLOAD_APP_SECRET or Key Vault."""
    from hrupload.adapters.connector import CONNECT_TIMEOUT, ConnectorClient, endpoints
    from hrupload.app.limiter import ConcurrencyGate

    settings.require_connector(certificate=certificate is not None)
    assert settings.job_id
    ends = endpoints(
        settings.cloud, login_url=settings.login_url, ingestion_url=settings.ingestion_url
    )
    return ConnectorClient(
        _credential(settings, secret_provider, certificate),
        job_id=settings.job_id,
        endpoints=ends,
        retry_budget=float(settings.retry_budget),
        timeout=(CONNECT_TIMEOUT, float(settings.read_timeout)),
        gate=ConcurrencyGate.adaptive(settings.concurrency),
    )


def _credential(
    settings: Settings,
    provider: Callable[[bool], str] | None,
    certificate: Path | None,
) -> AppCredential:
    """How the app proves itself: a certificate file, a Key Vault certificate, or a secret."""
    from hrupload.adapters.connector import CertificateCredential, SecretCredential

    tenant, app = settings.tenant_id or "", settings.app_id or ""
    if certificate is not None:
        return CertificateCredential.from_file(
            tenant, app, certificate, settings.certificate_password
        )
    chosen = provider if provider is not None else secret_provider(settings)
    if settings.certificate_name:
        from hrupload.adapters.keyvault import certificate_from_key_vault

        assert callable(chosen)  # a certificate is never given as text
        return certificate_from_key_vault(chosen, tenant, app)
    return SecretCredential(tenant, app, chosen)
