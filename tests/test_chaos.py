"""Seeded chaos (issue 11): the stand-ins misbehave from a large menu, the pipeline copes.

Each run drops a few small files into Azurite's incoming container and queues a random
schedule of faults on the connector's ingestion and token endpoints and on Key Vault:
redirects to another host, a proxy's HTML sign-in page, TCP resets, dropped connections,
answers slower than the timeout, 429 with Retry-After, 5xx, refusals that quote the bearer
token, client secret or a JWT back, a 403 with the job/app mismatch in its reason phrase
only, 404. Then sweeps or blob-trigger runs go over incoming until the faults are used up
(or a few rounds have passed), then one sweep with no faults. Every fault on the menu is
an outage (it would hit every file alike) or the documented at-least-once window, never
the file's fault, so after each round and at the end (docs/reliability.md):

* every file is in processed, in failed, or in incoming with a run record saying why
  (``tests.invariants.check_files``); no file with a valid row is ever in failed;
* every valid row reached the connector, exactly once except inside the window (a chunk
  whose answer was lost: accept-then-drop, an answer slower than the timeout), every
  rejected row is in the rejected-rows CSV, and a file not delivered sent no rows;
* after the last sweep, every file with a valid row is in processed;
* no redirect from the connector was followed (the trap server that redirects point at
  received nothing from it), and nothing that reached the trap carried a secret or a row;
* no secret, token, client assertion, JWT, private key or row address appears in any
  output: logs at DEBUG (every logger), run records, reports, blob names and metadata,
  results, summaries, stdout and stderr.

The seed of a run is in its test id; ``HRUPLOAD_CHAOS_SEED=<n>[,<n>...]`` runs just those
seeds (``pytest tests/test_chaos.py``), and the slow soak runs many more.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote_plus

import pytest

from hrupload import compose
from hrupload.adapters.keyvault import KeyVaultSecret
from hrupload.app import pipeline
from hrupload_dev.connector import JOB_APP_MISMATCH, Fault
from tests.invariants import check_files, hr_csv, leaked, log_texts
from tests.plugins.standins import (
    CERTIFICATE_SECRET_NAME,
    SECRET_NAME,
    TEST_APP_SECRET,
    TEST_CERT_APP_ID,
    TEST_CERT_JOB_ID,
    TEST_KEYVAULT_TOKEN,
)
from tests.reliability import drop, make_services, names

SEED_ENV = "HRUPLOAD_CHAOS_SEED"
BASE_SEED = 1100
QUICK_RUNS = 12
SOAK_RUNS = 80
MAX_ROUNDS = 4
#: The client's read timeout; a "slow" answer takes longer, a "sluggish" one less.
READ_TIMEOUT = 0.5
SLOW = 0.8
SLUGGISH = 0.1
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")


def _seeds(start: int, count: int) -> list[int]:
    chosen = os.environ.get(SEED_ENV, "").strip()
    if chosen:
        return [int(s) for s in chosen.split(",") if s.strip()]
    return list(range(start, start + count))


# --------------------------------------------------------------------------- the trap


@dataclass
class Trapped:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = field(repr=False)


class Trap:
    """Another host on loopback that redirects point at. It answers 200 to everything, with
    what passes for a token and an accepted upload, so a client that follows a redirect is
    fooled into "success" (and the test sees the rows go missing), and it keeps every
    request so the test can check none carried a secret or a row."""

    def __init__(self) -> None:
        self.requests: list[Trapped] = []
        trap = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                trap.requests.append(Trapped(self.command, self.path, dict(self.headers), body))
                answer = json.dumps(
                    {
                        "status": "accepted",
                        "access_token": "trap.token-from-the-wrong-host",
                        "expires_in": "3599",
                        "value": "trap-secret-from-the-wrong-host",
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Trap:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def trap() -> Iterator[Trap]:
    with Trap() as server:
        yield server


# --------------------------------------------------------------------------- the menu

#: Faults that can leave one more copy of a chunk at the service (the at-least-once window).
WINDOW = frozenset({"accept-then-drop", f"slow {SLOW}s"})


def connector_menu(endpoint: str, trap_url: str, job_id: str) -> dict[str, Fault]:
    """Every fault the chaos draws from for one connector endpoint, by name."""
    path = "api/signals" if endpoint == "ingestion" else "oauth2/token"
    menu: dict[str, Fault] = {}
    for status in (301, 302, 303, 307, 308):
        menu[f"{status} to evil.example"] = Fault.redirect(
            f"http://evil.example/{path}?jobid={job_id}", status
        )
        menu[f"{status} to the trap"] = Fault.redirect(
            f"{trap_url}/connector/{path}?jobid={job_id}", status
        )
    for status in (500, 502, 503, 504):
        menu[str(status)] = Fault.http(status)
    menu |= {
        "html 200": Fault.html(200),
        "html 403": Fault.html(403),
        "reset": Fault.reset(),
        "drop": Fault.drop(),
        f"slow {SLOW}s": Fault.delay(SLOW),
        f"sluggish {SLUGGISH}s": Fault.delay(SLUGGISH),
        "429 retry-after 1": Fault.http(429, retry_after=1),
        "429 retry-after 600": Fault.http(429, retry_after=600),
        "404": Fault.http(404),
        "404 html": Fault.http(
            404, body="<html><body>Not Found</body></html>", content_type="text/html"
        ),
        "echo 401": Fault.echo(401),
        "echo 401 x2": Fault.echo(401),  # queued twice: the retry with a new token gets it too
        "echo 500": Fault.echo(500),
    }
    if endpoint == "ingestion":
        menu |= {
            "accept-then-drop": Fault.accept_then_drop(),
            "403 mismatch in reason": Fault.http(403, reason=JOB_APP_MISMATCH, body=b""),
            "403 mismatch in body": Fault.http(403, body=JOB_APP_MISMATCH),
        }
    else:
        menu |= {"echo 400": Fault.echo(400), "echo 403": Fault.echo(403)}
    return menu


def vault_menu(trap_url: str) -> dict[str, Fault]:
    return {
        "403 rbac": Fault.http(403),
        "404 no secret": Fault.http(404),
        "429": Fault.http(429, retry_after=1),
        "500": Fault.http(500),
        "503": Fault.http(503),
        "302 to the trap": Fault.redirect(f"{trap_url}/vault/secrets/{SECRET_NAME}", 302),
        "307 to evil.example": Fault.redirect("http://evil.example/secrets", 307),
        "html 200": Fault.html(200),
        "html 403": Fault.html(403),
        "reset": Fault.reset(),
        "drop": Fault.drop(),
        "slow": Fault.delay(SLOW),
        "echo 403": Fault.echo(403),
    }


def fault_class(name: str) -> str:
    """The class of issue 11 a menu entry belongs to; the chaos draws a class first, so the
    ten redirect variants do not crowd out the rest."""
    for prefix, kind in (
        ("3", "redirect"),
        ("html", "html"),
        ("reset", "connection"),
        ("drop", "connection"),
        ("slow", "slow"),
        ("sluggish", "slow"),
        ("429", "429"),
        ("5", "5xx"),
        ("echo", "echo"),
        ("403 mismatch", "mismatch"),
        ("403", "403"),
        ("404", "404"),
        ("accept-then-drop", "window"),
    ):
        if name.startswith(prefix):
            return kind
    raise AssertionError(f"menu entry {name!r} has no class")


@dataclass
class Plan:
    seed: int
    credential: str  # secret | vault-secret | vault-certificate
    files: dict[str, bytes]
    #: Files with at least one valid row: they must end in processed.
    valid: set[str]
    faults: list[tuple[str, str]]  # (endpoint, name), in queue order per endpoint
    records_per_call: int
    concurrency: int
    rounds: list[str]  # sweep | triggers

    def describe(self) -> str:
        return (
            f"seed {self.seed} ({SEED_ENV}={self.seed} to repeat): credential "
            f"{self.credential}, {len(self.files)} files, {self.records_per_call} records per "
            f"call, concurrency {self.concurrency}, faults {self.faults}"
        )


def make_plan(seed: int) -> Plan:
    rng = random.Random(seed)
    credential = rng.choice(["secret", "secret", "vault-secret", "vault-certificate"])
    files: dict[str, bytes] = {}
    valid: set[str] = set()
    for i in range(rng.randint(2, 4)):
        name = f"resignation/s{seed}-{i}.csv"
        good = rng.randint(1, 10)
        files[name] = hr_csv(
            f"s{seed}f{i}", good, rng.choice([0, 0, 1, 3]), blank=rng.choice([0, 0, 1])
        )
        valid.add(name)
    roll = rng.random()
    if roll < 0.2:  # a file that is the file's fault, alongside: it must go to failed
        files[f"resignation/s{seed}-bad.csv"] = b"Name,When\r\nNobody,2026-01-01\r\n"
    elif roll < 0.35:
        files[f"resignation/s{seed}-rejected.csv"] = hr_csv(f"s{seed}r", 0, 2)
    endpoints = (
        ["ingestion"] * 6 + ["token"] * 3 + (["keyvault"] * 2 if "vault" in credential else [])
    )
    faults = []
    for _ in range(rng.randint(2, 9)):
        endpoint = rng.choice(endpoints)
        menu = vault_menu("") if endpoint == "keyvault" else connector_menu(endpoint, "", "")
        kind = rng.choice(sorted({fault_class(name) for name in menu}))
        faults.append((endpoint, rng.choice(sorted(n for n in menu if fault_class(n) == kind))))
    return Plan(
        seed=seed,
        credential=credential,
        files=files,
        valid=valid,
        faults=faults,
        records_per_call=rng.choice([2, 3, 5]),
        concurrency=rng.choice([1, 2, 3]),
        rounds=[rng.choice(["sweep", "sweep", "triggers"]) for _ in range(MAX_ROUNDS)],
    )


# --------------------------------------------------------------------------- the run


@dataclass
class Outputs:
    """Everything the pipeline said, for the leak check."""

    texts: list[str] = field(default_factory=list)

    def add(self, *values: Any) -> None:
        for value in values:
            self.texts.append(value if isinstance(value, str) else json.dumps(value, default=str))


class Chaos:
    def __init__(self, plan, storage, connector, vault, trap, certificate) -> None:
        self.plan, self.storage, self.connector = plan, storage, connector
        self.vault, self.trap, self.certificate = vault, trap, certificate
        self.out = Outputs()
        self.problems: list[str] = []

    def queue_faults(self) -> None:
        for endpoint, name in self.plan.faults:
            if endpoint == "keyvault":
                self.vault.add_faults(vault_menu(self.trap.url)[name])
            else:
                menu = connector_menu(endpoint, self.trap.url, self.job_id)
                times = 2 if name.endswith(" x2") else 1
                self.connector.add_faults(*[menu[name]] * times, endpoint=endpoint)

    @property
    def job_id(self) -> str:
        if self.plan.credential == "vault-certificate":
            return TEST_CERT_JOB_ID
        return self.connector.job_id

    def pending(self) -> int:
        return (
            len(self.connector.pending_faults("ingestion"))
            + len(self.connector.pending_faults("token"))
            + len(self.vault.pending_faults("secrets"))
        )

    def services(self) -> pipeline.Services:
        """Fresh services, as a new Functions invocation builds them: a new client, so it
        fetches a token (and reads Key Vault) again and meets the faults queued there."""
        plan = self.plan
        overrides = {
            "HRUPLOAD_RECORDS_PER_CALL": str(plan.records_per_call),
            "HRUPLOAD_CONCURRENCY": str(plan.concurrency),
            "HRUPLOAD_RETRY_BUDGET": "1",
        }
        provider = None
        if plan.credential != "secret":
            name = SECRET_NAME if plan.credential == "vault-secret" else CERTIFICATE_SECRET_NAME
            provider = KeyVaultSecret(
                self.vault.url,
                name,
                credential=self.vault.credential,
                client_options={
                    "verify_challenge_resource": False,
                    "connection_verify": self.vault.ca_cert_pem_path,
                    "retry_total": 0,
                    "read_timeout": READ_TIMEOUT,
                },
            )
            overrides |= {
                "HRUPLOAD_APP_SECRET": "",
                "HRUPLOAD_KEY_VAULT_URL": "https://vault.invalid",  # the provider is used
            }
        if plan.credential == "vault-certificate":
            overrides |= {
                "HRUPLOAD_CERTIFICATE_NAME": CERTIFICATE_SECRET_NAME,
                "HRUPLOAD_APP_ID": TEST_CERT_APP_ID,
                "HRUPLOAD_JOB_ID": TEST_CERT_JOB_ID,
            }

        def client(settings):
            made = compose.make_client(settings, secret_provider=provider)
            made.max_backoff = 0.2
            made.timeout = (2.0, READ_TIMEOUT)
            return made

        return make_services(self.storage, self.connector, client_factory=client, **overrides)

    def sweep(self) -> list[str]:
        summary = pipeline.sweep(self.services())
        self.out.add(summary.to_dict(), *(r.message for r in summary.results))
        return summary.deferred

    def triggers(self) -> list[str]:
        """One blob-trigger run per file still in incoming, as Event Grid would start them."""
        services = self.services()
        for name in names(self.storage, self.storage.incoming):
            try:
                result = pipeline.process_blob(services, name, raise_on_retry=True)
            except pipeline.RetryLater as exc:
                self.out.add(str(exc), exc.outage or "")
            else:
                self.out.add(result.to_dict(), result.message)
        return []

    def window(self) -> tuple[dict[str, int], int]:
        """How many rows of each file may arrive more than once, and how often at most."""
        lost = sum(
            1 for endpoint, name in self.plan.faults if endpoint == "ingestion" and name in WINDOW
        )
        if not lost:
            return {}, 1
        return {name: lost * self.plan.records_per_call for name in self.plan.files}, 1 + lost

    def check(self, deferred: list[str], when: str) -> None:
        """Note every invariant broken now; the run goes on, so one report lists them all."""
        repeats, copies = self.window()
        try:
            check_files(
                self.storage,
                self.connector,
                self.plan.files,
                repeats=repeats,
                copies=copies,
                deferred=deferred,
            )
        except AssertionError as exc:
            self.problem(when, str(exc))
        failed = names(self.storage, self.storage.failed)
        wrongly = sorted(
            name for name in self.plan.valid if any(f.endswith("/" + name) for f in failed)
        )
        if wrongly:
            self.problem(
                when,
                f"files with valid rows went to failed because of an outage: {wrongly} "
                f"({self.reasons(wrongly)})",
            )
        followed = [r.path for r in self.trap.requests if r.path.startswith("/connector/")]
        if followed:
            self.problem(when, f"the client followed a redirect to another host: {followed}")

    def problem(self, when: str, text: str, *, once: bool = True) -> None:
        """Note a broken invariant; with ``once``, only where it is first seen (the rounds
        after it would repeat it)."""
        if not (once and any(p.endswith(f": {text}") for p in self.problems)):
            self.problems.append(f"{when}: {text}")

    def reasons(self, files: list[str]) -> list[str]:
        wanted = {f"{self.storage.incoming}/{name}" for name in files}
        found = [
            f"{r.status}: {r.error}" for r in self.storage.runlog().list_runs() if r.blob in wanted
        ]
        # This message is output too: say which secret a reason holds, not the secret.
        for value, label in sorted(
            needles(self, self.certificate).items(), key=lambda n: -len(n[0])
        ):
            found = [text.replace(value, f"<{label}>") for text in found]
        return found

    def settle(self) -> None:
        """Let answers the stand-in is still sleeping on land (a slow service stores late)."""
        time.sleep(SLOW + 0.2)


def run_chaos(
    seed, hr_storage, connector_standin, keyvault_standin, trap, test_certificate, caplog, capsys
):
    caplog.set_level(logging.DEBUG)  # every logger: ours, the stand-ins', the SDKs'
    plan = make_plan(seed)
    chaos = Chaos(plan, hr_storage, connector_standin, keyvault_standin, trap, test_certificate)
    drop(hr_storage, plan.files)
    chaos.queue_faults()

    for round_no, kind in enumerate(plan.rounds, 1):
        if not chaos.pending():
            break
        deferred = chaos.sweep() if kind == "sweep" else chaos.triggers()
        chaos.check(deferred, f"after round {round_no} ({kind})")

    connector_standin.clear_faults()
    keyvault_standin.clear_faults()
    chaos.settle()
    deferred = chaos.sweep()
    chaos.settle()
    last = "after the last sweep (no faults)"
    if deferred:
        chaos.problem(last, f"it deferred {deferred}")
    chaos.check([], last)
    left = names(hr_storage, hr_storage.incoming)
    if left:
        chaos.problem(last, f"files still in incoming: {left} ({chaos.reasons(left)})")

    said = everything_said(chaos, caplog, capsys)
    secrets = needles(chaos, test_certificate)
    for where, texts in said.items():
        leaks = leaked(texts, secrets)
        if leaks:
            found = sorted({secrets[n] for n in leaks})
            chaos.problem(f"in the {where}", f"{found}", once=False)
        jwts = {m.group(0)[:12] for t in texts for m in JWT_SHAPE.finditer(t)}
        if jwts:
            chaos.problem(f"in the {where}", f"JWT(s) starting {sorted(jwts)}", once=False)
    trapped = leaked(
        [f"{r.path} {r.headers} {r.body.decode('utf-8', 'replace')}" for r in trap.requests],
        secrets,
    )
    if trapped:
        chaos.problem("at the trap (another host)", f"{sorted({secrets[n] for n in trapped})}")
    if chaos.problems:
        pytest.fail(
            f"invariants broken, {plan.describe()}:\n  " + "\n  ".join(chaos.problems),
            pytrace=False,
        )


def everything_said(chaos: Chaos, caplog, capsys) -> dict[str, list[str]]:
    """Every text the pipeline produced, by where it went."""
    storage = chaos.storage
    captured = capsys.readouterr()
    said: dict[str, list[str]] = {
        "results and summaries": list(chaos.out.texts),
        "logs": log_texts(caplog.records),
        "stdout/stderr": [captured.out, captured.err],
        "run records": [
            json.dumps(dataclasses.asdict(r), default=str) for r in storage.runlog().list_runs()
        ],
        "blob names and metadata": [],
        "reports": [],
    }
    for container in (storage.incoming, storage.processed, storage.failed):
        for name in names(storage, container):
            said["blob names and metadata"].append(name)
            if container != storage.incoming:
                metadata = storage.get_info(container, name).metadata
                said["blob names and metadata"].append(json.dumps(metadata))
            if name.endswith(".report.json"):
                with storage.open_read(container, name) as stream:
                    said["reports"].append(stream.read().decode())
    return said


def needles(chaos: Chaos, certificate) -> dict[str, str]:
    """What must never be said, each with a label (the failure message shows labels only)."""
    key_lines = [
        line
        for line in certificate.key_pem.decode().splitlines()
        if line and not line.startswith("-----")
    ]
    found = {
        TEST_APP_SECRET: "the app secret",
        quote_plus(TEST_APP_SECRET): "the app secret, form-encoded",
        TEST_KEYVAULT_TOKEN: "the Key Vault token",
        "standin.": "a connector token",  # every token the stand-in issues starts so
        "trap.token": "the trap's token",
        "@contoso.com": "a row's e-mail address",
    }
    found |= {line: "the certificate's private key" for line in key_lines[1:-1]}
    for stand_in, what in ((chaos.connector, "connector"), (chaos.vault, "Key Vault")):
        for value in stand_in.echoed:
            found.setdefault(value, f"a credential the {what} echoed")
    return found


@pytest.mark.parametrize("seed", _seeds(BASE_SEED, QUICK_RUNS), ids=lambda s: f"seed={s}")
def test_chaos(
    seed, hr_storage, connector_standin, keyvault_standin, trap, test_certificate, caplog, capsys
):
    run_chaos(
        seed,
        hr_storage,
        connector_standin,
        keyvault_standin,
        trap,
        test_certificate,
        caplog,
        capsys,
    )


@pytest.mark.slow
@pytest.mark.skipif(bool(os.environ.get(SEED_ENV)), reason=f"{SEED_ENV} picks the seeds")
@pytest.mark.parametrize(
    "seed", _seeds(BASE_SEED + QUICK_RUNS, SOAK_RUNS), ids=lambda s: f"seed={s}"
)
def test_chaos_soak(
    seed, hr_storage, connector_standin, keyvault_standin, trap, test_certificate, caplog, capsys
):
    run_chaos(
        seed,
        hr_storage,
        connector_standin,
        keyvault_standin,
        trap,
        test_certificate,
        caplog,
        capsys,
    )


def test_the_menu_covers_every_fault_class_the_issue_names(trap) -> None:
    """The chaos is only as good as its menu: every class of issue 11 is on it, for the
    endpoints where it can happen, and the seeds in `make test` draw each kind."""
    ingestion = connector_menu("ingestion", trap.url, "job")
    token = connector_menu("token", trap.url, "job")
    vault = vault_menu(trap.url)
    kinds = {f.kind for f in ingestion.values()}
    assert kinds >= {
        "redirect",
        "html",
        "reset",
        "drop",
        "delay",
        "status",
        "echo",
        "accept-then-drop",
    }
    assert {f.status for f in ingestion.values() if f.kind == "redirect"} == {
        301,
        302,
        303,
        307,
        308,
    }
    assert any(f.reason == JOB_APP_MISMATCH and f.body == b"" for f in ingestion.values())
    assert {404, 429, 500, 502, 503, 504} <= {f.status for f in ingestion.values()}
    assert {"redirect", "html", "reset", "echo"} <= {f.kind for f in token.values()}
    assert {"redirect", "html", "reset", "echo"} <= {f.kind for f in vault.values()}
    classes = {fault_class(n) for menu in (ingestion, token, vault) for n in menu}
    drawn = {
        (endpoint, fault_class(name))
        for seed in _seeds(BASE_SEED, QUICK_RUNS)
        for endpoint, name in make_plan(seed).faults
    }
    if not os.environ.get(SEED_ENV):  # the default seeds meet every class on the ingestion
        assert {c for e, c in drawn if e == "ingestion"} == classes - {"403"}, sorted(drawn)
