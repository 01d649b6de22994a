"""``make bench``: validation, upload and cold-start timings, side by side, on this machine.

Every measurement is a separate process, timed from the outside (wall clock) with its peak
RSS from GNU time (else ``os.wait4``). The timed processes are run alternately a few
times and the best run counts: other work on the machine only ever makes a run slower.
Writes ``docs/benchmarks.md``.

    python -m bench.run                # 1,000,000 rows (~235 MB), a few minutes
    python -m bench.run --rows 20000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.generate import generate, generate_wide

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".bench"
LATENCY_MS = 50
#: The overloaded service: at most CAPACITY uploads at once, each taking SERVICE_MS; the
#: rest answered 429 with Retry-After RETRY_AFTER_S. The upload is sent at CAPPED_CONCURRENCY.
CAPACITY = 4
SERVICE_MS = 500
RETRY_AFTER_S = 1
CAPPED_CONCURRENCY = 12
#: The seed is part of the file name: a file made once is reused by later runs.
SEED = 7

BASELINE = """
import csv, sys
csv.field_size_limit(1 << 20)
with open(sys.argv[1], newline="", encoding="utf-8") as handle:
    for row in csv.reader(handle):
        pass
"""
REFERENCE = """
import sys
from hrupload.core.validate import validate_path
validate_path(sys.argv[1], engine="reference")
"""


@dataclass
class Run:
    seconds: float
    peak_mb: float
    code: int
    out: str = field(default="", repr=False)


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


GNU_TIME = Path("/usr/bin/time")


def one_file(out: str) -> dict:
    """The one file's entry of a command's ``--json`` envelope; {} if it printed none."""
    if not out.strip().startswith("{"):
        return {}
    files = json.loads(out).get("data", {}).get("files") or [{}]
    return files[0]


def measure(argv: Sequence[str], *, env: dict[str, str] | None = None) -> Run:
    """Wall time and peak RSS of one child process.

    The peak comes from GNU time where there is one: a child forked from this (larger)
    process would otherwise be charged this process's pages until it execs.
    """
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as rss:
        prefix = [str(GNU_TIME), "-f", "%M", "-o", rss.name] if GNU_TIME.exists() else []
        start = time.perf_counter()
        child = subprocess.Popen(
            [*prefix, *argv], stdout=out, stderr=subprocess.DEVNULL, env=env, cwd=ROOT
        )
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
        kib = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss / 1024
        if prefix:
            found = re.findall(r"^(\d+)$", rss.read(), re.MULTILINE)
            kib = int(found[-1]) if found else kib
    return Run(seconds, kib * 1024 / 1e6, code, text)


def best(runs: list[Run]) -> Run:
    return min(runs, key=lambda r: r.seconds)


def data_file(rows: int, folder: Path = DATA) -> Path:
    path = folder / f"multi-{rows}-s{SEED}.csv"
    if not path.exists():
        print(f"generating {path.name} ({rows:,} rows) ...", flush=True)
        generate(path.with_suffix(".tmp"), rows, seed=SEED).rename(path)
    return path


class StandIn:
    """``hrupload dev connector`` in its own process, answering each request after
    ``latency_ms``; with ``capacity``, at most that many uploads at once (the rest 429)."""

    def __init__(self, latency_ms: float, capacity: int | None = None) -> None:
        self.secret = secrets.token_urlsafe(24)
        env = {**os.environ, "HRUPLOAD_APP_SECRET": self.secret}
        argv = [_bin("hrupload"), "dev", "connector", "--port", "0"]
        argv += ["--latency-ms", str(latency_ms)]
        if capacity is not None:
            argv += ["--capacity", str(capacity), "--retry-after", str(RETRY_AFTER_S)]
        self.process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        self.env: dict[str, str] = {}
        assert self.process.stdout is not None
        for line in self.process.stdout:
            found = re.match(r"\s*export (HRUPLOAD_\w+)=(\S+)", line)
            if found and found.group(1) != "HRUPLOAD_APP_SECRET":
                self.env[found.group(1)] = found.group(2).strip("'")
            if "Ctrl-C" in line:
                break
        if "HRUPLOAD_INGESTION_URL" not in self.env:
            self.stop()
            raise RuntimeError("the connector stand-in did not start")

    def control(self, plan: dict | None = None) -> dict:
        """The stand-in's fault and load state (``plan``: change it first, e.g. to reset)."""
        import requests

        url = f"{self.env['HRUPLOAD_INGESTION_URL']}/_standin/faults"
        with requests.Session() as session:
            session.trust_env = False  # loopback: never through a proxy
            if plan is None:
                answer = session.get(url, timeout=10)
            else:
                answer = session.post(url, json=plan, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def upload(path: Path, standin: StandIn, concurrency: int | None, work: Path) -> tuple[Run, dict]:
    state = Path(tempfile.mkdtemp(dir=work))  # fresh resume state: every chunk goes out
    env = {
        **os.environ,
        **standin.env,
        "HRUPLOAD_APP_SECRET": standin.secret,
        "HRUPLOAD_STATE_DIR": str(state),
    }
    env.pop("HRUPLOAD_CONCURRENCY", None)
    argv = [_bin("hrupload"), "upload", str(path), "--report-dir", str(work), "--json"]
    if concurrency is not None:
        argv += ["--concurrency", str(concurrency)]
    run = measure(argv, env=env)
    shutil.rmtree(state, ignore_errors=True)
    summary = one_file(run.out)
    if run.code not in (0, 3) or summary.get("sent") != summary.get("chunks"):
        raise RuntimeError(f"upload failed (exit {run.code}): {run.out[-500:]}")
    return run, summary


#: Memory for any input (docs/benchmarks.md, "Memory for any input"): the 2 MB file of
#: 200,000 columns, and the widest file that is read (1,024 columns, short rows) at the size
#: limit, which the run sets to that file's size.
MEMORY_TARGET_MB = 300
WIDE_COLUMNS, WIDE_BYTES = 200_000, 2 << 20


def memory_files(folder: Path, max_mb: int) -> list[tuple[str, Path]]:
    from hrupload.core.checker import MAX_COLUMNS

    made = []
    for label, name, columns, size in (
        ("2 MB, 200,000 columns, short rows", "wide-200000.csv", WIDE_COLUMNS, WIDE_BYTES),
        (
            f"{max_mb} MB (the size limit), {MAX_COLUMNS:,} columns, short rows",
            f"widest-{MAX_COLUMNS}-{max_mb}mb.csv",
            MAX_COLUMNS,
            max_mb << 20,
        ),
    ):
        path = folder / name
        if not path.exists():
            print(f"generating {name} ...", flush=True)
            generate_wide(path.with_suffix(".tmp"), columns, size).rename(path)
        made.append((label, path))
    return made


def memory_runs(folder: Path, max_mb: int, work: Path) -> list[dict]:
    """Peak RSS of ``hrupload upload`` and ``hrupload process`` (Azurite and the stand-in)
    on each memory file, with ``HRUPLOAD_MAX_FILE_MB`` at ``max_mb``."""
    from azure.storage.blob import BlobServiceClient

    from hrupload_dev.azurite import Azurite

    hr = _bin("hrupload")
    results = []
    standin = StandIn(0)
    azurite = Azurite(work)
    try:
        azurite.start()
        service = BlobServiceClient.from_connection_string(azurite.connection_string)
        incoming = service.get_container_client("hr-incoming")
        incoming.create_container()
        for label, path in memory_files(folder, max_mb):
            env = {
                **os.environ,
                **standin.env,
                "HRUPLOAD_APP_SECRET": standin.secret,
                "HRUPLOAD_MAX_FILE_MB": str(max_mb),
                "HRUPLOAD_STATE_DIR": str(Path(tempfile.mkdtemp(dir=work))),
                "HR_STORAGE": azurite.connection_string,
                "HRUPLOAD_PROFILE": "",
            }
            argv = [hr, "upload", str(path), "--report-dir", str(work), "--json", "--force"]
            up = measure(argv, env=env)
            with path.open("rb") as data:
                incoming.upload_blob(path.name, data, overwrite=True)
            proc = measure([hr, "process", f"hr-incoming/{path.name}", "--json"], env=env)
            summary, result = one_file(up.out), one_file(proc.out)
            results.append(
                {
                    "file": label,
                    "mb": path.stat().st_size / 1e6,
                    "upload": up,
                    "process": proc,
                    "outcome": summary.get("status") or "?",
                    "chunks": summary.get("chunks", 0),
                    "process_status": result.get("status") or "?",
                    "file_error": (summary.get("file_error") or {}).get("code"),
                }
            )
    finally:
        azurite.stop()
        standin.stop()
    return results


def render_memory(rows: list[dict], max_mb: int) -> str:
    from hrupload.settings import default

    lines = [
        "## Memory for any input",
        "",
        f"Peak RSS of `hrupload upload` and `hrupload process` (Azurite and the stand-in) with "
        f"`HRUPLOAD_MAX_FILE_MB={max_mb}`, chunks of at most "
        f"{default('HRUPLOAD_MAX_CHUNK_MB')} MB (`HRUPLOAD_MAX_CHUNK_MB`), default concurrency "
        f"(`python -m bench.run --memory-only`, run at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC).",
        "",
        "| file | outcome | upload: wall, peak RSS | process: wall, peak RSS | target |",
        "|---|---|---:|---:|---|",
    ]
    for r in rows:
        up, proc = r["upload"], r["process"]
        worst = max(up.peak_mb, proc.peak_mb)
        outcome = (
            f"file error `{r['file_error']}`"
            if r["file_error"]
            else f"{r['outcome']}, {r['chunks']} chunks"
        )
        lines.append(
            f"| {r['file']} ({r['mb']:.1f} MB) | {outcome}; process: {r['process_status']} "
            f"| {up.seconds:.1f} s, {up.peak_mb:.0f} MB | {proc.seconds:.1f} s, "
            f"{proc.peak_mb:.0f} MB | peak ≤ {MEMORY_TARGET_MB} MB: "
            f"{'met' if worst <= MEMORY_TARGET_MB else '**not met**'} |"
        )
    lines += [
        "",
        "What bounds it: a header over 1,024 columns is a file error before any row is read",
        "(`too-many-columns`); a chunk ends at its record count or its byte limit, whichever",
        "comes first, and a row that cannot fit is rejected (`row-too-large`), so chunks in",
        "flight hold at most concurrency × the chunk limit; a record is at most 4 MiB however",
        "many lines it spans; the native engine leaves a block whose short rows would pad to",
        "more than 3 MiB to the reference, which pads one row at a time. Memory does not grow",
        "with the file past its first blocks (the 236 MB file above), so the file at a smaller",
        "size limit stands for one at the 3,072 MB default.",
        "",
    ]
    return "\n".join(lines)


def update_memory_section(out: Path, section: str) -> None:
    """Put ``section`` in place of the document's memory section (or before the notes)."""
    text = out.read_text() if out.exists() else "# Benchmarks\n\n"
    start = text.find("## Memory for any input")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end + 1 :] if end >= 0 else "")
    else:
        notes = text.find("## How validation runs")
        at = notes if notes >= 0 else len(text)
        text = text[:at] + section + "\n" + text[at:]
    out.write_text(text)


