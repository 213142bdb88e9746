"""The C2PA Soft Binding Resolution API over real HTTP (issue 20 item 8).

The soft binding is read from the labeled clip's own ``c2pa.soft-binding`` assertion with
c2pa-python, sent to a real `kinoseal serve`, and the manifest that comes back is read with
c2pa-python again; /matches/byContent gets the clip with its manifest stripped (remuxed), so
only the watermark can lead back to it.
"""

from __future__ import annotations

import io
import json

import pytest

from testkit.clips import remux
from testkit.service import Server, create_key


@pytest.fixture(scope="module")
def resolver(home, labeled, run_cli, tmp_path_factory):
    srv = Server(home, tmp_path_factory.mktemp("resolution") / "server.log", env={"KINOSEAL_CLASSIFIER": "none"})
    try:
        yield srv, create_key(run_cli, "resolver", "fetch:manifests"), create_key(run_cli, "resolver", "verify")
    finally:
        srv.stop()


def _binding(clip) -> tuple[str, str, str]:
    """(active manifest label, alg, value) of the clip's own soft-binding assertion."""
    import c2pa

    with c2pa.Reader(str(clip)) as r:
        store = json.loads(r.json())
    label = store["active_manifest"]
    sb = next(a for a in store["manifests"][label]["assertions"] if a["label"] == "c2pa.soft-binding")
    return label, sb["data"]["alg"], sb["data"]["blocks"][0]["value"]


def test_supported_algorithms_and_scope(resolver, labeled):
    srv, key, verify_key = resolver
    _, alg, value = _binding(labeled)
    with srv.client() as c:
        r = c.get("/services/supportedAlgorithms")  # no key needed, as in the OpenAPI description
        assert r.status_code == 200
        body = r.json()
        assert {"alg": alg} in body["watermarks"] and body["fingerprints"] == [{"alg": "io.kinoseal.vfp-v1"}]
        assert c.get("/matches/byBinding", params={"alg": alg, "value": value}).status_code == 401
        # the operations of the published description, under its operationIds, with its result shape
        paths = c.get("/openapi.json").json()["paths"]
        ops = {op["operationId"]: (path, method) for path, item in paths.items() for method, op in item.items()}
        assert {k: ops[k] for k in ("queryByBinding", "queryByLargeBinding", "uploadFile", "getManifestById",
                                    "getSupportedBindings")} == {
            "queryByBinding": ("/matches/byBinding", "get"), "queryByLargeBinding": ("/matches/byBinding", "post"),
            "uploadFile": ("/matches/byContent", "post"), "getManifestById": ("/manifests/{manifestId}", "get"),
            "getSupportedBindings": ("/services/supportedAlgorithms", "get")}
        assert "application/c2pa" in paths["/manifests/{manifestId}"]["get"]["responses"]["200"]["content"]
    with srv.client(verify_key) as c:
        r = c.get("/matches/byBinding", params={"alg": alg, "value": value})
        assert r.status_code == 403 and "fetch:manifests" in r.json()["detail"]


def test_by_binding_get_and_post_then_fetch_the_manifest(resolver, labeled):
    import c2pa

    srv, key, _ = resolver
    label, alg, value = _binding(labeled)
    with srv.client(key) as c:
        r = c.get("/matches/byBinding", params={"alg": alg, "value": value})
        assert r.status_code == 200, r.text
        assert r.json() == {"matches": [{"manifestId": label, "similarityScore": 100}]}
        assert c.post("/matches/byBinding", json={"alg": alg, "value": value}).json() == r.json()
        # nothing recorded for another payload; a foreign algorithm or a malformed value is a 400
        assert c.get("/matches/byBinding", params={"alg": alg, "value": "AAAAAAAAAAA="}).json() == {"matches": []}
        assert c.get("/matches/byBinding", params={"alg": "com.example.other.1", "value": value}).status_code == 400
        assert c.get("/matches/byBinding", params={"alg": alg, "value": "bm90IDggYnl0ZXM="}).status_code == 400
        assert c.post("/matches/byBinding", json={"alg": alg}).status_code == 400

        m = c.get(f"/manifests/{label}")
        assert m.status_code == 200 and m.headers["content-type"] == "application/c2pa"
        with c2pa.Reader("application/c2pa", io.BytesIO(m.content)) as r:
            store = json.loads(r.json())
        assert store["active_manifest"] == label
        # the store as embedded in the clip: the same bytes c2pa reads from the file
        with c2pa.Reader(str(labeled)) as r:
            assert json.loads(r.json())["manifests"][label]["signature_info"] == store["manifests"][label]["signature_info"]
        only = c.get(f"/manifests/{label}", params={"returnActiveManifest": "true"})
        assert only.status_code == 200
        with c2pa.Reader("application/c2pa", io.BytesIO(only.content)) as r:
            assert list(json.loads(r.json())["manifests"]) == [label]
        assert c.get("/manifests/urn:c2pa:00000000-0000-0000-0000-000000000000").status_code == 404
        bad = c.get("/manifests/not-a-urn")
        assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")


def test_by_content_finds_the_manifest_of_a_stripped_clip(resolver, labeled, tmp_path):
    srv, key, _ = resolver
    label, alg, _ = _binding(labeled)
    stripped = remux(labeled, tmp_path / "stripped.mp4")
    assert b"c2pa" not in stripped.read_bytes(), "the remux must drop the manifest"
    with srv.client(key) as c:
        r = c.post("/matches/byContent", params={"alg": alg}, content=stripped.read_bytes(),
                   headers={"Content-Type": "video/mp4"})
        assert r.status_code == 200, r.text
        (match,) = r.json()["matches"]
        assert match["manifestId"] == label and 70 <= match["similarityScore"] <= 100  # pilot bit accuracy; chance is 50
        r = c.post("/matches/byContent", content=b"not a video", headers={"Content-Type": "video/mp4"})
        assert r.status_code == 415, r.text


