"""Infra for the profile and the connectors (issue 14 point 8, issue 15 point 9), read as text
like tests/test_infra.py: the values survive `azd provision`, the config container exists, the
operator may write it, and the app may read every secret the connectors name.
"""

from __future__ import annotations

import json
import re

from hrupload.settings import SETTINGS
from tests.test_infra import (
    FUNCTION,
    INFRA,
    MAIN,
    PARAMETERS,
    RBAC,
    ROOT,
    _assignments_of,
    _closing_brace,
    _object_after,
    _resources,
)

STORAGE = INFRA / "app" / "storage.bicep"
DEPLOY_MD = ROOT / "docs" / "deploy.md"
DEFAULTS = {s.name: s.default for s in SETTINGS}


def _text(path) -> str:
    return path.read_text(encoding="utf-8")


def _module_params(name: str) -> str:
    main = _text(MAIN)
    m = re.search(rf"^module {name} '[^']+' = [^\n]*\{{", main, re.M)
    assert m, f"main.bicep has no module {name}"
    return _object_after(main[m.end() - 1 : _closing_brace(main, m.end() - 1) + 1], "params")


def test_the_profile_and_the_connectors_come_from_the_azd_environment():
    """`azd env set HRUPLOAD_PROFILE ...` is what every later `azd provision` writes again:
    the parameters file maps both variables, main.bicep passes both to the app."""
    given = json.loads(_text(PARAMETERS))["parameters"]
    assert given["profile"]["value"] == "${HRUPLOAD_PROFILE=}"
    assert given["connectors"]["value"] == "${HRUPLOAD_CONNECTORS=}"
    main = _text(MAIN)
    assert re.search(r"^param profile string = ''$", main, re.M)
    assert re.search(r"^param connectors string = ''$", main, re.M)
    params = _module_params("functionApp")
    assert re.search(r"^\s*profile: profile$", params, re.M)
    assert re.search(r"^\s*connectors: connectors$", params, re.M)
    function = _text(FUNCTION)
    assert re.search(r"^\s*HRUPLOAD_PROFILE: profile$", function, re.M)
    assert re.search(r"^\s*HRUPLOAD_CONNECTORS: connectors$", function, re.M)


def test_the_config_container_is_created_and_named_in_the_app_settings():
    main = _text(MAIN)
    m = re.search(r"^var configContainerName = '([^']+)'$", main, re.M)
    assert m and m.group(1) == DEFAULTS["HRUPLOAD_CONFIG_CONTAINER"]
    for module in ("storage", "functionApp", "rbac"):
        assert re.search(
            r"^\s*configContainerName: configContainerName$", _module_params(module), re.M
        ), f"main.bicep does not pass configContainerName to {module}"
    loop = re.search(
        r"^resource containers 'Microsoft\.Storage/storageAccounts/blobServices/containers@[^']+'"
        r" = \[\n  for container in \[\n(.*?)\n  \]: \{(.*?)\n\]",
        _text(STORAGE),
        re.M | re.S,
    )
    assert loop, "storage.bicep creates its containers in one loop"
    assert "configContainerName" in loop.group(1).split()
    assert "publicAccess: 'None'" in loop.group(2)
    assert re.search(r"^\s*HRUPLOAD_CONFIG_CONTAINER: configContainerName$", _text(FUNCTION), re.M)


def test_no_lifecycle_rule_deletes_the_configuration():
    (policy,) = _resources(_text(STORAGE), "Microsoft.Storage/storageAccounts/managementPolicies")
    assert "configContainerName" not in policy


def test_the_operator_may_write_the_config_container_and_only_it():
    """Uploading profile.json is the operator's one step: Blob Data Contributor scoped to the
    container, as the other operator roles are scoped to theirs."""
    found = _assignments_of("operatorPrincipalId")
    assert ("hrConfig", "storageBlobDataContributor") in found
    assert not any(scope == "hrStorage" for scope, _ in found), "no account-wide operator role"
    rbac = _text(RBAC)
    assert re.search(
        r"^resource hrConfig 'Microsoft\.Storage/storageAccounts/blobServices/containers@[^']+'"
        r" existing = \{\n  name: '\$\{hrStorageName\}/default/\$\{configContainerName\}'",
        rbac,
        re.M,
    )


def test_the_app_reads_the_config_blobs_with_its_storage_role():
    """The app's Blob Data Owner on the HR account covers the config container too."""
    found = _assignments_of("principalId")
    assert ("hrStorage", "storageBlobDataOwner") in found


def test_the_app_reads_every_secret_the_connectors_name():
    """Key Vault Secrets User on the whole vault (not per secret): a connector's or a
    source's secret_name needs no grant of its own, and the runbook says so."""
    found = _assignments_of("principalId")
    assert ("vault", "keyVaultSecretsUser") in found
    vault_scoped = [scope for scope, role in found if role.startswith("keyVault")]
    assert vault_scoped == ["vault"], "a per-secret scope would need each connector's secret"
    assert not _resources(_text(RBAC), "Microsoft.KeyVault/vaults/secrets")
    doc = _text(DEPLOY_MD)
    assert "every secret in the vault" in doc
