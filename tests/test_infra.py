"""The Bicep under infra/ against the code: settings, secrets, roles, the Event Grid hook.

The Bicep CLI cannot run here, so the templates are read as text. The readers below know just
enough Bicep for that: strings, comments and braces. checkov (``make infra-check``) covers the
security rules; these tests cover what only this project knows: that every setting the code
reads is set in Azure, that laptop-only settings and secrets never are, and that the
Event Grid subscription names the function that exists.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from hrupload.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
FUNCTION = INFRA / "app" / "function.bicep"
RBAC = INFRA / "app" / "rbac.bicep"
PARAMETERS = INFRA / "main.parameters.json"
POSTDEPLOY = ROOT / "scripts" / "postdeploy.sh"
POSTDEPLOY_PS1 = ROOT / "scripts" / "postdeploy.ps1"

DEPLOYED = [s for s in SETTINGS if s.deployed]
LAPTOP_ONLY = [s for s in SETTINGS if not s.deployed]
DEFAULTS = {s.name: s.default for s in SETTINGS}

# Settings the platform reads, not hrupload/settings.py.
PLATFORM_SETTINGS = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "AZURE_CLIENT_ID",
    "OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID",  # Easy Auth's client credential (auth.bicep)
}
PLATFORM_PREFIXES = ("AzureWebJobsStorage__",)
# An identity-based connection is set as NAME__<property>, never as NAME itself.
IDENTITY_CONNECTION = (
    "blobServiceUri",
    "queueServiceUri",
    "tableServiceUri",
    "credential",
    "clientId",
)


# -- reading Bicep as text -----------------------------------------------------------------------


def _skip_string(text: str, i: int) -> int:
    """Index just past the string literal starting at text[i]."""
    if text.startswith("'''", i):
        return text.index("'''", i + 3) + 3
    i += 1
    while text[i] != "'":
        i += 2 if text[i] == "\\" else 1
    return i + 1


def _closing_brace(text: str, open_at: int) -> int:
    """Index of the '}' that closes the '{' at ``open_at``, past strings and comments."""
    depth, i = 0, open_at
    while i < len(text):
        if text[i] == "'":
            i = _skip_string(text, i)
            continue
        if text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        if text.startswith("/*", i):
            i = text.index("*/", i) + 2
            continue
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise AssertionError(f"unbalanced braces from offset {open_at}")


def _resources(text: str, rtype: str) -> list[str]:
    """The bodies of every resource of type ``rtype`` (any API version)."""
    bodies = []
    header = re.compile(
        rf"^resource \w+ '{re.escape(rtype)}@[\w-]+'(?: existing)? = [^\n]*\{{", re.M
    )
    for m in header.finditer(text):
        if " existing " in m.group(0):
            continue
        start = m.end() - 1
        bodies.append(text[start : _closing_brace(text, start) + 1])
    return bodies


def _object_after(body: str, key: str) -> str:
    m = re.search(rf"^\s*{key}:\s*\{{", body, re.M)
    assert m, f"no '{key}: {{' in the block"
    start = m.end() - 1
    return body[start + 1 : _closing_brace(body, start)]


def _flat_entries(obj: str) -> dict[str, str]:
    """``key: value`` lines of a flat object (value as written in the Bicep)."""
    entries = {}
    for line in obj.splitlines():
        line = line.strip()
        if not line or line.startswith("//"):
            continue
        m = re.fullmatch(r"([A-Za-z_]\w*)\s*:\s*(.+)", line)
        assert m, f"not a flat 'key: value' line (keep the app settings flat): {line!r}"
        assert m.group(1) not in entries, f"{m.group(1)} is set twice"
        entries[m.group(1)] = m.group(2)
    return entries


def _literal(value: str) -> str | None:
    """The string a Bicep value spells out, or None when it is an expression."""
    m = re.fullmatch(r"'((?:[^'\\$]|\\.)*)'", value)
    return m.group(1) if m else None


def _bicep_files() -> list[Path]:
    files = sorted(INFRA.rglob("*.bicep"))
    assert MAIN in files and FUNCTION in files
    return files


def _infra_texts() -> dict[Path, str]:
    """Every file the deployment is made of."""
    paths = [p for p in INFRA.rglob("*") if p.is_file()]
    paths += [ROOT / "azure.yaml", *sorted((ROOT / "scripts").glob("*"))]
    return {p: p.read_text(encoding="utf-8") for p in paths if p.is_file()}


@pytest.fixture(scope="module")
def app_settings() -> dict[str, str]:
    text = FUNCTION.read_text(encoding="utf-8")
    blocks = [
        b for b in _resources(text, "Microsoft.Web/sites/config") if "name: 'appsettings'" in b
    ]
    assert len(blocks) == 1, "function.bicep should set the app settings in one config resource"
    return _flat_entries(_object_after(blocks[0], "properties"))


# -- settings: code and infra cannot drift ---------------------------------------------------------


@pytest.mark.parametrize("setting", DEPLOYED, ids=lambda s: s.name)
def test_every_deployed_setting_is_set_by_the_bicep(setting, app_settings):
    if setting.name in app_settings:
        return
    # or as an identity-based connection, the form Azure uses for HR_STORAGE
    missing = [
        f"{setting.name}__{part}"
        for part in IDENTITY_CONNECTION
        if f"{setting.name}__{part}" not in app_settings
    ]
    assert not missing, (
        f"{setting.name} is read by the code (hrupload/settings.py) but function.bicep does not "
        f"set it; missing: {', '.join(missing)}"
    )


def test_the_bicep_sets_only_settings_the_code_or_platform_reads(app_settings):
    connections = {s.name for s in DEPLOYED}
    declared = {s.name for s in SETTINGS}
    unknown = [
        name
        for name in app_settings
        if name not in declared
        and name not in PLATFORM_SETTINGS
        and not name.startswith(PLATFORM_PREFIXES)
        and not (name.partition("__")[0] in connections and name.partition("__")[2])
    ]
    assert not unknown, f"function.bicep sets settings nothing reads (typo?): {unknown}"


def test_telemetry_signs_in_as_the_identity_app_insights_trusts(app_settings):
    """Local auth is off on App Insights: the host reads the authentication string, the
    code's exporter AZURE_CLIENT_ID (hrupload/functions.py), both the app's identity, which
    holds Monitoring Metrics Publisher on the component."""
    monitoring = (INFRA / "app" / "monitoring.bicep").read_text(encoding="utf-8")
    assert re.search(r"^\s*DisableLocalAuth: true$", monitoring, re.M)
    assert app_settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        "'ClientId=${identityClientId};Authorization=AAD'"
    )
    assert app_settings["AZURE_CLIENT_ID"] == "identityClientId"
    publisher = [
        b
        for b in _resources(
            RBAC.read_text(encoding="utf-8"), "Microsoft.Authorization/roleAssignments"
        )
        if "roles.monitoringMetricsPublisher" in b
    ]
    assert len(publisher) == 1 and "scope: appInsights" in publisher[0]
    assert "principalId: principalId" in publisher[0]


@pytest.mark.parametrize("setting", LAPTOP_ONLY, ids=lambda s: s.name)
def test_laptop_only_settings_are_nowhere_in_the_deployment(setting):
    pattern = re.compile(rf"\b{re.escape(setting.name)}\b")
    found = [str(p.relative_to(ROOT)) for p, text in _infra_texts().items() if pattern.search(text)]
    assert not found, f"{setting.name} is laptop-only (deployed=False) but appears in {found}"


#: Deployed with another value than the code's default, on purpose: in Azure the web page is
#: always behind the app's built-in authentication; the default (key) is a laptop's.
DEPLOYED_OVERRIDES = {"HRUPLOAD_WEB_AUTH": "entra"}


def test_literal_values_are_the_code_defaults(app_settings):
    differ = {
        name: (value, DEFAULTS[name])
        for name, raw in app_settings.items()
        if name in DEFAULTS
        and (value := _literal(raw)) is not None
        and DEFAULTS[name] is not None
        and value not in (DEFAULTS[name], DEPLOYED_OVERRIDES.get(name))
    }
    assert not differ, f"app settings that differ from hrupload/settings.py (bicep, code): {differ}"
    for name, value in DEPLOYED_OVERRIDES.items():
        assert _literal(app_settings[name]) == value, name


# main.bicep parameters and variables that carry a setting's value to function.bicep.
MAIN_VALUES = {
    "HRUPLOAD_INCOMING_CONTAINER": "incomingContainerName",
    "HRUPLOAD_PROCESSED_CONTAINER": "processedContainerName",
    "HRUPLOAD_FAILED_CONTAINER": "failedContainerName",
    "HRUPLOAD_CONFIG_CONTAINER": "configContainerName",
    "HRUPLOAD_RUNS_TABLE": "runsTableName",
    "HRUPLOAD_SECRET_NAME": "secretName",
    "HRUPLOAD_CERTIFICATE_NAME": "certificateName",
    "HRUPLOAD_CLOUD": "cloud",
    "HRUPLOAD_PROFILE": "profile",
    "HRUPLOAD_CONNECTORS": "connectors",
    "HRUPLOAD_SCHEDULE": "schedule",
}


@pytest.mark.parametrize("setting,symbol", MAIN_VALUES.items())
def test_main_bicep_defaults_are_the_code_defaults(setting, symbol, app_settings):
    assert app_settings.get(setting) == symbol, f"function.bicep should set {setting} from {symbol}"
    text = MAIN.read_text(encoding="utf-8")
    m = re.search(rf"^(?:var {symbol}|param {symbol} \w+) = ('[^'\n]*')$", text, re.M)
    assert m, f"main.bicep has no literal default for {symbol}"
    assert _literal(m.group(1)) == DEFAULTS[setting], (
        f"main.bicep's {symbol} is {m.group(1)}, the code's default for {setting} is "
        f"{DEFAULTS[setting]!r}"
    )


def test_parameter_file_defaults_are_the_code_defaults():
    text = PARAMETERS.read_text(encoding="utf-8")
    checked = 0
    for name, default in re.findall(r"\$\{(\w+)=([^}]*)\}", text):
        if DEFAULTS.get(name) is not None:
            assert default == DEFAULTS[name], f"main.parameters.json defaults {name} to {default!r}"
            checked += 1
    assert checked, "expected main.parameters.json to default some settings, e.g. HRUPLOAD_CLOUD"


# -- secrets never in a template ------------------------------------------------------------------


def test_no_secret_is_created_or_defaulted_in_a_template():
    for path in _bicep_files():
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT)
        assert "Microsoft.KeyVault/vaults/secrets" not in text, f"{rel} creates a secret"
        for m in re.finditer(r"@secure\(\)\s*(?:@\w+\([^)]*\)\s*)*param (\w+) [^\n]*", text):
            assert "=" not in m.group(0), f"{rel}: secure parameter {m.group(1)} has a default"
        for line in text.splitlines():
            if line.startswith("output "):
                assert not re.search(r"\blist\w*\(", line), f"{rel} outputs a key: {line}"


def test_only_the_event_grid_subscription_reads_a_key():
    readers = {
        str(p.relative_to(ROOT))
        for p in _bicep_files()
        if re.search(r"\blist\w*\(", p.read_text(encoding="utf-8"))
    }
    assert readers == {"infra/app/eventgrid-subscription.bicep"}
    text = (INFRA / "app" / "eventgrid-subscription.bicep").read_text(encoding="utf-8")
    assert re.search(
        r"listKeys\('\$\{app\.id\}/host/default', '[\d-]+'\)\.systemKeys\.blobs_extension", text
    )


def test_the_parameter_file_holds_no_values_only_azd_references():
    params = json.loads(PARAMETERS.read_text(encoding="utf-8"))["parameters"]
    literal = {
        name: p["value"]
        for name, p in params.items()
        if not re.fullmatch(r"\$\{\w+(=[^}]*)?\}", str(p.get("value")))
    }
    assert not literal, f"main.parameters.json should only reference azd variables: {literal}"


# -- shape of the templates ------------------------------------------------------------------------


def _params(text: str) -> dict[str, bool]:
    """Parameter name -> whether it has a default."""
    return {
        m.group(1): bool(m.group(2)) for m in re.finditer(r"^param (\w+) \w+( = .*)?$", text, re.M)
    }


def test_parameter_file_matches_main_bicep():
    declared = _params(MAIN.read_text(encoding="utf-8"))
    given = set(json.loads(PARAMETERS.read_text(encoding="utf-8"))["parameters"])
    assert given <= set(declared), f"unknown parameters: {given - set(declared)}"
    required = {name for name, has_default in declared.items() if not has_default}
    assert required <= given, f"required parameters azd would not pass: {required - given}"


def test_every_module_exists_and_gets_its_required_parameters():
    for path in _bicep_files():
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"^module (\w+) '([^']+)'[^\n]*\{", text, re.M):
            target = path.parent / m.group(2)
            assert target.is_file(), f"{path.name}: module {m.group(1)} -> missing {m.group(2)}"
            body = text[m.end() - 1 : _closing_brace(text, m.end() - 1)]
            passed = set(re.findall(r"^\s*(\w+):", _object_after(body, "params"), re.M))
            declared = _params(target.read_text(encoding="utf-8"))
            required = {n for n, has_default in declared.items() if not has_default}
            assert passed <= set(declared), f"{m.group(1)}: unknown params {passed - set(declared)}"
            assert required <= passed, f"{m.group(1)}: missing params {required - passed}"


# -- azd conventions (as in the Azure-Samples Flex Consumption templates) --------------------------

ABBREVIATIONS = INFRA / "abbreviations.json"
AZD_VARIABLES = {
    "environmentName": "AZURE_ENV_NAME",
    "location": "AZURE_LOCATION",
    "resourceGroupName": "AZURE_RESOURCE_GROUP",
    "principalId": "AZURE_PRINCIPAL_ID",
    "principalType": "AZURE_PRINCIPAL_TYPE",
}


def test_main_bicep_is_at_subscription_scope_and_creates_the_resource_group():
    text = MAIN.read_text(encoding="utf-8")
    assert re.search(r"^targetScope = 'subscription'$", text, re.M)
    (rg,) = _resources(text, "Microsoft.Resources/resourceGroups")
    assert "name: names.resourceGroup" in rg
    assert re.search(
        r"resourceGroup: !empty\(resourceGroupName\) \? resourceGroupName : "
        r"'\$\{abbrs\.resourcesResourceGroups\}\$\{environmentName\}'",
        text,
    )
    assert "resourceGroup()" not in text, "no resource group exists before this deployment"
    modules = re.findall(r"^module (\w+) '[^']+' = \{\n((?:  .*\n)+?)\}", text, re.M)
    assert modules
    unscoped = [name for name, body in modules if "\n  scope: rg\n" not in "\n" + body]
    assert not unscoped, f"modules not deployed into the resource group: {unscoped}"


def test_resource_names_are_an_abbreviation_plus_the_resource_token():
    text = MAIN.read_text(encoding="utf-8")
    assert (
        "var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))"
        in text
    )
    abbrs = json.loads(ABBREVIATIONS.read_text(encoding="utf-8"))
    used = set(re.findall(r"abbrs\.(\w+)", text))
    assert used <= set(abbrs), f"not in infra/abbreviations.json: {used - set(abbrs)}"
    assert set(abbrs) <= used, f"unused in main.bicep: {set(abbrs) - used}"
    start = text.index("var names = {") + len("var names = {") - 1
    names = text[start + 1 : _closing_brace(text, start)]
    for key, value in _flat_entries(names).items():
        if key == "resourceGroup":
            continue
        assert "abbrs." in value and "resourceToken" in value, f"names.{key} = {value}"


def test_the_parameter_file_maps_every_parameter_and_the_azd_variables():
    declared = _params(MAIN.read_text(encoding="utf-8"))
    params = json.loads(PARAMETERS.read_text(encoding="utf-8"))["parameters"]
    assert set(params) == set(declared), (
        f"main.bicep parameters the file does not map: {set(declared) - set(params)}"
    )
    for name, variable in AZD_VARIABLES.items():
        assert re.fullmatch(rf"\$\{{{variable}(=[^}}]*)?\}}", params[name]["value"]), name
    assert params["principalType"]["value"] == "${AZURE_PRINCIPAL_TYPE=User}"
    assert params["resourceGroupName"]["value"] == "${AZURE_RESOURCE_GROUP=}"


AZURE_YAML = ROOT / "azure.yaml"


def test_azure_yaml_has_a_hook_for_posix_and_windows_shells():
    text = AZURE_YAML.read_text(encoding="utf-8")
    hooks = text[text.index("\nhooks:\n") :]
    for shell, script in (("posix", "sh"), ("windows", "pwsh")):
        m = re.search(rf"^    {shell}:\n((?:      .*\n)+)", hooks, re.M)
        assert m, f"no {shell} postdeploy hook in azure.yaml"
        assert f"      shell: {script}\n" in m.group(1)
    assert "run: ./scripts/postdeploy.sh" in hooks and "run: ./scripts/postdeploy.ps1" in hooks
    assert POSTDEPLOY.is_file() and POSTDEPLOY_PS1.is_file()


def _hook_steps(text: str) -> list[str]:
    """The az calls a hook makes, in order, as their first words."""
    calls = re.findall(
        r"\baz (account show(?: --subscription)?|eventgrid system-topic list|functionapp keys list"
        r"|deployment group create)|'(account)', 'show'(, '--subscription')?"
        r"|'(eventgrid)', 'system-topic', 'list'|'(functionapp)', 'keys', 'list'"
        r"|'(deployment)', 'group', 'create'",
        text,
    )
    steps = []
    for sh, acc, accsub, eg, fa, dep in calls:
        steps.append(
            sh
            or (acc and "account show" + (" --subscription" if accsub else ""))
            or (eg and "eventgrid system-topic list")
            or (fa and "functionapp keys list")
            or (dep and "deployment group create")
        )
    return steps


def test_the_windows_hook_does_the_same_steps_as_the_posix_one():
    sh = POSTDEPLOY.read_text(encoding="utf-8")
    ps1 = POSTDEPLOY_PS1.read_text(encoding="utf-8")
    assert (
        _hook_steps(sh)
        == _hook_steps(ps1)
        == [
            "account show",
            "account show --subscription",
            "eventgrid system-topic list",
            "functionapp keys list",
            "deployment group create",
        ]
    )
    for text in (sh, ps1):
        # the same messages for the same failures, the same parameters to the same template
        for needle in (
            "is not signed in: run 'az login'",
            "is not one the Azure CLI's sign-in can use",
            "(AuthorizationFailed): it needs Contributor there",
            "has no Event Grid system topic",
            "no blobs_extension key after",
            "HRUPLOAD_EXISTING_SYSTEM_TOPIC_NAME",
            "infra/app/eventgrid-subscription.bicep",
            "hrupload-eventgrid-subscription",
            "systemKeys.blobs_extension != `null`",
            "code=***",
        ):
            assert needle in text, f"{needle!r} missing from one of the hooks"
        call = text[
            text.rindex(
                "'deployment', 'group', 'create'" if text is ps1 else "az deployment group create"
            ) :
        ]
        call = call[: call.index("--output")]
        params = set(re.findall(r"^\s+\"?(\w+)=\"?\$", call, re.M))
        assert params == {
            "systemTopicName",
            "functionAppName",
            "functionName",
            "storageAccountName",
            "incomingContainerName",
            "deadLetterContainerName",
        }, params


@pytest.mark.skipif(not shutil.which("pwsh"), reason="pwsh is not installed here")
def test_the_windows_hook_parses():
    proc = subprocess.run(
        [
            "pwsh",
            "-NoProfile",
            "-Command",
            f"$null = [System.Management.Automation.Language.Parser]::ParseFile('{POSTDEPLOY_PS1}',"
            " [ref]$null, [ref]$e); if ($e) { $e; exit 1 }",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_provision_time_toggle_for_the_event_grid_subscription():
    """The hook alone owns the subscription: nothing in provisioning may declare it."""
    for path, text in _infra_texts().items():
        assert "HRUPLOAD_EVENTGRID_SUBSCRIPTION" not in text, path
        assert "eventGridSubscription" not in text, path
    deploy_md = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "HRUPLOAD_EVENTGRID_SUBSCRIPTION" not in deploy_md
    assert "eventGridSubscription" not in deploy_md
    owners = [
        str(p.relative_to(ROOT))
        for p in _bicep_files()
        if re.search(
            r"^module \w+ '[^']*eventgrid-subscription\.bicep'", p.read_text(encoding="utf-8"), re.M
        )
        or _resources(
            p.read_text(encoding="utf-8"), "Microsoft.EventGrid/systemTopics/eventSubscriptions"
        )
    ]
    assert owners == ["infra/app/eventgrid-subscription.bicep"], owners


def test_deploy_md_needs_no_resource_group_first():
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "az group create" not in text
    assert "az deployment group create -g rg-hrupload-prod -f infra/main.bicep" not in text


# The app's identity, role by role: what tells a reviewer "least privilege" at a glance.
APP_ROLES = {
    ("hrStorage", "storageBlobDataOwner"),
    ("hrStorage", "storageQueueDataContributor"),
    ("hrStorage", "storageTableDataContributor"),
    ("hostStorage", "storageBlobDataOwner"),
    ("hostStorage", "storageQueueDataContributor"),
    ("hostStorage", "storageTableDataContributor"),
    ("vault", "keyVaultSecretsUser"),
    ("appInsights", "monitoringMetricsPublisher"),
}


def test_role_assignments_name_their_role_and_scope():
    text = RBAC.read_text(encoding="utf-8")
    assignments = _resources(text, "Microsoft.Authorization/roleAssignments")
    app_roles = set()
    for body in assignments:
        name = re.search(r"name: guid\((\w+)\.id, (\w+), roles\.(\w+)\)", body)
        scope = re.search(r"^\s*scope: (\w+)$", body, re.M)
        role = re.search(r"roleDefinitions', roles\.(\w+)\)", body)
        principal = re.search(r"^\s*principalId: (\w+)$", body, re.M)
        assert name and scope and role and principal, f"unexpected role assignment: {body}"
        assert name.groups() == (scope.group(1), principal.group(1), role.group(1)), (
            f"name it guid(scope.id, principalId, roleId) of what it assigns: {body}"
        )
        if principal.group(1) == "principalId":
            app_roles.add((scope.group(1), role.group(1)))
    assert app_roles == APP_ROLES


def _assignments_of(principal: str) -> dict[tuple[str, str], str]:
    """(scope, role) -> the assignment's body, for one principal parameter of rbac.bicep."""
    found = {}
    for body in _resources(
        RBAC.read_text(encoding="utf-8"), "Microsoft.Authorization/roleAssignments"
    ):
        if re.search(rf"^\s*principalId: {principal}$", body, re.M):
            scope = re.search(r"^\s*scope: (\w+)$", body, re.M).group(1)
            role = re.search(r"roleDefinitions', roles\.(\w+)\)", body).group(1)
            found[(scope, role)] = body
    return found


