"""kinoseal-wm-v3, v4 and v5 (content-bound) and the forgery attacks of issue 21, on small real clips.

The attacks are the issue's: the mark estimated from one labeled clip (or averaged over several) and
painted onto an unrelated real clip, and subtracted from its own clip. v2 is attacked the same way to
show that the attack is real. Also: v1/v2 patterns are pinned (marks in the wild must keep verifying),
and the verdict rules for a pattern that is present but not bound.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from kinoseal.credentials.reading import C2paEvidence
from kinoseal.verify.report import ClassifierEvidence, Verdict, WatermarkEvidence
from kinoseal.verify.rules import decide
from kinoseal.watermark import WatermarkKey, get_method
from kinoseal.evaluation.watermark.forgery import collude, copy_attack, estimate_mark, fit_clip, removal_attack
from kinoseal.watermark.result import P_VALUE_THRESHOLD, WatermarkResult
from kinoseal.evaluation.watermark.clips import load_clip
from kinoseal.evaluation.watermark.metrics import psnr

KEY = WatermarkKey(bytes(range(32)))
V2 = get_method("kinoseal-wm-v2")
LOG_T = math.log10(P_VALUE_THRESHOLD)
W, H = 320, 240


def detect(method, frames):
    ex = method.extractor([KEY])
    for f in frames:
        ex.update(f[0])
    return ex.result()


def mark(method, frames, payload):
    emb = method.embedder(KEY, payload)
    return [(emb.embed_luma(y), u, v) for y, u, v in frames]


@pytest.fixture(scope="module")
def clips():
    """Four unrelated real or rendered clips at 320x240, 10 frames each."""
    out = {}
    for name in ("bikes", "carphone", "bigbuckbunny", "generated"):
        out[name] = fit_clip(load_clip(name, 10).frames, W, H)
    return out


@pytest.fixture(scope="module", params=["kinoseal-wm-v5", "kinoseal-wm-v4", "kinoseal-wm-v3"])
def bound_method(request):
    """Every content-bound version: v5 marks new clips; v3/v4 marks already made keep verifying, and a
    forger may hold one of them."""
    return get_method(request.param)


@pytest.fixture(scope="module")
def marked(clips, bound_method):
    return {n: mark(bound_method, fr, 0x1000 + i) for i, (n, fr) in enumerate(clips.items())}


def test_v1_v2_patterns_are_pinned():
    """Marks in the wild keep verifying only if v1/v2 never change: pattern and embedding hashes."""
    y = (np.arange(144 * 176).reshape(144, 176) * 7919 % 251).astype(np.uint8)
    want = {"kinoseal-wm-v1": ("4741799c177ad6d2", "6899f25b844905b7"),
            "kinoseal-wm-v2": ("e1fe060daf54b54b", "4122d08cfad54ba2")}
    for name, (pat, emb_hash) in want.items():
        e = get_method(name).embedder(KEY, 0x0123456789ABCDEF)
        assert hashlib.sha256(e.pattern((144, 176)).tobytes()).hexdigest()[:16] == pat, name
        assert hashlib.sha256(e.embed_luma(y).tobytes()).hexdigest()[:16] == emb_hash, name


def test_bound_versions_mark_and_bind_real_footage(clips, marked, bound_method):
    fr, mk = clips["bikes"], marked["bikes"]
    assert np.mean([psnr(a[0], b[0]) for a, b in zip(fr, mk)]) >= 42.0
    r = detect(bound_method, mk)
    assert r.detected and r.bound is True and r.binding_log10_p < LOG_T
    assert r.payload_id == 0x1000
    clean = detect(bound_method, fr)
    assert not clean.detected and clean.bound is False and clean.binding_log10_p > -3


@pytest.mark.parametrize("gain", [1.0, 4.0])
def test_copy_from_one_clip_is_present_but_never_bound(clips, marked, bound_method, gain):
    """The issue's attack: the estimate of one labeled clip painted on an unrelated real clip."""
    est = estimate_mark(marked["bikes"])
    forged = copy_attack(clips["carphone"], est, gain, 25.0)
    r = detect(bound_method, forged)
    assert r.detected and r.bound is False, r  # the pattern is found ...
    assert r.binding_log10_p > -3  # ... but it does not belong to this content
    # the same attack on v2 makes the real clip read as marked (what issue 21 reported)
    est2 = estimate_mark(mark(V2, clips["bikes"], 7))
    assert detect(V2, copy_attack(clips["carphone"], est2, gain, 25.0)).detected


