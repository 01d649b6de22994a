"""The invariants of issue 6, checked for every file after any fault, crash or race.

Given the files a test dropped, the containers, the run log and what the connector stand-in
received, :func:`check_files` asserts, for every file:

* **rows** — ``rows == uploaded + rejected`` for a delivered file (blank lines counted
  apart, and the counts match the file itself); every rejected row is in the rejected-rows
  CSV with a reason; every valid row reached the connector exactly once, except inside the
  documented at-least-once window (a test says how many rows may arrive more than once,
  and at most how often: once more per attempt whose answer was lost);
* **files** — each ends in processed/ or failed/ as one verified copy (same SHA-256, status
  in its metadata, its report beside it), or stays in incoming with a run record saying why;
  nothing is lost, nothing is uploaded that no file holds.

Rows are told apart by their ``EmailAddress``: the generated files give every row its own.
It is independent of the validator: a row is "valid" if it is not in the rejected-rows CSV.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hrupload.app.runs import RunRecord

FINAL = ("uploaded", "partial", "failed", "duplicate")
_DATED = re.compile(r"^\d{4}/\d{2}/\d{2}/")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# --------------------------------------------------------------------------- test files


def hr_csv(
    tag: str,
    valid: int,
    rejected: int = 0,
    *,
    blank: int = 0,
    domain: str = "contoso.com",
) -> bytes:
    """A resignation file: ``valid`` good rows, ``rejected`` rows with an invalid address
    (interleaved), ``blank`` empty lines; every address unique (``<tag>-<n>@<domain>``)."""
    lines = ["EmailAddress,ResignationDate,LastWorkingDate"]
    total = valid + rejected
    bad = {round((i + 0.5) * total / rejected) for i in range(rejected)} if rejected else set()
    gaps = {round((i + 0.5) * total / blank) for i in range(blank)} if blank else set()
    for i in range(total):
        email = f"{tag}-{i}.{domain}" if i in bad else f"{tag}-{i}@{domain}"
        lines.append(f"{email},2026-01-0{1 + i % 9}T00:00:00Z,2026-02-0{1 + i % 9}T00:00:00Z")
        if i in gaps:
            lines.append("")
    return ("\r\n".join(lines) + "\r\n").encode()


# --------------------------------------------------------------------------- reading


def parse_rows(data: bytes) -> tuple[list[str], list[list[str]], int]:
    """Header, non-blank records and the number of blank ones, read with the csv module."""
    text = data.decode("utf-8-sig")
    records = list(csv.reader(io.StringIO(text, newline="")))
    header, body = records[0], records[1:]
    rows = [r for r in body if any(cell.strip() for cell in r)]
    return header, rows, len(body) - len(rows)


def _email_index(header: list[str]) -> int:
    return [h.strip().lower() for h in header].index("emailaddress")


def received_rows(standin) -> Counter[str]:
    """How often each row (by address) reached the stand-in, over every upload."""
    seen: Counter[str] = Counter()
    for upload in standin.uploads:
        header, rows, _ = parse_rows(upload.content)
        at = _email_index(header)
        seen.update(row[at] for row in rows)
    return seen


def _plain(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_START) else value


def _names(storage, container: str) -> set[str]:
    return {b.name for b in storage.list_blobs(container)}


def _read(storage, container: str, name: str) -> bytes:
    with storage.open_read(container, name) as stream:
        return stream.read()


# --------------------------------------------------------------------------- the check


@dataclass
class FileState:
    name: str
    #: incoming | processed | failed
    where: str
    record: RunRecord | None
    #: Rows of this file the stand-in received, by address, and how often.
    received: dict[str, int] = field(default_factory=dict)
    rejected: set[str] = field(default_factory=set)
    report: dict[str, Any] | None = None

    @property
    def status(self) -> str | None:
        return self.record.status if self.record else None

    @property
    def repeated(self) -> int:
        """Rows that reached the connector more than once."""
        return sum(1 for n in self.received.values() if n > 1)


@dataclass
class _Listing:
    """The three containers' blob names, listed once for the whole check."""

    storage: Any
    incoming: set[str]
    processed: set[str]
    failed: set[str]

    @classmethod
    def of(cls, storage) -> _Listing:
        return cls(
            storage,
            _names(storage, storage.incoming),
            _names(storage, storage.processed),
            _names(storage, storage.failed),
        )

    def copies(self, name: str) -> list[tuple[str, str]]:
        """Every archived blob (dated folders stripped) named like the dropped file."""
        archives = ((self.storage.processed, self.processed), (self.storage.failed, self.failed))
        return [(c, n) for c, names in archives for n in names if _DATED.sub("", n) == name]


