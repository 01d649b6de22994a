"""``make demo``: the whole pipeline on this machine, start to finish, then tidy up.

Starts Azurite (in memory, loopback, ports the OS picks) and the connector stand-in,
drops the sample files into ``hr-incoming`` the way an HR system would, runs the
same sweep the daily timer runs, and shows the run log, the containers and what
the "connector" received. Every step is the real ``hrupload`` command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.rule import Rule
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
TENANT = "00000000-0000-0000-0000-000000000001"
APP = "11111111-1111-1111-1111-111111111111"
JOB = "22222222-2222-2222-2222-222222222222"

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


def main() -> int:
    from hrupload_dev.azurite import Azurite
    from hrupload_dev.connector import ConnectorStandIn

    work = Path(tempfile.mkdtemp(prefix="hrupload-demo-"))
    received = work / "received"
    azurite = Azurite(work)
    standin = ConnectorStandIn(
        tenant_id=TENANT, apps={APP: "demo-secret"}, jobs={JOB: APP}, out_dir=received
    )
    console.print(Rule("[bold]hrupload demo[/]"))
    console.print("Starting Azurite (storage emulator) and the connector stand-in on 127.0.0.1 …")
    try:
        azurite.start()
        standin.start()
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
                "COLUMNS": str(console.width),
            }
        )
        console.print(f"  Azurite blob endpoint {azurite.blob_url}")
        console.print(f"  connector stand-in    {standin.url}\n")
        return _run(env, azurite, standin, received)
    finally:
        standin.stop()
        azurite.stop()
        shutil.rmtree(work, ignore_errors=True)
        console.print("\nStopped Azurite and the stand-in.")


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


if __name__ == "__main__":
    sys.exit(main())
