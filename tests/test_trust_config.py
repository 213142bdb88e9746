"""Trust configuration like the C2PA SDKs: anchors, an allowed list of end-entity
certificates, EKU configurations, CAWG identity anchors kept apart - per call (CLI),
from the environment and per service tenant. Real c2pa-python reads of a clip signed
with this installation's development PKI; the EBU/Microsoft/c2pa-rs configurations
are exercised on their own files in test_c2pa_conformance.py."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from kinoseal.credentials.home import trust_store
from kinoseal.credentials.pki import make_ca
from kinoseal.credentials.reading import read_c2pa
from kinoseal.credentials.trust import TrustConfig
from kinoseal.config import Settings
from kinoseal.errors import CredentialError
from kinoseal.verify.report import ClassifierEvidence, Verdict, WatermarkEvidence
from kinoseal.verify.rules import decide

NO_WM = WatermarkEvidence(detected=False, p_value=0.5, frames_analyzed=10)
NO_CLS = ClassifierEvidence(available=False)


@pytest.fixture(scope="module")
def pki(settings, signed_capture):
    keys = settings.keys_dir
    leaf = x509.load_pem_x509_certificates((keys / "capture.chain.pem").read_bytes())[0]
    return {"root": keys / "root-ca.pem", "leaf_pem": leaf.public_bytes(Encoding.PEM).decode(),
            "leaf_hash": base64.b64encode(hashlib.sha256(leaf.public_bytes(Encoding.DER)).digest()).decode()}


def verdict(clip, cfg: TrustConfig):
    ev = read_c2pa(clip, cfg)
    return ev, decide(ev, NO_WM, NO_CLS)


def test_anchor_makes_the_capture_authentic(signed_capture, pki):
    ev, d = verdict(signed_capture, TrustConfig.from_paths([pki["root"]]))
    assert ev.validation_state == "Trusted" and d.verdict is Verdict.AUTHENTIC


def test_nothing_trusted_is_a_valid_signature_from_an_unknown_signer(signed_capture):
    ev, d = verdict(signed_capture, TrustConfig())
    assert ev.validation_state == "Valid" and d.verdict is Verdict.UNTRUSTED_SIGNATURE


def test_cawg_anchors_never_trust_a_claim_signer(signed_capture, pki):
    cfg = TrustConfig.from_paths(cawg_anchors=[pki["root"]])
    ev, d = verdict(signed_capture, cfg)
    assert "signingCredential.untrusted" in ev.failure_codes and d.verdict is Verdict.UNTRUSTED_SIGNATURE


@pytest.mark.parametrize("form", ["leaf_pem", "leaf_hash"])
def test_allowed_list_trusts_that_one_certificate(signed_capture, pki, tmp_path, form):
    f = tmp_path / "allowed.pem"
    f.write_text(pki[form] + "\n")
    ev, d = verdict(signed_capture, TrustConfig.from_paths(allowed=[f]))
    assert ev.validation_state == "Trusted" and d.verdict is Verdict.AUTHENTIC


def test_wrong_files_fail_with_their_name(tmp_path):
    junk = tmp_path / "junk.txt"
    junk.write_text("not a certificate\n")
    for kw in ({"anchors": [junk]}, {"allowed": [junk]}, {"trust_config": [junk]}, {"cawg_anchors": [junk]}):
        with pytest.raises(CredentialError, match="junk.txt"):
            TrustConfig.from_paths(**kw)
    with pytest.raises(CredentialError, match="does not exist"):
        TrustConfig.from_paths(allowed=[tmp_path / "missing.pem"])


def test_eku_file_keeps_only_oids(tmp_path):
    cfg = tmp_path / "store.cfg"
    cfg.write_text("//id-kp-documentSigning\n1.3.6.1.5.5.7.3.36\n\n// c2pa\n1.3.6.1.4.1.62558.2.1")
    assert TrustConfig.from_paths(trust_config=[cfg]).trust_config == "1.3.6.1.5.5.7.3.36\n1.3.6.1.4.1.62558.2.1\n"


def test_text_round_trip_keeps_plain_pem_plain(pki):
    anchors_only = TrustConfig.from_paths([pki["root"]])
    assert anchors_only.to_text() == anchors_only.anchors  # older readers of the tenant column still work
    full = anchors_only + TrustConfig(allowed_list=pki["leaf_pem"], trust_config="1.3.6.1.5.5.7.3.36\n",
                                      cawg_anchors=anchors_only.anchors)
    assert json.loads(full.to_text())["trust_config"] and TrustConfig.from_text(full.to_text()) == full
    assert TrustConfig.from_settings_dict(full.snapshot_dict()) == full


def test_environment_feeds_every_part(monkeypatch, tmp_path, pki):
    allowed = tmp_path / "allowed.pem"
    allowed.write_text(pki["leaf_pem"])
    eku = tmp_path / "store.cfg"
    eku.write_text("1.3.6.1.5.5.7.3.36\n")
    monkeypatch.setenv("KINOSEAL_TRUST_ALLOWED", str(allowed))
    monkeypatch.setenv("KINOSEAL_TRUST_CONFIG", str(eku))
    monkeypatch.setenv("KINOSEAL_CAWG_TRUST", str(pki["root"]))
    s = Settings.from_env(home=tmp_path / "home")
    assert trust_store(s).summary() == {"anchors": 0, "allowed": 1, "ekus": 1, "cawg_anchors": 1, "tsa_anchors": 0}


def test_cli_trust_options(run_cli, signed_capture, pki, tmp_path):
    allowed = tmp_path / "allowed.pem"
    allowed.write_text(pki["leaf_pem"])
    env = {"KINOSEAL_HOME": str(tmp_path / "fresh-home"), "KINOSEAL_CLASSIFIER": "none"}
    plain = run_cli("verify", "--json", signed_capture, env=env, check=True)
    assert json.loads(plain.stdout)["verdict"] == "untrusted_signature"
    trusted = run_cli("verify", "--json", "--allowed", allowed, signed_capture, env=env, check=True)
    assert json.loads(trusted.stdout)["verdict"] == "authentic"
    bad = run_cli("verify", "--trust-config", allowed, signed_capture, env=env)
    assert bad.returncode != 0 and "EKU configuration" in bad.stderr + bad.stdout


@pytest.mark.parametrize("isolate", [False, True], ids=["in-process", "isolated"])
def test_service_tenant_with_a_whole_trust_config(tmp_path, signed_capture, pki, isolate):
    # A tenant's trust reaches a sandboxed worker whole, and "replace" drops the installation's
    # roots there too (isolated verification refused such tenants until 2026-12-06).
    from kinoseal.api.http.config import ServiceSettings
    from kinoseal.api.http.services import Service

    installation = tmp_path / "installation-allows.pem"
    installation.write_text(pki["leaf_pem"])
    other_root = make_ca("a root that signed nothing here").cert_pem.decode()
    core = Settings(home=tmp_path / "svc", classifier_model="none", trust_allowed=(installation,))
    svc = Service(ServiceSettings(core=core, isolate=isolate, database_url=f"sqlite:///{tmp_path / 'svc.sqlite3'}"))
    try:
        svc.store.set_tenant_trust("newsroom", TrustConfig(allowed_list=pki["leaf_pem"]).to_text(), "replace")
        svc.store.set_tenant_trust("strict", TrustConfig(anchors=other_root).to_text(), "replace")
        svc.store.set_tenant_trust("adds", TrustConfig(anchors=other_root).to_text(), "add")
        svc.store.ensure_tenant("other")
        assert svc.verify_path(signed_capture, "newsroom")["verdict"] == "authentic"
        assert svc.verify_path(signed_capture, "strict")["verdict"] == "untrusted_signature"
        assert svc.verify_path(signed_capture, "adds")["verdict"] == "authentic"
        assert svc.verify_path(signed_capture, "other")["verdict"] == "authentic"
    finally:
        svc.close()
