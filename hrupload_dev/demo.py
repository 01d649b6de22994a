"""``make demo``: the whole pipeline on this machine, start to finish, then tidy up.

Starts Azurite (in memory, loopback, ports the OS picks) and the connector stand-in,
drops the sample files into ``hr-incoming`` the way an HR system would, runs the
same sweep the daily timer runs, and shows the run log, the containers and what
the "connector" received. Then two connectors of one deployment (HRUPLOAD_CONNECTORS)
pull their files from where HR keeps them: a SharePoint folder on the Graph stand-in
and a Workday-like report (basic auth) on the report stand-in; the timer's path, pull
then sweep, sends each to its own job, and a second pull finds nothing new. Every step
is the real ``hrupload`` command. Last, the web page HR admins use (``hrupload dev web``)
is served over what the demo left and read once; ``--web`` (``make demo WEB=1``) keeps it
open for a browser until Enter.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from hrupload.core.report import count

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
TENANT = "00000000-0000-0000-0000-000000000001"
APP = "11111111-1111-1111-1111-111111111111"
JOB = "22222222-2222-2222-2222-222222222222"
#: The two connectors of the pull part, each its own job on the connector stand-in.
PULL_CONNECTORS = {
    "leavers": "33333333-3333-3333-3333-333333333333",
    "reviews": "44444444-4444-4444-4444-444444444444",
}
#: The Graph app of the SharePoint source and the report's integration user. Their secrets
#: reach hrupload only through the variables named in HRUPLOAD_CONNECTORS (secret_env).
GRAPH_APP = "55555555-5555-5555-5555-555555555555"
GRAPH_SECRET = "demo-graph-secret"  # noqa: S105 - the stand-in's, made up for the demo
REPORT_USER = "ISU_HRUpload"
REPORT_PASSWORD = "demo-report-password"  # noqa: S105 - the stand-in's, made up for the demo
REPORT_NAME = "Leavers"
SHAREPOINT_FOLDER = "HR/reviews"

#: (sample file, blob name in hr-incoming): single-scenario files go in a folder named
#: after their scenario, the way the pipeline learns which scenario they hold.
DROPS = [
    ("resignation.csv", "resignation/2026-11-25-resignations.csv"),
    ("job-level-change.csv", "job-level-change/2026-11-25-levels.csv"),
    ("performance-review.csv", "performance-review/2026-11-25-reviews.csv"),
    ("employee-profile.csv", "employee-profile/2026-11-25-profiles.csv"),
    ("multi-scenario.csv", "all-events-2026-11-25.csv"),
]

console = Console(highlight=False, width=max(Console().width, 110))


def _hrupload(*args: str, env: dict[str, str]) -> int:
    exe = Path(sys.executable).with_name("hrupload")
    cmd = [str(exe) if exe.exists() else "hrupload", *args]
    console.print(f"[dim]$ hrupload {' '.join(args)}[/]")
    return subprocess.run(cmd, env=env, check=False).returncode


def _broken_file() -> bytes:
    # An export saved as Latin-1 by a spreadsheet: the app must fail it with a reason.
    header = "EmailAddress,ResignationDate,LastWorkingDate\n"
    row = "rené@contoso.com,2026-11-01T00:00:00Z,2026-11-30T00:00:00Z\n"
    return (header + row).encode("latin-1")


def main(argv: list[str] | None = None) -> int:
    keep_web = "--web" in (sys.argv[1:] if argv is None else argv)
    from hrupload_dev.azurite import Azurite
    from hrupload_dev.connector import ConnectorStandIn
    from hrupload_dev.graph import GraphStandIn
    from hrupload_dev.report import ReportStandIn

    work = Path(tempfile.mkdtemp(prefix="hrupload-demo-"))
    received = work / "received"
    azurite = Azurite(work)
    jobs = {JOB: APP} | dict.fromkeys(PULL_CONNECTORS.values(), APP)
    standin = ConnectorStandIn(
        tenant_id=TENANT, apps={APP: "demo-secret"}, jobs=jobs, out_dir=received
    )
    graph = GraphStandIn(tenant_id=TENANT, apps={GRAPH_APP: GRAPH_SECRET})
    report = ReportStandIn(users={REPORT_USER: REPORT_PASSWORD})
    console.print(Rule("[bold]hrupload demo[/]"))
    console.print(
        "Starting Azurite (storage emulator) and the connector, Graph and HR report stand-ins "
        "on 127.0.0.1 …"
    )
    try:
        azurite.start()
        for server in (standin, graph, report):
            server.start()
        env = dict(os.environ)
        env.update(
            {
                "HR_STORAGE": azurite.connection_string,
                "HRUPLOAD_TENANT_ID": TENANT,
                "HRUPLOAD_APP_ID": APP,
                "HRUPLOAD_JOB_ID": JOB,
                "HRUPLOAD_APP_SECRET": "demo-secret",
                "HRUPLOAD_LOGIN_URL": standin.url,
                "HRUPLOAD_INGESTION_URL": standin.url,
                "HRUPLOAD_STATE_DIR": str(work / "state"),
                "HRUPLOAD_PROFILE": "",
                "HRUPLOAD_CONNECTORS": "",
                "COLUMNS": str(console.width),
            }
        )
        console.print(f"  Azurite blob endpoint {azurite.blob_url}")
        console.print(f"  connector stand-in    {standin.url}")
        console.print(f"  Graph stand-in        {graph.url}")
        console.print(f"  HR report stand-in    {report.url}\n")
        code = _run(env, azurite, standin, received)
        code = _pull(env, standin, graph, report) or code
        return _web(_pull_env(env, graph, report), keep_serving=keep_web) or code
    finally:
        for server in (report, graph, standin):
            server.stop()
        azurite.stop()
        shutil.rmtree(work, ignore_errors=True)
        console.print("\nStopped Azurite and the stand-ins.")


def _run(env, azurite, standin, received) -> int:
    from azure.storage.blob import BlobServiceClient

    console.print(Rule("1. An HR admin checks a file before dropping it"))
    _hrupload("validate", str(SAMPLES / "multi-scenario.csv"), env=env)

    console.print(Rule("2. The HR system drops its exports into hr-incoming"))
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    incoming = service.get_container_client("hr-incoming")
    incoming.create_container()
    for sample, blob in DROPS:
        incoming.upload_blob(blob, (SAMPLES / sample).read_bytes())
        console.print(f"  dropped {blob}")
    incoming.upload_blob("resignation/saved-as-latin1.csv", _broken_file())
    console.print("  dropped resignation/saved-as-latin1.csv [dim](not UTF-8: will fail)[/]")

    console.print(Rule("3. The daily sweep runs (the same code as the timer trigger)"))
    code = _hrupload("sweep", env=env)
    # One file fails on purpose, so the sweep exits 1 (as cron would see it); anything
    # else means the demo itself went wrong.
    console.print(f"  [dim]sweep exited {code} (1: a file failed, as planned)[/]")

    console.print(Rule("4. The run log"))
    _hrupload("status", "--since", "1h", env=env)

    console.print(Rule("5. Where every file ended up"))
    table = Table(padding=(0, 1))
    for col in ("container", "blob", "bytes", "status"):
        table.add_column(col, overflow="fold")
    for name in ("hr-incoming", "hr-processed", "hr-failed"):
        container = service.get_container_client(name)
        for props in container.list_blobs(include=["metadata"]):
            status = (props.metadata or {}).get("hrupload_status", "")
            table.add_row(name, props.name, str(props.size), status)
    console.print(table)

    console.print(Rule("6. What the connector received"))
    uploads = standin.uploads
    table = Table(padding=(0, 1))
    for col in ("#", "job", "chunk file", "records", "bytes"):
        table.add_column(col)
    for upload in uploads:
        table.add_row(
            str(upload.seq), upload.job_id, upload.filename, str(upload.records), str(upload.size)
        )
    console.print(table)
    total = sum(u.records or 0 for u in uploads)
    console.print(
        f"{len(uploads)} uploads, {total} records. Rejected rows and their reasons are in "
        "hr-failed/…/<name>.rejected.csv; each file has a .report.json beside it."
    )
    return 0 if code == 1 else 1


def _pull_env(env: dict[str, str], graph, report) -> dict[str, str]:
    """The deployment's settings with two connectors, each fed by a source of its own."""
    sources = [
        report.source("leavers", format="json")
        | {
            "name": "workday-leavers",
            "auth": {
                "type": "basic",
                "username": REPORT_USER,
                "secret_env": "DEMO_REPORT_PASSWORD",
            },
        },
        graph.source("reviews", SHAREPOINT_FOLDER)
        | {"name": "sharepoint-reviews", "app_id": GRAPH_APP, "secret_env": "DEMO_GRAPH_SECRET"},
    ]
    connectors = [
        {"name": name, "folder": name, "job_id": job} for name, job in PULL_CONNECTORS.items()
    ]
    # Its header fits several scenarios: the connector's own profile says which one it is.
    connectors[1]["profile"] = {"scenarios": {"performance-review": {}}}
    return env | {
        "HRUPLOAD_CONNECTORS": json.dumps({"connectors": connectors, "sources": sources}),
        "HRUPLOAD_GRAPH_URL": graph.url,
        "DEMO_REPORT_PASSWORD": REPORT_PASSWORD,
        "DEMO_GRAPH_SECRET": GRAPH_SECRET,
    }


