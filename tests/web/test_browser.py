"""The web page in a real browser: headless Chromium (tests/plugins/browser.py) against
``hrupload dev web``'s server on 127.0.0.1, over Azurite and the connector stand-in.

Each page once, each promise once: opening it with the key, the status after a real sweep
with its report and rejected-rows download, checking a good and a bad file with the
keyboard alone (and sending a clean one to incoming), the same without JavaScript, markup
from a file that never runs, and every page readable on a phone. Screenshots of each page
land in test-output/screenshots/.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from hrupload.web.http import CSP
from tests.plugins.azurite import storage_env
from tests.plugins.browser import PHONE, screenshot
from tests.plugins.web import WEB_KEY, drop_and_sweep

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
#: Sets a flag if it ever runs: as a <script> body, or as an attribute handler.
FLAG = "window.__pwned"
SCRIPT = f"<script>{FLAG}=1</script>"
IMG = f"<img src=x onerror={FLAG}=2>"
#: The narrowest a table's file-name cell may be on a phone: a dozen characters or so.
READABLE_PX = 120

GOOD = (SAMPLES / "resignation.csv").read_bytes()
#: Line 3 has two bad cells; one of them is markup, both are row values the page must not show.
BAD = (
    "EmailAddress,ResignationDate,LastWorkingDate\n"
    "sarad@contoso.com,2019-04-23T15:18:02Z,2019-04-29T15:18:02Z\n"
    f"{IMG},canary-not-a-date,2019-04-29T15:18:02Z\n"
).encode()


@pytest.fixture
def web_env(azurite, hr_storage, connector_standin) -> dict[str, str]:
    """The app over this test's storage, sending to the connector stand-in."""
    return (
        storage_env(azurite, hr_storage)
        | connector_standin.env(include_secret=True)
        | {"HRUPLOAD_WEB_KEY": WEB_KEY, "HRUPLOAD_RETRY_BUDGET": "1"}
    )


def sign_in(page, web_server, path: str = ""):
    """Open the key link, as the person given it would; the key leaves the address."""
    response = page.goto(f"{web_server.url}{path}?code={WEB_KEY}")
    assert response.ok, response.status
    assert "code=" not in page.url
    assert page.get_by_role("navigation", name="Pages").is_visible()
    return response


def shoot(page, name: str, *, readme: bool = True) -> None:
    """Screenshots at 1280 and 390 px; at 390 px the page itself never scrolls sideways
    (a wide table scrolls in its own box)."""
    screenshot(page, name, readme=readme)
    before = page.viewport_size
    page.set_viewport_size(PHONE)
    try:
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"{name} at {PHONE['width']} px scrolls sideways: {width}"
        narrow = page.locator("td.file").evaluate_all(
            f"cells => cells.filter(c => c.offsetWidth < {READABLE_PX}).map(c => c.innerText)"
        )
        assert narrow == [], f"{name} at {PHONE['width']} px squeezes file names: {narrow}"
    finally:
        page.set_viewport_size(before)


def tab_to(page, locator, *, presses: int = 25) -> None:
    """Press Tab until ``locator`` has the focus, as a keyboard user would, and see that
    the focus shows (an outline, which no stylesheet rule may take away)."""
    for _ in range(presses):
        if locator.evaluate("el => el === document.activeElement"):
            ring = locator.evaluate("el => getComputedStyle(el).outlineStyle")
            assert ring not in ("", "none"), f"{locator} has the focus but does not show it"
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {locator}")


def check_by_keyboard(page, path: Path, *, send: bool = False) -> None:
    """Choose ``path`` (and tick "send" when told) and submit the check form with the
    keyboard alone."""
    tab_to(page, page.get_by_label("CSV file"))
    with page.expect_file_chooser() as opened:
        page.keyboard.press("Space")
    opened.value.set_files(path)
    if send:
        box = page.get_by_label("If every row is valid, send it to")
        tab_to(page, box)
        page.keyboard.press("Space")
        assert box.is_checked()
    tab_to(page, page.get_by_role("button", name="Check the file"))
    with page.expect_navigation():
        page.keyboard.press("Enter")


