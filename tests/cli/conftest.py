"""Fixtures of the CLI tests: the settings a command reads, for fresh storage."""

from __future__ import annotations

import os
import secrets

import pytest

from hrupload_dev.azurite import Azurite
from hrupload_dev.connector import ConnectorStandIn


@pytest.fixture
def fresh_env(
    azurite: Azurite, connector_standin: ConnectorStandIn, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The environment of a command against Azurite and the connector stand-in, with
    containers and a run table of its own that no run has created yet. The test process's
    own HRUPLOAD_* and HR_STORAGE* variables are removed, so only these count."""
    for name in list(os.environ):
        if name.startswith(("HRUPLOAD_", "HR_STORAGE")):
            monkeypatch.delenv(name)
    suffix = secrets.token_hex(3)
    return connector_standin.env(include_secret=True) | {
        "HR_STORAGE": azurite.connection_string,
        "HRUPLOAD_INCOMING_CONTAINER": f"in-{suffix}",
        "HRUPLOAD_PROCESSED_CONTAINER": f"done-{suffix}",
        "HRUPLOAD_FAILED_CONTAINER": f"failed-{suffix}",
        "HRUPLOAD_RUNS_TABLE": f"runs{suffix}",
    }
