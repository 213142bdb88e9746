"""The registry's views (``fingerprint.views``, ``verify.content``): a cropped, turned or warped copy of a
registered clip is matched to it where its hashes are not, other footage is not, and the verifier
vouches for a mark the payload names through them."""

from __future__ import annotations

import dataclasses
import sqlite3

import numpy as np
import pytest
from PIL import Image

from kinoseal.config import Settings
from kinoseal.credentials.provenance import SqliteRegistry
from kinoseal.evaluation.watermark.attacks import apply_attack
from kinoseal.evaluation.watermark.clips import decode_i420
from kinoseal.fingerprint import FingerprintBuilder, match
from kinoseal.fingerprint.views import MATCH_NCC, MAX_VIEWS, VIEW_SHORT, Views, ViewsBuilder, cut_offsets, encode
from kinoseal.mediaio.colour import i420_to_rgb
from kinoseal.verify.content import view_match
from kinoseal.verify.report import Verdict
from testkit.clips import BIKES, CARPHONE, write_clip


@pytest.fixture(scope="module")
def carphone():
    return decode_i420(CARPHONE, 50)


@pytest.fixture(scope="module")
def bikes():
    return decode_i420(BIKES, 50)


def register(frames, fps):
    views = ViewsBuilder()
    b = FingerprintBuilder(views=views)
    for i, p in enumerate(frames):
        b.add(*p, i / fps)
    return b.build(), views.build()


def sample(frames, fps):
    b = FingerprintBuilder(keep_mirrored=True, keep_pictures=True)
    for i, p in enumerate(frames):
        b.add(*p, i / fps)
    return b.build(), b.pictures


def test_views_round_trip_and_bad_forms_are_refused(carphone):
    _, views = register(*carphone)
    back = Views.from_bytes(views.to_bytes())
    assert back.times == pytest.approx(views.times, abs=1e-3) and np.array_equal(back.pictures, views.pictures)
    assert views.pictures.dtype == np.uint8 and min(views.pictures.shape[1:]) == VIEW_SHORT
    data = views.to_bytes()
    for bad in (b"", b"KSVW", data[:-1], data + b"\0", b"XXXX" + data[4:], None):
        with pytest.raises(ValueError):
            Views.from_bytes(bad)


def test_a_long_clip_keeps_at_most_sixteen_views_spread_over_all_of_it():
    b = ViewsBuilder()
    pic = np.random.default_rng(0).normal(100, 30, (72, 128)).astype(np.float32)
    for i in range(25 * 60):  # one minute at 25 fps
        b.add(pic, i / 25)
    v = b.build()
    assert len(v) <= MAX_VIEWS and v.times[0] == 0.0 and v.times[-1] > 50.0
    assert np.ptp(np.diff(v.times)) <= 0.2  # evenly spaced, to a frame or so
    assert encode(np.array([-200.0, 0.0, 383.0])).tolist() == [0, 64, 255]


@pytest.mark.parametrize("attack", ["crop_0.71", "rotate_10", "perspective_0.3"])
def test_an_edited_copy_matches_its_views_where_its_hashes_do_not_and_other_footage_does_not(attack, carphone, bikes):
    for own, other in ((bikes, carphone), (carphone, bikes)):
        hashes, views = register(*own)
        out, fps = apply_attack(attack, *own)
        out, fps = apply_attack("h264_crf23", out, fps)
        q_hashes, pictures = sample(out, fps)
        m = view_match(views.to_bytes(), pictures)
        assert m.matched and m.score > MATCH_NCC + 0.1, (attack, m)
        if attack == "rotate_10":
            assert m.angle_deg in (-9.0, -12.0), m  # the attack turns the picture 10 degrees anticlockwise
        if attack == "crop_0.71":
            assert abs(m.scale - 0.71) < 0.05, m
            assert not match(hashes, q_hashes).matched  # what the views are for
        # the views of another clip are not found in this one
        _, other_views = register(*other)
        assert not view_match(other_views.to_bytes(), pictures).matched


