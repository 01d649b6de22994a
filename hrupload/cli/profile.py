"""``hrupload profile init FILE``: a starting profile written from an export's header."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from hrupload.cli import options
from hrupload.cli.output import (
    EXIT_FAILED,
    load_profile_option,
    new_console,
    plain,
    private_write,
    stdin_spooled,
)


@click.group()
def profile() -> None:
    """Column-mapping profiles: the portal's wizard mapping, as JSON."""


@profile.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the profile here. [default: print it]",
)
@click.option("--force", is_flag=True, help="Overwrite --output if it exists.")
@options.dialect_options
def init(file: Path, output: Path | None, force: bool, **opts: Any) -> None:
    """Write a starting profile for FILE ('-': standard input) from its header and rows:
    the columns it recognises per scenario, the scenario column and its values, the date
    formats that read its dates, its delimiter and encoding. What it cannot tell (a
    column it does not know, a scenario value, dates that read month first and day first)
    it lists as things to do, on stderr and in the profile's description.

    Then: fill those in, check with `hrupload validate FILE --profile PROFILE`, and copy
    the column mapping into the connector's wizard in the Purview portal.
    """
    from hrupload.core.errors import ProfileError
    from hrupload.core.profile import parse_profile
    from hrupload.core.report import FileProblem
    from hrupload.core.starter import starting_profile

    err = new_console(stderr=True)
    if output is not None and output.exists() and not force:
        raise click.BadParameter(f"{output} exists; add --force to overwrite it", param_hint="'-o'")
    dialect = load_profile_option(None, opts).dialect()
    with stdin_spooled([file], options.load_or_exit({}).max_file_mb << 20) as (paths, stdin):
        name = "standard input" if stdin else file.name
        try:
            with paths[0].open("rb") as stream:
                starter = starting_profile(stream, name=name, dialect=dialect)
        except FileProblem as problem:
            err.print(f"[red]✗ {plain(name)}:[/] {plain(problem.error.message)}")
            sys.exit(EXIT_FAILED)
        except OSError as exc:
            err.print(f"[red]✗ {plain(file)}:[/] cannot read it: {plain(exc.strerror)}")
            sys.exit(EXIT_FAILED)
    text = json.dumps(starter.profile, indent=2, ensure_ascii=False) + "\n"
    try:
        parse_profile(starter.profile, source="the starting profile")
        complete = True
    except ProfileError:  # e.g. a scenario column whose values are not placed yet
        complete = False
    if output is None:
        click.echo(text, nl=False)
    else:
        private_write(output, text.encode())
        err.print(f"wrote {plain(output)}")
    recognised = ", ".join(starter.recognised) or "none"
    err.print(f"recognised columns: {plain(recognised)}")
    for n, note in enumerate(starter.notes, 1):
        err.print(f"[yellow]to do ({n}):[/] {plain(note)}")
    if not complete:
        err.print("[yellow]the profile is not usable until the to-do items are done[/]")