def row_values(data: bytes, lines: set[int] | None = None) -> set[str]:
    """The non-empty cells of ``data`` (of its file ``lines`` only, when given), but the
    scenario column's: its values are the scenarios' names, which a page does show."""
    rows = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    return {
        cell.strip()
        for row in rows
        if lines is None or rows.line_num in lines
        for column, cell in row.items()
        if column != "HRScenario" and cell and cell.strip()
    }


def shown_values(page, values: set[str]) -> set[str]:
    html = page.content()
    return {v for v in values if v in html}


def test_status_after_a_sweep_links_each_report_and_downloads_the_rejected_rows(
    page, web_server, web_app, hr_storage, browser_log, tmp_path
):
    multi = (SAMPLES / "multi-scenario.csv").read_bytes()
    runs = drop_and_sweep(
        web_app,
        {"resignation/today.csv": GOOD, "all.csv": multi, "junk.csv": b"Name,Colour\nx,y\n"},
    )
    assert sorted(r.status for r in runs.values()) == ["failed", "partial", "uploaded"]
    hr_storage.put_blob(hr_storage.incoming, "later.csv", GOOD)  # arrives after the sweep

    refused = page.goto(web_server.url)
    assert refused.status == 401
    assert page.get_by_role("heading", name="Sign-in needed").is_visible()
    shoot(page, "sign-in", readme=False)
    # Not even the stylesheet answers someone not let in: the console reports each 401
    # (and a refused stylesheet), which is the point; nothing else is wrong with the page.
    assert browser_log.csp_violations() == [] and browser_log.errors == []
    browser_log.console.clear()

    response = sign_in(page, web_server)
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["cache-control"] == "no-store"
    assert "done" in page.locator("#sweep + p").inner_text()
    files = page.locator("table.files tbody tr")
    assert files.count() == 3
    by_name = {
        name: files.filter(has_text=name).locator(".status").inner_text()
        for name in ("resignation/today.csv", "all.csv", "junk.csv")
    }
    assert by_name == {
        "resignation/today.csv": "uploaded",
        "all.csv": "partial",
        "junk.csv": "failed",
    }
    reason = files.filter(has_text="junk.csv").locator(".reason").inner_text()
    assert reason.startswith("the header fits no scenario's required columns")
    assert page.locator("table.waiting").filter(has_text="later.csv").count() == 1
    assert page.locator("svg[role=img] rect.uploaded").count() >= 1
    every_value = row_values(GOOD) | row_values(multi)
    assert shown_values(page, every_value) == set()
    shoot(page, "status")

    partial = files.filter(has_text="all.csv")
    with page.expect_download() as download:
        partial.get_by_role("link", name="rejected rows").click()
    saved = tmp_path / "rejected.csv"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "all.csv.rejected.csv"
    rejected = saved.read_bytes()
    with hr_storage.open_read(hr_storage.failed, _only(hr_storage, ".rejected.csv")) as stored:
        report = stored.read()
    assert rejected == report
    rejected_rows = row_values(multi, {4, 5})
    assert rejected_rows and rejected_rows <= row_values(rejected)

    partial.get_by_role("link", name="report").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Report").is_visible()
    errors = page.locator("table.errors tbody tr")
    assert [errors.nth(i).locator("td").first.inner_text() for i in range(errors.count())] == [
        "4",
        "5",
    ]
    assert "missing-value" in errors.first.inner_text()
    assert shown_values(page, every_value) == set()
    with page.expect_download() as again:
        page.get_by_role("link", name="Download the 2 rejected rows (CSV)").click()
    assert Path(again.value.path()).read_bytes() == report
    shoot(page, "report")
    assert browser_log.problems() == []


def _only(storage, suffix: str) -> str:
    (name,) = [b.name for b in storage.list_blobs(storage.failed) if b.name.endswith(suffix)]
    return name


