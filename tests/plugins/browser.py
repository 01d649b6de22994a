"""Headless Chromium for the web page's tests, driven by Playwright (from PyPI).

The browser is the system's ``chromium`` (Debian's package; ``make browser`` installs it),
or the one ``HRUPLOAD_CHROMIUM`` names; never one Playwright downloads: ``playwright
install`` is not run anywhere.

- ``browser`` starts one Chromium per session.
- ``new_context(**options)`` opens a fresh context (own cookies; 1280x800 unless told) that
  records console messages, page errors and any request leaving loopback (which it aborts:
  the page needs no CDN) into ``browser_log``; every context is closed after the test.
- ``page`` is a page in such a context, for the common case.
- ``screenshot(page, name)`` writes ``NAME-1280.png`` and ``NAME-390.png`` (full page, at
  desktop and phone widths) under ``test-output/screenshots/``; with
  ``HRUPLOAD_README_IMAGES=DIR`` (scripts/screenshots.py) also ``DIR/NAME.png``: 1280 px
  wide, the top of the page, at most README_HEIGHT tall.

Tests that use them are marked ``browser``. Without Chromium or Playwright they are skipped
with the reason; with ``CI=true`` they fail instead, so CI never passes by skipping them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
#: Where Chromium is looked for when HRUPLOAD_CHROMIUM does not name it.
CHROMIUM_NAMES = ("chromium", "chromium-browser")
#: Headless, as root in a container, offline: no sandbox (root), no GPU, and none of the
#: background calls to Google's hosts (updates, sync, field trials).
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
#: The README's pictures: 1280 px wide, the page's top this tall at most (small files).
README_HEIGHT = 1200
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
#: Console message types a page of ours must not produce.
_BAD = {"error", "warning"}


def find_chromium() -> str | None:
    named = os.environ.get("HRUPLOAD_CHROMIUM")
    if named:
        return named if Path(named).exists() else None
    return next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: browser tests must run, not skip)", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = find_chromium()
    if executable is None:
        _unavailable(
            "no Chromium: install Debian's chromium (`make browser`) or set HRUPLOAD_CHROMIUM"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed: run `make install`")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class BrowserLog:
    """What the pages of one test said: console lines, uncaught errors, off-loopback requests."""

    console: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    offsite: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        return [text for _, text in self.console if "Content Security Policy" in text]

    def problems(self) -> list[str]:
        """Console errors and warnings, page errors and off-loopback requests, as lines."""
        return [
            *(f"console {kind}: {text}" for kind, text in self.console if kind in _BAD),
            *(f"page error: {text}" for text in self.errors),
            *(f"request off loopback: {url}" for url in self.offsite),
        ]


@pytest.fixture
def browser_log() -> BrowserLog:
    return BrowserLog()


@pytest.fixture
def new_context(
    browser: Browser, browser_log: BrowserLog
) -> Iterator[Callable[..., BrowserContext]]:
    opened: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        options.setdefault("viewport", DESKTOP)
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        context.on("console", lambda m: browser_log.console.append((m.type, m.text)))
        context.on("weberror", lambda e: browser_log.errors.append(str(e.error)))

        def off_loopback(route: Any) -> None:
            if urlsplit(route.request.url).hostname in LOOPBACK:
                route.continue_()
            else:
                browser_log.offsite.append(route.request.url)
                route.abort()

        context.route("**/*", off_loopback)
        # File choosers are intercepted from a page's start: Playwright turns that on when
        # a listener is added, and a key pressed on a file input before then opens a real
        # dialog that nobody sees, so expect_file_chooser() would wait in vain.
        context.on("page", lambda p: p.on("filechooser", lambda _: None))
        opened.append(context)
        return context

    yield make
    for context in opened:
        context.close()


@pytest.fixture
def page(new_context: Callable[..., BrowserContext]) -> Page:
    return new_context().new_page()


def screenshot(page: Page, name: str, *, readme: bool = True) -> list[Path]:
    """``NAME-1280.png`` and ``NAME-390.png``, full page (and the README's picture unless
    ``readme`` is false); the viewport is put back after."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    before = page.viewport_size or DESKTOP
    written = []
    try:
        for size in (DESKTOP, PHONE):
            page.set_viewport_size(size)
            path = SCREENSHOTS / f"{name}-{size['width']}.png"
            page.screenshot(path=path, full_page=True)
            written.append(path)
            _WRITTEN.append(path)
        images = os.environ.get("HRUPLOAD_README_IMAGES")
        if readme and images:
            page.set_viewport_size(DESKTOP)
            height = min(page.evaluate("document.documentElement.scrollHeight"), README_HEIGHT)
            path = Path(images) / f"{name}.png"
            clip = {"x": 0, "y": 0, "width": DESKTOP["width"], "height": height}
            page.screenshot(path=path, full_page=True, clip=clip)
            written.append(path)
    finally:
        page.set_viewport_size(before)
    return written


_WRITTEN: list[Path] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _WRITTEN:
        terminalreporter.write_line(f"browser screenshots ({len(_WRITTEN)}): {SCREENSHOTS}")