def test_a_cropped_excerpt_is_compared_where_it_was_cut_from():
    """The middle 2 s of 4 s of bikes (a moving camera), cropped to 0.71: its hashes cannot place it in
    time, and at its own times its pictures do not show the views. Screened over the places it may have
    been cut from (``cut_offsets``), it matches at the right one, 1 s in; the carphone clip's views (other
    footage) do not match it anywhere; with the offset given, nothing else is tried."""
    frames, fps = decode_i420(BIKES, 100)
    other, other_fps = decode_i420(CARPHONE, 120)
    _, views = register(frames, fps)
    _, other_views = register(other, other_fps)
    out, fps2 = apply_attack("crop_0.71", frames, fps)
    out, fps2 = apply_attack("h264_crf23", out[25:75], fps2)
    _, pictures = sample(out, fps2)
    assert cut_offsets(views.times, [t for t, _ in pictures]) == [0.5, 1.0, 1.5]
    assert not view_match(views.to_bytes(), pictures, offset_s=0.0).matched
    m = view_match(views.to_bytes(), pictures)
    assert m.matched and m.offset_s == 1.0 and m.score > MATCH_NCC + 0.05, m
    assert not view_match(other_views.to_bytes(), pictures).matched
    # the whole clip, as long as its views, is not searched for a cut
    _, whole = sample(apply_attack("h264_crf23", frames, fps)[0], fps)
    assert cut_offsets(views.times, [t for t, _ in whole]) == []


def test_a_reframed_shot_in_longer_footage_is_compared_from_where_its_mark_starts():
    """2 s of bikes cropped to 0.71, spliced 2 s into 5 s of carphone: at the cut's own times the views
    meet carphone and do not match; from where the mark's segment starts (``starts_at``), they match. A
    query no longer than the registered clip is compared at its own times whatever ``starts_at`` says."""
    frames, fps = decode_i420(BIKES, 50)
    other, _ = decode_i420(CARPHONE, 125)
    _, views = register(frames, fps)
    shot, _ = apply_attack("crop_0.71", frames, fps)
    sizes = [(q.shape[1], q.shape[0]) for q in shot[0]]  # Y, U, V of the shot: the cut's frame size
    host = [tuple(np.asarray(Image.fromarray(p).resize(wh, Image.BILINEAR)) for p, wh in zip(f, sizes)) for f in other]
    cut, fps2 = apply_attack("h264_crf23", host[:50] + list(shot) + host[100:125], fps)
    _, pictures = sample(cut, fps2)
    assert not view_match(views.to_bytes(), pictures).matched
    m = view_match(views.to_bytes(), pictures, starts_at=2.0)
    assert m.matched and m.offset_s == -2.0, m
    _, alone = sample(apply_attack("h264_crf23", list(shot), fps)[0], fps)
    assert view_match(views.to_bytes(), alone, starts_at=1.0).offset_s == 0.0  # not moved: as long as the views


def test_the_places_an_excerpt_may_come_from_are_bounded():
    """A minute-long registered clip (16 views, 4 s apart) against a 10 s query: at most 24 places, evenly
    spaced, the last where the query's end meets the clip's; a query as long or longer: none."""
    ref = [4.0 * i for i in range(16)]
    q = [10.0 * i / 72 for i in range(73)]
    offs = cut_offsets(ref, q)
    assert len(offs) == 24 and offs[-1] == pytest.approx(60.0 - 10.0) and np.ptp(np.diff(offs)) < 1e-9
    assert cut_offsets(ref, [70.0 * i / 72 for i in range(73)]) == [] and cut_offsets(ref, q[:1]) == []


def test_too_few_pictures_at_the_views_times_do_not_match(carphone):
    _, views = register(*carphone)
    _, pictures = sample(*carphone)
    m = view_match(views.to_bytes(), pictures[:5])  # a fifth of a second: one view
    assert not m.matched and m.pairs < 3
    assert view_match(b"not views", pictures) is None


