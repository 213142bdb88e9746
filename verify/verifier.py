"""The verifier: read the manifest, extract the watermark, ask the classifier,
and combine the three into a ``Report`` with ``verify.rules.decide``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from credentials.home import trust_store
from credentials.reading import C2paEvidence, read_c2pa
from credentials.trust import TrustStore
from kinoseal import __version__
from kinoseal.config import Settings
from kinoseal.errors import InputError
from mediaio.probe import probe
from mediaio.reader import DecodeReport, iter_frames, sample_stride
from verify.report import PLAIN_WORDS, ClassifierEvidence, Report, WatermarkEvidence
from verify.rules import decide
from watermark import get_method
from watermark.keyring import KeyRing, load_keyring


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Verifier:
    """Holds what verification needs (trust anchors, watermark keys, classifier);
    build once, call ``verify`` for each clip. Thread-safe for reading."""

    settings: Settings
    trust: TrustStore
    keyring: KeyRing | None
    classifier: object | None = None

    @classmethod
    def from_settings(cls, settings: Settings, extra_trust: list[Path] | tuple[Path, ...] = ()) -> "Verifier":
        keyring = None
        wm_dir = settings.keys_dir / "watermark"
        if wm_dir.exists():
            keyring = load_keyring(wm_dir, create=False)
        return cls(settings=settings, trust=trust_store(settings, extra_trust), keyring=keyring)

    def _watermark(self, path: Path, frame_count: int, report: DecodeReport) -> WatermarkEvidence:
        method = get_method(self.settings.watermark_method)
        if self.keyring is None:
            return WatermarkEvidence(detected=False, method=method.name, error="no watermark keys installed")
        extractor = method.extractor(list(self.keyring.keys))
        stride = sample_stride(frame_count, self.settings.limits.verify_max_frames)
        for frame in iter_frames(
            path, self.settings.limits, fmt="gray", select=lambda i: i % stride == 0, tolerant=True, report=report
        ):
            extractor.update(frame.planes[0])
        res = extractor.result()
        return WatermarkEvidence(
            detected=bool(res.detected),
            method=res.method,
            payload_id=f"{res.payload_id:016x}" if res.payload_id is not None else None,
            p_value=float(res.p_value),
            log10_p_value=float(res.log10_p_value),
            bit_accuracy=None if res.bit_accuracy is None else float(res.bit_accuracy),
            frames_analyzed=int(res.frames_analyzed),
            key_id=res.key_id,
            per_frame=[float(x) for x in res.per_frame_scores],
        )

    def _classifier(self, path: Path) -> ClassifierEvidence:
        if self.classifier is None:
            return ClassifierEvidence(available=False, note="no classifier model installed yet")
        return self.classifier.evidence(path)  # type: ignore[attr-defined]

    def verify(self, path: Path) -> Report:
        path = Path(path)
        info = probe(path, self.settings.limits)  # raises InputError for non-videos and over-limit files
        c2pa: C2paEvidence = read_c2pa(path, self.trust)
        decode = DecodeReport()
        watermark = self._watermark(path, info.frame_count, decode)
        classifier = self._classifier(path)
        d = decide(
            c2pa,
            watermark,
            classifier,
            watermark_threshold=self.settings.watermark_p_threshold,
            classifier_threshold=self.settings.classifier_threshold,
        )
        media = info.to_dict()
        media.pop("path", None)
        media["frames_decoded"] = decode.frames_decoded
        return Report(
            file=path.name,
            sha256=sha256_file(path),
            verdict=d.verdict,
            confidence=round(float(d.confidence), 6),
            summary=f"{PLAIN_WORDS[d.verdict]}: {d.evidence[0]}",
            evidence=d.evidence,
            c2pa=c2pa,
            watermark=watermark,
            classifier=classifier,
            media=media,
            notes=list(decode.notes),
            kinoseal_version=__version__,
        )


__all__ = ["InputError", "Verifier"]
