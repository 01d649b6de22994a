"""What the reliability tests share: services on Azurite and the stand-ins, dropping files,
and running ``hrupload`` in a child process that a test can kill."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hrupload import compose
from hrupload.app import pipeline
from hrupload.core.profile import DEFAULT_PROFILE
from hrupload.settings import load

HRUPLOAD = [sys.executable, "-c", "from hrupload.cli.main import main; main()"]


def settings_env(storage, standin, **overrides: str) -> dict[str, str]:
    """The settings that point hrupload at ``storage``'s containers and the stand-in."""
    return {
        "HR_STORAGE": "UseDevelopmentStorage=true",  # replaced for child processes
        "HRUPLOAD_TENANT_ID": standin.tenant_id,
        "HRUPLOAD_APP_ID": standin.app_id,
        "HRUPLOAD_JOB_ID": standin.job_id,
        "HRUPLOAD_APP_SECRET": standin.app_secret,
        "HRUPLOAD_LOGIN_URL": standin.url,
        "HRUPLOAD_INGESTION_URL": standin.url,
        "HRUPLOAD_INCOMING_CONTAINER": storage.incoming,
        "HRUPLOAD_PROCESSED_CONTAINER": storage.processed,
        "HRUPLOAD_FAILED_CONTAINER": storage.failed,
        "HRUPLOAD_RUNS_TABLE": storage.runs_table,
        "HRUPLOAD_RETRY_BUDGET": "2",
    } | overrides


def make_services(
    storage,
    standin,
    *,
    client_factory: Callable[[Any], Any] | None = None,
    **overrides: str,
) -> pipeline.Services:
    """Services as ``build_services`` wires them, on the test's own storage clients.

    ``client_factory(settings)`` replaces the connector client (e.g. a short timeout).
    """
    settings = load(settings_env(storage, standin, **overrides))

    def factory():
        if client_factory is not None:
            return client_factory(settings)
        return compose.make_client(settings)

    return pipeline.Services(settings, storage, factory, DEFAULT_PROFILE)


def drop(storage, files: Mapping[str, bytes]) -> dict[str, str]:
    """Put the files into incoming; returns each one's ETag (its version in the ledger)."""
    etags = {}
    for name, data in files.items():
        storage.put_blob(storage.incoming, name, data)
        etags[name] = storage.get_info(storage.incoming, name).etag
    return etags


def names(storage, container: str) -> list[str]:
    return sorted(b.name for b in storage.list_blobs(container))


def break_lease(storage, name: str) -> None:
    """What 60 s of waiting does to a killed process's lease, without the wait."""
    from azure.storage.blob import BlobLeaseClient

    client = storage.blob_service.get_blob_client(storage.incoming, name)
    BlobLeaseClient(client).break_lease(lease_break_period=0)


def connection_string(blob_url: str, table_url: str) -> str:
    from hrupload_dev.azurite import ACCOUNT, ACCOUNT_KEY

    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={blob_url};TableEndpoint={table_url};"
    )


class Child:
    """``hrupload <args>`` (or ``command``) in its own process, settings in its environment."""

    def __init__(
        self, args: list[str], env: Mapping[str, str], cwd: Path, *, command: list[str] = HRUPLOAD
    ) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("HRUPLOAD_", "HR_"))}
        self.proc = subprocess.Popen(
            [*command, *args],
            env=clean | dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.rusage: Any = None

    def kill(self) -> None:
        """SIGKILL: no finally blocks, no lease release, nothing flushed."""
        self.proc.kill()
        self.proc.wait(timeout=10)

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return self.proc.returncode, out, err

    def json(self, timeout: float = 60) -> dict:
        code, out, err = self.finish(timeout)
        assert out.strip(), f"no output (exit {code}): {err[-2000:]}"
        return json.loads(out)


def wait_until(condition: Callable[[], Any], timeout: float, what: str, child=None) -> Any:
    """Poll ``condition`` every 20 ms until it is truthy; fail with ``what`` if it never is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if child is not None and child.proc.poll() is not None:
            _, out, err = child.finish()
            raise AssertionError(f"child exited before {what}: {out[-1000:]} {err[-3000:]}")
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
