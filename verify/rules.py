"""Evidence -> verdict. A pure function, documented in the README ("Verdict rules").

The C2PA part follows the C2PA validation model: every validation status code has
a category (``credentials.status_codes``), and only *integrity* codes (the signed
bytes, signature or hashed references do not match) can make a clip ``tampered``.
A credential that cannot be relied on (untrusted, expired, revoked, invalid, a
CAWG identity nobody vouches for) lowers trust and never reads as tampering.

Order matters and is deliberate:
1. An integrity failure in the active manifest or anywhere in its ingredient
   history -> ``tampered`` (cryptographic fact; the watermark is reported beside it).
2. A detected watermark bound to the content -> ``ai_generated`` (p-value below the
   threshold), with ``ai_extent`` "segments" when it marks only stretches of the clip (AI
   shots spliced into other footage: "contains AI-generated segments"). This comes before any capture claim: a capture manifest on a
   watermarked clip is never ``authentic``. A kinoseal pattern that is present but
   not bound to these pixels (``WatermarkEvidence.bound`` False: a v1/v2 mark, a
   mark copied from another clip, or a binding that is not proof alone, which a forger
   holding labeled clips can learn: v3/v4 from ~10, v5 from ~100, ``binding_not_proof``;
   ``Settings.proof_bindings`` is empty by default) is never ``ai_generated`` on its
   own: anyone holding labeled clips can paint it onto a real recording. It gets its
   own evidence line, blocks ``authentic``, and the later rules decide, unless the
   provenance registry vouches for it: the registered content fingerprint of the clip
   made with that key (or that payload) matches these pixels (``RegistryEvidence``; its
   hashes, or, for a clip the payload names, its views: a crop, a turn, a warp; a payload
   too damaged to decode is named among the registered payloads of the mark's key,
   ``Verifier._listed_payload``).
   A copied mark then points at a clip whose fingerprint does not match, and the
   evidence says which clip it was copied from. Where the blind search finds no mark but
   the pixels match a registered clip's fingerprint, that clip's own mark (its key and
   payload) is tested once where the fingerprint puts the picture
   (``RegistryEvidence.mark_log10_p``): below the threshold, this rule applies too.
3. An AI source type declared anywhere in the provenance chain (the active
   manifest's actions or any ingredient manifest's) -> ``ai_generated``, trusted or
   not (the evidence says which), with ``ai_extent`` "full" or "partial".
4. A trusted manifest, no failure of any kind (its own or in its ingredient
   history), a capture source type (its own, or its parent's when it only passes a
   parent on), and no watermark (rule 2) -> ``authentic``. Nothing else yields it.
5. A signed clip whose credential (or an ingredient's, or its CAWG identity) cannot
   be relied on, with a capture claim or with no claim at all -> ``untrusted_signature``
   ("a valid signature from an unknown signer").
6. No watermark, but the pixels match the registered fingerprint of a clip kinoseal
   labeled -> ``likely_ai_generated`` (never more: a fingerprint can be imitated, and an
   AI re-rendering of a real video fingerprints like the video).
7. Classifier probability >= its threshold -> ``likely_ai_generated`` (never more).
8. Otherwise ``unknown`` (including a manifest that is malformed, incomplete, only
   remote, or carries a status code the table does not know: none of these is
   evidence of tampering, and none can make a clip authentic).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kinoseal.credentials.manifests import AI_SOURCE_TYPES, CAPTURE_SOURCE_TYPES
from kinoseal.credentials.reading import AI_EXTENT, C2paEvidence
from kinoseal.credentials.status_codes import Category, category
from kinoseal.verify.report import ClassifierEvidence, RegistryEvidence, Verdict, WatermarkEvidence


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    confidence: float
    evidence: list[str]
    # The evidence line that decided the verdict (the report's summary says it).
    reason: str = ""
    # For AI verdicts from the provenance chain: "full" (the asset was made by the
    # model) or "partial" (real or human-made material with AI elements); "segments" when
    # the watermark marks only stretches of the clip (AI shots spliced into other footage;
    # ``WatermarkEvidence.segments`` says where); None when nothing says.
    ai_extent: str | None = None
    # Per category, the failure codes that were found (active manifest, ``ingredient:`` deltas
    # and the ingredients' recorded results), for reports that want the grouping.
    status: dict[str, list[str]] = field(default_factory=dict)
    # The verdict in plain words where the usual ones (``report.PLAIN_WORDS``) would mislead: a
    # likely verdict from a registered fingerprint is not "classifier only". "" = the usual words.
    label: str = ""


def _signer_text(signer: dict[str, Any] | None) -> str:
    s = signer or {}
    cn = s.get("common_name") or "an unnamed signer"
    issuer = s.get("issuer")
    return f"{cn!r}" + (f" (issued by {issuer!r})" if issuer else "")


def _short_type(uri: str | None) -> str:
    return (uri or "none").rsplit("/", 1)[-1]


def _bare(code: str) -> str:
    return code.split(":", 1)[1] if code.startswith("ingredient:") else code


def _trust_problem(codes: list[str]) -> str:
    """What is wrong with a credential, in words, from its trust-category codes."""
    bare = {_bare(c) for c in codes}
    if bare & {"signingCredential.ocsp.revoked"}:
        return "its signing certificate was revoked"
    if bare & {"signingCredential.invalid"}:
        return ("its signing certificate may not sign C2PA claims (for example it lacks an allowed "
                "extended key usage: load the signer's EKU configuration with --trust-config)")
    if bare & {"signingCredential.expired", "claimSignature.outsideValidity"}:
        return "its signing certificate has expired and no trusted time-stamp shows it was valid when it signed"
    if bare & {"signingCredential.ocsp.unknown"}:
        return "the certificate authority does not know its signing certificate"
    return "its signer is not on the trust list (a valid signature from an unknown signer)"


def _ai_entries(c2pa: C2paEvidence) -> list[dict[str, Any]]:
    """The chain's AI disclosures; evidence built by hand with only a source type counts as one."""
    if c2pa.ai_disclosure:
        return list(c2pa.ai_disclosure)
    if c2pa.digital_source_type in AI_EXTENT:
        return [{"source_type": c2pa.digital_source_type, "extent": AI_EXTENT[c2pa.digital_source_type],
                 "where": "active manifest", "title": c2pa.title, "manifest_label": c2pa.manifest_label}]
    return []


