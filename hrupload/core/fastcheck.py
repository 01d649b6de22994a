"""Validation at native speed for the common case, and exactly what the reference says.

The reference engine (``Validation`` in :mod:`hrupload.core.validate`) reads records with the
csv module and checks them one at a time. This engine reaches the same report, the same
valid rows (as upload-chunk bytes) and the same rejected rows, a block of about 2 MiB at
a time:

1. The block is split into lines (in Arrow) and RE2 checks every line at once against
   what the csv module (strict) reads without an error, with the header's number of
   fields: each quote opens a field, closes one or is half of an escaped pair; a CR only
   before the line break; no NUL. The lines it refuses are records with fewer or more
   fields (counted in Arrow too), records whose quoted values hold line breaks (their
   lines are joined and checked again) or trouble: a stray quote, a bare CR, a huge
   record, bytes that are not UTF-8 hand the block and the rest of the file to the
   reference reader. The line offsets then give each record's line number and raw bytes.
2. pyarrow parses the block, short records padded with the empty fields the reference
   pads them with (it reads such a block exactly as the csv module does), and
   checks whole columns at once: regular expressions for e-mail addresses and ISO 8601
   dates with their calendar rules, lengths, the scenario column. They find the rows that
   are *certainly* valid: each test accepts only values the reference accepts unchanged.
3. Every other row (an error, a blank line, surrounding spaces, a ``date_formats`` date,
   anything unusual) is read from its raw bytes by the csv module and checked by the
   reference :class:`~hrupload.core.checker.Checker`.

A certainly-valid row goes into an upload chunk as its raw bytes when they are what
``csv.writer`` writes for its fields (every quoted field needs its quotes), else it is
written by ``csv.writer``; either way the chunk bytes are those ``ChunkBuilder`` makes.

Blocks are analysed on a small thread pool (Arrow releases the GIL) while the main thread
reads and merges results in file order. The main thread makes no pass over the bytes (but
the SHA-256 when one is wanted, which hashlib runs without the GIL): the
workers check the UTF-8 and count the lines (each block learns its first line number from
the one before), and a block is cut at its last line break without counting quotes; the
rare block that ends inside a quoted value (:class:`_Unfinished`) is cut again. numpy is
deliberately not used: importing it (pyarrow does whenever it is installed) costs ~20 MB of
the 100 MB budget.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import functools
import io
import itertools
import re
import struct
from collections.abc import Callable, Container, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

from hrupload.core import csvread
from hrupload.core.arrow import pa, pacsv, pc
from hrupload.core.checker import Bound, Checked, Checker, start_checker
from hrupload.core.csvread import FIELD_LIMIT, FileFacts, Record, Scanner
from hrupload.core.csvwrite import Chunk, csv_line
from hrupload.core.dialect import OUTPUT_DELIMITER
from hrupload.core.profile import Profile
from hrupload.core.report import FileProblem, Report
from hrupload.core.rules import NONBLANK_RE, RULES
from hrupload.core.scenarios import Field

#: Bytes parsed per block, and blocks in flight (one per worker): enough to keep both cores
#: busy, little enough that memory stays flat from the first few MB of a file on (the
#: streaming test in tests/core/test_validate.py) and the process well under 100 MB. A block
#: costs ~1 ms of fixed overhead (some forty Arrow calls, a parse): on the 236 MB benchmark
#: file 2 MiB blocks are ~2 % faster than 1.5 MiB ones and cost ~7 MB more peak RSS.
BLOCK_BYTES = 3 << 19
WORKERS = 2
#: Bytes a read asks for: blocks are made of whole reads (the scan's size limit does not
#: depend on it: see Scanner.note).
READ = 1 << 19
IN_FLIGHT = 2
ENCODINGS = ("utf-8", "utf-8-sig")

#: One physical line that is a whole record the csv module (strict) reads without an error
#: and pyarrow's parser reads the same: every quote opens a field, closes one, or is half
#: of an escaped pair; a CR comes only before the line break; no NUL (the scan's to report).
#: pyarrow alone cannot be trusted: it reads ``"a"x`` as ``ax`` where the csv module fails.
_PLAIN = '[^",\\r\\n\\x00]*'
_QUOTED = '"(?:[^"\\r\\n\\x00]|"")*"'
LINE_RE = f"\\A(?:{_QUOTED}|{_PLAIN})(?:,(?:{_QUOTED}|{_PLAIN}))*\\r?\\z"


#: A line with a quoted value csv.writer would not quote: no comma or quote in it.
NEEDLESS_RE = '(?:\\A|,)"[^",]*"(?:,|\\r?\\z)'
#: A quoted value csv.writer quotes too: a comma or a quote in it (a sound line has no CR
#: or LF inside quotes).
_QUOTED_NEEDED = '"[^",\\r\\n\\x00]*(?:,|"")(?:[^"\\r\\n\\x00]|"")*"'


@functools.lru_cache(maxsize=16)
def _full_line_re(width: int, as_written: bool = False) -> str:
    """LINE_RE for a line of exactly ``width`` fields; ``as_written``: and only quoted where
    csv.writer quotes (the line is then what it writes for its fields)."""
    field = f"(?:{_QUOTED_NEEDED if as_written else _QUOTED}|{_PLAIN})"
    return f"\\A{field}(?:,{field}){{{width - 1}}}\\r?\\z"


#: The same for a record whose quoted values hold line breaks (Python's re: a few a block).
_QUOTED_LINES = rb'"(?:[^"\r\x00]|\r\n|"")*"'
_FIELD = rb'(?:%s|[^",\r\n\x00]*)' % _QUOTED_LINES
_RECORD_RE = re.compile(rb"%s(?:,%s)*\r?" % (_FIELD, _FIELD))

_POOL = pa.default_memory_pool()


@functools.lru_cache(maxsize=256)
def _i64(value: int) -> pa.Scalar:
    # Turning a Python int into an Arrow value makes pyarrow try to import dateutil (absent),
    # ~0.1 ms a time: every constant is made once.
    return pa.scalar(value, pa.int64())


@functools.lru_cache(maxsize=64)
def _i8(value: int) -> pa.Scalar:
    return pa.scalar(value, pa.int8())


_TRUE, _FALSE = pa.scalar(True), pa.scalar(False)
_ZERO = _i64(0)


def _int8s(values: list[int]) -> pa.Int8Array:
    # from the bytes: no per-value conversion (see _i64)
    raw = bytes(v & 0xFF for v in values)
    return pa.Array.from_buffers(pa.int8(), len(values), [None, pa.py_buffer(raw)])


def available_for(encoding: str, delimiter: str | None) -> bool:
    """Files this engine reads: comma-separated UTF-8 (its expressions, and the raw bytes
    it puts in chunks, are that); the reference engine reads the others."""
    return encoding in ENCODINGS and delimiter == OUTPUT_DELIMITER


# -- what the engine hands back ------------------------------------------------------------


@dataclass
class BlockOutcome:
    """One block's rows, in file order: the certainly-valid ones counted, the rest checked."""

    records: int
    #: line breaks in the block
    newlines: int
    #: valid rows per scenario index (the checker's plan order), for the report
    counts: list[int]
    #: (record index, scenario) where a scenario first has a certainly-valid row
    first_seen: list[tuple[int, str]]
    #: (record index, checked row) for the rows the reference checker decided
    checked: list[tuple[int, Checked]]
    #: the valid rows as chunk lines (each ending in CRLF), in order, and where each ends;
    #: None when not asked for
    rows: bytes | None = None
    row_ends: list[int] | None = None


