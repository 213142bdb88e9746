"""The verification report: one schema for the CLI (--json), the HTTP API and the web page."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from kinoseal.credentials.reading import C2paEvidence
from kinoseal.fingerprint.views import ViewMatch


class Verdict(str, Enum):
    AI_GENERATED = "ai_generated"
    LIKELY_AI_GENERATED = "likely_ai_generated"
    AUTHENTIC = "authentic"
    UNTRUSTED_SIGNATURE = "untrusted_signature"
    TAMPERED = "tampered"
    UNKNOWN = "unknown"


PLAIN_WORDS = {
    Verdict.AI_GENERATED: "AI-generated",
    Verdict.LIKELY_AI_GENERATED: "Likely AI-generated (classifier only)",
    Verdict.AUTHENTIC: "Authentic recording (trusted signature)",
    Verdict.UNTRUSTED_SIGNATURE: "Signed, but by an untrusted signer",
    Verdict.TAMPERED: "Tampered: the signed content was altered",
    Verdict.UNKNOWN: "Unknown origin",
}


@dataclass
class WatermarkEvidence:
    detected: bool
    method: str | None = None
    payload_id: str | None = None
    p_value: float | None = None
    log10_p_value: float | None = None
    bit_accuracy: float | None = None
    frames_analyzed: int = 0
    key_id: str | None = None
    per_frame: list[float] = field(default_factory=list)
    error: str | None = None
    # Whether a detected mark is bound to these pixels (the content-bound layer of kinoseal-wm-v3 to v5), by
    # a version whose binding alone is proof (``Settings.proof_bindings``: none by default, since a learned
    # forger makes v5 bind real footage from ~100 labeled clips).
    # False: a kinoseal pattern is present but not bound (v1/v2 marks, which anyone holding one
    # labeled clip can copy, or a v3 mark copied from another clip), or bound by a version whose binding
    # is not proof alone (``binding_not_proof`` says so): never ai_generated on its own, only with the
    # provenance registry's vouching (verify.rules).
    # None: not assessed (evidence built by hand); the verifier always sets it for a detection.
    bound: bool | None = None
    # The content-bound layer's own p-value (Bonferroni over the versions tested), which is what
    # decides ``bound``; ``p_value`` is the presence test's (the stronger layer). None: no such layer.
    binding_p_value: float | None = None
    # Why a mark that binds these pixels is still not proof: its version's binding can be learned
    # by a forger (``Settings.proof_bindings``). None otherwise.
    binding_not_proof: str | None = None
    # Where the mark is, in time (``watermark.segments``): [{"start_s", "end_s", "frames"}], and
    # "full" (it covers the clip), "segments" (only parts: AI shots in other footage) or None
    # (not resolved: the per-frame signal is too weak to say, or nothing was found).
    segments: list[dict[str, Any]] = field(default_factory=list)
    marked_extent: str | None = None


@dataclass
class ClassifierEvidence:
    available: bool
    score: float | None = None
    per_frame: list[float] = field(default_factory=list)
    model: str | None = None
    threshold: float | None = None
    note: str | None = None
    # Time-stamped scores [{"start_s", "end_s", "probability"}], the closest known generator family
    # (None = unknown family) with its confidence, and plain-language lines for the report.
    segments: list[dict[str, Any]] = field(default_factory=list)
    family: str | None = None
    family_confidence: float | None = None
    explanation: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RegistryEvidence:
    """What the provenance registry says about this clip (``credentials.provenance``).

    ``via``: how the record was found: "watermark" (the mark's payload id) or "fingerprint" (a
    search of the registry by content, where no payload led to a record). ``content_matched``:
    the record's content fingerprint matches these pixels (``fingerprint.match``, or its views where
    the hashes do not: ``views``, set only when they matched); None when the record kept no
    fingerprint. ``same_key``: the watermark found here was made with the record's
    key (always True via the payload). ``frames``/``compared``: the sampled frames that matched,
    of those compared. ``mark_log10_p``: where the record was found by fingerprint and the blind
    search found no mark, that record's own mark (its key and payload) tested once where the
    fingerprint puts the picture (``Verifier._registered_mark``); None when not tested."""

    via: str
    payload_id: str
    key_id: str
    title: str | None = None
    labeled_at: str | None = None
    content_matched: bool | None = None
    same_key: bool = False
    frames: int = 0
    compared: int = 0
    span_s: tuple[float, float] | None = None
    mirrored: bool = False
    mark_log10_p: float | None = None
    views: ViewMatch | None = None
    # Where the registered clip's content sits in this one (``verify.content.content_stretch``): "full" or
    # "segments" (a shot spliced into other footage) and its time ranges; None / [] where not known.
    extent: str | None = None
    segments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Report:
    file: str
    sha256: str
    verdict: Verdict
    confidence: float
    summary: str
    evidence: list[str]
    c2pa: C2paEvidence
    watermark: WatermarkEvidence
    classifier: ClassifierEvidence
    media: dict[str, Any] = field(default_factory=dict)
    # Soft-binding resolution: the manifest recorded when this watermark payload was embedded.
    provenance: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    kinoseal_version: str = ""
    # AI content disclosed in the provenance chain: "full" (made by the model) or "partial"
    # (real or made footage edited with / containing AI elements); None when nothing says.
    ai_extent: str | None = None
    # The C2PA status codes found, grouped by category (credentials.status_codes): which
    # ones made the verdict (integrity) and which only lowered trust.
    c2pa_status: dict[str, list[str]] = field(default_factory=dict)
    # The verdict in plain words when the rules chose others than ``PLAIN_WORDS`` (``Decision.label``).
    verdict_label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["verdict"] = self.verdict.value
        d["verdict_label"] = self.verdict_label or PLAIN_WORDS[self.verdict]
        return d
