"""The verdict rules as a pure function: every path, and the invariant that only
a trusted, intact, watermark-free capture manifest can ever be ``authentic``."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kinoseal.credentials.manifests import AI_SOURCE_TYPES, CAPTURE_SOURCE_TYPES, DIGITAL_CAPTURE, TRAINED
from kinoseal.credentials.reading import C2paEvidence, IngredientInfo
from kinoseal.verify.report import ClassifierEvidence, Verdict, WatermarkEvidence
from kinoseal.verify.rules import decide

NO_WM = WatermarkEvidence(detected=False, p_value=0.5, frames_analyzed=10)
WM = WatermarkEvidence(detected=True, p_value=1e-20, payload_id="00ff", frames_analyzed=10)
NO_CLS = ClassifierEvidence(available=False)


def c2pa(state="Trusted", source=DIGITAL_CAPTURE, failures=(), ingredients=()):
    return C2paEvidence(
        present=True, validation_state=state, digital_source_type=source,
        failure_codes=list(failures), ingredients=list(ingredients), signer={"common_name": "cam", "issuer": "x"},
    )


def test_trusted_capture_is_authentic():
    assert decide(c2pa(), NO_WM, NO_CLS).verdict == Verdict.AUTHENTIC


def test_capture_manifest_on_watermarked_pixels_is_ai():
    d = decide(c2pa(), WM, NO_CLS)
    assert d.verdict == Verdict.AI_GENERATED
    assert "camera capture" in d.evidence[0]


def test_untrusted_capture():
    d = decide(c2pa("Valid", failures=["signingCredential.untrusted"]), NO_WM, NO_CLS)
    assert d.verdict == Verdict.UNTRUSTED_SIGNATURE


def test_expired_capture_is_not_authentic():
    d = decide(c2pa("Invalid", failures=["signingCredential.expired", "signingCredential.untrusted"]), NO_WM, NO_CLS)
    assert d.verdict == Verdict.UNTRUSTED_SIGNATURE


def test_hash_mismatch_is_tampered_and_mentions_watermark():
    d = decide(c2pa("Invalid", failures=["assertion.bmffHash.mismatch"]), WM, NO_CLS)
    assert d.verdict == Verdict.TAMPERED
    assert any("watermark" in e for e in d.evidence)


def test_tampered_ingredient_is_tampered():
    bad = IngredientInfo("p.mp4", "parentOf", "urn:x", DIGITAL_CAPTURE, None, ["assertion.bmffHash.mismatch"])
    d = decide(c2pa(ingredients=[bad]), NO_WM, NO_CLS)
    assert d.verdict == Verdict.TAMPERED


def test_ai_manifest_trusted_or_not():
    assert decide(c2pa(source=TRAINED), NO_WM, NO_CLS).verdict == Verdict.AI_GENERATED
    d = decide(c2pa("Valid", source=TRAINED, failures=["signingCredential.untrusted"]), NO_WM, NO_CLS)
    assert d.verdict == Verdict.AI_GENERATED and "untrusted" in d.evidence[0].lower()


def test_watermark_above_threshold_is_ignored():
    weak = WatermarkEvidence(detected=True, p_value=1e-3, frames_analyzed=10)
    assert decide(C2paEvidence(present=False), weak, NO_CLS).verdict == Verdict.UNKNOWN


def test_classifier_alone_is_at_most_likely():
    cls = ClassifierEvidence(available=True, score=0.999)
    assert decide(C2paEvidence(present=False), NO_WM, cls).verdict == Verdict.LIKELY_AI_GENERATED
    cls_low = ClassifierEvidence(available=True, score=0.5)
    assert decide(C2paEvidence(present=False), NO_WM, cls_low).verdict == Verdict.UNKNOWN


sources = st.sampled_from(sorted(AI_SOURCE_TYPES | CAPTURE_SOURCE_TYPES) + [None, "http://example/other"])
codes = st.lists(
    st.sampled_from(
        ["signingCredential.untrusted", "signingCredential.expired", "assertion.bmffHash.mismatch",
         "claimSignature.mismatch", "assertion.hashedURI.mismatch", "kinoseal.manifest.unverifiable"]
    ),
    max_size=3,
)


@settings(max_examples=400, deadline=None)
@given(
    present=st.booleans(),
    state=st.sampled_from(["Trusted", "Valid", "Invalid", None]),
    source=sources,
    failures=codes,
    ing_failures=codes,
    wm_detected=st.booleans(),
    wm_p=st.floats(0, 1),
    cls_score=st.one_of(st.none(), st.floats(0, 1)),
)
def test_only_trusted_clean_capture_is_authentic(present, state, source, failures, ing_failures, wm_detected, wm_p, cls_score):
    ing = [IngredientInfo("p", "parentOf", "urn:p", None, None, ing_failures)] if ing_failures else []
    ev = C2paEvidence(present=present, validation_state=state, digital_source_type=source,
                      failure_codes=failures, ingredients=ing)
    wm = WatermarkEvidence(detected=wm_detected, p_value=wm_p, frames_analyzed=5)
    cls = ClassifierEvidence(available=cls_score is not None, score=cls_score)
    d = decide(ev, wm, cls)
    if d.verdict == Verdict.AUTHENTIC:
        assert present and state == "Trusted" and not failures and not ing_failures
        assert source in CAPTURE_SOURCE_TYPES
        assert not (wm_detected and wm_p < 1e-6)
    if d.verdict == Verdict.AI_GENERATED:
        assert (wm_detected and wm_p < 1e-6) or (present and source in AI_SOURCE_TYPES)
    if d.verdict == Verdict.LIKELY_AI_GENERATED:
        assert cls_score is not None and cls_score >= 0.95
    assert 0.0 <= d.confidence <= 1.0
    assert d.evidence


# -- issue 20: the deciding line, AI extent, capture through a parent, trust lowering --

from kinoseal.credentials.manifests import COMPOSITE_TRAINED, IPTC  # noqa: E402
from kinoseal.credentials.reading import ai_disclosure, capture_origin  # noqa: E402


def test_reason_of_a_watermarked_clip_without_manifest_is_the_watermark():
    d = decide(C2paEvidence(present=False), WM, NO_CLS)
    assert d.verdict == Verdict.AI_GENERATED
    assert d.reason.startswith("kinoseal watermark detected") and d.evidence[0] == d.reason
    assert d.ai_extent is None  # the watermark does not say how much the model made


def test_reason_is_always_the_first_evidence_line():
    for ev, wm in [(c2pa(), NO_WM), (c2pa("Valid", failures=["signingCredential.untrusted"]), NO_WM),
                   (c2pa("Invalid", failures=["assertion.bmffHash.mismatch"]), WM), (C2paEvidence(present=False), NO_WM)]:
        d = decide(ev, wm, NO_CLS)
        assert d.reason and d.evidence[0] == d.reason


def test_untrusted_manifest_without_claims_is_untrusted_signature_not_unknown():
    ev = C2paEvidence(present=True, validation_state="Valid", failure_codes=["signingCredential.untrusted"])
    d = decide(ev, NO_WM, ClassifierEvidence(available=True, score=0.99))
    assert d.verdict == Verdict.UNTRUSTED_SIGNATURE and "unknown signer" in d.reason


def test_invalid_credential_is_not_tampering():
    ev = c2pa("Invalid", failures=["signingCredential.untrusted", "signingCredential.invalid"])
    d = decide(ev, NO_WM, NO_CLS)
    assert d.verdict == Verdict.UNTRUSTED_SIGNATURE and "may not sign C2PA claims" in d.reason


def test_cawg_identity_untrusted_lowers_trust_only():
    d = decide(c2pa("Valid", failures=["cawg.x509.credential.untrusted"]), NO_WM, NO_CLS)
    assert d.verdict == Verdict.UNTRUSTED_SIGNATURE and "CAWG identity" in d.reason


def test_expired_ingredient_credential_is_not_tampering():
    ev = c2pa("Invalid", failures=["ingredient:signingCredential.expired", "ingredient:signingCredential.untrusted"])
    d = decide(ev, NO_WM, NO_CLS)
    assert d.verdict == Verdict.UNTRUSTED_SIGNATURE and "not tampering" in d.reason


def _store(manifests: dict, active: str) -> dict:
    return {"active_manifest": active, "manifests": manifests}


def _manifest(title, actions=(), ingredients=()):
    return {"title": title, "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": list(actions)}}],
            "ingredients": list(ingredients), "signature_info": {"common_name": title}}


def _ing(title, label, relationship="parentOf"):
    return {"title": title, "active_manifest": label, "relationship": relationship}


GEN = {"action": "c2pa.created", "digitalSourceType": TRAINED}
CAP = {"action": "c2pa.created", "digitalSourceType": DIGITAL_CAPTURE}
OPENED = {"action": "c2pa.opened"}


def test_generated_clip_is_full():
    s = _store({"a": _manifest("gen.mp4", [GEN])}, "a")
    assert [(e["extent"], e["where"]) for e in ai_disclosure(s, "a")] == [("full", "active manifest")]


def test_ai_edit_of_real_footage_is_partial_and_names_nothing_else():
    # kinoseal's own AI edit: opened a camera parent, then composited AI content.
    s = _store({"a": _manifest("edit.mp4", [OPENED, {"action": "c2pa.edited", "digitalSourceType": COMPOSITE_TRAINED}],
                               [_ing("cam.mp4", "p")]),
                "p": _manifest("cam.mp4", [CAP])}, "a")
    out = ai_disclosure(s, "a")
    assert [(e["extent"], e["source_type"]) for e in out] == [("partial", COMPOSITE_TRAINED)]


def test_ai_ingredient_inside_real_footage_is_partial_and_named():
    s = _store({"a": _manifest("cut.mp4", [OPENED], [_ing("cam.mp4", "p"), _ing("sky.png", "g", "componentOf")]),
                "p": _manifest("cam.mp4", [CAP]), "g": _manifest("sky.png", [GEN])}, "a")
    out = ai_disclosure(s, "a")
    assert [(e["extent"], e["where"], e["title"]) for e in out] == [("partial", "ingredient", "sky.png")]
    d = decide(C2paEvidence(present=True, validation_state="Trusted", ai_disclosure=out), NO_WM, NO_CLS)
    assert d.verdict == Verdict.AI_GENERATED and d.ai_extent == "partial" and "sky.png" in d.reason


def test_generated_parent_passed_on_unchanged_stays_full():
    # A newsroom re-signs a generated clip (opened, watermarked): still fully AI-generated.
    s = _store({"a": _manifest("pub.mp4", [OPENED, {"action": "c2pa.watermarked"}], [_ing("gen.mp4", "g")]),
                "g": _manifest("gen.mp4", [GEN])}, "a")
    out = ai_disclosure(s, "a")
    assert [(e["extent"], e["where"], e["title"]) for e in out] == [("full", "ingredient", "gen.mp4")]
    d = decide(C2paEvidence(present=True, validation_state="Valid", ai_disclosure=out,
                            failure_codes=["signingCredential.untrusted"]), NO_WM, NO_CLS)
    assert d.ai_extent == "full" and "gen.mp4" in d.reason and "untrusted" in d.reason.lower()


def test_disclosure_walk_survives_cycles():
    s = _store({"a": _manifest("a", [GEN], [_ing("b", "b")]), "b": _manifest("b", [GEN], [_ing("a", "a")])}, "a")
    assert len(ai_disclosure(s, "a")) == 2


def test_algorithmically_enhanced_is_not_ai_disclosure():
    s = _store({"a": _manifest("x", [{"action": "c2pa.edited", "digitalSourceType": IPTC + "algorithmicallyEnhanced"}])}, "a")
    assert ai_disclosure(s, "a") == []


def test_capture_through_a_parent_is_authentic_only_when_trusted_and_clean():
    s = _store({"a": _manifest("pub.mp4", [OPENED, {"action": "c2pa.watermarked"}], [_ing("cam.mp4", "p")]),
                "p": _manifest("cam.mp4", [CAP])}, "a")
    origin = capture_origin(s, "a")
    assert origin and origin["source_type"] == DIGITAL_CAPTURE and origin["title"] == "cam.mp4"
    ok = C2paEvidence(present=True, validation_state="Trusted", origin=origin)
    assert decide(ok, NO_WM, NO_CLS).verdict == Verdict.AUTHENTIC
    shaky = C2paEvidence(present=True, validation_state="Valid", origin=origin,
                         failure_codes=["ingredient:signingCredential.untrusted"])
    assert decide(shaky, NO_WM, NO_CLS).verdict == Verdict.UNTRUSTED_SIGNATURE
    # A manifest with a source type of its own speaks for itself.
    own = _store({"a": _manifest("x", [{"action": "c2pa.created", "digitalSourceType": IPTC + "screenCapture"}],
                                 [_ing("cam.mp4", "p")]), "p": _manifest("cam.mp4", [CAP])}, "a")
    assert capture_origin(own, "a") is None


def test_malformed_manifest_without_claims_is_unknown_not_tampered():
    ev = C2paEvidence(present=True, validation_state="Invalid", failure_codes=["assertion.cbor.invalid"])
    d = decide(ev, NO_WM, NO_CLS)
    assert d.verdict == Verdict.UNKNOWN and "malformed" in d.reason and "not evidence of tampering" in d.reason
