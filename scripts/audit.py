"""pip-audit over requirements.txt (the pinned set that deploys), PyPI as the source.

Run with the interpreter of pip-audit's own venv (``make audit``); the arguments are
pip-audit's, e.g. ``-r requirements.txt --strict --no-deps --disable-pip``.

pip-audit's PyPI service asks ``/pypi/<name>/<version>/json`` for each pin. Some PyPI
mirrors and proxies serve only the project document ``/pypi/<name>/json``, which
carries the known vulnerabilities of the project's *latest* release in the same format.
When the per-version document is not served:

- a pin that is the latest release is checked against the project document: exact;
- an older pin whose line in the requirements file ends ``# unverifiable: <reason>`` is
  checked against the latest release's vulnerabilities (those still open affect it too;
  those fixed in between cannot be seen), with a warning naming it on every run;
- any other older pin (the lock fell behind a new release) is checked the same way, with a
  warning to refresh the lock: a new upstream release must not break CI by itself.

No answer at all is a failure: the audit never passes a package it could not check.
``HRUPLOAD_AUDIT_PYPI_URL`` replaces ``https://pypi.org`` (tests use a local stand-in).
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import sys
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from pip_audit import _cli
from pip_audit._service.interface import ConnectionError as ServiceUnreachable
from pip_audit._service.pypi import PyPIService

PYPI = "https://pypi.org"
_VERSION_DOC = re.compile(r"^https://pypi\.org/pypi/([^/]+)/([^/]+)/json$")
_UNVERIFIABLE = re.compile(r"^\s*([A-Za-z0-9._-]+)==(\S+)\s+#\s*unverifiable:\s*\S")

log = logging.getLogger("hrupload.audit")


def unverifiable_pins(argv: list[str]) -> set[tuple[str, str]]:
    """(name, version) of every pin marked ``# unverifiable: <reason>`` in the -r files."""
    files = [b for a, b in itertools.pairwise(argv) if a in ("-r", "--requirement")]
    files += [a.split("=", 1)[1] for a in argv if a.startswith("--requirement=")]
    pins = set()
    for path in files:
        for line in Path(path).read_text().splitlines():
            m = _UNVERIFIABLE.match(line)
            if m:
                pins.add((canonicalize_name(m.group(1)), m.group(2)))
    return pins


class LatestReleaseFallback:
    """A requests-like session: the per-version document, else the project document
    where it speaks for the pin (see the module docstring)."""

    def __init__(self, session, base: str, unverifiable: set[tuple[str, str]]) -> None:
        self._session = session
        self._base = base.rstrip("/")
        self._unverifiable = unverifiable

    def _get(self, url: str, **kwargs):
        import requests

        try:
            return self._session.get(url, **kwargs)
        except requests.ConnectionError as exc:
            raise ServiceUnreachable(f"no answer from {self._base}: {type(exc).__name__}") from exc

    def get(self, url: str, **kwargs):
        match = _VERSION_DOC.match(url)
        response = self._get(self._base + url.removeprefix(PYPI), **kwargs)
        if response.status_code != 404 or match is None:
            return response
        name, pinned = canonicalize_name(match.group(1)), match.group(2)
        project = self._get(f"{self._base}/pypi/{name}/json", **kwargs)
        if project.status_code != 200:
            return response  # pip-audit reports the pin as not audited
        try:
            latest = project.json()["info"]["version"]
            is_latest = Version(latest) == Version(pinned)
        except (ValueError, KeyError, TypeError, InvalidVersion):
            log.error("%s: the index's project document is unreadable", name)
            return response
        if is_latest:
            return project
        if (name, pinned) in self._unverifiable:
            log.warning(
                "%s %s is checked only against the vulnerabilities of its latest release (%s): "
                "the index serves no data for older releases (marked unverifiable in the lock)",
                name,
                pinned,
                latest,
            )
            return project
        log.warning(
            "%s %s is checked only against the vulnerabilities of its latest release (%s): "
            "the index serves vulnerability data only for the latest release. Refresh "
            "requirements.txt (make lock), or mark the pin "
            "'# unverifiable: <reason>' if it cannot move.",
            name,
            pinned,
            latest,
        )
        return project


def main() -> None:
    argv = sys.argv[1:]
    unverifiable = unverifiable_pins(argv)
    base = os.environ.get("HRUPLOAD_AUDIT_PYPI_URL") or PYPI

    class Service(PyPIService):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.session = LatestReleaseFallback(self.session, base, unverifiable)

    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    _cli.PyPIService = Service  # the class pip-audit's CLI builds for `-s pypi`
    sys.argv = ["pip-audit", *argv]
    _cli.audit()


if __name__ == "__main__":
    main()
