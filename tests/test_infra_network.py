"""Private networking (vnetEnabled), read from the Bicep as text, and the script that lets
checkov check both variants (scripts/infra_check.py). Nothing here compiles or deploys the
templates: the text is what can be checked offline."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from tests.test_infra import _closing_brace, _object_after, _resources

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
APP = INFRA / "app"
PARAMETERS = INFRA / "main.parameters.json"

# The modules that take vnetEnabled, and the resources in them whose public access it turns off.
LOCKED_DOWN = {
    "storage": ("storage.bicep", "account"),
    "keyVault": ("keyvault.bicep", "vault"),
    "functionApp": ("function.bicep", "hostStorage"),
}


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _module(text: str, name: str) -> tuple[str, str]:
    """(the header after '=', the body) of module ``name``."""
    m = re.search(rf"^module {name} '[^']+' = ([^\n]*)\{{", text, re.M)
    assert m, f"no module {name}"
    start = m.end() - 1
    return m.group(1).strip(), text[start : _closing_brace(text, start) + 1]


def _resource(text: str, symbol: str) -> str:
    """Resource ``symbol`` from its header (with its loop, if any) to its closing brace."""
    m = re.search(rf"^resource {symbol} '[^']+' = (?:\[\n\s*for [^\n]*: )?\{{", text, re.M)
    assert m, f"no resource {symbol}"
    start = m.end() - 1
    return text[m.start() : _closing_brace(text, start) + 1]


def _array(text: str, var: str) -> str:
    m = re.search(rf"^var {var} = \[", text, re.M)
    assert m, f"no var {var}"
    return text[m.end() : text.index("\n]", m.end())]


def test_vnet_enabled_is_a_parameter_off_by_default_that_azd_maps():
    assert re.search(r"^param vnetEnabled bool = false$", _text(MAIN), re.M)
    params = json.loads(_text(PARAMETERS))["parameters"]
    assert params["vnetEnabled"]["value"] == "${VNET_ENABLED=false}"


def test_the_network_modules_exist_only_when_enabled_and_go_into_the_resource_group():
    text = _text(MAIN)
    for name, path in (
        ("vnet", "app/vnet.bicep"),
        ("privateEndpoints", "app/private-endpoints.bicep"),
    ):
        assert f"module {name} '{path}' = if (vnetEnabled) {{" in text
        _, body = _module(text, name)
        assert "\n  scope: rg\n" in body, name
    # A conditional module's outputs are null when it is not deployed: every use is guarded.
    uses = re.findall(r"[^\n]*\b(?:vnet|privateEndpoints)\.outputs\.[^\n]*", text)
    assert uses
    for use in uses:
        assert re.search(r"vnetEnabled \? (?:vnet|privateEndpoints)\.outputs\.\w+ : ''", use), use


def test_the_private_endpoints_cover_both_storage_accounts_and_the_vault():
    _, body = _module(_text(MAIN), "privateEndpoints")
    params = _object_after(body, "params")
    assert "hrStorageId: storage.outputs.id" in params
    assert "hostStorageId: functionApp.outputs.hostStorageId" in params
    assert "keyVaultId: keyVault.outputs.id" in params
    assert "subnetId: vnetEnabled ? vnet.outputs.privateEndpointSubnetId : ''" in params


@pytest.mark.parametrize("module", sorted(LOCKED_DOWN))
def test_each_module_is_passed_the_switch(module):
    header, body = _module(_text(MAIN), module)
    assert header == "", f"{module} is deployed either way"
    assert "vnetEnabled: vnetEnabled" in _object_after(body, "params")
    file, _ = LOCKED_DOWN[module]
    assert re.search(r"^param vnetEnabled bool = false$", _text(APP / file), re.M), file


@pytest.mark.parametrize("module", sorted(LOCKED_DOWN))
def test_public_access_is_off_only_when_enabled(module):
    file, symbol = LOCKED_DOWN[module]
    body = _resource(_text(APP / file), symbol)
    assert "publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'" in body
    acls = _object_after(body, "networkAcls")
    assert "defaultAction: vnetEnabled ? 'Deny' : 'Allow'" in acls
    # Event Grid dead-letters into HR storage and creates its subscription as a trusted service.
    assert "bypass: 'AzureServices'" in acls
    assert not re.search(r"(?:publicNetworkAccess|defaultAction): '", body), "unconditional"


def test_the_app_joins_the_subnet_only_when_enabled_and_keeps_its_public_endpoint():
    text = _text(APP / "function.bicep")
    (site,) = _resources(text, "Microsoft.Web/sites")
    assert "virtualNetworkSubnetId: vnetEnabled ? virtualNetworkSubnetId : null" in site
    # Event Grid delivers to the webhook over the internet: VNet integration is outbound only.
    assert "publicNetworkAccess: 'Enabled'" in site
    _, body = _module(_text(MAIN), "functionApp")
    params = _object_after(body, "params")
    assert "virtualNetworkSubnetId: vnetEnabled ? vnet.outputs.appSubnetId : ''" in params


def test_the_app_subnet_is_delegated_for_flex_consumption():
    text = _text(APP / "vnet.bicep")
    (vnet,) = _resources(text, "Microsoft.Network/virtualNetworks")
    assert vnet.count("serviceName: 'Microsoft.App/environments'") == 1
    assert re.search(
        r"output appSubnetId string = '\$\{vnet\.id\}/subnets/\$\{appSubnetName\}'", text
    )
    assert re.search(
        r"output privateEndpointSubnetId string = "
        r"'\$\{vnet\.id\}/subnets/\$\{privateEndpointSubnetName\}'",
        text,
    )
    # Both subnets behind the network security group.
    assert vnet.count("networkSecurityGroup: {\n            id: nsg.id") == 2


def test_every_private_endpoint_has_a_dns_zone_group_in_its_zone():
    text = _text(APP / "private-endpoints.bicep")
    services = re.findall(r"^\s*'(\w+)'$", _array(text, "services"), re.M)
    zone_block = text[text.index("var zoneNames = {") :]
    zone_block = zone_block[: _closing_brace(zone_block, zone_block.index("{")) + 1]
    zones = dict(re.findall(r"^\s*(\w+): '(privatelink.*)'$", zone_block, re.M))
    assert set(zones) == set(services) == {"blob", "queue", "table", "vault"}
    assert zones["vault"] == (
        "privatelink${replace(environment().suffixes.keyvaultDns, 'vault', 'vaultcore')}"
    )
    for service in ("blob", "queue", "table"):
        assert zones[service] == f"privatelink.{service}.${{environment().suffixes.storage}}"

    endpoints = re.findall(
        r"\{\s*name: '([\w-]+)'\s*targetId: (\w+)\s*service: '(\w+)'\s*\}",
        _array(text, "endpoints"),
    )
    assert {(target, service) for _, target, service in endpoints} == {
        (target, service)
        for target in ("hrStorageId", "hostStorageId")
        for service in ("blob", "queue", "table")
    } | {("keyVaultId", "vault")}
    assert len({name for name, _, _ in endpoints}) == len(endpoints)

    # One zone per service, each linked to the network; one zone group per endpoint.
    assert "for service in services: {" in _resource(text, "zones")
    links = _resource(text, "zoneLinks")
    assert "for (service, i) in services: {" in links
    assert "parent: zones[i]" in links and "id: vnetId" in links
    assert "registrationEnabled: false" in links
    pes = _resource(text, "privateEndpoints")
    assert "for endpoint in endpoints: {" in pes
    assert "privateLinkServiceId: endpoint.targetId" in pes
    assert re.search(r"groupIds: \[\s*endpoint\.service\s*\]", pes)
    groups = _resource(text, "zoneGroups")
    assert re.search(
        r"'Microsoft\.Network/privateEndpoints/privateDnsZoneGroups@[\w-]+' = \[\n"
        r"\s*for \(endpoint, i\) in endpoints: \{",
        groups,
    )
    assert "parent: privateEndpoints[i]" in groups
    assert "privateDnsZoneId: zones[indexOf(services, endpoint.service)].id" in groups


# -- scripts/infra_check.py ----------------------------------------------------------------------


def _infra_check():
    spec = importlib.util.spec_from_file_location(
        "infra_check", ROOT / "scripts" / "infra_check.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SAMPLE = """param vnetEnabled bool = false
