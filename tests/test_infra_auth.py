"""The web page's built-in authentication (infra/app/auth.bicep, Easy Auth), read from the Bicep
as text: every request needs a signed-in member of one group, nothing but the blob extension's
webhook is let through without, no client secret exists, and main.bicep and its parameter file
wire it. Nothing here deploys: what Azure does with the settings is in docs/deploy.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.test_infra import _closing_brace, _flat_entries, _object_after, _resources

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
AUTH = INFRA / "app" / "auth.bicep"
FUNCTION = INFRA / "app" / "function.bicep"
SUBSCRIPTION = INFRA / "app" / "eventgrid-subscription.bicep"
PARAMETERS = INFRA / "main.parameters.json"
DEPLOY_MD = ROOT / "docs" / "deploy.md"

BLOB_WEBHOOK = "/runtime/webhooks/blobs"
FIC_SETTING = "OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID"


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def auth() -> str:
    return _text(AUTH)


@pytest.fixture(scope="module")
def settings(auth) -> str:
    """The body of the one authsettingsV2 resource."""
    blocks = [
        b for b in _resources(auth, "Microsoft.Web/sites/config") if "name: 'authsettingsV2'" in b
    ]
    assert len(blocks) == 1, "auth.bicep should configure authsettingsV2 in one resource"
    return blocks[0]


def _entry(block: str, key: str) -> str:
    """The value written after ``key:`` (the first one in ``block``)."""
    m = re.search(rf"^\s*{key}:\s*(.+)$", block, re.M)
    assert m, f"no '{key}:' in the block"
    return m.group(1).strip()


def _var_object(text: str, name: str) -> str:
    m = re.search(rf"^var {name} = \{{", text, re.M)
    assert m, f"no var {name} = {{"
    start = m.end() - 1
    return text[start : _closing_brace(text, start) + 1]


def _strings(text: str, value: str) -> list[str]:
    """The string literals of an array written inline or as a var holding one."""
    if not value.startswith("["):
        m = re.search(rf"^var {value} = \[\n(.*?)^\]", text, re.M | re.S)
        assert m, f"{value} is not an array var"
        value = m.group(1)
    items = [ln.split("//")[0].strip() for ln in value.strip("[]").splitlines()]
    items = [item for item in items if item]
    assert all(re.fullmatch(r"'[^'$]*'", item) for item in items), items
    return [item.strip("'") for item in items]


def _module(text: str, name: str) -> str:
    m = re.search(rf"^module {name} '([^']+)' = \{{", text, re.M)
    assert m, f"no module {name} in main.bicep"
    start = m.end() - 1
    return m.group(1) + "\n" + text[start : _closing_brace(text, start) + 1]


def _params(body: str) -> dict[str, str]:
    return _flat_entries(_object_after(body, "params"))


# -- every request needs a sign-in ----------------------------------------------------------------


def test_authentication_is_on_and_required_for_every_request(settings):
    assert _entry(_object_after(settings, "platform"), "enabled") == "true"
    validation = _object_after(settings, "globalValidation")
    assert _entry(validation, "requireAuthentication") == "true"
    action = _entry(validation, "unauthenticatedClientAction")
    assert "AllowAnonymous" not in action
    # Anonymous browsers go to the sign-in page; with no sign-in configured, a plain 401.
    assert action == "signInEnabled ? 'RedirectToLoginPage' : 'Return401'"


def test_https_is_required_by_the_sign_in_and_the_site(settings):
    assert _entry(_object_after(settings, "httpSettings"), "requireHttps") == "true"
    (site,) = _resources(_text(FUNCTION), "Microsoft.Web/sites")
    assert re.search(r"^\s*httpsOnly: true$", site, re.M)


def test_without_a_client_id_or_a_group_there_is_no_sign_in_at_all(auth, settings):
    """Authentication stays required (above) and the provider is off: nobody can sign in,
    so every page request is refused, and a client ID alone cannot open the page to the
    whole tenant."""
    assert re.search(
        r"^var signInEnabled = !empty\(clientId\) && !empty\(allowedGroupId\)$", auth, re.M
    )
    providers = _object_after(settings, "identityProviders")
    assert _flat_entries(providers) == {
        "azureActiveDirectory": "signInEnabled ? entraProvider : { enabled: false }"
    }
    for name in ("clientId", "allowedGroupId"):
        m = re.search(rf"^param {name} string = ''$", auth, re.M)
        assert m, f"auth.bicep: {name} should default to empty"
        described = auth[: m.start()].rstrip().splitlines()[-1]
        assert "every page request refused" in described, f"{name}: say what empty means"


# -- only the blob webhook is let through ---------------------------------------------------------


def test_exactly_the_blob_extension_webhook_is_excluded(auth, settings):
    excluded = _strings(auth, _entry(_object_after(settings, "globalValidation"), "excludedPaths"))
    assert excluded == [BLOB_WEBHOOK]
    # ... the path Event Grid delivers to, and validates when the subscription is made.
    (url,) = re.findall(r"endpointUrl: '([^']+)'", _text(SUBSCRIPTION))
    assert url.startswith(f"https://${{app.properties.defaultHostName}}{BLOB_WEBHOOK}?")


def test_nothing_in_the_deployment_calls_the_app_on_a_path_the_sign_in_blocks(auth, settings):
    """The post-deploy hook and the templates reach the app through az and Azure Resource
    Manager; a URL on the app's own host is either the excluded webhook or the page itself."""
    excluded = _strings(auth, _entry(_object_after(settings, "globalValidation"), "excludedPaths"))
    files = [*INFRA.rglob("*.bicep"), *sorted((ROOT / "scripts").glob("postdeploy.*"))]
    seen = []
    for path in files:
        for m in re.finditer(r"https://\$\{[\w.]*defaultHostName\}(/[^?'\"\s]*)", _text(path)):
            seen.append(m.group(1))
            page = path == MAIN and m.group(1) == "/api/"
            assert page or m.group(1) in excluded, f"{path.name} calls the app at {m.group(1)}"
        for line in _text(path).splitlines():
            assert not re.search(r"\b(curl|wget|Invoke-WebRequest|Invoke-RestMethod)\b", line), (
                f"{path.name} calls something over HTTP directly: {line.strip()}"
            )
    assert set(seen) == {BLOB_WEBHOOK, "/api/"}


