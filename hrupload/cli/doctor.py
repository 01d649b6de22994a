"""``hrupload doctor``: check a whole set-up and print a checklist (or ``--json``).

The checks are :func:`hrupload.compose.doctor_checks`, run by :func:`hrupload.app.doctor.run`;
this module only reads the options and prints. It sends no HR data.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from hrupload.app.doctor import Check, Outcome, passed
from hrupload.cli import options
from hrupload.cli.options import cloud_option, setting_option
from hrupload.cli.output import EXIT_FAILED, EXIT_OK, new_console, plain, print_json


@dataclass(frozen=True)
class Seams:
    """What :func:`hrupload.compose.build_services` takes besides the settings, for tests
    to hand in as click's context object (a Key Vault stand-in's provider); a user never
    does, and the checks then build everything from the settings."""

    storage_credential: Any = None
    secret_provider: Callable[[bool], str] | None = None


_MARKS = {Outcome.OK: "[green]✓[/]", Outcome.FAILED: "[red]✗[/]", Outcome.SKIPPED: "[dim]–[/]"}


@click.command()
@setting_option("--tenant-id", metavar="ID")
@setting_option("--app-id", metavar="ID")
@setting_option("--job-id", metavar="ID")
@click.option(
    "--certificate",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="PEM (key + certificate) or PFX (password in HRUPLOAD_CERTIFICATE_PASSWORD) to "
    "check instead of a secret. [default: none, the secret is checked]",
)
@setting_option(
    "--profile", "Column-mapping profile: a JSON file or inline JSON.", metavar="PATH|JSON"
)
@cloud_option
@setting_option("--login-url", "Override the login endpoint.", metavar="URL")
@setting_option("--ingestion-url", "Override the ingestion endpoint.", metavar="URL")
@click.option("--json", "as_json", is_flag=True, help="Print the checklist as JSON.")
@click.pass_context
def doctor(ctx: click.Context, certificate: Path | None, as_json: bool, **opts: Any) -> None:
    """Check the set-up, from the settings to the connector, and say what to fix.

    Settings and profile; storage (when HR_STORAGE is set: the containers and the runs
    table, each written and cleaned up); the secret or certificate (Key Vault or the
    environment); a token from the token endpoint; the ingestion host, through the proxy
    if one is set. Sends no HR data.

    Exit 0: nothing failed (skipped checks are fine); 1: a check failed.
    """
    from hrupload import compose
    from hrupload.app.doctor import run

    seams = ctx.find_object(Seams) or Seams()
    checks = run(
        compose.doctor_checks(
            lambda: options.load(opts),
            certificate=certificate,
            storage_credential=seams.storage_credential,
            secret_provider=seams.secret_provider,
        )
    )
    ok = passed(checks)
    if as_json:
        print_json("doctor", {"ok": ok, "checks": [c.to_dict() for c in checks]})
    else:
        print_checklist(checks)
    sys.exit(EXIT_OK if ok else EXIT_FAILED)


def print_checklist(checks: list[Check]) -> None:
    console = new_console()
    width = max(len(c.title) for c in checks)
    for check in checks:
        console.print(f"{_MARKS[check.outcome]} {check.title:<{width}}  {plain(check.detail)}")
        if check.outcome == Outcome.FAILED and check.fix:
            console.print(f"  {'':<{width}}  [bold]fix:[/] {plain(check.fix)}")
    failed = sum(c.outcome == Outcome.FAILED for c in checks)
    console.print(
        "[green]All checks passed.[/]"
        if not failed
        else f"[red]{failed} of {len(checks)} checks failed.[/]"
    )