def import_time(repeats: int) -> tuple[float, float, str]:
    """Cold ``import function_app`` (a new process each time): the best time by
    ``-X importtime``, the best wall time of such a process, and what it spends most on."""
    results = []
    for _ in range(repeats):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import function_app"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        )
        total, children = 0, []
        for line in done.stderr.splitlines():
            found = re.match(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", line)
            if not found:
                continue
            us, depth, name = int(found.group(1)), len(found.group(2)), found.group(3)
            if depth == 0 and name == "function_app":
                total = us
            elif depth == 2:  # imported by function_app itself
                children.append((us, name))
        results.append((total / 1000, children))
    total_ms, children = min(results, key=lambda r: r[0])
    heavy = ", ".join(f"`{n}` {us / 1000:.0f} ms" for us, n in sorted(children, reverse=True)[:4])
    wall = min(measure([sys.executable, "-c", "import function_app"]).seconds for _ in range(3))
    return total_ms, wall * 1000, heavy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="hrupload benchmark (writes docs/benchmarks.md)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each timed process")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--data-dir", type=Path, default=DATA, help="where the file is made")
    parser.add_argument(
        "--no-reference", action="store_true", help="skip the (slow) reference-engine run"
    )
    parser.add_argument(
        "--memory-mb",
        type=int,
        default=64,
        help="size limit (HRUPLOAD_MAX_FILE_MB) for the memory runs, and their widest file",
    )
    parser.add_argument(
        "--memory-only", action="store_true", help="only the memory runs (their section)"
    )
    args = parser.parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    if args.memory_only:
        work = Path(tempfile.mkdtemp(prefix="bench-", dir=args.data_dir))
        try:
            compiled()
            section = render_memory(
                memory_runs(args.data_dir, args.memory_mb, work), args.memory_mb
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        update_memory_section(args.out, section)
        print(section)
        return 0
    path = data_file(args.rows, args.data_dir)
    size_mb = path.stat().st_size / 1e6
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=args.data_dir))
    try:
        results = _run(path, args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = render(results, args.rows, size_mb)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=args.data_dir))
    try:
        memory = render_memory(memory_runs(args.data_dir, args.memory_mb, work), args.memory_mb)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    update_memory_section(args.out, memory)
    text = args.out.read_text()
    print(text)
    return 0


