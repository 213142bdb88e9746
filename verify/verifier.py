"""The verifier: read the manifest, extract the watermark, ask the classifier,
and combine the three into a ``Report`` with ``verify.rules.decide``."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
import math
import threading
from pathlib import Path

import numpy as np

from kinoseal.credentials.fragments import is_init_segment, joined_media, read_c2pa_fragments
from kinoseal.credentials.home import trust_store
from kinoseal.credentials.reading import C2paEvidence, read_c2pa
from kinoseal.credentials.provenance import ProvenanceRecord, SqliteRegistry, default_registry
from kinoseal.credentials.trust import TrustStore
from kinoseal import __version__
from kinoseal.config import Limits, Settings
from kinoseal.errors import InputError, KinosealError, LimitExceeded, ModelLoadError
from kinoseal.fingerprint import Fingerprint, FingerprintMatch, match
from kinoseal.fingerprint.core import MIN_FRAMES as FP_MIN_FRAMES
from kinoseal.fingerprint.core import alike
from kinoseal.fingerprint.index import FingerprintIndex
from kinoseal.fingerprint.scan import FingerprintScan
from kinoseal.fingerprint.views import ViewMatch
from kinoseal.mediaio.probe import check_file
from kinoseal.mediaio.reader import DecodeReport
from kinoseal.mediaio.stream import stream_frames
from kinoseal.mediaio.writer import sha256_file
from kinoseal.verify.content import content_stretch, view_match
from kinoseal.verify.media_kind import media_kind
from kinoseal.verify.report import (PLAIN_WORDS, ClassifierEvidence, RegistryEvidence, Report, Verdict,
                                    WatermarkEvidence)
from kinoseal.verify.rules import decide
from kinoseal.watermark import get_method, list_methods
from kinoseal.watermark.keyring import KeyRing, load_keyring
from kinoseal.watermark.scan import WatermarkScan
from kinoseal.watermark.segments import clip_end, covers_clip
from kinoseal.watermark.stats import rademacher_log10_pvalue
from kinoseal.watermark.segments import segments as marked_segments
from kinoseal.watermark.v2 import nearest_orientation


def classifier_evidence(detector, path: Path, limits: Limits) -> ClassifierEvidence:
    """A ``detect.Detector``'s score of the clip at ``path`` (its own decode), as evidence."""
    return _score_evidence(detector, lambda: detector.score_clip(path, limits))


def _score_evidence(detector, score) -> ClassifierEvidence:
    tag, threshold = getattr(detector, "tag", None), getattr(detector, "threshold", None)
    try:
        s = score()
    except InputError as exc:
        return ClassifierEvidence(available=False, model=tag, threshold=threshold,
                                  note=f"the classifier could not read the clip: {exc}")
    return ClassifierEvidence(available=True, score=round(s.probability, 6), per_frame=s.per_window,
                              model=tag, threshold=threshold, note=f"{s.windows} windows, {s.frames_used} frames",
                              segments=list(getattr(s, "segments", []) or []), family=getattr(s, "family", None),
                              family_confidence=getattr(s, "family_confidence", None),
                              explanation=list(getattr(s, "evidence", []) or []))


def _comparable(rows: list[tuple[int, str, bytes]]) -> list[tuple[str, Fingerprint]]:
    """(payload id, fingerprint) of registry rows; a record from another fingerprint version cannot be compared."""
    out = []
    for _, payload_id, data in rows:
        try:
            out.append((payload_id, Fingerprint.from_bytes(data)))
        except ValueError:
            continue
    return out


# How many registered payloads of a key a mark without its payload is tested against (the newest):
# 5,000 codewords took 0.25 s to build (one run, 2-core VM) and one product to test, and add log10(10000) to
# the p-value (2N: a second test beside the blind search).
LISTED_PAYLOADS = 5000
# ... and the best must beat the next best by this factor (``_listed_payload``).
LISTED_MARGIN = 0.6


