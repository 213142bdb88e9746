"""Key bytes never leave the key files: a grep of every output channel.

One installation (its own home) is driven through the CLI (text and --json), the HTTP
API (a real `kinoseal serve` logging at debug level) and the library in-process (caplog),
including the error paths most likely to echo a key: a key file that is garbage, a
truncated copy of the real key, cert and key swapped, a key that does not match the
certificate, a corrupted watermark key file, corrupt and truncated clips.

Collected: stdout and stderr of every command, the JSON reports, every HTTP response
(headers and body, the signed clip included), the server log, caplog, exception texts,
and every file left in the output folders, the temp folder (TMPDIR) of the processes and
the home itself, apart from the key files. None may contain a signing private key (PEM
lines, DER in PKCS#8 and SEC1, the raw scalar, hex, base64) or a watermark secret (raw,
hex, base64, url-safe base64). The key files are 0600 and their folder is private.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from testkit.service import Server, create_key

Forms = dict[str, bytes]  # what a form is called -> its bytes


def _b64_forms(name: str, raw: bytes) -> Forms:
    std = base64.b64encode(raw)
    url = base64.urlsafe_b64encode(raw)
    return {f"{name} base64": std, f"{name} base64 unpadded": std.rstrip(b"="),
            f"{name} urlsafe base64": url.rstrip(b"=")}


def _raw_forms(name: str, raw: bytes) -> Forms:
    return {f"{name} raw": raw, f"{name} hex": raw.hex().encode(), f"{name} HEX": raw.hex().upper().encode(),
            **_b64_forms(name, raw)}


def _signing_key_forms(path: Path) -> Forms:
    pem = path.read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    forms: Forms = {}
    for enc_name, fmt in (("pkcs8", serialization.PrivateFormat.PKCS8),
                          ("sec1", serialization.PrivateFormat.TraditionalOpenSSL)):
        der = key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
        forms.update(_raw_forms(f"{path.name} {enc_name} DER", der))
        text = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
        body = [ln for ln in text.splitlines() if ln and not ln.startswith(b"-----")]
        for i, line in enumerate(body):
            if len(line) >= 40:  # a full 64-char line, or a long tail: never there by chance
                forms[f"{path.name} {enc_name} PEM line {i}"] = line
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    forms.update(_raw_forms(f"{path.name} private scalar", scalar))
    return forms


def _watermark_forms(path: Path) -> Forms:
    secret = base64.b64decode(json.loads(path.read_text())["secret_b64"])
    assert len(secret) == 32
    return _raw_forms(f"watermark {path.name}", secret)


def _key_files(home: Path) -> list[Path]:
    keys = home / "keys"
    return sorted([*keys.glob("*.key.pem"), *(keys / "watermark").glob("*.json")])


def secret_forms(home: Path) -> Forms:
    forms: Forms = {}
    for f in _key_files(home):
        forms.update(_signing_key_forms(f) if f.suffix == ".pem" else _watermark_forms(f))
    return forms


def _leaks(forms: Forms, channels: dict[str, bytes]) -> list[str]:
    # names only: a failing test must not print the secret it found
    return [f"{form} in {channel}" for channel, data in channels.items() for form, needle in forms.items()
            if needle in data]


def _files_under(root: Path, skip: set[Path]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p not in skip:
            out[f"file {p}"] = p.read_bytes()
    return out


@pytest.fixture(scope="module")
def leak_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("leak-home")


@pytest.fixture(scope="module")
def leak_tmp(tmp_path_factory) -> Path:
    """TMPDIR of every process started here: what they leave in temp files is checked too."""
    return tmp_path_factory.mktemp("leak-tmpdir")


@pytest.fixture(scope="module")
def cli(run_cli, leak_home, leak_tmp):
    channels: dict[str, bytes] = {}

    def run(*args: object, home: Path = leak_home, expect_ok: bool | None = None):
        proc = run_cli(*args, env={"KINOSEAL_HOME": str(home), "TMPDIR": str(leak_tmp)})
        label = " ".join(str(a) for a in args)
        channels[f"stdout of kinoseal {label}"] = proc.stdout.encode()
        channels[f"stderr of kinoseal {label}"] = proc.stderr.encode()
        if expect_ok is not None:
            assert (proc.returncode == 0) == expect_ok, (label, proc.returncode, proc.stderr)
        if proc.returncode != 0:
            assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    run.channels = channels  # type: ignore[attr-defined]
    return run


def test_no_key_bytes_in_any_output_channel(cli, leak_home, leak_tmp, ai_source, capture_src, tmp_path_factory,
                                            caplog):
    out = tmp_path_factory.mktemp("leak-out")
    channels: dict[str, bytes] = cli.channels

    # -- CLI, normal paths ---------------------------------------------------------------
    labeled, signed = out / "labeled.mp4", out / "signed.mp4"
    label_json = json.loads(cli("label", ai_source, "-o", labeled, "--json", expect_ok=True).stdout)
    cli("sign-capture", capture_src, "-o", signed, expect_ok=True)
    reports = [json.loads(ln) for ln in cli("verify", "--json", labeled, signed, capture_src,
                                            expect_ok=True).stdout.splitlines()]
    assert [r["verdict"] for r in reports] == ["ai_generated", "authentic", "unknown"]
    cli("verify", "--json", "--isolate", labeled, expect_ok=True)
    cli("verify", labeled, signed, expect_ok=True)
    cli("keys", "show", expect_ok=True)
    cli("keys", "rotate-watermark", expect_ok=True)
    cli("label", ai_source, "-o", out / "labeled2.mp4", "--json", expect_ok=True)  # with the new key
    cli("verify", "--json", labeled, expect_ok=True)  # the old key still verifies

    # -- CLI, error paths that hold key bytes in hand ----------------------------------
    keys = leak_home / "keys"
    chain, gen_key = keys / "generator.chain.pem", keys / "generator.key.pem"
    bad = tmp_path_factory.mktemp("leak-bad")
    (bad / "garbage.key.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    pem = gen_key.read_bytes()
    (bad / "truncated.key.pem").write_bytes(pem[: len(pem) * 2 // 3])  # real key lines, broken PEM
    for cert, key in ((chain, bad / "garbage.key.pem"), (chain, bad / "truncated.key.pem"),
                      (gen_key, chain),  # swapped: the key is read as a certificate chain
                      (chain, keys / "capture.key.pem")):  # a real key that is not the certificate's
        for cmd, src in (("label", ai_source), ("sign-capture", capture_src)):
            proc = cli(cmd, src, "-o", out / "never.mp4", "--cert", cert, "--key", key, expect_ok=False)
            assert proc.returncode == 3, (cmd, key.name, proc.stderr)  # a credentials error, not "bad input"
    assert not (out / "never.mp4").exists()
    garbage, truncated = bad / "garbage.mp4", bad / "truncated.mp4"
    garbage.write_bytes(os.urandom(4000))
    truncated.write_bytes(labeled.read_bytes()[: labeled.stat().st_size // 2])
    for clip in (garbage, truncated):
        cli("verify", "--json", clip)
        cli("verify", "--isolate", clip)
        cli("label", clip, "-o", out / "never.mp4", expect_ok=False)
    # a damaged watermark key file (in a copy of the home: same secrets)
    broken = tmp_path_factory.mktemp("leak-broken") / "home"
    shutil.copytree(leak_home, broken)
    wm = sorted((broken / "keys" / "watermark").glob("*.json"))[0]
    obj = json.loads(wm.read_text())
    wm.write_text(json.dumps({**obj, "key_id": "0" * 16}))  # key_id no longer matches the secret
    cli("label", ai_source, "-o", out / "never.mp4", home=broken, expect_ok=False)
    cli("verify", "--json", labeled, home=broken)
    cli("keys", "show", home=broken, expect_ok=False)

    # -- HTTP ---------------------------------------------------------------------------
    srv = Server(leak_home, out / "server.log", env={"TMPDIR": str(leak_tmp)},
                 args=("--no-public-verify", "--log-level", "debug"))
    try:
        api_key = create_key(_raw_run_cli(leak_home, leak_tmp), "leaks", "verify,sign", "--rate", "100000")
        responses = _exercise_api(srv, api_key, labeled, signed, capture_src, garbage, truncated,
                                  label_json["payload_id"])
    finally:
        srv.stop()
    channels.update(responses)
    channels["server log"] = (out / "server.log").read_bytes()
    # the API key must not be logged either
    api_secret = api_key.split("_", 2)[2].encode()
    assert api_secret not in channels["server log"]

    # -- the library in-process, with every logger at DEBUG ----------------------------
    channels.update(_in_process(leak_home, labeled, ai_source, bad, out, caplog))

    # -- files left behind: outputs, temp folder, the home (not the key files) ----------
    forms = secret_forms(leak_home)
    for f in _key_files(leak_home):  # the needles are right: each key file holds some of its own forms
        assert _leaks(forms, {f.name: f.read_bytes()}), f
    assert len([f for f in forms if f.endswith(" raw") and f.startswith("watermark")]) == 2  # both keys, after rotation
    skip = set(_key_files(leak_home))
    channels.update(_files_under(out, skip=set()))
    channels.update(_files_under(leak_tmp, skip=set()))
    channels.update(_files_under(leak_home, skip=skip))
    assert any("uploads" in c or "service.sqlite3" in c for c in channels)  # the service's files were read

    assert _leaks(forms, channels) == []


def _raw_run_cli(home: Path, tmp: Path):
    """``create_key`` wants a run_cli; this one records nothing (the API key is printed once by design)."""
    import subprocess

    from tests.conftest import KINOSEAL

    def run(*args: str, env: dict | None = None, check: bool = False):
        e = {**os.environ, "KINOSEAL_HOME": str(home), "TMPDIR": str(tmp), **(env or {})}
        proc = subprocess.run([str(KINOSEAL), *map(str, args)], capture_output=True, text=True, env=e, timeout=300)
        assert not check or proc.returncode == 0, proc.stderr
        return proc

    return run


def _exercise_api(srv: Server, key: str, labeled: Path, signed: Path, capture: Path, garbage: Path,
                  truncated: Path, payload_id: str) -> dict[str, bytes]:
    got: dict[str, bytes] = {}

    def keep(name: str, r) -> None:
        headers = "\n".join(f"{k}: {v}" for k, v in r.headers.items())
        got[f"HTTP {name} -> {r.status_code}"] = headers.encode() + b"\n\n" + r.content

    def post_file(c, url: str, path: Path, **kw):
        with open(path, "rb") as fh:
            return c.post(url, files={"file": (path.name, fh, "video/mp4")}, **kw)

    with srv.client(key) as c, srv.client() as anon, srv.client("ks_nope_nope") as wrong:
        for path in ("/healthz", "/metrics", "/openapi.json", "/v1/config", "/v1/whoami", "/v1/jobs"):
            keep(f"GET {path}", c.get(path))
        for clip in (labeled, signed, capture, garbage, truncated):
            r = post_file(c, "/v1/verify", clip)
            keep(f"verify {clip.name}", r)
            assert r.status_code in (200, 422), r.text
        r = post_file(c, "/v1/verify", labeled, params={"async": "true"})
        keep("verify async", r)
        job = r.json()["job_id"]
        for _ in range(600):
            j = c.get(f"/v1/jobs/{job}")
            if j.json()["status"] in ("done", "failed"):
                break
            time.sleep(0.2)
        keep("job", j)
        assert j.json()["status"] == "done"
        up = post_file(c, "/v1/uploads", labeled)
        keep("upload", up)
        uid = up.json()["upload_id"]
        keep("keyframes", c.get(f"/v1/uploads/{uid}/keyframes", params={"n": 2}))
        keep("verify by upload id", c.post("/v1/verify", json={"upload_id": uid}))
        r = post_file(c, "/v1/sign-capture", capture)
        keep("sign-capture", r)  # the signed clip itself
        assert r.status_code == 200 and r.content[4:8] == b"ftyp"
        keep("sign-capture garbage", post_file(c, "/v1/sign-capture", garbage))
        keep("manifest by watermark", c.get(f"/v1/manifests/by-watermark/{payload_id}"))
        keep("unknown upload", c.post("/v1/verify", json={"upload_id": "0" * 32}))
        keep("bad json", c.post("/v1/verify", content=b"{not json", headers={"content-type": "application/json"}))
        keep("no key", post_file(anon, "/v1/verify", labeled))
        keep("wrong key", post_file(wrong, "/v1/verify", labeled))
    return got


def _in_process(home: Path, labeled: Path, ai_source: Path, bad: Path, out: Path, caplog) -> dict[str, bytes]:
    from kinoseal.credentials.home import ensure_dev_pki
    from kinoseal.credentials.identity import SigningIdentity
    from kinoseal.label import GeneratorInfo, Labeler
    from kinoseal.config import Settings
    from kinoseal.errors import KinosealError
    from kinoseal.verify.verifier import Verifier
    from kinoseal.watermark.keyring import load_keyring

    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    s = Settings(home=home)
    labeler = Labeler.from_settings(s)
    res = labeler.label_file(ai_source, out / "inproc.mp4", GeneratorInfo("leak-test"))
    texts += [json.dumps(res.to_dict()), repr(labeler.keyring), repr(labeler.identity), str(labeler.keyring.active)]
    texts.append(json.dumps(Verifier.from_settings(s).verify(labeled).to_dict()))
    texts.append(repr(load_keyring(s.keys_dir / "watermark")))
    gen = ensure_dev_pki(s).identity("generator")
    for key_file in (bad / "truncated.key.pem", bad / "garbage.key.pem"):
        try:
            SigningIdentity.from_files(s.keys_dir / "generator.chain.pem", key_file).signer()
            raise AssertionError(f"{key_file.name} was accepted")
        except KinosealError as exc:
            texts += [str(exc), repr(exc), exc.hint or ""]
    try:  # the key passed where the chain belongs
        SigningIdentity(chain_pem=gen.key_pem or b"", key_pem=gen.key_pem)
        raise AssertionError("a private key was accepted as a certificate chain")
    except KinosealError as exc:
        texts += [str(exc), repr(exc), exc.hint or ""]
    return {"caplog": caplog.text.encode(), "in-process texts": "\n".join(texts).encode()}


def test_key_files_are_private(cli, leak_home):
    cli("keys", "show", expect_ok=True)  # creates them on first use
    cli("keys", "rotate-watermark", expect_ok=True)
    files = _key_files(leak_home)
    assert len([f for f in files if f.suffix == ".pem"]) == 4  # root, intermediate, generator, capture
    assert len([f for f in files if f.suffix == ".json"]) >= 2
    for f in files:
        assert f.stat().st_mode & 0o777 == 0o600, f
    for d in (leak_home / "keys", leak_home / "keys" / "watermark"):
        assert d.stat().st_mode & 0o077 == 0, d