def test_registry_keeps_views_in_a_column_of_their_own_and_upgrades_an_old_file(tmp_path, carphone):
    path = tmp_path / "provenance.sqlite3"
    with sqlite3.connect(path) as db:  # the schema before views
        db.execute("CREATE TABLE provenance (payload_id TEXT PRIMARY KEY, key_id TEXT NOT NULL, method TEXT NOT NULL, "
                   "manifest_label TEXT, file_sha256 TEXT, title TEXT, created_at TEXT NOT NULL, manifest_json TEXT NOT NULL, "
                   "manifest_c2pa BLOB, fingerprint BLOB)")
        db.execute("INSERT INTO provenance VALUES ('00000000000000aa','k','m','urn:a',NULL,'old',"
                   "'2026-01-01T00:00:00+00:00','{}',x'00',NULL)")
    reg = SqliteRegistry(path)
    assert reg.lookup("00000000000000aa").views is None
    assert reg.lookup_label("urn:a")[1] == b"\x00"  # the C2PA bytes still come from their own column
    hashes, views = register(*carphone)
    reg.record(payload_id="00000000000000bb", key_id="k", method="m", manifest={}, manifest_label="urn:b",
               fingerprint=hashes.to_bytes(), views=views.to_bytes(), manifest_c2pa=b"c2pa")
    rec = reg.lookup("00000000000000bb")
    assert Views.from_bytes(rec.views).times == pytest.approx(views.times, abs=1e-3)
    assert reg.lookup_label("urn:b")[1] == b"c2pa"
    (_, _, data), = reg.fingerprints()  # a search reads the hashes alone
    assert data == hashes.to_bytes()
    # the candidates for a mark without its payload: newest first, of one key and method, at most ``limit``
    assert reg.payloads_of_key("k", "m", 10) == ["00000000000000bb", "00000000000000aa"]
    assert reg.payloads_of_key("k", "m", 1) == ["00000000000000bb"] and reg.payloads_of_key("k", "other", 10) == []


def test_a_labeled_clip_registers_its_views(tmp_path, carphone):
    from kinoseal.label import GeneratorInfo, Labeler

    settings = Settings(home=tmp_path / "home", classifier_model="none")
    labeler = Labeler.from_settings(settings)
    frames, fps = carphone
    res = labeler.label_frames((i420_to_rgb(*p) for p in frames[:40]), tmp_path / "gen.mp4", fps=fps,
                               generator=GeneratorInfo("test"))
    views = Views.from_bytes(labeler.registry.lookup(res.payload_id).views)
    assert len(views) == 3 and views.times[:2] == (0.0, pytest.approx(0.5, abs=0.04))


def marked_and_registered(home, frames, fps):
    """``frames`` marked with v5 under a fixed key, payload 0xAB, registered (hashes and views) as the
    labeler does in a registry under ``home``: (marked frames, hashes, views, a verifier with that key)."""
    from kinoseal.verify.verifier import Verifier
    from kinoseal.watermark.keyring import KeyRing
    from kinoseal.watermark.keys import WatermarkKey
    from kinoseal.watermark.methods import get_method

    key = WatermarkKey(bytes([3]) * 32)
    embedder = get_method("kinoseal-wm-v5").embedder(key, 0xAB)
    marked = [(embedder.embed_luma(y), u, v) for y, u, v in frames]
    hashes, views = register(marked, fps)
    settings = Settings(home=home, classifier_model="none")
    SqliteRegistry(settings.home / "provenance.sqlite3").record(
        payload_id=f"{0xAB:016x}", key_id=key.key_id, method="kinoseal-wm-v5", manifest={}, title="bikes.mp4",
        fingerprint=hashes.to_bytes(), views=views.to_bytes())
    return marked, hashes, views, dataclasses.replace(Verifier.from_settings(settings), keyring=KeyRing(key, (key,)))


def test_a_cropped_or_turned_labeled_clip_is_vouched_for_by_its_views(tmp_path, bikes):
    """bikes marked with v5 under a fixed key (the payload survives these edits for it: measured), its
    hashes and views registered as the labeler does: cropped to 0.71 or turned 10 degrees, the hashes no
    longer match, the views do, and the mark the payload names is this content's: ai_generated."""
    frames, fps = bikes
    marked, hashes, views, verifier = marked_and_registered(tmp_path / "home", frames, fps)
    settings = verifier.settings
    key_id = verifier.keyring.keys[0].key_id
    for attack in ("crop_0.71", "rotate_10"):
        out, fps2 = apply_attack(attack, marked, fps)
        rep = verifier.verify(write_clip(tmp_path / f"{attack}.mp4", [i420_to_rgb(*f) for f in out],
                                         fps=int(round(fps2)), crf=18))
        content = rep.provenance["content_match"]
        assert rep.watermark.payload_id == f"{0xAB:016x}", attack
        assert content["views"]["matched"] and content["matched"], (attack, content)
        assert rep.verdict is Verdict.AI_GENERATED, rep.summary
        assert "by its views, not its hashes" in rep.summary and "not proof alone" in rep.summary
    # without the views (a record made before they were kept) the same crop is not vouched for
    SqliteRegistry(settings.home / "provenance.sqlite3").record(
        payload_id=f"{0xAB:016x}", key_id=key_id, method="kinoseal-wm-v5", manifest={}, title="bikes.mp4",
        fingerprint=hashes.to_bytes())
    rep = verifier.verify(tmp_path / "crop_0.71.mp4")
    assert rep.verdict is not Verdict.AI_GENERATED and "views" not in rep.provenance["content_match"]


