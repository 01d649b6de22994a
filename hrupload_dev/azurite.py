"""Azurite, the Azure Storage emulator, run on loopback for tests and ``make demo``.

Azurite is launched directly (``node_modules/.bin/azurite``), so the PID held is the
server. Each service listens on a port the OS picks; the real ports are read from
Azurite's own "successfully listening at http://127.0.0.1:NNNNN" lines.
"""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]  # hrupload_dev/azurite.py -> repo root
AZURITE = REPO / "node_modules" / ".bin" / "azurite"
ACCOUNT = "devstoreaccount1"
#: The emulator's published, well-known development key (not a secret).
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
HOST = "127.0.0.1"
SERVICES = ("blob", "queue", "table")
START_TIMEOUT = 30.0
_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at (\S+)")


def _die_with_parent() -> None:
    """In the child: get SIGTERM if pytest dies without teardown (e.g. a hard timeout)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Azurite:
    """One Azurite process; ``pid`` is the server itself (no shell or npx in between).

    In memory by default; ``persistent=True`` keeps the data in ``workdir``, so a stop and
    start is an outage that loses nothing, as it would be in Azure.
    """

    def __init__(self, workdir: Path, *, persistent: bool = False) -> None:
        self.workdir = workdir
        self.persistent = persistent
        self.ports: dict[str, int] = dict.fromkeys(SERVICES, 0)
        self.proc: subprocess.Popen[str] | None = None
        self.output: deque[str] = deque(maxlen=200)  # for failure messages

    # ------------------------------------------------------------ endpoints

    def url(self, service: str) -> str:
        return f"http://{HOST}:{self.ports[service]}/{ACCOUNT}"

    @property
    def blob_url(self) -> str:
        return self.url("blob")

    @property
    def queue_url(self) -> str:
        return self.url("queue")

    @property
    def table_url(self) -> str:
        return self.url("table")

    @property
    def account_name(self) -> str:
        return ACCOUNT

    @property
    def account_key(self) -> str:
        return ACCOUNT_KEY

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_url};QueueEndpoint={self.queue_url};"
            f"TableEndpoint={self.table_url};"
        )

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start Azurite (again, on the same ports) and wait until all three listen."""
        if self.running:
            return
        args = [
            str(AZURITE),
            *(["--location", str(self.workdir)] if self.persistent else ["--inMemoryPersistence"]),
            "--skipApiVersionCheck",
            "--silent",
            "--loose",
            "--disableTelemetry",
        ]
        for service in SERVICES:
            args += [f"--{service}Host", HOST, f"--{service}Port", str(self.ports[service])]
        # Azurite refuses --location together with --inMemoryPersistence, so the temp
        # directory is its working directory instead (where it would put any files).
        self.proc = subprocess.Popen(
            args,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=_die_with_parent,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(
            target=self._pump, args=(self.proc, lines), name="azurite-output", daemon=True
        ).start()
        found: dict[str, int] = {}
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while len(found) < len(SERVICES):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError(f"Azurite did not start within {START_TIMEOUT:.0f} s")
                try:
                    line = lines.get(timeout=remaining)
                except queue.Empty:
                    continue
                if line is None:
                    raise RuntimeError(f"Azurite exited with code {self.proc.wait()}")
                match = _LISTENING.search(line)
                if match:
                    found[match.group(1).lower()] = int(match.group(2).rsplit(":", 1)[1])
        except RuntimeError as exc:
            self._kill()
            output = "\n".join(self.output)
            raise RuntimeError(f"{exc}; its output was:\n{output}") from exc
        except BaseException:
            self._kill()  # e.g. Ctrl-C while waiting: leave no server behind
            raise
        for service, port in found.items():
            if self.ports[service] not in (0, port):
                self._kill()
                raise RuntimeError(f"Azurite {service} came back on {port}, not {self.ports}")
        self.ports = found

    def _pump(self, proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        """Drain Azurite's output for the life of the process, so the pipe never fills."""
        assert proc.stdout is not None
        for line in proc.stdout:
            self.output.append(line.rstrip())
            lines.put(line)
        lines.put(None)

    def stop(self, *, crash: bool = False) -> None:
        """Stop the server: SIGTERM (graceful), or SIGKILL with ``crash=True``.

        In-memory data is lost either way; :meth:`start` brings back an empty Azurite.
        """
        if not self.running:
            self.proc = None
            return
        assert self.proc is not None
        if crash:
            self._kill()
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._kill()
        self.proc = None

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None
