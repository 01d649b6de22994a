"""The ``hrupload`` command: a thin front door over the same library the Functions use.

Exit codes: 0 all good, 3 some rows rejected (the rest went through), 1 failure
(unusable file, service refused, retry budget spent; for ``sweep``: a file failed or stayed
retrying, or the sweep stopped sending), 2 usage or configuration error.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from hrupload import __version__
from hrupload.app.runs import Status
from hrupload.cli import options
from hrupload.cli.options import cloud_option, setting_option
from hrupload.cli.output import (
    EXIT_FAILED,
    EXIT_USAGE,
    STDIN_NAME,
    count,
    exit_code_of,
    load_profile_option,
    new_console,
    plain,
    print_json,
    print_report,
    print_rows,
    stdin_spooled,
    worst,
)
from hrupload.core.errors import ConfigError, HrUploadError
from hrupload.core.report import Report


def _scenario_option(func: Callable) -> Callable:
    from hrupload.core.scenarios import SCENARIOS

    return click.option(
        "--scenario",
        type=click.Choice(list(SCENARIOS), case_sensitive=False),
        help="Scenario of a single-scenario file. [default: the profile's, else inferred from "
        "the file's name and header]",
    )(func)


def _profile_option(func: Callable) -> Callable:
    return setting_option(
        "--profile", "Column-mapping profile: a JSON file or inline JSON.", metavar="PATH|JSON"
    )(func)


def _max_file_option(func: Callable) -> Callable:
    return setting_option("--max-file-mb", "Refuse larger files unread.", metavar="MB")(func)


def _max_chunk_option(func: Callable) -> Callable:
    return setting_option(
        "--max-chunk-mb",
        "Most MB one upload request holds; a row that cannot fit is rejected.",
        metavar="MB",
    )(func)


class _Main(click.Group):
    """The ``hrupload`` group: whatever a command meets that a user can cause or fix (a
    setting, storage or Key Vault unreachable or refusing, a file it cannot read) ends as
    one line on stderr and an exit code, never a traceback; ``-v`` adds the traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            new_console(stderr=True).print("[yellow]interrupted[/]")
            sys.exit(130)
        except Exception as exc:  # the one place every error becomes a line
            code, message = _one_line(exc)
            verbose = ctx.params.get("verbose", 0)
            if verbose:  # escaped as log lines are: an exception's text may quote a name
                trace = _PrintableFormatter().formatException((type(exc), exc, exc.__traceback__))
                click.echo(trace, err=True)
            hint = "" if verbose else " [dim](-v shows the details)[/]"
            label = "configuration error" if code == EXIT_USAGE else "error"
            new_console(stderr=True).print(f"[red]{label}:[/] {plain(message)}{hint}")
            sys.exit(code)


def _one_line(exc: BaseException) -> tuple[int, str]:
    """The exit code and the sentence for an error a command did not handle itself."""
    if isinstance(exc, ConfigError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, HrUploadError):
        return EXIT_FAILED, str(exc)
    if type(exc).__module__.split(".", 1)[0] == "azure":
        # An Azure SDK error our adapters did not translate: its first line, which names
        # the service's answer (the rest is request detail, shown with -v).
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return EXIT_FAILED, f"an Azure service refused or did not answer: {first}"
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return EXIT_FAILED, f"{exc.strerror or exc}{where}"
    return EXIT_FAILED, (
        f"unexpected {type(exc).__name__}: {exc}; this is a bug in hrupload, please report it "
        "with the output of the same command run with -v"
    )


@click.group(
    cls=_Main,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="hrupload")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