def _sample_rows(sample: str) -> list[dict[str, str]]:
    with (SAMPLES / sample).open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def _fetched(graph, report) -> tuple[int, int]:
    """Reports the report stand-in served and files the Graph stand-in let download."""
    return report.served, graph.requests("download")


def _pull(env: dict[str, str], standin, graph, report) -> int:
    """Two connectors pull from where HR keeps their files, then the sweep sends each file
    to its own connector's job; a second pull finds nothing new. 0 when it all went so."""
    report.set_report(REPORT_NAME, _sample_rows("resignation.csv"))
    graph.put_file(
        f"{SHAREPOINT_FOLDER}/performance-review.csv",
        (SAMPLES / "performance-review.csv").read_bytes(),
    )
    graph.put_file(f"{SHAREPOINT_FOLDER}/read-me.txt", "not a CSV: a pull leaves it")
    env = _pull_env(env, graph, report)
    before = len(standin.uploads)

    console.print(Rule("7. Two connectors pull from where HR keeps their files"))
    console.print(
        "  HRUPLOAD_CONNECTORS: two connectors, each with its own folder and job, and a source "
        "for each:\n"
        f"    [bold]leavers[/] → leavers/, job {PULL_CONNECTORS['leavers'][:8]}…  ← a "
        f"Workday-like report (JSON Report_Entry, basic auth as {REPORT_USER})\n"
        f"    [bold]reviews[/] → reviews/, job {PULL_CONNECTORS['reviews'][:8]}…  ← the "
        f"SharePoint folder {SHAREPOINT_FOLDER} (Graph, app-only token)\n"
        "    (the reviews connector's own profile says its files are performance reviews)\n"
        "  The daily timer does the same: pull, then sweep."
    )
    first = _hrupload("pull", env=env)
    fetched = _fetched(graph, report)
    console.print(
        f"  [dim]fetched: {count(fetched[0], 'report')} from the report stand-in, "
        f"{count(fetched[1], 'file')} from the Graph stand-in (the .txt beside it is left)[/]"
    )
    swept = _hrupload("sweep", env=env)

    console.print(Rule("8. Each file's outcome, per connector"))
    for name in PULL_CONNECTORS:
        _hrupload("status", "--connector", name, "--since", "1h", env=env)

    console.print(Rule("9. The next pull finds nothing new"))
    again = _hrupload("pull", env=env)
    reports, files = (n - m for n, m in zip(_fetched(graph, report), fetched, strict=True))
    console.print(
        f"  [dim]fetched: {count(reports, 'report')} (the same content: not dropped again), "
        f"{count(files, 'file')} from SharePoint (the eTag is unchanged)[/]"
    )
    table = Table(padding=(0, 1), title="What each connector's job received from the pull")
    for col in ("connector", "job", "uploads", "records"):
        table.add_column(col)
    pulled = standin.uploads[before:]
    for name, job in PULL_CONNECTORS.items():
        mine = [u for u in pulled if u.job_id == job]
        records = sum(u.records or 0 for u in mine)
        table.add_row(name, job, str(len(mine)), str(records))
    console.print(table)
    return 0 if (first, swept, again) == (0, 0, 0) else 1