def _run(path: Path, args: argparse.Namespace, work: Path) -> dict:
    py, hr = sys.executable, _bin("hrupload")
    compiled()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    baseline, validate = [], []
    for _ in range(args.repeats):  # alternate, so a busy moment hits both
        baseline.append(measure([py, "-c", BASELINE, str(path)]))
        validate.append(measure([hr, "validate", str(path), "--json"]))
    if any(r.code != 0 for r in baseline):
        raise RuntimeError("the csv.reader baseline failed")
    report = one_file(validate[0].out)
    if validate[0].code not in (0, 3) or report.get("file_error"):
        raise RuntimeError(f"validate failed: {validate[0].out[-500:]}")
    reference = None
    if not args.no_reference:
        reference = measure([py, "-c", REFERENCE, str(path)])
    standin = StandIn(LATENCY_MS)
    try:
        sequential, summary = upload(path, standin, 1, work)
        default = [upload(path, standin, None, work)[0] for _ in range(args.repeats)]
    finally:
        standin.stop()
    capped = capacity_runs(path, work, max(1, args.repeats - 1))
    import_ms, import_wall_ms, heavy = import_time(args.repeats)
    return {
        "load": load,
        "baseline": baseline,
        "validate": validate,
        "reference": reference,
        "report": report,
        "sequential": sequential,
        "default": default,
        "summary": summary,
        "capped": capped,
        "import_ms": import_ms,
        "import_wall_ms": import_wall_ms,
        "import_heavy": heavy,
    }


