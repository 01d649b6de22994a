"""The operators' side of infra/: alerts they can tune, the workbook, diagnostic settings.

Read as text, like tests/test_infra.py (no Bicep CLI here); the queries themselves are checked
against the app's telemetry in tests/test_telemetry_queries.py.
"""

from __future__ import annotations

import re
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
    assert len(alerts) == 6
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


def test_no_upload_lookback_covers_the_silence_it_alerts_on():
    text = _text(ALERTS)
    low, high = _bounds(text, "noUploadHours")
    assert _bounds(_text(MAIN), "noUploadHours") == (low, high)
    # A log search alert looks back two days at most; past that, 2-day windows, at most 6.
    assert "var silenceInWindows = noUploadHours > 48" in text
    assert "var silenceWindows = silenceInWindows ? (noUploadHours + 47) / 48 : 1" in text
    assert (high + 47) // 48 <= 6, "numberOfEvaluationPeriods is at most 6"
    for hours in (low, 26, 48, 49, 170, high):
        windows = (hours + 47) // 48 if hours > 48 else 1
        lookback = windows * 48
        assert lookback >= hours
        assert hours <= 48 or lookback - hours < 48
    rule = next(b for b in _alerts() if "noUpload" in b or "silenceCounted" in b)
    assert "windowSize: silenceInWindows ? 'P2D' : 'PT1H'" in rule
    assert "overrideQueryTimeRange: silenceInWindows ? null : 'P2D'" in rule
    assert "'__HOURS__', string(noUploadHours)" in text
    assert "numberOfEvaluationPeriods: silenceWindows" in text
    assert "minFailingPeriodsToAlert: silenceWindows" in text


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
