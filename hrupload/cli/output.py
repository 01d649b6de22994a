"""What the CLI prints and writes, shared by its commands: exit codes, consoles, escaping
of file-derived text, the report table, private report files."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from hrupload.core.errors import ConfigError
from hrupload.core.report import Report, count

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REJECTED = 0, 1, 2, 3


SHOW_ERRORS = 20


def new_console(stderr: bool = False):
    """A console for output. Lines are never wrapped by us (soft wrap): a long name stays on
    its line, so no wrapped piece of it can start a line of its own and pass for a result,
    and output piped to grep or a log has one record a line whatever its length."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def print_rows(
    console, columns: list[str | tuple[str, dict[str, Any]]], rows: list[list[str]], **table: Any
) -> None:
    """Rows as a table on a terminal; off one (a pipe, a file, cron's mail), as plain
    tab-separated lines, the header first, so ``| grep`` and ``| cut -f`` see one record a
    line. A column is its header, or its header and rich column options (``justify``,
    ``no_wrap``, ``ratio``). Cells are rich markup (file-derived text through :func:`plain`)."""
    specs = [(c, {}) if isinstance(c, str) else c for c in columns]
    if console.is_terminal:
        from rich import box
        from rich.table import Table

        grid = Table(padding=(0, 1), box=box.SIMPLE_HEAD, **table)
        for header, options in specs:
            grid.add_column(header, **({"overflow": "fold"} | options))
        for row in rows:
            grid.add_row(*row)
        console.print(grid)
        return
    from rich.text import Text

    for row in [[header for header, _ in specs], *rows]:
        # Tabs inside a cell would shift the columns: printable() already escapes them.
        # click.echo, not console.print: rich would expand the tabs to spaces.
        click.echo("\t".join(Text.from_markup(cell).plain for cell in row), err=console.stderr)


def exit_code_of(status: str) -> int:
    """A file's exit code from its outcome: the one mapping ``process`` and ``sweep`` share."""
    from hrupload.app.runs import Status

    if status in (Status.FAILED, Status.RETRYING):
        return EXIT_FAILED
    return EXIT_REJECTED if status == Status.PARTIAL else EXIT_OK


def worst(codes: list[int]) -> int:
    for code in (EXIT_USAGE, EXIT_FAILED, EXIT_REJECTED):
        if code in codes:
            return code
    return EXIT_OK


def load_profile_option(spec: Any, params: dict[str, Any] | None = None):
    """The profile ``--profile`` names (``spec``: its text, or the loaded settings, which
    also hold a ``blob:`` profile's text), with ``--encoding`` and ``--delimiter`` (in a
    command's ``params``) over its own; a bad one is a usage error naming the option."""
    from hrupload.core.profile import load_profile

    try:
        profile = (
            load_profile(spec) if spec is None or isinstance(spec, str) else spec.load_profile()
        )
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="'--profile'") from None
    for option in ("encoding", "delimiter"):
        given = (params or {}).get(option)
        try:
            profile = profile.reading(**{option: given})
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=f"'--{option}'") from None
    return profile