def test_the_event_grid_topic_has_its_own_identity_with_only_the_dead_letter_role():
    topic = (INFRA / "app" / "eventgrid.bicep").read_text(encoding="utf-8")
    (body,) = _resources(topic, "Microsoft.EventGrid/systemTopics")
    assert "type: 'SystemAssigned'" in _object_after(body, "identity")
    assert "output principalId string = topic.identity.principalId" in topic
    assert set(_assignments_of("topicPrincipalId")) == {
        ("hrDeadLetter", "storageBlobDataContributor")
    }
    rbac = RBAC.read_text(encoding="utf-8")
    assert "name: '${hrStorageName}/default/${deadLetterContainerName}'" in rbac
    main = MAIN.read_text(encoding="utf-8")
    assert "topicPrincipalId: eventGrid.outputs.principalId" in main
    sub = (INFRA / "app" / "eventgrid-subscription.bicep").read_text(encoding="utf-8")
    dead_letter = _object_after(sub, "deadLetterWithResourceIdentity")
    assert "type: 'SystemAssigned'" in _object_after(dead_letter, "identity")
    assert "UserAssigned" not in sub and "identityId" not in sub


# The deployer, one role per runbook step in docs/deploy.md: (scope, role) -> what the doc says.
OPERATOR_ROLES = {
    ("vault", "keyVaultSecretsOfficer"): "Key Vault Secrets Officer",
    ("vault", "keyVaultCertificatesOfficer"): "Key Vault Certificates Officer",
    ("hrIncoming", "storageBlobDataContributor"): "Storage Blob Data Contributor",
    ("hrConfig", "storageBlobDataContributor"): "Storage Blob Data Contributor",
    ("hrFailed", "storageBlobDataReader"): "Storage Blob Data Reader",
    ("hrRunsTable", "storageTableDataReader"): "Storage Table Data Reader",
    ("hrPoisonQueue", "storageQueueDataContributor"): "Storage Queue Data Contributor",
}


