"""Security properties (issue 6): what hrupload refuses, what it never shows, what it
writes privately, and the dependency audit that guards it all.

- plain http is refused for anything but loopback (connector endpoints, Key Vault);
- TLS verification is never turned off in hrupload/ outside hrupload_dev/ (a source scan);
- the secret is best set in the environment; ``--app-secret`` overrides it (command line over
  environment), always with a warning;
- files the CLI writes (reports, rejected rows, resume state) are readable by the user only;
- the app secret, tokens, the certificate's private key and the rows' email addresses
  never reach stdout/stderr, any log record (DEBUG, urllib3 and azure included), an
  exception message, a run record or a report, in success and failure alike;
- ``make audit`` fails on a known vulnerability and on no answer; a pin older than the latest
  release is checked against the latest release's advisories, with a warning.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import re
import stat
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hrupload import compose
from hrupload.adapters.connector import endpoints, new_session
from hrupload.app import pipeline
from hrupload.cli import main as cli
from hrupload.core.errors import ConfigError
from hrupload.settings import load
from hrupload_dev.connector import ConnectorStandIn, Fault
from tests.app.test_pipeline import make_services
from tests.plugins.standins import (
    SECRET_NAME,
    TEST_APP_SECRET,
    TEST_KEYVAULT_TOKEN,
    StandInCertificate,
)

ROOT = Path(__file__).resolve().parents[1]
HRUPLOAD = Path(sys.executable).with_name("hrupload")
D1, D2 = "2026-11-02T09:30:00Z", "2026-11-30T00:00:00Z"
WRONG_SECRET = "Wrong~Canary_Secret+9/8=7"
#: Email addresses that must never leave the data: the rows' own, valid and invalid.
EMAILS = [f"leak.canary.{i}@contoso.com" for i in range(6)]
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")  # an assertion or a JWT token


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("HRUPLOAD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HRUPLOAD_STATE_DIR", str(tmp_path / "state"))


# -- plain http ---------------------------------------------------------------------------------

REMOTE_HTTP = [
    "http://login.example.com",
    "http://10.0.0.5:8080",
    "http://192.168.1.2",
    "http://localhost.example.com",
    "http://127.0.0.1.nip.io",
    "http://[::ffff:10.0.0.1]",
    "http://[fe80::1]",
]
LOOPBACK_HTTP = ["http://127.0.0.1:8765", "http://127.9.9.9", "http://localhost:1", "http://[::1]"]


@pytest.mark.parametrize("url", REMOTE_HTTP)
@pytest.mark.parametrize("which", ["login_url", "ingestion_url"])
def test_plain_http_is_refused_for_remote_connector_endpoints(url: str, which: str) -> None:
    with pytest.raises(ConfigError, match="plain http is refused"):
        endpoints(**{which: url})


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "127.0.0.1:80"])
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="not an http"):
        endpoints(login_url=url)


@pytest.mark.parametrize("url", [*LOOPBACK_HTTP, "https://login.example.com"])
def test_loopback_http_and_any_https_are_allowed(url: str) -> None:
    assert endpoints(login_url=url, ingestion_url=url).login == url


def test_the_pipeline_refuses_remote_http_naming_the_setting() -> None:
    env = {
        "HRUPLOAD_TENANT_ID": "t",
        "HRUPLOAD_APP_ID": "a",
        "HRUPLOAD_JOB_ID": "j",
        "HRUPLOAD_APP_SECRET": TEST_APP_SECRET,
        "HRUPLOAD_INGESTION_URL": "http://webhook.example.com",
    }
    with pytest.raises(ConfigError, match="HRUPLOAD_INGESTION_URL") as caught:
        compose.make_client(load(env))
    assert TEST_APP_SECRET not in str(caught.value)


@pytest.mark.parametrize("url", ["http://vault.example.com", "http://127.0.0.1:1"])
def test_key_vault_must_be_https(url: str) -> None:
    from hrupload.adapters.keyvault import KeyVaultSecret

    with pytest.raises(ConfigError, match="HRUPLOAD_KEY_VAULT_URL must be an https"):
        KeyVaultSecret(url, SECRET_NAME)


def test_the_cli_refuses_a_plain_http_key_vault_before_any_request(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source = write_file(tmp_path / "resignation.csv", valid=1)
    env = connector_standin.env() | {"HRUPLOAD_KEY_VAULT_URL": "http://vault.example.com"}

    result = CliRunner().invoke(cli.main, ["upload", str(source)], env=env)

    assert result.exit_code == 2, result.output
    assert "HRUPLOAD_KEY_VAULT_URL must be an https" in result.stderr
    assert connector_standin.token_requests == []


def test_process_refuses_remote_http_and_keeps_the_file_with_a_reason(
    hr_storage, connector_standin: ConnectorStandIn, azurite
) -> None:
    hr_storage.put_blob(hr_storage.incoming, "resignation/a.csv", file_bytes(valid=1))
    env = storage_env(hr_storage, azurite, connector_standin)
    env["HRUPLOAD_LOGIN_URL"] = "http://login.example.com"

    result = CliRunner().invoke(
        cli.main, ["process", f"{hr_storage.incoming}/resignation/a.csv"], env=env
    )

    assert result.exit_code == 2, result.output
    assert "plain http is refused" in result.stderr
    assert [b.name for b in hr_storage.list_blobs(hr_storage.incoming)] == ["resignation/a.csv"]
    run = hr_storage.runlog().list_runs()[0]
    assert run.status == "retrying" and "HRUPLOAD_LOGIN_URL" in run.error
    assert connector_standin.token_requests == []


# -- TLS verification ---------------------------------------------------------------------------

_VERIFY_KEYWORDS = {"verify", "connection_verify", "ssl_verify", "check_hostname", "cert_reqs"}
_UNVERIFIED_NAMES = {"CERT_NONE", "_create_unverified_context", "disable_warnings"}
_UNVERIFIED_STRINGS = {"PYTHONHTTPSVERIFY", "CERT_NONE"}


def tls_findings(source: str) -> list[str]:
    """Places where ``source`` turns TLS verification off (or hides that it is off)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.keyword) and node.arg in _VERIFY_KEYWORDS:
            if isinstance(node.value, ast.Constant) and node.value.value in (False, 0, "CERT_NONE"):
                found.append(f"line {line}: {node.arg}={node.value.value!r}")
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            for target in targets:
                name = getattr(target, "attr", getattr(target, "id", None))
                off = isinstance(value, ast.Constant) and value.value in (False, 0)
                if name in _VERIFY_KEYWORDS and off:
                    found.append(f"line {line}: {name} = {value.value!r}")
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if (
                    isinstance(key, ast.Constant)
                    and key.value in _VERIFY_KEYWORDS
                    and isinstance(value, ast.Constant)
                    and value.value in (False, 0)
                ):
                    found.append(f"line {line}: {key.value!r}: {value.value!r}")
        elif isinstance(node, ast.Attribute) and node.attr in _UNVERIFIED_NAMES:
            found.append(f"line {line}: {node.attr}")
        elif isinstance(node, ast.Name) and node.id in _UNVERIFIED_NAMES:
            found.append(f"line {line}: {node.id}")
        elif isinstance(node, ast.alias) and node.name in _UNVERIFIED_NAMES:
            found.append(f"line {line}: import {node.name}")
        elif isinstance(node, ast.Constant) and node.value in _UNVERIFIED_STRINGS:
            found.append(f"line {line}: {node.value!r}")
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        "requests.get(url, verify=False)",
        "SecretClient(url, cred, connection_verify=False)",
        "session.verify = False",
        "ctx.check_hostname = False",
        "ctx.verify_mode = ssl.CERT_NONE",
        "ssl._create_unverified_context()",
        "from ssl import CERT_NONE",
        "urllib3.disable_warnings()",
        "os.environ['PYTHONHTTPSVERIFY'] = '0'",
        "options = {'connection_verify': False}",
    ],
)
def test_the_tls_scan_finds_each_way_of_turning_verification_off(snippet: str) -> None:
    assert tls_findings(snippet)


