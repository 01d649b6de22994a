"""The composition root: every client both front doors use, built here from the settings.

The Function app (``hrupload.functions``) and the CLI call these; nothing below this
module builds an Azure, Key Vault or connector client of its own, and neither front door
wires an adapter itself, so a credential, a timeout or an endpoint is decided once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hrupload.app.pipeline import Services
from hrupload.core.profile import Profile
from hrupload.settings import ConfigBlob, Settings, StorageSettings

if TYPE_CHECKING:  # the adapters load when a client is built, not at import
    from hrupload.adapters.connector import AppCredential, ConnectorClient
    from hrupload.adapters.local_state import LocalCheckpoints
    from hrupload.adapters.storage import HrStorage
    from hrupload.app.doctor import Item
    from hrupload.app.sources import Source

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
        config=settings.config_container,
        credential=storage_credential,
    )
    clients = _SharedTokens()

    def services_for(own: Settings) -> Services:
        # The deployment's secret provider (a seam for tests) is the deployment app's:
        # a connector with an app or secret of its own reads its own.
        shared = own.app_id == settings.app_id and own.secret_name == settings.secret_name
        provider = secret_provider if shared else None
        return Services(
            own,
            storage,
            lambda: clients.client(own, secret_provider=provider),
            _profile_of(own),
        )

    services = services_for(settings)
    services.connectors = {
        c.name: services_for(settings.for_connector(c)) for c in settings.connectors
    }
    return services


def _profile_of(settings: Settings) -> Profile:
    """The settings' profile, loaded; a connector's that does not load names the connector."""
    from hrupload.core.errors import ProfileError

    try:
        return settings.load_profile()
    except ProfileError as exc:
        if settings.connector_name is None:
            raise
        raise ProfileError(
            f"connector {settings.connector_name!r} (HRUPLOAD_CONNECTORS): {exc}"
        ) from None


# -- configuration blobs (blob:<name> in HRUPLOAD_CONFIG_CONTAINER) -------------------------


class ConfigBlobs:
    """Reads the config container's blobs for :func:`hrupload.settings.load` (its
    ``read_config``), through the storage adapter, and tells whether the blobs some
    settings were loaded from changed since (their ETags): the Function app reloads then,
    so an uploaded profile is used by the next file without a restart."""

    def __init__(
        self, *, credential: Any = None, client_options: Mapping[str, Any] | None = None
    ) -> None:
        self._credential = credential
        self._client_options = client_options
        self._stores: dict[StorageSettings, HrStorage] = {}

    def _store(self, storage: StorageSettings) -> HrStorage:
        from hrupload.adapters.storage import HrStorage

        if storage not in self._stores:
            # Only the blob client is used: the container names are the caller's.
            self._stores[storage] = HrStorage.from_settings(
                storage,
                incoming="",
                processed="",
                failed="",
                runs_table="",
                credential=self._credential,
                client_options=self._client_options,
            )
        return self._stores[storage]

    def __call__(self, storage: StorageSettings, container: str, name: str) -> ConfigBlob:
        from hrupload.app.ports import BlobGone
        from hrupload.core.errors import ConfigError
        from hrupload.settings import MAX_CONFIG_BYTES

        try:
            data, etag = self._store(storage).read_small(
                container, name, limit=MAX_CONFIG_BYTES + 1
            )
        except BlobGone:
            raise ConfigError(
                "the blob does not exist; upload it (az storage blob upload --auth-mode login "
                f"--account-name <account> --container-name {container} --name {name} "
                "--file <file> --overwrite) or correct the setting"
            ) from None
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"the blob is over {MAX_CONFIG_BYTES >> 10} KiB, far more than configuration "
                "takes; upload the JSON file itself"
            )
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ConfigError("the blob is not UTF-8 text; upload the JSON file itself") from None
        return ConfigBlob(name, text, etag)

    def changed(self, loaded: Settings) -> bool:
        """Whether a config blob ``loaded`` was read from has another version now (or is
        gone, or cannot be checked: reading again then says why)."""
        from hrupload.core.errors import HrUploadError

        if not loaded.config_blobs or loaded.storage is None:
            return False
        store = self._store(loaded.storage)
        for name, blob in loaded.config_blobs.items():
            try:
                if store.get_info(loaded.config_container, name).etag != blob.etag:
                    return True
            except HrUploadError:
                return True
        return False


def load_settings(
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object | None] | None = None,
    *,
    options: Mapping[str, str] | None = None,
    config_blobs: ConfigBlobs | None = None,
) -> Settings:
    """:func:`hrupload.settings.load` with the config blobs (``blob:<name>``) read from the
    HR storage: how both front doors read their settings."""
    from hrupload.settings import load

    reader = config_blobs if config_blobs is not None else ConfigBlobs()
    return load(env, overrides, options=options, read_config=reader)


def uses_config_blobs(env: Mapping[str, str] | None = None) -> bool:
    """Whether HRUPLOAD_PROFILE or HRUPLOAD_CONNECTORS names a config blob (itself, or in
    a connector's ``profile`` of inline connectors JSON): a configuration error may then
    come from a blob an operator uploaded."""
    from hrupload.settings import CONFIG_BLOB, setting

    return any(
        CONFIG_BLOB in (setting(name, env) or "")
        for name in ("HRUPLOAD_PROFILE", "HRUPLOAD_CONNECTORS")
    )


def build_held_services(
    env: Mapping[str, str] | None, reason: str, *, storage_credential: Any = None
) -> Services | None:
    """Services that keep every file in incoming, recording ``reason`` (a configuration
    blob that is missing or invalid): not the files' fault, so none goes to failed, and
    the run log says what to fix. None when the settings without the blobs do not load
    either (that error is the one to report)."""
    import os

    from hrupload.core.errors import ConfigError
    from hrupload.settings import load

    plain = dict(os.environ if env is None else env)
    plain.update(HRUPLOAD_PROFILE="", HRUPLOAD_CONNECTORS="")
    try:
        held = build_services(load(plain), storage_credential=storage_credential)
    except ConfigError:
        return None
    held.held = reason
    return held


class _SharedTokens:
    """The connector clients of one process, one per job, sharing one token per app
    (tenant, app, cloud and login endpoint): the connectors of one app ask once."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._owners: dict[tuple, ConnectorClient] = {}

    def client(
        self, settings: Settings, *, secret_provider: Callable[[bool], str] | None
    ) -> ConnectorClient:
        key = (settings.tenant_id, settings.app_id, settings.cloud, settings.login_url)
        with self._lock:
            owner = self._owners.get(key)
            client = make_client(settings, secret_provider=secret_provider, tokens_from=owner)
            self._owners.setdefault(key, client)
            return client


def build_sources(
    settings: Settings,
    *,
    key_vault_credential: Any = None,
    key_vault_options: dict[str, Any] | None = None,
) -> list[Source]:
    """The sources of HRUPLOAD_CONNECTORS, built (and each checked) from their entries.
    Their secrets are read when a pull needs them: from Key Vault (``secret_name``) or the
    named environment variable (``secret_env``, local use). ``key_vault_credential`` and
    ``key_vault_options`` are the seams for the Key Vault stand-in."""
    built: list[Source] = []
    for index, config in enumerate(settings.sources):
        secret = partial(_source_secret, settings, (key_vault_credential, key_vault_options))
        if config.get("kind") == "https":
            from hrupload.adapters.report_source import ReportSource

            built.append(
                ReportSource.from_config(
                    config,
                    index=index,
                    secret=secret,
                    retry_budget=float(settings.retry_budget),
                    read_timeout=float(settings.read_timeout),
                )
            )
        else:
            # The app's secret from Key Vault or secret_env; with neither, None: in Azure the
            # Function's managed identity asks for the Graph token.
            named = config.get("secret_name"), config.get("secret_env")
            where = f"HRUPLOAD_CONNECTORS sources[{index}]"
            reader = secret(where, *named) if any(named) else None
            built.append(_sharepoint_source(config, settings, reader))
    names = [s.name for s in built]
    for name in names:
        if names.count(name) > 1:
            from hrupload.core.errors import ConfigError

            raise ConfigError(f"HRUPLOAD_CONNECTORS: two sources are named {name!r}; name each")
    return built


def _sharepoint_source(config: Any, settings: Settings, secret: Any) -> Source:
    from hrupload.core.errors import ConfigError

    try:
        from hrupload.adapters.sharepoint import SharePointSource  # type: ignore[import-not-found]
    except ImportError:
        raise ConfigError(
            "HRUPLOAD_CONNECTORS: the sharepoint source is not available in this version"
        ) from None
    return SharePointSource.from_config(config, settings=settings, secret=secret)


def _source_secret(
    settings: Settings,
    seams: tuple[Any, dict[str, Any] | None],
    where: str,
    secret_name: str | None,
    secret_env: str | None,
) -> Callable[[bool], str]:
    """A source's secret reader: the environment variable ``secret_env`` (read at each
    pull), else the Key Vault secret ``secret_name``."""
    from hrupload.core.errors import ConfigError, SecretError

    if secret_env:

        def from_env(force: bool = False) -> str:
            import os

            value = os.environ.get(secret_env, "").strip()
            if not value:
                raise SecretError(f"{where}: the environment variable {secret_env} is not set")
            return value

        return from_env
    if not settings.key_vault_url:
        raise ConfigError(
            f"{where}: secret_name {secret_name!r} is a Key Vault secret, but "
            "HRUPLOAD_KEY_VAULT_URL is not set; set it, or use secret_env locally"
        )
    from hrupload.adapters.keyvault import KeyVaultSecret

    return KeyVaultSecret(
        settings.key_vault_url,
        secret_name or "",
        credential=seams[0],
        client_options=seams[1],
        ttl=float(settings.secret_ttl_seconds),
        managed_identity_client_id=settings.managed_identity_client_id,
    )


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
    tokens_from: ConnectorClient | None = None,
) -> ConnectorClient:
    """The connector client for these settings, the one place it is built for both front
    doors. ``secret_provider`` is the seam for tests and the local stand-ins;
    ``certificate`` the CLI's certificate file. Without them the secret (or, with
    HRUPLOAD_CERTIFICATE_NAME, the certificate) comes from HRUPLOAD_APP_SECRET or Key Vault.
    ``tokens_from``: a client of the same app whose tokens this one shares."""
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
        tokens_from=tokens_from,
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