def test_the_deployer_gets_one_narrow_role_per_runbook_step_as_its_principal_type():
    found = _assignments_of("operatorPrincipalId")
    assert set(found) == set(OPERATOR_ROLES)
    for (scope, role), body in found.items():
        assert "principalType: operatorPrincipalType" in body, f"{scope}/{role}"
    rbac = RBAC.read_text(encoding="utf-8")
    for scope, path in (
        ("hrFailed", "blobServices/containers@"),
        ("hrRunsTable", "tableServices/tables@"),
        ("hrPoisonQueue", "queueServices/queues@"),
    ):
        assert re.search(
            rf"^resource {scope} 'Microsoft\.Storage/storageAccounts/{path}", rbac, re.M
        )
    main = MAIN.read_text(encoding="utf-8")
    assert (
        "operatorPrincipalId: principalId\n" in main
        and "operatorPrincipalType: principalType\n" in main
    )
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    for name in OPERATOR_ROLES.values():
        assert f"| {name} |" in doc, f"docs/deploy.md's role table lacks {name}"
        assert doc.count(name) >= 2, f"no runbook step in docs/deploy.md names {name}"


def test_the_poison_queue_the_deployer_may_clear_is_created():
    storage = (INFRA / "app" / "storage.bicep").read_text(encoding="utf-8")
    (queue,) = _resources(storage, "Microsoft.Storage/storageAccounts/queueServices/queues")
    assert "name: poisonQueueName" in queue
    assert "param poisonQueueName string = 'webjobs-blobtrigger-poison'" in storage