def test_check_a_good_and_a_bad_file_with_the_keyboard(
    page, web_server, hr_storage, browser_log, tmp_path
):
    sign_in(page, web_server, "check")
    assert page.get_by_role("heading", name="Check a file").is_visible()
    assert "Nothing is uploaded or stored" in page.locator(".lead").inner_text()
    assert "10 MiB" in page.locator("#file-help").inner_text()
    shoot(page, "check")

    good = tmp_path / "resignation.csv"
    good.write_bytes(GOOD)
    check_by_keyboard(page, good)
    assert "Result for resignation.csv" in page.locator("#result").inner_text()
    assert page.locator("p.ok").inner_text() == "No problems: every row is valid."
    assert shown_values(page, row_values(GOOD)) == set()
    assert [b.name for b in hr_storage.list_blobs(hr_storage.incoming)] == []  # nothing stored

    bad = tmp_path / "leavers.csv"
    bad.write_bytes(BAD)
    check_by_keyboard(page, bad, send=True)
    assert page.get_by_role("alert").filter(has_text="Not sent").count() == 1
    rows = page.locator("table.errors tbody tr")
    found = [tuple(rows.nth(i).locator("td").all_inner_texts()[:3]) for i in range(rows.count())]
    assert found == [
        ("3", "EmailAddress", "invalid-email"),
        ("3", "ResignationDate", "invalid-date"),
    ]
    assert shown_values(page, row_values(BAD)) == set()
    shoot(page, "check-report")

    check_by_keyboard(page, good, send=True)
    assert page.get_by_role("status").inner_text().startswith("Sent to ")
    assert [b.name for b in hr_storage.list_blobs(hr_storage.incoming)] == ["resignation.csv"]
    assert browser_log.problems() == []


def test_without_javascript_a_file_is_checked_and_the_status_shown(
    new_context, web_server, hr_storage, browser_log, tmp_path
):
    page = new_context(java_script_enabled=False).new_page()
    hr_storage.put_blob(hr_storage.incoming, "waiting.csv", GOOD)
    sign_in(page, web_server)
    assert page.locator("table.waiting").filter(has_text="waiting.csv").count() == 1

    page.get_by_role("link", name="Check a file").click()
    bad = tmp_path / "leavers.csv"
    bad.write_bytes(BAD)
    page.get_by_label("CSV file").set_input_files(bad)
    page.get_by_role("button", name="Check the file").click()
    page.wait_for_load_state()
    assert page.locator("table.errors tbody tr").count() == 2
    assert browser_log.problems() == []


def test_markup_in_a_file_name_a_column_or_a_cell_never_runs(
    browser, page, web_server, web_app, browser_log, tmp_path
):
    # The payloads are live: on a page without our escaping and CSP, both run.
    control = browser.new_page()
    control.set_content(f"<p>{SCRIPT}</p><p>{IMG}</p>")
    control.wait_for_function(f"{FLAG} === 2")
    control.close()

    name = f"{IMG}.csv"
    drop_and_sweep(web_app, {f"resignation/{name}": BAD})
    sign_in(page, web_server)
    assert page.locator("table.files .file").filter(has_text=IMG).count() == 1

    columns = tmp_path / name
    columns.write_bytes(f"EmailAddress,{SCRIPT},LastWorkingDate\nsarad@contoso.com,x,y\n".encode())
    page.goto(f"{web_server.url}check")
    page.get_by_label("CSV file").set_input_files(columns)
    page.get_by_role("button", name="Check the file").click()
    page.wait_for_load_state()
    assert IMG in page.locator("#result").inner_text()
    assert SCRIPT in page.locator("[role=alert]").inner_text()  # the header, quoted as text

    assert page.evaluate(f"typeof {FLAG}") == "undefined"
    assert browser_log.csp_violations() == []
    assert browser_log.problems() == []

    # And the policy is enforced, not only sent: an inline script put in the page is refused.
    page.evaluate(
        f"""() => {{
            const s = document.createElement("script");
            s.textContent = "{FLAG} = 3";
            document.body.append(s);
        }}"""
    )
    assert page.evaluate(f"typeof {FLAG}") == "undefined"
    assert browser_log.csp_violations()
