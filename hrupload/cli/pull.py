"""``hrupload pull``: fetch every configured source once (or the one named) and drop what
changed into its connector's folder in incoming, as the daily timer does before it sweeps.

The work is :func:`hrupload.app.pull.pull`; this module reads the options and prints.
"""

from __future__ import annotations

import sys

import click

from hrupload.cli import options
from hrupload.cli.output import EXIT_FAILED, EXIT_OK, count, new_console, plain, print_json
from hrupload.core.errors import ConfigError


@click.command()
@click.option("--source", "only", metavar="NAME", help="Pull only this source. [default: all]")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def pull(only: str | None, as_json: bool) -> None:
    """Fetch each source of HRUPLOAD_CONNECTORS once and drop what changed into its
    connector's folder in incoming; the blob pipeline (or the next sweep) uploads it.

    A source that fails is recorded in the run log and the others still run. Exit 0 when
    every source was read, 1 when one failed, 2 for a configuration error.
    """
    from hrupload import compose
    from hrupload.app.pull import pull as run_pull

    settings = options.load_or_exit({})
    try:
        if not settings.sources:
            raise ConfigError(
                "no sources are configured: add a 'sources' list to HRUPLOAD_CONNECTORS "
                "(README, 'Pull from an HR system')"
            )
        services = compose.build_services(settings)
        summary = run_pull(services, compose.build_sources(settings), only=only)
    except ConfigError as exc:
        options.exit_configuration_error(exc)
    if as_json:
        print_json("pull", summary.to_dict())
    else:
        console = new_console()
        for result in summary.results:
            for blob in result.dropped:
                console.print(
                    f"  [green]dropped[/]  {plain(settings.incoming)}/{plain(blob)}  "
                    f"[dim]({plain(result.source)})[/]"
                )
            if result.error:
                console.print(f"  [red]failed[/]   {plain(result.source)}: {plain(result.error)}")
        doc = summary.to_dict()
        console.print(
            f"[bold]Pull:[/] {count(doc['sources'], 'source')}, "
            f"{count(doc['dropped'], 'file')} dropped, {doc['failed']} failed"
        )
    sys.exit(EXIT_OK if summary.ok else EXIT_FAILED)