Event = BlockOutcome | Checked


# -- the rules, from the checker's plans ---------------------------------------------------


@dataclass(frozen=True)
class _Test:
    """A column's test, from its field's rule (:data:`hrupload.core.rules.RULES`)."""

    #: the rule's expression for values it accepts unchanged; None: any non-blank value
    certain: str | None
    required: bool
    #: the longest value, in characters (tested in bytes: never fewer than characters)
    max_length: int | None


def _test_for(f: Field) -> _Test | None:
    rule = RULES[f.kind]
    limit = rule.limit(f)
    if rule.certain is None and not f.required and limit is None:
        return None  # an optional field with no limit: anything goes
    return _Test(rule.certain, f.required, limit)


@dataclass
class _Rules:
    """For each scenario, the column tests a certainly-valid row passes."""

    width: int
    names: list[str]
    scenarios: list[str]
    #: per scenario: [(column, test)], or None when no row of it can be valid
    tests: list[list[tuple[int, _Test]] | None]
    scenario_column: int | None
    #: the scenario of a cell the checker would send unchanged, else None
    lookup: Callable[[str], str | None]
    needed: list[str] = field(default_factory=list)
    #: scenarios the report has seen (in earlier blocks): where they first appear is known
    known: Container[str] = ()

    @classmethod
    def from_checker(cls, checker: Checker) -> _Rules:
        scenarios = list(checker.plans)
        tests = [_scenario_tests(checker.plans[name].bound) for name in scenarios]
        used = {column for these in tests for column, _ in these or ()}
        if checker.scenario_index is not None:
            used.add(checker.scenario_index)
        names = [f"c{i}" for i in range(checker.width)]
        values = checker.scenario_values
        return cls(
            width=checker.width,
            names=names,
            scenarios=scenarios,
            tests=tests,
            scenario_column=checker.scenario_index,
            lookup=values.exact if values is not None else lambda _: None,
            needed=[names[i] for i in sorted(used)],
        )


def _scenario_tests(bound: tuple[Bound, ...]) -> list[tuple[int, _Test]] | None:
    """[(column, test)] for one scenario's fields, or None: a required field has no column,
    so no row of the scenario is valid."""
    tests = []
    for b in bound:
        if b.index is None:
            if b.field.required:
                return None
            continue
        test = _test_for(b.field)
        if test is not None:
            tests.append((b.index, test))
    return tests


def _passes(column: pa.Array, test: _Test, matched: pa.BooleanArray | None) -> pa.BooleanArray:
    """Which values pass ``test``; ``matched``: which are non-empty and match its ``certain``
    expression (worked out for the columns sharing an expression at once, by
    :func:`_matching`)."""
    mp = _POOL
    ok = matched
    if ok is None and test.required:
        ok = pc.match_substring_regex(column, NONBLANK_RE, memory_pool=mp)
    if test.max_length is not None:
        length = pc.binary_length(column, memory_pool=mp)
        short = pc.less_equal(length, _i64(test.max_length), memory_pool=mp)  # >= chars
        ok = short if ok is None else pc.and_(ok, short, memory_pool=mp)
    assert ok is not None
    if not test.required:
        empty = pc.equal(pc.binary_length(column, memory_pool=mp), _ZERO, memory_pool=mp)
        ok = pc.or_(ok, empty, memory_pool=mp)
    return ok


def _matching(columns: list[pa.Array], pattern: str) -> list[pa.BooleanArray]:
    """Per column, which values are non-empty and match ``pattern`` (which never matches
    an empty value).

    Several columns take one regex call for all their non-empty values (a date column of a
    multi-scenario file is empty in most rows): each call compiles the expression and builds
    its automaton again, ~0.3 ms for the date's.
    """
    mp = _POOL
    if len(columns) == 1:
        return [pc.match_substring_regex(columns[0], pattern, memory_pool=mp)]
    filled = [_one_chunk(pc.greater(pc.binary_length(c, memory_pool=mp), _ZERO)) for c in columns]
    values = [pc.filter(c, f, memory_pool=mp) for c, f in zip(columns, filled, strict=True)]
    if not any(len(v) for v in values):
        return filled
    pieces = [p for v in values for p in (v.chunks if isinstance(v, pa.ChunkedArray) else [v])]
    matched = pc.match_substring_regex(
        pa.concat_arrays(pieces, memory_pool=mp), pattern, memory_pool=mp
    )
    out, at = [], 0
    for f, v in zip(filled, values, strict=True):
        part, at = matched.slice(at, len(v)), at + len(v)
        out.append(pc.replace_with_mask(f, f, part, memory_pool=mp) if len(v) else f)
    return out


