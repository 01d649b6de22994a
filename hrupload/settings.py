"""Every setting hrupload reads, declared once and checked once at start-up.

The table below is the single source for the README's settings table, for
``local.settings.sample.json`` and for the infra drift test: a setting that is
not declared here cannot be read, so code, docs and Bicep cannot drift apart.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hrupload.core.errors import ConfigError, HrUploadError

if TYPE_CHECKING:
    from hrupload.core.profile import Profile

#: The clouds HRUPLOAD_CLOUD names, each with its login and ingestion endpoints (the
#: README's "Network" section lists their hosts for the firewall). The one list: the
#: connector client, the check below and the CLI's --cloud all read it.
CLOUDS: dict[str, tuple[str, str]] = {
    "commercial": ("https://login.windows.net", "https://webhook.ingestion.office.com"),
    "gcc": ("https://login.microsoftonline.com", "https://webhook-gcc.ingestion.office365.us"),
    "gcc-high": (
        "https://login.microsoftonline.us",
        "https://webhook-itarl4.ingestion.office365.us",
    ),
    "dod": ("https://login.microsoftonline.us", "https://webhook-itarl5.ingestion.apps.mil"),
}

#: Set by the platform (the Bicep, the Functions host), not by the operator: read here like
#: every other setting, but documented and deployed with the platform's own.
PLATFORM = ("AZURE_CLIENT_ID", "APPLICATIONINSIGHTS_CONNECTION_STRING", "WEBSITE_AUTH_ENABLED")


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None
    help: str
    #: False for settings meant only for a laptop (a secret in the environment,
    #: overrides pointing at the local stand-ins): the Bicep must not set them.
    deployed: bool = True


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "HR_STORAGE",
        None,
        "Storage with the HR containers: a connection string, or identity-based "
        "HR_STORAGE__blobServiceUri / __queueServiceUri / __tableServiceUri "
        "(with __credential=managedidentity and __clientId).",
    ),
    Setting("HRUPLOAD_TENANT_ID", None, "Microsoft Entra tenant (directory) ID."),
    Setting("HRUPLOAD_APP_ID", None, "Application (client) ID of the connector's app."),
    Setting("HRUPLOAD_JOB_ID", None, "Job ID from the HR connector's flyout in Purview."),
    Setting("HRUPLOAD_KEY_VAULT_URL", None, "Key Vault holding the app secret or certificate."),
    Setting("HRUPLOAD_SECRET_NAME", "hr-connector-app-secret", "Name of the secret in Key Vault."),
    Setting(
        "HRUPLOAD_CERTIFICATE_NAME",
        "",
        "Key Vault certificate to sign a client assertion with, instead of the secret.",
    ),
    Setting(
        "HRUPLOAD_SECRET_TTL_SECONDS", "3600", "How long a secret read from Key Vault is kept."
    ),
    Setting(
        "HRUPLOAD_APP_SECRET",
        None,
        "The app secret itself, for local use (Azure: use Key Vault).",
        deployed=False,
    ),
    Setting(
        "HRUPLOAD_CERTIFICATE_PASSWORD",
        None,
        "Password of a PFX file given with --certificate.",
        deployed=False,
    ),
    Setting("HRUPLOAD_CLOUD", "commercial", "The Microsoft 365 cloud: " + ", ".join(CLOUDS) + "."),
    Setting(
        "HRUPLOAD_LOGIN_URL",
        None,
        "Override of the cloud's login endpoint (the local stand-in).",
        deployed=False,
    ),
    Setting(
        "HRUPLOAD_INGESTION_URL",
        None,
        "Override of the cloud's ingestion endpoint (the local stand-in).",
        deployed=False,
    ),
    Setting(
        "HRUPLOAD_GRAPH_URL",
        None,
        "Override of the cloud's Microsoft Graph URL for SharePoint sources (the local "
        "stand-in, whose token endpoint is on the same URL).",
        deployed=False,
    ),
    Setting(
        "HRUPLOAD_PROFILE",
        "",
        "Column mapping profile: a JSON file path, inline JSON, or blob:<name> (a blob in "
        "HRUPLOAD_CONFIG_CONTAINER, read at each run).",
    ),
    Setting(
        "HRUPLOAD_CONNECTORS",
        "",
        "Several connectors from one deployment: a JSON file path, inline JSON or "
        'blob:<name> (as HRUPLOAD_PROFILE), {"connectors": [{"name", "folder", "job_id", '
        '...}]}; a blob under <folder>/ goes to that connector; its "sources" pull files '
        "there (empty: the one HRUPLOAD_JOB_ID names).",
    ),
    Setting(
        "HRUPLOAD_CONFIG_CONTAINER",
        "hr-config",
        "Container of the HR storage holding the configuration blobs that blob:<name> in "
        "HRUPLOAD_PROFILE, HRUPLOAD_CONNECTORS or a connector's profile names.",
    ),
    Setting("HRUPLOAD_RECORDS_PER_CALL", "5000", "Records per upload request."),
    Setting(
        "HRUPLOAD_MAX_CHUNK_MB",
        "4",
        "Most MB (MiB) one upload request holds, header included: a chunk ends early "
        "rather than pass it, and a row that cannot fit is rejected. With "
        "HRUPLOAD_CONCURRENCY this bounds the memory of chunks in flight.",
    ),
    Setting("HRUPLOAD_CONCURRENCY", "12", "Upload requests in flight at once."),
    Setting("HRUPLOAD_RETRY_BUDGET", "900", "Seconds to keep retrying transient failures."),
    Setting(
        "HRUPLOAD_READ_TIMEOUT",
        "400",
        "Seconds to wait for the connector's answer to one request before sending it again "
        "(the at-least-once window, docs/reliability.md).",
    ),
    Setting("HRUPLOAD_INCOMING_CONTAINER", "hr-incoming", "Container HR systems drop files in."),
    Setting("HRUPLOAD_PROCESSED_CONTAINER", "hr-processed", "Container for uploaded files."),
    Setting("HRUPLOAD_FAILED_CONTAINER", "hr-failed", "Container for rejected files and rows."),
    Setting("HRUPLOAD_RUNS_TABLE", "hruploadruns", "Table holding the run log and ledger."),
    Setting(
        "HRUPLOAD_BLOB_SOURCE",
        "EventGrid",
        "Blob trigger source: EventGrid (Flex Consumption) or LogsAndContainerScan.",
    ),
    Setting("HRUPLOAD_SCHEDULE", "0 0 2 * * *", "NCRONTAB schedule of the daily sweep (UTC)."),
    Setting(
        "HRUPLOAD_DEDUPE_HOURS",
        "20",
        "Identical content for the same job within this window is not re-sent (0: off).",
    ),
    Setting("HRUPLOAD_GIVE_UP_HOURS", "72", "A file failing transiently this long goes to failed."),
    Setting(
        "HRUPLOAD_PROFILE_REFRESH_DAYS",
        "14",
        "Re-send the newest employee-profile file when its last upload is older than this.",
    ),
    Setting("HRUPLOAD_MAX_FILE_MB", "3072", "Larger files go to failed unread."),
    Setting(
        "HRUPLOAD_STATE_DIR",
        None,
        "Where the CLI records delivered chunks (default: the user's state dir).",
        deployed=False,
    ),
    Setting(
        "HRUPLOAD_LOCK_WAIT",
        "600",
        "Seconds `hrupload upload` waits for another upload of the same file with the same "
        "state dir to finish before refusing (0: refuse at once).",
        deployed=False,
    ),
    # -- the web page (hrupload/web) ------------------------------------------------------
    Setting(
        "HRUPLOAD_WEB_AUTH",
        "key",
        "Who may open the web page: key (HRUPLOAD_WEB_KEY: a laptop, `hrupload dev web`) or "
        "entra (the app's built-in authentication in front, infra/app/auth.bicep).",
    ),
    Setting(
        "HRUPLOAD_WEB_KEY",
        None,
        "The web page's key in key mode, given once as ?code=KEY (`hrupload dev web` makes "
        "one when unset; empty: every request is refused).",
        deployed=False,
    ),
    Setting(
        "HRUPLOAD_WEB_GROUP",
        "",
        "Entra group (object id) whose members may open the web page in entra mode "
        "(empty: whoever the built-in authentication lets in).",
    ),
    Setting(
        "HRUPLOAD_WEB_MAX_KB",
        "10240",
        "Largest file, in KiB, the web page's check-a-file form takes.",
    ),
)

#: HRUPLOAD_WEB_AUTH's values: the first is the default.
WEB_AUTH_MODES = ("key", "entra")

_BY_NAME = {s.name: s for s in SETTINGS}


def setting(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The value of one declared setting, or its default; empty counts as unset."""
    # KeyError: an undeclared setting is a bug, not a user error
    decl = None if name in PLATFORM else _BY_NAME[name]
    env = os.environ if env is None else env
    value = env.get(name, "").strip()
    return value if value else (decl.default if decl else None)


