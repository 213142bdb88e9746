// kinoseal web page: the words of a report (headline, facts), shared by the page and the
// downloaded HTML report so the two never disagree. Pure functions of the report JSON.
"use strict";

const KinoWords = (() => {
  // IPTC digital source types (http://cv.iptc.org/newscodes/digitalsourcetype/) in plain words.
  const SOURCE_TYPES = {
    trainedAlgorithmicMedia: "AI-generated (trained model)",
    compositeWithTrainedAlgorithmicMedia: "Edited with AI",
    algorithmicMedia: "Computer-generated",
    compositeSynthetic: "Composite with synthetic elements",
    digitalCapture: "Recorded by a camera",
    multiFrameComputationalCapture: "Recorded by a camera (computational)",
    negativeFilm: "Scanned from negative film",
    positiveFilm: "Scanned from positive film",
    screenCapture: "Screen capture",
    digitalArt: "Digital art",
    virtualRecording: "Recording of a virtual scene",
    dataDrivenMedia: "Made from data",
    humanEdits: "Edited by a person",
    minorHumanEdits: "Minor edits by a person",
    composite: "Composite",
    compositeCapture: "Composite of recordings",
    print: "Scanned from print",
  };
  // Kept in step with credentials/manifests.py (AI_SOURCE_TYPES / CAPTURE_SOURCE_TYPES).
  const AI_FULL = new Set(["trainedAlgorithmicMedia", "algorithmicMedia"]);
  const AI_PARTIAL = new Set(["compositeWithTrainedAlgorithmicMedia", "compositeSynthetic"]);
  const CAPTURE = new Set(["digitalCapture", "multiFrameComputationalCapture", "negativeFilm", "positiveFilm"]);

  const shortType = (uri) => (uri ? String(uri).split("/").pop() : null);
  function describeType(uri) {
    const s = shortType(uri);
    return s ? (SOURCE_TYPES[s] || s) + " (" + s + ")" : null;
  }
  function typeKind(uri) {
    const s = shortType(uri);
    if (!s) return null;
    if (AI_FULL.has(s)) return "full";
    if (AI_PARTIAL.has(s)) return "partial";
    if (CAPTURE.has(s)) return "capture";
    return "other";
  }

  // "full" (every frame made by a model), "partial" (real footage edited with AI) or null.
  // The server says so in report.ai_extent; where it does not (older servers, or null), the source type.
  function aiExtent(r) {
    if (r.ai_extent === "full" || r.ai_extent === "partial" || r.ai_extent === "segments") return r.ai_extent;
    const k = typeKind((r.c2pa || {}).digital_source_type);
    return k === "full" || k === "partial" ? k : null;
  }

  const num = (x, digits) => (x == null || !isFinite(x) ? null : Number(Number(x).toPrecision(digits || 2)).toString());
  function fmtP(p) {
    if (p == null) return null;
    return p > 0 && p < 1e-3 ? Number(p).toExponential(1) : num(p, 2);
  }
  const pct = (x, digits) => (x == null ? null : (100 * x).toFixed(digits == null ? 0 : digits) + "%");
  function fmtConfidence(c) {
    if (c == null) return "";
    return (100 * c).toFixed(c > 0.999 && c < 1 ? 4 : 0) + "%";
  }
  function fmtTime(iso) {
    if (!iso) return null;
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    return d.toISOString().replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC");
  }

  function trusted(c) {
    return !!(c.present && c.validation_state === "Trusted" && !(c.failure_codes || []).length);
  }
  function badIngredient(items) {
    return (items || []).some((i) => (i.failure_codes || []).length || badIngredient(i.ingredients));
  }
  const signerName = (c) => (c.signer && c.signer.common_name) || "an unnamed signer";
  const joinSay = (xs) => (xs.length > 1 ? xs.slice(0, -1).join(", ") + " and " + xs[xs.length - 1] + " say so." :
    xs[0] + " says so.");

  // The plain-words headline of the verdict card, built from the evidence in the report
  // (never a fixed sentence per verdict: a trusted screen capture is not "nothing found").
  function headline(r) {
    const c = r.c2pa || {}, w = r.watermark || {}, k = r.classifier || {};
    const type = shortType(c.digital_source_type);
    const kind = typeKind(c.digital_source_type);
    const isTrusted = trusted(c);
    const score = k.available && k.score != null ? k.score : null;
    // A pattern found but not bound to these pixels (a v1/v2 mark, or one copied from another
    // clip) is never evidence of AI: it is named as such, never as "the watermark".
    const marked = w.detected && w.bound !== false;
    const unbound = w.detected && w.bound === false;
    const unboundWords = "A kinoseal watermark pattern is present but not bound to these pixels: it may have been " +
      "copied from another clip, so it is not evidence that this clip is AI-generated.";
    switch (r.verdict) {
      case "ai_generated": {
        const extent = aiExtent(r);
        const what = extent === "segments" ? "This clip contains AI-generated segments (" + spans(aiSpans(r)) + ")."
          : extent === "partial" ? "This is real footage with parts changed by an AI model."
          : extent === "full" ? "This clip was made by an AI model." : "This clip was made or changed by AI.";
        const why = [];
        if (marked) why.push("its invisible kinoseal watermark");
        else if (((r.provenance || {}).registered_mark || {}).detected) {
          why.push("the watermark of a clip kinoseal labeled, tested where that clip's registered fingerprint places it");
        }
        if (c.present && (kind === "full" || kind === "partial")) {
          why.push((isTrusted ? "its signed Content Credentials" : "Content Credentials from a signer this server does not trust") +
            " (" + type + ")");
        } else if (c.present && (c.ai_disclosure || []).length) {
          why.push("the AI disclosure in the history of its Content Credentials");
        }
        let text = what + (why.length ? " " + joinSay(why).replace(/^./, (ch) => ch.toUpperCase()) : "");
        if (c.present && kind === "capture" && marked) {
          text += " Its Content Credentials claim a camera recording, but the pixels carry the AI watermark.";
        }
        return text + (unbound ? " " + unboundWords : "");
      }
      case "likely_ai_generated": {
        // Verdict rule 6: the pixels match the registered fingerprint of a clip kinoseal labeled, whose
        // mark was not found here; the classifier is not what spoke (it comes after, rule 7).
        const p = r.provenance || {};
        if (p.found && p.via === "fingerprint" && (p.content_match || {}).matched && !w.detected &&
            !(p.registered_mark || {}).detected) {
          const where = p.extent === "segments" ? " at " + spans(p.segments) : "";
          return "These pixels" + where + " match the registered fingerprint of a clip kinoseal labeled as " +
            "AI-generated" + (p.title ? " (“" + p.title + "”" + (p.labeled_at ? ", labeled " + fmtTime(p.labeled_at) : "") + ")" : "") +
            ", but its watermark was not found here, and a fingerprint alone can be imitated: likely, not proof." +
            (unbound ? " " + unboundWords : "");
        }
        const s = score != null ? " (probability " + num(score, 4) + ", threshold " + num(k.threshold, 4) + ")" : "";
        const label = c.present ? "its Content Credentials (" + (type || "no source type") + ") do not say AI, and no watermark confirms it."
          : "no watermark and no Content Credentials confirm it.";
        return "A classifier thinks this clip is AI-generated" + s + ", but " + label + (unbound ? " " + unboundWords : "");
      }
      case "authentic":
        return "Recorded by a camera: " + signerName(c) + ", a signer this server trusts, signed it as a capture" +
          (c.signer && c.signer.time ? " at " + fmtTime(c.signer.time) : "") + ", and its pixels were not changed since.";
      case "untrusted_signature":
        return isTrusted
          ? "Signed as a camera recording by a trusted signer, but an earlier version in its history is signed by a signer this server does not trust."
          : "Signed as a camera recording by " + signerName(c) + ", a signer this server does not trust (or whose certificate expired). Check who signed it.";
      case "tampered": {
        const ingr = badIngredient(c.ingredients) && !(c.failure_codes || []).length;
        return (ingr ? "An earlier version in its edit history failed validation: its Content Credentials cannot be relied on."
          : "The clip was altered after it was signed: its Content Credentials no longer match.") +
          (marked ? " Its invisible watermark says it is AI-generated." : "");
      }
      default:
        return unbound ? unboundWords + " " + unknownWords(c, {}, score, k, type, isTrusted).replace(
          "No watermark and no Content Credentials were found", "No Content Credentials were found").replace(
          "No kinoseal watermark was found.", "") : unknownWords(c, w, score, k, type, isTrusted);
    }
  }

  function unknownWords(c, w, score, k, type, isTrusted) {
    const parts = [];
    if (c.present) {
      const as = type ? "describe it as " + describeType(c.digital_source_type) : "do not say what made it";
      parts.push(isTrusted
        ? "Its Content Credentials, signed by " + signerName(c) + " (trusted), " + as + ": neither a camera recording nor AI."
        : "It carries Content Credentials signed by " + signerName(c) + ", a signer this server does not trust; they " + as + ".");
      parts.push(w.error ? "The watermark check failed." : "No kinoseal watermark was found.");
    } else if (c.error) {
      parts.push("Its Content Credentials could not be read, and " + (w.error ? "the watermark check failed." : "no kinoseal watermark was found."));
    } else if (!w.error) {
      parts.push("No watermark and no Content Credentials were found, so its origin cannot be told.");
    } else {
      parts.push("No Content Credentials were found and the watermark check failed, so its origin cannot be told.");
    }
    if (score != null) parts.push("The classifier's probability " + num(score, 4) + " is below its threshold " + num(k.threshold, 4) + ".");
    if (c.present || c.error) parts.push("kinoseal cannot tell more about where it came from.");
    return parts.join(" ");
  }

  // The evidence that decided the verdict: the report's summary without its "Label: " prefix.
  function reason(r) {
    const s = r.summary || "";
    const prefix = (r.verdict_label || "") + ": ";
    return s.startsWith(prefix) ? s.slice(prefix.length) : s;
  }

  // Where the AI shots are: the watermark's marked ranges, or, where the blind search missed the mark,
  // where the registry's fingerprint placed the registered clip's content (report.provenance.segments).
  function aiSpans(r) {
    const w = r.watermark || {}, p = r.provenance || {};
    return (w.segments || []).length ? w.segments : p.extent === "segments" ? p.segments || [] : [];
  }

  // "3.5-6.6 s, 8.0-9.1 s": where the watermark marks the clip.
  function spans(segments) {
    return (segments || []).map((g) => g.start_s.toFixed(1) + "\u2013" + g.end_s.toFixed(1) + " s").join(", ");
  }

  function extentLabel(r) {
    if (r.verdict !== "ai_generated") return null;
    const e = aiExtent(r);
    return e === "segments" ? "Contains AI-generated segments" : e === "partial" ? "AI edit of real footage"
      : e === "full" ? "Fully AI-generated" : null;
  }

  function c2paFacts(r) {
    const c = r.c2pa || {};
    if (!c.present) return [["Manifest", c.error ? "could not be read (" + c.error + ")" : "none found in this file"]];
    const s = c.signer || {};
    return [
      ["State", c.validation_state + ((c.failure_codes || []).length ? " (" + c.failure_codes.join(", ") + ")" : "")],
      ["Signer", s.common_name],
      ["Issuer", s.issuer],
      ["Signed at", fmtTime(s.time) || "no trusted time stamp"],
      ["Source type", describeType(c.digital_source_type)],
      ["Made with", c.claim_generator],
      ["Title", c.title],
    ];
  }

  // One line per AI disclosure in the manifest chain (report.c2pa.ai_disclosure, when the server sends it).
  function disclosures(r) {
    return ((r.c2pa || {}).ai_disclosure || []).map((d) => [
      describeType(d.source_type) || "AI",
      d.extent === "partial" ? "part of the clip" : d.extent === "full" ? "the whole clip" : d.extent,
      d.where && "in " + d.where,
      d.title && "“" + d.title + "”",
      d.manifest_label,
    ].filter(Boolean).join(" · "));
  }

  function watermarkFacts(r) {
    const w = r.watermark || {};
    if (!w.detected) {
      // An unmarked clip: bit accuracy, method and key of a mark that is not there mean nothing.
      const rm = (r.provenance || {}).registered_mark;
      if (rm && rm.detected) {
        // The blind search missed a mark that the registry's targeted test found: say both.
        return [
          ["Result", "found by the registry's test of the registered clip's own key and payload (see below); "
            + "too weak for the blind search"],
          ["p-value", fmtP(rm.p_value) + " (that test)" + (w.p_value != null ? "; blind search " + fmtP(w.p_value) : "")],
          ["Frames analysed", w.frames_analyzed],
          ["Method", rm.method],
          ["Key id", rm.key_id],
        ];
      }
      return [
        ["Result", "not found"],
        ["p-value", w.p_value != null ? fmtP(w.p_value) + " (no sign of a kinoseal watermark)" : null],
        ["Frames analysed", w.frames_analyzed],
        ["Note", w.error],
      ];
    }
    // A binding that is not proof alone counts where the registry's fingerprint of the clip the mark was
    // made for matches these pixels (verdict rule 2): say so, rather than only "not proof".
    const vouched = !!(((r.provenance || {}).content_match || {}).matched);
    return [
      ["Result", w.binding_not_proof && vouched
        ? "found and bound, and vouched for: the registered fingerprint of the clip it was made for matches these " +
          "pixels (the binding alone would not be proof: " + w.binding_not_proof + ")"
        : w.binding_not_proof ? "found and bound, but not proof: " + w.binding_not_proof
        : w.bound === false ? "pattern found, not bound to these pixels (may be copied: not evidence of AI)" : "found"],
      ["Where", w.marked_extent === "segments" ? "only in " + spans(w.segments)
        : w.marked_extent === "full" ? "the whole clip" : null],
      ["p-value", fmtP(w.p_value) + " (chance of a false alarm)"],
      ["Binding p-value", w.binding_p_value != null ? fmtP(w.binding_p_value) +
        " (chance that a mark not made for these pixels looks bound to them)" : null],
      ["Payload id", w.payload_id || "lost: the mark is there, but its payload bits did not survive " +
        "(re-encoded or edited), so the original Content Credentials cannot be looked up"],
      ["Bit accuracy", pct(w.bit_accuracy, 1)],
      ["Frames analysed", w.frames_analyzed],
      ["Method", w.method],
      ["Key id", w.key_id],
    ];
  }

  function provenanceFacts(r, manifest) {
    const p = r.provenance || {};
    if (!p.found) return [];
    const cm = p.content_match;
    const listed = p.payload_listed;
    const found = p.via === "fingerprint" ? "by its content fingerprint (no watermark payload was read)"
      : listed ? `by the watermark payload: too damaged to decode alone, it is the one of the ${listed.candidates} `
        + `registered payloads of its key that the mark carries (p = ${fmtP(Math.pow(10, listed.log10_p_value))})`
      : "by the watermark payload";
    const cv = (cm && cm.views) || null;
    // Its views are compared only where the hashes fail (a crop, a turn, a warp): say which matched.
    const content = !cm ? "not recorded for this clip"
      : cv && cv.matched ? "matches these pixels by its views, not its hashes (cropped, turned or warped: the picture "
        + `at ${cv.scale} of its registered size` + (cv.angle_deg ? `, turned ${cv.angle_deg} degrees` : "")
        + (cv.offset_s ? `, an excerpt from ${cv.offset_s} s into it` : "") + (cv.mirrored ? ", mirrored" : "")
        + (!cv.quarter_turns ? "" : cv.quarter_turns === 2 ? ", turned half a turn" : ", turned a quarter turn")
        + `, correlation ${cv.score} over ${cv.pairs} frames)`
      : (cm.matched ? "matches" : "does NOT match") + ` these pixels (${cm.frames} of ${cm.compared} sampled frames`
        + (cm.mirrored ? ", mirrored" : "") + (cv ? "; nor do its views, searched for a crop, a turn or a warp" : "")
        + ")";
    const rm = p.registered_mark;
    const mark = !rm ? null : (rm.detected ? "present" : "not found") + `: its key and payload, tested once where the `
      + `fingerprint puts the picture (p = ${fmtP(rm.p_value)})`;
    return [
      ["Found", found],
      ["Registered fingerprint", content],
      ["In this clip", p.extent === "segments" ? "at " + spans(p.segments) + " (placed by its fingerprint)"
        : p.extent === "full" ? "the whole clip" : null],
      ["Its watermark", mark],
      ["Title", p.title],
      ["Labeled at", fmtTime(p.labeled_at)],
      ["Signer", p.signer],
      ["Generator", p.claim_generator],
      ["Manifest", (manifest && manifest.manifest_label) || p.manifest_label],
    ];
  }

  return {
    shortType, describeType, typeKind, aiExtent, aiSpans, spans, fmtP, fmtConfidence, fmtTime, headline, reason, extentLabel,
    c2paFacts, disclosures, watermarkFacts, provenanceFacts, num,
  };
})();