# -- members of one group, of this tenant, with no secret -----------------------------------------


def test_sign_in_is_limited_to_the_group_parameter(auth):
    provider = _var_object(auth, "entraProvider")
    policy = _object_after(provider, "defaultAuthorizationPolicy")
    principals = _object_after(policy, "allowedPrincipals")
    # the group only: no identities, nothing else that would widen it
    assert re.sub(r"\s+", " ", principals).strip() == "groups: [ allowedGroupId ]"
    claims = _object_after(provider, "jwtClaimChecks")
    assert re.sub(r"\s+", " ", claims).strip() == "allowedGroups: [ allowedGroupId ]"
    assert re.search(r"allowedApplications: \[\s*clientId\s*\]", policy)
    assert re.search(r"allowedAudiences: \[\s*clientId\s*\]", provider)


def test_the_issuer_is_this_tenants_v2_endpoint_in_this_cloud(auth):
    registration = _object_after(_var_object(auth, "entraProvider"), "registration")
    assert _entry(registration, "openIdIssuer") == (
        "'${environment().authentication.loginEndpoint}${tenantId}/v2.0'"
    )
    assert _entry(registration, "clientId") == "clientId"
    assert re.search(r"^param tenantId string = tenant\(\)\.tenantId$", auth, re.M)


def test_no_client_secret_the_identity_is_the_credential(auth):
    registration = _object_after(_var_object(auth, "entraProvider"), "registration")
    assert _entry(registration, "clientSecretSettingName") == f"'{FIC_SETTING}'"
    assert not re.search(r"clientSecretCertificate|clientSecret:", auth)
    assert "MICROSOFT_PROVIDER_AUTHENTICATION_SECRET" not in auth
    assert "@secure()" not in auth and not re.search(r"\blist\w*\(", auth)
    guid = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    assert not re.search(guid, auth), "no client, group or tenant ID is written in the template"
    # The setting the provider names holds the identity's client ID, not a secret.
    (appsettings,) = [
        b for b in _resources(_text(FUNCTION), "Microsoft.Web/sites/config") if "appsettings" in b
    ]
    entries = _flat_entries(_object_after(appsettings, "properties"))
    assert entries[FIC_SETTING] == "identityClientId"