def check_files(
    storage,
    standin,
    dropped: Mapping[str, bytes],
    *,
    etags: Mapping[str, str] | None = None,
    repeats: Mapping[str, int] | None = None,
    copies: int = 2,
    deferred: Iterable[str] = (),
) -> dict[str, FileState]:
    """Assert every invariant for every dropped file; returns what was found, per file.

    ``repeats`` allows up to that many rows of a file to reach the connector more than
    once, each at most ``copies`` times (the at-least-once window a test provoked);
    ``deferred`` names files a stopped sweep left untried, which may sit in incoming with
    no run record of their own.
    """
    repeats = dict(repeats or {})
    deferred = set(deferred)
    listing = _Listing.of(storage)
    runlog = storage.runlog()
    latest: dict[str, RunRecord] = {}
    for record in runlog.list_runs():  # newest first
        latest.setdefault(record.blob, record)
    received = received_rows(standin)
    owners: dict[str, str] = {}
    states: dict[str, FileState] = {}
    problems: list[str] = []

    for name, data in dropped.items():
        blob = f"{storage.incoming}/{name}"
        record = runlog.ledger_get(blob, etags[name]) if etags else latest.get(blob)
        keys, blank = _keys(data)
        assert len(set(keys)) == len(keys), f"{name}: test data must give every row an address"
        for key in keys:
            owners.setdefault(key, name)
        state = FileState(name, "incoming", record)
        state.received = {k: received[k] for k in keys if received[k]}
        states[name] = state
        if name in listing.incoming:
            problems += _check_waiting(state, name, deferred, listing.copies(name))
            limit = copies if repeats.get(name) else 1
            over = [k for k, n in state.received.items() if n > limit]
            if over or state.repeated > repeats.get(name, 0):
                problems.append(f"{name}: rows sent more often than allowed while waiting")
            continue
        archived = _check_archived(listing, state, data, problems)
        if archived and record is not None and record.status != "duplicate":
            # A duplicate's rows are counted with the file it duplicates.
            problems += _check_rows(state, record, keys, blank, repeats.get(name, 0), copies)

    stray = [k for k in received if k not in owners]
    if stray:
        problems.append(f"{len(stray)} rows reached the connector that no dropped file holds")
    assert not problems, "invariants broken:\n  " + "\n  ".join(problems)
    return states


def _check_archived(listing: _Listing, state: FileState, data: bytes, problems: list[str]) -> bool:
    """A file gone from incoming: one verified copy where its final record says, with its
    metadata, its report and (in failed) its rejected rows. False when it is not there."""
    storage, name, record = listing.storage, state.name, state.record
    if record is None or record.status not in FINAL or not record.destination:
        problems.append(f"{name}: left incoming without a final run record ({record})")
        return False
    container, dest = record.destination.split("/", 1)
    state.where = "failed" if container == storage.failed else "processed"
    found = listing.copies(name)
    if [(container, dest)] != found:
        problems.append(f"{name}: expected one copy at {record.destination}, found {found}")
        return False
    if hashlib.sha256(_read(storage, container, dest)).hexdigest() != _sha(data):
        problems.append(f"{name}: the copy at {record.destination} differs from the file")
    meta = storage.get_info(container, dest).metadata
    if meta.get("hrupload_status") != record.status:
        problems.append(f"{name}: metadata says {meta.get('hrupload_status')!r}")
    beside = listing.processed if container == storage.processed else listing.failed
    if dest + ".report.json" not in beside:
        problems.append(f"{name}: no report beside {record.destination}")
        return False
    state.report = json.loads(_read(storage, container, dest + ".report.json"))
    if record.status != "duplicate":
        state.rejected = _rejected(storage, dest, listing.failed, problems, name)
    return True