def test_copy_at_another_resolution_reencoded(clips, marked, bound_method):
    est = estimate_mark(marked["bigbuckbunny"])
    host = fit_clip(load_clip("bikes", 10).frames, 480, 360)
    r = detect(bound_method, copy_attack(host, est, 2.0, 25.0, crf=18))
    assert r.detected and r.bound is False and r.binding_log10_p > -3


def test_collusion_of_three_clips_is_not_bound(clips, marked, bound_method):
    avg = collude([marked[n] for n in ("bikes", "bigbuckbunny", "generated")])
    r = detect(bound_method, copy_attack(clips["carphone"], avg, 4.0, 25.0))
    assert r.bound is False and r.binding_log10_p > -3


def test_collusion_of_a_hundred_labeled_generated_clips_is_not_bound(clips, bound_method):
    """Issue 21's many-clip collusion: an attacker holding 100 labeled AI clips (procedural scenes, each
    with its own payload) averages their estimates, which keeps what every clip shares (the sync layer),
    and paints that on a real clip. The pattern is there; the binding is not."""
    from kinoseal.mediaio.colour import rgb_to_i420
    from kinoseal.scenes.procedural import render_clip, sample_spec

    def labeled():
        for i in range(100):
            rgb = render_clip(sample_spec(np.random.default_rng(500 + i)), frames=4, size=128)
            yield mark(bound_method, fit_clip([rgb_to_i420(f) for f in rgb], W, H), 0x2000 + i)

    avg = collude(labeled(), (H, W))
    r = detect(bound_method, copy_attack(clips["bikes"], avg, 2.0, 25.0))
    assert r.detected and r.bound is False, r
    assert r.binding_log10_p > -3


def test_removal_by_subtraction_needs_visible_damage(clips, marked, bound_method):
    """Subtracting the estimate (gain 1, ~36 dB) leaves the bound mark."""
    est = estimate_mark(marked["bikes"])
    r = detect(bound_method, removal_attack(marked["bikes"], est, 1.0))
    assert r.bound is True and r.binding_log10_p < LOG_T


def test_every_bound_test_is_blind_to_quadratic_shading():
    """Vignetting and centre-weighted framing are common to unrelated scenes: a test that reads them
    lets a copied mark keep part of its binding (v3 forgeries reached 10^-5.8). v4 embeds and tests
    with the quadric removed; v3's marks are tested that way too."""
    from kinoseal.watermark.v3 import bound_layout

    for name in ("kinoseal-wm-v3", "kinoseal-wm-v4"):
        p = get_method(name).params
        lay = bound_layout(KEY, p)
        ox, oy = lay.offsets[:, 0], lay.offsets[:, 1]
        shading = np.stack([np.ones_like(ox), ox, oy, ox * ox, oy * oy, ox * oy], axis=1)
        assert np.abs(lay.test_proj.astype(np.float64) @ shading).max() < 1e-5, name
        quad_in_embed = np.abs(lay.proj.astype(np.float64) @ shading[:, 3:]).max()
        assert (quad_in_embed < 1e-5) == (name == "kinoseal-wm-v4"), name


# --- verdicts -------------------------------------------------------------------------------

NO_C2PA = C2paEvidence(present=False)
NO_CLF = ClassifierEvidence(available=False)


def _wm(bound):
    return WatermarkEvidence(detected=True, method="kinoseal-wm-v2", p_value=1e-22, log10_p_value=-22.0,
                             frames_analyzed=75, bound=bound)


def test_unbound_pattern_is_never_ai_generated():
    d = decide(NO_C2PA, _wm(False), NO_CLF)
    assert d.verdict is Verdict.UNKNOWN
    assert "present but is not bound to this content" in d.reason
    d = decide(NO_C2PA, _wm(False), ClassifierEvidence(available=True, score=0.99))
    assert d.verdict is Verdict.LIKELY_AI_GENERATED
    assert any("not bound" in e for e in d.evidence)
    assert decide(NO_C2PA, _wm(True), NO_CLF).verdict is Verdict.AI_GENERATED
    assert decide(NO_C2PA, _wm(None), NO_CLF).verdict is Verdict.AI_GENERATED  # hand-built evidence


def test_unbound_pattern_blocks_authentic_but_not_an_ai_manifest():
    capture = C2paEvidence(present=True, validation_state="Trusted", signer={"common_name": "cam"},
                           digital_source_type="http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture")
    d = decide(capture, _wm(False), NO_CLF)
    assert d.verdict is Verdict.UNKNOWN and "kinoseal pattern" in " ".join(d.evidence)
    ai = C2paEvidence(present=True, validation_state="Trusted", signer={"common_name": "gen"},
                      digital_source_type="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia")
    assert decide(ai, _wm(False), NO_CLF).verdict is Verdict.AI_GENERATED