def _ai_line(entries: list[dict[str, Any]], trusted: bool) -> tuple[str, str]:
    """(evidence line, extent) for the chain's AI disclosures."""
    extent = "full" if any(e["extent"] == "full" for e in entries) else "partial"
    how = "A trusted" if trusted else "An untrusted"
    main = next(e for e in entries if e["extent"] == extent)
    if extent == "full":
        where = "" if main["where"] == "active manifest" else f" (passed on from ingredient {main['title']!r})"
        line = f"{how} manifest declares AI-generated content ({_short_type(main['source_type'])}){where}"
    else:
        if main["where"] == "ingredient":
            what = f"ingredient {main['title']!r} declares {_short_type(main['source_type'])}"
        else:
            what = f"the manifest declares {_short_type(main['source_type'])}"
        line = (f"{how} provenance chain discloses AI content in part of the clip: {what} "
                f"(real or made footage edited with, or containing, AI elements)")
    others = [e for e in entries if e is not main]
    if others:
        line += "; also " + ", ".join(
            f"{_short_type(e['source_type'])} in {e['title']!r}" if e["where"] == "ingredient"
            else f"{_short_type(e['source_type'])} in the active manifest" for e in others[:3])
    return line, extent


FINGERPRINT_LABEL = "Likely AI-generated (matches a clip kinoseal labeled)"


