"""Reading: encodings, NUL bytes, the fingerprint, and records with the line they start on."""

from __future__ import annotations

import codecs
import hashlib
import io

import pytest

from hrupload.core import csvread
from hrupload.core.dialect import ENCODING_FIELD, Dialect
from hrupload.core.report import FileProblem


def scan(data: bytes, **kwargs) -> csvread.FileFacts:
    return csvread.scan(io.BytesIO(data), **kwargs)


def scan_problem(data: bytes, **kwargs) -> FileProblem:
    with pytest.raises(FileProblem) as caught:
        scan(data, **kwargs)
    return caught.value


def records(data: bytes, encoding: str = "utf-8", delimiter: str = ",") -> list[csvread.Record]:
    return list(csvread.records(io.BytesIO(data), encoding, delimiter=delimiter))


TEXT = "EmailAddress,Remarks\nsarad@contoso.com,Café – naïve\n"


# -- scan: encodings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
        (codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), "utf-16"),
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-le", "utf-16-be"],
)
def test_accepted_encodings_decode_to_the_same_records(data: bytes, encoding: str) -> None:
    facts = scan(data)
    assert facts.encoding == encoding
    assert facts.size == len(data)
    assert facts.sha256 == hashlib.sha256(data).hexdigest()
    assert [r.fields for r in records(data, facts.encoding)] == [
        ["EmailAddress", "Remarks"],
        ["sarad@contoso.com", "Café – naïve"],
    ]


@pytest.mark.parametrize("bom", [codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE])
def test_utf32_is_refused_by_name(bom: bytes) -> None:
    problem = scan_problem(bom + "a,b\n".encode("utf-32-le" if bom[0] else "utf-32-be"))
    assert problem.error.code == "unsupported-encoding"
    assert "UTF-32" in problem.error.message


def test_latin1_says_where_the_first_bad_byte_is() -> None:
    data = "EmailAddress,Remarks\na@contoso.com,ok\nb@contoso.com,Café\n".encode("latin-1")
    problem = scan_problem(data)
    assert problem.error.code == "not-utf8"
    message = problem.error.message
    assert "not UTF-8 or UTF-16" in message
    offset = data.index(b"\xe9")
    assert f"0xE9 at offset {offset}" in message
    assert "(line 3)" in message


def test_bad_byte_after_a_character_split_across_blocks_is_located_exactly() -> None:
    # "é" straddles the 1 MiB read boundary, so the decoder holds its first byte back and
    # reports the bad byte relative to that held-back byte.
    prefix = b"a," + b"x" * (csvread.BLOCK - 3) + b"\n"
    assert len(prefix) == csvread.BLOCK
    prefix = prefix[:-2] + b"\n\xc3"
    data = prefix + b"\xa9\xff\n"
    problem = scan_problem(data)
    offset = data.index(b"\xff")
    assert f"0xFF at offset {offset}" in problem.error.message
    assert "(line 2)" in problem.error.message


def test_file_ending_inside_a_character_says_truncated() -> None:
    problem = scan_problem(b"EmailAddress\na@contoso.com,\xe2\x82")
    assert problem.error.code == "not-utf8"
    assert "ends in the middle of a character" in problem.error.message
    assert "offset 27" in problem.error.message
    assert "line 2" in problem.error.message
    assert "0x" not in problem.error.message


def test_utf16_without_bom_is_not_mistaken_for_text() -> None:
    problem = scan_problem("EmailAddress\n".encode("utf-16-le"))
    assert problem.error.code == "binary-file"


def test_nul_bytes_give_the_line() -> None:
    problem = scan_problem(b"EmailAddress\na@contoso.com\nb\x00c\n")
    assert problem.error.code == "binary-file"
    assert "NUL" in problem.error.message
    assert "line 3" in problem.error.message


def test_empty_file() -> None:
    assert scan_problem(b"").error.code == "empty-file"


def test_max_bytes_stops_the_scan() -> None:
    data = b"a\n" * (csvread.BLOCK)  # 2 MiB
    assert scan_problem(data, max_bytes=csvread.BLOCK).error.code == "file-too-large"
    assert scan(data, max_bytes=len(data)).size == len(data)


