"""The native engine (hrupload.core.fastcheck) against the reference engine, on everything.

The fast path may only ever be faster: for every input the two give the same report
(``Report.to_dict()``), the same upload chunks (the valid rows' bytes and the chunk
boundaries) and the same rejected rows (line, fields as read, errors). Each case runs with
tiny blocks too, so block boundaries fall everywhere: inside quoted newlines, next to a
stray quote, between a CR and its LF.
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.generate import generate
from hrupload.core import csvread, fastcheck
from hrupload.core.checker import Checked
from hrupload.core.csvwrite import Chunk, ChunkBuilder
from hrupload.core.profile import DEFAULT_PROFILE, Profile, load_profile, parse_profile
from hrupload.core.report import Report
from hrupload.core.validate import Validation, new_report, scenario_from_name, validate_stream
from tests.core.test_csvread import TEXT
from tests.core.test_properties import MULTI as PROP_MULTI
from tests.core.test_properties import (
    PROPERTY,
    US_DATE,
    good_emails,
    good_iso_dates,
    render,
    rows_for,
)
from tests.core.test_properties import SINGLE as PROP_SINGLE
from tests.core.test_validate import (
    CORPUS,
    D1,
    D2,
    MS_PROFILE,
    MULTI,
    RESIGNATION,
    REVIEW,
    SAMPLE_CASES,
    lines,
)

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
#: Block sizes: the engine's own, and small ones that cut files into many blocks.
BLOCKS = [fastcheck.BLOCK_BYTES, 64, 173]
CHUNK_SIZES = [1, 3, 5000]


def report_of(data: bytes, engine: str, **kwargs) -> dict:
    report = validate_stream(lambda: io.BytesIO(data), name="t.csv", engine=engine, **kwargs)
    return report.to_dict()


def upload_of(data: bytes, size: int, engine: str, **kwargs) -> tuple[dict, list, list]:
    """What an upload sees: the report, the chunks, and the rejected rows, in order."""
    report = new_report("t.csv")
    try:  # as delivery scans: with the profile's encoding and delimiter
        facts = csvread.scan(
            io.BytesIO(data), dialect=kwargs.get("profile", DEFAULT_PROFILE).dialect()
        )
    except Exception as problem:  # a file error: nothing to chunk
        return {"error": str(problem)}, [], []
    validation = Validation(io.BytesIO(data), facts, report, **kwargs)
    chunks, rejected = [], []
    for item in validation.chunked(size, engine=engine):
        if isinstance(item, Chunk):
            chunks.append((item.data, item.records))
        else:
            assert isinstance(item, Checked) and item.errors
            rejected.append((item.line, item.source, item.errors))
    return report.to_dict(), chunks, rejected


def assert_same(data: bytes, *, chunk_sizes=CHUNK_SIZES, **kwargs) -> None:
    expected = report_of(data, "reference", **kwargs)
    for block in BLOCKS:
        with _blocks(block):
            assert report_of(data, "auto", **kwargs) == expected, f"report, blocks of {block}"
            for size in chunk_sizes:
                want = upload_of(data, size, "reference", **kwargs)
                got = upload_of(data, size, "auto", **kwargs)
                assert got[0] == want[0], f"upload report, blocks of {block}, chunks of {size}"
                assert got[1] == want[1], f"chunks, blocks of {block}, chunks of {size}"
                assert got[2] == want[2], f"rejected rows, blocks of {block}, chunks of {size}"


class _blocks:
    def __init__(self, size: int) -> None:
        self.size = size

    def __enter__(self) -> None:
        self.saved = fastcheck.BLOCK_BYTES
        fastcheck.BLOCK_BYTES = self.size

    def __exit__(self, *exc: object) -> None:
        fastcheck.BLOCK_BYTES = self.saved


# -- the cases of tests/core/test_validate.py and tests/core/test_csvread.py ------------------

PIP = parse_profile({"scenarios": {"performance-improvement-plan": {}}})
TWO = parse_profile({"scenarios": {"resignation": {}, "performance-review": {}}})
MAPPED = parse_profile(
    {
        "scenarios": {
            "resignation": {
                "columns": {"EmailAddress": "Work Email", "ResignationDate": "Notice Date"}
            }
        }
    }
)
US = parse_profile(
    {"scenarios": {"resignation": {}}, "date_formats": ["%m/%d/%Y %H:%M", "%m/%d/%Y"]}
)
EVENTS = parse_profile(
    {
        "scenario_column": "Event",
        "scenarios": {
            "resignation": {"value": "Termination"},
            "performance-review": {"value": "Perf review"},
        },
    }
)
ISSUE = parse_profile(
    {
        "scenario_column": "HRScenario",
        "scenarios": {
            "resignation": {
                "value": "Resignation",
                "columns": {"EmailAddress": "Work Email", "ResignationDate": "Notice Date"},
            },
            "performance-review": {"value": "Perf review"},
        },
        "date_formats": ["%m/%d/%Y %H:%M"],
    }
)
ONLY_RESIGNATION = parse_profile({"scenarios": {"resignation": {}}})
EVENT_TYPE = parse_profile({"scenario_column": "Event Type"})
BOM16LE, BOM16BE = codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE
REVIEW_ROW = f"sarad@contoso.com,{D1},Très bien – ✓,"


def _length_rows(column: str) -> str:
    ok, over = (200, 201) if column == "Remarks" else (25, 26)
    bodies = []
    for value in ("  " + "é" * ok + "  ", "r" * over):
        remarks, rating = (value, "") if column == "Remarks" else ("", value)
        bodies.append(f'a@contoso.com,{D1},"{remarks}","{rating}"')
    return lines(REVIEW, *bodies)


CASES: dict[str, tuple[str | bytes, dict]] = {
    "inferred": (lines(RESIGNATION, f"sarad@contoso.com,{D1},{D2}"), {}),
    "ambiguous": (lines(REVIEW, f"sarad@contoso.com,{D1},,"), {}),
    "fits-nothing": (lines("Mail,When", "a@contoso.com,x"), {}),
    "microsoft-profile-names": (
        lines(
            MS_PROFILE,
            "jackq@contoso.com,jackq,jack,qualtz,50 Oakland Ave,#206,City,Florida,32104,,,",
            "sarad@contoso.com,sarad,Sara,Davis,,,Redmond,WA,98052,Finance,Regular,Analyst",
            "pilarp@contoso.com,,Pilar,Pinilla,1 Way",
        ),
        {},
    ),
    "date-shapes": (
        lines(
            RESIGNATION,
            f"a@contoso.com,4/23/2019,{D2}",
            "b@contoso.com,2019-04-23 10:00:00,2019-04-23T10:00",
            f"c@contoso.com,03/04/2019,{D1}",
            f"d@contoso.com,23.04.2019,{D1}",
        ),
        {},
    ),
    "ambiguous-dates": (
        lines(
            RESIGNATION,
            f"a@contoso.com,03/04/2019,{D2}",
            "b@contoso.com,23/04/2019,04/23/2019",
            f"c@contoso.com,04/04/2019,{D1}",
        ),
        {"profile": Profile(date_formats=("%m/%d/%Y", "%d/%m/%Y")), "scenario": "resignation"},
    ),
    "microsoft-termination-date": (
        lines("EmailAddress,TerminationDate,LastWorkingDate", f"a@contoso.com,{D1},{D2}", "b,x,"),
        {},
    ),
    "scenario-option": (
        lines(REVIEW, f"sarad@contoso.com,{D1},,"),
        {"scenario": "Performance_Review"},
    ),
    "unknown-scenario-option": (lines(REVIEW), {"scenario": "promotion"}),
    "profile-one": (lines(REVIEW, f"sarad@contoso.com,{D1},,"), {"profile": PIP}),
    "profile-two": (lines(REVIEW, f"sarad@contoso.com,{D1},,"), {"profile": TWO}),
    "file-name": (
        lines(REVIEW, f"sarad@contoso.com,{D1},,"),
        {"fallback_scenario": scenario_from_name("Performance Review.CSV")},
    ),
    "missing-column": (
        lines("EmailAddress,ResignationDate,Notes", f"a@contoso.com,{D1},x"),
        {"scenario": "resignation"},
    ),
    "header-spaces": (
        lines("EmailAddress, ResignationDate,LastWorkingDate"),
        {"scenario": "resignation"},
    ),
    "header-case": (lines("EMAILADDRESS,resignationdate,LastWorkingDATE", f"bad,{D1},{D2}"), {}),
    "profile-columns": (
        lines(
            "work email,NOTICE DATE,LastWorkingDate",
            f"sarad@contoso.com,{D1},{D2}",
            "x,y,",
            f",{D1},{D2}",
        ),
        {"profile": MAPPED},
    ),
    "profile-spaces": (lines("WorkEmail,ResignationDate,LastWorkingDate"), {"profile": MAPPED}),
    "date-formats": (
        lines(
            RESIGNATION, f"sarad@contoso.com, 11/02/2026 09:30 ,{D2}", "b@contoso.com,31/12/2026,"
        ),
        {"profile": US},
    ),
    "no-date-formats": (lines(RESIGNATION, f"a@contoso.com,11/02/2026,{D2}"), {}),
    "multi": (
        lines(
            MULTI,
            f"Resignation,a@contoso.com,{D1},{D2},,,",
            f" PERFORMANCE REVIEW ,b@contoso.com,,,{D1},fine,3",
            f"job level change,c@contoso.com,,,{D1},,",
        ),
        {},
    ),
    "unknown-scenario-values": (
        lines(MULTI, f"Promotion,a@contoso.com,{D1},{D2},,,", f",a@contoso.com,{D1},{D2},,,"),
        {},
    ),
    "profile-scenario-column": (
        lines(
            "event," + MULTI.split(",", 1)[1],
            f"termination,a@contoso.com,{D1},{D2},,,",
            f"Perf Review,b@contoso.com,,,{D1},,",
            f"Resignation,c@contoso.com,{D1},{D2},,,",
        ),
        {"profile": EVENTS},
    ),
    "issue-profile": (
        lines(
            "HRScenario,Work Email,Notice Date,LastWorkingDate,EmailAddress,EffectiveDate",
            f"Resignation,a@contoso.com,11/02/2026 09:30,{D2},,",
            f"perf review,,,,b@contoso.com,{D1}",
            f"Performance review,,,,b@contoso.com,{D1}",
        ),
        {"profile": ISSUE},
    ),
    "profile-missing-scenario-column": (lines(MULTI), {"profile": EVENT_TYPE}),
    "column-missing-for-one-scenario": (
        lines(
            "HRScenario,EmailAddress,ResignationDate,LastWorkingDate",
            f"Resignation,a@contoso.com,{D1},{D2}",
            "Performance review,b@contoso.com,,",
        ),
        {},
    ),
    "profile-single": (
        lines("HRScenario," + RESIGNATION, f"anything at all,a@contoso.com,{D1},{D2}"),
        {"profile": ONLY_RESIGNATION},
    ),
    "shift-hint": (lines(MULTI, f"Performance review,a@contoso.com,{D1},,,,"), {}),
    "no-shift-hint": (lines(MULTI, "Performance review,a@contoso.com,soon,,,,"), {}),
    "short-and-long": (
        lines(
            REVIEW,
            f"a@contoso.com,{D1}",
            f"b@contoso.com,{D1},fine,3,extra",
            f"c@contoso.com,{D1},fine,3,,",
        ),
        {"scenario": "performance-review"},
    ),
    "short-missing": (lines(RESIGNATION, "a@contoso.com"), {}),
    "unmapped": (
        lines(
            RESIGNATION + ",Employee Number,Notes",
            f"a@contoso.com,{D1},{D2},@@@ not-a-date,{'x' * 500}",
        ),
        {},
    ),
    "blank-rows": (
        lines(RESIGNATION, "", ",,", " , ,\t", ",,,,,,", '"",,', f"a@contoso.com,{D1},{D2}"),
        {},
    ),
    "remarks-length": (_length_rows("Remarks"), {"scenario": "performance-review"}),
    "rating-length": (_length_rows("Rating"), {"scenario": "performance-review"}),
    "email-length": (
        lines(
            RESIGNATION,
            f" {'a' * 242}@contoso.com ,{D1},{D2}",
            f"a{'a' * 242}@contoso.com,{D1},{D2}",
        ),
        {},
    ),
    "every-problem": (
        lines(REVIEW, f'sarad.contoso.com,2019-02-30T00:00:00,"{"x" * 201}","{"y" * 26}",z'),
        {"scenario": "performance-review"},
    ),
    "quoted-newlines": (
        lines(
            REVIEW,
            f'a@contoso.com,{D1},"three\nline\nremark",',
            "",
            f'bad,{D1},"two\r\nlines",',
            f"c@contoso.com,{D1},,",
        ),
        {"scenario": "performance-review"},
    ),
    "malformed": (
        lines(RESIGNATION, f'"a@contoso.com"x,{D1},{D2}', f"b@contoso.com,{D1},{D2}", '"open,'),
        {},
    ),
    "empty": (b"", {}),
    "bom-only": (b"\xef\xbb\xbf", {}),
    "blank-first-line": (b"\n\n" + RESIGNATION.encode(), {}),
    "empty-names": (b",,\n", {}),
    "broken-header": (b'"open\n', {}),
    "duplicate-header": (b"EmailAddress,emailaddress\n", {}),
    "duplicate-named": (b"Remarks,EmailAddress,REMARKS\n", {}),
    "unnamed-columns": (lines(RESIGNATION + ",,"), {}),
    "header-only": (lines(RESIGNATION), {}),
    "no-header-line": (lines(f"ilse.leak@contoso.com,{D1},{D2}"), {}),
    "utf-8-sig": (
        lines(REVIEW, REVIEW_ROW).encode("utf-8-sig"),
        {"scenario": "performance-review"},
    ),
    "utf-16": (lines(REVIEW, REVIEW_ROW).encode("utf-16"), {"scenario": "performance-review"}),
    "utf-16-le": (
        BOM16LE + lines(REVIEW, REVIEW_ROW).encode("utf-16-le"),
        {"scenario": "performance-review"},
    ),
    "utf-16-be": (
        BOM16BE + lines(REVIEW, REVIEW_ROW).encode("utf-16-be"),
        {"scenario": "performance-review"},
    ),
    "latin-1": (lines(REVIEW, f"a@contoso.com,{D1},Très bien,").encode("latin-1"), {}),
    "privacy": (
        lines(
            MULTI,
            f"Resignation,ilse.vandermeer@contoso,{D1},{D2},,,",
            f"Resignation,ilse vandermeer@contoso.com,13/45/2077,{D2},,,",
            f"Resignation,ilse@@contoso.com,{D1},,,,",
            f"Promotion Of Ilse,a@contoso.com,{D1},{D2},,,",
            f"Performance review,a@contoso.com,,,{D1},,{'Ilse Van Der Meer Senior' * 3}",
        ),
        {},
    ),
    # tests/core/test_csvread.py's record shapes, under a header the checker accepts
    "csvread-lines": (
        b'EmailAddress,EffectiveDate\r\na,"two\r\nlines"\r\n\r\nb,"three\nmore\nlines"\nc,d\n',
        {"scenario": "performance-review"},
    ),
    "csvread-cr-only": (
        b'EmailAddress,EffectiveDate\ra,b\r\r"x\ry",z\rc,d',
        {"scenario": "performance-review"},
    ),
    "csvread-unbalanced": (
        b'EmailAddress,EffectiveDate\na,b\n"c,d\ne,f\n',
        {"scenario": "performance-review"},
    ),
    "csvread-stray": (
        b'EmailAddress,EffectiveDate\n"a"b,c\nd,e\n',
        {"scenario": "performance-review"},
    ),
    "csvread-text": (TEXT.encode(), {"scenario": "performance-review"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_validate_cases(case: str) -> None:
    content, kwargs = CASES[case]
    assert_same(content.encode() if isinstance(content, str) else content, **kwargs)


@pytest.mark.parametrize(("name", "profile"), list(SAMPLE_CASES))
def test_samples(name: str, profile: str | None) -> None:
    prof = load_profile(SAMPLES / profile) if profile else DEFAULT_PROFILE
    assert_same(
        (SAMPLES / name).read_bytes(), profile=prof, fallback_scenario=scenario_from_name(name)
    )


def test_sample_with_a_long_remark() -> None:
    text = (SAMPLES / "performance-improvement-plan.csv").read_text()
    data = text.replace("Met expectation but bad attitude", "x" * 201).encode()
    assert_same(data, profile=load_profile(SAMPLES / "performance-improvement-plan.profile.json"))


@pytest.mark.parametrize("case", [c for c in CORPUS if len(CORPUS[c][0]) < (1 << 20)])
def test_bad_input_corpus(case: str) -> None:
    assert_same(CORPUS[case][0], chunk_sizes=[2])


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CORPUS if len(CORPUS[c][0]) >= (1 << 20)])
def test_bad_input_corpus_large(case: str) -> None:
    data = CORPUS[case][0]
    assert report_of(data, "auto") == report_of(data, "reference")
    assert upload_of(data, 5000, "auto") == upload_of(data, 5000, "reference")


# -- what the fast path has to get right on its own -------------------------------------------

HEADER = "HRScenario,EmailAddress,ResignationDate,LastWorkingDate,EffectiveDate,Remarks,Rating"
GOOD = f"Performance review,a@contoso.com,,,{D1},fine,3"

EDGES: dict[str, bytes] = {
    # Trouble well past the first block: the reference takes over from that block on.
    "stray-quote-late": lines(
        HEADER, *[GOOD] * 40, f'Resignation,"b@contoso.com"x,{D1},{D2},,,', *[GOOD] * 40
    ).encode(),
    "mid-field-quote-late": lines(
        HEADER, *[GOOD] * 40, f"Performance review,c@contoso.com,,,{D1},5'10\" tall,3", *[GOOD] * 40
    ).encode(),
    "bare-cr-late": (lines(HEADER, *[GOOD] * 40) + GOOD + "\r" + lines(*[GOOD] * 40)).encode(),
    "unclosed-quote-late": lines(
        HEADER, *[GOOD] * 40, 'Performance review,"d@contoso.com', *[GOOD] * 40
    ).encode(),
    "crlf": lines(HEADER, *[GOOD] * 30).replace("\n", "\r\n").encode(),
    "no-final-newline": lines(HEADER, *[GOOD] * 30).rstrip("\n").encode(),
    "final-crlf-blank-lines": (lines(HEADER, *[GOOD] * 30) + "\r\n\n\n").encode(),
    "quoted-header": lines(
        '"HRScenario","Email'
        + 'Address",ResignationDate,LastWorkingDate,EffectiveDate,"Remarks","Rating"',
        GOOD,
    ).encode(),
    "multi-line-header": b'"HR\nScenario",EmailAddress\nx,y\n',
    "header-stray-quote": b'HRScenario,"EmailAddress"x,EffectiveDate\nx,y,z\n',
    "header-mid-quote": b'HRScenario,Email"Address,"EffectiveDate\nx",y\n',
    "needless-quotes": lines(
        HEADER, *[f'"Performance review","a@contoso.com","","","{D1}","fine","3"'] * 20
    ).encode(),
    "escaped-quotes": lines(
        HEADER,
        *[f'Performance review,a@contoso.com,,,{D1},"a ""b"", c",3'] * 20,
        f'Job level change,b@contoso.com,,,{D1},"""x""",',
        f'Job level change,b@contoso.com,,,{D1},"""",',
        f'Job level change,b@contoso.com,,,{D1},"",',
    ).encode(),
    "empty-quoted-then-text": lines(
        HEADER, *[GOOD] * 10, f'Performance review,a@contoso.com,,,{D1},""x,3', *[GOOD] * 10
    ).encode(),
    "short-rows": lines(
        HEADER,
        *[f"Resignation,a{i}@contoso.com,{D1},{D2}" for i in range(30)],
        *[f'Performance review,b@contoso.com,,,{D1},"x, ""y"""' for _ in range(10)],
    ).encode(),
    "short-rows-with-needless-quotes": lines(
        HEADER, *[f'Resignation,"a@contoso.com",{D1},{D2}'] * 20
    ).encode(),
    "long-rows": lines(HEADER, *[GOOD + ",extra"] * 20).encode(),
    "spaces-around": lines(
        HEADER, *[f" Performance review , a@contoso.com ,,, {D1} , fine ,3"] * 20
    ).encode(),
    "whitespace-only-rows": lines(HEADER, *["   ", "\t", " , , ", GOOD] * 10).encode(),
    "unicode-values": lines(
        HEADER,
        *[f"Performance review,ünïcode@contoso.com,,,{D1},{'ü' * 120},{'é' * 13}"] * 10,
        *[f"Performance review,a@contoso.com,,,{D1},{'ü' * 101},3"] * 10,
    ).encode(),
    "unicode-scenario": lines(
        HEADER,
        *[
            "Reſignation,a@contoso.com,2019-04-23T15:18:02Z,2019-04-23T15:18:02Z,,,",
            "Job level \u212aange,a@contoso.com,,,2019-04-23T15:18:02Z,,",
        ]
        * 5,
    ).encode(),
    "dates-at-the-edges": lines(
        HEADER,
        *[
            f"Resignation,a@contoso.com,{d},{d},,,"
            for d in [
                "2000-02-29T00:00:00",
                "1900-02-29T00:00:00",
                "2100-02-29T23:59:59",
                "0000-01-01T00:00:00",
                "0001-01-01T00:00:00",
                "9999-12-31T23:59:59.9999999+14:00",
                "2019-04-31T10:00:00",
                "2019-12-31T24:00:00",
                "2019-01-01T00:00:60",
                "2019-01-01T00:00:00-14:59",
                "2019-01-01T00:00:00+15:00",
                "2019-01-01T00:00:00.",
                "2019-01-01T00:00:00.12345678",
                "2019-01-01T00:00:00z",
                "2019-01-01t00:00:00",
                "2019-1-01T00:00:00",
                "2004-02-29T12:00:00Z",
                "2400-02-29T12:00:00Z",
                "0400-02-29T12:00:00Z",
            ]
        ],
    ).encode(),
    "emails-at-the-edges": lines(
        HEADER,
        *[
            f"Resignation,{e},{D1},{D2},,,"
            for e in [
                "a@b.c",
                "a@b..c",
                "a@.b.c",
                "a@b.c.",
                "@b.c",
                "a@b",
                "a@@b.c",
                "a b@c.d",
                "a\tb@c.d",
                '"a"@b.c',
                "a,b@c.d",
                "ü@b.c",
                "a@ü.c",
                "x" * 240 + "@contoso.com",
                "x" * 243 + "@contoso.com",
                "a@b.c\u00a0",
                "a!#$%&'*+-/=?^_`{|}~@b-c.d",
            ]
        ],
    ).encode(),
    "empty-required": lines(
        HEADER, *["Resignation,,,,,,", "Resignation,a@contoso.com,,,,,"] * 5
    ).encode(),
    "control-characters": lines(
        HEADER, *[f"Performance review,a@contoso.com,,,{D1},\x1cfine\x1f,\x0b3"] * 5
    ).encode(),
    # Addresses that match nobody: every engine rejects them, naming the code point.
    "invisible-in-emails": lines(
        HEADER,
        *[GOOD] * 20,
        *[
            f"Resignation,{e},{D1},{D2},,,"
            for e in [
                "a\u200b@contoso.com",  # zero-width space
                "\u202ea@contoso.com",  # right-to-left override
                "\ufeffa@contoso.com",  # BOM
                "a\u00ad@contoso.com",  # soft hyphen
                "a@contoso.com\u00a0",  # no-break space
                "a\x01@contoso.com",  # C0
                "a\x9f@contoso.com",  # C1
                "a\u2028@contoso.com",  # line separator
                "a\ue000@contoso.com",  # private use
                " a@contoso.com",
                "a@contoso.com ",
                "\ta@contoso.com",
            ]
        ],
        *[GOOD] * 20,
    ).encode(),
    # Scenario cells right but for case or spaces go out as the profile spells them.
    "scenario-spellings": lines(
        HEADER,
        *[GOOD] * 10,
        f" Performance review,a@contoso.com,,,{D1},fine,3",
        f"PERFORMANCE REVIEW,a@contoso.com,,,{D1},fine,3",
        f"performance review\u00a0,a@contoso.com,,,{D1},fine,3",
        f"Performance review\u200b,a@contoso.com,,,{D1},fine,3",
        *[GOOD] * 10,
    ).encode(),
    # Wider than RE2 repeats (1000) but under the cap: the reference reads it, padding too.
    "wide-header": lines(
        HEADER + "".join(f",c{i}" for i in range(1010)), *[GOOD] * 30, "x", ""
    ).encode(),
    "header-over-the-cap": lines(HEADER + "".join(f",c{i}" for i in range(1018)), GOOD).encode(),
    "header-at-the-cap": lines(HEADER + "".join(f",c{i}" for i in range(1017)), GOOD).encode(),
    # Tiny rows under a wide header: padded, a block would grow a thousandfold.
    "tiny-rows-wide-header": lines(
        HEADER + "".join(f",c{i}" for i in range(990)), *["x"] * 4000, GOOD
    ).encode(),
    # Headerless files: no header cell reaches a message (an address, names, zip codes).
    "headerless-profile": lines(
        "ilse@contoso.com,Ilse,Vandermeer,12 Leak Street,98052",
        "bo@contoso.com,Bo,Wilke,3 Leak Road,98053",
    ).encode(),
    "headerless-duplicate": lines("Ilse,Ilse,Leak,98052", "Bo,Bo,Leak,98053").encode(),
}


