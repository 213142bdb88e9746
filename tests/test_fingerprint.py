"""The content fingerprint kept beside the watermark payload (``fingerprint``), its registry column,
the verdict rules that read it, and the verifier and the Soft Binding Resolution API end to end."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from PIL import Image

from kinoseal.config import Settings
from kinoseal.credentials.provenance import SqliteRegistry
from kinoseal.credentials.reading import C2paEvidence
from kinoseal.evaluation.watermark.attacks import apply_attack
from kinoseal.evaluation.watermark.clips import decode_i420
from kinoseal.fingerprint import Fingerprint, FingerprintBuilder, frame_hashes, match
from kinoseal.fingerprint.core import MATCH_BITS
from kinoseal.fingerprint.index import FingerprintIndex
from kinoseal.verify.report import ClassifierEvidence, RegistryEvidence, Verdict, WatermarkEvidence
from kinoseal.verify.rules import decide
from testkit.clips import BIKES, CARPHONE, write_clip


@pytest.fixture(scope="module")
def carphone():
    frames, fps = decode_i420(CARPHONE, 60)
    return frames, fps


@pytest.fixture(scope="module")
def bikes():
    frames, fps = decode_i420(BIKES, 50)
    return frames, fps


def fp(frames, fps, *, query=False, start=0.0):
    b = FingerprintBuilder(keep_mirrored=query)
    for i, (y, u, v) in enumerate(frames):
        b.add(y, u, v, start + i / fps)
    return b.build()


def bits(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def _resized(p: np.ndarray, scale: float) -> np.ndarray:
    return np.asarray(Image.fromarray(p).resize((round(p.shape[1] * scale), round(p.shape[0] * scale)),
                                                Image.BILINEAR))


def test_a_frame_hash_survives_resizing_brightness_and_bars_and_sees_a_flip(carphone, bikes):
    y, u, v = carphone[0][10]
    h, _ = frame_hashes(y, u, v)
    assert bits(frame_hashes(*(_resized(p, 0.5) for p in (y, u, v)))[0], h) <= 4
    brighter = np.clip(y.astype(np.int16) * 1.3 + 10, 0, 255).astype(np.uint8)
    assert bits(frame_hashes(brighter, u, v)[0], h) <= 6
    def bars(p, fill, pad):
        out = np.full((p.shape[0] + 2 * pad, p.shape[1]), fill, np.uint8)
        out[pad:-pad] = p
        return out
    assert bits(frame_hashes(bars(y, 16, 30), bars(u, 128, 15), bars(v, 128, 15))[0], h) <= 6  # bars are cut off
    flipped = frame_hashes(*(p[:, ::-1].copy() for p in (y, u, v)))
    assert bits(flipped[1], h) <= 2 and bits(flipped[0], h) > MATCH_BITS  # the mirror hash is what matches
    assert bits(frame_hashes(*bikes[0][0])[0], h) > MATCH_BITS  # another clip


def test_a_shape_that_differs_only_in_colour_is_seen():
    """Kino-tiny draws a red ball on blue: almost no luma contrast, all of it in the chroma."""
    yy, xx = np.mgrid[0:128, 0:128]
    def frame(cx):
        ball = (xx - cx) ** 2 + (yy - 64) ** 2 < 24 ** 2
        y = np.full((128, 128), 80, np.uint8)
        u = np.where(ball[::2, ::2], 90, 200).astype(np.uint8)
        v = np.where(ball[::2, ::2], 220, 110).astype(np.uint8)
        return y, u, v
    left, right = frame_hashes(*frame(40)), frame_hashes(*frame(88))
    assert left is not None and right is not None and bits(left[0], right[0]) > MATCH_BITS
    assert frame_hashes(*frame(41))[0] == left[0] or bits(frame_hashes(*frame(41))[0], left[0]) <= 4


def test_flat_frames_have_no_hash_and_tiny_frames_are_refused():
    flat = np.full((90, 160), 40, np.uint8), np.full((45, 80), 128, np.uint8), np.full((45, 80), 128, np.uint8)
    assert frame_hashes(*flat) is None  # black, fades, a flat wall
    with pytest.raises(ValueError, match="too small"):
        frame_hashes(np.zeros((40, 40), np.uint8), np.zeros((20, 20), np.uint8), np.zeros((20, 20), np.uint8))
    b = FingerprintBuilder()
    b.add(np.zeros((40, 40), np.uint8), np.zeros((20, 20), np.uint8), np.zeros((20, 20), np.uint8), 0.0)
    assert len(b.build()) == 0 and b.frames_seen == 1  # the labeler's frames that small get no fingerprint


def test_the_registry_form_round_trips_and_bad_forms_are_refused(carphone):
    ref = fp(*carphone)
    data = ref.to_bytes()
    assert len(data) == 13 + 12 * len(ref)  # 12 bytes a frame
    back = Fingerprint.from_bytes(data)
    assert back.hashes == ref.hashes and np.allclose(back.times, ref.times, atol=1e-3)
    assert back.frames_seen == ref.frames_seen == 60
    for bad in (b"", b"KSFP", data[:-1], data + b"\0", b"XXXX" + data[4:], None):
        with pytest.raises(ValueError):
            Fingerprint.from_bytes(bad)


def test_a_cut_of_a_clip_matches_at_its_offset_and_inside_other_footage(carphone, bikes):
    frames, fps = bikes  # a moving shot: in a static one every moment looks alike and the offset is open
    ref = fp(frames, fps)
    cut = fp(frames[15:40], fps, query=True)  # starts at 0 s but shows 0.6-1.6 s of the original
    m = match(ref, cut)
    assert m.matched and m.frames >= 23 and abs(m.offset_s - 15 / fps) < 0.05
    # the cut spliced after a stretch of other footage: matched where it sits
    spliced = FingerprintBuilder(keep_mirrored=True)
    t = 0.0
    for y, u, v in carphone[0][:30]:
        spliced.add(y, u, v, t)
        t += 0.04
    start = t
    for y, u, v in frames[15:40]:
        spliced.add(y, u, v, t)
        t += 1 / fps
    m = match(ref, spliced.build())
    assert m.matched and m.span_s[0] == pytest.approx(start, abs=0.05)


def test_copies_match_and_unrelated_clips_do_not(carphone, bikes):
    frames, fps = carphone
    ref = fp(frames, fps)
    for attack in ("h264_crf40", "resize_0.55", "hflip", "letterbox_0.25", "fps_half"):
        out, fps2 = apply_attack(attack, frames, fps)
        m = match(ref, fp(out, fps2, query=True))
        assert m.matched, (attack, m)
        assert m.mirrored == (attack == "hflip")
    assert not match(ref, fp(*bikes, query=True)).matched
    assert not match(fp(*bikes), fp(frames, fps, query=True)).matched
    assert not match(ref, fp(*apply_attack("crop_0.55", frames, fps), query=True)).matched  # a limit, stated


def test_the_index_finds_the_registered_clip_among_others(carphone, bikes):
    frames, fps = carphone
    index = FingerprintIndex([("bikes", fp(*bikes)), ("carphone", fp(frames, fps)), ("empty", Fingerprint((), ()))])
    assert len(index) == 2
    for attack in ("h264_crf40", "resize_0.55", "letterbox_0.25"):
        q = fp(*apply_attack(attack, frames, fps), query=True)
        hits = index.search(q)
        assert [h[0] for h in hits] == ["carphone"], attack
        assert [h[0] for h in index.search(q, exhaustive=True)] == ["carphone"]
    assert index.search(fp(*apply_attack("crop_0.55", frames, fps), query=True)) == []


def test_registry_keeps_fingerprints_and_upgrades_an_old_file(tmp_path, carphone):
    path = tmp_path / "provenance.sqlite3"
    with sqlite3.connect(path) as db:  # the schema before fingerprints (and before the C2PA bytes)
        db.execute("CREATE TABLE provenance (payload_id TEXT PRIMARY KEY, key_id TEXT NOT NULL, method TEXT NOT NULL, "
                   "manifest_label TEXT, file_sha256 TEXT, title TEXT, created_at TEXT NOT NULL, manifest_json TEXT NOT NULL)")
        db.execute("INSERT INTO provenance VALUES ('00000000000000aa','k','m',NULL,NULL,'old',"
                   "'2026-01-01T00:00:00+00:00','{}')")
    reg = SqliteRegistry(path)
    assert reg.lookup("00000000000000aa").fingerprint is None
    v0 = reg.version()
    ref = fp(*carphone)
    reg.record(payload_id="00000000000000bb", key_id="k", method="m", manifest={}, title="new",
               fingerprint=ref.to_bytes())
    assert reg.version() != v0
    assert Fingerprint.from_bytes(reg.lookup("00000000000000bb").fingerprint).hashes == ref.hashes
    (rowid, payload_id, data), = reg.fingerprints()
    assert payload_id == "00000000000000bb" and Fingerprint.from_bytes(data).hashes == ref.hashes
    assert reg.fingerprints(after_rowid=rowid) == []


# -- the verdict rules -------------------------------------------------------------------------------

NO_C2PA = C2paEvidence(present=False)
NO_CLASSIFIER = ClassifierEvidence(available=False)


def unbound_mark(**kw) -> WatermarkEvidence:
    return WatermarkEvidence(detected=True, method="kinoseal-wm-v5", p_value=1e-20, frames_analyzed=48,
                             key_id="key1", bound=False, **kw)


def registry(**kw) -> RegistryEvidence:
    base = dict(via="watermark", payload_id="00000000000000aa", key_id="key1", title="clip.mp4",
                labeled_at="2026-12-06T00:00:00+00:00", content_matched=True, same_key=True, frames=40, compared=44)
    return RegistryEvidence(**{**base, **kw})


def test_an_unbound_mark_whose_registered_fingerprint_matches_is_ai_generated():
    d = decide(NO_C2PA, unbound_mark(), NO_CLASSIFIER, registry=registry(via="fingerprint"))
    assert d.verdict is Verdict.AI_GENERATED
    assert "registered fingerprint of 'clip.mp4'" in d.reason and "40 of 44" in d.reason
    # the same mark without the registry stays what it was: present, not proof
    assert decide(NO_C2PA, unbound_mark(), NO_CLASSIFIER).verdict is Verdict.UNKNOWN
    # a record made with another key does not vouch for this mark
    other = decide(NO_C2PA, unbound_mark(), NO_CLASSIFIER, registry=registry(via="fingerprint", same_key=False))
    assert other.verdict is Verdict.UNKNOWN


def test_a_copied_mark_names_the_clip_it_was_copied_from_and_is_never_ai_generated():
    d = decide(NO_C2PA, unbound_mark(payload_id="00000000000000aa"), NO_CLASSIFIER,
               registry=registry(content_matched=False, frames=1, compared=44))
    assert d.verdict is Verdict.UNKNOWN
    assert any("does not match these pixels (1 of 44" in e and "mark was copied from that clip" in e
               and "edited past what its fingerprint survives" in e for e in d.evidence)
    # a bound mark stays ai_generated; the failed fingerprint is reported beside it (a crop breaks it)
    bound = WatermarkEvidence(detected=True, method="kinoseal-wm-v5", p_value=1e-30, bound=True, key_id="key1",
                              binding_p_value=1e-12, payload_id="00000000000000aa")
    d = decide(NO_C2PA, bound, NO_CLASSIFIER, registry=registry(content_matched=False, frames=0))
    assert d.verdict is Verdict.AI_GENERATED and any("crop, rotation" in e for e in d.evidence)


def test_a_fingerprint_alone_is_likely_at_most_and_never_beats_a_trusted_capture():
    no_mark = WatermarkEvidence(detected=False, p_value=0.4, frames_analyzed=48)
    d = decide(NO_C2PA, no_mark, NO_CLASSIFIER, registry=registry(via="fingerprint", same_key=False))
    assert d.verdict is Verdict.LIKELY_AI_GENERATED and "not proof" in d.reason
    assert d.label == "Likely AI-generated (matches a clip kinoseal labeled)"  # not "classifier only"
    capture = C2paEvidence(present=True, validation_state="Trusted",
                           digital_source_type="http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
                           signer={"common_name": "Newsroom camera"})
    d = decide(capture, no_mark, NO_CLASSIFIER, registry=registry(via="fingerprint", same_key=False))
    assert d.verdict is Verdict.AUTHENTIC


def test_the_registered_clips_own_mark_found_by_its_targeted_test_is_ai_generated():
    no_mark = WatermarkEvidence(detected=False, p_value=0.4, frames_analyzed=48)
    found = registry(via="fingerprint", same_key=False, mark_log10_p=-8.0)
    d = decide(NO_C2PA, no_mark, NO_CLASSIFIER, registry=found)
    assert d.verdict is Verdict.AI_GENERATED and d.confidence > 0.999
    assert "watermark of 'clip.mp4'" in d.reason and "p = 1.0e-08" in d.reason and "tested once" in d.reason
    # the blind search's own line does not contradict it
    assert not any(e.startswith("No kinoseal watermark") for e in d.evidence)
    assert any(e.startswith("The blind search for a kinoseal watermark") and "found none" in e for e in d.evidence)
    # even against a trusted capture claim: the pixels carry a labeled clip's own mark
    capture = C2paEvidence(present=True, validation_state="Trusted",
                           digital_source_type="http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
                           signer={"common_name": "Newsroom camera"})
    d = decide(capture, no_mark, NO_CLASSIFIER, registry=found)
    assert d.verdict is Verdict.AI_GENERATED and len(d.evidence) == len(set(d.evidence))  # each line once
    # at the threshold or above, the fingerprint alone speaks: likely, and the test's p is reported
    weak = decide(NO_C2PA, no_mark, NO_CLASSIFIER, registry=registry(via="fingerprint", mark_log10_p=-5.9))
    assert weak.verdict is Verdict.LIKELY_AI_GENERATED and "not even by a test of its own key" in weak.reason
    assert decide(capture, no_mark, NO_CLASSIFIER, registry=registry(via="fingerprint", mark_log10_p=-5.9)).verdict \
        is Verdict.AUTHENTIC


def test_a_registered_shot_spliced_into_other_footage_is_reported_as_segments():
    """The registry places the registered clip's content in this one (``RegistryEvidence.segments``, from the
    hashes that matched): where the blind search missed a shot's mark, the verdict still says where."""
    no_mark = WatermarkEvidence(detected=False, p_value=0.4, frames_analyzed=70)
    shot = [{"start_s": 3.5, "end_s": 6.5, "frames": 19}]
    found = registry(via="fingerprint", mark_log10_p=-9.0, extent="segments", segments=shot)
    d = decide(NO_C2PA, no_mark, NO_CLASSIFIER, registry=found)
    assert d.verdict is Verdict.AI_GENERATED and d.ai_extent == "segments"
    assert d.reason.startswith("Contains AI-generated segments: the content of a clip kinoseal labeled fills 3.5-6.5 s")
    assert "a shot within other footage" in d.reason
    # the whole clip: no segments, and the reason names heavy compression alone
    whole = decide(NO_C2PA, no_mark, NO_CLASSIFIER, registry=registry(via="fingerprint", mark_log10_p=-9.0, extent="full",
                                                                      segments=[{"start_s": 0.0, "end_s": 3.0, "frames": 60}]))
    assert whole.verdict is Verdict.AI_GENERATED and whole.ai_extent is None and "(heavy compression)" in whole.reason
    # its mark not found there: likely, with the place named, and no extent (not ai_generated)
    weak = decide(NO_C2PA, no_mark, NO_CLASSIFIER,
                  registry=registry(via="fingerprint", mark_log10_p=-2.0, extent="segments", segments=shot))
    assert weak.verdict is Verdict.LIKELY_AI_GENERATED and weak.ai_extent is None
    assert weak.reason.startswith("These pixels at 3.5-6.5 s of this clip match the registered fingerprint")


