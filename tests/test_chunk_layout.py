"""Chunk offsets that a bmff.v2 (or legacy v1) hash leaves unbound: a changed offset shows
other signed bytes, and c2pa-rs reports nothing. kinoseal checks them against the bound
sample tables (``credentials.chunk_layout``) and calls such a file ``tampered``."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from kinoseal.credentials.chunk_layout import CHUNK_OFFSETS_MISMATCH, layout_problem, offsets_unbound
from kinoseal.credentials.reading import read_c2pa
from kinoseal.credentials.status_codes import Category, category
from kinoseal.credentials.trust import TrustConfig
from kinoseal.mediaio.bmff import walk

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "c2pa_conformance"
T = DATA / "trust"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} is absent: the conformance files live in ../shared")

V2_FILES = ["video/ms_cards_trusted.mp4", "video/c2pars_video1.mp4", "video/ebu_premiere_firefly.mp4",
            "video/ebu_PTS_INVALID_INGREDIENT.mp4", "video/c2pars_legacy.mp4"]


def stco_entries(data: bytes) -> list[int]:
    """File offsets of every 32-bit chunk-offset entry (all tracks)."""
    out = []
    for b, _ in walk(data):
        if b.type == b"stco":
            n = struct.unpack(">I", data[b.payload_start + 4:b.payload_start + 8])[0]
            out += [b.payload_start + 8 + 4 * i for i in range(n)]
    return out


def with_offset(data: bytes, at: int, delta: int) -> bytes:
    value = struct.unpack(">I", data[at:at + 4])[0] + delta
    return data[:at] + struct.pack(">I", value & 0xFFFFFFFF) + data[at + 4:]


def test_kinoseal_code_is_an_integrity_failure():
    assert category(CHUNK_OFFSETS_MISMATCH) is Category.INTEGRITY


@pytest.mark.parametrize("name", V2_FILES + ["video/ebu_PTS_TRUSTED_sony_official_cawg_wdr.mp4"])
def test_untouched_signed_files_are_consistent(name):
    assert layout_problem(DATA / name) is None
    assert CHUNK_OFFSETS_MISMATCH not in read_c2pa(DATA / name, TrustConfig()).failure_codes


def test_which_bindings_leave_offsets_unbound():
    v2 = {"label": "c2pa.hash.bmff.v2", "data": {"exclusions": [{"xpath": "/moov/trak/mdia/minf/stbl/stco"}]}}
    v3 = {"label": "c2pa.hash.bmff.v3", "data": {"exclusions": [{"xpath": "/uuid"}, {"xpath": "/ftyp"}]}}
    assert offsets_unbound({"assertions": [v2]})
    assert not offsets_unbound({"assertions": [v3]})
    assert offsets_unbound({"assertions": []})  # a legacy v1 hash is not reported by c2pa-python


@pytest.mark.parametrize("name", V2_FILES)
def test_every_shifted_offset_is_caught(name, tmp_path):
    """Any single entry moved by a sample-sized step lands outside mdat or on a neighbour:
    the chunks of these files tile mdat."""
    data = (DATA / name).read_bytes()
    entries = stco_entries(data)
    assert entries
    rng = np.random.default_rng(0)
    picks = sorted(set(rng.choice(len(entries), size=min(6, len(entries)), replace=False).tolist()) | {0, len(entries) - 1})
    for i in picks:
        for delta in (-1, 1, 4096, -4096):
            out = tmp_path / "moved.mp4"
            out.write_bytes(with_offset(data, entries[i], delta))
            assert layout_problem(out) is not None, (name, i, delta)


def test_swapped_offsets_are_caught(tmp_path):
    data = (DATA / "video/c2pars_video1.mp4").read_bytes()
    a, b = stco_entries(data)[1:3]
    moved = bytearray(data)
    moved[a:a + 4], moved[b:b + 4] = data[b:b + 4], data[a:a + 4]
    out = tmp_path / "swapped.mp4"
    out.write_bytes(bytes(moved))
    assert "overlaps" in layout_problem(out) or "outside" in layout_problem(out)


def test_trusted_v2_file_with_a_moved_chunk_is_tampered(tmp_path, settings):
    """Microsoft's file under its own trust configuration reads as a trusted signature; with one
    chunk offset moved, c2pa-rs still says Trusted and the frames differ. kinoseal: tampered."""
    import c2pa

    from kinoseal.verify.verifier import Verifier

    src = DATA / "video/ms_cards_trusted.mp4"
    moved = tmp_path / "ms_moved.mp4"
    data = src.read_bytes()
    moved.write_bytes(with_offset(data, stco_entries(data)[3], 4096))
    ms = TrustConfig.from_paths([T / "ms_test_trusted_root_CA.crt"]) + TrustConfig(trust_config="1.3.6.1.5.5.7.3.36\n")
    with open(moved, "rb") as fh, c2pa.Reader(fh, context=ms.context()) as r:
        assert str(r.get_validation_state()).endswith("Trusted")  # the reference reader sees nothing
    ev = read_c2pa(moved, ms)
    assert CHUNK_OFFSETS_MISMATCH in ev.failure_codes and ev.validation_state == "Invalid"

    s = settings.with_(extra_trust=(T / "ms_test_trusted_root_CA.crt",), classifier_model="none")
    cfg = tmp_path / "ms_store.cfg"
    cfg.write_text("1.3.6.1.5.5.7.3.36\n")
    v = Verifier.from_settings(s.with_(trust_ekus=(cfg,)), load_classifier=False)
    assert v.verify(src).verdict.value == "unknown"  # trusted, claims neither capture nor AI
    r = v.verify(moved)
    assert r.verdict.value == "tampered", r.summary
    assert any("chunk offsets" in line for line in r.evidence)


def fragmented_clip(path: Path, base_is_moof: bool) -> Path:
    import av

    flags = "frag_keyframe+empty_moov" + ("+default_base_moof" if base_is_moof else "")
    rng = np.random.default_rng(1)
    with av.open(str(path), "w", options={"movflags": flags}) as c:
        s = c.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt, s.options = 128, 96, "yuv420p", {"g": "12"}
        for _ in range(36):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (96, 128, 3), np.uint8), format="rgb24")
            for pkt in s.encode(frame):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


@pytest.mark.parametrize("base_is_moof", [True, False])
def test_fragmented_runs_are_checked(tmp_path, base_is_moof):
    """moof/traf/trun data offsets (excluded by the same v2 list): a moved run is caught."""
    from kinoseal.mediaio.bmff import boxes

    src = fragmented_clip(tmp_path / "frag.mp4", base_is_moof)
    assert layout_problem(src) is None
    data = src.read_bytes()
    moofs = [b for b in boxes(data) if b.type == b"moof"]
    assert len(moofs) >= 3
    for moof in (moofs[0], moofs[-1]):
        traf = next(b for b in boxes(data, moof.payload_start, moof.end) if b.type == b"traf")
        trun = next(b for b in boxes(data, traf.payload_start, traf.end) if b.type == b"trun")
        assert int.from_bytes(data[trun.payload_start + 1:trun.payload_start + 4], "big") & 1  # data offset present
        at = trun.payload_start + 8
        for delta in (1, -8, 4096):
            value = struct.unpack(">i", data[at:at + 4])[0] + delta
            out = tmp_path / "moved.mp4"
            out.write_bytes(data[:at] + struct.pack(">i", value) + data[at + 4:])
            assert layout_problem(out) is not None, (moof.start, delta)


def test_hostile_tables_do_not_blow_up(tmp_path):
    """A constant-size stsz claiming 4 billion samples (no table behind it) is 'cannot be checked'
    for that track, at once, without allocating for them: the inner check (no safety net around
    it) neither raises nor reports the untouched layout."""
    import time

    from kinoseal.credentials.chunk_layout import _layout_problem
    from kinoseal.mediaio.bmff import walk

    data = bytearray((DATA / "video/c2pars_video1.mp4").read_bytes())
    stsz = next(b for b, _ in walk(bytes(data)) if b.type == b"stsz")
    at = stsz.payload_start + 4
    data[at:at + 8] = struct.pack(">II", 1000, 0xFFFFFFF0)
    out = tmp_path / "huge_count.mp4"
    out.write_bytes(bytes(data))
    started = time.monotonic()
    assert _layout_problem(out) is None
    assert time.monotonic() - started < 2


def test_messages_name_the_track_by_its_header_id(tmp_path):
    """moov tracks are named by tkhd's track_ID, the number fragment runs carry too (not by the
    trak's position): the second trak's header is changed to say 7, and its first chunk moved."""
    data = bytearray((DATA / "video/c2pars_video1.mp4").read_bytes())
    tkhd = next(b for b, _ in walk(bytes(data)) if b.type == b"tkhd")
    at = tkhd.payload_start + 4 + (16 if data[tkhd.payload_start] == 1 else 8)
    data[at:at + 4] = struct.pack(">I", 7)
    out = tmp_path / "moved.mp4"
    out.write_bytes(with_offset(bytes(data), stco_entries(bytes(data))[0], 4096))
    msg = layout_problem(out)
    assert "track 7" in msg and "track 1" in msg, msg  # the moved chunk (track 7) lands on track 1's