def main(verbose: int) -> None:
    """Validate HR CSV exports and upload them to the Microsoft Purview HR data connector."""
    level = logging.WARNING - 10 * min(verbose, 2)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PrintableFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    # The Azure SDK's warnings (a credential chain's page-long "failed to retrieve a
    # token") repeat what our one line says; -v shows them.
    for noisy in ("azure", "urllib3"):
        logging.getLogger(noisy).setLevel(
            logging.ERROR if not verbose else max(level, logging.WARNING)
        )


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@_profile_option
@_scenario_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_max_file_option
@_max_chunk_option
@options.dialect_options
def validate(files: tuple[Path, ...], scenario: str | None, as_json: bool, **opts: Any) -> None:
    """Check FILES row by row and say exactly what to fix. Sends nothing. '-' reads
    standard input.

    Exit 0: every row valid; 3: some rows rejected; 1: the file is unusable.
    """
    from hrupload.core.validate import validate_path

    loaded = options.load_or_exit(opts)
    prof = load_profile_option(loaded, opts)
    reports = []
    with stdin_spooled(files, loaded.max_file_mb << 20) as (paths, stdin):
        for path in paths:
            report = _validate_one(
                path, prof, scenario, loaded.max_file_mb, validate_path, loaded.max_chunk_bytes
            )
            if path == stdin:
                report.file = STDIN_NAME
            reports.append(report)
    if as_json:
        print_json("validate", {"files": [r.to_dict() for r in reports]})
    else:
        console = new_console()
        for report in reports:
            print_report(report, console)
    sys.exit(worst([r.exit_code() for r in reports]))


