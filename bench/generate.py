"""A large multi-scenario HR file for the benchmark, made deterministically from a seed.

It looks like a real export of Microsoft's multi-scenario layout: all four event scenarios,
ISO 8601 dates with seven fraction digits and mixed offsets, remarks of up to 200 characters
with commas and quotes (so many fields are quoted), and a small share of what real files
hold too: rows short of trailing commas, rows with mistakes, a few blank lines and
remarks written over two lines.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
from pathlib import Path

HEADER = [
    "HRScenario",
    "EmailAddress",
    "ResignationDate",
    "LastWorkingDate",
    "EffectiveDate",
    "Remarks",
    "Rating",
    "OldLevel",
    "NewLevel",
]
_WORDS = (
    *("met", "expectations", "exceeded", "goals", "delivery", "team", "project", "customer"),
    *("quarter", "review", "feedback", "growth", "leadership", "ownership", "communication"),
    *("conflict", "improvement", "plan", "training", "coaching", "mentoring", "deadline"),
    *("quality", "scope", "budget", "stakeholder", "release"),
)
_PHRASES = ('"exceeds"', '"needs work"', "on track,", "late,", "see notes;", "Müller's team")
_FIRST = ("sara", "pilar", "alex", "megan", "ilse", "marta", "joni", "lee", "nestor", "diego")
_LAST = ("davis", "perez", "wilber", "bowen", "vandermeer", "ortiz", "sherman", "gu", "wilke")
_OFFSETS = ("+05:30", "Z", "-08:00", "", "+01:00", "-03:30", "+14:00")
_RATINGS = ("1 Unsatisfactory", "2 Below expectations", "3 Meets", "4 Exceeds", "5 Outstanding")
_LEVELS = ("Level 58 Engineer", "Level 60 Manager", "Level 61 Sr. Manager", "Level 62 Director")


class _Rows:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def date(self) -> str:
        r = self.rng
        return (
            f"{r.randrange(2015, 2027)}-{r.randrange(1, 13):02d}-{r.randrange(1, 29):02d}"
            f"T{r.randrange(24):02d}:{r.randrange(60):02d}:{r.randrange(60):02d}"
            f".{r.randrange(10_000_000):07d}{r.choice(_OFFSETS)}"
        )

    def email(self, i: int) -> str:
        r = self.rng
        return f"{r.choice(_FIRST)}.{r.choice(_LAST)}{i}@contoso.onmicrosoft.com"

    def remarks(self) -> str:
        r = self.rng
        words: list[str] = []
        limit = r.randrange(100, 201)
        while True:
            word = r.choice(_PHRASES) if r.random() < 0.15 else r.choice(_WORDS)
            if len(" ".join([*words, word])) > limit:
                break
            words.append(word)
        text = " ".join(words).capitalize()
        if r.random() < 0.001:  # written over two lines in the HR system
            text = text[: len(text) // 2] + "\n" + text[len(text) // 2 :]
        return text

    def row(self, i: int) -> list[str]:
        r = self.rng
        kind = r.randrange(4)
        email = self.email(i)
        if kind == 0:
            row = ["Resignation", email, self.date(), self.date(), "", "", "", "", ""]
        elif kind == 1:
            row = ["Job level change", email, "", "", self.date(), self.remarks(), ""]
            row += list(r.sample(_LEVELS, 2))
        elif kind == 2:
            row = ["Performance review", email, "", "", self.date(), self.remarks()]
            row += [r.choice(_RATINGS), "", ""]
        else:
            row = ["Performance improvement plan", email, "", "", self.date(), self.remarks()]
            row += [r.choice(_RATINGS), "", ""]
        self._mistakes(row)
        if r.random() < 0.05:  # Microsoft's samples leave trailing empty fields out
            while len(row) > 2 and row[-1] == "":
                row.pop()
        return row

    def _mistakes(self, row: list[str]) -> None:
        r = self.rng
        roll = r.random()
        if roll < 0.002:
            row[1] = row[1].replace("@", " at ")
        elif roll < 0.004:
            row[4 if row[4] else 2] = "2019-02-30T10:00:00.0000000Z"
        elif roll < 0.005:
            row[5] = "x" * 201 if row[5] else row[5]
        elif roll < 0.006:
            row[0] = "Promotion"


def generate(path: Path, rows: int, *, seed: int = 7) -> Path:
    """Write ``rows`` data rows (plus a header and a few blank lines) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    maker = _Rows(seed)
    with path.open("w", encoding="utf-8", newline="") as out:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(HEADER)
        for i in range(rows):
            writer.writerow(maker.row(i))
            if maker.rng.random() < 0.0001:
                buffer.write("\r\n")
            if buffer.tell() > 1 << 20:
                out.write(buffer.getvalue())
                buffer.seek(0)
                buffer.truncate()
        out.write(buffer.getvalue())
    return path


def generate_wide(path: Path, columns: int, size_bytes: int) -> Path:
    """A header of ``columns`` columns (Microsoft's resignation ones first) and short valid
    rows up to ``size_bytes``: every row is padded to the header's width on the way out.

    200,000 columns in 2 MB is the file that once made ``process`` peak at 5 GB; 1,024
    columns (the cap) at the size limit is the widest file that is read, and the one whose
    padded rows are longest.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ["EmailAddress", "ResignationDate", "LastWorkingDate"]
    header += [f"c{i}" for i in range(columns - len(header))]
    rows = _Rows(11)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(header) + "\r\n")
        written, i, lines = out.tell(), 0, []
        while True:
            line = f"{rows.email(i)},{rows.date()},{rows.date()}\r\n"
            if written + len(line) > size_bytes:  # at the limit, never over it
                break
            lines.append(line)
            written += len(line)
            i += 1
            if len(lines) >= 10_000:
                out.write("".join(lines))
                lines.clear()
        out.write("".join(lines))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    generate(args.path, args.rows, seed=args.seed)


if __name__ == "__main__":
    main()