resource a 'T@1' = {
  // checkov:skip=CKV_AZURE_59: vnetEnabled=false only: public access is needed without the VNet.
  // checkov:skip=CKV_AZURE_1: kept either way, for a reason of its own that is long enough.
  properties: {
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
    subnet: vnetEnabled ? virtualNetworkSubnetId : null
    other: vnetEnabled ? vnet.outputs.id : ''
  }
}
"""


def test_the_default_variant_resolves_to_the_false_branches_and_keeps_every_skip():
    out = _infra_check().variant(SAMPLE, enabled=False)
    assert "param vnetEnabled bool = false\n" in out
    assert "publicNetworkAccess: 'Enabled'" in out
    assert "subnet: null" in out and "other: ''" in out
    assert out.count("checkov:skip=") == 2


def test_the_private_variant_resolves_to_the_true_branches_and_drops_the_off_only_skips():
    out = _infra_check().variant(SAMPLE, enabled=True)
    assert "param vnetEnabled bool = true\n" in out
    assert "publicNetworkAccess: 'Disabled'" in out
    assert "subnet: virtualNetworkSubnetId" in out and "other: vnet.outputs.id" in out
    assert "CKV_AZURE_59" not in out
    assert "checkov:skip=CKV_AZURE_1:" in out


def test_a_switch_the_script_cannot_resolve_is_an_error_not_a_silent_pass():
    with pytest.raises(ValueError, match="cannot resolve"):
        _infra_check().variant("x: vnetEnabled ? concat('a', 'b') : 'c'\n", enabled=True)


def test_every_template_resolves_and_the_off_only_skips_are_the_network_checks():
    check = _infra_check()
    marked = []
    for path in sorted(INFRA.rglob("*.bicep")):
        text = _text(path)
        for enabled in (False, True):
            assert "vnetEnabled ?" not in check.variant(text, enabled), path.name
        marked += re.findall(rf"checkov:skip=(\w+): {check.OFF_ONLY}:", text)
    # Storage (HR and host): public access and default deny; Key Vault: the same two.
    assert sorted(marked) == sorted(
        ["CKV_AZURE_59", "CKV_AZURE_35"] * 2 + ["CKV_AZURE_109", "CKV_AZURE_189"]
    )