def _extractor(scan: WatermarkScan, method: str, capability: str):
    """The scan's extractor of ``method`` that has ``capability`` (a method name), or None."""
    return next((e for e in scan.extractors if e.method.name == method and hasattr(e, capability)), None)


def _orientation(scan: WatermarkScan | None, watermark: WatermarkEvidence) -> int:
    """The mirror and quarter turns (``watermark.v2.orient``'s index) that put this clip's frames back as
    they were marked, read from the geometry under which the reported mark was found; 0 where none was."""
    if scan is None or scan.error or not watermark.detected or not watermark.method:
        return 0
    ex = _extractor(scan, watermark.method, "frame_map")
    A = ex.frame_map() if ex is not None else None
    return 0 if A is None else nearest_orientation(A)


def _placed(record: ProvenanceRecord, query: Fingerprint,
            fp: FingerprintMatch) -> tuple[tuple[float, float] | None, np.ndarray | None]:
    """The registered clip's fingerprinted span in the query's times at the match's offset, and which query
    frames resemble any of its frames (``fingerprint.core.alike``); None where unknown."""
    try:
        ref = Fingerprint.from_bytes(record.fingerprint) if record.fingerprint else None
    except ValueError:
        ref = None
    if ref is None or not len(ref):
        return None, None
    span = None if fp.offset_s is None else (float(ref.times[0]) - fp.offset_s, float(ref.times[-1]) - fp.offset_s)
    return span, alike(ref, query, fp.mirrored)


def _shot_start(watermark: WatermarkEvidence) -> float | None:
    """Where the marked shot starts in a clip the mark covers only in part (its first segment), else None."""
    if watermark.detected and watermark.marked_extent == "segments" and watermark.segments:
        return float(watermark.segments[0]["start_s"])
    return None


def _content_match(fp: FingerprintMatch | None, views: ViewMatch | None) -> dict | None:
    """The report's ``content_match``: the hashes' match, and the views' where they were compared
    (``matched`` is either's)."""
    if fp is None and views is None:
        return None
    out = fp.to_dict() if fp is not None else {"matched": False}
    if views is not None:
        out["views"] = views.to_dict()
        out["matched"] = bool(out["matched"] or views.matched)
    return out


def skips_nonreference(frame_count: int, max_frames: int) -> bool:
    """Does the verifier's decode skip non-reference frames (outside the classifier's windows)? Only
    when the clip has at least twice the watermark sample: short clips keep every frame."""
    return frame_count >= 2 * max_frames


def check_watermark_names(settings: Settings) -> None:
    """Every watermark version the settings name exists: a typo in ``proof_bindings`` would otherwise
    quietly make no binding proof. A server calls it at startup, a command before its first clip."""
    named = (settings.watermark_method, *settings.watermark_versions, *settings.proof_bindings)
    unknown = [n for n in dict.fromkeys(named) if n not in list_methods()]
    if unknown:
        raise KinosealError(f"unknown watermark version {', '.join(map(repr, unknown))}",
                            hint="KINOSEAL_WATERMARK_VERSIONS and KINOSEAL_PROOF_BINDINGS take comma-separated "
                                 "names of: " + ", ".join(list_methods()))