def _one_chunk(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if not isinstance(column, pa.ChunkedArray):
        return column
    if column.num_chunks == 1:
        return column.chunk(0)  # combine_chunks would copy it
    return column.combine_chunks(memory_pool=_POOL)


def _classify(rules: _Rules, table: pa.Table) -> tuple[pa.BooleanArray, pa.Int8Array]:
    """Per row: certainly valid?, and the scenario index (-1: none).

    The table's columns may come in several chunks: each test runs once over all of them
    (a call per column, not per chunk: the fixed cost of a call is much of a block's).
    """
    rows = table.num_rows
    mp = _POOL
    # As they come, in chunks (the parse's): copying the long text columns into one chunk
    # would cost more memory than the tests on them.
    columns = {name: table.column(name) for name in rules.needed}
    if rules.scenario_column is None:
        scenario = pa.repeat(_i8(0), rows)
    else:
        names = _one_chunk(columns[rules.names[rules.scenario_column]])  # one dictionary
        encoded = pc.dictionary_encode(names, memory_pool=mp)
        index = {name: i for i, name in enumerate(rules.scenarios)}
        known = [index.get(rules.lookup(v), -1) for v in encoded.dictionary.to_pylist()]
        scenario = pc.take(_int8s(known), encoded.indices, memory_pool=mp)
    present: list[tuple[pa.BooleanArray, list[tuple[int, _Test]]]] = []
    for s, tests in enumerate(rules.tests):
        if tests is None:
            continue
        mine = pc.equal(scenario, _i8(s), memory_pool=mp)
        if rules.scenario_column is None or pc.any(mine).as_py():
            present.append((mine, tests))
    matched = _matched(columns, rules.names, present)
    valid = pa.repeat(_FALSE, rows)
    cache: dict[tuple[int, _Test], pa.BooleanArray] = {}
    for ok, tests in present:
        for column, test in tests:
            if (column, test) not in cache:
                hit = matched.get((column, test.certain))
                cache[column, test] = _passes(columns[rules.names[column]], test, hit)
            ok = pc.and_(ok, cache[column, test], memory_pool=mp)
        valid = pc.or_(valid, ok, memory_pool=mp)
    return _one_chunk(valid), scenario


def _matched(
    columns: dict[str, pa.ChunkedArray],
    names: list[str],
    present: list[tuple[pa.BooleanArray, list[tuple[int, _Test]]]],
) -> dict[tuple[int, str], pa.BooleanArray]:
    """(column, expression) -> which values match, one :func:`_matching` per expression."""
    wanted: dict[str, list[int]] = {}
    for _, tests in present:
        for column, test in tests:
            if test.certain is not None and column not in wanted.setdefault(test.certain, []):
                wanted[test.certain].append(column)
    out = {}
    for pattern, at in wanted.items():
        at.sort()
        found = _matching([columns[names[c]] for c in at], pattern)
        out.update({(c, pattern): hit for c, hit in zip(at, found, strict=True)})
    return out


# -- one block -----------------------------------------------------------------------------


class _NotExact(Exception):
    """This block cannot be proven to read as the reference reads it."""


def _binary(buf: bytes | bytearray, size: int) -> pa.BinaryArray:
    """``buf[:size]`` as a one-value Arrow array, without a copy."""
    offsets = pa.py_buffer(_OFFSETS.pack(0, size))
    return pa.Array.from_buffers(pa.binary(), 1, [None, offsets, pa.py_buffer(buf)])


_OFFSETS = struct.Struct("<ii")
_INDEX = pa.array(range(1 << 14), pa.int32())


def _index(n: int) -> pa.Int32Array:
    """0, 1, ..., n - 1 (made once, grown when a block has more lines)."""
    global _INDEX
    if len(_INDEX) < n:
        _INDEX = pa.array(range(2 * n), pa.int32())
    return _INDEX.slice(0, n)


@dataclass
class _Shape:
    """A block's records: one physical line each, but for the few whose quoted values hold
    line breaks. Where each record starts and ends comes from the line offsets."""

    buf: bytes | bytearray
    #: offset of each line's first byte within the block's lines without their LFs
    #: (line k starts at byte offsets[k] + k of the block), and one more at the end
    offsets: memoryview
    #: (first line, lines) of each record over several lines, in file order
    groups: list[tuple[int, int]]
    records: int
    #: LFs in the block: its physical lines, for the line numbers of the next block
    newlines: int
    #: the lines themselves (the block without its LFs), while they are needed
    lines: pa.BinaryArray | None = None
    #: the records without the header's number of fields, in order: their first and last
    #: lines and their fields (counted as pyarrow counts them: an empty line is one field);
    #: as plain lists, as a file can have them on every line
    odd_first: list[int] = field(default_factory=list)
    odd_last: list[int] = field(default_factory=list)
    odd_fields: list[int] = field(default_factory=list)
    #: with ``as_written``: the lines whose record quotes a value csv.writer would not
    rewritten: list[int] = field(default_factory=list)
    #: bytes of the longest record
    longest: int = 0

    def note_odd(self, first: int, last: int, fields: int) -> None:
        """The record on lines ``first``..``last`` has ``fields`` fields, not the header's."""
        self.odd_first.append(first)
        self.odd_last.append(last)
        self.odd_fields.append(fields)

    def odd(self, keep: Callable[[int], bool]) -> dict[int, int]:
        """record -> fields, for the odd records whose number of fields ``keep`` picks."""
        return {
            self._record_of_line(first): fields
            for first, fields in zip(self.odd_first, self.odd_fields, strict=True)
            if keep(fields)
        }

    def _record_of_line(self, line: int) -> int:
        r = _record_at(self, line)
        assert r is not None
        return r

    _group_at: dict[int, int] = field(default_factory=dict)
    _group_records: list[int] = field(default_factory=list)
    _extra: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.index_groups()

    def index_groups(self) -> None:
        """Where the records over several lines are (again, once ``groups`` is complete)."""
        self._group_at.clear()
        self._group_records.clear()
        self._extra.clear()
        extra = 0
        for first, count in self.groups:
            self._group_at[first] = count
            self._group_records.append(first - extra)
            extra += count - 1
            self._extra.append(extra)

    def __len__(self) -> int:
        return self.records

    def line(self, r: int) -> int:
        """The physical line record ``r`` starts on, counted from the block's first."""
        if not self.groups:
            return r
        before = bisect.bisect_left(self._group_records, r)
        return r + (self._extra[before - 1] if before else 0)

    def span(self, r: int) -> tuple[int, int]:
        """Where record ``r`` starts and ends in the block (the end without the line break)."""
        first = self.line(r)
        last = first + self._group_at.get(first, 1) - 1
        return self.offsets[first] + first, self.end_of(last)

    def end_of(self, line: int) -> int:
        """Where ``line`` ends in the block, before its line break (LF or CRLF)."""
        offsets = self.offsets
        end = offsets[line + 1] + line
        if end > offsets[line] + line and self.buf[end - 1] == 0x0D:
            end -= 1
        return end

    def spans(self, lines: pa.BinaryArray) -> tuple[list[int], list[int]]:
        """Every record's span: starts, ends (worked out from ``lines`` in Arrow)."""
        n = len(self.offsets) - 1
        offsets = pa.Array.from_buffers(pa.int32(), n + 1, [None, lines.buffers()[1]])
        index = _index(n)
        starts = pc.add(offsets.slice(0, n), index, memory_pool=_POOL).to_pylist()
        cr = pc.cast(pc.ends_with(lines, "\r", memory_pool=_POOL), pa.int32())
        ends = pc.subtract(pc.add(offsets.slice(1, n), index), cr, memory_pool=_POOL)
        ends = ends.to_pylist()
        for first, count in reversed(self.groups):  # a record over several lines
            del starts[first + 1 : first + count]
            del ends[first : first + count - 1]
        return starts, ends

    def raw(self, r: int) -> bytes:
        start, end = self.span(r)
        return bytes(self.buf[start:end])


def _shape(
    buf: bytes | bytearray, size: int, final: bool, width: int, as_written: bool = False
) -> _Shape:
    """Records of ``buf[:size]``: proven to read as the csv module reads them, or _NotExact.

    RE2 checks every line at once (without the GIL) for a whole record of ``width`` fields;
    only the lines it refuses, a few hundred a block, are looked at again: a record with
    more or fewer fields, or one whose quoted values hold line breaks (it spans them).
    """
    if not size:
        return _Shape(buf, memoryview(b"\0\0\0\0").cast("i"), [], 0, 0)
    lines, newlines = _lines(buf, size, final)
    n = len(lines)
    longest = pc.max(pc.binary_length(lines)).as_py()
    if longest >= FIELD_LIMIT:
        raise _NotExact("a record longer than the csv field limit")
    full = pc.match_substring_regex(lines, _full_line_re(width, as_written), memory_pool=_POOL)
    refused = pc.indices_nonzero(pc.invert(full)).to_pylist()
    assert lines.offset == 0
    offsets = memoryview(lines.buffers()[1]).cast("i")[: n + 1]
    shape = _Shape(buf, offsets, [], n, newlines, lines=lines, longest=longest)
    _look_again(shape, refused, final, width, as_written)
    shape.records = n - sum(count - 1 for _, count in shape.groups)
    shape.index_groups()
    return shape


def _lines(buf: bytes | bytearray, size: int, final: bool) -> tuple[pa.BinaryArray, int]:
    """The block's lines without their LFs (none after a final LF), checked to be UTF-8,
    and how many LFs it has."""
    lines = pc.split_pattern(_binary(buf, size), "\n", memory_pool=_POOL).values
    n = len(lines)
    newlines = n - 1
    if buf[size - 1] == 0x0A:  # the block ends with a line break: no line after it
        lines = lines.slice(0, n - 1)
    elif not final:
        raise _NotExact("the block does not end at a line break")
    elif buf[size - 1] == 0x0D:
        raise _NotExact("a bare CR ends the file")
    try:
        lines.cast(pa.string(), memory_pool=_POOL)  # validates: the scan's UTF-8 check
    except pa.ArrowInvalid:
        raise _NotExact("not UTF-8: the scan reports where") from None
    return lines, newlines


def _look_again(
    shape: _Shape, refused: list[int], final: bool, width: int, as_written: bool
) -> None:
    """Sort out the lines the one-expression test refused: whole records of another number
    of fields (noted as odd), records over several lines (grouped, or _NotExact when they
    are not records the csv module reads), and with ``as_written`` the lines to write again."""
    buf, offsets, n = shape.buf, shape.offsets, len(shape.offsets) - 1
    assert shape.lines is not None
    others = pc.take(shape.lines, pa.array(refused, pa.int64()))
    sound = pc.match_substring_regex(others, LINE_RE).to_pylist()
    fields_on_line = pc.count_substring(
        pc.replace_substring_regex(others, _QUOTED, ""), ","
    ).to_pylist()  # commas outside quoted values, in a sound line
    needless = (
        pc.match_substring_regex(others, NEEDLESS_RE).to_pylist()
        if as_written
        else [False] * len(refused)
    )
    i = 0
    while i < len(refused):
        first = refused[i]
        if sound[i]:
            if fields_on_line[i] + 1 != width:
                shape.note_odd(first, first, fields_on_line[i] + 1)
            if needless[i] or (as_written and fields_on_line[i] + 1 == width):
                shape.rewritten.append(first)  # quotes a value csv.writer would not quote
            i += 1
            continue
        last = _group_end(buf, offsets, first, n, final)
        start, end = offsets[first] + first, offsets[last + 1] + last
        if end - start >= FIELD_LIMIT or not _RECORD_RE.fullmatch(buf, start, end):
            raise _NotExact("a stray quote, a bare CR or a NUL")
        shape.groups.append((first, last - first + 1))
        shape.longest = max(shape.longest, end - start)
        fields = len(_fields(bytes(buf[start:end]).decode("utf-8")))
        if fields != width:
            shape.note_odd(first, last, fields)
        while i < len(refused) and refused[i] <= last:
            i += 1


def _padded(buf: bytes | bytearray, size: int, shape: _Shape, width: int) -> pa.Buffer:
    """The block with the missing trailing fields of its short records written out (each
    then reads as the reference pads it), so that pyarrow reads them with the rest."""
    short = [
        (last, n) for last, n in zip(shape.odd_last, shape.odd_fields, strict=True) if n < width
    ]
    if not short:
        return pa.py_buffer(buf).slice(0, size)
    view = memoryview(buf)
    ends = [shape.end_of(last) for last, _ in short]  # before each one's line break
    # Into Arrow's pool, not a bytes object: jemalloc has the pages of the block's lines,
    # just freed, at hand; the C heap would keep another block's worth for each worker.
    pads = {n: b"," * (width - n) for _, n in short}
    total = size + sum(width - n for _, n in short)
    if total - size > _MAX_PADDING:  # tiny rows under a wide header: the reference's
        raise _NotExact("the short rows padded would take too much memory")
    out = pa.allocate_buffer(total, memory_pool=_POOL)
    with memoryview(out).cast("B") as target:
        at = done = 0
        for end, (_, n) in zip(ends, short, strict=True):
            target[done : done + end - at] = view[at:end]
            done += end - at
            pad = pads[n]
            target[done : done + len(pad)] = pad
            done += len(pad)
            at = end
        target[done:] = view[at:size]
    return out


#: Padding a block may take: a block of one-byte rows under a header of 1,000 columns would
#: take a thousand times its size, padded (the reference pads one row at a time).
_MAX_PADDING = 2 * (3 << 19)


class _Unfinished(_NotExact):
    """The block was cut inside a quoted value: the record starting at byte ``at`` of the
    block goes on in the next one."""

    def __init__(self, at: int) -> None:
        super().__init__("the block ends inside a quoted value")
        self.at = at


def _group_end(buf: bytes | bytearray, offsets: memoryview, first: int, n: int, final: bool) -> int:
    """The last line of the record that starts on line ``first``: where its quotes balance."""
    last = first
    quotes = buf.count(b'"', offsets[first] + first, offsets[first + 1] + first)
    while quotes % 2:
        last += 1
        if last >= n:
            if final:
                raise _NotExact("a quoted field is not closed")
            raise _Unfinished(offsets[first] + first)
        quotes += buf.count(b'"', offsets[last] + last, offsets[last + 1] + last)
    return last


def _needless_quotes(shape: _Shape) -> set[int]:
    """Records whose bytes are not what csv.writer writes for them: they quote a value it
    would not quote (nothing but plain characters between the quotes), or they span
    several lines (taken apart and written again, to be safe)."""
    needless = set(shape._group_records)
    for line in shape.rewritten:
        r = _record_at(shape, line)
        assert r is not None
        needless.add(r)
    return needless


def _record_at(shape: _Shape, line: int) -> int | None:
    """The record that starts on ``line``, if one does."""
    if not shape.groups:
        return line
    before = bisect.bisect_left(shape.groups, (line, 0))
    if before:
        first, count = shape.groups[before - 1]
        if line < first + count:
            return None  # inside a record that started on an earlier line
    return line - (shape._extra[before - 1] if before else 0)


#: pyarrow's parser holds ~3× what it parses at once: a block is parsed this much at a time
#: (serially, so the ragged rows' numbers count from the block's first record; the columns
#: come in chunks, which _classify takes as they are).
_PARSE_BLOCK = 1 << 18


def _parse(data: pa.Buffer, names: list[str], needed: list[str]) -> tuple[pa.Table, list]:
    ragged: list[tuple[int, int, str]] = []

    def on_ragged(row) -> str:
        ragged.append((row.number - 1, row.actual_columns, row.text))
        return "skip"

    table = pacsv.read_csv(
        data,
        read_options=pacsv.ReadOptions(
            column_names=names, use_threads=False, block_size=_PARSE_BLOCK
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=",",
            quote_char='"',
            double_quote=True,
            escape_char=False,
            newlines_in_values=True,
            ignore_empty_lines=False,
            invalid_row_handler=on_ragged,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in needed},
            include_columns=needed,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            null_values=[],
            check_utf8=False,  # the scan has checked the whole file
        ),
        memory_pool=_POOL,
    )
    return table, ragged


