"""The house rules, checked on the code itself (docs/architecture.md).

import-linter (run by ``make lint``) checks which layer may import which; the tests
here check what it cannot: the Function package a deployment builds, function size,
private names reached across modules, and imports that change the process.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pathspec
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hrupload"
#: About a screen: a longer function does more than one thing (STYLE.md).
MAX_FUNCTION_LINES = 60


#: The web page's templates and static files, shipped beside its code (package data).
WEB_DATA = ("templates", "static")
#: The package: these and nothing else at its top (everything else is in .funcignore).
PACKAGE_TOP = {"function_app.py", "host.json", "requirements.txt", "hrupload"}
#: Local files and folders that must never be deployed, as a developer's checkout has them.
NEVER_DEPLOYED = [
    "tests/test_x.py",
    "hrupload_dev/__init__.py",
    "hrupload/__pycache__/compose.cpython-311.pyc",
    "hrupload/core/__pycache__/csvread.cpython-311.pyc",
    "hrupload/core/stray.pyc",
    "hrupload.egg-info/PKG-INFO",
    ".azure/dev/.env",
    ".azurite/__azurite_db_blob__.json",
    "__azurite_db_queue__.json",
    "__blobstorage__/x",
    ".venv/bin/python",
    ".tools/checkov/bin/checkov",
    "node_modules/azurite/package.json",
    "local.settings.json",
    "test-output/screenshots/status-1280.png",
    ".python_packages/lib/site-packages/x.py",
    ".pytest_cache/v/cache",
    ".import_linter_cache/x.json",
]
#: ... of which these are made on a developer's machine, so .gitignore must cover them too.
LOCAL_ONLY = [p for p in NEVER_DEPLOYED if not p.startswith(("tests/", "hrupload_dev/"))]


def _ignore_spec(path: Path) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(path.read_text().splitlines())


def deployment_files(root: Path) -> set[str]:
    """The files `func azure functionapp publish` and `azd deploy` zip from ``root``: every
    file under it, as the checkout holds it, that ``.funcignore`` (gitignore rules) keeps."""
    spec = _ignore_spec(root / ".funcignore")
    files = set()
    for folder, dirs, names in os.walk(root):
        rel = Path(folder).relative_to(root).as_posix()
        prefix = "" if rel == "." else rel + "/"
        # A folder the rules exclude is not entered (git does the same): nothing in it ships.
        dirs[:] = [d for d in dirs if not spec.match_file(prefix + d + "/")]
        files.update(prefix + n for n in names if not spec.match_file(prefix + n))
    return files


def function_package() -> set[str]:
    return deployment_files(ROOT)


def test_the_function_package_holds_what_runs_and_nothing_else() -> None:
    files = function_package()
    assert {"function_app.py", "host.json", "requirements.txt"} <= files
    assert {f.split("/", 1)[0] for f in files} == PACKAGE_TOP
    shipped = {f for f in files if f.startswith("hrupload/")}
    web_files = {
        str(p.relative_to(ROOT))
        for folder in WEB_DATA
        for p in (PACKAGE / "web" / folder).iterdir()
        if p.is_file()
    }
    assert shipped == {str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")} | web_files
    assert (
        any(f.endswith(".html") for f in web_files) and "hrupload/web/static/style.css" in shipped
    )


def test_the_web_pages_files_are_package_data() -> None:
    """An installed hrupload (a wheel, not this checkout) has its templates and stylesheet."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = data["package-data"]["hrupload.web"]
    for folder in WEB_DATA:
        for path in (PACKAGE / "web" / folder).iterdir():
            rel = f"{folder}/{path.name}"
            assert any(fnmatch.fnmatch(rel, pattern) for pattern in patterns), rel