def test_deploy_md_shows_status_and_doctor_with_the_variables_the_cli_reads():
    from hrupload.settings import load

    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Status and doctor from your machine") :]
    section = section[: section.index("\n## ", 5)]
    exported = dict(re.findall(r'^export (\w+)="\$(\w+)"$', section, re.M))
    assert exported == {
        "HR_STORAGE__blobServiceUri": "HR_STORAGE_BLOB_ENDPOINT",
        "HR_STORAGE__tableServiceUri": "HR_STORAGE_TABLE_ENDPOINT",
    }
    outputs = set(re.findall(r"^output (\w+) ", MAIN.read_text(encoding="utf-8"), re.M))
    assert set(exported.values()) <= outputs
    assert "hrupload status" in section and "hrupload doctor" in section
    # what the CLI makes of exactly those variables: identity-based storage, no client ID
    env = {
        name: f"https://sthr.{kind}.core.windows.net/"
        for name, kind in (
            ("HR_STORAGE__blobServiceUri", "blob"),
            ("HR_STORAGE__tableServiceUri", "table"),
        )
    }
    storage = load(env).require_storage()
    assert storage.table_url == env["HR_STORAGE__tableServiceUri"]
    assert storage.client_id is None


# -- the Event Grid subscription and the function it feeds ---------------------------------------