@pytest.mark.parametrize("case", list(EDGES))
def test_fast_path_edges(case: str) -> None:
    assert_same(EDGES[case])


@pytest.mark.parametrize("limit", [120, 400, 2000])
@pytest.mark.parametrize(
    "case", ["short-rows", "escaped-quotes", "unicode-values", "needless-quotes"]
)
def test_chunk_byte_limit_is_the_same_in_both_engines(case: str, limit: int) -> None:
    """Chunks end where ChunkBuilder ends them (by records or bytes, whichever comes first),
    and the rows too large for any chunk are rejected alike."""
    assert_same(EDGES[case], chunk_sizes=[3, 5000], max_chunk_bytes=limit)


def test_chunk_byte_limit_on_a_generated_file(tmp_path: Path) -> None:
    data = generate(tmp_path / "g.csv", 3000, seed=11).read_bytes()
    with _blocks(fastcheck.BLOCK_BYTES):
        _, chunks, rejected = upload_of(data, 5000, "auto", max_chunk_bytes=20_000)
    assert len(chunks) > 10 and all(len(c) <= 20_000 for c, _ in chunks)
    assert {e.code for *_, errors in rejected for e in errors} >= {"invalid-email"}
    assert_same(data, chunk_sizes=[50, 5000], max_chunk_bytes=20_000)


