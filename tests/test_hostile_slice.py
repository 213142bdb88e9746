"""A CI slice of the hostile-input campaign (bench/hostile/campaign.py, >= 10,000 inputs).

The same mutation operators and the same in-process runner as the campaign, on a few dozen
inputs: mutations of a signed capture (and of a c2pa-rs conformance file when ../shared is
present) and generated headers. Every input must give a report or a clear KinosealError, and
a mutated signed file may still read `authentic` only when every byte it changed lies in a
region that the C2PA hard binding (c2pa.hash.bmff) excludes and its decoded frames are the
same (bench/hostile/exclusions.py).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from bench.hostile.campaign import CONFORMANCE
from bench.hostile.exclusions import excluded_ranges, explain, hard_binding
from bench.hostile.mutate import mutate
from bench.hostile.worker import verifiers, verify_one

MUTATIONS = 120


@pytest.fixture(scope="module")
def lib(settings, signed_capture):
    return verifiers(settings.home)


def _check(lib, path: Path, tier: str = "parse") -> dict:
    out = verify_one(lib[tier], path)
    assert out["outcome"] in ("report", "clear_error"), (path.name, out)
    return out


def test_mutations_of_a_signed_capture(lib, signed_capture, tmp_path):
    base = signed_capture.read_bytes()
    assert _check(lib, signed_capture)["verdict"] == "authentic"
    outcomes = set()
    for k in range(MUTATIONS):
        m = mutate(base, seed=k, other=base[::-1])
        p = tmp_path / f"m{k}.mp4"
        p.write_bytes(m.data)
        out = _check(lib, p, "full" if k < 2 else "parse")
        outcomes.add(out.get("verdict") or out.get("kind"))
        if out.get("verdict") == "authentic":
            why = explain(signed_capture, p, m.changed)
            assert why["explained"], (m.ops, why)
    # the slice reaches more than one path: tampered reports and refused inputs
    assert "tampered" in outcomes and len(outcomes) >= 2, outcomes


def test_unbound_bytes_stay_authentic_bound_bytes_do_not(lib, signed_capture, tmp_path):
    data = signed_capture.read_bytes()
    label, exclusions = hard_binding(signed_capture)
    ranges = excluded_ranges(data, exclusions)
    ftyp = next(r for r in ranges if r[2] == "/ftyp")
    assert label.startswith("c2pa.hash.bmff") and ftyp[0] == 0
    # a compatible brand (ftyp offset 20): outside the binding, same frames -> still authentic
    brand = bytearray(data)
    brand[20] ^= 0xA5
    (tmp_path / "brand.mp4").write_bytes(brand)
    assert _check(lib, tmp_path / "brand.mp4")["verdict"] == "authentic"
    why = explain(signed_capture, tmp_path / "brand.mp4")
    assert why["explained"] and why["changed"][0]["excluded_by"] == "/ftyp", why
    # one byte of the sample data (mdat is bound): tampered
    pos = 0
    while pos < len(data):
        size, typ = struct.unpack(">I4s", data[pos:pos + 8])
        if typ == b"mdat":
            break
        pos += size
    pixels = bytearray(data)
    pixels[pos + size // 2] ^= 0x01
    (tmp_path / "pixels.mp4").write_bytes(pixels)
    assert _check(lib, tmp_path / "pixels.mp4")["verdict"] == "tampered"
    assert not explain(signed_capture, tmp_path / "pixels.mp4")["all_in_excluded_ranges"]


def test_generated_headers(lib, tmp_path):
    heads = [struct.pack(">I4s4sI", 20, b"ftyp", b"isom", 512) + b"isom", struct.pack(">I4s", 0x7FFFFFFF, b"moov"),
             bytes.fromhex("1A45DFA3"), b"RIFF" + struct.pack("<I", 100000) + b"AVI LIST"]
    for i, head in enumerate(heads):
        p = tmp_path / f"h{i}.mp4"
        p.write_bytes(head + bytes(range(256)) * 4)
        _check(lib, p)


def test_mutations_of_a_conformance_file(lib, tmp_path):
    src = CONFORMANCE / "video" / "c2pars_bench_100kb-signed.mp4"
    if not src.exists():
        pytest.skip(f"{src} is absent (../shared/data/c2pa_conformance is not checked out here)")
    base = src.read_bytes()
    for k in range(12):
        p = tmp_path / f"c{k}.mp4"
        p.write_bytes(mutate(base, seed=1000 + k).data)
        _check(lib, p)


def test_campaign_finding_audio_stream_without_codec(lib, tmp_path):
    """Campaign input mut:c2pa_video_unsigned_c2pars_video1_no_manifest:301 (two bytes flipped in
    the audio sample description): PyAV gives the audio stream no codec context, and the probe
    raised AttributeError (a 500 through the API) before mediaio/probe.py checked for it."""
    from bench.hostile.campaign import materialize

    name = "c2pa_video_unsigned_c2pars_video1_no_manifest"
    src = CONFORMANCE / "video_unsigned" / "c2pars_video1_no_manifest.mp4"
    if not src.exists():
        pytest.skip(f"{src} is absent (../shared/data/c2pa_conformance is not checked out here)")
    path, meta = materialize(f"mut:{name}:301", {name: src}, tmp_path, tmp_path)
    assert meta["ops"] == ["flip:stsd@1963+2"]
    assert _check(lib, path)["outcome"] == "report"