def test_verifier_prefers_a_bound_mark_and_marks_v2_as_unbound():
    from kinoseal.config import Settings
    from kinoseal.verify.verifier import Verifier

    def res(name, lp, bound=None, blp=None):
        return WatermarkResult(name, lp < LOG_T, 10.0**lp, lp, None, 1.0, 20, "k" if lp < LOG_T else None,
                               bound=bound, binding_log10_p=blp)

    class Scan:
        error = None
        times: list[float] = []
        duration_s = 0.0

        def __init__(self, rs):
            self.rs = rs

        def results(self):
            return self.rs

    v = Verifier.__new__(Verifier)
    v.settings = Settings()
    names = ["kinoseal-wm-v3", "kinoseal-wm-v1", "kinoseal-wm-v2"]
    # v3's binding can be learned by a forger: by default it is reported and is not proof
    ev = v._watermark_evidence(Scan([res(names[0], -9.0, True, -9.0), res(names[1], 0.0),
                                     res(names[2], -30.0)]), names)
    assert ev.method == "kinoseal-wm-v3" and ev.bound is False and "not proof" in ev.binding_not_proof
    v.settings = Settings(proof_bindings=("kinoseal-wm-v3",))  # an operator who accepts that risk
    ev = v._watermark_evidence(Scan([res(names[0], -9.0, True, -9.0), res(names[1], 0.0),
                                     res(names[2], -30.0)]), names)
    assert ev.method == "kinoseal-wm-v3" and ev.bound is True
    ev = v._watermark_evidence(Scan([res(names[0], -1.0, False, -1.0), res(names[1], 0.0),
                                     res(names[2], -30.0)]), names)
    assert ev.method == "kinoseal-wm-v2" and ev.detected and ev.bound is False
    ev = v._watermark_evidence(Scan([res(names[0], -12.0, False, -0.5), res(names[1], 0.0),
                                     res(names[2], 0.0)]), names)
    assert ev.detected and ev.bound is False  # v3's sync layer alone: present, not bound
    # CI, half-size re-encode: the bound layer cleared 1e-6 by itself (10^-6.3) but not after the
    # correction for three versions, while the sync layer stood at 10^-26.7. Present, not bound -
    # the mark was once reported missing, at the bound layer's corrected 10^-5.8.
    ev = v._watermark_evidence(Scan([res(names[0], -26.7, True, -6.3), res(names[1], 0.0),
                                     res(names[2], -1.0)]), names)
    assert ev.detected and ev.bound is False and ev.method == "kinoseal-wm-v3"
    assert ev.log10_p_value < -26 and ev.binding_p_value > 1e-6
    ev = v._watermark_evidence(Scan([res(names[0], -26.7, True, -9.0), res(names[1], 0.0),
                                     res(names[2], -1.0)]), names)
    assert ev.detected and ev.bound is True and 1e-9 < ev.binding_p_value < 1e-8


@pytest.mark.parametrize("seed", [None, 55])
def test_v2_and_v3_share_one_frame_analysis_with_identical_results(seed):
    """The verifier's scan whitens each frame and searches the geometries once for v2 to v5 (their
    analysis parameters differ only in the key domain; v5's embedder-only flat-frame cap is left out
    of the comparison); every result is what each extractor gives alone.
    Key 55: v2 (first, finds nothing) appended its scale sweep to the shared geometries, and v4's
    first stage then tested them too, so its near-1 p-value differed (10^-0.27 vs 10^-0.005)."""
    from kinoseal.watermark import WatermarkKey, get_method
    from kinoseal.watermark.scan import WatermarkScan
    from testkit.clips import synthetic_frames

    key = WatermarkKey.generate() if seed is None else WatermarkKey(bytes([seed, 0]) * 16)
    ys = [f[..., 1].copy() for f in synthetic_frames(16, h=288, w=384, seed=3)]
    emb = get_method("kinoseal-wm-v3").embedder(key, 0xABCDEF)
    frames = [emb.embed_luma(y) for y in ys]
    names = ("kinoseal-wm-v3", "kinoseal-wm-v1", "kinoseal-wm-v2", "kinoseal-wm-v4", "kinoseal-wm-v5")

    def run(shared: bool):
        exs = [get_method(n).extractor([key]) for n in names]
        if shared:
            WatermarkScan(exs, 96)
            # v5's embedder caps flat frames differently (min_rms), its analysis of frames is the same
            assert all(exs[i]._shared is exs[0]._shared for i in (2, 3, 4)) and exs[1] is not exs[0]
        for y in frames:
            for ex in exs:
                ex.update(y)
        return [(r.method, r.detected, r.log10_p_value, r.payload_id, r.bound, r.binding_log10_p, r.per_frame_scores)
                for r in (ex.result() for ex in exs)]

    alone, shared = run(False), run(True)
    assert shared == alone
    assert shared[0][1] and shared[0][4] is True  # v3 found and bound, through the shared analysis


