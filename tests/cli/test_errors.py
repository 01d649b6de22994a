"""Every failure a user can cause or meet is one line and an exit code, never a traceback;
``-v`` adds the detail. Output off a terminal is plain, whole and one record a line.

Against real Azurite and the connector stand-in; the CLI runs as a user runs it, through
``main`` with the settings in the environment.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from hrupload.cli.main import main

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture
def env(fresh_env: dict[str, str]) -> dict[str, str]:
    return fresh_env | {"HRUPLOAD_RETRY_BUDGET": "2", "COLUMNS": "80"}


def run(*args: str, env: dict[str, str]):
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unreachable_storage(port: int) -> str:
    key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    url = f"http://127.0.0.1:{port}/devstoreaccount1"
    return (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};"
        f"BlobEndpoint={url};TableEndpoint={url};QueueEndpoint={url};"
    )


def test_status_on_fresh_storage_says_there_are_no_runs(env: dict[str, str]) -> None:
    result = run("status", env=env)
    assert result.exit_code == 0
    assert result.stdout.startswith("No runs since ")
    doc = run("status", "--json", env=env)
    assert doc.exit_code == 0
    import json

    parsed = json.loads(doc.stdout)
    assert (parsed["kind"], parsed["data"]["runs"]) == ("status", [])


def test_unreachable_storage_is_one_line_and_exit_1(env: dict[str, str]) -> None:
    result = run("status", env=env | {"HR_STORAGE": unreachable_storage(closed_port())})
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    text = result.output
    assert "storage did not answer" in text and "HR_STORAGE" in text, text


def test_minus_v_shows_the_detail(env: dict[str, str]) -> None:
    env = env | {"HR_STORAGE": unreachable_storage(closed_port())}
    quiet = run("status", env=env)
    assert quiet.exit_code == 1
    assert [line for line in quiet.stderr.splitlines() if line] == [quiet.stderr.strip()]
    assert "-v shows the details" in quiet.stderr
    loud = run("-v", "status", env=env)
    assert loud.exit_code == 1
    assert "Traceback" in loud.stderr and "ServiceRequestError" in loud.stderr


def test_a_bad_profile_is_a_configuration_error_with_exit_2(env: dict[str, str]) -> None:
    result = run("sweep", env=env | {"HRUPLOAD_PROFILE": '{"scenarios": 5'})
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "configuration error" in result.stderr and "profile" in result.stderr


def test_a_key_vault_that_does_not_answer_is_one_line(env: dict[str, str]) -> None:
    env = {k: v for k, v in env.items() if k != "HRUPLOAD_APP_SECRET"}
    env["HRUPLOAD_KEY_VAULT_URL"] = f"https://127.0.0.1:{closed_port()}"
    result = run("upload", str(SAMPLES / "resignation.csv"), "--report-dir", "/tmp", env=env)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "Key Vault did not answer" in result.output


def test_process_of_a_blob_that_does_not_exist_says_so_and_fails(env: dict[str, str]) -> None:
    incoming = env["HRUPLOAD_INCOMING_CONTAINER"]
    result = run("process", f"{incoming}/no-such-file.csv", env=env)
    assert result.exit_code == 1, result.output
    assert "does not exist" in result.stdout and "no-such-file.csv" in result.stdout
    doc = run("process", f"{incoming}/no-such-file.csv", "--json", env=env)
    assert doc.exit_code == 1


def test_status_off_a_terminal_is_one_whole_line_per_run(env: dict[str, str]) -> None:
    from azure.storage.blob import BlobServiceClient

    incoming = env["HRUPLOAD_INCOMING_CONTAINER"]
    long_name = "resignation/" + "a-very-long-export-name-" * 6 + "2026-12-04.csv"
    blobs = BlobServiceClient.from_connection_string(env["HR_STORAGE"])
    blobs.create_container(incoming)
    data = (SAMPLES / "resignation.csv").read_bytes()
    blobs.get_blob_client(incoming, long_name).upload_blob(data)
    blobs.get_blob_client(incoming, "resignation/short.csv").upload_blob(data + b"\nbad,row")
    swept = run("sweep", env=env)
    assert swept.exit_code in (0, 3), swept.output

    result = run("status", env=env)  # CliRunner's stdout is not a terminal, COLUMNS=80
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == [
        "finished", "status", "file", "rows", "valid", "rejected", "uploaded", "note",
    ]  # fmt: skip
    assert all(len(line.split("\t")) == 8 for line in lines), lines
    (mine,) = [line for line in lines if long_name.split("/", 1)[1] in line]
    assert len(mine) > 80  # whole: not wrapped, not cut
    assert mine.split("\t")[1] == "uploaded"
    assert "─" not in result.stdout and "│" not in result.stdout  # no table drawing


def test_no_azure_sign_in_is_named_as_such(env: dict[str, str], tmp_path: Path) -> None:
    """Identity-based storage with no sign-in anywhere: DefaultAzureCredential finds none,
    no request goes out, and the line says to sign in (not that storage did not answer)."""
    url = f"https://127.0.0.1:{closed_port()}/devstoreaccount1"
    env = {k: v for k, v in env.items() if k != "HR_STORAGE"} | {
        "HR_STORAGE__blobServiceUri": url,
        "HR_STORAGE__tableServiceUri": url,
        "HOME": str(tmp_path),  # no az or azd sign-in cached there
        "AZURE_CLIENT_ID": None,
        "AZURE_CLIENT_SECRET": None,
        "AZURE_TENANT_ID": None,
        "IDENTITY_ENDPOINT": None,
        "MSI_ENDPOINT": None,
    }
    result = run("status", env=env)
    assert result.exit_code == 1, result.output
    assert "no Azure sign-in" in result.stderr and "az login" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # the SDK's page-long warning hidden