def default(name: str) -> str:
    """A declared setting's default, for a command-line option that shares it."""
    return _BY_NAME[name].default or ""


def describe(name: str) -> str:
    """A setting's default and variable, as a command-line option's help shows them."""
    shown = default(name)
    return f"[default: {shown}; env: {name}]" if shown else f"[env: {name}]"


class _Source:
    """Where each setting's text comes from (the command line's overrides over the
    environment, the environment over the default) and how a message names it: by the
    option when the command line gave it, so the user finds what to fix."""

    def __init__(
        self,
        env: Mapping[str, str],
        overrides: Mapping[str, object | None],
        options: Mapping[str, str],
    ) -> None:
        given = {name: str(value) for name, value in overrides.items() if value is not None}
        for name in given:
            _BY_NAME[name]  # KeyError: an override of an undeclared setting is a bug
        self.values = {**env, **given}
        self.given = given
        self.options = options

    def text(self, name: str) -> str | None:
        return setting(name, self.values)

    def label(self, name: str) -> str:
        return self.options[name] if name in self.given and name in self.options else name

    def whole(self, name: str, *, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self.text(name) or ""
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{self.label(name)} must be a whole number, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{self.label(name)} must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{self.label(name)} must be at most {maximum}, got {value}")
        return value


#: How HRUPLOAD_PROFILE, HRUPLOAD_CONNECTORS and a connector's ``profile`` name a blob in
#: the config container (HRUPLOAD_CONFIG_CONTAINER) instead of a file or inline JSON.
CONFIG_BLOB = "blob:"
#: The most a configuration blob may hold: a connectors file with inline profiles fits
#: many times over; a data file uploaded by mistake does not get read whole.
MAX_CONFIG_BYTES = 1 << 20


@dataclass(frozen=True)
class ConfigBlob:
    """A configuration blob as it was read: its text and the version (ETag) it had, so a
    long-running process sees when an operator uploads a new one."""

    name: str
    text: str = field(repr=False)
    etag: str


#: Reads a blob (storage, container, name); raises an HrUploadError saying why not
#: (missing, unreadable, too large). Passed to :func:`load` by the composition root, so
#: settings stay free of storage clients.
ConfigReader = Callable[["StorageSettings", str, str], ConfigBlob]


def config_blob_name(spec: str | None) -> str | None:
    """The blob ``blob:<name>`` names (None for a file path or inline JSON)."""
    text = (spec or "").strip()
    if not text.startswith(CONFIG_BLOB):
        return None
    return text[len(CONFIG_BLOB) :].strip().lstrip("/")


class _ConfigBlobs:
    """The configuration blobs one :func:`load` reads, each once, through ``reader``."""

    def __init__(
        self, storage: StorageSettings | None, container: str, reader: ConfigReader | None
    ) -> None:
        self.storage = storage
        self.container = container
        self.reader = reader
        self.read: dict[str, ConfigBlob] = {}

    def where(self, name: str) -> str:
        return f"{CONFIG_BLOB}{name} (container {self.container})"

    def text(self, setting_label: str, spec: str) -> tuple[str, str] | None:
        """``spec``'s text and how a message names it, when it names a blob; else None."""
        name = config_blob_name(spec)
        if name is None:
            return None
        where = f"{setting_label} {self.where(name)}"
        if not name:
            raise ConfigError(f"{setting_label}: {CONFIG_BLOB} must be followed by a blob name")
        if name not in self.read:
            if self.reader is None or self.storage is None:
                raise ConfigError(
                    f"{where} is in the HR storage, but no storage is set: set HR_STORAGE "
                    "(or HR_STORAGE__blobServiceUri and __tableServiceUri), or give a file "
                    "path or inline JSON instead"
                )
            try:
                self.read[name] = self.reader(self.storage, self.container, name)
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            except HrUploadError as exc:
                raise ConfigError(
                    f"{where} cannot be read ({exc}); every file waits in incoming until it can"
                ) from None
        return self.read[name].text, where


@dataclass(frozen=True)
class StorageSettings:
    connection_string: str | None
    blob_url: str | None
    queue_url: str | None
    table_url: str | None
    client_id: str | None


@dataclass(frozen=True)
class WebSettings:
    """How the web page (``hrupload.web``) lets people in, and how big a file it checks."""

    auth: str = WEB_AUTH_MODES[0]
    key: str | None = field(default=None, repr=False)
    group: str = ""
    max_kb: int = 10240
    #: WEBSITE_AUTH_ENABLED is True: the platform's authentication (Easy Auth) is in front,
    #: so the principal headers it sets can be trusted.
    platform_auth: bool = False

    @property
    def max_bytes(self) -> int:
        return self.max_kb << 10


def _web(source: _Source) -> WebSettings:
    auth = (source.text("HRUPLOAD_WEB_AUTH") or "").lower()
    if auth not in WEB_AUTH_MODES:
        raise ConfigError(
            f"HRUPLOAD_WEB_AUTH must be one of {', '.join(WEB_AUTH_MODES)}; got {auth!r}"
        )
    return WebSettings(
        auth=auth,
        key=source.text("HRUPLOAD_WEB_KEY"),
        group=source.text("HRUPLOAD_WEB_GROUP") or "",
        max_kb=source.whole("HRUPLOAD_WEB_MAX_KB", minimum=1, maximum=1 << 20),
        platform_auth=(source.text("WEBSITE_AUTH_ENABLED") or "").lower() == "true",
    )


@dataclass(frozen=True)
class Settings:
    storage: StorageSettings | None
    tenant_id: str | None
    app_id: str | None
    job_id: str | None
    key_vault_url: str | None
    secret_name: str
    certificate_name: str
    secret_ttl_seconds: int
    app_secret: str | None = field(repr=False)
    cloud: str
    login_url: str | None
    ingestion_url: str | None
    profile: str
    records_per_call: int
    concurrency: int
    retry_budget: int
    read_timeout: int
    incoming: str
    processed: str
    failed: str
    runs_table: str
    dedupe_hours: int
    give_up_hours: int
    profile_refresh_days: int
    max_file_mb: int
    #: HRUPLOAD_MAX_CHUNK_MB
    max_chunk_mb: int
    #: EventGrid or LogsAndContainerScan: with a container scan the trigger also fires
    #: for files still being written, which the pipeline then leaves alone.
    blob_source: str = "EventGrid"
    #: host.json's functionTimeout (None: unlimited); a run record still "running" after
    #: it belongs to an attempt the host stopped.
    function_timeout: timedelta | None = None
    #: The password of a PFX file given to the CLI with --certificate.
    certificate_password: str | None = field(default=None, repr=False)
    #: HRUPLOAD_STATE_DIR, the CLI's checkpoints (None: the user's state directory).
    state_dir: Path | None = None
    lock_wait: int = 600
    #: AZURE_CLIENT_ID: the user-assigned managed identity that reads Key Vault.
    managed_identity_client_id: str | None = None
    #: APPLICATIONINSIGHTS_CONNECTION_STRING: where telemetry goes (None: nowhere).
    app_insights: str | None = field(default=None, repr=False)
    #: HRUPLOAD_CONNECTORS, checked (empty: the single connector the settings above name).
    connectors: tuple[Connector, ...] = ()
    #: HRUPLOAD_CONNECTORS' sources, each checked only for its kind and connector so far.
    sources: tuple[Mapping[str, Any], ...] = field(default=(), repr=False)
    #: HRUPLOAD_GRAPH_URL (None: the cloud's Graph), for SharePoint sources.
    graph_url: str | None = None
    #: Set on the settings :meth:`for_connector` derives: the connector they are for.
    connector: Connector | None = None
    #: HRUPLOAD_CONFIG_CONTAINER, where ``blob:<name>`` configuration lives.
    config_container: str = "hr-config"
    #: The configuration blobs read by :func:`load` (name -> text and ETag): what a
    #: ``blob:`` profile is parsed from, and what a long-running process checks for change.
    config_blobs: Mapping[str, ConfigBlob] = field(default_factory=dict, compare=False, repr=False)
    #: The web page (HRUPLOAD_WEB_*): key or entra, the key, the group, the size limit.
    web: WebSettings = field(default_factory=lambda: WebSettings())
    #: Setting name -> the command-line option that sets it, for messages that name
    #: what the user typed.
    options: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def for_connector(self, connector: Connector) -> Settings:
        """These settings as one connector of HRUPLOAD_CONNECTORS sees them: its job, app,
        secret, profile and cloud over the deployment's own."""
        own_secret = connector.secret_env or connector.secret_name
        other_app = connector.app_id not in (None, self.app_id)
        if connector.secret_env:
            app_secret = connector.secret
        elif own_secret or other_app:
            app_secret = None  # never another app's secret: this one's is in Key Vault
        else:
            app_secret = self.app_secret
        return replace(
            self,
            job_id=connector.job_id,
            app_id=connector.app_id or self.app_id,
            secret_name=connector.secret_name or self.secret_name,
            app_secret=app_secret,
            cloud=connector.cloud or self.cloud,
            profile=connector.profile or self.profile,
            connectors=(),
            connector=connector,
        )

    def load_profile(self) -> Profile:
        """The profile HRUPLOAD_PROFILE (or the connector's ``profile``) names, loaded: a
        ``blob:`` one from the text :func:`load` read, the rest from a file or inline."""
        from hrupload.core.profile import load_profile, parse_profile_text

        name = config_blob_name(self.profile)
        if name is None:
            return load_profile(self.profile)
        blob = self.config_blobs.get(name)
        named_by = "the connector's profile" if self.connector else "HRUPLOAD_PROFILE"
        where = f"{CONFIG_BLOB}{name} (container {self.config_container}, from {named_by})"
        if blob is None:  # load() reads every blob it names: settings built another way
            raise ConfigError(f"profile {where} was not read; load the settings with storage")
        return parse_profile_text(blob.text, source=where)

    @property
    def connector_name(self) -> str | None:
        return self.connector.name if self.connector else None

    @property
    def max_chunk_bytes(self) -> int:
        return self.max_chunk_mb << 20

    def named(self, name: str) -> str:
        """How a message names a setting: ``--job-id (or HRUPLOAD_JOB_ID)`` on the CLI."""
        option = self.options.get(name)
        return f"{option} (or {name})" if option else name

    def require_connector(self, *, certificate: bool = False) -> None:
        """Fail early, naming every missing setting, before any file is touched.
        ``certificate``: the CLI was given a certificate file, which needs no secret."""
        missing = [
            self.named(name)
            for name, value in (
                ("HRUPLOAD_TENANT_ID", self.tenant_id),
                ("HRUPLOAD_APP_ID", self.app_id),
                ("HRUPLOAD_JOB_ID", self.job_id),
            )
            if not value
        ]
        if not (certificate or self.key_vault_url or self.app_secret):
            missing.append(
                "the app secret: HRUPLOAD_KEY_VAULT_URL (or HRUPLOAD_APP_SECRET for local use; "
                "the CLI also takes --certificate)"
            )
        if missing:
            raise ConfigError(
                (
                    f"connector {self.connector_name!r} (HRUPLOAD_CONNECTORS): "
                    if self.connector_name
                    else ""
                )
                + "missing "
                + ", ".join(missing)
                + "; the IDs are in the HR connector's flyout in the Purview portal"
            )

    def require_storage(self) -> StorageSettings:
        if self.storage is None:
            raise ConfigError(
                "missing setting: HR_STORAGE (a connection string, or "
                "HR_STORAGE__blobServiceUri and HR_STORAGE__tableServiceUri)"
            )
        return self.storage


def _storage(env: Mapping[str, str]) -> StorageSettings | None:
    conn = env.get("HR_STORAGE", "").strip()
    blob = env.get("HR_STORAGE__blobServiceUri", "").strip()
    if not conn and not blob:
        return None
    if conn:
        return StorageSettings(conn, None, None, None, None)
    table = env.get("HR_STORAGE__tableServiceUri", "").strip()
    if not table:
        raise ConfigError(
            "HR_STORAGE__tableServiceUri is required with HR_STORAGE__blobServiceUri "
            "(the run log lives in Table storage)"
        )
    return StorageSettings(
        None,
        blob,
        env.get("HR_STORAGE__queueServiceUri", "").strip() or None,
        table,
        env.get("HR_STORAGE__clientId", "").strip() or None,
    )


#: host.json sits at the Function app's root, beside the package: the one place the
#: function timeout is declared. The host enforces it; the pipeline only reads it.
HOST_JSON = Path(__file__).resolve().parent.parent / "host.json"
#: What the Functions host allows when host.json sets no functionTimeout (Flex
#: Consumption and Consumption: 30 minutes); also used by a CLI installed without it.
HOST_DEFAULT_TIMEOUT = timedelta(minutes=30)
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.\d+)?$")


