"""Validation of a whole file: one pass over a stream with the engine that fits.

:class:`Validation` runs the reference engine (the csv module's reader and
:class:`~hrupload.core.checker.Checker`, row by row) or, where it applies, the fast engine
(:mod:`hrupload.core.fastcheck`), and keeps the report as it goes, so the uploader can
consume rows as they are checked and memory never grows with the file. Pure: no I/O beyond
the stream it is handed, no Azure imports.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from hrupload.core import csvread
from hrupload.core.checker import Checked, Checker, start_checker
from hrupload.core.csvread import FileFacts
from hrupload.core.csvwrite import Chunk, ChunkBuilder
from hrupload.core.dialect import OUTPUT_DELIMITER
from hrupload.core.profile import DEFAULT_PROFILE, Profile
from hrupload.core.report import FileProblem, Report
from hrupload.core.scenarios import scenario_named

#: "auto": the native engine (hrupload.core.fastcheck) where it applies, else the reference;
#: "reference": always the csv-module reader and Checker, row by row.
ENGINES = ("auto", "reference")


@dataclass
class Validation:
    """One pass over a stream: yields checked rows (blank ones counted, not yielded).

    Iterating it is the reference engine. :meth:`chunked` gives what an upload needs
    (chunks of valid rows, and the rejected rows) and takes the native engine when it can.
    """

    stream: BinaryIO
    facts: FileFacts
    report: Report
    profile: Profile = DEFAULT_PROFILE
    scenario: str | None = None
    fallback_scenario: str | None = None
    #: the upload chunk limit (``HRUPLOAD_MAX_CHUNK_MB``): rows that cannot fit are
    #: rejected, and :meth:`chunked` never makes a bigger chunk. None: no limit.
    max_chunk_bytes: int | None = None
    checker: Checker | None = field(default=None, init=False)

    def __iter__(self) -> Iterator[Checked]:
        report = self.report
        reader = csvread.records(self.stream, self.facts.encoding, delimiter=self.facts.delimiter)
        self.checker = start_checker(self, next(reader, None))
        if self.checker is None:
            return
        check = self.checker.check
        for record in reader:
            checked = check(record)
            if checked.blank:
                report.add_blank()
                continue
            report.add_row(checked.scenario, checked.errors)
            yield checked

    def chunked(self, records_per_call: int, *, engine: str = "auto") -> Iterator[Chunk | Checked]:
        """Upload chunks of up to ``records_per_call`` valid rows and ``max_chunk_bytes``
        (each a complete CSV: the header line, then the rows as ``ChunkBuilder`` writes
        them) and the rejected rows, both in file order; the report fills as they come."""
        if engine == "auto" and _fast_engine_for(self.facts.encoding, self.facts.delimiter):
            from hrupload.core import fastcheck

            run = fastcheck.FastRun(
                self.stream,
                self.facts.encoding,
                self.report,
                self.profile,
                self.scenario,
                self.fallback_scenario,
                max_chunk_bytes=self.max_chunk_bytes,
                delimiter=self.facts.delimiter,
            )
            try:
                yield from fastcheck.run_chunks(run, records_per_call, self.max_chunk_bytes)
            finally:
                self.checker = run.checker
            return
        builder: ChunkBuilder | None = None
        for row in self:
            if builder is None:
                builder = ChunkBuilder(self.report.header, records_per_call, self.max_chunk_bytes)
            if row.errors:
                yield row
                continue
            data = builder.add(row.fields)
            if data is not None:
                yield Chunk(data, builder.flushed)
        if builder is not None:
            data = builder.flush()
            if data is not None:
                yield Chunk(data, builder.flushed)


def _fast_engine_for(encoding: str, delimiter: str | None) -> bool:
    """The native engine reads comma-separated UTF-8 files (its expressions and the raw
    bytes it puts in chunks are that; ``delimiter`` None: not known yet, the engine finds
    out, as ``fastcheck.available_for``), with pyarrow (looked up, not imported: the engine
    chooses pyarrow's allocator before the first import)."""
    return (
        encoding in ("utf-8", "utf-8-sig")
        and delimiter in (None, OUTPUT_DELIMITER)
        and importlib.util.find_spec("pyarrow") is not None
    )


def new_report(name: str, facts: FileFacts | None = None) -> Report:
    report = Report(file=name)
    if facts is not None:
        report.note(facts)
    return report


def validate_stream(
    open_stream: Callable[[], BinaryIO],
    *,
    name: str,
    profile: Profile = DEFAULT_PROFILE,
    scenario: str | None = None,
    fallback_scenario: str | None = None,
    max_bytes: int | None = None,
    on_row: Callable[[Checked], None] | None = None,
    engine: str = "auto",
    fingerprint: bool = True,
    max_chunk_bytes: int | None = None,
) -> Report:
    """Scan then validate a re-openable source; a file-level problem ends in the report.

    Without ``on_row`` (only the report is wanted) the native engine scans and validates in
    one read; ``engine="reference"`` forces the row-by-row reference engine.
    ``fingerprint=False`` skips the SHA-256 (the report's ``sha256`` is then None): a check
    alone needs no resume or de-duplication key. ``max_chunk_bytes``: reject the rows an
    upload with that chunk limit would (None: no limit).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}")
    report = new_report(name)
    if on_row is None and engine == "auto" and _fast_engine_for("utf-8", None):
        from hrupload.core import fastcheck

        try:
            report, scanned = fastcheck.validate_fused(
                lambda: _open(open_stream),
                report,
                profile=profile,
                scenario=scenario,
                fallback_scenario=fallback_scenario,
                max_bytes=max_bytes,
                fingerprint=fingerprint,
                max_chunk_bytes=max_chunk_bytes,
            )
        except FileProblem as problem:  # unreadable
            report.file_error = problem.error
            return report
        if scanned is None:
            return report
        # an encoding the fast engine leaves to the reference: scanned, now read
        try:
            stream = _open(open_stream)
        except FileProblem as problem:
            report.file_error = problem.error
            return report
        with stream:
            for _ in Validation(
                stream, scanned, report, profile, scenario, fallback_scenario, max_chunk_bytes
            ):
                pass
        return report
    try:
        with _open(open_stream) as stream:
            facts = csvread.scan(
                stream, max_bytes=max_bytes, fingerprint=fingerprint, dialect=profile.dialect()
            )
        stream = _open(open_stream)
    except FileProblem as problem:
        report.file_error = problem.error
        return report
    report.note(facts)
    with stream:
        validation = Validation(
            stream, facts, report, profile, scenario, fallback_scenario, max_chunk_bytes
        )
        for checked in validation:
            if on_row is not None:
                on_row(checked)
    return report


def _open(open_stream: Callable[[], BinaryIO]) -> BinaryIO:
    try:
        return open_stream()
    except OSError as exc:
        raise FileProblem(
            "unreadable", f"cannot read the file: {exc.strerror or type(exc).__name__}"
        ) from None


def scenario_from_name(name: str) -> str | None:
    """A file or folder named after a scenario (``resignation.csv``, ``resignation/x.csv``)."""
    parts = [p for p in re.split(r"[\\/]", name) if p]
    if not parts:
        return None
    stem = parts[-1].rsplit(".", 1)[0] if "." in parts[-1] else parts[-1]
    for candidate in [stem, *parts[-2:-1]]:
        scenario = scenario_named(candidate)
        if scenario is not None:
            return scenario.name
    return None


def validate_path(path: str | Path, **kwargs) -> Report:
    path = Path(path)
    kwargs.setdefault("fallback_scenario", scenario_from_name(path.name))
    return validate_stream(lambda: path.open("rb"), name=path.name, **kwargs)