def capacity_runs(path: Path, work: Path, repeats: int) -> list[dict]:
    """Uploads at ``--concurrency 12`` to a stand-in that takes 4 at a time: the time, the
    429s (all, and after the first second) and the most requests the stand-in saw at once.
    The first run is at ``--concurrency 4`` (never refused): what this machine can do with
    exactly 4 in flight, to tell the stand-in's and the client's own costs from the limit's."""
    standin = StandIn(SERVICE_MS, capacity=CAPACITY)
    results = []
    try:
        for concurrency in [CAPACITY] + [CAPPED_CONCURRENCY] * repeats:
            standin.control({"capacity": {"limit": CAPACITY, "retry_after": RETRY_AFTER_S}})
            run, summary = upload(path, standin, concurrency, work)
            load = standin.control()["load"]
            results.append(
                {
                    "run": run,
                    "chunks": summary["chunks"],
                    "refused": load["refused"],
                    "late": sum(1 for t in load["refused_at"] if t > 1.0),
                    "peak": load["peak_in_flight"],
                    "concurrency": concurrency,
                }
            )
    finally:
        standin.stop()
    return results


def compiled() -> None:
    """Byte-compile the app as ``pip install`` does an installed package. A checkout that
    is installed editable, where PYTHONDONTWRITEBYTECODE is set (as on the machines here),
    would otherwise compile its ~7,000 lines again in every process timed."""
    import compileall

    compileall.compile_dir(ROOT / "hrupload", quiet=1)
    compileall.compile_file(ROOT / "function_app.py", quiet=1)


def _concurrency_default() -> int:
    from hrupload.app.delivery import DEFAULT_CONCURRENCY

    return DEFAULT_CONCURRENCY


