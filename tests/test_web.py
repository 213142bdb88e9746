"""The journalist web page in a real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import base64
import json
import math
import os
from pathlib import Path

import pytest

from testkit.service import ROOT, Server

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed")


@pytest.fixture(scope="module")
def web_server(home, tmp_path_factory, labeled, signed_capture):
    log = tmp_path_factory.mktemp("web-log") / "server.log"
    # A page load makes several keyless requests; this file's tests together pass the public
    # limit of 30 a minute (tested in test_secure_defaults), so it is raised here.
    srv = Server(home, log, env={"KINOSEAL_PUBLIC_RATE_LIMIT": "1000"}, args=("--public-verify",))
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
    script_errors: list[str] = []
    pg.on("pageerror", lambda e: script_errors.append(str(e)))
    pg.goto(web_server.url + "/")
    pg.wait_for_selector("body[data-ready='1']")
    yield pg
    ctx.close()
    assert outside == [], f"the page fetched outside resources: {outside}"
    assert script_errors == [], f"the page's script failed: {script_errors}"


def _verdict(page) -> str:
    page.wait_for_selector("#result:not(.hidden)")
    return page.inner_text("#verdict-label")


def test_labeled_clip_shows_ai_generated(page, labeled, tmp_path):
    assert "Drag a video here" in page.inner_text("#drop")
    page.set_input_files("#file", str(labeled))
    assert _verdict(page) == "AI-generated"
    assert "v-ai_generated" in page.get_attribute("#verdict", "class")
    assert "made by an AI model" in page.inner_text("#verdict-words")
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
    from testkit.clips import remux

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


# --- What the page says, built from the evidence (issue 24) -------------------------------------

def _svg_y(points: str) -> list[float]:
    return [float(p.split(",")[1]) for p in points.split()]


def _check_plot(page) -> None:
    """Each quantity on its own axis: the classifier's 1.0 sits on its own "1" tick, not at the
    bottom of the watermark scale; the threshold line, the legend and labels are there and readable."""
    svg = "#plot svg.score-plot"
    wm = page.locator(f"{svg} g.panel[data-series=watermark]")
    cl = page.locator(f"{svg} g.panel[data-series=classifier]")
    assert wm.count() == 1 and cl.count() == 1
    assert "Watermark statistic" in wm.locator("text.axis-title").text_content()
    assert "Classifier probability" in cl.locator("text.axis-title").text_content()
    ticks = {t.get_attribute("data-value"): float(t.get_attribute("y")) for t in cl.locator("text.tick").all()}
    assert set(ticks) == {"0", "0.5", "1"}
    line = cl.locator("polyline.series")
    ys = _svg_y(line.get_attribute("points"))
    report = json.loads(page.evaluate("JSON.stringify(state.report)"))
    values = [v for v in report["classifier"]["per_frame"] if math.isfinite(v)]
    y0, y1 = ticks["0"] - 4, ticks["1"] - 4  # a tick label sits 4 px under its grid line
    assert len(ys) == len(values) and max(abs(y - (y0 + (y1 - y0) * v)) for y, v in zip(ys, values)) < 0.2, \
        "each classifier probability sits at its value on its own 0-1 axis"
    thr = cl.locator("line.threshold")
    value = float(thr.get_attribute("data-value"))  # the model's own threshold (0.95 at least)
    assert 0.95 <= value < 1 and f"threshold {value:.4g}" in cl.text_content(), cl.text_content()
    wm_ticks = [float(t.get_attribute("data-value")) for t in wm.locator("text.tick").all()]
    assert max(wm_ticks) >= 18, "the watermark axis covers its own scale (t ~ 19 on a marked clip)"
    legend = {g.get_attribute("data-series"): g.locator(".swatch").get_attribute("stroke")
              for g in page.locator(f"{svg} g.legend g.legend-item").all()}
    assert legend["watermark"] == wm.locator("polyline.series").get_attribute("stroke")
    assert legend["classifier"] == line.get_attribute("stroke") and legend["watermark"] != legend["classifier"]
    heights = page.evaluate(f"[...document.querySelectorAll('{svg} text')].map(t => t.getBoundingClientRect().height)")
    assert min(heights) >= 10, f"plot labels too small to read: {min(heights):.1f} px"
    assert "when a classifier is installed" not in page.inner_text("#result")


def test_labeled_clip_page_and_html_report_agree(page, labeled):
    page.set_input_files("#file", str(labeled))
    assert _verdict(page) == "AI-generated"
    assert page.inner_text("#ai-extent") == "Fully AI-generated"
    words = page.inner_text("#verdict-words")
    assert words.startswith("This clip was made by an AI model.") and "watermark" in words and "Content Credentials" in words
    assert page.inner_text("#reason-text").strip()
    _check_plot(page)
    page.wait_for_selector("#thumbs img")
    c2pa = page.inner_text("#c2pa")
    with page.expect_download() as dl:
        page.click("#dl-html")
    html = Path(dl.value.path()).read_text()
    # The report is the page: same verdict colour class and stylesheet, same words and numbers.
    assert "v-ai_generated" in html and "--ai: #b3261e" in html
    assert page.inner_text("#verdict-words") in html.replace("&nbsp;", " ")
    assert "kinoseal development" in c2pa and "kinoseal development" in html  # issuer
    assert "Signed at" in html and "Deciding evidence" in html
    assert '<svg class="score-plot"' in html and 'class="threshold"' in html
    report = json.loads(page.evaluate("JSON.stringify(state.report)"))
    assert repr(report["watermark"]["p_value"]) not in html, "numbers are rounded as on the page"
    assert "<button" not in html and "<script" not in html
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "web-report.html").write_text(html)


def test_trusted_screen_capture_is_described_not_called_empty(page, settings, capture_src, tmp_path):
    """A trusted manifest whose source type is neither camera nor AI: the headline says what it is."""
    from kinoseal.credentials.home import ensure_dev_pki, trust_store
    from kinoseal.credentials.manifests import IPTC, capture_manifest
    from kinoseal.credentials.signing import sign_mp4
    from kinoseal.label import SOFTWARE

    clip = tmp_path / "screen.mp4"
    manifest = capture_manifest(title=clip.name, software=SOFTWARE)
    manifest["assertions"][0]["data"]["actions"][0]["digitalSourceType"] = IPTC + "screenCapture"
    sign_mp4(capture_src, clip, manifest, ensure_dev_pki(settings).identity("capture"), trust=trust_store(settings))
    page.set_input_files("#file", str(clip))
    assert _verdict(page) == "Unknown origin"
    words = page.inner_text("#verdict-words")
    assert "No watermark and no Content Credentials" not in words
    assert "Screen capture (screenCapture)" in words and "neither a camera recording nor AI" in words
    assert "Screen capture" in page.inner_text("#c2pa")
    wm = page.inner_text("#watermark")
    assert "not found" in wm and "Bit accuracy" not in wm and "Method" not in wm
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-screen-capture.png"), full_page=True)


@pytest.fixture(scope="module")
def labeled_report(web_server, labeled) -> dict:
    with web_server.client() as c:
        up = c.post("/v1/uploads", files={"file": (labeled.name, labeled.read_bytes(), "video/mp4")})
        assert up.status_code == 201, up.text
        r = c.post("/v1/verify", json={"upload_id": up.json()["upload_id"]})
        assert r.status_code == 200, r.text
        return r.json()


def _show(page, clip: Path, report: dict) -> None:
    """Render ``report`` for an upload of ``clip`` (the verify answer replaced, the rest real)."""
    page.route("**/v1/verify", lambda route: route.fulfill(status=200, content_type="application/json",
                                                           body=json.dumps(report)))
    page.set_input_files("#file", str(clip))
    page.wait_for_selector("#result:not(.hidden)")


def test_ai_edit_of_real_footage_differs_from_synthetic(page, labeled, labeled_report):
    edit = json.loads(json.dumps(labeled_report))
    edit["c2pa"]["digital_source_type"] = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
    edit["ai_extent"] = "partial"
    edit["c2pa"]["ai_disclosure"] = [{"source_type": edit["c2pa"]["digital_source_type"], "extent": "partial",
                                      "where": "the active manifest", "title": "street.mp4", "manifest_label": "urn:c2pa:1234"}]
    _show(page, labeled, edit)
    assert page.inner_text("#ai-extent") == "AI edit of real footage"
    assert "extent-partial" in page.get_attribute("#verdict", "class")
    assert page.inner_text("#verdict-words").startswith("This is real footage with parts changed by an AI model.")
    disc = page.inner_text("#disclosure")
    assert "Edited with AI" in disc and "part of the clip" in disc and "street.mp4" in disc
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-ai-edit.png"), full_page=True)

    # A server without the new fields: the extent comes from the source type, no disclosure list.
    synthetic = {k: v for k, v in labeled_report.items() if k != "ai_extent"}
    synthetic["c2pa"] = {k: v for k, v in labeled_report["c2pa"].items() if k != "ai_disclosure"}
    page.unroute("**/v1/verify")
    _show(page, labeled, synthetic)
    assert page.inner_text("#ai-extent") == "Fully AI-generated"
    assert "extent-full" in page.get_attribute("#verdict", "class")
    assert page.locator("#disclosure-box.hidden").count() == 1  # no ai_disclosure: nothing to list


def test_lost_payload_and_long_words(page, labeled, labeled_report):
    r = json.loads(json.dumps(labeled_report))
    r["watermark"]["payload_id"] = None
    r["provenance"] = None
    word = "x" * 300
    r["file"] = "clip-" + word + ".mp4"
    r["evidence"] = r["evidence"] + ["unbroken " + word]
    r["c2pa"]["signer"]["common_name"] = "signer-" + word
    r["c2pa"]["title"] = word
    for width in (1200, 390):
        page.set_viewport_size({"width": width, "height": 1600})
        page.unroute("**/v1/verify")
        _show(page, labeled, r)
        assert "lost" in page.inner_text("#watermark") and "payload bits did not survive" in page.inner_text("#watermark")
        over = page.evaluate("""() => [...document.querySelectorAll('#result .card')]
            .filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.querySelector('h2,h3').textContent)""")
        assert over == [], f"at {width} px these cards overflow: {over}"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-long-words-390.png"), full_page=True)


def test_classifier_explanation_and_family_hint(page, labeled, labeled_report):
    r = json.loads(json.dumps(labeled_report))
    r["classifier"].update(available=True, score=0.31, family=None, family_confidence=0.42,
                           explanation=["Most AI-like moment: 7.0-7.2 s (0.26)"],
                           segments=[{"start_s": 7.0, "end_s": 7.2, "probability": 0.26}])
    page.unroute("**/v1/verify")
    _show(page, labeled, r)
    lines = page.inner_text("#classifier-lines")
    assert "Most AI-like moment: 7.0-7.2 s" in lines and "unknown family" in lines and "not proof" in lines
    r["classifier"].update(family="VideoCrafter2", family_confidence=0.8)
    page.unroute("**/v1/verify")
    _show(page, labeled, r)
    assert "VideoCrafter2 (80%)" in page.inner_text("#classifier-lines")
    # A model that does not attribute says nothing about families.
    r["classifier"].update(family=None, family_confidence=None)
    page.unroute("**/v1/verify")
    _show(page, labeled, r)
    assert "family" not in page.inner_text("#classifier-lines")


def test_copied_watermark_pattern_is_never_called_the_watermark(page, labeled, labeled_report):
    r = json.loads(json.dumps(labeled_report))
    r.update(verdict="unknown", verdict_label="Unknown origin", ai_extent=None, provenance=None,
             summary="Unknown origin: A kinoseal watermark pattern is present but is not bound to this content")
    r["c2pa"] = {"present": False}
    r["watermark"].update(bound=False, binding_p_value=0.3, binding_not_proof=None)  # copied: it does not bind
    r["classifier"].update(available=True, score=0.1)
    page.unroute("**/v1/verify")
    _show(page, labeled, r)
    words = page.inner_text("#verdict-words")
    assert "not bound to these pixels" in words and "No watermark and no Content Credentials" not in words
    assert "not bound" in page.inner_text("#watermark")
    r.update(verdict="likely_ai_generated", verdict_label="Likely AI-generated (classifier only)")
    r["classifier"]["score"] = 0.99
    page.unroute("**/v1/verify")
    _show(page, labeled, r)
    assert "not bound to these pixels" in page.inner_text("#verdict-words")


def test_a_binding_the_registry_vouches_for_reads_vouched_not_only_not_proof(page, labeled, labeled_report):
    """No binding alone is proof by default (a learned forger, Settings.proof_bindings): where the registry's
    fingerprint of the clip the mark was made for matches, the page says the mark is vouched for; where it
    does not, that the binding is not proof."""
    r = json.loads(json.dumps(labeled_report))
    assert r["watermark"]["binding_not_proof"] and r["provenance"]["content_match"]["matched"], r["provenance"]
    page.unroute("**/v1/verify")
    _show(page, labeled, r)
    text = page.inner_text("#watermark")
    assert "vouched for" in text and "registered fingerprint" in text, text
    r["provenance"]["content_match"]["matched"] = False
    page.unroute("**/v1/verify")
    _show(page, labeled, r)
    text = page.inner_text("#watermark")
    assert "but not proof" in text and "vouched" not in text, text


def test_a_crop_vouched_for_by_views_and_a_listed_payload_read_so(page, labeled, labeled_report):
    """A labeled clip cropped past its hashes: the page says its views matched (at what size and turn), and
    that its payload, too damaged to decode, was found among the registered payloads of its key."""
    r = json.loads(json.dumps(labeled_report))
    r["provenance"]["content_match"].update(matched=True, views={
        "matched": True, "score": 0.81, "pairs": 4, "scale": 0.71, "angle_deg": 0.0, "rectified": False})
    r["provenance"]["payload_listed"] = {"log10_p_value": -12.3, "candidates": 201}
    page.unroute("**/v1/verify")
    _show(page, labeled, r)
    prov = page.inner_text("#provenance")
    assert "by its views, not its hashes" in prov and "0.71 of its registered size" in prov, prov
    assert "201 registered payloads of its key" in prov and "5.0e-13" in prov, prov
    assert "mirrored" not in prov and "quarter turn" not in prov and "excerpt" not in prov, prov
    # a mirrored copy turned on its side (the mark's geometry undid both before the views were compared)
    r["provenance"]["content_match"]["views"].update(mirrored=True, quarter_turns=1, offset_s=1.5)
    page.unroute("**/v1/verify")
    _show(page, labeled, r)
    prov = page.inner_text("#provenance")
    assert "by its views, not its hashes" in prov and ", mirrored, turned a quarter turn" in prov, prov
    assert "an excerpt from 1.5 s into it" in prov, prov
    r["provenance"]["content_match"].update(matched=False, views={
        "matched": False, "score": 0.2, "pairs": 4, "scale": 0.6, "angle_deg": 3.0, "rectified": False})
    page.unroute("**/v1/verify")
    _show(page, labeled, r)
    prov = page.inner_text("#provenance")
    assert "does NOT match" in prov and "nor do its views" in prov, prov


def test_api_docs_work_offline(browser, web_server):
    """/docs (Swagger UI) and /redoc load their scripts from this server and render the API. ReDoc's
    decorative Redocly logo points at a CDN; the page's Content-Security-Policy blocks it before
    it is sent, so nothing goes out."""
    ctx = browser.new_context()
    pg = ctx.new_page()
    sent: list[str] = []
    blocked: list[str] = []
    pg.on("requestfinished", lambda r: r.url.startswith((web_server.url, "data:", "blob:")) or sent.append(r.url))
    pg.on("requestfailed", lambda r: r.url.startswith(web_server.url) or
          (blocked if "csp" in (r.failure or "").lower() else sent).append(f"{r.url} ({r.failure})"))
    try:
        pg.goto(web_server.url + "/docs")
        pg.wait_for_selector(".swagger-ui .info .title", timeout=60_000)
        assert "kinoseal" in pg.inner_text(".swagger-ui .info .title")
        assert pg.locator(".opblock").count() > 5
        pg.goto(web_server.url + "/redoc")
        pg.wait_for_selector("redoc .api-content h1", timeout=60_000)
        assert "kinoseal" in pg.inner_text("redoc .api-content h1")
        assert pg.locator("redoc [data-section-id]").count() > 5
        pg.wait_for_timeout(500)
        assert sent == [], f"the docs fetched outside resources: {sent}"
        assert blocked == ["https://cdn.redoc.ly/redoc/logo-mini.svg (csp)"] or blocked == []
    finally:
        ctx.close()


def test_spliced_ai_segments_are_named_with_their_times(page, labeled, labeled_report):
    """Issue 21 item 5: AI shots in other footage read "contains AI-generated segments", with where."""
    r = json.loads(json.dumps(labeled_report))
    r.update(ai_extent="segments", c2pa={"present": False}, provenance=None,
             summary="AI-generated: Contains AI-generated segments: the kinoseal watermark marks 3.4-6.6 s of this clip")
    r["watermark"].update(segments=[{"start_s": 3.44, "end_s": 6.58, "frames": 30}], marked_extent="segments")
    page.unroute("**/v1/verify")
    _show(page, labeled, r)
    assert page.inner_text("#ai-extent") == "Contains AI-generated segments"
    assert "contains AI-generated segments (3.4\u20136.6 s)" in page.inner_text("#verdict-words")
    assert "only in 3.4\u20136.6 s" in page.inner_text("#watermark")
    assert "Fully AI-generated" not in page.inner_text("#verdict")


def _found_by_fingerprint(title: str, frames: int, compared: int, log10_p: float, detected: bool, **extra) -> dict:
    """A report's provenance for a clip the registry found by its content fingerprint, with the targeted
    test of that clip's own mark (``p_value`` = 10^log10_p)."""
    return {"found": True, "via": "fingerprint", "payload_id": "00000000000000ab", "title": title,
            "labeled_at": "2026-12-06T08:00:00+00:00", "signer": "kinoseal generator (development)",
            "content_match": {"matched": True, "frames": frames, "compared": compared, "mirrored": extra.pop("mirrored", False)},
            "registered_mark": {"method": "kinoseal-wm-v5", "key_id": "k", "log10_p_value": log10_p,
                                "p_value": 10.0 ** log10_p, "detected": detected},
            **extra}


