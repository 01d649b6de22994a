"""The error-code catalogue (core/report.py): every code raised is in it, every code in it
is raised, and the README lists each."""

from __future__ import annotations

import re
from pathlib import Path

from hrupload.core.report import FILE_CODES, ROW_CODES

ROOT = Path(__file__).resolve().parents[2]
#: A code literal as the first string argument of a problem, row error or file error.
_RAISED = re.compile(
    r'\b(?:Problem|RowError|FileProblem|FileError)\(\s*(?:[\w.]+,\s*){0,2}"([a-z0-9]+(?:-[a-z0-9]+)+)"'
)


#: A code chosen first and raised after: ``code, save = "not-utf8", ...``.
_CHOSEN = re.compile(r'\bcode(?:, \w+)? = \(?\s*"([a-z0-9]+(?:-[a-z0-9]+)*)"')


def raised() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / "hrupload").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for match in [*_RAISED.finditer(text), *_CHOSEN.finditer(text)]:
            found.setdefault(match.group(1), set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_code_raised_is_in_the_catalogue() -> None:
    found = raised()
    assert "invalid-date" in found and "not-utf8" in found  # the scan sees both layers
    missing = {code: where for code, where in found.items() if code not in FILE_CODES | ROW_CODES}
    assert not missing, f"add these to core/report.py's catalogue: {missing}"


def test_every_code_in_the_catalogue_is_raised() -> None:
    stale = set(FILE_CODES) | set(ROW_CODES)
    assert not stale - set(raised())


def test_the_readme_lists_every_code() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("### Error codes") :]
    for code in set(FILE_CODES) | set(ROW_CODES):
        assert f"`{code}`" in table, code
