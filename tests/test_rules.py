"""The verdict rules as a pure function: every path, and the invariant that only
a trusted, intact, watermark-free capture manifest can ever be ``authentic``."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from credentials.manifests import AI_SOURCE_TYPES, CAPTURE_SOURCE_TYPES, DIGITAL_CAPTURE, TRAINED
from credentials.reading import C2paEvidence, IngredientInfo
from verify.report import ClassifierEvidence, Verdict, WatermarkEvidence
from verify.rules import decide

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