@dataclass
class Verifier:
    """Holds what verification needs (trust anchors, watermark keys, classifier);
    build once, call ``verify`` for each clip. Thread-safe for reading."""

    settings: Settings
    trust: TrustStore
    keyring: KeyRing | None
    classifier: object | None = None
    registry: SqliteRegistry | None = None
    # True while the configured classifier waits for its first use (``from_settings(load_classifier=False)``).
    classifier_pending: bool = False
    _load_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    # The registry's fingerprints, searchable (rebuilt when the registry changes: ``SqliteRegistry.version``).
    _fp_index: tuple[tuple[int, int], FingerprintIndex] | None = field(default=None, repr=False, compare=False)
    _fp_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings, extra_trust: list[Path] | tuple[Path, ...] = (),
                      load_classifier: bool = True, classifier: object | None = None,
                      trust: TrustStore | None = None) -> "Verifier":
        """``load_classifier=False`` defers the classifier (torch and the weights, ~3 s on
        2 cores) to the first clip that needs it, or to :meth:`ensure_classifier`: a command
        given only files that are not videos answers without it. ``classifier``: the configured
        model, already loaded (the sandbox's fork server loads the shipped one once for every child).
        ``trust``: the trust configuration to use instead of the one ``settings`` name (a service
        tenant's, handed to a sandboxed worker)."""
        check_watermark_names(settings)
        keyring = None
        wm_dir = settings.keys_dir / "watermark"
        if wm_dir.exists():
            keyring = load_keyring(wm_dir, create=False)
        registry = None
        if (settings.home / "provenance.sqlite3").exists():
            registry = default_registry(settings.home)
        trust = trust if trust is not None else trust_store(settings, extra_trust)
        verifier = cls(settings=settings, trust=trust, keyring=keyring,
                       registry=registry, classifier_pending=settings.classifier_model != "none")
        if classifier is not None and verifier.classifier_pending:
            verifier.classifier, verifier.classifier_pending = classifier, False
        if load_classifier:
            verifier.ensure_classifier()
        return verifier

    def ensure_classifier(self) -> None:
        """Load the configured classifier now if it is still pending: the shipped model, a
        user's (KINOSEAL_CLASSIFIER=DIR) or none ("none"). A corrupt model raises InputError
        here, so a server fails at startup and a command once, not at every clip."""
        with self._load_lock:
            if not self.classifier_pending:
                return
            from kinoseal.detect import load_detector

            model = self.settings.classifier_model
            try:
                self.classifier = load_detector(Path(model)) if model else load_detector()
            except InputError as exc:
                raise ModelLoadError(f"the classifier model cannot be loaded: {exc}",
                                     hint="fix KINOSEAL_CLASSIFIER, or set it to none") from None
            self.classifier_pending = False

    def _fingerprint_index(self) -> FingerprintIndex | None:
        """The registry's fingerprints as one searchable index; None without a registry. Records
        added since the last call are added to it; a record replaced in place rebuilds it."""
        if self.registry is None:
            return None
        count, top = self.registry.version()
        with self._fp_lock:
            state = self._fp_index
            if state is not None and state[0] == (count, top):
                return state[1]
            if state is not None and top > state[0][1] and count - state[0][0] == top - state[0][1]:
                # Only appended rows (SQLite gives each new row the next row id; a replaced one would
                # leave the count behind).
                state[1].add(_comparable(self.registry.fingerprints(after_rowid=state[0][1])))
                self._fp_index = ((count, top), state[1])
                return state[1]
            self._fp_index = ((count, top), FingerprintIndex(_comparable(self.registry.fingerprints())))
            return self._fp_index[1]

    def _fingerprint_scan(self) -> tuple[FingerprintScan | None, FingerprintIndex | None]:
        """Hash the watermark sample's frames when the registry holds fingerprints to compare with
        (the scan, and the index it will be searched in)."""
        index = self._fingerprint_index()
        if index is None or len(index) == 0:
            return None, None
        return FingerprintScan(self.settings.limits.verify_max_frames), index

    def _provenance(self, watermark: WatermarkEvidence, fpscan: FingerprintScan | None,
                    index: FingerprintIndex | None,
                    scan: WatermarkScan | None = None) -> tuple[dict | None, RegistryEvidence | None]:
        """The registry's record for this clip: the one the watermark's payload names, checked against
        the pixels by its content fingerprint (its hashes, then, where they fail, its views: a crop, a
        turn or a warp, ``verify.content``); else, the one whose fingerprint these pixels match, and
        then that record's own mark is tested once in the scan's frames (``_registered_mark``)."""
        if self.registry is None:
            return None, None
        fingerprint = fpscan.result() if fpscan is not None else None
        record: ProvenanceRecord | None = None
        fp_match: FingerprintMatch | None = None
        views: ViewMatch | None = None
        via = "watermark"
        listed: tuple[float, int] | None = None
        if watermark.detected and watermark.payload_id:
            record = self.registry.lookup(watermark.payload_id)
            if record is None:
                return {"found": False, "payload_id": watermark.payload_id}, None
            fp_match, views = self._content(record, fingerprint, fpscan, _orientation(scan, watermark),
                                               _shot_start(watermark))
        elif fingerprint is not None and len(fingerprint) and index is not None:
            found = [(self.registry.lookup(payload_id), m) for payload_id, m in index.search(fingerprint)]
            found = [(rec, m) for rec, m in found if rec is not None]
            # A mark found without its payload: prefer the records made with the key that made it.
            same = [f for f in found if watermark.detected and f[0].key_id == watermark.key_id]
            if same or found:
                record, fp_match = (same or found)[0]
                via = "fingerprint"
        if watermark.detected and not watermark.payload_id and not (record is not None and fp_match is not None
                                                                     and fp_match.matched and record.key_id == watermark.key_id):
            # A mark found without its payload that no registered fingerprint of its key matches (a crop, a
            # turn or a warp erased the payload and broke the hashes): its key's registered payloads tested.
            got = self._listed_payload(scan, watermark)
            if got is not None:
                record, listed = got
                via = "watermark"
                fp_match, views = self._content(record, fingerprint, fpscan, _orientation(scan, watermark),
                                               _shot_start(watermark))
        if record is None:
            return None, None
        extent, stretch = (content_stretch(fingerprint.times, fp_match.span_s, scan.duration_s if scan else None,
                                           *_placed(record, fingerprint, fp_match))
                           if fp_match is not None and fp_match.matched and fingerprint is not None else (None, []))
        mark_log10_p = None
        if via == "fingerprint" and fp_match is not None and fp_match.matched and not watermark.detected:
            mark_log10_p = self._registered_mark(scan, record, fp_match.mirrored,
                                                 stretch if extent == "segments" else None)
        store = record.manifest
        active = store.get("manifests", {}).get(store.get("active_manifest") or "", {})
        signer = active.get("signature_info") or {}
        evidence = RegistryEvidence(
            via=via, payload_id=record.payload_id, key_id=record.key_id, title=record.title,
            labeled_at=record.created_at,
            content_matched=(True if views is not None and views.matched
                             else None if fp_match is None else fp_match.matched),
            same_key=via == "watermark" or (watermark.detected and watermark.key_id == record.key_id),
            frames=fp_match.frames if fp_match else 0, compared=fp_match.compared if fp_match else 0,
            span_s=fp_match.span_s if fp_match else None, mirrored=bool(fp_match and fp_match.mirrored),
            mark_log10_p=mark_log10_p, views=views if views is not None and views.matched else None,
            extent=extent, segments=stretch,
        )
        return {
            "found": True,
            "via": via,
            "payload_id": record.payload_id,
            "manifest_label": record.manifest_label,
            # The id the C2PA Soft Binding Resolution API serves it under (GET /manifests/{id}).
            "manifest_id": record.manifest_label,
            "title": record.title,
            "labeled_at": record.created_at,
            "signer": signer.get("common_name"),
            "claim_generator": (active.get("claim_generator_info") or [{}])[0].get("name"),
            # The registered fingerprint against these pixels (None: the record kept none).
            "content_match": _content_match(fp_match, views),
            # Where its content sits in this clip, by the hashes that matched: "full", or "segments" for a shot
            # spliced into other footage (None: not placed, e.g. matched by its views only).
            "extent": extent,
            "segments": stretch,
            # The payload that the blind decode could not read, found among the registered payloads of the
            # mark's key (``_listed_payload``); None where the payload was decoded or not needed.
            "payload_listed": None if listed is None else {
                "log10_p_value": round(listed[0], 3), "candidates": listed[1]},
            # Its own mark tested where the fingerprint puts the picture (None: not tested).
            "registered_mark": None if mark_log10_p is None else {
                "method": record.method, "key_id": record.key_id, "log10_p_value": round(mark_log10_p, 3),
                "p_value": 10.0 ** mark_log10_p, "detected": 10.0 ** mark_log10_p < self.settings.watermark_p_threshold},
        }, evidence

    def _content(self, record: ProvenanceRecord, fingerprint: Fingerprint | None,
                 fpscan: FingerprintScan | None, orientation: int = 0,
                 starts_at: float | None = None) -> tuple[FingerprintMatch | None, ViewMatch | None]:
        """The record's fingerprint against these pixels: its hashes, then, where they do not match, its
        views (``verify.content``: a crop, a turn, a warp; ``orientation``: the mirror and quarter turns
        the mark's geometry found, undone first; ``starts_at``: where the mark's segment starts, for a
        shot spliced into longer footage)."""
        fp_match = views = None
        if record.fingerprint and fingerprint is not None:
            try:
                fp_match = match(Fingerprint.from_bytes(record.fingerprint), fingerprint)
            except ValueError:
                fp_match = None
        if record.views and fpscan is not None and not (fp_match is not None and fp_match.matched):
            # The hashes' time offset only where enough frames agreed on it: one chance match of a still
            # scene (the generated clip cropped: 1 frame at 1.29 s) put every pair off the views' times.
            placed = fp_match is not None and fp_match.offset_s is not None and fp_match.frames >= FP_MIN_FRAMES
            views = view_match(record.views, fpscan.pictures(), offset_s=fp_match.offset_s if placed else None,
                               orientation=orientation, starts_at=starts_at)
        return fp_match, views

    def _listed_payload(self, scan: WatermarkScan | None,
                        watermark: WatermarkEvidence) -> tuple[ProvenanceRecord, tuple[float, int]] | None:
        """The record whose payload the mark carries, where the blind decode read none: each registered
        payload of the mark's key (the newest ``LISTED_PAYLOADS``) correlated with the tile at the geometry
        the search found (``TiledExtractor.payload_t``); the best, with its p-value times the number of
        candidates and 2 (a second test beside the blind search), if that is below the threshold.
        (record, (log10 p, candidates)) or None."""
        if scan is None or scan.error or not watermark.key_id or not watermark.method:
            return None
        ex = _extractor(scan, watermark.method, "payload_t")
        if ex is None:
            return None
        ids = self.registry.payloads_of_key(watermark.key_id, watermark.method, LISTED_PAYLOADS)
        try:
            payloads = [int(i, 16) for i in ids]
        except ValueError:
            return None
        t = ex.payload_t(watermark.key_id, payloads)
        if t is None or not len(t):
            return None
        j = int(np.argmax(t))
        lp = min(0.0, rademacher_log10_pvalue(float(t[j])) + math.log10(2.0 * len(t)))
        if 10.0 ** lp >= self.settings.watermark_p_threshold:
            return None
        # Payloads one bit apart share most coded bits (0x1234 and 0x1235: t 20.2 and 16.3 on one clip), so
        # the best must also stand clear of the next: the labeler's payloads are random 64-bit numbers,
        # whose codewords agree on about half their bits (the next best ~0 where the best is ~10).
        if len(t) > 1 and float(np.partition(t, -2)[-2]) > LISTED_MARGIN * float(t[j]):
            return None
        record = self.registry.lookup(ids[j])
        return None if record is None else (record, (lp, len(t)))

    def _registered_mark(self, scan: WatermarkScan | None, record: ProvenanceRecord, mirrored: bool,
                         stretch: list[dict] | None = None) -> float | None:
        """log10 p of the record's own mark (its key and payload) in the scan's frames, tested where the
        fingerprint match puts the picture (as registered, or flipped; at the frame-size rule or, for a
        resized small clip, the sweep's scales: ``TiledExtractor.registered_test``), times 2: it is a
        second test beside the blind search, and together they keep the false-positive bound. Where the
        registered content fills only ``stretch`` of this clip (a shot spliced into other footage,
        ``content_stretch``), the frames there alone are tested (``TiledExtractor.within``): the footage
        around it carries no mark and would dilute it; the fingerprint, not the key, chose them. None
        where the scan has no extractor of the record's method with that key (a retired version, a key
        not in the keyring)."""
        if scan is None or scan.error:
            return None
        try:
            payload = int(record.payload_id, 16)
        except (TypeError, ValueError):
            return None
        ex = _extractor(scan, record.method, "registered_test")
        if ex is None:
            return None
        if stretch and hasattr(ex, "within"):
            idx = [i for i, t in enumerate(scan.times) if any(s["start_s"] <= t <= s["end_s"] for s in stretch)]
            ex = (ex.within(idx) if len(idx) >= FP_MIN_FRAMES else None) or ex
        lp = ex.registered_test(record.key_id, payload, mirrored)
        return None if lp is None else min(0.0, lp + math.log10(2.0))

    def _watermark_scan(self) -> tuple[WatermarkScan | None, list[str]]:
        """Every registered watermark version (or those ``Settings.watermark_versions`` names), the
        configured one first: older versions keep clips marked before an upgrade verifiable."""
        wanted = self.settings.watermark_versions or tuple(list_methods())
        names = [self.settings.watermark_method] + [m for m in wanted if m != self.settings.watermark_method]
        if self.keyring is None:
            return None, names
        keys = list(self.keyring.keys)
        extractors = [get_method(n).extractor(keys) for n in names]
        for n, ex in zip(names, extractors):
            if hasattr(ex, "bind_only_when_present") and n not in self.settings.proof_bindings:
                ex.bind_only_when_present = True  # its binding cannot change the verdict (rules 2 and 4)
        # In the background the extractors' per-frame work overlaps the decode (results are identical).
        return WatermarkScan(extractors, self.settings.limits.verify_max_frames, background=self._overlap()), names

    def _overlap(self) -> bool:
        """Analyse on threads of their own while the decoder goes on (not for a clip kept on one thread)."""
        return not self.settings.limits.one_thread

    def _watermark_evidence(self, scan: WatermarkScan | None, names: list[str]) -> WatermarkEvidence:
        """Testing several versions is multiple testing, so the best p-value is multiplied
        by their number (Bonferroni)."""
        if scan is None:
            return WatermarkEvidence(detected=False, method=names[0], error="no watermark keys installed")
        if scan.error:
            return WatermarkEvidence(detected=False, method=names[0], error=scan.error)
        results = scan.results()
        bonferroni = math.log10(len(results))
        # A mark bound to the content (v3-v5) outranks a pattern that is merely present (v1/v2, or a
        # pattern without its content binding); of the bound ones, only a version whose binding is
        # proof may call the clip ai_generated. A v3/v4 binding, which a learned forger makes too, is
        # reported and not relied on.
        binds = [r for r in results if r.bound and r.binding_log10_p is not None
                 and 10.0 ** (r.binding_log10_p + bonferroni) < self.settings.watermark_p_threshold]
        bound_hits = [r for r in binds if r.method in self.settings.proof_bindings]
        if binds:
            res = min(bound_hits or binds, key=lambda r: r.binding_log10_p)
        else:
            res = min(results, key=lambda r: r.log10_p_value)
        log10_p = min(0.0, float(res.log10_p_value) + bonferroni)
        binding = None if res.binding_log10_p is None else min(0.0, float(res.binding_log10_p) + bonferroni)
        p_value = 10.0**log10_p
        detected = p_value < self.settings.watermark_p_threshold
        not_proof = None
        if detected and binds and not bound_hits:
            not_proof = (f"{res.method} binds this content (p = {10.0 ** binding:.1e}), "
                         "but a forger holding clips labeled with that version (about ten for v3/v4, about a hundred for v5) "
                         "can learn its binding and "
                         "paint it on real footage, so it is not proof that this clip is AI-generated")
        segs, extent = [], None
        if (detected and scan.times
                and len(res.per_frame_scores) == len(scan.times) and all(math.isfinite(t) for t in scan.times)):
            segs = marked_segments(res.per_frame_scores, scan.times, scan.duration_s, runs=res.marked_runs)
            extent = ("full" if covers_clip(segs, clip_end(scan.times, scan.duration_s)) else "segments") if segs else None
        return WatermarkEvidence(
            detected=detected,
            method=res.method,
            payload_id=f"{res.payload_id:016x}" if (detected and res.payload_id is not None) else None,
            p_value=p_value,
            log10_p_value=log10_p,
            bit_accuracy=None if res.bit_accuracy is None else float(res.bit_accuracy),
            frames_analyzed=int(res.frames_analyzed),
            key_id=res.key_id if detected else None,
            per_frame=[float(x) for x in res.per_frame_scores],
            bound=any(res is r for r in bound_hits) if detected else None,
            binding_p_value=None if binding is None else 10.0**binding,
            binding_not_proof=not_proof,
            segments=[sg.to_dict() for sg in segs],
            marked_extent=extent,
        )

    def _classifier_plan(self, c2pa: C2paEvidence) -> ClassifierEvidence | None:
        """The classifier's evidence when it will not look at the pixels, else None."""
        if self.settings.classifier_policy == "when_needed":
            # Rules 1-5 never look at the classifier. If the manifest alone settles the
            # verdict, a watermark found or not cannot reopen it (rules 1-5 all come
            # first), so the classifier's score could not change it.
            settled = decide(c2pa, WatermarkEvidence(detected=False), ClassifierEvidence(available=False),
                             watermark_threshold=self.settings.watermark_p_threshold).verdict
            if settled is not Verdict.UNKNOWN:
                return ClassifierEvidence(
                    available=False,
                    note="not run: the manifest settles the verdict (classifier policy when_needed)",
                )
        self.ensure_classifier()
        if self.classifier is None:
            return ClassifierEvidence(available=False, note="no classifier model installed")
        return None

    def verify(self, path: Path, fragments: Sequence[Path] | None = None) -> Report:
        """One pass over the clip: the manifest is read from the file's bytes, then the
        container is opened once and decoded once, each frame going to the watermark
        sample and the classifier's windows (``mediaio.stream``).

        ``fragments``: ``path`` is the init segment of a fragmented MP4 (DASH/CMAF) and
        these are its media fragments, validated against it and decoded joined. An init
        segment given alone is reported as incomplete, not as altered."""
        path = Path(path)
        check_file(path, self.settings.limits)
        if fragments:
            frags = [Path(f) for f in fragments]
            total = 0
            for f in frags:
                total += check_file(f, self.settings.limits)
            if total > self.settings.limits.max_file_bytes:
                raise LimitExceeded(f"the fragments of {path.name} add up to {total} bytes, over the limit of "
                                    f"{self.settings.limits.max_file_bytes} bytes")
            c2pa = read_c2pa_fragments(path, frags, self.trust)
            with joined_media(path, frags) as media:
                return self._verify_media(path, media, c2pa)
        if is_init_segment(path):
            return self._verify_media(path, path, read_c2pa_fragments(path, [], self.trust))
        return self._verify_media(path, path, read_c2pa(path, self.trust))

    def _verify_media(self, path: Path, media: Path, c2pa: C2paEvidence) -> Report:
        """The pixels of ``media`` (``path`` itself, or an init segment joined with its
        fragments) against the manifest evidence already read."""
        decode = DecodeReport()
        scan, names = self._watermark_scan()
        fpscan, fp_index = self._fingerprint_scan()
        classifier: ClassifierEvidence | None = None
        collector = None

        def after_probe(_info) -> list:
            # The classifier (~3 s to load on 2 cores: bench/results/startup.md) is loaded only for a file that is a video.
            nonlocal classifier, collector
            classifier = self._classifier_plan(c2pa)
            if classifier is None and hasattr(self.classifier, "collector"):
                collector = self.classifier.collector()
            return [collector] if collector is not None else []

        max_frames = self.settings.limits.verify_max_frames
        info = None
        try:
            info = stream_frames(media, [c for c in (scan, fpscan) if c is not None], self.settings.limits, report=decode,
                                 on_info=after_probe, allow_skip=lambda i: skips_nonreference(i.frame_count, max_frames)).info
        except ModelLoadError:
            raise  # the classifier is broken, not the clip
        except InputError as exc:
            if not c2pa.present or isinstance(exc, LimitExceeded):
                raise  # not a video, or over a limit: nothing to report on
            kind = media_kind(media)
            if kind in ("audio", "image"):
                # A signed WAV or JPEG has a perfectly readable manifest: it must not be
                # reported like a clip whose video no longer decodes.
                what = "an audio file" if kind == "audio" else "a still image"
                raise InputError(f"{path.name} is {what} with Content Credentials, not a video",
                                 hint="kinoseal verifies video; read the manifest with a C2PA tool such as c2patool") from None
            # A signed file whose media no longer decodes (e.g. truncated): the
            # manifest evidence still stands; there are no pixels to check.
            watermark = WatermarkEvidence(detected=False, error=f"the media could not be decoded: {exc}")
            classifier = ClassifierEvidence(available=False, note="the media could not be decoded")
        finally:
            if scan is not None:
                scan.close()  # every path, or its worker thread would wait for frames forever
        if info is not None:
            score = None
            if classifier is None and collector is not None:
                def score() -> ClassifierEvidence:
                    return _score_evidence(self.classifier, lambda: self.classifier.score_collected(collector))
            if score is not None and self._overlap():
                # The classifier's features and the watermark's geometry search use different cores.
                with ThreadPoolExecutor(1, thread_name_prefix="kinoseal-classifier") as pool:
                    scored = pool.submit(score)
                    watermark = self._watermark_evidence(scan, names)
                    classifier = scored.result()
            else:
                watermark = self._watermark_evidence(scan, names)
                if score is not None:
                    classifier = score()
            if classifier is None:
                # A classifier object without a collector reads the clip itself.
                classifier = classifier_evidence(self.classifier, media, self.settings.limits)
        provenance, registry = self._provenance(watermark, fpscan, fp_index,
                                                scan if info is not None else None)
        d = decide(
            c2pa,
            watermark,
            classifier,
            watermark_threshold=self.settings.watermark_p_threshold,
            # A model's own documented operating point is respected if it is stricter.
            classifier_threshold=max(self.settings.classifier_threshold,
                                     float(getattr(self.classifier, "threshold", 0.0) or 0.0)),
            registry=registry,
        )
        evidence = list(d.evidence)
        if provenance and provenance.get("found") and (provenance["via"] == "watermark" or watermark.detected):
            listed = provenance.get("payload_listed")
            how = (f"The watermark payload {provenance['payload_id']} (too damaged to decode alone; of the "
                   f"{listed['candidates']} registered payloads of its key, the one it carries: "
                   f"p = {10.0 ** listed['log10_p_value']:.1e})" if listed
                   else f"The watermark payload {provenance['payload_id']}" if provenance["via"] == "watermark"
                   else f"The content fingerprint ({registry.frames} of {registry.compared} sampled frames)")
            evidence.append(
                f"{how} resolves to original Content Credentials "
                f"({provenance['title']!r}, labeled {provenance['labeled_at']} by {provenance['signer']!r})"
            )
        facts = info.to_dict() if info is not None else {}
        facts.pop("path", None)
        facts["frames_decoded"] = decode.frames_decoded
        return Report(
            file=path.name,
            sha256=sha256_file(media),
            verdict=d.verdict,
            confidence=round(float(d.confidence), 6),
            # The line that decided the verdict, not merely the first one written.
            summary=f"{d.label or PLAIN_WORDS[d.verdict]}: {d.reason or d.evidence[0]}",
            verdict_label=d.label or None,
            ai_extent=d.ai_extent,
            c2pa_status=dict(d.status),
            evidence=evidence,
            c2pa=c2pa,
            watermark=watermark,
            classifier=classifier,
            media=facts,
            provenance=provenance,
            notes=list(decode.notes),
            kinoseal_version=__version__,
        )


__all__ = ["InputError", "Verifier", "skips_nonreference"]