def function_timeout(host_json: Path = HOST_JSON) -> timedelta | None:
    """host.json's ``functionTimeout`` (``[d.]hh:mm:ss``; ``-1`` is unlimited: None)."""
    try:
        doc = json.loads(host_json.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return HOST_DEFAULT_TIMEOUT
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{host_json} cannot be read as JSON: {exc}") from None
    raw = doc.get("functionTimeout") if isinstance(doc, dict) else None
    if raw is None:
        return HOST_DEFAULT_TIMEOUT
    if str(raw).strip() == "-1":
        return None
    match = _TIMESPAN.match(str(raw).strip())
    if not match:
        raise ConfigError(
            f"functionTimeout in {host_json} must look like 01:00:00 (or -1), got {raw!r}"
        )
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


BLOB_SOURCES = ("EventGrid", "LogsAndContainerScan")
_CONTAINERS = (
    "HRUPLOAD_INCOMING_CONTAINER",
    "HRUPLOAD_PROCESSED_CONTAINER",
    "HRUPLOAD_FAILED_CONTAINER",
)


def _blob_source(raw: str | None) -> str | None:
    """The declared spelling of a blob source, whatever its case; None if unknown."""
    wanted = (raw or "").lower()
    return next((s for s in BLOB_SOURCES if s.lower() == wanted), None)


def trigger_bindings(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The incoming container and blob source the blob trigger binds to.

    ``function_app.py`` needs them when the host indexes the triggers, before any
    invocation, and an exception there would leave no function to report it. So this
    never fails: an unknown source binds Event Grid (the only one Flex Consumption
    offers), and the first invocation's :func:`load` fails naming the setting."""
    source = _blob_source(setting("HRUPLOAD_BLOB_SOURCE", env)) or BLOB_SOURCES[0]
    return setting("HRUPLOAD_INCOMING_CONTAINER", env) or "", source


def fingerprint(env: Mapping[str, str] | None = None) -> tuple:
    """Everything :func:`load` reads, raw: the Function app rebuilds its clients only
    when this changes (App Service restarts the worker on a change, tests do not)."""
    env = os.environ if env is None else env
    names = {s.name for s in SETTINGS} | set(PLATFORM)
    names |= {k for k in env if k.startswith("HR_STORAGE")}
    names |= _secret_envs(setting("HRUPLOAD_CONNECTORS", env) or "", env)
    return tuple((n, env.get(n)) for n in sorted(names))


def _secret_envs(raw: str, env: Mapping[str, str]) -> set[str]:
    """The variables HRUPLOAD_CONNECTORS' ``secret_env`` fields name (none when it does not
    load: :func:`load` then fails naming the problem)."""
    try:
        connectors, _ = load_connectors(raw, env)
    except ConfigError:
        return set()
    return {c.secret_env for c in connectors if c.secret_env}


def _check_containers(values: Mapping[str, str]) -> None:
    """Incoming, processed and failed must differ: a file moved to the container it
    came from would be processed again, forever. The config container too: a profile
    there would be processed as an HR file, or a file taken for configuration."""
    seen: dict[str, str] = {}
    for name, raw in values.items():
        value = raw.lower()
        if value in seen:
            raise ConfigError(
                f"{seen[value]} and {name} are both {raw!r}: incoming, processed "
                "and failed must be three different containers, or files would be processed "
                "again and again (and the config container a fourth); give each its own name"
            )
        seen[value] = name


def _checked_app_secret(source: _Source) -> str | None:
    """One check for both front doors: an App Service Key Vault reference that did not
    resolve arrives as its own text, which would be sent as the secret."""
    app_secret = source.text("HRUPLOAD_APP_SECRET")
    if app_secret and app_secret.startswith("@Microsoft.KeyVault("):
        raise ConfigError(
            f"{source.label('HRUPLOAD_APP_SECRET')} still holds an unresolved Key Vault "
            "reference, not a secret: the Function app could not read the secret. Check that "
            "its identity has the 'Key Vault Secrets User' role and that the reference names "
            "an existing secret, or set HRUPLOAD_KEY_VAULT_URL instead."
        )
    return app_secret


def _checked_choices(source: _Source) -> tuple[str, str]:
    """HRUPLOAD_CLOUD and HRUPLOAD_BLOB_SOURCE, each one of its declared values."""
    cloud = (source.text("HRUPLOAD_CLOUD") or "").lower()
    if cloud not in CLOUDS:
        raise ConfigError(
            f"{source.label('HRUPLOAD_CLOUD')} must be one of {', '.join(CLOUDS)}; got {cloud!r}"
        )
    blob_source = _blob_source(source.text("HRUPLOAD_BLOB_SOURCE"))
    if blob_source is None:
        raise ConfigError(
            f"HRUPLOAD_BLOB_SOURCE must be one of {', '.join(BLOB_SOURCES)}; "
            f"got {source.text('HRUPLOAD_BLOB_SOURCE')!r}"
        )
    return cloud, blob_source


def load(
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object | None] | None = None,
    *,
    options: Mapping[str, str] | None = None,
    read_config: ConfigReader | None = None,
) -> Settings:
    """Read and check every setting; the first malformed one fails naming itself.

    ``overrides`` (setting name -> text; None: not given) are the command line's, taken
    over the environment and checked by the same code; ``options`` (setting name -> the
    option that sets it) lets a message name the option the user typed. ``read_config``
    reads the blobs ``blob:<name>`` names (the composition root passes one over the HR
    storage); a blob it cannot read is a ConfigError naming the setting and the blob."""
    env = dict(os.environ if env is None else env)
    source = _Source(env, overrides or {}, options or {})
    cloud, blob_source = _checked_choices(source)
    containers = {name: source.text(name) or "" for name in _CONTAINERS}
    config_container = source.text("HRUPLOAD_CONFIG_CONTAINER") or ""
    _check_containers(containers | {"HRUPLOAD_CONFIG_CONTAINER": config_container})
    state_dir = source.text("HRUPLOAD_STATE_DIR")
    storage = _storage(env)
    blobs = _ConfigBlobs(storage, config_container, read_config)
    profile = source.text("HRUPLOAD_PROFILE") or ""
    blobs.text(source.label("HRUPLOAD_PROFILE"), profile)  # read now: fails here, named
    connectors, sources = load_connectors(
        source.text("HRUPLOAD_CONNECTORS") or "", env, blobs=blobs
    )
    return Settings(
        storage=storage,
        tenant_id=source.text("HRUPLOAD_TENANT_ID"),
        app_id=source.text("HRUPLOAD_APP_ID"),
        job_id=source.text("HRUPLOAD_JOB_ID"),
        key_vault_url=source.text("HRUPLOAD_KEY_VAULT_URL"),
        secret_name=source.text("HRUPLOAD_SECRET_NAME") or "",
        certificate_name=source.text("HRUPLOAD_CERTIFICATE_NAME") or "",
        secret_ttl_seconds=source.whole("HRUPLOAD_SECRET_TTL_SECONDS"),
        app_secret=_checked_app_secret(source),
        cloud=cloud,
        login_url=source.text("HRUPLOAD_LOGIN_URL"),
        ingestion_url=source.text("HRUPLOAD_INGESTION_URL"),
        graph_url=source.text("HRUPLOAD_GRAPH_URL"),
        profile=profile,
        records_per_call=source.whole("HRUPLOAD_RECORDS_PER_CALL", minimum=1, maximum=100_000),
        concurrency=source.whole("HRUPLOAD_CONCURRENCY", minimum=1, maximum=16),
        retry_budget=source.whole("HRUPLOAD_RETRY_BUDGET"),
        read_timeout=source.whole("HRUPLOAD_READ_TIMEOUT", minimum=1),
        incoming=containers["HRUPLOAD_INCOMING_CONTAINER"],
        processed=containers["HRUPLOAD_PROCESSED_CONTAINER"],
        failed=containers["HRUPLOAD_FAILED_CONTAINER"],
        runs_table=source.text("HRUPLOAD_RUNS_TABLE") or "",
        dedupe_hours=source.whole("HRUPLOAD_DEDUPE_HOURS"),
        give_up_hours=source.whole("HRUPLOAD_GIVE_UP_HOURS", minimum=1),
        profile_refresh_days=source.whole("HRUPLOAD_PROFILE_REFRESH_DAYS", minimum=1),
        max_file_mb=source.whole("HRUPLOAD_MAX_FILE_MB", minimum=1),
        max_chunk_mb=source.whole("HRUPLOAD_MAX_CHUNK_MB", minimum=1),
        blob_source=blob_source,
        function_timeout=function_timeout(),
        certificate_password=source.text("HRUPLOAD_CERTIFICATE_PASSWORD"),
        state_dir=Path(state_dir).expanduser() if state_dir else None,
        lock_wait=source.whole("HRUPLOAD_LOCK_WAIT"),
        managed_identity_client_id=source.text("AZURE_CLIENT_ID"),
        app_insights=source.text("APPLICATIONINSIGHTS_CONNECTION_STRING"),
        connectors=connectors,
        sources=sources,
        config_container=config_container,
        config_blobs=dict(blobs.read),
        web=_web(source),
        options=dict(options or {}),
    )


# -- several connectors (HRUPLOAD_CONNECTORS) ---------------------------------------------

#: The fields of one connector entry. Other tools write this interface: add fields, never
#: rename these.
CONNECTOR_FIELDS = (
    "name",
    "folder",
    "job_id",
    "app_id",
    "secret_name",
    "secret_env",
    "profile",
    "cloud",
)
#: What a source entry's ``kind`` may be (the sources themselves come with ``hrupload pull``).
SOURCE_KINDS = ("sharepoint", "https")
_CONNECTOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Connector:
    """One HR connector of HRUPLOAD_CONNECTORS: the blobs under ``<folder>/`` in incoming
    go to its job, with its app, secret, profile and cloud (None: the deployment's)."""

    name: str
    folder: str
    job_id: str
    app_id: str | None = None
    secret_name: str | None = None
    secret_env: str | None = None
    #: A profile file's path, ``blob:<name>``, or an inline profile as JSON text ("": the
    #: deployment's).
    profile: str = ""
    cloud: str | None = None
    #: The value of ``secret_env`` when the settings were read (local use only).
    secret: str | None = field(default=None, repr=False)

    def claims(self, blob: str) -> bool:
        """Whether a blob name in incoming (``<folder>/...``) belongs to this connector."""
        return blob.startswith(self.folder + "/")


def _connectors_doc(raw: str, blobs: _ConfigBlobs) -> Any:
    """HRUPLOAD_CONNECTORS' JSON: inline when it starts with ``{``, a config blob's with
    ``blob:``, else a file's."""
    text, where = raw.strip(), "HRUPLOAD_CONNECTORS"
    from_blob = blobs.text(where, text)
    if from_blob is not None:
        text, where = from_blob
    elif not text.startswith("{"):
        path = Path(text).expanduser()
        where = f"HRUPLOAD_CONNECTORS ({path})"
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{where} cannot be read: {exc.__class__.__name__}; give a JSON file's path "
                "or the JSON itself"
            ) from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{where} is not valid JSON: {exc}") from None