@pytest.mark.parametrize("profile", [DEFAULT_PROFILE, ISSUE, EVENTS])
def test_profiles_on_generated_files(tmp_path: Path, profile: Profile) -> None:
    path = generate(tmp_path / "g.csv", 600, seed=3)
    data = path.read_bytes()
    if profile is EVENTS:
        data = data.replace(b"HRScenario", b"Event", 1)
    assert_same(data, profile=profile, chunk_sizes=[7, 5000])


@pytest.mark.parametrize("seed", [1, 2])
def test_generated_file_reads_fast(tmp_path: Path, seed: int) -> None:
    """The benchmark's kind of file: identical results, and the fast path did the work."""
    data = generate(tmp_path / "g.csv", 3000, seed=seed).read_bytes()
    assert_same(data, chunk_sizes=[100, 5000])
    with _blocks(16 << 10):
        run = fastcheck.FastRun(
            io.BytesIO(data), "utf-8", new_report("t.csv"), DEFAULT_PROFILE, None, None
        )
        fastcheck.run_report(run)
    assert run.path == "fast"
    assert run.report.to_dict() == report_of(data, "reference") | {
        "bytes": 0,
        "sha256": None,
        "encoding": None,
        "delimiter": None,
    }


WIDE = "HRScenario,EmailAddress,ResignationDate,LastWorkingDate,EffectiveDate,Remarks"


