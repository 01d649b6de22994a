"""``hrupload upload``: local files to the connector, with reports beside them."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from hrupload import compose
from hrupload.adapters.local_state import UploadBusy, describe_holder
from hrupload.app.delivery import Outcome, Plan, deliver
from hrupload.app.runs import Status
from hrupload.cli import options
from hrupload.cli.output import (
    EXIT_FAILED,
    STDIN_NAME,
    count,
    load_profile_option,
    plain,
    print_json,
    print_report,
    private_write,
    read_as,
    stdin_spooled,
    worst,
)
from hrupload.core.report import FileError, Report
from hrupload.core.validate import scenario_from_name
from hrupload.settings import Settings


def upload_settings(opts: dict[str, Any], console) -> Settings:
    """The settings an upload sends with: the options over the environment, --app-secret
    included (command line over environment over default, as everywhere). It is warned
    about: a secret on the command line shows in the process list and the shell history."""
    secret = opts.get("app_secret")
    if not secret:
        return options.load(opts)
    loaded = options.load(opts)
    overridden = "HRUPLOAD_APP_SECRET" if loaded.app_secret else None
    if not overridden and loaded.key_vault_url:
        overridden = "HRUPLOAD_KEY_VAULT_URL"
    console.print(
        "[yellow]warning:[/] --app-secret is visible to other users in the process list "
        "and stays in shell history; set HRUPLOAD_APP_SECRET instead"
        + (f" (it overrides {overridden} for this run)" if overridden else "")
    )
    return options.load(opts, {"HRUPLOAD_APP_SECRET": secret})


def connector_settings(opts: dict[str, Any], loaded: Settings) -> Settings:
    """The settings as ``--connector`` sees them: that connector's job, app, secret,
    profile and cloud, as the pipeline sends its files; --profile and --cloud still win.
    --job-id and --app-id would contradict it, and --app-secret is the default app's."""
    name = opts.get("connector")
    if not name:
        return loaded
    connector = options.connector_named(loaded, name)
    for flag in ("job_id", "app_id"):
        if opts.get(flag):
            raise click.UsageError(
                f"--connector {name} names the job and app; leave out --{flag.replace('_', '-')}"
            )
    if opts.get("app_secret") and (
        connector.secret_env
        or connector.secret_name
        or connector.app_id not in (None, loaded.app_id)
    ):
        raise click.UsageError(
            f"connector {name!r} has its own app or secret (HRUPLOAD_CONNECTORS); leave out "
            "--app-secret"
        )
    own = loaded.for_connector(connector)
    kept = {key: getattr(loaded, key) for key in ("profile", "cloud") if opts.get(key)}
    return replace(own, **kept)


def _resolved(opts: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The options with the values the settings resolved (command line, else environment,
    else default), under the options' names the upload reads them by."""
    return opts | {
        "job_id": settings.job_id,
        "records_per_call": settings.records_per_call,
        "max_chunk_mb": settings.max_chunk_mb,
        "concurrency": settings.concurrency,
        "lock_wait": settings.lock_wait,
        "max_file_mb": settings.max_file_mb,
    }


def _progress(console, total: int, name: str):
    """Progress of a multi-chunk file on stderr: a bar on a terminal; off one (cron, CI,
    a log) a plain line at each tenth of the file, so a long run shows it is alive without
    filling the log."""
    if not console.is_terminal:
        return contextlib.nullcontext(), _TenthsLine(console, total, name)
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )

    task = progress.add_task(plain(name), total=total)
    return progress, lambda n: progress.advance(task, n)