def _fields(text: str) -> list[str]:
    """One record's fields, read by the csv module as the reference reads them."""
    if text and '"' not in text and "\r" not in text and "\n" not in text:
        return text.split(",")  # what the csv module reads for a line with no quotes
    got = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    if len(got) > 1:
        raise _NotExact("a record that the csv module reads as several")
    return got[0] if got else []


def analyse(
    buf: bytes | bytearray,
    size: int,
    final: bool,
    starts_at: Future[int],
    then: Future[int],
    rules: _Rules,
    checker: Checker,
    want_rows: bool,
) -> BlockOutcome:
    """Check the block ``buf[:size]``, which starts at a record start; raises _NotExact when
    it cannot be read exactly here.

    The block's first line number comes from ``starts_at``, set by the block before as soon
    as it has counted its lines; this block sets ``then`` for the next one the same way
    (so the main thread never counts lines).
    """
    width = rules.width
    try:
        shape = _shape(buf, size, final, width, as_written=want_rows)
        first_line = starts_at.result()
        then.set_result(first_line + shape.newlines)
    except Exception as exc:
        if not then.done():
            then.set_exception(exc)
        raise
    budget = checker.max_row_bytes
    if budget is not None and 2 * shape.longest + 3 * width + 2 > budget:
        # Written out (quotes doubled, padded) a row might not fit in a chunk: only the
        # reference weighs each row.
        raise _NotExact("a record that might not fit in an upload chunk")
    lines, shape.lines = shape.lines, None
    if not want_rows:
        del lines  # a copy of the block: not held through the parse
    records = len(shape)
    if records == 0:
        rows, ends = (b"", []) if want_rows else (None, None)
        return BlockOutcome(0, shape.newlines, [0] * len(rules.scenarios), [], [], rows, ends)
    table, ragged = _parse(_padded(buf, size, shape, width), rules.names, rules.needed)
    # Only records with extra fields (always an error) are left out of the table.
    unsure = sorted(shape.odd(lambda n: n > width))
    if [r for r, _, _ in ragged] != unsure or table.num_rows + len(ragged) != records:
        raise _NotExact("pyarrow and the line breaks disagree on the records")
    valid, scenario = _classify(rules, table)
    del table
    record_of = _record_of(list(unsure))
    unsure += [record_of(i) for i in pc.indices_nonzero(pc.invert(valid)).to_pylist()]

    counts = [0] * len(rules.scenarios)
    first: dict[int, int] = {}
    tally = pc.value_counts(pc.filter(scenario, valid, memory_pool=_POOL))
    for item in tally.to_pylist():
        s = item["values"]
        counts[s] = item["counts"]
        if rules.scenarios[s] in rules.known:
            continue  # an earlier block's: the report has it in place already
        mine = pc.and_(valid, pc.equal(scenario, _i8(s)))
        first[s] = record_of(pc.index(mine, _TRUE).as_py())
    first_seen = sorted((r, rules.scenarios[s]) for s, r in first.items())
    unsure.sort()

    checked: list[tuple[int, Checked]] = []
    for r in unsure:
        line = first_line + shape.line(r)
        checked.append((r, checker.check(Record(line, _fields(shape.raw(r).decode())))))

    rows = ends = None
    if want_rows:
        needless = _needless_quotes(shape)
        short = shape.odd(lambda n: n < width)
        rows, ends = _chunk_lines(buf, size, shape, lines, unsure, short, needless, checked, width)
    return BlockOutcome(records, shape.newlines, counts, first_seen, checked, rows, ends)


