"""Every setting hrupload reads, declared once and checked once at start-up.

The table below is the single source for the README's settings table, for
``local.settings.sample.json`` and for the infra drift test: a setting that is
not declared here cannot be read, so code, docs and Bicep cannot drift apart.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from hrupload.core.errors import ConfigError


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
    Setting("HRUPLOAD_CLOUD", "commercial", "commercial, gcc, gcc-high or dod."),
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
    Setting("HRUPLOAD_PROFILE", "", "Column mapping profile: a JSON file path or inline JSON."),
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
)

_BY_NAME = {s.name: s for s in SETTINGS}


def setting(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The value of one declared setting, or its default; empty counts as unset."""
    decl = _BY_NAME[name]  # KeyError: an undeclared setting is a bug, not a user error
    env = os.environ if env is None else env
    value = env.get(name, "").strip()
    return value if value else decl.default


def default(name: str) -> str:
    """A declared setting's default, for a command-line option that shares it."""
    return _BY_NAME[name].default or ""


def _int(name: str, env: Mapping[str, str], *, minimum: int = 0) -> int:
    raw = setting(name, env) or ""
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


CLOUDS = ("commercial", "gcc", "gcc-high", "dod")


@dataclass(frozen=True)
class StorageSettings:
    connection_string: str | None
    blob_url: str | None
    queue_url: str | None
    table_url: str | None
    client_id: str | None


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
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def max_chunk_bytes(self) -> int:
        return self.max_chunk_mb << 20

    def require_connector(self) -> None:
        """Fail early, naming every missing setting, before any file is touched."""
        missing = [
            name
            for name, value in (
                ("HRUPLOAD_TENANT_ID", self.tenant_id),
                ("HRUPLOAD_APP_ID", self.app_id),
                ("HRUPLOAD_JOB_ID", self.job_id),
            )
            if not value
        ]
        if not (self.key_vault_url or self.app_secret):
            missing.append("HRUPLOAD_KEY_VAULT_URL (or HRUPLOAD_APP_SECRET for local use)")
        if missing:
            raise ConfigError("missing setting(s): " + ", ".join(missing))

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


def _check_containers(values: Mapping[str, str]) -> None:
    """Incoming, processed and failed must differ: a file moved to the container it
    came from would be processed again, forever."""
    seen: dict[str, str] = {}
    for name in _CONTAINERS:
        value = values[name].lower()
        if value in seen:
            raise ConfigError(
                f"{seen[value]} and {name} are both {values[name]!r}: incoming, processed "
                "and failed must be three different containers, or files would be processed "
                "again and again; give each its own name"
            )
        seen[value] = name


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Read and check every setting; the first malformed one fails naming itself."""
    env = dict(os.environ if env is None else env)
    cloud = (setting("HRUPLOAD_CLOUD", env) or "commercial").lower()
    if cloud not in CLOUDS:
        raise ConfigError(f"HRUPLOAD_CLOUD must be one of {', '.join(CLOUDS)}; got {cloud!r}")
    app_secret = setting("HRUPLOAD_APP_SECRET", env)
    if app_secret and app_secret.startswith("@Microsoft.KeyVault("):
        raise ConfigError(
            "HRUPLOAD_APP_SECRET still holds an unresolved Key Vault reference: the Function "
            "app could not read the secret. Check that its identity has the 'Key Vault Secrets "
            "User' role and that the reference names an existing secret, or set "
            "HRUPLOAD_KEY_VAULT_URL instead."
        )
    containers = {name: setting(name, env) or "" for name in _CONTAINERS}
    _check_containers(containers)
    source = (setting("HRUPLOAD_BLOB_SOURCE", env) or "").lower()
    blob_source = next((s for s in BLOB_SOURCES if s.lower() == source), None)
    if blob_source is None:
        raise ConfigError(
            f"HRUPLOAD_BLOB_SOURCE must be one of {', '.join(BLOB_SOURCES)}; "
            f"got {setting('HRUPLOAD_BLOB_SOURCE', env)!r}"
        )
    return Settings(
        storage=_storage(env),
        tenant_id=setting("HRUPLOAD_TENANT_ID", env),
        app_id=setting("HRUPLOAD_APP_ID", env),
        job_id=setting("HRUPLOAD_JOB_ID", env),
        key_vault_url=setting("HRUPLOAD_KEY_VAULT_URL", env),
        secret_name=setting("HRUPLOAD_SECRET_NAME", env) or "",
        certificate_name=setting("HRUPLOAD_CERTIFICATE_NAME", env) or "",
        secret_ttl_seconds=_int("HRUPLOAD_SECRET_TTL_SECONDS", env),
        app_secret=app_secret,
        cloud=cloud,
        login_url=setting("HRUPLOAD_LOGIN_URL", env),
        ingestion_url=setting("HRUPLOAD_INGESTION_URL", env),
        profile=setting("HRUPLOAD_PROFILE", env) or "",
        records_per_call=_int("HRUPLOAD_RECORDS_PER_CALL", env, minimum=1),
        concurrency=_int("HRUPLOAD_CONCURRENCY", env, minimum=1),
        retry_budget=_int("HRUPLOAD_RETRY_BUDGET", env),
        read_timeout=_int("HRUPLOAD_READ_TIMEOUT", env, minimum=1),
        incoming=containers["HRUPLOAD_INCOMING_CONTAINER"],
        processed=containers["HRUPLOAD_PROCESSED_CONTAINER"],
        failed=containers["HRUPLOAD_FAILED_CONTAINER"],
        runs_table=setting("HRUPLOAD_RUNS_TABLE", env) or "",
        dedupe_hours=_int("HRUPLOAD_DEDUPE_HOURS", env),
        give_up_hours=_int("HRUPLOAD_GIVE_UP_HOURS", env, minimum=1),
        profile_refresh_days=_int("HRUPLOAD_PROFILE_REFRESH_DAYS", env, minimum=1),
        max_file_mb=_int("HRUPLOAD_MAX_FILE_MB", env, minimum=1),
        max_chunk_mb=_int("HRUPLOAD_MAX_CHUNK_MB", env, minimum=1),
        blob_source=blob_source,
        function_timeout=function_timeout(),
    )
