"""``hrupload pull``: one line per file dropped and per source failure, the exit code,
``--json`` matching its schema, and the secret nowhere in the output."""

from __future__ import annotations

from click.testing import CliRunner

from hrupload.cli.main import main
from tests.app.test_pull import (  # noqa: F401 - fixtures
    ROWS,
    clean_env_fixture,
    make_env,
    report_sources,
    standin_fixture,
)
from tests.cli.test_json_schemas import checked
from tests.plugins.standins import TEST_REPORT_NAME, TEST_REPORT_OWNER, TEST_REPORT_PASSWORD


def run(env: dict[str, str], *args: str):
    result = CliRunner().invoke(main, ["pull", *args], env={"COLUMNS": "200", **env})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_pull_prints_each_file_and_failure_and_exits_1_when_one_failed(
    azurite, hr_storage, standin, report_standin, clean_env
):
    report_standin.set_report(TEST_REPORT_NAME, ROWS, owner=TEST_REPORT_OWNER)
    broken = report_standin.source("workday", format="json") | {
        "name": "broken",
        "auth": {"type": "bearer", "secret_env": "TEST_REPORT_PASSWORD_ENV"},
    }
    env = make_env(azurite, hr_storage, standin, report_sources(report_standin, broken))

    first = run(env)

    assert first.exit_code == 1, first.output
    assert "dropped  " in first.output and "/leavers/leavers-report.csv" in first.output
    assert "failed   broken: source 'broken': the report URL refused the credentials" in (
        first.output
    )
    assert TEST_REPORT_PASSWORD not in first.output

    again = run(env, "--source", "leavers-report", "--json")
    assert again.exit_code == 0, again.output
    data = checked("pull", again.stdout)
    assert data["ok"] and data["dropped"] == 0, "unchanged: not dropped again"
    assert TEST_REPORT_PASSWORD not in again.output


def test_an_unknown_source_is_a_usage_error(
    azurite, hr_storage, standin, report_standin, clean_env
):
    env = make_env(azurite, hr_storage, standin, report_sources(report_standin))
    result = run(env, "--source", "nope")
    assert result.exit_code == 2
    assert "no source is named 'nope'" in result.output
    assert "the configured sources are leavers-report" in result.output


def test_status_shows_each_pull_with_its_source(
    azurite, hr_storage, standin, report_standin, clean_env
):
    report_standin.set_report(TEST_REPORT_NAME, ROWS, owner=TEST_REPORT_OWNER)
    env = make_env(azurite, hr_storage, standin, report_sources(report_standin))
    run(env)
    result = CliRunner().invoke(main, ["status"], env={"COLUMNS": "200", **env})
    assert "(pull leavers-report)" in result.output
    assert "1 file dropped" in result.output