@pytest.fixture(scope="module")
def function_app() -> str:
    path = ROOT / "function_app.py"
    if not path.is_file():
        pytest.skip("function_app.py is not written yet")
    return path.read_text(encoding="utf-8")


def test_event_grid_delivers_to_the_blob_function_that_exists(function_app):
    name = re.search(r"^var blobFunctionName = '(\w+)'$", MAIN.read_text(encoding="utf-8"), re.M)
    assert name, "main.bicep should name the blob-triggered function in blobFunctionName"
    assert f'@app.function_name("{name.group(1)}")' in function_app
    connection = re.search(r"blob_trigger\([^)]*connection=\"(\w+)\"", function_app, re.S)
    assert connection and connection.group(1) == "HR_STORAGE"


def test_binding_expressions_in_function_app_are_set(function_app, app_settings):
    names = set(re.findall(r"%(\w+)%", function_app))
    names |= set(re.findall(r"os\.environ\.get\(\"(\w+)\"", function_app))
    assert names, "expected function_app.py to read settings (e.g. %HRUPLOAD_SCHEDULE%)"
    assert names <= set(app_settings), (
        f"read by function_app.py, unset: {names - set(app_settings)}"
    )


def test_every_checkov_skip_gives_its_reason():
    for path in _bicep_files():
        for m in re.finditer(r"checkov:skip=([^:\s]+)(?::(.*))?", path.read_text(encoding="utf-8")):
            assert re.fullmatch(r"CKV2?_AZURE_\d+", m.group(1)), m.group(0)
            assert len((m.group(2) or "").strip()) >= 30, f"{path.name}: justify {m.group(1)}"


