"""What the Function triggers do, kept out of ``function_app.py`` so it stays thin.

Settings and clients are built once per worker process and reused across
invocations (the Azure SDK guideline), rebuilt only if the settings change: the
environment, or a configuration blob (``blob:<name>``) an operator uploaded, whose ETag
is checked once per invocation.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hrupload.core.errors import ConfigError
from hrupload.core.termsafe import logger
from hrupload.settings import Settings, fingerprint

if TYPE_CHECKING:  # the pipeline (Azure Storage, Tables, HTTP) loads on the first invocation,
    # so the host indexes the triggers without paying for it: a shorter cold start
    from hrupload.app import pipeline
    from hrupload.app.sources import Source
    from hrupload.compose import ConfigBlobs

log = logger("hrupload.functions")  # file-derived text in messages and fields is escaped
_services: dict[tuple, pipeline.Services] = {}
_sources: dict[int, list[Source]] = {}
_config_blobs: dict[tuple, ConfigBlobs] = {}
#: The web page's WSGI app, with the services it was built over.
_web: list[tuple[pipeline.Services, Any]] = []
_telemetry_ready = False


def services() -> pipeline.Services:
    """The services for the current settings, built on the first invocation and again
    only when a setting or a configuration blob they were read from changed. Call it
    once per invocation: each call checks the config blobs' ETags."""
    from hrupload import compose

    key = fingerprint()
    blobs = _config_blobs.get(key)
    if blobs is None:
        _config_blobs.clear()
        blobs = _config_blobs[key] = compose.ConfigBlobs()
    current = _services.get(key)
    if current is not None and current.held is None and not blobs.changed(current.settings):
        return current
    try:
        loaded = compose.load_settings(config_blobs=blobs)
        _setup_logging(loaded)
        built = compose.build_services(loaded)
    except ConfigError as exc:
        # A config blob an operator uploaded (or removed) is wrong: the files wait in
        # incoming, each recording why, until it is fixed; then the next file loads it.
        held = compose.build_held_services(None, str(exc)) if compose.uses_config_blobs() else None
        if held is None:
            raise
        _setup_logging(held.settings)
        log.error("the configuration does not load; files wait", extra={"reason": str(exc)})
        built = held
    _services.clear()
    _sources.clear()
    _services[key] = built
    return built


def sources(current: pipeline.Services | None = None) -> list[Source]:
    """The sources of HRUPLOAD_CONNECTORS for ``current`` (default: :func:`services`),
    built once for each set of services."""
    from hrupload import compose

    current = services() if current is None else current
    if id(current) not in _sources:
        _sources[id(current)] = compose.build_sources(current.settings)
    return _sources[id(current)]


def _setup_logging(settings: Settings) -> None:
    global _telemetry_ready
    if _telemetry_ready:
        return
    _telemetry_ready = True
    logging.getLogger("azure").setLevel(logging.WARNING)
    logging.getLogger("hrupload").setLevel(logging.INFO)
    if settings.app_insights:
        try:
            from azure.monitor.opentelemetry import configure_azure_monitor
        except ImportError:
            log.warning("azure-monitor-opentelemetry is not installed; no App Insights telemetry")
            return
        credential = telemetry_credential(settings)
        signed_in = {} if credential is None else {"credential": credential}
        configure_azure_monitor(
            connection_string=settings.app_insights, logger_name="hrupload", **signed_in
        )


def telemetry_credential(settings: Settings) -> Any:
    """What the App Insights exporter signs in with: the app's managed identity
    (AZURE_CLIENT_ID). The component has local auth off (infra/app/monitoring.bicep), so an
    exporter without it is refused and no alert built on the telemetry would fire. None where
    no identity is set (a laptop's connection string, local auth on)."""
    if not settings.managed_identity_client_id:
        return None
    from azure.identity import ManagedIdentityCredential

    return ManagedIdentityCredential(client_id=settings.managed_identity_client_id)


def blob_name(trigger: Any) -> str:
    """The blob's name inside the incoming container, from a BlobClient or InputStream."""
    name = getattr(trigger, "blob_name", None)
    if name:
        return name
    full = trigger.name  # InputStream: "container/path/inside"
    return full.split("/", 1)[1] if "/" in full else full


def on_blob(trigger: Any) -> pipeline.FileResult:
    from hrupload.app import pipeline

    name = blob_name(trigger)
    current = services()
    # A container scan fires for files still being written (created empty, committed
    # later); the Event Grid subscription's filter lets only completed writes through.
    scanning = current.settings.blob_source == "LogsAndContainerScan"
    try:
        result = pipeline.process_blob(
            current, name, raise_on_retry=True, skip_in_progress=scanning
        )
    except pipeline.RetryLater as exc:
        # Raised on purpose: the host retries the trigger, the daily sweep catches the rest.
        log.warning(
            "blob left in incoming; the host retries it",
            extra={"blob": name, "reason": str(exc), "outage": exc.outage is not None},
        )
        raise
    fields = result.to_dict()
    fields["detail"] = fields.pop("message")  # "message" is reserved on log records
    log.info("blob handled", extra=fields)
    return result


def on_timer(timer: Any) -> pipeline.SweepSummary:
    from hrupload.app import pipeline

    past_due = bool(getattr(timer, "past_due", False))
    if past_due:
        log.warning("the daily sweep is running late (past due)")
    current = services()  # once: the config blobs are checked once per invocation
    pull_first(current)
    return pipeline.sweep(current, past_due=past_due)


def pull_first(current: pipeline.Services | None = None) -> None:
    """The timer's first step: every source pulled, so the sweep uploads what they had.
    Whatever goes wrong here is logged and the sweep still runs."""
    from hrupload.app.pull import pull
    from hrupload.core.errors import HrUploadError

    try:
        current = services() if current is None else current
        if not current.settings.sources:
            return
        summary = pull(current, sources(current))
    except HrUploadError as exc:
        log.error("the pull before the sweep failed; sweeping anyway", extra={"reason": str(exc)})
        return
    except Exception:  # never let a pull stop the sweep
        log.exception("the pull before the sweep failed; sweeping anyway")
        return
    for result in summary.results:
        if result.error:
            log.error(
                "a source failed; the sweep goes on",
                extra={
                    "source": result.source,
                    "connector": result.connector,
                    "reason": result.error,
                },
            )
    log.info(
        "pulled before the sweep",
        extra={k: v for k, v in summary.to_dict().items() if k != "results"},
    )


def on_http(req: Any, context: Any = None) -> Any:
    """The web page (``hrupload.web``) for one HTTP request, over the worker's services.
    A setting that does not load is a page saying which, never a traceback."""
    import azure.functions as func

    from hrupload.core.errors import HrUploadError

    try:
        current = services()
        if not _web or _web[0][0] is not current:  # new settings or config blobs
            from hrupload.web import create_app

            _web[:] = [(current, func.WsgiMiddleware(create_app(services=current)))]
    except HrUploadError as exc:
        log.error("the web page cannot start", extra={"reason": str(exc)})
        from hrupload.web.http import unavailable

        status, headers, body = unavailable(str(exc))
        return func.HttpResponse(body, status_code=status, headers=headers)
    return _web[0][1].handle(req, context)