def entry_text(
    entry: Mapping[str, Any],
    key: str,
    where: str,
    *,
    required: bool = False,
    needed: str = "; every connector needs one",
) -> str | None:
    """A text field of an HRUPLOAD_CONNECTORS entry (a connector's or a source's), stripped;
    None when absent or blank, a ConfigError naming ``where`` when required or not text."""
    value = entry.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ConfigError(f"{where}: {key!r} is missing{needed}")
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key!r} must be text, got {type(value).__name__}")
    return value.strip()


def entry_fields(entry: Mapping[str, Any], fields: Sequence[str], where: str) -> None:
    """Refuse a field of an HRUPLOAD_CONNECTORS entry that is not one of ``fields`` (a typo
    would otherwise be ignored), naming it and the fields there are."""
    unknown = sorted(set(entry) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown field {', '.join(map(repr, unknown))}; the fields are "
            + ", ".join(fields)
        )


def _connector(entry: Any, index: int, env: Mapping[str, str], blobs: _ConfigBlobs) -> Connector:
    where = f"HRUPLOAD_CONNECTORS connectors[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be an object with name, folder and job_id")
    name = entry_text(entry, "name", where, required=True) or ""
    if not _CONNECTOR_NAME.fullmatch(name):
        raise ConfigError(
            f"{where}: name {name!r} may hold only letters, digits, '.', '_' and '-' (at most 64)"
        )
    where = f"HRUPLOAD_CONNECTORS connector {name!r} (connectors[{index}])"
    entry_fields(entry, CONNECTOR_FIELDS, where)
    folder = (entry_text(entry, "folder", where, required=True) or "").strip("/")
    if not folder or "\\" in folder or any(p in ("", ".", "..") for p in folder.split("/")):
        raise ConfigError(
            f"{where}: folder {entry['folder']!r} must be a folder path in the incoming "
            "container, such as 'leavers' or 'hr/leavers'"
        )
    cloud = entry_text(entry, "cloud", where)
    if cloud is not None and cloud.lower() not in CLOUDS:
        raise ConfigError(f"{where}: cloud must be one of {', '.join(CLOUDS)}; got {cloud!r}")
    secret_env = entry_text(entry, "secret_env", where)
    if secret_env is not None and not _ENV_NAME.fullmatch(secret_env):
        raise ConfigError(f"{where}: secret_env {secret_env!r} is not an environment variable name")
    profile = entry.get("profile")
    if isinstance(profile, dict):
        profile = json.dumps(profile)
    elif profile is not None and not isinstance(profile, str):
        raise ConfigError(f"{where}: 'profile' must be a file path or a profile object")
    blobs.text(f"{where} profile", profile or "")  # a blob: read now, so it fails here
    return Connector(
        name=name,
        folder=folder,
        job_id=entry_text(entry, "job_id", where, required=True) or "",
        app_id=entry_text(entry, "app_id", where),
        secret_name=entry_text(entry, "secret_name", where),
        secret_env=secret_env,
        profile=(profile or "").strip(),
        cloud=cloud.lower() if cloud else None,
        secret=(env.get(secret_env, "").strip() or None) if secret_env else None,
    )