def _job(held: list[bytes | bytearray], *args) -> BlockOutcome:
    """:func:`analyse` the block in ``held``, letting go of it on return: the pool keeps a
    job's arguments until after its result is handed over, which would keep a third block
    alive while the next one is read."""
    return analyse(held.pop(), *args)


def _record_of(odd: list[int]) -> Callable[[int], int]:
    """Table row -> record index, when the (sorted) records ``odd`` are not in the table."""
    if not odd:
        return int

    def record(i: int) -> int:
        # the r with r - (odd records below r) == i, r not odd: a fixed point
        r = i
        while True:
            nxt = i + bisect.bisect_right(odd, r)
            if nxt == r:
                return r
            r = nxt

    return record


def _chunk_lines(
    buf: bytes | bytearray,
    size: int,
    shape: _Shape,
    lines: pa.BinaryArray,
    unsure: list[int],
    short: dict[int, int],
    needless: set[int],
    checked: list[tuple[int, Checked]],
    width: int,
) -> tuple[bytes, list[int]]:
    """The block's valid rows as csv.writer writes them (each with CRLF), in order, and the
    offset where each ends.

    A run of rows that are their own bytes is taken whole, its line breaks made CRLF (a
    sound block has a CR only before an LF, and records over several lines are never in a
    run). Other rows (rewritten, padded, decided by the checker, over several lines) are
    written one by one.
    """
    starts, ends = shape.spans(lines)
    decided = dict(checked)
    special = sorted({*unsure, *needless, *short})
    pieces: list[bytes] = []
    row_ends: list[int] = []
    at = 0

    def add(piece: bytes) -> None:
        nonlocal at
        pieces.append(piece)
        at += len(piece)
        row_ends.append(at)

    def run(a: int, b: int) -> None:  # records a..b-1, all plain
        nonlocal at
        if a >= b:
            return
        sums = itertools.accumulate((ends[r] - starts[r] + 2 for r in range(a, b)), initial=at)
        next(sums)  # the initial value
        row_ends.extend(sums)
        want = row_ends[-1] - at  # each row and CRLF
        last = ends[b - 1]
        stop = last + (2 if buf[last : last + 2] == b"\r\n" else 1 if last < size else 0)
        piece = buf[starts[a] : stop]
        if len(piece) != want:  # an LF (or none, at the end of the file) ends some rows
            piece = piece.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            if stop == last:
                piece += b"\r\n"
            if len(piece) != want:
                raise _NotExact("a run of rows whose line breaks are not what they seem")
        pieces.append(piece)
        at += want

    previous = 0
    for r in special:
        run(previous, r)
        previous = r + 1
        row = decided.get(r)
        if row is not None:
            if row.valid:
                add(csv_line(row.fields).encode("utf-8"))
        elif r in needless:
            fields = _fields(buf[starts[r] : ends[r]].decode("utf-8"))
            add(csv_line(fields + [""] * (width - len(fields))).encode("utf-8"))
        else:  # a short row: its bytes and the empty fields csv.writer writes
            add(buf[starts[r] : ends[r]] + b"," * (width - short[r]) + b"\r\n")
    run(previous, len(starts))
    return b"".join(pieces), row_ends


