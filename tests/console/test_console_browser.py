"""The console in a real browser: Debian's chromium driven by Playwright, against a real ``ossdoc
serve`` (fake model, slowed down so that a stream visibly grows). Screenshots of every step go to
tests/artifacts/console/."""

from __future__ import annotations

import base64
import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from conftest import make_docx
from ossdoc_server import RunningServer, running

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "tests" / "artifacts" / "console"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PARAGRAPHS = [
    "Quarterly report for the northern region, prepared by the finance team for the board meeting.",
    "Sales grew by ten percent compared with the same quarter last year, led by the new product line "
    "and by stronger demand from small businesses in the three largest cities of the region.",
    "Costs rose more slowly than sales: rent stayed flat, salaries grew by four percent, and shipping "
    "costs fell after the move to the new warehouse, which also shortened delivery times.",
    "The team recommends hiring two more sales people, opening a showroom in the capital, and keeping "
    "the current prices until the end of the year while the competition adjusts.",
]

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: scripts/bootstrap test installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        found = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield found
        finally:
            found.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("console") / "data"
    with running(data, fake_token_delay_ms="40", log_level="info") as server:
        yield server


class Shots:
    def __init__(self, page: Page) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page = page
        self.taken: list[Path] = []

    def __call__(self, name: str, full_page: bool = False) -> None:
        path = ARTIFACTS / f"{len(self.taken) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        self.taken.append(path)


def drop_file(page: Page, target: str, name: str, data: bytes, mime: str) -> None:
    """What the browser does when a file is dragged from the desktop and dropped on ``target``."""
    transfer = page.evaluate_handle(
        """([name, b64, type]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type }));
            return transfer;
        }""",
        [name, base64.b64encode(data).decode(), mime],
    )
    page.dispatch_event(target, "dragenter", {"dataTransfer": transfer})
    page.dispatch_event(target, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(target, "drop", {"dataTransfer": transfer})


def record_output(page: Page) -> None:
    """Keep every distinct text the result area shows, as it grows."""
    page.evaluate(
        """() => {
            window.partials = [];
            const output = document.getElementById("output");
            new MutationObserver(() => {
                const text = output.textContent;
                if (text && text !== window.partials[window.partials.length - 1]) window.partials.push(text);
            }).observe(output, { childList: true, characterData: true, subtree: true });
        }"""
    )


def partials(page: Page) -> list[str]:
    found: list[str] = page.evaluate("() => window.partials")
    return found


def api_get(page: Page, path: str) -> Any:
    return page.evaluate("async (path) => (await fetch(path)).json()", path)


def wait_for_log(server: RunningServer, text: str, attempts: int = 200) -> str:
    for _ in range(attempts):
        log = server.log.read_text(errors="replace")
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in the server log:\n{server.log.read_text()[-3000:]}")


def test_the_console_end_to_end(browser: Browser, live: RunningServer) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 820})
    page = context.new_page()
    page.set_default_timeout(20_000)
    shot = Shots(page)
    try:
        run(page, shot, live)
    finally:
        print("\nconsole screenshots:", *shot.taken, sep="\n  ")
        context.close()