def _web(env: dict[str, str], *, keep_serving: bool) -> int:
    """The web page over what the demo left: served on 127.0.0.1 with a key made for this
    run, its status page read once over HTTP; with ``keep_serving``, left open for a
    browser (the URL with the key printed then, and only then) until Enter."""
    import requests

    from hrupload.compose import load_settings
    from hrupload.web import create_app
    from hrupload_dev.web import WebServer, with_key

    console.print(Rule("10. The web page HR admins use (hrupload dev web)"))
    if not keep_serving:  # its request log is for someone at the browser
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    settings, key = with_key(load_settings(env))
    with WebServer(create_app(settings)) as server, requests.Session() as browser:
        page = browser.get(f"{server.url}?code={key}", timeout=30)
        files = page.text.count('aria-label="report of ')
        rejected = page.text.count('aria-label="rejected rows of ')
        console.print(
            f"  GET {server.url} → {page.status_code}: the status page lists "
            f"{count(files, 'file')} with a report link, {rejected} with rejected rows to "
            "download, and a chart per connector; /api/check validates a file in the "
            "browser (nothing uploaded)."
        )
        if keep_serving:
            console.print(f"\n  Open [bold]{server.url}?code={key}[/] (the key is this run's)")
            with contextlib.suppress(EOFError, KeyboardInterrupt):
                input("  Press Enter to stop the page, Azurite and the stand-ins. ")
        else:
            console.print("  [dim]To open it in a browser: make demo WEB=1[/]")
    return 0 if page.status_code == 200 and files else 1


if __name__ == "__main__":
    sys.exit(main())