@pytest.mark.parametrize("turn", ["hflip", "vflip", "rot90", "rot270"])
def test_the_marks_geometry_says_how_the_frames_were_turned_over(turn, bikes):
    """A mark's pilots are keyed coins, so the search matches them in one of the tile's 8 orientations
    only; with the lattice it was folded on, that says how the frames were mirrored or turned, and
    ``orient`` with that index puts them back exactly."""
    from kinoseal.watermark.keys import WatermarkKey
    from kinoseal.watermark.methods import get_method
    from kinoseal.watermark.v2 import nearest_orientation, orient

    op = {"hflip": lambda y: y[:, ::-1], "vflip": lambda y: y[::-1], "rot90": np.rot90,
          "rot270": lambda y: np.rot90(y, -1)}[turn]
    key = WatermarkKey(bytes([3]) * 32)
    method = get_method("kinoseal-wm-v5")
    embedder = method.embedder(key, 0xAB)
    marked = [embedder.embed_luma(y) for y, _, _ in bikes[0][:8]]
    ex = method.extractor([key])
    for y in marked:
        ex.update(np.ascontiguousarray(op(y)))
    assert ex.result().detected
    i = nearest_orientation(ex.frame_map())
    assert i != 0 and np.array_equal(orient(np.ascontiguousarray(op(marked[0])), i), marked[0]), (turn, i)


def test_a_mirrored_or_sideways_copy_is_vouched_for_by_its_views_put_upright(tmp_path, bikes):
    """The views' search covers turns of 12 degrees and no mirror. Turned 10 degrees and mirrored, or
    cropped and turned on its side, the marked bikes clip matches neither its hashes nor, as it is, its
    views; put upright by the orientation its mark's geometry gives, its views match and the verdict is
    ai_generated, with the mirror or the quarter turn said."""
    frames, fps = bikes
    marked, _, views, verifier = marked_and_registered(tmp_path / "home", frames, fps)
    sideways = lambda fr: [tuple(np.ascontiguousarray(np.rot90(p)) for p in f) for f in fr]  # noqa: E731
    for name, edit, words in (("rotate_10+hflip", lambda fr: apply_attack("hflip", *apply_attack("rotate_10", fr, fps))[0],
                               "mirrored back"),
                              ("crop_0.71+rot90", lambda fr: sideways(apply_attack("crop_0.71", fr, fps)[0]),
                               "turned back a quarter turn")):
        out = edit(marked)
        path = write_clip(tmp_path / f"{name}.mp4", [i420_to_rgb(*f) for f in out], fps=int(round(fps)), crf=18)
        rep = verifier.verify(path)
        v = rep.provenance["content_match"]["views"]
        assert rep.watermark.payload_id == f"{0xAB:016x}" and v["matched"], (name, v)
        assert (v["mirrored"], v["quarter_turns"]) == ((True, 0) if "hflip" in name else (False, 3)), (name, v)
        assert rep.verdict is Verdict.AI_GENERATED and words in rep.summary, rep.summary
        # as they are, the same pictures do not match: the orientation is what made the difference
        decoded, fps2 = apply_attack("h264_crf23", out, fps)
        _, pictures = sample(decoded, fps2)
        undo = 1 if "hflip" in name else 6
        assert not view_match(views.to_bytes(), pictures).matched, name
        assert view_match(views.to_bytes(), pictures, orientation=undo).matched, name