def run(page: Page, shot: Shots, live: RunningServer) -> None:
    page.goto(f"{live.endpoint}/-/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shot("sign-in")

    # A wrong secret is refused, with a message that says what is wrong.
    page.get_by_label("AccessKey ID").fill(live.access_key_id)
    page.get_by_label("AccessKey secret").fill("not-the-secret")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_contain_text("That secret is not right for this AccessKey ID")
    expect(page.locator("#app-view")).to_be_hidden()
    shot("wrong-secret")

    # Sign in from the keyboard: type the secret, press Enter.
    page.get_by_label("AccessKey secret").fill(live.access_key_secret)
    page.get_by_label("AccessKey secret").press("Enter")
    expect(page.locator("#account-key")).to_have_text(live.access_key_id)
    stored = page.evaluate(
        "() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie"
    )
    assert live.access_key_secret not in stored and "ossdoc_console=" not in stored  # HttpOnly
    shot("signed-in")

    # Create a bucket.
    page.get_by_label("New bucket").fill("quarterly-reports")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("#bucket-title")).to_have_text("quarterly-reports")
    expect(page.get_by_text("Nothing here yet.")).to_be_visible()
    shot("bucket-created")

    # A folder: created (the name typed, Enter), opened, deleted.
    page.get_by_role("button", name="New folder").click()
    page.get_by_label("Folder name").fill("drafts")
    page.get_by_label("Folder name").press("Enter")
    expect(page.locator("#crumbs")).to_contain_text("drafts")
    page.get_by_role("button", name="Delete folder").click()
    page.get_by_role("button", name="Delete folder").last.click()  # the confirmation's
    expect(page.get_by_text("Nothing here yet.")).to_be_visible()
    expect(page.get_by_role("link", name="drafts/")).to_have_count(0)

    # Upload a .docx by dropping it on the listing, and a 9 MiB file (in two parts) with the file picker.
    drop_file(page, "#dropzone", "report.docx", make_docx(*PARAGRAPHS), DOCX)
    expect(page.get_by_role("button", name="report.docx")).to_be_visible()
    big = bytes(range(256)) * (9 * 4096)
    page.set_input_files(
        "#file-input", files=[{"name": "scan.bin", "mimeType": "application/octet-stream", "buffer": big}]
    )
    expect(page.get_by_role("button", name="scan.bin")).to_be_visible()
    meta = api_get(page, "api/buckets/quarterly-reports/object?key=scan.bin")
    assert meta["size"] == len(big) and meta["type"] == "Multipart"
    shot("uploaded")

    # The document's details and the text extracted from it.
    page.get_by_role("button", name="report.docx").click()
    expect(page.locator("#details")).to_be_visible()
    page.get_by_role("button", name="Preview text").click()
    expect(page.locator("#preview-text")).to_contain_text("Sales grew by ten percent")
    shot("details-and-preview")
    page.get_by_role("button", name="Process…").click()
    expect(page.get_by_label("Object key")).to_have_value("report.docx")

    # Summarize, streamed: the text grows in front of us.
    page.get_by_label("Operation").select_option("doc/summarize")
    record_output(page)
    page.get_by_role("button", name="Run").click()
    page.wait_for_function("() => window.partials.length >= 2")
    shot("summarize-streaming")
    expect(page.locator("#result-status")).to_have_text("Done", timeout=60_000)
    texts = partials(page)
    assert len(set(texts)) >= 2, texts
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(texts)), texts
    for field in ("#u-in", "#u-out", "#u-ttft", "#u-rate", "#u-total"):
        assert page.locator(field).text_content() != "–", field
    shot("summarize-done")

    # Save the result, then find it in the listing.
    expect(page.get_by_label("Save as object")).to_have_value("report.summarize.txt")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#toasts")).to_contain_text("Saved as report.summarize.txt")
    summary = page.locator("#output").text_content()

    # A second run, stopped midway: the server cancels the generation.
    page.get_by_label("Operation").select_option("doc/polish")
    record_output(page)
    page.get_by_role("button", name="Run").click()
    page.wait_for_function("() => window.partials.length >= 1")
    page.get_by_role("button", name="Stop").click()
    expect(page.locator("#result-status")).to_have_text("Stopped: the generation was cancelled")
    log = wait_for_log(live, "doc/polish cancelled after")
    assert "doc/polish done" not in log
    shot("polish-stopped")

    page.get_by_role("link", name="Objects", exact=True).click()
    expect(page.get_by_role("button", name="report.summarize.txt")).to_be_visible()
    saved = page.evaluate(
        "async () => (await fetch('api/buckets/quarterly-reports/download?key=report.summarize.txt')).text()"
    )
    assert saved == summary
    shot("listing-with-result")

    # A background task, watched until it is done.
    page.get_by_role("link", name="Process", exact=True).click()
    page.get_by_label("Operation").select_option("doc/translate")
    page.get_by_label("Language").select_option("fr_FR")
    page.locator("label[for=mode-task]").click()
    page.get_by_label("Save the result as").fill("report.fr_FR.docx")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#task-rows .badge")).to_have_text("Succeeded", timeout=90_000)
    expect(page.locator("#task-rows")).to_contain_text("report.fr_FR.docx")
    shot("task-succeeded")

    # Phone width.
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("link", name="Objects", exact=True).click()
    expect(page.get_by_role("button", name="report.fr_FR.docx")).to_be_visible()
    shot("phone-objects", full_page=True)
    page.get_by_role("link", name="Process", exact=True).click()
    shot("phone-process", full_page=True)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shot("phone-signed-out")