def test_check_size() -> None:
    csvread.check_size(10, 10)
    with pytest.raises(FileProblem) as caught:
        csvread.check_size(11 << 20, 10 << 20)
    assert caught.value.error.code == "file-too-large"
    assert "10 MB" in caught.value.error.message


# -- records ----------------------------------------------------------------------------


def test_records_carry_the_physical_line_they_start_on() -> None:
    data = b'h1,h2\r\na,"two\r\nlines"\r\n\r\nb,"three\nmore\nlines"\nc,d\n'
    got = [(r.line, r.fields) for r in records(data)]
    assert got == [
        (1, ["h1", "h2"]),
        (2, ["a", "two\r\nlines"]),
        (4, []),
        (5, ["b", "three\nmore\nlines"]),
        (8, ["c", "d"]),
    ]


def test_cr_only_line_ends() -> None:
    got = [(r.line, r.fields) for r in records(b'h1,h2\ra,b\r\r"x\ry",z\rc,d')]
    assert got == [(1, ["h1", "h2"]), (2, ["a", "b"]), (3, []), (4, ["x\ry", "z"]), (6, ["c", "d"])]


def test_unbalanced_quote_at_the_end() -> None:
    got = records(b'h1,h2\na,b\n"c,d\ne,f\n')
    assert [r.line for r in got] == [1, 2, 3]
    assert got[2].fields == []
    assert "unbalanced quote" in got[2].problem


def test_stray_quote_is_reported_and_reading_goes_on() -> None:
    got = records(b'h1,h2\n"a"b,c\nd,e\n')
    assert got[1].line == 2
    assert "stray quote" in got[1].problem
    assert (got[2].line, got[2].fields, got[2].problem) == (3, ["d", "e"], None)