# -- the postdeploy hook, against a stand-in az ------------------------------------------------

HOOK_ENV = {
    "AZURE_RESOURCE_GROUP": "rg-hr",
    "AZURE_FUNCTION_APP_NAME": "func-hr",
    "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001",
    "HR_STORAGE_ACCOUNT_NAME": "sthr",
    "HR_INCOMING_CONTAINER": "hr-incoming",
    "HR_DEAD_LETTER_CONTAINER": "hr-eventgrid-deadletter",
    "HR_EVENTGRID_SYSTEM_TOPIC_NAME": "evgt-hr",
    "HR_BLOB_FUNCTION_NAME": "process_incoming_blob",
    "HRUPLOAD_KEY_WAIT_SECONDS": "0",
}

# A stand-in for az (and azd) that logs each call and answers as the FAKE_* variables say:
# signed out, the subscription unknown, a call denied (FAKE_DENY, a pattern of the call), the
# HR account's system topic (FAKE_TOPIC), the key appearing after FAKE_KEY_AFTER looks.
FAKE_AZ = """#!/bin/sh
echo "$*" >> "$FAKE_LOG"
denied() {
    echo "ERROR: (AuthorizationFailed) The client 'x' does not have authorization" >&2
    exit 1
}
case "$*" in
  *"$FAKE_DENY"*) [ -n "$FAKE_DENY" ] && denied ;;
esac
case "$*" in
  "account show --subscription"*)
    if [ -n "$FAKE_NO_SUBSCRIPTION" ]; then
        echo "ERROR: Subscription '00000000' not found." >&2
        exit 1
    fi
    echo 00000000-0000-0000-0000-000000000001 ;;
  "account show"*)
    if [ -n "$FAKE_SIGNED_OUT" ]; then
        echo "ERROR: Please run 'az login' to setup account." >&2
        exit 1
    fi
    echo 00000000-0000-0000-0000-000000000001 ;;
  *"system-topic list"*) [ -n "$FAKE_TOPIC" ] && echo "$FAKE_TOPIC" ;;
  *"functionapp keys list"*)
    n=$(cat "$FAKE_STATE" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$FAKE_STATE"
    if [ "$n" -le "${FAKE_KEY_ERRORS:-0}" ]; then
        echo "ERROR: ${FAKE_KEY_ERROR_TEXT:-Operation returned an invalid status 'Bad Request'}" >&2
        exit 1
    fi
    if [ "$n" -gt "$FAKE_KEY_AFTER" ]; then echo true; else echo false; fi ;;
esac
exit 0
"""


