"""RFC 3161 time stamps from a real TSA on loopback (OpenSSL ``ts -reply`` behind http.server):
a signature with a time stamp outlives its certificate, one without does not."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import time

import pytest

from kinoseal.label import sign_capture
from kinoseal.credentials.identity import SigningIdentity
from kinoseal.credentials.pki import chain_pem, make_ca, make_leaf
from kinoseal.credentials.reading import read_c2pa
from kinoseal.credentials.trust import TrustStore
from kinoseal.credentials.tsa import check_tsa_url
from kinoseal.config import Settings
from kinoseal.errors import CredentialError
from tests.tsa_server import LoopbackTsa

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is needed for the TSA")
SOFTWARE = {"name": "kinoseal-test", "version": "0"}


@pytest.fixture(scope="module")
def pki():
    root = make_ca("kinoseal TSA test root")
    return root, make_ca("kinoseal TSA test intermediate", issuer=root)


@pytest.fixture(scope="module")
def tsa(pki):
    with LoopbackTsa(pki[0]) as server:
        yield server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_time_stamp_keeps_a_clip_valid_after_its_certificate_expires(pki, tsa, capture_src, tmp_path):
    root, inter = pki
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=3)
    leaf = make_leaf("kinoseal short-lived signer", inter, not_after=expires)
    identity = SigningIdentity(chain_pem=chain_pem(leaf, inter), key_pem=leaf.key_pem)
    trust = TrustStore(root.cert_pem.decode())
    stamped, plain = tmp_path / "stamped.mp4", tmp_path / "plain.mp4"
    before = tsa.requests
    sign_capture(capture_src, stamped, identity, software=SOFTWARE, trust=trust, tsa_url=tsa.url)
    sign_capture(capture_src, plain, identity, software=SOFTWARE, trust=trust)
    assert tsa.requests == before + 1
    for p in (stamped, plain):  # both valid while the certificate is
        assert read_c2pa(p, trust).validation_state == "Trusted"

    time.sleep(max(0.0, (expires - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 1.0)
    assert dt.datetime.now(dt.timezone.utc) > leaf.cert.not_valid_after_utc

    ev = read_c2pa(stamped, trust)
    assert ev.validation_state == "Trusted" and ev.failure_codes == []
    signed_at = dt.datetime.fromisoformat(ev.signer["time"])  # the TSA's time, inside the validity
    assert leaf.cert.not_valid_before_utc <= signed_at <= leaf.cert.not_valid_after_utc

    ev = read_c2pa(plain, trust)
    assert ev.validation_state == "Invalid"
    assert "signingCredential.expired" in ev.failure_codes
    assert ev.signer["time"] is None


def test_label_and_cli_sign_capture_take_a_tsa_url(run_cli, settings, pki, tsa, capture_src, tmp_path):
    import numpy as np

    from kinoseal.credentials.home import trust_store
    from kinoseal.label import GeneratorInfo, Labeler

    before = tsa.requests
    labeler = Labeler.from_settings(settings.with_(tsa_url=tsa.url))  # makes the dev PKI if needed
    trust = trust_store(settings) + TrustStore(pki[0].cert_pem.decode())
    frames = [np.full((32, 32, 3), 40 * i, np.uint8) for i in range(4)]
    labeler.label_frames(frames, tmp_path / "l.mp4", fps=4, generator=GeneratorInfo("m"))
    # the environment setting is the CLI's default; --tsa-url '' turns it off for one call
    env = {"KINOSEAL_TSA_URL": tsa.url}
    run_cli("sign-capture", capture_src, "-o", tmp_path / "c.mp4", check=True, env=env)
    run_cli("sign-capture", capture_src, "-o", tmp_path / "n.mp4", "--tsa-url", "", check=True, env=env)
    assert tsa.requests == before + 2
    labeled, capture, plain = (read_c2pa(tmp_path / n, trust) for n in ("l.mp4", "c.mp4", "n.mp4"))
    for ev in (labeled, capture, plain):
        assert ev.validation_state == "Trusted" and ev.failure_codes == [], (ev.failure_codes, ev.signer)
    assert labeled.signer["time"] and capture.signer["time"] and plain.signer["time"] is None


def test_unreachable_tsa_is_one_clear_error_and_no_output(run_cli, capture_src, tmp_path):
    out = tmp_path / "x.mp4"
    url = f"http://127.0.0.1:{_free_port()}/tsa"
    proc = run_cli("sign-capture", capture_src, "-o", out, "--tsa-url", url)
    assert proc.returncode == 3, proc.stderr
    assert f"the time-stamp authority {url} did not answer" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".x.mp4*"))


@pytest.mark.parametrize("url", ["ftp://tsa.example/", "tsa.example", "http://user:pw@tsa.example/"])
def test_bad_tsa_urls_are_refused(url):
    with pytest.raises(CredentialError, match="time-stamp authority URL"):
        check_tsa_url(url)


def test_tsa_url_setting_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("KINOSEAL_TSA_URL", "http://127.0.0.1:1/tsa")
    assert Settings.from_env().tsa_url == "http://127.0.0.1:1/tsa"
    assert check_tsa_url("") is None