def test_oversized_field_is_reported_and_reading_resumes_on_the_next_line() -> None:
    # No closing quote: after the error, the swallowed lines are read as records again.
    data = b"h1,h2\n" + b'"' + b"x\n" * (csvread.FIELD_LIMIT // 2 + 1) + b"last,row\n"
    got = records(data)
    assert "longer than 1024 KiB" in got[1].problem
    assert got[1].line == 2
    assert got[-1].fields == ["last", "row"]
    assert got[-1].line == data.count(b"\n")


def test_a_line_past_the_limit_is_rejected_and_the_next_line_read() -> None:
    data = b"h1,h2\n" + b"x," * (csvread.LINE_LIMIT // 2 + 10) + b"\nlast,row\n"
    got = records(data)
    assert [r.line for r in got] == [1, 2, 3]
    assert "longer than 4 MiB" in got[1].problem
    assert got[1].fields == []
    assert got[2].fields == ["last", "row"]


def test_a_line_just_under_the_limit_is_read_whole() -> None:
    long = "y" * (csvread.FIELD_LIMIT - 10)
    line = ",".join([long] * 3)
    assert len(line) + 1 < csvread.LINE_LIMIT
    got = records(f"a,b,c\n{line}\n".encode())
    assert got[1].problem is None
    assert got[1].fields == [long] * 3


def test_records_leave_the_callers_stream_open() -> None:
    stream = io.BytesIO(b"h\nv\n")
    reader = csvread.records(stream, "utf-8")
    assert [r.fields for r in reader] == [["h"], ["v"]]
    del reader
    assert not stream.closed


def test_a_record_of_many_short_quoted_lines_is_cut_at_the_record_limit() -> None:
    """Many quoted values of one line break each: no line is long, the record would be."""
    data = b"a,b\n" + b'"x\n",' * (csvread.RECORD_LIMIT // 3) + b'"y"\nc,d\n'
    got = csvread.records(io.BytesIO(data), "utf-8")
    assert next(got).fields == ["a", "b"]
    cut = next(got)
    assert (cut.line, cut.fields) == (2, []) and "longer than 4 MiB" in (cut.problem or "")
    assert list(got)[-1].fields == ["c", "d"]  # reading goes on


# -- scan: the dialect (a legacy encoding by choice, the delimiter) ----------------------------

EUROPE = "EmailAddress;EmployeeLastName\r\njonas@contoso.com;Müller\r\nines@contoso.com;García\r\n"


def test_a_legacy_encoding_by_choice_reads_what_utf8_refuses() -> None:
    data = EUROPE.encode("cp1252")
    assert scan_problem(data).error.code == "not-utf8"
    facts = scan(data, dialect=Dialect(encoding="cp1252"))
    assert (facts.encoding, facts.delimiter) == ("cp1252", ";")
    fields = [r.fields for r in records(data, "cp1252", delimiter=";")]
    assert fields[1:] == [["jonas@contoso.com", "Müller"], ["ines@contoso.com", "García"]]


def test_the_utf8_message_names_the_encoding_option() -> None:
    message = scan_problem(EUROPE.encode("cp1252")).error.message
    assert "line 2" in message
    assert 'set the profile\'s "encoding" (or --encoding cp1252)' in message


def test_a_chosen_encoding_that_does_not_decode_names_it_and_its_option() -> None:
    data = b"EmailAddress;Remarks\r\na@contoso.com;ok\r\nb@contoso.com;\x81\r\n"  # undefined
    problem = scan_problem(data, dialect=Dialect(encoding="cp1252"))
    assert problem.error.code == "undecodable"
    message = problem.error.message
    assert "not valid cp1252" in message and "0x81" in message and "(line 3)" in message
    assert ENCODING_FIELD in message


@pytest.mark.parametrize(
    ("bom", "codec", "read_as"),
    [(codecs.BOM_UTF8, "utf-8", "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16")],
)
def test_a_byte_order_mark_wins_over_a_chosen_encoding(
    bom: bytes, codec: str, read_as: str
) -> None:
    data = bom + EUROPE.encode(codec)
    facts = scan(data, dialect=Dialect(encoding="cp1252"))
    assert facts.encoding == read_as
    assert records(data, facts.encoding, delimiter=facts.delimiter)[1].fields[1] == "Müller"


def test_a_bad_byte_under_a_mark_that_overrode_the_choice_is_the_marks_problem() -> None:
    data = codecs.BOM_UTF8 + b"EmailAddress;Remarks\r\na@contoso.com;\xff\r\n"
    problem = scan_problem(data, dialect=Dialect(encoding="cp1252"))
    assert problem.error.code == "not-utf8"  # the file says it is UTF-8: cp1252 is not why


def test_utf16_by_choice_reads_a_file_without_a_mark() -> None:
    data = EUROPE.replace(";", "\t").encode("utf-16-be")
    facts = scan(data, dialect=Dialect(encoding="utf-16-be"))
    assert (facts.encoding, facts.delimiter) == ("utf-16-be", "\t")


def test_excel_unicode_text_is_utf16_with_tabs() -> None:
    data = codecs.BOM_UTF16_LE + EUROPE.replace(";", "\t").encode("utf-16-le")
    facts = scan(data)
    assert (facts.encoding, facts.delimiter) == ("utf-16", "\t")
    assert records(data, "utf-16", delimiter="\t")[1].fields == ["jonas@contoso.com", "Müller"]


def test_a_named_delimiter_skips_the_detection() -> None:
    data = b"Name,Town;Zip\r\na,b;c\r\n"
    assert scan_problem(data).error.code == "ambiguous-delimiter"
    assert scan(data, dialect=Dialect(delimiter=";")).delimiter == ";"
    assert [r.fields for r in records(data, "utf-8", delimiter=";")][1] == ["a,b", "c"]


def test_the_header_is_found_across_reads_and_without_a_line_break() -> None:
    class Trickle(io.BytesIO):  # a stream that returns a few bytes a read
        def read(self, size: int = -1) -> bytes:
            return super().read(min(size, 5) if size > 0 else 5)

    data = EUROPE.encode()
    facts = csvread.scan(Trickle(data))  # type: ignore[arg-type]
    assert facts.delimiter == ";"
    assert scan(b"EmailAddress|EmployeeLastName").delimiter == "|"


def test_a_problem_decoding_wins_over_a_header_that_leaves_the_delimiter_open() -> None:
    # a binary file's first "line" holds every candidate: its bytes are what is wrong
    data = b"\x1f\x8b,;\t|" + bytes(range(128, 256)) + b"\n"
    assert scan_problem(data).error.code == "not-utf8"
    assert scan_problem(b"a,b;c\n\x00\n").error.code == "binary-file"