def test_content_stretch_places_the_matched_hashes_in_the_clip():
    from kinoseal.verify.content import content_stretch

    t = [i * 0.2 for i in range(50)]  # 10 s sampled every 0.2 s
    extent, segs = content_stretch(t, (3.6, 6.4), 10.0)
    assert extent == "segments" and segs == [{"start_s": 3.5, "end_s": 6.5, "frames": 15}]
    # from the first sampled frame to the last: the clip's own ends, the whole clip
    assert content_stretch(t, (0.0, t[-1]), 10.0) == ("full", [{"start_s": 0.0, "end_s": 10.0, "frames": 50}])
    # a shot at the start runs from 0
    assert content_stretch(t, (0.0, 2.0), 10.0)[1][0]["start_s"] == 0.0
    # nothing known
    assert content_stretch(t, None, 10.0) == (None, []) and content_stretch([], (1.0, 2.0), 10.0) == (None, [])
    assert content_stretch(t, (10.5, 11.0), 10.0) == (None, [])
    # the registered clip placed over the whole clip: its content throughout, though the hashes of the
    # frames at its ends did not match; placed over part of it: the matched stretch
    assert content_stretch(t, (0.6, 9.2), 10.0, placed=(0.0, 9.96)) == ("full", [{"start_s": 0.0, "end_s": 10.0,
                                                                                  "frames": 44}])
    assert content_stretch(t, (3.6, 6.4), 10.0, placed=(3.5, 6.46))[0] == "segments"
    # a still scene matched at a slightly wrong offset: the frames left out of the stretch still resemble the
    # registered clip, so it is that content throughout; footage around a spliced shot does not
    same = [True] * 50
    other = [3.5 <= x <= 6.5 for x in t]
    assert content_stretch(t, (3.6, 6.4), 10.0, placed=(3.5, 6.46), alike=same)[0] == "full"
    assert content_stretch(t, (3.6, 6.4), 10.0, placed=(3.5, 6.46), alike=other) == (
        "segments", [{"start_s": 3.5, "end_s": 6.5, "frames": 15}])


