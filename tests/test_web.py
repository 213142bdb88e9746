"""The journalist web page in a real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from tests.service_fixtures import ROOT, Server

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed")


@pytest.fixture(scope="module")
def web_server(home, tmp_path_factory, labeled, signed_capture):
    log = tmp_path_factory.mktemp("web-log") / "server.log"
    srv = Server(home, log, args=("--public-verify",))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser, web_server):
    ctx = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 1600})
    pg = ctx.new_page()
    pg.set_default_timeout(120_000)
    outside: list[str] = []
    pg.on("request", lambda r: None if r.url.startswith((web_server.url, "data:", "blob:")) else outside.append(r.url))
    pg.goto(web_server.url + "/")
    pg.wait_for_selector("body[data-ready='1']")
    yield pg
    ctx.close()
    assert outside == [], f"the page fetched outside resources: {outside}"


def _verdict(page) -> str:
    page.wait_for_selector("#result:not(.hidden)")
    return page.inner_text("#verdict-label")


def test_labeled_clip_shows_ai_generated(page, labeled, tmp_path):
    assert "Drag a video here" in page.inner_text("#drop")
    page.set_input_files("#file", str(labeled))
    assert _verdict(page) == "AI-generated"
    assert "v-ai_generated" in page.get_attribute("#verdict", "class")
    assert "made or changed by AI" in page.inner_text("#verdict-words")
    assert "watermark detected" in page.inner_text("#evidence")
    c2pa = page.inner_text("#c2pa")
    assert "kinoseal generator" in c2pa and "trainedAlgorithmicMedia" in c2pa
    assert "c2pa.created" in page.inner_text("#actions")
    assert "found" in page.inner_text("#watermark")
    page.wait_for_selector("#thumbs img")
    assert page.locator("#thumbs img").count() >= 2
    assert page.locator("#plot svg polyline").count() >= 1
    with page.expect_download() as dl:
        page.click("#dl-json")
    report = json.loads(Path(dl.value.path()).read_text())
    assert report["verdict"] == "ai_generated" and report["file"] == labeled.name
    with page.expect_download() as dl:
        page.click("#dl-html")
    html = Path(dl.value.path()).read_text()
    assert "AI-generated" in html and "<h1>Provenance report</h1>" in html
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-ai-generated.png"), full_page=True)


def test_signed_capture_shows_authentic(page, signed_capture):
    page.set_input_files("#file", str(signed_capture))
    label = _verdict(page)
    assert label.startswith("Authentic")
    assert "v-authentic" in page.get_attribute("#verdict", "class")
    assert "Recorded by a camera" in page.inner_text("#c2pa")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-authentic.png"), full_page=True)


def test_garbage_shows_friendly_error(page, tmp_path):
    bad = tmp_path / "holiday.mp4"
    bad.write_bytes(b"this is not a video" * 50)
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#error:not(.hidden)")
    text = page.inner_text("#error")
    assert "could not be read as a video" in text and "holiday.mp4" in text
    assert "Traceback" not in text and "upload" not in text.split("holiday.mp4")[0].lower().replace("uploads", "")
    assert page.locator("#result.hidden").count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-error.png"), full_page=True)


def test_drag_and_drop_and_stripped_clip_provenance(page, labeled, tmp_path):
    from tests.clips import remux

    stripped = remux(labeled, tmp_path / "stripped.mp4")
    data = base64.b64encode(stripped.read_bytes()).decode()
    page.evaluate(
        """([b64, name]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, {type: "video/mp4"}));
            const drop = document.getElementById("drop");
            drop.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true, cancelable: true}));
            drop.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
        }""",
        [data, "stripped.mp4"],
    )
    assert _verdict(page) == "AI-generated"
    assert "none found" in page.inner_text("#c2pa")
    prov = page.inner_text("#provenance")
    assert "Original Content Credentials" in prov and "kinoseal generator" in prov