def test_a_mark_whose_payload_a_crop_erased_is_named_by_its_keys_registered_payloads(tmp_path):
    """kino-tiny-like generated clip (256x256) marked with v5 under a fixed key, cropped to 0.71: the blind
    search finds the mark but cannot decode its payload (measured for keys 3, 5, 7, 9), and the hashes do
    not match. The registered payloads of that key, each correlated with the mark, name the clip
    (10^-12.3 for one candidate, key 3), beside 200 other records of the key; its views then vouch.
    Without its record among them, nothing is named and the clip is not ai_generated."""
    from kinoseal.evaluation.watermark.clips import load_clip
    from kinoseal.verify.verifier import Verifier
    from kinoseal.watermark.keyring import KeyRing
    from kinoseal.watermark.keys import WatermarkKey
    from kinoseal.watermark.methods import get_method

    clip = load_clip("generated")
    key = WatermarkKey(bytes([3]) * 32)
    embedder = get_method("kinoseal-wm-v5").embedder(key, 0xAB)
    marked = [(embedder.embed_luma(y), u, v) for y, u, v in clip.frames]
    hashes, views = register(marked, clip.fps)
    out, fps = apply_attack("crop_0.71", marked, clip.fps)
    path = write_clip(tmp_path / "cropped.mp4", [i420_to_rgb(*f) for f in out], fps=int(round(fps)), crf=18)
    rng = np.random.default_rng(0)
    for with_clip in (True, False):
        settings = Settings(home=tmp_path / f"home-{with_clip}", classifier_model="none")
        reg = SqliteRegistry(settings.home / "provenance.sqlite3")
        if with_clip:
            reg.record(payload_id=f"{0xAB:016x}", key_id=key.key_id, method="kinoseal-wm-v5", manifest={},
                       title="generated.mp4", fingerprint=hashes.to_bytes(), views=views.to_bytes())
        for q in rng.integers(1, 2**62, 200):
            reg.record(payload_id=f"{int(q):016x}", key_id=key.key_id, method="kinoseal-wm-v5", manifest={},
                       title="other.mp4")
        verifier = dataclasses.replace(Verifier.from_settings(settings), keyring=KeyRing(key, (key,)))
        rep = verifier.verify(path)
        assert rep.watermark.detected and rep.watermark.payload_id is None  # the blind decode reads none
        if with_clip:
            listed = rep.provenance["payload_listed"]
            assert listed["candidates"] == 201 and listed["log10_p_value"] < -8.0, listed
            assert rep.provenance["payload_id"] == f"{0xAB:016x}"
            assert rep.provenance["content_match"]["views"]["matched"]
            assert rep.verdict is Verdict.AI_GENERATED, rep.summary
            assert any("registered payloads of its key" in line for line in rep.evidence)
        else:
            assert rep.provenance is None and rep.verdict is not Verdict.AI_GENERATED


def test_payload_t_prefers_the_marks_own_payload():
    from kinoseal.evaluation.watermark.clips import load_clip
    from kinoseal.watermark.keys import WatermarkKey
    from kinoseal.watermark.methods import get_method

    clip = load_clip("generated")
    key = WatermarkKey(bytes([5]) * 32)
    method = get_method("kinoseal-wm-v2")
    embedder = method.embedder(key, 0x1234)
    ex = method.extractor([key])
    assert ex.payload_t(key.key_id, [0x1234]) is None  # before result(): no geometry chosen
    for y, _, _ in clip.frames[:24]:
        ex.update(embedder.embed_luma(y))
    assert ex.result().detected
    # random 64-bit payloads, as the labeler draws them: their codewords agree on about half their bits
    others = [int(q) for q in np.random.default_rng(1).integers(1, 2**62, 50)]
    t = ex.payload_t(key.key_id, [0x1234] + others)
    assert t[0] > 8.0 and np.all(np.abs(t[1:]) < 0.4 * t[0]), t
    # a payload one bit away shares most of its codeword: the verifier then names neither (LISTED_MARGIN)
    near = ex.payload_t(key.key_id, [0x1234, 0x1235])
    assert near[1] > 0.6 * near[0], near
    assert ex.payload_t(WatermarkKey(bytes([6]) * 32).key_id, [0x1234]) is None