# -- end to end ----------------------------------------------------------------------------------------


def test_a_labeled_clip_carries_its_registered_fingerprint(run_cli, labeled):
    proc = run_cli("verify", "--json", labeled)
    report = json.loads(proc.stdout.splitlines()[0])
    prov = report["provenance"]
    assert prov["found"] and prov["via"] == "watermark"
    assert prov["content_match"]["matched"] and prov["content_match"]["frames"] >= 5


def test_a_registered_clip_without_its_mark_is_recognised_by_content(tmp_path):
    """A record whose fingerprint is that of an unmarked clip stands for a labeled clip whose
    watermark was lost: the verifier finds the record by content alone and says likely, not proof."""
    from kinoseal.verify.verifier import Verifier

    frames, fps = decode_i420(BIKES, 50)
    rgb = [np.stack([y[: y.shape[0] // 2 * 2], y[: y.shape[0] // 2 * 2], y[: y.shape[0] // 2 * 2]], axis=-1)
           for y, _, _ in frames]
    clip = write_clip(tmp_path / "clip.mp4", rgb, fps=25, crf=30)
    settings = Settings(home=tmp_path / "home", classifier_model="none")
    reg = SqliteRegistry(settings.home / "provenance.sqlite3")
    reg.record(payload_id="00000000000000cc", key_id="key1", method="kinoseal-wm-v5", manifest={},
               manifest_label="urn:c2pa:00000000-0000-0000-0000-0000000000cc", title="lost-mark.mp4",
               fingerprint=fp(frames, fps).to_bytes())
    verifier = Verifier.from_settings(settings)
    rep = verifier.verify(clip)
    assert rep.verdict is Verdict.LIKELY_AI_GENERATED, rep.evidence
    assert rep.provenance["via"] == "fingerprint" and rep.provenance["title"] == "lost-mark.mp4"
    assert "'lost-mark.mp4'" in rep.summary and rep.summary.startswith("Likely AI-generated (matches a clip")
    assert rep.to_dict()["verdict_label"] == "Likely AI-generated (matches a clip kinoseal labeled)"
    # another clip finds nothing
    other = verifier.verify(write_clip(tmp_path / "other.mp4", [f[::-1].copy() for f in rgb], fps=25))
    assert other.verdict is Verdict.UNKNOWN and other.provenance is None


def test_the_verifiers_index_grows_with_the_registry(tmp_path, carphone, bikes):
    """Records added while a verifier runs are found without re-sorting the index; both parts of
    the index (sorted and pending) answer like a comparison with every hash."""
    from kinoseal.verify.verifier import Verifier

    settings = Settings(home=tmp_path / "home", classifier_model="none")
    reg = SqliteRegistry(settings.home / "provenance.sqlite3")
    reg.record(payload_id="00000000000000b1", key_id="k", method="m", manifest={}, fingerprint=fp(*bikes).to_bytes())
    verifier = Verifier.from_settings(settings)
    first = verifier._fingerprint_index()
    assert first.ids == ["00000000000000b1"]
    reg.record(payload_id="00000000000000c1", key_id="k", method="m", manifest={}, fingerprint=fp(*carphone).to_bytes())
    grown = verifier._fingerprint_index()
    assert grown is first and grown.ids == ["00000000000000b1", "00000000000000c1"]
    q = fp(*apply_attack("h264_crf40", *carphone), query=True)
    assert [h[0] for h in grown.search(q)] == [h[0] for h in grown.search(q, exhaustive=True)] == ["00000000000000c1"]
    # a record replaced in place rebuilds the index
    reg.record(payload_id="00000000000000b1", key_id="k", method="m", manifest={}, fingerprint=fp(*carphone).to_bytes())
    assert verifier._fingerprint_index() is not first


def test_an_ai_edit_of_real_footage_keeps_no_fingerprint(tmp_path):
    """An AI edit of a recording looks like the recording: a fingerprint of the edit would make the
    untouched original read 'likely AI-generated'. Only clips the model made whole are fingerprinted."""
    from kinoseal.label import GeneratorInfo, Labeler
    from kinoseal.mediaio.colour import i420_to_rgb
    from kinoseal.verify.verifier import Verifier

    frames, fps = decode_i420(CARPHONE, 36)
    original = write_clip(tmp_path / "original.mp4", [i420_to_rgb(*p) for p in frames], fps=12)
    settings = Settings(home=tmp_path / "home", classifier_model="none")
    labeler = Labeler.from_settings(settings)
    rgb = [i420_to_rgb(*p) for p in frames]
    edit = labeler.label_frames(iter(rgb), tmp_path / "edit.mp4", fps=12, generator=GeneratorInfo("m"), parent=original)
    other = [i420_to_rgb(*p) for p in decode_i420(BIKES, 24)[0]]
    whole = labeler.label_frames(iter(other), tmp_path / "whole.mp4", fps=12, generator=GeneratorInfo("m"))
    reg = SqliteRegistry(settings.home / "provenance.sqlite3")
    assert reg.lookup(edit.payload_id).fingerprint is None
    assert reg.lookup(whole.payload_id).fingerprint is not None
    rep = Verifier.from_settings(settings).verify(original)
    assert rep.verdict is Verdict.UNKNOWN and rep.provenance is None


def _registered_carphone(tmp_path, key_byte: int, title: str, time_fps: float | None = None):
    """carphone (2 s) marked with v5 under a fixed key (the tests' margins are measured for it), its
    fingerprint registered under payload 0xab, and a verifier that holds the key: (frames, fps, marked
    planes, key, verifier). ``time_fps``: the frame rate the registered times are counted at."""
    import dataclasses

    from kinoseal.label.labeler import REFERENCE_GAP_S
    from kinoseal.verify.verifier import Verifier
    from kinoseal.watermark.keyring import KeyRing
    from kinoseal.watermark.keys import WatermarkKey
    from kinoseal.watermark.methods import get_method

    frames, fps = decode_i420(CARPHONE, 60)
    key = WatermarkKey(bytes([key_byte]) * 32)
    embedder = get_method("kinoseal-wm-v5").embedder(key, 0xAB)
    marked = [(embedder.embed_luma(y), u, v) for y, u, v in frames]
    builder = FingerprintBuilder(min_gap_s=REFERENCE_GAP_S)
    for i, (y, u, v) in enumerate(marked):
        builder.add(y, u, v, i / (time_fps or fps))
    settings = Settings(home=tmp_path / "home", classifier_model="none")
    SqliteRegistry(settings.home / "provenance.sqlite3").record(
        payload_id=f"{0xAB:016x}", key_id=key.key_id, method="kinoseal-wm-v5", manifest={}, title=title,
        fingerprint=builder.build().to_bytes())
    verifier = dataclasses.replace(Verifier.from_settings(settings), keyring=KeyRing(key, (key,)))
    return frames, fps, marked, key, verifier


def test_a_registered_clip_too_compressed_for_the_blind_search_is_found_by_its_own_mark(tmp_path):
    """H.264 CRF 28 leaves carphone's mark (176x144) too weak for the blind search over geometries,
    shifts and payloads; the registry's fingerprint names the clip, and its key and payload, tested
    once where the fingerprint puts the picture (flipped too), are there. Unmarked footage of the
    same scene matches the fingerprint but not the mark: likely, not proof."""
    import dataclasses

    from kinoseal.mediaio.colour import i420_to_rgb
    from kinoseal.watermark.keyring import KeyRing
    from kinoseal.watermark.keys import WatermarkKey

    frames, _, marked, key, verifier = _registered_carphone(tmp_path, 3, "registered.mp4", time_fps=30)
    rgb = [i420_to_rgb(*m) for m in marked]
    for name, pictures, mirrored in (("crf28.mp4", rgb, False), ("flipped.mp4", [f[:, ::-1].copy() for f in rgb], True)):
        rep = verifier.verify(write_clip(tmp_path / name, pictures, fps=30, crf=28))
        assert not rep.watermark.detected, name  # the blind search alone misses it (measured: p ~ 1e-2)
        mark = rep.provenance["registered_mark"]
        # -6.35 in some runs of this file, below -6.5 in others (the same bytes encoded; on 2026-12-07 the
        # run-to-run difference was not traced): still past the verifier's 1e-6, with a margin
        assert mark["detected"] and mark["log10_p_value"] < -6.2 and mark["key_id"] == key.key_id, (name, mark)
        assert rep.provenance["content_match"]["mirrored"] is mirrored
        assert rep.verdict is Verdict.AI_GENERATED and "tested once where the" in rep.summary, rep.summary
    original = write_clip(tmp_path / "original.mp4", [i420_to_rgb(*p) for p in frames], fps=30, crf=28)
    rep = verifier.verify(original)
    assert rep.verdict is Verdict.LIKELY_AI_GENERATED, rep.summary
    assert rep.provenance["registered_mark"]["log10_p_value"] > -3.0
    # a record whose key this verifier does not hold is not tested: the fingerprint alone speaks
    stranger = dataclasses.replace(verifier, keyring=KeyRing(WatermarkKey(bytes([4]) * 32), (WatermarkKey(bytes([4]) * 32),)))
    rep = stranger.verify(tmp_path / "crf28.mp4")
    assert rep.verdict is Verdict.LIKELY_AI_GENERATED and rep.provenance["registered_mark"] is None


def test_a_registered_small_clip_resized_is_found_by_its_own_mark_at_the_sweeps_scale(tmp_path):
    """Resized from 176x144 to 96x80, carphone's cells (2 px, the floor) no longer follow the
    frame-size rule: the targeted test at that rule finds nothing (10^0 before the sweep was added),
    the sweep's lattices find the mark (measured 10^-9.5 for this key), where the blind search gave
    10^-2.9."""
    from kinoseal.mediaio.colour import i420_to_rgb

    _, fps, marked, _, verifier = _registered_carphone(tmp_path, 9, "small.mp4")
    resized, fps2 = apply_attack("resize_0.55", marked, fps)
    rep = verifier.verify(write_clip(tmp_path / "resized.mp4", [i420_to_rgb(*f) for f in resized],
                                     fps=int(round(fps2)), crf=18))
    assert not rep.watermark.detected
    assert rep.provenance["registered_mark"]["log10_p_value"] < -7.0, rep.provenance
    assert rep.verdict is Verdict.AI_GENERATED, rep.summary