# -- reading a file in blocks ----------------------------------------------------------------


class _Source:
    """Reads the stream as the scan does (1 MiB at a time) and cuts it into blocks that end
    at a line break outside quotes (when the quotes are sound; ``analyse`` proves it).

    An optional scanner notes each read (size, hash) as it comes; the text of the blocks is
    checked by the workers, which the main thread then vouches for, in order. From
    ``hand_over`` on the scanner checks everything itself.
    """

    def __init__(self, stream: BinaryIO, scanner: Scanner | None) -> None:
        self._stream = stream
        self._scanner = scanner
        self.pending: bytes | bytearray = b""
        self.eof = False
        self._checking = False

    def read(self, size: int = READ) -> bytes:
        data = self._stream.read(size)
        if not data:
            self.eof = True
        self._scan(data)
        return data

    def _scan(self, data: bytes | memoryview) -> None:
        """Hand a read to the scanner: noted only while the workers check the text."""
        if self._scanner is None or not data:
            return
        if self._checking:
            self._scanner.feed(data)
        else:
            self._scanner.note(data)

    def check(self, data: bytes | bytearray) -> None:
        if self._scanner is not None:
            self._scanner.check(data)

    def vouch(self, size: int, newlines: int) -> None:
        if self._scanner is not None:
            self._scanner.vouch(size, newlines)

    def hand_over(self, head: bytes | bytearray = b"") -> None:
        """The scanner checks ``head`` (read, not checked yet), what is pending, and every
        read from now on."""
        self.check(head)
        self.check(self.pending)
        self._checking = True

    def fill(self, size: int) -> None:
        """Read until ``pending`` holds ``size`` bytes or the file ends: whole reads, each
        straight into one buffer for the block (no copies on the main thread)."""
        have = len(self.pending)
        if have >= size or self.eof:
            return
        reads = -(-(size - have) // READ)
        data = bytearray(have + reads * READ)
        data[:have] = self.pending
        with memoryview(data) as view:
            for _ in range(reads):
                got = self._read_into(view[have : have + READ])
                have += got
                if self.eof:
                    break
        del data[have:]
        self.pending = data

    def _read_into(self, view: memoryview) -> int:
        """One read (``view`` full, or the file's end) into ``view``."""
        readinto = getattr(self._stream, "readinto", None)
        if readinto is None:
            data = self.read(len(view))
            view[: len(data)] = data
            return len(data)
        got = 0
        while got < len(view):
            n = readinto(view[got:])
            if not n:
                break
            got += n
        if got < len(view):
            self.eof = True
        self._scan(view[:got])
        return got

    def next_block(self) -> tuple[bytes | bytearray, int, bool] | None:
        """The next block as (buffer, size, last?): ``buffer[:size]`` ends at a line break
        outside quotes, or is the rest of the file. None when no such line break exists."""
        self.fill(BLOCK_BYTES)
        data = self.pending
        if self.eof:
            self.pending = b""
            return data, len(data), True
        # At the last line break of the reads, so no more than a line is carried over (a
        # block smaller than one read, as the tests make them, is cut at its size).
        end = _cut(data, BLOCK_BYTES if BLOCK_BYTES < READ else len(data))
        if end is None:
            return None
        self.pending = data[end:]
        return data, end, False

    def drain(self) -> None:
        """Read (and check) the rest: a file-level problem anywhere wins."""
        self.hand_over()
        self.pending = b""
        while not self.eof:
            self.read()


def _cut(data: bytes | bytearray, size: int) -> int | None:
    """After the last line break in the first ``size`` bytes (else after the last one: a
    line longer than a block). Whether that is outside quotes the worker finds out
    (:class:`_Unfinished`): counting the quotes here would hold the GIL for a pass over
    every block."""
    pos = data.rfind(b"\n", 0, size)
    if pos < 0:
        pos = data.rfind(b"\n")
    return pos + 1 if pos >= 0 else None


class _Chain(io.RawIOBase):
    """Bytes already read, then the rest of the source: what the reference reads on from."""

    def __init__(self, head: bytes, source: _Source) -> None:
        self._head = memoryview(head)
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if not self._head:
            if self._source.eof:
                return 0
            self._head = memoryview(self._source.read())
            if not self._head:
                return 0
        n = min(len(buffer), len(self._head))
        buffer[:n] = self._head[:n]
        self._head = self._head[n:]
        return n


@dataclass
class FastRun:
    """The fast engine over one stream: the header, then events in file order.

    ``encoding`` and ``delimiter`` None: take them from ``scanner`` (a fused scan) once
    the first bytes are read.
    """

    stream: BinaryIO
    encoding: str | None
    report: Report
    profile: Profile
    scenario: str | None
    fallback_scenario: str | None
    scanner: Scanner | None = None
    want_rows: bool = False
    checker: Checker | None = None
    #: the upload chunk limit, as ``Validation.max_chunk_bytes``
    max_chunk_bytes: int | None = None
    delimiter: str | None = None
    #: "fast" (every block proven), "mixed" (the reference took over), "reference"
    #: (the whole file), "unsupported" (an encoding or delimiter this engine leaves to
    #: the reference)
    path: str = ""

    def events(self) -> Iterator[Event]:
        csvread.allow_long_fields()  # for the records read with the csv module (_fields)
        source = _Source(self.stream, self.scanner)
        source.fill(BLOCK_BYTES)
        if self.encoding is None:
            self.encoding = self.scanner.encoding if self.scanner is not None else "utf-8"
        if self.delimiter is None:  # None from the scanner too: the header leaves it open
            self.delimiter = self.scanner.delimiter if self.scanner is not None else ","
        if not available_for(self.encoding, self.delimiter):
            self.path = "unsupported"
            source.drain()
            return
        head = source.pending
        bom = 0
        if self.encoding == "utf-8-sig" and head.startswith(codecs.BOM_UTF8):
            bom = len(codecs.BOM_UTF8)
            source.check(head[:bom])
            head = source.pending = head[bom:]
        newline = head.find(b"\n")
        if newline < 0 or not _one_record(head[: newline + 1]):
            # No line break in sight, or a header whose quotes need the reference.
            self.path = "reference"
            yield from self._reference(source, b"", 1, header=True)
            return
        line = bytes(head[: newline + 1])
        source.check(line)
        source.pending = head[newline + 1 :]
        del head  # the first read, whole: this frame lives as long as the run
        header = next(csvread.records(io.BytesIO(line), "utf-8"))
        self.checker = start_checker(self, header)
        if self.checker is None:
            source.drain()
            return
        if not _fits(self.checker):
            self.path = "reference"
            yield from self._reference(source, b"", 2)
            return
        self.path = "fast"
        rules = _Rules.from_checker(self.checker)
        rules.known = self.report.scenarios  # filled in file order, as blocks are merged
        yield from self._blocks(source, rules)

    def _blocks(self, source: _Source, rules: _Rules) -> Iterator[Event]:
        queue: list[tuple[bytes | bytearray, int, Future[int], Future[BlockOutcome]]] = []
        line: Future[int] = Future()  # where the next block starts: the header is line 1
        line.set_result(2)
        reading = True
        more = (rules, self.checker, self.want_rows)
        pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="hrupload-check")
        try:
            while True:
                while reading and len(queue) < IN_FLIGHT:
                    cut = source.next_block()
                    if cut is None:  # no record boundary in a whole block: the reference
                        reading = False
                        queue.append((b"", 0, line, _failed()))
                        break
                    buf, size, final = cut
                    then: Future[int] = Future()
                    job = pool.submit(_job, [buf], size, final, line, then, *more)
                    queue.append((buf, size, line, job))
                    line = then
                    reading = not final
                if not queue:
                    return
                buf, size, starts_at, job = queue.pop(0)
                try:
                    outcome = job.result()
                except _Unfinished as unfinished:
                    if unfinished.at:  # cut it before that record; what follows is cut again
                        for *_, other in queue:
                            other.cancel()
                        tail = [buf[unfinished.at : size], *(b[:n] for b, n, _, _ in queue)]
                        source.pending = bytearray(b"".join([*tail, source.pending]))
                        queue.clear()
                        line = Future()
                        job = pool.submit(_job, [buf], unfinished.at, False, starts_at, line, *more)
                        queue.append((buf, unfinished.at, starts_at, job))
                        reading = True
                        continue
                    outcome = None  # one record over the whole block: the reference
                except (_NotExact, pa.ArrowException, csv.Error):  # the reference decides
                    outcome = None
                if outcome is None:
                    for *_, other in queue:
                        other.cancel()
                    rest = b"".join([buf[:size], *(b[:n] for b, n, _, _ in queue)])
                    queue.clear()
                    self.path = "mixed"
                    yield from self._reference(source, rest, starts_at.result())
                    return
                source.vouch(size, outcome.newlines)
                del buf
                yield outcome
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            _POOL.release_unused()  # what the report is made into next need not stack on it

    def _reference(
        self, source: _Source, head: bytes, first_line: int, *, header: bool = False
    ) -> Iterator[Checked]:
        """The reference reader from ``first_line`` on: ``head``, what the source holds, and
        the rest of the stream."""
        source.hand_over(head)
        rest = _Chain(head + source.pending, source)
        source.pending = b""
        reader = csvread.records(rest, "utf-8", first_line=first_line)  # type: ignore[arg-type]
        if header:
            self.checker = start_checker(self, next(reader, None))
            if self.checker is None:
                source.drain()
                return
        assert self.checker is not None
        check = self.checker.check
        for record in reader:
            yield check(record)