def test_tls_verification_is_never_disabled_outside_the_dev_stand_ins() -> None:
    package = ROOT / "hrupload"
    files = [p for p in package.rglob("*.py") if "dev" not in p.relative_to(package).parts]
    files.append(ROOT / "function_app.py")
    assert len(files) > 10
    findings = {str(p.relative_to(ROOT)): tls_findings(p.read_text()) for p in files}
    assert {where: found for where, found in findings.items() if found} == {}


def test_the_connector_session_verifies_certificates() -> None:
    assert new_session().verify is True


# -- the secret on the command line -------------------------------------------------------------


def test_app_secret_wins_over_the_environment_secret_with_a_warning(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source = write_file(tmp_path / "resignation.csv", valid=2)
    env = {**connector_standin.env(include_secret=True), "HRUPLOAD_APP_SECRET": WRONG_SECRET}

    result = CliRunner().invoke(
        cli.main, ["upload", str(source), "--app-secret", TEST_APP_SECRET], env=env
    )

    assert result.exit_code == 0, result.output  # the command line's secret is the one used
    assert "warning:" in result.stderr and "--app-secret" in result.stderr
    assert "it overrides HRUPLOAD_APP_SECRET" in result.stderr
    assert WRONG_SECRET not in result.output and TEST_APP_SECRET not in result.output
    assert len(connector_standin.uploads) == 1


def test_app_secret_wins_over_a_key_vault_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rich.console import Console

    from hrupload import compose
    from hrupload.cli.upload import upload_settings

    monkeypatch.delenv("HRUPLOAD_APP_SECRET", raising=False)
    monkeypatch.setenv("HRUPLOAD_KEY_VAULT_URL", "https://vault.example.com")
    console = Console(record=True, width=200)
    opts = {"tenant_id": "t", "app_id": "a", "certificate": None, "app_secret": WRONG_SECRET}

    settings = upload_settings(opts, console)

    assert compose.secret_provider(settings) == WRONG_SECRET  # not read from Key Vault
    assert "it overrides HRUPLOAD_KEY_VAULT_URL" in console.export_text()
    assert WRONG_SECRET not in console.export_text()


def test_app_secret_alone_still_works_with_the_warning(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source = write_file(tmp_path / "resignation.csv", valid=1)
    args = ["upload", str(source), "--app-secret", TEST_APP_SECRET]

    result = CliRunner().invoke(cli.main, args, env=connector_standin.env())

    assert result.exit_code == 0, result.output
    assert "visible to other users in the process list" in result.stderr
    assert "ignored" not in result.stderr
    assert TEST_APP_SECRET not in result.output


# -- private files ------------------------------------------------------------------------------


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """A umask that would leave new files readable by everyone (0644)."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def test_every_file_the_cli_writes_is_readable_by_the_user_only(
    connector_standin: ConnectorStandIn, tmp_path: Path, loose_umask: None
) -> None:
    source = write_file(tmp_path / "in" / "resignation.csv", valid=3, rejected=2)
    state = tmp_path / "state-dir"
    reports = tmp_path / "reports"
    env = connector_standin.env(include_secret=True) | {"HRUPLOAD_STATE_DIR": str(state)}
    args = ["upload", str(source), "--report-dir", str(reports), "--records-per-call", "2"]

    result = CliRunner().invoke(cli.main, args, env=env)

    assert result.exit_code == 3, result.output
    written = sorted(p.name for p in reports.iterdir())
    assert written == ["resignation.csv.rejected.csv", "resignation.csv.report.json"]
    state_files = [p for p in state.rglob("*") if p.is_file()]
    assert state_files  # the delivered chunks, for resume
    for path in [*reports.iterdir(), *state_files]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(state.stat().st_mode) == 0o700


# -- nothing leaks ------------------------------------------------------------------------------


class EveryRecord(logging.Handler):
    """Keeps everything a log record carries: message, arguments, extra fields, traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.loggers: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("hrupload_dev"):
            return  # the stand-ins are the test's, not the product's
        self.loggers.add(record.name)
        fields = {k: v for k, v in record.__dict__.items() if k not in ("exc_info", "msg")}
        self.texts.append(f"{record.name}: {record.getMessage()} {fields!r} {record.msg!r}")
        if record.exc_info:
            self.texts.append("".join(traceback.format_exception(*record.exc_info)))


@pytest.fixture
def every_log() -> Iterator[EveryRecord]:
    """Every logger at DEBUG (urllib3, azure and the rest), caught whole."""
    handler = EveryRecord()
    root = logging.getLogger()
    names = ["", "hrupload", "urllib3", "azure", "requests", "msal", "charset_normalizer"]
    before = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)


def issued_tokens(standin: ConnectorStandIn) -> list[str]:
    """Every access token the stand-in handed out (it keeps them to check bearers)."""
    with standin._lock:
        return list(standin._tokens)


def private_key_lines(certificate: StandInCertificate) -> list[str]:
    body = certificate.key_pem.decode().strip().splitlines()[1:-1]
    return [line for line in body if len(line) >= 32]


def assert_nothing_leaks(texts: dict[str, str], secrets: list[str]) -> None:
    assert secrets and texts
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"{where} shows {secret[:12]}…"
        assert not JWT.search(text), f"{where} shows a JWT"


def test_cli_flows_leak_nothing_into_output_logs_or_reports(
    connector_standin: ConnectorStandIn,
    test_certificate: StandInCertificate,
    tmp_path: Path,
    every_log: EveryRecord,
) -> None:
    """Success, wrong secret, 403, retry budget spent, a certificate, a file without its
    header line; each through the upload command with every logger at DEBUG."""
    source = write_file(tmp_path / "resignation.csv", valid=3, rejected=3)
    headless = tmp_path / "no-header" / "resignation.csv"
    headless.parent.mkdir()
    headless.write_bytes(b"".join(file_bytes(valid=2).splitlines(keepends=True)[1:]))
    base = connector_standin.env(include_secret=True) | {"HRUPLOAD_RETRY_BUDGET": "1"}
    cert_env = base | {
        "HRUPLOAD_APP_SECRET": "",
        "HRUPLOAD_APP_ID": test_certificate.app_id,
        "HRUPLOAD_JOB_ID": test_certificate.job_id,
    }
    runs: list[tuple[str, dict, list[str], int, list[Fault]]] = [
        ("success", base, [], 3, []),
        ("wrong secret", base | {"HRUPLOAD_APP_SECRET": WRONG_SECRET}, [], 1, []),
        ("403", base | {"HRUPLOAD_JOB_ID": test_certificate.job_id}, [], 1, []),
        ("503 budget spent", base, [], 1, [Fault.http(503)] * 500),
        ("certificate", cert_env, ["--certificate", str(test_certificate.pem_path)], 3, []),
    ]
    texts: dict[str, str] = {}
    for label, env, extra, code, faults in runs:
        connector_standin.clear_faults()
        connector_standin.add_faults(*faults, endpoint="ingestion")
        args = [str(source), "--records-per-call", "2", "--concurrency", "2", "--force", *extra]
        result = invoke_upload(args, env)
        assert result.exit_code == code, (label, result.output)
        texts |= result_texts(label, result)
        texts[f"{label}: report"] = (tmp_path / "resignation.csv.report.json").read_text()
    result = invoke_upload([str(headless)], base)
    assert result.exit_code == 1 and "header line missing" in result.stdout
    texts |= result_texts("no header line", result)
    texts["no header line: report"] = (headless.parent / "resignation.csv.report.json").read_text()
    texts["logs"] = "\n".join(every_log.texts)
    assert {"urllib3.connectionpool", "hrupload.app.delivery"} <= every_log.loggers

    tokens = issued_tokens(connector_standin)
    assert len(tokens) >= 3
    secrets = [
        TEST_APP_SECRET,
        WRONG_SECRET,
        *tokens,
        *EMAILS,
        *private_key_lines(test_certificate),
    ]
    assert_nothing_leaks(texts, secrets)


def test_the_installed_command_leaks_nothing_at_its_most_verbose(
    connector_standin: ConnectorStandIn, tmp_path: Path
) -> None:
    source = write_file(tmp_path / "resignation.csv", valid=2, rejected=2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HRUPLOAD_")}
    env |= connector_standin.env(include_secret=True) | {"HRUPLOAD_STATE_DIR": str(tmp_path)}
    texts = {}
    for label, secret, code in [("success", TEST_APP_SECRET, 3), ("wrong", WRONG_SECRET, 1)]:
        done = subprocess.run(
            [str(HRUPLOAD), "-vv", "upload", str(source), "--force"],
            env=env | {"HRUPLOAD_APP_SECRET": secret},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == code, done.stderr
        assert "Traceback" not in done.stderr
        texts[f"{label}: stdout"], texts[f"{label}: stderr"] = done.stdout, done.stderr
    assert "DEBUG" in texts["success: stderr"] or "INFO" in texts["success: stderr"]
    secrets = [TEST_APP_SECRET, WRONG_SECRET, *issued_tokens(connector_standin), *EMAILS]
    assert_nothing_leaks(texts, secrets)


def test_the_pipeline_leaks_nothing_through_faults_retries_and_refusals(
    hr_storage,
    connector_standin: ConnectorStandIn,
    keyvault_standin,
    every_log: EveryRecord,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The secret from the Key Vault stand-in; the connector fails in every way it can
    (token endpoint down, 503, a dropped connection, an expired token, a permanent refusal,
    a retry budget spent) while files are processed; then the run log, the reports, the
    results, the exceptions and every log record are searched."""
    from hrupload.adapters.keyvault import KeyVaultSecret

    provider = KeyVaultSecret(
        keyvault_standin.url,
        SECRET_NAME,
        credential=keyvault_standin.credential,
        client_options={
            "verify_challenge_resource": False,
            "connection_verify": keyvault_standin.ca_cert_pem_path,
        },
    )
    services = make_services(hr_storage, connector_standin, HRUPLOAD_RECORDS_PER_CALL="2")
    settings = services.settings
    services.client_factory = lambda: compose.make_client(settings, secret_provider=provider)
    storage = services.storage
    texts: dict[str, str] = {}

    def process(name: str, data: bytes, *faults: Fault, endpoint: str = "ingestion") -> str:
        connector_standin.clear_faults()
        connector_standin.add_faults(*faults, endpoint=endpoint)
        storage.put_blob(storage.incoming, name, data)
        try:
            result = pipeline.process_blob(services, name, raise_on_retry=True)
        except pipeline.RetryLater as exc:
            texts[f"{name}: exception"] = f"{exc!s} {exc!r}"
            return "retrying"
        texts[f"{name}: result"] = json.dumps(result.to_dict())
        return result.status

    assert process("resignation/1.csv", file_bytes(3, 2, 0), Fault.http(500), endpoint="token") == (
        "partial"
    )
    connector_standin.expire_tokens()  # the next upload gets a 401 and renews its token
    assert process("resignation/2.csv", file_bytes(3, 1, 1), Fault.http(503), Fault.drop()) == (
        "partial"
    )
    refusal = Fault.http(400, body={"error": "rejected"})
    assert process("resignation/3.csv", file_bytes(2, 0, 2), refusal) == "failed"
    assert process("resignation/4.csv", file_bytes(2, 0, 3), *[Fault.http(503)] * 500) == (
        "retrying"
    )
    headless = b"".join(file_bytes(2, 0, 4).splitlines(keepends=True)[1:])
    assert process("resignation/5.csv", headless) == "failed"
    connector_standin.clear_faults()

    for run in services.runlog.list_runs():
        texts[f"run {run.blob}"] = json.dumps(run.to_dict(), default=str)
    for container in (storage.processed, storage.failed):
        for blob in storage.list_blobs(container):
            texts[f"metadata {container}/{blob.name}"] = json.dumps(blob.metadata)
            if blob.name.endswith(".report.json"):
                with storage.open_read(container, blob.name) as stream:
                    texts[f"{container}/{blob.name}"] = stream.read().decode()
    out, err = capfd.readouterr()
    texts["stdout"], texts["stderr"] = out, err
    texts["logs"] = "\n".join(every_log.texts)
    assert {"urllib3.connectionpool", "hrupload.app.pipeline"} <= every_log.loggers
    assert any(n.startswith("azure.core.pipeline") for n in every_log.loggers)

    tokens = issued_tokens(connector_standin)
    assert len(tokens) >= 2
    secrets = [TEST_APP_SECRET, TEST_KEYVAULT_TOKEN, *tokens, *EMAILS]
    assert_nothing_leaks(texts, secrets)


def test_a_refusal_that_quotes_a_row_does_not_carry_the_email_on(
    connector_standin: ConnectorStandIn,
) -> None:
    from hrupload.adapters.connector import ConnectorClient, SecretCredential
    from hrupload.core.errors import ConnectorError

    standin = connector_standin
    body = f"line 2 rejected: {EMAILS[0]} is not a known user"
    standin.add_faults(Fault.http(400, body=body), endpoint="ingestion")
    client = ConnectorClient(
        SecretCredential(standin.tenant_id, standin.app_id or "", TEST_APP_SECRET),
        job_id=standin.job_id or "",
        endpoints=endpoints(login_url=standin.url, ingestion_url=standin.url),
        retry_budget=1,
    )
    with pytest.raises(ConnectorError) as caught:
        client.upload(file_bytes(valid=1), filename="x.csv")
    assert "400" in str(caught.value)
    assert EMAILS[0] not in str(caught.value)


def test_the_settings_repr_hides_the_secret() -> None:
    settings = load({"HRUPLOAD_APP_SECRET": TEST_APP_SECRET})
    assert TEST_APP_SECRET not in repr(settings)


# -- the dependency audit -----------------------------------------------------------------------

AUDIT_PYTHON = ROOT / ".tools" / "pip-audit" / "bin" / "python"
CLEAN = {"info": {"version": "1.0"}, "vulnerabilities": []}


def vulnerable(version: str, fixed: list[str]) -> dict:
    advisory = {
        "id": "PYSEC-TEST-1",
        "aliases": ["CVE-TEST-1"],
        "details": "a test advisory",
        "summary": None,
        "fixed_in": fixed,
        "link": "https://osv.dev/vulnerability/PYSEC-TEST-1",
        "source": "osv",
        "withdrawn": None,
    }
    return {"info": {"version": version}, "vulnerabilities": [advisory]}


class FakePyPI:
    """Serves ``/pypi/<name>/json`` and ``/pypi/<name>/<version>/json`` from a dict; 404 else."""

    def __init__(self, documents: dict[str, dict]) -> None:
        docs = documents

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                doc = docs.get(self.path)
                body = json.dumps(doc).encode() if doc is not None else b"{}"
                self.send_response(200 if doc is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakePyPI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


AUDIT_CASES = {
    # name: (lock lines, documents the index serves, exit code, text expected in the output)
    "latest pins, and a held-back pin with a reason": (
        ["fresh==1.0", "held==1.0  # unverifiable: a test reason"],
        {"/pypi/fresh/json": CLEAN, "/pypi/held/json": CLEAN | {"info": {"version": "2.0"}}},
        0,
        "held 1.0 is checked only against the vulnerabilities of its latest release (2.0)",
    ),
    "a vulnerable latest release": (
        ["bad==1.0"],
        {"/pypi/bad/json": vulnerable("1.0", [])},
        1,
        "PYSEC-TEST-1",
    ),
    "a vulnerability in the per-version document": (
        ["old==1.0"],
        {"/pypi/old/1.0/json": vulnerable("1.0", ["1.1"]), "/pypi/old/json": CLEAN},
        1,
        "PYSEC-TEST-1",
    ),
    "an older pin without a reason: warned, not failed (a new release must not break CI)": (
        ["old==1.0"],
        {"/pypi/old/json": CLEAN | {"info": {"version": "2.0"}}},
        0,
        "Refresh requirements.txt",
    ),
    "a held-back pin whose latest release is still vulnerable": (
        ["held==1.0  # unverifiable: a test reason"],
        {"/pypi/held/json": vulnerable("2.0", [])},
        1,
        "PYSEC-TEST-1",
    ),
    "an index that does not answer": (["fresh==1.0"], {}, 1, "no answer from"),
}


@pytest.mark.skipif(not AUDIT_PYTHON.exists(), reason="pip-audit is not installed: make audit")
@pytest.mark.parametrize("case", list(AUDIT_CASES))
def test_the_audit_fails_on_known_vulnerabilities_and_no_answer(case: str, tmp_path: Path) -> None:
    pins, documents, code, expected = AUDIT_CASES[case]
    lock = tmp_path / "requirements.txt"
    lock.write_text("# test lock\n" + "\n".join(pins) + "\n")
    with FakePyPI(documents) as index:
        url = index.url if documents else "http://127.0.0.1:9"  # nothing listens on 9
        done = subprocess.run(
            [
                *(str(AUDIT_PYTHON), str(ROOT / "scripts" / "audit.py"), "-r", str(lock)),
                *("--strict", "--no-deps", "--disable-pip", "--progress-spinner", "off"),
                *("--vulnerability-service", "pypi", "--cache-dir", str(tmp_path / "cache")),
            ],
            env={**os.environ, "HRUPLOAD_AUDIT_PYPI_URL": url},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == code, done.stdout + done.stderr
    assert expected in done.stdout + done.stderr


# -- helpers ------------------------------------------------------------------------------------


def file_bytes(valid: int, rejected: int = 0, seed: int = 0) -> bytes:
    """A resignation file whose emails are the canaries; ``rejected`` rows have a bad date
    (and one more an invalid email)."""
    lines = ["EmailAddress,ResignationDate,LastWorkingDate"]
    for i in range(valid + rejected):
        email = EMAILS[(i + seed) % len(EMAILS)]
        lines.append(f"{email},{'not-a-date' if i >= valid else D1},{D2}")
    if rejected:
        lines.append(f"{EMAILS[-1]} invalid,{D1},{D2}")  # an invalid email is a value too
    return ("\r\n".join(lines) + "\r\n").encode()


def write_file(path: Path, valid: int, rejected: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(file_bytes(valid, rejected))
    return path


def invoke_upload(args: list[str], env: dict) -> Result:
    """The upload command without the group's logging set-up, so every logger stays at DEBUG."""
    result = CliRunner().invoke(cli.upload, args, env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def result_texts(label: str, result: Result) -> dict[str, str]:
    texts = {f"{label}: stdout": result.stdout, f"{label}: stderr": result.stderr}
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        texts[f"{label}: exception"] = repr(result.exception)
    return texts


def storage_env(hr_storage, azurite, standin: ConnectorStandIn) -> dict[str, str]:
    return standin.env(include_secret=True) | {
        "HR_STORAGE": azurite.connection_string,
        "HRUPLOAD_INCOMING_CONTAINER": hr_storage.incoming,
        "HRUPLOAD_PROCESSED_CONTAINER": hr_storage.processed,
        "HRUPLOAD_FAILED_CONTAINER": hr_storage.failed,
        "HRUPLOAD_RUNS_TABLE": hr_storage.runs_table,
    }
