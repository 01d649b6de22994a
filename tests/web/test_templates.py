"""Autoescaping everywhere: every template is escaped, and nothing is ever marked safe."""

from __future__ import annotations

import re
from pathlib import Path

import hrupload.web
from hrupload.web.app import templates

WEB = Path(hrupload.web.__file__).parent
UNSAFE = re.compile(r"\|\s*safe\b|autoescape\s+false|Markup\(|\|\s*urlize|<script", re.I)


def test_every_template_is_autoescaped():
    env = templates()
    names = env.list_templates()
    assert "base.html" in names and "status.html" in names
    assert env.autoescape is True  # for every template, whatever its name
    page = env.from_string("{{ x }}").render(x="<b>&")
    assert page == "&lt;b&gt;&amp;"


def test_nothing_is_marked_safe_and_no_page_has_a_script():
    found = [
        f"{path.relative_to(WEB)}: {m.group(0)}"
        for path in [*WEB.rglob("*.html"), *WEB.rglob("*.py")]
        for m in UNSAFE.finditer(path.read_text())
    ]
    assert found == []


def test_the_pages_have_a_viewport_a_main_and_labelled_controls():
    base = (WEB / "templates" / "base.html").read_text()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in base
    assert "<main" in base and '<html lang="en">' in base
    for page in (WEB / "templates").glob("*.html"):
        text = page.read_text()
        for control in re.findall(r'<(?:input|select)\b[^>]*\bid="([^"]+)"', text):
            assert f'<label for="{control}">' in text, f"{page.name}: #{control} has no label"
