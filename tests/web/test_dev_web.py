"""``hrupload dev web`` and its server over real HTTP: the printed key link signs a browser
in, a form posts with its token, every response has the headers, no key reaches a log."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.plugins.web import WEB_KEY, csrf_of

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture
def dev_web(web_env) -> Iterator[tuple[subprocess.Popen, str]]:
    """``hrupload dev web`` with no key set: it makes one and prints the link once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HRUPLOAD_")}
    env |= {k: v for k, v in web_env.items() if k != "HRUPLOAD_WEB_KEY"}
    exe = Path(sys.executable).with_name("hrupload")
    proc = subprocess.Popen(
        [str(exe), "dev", "web"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = [proc.stdout.readline() for _ in range(2)]
        found = re.search(r"Open: (\S+)", banner[1])
        assert found, banner
        yield proc, found.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_printed_link_signs_in_and_a_form_posts_over_http(dev_web):
    proc, link = dev_web
    assert link.startswith("http://127.0.0.1:") and "/api/?code=" in link
    base = link.split("?", 1)[0]
    assert requests.get(base, timeout=10).status_code == 401
    browser = requests.Session()
    page = browser.get(link, timeout=10)
    assert page.status_code == 200 and page.url == base  # the key left the URL
    assert page.history[0].status_code == 303
    assert "Content-Security-Policy" in page.headers
    form = browser.get(base + "check", timeout=10)
    token = csrf_of(form.text)
    sent = browser.post(
        base + "check",
        data={"csrf": token},
        files={"file": ("resignation.csv", (SAMPLES / "resignation.csv").read_bytes())},
        headers={"Origin": base.split("/api/", 1)[0]},
        timeout=10,
    )
    assert sent.status_code == 200 and "every row is valid" in sent.text
    forged = browser.post(base + "check", data={"csrf": "nope"}, timeout=10)
    assert forged.status_code == 403
    css = browser.get(base + "static/style.css", timeout=10)
    assert css.status_code == 200 and css.headers["X-Content-Type-Options"] == "nosniff"
    proc.terminate()
    _, log = proc.communicate(timeout=10)
    key = link.rsplit("=", 1)[1]
    assert "GET /api/" in log and key not in log


def test_a_given_key_is_never_printed(web_env):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HRUPLOAD_")} | web_env
    exe = Path(sys.executable).with_name("hrupload")
    proc = subprocess.Popen([str(exe), "dev", "web"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        banner = proc.stdout.readline() + proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert WEB_KEY not in banner and "?code=$HRUPLOAD_WEB_KEY" in banner


def test_the_server_fixture_serves_the_app_and_refuses_an_oversize_file(web_env, azurite):
    from hrupload.settings import load
    from hrupload.web import create_app
    from hrupload_dev.web import WebServer

    app = create_app(load(web_env | {"HRUPLOAD_WEB_MAX_KB": "1"}))
    with WebServer(app) as server:
        browser = requests.Session()
        assert browser.get(server.url + f"?code={WEB_KEY}", timeout=10).status_code == 200
        token = csrf_of(browser.get(server.url + "check", timeout=10).text)
        try:
            response = browser.post(
                server.url + "check",
                data={"csrf": token},
                files={"file": ("big.csv", b"EmailAddress\n" + b"a@b.example\n" * 300_000)},
                timeout=10,
            )
        except requests.ConnectionError:
            pytest.fail("the server dropped the connection instead of answering 413")
        assert response.status_code == 413
        assert "The file is too large" in response.text


def test_the_settings_can_come_from_a_local_settings_file(web_env, tmp_path):
    import json

    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"IsEncrypted": False, "Values": web_env | {"X": 1}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HRUPLOAD_", "HR_"))}
    exe = Path(sys.executable).with_name("hrupload")
    proc = subprocess.Popen(
        [str(exe), "dev", "web", "--settings", str(settings)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().rsplit(" ", 1)[1].strip()
        response = requests.get(url, headers={"x-functions-key": WEB_KEY}, timeout=10)
        assert response.status_code == 200 and "<h1>Status</h1>" in response.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    done = subprocess.run(
        [str(exe), "dev", "web", "--settings", str(broken)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "cannot read its Values" in done.stderr
    assert "Traceback" not in done.stderr