def _keys(data: bytes) -> tuple[list[str], int]:
    """The file's rows by address, and its blank lines; none for a file that is not a
    UTF-8 CSV with an EmailAddress column (the pipeline must call it a file error)."""
    try:
        header, rows, blank = parse_rows(data)
        at = _email_index(header)
    except (UnicodeDecodeError, ValueError, IndexError):
        return [], 0
    return [row[at] for row in rows if len(row) > at], blank


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_waiting(state: FileState, name: str, deferred: set[str], copies: list) -> list[str]:
    """A file still in incoming needs a run record that says why (or a pending move)."""
    record = state.record
    if copies and not (record and record.destination):
        return [f"{name}: in incoming and copied to {copies} with no recorded destination"]
    if record is None:
        return [] if name in deferred else [f"{name}: in incoming with no run record"]
    if record.status == "retrying" and record.error:
        return []
    if record.status == "running":
        return []  # a run died (crash, kill): the next one takes over once its lease expires
    if record.status in FINAL and record.destination:
        return []  # recorded; the move is finished by the next run
    if record.status == "failed" and (record.error or "").startswith("left in incoming"):
        return []
    return [f"{name}: in incoming, run record gives no reason ({record.status}: {record.error})"]


def _rejected(storage, dest: str, failed: set[str], problems: list[str], name: str) -> set[str]:
    path = dest + ".rejected.csv"
    if path not in failed:
        return set()
    header, rows, _ = parse_rows(_read(storage, storage.failed, path))
    if header[-1] != "Error":
        problems.append(f"{name}: rejected rows lack the Error column")
    at = _email_index(header)
    for row in rows:
        if not row[-1].strip():
            problems.append(f"{name}: a rejected row has no reason")
    return {_plain(row[at]) for row in rows}


def _check_rows(
    state: FileState, record: RunRecord, keys: list[str], blank: int, repeats: int, copies: int
) -> list[str]:
    name, problems = state.name, []
    sent = set(state.received)
    if state.rejected & sent:
        problems.append(f"{name}: {len(state.rejected & sent)} rejected rows were uploaded")
    if len(state.rejected) != record.rejected:
        problems.append(
            f"{name}: {len(state.rejected)} rows in the rejected CSV, record says {record.rejected}"
        )
    if state.repeated > repeats or any(n > copies for n in state.received.values()):
        problems.append(
            f"{name}: {state.repeated} rows sent more than once, up to "
            f"{max(state.received.values(), default=0)} times (allowed: {repeats}, {copies})"
        )
    file_error = (state.report or {}).get("file_error")
    if file_error:
        if sent:
            problems.append(f"{name}: a file-level error, yet rows were uploaded")
        if record.status != "failed":
            problems.append(f"{name}: a file-level error, yet status {record.status}")
        return problems
    if (record.rows, record.blank) != (len(keys), blank):
        problems.append(
            f"{name}: record counts {record.rows} rows / {record.blank} blank, "
            f"the file has {len(keys)} / {blank}"
        )
    if record.rows != record.valid + record.rejected:
        problems.append(f"{name}: rows {record.rows} != valid + rejected")
    valid = [k for k in keys if k not in state.rejected]
    if record.status in ("uploaded", "partial"):
        if record.rows != record.uploaded + record.rejected:
            problems.append(
                f"{name}: rows {record.rows} != uploaded {record.uploaded} + rejected "
                f"{record.rejected}"
            )
        missing = [k for k in valid if k not in sent]
        if missing:
            problems.append(f"{name}: {len(missing)} valid rows never reached the connector")
    elif len(sent) != record.uploaded:
        # Refused for good part-way: what went out is what the record says went out.
        problems.append(f"{name}: {len(sent)} rows at the connector, record says {record.uploaded}")
    return problems


# --------------------------------------------------------------------------- secrets


def leaked(texts: Iterable[str], needles: Iterable[str]) -> list[str]:
    """The needles (secrets, tokens, addresses) found in any of the texts."""
    haystack = "\n".join(texts)
    return sorted({n for n in needles if n and n in haystack})


def log_texts(records: Iterable[Any]) -> list[str]:
    """Every captured log record as text: its message, its extra fields, its exception."""
    texts = []
    for record in records:
        texts.append(record.getMessage())
        texts.extend(repr(v) for k, v in vars(record).items() if k not in ("msg", "args"))
        if record.exc_info and record.exc_info[1] is not None:
            texts.append(str(record.exc_info[1]))
    return texts