def test_a_registered_clips_own_mark_found_by_the_registry_is_shown(page, labeled, labeled_report):
    """A clip found by its content fingerprint, whose own mark the registry's targeted test found:
    the provenance card says so, with the test's p-value (and says "not found" when it failed)."""
    r = json.loads(json.dumps(labeled_report))
    r["watermark"].update(detected=False, p_value=0.02, payload_id=None, bound=None)
    r["provenance"] = _found_by_fingerprint("registered.mp4", 59, 59, math.log10(5e-9), True, mirrored=True)
    page.unroute("**/v1/verify")
    _show(page, labeled, r)
    prov = page.inner_text("#provenance")
    assert "by its content fingerprint" in prov and "59 of 59 sampled frames, mirrored" in prov
    assert "present: its key and payload, tested once" in prov and "5.0e-9" in prov
    wm = page.inner_text("#watermark")
    assert "found by the registry's test" in wm and "not found" not in wm  # the two cards agree
    r["provenance"]["registered_mark"].update(detected=False, p_value=0.3, log10_p_value=-0.52)
    page.unroute("**/v1/verify")
    _show(page, labeled, r)
    assert "not found: its key and payload" in page.inner_text("#provenance")


def test_a_clip_recognised_by_its_fingerprint_alone_is_not_said_to_be_the_classifiers_call(page, labeled,
                                                                                            labeled_report):
    """Verdict rule 6 (likely, from the registry's fingerprint, its mark not found): the headline names the
    registered clip and where it sits, not "a classifier thinks" (the classifier scored it low)."""
    r = json.loads(json.dumps(labeled_report))
    r.update(verdict="likely_ai_generated", verdict_label="Likely AI-generated (matches a clip kinoseal labeled)",
             ai_extent=None, c2pa={"present": False},
             summary="Likely AI-generated (matches a clip kinoseal labeled): These pixels at 3.5-6.5 s of this clip match")
    r["classifier"].update(available=True, score=0.31, threshold=0.95)
    r["watermark"].update(detected=False, p_value=0.2, payload_id=None, bound=None, segments=[], marked_extent=None)
    r["provenance"] = _found_by_fingerprint("shot.mp4", 17, 19, -1.2, False, extent="segments",
                                            segments=[{"start_s": 3.5, "end_s": 6.5, "frames": 19}])
    page.unroute("**/v1/verify")
    _show(page, labeled, r)
    words = page.inner_text("#verdict-words")
    assert "match the registered fingerprint of a clip kinoseal labeled" in words and "3.5\u20136.5 s" in words
    assert "shot.mp4" in words and "not proof" in words
    assert "classifier thinks" not in words
    # the classifier's own likely verdict keeps its words
    r["provenance"] = None
    r["classifier"].update(score=0.97)
    page.unroute("**/v1/verify")
    _show(page, labeled, r)
    assert "classifier thinks" in page.inner_text("#verdict-words")


def test_a_registered_shot_placed_by_its_fingerprint_is_named_with_its_times(page, labeled, labeled_report):
    """A labeled shot spliced into other footage whose mark only the registry's test found: the times come
    from where its fingerprint placed it (report.provenance.segments), not from the watermark's card."""
    r = json.loads(json.dumps(labeled_report))
    r.update(ai_extent="segments", c2pa={"present": False},
             summary="AI-generated: Contains AI-generated segments: the content of a clip kinoseal labeled fills 3.5-6.5 s")
    r["watermark"].update(detected=False, p_value=0.02, payload_id=None, bound=None, segments=[], marked_extent=None)
    r["provenance"] = _found_by_fingerprint("shot.mp4", 17, 19, -19.3, True, extent="segments",
                                            segments=[{"start_s": 3.5, "end_s": 6.5, "frames": 19}])
    page.unroute("**/v1/verify")
    _show(page, labeled, r)
    assert page.inner_text("#ai-extent") == "Contains AI-generated segments"
    words = page.inner_text("#verdict-words")
    assert "contains AI-generated segments (3.5\u20136.5 s)" in words and "registered fingerprint places it" in words
    assert "at 3.5\u20136.5 s (placed by its fingerprint)" in page.inner_text("#provenance")