# --- a forger that learns the binding ---------------------------------------------------------


def _scene_lumas(i: int, n: int) -> list[np.ndarray]:
    from kinoseal.mediaio.colour import rgb_to_i420
    from kinoseal.scenes.procedural import COLOURS, MOTIONS, SHAPES, TEXTURES, make_spec, render_clip

    cols = list(COLOURS)
    rng = np.random.default_rng(i)
    spec = make_spec(cols[i % 8], SHAPES[i % 4], cols[(i + 3) % 8], MOTIONS[i % 9], rng,
                     texture=TEXTURES[i % 3], pan=("left", "right", None)[i % 3])
    return [rgb_to_i420(f)[0] for f in render_clip(spec, frames=n, size=256, rng=rng)]


@pytest.fixture(scope="module")
def forger_data():
    return [_scene_lumas(i, 6) for i in range(16)], _scene_lumas(100, 4)


def _learned_sign_accuracy(name, forger_data):
    """How often a forger trained on 16 marked scenes predicts the true bound value of an unseen one."""
    from kinoseal.evaluation.watermark.learned_forger import LearnedForger, true_bound_values

    train, host = forger_data
    m = get_method(name)
    marked = [[m.embedder(KEY, 0x2000 + k).embed_luma(y) for y in c] for k, c in enumerate(train)]
    forger = LearnedForger(m).fit(marked)
    truth = m.embedder(KEY, 0)
    return float(np.mean([np.mean(forger.signs(y) == true_bound_values(truth, y)[0]) for y in host]))


def test_a_regression_forger_learns_one_halfspace_but_not_a_product(forger_data):
    """v4's bound value is a keyed halfspace of features anyone can compute: 16 marked scenes teach a
    regression to predict it (measured 65%; on real clips 10 clips bind forgeries, bench.wm_learned_forgery).
    v5's product of two halfspaces is even in x and has no linear part: the same forger is at chance."""
    assert _learned_sign_accuracy("kinoseal-wm-v4", forger_data) > 0.58
    assert abs(_learned_sign_accuracy("kinoseal-wm-v5", forger_data) - 0.5) < 0.02


def test_a_learnable_binding_is_reported_but_is_not_proof(tmp_path):
    """A stripped clip marked with v4 binds, and so would a learned forgery: the verifier says so and
    does not call it ai_generated, unless the operator lists v4 in ``proof_bindings`` or the provenance
    registry's fingerprint of the clip that payload was made for matches (which a forgery on other
    footage does not)."""
    import dataclasses

    from kinoseal.config import Settings
    from kinoseal.label import GeneratorInfo, Labeler
    from kinoseal.verify.verifier import Verifier
    from testkit.clips import generated_like_frames, remux, write_clip

    settings = Settings(home=tmp_path / "home", classifier_model="none")
    src = write_clip(tmp_path / "src.mp4", generated_like_frames(24))
    Labeler.from_settings(settings.with_(watermark_method="kinoseal-wm-v4")).label_file(
        src, tmp_path / "v4.mp4", GeneratorInfo("t", "1"))
    stripped = remux(tmp_path / "v4.mp4", tmp_path / "stripped.mp4")
    verifier = Verifier.from_settings(settings)
    r = dataclasses.replace(verifier, registry=None).verify(stripped)  # a verifier that did not label it
    wm = r.watermark
    assert wm.detected and wm.method == "kinoseal-wm-v4" and wm.bound is False and wm.binding_p_value < 1e-6
    assert r.verdict != Verdict.AI_GENERATED
    assert any("can learn its binding" in e for e in r.evidence), r.evidence
    vouched = verifier.verify(stripped)
    assert vouched.verdict == Verdict.AI_GENERATED and vouched.provenance["content_match"]["matched"]
    assert "belongs to this content" in vouched.summary
    trusting = Verifier.from_settings(settings.with_(proof_bindings=("kinoseal-wm-v4", "kinoseal-wm-v5")))
    assert trusting.verify(stripped).verdict == Verdict.AI_GENERATED


