"""Fixtures that start the connector, Key Vault, Graph and HR report stand-ins on loopback.

Client tests use these instead of patching: the connector client, the secret cache and the
pipeline all talk to real servers over real sockets. Every fixture stops what it started.

The ids and the secret are fixed so a failing test's output is easy to read; the secret
holds ``+ / = & ~`` so a client that forgets to form-encode it fails here, not in production.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hrupload_dev.connector import ConnectorStandIn
from hrupload_dev.graph import GraphStandIn
from hrupload_dev.keyvault import KeyVaultStandIn
from hrupload_dev.report import ReportStandIn

TEST_TENANT_ID = "7e57aaaa-0000-4000-8000-000000000001"
TEST_APP_ID = "7e57bbbb-0000-4000-8000-000000000002"
TEST_APP_SECRET = "stand.in~Secret_0+1/2=3&4"
TEST_JOB_ID = "7e57cccc-0000-4000-8000-000000000003"
#: A second app, known to the connector only by its certificate.
TEST_CERT_APP_ID = "7e57dddd-0000-4000-8000-000000000004"
TEST_CERT_JOB_ID = "7e57eeee-0000-4000-8000-000000000005"
TEST_KEYVAULT_TOKEN = "test-keyvault-token"
SECRET_NAME = "hr-connector-app-secret"
CERTIFICATE_SECRET_NAME = "hr-connector-certificate"
#: The Graph app (an app of its own, as Sites.Selected is granted per app) and its drive.
TEST_GRAPH_APP_ID = "7e57ffff-0000-4000-8000-000000000006"
TEST_GRAPH_SECRET = "graph.stand~in_Secret+1/2=3&4"
TEST_DRIVE_ID = "b!dGVzdC1zaXRl.dGVzdC1kcml2ZQ"
TEST_GRAPH_PAGE_SIZE = 2
#: The HR report (Workday RaaS shaped) and its integration user.
TEST_REPORT_TENANT = "contoso"
TEST_REPORT_OWNER = "ISU_HRUpload"
TEST_REPORT_NAME = "Leavers"
TEST_REPORT_USER = "ISU_HRUpload"
TEST_REPORT_PASSWORD = "report:Pass w0rd+/=&~"


@dataclass(frozen=True)
class StandInCertificate:
    """A self-signed RSA certificate the connector stand-in trusts for :data:`TEST_CERT_APP_ID`."""

    app_id: str
    job_id: str
    cert_pem: bytes
    key_pem: bytes
    cert_path: Path
    key_path: Path
    #: Key and certificate in one PEM file (what ``--certificate`` takes).
    pem_path: Path
    pfx_path: Path
    pfx_password: str
    #: base64url SHA-1 thumbprint, as the ``x5t`` header of a client assertion carries it.
    x5t: str


@pytest.fixture(scope="session")
def test_certificate(tmp_path_factory: pytest.TempPathFactory) -> StandInCertificate:
    """Generated once per session: RSA key generation is the slow part."""
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hrupload test connector app")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    password = "test-pfx-password"
    pfx = pkcs12.serialize_key_and_certificates(
        b"hrupload-test",
        key,
        cert,
        None,
        serialization.BestAvailableEncryption(password.encode()),
    )
    folder = tmp_path_factory.mktemp("certificate")
    paths = {
        "cert.pem": cert_pem,
        "key.pem": key_pem,
        "key-and-cert.pem": key_pem + cert_pem,
        "cert.pfx": pfx,
    }
    for filename, content in paths.items():
        (folder / filename).write_bytes(content)
    x5t = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).rstrip(b"=").decode()  # noqa: S303
    return StandInCertificate(
        app_id=TEST_CERT_APP_ID,
        job_id=TEST_CERT_JOB_ID,
        cert_pem=cert_pem,
        key_pem=key_pem,
        cert_path=folder / "cert.pem",
        key_path=folder / "key.pem",
        pem_path=folder / "key-and-cert.pem",
        pfx_path=folder / "cert.pfx",
        pfx_password=password,
        x5t=x5t,
    )


@pytest.fixture
def connector_standin(
    tmp_path: Path, test_certificate: StandInCertificate
) -> Iterator[ConnectorStandIn]:
    """A running connector stand-in: ``.url``, ``.tenant_id``, ``.app_id``, ``.app_secret``,
    ``.job_id``; the certificate app is ``test_certificate.app_id`` / ``.job_id``.

    Received files also land in ``tmp_path / "received"`` (``.out_dir``).
    """
    standin = ConnectorStandIn(
        tenant_id=TEST_TENANT_ID,
        apps={TEST_APP_ID: TEST_APP_SECRET},
        certificates={TEST_CERT_APP_ID: test_certificate.cert_pem},
        jobs={TEST_JOB_ID: TEST_APP_ID, TEST_CERT_JOB_ID: TEST_CERT_APP_ID},
        out_dir=tmp_path / "received",
    )
    with standin:
        yield standin


@pytest.fixture
def keyvault_standin(test_certificate: StandInCertificate) -> Iterator[KeyVaultStandIn]:
    """A running Key Vault stand-in holding ``hr-connector-app-secret`` (= the connector's
    test secret) and ``hr-connector-certificate`` (key and certificate PEM, as Key Vault
    serves a certificate's secret). ``.credential`` is the credential it accepts;
    ``.secret_client(retry_total=0)`` builds a real SecretClient for it.
    """
    standin = KeyVaultStandIn(
        secrets={SECRET_NAME: TEST_APP_SECRET},
        token=TEST_KEYVAULT_TOKEN,
        tenant_id=TEST_TENANT_ID,
    )
    standin.set_secret(
        CERTIFICATE_SECRET_NAME,
        (test_certificate.key_pem + test_certificate.cert_pem).decode(),
        content_type="application/x-pem-file",
    )
    with standin:
        yield standin


@pytest.fixture
def graph_standin(test_certificate: StandInCertificate) -> Iterator[GraphStandIn]:
    """A running Graph stand-in: one granted drive ``.drive_id`` (empty), the app
    ``TEST_GRAPH_APP_ID`` with ``TEST_GRAPH_SECRET`` (and the test certificate), and pages of
    ``TEST_GRAPH_PAGE_SIZE`` children so every listing of three files or more pages.
    """
    standin = GraphStandIn(
        tenant_id=TEST_TENANT_ID,
        apps={TEST_GRAPH_APP_ID: TEST_GRAPH_SECRET},
        certificates={TEST_GRAPH_APP_ID: test_certificate.cert_pem},
        drives=[TEST_DRIVE_ID],
        page_size=TEST_GRAPH_PAGE_SIZE,
    )
    with standin:
        yield standin


@pytest.fixture
def report_standin() -> Iterator[ReportStandIn]:
    """A running HR report stand-in with one (empty) report, ``.report_url()``, that answers
    ``TEST_REPORT_USER`` / ``TEST_REPORT_PASSWORD`` with basic auth."""
    standin = ReportStandIn(
        tenant=TEST_REPORT_TENANT,
        users={TEST_REPORT_USER: TEST_REPORT_PASSWORD},
    )
    standin.set_report(TEST_REPORT_NAME, [], owner=TEST_REPORT_OWNER)
    with standin:
        yield standin
