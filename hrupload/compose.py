"""The composition root: every client both front doors use, built here from the settings.

The Function app (``hrupload.functions``) and the CLI call these; nothing below this
module builds an Azure, Key Vault or connector client of its own, so a credential, a
timeout or an endpoint is decided once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hrupload.app.pipeline import Services
from hrupload.core.profile import load_profile
from hrupload.settings import Settings


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


def make_client(settings: Settings, *, secret_provider: Callable[[bool], str] | None = None):
    """The connector client for these settings. ``secret_provider`` is the seam for tests
    and the local stand-ins; without it the secret (or, with HRUPLOAD_CERTIFICATE_NAME,
    the certificate) comes from HRUPLOAD_APP_SECRET or Key Vault."""
    from hrupload.adapters.connector import (
        CONNECT_TIMEOUT,
        ConnectorClient,
        SecretCredential,
        endpoints,
    )
    from hrupload.app.limiter import ConcurrencyGate

    settings.require_connector()
    assert settings.tenant_id and settings.app_id and settings.job_id
    ends = endpoints(
        settings.cloud, login_url=settings.login_url, ingestion_url=settings.ingestion_url
    )
    provider: Any = secret_provider
    if provider is None and settings.app_secret and not settings.certificate_name:
        provider = settings.app_secret
    if provider is None:
        from hrupload.adapters.keyvault import KeyVaultSecret

        provider = KeyVaultSecret(
            settings.key_vault_url or "",
            settings.certificate_name or settings.secret_name,
            ttl=float(settings.secret_ttl_seconds),
        )
    if settings.certificate_name:
        from hrupload.adapters.keyvault import certificate_from_key_vault

        credential: Any = certificate_from_key_vault(provider, settings.tenant_id, settings.app_id)
    else:
        credential = SecretCredential(settings.tenant_id, settings.app_id, provider)
    return ConnectorClient(
        credential,
        job_id=settings.job_id,
        endpoints=ends,
        retry_budget=float(settings.retry_budget),
        timeout=(CONNECT_TIMEOUT, float(settings.read_timeout)),
        gate=ConcurrencyGate.adaptive(settings.concurrency),
    )
