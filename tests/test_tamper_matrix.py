"""The tamper matrix: every forged or altered case gets the documented verdict,
and none of them is ever called ``authentic``."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from kinoseal.label import sign_capture
from kinoseal.credentials.home import ensure_dev_pki, trust_store
from kinoseal.credentials.identity import SigningIdentity
from kinoseal.credentials.manifests import capture_manifest
from kinoseal.credentials.pki import chain_pem, make_ca, make_leaf
from kinoseal.credentials.signing import sign_mp4
from kinoseal.label import SOFTWARE
from testkit import mp4box
from testkit.clips import reencode, remux
from kinoseal.verify.verifier import Verifier


@pytest.fixture(scope="module")
def verifier(settings, labeled):  # labeled: makes sure keys and PKI exist
    return Verifier.from_settings(settings)


def forged_identity(cn: str) -> SigningIdentity:
    root = make_ca("kinoseal development root CA")  # same name as the real root, different key
    inter = make_ca("kinoseal development intermediate CA", issuer=root)
    leaf = make_leaf(cn, inter)
    return SigningIdentity(chain_pem=chain_pem(leaf, inter), key_pem=leaf.key_pem)


def test_lookalike_ca_copying_trusted_subject_is_not_authentic(verifier, settings, capture_src, tmp_path):
    cn = ensure_dev_pki(settings).identity("capture").subject_cn
    out = tmp_path / "lookalike.mp4"
    sign_capture(capture_src, out, forged_identity(cn), software=SOFTWARE)
    r = verifier.verify(out)
    assert r.c2pa.signer["common_name"] == cn  # same name on the certificate...
    assert r.verdict.value == "untrusted_signature"  # ...but not the trusted key


def test_capture_manifest_added_to_generated_clip_is_ai(verifier, settings, labeled, tmp_path):
    stripped = remux(labeled, tmp_path / "stripped.mp4")
    out = tmp_path / "fake_capture.mp4"
    sign_capture(stripped, out, ensure_dev_pki(settings).identity("capture"), software=SOFTWARE)
    r = verifier.verify(out)
    assert r.c2pa.validation_state == "Trusted" and r.c2pa.digital_source_type.endswith("digitalCapture")
    assert r.verdict.value == "ai_generated"
    assert "camera capture" in r.evidence[0]


def test_generated_clip_with_forged_capture_manifest_is_ai(verifier, labeled, tmp_path):
    stripped = remux(labeled, tmp_path / "stripped.mp4")
    out = tmp_path / "forged.mp4"
    sign_capture(stripped, out, forged_identity("Trusted Newsroom Camera"), software=SOFTWARE)
    r = verifier.verify(out)
    assert r.verdict.value == "ai_generated"


def test_edit_with_tampered_parent_is_tampered(verifier, settings, signed_capture, ai_source, tmp_path):
    data = signed_capture.read_bytes()
    mdat = mp4box.find(data, b"mdat")
    bad_parent = tmp_path / "bad_parent.mp4"
    bad_parent.write_bytes(mp4box.flip(data, mdat.payload_start + 100, 4))
    manifest = {
        "claim_generator_info": [SOFTWARE], "title": "child.mp4", "format": "video/mp4",
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
            {"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}},
            {"action": "c2pa.edited", "description": "trimmed"}]}}],
    }
    child = tmp_path / "child.mp4"
    sign_mp4(ai_source, child, manifest, ensure_dev_pki(settings).identity("capture"),
             trust=trust_store(settings), parent=bad_parent)
    r = verifier.verify(child)
    assert r.c2pa.validation_state == "Trusted"  # the child's own signature is fine
    assert r.c2pa.ingredient_failures  # the parent's recorded validation is not
    assert r.verdict.value == "tampered"


def test_expired_signing_certificate_is_not_authentic(verifier, settings, capture_src, tmp_path):
    root = make_ca("Short-lived Root")
    inter = make_ca("Short-lived Intermediate", issuer=root)
    now = dt.datetime.now(dt.timezone.utc)
    leaf = make_leaf("Camera with expiring cert", inter, not_before=now - dt.timedelta(days=1),
                     not_after=now + dt.timedelta(seconds=3))
    identity = SigningIdentity(chain_pem=chain_pem(leaf, inter), key_pem=leaf.key_pem)
    out = tmp_path / "expiring.mp4"
    sign_capture(capture_src, out, identity, software=SOFTWARE)
    (tmp_path / "root.pem").write_bytes(root.cert_pem)
    v = Verifier.from_settings(settings, extra_trust=[tmp_path / "root.pem"])
    assert v.verify(out).verdict.value == "authentic"  # trusted while valid
    time.sleep(4.5)
    r = v.verify(out)
    assert "signingCredential.expired" in r.c2pa.failure_codes
    assert r.verdict.value == "untrusted_signature"


def test_reencoded_signed_capture_is_unknown(verifier, signed_capture, tmp_path):
    r = verifier.verify(reencode(signed_capture, tmp_path / "re.mp4", crf=23))
    assert r.c2pa.present is False
    assert r.verdict.value == "unknown"


def test_manifest_box_removed_is_unknown(verifier, signed_capture, tmp_path):
    data = signed_capture.read_bytes()
    box = mp4box.c2pa_box(data)
    renamed = bytearray(data)
    renamed[box.start + 4 : box.start + 8] = b"free"  # rename the C2PA box: the manifest is gone
    out = tmp_path / "renamed.mp4"
    out.write_bytes(bytes(renamed))
    r = verifier.verify(out)
    assert r.c2pa.present is False and r.verdict.value == "unknown"


def test_truncated_signed_capture_is_tampered(verifier, signed_capture, tmp_path):
    data = signed_capture.read_bytes()
    out = tmp_path / "half.mp4"
    out.write_bytes(data[: len(data) // 2])
    r = verifier.verify(out)
    assert r.verdict.value == "tampered"


def test_watermark_key_rotation_keeps_old_clips_verifiable(run_cli, tmp_path, ai_source):
    """A new active watermark key marks new clips; clips marked with the old key still verify."""
    env = {"KINOSEAL_HOME": str(tmp_path / "home")}
    old = tmp_path / "old.mp4"
    run_cli("label", ai_source, "-o", old, env=env, check=True)
    proc = run_cli("keys", "rotate-watermark", env=env, check=True)
    new_key = proc.stdout.split()[-1]
    new = tmp_path / "new.mp4"
    run_cli("label", ai_source, "-o", new, env=env, check=True)
    import json as _json

    reports = [_json.loads(line) for line in run_cli("verify", "--json", old, new, env=env).stdout.splitlines()]
    assert [r["verdict"] for r in reports] == ["ai_generated", "ai_generated"]
    assert reports[0]["watermark"]["key_id"] != new_key and reports[0]["watermark"]["detected"]
    assert reports[1]["watermark"]["key_id"] == new_key