def _run_hook(tmp_path: Path, *, key_after: int = 0, attempts: int = 5, **env: str):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("az", "azd"):
        fake = bin_dir / tool
        fake.write_text(FAKE_AZ.replace("FAKE_LOG", f"FAKE_LOG_{tool.upper()}"))
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    full_env = {
        "PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "FAKE_LOG_AZ": str(tmp_path / "az.log"),
        "FAKE_LOG_AZD": str(tmp_path / "azd.log"),
        "FAKE_STATE": str(tmp_path / "state"),
        "FAKE_KEY_AFTER": str(key_after),
        "FAKE_TOPIC": "evgt-hr",
        "FAKE_DENY": "",
        "FAKE_SIGNED_OUT": "",
        "FAKE_NO_SUBSCRIPTION": "",
        "HRUPLOAD_KEY_WAIT_ATTEMPTS": str(attempts),
        **HOOK_ENV,
        **env,
    }
    proc = subprocess.run(
        ["sh", str(POSTDEPLOY)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    logs = {
        tool: (tmp_path / f"{tool}.log").read_text() if (tmp_path / f"{tool}.log").exists() else ""
        for tool in ("az", "azd")
    }
    return proc, logs


def test_postdeploy_checks_first_then_waits_for_the_key_then_deploys_the_subscription(tmp_path):
    proc, logs = _run_hook(tmp_path, key_after=2, AZURE_ENV_NAME="prod")
    assert proc.returncode == 0, proc.stderr
    calls = logs["az"].splitlines()
    assert calls[0].startswith("account show --query id")
    assert calls[1].startswith("account show --subscription 00000000-")
    assert calls[2].startswith("eventgrid system-topic list --subscription 00000000-")
    assert "--resource-group rg-hr" in calls[2] and "'/sthr'" in calls[2]
    assert [c for c in calls[3:] if "keys list" in c] == calls[3:6], "three looks at the key"
    deploy = calls[-1]
    assert len(calls) == 7
    assert deploy.startswith("deployment group create --subscription 00000000-")
    assert "infra/app/eventgrid-subscription.bicep" in deploy
    for param in (
        "systemTopicName=evgt-hr",
        "functionAppName=func-hr",
        "functionName=process_incoming_blob",
        "storageAccountName=sthr",
        "incomingContainerName=hr-incoming",
        "deadLetterContainerName=hr-eventgrid-deadletter",
    ):
        assert param in deploy
    assert "identityId" not in deploy, "the topic dead-letters with its own identity"
    assert "code=" not in logs["az"], "the key must stay inside ARM"
    assert logs["azd"] == "", "the hook owns the subscription: no toggle for provisioning"


def test_postdeploy_run_again_deploys_the_same_subscription(tmp_path):
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    first, logs = _run_hook(tmp_path / "1")
    second, again = _run_hook(tmp_path / "2")
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert logs["az"].splitlines()[-1] == again["az"].splitlines()[-1]
    assert "--name hrupload-eventgrid-subscription" in again["az"].splitlines()[-1]


def test_postdeploy_says_at_once_when_az_is_not_signed_in(tmp_path):
    proc, logs = _run_hook(tmp_path, FAKE_SIGNED_OUT="1")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "postdeploy: the Azure CLI is not signed in: run 'az login' (a pipeline: 'az login "
        "--service-principal ...'), then run 'azd hooks run postdeploy'."
    ]
    assert len(logs["az"].splitlines()) == 1, "nothing else is tried"


def test_postdeploy_says_at_once_when_the_subscription_is_not_available(tmp_path):
    proc, logs = _run_hook(tmp_path, FAKE_NO_SUBSCRIPTION="1")
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert (
        "subscription 00000000-0000-0000-0000-000000000001" in line and "az login --tenant" in line
    )
    assert "keys list" not in logs["az"]


def test_postdeploy_without_a_subscription_id_uses_the_current_one_and_says_so(tmp_path):
    proc, logs = _run_hook(tmp_path, AZURE_SUBSCRIPTION_ID="")
    assert proc.returncode == 0, proc.stderr
    assert "using the Azure CLI's current subscription" in proc.stdout
    assert "--subscription" not in logs["az"]


@pytest.mark.parametrize(
    "denied,action",
    [
        ("system-topic list", "read Event Grid topics"),
        ("functionapp keys list", "read the function app's keys"),
        ("deployment group create", "deploy the Event Grid subscription"),
    ],
)
def test_postdeploy_names_a_missing_permission_at_once(tmp_path, denied, action):
    proc, logs = _run_hook(tmp_path, key_after=0, FAKE_DENY=denied)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"postdeploy: the signed-in account may not {action} ")
    assert "AuthorizationFailed" in last and "Contributor" in last
    assert "blobs_extension key" not in proc.stderr, "not blamed on the key"
    assert logs["az"].count("keys list") <= 1, "no waiting when denied"


