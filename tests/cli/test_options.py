"""The CLI's options are overrides of the settings: command line > environment > default,
checked by the settings' own code, their defaults shown from the settings table."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from hrupload import settings
from hrupload.cli.main import main
from hrupload.cli.options import SETTING_OPTIONS

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "400", **(env or {})})


def options_of(command: click.Command) -> dict[str, click.Option]:
    return {o.opts[0]: o for o in command.params if isinstance(o, click.Option)}


@pytest.mark.parametrize("command", ["validate", "upload", "process"])
def test_setting_options_carry_no_default_type_or_variable_of_their_own(command: str) -> None:
    declared = {f: o for f, o in options_of(main.commands[command]).items() if f in SETTING_OPTIONS}
    assert declared, command
    ctx = main.commands[command].make_context(command, ["x.csv"])
    for flag, option in declared.items():
        assert ctx.params[option.name] is None and option.envvar is None, flag
        assert isinstance(option.type, click.types.StringParamType), flag


def test_help_shows_the_settings_tables_defaults_and_clouds() -> None:
    result = invoke("upload", "--help")
    text = " ".join(result.output.split())
    assert result.exit_code == 0
    for name in ("HRUPLOAD_RECORDS_PER_CALL", "HRUPLOAD_READ_TIMEOUT", "HRUPLOAD_LOCK_WAIT"):
        assert f"[default: {settings.default(name)}; env: {name}]" in text
    assert "[" + "|".join(settings.CLOUDS) + "]" in text


def test_the_option_wins_over_the_environment(tmp_path: Path) -> None:
    big = tmp_path / "resignation.csv"
    big.write_text((SAMPLES / "resignation.csv").read_text() + "\n" + "x" * (2 << 20))
    over = invoke("validate", str(big), "--json", env={"HRUPLOAD_MAX_FILE_MB": "1"})
    assert over.exit_code == 1 and "file-too-large" in over.stdout
    allowed = invoke(
        "validate", str(big), "--json", "--max-file-mb", "5", env={"HRUPLOAD_MAX_FILE_MB": "1"}
    )
    assert "file-too-large" not in allowed.stdout


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--max-chunk-mb", "zero"], {}, "--max-chunk-mb must be a whole number"),
        ([], {"HRUPLOAD_MAX_CHUNK_MB": "zero"}, "HRUPLOAD_MAX_CHUNK_MB must be a whole number"),
    ],
)
def test_a_malformed_option_or_variable_exits_2_naming_it(args, env, named) -> None:
    result = invoke("validate", str(SAMPLES / "resignation.csv"), *args, env=env)
    assert result.exit_code == 2
    assert named in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--concurrency", "17"], "--concurrency must be at most 16"),
        (["--cloud", "moon"], "--cloud must be one of commercial, gcc, gcc-high, dod"),
        (["--records-per-call", "0"], "--records-per-call must be at least 1"),
    ],
)
def test_upload_options_are_checked_before_anything_is_read_or_sent(args, named) -> None:
    result = invoke("upload", "--dry-run", str(SAMPLES / "resignation.csv"), *args)
    assert result.exit_code == 2
    assert named in result.output


def all_commands(group: click.Group, prefix: str = "", ctx: click.Context | None = None):
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from all_commands(command, f"{prefix}{name} ", ctx)
        elif command is not None:
            yield prefix + name, command


@pytest.mark.parametrize(("name", "command"), list(all_commands(main)))
def test_every_option_help_shows_its_variable_or_default(name: str, command) -> None:
    ctx = click.Context(command, info_name=name)
    for option in command.params:
        if not isinstance(option, click.Option) or option.is_flag or option.hidden:
            continue
        record = option.get_help_record(ctx)
        assert record is not None, (name, option.opts)
        text = record[1]
        assert "default:" in text or "env:" in text, (name, option.opts[0], text)
        if option.opts[0] in SETTING_OPTIONS and not name.startswith("dev "):
            assert f"env: {SETTING_OPTIONS[option.opts[0]]}" in text, (name, option.opts[0])


def test_shell_completion_as_documented() -> None:
    import os
    import subprocess
    import sys

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert 'eval "$(_HRUPLOAD_COMPLETE=bash_source hrupload)"' in readme
    hrupload = Path(sys.executable).with_name("hrupload")
    script = subprocess.run(
        [hrupload],
        env={**os.environ, "_HRUPLOAD_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "_hrupload_completion" in script and "complete " in script
    offered = subprocess.run(
        [hrupload],
        env={
            **os.environ,
            "_HRUPLOAD_COMPLETE": "bash_complete",
            "COMP_WORDS": "hrupload st",
            "COMP_CWORD": "1",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "plain,status" in offered.splitlines()
