"""Azurite (the Azure Storage emulator) for the test session, on loopback only.

``azurite`` starts one in-memory Azurite per session. Each service listens on a port the
OS picks (``--blobPort 0`` etc.); the real ports are read from Azurite's own
"successfully listening at http://127.0.0.1:NNNNN" lines. ``stop()``/``start()`` simulate
an outage: the restart reuses the same ports, so clients built before it keep working,
but in-memory data does not survive (every container, blob and table is gone).

``hr_storage`` gives each test an ``HrStorage`` on its own containers and table
(``hr-incoming-<id>`` ...), created before and deleted after the test.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from hrupload.adapters.storage import HrStorage
from hrupload_dev.azurite import AZURITE, Azurite

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient


def blob_service(server: Azurite) -> BlobServiceClient:
    """A blob client that gives up fast: tests of outages should not wait minutes."""
    from azure.storage.blob import BlobServiceClient, LinearRetry

    return BlobServiceClient.from_connection_string(
        server.connection_string,
        retry_policy=LinearRetry(backoff=0.2, random_jitter_range=0.1, retry_total=1),
        connection_timeout=5,
        read_timeout=30,
    )


def table_service(server: Azurite) -> TableServiceClient:
    from azure.data.tables import TableServiceClient

    return TableServiceClient.from_connection_string(
        server.connection_string,
        retry_total=1,
        retry_backoff_factor=0.1,
        connection_timeout=5,
        read_timeout=30,
    )


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    if not AZURITE.exists():
        pytest.fail(f"Azurite is not installed at {AZURITE}; run `make install`")
    server = Azurite(tmp_path_factory.mktemp("azurite"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hr_storage(azurite: Azurite) -> Iterator[HrStorage]:
    """An HrStorage on containers and a table of its own, removed after the test."""
    azurite.start()  # in case an earlier test stopped it and failed before restarting
    suffix = secrets.token_hex(3)
    storage = HrStorage(
        blob_service(azurite),
        table_service(azurite),
        incoming=f"hr-incoming-{suffix}",
        processed=f"hr-processed-{suffix}",
        failed=f"hr-failed-{suffix}",
        runs_table=f"hruploadruns{suffix}",
    )
    storage.ensure_containers()
    yield storage
    if not azurite.running:
        return  # nothing to clean: a stopped Azurite took its data with it
    from azure.core.exceptions import AzureError

    # Gone already (e.g. a restart in the test) is what cleaning up wants anyway.
    for container in (storage.incoming, storage.processed, storage.failed):
        with contextlib.suppress(AzureError):
            storage.blob_service.delete_container(container)
    with contextlib.suppress(AzureError):
        storage.table_service.delete_table(storage.runs_table)


def storage_env(server: Azurite, storage: HrStorage) -> dict[str, str]:
    """The settings that point hrupload at ``storage`` (an ``hr_storage``) in ``server``."""
    return {
        "HR_STORAGE": server.connection_string,
        "HRUPLOAD_INCOMING_CONTAINER": storage.incoming,
        "HRUPLOAD_PROCESSED_CONTAINER": storage.processed,
        "HRUPLOAD_FAILED_CONTAINER": storage.failed,
        "HRUPLOAD_RUNS_TABLE": storage.runs_table,
    }