def test_funcignore_keeps_out_what_a_checkout_holds_besides_the_package(tmp_path: Path) -> None:
    """A checkout seeded with everything a developer's machine makes (venvs, caches, azd's and
    Azurite's state, the settings file with secrets): none of it reaches the package."""
    shutil.copy2(ROOT / ".funcignore", tmp_path / ".funcignore")
    for name in [*NEVER_DEPLOYED, "function_app.py", "host.json", "requirements.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    for name in ("hrupload/__init__.py", "hrupload/core/csvread.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert deployment_files(tmp_path) == {
        "function_app.py",
        "host.json",
        "requirements.txt",
        "hrupload/__init__.py",
        "hrupload/core/csvread.py",
    }


@pytest.mark.parametrize("path", LOCAL_ONLY)
def test_gitignore_covers_what_only_a_local_machine_makes(path: str) -> None:
    assert _ignore_spec(ROOT / ".gitignore").match_file(path), path


def test_the_function_package_starts_without_the_stand_ins(tmp_path: Path) -> None:
    """Copied alone, the package indexes both triggers and imports every module, with
    ``hrupload_dev`` made unimportable: nothing that runs in Azure needs the stand-ins."""
    for name in function_package():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    probe = """
import importlib, json, pkgutil, sys

class NoStandIns:
    def find_spec(self, name, path=None, target=None):
        if name == "hrupload_dev" or name.startswith("hrupload_dev."):
            raise ImportError("hrupload_dev is not deployed")

sys.meta_path.insert(0, NoStandIns())
import function_app, hrupload
names = [m.name for m in pkgutil.walk_packages(hrupload.__path__, "hrupload.")]
files = {n: importlib.import_module(n).__file__ for n in names}
print(json.dumps({"functions": [f.get_function_name() for f in function_app.app.get_functions()],
                  "files": files}))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(doc["functions"]) == ["daily_sweep", "process_incoming_blob", "web"]
    assert "hrupload.cli.main" in doc["files"] and "hrupload.compose" in doc["files"]
    for module, file in doc["files"].items():
        assert Path(file).resolve().is_relative_to(tmp_path.resolve()), module


def _sources() -> list[Path]:
    return [*sorted(PACKAGE.rglob("*.py")), ROOT / "function_app.py"]


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    first = body[0]
    docstring = (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )
    start = (first.end_lineno or first.lineno) + 1 if docstring and len(body) > 1 else first.lineno
    return (node.end_lineno or node.lineno) - start + 1


def test_no_function_is_longer_than_a_screen() -> None:
    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({_body_lines(node)} lines)"
        for path in _sources()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and _body_lines(node) > MAX_FUNCTION_LINES
    ]
    assert not long, "split these: " + "; ".join(long)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_reaches(path: Path) -> list[str]:
    """``from hrupload.x import _y``, and ``x._y`` on a module imported from hrupload."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules: set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hrupload"):
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {alias.name}")
                modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            modules.update(
                (a.asname or a.name).split(".")[0]
                for a in node.names
                if a.name.startswith("hrupload")
            )
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} reaches {node.attr}")
    return found


def test_no_private_name_is_used_across_modules() -> None:
    found = [hit for path in _sources() for hit in _private_reaches(path)]
    assert not found, "; ".join(found)


def test_the_private_name_check_catches_both_forms(tmp_path: Path) -> None:
    """The check above is only worth its green if it can fail."""
    sample = PACKAGE / "_architecture_probe.py"
    sample.write_text(
        "from hrupload.core.report import _hidden\nfrom hrupload.core import csvread\n"
        "csvread._limit()\n"
    )
    try:
        hits = _private_reaches(sample)
    finally:
        sample.unlink()
    assert len(hits) == 2, hits


@pytest.mark.parametrize("entry", ["function_app", "hrupload.cli.main"])
def test_importing_changes_nothing_in_the_process(entry: str) -> None:
    """No side effects at import: the environment and the csv module's field limit are
    the same after every module of the package is imported as before."""
    probe = f"""
import csv, importlib, json, os, pkgutil
before = (dict(os.environ), csv.field_size_limit())
importlib.import_module({entry!r})
import hrupload
for m in pkgutil.walk_packages(hrupload.__path__, "hrupload."):
    importlib.import_module(m.name)
after = (dict(os.environ), csv.field_size_limit())
print(json.dumps({{"same": before == after,
                  "env": sorted({{k for k, _ in set(after[0].items()) ^ set(before[0].items())}}),
                  "limit": [before[1], after[1]]}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(done.stdout.strip().splitlines()[-1])
    assert doc["same"], doc