#: RE2 repeats a group at most 1000 times: a line of more fields cannot be proven by one
#: expression (the reference reads such files).
_MAX_WIDTH = 1000


def _fits(checker: Checker) -> bool:
    """Can this engine read the file? A header of one field (every line is a record), or
    wider than one expression can prove, is the reference's."""
    return 2 <= checker.width <= _MAX_WIDTH


def _failed() -> Future[BlockOutcome]:
    job: Future[BlockOutcome] = Future()
    job.set_exception(_NotExact("no record boundary in a whole block"))
    return job


def _one_record(line: bytes | bytearray) -> bool:
    """Does this first line hold the whole header, read as the csv module reads it?"""
    if b'"' not in line:
        return True
    end = len(line) - 1 if line.endswith(b"\n") else len(line)
    return _RECORD_RE.fullmatch(line, 0, end) is not None


# -- what callers use ------------------------------------------------------------------------


def apply(report: Report, event: Event, scenarios: list[str]) -> None:
    """Count one event into the report exactly as the reference counts its rows: the rows
    the checker decided one by one, each scenario met in file order, then the block's
    proven rows."""
    if isinstance(event, Checked):
        _count(report, event)
        return
    pending = sorted(event.first_seen)
    i = 0
    for r, row in event.checked:
        while i < len(pending) and pending[i][0] < r:
            report.see(pending[i][1])
            i += 1
        _count(report, row)
    for _, name in pending[i:]:
        report.see(name)
    for name, count in zip(scenarios, event.counts, strict=True):
        if count:
            report.add_valid(name, count)