# -- wired into main.bicep and azd ----------------------------------------------------------------


def test_main_bicep_deploys_the_sign_in_after_the_app_with_both_parameters():
    text = _text(MAIN)
    for name in ("webAuthClientId", "webAllowedGroupId"):
        m = re.search(rf"^param {name} string = ''$", text, re.M)
        assert m, f"main.bicep: no param {name} defaulting to empty"
        described = text[: m.start()].rstrip().splitlines()[-1]
        assert described.startswith("@description(") and "refused" in described, name
    body = _module(text, "webAuth")
    assert body.startswith("app/auth.bicep\n") and "\n  scope: rg\n" in body
    assert _params(body) == {
        # the app's output, so the sign-in is configured once the app exists
        "functionAppName": "functionApp.outputs.name",
        "clientId": "webAuthClientId",
        "allowedGroupId": "webAllowedGroupId",
    }
    # The app checks the same group itself (HRUPLOAD_WEB_GROUP, set in function.bicep).
    assert _params(_module(text, "functionApp"))["webAllowedGroupId"] == "webAllowedGroupId"
    assert re.search(r"^param webAllowedGroupId string = ''$", _text(FUNCTION), re.M)


def test_main_bicep_outputs_the_page_url_under_the_route_prefix():
    text = _text(MAIN)
    assert re.search(
        r"^output HRUPLOAD_WEB_URL string = 'https://\$\{functionApp\.outputs\.defaultHostName\}"
        r"/api/'$",
        text,
        re.M,
    )
    host = json.loads(_text(ROOT / "host.json"))
    assert host.get("extensions", {}).get("http", {}).get("routePrefix", "api") == "api"


def test_the_parameter_file_maps_both_from_azd_variables():
    params = json.loads(_text(PARAMETERS))["parameters"]
    assert params["webAuthClientId"] == {"value": "${HRUPLOAD_WEB_CLIENT_ID=}"}
    assert params["webAllowedGroupId"] == {"value": "${HRUPLOAD_WEB_GROUP_ID=}"}


# -- the runbook ----------------------------------------------------------------------------------


def _web_page_section() -> str:
    text = _text(DEPLOY_MD)
    m = re.search(r"^## The web page\n(.*?)(?=^## )", text, re.M | re.S)
    assert m, "docs/deploy.md has no '## The web page' section"
    return m.group(1)


def test_deploy_md_says_how_to_register_the_page_and_who_can_see_it():
    section = _web_page_section()
    for needed in (
        "az ad app create",
        "/.auth/login/aad/callback",
        "groupMembershipClaims=SecurityGroup",
        "az ad app federated-credential create",
        "api://AzureADTokenExchange",
        "az ad group create",
        "az ad group member add",
        "azd env set HRUPLOAD_WEB_CLIENT_ID",
        "azd env set HRUPLOAD_WEB_GROUP_ID",
        "HRUPLOAD_WEB_URL",
        "azd env get-values",
        "403",
        BLOB_WEBHOOK,
    ):
        assert needed in section, f"docs/deploy.md, The web page: mention {needed!r}"
