"""The operators' side of infra/: alerts they can tune, the workbook, diagnostic settings.

Read as text, like tests/test_infra.py (no Bicep CLI here); the queries themselves are checked
against the app's telemetry in tests/test_telemetry_queries.py.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from tests.test_infra import _resources

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "infra" / "app"
MAIN = ROOT / "infra" / "main.bicep"
ALERTS = APP / "alerts.bicep"
DIAGNOSTICS = APP / "diagnostics.bicep"
STORAGE = APP / "storage.bicep"

ALERT_TYPES = ("Microsoft.Insights/scheduledQueryRules", "Microsoft.Insights/metricAlerts")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _alerts() -> list[str]:
    return [body for t in ALERT_TYPES for body in _resources(_text(ALERTS), t)]


def _bounds(text: str, param: str) -> tuple[int, int]:
    m = re.search(rf"@minValue\((\d+)\)\s*@maxValue\((\d+)\)\s*param {param} int", text, re.S)
    assert m, f"{param} has no @minValue/@maxValue"
    return int(m.group(1)), int(m.group(2))


def test_every_alert_names_the_connector_job():
    alerts = _alerts()
    assert len(alerts) == 7
    for body in alerts:
        name = re.search(r"^  name: '([^']+)'", body, re.M).group(1)
        assert name.startswith("${alertName}-"), name
        description = re.search(r"^    description: '(.*)'$", body, re.M).group(1)
        assert "${job}" in description, name
        display = re.search(r"^    displayName: '(.*)'$", body, re.M)
        assert display is None or "${job}" in display.group(1), name
    assert "var alertName = 'hrupload-${jobId}'" in _text(ALERTS)


def test_files_with_rows_rejected_have_their_own_alert():
    partial = [b for b in _alerts() if "partialQuery" in b]
    assert len(partial) == 1
    query = re.search(r"var partialQuery = '''(.*?)'''", _text(ALERTS), re.S).group(1)
    assert "where status == 'partial'" in query


def test_the_action_group_mails_every_address_and_the_webhook_when_given():
    text = _text(ALERTS)
    group = _resources(text, "Microsoft.Insights/actionGroups")[0]
    assert "emailReceivers: [for (email, i) in alertEmails: {" in group
    assert "webhookReceivers: empty(alertWebhookUrl) ? [] : [" in group
    for path in (MAIN, ALERTS):
        assert re.search(
            r"@secure\(\)\s*@description\([^\n]*\)\s*param alertWebhookUrl string\n", _text(path)
        ), f"{path.name}: alertWebhookUrl must be @secure"
    main = _text(MAIN)
    assert "alertEmails: split(replace(replace(alertEmail, ' ', ''), ';', ','), ',')" in main


def _rule(suffix: str) -> str:
    return next(b for b in _alerts() if f"name: '${{alertName}}-{suffix}'" in b)


def _query(name: str) -> str:
    return re.search(rf"^var {name} = '''(.*?)'''", _text(ALERTS), re.M | re.S).group(1)


def test_the_no_upload_alert_names_each_connector_and_its_job():
    rule = _rule("no-upload")
    # One alert per connector: both dimensions split the rows, any value.
    dimensions = re.search(r"^          dimensions: \[(.*?)^          \]", rule, re.M | re.S)
    assert dimensions, "no-upload has no dimensions"
    names = re.findall(
        r"name: '(\w+)'\s*operator: 'Include'\s*values: \[\s*'\*'\s*\]", dimensions.group(1)
    )
    assert names == ["connector", "job_id"]
    query = _query("noUploadQuery")
    projected = re.search(r"^\| project (.*)$", query, re.M).group(1)
    for column in ("connector = ", "job_id", "last_upload = ", "hours_since_upload = "):
        assert column in projected, column
    assert "__CONNECTOR_EVENTS__\n| summarize arg_max(TimeGenerated, *) by connector" in query
    assert "${noUploadHours} hours" in re.search(r"displayName: '(.*)'", rule).group(1)


def test_the_no_upload_threshold_is_no_upload_hours():
    rule = _rule("no-upload")
    assert "'__HOURS__', string(noUploadHours)" in rule
    assert "| where isnull(last) or last < ago(__HOURS__h)" in _query("noUploadQuery")
    assert "timeAggregation: 'Count'" in rule and "threshold: 0" in rule
    # The query's own ago() bounds reach two days back, the most a log search alert allows.
    assert "overrideQueryTimeRange: 'P2D'" in rule


def test_no_upload_hours_fits_in_the_sweeps_look_back():
    from hrupload.app.pipeline import UPLOAD_LOOKBACK

    low, high = _bounds(_text(ALERTS), "noUploadHours")
    assert _bounds(_text(MAIN), "noUploadHours") == (low, high)
    # A connector whose last upload is older than the look-back is reported with none: that
    # must still be silence past any noUploadHours the parameter takes.
    assert timedelta(hours=high) < UPLOAD_LOOKBACK
    assert f"{UPLOAD_LOOKBACK.days} days" in _query("noUploadQuery")


def test_a_sweep_that_stops_reporting_has_its_own_alert():
    rule = _rule("sweep-silent")
    assert "replace(sweepSilentQuery, '__CONNECTOR_EVENTS__', connectorEvents)" in rule
    assert "${job}" in rule
    query = _query("sweepSilentQuery")
    assert "| where TimeGenerated > ago(2d)\n| summarize Reports = count()" in query
    assert "metricMeasureColumn: 'Reports'" in rule
    assert "operator: 'LessThan'" in rule and "threshold: 1" in rule
    assert "Name == 'hrupload.connector'" in _query("connectorEvents")


def test_main_passes_the_tunables_to_the_alerts():
    main = _text(MAIN)
    module = main[main.index("module alerts 'app/alerts.bicep'") :]
    for line in (
        "alertWebhookUrl: alertWebhookUrl",
        "jobId: connectorJobId",
        "noUploadHours: noUploadHours",
        "secretExpiryDays: secretExpiryDays",
    ):
        assert line in module


def _diagnostic_scopes(text: str) -> dict[str, list[str]]:
    """Scope symbol -> the log categories sent by each diagnostic setting on it."""
    out: dict[str, list[str]] = {}
    for body in _resources(text, "Microsoft.Insights/diagnosticSettings"):
        scope = re.search(r"^  scope: (\w+)$", body, re.M).group(1)
        categories = re.findall(r"category: '(\w+)'", body)
        for var in re.findall(r"^    logs: (\w+)$", body, re.M):
            block = re.search(rf"^var {var} = \[(.*?)^\]", text, re.M | re.S).group(1)
            categories += re.findall(r"category: '(\w+)'", block)
        out.setdefault(scope, []).extend(categories)
    return out


def test_diagnostic_settings_cover_the_host_event_grid_and_every_storage_service():
    diag = _diagnostic_scopes(_text(DIAGNOSTICS))
    assert "FunctionAppLogs" in diag["app"]
    assert "DeliveryFailures" in diag["topic"]
    for scope in ("hrQueues", "hrTables", "hostBlobs", "hostQueues", "hostTables"):
        assert {"StorageWrite", "StorageDelete"} <= set(diag[scope]), scope
    # The HR blob service's audit setting lives in storage.bicep: not sent twice.
    hr_blob = _diagnostic_scopes(_text(STORAGE))["blobService"]
    assert {"StorageRead", "StorageWrite", "StorageDelete"} <= set(hr_blob)
    assert "hrBlobs" not in diag


@pytest.mark.parametrize("path", [DIAGNOSTICS, STORAGE, APP / "keyvault.bicep"])
def test_no_category_goes_twice_to_one_resource(path):
    for scope, categories in _diagnostic_scopes(_text(path)).items():
        assert len(categories) == len(set(categories)), f"{path.name}: {scope}"


def test_workbook_and_diagnostics_are_deployed():
    main = _text(MAIN)
    assert "module workbook 'app/workbook.bicep'" in main
    assert "module diagnostics 'app/diagnostics.bicep'" in main
    workbook = _text(APP / "workbook.bicep")
    assert "loadJsonContent('workbook/workbook.json')" in workbook
    assert "serializedData: string(union(layout, { items: items" in workbook


def test_the_runbook_says_what_each_alert_means():
    deploy = _text(ROOT / "docs" / "deploy.md")
    table = deploy[deploy.index("| Alert (`hrupload-<job id>-…`) |") :]
    rows = re.findall(r"^\| `([\w-]+)` \(", table, re.M)
    suffixes = [
        re.search(r"^  name: '\$\{alertName\}-([\w-]+)'", b, re.M).group(1) for b in _alerts()
    ]
    assert sorted(rows) == sorted(suffixes)