def _count(report: Report, row: Checked) -> None:
    if row.blank:
        report.add_blank()
    else:
        report.add_row(row.scenario, row.errors)


def run_report(run: FastRun) -> None:
    """Fill ``run.report`` (no rows kept)."""
    for event in run.events():
        apply(run.report, event, _scenario_names(run))


def _scenario_names(run: FastRun) -> list[str]:
    return list(run.checker.plans) if run.checker is not None else []


def run_chunks(run: FastRun, size: int, max_bytes: int | None = None) -> Iterator[Chunk | Checked]:
    """Upload chunks of ``size`` valid rows (and at most ``max_bytes``, the header line
    included) and the rejected rows, in file order: the chunks ``ChunkBuilder`` makes."""
    run.want_rows = True
    header = b""
    parts: list[bytes | memoryview] = []
    count = 0
    held = 0  # bytes of the rows in ``parts``

    def rows(data: bytes, ends: list[int]) -> Iterator[Chunk]:
        nonlocal parts, count, held
        view, i, offset = memoryview(data), 0, 0
        while i < len(ends):
            take = min(size - count, len(ends) - i)
            full = count + take == size
            if max_bytes is not None:
                # the rows that fit beside the header and those held: ends only grow
                room = offset + max_bytes - len(header) - held
                fit = bisect.bisect_right(ends, room, i, i + take) - i
                if fit < take:
                    full = True
                    if fit == 0 and count:  # the next row starts the next chunk
                        yield Chunk(header + b"".join(parts), count)
                        parts, count, held = [], 0, 0
                        continue
                    take = max(fit, 1)  # a row too large goes alone (ChunkBuilder's way)
            end = ends[i + take - 1]
            parts.append(view[offset:end])
            held += end - offset
            offset = end
            i += take
            count += take
            if full:
                yield Chunk(header + b"".join(parts), count)
                parts, count, held = [], 0, 0

    for event in run.events():
        if not header:
            header = csv_line(run.report.header).encode("utf-8")
        apply(run.report, event, _scenario_names(run))
        if isinstance(event, Checked):
            if event.blank:
                continue
            if event.valid:
                line = csv_line(event.fields).encode("utf-8")
                yield from rows(line, [len(line)])
            else:
                yield event
            continue
        for _, row in event.checked:
            if not row.valid and not row.blank:
                yield row
        assert event.rows is not None and event.row_ends is not None
        yield from rows(event.rows, event.row_ends)
    if count:
        yield Chunk(header + b"".join(parts), count)


def validate_fused(
    open_stream: Callable[[], BinaryIO],
    report: Report,
    *,
    profile: Profile,
    scenario: str | None,
    fallback_scenario: str | None,
    max_bytes: int | None,
    fingerprint: bool = True,
    max_chunk_bytes: int | None = None,
) -> tuple[Report, FileFacts | None]:
    """Scan and validate in one read of the file (hashing it unless ``fingerprint`` is
    false): the report, and the file's facts when it was only scanned (an encoding this
    engine leaves to the reference, which then reads it).

    A file-level problem the scan finds wins over anything read before it, as when the scan
    runs first: the rows are dropped and the report holds only the file error.
    """
    try:
        with open_stream() as stream:
            scanner = Scanner(
                max_bytes=max_bytes, fingerprint=fingerprint, dialect=profile.dialect()
            )
            run = FastRun(
                stream,
                None,
                report,
                profile,
                scenario,
                fallback_scenario,
                scanner,
                max_chunk_bytes=max_chunk_bytes,
            )
            run_report(run)
            facts = scanner.finish()
    except FileProblem as problem:
        fresh = Report(file=report.file)
        fresh.file_error = problem.error
        return fresh, None
    report.note(facts)
    return report, (facts if run.path == "unsupported" else None)