def _validate_one(
    path: Path, prof, scenario, max_file_mb: int, validate_path, max_chunk_bytes: int
) -> Report:
    from hrupload.core.report import FileError

    try:
        size = path.stat().st_size
    except OSError as exc:
        report = Report(file=str(path))
        report.file_error = FileError("unreadable", f"cannot read the file: {exc.strerror}")
        return report
    max_bytes = max_file_mb << 20
    if size > max_bytes:
        report = Report(file=str(path), bytes=size)
        report.file_error = FileError(
            "file-too-large",
            f"the file is {size >> 20} MB, over the {max_file_mb} MB limit; split it",
        )
        return report
    report = validate_path(
        path,
        profile=prof,
        scenario=scenario,
        max_bytes=max_bytes,
        fingerprint=False,
        max_chunk_bytes=max_chunk_bytes,
    )
    report.file = str(path)
    return report


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@setting_option("--tenant-id", metavar="ID")
@setting_option("--app-id", metavar="ID")
@setting_option("--job-id", metavar="ID")
@click.option(
    "--app-secret",
    help="Avoid: visible in the process list; prefer the variable. Wins over it and over "
    "HRUPLOAD_KEY_VAULT_URL. [env: HRUPLOAD_APP_SECRET]",
)
@click.option(
    "--certificate",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="PEM (key + certificate) or PFX (password in HRUPLOAD_CERTIFICATE_PASSWORD) to "
    "authenticate with instead of a secret. [default: none, the secret is used]",
)
@_profile_option
@_scenario_option
@cloud_option
@setting_option("--login-url", "Override the login endpoint.", metavar="URL")
@setting_option("--ingestion-url", "Override the ingestion endpoint.", metavar="URL")
@setting_option("--records-per-call")
@setting_option("--retry-budget", metavar="SECONDS")
@setting_option(
    "--read-timeout",
    "Seconds to wait for the connector's answer before sending a chunk again "
    "(a chunk answered later than this may arrive twice).",
    metavar="SECONDS",
)
@setting_option("--concurrency", "Chunks in flight at once.")
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where <name>.report.json and <name>.rejected.csv go. [default: beside the file]",
)
@setting_option(
    "--lock-wait",
    "Seconds to wait for another upload of the same file (same state dir) to finish "
    "before refusing; 0 refuses at once.",
    metavar="SECONDS",
)
@click.option(
    "--connector",
    metavar="NAME",
    help="Upload as this connector of HRUPLOAD_CONNECTORS: its job, app, secret, profile and "
    "cloud (--profile and --cloud still win). [default: HRUPLOAD_JOB_ID's connector]",
)
@click.option("--dry-run", is_flag=True, help="Validate and chunk; send nothing.")
@click.option("--force", is_flag=True, help="Send again even chunks delivered by an earlier run.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@_max_file_option
@_max_chunk_option
@options.dialect_options
def upload(files: tuple[Path, ...], **opts: Any) -> None:
    """Validate FILES and upload their valid rows to the HR connector, in chunks ('-' reads
    standard input; its reports go to the current directory).

    Rerunning after a failure sends only the chunks not yet delivered (a chunk the service
    took but never confirmed is sent again: delivery is at least once).
    Exit 0: all rows uploaded; 3: valid rows uploaded, some rejected; 1: failure.
    """
    from hrupload.cli.upload import run_upload

    # A configuration error exits 2, an unreachable Key Vault 1, each as one line: _Main.
    sys.exit(run_upload(files, opts))


def _services(params: dict[str, Any] | None = None):
    """The app's services from the settings: the command line's options (``params``)
    over the environment, as for every command."""
    from hrupload import compose

    loaded = options.load_or_exit(params or {})
    try:
        return compose.build_services(loaded)
    except ConfigError as exc:
        options.exit_configuration_error(exc)


class _PrintableFormatter(logging.Formatter):
    """Log lines on stderr that a name in a message or a traceback cannot break or forge:
    the pipeline escapes what it logs, and this catches what other libraries log."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        from hrupload.core.termsafe import printable

        record.message = printable(record.message)
        return super().formatMessage(record)

    def formatException(self, ei) -> str:
        from hrupload.core.termsafe import printable

        # The traceback's own line breaks stay; an exception text's ESC or bidi override
        # does not. (A line break inside an exception's text is one of those kept.)
        return "\n".join(printable(line) for line in super().formatException(ei).split("\n"))


def _result_line(result, status: str) -> str:
    style = _STATUS_STYLE.get(result.status, "white")
    where = f" → {plain(result.destination)}" if result.destination else ""
    return f"[{style}]{status}[/] {plain(result.blob)}{where}"


_STATUS_STYLE = {
    Status.UPLOADED: "green",
    Status.PARTIAL: "yellow",
    Status.DUPLICATE: "cyan",
    Status.FAILED: "red",
    Status.RETRYING: "magenta",
    Status.RUNNING: "blue",
    Status.DONE: "green",
    Status.STOPPED: "magenta",
}


@main.command()
@click.argument("blob")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_max_chunk_option
def process(blob: str, as_json: bool, max_chunk_mb: str | None) -> None:
    """Process one blob, CONTAINER/NAME in the incoming container, as the blob trigger does.

    Reads the same settings as the Function app from the environment. Exit 0: uploaded
    (or a duplicate); 3: some rows rejected; 1: failed, left retrying, or no such blob.
    """
    from hrupload.app import pipeline

    services = _services({"max_chunk_mb": max_chunk_mb})
    container, _, name = blob.partition("/")
    if not name or container != services.settings.incoming:
        raise click.BadParameter(
            f"expected {services.settings.incoming}/NAME (the incoming container)",
            param_hint="'BLOB'",
        )
    result = pipeline.process_blob(services, name)
    if result.status == Status.GONE:
        # Nothing to process is not success for one named blob: a script must notice.
        result = dataclasses.replace(
            result,
            message=f"no blob {name!r} in {services.settings.incoming}: it does not exist or "
            "was already processed (hrupload status lists what was)",
        )
    if as_json:
        print_json("process", {"files": [result.to_dict()]})
    else:
        line = _result_line(result, result.status) + f"  {plain(result.message)}"
        new_console().print(line)
    sys.exit(EXIT_FAILED if result.status == Status.GONE else exit_code_of(result.status))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def sweep(as_json: bool) -> None:
    """Process every blob in incoming and refresh employee profiles, as the daily timer does.

    Exit 0 when every file was uploaded (or was a duplicate), 3 when some rows were rejected
    (partial files), 1 when a file failed, stayed retrying, or the sweep stopped sending
    (the files left are taken by the next sweep): cron and CI can alert on non-zero.
    """
    from hrupload.app import pipeline

    services = _services()
    console = new_console()

    def show(result) -> None:
        if not as_json:
            console.print("  " + _result_line(result, f"{result.status:<9}"))
            if result.message:
                console.print(f"            [dim]{plain(result.message)}[/]")

    summary = pipeline.sweep(services, on_file=show)
    doc = summary.to_dict()
    if as_json:
        files = doc.pop("results")
        print_json("sweep", {"summary": doc, "files": files})
    else:
        console.print(
            f"[bold]Sweep:[/] {count(doc['files'], 'file')}: {doc['uploaded']} uploaded, "
            f"{doc['partial']} partial, {doc['duplicate']} duplicate, {doc['failed']} failed, "
            f"{doc['retrying']} retrying"
            + (f", {doc['deferred']} deferred" if doc["deferred"] else "")
            + (f"; {len(summary.stuck)} waiting over 24 h" if summary.stuck else "")
        )
        if summary.stopped:
            console.print(
                f"  [magenta]stopped sending:[/] {plain(summary.stopped)}; the files left in "
                "incoming are taken by the next sweep"
            )
        for refresh in summary.profile_refreshes:
            whose = f" (connector {plain(refresh.connector)})" if refresh.connector else ""
            console.print(f"  employee profiles re-sent{whose}: {refresh.status}")
    # The worst of its files; files left untried because it stopped count as failed.
    codes = [exit_code_of(r.status) for r in summary.results]
    sys.exit(worst(codes + ([EXIT_FAILED] if summary.stopped or summary.deferred else [])))


def _duration(text: str) -> float:
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text or "")
    if not m:
        raise click.BadParameter("use a number with s, m, h, d or w, e.g. 24h or 7d")
    unit = {"": 3600, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
    return float(m.group(1)) * unit


@main.command()
@click.option("--since", default="7d", show_default=True, help="How far back: 30m, 24h, 7d, 4w.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=200, show_default=True, help="Most runs shown."
)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@click.option(
    "--connector",
    help="Only the runs of this connector of HRUPLOAD_CONNECTORS. [default: every run]",
)
def status(since: str, limit: int, as_json: bool, connector: str | None) -> None:
    """Show the run log: one line per processed file, newest first.

    A table on a terminal; piped or redirected, one tab-separated line per run (the header
    line first), whole, for grep and cut. Exit 1 when the run log cannot be read.
    """
    from datetime import UTC, datetime, timedelta

    from hrupload.app.overview import run_label, run_note

    try:
        window = _duration(since)
    except click.BadParameter as exc:
        exc.param_hint = "'--since'"
        raise
    services = _services()
    if connector and services.settings.connectors:
        options.connector_named(services.settings, connector)
    cutoff = datetime.now(UTC) - timedelta(seconds=window)
    runs = services.runlog.list_runs(since=cutoff, limit=limit, connector=connector)
    if as_json:
        print_json("status", {"since": cutoff.isoformat(), "runs": [r.to_dict() for r in runs]})
        return
    console = new_console()
    if not runs:
        console.print(f"No runs since {cutoff:%Y-%m-%d %H:%M} UTC.")
        return
    rows = []
    for r in runs:
        when = r.finished or r.started
        style = _STATUS_STYLE.get(r.status, "white")
        file, note = run_label(r), run_note(r)
        rows.append(
            [
                (f"{when:%m-%d %H:%M}" if console.is_terminal else f"{when:%Y-%m-%d %H:%M}")
                if when
                else "",
                f"[{style}]{plain(r.status)}[/]",
                plain(file),
                str(r.rows),
                str(r.valid),
                str(r.rejected),
                str(r.uploaded),
                plain(note[:200] if console.is_terminal else note),
            ]
        )
    fixed, number = {"no_wrap": True}, {"no_wrap": True, "justify": "right"}
    columns = [("finished", fixed), ("status", fixed), ("file", {"ratio": 2})]
    columns += [(name, number) for name in ("rows", "valid", "rejected", "uploaded")]
    columns += [("note", {"ratio": 3})]
    print_rows(console, columns, rows, title=f"hrupload runs since {cutoff:%Y-%m-%d %H:%M} UTC")


class _DevCommands(click.Group):
    """Commands of installed add-ons (entry point group ``hrupload.dev``), such as the
    local stand-ins of ``hrupload_dev``. Found by name, loaded only when one runs: hrupload
    never imports them, and the Function package, which leaves them out, still starts."""

    def _entry_points(self) -> dict[str, Any]:
        from importlib.metadata import entry_points

        return {ep.name: ep for ep in entry_points(group="hrupload.dev")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._entry_points())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        ep = self._entry_points().get(cmd_name)
        return ep.load() if ep is not None else None


@main.group(cls=_DevCommands)
def dev() -> None:
    """Local stand-ins for development, tests and the demo (installed with hrupload_dev)."""


# Commands that live in modules of their own are registered below, one line each
# (``from hrupload.cli.x import x`` then ``main.add_command(x)``).
from hrupload.cli.doctor import doctor  # noqa: E402

main.add_command(doctor)
from hrupload.cli.profile import profile  # noqa: E402

main.add_command(profile)
from hrupload.cli.pull import pull  # noqa: E402

main.add_command(pull)