def test_a_binding_that_is_not_proof_is_tested_only_where_the_mark_is(clips, tmp_path):
    """A binding that is not proof alone (v3/v4 always; v5 unless listed in ``proof_bindings``) changes a
    verdict only with the registry's vouching, which needs the mark present, so the verifier skips its
    bound test on clips where the sync layer finds nothing (most clips); a mark that is there is still
    bound and reported."""
    from kinoseal.config import Settings
    from kinoseal.verify.verifier import Verifier

    v4 = get_method("kinoseal-wm-v4")
    lazy = v4.extractor([KEY])
    lazy.bind_only_when_present = True
    for f in clips["bikes"]:
        lazy.update(f[0])
    r = lazy.result()
    assert not r.detected and r.bound is False and r.binding_log10_p is None
    lazy = v4.extractor([KEY])
    lazy.bind_only_when_present = True
    for f in mark(v4, clips["bikes"], 0x77):
        lazy.update(f[0])
    r = lazy.result()
    assert r.detected and r.bound is True and r.binding_log10_p < LOG_T and r.payload_id == 0x77
    from kinoseal.watermark.keyring import load_keyring

    settings = Settings(home=tmp_path / "home", classifier_model="none")
    load_keyring(settings.keys_dir / "watermark")  # a home with a key, as labeling leaves it
    for proof, v5_lazy in (((), True), (("kinoseal-wm-v5",), False)):
        scan, names = Verifier.from_settings(settings.with_(proof_bindings=proof))._watermark_scan()
        lazy_of = {n: getattr(ex, "bind_only_when_present", None) for n, ex in zip(names, scan.extractors)}
        assert lazy_of["kinoseal-wm-v5"] is v5_lazy and lazy_of["kinoseal-wm-v4"] is True and lazy_of["kinoseal-wm-v3"] is True


def test_a_platform_can_scan_fewer_versions_and_a_wrong_name_is_refused(tmp_path, monkeypatch):
    from kinoseal.config import Settings
    from kinoseal.errors import KinosealError
    from kinoseal.verify.verifier import Verifier
    from kinoseal.watermark.keyring import load_keyring

    monkeypatch.setenv("KINOSEAL_WATERMARK_VERSIONS", "kinoseal-wm-v5, kinoseal-wm-v2")
    settings = Settings.from_env(home=tmp_path / "home", classifier_model="none")
    assert settings.watermark_versions == ("kinoseal-wm-v5", "kinoseal-wm-v2")
    load_keyring(settings.keys_dir / "watermark")
    scan, names = Verifier.from_settings(settings)._watermark_scan()
    assert names == ["kinoseal-wm-v5", "kinoseal-wm-v2"] and len(scan.extractors) == 2
    every = Verifier.from_settings(settings.with_(watermark_versions=()))._watermark_scan()[1]
    assert len(every) == 5 and every[0] == "kinoseal-wm-v5"
    with pytest.raises(KinosealError, match="kinoseal-wm-v9"):
        Verifier.from_settings(settings.with_(watermark_versions=("kinoseal-wm-v9",)))
    with pytest.raises(KinosealError, match="kinoseal-wm-5"):
        Verifier.from_settings(settings.with_(proof_bindings=("kinoseal-wm-5",)))
    # a server with a wrong name stops at startup, not with an error answer at every request
    from kinoseal.api.http.app import create_app
    from kinoseal.api.http.config import ServiceSettings

    with pytest.raises(KinosealError, match="kinoseal-wm-v9"):
        create_app(ServiceSettings(core=settings.with_(watermark_versions=("kinoseal-wm-v9",))))


def test_label_size_bench_compares_every_version_with_the_unmarked_encode(tmp_path):
    """bench.label_size on a short run: every version against the unmarked encode of the same frames;
    the mark is detail the encoder keeps, so no marked file is smaller."""
    import json

    from bench.label_size import main
    from kinoseal.watermark import list_methods

    main(["--crf", "23", "--payloads", "1", "--seconds", "0.5", "--out", str(tmp_path)])
    res = json.loads((tmp_path / "label_size.json").read_text())
    assert {r["clip"] for r in res["rows"]} >= {"generated"}
    for r in res["rows"]:
        assert set(r["methods"]) == set(list_methods())
        assert all(m["ratio_min"] >= 1.0 for m in r["methods"].values()), r
    assert "| generated (256x256) | 23 |" in (tmp_path / "label_size.md").read_text()


