"""A forger that learns v5's binding from labeled clips (``evaluation.watermark.learned_forger.PairForger``)
makes real footage bind; by default the verifier does not take a binding alone as proof, so such a
forgery is not ``ai_generated``, while a genuinely labeled clip stripped of its manifest still is,
through the provenance registry's fingerprint (bench/results/wm_learned_forgery.md, README "Security")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SHARED_RW = Path(__file__).resolve().parents[2] / "shared" / "data" / "realworld"
pytestmark = pytest.mark.skipif(not (SHARED_RW / "manifest.json").exists(),
                                reason="../shared/data/realworld is not here")


def test_a_learned_forgery_binds_but_is_not_ai_generated_by_default(tmp_path):
    from kinoseal.config import Settings
    from kinoseal.evaluation.watermark.clips import decode_i420
    from kinoseal.evaluation.watermark.forgery import fit_clip
    from kinoseal.evaluation.watermark.learned_forger import PairForger
    from kinoseal.label import GeneratorInfo, Labeler
    from kinoseal.mediaio.colour import i420_to_rgb
    from kinoseal.verify.report import Verdict
    from kinoseal.verify.verifier import Verifier
    from kinoseal.watermark import get_method
    from testkit.clips import decoded_frames, remux, write_clip

    settings = Settings(home=tmp_path / "home", classifier_model="none")
    labeler = Labeler.from_settings(settings)
    man = json.loads((SHARED_RW / "manifest.json").read_text())
    real = [e for e in man if e["kind"] == "real_camera"]
    host = next(e for e in real if e["file"].endswith("davis_camel.mp4"))
    train = [e for e in man if e is not host and e["kind"] != "real_camera"][:100]

    def clip(entry, n=16):
        return fit_clip(decode_i420(SHARED_RW / entry["file"], n)[0], 320, 240)

    lumas = []
    for k, e in enumerate(train):  # what an attacker downloads from a public generator service
        dst = tmp_path / f"l{k}.mp4"
        labeler.label_frames(iter([i420_to_rgb(*p) for p in clip(e)]), dst, fps=12, generator=GeneratorInfo("t", "1"))
        lumas.append(decoded_frames(dst)[::2])
    forger = PairForger(get_method(settings.watermark_method), estimate="whitened").fit(lumas)
    planes = clip(host)
    forged = forger.forge([p[0] for p in planes], 4.0)  # about twice the mark's own RMS on this host
    path = write_clip(tmp_path / "forged.mp4", [i420_to_rgb(y, u, v) for y, (_, u, v) in zip(forged, planes)])

    trusting = Verifier.from_settings(settings.with_(proof_bindings=("kinoseal-wm-v5",)))
    fooled = trusting.verify(path)
    assert fooled.verdict == Verdict.AI_GENERATED, fooled.evidence  # the attack works on a binding taken as proof
    r = Verifier.from_settings(settings).verify(path)
    assert r.verdict != Verdict.AI_GENERATED, r.evidence
    assert r.watermark.binding_p_value < 1e-6 and "can learn its binding" in r.watermark.binding_not_proof
    genuine = Verifier.from_settings(settings).verify(remux(tmp_path / "l0.mp4", tmp_path / "stripped.mp4"))
    assert genuine.verdict == Verdict.AI_GENERATED, genuine.evidence
