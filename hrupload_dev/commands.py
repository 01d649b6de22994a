"""What the ``hrupload dev`` commands of the Graph and report stand-ins share: run until
Ctrl-C, and print a secret only when it was generated for this run."""

from __future__ import annotations

import logging
import shlex
import threading
from collections.abc import Callable
from typing import Any

import click


def print_secret(variable: str, generated: str | None, given_by: str) -> None:
    """Print a generated secret once (made up for this run, useless elsewhere); never a
    secret the stand-in was given (``given_by`` says where that one came from)."""
    if generated is not None:
        click.echo(
            f"  export {variable}={shlex.quote(generated)}"
            "  # generated local stand-in secret, shown once"
        )
    else:
        click.echo(f"  (the stand-in accepts the secret it was given: {given_by})")


def serve_until_interrupted(standin: Any, port: int, banner: Callable[[], None]) -> None:
    """Start ``standin`` (a LoopbackStandIn: not imported, since the connector's command
    uses this module), print ``banner`` and serve until Ctrl-C; a busy port is one sentence."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        standin.start()
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); pick another port with --port"
        ) from None
    forever = threading.Event()
    try:
        banner()
        while not forever.wait(3600):
            pass
    except KeyboardInterrupt:
        click.echo(f"Stopping the {type(standin).__name__}.")
    finally:
        standin.stop()