def render(r: dict, rows: int, size_mb: float) -> str:
    import pyarrow

    base, val = best(r["baseline"]), best(r["validate"])
    seq, default = r["sequential"], best(r["default"])
    chunks = r["summary"]["chunks"]
    floor = chunks * LATENCY_MS / 1000
    ratio = base.seconds / val.seconds
    peak = max(v.peak_mb for v in r["validate"])
    conc = _concurrency_default()
    report = r["report"]

    def runs(items: list[Run]) -> str:
        return ", ".join(f"{x.seconds:.2f}" for x in items)

    def mark(ok: bool) -> str:
        return "met" if ok else "**not met**"

    exact, *adaptive = r["capped"]
    capped = min(adaptive, key=lambda c: c["run"].seconds)
    ideal = capped["chunks"] / CAPACITY * SERVICE_MS / 1000
    capped_ratio = capped["run"].seconds / ideal

    lines = [
        "# Benchmarks",
        "",
        "Made by `make bench` (`python -m bench.run`); the numbers below are from its last run.",
        "Each timed step is a separate process, timed from outside; peak RSS is GNU time's",
        f"`%M` (the kernel's high-water mark). Steps run {len(r['baseline'])} times, "
        "alternating; the best run counts for time, the highest for memory. The app is",
        "byte-compiled first, as `pip install` does an installed package.",
        "",
        "## Machine",
        "",
        f"- {os.cpu_count()} cores, {platform.machine()}, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, pyarrow {pyarrow.__version__}",
        f"- load average when the run started: {r['load']:.2f}",
        f"- run at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        "## The file",
        "",
        f"{rows:,} rows, {size_mb:.0f} MB (`bench/generate.py`, seed {SEED}): all four event "
        "scenarios, dates with seven fraction digits and mixed offsets, remarks of up to 200",
        "characters with commas and quotes, and what real exports hold too: rows short of their",
        "trailing commas, rows with mistakes, a few blank lines, remarks over two lines.",
        f"Validation finds {report['rows']:,} rows: {report['valid']:,} valid, "
        f"{report['rejected']:,} rejected, {report['blank']:,} blank.",
        "",
        "## Results",
        "",
        "| step | wall (best) | runs | peak RSS | vs. baseline |",
        "|---|---:|---|---:|---:|",
        f"| csv.reader loop, doing nothing (baseline) | {base.seconds:.2f} s"
        f" | {runs(r['baseline'])} | {base.peak_mb:.0f} MB | 1.00 |",
        f"| `hrupload validate FILE --json` | {val.seconds:.2f} s | {runs(r['validate'])}"
        f" | {peak:.0f} MB | {ratio:.2f} |",
    ]
    if r["reference"] is not None:
        ref = r["reference"]
        lines.append(
            f'| reference engine (`validate_path(engine="reference")`) | {ref.seconds:.2f} s'
            f" | 1 run | {ref.peak_mb:.0f} MB | {base.seconds / ref.seconds:.2f} |"
        )
    lines += [
        f"| `hrupload upload`, concurrency 1 | {seq.seconds:.2f} s | 1 run | {seq.peak_mb:.0f} MB"
        " | |",
        f"| `hrupload upload`, default concurrency ({conc}) | {default.seconds:.2f} s"
        f" | {runs(r['default'])} | {max(d.peak_mb for d in r['default']):.0f} MB | |",
        f"| sequential floor: {chunks} chunks × {LATENCY_MS} ms | {floor:.2f} s | | | |",
        f"| `hrupload upload --concurrency {CAPPED_CONCURRENCY}` to a service taking "
        f"{CAPACITY} at a time ({SERVICE_MS} ms each; the rest 429, Retry-After "
        f"{RETRY_AFTER_S} s) | {capped['run'].seconds:.2f} s"
        f" | {runs([c['run'] for c in adaptive])}"
        f" | {max(c['run'].peak_mb for c in adaptive):.0f} MB | |",
        f"| the same at `--concurrency {CAPACITY}` (never refused) | {exact['run'].seconds:.2f} s"
        f" | 1 run | {exact['run'].peak_mb:.0f} MB | |",
        f"| its ideal: {capped['chunks']} chunks ÷ {CAPACITY} × {SERVICE_MS} ms | {ideal:.2f} s"
        " | | | |",
        f"| cold `import function_app` (`-X importtime`) | {r['import_ms']:.0f} ms | | | |",
        "",
        '"vs. baseline" is baseline time ÷ step time: above 1.00 the step is faster than merely',
        "parsing the file with the standard library.",
        "",
        "## Targets",
        "",
        "| target | measured | |",
        "|---|---|---|",
        f"| validate no slower than the csv.reader baseline (ratio ≥ 1.0) | {ratio:.2f} |"
        f" {mark(ratio >= 1.0)} |",
        f"| validate peak RSS ≤ 100 MB | {peak:.0f} MB | {mark(peak <= 100)} |",
        f"| upload of the file ≤ 4 s at 50 ms per request | {default.seconds:.2f} s "
        f"(floor at concurrency 1: {floor:.1f} s) | {mark(default.seconds <= 4)} |",
        f"| at capacity {CAPACITY}: within 1.5× the ideal {CAPACITY}-parallel time | "
        f"{capped['run'].seconds:.2f} s = {capped_ratio:.2f}× {ideal:.2f} s | "
        f"{mark(capped_ratio <= 1.5)} |",
        f"| at capacity {CAPACITY}: few 429s after the first second (≤ 5) | "
        f"{capped['late']} after it, {capped['refused']} in all; at most {capped['peak']} "
        f"requests in flight (ceiling {CAPPED_CONCURRENCY}) | {mark(capped['late'] <= 5)} |",
        f"| cold `import function_app` ≤ 300 ms | {r['import_ms']:.0f} ms by `-X importtime`, "
        f"{r['import_wall_ms']:.0f} ms for the whole process | {mark(r['import_ms'] <= 300)} |",
        "",
        f"Largest imports at cold start: {r['import_heavy']}.",
        "",
    ]
    notes = ROOT / "bench" / "NOTES.md"
    if notes.exists():
        lines += [notes.read_text().rstrip(), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
