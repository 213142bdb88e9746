"""Fragmented MP4 (DASH): an init segment validated together with its fragments.

The pair is c2pa-rs's own fixture (dashinit.mp4 + dash1.m4s, signed by its test
signer "Alice"), read from ../shared; c2pa-python cannot sign per-fragment output,
so kinoseal has no fragmented file of its own to test with."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from kinoseal.credentials.fragments import (
    FRAGMENTS_MISSING,
    is_init_segment,
    is_media_fragment,
    joined_media,
    read_c2pa_fragments,
)
from kinoseal.credentials.trust import TrustStore
from kinoseal.errors import InputError

VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "c2pa_conformance" / "video"
INIT, FRAG = VIDEO / "c2pars_dashinit.mp4", VIDEO / "c2pars_dash1.m4s"

pytestmark = pytest.mark.skipif(
    not (INIT.is_file() and FRAG.is_file()),
    reason=f"the c2pa-rs DASH fixtures are not in {VIDEO} (../shared/data/c2pa_conformance is absent)",
)


def _flip(src: Path, dst: Path, offset_from: str, at: float) -> Path:
    data = bytearray(src.read_bytes())
    if offset_from == "mdat":
        start = data.index(b"mdat") + 4
        i = start + int((len(data) - start) * at)
    else:  # inside moov, after the manifest
        start = data.index(b"moov") + 4
        i = start + int(200 * at)
    data[i] ^= 0x01
    dst.write_bytes(bytes(data))
    return dst


def test_init_and_fragment_validate_together():
    ev = read_c2pa_fragments(INIT, [FRAG], TrustStore())
    assert ev.present and ev.complete
    assert ev.validation_state == "Valid"  # c2pa-rs's test signer is not in our (empty) trust list
    assert ev.failure_codes == ["signingCredential.untrusted"]
    assert not ev.integrity_failures
    assert [(f.file, f.ok) for f in ev.fragments] == [(FRAG.name, True)]
    assert ev.signer["common_name"] == "Alice"
    assert ev.to_dict()["fragments"][0]["ok"] is True


def test_init_alone_is_incomplete_not_a_hash_mismatch():
    assert is_init_segment(INIT) and not is_media_fragment(INIT)
    ev = read_c2pa_fragments(INIT, [], TrustStore())
    assert ev.present and not ev.complete
    assert FRAGMENTS_MISSING in ev.failure_codes
    assert not [c for c in ev.failure_codes if c.startswith("assertion.bmffHash")]
    assert ev.validation_state == "Valid"  # never Trusted: the content was not checked


def test_flipped_fragment_byte_is_a_hash_mismatch(tmp_path):
    bad = _flip(FRAG, tmp_path / "dash1.m4s", "mdat", 0.5)
    ev = read_c2pa_fragments(INIT, [FRAG, bad], TrustStore())
    assert ev.validation_state == "Invalid"
    assert "assertion.bmffHash.mismatch" in ev.integrity_failures
    assert [f.ok for f in ev.fragments] == [True, False]
    assert "Fragment not valid" in ev.fragments[1].failures[-1]["explanation"]


def test_flipped_init_segment_byte_is_a_hash_mismatch(tmp_path):
    bad = _flip(INIT, tmp_path / "dashinit.mp4", "moov", 1.0)
    ev = read_c2pa_fragments(bad, [FRAG], TrustStore())
    assert "assertion.bmffHash.mismatch" in ev.integrity_failures
    assert "inithash mismatch" in ev.fragments[0].failures[-1]["explanation"]


def test_wrong_inputs_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="not a media fragment"):
        read_c2pa_fragments(INIT, [INIT], TrustStore())
    with pytest.raises(InputError, match="not a fragmented-MP4 init segment"):
        read_c2pa_fragments(FRAG, [FRAG], TrustStore())
    with pytest.raises(InputError, match="no such file"):
        read_c2pa_fragments(INIT, [tmp_path / "missing.m4s"], TrustStore())
    junk = tmp_path / "junk.m4s"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(InputError, match="not a media fragment"):
        read_c2pa_fragments(INIT, [junk], TrustStore())


def test_joined_media_decodes_and_is_removed():
    with joined_media(INIT, [FRAG]) as joined:  # beside nothing: ../shared is read-only
        with av.open(str(joined)) as c:
            assert c.streams.video[0].width == 1920
            frames = sum(1 for _ in c.decode(video=0))
    assert frames == 52
    assert not joined.exists()


def test_cli_fragment_needs_exactly_one_init_segment(run_cli):
    proc = run_cli("verify", INIT, INIT, "--fragment", FRAG)
    assert proc.returncode == 2
    assert "--fragment goes with exactly one CLIP" in proc.stderr and "Traceback" not in proc.stderr


NO_CLASSIFIER = {"KINOSEAL_CLASSIFIER": "none"}  # the C2PA side is what is tested; saves ~3 s per run


def test_cli_verifies_init_segment_with_fragments_and_alone(run_cli):
    # with --isolate the fragments go to the sandbox child too
    proc = run_cli("verify", "--json", INIT, "--fragment", FRAG, "--isolate", check=True, env=NO_CLASSIFIER)
    r = json.loads(proc.stdout.splitlines()[0])
    assert r["verdict"] != "tampered"
    assert r["c2pa"]["validation_state"] == "Valid" and r["c2pa"]["complete"] is True
    assert not [c for c in r["c2pa"]["failure_codes"] if c.startswith("assertion.bmffHash")]
    assert r["media"]["frame_count"] == 54 and r["media"]["width"] == 1920  # init + fragment joined (alone: 0)

    proc = run_cli("verify", "--json", INIT, env=NO_CLASSIFIER)
    r = json.loads(proc.stdout.splitlines()[0])
    assert r["verdict"] == "unknown"  # incomplete: not tampered, and nothing to trust
    assert FRAGMENTS_MISSING in r["c2pa"]["failure_codes"]