@pytest.mark.parametrize(
    "row",
    [
        f"Resignation,a@contoso.com,{D1},{D2},,",  # every line whole: none for a second look
        f"Resignation,a@contoso.com,{D1},{D2}",  # every line short
        f'Resignation,a@contoso.com,{D1},{D2},,"a, b"',
    ],
)
def test_uniform_files_read_fast(row: str) -> None:
    """No block falls back to the reference for want of lines to look at again, or because
    all of them are."""
    data = lines(WIDE, *[row] * 4000).encode()
    assert_same(data, chunk_sizes=[333])
    with _blocks(16 << 10):
        run = fastcheck.FastRun(
            io.BytesIO(data), "utf-8", new_report("t.csv"), DEFAULT_PROFILE, None, None
        )
        fastcheck.run_report(run)
    assert run.path == "fast"
    assert run.report.valid == 4000


def test_chunks_are_what_chunkbuilder_writes(tmp_path: Path) -> None:
    """Byte for byte, including rows whose source quotes needlessly or is short."""
    data = generate(tmp_path / "g.csv", 1500, seed=5).read_bytes()
    data += lines(*[f'"Performance review","z@contoso.com","","","{D1}","ok",""'] * 3).encode()
    facts = csvread.scan(io.BytesIO(data))
    report = new_report("g.csv", facts)
    builder = None
    expected: list[bytes] = []
    for row in Validation(io.BytesIO(data), facts, report):
        builder = builder or ChunkBuilder(report.header, 250)
        if not row.errors:
            chunk = builder.add(row.fields)
            if chunk:
                expected.append(chunk)
    assert builder is not None
    expected.append(builder.flush() or b"")
    got = [
        c.data
        for c in Validation(io.BytesIO(data), facts, new_report("g.csv", facts)).chunked(250)
        if isinstance(c, Chunk)
    ]
    assert got == expected
    for chunk in got:  # and each is a complete CSV document
        rows = list(csv.reader(io.StringIO(chunk.decode(), newline="")))
        assert rows[0] == report.header