def test_by_content_finds_a_clip_whose_mark_is_gone_by_its_fingerprint(resolver, home, tmp_path):
    """A registry record whose fingerprint is that of an unmarked clip stands for a labeled clip whose
    watermark was lost: /matches/byContent finds it by content (alg io.kinoseal.vfp-v1), and a
    watermark-only query does not."""
    from kinoseal.credentials.provenance import default_registry
    from kinoseal.evaluation.watermark.clips import decode_i420
    from kinoseal.fingerprint import FingerprintBuilder
    from testkit.clips import synthetic_frames, write_clip

    srv, key, _ = resolver
    clip = write_clip(tmp_path / "lost.mp4", synthetic_frames(36, seed=4242), fps=12, crf=28)
    builder = FingerprintBuilder()
    for i, planes in enumerate(decode_i420(clip, 100)[0]):
        builder.add(*planes, i / 12)
    label = "urn:c2pa:00000000-0000-0000-0000-00000000f1a0"
    default_registry(home).record(payload_id="00000000f1a0f1a0", key_id="gone", method="kinoseal-wm-v5",
                                  manifest={}, manifest_label=label, title="lost.mp4",
                                  fingerprint=builder.build().to_bytes())
    with srv.client(key) as c:
        r = c.post("/matches/byContent", params={"alg": "io.kinoseal.vfp-v1"}, content=clip.read_bytes(),
                   headers={"Content-Type": "video/mp4"})
        assert r.status_code == 200, r.text
        (match,) = r.json()["matches"]
        assert match["manifestId"] == label and match["similarityScore"] >= 90
        r = c.post("/matches/byContent", params={"alg": "io.kinoseal.kinoseal-wm-v5"}, content=clip.read_bytes(),
                   headers={"Content-Type": "video/mp4"})
        assert r.status_code == 200 and r.json() == {"matches": []}


def test_binding_values_as_clients_send_them():
    """Standard, unpadded and URL-safe base64, and a '+' that an unescaped query turned into a space."""
    from kinoseal.api.http.problems import ApiProblem
    from kinoseal.api.http.routers.resolution import _payload_id

    for v in ("++++AAAAAAE=", "++++AAAAAAE", "----AAAAAAE=", "    AAAAAAE="):
        assert _payload_id(v) == "fbefbe0000000001", v
    for bad in ("", "AAAA", "!!!!AAAAAAE=", "AAAAAAAAAAAAAAAA"):
        with pytest.raises(ApiProblem):
            _payload_id(bad)


def test_by_content_names_a_cropped_clip_whose_payload_did_not_decode(resolver, home, tmp_path):
    """A generated clip marked with the server's own key and cropped to 0.71: the mark is found, its payload
    does not decode (measured for four keys), and the registered payloads of the key name it
    (``provenance.payload_listed``): /matches/byContent answers with its manifest."""
    from kinoseal.config import Settings
    from kinoseal.credentials.provenance import default_registry
    from kinoseal.evaluation.watermark.attacks import apply_attack
    from kinoseal.evaluation.watermark.clips import load_clip
    from kinoseal.fingerprint import FingerprintBuilder
    from kinoseal.fingerprint.views import ViewsBuilder
    from kinoseal.mediaio.colour import i420_to_rgb
    from kinoseal.watermark.keyring import load_keyring
    from kinoseal.watermark.methods import get_method
    from testkit.clips import write_clip

    srv, key, verify_key = resolver
    active = load_keyring(Settings(home=home).keys_dir / "watermark").active
    clip = load_clip("generated")
    embedder = get_method("kinoseal-wm-v5").embedder(active, 0x5EED)
    marked = [(embedder.embed_luma(y), u, v) for y, u, v in clip.frames]
    views = ViewsBuilder()
    builder = FingerprintBuilder(views=views)
    for i, planes in enumerate(marked):
        builder.add(*planes, i / clip.fps)
    label = "urn:c2pa:00000000-0000-0000-0000-000000005eed"
    default_registry(home).record(payload_id=f"{0x5EED:016x}", key_id=active.key_id, method="kinoseal-wm-v5",
                                  manifest={}, manifest_label=label, title="generated.mp4",
                                  fingerprint=builder.build().to_bytes(), views=views.build().to_bytes())
    out, fps = apply_attack("crop_0.71", marked, clip.fps)
    cropped = write_clip(tmp_path / "cropped.mp4", [i420_to_rgb(*f) for f in out], fps=int(round(fps)), crf=18)
    with srv.client(key) as c:
        r = c.post("/matches/byContent", params={"alg": "io.kinoseal.kinoseal-wm-v5"}, content=cropped.read_bytes(),
                   headers={"Content-Type": "video/mp4"})
        assert r.status_code == 200, r.text
        (match,) = r.json()["matches"]
        assert match["manifestId"] == label and 60 <= match["similarityScore"] <= 100, match
    with srv.client(verify_key) as c, open(cropped, "rb") as fh:  # it was the listing that named it
        report = c.post("/v1/verify", files={"file": ("cropped.mp4", fh, "video/mp4")}).json()
    assert report["watermark"]["detected"] and report["watermark"]["payload_id"] is None, report["watermark"]
    assert report["provenance"]["payload_listed"]["log10_p_value"] < -6.0, report["provenance"]
    assert report["verdict"] == "ai_generated", report["summary"]