def _spans(segments: list[dict[str, Any]]) -> str:
    """'3.5-6.5 s, 8.0-9.1 s'."""
    return ", ".join(f"{s['start_s']:.1f}-{s['end_s']:.1f} s" for s in segments)


def _registered(r: RegistryEvidence) -> str:
    return f"{r.title!r} (labeled {r.labeled_at}, payload {r.payload_id})"


def _fp_frames(r: RegistryEvidence) -> str:
    if r.views is not None:
        v = r.views
        how = ("mirrored back, " if v.mirrored else "") + (
            f"turned back {'half a turn' if v.quarter_turns == 2 else 'a quarter turn'}, " if v.quarter_turns else "") + (
            "warped back, " if v.rectified else "")
        turn = (f", turned {v.angle_deg:+.0f} degrees" if v.angle_deg else "") + (
            f", an excerpt from {v.offset_s:.1f} s into it" if abs(v.offset_s) >= 0.05 else "")
        return (f"by its views, not its hashes: {how}the picture at {v.scale:.2f} of its registered size{turn}, "
                f"correlation {v.score:.2f} over {v.pairs} frames")
    flip = ", mirrored" if r.mirrored else ""
    return f"{r.frames} of {r.compared} sampled frames{flip}"


def decide(
    c2pa: C2paEvidence,
    watermark: WatermarkEvidence,
    classifier: ClassifierEvidence,
    *,
    watermark_threshold: float = 1e-6,
    classifier_threshold: float = 0.95,
    registry: RegistryEvidence | None = None,
) -> Decision:
    ev: list[str] = []
    wm_present = bool(watermark.detected and watermark.p_value is not None and watermark.p_value < watermark_threshold)
    # A pattern that its own test does not bind is still this content's mark when the registry's
    # fingerprint of the clip it was made for (same key, or its payload) matches these pixels.
    owned = bool(wm_present and watermark.bound is False and registry is not None
                 and registry.content_matched and registry.same_key)
    wm_unbound = wm_present and watermark.bound is False and not owned
    wm_found = wm_present and not wm_unbound
    by_content = bool(not wm_present and registry is not None and registry.via == "fingerprint"
                      and registry.content_matched)
    # That record's own mark, tested once where its fingerprint puts the picture, is there: this
    # content carries the mark made for it, though too weak for the blind search (heavy compression).
    registered_mark = bool(by_content and registry.mark_log10_p is not None
                           and 10.0 ** registry.mark_log10_p < watermark_threshold)
    fingerprint_only = by_content and not registered_mark
    present = c2pa.present
    all_codes = list(c2pa.failure_codes) + list(c2pa.history_codes) if present else []
    by_cat: dict[str, list[str]] = {}
    for code in all_codes:
        by_cat.setdefault(category(code).value, []).append(code)
    status = {k: sorted(set(v)) for k, v in by_cat.items()}
    integrity = status.get(Category.INTEGRITY.value, [])
    trust_codes = status.get(Category.TRUST.value, [])
    identity = status.get(Category.IDENTITY.value, [])
    malformed = status.get(Category.MALFORMED.value, [])
    unavailable = status.get(Category.UNAVAILABLE.value, [])
    incomplete = status.get(Category.INCOMPLETE.value, [])
    unknown_codes = status.get(Category.UNKNOWN.value, [])
    trusted = present and c2pa.validation_state == "Trusted" and not c2pa.failure_codes
    clean_history = not c2pa.history_codes
    source = c2pa.digital_source_type
    origin = c2pa.origin if present and not source else None
    capture_type = source if source in CAPTURE_SOURCE_TYPES else (origin or {}).get("source_type")
    capture = present and capture_type in CAPTURE_SOURCE_TYPES
    ai = _ai_entries(c2pa) if present else []

    # Describe every piece of evidence first; the verdict below only picks from it.
    if present:
        if trusted:
            state = "trusted"
        elif integrity:
            state = "invalid"
        elif {_bare(c) for c in trust_codes if c in c2pa.failure_codes} - {"signingCredential.untrusted"}:
            state = "valid signature, credential not usable"
        elif trust_codes or c2pa.validation_state in ("Valid", "Trusted"):
            state = "valid signature, signer not trusted"
        else:
            state = "not verified"
        if c2pa.signer is None and c2pa.error:
            ev.append(f"C2PA manifest present but not read: {c2pa.error}")
        else:
            ev.append(f"C2PA manifest signed by {_signer_text(c2pa.signer)}: {state}; source type {_short_type(source)}")
        if origin:
            ev.append(f"It passes on a parent, {origin.get('title')!r}, whose manifest (signed by "
                      f"{_signer_text(origin.get('signer'))}) declares {_short_type(origin.get('source_type'))}")
        if c2pa.failure_codes:
            ev.append("C2PA validation failures: " + ", ".join(sorted(set(c2pa.failure_codes))))
        if c2pa.binding_problem:
            ev.append("The chunk offsets, which this manifest's hash leaves unbound, no longer match the signed "
                      f"sample tables ({c2pa.binding_problem}): the player would show other bytes than were signed")
        hist = sorted(set(c2pa.history_codes) - set(c2pa.failure_codes))
        if hist:
            ev.append("Recorded in the ingredient history: " + ", ".join(hist))
        if unknown_codes:
            ev.append("Unclassified C2PA status codes (treated as lowering trust, never as tampering): "
                      + ", ".join(unknown_codes))
    elif c2pa.error:
        ev.append(f"No usable C2PA manifest ({c2pa.error})")
    else:
        ev.append("No C2PA manifest")
    if wm_found:
        pid = f", payload {watermark.payload_id}" if watermark.payload_id else ", payload not recovered"
        bind = (f", bound to this content: p = {watermark.binding_p_value:.1e}"
                if watermark.bound and watermark.binding_p_value is not None else "")
        if owned:
            own = ("its binding is not proof alone" if watermark.binding_not_proof
                   else "its own binding test is inconclusive")
            bind = (f"; {own}, but it belongs to this content: the registered "
                    f"fingerprint of {_registered(registry)} matches these pixels ({_fp_frames(registry)})")
        wm_line = (f"kinoseal watermark detected (p = {watermark.p_value:.1e} < {watermark_threshold:.0e}{bind}{pid}, "
                   f"{watermark.frames_analyzed} frames)")
        ev.append(wm_line)
    elif wm_unbound and watermark.binding_not_proof:
        wm_line = f"A kinoseal watermark is present: {watermark.binding_not_proof}"
        ev.append(wm_line)
    elif wm_unbound:
        wm_line = (f"A kinoseal watermark pattern is present but is not bound to this content: it may have been "
                   f"copied from a labeled clip (p = {watermark.p_value:.1e}, {watermark.method or 'unknown method'}; "
                   f"not evidence that this clip is AI-generated)")
        ev.append(wm_line)
    elif watermark.error:
        ev.append(f"Watermark check failed: {watermark.error}")
    else:
        p = f"p = {watermark.p_value:.2g}" if watermark.p_value is not None else "no frames"
        if registry is not None and registry.mark_log10_p is not None:
            # Beside the targeted test's line: the search over every key, geometry and payload is another test.
            ev.append(f"The blind search for a kinoseal watermark (every key, geometry and payload) found none "
                      f"({p}, {watermark.frames_analyzed} frames)")
        else:
            ev.append(f"No kinoseal watermark ({p}, {watermark.frames_analyzed} frames)")
    if registry is not None and registry.content_matched is False and wm_present:
        why = ("a crop, rotation or heavy edit also breaks the fingerprint" if wm_found
               else "either the mark was copied from that clip onto other footage, or this is that clip edited "
                    "past what its fingerprint survives (a crop, a rotation, a colour change of colour-only content)")
        ev.append(f"The registered fingerprint of {_registered(registry)}, the clip this watermark was made for, "
                  f"does not match these pixels ({_fp_frames(registry)}): {why}")
    elif registered_mark:
        spliced = registry.extent == "segments"
        why_weak = ("a shot within other footage, whose mark the search over the whole clip dilutes, or heavy "
                    "compression" if spliced else "heavy compression")
        wm_line = (f"The kinoseal watermark of {_registered(registry)} is in these pixels "
                   f"(p = {10.0 ** registry.mark_log10_p:.1e} < {watermark_threshold:.0e}): its registered content "
                   f"fingerprint matches them ({_fp_frames(registry)}), and its key and payload, tested once where the "
                   f"fingerprint puts the picture, are there; too weak for the blind search ({why_weak})")
        if spliced:
            wm_line = (f"Contains AI-generated segments: the content of a clip kinoseal labeled fills "
                       f"{_spans(registry.segments)} of this clip ({wm_line})")
        ev.append(wm_line)
    elif fingerprint_only:
        tested = ("" if registry.mark_log10_p is None else
                  f", not even by a test of its own key and payload where the fingerprint puts the picture "
                  f"(p = {10.0 ** registry.mark_log10_p:.2g})")
        where = f" at {_spans(registry.segments)} of this clip" if registry.extent == "segments" else ""
        fp_line = (f"These pixels{where} match the registered fingerprint of {_registered(registry)} "
                   f"({_fp_frames(registry)}), a clip kinoseal labeled as AI-generated; its watermark was not found "
                   f"here{tested}; heavy compression or editing can remove it, and a fingerprint alone can be "
                   "imitated, so this is not proof")
        ev.append(fp_line)
    if classifier.available and classifier.score is not None:
        # 4 significant digits: a threshold of 0.9982 must not read as 1.00, nor a score of 0.995 as its equal
        ev.append(f"Classifier probability of generated video: {classifier.score:.4g} (threshold {classifier_threshold:.4g})")
    else:
        ev.append("Classifier: " + (classifier.note or "not available"))

    wm_conf = (1.0 - (watermark.p_value or 0.0) if wm_found
               else 1.0 - 10.0 ** registry.mark_log10_p if registered_mark else 0.0)

    def done(verdict: Verdict, confidence: float, reason: str, *extra: str, ai_extent: str | None = None,
             label: str = "") -> Decision:
        lines = [reason, *extra] + [e for e in ev if e != reason]
        return Decision(verdict, confidence, lines, reason, ai_extent, status, label)

    # 1. tampered: integrity failures only
    if integrity:
        own = [c for c in integrity if c in c2pa.failure_codes and not c.startswith("ingredient:")]
        if own:
            reason = ("The signed content was altered after signing (hash, signature or hashed reference "
                      "mismatch: " + ", ".join(sorted({_bare(c) for c in own})) + ")")
        else:
            reason = ("An ingredient in the edit history was altered after it was signed: "
                      + ", ".join(sorted({_bare(c) for c in integrity})))
        extra = ("The watermark says the clip is AI-generated",) if wm_found else ()
        return done(Verdict.TAMPERED, 1.0, reason, *extra)
    # 2. watermark (found by the blind search, or the registered clip's own mark by its targeted test)
    if wm_found or registered_mark:
        extent = _ai_line(ai, trusted)[1] if ai else None
        if wm_found and watermark.marked_extent == "segments":
            wm_line = (f"Contains AI-generated segments: the kinoseal watermark marks {_spans(watermark.segments)} "
                       f"of this clip ({wm_line})")
            extent = "segments"
        elif registered_mark and registry.extent == "segments":
            extent = "segments"  # the line above says where the registered clip's content sits
        if capture:
            return done(Verdict.AI_GENERATED, wm_conf,
                        "The manifest claims a camera capture, but the pixels carry the AI watermark",
                        ai_extent=extent)
        return done(Verdict.AI_GENERATED, wm_conf, wm_line, ai_extent=extent)
    # 3. AI declared anywhere in the provenance chain
    if ai:
        line, extent = _ai_line(ai, trusted)
        return done(Verdict.AI_GENERATED, 0.99 if trusted else 0.7, line, ai_extent=extent)
    # 4. authentic (never with a kinoseal pattern in the pixels, bound or not)
    if trusted and clean_history and capture and wm_unbound:
        return done(Verdict.UNKNOWN, 0.0, wm_line,
                    "A trusted signer states this is a camera recording, but the pixels carry a kinoseal pattern")
    if trusted and clean_history and capture:
        reason = "A trusted signer states this is a camera recording and nothing was altered"
        if origin:
            reason += f" (the capture is declared by its parent {origin.get('title')!r})"
        return done(Verdict.AUTHENTIC, 0.99, reason)
    # 5. a signature that holds, from a credential that cannot be relied on
    parts = []
    if malformed:
        parts.append("the manifest is malformed as its signer wrote it (" + ", ".join(malformed) + ")")
    if unavailable:
        parts.append("part of the provenance could not be checked offline (" + ", ".join(unavailable) + ")")
    if incomplete:
        parts.append("only part of the asset was given (" + ", ".join(incomplete) + ")")
    unreliable = "; ".join(parts) + " - this is not evidence of tampering" if parts else ""
    doubtful = bool(trust_codes or identity or unknown_codes)
    if present and (doubtful or parts or not trusted) and (capture or not parts):
        claim = "The capture claim" if capture else "The manifest (it makes no capture or AI claim)"
        own_trust = [c for c in trust_codes if c in c2pa.failure_codes and not c.startswith("ingredient:")]
        ingredient_trust = [c for c in trust_codes if c not in own_trust]
        if own_trust or not (doubtful or parts):
            reason = f"{claim} has a valid signature, but {_trust_problem(own_trust)}"
        elif identity and not ingredient_trust:
            whose = "an ingredient's" if all(c.startswith("ingredient:") for c in identity) else "the"
            reason = (f"{claim} is signed by a trusted signer, but {whose} CAWG identity assertion's credential is "
                      f"not trusted ({', '.join(identity)}); CAWG identity anchors are loaded with --cawg-trust")
        elif ingredient_trust:
            reason = (f"{claim} is signed by a trusted signer, but an ingredient's credential cannot be relied on ("
                      + ", ".join(sorted({_bare(c) for c in ingredient_trust}))
                      + "); an expired or untrusted ingredient credential is not tampering")
        elif unknown_codes:
            reason = f"{claim} carries C2PA status codes kinoseal does not classify: " + ", ".join(unknown_codes)
        else:
            reason = f"{claim} cannot be relied on: {unreliable}"
        return done(Verdict.UNTRUSTED_SIGNATURE, 0.5, reason)
    # 6. a registered AI clip's content, recognised by its fingerprint alone (never more than likely)
    if fingerprint_only:
        return done(Verdict.LIKELY_AI_GENERATED, 0.9, fp_line, label=FINGERPRINT_LABEL)
    # 7. classifier only
    if classifier.available and classifier.score is not None and classifier.score >= classifier_threshold:
        return done(Verdict.LIKELY_AI_GENERATED, float(classifier.score),
                    "Only the classifier points to generated video; labels are absent")
    if wm_unbound:
        return done(Verdict.UNKNOWN, 0.0, wm_line)
    # 8. unknown
    if present and parts:
        return done(Verdict.UNKNOWN, 0.0, f"The C2PA manifest cannot be relied on: {unreliable}")
    if present and trusted:
        return done(Verdict.UNKNOWN, 0.0, "A trusted signer signed this clip, but its manifest makes no capture or AI claim")
    return done(Verdict.UNKNOWN, 0.0, ev[0])


__all__ = ["AI_SOURCE_TYPES", "Decision", "FINGERPRINT_LABEL", "decide"]
