"""Command-line options that set a setting: each is an override of the setting of the same
meaning (command line > environment > default).

An option here has no default, type or environment variable of its own: its text goes to
:func:`hrupload.settings.load` as an override and is checked by the same code as the
environment's, and its help shows the settings table's default. A malformed option fails
naming the option, with exit 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

import click

from hrupload import settings
from hrupload.cli.output import EXIT_USAGE, new_console, plain
from hrupload.core.errors import ConfigError

#: Each option and the setting it overrides.
SETTING_OPTIONS: dict[str, str] = {
    "--tenant-id": "HRUPLOAD_TENANT_ID",
    "--app-id": "HRUPLOAD_APP_ID",
    "--job-id": "HRUPLOAD_JOB_ID",
    "--profile": "HRUPLOAD_PROFILE",
    "--cloud": "HRUPLOAD_CLOUD",
    "--login-url": "HRUPLOAD_LOGIN_URL",
    "--ingestion-url": "HRUPLOAD_INGESTION_URL",
    "--records-per-call": "HRUPLOAD_RECORDS_PER_CALL",
    "--retry-budget": "HRUPLOAD_RETRY_BUDGET",
    "--read-timeout": "HRUPLOAD_READ_TIMEOUT",
    "--concurrency": "HRUPLOAD_CONCURRENCY",
    "--lock-wait": "HRUPLOAD_LOCK_WAIT",
    "--max-file-mb": "HRUPLOAD_MAX_FILE_MB",
    "--max-chunk-mb": "HRUPLOAD_MAX_CHUNK_MB",
}
#: Setting -> option, for messages that name what the user typed. (--app-secret overrides
#: HRUPLOAD_APP_SECRET with a warning: ``cli.upload``.)
OPTION_OF = {name: flag for flag, name in SETTING_OPTIONS.items()} | {
    "HRUPLOAD_APP_SECRET": "--app-secret"
}


def _param(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def setting_option(
    flag: str, help: str | None = None, *, metavar: str = "N"
) -> Callable[[Callable], Callable]:
    """``flag`` as a click option overriding its setting; ``help`` defaults to the
    setting's own, and the settings table's default and variable are appended."""
    name = SETTING_OPTIONS[flag]
    text = help or next(s.help for s in settings.SETTINGS if s.name == name)
    return click.option(flag, metavar=metavar, help=f"{text} {settings.describe(name)}")


def cloud_option(func: Callable) -> Callable:
    """--cloud, offering the clouds of the settings' table."""
    return setting_option("--cloud", metavar="[" + "|".join(settings.CLOUDS) + "]")(func)


def dialect_options(func: Callable) -> Callable:
    """--encoding and --delimiter: how the files are read, over the profile's choice (not
    settings: a profile says it, per kind of export; ``output.load_profile_option`` applies
    them)."""
    func = click.option(
        "--delimiter",
        metavar="CHAR",
        help="The character between fields: , ; | or tab (default: detected from the header "
        'line; a profile\'s "delimiter" says it for every file).',
    )(func)
    return click.option(
        "--encoding",
        metavar="NAME",
        help="A legacy encoding the files are in, such as cp1252 (Windows-1252) or latin-1 "
        '(default: UTF-8, or UTF-16 with a byte order mark; a profile\'s "encoding" says it '
        "for every file). A byte order mark still wins.",
    )(func)


def overrides(params: Mapping[str, Any]) -> dict[str, Any]:
    """The settings the command line set, from a command's parameters (None: not given)."""
    return {
        name: params[_param(flag)]
        for flag, name in SETTING_OPTIONS.items()
        if _param(flag) in params
    }


def load(params: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> settings.Settings:
    """The settings with the command line's options over the environment; raises
    ConfigError naming the option (or the variable) that is malformed."""
    from hrupload.compose import load_settings  # reads blob:<name> settings from storage

    given = overrides(params) | dict(extra or {})
    return load_settings(overrides=given, options=OPTION_OF)


def load_or_exit(params: Mapping[str, Any]) -> settings.Settings:
    """:func:`load` for the commands whose only answer to a configuration error is to
    say it and exit 2."""
    try:
        return load(params)
    except ConfigError as exc:
        exit_configuration_error(exc)


def connector_named(loaded: settings.Settings, name: str) -> settings.Connector:
    """The connector of HRUPLOAD_CONNECTORS that ``--connector`` names; a usage error
    listing the configured names when none is named so."""
    for connector in loaded.connectors:
        if connector.name == name:
            return connector
    known = ", ".join(c.name for c in loaded.connectors)
    raise click.BadParameter(
        f"no connector is named {name!r}; HRUPLOAD_CONNECTORS has {known}"
        if known
        else f"no connector is named {name!r}: HRUPLOAD_CONNECTORS is not set",
        param_hint="'--connector'",
    )


def exit_configuration_error(exc: ConfigError) -> Any:
    new_console(stderr=True).print(f"[red]configuration error:[/] {plain(exc)}")
    sys.exit(EXIT_USAGE)