#: Storage clients for ``hrupload doctor``: no retries and short waits, so an endpoint
#: that does not answer fails the check in seconds rather than minutes.
DOCTOR_STORAGE_OPTIONS: dict[str, Any] = {
    "retry_total": 0,
    "connection_timeout": 5,
    "read_timeout": 20,
}
#: Seconds the doctor waits for the token endpoint's answer.
DOCTOR_READ_TIMEOUT = 30

_CONTAINER_SETTINGS = {
    "incoming": "HRUPLOAD_INCOMING_CONTAINER",
    "processed": "HRUPLOAD_PROCESSED_CONTAINER",
    "failed": "HRUPLOAD_FAILED_CONTAINER",
}


_STORAGE_ROLE = (
    "check that the app's identity has the 'Storage {} Data Contributor' role on the "
    "storage account"
)
#: The doctor's checks in order: name, title, the checks it needs, the fix when it fails
#: (unless its error brings its own). The checks are the :class:`_Doctor` methods of
#: the same name; a container's is :meth:`_Doctor.container`.
_DOCTOR_ITEMS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("settings", "settings", (), "correct the setting the message names"),
    (
        "connector",
        "connector IDs",
        ("settings",),
        "set each in the environment, or with its option",
    ),
    (
        "profile",
        "profile",
        ("settings",),
        "correct the profile HRUPLOAD_PROFILE (or --profile) names",
    ),
    (
        "storage",
        "storage",
        ("settings",),
        "check HR_STORAGE (the account, its key or endpoints), the network and the storage "
        "firewall",
    ),
    *(
        (which, f"{which} container", ("storage",), _STORAGE_ROLE.format("Blob"))
        for which in _CONTAINER_SETTINGS
    ),
    ("table", "runs table", ("storage",), _STORAGE_ROLE.format("Table")),
    (
        "secret",
        "secret or certificate",
        ("settings",),
        "in Azure, give the app's identity the 'Key Vault Secrets User' role on the vault; "
        "locally, run `az login` or set HRUPLOAD_APP_SECRET",
    ),
    (
        "token",
        "token",
        ("connector", "secret"),
        "check --cloud and --login-url, and that HTTPS_PROXY, NO_PROXY and the firewall let "
        "the login host through (README, 'Network')",
    ),
    (
        "ingestion",
        "ingestion host",
        ("settings",),
        "check HTTPS_PROXY and NO_PROXY, and that the firewall allow-list includes the "
        "ingestion host (README, 'Network')",
    ),
)