def test_scan_errors_win_over_rows_read_before_them() -> None:
    good = lines(HEADER, *[GOOD] * 5000).encode()
    for bad in (b"\xff", b"\x00"):
        data = good + bad + b"\n"
        for block in BLOCKS:
            with _blocks(block):
                assert report_of(data, "auto") == report_of(data, "reference")
    big = good * 3
    for limit in (len(good), 2 << 20):
        assert report_of(big, "auto", max_bytes=limit) == report_of(
            big, "reference", max_bytes=limit
        )


def test_a_bad_byte_near_the_size_limit_is_reported_as_the_scan_reports_it() -> None:
    """The engine reads ahead of what it has checked: whichever problem the scan meets
    first (it checks each read's text, then the size) is still the one reported."""
    row = GOOD + "\n"
    body = row * (5 * csvread.BLOCK // len(row))
    limit = 3 * csvread.BLOCK + 10  # the read [3 MiB, 4 MiB) goes over it
    for at in (2 * csvread.BLOCK, 3 * csvread.BLOCK + 100, 4 * csvread.BLOCK + 100):
        data = (HEADER + "\n" + body[:at] + "\xff" + body[at:]).encode("latin-1")
        auto, reference = (
            report_of(data, engine, max_bytes=limit) for engine in ("auto", "reference")
        )
        assert auto == reference
        expected = "file-too-large" if at > 4 * csvread.BLOCK else "not-utf8"
        assert auto["file_error"]["code"] == expected


def test_report_error_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from hrupload.core import report as report_module

    monkeypatch.setattr(report_module, "MAX_REPORT_ERRORS", 3)
    assert_same(lines(RESIGNATION, *[f"bad{i},{D1},{D2}" for i in range(50)]).encode())


# -- generated files (tests/core/test_properties.py's strategies) ----------------------------------

blocks = st.sampled_from([32, 97, 4096])


@PROPERTY
@given(
    rows=rows_for(PROP_SINGLE),
    newline=st.sampled_from(["\r\n", "\n", "\r"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig"]),
    block=blocks,
)
def test_single_scenario_files(rows, newline: str, encoding: str, block: int) -> None:
    text, _ = render(PROP_SINGLE, rows, newline)
    _same_quickly(text.encode(encoding), block)


@PROPERTY
@given(rows=rows_for(PROP_MULTI), newline=st.sampled_from(["\r\n", "\n"]), block=blocks)
def test_multi_scenario_files(rows, newline: str, block: int) -> None:
    text, _ = render(PROP_MULTI, rows, newline)
    _same_quickly(text.encode(), block)


@PROPERTY
@given(rows=rows_for(PROP_SINGLE), block=blocks)
def test_profile_date_formats(rows, block: int) -> None:
    profile = parse_profile({"scenarios": {"resignation": {}}, "date_formats": [US_DATE]})
    text, _ = render(PROP_SINGLE, rows, "\n")
    _same_quickly(text.encode(), block, profile=profile)


@PROPERTY
@given(
    body=st.lists(
        st.sampled_from([*'ab@,"\r\n \xe9', "2019-04-23T15:18:02Z", "Resignation"]), max_size=80
    ).map("".join),
    header=st.sampled_from([PROP_SINGLE, PROP_MULTI]),
    block=blocks,
)
def test_arbitrary_text_after_a_header(body: str, header: list[str], block: int) -> None:
    _same_quickly((",".join(header) + "\n" + body).encode(), block)


#: Text that keeps rows valid: commas, quotes, line breaks inside quotes, non-ASCII.
remarks = st.text(alphabet=' ab,"\nü–', max_size=12)
valid_rows = st.lists(
    st.tuples(good_emails, good_iso_dates, good_iso_dates, remarks, st.integers(1, 4)).map(
        lambda t: list(t[:4])[: 4 - (t[4] == 1)]  # now and then a short row
    ),
    min_size=1,
    max_size=40,
)


@PROPERTY
@given(rows=valid_rows, newline=st.sampled_from(["\r\n", "\n"]), block=st.sampled_from([97, 512]))
def test_mostly_valid_files(rows, newline: str, block: int) -> None:
    """Files the fast path reads itself (most rows valid), cut at every kind of place."""
    text, _ = render(PROP_SINGLE, rows, newline)
    _same_quickly(text.encode(), block)


def _same_quickly(data: bytes, block: int, **kwargs) -> None:
    with _blocks(block):
        assert report_of(data, "auto", **kwargs) == report_of(data, "reference", **kwargs)
        assert upload_of(data, 2, "auto", **kwargs) == upload_of(data, 2, "reference", **kwargs)


def _report_equal(a: Report, b: Report) -> bool:  # pragma: no cover - debugging aid
    return a.to_dict() == b.to_dict()


# -- other delimiters and encodings: the reference reads them, the chunks are the same ---------

EUROPE = load_profile(SAMPLES / "excel-semicolon-cp1252.profile.json")


@pytest.mark.parametrize(
    ("name", "profile"),
    [
        ("excel-semicolon-cp1252.csv", EUROPE),
        ("excel-semicolon-cp1252.csv", EUROPE.reading(delimiter=";")),
        ("excel-unicode-text.txt", DEFAULT_PROFILE),
        ("excel-unicode-text.txt", DEFAULT_PROFILE.reading(delimiter="tab")),
    ],
)
def test_excel_dialect_samples(name: str, profile: Profile) -> None:
    data = (SAMPLES / name).read_bytes()
    assert report_of(data, "auto", profile=profile)["file_error"] is None
    assert_same(data, profile=profile, chunk_sizes=[1, 5000])


def _rewritten(data: bytes, delimiter: str, encoding: str) -> bytes:
    """The same records written with another delimiter and encoding (as Excel would)."""
    rows = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    text = out.getvalue()
    return (
        (codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
        if encoding == "utf-16"
        else (text.encode(encoding))
    )


@pytest.mark.parametrize(
    ("delimiter", "encoding", "profile"),
    [
        (";", "utf-8", DEFAULT_PROFILE),
        (";", "cp1252", parse_profile({"encoding": "cp1252"})),
        ("\t", "utf-16", DEFAULT_PROFILE),
        ("|", "utf-8", parse_profile({"delimiter": "|"})),
    ],
    ids=["semicolon", "semicolon-cp1252", "unicode-text", "pipe"],
)
def test_a_file_in_another_dialect_makes_the_chunks_of_its_comma_utf8_twin(
    tmp_path: Path, delimiter: str, encoding: str, profile: Profile
) -> None:
    """What the connector receives does not depend on how the file was written: the
    reference reading a dialect sends the bytes the fast engine makes of the same records
    written as comma-separated UTF-8, and rejects the same rows."""
    data = generate(tmp_path / "g.csv", 800, seed=5).read_bytes()
    if encoding == "cp1252":  # what Windows-1252 can hold: the generator writes some CJK
        data = data.decode().encode("cp1252", "replace").decode("cp1252").encode()
    twin = _rewritten(data, delimiter, encoding)
    as_read = {"bytes", "sha256", "encoding", "delimiter"}
    original = report_of(data, "auto")
    other = report_of(twin, "auto", profile=profile)
    assert other["delimiter"] == delimiter and other["encoding"] != "utf-16-le"
    assert {k: v for k, v in other.items() if k not in as_read} == {
        k: v for k, v in original.items() if k not in as_read
    }
    assert original["rejected"] and original["valid"]
    for size in (7, 5000):
        _, want_chunks, want_rejected = upload_of(data, size, "auto")
        _, chunks, rejected = upload_of(twin, size, "auto", profile=profile)
        assert chunks == want_chunks
        assert rejected == want_rejected
