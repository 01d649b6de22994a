"""What Azure installs is what CI tested: requirements.txt against pyproject.toml and the Bicep.

Azure's remote build installs requirements.txt as it is, so it must pin every package pip
would install (not only the direct ones), each within pyproject's ranges, for the Python the
app deploys with. The closure is walked through the metadata of the packages installed here
(``make install`` installs them constrained by requirements.txt), so no index is asked.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements.txt"
_spec = importlib.util.spec_from_file_location("hrupload_lock", ROOT / "scripts" / "lock.py")
lock = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lock)

DEPLOY_PYTHON = lock.deploy_python()
#: The marker environment of the Function app's workers (Linux, x86-64, CPython).
DEPLOY_ENVIRONMENT = {
    "python_version": DEPLOY_PYTHON,
    "python_full_version": f"{DEPLOY_PYTHON}.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "os_name": "posix",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
}
_PIN_LINE = re.compile(r"^([A-Za-z0-9._-]+)==([^\s#]+)(\s+#.*)?$")


def pins() -> dict[str, str]:
    """requirements.txt as {canonical name: version}; any line but ``name==version`` fails."""
    found = {}
    for line in REQUIREMENTS.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _PIN_LINE.match(line)
        assert m, f"requirements.txt: not an exact pin: {line!r}"
        found[canonicalize_name(m.group(1))] = m.group(2)
    return found


def _applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(
        requirement.marker.evaluate({**DEPLOY_ENVIRONMENT, "extra": extra})
        for extra in extras | {""}
    )


def closure_problems(roots: list[str], pinned: dict[str, str], requires) -> list[str]:
    """What is wrong with ``pinned`` as the full install of ``roots``: a package pip would
    install that is not pinned, a pin outside a range that asks for it, or a pin nothing
    needs. ``requires(name)`` gives a pinned package's Requires-Dist lines."""
    problems, reached, todo = [], set(), [(Requirement(r), frozenset()) for r in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req, wanted_by = todo.pop()
        name = canonicalize_name(req.name)
        if not _applies(req, wanted_by):
            continue
        if name not in pinned:
            problems.append(f"{name} ({req}) is installed but not pinned")
            continue
        if not req.specifier.contains(pinned[name], prereleases=True):
            problems.append(f"{name}=={pinned[name]} is outside {req}")
        reached.add(name)
        key = (name, frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        todo.extend((Requirement(r), frozenset(req.extras)) for r in requires(name))
    problems += [f"{name} is pinned but nothing needs it" for name in sorted(set(pinned) - reached)]
    return problems


def _installed_requires(name: str) -> list[str]:
    return metadata.distribution(name).requires or []


deploy_python_only = pytest.mark.skipif(
    f"{sys.version_info.major}.{sys.version_info.minor}" != DEPLOY_PYTHON,
    reason=f"requirements.txt is resolved for Python {DEPLOY_PYTHON}, the app's",
)


@deploy_python_only
def test_requirements_pin_everything_pip_installs_within_pyprojects_ranges() -> None:
    pinned = pins()
    installed = {name: metadata.version(name) for name in pinned if _installed(name) is not None}
    # The tests ran against exactly what deploys.
    assert installed == pinned, "run `make install`: the venv is not the pinned set"
    problems = closure_problems(lock.runtime_ranges(), pinned, _installed_requires)
    assert not problems, "; ".join(problems) + " (regenerate with `make lock`)"


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def test_every_runtime_range_of_pyproject_is_pinned() -> None:
    pinned = pins()
    for line in lock.runtime_ranges():
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name in pinned, f"{name}: in pyproject.toml, not in requirements.txt (make lock)"
        assert req.specifier.contains(pinned[name], prereleases=True), (name, pinned[name])


CLOSURE_CASES = {
    "complete": ({"a": "1.0", "b": "2.0", "c": "3.0"}, []),
    "a dependency's dependency missing": ({"a": "1.0", "b": "2.0"}, ["c (c) is installed"]),
    "a pin outside the range": ({"a": "1.0", "b": "1.5", "c": "3.0"}, ["b==1.5 is outside"]),
    "a stale pin": ({"a": "1.0", "b": "2.0", "c": "3.0", "d": "4.0"}, ["d is pinned but"]),
}
FAKE_REQUIRES = {
    "a": ["b>=2", "windows-only; sys_platform == 'win32'", "docs; extra == 'docs'"],
    "b": ["c"],
    "c": [],
}


@pytest.mark.parametrize("case", list(CLOSURE_CASES))
def test_the_closure_check_finds_each_fault(case: str) -> None:
    pinned, expected = CLOSURE_CASES[case]
    problems = closure_problems(["a"], pinned, FAKE_REQUIRES.__getitem__)
    assert len(problems) == len(expected), problems
    for problem, text in zip(problems, expected, strict=True):
        assert text in problem


def test_requirements_say_the_python_they_were_resolved_for() -> None:
    header = REQUIREMENTS.read_text().splitlines()[:3]
    assert any(f"resolved for Python {DEPLOY_PYTHON} " in line for line in header), header


def test_the_app_runs_the_python_main_bicep_chooses() -> None:
    main = (ROOT / "infra" / "main.bicep").read_text()
    function = (ROOT / "infra" / "app" / "function.bicep").read_text()
    assert re.search(
        r"@allowed\(\[\s*'3\.11'\s*'3\.12'\s*'3\.13'\s*\]\)\s*(@description\(.*\)\s*)?"
        r"param pythonVersion string = '3\.11'",
        main,
    )
    assert re.search(r"^\s*pythonVersion: pythonVersion$", main, re.MULTILINE)
    assert re.search(r"^\s*version: pythonVersion$", function, re.MULTILINE)
    assert "param pythonVersion string" in function


DOCTOR_PYTHON = ROOT / ".tools" / "func-doctor" / "bin" / "python"
DOCTOR_PROBE = """
import json, sys
from pathlib import Path
from azure_functions_doctor.deploy_config import resolve_target_config
plan = resolve_target_config(Path(sys.argv[1])).hosting_plan
print(json.dumps({"plan": plan.value, "source": plan.source}))
"""


@pytest.mark.skipif(
    not DOCTOR_PYTHON.exists(), reason="azure-functions-doctor is not installed: make func-doctor"
)
def test_azure_functions_doctor_finds_flex_consumption_in_infra() -> None:
    """`make func-doctor` names the plan on its command line; the doctor finds it in infra/ by
    itself too, so its Flex rules are the ones that apply to what deploys."""
    done = subprocess.run(
        [str(DOCTOR_PYTHON), "-c", DOCTOR_PROBE, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"plan": "flex-consumption", "source": "infra/app/function.bicep"}


def test_the_flex_app_declares_its_runtime_and_package_store_where_flex_reads_them() -> None:
    """What the doctor reads only from ARM JSON (so skips on Bicep), checked here as text: the
    runtime under functionAppConfig (no linuxFxVersion, which Flex ignores), the package in a
    blob container the identity reads, no app setting Flex rejects."""
    function = (ROOT / "infra" / "app" / "function.bicep").read_text()
    assert re.search(r"runtime: \{\s*name: 'python'\s*version: pythonVersion\s*\}", function)
    assert re.search(
        r"storage: \{\s*type: 'blobContainer'\s*"
        r"value: '\$\{hostStorage\.properties\.primaryEndpoints\.blob\}"
        r"\$\{deploymentContainerName\}'"
        r"\s*authentication: \{\s*type: 'UserAssignedIdentity'",
        function,
    )
    infra = "".join(p.read_text() for p in (ROOT / "infra").rglob("*.bicep"))
    for legacy in (
        "linuxFxVersion",
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_EXTENSION_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "SCM_DO_BUILD_DURING_DEPLOYMENT",
        "WEBSITE_CONTENTSHARE",
    ):
        assert legacy not in infra, legacy


def test_the_parameter_file_defaults_to_the_python_requirements_are_locked_for() -> None:
    params = json.loads((ROOT / "infra" / "main.parameters.json").read_text())["parameters"]
    assert params["pythonVersion"]["value"] == f"${{HRUPLOAD_PYTHON_VERSION={DEPLOY_PYTHON}}}"
