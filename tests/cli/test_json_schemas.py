"""Every ``--json`` output is one envelope (schema, version, kind, data) and matches the
JSON Schema of its kind in ``docs/schemas/``: checked against real outputs of real runs
(Azurite, the connector stand-in), one file and several, good and bad."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from hrupload.app.runs import RunKind, Status
from hrupload.cli.main import main
from hrupload.cli.output import JSON_SCHEMA, JSON_VERSION

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "docs" / "schemas"
SAMPLES = ROOT / "samples"
BASE = "https://hrupload.dev/schemas/"


def schema_docs() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(SCHEMAS.glob("*.schema.json"))}


def validator(kind: str) -> Draft202012Validator:
    docs = schema_docs()
    registry = Registry().with_resources(
        (BASE + name, Resource.from_contents(doc)) for name, doc in docs.items()
    )
    schema = docs[f"{kind}.schema.json"]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=registry)


def checked(kind: str, stdout: str) -> dict:
    doc = json.loads(stdout)
    errors = sorted(validator(kind).iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    assert (doc["schema"], doc["version"], doc["kind"]) == (JSON_SCHEMA, JSON_VERSION, kind)
    return doc["data"]


def test_each_schema_is_valid_and_names_its_kind() -> None:
    docs = schema_docs()
    kinds = {name.removesuffix(".schema.json") for name in docs} - {"common"}
    assert kinds >= {"validate", "upload", "process", "sweep", "status", "pull"}
    for kind in kinds:
        assert docs[f"{kind}.schema.json"]["properties"]["kind"] == {"const": kind}
        assert docs[f"{kind}.schema.json"]["$id"] == f"{BASE}{kind}.schema.json"


def test_a_wrong_shape_is_caught() -> None:
    envelope = {"schema": "hrupload", "version": 1, "kind": "validate"}
    assert list(validator("validate").iter_errors(envelope | {"data": {}}))
    assert list(validator("validate").iter_errors(envelope | {"data": {"files": [{}]}}))
    assert list(validator("status").iter_errors(envelope | {"data": {"runs": []}}))


def test_the_schemas_statuses_are_the_apps() -> None:
    """One decision in one place: the schema's lists are checked against the enums."""
    defs = schema_docs()["common.schema.json"]["$defs"]
    assert set(defs["status"]["enum"]) == {s.value for s in Status}
    runs = schema_docs()["status.schema.json"]["properties"]["data"]["properties"]["runs"]
    assert set(runs["items"]["properties"]["kind"]["enum"]) == {k.value for k in RunKind}


def run(*args: str, env: dict[str, str] | None = None):
    result = CliRunner().invoke(main, list(args), env={"COLUMNS": "200", **(env or {})})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_validate_one_file_and_several(tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"\xff\xfe\x00garbage")
    one = checked("validate", run("validate", str(SAMPLES / "resignation.csv"), "--json").stdout)
    assert len(one["files"]) == 1
    several = run(
        "validate", str(SAMPLES / "multi-scenario.csv"), str(broken), str(tmp_path / "missing.csv"),
        "--json",
    )  # fmt: skip
    data = checked("validate", several.stdout)
    assert [f["file_error"] is None for f in data["files"]] == [True, False, False]


@pytest.fixture
def env(fresh_env: dict[str, str]) -> dict[str, str]:
    return fresh_env | {"HRUPLOAD_DEDUPE_HOURS": "0"}


def test_upload_real_and_dry(env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "resignation.csv"
    source.write_bytes((SAMPLES / "resignation.csv").read_bytes() + b"\nnot-an-email,x,y\n")
    data = checked("upload", run("upload", str(source), "--json", env=env).stdout)
    assert [f["status"] for f in data["files"]] == ["partial"]
    dry = run(
        "upload", str(source), str(SAMPLES / "resignation.csv"), "--dry-run", "--json",
        "--report-dir", str(tmp_path / "reports"),
    )  # fmt: skip
    assert len(checked("upload", dry.stdout)["files"]) == 2


def test_process_sweep_and_status(env: dict[str, str]) -> None:
    from azure.storage.blob import BlobServiceClient

    incoming = env["HRUPLOAD_INCOMING_CONTAINER"]
    blobs = BlobServiceClient.from_connection_string(env["HR_STORAGE"])
    blobs.create_container(incoming)
    data = (SAMPLES / "resignation.csv").read_bytes()
    for name in ("resignation/a.csv", "resignation/b.csv"):
        blobs.get_blob_client(incoming, name).upload_blob(data)
    blobs.get_blob_client(incoming, "resignation/bad.csv").upload_blob(b"\xff\xfe\x00x")

    one = checked(
        "process", run("process", f"{incoming}/resignation/a.csv", "--json", env=env).stdout
    )
    assert [f["status"] for f in one["files"]] == ["uploaded"]
    gone = run("process", f"{incoming}/resignation/a.csv", "--json", env=env)
    assert gone.exit_code == 1
    assert [f["status"] for f in checked("process", gone.stdout)["files"]] == ["gone"]

    swept = checked("sweep", run("sweep", "--json", env=env).stdout)
    assert sorted(f["status"] for f in swept["files"]) == ["failed", "uploaded"]
    assert swept["summary"]["files"] == 2

    status = checked("status", run("status", "--json", env=env).stdout)
    assert {r["kind"] for r in status["runs"]} == {"file", "sweep"}
    assert len([r for r in status["runs"] if r["kind"] == "file"]) == 3