def test_the_bound_test_screens_a_third_of_its_frames_only_where_the_sync_layer_found_nothing():
    """v5's bound test on a clip whose sync layer found nothing reads a third of its frames first: on
    unmarked frames that screen stops it with its own (exact) p-value, and the decision is the full
    test's; a marked clip, whose sync layer speaks, gets the full test."""
    from kinoseal.watermark import WatermarkKey, get_method
    from kinoseal.watermark.v3 import SCREEN_FRAMES_DIV, SCREEN_STOP_LOG10_P
    from testkit.clips import synthetic_frames

    m = get_method("kinoseal-wm-v5")
    key = WatermarkKey(b"\x11" * 32)
    ys = [f[..., 1].copy() for f in synthetic_frames(30, h=240, w=320, seed=9)]
    stopped = 0
    for seed_key in range(4):  # unmarked: screened unless the third leans towards a mark (p <= 0.5)
        k = WatermarkKey(bytes([seed_key + 40]) * 32)
        ex = m.extractor([k])
        for y in ys:
            ex.update(y)
        r = ex.result()
        assert not r.detected and ex.debug["sync_log10_p"] >= -2.0
        lp_s, gi, di, sh, li, _ = ex.debug["best"]
        only = ex.debug.get("bound_frames_only")  # a stretch the sync scores single out is tested alone
        full = ex.bound_test(li, gi, di, sh, set(only) if only else None)[0]
        third = ex.bound_test(li, gi, di, sh, set(ex._bound_frames(None)[::SCREEN_FRAMES_DIV]))[0]
        if ex.debug["bound_screened"]:
            stopped += 1
            assert r.binding_log10_p == third > SCREEN_STOP_LOG10_P and full > -6
        else:
            assert r.binding_log10_p == full
    assert stopped >= 1
    emb = m.embedder(key, 0x1234)
    ex = m.extractor([key])
    for y in ys:
        ex.update(emb.embed_luma(y))
    r = ex.result()
    assert r.bound and not ex.debug["bound_screened"]


def _moving_object_clip(n: int = 48) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A red ball sliding over a flat blue field, 256x256: kino-tiny's kind of output, where the
    bound layer's signs follow the moving object."""
    from kinoseal.mediaio.colour import rgb_to_i420
    from kinoseal.scenes.procedural import make_spec, render_clip

    return [rgb_to_i420(f) for f in render_clip(make_spec("red", "ball", "blue", "sliding right"), frames=n, size=256)]


def test_v5_holds_only_the_bound_values_its_test_does_not_read():
    """Where an instance's smallest |f| is under the hold (half the test's dead zone, where the test
    gives it no weight), v5 embeds the previous frame's value; everywhere else the content's own signs.
    The held values stop most of the frame-to-frame flicker; a fresh embedder repeats the same marks,
    and a new frame size starts without history."""
    m = get_method("kinoseal-wm-v5")
    assert 0 < m.params.hold <= m.params.dead
    frames = _moving_object_clip(16)
    emb = m.embedder(KEY, 7)
    flips_held, flips_own, prev_held, prev_own = [], [], None, None
    for y, _, _ in frames:
        f = emb.features(y)
        own = emb.bound_signs(y)
        held = emb.bound_values(y)
        read = np.abs(f).min(axis=0) >= m.params.hold
        assert np.array_equal(held[read], own[read])
        if prev_held is not None:
            flips_held.append(np.mean(held != prev_held))
            flips_own.append(np.mean(own != prev_own))
        prev_held, prev_own = held, own
    assert np.mean(flips_held) < 0.5 * np.mean(flips_own), (np.mean(flips_held), np.mean(flips_own))
    one, two = m.embedder(KEY, 7), m.embedder(KEY, 7)  # one embedder per clip, as the labeler makes
    first = [one.embed_luma(y) for y, _, _ in frames[:4]]
    again = [two.embed_luma(y) for y, _, _ in frames[:4]]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    small = frames[0][0][:128, :128].copy()  # another size: no history, so the content's own signs
    assert np.array_equal(two.bound_values(small), two.bound_signs(small))