class _TenthsLine:
    """``advance(n)`` for off a terminal: one line as the bytes read pass each 10 %."""

    def __init__(self, console, total: int, name: str) -> None:
        self._console, self._total, self._name = console, max(total, 1), plain(name)
        self._done, self._shown = 0, 0

    def __call__(self, n: int) -> None:
        self._done += n
        tenth = min(10, self._done * 10 // self._total)
        if tenth > self._shown:
            self._shown = tenth
            self._console.print(
                f"{self._name}: {tenth * 10}% read ({self._done >> 20} of {self._total >> 20} MB)"
            )


def run_upload(files: tuple[Path, ...], opts: dict[str, Any]) -> int:
    from rich.console import Console

    # soft_wrap: a message piped to a log stays one line instead of breaking at 80 columns.
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    dry = opts["dry_run"]
    loaded = options.load(opts) if dry else upload_settings(opts, err)
    loaded = connector_settings(opts, loaded)
    local = compose.build_local_upload(loaded, certificate=opts["certificate"], send=not dry)
    profile = load_profile_option(loaded, opts)
    opts = _resolved(opts, loaded)
    codes, summaries = [], []
    with stdin_spooled(files, opts["max_file_mb"] << 20) as (paths, stdin):
        for path in paths:
            _upload_path(path, opts | {"stdin": stdin}, local, profile, out, err, codes, summaries)
    if opts["as_json"]:
        print_json("upload", {"files": summaries})
    return worst(codes)


def _upload_path(path: Path, opts, local, profile, out, err, codes, summaries) -> None:
    """One file of the command line uploaded, its summary and exit code collected."""
    outcome = _upload_file(path, opts, local, profile, err)
    if isinstance(outcome, UploadBusy):
        # Nothing sent, no report written (the running upload writes them).
        err.print(f"[red]✗ not uploaded:[/] {plain(outcome)}")
        summaries.append({"file": _shown(path, opts), "status": Status.BUSY, "error": str(outcome)})
        codes.append(EXIT_FAILED)
        return
    summaries.append(outcome.summary())
    codes.append(outcome.exit_code())
    if not opts["as_json"]:
        _print_outcome(outcome, out, _report_dir(path, opts), report_name(path.name))


def _shown(path: Path, opts: dict[str, Any]) -> str:
    return STDIN_NAME if path == opts.get("stdin") else str(path)


def _report_dir(path: Path, opts: dict[str, Any]) -> Path:
    """--report-dir, else beside the file; standard input's reports go to the current
    directory (its private copy's folder is deleted at the end)."""
    if opts["report_dir"]:
        return opts["report_dir"]
    return Path.cwd() if path == opts.get("stdin") else path.parent


def _upload_file(
    path: Path, opts: dict[str, Any], local: compose.LocalUpload, profile, err
) -> Outcome | UploadBusy:
    """One file uploaded, its reports written; or the busy lock that stopped it."""
    client, checkpoints = local.client, local.checkpoints
    max_bytes = opts["max_file_mb"] << 20
    report_dir = _report_dir(path, opts)
    try:
        # The lock covers the reports too: they are the upload's, not a waiter's.
        with _one_at_a_time(path, opts, client, profile, checkpoints, max_bytes, err) as facts:
            outcome = _upload_one(path, opts, client, profile, checkpoints, max_bytes, err, facts)
            if opts["report_dir"] or report_dir.is_dir():  # no folders for a mistyped path
                _write_reports(outcome, report_dir / report_name(path.name), private_write)
    except UploadBusy as busy:
        return busy
    return outcome


@contextmanager
def _one_at_a_time(path, opts, client, profile, checkpoints, max_bytes, err) -> Iterator:
    """Yield the file's facts (or None) while holding its upload lock: one upload of the
    same content, job, chunking and profile per state directory at a time, so two runs
    at once cannot both send every chunk (``--force`` forgets the earlier checkpoints here,
    under the lock). A dry run sends nothing and takes no lock, nor does a file that
    cannot be scanned (deliver() reports it and sends nothing)."""
    facts = _scan(path, max_bytes, profile) if client is not None else None
    if facts is None:
        yield None
        return
    from hrupload.app.delivery import checkpoint_key

    key = checkpoint_key(
        facts.sha256,
        opts["job_id"],
        opts["records_per_call"],
        profile,
        opts["scenario"],
        opts["max_chunk_mb"] << 20,
    )

    def waiting(holder) -> None:

        err.print(
            f"another upload of {plain(path)} is running{plain(describe_holder(holder))}; "
            f"waiting up to {opts['lock_wait']} s for it to finish…"
        )

    with checkpoints.hold(key, file=_shown(path, opts), wait=opts["lock_wait"], on_wait=waiting):
        if opts["force"]:  # under the lock: a running upload's checkpoints are its own
            checkpoints.clear(key)
        yield facts


def _scan(path: Path, max_bytes: int, profile):
    """The file's facts (its content hash), or None when it is too large or cannot be
    read as CSV: deliver() then reports the problem properly and sends nothing."""
    from hrupload.core import csvread

    try:
        if path.stat().st_size > max_bytes:
            return None
        with path.open("rb") as stream:
            return csvread.scan(stream, max_bytes=max_bytes, dialect=profile.dialect())
    except Exception:
        return None


def _upload_one(path, opts, client, profile, checkpoints, max_bytes, err, facts) -> Outcome:
    try:
        size = path.stat().st_size
    except OSError as exc:
        report = Report(file=_shown(path, opts))
        report.file_error = FileError("unreadable", f"cannot read the file: {exc.strerror}")
        return Outcome(report, dry_run=client is None)
    if size > max_bytes:
        report = Report(file=_shown(path, opts), bytes=size)
        report.file_error = FileError(
            "file-too-large", f"the file is {size >> 20} MB, over the limit; split it"
        )
        return Outcome(report, dry_run=client is None)
    progress, advance = (
        _progress(err, size, path.name) if size > (1 << 20) else (contextlib.nullcontext(), None)
    )
    plan = Plan(
        job_id=opts["job_id"] or "dry-run",
        profile=profile,
        scenario=opts["scenario"],
        fallback_scenario=scenario_from_name(path.name),
        records_per_call=opts["records_per_call"],
        max_chunk_bytes=opts["max_chunk_mb"] << 20,
        concurrency=opts["concurrency"],
        max_bytes=max_bytes,
    )
    kwargs = dict(
        name=path.name, client=client, checkpoints=checkpoints, on_progress=advance, facts=facts
    )
    with progress:
        outcome = deliver(lambda: path.open("rb"), plan, **kwargs)
    outcome.report.file = _shown(path, opts)
    if (
        client is not None
        and outcome.key
        and outcome.error is None
        and not outcome.report.file_error
    ):
        checkpoints.complete(outcome.key)
    return outcome


#: Longest suffix the CLI adds to a file's name, and the usual file-name limit in bytes.
_SUFFIX, _NAME_MAX = ".rejected.csv", 255


def report_name(name: str) -> str:
    """``name`` as the stem of its reports: shortened, keeping its start and a hash, when
    ``<name>.rejected.csv`` would be longer than a file name may be."""
    raw = os.fsencode(name)
    if len(raw) + len(_SUFFIX) <= _NAME_MAX:
        return name
    import hashlib

    digest = hashlib.sha256(raw).hexdigest()[:12]
    keep = raw[: _NAME_MAX - len(_SUFFIX) - len(digest) - 2].decode("utf-8", "ignore")
    return f"{keep}--{digest}"


def _write_reports(outcome: Outcome, base: Path, write) -> None:
    """``<base>.report.json``, and ``<base>.rejected.csv`` when rows were rejected."""
    doc = outcome.report.to_dict() | {"upload": outcome.summary()}
    report_path = base.with_name(base.name + ".report.json")
    rejected_path = base.with_name(base.name + ".rejected.csv")
    # Rewriting a file keeps its mode: remove the earlier run's files so ours are created 0600.
    # (A stale rejected-rows file would also mislead when this run rejected nothing.)
    report_path.unlink(missing_ok=True)
    rejected_path.unlink(missing_ok=True)
    write(report_path, json.dumps(doc, indent=2).encode())
    if outcome.rejected_rows is not None:
        write(rejected_path, outcome.rejected_rows)


def _print_outcome(outcome: Outcome, console, report_dir: Path, name: str) -> None:

    # File names, header names and the service's own words go through plain: a "[/]" in
    # any of them would otherwise be read as markup (and crash the print), an ESC or a line
    # break would act on the terminal or forge a line.
    r = outcome.report
    file = plain(r.file)
    if r.file_error is not None:
        print_report(r, console)
        console.print("  Nothing was uploaded.")
        return
    if outcome.error is not None:
        console.print(
            f"[bold red]✗ Upload failed[/] for {file}: {plain(outcome.error_message or '')}"
        )
        # Counted so far only: the file is not read past the failure. Rerunning helps only
        # when trying again may succeed; a permanent refusal needs its cause fixed first.
        transient = getattr(outcome.error, "transient", False)
        console.print(
            f"  {count(outcome.uploaded, 'record')} in "
            f"{count(outcome.sent + outcome.resumed, 'chunk')} delivered; "
            + (
                "rerun the same command to send the rest."
                if transient
                else "fix the cause above, then rerun the same command to send the rest."
            )
        )
    elif outcome.dry_run:
        console.print(
            f"[bold]Dry run[/] {file}: {count(r.valid, 'record')} would go out in "
            f"{count(outcome.chunks, 'chunk')}; {r.rejected} rejected. Nothing was sent."
        )
    elif r.valid == 0 and r.rejected:
        console.print(
            f"[bold red]✗ Nothing uploaded[/] from {file}: every row was rejected "
            f"({r.rejected}); nothing was sent."
        )
    elif r.valid == 0:
        console.print(f"Nothing to upload: {file} has no records ({r.blank} blank); nothing sent.")
    elif outcome.sent == 0 and outcome.resumed and outcome.resumed == outcome.chunks:
        console.print(
            f"[green]Already uploaded[/] {file}: {count(outcome.chunks, 'chunk')}, all delivered "
            "by an earlier run; nothing sent (use --force to send again)."
        )
    else:
        console.print(f"[bold green]Upload Successful[/] {file}")
        how = read_as(r)
        if how:
            console.print(f"  [dim]{how}[/]")
        resumed = f" ({outcome.resumed} delivered by an earlier run)" if outcome.resumed else ""
        console.print(
            f"  {count(outcome.uploaded, 'record')} uploaded in "
            f"{count(outcome.chunks, 'chunk')}{resumed}; "
            f"{r.rejected} rejected, {r.blank} blank"
        )
    if r.rejected:
        rejected_path = plain(str(Path(report_dir) / (name + ".rejected.csv")))
        console.print(f"  Rejected rows and reasons: {rejected_path}")
        for err in r.errors[:5]:
            # Most messages name their column already: say it once.
            named = not err.column or err.column in err.message
            where = "" if named else f"{plain(err.column)}: "
            console.print(f"    line {err.line}: {where}{plain(err.message)}")
    sys.stdout.flush()
