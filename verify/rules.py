"""Evidence -> verdict. A pure function, documented in the README ("Verdict rules").

Order matters and is deliberate:
1. A manifest whose bytes or signature do not match -> ``tampered`` (cryptographic
   fact; the watermark result is reported beside it). A tampered ingredient in
   the history counts too.
2. A detected watermark -> ``ai_generated`` (p-value below the threshold). This
   comes before any capture claim: a capture manifest on a watermarked clip is
   never ``authentic``.
3. A manifest that declares an AI source type -> ``ai_generated`` (trusted or
   not; the evidence says which).
4. A Trusted manifest, no failures (its own or in its ingredient history), a
   capture source type (and no watermark, by rule 2) -> ``authentic``. Nothing
   else yields ``authentic``.
5. A valid capture manifest from an untrusted (or expired) signer -> ``untrusted_signature``.
6. Classifier probability >= its threshold -> ``likely_ai_generated`` (never more).
7. Otherwise ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass

from credentials.manifests import AI_SOURCE_TYPES, CAPTURE_SOURCE_TYPES
from credentials.reading import C2paEvidence
from verify.report import ClassifierEvidence, Verdict, WatermarkEvidence


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    confidence: float
    evidence: list[str]


def _signer_text(c2pa: C2paEvidence) -> str:
    s = c2pa.signer or {}
    cn = s.get("common_name") or "an unnamed signer"
    issuer = s.get("issuer")
    return f"{cn!r}" + (f" (issued by {issuer!r})" if issuer else "")


def _short_type(uri: str | None) -> str:
    return (uri or "none").rsplit("/", 1)[-1]


def decide(
    c2pa: C2paEvidence,
    watermark: WatermarkEvidence,
    classifier: ClassifierEvidence,
    *,
    watermark_threshold: float = 1e-6,
    classifier_threshold: float = 0.95,
) -> Decision:
    ev: list[str] = []
    wm_found = bool(watermark.detected and watermark.p_value is not None and watermark.p_value < watermark_threshold)
    trusted = c2pa.present and c2pa.validation_state == "Trusted" and not c2pa.failure_codes
    clean_history = not c2pa.ingredient_codes
    source = c2pa.digital_source_type

    # Describe every piece of evidence first; the verdict below only picks from it.
    if c2pa.present:
        state = "trusted" if trusted else ("valid but untrusted" if not c2pa.integrity_failures else "invalid")
        ev.append(
            f"C2PA manifest signed by {_signer_text(c2pa)}: {state}; source type {_short_type(source)}"
        )
        if c2pa.failure_codes:
            ev.append("C2PA validation failures: " + ", ".join(sorted(set(c2pa.failure_codes))))
    elif c2pa.error:
        ev.append(f"No usable C2PA manifest ({c2pa.error})")
    else:
        ev.append("No C2PA manifest")
    if wm_found:
        pid = f", payload {watermark.payload_id}" if watermark.payload_id else ", payload not recovered"
        ev.append(
            f"kinoseal watermark detected (p = {watermark.p_value:.1e} < {watermark_threshold:.0e}{pid}, "
            f"{watermark.frames_analyzed} frames)"
        )
    elif watermark.error:
        ev.append(f"Watermark check failed: {watermark.error}")
    else:
        p = f"p = {watermark.p_value:.2g}" if watermark.p_value is not None else "no frames"
        ev.append(f"No kinoseal watermark ({p}, {watermark.frames_analyzed} frames)")
    if classifier.available and classifier.score is not None:
        ev.append(f"Classifier probability of generated video: {classifier.score:.2f} (threshold {classifier_threshold:.2f})")
    else:
        ev.append("Classifier: " + (classifier.note or "not available"))

    wm_conf = 1.0 - (watermark.p_value or 0.0) if wm_found else 0.0

    # 1. tampered
    ingredient_bad = c2pa.ingredient_failures
    if c2pa.present and (c2pa.integrity_failures or ingredient_bad):
        if ingredient_bad and not c2pa.integrity_failures:
            ev.insert(0, "An ingredient in the edit history failed validation: " + ", ".join(sorted(set(ingredient_bad))))
        else:
            ev.insert(0, "The signed content was altered after signing (hash or signature mismatch)")
        if wm_found:
            ev.insert(1, "The watermark says the clip is AI-generated")
        return Decision(Verdict.TAMPERED, 1.0, ev)
    # 2. watermark
    if wm_found:
        if c2pa.present and source in CAPTURE_SOURCE_TYPES:
            ev.insert(0, "The manifest claims a camera capture, but the pixels carry the AI watermark")
        return Decision(Verdict.AI_GENERATED, wm_conf, ev)
    # 3. declared AI source type
    if c2pa.present and source in AI_SOURCE_TYPES:
        how = "a trusted" if trusted else "an untrusted"
        ev.insert(0, f"{how.capitalize()} manifest declares AI-generated content ({_short_type(source)})")
        return Decision(Verdict.AI_GENERATED, 0.99 if trusted else 0.7, ev)
    # 4. authentic
    if trusted and clean_history and source in CAPTURE_SOURCE_TYPES:
        ev.insert(0, "A trusted signer states this is a camera recording and nothing was altered")
        return Decision(Verdict.AUTHENTIC, 0.99, ev)
    # 5. untrusted capture claim
    if c2pa.present and source in CAPTURE_SOURCE_TYPES:
        if trusted:
            ev.insert(0, "The capture is trusted, but an ingredient in its history is signed by an untrusted signer")
        else:
            ev.insert(0, "The capture claim is signed by a certificate that is not in the trust list (or has expired)")
        return Decision(Verdict.UNTRUSTED_SIGNATURE, 0.5, ev)
    # 6. classifier only
    if classifier.available and classifier.score is not None and classifier.score >= classifier_threshold:
        ev.insert(0, "Only the classifier points to generated video; labels are absent")
        return Decision(Verdict.LIKELY_AI_GENERATED, float(classifier.score), ev)
    # 7. unknown
    return Decision(Verdict.UNKNOWN, 0.0, ev)