def test_v5_mark_on_a_moving_object_survives_h264_crf28_because_of_the_hold(tmp_path):
    """The hold is what carries this clip through H.264 CRF 28: the same embedder without it (values
    flickering with the object) leaves the sync layer many orders of magnitude weaker (for this key
    10^-10 against 10^-34 with the detector's blended host prediction; 10^-5 against 10^-16 with the
    quadratic surface alone, which this test's old bound of 10^-8 for the no-hold clip assumed)."""
    import dataclasses

    from kinoseal.mediaio.reader import iter_frames
    from kinoseal.mediaio.writer import H264Writer

    frames = _moving_object_clip()
    v5 = get_method("kinoseal-wm-v5")
    no_hold = dataclasses.replace(v5, params=dataclasses.replace(v5.params, hold=0.0))
    sync = {}
    for name, m in (("hold", v5), ("no hold", no_hold)):
        path = tmp_path / f"{name}.mp4"
        with H264Writer(path, width=256, height=256, fps=24, crf=28, preset="medium") as wr:
            for y, u, v in mark(m, frames, 0xC0FFEE):
                wr.write_i420(y, u, v)
        ex = v5.extractor([KEY])
        for f in iter_frames(path):
            ex.update(f.planes[0])
        r = ex.result()
        sync[name] = ex.debug["sync_log10_p"]
        if name == "hold":
            assert r.detected and r.log10_p_value < -12, ex.debug
    assert sync["hold"] < -12 and sync["hold"] < sync["no hold"] - 15, sync


def test_v5_marks_the_generators_flat_output_strongly_enough_to_survive_h264_crf30(tmp_path):
    """kino-tiny's output is flat colour fields, where v2's flat-frame cap (``min_rms`` 0.5) held the mark at
    48-52 dB, a quarter to a ninth of the power real footage carries (42.5 dB), so that a platform's H.264 CRF 30 re-encode left
    its binding orders of magnitude weaker (this clip: 10^-10.8 against 10^-45.0; on others of the bench it
    broke, ``bench/results/wm_flat.md``). v5's cap of 0.25 marks it at 42-47 dB. Through the product's
    own path: ``generate_clip`` writes a labeled clip (its own key), which is then marked again."""
    import dataclasses

    from kinoseal.evaluation.watermark.clips import kino_tiny_frames
    from kinoseal.mediaio.reader import iter_frames
    from kinoseal.mediaio.writer import H264Writer

    # generate_clip under a fixed label key: the same host every run
    frames, _ = kino_tiny_frames("a yellow triangle rotating on a purple background", 2, 16)
    v5 = get_method("kinoseal-wm-v5")
    assert v5.params.min_rms == 0.25
    capped = dataclasses.replace(v5, params=dataclasses.replace(v5.params, min_rms=0.5))
    got = {}
    for name, m in (("v5", v5), ("cap 0.5", capped)):
        marked = mark(m, frames, 0xF1A7)
        db = float(np.mean([psnr(a[0], b[0]) for a, b in zip(marked, frames)]))
        path = tmp_path / f"{name}.mp4"
        with H264Writer(path, width=256, height=256, fps=8, crf=30, preset="medium") as wr:
            for y, u, v in marked:
                wr.write_i420(y, u, v)
        r = detect(v5, [f.planes for f in iter_frames(path)])
        got[name] = (db, r.bound, r.binding_log10_p)
    db, bound, binding = got["v5"]
    assert 42.0 <= db <= 47.0 and bound and binding < -12, got
    assert got["cap 0.5"][0] > 48.0 and got["cap 0.5"][2] > binding + 10, got


@pytest.mark.parametrize("level", [16, 128, 235])
def test_v5_on_a_uniform_frame_stays_a_faint_grain(level):
    """The price of the flat-frame cap of 0.25: a uniform frame (a fade, a title card) gets the most the cap
    allows, a grain of at most 3 grey levels (1.4 RMS, 45 dB), where 0.5 gave 1 level. Busy frames are
    marked at ~42.5 dB, so a flat frame still gets less power than texture would hide."""
    f = np.full((256, 256), level, np.uint8)
    d = get_method("kinoseal-wm-v5").embedder(KEY, 5).embed_luma(f).astype(int) - level
    assert np.abs(d).max() <= 3 and 45.0 <= psnr(f + d, f) <= 46.5, (np.abs(d).max(), psnr(f + d, f))


