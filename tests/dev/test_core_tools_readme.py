"""The README's Core Tools steps work as written: the connector stand-in started as the
README says accepts the app, secret and job of ``local.settings.sample.json``, on the port
the sample points the Function app at."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from hrupload import compose, settings
from hrupload_dev.connector import connector_command

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "local.settings.sample.json"


def core_tools_steps() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Run it locally with Core Tools", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_readme_starts_the_stand_in_from_the_copied_settings() -> None:
    steps = core_tools_steps()
    assert "cp local.settings.sample.json local.settings.json" in steps
    assert ".venv/bin/hrupload dev connector --settings local.settings.json &" in steps
    assert "func start" in steps


def test_the_stand_in_listens_where_the_sample_points(monkeypatch) -> None:
    monkeypatch.delenv("HRUPLOAD_APP_SECRET", raising=False)
    values = json.loads(SAMPLE.read_text())["Values"]
    ctx = connector_command.make_context("connector", ["--settings", str(SAMPLE)])
    assert ctx.params["port"] == int(values["HRUPLOAD_LOGIN_URL"].rsplit(":", 1)[1])
    assert ctx.params["app_secret"] == values["HRUPLOAD_APP_SECRET"]
    assert (ctx.params["tenant_id"], ctx.params["job_id"]) == (
        values["HRUPLOAD_TENANT_ID"],
        values["HRUPLOAD_JOB_ID"],
    )


def test_a_token_with_the_sample_settings(tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_bytes(SAMPLE.read_bytes())  # the README's cp
    env = {k: v for k, v in os.environ.items() if not k.startswith("HRUPLOAD_")}
    hrupload = Path(sys.executable).with_name("hrupload")
    # The README's command; --port 0 only because a test may not take a fixed port.
    child = subprocess.Popen(
        [hrupload, "dev", "connector", "--settings", "local.settings.json", "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = child.stdout.readline()
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", banner)
        assert url, banner
        values = json.loads(SAMPLE.read_text())["Values"]
        values |= {"HRUPLOAD_LOGIN_URL": url.group(1), "HRUPLOAD_INGESTION_URL": url.group(1)}
        values = {k: v for k, v in values.items() if v != ""}
        loaded = settings.load(env=values)
        token = compose.make_client(loaded).token()
        assert token.startswith("standin.")
    finally:
        child.kill()
        child.wait(timeout=30)