def _check_unique(connectors: list[Connector]) -> None:
    """Each blob belongs to one connector: names and folders differ, and no folder holds
    another (``a`` would also claim ``a/b``'s files)."""
    names: dict[str, Connector] = {}
    for c in connectors:
        other = names.setdefault(c.name.lower(), c)
        if other is not c:
            raise ConfigError(f"HRUPLOAD_CONNECTORS: two connectors are named {c.name!r}")
    for i, a in enumerate(connectors):
        for b in connectors[i + 1 :]:
            if a.folder == b.folder:
                raise ConfigError(
                    f"HRUPLOAD_CONNECTORS: connectors {a.name!r} and {b.name!r} both have "
                    f"folder {a.folder!r}; give each its own"
                )
            outer, inner = (a, b) if len(a.folder) < len(b.folder) else (b, a)
            if inner.folder.startswith(outer.folder + "/"):
                raise ConfigError(
                    f"HRUPLOAD_CONNECTORS: connector {outer.name!r}'s folder {outer.folder!r} "
                    f"holds connector {inner.name!r}'s folder {inner.folder!r}, so a file "
                    "there would belong to both; use folders side by side"
                )


def _source(entry: Any, index: int, connectors: Mapping[str, Connector]) -> Mapping[str, Any]:
    where = f"HRUPLOAD_CONNECTORS sources[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be an object with kind and connector")
    kind = entry.get("kind")
    if kind not in SOURCE_KINDS:
        raise ConfigError(f"{where}: kind must be one of {', '.join(SOURCE_KINDS)}; got {kind!r}")
    connector = entry.get("connector")
    if connector not in connectors:
        known = ", ".join(connectors) or "none"
        raise ConfigError(
            f"{where}: connector {connector!r} is not one of the configured connectors ({known})"
        )
    return dict(entry)


