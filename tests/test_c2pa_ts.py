"""What kinoseal writes follows C2PA 2.2, and a reader that is not c2pa-rs agrees.

The independent reader is @trustnxt/c2pa-ts (pure TypeScript, run with node through
tests/c2pa_ts/validate.mjs, installed by scripts/setup.sh from the lock file there).
It reads kinoseal's four kinds of output: a clip from the generator, a labeled clip,
a signed capture and an AI edit that keeps its parent as an ingredient."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import c2pa
import numpy as np
import pytest

from kinoseal.credentials.home import trust_store
from kinoseal.credentials.manifests import WATERMARKED_ACTION, soft_binding_alg, soft_binding_settings
from kinoseal.label import GeneratorInfo, Labeler

C2PA_TS = Path(__file__).resolve().parent / "c2pa_ts"
NODE = shutil.which("node")


@pytest.fixture(scope="module")
def outputs(settings, labeled, signed_capture, tmp_path_factory) -> dict[str, Path]:
    from kinoseal.generate.pipeline import KinoVideoPipeline
    from kinoseal.generate.run import generate_clip

    d = tmp_path_factory.mktemp("c2pa-ts")
    model = d / "tiny-model"
    KinoVideoPipeline.from_config_random(seed=0, unet_kwargs={"block_out_channels": (16, 32)},
                                         text_kwargs={"hidden": 32}).save_pretrained(model)
    generate_clip(settings, "a red ball", d / "generated.mp4", seconds=1, fps=8, steps=1, model_dir=model)
    frames = [np.full((32, 32, 3), 30 * i, np.uint8) for i in range(4)]
    Labeler.from_settings(settings).label_frames(frames, d / "edit.mp4", fps=4, generator=GeneratorInfo("m"),
                                                 parent=signed_capture)
    return {"generated": d / "generated.mp4", "labeled": labeled, "capture": signed_capture, "ai_edit": d / "edit.mp4"}


def _store(path: Path, context: c2pa.Context) -> tuple[str, list[str], dict]:
    with open(path, "rb") as fh, c2pa.Reader(fh, context=context) as r:
        failures = [f["code"] for f in r.get_validation_results()["activeManifest"]["failure"]]
        store = json.loads(r.json())
        return str(r.get_validation_state()), failures, store["manifests"][store["active_manifest"]]


def _actions(manifest: dict) -> list[dict]:
    return [act for a in manifest["assertions"] if a["label"].startswith("c2pa.actions") for act in a["data"]["actions"]]


# -- C2PA 2.2 conformance of what kinoseal writes (c2pa-python) -------------------------------------

@pytest.mark.parametrize("kind", ["generated", "labeled", "ai_edit"])
def test_watermarked_action_sits_beside_the_soft_binding(settings, outputs, kind):
    trust = trust_store(settings)
    # a verifier that allows only kinoseal's algorithm (c2pa-rs soft_binding settings) reads it Trusted
    allowed = {**soft_binding_settings([settings.watermark_method]), "trust": {"trust_anchors": trust.pem}}
    state, failures, manifest = _store(outputs[kind], c2pa.Context.from_dict(allowed))
    assert (state, failures) == ("Trusted", [])
    actions = [a["action"] for a in _actions(manifest)]
    assert actions[-1] == WATERMARKED_ACTION and actions.count(WATERMARKED_ACTION) == 1
    [binding] = [a["data"] for a in manifest["assertions"] if a["label"] == "c2pa.soft-binding"]
    assert binding["alg"] == soft_binding_alg(settings.watermark_method) == f"io.kinoseal.{settings.watermark_method}"


def test_capture_has_no_watermark_claims(settings, outputs):
    _, _, manifest = _store(outputs["capture"], trust_store(settings).context())
    assert WATERMARKED_ACTION not in [a["action"] for a in _actions(manifest)]
    assert not [a for a in manifest["assertions"] if a["label"] == "c2pa.soft-binding"]


def test_generator_parameters_are_not_mangled_into_bytes(settings, outputs):
    _, _, manifest = _store(outputs["generated"], trust_store(settings).context())
    params = _actions(manifest)[0]["parameters"]
    assert params["native_size"] == {"width": 32, "height": 32}  # was the CBOR byte string "ICA="
    assert params["steps"] == 1 and params["seed"] == 0


# -- the independent reader --------------------------------------------------------------------------

def _c2pa_ts(*paths: Path) -> list[dict]:
    if NODE is None:
        pytest.skip("node is not installed: the independent C2PA reader (@trustnxt/c2pa-ts) needs it")
    if not (C2PA_TS / "node_modules" / "@trustnxt" / "c2pa-ts").is_dir():
        pytest.fail("@trustnxt/c2pa-ts is not installed: run scripts/setup.sh test (it installs tests/c2pa_ts)")
    proc = subprocess.run([NODE, str(C2PA_TS / "validate.mjs"), *map(str, paths)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_independent_reader_validates_every_kind_of_output(outputs):
    results = dict(zip(outputs, _c2pa_ts(*outputs.values())))
    for kind, r in results.items():
        assert r["found"] and r["valid"], (kind, r)
        assert r["codes"]["failure"] == [], (kind, r)
        success = {c["code"] for c in r["codes"]["success"]}
        assert {"claimSignature.validated", "assertion.bmffHash.match"} <= success, (kind, success)
    ai = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    assert results["generated"]["actions"][0] == {"action": "c2pa.created", "digitalSourceType": ai}
    assert results["capture"]["actions"][0]["digitalSourceType"].endswith("/digitalCapture")
    edit = results["ai_edit"]
    assert [a["action"] for a in edit["actions"]] == ["c2pa.opened", "c2pa.edited", WATERMARKED_ACTION]
    assert edit["actions"][1]["digitalSourceType"].endswith("/compositeWithTrainedAlgorithmicMedia")
    assert edit["ingredients"] == 1


@pytest.mark.parametrize("kind", ["labeled", "capture"])
def test_independent_reader_sees_a_byte_flip_as_a_hash_mismatch(outputs, kind, tmp_path):
    data = bytearray(outputs[kind].read_bytes())
    data[data.rindex(b"mdat") + 4 + 1000] ^= 0x01
    flipped = tmp_path / f"{kind}.flipped.mp4"
    flipped.write_bytes(bytes(data))
    [r] = _c2pa_ts(flipped)
    assert r["found"] and not r["valid"]
    assert "assertion.bmffHash.mismatch" in {c["code"] for c in r["codes"]["failure"]}