def test_a_small_clip_turned_10_degrees_is_found_by_the_sweeps_rotated_lattices():
    """carphone (176x144) turned 10 degrees about its centre, black corners: its few tiles leave the
    autocorrelation too weak to find the rotated lattice, so the blind search missed it (p ~ 1). The
    sweep now also holds the frame-size rule's lattice turned by 1..15 degrees either way, on small
    frames only (a fixed list: the test stays exact): found and bound. Large frames get none."""
    import hashlib

    from kinoseal.evaluation.watermark.attacks import apply_attack, frame_kind
    from kinoseal.evaluation.watermark.clips import load_clip
    from kinoseal.evaluation.watermark.suite import method_variant
    from kinoseal.watermark import WatermarkKey, get_method
    from kinoseal.watermark.v2 import rotation_sweep

    clip = load_clip("carphone")
    key = WatermarkKey(hashlib.sha256(b"cp-0").digest())
    emb = get_method("kinoseal-wm-v5").embedder(key, 12345)
    marked = [(emb.embed_luma(y), u, v) for y, u, v in clip.frames]
    turned, _ = apply_attack("rotate_10", marked, clip.fps)

    def read(method):
        ex = method.extractor([key])
        for f in turned:
            ex.update(np.ascontiguousarray(f[0]), frame_kind(f))
        return ex.result()

    with_rotations = read(get_method("kinoseal-wm-v5"))
    assert with_rotations.detected and with_rotations.bound and with_rotations.binding_log10_p < -8
    without = read(method_variant("kinoseal-wm-v5:rot_sweep_deg=0"))
    assert not without.detected and without.log10_p_value > -3
    p = get_method("kinoseal-wm-v5").params
    assert len(rotation_sweep(p, (144, 176), 64.0)) == 30 and rotation_sweep(p, (256, 455), 85.3) == []


def test_a_fill_left_by_a_shrink_no_longer_unbinds_a_flat_clip():
    """A flat generated clip (a red ball on blue, the generator's domain) shrunk to 0.88 about its
    centre with a black fill: the fill's edge used to set the binding test's features near it and
    drown the clip's few usable instances. v5 carries the picture into the fill first (content only:
    the test stays exact); the same frames read without it bind far more weakly."""
    import hashlib

    from PIL import Image

    from kinoseal.evaluation.watermark.suite import method_variant
    from kinoseal.mediaio.colour import rgb_to_i420
    from kinoseal.watermark import WatermarkKey, get_method
    from kinoseal.watermark.v3 import fill_index
    from testkit.clips import generated_like_frames

    key = WatermarkKey(hashlib.sha256(b"fill-test").digest())
    emb = get_method("kinoseal-wm-v5").embedder(key, 4242)
    marked = [emb.embed_luma(rgb_to_i420(f)[0]) for f in generated_like_frames(24)]
    s = 0.88  # output (x, y) <- input ((x - c) / s + c): the picture shrunk about the centre

    def shrink(y):
        h, w = y.shape
        coeffs = (1 / s, 0, w / 2 * (1 - 1 / s), 0, 1 / s, h / 2 * (1 - 1 / s))
        return np.asarray(Image.fromarray(y).transform((w, h), Image.AFFINE, coeffs, Image.BILINEAR, fillcolor=16))

    shrunk = [shrink(y) for y in marked]
    assert fill_index(marked) is None and fill_index(shrunk) is not None

    def binding(method):
        ex = method.extractor([key])
        for y in shrunk:
            ex.update(y)
        return ex.result().binding_log10_p

    carried = binding(get_method("kinoseal-wm-v5"))
    as_is = binding(method_variant("kinoseal-wm-v5:fill_border=False"))
    assert carried < -30 and carried < as_is - 20, (carried, as_is)


def test_a_forger_shaped_after_v5_learns_its_two_halfspaces_from_clean_labels(forger_data):
    """``PairForger`` (the rank-one start and alternating least squares of ``bench.wm_learned_forgery
    --pair``) is a correct learner of v5's binding: given the true bound values instead of its noisy
    estimates from the marked frames, 16 scenes of 6 frames teach it to predict them on an unseen scene
    far above chance. Estimated from marked frames its labels are far noisier (correlation with the truth
    ~0.1 at 320x240 with a high-pass, near chance on a hundred clips; ~0.26 with kinoseal's own whitening,
    enough for a hundred clips to forge: bench.wm_learned_forgery --pair --estimate whitened)."""
    from kinoseal.evaluation.watermark.learned_forger import clean_label_forger, true_bound_values

    train, host = forger_data
    m = get_method("kinoseal-wm-v5")
    truth = m.embedder(KEY, 0)
    forger = clean_label_forger(m, truth).fit(train)
    acc = []
    for y in host:
        s, live = true_bound_values(truth, y)
        acc.append(np.mean(forger.signs(y)[live] == s[live]))
    assert float(np.mean(acc)) > 0.65, acc