def load_connectors(
    raw: str, env: Mapping[str, str], *, blobs: _ConfigBlobs | None = None
) -> tuple[tuple[Connector, ...], tuple[Mapping[str, Any], ...]]:
    """HRUPLOAD_CONNECTORS (a JSON file path, inline JSON or ``blob:<name>``) read and
    checked; the first problem fails naming the connector and the field. Empty: no
    connectors, no sources. ``blobs`` reads the config blobs named (none: they cannot be)."""
    if not raw.strip():
        return (), ()
    blobs = blobs if blobs is not None else _ConfigBlobs(None, "", None)
    doc = _connectors_doc(raw, blobs)
    if not isinstance(doc, dict):
        raise ConfigError('HRUPLOAD_CONNECTORS must be a JSON object: {"connectors": [...]}')
    unknown = sorted(set(doc) - {"connectors", "sources"})
    if unknown:
        raise ConfigError(
            f"HRUPLOAD_CONNECTORS: unknown field {', '.join(map(repr, unknown))}; "
            "the fields are 'connectors' and 'sources'"
        )
    entries, source_entries = doc.get("connectors"), doc.get("sources", [])
    if not isinstance(entries, list) or not entries:
        raise ConfigError("HRUPLOAD_CONNECTORS: 'connectors' must be a list of one or more")
    if not isinstance(source_entries, list):
        raise ConfigError("HRUPLOAD_CONNECTORS: 'sources' must be a list")
    connectors = [_connector(entry, i, env, blobs) for i, entry in enumerate(entries)]
    _check_unique(connectors)
    by_name = {c.name: c for c in connectors}
    sources = tuple(_source(entry, i, by_name) for i, entry in enumerate(source_entries))
    return tuple(connectors), sources