def private_write(path: Path, data: bytes | Any) -> None:
    """Reports may hold HR data: create them readable by the user only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # O_CREAT's mode applies only to new files, not one from a past run
    with os.fdopen(fd, "wb") as out:
        if isinstance(data, bytes):
            out.write(data)
        else:
            import shutil

            shutil.copyfileobj(data, out)


def print_report(report: Report, console) -> None:
    from rich.table import Table

    # Everything below that comes from the file (its name, header names in messages) goes
    # through plain: a "[/]" in a header would otherwise be read as markup and crash the
    # print, an ESC or a line break would act on the terminal or forge a line.
    name = plain(report.file)
    if report.file_error is not None:
        console.print(
            f"[bold red]✗ {name}[/]: {plain(report.file_error.message)} "
            f"[dim]\\[{plain(report.file_error.code)}][/]",
            soft_wrap=True,
        )
        return
    mark = "[green]✓[/]" if report.rejected == 0 else "[yellow]![/]"
    console.print(
        f"{mark} [bold]{name}[/]: {count(report.rows, 'row')}, [green]{report.valid} valid[/], "
        f"{'[red]' if report.rejected else ''}{report.rejected} rejected"
        f"{'[/]' if report.rejected else ''}, {report.blank} blank",
        soft_wrap=True,
    )
    how = read_as(report)
    if how:
        console.print(f"  [dim]{how}[/]", soft_wrap=True)
    if report.scenarios:
        table = Table(box=None, padding=(0, 2), show_edge=False)
        table.add_column("scenario")
        table.add_column("valid", justify="right")
        table.add_column("rejected", justify="right")
        for scenario, counts in report.scenarios.items():
            table.add_row(plain(scenario), str(counts["valid"]), str(counts["rejected"]))
        console.print(table)
    if report.errors:
        table = Table(title=None, show_lines=False, padding=(0, 1))
        table.add_column("line", justify="right", no_wrap=True)
        table.add_column("column", no_wrap=True)
        table.add_column("code", no_wrap=True)
        table.add_column("what to fix", overflow="fold")
        for err in report.errors[:SHOW_ERRORS]:
            table.add_row(str(err.line), plain(err.column or ""), err.code, plain(err.message))
        console.print(table)
        total = sum(report.error_counts.values())
        if total > SHOW_ERRORS:
            console.print(f"[dim]… {total - SHOW_ERRORS} more errors; --json lists them all[/]")


def read_as(report: Report) -> str | None:
    """How a file not in comma-separated UTF-8 was read, or None."""
    from hrupload.core.dialect import DELIMITERS, OUTPUT_DELIMITER

    parts = []
    if report.encoding not in (None, "utf-8", "utf-8-sig"):
        parts.append(f"read as {report.encoding}")
    if report.delimiter not in (None, OUTPUT_DELIMITER):
        parts.append(f"fields separated by {DELIMITERS[report.delimiter]}")
    return ", ".join(parts) + " (rows go out as comma-separated UTF-8)" if parts else None


def plain(text: object) -> str:
    """File-derived text (blob names, file names, column names, the service's reasons) as
    rich markup that prints it literally and on one line: controls, line breaks and bidi
    overrides escaped (:func:`hrupload.core.termsafe.printable`), and "[...]" not read as
    markup (a stray "[/]" would crash the print)."""
    from rich.markup import escape

    from hrupload.core.termsafe import printable

    return escape(printable(text))


#: every --json output: {"schema": JSON_SCHEMA, "version": JSON_VERSION, "kind": ..., "data": ...}
JSON_SCHEMA = "hrupload"
JSON_VERSION = 1


def print_json(kind: str, data: Any) -> None:
    """Print one ``--json`` document: the same envelope for every command, so a script reads
    ``kind`` and ``data`` whatever it ran, and one file or several look alike."""
    import json

    from hrupload.core.termsafe import json_safe

    doc = {"schema": JSON_SCHEMA, "version": JSON_VERSION, "kind": kind, "data": data}
    click.echo(json_safe(json.dumps(doc, indent=2, ensure_ascii=False, default=str)))


#: How a file read from standard input (given as ``-``) is named in reports and output.
STDIN_NAME = "<stdin>"


@contextmanager
def stdin_spooled(
    files: Sequence[Path], max_bytes: int
) -> Iterator[tuple[list[Path], Path | None]]:
    """FILES with ``-`` replaced by a private copy of standard input, and that copy (None
    when no ``-`` was given). A copy, not the stream: validation reads a file twice (the
    scan, then the rows) and an upload once more to resume. It lives in a directory only
    the user can read (it holds HR data) and is deleted afterwards. Reading stops just past
    ``max_bytes``, so an endless or huge stream is refused as too large without filling
    the disk."""
    if not any(str(f) == "-" for f in files):
        yield list(files), None
        return
    if [str(f) for f in files].count("-") > 1:
        raise click.BadParameter("standard input ('-') can be read only once", param_hint="FILES")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hrupload-stdin-") as folder:  # mode 0700
        copy = Path(folder) / "stdin.csv"
        stream = sys.stdin.buffer
        with copy.open("xb") as out:
            copied = 0
            while copied <= max_bytes and (block := stream.read(1 << 20)):
                out.write(block)
                copied += len(block)
        yield [copy if str(f) == "-" else f for f in files], copy