def test_postdeploy_says_to_provision_when_the_topic_is_missing(tmp_path):
    proc, logs = _run_hook(tmp_path, FAKE_TOPIC="")
    assert proc.returncode == 1
    assert "has no Event Grid system topic" in proc.stderr and "azd provision" in proc.stderr
    assert "keys list" not in logs["az"]


def test_postdeploy_subscribes_on_a_system_topic_defender_made_and_records_it(tmp_path):
    proc, logs = _run_hook(tmp_path, FAKE_TOPIC="sthr-defender-topic", AZURE_ENV_NAME="prod")
    assert proc.returncode == 0, proc.stderr
    assert "systemTopicName=sthr-defender-topic" in logs["az"].splitlines()[-1]
    assert logs["azd"].strip() == (
        "env set --environment prod HRUPLOAD_EXISTING_SYSTEM_TOPIC_NAME sthr-defender-topic"
    )
    assert "HRUPLOAD_EXISTING_SYSTEM_TOPIC_NAME" in PARAMETERS.read_text(encoding="utf-8")


def test_postdeploy_waits_out_a_host_that_is_still_starting(tmp_path):
    proc, logs = _run_hook(tmp_path, key_after=3, FAKE_KEY_ERRORS="2")
    assert proc.returncode == 0, proc.stderr
    assert logs["az"].count("functionapp keys list") == 4
    assert logs["az"].splitlines()[-1].startswith("deployment group create")


def test_postdeploy_says_to_provision_when_the_function_app_is_gone(tmp_path):
    # keys list answers as ARM does for an app that is not there
    proc, logs = _run_hook(
        tmp_path,
        FAKE_KEY_ERRORS="99",
        FAKE_KEY_ERROR_TEXT="(ResourceNotFound) The Resource 'Microsoft.Web/sites/func-hr' ...",
    )
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(
        "postdeploy: Function app func-hr does not exist in resource group rg-hr"
    )
    assert "azd provision" in line
    assert logs["az"].count("functionapp keys list") == 1


def test_postdeploy_gives_up_when_the_key_never_comes(tmp_path):
    proc, logs = _run_hook(tmp_path, key_after=99, attempts=3)
    assert proc.returncode == 1
    assert "no blobs_extension key after 3 tries" in proc.stderr
    assert "deployment group create" not in logs["az"]
    assert logs["azd"] == ""


def test_postdeploy_names_what_azd_did_not_pass(tmp_path):
    proc, logs = _run_hook(tmp_path, key_after=0, AZURE_FUNCTION_APP_NAME="")
    assert proc.returncode == 2
    assert "AZURE_FUNCTION_APP_NAME" in proc.stderr
    assert logs["az"] == ""


def test_postdeploy_reads_outputs_main_bicep_declares():
    outputs = set(re.findall(r"^output (\w+) ", MAIN.read_text(encoding="utf-8"), re.M))
    from_azd = {"AZURE_SUBSCRIPTION_ID", "AZURE_ENV_NAME"}  # azd's own, not outputs
    for hook in (POSTDEPLOY, POSTDEPLOY_PS1):
        used = set(re.findall(r"\b((?:AZURE|HR)_[A-Z_]+)\b", hook.read_text(encoding="utf-8")))
        assert used - from_azd <= outputs, f"{hook.name} reads undeclared outputs: {used - outputs}"