def doctor_checks(
    load: Callable[[], Settings],
    *,
    certificate: Path | None = None,
    storage_credential: Any = None,
    secret_provider: Callable[[bool], str] | None = None,
) -> list[Item]:
    """The checks of ``hrupload doctor``, in order, for :func:`hrupload.app.doctor.run`.

    ``load`` reads the settings (its ConfigError is the first check's failure). The rest
    touch each service the way a run would, with the same clients, but send no HR data:
    test blobs and a test entity written and deleted, a token asked for, the ingestion
    host's root fetched without a token. ``storage_credential`` and ``secret_provider``
    are the seams :func:`build_services` has; ``certificate`` the CLI's file."""
    from functools import partial

    from hrupload.app.doctor import Item

    d = _Doctor(load, certificate, storage_credential, secret_provider)
    return [
        Item(
            name,
            title,
            partial(d.container, name) if name in _CONTAINER_SETTINGS else getattr(d, name),
            needs=needs,
            fix=fix,
        )
        for name, title, needs, fix in _DOCTOR_ITEMS
    ]


class _Doctor:
    """The checks of :func:`doctor_checks`; each later one uses what an earlier one built
    (the settings, the storage clients, the credential)."""

    def __init__(
        self,
        load: Callable[[], Settings],
        certificate: Path | None,
        storage_credential: Any,
        provider: Callable[[bool], str] | None,
    ) -> None:
        self._load = load
        self._certificate = certificate
        self._storage_credential = storage_credential
        self._provider = provider
        self._settings: Settings | None = None
        self._storage: Any = None
        #: The secret provider the secret check settled on, by connector (None: the single).
        self._providers: dict[str | None, Callable[[bool], str] | None] = {}

    @property
    def loaded(self) -> Settings:
        assert self._settings is not None  # the runner runs nothing before "settings" passed
        return self._settings

    def settings(self) -> str:
        self._settings = self._load()
        where = "storage set (Function set-up)" if self._settings.storage else "no storage (CLI)"
        return f"read and well-formed; cloud {self._settings.cloud}, {where}"

    def _each(self, check: Callable[[Settings], str]) -> str:
        """``check`` on the settings, or on each connector's with HRUPLOAD_CONNECTORS (a
        failure then names the connector)."""
        from hrupload.app.doctor import Problem
        from hrupload.core.errors import HrUploadError

        s = self.loaded
        if not s.connectors:
            return check(s)
        done = []
        for c in s.connectors:
            try:
                done.append(f"{c.name}: {check(s.for_connector(c))}")
            except Problem as exc:
                raise Problem(f"connector {c.name!r}: {exc}", fix=exc.fix) from None
            except HrUploadError as exc:
                if not str(exc).startswith("connector "):
                    exc.args = (f"connector {c.name!r}: {exc}", *exc.args[1:])
                raise
        return "; ".join(done)

    def _provider_for(self, s: Settings) -> Callable[[bool], str] | None:
        """The secret seam given to the doctor is the deployment app's (as in
        :func:`build_services`); a connector with its own app or secret reads its own."""
        own = s.app_id != self.loaded.app_id or s.secret_name != self.loaded.secret_name
        return self._providers.get(s.connector_name, None if own else self._provider)

    def connector(self) -> str:
        def ids(s: Settings) -> str:
            s.require_connector(certificate=True)  # the IDs only: the secret is its own check
            return f"tenant {s.tenant_id}, app {s.app_id}, job {s.job_id}"

        return self._each(ids)

    def profile(self) -> str:
        def valid(s: Settings) -> str:
            profile = s.load_profile()
            if not s.profile:
                return "none set: each scenario's default columns"
            return f"{profile.source}: valid ({', '.join(profile.active_scenarios())})"

        return self._each(valid)

    def storage(self) -> str:
        from hrupload.adapters.storage import HrStorage
        from hrupload.app.doctor import Skip

        s = self.loaded
        if s.storage is None:
            raise Skip(
                "no storage set (the CLI set-up); set HR_STORAGE, or HR_STORAGE__blobServiceUri "
                "and HR_STORAGE__tableServiceUri, to check the Function's storage"
            )
        self._storage = HrStorage.from_settings(
            s.storage,
            incoming=s.incoming,
            processed=s.processed,
            failed=s.failed,
            runs_table=s.runs_table,
            credential=self._storage_credential,
            client_options=DOCTOR_STORAGE_OPTIONS,
        )
        self._storage.container_exists(s.incoming)
        return f"{self._storage.blob_service.primary_hostname} answered"

    def container(self, which: str) -> str:
        import uuid

        from hrupload.app.doctor import Problem
        from hrupload.app.pipeline import FOLDER_METADATA

        name = getattr(self.loaded, which)
        if not self._storage.container_exists(name):
            raise Problem(
                f"container {name!r} does not exist",
                fix=f"create it (az storage container create --auth-mode login "
                f"--account-name <account> --name {name}) or correct {_CONTAINER_SETTINGS[which]}",
            )
        # Empty and marked as a folder: one a crash leaves behind is never processed.
        probe = f"hrupload-doctor-{uuid.uuid4().hex}"
        self._storage.put_blob(name, probe, b"", metadata=FOLDER_METADATA, overwrite=False)
        self._storage.delete_blob(name, probe)
        return f"{name}: present; a test blob was written and deleted"

    def table(self) -> str:
        import uuid

        from hrupload.adapters.azure_errors import TableMissing
        from hrupload.app.doctor import Problem

        name = self.loaded.runs_table
        try:
            self._storage.runlog().probe(uuid.uuid4().hex)
        except TableMissing:
            raise Problem(
                f"table {name!r} does not exist",
                fix=f"create it (az storage table create --auth-mode login --account-name "
                f"<account> --name {name}) or correct HRUPLOAD_RUNS_TABLE",
            ) from None
        return f"{name}: present; a test entity was written and deleted"

    def secret(self) -> str:
        return self._each(self._secret)

    def _secret(self, s: Settings) -> str:
        from hrupload.app.doctor import Problem

        if not (self._certificate or s.key_vault_url or s.app_secret):
            raise Problem(
                "no app secret or certificate is set",
                fix="set HRUPLOAD_KEY_VAULT_URL (the secret's name in HRUPLOAD_SECRET_NAME, or "
                "a certificate's in HRUPLOAD_CERTIFICATE_NAME); locally, HRUPLOAD_APP_SECRET "
                "or --certificate",
            )
        provider = self._provider_for(s)
        if provider is None and not self._certificate:
            chosen = secret_provider(s)
            provider = chosen if callable(chosen) else None
        self._providers[s.connector_name] = provider
        credential = _credential(s, provider, self._certificate)
        # What a token request would send, built here and thrown away: the secret is read
        # (or the certificate signs), and nothing is sent.
        credential.form("")
        if self._certificate:
            return f"certificate {self._certificate} read"
        if provider is None:
            return "HRUPLOAD_APP_SECRET set in the environment (Key Vault is not read)"
        kind = "certificate" if s.certificate_name else "secret"
        name = s.certificate_name or s.secret_name
        return f"{kind} {name!r} read from {s.key_vault_url}"

    def token(self) -> str:
        return self._each(self._token)

    def _token(self, s: Settings) -> str:
        import dataclasses

        from hrupload.adapters.connector import aadsts_hint
        from hrupload.app.doctor import Problem
        from hrupload.core.errors import AuthenticationError

        quick = dataclasses.replace(s, retry_budget=0, read_timeout=DOCTOR_READ_TIMEOUT)
        client = make_client(
            quick, secret_provider=self._provider_for(s), certificate=self._certificate
        )
        try:
            client.token()
        except AuthenticationError as exc:
            hint = aadsts_hint(str(exc))
            if hint is None:
                raise
            code, fix = hint
            raise Problem(f"{str(exc).split(':')[0]} [{code}]", fix=fix) from None
        host = client.endpoints.login.split("://", 1)[-1]
        return f"issued by {host} (no file sent)"

    def ingestion(self) -> str:
        from urllib.parse import urlsplit

        from hrupload.adapters.connector import endpoints, probe
        from hrupload.adapters.net import proxy_of, resolve
        from hrupload.app.doctor import Problem

        s = self.loaded
        url = endpoints(s.cloud, login_url=s.login_url, ingestion_url=s.ingestion_url).ingestion
        host = urlsplit(url).hostname or ""
        proxy = proxy_of(url)
        if proxy:
            route = f"through the proxy {proxy}"  # the proxy resolves the name
        else:
            try:
                route = f"resolves to {', '.join(resolve(host)[:3])}"
            except OSError:
                raise Problem(
                    f"cannot resolve {host}",
                    fix=f"check DNS and that the firewall allow-list includes {host}; behind "
                    "a proxy, set HTTPS_PROXY (README, 'Network')",
                ) from None
        status = probe(url + "/")
        return f"{host} {route}; answered HTTP {status} (no token, no data sent)"
